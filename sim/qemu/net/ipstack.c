/*
 * ipstack.c - Ethernet II, ARP, IPv4, ICMP echo and TCP client sockets for
 * firmware with its own network (ipstack.h has the contract and the limits).
 *
 * TCP as RFC 793/9293 has it for an active opener, with RFC 6298's timer:
 * a SYN with the MSS option, retransmitted with backoff; the send ring holds
 * every byte from snd_una on, so a timeout goes back to snd_una and sends
 * again what the peer's window allows (go-back-N), and an acknowledgement
 * beyond snd_nxt (after such a go-back) moves snd_nxt up. Received bytes
 * are taken only in order, into the receive ring, whose free space is the
 * window we advertise; a segment ahead of rcv_nxt is dropped and answered by
 * an acknowledgement of rcv_nxt at once (a duplicate ACK the peer's fast
 * retransmit acts on). Other acknowledgements are sent once per poll, for
 * every segment handled in it. A FIN is a sequence number after the last
 * byte queued; RST is taken when its sequence number is in the window.
 * Three duplicate acknowledgements resend the first unacknowledged segment
 * at once (fast retransmit), without waiting for the timer.
 */
#include "sim/qemu/net/ipstack.h"

#include <string.h>

#define ETH_HLEN   14
#define IP_HLEN    20
#define TCP_HLEN   20
#define ETYPE_IP   0x0800
#define ETYPE_ARP  0x0806
#define PROTO_ICMP 1
#define PROTO_TCP  6
#define FRAME_MAX  1514

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10

#define SEQ_LT(a, b)  ((int32_t)((a) - (b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((a) - (b)) <= 0)
#define SEQ_GT(a, b)  ((int32_t)((a) - (b)) > 0)
#define SEQ_GEQ(a, b) ((int32_t)((a) - (b)) >= 0)

enum tcp_state {
    TS_CLOSED, TS_SYN_SENT, TS_ESTABLISHED, TS_FIN_WAIT_1, TS_FIN_WAIT_2,
    TS_CLOSE_WAIT, TS_CLOSING, TS_LAST_ACK, TS_TIME_WAIT,
};

struct tcp_sock {
    uint8_t owned;      /* the descriptor is the caller's (connect .. close/abort) */
    uint8_t lingering;  /* tcp_close_nowait: closing in the background until close_by */
    uint32_t close_by;  /* then reset if the handshake has not finished */
    uint8_t state;      /* enum tcp_state */
    uint8_t fin_queued; /* a FIN follows the queued bytes */
    uint8_t fin_out;    /* snd_nxt counts our FIN (sent, not yet acknowledged) */
    uint8_t fin_acked;  /* the peer acknowledged our FIN */
    uint8_t peer_fin;   /* the peer's FIN was taken: no more data comes */
    uint8_t ack_now;    /* an acknowledgement is owed */
    uint8_t discard;    /* the caller closed: incoming bytes are acknowledged and dropped */
    uint8_t timer_on;   /* rtx_at is armed (retransmission, SYN or window probe) */
    uint8_t rtt_on;     /* timing the segment ending at rtt_seq */
    uint8_t dupacks;    /* duplicate acknowledgements of snd_una in a row */
    int err;            /* why the connection ended (NET_E*), 0 while it has not */
    uint32_t rip;       /* peer address, host order */
    uint16_t rport, lport;
    uint8_t rmac[6];    /* next hop's MAC, resolved at connect */
    uint16_t mss;       /* the peer's MSS (536 without the option), at most NET_TCP_MSS */
    uint32_t iss;       /* our initial sequence number */
    uint32_t snd_una;   /* oldest unacknowledged sequence number */
    uint32_t snd_nxt;   /* next sequence number to send */
    uint32_t snd_max;   /* highest sequence number sent + 1 */
    uint32_t snd_wnd;   /* the peer's window (bytes from snd_una) */
    uint32_t rcv_nxt;   /* next sequence number expected */
    uint32_t last_wnd;  /* the window in the last segment we sent */
    uint32_t last_edge; /* its right edge: rcv_nxt + window, as the peer knows it */
    uint32_t rto;       /* ms: retransmission timeout, with backoff */
    uint32_t srtt8;     /* smoothed RTT in ms * 8; 0 before the first sample */
    uint32_t rttvar4;   /* RTT variation in ms * 4 */
    uint32_t rtx_at;    /* ms: when the timer fires */
    uint32_t retx;      /* retransmissions since the last progress */
    uint32_t rtt_seq, rtt_start; /* the segment timed and when it was sent */
    uint32_t tw_until;  /* ms: end of TIME_WAIT */
    uint32_t tx_head, tx_len; /* send ring: tx_len bytes from seq snd_una (SYN/FIN excluded) */
    uint32_t rx_head, rx_len; /* receive ring: rx_len bytes not yet read */
    uint8_t txbuf[NET_TCP_TXBUF];
    uint8_t rxbuf[NET_TCP_RXBUF];
};

struct arp_entry {
    uint32_t ip;        /* 0: free */
    uint32_t at;        /* ms: learnt */
    uint8_t mac[6];
};

