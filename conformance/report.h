/*
 * report.h - the certification report: results.json (for tools), junit.xml
 * (for CI systems) and report.html (for people), written from one struct.
 * Every writer goes through a temporary name and a rename, so a report is
 * either whole or absent.
 */
#ifndef OTAHIL_REPORT_H
#define OTAHIL_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "conformance/run.h"
#include "sim/board/board.h"

struct profile;

/* One catalogue case as it ran. Paths are relative to the report's folder. */
struct report_case {
    const char  *id;            /* "OTA-DL-003" */
    const char  *group;         /* "OTA-DL" */
    const char  *title;
    const char  *spec;          /* spec sections it enforces: "§4.1, §5.1" */
    const char  *transport;     /* "mqtt+http", ... */
    int          matrix;        /* a transport matrix row: the case run again over transport
                                 * (its catalogued row has the same id) */
    enum verdict verdict;
    double       seconds;
    char         reason[512];   /* why it failed, errored or was skipped; "" on PASS */
    char         events[1024];  /* event log (JSON lines), or "" */
    char         cloud[160];    /* "shared" (the certification's one cloud), "own: why", or ""
                                 * (not run) */
    char         events_digest[65]; /* its event sequence (events_sequence_digest), or "" */
    char         repro[1024];   /* repro/<ID> folder (seed, plan, flash images, events,
                                 * command), or "" */
    char         replay[1024];  /* the one command that replays the case, or "" */
    char         flash_before[1024]; /* flash file before the case, or "" */
    char         flash_after[1024];  /* flash file after the case, or "" */
    struct run_check checks[RUN_CHECKS_MAX];
    int          nchecks;
};

struct report {
    const char *version;        /* otahil version */
    const char *port;           /* what was certified: "reference", sources, or a binary */
    const struct profile *profile;
    const struct board   *board;
    const char *target;         /* "native" or "qemu" */
    uint64_t    seed;
    const char *shard;          /* "1/2", or NULL for the whole suite */
    int         subset;         /* 1: an --only selection, not the whole catalogue */
    const char *started;        /* ISO 8601 UTC */
    double      seconds;        /* wall time of the whole run */
    struct report_case *cases;
    int         ncases;
    const char *net;            /* target qemu: "relay" (the mailbox relay holds the network) or
                                 * "user" (the firmware's own IP stack, QEMU -nic user); NULL */
    const char *cloud;          /* the certification's cloud, one line ("one cloud for 70 of
                                 * 76 runs, ..."), or NULL */
};

/* Counts per verdict. */
struct report_counts { int pass, fail, skip, error, total; };
struct report_counts report_count(const struct report *r);

/* "certified" (every case PASS or SKIP, at least one PASS), "not certified"
 * (any FAIL) or "incomplete" (any ERROR, or a shard or --only subset). A FAIL
 * decides: "not certified" even beside an ERROR or in a subset, since no
 * further case can undo it. No PASS at all (no cases, or every one SKIP) is
 * "incomplete": nothing was shown. subset non-zero, r->subset or r->shard
 * mark a subset. The writers use report_status(r, 0). */
const char *report_status(const struct report *r, int subset);

/* Writers: dir/results.json, dir/junit.xml, dir/report.html (docs/report.md).
 * Each file is written under a temporary name and renamed. Relative paths in
 * the cases (events, flash_before, flash_after) are read relative to dir; one
 * that cannot be read is named in the report, not an error. 0, or -1 with one
 * line "PATH: what is wrong" in err (dir missing or not writable, out of
 * memory). */
int report_write_json(const struct report *r, const char *dir, char *err, size_t n);
int report_write_junit(const struct report *r, const char *dir, char *err, size_t n);
int report_write_html(const struct report *r, const char *dir, char *err, size_t n);

#endif
