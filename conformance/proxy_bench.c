/*
 * proxy_bench.c - what the transport proxy costs (`otahil proxy --bench`).
 *
 * A server on a free loopback port answers one command per connection, each
 * in its own thread: 'U' reads to EOF and answers the byte count (upload),
 * 'D'+N sends N bytes and closes (download), 'P' echoes 64-byte messages
 * (ping-pong). Each figure is measured against the
 * server directly, through a proxy with no fault (the splice path), and
 * through a proxy whose faults do nothing (both:latency=0us: every byte
 * goes through user space and the fault pipeline). The three are measured
 * in turn, run after run, so that a busy host slows them alike. Throughput
 * is the median of several runs; latency the median of many round trips,
 * and the proxy's share of it is the difference, halved per hop (a round
 * trip crosses the proxy twice).
 *
 * On a host with two cores, direct loopback TCP already keeps both busy (the
 * sender copies in, the receiver copies out), so the unpinned ratio measures
 * the host as much as the proxy. The benchmark therefore also runs the
 * throughput with both endpoints pinned to one core and the proxy left free:
 * the same CPU for the endpoints either way, so the ratio is what the proxy
 * itself takes away.
 */
#include "conformance/proxy_bench.h"
#include "mock_cloud/proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PB_IO      (256u << 10)   /* bytes per write and read */
#define PB_MSG     64             /* ping-pong message size */
#define PB_WARMUP  200            /* round trips not counted */
#define PB_RTT_BLOCK 500          /* round trips per turn */
#define PB_TARGET_RATIO 0.9
#define PB_TARGET_HOP_US 100.0

struct pb_server {
    int             lfd;
    int             port;
    pthread_t       thr;     /* accepts */
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    int             active;  /* connection threads still running */
    int             stop;
    int             pin;     /* >= 0: connection threads run on this CPU only */
};

struct pb_job {
    struct pb_server *s;
    int               fd;
};

