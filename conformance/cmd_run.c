/* cmd_run.c - `otahil run CASE` (optionally under a fault plan). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

#include "conformance/cmd_cloud.h"
#include "conformance/cloudref.h"
#include "conformance/commands.h"
#include "conformance/common.h"
#include "conformance/plan.h"
#include "conformance/portbuild.h"
#include "conformance/run.h"
#include "sim/util/defaults.h"

static void run_usage(FILE *f)
{
    fprintf(f,
            "usage: otahil run CASE [--board B] [--seed N] [--out DIR] [--throttle BPS]\n"
            "                       [--reboot-delay-ms N] [--timeout S] [--port P [P ...]]\n"
            "                       [--target native|qemu] [--cut-at SEQ[:MODE]] [--net relay|user]\n"
            "                       [--firmware ELF --image FILE --image-version V [--flash-image FILE]]\n"
            "                       [--plan FILE] [--http-fault [N:]KEY=VALUE]... [--mqtt-fault KEY=VALUE]...\n"
            "                       [--coap-fault KEY=VALUE]... [--proxy-fault mqtt|http|coap:SPEC]...\n"
            "                       [--transport http|https|mqtts|mqtts+https|coap+http|coap+https|coap+coap\n"
            "                                    |coaps+http|coaps+https|coaps+coaps]\n"
            "                       [--tls CERT] [--dtls certificate|psk]\n"
            "                       [--tls-fragment N] [--tls-heap BYTES] [--mqtt-port P] [--http-port P]\n"
            "                       [--cloud DIR]\n"
            "       otahil run SCENARIO [options]   (the update case under fixtures/faults/SCENARIO.plan)\n"
            "       otahil run --list\n"
            "Starts the fake cloud and a simulated device, runs one case, prints PASS or FAIL\n"
            "with the event log's path. Exit 0 PASS (or SKIP), 1 FAIL, 2 harness error.\n"
            "--plan injects the faults of a fault plan (docs/faults.md) into the cloud; its seed\n"
            "is used unless --seed is given and its retries go to the case's job. The verdict is\n"
            "the case's own; the line also names the plan and what it expects, and the\n"
            "conformance checks follow, one per line (docs/faults.md).\n"
            "--port P runs a known-bad variant (fixtures/ports/P.patch, built as build/dut/P),\n"
            "a device binary at a path, or a vendor's sources (--port FILE.c [FILE.c ...], built\n"
            "into OUT/port as `otahil certify` builds them) instead of the reference port.\n"
            "--target qemu runs each boot as Cortex-M3 firmware in qemu-system-arm (board\n"
            "qemu-mps2-an385, docs/qemu.md) instead of an otahil-dut process (with --port P, the\n"
            "variant's firmware build/qemu/P.elf, the sources built with arm-none-eabi-gcc, or a\n"
            "bootloader program DIR/NAME-boot.elf beside DIR/NAME-app-v1.bin and -v2.bin);\n"
            "--cut-at cuts its power at flash op SEQ (MODE before, after, torn, erase) and boots\n"
            "it again. TLS goes through the relay.\n"
            "--net user (with --target qemu): the firmware brings its own IP stack on the board's\n"
            "LAN9118 (QEMU -nic user) and reaches the cloud at 10.0.2.2; MQTT and HTTP only.\n"
            "--firmware ELF (with --target qemu --net user): a whole firmware booted as it is, its\n"
            "chip first programmed from --flash-image FILE (else erased), the cloud serving --image\n"
            "FILE as version --image-version V; judged by the cloud and the firmware server.\n"
            "--transport, --tls, --dtls, --tls-fragment and --tls-heap set the plan's keys of the\n"
            "same names: firmware over HTTPS, MQTT over TLS, the CoAP signal channel (coap+...: CoAP\n"
            "messages, firmware over HTTP, HTTPS or CoAP blocks; coaps+...: over DTLS, with the\n"
            "test CA's certificates, or the pre-shared key with --dtls psk), the certificate the\n"
            "HTTPS server and the coaps port present\n"
            "(good, untrusted-ca, expired, wrong-host), the device's TLS record size and heap.\n"
            "--cloud DIR: the device joins the running `otahil cloud --workdir DIR` as a tenant\n"
            "(docs/cloud.md, \"Tenants\") instead of a cloud of the run's own, unless the plan's\n"
            "fault is the cloud itself (a broker restart, a bad certificate).\n"
            "--mqtt-port and --http-port fix the cloud's ports on 127.0.0.1 (default: free ones);\n"
            "one already in use is a harness error (exit 2). The broker is mosquitto along PATH\n"
            "or /usr/sbin, or $OTAHIL_MOSQUITTO.\n");
}

/* --port FILE.c ...: a vendor's sources, built into OUT/port before the run. */
struct run_srcs {
    const char *src[64];
    int         n;
};

/* Fault options of `otahil run`: --plan FILE, --http-fault, --mqtt-fault. */
struct run_faults {
    const char  *plan;       /* --plan FILE, or NULL */
    const char **value;      /* fault option values, in order (room for argc) */
    char        *kind;       /* 'h' or 'm' per value */
    int          n;
    int          have_seed;  /* --seed was given */
};

