/*
 * broker.h - control of a real Mosquitto broker process: configuration in a
 * work directory, start on a loopback port, readiness, liveness, stop.
 *
 * The broker is a child of the thread that calls broker_start(): it gets
 * SIGKILL when that thread exits (PR_SET_PDEATHSIG), so a harness that dies
 * never leaves a broker behind. Start it from a thread that lives as long as
 * the broker should (the main thread).
 */
#ifndef BROKER_H
#define BROKER_H

#include <stddef.h>
#include <sys/types.h>

#define BROKER_PATH_MAX 4096

/* The auth plugin (mock_cloud/broker_auth.c) and its options. */
struct broker_auth {
    const char *plugin;             /* the plugin's shared object (absolute path) */
    const char *registry;           /* plugin_opt_registry: the device registry file */
    const char *events;             /* plugin_opt_events: the run's event log; NULL = none */
};

struct broker {
    pid_t pid;                      /* mosquitto's pid; 0 = none started */
    int   port;                     /* MQTT listener on 127.0.0.1 */
    int   reaped;                   /* 1 once waitpid() collected it */
    int   wstatus;                  /* waitpid() status once reaped */
    char  conf[BROKER_PATH_MAX];    /* WORKDIR/mosquitto.conf */
    char  log[BROKER_PATH_MAX];     /* WORKDIR/mosquitto.log (broker log and its stdout/stderr) */
    char  auth_plugin[BROKER_PATH_MAX];   /* "" = anonymous access, no plugin */
    char  auth_registry[BROKER_PATH_MAX];
    char  auth_events[BROKER_PATH_MAX];   /* "" = no plugin_opt_events */
    int   tls_port;                 /* MQTT over TLS (mqtts) listener on 127.0.0.1; 0 = none */
    char  tls_files[3][BROKER_PATH_MAX]; /* its cafile, certfile, keyfile */
};

/* An optional TLS listener (broker_start_tls). */
struct broker_tls {
    int         port;               /* <= 0: a free loopback port */
    const char *cafile, *certfile, *keyfile; /* PEM files (testca.h) */
};

/* Writes WORKDIR/mosquitto.conf and starts `binary -c conf` with stdout and
 * stderr going to WORKDIR/mosquitto.log. binary NULL: "mosquitto" from PATH,
 * else /usr/sbin/mosquitto. port 0 picks a free loopback port and, if the
 * broker exits at once (the port was taken meanwhile), retries with another
 * one, up to 5 attempts. auth NULL: anonymous access; else the broker
 * loads auth->plugin with its options and refuses anonymous clients (a
 * plugin that fails to load or to read its registry makes the broker exit:
 * the error names the log). Returns once a TCP connect to the port succeeds
 * (within 5 s). Emits "broker.started" {"pid","port","config","auth"}.
 * b is filled in all cases (b->pid == 0 after a failure).
 * Returns 0, or -1 with a one-line reason in err (naming the log where it
 * helps): binary not found, workdir not writable, fork failed, broker exited,
 * or not ready within 5 s (then it is killed and reaped). */
int broker_start(struct broker *b, const char *binary, const char *workdir, int port,
                 const struct broker_auth *auth, char *err, size_t errlen);

/* broker_start with a second listener for MQTT over TLS (tls non-NULL):
 * the server certificate and key given, no client certificates, TLS 1.2 and
 * later, the same anonymous access. b->tls_port is set; readiness waits for
 * both listeners. Same returns as broker_start. */
int broker_start_tls(struct broker *b, const char *binary, const char *workdir, int port,
                     const struct broker_tls *tls, const struct broker_auth *auth, char *err,
                     size_t errlen);

/* Reaps the broker without blocking. Returns 1 while it runs, 0 once it has
 * exited (why, if non-NULL, then holds e.g. "killed by signal 9" or "exited
 * with status 1"; "not started" when pid is 0). The first call that sees the
 * exit emits "broker.exited" {"pid","status"}. */
int broker_alive(struct broker *b, char *why, size_t whylen);

/* Stops the broker: SIGTERM, up to 2 s for it to exit, then SIGKILL; reaps
 * it. Idempotent; safe on a broker that already exited or never started. */
void broker_stop(struct broker *b);

/* Describes a waitpid() status: "exited with status N" or "killed by signal
 * N". Returns buf. */
char *broker_describe_status(int wstatus, char *buf, size_t len);

/* The mosquitto executable: binary (a path, or a name looked up along PATH),
 * or NULL for "mosquitto" along PATH, else /usr/sbin/mosquitto. 0 with its
 * path in out, or -1 when there is none. */
int broker_find(const char *binary, char *out, size_t outlen);

/* A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it
 * back, close). The port or -1 (errno set). */
int broker_free_port(void);

/* 1 if another socket holds TCP port on 127.0.0.1 now (bind fails with
 * EADDRINUSE; a connection in TIME_WAIT does not count), else 0. */
int broker_port_taken(int port);

/* 1 if a TCP connect to 127.0.0.1:port succeeds now, else 0. */
int broker_port_open(int port);

#endif /* BROKER_H */
