/*
 * proxy.c - the transport fault proxy (mock_cloud/proxy.h): what a device's
 * network path does to bytes and datagrams, on purpose and reproducibly.
 *
 * One thread, one epoll set, non-blocking sockets and one min-heap of timers
 * (a connection or UDP client is one heap entry, keyed by the earliest
 * moment it needs attention).
 *
 * TCP, per connection and direction, bytes go src -> dst:
 *   - with no fault on the direction they go through a pipe with splice()
 *     and never enter user space;
 *   - with faults, each read (a chunk) becomes pieces {stream offset,
 *     length, release time}, and every fault of the list in turn rewrites
 *     them: latency moves them later, bandwidth spreads them out, slicer cuts
 *     them at seeded stream offsets, close_after and reset_after cut the
 *     stream and add a marker, blackhole drops them. Pieces then join a FIFO
 *     queue and are written once their time has come, so bytes never change
 *     order however the delays are drawn. A FIN from src is a marker that
 *     travels the same way behind the data it follows.
 * A FIN both ways ends a connection with close(); an error on either side
 * resets the other (SO_LINGER 0). close_after sends FIN both ways, then
 * reads and discards until both peers have closed (or PX_LINGER_US), so
 * that closing never turns into a RST.
 *
 * UDP: each datagram goes through the list as a unit (loss, dup, reorder,
 * latency, bandwidth, blackhole) into a queue sorted by release time, so
 * jitter may reorder datagrams, as a real network does.
 *
 * Randomness: one splitmix64 stream per fault, seeded by (proxy seed,
 * connection number, direction, position of the fault in its list). Slice
 * boundaries are drawn in stream offsets and datagram choices by datagram
 * number, so they do not depend on how the kernel happened to chunk the
 * reads. Every value drawn is folded into an FNV-1a digest per direction,
 * reported as "schedule" when the connection closes: two runs with the same
 * seed and traffic report the same digests.
 */
#include "mock_cloud/proxy.h"
#include "sim/util/event.h"
#include "sim/util/evlog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define PX_READ_CHUNK   65536u          /* bytes per read on the buffered path */
#define PX_QUEUE_MAX    (1u << 20)      /* queued bytes per direction before reading pauses */
#define PX_PIPE_SIZE    (1u << 20)      /* splice pipe size asked for (the kernel may give less) */
#define PX_STEP_MAX     (4u << 20)      /* bytes moved per direction per wake-up, for fairness */
#define PX_LINGER_US    2000000u        /* after FIN both ways: how long to wait for the peers */
#define PX_RST_DRAIN_US 500000u         /* reset_after N bytes: wait this long for them to leave */
#define PX_RST_POLL_US  1000u           /* ... checking this often */
#define PX_BW_SLOTS     100u            /* bandwidth: pieces of rate/100 bytes (10 ms each) */
#define PX_UDP_MAX      65536u          /* largest datagram */
#define PX_UDP_CLIENTS  256             /* clients remembered; the least recent is forgotten */
#define PX_UDP_FANOUT   64              /* datagrams one datagram can become (dup) */
#define PX_EPOLL_BATCH  64
#define PX_LISTEN_BACKLOG 128

enum px_tag { PX_T_LISTEN = 1, PX_T_WAKE, PX_T_END, PX_T_UDPC };
enum px_act { PX_DATA = 0, PX_EOF, PX_CLOSE, PX_RESET };
enum px_state { PX_HELD, PX_CONNECTING, PX_OPEN, PX_CLOSING, PX_DEAD };

/* A piece of a direction's queue, or a datagram. */
struct px_seg {
    struct px_seg *next;
    uint64_t       due;        /* release time, us (held datagram: hold deadline) */
    uint64_t       off;        /* stream offset of data[0] */
    uint64_t       dgram;      /* UDP: datagram number in its direction, from 1 */
    uint32_t       len;        /* data bytes (markers: 0, their fault follows in data) */
    uint32_t       done;       /* bytes already written (held datagram: later ones still to pass) */
    uint8_t        act;        /* enum px_act */
    unsigned char  data[];
};

/* A piece while the faults rewrite a chunk; data stays in the read buffer. */
struct px_piece {
    uint64_t off;              /* stream offset */
    uint64_t due;              /* release time, us */
    uint32_t len;              /* bytes (0 for a marker) */
    uint8_t  act;              /* enum px_act */
    uint8_t  pos;              /* markers: position of their fault */
};

struct px_timer {
    uint64_t         due;      /* UINT64_MAX: not scheduled */
    int              idx;      /* position in the heap, -1 when not in it */
    int              tag;      /* PX_T_END (a connection) or PX_T_UDPC */
    void            *owner;
    struct px_timer *run_next; /* list of timers due in this loop turn */
};

/* One fault on one direction of one connection. */
struct px_flt {
    struct proxy_fault f;
    int            pos;        /* index in the configured list */
    uint64_t       rng;        /* splitmix64 state */
    uint64_t       armed;      /* us when it took effect here; its timers count from it */
    int            reported;   /* shaping faults: first action logged; blackhole: logged at arm */
    int            fired;      /* one-shot faults: done (markers: queued) */
    uint32_t       slice_left; /* slicer: bytes left in the current slice */
    int            sliced;     /* slicer: a slice was started */
    uint64_t       slice_due;  /* slicer: release time of the current slice */
    uint64_t       bw_next_ns; /* bandwidth: when the next byte may go, ns */
    struct px_seg *held;       /* UDP reorder: datagrams held back, oldest first */
};

struct px_conn;

/* One socket of a connection, as epoll sees it. */
struct px_end {
    int             tag;       /* PX_T_END; first, epoll data points here */
    int             fd;        /* -1 once closed */
    struct px_conn *c;
    uint32_t        ev;        /* registered events; 0 = not in the epoll set */
    int             blocked;   /* a write hit EAGAIN: waiting for EPOLLOUT */
};

/* One direction of a connection or UDP client. */
struct px_dir {
    int            d;          /* PROXY_UP / PROXY_DOWN */
    uint32_t       idx;        /* connection number, for events */
    struct px_end *src, *dst;  /* TCP */
    uint64_t       rx;         /* bytes taken from src (the stream offset of the next one) */
    uint64_t       tx;         /* bytes written to dst */
    uint64_t       n;          /* UDP: datagrams received */
    struct px_seg *head, *tail;
    size_t         queued;     /* data bytes in the queue */
    uint64_t       last_due;   /* release time of the newest piece (TCP keeps order) */
    int            pipe_r, pipe_w; /* splice path, -1 until used */
    size_t         inpipe;     /* bytes in the pipe */
    int            eof;        /* src sent FIN (or, closing, has been drained) */
    int            shut;       /* the FIN went on to dst */
    int            eof_lost;   /* a fault swallowed the FIN */
    struct px_flt  flt[PROXY_MAX_FAULTS];
    int            nflt;
    uint64_t       digest;     /* FNV-1a of every value drawn */
    uint64_t       draws;      /* values drawn */
};

struct px_conn {
    struct px_conn *next, *prev;
    uint32_t        idx;       /* 1-based, accept order */
    enum px_state   st;
    struct px_end   cli, up;   /* device side, cloud side */
    struct px_dir   dir[2];
    struct px_timer tm;
    uint64_t        linger_until; /* PX_CLOSING: give up waiting for the peers */
    uint64_t        rst_until;    /* a reset marker was reached: RST when its bytes left, or then */
    int             rst_dir;
    const char     *reason;    /* why it is closing */
    char            peer[64];
};

struct px_udpc {
    int              tag;      /* PX_T_UDPC; first, epoll data points here */
    struct px_udpc  *next, *prev;
    uint32_t         idx;      /* 1-based, order of first datagram */
    struct sockaddr_storage addr; /* the client */
    socklen_t        alen;
    int              fd;       /* connected to the upstream */
    struct px_dir    dir[2];
    struct px_timer  tm;
    uint64_t         last_us;  /* last datagram either way */
    int              dead;
    char             peer[64];
};

/* What callers set; the loop takes a copy when a generation changes. */
struct px_cfg {
    struct proxy_fault f[2][PROXY_MAX_FAULTS];
    int                n[2];
    unsigned           gen[2];
    int                link;   /* enum proxy_link_state */
    unsigned           link_gen;
};

struct proxy {
    char              name[PROXY_NAME_MAX];
    enum proxy_kind   kind;
    uint64_t          seed;
    struct sockaddr_storage upaddr;
    socklen_t         uplen;
    char              upstream[320]; /* host:port, for events */
    int               port;
    int               lfd;         /* TCP listener or the clients' UDP socket */
    int               epfd;
    int               wakefd;      /* eventfd: configuration changed or stop */
    int               lfd_tag, wake_tag;
    pthread_t         thr;
    pthread_mutex_t   mu;          /* guards cfg and stopping */
    struct px_cfg     cfg;
    int               stopping;
    /* the loop thread's own */
    struct px_cfg     cur;
    int               link_up;
    struct px_conn   *conns, *zombies;
    struct px_udpc   *clients, *uzombies;
    int               nclients;
    uint32_t          nconn;       /* connections (clients) so far */
    struct px_timer **heap;
    int               hn, hcap;
    int               owners;      /* connections and clients alive: the heap holds at most this many */
    unsigned char    *rbuf;        /* PX_UDP_MAX >= PX_READ_CHUNK bytes */
    struct px_piece  *pa, *pb;     /* piece arrays, pcap each */
    size_t            pcap;
    /* counters, atomic */
    struct proxy_stats st;
};

