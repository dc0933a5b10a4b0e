/*
 * test_proxy.c - the transport fault proxy (mock_cloud/proxy.h) over real
 * loopback sockets: echo, send and sink servers this test starts on free
 * ports, the proxy between them and a client. Pass-through byte for byte
 * (splice and buffered paths), every TCP fault (close_after, reset now /
 * after bytes / after a time, black hole, slicer, latency, bandwidth), link
 * down and up, the nth-connection selector, faults changed on open
 * connections, seeded determinism (slice schedule, UDP loss/dup/reorder
 * patterns), the spec parser, and the `otahil proxy` command.
 *
 * Timings are only ever checked against generous lower bounds that the
 * proxy's own schedule guarantees, never against tight upper bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/testutil.h"

#include "conformance/cmd_proxy.h"
#include "mock_cloud/proxy.h"
#include "sim/util/evlog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SRV_MAX      16        /* connections one test server records */
#define IO_TIMEOUT_S 15        /* no single read or write of a test waits longer */

static char tmpdir[64];
static char events[128];
static pid_t cmd_child;          /* a running `otahil proxy`, killed at teardown if a test failed */

/* ---- time ---- */

/* ---- data ---- */

static unsigned char *pattern(size_t n, unsigned seed)
{
    unsigned char *b = malloc(n ? n : 1);
    uint32_t x = seed * 2654435761u + 1u;

    assert_non_null(b);
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b[i] = (unsigned char)x;
    }
    return b;
}

/* ---- events ---- */

/* Lines of the event log naming event `name` and holding every string of
 * the NULL-terminated list; the last such line into last (if non-NULL). */
static int count_events(const char *name, char *last, size_t lastlen, ...)
{
    char pat[96], *line = NULL;
    size_t cap = 0;
    int n = 0;
    FILE *f = fopen(events, "r");

    if (!f)
        return 0;
    snprintf(pat, sizeof pat, "\"ev\":\"%s\"", name);
    while (getline(&line, &cap, f) > 0) {
        va_list ap;
        const char *s;
        int ok = strstr(line, pat) != NULL;
        va_start(ap, lastlen);
        while (ok && (s = va_arg(ap, const char *)) != NULL)
            ok = strstr(line, s) != NULL;
        va_end(ap);
        if (ok) {
            n++;
            if (last)
                snprintf(last, lastlen, "%s", line);
        }
    }
    free(line);
    fclose(f);
    return n;
}

/* ---- sockets ---- */

