/*
 * cmd_proxy.c - `otahil proxy`: the transport fault proxy in the foreground,
 * between a device and one cloud port, with faults from --fault specs
 * (docs/faults.md); or, with --bench, its benchmark (proxy_bench.c).
 *
 * Like `otahil cloud`, it blocks its signals before the proxy's thread
 * starts and collects them on the main thread with sigtimedwait():
 * SIGINT/SIGTERM stop it, SIGUSR1/SIGUSR2 take the link down and up.
 */
#include "conformance/cmd_proxy.h"
#include "conformance/proxy_bench.h"
#include "mock_cloud/proxy.h"
#include "sim/util/defaults.h"
#include "sim/util/evlog.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD_PROXY_HOST_MAX   256
#define CMD_PROXY_BENCH_BYTES (256ull << 20) /* per throughput run */
#define CMD_PROXY_BENCH_ROUNDS 5
#define CMD_PROXY_BENCH_RTT  10000

static const char proxy_usage[] =
    "usage: otahil proxy --upstream HOST:PORT [options]\n"
    "Forwards 127.0.0.1:PORT to HOST:PORT with seeded transport faults until Ctrl-C.\n"
    "  --upstream HOST:PORT   where connections (or datagrams) go\n"
    "  --listen PORT          port on 127.0.0.1 (default: a free port, printed)\n"
    "  --udp                  forward datagrams (CoAP) instead of TCP connections\n"
    "  --name NAME            the proxy's name in events (default proxy)\n"
    "  --seed N               seed of every random choice (default 0)\n"
    "  --fault SPEC           a fault, repeatable, applied in order per direction (docs/faults.md):\n"
    "                         down:latency=20ms,jitter=5ms  up:close_after=1000  down:slicer=64/16/200us\n"
    "                         down:reset_after=5000  down:blackhole  udp:loss=0.2\n"
    "                         down:conn=2:close_after=40000  down:bandwidth=64KiB\n"
    "  --events FILE          append events to FILE and echo them to stderr\n"
    "  --help                 this text\n"
    "While it runs: SIGUSR1 takes the link down (connections held, open ones stall),\n"
    "SIGUSR2 brings it back. Exit: 0 after Ctrl-C/SIGTERM, 2 bad options or cannot start.\n"
    "\n"
    "usage: otahil proxy --bench [--bytes N] [--rounds N] [--round-trips N]\n"
    "Throughput and added latency, direct against through the proxy (docs/PERFORMANCE.md).\n";

/* "--name VALUE" or "--name=VALUE": 1 and *val set, 0 no match, -1 value missing. */
static int cmd_proxy_opt(int argc, char **argv, int *i, const char *name, const char **val)
{
    const char *a = argv[*i];
    size_t n = strlen(name);

    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *val = argv[++*i];
    return 1;
}

static int cmd_proxy_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    unsigned long long v;
    char *end;

    if (!s || !*s || *s == '-')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 0);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* "HOST:PORT" (the last colon splits; "[v6]:PORT" loses its brackets). */
static int cmd_proxy_hostport(const char *s, char *host, size_t hostlen, int *port)
{
    const char *colon = strrchr(s, ':');
    uint64_t v;
    size_t hl;

    if (!colon || colon == s || cmd_proxy_u64(colon + 1, 1, 65535, &v) != 0)
        return -1;
    hl = (size_t)(colon - s);
    if (s[0] == '[' && hl >= 2 && s[hl - 1] == ']') {
        s++;
        hl -= 2;
    }
    if (hl == 0 || hl >= hostlen)
        return -1;
    memcpy(host, s, hl);
    host[hl] = '\0';
    *port = (int)v;
    return 0;
}

static int cmd_proxy_bench(uint64_t bytes, uint64_t rounds, uint64_t rtts)
{
    struct proxy_bench_opts o = { bytes, (int)rounds, (int)rtts };
    char err[256];

    if (proxy_bench_run(&o, stdout, err, sizeof err) != 0) {
        fprintf(stderr, "otahil proxy --bench: %s\n", err);
        return OTAHIL_EXIT_HARNESS;
    }
    return OTAHIL_EXIT_PASS;
}

