/*
 * qemu.c - one boot of the QEMU target (qemu.h, docs/qemu.md).
 *
 * The region file (FLASH.qemu, 16 MiB) backs mps2-an385's memory at
 * 0x21000000 through a shared memory-backend-file, so QEMU and this process
 * see the same bytes: the flash chip and the flash model's state at its
 * bottom (the flash file's own layout, copied in at the start of the boot
 * and written back, through a temporary name, when it ends) and the mailbox
 * (sim/qemu/qmbox.h) at 15 MiB. QEMU's UART0 and UART1 connect out to two
 * Unix sockets this process already listens on (output before a connection
 * would be lost otherwise): UART0 lines go to the event log, UART1 carries
 * the mailbox's doorbell bytes. The relay thread serves the firmware's
 * requests with real connections: MQTT through libmosquitto (the device's
 * signed credentials, as an MQTT-capable module holds them), TCP sockets
 * for HTTP, TLS, and CoAP through the native device's own libcoap client
 * (sim/posix/coap_client.c: the firmware's ota_IOT_CoAP_* calls run there,
 * the response copied back into the mailbox). The guest ends every boot with a semihosting exit whose status is
 * a DUT_EXIT_* code; -no-reboot makes any other reset end QEMU too.
 */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <mosquitto.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "ota_hal_os.h"
#include "sim/posix/coap_client.h"
#include "sim/posix/tlsclient.h"
#include "conformance/common.h"
#include "conformance/qemu.h"
#include "conformance/supervisor.h"
#include "mock_cloud/alisign.h"
#include "sim/board/board.h"
#include "sim/device/dut.h"
#include "sim/qemu/qmbox.h"
#include "sim/util/evlog.h"
#include "sim/util/event.h"

#define MAX_SOCKS 8
#define MAX_COAP 4
#define IO_TIMEOUT_S 5 /* OTA_SSL_TIMEOUT */
#define QEMU_NIC_HOST "10.0.2.2" /* the host from inside QEMU's user network */
#define QEMU_LINE_MAX 4096 /* a console line; longer ones are split */

struct relay {
    struct qmbox *m;
    int door;                  /* UART1 socket */
    pthread_mutex_t lock;      /* ring and doorbell writes */
    struct mosquitto *mq;
    const struct qemu_boot_opts *o;
    int socks[MAX_SOCKS];
    struct relay_tls {         /* TLS sessions the device opened (handle = index + 1) */
        struct tlsc t;
        int fd;
    } tls[MAX_SOCKS];
    void *coap[MAX_COAP];      /* CoAP clients the device made (handle = index + 1) */
    volatile int stop;
};

static volatile sig_atomic_t g_term;

