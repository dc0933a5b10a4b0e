/*
 * test_cloudfault.c - the fake cloud's faults (docs/faults.md) against a
 * real cloud: a real Mosquitto broker and the civetweb firmware server on
 * free loopback ports. This test is the device: an HTTP client over a raw
 * socket that sends the G1 request bytes (spec §4.1) and keeps every byte
 * and the time each read returned, to check exactly what each firmware
 * server fault produces; and an MQTT client subscribed to the upgrade topic,
 * to check each push variant byte for byte. Also: rules changed while a
 * download runs, rules picked by number and path, broker restarts, offline
 * pushes, a plan installed with plan_apply_cloud(), and a stop during a stall.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/testutil.h"

#include "conformance/plan.h"
#include "mock_cloud/alisign.h"
#include "mock_cloud/cloud.h"
#include "mock_cloud/cloudfault.h"
#include "mock_cloud/fwhead.h"
#include "sim/util/defaults.h"
#include "sim/util/evlog.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PK        OTAHIL_DEFAULT_PK
#define DN        OTAHIL_DEFAULT_DN
#define OLD_VER   "app-1.0.0-20180101.1000"
#define NEW_VER   "app-2.0.0-20180601.1200"
#define FW_SIZE   40000
#define FW2_SIZE  5000
#define T_INFORM   "/ota/device/inform/" PK "/" DN
#define T_PROGRESS "/ota/device/progress/" PK "/" DN
#define T_UPGRADE  "/ota/device/upgrade/" PK "/" DN

static char tmpdir[64], events[128], image[128], image2[128];
static unsigned char *img, *img2;
static char md5hex[33], sha256hex[65];
static struct cloud *cl;
static int port;                 /* firmware server */
static char path1[64], path2[64];/* /fw/1/app.bin, /fw/2/other.bin */
static unsigned gets;            /* firmware GETs made so far: the server's count */

static unsigned char *make_image(const char *path, const char *version, size_t size, unsigned salt)
{
    unsigned char *b = malloc(size);
    FILE *f;

    assert_non_null(b);
    for (size_t i = 0; i < size; i++)
        b[i] = (unsigned char)(i * 13 + (i >> 7) + salt);
    memset(b, 0, 128);
    memcpy(b, "OTAHIMG1", 8);
    memcpy(b + 24, version, strlen(version));
    add_footer(b, size);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, size, f), size);
    fclose(f);
    return b;
}

/* ---- the event log ---- */

/* Lines with "ev":"name" and, if non-NULL, containing sub; the last into last. */
static int count_events(const char *name, const char *sub, char *last, size_t lastlen)
{
    char pat[96], *line = NULL;
    size_t cap = 0;
    int n = 0;
    FILE *f = fopen(events, "r");

    if (!f)
        return 0;
    snprintf(pat, sizeof pat, "\"ev\":\"%s\"", name);
    while (getline(&line, &cap, f) > 0) {
        if (strstr(line, pat) && (!sub || strstr(line, sub))) {
            n++;
            if (last)
                snprintf(last, lastlen, "%s", line);
        }
    }
    free(line);
    fclose(f);
    return n;
}

static int wait_events(const char *name, const char *sub, int atleast, unsigned timeout_ms)
{
    uint64_t end = now_ms() + timeout_ms;
    int n;

    while ((n = count_events(name, sub, NULL, 0)) < atleast && now_ms() < end)
        sleep_ms(10);
    return n;
}

/* The seq of the first event named name containing sub after seq `after`; 0 if none. */
static long event_seq(const char *name, const char *sub, long after)
{
    char pat[96], *line = NULL;
    size_t cap = 0;
    long seq = 0;
    FILE *f = fopen(events, "r");

    if (!f)
        return 0;
    snprintf(pat, sizeof pat, "\"ev\":\"%s\"", name);
    while (getline(&line, &cap, f) > 0) {
        long s = strtol(line + 7, NULL, 10); /* {"seq":N */
        if (s > after && strstr(line, pat) && (!sub || strstr(line, sub))) {
            seq = s;
            break;
        }
    }
    free(line);
    fclose(f);
    return seq;
}

/* ---- HTTP over a raw socket ---- */

#define MAX_READS 8192

struct reply {
    int            status;
    char           head[70000];  /* status line and headers, NUL-terminated */
    size_t         head_len;     /* bytes up to and including the blank line */
    unsigned char *body;         /* everything after the blank line */
    size_t         body_len;
    int            nreads;       /* recv calls that returned data */
    size_t         upto[MAX_READS]; /* total bytes received after each of them */
    uint64_t       at_us[MAX_READS];/* and when it returned */
    uint64_t       ms;           /* request sent to connection closed */
};

static int tcp_connect(int p)
{
    struct sockaddr_in sa;
    int s = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(s >= 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)p);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof sa), 0);
    return s;
}

