/* cmd_run.c - `otahil run CASE` (optionally under a fault plan) and
 * `otahil certify`. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conformance/cmd_cloud.h"
#include "conformance/commands.h"
#include "conformance/common.h"
#include "conformance/plan.h"
#include "conformance/run.h"
#include "sim/util/defaults.h"

static void run_usage(FILE *f)
{
    fprintf(f,
            "usage: otahil run CASE [--board B] [--seed N] [--out DIR] [--throttle BPS]\n"
            "                       [--reboot-delay-ms N] [--timeout S] [--port P]\n"
            "                       [--plan FILE] [--http-fault [N:]KEY=VALUE]... [--mqtt-fault KEY=VALUE]...\n"
            "                       [--proxy-fault mqtt|http:SPEC]...\n"
            "       otahil run SCENARIO [options]   (the update case under fixtures/faults/SCENARIO.plan)\n"
            "       otahil run --list\n"
            "Starts the fake cloud and a simulated device, runs one case, prints PASS or FAIL\n"
            "with the event log's path. Exit 0 PASS (or SKIP), 1 FAIL, 2 harness error.\n"
            "--plan injects the faults of a fault plan (docs/faults.md) into the cloud; its seed\n"
            "is used unless --seed is given and its retries go to the case's job. The verdict is\n"
            "the case's own; the line also names the plan and what it expects, and the\n"
            "conformance checks follow, one per line (docs/faults.md).\n"
            "--port P runs a known-bad variant (fixtures/ports/P.patch, built as build/dut/P)\n"
            "or a device binary at a path instead of the reference port.\n");
}

/* Fault options of `otahil run`: --plan FILE, --http-fault, --mqtt-fault. */
struct run_faults {
    const char  *plan;       /* --plan FILE, or NULL */
    const char **value;      /* fault option values, in order (room for argc) */
    char        *kind;       /* 'h' or 'm' per value */
    int          n;
    int          have_seed;  /* --seed was given */
};

static int parse_common(int argc, char **argv, int i, struct run_opts *o, char *outbuf,
                        size_t outlen, const char *cmd, struct run_faults *rf)
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
                        !strcmp(a, "--proxy-fault")) && v) {
            rf->kind[rf->n] = a[2];
            rf->value[rf->n++] = v;
            i++;
        }
        else if (!strcmp(a, "--throttle") && v && parse_u32(v, &u) == 0) { o->throttle_bps = u; i++; }
        else if (!strcmp(a, "--reboot-delay-ms") && v) { o->reboot_delay_ms = atol(v); i++; }
        else if (!strcmp(a, "--timeout") && v) { o->timeout_s = atoi(v); i++; }
        else if (!strcmp(a, "--port") && v) { o->port = v; i++; }
        else {
            fprintf(stderr, "otahil %s: unknown or incomplete option '%s'\n", cmd, a);
            return -1;
        }
    }
    return 0;
}

/* The folder of the scenario plans: $OTAHIL_FAULTS, else fixtures/faults of
 * the source tree the executable was built in (build/bin or build/san/bin),
 * else ./fixtures/faults. */
static void faults_dir(char *out, size_t n)
{
    const char *env = getenv("OTAHIL_FAULTS");
    char exe[4096], *slash;
    ssize_t k;
    if (env && *env) {
        snprintf(out, n, "%s", env);
        return;
    }
    k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (k > 0) {
        exe[k] = '\0';
        if ((slash = strrchr(exe, '/')) != NULL) {
            *slash = '\0';
            for (int up = 2; up <= 3; up++) { /* build/bin or build/san/bin */
                snprintf(out, n, "%s/%s../fixtures/faults", exe, up == 2 ? "../" : "../../");
                if (access(out, R_OK) == 0)
                    return;
            }
        }
    }
    snprintf(out, n, "fixtures/faults");
}

/* A scenario: the update case under the fault plan of that name. */
static int scenario_plan(const char *name, char *path, size_t n)
{
    char dir[4096];
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
            return -1;
    faults_dir(dir, sizeof(dir));
    snprintf(path, n, "%s/%s.plan", dir, name);
    return access(path, R_OK) == 0 ? 0 : -1;
}

