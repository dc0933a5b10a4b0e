/*
 * cmd_certify.c - `otahil certify`: the catalogue (catalogue.h) against one
 * port, one profile and one board, with the report a vendor hands on
 * (report.h), and `otahil catalogue`.
 *
 * Every case that runs (a built-in case, a plan, a sweep) is a unit; a
 * CAT_CHECK case reads its verdict from its base unit's checks. Units run
 * in forked children, --jobs at a time, longest first, all against one
 * cloud: an `otahil cloud` process started first (cloudref.h), which each
 * run's device joins as a tenant with its own name, event log and cloud
 * faults, so that a case's verdict does not depend on what another case does
 * at the same moment. A plan whose fault is the cloud itself (a broker
 * restart, a bad certificate) gets a cloud of its own. Results come back
 * through shared memory; a child that dies without reporting is ERROR.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conformance/catalogue.h"
#include "conformance/cloudref.h"
#include "conformance/inifile.h"
#include "conformance/commands.h"
#include "conformance/common.h"
#include "conformance/plan.h"
#include "conformance/portbuild.h"
#include "conformance/profile.h"
#include "conformance/report.h"
#include "conformance/run.h"
#include "conformance/sweep.h"
#include "conformance/sweep_qemu.h"
#include "mock_cloud/broker.h"
#include "sim/flash/flashsim.h"
#include "sim/util/defaults.h"
#include "sim/util/evlog.h"

#define CERT_REBOOT_DELAY_MS 300
#define SWEEP_IMAGE_SIZE (64 * 1024)
#define QEMU_DEFAULT_BOARD "qemu-mps2-an385" /* --target qemu without --board */

struct unit {
    const struct cat_case *c;  /* the case that runs (never CAT_CHECK) */
    int    selected;           /* reported (else only run for a CAT_CHECK that reads it) */
    int    skip;               /* not run: reason in res.reason */
    int    norun;              /* not run for the harness's own failure: ERROR, reason in res */
    const struct cat_transport *tr; /* a transport matrix run over this transport; NULL: the
                                     * case as catalogued */
    unsigned needs;            /* CAP_* the run needs */
    int    slow;
    double cost;               /* scheduling estimate, seconds */
    pid_t  pid;
    char   dir[2048];          /* runs/<ID> under the output folder */
};

struct certify_opts {
    struct run_opts run;
    const char *out;
    const char *only;
    const char *profile_path;
    const char *target;
    const char *port_desc;     /* as printed: "reference", a name, the sources */
    const char *fw_port;       /* firmware object for sweeps: a name or a .so path (on QEMU,
                                * whose sweeps are runs, the run's port); NULL: none */
    int   jobs;
    int   quick;
    int   shard_i, shard_n;
    int   explicit_board;
    unsigned stride;           /* --target qemu: the power-cut sweeps' stride; 0: chosen */
    unsigned caps;             /* the profile's claim, with the board's bootloader */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: otahil certify [--port P [P ...]] [--profile FILE] [--board B]\n"
            "                      [--target native|qemu [--net relay|user]] [--stride N]\n"
            "                      [--out DIR] [--jobs N] [--shard I/N] [--seed S] [--only ID,...]\n"
            "                      [--quick] [--reboot-delay-ms N] [--timeout S]\n"
            "                      [--mqtt-port P] [--http-port P]\n"
            "       otahil certify --list\n"
            "Runs the conformance catalogue (docs/conformance.md) against a port and writes into\n"
            "DIR (default out/certify/BOARD): report.html, junit.xml, results.json, summary.txt,\n"
            "runs/<ID>/ (each run's files) and repro/<ID>/ for every FAIL and ERROR.\n"
            "  --port P ...   the port: FILE.c sources (built against include/ with the system\n"
            "                 compiler, or with arm-none-eabi-gcc for --target qemu; board-support\n"
            "                 stubs may be added as more files), a known-bad variant NAME\n"
            "                 (fixtures/ports/NAME.patch), or a device binary path (on QEMU: a\n"
            "                 bootloader program NAME-boot.elf beside NAME-app-v1.bin, -v2.bin);\n"
            "                 default: the reference port\n"
            "  --profile F    what the port claims (docs/conformance.md, \"Port profiles\"); cases\n"
            "                 outside the claim are SKIP with the reason; default: the reference\n"
            "                 port's boards/ports/reference/profile.ini\n"
            "  --board B      default: the profile's board (" QEMU_DEFAULT_BOARD " with --target qemu)\n"
            "  --target qemu  each boot is the port's firmware in qemu-system-arm (docs/qemu.md):\n"
            "                 the reference port, a known-bad variant or the port's sources (its\n"
            "                 bootloader and application programs built into DIR/port); cases the\n"
            "                 firmware cannot run (a TLS heap budget) are SKIP with the reason; TLS\n"
            "                 is offloaded to the relay; each power-cut sweep is a run per cut\n"
            "                 point, every --stride-th op (default: at most 40 points a sweep)\n"
            "  --net user     with --target qemu: the firmware brings its own IP stack on the\n"
            "                 board's LAN9118 (QEMU -nic user) and reaches the cloud at 10.0.2.2;\n"
            "                 cases that need TLS or CoAP are SKIP (default relay: the mailbox)\n"
            "  --shard I/N    run the I-th of N parts of the suite (for CI machines in parallel)\n"
            "  --list         the cases this --only and --shard would report, and nothing run\n"
            "  --only IDS     only these cases (comma-separated IDs, or group prefixes: OTA-DL)\n"
            "  --quick        leave out the slow cases (reported SKIP)\n"
            "  --jobs N       cases at a time (default 2)\n"
            "  --mqtt-port P, --http-port P  the shared cloud's ports on 127.0.0.1 (default:\n"
            "                 free ones), for a device whose firmware names them\n"
            "The broker is mosquitto along PATH or /usr/sbin, or $OTAHIL_MOSQUITTO.\n"
            "Verdicts: PASS, FAIL, SKIP, ERROR (the harness's own failure, never the port's).\n"
            "Exit 0 all PASS or SKIP, 1 any FAIL, 2 any ERROR or bad usage.\n");
}

/* ---- selection ------------------------------------------------------------ */

static int id_selected(const char *id, const char *only);

/* In this run: named by --only (or no --only) and in this shard. Shards split
 * by the case that runs, so a check goes with its run. */
static int case_selected(const struct cat_case *c, const struct certify_opts *co)
{
    if (!id_selected(c->id, co->only))
        return 0;
    return co->shard_n <= 1 || (int)(cat_base(c) - cat_cases) % co->shard_n == co->shard_i - 1;
}

static int id_selected(const char *id, const char *only)
{
    if (!only)
        return 1;
    char buf[2048];
    snprintf(buf, sizeof(buf), "%s", only);
    for (char *save = NULL, *w = strtok_r(buf, ", ", &save); w; w = strtok_r(NULL, ", ", &save)) {
        size_t l = strlen(w);
        if (!strcmp(id, w) || (!strncmp(id, w, l) && id[l] == '-' && !cat_find(w)))
            return 1;
    }
    return 0;
}

/* Every word of --only names a case or a group. 0, or -1 with the word. */
static int check_only(const char *only, char *bad, size_t n)
{
    char buf[2048];
    snprintf(buf, sizeof(buf), "%s", only);
    for (char *save = NULL, *w = strtok_r(buf, ", ", &save); w; w = strtok_r(NULL, ", ", &save)) {
        int ok = cat_find(w) != NULL;
        for (int g = 0; !ok && g < cat_ngroups; g++)
            ok = !strcmp(cat_groups[g].id, w);
        if (!ok) {
            snprintf(bad, n, "%s", w);
            return -1;
        }
    }
    return 0;
}

