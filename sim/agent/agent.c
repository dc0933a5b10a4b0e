/*
 * agent.c - the reference OTA agent (see agent.h).
 *
 * Sequence (spec §1.7, G1): on connect subscribe /ota/device/upgrade, report
 * a pending version (progress "100" if it is now running, else "0"), inform
 * the running version, and confirm the boot through hal_ota_rollback(). On a
 * push: keep the version in KV, apply the version rule, send progress "100"
 * then "0" (the G1 sequence), and download on a thread: hal_ota_init with the
 * breakpoint, HTTP GET (Range when resuming; over TLS for https:// URLs, as a
 * G1 build with HTTPS_DL), 512-byte reads written through
 * hal_ota_write while MD5/SHA-256 and progress run, digest check, footer
 * check read back through hal_ota_read, hal_ota_set_boot(OTA_FINISH). Every
 * attempt, good or bad, ends in a reboot.
 *
 * Where G1 is defective the agent does what a correct device must: it checks
 * the HTTP status and Content-Length, accepts headers split across reads,
 * ignores a second push while downloading, compares the stored hash before
 * resuming, keeps the whole SHA-256 string, and clears resume state after a
 * digest failure.
 *
 * HTTPS: the agent passes the CA compiled into the device (agent_cfg.ca_crt)
 * to ota_ssl_connect, which then verifies the chain and the host name; a
 * device with no CA refuses https:// URLs rather than download unverified.
 * A failed handshake is a failed download (step -2). As in G1 there is no
 * ota_ssl_close: the session ends with the reboot that ends every attempt.
 *
 * CoAP (spec §3): with cfg.coap_url the signal channel is CoAP, through the
 * OS layer's ota_IOT_CoAP_* calls: /auth, then progress and inform POSTed
 * to /topic/ota/device/..., and a request whose answer is the push. G1
 * sends the request once; the agent repeats it while idle, so a job made
 * later still reaches it. With cfg.dl_coap the firmware comes in Block2
 * blocks (1024 bytes asked first, then the server's size), resumed at the
 * breakpoint's block (its first bytes skipped when the breakpoint is not on
 * a block boundary); where G1 is defective the agent checks NUM against
 * the offset, the code, the ETag (the same in every block), Size2 and the
 * block size (16..1024), and keeps breakpoint + this session's bytes.
 *
 * Breakpoints survive power cuts: with cfg.checkpoint set, every checkpoint
 * bytes the agent calls hal_ota_set_boot(OTA_BREAKPOINT) (the port makes the
 * data durable and saves its CRC16), then stores the digest state and, last,
 * the offset. Writes are split so a checkpoint falls exactly on its boundary
 * (a multiple of the sector size: a resumed port can erase from there). A
 * failed download keeps the last checkpoint rather than an unaligned offset,
 * since the bytes after it may sit half-programmed in a program unit. When
 * resuming, the digest state must have hashed exactly `offset` bytes, else it
 * is rebuilt by reading the partition back (a cut between the KV writes).
 * Freestanding.
 */
#include <stdio.h>
#include <string.h>

#include "aos/kv.h"
#include "hal/ota.h"
#include "ota_hal_os.h"
#include "sim/agent/agent.h"
#include "sim/crypto/md5.h"
#include "sim/crypto/sha256.h"
#include "sim/util/event.h"
#include "sim/util/jtok.h"
#include "sim/util/phase.h"
#include "sim/flash/flashsim.h"

/* KV keys (spec §5.1, §9.1). */
#define KEY_BREAKPOINT   "key_ota_breakpoint"
#define KEY_HASH         "key_ota_hash"
#define KEY_HASH_HEAD    "key_ota_hash_ctx_head"
#define KEY_HASH_BODY    "key_ota_hash_ctx_body"
#define KEY_OTA_VERSION  "ota_ota_version"
#define KEY_DEV_VERSION  "ota_dev_version"
#define KEY_APP_VERSION  "app_version"
#define KV_HASH_LEN      66

/* G1 status codes reported as negative steps (spec §1.6). */
#define ST_INIT_FAILED     (-1)
#define ST_DOWNLOAD_FAILED (-2)
#define ST_CHECK_FAILED    (-4)
#define ST_UPGRADE_FAILED  (-5)
#define ST_CHECK_IMAGE     (-8)
#define ST_DIFF_FAILED     (-9)

enum hash_method { HASH_MD5 = 0, HASH_SHA256 = 1 };

struct push {
    char     url[AGENT_URL_MAX];
    char     version[AGENT_VERSION_MAX + 1];
    char     hash[65];         /* expected digest, uppercase hex */
    int      method;           /* enum hash_method */
    uint32_t size;             /* file size from the push */
};

union hash_ctx {
    struct md5_ctx    md5;
    struct sha256_ctx sha;
};

static struct agent_cfg g_cfg;
static char g_topic_upgrade[128], g_topic_inform[128], g_topic_progress[128];
static volatile int g_busy;
static struct push g_push;
static char g_resp[AGENT_RESP_MAX_LEN];
static struct jtok g_toks[96];
static char g_rx[AGENT_READ_SIZE + 1];

/* CoAP: the client and the response the callback copied for the waiter. */
static void *g_coap;
static void *g_coap_sem;
static int   g_coap_authed;
static struct {
    int           code;                 /* iotx_coap_resp_code_t */
    unsigned char data[AGENT_RESP_MAX_LEN];
    int           len;                  /* bytes in data (cut at its size) */
    int           full_len;             /* payload bytes received */
    int           has_block;
    unsigned int  num, more, size;
    unsigned char etag[8];
    int           etag_len;             /* -1: none */
    uint32_t      size2;
    int           has_size2;
} g_cr;

/* ---- messages ---------------------------------------------------------- */

