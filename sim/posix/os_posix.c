/*
 * os_posix.c - the OS port layer (ota_hal_os.h) of the native device:
 * POSIX threads and time, TCP sockets with the default AliOS read semantics
 * (fill the whole buffer or wait OTA_SSL_TIMEOUT), TLS through OpenSSL, MQTT
 * through libmosquitto with Alibaba-style credentials (spec §2.1), KV through
 * aos_kv_*. Identity and broker address come from os_posix_configure().
 *
 * CoAP through libcoap's client (spec §3): one exchange at a time, run to its
 * response or OTA_COAP_WAIT_MS in the caller's thread, the callback called
 * before the send returns; coaps:// is DTLS: with a CA (os_posix_cfg.coap_ca)
 * the server's certificate must chain to it and name the host, as for TLS
 * below, and the device shows none of its own; without one, a pre-shared
 * key (identity "PK&DN", key the device secret). A refused handshake fails
 * the exchange at once (coap.dtls_failed with OpenSSL's reason).
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
#include <coap3/coap.h>
#include <mosquitto.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

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

int ota_hal_mqtt_init_instance(char *productKey, char *deviceName, char *deviceSecret,
                               int maxMsgSize)
{
    (void)maxMsgSize;
    if (g_mosq)
        return 1;
    char client_id[256], user[128], pass[41];
    snprintf(client_id, sizeof(client_id),
             "%s.%s|securemode=3,timestamp=2524608000000,signmethod=hmacsha1,gw=0,ext=0|",
             productKey, deviceName);
    snprintf(user, sizeof(user), "%s&%s", deviceName, productKey);
    sign_password(productKey, deviceName, deviceSecret, pass);
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

/* ---- CoAP (libcoap client) -------------------------------------------- */

#define COAP_RX_MAX 2048 /* largest response payload kept */

/* A response as the callbacks see it: copied out of libcoap's PDU. */
struct ota_coap_msg {
    int      code;                 /* class << 5 | detail */
    uint8_t  payload[COAP_RX_MAX];
    int      len;
    int      has_block2;
    uint32_t block2;               /* raw option value */
    uint8_t  etag[8];
    int      etag_len;             /* -1: no ETag */
    uint8_t  size2[8];
    int      size2_len;            /* -1: no Size2 */
};

struct ota_coap {
    coap_context_t *ctx;
    coap_session_t *sess;
    iotx_deviceinfo_t dev;
    char     token[65];            /* auth token, "" before DeviceNameAuth */
    pthread_mutex_t mu;            /* one exchange at a time (libcoap is not thread-safe) */
    uint8_t  tok[8];               /* CoAP token of the exchange in flight */
    size_t   toklen;
    int      done;
    struct ota_coap_msg rx;
    int      pki;                  /* coaps with certificates */
    char     host[128];            /* the server's address, checked against its certificate */
    char     ca[4096];             /* the CA file (pki) */
    char     why[200];             /* why the last handshake failed, "" if none did */
    int      failed;               /* the exchange in flight ended without an answer */
};

static pthread_once_t g_coap_once = PTHREAD_ONCE_INIT;
static void coap_once(void)
{
    coap_startup();
    coap_set_log_level(LOG_EMERG);
}

static coap_response_t coap_on_response(coap_session_t *sess, const coap_pdu_t *sent,
                                        const coap_pdu_t *rcv, const coap_mid_t mid)
{
    struct ota_coap *c = coap_get_app_data(coap_session_get_context(sess));
    coap_bin_const_t t = coap_pdu_get_token(rcv);
    coap_opt_iterator_t it;
    coap_opt_t *o;
    const uint8_t *data;
    size_t len;

    (void)sent;
    (void)mid;
    if (c->done || t.length != c->toklen || memcmp(t.s, c->tok, t.length) != 0)
        return COAP_RESPONSE_OK; /* late answer to an exchange given up */
    memset(&c->rx, 0, sizeof c->rx);
    c->rx.code = (int)coap_pdu_get_code(rcv);
    c->rx.etag_len = c->rx.size2_len = -1;
    if (coap_get_data(rcv, &len, &data)) {
        c->rx.len = len > COAP_RX_MAX ? COAP_RX_MAX : (int)len;
        memcpy(c->rx.payload, data, (size_t)c->rx.len);
    }
    coap_option_iterator_init(rcv, &it, COAP_OPT_ALL);
    while ((o = coap_option_next(&it)) != NULL) {
        size_t ol = coap_opt_length(o);
        if (it.number == COAP_OPTION_BLOCK2 && ol <= 3) {
            c->rx.has_block2 = 1;
            c->rx.block2 = coap_decode_var_bytes(coap_opt_value(o), ol);
        } else if (it.number == COAP_OPTION_ETAG && ol <= sizeof c->rx.etag) {
            c->rx.etag_len = (int)ol;
            memcpy(c->rx.etag, coap_opt_value(o), ol);
        } else if (it.number == COAP_OPTION_SIZE2 && ol <= sizeof c->rx.size2) {
            c->rx.size2_len = (int)ol;
            memcpy(c->rx.size2, coap_opt_value(o), ol);
        }
    }
    c->done = 1;
    return COAP_RESPONSE_OK;
}