/* Sends req and reads until the server closes; small reads, each timed. */
static void http_raw(const char *req, struct reply *r)
{
    size_t cap = 1 << 17, len = 0;
    unsigned char *buf = malloc(cap), *sep;
    uint64_t t0 = evlog_now_us();
    int s = tcp_connect(port);
    ssize_t n;

    assert_non_null(buf);
    r->nreads = 0;
    assert_int_equal(send(s, req, strlen(req), 0), (ssize_t)strlen(req));
    while ((n = recv(s, buf + len, cap - len < 4096 ? cap - len : 4096, 0)) > 0) {
        len += (size_t)n;
        if (r->nreads < MAX_READS) {
            r->upto[r->nreads] = len;
            r->at_us[r->nreads++] = evlog_now_us();
        }
        if (cap - len < 4096) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    close(s);
    r->ms = (evlog_now_us() - t0) / 1000u;
    sep = memmem(buf, len, "\r\n\r\n", 4);
    assert_non_null(sep);
    r->head_len = (size_t)(sep - buf) + 4;
    assert_true(r->head_len < sizeof r->head);
    memcpy(r->head, buf, r->head_len);
    r->head[r->head_len] = '\0';
    assert_int_equal(sscanf(r->head, "HTTP/1.1 %d ", &r->status), 1);
    r->body_len = len - r->head_len;
    r->body = malloc(r->body_len + 1);
    assert_non_null(r->body);
    memcpy(r->body, buf + r->head_len, r->body_len);
    free(buf);
}

/* The G1/G2 device request, byte for byte (spec §4.1); counts the GET. */
static struct reply *device_get(const char *path, const char *range)
{
    struct reply *r = calloc(1, sizeof *r);
    char req[2048];

    assert_non_null(r);
    snprintf(req, sizeof req,
             "GET %s HTTP/1.1\r\nAccept:*/*\r\nUser-Agent: Mozilla/5.0\r\n"
             "Cache-Control: no-cache\r\nConnection: close\r\n%s%s%sHost:127.0.0.1:%d\r\n\r\n",
             path, range ? "Range: " : "", range ? range : "", range ? "\r\n" : "", port);
    http_raw(req, r);
    gets++;
    return r;
}

static void reply_free(struct reply *r)
{
    free(r->body);
    free(r);
}

/* The normal head for the whole of firmware 1, with etag (NULL: its MD5). */
static const char *normal_head(char *buf, size_t n, int status, uint64_t a, uint64_t b,
                               const char *etag)
{
    assert_true(fw_response_head(buf, n, status, a, b, FW_SIZE, etag ? etag : md5hex) > 0);
    return buf;
}

/* Replaces the first occurrence of from in s by to, in place (s has room). */
static void subst(char *s, size_t n, const char *from, const char *to)
{
    char *p = strstr(s, from), tail[4096];

    assert_non_null(p);
    snprintf(tail, sizeof tail, "%s", p + strlen(from));
    snprintf(p, n - (size_t)(p - s), "%s%s", to, tail);
}

/* Installs one rule for every firmware GET (nth 0) or the next-but-k GET. */
static void set_rule(const struct cloud_http_rule *r)
{
    char err[256];

    if (cloud_http_set_faults(cl, r, r ? 1 : 0, 0, err, sizeof err) != 0)
        fail_msg("cloud_http_set_faults: %s", err);
}

static struct cloud_http_rule rule(const char *kv1, const char *kv2, const char *kv3)
{
    struct cloud_http_rule r;
    const char *kvs[3] = { kv1, kv2, kv3 };
    char why[256];

    memset(&r, 0, sizeof r);
    for (int i = 0; i < 3 && kvs[i]; i++) {
        char k[64], *eq;
        snprintf(k, sizeof k, "%s", kvs[i]);
        eq = strchr(k, '=');
        assert_non_null(eq);
        *eq = '\0';
        if (cloudfault_http_set(&r, k, eq + 1, why, sizeof why) < 0)
            fail_msg("%s: %s", kvs[i], why);
    }
    return r;
}

/* ---- the device's MQTT side ---- */

struct device {
    struct mosquitto *mq;
    pthread_mutex_t   mu;
    int               subscribed;   /* SUBACKs seen */
    int               connects;
    int               pushes;
    char              last[70000];
    int               last_len;
};

static struct device dev;

static void dev_on_message(struct mosquitto *mq, void *obj, const struct mosquitto_message *m)
{
    struct device *d = obj;

    (void)mq;
    pthread_mutex_lock(&d->mu);
    d->pushes++;
    d->last_len = m->payloadlen < (int)sizeof d->last - 1 ? m->payloadlen : (int)sizeof d->last - 1;
    memcpy(d->last, m->payload, (size_t)d->last_len);
    d->last[d->last_len] = '\0';
    pthread_mutex_unlock(&d->mu);
}

static void dev_on_subscribe(struct mosquitto *mq, void *obj, int mid, int n, const int *g)
{
    struct device *d = obj;

    (void)mq, (void)mid, (void)n, (void)g;
    pthread_mutex_lock(&d->mu);
    d->subscribed++;
    pthread_mutex_unlock(&d->mu);
}

static void dev_on_connect(struct mosquitto *mq, void *obj, int rc)
{
    struct device *d = obj;

    if (rc != 0)
        return;
    pthread_mutex_lock(&d->mu);
    d->connects++;
    pthread_mutex_unlock(&d->mu);
    mosquitto_subscribe(mq, NULL, T_UPGRADE, 1);
}

static int dev_get(int *field)
{
    int v;

    pthread_mutex_lock(&dev.mu);
    v = *field;
    pthread_mutex_unlock(&dev.mu);
    return v;
}

static void dev_wait_subscribed(int n)
{
    uint64_t end = now_ms() + 8000;

    while (dev_get(&dev.subscribed) < n && now_ms() < end)
        sleep_ms(10);
    assert_true(dev_get(&dev.subscribed) >= n);
}

static void dev_publish(const char *topic, const char *text)
{
    /* as uOTA: strlen + 1 bytes, a trailing NUL */
    assert_int_equal(mosquitto_publish(dev.mq, NULL, topic, (int)strlen(text) + 1, text, 1, false),
                     MOSQ_ERR_SUCCESS);
}

static void dev_progress(int step)
{
    char msg[128];

    snprintf(msg, sizeof msg, "{\"id\":0,\"params\":{\"step\": \"%d\",\"desc\":\"\"}}", step);
    dev_publish(T_PROGRESS, msg);
}

static void dev_inform(const char *version)
{
    char msg[128];

    snprintf(msg, sizeof msg, "{\"id\":0,\"params\":{\"version\":\"%s\"}}", version);
    dev_publish(T_INFORM, msg);
}

/* Waits for push number n and returns it parsed (and its raw length). */
static cJSON *dev_wait_push(int n, int *len)
{
    uint64_t end = now_ms() + 4000;
    cJSON *p;

    while (dev_get(&dev.pushes) < n && now_ms() < end)
        sleep_ms(5);
    pthread_mutex_lock(&dev.mu);
    assert_int_equal(dev.pushes, n);
    p = cJSON_Parse(dev.last);
    if (len)
        *len = dev.last_len;
    pthread_mutex_unlock(&dev.mu);
    assert_non_null(p);
    return p;
}

static void dev_no_push(int n, unsigned ms)
{
    sleep_ms(ms);
    assert_int_equal(dev_get(&dev.pushes), n);
}

static const cJSON *jdata(const cJSON *push)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(push, "data");

    assert_true(cJSON_IsObject(d));
    return d;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    if (!cJSON_IsString(v))
        fail_msg("field %s is not a string", k);
    return v->valuestring;
}

/* Creates a job for firmware 1 with faults f (NULL: the cloud-wide ones). */
static int job_with(const struct cloud_mqtt_faults *f, int retries)
{
    struct push_opts po = { NULL, retries, 0, f };
    char err[256];
    int job = cloud_create_job(cl, PK, DN, 1, &po, err, sizeof err);

    if (job < 0)
        fail_msg("cloud_create_job: %s", err);
    return job;
}

static struct cloud_mqtt_faults mfaults(const char *kv1, const char *kv2)
{
    struct cloud_mqtt_faults f;
    const char *kvs[2] = { kv1, kv2 };
    char why[256];

    memset(&f, 0, sizeof f);
    for (int i = 0; i < 2 && kvs[i]; i++) {
        char k[64], *eq;
        snprintf(k, sizeof k, "%s", kvs[i]);
        eq = strchr(k, '=');
        assert_non_null(eq);
        *eq = '\0';
        if (cloudfault_mqtt_set(&f, k, eq + 1, why, sizeof why) < 0)
            fail_msg("%s: %s", kvs[i], why);
    }
    return f;
}

/* ---- set-up ---- */

static int group_setup(void **state)
{
    struct cloud_opts o = { 0 };
    char err[256], wd[128], cid[ALISIGN_CID_MAX + 1], user[ALISIGN_DN_MAX + ALISIGN_PK_MAX + 2],
        pass[ALISIGN_HEX_MAX + 1];
    uint64_t end;

    (void)state;
    signal(SIGPIPE, SIG_IGN);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/otahil-cfault-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(events, sizeof events, "%s/events.jsonl", tmpdir);
    snprintf(image, sizeof image, "%s/app.bin", tmpdir);
    snprintf(image2, sizeof image2, "%s/other.bin", tmpdir);
    if (evlog_open(events) != 0)
        return -1;
    img = make_image(image, NEW_VER, FW_SIZE, 1);
    img2 = make_image(image2, "other-1", FW2_SIZE, 2);
    hexdigest(EVP_md5(), img, FW_SIZE, md5hex);
    hexdigest(EVP_sha256(), img, FW_SIZE, sha256hex);
    snprintf(wd, sizeof wd, "%s/cloud", tmpdir);
    o.workdir = wd;
    o.seed = 7;
    cl = cloud_start(&o, err, sizeof err);
    if (!cl) {
        fprintf(stderr, "cloud_start: %s\n", err);
        return -1;
    }
    port = cloud_http_port(cl);
    if (cloud_add_firmware(cl, image, NULL, err, sizeof err) != 1 ||
        cloud_add_firmware(cl, image2, NULL, err, sizeof err) != 2)
        return -1;
    snprintf(path1, sizeof path1, "/fw/1/app.bin");
    snprintf(path2, sizeof path2, "/fw/2/other.bin");

    pthread_mutex_init(&dev.mu, NULL);
    mosquitto_lib_init();
    /* signed as linkkit signs (spec §2.1): the broker checks it */
    if (alisign_credentials(PK, DN, OTAHIL_DEFAULT_SECRET, ALISIGN_HMACSHA1, 0, cid, user,
                            pass) != 0)
        return -1;
    dev.mq = mosquitto_new(cid, true, &dev);
    if (!dev.mq)
        return -1;
    mosquitto_username_pw_set(dev.mq, user, pass);
    mosquitto_connect_callback_set(dev.mq, dev_on_connect);
    mosquitto_subscribe_callback_set(dev.mq, dev_on_subscribe);
    mosquitto_message_callback_set(dev.mq, dev_on_message);
    mosquitto_reconnect_delay_set(dev.mq, 1, 1, false);
    if (mosquitto_connect(dev.mq, "127.0.0.1", cloud_mqtt_port(cl), 30) != MOSQ_ERR_SUCCESS ||
        mosquitto_loop_start(dev.mq) != MOSQ_ERR_SUCCESS)
        return -1;
    end = now_ms() + 5000;
    while (dev_get(&dev.subscribed) < 1 && now_ms() < end)
        sleep_ms(5);
    return dev_get(&dev.subscribed) >= 1 ? 0 : -1;
}