int cmd_proxy(int argc, char **argv)
{
    struct proxy_fault lists[2][PROXY_MAX_FAULTS];
    int nf[2] = { 0, 0 };
    const char *upstream = NULL, *events = NULL, *name = "proxy", *v = NULL;
    const char *fault_args[2 * PROXY_MAX_FAULTS];
    int nfault_args = 0, bench = 0, rc = OTAHIL_EXIT_PASS;
    uint64_t seed = 0, listen = 0, bytes = CMD_PROXY_BENCH_BYTES, rounds = CMD_PROXY_BENCH_ROUNDS,
             rtts = CMD_PROXY_BENCH_RTT;
    enum proxy_kind kind = PROXY_TCP;
    char host[CMD_PROXY_HOST_MAX], err[512], one[160];
    struct proxy_opts o;
    struct proxy_stats st;
    struct proxy *p;
    sigset_t set, old;
    int uport = 0;

    for (int i = 1; i < argc; i++) {
        int m;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(proxy_usage, stdout);
            return OTAHIL_EXIT_PASS;
        }
        if (strcmp(argv[i], "--udp") == 0) {
            kind = PROXY_UDP;
            continue;
        }
        if (strcmp(argv[i], "--bench") == 0) {
            bench = 1;
            continue;
        }
        if ((m = cmd_proxy_opt(argc, argv, &i, "--upstream", &v)) > 0) {
            upstream = v;
        } else if (m == 0 && (m = cmd_proxy_opt(argc, argv, &i, "--listen", &v)) > 0) {
            if (cmd_proxy_u64(v, 0, 65535, &listen) != 0) {
                fprintf(stderr, "otahil proxy: bad --listen %s (0..65535)\n", v);
                return OTAHIL_EXIT_HARNESS;
            }
        } else if (m == 0 && (m = cmd_proxy_opt(argc, argv, &i, "--seed", &v)) > 0) {
            if (cmd_proxy_u64(v, 0, UINT64_MAX, &seed) != 0) {
                fprintf(stderr, "otahil proxy: bad --seed %s\n", v);
                return OTAHIL_EXIT_HARNESS;
            }
        } else if (m == 0 && (m = cmd_proxy_opt(argc, argv, &i, "--name", &v)) > 0) {
            if (!*v || strlen(v) >= PROXY_NAME_MAX) {
                fprintf(stderr, "otahil proxy: bad --name '%s' (1..%d characters)\n", v, PROXY_NAME_MAX - 1);
                return OTAHIL_EXIT_HARNESS;
            }
            name = v;
        } else if (m == 0 && (m = cmd_proxy_opt(argc, argv, &i, "--fault", &v)) > 0) {
            if (nfault_args >= 2 * PROXY_MAX_FAULTS) {
                fprintf(stderr, "otahil proxy: more than %d --fault options\n", 2 * PROXY_MAX_FAULTS);
                return OTAHIL_EXIT_HARNESS;
            }
            fault_args[nfault_args++] = v;
        } else if (m == 0 && (m = cmd_proxy_opt(argc, argv, &i, "--events", &v)) > 0) {
            events = v;
        } else if (m == 0 && (m = cmd_proxy_opt(argc, argv, &i, "--bytes", &v)) > 0) {
            if (cmd_proxy_u64(v, 1, 1ull << 40, &bytes) != 0) {
                fprintf(stderr, "otahil proxy: bad --bytes %s\n", v);
                return OTAHIL_EXIT_HARNESS;
            }
        } else if (m == 0 && (m = cmd_proxy_opt(argc, argv, &i, "--rounds", &v)) > 0) {
            if (cmd_proxy_u64(v, 1, 1000, &rounds) != 0) {
                fprintf(stderr, "otahil proxy: bad --rounds %s (1..1000)\n", v);
                return OTAHIL_EXIT_HARNESS;
            }
        } else if (m == 0 && (m = cmd_proxy_opt(argc, argv, &i, "--round-trips", &v)) > 0) {
            if (cmd_proxy_u64(v, 1, 10000000, &rtts) != 0) {
                fprintf(stderr, "otahil proxy: bad --round-trips %s (1..10000000)\n", v);
                return OTAHIL_EXIT_HARNESS;
            }
        } else if (m < 0) {
            fprintf(stderr, "otahil proxy: option %s needs a value\n", argv[i]);
            return OTAHIL_EXIT_HARNESS;
        } else {
            fprintf(stderr, "otahil proxy: unknown option %s (see otahil proxy --help)\n", argv[i]);
            return OTAHIL_EXIT_HARNESS;
        }
    }
    if (bench) {
        if (upstream || nfault_args) {
            fprintf(stderr, "otahil proxy: --bench runs its own servers; no --upstream or --fault\n");
            return OTAHIL_EXIT_HARNESS;
        }
        return cmd_proxy_bench(bytes, rounds, rtts);
    }
    if (!upstream) {
        fprintf(stderr, "otahil proxy: --upstream HOST:PORT is required\n");
        return OTAHIL_EXIT_HARNESS;
    }
    if (cmd_proxy_hostport(upstream, host, sizeof host, &uport) != 0) {
        fprintf(stderr, "otahil proxy: bad --upstream %s (HOST:PORT, port 1..65535)\n", upstream);
        return OTAHIL_EXIT_HARNESS;
    }
    for (int k = 0; k < nfault_args; k++) {
        struct proxy_fault f;
        int dir;
        if (proxy_fault_parse(fault_args[k], &f, &dir, err, sizeof err) != 0 ||
            proxy_fault_check(&f, kind, err, sizeof err) != 0) {
            fprintf(stderr, "otahil proxy: bad --fault %s: %s\n", fault_args[k], err);
            return OTAHIL_EXIT_HARNESS;
        }
        for (int d = 0; d < 2; d++) {
            if (dir != PROXY_BOTH && dir != d)
                continue;
            if (nf[d] >= PROXY_MAX_FAULTS) {
                fprintf(stderr, "otahil proxy: more than %d faults on the %s direction\n", PROXY_MAX_FAULTS,
                        d == PROXY_UP ? "up" : "down");
                return OTAHIL_EXIT_HARNESS;
            }
            lists[d][nf[d]++] = f;
        }
    }

    if (events) {
        if (evlog_open(events) != 0) {
            fprintf(stderr, "otahil proxy: cannot open event log %s: %s\n", events, strerror(errno));
            return OTAHIL_EXIT_HARNESS;
        }
        evlog_set_echo(1);
    }

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, &old);

    memset(&o, 0, sizeof o);
    o.name = name;
    o.kind = kind;
    o.listen_port = (int)listen;
    o.upstream_host = host;
    o.upstream_port = uport;
    o.seed = seed;
    p = proxy_start(&o, err, sizeof err);
    if (!p) {
        fprintf(stderr, "otahil proxy: %s\n", err);
        rc = OTAHIL_EXIT_HARNESS;
        goto out;
    }
    for (int d = 0; d < 2; d++) {
        if (nf[d] && proxy_set_faults(p, d, lists[d], nf[d]) != 0) {
            fprintf(stderr, "otahil proxy: the proxy refused the %s faults\n", d == PROXY_UP ? "up" : "down");
            rc = OTAHIL_EXIT_HARNESS;
            goto stop;
        }
    }
    printf("otahil proxy: %s %s 127.0.0.1:%d -> %s:%d  seed %llu  (Ctrl-C stops; SIGUSR1 link down, "
           "SIGUSR2 link up)\n",
           name, kind == PROXY_UDP ? "udp" : "tcp", proxy_port(p), host, uport, (unsigned long long)seed);
    for (int d = 0; d < 2; d++)
        for (int k = 0; k < nf[d]; k++) {
            proxy_fault_format(&lists[d][k], d, one, sizeof one);
            printf("  fault %s\n", one);
        }
    fflush(stdout);

    for (;;) {
        int sig = sigwaitinfo(&set, NULL);
        if (sig == SIGINT || sig == SIGTERM)
            break;
        if (sig == SIGUSR1 || sig == SIGUSR2) {
            proxy_link(p, sig == SIGUSR2 ? PROXY_LINK_UP : PROXY_LINK_DOWN);
            printf("otahil proxy: link %s\n", sig == SIGUSR2 ? "up" : "down");
            fflush(stdout);
        }
    }
    proxy_stats(p, &st);
    printf("otahil proxy: %llu %s, %llu bytes up, %llu bytes down, %llu faults fired\n",
           (unsigned long long)st.conns, kind == PROXY_UDP ? "clients" : "connections",
           (unsigned long long)st.bytes[PROXY_UP], (unsigned long long)st.bytes[PROXY_DOWN],
           (unsigned long long)st.faults);
    fflush(stdout);
stop:
    proxy_stop(p);
out:
    if (events)
        evlog_close();
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}
