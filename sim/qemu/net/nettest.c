/*
 * nettest.c - a firmware program (build/qemu/nettest.elf) that proves the
 * LAN9118 driver and the IP stack on QEMU's mps2-an385 with -nic user
 * (tests/e2e/qemu_net.sh, docs/qemu.md "Own IP stack on the LAN9118").
 * Its arguments come through semihosting SYS_GET_CMDLINE:
 *
 *   nettest PORT CLOSED_PORT SEED DOWN_BYTES UP_BYTES [LOSS]
 *
 * The host's test server listens on 127.0.0.1:PORT (10.0.2.2:PORT from
 * here) and speaks one line per connection: "DOWN n seed" (it sends n bytes
 * of the pattern, then closes) or "UP n seed" (it reads n bytes, checks them
 * against the pattern, answers "OK crc32\n" or "BAD offset\n", closes). The
 * pattern: x = x * 1664525 + 1013904223 from x = seed, each x as 4 bytes
 * little-endian. The program checks:
 *   1. a connection to CLOSED_PORT (nobody listens) is refused, quickly;
 *   2. DOWN_BYTES from the host, byte by byte against the pattern, then the
 *      host's close (NET_ECLOSED); the CRC-32 and the throughput (from the
 *      first byte to the close) printed;
 *   3. two connections at once: DOWN_BYTES / 4 in and UP_BYTES out,
 *      interleaved; the host's "OK" with the CRC-32 of what it got;
 *   4. two downloads at once, DOWN_BYTES / 4 each.
 * LOSS (per mille, default 0) drops that share of the frames both ways
 * after check 1, chosen from SEED: a fault injected between the stack and
 * the driver, so retransmission, fast retransmit and out-of-order handling
 * must recover every byte. Exit status 0 only when everything matched, 1 when something did not,
 * 2 for bad arguments or no network device.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sim/qemu/net/ipstack.h"
#include "sim/qemu/net/lan9118.h"
#include "sim/qemu/qemu_fw.h"

int main(void);

/* ---- what startup.c calls ------------------------------------------------- */

void qemu_tick(uint32_t ms) { (void)ms; }

static void say(const char *s) { qemu_uart0_write(s, strlen(s)); }

void qemu_crash(const char *why)
{
    say("nettest: crash: ");
    say(why);
    say("\n");
    qemu_exit(11);
}

/* ---- console -------------------------------------------------------------- */

static void say_u(uint32_t v)
{
    char b[11];
    int i = 10;
    b[i] = 0;
    do {
        b[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    say(b + i);
}

static void say_i(int v)
{
    if (v < 0) {
        say("-");
        say_u((uint32_t)-(int64_t)v);
    } else {
        say_u((uint32_t)v);
    }
}

static void say_x(uint32_t v)
{
    char b[11] = "0x";
    for (int i = 0; i < 8; i++)
        b[2 + i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 0xfu];
    b[10] = 0;
    say(b);
}

/* ---- semihosting ---------------------------------------------------------- */

static int get_cmdline(char *buf, uint32_t cap)
{
    static volatile uint32_t block[2];
    block[0] = (uint32_t)(uintptr_t)buf;
    block[1] = cap;
    register uint32_t r0 __asm__("r0") = 0x15u; /* SYS_GET_CMDLINE */
    register volatile uint32_t *r1 __asm__("r1") = block;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    if (r0 != 0 || block[1] >= cap)
        return -1;
    buf[block[1]] = 0;
    return 0;
}

static int parse_u32(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 429496728u)
            return -1;
        v = v * 10u + (uint32_t)(*s - '0');
    }
    *out = v;
    return 0;
}

/* ---- pattern and CRC-32 --------------------------------------------------- */

struct pattern {
    uint32_t x;   /* the generator */
    uint32_t pos; /* bytes produced */
};

static uint8_t pattern_next(struct pattern *p)
{
    if ((p->pos & 3u) == 0)
        p->x = p->x * 1664525u + 1013904223u;
    return (uint8_t)(p->x >> (8u * (p->pos++ & 3u)));
}

static uint32_t g_crc_table[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1u) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        g_crc_table[i] = c;
    }
}

static uint32_t crc_update(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    while (n--)
        crc = g_crc_table[(crc ^ *p++) & 0xffu] ^ (crc >> 8);
    return ~crc;
}

/* ---- the checks ----------------------------------------------------------- */

/* ---- frame loss, injected around the driver ------------------------------ */

