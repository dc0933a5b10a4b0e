/*
 * sweep_net.c - the end-to-end host of the power-cut sweep: the same
 * firmware object, flash and checker as the port-level sweep, but the device
 * talks to the real fake cloud. Its MQTT goes to a Mosquitto process through
 * libmosquitto; its HTTP goes over TCP to the civetweb firmware server; the
 * pushes come from the cloud service, as an upgrade job per cut point that is
 * pushed at the device's next inform and again after each failed attempt.
 *
 * Reads: the device's reads from the firmware server are cut to the same
 * seeded sizes as in memory (sw_read_size), so both sweeps number the same
 * flash operations and give the same verdicts. A power cut, a reboot or the
 * end of a point drops the device's connections at once (RST, no MQTT
 * DISCONNECT), as losing power does.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conformance/apiclient.h"
#include "conformance/common.h"
#include "conformance/sweep_int.h"
#include "mock_cloud/alisign.h"
#include "mock_cloud/cloud.h"

#define NET_QUEUE      8
#define NET_WAIT_MS    10000   /* a push or a CONNACK later than this: harness error */
#define NET_IO_TIMEOUT 5       /* s: the device's socket read timeout (spec: 5 s) */

struct net_msg {
    char  topic[160];
    char *payload;
    int   len;
};

struct sweep_net {
    /* the cloud (the process that started it) */
    struct cloud *cloud;
    char workdir[4096];
    /* where it is */
    struct sw_net_addr addr;
    struct api_client api;
    /* the device's connections, per boot */
    struct mosquitto *mq;
    int mq_state;           /* 0 connecting, 1 up, -1 refused */
    int sock;
    struct net_msg q[NET_QUEUE];
    int qhead, qlen;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- the cloud -------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st; (void)flag; (void)f;
    return remove(path);
}

int sw_net_cloud_start(struct mh *m, char *err, size_t n)
{
    struct sweep_net *net = calloc(1, sizeof(*net));
    if (!net) {
        snprintf(err, n, "out of memory");
        return -1;
    }
    net->sock = -1;
    m->net = net;
    const char *tmp = getenv("TMPDIR");
    snprintf(net->workdir, sizeof(net->workdir), "%s/otahil-sweep-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(net->workdir)) {
        snprintf(err, n, "%s: %s", net->workdir, strerror(errno));
        net->workdir[0] = 0;
        return -1;
    }
    struct cloud_opts co;
    memset(&co, 0, sizeof(co));
    co.workdir = net->workdir;
    co.seed = m->o->seed;
    net->cloud = cloud_start(&co, err, n);
    if (!net->cloud)
        return -1;
    char path[4200];
    snprintf(path, sizeof(path), "%s/v2.bin", net->workdir);
    if (write_file_atomic(path, m->v2, m->v2len, err, n) != 0)
        return -1;
    int fw = cloud_add_firmware(net->cloud, path, NULL, err, n);
    struct cloud_fw_info fi;
    if (fw < 0 || cloud_firmware_info(net->cloud, fw, &fi) != 0)
        return -1;
    if (cloud_add_device(net->cloud, SWEEP_PK, "sweep-clean", SWEEP_DS) != 0) {
        snprintf(err, n, "cloud: cannot register the sweep's devices");
        return -1;
    }
    for (int i = 0; i < m->o->jobs; i++) {
        char dn[33];
        snprintf(dn, sizeof(dn), "sweep-w%d", i);
        if (cloud_add_device(net->cloud, SWEEP_PK, dn, SWEEP_DS) != 0) {
            snprintf(err, n, "cloud: cannot register the sweep's devices");
            return -1;
        }
    }
    net->addr.mqtt_port = cloud_mqtt_port(net->cloud);
    net->addr.http_port = cloud_http_port(net->cloud);
    net->addr.fw_id = fw;
    snprintf(net->addr.url, sizeof(net->addr.url), "%s", fi.url);
    return 0;
}

