/*
 * mqttc.h - a freestanding MQTT 3.1.1 client for firmware that brings its
 * own network stack: no allocation (the caller gives the packet buffers),
 * no threads, no host headers. It runs over an abstract byte transport (a
 * TCP socket of the firmware's IP stack, or a POSIX socket in the tests)
 * and a millisecond clock, both the caller's.
 *
 * What it speaks: CONNECT (client id, username, password, keepalive, clean
 * session) and CONNACK; SUBSCRIBE to one filter at QoS 0 or 1 and SUBACK;
 * PUBLISH at QoS 0 and 1 (a QoS 1 publish returns at the PUBACK of its
 * packet id); incoming PUBLISH at QoS 0 and 1 (PUBACK sent, topic and
 * payload handed to the message callback); PINGREQ when the keepalive
 * needs one, PINGRESP; DISCONNECT. No QoS 2, no UNSUBSCRIBE, no will.
 *
 * The broker's bytes are untrusted: every length is checked against the
 * packet and the buffer, a packet type the server may not send, a bad
 * fixed-header flag, a malformed remaining length or a CONNACK/SUBACK/
 * PUBACK of the wrong size is a protocol error (MQTTC_EPROTO) that ends the
 * session. An incoming PUBLISH longer than the receive buffer is read off
 * the transport, counted (stats.skipped) and acknowledged, never stored.
 *
 * Deliveries that arrive while connect/subscribe/publish waits for its
 * acknowledgement go to the callback there and then, as in mqttc_poll().
 * The callback may publish and subscribe; those calls send and return
 * without waiting for their acknowledgement (the wait would read the
 * transport under the delivery being handled), as the native device's
 * libmosquitto thread does; the acknowledgement is consumed later.
 *
 * After any error other than MQTTC_ETIMEOUT from publish/subscribe, and
 * after MQTTC_EREFUSED, the session is over (mqttc_connected() is 0): the
 * caller closes the transport, opens a new one and calls mqttc_connect()
 * again (and, like the native device's host, its on_connected).
 */
#ifndef OTAHIL_MQTTC_H
#define OTAHIL_MQTTC_H

#include <stddef.h>
#include <stdint.h>

/* Return codes: 0 or a positive count on success, else one of these. */
#define MQTTC_OK         0
#define MQTTC_EIO       -1  /* the transport failed or closed (send or recv < 0) */
#define MQTTC_ETIMEOUT  -2  /* no acknowledgement in time, or the transport took no bytes */
#define MQTTC_EPROTO    -3  /* the broker sent something MQTT 3.1.1 does not allow here */
#define MQTTC_EREFUSED  -4  /* CONNACK return code 1..5 (mqttc.connack_rc), or SUBACK 0x80 */
#define MQTTC_ENOSPC    -5  /* the packet does not fit the transmit buffer or 268435455 bytes */
#define MQTTC_ESTATE    -6  /* not connected, or not allowed from the message callback */
#define MQTTC_EINVAL    -7  /* a bad argument (empty or wildcard topic, QoS > 1, NULL) */

/* Packet types (the high nibble of the first byte). */
enum mqttc_type {
    MQTTC_CONNECT = 1,
    MQTTC_CONNACK = 2,
    MQTTC_PUBLISH = 3,
    MQTTC_PUBACK = 4,
    MQTTC_PUBREC = 5,
    MQTTC_PUBREL = 6,
    MQTTC_PUBCOMP = 7,
    MQTTC_SUBSCRIBE = 8,
    MQTTC_SUBACK = 9,
    MQTTC_UNSUBSCRIBE = 10,
    MQTTC_UNSUBACK = 11,
    MQTTC_PINGREQ = 12,
    MQTTC_PINGRESP = 13,
    MQTTC_DISCONNECT = 14,
};

#define MQTTC_LEN_MAX     268435455u /* the largest remaining length (4 bytes) */
#define MQTTC_TX_MIN      64         /* smallest transmit buffer mqttc_init accepts */
#define MQTTC_RX_MIN      16         /* smallest receive buffer mqttc_init accepts */
#define MQTTC_PENDING_MAX 4          /* acknowledgements awaited for the callback's calls */