#define PX_ADD(p, field, v) __atomic_fetch_add(&(p)->st.field, (uint64_t)(v), __ATOMIC_RELAXED)
#define PX_SUB(p, field, v) __atomic_fetch_sub(&(p)->st.field, (uint64_t)(v), __ATOMIC_RELAXED)

static const char *const px_dir_name[2] = { "up", "down" };

/* ---- randomness ---- */

static uint64_t px_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t px_seed(uint64_t seed, uint32_t idx, int d, int pos)
{
    uint64_t s = seed, h;

    h = px_next(&s);
    s = h ^ idx;
    h = px_next(&s);
    s = h ^ (uint64_t)d;
    h = px_next(&s);
    s = h ^ (uint64_t)pos;
    return px_next(&s);
}

static void px_digest(struct px_dir *dr, uint64_t v)
{
    if (!dr->draws)
        dr->digest = 0xcbf29ce484222325ull;
    for (int i = 0; i < 8; i++) {
        dr->digest ^= (v >> (8 * i)) & 0xffu;
        dr->digest *= 0x100000001b3ull;
    }
    dr->draws++;
}

/* Uniform in [0, bound), bound >= 1. */
static uint64_t px_below(struct px_dir *dr, struct px_flt *fl, uint64_t bound)
{
    uint64_t r = (uint64_t)(((unsigned __int128)px_next(&fl->rng) * bound) >> 64);

    px_digest(dr, r);
    return r;
}

static int px_chance(struct px_dir *dr, struct px_flt *fl, double p)
{
    double u = (double)(px_next(&fl->rng) >> 11) * 0x1p-53;
    int yes = u < p;

    px_digest(dr, (uint64_t)yes);
    return yes;
}

/* delay +/- jitter, never below 0. */
static uint64_t px_jitter(struct px_dir *dr, struct px_flt *fl, uint64_t us, uint64_t jitter)
{
    uint64_t r;

    if (!jitter)
        return us;
    r = px_below(dr, fl, 2 * jitter + 1);
    return us + r >= jitter ? us + r - jitter : 0;
}

/* ---- timers: a binary min-heap of px_timer, indexed ---- */

static void px_heap_place(struct proxy *p, int i, struct px_timer *t)
{
    p->heap[i] = t;
    t->idx = i;
}

static void px_heap_up(struct proxy *p, int i)
{
    struct px_timer *t = p->heap[i];

    while (i > 0) {
        int up = (i - 1) / 2;
        if (p->heap[up]->due <= t->due)
            break;
        px_heap_place(p, i, p->heap[up]);
        i = up;
    }
    px_heap_place(p, i, t);
}

static void px_heap_down(struct proxy *p, int i)
{
    struct px_timer *t = p->heap[i];

    for (;;) {
        int l = 2 * i + 1, m = l;
        if (l >= p->hn)
            break;
        if (l + 1 < p->hn && p->heap[l + 1]->due < p->heap[l]->due)
            m = l + 1;
        if (p->heap[m]->due >= t->due)
            break;
        px_heap_place(p, i, p->heap[m]);
        i = m;
    }
    px_heap_place(p, i, t);
}

/* Room for the timer of one more owner; call before it is created. 0 or -1. */
static int px_heap_reserve(struct proxy *p)
{
    if (p->owners < p->hcap)
        return 0;
    int cap = p->hcap ? 2 * p->hcap : 64;
    struct px_timer **h = realloc(p->heap, (size_t)cap * sizeof *h);
    if (!h)
        return -1;
    p->heap = h;
    p->hcap = cap;
    return 0;
}

/* Schedules t at due (UINT64_MAX: unschedules it). */
static void px_timer_set(struct proxy *p, struct px_timer *t, uint64_t due)
{
    if (due == UINT64_MAX) {
        if (t->idx >= 0) {
            int i = t->idx;
            struct px_timer *last = p->heap[--p->hn];
            t->idx = -1;
            if (i < p->hn) {
                px_heap_place(p, i, last);
                px_heap_up(p, i);
                px_heap_down(p, last->idx);
            }
        }
        t->due = UINT64_MAX;
        return;
    }
    if (t->idx < 0) {
        t->due = due;
        px_heap_place(p, p->hn++, t); /* room reserved when the owner was made */
        px_heap_up(p, t->idx);
        return;
    }
    if (due < t->due) {
        t->due = due;
        px_heap_up(p, t->idx);
    } else if (due > t->due) {
        t->due = due;
        px_heap_down(p, t->idx);
    }
}

/* ---- events ---- */

static void px_fault_ev(struct proxy *p, struct px_dir *dr, const struct proxy_fault *f, const char *action,
                        uint64_t offset, uint64_t datagram)
{
    char spec[160], dg[40] = "";

    proxy_fault_format(f, dr->d, spec, sizeof spec);
    if (datagram)
        snprintf(dg, sizeof dg, ",\"datagram\":%llu", (unsigned long long)datagram);
    PX_ADD(p, faults, 1);
    evlog_emit("proxy", "proxy.fault",
               "\"proxy\":\"%s\",\"conn\":%u,\"dir\":\"%s\",\"fault\":\"%s\",\"action\":\"%s\","
               "\"offset\":%llu%s,\"spec\":\"%s\"",
               p->name, dr->idx, px_dir_name[dr->d], proxy_fault_name(f->type), action,
               (unsigned long long)offset, dg, spec);
}

static void px_close_ev(struct proxy *p, uint32_t idx, struct px_dir *dir, const char *how,
                        const char *reason)
{
    char why[160];

    evlog_emit("proxy", "proxy.conn_close",
               "\"proxy\":\"%s\",\"conn\":%u,\"how\":\"%s\",\"reason\":\"%s\",\"up\":%llu,\"down\":%llu,"
               "\"up_schedule\":\"%016llx\",\"down_schedule\":\"%016llx\",\"draws\":[%llu,%llu]",
               p->name, idx, how, otahil_json_escape(why, sizeof why, reason),
               (unsigned long long)dir[0].tx, (unsigned long long)dir[1].tx,
               (unsigned long long)dir[0].digest, (unsigned long long)dir[1].digest,
               (unsigned long long)dir[0].draws, (unsigned long long)dir[1].draws);
}

static void px_peer(const struct sockaddr_storage *sa, char *buf, size_t len)
{
    char a[INET6_ADDRSTRLEN] = "?";

    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s->sin_addr, a, sizeof a);
        snprintf(buf, len, "%s:%u", a, ntohs(s->sin_port));
    } else if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof a);
        snprintf(buf, len, "[%s]:%u", a, ntohs(s->sin6_port));
    } else {
        snprintf(buf, len, "?");
    }
}

/* ---- queues ---- */

static struct px_seg *px_seg_new(uint64_t due, uint64_t off, const void *data, uint32_t len)
{
    struct px_seg *s = malloc(sizeof *s + len);

    if (!s)
        return NULL;
    s->next = NULL;
    s->due = due;
    s->off = off;
    s->dgram = 0;
    s->len = len;
    s->done = 0;
    s->act = PX_DATA;
    if (len)
        memcpy(s->data, data, len);
    return s;
}

/* A marker (EOF, or the threshold of f, which it carries for the log). */
static struct px_seg *px_marker_new(uint64_t due, uint64_t off, int act, const struct proxy_fault *f)
{
    struct px_seg *s = px_seg_new(due, off, NULL, 0);

    if (s && f) {
        struct px_seg *b = realloc(s, sizeof *s + sizeof *f);
        if (!b) {
            free(s);
            return NULL;
        }
        s = b;
        memcpy(s->data, f, sizeof *f);
    }
    if (s)
        s->act = (uint8_t)act;
    return s;
}

static void px_seg_free_list(struct px_seg *s)
{
    while (s) {
        struct px_seg *n = s->next;
        free(s);
        s = n;
    }
}

/* Appends to a TCP direction's FIFO, keeping release times in order. */
static void px_queue_push(struct px_dir *dr, struct px_seg *s)
{
    if (s->due < dr->last_due)
        s->due = dr->last_due;
    dr->last_due = s->due;
    if (dr->tail)
        dr->tail->next = s;
    else
        dr->head = s;
    dr->tail = s;
    dr->queued += s->len;
}

static void px_queue_pop(struct px_dir *dr)
{
    struct px_seg *s = dr->head;

    dr->head = s->next;
    if (!dr->head)
        dr->tail = NULL;
    dr->queued -= s->len;
    free(s);
}

/* Inserts a datagram into a UDP direction's queue, sorted by release time,
 * after those due at the same time. */
static void px_queue_sorted(struct px_dir *dr, struct px_seg *s)
{
    struct px_seg **pp = &dr->head;

    if (dr->tail && dr->tail->due <= s->due)
        pp = &dr->tail->next;
    else
        while (*pp && (*pp)->due <= s->due)
            pp = &(*pp)->next;
    s->next = *pp;
    *pp = s;
    if (!s->next)
        dr->tail = s;
    dr->queued += s->len;
}

