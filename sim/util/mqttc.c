/*
 * mqttc.c - a freestanding MQTT 3.1.1 client over an abstract transport
 * (mqttc.h).
 *
 * Outgoing packets are built in the caller's transmit buffer and written
 * whole (a PUBLISH's payload straight from the caller's buffer). Incoming
 * packets go through one reader whose state survives between calls: the
 * first byte, the remaining length a byte at a time (at most 4), then the
 * body into the receive buffer. The first byte and the length are checked
 * before any body byte is read: a packet type the server may not send, a
 * fixed-header flag MQTT reserves, or a size that is not the type's is a
 * protocol error, so a hostile length never reaches a buffer. A PUBLISH
 * longer than the receive buffer is read through it in pieces and dropped;
 * its packet id is picked out of the stream as it passes so the broker
 * still gets its PUBACK (it would otherwise redeliver it at every
 * reconnect of a persistent session).
 *
 * Every packet read, wherever it is read (a wait for an acknowledgement or
 * the idle loop's poll), goes through one dispatcher: deliveries reach the
 * callback (PUBACK first, as libmosquitto does), acknowledgements complete
 * the wait they match or a callback's pending call, PINGRESP clears the
 * keepalive.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mqttc.h"

#define MQTTC_DEFAULT_TIMEOUT_MS 5000

static uint32_t now(const struct mqttc *c)
{
    return c->io->now_ms(c->io_ctx);
}

/* Milliseconds until deadline, 0 once it has passed. */
static uint32_t left(const struct mqttc *c, uint32_t deadline)
{
    int32_t d = (int32_t)(deadline - now(c));

    return d > 0 ? (uint32_t)d : 0;
}

static int expired(const struct mqttc *c, uint32_t deadline)
{
    return (int32_t)(deadline - now(c)) <= 0;
}

static void end_session(struct mqttc *c)
{
    c->connected = 0;
    c->ping_out = 0;
    memset(&c->rd, 0, sizeof(c->rd));
}

/* Fails the session with rc (an error code) and returns it. */
static int fail(struct mqttc *c, int rc)
{
    end_session(c);
    return rc;
}

int mqttc_encode_len(uint32_t len, uint8_t out[4])
{
    int n = 0;

    if (len > MQTTC_LEN_MAX)
        return MQTTC_ENOSPC;
    do {
        uint8_t b = (uint8_t)(len & 0x7f);

        len >>= 7;
        if (len)
            b |= 0x80;
        out[n++] = b;
    } while (len);
    return n;
}

int mqttc_decode_len(const uint8_t *buf, size_t avail, uint32_t *len)
{
    uint32_t v = 0;

    for (size_t i = 0; i < 4; i++) {
        if (i >= avail)
            return 0;
        v |= (uint32_t)(buf[i] & 0x7f) << (7 * i);
        if (!(buf[i] & 0x80)) {
            *len = v;
            return (int)i + 1;
        }
    }
    return MQTTC_EPROTO;
}