static void on_term(int sig)
{
    (void)sig;
    g_term = 1;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int harness(const char *what, const char *detail)
{
    char e[600];
    fprintf(stderr, "otahil-qemu: %s: %s\n", what, detail);
    evlog_emit("device", "device.harness_error", "\"what\":\"%s\",\"detail\":\"%s\"", what,
               otahil_json_escape(e, sizeof(e), detail));
    return DUT_EXIT_HARNESS;
}

/* ---- the inbound ring (host side) ---------------------------------------- */

static void ring_door(struct relay *r)
{
    char c = 'D';
    if (write(r->door, &c, 1) < 0 && errno != EAGAIN)
        r->stop = 1;
}

/* Appends a record; 0, or -1 when the guest has not made room. Holds r->lock. */
static int ring_put(struct relay *r, uint32_t kind, const char *topic, const void *payload,
                    uint32_t plen)
{
    struct qmbox *m = r->m;
    struct qmbox_in_hdr h = { kind, topic ? (uint32_t)strlen(topic) : 0, plen };
    uint32_t need = (uint32_t)sizeof(h) + ((h.topic_len + 1 + plen + 1 + 3u) & ~3u);
    if (need + sizeof(h) >= QMBOX_RING / 2)
        return -1;
    uint32_t wr = m->in_wr, rd = __atomic_load_n(&m->in_rd, __ATOMIC_ACQUIRE);
    if (wr + need > QMBOX_RING) {
        /* Wrap: the reader must be past the tail and not at 0. */
        if (rd > wr || rd == 0 || rd <= need)
            return -1;
        if (wr + sizeof(h) <= QMBOX_RING) {
            struct qmbox_in_hdr w = { QMBOX_IN_WRAP, 0, 0 };
            memcpy(m->ring + wr, &w, sizeof(w));
        }
        wr = 0;
    } else if (rd > wr && wr + need >= rd) {
        return -1;
    }
    memcpy(m->ring + wr, &h, sizeof(h));
    uint8_t *p = m->ring + wr + sizeof(h);
    if (h.topic_len)
        memcpy(p, topic, h.topic_len);
    p[h.topic_len] = 0;
    if (plen)
        memcpy(p + h.topic_len + 1, payload, plen);
    p[h.topic_len + 1 + plen] = 0;
    __atomic_store_n(&m->in_wr, wr + need, __ATOMIC_RELEASE);
    ring_door(r);
    return 0;
}

/* ---- MQTT ----------------------------------------------------------------- */

static void mq_on_connect(struct mosquitto *mq, void *ud, int rc)
{
    struct relay *r = ud;
    (void)mq;
    evlog_emit("os", "mqtt.connected", "\"rc\":%d", rc);
    if (rc != 0)
        return;
    pthread_mutex_lock(&r->lock);
    if (ring_put(r, QMBOX_IN_CONNECTED, NULL, NULL, 0) != 0)
        evlog_emit("device", "qemu.ring_full", "\"dropped\":\"connected\"");
    pthread_mutex_unlock(&r->lock);
}

static void mq_on_disconnect(struct mosquitto *mq, void *ud, int rc)
{
    (void)mq;
    (void)ud;
    evlog_emit("os", "mqtt.disconnected", "\"rc\":%d", rc);
}

static void mq_on_message(struct mosquitto *mq, void *ud, const struct mosquitto_message *msg)
{
    struct relay *r = ud;
    (void)mq;
    pthread_mutex_lock(&r->lock);
    if (ring_put(r, QMBOX_IN_MSG, msg->topic, msg->payload, (uint32_t)msg->payloadlen) != 0) {
        char t[400];
        evlog_emit("device", "qemu.ring_full", "\"dropped\":\"%s\"",
                   otahil_json_escape(t, sizeof(t), msg->topic));
    }
    pthread_mutex_unlock(&r->lock);
}

static int mqtt_init(struct relay *r, const char *pk, const char *dn, const char *ds)
{
    char cid[ALISIGN_CID_MAX + 1], user[ALISIGN_DN_MAX + ALISIGN_PK_MAX + 2],
        pass[ALISIGN_HEX_MAX + 1];
    if (r->mq)
        return 1;
    if (alisign_credentials(pk, dn, ds, ALISIGN_HMACSHA1, 0, cid, user, pass) != 0)
        return -1;
    /* G1: clean_session = 0, keepalive 60 s (spec §1.2), as the native device. */
    r->mq = mosquitto_new(cid, false, r);
    if (!r->mq)
        return -1;
    mosquitto_username_pw_set(r->mq, user, pass);
    mosquitto_connect_callback_set(r->mq, mq_on_connect);
    mosquitto_disconnect_callback_set(r->mq, mq_on_disconnect);
    mosquitto_message_callback_set(r->mq, mq_on_message);
    mosquitto_reconnect_delay_set(r->mq, 1, 2, false);
    mosquitto_int_option(r->mq, MOSQ_OPT_TCP_NODELAY, 1); /* as the native device (os_posix.c) */
    if (r->o->mqtts) {
        /* mqtts: the module's TLS, the broker chaining to the device's CA and
         * naming its address, as the native device's libmosquitto does. */
        int trc = mosquitto_tls_set(r->mq, r->o->ca_path, NULL, NULL, NULL, NULL);
        if (trc == MOSQ_ERR_SUCCESS)
            trc = mosquitto_tls_opts_set(r->mq, SSL_VERIFY_PEER, NULL, NULL);
        if (trc != MOSQ_ERR_SUCCESS) {
            evlog_emit("os", "mqtt.connect_failed", "\"error\":\"TLS: %s\"", mosquitto_strerror(trc));
            mosquitto_destroy(r->mq);
            r->mq = NULL;
            return -2;
        }
    }
    int rc = mosquitto_connect_async(r->mq, r->o->broker_host, r->o->broker_port, 60);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_loop_start(r->mq);
    if (rc != MOSQ_ERR_SUCCESS) {
        evlog_emit("os", "mqtt.connect_failed", "\"error\":\"%s\"", mosquitto_strerror(rc));
        mosquitto_destroy(r->mq);
        r->mq = NULL;
        return -2;
    }
    return 0;
}

/* ---- sockets --------------------------------------------------------------- */

static int sock_slot(struct relay *r, int fd)
{
    for (int i = 0; i < MAX_SOCKS; i++)
        if (r->socks[i] == fd && fd > 0)
            return i;
    return -1;
}

static int sock_connect(struct relay *r, const char *host, int port)
{
    int slot = sock_slot(r, -1);
    for (int i = 0; i < MAX_SOCKS && slot < 0; i++)
        if (r->socks[i] <= 0)
            slot = i;
    if (slot < 0 || port <= 0 || port > 65535)
        return -1;
    struct addrinfo hints, *ai = NULL;
    char ps[16];
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(ps, sizeof(ps), "%d", port);
    if (getaddrinfo(host, ps, &hints, &ai) != 0 || !ai)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = { IO_TIMEOUT_S, 0 };
    int one = 1;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return -1;
    r->socks[slot] = fd;
    return fd;
}

/* As the native layer: fill len bytes or wait OTA_SSL_TIMEOUT (ota_hal_os.h). */
static int sock_recv(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;
    ssize_t n = -1;
    while (got < len) {
        n = recv(fd, buf + got, len - got, 0);
        if (n > 0)
            got += (size_t)n;
        else if (n < 0 && errno == EINTR)
            continue;
        else
            break;
    }
    return got ? (int)got : n == 0 ? -1 : -2;
}

/* ---- TLS ------------------------------------------------------------------- */

/* The relay's TLS for the device (QMBOX_OP_SSL_*): the same handshake as the
 * native device's ota_ssl_connect (sim/posix/tlsclient.c), with the CA the
 * device gives and --tls-fragment, and the same tls.connected /
 * tls.handshake_failed events. A handle > 0, or -1. */
static int tls_connect(struct relay *r, const char *host, int port, const char *ca, uint32_t ca_len)
{
    char why[256] = "", esc[512], h[300];
    int slot = -1;
    uint64_t t0 = now_ms();
    for (int i = 0; i < MAX_SOCKS && slot < 0; i++)
        if (!r->tls[i].t.ssl)
            slot = i;
    if (slot < 0)
        return -1;
    struct relay_tls *t = &r->tls[slot];
    t->t.verify = ca && ca_len > 1;
    t->fd = sock_connect(r, host, port);
    if (t->fd <= 0)
        snprintf(why, sizeof(why), "TCP connect failed");
    else if (tlsc_connect(&t->t, t->fd, host, ca, ca_len, r->o->tls_fragment, why, sizeof(why)) == 0) {
        evlog_emit("os", "tls.connected",
                   "\"host\":\"%s\",\"port\":%d,\"verify\":\"%s\",\"version\":\"%s\","
                   "\"cipher\":\"%s\",\"max_fragment\":%u,\"handshake_ms\":%llu,\"offload\":true",
                   otahil_json_escape(esc, sizeof(esc), host), port, t->t.verify ? "peer" : "none",
                   SSL_get_version(t->t.ssl), SSL_get_cipher_name(t->t.ssl), t->t.mfl,
                   (unsigned long long)(now_ms() - t0));
        return slot + 1;
    }
    evlog_emit("os", "tls.handshake_failed",
               "\"host\":\"%s\",\"port\":%d,\"verify\":\"%s\",\"why\":\"%s\"",
               otahil_json_escape(h, sizeof(h), host), port, t->t.verify ? "peer" : "none",
               otahil_json_escape(esc, sizeof(esc), why));
    memset(t, 0, sizeof(*t));
    return -1; /* the TCP socket stays in socks[] and is closed at the boot's end */
}

static struct relay_tls *tls_of(struct relay *r, int32_t h)
{
    return h >= 1 && h <= MAX_SOCKS && r->tls[h - 1].t.ssl ? &r->tls[h - 1] : NULL;
}

/* As HAL_SSL_Read: fill len bytes or wait OTA_SSL_TIMEOUT; what arrived, maybe 0. */
static int tls_recv(struct relay_tls *t, uint8_t *buf, uint32_t len)
{
    uint32_t got = 0;
    uint64_t deadline = now_ms() + IO_TIMEOUT_S * 1000u;
    while (got < len) {
        if (SSL_pending(t->t.ssl) == 0) {
            uint64_t now = now_ms();
            struct pollfd p = { t->fd, POLLIN, 0 };
            if (now >= deadline || poll(&p, 1, (int)(deadline - now)) <= 0)
                break;
        }
        int n = SSL_read(t->t.ssl, buf + got, (int)(len - got));
        if (n <= 0)
            break;
        got += (uint32_t)n;
    }
    return (int)got;
}

static void tls_free_all(struct relay *r)
{
    for (int i = 0; i < MAX_SOCKS; i++) {
        tlsc_free(&r->tls[i].t);
        memset(&r->tls[i], 0, sizeof(r->tls[i]));
    }
}

/* ---- CoAP ------------------------------------------------------------------ */

static const char *str_at(const struct qmbox *m, uint32_t *off);

/* QMBOX_OP_COAP_INIT: a client of sim/posix/coap_client.c for the device's
 * URL and identity, as the native device's ota_IOT_CoAP_Init. A handle > 0,
 * or -1. */
static int coap_init(struct relay *r, const char *url, const char *pk, const char *dn,
                     const char *id, const char *ds)
{
    iotx_deviceinfo_t dev;
    iotx_coap_config_t cc;
    int slot = -1;
    for (int i = 0; i < MAX_COAP && slot < 0; i++)
        if (!r->coap[i])
            slot = i;
    if (slot < 0)
        return -1;
    memset(&dev, 0, sizeof(dev));
    snprintf(dev.product_key, sizeof(dev.product_key), "%s", pk);
    snprintf(dev.device_name, sizeof(dev.device_name), "%s", dn);
    snprintf(dev.device_id, sizeof(dev.device_id), "%s", id);
    snprintf(dev.device_secret, sizeof(dev.device_secret), "%s", ds);
    memset(&cc, 0, sizeof(cc));
    cc.p_url = (char *)url;
    cc.p_devinfo = &dev;
    r->coap[slot] = ota_IOT_CoAP_Init(&cc);
    return r->coap[slot] ? slot + 1 : -1;
}

static void *coap_of(struct relay *r, int32_t h)
{
    return h >= 1 && h <= MAX_COAP ? r->coap[h - 1] : NULL;
}

/* The client's response callback: the response, read through the client's
 * own accessors, goes into the mailbox's rsp (struct qmbox_coap_rsp, then
 * the payload) for the guest's callback. */
static void coap_on_rsp(void *arg, void *msg)
{
    struct qmbox *m = arg;
    struct qmbox_coap_rsp h;
    iotx_coap_resp_code_t code = 0;
    unsigned char *p = NULL;
    int n = 0, l;
    memset(&h, 0, sizeof(h));
    (void)ota_IOT_CoAP_GetMessageCode(msg, &code);
    h.code = (int32_t)code;
    h.block_rc = ota_IOT_CoAP_ParseOption_block(msg, OTA_COAP_OPTION_BLOCK2, &h.num, &h.more,
                                                &h.size);
    l = (int)sizeof(h.etag);
    h.etag_len = ota_IOT_CoAP_GetMessageOption(msg, OTA_COAP_OPTION_ETAG, h.etag, &l) == 0 ? l : -1;
    l = (int)sizeof(h.size2);
    h.size2_len = ota_IOT_CoAP_GetMessageOption(msg, OTA_COAP_OPTION_SIZE2, h.size2, &l) == 0 ? l : -1;
    if (ota_IOT_CoAP_GetMessagePayload(msg, &p, &n) != 0 || !p || n < 0)
        n = 0;
    if ((size_t)n > QMBOX_BUF - sizeof(h))
        n = (int)(QMBOX_BUF - sizeof(h));
    h.payload_len = n;
    memcpy(m->rsp, &h, sizeof(h));
    if (n)
        memcpy(m->rsp + sizeof(h), p, (size_t)n);
    m->rsp_len = (uint32_t)(sizeof(h) + (size_t)n);
}

/* QMBOX_OP_COAP_SEND: one exchange through the client, a Block2 request
 * when arg1 >= 0. The message's content and message types are not carried:
 * the client sends every message as a CON POST with JSON content, as it
 * does for the native device. */
static int32_t coap_send(struct relay *r, uint32_t len)
{
    struct qmbox *m = r->m;
    uint32_t off = 0;
    void *c = coap_of(r, m->arg[0]);
    const char *path = str_at(m, &off);
    iotx_message_t msg;
    if (!c || off > len || len - off > 0xFFFF)
        return -1;
    memset(&msg, 0, sizeof(msg));
    msg.p_payload = len > off ? m->req + off : NULL;
    msg.payload_len = (unsigned short)(len - off);
    msg.content_type = IOTX_CONTENT_TYPE_JSON;
    msg.msg_type = IOTX_MESSAGE_CON;
    msg.user_data = m;
    msg.resp_callback = coap_on_rsp;
    if (m->arg[1] < 0)
        return ota_IOT_CoAP_SendMessage(c, (char *)path, &msg);
    return ota_IOT_CoAP_SendMessage_block(c, (char *)path, &msg, (unsigned char)(m->arg[1] & 0xFF),
                                          m->arg[2], (unsigned char)((m->arg[1] >> 8) & 1),
                                          (unsigned int)m->arg[3]);
}

static void coap_free_all(struct relay *r)
{
    for (int i = 0; i < MAX_COAP; i++)
        if (r->coap[i])
            (void)ota_IOT_CoAP_Deinit(&r->coap[i]);
}

/* ---- the relay -------------------------------------------------------------- */

static const char *str_at(const struct qmbox *m, uint32_t *off)
{
    const char *s = (const char *)m->req + *off;
    size_t room = QMBOX_BUF - *off;
    size_t l = strnlen(s, room);
    *off += (uint32_t)(l < room ? l + 1 : l);
    return l < room ? s : "";
}

/* Serves the request in the mailbox. Returns 1 when it ended the boot. */
static int serve(struct relay *r)
{
    struct qmbox *m = r->m;
    uint32_t off = 0, op = m->op, len = m->req_len > QMBOX_BUF ? QMBOX_BUF : m->req_len;
    int32_t ret = 0;
    int ended = 0;
    m->rsp_len = 0;
    switch (op) {
    case QMBOX_OP_EVENT: {
        const char *src = str_at(m, &off), *ev = str_at(m, &off), *fields = str_at(m, &off);
        evlog_emit(src, ev, "%s", fields);
        break;
    }
    case QMBOX_OP_MQTT_INIT: {
        const char *pk = str_at(m, &off), *dn = str_at(m, &off), *ds = str_at(m, &off);
        ret = mqtt_init(r, pk, dn, ds);
        break;
    }
    case QMBOX_OP_MQTT_PUB: {
        const char *topic = str_at(m, &off);
        int32_t dl = m->arg[1];
        if (!r->mq || dl < 0 || off + (uint32_t)dl > len)
            ret = -1;
        else
            ret = mosquitto_publish(r->mq, NULL, topic, dl, m->req + off, m->arg[0], false) ==
                          MOSQ_ERR_SUCCESS ? 0 : -1;
        break;
    }
    case QMBOX_OP_MQTT_SUB: {
        const char *topic = str_at(m, &off);
        ret = r->mq && mosquitto_subscribe(r->mq, NULL, topic, 1) == MOSQ_ERR_SUCCESS ? 0 : -1;
        break;
    }
    case QMBOX_OP_MQTT_DEINIT:
        if (r->mq) {
            mosquitto_disconnect(r->mq);
            mosquitto_loop_stop(r->mq, false);
            mosquitto_destroy(r->mq);
            r->mq = NULL;
        }
        break;
    case QMBOX_OP_SOCK_CONNECT: {
        const char *host = str_at(m, &off);
        ret = sock_connect(r, host, m->arg[0]);
        break;
    }
    case QMBOX_OP_SOCK_SEND:
        if (sock_slot(r, m->arg[0]) < 0) {
            ret = -1;
        } else {
            ssize_t n = send(m->arg[0], m->req, len, MSG_NOSIGNAL);
            ret = n < 0 ? -1 : (int32_t)n;
        }
        break;
    case QMBOX_OP_SOCK_RECV: {
        uint32_t want = (uint32_t)m->arg[1];
        if (sock_slot(r, m->arg[0]) < 0 || want == 0 || want > QMBOX_BUF) {
            ret = -2;
        } else {
            ret = sock_recv(m->arg[0], m->rsp, want);
            m->rsp_len = ret > 0 ? (uint32_t)ret : 0;
        }
        break;
    }
    case QMBOX_OP_SOCK_CLOSE: {
        int i = sock_slot(r, m->arg[0]);
        if (i >= 0) {
            close(r->socks[i]);
            r->socks[i] = -1;
        }
        break;
    }
    case QMBOX_OP_SSL_CONNECT: {
        const char *host = str_at(m, &off);
        uint32_t cl = m->arg[1] > 0 ? (uint32_t)m->arg[1] : 0;
        if (off + cl > len || (cl && m->req[off + cl - 1] != 0))
            ret = -1; /* a CA that is not a NUL-terminated string in the request */
        else
            ret = tls_connect(r, host, m->arg[0], cl ? (const char *)m->req + off : NULL, cl);
        break;
    }
    case QMBOX_OP_SSL_SEND: {
        struct relay_tls *t = tls_of(r, m->arg[0]);
        int n = t && len ? SSL_write(t->t.ssl, m->req, (int)len) : -1;
        ret = n > 0 ? n : -1;
        break;
    }
    case QMBOX_OP_SSL_RECV: {
        struct relay_tls *t = tls_of(r, m->arg[0]);
        uint32_t want = (uint32_t)m->arg[1];
        if (!t || want == 0 || want > QMBOX_BUF) {
            ret = -1;
        } else {
            ret = tls_recv(t, m->rsp, want);
            m->rsp_len = (uint32_t)ret;
        }
        break;
    }
    case QMBOX_OP_COAP_INIT: {
        const char *url = str_at(m, &off), *pk = str_at(m, &off), *dn = str_at(m, &off);
        const char *id = str_at(m, &off), *ds = str_at(m, &off);
        ret = coap_init(r, url, pk, dn, id, ds);
        break;
    }
    case QMBOX_OP_COAP_AUTH: {
        void *c = coap_of(r, m->arg[0]);
        ret = c ? ota_IOT_CoAP_DeviceNameAuth(c) : -1;
        break;
    }
    case QMBOX_OP_COAP_SEND:
        ret = coap_send(r, len);
        break;
    case QMBOX_OP_COAP_DEINIT:
        if (m->arg[0] >= 1 && m->arg[0] <= MAX_COAP && r->coap[m->arg[0] - 1])
            (void)ota_IOT_CoAP_Deinit(&r->coap[m->arg[0] - 1]);
        break;
    case QMBOX_OP_END: {
        const char *why = str_at(m, &off);
        char e[300];
        evlog_emit("device", "qemu.boot_end", "\"code\":%d,\"reason\":\"%s\"", m->arg[0],
                   otahil_json_escape(e, sizeof(e), why));
        ended = 1;
        break;
    }
    default:
        ret = -1;
        evlog_emit("device", "qemu.bad_request", "\"op\":%u", op);
        break;
    }
    m->ret = ret;
    __atomic_store_n(&m->rsp_seq, __atomic_load_n(&m->req_seq, __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
    pthread_mutex_lock(&r->lock);
    ring_door(r);
    pthread_mutex_unlock(&r->lock);
    return ended;
}

static void *relay_main(void *arg)
{
    struct relay *r = arg;
    char buf[256];
    while (!r->stop) {
        struct pollfd p = { r->door, POLLIN, 0 };
        int pr = poll(&p, 1, 100);
        if (pr > 0) {
            ssize_t n = read(r->door, buf, sizeof(buf));
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
                break; /* QEMU is gone */
        }
        while (!r->stop && __atomic_load_n(&r->m->req_seq, __ATOMIC_ACQUIRE) !=
                               __atomic_load_n(&r->m->rsp_seq, __ATOMIC_ACQUIRE))
            (void)serve(r);
    }
    return NULL;
}

/* ---- QEMU ------------------------------------------------------------------- */

static int listen_unix(const char *path)
{
    struct sockaddr_un a;
    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(a.sun_path))
        return -1;
    strcpy(a.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 1) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- QMP ------------------------------------------------------------------ */

/* QEMU's machine protocol on a Unix socket QEMU listens on (-qmp): QEMU
 * starts stopped (-S), the harness negotiates, then resumes the guest, so no
 * event is missed. Events (RESET, SHUTDOWN with its reason: guest-reset for
 * a SYSRESETREQ, host-qmp-quit for the harness's power-off, ...) go into the
 * event log as qemu.qmp; resets are counted for the boot's end. */
struct qmp {
    int    fd;
    char   buf[8192];
    size_t len;
    int    resets;             /* RESET events and SHUTDOWNs with reason guest-reset */
    char   shutdown[48];       /* the last SHUTDOWN's reason; "" none */
};

static int qmp_connect(struct qmp *q, const char *path, pid_t qemu, int timeout_ms)
{
    struct sockaddr_un a;
    memset(q, 0, sizeof(*q));
    q->fd = -1;
    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(a.sun_path))
        return -1;
    strcpy(a.sun_path, path);
    uint64_t until = now_ms() + (uint64_t)timeout_ms;
    while (now_ms() < until && !g_term) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -1;
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
            q->fd = fd;
            return 0;
        }
        close(fd);
        if (waitpid(qemu, NULL, WNOHANG) == qemu)
            return -1;
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep(&ts, NULL);
    }
    return -1;
}

