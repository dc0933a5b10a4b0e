/*
 * test_ipstack.c - the QEMU firmware's IPv4/TCP client stack
 * (sim/qemu/net/ipstack.c) on the host, over a frame device the test plays
 * the peer on: every frame the stack sends is parsed here with checksums
 * computed independently, and the peer's frames are built here. A clock the
 * test advances (one millisecond per idle call) makes the timers exact. The
 * parts QEMU's slirp never exercises are here: ARP replies, ICMP echo, a
 * reset to a segment for no socket, out-of-order segments, the SYN's
 * retransmission with backoff and the connect timeout, ARP with no answer,
 * a data segment lost and resent, the peer's reset after data, the
 * dotted-quad parser. tests/e2e/qemu_net.sh runs the stack on the emulator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "sim/qemu/net/ipstack.c"

#define OUR_IP  0x0a00020fu /* 10.0.2.15 */
#define PEER_IP 0x0a000202u /* 10.0.2.2 */
static const uint8_t our_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t peer_mac[6] = {0x52, 0x55, 0x0a, 0x00, 0x02, 0x02};

/* ---- the frame device and the clock ------------------------------------ */

#define QLEN 64
struct frame {
    uint8_t b[1536];
    size_t len;
};
static struct frame out_q[QLEN], in_q[QLEN];
static int out_n, in_head, in_n;
static uint32_t t_ms;
static void (*peer)(void); /* plays the peer on every idle call */

static int t_send(const void *f, size_t len)
{
    assert_true(len >= 14 && len <= 1514);
    assert_true(out_n < QLEN);
    memcpy(out_q[out_n].b, f, len);
    out_q[out_n++].len = len;
    return 0;
}

static int t_recv(void *buf, size_t cap)
{
    if (in_head == in_n)
        return 0;
    struct frame *f = &in_q[in_head++];
    assert_true(f->len <= cap);
    memcpy(buf, f->b, f->len);
    return (int)f->len;
}

static uint32_t t_now(void) { return t_ms; }

static void t_idle(void)
{
    t_ms++;
    if (peer)
        peer();
}

static const struct net_dev t_dev = {t_send, t_recv};

static int setup(void **state)
{
    (void)state;
    out_n = in_head = in_n = 0;
    t_ms = 1000;
    peer = NULL;
    struct net_cfg cfg = {&t_dev, {0}, OUR_IP, 0xffffff00u, PEER_IP, t_now, t_idle, 42};
    memcpy(cfg.mac, our_mac, 6);
    assert_int_equal(net_init(&cfg), 0);
    return 0;
}

/* ---- frames, built and parsed independently of the stack ----------------- */

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void w16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void w32(uint8_t *p, uint32_t v) { w16(p, v >> 16); w16(p + 2, v); }

static uint16_t cksum(uint32_t sum, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1)
        sum += (uint32_t)p[n - 1] << 8;
    while (sum > 0xffff)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static uint32_t pseudo(uint32_t src, uint32_t dst, size_t len)
{
    return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + 6u + (uint32_t)len;
}

static struct frame *in_frame(void)
{
    assert_true(in_n < QLEN);
    return &in_q[in_n++];
}

/* An IPv4 frame from the peer (checksum right unless bad_sum). */
static uint8_t *peer_ip(struct frame *f, uint8_t proto, size_t plen)
{
    memcpy(f->b, our_mac, 6);
    memcpy(f->b + 6, peer_mac, 6);
    w16(f->b + 12, 0x0800);
    uint8_t *ip = f->b + 14;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    w16(ip + 2, (uint32_t)(20 + plen));
    ip[8] = 64;
    ip[9] = proto;
    w32(ip + 12, PEER_IP);
    w32(ip + 16, OUR_IP);
    w16(ip + 10, cksum(0, ip, 20));
    f->len = 14 + 20 + plen;
    if (f->len < 60) /* as a NIC hands it: padded */
        f->len = 60;
    return ip + 20;
}