static void list_scenarios(void)
{
    char dir[4096], path[4300];
    faults_dir(dir, sizeof(dir));
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
    struct run_opts o = { OTAHIL_DEFAULT_BOARD, NULL, 1, 0, 3000, 60, 0, NULL, NULL };
    char outbuf[4096];
    struct run_faults rf = { NULL, calloc((size_t)argc, sizeof(char *)), calloc((size_t)argc, 1), 0, 0 };
    struct fault_plan *plan = calloc(1, sizeof(*plan));
    int rc = OTAHIL_EXIT_HARNESS;
    if (!rf.value || !rf.kind || !plan) {
        fprintf(stderr, "otahil run: out of memory\n");
        goto out;
    }
    if (parse_common(argc, argv, 2, &o, outbuf, sizeof(outbuf), "run", &rf) != 0)
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

/* One item of the certification run: a case, or a scenario (the update
 * case under fixtures/faults/NAME.plan). */
struct cert_item {
    char name[PLAN_NAME_MAX];
    int  scenario;
};

/* The scenarios in the faults folder, sorted; slow ones left out when quick.
 * Returns how many were added to it[] (room for max). */
static int scenario_items(struct cert_item *it, int max, int quick)
{
    char dir[4096], path[4400], err[512];
    faults_dir(dir, sizeof(dir));
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < max) {
        size_t l = strlen(e->d_name);
        if (l <= 5 || l - 5 >= PLAN_NAME_MAX || strcmp(e->d_name + l - 5, ".plan") != 0)
            continue;
        snprintf(it[n].name, sizeof(it[n].name), "%.*s", (int)(l - 5), e->d_name);
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct fault_plan *p = calloc(1, sizeof(*p));
        int keep = p && plan_load(path, p, err, sizeof(err)) == 0 && !(quick && p->slow);
        plan_free(p);
        free(p);
        if (keep) {
            it[n].scenario = 1;
            n++;
        }
    }
    closedir(d);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(it[j - 1].name, it[j].name) > 0; j--) {
            struct cert_item t = it[j];
            it[j] = it[j - 1];
            it[j - 1] = t;
        }
    return n;
}

/* Runs one item in this (child) process; the result goes to *r. */
static void certify_one(const struct cert_item *it, const struct run_opts *base, const char *dir,
                        struct run_result *r)
{
    struct run_opts ro = *base;
    struct fault_plan *plan = NULL;
    char path[4400], err[1024];
    ro.out = dir;
    if (it->scenario) {
        plan = calloc(1, sizeof(*plan));
        if (!plan || scenario_plan(it->name, path, sizeof(path)) != 0 ||
            plan_load(path, plan, err, sizeof(err)) != 0) {
            memset(r, 0, sizeof(*r));
            r->verdict = V_ERROR;
            snprintf(r->reason, sizeof(r->reason), "scenario %s: %s", it->name,
                     plan ? err : "out of memory");
            free(plan);
            return;
        }
        if (plan->has_seed)
            ro.seed = plan->seed;
        ro.plan = plan;
    }
    run_case(it->scenario ? "update" : it->name, &ro, r);
    plan_free(plan);
    free(plan);
}

