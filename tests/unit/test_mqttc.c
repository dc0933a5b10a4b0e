/*
 * test_mqttc.c - the freestanding MQTT 3.1.1 client (sim/util/mqttc.c).
 *
 * Against a real Mosquitto started here on a free loopback port with the
 * broker's auth plugin (build/lib/otahil-broker-auth.so) and a registry
 * holding one device and a service client, over a POSIX-socket transport:
 * the device's signed credentials (sim/util/mqttsign.c) accepted, a wrong
 * secret refused with CONNACK 5, a subscription to the device's upgrade
 * topic and a push from a libmosquitto client delivered, an inform
 * published at QoS 1 arriving at a subscriber, another device's topic
 * refused (SUBACK 0x80), pings over a 1 s keepalive, 6 KB messages both
 * ways, and a message larger than the receive buffer skipped with the
 * client still working.
 *
 * Then the packet encoder and decoder on crafted byte streams with no
 * broker (a scripted transport and clock): remaining-length edge cases,
 * CONNECT's bytes, bad CONNACKs, wrong packet ids, unexpected packet
 * types, truncated and split packets, a malformed remaining length,
 * oversized deliveries, keepalive timing, the callback's own calls, and
 * seeded random streams (valid packets with bytes flipped, in random pieces).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/testutil.h"

#include "mock_cloud/broker.h"
#include "sim/util/defaults.h"
#include "sim/util/mqttc.h"
#include "sim/util/mqttsign.h"

#include <arpa/inet.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define PK       OTAHIL_DEFAULT_PK
#define DN       OTAHIL_DEFAULT_DN
#define SECRET   OTAHIL_DEFAULT_SECRET
#define SVC_USER "otahil-test-service"
#define SVC_PASS "test-service-password"
#define TOPIC(type, dn) "/ota/device/" type "/" PK "/" dn
#define RX_SIZE  8192

static char tmpdir[64];
static struct broker br;

/* ---- a POSIX-socket transport ----------------------------------------- */

struct sock {
    int fd;
};

static int sock_send(void *ctx, const uint8_t *buf, size_t len, uint32_t timeout_ms)
{
    struct sock *s = ctx;
    struct pollfd p = { s->fd, POLLOUT, 0 };
    ssize_t n;

    if (poll(&p, 1, (int)timeout_ms) < 0)
        return -1;
    if (!(p.revents & (POLLOUT | POLLERR | POLLHUP)))
        return 0;
    n = send(s->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0)
        return errno == EAGAIN ? 0 : -1;
    return (int)n;
}

static int sock_recv(void *ctx, uint8_t *buf, size_t len, uint32_t timeout_ms)
{
    struct sock *s = ctx;
    struct pollfd p = { s->fd, POLLIN, 0 };
    ssize_t n;

    if (poll(&p, 1, (int)timeout_ms) < 0)
        return -1;
    if (!(p.revents & (POLLIN | POLLERR | POLLHUP)))
        return 0;
    n = recv(s->fd, buf, len, MSG_DONTWAIT);
    if (n == 0)
        return -1; /* the broker closed */
    if (n < 0)
        return errno == EAGAIN ? 0 : -1;
    return (int)n;
}

static uint32_t sock_now(void *ctx)
{
    (void)ctx;
    return (uint32_t)now_ms();
}

static const struct mqttc_io sock_io = { sock_send, sock_recv, sock_now };

