/*
 * sweep_qemu.c - the power-cut sweep on the QEMU target. The native sweep
 * (sweep.c) forks or snapshots a firmware object at every op; a guest in
 * QEMU cannot be snapshotted that way, so here each cut point is a whole
 * end-to-end `update` run (real broker, firmware server, one QEMU process
 * per boot) from the same pre-update flash, with the power cut at flash op
 * SEQ of the flash file's life and a job with retries, so the cloud pushes
 * again after the reboot. A stride keeps the number of runs bounded.
 *
 * The invariants of docs/sweep.md are read where they show after the run:
 * the run's verdict covers bricked (a boot with no valid image),
 * no-completion (a boot loop, no verdict in time), image-mismatch (the
 * booting slot against the file served, image-exact), flash-violation, the
 * resume rules (resume-range: the Range asked against what the slot holds)
 * and sentinel-lost / outside-partition (settings-kept: the Wi-Fi keys and
 * the pattern over the partitions an update must not touch); the event log
 * gives verify-failed (a negative progress step after the cut) and
 * record-rejected (the bootloader refusing the new image's record).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "conformance/checks.h"
#include "conformance/common.h"
#include "conformance/plan.h"
#include "conformance/sweep_qemu.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The flash model's op counter of a flash file. 0, or -1 (err). */
static int flash_ops(const char *path, const char *board, unsigned long long *ops, char *err,
                     size_t n)
{
    static struct board b;
    struct flashfile ff;
    if (board_open(&b, board, err, n) != 0 || open_flash(&ff, path, &b, err, n) != 0)
        return -1;
    *ops = (unsigned long long)ff.fs.meta->op_seq;
    flashfile_close(&ff);
    return 0;
}

/* What the event log shows after the cut: 1 with the broken invariant in
 * why, 0 when it holds; *cut is set when a power cut fired. */
static int read_events(const char *events, int *cut, char *why, size_t n)
{
    struct evlist l;
    *cut = 0;
    if (evlist_load(events, &l) != 0) {
        snprintf(why, n, "cannot read the event log %s", events);
        return 1;
    }
    int bad = 0;
    for (int i = 0; i < l.n && !bad; i++) {
        const char *ev = ev_str(l.ev[i], "ev");
        if (!ev)
            continue;
        if (!strcmp(ev, "device.power_cut")) {
            *cut = 1;
        } else if (*cut && !strcmp(ev, "agent.progress") && ev_num(l.ev[i], "step", 0) < 0) {
            snprintf(why, n, "verify-failed: an attempt after the cut reported step %.0f (%s)",
                     ev_num(l.ev[i], "step", 0), ev_str(l.ev[i], "desc") ? ev_str(l.ev[i], "desc") : "");
            bad = 1;
        } else if (*cut && !strcmp(ev, "boot.record_rejected")) {
            snprintf(why, n, "record-rejected: the bootloader refused the new image after the cut (%s)",
                     ev_str(l.ev[i], "reason") ? ev_str(l.ev[i], "reason") : "");
            bad = 1;
        }
    }
    evlist_free(&l);
    return bad;
}

