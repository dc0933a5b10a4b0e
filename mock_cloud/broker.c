/*
 * broker.c - runs a real Mosquitto broker for the fake cloud.
 *
 * The broker is configured from scratch in the work directory (loopback
 * listener, no persistence, its log in the work directory; either the auth
 * plugin broker_auth.c with its registry, or anonymous access)
 * and started with fork+exec. The child asks the kernel for SIGKILL when its
 * parent thread dies, so no broker outlives the harness, and moves to its own
 * process group, so a Ctrl-C meant for the harness does not reach it: the
 * harness decides when the broker stops. Readiness is a successful TCP
 * connect to the listener; a broker that exits during start-up on a port we
 * picked ourselves (someone took it meanwhile) is retried on a fresh port.
 * With broker_start_tls a second listener speaks MQTT over TLS (mqtts).
 */
#include "mock_cloud/broker.h"
#include "sim/util/event.h"
#include "sim/util/evlog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BROKER_START_ATTEMPTS 5     /* fresh ports tried when the broker exits at start */
#define BROKER_READY_US       5000000u
#define BROKER_STOP_US        2000000u
#define BROKER_POLL_US        5000u

static void broker_sleep_us(unsigned us)
{
    struct timespec ts = { (time_t)(us / 1000000u), (long)(us % 1000000u) * 1000L };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

char *broker_describe_status(int wstatus, char *buf, size_t len)
{
    if (wstatus < 0)
        snprintf(buf, len, "exited (status unknown: reaped elsewhere)");
    else if (WIFSIGNALED(wstatus))
        snprintf(buf, len, "killed by signal %d", WTERMSIG(wstatus));
    else if (WIFEXITED(wstatus))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(wstatus));
    else
        snprintf(buf, len, "stopped (wait status 0x%x)", (unsigned)wstatus);
    return buf;
}

int broker_free_port(void)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    int s, port = -1, e;

    s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(s, (struct sockaddr *)&sa, &sl) == 0)
        port = ntohs(sa.sin_port);
    e = errno;
    close(s);
    errno = e;
    return port;
}

int broker_port_taken(int port)
{
    struct sockaddr_in sa;
    int s, one = 1, taken;

    s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return 0;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* TIME_WAIT is no owner */
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    taken = bind(s, (struct sockaddr *)&sa, sizeof sa) != 0 && errno == EADDRINUSE;
    close(s);
    return taken;
}

int broker_port_open(int port)
{
    struct sockaddr_in sa;
    int s, ok;

    s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return 0;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = connect(s, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(s);
    return ok;
}

/* Finds an executable: a name with a '/' as given, else along PATH. */
static int broker_find_binary(const char *name, char *out, size_t outlen)
{
    const char *path, *p;

    if (strchr(name, '/')) {
        if (access(name, X_OK) != 0 || (size_t)snprintf(out, outlen, "%s", name) >= outlen)
            return -1;
        return 0;
    }
    path = getenv("PATH");
    for (p = path; p && *p;) {
        const char *colon = strchr(p, ':');
        size_t dl = colon ? (size_t)(colon - p) : strlen(p);
        if (dl > 0 && (size_t)snprintf(out, outlen, "%.*s/%s", (int)dl, p, name) < outlen &&
            access(out, X_OK) == 0)
            return 0;
        p = colon ? colon + 1 : NULL;
    }
    return -1;
}

int broker_find(const char *binary, char *out, size_t outlen)
{
    const char *env = getenv("OTAHIL_MOSQUITTO");

    if (!binary && env && env[0])
        binary = env;
    if (binary)
        return broker_find_binary(binary, out, outlen);
    return broker_find_binary("mosquitto", out, outlen) == 0 ||
                   broker_find_binary("/usr/sbin/mosquitto", out, outlen) == 0
               ? 0
               : -1;
}

static int broker_write_conf(const struct broker *b)
{
    char tmp[BROKER_PATH_MAX + 8];
    FILE *f;
    int bad;

    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", b->conf) >= sizeof tmp)
        return -1;
    f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, "# Broker for one otahil run: loopback only, no persistence.\n"
               "listener %d 127.0.0.1\n"
               "persistence false\n"
               "set_tcp_nodelay true\n"
               "log_dest file %s\n"
               "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n",
            b->port, b->log);
    if (b->auth_plugin[0]) {
        fprintf(f, "allow_anonymous false\n"
                   "plugin %s\n"
                   "plugin_opt_registry %s\n", b->auth_plugin, b->auth_registry);
        if (b->auth_events[0])
            fprintf(f, "plugin_opt_events %s\n", b->auth_events);
    } else {
        fprintf(f, "allow_anonymous true\n");
    }
    /* Run as root, mosquitto switches to user "mosquitto", which cannot write
     * the log in our work directory: stay who we are. */
    if (geteuid() == 0)
        fprintf(f, "user root\n");
    if (b->tls_port > 0)
        fprintf(f, "# MQTT over TLS with the run's test CA (docs/cloud.md).\n"
                   "listener %d 127.0.0.1\n"
                   "cafile %s\ncertfile %s\nkeyfile %s\n"
                   "require_certificate false\n",
                b->tls_port, b->tls_files[0], b->tls_files[1], b->tls_files[2]);
    bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, b->conf) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* The last line of the broker log that names an error, for messages. */