/* libcoap's call once OpenSSL has checked the chain against the CA file
 * (ca_file, loaded by libcoap with check_common_ca) and the dates: the
 * server's certificate (depth 0) must also name the host we dialled, an IP
 * literal against its subjectAltName IP entries, as ota_ssl_connect. */
static int coap_pki_cn(const char *cn, const uint8_t *der, size_t len, coap_session_t *sess,
                       unsigned depth, int validated, void *arg)
{
    struct ota_coap *c = arg;
    const unsigned char *p = der;
    X509 *x;
    struct in_addr a;
    int ok;

    (void)sess;
    if (depth != 0)
        return 1;
    x = d2i_X509(NULL, &p, (long)len);
    ok = x && validated &&
         (inet_pton(AF_INET, c->host, &a) == 1 ? X509_check_ip_asc(x, c->host, 0) == 1
                                               : X509_check_host(x, c->host, 0, 0, NULL) == 1);
    X509_free(x);
    if (!ok) {
        snprintf(c->why, sizeof c->why, "certificate verify failed: %s does not name %s",
                 cn ? cn : "the certificate", c->host);
        return 0;
    }
    otahil_event("os", "coap.dtls_verified", "\"peer\":\"%s\",\"host\":\"%s\"", cn ? cn : "",
                 c->host);
    return 1;
}

/* A refused or broken handshake: why, from the verify result when there is one. */
static int coap_on_event(coap_session_t *sess, const coap_event_t ev)
{
    struct ota_coap *c = coap_get_app_data(coap_session_get_context(sess));
    coap_tls_library_t lib;
    SSL *ssl;

    if (ev == COAP_EVENT_DTLS_CONNECTED) {
        ssl = coap_session_get_tls(sess, &lib);
        otahil_event("os", "coap.dtls_connected", "\"auth\":\"%s\",\"cipher\":\"%s\"",
                     c->pki ? "certificate" : "psk",
                     ssl && lib == COAP_TLS_LIBRARY_OPENSSL ? SSL_get_cipher_name(ssl) : "");
        c->why[0] = '\0';
    } else if (ev == COAP_EVENT_DTLS_ERROR) {
        long vr = X509_V_OK;
        ssl = coap_session_get_tls(sess, &lib);
        if (ssl && lib == COAP_TLS_LIBRARY_OPENSSL)
            vr = SSL_get_verify_result(ssl);
        if (c->pki && c->why[0])
            ; /* the host check of coap_pki_cn */
        else if (c->pki && vr != X509_V_OK)
            snprintf(c->why, sizeof c->why, "certificate verify failed: %s",
                     X509_verify_cert_error_string(vr));
        else
            snprintf(c->why, sizeof c->why, "DTLS handshake failed%s",
                     c->pki ? "" : " (pre-shared key refused?)");
        otahil_event("os", "coap.dtls_failed", "\"host\":\"%s\",\"auth\":\"%s\",\"why\":\"%s\"",
                     c->host, c->pki ? "certificate" : "psk", c->why);
        c->failed = c->done = 1; /* the exchange in flight ends now, unanswered */
    }
    return 0;
}