static void coap_cb(void *arg, void *msg)
{
    unsigned char *p = NULL, b[8];
    int n = 0, bl = (int)sizeof(b);
    iotx_coap_resp_code_t code = 0;
    (void)arg;
    memset(&g_cr, 0, sizeof(g_cr));
    (void)ota_IOT_CoAP_GetMessageCode(msg, &code);
    g_cr.code = (int)code;
    if (ota_IOT_CoAP_GetMessagePayload(msg, &p, &n) == 0 && p && n > 0) {
        g_cr.full_len = n;
        g_cr.len = n < (int)sizeof(g_cr.data) ? n : (int)sizeof(g_cr.data);
        memcpy(g_cr.data, p, (size_t)g_cr.len);
    }
    /* A size above 512 is flagged by G1's parser and used all the same. */
    g_cr.has_block = ota_IOT_CoAP_ParseOption_block(msg, OTA_COAP_OPTION_BLOCK2, &g_cr.num,
                                                    &g_cr.more, &g_cr.size) >= 0;
    g_cr.etag_len = -1;
    if (ota_IOT_CoAP_GetMessageOption(msg, OTA_COAP_OPTION_ETAG, g_cr.etag, &bl) == 0)
        g_cr.etag_len = bl;
    bl = (int)sizeof(b);
    if (ota_IOT_CoAP_GetMessageOption(msg, OTA_COAP_OPTION_SIZE2, b, &bl) == 0 && bl <= 4) {
        g_cr.has_size2 = 1;
        for (int i = 0; i < bl; i++)
            g_cr.size2 = g_cr.size2 << 8 | b[i];
    }
    ota_semaphore_post(g_coap_sem);
}

/* One CoAP POST (a Block2 request when size > 0) and its response in g_cr.
 * 0, or -1 when it was not sent or not answered in time. */
static int coap_post(const char *path, const char *msg, int block_num, unsigned size)
{
    iotx_message_t m;
    memset(&m, 0, sizeof(m));
    m.p_payload = (unsigned char *)msg;
    m.payload_len = (unsigned short)(msg ? strlen(msg) : 0);
    m.content_type = IOTX_CONTENT_TYPE_JSON;
    m.msg_type = IOTX_MESSAGE_CON;
    m.resp_callback = coap_cb;
    int rc = size ? ota_IOT_CoAP_SendMessage_block(g_coap, (char *)path, &m, OTA_COAP_OPTION_BLOCK2,
                                                   block_num, 1, size)
                  : ota_IOT_CoAP_SendMessage(g_coap, (char *)path, &m);
    if (rc < 0)
        return -1;
    if (ota_semaphore_wait(g_coap_sem, AGENT_COAP_WAIT_MS) != 0)
        return -1;
    if (g_cr.code == IOTX_COAP_RESP_CODE_UNAUTHORIZED)
        g_coap_authed = 0; /* the token was refused: authenticate again */
    return 0;
}

static void publish(const char *topic, const char *msg)
{
    if (g_cfg.coap_url) {
        if (coap_post(topic, msg, 0, 0) != 0 || g_cr.code >= 0x80)
            otahil_event("agent", "agent.publish_failed", "\"topic\":\"%s\",\"rc\":%d", topic,
                         g_cr.code >= 0x80 ? -g_cr.code : -1);
        return;
    }
    /* uOTA publishes strlen+1 bytes: the trailing NUL goes on the wire. */
    int rc = ota_hal_mqtt_publish((char *)topic, 1, (void *)msg, (int)strlen(msg) + 1);
    if (rc < 0)
        otahil_event("agent", "agent.publish_failed", "\"topic\":\"%s\",\"rc\":%d", topic, rc);
}

static void progress(int step, const char *desc)
{
    char msg[160];
    snprintf(msg, sizeof(msg), "{\"id\":0,\"params\":{\"step\": \"%d\",\"desc\":\"%s\"}}", step,
             desc);
    otahil_event("agent", "agent.progress", "\"step\":%d,\"desc\":\"%s\"", step, desc);
    publish(g_topic_progress, msg);
}

static void inform(const char *version)
{
    char msg[160], esc[2 * AGENT_VERSION_MAX];
    otahil_json_escape(esc, sizeof(esc), version);
    snprintf(msg, sizeof(msg), "{\"id\":0,\"params\":{\"version\":\"%s\"}}", esc);
    otahil_event("agent", "agent.inform", "\"version\":\"%s\"", esc);
    publish(g_topic_inform, msg);
}

static const char *status_desc(int st)
{
    switch (st) {
    case ST_INIT_FAILED: return "ota init failed";
    case ST_DOWNLOAD_FAILED: return "ota download failed";
    case ST_CHECK_FAILED: return "ota check hash failed";
    case ST_UPGRADE_FAILED: return "ota upgrade failed";
    case ST_CHECK_IMAGE: return "ota check image failed";
    case ST_DIFF_FAILED: return "ota diff failed";
    default: return "ota failed";
    }
}

/* ---- KV helpers -------------------------------------------------------- */

static int kv_get_str(const char *key, char *buf, int n)
{
    memset(buf, 0, (size_t)n);
    int len = n - 1;
    return ota_kv_get(key, buf, &len);
}

static void kv_set_version(const char *key, const char *v)
{
    char buf[AGENT_VERSION_MAX];
    size_t n = strlen(v);
    memset(buf, 0, sizeof(buf));
    memcpy(buf, v, n < sizeof(buf) - 1 ? n : sizeof(buf) - 1);
    ota_kv_set(key, buf, sizeof(buf), 1);
}

static void finish_attempt(const char *why) __attribute__((noreturn));
static void finish_attempt(const char *why)
{
    ota_msleep(g_cfg.reboot_delay_ms);
    otahil_event("agent", "agent.reboot", "\"reason\":\"%s\"", why);
    ota_reboot();
    for (;;)
        ota_msleep(1000);
}