static int group_teardown(void **state)
{
    char cmd[128];

    (void)state;
    if (dev.mq) {
        mosquitto_disconnect(dev.mq);
        mosquitto_loop_stop(dev.mq, false);
        mosquitto_destroy(dev.mq);
    }
    cloud_stop(cl);
    free(img);
    free(img2);
    evlog_close();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- firmware server ---- */

static void test_http_status(void **state)
{
    static const struct { int status; const char *code; } cases[] = {
        { 403, "<Code>AccessDenied</Code>" }, { 404, "<Code>NoSuchKey</Code>" },
        { 500, "<Code>InternalError</Code>" }, { 503, "<Code>ServiceUnavailable</Code>" },
        { 418, "<Code>Error</Code>" },
    };
    struct cloud_http_rule r = rule("status=400", NULL, NULL);
    char want[1024], rid[32], line[1024], sub[128], cl_[32];
    struct reply *x;

    (void)state;
    r.nth = gets + 1;          /* the next GET only */
    set_rule(&r);
    x = device_get(path1, NULL);
    assert_int_equal(x->status, 400);
    x->body[x->body_len] = '\0';
    assert_non_null(strstr((char *)x->body, "<Code>AccessDenied</Code>\n  <Message>Request has expired.</Message>"));
    assert_non_null(strstr((char *)x->body, "<Key>fw/1/app.bin</Key>"));
    assert_non_null(strstr((char *)x->body, "<Expires>"));
    assert_memory_equal(x->body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n", 47);
    snprintf(rid, sizeof rid, "%.24s", strstr((char *)x->body, "<RequestId>") + 11);
    snprintf(want, sizeof want,
             "HTTP/1.1 400 Bad Request\r\nServer: AliyunOSS\r\nContent-Type: application/xml\r\n"
             "Content-Length: %zu\r\nConnection: close\r\nx-oss-request-id: %s\r\n\r\n",
             x->body_len, rid);
    assert_string_equal(x->head, want);
    snprintf(sub, sizeof sub, "\"rule\":\"http:%u\",\"request\":%u,", gets, gets);
    assert_int_equal(count_events("http.fault", sub, line, sizeof line), 1);
    assert_non_null(strstr(line, "\"fault\":\"status\",\"did\":\"answered 400 Bad Request with a "));
    assert_non_null(strstr(line, "\"path\":\"/fw/1/app.bin\""));
    assert_int_equal(count_events("http.request", "\"status\":400", NULL, 0), 1);
    reply_free(x);

    /* the GET after it is untouched, byte for byte */
    x = device_get(path1, NULL);
    assert_int_equal(x->status, 200);
    assert_string_equal(x->head, normal_head(want, sizeof want, 200, 0, FW_SIZE - 1, NULL));
    assert_int_equal(x->body_len, FW_SIZE);
    assert_memory_equal(x->body, img, FW_SIZE);
    reply_free(x);

    /* every GET: the other statuses, each with its object storage body */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        r = rule("status=400", NULL, NULL);
        r.status = cases[i].status;
        set_rule(&r);
        x = device_get(path1, NULL);
        assert_int_equal(x->status, cases[i].status);
        x->body[x->body_len] = '\0';
        assert_non_null(strstr((char *)x->body, cases[i].code));
        snprintf(cl_, sizeof cl_, "\r\nContent-Length: %zu\r\n", x->body_len);
        assert_non_null(strstr(x->head, cl_));
        reply_free(x);
    }
    /* HEAD is neither faulted nor counted */
    {
        struct reply *h = calloc(1, sizeof *h);
        char req[256];
        snprintf(req, sizeof req, "HEAD %s HTTP/1.1\r\nHost:127.0.0.1:%d\r\nConnection: close\r\n\r\n",
                 path1, port);
        http_raw(req, h);
        assert_int_equal(h->status, 200);
        reply_free(h);
    }
    set_rule(NULL);
}

static void test_http_range_and_etag(void **state)
{
    struct cloud_http_rule r = rule("ignore_range=true", NULL, NULL);
    char want[1024], etag[64], line[1024];
    struct reply *x;
    int before;

    (void)state;
    set_rule(&r);
    before = count_events("http.fault", "\"fault\":\"ignore_range\"", NULL, 0);
    x = device_get(path1, "bytes=1000-");
    assert_int_equal(x->status, 200);
    assert_string_equal(x->head, normal_head(want, sizeof want, 200, 0, FW_SIZE - 1, NULL));
    assert_int_equal(x->body_len, FW_SIZE);
    assert_memory_equal(x->body, img, FW_SIZE);
    reply_free(x);
    assert_int_equal(count_events("http.fault", "\"fault\":\"ignore_range\"", line, sizeof line), before + 1);
    assert_non_null(strstr(line, "\"did\":\"answered Range 'bytes=1000-' with 200 and the whole file "
                                 "(40000 bytes) instead of 206\""));
    /* past the end: 416 becomes 200 too */
    x = device_get(path1, "bytes=40000-");
    assert_int_equal(x->status, 200);
    assert_int_equal(x->body_len, FW_SIZE);
    reply_free(x);
    /* no Range: nothing to ignore, no event */
    x = device_get(path1, NULL);
    assert_int_equal(x->status, 200);
    reply_free(x);
    assert_int_equal(count_events("http.fault", "\"fault\":\"ignore_range\"", NULL, 0), before + 2);

    r = rule("etag_change=true", NULL, NULL);
    set_rule(&r);
    for (int k = 0; k < 2; k++) {
        x = device_get(path1, "bytes=100-");
        snprintf(etag, sizeof etag, "%s-%u", md5hex, gets);
        assert_int_equal(x->status, 206);
        assert_string_equal(x->head, normal_head(want, sizeof want, 206, 100, FW_SIZE - 1, etag));
        assert_memory_equal(x->body, img + 100, FW_SIZE - 100);
        reply_free(x);
    }
    set_rule(NULL);
}

static void test_http_length(void **state)
{
    static const struct { const char *len, *body; long announced, sent; } cases[] = {
        { "length=+100", "length_body=announced", FW_SIZE + 100, FW_SIZE + 100 },
        { "length=-100", "length_body=announced", FW_SIZE - 100, FW_SIZE - 100 },
        { "length=+100", "length_body=file", FW_SIZE + 100, FW_SIZE },
        { "length=-100", "length_body=file", FW_SIZE - 100, FW_SIZE },
        { "length=-99999", NULL, 0, 0 },
    };
    char want[1024], cl_[64];
    struct reply *x;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct cloud_http_rule r = rule(cases[i].len, cases[i].body, NULL);
        set_rule(&r);
        x = device_get(path1, NULL);
        assert_int_equal(x->status, 200);
        normal_head(want, sizeof want, 200, 0, FW_SIZE - 1, NULL);
        snprintf(cl_, sizeof cl_, "Content-Length: %ld\r\n", cases[i].announced);
        subst(want, sizeof want, "Content-Length: 40000\r\n", cl_);
        assert_string_equal(x->head, want);
        assert_int_equal(x->body_len, cases[i].sent);
        assert_memory_equal(x->body, img, cases[i].sent < FW_SIZE ? cases[i].sent : FW_SIZE);
        for (long k = FW_SIZE; k < cases[i].sent; k++)
            assert_int_equal(x->body[k], 0); /* past the file: zeros */
        reply_free(x);
    }
    assert_true(count_events("http.fault", "announced Content-Length: 40100 for a 40000-byte body, "
                             "sending 40100 bytes (zeros past the end)", NULL, 0) == 1);
    set_rule(NULL);
}