/* Handles one line QEMU sent: an event is logged; returns 1 for a command's
 * reply ("return" or "error"), 0 otherwise. */
static int qmp_line(struct qmp *q, const char *line)
{
    cJSON *j = cJSON_Parse(line);
    int reply = 0;
    if (!j)
        return 0;
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(j, "event");
    if (cJSON_IsString(ev)) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "data");
        const cJSON *why = d ? cJSON_GetObjectItemCaseSensitive(d, "reason") : NULL;
        const char *reason = cJSON_IsString(why) ? why->valuestring : "";
        char e1[128], e2[128];
        evlog_emit("device", "qemu.qmp", "\"event\":\"%s\",\"reason\":\"%s\"",
                   otahil_json_escape(e1, sizeof(e1), ev->valuestring),
                   otahil_json_escape(e2, sizeof(e2), reason));
        if (!strcmp(ev->valuestring, "RESET") ||
            (!strcmp(ev->valuestring, "SHUTDOWN") && !strcmp(reason, "guest-reset")))
            q->resets++;
        if (!strcmp(ev->valuestring, "SHUTDOWN"))
            snprintf(q->shutdown, sizeof(q->shutdown), "%s", reason);
    } else if (cJSON_GetObjectItemCaseSensitive(j, "return") ||
               cJSON_GetObjectItemCaseSensitive(j, "error")) {
        reply = !cJSON_GetObjectItemCaseSensitive(j, "error") ? 1 : -1;
    }
    cJSON_Delete(j);
    return reply;
}