static uint32_t g_loss_pm;   /* per mille of frames dropped, both ways */
static uint32_t g_loss_rng;  /* xorshift32, from the seed */
static uint32_t g_loss_count; /* frames dropped so far */

static int loss_now(void)
{
    if (!g_loss_pm)
        return 0;
    g_loss_rng ^= g_loss_rng << 13;
    g_loss_rng ^= g_loss_rng >> 17;
    g_loss_rng ^= g_loss_rng << 5;
    if (g_loss_rng % 1000u >= g_loss_pm)
        return 0;
    g_loss_count++;
    return 1;
}

static int lossy_send(const void *frame, size_t len)
{
    return loss_now() ? 0 : lan9118_send(frame, len);
}

static int lossy_recv(void *buf, size_t cap)
{
    for (;;) {
        int n = lan9118_recv(buf, cap);
        if (n <= 0 || !loss_now())
            return n;
    }
}

static void idle_wfi(void)
{
    if (!lan9118_irq_seen())
        qemu_wfi(); /* the LAN9118's interrupt or the 1 ms SysTick ends it */
}

static int g_failed;

static void fail(const char *what, int rc)
{
    say("nettest: FAIL ");
    say(what);
    say(" (");
    say_i(rc);
    say(")\n");
    g_failed = 1;
}

static int send_all(int sd, const char *s)
{
    size_t len = strlen(s);
    int rc = tcp_send(sd, s, len, 5000);
    return rc == (int)len ? 0 : rc < 0 ? rc : -1;
}

static void request(char *line, const char *verb, uint32_t n, uint32_t seed)
{
    char num[11];
    strcpy(line, verb);
    for (int k = 0; k < 2; k++) {
        uint32_t v = k ? seed : n;
        int i = 10;
        num[i] = 0;
        do {
            num[--i] = (char)('0' + v % 10u);
            v /= 10u;
        } while (v);
        strcat(line, " ");
        strcat(line, num + i);
    }
    strcat(line, "\n");
}

/* A download in progress: bytes checked against the pattern. */
struct down {
    int sd;
    uint32_t want, got, crc;
    struct pattern pat;
    int done;    /* 1 when the host closed after `want` bytes; -1 on a mismatch or an error */
    uint32_t t_first; /* ms: the first byte's arrival (the host made the pattern before it) */
};

static uint8_t g_buf[4096];

static void down_step(struct down *d, uint32_t timeout_ms, const char *what)
{
    int rc = tcp_recv(d->sd, g_buf, sizeof(g_buf), timeout_ms);
    if (rc > 0) {
        if (d->got == 0)
            d->t_first = qemu_ms();
        for (int i = 0; i < rc; i++) {
            if (g_buf[i] != pattern_next(&d->pat)) {
                fail(what, (int)(d->got + (uint32_t)i));
                d->done = -1;
                return;
            }
        }
        d->crc = crc_update(d->crc, g_buf, (size_t)rc);
        d->got += (uint32_t)rc;
        return;
    }
    if (rc == NET_ECLOSED && d->got == d->want) {
        d->done = 1;
        return;
    }
    if (rc < 0 || timeout_ms > 0) { /* an error, or nothing for a whole timeout */
        fail(what, rc < 0 ? rc : (int)d->got);
        d->done = -1;
    }
}

static int connect_host(uint32_t host, uint32_t port, const char *what)
{
    int sd = tcp_connect(host, (uint16_t)port, 5000);
    if (sd < 0)
        fail(what, sd);
    return sd;
}