static int unit_of(const struct unit *u, int nu, const struct cat_case *c,
                   const struct cat_transport *tr)
{
    for (int i = 0; i < nu; i++)
        if (u[i].c == c && u[i].tr == tr)
            return i;
    return -1;
}

/* The effective capabilities: the profile's, with the bootloader the board has. */
static unsigned effective_caps(const struct profile *p, const struct board *b, char *err, size_t n)
{
    unsigned boot = !strcmp(b->bootloader, "pingpong") ? CAP_BOOT_PP : CAP_BOOT_COPY;
    if (!(p->caps & boot)) {
        snprintf(err, n, "%s: the profile claims bootloader '%s', but board %s has a %s bootloader",
                 p->path, p->bootloader, b->name, b->bootloader);
        return 0;
    }
    return (p->caps & ~(CAP_BOOT_COPY | CAP_BOOT_PP)) | boot;
}

static void skip_reason(unsigned missing, const struct board *b, char *out, size_t n)
{
    char caps[256];
    if (missing & (CAP_BOOT_PP | CAP_BOOT_COPY))
        snprintf(out, n, "needs a %s bootloader; board %s has a %s bootloader",
                 missing & CAP_BOOT_PP ? "pingpong" : "copy", b->name, b->bootloader);
    else
        snprintf(out, n, "outside the profile's claim: needs %s",
                 profile_caps_str(missing, caps, sizeof(caps)));
}

/* ---- running one unit (in a child) ---------------------------------------- */

/* The unit's device name: one per run, since runs share the cloud
 * ("dut-OTA-DL-001", "dut-OTA-DL-001.coap-coap"). */
static const char *unit_dn(const struct unit *u, char *out, size_t n)
{
    const char *b = strrchr(u->dir, '/') ? strrchr(u->dir, '/') + 1 : u->dir;
    snprintf(out, n, "dut-%s", b);
    for (char *p = out; *p; p++)
        if (*p == '@')
            *p = '.';
        else if (*p == '+')
            *p = '-';
    return out;
}

/* A power-cut sweep on the QEMU target: a run per cut point (sweep_qemu.h). */
static void run_unit_qemu_sweep(const struct unit *u, const struct certify_opts *co,
                                struct run_result *r)
{
    char path[4400], err[1024], dn[40];
    struct qsweep_opts qo = { co->run, u->dir, u->c->what, co->stride, 0 };
    qo.run.dn = unit_dn(u, dn, sizeof(dn));
    struct qsweep_summary ss;
    qo.run.quiet = 1;
    snprintf(path, sizeof(path), "%s/sweep.txt", u->dir);
    r->verdict = V_ERROR;
    if (mkdir_p(u->dir) != 0) {
        snprintf(r->reason, sizeof(r->reason), "%s: %s", u->dir, strerror(errno));
        return;
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(r->reason, sizeof(r->reason), "%s: %s", path, strerror(errno));
        return;
    }
    err[0] = '\0';
    int rc = qsweep_run(&qo, &ss, f, err, sizeof(err));
    fclose(f);
    r->verdict = rc == 0 ? V_PASS : rc == 1 ? V_FAIL : rc == 3 ? V_SKIP : V_ERROR;
    if (rc == 3)
        snprintf(r->reason, sizeof(r->reason), "%s", err);
    else if (rc == 1)
        snprintf(r->reason, sizeof(r->reason), "%u of %u cut points failed (QEMU, ops %llu..%llu, "
                 "stride %u); first: %s", ss.failures, ss.points, ss.first, ss.last, ss.stride,
                 ss.first_failure);
    else if (rc != 0)
        snprintf(r->reason, sizeof(r->reason), "sweep on QEMU: %s", err[0] ? err : "harness error");
    else
        snprintf(r->reason, sizeof(r->reason), "%u cut points on QEMU (flash ops %llu..%llu, every "
                 "%u), all invariants held; %u not reached", ss.points, ss.first, ss.last, ss.stride,
                 ss.not_reached);
    r->seconds = ss.seconds;
    snprintf(r->cloud, sizeof(r->cloud), "%s", co->run.cloud ? "shared" : "own");
}

static void run_unit(const struct unit *u, const struct certify_opts *co, struct run_result *r)
{
    const struct cat_case *c = u->c;
    struct run_opts ro = co->run;
    char path[4400], err[1024], dn[40];
    ro.out = u->dir;
    ro.quiet = 1;
    ro.dn = unit_dn(u, dn, sizeof(dn));
    memset(r, 0, sizeof(*r));
    if (c->kind == CAT_SWEEP && run_target_qemu(co->target) == 1) {
        run_unit_qemu_sweep(u, co, r);
        return;
    }
    if (c->kind == CAT_SWEEP) {
        double t0 = now_s();
        /* in process, no network: r->cloud stays "" */
        struct sweep_opts so;
        struct sweep_summary ss;
        sweep_defaults(&so);
        so.board = co->run.board;
        so.port = co->fw_port;
        so.mode = flashsim_fault_parse(c->what);
        so.seed = co->run.seed;
        so.jobs = 1;
        so.quiet = 1;
        so.image_size = SWEEP_IMAGE_SIZE;
        so.no_resume = !(co->caps & CAP_RESUME);
        snprintf(path, sizeof(path), "%s/sweep.txt", u->dir);
        if (mkdir_p(u->dir) != 0) {
            r->verdict = V_ERROR;
            snprintf(r->reason, sizeof(r->reason), "%s: %s", u->dir, strerror(errno));
            return;
        }
        FILE *f = fopen(path, "w");
        if (!f) {
            r->verdict = V_ERROR;
            snprintf(r->reason, sizeof(r->reason), "%s: %s", path, strerror(errno));
            return;
        }
        memset(&ss, 0, sizeof(ss));
        err[0] = '\0';
        int rc = sweep_run(&so, &ss, f, err, sizeof(err));
        fprintf(f, "%u points of %u ops, %u failed, %.1f s\n", ss.points, ss.ops, ss.failures,
                ss.seconds);
        fclose(f);
        r->verdict = rc == 0 ? V_PASS : rc == 1 ? V_FAIL : V_ERROR;
        if (rc == 1)
            snprintf(r->reason, sizeof(r->reason), "%u of %u cut points failed; first: %s",
                     ss.failures, ss.points, ss.first_failure);
        else if (rc != 0)
            snprintf(r->reason, sizeof(r->reason), "sweep: %s", err[0] ? err : "harness error");
        else
            snprintf(r->reason, sizeof(r->reason), "%u cut points of %u flash ops, all invariants held",
                     ss.points, ss.ops);
        r->seconds = now_s() - t0;
        return;
    }
    struct fault_plan *plan = NULL;
    if (c->kind == CAT_PLAN) {
        char dir[4096];
        otahil_faults_dir(dir, sizeof(dir));
        snprintf(path, sizeof(path), "%s/%s.plan", dir, c->what);
        plan = calloc(1, sizeof(*plan));
        if (!plan || plan_load(path, plan, err, sizeof(err)) != 0) {
            r->verdict = V_ERROR;
            snprintf(r->reason, sizeof(r->reason), "%s", plan ? err : "out of memory");
            free(plan);
            return;
        }
        if (plan->has_seed)
            ro.seed = plan->seed;
        ro.plan = plan;
    }
    if (u->tr) { /* a matrix run: the case over another transport */
        char kv[64];
        if (!plan && (plan = calloc(1, sizeof(*plan))) != NULL)
            snprintf(plan->name, sizeof(plan->name), "options");
        snprintf(kv, sizeof(kv), "transport=%s", u->tr->plan);
        if (!plan || plan_add_cli(plan, "plan", kv, err, sizeof(err)) != 0) {
            r->verdict = V_ERROR;
            snprintf(r->reason, sizeof(r->reason), "transport %s: %s", u->tr->name,
                     plan ? err : "out of memory");
            if (plan)
                plan_free(plan);
            free(plan);
            return;
        }
        ro.plan = plan;
    }
    run_case(c->kind == CAT_PLAN ? "update" : c->what, &ro, r);
    plan_free(plan);
    free(plan);
}