static void fail(int status, const char *why) __attribute__((noreturn));
static void fail(int status, const char *why)
{
    progress(status, status_desc(status));
    finish_attempt(why);
}

/* ---- service init ------------------------------------------------------ */

static void post_version_msg(void)
{
    char pending[AGENT_VERSION_MAX + 1];
    if (kv_get_str(KEY_OTA_VERSION, pending, sizeof(pending)) == 0 && pending[0]) {
        int done = strncmp(g_cfg.version, pending, strlen(g_cfg.version)) == 0;
        progress(done ? 100 : 0, "");
        kv_set_version(KEY_OTA_VERSION, "");
    }
}

static void on_push(char *topic, int topic_len, void *payload, int payload_len, void *ctx);

void agent_on_connected(void)
{
    otahil_event("agent", "agent.service_init", "\"version\":\"%s\"", g_cfg.version);
    if (ota_hal_mqtt_subscribe(g_topic_upgrade, on_push, NULL) < 0)
        otahil_event("agent", "agent.subscribe_failed", "\"topic\":\"%s\"", g_topic_upgrade);
    post_version_msg();
    inform(g_cfg.version);
    char dev[AGENT_VERSION_MAX + 1];
    if (kv_get_str(KEY_DEV_VERSION, dev, sizeof(dev)) != 0 || strcmp(dev, g_cfg.version) != 0)
        kv_set_version(KEY_DEV_VERSION, g_cfg.version);
    if (g_cfg.confirm && !g_busy)
        (void)hal_ota_rollback(NULL, NULL);
}

/* The CoAP service: authenticate (again after a 4.01), then as on an MQTT
 * connect report a pending version, inform and confirm; then request the
 * push while idle. Never returns. */
static void *coap_service(void *arg)
{
    char msg[200], esc[2 * AGENT_VERSION_MAX];
    int inited = 0;
    (void)arg;
    for (;;) {
        if (!g_coap_authed) {
            if (ota_IOT_CoAP_DeviceNameAuth(g_coap) != 0) {
                otahil_event("agent", "agent.coap_auth_failed", "");
                ota_msleep(AGENT_COAP_POLL_MS);
                continue;
            }
            g_coap_authed = 1;
        }
        if (!inited) { /* once per boot, as ota_service_init */
            inited = 1;
            otahil_event("agent", "agent.service_init", "\"version\":\"%s\",\"signal\":\"coap\","
                         "\"download\":\"%s\"", g_cfg.version, g_cfg.dl_coap ? "coap" : "http");
            post_version_msg();
            inform(g_cfg.version);
            char dev[AGENT_VERSION_MAX + 1];
            if (kv_get_str(KEY_DEV_VERSION, dev, sizeof(dev)) != 0 || strcmp(dev, g_cfg.version) != 0)
                kv_set_version(KEY_DEV_VERSION, g_cfg.version);
            if (g_cfg.confirm && !g_busy)
                (void)hal_ota_rollback(NULL, NULL);
        }
        if (!g_busy) {
            /* §3.2: the answer to the request is the push (mode coap: CoAP download). */
            otahil_json_escape(esc, sizeof(esc), g_cfg.version);
            snprintf(msg, sizeof(msg), g_cfg.dl_coap ? "{\"id\":0,\"params\":{\"mode\":\"coap\","
                     "\"version\":\"%s\"}}" : "{\"id\":0,\"params\":{\"version\":\"%s\"}}", esc);
            if (coap_post(g_topic_upgrade, msg, 0, 0) == 0 && g_cr.code == IOTX_COAP_RESP_CODE_CONTENT &&
                g_cr.full_len > 0)
                on_push(NULL, 0, g_cr.data, g_cr.full_len, NULL);
        }
        ota_msleep(AGENT_COAP_POLL_MS);
    }
    return NULL;
}

static int coap_start(void)
{
    static iotx_deviceinfo_t dev;
    static iotx_coap_config_t cc;
    memset(&dev, 0, sizeof(dev));
    snprintf(dev.product_key, sizeof(dev.product_key), "%s", g_cfg.pk);
    snprintf(dev.device_name, sizeof(dev.device_name), "%s", g_cfg.dn);
    snprintf(dev.device_secret, sizeof(dev.device_secret), "%s", g_cfg.ds);
    /* G1 puts the product secret in device_id: it becomes the clientId. */
    char ps[PRODUCT_SECRET_MAXLEN] = { 0 };
    (void)ota_HAL_GetProductSecret(ps);
    snprintf(dev.device_id, sizeof(dev.device_id), "%s", ps);
    cc.p_url = (char *)g_cfg.coap_url;
    cc.p_devinfo = &dev;
    g_coap_sem = ota_semaphore_init();
    g_coap = g_coap_sem ? ota_IOT_CoAP_Init(&cc) : NULL;
    if (!g_coap) {
        otahil_event("agent", "agent.coap_failed", "\"url\":\"%s\"", g_cfg.coap_url);
        return -1;
    }
    void *h = NULL;
    hal_os_thread_param_t p = { os_thread_priority_normal, NULL, 4096, 1, "ota_coap" };
    return ota_thread_create(&h, coap_service, NULL, &p, NULL) == 0 ? 0 : -1;
}

int agent_start(const struct agent_cfg *cfg)
{
    g_cfg = *cfg;
    const char *pre = cfg->coap_url ? "/topic" : ""; /* CoAP Uri-Path (spec §3.2) */
    snprintf(g_topic_upgrade, sizeof(g_topic_upgrade), "%s/ota/device/%s/%s/%s", pre,
             cfg->coap_url ? "request" : "upgrade", cfg->pk, cfg->dn);
    snprintf(g_topic_inform, sizeof(g_topic_inform), "%s/ota/device/%s/%s/%s", pre, "inform",
             cfg->pk, cfg->dn);
    snprintf(g_topic_progress, sizeof(g_topic_progress), "%s/ota/device/%s/%s/%s", pre, "progress",
             cfg->pk, cfg->dn);
    /* version_init(): KV app_version holds the running version, no NUL. */
    ota_kv_set(KEY_APP_VERSION, cfg->version, (int)strlen(cfg->version), 1);
    if (cfg->coap_url)
        return coap_start();
    int rc = ota_hal_mqtt_init_instance((char *)cfg->pk, (char *)cfg->dn, (char *)cfg->ds, 2048);
    if (rc < 0) {
        otahil_event("agent", "agent.mqtt_failed", "\"rc\":%d", rc);
        return rc;
    }
    return 0;
}

