/*
 * run.c - the cases that exist so far, and the machinery that runs one:
 * build the images, provision the flash with the old firmware, start the
 * cloud (real broker, firmware server), create the job, boot the device
 * again and again until the job ends, then check the event log and the
 * flash. A harness failure (broker lost, device process failing) is ERROR,
 * never FAIL.
 *
 * With a fault plan (run_opts.plan) the cloud gets the plan's faults before
 * the job is created, and the job gets the plan's retries. The supervisor
 * tells the cloud each time the device process ends (cloud_device_offline),
 * so the offline_push fault knows when the device is away. A plan may also
 * change the versions (base_version, target_version: the version rules of
 * spec §9.4), slow the device's flash (flash_write_us) and set a deadline
 * for the inform of the new version after set_boot FINISH
 * (inform_within_ms, spec §12 #15): once it has passed with the job still
 * open, the run ends there.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "conformance/checks.h"
#include "conformance/cloudref.h"
#include "conformance/common.h"
#include "conformance/netfault.h"
#include "conformance/plan.h"
#include "conformance/run.h"
#include "conformance/sentinel.h"
#include "conformance/supervisor.h"
#include "hal/soc/flash.h"
#include "mock_cloud/cloud.h"
#include "sim/device/dut.h"
#include "sim/util/defaults.h"
#include "sim/util/event.h"
#include "sim/util/evlog.h"

#define V1 "app-1.0.0-20180101.1000"
#define V2 "app-2.0.0-20260101.1200"
#define MAX_BOOTS 30
#define SETTLE_S 3 /* a fail-clean run ends when its push stays unanswered this long */
#define REBOOT_WAIT_S 3 /* ... or this long past the reboot pause after the job failed */

struct case_def {
    const char *name;
    const char *title;
    const char *target;      /* version pushed; NULL: the version the device runs */
    uint32_t    flags;       /* behaviour flags of the pushed image */
    int         needs_pingpong;
};

static const struct case_def g_cases[] = {
    { "update", "v1 -> v2 over the run's transport (MQTT + HTTP by default): download, verify, "
      "hand-off, reboot, report v2",
      V2, 0, 0 },
    { "rollback", "a v2 that crashes at boot is rolled back by the bootloader; v1 reported, job failed",
      V2, IMAGE_F_CRASH_AT_BOOT, 1 },
    { "version-same", "a push of the running version is refused with step -1 and no reboot",
      NULL, 0, 0 }, /* target NULL: the running version */
};

const char *const run_case_names[] = { "update", "rollback", "version-same", NULL };

static const struct case_def *find_case(const char *name)
{
    for (size_t i = 0; i < sizeof(g_cases) / sizeof(g_cases[0]); i++)
        if (!strcmp(g_cases[i].name, name))
            return &g_cases[i];
    return NULL;
}

const char *run_case_title(const char *name)
{
    const struct case_def *c = find_case(name);
    return c ? c->title : NULL;
}