/* Reads what QEMU sent (waiting at most wait_ms); each whole line goes to
 * qmp_line. The last reply seen (1 ok, -1 error), 0 none, -2 closed. */
static int qmp_pump(struct qmp *q, int wait_ms)
{
    int reply = 0;
    struct pollfd p = { q->fd, POLLIN, 0 };
    if (q->fd < 0 || poll(&p, 1, wait_ms) <= 0)
        return 0;
    ssize_t n = read(q->fd, q->buf + q->len, sizeof(q->buf) - 1 - q->len);
    if (n <= 0) {
        close(q->fd);
        q->fd = -1;
        return -2;
    }
    q->len += (size_t)n;
    q->buf[q->len] = 0;
    char *start = q->buf, *nl;
    while ((nl = strchr(start, '\n')) != NULL) {
        *nl = 0;
        int r = qmp_line(q, start);
        if (r)
            reply = r;
        start = nl + 1;
    }
    q->len -= (size_t)(start - q->buf);
    memmove(q->buf, start, q->len);
    if (q->len == sizeof(q->buf) - 1)
        q->len = 0; /* a line longer than the buffer: dropped */
    return reply;
}

/* Sends a command and waits for its reply: 0, or -1. */
static int qmp_cmd(struct qmp *q, const char *cmd, int timeout_ms)
{
    size_t l = strlen(cmd);
    if (q->fd < 0 || write(q->fd, cmd, l) != (ssize_t)l)
        return -1;
    uint64_t until = now_ms() + (uint64_t)timeout_ms;
    while (now_ms() < until) {
        int r = qmp_pump(q, 50);
        if (r == 1)
            return 0;
        if (r < 0)
            return -1;
    }
    return -1;
}