static void peer_tcp(uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win,
                     uint16_t mss, const void *data, size_t dlen)
{
    struct frame *f = in_frame();
    size_t hlen = mss ? 24 : 20;
    uint8_t *t = peer_ip(f, 6, hlen + dlen);
    memset(t, 0, hlen);
    w16(t, sport);
    w16(t + 2, dport);
    w32(t + 4, seq);
    w32(t + 8, ack);
    t[12] = (uint8_t)(hlen / 4 << 4);
    t[13] = flags;
    w16(t + 14, win);
    if (mss) {
        t[20] = 2, t[21] = 4;
        w16(t + 22, mss);
    }
    if (dlen)
        memcpy(t + hlen, data, dlen);
    w16(t + 16, cksum(pseudo(PEER_IP, OUR_IP, hlen + dlen), t, hlen + dlen));
}

/* A TCP segment the stack sent, checked (Ethernet, IPv4 and TCP checksums). */
struct seg {
    uint16_t sport, dport, win;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t mss;        /* the option, 0 without */
    const uint8_t *data;
    size_t dlen;
};

static struct seg parse_tcp(int i)
{
    const uint8_t *f = out_q[i].b;
    assert_memory_equal(f, peer_mac, 6);
    assert_memory_equal(f + 6, our_mac, 6);
    assert_int_equal(be16(f + 12), 0x0800);
    const uint8_t *ip = f + 14;
    assert_int_equal(ip[0], 0x45);
    assert_int_equal(cksum(0, ip, 20), 0);
    assert_int_equal(ip[9], 6);
    assert_int_equal(be32(ip + 12), OUR_IP);
    assert_int_equal(be32(ip + 16), PEER_IP);
    size_t tot = be16(ip + 2);
    assert_true(tot <= out_q[i].len - 14);
    const uint8_t *t = ip + 20;
    size_t len = tot - 20, hlen = (size_t)(t[12] >> 4) * 4;
    assert_int_equal(cksum(pseudo(OUR_IP, PEER_IP, len), t, len), 0);
    struct seg s = {be16(t), be16(t + 2), be16(t + 14), be32(t + 4), be32(t + 8), t[13], 0, t + hlen, len - hlen};
    if (hlen == 24 && t[20] == 2)
        s.mss = be16(t + 22);
    return s;
}

static int count_flags(uint8_t want)
{
    int n = 0;
    for (int i = 0; i < out_n; i++)
        if (be16(out_q[i].b + 12) == 0x0800 && out_q[i].b[14 + 9] == 6 && parse_tcp(i).flags == want)
            n++;
    return n;
}

/* ---- the peer: ARP, then the handshake ----------------------------------- */

static uint32_t peer_iss = 5000, syn_seq;
static uint16_t syn_port;
static int answer_syn = 1, refuse_syn;

static void arp_reply_peer(void)
{
    struct frame *f = in_frame();
    memcpy(f->b, our_mac, 6);
    memcpy(f->b + 6, peer_mac, 6);
    w16(f->b + 12, 0x0806);
    uint8_t *a = f->b + 14;
    w16(a, 1), w16(a + 2, 0x0800), a[4] = 6, a[5] = 4, w16(a + 6, 2);
    memcpy(a + 8, peer_mac, 6);
    w32(a + 14, PEER_IP);
    memcpy(a + 18, our_mac, 6);
    w32(a + 24, OUR_IP);
    f->len = 60;
}

static int seen;
static void handshake_peer(void)
{
    for (; seen < out_n; seen++) {
        const uint8_t *f = out_q[seen].b;
        if (be16(f + 12) == 0x0806) {
            assert_memory_equal(f, "\xff\xff\xff\xff\xff\xff", 6);
            assert_int_equal(be16(f + 14 + 6), 1);
            assert_int_equal(be32(f + 14 + 24), PEER_IP);
            arp_reply_peer();
            continue;
        }
        struct seg s = parse_tcp(seen);
        if (s.flags == 0x02) {
            syn_seq = s.seq;
            syn_port = s.sport;
            assert_int_equal(s.mss, 1460);
            if (refuse_syn)
                peer_tcp(s.dport, s.sport, 0, s.seq + 1, 0x14, 0, 0, NULL, 0);
            else if (answer_syn)
                peer_tcp(s.dport, s.sport, peer_iss, s.seq + 1, 0x12, 4096, 1000, NULL, 0);
        }
    }
}

