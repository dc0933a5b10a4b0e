/*
 * fwhost.h - loads a native firmware object (build/fw/PORT.so, sim/fw/fw.h)
 * and boots it in-process. A reboot or power cut leaves the firmware through
 * longjmp; before every boot the firmware's RAM (the object's writable
 * segments) is restored to its load-time contents, as a real reset would
 * leave it. One fwhost per process.
 */
#ifndef OTAHIL_FWHOST_H
#define OTAHIL_FWHOST_H

#include <setjmp.h>
#include <stddef.h>
#include "sim/fw/fw.h"

#define FWHOST_MAX_SEG 4
#define FWHOST_STACK_PAINT (16 * 1024) /* bytes of stack zeroed before each boot */

/* How fwhost_boot ended. */
enum fwhost_end {
    FWHOST_IDLE = OTAHIL_FW_IDLE,
    FWHOST_BRICKED = OTAHIL_FW_BRICKED,
    FWHOST_CRASHED = OTAHIL_FW_CRASHED,
    FWHOST_HARNESS = OTAHIL_FW_HARNESS,
    FWHOST_REBOOT = 10,
    FWHOST_CUT = 11,
};

struct fwhost {
    void *dl;
    otahil_fw_boot_fn boot;
    struct { unsigned char *addr; size_t len; unsigned char *saved; } seg[FWHOST_MAX_SEG];
    int nseg;
    size_t ram;       /* bytes restored per boot */
    jmp_buf jb;
    const unsigned char *stack_base; /* the firmware's stack lies below this during a boot */
    int in_boot;
    char path[4096];
};

/* Loads the firmware object: a path, or a port name found as
 * DIR/fw/NAME.so beside the running executable's build tree. 0, or -1 with
 * one line in err. */
int fwhost_load(struct fwhost *h, const char *name_or_path, char *err, size_t errlen);
void fwhost_unload(struct fwhost *h);

/* One boot: restores the firmware's RAM and runs otahil_fw_boot. */
int fwhost_boot(struct fwhost *h, const struct otahil_fw_config *cfg, const struct otahil_fw_ops *ops);

/* Ends the running boot (from a reboot or power_cut op). */
void fwhost_leave(struct fwhost *h, int end) __attribute__((noreturn));

#endif