/* The transport: a const table of the caller's functions, ctx passed back.
 * send: writes up to len bytes within timeout_ms; the count written (> 0),
 *       0 when nothing could be written in time, < 0 when the connection
 *       failed or closed.
 * recv: reads up to len bytes, waiting at most timeout_ms (0: do not wait);
 *       the count read (> 0), 0 when nothing arrived in time, < 0 when the
 *       peer closed or the connection failed.
 * now_ms: a millisecond clock; it may wrap (differences are taken modulo
 *       2^32). */
struct mqttc_io {
    int      (*send)(void *ctx, const uint8_t *buf, size_t len, uint32_t timeout_ms);
    int      (*recv)(void *ctx, uint8_t *buf, size_t len, uint32_t timeout_ms);
    uint32_t (*now_ms)(void *ctx);
};

/* A delivery: topic (topic_len bytes) and payload (len bytes) live in the
 * receive buffer and are each followed by a NUL byte; both are valid only
 * during the call. qos is the delivery's QoS (0 or 1). */
typedef void (*mqttc_msg_fn)(void *ctx, char *topic, size_t topic_len, uint8_t *payload,
                             size_t len, int qos);

/* What CONNECT carries. Strings are NUL-terminated; username and password
 * may be NULL (then not sent). */
struct mqttc_connect_opts {
    const char *client_id;
    const char *username;
    const char *password;
    uint16_t    keepalive_s;   /* 0: no keepalive, no pings */
    int         clean_session; /* 1: clean session; G1 connects with 0 (spec §1.2) */
};

struct mqttc_stats {
    uint32_t delivered;     /* PUBLISH packets handed to the callback */
    uint32_t skipped;       /* PUBLISH packets too long for the receive buffer (dropped) */
    uint32_t pings;         /* PINGREQ sent */
    uint32_t pongs;         /* PINGRESP received */
    uint32_t stray_acks;    /* PUBACK/SUBACK for a packet id nobody waited for (ignored) */
    uint32_t refused_subs;  /* SUBACK 0x80 for a subscription made from the callback */
};

/* Reader of one incoming packet, kept between calls so a packet may arrive
 * in pieces across timeouts. */
struct mqttc_reader {
    int      phase;       /* 0 first byte, 1 length bytes, 2 body, 3 skipping the rest */
    uint8_t  hdr;         /* the first byte */
    uint8_t  nlen;        /* remaining-length bytes read; in a skipped PUBLISH's body,
                           * bit 7 once its packet id has gone past */
    uint32_t len;         /* remaining length */
    uint32_t mult;        /* weight of the next length byte */
    uint32_t got;         /* body bytes read (stored or skipped); UINT32_MAX once a
                           * skipped PUBLISH is complete, until it is dispatched */
};

struct mqttc {
    const struct mqttc_io *io;
    void      *io_ctx;
    uint8_t   *tx;                /* outgoing packets are built here (not a PUBLISH's payload) */
    size_t     tx_size;
    uint8_t   *rx;                /* one incoming packet's body, plus a NUL */
    size_t     rx_size;
    mqttc_msg_fn on_msg;
    void      *msg_ctx;
    uint32_t   timeout_ms;        /* wait for CONNACK, SUBACK, PUBACK, a send */
    /* session */
    int        connected;         /* 1 between a CONNACK 0 and an error or disconnect */
    int        connack_rc;        /* the last CONNACK's return code; -1 none yet */
    int        session_present;   /* the last CONNACK's flag */
    uint16_t   keepalive_s;
    uint16_t   next_id;           /* the last packet id used (never 0) */
    uint32_t   last_tx_ms;        /* when the last packet went out */
    int        ping_out;          /* a PINGREQ awaits its PINGRESP */
    uint32_t   ping_ms;           /* when it went out */
    int        in_cb;             /* inside the message callback */
    /* the acknowledgement being waited for */
    int        wait_type;         /* MQTTC_CONNACK, _SUBACK, _PUBACK or 0 */
    uint16_t   wait_id;
    int        wait_done;
    int        wait_rc;           /* SUBACK: the granted QoS or 0x80 */
    uint16_t   pending[MQTTC_PENDING_MAX]; /* ids sent from the callback, acks not yet seen */
    uint8_t    pending_type[MQTTC_PENDING_MAX];
    struct mqttc_reader rd;
    struct mqttc_stats  stats;
};