/* Writes all of buf before deadline. 0, MQTTC_EIO or MQTTC_ETIMEOUT. */
static int send_all(struct mqttc *c, const uint8_t *buf, size_t len, uint32_t deadline)
{
    while (len) {
        int n = c->io->send(c->io_ctx, buf, len, left(c, deadline));

        if (n < 0)
            return MQTTC_EIO;
        if (n == 0) {
            if (expired(c, deadline))
                return MQTTC_ETIMEOUT;
            continue;
        }
        if ((size_t)n > len)
            return MQTTC_EIO; /* a transport that claims more than it was given */
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Sends the len bytes built in tx, then (optionally) tail. A failure part
 * way leaves the stream out of step, so it ends the session. */
static int send_packet(struct mqttc *c, size_t len, const void *tail, size_t tail_len)
{
    uint32_t deadline = now(c) + c->timeout_ms;
    int rc = send_all(c, c->tx, len, deadline);

    if (rc == 0 && tail_len)
        rc = send_all(c, tail, tail_len, deadline);
    if (rc < 0)
        return fail(c, rc);
    c->last_tx_ms = now(c);
    return 0;
}

/* A two-byte acknowledgement-shaped packet: type|flags, 2, id. */
static int send_ack(struct mqttc *c, uint8_t first, uint16_t id)
{
    c->tx[0] = first;
    c->tx[1] = 2;
    c->tx[2] = (uint8_t)(id >> 8);
    c->tx[3] = (uint8_t)id;
    return send_packet(c, 4, NULL, 0);
}

static uint16_t new_id(struct mqttc *c)
{
    if (++c->next_id == 0)
        c->next_id = 1;
    return c->next_id;
}

/* ---- reading ------------------------------------------------------------ */

/* Checks the first byte and remaining length of an incoming packet before
 * its body is read. 0 or MQTTC_EPROTO. */
static int check_header(const struct mqttc *c, uint8_t hdr, uint32_t len)
{
    unsigned type = hdr >> 4, flags = hdr & 0x0f;

    (void)c;
    if (type == MQTTC_PUBLISH) {
        unsigned qos = (flags >> 1) & 3;

        if (qos > 1)            /* QoS 2 is never subscribed to; 3 is malformed */
            return MQTTC_EPROTO;
        return len < 2u + (qos ? 2u : 0u) + 1u ? MQTTC_EPROTO : 0; /* a topic of >= 1 byte */
    }
    if (flags != 0)
        return MQTTC_EPROTO;
    switch (type) {
    case MQTTC_CONNACK:
    case MQTTC_PUBACK:
        return len == 2 ? 0 : MQTTC_EPROTO;
    case MQTTC_SUBACK:
        return len == 3 ? 0 : MQTTC_EPROTO; /* one filter a SUBSCRIBE */
    case MQTTC_PINGRESP:
        return len == 0 ? 0 : MQTTC_EPROTO;
    default:
        /* CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT are the
         * client's; PUBREC/PUBREL/PUBCOMP belong to QoS 2; UNSUBACK answers
         * nothing this client sends; 0 and 15 are reserved. */
        return MQTTC_EPROTO;
    }
}

/* Bytes of a skipped PUBLISH passing at body offset off: the topic length
 * (offsets 0, 1) and the packet id after the topic. */
static void skip_watch(struct mqttc_reader *r, const uint8_t *p, size_t n, uint32_t off,
                       uint32_t *tl, uint32_t *id)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t o = off + (uint32_t)i;

        if (o == 0)
            *tl = (uint32_t)p[i] << 8;
        else if (o == 1)
            *tl |= p[i];
        else if (o == 2 + *tl)
            *id = (uint32_t)p[i] << 8;
        else if (o == 3 + *tl) {
            *id |= p[i];
            r->nlen |= 0x80; /* the id has been seen */
        }
    }
}

/* Advances the reader until a whole packet is in (1), deadline passes with
 * none complete (0), or an error. The packet is described by c->rd (phase
 * back to 0) and its body is in rx, unless it was skipped (rd.phase 0,
 * rd.got != rd.len). */
static int read_packet(struct mqttc *c, uint32_t deadline, uint32_t *skip_tl, uint32_t *skip_id)
{
    struct mqttc_reader *r = &c->rd;

    for (;;) {
        uint32_t wait = left(c, deadline);
        int n;

        if (r->phase <= 1) {
            uint8_t b;

            n = c->io->recv(c->io_ctx, &b, 1, wait);
            if (n < 0)
                return MQTTC_EIO;
            if (n == 0)
                return 0;
            if (r->phase == 0) {
                r->hdr = b;
                r->nlen = 0;
                r->len = 0;
                r->mult = 1;
                r->got = 0;
                r->phase = 1;
                continue;
            }
            r->len += (uint32_t)(b & 0x7f) * r->mult;
            r->nlen++;
            if (b & 0x80) {
                if (r->nlen == 4)
                    return MQTTC_EPROTO; /* a 5th length byte */
                r->mult <<= 7;
                continue;
            }
            if (check_header(c, r->hdr, r->len) != 0)
                return MQTTC_EPROTO;
            r->nlen = 0; /* from here on: bit 7 = a skipped packet's id seen */
            if (r->len <= c->rx_size - 1) {
                r->phase = 2;
            } else {
                r->phase = 3;
                *skip_tl = 0;
                *skip_id = 0;
            }
            if (r->len == 0) {
                r->phase = 0;
                return 1;
            }
            continue;
        }
        if (r->phase == 2) {
            n = c->io->recv(c->io_ctx, c->rx + r->got, r->len - r->got, wait);
            if (n < 0)
                return MQTTC_EIO;
            if (n == 0)
                return 0;
            if ((uint32_t)n > r->len - r->got)
                return MQTTC_EIO;
            r->got += (uint32_t)n;
            if (r->got == r->len) {
                r->phase = 0;
                return 1;
            }
            continue;
        }
        /* phase 3: through rx in pieces, nothing kept but the id */
        {
            uint32_t want = r->len - r->got;

            if (want > c->rx_size)
                want = (uint32_t)c->rx_size;
            n = c->io->recv(c->io_ctx, c->rx, want, wait);
            if (n < 0)
                return MQTTC_EIO;
            if (n == 0)
                return 0;
            if ((uint32_t)n > want)
                return MQTTC_EIO;
            skip_watch(r, c->rx, (size_t)n, r->got, skip_tl, skip_id);
            r->got += (uint32_t)n;
            if (r->got == r->len) {
                r->phase = 0;
                r->got = (uint32_t)-1; /* marks "skipped" for the dispatcher */
                return 1;
            }
        }
    }
}