static void test_http_chunked(void **state)
{
    struct cloud_http_rule r = rule("chunked=true", NULL, NULL);
    unsigned char *dec = malloc(FW_SIZE);
    char want[1024];
    size_t at = 0, got = 0;
    struct reply *x;

    (void)state;
    set_rule(&r);
    x = device_get(path1, NULL);
    assert_int_equal(x->status, 200);
    normal_head(want, sizeof want, 200, 0, FW_SIZE - 1, NULL);
    subst(want, sizeof want, "Content-Length: 40000\r\n", "Transfer-Encoding: chunked\r\n");
    assert_string_equal(x->head, want);
    assert_null(strstr(x->head, "Content-Length"));
    for (;;) {
        char *end;
        unsigned long n = strtoul((char *)x->body + at, &end, 16);
        assert_memory_equal(end, "\r\n", 2);
        at = (size_t)((unsigned char *)end - x->body) + 2;
        if (n == 0)
            break;
        assert_true(n <= 4096);
        assert_true(got + n <= FW_SIZE);
        memcpy(dec + got, x->body + at, n);
        got += n;
        at += n;
        assert_memory_equal(x->body + at, "\r\n", 2);
        at += 2;
    }
    assert_memory_equal(x->body + at, "\r\n", 2); /* "0\r\n\r\n" ends the body exactly */
    assert_int_equal(at + 2, x->body_len);
    assert_int_equal(got, FW_SIZE);
    assert_memory_equal(dec, img, FW_SIZE);
    reply_free(x);
    free(dec);
    set_rule(NULL);
}

static void test_http_headers(void **state)
{
    struct cloud_http_rule r = rule("pad_headers=600", NULL, NULL);
    char want[1024], got[1024], *eol;
    struct reply *x;
    uint64_t t0;

    (void)state;
    set_rule(&r);
    x = device_get(path1, NULL);
    assert_int_equal(x->status, 200);
    assert_int_equal(x->head_len, 600);          /* past the device's 512-byte read */
    assert_memory_equal(x->head, "HTTP/1.1 200 OK\r\nx-oss-meta-padding: abcdefghij", 47);
    /* without the padding line it is the normal block */
    snprintf(got, sizeof got, "%s", x->head);
    eol = strstr(got + 17, "\r\n");
    memmove(got + 17, eol + 2, strlen(eol + 2) + 1);
    assert_string_equal(got, normal_head(want, sizeof want, 200, 0, FW_SIZE - 1, NULL));
    assert_int_equal(x->body_len, FW_SIZE);
    assert_memory_equal(x->body, img, FW_SIZE);
    reply_free(x);
    snprintf(got, sizeof got, "padded the header block from %zu to 600 bytes", strlen(want));
    assert_int_equal(count_events("http.fault", got, NULL, 0), 1);

    /* a size the block already has: left as it is */
    r = rule("pad_headers=100", NULL, NULL);
    set_rule(&r);
    x = device_get(path1, NULL);
    assert_string_equal(x->head, normal_head(want, sizeof want, 200, 0, FW_SIZE - 1, NULL));
    reply_free(x);

    /* one byte per write, 4 ms apart: the blank line arrives split */
    r = rule("split_headers=4", NULL, NULL);
    set_rule(&r);
    t0 = now_ms();
    x = device_get(path1, NULL);
    assert_string_equal(x->head, normal_head(want, sizeof want, 200, 0, FW_SIZE - 1, NULL));
    assert_memory_equal(x->body, img, FW_SIZE);
    assert_true(now_ms() - t0 >= (x->head_len - 1) * 4 * 9 / 10);
    {
        int head_reads = 0;
        for (int i = 0; i < x->nreads && (i == 0 ? 0 : x->upto[i - 1]) < x->head_len; i++)
            head_reads++;
        assert_true(head_reads >= (int)x->head_len / 2); /* about one read per byte */
        assert_int_equal(x->upto[0], 1);
    }
    reply_free(x);
    set_rule(NULL);
}

static void test_http_close_stall_throttle(void **state)
{
    struct cloud_http_rule r = rule("close_at=1000", NULL, NULL);
    struct reply *x;
    char want[1024], line[1024];

    (void)state;
    set_rule(&r);
    x = device_get(path1, NULL);
    assert_string_equal(x->head, normal_head(want, sizeof want, 200, 0, FW_SIZE - 1, NULL));
    assert_int_equal(x->body_len, 1000);
    assert_memory_equal(x->body, img, 1000);
    reply_free(x);
    assert_int_equal(count_events("http.fault", "closed the connection after 1000 of 40000 body bytes",
                                  line, sizeof line), 1);
    assert_int_equal(count_events("http.done", "\"bytes\":1000,", NULL, 0), 1);
    r = rule("close_at=0", NULL, NULL);
    set_rule(&r);
    x = device_get(path1, "bytes=10-");
    assert_int_equal(x->status, 206);
    assert_int_equal(x->body_len, 0);
    reply_free(x);

    /* stall at byte 500 for 300 ms, then the rest */
    r = rule("stall_at=500", "stall_ms=300", NULL);
    set_rule(&r);
    x = device_get(path1, NULL);
    assert_int_equal(x->body_len, FW_SIZE);
    assert_memory_equal(x->body, img, FW_SIZE);
    {
        size_t mark = x->head_len + 500;
        int i = 0;
        while (i < x->nreads && x->upto[i] <= mark)
            i++;
        assert_true(i > 0 && i < x->nreads);
        assert_int_equal(x->upto[i - 1], mark);                      /* the pause is at byte 500 */
        assert_true(x->at_us[i] - x->at_us[i - 1] >= 280000);        /* and lasts 300 ms */
    }
    reply_free(x);
    assert_int_equal(count_events("http.fault", "paused 300 ms at body byte 500 of 40000, then went on",
                                  NULL, 0), 1);
    /* ... or then close */
    r = rule("stall_at=500", "stall_ms=300", "stall_then=close");
    set_rule(&r);
    x = device_get(path1, NULL);
    assert_int_equal(x->body_len, 500);
    assert_true(x->ms >= 290);
    reply_free(x);
    assert_int_equal(count_events("http.fault", "then closed", NULL, 0), 1);
    assert_int_equal(count_events("http.fault", "closed the connection after 500", NULL, 0), 0);

    /* this response at 20000 B/s: 10000 bytes take about half a second */
    r = rule("throttle=20000", NULL, NULL);
    set_rule(&r);
    x = device_get(path1, "bytes=0-9999");
    assert_int_equal(x->status, 206);
    assert_int_equal(x->body_len, 10000);
    assert_true(x->ms >= 400);
    reply_free(x);
    assert_int_equal(count_events("http.fault", "body paced at 20000 bytes/s", NULL, 0), 1);
    set_rule(NULL);
}

