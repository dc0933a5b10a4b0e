/*
 * os_nic.c - sockets and MQTT for firmware with its own IP stack (os_nic.h,
 * docs/qemu.md "Own IP stack"): what the mailbox relay does for the other
 * programs, done in the guest over the LAN9118 and QEMU's user network.
 *
 * The semantics are the relay's, so the agent sees the same host services:
 *   - socket_recv fills the buffer, each wait for more bytes at most 5 s
 *     (OTA_SSL_TIMEOUT); what arrived, or -1 closed, -2 nothing in time;
 *   - MQTT: G1's session (clean session off, keepalive 60 s, spec §1.2) with
 *     the signed credentials (hmacsha1, spec §2.1); a QoS 1 publish returns
 *     at the broker's PUBACK; a lost session is opened again 1-2 s later, as
 *     the relay's libmosquitto reconnects, and on_connected runs after each
 *     CONNACK from the idle loop;
 *   - deliveries are copied out of the client and handed to the agent from
 *     the idle loop, never from inside another call (the relay's inbound
 *     ring), so a push during a download waits for the download to end.
 * The os events are the relay's too: mqtt.connected, mqtt.disconnected,
 * mqtt.connect_failed.
 */
#include <stdio.h>
#include <string.h>

#include "sim/fw/fw.h"
#include "sim/qemu/net/ipstack.h"
#include "sim/qemu/net/lan9118.h"
#include "sim/qemu/net/os_nic.h"
#include "sim/qemu/qemu_fw.h"
#include "sim/qemu/qmbox.h"
#include "sim/util/mqttc.h"
#include "sim/util/mqttsign.h"

#define NIC_IP        0x0A00020Fu /* 10.0.2.15: QEMU's user network gives the guest this */
#define NIC_MASK      0xFFFFFF00u
#define NIC_GW        0x0A000202u /* 10.0.2.2: the gateway, and the host's loopback */
#define IO_WAIT_MS    5000u       /* OTA_SSL_TIMEOUT: each wait for bytes */
#define CONNECT_MS    5000u
#define KEEPALIVE_S   60
#define RETRY_MS      1000u       /* first reconnect delay, doubling to RETRY_MAX_MS */
#define RETRY_MAX_MS  2000u
#define MAX_SUBS      4
#define QUEUE         4           /* deliveries waiting for the idle loop */
#define TOPIC_MAX     128
#define PAYLOAD_MAX   4096        /* as the relay's ring records reach the guest */

struct sub {
    char topic[TOPIC_MAX];
    otahil_fw_msg_cb cb;
    void *ctx;
};

struct msg {
    uint32_t tlen, plen;
    char topic[TOPIC_MAX];
    char payload[PAYLOAD_MAX];
};

static struct {
    const struct otahil_fw_ops *ops;   /* for events */
    const struct flashsim_meta *meta;  /* the flash model's counters: the stack's seed */
    int net_state;                     /* 0 not up yet, 1 up, -1 failed */
    uint32_t broker_ip;
    uint16_t broker_port;
    /* MQTT */
    int wanted;                        /* mqtt_init was called, mqtt_deinit not */
    int sd;                            /* the session's socket, -1 none */
    struct mqttc c;
    struct mqttsign_creds creds;
    void (*on_connected)(void);
    int need_connected;                /* a CONNACK: on_connected is due */
    uint32_t next_try, retry_ms;
    struct sub subs[MAX_SUBS];
    struct msg q[QUEUE];
    unsigned q_rd, q_wr;               /* free-running; q_wr - q_rd waiting */
    uint8_t tx[512], rx[PAYLOAD_MAX + TOPIC_MAX + 16];
} g = { .sd = -1 };

static int net_ready(void);

static void event(const char *ev, const char *fmt_fields)
{
    g.ops->event(g.ops->ctx, "os", ev, fmt_fields);
}

/* ---- MQTT over a TCP socket ----------------------------------------------- */

static int io_send(void *ctx, const uint8_t *buf, size_t len, uint32_t timeout_ms)
{
    (void)ctx;
    int n = tcp_send(g.sd, buf, len, timeout_ms);
    return n >= 0 ? n : -1;
}

