/*
 * proxy.h - the transport fault proxy of the fake cloud: it sits between a
 * device and one cloud port (MQTT, HTTP; UDP for CoAP), forwards what
 * passes, and injects seeded transport faults on the way (docs/faults.md).
 *
 * TCP: every connection accepted on 127.0.0.1:port gets its own connection
 * to the upstream. UDP: every client address gets its own socket towards the
 * upstream, so the upstream sees one peer per client, and replies go back to
 * the client they belong to.
 *
 * Faults are lists per direction (PROXY_UP: device -> cloud, PROXY_DOWN:
 * cloud -> device), applied in list order to what passes. Every random
 * choice comes from a generator seeded by (proxy seed, connection number,
 * direction, position of the fault in its list), never from the clock: the
 * same seed and the same traffic give the same schedule.
 *
 * One thread runs all I/O (epoll); the functions below may be called from any
 * other thread. Events (sim/util/evlog.h, source "proxy"): proxy.started,
 * proxy.faults, proxy.conn_open, proxy.conn_close, proxy.fault, proxy.link,
 * proxy.stopped (fields in docs/faults.md).
 */
#ifndef PROXY_H
#define PROXY_H

#include <stddef.h>
#include <stdint.h>

#define PROXY_MAX_FAULTS 16   /* faults per direction */
#define PROXY_NAME_MAX   32   /* proxy name, including the NUL */

enum proxy_kind {
    PROXY_TCP = 0,            /* stream connections */
    PROXY_UDP,                /* datagrams, one upstream socket per client */
};

/* Directions. PROXY_BOTH only where a function says it takes it. */
enum proxy_dir {
    PROXY_UP = 0,             /* device -> cloud */
    PROXY_DOWN = 1,           /* cloud -> device */
    PROXY_BOTH = 2,           /* the same list on both directions */
};

enum proxy_fault_type {
    PROXY_F_LATENCY = 1,      /* TCP, UDP: delay each chunk or datagram */
    PROXY_F_BANDWIDTH,        /* TCP, UDP: limit the rate */
    PROXY_F_SLICER,           /* TCP: cut the stream into small segments */
    PROXY_F_CLOSE_AFTER,      /* TCP: FIN both sides after N bytes */
    PROXY_F_RESET,            /* TCP: RST both sides now, after a time or after N bytes */
    PROXY_F_BLACKHOLE,        /* TCP, UDP: swallow everything */
    PROXY_F_LOSS,             /* UDP: drop datagrams */
    PROXY_F_DUP,              /* UDP: send datagrams twice */
    PROXY_F_REORDER,          /* UDP: let later datagrams overtake one */
};

/* One fault on one direction. Durations are microseconds. */
struct proxy_fault {
    enum proxy_fault_type type;
    uint32_t conn;            /* 0: every connection; k >= 1: only the k-th accepted (UDP: k-th client) */
    union {
        struct {
            uint64_t us;          /* added delay */
            uint64_t jitter_us;   /* +/- uniform, drawn per chunk (TCP, order kept) or datagram (UDP) */
        } latency;
        struct {
            uint64_t bps;         /* bytes per second, >= 1 */
        } bandwidth;
        struct {
            uint32_t avg;         /* average segment size, bytes, >= 1 */
            uint32_t var;         /* +/- uniform, bytes, < avg */
            uint64_t delay_us;    /* between the starts of consecutive segments */
        } slicer;
        struct {
            uint64_t bytes;       /* bytes of this direction that go through, counted from the start */
        } close_after;
        struct {
            uint64_t bytes;       /* > 0: once this many bytes of this direction went through */
            uint64_t after_us;    /* when bytes is 0: this long after the fault took effect (0 = now) */
        } reset;
        struct {
            uint64_t close_us;    /* TCP: FIN both sides this long after it took effect; 0 = never */
        } blackhole;
        struct {
            double p;             /* probability that a datagram is dropped, 0..1 */
        } loss;
        struct {
            double p;             /* probability that a datagram is sent twice, 0..1 */
        } dup;
        struct {
            double   p;           /* probability that a datagram is held back, 0..1 */
            uint32_t window;      /* it goes after this many later datagrams, >= 1 */
            uint64_t hold_us;     /* or after this long, whichever comes first, >= 1 */
        } reorder;
    } u;
};

struct proxy_opts {
    const char     *name;           /* in events ("mqtt", "http", "coap"); NULL = "proxy" */
    enum proxy_kind kind;
    int             listen_port;    /* on 127.0.0.1; 0 = a free port chosen by the kernel */
    const char     *upstream_host;  /* numeric address or host name, resolved once at start */
    int             upstream_port;  /* 1..65535 */
    uint64_t        seed;           /* seed of every random choice */
};

