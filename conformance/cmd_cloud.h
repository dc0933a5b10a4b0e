/*
 * cmd_cloud.h - the `otahil cloud` and `otahil push` commands.
 *
 * Both take the command's own argv (argv[0] is the command name, "cloud" or
 * "push") and return the process exit code: OTAHIL_EXIT_PASS (0),
 * OTAHIL_EXIT_FAIL (1: push --wait saw the job fail) or OTAHIL_EXIT_HARNESS
 * (2: bad option, cloud could not start or was lost, no cloud to talk to,
 * timeout). `--help` prints the usage on stdout and returns 0.
 */
#ifndef CMD_CLOUD_H
#define CMD_CLOUD_H

/* otahil cloud [--workdir DIR] [--mqtt-port P] [--http-port P] [--events FILE]
 *              [--seed N] [--throttle BPS] [--device PK/DN/SECRET]...
 *              [--plan FILE] [--http-fault [N:]KEY=VALUE]... [--mqtt-fault KEY=VALUE]...
 * Runs the fake cloud in the foreground until SIGINT or SIGTERM (returns 0)
 * or until the broker is lost (returns 2). While it runs, WORKDIR/cloud.json
 * ({"mqtt_port","http_port","pid","events"}) tells other commands where it
 * is; it is removed on exit. */
int cmd_cloud(int argc, char **argv);

struct fault_plan;

/* The TLS options of `otahil run` and `otahil cloud` as fault-plan kinds:
 * 'T' --transport, 'C' --tls, 'F' --tls-fragment, 'H' --tls-heap. The
 * [plan] key and the option of a kind (NULL for other kinds), and the kind
 * of an option (0 for other options). */
const char *cmd_tls_key(char kind);
const char *cmd_tls_opt(char kind);
char cmd_tls_kind(const char *opt);

/* Builds the fault plan of the options --plan FILE (plan_file, may be NULL),
 * --http-fault and --mqtt-fault (value[i], with kind[i] 'h', 'm', 'p' or a TLS
 * kind above, in the order given) into p (release it with plan_free()). cmd names the command
 * in messages. 0, or -1 after printing one line to stderr. */
int cmd_fault_plan(const char *cmd, const char *plan_file, const char *const *value,
                   const char *kind, int nv, struct fault_plan *p);

/* otahil push --image FILE [--device PK/DN] [--workdir DIR | --api URL]
 *             [--sign-method Md5|Sha256] [--wait [--timeout S]]
 * Registers FILE with a running cloud and creates an upgrade job through the
 * REST API; prints the job id and the firmware URL. With --wait, polls the
 * job: 0 when it SUCCEEDED, 1 when it FAILED (the reason is printed), 2 on
 * timeout. */
int cmd_push(int argc, char **argv);

#endif /* CMD_CLOUD_H */