int main(void)
{
    qemu_uart_init();
    crc_init();
    static char cmd[256];
    char *argv[8];
    int argc = 0;
    if (get_cmdline(cmd, sizeof(cmd)) != 0) {
        say("nettest: no command line (semihosting)\n");
        return 2;
    }
    for (char *p = cmd; *p && argc < 8;) {
        while (*p == ' ')
            *p++ = 0;
        if (!*p)
            break;
        argv[argc++] = p;
        while (*p && *p != ' ')
            p++;
    }
    uint32_t port, closed, seed, down_n, up_n;
    uint32_t loss = 0;
    if ((argc != 6 && argc != 7) || (argc == 7 && (parse_u32(argv[6], &loss) || loss > 500)) || parse_u32(argv[1], &port) || parse_u32(argv[2], &closed) ||
        parse_u32(argv[3], &seed) || parse_u32(argv[4], &down_n) || parse_u32(argv[5], &up_n) ||
        port == 0 || port > 65535 || closed == 0 || closed > 65535) {
        say("nettest: usage: nettest PORT CLOSED_PORT SEED DOWN_BYTES UP_BYTES [LOSS (0..500 per mille)]\n");
        return 2;
    }

    struct net_cfg cfg;
    memset(&cfg, 0, sizeof(cfg));
    static const struct net_dev dev = {lossy_send, lossy_recv};
    int rc = lan9118_init(NULL, cfg.mac);
    if (rc != 0) {
        say("nettest: no LAN9118 at 0x40200000\n");
        return 2;
    }
    cfg.dev = &dev;
    cfg.now_ms = qemu_ms;
    cfg.idle = idle_wfi;
    cfg.seed = seed;
    uint32_t host;
    if (net_aton("10.0.2.15", &cfg.ip) || net_aton("255.255.255.0", &cfg.mask) ||
        net_aton("10.0.2.2", &cfg.gw) || net_aton("10.0.2.2", &host) || net_init(&cfg) != 0) {
        say("nettest: net_init failed\n");
        return 2;
    }
    say("nettest: mac ");
    for (int i = 0; i < 6; i++) {
        static const char hx[] = "0123456789abcdef";
        char b[4] = {hx[cfg.mac[i] >> 4], hx[cfg.mac[i] & 15], i < 5 ? ':' : ' ', 0};
        say(b);
    }
    say("ip 10.0.2.15\n");

    /* 1. nobody listens: slirp's connect to the host is refused, it resets */
    uint32_t t0 = qemu_ms();
    rc = tcp_connect(host, (uint16_t)closed, 5000);
    uint32_t ms = qemu_ms() - t0;
    say("nettest: connect to closed port ");
    say_u(closed);
    say(": ");
    say_i(rc);
    say(" in ");
    say_u(ms);
    say(" ms\n");
    if (rc != NET_EREFUSED || ms > 2000)
        fail("refused", rc);

    /* from here on the frames may be lost */
    g_loss_pm = loss;
    g_loss_rng = seed * 2246822519u + 1u;
    if (loss) {
        say("nettest: dropping ");
        say_u(loss);
        say(" per mille of the frames\n");
    }

    /* 2. one download, timed */
    char line[48];
    struct down d;
    memset(&d, 0, sizeof(d));
    d.sd = connect_host(host, port, "connect down");
    if (d.sd >= 0) {
        d.want = down_n;
        d.pat.x = seed;
        request(line, "DOWN", down_n, seed);
        if ((rc = send_all(d.sd, line)) != 0)
            fail("send DOWN", rc);
        while (!d.done && !g_failed)
            down_step(&d, 10000, "down");
        ms = qemu_ms() - d.t_first; /* from the first byte to the host's close */
        if (d.done == 1) {
            say("nettest: down ");
            say_u(d.got);
            say(" bytes crc32 ");
            say_x(d.crc);
            say(" in ");
            say_u(ms);
            say(" ms: ");
            say_u(ms ? (uint32_t)((uint64_t)d.got * 1000u / 1024u / ms) : 0);
            say(" KiB/s\n");
        }
        rc = tcp_close(d.sd);
        if (rc != 0)
            fail("close down", rc);
    }

    /* 3. two connections at once: one downloads, the other uploads */
    struct down a;
    memset(&a, 0, sizeof(a));
    a.want = down_n / 4u;
    a.pat.x = seed + 1u;
    a.sd = connect_host(host, port, "connect a");
    int b = connect_host(host, port, "connect b");
    if (a.sd >= 0 && b >= 0) {
        request(line, "DOWN", a.want, seed + 1u);
        if ((rc = send_all(a.sd, line)) != 0)
            fail("send DOWN a", rc);
        request(line, "UP", up_n, seed + 2u);
        if ((rc = send_all(b, line)) != 0)
            fail("send UP b", rc);
        struct pattern up = {seed + 2u, 0};
        static uint8_t chunk[1024];
        uint32_t sent = 0, both = 0, up_crc = 0, pend = 0;
        t0 = qemu_ms();
        while (!g_failed && (!a.done || sent < up_n)) {
            uint32_t before = a.got + sent;
            if (!a.done)
                down_step(&a, 0, "down a");
            /* the upload keeps pace with the download, so the two overlap */
            uint64_t allowed = a.want ? (uint64_t)a.got * up_n / a.want + sizeof(chunk) : up_n;
            if (sent < up_n && (a.done || sent < allowed)) {
                if (pend == 0) {
                    pend = up_n - sent < sizeof(chunk) ? up_n - sent : (uint32_t)sizeof(chunk);
                    for (uint32_t i = 0; i < pend; i++)
                        chunk[i] = pattern_next(&up);
                    up_crc = crc_update(up_crc, chunk, pend);
                }
                rc = tcp_send(b, chunk, pend, 0);
                if (rc < 0) {
                    fail("send b", rc);
                    break;
                }
                if (rc > 0) {
                    if ((uint32_t)rc < pend)
                        memmove(chunk, chunk + rc, pend - (uint32_t)rc);
                    pend -= (uint32_t)rc;
                    sent += (uint32_t)rc;
                }
            }
            if (!a.done && sent < up_n && a.got > 0 && sent > 0)
                both++; /* both connections have moved data and are still at it */
            if (a.got + sent == before && !a.done)
                idle_wfi(); /* nothing moved this turn */
            if (qemu_ms() - t0 > 60000) {
                fail("two connections: time", (int)(qemu_ms() - t0));
                break;
            }
        }
        say("nettest: two connections: down ");
        say_u(a.got);
        say(" crc32 ");
        say_x(a.crc);
        say(", up ");
        say_u(sent);
        say(" crc32 ");
        say_x(up_crc);
        say(", ");
        say_u(both);
        say(" turns with both open\n");
        if (!g_failed && both == 0)
            fail("the two transfers did not overlap", 0);
        /* the host's verdict on the upload, then its close */
        char reply[32];
        uint32_t got = 0;
        while (!g_failed) {
            rc = tcp_recv(b, reply + got, sizeof(reply) - 1u - got, 10000);
            if (rc > 0) {
                got += (uint32_t)rc;
                continue;
            }
            if (rc != NET_ECLOSED)
                fail("reply b", rc);
            break;
        }
        reply[got] = 0;
        char want[32] = "OK ";
        static const char hx[] = "0123456789abcdef";
        for (int i = 0; i < 8; i++)
            want[3 + i] = hx[(up_crc >> (28 - 4 * i)) & 0xfu];
        want[11] = '\n';
        want[12] = 0;
        say("nettest: host says ");
        say(reply);
        if (!g_failed && strcmp(reply, want) != 0)
            fail("the host's verdict on the upload", (int)got);
        if ((rc = tcp_close(a.sd)) != 0)
            fail("close a", rc);
        if ((rc = tcp_close(b)) != 0)
            fail("close b", rc);
    }

    /* 4. two downloads at once: both windows open towards the one RX FIFO */
    struct down two[2];
    memset(two, 0, sizeof(two));
    for (int k = 0; k < 2 && !g_failed; k++) {
        two[k].want = down_n / 4u;
        two[k].pat.x = seed + 3u + (uint32_t)k;
        two[k].sd = connect_host(host, port, k ? "connect d2" : "connect d1");
        request(line, "DOWN", two[k].want, seed + 3u + (uint32_t)k);
        if (two[k].sd >= 0 && (rc = send_all(two[k].sd, line)) != 0)
            fail("send DOWN d", rc);
    }
    t0 = qemu_ms();
    while (!g_failed && (two[0].done != 1 || two[1].done != 1)) {
        uint32_t before = two[0].got + two[1].got;
        for (int k = 0; k < 2; k++)
            if (!two[k].done)
                down_step(&two[k], 0, k ? "down d2" : "down d1");
        if (two[0].got + two[1].got == before)
            idle_wfi();
        if (qemu_ms() - t0 > 60000) {
            fail("two downloads: time", (int)(qemu_ms() - t0));
            break;
        }
    }
    if (!g_failed) {
        say("nettest: two downloads: ");
        say_u(two[0].got);
        say(" crc32 ");
        say_x(two[0].crc);
        say(" and ");
        say_u(two[1].got);
        say(" crc32 ");
        say_x(two[1].crc);
        say(" in ");
        say_u(qemu_ms() - t0);
        say(" ms\n");
    }
    for (int k = 0; k < 2; k++)
        if (two[k].sd >= 0 && (rc = tcp_close(two[k].sd)) != 0)
            fail("close d", rc);

    struct net_stats st;
    net_get_stats(&st);
    say("nettest: frames in ");
    say_u(st.rx_frames);
    say(" out ");
    say_u(st.tx_frames);
    say(", retransmits ");
    say_u(st.tcp_retransmits);
    say(", out of order ");
    say_u(st.tcp_out_of_order);
    say(", dropped ");
    say_u(st.rx_dropped + lan9118_rx_dropped());
    say(", lost on purpose ");
    say_u(g_loss_count);
    say("\n");
    say(g_failed ? "nettest: FAIL\n" : "nettest: PASS\n");
    return g_failed ? 1 : 0;
}