static void px_dir_clear(struct proxy *p, struct px_dir *dr, int count_dropped)
{
    uint64_t dropped = 0;

    for (struct px_seg *s = dr->head; s; s = s->next)
        dropped += p->kind == PROXY_UDP ? 1 : s->len - s->done;
    px_seg_free_list(dr->head);
    dr->head = dr->tail = NULL;
    dr->queued = 0;
    for (int i = 0; i < dr->nflt; i++) {
        for (struct px_seg *s = dr->flt[i].held; s; s = s->next)
            dropped++;
        px_seg_free_list(dr->flt[i].held);
        dr->flt[i].held = NULL;
    }
    if (count_dropped && dropped)
        PX_ADD(p, dropped[dr->d], dropped);
}

static void px_dir_init(struct px_dir *dr, int d, uint32_t idx)
{
    memset(dr, 0, sizeof *dr);
    dr->d = d;
    dr->idx = idx;
    dr->pipe_r = dr->pipe_w = -1;
}

static void px_dir_free(struct proxy *p, struct px_dir *dr)
{
    px_dir_clear(p, dr, 0);
    if (dr->pipe_r >= 0)
        close(dr->pipe_r);
    if (dr->pipe_w >= 0)
        close(dr->pipe_w);
    dr->pipe_r = dr->pipe_w = -1;
    dr->inpipe = 0;
}

/* ---- epoll ---- */

static void px_want(struct proxy *p, int fd, uint32_t *have, uint32_t want, void *cookie)
{
    struct epoll_event ev;

    if (fd < 0 || *have == want)
        return;
    memset(&ev, 0, sizeof ev);
    ev.events = want;
    ev.data.ptr = cookie;
    if (!want)
        epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, NULL);
    else if (!*have)
        epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev);
    else
        epoll_ctl(p->epfd, EPOLL_CTL_MOD, fd, &ev);
    *have = want;
}