static int io_recv(void *ctx, uint8_t *buf, size_t len, uint32_t timeout_ms)
{
    (void)ctx;
    int n = tcp_recv(g.sd, buf, len, timeout_ms);
    return n >= 0 ? n : -1;
}

static uint32_t io_now(void *ctx)
{
    (void)ctx;
    return qemu_ms();
}

static const struct mqttc_io g_io = { io_send, io_recv, io_now };

/* A delivery: copied for the idle loop, which hands it to the agent. */
static void on_msg(void *ctx, char *topic, size_t tlen, uint8_t *payload, size_t len, int qos)
{
    (void)ctx;
    (void)qos;
    if (g.q_wr - g.q_rd >= QUEUE) {
        char f[TOPIC_MAX + 32];
        snprintf(f, sizeof(f), "\"dropped\":\"%.*s\"", (int)(tlen < 100 ? tlen : 100), topic);
        event("mqtt.queue_full", f);
        return;
    }
    struct msg *m = &g.q[g.q_wr % QUEUE];
    m->tlen = (uint32_t)(tlen < TOPIC_MAX - 1 ? tlen : TOPIC_MAX - 1);
    m->plen = (uint32_t)(len < PAYLOAD_MAX - 1 ? len : PAYLOAD_MAX - 1);
    memcpy(m->topic, topic, m->tlen);
    m->topic[m->tlen] = 0;
    memcpy(m->payload, payload, m->plen);
    m->payload[m->plen] = 0;
    g.q_wr++;
}

/* The session is gone: the socket closed without a DISCONNECT (as the relay's
 * libmosquitto on a dropped connection); a new one is tried later. */
static void session_lost(int rc)
{
    char f[32];
    snprintf(f, sizeof(f), "\"rc\":%d", rc);
    event("mqtt.disconnected", f);
    if (g.sd >= 0)
        tcp_abort(g.sd);
    g.sd = -1;
    g.next_try = qemu_ms() + g.retry_ms;
}

/* Opens the session: TCP, CONNECT, CONNACK. 0 or -1 (retried later). */
static int session_open(void)
{
    char f[96];
    int sd = tcp_connect(g.broker_ip, g.broker_port, CONNECT_MS);
    if (sd < 0) {
        snprintf(f, sizeof(f), "\"error\":\"tcp_connect: %d\"", sd);
        event("mqtt.connect_failed", f);
        return -1;
    }
    g.sd = sd;
    if (mqttc_init(&g.c, &g_io, NULL, g.tx, sizeof(g.tx), g.rx, sizeof(g.rx), on_msg, NULL,
                   IO_WAIT_MS) != 0) {
        tcp_abort(sd);
        g.sd = -1;
        return -1;
    }
    /* G1: clean session off, keepalive 60 s (spec §1.2), as the native device */
    struct mqttc_connect_opts o = { g.creds.client_id, g.creds.username, g.creds.password,
                                    KEEPALIVE_S, 0 };
    int rc = mqttc_connect(&g.c, &o);
    snprintf(f, sizeof(f), "\"rc\":%d", rc == MQTTC_EREFUSED ? g.c.connack_rc : rc);
    event("mqtt.connected", f);
    if (rc != 0) {
        tcp_abort(sd);
        g.sd = -1;
        return -1;
    }
    g.retry_ms = RETRY_MS;
    g.need_connected = 1;
    return 0;
}

static void session_retry(void)
{
    if (!g.wanted || g.sd >= 0 || (int32_t)(qemu_ms() - g.next_try) < 0)
        return;
    if (session_open() != 0) {
        g.next_try = qemu_ms() + g.retry_ms;
        g.retry_ms = g.retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : g.retry_ms * 2;
    }
}

/* Hands one waiting delivery to the subscriber. 1 if there was one. */
static int deliver(void)
{
    if (g.q_rd == g.q_wr)
        return 0;
    static struct msg m; /* the agent may call back into MQTT: keep the slot free */
    m = g.q[g.q_rd % QUEUE];
    g.q_rd++;
    for (int i = 0; i < MAX_SUBS; i++)
        if (g.subs[i].cb && !strcmp(g.subs[i].topic, m.topic)) {
            g.subs[i].cb(m.topic, (int)m.tlen, m.payload, (int)m.plen, g.subs[i].ctx);
            break;
        }
    return 1;
}

