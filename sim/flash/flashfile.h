/*
 * flashfile.h - the native backend of the flash model: a file holding the
 * chip bytes followed by the model's persistent state, mapped shared so every
 * program or erase is in the file the moment it happens (a killed process
 * loses nothing that reached "flash"), plus an op log beside it.
 *
 * File layout: [chip bytes: geom.size][state: flashsim_state_size(geom)].
 * A QEMU target's 16 MiB region file (docs/qemu.md) is opened too: the same
 * layout at its start, the guest's mailbox further on.
 * The op log is FILE.oplog, JSON lines:
 *   {"seq":12,"op":"program","part":"OTA_TEMP","off":4096,"len":512,"result":0}
 * (violations add "violation":"program-not-erased").
 */
#ifndef FLASHFILE_H
#define FLASHFILE_H

#include <stdio.h>
#include "flashsim.h"

struct flashfile {
    struct flashsim fs;
    void  *map;        /* whole mapping */
    size_t map_len;
    int    fd;
    FILE  *oplog;      /* NULL if the op log is off */
    flashsim_hook_fn user_hook; /* chained after the op log's own hook; may be NULL */
    void  *user_ctx;
    unsigned op_delay_us; /* each program or erase sleeps this long first (a slow chip); 0:
                          * none. Cleared by flashfile_open: set it after */
    char   path[4096];
};

/* Opens (creating when create is non-zero and the file is missing) the flash
 * file for this geometry. A new file is filled with the erase value. An
 * existing file of the wrong size is refused. Partitions are added by the
 * caller afterwards. oplog non-zero appends ops to PATH.oplog.
 * 0, or -1 with a one-line reason in err. */
/* (flashfile_open) user_hook and user_ctx set before the call are kept. ff
 * must stay at the same address while open: the model's hook points at it.
 * The op log gets every program and erase, and reads with a violation, as
 * they complete (a cut op has no line). */
int flashfile_open(struct flashfile *ff, const char *path, const struct flashsim_geom *g,
                   int create, int oplog, char *err, size_t errlen);

/* Flushes and unmaps. */
/* Closing a closed ff, or one whose open failed, does nothing. */
void flashfile_close(struct flashfile *ff);

#endif /* FLASHFILE_H */