/* ---- push parsing ------------------------------------------------------ */

static int prefix_ci(const char *s, size_t slen, const char *pfx)
{
    size_t n = strlen(pfx);
    if (slen < n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char a = s[i], b = pfx[i];
        if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z') b = (char)(b - 'A' + 'a');
        if (a != b)
            return 0;
    }
    return 1;
}

static void upper(char *s)
{
    for (; *s; s++)
        if (*s >= 'a' && *s <= 'z')
            *s = (char)(*s - 'a' + 'A');
}

/* Parses g_resp into g_push. 0, or -1 with *why set. */
static int parse_push(const char **why, long *is_diff)
{
    const char *js = g_resp;
    int n = jtok_parse(js, strlen(js), g_toks, (int)(sizeof(g_toks) / sizeof(g_toks[0])));
    *is_diff = 0;
    if (n < 1 || g_toks[0].type != JTOK_OBJECT) { *why = "not a JSON object"; return -1; }
    int t = jtok_find(js, g_toks, n, 0, "message");
    if (t < 0 || g_toks[t].type != JTOK_STRING ||
        !prefix_ci(js + g_toks[t].start, (size_t)(g_toks[t].end - g_toks[t].start), "success")) {
        *why = "message is not success";
        return -1;
    }
    int d = jtok_find(js, g_toks, n, 0, "data");
    if (d < 0 || g_toks[d].type != JTOK_OBJECT) { *why = "no data object"; return -1; }

    memset(&g_push, 0, sizeof(g_push));
    t = jtok_find(js, g_toks, n, d, "url");
    if (t < 0 || g_toks[t].type != JTOK_STRING) { *why = "no url"; return -1; }
    (void)jtok_copy(js, &g_toks[t], g_push.url, sizeof(g_push.url)); /* cut at 1023 as G1 */
    t = jtok_find(js, g_toks, n, d, "version");
    if (t < 0 || g_toks[t].type != JTOK_STRING) { *why = "no version"; return -1; }
    (void)jtok_copy(js, &g_toks[t], g_push.version, sizeof(g_push.version));
    /* G1 saves the pending version before any check. */
    kv_set_version(KEY_OTA_VERSION, g_push.version);

    int sm = jtok_find(js, g_toks, n, d, "signMethod");
    int hv;
    if (sm >= 0) {
        const char *v = js + g_toks[sm].start;
        size_t vl = (size_t)(g_toks[sm].end - g_toks[sm].start);
        if (g_toks[sm].type == JTOK_STRING && prefix_ci(v, vl, "Md5"))
            g_push.method = HASH_MD5;
        else if (g_toks[sm].type == JTOK_STRING && prefix_ci(v, vl, "Sha256"))
            g_push.method = HASH_SHA256;
        else { *why = "unknown signMethod"; return -1; }
        hv = jtok_find(js, g_toks, n, d, "sign");
    } else {
        g_push.method = HASH_MD5;
        hv = jtok_find(js, g_toks, n, d, "md5");
    }
    if (hv < 0 || g_toks[hv].type != JTOK_STRING) { *why = "no digest"; return -1; }
    size_t want = g_push.method == HASH_MD5 ? 32 : 64;
    char tmp[AGENT_VERSION_MAX * 2];
    int hl = jtok_copy(js, &g_toks[hv], tmp, sizeof(tmp));
    if (hl < (int)want) { *why = "digest too short"; return -1; }
    memcpy(g_push.hash, tmp, want);
    g_push.hash[want] = 0;
    upper(g_push.hash);

    t = jtok_find(js, g_toks, n, d, "size");
    long size = 0;
    if (t < 0 || g_toks[t].type != JTOK_PRIMITIVE || jtok_int(js, &g_toks[t], &size) != 0 ||
        size <= 0 || size > 0x7FFFFFFFL) {
        *why = "size is not a positive JSON number";
        return -1;
    }
    g_push.size = (uint32_t)size;
    t = jtok_find(js, g_toks, n, d, "isDiff");
    if (t >= 0 && g_toks[t].type == JTOK_PRIMITIVE)
        (void)jtok_int(js, &g_toks[t], is_diff);
    return 0;
}

static void *download_thread(void *arg);