/* ---- repro folders ---------------------------------------------------------- */

/* OUT/repro/<ID>/: repro.ini, the plan, the flash before and after, the event
 * log and the command. */
static void write_repro(const struct cat_case *c, const struct unit *u, const struct certify_opts *co,
                        const struct run_result *r, const char *out, char *rel, size_t reln)
{
    char dir[4400], p[4600], q[4600], err[512], text[8192], plan[4400] = "";
    const struct cat_case *base = u->c;
    char name[96];
    snprintf(name, sizeof(name), "%s%s%s", c->id, u->tr ? "@" : "", u->tr ? u->tr->name : "");
    snprintf(dir, sizeof(dir), "%s/repro/%s", out, name);
    if (mkdir_p(dir) != 0)
        return;
    if (base->kind == CAT_PLAN) {
        char fd[4096];
        otahil_faults_dir(fd, sizeof(fd));
        snprintf(p, sizeof(p), "%s/%s.plan", fd, base->what);
        snprintf(q, sizeof(q), "%s/%s.plan", dir, base->what);
        if (copy_file_atomic(p, q, err, sizeof(err)) == 0)
            snprintf(plan, sizeof(plan), "%s.plan", base->what);
    }
    static const char *const files[][2] = { { "flash-before.bin", "flash-before.bin" },
                                            { "flash.bin", "flash-after.bin" },
                                            { "events.jsonl", "events.jsonl" },
                                            { "sweep.txt", "sweep.txt" },
                                            { "fw-target.bin", "fw-target.bin" } };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", u->dir, files[i][0]);
        snprintf(q, sizeof(q), "%s/%s", dir, files[i][1]);
        if (access(p, R_OK) == 0)
            copy_file_atomic(p, q, err, sizeof(err));
    }
    snprintf(text, sizeof(text),
             "; repro.ini - one certification case, as it ran (otahil repro THIS_FOLDER)\n"
             "[repro]\nid = %s\nkind = %s\nwhat = %s\n%s%s%sseed = %llu\nboard = %s\nport = %s\n"
             "target = %s\nfw_port = %s\nreboot_delay_ms = %ld\ntimeout_s = %d\nverdict = %s\n"
             "reason = %.150s\n",
             c->id, cat_kind_name(base->kind), base->what, plan[0] ? "plan = " : "", plan,
             plan[0] ? "\n" : "", (unsigned long long)co->run.seed,
             co->run.board, co->run.port ? co->run.port : "reference", co->target,
             co->fw_port ? co->fw_port : "", co->run.reboot_delay_ms, co->run.timeout_s, verdict_name(r->verdict), r->reason);
    if (c->kind == CAT_CHECK) {
        size_t l = strlen(text);
        snprintf(text + l, sizeof(text) - l, "check = %s\n", c->check);
    }
    if (u->tr) {
        size_t l = strlen(text);
        snprintf(text + l, sizeof(text) - l, "transport = %s\n", u->tr->plan);
    }
    {
        char dn[40];
        size_t l = strlen(text);
        snprintf(text + l, sizeof(text) - l, "dn = %s\n", unit_dn(u, dn, sizeof(dn)));
    }
    if (co->run.nic) {
        size_t l = strlen(text);
        snprintf(text + l, sizeof(text) - l, "net = user\n");
    }
    snprintf(p, sizeof(p), "%s/repro.ini", dir);
    write_file_atomic(p, text, strlen(text), err, sizeof(err));
    snprintf(text, sizeof(text), "#!/bin/sh\n# Replays %s as it ran in the certification.\n"
             "exec otahil repro \"$(dirname \"$0\")\" \"$@\"\n", c->id);
    snprintf(p, sizeof(p), "%s/command.sh", dir);
    if (write_file_atomic(p, text, strlen(text), err, sizeof(err)) == 0)
        chmod(p, 0755);
    snprintf(rel, reln, "repro/%s", name);
}

/* ---- the command -------------------------------------------------------------- */

static int parse_shard(const char *v, int *i, int *n)
{
    char *end;
    long a = strtol(v, &end, 10);
    if (*end != '/')
        return -1;
    long b = strtol(end + 1, &end, 10);
    if (*end || b < 1 || b > 1000 || a < 1 || a > b)
        return -1;
    *i = (int)a;
    *n = (int)b;
    return 0;
}

static void progress(int done, int total, const char *cur, double t0, int tty)
{
    if (!tty)
        return;
    double el = now_s() - t0;
    double eta = done > 0 ? el / done * (total - done) : 0;
    fprintf(stderr, "\r\033[K[%d/%d] %02d:%02d elapsed, ETA %02d:%02d  %s", done, total,
            (int)el / 60, (int)el % 60, (int)eta / 60, (int)eta % 60, cur ? cur : "");
    fflush(stderr);
}