static void set_timeouts(int fd)
{
    struct timeval tv = { IO_TIMEOUT_S, 0 };

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static void set_rcv_timeout_ms(int fd, unsigned ms)
{
    struct timeval tv = { (time_t)(ms / 1000u), (suseconds_t)(ms % 1000u) * 1000 };

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

static int listen_on(int type, int *port)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    if (type == SOCK_STREAM)
        assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static int tcp_connect(int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    set_timeouts(fd);
    return fd;
}

/* 0, or the errno of the failed send. */
static int send_all(int fd, const void *buf, size_t len)
{
    const unsigned char *b = buf;

    while (len) {
        ssize_t n = send(fd, b, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? errno : EIO;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

struct rx {
    size_t len;                  /* bytes received */
    int    err;                  /* 0: ended with EOF; else the errno (EAGAIN: timed out) */
    int    pieces;               /* reads that returned data */
    uint64_t ms;                 /* from the call to the end */
};

/* Reads into buf (max bytes) until EOF, an error or a timeout. */
static struct rx recv_to_end(int fd, unsigned char *buf, size_t max)
{
    struct rx r = { 0, 0, 0, 0 };
    uint64_t t0 = now_ms();

    for (;;) {
        ssize_t n = recv(fd, buf + r.len, max - r.len, 0);
        if (n > 0) {
            r.len += (size_t)n;
            r.pieces++;
            if (r.len == max) {
                unsigned char extra;
                n = recv(fd, &extra, 1, 0);
                if (n > 0) {
                    r.err = EMSGSIZE;
                    break;
                }
            } else {
                continue;
            }
        }
        if (n == 0)
            break;
        if (errno == EINTR)
            continue;
        r.err = errno == EWOULDBLOCK ? EAGAIN : errno;
        break;
    }
    r.ms = now_ms() - t0;
    return r;
}

/* Reads exactly len bytes or fails the test. */
static void recv_exact(int fd, void *buf, size_t len)
{
    unsigned char *b = buf;

    while (len) {
        ssize_t n = recv(fd, b, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            fail_msg("recv_exact: %s with %zu bytes to go", n == 0 ? "EOF" : strerror(errno), len);
        b += n;
        len -= (size_t)n;
    }
}

/* 1 if nothing arrives within ms. */
static int nothing_within(int fd, unsigned ms)
{
    struct pollfd pf = { fd, POLLIN, 0 };

    return poll(&pf, 1, (int)ms) == 0;
}

/* ---- test servers ---- */

enum srv_mode {
    SRV_ECHO,                    /* send back what arrives; FIN after the client's FIN */
    SRV_SEND,                    /* send the payload, FIN, then read to the end */
    SRV_SINK,                    /* read to the end */
};

struct srv_conn {
    int            fd;
    unsigned char *got;          /* bytes received */
    size_t         len, cap;
    int            err;          /* 0: ended with EOF; else the errno */
    int            send_err;     /* SRV_SEND: errno of a failed send */
    int            done;
};

struct srv {
    int             lfd, port;
    enum srv_mode   mode;
    const unsigned char *payload;
    size_t          payload_len;
    pthread_t       thr;
    pthread_t       workers[SRV_MAX];
    struct srv_conn conns[SRV_MAX];
    int             n;
    pthread_mutex_t mu;
    int             stop;
};

struct srv_job {
    struct srv *s;
    int         k;
};

static void srv_keep(struct srv *s, struct srv_conn *c, const unsigned char *b, size_t n)
{
    pthread_mutex_lock(&s->mu);
    if (c->len + n > c->cap) {
        c->cap = (c->len + n) * 2 + 4096;
        c->got = realloc(c->got, c->cap);
    }
    memcpy(c->got + c->len, b, n);
    c->len += n;
    pthread_mutex_unlock(&s->mu);
}

static void *srv_worker(void *arg)
{
    struct srv_job *j = arg;
    struct srv *s = j->s;
    struct srv_conn *c = &s->conns[j->k];
    unsigned char *buf = malloc(65536);
    int err = 0;

    free(j);
    if (s->mode == SRV_SEND) {
        c->send_err = send_all(c->fd, s->payload, s->payload_len);
        shutdown(c->fd, SHUT_WR);
    }
    for (;;) {
        ssize_t n = recv(c->fd, buf, 65536, 0);
        if (n > 0) {
            srv_keep(s, c, buf, (size_t)n);
            if (s->mode == SRV_ECHO)
                (void)send_all(c->fd, buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        err = n == 0 ? 0 : errno;
        break;
    }
    if (s->mode == SRV_ECHO)
        shutdown(c->fd, SHUT_WR);
    pthread_mutex_lock(&s->mu);
    c->err = err;
    c->done = 1;
    pthread_mutex_unlock(&s->mu);
    free(buf);
    return NULL;
}

static void *srv_accept(void *arg)
{
    struct srv *s = arg;

    for (;;) {
        struct pollfd pf = { s->lfd, POLLIN, 0 };
        int stop, fd, one = 1;

        pthread_mutex_lock(&s->mu);
        stop = s->stop;
        pthread_mutex_unlock(&s->mu);
        if (stop)
            break;
        if (poll(&pf, 1, 20) <= 0)
            continue;
        fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        set_timeouts(fd);
        pthread_mutex_lock(&s->mu);
        if (s->n >= SRV_MAX) {
            pthread_mutex_unlock(&s->mu);
            close(fd);
            continue;
        }
        struct srv_job *j = malloc(sizeof *j);
        j->s = s;
        j->k = s->n;
        s->conns[s->n].fd = fd;
        pthread_create(&s->workers[s->n], NULL, srv_worker, j);
        s->n++;
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

/* A server on a listening socket made earlier (lfd, port), or on a new one
 * (lfd -1). */
static struct srv *srv_start_on(enum srv_mode mode, const unsigned char *payload, size_t len, int lfd,
                                int port)
{
    struct srv *s = calloc(1, sizeof *s);

    assert_non_null(s);
    s->mode = mode;
    s->payload = payload;
    s->payload_len = len;
    pthread_mutex_init(&s->mu, NULL);
    if (lfd >= 0) {
        s->lfd = lfd;
        s->port = port;
    } else {
        s->lfd = listen_on(SOCK_STREAM, &s->port);
    }
    assert_int_equal(pthread_create(&s->thr, NULL, srv_accept, s), 0);
    return s;
}

static struct srv *srv_start(enum srv_mode mode, const unsigned char *payload, size_t len)
{
    return srv_start_on(mode, payload, len, -1, 0);
}

static int srv_count(struct srv *s)
{
    int n;

    pthread_mutex_lock(&s->mu);
    n = s->n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* Waits until connection k (0-based) has ended; returns it. */
static struct srv_conn *srv_wait(struct srv *s, int k, unsigned timeout_ms)
{
    uint64_t end = now_ms() + timeout_ms;

    for (;;) {
        int done;
        pthread_mutex_lock(&s->mu);
        done = k < s->n && s->conns[k].done;
        pthread_mutex_unlock(&s->mu);
        if (done)
            return &s->conns[k];
        if (now_ms() > end)
            fail_msg("server connection %d did not end within %u ms", k + 1, timeout_ms);
        sleep_ms(5);
    }
}

/* Bytes connection k has received so far. */
static size_t srv_len(struct srv *s, int k)
{
    size_t n;

    pthread_mutex_lock(&s->mu);
    n = k < s->n ? s->conns[k].len : 0;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void srv_stop(struct srv *s)
{
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    for (int k = 0; k < s->n; k++)
        shutdown(s->conns[k].fd, SHUT_RDWR);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thr, NULL);
    for (int k = 0; k < s->n; k++) {
        pthread_join(s->workers[k], NULL);
        close(s->conns[k].fd);
        free(s->conns[k].got);
    }
    close(s->lfd);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* ---- proxies ---- */

static struct proxy *px_start(const char *name, enum proxy_kind kind, int upstream, uint64_t seed)
{
    struct proxy_opts o = { name, kind, 0, "127.0.0.1", upstream, seed };
    char err[256];
    struct proxy *p = proxy_start(&o, err, sizeof err);

    if (!p)
        fail_msg("proxy_start: %s", err);
    assert_true(proxy_port(p) > 0);
    return p;
}

/* Sets the faults of the NULL-terminated spec list, direction by direction
 * (directions without a spec are cleared). */
static void px_faults(struct proxy *p, ...)
{
    struct proxy_fault l[2][PROXY_MAX_FAULTS];
    int n[2] = { 0, 0 };
    const char *spec;
    va_list ap;

    va_start(ap, p);
    while ((spec = va_arg(ap, const char *)) != NULL) {
        struct proxy_fault f;
        char err[256];
        int dir;
        if (proxy_fault_parse(spec, &f, &dir, err, sizeof err) != 0)
            fail_msg("spec %s: %s", spec, err);
        for (int d = 0; d < 2; d++)
            if (dir == d || dir == PROXY_BOTH)
                l[d][n[d]++] = f;
    }
    va_end(ap);
    for (int d = 0; d < 2; d++)
        assert_int_equal(proxy_set_faults(p, d, l[d], n[d]), 0);
}

/* ---- fixture ---- */

static int group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/otahil-proxy-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(events, sizeof events, "%s/events.jsonl", tmpdir);
    return evlog_open(events);
}

static int group_teardown(void **state)
{
    char cmd[160];

    (void)state;
    if (cmd_child > 0) {
        kill(cmd_child, SIGKILL);
        waitpid(cmd_child, NULL, 0);
        cmd_child = 0;
    }
    evlog_close();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- the spec format ---- */

static void parse_ok(const char *spec, struct proxy_fault *f, int *dir)
{
    char err[256] = "";

    if (proxy_fault_parse(spec, f, dir, err, sizeof err) != 0)
        fail_msg("'%s' refused: %s", spec, err);
}

static void parse_bad(const char *spec, const char *want)
{
    struct proxy_fault f;
    char err[256] = "";
    int dir;

    assert_int_equal(proxy_fault_parse(spec, &f, &dir, err, sizeof err), -EINVAL);
    if (!strstr(err, want))
        fail_msg("'%s': error '%s' does not name '%s'", spec, err, want);
    assert_null(strchr(err, '\n'));
}

static void test_parse_examples(void **state)
{
    struct proxy_fault f;
    int dir;

    (void)state;
    parse_ok("down:latency=20ms,jitter=5ms", &f, &dir);
    assert_int_equal(dir, PROXY_DOWN);
    assert_int_equal(f.type, PROXY_F_LATENCY);
    assert_int_equal(f.u.latency.us, 20000);
    assert_int_equal(f.u.latency.jitter_us, 5000);
    assert_int_equal(f.conn, 0);

    parse_ok("up:close_after=1000", &f, &dir);
    assert_int_equal(dir, PROXY_UP);
    assert_int_equal(f.type, PROXY_F_CLOSE_AFTER);
    assert_int_equal(f.u.close_after.bytes, 1000);

    parse_ok("down:slicer=64/16/200us", &f, &dir);
    assert_int_equal(f.type, PROXY_F_SLICER);
    assert_int_equal(f.u.slicer.avg, 64);
    assert_int_equal(f.u.slicer.var, 16);
    assert_int_equal(f.u.slicer.delay_us, 200);

    parse_ok("down:reset_after=5000", &f, &dir);
    assert_int_equal(f.type, PROXY_F_RESET);
    assert_int_equal(f.u.reset.bytes, 5000);
    assert_int_equal(f.u.reset.after_us, 0);
    parse_ok("down:reset_after=1.5s", &f, &dir);
    assert_int_equal(f.u.reset.bytes, 0);
    assert_int_equal(f.u.reset.after_us, 1500000);
    parse_ok("both:reset", &f, &dir);
    assert_int_equal(dir, PROXY_BOTH);
    assert_int_equal(f.type, PROXY_F_RESET);
    assert_int_equal(f.u.reset.bytes + f.u.reset.after_us, 0);

    parse_ok("down:blackhole", &f, &dir);
    assert_int_equal(f.type, PROXY_F_BLACKHOLE);
    assert_int_equal(f.u.blackhole.close_us, 0);
    parse_ok("up:blackhole=2s", &f, &dir);
    assert_int_equal(f.u.blackhole.close_us, 2000000);

    parse_ok("udp:loss=0.2", &f, &dir);
    assert_int_equal(dir, PROXY_BOTH);
    assert_int_equal(f.type, PROXY_F_LOSS);
    assert_true(f.u.loss.p == 0.2);
    parse_ok("up:loss=25%", &f, &dir);
    assert_true(f.u.loss.p == 0.25);
    parse_ok("udp:dup=0.1", &f, &dir);
    assert_int_equal(f.type, PROXY_F_DUP);
    parse_ok("udp:reorder=0.3,window=4,hold=50ms", &f, &dir);
    assert_int_equal(f.type, PROXY_F_REORDER);
    assert_int_equal(f.u.reorder.window, 4);
    assert_int_equal(f.u.reorder.hold_us, 50000);
    parse_ok("udp:reorder=0.3", &f, &dir);
    assert_int_equal(f.u.reorder.window, 1);
    assert_int_equal(f.u.reorder.hold_us, 100000);
    parse_ok("udp:delay=10ms,jitter=3ms", &f, &dir);
    assert_int_equal(f.type, PROXY_F_LATENCY);

    parse_ok("down:conn=2:close_after=40000", &f, &dir);
    assert_int_equal(f.conn, 2);
    assert_int_equal(f.u.close_after.bytes, 40000);
    parse_ok("down:close_after=40000,conn=3", &f, &dir);
    assert_int_equal(f.conn, 3);

    parse_ok("down:bandwidth=64KiB", &f, &dir);
    assert_int_equal(f.type, PROXY_F_BANDWIDTH);
    assert_int_equal(f.u.bandwidth.bps, 65536);
    parse_ok("down:bandwidth=1MB/s", &f, &dir);
    assert_int_equal(f.u.bandwidth.bps, 1000000);
    parse_ok("down:close_after=2MiB", &f, &dir);
    assert_int_equal(f.u.close_after.bytes, 2u << 20);
}

static void test_parse_errors(void **state)
{
    (void)state;
    parse_bad("", "empty");
    parse_bad("latency=20ms", "no direction");
    parse_bad("sideways:latency=20ms", "sideways");
    parse_bad("down:latency=20", "latency '20': a duration needs a unit");
    parse_bad("down:latency=20ms,jiter=5ms", "unknown key 'jiter'");
    parse_bad("down:latency=20ms,jitter=5", "jitter '5'");
    parse_bad("down:latency=20ms,jitter=1ms,jitter=2ms", "'jitter' given twice");
    parse_bad("down:latency", "latency needs a value");
    parse_bad("down:frobnicate=3", "unknown fault 'frobnicate'");
    parse_bad("up:close_after=lots", "close_after 'lots'");
    parse_bad("down:slicer=64/80/1ms", "variation '80'");
    parse_bad("down:slicer=0", "average size '0'");
    parse_bad("down:slicer=64/16/200", "slicer delay '200'");
    parse_bad("down:reset=5", "reset takes no value");
    parse_bad("down:reset_after=5parsecs", "reset_after '5parsecs'");
    parse_bad("down:reset_after=0", "reset_after '0'");
    parse_bad("udp:loss=1.5", "loss '1.5': not a probability");
    parse_bad("udp:loss=-0.1", "loss '-0.1'");
    parse_bad("udp:slicer=64", "udp: slicer is a TCP fault");
    parse_bad("udp:blackhole=1s", "no close time");
    parse_bad("down:conn=0:close_after=5", "conn '0'");
    parse_bad("down:conn=x:close_after=5", "conn 'x'");
    parse_bad("down:bandwidth=fast", "bandwidth 'fast'");
    parse_bad("down:bandwidth=64KiB,conn=1,conn=2", "'conn' given twice");
    parse_bad("udp:reorder=0.1,window=0", "window '0'");
    parse_bad("udp:reorder=0.1,hold=0ms", "hold '0ms'");
    parse_bad("down:latency=2days", "latency '2days'");
    parse_bad("down:latency=100000s", "out of range");
    parse_bad("down:latency=20ms:close_after=3", "one fault per spec");
}

static void test_format_roundtrip(void **state)
{
    static const char *const specs[] = {
        "down:latency=20ms,jitter=5ms", "up:close_after=1000",   "down:slicer=64/16/200us",
        "down:reset_after=5000",        "down:reset_after=250ms", "both:reset",
        "down:blackhole",               "up:blackhole=3s",        "both:loss=0.2",
        "up:dup=0.05",                  "down:reorder=0.3,window=4,hold=50ms",
        "down:conn=2:close_after=40000", "down:bandwidth=65536",  "up:latency=1500us",
    };

    (void)state;
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        struct proxy_fault f, g;
        char buf[160];
        int dir, dir2;
        parse_ok(specs[i], &f, &dir);
        assert_true(proxy_fault_format(&f, dir, buf, sizeof buf) > 0);
        assert_string_equal(buf, specs[i]);
        parse_ok(buf, &g, &dir2);
        assert_int_equal(dir, dir2);
        assert_memory_equal(&f, &g, sizeof f);
    }
}

static void test_set_faults_checks(void **state)
{
    struct proxy_fault f[PROXY_MAX_FAULTS + 1], loss, slicer;
    struct proxy *tcp, *udp;
    char err[256];
    int dir;

    (void)state;
    tcp = px_start("checks-tcp", PROXY_TCP, 9, 0);
    udp = px_start("checks-udp", PROXY_UDP, 9, 0);
    parse_ok("up:loss=0.5", &loss, &dir);
    parse_ok("up:slicer=10/2/1ms", &slicer, &dir);
    assert_int_equal(proxy_set_faults(tcp, PROXY_UP, &loss, 1), -EINVAL);
    assert_int_equal(proxy_fault_check(&loss, PROXY_TCP, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "loss is a datagram fault"));
    assert_int_equal(proxy_set_faults(udp, PROXY_UP, &slicer, 1), -EINVAL);
    assert_int_equal(proxy_fault_check(&slicer, PROXY_UDP, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "slicer is a TCP fault"));
    assert_int_equal(proxy_set_faults(udp, PROXY_BOTH, &loss, 1), 0);
    assert_int_equal(proxy_set_faults(tcp, 3, &slicer, 1), -EINVAL);
    assert_int_equal(proxy_set_faults(tcp, PROXY_UP, NULL, 1), -EINVAL);
    for (int i = 0; i <= PROXY_MAX_FAULTS; i++)
        f[i] = slicer;
    assert_int_equal(proxy_set_faults(tcp, PROXY_UP, f, PROXY_MAX_FAULTS + 1), -E2BIG);
    assert_int_equal(proxy_set_faults(tcp, PROXY_UP, f, PROXY_MAX_FAULTS), 0);
    slicer.u.slicer.var = slicer.u.slicer.avg;
    assert_int_equal(proxy_set_faults(tcp, PROXY_UP, &slicer, 1), -EINVAL);
    assert_int_equal(proxy_clear_faults(tcp, PROXY_BOTH), 0);
    assert_int_equal(proxy_clear_faults(tcp, -1), -EINVAL);
    assert_int_equal(proxy_link(tcp, 7), -EINVAL);
    proxy_stop(tcp);
    proxy_stop(udp);
    proxy_stop(NULL);
}

static void test_start_errors(void **state)
{
    struct proxy_opts o = { "bad", PROXY_TCP, 0, NULL, 80, 0 };
    char err[256];
    int port, fd;

    (void)state;
    assert_null(proxy_start(&o, err, sizeof err));
    assert_non_null(strstr(err, "upstream"));
    o.upstream_host = "127.0.0.1";
    o.upstream_port = 0;
    assert_null(proxy_start(&o, err, sizeof err));
    assert_non_null(strstr(err, "out of range"));
    o.upstream_port = 80;
    o.upstream_host = "no-such-host.invalid";
    assert_null(proxy_start(&o, err, sizeof err));
    assert_non_null(strstr(err, "no-such-host.invalid"));
    o.upstream_host = "127.0.0.1";
    fd = listen_on(SOCK_STREAM, &port);
    o.listen_port = port;
    assert_null(proxy_start(&o, err, sizeof err));
    assert_non_null(strstr(err, "cannot listen"));
    close(fd);
    o.listen_port = 0;
    o.name = "a-name-that-is-much-too-long-for-the-proxy";
    assert_null(proxy_start(&o, err, sizeof err));
    assert_non_null(strstr(err, "name"));
}

/* ---- TCP ---- */

struct writer {
    int                  fd;
    const unsigned char *buf;
    size_t               len;
    int                  err;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;

    w->err = send_all(w->fd, w->buf, w->len);
    shutdown(w->fd, SHUT_WR);
    return NULL;
}

/* Echoes len bytes through port and checks they come back byte for byte. */
static void echo_big(int port, size_t len, unsigned seed)
{
    unsigned char *out = pattern(len, seed), *in = malloc(len + 1);
    struct writer w;
    pthread_t t;
    struct rx r;

    assert_non_null(in);
    w = (struct writer){ tcp_connect(port), out, len, 0 };
    assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
    r = recv_to_end(w.fd, in, len + 1);
    pthread_join(t, NULL);
    assert_int_equal(w.err, 0);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.len, len);
    assert_memory_equal(in, out, len);
    close(w.fd);
    free(in);
    free(out);
}

static void test_passthrough(void **state)
{
    const size_t big = 16u << 20;
    struct srv *echo = srv_start(SRV_ECHO, NULL, 0);
    struct proxy *p = px_start("pass", PROXY_TCP, echo->port, 1);
    struct proxy_stats st;
    char port[32];

    (void)state;
    /* no fault: the splice path */
    echo_big(proxy_port(p), big, 1);
    /* faults that do nothing: every byte through the buffered path */
    px_faults(p, "both:latency=0us", NULL);
    echo_big(proxy_port(p), big, 2);

    proxy_stats(p, &st);
    assert_int_equal(st.conns, 2);
    assert_int_equal(st.bytes[PROXY_UP], 2 * big);
    assert_int_equal(st.bytes[PROXY_DOWN], 2 * big);
    assert_int_equal(st.dropped[PROXY_UP] + st.dropped[PROXY_DOWN], 0);
    for (int k = 0; k < 2; k++) {
        struct srv_conn *c = srv_wait(echo, k, 10000);
        assert_int_equal(c->len, big);
        assert_int_equal(c->err, 0);
    }
    for (uint64_t end = now_ms() + 5000; now_ms() < end; sleep_ms(5)) {
        proxy_stats(p, &st);
        if (st.open == 0)
            break;
    }
    assert_int_equal(st.open, 0);
    snprintf(port, sizeof port, "\"port\":%d", proxy_port(p));
    assert_int_equal(count_events("proxy.started", NULL, 0, "\"proxy\":\"pass\"", port, NULL), 1);
    assert_int_equal(count_events("proxy.conn_open", NULL, 0, "\"proxy\":\"pass\"", NULL), 2);
    assert_int_equal(count_events("proxy.conn_close", NULL, 0, "\"proxy\":\"pass\"", "\"how\":\"fin\"",
                                  NULL), 2);
    assert_int_equal(count_events("proxy.fault", NULL, 0, "\"proxy\":\"pass\"", "\"fault\":\"latency\"",
                                  NULL), 2);
    proxy_stop(p);
    assert_int_equal(count_events("proxy.stopped", NULL, 0, "\"proxy\":\"pass\"", NULL), 1);
    srv_stop(echo);
}

static void test_close_after(void **state)
{
    unsigned char *data = pattern(100000, 3), *in = malloc(200000);
    struct srv *send = srv_start(SRV_SEND, data, 100000), *sink = srv_start(SRV_SINK, NULL, 0);
    struct proxy *p = px_start("close", PROXY_TCP, send->port, 1);
    struct proxy *q = px_start("close-up", PROXY_TCP, sink->port, 1);
    struct proxy_stats st;
    struct srv_conn *c;
    char last[1024];
    struct rx r;
    int fd;

    (void)state;
    /* down: exactly N bytes, then EOF */
    px_faults(p, "down:close_after=40000", NULL);
    fd = tcp_connect(proxy_port(p));
    r = recv_to_end(fd, in, 200000);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.len, 40000);
    assert_memory_equal(in, data, 40000);
    close(fd);
    c = srv_wait(send, 0, 10000);
    assert_int_equal(c->err, 0); /* the cloud saw a FIN, not a reset */
    assert_int_equal(count_events("proxy.fault", last, sizeof last, "\"proxy\":\"close\"",
                                  "\"fault\":\"close_after\"", NULL), 1);
    assert_non_null(strstr(last, "\"offset\":40000"));
    assert_non_null(strstr(last, "\"dir\":\"down\""));
    assert_non_null(strstr(last, "\"conn\":1"));

    /* up: the cloud gets exactly N bytes and EOF; the device gets EOF too */
    px_faults(q, "up:close_after=1000", NULL);
    fd = tcp_connect(proxy_port(q));
    assert_int_equal(send_all(fd, data, 5000), 0);
    r = recv_to_end(fd, in, 200000);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.len, 0);
    close(fd);
    c = srv_wait(sink, 0, 10000);
    assert_int_equal(c->err, 0);
    assert_int_equal(c->len, 1000);
    assert_memory_equal(c->got, data, 1000);
    for (uint64_t end = now_ms() + 5000; now_ms() < end; sleep_ms(5)) {
        proxy_stats(q, &st);
        if (st.dropped[PROXY_UP] == 4000)
            break;
    }
    assert_int_equal(st.bytes[PROXY_UP], 1000);
    assert_int_equal(st.dropped[PROXY_UP], 4000);
    assert_true(st.faults >= 1);

    proxy_stop(p);
    proxy_stop(q);
    srv_stop(send);
    srv_stop(sink);
    free(data);
    free(in);
}

static void test_reset(void **state)
{
    unsigned char *data = pattern(100000, 4), *in = malloc(200000), buf[16];
    struct srv *send = srv_start(SRV_SEND, data, 100000), *echo = srv_start(SRV_ECHO, NULL, 0);
    struct proxy *p = px_start("reset", PROXY_TCP, send->port, 1);
    struct proxy *q = px_start("reset-echo", PROXY_TCP, echo->port, 1);
    struct srv_conn *c;
    char last[1024];
    struct rx r;
    int fd;

    (void)state;
    /* after N bytes: those bytes, then ECONNRESET */
    px_faults(p, "down:reset_after=5000", NULL);
    fd = tcp_connect(proxy_port(p));
    r = recv_to_end(fd, in, 200000);
    assert_int_equal(r.err, ECONNRESET);
    assert_true(r.len <= 5000);
    assert_memory_equal(in, data, r.len);
    close(fd);
    c = srv_wait(send, 0, 10000);
    assert_true(c->err == ECONNRESET || c->send_err == ECONNRESET || c->send_err == EPIPE);
    assert_int_equal(count_events("proxy.fault", last, sizeof last, "\"proxy\":\"reset\"",
                                  "\"fault\":\"reset\"", NULL), 1);
    assert_non_null(strstr(last, "\"offset\":5000"));
    /* the proxy's thread logs the close after the reset it sent: the client may see
     * the reset first */
    for (uint64_t end = now_ms() + 5000;
         count_events("proxy.conn_close", NULL, 0, "\"proxy\":\"reset\"", "\"how\":\"rst\"", NULL) < 1 &&
         now_ms() < end;)
        sleep_ms(5);
    assert_int_equal(count_events("proxy.conn_close", NULL, 0, "\"proxy\":\"reset\"", "\"how\":\"rst\"",
                                  NULL), 1);

    /* now: a standing reset resets every connection at once */
    px_faults(p, "down:reset", NULL);
    fd = tcp_connect(proxy_port(p));
    r = recv_to_end(fd, in, 200000);
    assert_int_equal(r.err, ECONNRESET);
    close(fd);

    /* after a time, on a connection that works until then */
    px_faults(q, "up:reset_after=300ms", NULL);
    fd = tcp_connect(proxy_port(q));
    assert_int_equal(send_all(fd, "ping", 4), 0);
    recv_exact(fd, buf, 4);
    assert_memory_equal(buf, "ping", 4);
    r = recv_to_end(fd, in, 200000);
    assert_int_equal(r.err, ECONNRESET);
    assert_true(r.ms >= 200); /* the timer counts from accept; we were in recv for most of it */
    close(fd);

    /* set on an open connection: takes effect at once */
    px_faults(q, NULL);
    fd = tcp_connect(proxy_port(q));
    assert_int_equal(send_all(fd, "pong", 4), 0);
    recv_exact(fd, buf, 4);
    px_faults(q, "down:reset", NULL);
    r = recv_to_end(fd, in, 200000);
    assert_int_equal(r.err, ECONNRESET);
    close(fd);

    proxy_stop(p);
    proxy_stop(q);
    srv_stop(send);
    srv_stop(echo);
    free(data);
    free(in);
}

static void test_blackhole(void **state)
{
    struct srv *echo = srv_start(SRV_ECHO, NULL, 0), *sink = srv_start(SRV_SINK, NULL, 0);
    struct proxy *p = px_start("hole", PROXY_TCP, echo->port, 1);
    struct proxy *q = px_start("hole-up", PROXY_TCP, sink->port, 1);
    unsigned char buf[64];
    struct proxy_stats st;
    struct srv_conn *c;
    struct rx r;
    int fd;

    (void)state;
    /* down: the cloud gets the request, its answer never arrives */
    px_faults(p, "down:blackhole", NULL);
    fd = tcp_connect(proxy_port(p));
    assert_int_equal(send_all(fd, "hello", 5), 0);
    for (uint64_t end = now_ms() + 5000; srv_len(echo, 0) < 5 && now_ms() < end;)
        sleep_ms(5);
    assert_int_equal(srv_len(echo, 0), 5);
    assert_true(nothing_within(fd, 300));
    proxy_stats(p, &st);
    assert_int_equal(st.dropped[PROXY_DOWN], 5);
    assert_int_equal(count_events("proxy.fault", NULL, 0, "\"proxy\":\"hole\"", "\"fault\":\"blackhole\"",
                                  "\"action\":\"swallow\"", NULL), 1);
    /* lifted: what was swallowed is gone, what follows flows, and so does the end */
    px_faults(p, NULL);
    assert_int_equal(send_all(fd, "again", 5), 0);
    recv_exact(fd, buf, 5);
    assert_memory_equal(buf, "again", 5);
    shutdown(fd, SHUT_WR);
    r = recv_to_end(fd, buf, sizeof buf);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.len, 0);
    close(fd);

    /* up, for a time: nothing reaches the cloud, then FIN both ways */
    px_faults(q, "up:blackhole=300ms", NULL);
    fd = tcp_connect(proxy_port(q));
    assert_int_equal(send_all(fd, "request", 7), 0);
    r = recv_to_end(fd, buf, sizeof buf);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.len, 0);
    assert_true(r.ms >= 200);
    close(fd);
    c = srv_wait(sink, 0, 10000);
    assert_int_equal(c->len, 0);
    assert_int_equal(c->err, 0);
    assert_int_equal(count_events("proxy.fault", NULL, 0, "\"proxy\":\"hole-up\"", "\"fault\":\"blackhole\"",
                                  "\"action\":\"fin\"", NULL), 1);

    proxy_stop(p);
    proxy_stop(q);
    srv_stop(echo);
    srv_stop(sink);
}

static void test_slicer(void **state)
{
    unsigned char *data = pattern(10000, 5), *in = malloc(20000);
    struct srv *send = srv_start(SRV_SEND, data, 10000);
    struct proxy *p = px_start("slice", PROXY_TCP, send->port, 9);
    struct rx r;
    int fd;

    (void)state;
    px_faults(p, "down:slicer=500/200/20ms", NULL);
    fd = tcp_connect(proxy_port(p));
    r = recv_to_end(fd, in, 20000);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.len, 10000);
    assert_memory_equal(in, data, 10000);
    /* about 20 slices 20 ms apart: many reads, and at least part of the delays */
    assert_true(r.pieces >= 5);
    assert_true(r.ms >= 150);
    close(fd);
    assert_int_equal(count_events("proxy.fault", NULL, 0, "\"proxy\":\"slice\"", "\"fault\":\"slicer\"", NULL),
                     1);
    proxy_stop(p);
    srv_stop(send);
    free(data);
    free(in);
}

static void test_latency(void **state)
{
    struct srv *echo = srv_start(SRV_ECHO, NULL, 0);
    struct proxy *p = px_start("lat", PROXY_TCP, echo->port, 3);
    unsigned char buf[16];
    int fd;

    (void)state;
    px_faults(p, "both:latency=50ms,jitter=10ms", NULL);
    fd = tcp_connect(proxy_port(p));
    for (int i = 0; i < 5; i++) {
        uint64_t t0 = now_ms();
        assert_int_equal(send_all(fd, "0123456789", 10), 0);
        recv_exact(fd, buf, 10);
        assert_memory_equal(buf, "0123456789", 10);
        /* two hops of at least 40 ms each */
        assert_true(now_ms() - t0 >= 75);
    }
    close(fd);
    /* jitter never reorders bytes */
    px_faults(p, "both:latency=3ms,jitter=3ms", NULL);
    echo_big(proxy_port(p), 2u << 20, 6);
    proxy_stop(p);
    srv_stop(echo);
}

static void test_bandwidth(void **state)
{
    unsigned char *data = pattern(256 << 10, 7), *in = malloc(512 << 10);
    struct srv *send = srv_start(SRV_SEND, data, 256 << 10);
    struct proxy *p = px_start("bw", PROXY_TCP, send->port, 1);
    struct rx r;
    int fd;

    (void)state;
    px_faults(p, "down:bandwidth=256KiB", NULL);
    fd = tcp_connect(proxy_port(p));
    r = recv_to_end(fd, in, 512 << 10);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.len, 256 << 10);
    assert_memory_equal(in, data, 256 << 10);
    /* a second's worth of data: the schedule alone takes 0.99 s */
    assert_true(r.ms >= 700);
    close(fd);
    proxy_stop(p);
    srv_stop(send);
    free(data);
    free(in);
}

static void test_link(void **state)
{
    struct srv *echo = srv_start(SRV_ECHO, NULL, 0);
    struct proxy *p = px_start("link", PROXY_TCP, echo->port, 1);
    unsigned char buf[16];
    struct rx r;
    int c1, c2, c3;

    (void)state;
    c1 = tcp_connect(proxy_port(p));
    assert_int_equal(send_all(c1, "a", 1), 0);
    recv_exact(c1, buf, 1);

    assert_int_equal(proxy_link(p, PROXY_LINK_DOWN), 0);
    assert_int_equal(send_all(c1, "b", 1), 0);
    c2 = tcp_connect(proxy_port(p)); /* accepted and held */
    assert_int_equal(send_all(c2, "c", 1), 0);
    assert_true(nothing_within(c1, 300));
    assert_true(nothing_within(c2, 50));
    assert_int_equal(srv_count(echo), 1); /* the held one never reached the cloud */
    assert_int_equal(count_events("proxy.conn_open", NULL, 0, "\"proxy\":\"link\"", "\"held\":true", NULL), 1);

    assert_int_equal(proxy_link(p, PROXY_LINK_UP), 0);
    recv_exact(c1, buf, 1);
    assert_int_equal(buf[0], 'b');
    recv_exact(c2, buf, 1);
    assert_int_equal(buf[0], 'c');

    assert_int_equal(proxy_link(p, PROXY_LINK_DOWN_RESET), 0);
    r = recv_to_end(c1, buf, sizeof buf);
    assert_int_equal(r.err, ECONNRESET);
    r = recv_to_end(c2, buf, sizeof buf);
    assert_int_equal(r.err, ECONNRESET);
    close(c1);
    close(c2);
    assert_int_equal(proxy_link(p, PROXY_LINK_UP), 0);
    c3 = tcp_connect(proxy_port(p));
    assert_int_equal(send_all(c3, "d", 1), 0);
    recv_exact(c3, buf, 1);
    assert_int_equal(buf[0], 'd');
    close(c3);
    assert_int_equal(count_events("proxy.link", NULL, 0, "\"proxy\":\"link\"", NULL), 4);
    assert_int_equal(count_events("proxy.link", NULL, 0, "\"proxy\":\"link\"", "\"reset\":true", NULL), 1);
    proxy_stop(p);
    srv_stop(echo);
}

static void test_nth_connection(void **state)
{
    unsigned char *data = pattern(1000, 8), in[4000];
    struct srv *send = srv_start(SRV_SEND, data, 1000);
    struct proxy *p = px_start("nth", PROXY_TCP, send->port, 1);
    const size_t want[3] = { 1000, 100, 1000 };

    (void)state;
    px_faults(p, "down:conn=2:close_after=100", NULL);
    for (int k = 0; k < 3; k++) {
        int fd = tcp_connect(proxy_port(p));
        struct rx r = recv_to_end(fd, in, sizeof in);
        assert_int_equal(r.err, 0);
        assert_int_equal(r.len, want[k]);
        assert_memory_equal(in, data, r.len);
        close(fd);
        srv_wait(send, k, 10000);
    }
    assert_int_equal(count_events("proxy.fault", NULL, 0, "\"proxy\":\"nth\"", "\"conn\":2", NULL), 1);
    assert_int_equal(count_events("proxy.fault", NULL, 0, "\"proxy\":\"nth\"", NULL), 1);
    proxy_stop(p);
    srv_stop(send);
    free(data);
}

/* The down schedule digest and draw count of one sliced download. */
static void sliced_schedule(const char *name, uint64_t seed, char *digest, size_t len)
{
    unsigned char *data = pattern(20000, 10), *in = malloc(40000);
    struct srv *send = srv_start(SRV_SEND, data, 20000);
    struct proxy *p = px_start(name, PROXY_TCP, send->port, seed);
    char pname[64], last[1024], *d;
    struct rx r;
    int fd;

    px_faults(p, "down:slicer=100/80/0us", NULL);
    fd = tcp_connect(proxy_port(p));
    r = recv_to_end(fd, in, 40000);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.len, 20000);
    assert_memory_equal(in, data, 20000);
    close(fd);
    proxy_stop(p);
    srv_stop(send);
    snprintf(pname, sizeof pname, "\"proxy\":\"%s\"", name);
    assert_int_equal(count_events("proxy.conn_close", last, sizeof last, pname, NULL), 1);
    d = strstr(last, "\"down_schedule\":\"");
    assert_non_null(d);
    snprintf(digest, len, "%.16s", d + 17);
    d = strstr(last, "\"draws\":[0,");
    assert_non_null(d);
    assert_true(atoi(d + 11) >= 100); /* about 20000 / 100 slices, each size drawn */
    snprintf(digest + strlen(digest), len - strlen(digest), "/%d", atoi(d + 11));
    free(data);
    free(in);
}

static void test_determinism(void **state)
{
    char a[64], b[64], c[64];

    (void)state;
    sliced_schedule("det-a", 5, a, sizeof a);
    sliced_schedule("det-b", 5, b, sizeof b);
    sliced_schedule("det-c", 6, c, sizeof c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
}

/* ---- UDP ---- */

struct udp_srv {
    int       fd, port;
    int       echo;              /* send each datagram back */
    pthread_t thr;
    pthread_mutex_t mu;
    uint32_t  seq[4096];         /* first 4 bytes of each datagram, in arrival order */
    int       n;
    int       stop;
};

static void *udp_srv_main(void *arg)
{
    struct udp_srv *s = arg;
    unsigned char buf[2048];

    for (;;) {
        struct pollfd pf = { s->fd, POLLIN, 0 };
        struct sockaddr_storage sa;
        socklen_t sl = sizeof sa;
        ssize_t n;
        int stop;

        pthread_mutex_lock(&s->mu);
        stop = s->stop;
        pthread_mutex_unlock(&s->mu);
        if (stop)
            break;
        if (poll(&pf, 1, 20) <= 0)
            continue;
        n = recvfrom(s->fd, buf, sizeof buf, 0, (struct sockaddr *)&sa, &sl);
        if (n < 4)
            continue;
        pthread_mutex_lock(&s->mu);
        if (s->n < 4096)
            memcpy(&s->seq[s->n++], buf, 4);
        pthread_mutex_unlock(&s->mu);
        if (s->echo)
            sendto(s->fd, buf, (size_t)n, 0, (struct sockaddr *)&sa, sl);
    }
    return NULL;
}

static struct udp_srv *udp_srv_start(int echo)
{
    struct udp_srv *s = calloc(1, sizeof *s);

    assert_non_null(s);
    s->echo = echo;
    pthread_mutex_init(&s->mu, NULL);
    s->fd = listen_on(SOCK_DGRAM, &s->port);
    assert_int_equal(pthread_create(&s->thr, NULL, udp_srv_main, s), 0);
    return s;
}

static void udp_srv_stop(struct udp_srv *s)
{
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thr, NULL);
    close(s->fd);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static int udp_client(int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* Sends n numbered datagrams of 64 bytes, 20 at a time. */
static void udp_send_numbered(int fd, uint32_t first, int n)
{
    unsigned char d[64];

    memset(d, 0x42, sizeof d);
    for (int i = 0; i < n; i++) {
        uint32_t k = first + (uint32_t)i;
        memcpy(d, &k, 4);
        assert_int_equal(send(fd, d, sizeof d, 0), (ssize_t)sizeof d);
        if (i % 20 == 19)
            sleep_ms(5);
    }
}

/* The arrival pattern of 300 datagrams through loss, dup and reorder. */
static int udp_pattern(uint64_t seed, uint32_t *seq, int max)
{
    struct udp_srv *sink = udp_srv_start(0);
    struct proxy *p = px_start("udp-pattern", PROXY_UDP, sink->port, seed);
    struct proxy_stats st;
    int fd, n;

    px_faults(p, "up:loss=0.3", "up:dup=0.2", "up:reorder=0.2,window=3,hold=300ms", NULL);
    fd = udp_client(proxy_port(p));
    udp_send_numbered(fd, 0, 300);
    /* until nothing has moved for longer than the hold time */
    for (uint64_t end = now_ms() + 10000, last = 0, since = now_ms(); now_ms() < end; sleep_ms(20)) {
        proxy_stats(p, &st);
        if (st.datagrams[PROXY_UP] + st.dropped[PROXY_UP] != last) {
            last = st.datagrams[PROXY_UP] + st.dropped[PROXY_UP];
            since = now_ms();
        } else if (now_ms() - since > 600) {
            break;
        }
    }
    close(fd);
    proxy_stop(p);
    pthread_mutex_lock(&sink->mu);
    n = sink->n < max ? sink->n : max;
    memcpy(seq, sink->seq, (size_t)n * sizeof *seq);
    pthread_mutex_unlock(&sink->mu);
    udp_srv_stop(sink);
    return n;
}

static void test_udp_determinism(void **state)
{
    static uint32_t a[1024], b[1024], c[1024];
    int na, nb, nc, seen[300] = { 0 }, lost = 0, dups = 0, out_of_order = 0;

    (void)state;
    na = udp_pattern(11, a, 1024);
    nb = udp_pattern(11, b, 1024);
    nc = udp_pattern(12, c, 1024);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, (size_t)na * sizeof *a);
    assert_true(na != nc || memcmp(a, c, (size_t)na * sizeof *a) != 0);
    for (int i = 0; i < na; i++) {
        assert_true(a[i] < 300);
        seen[a[i]]++;
        if (i && a[i] < a[i - 1])
            out_of_order++;
    }
    for (int k = 0; k < 300; k++) {
        lost += seen[k] == 0;
        dups += seen[k] > 1;
    }
    /* 30% loss, 20% dup, 20% held back: loose bounds */
    assert_true(lost >= 40 && lost <= 140);
    assert_true(dups >= 10);
    assert_true(out_of_order >= 5);
}

static void test_udp_down_and_clients(void **state)
{
    struct udp_srv *echo = udp_srv_start(1);
    struct proxy *p = px_start("udp-down", PROXY_UDP, echo->port, 3);
    int a = udp_client(proxy_port(p)), b, got = 0, got_b = 0;
    unsigned char buf[128];
    struct proxy_stats st;

    (void)state;
    px_faults(p, "down:conn=1:loss=0.5", NULL);
    set_rcv_timeout_ms(a, 300);
    udp_send_numbered(a, 1000, 100);
    while (recv(a, buf, sizeof buf, 0) == 64) {
        uint32_t k;
        memcpy(&k, buf, 4);
        assert_true(k >= 1000 && k < 1100);
        got++;
    }
    assert_true(got >= 20 && got <= 80);
    /* a second client has its own mapping, and conn=1 does not touch it */
    b = udp_client(proxy_port(p));
    set_rcv_timeout_ms(b, 300);
    udp_send_numbered(b, 5000, 40);
    while (recv(b, buf, sizeof buf, 0) == 64) {
        uint32_t k;
        memcpy(&k, buf, 4);
        assert_true(k >= 5000 && k < 5040);
        got_b++;
    }
    assert_int_equal(got_b, 40);
    assert_true(nothing_within(a, 50));
    proxy_stats(p, &st);
    assert_int_equal(st.conns, 2);
    assert_int_equal(st.datagrams[PROXY_UP], 140);
    assert_int_equal(st.datagrams[PROXY_DOWN], (uint64_t)(got + got_b));
    assert_int_equal(st.dropped[PROXY_DOWN], (uint64_t)(100 - got));
    assert_int_equal(count_events("proxy.fault", NULL, 0, "\"proxy\":\"udp-down\"", "\"action\":\"drop\"", NULL),
                     100 - got);
    close(a);
    close(b);
    proxy_stop(p);
    udp_srv_stop(echo);
}

/* ---- teardown with everything in flight ---- */

static void test_stop_busy(void **state)
{
    unsigned char *data = pattern(1 << 20, 12);
    struct srv *send = srv_start(SRV_SEND, data, 1 << 20);
    struct proxy *p = px_start("busy", PROXY_TCP, send->port, 1);
    struct proxy *u = px_start("busy-udp", PROXY_UDP, 9, 1);
    int fds[4], ufd;

    (void)state;
    px_faults(p, "down:latency=10s", "up:slicer=2/1/1s", NULL);
    fds[0] = tcp_connect(proxy_port(p));
    fds[1] = tcp_connect(proxy_port(p));
    assert_int_equal(send_all(fds[1], "queued upstream", 15), 0);
    for (uint64_t end = now_ms() + 5000; srv_count(send) < 2 && now_ms() < end;)
        sleep_ms(5);
    assert_int_equal(proxy_link(p, PROXY_LINK_DOWN), 0);
    fds[2] = tcp_connect(proxy_port(p)); /* held */
    fds[3] = tcp_connect(proxy_port(p));
    px_faults(u, "both:latency=10s", "up:reorder=1,window=5,hold=10s", NULL);
    ufd = udp_client(proxy_port(u));
    udp_send_numbered(ufd, 0, 3);
    sleep_ms(200);
    proxy_stop(p);
    proxy_stop(u);
    for (int k = 0; k < 4; k++)
        close(fds[k]);
    close(ufd);
    srv_stop(send);
    free(data);
}

/* ---- the command ---- */

static void test_cmd_options(void **state)
{
    char out[8192];

    (void)state;
    assert_int_equal(run_captured(tmpdir, cmd_proxy, (char *[]){ "proxy", "--help", NULL }, out, sizeof out), 0);
    assert_non_null(strstr(out, "usage: otahil proxy"));
    assert_non_null(strstr(out, "--fault SPEC"));
    assert_int_equal(run_captured(tmpdir, cmd_proxy, (char *[]){ "proxy", NULL }, out, sizeof out), 2);
    assert_non_null(strstr(out, "--upstream"));
    assert_int_equal(run_captured(tmpdir, cmd_proxy, (char *[]){ "proxy", "--upstream", "localhost", NULL }, out,
                                  sizeof out), 2);
    assert_non_null(strstr(out, "bad --upstream localhost"));
    assert_int_equal(run_captured(tmpdir, cmd_proxy, (char *[]){ "proxy", "--upstream", "127.0.0.1:1", "--fault",
                                                         "down:latency=20", NULL }, out, sizeof out), 2);
    assert_non_null(strstr(out, "a duration needs a unit"));
    assert_null(strchr(strchr(out, '\n') + 1, '\n')); /* one line */
    assert_int_equal(run_captured(tmpdir, cmd_proxy, (char *[]){ "proxy", "--upstream", "127.0.0.1:1", "--fault",
                                                         "up:loss=0.2", NULL }, out, sizeof out), 2);
    assert_non_null(strstr(out, "datagram fault"));
    assert_int_equal(run_captured(tmpdir, cmd_proxy, (char *[]){ "proxy", "--upstream=127.0.0.1:1", "--listen",
                                                         "99999", NULL }, out, sizeof out), 2);
    assert_non_null(strstr(out, "--listen"));
    assert_int_equal(run_captured(tmpdir, cmd_proxy, (char *[]){ "proxy", "--frobnicate", NULL }, out, sizeof out), 2);
    assert_non_null(strstr(out, "--frobnicate"));
    assert_int_equal(run_captured(tmpdir, cmd_proxy, (char *[]){ "proxy", "--bench", "--upstream", "127.0.0.1:1",
                                                         NULL }, out, sizeof out), 2);
    assert_non_null(strstr(out, "--bench"));
}

static void test_cmd_foreground(void **state)
{
    char outp[160], up[32], *buf, *at;
    unsigned char rb[8];
    int port = 0, status, fd, lfd, echo_port, rc;
    struct srv *echo;
    pid_t child;
    FILE *f;

    (void)state;
    /* Fork while this process runs no thread: a child forked while another
     * thread is inside the allocator can inherit its lock held (ASan). The
     * echo server's socket exists before the fork, its thread starts after. */
    lfd = listen_on(SOCK_STREAM, &echo_port);
    snprintf(outp, sizeof outp, "%s/cmdproxy.out", tmpdir);
    snprintf(up, sizeof up, "127.0.0.1:%d", echo_port);
    fflush(stdout);
    fflush(stderr);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        close(lfd);
        dup2(o, 1);
        dup2(o, 2);
        evlog_close();
        rc = cmd_proxy(9, (char *[]){ "proxy", "--upstream", up, "--name", "cmdtest", "--seed", "4",
                                      "--fault", "down:latency=1ms", NULL });
        fflush(NULL);
        _exit(rc);
    }
    cmd_child = child;
    echo = srv_start_on(SRV_ECHO, NULL, 0, lfd, echo_port);
    buf = calloc(1, 8192);
    for (uint64_t end = now_ms() + 10000; now_ms() < end; sleep_ms(10)) {
        f = fopen(outp, "r");
        if (f) {
            size_t n = fread(buf, 1, 8191, f);
            buf[n] = '\0';
            fclose(f);
        }
        if (strstr(buf, "fault down:latency=1ms\n"))
            break;
    }
    at = strstr(buf, "otahil proxy: cmdtest tcp 127.0.0.1:");
    if (!at) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        cmd_child = 0;
        fail_msg("no banner from otahil proxy: %.200s", buf);
    }
    port = atoi(at + strlen("otahil proxy: cmdtest tcp 127.0.0.1:"));
    assert_true(port > 0);
    assert_non_null(strstr(buf, up));
    fd = tcp_connect(port);
    assert_int_equal(send_all(fd, "x", 1), 0);
    recv_exact(fd, rb, 1);
    assert_int_equal(rb[0], 'x');
    close(fd);
    assert_int_equal(kill(child, SIGUSR1), 0);
    assert_int_equal(kill(child, SIGUSR2), 0);
    sleep_ms(100);
    assert_int_equal(kill(child, SIGTERM), 0);
    for (uint64_t end = now_ms() + 10000; waitpid(child, &status, WNOHANG) == 0; sleep_ms(10))
        if (now_ms() > end) {
            kill(child, SIGKILL);
            waitpid(child, &status, 0);
            cmd_child = 0;
            fail_msg("otahil proxy did not stop on SIGTERM");
        }
    cmd_child = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    f = fopen(outp, "r");
    assert_non_null(f);
    buf[fread(buf, 1, 8191, f)] = '\0';
    fclose(f);
    assert_non_null(strstr(buf, "link down"));
    assert_non_null(strstr(buf, "link up"));
    assert_non_null(strstr(buf, "1 connections, 1 bytes up, 1 bytes down"));
    free(buf);
    srv_stop(echo);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* the command forks: first, while this process runs no thread */
        cmocka_unit_test(test_cmd_options),
        cmocka_unit_test(test_cmd_foreground),
        cmocka_unit_test(test_parse_examples),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_format_roundtrip),
        cmocka_unit_test(test_set_faults_checks),
        cmocka_unit_test(test_start_errors),
        cmocka_unit_test(test_passthrough),
        cmocka_unit_test(test_close_after),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_blackhole),
        cmocka_unit_test(test_slicer),
        cmocka_unit_test(test_latency),
        cmocka_unit_test(test_bandwidth),
        cmocka_unit_test(test_link),
        cmocka_unit_test(test_nth_connection),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_udp_determinism),
        cmocka_unit_test(test_udp_down_and_clients),
        cmocka_unit_test(test_stop_busy),
    };
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