/* Sets c up over io (ctx io_ctx) with a transmit buffer (tx_size >=
 * MQTTC_TX_MIN: holds CONNECT, SUBSCRIBE and a PUBLISH's header and topic)
 * and a receive buffer (rx_size >= MQTTC_RX_MIN: an incoming packet's body
 * up to rx_size - 1 bytes is delivered, a longer PUBLISH skipped). on_msg
 * may be NULL (deliveries are acknowledged and counted only). timeout_ms
 * bounds every wait for an acknowledgement (0: 5000). 0, or MQTTC_EINVAL. */
int mqttc_init(struct mqttc *c, const struct mqttc_io *io, void *io_ctx, uint8_t *tx,
               size_t tx_size, uint8_t *rx, size_t rx_size, mqttc_msg_fn on_msg, void *msg_ctx,
               uint32_t timeout_ms);

/* Sends CONNECT over a freshly opened transport and waits for CONNACK.
 * 0 (connected; c->session_present set), MQTTC_EREFUSED (c->connack_rc
 * holds 1..5: 1 protocol version, 2 client id, 3 unavailable, 4 bad user
 * name or password, 5 not authorised), MQTTC_ETIMEOUT, MQTTC_EIO,
 * MQTTC_EPROTO (anything but a well-formed CONNACK came first), MQTTC_ENOSPC,
 * MQTTC_EINVAL (no client id), MQTTC_ESTATE (from the callback). */
int mqttc_connect(struct mqttc *c, const struct mqttc_connect_opts *o);

/* Subscribes to one topic filter at qos (0 or 1) and waits for the SUBACK
 * with its packet id. The granted QoS (0 or 1; a broker may grant less), or
 * MQTTC_EREFUSED (0x80, the broker refused), MQTTC_EPROTO (a grant above
 * qos or a malformed SUBACK), MQTTC_ETIMEOUT, MQTTC_EIO, MQTTC_ENOSPC,
 * MQTTC_EINVAL, MQTTC_ESTATE. From the callback: 0 once sent (the SUBACK is
 * checked later; a refusal counts in stats.refused_subs). */
int mqttc_subscribe(struct mqttc *c, const char *filter, int qos);

/* Publishes len bytes of payload (NULL only with 0) on topic (no wildcards)
 * at qos 0 or 1, retain flag retain. QoS 0 returns once sent; QoS 1 waits
 * for the PUBACK with its packet id (deliveries meanwhile are delivered).
 * The payload is sent from the caller's buffer, so it may be larger than
 * tx_size. 0, or MQTTC_ETIMEOUT (no PUBACK in time: the session stays up),
 * MQTTC_EIO, MQTTC_EPROTO, MQTTC_ENOSPC, MQTTC_EINVAL, MQTTC_ESTATE. From
 * the callback a QoS 1 publish returns 0 once sent. */
int mqttc_publish(struct mqttc *c, const char *topic, const void *payload, size_t len, int qos,
                  int retain);

/* The idle loop's call: sends a PINGREQ when keepalive_s has passed since
 * the last packet went out, waits up to timeout_ms for a packet, handles it
 * (a delivery, a PINGRESP, a late acknowledgement) and any that follow
 * without waiting. The number of packets handled (>= 0), or MQTTC_EIO,
 * MQTTC_EPROTO, MQTTC_ETIMEOUT (no PINGRESP within the keepalive: the
 * connection is dead), MQTTC_ESTATE (not connected, or from the callback). */
int mqttc_poll(struct mqttc *c, uint32_t timeout_ms);

/* Sends DISCONNECT (best effort) and ends the session. 0, MQTTC_EIO or
 * MQTTC_ETIMEOUT (the session is ended anyway), MQTTC_ESTATE (not
 * connected). */
int mqttc_disconnect(struct mqttc *c);

/* 1 while the session is up. */
int mqttc_connected(const struct mqttc *c);

/* Remaining length (MQTT 3.1.1 section 2.2.3): 7 bits a byte, least
 * significant first, bit 7 set when another byte follows, at most 4 bytes.
 * encode writes 1..4 bytes into out and returns the count, or MQTTC_ENOSPC
 * for a length above MQTTC_LEN_MAX. decode reads from buf (avail bytes):
 * the bytes used (1..4) with *len set, 0 when buf ends inside the field,
 * MQTTC_EPROTO when a 4th byte still has its continuation bit. */
int mqttc_encode_len(uint32_t len, uint8_t out[4]);
int mqttc_decode_len(const uint8_t *buf, size_t avail, uint32_t *len);

#endif
