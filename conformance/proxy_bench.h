/*
 * proxy_bench.h - the transport proxy's benchmark (`otahil proxy --bench`):
 * loopback throughput and round-trip time, direct against through a proxy
 * with no fault, and through a proxy whose faults do nothing (the buffered
 * path). Figures, not tests: docs/PERFORMANCE.md records them.
 */
#ifndef PROXY_BENCH_H
#define PROXY_BENCH_H

#include <stdint.h>
#include <stdio.h>

struct proxy_bench_opts {
    uint64_t bytes;       /* bytes per throughput run, each way */
    int      rounds;      /* runs per throughput figure; the median is shown */
    int      round_trips; /* ping-pongs of 64 bytes per latency figure; the median is shown */
};

/* Runs the benchmark and prints one line per figure on out. Returns 0, or -1
 * with a one-line reason in err (a socket or the proxy could not be set
 * up, a transfer came up short). */
int proxy_bench_run(const struct proxy_bench_opts *o, FILE *out, char *err, size_t errlen);

#endif /* PROXY_BENCH_H */
