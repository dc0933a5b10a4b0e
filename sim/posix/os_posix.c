/*
 * os_posix.c - the OS port layer (ota_hal_os.h) of the native device:
 * POSIX threads and time, TCP sockets with the default AliOS read semantics
 * (fill the whole buffer or wait OTA_SSL_TIMEOUT), TLS through OpenSSL, MQTT
 * through libmosquitto with Alibaba-style credentials (spec §2.1), KV through
 * aos_kv_*. Identity and broker address come from os_posix_configure().
 *
 * CoAP is sim/posix/coap_client.c's libcoap client (the CA for coaps://
 * from os_posix_cfg.coap_ca), shared with the QEMU target's relay.
 *
 * TLS as AliOS's HAL_TLS_mbedtls.c with FORCE_SSL_VERIFY (spec §4.1): TLS 1.2
 * or later; with a CA the peer must chain to it and name the host (an IP
 * literal is matched against the IP addresses of subjectAltName); with no CA
 * nothing is verified. Optionally the session asks for small records
 * (max_fragment_length) and OpenSSL's heap is counted and capped
 * (os_posix_tls_heap), as on a device with little RAM.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <mosquitto.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "sim/posix/coap_client.h"
#include "sim/posix/tlsclient.h"
#include "aos/kernel.h"
#include "aos/log.h"
#include "hal/soc/soc.h"
#include "aos/kv.h"
#include "ota_hal_os.h"
#include "sim/hal/platform.h"
#include "sim/posix/os_posix.h"
#include "sim/util/event.h"

static struct os_posix_cfg g_os;

void os_posix_configure(const struct os_posix_cfg *cfg)
{
    g_os = *cfg;
    coap_client_ca(cfg->coap_ca);
}

/* ---- memory, sync, threads, time --------------------------------------- */

void *ota_malloc(int size) { return size > 0 ? malloc((size_t)size) : NULL; }
void *ota_realloc(void *ptr, int size) { return realloc(ptr, size > 0 ? (size_t)size : 1); }
void *ota_calloc(int n, int size) { return (n > 0 && size > 0) ? calloc((size_t)n, (size_t)size) : NULL; }
void  ota_free(void *ptr) { free(ptr); }

void *aos_malloc(unsigned int size) { return malloc(size); }
void *aos_zalloc(unsigned int size) { return calloc(1, size); }
void  aos_free(void *mem) { free(mem); }

void *ota_mutex_init(void)
{
    pthread_mutex_t *m = malloc(sizeof(*m));
    if (m)
        pthread_mutex_init(m, NULL);
    return m;
}
void ota_mutex_lock(void *mutex) { if (mutex) pthread_mutex_lock(mutex); }
void ota_mutex_unlock(void *mutex) { if (mutex) pthread_mutex_unlock(mutex); }
void ota_mutex_destroy(void *mutex)
{
    if (mutex) {
        pthread_mutex_destroy(mutex);
        free(mutex);
    }
}

void *ota_semaphore_init(void)
{
    sem_t *s = malloc(sizeof(*s));
    if (s && sem_init(s, 0, 0) != 0) {
        free(s);
        s = NULL;
    }
    return s;
}

int ota_semaphore_wait(void *sem, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (sem_timedwait(sem, &ts) != 0)
        if (errno != EINTR)
            return -1;
    return 0;
}
void ota_semaphore_post(void *sem) { sem_post(sem); }
void ota_semaphore_destroy(void *sem)
{
    if (sem) {
        sem_destroy(sem);
        free(sem);
    }
}

int ota_thread_create(void **thread_handle, void *(*work_routine)(void *), void *arg,
                      hal_os_thread_param_t *param, int *stack_used)
{
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    if (!param || param->detach_state)
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &a, work_routine, arg);
    pthread_attr_destroy(&a);
    if (rc != 0)
        return -1;
    if (thread_handle)
        *thread_handle = (void *)(uintptr_t)t;
    if (stack_used)
        *stack_used = 0;
    return 0;
}

void ota_thread_exit(void *thread)
{
    (void)thread;
    pthread_exit(NULL);
}