int cmd_certify(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: otahil certify [--board B] [--seed N] [--out DIR] [--jobs N] [--quick]\n"
               "                      [--port P] [--reboot-delay-ms N] [--timeout S]\n"
               "Runs every case and every scenario (fixtures/faults/*.plan) on the board and\n"
               "writes DIR/summary.txt: each with its verdict, time, reason and event log.\n"
               "--jobs N runs N at once (default 2); --quick leaves out the slow scenarios\n"
               "(a plan with slow = true); --port P certifies a known-bad variant or a device\n"
               "binary instead of the reference port (otahil run --help).\n"
               "Exit 0 all pass, 1 any FAIL, 2 any harness ERROR.\n");
        return 0;
    }
    struct run_opts o = { OTAHIL_DEFAULT_BOARD, NULL, 1, 0, 3000, 60, 0, NULL, NULL };
    char outbuf[4096], err[512];
    int jobs = 2, quick = 0;
    /* --jobs and --quick are certify's own; the rest are run's. */
    char **rest = calloc((size_t)argc + 1, sizeof(char *));
    int nrest = 0;
    if (!rest)
        return OTAHIL_EXIT_HARNESS;
    rest[nrest++] = argv[0];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--jobs") && i + 1 < argc) {
            char *end;
            long j = strtol(argv[++i], &end, 10);
            if (*end || j < 1 || j > 64) {
                fprintf(stderr, "otahil certify: --jobs '%s': expected 1..64\n", argv[i]);
                free(rest);
                return OTAHIL_EXIT_HARNESS;
            }
            jobs = (int)j;
        } else
            rest[nrest++] = argv[i];
    }
    int prc = parse_common(nrest, rest, 1, &o, outbuf, sizeof(outbuf), "certify", NULL);
    free(rest);
    if (prc != 0)
        return OTAHIL_EXIT_HARNESS;
    const char *base = o.out ? o.out : "out/certify";
    if (!o.out)
        snprintf(outbuf, sizeof(outbuf), "%s/%s", base, o.board), base = outbuf;

    struct cert_item items[256];
    int n = 0;
    for (int i = 0; run_case_names[i] && n < 256; i++) {
        snprintf(items[n].name, sizeof(items[n].name), "%s", run_case_names[i]);
        items[n++].scenario = 0;
    }
    n += scenario_items(items + n, 256 - n, quick);
    /* Results land in shared memory: each item runs in a child of its own
     * (a run owns the process's event log and its cloud). */
    struct run_result *res = mmap(NULL, sizeof(*res) * (size_t)n, PROT_READ | PROT_WRITE,
                                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t *pid = calloc((size_t)n, sizeof(pid_t));
    if (res == MAP_FAILED || !pid) {
        fprintf(stderr, "otahil certify: out of memory\n");
        free(pid);
        return OTAHIL_EXIT_HARNESS;
    }
    for (int i = 0; i < n; i++) {
        res[i].verdict = V_ERROR;
        snprintf(res[i].reason, sizeof(res[i].reason), "the run did not report (it crashed)");
    }
    printf("otahil certify: %s on board %s, %d cases and scenarios%s, %d at a time\n",
           o.port ? o.port : "reference port", o.board, n, quick ? " (quick: slow ones left out)" : "",
           jobs);
    fflush(stdout);
    int next = 0, running = 0, done = 0, fails = 0, errors = 0;
    while (done < n) {
        while (running < jobs && next < n) {
            char dir[4400];
            snprintf(dir, sizeof(dir), "%s/%s", base, items[next].name);
            fflush(NULL);
            pid_t c = fork();
            if (c == 0) {
                struct run_result r;
                certify_one(&items[next], &o, dir, &r);
                res[next] = r;
                _exit(0);
            }
            if (c < 0) {
                snprintf(res[next].reason, sizeof(res[next].reason), "fork: %s", strerror(errno));
                done++;
            } else {
                pid[next] = c;
                running++;
            }
            next++;
        }
        int st;
        pid_t w = wait(&st);
        if (w < 0)
            break;
        for (int i = 0; i < n; i++) {
            if (pid[i] != w)
                continue;
            pid[i] = 0;
            running--;
            done++;
            printf("[%d/%d] %-5s %-24s %5.1f s\n", done, n, verdict_name(res[i].verdict),
                   items[i].name, res[i].seconds);
            fflush(stdout);
        }
    }
    size_t cap = 8192 + (size_t)n * 6000, sl;
    char *summary = malloc(cap);
    if (!summary) {
        munmap(res, sizeof(*res) * (size_t)n);
        free(pid);
        return OTAHIL_EXIT_HARNESS;
    }
    sl = (size_t)snprintf(summary, cap, "otahil certify: board %s, seed %llu, port %s\n", o.board,
                          (unsigned long long)o.seed, o.port ? o.port : "reference");
    for (int i = 0; i < n; i++) {
        fails += res[i].verdict == V_FAIL;
        errors += res[i].verdict == V_ERROR;
        sl += (size_t)snprintf(summary + sl, cap - sl, "%-5s %-24s %5.1f s  %s\n      events: %s\n",
                               verdict_name(res[i].verdict), items[i].name, res[i].seconds,
                               res[i].reason, res[i].events[0] ? res[i].events : "-");
    }
    snprintf(summary + sl, cap - sl, "%d cases and scenarios: %d passed or skipped, %d failed, %d "
             "errors\n", n, n - fails - errors, fails, errors);
    char spath[4200];
    snprintf(spath, sizeof(spath), "%s/summary.txt", base);
    int wrc = mkdir_p(base) != 0 ? -1 : write_file_atomic(spath, summary, strlen(summary), err,
                                                          sizeof(err));
    for (int i = 0; wrc == 0 && i < n; i++)
        if (res[i].verdict == V_FAIL || res[i].verdict == V_ERROR)
            printf("%s %s: %s\n      events: %s\n", verdict_name(res[i].verdict), items[i].name,
                   res[i].reason, res[i].events[0] ? res[i].events : "-");
    free(summary);
    munmap(res, sizeof(*res) * (size_t)n);
    free(pid);
    if (wrc != 0) {
        fprintf(stderr, "otahil certify: %s\n", wrc < 0 && !err[0] ? base : err);
        return OTAHIL_EXIT_HARNESS;
    }
    printf("%d cases and scenarios: %d failed, %d harness errors\nreport: %s\n", n, fails, errors,
           spath);
    return errors ? OTAHIL_EXIT_HARNESS : fails ? OTAHIL_EXIT_FAIL : 0;
}