static void sock_open(struct sock *s)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)br.port) };
    int one = 1;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s->fd >= 0);
    assert_int_equal(connect(s->fd, (struct sockaddr *)&a, sizeof a), 0);
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void sock_close(struct sock *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

/* ---- what the device's client received ---- */

struct inbox {
    int    n;
    char   topic[256];
    size_t len;
    uint8_t payload[RX_SIZE];
    int    qos;
    int    nul_ok;          /* topic and payload each followed by a NUL */
};

static void on_msg(void *ctx, char *topic, size_t tl, uint8_t *payload, size_t len, int qos)
{
    struct inbox *in = ctx;

    in->n++;
    snprintf(in->topic, sizeof in->topic, "%.*s", (int)tl, topic);
    in->len = len;
    memcpy(in->payload, payload, len < sizeof in->payload ? len : sizeof in->payload);
    in->qos = qos;
    in->nul_ok = topic[tl] == '\0' && payload[len] == '\0';
}

struct dev {
    struct sock s;
    struct mqttc c;
    uint8_t tx[512], rx[RX_SIZE];
    struct inbox in;
};

/* Connects the device with secret's signature; the mqttc_connect result. */
static int dev_open(struct dev *d, const char *secret, uint16_t keepalive)
{
    struct mqttsign_creds cr;
    struct mqttc_connect_opts o = { 0 };

    memset(d, 0, sizeof *d);
    sock_open(&d->s);
    assert_int_equal(mqttc_init(&d->c, &sock_io, &d->s, d->tx, sizeof d->tx, d->rx, sizeof d->rx,
                                on_msg, &d->in, 3000), 0);
    assert_int_equal(mqttsign_make(PK, DN, secret, MQTTSIGN_HMACSHA1, &cr), 0);
    o.client_id = cr.client_id;
    o.username = cr.username;
    o.password = cr.password;
    o.keepalive_s = keepalive;
    o.clean_session = 1;
    return mqttc_connect(&d->c, &o);
}

static void dev_close(struct dev *d)
{
    if (mqttc_connected(&d->c))
        assert_int_equal(mqttc_disconnect(&d->c), 0);
    sock_close(&d->s);
}

/* Polls until in.n reaches n or ms pass. */
static void dev_wait(struct dev *d, int n, unsigned ms)
{
    uint64_t end = now_ms() + ms;

    while (d->in.n < n && now_ms() < end)
        assert_true(mqttc_poll(&d->c, 50) >= 0);
}

/* ---- the service's libmosquitto client (its own network thread) ---- */

struct svc {
    struct mosquitto *mq;
    pthread_mutex_t lock;
    int connack, subacks, n;
    char topic[256];
    int len;
    uint8_t payload[32768];
};

static void svc_on_connect(struct mosquitto *mq, void *obj, int rc)
{
    struct svc *s = obj;
    (void)mq;
    pthread_mutex_lock(&s->lock);
    s->connack = rc;
    pthread_mutex_unlock(&s->lock);
}

static void svc_on_subscribe(struct mosquitto *mq, void *obj, int mid, int n, const int *g)
{
    struct svc *s = obj;
    (void)mq;
    (void)mid;
    (void)n;
    (void)g;
    pthread_mutex_lock(&s->lock);
    s->subacks++;
    pthread_mutex_unlock(&s->lock);
}

static void svc_on_message(struct mosquitto *mq, void *obj, const struct mosquitto_message *m)
{
    struct svc *s = obj;
    (void)mq;
    pthread_mutex_lock(&s->lock);
    s->n++;
    snprintf(s->topic, sizeof s->topic, "%s", m->topic);
    s->len = m->payloadlen;
    memcpy(s->payload, m->payload,
           (size_t)m->payloadlen < sizeof s->payload ? (size_t)m->payloadlen : sizeof s->payload);
    pthread_mutex_unlock(&s->lock);
}

static int svc_get(struct svc *s, int *field)
{
    int v;

    pthread_mutex_lock(&s->lock);
    v = *field;
    pthread_mutex_unlock(&s->lock);
    return v;
}

static void svc_wait(struct svc *s, int *field, int value, unsigned ms)
{
    uint64_t end = now_ms() + ms;

    while (svc_get(s, field) < value && now_ms() < end)
        sleep_ms(5);
}

static void svc_open(struct svc *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    s->connack = -1;
    s->mq = mosquitto_new("otahil-test-service", true, s);
    assert_non_null(s->mq);
    mosquitto_connect_callback_set(s->mq, svc_on_connect);
    mosquitto_subscribe_callback_set(s->mq, svc_on_subscribe);
    mosquitto_message_callback_set(s->mq, svc_on_message);
    assert_int_equal(mosquitto_username_pw_set(s->mq, SVC_USER, SVC_PASS), MOSQ_ERR_SUCCESS);
    assert_int_equal(mosquitto_connect(s->mq, "127.0.0.1", br.port, 30), MOSQ_ERR_SUCCESS);
    assert_int_equal(mosquitto_loop_start(s->mq), MOSQ_ERR_SUCCESS);
    for (uint64_t end = now_ms() + 3000; svc_get(s, &s->connack) < 0 && now_ms() < end;)
        sleep_ms(5);
    assert_int_equal(svc_get(s, &s->connack), 0);
}

static void svc_subscribe(struct svc *s, const char *topic)
{
    int before = svc_get(s, &s->subacks);

    assert_int_equal(mosquitto_subscribe(s->mq, NULL, topic, 1), MOSQ_ERR_SUCCESS);
    svc_wait(s, &s->subacks, before + 1, 3000);
    assert_int_equal(svc_get(s, &s->subacks), before + 1);
}

static void svc_close(struct svc *s)
{
    mosquitto_disconnect(s->mq);
    mosquitto_loop_stop(s->mq, false);
    mosquitto_destroy(s->mq);
    pthread_mutex_destroy(&s->lock);
}

static void fill_pattern(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

/* ---- fixture ---- */

static int group_setup(void **state)
{
    char exe[512], plugin[600], reg[128], err[1024];
    struct broker_auth ba;
    ssize_t n;
    FILE *f;

    (void)state;
    signal(SIGPIPE, SIG_IGN);
    mosquitto_lib_init();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/otahil-mqttc-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    snprintf(plugin, sizeof plugin, "%s/../lib/otahil-broker-auth.so", exe);
    snprintf(reg, sizeof reg, "%s/registry", tmpdir);
    f = fopen(reg, "w");
    if (!f)
        return -1;
    fprintf(f, "service %s %s\ndevice %s %s %s\n", SVC_USER, SVC_PASS, PK, DN, SECRET);
    fclose(f);
    chmod(reg, 0600);
    ba.plugin = plugin;
    ba.registry = reg;
    ba.events = NULL;
    if (broker_start(&br, NULL, tmpdir, 0, &ba, err, sizeof err) != 0) {
        fprintf(stderr, "broker_start: %s\n", err);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    char cmd[128];

    (void)state;
    broker_stop(&br);
    mosquitto_lib_cleanup();
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- against the broker ---- */

static void test_broker_connect(void **state)
{
    static struct dev d;

    (void)state;
    assert_int_equal(dev_open(&d, SECRET, 60), 0);
    assert_true(mqttc_connected(&d.c));
    assert_int_equal(d.c.connack_rc, 0);
    assert_int_equal(d.c.session_present, 0);
    dev_close(&d);
    assert_false(mqttc_connected(&d.c));

    /* a wrong secret: the plugin refuses, CONNACK 5 (not authorised) */
    assert_int_equal(dev_open(&d, "not-the-secret", 60), MQTTC_EREFUSED);
    assert_int_equal(d.c.connack_rc, 5);
    assert_false(mqttc_connected(&d.c));
    assert_int_equal(mqttc_publish(&d.c, TOPIC("inform", DN), "x", 1, 1, 0), MQTTC_ESTATE);
    sock_close(&d.s);
}

static void test_broker_push_and_inform(void **state)
{
    static struct dev d;
    static struct svc s;
    static const char push[] = "{\"md5\":\"x\",\"size\":4096,\"version\":\"app-2\",\"url\":\"u\"}";
    static const char inform[] = "{\"id\":0,\"params\":{\"version\":\"app-1.0.0\"}}";

    (void)state;
    svc_open(&s);
    svc_subscribe(&s, TOPIC("inform", DN));
    assert_int_equal(dev_open(&d, SECRET, 60), 0);
    assert_int_equal(mqttc_subscribe(&d.c, TOPIC("upgrade", DN), 1), 1);

    /* the cloud's push, delivered with a PUBACK, topic and payload NUL-ended */
    assert_int_equal(mosquitto_publish(s.mq, NULL, TOPIC("upgrade", DN), (int)sizeof push, push, 1,
                                       false), MOSQ_ERR_SUCCESS);
    dev_wait(&d, 1, 3000);
    assert_int_equal(d.in.n, 1);
    assert_string_equal(d.in.topic, TOPIC("upgrade", DN));
    assert_int_equal(d.in.len, sizeof push);
    assert_memory_equal(d.in.payload, push, sizeof push);
    assert_int_equal(d.in.qos, 1);
    assert_true(d.in.nul_ok);

    /* the device's inform at QoS 1 (returns at the PUBACK), trailing NUL as G1 */
    assert_int_equal(mqttc_publish(&d.c, TOPIC("inform", DN), inform, sizeof inform, 1, 0), 0);
    svc_wait(&s, &s.n, 1, 3000);
    assert_int_equal(svc_get(&s, &s.n), 1);
    assert_string_equal(s.topic, TOPIC("inform", DN));
    assert_int_equal(s.len, (int)sizeof inform);
    assert_memory_equal(s.payload, inform, sizeof inform);
    /* QoS 0 too */
    assert_int_equal(mqttc_publish(&d.c, TOPIC("progress", DN), "{}", 3, 0, 0), 0);
    svc_subscribe(&s, TOPIC("progress", DN));
    assert_int_equal(mqttc_publish(&d.c, TOPIC("progress", DN), "{\"step\": \"5\"}", 14, 0, 0), 0);
    svc_wait(&s, &s.n, 2, 3000);
    assert_int_equal(svc_get(&s, &s.n), 2);
    assert_string_equal(s.topic, TOPIC("progress", DN));

    /* another device's topic: the plugin's denial is SUBACK 0x80 */
    assert_int_equal(mqttc_subscribe(&d.c, TOPIC("upgrade", "dev-0002"), 1), MQTTC_EREFUSED);
    assert_true(mqttc_connected(&d.c));
    assert_int_equal(mqttc_subscribe(&d.c, TOPIC("upgrade", DN), 0), 0);
    assert_int_equal(d.c.stats.stray_acks, 0);
    dev_close(&d);
    svc_close(&s);
}

static void test_broker_keepalive(void **state)
{
    static struct dev d;
    uint64_t end;

    (void)state;
    assert_int_equal(dev_open(&d, SECRET, 1), 0);
    end = now_ms() + 3600;
    while (now_ms() < end)
        assert_true(mqttc_poll(&d.c, 200) >= 0);
    if (d.c.stats.pings < 3 || d.c.stats.pongs < 2)
        fail_msg("%u pings, %u answers in 3.6 s with a 1 s keepalive", d.c.stats.pings,
                 d.c.stats.pongs);
    assert_true(mqttc_connected(&d.c));
    /* the session is alive: a publish still gets its PUBACK */
    assert_int_equal(mqttc_publish(&d.c, TOPIC("inform", DN), "{}", 3, 1, 0), 0);
    dev_close(&d);
}

static void test_broker_large_and_oversized(void **state)
{
    static struct dev d;
    static struct svc s;
    static uint8_t big[6 * 1024], huge[20 * 1024];

    (void)state;
    fill_pattern(big, sizeof big, 7);
    fill_pattern(huge, sizeof huge, 11);
    svc_open(&s);
    svc_subscribe(&s, TOPIC("inform", DN));
    assert_int_equal(dev_open(&d, SECRET, 60), 0);
    assert_int_equal(mqttc_subscribe(&d.c, TOPIC("upgrade", DN), 1), 1);

    /* 6 KB each way */
    assert_int_equal(mqttc_publish(&d.c, TOPIC("inform", DN), big, sizeof big, 1, 0), 0);
    svc_wait(&s, &s.n, 1, 3000);
    assert_int_equal(s.len, (int)sizeof big);
    assert_memory_equal(s.payload, big, sizeof big);
    assert_int_equal(mosquitto_publish(s.mq, NULL, TOPIC("upgrade", DN), (int)sizeof big, big, 1,
                                       false), MOSQ_ERR_SUCCESS);
    dev_wait(&d, 1, 3000);
    assert_int_equal(d.in.len, sizeof big);
    assert_memory_equal(d.in.payload, big, sizeof big);

    /* 20 KB into an 8 KB buffer: skipped and acknowledged; the next arrives */
    assert_int_equal(mosquitto_publish(s.mq, NULL, TOPIC("upgrade", DN), (int)sizeof huge, huge, 1,
                                       false), MOSQ_ERR_SUCCESS);
    assert_int_equal(mosquitto_publish(s.mq, NULL, TOPIC("upgrade", DN), 6, "after", 1, false),
                     MOSQ_ERR_SUCCESS);
    dev_wait(&d, 2, 3000);
    assert_int_equal(d.in.n, 2);
    assert_int_equal(d.c.stats.skipped, 1);
    assert_string_equal((char *)d.in.payload, "after");
    assert_true(mqttc_connected(&d.c));
    assert_int_equal(mqttc_publish(&d.c, TOPIC("inform", DN), "{}", 3, 1, 0), 0);
    dev_close(&d);

    /* the skipped one was acknowledged: a persistent session has nothing to
     * redeliver (had the PUBACK been missing, it would come again) */
    {
        struct mqttsign_creds cr;
        struct mqttc_connect_opts o = { 0 };

        memset(&d, 0, sizeof d);
        assert_int_equal(mqttsign_make(PK, DN, SECRET, MQTTSIGN_HMACSHA1, &cr), 0);
        o.client_id = cr.client_id;
        o.username = cr.username;
        o.password = cr.password;
        o.keepalive_s = 60;
        o.clean_session = 0;
        for (int round = 0; round < 2; round++) {
            sock_open(&d.s);
            assert_int_equal(mqttc_init(&d.c, &sock_io, &d.s, d.tx, sizeof d.tx, d.rx,
                                        sizeof d.rx, on_msg, &d.in, 3000), 0);
            assert_int_equal(mqttc_connect(&d.c, &o), 0);
            assert_int_equal(d.c.session_present, round);
            if (round == 0) {
                assert_int_equal(mqttc_subscribe(&d.c, TOPIC("upgrade", DN), 1), 1);
                assert_int_equal(mosquitto_publish(s.mq, NULL, TOPIC("upgrade", DN),
                                                   (int)sizeof huge, huge, 1, false),
                                 MOSQ_ERR_SUCCESS);
                for (uint64_t end = now_ms() + 3000; d.c.stats.skipped < 1 && now_ms() < end;)
                    assert_true(mqttc_poll(&d.c, 50) >= 0);
                assert_int_equal(d.c.stats.skipped, 1);
            } else {
                for (uint64_t end = now_ms() + 500; now_ms() < end;)
                    assert_true(mqttc_poll(&d.c, 50) >= 0);
                assert_int_equal(d.c.stats.skipped, 0);
                assert_int_equal(d.in.n, 0);
            }
            dev_close(&d);
        }
        /* end the persistent session */
        o.clean_session = 1;
        sock_open(&d.s);
        assert_int_equal(mqttc_connect(&d.c, &o), 0);
        dev_close(&d);
    }
    svc_close(&s);
}

/* ---- crafted byte streams: a scripted transport and clock ---- */

struct script {
    uint8_t in[65536];      /* what the "broker" sends */
    size_t  in_len, in_pos;
    size_t  chunk;          /* at most this many bytes a recv (0: no limit) */
    int     closed;         /* recv < 0 once in is used up */
    uint8_t out[65536];     /* what the client sent */
    size_t  out_len;
    uint32_t clock;         /* ms; a recv with nothing advances it by its timeout */
};

static int scr_send(void *ctx, const uint8_t *buf, size_t len, uint32_t timeout_ms)
{
    struct script *s = ctx;

    (void)timeout_ms;
    assert_true(s->out_len + len <= sizeof s->out);
    memcpy(s->out + s->out_len, buf, len);
    s->out_len += len;
    return (int)len;
}

static int scr_recv(void *ctx, uint8_t *buf, size_t len, uint32_t timeout_ms)
{
    struct script *s = ctx;
    size_t n = s->in_len - s->in_pos;

    if (n == 0) {
        if (s->closed)
            return -1;
        s->clock += timeout_ms ? timeout_ms : 1;
        return 0;
    }
    if (n > len)
        n = len;
    if (s->chunk && n > s->chunk)
        n = s->chunk;
    memcpy(buf, s->in + s->in_pos, n);
    s->in_pos += n;
    return (int)n;
}

static uint32_t scr_now(void *ctx)
{
    return ((struct script *)ctx)->clock;
}

static const struct mqttc_io scr_io = { scr_send, scr_recv, scr_now };

static void feed(struct script *s, const void *p, size_t n)
{
    assert_true(s->in_len + n <= sizeof s->in);
    memcpy(s->in + s->in_len, p, n);
    s->in_len += n;
}

#define FEED(s, ...) do { static const uint8_t b_[] = { __VA_ARGS__ }; feed(s, b_, sizeof b_); } while (0)

/* A PUBLISH from the "broker". */
static void feed_publish(struct script *s, const char *topic, const void *payload, size_t len,
                         int qos, uint16_t id)
{
    uint8_t h[8];
    size_t tl = strlen(topic);
    uint32_t rl = (uint32_t)(2 + tl + (qos ? 2 : 0) + len);
    int n;

    h[0] = (uint8_t)(0x30 | qos << 1);
    n = mqttc_encode_len(rl, h + 1);
    feed(s, h, 1 + (size_t)n);
    h[0] = (uint8_t)(tl >> 8);
    h[1] = (uint8_t)tl;
    feed(s, h, 2);
    feed(s, topic, tl);
    if (qos) {
        h[0] = (uint8_t)(id >> 8);
        h[1] = (uint8_t)id;
        feed(s, h, 2);
    }
    feed(s, payload, len);
}

/* 1 if the client sent the bytes of needle (after offset from). */
static int sent(const struct script *s, const uint8_t *needle, size_t n)
{
    for (size_t i = 0; i + n <= s->out_len; i++)
        if (memcmp(s->out + i, needle, n) == 0)
            return 1;
    return 0;
}

struct crafted {
    struct script s;
    struct mqttc c;
    uint8_t tx[256], rx[128];
    struct inbox in;
};

/* A client over the script (1 s acknowledgement timeout) sending CONNECT
 * with client id "cid", user "user", password "pw"; the caller has
 * scripted what answers it. The mqttc_connect result. */
static int crafted_connect(struct crafted *t, uint16_t keepalive, int clean)
{
    struct mqttc_connect_opts o = { "cid", "user", "pw", keepalive, clean };

    assert_int_equal(mqttc_init(&t->c, &scr_io, &t->s, t->tx, sizeof t->tx, t->rx, sizeof t->rx,
                                on_msg, &t->in, 1000), 0);
    return mqttc_connect(&t->c, &o);
}

static struct crafted *crafted_new(void)
{
    struct crafted *t = calloc(1, sizeof *t);

    assert_non_null(t);
    return t;
}

static struct crafted *connected(uint16_t keepalive)
{
    struct crafted *t = crafted_new();

    FEED(&t->s, 0x20, 0x02, 0x00, 0x00);
    assert_int_equal(crafted_connect(t, keepalive, 1), 0);
    t->s.out_len = 0;
    return t;
}

static void test_remaining_length(void **state)
{
    static const struct { uint32_t v; uint8_t b[4]; int n; } cases[] = {
        { 0, { 0x00 }, 1 },
        { 127, { 0x7f }, 1 },
        { 128, { 0x80, 0x01 }, 2 },
        { 16383, { 0xff, 0x7f }, 2 },
        { 16384, { 0x80, 0x80, 0x01 }, 3 },
        { 2097151, { 0xff, 0xff, 0x7f }, 3 },
        { 2097152, { 0x80, 0x80, 0x80, 0x01 }, 4 },
        { 268435455, { 0xff, 0xff, 0xff, 0x7f }, 4 },
    };
    uint8_t b[8];
    uint32_t v;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(mqttc_encode_len(cases[i].v, b), cases[i].n);
        assert_memory_equal(b, cases[i].b, (size_t)cases[i].n);
        assert_int_equal(mqttc_decode_len(cases[i].b, (size_t)cases[i].n, &v), cases[i].n);
        assert_int_equal(v, cases[i].v);
        /* cut short: more bytes needed */
        assert_int_equal(mqttc_decode_len(cases[i].b, (size_t)cases[i].n - 1, &v), 0);
    }
    assert_int_equal(mqttc_encode_len(268435456u, b), MQTTC_ENOSPC);
    assert_int_equal(mqttc_encode_len(UINT32_MAX, b), MQTTC_ENOSPC);
    /* a 5th byte is malformed, whatever follows */
    memcpy(b, (const uint8_t[]){ 0xff, 0xff, 0xff, 0xff, 0x01 }, 5);
    assert_int_equal(mqttc_decode_len(b, 5, &v), MQTTC_EPROTO);
    assert_int_equal(mqttc_decode_len(b, 4, &v), MQTTC_EPROTO);
    /* a non-minimal form still decodes to its value */
    memcpy(b, (const uint8_t[]){ 0x80, 0x00 }, 2);
    assert_int_equal(mqttc_decode_len(b, 2, &v), 2);
    assert_int_equal(v, 0);
    /* every length round-trips */
    for (uint32_t x = 1; x < MQTTC_LEN_MAX; x = x * 3 + 7) {
        int n = mqttc_encode_len(x, b);

        assert_true(n >= 1 && n <= 4);
        assert_int_equal(mqttc_decode_len(b, (size_t)n, &v), n);
        assert_int_equal(v, x);
    }
}

static void test_connect_bytes_and_connack(void **state)
{
    static const uint8_t want[] = {
        0x10, 25, 0, 4, 'M', 'Q', 'T', 'T', 4, 0xc2, 0, 60, 0, 3, 'c', 'i', 'd',
        0, 4, 'u', 's', 'e', 'r', 0, 2, 'p', 'w',
    };
    struct crafted *t = crafted_new();

    (void)state;
    FEED(&t->s, 0x20, 0x02, 0x00, 0x00);
    assert_int_equal(crafted_connect(t, 60, 1), 0);
    assert_int_equal(t->s.out_len, sizeof want);
    assert_memory_equal(t->s.out, want, sizeof want);
    assert_true(mqttc_connected(&t->c));
    free(t);

    /* clean session off: flags 0xc0; session present accepted */
    t = crafted_new();
    FEED(&t->s, 0x20, 0x02, 0x01, 0x00);
    assert_int_equal(crafted_connect(t, 60, 0), 0);
    assert_int_equal(t->s.out[9], 0xc0);
    assert_int_equal(t->c.session_present, 1);
    free(t);

    /* refusals carry their code */
    for (uint8_t rc = 1; rc <= 5; rc++) {
        uint8_t b[4] = { 0x20, 0x02, 0x00, rc };

        t = crafted_new();
        feed(&t->s, b, 4);
        assert_int_equal(crafted_connect(t, 60, 1), MQTTC_EREFUSED);
        assert_int_equal(t->c.connack_rc, rc);
        assert_false(mqttc_connected(&t->c));
        free(t);
    }
    /* malformed CONNACKs and other first packets */
    {
        static const struct { uint8_t b[6]; size_t n; const char *what; } bad[] = {
            { { 0x20, 0x02, 0x00, 0x06 }, 4, "return code 6" },
            { { 0x20, 0x02, 0x02, 0x00 }, 4, "reserved ack flag" },
            { { 0x20, 0x02, 0x01, 0x05 }, 4, "session present with a refusal" },
            { { 0x20, 0x02, 0x01, 0x00 }, 4, "session present on a clean session" },
            { { 0x20, 0x03, 0x00, 0x00, 0x00 }, 5, "CONNACK of 3 bytes" },
            { { 0x21, 0x02, 0x00, 0x00 }, 4, "CONNACK with flags" },
            { { 0x40, 0x02, 0x00, 0x01 }, 4, "PUBACK first" },
            { { 0xd0, 0x00 }, 2, "PINGRESP first" },
            { { 0x30, 0x04, 0x00, 0x01, 't', 'x' }, 6, "PUBLISH first" },
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            t = crafted_new();
            feed(&t->s, bad[i].b, bad[i].n);
            if (crafted_connect(t, 60, 1) != MQTTC_EPROTO)
                fail_msg("%s: not a protocol error", bad[i].what);
            assert_false(mqttc_connected(&t->c));
            free(t);
        }
    }
    /* nothing, or the connection closes */
    t = crafted_new();
    assert_int_equal(crafted_connect(t, 60, 1), MQTTC_ETIMEOUT);
    assert_true(t->s.clock >= 1000);
    free(t);
    t = crafted_new();
    FEED(&t->s, 0x20, 0x02);
    t->s.closed = 1;
    assert_int_equal(crafted_connect(t, 60, 1), MQTTC_EIO);
    free(t);
    /* arguments: no client id, a password without a user name, a small buffer */
    t = crafted_new();
    {
        struct mqttc_connect_opts o = { "", NULL, NULL, 0, 1 };
        char longid[300];

        assert_int_equal(mqttc_init(&t->c, &scr_io, &t->s, t->tx, sizeof t->tx, t->rx,
                                    sizeof t->rx, NULL, NULL, 0), 0);
        assert_int_equal(mqttc_connect(&t->c, &o), MQTTC_EINVAL);
        o.client_id = "c";
        o.password = "p";
        assert_int_equal(mqttc_connect(&t->c, &o), MQTTC_EINVAL);
        memset(longid, 'x', sizeof longid - 1);
        longid[sizeof longid - 1] = '\0';
        o.client_id = longid;
        o.password = NULL;
        assert_int_equal(mqttc_connect(&t->c, &o), MQTTC_ENOSPC);
        assert_int_equal(t->s.out_len, 0);
    }
    assert_int_equal(mqttc_init(&t->c, &scr_io, &t->s, t->tx, MQTTC_TX_MIN - 1, t->rx,
                                sizeof t->rx, NULL, NULL, 0), MQTTC_EINVAL);
    free(t);
}

static void test_puback_ids(void **state)
{
    struct crafted *t = connected(60);
    static const uint8_t pub1[] = { 0x32, 0x06, 0x00, 0x01, 't', 0x00, 0x01, 'x' };

    (void)state;
    /* a PUBACK for another id is ignored and counted; the right one completes */
    FEED(&t->s, 0x40, 0x02, 0x12, 0x34, 0x40, 0x02, 0x00, 0x01);
    assert_int_equal(mqttc_publish(&t->c, "t", "x", 1, 1, 0), 0);
    assert_memory_equal(t->s.out, pub1, sizeof pub1);
    assert_int_equal(t->c.stats.stray_acks, 1);
    /* only a wrong id: timeout, the session stays up */
    FEED(&t->s, 0x40, 0x02, 0x00, 0x01);
    assert_int_equal(mqttc_publish(&t->c, "t", "x", 1, 1, 0), MQTTC_ETIMEOUT);
    assert_true(mqttc_connected(&t->c));
    assert_int_equal(t->c.stats.stray_acks, 2);
    /* a delivery that arrives while waiting is delivered (and acknowledged) */
    t->s.out_len = 0;
    feed_publish(&t->s, "in/t", "hello", 5, 1, 0x0203);
    FEED(&t->s, 0x40, 0x02, 0x00, 0x03);
    assert_int_equal(mqttc_publish(&t->c, "t", "x", 1, 1, 0), 0);
    assert_int_equal(t->in.n, 1);
    assert_string_equal(t->in.topic, "in/t");
    assert_int_equal(t->in.len, 5);
    assert_memory_equal(t->in.payload, "hello", 5);
    assert_true(t->in.nul_ok);
    assert_true(sent(&t->s, (const uint8_t[]){ 0x40, 0x02, 0x02, 0x03 }, 4));
    /* a PUBACK of the wrong size ends the session */
    FEED(&t->s, 0x40, 0x03, 0x00, 0x04, 0x00);
    assert_int_equal(mqttc_publish(&t->c, "t", "x", 1, 1, 0), MQTTC_EPROTO);
    assert_false(mqttc_connected(&t->c));
    free(t);

    /* packet ids wrap past 0xffff to 1, never 0 */
    t = connected(60);
    t->c.next_id = 0xfffe;
    FEED(&t->s, 0x40, 0x02, 0xff, 0xff, 0x40, 0x02, 0x00, 0x01);
    assert_int_equal(mqttc_publish(&t->c, "t", NULL, 0, 1, 0), 0);
    assert_int_equal(mqttc_publish(&t->c, "t", NULL, 0, 1, 0), 0);
    assert_int_equal(t->c.stats.stray_acks, 0);
    /* QoS 0 does not wait; bad arguments are refused before anything is sent */
    t->s.out_len = 0;
    assert_int_equal(mqttc_publish(&t->c, "t", "ab", 2, 0, 1), 0);
    assert_memory_equal(t->s.out, ((const uint8_t[]){ 0x31, 0x05, 0x00, 0x01, 't', 'a', 'b' }), 7);
    t->s.out_len = 0;
    assert_int_equal(mqttc_publish(&t->c, "a/+", "x", 1, 0, 0), MQTTC_EINVAL);
    assert_int_equal(mqttc_publish(&t->c, "a/#", "x", 1, 0, 0), MQTTC_EINVAL);
    assert_int_equal(mqttc_publish(&t->c, "", "x", 1, 0, 0), MQTTC_EINVAL);
    assert_int_equal(mqttc_publish(&t->c, "t", "x", 1, 2, 0), MQTTC_EINVAL);
    assert_int_equal(mqttc_publish(&t->c, "t", NULL, 1, 0, 0), MQTTC_EINVAL);
    {
        char topic[300];

        memset(topic, 't', sizeof topic - 1);
        topic[sizeof topic - 1] = '\0';
        assert_int_equal(mqttc_publish(&t->c, topic, "x", 1, 0, 0), MQTTC_ENOSPC);
    }
    assert_int_equal(t->s.out_len, 0);
    free(t);
}

static void test_suback(void **state)
{
    struct crafted *t = connected(60);
    static const uint8_t sub1[] = { 0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'f', 0x01 };

    (void)state;
    FEED(&t->s, 0x90, 0x03, 0x00, 0x01, 0x01);
    assert_int_equal(mqttc_subscribe(&t->c, "f", 1), 1);
    assert_memory_equal(t->s.out, sub1, sizeof sub1);
    /* a lower grant is the broker's right */
    FEED(&t->s, 0x90, 0x03, 0x00, 0x02, 0x00);
    assert_int_equal(mqttc_subscribe(&t->c, "f", 1), 0);
    /* refused */
    FEED(&t->s, 0x90, 0x03, 0x00, 0x03, 0x80);
    assert_int_equal(mqttc_subscribe(&t->c, "f", 1), MQTTC_EREFUSED);
    assert_true(mqttc_connected(&t->c));
    /* a wrong id is ignored: timeout */
    FEED(&t->s, 0x90, 0x03, 0x00, 0x09, 0x01);
    assert_int_equal(mqttc_subscribe(&t->c, "f", 1), MQTTC_ETIMEOUT);
    assert_int_equal(t->c.stats.stray_acks, 1);
    /* more than asked for, a code MQTT does not have: protocol errors */
    FEED(&t->s, 0x90, 0x03, 0x00, 0x05, 0x01);
    assert_int_equal(mqttc_subscribe(&t->c, "f", 0), MQTTC_EPROTO);
    assert_false(mqttc_connected(&t->c));
    free(t);
    t = connected(60);
    FEED(&t->s, 0x90, 0x03, 0x00, 0x01, 0x03);
    assert_int_equal(mqttc_subscribe(&t->c, "f", 1), MQTTC_EPROTO);
    free(t);
    /* a SUBACK of two codes (we asked for one filter) */
    t = connected(60);
    FEED(&t->s, 0x90, 0x04, 0x00, 0x01, 0x01, 0x01);
    assert_int_equal(mqttc_subscribe(&t->c, "f", 1), MQTTC_EPROTO);
    assert_int_equal(mqttc_subscribe(&t->c, "f", 1), MQTTC_ESTATE);
    free(t);
}

/* Unexpected packet types and malformed packets in the idle loop: each is a
 * protocol error that ends the session, with nothing delivered. */
static void test_bad_incoming(void **state)
{
    static const struct { uint8_t b[8]; size_t n; const char *what; } bad[] = {
        { { 0x10, 0x00 }, 2, "CONNECT" },
        { { 0x20, 0x02, 0x00, 0x00 }, 4, "a second CONNACK" },
        { { 0x34, 0x05, 0x00, 0x01, 't', 0x00, 0x01 }, 7, "PUBLISH QoS 2" },
        { { 0x36, 0x05, 0x00, 0x01, 't', 0x00, 0x01 }, 7, "PUBLISH QoS 3" },
        { { 0x50, 0x02, 0x00, 0x01 }, 4, "PUBREC" },
        { { 0x62, 0x02, 0x00, 0x01 }, 4, "PUBREL" },
        { { 0x70, 0x02, 0x00, 0x01 }, 4, "PUBCOMP" },
        { { 0x82, 0x02, 0x00, 0x01 }, 4, "SUBSCRIBE" },
        { { 0xa2, 0x02, 0x00, 0x01 }, 4, "UNSUBSCRIBE" },
        { { 0xb0, 0x02, 0x00, 0x01 }, 4, "UNSUBACK" },
        { { 0xc0, 0x00 }, 2, "PINGREQ" },
        { { 0xe0, 0x00 }, 2, "DISCONNECT" },
        { { 0x00, 0x00 }, 2, "type 0" },
        { { 0xf0, 0x00 }, 2, "type 15" },
        { { 0xd0, 0x01, 0x00 }, 3, "PINGRESP with a body" },
        { { 0xd1, 0x00 }, 2, "PINGRESP with flags" },
        { { 0x41, 0x02, 0x00, 0x01 }, 4, "PUBACK with flags" },
        { { 0x30, 0x80, 0x80, 0x80, 0x80, 0x01 }, 6, "a 5-byte remaining length" },
        { { 0x30, 0x02, 0x00, 0x00 }, 4, "PUBLISH without a topic" },
        { { 0x30, 0x03, 0x00, 0x05, 't' }, 5, "topic length past the packet" },
        { { 0x32, 0x05, 0x00, 0x01, 't', 0x00, 0x00 }, 7, "QoS 1 with packet id 0" },
        { { 0x32, 0x04, 0x00, 0x01, 't', 0x00 }, 6, "QoS 1 id cut short" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct crafted *t = connected(60);

        feed(&t->s, bad[i].b, bad[i].n);
        if (mqttc_poll(&t->c, 100) != MQTTC_EPROTO)
            fail_msg("%s: not a protocol error", bad[i].what);
        assert_false(mqttc_connected(&t->c));
        assert_int_equal(t->in.n, 0);
        assert_int_equal(mqttc_poll(&t->c, 10), MQTTC_ESTATE);
        free(t);
    }
}

/* Packets in pieces: one byte a recv, and a packet cut across polls. */
static void test_split_and_truncated(void **state)
{
    struct crafted *t = connected(60);
    uint8_t payload[100];

    (void)state;
    fill_pattern(payload, sizeof payload, 3);
    t->s.chunk = 1;
    feed_publish(&t->s, "a/b", payload, sizeof payload, 1, 7);
    feed_publish(&t->s, "c", "", 0, 0, 0);
    assert_int_equal(mqttc_poll(&t->c, 100), 2);
    assert_int_equal(t->in.n, 2);
    assert_string_equal(t->in.topic, "c");
    assert_int_equal(t->in.len, 0);
    assert_true(t->in.nul_ok);
    assert_true(sent(&t->s, (const uint8_t[]){ 0x40, 0x02, 0x00, 0x07 }, 4));

    /* half a packet: nothing yet, the rest completes it on a later poll */
    t->s.chunk = 0;
    feed(&t->s, (const uint8_t[]){ 0x30, 0x09, 0x00, 0x03, 'x' }, 5);
    assert_int_equal(mqttc_poll(&t->c, 100), 0);
    assert_int_equal(t->in.n, 2);
    assert_true(mqttc_connected(&t->c));
    feed(&t->s, (const uint8_t[]){ '/', 'y', 'p', 'a', 'y', 'l' }, 6);
    assert_int_equal(mqttc_poll(&t->c, 100), 1);
    assert_int_equal(t->in.n, 3);
    assert_string_equal(t->in.topic, "x/y");
    assert_int_equal(t->in.len, 4);
    assert_memory_equal(t->in.payload, "payl", 4);
    /* cut inside the remaining length, then the connection closes */
    feed(&t->s, (const uint8_t[]){ 0x30, 0x80 }, 2);
    assert_int_equal(mqttc_poll(&t->c, 100), 0);
    t->s.closed = 1;
    assert_int_equal(mqttc_poll(&t->c, 100), MQTTC_EIO);
    assert_false(mqttc_connected(&t->c));
    free(t);
}

/* A PUBLISH longer than the receive buffer (128 bytes here) is read off,
 * counted and acknowledged; the ones around it arrive; a topic longer than
 * the buffer still yields the packet id. */
static void test_oversized(void **state)
{
    struct crafted *t = connected(60);
    static uint8_t big[5000];
    char longtopic[200];

    (void)state;
    fill_pattern(big, sizeof big, 5);
    memset(longtopic, 'T', sizeof longtopic - 1);
    longtopic[sizeof longtopic - 1] = '\0';
    feed_publish(&t->s, "a", "1", 1, 0, 0);
    feed_publish(&t->s, "big", big, sizeof big, 1, 0x4142);
    feed_publish(&t->s, longtopic, "x", 1, 1, 0x0a0b);
    feed_publish(&t->s, "big0", big, 1000, 0, 0);
    /* exactly rx_size - 1 bytes of body is the largest delivered */
    feed_publish(&t->s, "e", big, sizeof t->rx - 1 - 3, 0, 0);
    feed_publish(&t->s, "e", big, sizeof t->rx - 3, 0, 0);
    feed_publish(&t->s, "z", "2", 1, 1, 9);
    t->s.chunk = 37;
    while (t->s.in_pos < t->s.in_len)
        assert_true(mqttc_poll(&t->c, 10) >= 0);
    assert_int_equal(t->c.stats.skipped, 4);
    assert_int_equal(t->in.n, 3);
    assert_string_equal(t->in.topic, "z");
    assert_true(sent(&t->s, (const uint8_t[]){ 0x40, 0x02, 0x41, 0x42 }, 4));
    assert_true(sent(&t->s, (const uint8_t[]){ 0x40, 0x02, 0x0a, 0x0b }, 4));
    assert_true(sent(&t->s, (const uint8_t[]){ 0x40, 0x02, 0x00, 0x09 }, 4));
    assert_true(mqttc_connected(&t->c));
    free(t);

    /* an oversized QoS 1 PUBLISH whose topic runs past its end */
    t = connected(60);
    {
        uint8_t b[303] = { 0x32, 0xac, 0x02, 0x01, 0x40 }; /* rl 300, topic length 320 */

        feed(&t->s, b, 3 + 300);
        assert_int_equal(mqttc_poll(&t->c, 10), MQTTC_EPROTO);
    }
    free(t);
}

static void test_keepalive(void **state)
{
    struct crafted *t = connected(2);

    (void)state;
    /* idle: a PINGREQ once 2 s have passed since the CONNECT */
    assert_int_equal(mqttc_poll(&t->c, 1500), 0);
    assert_int_equal(t->s.out_len, 0);
    assert_int_equal(mqttc_poll(&t->c, 1000), 0);
    assert_int_equal(t->c.stats.pings, 1);
    assert_memory_equal(t->s.out, ((const uint8_t[]){ 0xc0, 0x00 }), 2);
    FEED(&t->s, 0xd0, 0x00);
    assert_int_equal(mqttc_poll(&t->c, 100), 1);
    assert_int_equal(t->c.stats.pongs, 1);
    /* a publish counts as activity: no ping while publishing often */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(mqttc_publish(&t->c, "t", "x", 1, 0, 0), 0);
        assert_int_equal(mqttc_poll(&t->c, 1000), 0);
    }
    assert_int_equal(t->c.stats.pings, 1);
    /* no PINGRESP within the keepalive: the connection is dead */
    assert_int_equal(mqttc_poll(&t->c, 10000), MQTTC_ETIMEOUT);
    assert_int_equal(t->c.stats.pings, 2);
    assert_false(mqttc_connected(&t->c));
    free(t);

    /* a PINGRESP that came in time but is read late (a long callback, a busy
     * idle loop) still counts */
    t = connected(2);
    assert_int_equal(mqttc_poll(&t->c, 2500), 0);
    assert_int_equal(t->c.stats.pings, 1);
    FEED(&t->s, 0xd0, 0x00);
    t->s.clock += 5000;
    assert_true(mqttc_poll(&t->c, 0) >= 1);
    assert_true(mqttc_connected(&t->c));
    assert_int_equal(t->c.stats.pongs, 1);
    free(t);

    /* keepalive 0: never a ping */
    t = connected(0);
    assert_int_equal(mqttc_poll(&t->c, 100000), 0);
    assert_int_equal(t->s.out_len, 0);
    free(t);
}

/* The callback's own calls: a QoS 1 publish and a subscribe from inside a
 * delivery are sent without waiting; their acknowledgements come later and
 * are not stray; poll and connect from the callback are refused. */
static struct crafted *cb_t;
static int cb_rcs[4];

static void cb_reenter(void *ctx, char *topic, size_t tl, uint8_t *payload, size_t len, int qos)
{
    struct mqttc_connect_opts o = { "c", NULL, NULL, 0, 1 };

    on_msg(ctx, topic, tl, payload, len, qos);
    cb_rcs[0] = mqttc_publish(&cb_t->c, "reply", "r", 1, 1, 0);
    cb_rcs[1] = mqttc_subscribe(&cb_t->c, "more", 1);
    cb_rcs[2] = mqttc_poll(&cb_t->c, 0);
    cb_rcs[3] = mqttc_connect(&cb_t->c, &o);
}

static void test_callback_calls(void **state)
{
    struct crafted *t = connected(60);

    (void)state;
    cb_t = t;
    t->c.on_msg = cb_reenter;
    feed_publish(&t->s, "push", "p", 1, 1, 0x0101);
    assert_int_equal(mqttc_poll(&t->c, 100), 1);
    assert_int_equal(cb_rcs[0], 0);
    assert_int_equal(cb_rcs[1], 0);
    assert_int_equal(cb_rcs[2], MQTTC_ESTATE);
    assert_int_equal(cb_rcs[3], MQTTC_ESTATE);
    assert_true(mqttc_connected(&t->c));
    /* PUBACK for the delivery first, then the callback's PUBLISH and SUBSCRIBE */
    assert_memory_equal(t->s.out, ((const uint8_t[]){ 0x40, 0x02, 0x01, 0x01, 0x32 }), 5);
    FEED(&t->s, 0x40, 0x02, 0x00, 0x01, 0x90, 0x03, 0x00, 0x02, 0x80);
    assert_int_equal(mqttc_poll(&t->c, 100), 2);
    assert_int_equal(t->c.stats.stray_acks, 0);
    assert_int_equal(t->c.stats.refused_subs, 1);
    free(t);
}

/* Random streams (seeded): valid packets with bytes flipped, cut or
 * inserted, fed in random pieces. The client must only ever deliver within
 * its buffer, answer with a code from mqttc.h, and end the session on
 * anything it cannot take. Run under the sanitizers, this is the bounds
 * check of every path. */
static void test_random_streams(void **state)
{
    static uint8_t big[300];
    uint32_t seed = 1234567u;

    (void)state;
    fill_pattern(big, sizeof big, 99);
    for (int round = 0; round < 3000; round++) {
        struct crafted *t = connected((uint16_t)(round % 3));
        uint8_t junk[64];
        int rc = 0;

        for (int k = 0; k < 6; k++) {
            seed = seed * 1103515245u + 12345u;
            switch ((seed >> 16) % 4) {
            case 0:
                feed_publish(&t->s, "a/b", "payload", 7, (int)((seed >> 8) & 1), 3);
                break;
            case 1:
                feed_publish(&t->s, "big", big, sizeof big, 1, 4);
                break;
            case 2:
                FEED(&t->s, 0x40, 0x02, 0x00, 0x05, 0xd0, 0x00);
                break;
            default:
                fill_pattern(junk, sizeof junk, seed);
                feed(&t->s, junk, 1 + (seed >> 20) % sizeof junk);
                break;
            }
        }
        /* flip a few bytes */
        for (int k = 0; k < 3; k++) {
            seed = seed * 1103515245u + 12345u;
            t->s.in[(seed >> 8) % t->s.in_len] ^= (uint8_t)(seed >> 24);
        }
        t->s.chunk = 1 + (seed >> 12) % 40;
        t->s.closed = round % 2;
        for (int k = 0; k < 200 && mqttc_connected(&t->c); k++) {
            rc = mqttc_poll(&t->c, 20);
            if (rc < 0)
                break;
        }
        assert_true(rc >= MQTTC_EINVAL);
        if (t->s.in_pos < t->s.in_len)
            assert_true(rc < 0); /* stopped early only on an error */
        assert_true(t->in.len < sizeof t->rx);
        free(t);
    }
}

int main(void)
{
    const struct CMUnitTest broker_tests[] = {
        cmocka_unit_test(test_broker_connect),
        cmocka_unit_test(test_broker_push_and_inform),
        cmocka_unit_test(test_broker_keepalive),
        cmocka_unit_test(test_broker_large_and_oversized),
    };
    const struct CMUnitTest stream_tests[] = {
        cmocka_unit_test(test_remaining_length),
        cmocka_unit_test(test_connect_bytes_and_connack),
        cmocka_unit_test(test_puback_ids),
        cmocka_unit_test(test_suback),
        cmocka_unit_test(test_bad_incoming),
        cmocka_unit_test(test_split_and_truncated),
        cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_keepalive),
        cmocka_unit_test(test_callback_calls),
        cmocka_unit_test(test_random_streams),
    };
    int failed = cmocka_run_group_tests_name("crafted streams", stream_tests, NULL, NULL);

    return failed + cmocka_run_group_tests_name("real broker", broker_tests, group_setup,
                                                group_teardown);
}