int qsweep_run(const struct qsweep_opts *o, struct qsweep_summary *ss, FILE *log, char *err,
               size_t n)
{
    char plan_path[4200], path[4300], cut[64], why[512];
    double t0 = now_s();
    memset(ss, 0, sizeof(*ss));
    if (mkdir_p(o->dir) != 0) {
        snprintf(err, n, "%s: %s", o->dir, strerror(errno));
        return 2;
    }
    /* The plan every point runs with: the job's retries (a file, so the
     * replay command can name it). */
    static const char plan_text[] =
        "; qemu-sweep.plan - written by the QEMU power-cut sweep (docs/qemu.md)\n"
        "[plan]\nname = qemu-sweep\n"
        "description = The device loses power at one flash op of the update; the job has retries left.\n"
        "expect = pass\nretries = 5\n";
    snprintf(plan_path, sizeof(plan_path), "%s/qemu-sweep.plan", o->dir);
    struct fault_plan *plan = calloc(1, sizeof(*plan));
    if (!plan || write_file_atomic(plan_path, plan_text, strlen(plan_text), err, n) != 0 ||
        plan_load(plan_path, plan, err, n) != 0) {
        if (!plan)
            snprintf(err, n, "out of memory");
        plan_free(plan);
        free(plan);
        return 2;
    }
    struct run_opts ro = o->run;
    struct run_result *res = calloc(1, sizeof(*res));
    int rc = 2;
    if (!res) {
        snprintf(err, n, "out of memory");
        goto out;
    }
    ro.target = "qemu";
    ro.plan = plan;
    ro.cut = NULL;
    ro.until_fault = 0;

    /* the clean run: the update's ops */
    snprintf(path, sizeof(path), "%s/clean", o->dir);
    ro.out = path;
    enum verdict v = run_case("update", &ro, res);
    if (v != V_PASS) {
        if (v == V_FAIL) {
            ss->failures = 1;
            snprintf(ss->first_failure, sizeof(ss->first_failure), "clean-run: %s", res->reason);
            fprintf(log, "clean run: FAIL %s\n  files: %s\n", res->reason, path);
            rc = 1;
        } else {
            snprintf(err, n, "the clean run ended %s: %s", verdict_name(v), res->reason);
        }
        goto out;
    }
    if (res->black_box) {
        snprintf(err, n, "the firmware reports no events of its own (seen from outside): its power "
                 "cuts cannot be seen, so no cut point can be judged");
        rc = 3;
        goto out;
    }
    char fb[4400];
    snprintf(fb, sizeof(fb), "%s/flash-before.bin", path);
    unsigned long long before, after;
    if (flash_ops(fb, ro.board, &before, err, n) != 0)
        goto out;
    snprintf(fb, sizeof(fb), "%s/flash.bin", path);
    if (flash_ops(fb, ro.board, &after, err, n) != 0)
        goto out;
    if (after <= before) {
        snprintf(err, n, "the clean run made no flash op (%llu..%llu)", before, after);
        goto out;
    }
    ss->first = before + 1;
    ss->last = after;
    unsigned long long nops = ss->last - ss->first + 1;
    unsigned maxp = o->max_points ? o->max_points : QSWEEP_MAX_POINTS;
    ss->stride = o->stride ? o->stride : (unsigned)((nops + maxp - 1) / maxp);
    if (!ss->stride)
        ss->stride = 1;
    fprintf(log, "clean run: flash ops %llu..%llu of the file's life (%llu ops); stride %u from op %llu\n",
            ss->first, ss->last, nops, ss->stride, ss->first + o->run.seed % ss->stride);
    fflush(log);

    rc = 0;
    for (unsigned long long op = ss->first + o->run.seed % ss->stride; op <= ss->last;
         op += ss->stride) {
        snprintf(cut, sizeof(cut), "%llu:%s", op, o->mode);
        snprintf(path, sizeof(path), "%s/point", o->dir);
        ro.out = path;
        ro.cut = cut;
        v = run_case("update", &ro, res);
        if (v == V_ERROR) /* the harness's own trouble: once more before giving up */
            v = run_case("update", &ro, res);
        if (v == V_ERROR) {
            snprintf(err, n, "op %llu (%s): %s", op, o->mode, res->reason);
            rc = 2;
            goto out;
        }
        ss->points++;
        int fired = 0, bad = read_events(res->events, &fired, why, sizeof(why));
        if (v == V_FAIL) {
            snprintf(why, sizeof(why), "%s", res->reason);
            bad = 1;
        }
        if (!fired && !bad) {
            ss->not_reached++;
            continue;
        }
        if (!bad)
            continue;
        char kept[4400];
        snprintf(kept, sizeof(kept), "%s/op-%llu", o->dir, op);
        if (rename(path, kept) != 0)
            snprintf(kept, sizeof(kept), "%s", path);
        if (!ss->failures++)
            snprintf(ss->first_failure, sizeof(ss->first_failure), "op %llu (%s): %s", op, o->mode, why);
        fprintf(log, "op %llu (%s): FAIL %s\n  replay: otahil run update --target qemu --board %s "
                "--port %s --seed %llu --reboot-delay-ms %ld --plan %s --cut-at %s\n  files: %s\n",
                op, o->mode, why, ro.board, ro.port ? ro.port : "reference",
                (unsigned long long)ro.seed, ro.reboot_delay_ms, plan_path, cut, kept);
        fflush(log);
        rc = 1;
    }
    ss->seconds = now_s() - t0;
    fprintf(log, "%u points (ops %llu..%llu, stride %u), %u not reached, %u failed, %.1f s\n",
            ss->points, ss->first, ss->last, ss->stride, ss->not_reached, ss->failures, ss->seconds);
out:
    ss->seconds = now_s() - t0;
    free(res);
    plan_free(plan);
    free(plan);
    return rc;
}