/* Removes id from the callback's pending calls of type; 1 if it was there. */
static int take_pending(struct mqttc *c, uint8_t type, uint16_t id)
{
    for (int i = 0; i < MQTTC_PENDING_MAX; i++)
        if (c->pending[i] == id && c->pending_type[i] == type) {
            c->pending[i] = 0;
            c->pending_type[i] = 0;
            return 1;
        }
    return 0;
}

static void add_pending(struct mqttc *c, uint8_t type, uint16_t id)
{
    for (int i = 0; i < MQTTC_PENDING_MAX; i++)
        if (c->pending_type[i] == 0) {
            c->pending[i] = id;
            c->pending_type[i] = type;
            return;
        }
    /* full: its acknowledgement will count as stray */
}

static int deliver(struct mqttc *c)
{
    uint32_t len = c->rd.len, tl, off;
    int qos = (c->rd.hdr >> 1) & 3;
    uint16_t id = 0;

    tl = (uint32_t)c->rx[0] << 8 | c->rx[1];
    off = 2 + tl + (qos ? 2u : 0u);
    if (tl == 0 || off > len)
        return MQTTC_EPROTO;
    if (qos) {
        id = (uint16_t)(c->rx[2 + tl] << 8 | c->rx[3 + tl]);
        if (id == 0)
            return MQTTC_EPROTO;
    }
    c->rx[len] = 0;               /* after the payload: rx_size > len */
    memmove(c->rx, c->rx + 2, tl); /* the topic over its length field ... */
    c->rx[tl] = 0;                /* ... so it ends with a NUL before the payload */
    if (qos) {
        int rc = send_ack(c, MQTTC_PUBACK << 4, id);

        if (rc < 0)
            return rc;
    }
    c->stats.delivered++;
    if (c->on_msg) {
        c->in_cb = 1;
        c->on_msg(c->msg_ctx, (char *)c->rx, tl, c->rx + off, len - off, qos);
        c->in_cb = 0;
    }
    return 0;
}

