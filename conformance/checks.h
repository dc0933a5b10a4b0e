/*
 * checks.h - the conformance checks a run's event log, the served file and
 * the final flash feed (docs/faults.md, "Conformance checks"). Each has a
 * stable ID, the spec section it enforces and a verdict: PASS, FAIL, or SKIP
 * when the run gave it nothing to look at (no resume, no copy, ...).
 *
 *   writes-are-file          every byte the port was given to write is the file's byte at
 *                            that offset: no error body, no chunk framing, no whole file
 *                            appended after a Range request (§4.1, §5)
 *   resume-range             a download resumed at breakpoint N asks for "Range: bytes=N-",
 *                            a fresh one asks for no range, and N was written before (§5.1)
 *   finish-after-whole-file  set_boot(OTA_FINISH) only once the port holds the whole file
 *                            and nothing else since the last fresh start (§4.1, §6.1, §7)
 *   record-crc               the copy bootloader's record carries the CRC16-XMODEM of the
 *                            whole file, so a resumed download continued its CRC16 (§5.4);
 *                            no boot record is rejected
 *   single-download          a push during a download does not start a second one (§12 #14)
 *   fail-step                the negative step the device reports is the one its protocol
 *                            generation reports for this fault (§1.6), or none at all
 *   keeps-image              a failed update leaves no FINISH, no slot switch or copy, and
 *                            the old image boots and is reported (§6.1, §12 #14)
 *   version-reported         every inform the cloud hears names the version of the image
 *                            the bootloader booted in that boot (§9.3)
 *   progress-reported        a download that kept the port busy 1 s or more, with a tenth of
 *                            the file written, had the cloud hear a progress report between
 *                            0 and 100 during it (§1.6)
 *   boot-confirmed           pingpong boards: no trial boot (REVV) is left unconfirmed at the
 *                            end of the run (§8)
 *   image-exact              after an update the running slot holds the file byte for byte
 *
 * Every check emits a "check" event {"id","verdict","detail"}.
 */
#ifndef OTAHIL_CHECKS_H
#define OTAHIL_CHECKS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "conformance/run.h"
#include "sim/board/board.h"

/* A parsed event log. */
struct evlist {
    cJSON **ev;
    int     n;
};

/* Reads a JSON-lines event log (lines that do not parse are skipped). 0 or -1. */
int evlist_load(const char *path, struct evlist *l);
void evlist_free(struct evlist *l);
/* String field k of event e, or NULL. */
const char *ev_str(const cJSON *e, const char *k);
/* Number field k of event e, or dflt. */
double ev_num(const cJSON *e, const char *k, double dflt);

#define CHECK_STEP_ANY  (-1000) /* fail-step: not checked */
#define CHECK_STEP_NONE (-1001) /* fail-step: no negative step may be reported */

struct check_in {
    const struct evlist *l;
    const uint8_t *file;      /* the firmware file the cloud served */
    size_t         file_len;
    const struct board *b;
    const char    *flash;     /* the flash file after the run */
    const char    *base;      /* version the device ran at the start */
    const char    *target;    /* version pushed */
    int            expect_update; /* 1: the update must happen (image-exact); 0: it must fail
                                   * cleanly (keeps-image); -1: neither (a rollback) */
    int            fail_step; /* step to see, CHECK_STEP_ANY or CHECK_STEP_NONE */
};

#define CHECKS_MAX RUN_CHECKS_MAX

/* One result (run.h): id, verdict (V_PASS, V_FAIL, V_SKIP; V_ERROR when the
 * harness could not look) and a one-line detail. */
#define check_res run_check

/* Runs every check; fills out[] (at most CHECKS_MAX) and returns how many. */
int checks_run(const struct check_in *in, struct check_res *out);

/* The first FAIL (else the first ERROR) in res[0..n), or NULL. */
const struct check_res *checks_first_bad(const struct check_res *res, int n);

/* Parses a fail_step value: "none", "-4", or "g1:-4,g2:-11" (the step for
 * each protocol profile; a profile not named is not checked). Returns 0 and
 * the step for profile in *step, or -1 with one line in err. */
int check_parse_fail_step(const char *value, const char *profile, int *step, char *err, size_t n);

#endif