static struct net_cfg g_cfg;
static int g_up;
static struct tcp_sock g_socks[NET_TCP_SOCKETS];
static struct arp_entry g_arp[NET_ARP_ENTRIES];
static struct net_stats g_stats;
static uint32_t g_rng;       /* xorshift32 state, from cfg.seed */
static uint16_t g_next_port; /* next ephemeral port to try */
static uint16_t g_ip_id;
static uint8_t g_rx[1536];
static uint8_t g_tx[FRAME_MAX + 2];
static const uint8_t g_bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* ---- helpers ------------------------------------------------------------ */

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}
static uint32_t min32(uint32_t a, uint32_t b) { return a < b ? a : b; }
static uint32_t now(void) { return g_cfg.now_ms(); }

static uint32_t rng(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 17;
    g_rng ^= g_rng << 5;
    return g_rng;
}

/* One's-complement sum of n bytes (RFC 1071), not yet folded or inverted. */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
    for (; n > 1; p += 2, n -= 2)
        sum += (uint32_t)(p[0] << 8 | p[1]);
    if (n)
        sum += (uint32_t)p[0] << 8;
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffffu) + (sum >> 16);
    return (uint16_t)~sum;
}

static void idle(void)
{
    if (g_cfg.idle)
        g_cfg.idle();
}

static int expired(uint32_t deadline) { return (int32_t)(now() - deadline) >= 0; }

static int dev_send(size_t len)
{
    int rc = g_cfg.dev->send(g_tx, len);
    if (rc == 0)
        g_stats.tx_frames++;
    return rc;
}

/* ---- Ethernet, ARP, IPv4, ICMP ------------------------------------------ */

static void eth_header(const uint8_t *dst, uint16_t type)
{
    memcpy(g_tx, dst, 6);
    memcpy(g_tx + 6, g_cfg.mac, 6);
    put16(g_tx + 12, type);
}

static void arp_send(uint16_t op, const uint8_t *tha, uint32_t tpa)
{
    eth_header(op == 1 ? g_bcast : tha, ETYPE_ARP);
    uint8_t *a = g_tx + ETH_HLEN;
    put16(a, 1);                     /* Ethernet */
    put16(a + 2, ETYPE_IP);
    a[4] = 6, a[5] = 4;
    put16(a + 6, op);
    memcpy(a + 8, g_cfg.mac, 6);
    put32(a + 14, g_cfg.ip);
    if (op == 1)
        memset(a + 18, 0, 6);
    else
        memcpy(a + 18, tha, 6);
    put32(a + 24, tpa);
    (void)dev_send(ETH_HLEN + 28);
}

static const uint8_t *arp_lookup(uint32_t ip)
{
    for (int i = 0; i < NET_ARP_ENTRIES; i++)
        if (g_arp[i].ip == ip && (now() - g_arp[i].at) < NET_ARP_TTL_MS)
            return g_arp[i].mac;
    return NULL;
}

static void arp_learn(uint32_t ip, const uint8_t *mac)
{
    int slot = -1, oldest = 0;
    for (int i = 0; i < NET_ARP_ENTRIES && slot < 0; i++)
        if (g_arp[i].ip == ip)
            slot = i;
    for (int i = 0; i < NET_ARP_ENTRIES && slot < 0; i++) {
        if (g_arp[i].ip == 0)
            slot = i;
        else if ((int32_t)(g_arp[i].at - g_arp[oldest].at) < 0)
            oldest = i;
    }
    if (slot < 0)
        slot = oldest; /* the cache is full: the oldest entry goes */
    g_arp[slot].ip = ip;
    g_arp[slot].at = now();
    memcpy(g_arp[slot].mac, mac, 6);
}

static void arp_input(const uint8_t *a, size_t len)
{
    if (len < 28 || get16(a) != 1 || get16(a + 2) != ETYPE_IP || a[4] != 6 || a[5] != 4) {
        g_stats.rx_dropped++;
        return;
    }
    uint16_t op = get16(a + 6);
    uint32_t spa = get32(a + 14), tpa = get32(a + 24);
    if (tpa != g_cfg.ip)
        return; /* not about us */
    if (spa != 0)
        arp_learn(spa, a + 8);
    if (op == 1)
        arp_send(2, a + 8, spa);
}

static uint32_t next_hop(uint32_t ip)
{
    return (ip & g_cfg.mask) == (g_cfg.ip & g_cfg.mask) ? ip : g_cfg.gw;
}

/* The IPv4 header at g_tx + ETH_HLEN for `plen` payload bytes. */
static void ip_header(const uint8_t *dmac, uint32_t dst, uint8_t proto, size_t plen)
{
    eth_header(dmac, ETYPE_IP);
    uint8_t *ip = g_tx + ETH_HLEN;
    ip[0] = 0x45, ip[1] = 0;
    put16(ip + 2, (uint32_t)(IP_HLEN + plen));
    put16(ip + 4, g_ip_id++);
    put16(ip + 6, 0x4000);           /* DF */
    ip[8] = 64, ip[9] = proto;
    put16(ip + 10, 0);
    put32(ip + 12, g_cfg.ip);
    put32(ip + 16, dst);
    put16(ip + 10, csum_fold(csum_add(0, ip, IP_HLEN)));
}