int cmd_certify(int argc, char **argv)
{
    struct certify_opts co;
    memset(&co, 0, sizeof(co));
    struct run_opts defaults = { OTAHIL_DEFAULT_BOARD, NULL, 1, 0, CERT_REBOOT_DELAY_MS, 60, 1, NULL,
                                 NULL, 0, 0, 0, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL };
    co.run = defaults;
    co.jobs = 2;
    co.target = "native";
    const char *srcs[64];
    int nsrc = 0;
    const char *port_name = NULL;
    char err[2048], outbuf[4096];
    int list = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--list")) {
            list = 1;
        } else if (!strcmp(a, "--quick")) {
            co.quick = 1;
        } else if (!v) {
            fprintf(stderr, "otahil certify: unknown or incomplete option '%s' (otahil certify --help)\n", a);
            return OTAHIL_EXIT_HARNESS;
        } else if (!strcmp(a, "--port")) {
            /* one value, or several source files up to the next option */
            for (; i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0; i++) {
                const char *s = argv[i + 1];
                size_t l = strlen(s);
                if (l > 2 && !strcmp(s + l - 2, ".c")) {
                    if (nsrc >= 64) {
                        fprintf(stderr, "otahil certify: --port: at most 64 source files\n");
                        return OTAHIL_EXIT_HARNESS;
                    }
                    srcs[nsrc++] = s;
                } else if (!port_name && !nsrc) {
                    port_name = s;
                } else {
                    fprintf(stderr, "otahil certify: --port %s: give source files (FILE.c ...), or "
                            "one variant name or device binary\n", s);
                    return OTAHIL_EXIT_HARNESS;
                }
            }
            if (port_name && nsrc) {
                fprintf(stderr, "otahil certify: --port: give source files or one variant name, not both\n");
                return OTAHIL_EXIT_HARNESS;
            }
        } else if (!strcmp(a, "--profile")) { co.profile_path = v; i++; }
        else if (!strcmp(a, "--board")) { co.run.board = v; co.explicit_board = 1; i++; }
        else if (!strcmp(a, "--target")) {
            if (!v || run_target_qemu(v) < 0) {
                fprintf(stderr, "otahil certify: --target '%s': expected native or qemu\n", v ? v : "");
                return OTAHIL_EXIT_HARNESS;
            }
            co.target = v;
            i++;
        } else if (!strcmp(a, "--net")) {
            if (!v || (strcmp(v, "user") && strcmp(v, "relay"))) {
                fprintf(stderr, "otahil certify: --net '%s': expected relay or user\n", v ? v : "");
                return OTAHIL_EXIT_HARNESS;
            }
            co.run.nic = !strcmp(v, "user");
            i++;
        } else if (!strcmp(a, "--stride")) {
            char *end;
            long st = v ? strtol(v, &end, 10) : 0;
            if (!v || *end || st < 1 || st > 1000000) {
                fprintf(stderr, "otahil certify: --stride '%s': expected 1..1000000\n", v ? v : "");
                return OTAHIL_EXIT_HARNESS;
            }
            co.stride = (unsigned)st;
            i++;
        } else if (!strcmp(a, "--out")) { snprintf(outbuf, sizeof(outbuf), "%s", v); co.out = outbuf; i++; }
        else if (!strcmp(a, "--only")) { co.only = v; i++; }
        else if (!strcmp(a, "--seed")) {
            char *end;
            co.run.seed = strtoull(v, &end, 0);
            if (*end || !*v) {
                fprintf(stderr, "otahil certify: --seed '%s': not a number\n", v);
                return OTAHIL_EXIT_HARNESS;
            }
            i++;
        } else if (!strcmp(a, "--jobs")) {
            char *end;
            long j = strtol(v, &end, 10);
            if (*end || j < 1 || j > 64) {
                fprintf(stderr, "otahil certify: --jobs '%s': expected 1..64\n", v);
                return OTAHIL_EXIT_HARNESS;
            }
            co.jobs = (int)j;
            i++;
        } else if (!strcmp(a, "--shard")) {
            if (parse_shard(v, &co.shard_i, &co.shard_n) != 0) {
                fprintf(stderr, "otahil certify: --shard '%s': expected I/N with 1 <= I <= N\n", v);
                return OTAHIL_EXIT_HARNESS;
            }
            i++;
        } else if (!strcmp(a, "--reboot-delay-ms")) { co.run.reboot_delay_ms = atol(v); i++; }
        else if (!strcmp(a, "--timeout")) { co.run.timeout_s = atoi(v); i++; }
        else if (!strcmp(a, "--mqtt-port") || !strcmp(a, "--http-port")) {
            char *end;
            long p = strtol(v, &end, 10);
            if (*end || p < 1 || p > 65535) {
                fprintf(stderr, "otahil certify: %s '%s': expected a TCP port 1..65535\n", a, v);
                return OTAHIL_EXIT_HARNESS;
            }
            *(a[2] == 'm' ? &co.run.mqtt_port : &co.run.http_port) = (int)p;
            i++;
        } else {
            fprintf(stderr, "otahil certify: unknown option '%s' (otahil certify --help)\n", a);
            return OTAHIL_EXIT_HARNESS;
        }
    }
    if (co.only && check_only(co.only, err, sizeof(err)) != 0) {
        fprintf(stderr, "otahil certify: --only: '%s' is not a case ID or group (otahil certify --list)\n", err);
        return OTAHIL_EXIT_HARNESS;
    }
    if (list) { /* the cases this selection and shard would report */
        for (int k = 0; k < cat_ncases; k++)
            if (case_selected(&cat_cases[k], &co))
                printf("%-13s %s\n", cat_cases[k].id, cat_cases[k].title);
        return 0;
    }

    /* profile, board */
    static struct profile prof;
    if (co.profile_path ? profile_load(&prof, co.profile_path, err, sizeof(err))
                        : profile_reference(&prof, err, sizeof(err))) {
        fprintf(stderr, "otahil certify: %s\n", err);
        return OTAHIL_EXIT_HARNESS;
    }
    int qemu = run_target_qemu(co.target) == 1;
    co.run.target = co.target;
    if (!co.explicit_board && qemu)
        co.run.board = QEMU_DEFAULT_BOARD;
    else if (!co.explicit_board && prof.board[0])
        co.run.board = prof.board;
    if (qemu && port_name && strchr(port_name, '/')) {
        size_t pl = strlen(port_name), sl = strlen("-boot.elf");
        if (pl <= sl || strcmp(port_name + pl - sl, "-boot.elf") != 0) {
            fprintf(stderr, "otahil certify: --target qemu: --port %s: a device binary has no QEMU "
                    "build (give the port's sources FILE.c ..., a known-bad variant's name, or a "
                    "bootloader program NAME-boot.elf beside NAME-app-v1.bin, -v2.bin)\n", port_name);
            return OTAHIL_EXIT_HARNESS;
        }
    }
    if (co.run.nic && !qemu) {
        fprintf(stderr, "otahil certify: --net user needs --target qemu\n");
        return OTAHIL_EXIT_HARNESS;
    }
    static struct board board;
    if (board_open(&board, co.run.board, err, sizeof(err)) != 0) {
        fprintf(stderr, "otahil certify: %s\n", err);
        return OTAHIL_EXIT_HARNESS;
    }
    unsigned caps = effective_caps(&prof, &board, err, sizeof(err));
    co.caps = caps;
    if (!caps) {
        fprintf(stderr, "otahil certify: %s\n", err);
        return OTAHIL_EXIT_HARNESS;
    }
    const char *base = co.out;
    if (!base) {
        snprintf(outbuf, sizeof(outbuf), "out/certify/%s", board.name);
        base = outbuf;
    }
    if (mkdir_p(base) != 0) {
        fprintf(stderr, "otahil certify: %s: %s\n", base, strerror(errno));
        return OTAHIL_EXIT_HARNESS;
    }

    /* the port */
    static char dut[4400], fwso[4400], desc[4096];
    co.fw_port = "reference";
    co.port_desc = "reference";
    if (nsrc) {
        char bdir[4400];
        const char *module = co.profile_path && prof.module[0] ? prof.module : NULL;
        snprintf(bdir, sizeof(bdir), "%s/port", base);
        if ((qemu ? portbuild_qemu(srcs, nsrc, module, bdir, dut, sizeof(dut), err, sizeof(err))
                  : portbuild(srcs, nsrc, module, bdir, dut, sizeof(dut), fwso, sizeof(fwso), err,
                              sizeof(err))) != 0) {
            fprintf(stderr, "otahil certify: %s\n", err);
            return OTAHIL_EXIT_HARNESS;
        }
        /* on QEMU the bootloader program names the chain, for the runs and the
         * sweeps' runs alike (run_opts.port) */
        co.run.port = dut;
        co.fw_port = qemu ? dut : fwso;
        size_t l = 0;
        for (int k = 0; k < nsrc; k++)
            l += (size_t)snprintf(desc + l, l < sizeof(desc) ? sizeof(desc) - l : 0, "%s%s",
                                  k ? " " : "", srcs[k]);
        co.port_desc = desc;
    } else if (port_name) {
        co.run.port = port_name;
        co.port_desc = port_name;
        /* a device binary has no object; a QEMU chain's path is run per cut point */
        co.fw_port = strchr(port_name, '/') && !qemu ? NULL : port_name;
    }
    /* the harness's own failures found before anything runs: every case that needs the
     * cloud is ERROR with the reason, and the reports are written all the same */
    char mosq[4096], noharness[512] = "";
    if (broker_find(NULL, mosq, sizeof(mosq)) != 0)
        snprintf(noharness, sizeof(noharness), "no mosquitto broker binary (%s; "
                 "scripts/install-deps.sh installs it): not run",
                 getenv("OTAHIL_MOSQUITTO") && getenv("OTAHIL_MOSQUITTO")[0]
                     ? "$OTAHIL_MOSQUITTO names none" : "none along PATH or in /usr/sbin");
    /* One cloud for the whole certification (docs/conformance.md, "One cloud"):
     * every run's device joins it as a tenant, unless its fault is the cloud
     * itself. The fixed ports, if any, are its own. */
    static struct shared_cloud shared;
    if (!noharness[0]) {
        char cdir[4200];
        snprintf(cdir, sizeof(cdir), "%s/cloud", base);
        if (shared_cloud_spawn(cdir, co.run.seed, co.run.mqtt_port, co.run.http_port, &shared, err,
                               sizeof(err)) != 0) {
            snprintf(noharness, sizeof(noharness), "%s", err);
        } else {
            co.run.cloud = &shared;
            co.run.mqtt_port = co.run.http_port = 0;
        }
    }

    /* units: every case that runs, in catalogue order */
    int maxu = cat_ncases * (1 + cat_ntransports); /* room for the matrix rows */
    struct unit *u = calloc((size_t)maxu, sizeof(*u));
    struct run_result *res = mmap(NULL, sizeof(*res) * (size_t)maxu, PROT_READ | PROT_WRITE,
                                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    struct report_case *rc = calloc((size_t)maxu, sizeof(*rc));
    if (!u || res == MAP_FAILED || !rc) {
        fprintf(stderr, "otahil certify: out of memory\n");
        return OTAHIL_EXIT_HARNESS;
    }
    int nu = 0, ncase = 0;
    int *sel = calloc((size_t)maxu, sizeof(int));
    const struct cat_transport **selt = calloc((size_t)maxu, sizeof(*selt));
    if (!sel || !selt) {
        fprintf(stderr, "otahil certify: out of memory\n");
        return OTAHIL_EXIT_HARNESS;
    }
    for (int k = 0; k < cat_ncases; k++) {
        const struct cat_case *c = &cat_cases[k];
        if (!case_selected(c, &co))
            continue;
        const struct cat_case *b = cat_base(c);
        for (int t = -1; t < (c == b && cat_in_matrix(c->id) ? cat_ntransports : 0); t++) {
            const struct cat_transport *tr = t < 0 ? NULL : &cat_transports[t];
            sel[ncase] = k;
            selt[ncase++] = tr;
            int ui = unit_of(u, nu, b, tr);
            if (ui < 0) {
                ui = nu++;
                u[ui].c = b;
                u[ui].tr = tr;
                u[ui].needs = tr ? (b->needs & ~CAP_MQTT_HTTP) | tr->cap : b->needs;
                snprintf(u[ui].dir, sizeof(u[ui].dir), "%s/runs/%s%s%s", base, b->id, tr ? "@" : "",
                         tr ? tr->name : "");
            }
            if (c == b)
                u[ui].selected = 1;
        }
    }
    /* skips and costs */
    char fdir[4096];
    otahil_faults_dir(fdir, sizeof(fdir));
    for (int i = 0; i < nu; i++) {
        const struct cat_case *c = u[i].c;
        unsigned missing = u[i].needs & ~caps;
        char noqemu[256] = "";
        res[i].verdict = V_ERROR;
        snprintf(res[i].reason, sizeof(res[i].reason), "the run did not report (it crashed)");
        u[i].cost = c->kind == CAT_SWEEP ? 3 : 1;
        if (c->kind == CAT_PLAN) {
            char path[4400];
            struct fault_plan *p = calloc(1, sizeof(*p));
            snprintf(path, sizeof(path), "%s/%s.plan", fdir, c->what);
            if (p && plan_load(path, p, err, sizeof(err)) == 0) {
                u[i].slow = p->slow;
                u[i].cost = p->slow ? 40 : p->nproxy_http + p->nproxy_mqtt > 0 ? 4 : 1.5;
                for (int h = 0; h < p->nhttp; h++)
                    if (p->http[h].stall_ms)
                        u[i].cost += p->http[h].stall_ms / 1000.0;
                /* what the QEMU firmware has no code for (docs/qemu.md) */
                if (co.run.nic && run_nic_refusal(p))
                    snprintf(noqemu, sizeof(noqemu), "not with --net user: %s (plan %s)",
                             run_nic_refusal(p), c->what);
                else if (qemu && p->tls_heap)
                    snprintf(noqemu, sizeof(noqemu), "not on the QEMU target: TLS runs in its relay, "
                             "as on an AT-command module, so the firmware has no TLS heap to budget "
                             "(plan %s: tls_heap = %u)", c->what, p->tls_heap);
            }
            plan_free(p);
            free(p);
        }
        if (qemu && c->kind == CAT_SWEEP)
            u[i].cost = 60;
        if (co.run.nic && (u[i].needs & (CAP_MQTT_HTTPS | CAP_COAP_HTTP | CAP_COAP_COAP)))
            snprintf(noqemu, sizeof(noqemu), "not with --net user: the firmware's own IP stack "
                     "has MQTT and HTTP only (the case needs %s)",
                     u[i].needs & CAP_MQTT_HTTPS ? "TLS" : "CoAP");
        if (missing) {
            u[i].skip = 1;
            res[i].verdict = V_SKIP;
            skip_reason(missing, &board, res[i].reason, sizeof(res[i].reason));
        } else if (noqemu[0]) {
            u[i].skip = 1;
            res[i].verdict = V_SKIP;
            snprintf(res[i].reason, sizeof(res[i].reason), "%s", noqemu);
        } else if (c->kind == CAT_SWEEP && !co.fw_port) {
            u[i].skip = 1;
            res[i].verdict = V_SKIP;
            snprintf(res[i].reason, sizeof(res[i].reason), "a device binary has no firmware object "
                     "for in-process sweeps: certify its sources with --port FILE.c");
        } else if (co.quick && u[i].slow) {
            u[i].skip = 1;
            res[i].verdict = V_SKIP;
            snprintf(res[i].reason, sizeof(res[i].reason), "slow: left out by --quick");
        } else if (noharness[0] && c->kind != CAT_SWEEP) {
            u[i].norun = 1;
            snprintf(res[i].reason, sizeof(res[i].reason), "%s", noharness);
        }
    }
    int *order = calloc((size_t)nu + 1, sizeof(int));
    int nrun = 0;
    for (int i = 0; i < nu; i++)
        if (!u[i].skip && !u[i].norun)
            order[nrun++] = i;
    for (int i = 1; i < nrun; i++) /* longest first; stable */
        for (int j = i; j > 0 && u[order[j - 1]].cost < u[order[j]].cost; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }

    char caps_s[256];
    printf("otahil certify: port %s\n  profile %s (%s, %s bootloader; claims %s)\n  board %s, target %s%s, "
           "seed %llu; %d cases, %d runs, %d at a time%s%s\n",
           co.port_desc, prof.name, prof.generation, board.bootloader,
           profile_caps_str(caps, caps_s, sizeof(caps_s)), board.name, co.target,
           co.run.nic ? " (net user)" : "",
           (unsigned long long)co.run.seed, ncase, nrun, co.jobs, co.quick ? ", quick" : "",
           co.shard_n > 1 ? ", a shard" : "");
    if (shared.api_port)
        printf("  cloud: one cloud for the certification in %s (pid %d; broker pid %d, MQTT %d, "
               "HTTP %d, HTTPS %d, CoAP %d)\n", shared.dir, shared.pid, shared.broker_pid, shared.mqtt_port,
               shared.api_port, shared.https_port, shared.coap_port);
    fflush(stdout);

    int tty = isatty(STDERR_FILENO);
    double t0 = now_s();
    time_t started = time(NULL);
    int next = 0, running = 0, done = 0;
    while (done < nrun) {
        while (running < co.jobs && next < nrun) {
            int i = order[next++];
            fflush(NULL);
            pid_t c = fork();
            if (c == 0) {
                struct run_result r;
                run_unit(&u[i], &co, &r);
                res[i] = r;
                _exit(0);
            }
            if (c < 0) {
                snprintf(res[i].reason, sizeof(res[i].reason), "fork: %s", strerror(errno));
                done++;
            } else {
                u[i].pid = c;
                running++;
            }
            progress(done, nrun, u[i].c->id, t0, tty);
        }
        int st;
        pid_t w = wait(&st);
        if (w < 0)
            break;
        for (int i = 0; i < nu; i++) {
            if (u[i].pid != w)
                continue;
            u[i].pid = 0;
            running--;
            done++;
            progress(done, nrun, u[i].c->id, t0, tty);
        }
    }
    if (tty)
        fprintf(stderr, "\r\033[K");
    shared_cloud_stop(&shared);

    /* the report's cases, in catalogue order */
    int fails = 0, errors = 0;
    for (int k = 0; k < ncase; k++) {
        const struct cat_case *c = &cat_cases[sel[k]];
        const struct cat_case *b = cat_base(c);
        int ui = unit_of(u, nu, b, selt[k]);
        const struct run_result *r = &res[ui];
        struct report_case *x = &rc[k];
        char grp[32];
        x->id = c->id;
        x->group = NULL;
        for (int g = 0; g < cat_ngroups; g++)
            if (!strcmp(cat_groups[g].id, cat_group_of(c->id, grp, sizeof(grp))))
                x->group = cat_groups[g].id;
        x->title = c->title;
        x->spec = c->spec;
        x->transport = selt[k] ? selt[k]->name : c->needs & CAP_MQTT_HTTPS ? "mqtt+https"
                     : c->needs & CAP_COAP_COAP ? "coap+coap" : c->needs & CAP_COAP_HTTP ? "coap+http"
                     : "mqtt+http";
        x->matrix = selt[k] != NULL;
        snprintf(x->cloud, sizeof(x->cloud), "%s", u[ui].skip || u[ui].norun ? "" : r->cloud);
        x->seconds = c == b ? r->seconds : 0;
        x->verdict = r->verdict;
        snprintf(x->reason, sizeof(x->reason), "%s", r->verdict == V_PASS && c->kind != CAT_SWEEP
                                                         ? "" : r->reason);
        if (c->kind == CAT_CHECK && !u[ui].skip && r->verdict != V_ERROR) {
            const struct run_check *found = NULL;
            for (int j = 0; j < r->nchecks; j++)
                if (!strcmp(r->checks[j].id, c->check))
                    found = &r->checks[j];
            unsigned missing = c->needs & ~caps;
            if (missing) {
                x->verdict = V_SKIP;
                skip_reason(missing, &board, x->reason, sizeof(x->reason));
            } else if (!found) {
                x->verdict = V_SKIP;
                snprintf(x->reason, sizeof(x->reason), "the run of %s gave check %s nothing to look at",
                         b->id, c->check);
            } else {
                x->verdict = found->verdict == V_SKIP && c->vacuous ? V_PASS : found->verdict;
                snprintf(x->reason, sizeof(x->reason), "%s", found->verdict == V_PASS ? "" : found->detail);
                x->checks[0] = *found;
                x->nchecks = 1;
            }
        } else if (c->kind != CAT_CHECK) {
            memcpy(x->checks, r->checks, sizeof(x->checks));
            x->nchecks = r->nchecks;
        }
        if (!u[ui].skip && !u[ui].norun && b->kind != CAT_SWEEP) {
            const char *rd = u[ui].dir + strlen(base) + 1; /* runs/ID[@TRANSPORT] */
            snprintf(x->events, sizeof(x->events), "%s/events.jsonl", rd);
            char ep[4400];
            snprintf(ep, sizeof(ep), "%s/%s", base, x->events);
            if (events_sequence_digest(ep, x->events_digest) != 0)
                x->events_digest[0] = '\0';
            snprintf(x->flash_before, sizeof(x->flash_before), "%s/flash-before.bin", rd);
            snprintf(x->flash_after, sizeof(x->flash_after), "%s/flash.bin", rd);
        }
        if ((x->verdict == V_FAIL || x->verdict == V_ERROR) && !u[ui].norun) {
            write_repro(c, &u[ui], &co, r, base, x->repro, sizeof(x->repro));
            snprintf(x->replay, sizeof(x->replay), "otahil repro %s/%s", base, x->repro);
        }
        fails += x->verdict == V_FAIL;
        errors += x->verdict == V_ERROR;
    }

    /* summary.txt, the three reports */
    char stamp[64], shard[32];
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime(&started));
    snprintf(shard, sizeof(shard), "%d/%d", co.shard_i, co.shard_n);
    int subset = co.only || co.shard_n > 1;
    /* which cloud each run had */
    int nshared = 0, nown = 0;
    char cloudline[512], ownwhy[256] = "";
    for (int i = 0; i < nu; i++) {
        if (u[i].skip || u[i].norun || !res[i].cloud[0])
            continue;
        if (!strcmp(res[i].cloud, "shared")) {
            nshared++;
        } else {
            nown++;
            const char *why = strncmp(res[i].cloud, "own: ", 5) ? NULL : res[i].cloud + 5;
            if (why && !strstr(ownwhy, why) && strlen(ownwhy) + strlen(why) + 3 < sizeof(ownwhy))
                snprintf(ownwhy + strlen(ownwhy), sizeof(ownwhy) - strlen(ownwhy), "%s%s",
                         ownwhy[0] ? "; " : "", why);
        }
    }
    if (shared.api_port)
        snprintf(cloudline, sizeof(cloudline), "one cloud for the certification (Mosquitto, firmware "
                 "server, CoAP; MQTT port %d, HTTP %d) shared by %d of the %d runs with a network%s%s",
                 shared.mqtt_port, shared.api_port, nshared, nshared + nown,
                 nown ? "; the others have a cloud of their own, since their fault is the cloud "
                        "itself: " : "", ownwhy);
    else
        snprintf(cloudline, sizeof(cloudline), "a cloud for each run");
    struct report rep = { OTAHIL_VERSION, co.port_desc, &prof, &board, co.target, co.run.seed,
                          co.shard_n > 1 ? shard : NULL, co.only != NULL, stamp, now_s() - t0, rc,
                          ncase, qemu ? co.run.nic ? "user" : "relay" : NULL, cloudline };
    size_t cap = 8192 + (size_t)ncase * 2400, sl;
    char *summary = malloc(cap);
    int wrc = -1;
    err[0] = '\0';
    if (summary) {
        struct report_counts cnt = report_count(&rep);
        sl = (size_t)snprintf(summary, cap, "otahil certify: port %s, profile %s, board %s, target %s%s, "
                              "seed %llu\n", co.port_desc, prof.name, board.name, co.target,
                              co.run.nic ? " (net user)" : "", (unsigned long long)co.run.seed);
        sl += (size_t)snprintf(summary + sl, cap - sl, "cloud: %s\n", cloudline);
        for (int k = 0; k < ncase; k++)
            sl += (size_t)snprintf(summary + sl, cap - sl, "%-5s %-13s %5.1f s  %s%s%s%s%s%s\n",
                                   verdict_name(rc[k].verdict), rc[k].id, rc[k].seconds,
                                   rc[k].matrix ? "[" : "", rc[k].matrix ? rc[k].transport : "",
                                   rc[k].matrix ? "] " : "", rc[k].title, rc[k].reason[0] ? ": " : "",
                                   rc[k].reason);
        snprintf(summary + sl, cap - sl, "%d cases: %d passed, %d failed, %d skipped, %d errors; %s\n",
                 cnt.total, cnt.pass, cnt.fail, cnt.skip, cnt.error, report_status(&rep, subset));
        char spath[4200];
        snprintf(spath, sizeof(spath), "%s/summary.txt", base);
        wrc = write_file_atomic(spath, summary, strlen(summary), err, sizeof(err));
        if (wrc == 0)
            wrc = report_write_json(&rep, base, err, sizeof(err));
        if (wrc == 0)
            wrc = report_write_junit(&rep, base, err, sizeof(err));
        if (wrc == 0)
            wrc = report_write_html(&rep, base, err, sizeof(err));
        free(summary);
    }
    for (int k = 0; k < ncase; k++)
        if (rc[k].verdict == V_FAIL || rc[k].verdict == V_ERROR)
            printf("%-5s %-13s %s%s%s%s\n      %s\n%s%s%s%s%s", verdict_name(rc[k].verdict), rc[k].id,
                   rc[k].matrix ? "[" : "", rc[k].matrix ? rc[k].transport : "", rc[k].matrix ? "] " : "",
                   rc[k].title, rc[k].reason, rc[k].repro[0] ? "      repro: otahil repro " : "",
                   rc[k].repro[0] ? base : "", rc[k].repro[0] ? "/" : "", rc[k].repro,
                   rc[k].repro[0] ? "\n" : "");
    struct report_counts cnt = report_count(&rep);
    printf("%d cases: %d passed, %d failed, %d skipped, %d errors in %.0f s: %s\n", cnt.total, cnt.pass,
           cnt.fail, cnt.skip, cnt.error, now_s() - t0, report_status(&rep, subset));
    munmap(res, sizeof(*res) * (size_t)maxu);
    free(u);
    free(rc);
    free(sel);
    free(selt);
    free(order);
    if (wrc != 0) {
        fprintf(stderr, "otahil certify: %s\n", err[0] ? err : "out of memory");
        return OTAHIL_EXIT_HARNESS;
    }
    printf("report: %s/report.html\n", base);
    return errors ? OTAHIL_EXIT_HARNESS : fails ? OTAHIL_EXIT_FAIL : 0;
}