static uint64_t pb_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int pb_write_all(int fd, const void *buf, size_t len)
{
    const unsigned char *b = buf;

    while (len) {
        ssize_t n = send(fd, b, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

static int pb_read_all(int fd, void *buf, size_t len)
{
    unsigned char *b = buf;

    while (len) {
        ssize_t n = recv(fd, b, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

static void pb_nodelay(int fd)
{
    int one = 1;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int pb_connect(int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    pb_nodelay(fd);
    return fd;
}

/* Runs the calling thread on one CPU (cpu >= 0) or on every CPU (cpu < 0). */
static void pb_pin(int cpu)
{
    cpu_set_t set;
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    CPU_ZERO(&set);
    for (long c = 0; c < n && c < CPU_SETSIZE; c++)
        if (cpu < 0 || c == cpu)
            CPU_SET((int)c, &set);
    (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *pb_conn(void *arg)
{
    struct pb_job *j = arg;
    struct pb_server *s = j->s;
    unsigned char *buf = malloc(PB_IO), cmd;
    int fd = j->fd;
    uint64_t n = 0;

    free(j);
    if (s->pin >= 0)
        pb_pin(s->pin);
    if (buf && pb_read_all(fd, &cmd, 1) == 0) {
        memset(buf, 0x5a, PB_IO);
        if (cmd == 'U') {
            ssize_t r;
            while ((r = recv(fd, buf, PB_IO, 0)) > 0 || (r < 0 && errno == EINTR))
                if (r > 0)
                    n += (uint64_t)r;
            pb_write_all(fd, &n, sizeof n);
        } else if (cmd == 'D' && pb_read_all(fd, &n, sizeof n) == 0) {
            while (n) {
                size_t k = n < PB_IO ? (size_t)n : PB_IO;
                if (pb_write_all(fd, buf, k) != 0)
                    break;
                n -= k;
            }
        } else if (cmd == 'P') {
            unsigned char msg[PB_MSG];
            while (pb_read_all(fd, msg, sizeof msg) == 0 && pb_write_all(fd, msg, sizeof msg) == 0)
                ;
        }
    }
    close(fd);
    free(buf);
    pthread_mutex_lock(&s->mu);
    s->active--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void *pb_serve(void *arg)
{
    struct pb_server *s = arg;

    for (;;) {
        int fd = accept(s->lfd, NULL, NULL), stop;
        struct pb_job *j;
        pthread_attr_t at;
        pthread_t t;

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break;
        }
        pthread_mutex_lock(&s->mu);
        stop = s->stop;
        pthread_mutex_unlock(&s->mu);
        j = stop ? NULL : malloc(sizeof *j);
        if (!j) {
            close(fd);
            if (stop)
                break;
            continue;
        }
        pb_nodelay(fd);
        j->s = s;
        j->fd = fd;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        pthread_mutex_lock(&s->mu);
        s->active++;
        pthread_mutex_unlock(&s->mu);
        if (pthread_create(&t, &at, pb_conn, j) != 0) {
            close(fd);
            free(j);
            pthread_mutex_lock(&s->mu);
            s->active--;
            pthread_mutex_unlock(&s->mu);
        }
        pthread_attr_destroy(&at);
    }
    return NULL;
}

static int pb_server_start(struct pb_server *s)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;

    s->active = s->stop = 0;
    s->pin = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(s->lfd, 16) != 0 ||
        getsockname(s->lfd, (struct sockaddr *)&sa, &sl) != 0 ||
        pthread_create(&s->thr, NULL, pb_serve, s) != 0) {
        if (s->lfd >= 0)
            close(s->lfd);
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        return -1;
    }
    s->port = ntohs(sa.sin_port);
    return 0;
}

/* Stops accepting and waits for the connection threads (their clients
 * have closed by now). */
static void pb_server_stop(struct pb_server *s)
{
    int fd;

    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_mutex_unlock(&s->mu);
    fd = pb_connect(s->port);
    if (fd >= 0)
        close(fd);
    else
        shutdown(s->lfd, SHUT_RDWR);
    pthread_join(s->thr, NULL);
    close(s->lfd);
    pthread_mutex_lock(&s->mu);
    while (s->active > 0)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
}

/* Seconds to upload bytes (until the server has counted them), or < 0. */
static double pb_up(int port, uint64_t bytes, const unsigned char *buf)
{
    uint64_t t0, left = bytes, got = 0;
    int fd = pb_connect(port);

    if (fd < 0)
        return -1;
    t0 = pb_now_ns();
    if (pb_write_all(fd, "U", 1) != 0)
        goto fail;
    while (left) {
        size_t k = left < PB_IO ? (size_t)left : PB_IO;
        if (pb_write_all(fd, buf, k) != 0)
            goto fail;
        left -= k;
    }
    shutdown(fd, SHUT_WR);
    if (pb_read_all(fd, &got, sizeof got) != 0 || got != bytes)
        goto fail;
    close(fd);
    return (double)(pb_now_ns() - t0) / 1e9;
fail:
    close(fd);
    return -1;
}

/* Seconds to download bytes (until EOF), or < 0. */
static double pb_down(int port, uint64_t bytes, unsigned char *buf)
{
    unsigned char req[1 + sizeof(uint64_t)];
    uint64_t t0, got = 0;
    ssize_t r;
    int fd = pb_connect(port);

    if (fd < 0)
        return -1;
    req[0] = 'D';
    memcpy(req + 1, &bytes, sizeof bytes);
    t0 = pb_now_ns();
    if (pb_write_all(fd, req, sizeof req) != 0) {
        close(fd);
        return -1;
    }
    while ((r = recv(fd, buf, PB_IO, 0)) > 0 || (r < 0 && errno == EINTR))
        if (r > 0)
            got += (uint64_t)r;
    close(fd);
    if (got != bytes)
        return -1;
    return (double)(pb_now_ns() - t0) / 1e9;
}

static int pb_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double pb_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, pb_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Opens a ping-pong connection and warms it up. The socket or -1. */
static int pb_rtt_open(int port)
{
    unsigned char msg[PB_MSG];
    int fd = pb_connect(port);

    if (fd < 0)
        return -1;
    memset(msg, 0xa5, sizeof msg);
    if (pb_write_all(fd, "P", 1) != 0)
        goto fail;
    for (int i = 0; i < PB_WARMUP; i++)
        if (pb_write_all(fd, msg, sizeof msg) != 0 || pb_read_all(fd, msg, sizeof msg) != 0)
            goto fail;
    return fd;
fail:
    close(fd);
    return -1;
}

/* count round trips of a 64-byte message on fd, microseconds each into t. 0 or -1. */
static int pb_rtt(int fd, double *t, int count)
{
    unsigned char msg[PB_MSG];

    memset(msg, 0xa5, sizeof msg);
    for (int i = 0; i < count; i++) {
        uint64_t t0 = pb_now_ns();
        if (pb_write_all(fd, msg, sizeof msg) != 0 || pb_read_all(fd, msg, sizeof msg) != 0)
            return -1;
        t[i] = (double)(pb_now_ns() - t0) / 1e3;
    }
    return 0;
}

/* MiB/s of one run one way (up != 0: upload), or < 0. */
static double pb_rate(int port, int up, uint64_t bytes, unsigned char *buf)
{
    double s = up ? pb_up(port, bytes, buf) : pb_down(port, bytes, buf);

    return s > 0 ? (double)bytes / s / (1024.0 * 1024.0) : -1;
}

int proxy_bench_run(const struct proxy_bench_opts *o, FILE *out, char *err, size_t errlen)
{
    struct pb_server srv;
    struct proxy *px[2] = { NULL, NULL };
    double rate[3][2], rtt[3], *runs[3][2] = { { NULL } }, *samples[3] = { NULL }, pinned[2][2];
    int ports[3], fds[3] = { -1, -1, -1 }, rc = -1, rounds = o->rounds, nrtt = o->round_trips;
    unsigned char *buf;

    if (o->bytes == 0 || rounds < 1 || nrtt < 1) {
        snprintf(err, errlen, "bad benchmark options");
        return -1;
    }
    buf = malloc(PB_IO);
    for (int k = 0; k < 3; k++) {
        runs[k][0] = calloc((size_t)rounds, sizeof(double));
        runs[k][1] = calloc((size_t)rounds, sizeof(double));
        samples[k] = calloc((size_t)nrtt, sizeof(double));
        if (!runs[k][0] || !runs[k][1] || !samples[k]) {
            free(buf);
            buf = NULL;
        }
    }
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        goto out_mem;
    }
    memset(buf, 0x3c, PB_IO);
    if (pb_server_start(&srv) != 0) {
        snprintf(err, errlen, "cannot start the benchmark server: %s", strerror(errno));
        goto out_mem;
    }
    ports[0] = srv.port;
    for (int k = 0; k < 2; k++) {
        struct proxy_opts po = { k ? "bench-buffered" : "bench", PROXY_TCP, 0, "127.0.0.1", srv.port, 1 };
        px[k] = proxy_start(&po, err, errlen);
        if (!px[k])
            goto out;
        ports[k + 1] = proxy_port(px[k]);
    }
    {
        struct proxy_fault nothing;
        memset(&nothing, 0, sizeof nothing);
        nothing.type = PROXY_F_LATENCY;
        if (proxy_set_faults(px[1], PROXY_BOTH, &nothing, 1) != 0) {
            snprintf(err, errlen, "the proxy refused latency=0us");
            goto out;
        }
    }

    fprintf(out, "transport proxy: loopback, %.0f MiB per run, median of %d runs; median of %d round trips of "
            "%d bytes; direct and proxied measured in turn\n", (double)o->bytes / (1024.0 * 1024.0), rounds,
            nrtt, PB_MSG);
    for (int r = 0; r < rounds; r++) {
        for (int d = 0; d < 2; d++) {
            for (int k = 0; k < 3; k++) {
                runs[k][d][r] = pb_rate(ports[k], d == 0, o->bytes, buf);
                if (runs[k][d][r] < 0) {
                    snprintf(err, errlen, "a%s %s came up short", k ? " proxied" : " direct",
                             d ? "download" : "upload");
                    goto out;
                }
            }
        }
    }
    for (int k = 0; k < 3; k++) {
        rate[k][0] = pb_median(runs[k][0], rounds);
        rate[k][1] = pb_median(runs[k][1], rounds);
        if ((fds[k] = pb_rtt_open(ports[k])) < 0) {
            snprintf(err, errlen, "ping-pong%s failed", k ? " through the proxy" : " direct");
            goto out;
        }
    }
    for (int done = 0; done < nrtt; done += PB_RTT_BLOCK) {
        int n = nrtt - done < PB_RTT_BLOCK ? nrtt - done : PB_RTT_BLOCK;
        for (int k = 0; k < 3; k++) {
            if (pb_rtt(fds[k], samples[k] + done, n) != 0) {
                snprintf(err, errlen, "ping-pong%s failed", k ? " through the proxy" : " direct");
                goto out;
            }
        }
    }
    for (int k = 0; k < 3; k++)
        rtt[k] = pb_median(samples[k], nrtt);
    /* both endpoints on CPU 0, the proxy free: direct and the splice path */
    srv.pin = 0;
    pb_pin(0);
    for (int r = 0; r < rounds; r++)
        for (int d = 0; d < 2; d++)
            for (int k = 0; k < 2; k++)
                if ((runs[k][d][r] = pb_rate(ports[k], d == 0, o->bytes, buf)) < 0) {
                    pb_pin(-1);
                    snprintf(err, errlen, "a pinned%s %s came up short", k ? " proxied" : " direct",
                             d ? "download" : "upload");
                    goto out;
                }
    pb_pin(-1);
    srv.pin = -1;
    for (int k = 0; k < 2; k++)
        for (int d = 0; d < 2; d++)
            pinned[k][d] = pb_median(runs[k][d], rounds);
    for (int d = 0; d < 2; d++)
        fprintf(out, "  throughput %-4s          direct %7.0f MiB/s  proxy %7.0f MiB/s  ratio %.2f  (target >= %.1f)\n",
                d ? "down" : "up", rate[0][d], rate[1][d], rate[1][d] / rate[0][d], PB_TARGET_RATIO);
    for (int d = 0; d < 2; d++)
        fprintf(out, "  throughput %-4s pinned   direct %7.0f MiB/s  proxy %7.0f MiB/s  ratio %.2f  (target >= %.1f; "
                "both endpoints on CPU 0, the proxy free)\n",
                d ? "down" : "up", pinned[0][d], pinned[1][d], pinned[1][d] / pinned[0][d], PB_TARGET_RATIO);
    for (int d = 0; d < 2; d++)
        fprintf(out, "  throughput %-4s buffered direct %7.0f MiB/s  proxy %7.0f MiB/s  ratio %.2f  "
                "(faults that do nothing: both:latency=0us)\n",
                d ? "down" : "up", rate[0][d], rate[2][d], rate[2][d] / rate[0][d]);
    for (int k = 1; k < 3; k++)
        fprintf(out, "  round trip%s direct %6.1f us  proxy %6.1f us  added %5.1f us, %5.1f us per hop  "
                "(target < %.0f us per hop)\n", k == 1 ? "             " : " buffered    ", rtt[0], rtt[k],
                rtt[k] - rtt[0], (rtt[k] - rtt[0]) / 2, PB_TARGET_HOP_US);
    fflush(out);
    rc = 0;
out:
    for (int k = 0; k < 3; k++)
        if (fds[k] >= 0)
            close(fds[k]);
    proxy_stop(px[0]);
    proxy_stop(px[1]);
    pb_server_stop(&srv);
out_mem:
    for (int k = 0; k < 3; k++) {
        free(runs[k][0]);
        free(runs[k][1]);
        free(samples[k]);
    }
    free(buf);
    return rc;
}