static void icmp_input(const uint8_t *smac, uint32_t src, const uint8_t *p, size_t len)
{
    if (len < 8 || csum_fold(csum_add(0, p, len)) != 0) {
        g_stats.rx_dropped++;
        return;
    }
    if (p[0] != 8 || p[1] != 0 || len > FRAME_MAX - ETH_HLEN - IP_HLEN)
        return; /* only echo requests are answered */
    ip_header(smac, src, PROTO_ICMP, len);
    uint8_t *r = g_tx + ETH_HLEN + IP_HLEN;
    memcpy(r, p, len);
    r[0] = 0;                        /* echo reply */
    put16(r + 2, 0);
    put16(r + 2, csum_fold(csum_add(0, r, len)));
    g_stats.icmp_echo++;
    (void)dev_send(ETH_HLEN + IP_HLEN + len);
}

/* ---- TCP output ----------------------------------------------------------- */

static uint32_t rcv_window(const struct tcp_sock *s)
{
    return s->discard ? NET_TCP_RXBUF : NET_TCP_RXBUF - s->rx_len;
}

/* The addresses, ports and numbers of one outgoing segment. */
struct tcp_hdr {
    const uint8_t *dmac; /* next hop */
    uint32_t dst;        /* peer address */
    uint16_t lport, rport;
    uint32_t seq, ack;   /* ack is sent only with TH_ACK */
    uint8_t flags;
    uint32_t wnd;        /* the window to advertise */
};

/* Builds and sends one segment; its payload is n bytes of the ring `ring`
 * (NET_TCP_TXBUF bytes) from index `at`, wrapping. */
static void tcp_emit(const struct tcp_hdr *h, const uint8_t *ring, uint32_t at, uint32_t n)
{
    size_t hlen = TCP_HLEN + ((h->flags & TH_SYN) ? 4u : 0u);
    ip_header(h->dmac, h->dst, PROTO_TCP, hlen + n);
    uint8_t *t = g_tx + ETH_HLEN + IP_HLEN;
    put16(t, h->lport);
    put16(t + 2, h->rport);
    put32(t + 4, h->seq);
    put32(t + 8, (h->flags & TH_ACK) ? h->ack : 0);
    t[12] = (uint8_t)((hlen / 4) << 4);
    t[13] = h->flags;
    put16(t + 14, h->wnd);
    put32(t + 16, 0);                /* checksum, urgent pointer */
    if (h->flags & TH_SYN) {
        t[20] = 2, t[21] = 4;        /* MSS */
        put16(t + 22, NET_TCP_MSS);
    }
    if (n) {
        uint8_t *d = t + hlen;
        uint32_t first = min32(n, NET_TCP_TXBUF - at);
        memcpy(d, ring + at, first);
        memcpy(d + first, ring, n - first);
    }
    uint8_t ph[12];
    put32(ph, g_cfg.ip);
    put32(ph + 4, h->dst);
    ph[8] = 0, ph[9] = PROTO_TCP;
    put16(ph + 10, (uint32_t)(hlen + n));
    put16(t + 16, csum_fold(csum_add(csum_add(0, ph, 12), t, hlen + n)));
    (void)dev_send(ETH_HLEN + IP_HLEN + hlen + n);
}

/* Sends one segment of connection s: seq, flags, n bytes of the send ring
 * from offset off (bytes from snd_una); an ACK carries rcv_nxt and the
 * window. */
static void tcp_segment(struct tcp_sock *s, uint32_t seq, uint8_t flags, uint32_t off, uint32_t n)
{
    struct tcp_hdr h = {s->rmac, s->rip, s->lport, s->rport, seq, s->rcv_nxt, flags,
                        (flags & TH_RST) ? 0u : rcv_window(s)};
    tcp_emit(&h, s->txbuf, (s->tx_head + off) % NET_TCP_TXBUF, n);
    if (flags & TH_ACK) {
        s->ack_now = 0;
        s->last_wnd = h.wnd;
        s->last_edge = s->rcv_nxt + h.wnd;
    }
}

static void tcp_arm(struct tcp_sock *s)
{
    s->timer_on = 1;
    s->rtx_at = now() + s->rto;
}

static void tcp_send_rst(struct tcp_sock *s)
{
    tcp_segment(s, s->snd_nxt, TH_RST | TH_ACK, 0, 0);
}

/* Sends what the window and NET_TCP_MAX_FLIGHT allow, then the FIN when it is
 * due, then an owed acknowledgement. `probe`: send one byte into a zero
 * window. */