static void test_http_picking_and_merging(void **state)
{
    struct cloud_http_rule rs[3];
    char err[256], sub[128], line[1024];
    struct reply *x;
    int p2 = 0;

    (void)state;
    /* by path: the 2nd GET of /fw/2/other.bin, counted apart from the others */
    rs[0] = rule("status=503", "path=/fw/2/other.bin", NULL);
    rs[0].nth = 2;
    set_rule(&rs[0]);
    x = device_get(path1, NULL);
    assert_int_equal(x->status, 200);
    reply_free(x);
    x = device_get(path2, NULL);
    p2++;
    assert_int_equal(x->status, 200);
    assert_int_equal(x->body_len, FW2_SIZE);
    assert_memory_equal(x->body, img2, FW2_SIZE);
    reply_free(x);
    x = device_get(path1, NULL);
    assert_int_equal(x->status, 200);
    reply_free(x);
    x = device_get(path2, NULL);
    p2++;
    assert_int_equal(x->status, 503);
    reply_free(x);
    snprintf(sub, sizeof sub, "\"request\":%u,\"path_request\":2,\"path\":\"/fw/2/other.bin\"", gets);
    assert_int_equal(count_events("http.fault", sub, NULL, 0), 1);
    x = device_get(path2, NULL);
    assert_int_equal(x->status, 200);
    reply_free(x);

    /* an every-GET rule and an Nth rule combine on the Nth GET */
    rs[0] = rule("pad_headers=600", NULL, NULL);
    rs[1] = rule("status=500", NULL, NULL);
    rs[1].nth = gets + 2;
    assert_int_equal(cloud_http_set_faults(cl, rs, 2, 0, err, sizeof err), 0);
    x = device_get(path1, NULL);
    assert_int_equal(x->status, 200);
    assert_int_equal(x->head_len, 600);
    reply_free(x);
    x = device_get(path1, NULL);
    assert_int_equal(x->status, 500);
    assert_int_equal(x->head_len, 600);
    reply_free(x);
    snprintf(sub, sizeof sub, "\"rule\":\"http:%u\",\"request\":%u,", gets, gets);
    assert_int_equal(count_events("http.fault", sub, line, sizeof line), 1);
    assert_non_null(strstr(line, "\"fault\":\"status\""));
    snprintf(sub, sizeof sub, "\"rule\":\"http\",\"request\":%u,", gets);
    assert_int_equal(count_events("http.fault", sub, line, sizeof line), 1);
    assert_non_null(strstr(line, "\"fault\":\"pad_headers\""));
    /* a later rule's setting wins over an earlier one of the same kind */
    rs[0] = rule("status=403", NULL, NULL);
    rs[1] = rule("status=404", NULL, NULL);
    assert_int_equal(cloud_http_set_faults(cl, rs, 2, 0, err, sizeof err), 0);
    x = device_get(path1, NULL);
    assert_int_equal(x->status, 404);
    reply_free(x);
    /* append */
    rs[2] = rule("close_at=7", NULL, NULL);
    assert_int_equal(cloud_http_set_faults(cl, &rs[2], 1, 1, err, sizeof err), 0);
    x = device_get(path1, NULL);
    assert_int_equal(x->status, 404);
    assert_int_equal(x->body_len, 7);
    reply_free(x);

    /* refused: a rule that does not hold together, too many rules */
    rs[0] = rule("stall_ms=10", NULL, NULL);
    snprintf(rs[0].label, sizeof rs[0].label, "mine");
    assert_int_equal(cloud_http_set_faults(cl, rs, 1, 0, err, sizeof err), -1);
    assert_string_equal(err, "rule 1 (mine): key 'stall_ms': needs stall_at = N in the same section");
    {
        struct cloud_http_rule many[CF_HTTP_RULES_MAX + 1];
        memset(many, 0, sizeof many);
        assert_int_equal(cloud_http_set_faults(cl, many, CF_HTTP_RULES_MAX + 1, 0, err, sizeof err), -1);
        assert_string_equal(err, "more than 64 firmware server rules");
        assert_int_equal(cloud_http_set_faults(cl, many, CF_HTTP_RULES_MAX, 0, err, sizeof err), 0);
        assert_int_equal(cloud_http_set_faults(cl, many, 1, 1, err, sizeof err), -1);
    }
    set_rule(NULL);
    x = device_get(path1, NULL);
    assert_int_equal(x->status, 200);
    assert_int_equal(x->body_len, FW_SIZE);
    reply_free(x);
}

struct slow_get {
    pthread_t     t;
    struct reply *r;
    const char   *range;
};

static void *slow_get_main(void *arg)
{
    struct slow_get *g = arg;

    g->r = device_get(path1, g->range);
    return NULL;
}

static void test_http_rules_change_while_serving(void **state)
{
    struct cloud_http_rule r = rule("throttle=20000", NULL, NULL);
    struct slow_get g = { 0, NULL, "bytes=0-9999" };
    struct reply *x;

    (void)state;
    set_rule(&r);
    assert_int_equal(pthread_create(&g.t, NULL, slow_get_main, &g), 0);
    assert_true(wait_events("http.fault", "body paced at 20000", 2, 2000) >= 2);
    r = rule("status=503", NULL, NULL);
    set_rule(&r);                          /* while the slow GET is in its body */
    x = device_get(path1, NULL);
    assert_int_equal(x->status, 503);       /* a new GET gets the new rules */
    reply_free(x);
    pthread_join(g.t, NULL);
    assert_int_equal(g.r->status, 206);     /* the one in flight kept its own */
    assert_int_equal(g.r->body_len, 10000);
    assert_memory_equal(g.r->body, img, 10000);
    reply_free(g.r);
    set_rule(NULL);
}

/* ---- pushes ---- */