/* Handles the packet the reader completed. 0 or an error code. */
static int dispatch(struct mqttc *c, uint32_t skip_tl, uint32_t skip_id)
{
    unsigned type = c->rd.hdr >> 4;
    uint16_t id;

    if (type == MQTTC_PUBLISH && c->rd.got == (uint32_t)-1) {
        int qos = (c->rd.hdr >> 1) & 3;

        c->rd.got = 0;
        if (skip_tl == 0 || 2 + skip_tl + (qos ? 2u : 0u) > c->rd.len)
            return MQTTC_EPROTO;
        c->stats.skipped++;
        if (qos) {
            if (!(c->rd.nlen & 0x80) || skip_id == 0)
                return MQTTC_EPROTO;
            return send_ack(c, MQTTC_PUBACK << 4, (uint16_t)skip_id);
        }
        return 0;
    }
    if (type == MQTTC_PUBLISH)
        return c->wait_type == MQTTC_CONNACK ? MQTTC_EPROTO : deliver(c);
    if (type == MQTTC_CONNACK) {
        uint8_t flags = c->rx[0], rc = c->rx[1];

        if (c->wait_type != MQTTC_CONNACK || (flags & 0xfe) || rc > 5 || (rc && flags))
            return MQTTC_EPROTO;
        c->connack_rc = rc;
        c->session_present = flags & 1;
        c->wait_done = 1;
        return 0;
    }
    if (c->wait_type == MQTTC_CONNACK)
        return MQTTC_EPROTO; /* the first packet must be the CONNACK */
    if (type == MQTTC_PINGRESP) {
        c->ping_out = 0;
        c->stats.pongs++;
        return 0;
    }
    id = (uint16_t)(c->rx[0] << 8 | c->rx[1]);
    if (type == MQTTC_PUBACK) {
        if (c->wait_type == MQTTC_PUBACK && id == c->wait_id && !c->wait_done)
            c->wait_done = 1;
        else if (!take_pending(c, MQTTC_PUBACK, id))
            c->stats.stray_acks++;
        return 0;
    }
    /* SUBACK */
    if (c->rx[2] > 2 && c->rx[2] != 0x80)
        return MQTTC_EPROTO;
    if (c->wait_type == MQTTC_SUBACK && id == c->wait_id && !c->wait_done) {
        c->wait_rc = c->rx[2];
        c->wait_done = 1;
    } else if (take_pending(c, MQTTC_SUBACK, id)) {
        if (c->rx[2] == 0x80)
            c->stats.refused_subs++;
    } else {
        c->stats.stray_acks++;
    }
    return 0;
}

/* Reads and handles packets until the awaited acknowledgement arrives or
 * deadline passes. 0, MQTTC_ETIMEOUT, or an error that ended the session. */
static int wait_ack(struct mqttc *c, int type, uint16_t id, uint32_t deadline)
{
    int rc = 0;

    c->wait_type = type;
    c->wait_id = id;
    c->wait_done = 0;
    while (!c->wait_done) {
        uint32_t tl = 0, sid = 0;

        rc = read_packet(c, deadline, &tl, &sid);
        if (rc == 1)
            rc = dispatch(c, tl, sid);
        if (rc == 0 && type != MQTTC_CONNACK && !c->connected)
            rc = MQTTC_ESTATE; /* the callback ended the session */
        if (rc < 0) {
            fail(c, rc);
            break;
        }
        if (rc == 0 && !c->wait_done && expired(c, deadline)) {
            rc = MQTTC_ETIMEOUT;
            break;
        }
        rc = 0;
    }
    c->wait_type = 0;
    return rc;
}

/* ---- API ---------------------------------------------------------------- */

int mqttc_init(struct mqttc *c, const struct mqttc_io *io, void *io_ctx, uint8_t *tx,
               size_t tx_size, uint8_t *rx, size_t rx_size, mqttc_msg_fn on_msg, void *msg_ctx,
               uint32_t timeout_ms)
{
    if (!c || !io || !io->send || !io->recv || !io->now_ms || !tx || !rx ||
        tx_size < MQTTC_TX_MIN || rx_size < MQTTC_RX_MIN)
        return MQTTC_EINVAL;
    memset(c, 0, sizeof(*c));
    c->io = io;
    c->io_ctx = io_ctx;
    c->tx = tx;
    c->tx_size = tx_size;
    c->rx = rx;
    c->rx_size = rx_size > MQTTC_LEN_MAX ? (size_t)MQTTC_LEN_MAX + 1 : rx_size;
    c->on_msg = on_msg;
    c->msg_ctx = msg_ctx;
    c->timeout_ms = timeout_ms ? timeout_ms : MQTTC_DEFAULT_TIMEOUT_MS;
    c->connack_rc = -1;
    return 0;
}

/* A length-prefixed string at p; returns the next position. */
static uint8_t *put_str(uint8_t *p, const char *s, size_t n)
{
    *p++ = (uint8_t)(n >> 8);
    *p++ = (uint8_t)n;
    memcpy(p, s, n);
    return p + n;
}

