/*
 * cmd_proxy.h - the `otahil proxy` command: the transport fault proxy
 * (mock_cloud/proxy.h) in the foreground.
 *
 * Takes the command's own argv (argv[0] is "proxy") and returns the process
 * exit code: OTAHIL_EXIT_PASS (0) after SIGINT or SIGTERM, or after a
 * benchmark; OTAHIL_EXIT_HARNESS (2) for a bad option, a fault spec that does
 * not parse or does not fit the proxy's kind, or a proxy that cannot start.
 * `--help` prints the usage on stdout and returns 0.
 */
#ifndef CMD_PROXY_H
#define CMD_PROXY_H

/* otahil proxy --upstream HOST:PORT [--listen PORT] [--udp] [--name NAME]
 *              [--seed S] [--fault SPEC]... [--events FILE]
 * Prints "otahil proxy: NAME tcp 127.0.0.1:PORT -> HOST:PORT ..." on its
 * first line, then one line per fault, and forwards until SIGINT or SIGTERM.
 * SIGUSR1 takes the link down, SIGUSR2 brings it up.
 *
 * otahil proxy --bench [--bytes N] [--rounds N] [--round-trips N]
 * Measures throughput and added latency, direct against through the proxy
 * (docs/PERFORMANCE.md), and prints the figures. */
int cmd_proxy(int argc, char **argv);

#endif /* CMD_PROXY_H */