static void tcp_output(struct tcp_sock *s, int probe)
{
    int sending = s->state == TS_ESTABLISHED || s->state == TS_CLOSE_WAIT ||
                  s->state == TS_FIN_WAIT_1 || s->state == TS_CLOSING || s->state == TS_LAST_ACK;
    while (sending && !s->fin_out && !s->fin_acked) {
        uint32_t flight = s->snd_nxt - s->snd_una;
        uint32_t sent = flight; /* data bytes: fin_out is 0 here */
        uint32_t unsent = s->tx_len - sent;
        if (unsent == 0) {
            if (!s->fin_queued)
                break;
            tcp_segment(s, s->snd_nxt, TH_FIN | TH_ACK, 0, 0);
            s->snd_nxt++;
            s->fin_out = 1;
            if (SEQ_GT(s->snd_nxt, s->snd_max))
                s->snd_max = s->snd_nxt;
            if (s->state == TS_ESTABLISHED)
                s->state = TS_FIN_WAIT_1;
            else if (s->state == TS_CLOSE_WAIT)
                s->state = TS_LAST_ACK;
            if (!s->timer_on)
                tcp_arm(s);
            break;
        }
        if (flight >= (uint32_t)NET_TCP_MAX_FLIGHT * s->mss)
            break;
        uint32_t room = s->snd_wnd > flight ? s->snd_wnd - flight : 0;
        if (room == 0 && probe && flight == 0)
            room = 1;
        uint32_t n = min32(min32(unsent, s->mss), room);
        if (n == 0) {
            if (!s->timer_on)
                tcp_arm(s); /* the window probe's timer */
            break;
        }
        if (n < s->mss && n < unsent && flight > 0)
            break; /* a small segment while the rest waits for room: wait for the window */
        tcp_segment(s, s->snd_nxt, (uint8_t)(TH_ACK | (n == unsent ? TH_PSH : 0)), sent, n);
        if (!s->rtt_on && s->snd_nxt == s->snd_max && s->retx == 0) {
            s->rtt_on = 1;
            s->rtt_seq = s->snd_nxt + n;
            s->rtt_start = now();
        }
        s->snd_nxt += n;
        if (SEQ_GT(s->snd_nxt, s->snd_max))
            s->snd_max = s->snd_nxt;
        if (!s->timer_on || flight == 0)
            tcp_arm(s);
        probe = 0;
    }
    if (s->ack_now && s->state != TS_CLOSED && s->state != TS_SYN_SENT)
        tcp_segment(s, s->snd_nxt, TH_ACK, 0, 0);
}

/* ---- TCP input ------------------------------------------------------------ */

static void tcp_drop(struct tcp_sock *s, int err)
{
    s->state = TS_CLOSED;
    s->timer_on = 0;
    if (!s->err)
        s->err = err;
}

static void rtt_sample(struct tcp_sock *s, uint32_t ms)
{
    if (ms > NET_TCP_RTO_MAX)
        ms = NET_TCP_RTO_MAX;
    if (s->srtt8 == 0) {
        s->srtt8 = ms * 8u;
        s->rttvar4 = ms * 2u;
    } else {
        int32_t delta = (int32_t)(ms * 8u - s->srtt8);
        s->srtt8 = (uint32_t)((int32_t)s->srtt8 + delta / 8);
        if (delta < 0)
            delta = -delta;
        s->rttvar4 = (uint32_t)((int32_t)s->rttvar4 + (delta / 2 - (int32_t)s->rttvar4) / 4);
    }
    uint32_t rto = s->srtt8 / 8u + s->rttvar4;
    s->rto = rto < NET_TCP_RTO_MIN ? NET_TCP_RTO_MIN : rto > NET_TCP_RTO_MAX ? NET_TCP_RTO_MAX : rto;
}

/* A reset to a segment no socket takes (RFC 9293 3.10.7.1). */
static void tcp_reset_unknown(const uint8_t *smac, uint32_t src, const uint8_t *t, uint32_t seglen)
{
    struct tcp_hdr h = {smac, src, get16(t + 2), get16(t), 0, 0, TH_RST | TH_ACK, 0};
    if (t[13] & TH_ACK) {
        h.seq = get32(t + 8);
        h.flags = TH_RST;
    } else {
        h.ack = get32(t + 4) + seglen;
    }
    tcp_emit(&h, NULL, 0, 0);
}

static void tcp_syn_sent(struct tcp_sock *s, const uint8_t *t, uint8_t fl, size_t hlen)
{
    uint32_t seq = get32(t + 4), ack = get32(t + 8);
    if ((fl & TH_ACK) && ack != s->iss + 1) {
        if (!(fl & TH_RST)) {
            struct tcp_hdr h = {s->rmac, s->rip, s->lport, s->rport, ack, 0, TH_RST, 0};
            tcp_emit(&h, NULL, 0, 0);
        }
        return;
    }
    if (fl & TH_RST) {
        if (fl & TH_ACK)
            tcp_drop(s, NET_EREFUSED);
        return;
    }
    if (!(fl & TH_SYN) || !(fl & TH_ACK))
        return; /* simultaneous open: not for a client */
    s->mss = 536;
    for (size_t i = TCP_HLEN; i < hlen;) {
        uint8_t kind = t[i];
        if (kind == 0)
            break;
        if (kind == 1) {
            i++;
            continue;
        }
        if (i + 1 >= hlen || t[i + 1] < 2 || i + t[i + 1] > hlen)
            break;
        if (kind == 2 && t[i + 1] == 4)
            s->mss = get16(t + i + 2);
        i += t[i + 1];
    }
    if (s->mss > NET_TCP_MSS)
        s->mss = NET_TCP_MSS;
    if (s->mss < 64)
        s->mss = 64;
    s->rcv_nxt = seq + 1;
    s->snd_una = s->snd_nxt = s->snd_max = ack;
    s->snd_wnd = get16(t + 14);
    s->state = TS_ESTABLISHED;
    s->timer_on = 0;
    if (s->retx == 0)
        rtt_sample(s, now() - s->rtt_start);
    s->retx = 0;
    s->rtt_on = 0;
    s->ack_now = 1;
}