int mqttc_connect(struct mqttc *c, const struct mqttc_connect_opts *o)
{
    size_t cl, ul = 0, pl = 0, rl;
    uint8_t lenb[4], *p;
    int nl, rc;

    if (!c || !o || !o->client_id || !o->client_id[0] || (o->password && !o->username))
        return MQTTC_EINVAL;
    if (c->in_cb)
        return MQTTC_ESTATE;
    cl = strlen(o->client_id);
    if (o->username)
        ul = strlen(o->username);
    if (o->password)
        pl = strlen(o->password);
    if (cl > 0xffff || ul > 0xffff || pl > 0xffff)
        return MQTTC_EINVAL;
    end_session(c);
    c->wait_type = 0;
    memset(c->pending, 0, sizeof(c->pending));
    memset(c->pending_type, 0, sizeof(c->pending_type));
    c->connack_rc = -1;
    c->session_present = 0;
    rl = 10 + 2 + cl + (o->username ? 2 + ul : 0) + (o->password ? 2 + pl : 0);
    nl = mqttc_encode_len((uint32_t)rl, lenb);
    if (1 + (size_t)nl + rl > c->tx_size)
        return MQTTC_ENOSPC;
    p = c->tx;
    *p++ = MQTTC_CONNECT << 4;
    memcpy(p, lenb, (size_t)nl);
    p += nl;
    p = put_str(p, "MQTT", 4);
    *p++ = 4;                                          /* protocol level 3.1.1 */
    *p++ = (uint8_t)((o->username ? 0x80 : 0) | (o->password ? 0x40 : 0) |
                     (o->clean_session ? 0x02 : 0));
    *p++ = (uint8_t)(o->keepalive_s >> 8);
    *p++ = (uint8_t)o->keepalive_s;
    p = put_str(p, o->client_id, cl);
    if (o->username)
        p = put_str(p, o->username, ul);
    if (o->password)
        p = put_str(p, o->password, pl);
    c->keepalive_s = o->keepalive_s;
    rc = send_packet(c, (size_t)(p - c->tx), NULL, 0);
    if (rc < 0)
        return rc;
    rc = wait_ack(c, MQTTC_CONNACK, 0, now(c) + c->timeout_ms);
    if (rc < 0)
        return fail(c, rc);
    if (c->connack_rc != 0)
        return fail(c, MQTTC_EREFUSED);
    if (o->clean_session && c->session_present)
        return fail(c, MQTTC_EPROTO); /* 3.1.1 section 3.2.2.2 */
    c->connected = 1;
    c->ping_out = 0;
    return 0;
}

int mqttc_subscribe(struct mqttc *c, const char *filter, int qos)
{
    size_t fl, rl;
    uint8_t *p;
    uint16_t id;
    int rc;

    if (!c || !filter || !filter[0] || qos < 0 || qos > 1)
        return MQTTC_EINVAL;
    if (!c->connected)
        return MQTTC_ESTATE;
    fl = strlen(filter);
    if (fl > 0xffff)
        return MQTTC_EINVAL;
    rl = 2 + 2 + fl + 1;
    if (1 + 4 + rl > c->tx_size)
        return MQTTC_ENOSPC;
    id = new_id(c);
    p = c->tx;
    *p++ = MQTTC_SUBSCRIBE << 4 | 0x2; /* flags 0010 (3.1.1 section 3.8.1) */
    p += mqttc_encode_len((uint32_t)rl, p);
    *p++ = (uint8_t)(id >> 8);
    *p++ = (uint8_t)id;
    p = put_str(p, filter, fl);
    *p++ = (uint8_t)qos;
    rc = send_packet(c, (size_t)(p - c->tx), NULL, 0);
    if (rc < 0)
        return rc;
    if (c->in_cb) {
        add_pending(c, MQTTC_SUBACK, id);
        return 0;
    }
    rc = wait_ack(c, MQTTC_SUBACK, id, now(c) + c->timeout_ms);
    if (rc < 0)
        return rc;
    if (c->wait_rc == 0x80)
        return MQTTC_EREFUSED;
    if (c->wait_rc > qos)
        return fail(c, MQTTC_EPROTO);
    return c->wait_rc;
}