int cmd_catalogue(int argc, char **argv)
{
    int md = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--markdown"))
            md = 1;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: otahil catalogue [--markdown]\n"
                   "Lists the conformance cases (ID, title); --markdown writes docs/conformance.md's text.\n");
            return 0;
        } else {
            fprintf(stderr, "otahil catalogue: unknown option '%s'\n", argv[i]);
            return OTAHIL_EXIT_HARNESS;
        }
    }
    if (!md) {
        for (int k = 0; k < cat_ncases; k++)
            printf("%-13s %-5s %s\n", cat_cases[k].id, cat_kind_name(cat_cases[k].kind), cat_cases[k].title);
        return 0;
    }
    char fdir[4096], pdir[4096], err[1024];
    otahil_faults_dir(fdir, sizeof(fdir));
    otahil_source_path("fixtures/ports", pdir, sizeof(pdir));
    if (cat_write_markdown(stdout, fdir, pdir, err, sizeof(err)) != 0) {
        fprintf(stderr, "otahil catalogue: %s\n", err);
        return OTAHIL_EXIT_HARNESS;
    }
    return 0;
}

/* ---- otahil repro ------------------------------------------------------------ */

struct repro {
    char id[32], kind[16], what[128], plan[256], board[1024], port[1024], fw_port[1024];
    char verdict[16], reason[600], check[64], transport[32], target[16], dn[40];
    uint64_t seed;
    long reboot_delay_ms;
    int timeout_s;
    int nic;                      /* net = user: the firmware's own IP stack */
};