static int open_conn(void)
{
    seen = out_n;
    answer_syn = 1;
    refuse_syn = 0;
    peer = handshake_peer;
    int sd = tcp_connect(PEER_IP, 8080, 5000);
    peer = NULL;
    assert_true(sd >= 0);
    net_poll();
    return sd;
}

/* ---- the tests ------------------------------------------------------------ */

static void test_aton(void **state)
{
    (void)state;
    uint32_t ip = 0;
    assert_int_equal(net_aton("10.0.2.2", &ip), 0);
    assert_int_equal(ip, PEER_IP);
    assert_int_equal(net_aton("255.255.255.0", &ip), 0);
    assert_int_equal(ip, 0xffffff00u);
    const char *bad[] = {"", "10.0.2", "10.0.2.2.", "10.0.2.256", "10..2.2", "a.b.c.d", "10.0.2.2 ", "1.2.3.0004", " 1.2.3.4"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(net_aton(bad[i], &ip), NET_EINVAL);
    assert_int_equal(net_aton(NULL, &ip), NET_EINVAL);
}

static void test_init_refuses(void **state)
{
    (void)state;
    struct net_cfg cfg = {&t_dev, {0}, 0, 0xffffff00u, PEER_IP, t_now, NULL, 1};
    assert_int_equal(net_init(&cfg), NET_EINVAL); /* ip 0 */
    cfg.ip = OUR_IP;
    cfg.now_ms = NULL;
    assert_int_equal(net_init(&cfg), NET_EINVAL);
    assert_int_equal(net_init(NULL), NET_EINVAL);
    assert_int_equal(tcp_connect(PEER_IP, 80, 10), NET_ENOTCONN); /* the failed init left it down */
}

static void test_arp_and_icmp(void **state)
{
    (void)state;
    /* a request for our address: a reply with our MAC */
    struct frame *f = in_frame();
    memset(f->b, 0xff, 6);
    memcpy(f->b + 6, peer_mac, 6);
    w16(f->b + 12, 0x0806);
    uint8_t *a = f->b + 14;
    w16(a, 1), w16(a + 2, 0x0800), a[4] = 6, a[5] = 4, w16(a + 6, 1);
    memcpy(a + 8, peer_mac, 6);
    w32(a + 14, PEER_IP);
    memset(a + 18, 0, 6);
    w32(a + 24, OUR_IP);
    f->len = 60;
    /* and one for another address: no reply */
    struct frame *g = in_frame();
    *g = *f;
    w32(g->b + 14 + 24, 0x0a000263u);
    /* an echo request with an odd-length payload */
    f = in_frame();
    uint8_t *icmp = peer_ip(f, 1, 8 + 5);
    memset(icmp, 0, 8);
    icmp[0] = 8;
    w16(icmp + 4, 0x1234), w16(icmp + 6, 7);
    memcpy(icmp + 8, "hello", 5);
    w16(icmp + 2, cksum(0, icmp, 13));
    net_poll();
    assert_int_equal(out_n, 2);
    const uint8_t *r = out_q[0].b;
    assert_memory_equal(r, peer_mac, 6);
    assert_int_equal(be16(r + 12), 0x0806);
    assert_int_equal(be16(r + 14 + 6), 2);
    assert_memory_equal(r + 14 + 8, our_mac, 6);
    assert_int_equal(be32(r + 14 + 14), OUR_IP);
    assert_memory_equal(r + 14 + 18, peer_mac, 6);
    assert_int_equal(be32(r + 14 + 24), PEER_IP);
    assert_int_equal(out_q[0].len, 42); /* the driver pads to 60 */
    r = out_q[1].b + 14;
    assert_int_equal(cksum(0, r, 20), 0);
    assert_int_equal(be32(r + 12), OUR_IP);
    assert_int_equal(be32(r + 16), PEER_IP);
    assert_int_equal(be16(r + 2), 20 + 13);
    assert_int_equal(r[20], 0); /* echo reply */
    assert_int_equal(cksum(0, r + 20, 13), 0);
    assert_memory_equal(r + 20 + 4, "\x12\x34\x00\x07hello", 9);
    struct net_stats st;
    net_get_stats(&st);
    assert_int_equal(st.icmp_echo, 1);

    /* a bad IP checksum and a fragment: dropped, no answer */
    out_n = 0;
    f = in_frame();
    icmp = peer_ip(f, 1, 8);
    memset(icmp, 0, 8);
    icmp[0] = 8;
    w16(icmp + 2, cksum(0, icmp, 8));
    f->b[14 + 10] ^= 1;
    g = in_frame();
    icmp = peer_ip(g, 1, 8);
    memset(icmp, 0, 8);
    icmp[0] = 8;
    w16(icmp + 2, cksum(0, icmp, 8));
    w16(g->b + 14 + 6, 0x2000); /* MF */
    w16(g->b + 14 + 10, 0);
    w16(g->b + 14 + 10, cksum(0, g->b + 14, 20));
    net_poll();
    assert_int_equal(out_n, 0);
    net_get_stats(&st);
    assert_int_equal(st.rx_dropped, 2);
}

static void test_rst_for_no_socket(void **state)
{
    (void)state;
    peer_tcp(4000, 5555, 777, 0, 0x02, 1000, 0, NULL, 0); /* a SYN to a port nobody has */
    peer_tcp(4000, 5556, 900, 12345, 0x18, 1000, 0, "abc", 3);
    net_poll();
    assert_int_equal(out_n, 2);
    struct seg s = parse_tcp(0);
    assert_int_equal(s.flags, 0x14); /* RST|ACK, ack = seq + 1 */
    assert_int_equal(s.seq, 0);
    assert_int_equal(s.ack, 778);
    assert_int_equal(s.sport, 5555);
    assert_int_equal(s.dport, 4000);
    s = parse_tcp(1);
    assert_int_equal(s.flags, 0x04); /* RST with seq = their ack */
    assert_int_equal(s.seq, 12345);
}

static void test_connect_refused_and_timeouts(void **state)
{
    (void)state;
    seen = 0;
    refuse_syn = 1;
    peer = handshake_peer;
    uint32_t t0 = t_ms;
    assert_int_equal(tcp_connect(PEER_IP, 9, 5000), NET_EREFUSED);
    assert_true(t_ms - t0 < 10);

    /* no SYN-ACK: the SYN again after 1 s, 2 s, 4 s; the timeout at 5 s */
    out_n = 0;
    seen = 0;
    refuse_syn = 0;
    answer_syn = 0;
    t0 = t_ms;
    assert_int_equal(tcp_connect(PEER_IP, 80, 5000), NET_ETIMEDOUT);
    assert_true(t_ms - t0 >= 5000 && t_ms - t0 < 5010);
    assert_int_equal(count_flags(0x02), 3); /* at 0, 1000, 3000 ms */

    /* nobody answers ARP for an address on the link */
    setup(NULL);
    t0 = t_ms;
    assert_int_equal(tcp_connect(0x0a000209u, 80, 1000), NET_EHOSTUNREACH);
    int arps = 0;
    for (int i = 0; i < out_n; i++)
        arps += be16(out_q[i].b + 12) == 0x0806;
    assert_int_equal(arps, 4); /* every 250 ms */
    peer = NULL;
}

static void test_ports_differ_by_seed(void **state)
{
    (void)state;
    open_conn();
    uint16_t first = syn_port;
    assert_true(first >= NET_EPHEMERAL_LO);
    setup(NULL);
    struct net_cfg cfg = {&t_dev, {0}, OUR_IP, 0xffffff00u, PEER_IP, t_now, t_idle, 43};
    memcpy(cfg.mac, our_mac, 6);
    assert_int_equal(net_init(&cfg), 0);
    open_conn();
    assert_int_not_equal(syn_port, first);
}

static void test_data_both_ways(void **state)
{
    (void)state;
    int sd = open_conn();
    uint32_t rcv = peer_iss + 1, snd = syn_seq + 1;
    struct seg s = parse_tcp(out_n - 1);
    assert_int_equal(s.flags, 0x10); /* the handshake's ACK */
    assert_int_equal(s.ack, rcv);
    assert_int_equal(s.win, NET_TCP_RXBUF);

    /* out of order: dropped, a duplicate ACK at once; then in order: taken */
    out_n = 0;
    peer_tcp(8080, syn_port, rcv + 5, snd, 0x18, 4096, 0, "world", 5);
    net_poll();
    assert_int_equal(out_n, 1);
    s = parse_tcp(0);
    assert_int_equal(s.ack, rcv);
    peer_tcp(8080, syn_port, rcv, snd, 0x18, 4096, 0, "hello", 5);
    peer_tcp(8080, syn_port, rcv + 5, snd, 0x18, 4096, 0, "world", 5);
    char buf[32];
    int n = tcp_recv(sd, buf, sizeof(buf), 100);
    assert_int_equal(n, 10);
    assert_memory_equal(buf, "helloworld", 10);
    s = parse_tcp(out_n - 1);
    assert_int_equal(s.ack, rcv + 10);
    rcv += 10;
    assert_int_equal(tcp_recv(sd, buf, sizeof(buf), 50), 0); /* nothing: the timeout */

    /* 3000 bytes out: the peer's MSS (1000) and window (4096) */
    static uint8_t big[3000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7);
    out_n = 0;
    assert_int_equal(tcp_send(sd, big, sizeof(big), 100), 3000);
    assert_int_equal(out_n, 3);
    for (int i = 0; i < 3; i++) {
        s = parse_tcp(i);
        assert_int_equal(s.seq, snd + 1000u * (uint32_t)i);
        assert_int_equal(s.dlen, 1000);
        assert_memory_equal(s.data, big + 1000 * i, 1000);
    }
    /* the second is lost: the peer acknowledges the first three times over */
    peer_tcp(8080, syn_port, rcv, snd + 1000, 0x10, 4096, 0, NULL, 0);
    peer_tcp(8080, syn_port, rcv, snd + 1000, 0x10, 4096, 0, NULL, 0);
    peer_tcp(8080, syn_port, rcv, snd + 1000, 0x10, 4096, 0, NULL, 0);
    peer_tcp(8080, syn_port, rcv, snd + 1000, 0x10, 4096, 0, NULL, 0);
    out_n = 0;
    net_poll();
    assert_int_equal(out_n, 1); /* fast retransmit of the second */
    s = parse_tcp(0);
    assert_int_equal(s.seq, snd + 1000);
    assert_memory_equal(s.data, big + 1000, 1000);
    struct net_stats st;
    net_get_stats(&st);
    assert_int_equal(st.tcp_retransmits, 1);
    /* nothing more: the timer goes back to the oldest byte and sends it all again */
    out_n = 0;
    for (int i = 0; i < 2000 && out_n == 0; i++) {
        t_ms++;
        net_poll();
    }
    assert_true(out_n >= 1);
    s = parse_tcp(0);
    assert_int_equal(s.seq, snd + 1000);
    peer_tcp(8080, syn_port, rcv, snd + 3000, 0x10, 4096, 0, NULL, 0);
    assert_int_equal(tcp_flush(sd, 100), 0);
    snd += 3000;

    /* data, then the peer's reset: the data first, then NET_ERESET */
    peer_tcp(8080, syn_port, rcv, snd, 0x18, 4096, 0, "bye", 3);
    peer_tcp(8080, syn_port, rcv + 3, snd, 0x04, 0, 0, NULL, 0);
    n = tcp_recv(sd, buf, sizeof(buf), 100);
    assert_int_equal(n, 3);
    assert_int_equal(tcp_recv(sd, buf, sizeof(buf), 100), NET_ERESET);
    assert_int_equal(tcp_send(sd, "x", 1, 10), NET_ERESET);
    assert_int_equal(tcp_close(sd), NET_ERESET);
    assert_int_equal(tcp_recv(sd, buf, sizeof(buf), 10), NET_EBADF);
}

static uint32_t fin_rcv;
static void fin_peer(void)
{
    for (; seen < out_n; seen++) {
        struct seg s = parse_tcp(seen);
        if (s.flags & 0x01)
            peer_tcp(8080, syn_port, fin_rcv, s.seq + 1, 0x10, 4096, 0, NULL, 0);
    }
}

static void test_graceful_close(void **state)
{
    (void)state;
    int sd = open_conn();
    uint32_t rcv = peer_iss + 1, snd = syn_seq + 1;
    /* the peer sends data and its FIN: the data, then NET_ECLOSED */
    peer_tcp(8080, syn_port, rcv, snd, 0x19, 4096, 0, "end", 3);
    char buf[8];
    assert_int_equal(tcp_recv(sd, buf, sizeof(buf), 100), 3);
    assert_int_equal(tcp_recv(sd, buf, sizeof(buf), 100), NET_ECLOSED);
    assert_int_equal(tcp_is_open(sd), 0);
    rcv += 4;
    /* our FIN, acknowledged by the peer: a clean close */
    out_n = 0;
    seen = 0;
    fin_rcv = rcv;
    peer = fin_peer;
    assert_int_equal(tcp_close(sd), 0);
    peer = NULL;
    assert_int_equal(count_flags(0x11), 1);
    struct seg s = parse_tcp(0);
    assert_int_equal(s.flags, 0x11);
    assert_int_equal(s.seq, snd);
    assert_int_equal(s.ack, rcv);
    assert_int_equal(g_socks[sd].state, TS_CLOSED);
    assert_int_equal(tcp_close(sd), NET_EBADF);

    /* 4 sockets at once, a fifth is NET_EMFILE */
    setup(NULL);
    int sds[4];
    for (int i = 0; i < 4; i++)
        sds[i] = open_conn();
    assert_int_equal(tcp_connect(PEER_IP, 8080, 100), NET_EMFILE);
    for (int i = 0; i < 4; i++)
        assert_int_equal(tcp_abort(sds[i]), 0);
    assert_int_equal(count_flags(0x14), 4);
}

/* tcp_close_nowait: the FIN goes out and the descriptor is free at once; a
 * peer that never closes its side gets a reset after NET_TCP_CLOSE_MS */
static void test_close_nowait(void **state)
{
    (void)state;
    int sd = open_conn();
    out_n = 0;
    assert_int_equal(tcp_close_nowait(sd), 0);
    assert_int_equal(count_flags(0x11), 1);
    char buf[4];
    assert_int_equal(tcp_recv(sd, buf, sizeof(buf), 10), NET_EBADF);
    assert_int_not_equal(g_socks[sd].state, TS_CLOSED);
    assert_int_equal(count_flags(0x14), 0);
    t_ms += NET_TCP_CLOSE_MS / 2;
    net_poll();
    assert_int_not_equal(g_socks[sd].state, TS_CLOSED);
    t_ms += NET_TCP_CLOSE_MS;
    net_poll();
    assert_int_equal(g_socks[sd].state, TS_CLOSED);
    assert_int_equal(count_flags(0x14), 1);
    assert_int_equal(tcp_close_nowait(sd), NET_EBADF);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aton),
        cmocka_unit_test_setup(test_init_refuses, setup),
        cmocka_unit_test_setup(test_arp_and_icmp, setup),
        cmocka_unit_test_setup(test_rst_for_no_socket, setup),
        cmocka_unit_test_setup(test_connect_refused_and_timeouts, setup),
        cmocka_unit_test_setup(test_ports_differ_by_seed, setup),
        cmocka_unit_test_setup(test_data_both_ways, setup),
        cmocka_unit_test_setup(test_graceful_close, setup),
        cmocka_unit_test_setup(test_close_nowait, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