static void tcp_input(const uint8_t *smac, uint32_t src, const uint8_t *t, size_t len)
{
    if (len < TCP_HLEN) {
        g_stats.rx_dropped++;
        return;
    }
    size_t hlen = (size_t)(t[12] >> 4) * 4u;
    if (hlen < TCP_HLEN || hlen > len) {
        g_stats.rx_dropped++;
        return;
    }
    uint8_t ph[12];
    put32(ph, src);
    put32(ph + 4, g_cfg.ip);
    ph[8] = 0, ph[9] = PROTO_TCP;
    put16(ph + 10, (uint32_t)len);
    if (csum_fold(csum_add(csum_add(0, ph, 12), t, len)) != 0) {
        g_stats.rx_dropped++;
        return;
    }
    uint16_t sport = get16(t), dport = get16(t + 2);
    uint8_t fl = t[13];
    const uint8_t *data = t + hlen;
    uint32_t dlen = (uint32_t)(len - hlen);
    uint32_t seglen = dlen + ((fl & TH_SYN) ? 1u : 0u) + ((fl & TH_FIN) ? 1u : 0u);

    struct tcp_sock *s = NULL;
    for (int i = 0; i < NET_TCP_SOCKETS; i++) {
        struct tcp_sock *c = &g_socks[i];
        if (c->state != TS_CLOSED && c->rip == src && c->rport == sport && c->lport == dport) {
            s = c;
            break;
        }
    }
    if (!s) {
        if (!(fl & TH_RST))
            tcp_reset_unknown(smac, src, t, seglen);
        return;
    }
    if (s->state == TS_SYN_SENT) {
        tcp_syn_sent(s, t, fl, hlen);
        return;
    }

    uint32_t seq = get32(t + 4), ack = get32(t + 8);
    uint32_t wnd = rcv_window(s);
    int in_window = SEQ_GEQ(seq, s->rcv_nxt) && SEQ_LT(seq, s->rcv_nxt + (wnd ? wnd : 1u));
    if (fl & TH_RST) {
        if (in_window || seq == s->rcv_nxt) {
            if (s->state == TS_TIME_WAIT || s->state == TS_LAST_ACK || s->state == TS_CLOSING)
                tcp_drop(s, 0);
            else
                tcp_drop(s, NET_ERESET);
        }
        return;
    }
    if (fl & TH_SYN) {
        s->ack_now = 1; /* a SYN in a synchronized state: answer with an ACK */
        return;
    }
    if (!(fl & TH_ACK))
        return;

    /* ACK */
    if (SEQ_GT(ack, s->snd_una) && SEQ_LEQ(ack, s->snd_max)) {
        uint32_t acked = ack - s->snd_una;
        uint32_t bytes = min32(acked, s->tx_len);
        s->tx_head = (s->tx_head + bytes) % NET_TCP_TXBUF;
        s->tx_len -= bytes;
        s->snd_una = ack;
        if (SEQ_LT(s->snd_nxt, ack))
            s->snd_nxt = ack;
        if (acked > bytes && s->fin_queued) { /* our FIN too */
            s->fin_acked = 1;
            s->fin_out = 0;
            if (s->state == TS_FIN_WAIT_1)
                s->state = TS_FIN_WAIT_2;
            else if (s->state == TS_CLOSING) {
                s->state = TS_TIME_WAIT;
                s->tw_until = now() + NET_TCP_TIME_WAIT;
            } else if (s->state == TS_LAST_ACK) {
                tcp_drop(s, 0);
                return;
            }
        }
        if (s->rtt_on && SEQ_GEQ(ack, s->rtt_seq)) {
            s->rtt_on = 0;
            if (s->retx == 0)
                rtt_sample(s, now() - s->rtt_start);
        }
        s->retx = 0;
        s->snd_wnd = get16(t + 14);
        if (s->snd_una == s->snd_max)
            s->timer_on = 0;
        else
            tcp_arm(s);
        s->dupacks = 0;
    } else if (ack == s->snd_una && dlen == 0 && !(fl & TH_FIN) && s->snd_max != s->snd_una &&
               get16(t + 14) == s->snd_wnd) {
        if (++s->dupacks == 3 && s->tx_len) { /* fast retransmit (RFC 5681): the first segment */
            g_stats.tcp_retransmits++;
            s->rtt_on = 0;
            tcp_segment(s, s->snd_una, TH_ACK, 0, min32(s->tx_len, s->mss));
            tcp_arm(s);
        }
    } else if (SEQ_GEQ(ack, s->snd_una) && SEQ_LEQ(ack, s->snd_max)) {
        s->snd_wnd = get16(t + 14); /* a window update */
    }

    /* data and FIN, in order only */
    if (dlen || (fl & TH_FIN)) {
        int32_t off = (int32_t)(seq - s->rcv_nxt);
        if (off > 0) {
            g_stats.tcp_out_of_order++;
            s->ack_now = 1;
            tcp_output(s, 0); /* a duplicate ACK now */
            return;
        }
        uint32_t skip = s->rcv_nxt - seq; /* bytes we have already */
        int fin = (fl & TH_FIN) != 0;
        if (skip > dlen) { /* all old, the FIN too if it was there */
            skip = dlen;
            fin = 0;
        }
        data += skip;
        dlen -= skip;
        int taking = s->state == TS_ESTABLISHED || s->state == TS_FIN_WAIT_1 || s->state == TS_FIN_WAIT_2;
        uint32_t take = 0;
        if (taking) {
            take = s->discard ? dlen : min32(dlen, NET_TCP_RXBUF - s->rx_len);
            if (!s->discard) {
                uint32_t at = (s->rx_head + s->rx_len) % NET_TCP_RXBUF;
                uint32_t first = min32(take, NET_TCP_RXBUF - at);
                memcpy(s->rxbuf + at, data, first);
                memcpy(s->rxbuf, data + first, take - first);
                s->rx_len += take;
            }
            s->rcv_nxt += take;
            if (fin && take == dlen) {
                s->rcv_nxt++;
                s->peer_fin = 1;
                if (s->state == TS_ESTABLISHED)
                    s->state = TS_CLOSE_WAIT;
                else if (s->state == TS_FIN_WAIT_1)
                    s->state = s->fin_acked ? TS_TIME_WAIT : TS_CLOSING;
                else
                    s->state = TS_TIME_WAIT;
                if (s->state == TS_TIME_WAIT)
                    s->tw_until = now() + NET_TCP_TIME_WAIT;
            }
        } else if (s->state == TS_TIME_WAIT) {
            s->tw_until = now() + NET_TCP_TIME_WAIT; /* the peer's FIN again */
        }
        s->ack_now = 1;
    }
    tcp_output(s, 0);
}