static void broker_log_error(const struct broker *b, char *out, size_t outlen)
{
    char buf[4096], *auth = NULL;
    ssize_t n = 0;
    off_t size;
    int fd;

    out[0] = '\0';
    fd = open(b->log, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    size = lseek(fd, 0, SEEK_END);
    if (size > 0) {
        off_t from = size > (off_t)(sizeof buf - 1) ? size - (off_t)(sizeof buf - 1) : 0;
        n = pread(fd, buf, sizeof buf - 1, from);
    }
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *e = strstr(line, "Error"), *a = strstr(line, "otahil-auth:");
        if (e)
            snprintf(out, outlen, "%s", e);
        if (a)
            auth = a;
    }
    /* The auth plugin says why it refused to start before Mosquitto's own
     * "Error: Plugin returned N": name both. */
    if (auth && out[0] && strstr(out, "Plugin")) {
        size_t l = strlen(out);
        snprintf(out + l, outlen - l, " (%s)", auth);
    }
}

/* One attempt: fork+exec the broker on b->port. 0 ready, 1 exited at once
 * (b->wstatus set), -1 other failure (err set). */
static int broker_spawn(struct broker *b, const char *bin, char *err, size_t errlen)
{
    char *const argv[] = { (char *)bin, (char *)"-c", b->conf, NULL };
    pid_t parent = getpid(), pid;
    uint64_t t0;
    int logfd, nullfd, st;

    logfd = open(b->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) {
        snprintf(err, errlen, "cannot open broker log %s: %s", b->log, strerror(errno));
        return -1;
    }
    nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (nullfd < 0) {
        snprintf(err, errlen, "cannot open /dev/null: %s", strerror(errno));
        close(logfd);
        return -1;
    }
    pid = fork();
    if (pid == 0) {
        /* Child: async-signal-safe calls only until exec. */
        struct sigaction dfl;
        sigset_t none;

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        setpgid(0, 0);
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigaction(SIGPIPE, &dfl, NULL);
        sigaction(SIGTERM, &dfl, NULL);
        sigaction(SIGINT, &dfl, NULL);
        sigaction(SIGHUP, &dfl, NULL);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
            _exit(127);
        execv(bin, argv);
        _exit(127);
    }
    close(logfd);
    close(nullfd);
    if (pid < 0) {
        snprintf(err, errlen, "cannot fork the broker: %s", strerror(errno));
        return -1;
    }
    b->pid = pid;
    b->reaped = 0;

    t0 = evlog_now_us();
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR)) {
            b->reaped = 1;
            b->wstatus = r == pid ? st : -1;
            return 1;
        }
        if (broker_port_open(b->port) && (b->tls_port <= 0 || broker_port_open(b->tls_port))) {
            /* Connected: make sure it was our broker that answered. */
            if (waitpid(pid, &st, WNOHANG) == pid) {
                b->reaped = 1;
                b->wstatus = st;
                return 1;
            }
            return 0;
        }
        if (evlog_now_us() - t0 > BROKER_READY_US) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
            b->reaped = 1;
            b->wstatus = st;
            b->pid = 0;
            snprintf(err, errlen, "mosquitto (pid %d) did not accept connections on 127.0.0.1:%d "
                     "within 5 s; see %s", (int)pid, b->port, b->log);
            return -1;
        }
        broker_sleep_us(BROKER_POLL_US);
    }
}

int broker_start(struct broker *b, const char *binary, const char *workdir, int port,
                 const struct broker_auth *auth, char *err, size_t errlen)
{
    return broker_start_tls(b, binary, workdir, port, NULL, auth, err, errlen);
}