/* A request libcoap gave up on (TLS failure, no route): the exchange ends. */
static void coap_on_nack(coap_session_t *sess, const coap_pdu_t *sent, const coap_nack_reason_t reason,
                         const coap_mid_t mid)
{
    struct ota_coap *c = coap_get_app_data(coap_session_get_context(sess));

    (void)sent;
    (void)mid;
    if (reason == COAP_NACK_TLS_FAILED || reason == COAP_NACK_NOT_DELIVERABLE)
        c->failed = c->done = 1;
}

void *ota_IOT_CoAP_Init(void *p_config)
{
    iotx_coap_config_t *cfg = p_config;
    char host[128];
    int port = 0, dtls;
    const char *u, *colon;
    coap_address_t dst;
    struct ota_coap *c;

    if (!cfg || !cfg->p_url || !cfg->p_devinfo)
        return NULL;
    dtls = strncmp(cfg->p_url, "coaps://", 8) == 0;
    if (!dtls && strncmp(cfg->p_url, "coap://", 7) != 0)
        return NULL;
    u = cfg->p_url + (dtls ? 8 : 7);
    colon = strrchr(u, ':');
    if (!colon || (size_t)(colon - u) >= sizeof host || (port = atoi(colon + 1)) <= 0 || port > 65535)
        return NULL;
    memcpy(host, u, (size_t)(colon - u));
    host[colon - u] = '\0';
    pthread_once(&g_coap_once, coap_once);
    c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->dev = *cfg->p_devinfo;
    pthread_mutex_init(&c->mu, NULL);
    coap_address_init(&dst);
    dst.addr.sin.sin_family = AF_INET;
    dst.addr.sin.sin_port = htons((uint16_t)port);
    dst.size = sizeof dst.addr.sin;
    if (inet_pton(AF_INET, host, &dst.addr.sin.sin_addr) != 1 || !(c->ctx = coap_new_context(NULL)))
        goto fail;
    coap_set_app_data(c->ctx, c);
    coap_register_response_handler(c->ctx, coap_on_response);
    coap_register_event_handler(c->ctx, coap_on_event);
    coap_register_nack_handler(c->ctx, coap_on_nack);
    snprintf(c->host, sizeof c->host, "%s", host);
    if (dtls && g_os.coap_ca) {
        coap_dtls_pki_t pk;
        if (strlen(g_os.coap_ca) >= sizeof c->ca)
            goto fail;
        snprintf(c->ca, sizeof c->ca, "%s", g_os.coap_ca);
        c->pki = 1;
        memset(&pk, 0, sizeof pk);
        pk.version = COAP_DTLS_PKI_SETUP_VERSION;
        pk.verify_peer_cert = 1;      /* chain to the CA, in date */
        pk.check_common_ca = 1;       /* libcoap loads ca_file as the trust anchor */
        pk.allow_self_signed = 0;
        pk.allow_expired_certs = 0;
        pk.cert_chain_validation = 1;
        pk.cert_chain_verify_depth = 3;
        pk.validate_cn_call_back = coap_pki_cn;
        pk.cn_call_back_arg = c;
        pk.pki_key.key_type = COAP_PKI_KEY_PEM;
        pk.pki_key.key.pem.ca_file = c->ca;
        c->sess = coap_new_client_session_pki(c->ctx, NULL, &dst, COAP_PROTO_DTLS, &pk);
    } else if (dtls) {
        static char id[IOTX_PRODUCT_KEY_LEN + IOTX_DEVICE_NAME_LEN + 2];
        coap_dtls_cpsk_t cp;
        memset(&cp, 0, sizeof cp);
        snprintf(id, sizeof id, "%s&%s", c->dev.product_key, c->dev.device_name);
        cp.version = COAP_DTLS_CPSK_SETUP_VERSION;
        cp.psk_info.identity.s = (const uint8_t *)id;
        cp.psk_info.identity.length = strlen(id);
        cp.psk_info.key.s = (const uint8_t *)c->dev.device_secret;
        cp.psk_info.key.length = strlen(c->dev.device_secret);
        c->sess = coap_new_client_session_psk2(c->ctx, NULL, &dst, COAP_PROTO_DTLS, &cp);
    } else {
        c->sess = coap_new_client_session(c->ctx, NULL, &dst, COAP_PROTO_UDP);
    }
    if (!c->sess)
        goto fail;
    otahil_event("os", "coap.client", "\"url\":\"%s\",\"dtls\":%s,\"auth\":\"%s\"", cfg->p_url,
                 dtls ? "true" : "false", !dtls ? "none" : c->pki ? "certificate" : "psk");
    return c;
fail:
    if (c->ctx)
        coap_free_context(c->ctx);
    pthread_mutex_destroy(&c->mu);
    free(c);
    return NULL;
}