static int repro_key(struct inifile *I, const char *section, const char *key, const char *v)
{
    struct repro *r = I->user;
    if (strcmp(section, "repro") != 0)
        return inifile_fail(I, "section [%s]: unknown (expected [repro])", section);
#define T(f) if (!strcmp(key, #f)) { snprintf(r->f, sizeof(r->f), "%s", v); return 0; }
    T(id) T(kind) T(what) T(plan) T(board) T(port) T(fw_port) T(verdict) T(reason) T(check)
    T(transport) T(dn)
#undef T
    char *end;
    if (!strcmp(key, "seed")) {
        r->seed = strtoull(v, &end, 0);
        return *end || !*v ? inifile_fail(I, "key 'seed': '%s' is not a number", v) : 0;
    }
    if (!strcmp(key, "reboot_delay_ms")) {
        r->reboot_delay_ms = strtol(v, &end, 10);
        return *end || !*v ? inifile_fail(I, "key 'reboot_delay_ms': '%s' is not a number", v) : 0;
    }
    if (!strcmp(key, "timeout_s")) {
        r->timeout_s = (int)strtol(v, &end, 10);
        return *end || !*v ? inifile_fail(I, "key 'timeout_s': '%s' is not a number", v) : 0;
    }
    if (!strcmp(key, "net")) {
        if (strcmp(v, "user") && strcmp(v, "relay"))
            return inifile_fail(I, "key 'net': '%s': expected relay or user", v);
        r->nic = !strcmp(v, "user");
        return 0;
    }
    if (!strcmp(key, "target")) {
        if (run_target_qemu(v) < 0)
            return inifile_fail(I, "key 'target': '%s': expected native or qemu", v);
        snprintf(r->target, sizeof(r->target), "%s", v);
        return 0;
    }
    return inifile_fail(I, "key '%s': unknown", key);
}