static void test_push_variants(void **state)
{
    struct cloud_mqtt_faults f;
    struct cloud_fw_info fi;
    char up[65], wrong[65], line[1024], url[1200];
    const cJSON *d;
    cJSON *p;
    int n = 0, len = 0;
    struct reply *x;

    (void)state;
    assert_int_equal(cloud_firmware_info(cl, 1, &fi), 0);
    dev_inform(OLD_VER); /* online: each job below is pushed at once */
    assert_true(wait_events("device.inform", NULL, 1, 3000) >= 1);

    f = mfaults("size_string=true", "message=Success");
    job_with(&f, 0);
    p = dev_wait_push(++n, NULL);
    d = jdata(p);
    assert_string_equal(jstr(d, "size"), "40000");
    assert_string_equal(jstr(p, "message"), "Success");
    assert_string_equal(jstr(d, "signMethod"), "Md5");
    assert_string_equal(jstr(d, "sign"), md5hex);
    cJSON_Delete(p);
    assert_int_equal(count_events("cloud.fault", "\"fault\":\"size_string\",\"did\":\"size sent as the string \\\"40000\\\"\"",
                                  NULL, 0), 1);
    assert_int_equal(count_events("cloud.fault", "\"fault\":\"message\"", NULL, 0), 1);

    /* signMethod texts: the digest follows the text unless sign says otherwise */
    f = mfaults("sign_method=SHA-256", NULL);
    job_with(&f, 0);
    p = dev_wait_push(++n, NULL);
    assert_string_equal(jstr(jdata(p), "signMethod"), "SHA-256");
    assert_string_equal(jstr(jdata(p), "sign"), sha256hex);
    assert_string_equal(jstr(jdata(p), "md5"), md5hex);
    cJSON_Delete(p);
    f = mfaults("sign_method=Md5", "sign=sha256");
    job_with(&f, 0);
    p = dev_wait_push(++n, NULL);
    assert_string_equal(jstr(jdata(p), "signMethod"), "Md5");
    assert_string_equal(jstr(jdata(p), "sign"), sha256hex); /* a 64-character sign */
    cJSON_Delete(p);

    f = mfaults("sign_case=upper", NULL);
    job_with(&f, 0);
    p = dev_wait_push(++n, NULL);
    snprintf(up, sizeof up, "%s", md5hex);
    for (char *c = up; *c; c++)
        if (*c >= 'a' && *c <= 'f')
            *c = (char)(*c - 'a' + 'A');
    assert_string_equal(jstr(jdata(p), "sign"), up);
    assert_string_equal(jstr(jdata(p), "md5"), md5hex);
    cJSON_Delete(p);

    f = mfaults("wrong_digest=true", "size_delta=-5");
    job_with(&f, 0);
    p = dev_wait_push(++n, NULL);
    snprintf(wrong, sizeof wrong, "%s", md5hex);
    wrong[31] = wrong[31] == '0' ? '1' : '0';
    assert_string_equal(jstr(jdata(p), "sign"), wrong);
    assert_string_equal(jstr(jdata(p), "md5"), wrong);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(jdata(p), "size")->valueint, FW_SIZE - 5);
    cJSON_Delete(p);
    f = mfaults("size_delta=+5", NULL);
    job_with(&f, 0);
    p = dev_wait_push(++n, NULL);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(jdata(p), "size")->valueint, FW_SIZE + 5);
    cJSON_Delete(p);

    /* a URL of exactly 1100 characters; the server ignores its query */
    f = mfaults("url_len=1100", NULL);
    job_with(&f, 0);
    p = dev_wait_push(++n, &len);
    snprintf(url, sizeof url, "%s", jstr(jdata(p), "url"));
    assert_int_equal(strlen(url), 1100);
    assert_memory_equal(url, fi.url, strlen(fi.url));
    assert_memory_equal(url + strlen(fi.url), "?Expires=", 9);
    assert_true(len > 1215); /* longer than G1 copies */
    cJSON_Delete(p);
    x = device_get(strstr(url + 7, "/"), NULL);
    assert_int_equal(x->status, 200);
    assert_memory_equal(x->body, img, FW_SIZE);
    reply_free(x);
    count_events("http.request", NULL, line, sizeof line);
    assert_non_null(strstr(line, "?Expires="));

    /* a push of exactly 1300 bytes, padded with data.extData */
    f = mfaults("push_len=1300", NULL);
    job_with(&f, 0);
    p = dev_wait_push(++n, &len);
    assert_int_equal(len, 1300);
    assert_true(strlen(jstr(jdata(p), "extData")) > 900);
    assert_string_equal(jstr(p, "message"), "success");
    cJSON_Delete(p);
    assert_int_equal(count_events("cloud.fault", "push padded to 1300 bytes with data.extData", NULL, 0), 1);

    /* cloud-wide faults for jobs without their own */
    f = mfaults("message=global", NULL);
    cloud_set_mqtt_faults(cl, &f);
    job_with(NULL, 0);
    p = dev_wait_push(++n, NULL);
    assert_string_equal(jstr(p, "message"), "global");
    cJSON_Delete(p);
    f = mfaults("message=own", NULL);
    job_with(&f, 0);
    p = dev_wait_push(++n, NULL);
    assert_string_equal(jstr(p, "message"), "own");
    cJSON_Delete(p);
    cloud_set_mqtt_faults(cl, NULL);
    job_with(NULL, 0);
    p = dev_wait_push(++n, NULL);
    assert_string_equal(jstr(p, "message"), "success");
    assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(jdata(p), "size")));
    cJSON_Delete(p);
    assert_int_equal(cloud_job_set_mqtt_faults(cl, 9999, &f), -1);
}

static void test_push_drop_and_duplicate(void **state)
{
    struct cloud_mqtt_faults f = mfaults("drop_push=1", NULL);
    struct job_status st;
    char first[2048], line[1024];
    int n = dev_get(&dev.pushes), job;
    cJSON *p;

    (void)state;
    job = job_with(&f, 1);
    dev_no_push(n, 300);                 /* push 1 was not published */
    assert_int_equal(cloud_job_status(cl, job, &st), 0);
    assert_int_equal(st.state, JOB_PUSHED);
    assert_int_equal(st.pushes, 1);
    assert_int_equal(count_events("cloud.fault", "\"fault\":\"drop_push\",\"did\":\"push 1 (", line,
                                  sizeof line), 1);
    dev_inform(OLD_VER);                 /* the device shows up again: the retry goes out */
    p = dev_wait_push(++n, NULL);
    cJSON_Delete(p);
    assert_int_equal(cloud_job_status(cl, job, &st), 0);
    assert_int_equal(st.pushes, 2);

    /* published again at the first report >= 30 after one below it */
    f = mfaults("duplicate_at=30", NULL);
    job = job_with(&f, 0);
    p = dev_wait_push(++n, NULL);
    cJSON_Delete(p);
    pthread_mutex_lock(&dev.mu);
    snprintf(first, sizeof first, "%s", dev.last);
    pthread_mutex_unlock(&dev.mu);
    dev_progress(100);                   /* G1's acceptance "100": not a trigger */
    dev_progress(0);
    dev_progress(10);
    dev_no_push(n, 300);
    dev_progress(30);
    p = dev_wait_push(++n, NULL);
    cJSON_Delete(p);
    pthread_mutex_lock(&dev.mu);
    assert_string_equal(dev.last, first); /* the same message, same id */
    pthread_mutex_unlock(&dev.mu);
    dev_progress(40);
    dev_progress(10);
    dev_progress(60);
    dev_no_push(n, 300);                 /* once per push */
    assert_int_equal(count_events("cloud.fault", "at progress 30\"", line, sizeof line), 1);
    assert_non_null(strstr(line, "\"fault\":\"duplicate_at\",\"did\":\"published push 1 again (same id "));
    assert_int_equal(cloud_job_status(cl, job, &st), 0);
    assert_int_equal(st.pushes, 1);
}

static void test_push_offline(void **state)
{
    struct cloud_mqtt_faults f = mfaults("offline_push=true", NULL);
    int n = dev_get(&dev.pushes), job, retries0 = count_events("job.retry", NULL, NULL, 0);
    int ok0 = count_events("job.succeeded", NULL, NULL, 0);
    struct job_status st;
    char line[1024], *t;
    cJSON *p, *s;

    (void)state;
    assert_int_equal(cloud_device_offline(cl, PK, "nobody"), -1);
    assert_int_equal(cloud_device_offline(cl, PK, DN), 0);
    assert_int_equal(count_events("device.offline", "\"reason\":\"reported by the harness\"", NULL, 0), 1);
    t = cloud_status_json(cl);
    s = cJSON_Parse(t);
    free(t);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(s, "devices"), 0), "online")));
    cJSON_Delete(s);
    /* without the fault a job for an offline device waits ... */
    job = job_with(NULL, 0);
    dev_no_push(n, 200);
    assert_int_equal(cloud_job_status(cl, job, &st), 0);
    assert_int_equal(st.state, JOB_WAITING);
    /* ... with it, the push goes out at once */
    job = job_with(&f, 1);
    p = dev_wait_push(++n, NULL);
    cJSON_Delete(p);
    assert_int_equal(count_events("cloud.fault", "\"fault\":\"offline_push\",\"did\":\"pushed while the device is offline\"",
                                  line, sizeof line), 1);
    /* a retry waiting for the device's inform goes out when the device is reported gone */
    dev_inform(OLD_VER);                 /* attempt 1 failed: pushed again at once */
    p = dev_wait_push(++n, NULL);
    cJSON_Delete(p);
    job = job_with(&f, 1);               /* online now: pushed normally */
    p = dev_wait_push(++n, NULL);
    cJSON_Delete(p);
    dev_progress(-2);                    /* failed: waits for the next inform */
    assert_true(wait_events("job.retry", NULL, retries0 + 2, 3000) >= retries0 + 2);
    assert_int_equal(cloud_job_status(cl, job, &st), 0);
    assert_int_equal(st.state, JOB_WAITING);
    dev_no_push(n, 100);
    assert_int_equal(cloud_device_offline(cl, PK, DN), 0);
    p = dev_wait_push(++n, NULL);
    cJSON_Delete(p);
    assert_int_equal(cloud_job_status(cl, job, &st), 0);
    assert_int_equal(st.state, JOB_PUSHED);
    assert_int_equal(st.pushes, 2);
    dev_inform(NEW_VER);
    assert_true(wait_events("job.succeeded", NULL, ok0 + 1, 3000) >= ok0 + 1);
}