static void on_push(char *topic, int topic_len, void *payload, int payload_len, void *ctx)
{
    (void)topic; (void)topic_len; (void)ctx;
    otahil_event("agent", "agent.push", "\"len\":%d", payload_len);
    if (g_busy) {
        otahil_event("agent", "agent.push_ignored", "\"reason\":\"download in progress\"");
        return;
    }
    /* strncpy into OTA_RESP_MAX_LEN: anything past 1215 bytes is lost. */
    size_t n = payload_len < 0 ? 0 : (size_t)payload_len;
    if (n > sizeof(g_resp) - 1)
        n = sizeof(g_resp) - 1;
    memset(g_resp, 0, sizeof(g_resp));
    memcpy(g_resp, payload, n);

    const char *why = "";
    long is_diff = 0;
    if (parse_push(&why, &is_diff) != 0) {
        otahil_event("agent", "agent.push_invalid", "\"reason\":\"%s\",\"len\":%d", why,
                     payload_len);
        return;
    }
    char cur[AGENT_VERSION_MAX + 1], vesc[2 * AGENT_VERSION_MAX];
    kv_get_str(KEY_APP_VERSION, cur, sizeof(cur));
    otahil_json_escape(vesc, sizeof(vesc), g_push.version);
    if (!agent_version_newer(g_push.version, cur)) {
        otahil_event("agent", "agent.push_rejected",
                     "\"version\":\"%s\",\"reason\":\"ota cancel,ota version don't match dev version !\"",
                     vesc);
        progress(ST_INIT_FAILED, status_desc(ST_INIT_FAILED));
        return;
    }
    otahil_event("agent", "agent.push_accepted",
                 "\"version\":\"%s\",\"size\":%lu,\"sign_method\":\"%s\"", vesc,
                 (unsigned long)g_push.size, g_push.method == HASH_MD5 ? "Md5" : "Sha256");
    progress(100, "");
    progress(0, "");
    if (is_diff) {
        g_busy = 1;
        fail(ST_DIFF_FAILED, "diff packages are not supported by this device");
    }
    g_busy = 1;
    void *h = NULL;
    hal_os_thread_param_t p = { os_thread_priority_normal, NULL, 4096, 1, "ota_thread" };
    if (ota_thread_create(&h, download_thread, NULL, &p, NULL) != 0)
        finish_attempt("ota_thread creation failed"); /* G1 reboots too */
}

/* ---- digests ----------------------------------------------------------- */

static void hash_init(union hash_ctx *h)
{
    if (g_push.method == HASH_MD5) md5_init(&h->md5); else sha256_init(&h->sha);
}

static void hash_update(union hash_ctx *h, const void *p, size_t n)
{
    if (g_push.method == HASH_MD5) md5_update(&h->md5, p, n); else sha256_update(&h->sha, p, n);
}

