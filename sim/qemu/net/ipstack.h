/*
 * ipstack.h - a small IPv4/TCP client stack for firmware that brings its own
 * network (docs/qemu.md, "Own IP stack on the LAN9118"): Ethernet II, ARP,
 * IPv4 without fragments, ICMP echo replies and TCP client sockets over any
 * frame device (struct net_dev; sim/qemu/net/lan9118.c is one). Static
 * addressing (QEMU's -nic user: guest 10.0.2.15/24, gateway and host
 * 10.0.2.2). Freestanding, no malloc: every buffer is static and sized below.
 *
 * The API is synchronous, polling and single-threaded. The caller's idle loop
 * calls net_poll; the blocking calls (tcp_connect, tcp_send, tcp_recv,
 * tcp_close) poll internally and call net_cfg.idle between polls. Time comes
 * from net_cfg.now_ms, so the stack needs nothing from a program's start-up.
 *
 * Limits: one interface; no IP options (skipped on input, never sent), no
 * fragments (a fragment is dropped), no urgent data, no TCP options but MSS
 * (no window scaling, no SACK, no timestamps), no congestion control (for a
 * LAN or a host's loopback: the peer's window and NET_TCP_MAX_FLIGHT bound
 * what is in flight); out-of-order segments are dropped and re-acknowledged
 * (the peer's fast retransmit resends them); no listening sockets.
 */
#ifndef OTAHIL_IPSTACK_H
#define OTAHIL_IPSTACK_H

#include <stddef.h>
#include <stdint.h>

/* ---- tunables ---------------------------------------------------------- */
#define NET_TCP_SOCKETS    4      /* sockets open at once (TIME_WAIT included) */
#define NET_TCP_RXBUF      8192   /* per-socket receive ring; its free space is the window */
#define NET_TCP_TXBUF      8192   /* per-socket send ring: unacknowledged + unsent bytes */
#define NET_TCP_MSS        1460   /* our MSS: Ethernet's 1500-byte MTU */
#define NET_TCP_MAX_FLIGHT 8      /* segments in flight at most */
#define NET_TCP_RTO_INIT   1000   /* ms: initial retransmission timeout (RFC 6298) */
#define NET_TCP_RTO_MIN    200    /* ms */
#define NET_TCP_RTO_MAX    8000   /* ms: the backoff stops doubling here */
#define NET_TCP_MAX_RETX   8      /* retransmissions of one segment before the connection is dropped */
#define NET_TCP_TIME_WAIT  500    /* ms a closed connection lingers in TIME_WAIT (short: clients only) */
#define NET_TCP_CLOSE_MS   3000   /* ms tcp_close waits for the FIN handshake before it resets */
#define NET_ARP_ENTRIES    4      /* ARP cache entries */
#define NET_ARP_RETRY_MS   250    /* ms between ARP requests while resolving */
#define NET_ARP_TTL_MS     600000 /* ms an ARP entry is trusted */
#define NET_EPHEMERAL_LO   49152  /* ephemeral local ports: NET_EPHEMERAL_LO..65535 */

#if NET_TCP_RXBUF < NET_TCP_MSS || NET_TCP_RXBUF > 65535
#error "NET_TCP_RXBUF must hold a segment and fit TCP's 16-bit window"
#endif
#if NET_TCP_TXBUF < NET_TCP_MSS
#error "NET_TCP_TXBUF must hold a segment"
#endif

/* ---- error codes (negative, Linux errno values) ------------------------ */
#define NET_EBADF       (-9)   /* not an open socket descriptor */
#define NET_ENODEV      (-19)  /* net_init: no device, or the device failed to start */
#define NET_EINVAL      (-22)  /* an argument out of range (NULL, zero port, bad config) */
#define NET_EMFILE      (-24)  /* tcp_connect: all NET_TCP_SOCKETS are in use */
#define NET_EPIPE       (-32)  /* tcp_send: the connection is closing or closed on our side */
#define NET_ERESET      (-104) /* the peer reset the connection (after its data was read) */
#define NET_ENOTCONN    (-107) /* net_init was not called, or the socket never connected */
#define NET_ETIMEDOUT   (-110) /* connect timeout, or NET_TCP_MAX_RETX retransmissions unanswered */
#define NET_EREFUSED    (-111) /* tcp_connect: the peer answered the SYN with a reset */
#define NET_EHOSTUNREACH (-113) /* tcp_connect: ARP got no answer for the next hop */
#define NET_ECLOSED     (-1)   /* tcp_recv: the peer closed (FIN) and every byte was read */

/* A frame device: Ethernet II frames without the FCS. */
struct net_dev {
    int (*send)(const void *frame, size_t len); /* 0, or < 0 (the frame is lost) */
    int (*recv)(void *buf, size_t cap);         /* length > 0, 0 none waiting, < 0 a frame dropped */
};