int cmd_repro(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL;
    int until = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: otahil repro DIR [--until-fault] [--out DIR2]\n"
                   "Replays one case of a certification from its repro folder (DIR/repro.ini: the\n"
                   "case, seed, plan, board and port), verbosely: every event on stderr, then the\n"
                   "verdict and the checks, compared with the recorded verdict. The run's files go\n"
                   "to DIR2 (default DIR/rerun). --until-fault stops the run when the first fault\n"
                   "fires, so the flash (DIR2/flash.bin: otahil flash info) and the event log can be\n"
                   "inspected there; for a power-cut sweep it replays the first failing cut point.\n"
                   "Exit 0 PASS, 1 FAIL, 2 harness error.\n");
            return 0;
        } else if (!strcmp(argv[i], "--until-fault")) {
            until = 1;
        } else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
            out = argv[++i];
        } else if (argv[i][0] != '-' && !dir) {
            dir = argv[i];
        } else {
            fprintf(stderr, "otahil repro: unknown or incomplete option '%s'\n", argv[i]);
            return OTAHIL_EXIT_HARNESS;
        }
    }
    if (!dir) {
        fprintf(stderr, "otahil repro: which repro folder? (otahil repro OUT/repro/ID)\n");
        return OTAHIL_EXIT_HARNESS;
    }
    static struct repro r;
    char path[4400], err[1024], outbuf[4400];
    memset(&r, 0, sizeof(r));
    r.timeout_s = 60;
    r.reboot_delay_ms = CERT_REBOOT_DELAY_MS;
    snprintf(path, sizeof(path), "%s/repro.ini", dir);
    if (inifile_parse(path, repro_key, &r, err, sizeof(err)) != 0) {
        fprintf(stderr, "otahil repro: %s\n", err);
        return OTAHIL_EXIT_HARNESS;
    }
    if (!r.kind[0] || !r.what[0] || !r.board[0]) {
        fprintf(stderr, "otahil repro: %s: kind, what and board are required\n", path);
        return OTAHIL_EXIT_HARNESS;
    }
    if (!out) {
        snprintf(outbuf, sizeof(outbuf), "%s/rerun", dir);
        out = outbuf;
    }
    int qemu = run_target_qemu(r.target) == 1;
    printf("otahil repro: %s (%s %s), seed %llu, board %s, port %s, target %s; recorded %s%s%s\n", r.id,
           r.kind, r.what, (unsigned long long)r.seed, r.board, r.port, qemu ? "qemu" : "native",
           r.verdict, r.reason[0] ? ": " : "", r.reason);
    fflush(stdout);
    char qcut[64] = "";
    if (!strcmp(r.kind, "sweep") && qemu) {
        /* A sweep on QEMU is replayed as the run of its first failing cut
         * point (sweep.txt's "--cut-at SEQ:MODE"), with the sweep's retries;
         * with none recorded, the whole sweep again. */
        char sp[4400], line[1024];
        snprintf(sp, sizeof(sp), "%s/sweep.txt", dir);
        FILE *f = fopen(sp, "r");
        while (f && !qcut[0] && fgets(line, sizeof(line), f)) {
            const char *k = strstr(line, "--cut-at ");
            if (k)
                sscanf(k + 9, "%63s", qcut);
        }
        if (f)
            fclose(f);
        if (!qcut[0]) {
            struct qsweep_opts qo = { { r.board, out, r.seed, 0, r.reboot_delay_ms, r.timeout_s, 1,
                                        NULL, r.port[0] && strcmp(r.port, "reference") ? r.port : NULL,
                                        0, 0, 0, "qemu", NULL, r.nic, NULL, NULL, NULL, NULL, NULL,
                                        NULL },
                                      out, r.what, 0, 0 };
            struct qsweep_summary ss;
            printf("no failing cut point recorded in %s: running the whole sweep on QEMU\n", sp);
            int rc = qsweep_run(&qo, &ss, stdout, err, sizeof(err));
            if (rc == 3) { /* SKIP: nothing to judge */
                printf("SKIP %s\n", err);
                return 0;
            }
            if (rc == 2)
                fprintf(stderr, "otahil repro: %s\n", err);
            return rc;
        }
        printf("replaying cut point %s on QEMU\n", qcut);
    } else if (!strcmp(r.kind, "sweep")) {
        struct sweep_opts so;
        struct sweep_summary ss;
        char sp[4400], line[1024], ev[4400], fl[4400];
        long point = 0;
        snprintf(sp, sizeof(sp), "%s/sweep.txt", dir);
        FILE *f = fopen(sp, "r");
        while (f && !point && fgets(line, sizeof(line), f)) {
            const char *k = strstr(line, "--point ");
            if (k)
                point = atol(k + 8);
        }
        if (f)
            fclose(f);
        sweep_defaults(&so);
        so.board = r.board;
        so.port = r.fw_port[0] ? r.fw_port : "reference";
        so.mode = flashsim_fault_parse(r.what);
        so.seed = r.seed;
        so.image_size = SWEEP_IMAGE_SIZE;
        if (mkdir_p(out) != 0) {
            fprintf(stderr, "otahil repro: %s: %s\n", out, strerror(errno));
            return OTAHIL_EXIT_HARNESS;
        }
        if (point > 0) {
            snprintf(ev, sizeof(ev), "%s/events.jsonl", out);
            snprintf(fl, sizeof(fl), "%s/flash.bin", out);
            so.point = point;
            so.events = ev;
            so.flash_out = fl;
            printf("replaying cut point %ld (events %s, final flash %s)\n", point, ev, fl);
        } else if (until) {
            printf("no failing cut point recorded in %s: running the whole sweep\n", sp);
        }
        int rc = sweep_run(&so, &ss, stdout, err, sizeof(err));
        if (rc == 2)
            fprintf(stderr, "otahil repro: %s\n", err);
        return rc;
    }
    struct run_opts ro = { r.board, out, r.seed, 0, r.reboot_delay_ms, r.timeout_s, 0, NULL,
                           r.port[0] && strcmp(r.port, "reference") ? r.port : NULL, until, 0, 0,
                           qemu ? "qemu" : NULL, qcut[0] ? qcut : NULL, r.nic, NULL, NULL, NULL,
                           NULL, NULL, NULL };
    ro.dn = r.dn[0] ? r.dn : NULL; /* the device's name as it ran */
    struct fault_plan *plan = NULL;
    if (qcut[0]) {
        plan = calloc(1, sizeof(*plan));
        char rt[32];
        snprintf(rt, sizeof(rt), "retries=%d", QSWEEP_RETRIES);
        if (!plan || plan_add_cli(plan, "plan", rt, err, sizeof(err)) != 0) {
            fprintf(stderr, "otahil repro: %s\n", plan ? err : "out of memory");
            plan_free(plan);
            free(plan);
            return OTAHIL_EXIT_HARNESS;
        }
        ro.plan = plan;
    } else if (r.plan[0]) {
        snprintf(path, sizeof(path), "%s/%s", dir, r.plan);
        plan = calloc(1, sizeof(*plan));
        if (!plan || plan_load(path, plan, err, sizeof(err)) != 0) {
            fprintf(stderr, "otahil repro: %s\n", plan ? err : "out of memory");
            free(plan);
            return OTAHIL_EXIT_HARNESS;
        }
        if (plan->has_seed)
            ro.seed = plan->seed;
        ro.plan = plan;
    }
    if (r.transport[0]) { /* a transport matrix run */
        char kv[64];
        if (!plan && (plan = calloc(1, sizeof(*plan))) != NULL)
            snprintf(plan->name, sizeof(plan->name), "options");
        snprintf(kv, sizeof(kv), "transport=%s", r.transport);
        if (!plan || plan_add_cli(plan, "plan", kv, err, sizeof(err)) != 0) {
            fprintf(stderr, "otahil repro: %s/repro.ini: key 'transport': %s\n", dir,
                    plan ? err : "out of memory");
            if (plan)
                plan_free(plan);
            free(plan);
            return OTAHIL_EXIT_HARNESS;
        }
        ro.plan = plan;
    }
    evlog_set_echo(1);
    struct run_result res;
    enum verdict v = run_case(!strcmp(r.kind, "plan") || qcut[0] ? "update" : r.what, &ro, &res);
    evlog_set_echo(0);
    plan_free(plan);
    free(plan);
    printf("%s %s%s%s\n", verdict_name(v), r.id, res.reason[0] ? ": " : "", res.reason);
    for (int i = 0; i < res.nchecks; i++)
        printf("  check %-24s %-5s %s\n", res.checks[i].id, verdict_name(res.checks[i].verdict),
               res.checks[i].detail);
    printf("events: %s\nflash: %s/flash.bin (otahil flash info %s/flash.bin --board %s)\n", res.events,
           out, out, r.board);
    if (!until)
        printf("%s\n", !strcmp(verdict_name(v), r.verdict) || r.check[0] ? "same verdict as recorded"
                                                                         : "the verdict differs from the recorded one");
    return v == V_PASS || v == V_SKIP ? 0 : v == V_FAIL ? OTAHIL_EXIT_FAIL : OTAHIL_EXIT_HARNESS;
}