static void ip_input(const uint8_t *smac, const uint8_t *ip, size_t len)
{
    if (len < IP_HLEN || (ip[0] >> 4) != 4) {
        g_stats.rx_dropped++;
        return;
    }
    size_t ihl = (size_t)(ip[0] & 0xf) * 4u, tot = get16(ip + 2);
    if (ihl < IP_HLEN || tot < ihl || tot > len || csum_fold(csum_add(0, ip, ihl)) != 0) {
        g_stats.rx_dropped++;
        return;
    }
    if (get16(ip + 6) & 0x3fffu) { /* MF or a fragment offset */
        g_stats.rx_dropped++;
        return;
    }
    uint32_t src = get32(ip + 12), dst = get32(ip + 16);
    if (dst != g_cfg.ip)
        return;
    /* options (ihl > 20) are skipped */
    if ((src & g_cfg.mask) == (g_cfg.ip & g_cfg.mask) || src == g_cfg.gw)
        arp_learn(next_hop(src), smac);
    if (ip[9] == PROTO_TCP)
        tcp_input(smac, src, ip + ihl, tot - ihl);
    else if (ip[9] == PROTO_ICMP)
        icmp_input(smac, src, ip + ihl, tot - ihl);
    else
        g_stats.rx_dropped++;
}

static void eth_input(const uint8_t *f, size_t len)
{
    if (len < ETH_HLEN)
        return;
    if (memcmp(f, g_cfg.mac, 6) != 0 && memcmp(f, g_bcast, 6) != 0) {
        g_stats.rx_dropped++;
        return;
    }
    uint16_t type = get16(f + 12);
    if (type == ETYPE_ARP)
        arp_input(f + ETH_HLEN, len - ETH_HLEN);
    else if (type == ETYPE_IP)
        ip_input(f + 6, f + ETH_HLEN, len - ETH_HLEN);
    else
        g_stats.rx_dropped++;
}

/* ---- timers --------------------------------------------------------------- */

static void tcp_timer(struct tcp_sock *s)
{
    if (s->lingering && s->state != TS_TIME_WAIT && expired(s->close_by)) {
        s->lingering = 0;
        tcp_send_rst(s);
        tcp_drop(s, NET_ETIMEDOUT);
        return;
    }
    if (s->state == TS_TIME_WAIT && expired(s->tw_until)) {
        s->state = TS_CLOSED;
        return;
    }
    if (!s->timer_on || !expired(s->rtx_at) || s->state == TS_CLOSED || s->state == TS_TIME_WAIT)
        return;
    s->rto = min32(s->rto * 2u, NET_TCP_RTO_MAX);
    s->rtt_on = 0;
    if (s->state == TS_SYN_SENT) {
        s->retx++;
        g_stats.tcp_retransmits++;
        tcp_segment(s, s->iss, TH_SYN, 0, 0);
        tcp_arm(s);
        return;
    }
    if (s->snd_nxt != s->snd_una || s->snd_una != s->snd_max) {
        if (s->snd_wnd != 0 && ++s->retx > NET_TCP_MAX_RETX) { /* a zero window persists */
            tcp_send_rst(s);
            tcp_drop(s, NET_ETIMEDOUT);
            return;
        }
        g_stats.tcp_retransmits++;
        s->snd_nxt = s->snd_una; /* go back */
        s->fin_out = 0;
        s->timer_on = 0;
        tcp_output(s, 0);
        if (!s->timer_on)
            tcp_arm(s);
        return;
    }
    s->timer_on = 0;
    tcp_output(s, 1); /* the window probe */
}

/* ---- API ------------------------------------------------------------------ */

int net_init(const struct net_cfg *cfg)
{
    g_up = 0;
    if (!cfg || !cfg->dev || !cfg->dev->send || !cfg->dev->recv || !cfg->now_ms || cfg->ip == 0 ||
        cfg->mask == 0)
        return NET_EINVAL;
    g_cfg = *cfg;
    memset(g_socks, 0, sizeof(g_socks));
    memset(g_arp, 0, sizeof(g_arp));
    memset(&g_stats, 0, sizeof(g_stats));
    g_rng = cfg->seed * 2654435761u ^ 0x9e3779b9u;
    if (g_rng == 0)
        g_rng = 1;
    for (int i = 0; i < 4; i++)
        (void)rng();
    g_next_port = (uint16_t)(NET_EPHEMERAL_LO + rng() % (65536u - NET_EPHEMERAL_LO));
    g_ip_id = (uint16_t)rng();
    g_up = 1;
    return 0;
}