int broker_start_tls(struct broker *b, const char *binary, const char *workdir, int port,
                     const struct broker_tls *tls, const struct broker_auth *auth, char *err,
                     size_t errlen)
{
    char bin[PATH_MAX], dir[PATH_MAX], cfg[2 * BROKER_PATH_MAX];
    int attempt, rc = 1;

    memset(b, 0, sizeof *b);
    if (tls) {
        const char *files[3] = { tls->cafile, tls->certfile, tls->keyfile };
        for (int i = 0; i < 3; i++)
            if (!files[i] || strlen(files[i]) >= BROKER_PATH_MAX || strchr(files[i], '\n')) {
                snprintf(err, errlen, "broker TLS listener: missing or unusable %s path",
                         i == 0 ? "cafile" : i == 1 ? "certfile" : "keyfile");
                return -1;
            } else {
                snprintf(b->tls_files[i], BROKER_PATH_MAX, "%s", files[i]);
            }
    }
    if (broker_find(binary, bin, sizeof bin) != 0) {
        snprintf(err, errlen, "mosquitto broker not found (%s); install the mosquitto package",
                 binary ? binary : "looked in PATH and /usr/sbin");
        return -1;
    }
    if (!realpath(workdir, dir)) {
        snprintf(err, errlen, "broker work directory %s: %s", workdir, strerror(errno));
        return -1;
    }
    if ((size_t)snprintf(b->conf, sizeof b->conf, "%s/mosquitto.conf", dir) >= sizeof b->conf ||
        (size_t)snprintf(b->log, sizeof b->log, "%s/mosquitto.log", dir) >= sizeof b->log) {
        snprintf(err, errlen, "broker work directory path too long: %s", dir);
        return -1;
    }
    if (auth && (!auth->plugin || !auth->registry ||
                 (size_t)snprintf(b->auth_plugin, sizeof b->auth_plugin, "%s", auth->plugin) >=
                     sizeof b->auth_plugin ||
                 (size_t)snprintf(b->auth_registry, sizeof b->auth_registry, "%s",
                                  auth->registry) >= sizeof b->auth_registry ||
                 (size_t)snprintf(b->auth_events, sizeof b->auth_events, "%s",
                                  auth->events ? auth->events : "") >= sizeof b->auth_events)) {
        snprintf(err, errlen, "broker auth plugin, registry or event log path missing or too long");
        b->auth_plugin[0] = '\0';
        return -1;
    }

    for (attempt = 0; attempt < BROKER_START_ATTEMPTS && rc == 1; attempt++) {
        b->port = port > 0 ? port : broker_free_port();
        if (tls)
            b->tls_port = tls->port > 0 ? tls->port : broker_free_port();
        if (b->port <= 0 || (tls && b->tls_port <= 0)) {
            snprintf(err, errlen, "no free loopback port for the broker: %s", strerror(errno));
            return -1;
        }
        if (broker_write_conf(b) != 0) {
            snprintf(err, errlen, "cannot write %s: %s", b->conf, strerror(errno));
            return -1;
        }
        rc = broker_spawn(b, bin, err, errlen);
        if (rc == 1 && port > 0)
            break; /* the caller's port: nothing else to try */
    }
    if (rc == 1) {
        char how[64], why[256];
        broker_describe_status(b->wstatus, how, sizeof how);
        broker_log_error(b, why, sizeof why);
        snprintf(err, errlen, "mosquitto %s at start on 127.0.0.1:%d%s%s%s; see %s", how, b->port,
                 attempt > 1 ? " (after several ports)" : "", why[0] ? ": " : "", why, b->log);
        b->pid = 0;
        return -1;
    }
    if (rc < 0)
        return -1;
    evlog_emit("broker", "broker.started", "\"pid\":%d,\"port\":%d,\"tls_port\":%d,\"config\":\"%s\",\"auth\":%s",
               (int)b->pid, b->port, b->tls_port, otahil_json_escape(cfg, sizeof cfg, b->conf),
               b->auth_plugin[0] ? "true" : "false");
    return 0;
}

static void broker_reaped(struct broker *b, int wstatus, int requested)
{
    char how[64];

    b->reaped = 1;
    b->wstatus = wstatus;
    evlog_emit("broker", "broker.exited", "\"pid\":%d,\"status\":\"%s\",\"requested\":%s",
               (int)b->pid, broker_describe_status(wstatus, how, sizeof how),
               requested ? "true" : "false");
}

int broker_alive(struct broker *b, char *why, size_t whylen)
{
    pid_t r;
    int st;

    if (b->pid <= 0) {
        if (why)
            snprintf(why, whylen, "not started");
        return 0;
    }
    if (!b->reaped) {
        do
            r = waitpid(b->pid, &st, WNOHANG);
        while (r < 0 && errno == EINTR);
        if (r == 0)
            return 1;
        broker_reaped(b, r == b->pid ? st : -1, 0);
    }
    if (why)
        broker_describe_status(b->wstatus, why, whylen);
    return 0;
}

void broker_stop(struct broker *b)
{
    uint64_t t0;
    pid_t r;
    int st;

    if (b->pid <= 0 || b->reaped)
        return;
    kill(b->pid, SIGTERM);
    t0 = evlog_now_us();
    for (;;) {
        r = waitpid(b->pid, &st, WNOHANG);
        if (r == b->pid || (r < 0 && errno != EINTR))
            break;
        if (evlog_now_us() - t0 > BROKER_STOP_US) {
            kill(b->pid, SIGKILL);
            do
                r = waitpid(b->pid, &st, 0);
            while (r < 0 && errno == EINTR);
            break;
        }
        broker_sleep_us(BROKER_POLL_US);
    }
    broker_reaped(b, r == b->pid ? st : -1, 1);
}
