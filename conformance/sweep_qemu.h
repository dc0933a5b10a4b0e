/*
 * sweep_qemu.h - the power-cut sweep on the QEMU target (docs/qemu.md,
 * "Power-cut sweeps"): a clean `update` run counts the flash ops of the
 * update, then every stride-th op is a cut point, each point a whole
 * `update` run of the firmware in QEMU with the power cut at that op
 * (otahil-qemu --cut-at SEQ:MODE) and job retries, checked on what the
 * final flash and the event log show.
 */
#ifndef OTAHIL_SWEEP_QEMU_H
#define OTAHIL_SWEEP_QEMU_H

#include <stdio.h>

#include "conformance/run.h"

#define QSWEEP_MAX_POINTS 40 /* default: stride chosen so a sweep runs at most this many points */
#define QSWEEP_RETRIES 5     /* pushes after a failed attempt: the e2e sweep's rule (docs/sweep.md) */

struct qsweep_opts {
    struct run_opts run;     /* board, seed, port, reboot delay, timeout; target is set to qemu */
    const char *dir;         /* output folder (created): sweep plan, clean run, failing points */
    const char *mode;        /* the cut: before, after, torn or erase */
    unsigned    stride;      /* every stride-th op from the first; 0: chosen from max_points */
    unsigned    max_points;  /* with stride 0: at most this many points; 0: QSWEEP_MAX_POINTS */
};

struct qsweep_summary {
    unsigned long long first, last; /* the update's flash ops: first..last of the file's life */
    unsigned stride;
    unsigned points;         /* cut points run */
    unsigned not_reached;    /* points whose op the run never reached (no cut fired) */
    unsigned failures;       /* points that broke an invariant */
    char     first_failure[512]; /* "op N (MODE): what broke" of the first failure */
    double   seconds;
};

/* Runs the sweep; a line per failing point (and its replay command) and a
 * last summary line go to log. Returns 0 when every point held every
 * invariant, 1 when some point broke one (ss->failures, ss->first_failure),
 * 2 on a harness error (err: the clean run failed or a point ended ERROR
 * twice), 3 when no point can be aimed (err: the firmware reports no events
 * of its own, so neither its flash ops nor its power cuts are seen). */
int qsweep_run(const struct qsweep_opts *o, struct qsweep_summary *ss, FILE *log, char *err,
               size_t n);

#endif