void net_poll(void)
{
    if (!g_up)
        return;
    for (int i = 0; i < 64; i++) {
        int n = g_cfg.dev->recv(g_rx, sizeof(g_rx));
        if (n == 0)
            break;
        if (n < 0) {
            g_stats.rx_dropped++;
            continue;
        }
        g_stats.rx_frames++;
        eth_input(g_rx, (size_t)n);
    }
    for (int i = 0; i < NET_TCP_SOCKETS; i++) {
        struct tcp_sock *s = &g_socks[i];
        if (s->state == TS_CLOSED)
            continue;
        tcp_timer(s);
        if (s->ack_now)
            tcp_output(s, 0);
    }
}

int net_aton(const char *str, uint32_t *ip)
{
    if (!str || !ip)
        return NET_EINVAL;
    uint32_t v = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0 && *str++ != '.')
            return NET_EINVAL;
        if (*str < '0' || *str > '9')
            return NET_EINVAL;
        uint32_t n = 0;
        int digits = 0;
        while (*str >= '0' && *str <= '9') {
            n = n * 10u + (uint32_t)(*str++ - '0');
            if (++digits > 3 || n > 255)
                return NET_EINVAL;
        }
        v = v << 8 | n;
    }
    if (*str)
        return NET_EINVAL;
    *ip = v;
    return 0;
}

static struct tcp_sock *sock_get(int sd)
{
    if (sd < 0 || sd >= NET_TCP_SOCKETS || !g_socks[sd].owned)
        return NULL;
    return &g_socks[sd];
}

static uint16_t pick_port(void)
{
    for (;;) {
        uint16_t p = g_next_port;
        g_next_port = g_next_port == 65535 ? NET_EPHEMERAL_LO : (uint16_t)(g_next_port + 1);
        int used = 0;
        for (int i = 0; i < NET_TCP_SOCKETS; i++)
            if (g_socks[i].state != TS_CLOSED && g_socks[i].lport == p)
                used = 1;
        if (!used)
            return p;
    }
}

int tcp_connect(uint32_t ip, uint16_t port, uint32_t timeout_ms)
{
    if (!g_up)
        return NET_ENOTCONN;
    if (ip == 0 || port == 0)
        return NET_EINVAL;
    int sd = -1;
    for (int i = 0; i < NET_TCP_SOCKETS && sd < 0; i++)
        if (!g_socks[i].owned && g_socks[i].state == TS_CLOSED)
            sd = i;
    for (int i = 0; i < NET_TCP_SOCKETS && sd < 0; i++)
        if (!g_socks[i].owned && g_socks[i].state == TS_TIME_WAIT)
            sd = i; /* a lingering connection makes room */
    if (sd < 0)
        return NET_EMFILE;
    struct tcp_sock *s = &g_socks[sd];
    memset(s, 0, sizeof(*s));
    s->owned = 1;
    uint32_t t0 = now(), hop = next_hop(ip), asked = 0;
    int first = 1;
    const uint8_t *mac;
    while (!(mac = arp_lookup(hop))) {
        if ((now() - t0) >= timeout_ms) {
            s->owned = 0;
            return NET_EHOSTUNREACH;
        }
        if (first || (now() - asked) >= NET_ARP_RETRY_MS) {
            arp_send(1, NULL, hop);
            asked = now();
            first = 0;
        }
        net_poll();
        if (!arp_lookup(hop))
            idle();
    }
    memcpy(s->rmac, mac, 6);
    s->rip = ip;
    s->rport = port;
    s->lport = pick_port();
    s->mss = 536;
    s->iss = rng();
    s->snd_una = s->iss;
    s->snd_nxt = s->snd_max = s->iss + 1;
    s->rto = NET_TCP_RTO_INIT;
    s->state = TS_SYN_SENT;
    s->rtt_start = now();
    tcp_segment(s, s->iss, TH_SYN, 0, 0);
    tcp_arm(s);
    for (;;) {
        net_poll();
        if (s->state == TS_ESTABLISHED || s->state == TS_CLOSE_WAIT)
            return sd;
        if (s->state == TS_CLOSED) {
            int err = s->err ? s->err : NET_EREFUSED;
            s->owned = 0;
            return err;
        }
        if ((now() - t0) >= timeout_ms) {
            s->state = TS_CLOSED; /* a late SYN-ACK now meets no socket: reset */
            s->owned = 0;
            return NET_ETIMEDOUT;
        }
        idle();
    }
}

static int sock_error(const struct tcp_sock *s)
{
    if (s->err)
        return s->err;
    return s->state == TS_CLOSED ? NET_ENOTCONN : 0;
}