/* Counters since start. Read with proxy_stats(). */
struct proxy_stats {
    uint64_t conns;           /* connections accepted (UDP: clients seen) */
    uint64_t open;            /* of which still open */
    uint64_t bytes[2];        /* bytes delivered, [PROXY_UP] to the upstream, [PROXY_DOWN] to the device */
    uint64_t datagrams[2];    /* UDP: datagrams delivered per direction */
    uint64_t dropped[2];      /* bytes (TCP) or datagrams (UDP) that faults or a down link discarded */
    uint64_t faults;          /* proxy.fault events emitted */
};

/* Link states for proxy_link(). */
enum proxy_link_state {
    PROXY_LINK_DOWN = 0,       /* new connections are accepted and held; open ones stall */
    PROXY_LINK_UP = 1,         /* held connections go on, stalled ones continue */
    PROXY_LINK_DOWN_RESET = 2, /* as DOWN, and every existing connection is reset (RST both sides) */
};

/* Starts a proxy: binds 127.0.0.1:o->listen_port (TCP listener or UDP
 * socket), resolves the upstream, and starts the I/O thread with every
 * signal blocked. The link starts up and no fault is set. Emits
 * "proxy.started" {"proxy","kind","port","upstream","seed"}.
 * Returns the proxy, or NULL with a one-line reason in err: bad options
 * (no upstream, port out of range, name too long), upstream not
 * resolvable, port in use, out of memory or descriptors. */
struct proxy *proxy_start(const struct proxy_opts *o, char *err, size_t errlen);

/* Stops the I/O thread and closes every socket (open connections see the
 * proxy vanish as if its process had ended), frees everything. Emits
 * "proxy.conn_close" for each open connection and "proxy.stopped". NULL is
 * a no-op. Not from the proxy's own thread. */
void proxy_stop(struct proxy *p);

/* The port the proxy listens on. */
int proxy_port(const struct proxy *p);

/* Replaces the fault list of a direction (PROXY_UP, PROXY_DOWN or
 * PROXY_BOTH) with list[0..n-1], copied. Open connections take the new
 * list at once: a fault that stays the same at the same position keeps its
 * state; a new one takes effect now (its timers count from now; byte
 * thresholds count from the start of the connection, so one already passed
 * fires at once). Returns 0, -EINVAL (dir out of range, n < 0, list NULL
 * with n > 0, or a fault that fails proxy_fault_check() for this proxy's
 * kind) or -E2BIG (n > PROXY_MAX_FAULTS). The lists are unchanged on
 * error. */
int proxy_set_faults(struct proxy *p, int dir, const struct proxy_fault *list, int n);

/* Empties the fault list of a direction (or both). 0 or -EINVAL (dir). */
int proxy_clear_faults(struct proxy *p, int dir);

/* Takes the link down or up (enum proxy_link_state). Emits "proxy.link"
 * {"proxy","up","reset"} when the state changes. 0 or -EINVAL. */
int proxy_link(struct proxy *p, int state);

/* Copies the counters into st. */
void proxy_stats(struct proxy *p, struct proxy_stats *st);

/* Parses a textual fault, e.g. "down:latency=20ms,jitter=5ms",
 * "down:conn=2:close_after=40000" or "udp:loss=0.2" (format in
 * docs/faults.md). f gets the fault, dir PROXY_UP, PROXY_DOWN or PROXY_BOTH
 * ("both:" and "udp:"). Returns 0, or -EINVAL with one line in err naming
 * the offending key or value; f and dir are then unspecified. */
int proxy_fault_parse(const char *spec, struct proxy_fault *f, int *dir, char *err, size_t errlen);

/* Writes the canonical spec of f on dir (PROXY_UP, PROXY_DOWN, PROXY_BOTH)
 * into buf; proxy_fault_parse() reads it back to the same fault. Returns
 * the length it needed (as snprintf), or -EINVAL for an unknown type. */
int proxy_fault_format(const struct proxy_fault *f, int dir, char *buf, size_t len);

/* Checks f's parameters and that it applies to kind (datagram faults only
 * on UDP; slicer, close_after and reset only on TCP). 0, or -EINVAL with one
 * line in err. */
int proxy_fault_check(const struct proxy_fault *f, enum proxy_kind kind, char *err, size_t errlen);

/* The fault's name as in specs and events ("latency", "close_after", ...),
 * "?" for an unknown type. */
const char *proxy_fault_name(enum proxy_fault_type t);

#endif /* PROXY_H */