/* One CON POST and its response (into c->rx). 0, or -1 when it cannot be
 * sent or no response came within OTA_COAP_WAIT_MS. */
static int coap_exchange(struct ota_coap *c, const char *path, const iotx_message_t *m, int block,
                         uint32_t block_val, int with_token)
{
    coap_pdu_t *pdu = coap_new_pdu(COAP_MESSAGE_CON, COAP_REQUEST_CODE_POST, c->sess);
    uint8_t b[4];
    const char *p = path;
    uint64_t t0;
    struct timespec ts;

    if (!pdu)
        return -1;
    coap_session_new_token(c->sess, &c->toklen, c->tok);
    coap_add_token(pdu, c->toklen, c->tok);
    while (*p) { /* Uri-Path (11): the path split on '/' */
        const char *q;
        while (*p == '/')
            p++;
        q = strchr(p, '/');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        if (n)
            coap_add_option(pdu, COAP_OPTION_URI_PATH, n, (const uint8_t *)p);
        p += n;
    }
    coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
                    coap_encode_var_safe(b, sizeof b, COAP_MEDIATYPE_APPLICATION_JSON), b);
    coap_add_option(pdu, COAP_OPTION_ACCEPT,
                    coap_encode_var_safe(b, sizeof b, COAP_MEDIATYPE_APPLICATION_OCTET_STREAM), b);
    if (block)
        coap_add_option(pdu, COAP_OPTION_BLOCK2, coap_encode_var_safe(b, sizeof b, block_val), b);
    if (with_token) /* COAP_OPTION_AUTH_TOKEN: 2088 as iotkit's cloud CoAP */
        coap_add_option(pdu, 2088, strlen(c->token), (const uint8_t *)c->token);
    if (m && m->p_payload && m->payload_len)
        coap_add_data(pdu, m->payload_len, m->p_payload);
    c->done = c->failed = 0;
    c->why[0] = '\0';
    if (coap_send(c->sess, pdu) == COAP_INVALID_MID)
        return -1;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    t0 = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    for (;;) {
        uint64_t now;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        now = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
        if (c->done)
            return c->failed ? -1 : 0;
        if (now - t0 >= OTA_COAP_WAIT_MS) {
            c->done = 1; /* a late answer is ignored */
            otahil_event("os", "coap.timeout", "\"path\":\"%s\",\"ms\":%d", path, OTA_COAP_WAIT_MS);
            return -1;
        }
        coap_io_process(c->ctx, (uint32_t)(OTA_COAP_WAIT_MS - (now - t0)) < 50
                                    ? (uint32_t)(OTA_COAP_WAIT_MS - (now - t0)) : 50);
    }
}

static void coap_deliver(struct ota_coap *c, iotx_message_t *m)
{
    if (m && m->resp_callback)
        m->resp_callback(m->user_data, &c->rx);
}