int tcp_send(int sd, const void *buf, size_t len, uint32_t timeout_ms)
{
    struct tcp_sock *s = sock_get(sd);
    if (!s)
        return NET_EBADF;
    if (!buf)
        return NET_EINVAL;
    const uint8_t *p = buf;
    size_t done = 0;
    uint32_t t0 = now();
    for (;;) {
        net_poll(); /* acknowledgements free room in the ring */
        int err = sock_error(s);
        if (err)
            return done ? (int)done : err;
        if (s->fin_queued || (s->state != TS_ESTABLISHED && s->state != TS_CLOSE_WAIT))
            return done ? (int)done : NET_EPIPE;
        while (done < len && s->tx_len < NET_TCP_TXBUF) {
            uint32_t at = (s->tx_head + s->tx_len) % NET_TCP_TXBUF;
            uint32_t n = min32(min32((uint32_t)(len - done), NET_TCP_TXBUF - s->tx_len), NET_TCP_TXBUF - at);
            memcpy(s->txbuf + at, p + done, n);
            s->tx_len += n;
            done += n;
        }
        tcp_output(s, 0);
        if (done == len || (now() - t0) >= timeout_ms)
            return (int)(done > 0x7fffffffu ? 0x7fffffff : done);
        idle(); /* the ring is full */
    }
}

int tcp_recv(int sd, void *buf, size_t len, uint32_t timeout_ms)
{
    struct tcp_sock *s = sock_get(sd);
    if (!s)
        return NET_EBADF;
    if (!buf)
        return NET_EINVAL;
    if (len == 0)
        return 0;
    uint32_t t0 = now();
    for (;;) {
        net_poll();
        if (s->rx_len) {
            uint32_t n = min32(s->rx_len, len > 0x7fffffffu ? 0x7fffffffu : (uint32_t)len);
            uint32_t first = min32(n, NET_TCP_RXBUF - s->rx_head);
            memcpy(buf, s->rxbuf + s->rx_head, first);
            memcpy((uint8_t *)buf + first, s->rxbuf, n - first);
            s->rx_head = (s->rx_head + n) % NET_TCP_RXBUF;
            s->rx_len -= n;
            uint32_t wnd = rcv_window(s);
            /* the window's right edge moved on by a segment (or half the ring) since
             * the peer last heard it: say so, or a peer that has filled what it was
             * offered waits for its persist timer (seconds, in slirp) */
            if (!s->peer_fin && s->state != TS_CLOSED &&
                (int32_t)(s->rcv_nxt + wnd - s->last_edge) >=
                    (int32_t)min32(s->mss, NET_TCP_RXBUF / 2)) {
                s->ack_now = 1; /* the window opened: tell the peer */
                tcp_output(s, 0);
            }
            return (int)n;
        }
        if (s->peer_fin)
            return NET_ECLOSED;
        int err = sock_error(s);
        if (err)
            return err;
        if ((now() - t0) >= timeout_ms)
            return 0;
        idle();
    }
}

int tcp_flush(int sd, uint32_t timeout_ms)
{
    struct tcp_sock *s = sock_get(sd);
    if (!s)
        return NET_EBADF;
    uint32_t t0 = now();
    for (;;) {
        net_poll();
        if (s->tx_len == 0)
            return 0;
        int err = sock_error(s);
        if (err)
            return err;
        if ((now() - t0) >= timeout_ms)
            return NET_ETIMEDOUT;
        idle();
    }
}

int tcp_close(int sd)
{
    struct tcp_sock *s = sock_get(sd);
    if (!s)
        return NET_EBADF;
    s->discard = 1;
    s->rx_len = 0;
    if (s->state == TS_CLOSED) {
        s->owned = 0;
        return s->err == NET_ERESET ? NET_ERESET : s->err ? NET_ETIMEDOUT : 0;
    }
    s->fin_queued = 1;
    tcp_output(s, 0);
    uint32_t t0 = now();
    for (;;) {
        net_poll();
        if (s->state == TS_TIME_WAIT || s->state == TS_CLOSED)
            break;
        if ((now() - t0) >= NET_TCP_CLOSE_MS) {
            tcp_send_rst(s);
            tcp_drop(s, NET_ETIMEDOUT);
            s->owned = 0;
            return NET_ETIMEDOUT;
        }
        idle();
    }
    s->owned = 0;
    if (s->state == TS_CLOSED && s->err)
        return s->err == NET_ERESET ? NET_ERESET : NET_ETIMEDOUT;
    return 0;
}

int tcp_close_nowait(int sd)
{
    struct tcp_sock *s = sock_get(sd);
    if (!s)
        return NET_EBADF;
    s->discard = 1;
    s->rx_len = 0;
    s->owned = 0;
    if (s->state == TS_CLOSED)
        return 0;
    s->fin_queued = 1;
    s->lingering = 1;
    s->close_by = now() + NET_TCP_CLOSE_MS;
    tcp_output(s, 0);
    return 0;
}

int tcp_abort(int sd)
{
    struct tcp_sock *s = sock_get(sd);
    if (!s)
        return NET_EBADF;
    if (s->state != TS_CLOSED && s->state != TS_TIME_WAIT)
        tcp_send_rst(s);
    s->state = TS_CLOSED;
    s->timer_on = 0;
    s->owned = 0;
    return 0;
}

int tcp_is_open(int sd)
{
    struct tcp_sock *s = sock_get(sd);
    return s && (s->state == TS_ESTABLISHED || s->state == TS_FIN_WAIT_1 || s->state == TS_FIN_WAIT_2) &&
           !s->peer_fin;
}

void net_get_stats(struct net_stats *out)
{
    if (out)
        *out = g_stats;
}