/* Accepts QEMU's connection, or -1 after timeout_ms or when QEMU ended. */
static int accept_from(int lfd, pid_t qemu, int timeout_ms)
{
    uint64_t until = now_ms() + (uint64_t)timeout_ms;
    while (now_ms() < until && !g_term) {
        struct pollfd p = { lfd, POLLIN, 0 };
        if (poll(&p, 1, 50) > 0)
            return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (waitpid(qemu, NULL, WNOHANG) == qemu)
            return -1;
    }
    return -1;
}

/* A console line. A firmware with its own IP stack (--net user) has no
 * mailbox to report through: it prints its events as
 * "@ev<TAB>SRC<TAB>EVENT<TAB>FIELDS" and the end of a boot as
 * "@end<TAB>CODE<TAB>REASON" (docs/qemu.md, "Own IP stack"); any other line
 * is the console's. FIELDS is the event's JSON members, as the mailbox's
 * EVENT request carries them: JSON escapes every control character, so no
 * tab or newline can be inside. */
static void console_line(char *line)
{
    char e[QEMU_LINE_MAX * 2 + 16];
    if (!strncmp(line, "@ev\t", 4)) {
        char *src = line + 4, *ev = strchr(src, '\t'), *fields = ev ? strchr(ev + 1, '\t') : NULL;
        if (fields) {
            *ev++ = 0;
            *fields++ = 0;
            if (*src && *ev && !strchr(fields, '\t')) {
                evlog_emit(src, ev, "%s", fields);
                return;
            }
            ev[-1] = '\t';
            fields[-1] = '\t';
        }
    } else if (!strncmp(line, "@end\t", 5)) {
        char *end;
        long code = strtol(line + 5, &end, 10);
        if (end != line + 5 && *end == '\t') {
            evlog_emit("device", "qemu.boot_end", "\"code\":%ld,\"reason\":\"%s\"", code,
                       otahil_json_escape(e, sizeof(e), end + 1));
            return;
        }
    }
    evlog_emit("device", "uart.line", "\"line\":\"%s\"", otahil_json_escape(e, sizeof(e), line));
}