const char *verdict_name(enum verdict v)
{
    switch (v) {
    case V_PASS: return "PASS";
    case V_FAIL: return "FAIL";
    case V_ERROR: return "ERROR";
    default: return "SKIP";
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void msleep(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* ---- event log checks --------------------------------------------------- */

/* One step of an expected sequence: event name, optional string field match. */
struct expect {
    const char *ev;
    const char *key;
    const char *val;
    const char *label;
};

/* Checks the steps occur in this order. -1 and reason when one is missing. */
static int check_order(const struct evlist *l, const struct expect *x, int nx, char *why, size_t n)
{
    int at = 0;
    for (int k = 0; k < nx; k++) {
        int found = -1;
        for (int i = at; i < l->n; i++) {
            const char *ev = ev_str(l->ev[i], "ev");
            if (!ev || strcmp(ev, x[k].ev) != 0)
                continue;
            if (x[k].key) {
                const char *v = ev_str(l->ev[i], x[k].key);
                if (!v || strcmp(v, x[k].val) != 0)
                    continue;
            }
            found = i;
            break;
        }
        if (found < 0) {
            snprintf(why, n, "event log: expected %s after %s, not found", x[k].label,
                     k ? x[k - 1].label : "the start");
            return -1;
        }
        at = found + 1;
    }
    return 0;
}

/* 1 when the device under test reported nothing of its own: no event from
 * the agent, the port or the bootloader model (a whole firmware seen only
 * from outside, docs/qemu.md "A firmware seen from outside"). */
static int black_box(const struct evlist *l)
{
    for (int i = 0; i < l->n; i++) {
        const char *src = ev_str(l->ev[i], "src");
        if (src && (!strcmp(src, "agent") || !strcmp(src, "port") || !strcmp(src, "boot")))
            return 0;
    }
    return 1;
}

static int count_ev(const struct evlist *l, const char *ev)
{
    int c = 0;
    for (int i = 0; i < l->n; i++) {
        const char *e = ev_str(l->ev[i], "ev");
        if (e && !strcmp(e, ev))
            c++;
    }
    return c;
}

static const char *last_inform(const struct evlist *l)
{
    const char *v = NULL;
    for (int i = 0; i < l->n; i++) {
        const char *e = ev_str(l->ev[i], "ev");
        if (e && !strcmp(e, "device.inform"))
            v = ev_str(l->ev[i], "version");
    }
    return v;
}

/* ---- the run ------------------------------------------------------------ */

static volatile sig_atomic_t g_interrupted;
static void on_int(int sig) { (void)sig; g_interrupted = 1; }

static enum verdict set(struct run_result *r, enum verdict v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum verdict set(struct run_result *r, enum verdict v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
    va_end(ap);
    r->verdict = v;
    return v;
}

static enum verdict check_flash(const char *flash, const struct board *b, const char *want,
                                struct run_result *res)
{
    struct flashfile ff;
    char err[512];
    if (open_flash(&ff, flash, b, err, sizeof(err)) != 0)
        return set(res, V_ERROR, "%s", err);
    int slot = active_slot(&ff.fs, b);
    struct image_info info;
    int rc = slot_image(&ff.fs, slot, &info);
    uint32_t viol = ff.fs.meta->violations;
    flashfile_close(&ff);
    if (viol)
        return set(res, V_FAIL, "%u flash rule violation(s): see `otahil flash info %s --board %s`",
                   viol, flash, b->name);
    if (rc != IMAGE_OK)
        return set(res, V_FAIL, "%s holds no valid image (%s)", board_part_name(slot),
                   image_strerror(rc));
    if (strcmp(info.version, want) != 0)
        return set(res, V_FAIL, "%s holds %s, expected %s", board_part_name(slot), info.version,
                   want);
    return V_PASS;
}

/* The first event ev at or after index from whose field key equals val
 * (no match on key when key is NULL); -1 when there is none. */
static int find_ev(const struct evlist *l, int from, const char *ev, const char *key,
                   const char *val)
{
    for (int i = from < 0 ? 0 : from; i < l->n; i++) {
        const char *e = ev_str(l->ev[i], "ev");
        const char *v = key ? ev_str(l->ev[i], key) : NULL;
        if (e && !strcmp(e, ev) && (!key || (v && !strcmp(v, val))))
            return i;
    }
    return -1;
}

static double t_us(const cJSON *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "t_us");
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* Spec §12 #15 (timely reboot): how long after the last set_boot FINISH the
 * cloud heard the inform of the new version, as a run.inform_delay event.
 * With a deadline (ms > 0), later than that is FAIL. */
static enum verdict check_inform_delay(const struct evlist *l, const char *target,
                                       uint32_t deadline_ms, struct run_result *res)
{
    int fin = -1;
    for (int i = find_ev(l, 0, "port.set_boot", "result_type", "FINISH"); i >= 0;
         i = find_ev(l, i + 1, "port.set_boot", "result_type", "FINISH"))
        fin = i;
    int inf = fin < 0 ? -1 : find_ev(l, fin + 1, "device.inform", "version", target);
    if (fin < 0 || inf < 0)
        return deadline_ms ? set(res, V_FAIL, "no inform of %s after set_boot FINISH", target)
                           : V_PASS;
    double ms = (t_us(l->ev[inf]) - t_us(l->ev[fin])) / 1000.0;
    char ev[PLAN_VERSION_MAX * 6];
    evlog_emit("run", "run.inform_delay", "\"version\":\"%s\",\"after_finish_ms\":%.0f,"
               "\"deadline_ms\":%u", otahil_json_escape(ev, sizeof(ev), target), ms, deadline_ms);
    if (deadline_ms && ms > deadline_ms)
        return set(res, V_FAIL, "the inform of %s came %.0f ms after set_boot FINISH, later than "
                   "the plan's %u ms (no timely reboot, spec §12 #15)", target, ms, deadline_ms);
    return V_PASS;
}

/* Spec §12 #15 while the run goes on: how long the last set_boot FINISH of
 * the event log has waited for the inform of the new version, in ms (event
 * times are CLOCK_MONOTONIC, as now_s()); -1 when there is no FINISH yet or
 * the inform came. *booted: a boot started since the FINISH. */
static double finish_waiting_ms(const char *events, const char *target, int *booted)
{
    struct evlist l;
    double waited = -1;
    *booted = 0;
    if (evlist_load(events, &l) != 0)
        return -1;
    int fin = -1;
    for (int i = find_ev(&l, 0, "port.set_boot", "result_type", "FINISH"); i >= 0;
         i = find_ev(&l, i + 1, "port.set_boot", "result_type", "FINISH"))
        fin = i;
    if (fin >= 0 && find_ev(&l, fin + 1, "device.inform", "version", target) < 0) {
        waited = (now_s() * 1e6 - t_us(l.ev[fin])) / 1000.0;
        *booted = find_ev(&l, fin + 1, "boot.start", NULL, NULL) >= 0;
    }
    evlist_free(&l);
    return waited;
}

/* The conformance checks (checks.h) over the log, the file served and the
 * flash. V_PASS, or the first failing check's verdict with its detail. */
static enum verdict run_checks(const struct evlist *l, const struct board *b, const char *flash,
                               const char *served, const char *base, const char *target,
                               int expect_update, const struct fault_plan *plan,
                               struct run_result *res)
{
    uint8_t *file;
    size_t len;
    char err[512];
    if (read_file(served, &file, &len, err, sizeof(err)) != 0)
        return set(res, V_ERROR, "%s", err);
    struct check_in ci = { l, file, len, b, flash, base, target, expect_update, CHECK_STEP_ANY };
    if (plan && plan->fail_step[0] &&
        check_parse_fail_step(plan->fail_step, b->profile, &ci.fail_step, err, sizeof(err)) != 0) {
        free(file);
        return set(res, V_ERROR, "plan %s: fail_step %s", plan->name, err);
    }
    res->nchecks = checks_run(&ci, res->checks);
    free(file);
    const struct check_res *bad = checks_first_bad(res->checks, res->nchecks);
    if (!bad)
        return V_PASS;
    return set(res, bad->verdict, "check %s: %s", bad->id, bad->detail);
}

static enum verdict judge(const struct case_def *c, const struct board *b, const char *flash,
                          const struct job_status *js, const char *base, const char *target,
                          const struct fault_plan *plan, const char *served, int cut,
                          int whole, struct run_result *res)
{
    uint32_t inform_within_ms = plan ? plan->inform_within_ms : 0;
    int fail_clean = plan && plan->expect == PLAN_EXPECT_FAIL_CLEAN;
    int expect_update = -1;
    struct evlist l;
    char why[400];
    if (evlist_load(res->events, &l) != 0)
        return set(res, V_ERROR, "cannot read the event log %s", res->events);
    enum verdict v = V_PASS;
    int pingpong = !strcmp(b->bootloader, "pingpong");
    /* A firmware that reports no events is judged by what the cloud, the
     * harness and the flash saw: the same cases, the steps only the device
     * can tell (set_boot, the bootloader's copy) left out. */
    /* a whole firmware is seen from outside whatever it prints */
    int bb = whole || black_box(&l);
    res->black_box = bb;
    if (bb && strcmp(c->name, "update") && strcmp(c->name, "rollback") &&
        strcmp(c->name, "version-same")) {
        evlist_free(&l);
        return set(res, V_SKIP, "the firmware reports no events of its own (seen from outside): "
                   "case %s needs them", c->name);
    }
    if (bb && !strcmp(c->name, "update") && !fail_clean) {
        expect_update = 1;
        struct expect x[] = {
            /* no progress step in this order: the cloud hears a report through the
             * broker while the GET reaches the firmware server, in either order */
            { "device.inform", base ? "version" : NULL, base,
              base ? "inform of the old version" : "an inform" },
            { "job.pushed", NULL, NULL, "the push" },
            { plan && plan->coap_dl ? "coap.block" : "http.request", NULL, NULL,
              plan && plan->coap_dl ? "the first Block2 exchange" : "the GET" },
            { "device.exit", NULL, NULL, "the end of the boot (a reboot or the power cut)" },
            { "device.inform", "version", target, "inform of the new version" },
            { "job.succeeded", NULL, NULL, "job succeeded" },
        };
        if (js->state != JOB_SUCCEEDED)
            v = set(res, V_FAIL, "job %s: %s", cloud_job_state_name(js->state), js->reason);
        else if (check_order(&l, x, (int)(sizeof(x) / sizeof(x[0])), why, sizeof(why)) != 0)
            v = set(res, V_FAIL, "%s", why);
        else if (find_ev(&l, 0, "device.progress", NULL, NULL) < 0)
            v = set(res, V_FAIL, "the cloud heard no progress report");
        else if (inform_within_ms)
            /* the hand-off (set_boot FINISH) is the device's own event */
            v = set(res, V_SKIP, "the time from the hand-off to the inform needs the firmware's "
                    "set_boot event");
        else if (!whole) /* a whole firmware's flash is laid out its own way */
            v = check_flash(flash, b, target, res);
    } else if (bb && !strcmp(c->name, "version-same")) {
        expect_update = 0;
        if (js->state != JOB_FAILED || js->last_step != -1)
            v = set(res, V_FAIL, "job %s with last step %d, expected failed with step -1",
                    cloud_job_state_name(js->state), js->last_step);
        else
            v = check_flash(flash, b, base, res);
    } else if (!strcmp(c->name, "update") && fail_clean) {
        /* The plan's fault must make the update fail: the job fails (or the
         * device leaves the push unanswered, as G1 does with a push it cannot
         * parse), and the device keeps its image; the checks say the rest. */
        expect_update = 0;
        if (js->state == JOB_SUCCEEDED)
            v = set(res, V_FAIL, "the update succeeded; under plan %s a correct device fails it "
                    "cleanly", plan->name);
        else if (!whole)
            v = check_flash(flash, b, base, res);
    } else if (!strcmp(c->name, "update")) {
        expect_update = 1;
        struct expect x[] = {
            { "device.inform", "version", base, "inform of the old version" },
            { "job.pushed", NULL, NULL, "the push" },
            { "agent.progress", NULL, NULL, "a progress report" },
            { plan && plan->coap_dl ? "coap.block" : "http.request", NULL, NULL,
              plan && plan->coap_dl ? "the first Block2 exchange" : "the GET" },
            { "port.set_boot", "result_type", "FINISH", "set_boot FINISH" },
            /* with a power cut (--cut-at) the boot may end at the cut instead */
            { cut ? "boot.start" : "device.reboot", NULL, NULL,
              cut ? "the next boot (after a reboot or the power cut)" : "the reboot" },
            { pingpong ? "boot.switch" : "boot.copy", NULL, NULL,
              pingpong ? "the bootloader's slot switch" : "the bootloader copy" },
            { "device.inform", "version", target, "inform of the new version" },
            { "job.succeeded", NULL, NULL, "job succeeded" },
        };
        if (js->state != JOB_SUCCEEDED)
            v = set(res, V_FAIL, "job %s: %s", cloud_job_state_name(js->state), js->reason);
        else if (check_order(&l, x, (int)(sizeof(x) / sizeof(x[0])), why, sizeof(why)) != 0)
            v = set(res, V_FAIL, "%s", why);
        else if (check_inform_delay(&l, target, inform_within_ms, res) != V_PASS)
            v = V_FAIL;
        else
            v = check_flash(flash, b, target, res);
    } else if (!strcmp(c->name, "rollback")) {
        struct expect x[] = {
            { "job.pushed", NULL, NULL, "the push" },
            { "port.set_boot", "result_type", "FINISH", "set_boot FINISH" },
            { "boot.switch", NULL, NULL, "the switch to the new slot" },
            { "app.crash", NULL, NULL, "the crash of the new image" },
            { "boot.rollback", NULL, NULL, "the bootloader's rollback" },
            { "device.inform", "version", base, "inform of the old version after rollback" },
            { "job.failed", NULL, NULL, "job failed" },
        };
        /* seen from outside: the end of a boot stands for the device's own steps */
        const struct expect xb[] = {
            { "job.pushed", NULL, NULL, "the push" },
            { "device.exit", NULL, NULL, "the end of the boot" },
            { "device.inform", "version", base, "inform of the old version after rollback" },
            { "job.failed", NULL, NULL, "job failed" },
        };
        const char *li = last_inform(&l);
        if (js->state != JOB_FAILED)
            v = set(res, V_FAIL, "job %s, expected failed after rollback",
                    cloud_job_state_name(js->state));
        else if (bb ? check_order(&l, xb, (int)(sizeof(xb) / sizeof(xb[0])), why, sizeof(why)) != 0
                    : check_order(&l, x, (int)(sizeof(x) / sizeof(x[0])), why, sizeof(why)) != 0)
            v = set(res, V_FAIL, "%s", why);
        else if (!li || strcmp(li, base) != 0)
            v = set(res, V_FAIL, "last version reported is %s, expected %s", li ? li : "none", base);
        else
            v = check_flash(flash, b, base, res);
    } else if (!strcmp(c->name, "version-same")) {
        expect_update = 0;
        struct expect x[] = {
            { "job.pushed", NULL, NULL, "the push" },
            { "agent.push_rejected", NULL, NULL, "the device's refusal" },
            { "job.failed", NULL, NULL, "job failed" },
        };
        if (js->state != JOB_FAILED || js->last_step != -1)
            v = set(res, V_FAIL, "job %s with last step %d, expected failed with step -1",
                    cloud_job_state_name(js->state), js->last_step);
        else if (check_order(&l, x, 3, why, sizeof(why)) != 0)
            v = set(res, V_FAIL, "%s", why);
        else if (count_ev(&l, "device.reboot") != 0)
            v = set(res, V_FAIL, "the device rebooted after refusing the push");
        else
            v = check_flash(flash, b, base, res);
    }
    if (whole) {
        /* the checks read otahil's images and settings pattern in the flash: not this
         * firmware's */
    } else if (v == V_PASS) {
        v = run_checks(&l, b, flash, served, base, target, expect_update, plan, res);
    } else if (v == V_FAIL) {
        /* The case's own reason stands; the checks still say what went wrong
         * underneath it (a wrong version after the reboot, a resume from the
         * wrong offset, ...). */
        struct run_result tmp;
        memset(&tmp, 0, sizeof(tmp));
        (void)run_checks(&l, b, flash, served, base, target, expect_update, plan, &tmp);
        memcpy(res->checks, tmp.checks, sizeof(res->checks));
        res->nchecks = tmp.nchecks;
    }
    evlist_free(&l);
    if (v == V_PASS && fail_clean)
        snprintf(res->reason, sizeof(res->reason), "the update failed cleanly, as plan %s expects "
                 "(job %s%s, %s kept)", plan->name, cloud_job_state_name(js->state),
                 js->last_step < 0 && js->last_step > -1000 ? ", negative step reported" : "",
                 base ? base : "its image");
    else if (v == V_PASS)
        snprintf(res->reason, sizeof(res->reason), "%s", c->title);
    if (bb && v != V_ERROR) {
        /* say how it was judged; the checks that needed the device's own
         * events are SKIP for that reason */
        char r[sizeof(res->reason)];
        snprintf(r, sizeof(r), "%s (seen from outside: %s)", res->reason,
                 whole ? "a whole firmware, judged by the cloud and the firmware server"
                       : "the firmware reports no events of its own");
        snprintf(res->reason, sizeof(res->reason), "%s", r);
        for (int i = 0; i < res->nchecks; i++)
            if (res->checks[i].verdict == V_SKIP) {
                char d[sizeof(res->checks[i].detail)];
                snprintf(d, sizeof(d), "no device events: %s", res->checks[i].detail);
                snprintf(res->checks[i].detail, sizeof(res->checks[i].detail), "%s", d);
            }
    }
    return v;
}

/* Serves the image without its 28-byte AliOS footer (an image built for
 * another bootloader, or a truncated upload). */
static int strip_footer(const char *path, char *err, size_t n)
{
    uint8_t *data;
    size_t len;
    if (read_file(path, &data, &len, err, n) != 0)
        return -1;
    int rc = len > IMAGE_FOOTER_SIZE ? write_file_atomic(path, data, len - IMAGE_FOOTER_SIZE, err, n) : -1;
    if (len <= IMAGE_FOOTER_SIZE)
        snprintf(err, n, "%s: too short to strip a footer", path);
    free(data);
    return rc;
}

/* The device binary for a --port value: "" for the reference (otahil-dut),
 * build/dut/NAME for a known-bad variant, or the path given. */
static int resolve_port(const char *port, char *dut, size_t n, char *err, size_t errlen)
{
    char rel[300];
    dut[0] = '\0';
    if (!port || !strcmp(port, "reference"))
        return 0;
    if (strchr(port, '/')) {
        if (access(port, X_OK) != 0) {
            snprintf(err, errlen, "--port %s: not an executable device binary", port);
            return -1;
        }
        snprintf(dut, n, "%s", port);
        return 0;
    }
    for (const char *c = port; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_')) {
            snprintf(err, errlen, "--port '%s': a port name is letters, digits, '-' and '_'", port);
            return -1;
        }
    snprintf(rel, sizeof(rel), "../dut/%s", port);
    if (otahil_sibling_exe(rel, dut, n) != 0) {
        snprintf(err, errlen, "--port %s: no device build %s (make builds it from "
                 "fixtures/ports/%s.patch)", port, dut, port);
        return -1;
    }
    return 0;
}

/* The QEMU boot chain of a port (docs/qemu.md, "Boot chain"): the bootloader
 * program (build/qemu/otahil-boot.elf, a known-bad variant's
 * build/qemu/NAME-boot.elf) and the prefix of its application programs
 * (PREFIX-v1.bin, PREFIX-v2.bin), built by make from the same sources, a
 * variant's from the same patched sources as build/dut/NAME. A variant whose
 * patched sources do not build for the Cortex-M3 has NAME.elf.why instead,
 * with the reason. A path names a chain built elsewhere by its bootloader
 * program, DIR/NAME-boot.elf beside DIR/NAME-app-v1.bin and -v2.bin (a
 * vendor's sources built by portbuild_qemu); any other path is a device
 * binary, which has no firmware at all. */
static int qemu_port_chain(const char *port, char *elf, size_t n, char *app, size_t appn,
                           char *err, size_t errlen)
{
    char rel[300], why[4300];
    if (port && strchr(port, '/')) {
        size_t pl = strlen(port), sl = strlen("-boot.elf");
        if (pl <= sl || strcmp(port + pl - sl, "-boot.elf") != 0) {
            snprintf(err, errlen, "--port %s: a device binary cannot run on the QEMU target (give "
                     "the port's sources FILE.c, a known-bad variant's name, or a bootloader "
                     "program NAME-boot.elf)", port);
            return -1;
        }
        snprintf(elf, n, "%s", port);
        snprintf(app, appn, "%.*sapp", (int)(pl - strlen("boot.elf")), port);
        for (int v = 1; v <= 2; v++) {
            char prog[4300];
            snprintf(prog, sizeof(prog), "%s-v%d.bin", app, v);
            if (access(prog, R_OK) != 0) {
                snprintf(err, errlen, "--port %s: no application program %s beside it: %s", port,
                         prog, strerror(errno));
                return -1;
            }
        }
        if (access(elf, R_OK) != 0) {
            snprintf(err, errlen, "--port %s: %s", port, strerror(errno));
            return -1;
        }
        return 0;
    }
    const char *name = port && strcmp(port, "reference") ? port : NULL;
    snprintf(rel, sizeof(rel), "../qemu/%s.elf", name ? name : "otahil-boot");
    if (name && otahil_sibling_exe(rel, elf, n) != 0 && access(elf, R_OK) != 0) {
        snprintf(why, sizeof(why), "%s.why", elf);
        FILE *f = fopen(why, "r");
        char line[512] = "";
        if (f) {
            if (!fgets(line, sizeof(line), f))
                line[0] = '\0';
            fclose(f);
            line[strcspn(line, "\n")] = '\0';
            snprintf(err, errlen, "--port %s: no QEMU firmware: fixtures/ports/%s.patch does not "
                     "build for the QEMU target: %s", port, port, line);
        } else {
            snprintf(err, errlen, "--port %s: no QEMU firmware %s (make builds it from "
                     "fixtures/ports/%s.patch)", port, elf, port);
        }
        return -1;
    }
    if (name)
        snprintf(rel, sizeof(rel), "../qemu/%s-boot.elf", name);
    if (otahil_sibling_exe(rel, elf, n) != 0 && access(elf, R_OK) != 0) {
        snprintf(err, errlen, "no QEMU bootloader program %s (make qemu-fw)", elf);
        return -1;
    }
    size_t l = strlen(elf);
    size_t cut = l - strlen("boot.elf") - (name ? 0 : strlen("otahil-"));
    snprintf(app, appn, "%.*sapp", (int)cut, elf);
    return 0;
}

/* An image whose payload is the application program PREFIX-vN.bin (the
 * bootloader copies and enters it), padded from the spec's seed when a plan
 * asks for a larger image (sized is set). */
static int make_program_image(const char *path, const char *prog, const struct image_spec *spec,
                              int sized, char *err, size_t n)
{
    uint8_t *p = NULL, *img = NULL, *pad = NULL;
    size_t plen = 0;
    if (read_file(prog, &p, &plen, err, n) != 0)
        return -1;
    struct image_spec s = *spec;
    if (!sized)
        s.payload_len = (uint32_t)plen;
    if (plen == 0 || s.payload_len < plen) {
        snprintf(err, n, "%s: the application program (%zu bytes) does not fit an image payload "
                 "of %lu bytes", prog, plen, (unsigned long)s.payload_len);
        free(p);
        return -1;
    }
    size_t len = image_total_size(&s);
    int rc = -1;
    if (len && (img = malloc(len)) && (pad = malloc(len))) {
        rc = image_build(&s, pad, len); /* the seed's payload, for the padding */
        if (rc == IMAGE_OK) {
            memcpy(pad + IMAGE_HEADER_SIZE, p, plen);
            rc = image_wrap(&s, pad + IMAGE_HEADER_SIZE, img, len);
        }
        if (rc != IMAGE_OK)
            snprintf(err, n, "%s: bad image spec: %s", path, image_strerror(rc));
        else
            rc = write_file_atomic(path, img, len, err, n);
    } else {
        snprintf(err, n, "%s: out of memory", path);
    }
    free(p);
    free(img);
    free(pad);
    return rc;
}

/* A flash file for a whole firmware: the board's chip erased, then the
 * bytes of image (NULL: none) from chip offset 0, as a factory programs it.
 * 0, or -1 (err). */
static int blank_flash(const char *path, const struct board *b, const char *image, char *err,
                       size_t n)
{
    uint8_t *img = NULL;
    size_t len = 0;
    if (image && read_file(image, &img, &len, err, n) != 0)
        return -1;
    if (len > b->geom.size) {
        snprintf(err, n, "--flash-image %s: %zu bytes, more than board %s's %lu-byte chip", image,
                 len, b->name, (unsigned long)b->geom.size);
        free(img);
        return -1;
    }
    unlink(path);
    struct flashfile ff;
    memset(&ff, 0, sizeof(ff));
    if (flashfile_open(&ff, path, &b->geom, 1, 0, err, n) != 0) {
        free(img);
        return -1;
    }
    if (len)
        memcpy(ff.fs.mem, img, len);
    flashfile_close(&ff);
    free(img);
    return 0;
}

const char *run_nic_refusal(const struct fault_plan *p)
{
    if (!p)
        return NULL;
    if (p->https || p->mqtts || p->tls_fragment || p->tls_heap)
        return "the firmware's own IP stack has no TLS (the plan needs it)";
    if (p->coap)
        return "the firmware's own IP stack has no CoAP client (the plan needs it)";
    return NULL;
}

int run_target_qemu(const char *target)
{
    if (!target || !strcmp(target, "native"))
        return 0;
    return !strcmp(target, "qemu") ? 1 : -1;
}

enum verdict run_case(const char *name, const struct run_opts *o, struct run_result *res)
{
    memset(res, 0, sizeof(*res));
    double t0 = now_s();
    const struct case_def *c = find_case(name);
    static struct board b;
    char err[1024], path[4200], flash[4200], v1img[4200], v2img[4200], cloudir[4200];
    if (!c)
        return set(res, V_ERROR, "unknown case '%s' (otahil run --list)", name);
    if (board_open(&b, o->board, err, sizeof(err)) != 0)
        return set(res, V_ERROR, "%s", err);
    if (c->needs_pingpong && strcmp(b.bootloader, "pingpong") != 0)
        return set(res, V_SKIP, "board %s has a %s bootloader; the case needs pingpong", b.name,
                   b.bootloader);
    if (mkdir_p(o->out) != 0)
        return set(res, V_ERROR, "%s: %s", o->out, strerror(errno));
    char dut[4200] = "";
    if (run_target_qemu(o->target) < 0)
        return set(res, V_ERROR, "target '%s': expected native or qemu", o->target);
    /* a path on QEMU is a boot chain's, not a device binary (qemu_port_chain) */
    int qpath = run_target_qemu(o->target) == 1 && o->port && strchr(o->port, '/');
    if (!qpath && resolve_port(o->port, dut, sizeof(dut), err, sizeof(err)) != 0)
        return set(res, V_ERROR, "%s", err);
    char elf[4200] = "", app[4200] = "";
    if (run_target_qemu(o->target) == 1) {
        /* The same boots, verdicts and checks; each boot is otahil-qemu
         * starting the port's bootloader program, the images' payloads its
         * application programs. */
        if (qemu_port_chain(dut[0] || qpath ? o->port : NULL, elf, sizeof(elf), app, sizeof(app),
                            err, sizeof(err)) != 0)
            return set(res, V_ERROR, "%s", err);
        if (otahil_sibling_exe("otahil-qemu", dut, sizeof(dut)) != 0)
            return set(res, V_ERROR, "cannot find otahil-qemu beside this executable (run make)");
        if (o->nic) {
            /* The firmware with its own IP stack: the same bootloader and
             * agent, its network its own (docs/qemu.md, "Own IP stack"). */
            const char *why = run_nic_refusal(o->plan);
            if (why)
                return set(res, V_ERROR, "--net user: %s", why);
            /* the same chain built with the firmware's own network: otahil-boot.elf
             * -> nic-boot.elf, NAME-boot.elf -> NAME-nic-boot.elf (a variant's, a
             * vendor's port-boot.elf), their programs PREFIX-nic-app-vN.bin */
            const char *base = strrchr(elf, '/') ? strrchr(elf, '/') + 1 : elf;
            size_t dl = (size_t)(base - elf), el = strlen(elf);
            char nelf[4200];
            if (!strcmp(base, "otahil-boot.elf"))
                snprintf(nelf, sizeof(nelf), "%.*snic-boot.elf", (int)dl, elf);
            else if (el > strlen("-nic-boot.elf") && !strcmp(elf + el - strlen("-nic-boot.elf"), "-nic-boot.elf"))
                snprintf(nelf, sizeof(nelf), "%s", elf); /* named as the own-stack chain */
            else
                snprintf(nelf, sizeof(nelf), "%.*s-nic-boot.elf", (int)(el - strlen("-boot.elf")), elf);
            /* a chain given by path with no own-stack sibling was built elsewhere with
             * its own network: it is booted as it is */
            if (qpath && access(nelf, R_OK) != 0)
                snprintf(nelf, sizeof(nelf), "%s", elf);
            snprintf(app, sizeof(app), "%.*sapp", (int)(strlen(nelf) - strlen("boot.elf")), nelf);
            snprintf(path, sizeof(path), "%s-v2.bin", app);
            if (access(nelf, R_OK) != 0 || access(path, R_OK) != 0)
                return set(res, V_ERROR, "--net user: no QEMU program %s or %s (make qemu-fw builds "
                           "them with the boot chain)", nelf, path);
            snprintf(elf, sizeof(elf), "%s", nelf);
        }
        if (o->firmware && o->firmware[0]) {
            /* a whole firmware, booted as it is (docs/qemu.md, "A whole firmware") */
            if (!o->nic)
                return set(res, V_ERROR, "--firmware needs --net user: a whole firmware brings its "
                           "own network");
            if (!o->image || !o->image_version)
                return set(res, V_ERROR, "--firmware needs --image FILE and --image-version V: the "
                           "update the cloud serves and the version the firmware must report after it");
            if (strcmp(c->name, "update"))
                return set(res, V_ERROR, "--firmware: a whole firmware runs the update case and its "
                           "scenarios, not %s", c->name);
            if (access(o->firmware, R_OK) != 0)
                return set(res, V_ERROR, "--firmware %s: %s", o->firmware, strerror(errno));
            snprintf(elf, sizeof(elf), "%s", o->firmware);
            app[0] = '\0';
        }
    } else if (o->firmware && o->firmware[0]) {
        return set(res, V_ERROR, "--firmware needs --target qemu --net user");
    } else if (o->cut && o->cut[0]) {
        return set(res, V_ERROR, "--cut-at needs --target qemu (native power cuts: otahil sweep)");
    } else if (o->nic) {
        return set(res, V_ERROR, "--net user needs --target qemu");
    }

    snprintf(res->events, sizeof(res->events), "%s/events.jsonl", o->out);
    snprintf(path, sizeof(path), "%s.seq", res->events);
    unlink(res->events);
    unlink(path);
    snprintf(flash, sizeof(flash), "%s/flash.bin", o->out);
    snprintf(v1img, sizeof(v1img), "%s/fw-v1.bin", o->out);
    snprintf(v2img, sizeof(v2img), "%s/fw-target.bin", o->out);
    snprintf(cloudir, sizeof(cloudir), "%s/cloud", o->out);

    const char *base = o->plan && o->plan->base_version[0] ? o->plan->base_version : V1;
    const char *target = o->plan && o->plan->target_version[0] ? o->plan->target_version
                       : c->target ? c->target : base;
    uint32_t s32 = (uint32_t)(o->seed ^ (o->seed >> 32));
    struct image_spec s1 = { base, NULL, 48 * 1024 + (s32 % 4096), s32 * 2654435761u + 1, 0 };
    struct image_spec s2 = { target, NULL, 64 * 1024 + (s32 % 8192), s32 * 2246822519u + 7,
                             c->flags };
    if (o->plan && o->plan->image_size)
        s2.payload_len = o->plan->image_size;
    if (o->plan && o->plan->has_file_size) {
        /* §12 #3: the file against the partition it downloads into. */
        const struct board_part *dl = board_part(&b, HAL_PARTITION_OTA_TEMP);
        int64_t want = dl ? (int64_t)dl->length + o->plan->file_size_delta : 0;
        if (!dl || want <= (int64_t)(IMAGE_HEADER_SIZE + IMAGE_FOOTER_SIZE))
            return set(res, V_ERROR, "plan %s: file_size: board %s has no OTA_TEMP large enough",
                       o->plan->name, b.name);
        s2.payload_len = (uint32_t)(want - IMAGE_HEADER_SIZE - IMAGE_FOOTER_SIZE);
    }
    int whole = o->firmware && o->firmware[0];
    if (whole) {
        /* its own flash and its own update file: nothing of otahil's is provisioned
         * (no image of ours, no settings pattern); the version is the caller's */
        base = NULL;
        target = o->image_version;
        if (blank_flash(flash, &b, o->flash_image, err, sizeof(err)) != 0 ||
            copy_file_atomic(o->image, v2img, err, sizeof(err)) != 0)
            return set(res, V_ERROR, "%s", err);
    }
    char prog1[4300], prog2[4300];
    snprintf(prog1, sizeof(prog1), "%s-v1.bin", app);
    snprintf(prog2, sizeof(prog2), "%s-v2.bin", app);
    int sized = o->plan && (o->plan->image_size || o->plan->has_file_size);
    if (!whole && ((app[0] ? make_program_image(v1img, prog1, &s1, 0, err, sizeof(err))
                : make_image_file(v1img, &s1, err, sizeof(err))) != 0 ||
        (app[0] ? make_program_image(v2img, prog2, &s2, sized, err, sizeof(err))
                : make_image_file(v2img, &s2, err, sizeof(err))) != 0 ||
        provision_flash(flash, &b, v1img, err, sizeof(err)) != 0 ||
        sentinel_plant(flash, &b, o->seed, err, sizeof(err)) != 0)) /* spec §12 #10 */
        return set(res, V_ERROR, "%s", err);
    if (o->plan && o->plan->image_no_footer && strip_footer(v2img, err, sizeof(err)) != 0)
        return set(res, V_ERROR, "%s", err);
    snprintf(path, sizeof(path), "%s/flash-before.bin", o->out); /* for its repro folder */
    if (copy_file_atomic(flash, path, err, sizeof(err)) != 0)
        return set(res, V_ERROR, "%s", err);

    if (evlog_open(res->events) != 0)
        return set(res, V_ERROR, "%s: %s", res->events, strerror(errno));
    evlog_emit("run", "run.start", "\"case\":\"%s\",\"board\":\"%s\",\"seed\":%llu,\"port\":\"%s\","
               "\"transport\":\"%s\"", c->name, b.name, (unsigned long long)o->seed,
               o->port ? o->port : "reference", o->plan ? plan_transport_name(o->plan) : "http");

    struct cloud_opts co = { cloudir, NULL, o->mqtt_port, o->http_port, o->seed, o->throttle_bps,
                             o->plan && o->plan->https, o->plan && o->plan->mqtts,
                             o->plan ? o->plan->tls_cert : 0, 0, NULL };
    /* The certification's one cloud, unless the plan's fault is the cloud
     * itself (cloudref_own_reason) or this run is the only one (otahil run,
     * a repro): then a cloud of the run's own. */
    const char *dn = o->dn && o->dn[0] ? o->dn : OTAHIL_DEFAULT_DN;
    const char *own = cloudref_own_reason(o->plan);
    struct cloudref cr;
    int joined = o->cloud && !own && !o->throttle_bps && !o->mqtt_port && !o->http_port;
    if (joined) {
        snprintf(res->cloud, sizeof(res->cloud), "shared");
        evlog_emit("run", "run.cloud", "\"shared\":true,\"pid\":%d,\"dn\":\"%s\"", o->cloud->pid, dn);
    } else {
        snprintf(res->cloud, sizeof(res->cloud), "own%s%s", o->cloud && own ? ": " : "",
                 o->cloud && own ? own : "");
        evlog_emit("run", "run.cloud", "\"shared\":false,\"dn\":\"%s\"", dn);
    }
    if ((joined ? cloudref_join(&cr, o->cloud, res->events, o->seed, o->plan, OTAHIL_DEFAULT_PK, dn,
                                OTAHIL_DEFAULT_SECRET, err, sizeof(err))
                : cloudref_start_own(&cr, &co, o->plan, OTAHIL_DEFAULT_PK, dn, OTAHIL_DEFAULT_SECRET,
                                     err, sizeof(err))) != 0) {
        evlog_close();
        return set(res, V_ERROR, "%s", err);
    }
    if (o->nic) /* the device reaches this machine's loopback there */
        cloudref_set_url_host(&cr, "10.0.2.2");
    static struct netfault nf;
    struct netfault_upstream up = { cloudref_mqtt_port(&cr), cloudref_fw_port(&cr),
                                    cloudref_coap_port(&cr, 0), cloudref_coap_port(&cr, 1) };
    if (netfault_start_to(&nf, o->plan, &up, o->seed, err, sizeof(err)) != 0) {
        cloudref_stop(&cr);
        evlog_close();
        return set(res, V_ERROR, "%s", err);
    }
    if (netfault_http_port(&nf))
        cloudref_set_url_port(&cr, netfault_http_port(&nf));
    struct push_opts po = { NULL, o->plan ? o->plan->retries : 0, 0, NULL };
    struct cloud_fw_opts fo;
    memset(&fo, 0, sizeof(fo));
    fo.version = whole ? target : NULL;                  /* a whole firmware's file: the given version */
    fo.unchecked = o->plan && o->plan->image_no_footer;  /* served unchecked */
    int fw = cloudref_add_firmware(&cr, v2img, &fo, err, sizeof(err));
    int job = fw < 0 ? -1 : cloudref_create_job(&cr, fw, &po, err, sizeof(err));
    if (job < 0) {
        netfault_stop(&nf);
        cloudref_stop(&cr);
        evlog_close();
        return set(res, V_ERROR, "cloud: %s", err);
    }

    char broker[64], coap[64];
    snprintf(broker, sizeof(broker), "127.0.0.1:%d", netfault_mqtt_port(&nf, NULL));
    snprintf(coap, sizeof(coap), "%s://127.0.0.1:%d", o->plan && o->plan->coap == 2 ? "coaps" : "coap",
             netfault_coap_port(&nf, NULL));
    const char *ca = cloudref_ca_path(&cr);
    struct supervisor_opts so = { dut[0] ? dut : NULL, b.path, flash, broker, OTAHIL_DEFAULT_PK,
                                  dn, OTAHIL_DEFAULT_SECRET, res->events,
                                  o->reboot_delay_ms, 1, o->plan ? o->plan->flash_write_us : 0,
                                  ca[0] ? ca : NULL,
                                  o->plan && o->plan->mqtts, o->plan ? o->plan->tls_fragment : 0,
                                  o->plan ? o->plan->tls_heap : 0,
                                  o->plan && o->plan->coap ? coap : NULL,
                                  o->plan && o->plan->coap_dl, o->cut && o->cut[0] ? o->cut : NULL,
                                  elf[0] ? elf : NULL, o->nic };
    struct supervisor sv;
    if (supervisor_init(&sv, &so, err, sizeof(err)) != 0 ||
        supervisor_boot(&sv, err, sizeof(err)) != 0) {
        netfault_stop(&nf);
        cloudref_stop(&cr);
        evlog_close();
        return set(res, V_ERROR, "%s", err);
    }

    void (*old_int)(int) = signal(SIGINT, on_int);
    struct job_status js;
    memset(&js, 0, sizeof(js));
    enum verdict v = V_PASS;
    int done = 0;
    double deadline = now_s() + (o->timeout_s > 0 ? o->timeout_s : 60);
    int fail_clean = o->plan && o->plan->expect == PLAN_EXPECT_FAIL_CLEAN;
    int pushes_seen = 0, failed_boots = 0;
    double failed_at = 0;
    double pushed_at = 0, next_finish_look = 0, loop_t0 = now_s();
    double next_health = 0, next_status = 0;
    while (!done) {
        struct boot_end be;
        if (g_interrupted) {
            v = set(res, V_ERROR, "interrupted");
            break;
        }
        if (o->until_fault && evlog_fault_count() > 0) {
            evlog_emit("run", "run.stopped", "\"reason\":\"the first fault fired (--until-fault)\"");
            v = set(res, V_SKIP, "stopped at the first fault (--until-fault): the flash and the event "
                    "log are as they were then");
            break;
        }
        /* the shared cloud is asked over its API: less often */
        if (!joined || now_s() >= next_health) {
            if (cloudref_health(&cr, err, sizeof(err)) != 0) {
                v = set(res, V_ERROR, "harness: %s", err);
                break;
            }
            next_health = now_s() + 0.25;
        }
        if (!joined || now_s() >= next_status) {
            next_status = now_s() + 0.04;
            if (cloudref_job_status(&cr, job, &js) != 0 && joined) {
                v = set(res, V_ERROR, "harness: the shared cloud does not answer for job %d", job);
                break;
            }
        }
        if (js.state == JOB_FAILED && fail_clean && js.last_step != -1 && js.last_step > -1000) {
            /* A device that failed a download or a check reboots (G1: after
             * its pause) and must come back on its old image: wait for that
             * reboot, so the last boot's account and the next inform are in
             * the log. A refused push (step -1) means no reboot. */
            if (failed_at == 0) {
                failed_at = now_s();
                failed_boots = sv.boots;
            }
            if (sv.boots > failed_boots || now_s() > failed_at + REBOOT_WAIT_S +
                                                        (double)o->reboot_delay_ms / 1000.0) {
                msleep(300);
                break;
            }
        } else if (js.state == JOB_SUCCEEDED || js.state == JOB_FAILED) {
            /* Let the device settle on what it just reported, then power it off. */
            msleep(100);
            break;
        }
        if (js.pushes != pushes_seen) {
            pushes_seen = js.pushes;
            pushed_at = now_s();
        }
        if (fail_clean && js.state == JOB_PUSHED && pushes_seen > 0 &&
            now_s() - pushed_at > SETTLE_S) {
            /* A push the device drops without a word (G1 with a push it cannot
             * parse): nothing more will come of it. */
            evlog_emit("run", "run.settled", "\"reason\":\"push %d unanswered for %d s\"",
                       pushes_seen, SETTLE_S);
            break;
        }
        if (fail_clean && js.state == JOB_WAITING && js.pushes == 0 &&
            now_s() - loop_t0 > SETTLE_S + (double)o->reboot_delay_ms / 1000.0) {
            /* The device never reached the cloud (it refused the cloud's
             * certificate, say): no push can be made, and none will. */
            evlog_emit("run", "run.settled", "\"reason\":\"the device did not reach the cloud in "
                       "%d s\"", SETTLE_S);
            break;
        }
        if (supervisor_poll(&sv, &be)) {
            evlog_emit("supervisor", "device.exit", "\"boot\":%d,\"status\":\"%s\",\"code\":%d,\"signal\":%d",
                       sv.boots, be.code >= 0 ? dut_exit_name(be.code) : "signal", be.code,
                       be.signal);
            cloudref_device_offline(&cr);
            if (be.code == DUT_EXIT_BRICKED) {
                v = set(res, V_FAIL, "device bricked: no valid image to boot (boot %d)", sv.boots);
                break;
            }
            /* A requested power cut ends a boot as a reboot does. */
            if (be.code != DUT_EXIT_REBOOT && be.code != DUT_EXIT_CRASH &&
                !(be.code == DUT_EXIT_CUT && o->cut && o->cut[0])) {
                v = set(res, V_ERROR, "device process ended with %s (code %d, signal %d)",
                        be.code >= 0 ? dut_exit_name(be.code) : "a signal", be.code, be.signal);
                break;
            }
            if (sv.boots >= MAX_BOOTS) {
                v = set(res, V_FAIL, "boot loop: %d boots without a verdict", sv.boots);
                break;
            }
            if (supervisor_boot(&sv, err, sizeof(err)) != 0) {
                v = set(res, V_ERROR, "%s", err);
                break;
            }
        }
        if (o->plan && o->plan->inform_within_ms &&
            (js.state == JOB_PUSHED || js.state == JOB_IN_PROGRESS) &&
            now_s() >= next_finish_look) {
            /* A device that never restarts after the hand-off leaves the job
             * open: the plan's deadline ends the run (spec §12 #15). */
            int booted;
            double w = finish_waiting_ms(res->events, target, &booted);
            next_finish_look = now_s() + 0.25;
            if (w > o->plan->inform_within_ms) {
                v = set(res, V_FAIL, "no inform of %s within the plan's %u ms of set_boot FINISH "
                        "(%.0f ms so far): %s (no timely reboot, spec §12 #15)", target,
                        o->plan->inform_within_ms, w, booted ? "the device restarted but did "
                        "not report the new version" : "the device has not restarted since");
                break;
            }
        }
        if (now_s() > deadline) {
            v = set(res, V_FAIL, "no verdict within %d s (job %s)", o->timeout_s > 0 ? o->timeout_s : 60,
                    cloud_job_state_name(js.state));
            break;
        }
        msleep(10);
    }
    signal(SIGINT, old_int);
    supervisor_stop(&sv);
    netfault_stop(&nf);
    cloudref_stop(&cr);
    if (v == V_PASS)
        v = judge(c, &b, flash, &js, base, target, o->plan, v2img, o->cut && o->cut[0], whole, res);
    int stopped = v == V_SKIP && o->until_fault;
    if (v != V_ERROR && !stopped && !whole && res->nchecks < RUN_CHECKS_MAX) {
        /* spec §12 #10: the settings and untouched partitions survived; a
         * check of its own (settings-kept), after the others (not planted in a
         * whole firmware's flash). */
        int lost = sentinel_check(flash, &b, o->seed, err, sizeof(err));
        struct run_check *k = &res->checks[res->nchecks++];
        char d[sizeof(k->detail) * 6];
        snprintf(k->id, sizeof(k->id), "settings-kept");
        k->verdict = lost < 0 ? V_ERROR : lost ? V_FAIL : V_PASS;
        snprintf(k->detail, sizeof(k->detail), "%s", lost ? err : "Wi-Fi settings in the KV store and "
                 "the pattern over untouched partitions are as planted");
        evlog_emit("run", "check", "\"id\":\"%s\",\"verdict\":\"%s\",\"detail\":\"%s\"", k->id,
                   verdict_name(k->verdict), otahil_json_escape(d, sizeof(d), k->detail));
        if (v == V_PASS && lost)
            v = set(res, lost < 0 ? V_ERROR : V_FAIL, "%s", err);
    }
    res->verdict = v;
    res->seconds = now_s() - t0;
    if (o->plan) {
        char ep[PLAN_NAME_MAX * 6];
        evlog_emit("run", "run.verdict", "\"case\":\"%s\",\"verdict\":\"%s\",\"plan\":\"%s\","
                   "\"plan_expect\":\"%s\"", c->name, verdict_name(v),
                   otahil_json_escape(ep, sizeof(ep), o->plan->name),
                   plan_expect_name(o->plan->expect));
    } else {
        evlog_emit("run", "run.verdict", "\"case\":\"%s\",\"verdict\":\"%s\"", c->name,
                   verdict_name(v));
    }
    evlog_close();
    return v;
}