static void n_idle(void *ctx)
{
    (void)ctx;
    if (net_ready() != 0)
        for (;;) /* no network: nothing will ever come */
            qemu_wfi();
    for (;;) {
        net_poll();
        session_retry();
        if (g.sd >= 0) {
            int rc = mqttc_poll(&g.c, 10);
            if (rc < 0)
                session_lost(rc);
        }
        if (g.need_connected) {
            g.need_connected = 0;
            if (g.on_connected)
                g.on_connected();
            continue;
        }
        if (deliver())
            continue;
        if (g.sd < 0)
            qemu_wfi();
    }
}

static int n_mqtt_init(void *ctx, const char *pk, const char *dn, const char *ds,
                       void (*on_connected)(void))
{
    (void)ctx;
    if (g.wanted)
        return 1;
    if (net_ready() != 0)
        return -1;
    if (mqttsign_make(pk, dn, ds, MQTTSIGN_HMACSHA1, &g.creds) != 0)
        return -1;
    g.on_connected = on_connected;
    g.wanted = 1;
    g.retry_ms = RETRY_MS;
    if (session_open() != 0)
        g.next_try = qemu_ms() + g.retry_ms;
    return 0;
}

static int n_mqtt_publish(void *ctx, const char *topic, int qos, const void *data, int len)
{
    (void)ctx;
    if (g.sd < 0 || len < 0 || !mqttc_connected(&g.c))
        return -1;
    int rc = mqttc_publish(&g.c, topic, data, (size_t)len, qos, 0);
    if (rc == 0)
        return 0;
    if (rc != MQTTC_ETIMEOUT && rc != MQTTC_EINVAL && rc != MQTTC_ENOSPC)
        session_lost(rc);
    return -1;
}

static int n_mqtt_subscribe(void *ctx, const char *topic, otahil_fw_msg_cb cb, void *cb_ctx)
{
    (void)ctx;
    struct sub *slot = NULL;
    for (int i = 0; i < MAX_SUBS; i++) {
        if (g.subs[i].cb && !strcmp(g.subs[i].topic, topic)) {
            slot = &g.subs[i];
            break;
        }
        if (!g.subs[i].cb && !slot)
            slot = &g.subs[i];
    }
    if (!slot || strlen(topic) >= sizeof(slot->topic))
        return -1;
    snprintf(slot->topic, sizeof(slot->topic), "%s", topic);
    slot->cb = cb;
    slot->ctx = cb_ctx;
    if (g.sd < 0 || !mqttc_connected(&g.c))
        return -1;
    int rc = mqttc_subscribe(&g.c, topic, 1);
    if (rc >= 0)
        return 0;
    if (rc != MQTTC_ETIMEOUT && rc != MQTTC_EREFUSED && rc != MQTTC_EINVAL)
        session_lost(rc);
    return -1;
}

static int n_mqtt_deinit(void *ctx)
{
    (void)ctx;
    if (g.sd >= 0) {
        (void)mqttc_disconnect(&g.c);
        (void)tcp_close(g.sd);
        g.sd = -1;
    }
    g.wanted = 0;
    return 0;
}

/* ---- sockets (fd = descriptor + 1, so every fd is > 0) -------------------- */

static int n_socket_connect(void *ctx, const char *host, int port)
{
    (void)ctx;
    uint32_t ip;
    if (net_ready() != 0 || port <= 0 || port > 65535 || net_aton(host, &ip) != 0)
        return -1; /* no resolver: the cloud's URLs name addresses */
    int sd = tcp_connect(ip, (uint16_t)port, CONNECT_MS);
    return sd >= 0 ? sd + 1 : -1;
}