static void hash_hex(union hash_ctx *h, char out[65])
{
    uint8_t d[32];
    size_t n = g_push.method == HASH_MD5 ? 16 : 32;
    if (g_push.method == HASH_MD5) md5_final(&h->md5, d); else sha256_final(&h->sha, d);
    static const char hx[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[2 * n] = 0;
}

static size_t hash_ctx_size(void)
{
    return g_push.method == HASH_MD5 ? sizeof(struct md5_ctx) : sizeof(struct sha256_ctx);
}

/* ---- breakpoint state -------------------------------------------------- */

static void save_breakpoint(uint32_t off, const union hash_ctx *h)
{
    unsigned prev = otahil_phase_enter(FLASHSIM_PH_BREAKPOINT);
    char hash[KV_HASH_LEN];
    uint32_t head[2] = { (uint32_t)g_push.method, (uint32_t)hash_ctx_size() };
    memset(hash, 0, sizeof(hash));
    memcpy(hash, g_push.hash, strlen(g_push.hash));
    ota_kv_set(KEY_HASH, hash, sizeof(hash), 1);
    ota_kv_set(KEY_HASH_HEAD, head, sizeof(head), 1);
    ota_kv_set(KEY_HASH_BODY, h, (int)hash_ctx_size(), 1);
    ota_kv_set(KEY_BREAKPOINT, &off, sizeof(off), 1);
    otahil_phase_leave(prev);
    otahil_event("agent", "agent.breakpoint_saved", "\"offset\":%lu", (unsigned long)off);
    otahil_sync();
}

static void clear_breakpoint(void)
{
    uint32_t bp = 0, zero = 0;
    int len = sizeof(bp);
    if (ota_kv_get(KEY_BREAKPOINT, &bp, &len) == 0 && bp == 0)
        return;
    ota_kv_set(KEY_BREAKPOINT, &zero, sizeof(zero), 1);
}

static uint64_t hash_count(const union hash_ctx *h)
{
    return g_push.method == HASH_MD5 ? h->md5.count : h->sha.count;
}

/* Offset to resume at, with *h restored; 0 (and *h fresh) otherwise.
 * *h_ok is 0 when the saved digest state belongs to another offset. */
static uint32_t load_breakpoint(union hash_ctx *h, int *h_ok)
{
    *h_ok = 0;
    uint32_t bp = 0, head[2] = { 0, 0 };
    char hash[KV_HASH_LEN + 1];
    int len = sizeof(bp);
    hash_init(h);
    if (!g_cfg.resume || ota_kv_get(KEY_BREAKPOINT, &bp, &len) != 0 || len != 4 || bp == 0)
        return 0;
    if (kv_get_str(KEY_HASH, hash, sizeof(hash)) != 0 || strcmp(hash, g_push.hash) != 0) {
        otahil_event("agent", "agent.breakpoint_discarded", "\"reason\":\"different firmware\"");
        return 0;
    }
    len = sizeof(head);
    if (ota_kv_get(KEY_HASH_HEAD, head, &len) != 0 || head[0] != (uint32_t)g_push.method ||
        head[1] != hash_ctx_size())
        return 0;
    union hash_ctx tmp;
    len = (int)sizeof(tmp);
    if (ota_kv_get(KEY_HASH_BODY, &tmp, &len) != 0 || len != (int)hash_ctx_size())
        return 0;
    if (bp > g_push.size)
        return 0;
    *h = tmp;
    *h_ok = hash_count(&tmp) == bp;
    return bp;
}

/* Rebuilds the digest state from the first off bytes already in flash. */
static int rehash_from_flash(union hash_ctx *h, uint32_t off)
{
    hash_init(h);
    volatile uint32_t pos = 0;
    while (pos < off) {
        uint32_t n = off - pos < AGENT_READ_SIZE ? off - pos : AGENT_READ_SIZE;
        if (hal_ota_read(NULL, &pos, (uint8_t *)g_rx, n) != 0)
            return -1;
        hash_update(h, g_rx, n);
    }
    otahil_event("agent", "agent.hash_rebuilt", "\"offset\":%lu", (unsigned long)off);
    return 0;
}

/* ---- HTTP download ----------------------------------------------------- */

enum dl_result { DL_OK = 0, DL_NET = -1, DL_WRITE = -2, DL_SERVER = -3 };

struct url {
    char host[256];
    int  port;
    int  tls;          /* https:// */
    const char *path;  /* after the first '/', query included */
};

static int parse_url(const char *u, struct url *out)
{
    out->tls = 0;
    if (strncmp(u, "http://", 7) == 0) u += 7;
    else if (strncmp(u, "https://", 8) == 0) { u += 8; out->tls = 1; } /* G1 with HTTPS_DL */
    const char *slash = strchr(u, '/');
    size_t hl = slash ? (size_t)(slash - u) : strlen(u);
    if (hl == 0 || hl >= sizeof(out->host))
        return -1;
    memcpy(out->host, u, hl);
    out->host[hl] = 0;
    out->path = slash ? slash + 1 : "";
    out->port = out->tls ? 443 : 80;
    char *colon = strchr(out->host, ':');
    if (colon) {
        *colon = 0;
        long p = 0;
        for (const char *c = colon + 1; *c; c++) {
            if (*c < '0' || *c > '9') return -1;
            p = p * 10 + (*c - '0');
            if (p > 65535) return -1;
        }
        out->port = (int)p;
    }
    return 0;
}

static const char *find_ci(const char *h, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (prefix_ci(h + i, k, needle))
            return h + i;
    return NULL;
}

struct dl {
    union hash_ctx *hash;
    uint32_t base;       /* resume offset */
    uint32_t received;   /* body bytes of this response */
    uint32_t clen;       /* Content-Length of this response */
    int      divisor;    /* next progress threshold (percent) */
    uint32_t saved;      /* offset of the last breakpoint saved (0: none) */
    int      range_ignored; /* a Range request was answered with the whole file */
};

static int body(struct dl *d, const char *p, uint32_t n)
{
    if (n == 0)
        return DL_OK;
    if (d->received + n > d->clen)
        n = d->clen - d->received; /* never write past the announced length */
    uint32_t cp = g_cfg.resume ? g_cfg.checkpoint : 0;
    while (n) {
        uint32_t pos = d->base + d->received, k = n;
        if (cp && pos / cp != (pos + k) / cp)
            k = (pos / cp + 1) * cp - pos; /* stop exactly on the checkpoint */
        if (hal_ota_write(NULL, NULL, (uint8_t *)p, k) != 0)
            return DL_WRITE;
        hash_update(d->hash, p, k);
        d->received += k;
        p += k;
        n -= k;
        pos += k;
        if (cp && pos % cp == 0 && pos < g_push.size) {
            ota_finish_param_t bp = { OTA_APP, OTA_BREAKPOINT, OTA_RAW, 0, 0, 0 };
            if (hal_ota_set_boot(NULL, &bp) != 0)
                return DL_WRITE;
            save_breakpoint(pos, d->hash);
            d->saved = pos;
        }
    }
    int pct = d->clen ? (int)((uint64_t)d->received * 100 / d->clen) : 100;
    if (pct >= d->divisor) {
        progress(pct, "");
        d->divisor += 10;
    }
    return DL_OK;
}

static char g_hdr[2048];

/* One download connection: a socket, or a TLS session over one. */
struct conn {
    int   fd;     /* plain TCP; 0 with TLS */
    void *ssl;    /* ota_ssl_* handle; NULL for plain TCP */
};

static int conn_open(struct conn *c, const struct url *u, const char **why)
{
    c->fd = 0;
    c->ssl = NULL;
    if (!u->tls) {
        c->fd = ota_socket_connect((char *)u->host, u->port);
        if (c->fd <= 0) { *why = "connect failed"; return -1; }
        return 0;
    }
    if (!g_cfg.ca_crt) { *why = "no CA to verify the https server against"; return -1; }
    c->ssl = ota_ssl_connect(u->host, (uint16_t)u->port, g_cfg.ca_crt, g_cfg.ca_crt_len);
    if (!c->ssl) { *why = "TLS connect failed (certificate or handshake)"; return -1; }
    return 0;
}

static int conn_send(struct conn *c, char *buf, int n)
{
    return c->ssl ? (int)ota_ssl_send(c->ssl, buf, (uint32_t)n) : ota_socket_send(c->fd, buf, (size_t)n);
}

/* <= 0 is a failed read either way (a TLS read returns 0 at a timeout or close). */
static int conn_recv(struct conn *c, char *buf, int n)
{
    return c->ssl ? (int)ota_ssl_recv(c->ssl, buf, (uint32_t)n) : ota_socket_recv(c->fd, buf, (size_t)n);
}

static void conn_close(struct conn *c)
{
    if (!c->ssl)
        ota_socket_close(c->fd); /* no ota_ssl_close in G1: the reboot ends the session */
}

static int http_download(struct dl *d, const struct url *u, const char **why)
{
    char req[AGENT_URL_MAX + 512] = { 0 }; /* no residue of earlier calls: states compare equal */
    struct conn cn;
    if (conn_open(&cn, u, why) != 0)
        return DL_NET;
    int n;
    if (d->base)
        n = snprintf(req, sizeof(req),
                     "GET /%s HTTP/1.1\r\nAccept:*/*\r\nUser-Agent: Mozilla/5.0\r\n"
                     "Cache-Control: no-cache\r\nConnection: close\r\n"
                     "Range: bytes=%lu-\r\nHost:%s:%d\r\n\r\n",
                     u->path, (unsigned long)d->base, u->host, u->port);
    else
        n = snprintf(req, sizeof(req),
                     "GET /%s HTTP/1.1\r\nAccept:*/*\r\nUser-Agent: Mozilla/5.0\r\n"
                     "Cache-Control: no-cache\r\nConnection: close\r\nHost:%s:%d\r\n\r\n",
                     u->path, u->host, u->port);
    otahil_event("agent", "agent.http_get", "\"host\":\"%s\",\"port\":%d,\"tls\":%s,\"range_from\":%lu",
                 u->host, u->port, u->tls ? "true" : "false", (unsigned long)d->base);
    if (n <= 0 || n >= (int)sizeof(req) || conn_send(&cn, req, n) != n) {
        conn_close(&cn);
        *why = "request not sent";
        return DL_NET;
    }

    size_t hlen = 0;
    int in_body = 0, fails = 0, rc = DL_OK;
    while (!in_body || d->received < d->clen) {
        int r = conn_recv(&cn, g_rx, AGENT_READ_SIZE);
        if (r <= 0) {
            if (++fails > AGENT_READ_RETRIES) { *why = "read failed 7 times"; rc = DL_NET; break; }
            continue;
        }
        fails = 0;
        if (in_body) {
            if ((rc = body(d, g_rx, (uint32_t)r)) != DL_OK) { *why = "flash write failed"; break; }
            continue;
        }
        if (hlen + (size_t)r > sizeof(g_hdr) - 1) { *why = "header block too long"; rc = DL_SERVER; break; }
        memcpy(g_hdr + hlen, g_rx, (size_t)r);
        hlen += (size_t)r;
        g_hdr[hlen] = 0;
        const char *end = strstr(g_hdr, "\r\n\r\n");
        if (!end)
            continue;
        size_t head = (size_t)(end - g_hdr) + 4;
        int status = 0;
        if (strncmp(g_hdr, "HTTP/1.", 7) == 0 && hlen > 12)
            status = (g_hdr[9] - '0') * 100 + (g_hdr[10] - '0') * 10 + (g_hdr[11] - '0');
        otahil_event("agent", "agent.http_status", "\"status\":%d", status);
        if (d->base && status == 200) {
            /* A proxy or server that ignores Range sends the file from byte 0:
             * it must not land at the breakpoint, and asking again gets the same. */
            d->range_ignored = 1;
            *why = "the server answered a Range request with the whole file (200)";
            rc = DL_SERVER;
            break;
        }
        if (status != (d->base ? 206 : 200)) { *why = "unexpected HTTP status"; rc = DL_SERVER; break; }
        const char *cl = find_ci(g_hdr, head, "\r\ncontent-length:");
        if (!cl) { *why = "no Content-Length"; rc = DL_SERVER; break; }
        long v = 0;
        cl += 17;
        while (*cl == ' ') cl++;
        while (*cl >= '0' && *cl <= '9') v = v * 10 + (*cl++ - '0');
        if (v <= 0 || (uint64_t)v + d->base != g_push.size) { *why = "Content-Length does not match the push size"; rc = DL_SERVER; break; }
        d->clen = (uint32_t)v;
        in_body = 1;
        if ((rc = body(d, g_hdr + head, (uint32_t)(hlen - head))) != DL_OK) { *why = "flash write failed"; break; }
    }
    conn_close(&cn);
    return rc;
}

/* ---- CoAP block download (spec §3.3) ---------------------------------- */

static char g_dl_path[128];

static int coap_download(struct dl *d, const char **why)
{
    unsigned bsize = AGENT_COAP_BLOCK;
    unsigned char etag[8];
    int etag_len = -2, retries = 0; /* -2: no block seen yet */
    snprintf(g_dl_path, sizeof(g_dl_path), "/topic/ota/device/download/%s/%s", g_cfg.pk, g_cfg.dn);
    d->clen = g_push.size - d->base;
    otahil_event("agent", "agent.coap_download", "\"from\":%lu,\"block\":%lu,\"size\":%u",
                 (unsigned long)d->base, (unsigned long)(d->base / bsize), bsize);
    while (d->received < d->clen) {
        uint32_t pos = d->base + d->received;
        uint32_t num = pos / bsize; /* block_cur_num = breakpoint / block size */
        const char *bad = NULL;
        if (coap_post(g_dl_path, NULL, (int)num, bsize) != 0)
            bad = "no answer";
        else if (g_cr.code != IOTX_COAP_RESP_CODE_CONTENT)
            bad = "not 2.05";
        else if (!g_cr.has_block)
            bad = "no Block2 option";
        if (!bad && (g_cr.size < 16 || g_cr.size > 1024)) {
            *why = "the server's Block2 size is outside 16..1024 (SZX 7 is reserved)";
            return DL_SERVER;
        }
        if (!bad && g_cr.has_size2 && g_cr.size2 != g_push.size) {
            *why = "Size2 does not match the push size";
            return DL_SERVER;
        }
        if (!bad && etag_len != -2 &&
            (g_cr.etag_len != etag_len || (etag_len > 0 && memcmp(etag, g_cr.etag, (size_t)etag_len)))) {
            *why = "the ETag changed during the download (the file changed)";
            return DL_SERVER;
        }
        uint32_t off = 0;
        if (!bad) {
            off = g_cr.num * g_cr.size;
            if (g_cr.len != g_cr.full_len || (uint32_t)g_cr.len > g_cr.size)
                bad = "payload larger than its block";
            else if (off > pos || off + (uint32_t)g_cr.len <= pos)
                bad = "block number not the one asked for";
            else if (!g_cr.more && off + (uint32_t)g_cr.len != g_push.size)
                bad = "last block does not end at the push size";
        }
        if (bad) {
            otahil_event("agent", "agent.coap_block_retry", "\"num\":%lu,\"why\":\"%s\",\"code\":%d",
                         (unsigned long)num, bad, g_cr.code);
            if (++retries > AGENT_COAP_RETRIES) {
                *why = "block exchange failed 11 times";
                return DL_NET;
            }
            continue;
        }
        retries = 0;
        if (etag_len == -2) {
            etag_len = g_cr.etag_len;
            if (etag_len > 0)
                memcpy(etag, g_cr.etag, (size_t)etag_len);
        }
        bsize = g_cr.size; /* then the size the server chose */
        unsigned more = g_cr.more; /* body()'s progress report reuses g_cr */
        int rc = body(d, (const char *)g_cr.data + (pos - off), (uint32_t)g_cr.len - (pos - off));
        if (rc != DL_OK) {
            *why = "flash write failed";
            return rc;
        }
        if (!more)
            break;
    }
    if (d->received != d->clen) {
        *why = "the server ended the transfer early";
        return DL_SERVER;
    }
    return DL_OK;
}

/* ---- footer check (spec §6.2) ----------------------------------------- */

static int check_footer(const char **why)
{
    uint8_t f[28], md[16];
    if (g_push.size < 28) { *why = "file shorter than the footer"; return -1; }
    volatile uint32_t off = g_push.size - 28;
    if (hal_ota_read(NULL, &off, f, sizeof(f)) != 0) { *why = "ota_read failed"; return -1; }
    uint32_t magic = (uint32_t)f[0] | (uint32_t)f[1] << 8 | (uint32_t)f[2] << 16 | (uint32_t)f[3] << 24;
    uint32_t size = (uint32_t)f[4] | (uint32_t)f[5] << 8 | (uint32_t)f[6] << 16 | (uint32_t)f[7] << 24;
    if (magic != 0xABABABABu && magic != 0xCDCDCDCDu && magic != 0xEFEFEFEFu) { *why = "image magic error"; return -1; }
    if (size != g_push.size - 28) { *why = "image size error"; return -1; }
    struct md5_ctx m;
    md5_init(&m);
    off = 0;
    while (off < size) {
        uint32_t n = size - off < AGENT_READ_SIZE ? size - off : AGENT_READ_SIZE;
        if (hal_ota_read(NULL, &off, (uint8_t *)g_rx, n) != 0) { *why = "ota_read failed"; return -1; }
        md5_update(&m, g_rx, n);
    }
    md5_final(&m, md);
    if (memcmp(md, f + 8, 16) != 0) { *why = "image md5 error"; return -1; }
    return 0;
}

static void *download_thread(void *arg)
{
    (void)arg;
    union hash_ctx h;
    struct url u;
    const char *why = "";
    if (!(g_cfg.coap_url && g_cfg.dl_coap) && parse_url(g_push.url, &u) != 0)
        fail(ST_DOWNLOAD_FAILED, "bad url");
    int h_ok = 0;
    uint32_t off = load_breakpoint(&h, &h_ok);
    if (off == 0)
        clear_breakpoint(); /* a stale breakpoint must not pair with new state */
    otahil_event("agent", "agent.download.start", "\"offset\":%lu,\"size\":%lu",
                 (unsigned long)off, (unsigned long)g_push.size);
    if (hal_ota_init(&off) != 0)
        fail(ST_INIT_FAILED, "hal_ota_init failed");
    if (off == 0)
        hash_init(&h);
    else if (!h_ok && rehash_from_flash(&h, off) != 0)
        fail(ST_INIT_FAILED, "cannot read back the partial image");

    struct dl d = { &h, off, 0, 0, 10, off, 0 };
    int rc = g_cfg.coap_url && g_cfg.dl_coap ? coap_download(&d, &why) : http_download(&d, &u, &why);
    otahil_event("agent", "agent.download.end", "\"rc\":%d,\"received\":%lu,\"why\":\"%s\"", rc,
                 (unsigned long)d.received, rc ? why : "");
    if (rc == DL_WRITE)
        fail(ST_UPGRADE_FAILED, why);
    if (rc != DL_OK) {
        if (d.range_ignored) {
            /* The next attempt starts from byte 0, which this server serves. */
            clear_breakpoint();
            otahil_event("agent", "agent.breakpoint_dropped", "\"offset\":%lu,\"reason\":\"range ignored\"",
                         (unsigned long)d.base);
        } else if (g_cfg.resume && g_cfg.checkpoint) {
            /* The last checkpoint stands: bytes after it are fetched again. */
            otahil_event("agent", "agent.breakpoint_kept", "\"offset\":%lu,\"received\":%lu",
                         (unsigned long)d.saved, (unsigned long)(d.base + d.received));
        } else if (g_cfg.resume && d.base + d.received > 0) {
            ota_finish_param_t bp = { OTA_APP, OTA_BREAKPOINT, OTA_RAW, 0, 0, 0 };
            (void)hal_ota_set_boot(NULL, &bp);
            save_breakpoint(d.base + d.received, &h);
        }
        fail(ST_DOWNLOAD_FAILED, why);
    }
    clear_breakpoint();

    char got[65];
    hash_hex(&h, got);
    int match = strcmp(got, g_push.hash) == 0;
    otahil_event("agent", "agent.verify", "\"method\":\"%s\",\"ok\":%s,\"digest\":\"%s\"",
                 g_push.method == HASH_MD5 ? "Md5" : "Sha256", match ? "true" : "false", got);
    if (!match)
        fail(ST_CHECK_FAILED, "digest mismatch");
    if (check_footer(&why) != 0) {
        otahil_event("agent", "agent.footer", "\"ok\":false,\"why\":\"%s\"", why);
        fail(ST_CHECK_IMAGE, why);
    }
    otahil_event("agent", "agent.footer", "\"ok\":true");

    ota_finish_param_t fin = { OTA_APP, OTA_FINISH, OTA_RAW, 0, 0, 0 };
    if (hal_ota_set_boot(NULL, &fin) != 0)
        fail(ST_UPGRADE_FAILED, "ota_set_boot failed");
    /* The port did not reboot: the service does (G1 step 6). */
    progress(100, "");
    finish_attempt("update finished");
    return NULL;
}