static int parse_common(int argc, char **argv, int i, struct run_opts *o, char *outbuf,
                        size_t outlen, const char *cmd, struct run_faults *rf, struct run_srcs *ps)
{
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint32_t u;
        if (!strcmp(a, "--board") && v) { o->board = v; i++; }
        else if (!strcmp(a, "--out") && v) { snprintf(outbuf, outlen, "%s", v); o->out = outbuf; i++; }
        else if (!strcmp(a, "--seed") && v) { o->seed = strtoull(v, NULL, 0); i++; if (rf) rf->have_seed = 1; }
        else if (rf && !strcmp(a, "--plan") && v) { rf->plan = v; i++; }
        else if (rf && (!strcmp(a, "--http-fault") || !strcmp(a, "--mqtt-fault") ||
                        !strcmp(a, "--coap-fault") || !strcmp(a, "--proxy-fault")) && v) {
            rf->kind[rf->n] = a[2];
            rf->value[rf->n++] = v;
            i++;
        }
        else if (rf && cmd_tls_kind(a) && v) {
            rf->kind[rf->n] = cmd_tls_kind(a);
            rf->value[rf->n++] = v;
            i++;
        }
        else if (!strcmp(a, "--throttle") && v && parse_u32(v, &u) == 0) { o->throttle_bps = u; i++; }
        else if (!strcmp(a, "--cloud") && v) {
            static struct shared_cloud sc;
            char e[600];
            if (shared_cloud_read(v, &sc, e, sizeof(e)) != 0) {
                fprintf(stderr, "otahil %s: --cloud: %s (a running `otahil cloud --workdir %s`?)\n",
                        cmd, e, v);
                return -1;
            }
            o->cloud = &sc;
            i++;
        }
        else if (!strcmp(a, "--reboot-delay-ms") && v) { o->reboot_delay_ms = atol(v); i++; }
        else if (!strcmp(a, "--timeout") && v) { o->timeout_s = atoi(v); i++; }
        else if (!strcmp(a, "--port") && v) {
            /* one value, or source files up to the next option */
            for (; i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0; i++) {
                const char *f = argv[i + 1];
                size_t l = strlen(f);
                if (l > 2 && !strcmp(f + l - 2, ".c")) {
                    if (ps->n >= 64) {
                        fprintf(stderr, "otahil %s: --port: at most 64 source files\n", cmd);
                        return -1;
                    }
                    ps->src[ps->n++] = f;
                } else if (!o->port && !ps->n) {
                    o->port = f;
                } else {
                    fprintf(stderr, "otahil %s: --port %s: give source files (FILE.c ...), or one "
                            "variant name or device binary\n", cmd, f);
                    return -1;
                }
            }
            if (o->port && ps->n) {
                fprintf(stderr, "otahil %s: --port: give source files or one variant name, not both\n",
                        cmd);
                return -1;
            }
        }
        else if ((!strcmp(a, "--mqtt-port") || !strcmp(a, "--http-port")) && v) {
            char *end;
            long p = strtol(v, &end, 10);
            if (*end || p < 1 || p > 65535) {
                fprintf(stderr, "otahil %s: %s '%s': expected a TCP port 1..65535\n", cmd, a, v);
                return -1;
            }
            *(a[2] == 'm' ? &o->mqtt_port : &o->http_port) = (int)p;
            i++;
        }
        else if (!strcmp(a, "--cut-at") && v) { o->cut = v; i++; }
        else if (!strcmp(a, "--firmware") && v) { o->firmware = v; i++; }
        else if (!strcmp(a, "--flash-image") && v) { o->flash_image = v; i++; }
        else if (!strcmp(a, "--image") && v) { o->image = v; i++; }
        else if (!strcmp(a, "--image-version") && v) { o->image_version = v; i++; }
        else if (!strcmp(a, "--net") && v) {
            if (strcmp(v, "user") && strcmp(v, "relay")) {
                fprintf(stderr, "otahil %s: --net '%s': expected relay or user\n", cmd, v);
                return -1;
            }
            o->nic = !strcmp(v, "user");
            i++;
        }
        else if (!strcmp(a, "--target") && v) {
            o->target = v;
            if (run_target_qemu(v) < 0) {
                fprintf(stderr, "otahil %s: --target '%s': expected native or qemu\n", cmd, v);
                return -1;
            }
            i++;
        }
        else {
            fprintf(stderr, "otahil %s: unknown or incomplete option '%s'\n", cmd, a);
            return -1;
        }
    }
    return 0;
}

/* A scenario: the update case under the fault plan of that name. */
static int scenario_plan(const char *name, char *path, size_t n)
{
    char dir[4096];
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
            return -1;
    otahil_faults_dir(dir, sizeof(dir));
    snprintf(path, n, "%s/%s.plan", dir, name);
    return access(path, R_OK) == 0 ? 0 : -1;
}