int ota_IOT_CoAP_DeviceNameAuth(void *p_context)
{
    struct ota_coap *c = p_context;
    char msg[512], sign[33];
    unsigned char mac[16];
    unsigned int maclen = 0;
    iotx_message_t m;
    int rc;

    if (!c)
        return -1;
    snprintf(msg, sizeof msg, "clientId%sdeviceName%sproductKey%s", c->dev.device_id,
             c->dev.device_name, c->dev.product_key);
    if (!HMAC(EVP_md5(), c->dev.device_secret, (int)strlen(c->dev.device_secret),
              (const unsigned char *)msg, strlen(msg), mac, &maclen) || maclen != 16)
        return -1;
    for (unsigned i = 0; i < 16; i++)
        snprintf(sign + 2 * i, 3, "%02x", mac[i]);
    snprintf(msg, sizeof msg, "{\"productKey\":\"%s\",\"deviceName\":\"%s\",\"clientId\":\"%s\","
             "\"sign\":\"%s\"}", c->dev.product_key, c->dev.device_name, c->dev.device_id, sign);
    memset(&m, 0, sizeof m);
    m.p_payload = (unsigned char *)msg;
    m.payload_len = (unsigned short)strlen(msg);
    pthread_mutex_lock(&c->mu);
    rc = coap_exchange(c, "/auth", &m, 0, 0, 0);
    if (rc == 0 && c->rx.code == IOTX_COAP_RESP_CODE_CONTENT) {
        cJSON *r = cJSON_ParseWithLength((const char *)c->rx.payload, (size_t)c->rx.len);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, "token");
        rc = cJSON_IsString(t) && strlen(t->valuestring) < sizeof c->token ? 0 : -2;
        if (rc == 0)
            snprintf(c->token, sizeof c->token, "%s", t->valuestring);
        cJSON_Delete(r);
    } else if (rc == 0) {
        rc = -3;
    }
    otahil_event("os", "coap.auth_reply", "\"ok\":%s,\"code\":\"%d.%02d\"", rc == 0 ? "true" : "false",
                 c->rx.code >> 5, c->rx.code & 31);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int ota_IOT_CoAP_SendMessage(void *p_context, char *p_path, void *p_message)
{
    struct ota_coap *c = p_context;
    int rc;

    if (!c || !p_path)
        return -1;
    pthread_mutex_lock(&c->mu);
    rc = coap_exchange(c, p_path, p_message, 0, 0, 1);
    if (rc == 0)
        coap_deliver(c, p_message);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int ota_IOT_CoAP_SendMessage_block(void *p_context, char *p_path, void *p_message,
                                   unsigned char block_type, int num, unsigned char more,
                                   unsigned int size)
{
    struct ota_coap *c = p_context;
    unsigned szx = 0;
    int rc;

    if (!c || !p_path || block_type != OTA_COAP_OPTION_BLOCK2 || num < 0 || num > 0xFFFFF)
        return -1;
    while (szx < 6 && (16u << szx) < size)
        szx++;
    if ((16u << szx) != size)
        return -1;
    pthread_mutex_lock(&c->mu);
    rc = coap_exchange(c, p_path, p_message, 1,
                       ((uint32_t)num << 4) | (more ? 8u : 0u) | szx, 1);
    if (rc == 0)
        coap_deliver(c, p_message);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int ota_IOT_CoAP_ParseOption_block(void *p_message, int type, unsigned int *num,
                                   unsigned int *more, unsigned int *size)
{
    const struct ota_coap_msg *m = p_message;

    if (!m || type != OTA_COAP_OPTION_BLOCK2 || !m->has_block2)
        return -1;
    *num = m->block2 >> 4;
    *more = (m->block2 >> 3) & 1u;
    *size = 16u << (m->block2 & 7u);
    return *size > 512 ? 1 : 0;
}

int ota_IOT_CoAP_GetMessagePayload(void *p_message, unsigned char **pp_payload, int *p_len)
{
    struct ota_coap_msg *m = p_message;

    if (!m)
        return -1;
    *pp_payload = m->payload;
    *p_len = m->len;
    return 0;
}

int ota_IOT_CoAP_GetMessageCode(void *p_message, void *p_resp_code)
{
    const struct ota_coap_msg *m = p_message;

    if (!m || !p_resp_code)
        return -1;
    *(iotx_coap_resp_code_t *)p_resp_code = (iotx_coap_resp_code_t)m->code;
    return 0;
}

int ota_IOT_CoAP_GetMessageOption(void *p_message, int number, unsigned char *buf, int *len)
{
    const struct ota_coap_msg *m = p_message;
    const uint8_t *v = NULL;
    int n = -1;

    if (!m || !buf || !len)
        return -1;
    if (number == OTA_COAP_OPTION_ETAG) { v = m->etag; n = m->etag_len; }
    else if (number == OTA_COAP_OPTION_SIZE2) { v = m->size2; n = m->size2_len; }
    if (n < 0 || n > *len)
        return -1;
    memcpy(buf, v, (size_t)n);
    *len = n;
    return 0;
}

int ota_IOT_CoAP_Deinit(void **pp_context)
{
    struct ota_coap *c = pp_context ? *pp_context : NULL;

    if (!c)
        return 0;
    coap_session_release(c->sess);
    coap_free_context(c->ctx);
    pthread_mutex_destroy(&c->mu);
    free(c);
    *pp_context = NULL;
    return 0;
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