static int n_socket_send(void *ctx, int fd, const char *buf, size_t len)
{
    (void)ctx;
    size_t done = 0;
    while (done < len) {
        int n = tcp_send(fd - 1, buf + done, len - done, IO_WAIT_MS);
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    return done ? (int)done : -1;
}

/* Fills buf, each wait for more bytes at most IO_WAIT_MS, as the relay's
 * recv with SO_RCVTIMEO: what arrived, -1 closed, -2 nothing in time. */
static int n_socket_recv(void *ctx, int fd, char *buf, size_t len)
{
    (void)ctx;
    size_t got = 0;
    int n = 0;
    while (got < len) {
        n = tcp_recv(fd - 1, buf + got, len - got, IO_WAIT_MS);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got ? (int)got : n == 0 ? -2 : -1;
}

/* As a host's close(): the handshake ends in the background, so a server
 * that stalls does not hold the agent up. */
static void n_socket_close(void *ctx, int fd)
{
    (void)ctx;
    (void)tcp_close_nowait(fd - 1);
}

/* Sleeping keeps a stack that is up answering (acknowledgements, ARP). */
static void n_msleep(void *ctx, uint32_t ms)
{
    (void)ctx;
    uint32_t t0 = qemu_ms();
    int up = g.net_state > 0;
    while (qemu_ms() - t0 < ms) {
        if (up)
            net_poll();
        qemu_wfi();
    }
}

static const struct net_dev g_dev = { lan9118_send, lan9118_recv };

/* The chip and the stack come up at the first network call, so a program
 * that never uses the network (the bootloader) never touches the LAN9118.
 * 0, or -1 (said once as net.down). */
static int net_ready(void)
{
    int *state = &g.net_state;
    if (*state)
        return *state > 0 ? 0 : -1;
    uint8_t mac[6];
    int rc = lan9118_init(NULL, mac);
    if (rc == 0) {
        /* ports and sequence numbers differ across boots: the flash model's
         * op counter and boot count move on with every boot, the same on a
         * replay */
        const struct flashsim_meta *meta = g.meta;
        struct net_cfg nc;
        memset(&nc, 0, sizeof(nc));
        nc.dev = &g_dev;
        memcpy(nc.mac, mac, sizeof(mac));
        nc.ip = NIC_IP;
        nc.mask = NIC_MASK;
        nc.gw = NIC_GW;
        nc.now_ms = qemu_ms;
        nc.idle = qemu_wfi;
        nc.seed = (uint32_t)meta->op_seq * 2654435761u ^ meta->boots ^ (uint32_t)meta->reads;
        rc = net_init(&nc);
    }
    char f[96];
    if (rc != 0) {
        *state = -1;
        snprintf(f, sizeof(f), "\"error\":%d", rc);
        event("net.down", f);
        return -1;
    }
    *state = 1;
    snprintf(f, sizeof(f), "\"ip\":\"10.0.2.15\",\"mac\":\"%02x:%02x:%02x:%02x:%02x:%02x\"", mac[0],
             mac[1], mac[2], mac[3], mac[4], mac[5]);
    event("net.up", f);
    return 0;
}

int qemu_nic_setup(struct otahil_fw_ops *ops, const struct qmbox_cfg *q)
{
    g.ops = ops;
    if (!q->nic || net_aton(q->mqtt_host, &g.broker_ip) != 0 || q->mqtt_port <= 0 ||
        q->mqtt_port > 65535)
        return -1;
    g.broker_port = (uint16_t)q->mqtt_port;
    g.meta = (const struct flashsim_meta *)(QMBOX_REGION_ADDR + q->state_off);
    ops->idle = n_idle;
    ops->msleep = n_msleep;
    ops->mqtt_init = n_mqtt_init;
    ops->mqtt_publish = n_mqtt_publish;
    ops->mqtt_subscribe = n_mqtt_subscribe;
    ops->mqtt_deinit = n_mqtt_deinit;
    ops->socket_connect = n_socket_connect;
    ops->socket_send = n_socket_send;
    ops->socket_recv = n_socket_recv;
    ops->socket_close = n_socket_close;
    ops->ssl_connect = NULL;
    ops->ssl_send = NULL;
    ops->ssl_recv = NULL;
    ops->coap = NULL;
    ops->coap_url = NULL;
    return 0;
}