void sw_net_cloud_stop(struct mh *m)
{
    struct sweep_net *net = m->net;
    if (!net)
        return;
    sw_net_boot_end(m);
    if (net->cloud)
        cloud_stop(net->cloud);
    if (net->workdir[0])
        nftw(net->workdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(net);
    m->net = NULL;
}

void sw_net_addr(const struct mh *m, struct sw_net_addr *a)
{
    *a = m->net->addr;
}

/* ---- the device's MQTT ------------------------------------------------------- */

static void harness(struct mh *m, const char *what, const char *detail)
{
    sw_failf(m, INV_HARNESS, "%s: %s", what, detail);
}

static void n_on_connect(struct mosquitto *mq, void *ud, int rc)
{
    struct mh *m = ud;
    (void)mq;
    m->net->mq_state = rc == 0 ? 1 : -1;
}

static void n_on_message(struct mosquitto *mq, void *ud, const struct mosquitto_message *msg)
{
    struct mh *m = ud;
    struct sweep_net *net = m->net;
    (void)mq;
    if (net->qlen == NET_QUEUE || strlen(msg->topic) >= sizeof(net->q[0].topic))
        return;
    struct net_msg *e = &net->q[(net->qhead + net->qlen) % NET_QUEUE];
    e->payload = malloc((size_t)msg->payloadlen + 1);
    if (!e->payload)
        return;
    memcpy(e->payload, msg->payload, (size_t)msg->payloadlen);
    e->payload[msg->payloadlen] = 0;
    e->len = msg->payloadlen;
    snprintf(e->topic, sizeof(e->topic), "%s", msg->topic);
    net->qlen++;
}

static int n_mqtt_init(void *ctx, const char *pk, const char *dn, const char *ds,
                       void (*on_connected)(void))
{
    struct mh *m = ctx;
    struct sweep_net *net = m->net;
    char cid[ALISIGN_CID_MAX + 1], user[ALISIGN_DN_MAX + ALISIGN_PK_MAX + 2],
        pass[ALISIGN_HEX_MAX + 1];
    if (net->mq)
        return 1;
    /* The device's credentials as linkkit makes them (spec §2.1): the
     * cloud's broker checks them. */
    if (alisign_credentials(pk, dn, ds, ALISIGN_HMACSHA1, 0, cid, user, pass) != 0) {
        harness(m, "MQTT", "cannot sign the device's credentials");
        return -1;
    }
    /* A clean session: a cut point starts from nothing the broker kept. */
    net->mq = mosquitto_new(cid, true, m);
    if (!net->mq) {
        harness(m, "MQTT", "cannot create a client");
        return -1;
    }
    mosquitto_username_pw_set(net->mq, user, pass);
    mosquitto_int_option(net->mq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_connect_callback_set(net->mq, n_on_connect);
    mosquitto_message_callback_set(net->mq, n_on_message);
    net->mq_state = 0;
    int rc = mosquitto_connect(net->mq, "127.0.0.1", net->addr.mqtt_port, 60);
    uint64_t until = now_ms() + NET_WAIT_MS;
    while (rc == MOSQ_ERR_SUCCESS && net->mq_state == 0 && now_ms() < until)
        rc = mosquitto_loop(net->mq, 100, 1);
    if (rc != MOSQ_ERR_SUCCESS || net->mq_state != 1) {
        harness(m, "cannot connect to the broker",
                rc != MOSQ_ERR_SUCCESS ? mosquitto_strerror(rc)
                                       : net->mq_state ? "refused" : "no CONNACK within 10 s");
        return -1;
    }
    m->on_connected = on_connected;
    m->connected_pending = 1;
    return 0;
}

static int n_mqtt_publish(void *ctx, const char *topic, int qos, const void *data, int len)
{
    struct mh *m = ctx;
    sw_observe_publish(m, topic, data, len);
    if (!m->net->mq)
        return -1;
    int rc = mosquitto_publish(m->net->mq, NULL, topic, len, data, qos, false);
    if (rc != MOSQ_ERR_SUCCESS) {
        harness(m, "MQTT publish", mosquitto_strerror(rc));
        return -1;
    }
    return 0;
}

static int n_mqtt_subscribe(void *ctx, const char *topic, otahil_fw_msg_cb cb, void *cb_ctx)
{
    struct mh *m = ctx;
    if (!m->net->mq || strcmp(topic, m->topic_upgrade) != 0)
        return -1;
    m->sub_cb = cb;
    m->sub_ctx = cb_ctx;
    /* The broker handles this SUBSCRIBE before the inform that follows it on
     * the same connection, so the push cannot overtake it. */
    int rc = mosquitto_subscribe(m->net->mq, NULL, topic, 1);
    if (rc != MOSQ_ERR_SUCCESS) {
        harness(m, "MQTT subscribe", mosquitto_strerror(rc));
        return -1;
    }
    return 0;
}

static int n_mqtt_deinit(void *ctx)
{
    (void)ctx;
    return 0;
}

/* The device waits for messages. It returns when nothing more will come:
 * the checker ended the point, or no push is due (the device runs the
 * target version, or the cloud's push budget is spent). Messages are handed
 * to the firmware from here, never from inside libmosquitto, so a power cut
 * in the middle of a download never unwinds through the library. */
static void n_idle(void *ctx)
{
    struct mh *m = ctx;
    struct sweep_net *net = m->net;
    uint64_t since = now_ms();
    for (;;) {
        if (m->inv)
            return;
        if (m->connected_pending) {
            m->connected_pending = 0;
            m->on_connected();
            continue;
        }
        if (net->qlen) {
            struct net_msg e = net->q[net->qhead];
            net->qhead = (net->qhead + 1) % NET_QUEUE;
            net->qlen--;
            if (m->sub_cb && !strcmp(e.topic, m->topic_upgrade)) {
                m->pushes++;
                m->await_push = 0;
                m->sub_cb(e.topic, (int)strlen(e.topic), e.payload, e.len, m->sub_ctx);
            }
            free(e.payload);
            since = now_ms();
            continue;
        }
        if (!m->await_push || !net->mq)
            return;
        if (now_ms() - since > NET_WAIT_MS) {
            harness(m, "the cloud did not push", "nothing within 10 s of an old-version inform");
            return;
        }
        int rc = mosquitto_loop(net->mq, 50, 1);
        if (rc != MOSQ_ERR_SUCCESS) {
            harness(m, "lost the broker", mosquitto_strerror(rc));
            return;
        }
    }
}

/* ---- the device's TCP ---------------------------------------------------------- */

static int n_connect(void *ctx, const char *host, int port)
{
    struct mh *m = ctx;
    struct sweep_net *net = m->net;
    struct sockaddr_in a;
    struct timeval tv = { NET_IO_TIMEOUT, 0 };
    int one = 1;
    if (net->sock >= 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, !strcmp(host, "localhost") ? "127.0.0.1" : host, &a.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    net->sock = fd;
    m->sock_open = 1;
    sw_conn_reset(m);
    return fd;
}

static int n_send(void *ctx, int fd, const char *buf, size_t len)
{
    struct mh *m = ctx;
    if (fd != m->net->sock || sw_observe_request(m, buf, len) < 0)
        return -1;
    size_t done = 0;
    while (done < len) {
        ssize_t r = send(fd, buf + done, len - done, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        done += (size_t)r;
    }
    return (int)len;
}

static int n_recv(void *ctx, int fd, char *buf, size_t len)
{
    struct mh *m = ctx;
    if (fd != m->net->sock)
        return -1;
    size_t want = sw_read_size(m, len), got = 0;
    ssize_t r = 0;
    while (got < want) {
        r = recv(fd, buf + got, want - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got) {
        sw_rx_account(m, buf, got);
        return (int)got;
    }
    return r == 0 ? 0 : -1;
}

static void drop_socket(struct sweep_net *net)
{
    if (net->sock < 0)
        return;
    struct linger l = { 1, 0 }; /* RST: the peer learns at once that the device is gone */
    setsockopt(net->sock, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(net->sock);
    net->sock = -1;
}

static void n_close(void *ctx, int fd)
{
    struct mh *m = ctx;
    if (fd == m->net->sock) {
        close(fd);
        m->net->sock = -1;
    }
    m->sock_open = 0;
}

void sw_net_boot_end(struct mh *m)
{
    struct sweep_net *net = m->net;
    if (!net)
        return;
    drop_socket(net);
    if (net->mq) {
        mosquitto_destroy(net->mq); /* closes the socket: no DISCONNECT, as a power cut */
        net->mq = NULL;
    }
    while (net->qlen) {
        free(net->q[net->qhead].payload);
        net->qhead = (net->qhead + 1) % NET_QUEUE;
        net->qlen--;
    }
    net->qhead = 0;
    m->sock_open = 0;
}

/* ---- wiring ------------------------------------------------------------------- */

static void attach_ops(struct mh *m, const char *dn)
{
    snprintf(m->dn, sizeof(m->dn), "%s", dn);
    snprintf(m->topic_upgrade, sizeof(m->topic_upgrade), "/ota/device/upgrade/%s/%s", SWEEP_PK,
             m->dn);
    m->cfg.dn = m->dn;
    m->ops.idle = n_idle;
    m->ops.mqtt_init = n_mqtt_init;
    m->ops.mqtt_publish = n_mqtt_publish;
    m->ops.mqtt_subscribe = n_mqtt_subscribe;
    m->ops.mqtt_deinit = n_mqtt_deinit;
    m->ops.socket_connect = n_connect;
    m->ops.socket_send = n_send;
    m->ops.socket_recv = n_recv;
    m->ops.socket_close = n_close;
}

int sw_net_attach(struct mh *m, const char *dn, char *err, size_t n)
{
    if (api_client_init(&m->net->api, "127.0.0.1", m->net->addr.http_port) != 0) {
        snprintf(err, n, "cloud REST API: bad address");
        return -1;
    }
    mosquitto_lib_init();
    attach_ops(m, dn);
    return 0;
}

int sw_net_attach_addr(struct mh *m, const struct sw_net_addr *a, const char *dn, char *err,
                       size_t n)
{
    struct sweep_net *net = calloc(1, sizeof(*net));
    if (!net) {
        snprintf(err, n, "out of memory");
        return -1;
    }
    net->sock = -1;
    net->addr = *a;
    m->net = net;
    return sw_net_attach(m, dn, err, n);
}

void sw_net_detach(struct mh *m)
{
    sw_net_boot_end(m);
    free(m->net);
    m->net = NULL;
}

int sw_net_job(struct mh *m, char *err, size_t n)
{
    char body[256];
    cJSON *reply = NULL;
    snprintf(body, sizeof(body),
             "{\"pk\":\"%s\",\"dn\":\"%s\",\"firmware\":%d,\"retries\":%d,\"at_inform\":true}",
             SWEEP_PK, m->dn, m->net->addr.fw_id, MAX_PUSHES - 1);
    int st = api_call(&m->net->api, "POST", "/api/jobs", body, &reply, err, n);
    if (st != 201 && st >= 0) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(reply, "error");
        snprintf(err, n, "cloud: creating the upgrade job failed (HTTP %d: %s)", st,
                 cJSON_IsString(e) ? e->valuestring : "no reason given");
    }
    cJSON_Delete(reply);
    return st == 201 ? 0 : -1;
}