static void test_broker_restart(void **state)
{
    struct cloud_mqtt_faults f = mfaults("restart_broker_at=50", NULL);
    int n = dev_get(&dev.pushes), pid = cloud_broker_pid(cl), subs = dev_get(&dev.subscribed);
    int started = count_events("broker.started", NULL, NULL, 0), job;
    int ok0 = count_events("job.succeeded", NULL, NULL, 0);
    int rec0 = count_events("cloud.mqtt_reconnected", NULL, NULL, 0);
    struct job_status st;
    char err[256];
    long s1, s2, s3, s4, s5;
    cJSON *p;

    (void)state;
    job = job_with(&f, 0);               /* online since its last inform: pushed at once */
    p = dev_wait_push(++n, NULL);
    cJSON_Delete(p);
    dev_progress(100);
    dev_progress(0);
    dev_progress(20);
    dev_progress(50);
    assert_true(wait_events("broker.started", NULL, started + 1, 8000) >= started + 1);
    assert_int_not_equal(cloud_broker_pid(cl), pid);
    assert_int_equal(kill(pid, 0), -1);  /* the old broker is gone */
    /* the service reconnects on its own thread, after broker.started */
    assert_true(wait_events("cloud.mqtt_reconnected", NULL, rec0 + 1, 8000) >= rec0 + 1);
    s1 = event_seq("cloud.fault", "\"fault\":\"restart_broker_at\"", 0);
    s2 = event_seq("cloud.broker_restart", NULL, s1);
    s3 = event_seq("broker.exited", "\"requested\":true", s2);
    s4 = event_seq("broker.started", NULL, s3);
    s5 = event_seq("cloud.mqtt_reconnected", NULL, s4);
    assert_true(s1 && s2 && s3 && s4 && s5);
    assert_true(event_seq("device.offline", "\"reason\":\"broker restart\"", s3) < s4);
    /* the device reconnects by itself; the cloud hears it again */
    dev_wait_subscribed(subs + 1);
    assert_int_equal(cloud_health(cl, err, sizeof err), 0);
    dev_inform(NEW_VER);
    assert_true(wait_events("job.succeeded", NULL, ok0 + 1, 3000) >= ok0 + 1);
    assert_int_equal(cloud_job_status(cl, job, &st), 0);
    assert_int_equal(st.state, JOB_SUCCEEDED);

    /* on request */
    pid = cloud_broker_pid(cl);
    subs = dev_get(&dev.subscribed);
    assert_int_equal(cloud_restart_broker(cl, err, sizeof err), 0);
    assert_int_not_equal(cloud_broker_pid(cl), pid);
    assert_int_equal(cloud_health(cl, err, sizeof err), 0);
    dev_wait_subscribed(subs + 1);
    sleep_ms(2500);                      /* past the grace of a lost session */
    assert_int_equal(cloud_health(cl, err, sizeof err), 0);
    assert_int_equal(count_events("cloud.broker_lost", NULL, NULL, 0), 0);
}

static void test_plan_apply(void **state)
{
    struct fault_plan pl;
    char err[512], line[4096];
    struct reply *x;

    (void)state;
    memset(&pl, 0, sizeof pl);
    snprintf(pl.name, sizeof pl.name, "t-plan");
    assert_int_equal(plan_add_cli(&pl, "http", "status=503", err, sizeof err), 0);
    assert_int_equal(plan_add_cli(&pl, "mqtt", "message=fromplan", err, sizeof err), 0);
    assert_int_equal(plan_add_cli(&pl, "proxy.mqtt", "fault=down:latency=5ms", err, sizeof err), 0);
    assert_int_equal(plan_add_cli(&pl, "plan", "expect=fail-clean", err, sizeof err), 0);
    assert_int_equal(plan_apply_cloud(&pl, cl, err, sizeof err), 0);
    assert_int_equal(count_events("plan.loaded", "\"name\":\"t-plan\"", line, sizeof line), 1);
    assert_non_null(strstr(line, "\"expect\":\"fail-clean\",\"seed\":null,"));
    assert_non_null(strstr(line, "\"http\":[\"http status=503\"],\"mqtt\":\"message=fromplan\","
                                 "\"proxy_mqtt\":[\"down:latency=5ms\"],\"proxy_http\":[],"));
    assert_non_null(strstr(line, "\"summary\":\"http status=503; mqtt message=fromplan; proxy.mqtt 1 fault\""));
    x = device_get(path1, NULL);
    assert_int_equal(x->status, 503);
    reply_free(x);
    plan_free(&pl);
    /* an empty plan clears what was there */
    assert_int_equal(plan_apply_cloud(&pl, cl, err, sizeof err), 0);
    x = device_get(path1, NULL);
    assert_int_equal(x->status, 200);
    reply_free(x);
}

static void test_stop_during_stall(void **state)
{
    struct cloud_http_rule r = rule("stall_at=100", "stall_ms=60000", NULL);
    struct slow_get g = { 0, NULL, NULL };
    uint64_t t0;

    (void)state;
    set_rule(&r);
    assert_int_equal(pthread_create(&g.t, NULL, slow_get_main, &g), 0);
    assert_true(wait_events("http.fault", "paused 60000 ms", 1, 3000) >= 1);
    t0 = now_ms();
    cloud_stop(cl);
    cl = NULL;
    pthread_join(g.t, NULL);
    assert_true(now_ms() - t0 < 5000);
    assert_int_equal(g.r->body_len, 100);
    reply_free(g.r);
}

/* ---- JSON forms: every key of each kind round-trips exactly ---- */

/* to_json, print, parse, from_json: the same struct byte for byte. */
static void roundtrip_http(const struct cloud_http_rule *r)
{
    struct cloud_http_rule back;
    char why[512] = "";
    cJSON *o = cloudfault_http_to_json(r), *p;
    char *text;

    assert_non_null(o);
    text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    p = cJSON_Parse(text);
    free(text);
    assert_non_null(p);
    if (cloudfault_http_from_json(p, &back, why, sizeof why) != 0)
        fail_msg("http from_json: %s", why);
    cJSON_Delete(p);
    assert_memory_equal(&back, r, sizeof back);
}

