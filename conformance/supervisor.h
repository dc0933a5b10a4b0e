/*
 * supervisor.h - starts the device under test, one process per boot, and
 * tells how each boot ended (reboot, crash, bricked, off, harness error).
 */
#ifndef OTAHIL_SUPERVISOR_H
#define OTAHIL_SUPERVISOR_H

#include <sys/types.h>

struct supervisor_opts {
    const char *dut;         /* device binary; NULL = otahil-dut beside this executable */
    const char *board;       /* board name or path */
    const char *flash;       /* flash file */
    const char *broker;      /* HOST:PORT */
    const char *pk, *dn, *secret;
    const char *events;      /* event log */
    long        reboot_delay_ms;
    int         resume;      /* breakpoint resume on */
    unsigned    flash_delay_us; /* extra microseconds per flash program or erase; 0: none */
    const char *ca;          /* the CA the device trusts (PEM file, otahil-dut --ca); NULL: none */
    int         mqtts;       /* MQTT over TLS (needs ca) */
    unsigned    tls_fragment;/* TLS record size the device asks for; 0: not asked */
    unsigned    tls_heap;    /* the device's TLS heap in bytes; 0: unlimited */
    const char *coap;        /* coap://HOST:PORT: the CoAP signal channel (otahil-dut --coap);
                              * NULL: MQTT */
    int         coap_dl;     /* with coap: Block2 download (otahil-dut --coap-dl) */
    const char *cut;         /* "SEQ[:MODE]": power cut at flash op SEQ (otahil-qemu --cut-at); NULL: none */
    const char *firmware;    /* the ELF otahil-qemu boots (--firmware); NULL: its default */
    int         nic;         /* otahil-qemu --net user: the firmware's own IP stack */
};

struct supervisor {
    struct supervisor_opts o;
    pid_t pid;               /* running boot, or 0 */
    int   boots;             /* boots started */
    char  dut[4096];
};

/* How a boot ended. */
struct boot_end {
    int code;                /* DUT_EXIT_* or -1 when killed by a signal */
    int signal;              /* signal number when code == -1 */
};

int supervisor_init(struct supervisor *s, const struct supervisor_opts *o, char *err, size_t n);
/* Starts the next boot. 0 or -1 (err). */
int supervisor_boot(struct supervisor *s, char *err, size_t n);
/* 1 and *e when the boot has ended, 0 while it runs. */
int supervisor_poll(struct supervisor *s, struct boot_end *e);
/* Powers the device off (SIGTERM, then SIGKILL) and reaps it. */
void supervisor_stop(struct supervisor *s);

/* Path of a sibling executable of the running program (build/bin/NAME). */
int otahil_sibling_exe(const char *name, char *out, size_t n);

#endif