struct net_cfg {
    const struct net_dev *dev; /* the frame device */
    uint8_t mac[6];            /* our MAC address (the device's: the caller reads it) */
    uint32_t ip, mask, gw;     /* IPv4, host byte order: 10.0.2.15, 255.255.255.0, 10.0.2.2 */
    uint32_t (*now_ms)(void);  /* a millisecond clock (wraps at 2^32) */
    void (*idle)(void);        /* called between polls while blocking (WFI); NULL: spin */
    uint32_t seed;             /* picks ephemeral ports and initial sequence numbers: give a
                                  value that differs across boots (a boot counter, a seed) */
};

struct net_stats {
    uint32_t rx_frames, tx_frames;   /* frames through the device */
    uint32_t rx_dropped;             /* frames we dropped: bad checksum, not for us, unsupported */
    uint32_t tcp_retransmits;        /* segments sent again after a timeout */
    uint32_t tcp_out_of_order;       /* segments dropped because they were ahead of rcv_nxt */
    uint32_t icmp_echo;              /* echo requests answered */
};

/* Sets up the stack over cfg->dev (copied; net_init again resets every
 * socket and the ARP cache). Returns 0 or NET_EINVAL (no dev, send/recv or
 * now_ms missing, ip 0, mask 0). */
int net_init(const struct net_cfg *cfg);

/* Takes every frame waiting on the device and handles it (ARP replies and
 * requests, ICMP echo, TCP), then runs the timers (retransmissions, TIME_WAIT,
 * acknowledgements owed). Call it from the idle loop, often (every
 * millisecond or on the device's interrupt). */
void net_poll(void);

/* Parses a dotted quad ("10.0.2.2") into *ip (host byte order). Exactly four
 * decimal parts 0..255, no other characters. Returns 0 or NET_EINVAL. */
int net_aton(const char *s, uint32_t *ip);

/* Opens a TCP connection to ip:port (host byte order): resolves the next
 * hop with ARP, sends a SYN (MSS option) and retransmits it with backoff
 * until the peer answers or timeout_ms has passed. Returns a socket
 * descriptor >= 0, or NET_EINVAL, NET_ENOTCONN, NET_EMFILE, NET_EHOSTUNREACH,
 * NET_EREFUSED (the peer sent a reset: nobody listens there), NET_ETIMEDOUT. */
int tcp_connect(uint32_t ip, uint16_t port, uint32_t timeout_ms);

/* Queues up to len bytes for sending, waiting up to timeout_ms for room in
 * the socket's NET_TCP_TXBUF send ring; what fits is sent as the peer's window
 * allows. Returns the bytes queued (> 0; less than len when the time ran out
 * with part queued), 0 when nothing could be queued in time (or len is 0), or
 * NET_EBADF, NET_EINVAL (buf NULL), NET_EPIPE (tcp_close'd or FIN sent),
 * NET_ERESET, NET_ETIMEDOUT (the connection was dropped after
 * NET_TCP_MAX_RETX retransmissions). */
int tcp_send(int sd, const void *buf, size_t len, uint32_t timeout_ms);

/* Waits up to timeout_ms for data and copies at most len bytes of it into
 * buf. Returns the bytes copied (> 0), 0 when nothing arrived in time (or len
 * is 0), or, once every byte the peer sent has been read: NET_ECLOSED (the
 * peer closed: FIN), NET_ERESET (it reset), NET_ETIMEDOUT (dropped after
 * retransmissions); NET_EBADF, NET_EINVAL (buf NULL). */
int tcp_recv(int sd, void *buf, size_t len, uint32_t timeout_ms);

/* Waits up to timeout_ms until the bytes queued by tcp_send have all been
 * acknowledged. Returns 0 when they have, NET_ETIMEDOUT when the time ran
 * out first, the connection's error (NET_ERESET, NET_ETIMEDOUT) if it ended,
 * or NET_EBADF. */
int tcp_flush(int sd, uint32_t timeout_ms);

/* Graceful close: the queued bytes are sent, then a FIN; waits up to
 * NET_TCP_CLOSE_MS for the peer to acknowledge it and to close its side
 * (data arriving meanwhile is discarded), then resets the connection if it
 * has not finished. The descriptor is free on return either way; the
 * connection may linger NET_TCP_TIME_WAIT ms inside the stack. Returns 0 (a
 * clean close), NET_ETIMEDOUT (it had to reset), NET_ERESET (the peer had
 * reset), NET_EBADF. */
int tcp_close(int sd);

/* tcp_close without the wait, as a socket's close() on a host: the queued
 * bytes and a FIN go out, the descriptor is free at once, and net_poll
 * finishes the handshake in the background (data arriving is discarded); a
 * connection that has not finished it within NET_TCP_CLOSE_MS is reset. The
 * socket stays taken until then. Returns 0 or NET_EBADF. */
int tcp_close_nowait(int sd);

/* Sends a reset and frees the descriptor at once. Returns 0 or NET_EBADF. */
int tcp_abort(int sd);

/* 1 while the socket is connected and the peer has not closed its side, 0
 * otherwise (or a bad descriptor). */
int tcp_is_open(int sd);

/* The counters since net_init. */
void net_get_stats(struct net_stats *out);

#endif