int mqttc_publish(struct mqttc *c, const char *topic, const void *payload, size_t len, int qos,
                  int retain)
{
    size_t tl, hl;
    uint64_t rl;
    uint8_t *p;
    uint16_t id = 0;
    int rc;

    if (!c || !topic || !topic[0] || (!payload && len) || qos < 0 || qos > 1)
        return MQTTC_EINVAL;
    tl = strlen(topic);
    if (tl > 0xffff || strchr(topic, '+') || strchr(topic, '#'))
        return MQTTC_EINVAL;
    if (!c->connected)
        return MQTTC_ESTATE;
    hl = 2 + tl + (qos ? 2 : 0);
    rl = (uint64_t)hl + len;
    if (rl > MQTTC_LEN_MAX || 1 + 4 + hl > c->tx_size)
        return MQTTC_ENOSPC;
    p = c->tx;
    *p++ = (uint8_t)(MQTTC_PUBLISH << 4 | qos << 1 | (retain ? 1 : 0));
    p += mqttc_encode_len((uint32_t)rl, p);
    p = put_str(p, topic, tl);
    if (qos) {
        id = new_id(c);
        *p++ = (uint8_t)(id >> 8);
        *p++ = (uint8_t)id;
    }
    rc = send_packet(c, (size_t)(p - c->tx), payload, len);
    if (rc < 0 || qos == 0)
        return rc;
    if (c->in_cb) {
        add_pending(c, MQTTC_PUBACK, id);
        return 0;
    }
    return wait_ack(c, MQTTC_PUBACK, id, now(c) + c->timeout_ms);
}

int mqttc_poll(struct mqttc *c, uint32_t timeout_ms)
{
    uint32_t deadline, ka;
    int handled = 0;

    if (!c)
        return MQTTC_EINVAL;
    if (c->in_cb || !c->connected)
        return MQTTC_ESTATE;
    deadline = now(c) + timeout_ms;
    ka = (uint32_t)c->keepalive_s * 1000u;
    for (;;) {
        uint32_t until = deadline, t = now(c), tl = 0, sid = 0;
        int rc = 0;

        if (ka) {
            if (c->ping_out && t - c->ping_ms >= ka) {
                /* what has arrived first: a PINGRESP may be there unread */
                while (c->ping_out && (rc = read_packet(c, t, &tl, &sid)) == 1) {
                    rc = dispatch(c, tl, sid);
                    if (rc < 0)
                        return fail(c, rc);
                    if (!c->connected)
                        return MQTTC_ESTATE;
                    handled++;
                }
                if (rc < 0)
                    return fail(c, rc);
                if (c->ping_out)
                    return fail(c, MQTTC_ETIMEOUT); /* no PINGRESP within the keepalive */
            }
            if (!c->ping_out && t - c->last_tx_ms >= ka) {
                c->tx[0] = MQTTC_PINGREQ << 4;
                c->tx[1] = 0;
                rc = send_packet(c, 2, NULL, 0);
                if (rc < 0)
                    return rc;
                c->ping_out = 1;
                c->ping_ms = c->last_tx_ms;
                c->stats.pings++;
            }
            {
                uint32_t next = c->ping_out ? c->ping_ms + ka : c->last_tx_ms + ka;

                if ((int32_t)(next - until) < 0)
                    until = next;
            }
        }
        if (handled)
            until = t; /* only what is already there */
        rc = read_packet(c, until, &tl, &sid);
        if (rc == 1)
            rc = dispatch(c, tl, sid);
        else if (rc == 0 && (handled || expired(c, deadline)))
            return handled;
        else if (rc == 0)
            continue; /* a keepalive moment came first */
        if (rc < 0)
            return fail(c, rc);
        if (!c->connected)
            return MQTTC_ESTATE; /* the callback ended the session */
        handled++;
    }
}

int mqttc_disconnect(struct mqttc *c)
{
    int rc;

    if (!c)
        return MQTTC_EINVAL;
    if (!c->connected)
        return MQTTC_ESTATE;
    c->tx[0] = MQTTC_DISCONNECT << 4;
    c->tx[1] = 0;
    rc = send_packet(c, 2, NULL, 0);
    end_session(c);
    return rc;
}

int mqttc_connected(const struct mqttc *c)
{
    return c && c->connected;
}