void ota_msleep(uint32_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}
void aos_msleep(int ms) { ota_msleep(ms > 0 ? (uint32_t)ms : 0); }

long long aos_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct ota_timer {
    void (*fn)(void *);
    void *arg;
    int ms;
};

static void *timer_main(void *p)
{
    struct ota_timer *t = p;
    ota_msleep((uint32_t)t->ms);
    t->fn(t->arg);
    return NULL;
}

void *ota_timer_create(const char *name, void (*func)(void *), void *user_data)
{
    (void)name;
    struct ota_timer *t = calloc(1, sizeof(*t));
    if (t) {
        t->fn = func;
        t->arg = user_data;
    }
    return t;
}

int ota_timer_start(void *t, int ms)
{
    struct ota_timer *tm = t;
    if (!tm)
        return -1;
    tm->ms = ms;
    pthread_t th;
    if (pthread_create(&th, NULL, timer_main, tm) != 0)
        return -1;
    pthread_detach(th);
    return 0;
}

void ota_reboot(void) { otahil_platform_reboot("ota_reboot"); }
void aos_reboot(void) { otahil_platform_reboot("aos_reboot"); }
void hal_reboot(void) { otahil_platform_reboot("hal_reboot"); }

/* ---- KV and identity ---------------------------------------------------- */

int ota_kv_set(const char *key, const void *val, int len, int sync)
{
    return aos_kv_set(key, val, len, sync);
}
int ota_kv_get(const char *key, void *buffer, int *buffer_len)
{
    return aos_kv_get(key, buffer, buffer_len);
}
int ota_kv_del(const char *key) { return aos_kv_del(key); }
int ota_kv_erase_all(void)
{
    static const char *keys[] = { "key_ota_breakpoint", "key_ota_hash", "key_ota_hash_ctx_head",
                                  "key_ota_hash_ctx_body", "ota_ota_version", "ota_dev_version" };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        (void)aos_kv_del(keys[i]);
    return 0;
}

static int copy_id(char *dst, size_t n, const char *src)
{
    if (!src)
        return -1;
    snprintf(dst, n, "%s", src);
    return 0;
}
int ota_HAL_GetProductKey(char pk[PRODUCT_KEY_MAXLEN]) { return copy_id(pk, PRODUCT_KEY_MAXLEN, g_os.pk); }
int ota_HAL_GetProductSecret(char ps[PRODUCT_SECRET_MAXLEN]) { return copy_id(ps, PRODUCT_SECRET_MAXLEN, ""); }
int ota_HAL_GetDeviceName(char dn[DEVICE_NAME_MAXLEN]) { return copy_id(dn, DEVICE_NAME_MAXLEN, g_os.dn); }
int ota_HAL_GetDeviceSecret(char ds[DEVICE_SECRET_MAXLEN]) { return copy_id(ds, DEVICE_SECRET_MAXLEN, g_os.ds); }

/* ---- TCP ---------------------------------------------------------------- */