static void test_json_roundtrip(void **state)
{
    struct cloud_http_rule r, back;
    struct cloud_mqtt_faults f, fb;
    struct cloud_coap_faults c, cb;
    char why[512];
    cJSON *o, *p;
    char *text;
    static const char *const hk[][2] = {
        { "status", "503" }, { "ignore_range", "true" }, { "etag_change", "true" },
        { "length", "-17" }, { "length_body", "file" }, { "chunked", "false" },
        { "pad_headers", "700" }, { "split_headers", "3" }, { "close_at", "123456789012" },
        { "stall_at", "1000" }, { "stall_ms", "250" }, { "stall_then", "close" },
        { "throttle", "4096" }, { "path", "/fw/3/fw target_v2.bin" },
    };
    static const char *const mk[][2] = {
        { "drop_push", "2" }, { "duplicate_at", "50" }, { "offline_push", "true" },
        { "restart_broker_at", "30" }, { "push_len", "2000" }, { "url_len", "700" },
        { "size_string", "true" }, { "size_delta", "+100" },
        { "message", "  the cloud is busy, try again  " }, { "sign_method", "Sha 256 \"x\"" },
        { "sign", "sha256" }, { "sign_case", "upper" }, { "wrong_digest", "true" },
        { "wrong_digest_attempts", "3" },
    };
    static const char *const ck[][2] = {
        { "drop_block", "3" }, { "drop_times", "2" }, { "duplicate_block", "4" },
        { "reorder_block", "5" }, { "delay_block", "6" }, { "delay_ms", "700" },
        { "code_block", "7" }, { "code", "5.03" }, { "code_times", "2" },
        { "etag_change_at", "8" }, { "size2_delta", "-5" }, { "block_szx", "7" },
    };

    (void)state;
    /* the path key rejects spaces: use the text form's own check */
    memset(&r, 0, sizeof r);
    snprintf(r.label, sizeof r.label, "a label, with spaces");
    r.nth = 4;
    for (size_t i = 0; i < sizeof hk / sizeof hk[0]; i++) {
        const char *v = strcmp(hk[i][0], "path") == 0 ? "/fw/3/fw-target_v2.bin" : hk[i][1];
        assert_true(cloudfault_http_set(&r, hk[i][0], v, why, sizeof why) >= 0);
    }
    assert_int_equal(r.set, (1u << CF_H_COUNT) - 1);
    roundtrip_http(&r);
    o = cloudfault_http_to_json(&r);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "settings"), "status")->valuestring,
                        "503");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "settings"), "length")->valuestring,
                        "-17");
    assert_string_equal(cJSON_GetObjectItem(o, "label")->valuestring, "a label, with spaces");
    assert_int_equal(cJSON_GetObjectItem(o, "nth")->valueint, 4);
    cJSON_Delete(o);
    /* each key alone, too */
    for (int k = 0; k < CF_H_COUNT; k++) {
        struct cloud_http_rule one;
        memset(&one, 0, sizeof one);
        if (k == CF_H_LENGTH_BODY || k == CF_H_STALL_MS || k == CF_H_STALL_THEN)
            continue; /* need a partner: covered above */
        assert_true(cloudfault_http_set(&one, cloudfault_http_key_name(k),
                                        k == CF_H_PATH ? "/fw/1/a.bin" : hk[k][1], why,
                                        sizeof why) == k);
        if (k == CF_H_STALL_AT)
            assert_true(cloudfault_http_set(&one, "stall_ms", "9", why, sizeof why) >= 0);
        roundtrip_http(&one);
    }
    roundtrip_http(&(struct cloud_http_rule){ .nth = 0 }); /* nothing set */

    memset(&f, 0, sizeof f);
    for (size_t i = 0; i < sizeof mk / sizeof mk[0]; i++)
        assert_true(cloudfault_mqtt_set(&f, mk[i][0], mk[i][1], why, sizeof why) >= 0);
    assert_int_equal(f.set, (1u << CF_M_COUNT) - 1);
    o = cloudfault_mqtt_to_json(&f);
    text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    p = cJSON_Parse(text);
    free(text);
    if (cloudfault_mqtt_from_json(p, &fb, why, sizeof why) != 0)
        fail_msg("mqtt from_json: %s", why);
    cJSON_Delete(p);
    assert_memory_equal(&fb, &f, sizeof f);
    assert_string_equal(fb.message, "  the cloud is busy, try again  ");

    memset(&c, 0, sizeof c);
    for (size_t i = 0; i < sizeof ck / sizeof ck[0]; i++)
        assert_true(cloudfault_coap_set(&c, ck[i][0], ck[i][1], why, sizeof why) >= 0);
    assert_int_equal(c.set, (1u << CF_C_COUNT) - 1);
    o = cloudfault_coap_to_json(&c);
    text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    p = cJSON_Parse(text);
    free(text);
    if (cloudfault_coap_from_json(p, &cb, why, sizeof why) != 0)
        fail_msg("coap from_json: %s", why);
    cJSON_Delete(p);
    assert_memory_equal(&cb, &c, sizeof c);

    /* errors name the field */
    p = cJSON_Parse("{\"nth\":1,\"settings\":{\"stall_at\":\"10\",\"stall_ms\":\"0\"}}");
    assert_int_equal(cloudfault_http_from_json(p, &back, why, sizeof why), -1);
    assert_non_null(strstr(why, "settings.stall_ms: expected a pause of 1..600000 ms, got '0'"));
    cJSON_Delete(p);
    p = cJSON_Parse("{\"settings\":{\"stall_at\":\"10\"}}");
    assert_int_equal(cloudfault_http_from_json(p, &back, why, sizeof why), -1);
    assert_non_null(strstr(why, "settings.stall_at: needs stall_ms"));
    cJSON_Delete(p);
    p = cJSON_Parse("{\"nth\":-1}");
    assert_int_equal(cloudfault_http_from_json(p, &back, why, sizeof why), -1);
    assert_non_null(strstr(why, "nth:"));
    cJSON_Delete(p);
    p = cJSON_Parse("{\"settings\":{\"colour\":\"red\"}}");
    assert_int_equal(cloudfault_mqtt_from_json(p, &fb, why, sizeof why), -1);
    assert_non_null(strstr(why, "settings.colour: unknown key"));
    cJSON_Delete(p);
    p = cJSON_Parse("{\"settings\":{\"drop_push\":[1]}}");
    assert_int_equal(cloudfault_mqtt_from_json(p, &fb, why, sizeof why), -1);
    assert_non_null(strstr(why, "settings.drop_push: expected a string"));
    cJSON_Delete(p);
    p = cJSON_Parse("{\"settings\":{\"drop_push\":2,\"offline_push\":true}}");
    assert_int_equal(cloudfault_mqtt_from_json(p, &fb, why, sizeof why), 0); /* numbers, booleans */
    assert_int_equal(fb.drop_push, 2);
    assert_int_equal(fb.offline_push, 1);
    cJSON_Delete(p);
    p = cJSON_Parse("{\"settings\":{\"code\":\"5.03\"}}");
    assert_int_equal(cloudfault_coap_from_json(p, &cb, why, sizeof why), -1);
    assert_non_null(strstr(why, "settings.code: code needs code_block"));
    cJSON_Delete(p);
    p = cJSON_Parse("{\"extra\":1}");
    assert_int_equal(cloudfault_coap_from_json(p, &cb, why, sizeof why), -1);
    assert_non_null(strstr(why, "extra: unknown field"));
    cJSON_Delete(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_roundtrip),
        cmocka_unit_test(test_http_status),
        cmocka_unit_test(test_http_range_and_etag),
        cmocka_unit_test(test_http_length),
        cmocka_unit_test(test_http_chunked),
        cmocka_unit_test(test_http_headers),
        cmocka_unit_test(test_http_close_stall_throttle),
        cmocka_unit_test(test_http_picking_and_merging),
        cmocka_unit_test(test_http_rules_change_while_serving),
        cmocka_unit_test(test_push_variants),
        cmocka_unit_test(test_push_drop_and_duplicate),
        cmocka_unit_test(test_push_offline),
        cmocka_unit_test(test_broker_restart),
        cmocka_unit_test(test_plan_apply),
        cmocka_unit_test(test_stop_during_stall),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