static void console_lines(char *acc, size_t *alen, const char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = buf[i];
        if (c == '\r')
            continue;
        if (c == '\n' || *alen == QEMU_LINE_MAX - 1) {
            acc[*alen] = 0;
            console_line(acc);
            *alen = 0;
            if (c == '\n')
                continue;
        }
        acc[(*alen)++] = c;
    }
}

/* Writes the region's chip and state back into the flash file, by rename. */
static int write_back(const char *flash, const uint8_t *region, size_t len)
{
    char err[600];
    if (write_file_atomic(flash, region, len, err, sizeof(err)) != 0)
        return harness("flash write-back", err);
    return 0;
}

int qemu_boot(const struct qemu_boot_opts *o)
{
    static struct board b;
    char err[1024], elf[4200], dir[] = "/tmp/otahil-qemu-XXXXXX", region_path[4200];
    char u0[128], u1[128], uq[128], mem[4400], serial0[160], serial1[160], qmparg[200];
    if (board_open(&b, o->board, err, sizeof(err)) != 0)
        return harness("board", err);
    size_t state = flashsim_state_size(&b.geom), flen = 0;
    if ((size_t)b.geom.size + state > QMBOX_OFF || b.flash_base != QMBOX_REGION_ADDR) {
        snprintf(err, sizeof(err), "board %s: the QEMU target needs flash_base = 0x%08X and "
                 "chip + model state (%zu bytes) within %u bytes", b.name, QMBOX_REGION_ADDR,
                 (size_t)b.geom.size + state, QMBOX_OFF);
        return harness("board", err);
    }
    if (o->firmware)
        snprintf(elf, sizeof(elf), "%s", o->firmware);
    else if (otahil_sibling_exe("../qemu/otahil-fw.elf", elf, sizeof(elf)) != 0 &&
             access(elf, R_OK) != 0)
        return harness("firmware", "no build/qemu/otahil-fw.elf (make qemu-fw)");
    uint8_t *flash = NULL;
    if (read_file(o->flash, &flash, &flen, err, sizeof(err)) != 0)
        return harness("flash", err);
    if (flen != (size_t)b.geom.size + state) {
        free(flash);
        snprintf(err, sizeof(err), "%s: %zu bytes, not a flash file of board %s (%zu)", o->flash,
                 flen, b.name, (size_t)b.geom.size + state);
        return harness("flash", err);
    }

    /* The region: chip + state at 0, the mailbox at QMBOX_OFF. */
    snprintf(region_path, sizeof(region_path), "%s.qemu", o->flash);
    int rfd = open(region_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (rfd < 0 || ftruncate(rfd, QMBOX_REGION_SIZE) != 0) {
        snprintf(err, sizeof(err), "%s: %s", region_path, strerror(errno));
        free(flash);
        if (rfd >= 0)
            close(rfd);
        return harness("region", err);
    }
    uint8_t *region = mmap(NULL, QMBOX_REGION_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, rfd, 0);
    close(rfd);
    if (region == MAP_FAILED) {
        free(flash);
        return harness("region", strerror(errno));
    }
    memcpy(region, flash, flen);
    free(flash);
    struct qmbox *m = (struct qmbox *)(region + QMBOX_OFF);
    memset(m, 0, offsetof(struct qmbox, req));
    struct qmbox_cfg *c = &m->cfg;
    snprintf(c->board, sizeof(c->board), "%s", b.name);
    c->geom = b.geom;
    {
        struct flashsim fs;
        if (flashsim_init(&fs, &b.geom, region, region + b.geom.size, 0) != 0 ||
            board_apply(&b, &fs) != 0) {
            munmap(region, QMBOX_REGION_SIZE);
            return harness("flash", "the flash model refuses the board's table");
        }
        memcpy(c->parts, fs.parts, sizeof(c->parts));
        c->nparts = fs.nparts;
    }
    for (int i = 0; i < b.nkv && i < 4; i++)
        c->kv_parts[i] = b.kv_parts[i];
    c->nkv = b.nkv;
    c->pingpong = strcmp(b.bootloader, "pingpong") == 0;
    c->boot_attempts = b.boot_attempts;
    c->flash_base = b.flash_base;
    c->state_off = b.geom.size;
    snprintf(c->pk, sizeof(c->pk), "%s", o->pk);
    snprintf(c->dn, sizeof(c->dn), "%s", o->dn);
    snprintf(c->ds, sizeof(c->ds), "%s", o->ds);
    c->reboot_delay_ms = o->reboot_delay_ms;
    c->resume = o->resume;
    c->checkpoint = b.checkpoint;
    c->flash_delay_us = o->flash_delay_us;
    if (o->ca_pem && o->ca_len > 1 && o->ca_len <= QMBOX_CA_MAX) {
        memcpy(c->ca, o->ca_pem, o->ca_len);
        c->ca_len = o->ca_len;
    }
    if (o->coap_url) {
        snprintf(c->coap_url, sizeof(c->coap_url), "%s", o->coap_url);
        c->dl_coap = o->coap_dl;
        /* coaps:// with the device's CA file is DTLS with certificates, without
         * one DTLS-PSK: as otahil-dut configures the native device's client. */
        coap_client_ca(!strncmp(o->coap_url, "coaps://", 8) ? o->ca_path : NULL);
    }
    if (o->cut_seq) {
        c->fault.mode = (uint8_t)o->cut_mode;
        c->fault.at_seq = o->cut_seq;
        c->fault.seed = o->cut_seq;
    }
    if (o->nic) {
        /* the host's loopback, as the guest sees it through QEMU's user network */
        c->nic = 1;
        snprintf(c->mqtt_host, sizeof(c->mqtt_host), "%s",
                 !strcmp(o->broker_host, "127.0.0.1") || !strcmp(o->broker_host, "localhost")
                     ? QEMU_NIC_HOST : o->broker_host);
        c->mqtt_port = o->broker_port;
    }
    m->version = QMBOX_VERSION;
    __atomic_store_n(&m->magic, QMBOX_MAGIC, __ATOMIC_RELEASE);

    if (!mkdtemp(dir)) {
        munmap(region, QMBOX_REGION_SIZE);
        return harness("sockets", strerror(errno));
    }
    snprintf(u0, sizeof(u0), "%s/uart0", dir);
    snprintf(u1, sizeof(u1), "%s/uart1", dir);
    snprintf(uq, sizeof(uq), "%s/qmp", dir);
    snprintf(qmparg, sizeof(qmparg), "unix:%s,server=on,wait=off", uq);
    int l0 = listen_unix(u0), l1 = listen_unix(u1);
    snprintf(mem, sizeof(mem), "memory-backend-file,id=fl,size=16M,mem-path=%s,share=on",
             region_path);
    snprintf(serial0, sizeof(serial0), "unix:%s", u0);
    snprintf(serial1, sizeof(serial1), "unix:%s", u1);
    const char *argv[] = { "qemu-system-arm", "-M", "mps2-an385,memory-backend=fl",
                           "-object", mem, "-kernel", elf, "-display", "none", "-monitor", "none",
                           "-no-reboot", "-semihosting-config", "enable=on,target=native",
                           "-serial", serial0, "-serial", serial1, "-qmp", qmparg, "-S",
                           /* the board's LAN9118 on QEMU's user network (slirp): the guest
                            * is 10.0.2.15, the host's loopback 10.0.2.2. Without --net user
                            * QEMU attaches the same by default (-nic none would leave the
                            * board's chip without a peer and warn at every boot); the
                            * mailbox programs never touch it */
                           o->nic ? "-nic" : NULL, "user,model=lan9118", NULL };
    int rc = DUT_EXIT_HARNESS, c0 = -1, c1 = -1;
    struct qmp q;
    memset(&q, 0, sizeof(q));
    q.fd = -1;
    pid_t qpid = -1;
    struct relay r;
    pthread_t th;
    int relay_up = 0;
    memset(&r, 0, sizeof(r));
    for (int i = 0; i < MAX_SOCKS; i++)
        r.socks[i] = -1;
    pthread_mutex_init(&r.lock, NULL);
    if (l0 < 0 || l1 < 0) {
        rc = harness("sockets", strerror(errno));
        goto out;
    }
    qpid = fork();
    if (qpid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        execvp(argv[0], (char *const *)argv);
        fprintf(stderr, "otahil-qemu: exec qemu-system-arm: %s\n", strerror(errno));
        _exit(127);
    }
    if (qpid < 0) {
        rc = harness("fork", strerror(errno));
        goto out;
    }
    /* ops: the flash model's op counter as the boot starts, so a power cut
     * can be aimed at an op of this boot (a bootloader's copy: the first ops) */
    evlog_emit("device", "qemu.start", "\"pid\":%d,\"firmware\":\"%s\",\"ops\":%llu,\"net\":\"%s\"",
               (int)qpid, elf,
               (unsigned long long)((const struct flashsim_meta *)(region + b.geom.size))->op_seq,
               o->nic ? "user" : "relay");
    c0 = accept_from(l0, qpid, 10000);
    c1 = c0 >= 0 ? accept_from(l1, qpid, 10000) : -1;
    if (c0 < 0 || c1 < 0) {
        rc = harness("qemu", g_term ? "powered off while starting" :
                     "qemu-system-arm did not connect its UARTs within 10 s");
        goto out;
    }
    r.m = m;
    r.door = c1;
    r.o = o;
    if (pthread_create(&th, NULL, relay_main, &r) != 0) {
        rc = harness("relay", "cannot start its thread");
        goto out;
    }
    relay_up = 1;
    /* QEMU waits stopped (-S) until QMP is up, then the guest runs. The
     * reply to cont is read in the loop below, which is already watching
     * the console when the guest's first line comes. */
    static const char cont[] = "{\"execute\":\"cont\"}\n";
    if (qmp_connect(&q, uq, qpid, 10000) != 0 ||
        qmp_cmd(&q, "{\"execute\":\"qmp_capabilities\"}\n", 5000) != 0 ||
        write(q.fd, cont, sizeof(cont) - 1) != (ssize_t)(sizeof(cont) - 1)) {
        rc = harness("qmp", g_term ? "powered off while starting" :
                     "QEMU's QMP socket did not answer within 10 s");
        goto out;
    }

    char acc[QEMU_LINE_MAX], buf[1024];
    size_t alen = 0;
    uint32_t last_ticks = 0;
    uint64_t last_change = now_ms();
    for (;;) {
        struct pollfd p[2] = { { c0, POLLIN, 0 }, { q.fd, POLLIN, 0 } };
        if (poll(p, q.fd >= 0 ? 2 : 1, 50) > 0 && (p[0].revents & POLLIN)) {
            ssize_t n = read(c0, buf, sizeof(buf));
            if (n > 0)
                console_lines(acc, &alen, buf, (size_t)n);
        }
        (void)qmp_pump(&q, 0);
        int st;
        if (waitpid(qpid, &st, WNOHANG) == qpid) {
            qpid = -1;
            ssize_t n;
            while ((n = read(c0, buf, sizeof(buf))) > 0)
                console_lines(acc, &alen, buf, (size_t)n);
            if (alen)
                console_lines(acc, &alen, "\n", 1);
            for (int k = 0; k < 20 && q.fd >= 0; k++) /* QMP's last events, up to its close */
                (void)qmp_pump(&q, 10);
            if (WIFEXITED(st) && WEXITSTATUS(st) != 127) {
                rc = WEXITSTATUS(st);
                /* A reset other than the firmware's own exit (-no-reboot): QMP's
                 * SHUTDOWN says guest-reset; it ends the boot as a crash would.
                 * A firmware that uses none of the harness's hooks (--net user,
                 * no heartbeat ever) reboots that way: a reboot. */
                if (rc == 0)
                    rc = o->nic && last_ticks == 0 ? DUT_EXIT_REBOOT : DUT_EXIT_CRASH;
            } else {
                snprintf(err, sizeof(err), "qemu-system-arm ended with %s %d",
                         WIFEXITED(st) ? "status" : "signal",
                         WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
                rc = harness("qemu", err);
            }
            break;
        }
        if (g_term) {
            /* Power off through QMP (quit), as a supply switched off; a QEMU
             * that does not go within a second is killed. */
            int via_qmp = qmp_cmd(&q, "{\"execute\":\"quit\"}\n", 1000) == 0, gone = 0;
            for (int k = 0; k < 100 && via_qmp && !gone; k++) {
                gone = waitpid(qpid, NULL, WNOHANG) == qpid;
                if (!gone) {
                    struct timespec ts = { 0, 10 * 1000000L };
                    nanosleep(&ts, NULL);
                }
            }
            if (!gone) {
                kill(qpid, SIGKILL);
                waitpid(qpid, NULL, 0);
            }
            evlog_emit("device", "device.poweroff", "\"via\":\"%s\"", gone ? "qmp" : "kill");
            qpid = -1;
            rc = DUT_EXIT_OFF;
            break;
        }
        /* A firmware that never writes the mailbox's ticks (a whole firmware
         * tested as a black box, --net user) has no watchdog here: the run's
         * timeout ends it. */
        uint32_t t = __atomic_load_n(&m->ticks, __ATOMIC_ACQUIRE);
        if (o->nic && t == 0)
            last_change = now_ms();
        else if (t != last_ticks) {
            last_ticks = t;
            last_change = now_ms();
        } else if (now_ms() - last_change > o->watchdog_ms) {
            kill(qpid, SIGKILL);
            waitpid(qpid, NULL, 0);
            qpid = -1;
            snprintf(err, sizeof(err), "the guest's clock stood still for %u ms: hung",
                     o->watchdog_ms);
            rc = harness("watchdog", err);
            break;
        }
    }
out:
    if (qpid > 0) {
        kill(qpid, SIGKILL);
        waitpid(qpid, NULL, 0);
    }
    if (c0 >= 0) /* QEMU ran: the boot's end and its resets, as QMP counted them */
        evlog_emit("device", "qemu.exit", "\"code\":%d,\"resets\":%d,\"shutdown\":\"%s\"", rc,
                   q.resets, q.shutdown);
    if (q.fd >= 0)
        close(q.fd);
    unlink(uq);
    if (relay_up) {
        r.stop = 1;
        pthread_join(th, NULL);
    }
    tls_free_all(&r);
    coap_free_all(&r);
    if (r.mq) {
        /* Power is gone: no DISCONNECT, the broker sees the connection drop. */
        mosquitto_loop_stop(r.mq, true);
        mosquitto_destroy(r.mq);
    }
    for (int i = 0; i < MAX_SOCKS; i++)
        if (r.socks[i] > 0)
            close(r.socks[i]);
    if (c0 >= 0)
        close(c0);
    if (c1 >= 0)
        close(c1);
    if (l0 >= 0)
        close(l0);
    if (l1 >= 0)
        close(l1);
    unlink(u0);
    unlink(u1);
    rmdir(dir);
    if (write_back(o->flash, region, flen) != 0)
        rc = DUT_EXIT_HARNESS;
    munmap(region, QMBOX_REGION_SIZE);
    return rc;
}

void qemu_boot_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}