static void list_scenarios(void)
{
    char dir[4096], path[4300];
    otahil_faults_dir(dir, sizeof(dir));
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char *names[256];
    int nn = 0;
    while ((e = readdir(d)) != NULL && nn < 256) {
        size_t l = strlen(e->d_name);
        if (l > 5 && !strcmp(e->d_name + l - 5, ".plan"))
            names[nn++] = strndup(e->d_name, l - 5);
    }
    closedir(d);
    for (int i = 1; i < nn; i++)
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    for (int i = 0; i < nn; i++) {
        struct fault_plan p;
        char err[512];
        snprintf(path, sizeof(path), "%s/%s.plan", dir, names[i]);
        if (names[i] && plan_load(path, &p, err, sizeof(err)) == 0) {
            printf("%-20s scenario (update under its fault plan): %.70s%s\n", names[i], p.description,
                   strlen(p.description) > 70 ? "..." : "");
            plan_free(&p);
        }
        free(names[i]);
    }
}

int cmd_run(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        run_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? OTAHIL_EXIT_HARNESS : 0;
    }
    if (!strcmp(argv[1], "--list")) {
        for (int i = 0; run_case_names[i]; i++)
            printf("%-20s %s\n", run_case_names[i], run_case_title(run_case_names[i]));
        list_scenarios();
        return 0;
    }
    const char *name = argv[1];
    char scenario[4400];
    const char *scenario_file = NULL;
    if (!run_case_title(name)) {
        if (scenario_plan(name, scenario, sizeof(scenario)) != 0) {
            fprintf(stderr, "otahil run: unknown case or scenario '%s' (otahil run --list)\n", name);
            return OTAHIL_EXIT_HARNESS;
        }
        scenario_file = scenario;
    }
    struct run_opts o = { OTAHIL_DEFAULT_BOARD, NULL, 1, 0, 3000, 60, 0, NULL, NULL, 0, 0, 0, NULL, NULL,
                          0, NULL, NULL, NULL, NULL, NULL, NULL };
    char outbuf[4096];
    struct run_faults rf = { NULL, calloc((size_t)argc, sizeof(char *)), calloc((size_t)argc, 1), 0, 0 };
    struct fault_plan *plan = calloc(1, sizeof(*plan));
    int rc = OTAHIL_EXIT_HARNESS;
    if (!rf.value || !rf.kind || !plan) {
        fprintf(stderr, "otahil run: out of memory\n");
        goto out;
    }
    static struct run_srcs ps;
    if (parse_common(argc, argv, 2, &o, outbuf, sizeof(outbuf), "run", &rf, &ps) != 0)
        goto out;
    if (scenario_file) {
        if (rf.plan) {
            fprintf(stderr, "otahil run: scenario '%s' is a plan already; --plan cannot be added\n", name);
            goto out;
        }
        rf.plan = scenario_file;
    }
    if (rf.plan || rf.n) {
        if (cmd_fault_plan("run", rf.plan, rf.value, rf.kind, rf.n, plan) != 0)
            goto out;
        if (plan->has_seed && !rf.have_seed)
            o.seed = plan->seed;
        o.plan = plan;
    }
    if (!o.out) {
        const char *base = strrchr(o.board, '/') ? strrchr(o.board, '/') + 1 : o.board;
        snprintf(outbuf, sizeof(outbuf), "out/run/%s-%.*s", name,
                 (int)(strstr(base, ".ini") ? strstr(base, ".ini") - base : (long)strlen(base)), base);
        o.out = outbuf;
    }
    static char built[4400], so[4400];
    if (ps.n) { /* the vendor's sources, for the target the run boots (portbuild.h) */
        char bdir[4400], err[2048];
        snprintf(bdir, sizeof(bdir), "%s/port", o.out);
        if ((run_target_qemu(o.target) == 1
                 ? portbuild_qemu(ps.src, ps.n, NULL, bdir, built, sizeof(built), err, sizeof(err))
                 : portbuild(ps.src, ps.n, NULL, bdir, built, sizeof(built), so, sizeof(so), err,
                             sizeof(err))) != 0) {
            fprintf(stderr, "otahil run: %s\n", err);
            goto out;
        }
        o.port = built;
    }
    struct run_result r;
    enum verdict v = run_case(scenario_file ? "update" : name, &o, &r);
    printf("%s %s (board %s, seed %llu%s%s) in %.1f s: %s\n", verdict_name(v), name, o.board,
           (unsigned long long)o.seed, o.port ? ", port " : "", o.port ? o.port : "", r.seconds,
           r.reason);
    if (o.plan)
        printf("plan %s (expects %s): %s\n", plan->name, plan_expect_name(plan->expect),
               plan_summary(plan, outbuf, sizeof(outbuf)));
    for (int i = 0; i < r.nchecks; i++)
        printf("  %-5s %-24s %s\n", verdict_name(r.checks[i].verdict), r.checks[i].id,
               r.checks[i].detail);
    if (r.events[0])
        printf("event log: %s\n", r.events);
    rc = v == V_PASS || v == V_SKIP ? 0 : v == V_FAIL ? OTAHIL_EXIT_FAIL : OTAHIL_EXIT_HARNESS;
out:
    plan_free(plan);
    free(plan);
    free(rf.value);
    free(rf.kind);
    return rc;
}
