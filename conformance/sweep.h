/*
 * sweep.h - power-cut sweeps: the same OTA update run once cleanly to number
 * its flash operations, then once per cut point with a fault at that op,
 * each time from the same pre-update flash image, rebooting and letting the
 * cloud push again until the update completes or the boot budget ends. The
 * checker's invariants are listed in docs/sweep.md.
 *
 * The port-level sweep boots the firmware object (build/fw/PORT.so) in
 * process, with the cloud and the firmware server in memory. The end-to-end
 * sweep (e2e) boots the same object against the real fake cloud: Mosquitto,
 * the civetweb firmware server and the cloud service. Both number the same
 * flash operations and give the same verdicts.
 */
#ifndef OTAHIL_SWEEP_H
#define OTAHIL_SWEEP_H

#include <stdint.h>
#include <stdio.h>

/* Invariants, named in failures (and by known-bad port expectations). */
enum sweep_inv {
    INV_NONE = 0,
    INV_BRICKED,        /* "bricked": no valid image to boot */
    INV_NO_COMPLETION,  /* "no-completion": not updated within the boot budget (boot loop, give-up) */
    INV_IMAGE,          /* "image-mismatch": the running slot differs from the new image */
    INV_VIOLATION,      /* "flash-violation": a NOR rule was broken */
    INV_OUTSIDE,        /* "outside-partition": a write or erase outside the port's partitions */
    INV_SENTINEL,       /* "sentinel-lost": data the update must not touch changed */
    INV_RESUME_CORRUPT, /* "resume-corrupt": resumed at N with wrong bytes before N */
    INV_RESUME_LOST,    /* "resume-lost": resumed further back than one checkpoint, or fetched again */
    INV_VERIFY,         /* "verify-failed": an attempt after the cut failed its checks */
    INV_REJECTED,       /* "record-rejected": the bootloader refused the new image */
    INV_CLEAN,          /* "clean-run": the update fails with no fault at all */
    INV_COUNT
};
const char *sweep_inv_name(int inv);
int sweep_inv_parse(const char *name);

struct sweep_opts {
    const char *board;        /* name or path */
    const char *port;         /* firmware object: name (build/fw/NAME.so) or path */
    int         mode;         /* enum flashsim_fault_mode */
    int         phase;        /* enum flashsim_phase; 0: every phase */
    uint32_t    stride;       /* every stride-th op (1: all) */
    uint32_t    first;        /* first op index (1-based) */
    int         jobs;
    uint64_t    seed;
    uint32_t    image_size;   /* payload bytes of the new image */
    long        point;        /* > 0: replay this cut point only, verbosely */
    int         no_resume;    /* the port's profile declares no breakpoint resume */
    uint32_t    max_boots;    /* per point */
    const char *events;       /* replay: event log path ("-" stdout) */
    const char *flash_out;    /* replay: final flash file */
    int         quiet;
    int         expect;       /* >0: an invariant that must fail (self-test of bad ports) */
    int         e2e;          /* through the real broker and firmware server */
    int         no_memo;      /* run every recovery in full (checks the memo) */
    int         fork_points;  /* run each point in a forked child, never from a snapshot */
};

struct sweep_summary {
    uint32_t ops;             /* numbered flash ops of the clean run */
    uint32_t points;          /* cut points checked */
    uint32_t failures;
    uint32_t harness;         /* e2e: points the harness could not run */
    uint32_t memo_hits;       /* points whose recovery reached a state already seen to pass */
    uint32_t inv_fail[INV_COUNT];
    double   seconds;
    char     first_failure[512];
};

void sweep_defaults(struct sweep_opts *o);

/* Runs the sweep (or one point). Prints failures with their replay command
 * to out. 0 no failure, 1 failures, 2 harness error (err holds one line). */
int sweep_run(const struct sweep_opts *o, struct sweep_summary *s, FILE *out, char *err,
              size_t errlen);

#endif