int ota_socket_connect(char *host, int port)
{
    struct addrinfo hints, *res = NULL;
    char ps[16];
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(ps, sizeof(ps), "%d", port);
    if (getaddrinfo(host, ps, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        struct timeval tv = { OTA_SSL_TIMEOUT / 1000, 0 };
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

int ota_socket_send(int fd, char *buf, size_t len)
{
    size_t sent = 0;
    while (sent < len) {
        ssize_t n = send(fd, buf + sent, len - sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return sent ? (int)sent : -1;
        }
        sent += (size_t)n;
    }
    return (int)sent;
}

/* HAL_TCP_Read semantics: fill len bytes, or stop at OTA_SSL_TIMEOUT. */
int ota_socket_recv(int fd, char *buf, size_t len)
{
    size_t got = 0;
    long long deadline = aos_now_ms() + OTA_SSL_TIMEOUT;
    int closed = 0;
    while (got < len) {
        long long left = deadline - aos_now_ms();
        if (left <= 0)
            break;
        struct pollfd p = { fd, POLLIN, 0 };
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        ssize_t n = recv(fd, buf + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            closed = 1;
            break;
        }
        got += (size_t)n;
    }
    if (got)
        return (int)got;
    return closed ? -1 : -2;
}

void ota_socket_close(int fd)
{
    if (fd > 0)
        close(fd);
}

/* ---- TLS heap ----------------------------------------------------------- */

/* Each block carries its size in front, so frees and reallocs are counted. */
#define HEAP_HDR 16

static struct {
    pthread_mutex_t mu;
    size_t   budget;     /* 0: unlimited; else a cap on in_use - base */
    size_t   base;       /* in_use once the library itself was initialised */
    size_t   in_use;     /* bytes OpenSSL holds now */
    size_t   peak;
    unsigned long refused; /* allocations refused for the budget */
    int      on;         /* os_posix_tls_heap() installed the counter */
} g_heap = { PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, 0, 0 };

static int heap_take(size_t old, size_t n)
{
    int ok;
    pthread_mutex_lock(&g_heap.mu);
    ok = !g_heap.budget || n <= old || g_heap.in_use - old + n <= g_heap.base + g_heap.budget;
    if (ok) {
        g_heap.in_use = g_heap.in_use - old + n;
        if (g_heap.in_use > g_heap.peak)
            g_heap.peak = g_heap.in_use;
    } else {
        g_heap.refused++;
    }
    pthread_mutex_unlock(&g_heap.mu);
    return ok;
}

static void heap_give(size_t n)
{
    pthread_mutex_lock(&g_heap.mu);
    g_heap.in_use -= n;
    pthread_mutex_unlock(&g_heap.mu);
}

static void *heap_malloc(size_t n, const char *file, int line)
{
    (void)file; (void)line;
    if (!heap_take(0, n))
        return NULL;
    unsigned char *b = malloc(n + HEAP_HDR);
    if (!b) {
        heap_give(n);
        return NULL;
    }
    memcpy(b, &n, sizeof(n));
    return b + HEAP_HDR;
}

static void heap_free(void *p, const char *file, int line)
{
    (void)file; (void)line;
    if (!p)
        return;
    unsigned char *b = (unsigned char *)p - HEAP_HDR;
    size_t n;
    memcpy(&n, b, sizeof(n));
    heap_give(n);
    free(b);
}

static void *heap_realloc(void *p, size_t n, const char *file, int line)
{
    if (!p)
        return heap_malloc(n, file, line);
    if (n == 0) {
        heap_free(p, file, line);
        return NULL;
    }
    unsigned char *b = (unsigned char *)p - HEAP_HDR, *nb;
    size_t old;
    memcpy(&old, b, sizeof(old));
    if (!heap_take(old, n))
        return NULL;
    nb = realloc(b, n + HEAP_HDR);
    if (!nb) {
        heap_take(n, old);
        return NULL;
    }
    memcpy(nb, &n, sizeof(n));
    return nb + HEAP_HDR;
}

int os_posix_tls_heap(size_t budget)
{
    if (!CRYPTO_set_mem_functions(heap_malloc, heap_realloc, heap_free))
        return -1;
    /* The library's own state (providers, error strings, method tables) is
     * not a session's: it is counted from here on but outside the budget. */
    OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL);
    SSL_CTX_free(SSL_CTX_new(TLS_client_method()));
    pthread_mutex_lock(&g_heap.mu);
    g_heap.base = g_heap.in_use;
    g_heap.budget = budget;
    g_heap.on = 1;
    pthread_mutex_unlock(&g_heap.mu);
    return 0;
}

/* Bytes OpenSSL holds beyond its initialised library state. */
static size_t heap_in_use(void)
{
    pthread_mutex_lock(&g_heap.mu);
    size_t n = g_heap.in_use > g_heap.base ? g_heap.in_use - g_heap.base : 0;
    pthread_mutex_unlock(&g_heap.mu);
    return n;
}

/* ---- TLS ---------------------------------------------------------------- */

struct ota_ssl {
    struct tlsc t;
    int fd;
};

void *ota_ssl_connect(const char *host, uint16_t port, const char *ca_crt, uint32_t ca_crt_len)
{
    char why[256] = "";
    long long t0 = aos_now_ms();
    size_t heap0 = g_heap.on ? heap_in_use() : 0;
    struct ota_ssl *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->t.verify = ca_crt && ca_crt_len > 1;
    s->fd = ota_socket_connect((char *)host, port);
    if (s->fd <= 0) {
        snprintf(why, sizeof(why), "TCP connect failed");
        goto err;
    }
    /* The handshake's reads end at OTA_SSL_TIMEOUT too. */
    struct timeval tv = { OTA_SSL_TIMEOUT / 1000, 0 };
    setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (tlsc_connect(&s->t, s->fd, host, ca_crt, ca_crt_len, g_os.tls_fragment, why, sizeof(why)) != 0)
        goto err;
    otahil_event("os", "tls.connected",
                 "\"host\":\"%s\",\"port\":%u,\"verify\":\"%s\",\"version\":\"%s\","
                 "\"cipher\":\"%s\",\"max_fragment\":%u,\"handshake_ms\":%lld,"
                 "\"tls_heap\":%zu,\"tls_heap_peak\":%zu,\"session_heap\":%zu",
                 host, port, s->t.verify ? "peer" : "none", SSL_get_version(s->t.ssl),
                 SSL_get_cipher_name(s->t.ssl), s->t.mfl, aos_now_ms() - t0,
                 g_heap.on ? heap_in_use() : (size_t)0,
                 g_heap.on && g_heap.peak > g_heap.base ? g_heap.peak - g_heap.base : (size_t)0,
                 g_heap.on ? heap_in_use() - heap0 : (size_t)0);
    return s;
err:
    if (g_heap.on && g_heap.refused)
        snprintf(why + strlen(why), sizeof(why) - strlen(why),
                 " (TLS heap budget %zu bytes: %lu allocations refused)", g_heap.budget,
                 g_heap.refused);
    {
        char esc[512];
        otahil_json_escape(esc, sizeof(esc), why);
        otahil_event("os", "tls.handshake_failed",
                     "\"host\":\"%s\",\"port\":%u,\"verify\":\"%s\",\"why\":\"%s\"", host,
                     port, s->t.verify ? "peer" : "none", esc);
    }
    if (s->fd > 0) close(s->fd);
    free(s);
    return NULL;
}

int32_t ota_ssl_send(void *ssl, char *buf, uint32_t len)
{
    struct ota_ssl *s = ssl;
    int n = s ? SSL_write(s->t.ssl, buf, (int)len) : -1;
    return n > 0 ? n : -1;
}

int32_t ota_ssl_recv(void *ssl, char *buf, uint32_t len)
{
    struct ota_ssl *s = ssl;
    if (!s)
        return -1;
    uint32_t got = 0;
    long long deadline = aos_now_ms() + OTA_SSL_TIMEOUT;
    while (got < len) {
        if (SSL_pending(s->t.ssl) == 0) {
            long long left = deadline - aos_now_ms();
            struct pollfd p = { s->fd, POLLIN, 0 };
            if (left <= 0 || poll(&p, 1, (int)left) <= 0)
                break;
        }
        int n = SSL_read(s->t.ssl, buf + got, (int)(len - got));
        if (n <= 0)
            break;
        got += (uint32_t)n;
    }
    return (int32_t)got; /* as HAL_SSL_Read: a timeout or close returns what arrived, maybe 0 */
}

/* ---- MQTT --------------------------------------------------------------- */

#define MAX_SUBS 8

struct sub {
    char topic[160];
    void (*cb)(char *topic, int topic_len, void *payload, int payload_len, void *ctx);
    void *ctx;
};

static struct mosquitto *g_mosq;
static pthread_mutex_t g_sub_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sub g_subs[MAX_SUBS];
static int g_nsubs;
static volatile int g_connected;
/* The last message id acknowledged (PUBACK): a publish returns once the broker has it. */
static pthread_mutex_t g_pub_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_pub_cv = PTHREAD_COND_INITIALIZER;
static int g_pub_acked[16];
static unsigned g_pub_nacked;
#define PUBACK_WAIT_MS 1000
static __thread int t_in_mqtt_thread; /* a callback: the PUBACK cannot arrive while it waits */

static void on_publish(struct mosquitto *m, void *ud, int mid)
{
    (void)m; (void)ud;
    pthread_mutex_lock(&g_pub_lock);
    g_pub_acked[g_pub_nacked++ % 16] = mid;
    pthread_cond_broadcast(&g_pub_cv);
    pthread_mutex_unlock(&g_pub_lock);
}

static int pub_acked(int mid)
{
    for (unsigned i = 0; i < 16 && i < g_pub_nacked; i++)
        if (g_pub_acked[i] == mid)
            return 1;
    return 0;
}

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
    (void)m; (void)ud;
    otahil_event("os", "mqtt.connected", "\"rc\":%d", rc);
    if (rc == 0) {
        g_connected = 1;
        t_in_mqtt_thread = 1;
        if (g_os.on_connected)
            g_os.on_connected();
    }
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc)
{
    (void)m; (void)ud;
    pthread_mutex_lock(&g_pub_lock);
    g_connected = 0;
    pthread_cond_broadcast(&g_pub_cv);
    pthread_mutex_unlock(&g_pub_lock);
    otahil_event("os", "mqtt.disconnected", "\"rc\":%d", rc);
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    (void)m; (void)ud;
    struct sub s;
    int found = 0;
    pthread_mutex_lock(&g_sub_lock);
    for (int i = 0; i < g_nsubs; i++)
        if (strcmp(g_subs[i].topic, msg->topic) == 0) {
            s = g_subs[i];
            found = 1;
            break;
        }
    pthread_mutex_unlock(&g_sub_lock);
    t_in_mqtt_thread = 1;
    if (found)
        s.cb(msg->topic, (int)strlen(msg->topic), msg->payload, msg->payloadlen, s.ctx);
}

/* password = lowercase hex HMAC-SHA1(deviceSecret, "clientId<id>deviceName<dn>productKey<pk>timestamp<ts>") */
static void sign_password(const char *pk, const char *dn, const char *ds, char out[41])
{
    char msg[512];
    unsigned char mac[20];
    unsigned int maclen = 0;
    snprintf(msg, sizeof(msg), "clientId%s.%sdeviceName%sproductKey%stimestamp2524608000000", pk,
             dn, dn, pk);
    HMAC(EVP_sha1(), ds, (int)strlen(ds), (const unsigned char *)msg, strlen(msg), mac, &maclen);
    for (unsigned i = 0; i < 20; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

void os_posix_mqtt_credentials(const char *pk, const char *dn, const char *ds,
                               char client_id[256], char user[128], char pass[41])
{
    snprintf(client_id, 256,
             "%s.%s|securemode=3,timestamp=2524608000000,signmethod=hmacsha1,gw=0,ext=0|", pk, dn);
    snprintf(user, 128, "%s&%s", dn, pk);
    sign_password(pk, dn, ds, pass);
}

int ota_hal_mqtt_init_instance(char *productKey, char *deviceName, char *deviceSecret,
                               int maxMsgSize)
{
    (void)maxMsgSize;
    if (g_mosq)
        return 1;
    char client_id[256], user[128], pass[41];
    os_posix_mqtt_credentials(productKey, deviceName, deviceSecret, client_id, user, pass);
    mosquitto_lib_init();
    /* G1: clean_session = 0, keepalive 60 s (spec §1.2). */
    g_mosq = mosquitto_new(client_id, false, NULL);
    if (!g_mosq)
        return -1;
    mosquitto_username_pw_set(g_mosq, user, pass);
    mosquitto_connect_callback_set(g_mosq, on_connect);
    mosquitto_disconnect_callback_set(g_mosq, on_disconnect);
    mosquitto_publish_callback_set(g_mosq, on_publish);
    mosquitto_message_callback_set(g_mosq, on_message);
    mosquitto_reconnect_delay_set(g_mosq, 1, 2, false);
    /* Each report is one small packet sent as soon as it is made, as a
     * device's stack with few packets in flight does; with Nagle's algorithm
     * a report following another unacknowledged one waited for the broker's
     * delayed acknowledgement (40 ms on loopback). */
    mosquitto_int_option(g_mosq, MOSQ_OPT_TCP_NODELAY, 1);
    if (g_os.mqtt_ca) {
        /* mqtts: the broker must chain to the device's CA and name its address. */
        int trc = mosquitto_tls_set(g_mosq, g_os.mqtt_ca, NULL, NULL, NULL, NULL);
        if (trc == MOSQ_ERR_SUCCESS)
            trc = mosquitto_tls_opts_set(g_mosq, SSL_VERIFY_PEER, NULL, NULL);
        if (trc != MOSQ_ERR_SUCCESS) {
            otahil_event("os", "mqtt.connect_failed", "\"error\":\"TLS: %s\"", mosquitto_strerror(trc));
            mosquitto_destroy(g_mosq);
            g_mosq = NULL;
            return -2;
        }
    }
    int rc = mosquitto_connect_async(g_mosq, g_os.broker_host, g_os.broker_port, 60);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_loop_start(g_mosq);
    if (rc != MOSQ_ERR_SUCCESS) {
        otahil_event("os", "mqtt.connect_failed", "\"error\":\"%s\"", mosquitto_strerror(rc));
        mosquitto_destroy(g_mosq);
        g_mosq = NULL;
        return -2;
    }
    return 0;
}

int ota_hal_mqtt_publish(char *topic, int qos, void *data, int len)
{
    if (!g_mosq)
        return -1;
    int mid = 0, rc;
    /* linkkit's IOT_MQTT_Publish writes the packet to the socket before it returns; the
     * libmosquitto thread sends later. Waiting (while connected, at most 1 s) for the
     * broker's PUBACK brings that back: a report made before a reboot reaches the broker,
     * whatever the schedule. */
    pthread_mutex_lock(&g_pub_lock);
    rc = mosquitto_publish(g_mosq, &mid, topic, len, data, qos, false);
    if (rc == MOSQ_ERR_SUCCESS && qos > 0 && g_connected && !t_in_mqtt_thread) {
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += PUBACK_WAIT_MS / 1000;
        while (g_connected && !pub_acked(mid))
            if (pthread_cond_timedwait(&g_pub_cv, &g_pub_lock, &dl) == ETIMEDOUT)
                break;
    }
    pthread_mutex_unlock(&g_pub_lock);
    return rc == MOSQ_ERR_SUCCESS ? 0 : -1;
}

int ota_hal_mqtt_subscribe(char *topic,
                           void (*cb)(char *topic, int topic_len, void *payload, int payload_len,
                                      void *ctx),
                           void *ctx)
{
    if (!g_mosq)
        return -1;
    pthread_mutex_lock(&g_sub_lock);
    int dup = 0;
    for (int i = 0; i < g_nsubs; i++)
        if (strcmp(g_subs[i].topic, topic) == 0)
            dup = 1; /* G1 ignores duplicate subscriptions */
    if (!dup && g_nsubs < MAX_SUBS) {
        snprintf(g_subs[g_nsubs].topic, sizeof(g_subs[0].topic), "%s", topic);
        g_subs[g_nsubs].cb = cb;
        g_subs[g_nsubs].ctx = ctx;
        g_nsubs++;
    }
    pthread_mutex_unlock(&g_sub_lock);
    return mosquitto_subscribe(g_mosq, NULL, topic, 1) == MOSQ_ERR_SUCCESS ? 0 : -1;
}

int ota_hal_mqtt_deinit_instance(void)
{
    if (!g_mosq)
        return 0;
    mosquitto_disconnect(g_mosq);
    mosquitto_loop_stop(g_mosq, false);
    mosquitto_destroy(g_mosq);
    g_mosq = NULL;
    return 0;
}

int os_posix_mqtt_connected(void)
{
    return g_connected;
}

/* Port log lines go to the event log. */
void otahil_port_log(const char *tag, const char *fmt, ...)
{
    char line[256], esc[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    otahil_json_escape(esc, sizeof(esc), line);
    otahil_event("port", "port.log", "\"tag\":\"%s\",\"line\":\"%s\"", tag, esc);
}