static void px_end_close(struct proxy *p, struct px_end *e, int rst)
{
    if (e->fd < 0)
        return;
    px_want(p, e->fd, &e->ev, 0, e);
    if (rst) {
        struct linger lg = { 1, 0 };
        setsockopt(e->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(e->fd);
    e->fd = -1;
}

/* ---- TCP connections: endings ---- */

/* Closes both sockets (rst: with RST), reports and frees the connection
 * later (its events may still be in this turn's batch). */
static void px_conn_end(struct proxy *p, struct px_conn *c, int rst, const char *how, const char *reason)
{
    if (c->st == PX_DEAD)
        return;
    px_end_close(p, &c->cli, rst);
    px_end_close(p, &c->up, rst);
    px_close_ev(p, c->idx, c->dir, how, reason);
    for (int d = 0; d < 2; d++)
        px_dir_free(p, &c->dir[d]);
    c->st = PX_DEAD;
    px_timer_set(p, &c->tm, UINT64_MAX);
    if (c->prev)
        c->prev->next = c->next;
    else
        p->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = p->zombies;
    c->prev = NULL;
    p->zombies = c;
    p->owners--;
    PX_SUB(p, open, 1);
}

static void px_conn_reset(struct proxy *p, struct px_conn *c, const char *reason)
{
    px_conn_end(p, c, 1, "rst", reason);
}

/* FIN both ways, discard what is queued, then wait for the peers to close. */
static void px_conn_fin(struct proxy *p, struct px_conn *c, uint64_t now, const char *reason)
{
    for (int d = 0; d < 2; d++) {
        px_dir_clear(p, &c->dir[d], 1);
        if (c->dir[d].inpipe)
            PX_ADD(p, dropped[d], c->dir[d].inpipe);
        px_dir_free(p, &c->dir[d]);
    }
    if (c->cli.fd >= 0)
        shutdown(c->cli.fd, SHUT_WR);
    if (c->up.fd >= 0)
        shutdown(c->up.fd, SHUT_WR);
    c->cli.blocked = c->up.blocked = 0;
    c->st = PX_CLOSING;
    c->reason = reason;
    c->linger_until = now + PX_LINGER_US;
}

/* ---- TCP: the faults on a chunk ---- */

static int px_pieces_reserve(struct proxy *p, size_t n)
{
    struct px_piece *a, *b;

    if (n <= p->pcap)
        return 0;
    size_t cap = p->pcap ? p->pcap : 64;
    while (cap < n)
        cap *= 2;
    a = realloc(p->pa, cap * sizeof *a);
    if (!a)
        return -1;
    p->pa = a;
    b = realloc(p->pb, cap * sizeof *b);
    if (!b)
        return -1;
    p->pb = b;
    p->pcap = cap;
    return 0;
}

/* Runs a chunk (len bytes at stream offset off, in buf; or, with eof, the
 * FIN) through the direction's faults into its queue. 0 or -ENOMEM. */
static int px_intake(struct proxy *p, struct px_dir *dr, const unsigned char *buf, uint64_t off,
                     size_t len, int eof, uint64_t now)
{
    struct px_piece *in, *out;
    size_t n = 1, m;
    uint64_t dropped = 0;

    if (px_pieces_reserve(p, 4) != 0)
        return -ENOMEM;
    in = p->pa;
    in[0] = (struct px_piece){ off, now, (uint32_t)len, eof ? PX_EOF : PX_DATA, 0 };

    for (int i = 0; i < dr->nflt; i++) {
        struct px_flt *fl = &dr->flt[i];
        const struct proxy_fault *f = &fl->f;
        size_t need = n + 2;

        if (f->type == PROXY_F_SLICER)
            need += len / (f->u.slicer.avg - f->u.slicer.var) + 1;
        else if (f->type == PROXY_F_BANDWIDTH)
            need += len / (f->u.bandwidth.bps / PX_BW_SLOTS ? f->u.bandwidth.bps / PX_BW_SLOTS : 1) + 1;
        if (px_pieces_reserve(p, need) != 0)
            return -ENOMEM;
        in = p->pa;
        out = p->pb;
        m = 0;

        switch (f->type) {
        case PROXY_F_LATENCY:
            for (size_t k = 0; k < n; k++) {
                struct px_piece x = in[k];
                if (x.act == PX_DATA) {
                    if (!fl->reported) {
                        fl->reported = 1;
                        px_fault_ev(p, dr, &fl->f, "delay", x.off, 0);
                    }
                    x.due += px_jitter(dr, fl, f->u.latency.us, f->u.latency.jitter_us);
                } else {
                    x.due += f->u.latency.us;
                }
                out[m++] = x;
            }
            break;
        case PROXY_F_BANDWIDTH: {
            uint64_t q = f->u.bandwidth.bps / PX_BW_SLOTS;
            if (q == 0)
                q = 1;
            for (size_t k = 0; k < n; k++) {
                struct px_piece x = in[k];
                if (x.act != PX_DATA) {
                    if (x.due < fl->bw_next_ns / 1000u)
                        x.due = fl->bw_next_ns / 1000u;
                    out[m++] = x;
                    continue;
                }
                if (!fl->reported) {
                    fl->reported = 1;
                    px_fault_ev(p, dr, &fl->f, "throttle", x.off, 0);
                }
                for (uint64_t o = 0; o < x.len;) {
                    uint32_t take = (uint32_t)(x.len - o < q ? x.len - o : q);
                    uint64_t start = x.due * 1000u > fl->bw_next_ns ? x.due * 1000u : fl->bw_next_ns;
                    out[m++] = (struct px_piece){ x.off + o, start / 1000u, take, PX_DATA, 0 };
                    fl->bw_next_ns = start + (uint64_t)take * 1000000000u / f->u.bandwidth.bps;
                    o += take;
                }
            }
            break;
        }
        case PROXY_F_SLICER:
            for (size_t k = 0; k < n; k++) {
                struct px_piece x = in[k];
                if (x.act != PX_DATA) {
                    if (x.due < fl->slice_due)
                        x.due = fl->slice_due;
                    out[m++] = x;
                    continue;
                }
                if (!fl->reported) {
                    fl->reported = 1;
                    px_fault_ev(p, dr, &fl->f, "slice", x.off, 0);
                }
                for (uint64_t o = 0; o < x.len;) {
                    uint32_t take;
                    if (fl->slice_left == 0) {
                        uint32_t size = f->u.slicer.avg - f->u.slicer.var;
                        if (f->u.slicer.var)
                            size += (uint32_t)px_below(dr, fl, 2u * (uint64_t)f->u.slicer.var + 1);
                        fl->slice_left = size;
                        if (fl->sliced && fl->slice_due + f->u.slicer.delay_us > x.due)
                            fl->slice_due += f->u.slicer.delay_us;
                        else
                            fl->slice_due = x.due;
                        fl->sliced = 1;
                    }
                    take = (uint32_t)(x.len - o < fl->slice_left ? x.len - o : fl->slice_left);
                    out[m++] = (struct px_piece){ x.off + o, x.due > fl->slice_due ? x.due : fl->slice_due,
                                                  take, PX_DATA, 0 };
                    fl->slice_left -= take;
                    o += take;
                }
            }
            break;
        case PROXY_F_CLOSE_AFTER:
        case PROXY_F_RESET: {
            uint64_t lim = f->type == PROXY_F_RESET ? f->u.reset.bytes : f->u.close_after.bytes;
            int act = f->type == PROXY_F_RESET ? PX_RESET : PX_CLOSE;
            if (f->type == PROXY_F_RESET && lim == 0) { /* a timed reset: not about bytes */
                memcpy(out, in, n * sizeof *in);
                m = n;
                break;
            }
            for (size_t k = 0; k < n; k++) {
                struct px_piece x = in[k];
                if (fl->fired) {
                    dropped += x.len;
                    continue;
                }
                if (x.act != PX_DATA) {
                    out[m++] = x;
                    continue;
                }
                if (x.off + x.len < lim) {
                    out[m++] = x;
                    continue;
                }
                if (x.off < lim) {
                    uint32_t keep = (uint32_t)(lim - x.off);
                    out[m++] = (struct px_piece){ x.off, x.due, keep, PX_DATA, 0 };
                    dropped += x.len - keep;
                } else {
                    dropped += x.len;
                }
                out[m++] = (struct px_piece){ lim, x.due, 0, (uint8_t)act, (uint8_t)i };
                fl->fired = 1;
            }
            break;
        }
        case PROXY_F_BLACKHOLE:
            for (size_t k = 0; k < n; k++)
                dropped += in[k].len;
            break;
        default: /* datagram faults never reach a TCP direction */
            memcpy(out, in, n * sizeof *in);
            m = n;
            break;
        }
        p->pa = out;
        p->pb = in;
        n = m;
    }

    in = p->pa;
    for (size_t k = 0; k < n; k++) {
        const struct px_piece *x = &in[k];
        struct px_seg *s;
        if (x->act == PX_DATA)
            s = px_seg_new(x->due, x->off, buf + (x->off - off), x->len);
        else
            s = px_marker_new(x->due, x->off, x->act, x->act == PX_EOF ? NULL : &dr->flt[x->pos].f);
        if (!s)
            return -ENOMEM;
        if (x->act == PX_EOF)
            eof = 0;
        px_queue_push(dr, s);
    }
    if (eof)
        dr->eof_lost = 1; /* a fault swallowed the FIN: it goes on when the faults change */
    if (dropped)
        PX_ADD(p, dropped[dr->d], dropped);
    return 0;
}

/* A marker for a byte threshold already passed when its fault took effect. */
static int px_queue_marker(struct px_dir *dr, int act, const struct proxy_fault *f, uint64_t now)
{
    struct px_seg *s = px_marker_new(now, dr->rx, act, f);

    if (!s)
        return -ENOMEM;
    px_queue_push(dr, s);
    return 0;
}

/* ---- faults taking effect ---- */

static int px_fault_same(const struct proxy_fault *a, const struct proxy_fault *b)
{
    if (a->type != b->type || a->conn != b->conn)
        return 0;
    switch (a->type) {
    case PROXY_F_LATENCY:
        return a->u.latency.us == b->u.latency.us && a->u.latency.jitter_us == b->u.latency.jitter_us;
    case PROXY_F_BANDWIDTH:
        return a->u.bandwidth.bps == b->u.bandwidth.bps;
    case PROXY_F_SLICER:
        return a->u.slicer.avg == b->u.slicer.avg && a->u.slicer.var == b->u.slicer.var &&
               a->u.slicer.delay_us == b->u.slicer.delay_us;
    case PROXY_F_CLOSE_AFTER:
        return a->u.close_after.bytes == b->u.close_after.bytes;
    case PROXY_F_RESET:
        return a->u.reset.bytes == b->u.reset.bytes && a->u.reset.after_us == b->u.reset.after_us;
    case PROXY_F_BLACKHOLE:
        return a->u.blackhole.close_us == b->u.blackhole.close_us;
    case PROXY_F_LOSS:
        return a->u.loss.p == b->u.loss.p;
    case PROXY_F_DUP:
        return a->u.dup.p == b->u.dup.p;
    case PROXY_F_REORDER:
        return a->u.reorder.p == b->u.reorder.p && a->u.reorder.window == b->u.reorder.window &&
               a->u.reorder.hold_us == b->u.reorder.hold_us;
    }
    return 0;
}

/* Gives a direction the configured list (the faults for this connection
 * among them). Unchanged faults keep their state; datagrams held by a
 * reorder fault that went away are released now. 0 or -ENOMEM. */
static int px_arm_dir(struct proxy *p, struct px_dir *dr, uint64_t now)
{
    const struct proxy_fault *list = p->cur.f[dr->d];
    struct px_flt old[PROXY_MAX_FAULTS];
    int on = dr->nflt, rc = 0;

    memcpy(old, dr->flt, sizeof old);
    dr->nflt = 0;
    for (int i = 0; i < p->cur.n[dr->d]; i++) {
        struct px_flt *fl = &dr->flt[dr->nflt];
        int kept = 0;

        if (list[i].conn && list[i].conn != dr->idx)
            continue;
        for (int k = 0; k < on; k++) {
            if (old[k].pos == i && px_fault_same(&old[k].f, &list[i])) {
                *fl = old[k];
                old[k].held = NULL;
                old[k].pos = -1;
                kept = 1;
                break;
            }
        }
        dr->nflt++;
        if (kept)
            continue;
        memset(fl, 0, sizeof *fl);
        fl->f = list[i];
        fl->pos = i;
        fl->rng = px_seed(p->seed, dr->idx, dr->d, i);
        fl->armed = now;
        if (fl->f.type == PROXY_F_BLACKHOLE) {
            fl->reported = 1;
            px_fault_ev(p, dr, &fl->f, "swallow", dr->rx, 0);
        } else if (p->kind == PROXY_TCP && (fl->f.type == PROXY_F_CLOSE_AFTER ||
                                            (fl->f.type == PROXY_F_RESET && fl->f.u.reset.bytes))) {
            uint64_t lim = fl->f.type == PROXY_F_RESET ? fl->f.u.reset.bytes : fl->f.u.close_after.bytes;
            /* bytes still in the splice pipe go through the new faults (px_drain_pipe) */
            if (dr->rx - dr->inpipe >= lim) {
                fl->fired = 1;
                if (rc == 0)
                    rc = px_queue_marker(dr, fl->f.type == PROXY_F_RESET ? PX_RESET : PX_CLOSE, &fl->f,
                                         now);
            }
        }
    }
    for (int k = 0; k < on; k++) {
        for (struct px_seg *s = old[k].held, *nx; s; s = nx) {
            nx = s->next;
            s->next = NULL;
            s->due = now;
            px_queue_sorted(dr, s);
        }
    }
    return rc;
}

/* ---- TCP: moving bytes ---- */

/* The splice path (no faults on the direction). 0, or -errno. */
static int px_splice(struct proxy *p, struct px_dir *dr, size_t budget)
{
    int progress, drained = 0;

    if (dr->pipe_r < 0) {
        int pf[2];
        if (pipe2(pf, O_NONBLOCK | O_CLOEXEC) != 0)
            return -errno;
        dr->pipe_r = pf[0];
        dr->pipe_w = pf[1];
        (void)fcntl(dr->pipe_w, F_SETPIPE_SZ, (int)PX_PIPE_SIZE);
    }
    do {
        ssize_t n;
        progress = 0;
        if (dr->inpipe && !dr->dst->blocked) {
            n = splice(dr->pipe_r, NULL, dr->dst->fd, NULL, dr->inpipe, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
            if (n > 0) {
                dr->inpipe -= (size_t)n;
                dr->tx += (uint64_t)n;
                PX_ADD(p, bytes[dr->d], n);
                progress = 1;
            } else if (n < 0 && errno == EAGAIN) {
                dr->dst->blocked = 1;
            } else if (n < 0 && errno != EINTR) {
                return -errno;
            }
        }
        if (!dr->eof && !drained && !dr->dst->blocked && dr->inpipe < PX_PIPE_SIZE && budget > 0) {
            size_t want = PX_PIPE_SIZE - dr->inpipe;
            n = splice(dr->src->fd, NULL, dr->pipe_w, NULL, want, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
            if (n > 0) {
                /* a short read emptied the socket: epoll (level-triggered) says when there is more */
                drained = (size_t)n < want;
                dr->inpipe += (size_t)n;
                dr->rx += (uint64_t)n;
                budget = (size_t)n < budget ? budget - (size_t)n : 0;
                progress = 1;
            } else if (n == 0) {
                dr->eof = 1;
                progress = 1;
            } else if (errno != EAGAIN && errno != EINTR) {
                return -errno;
            }
        }
    } while (progress);
    if (dr->eof && !dr->inpipe && !dr->shut) {
        shutdown(dr->dst->fd, SHUT_WR);
        dr->shut = 1;
    }
    return 0;
}

/* Faults arrived on a direction that was using the pipe: what is in it
 * goes through them as if just read. 0 or -errno. */
static int px_drain_pipe(struct proxy *p, struct px_dir *dr, uint64_t now)
{
    while (dr->inpipe) {
        ssize_t n = read(dr->pipe_r, p->rbuf, dr->inpipe < PX_READ_CHUNK ? dr->inpipe : PX_READ_CHUNK);
        int rc;
        if (n <= 0)
            return n < 0 && errno != EINTR ? -errno : 0;
        rc = px_intake(p, dr, p->rbuf, dr->rx - dr->inpipe, (size_t)n, 0, now);
        dr->inpipe -= (size_t)n;
        if (rc)
            return rc;
    }
    if (dr->eof && !dr->shut)
        return px_intake(p, dr, NULL, dr->rx, 0, 1, now);
    return 0;
}

/* Writes what is due. 0, 1 (the connection changed state), or -errno. */
static int px_flush(struct proxy *p, struct px_conn *c, struct px_dir *dr, uint64_t now)
{
    struct px_seg *s;

    while ((s = dr->head) && s->due <= now) {
        switch (s->act) {
        case PX_DATA: {
            ssize_t n;
            if (dr->dst->blocked)
                return 0;
            n = send(dr->dst->fd, s->data + s->done, s->len - s->done, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EAGAIN) {
                    dr->dst->blocked = 1;
                    return 0;
                }
                if (errno == EINTR)
                    continue;
                return -errno;
            }
            s->done += (uint32_t)n;
            dr->tx += (uint64_t)n;
            PX_ADD(p, bytes[dr->d], n);
            if (s->done == s->len)
                px_queue_pop(dr);
            break;
        }
        case PX_EOF:
            shutdown(dr->dst->fd, SHUT_WR);
            dr->shut = 1;
            px_queue_pop(dr);
            break;
        case PX_CLOSE: {
            struct proxy_fault f;
            memcpy(&f, s->data, sizeof f);
            px_fault_ev(p, dr, &f, "fin", dr->tx, 0);
            px_queue_pop(dr);
            px_conn_fin(p, c, now, "fault close_after");
            return 1;
        }
        case PX_RESET: {
            struct proxy_fault f;
            memcpy(&f, s->data, sizeof f);
            px_fault_ev(p, dr, &f, "rst", dr->tx, 0);
            px_queue_pop(dr);
            c->rst_until = now + PX_RST_DRAIN_US;
            c->rst_dir = dr->d;
            return 1;
        }
        }
    }
    return 0;
}

/* Moves a direction along. 0, 1 (state changed), or -errno. */
static int px_pump(struct proxy *p, struct px_conn *c, struct px_dir *dr, uint64_t now)
{
    size_t budget = PX_STEP_MAX;
    int rc;

    if (dr->nflt == 0 && !dr->head && !dr->shut)
        return px_splice(p, dr, budget);
    if ((rc = px_flush(p, c, dr, now)) != 0)
        return rc;
    while (!dr->eof && dr->queued < PX_QUEUE_MAX && budget > 0) {
        ssize_t n = recv(dr->src->fd, p->rbuf, PX_READ_CHUNK, MSG_DONTWAIT);
        if (n > 0) {
            uint64_t off = dr->rx;
            if ((size_t)n < PX_READ_CHUNK)
                budget = 0; /* the socket is empty: no EAGAIN round trip */
            dr->rx += (uint64_t)n;
            budget = (size_t)n < budget ? budget - (size_t)n : 0;
            if ((rc = px_intake(p, dr, p->rbuf, off, (size_t)n, 0, now)) != 0)
                return rc;
        } else if (n == 0) {
            dr->eof = 1;
            if ((rc = px_intake(p, dr, NULL, dr->rx, 0, 1, now)) != 0)
                return rc;
        } else if (errno == EAGAIN) {
            break;
        } else if (errno != EINTR) {
            return -errno;
        }
    }
    return px_flush(p, c, dr, now);
}

/* Reads and discards while closing (a fault ended the connection: what
 * still arrives counts as dropped). */
static void px_drain(struct proxy *p, struct px_dir *dr)
{
    size_t budget = PX_STEP_MAX;

    if (dr->src->fd < 0)
        dr->eof = 1;
    while (!dr->eof && budget > 0) {
        ssize_t n = recv(dr->src->fd, p->rbuf, PX_READ_CHUNK, MSG_DONTWAIT);
        if (n > 0) {
            budget = (size_t)n < budget ? budget - (size_t)n : 0;
            PX_ADD(p, dropped[dr->d], n);
        }
        else if (n == 0 || (errno != EAGAIN && errno != EINTR))
            dr->eof = 1;
        else if (errno == EAGAIN)
            break;
    }
}

/* Timed faults (reset_after a time, blackhole close). 1 if one ended or
 * closed the connection. */
static int px_conn_timed(struct proxy *p, struct px_conn *c, uint64_t now, uint64_t *wake)
{
    if (c->st == PX_CLOSING || c->st == PX_DEAD)
        return 0;
    for (int d = 0; d < 2; d++) {
        struct px_dir *dr = &c->dir[d];
        for (int i = 0; i < dr->nflt; i++) {
            struct px_flt *fl = &dr->flt[i];
            uint64_t due;
            if (fl->fired)
                continue;
            if (fl->f.type == PROXY_F_RESET && fl->f.u.reset.bytes == 0)
                due = fl->armed + fl->f.u.reset.after_us;
            else if (fl->f.type == PROXY_F_BLACKHOLE && fl->f.u.blackhole.close_us)
                due = fl->armed + fl->f.u.blackhole.close_us;
            else
                continue;
            if (now < due) {
                if (due < *wake)
                    *wake = due;
                continue;
            }
            fl->fired = 1;
            if (fl->f.type == PROXY_F_RESET) {
                px_fault_ev(p, dr, &fl->f, "rst", dr->tx, 0);
                px_conn_reset(p, c, "fault reset");
            } else {
                px_fault_ev(p, dr, &fl->f, "fin", dr->tx, 0);
                px_conn_fin(p, c, now, "fault blackhole");
            }
            return 1;
        }
    }
    return 0;
}

/* Epoll interest and the timer of a connection, from its state. */
static void px_conn_arm(struct proxy *p, struct px_conn *c, uint64_t now, uint64_t wake)
{
    uint32_t want[2] = { 0, 0 }; /* [0] cli, [1] up */

    if (c->st == PX_DEAD)
        return;
    switch (c->st) {
    case PX_CONNECTING:
        want[1] = EPOLLOUT;
        break;
    case PX_OPEN:
        if (c->rst_until) {
            if (now + PX_RST_POLL_US < wake)
                wake = now + PX_RST_POLL_US;
            break;
        }
        if (!p->link_up)
            break;
        for (int d = 0; d < 2; d++) {
            struct px_dir *dr = &c->dir[d];
            int fast = dr->nflt == 0 && !dr->head && !dr->shut;
            int srci = d == PROXY_UP ? 0 : 1, dsti = 1 - srci;
            if (!dr->eof && (fast ? !dr->dst->blocked : dr->queued < PX_QUEUE_MAX))
                want[srci] |= EPOLLIN;
            if (dr->dst->blocked)
                want[dsti] |= EPOLLOUT;
            else if (dr->head && dr->head->due < wake)
                wake = dr->head->due > now ? dr->head->due : now;
        }
        break;
    case PX_CLOSING:
        if (!c->dir[PROXY_UP].eof)
            want[0] = EPOLLIN;
        if (!c->dir[PROXY_DOWN].eof)
            want[1] = EPOLLIN;
        if (c->linger_until < wake)
            wake = c->linger_until;
        break;
    default:
        break;
    }
    px_want(p, c->cli.fd, &c->cli.ev, want[0], &c->cli);
    px_want(p, c->up.fd, &c->up.ev, want[1], &c->up);
    px_timer_set(p, &c->tm, wake);
}

static void px_conn_step(struct proxy *p, struct px_conn *c, unsigned dirs, uint64_t now)
{
    uint64_t wake = UINT64_MAX;
    char why[96];

    if (c->st == PX_DEAD || px_conn_timed(p, c, now, &wake))
        goto arm;
    switch (c->st) {
    case PX_OPEN:
        if (c->rst_until) {
            int q = 0;
            if (now >= c->rst_until || c->dir[c->rst_dir].dst->fd < 0 ||
                ioctl(c->dir[c->rst_dir].dst->fd, SIOCOUTQ, &q) != 0 || q == 0)
                px_conn_reset(p, c, "fault reset_after");
            break;
        }
        if (!p->link_up)
            break;
        for (int d = 0; d < 2 && c->st == PX_OPEN; d++) {
            int rc;
            if (!(dirs & (1u << d)))
                continue;
            rc = px_pump(p, c, &c->dir[d], now);
            if (rc < 0) {
                snprintf(why, sizeof why, "%s: %s", d == PROXY_UP ? "device->cloud" : "cloud->device",
                         strerror(-rc));
                px_conn_reset(p, c, why);
                goto arm;
            }
            if (rc > 0)
                break;
        }
        if (c->st == PX_OPEN && !c->rst_until && c->dir[0].shut && c->dir[1].shut)
            px_conn_end(p, c, 0, "fin", "closed by both peers");
        break;
    case PX_CLOSING:
        px_drain(p, &c->dir[PROXY_UP]);
        px_drain(p, &c->dir[PROXY_DOWN]);
        if ((c->dir[0].eof && c->dir[1].eof) || now >= c->linger_until)
            px_conn_end(p, c, 0, "fin", c->reason ? c->reason : "closing");
        break;
    default:
        break;
    }
arm:
    px_conn_arm(p, c, now, wake);
}

/* ---- TCP: opening ---- */

static void px_conn_connected(struct proxy *p, struct px_conn *c, uint64_t now)
{
    int err = 0;
    socklen_t sl = sizeof err;
    char why[96];

    if (getsockopt(c->up.fd, SOL_SOCKET, SO_ERROR, &err, &sl) != 0)
        err = errno;
    if (err) {
        snprintf(why, sizeof why, "upstream %s: %s", p->upstream, strerror(err));
        px_conn_reset(p, c, why);
        return;
    }
    c->st = PX_OPEN;
    px_conn_step(p, c, 3u, now);
}

static void px_conn_connect(struct proxy *p, struct px_conn *c, uint64_t now)
{
    int one = 1, fd;
    char why[96];

    fd = socket(p->upaddr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(why, sizeof why, "upstream socket: %s", strerror(errno));
        px_conn_reset(p, c, why);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->up.fd = fd;
    if (connect(fd, (struct sockaddr *)&p->upaddr, p->uplen) == 0) {
        c->st = PX_OPEN;
        px_conn_step(p, c, 3u, now);
    } else if (errno == EINPROGRESS) {
        c->st = PX_CONNECTING;
        px_conn_step(p, c, 0u, now);
    } else {
        snprintf(why, sizeof why, "upstream %s: %s", p->upstream, strerror(errno));
        px_conn_reset(p, c, why);
    }
}

static void px_accept(struct proxy *p, uint64_t now)
{
    for (;;) {
        struct sockaddr_storage sa;
        socklen_t sl = sizeof sa;
        struct px_conn *c;
        int fd, one = 1;

        fd = accept4(p->lfd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return;
        }
        c = calloc(1, sizeof *c);
        if (!c || px_heap_reserve(p) != 0) {
            free(c);
            close(fd);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        p->owners++;
        c->idx = ++p->nconn;
        c->cli = (struct px_end){ PX_T_END, fd, c, 0, 0 };
        c->up = (struct px_end){ PX_T_END, -1, c, 0, 0 };
        c->tm = (struct px_timer){ UINT64_MAX, -1, PX_T_END, c, NULL };
        px_peer(&sa, c->peer, sizeof c->peer);
        for (int d = 0; d < 2; d++) {
            px_dir_init(&c->dir[d], d, c->idx);
            c->dir[d].src = d == PROXY_UP ? &c->cli : &c->up;
            c->dir[d].dst = d == PROXY_UP ? &c->up : &c->cli;
        }
        c->st = PX_HELD;
        c->next = p->conns;
        if (p->conns)
            p->conns->prev = c;
        p->conns = c;
        PX_ADD(p, conns, 1);
        PX_ADD(p, open, 1);
        evlog_emit("proxy", "proxy.conn_open", "\"proxy\":\"%s\",\"conn\":%u,\"peer\":\"%s\",\"held\":%s",
                   p->name, c->idx, c->peer, p->link_up ? "false" : "true");
        for (int d = 0; d < 2; d++) {
            if (px_arm_dir(p, &c->dir[d], now) != 0) {
                px_conn_reset(p, c, "out of memory");
                break;
            }
        }
        if (c->st == PX_DEAD)
            continue;
        if (p->link_up)
            px_conn_connect(p, c, now);
        else
            px_conn_step(p, c, 0u, now);
    }
}

/* ---- UDP ---- */

static void px_udpc_end(struct proxy *p, struct px_udpc *u, const char *reason)
{
    if (u->dead)
        return;
    epoll_ctl(p->epfd, EPOLL_CTL_DEL, u->fd, NULL);
    close(u->fd);
    u->fd = -1;
    px_close_ev(p, u->idx, u->dir, "forget", reason);
    for (int d = 0; d < 2; d++)
        px_dir_free(p, &u->dir[d]);
    u->dead = 1;
    px_timer_set(p, &u->tm, UINT64_MAX);
    if (u->prev)
        u->prev->next = u->next;
    else
        p->clients = u->next;
    if (u->next)
        u->next->prev = u->prev;
    u->next = p->uzombies;
    u->prev = NULL;
    p->uzombies = u;
    p->nclients--;
    p->owners--;
    PX_SUB(p, open, 1);
}

static int px_addr_same(const struct sockaddr_storage *a, socklen_t al, const struct sockaddr_storage *b,
                        socklen_t bl)
{
    if (a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    return al == bl && memcmp(a, b, al) == 0;
}

/* Runs datagrams (segs[0..n-1], already counted) through the faults of a
 * UDP direction from position `from` on, into its queue. */
static void px_udp_faults(struct proxy *p, struct px_dir *dr, struct px_seg **segs, int n, int from,
                          uint64_t now)
{
    struct px_seg *out[PX_UDP_FANOUT];

    for (int i = from; i < dr->nflt && n > 0; i++) {
        struct px_flt *fl = &dr->flt[i];
        const struct proxy_fault *f = &fl->f;
        int m = 0;

        for (int k = 0; k < n; k++) {
            struct px_seg *s = segs[k];
            switch (f->type) {
            case PROXY_F_LOSS:
                if (px_chance(dr, fl, f->u.loss.p)) {
                    px_fault_ev(p, dr, &fl->f, "drop", s->off, s->dgram);
                    PX_ADD(p, dropped[dr->d], 1);
                    free(s);
                } else {
                    out[m++] = s;
                }
                break;
            case PROXY_F_DUP:
                out[m++] = s;
                if (px_chance(dr, fl, f->u.dup.p) && m < PX_UDP_FANOUT) {
                    struct px_seg *c = px_seg_new(s->due, s->off, s->data, s->len);
                    if (c) {
                        c->dgram = s->dgram;
                        px_fault_ev(p, dr, &fl->f, "duplicate", s->off, s->dgram);
                        out[m++] = c;
                    }
                }
                break;
            case PROXY_F_REORDER:
                if (px_chance(dr, fl, f->u.reorder.p)) {
                    struct px_seg **pp = &fl->held;
                    px_fault_ev(p, dr, &fl->f, "hold", s->off, s->dgram);
                    s->done = f->u.reorder.window;
                    s->due = now + f->u.reorder.hold_us;
                    s->next = NULL;
                    while (*pp)
                        pp = &(*pp)->next;
                    *pp = s;
                    break;
                }
                out[m++] = s;
                for (struct px_seg **pp = &fl->held; *pp;) {
                    struct px_seg *h = *pp;
                    if (--h->done == 0 && m < PX_UDP_FANOUT) {
                        *pp = h->next;
                        h->next = NULL;
                        h->due = s->due;
                        out[m++] = h;
                    } else {
                        if (h->done == 0)
                            h->done = 1;
                        pp = &h->next;
                    }
                }
                break;
            case PROXY_F_LATENCY:
                if (!fl->reported) {
                    fl->reported = 1;
                    px_fault_ev(p, dr, &fl->f, "delay", s->off, s->dgram);
                }
                s->due += px_jitter(dr, fl, f->u.latency.us, f->u.latency.jitter_us);
                out[m++] = s;
                break;
            case PROXY_F_BANDWIDTH: {
                uint64_t t = s->due * 1000u > fl->bw_next_ns ? s->due * 1000u : fl->bw_next_ns;
                if (!fl->reported) {
                    fl->reported = 1;
                    px_fault_ev(p, dr, &fl->f, "throttle", s->off, s->dgram);
                }
                s->due = t / 1000u;
                fl->bw_next_ns = t + (uint64_t)s->len * 1000000000u / f->u.bandwidth.bps;
                out[m++] = s;
                break;
            }
            case PROXY_F_BLACKHOLE:
                PX_ADD(p, dropped[dr->d], 1);
                free(s);
                break;
            default:
                out[m++] = s;
                break;
            }
        }
        memcpy(segs, out, (size_t)m * sizeof *segs);
        n = m;
    }
    for (int k = 0; k < n; k++) {
        segs[k]->next = NULL;
        px_queue_sorted(dr, segs[k]);
    }
}

static void px_udp_intake(struct proxy *p, struct px_dir *dr, const unsigned char *buf, size_t len,
                          uint64_t now)
{
    struct px_seg *segs[PX_UDP_FANOUT];

    dr->n++;
    dr->rx += len;
    if (!p->link_up) {
        PX_ADD(p, dropped[dr->d], 1);
        return;
    }
    segs[0] = px_seg_new(now, dr->rx - len, buf, (uint32_t)len);
    if (segs[0])
        segs[0]->dgram = dr->n;
    if (!segs[0]) {
        PX_ADD(p, dropped[dr->d], 1);
        return;
    }
    px_udp_faults(p, dr, segs, 1, 0, now);
}

static void px_udp_step(struct proxy *p, struct px_udpc *u, uint64_t now)
{
    uint64_t wake = UINT64_MAX;

    if (u->dead)
        return;
    for (int d = 0; d < 2; d++) {
        struct px_dir *dr = &u->dir[d];
        /* held datagrams whose time is up go on through the later faults */
        for (int i = 0; i < dr->nflt; i++) {
            struct px_flt *fl = &dr->flt[i];
            for (struct px_seg **pp = &fl->held; *pp;) {
                struct px_seg *h = *pp;
                if (h->due <= now) {
                    struct px_seg *one[PX_UDP_FANOUT];
                    *pp = h->next;
                    h->next = NULL;
                    h->due = now;
                    one[0] = h;
                    px_udp_faults(p, dr, one, 1, i + 1, now);
                } else {
                    if (h->due < wake)
                        wake = h->due;
                    pp = &h->next;
                }
            }
        }
        while (p->link_up && dr->head && dr->head->due <= now) {
            struct px_seg *s = dr->head;
            ssize_t n;
            if (d == PROXY_UP)
                n = send(u->fd, s->data, s->len, MSG_DONTWAIT | MSG_NOSIGNAL);
            else
                n = sendto(p->lfd, s->data, s->len, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&u->addr,
                           u->alen);
            if (n < 0 && errno == EINTR)
                continue;
            if (n >= 0) {
                dr->tx += (uint64_t)n;
                PX_ADD(p, bytes[d], n);
                PX_ADD(p, datagrams[d], 1);
            } else {
                PX_ADD(p, dropped[d], 1);
            }
            px_queue_pop(dr);
        }
        if (p->link_up && dr->head && dr->head->due < wake)
            wake = dr->head->due;
    }
    px_timer_set(p, &u->tm, wake);
}

static struct px_udpc *px_udpc_new(struct proxy *p, const struct sockaddr_storage *sa, socklen_t sl,
                                   uint64_t now)
{
    struct px_udpc *u, *old = NULL;
    struct epoll_event ev;

    if (p->nclients >= PX_UDP_CLIENTS) {
        for (struct px_udpc *x = p->clients; x; x = x->next)
            if (!old || x->last_us < old->last_us)
                old = x;
        px_udpc_end(p, old, "forgotten: too many clients");
    }
    if (px_heap_reserve(p) != 0)
        return NULL;
    u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    u->fd = socket(p->upaddr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (u->fd < 0 || connect(u->fd, (struct sockaddr *)&p->upaddr, p->uplen) != 0) {
        if (u->fd >= 0)
            close(u->fd);
        free(u);
        return NULL;
    }
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.ptr = u;
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, u->fd, &ev) != 0) {
        close(u->fd);
        free(u);
        return NULL;
    }
    u->tag = PX_T_UDPC;
    p->owners++;
    u->idx = ++p->nconn;
    u->addr = *sa;
    u->alen = sl;
    u->last_us = now;
    u->tm = (struct px_timer){ UINT64_MAX, -1, PX_T_UDPC, u, NULL };
    px_peer(sa, u->peer, sizeof u->peer);
    for (int d = 0; d < 2; d++)
        px_dir_init(&u->dir[d], d, u->idx);
    u->next = p->clients;
    if (p->clients)
        p->clients->prev = u;
    p->clients = u;
    p->nclients++;
    PX_ADD(p, conns, 1);
    PX_ADD(p, open, 1);
    evlog_emit("proxy", "proxy.conn_open", "\"proxy\":\"%s\",\"conn\":%u,\"peer\":\"%s\",\"held\":false",
               p->name, u->idx, u->peer);
    for (int d = 0; d < 2; d++)
        px_arm_dir(p, &u->dir[d], now);
    return u;
}

static void px_udp_from_clients(struct proxy *p, uint64_t now)
{
    for (int k = 0; k < PX_EPOLL_BATCH; k++) {
        struct sockaddr_storage sa;
        socklen_t sl = sizeof sa;
        struct px_udpc *u;
        ssize_t n = recvfrom(p->lfd, p->rbuf, PX_UDP_MAX, MSG_DONTWAIT, (struct sockaddr *)&sa, &sl);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        for (u = p->clients; u; u = u->next)
            if (px_addr_same(&u->addr, u->alen, &sa, sl))
                break;
        if (!u && !(u = px_udpc_new(p, &sa, sl, now))) {
            PX_ADD(p, dropped[PROXY_UP], 1);
            continue;
        }
        u->last_us = now;
        px_udp_intake(p, &u->dir[PROXY_UP], p->rbuf, (size_t)n, now);
        px_udp_step(p, u, now);
    }
}

static void px_udp_from_upstream(struct proxy *p, struct px_udpc *u, uint64_t now)
{
    for (int k = 0; k < PX_EPOLL_BATCH && !u->dead; k++) {
        ssize_t n = recv(u->fd, p->rbuf, PX_UDP_MAX, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            continue; /* ECONNREFUSED from an earlier send: nobody listens upstream */
        }
        u->last_us = now;
        px_udp_intake(p, &u->dir[PROXY_DOWN], p->rbuf, (size_t)n, now);
    }
    px_udp_step(p, u, now);
}

/* ---- configuration ---- */

static void px_apply(struct proxy *p, uint64_t now)
{
    struct px_cfg next;
    int changed[2], link_changed;

    pthread_mutex_lock(&p->mu);
    next = p->cfg;
    pthread_mutex_unlock(&p->mu);
    changed[0] = next.gen[0] != p->cur.gen[0];
    changed[1] = next.gen[1] != p->cur.gen[1];
    link_changed = next.link_gen != p->cur.link_gen;
    p->cur = next;

    if (link_changed) {
        p->link_up = next.link == PROXY_LINK_UP;
        if (next.link == PROXY_LINK_DOWN_RESET) {
            while (p->conns)
                px_conn_reset(p, p->conns, "link down (reset)");
            for (struct px_udpc *u = p->clients; u; u = u->next)
                for (int d = 0; d < 2; d++)
                    px_dir_clear(p, &u->dir[d], 1);
        }
    }
    for (struct px_conn *c = p->conns, *nx; c; c = nx) {
        nx = c->next;
        if (c->st == PX_CLOSING)
            continue;
        for (int d = 0; d < 2 && c->st != PX_DEAD; d++) {
            if (!changed[d])
                continue;
            struct px_dir *dr = &c->dir[d];
            int rc = px_arm_dir(p, dr, now);
            if (rc == 0 && dr->nflt && dr->inpipe)
                rc = px_drain_pipe(p, dr, now);
            if (rc == 0 && dr->eof_lost) {
                dr->eof_lost = 0;
                rc = px_intake(p, dr, NULL, dr->rx, 0, 1, now);
            }
            if (rc != 0)
                px_conn_reset(p, c, "out of memory");
        }
        if (c->st == PX_DEAD)
            continue;
        if (c->st == PX_HELD && p->link_up)
            px_conn_connect(p, c, now);
        else
            px_conn_step(p, c, 3u, now);
    }
    for (struct px_udpc *u = p->clients; u; u = u->next) {
        for (int d = 0; d < 2; d++)
            if (changed[d])
                px_arm_dir(p, &u->dir[d], now);
        px_udp_step(p, u, now);
    }
}

/* ---- the loop ---- */

static void px_reap(struct proxy *p)
{
    while (p->zombies) {
        struct px_conn *c = p->zombies;
        p->zombies = c->next;
        free(c);
    }
    while (p->uzombies) {
        struct px_udpc *u = p->uzombies;
        p->uzombies = u->next;
        free(u);
    }
}

static void *px_loop(void *arg)
{
    struct proxy *p = arg;
    struct epoll_event evs[PX_EPOLL_BATCH];
    int stop = 0;

    while (!stop) {
        uint64_t now = evlog_now_us();
        struct px_timer *run = NULL;
        struct timespec ts, *tsp = NULL;
        int n;

        if (p->hn) {
            uint64_t due = p->heap[0]->due, dt = due > now ? due - now : 0;
            ts.tv_sec = (time_t)(dt / 1000000u);
            ts.tv_nsec = (long)(dt % 1000000u) * 1000L;
            tsp = &ts;
        }
        n = epoll_pwait2(p->epfd, evs, PX_EPOLL_BATCH, tsp, NULL);
        if (n < 0 && errno == ENOSYS) {
            int ms = tsp ? (int)((uint64_t)ts.tv_sec * 1000u + ((uint64_t)ts.tv_nsec + 999999u) / 1000000u) : -1;
            n = epoll_wait(p->epfd, evs, PX_EPOLL_BATCH, ms);
        }
        now = evlog_now_us();
        for (int i = 0; i < n; i++) {
            int tag = *(int *)evs[i].data.ptr;
            uint32_t e = evs[i].events;

            if (tag == PX_T_WAKE) {
                uint64_t v;
                if (read(p->wakefd, &v, sizeof v) < 0 && errno != EAGAIN)
                    continue;
                pthread_mutex_lock(&p->mu);
                stop = p->stopping;
                pthread_mutex_unlock(&p->mu);
                px_apply(p, now);
            } else if (tag == PX_T_LISTEN) {
                if (p->kind == PROXY_TCP)
                    px_accept(p, now);
                else
                    px_udp_from_clients(p, now);
            } else if (tag == PX_T_END) {
                struct px_end *end = evs[i].data.ptr;
                struct px_conn *c = end->c;
                int cli = end == &c->cli;
                unsigned dirs = 0;
                if (c->st == PX_DEAD)
                    continue;
                if (c->st == PX_CONNECTING) {
                    if (!cli)
                        px_conn_connected(p, c, now);
                    continue;
                }
                if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
                    end->blocked = 0;
                    dirs |= 1u << (cli ? PROXY_DOWN : PROXY_UP);
                }
                if (e & (EPOLLIN | EPOLLERR | EPOLLHUP))
                    dirs |= 1u << (cli ? PROXY_UP : PROXY_DOWN);
                px_conn_step(p, c, dirs, now);
            } else if (tag == PX_T_UDPC) {
                struct px_udpc *u = evs[i].data.ptr;
                if (!u->dead)
                    px_udp_from_upstream(p, u, now);
            }
        }
        /* timers due now, each stepped once this turn */
        while (p->hn && p->heap[0]->due <= now) {
            struct px_timer *t = p->heap[0];
            px_timer_set(p, t, UINT64_MAX);
            t->run_next = run;
            run = t;
        }
        for (struct px_timer *t = run; t; t = t->run_next) {
            if (t->tag == PX_T_END)
                px_conn_step(p, t->owner, 3u, now);
            else
                px_udp_step(p, t->owner, now);
        }
        px_reap(p);
    }

    while (p->conns)
        px_conn_end(p, p->conns, 0, "close", "proxy stopped");
    while (p->clients)
        px_udpc_end(p, p->clients, "proxy stopped");
    px_reap(p);
    return NULL;
}

/* ---- API ---- */

static void px_wake(struct proxy *p)
{
    uint64_t one = 1;

    if (write(p->wakefd, &one, sizeof one) < 0) {
        /* the counter is saturated: the loop has a wake-up pending anyway */
    }
}

static int px_resolve(struct proxy *p, const struct proxy_opts *o, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    char port[16];
    int rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = o->kind == PROXY_UDP ? SOCK_DGRAM : SOCK_STREAM;
    snprintf(port, sizeof port, "%d", o->upstream_port);
    rc = getaddrinfo(o->upstream_host, port, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "upstream %s:%d: %s", o->upstream_host, o->upstream_port,
                 rc ? gai_strerror(rc) : "no address");
        return -1;
    }
    memcpy(&p->upaddr, res->ai_addr, res->ai_addrlen);
    p->uplen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

struct proxy *proxy_start(const struct proxy_opts *o, char *err, size_t errlen)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    struct epoll_event ev;
    sigset_t all, old;
    struct proxy *p;
    int one = 1, rc;

    if (!o || !o->upstream_host || !o->upstream_host[0]) {
        snprintf(err, errlen, "proxy: no upstream host");
        return NULL;
    }
    if (o->upstream_port < 1 || o->upstream_port > 65535 || o->listen_port < 0 || o->listen_port > 65535) {
        snprintf(err, errlen, "proxy: port out of range (upstream %d, listen %d)", o->upstream_port,
                 o->listen_port);
        return NULL;
    }
    if (o->kind != PROXY_TCP && o->kind != PROXY_UDP) {
        snprintf(err, errlen, "proxy: unknown kind %d", (int)o->kind);
        return NULL;
    }
    if (o->name && strlen(o->name) >= PROXY_NAME_MAX) {
        snprintf(err, errlen, "proxy: name longer than %d characters", PROXY_NAME_MAX - 1);
        return NULL;
    }
    p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "proxy: out of memory");
        return NULL;
    }
    p->lfd = p->epfd = p->wakefd = -1;
    p->lfd_tag = PX_T_LISTEN;
    p->wake_tag = PX_T_WAKE;
    otahil_json_escape(p->name, sizeof p->name, o->name ? o->name : "proxy");
    p->kind = o->kind;
    p->seed = o->seed;
    p->cfg.link = p->cur.link = PROXY_LINK_UP;
    p->link_up = 1;
    pthread_mutex_init(&p->mu, NULL);
    {
        char host[256];
        snprintf(p->upstream, sizeof p->upstream, "%s:%d",
                 otahil_json_escape(host, sizeof host, o->upstream_host), o->upstream_port);
    }
    if (px_resolve(p, o, err, errlen) != 0)
        goto fail;
    p->rbuf = malloc(PX_UDP_MAX);
    if (!p->rbuf) {
        snprintf(err, errlen, "proxy: out of memory");
        goto fail;
    }

    p->lfd = socket(AF_INET, (o->kind == PROXY_UDP ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->lfd < 0) {
        snprintf(err, errlen, "proxy: socket: %s", strerror(errno));
        goto fail;
    }
    if (o->kind == PROXY_TCP) /* for UDP it would let another socket share the port */
        setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)o->listen_port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(p->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        (o->kind == PROXY_TCP && listen(p->lfd, PX_LISTEN_BACKLOG) != 0) ||
        getsockname(p->lfd, (struct sockaddr *)&sa, &sl) != 0) {
        snprintf(err, errlen, "proxy: cannot listen on 127.0.0.1:%d: %s", o->listen_port, strerror(errno));
        goto fail;
    }
    p->port = ntohs(sa.sin_port);
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    p->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (p->epfd < 0 || p->wakefd < 0) {
        snprintf(err, errlen, "proxy: epoll/eventfd: %s", strerror(errno));
        goto fail;
    }
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.ptr = &p->lfd_tag;
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->lfd, &ev) != 0)
        goto fail_epoll;
    ev.data.ptr = &p->wake_tag;
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->wakefd, &ev) != 0)
        goto fail_epoll;

    /* The thread takes no signals: SIGPIPE from splice() stays with it,
     * SIGINT and SIGTERM go to the threads that wait for them. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&p->thr, NULL, px_loop, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "proxy: cannot start its thread: %s", strerror(rc));
        goto fail;
    }
    evlog_emit("proxy", "proxy.started",
               "\"proxy\":\"%s\",\"kind\":\"%s\",\"port\":%d,\"upstream\":\"%s\",\"seed\":%llu", p->name,
               p->kind == PROXY_UDP ? "udp" : "tcp", p->port, p->upstream, (unsigned long long)p->seed);
    return p;

fail_epoll:
    snprintf(err, errlen, "proxy: epoll_ctl: %s", strerror(errno));
fail:
    if (p->lfd >= 0)
        close(p->lfd);
    if (p->epfd >= 0)
        close(p->epfd);
    if (p->wakefd >= 0)
        close(p->wakefd);
    pthread_mutex_destroy(&p->mu);
    free(p->rbuf);
    free(p);
    return NULL;
}

void proxy_stop(struct proxy *p)
{
    struct proxy_stats st;

    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_mutex_unlock(&p->mu);
    px_wake(p);
    pthread_join(p->thr, NULL);
    proxy_stats(p, &st);
    evlog_emit("proxy", "proxy.stopped",
               "\"proxy\":\"%s\",\"conns\":%llu,\"up\":%llu,\"down\":%llu,\"faults\":%llu", p->name,
               (unsigned long long)st.conns, (unsigned long long)st.bytes[0],
               (unsigned long long)st.bytes[1], (unsigned long long)st.faults);
    close(p->lfd);
    close(p->epfd);
    close(p->wakefd);
    pthread_mutex_destroy(&p->mu);
    free(p->heap);
    free(p->pa);
    free(p->pb);
    free(p->rbuf);
    free(p);
}

int proxy_port(const struct proxy *p)
{
    return p->port;
}

int proxy_set_faults(struct proxy *p, int dir, const struct proxy_fault *list, int n)
{
    char specs[PROXY_MAX_FAULTS * 96 + 4], one[128];
    size_t len = 0;

    if (dir < PROXY_UP || dir > PROXY_BOTH || n < 0 || (n > 0 && !list))
        return -EINVAL;
    if (n > PROXY_MAX_FAULTS)
        return -E2BIG;
    for (int i = 0; i < n; i++)
        if (proxy_fault_check(&list[i], p->kind, NULL, 0) != 0)
            return -EINVAL;
    pthread_mutex_lock(&p->mu);
    for (int d = 0; d < 2; d++) {
        if (dir != PROXY_BOTH && dir != d)
            continue;
        if (n)
            memcpy(p->cfg.f[d], list, (size_t)n * sizeof *list);
        p->cfg.n[d] = n;
        p->cfg.gen[d]++;
    }
    pthread_mutex_unlock(&p->mu);
    specs[0] = '\0';
    for (int i = 0; i < n; i++) {
        char esc[160];
        proxy_fault_format(&list[i], dir, one, sizeof one);
        len += (size_t)snprintf(specs + len, sizeof specs - len, "%s\"%s\"", i ? "," : "",
                                otahil_json_escape(esc, sizeof esc, one));
        if (len >= sizeof specs)
            break;
    }
    evlog_emit("proxy", "proxy.faults", "\"proxy\":\"%s\",\"dir\":\"%s\",\"faults\":[%s]", p->name,
               dir == PROXY_UP ? "up" : dir == PROXY_DOWN ? "down" : "both", specs);
    px_wake(p);
    return 0;
}

int proxy_clear_faults(struct proxy *p, int dir)
{
    return proxy_set_faults(p, dir, NULL, 0);
}

int proxy_link(struct proxy *p, int state)
{
    int was;

    if (state != PROXY_LINK_DOWN && state != PROXY_LINK_UP && state != PROXY_LINK_DOWN_RESET)
        return -EINVAL;
    pthread_mutex_lock(&p->mu);
    was = p->cfg.link;
    p->cfg.link = state;
    p->cfg.link_gen++;
    pthread_mutex_unlock(&p->mu);
    if ((was == PROXY_LINK_UP) != (state == PROXY_LINK_UP) || state == PROXY_LINK_DOWN_RESET)
        evlog_emit("proxy", "proxy.link", "\"proxy\":\"%s\",\"up\":%s,\"reset\":%s", p->name,
                   state == PROXY_LINK_UP ? "true" : "false",
                   state == PROXY_LINK_DOWN_RESET ? "true" : "false");
    px_wake(p);
    return 0;
}

void proxy_stats(struct proxy *p, struct proxy_stats *st)
{
    st->conns = __atomic_load_n(&p->st.conns, __ATOMIC_RELAXED);
    st->open = __atomic_load_n(&p->st.open, __ATOMIC_RELAXED);
    st->faults = __atomic_load_n(&p->st.faults, __ATOMIC_RELAXED);
    for (int d = 0; d < 2; d++) {
        st->bytes[d] = __atomic_load_n(&p->st.bytes[d], __ATOMIC_RELAXED);
        st->datagrams[d] = __atomic_load_n(&p->st.datagrams[d], __ATOMIC_RELAXED);
        st->dropped[d] = __atomic_load_n(&p->st.dropped[d], __ATOMIC_RELAXED);
    }
}
