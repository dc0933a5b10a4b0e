/*
 * test_cloud.c - the fake cloud end to end: a real broker and firmware
 * server on free loopback ports, this test acting as the device over MQTT
 * and as the device's raw HTTP client (spec §4.1 request bytes), the REST
 * API, the success/failure rule, retries and at_inform, tables that grow,
 * tolerance of device payload variants, tenants (their own logs, faults and
 * push ids in one shared cloud), broker loss, clean stop, and the
 * `otahil cloud` / `otahil push` commands.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/testutil.h"

#include "conformance/cmd_cloud.h"
#include "mock_cloud/alisign.h"
#include "mock_cloud/cloud.h"
#include "mock_cloud/fwhead.h"
#include "sim/util/defaults.h"
#include "sim/util/evlog.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PK        OTAHIL_DEFAULT_PK
#define DN        OTAHIL_DEFAULT_DN
#define OLD_VER   "app-1.0.0-20180101.1000"
#define NEW_VER   "app-2.0.0-20180601.1200"
#define FW_SIZE   40000
#define SEED      42
#define T_TOPIC_INFORM   "/ota/device/inform/" PK "/" DN
#define T_TOPIC_PROGRESS "/ota/device/progress/" PK "/" DN
#define T_TOPIC_UPGRADE  "/ota/device/upgrade/" PK "/" DN
#define T_INFORM_OLD     "{\"id\":0,\"params\":{\"version\":\"" OLD_VER "\"}}"
#define T_INFORM_NEW     "{\"id\":0,\"params\":{\"version\":\"" NEW_VER "\"}}"

/* ---- fixture ---- */

static char tmpdir[64];
static char events[128];
static char image[128];          /* otahil image, NEW_VER, FW_SIZE bytes */
static unsigned char *image_bytes;
static struct cloud *cl;
static int fw_id;                /* image in the store */
static uint64_t job1_push_id;    /* push id of job 1 under SEED */
static pid_t cmd_child;          /* a running `otahil cloud`, killed at teardown if a test failed */

/* An otahil image as the store reads it: magic at 0, version at 24, the
 * rest a byte pattern. */
static unsigned char *make_image(const char *path, const char *version, size_t size)
{
    unsigned char *b = malloc(size);
    FILE *f;

    assert_non_null(b);
    for (size_t i = 0; i < size; i++)
        b[i] = (unsigned char)(i * 7 + (i >> 8));
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

/* ---- events ---- */

/* Lines of the event log holding "ev":"name"; the last one into last. */
static int count_events(const char *name, char *last, size_t lastlen)
{
    char pat[96], *line = NULL;
    size_t cap = 0;
    int n = 0;
    FILE *f = fopen(events, "r");

    if (!f)
        return 0;
    snprintf(pat, sizeof pat, "\"ev\":\"%s\"", name);
    while (getline(&line, &cap, f) > 0) {
        if (strstr(line, pat)) {
            n++;
            if (last)
                snprintf(last, lastlen, "%s", line);
        }
    }
    free(line);
    fclose(f);
    return n;
}

static int wait_events(const char *name, int atleast, unsigned timeout_ms, char *last, size_t lastlen)
{
    uint64_t end = now_ms() + timeout_ms;
    int n;

    while ((n = count_events(name, last, lastlen)) < atleast && now_ms() < end)
        sleep_ms(10);
    return n;
}

static enum job_state wait_job(struct cloud *c, int job, enum job_state want, struct job_status *st)
{
    uint64_t end = now_ms() + 3000;

    do {
        assert_int_equal(cloud_job_status(c, job, st), 0);
        if (st->state == want)
            break;
        sleep_ms(10);
    } while (now_ms() < end);
    return st->state;
}

/* ---- the device's MQTT side ---- */

enum dev_mode {
    DEV_RECORD = 0,  /* keep pushes for the test to read */
    DEV_SUCCEED,     /* answer a push with an inform of its version */
    DEV_FAIL,        /* answer a push with progress -2 */
};

struct device {
    struct mosquitto *mq;
    pthread_mutex_t   mu;
    pthread_cond_t    cv;
    int               subscribed;
    int               pushes;        /* pushes received */
    int               qos;           /* QoS of the last push */
    char              topic[128];
    char              last[2048];    /* last push payload */
    enum dev_mode     mode;
};

static struct device dev;

static void dev_on_message(struct mosquitto *mq, void *obj, const struct mosquitto_message *m)
{
    struct device *d = obj;
    char reply[256];

    pthread_mutex_lock(&d->mu);
    d->pushes++;
    d->qos = m->qos;
    snprintf(d->topic, sizeof d->topic, "%s", m->topic);
    snprintf(d->last, sizeof d->last, "%.*s", m->payloadlen, (const char *)m->payload);
    if (d->mode == DEV_SUCCEED) {
        cJSON *p = cJSON_Parse(d->last);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p, "data"),
                                                          "version");
        int n = snprintf(reply, sizeof reply, "{\"id\":0,\"params\":{\"version\":\"%s\"}}",
                         cJSON_IsString(v) ? v->valuestring : "none");
        mosquitto_publish(mq, NULL, T_TOPIC_INFORM, n + 1, reply, 1, false);
        cJSON_Delete(p);
    } else if (d->mode == DEV_FAIL) {
        int n = snprintf(reply, sizeof reply,
                         "{\"id\":0,\"params\":{\"step\": \"-2\",\"desc\":\"ota download failed\"}}");
        mosquitto_publish(mq, NULL, T_TOPIC_PROGRESS, n + 1, reply, 1, false);
    }
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

static void dev_on_subscribe(struct mosquitto *mq, void *obj, int mid, int n, const int *g)
{
    struct device *d = obj;

    (void)mq;
    (void)mid;
    (void)n;
    (void)g;
    pthread_mutex_lock(&d->mu);
    d->subscribed = 1;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

static void dev_on_connect(struct mosquitto *mq, void *obj, int rc)
{
    (void)obj;
    if (rc == 0)
        mosquitto_subscribe(mq, NULL, T_TOPIC_UPGRADE, 1);
}

static void dev_connect(struct device *d, int port)
{
    char cid[ALISIGN_CID_MAX + 1], user[ALISIGN_DN_MAX + ALISIGN_PK_MAX + 2],
        pass[ALISIGN_HEX_MAX + 1];
    uint64_t end = now_ms() + 5000;

    memset(d, 0, sizeof *d);
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    mosquitto_lib_init();
    /* signed as linkkit signs (spec §2.1): the broker checks it */
    assert_int_equal(alisign_credentials(PK, DN, OTAHIL_DEFAULT_SECRET, ALISIGN_HMACSHA1, 0, cid,
                                         user, pass), 0);
    d->mq = mosquitto_new(cid, true, d);
    assert_non_null(d->mq);
    mosquitto_username_pw_set(d->mq, user, pass);
    mosquitto_connect_callback_set(d->mq, dev_on_connect);
    mosquitto_subscribe_callback_set(d->mq, dev_on_subscribe);
    mosquitto_message_callback_set(d->mq, dev_on_message);
    assert_int_equal(mosquitto_connect(d->mq, "127.0.0.1", port, 30), MOSQ_ERR_SUCCESS);
    assert_int_equal(mosquitto_loop_start(d->mq), MOSQ_ERR_SUCCESS);
    pthread_mutex_lock(&d->mu);
    while (!d->subscribed && now_ms() < end) {
        pthread_mutex_unlock(&d->mu);
        sleep_ms(5);
        pthread_mutex_lock(&d->mu);
    }
    assert_true(d->subscribed);
    pthread_mutex_unlock(&d->mu);
}

static void dev_close(struct device *d)
{
    if (!d->mq)
        return;
    mosquitto_disconnect(d->mq);
    mosquitto_loop_stop(d->mq, false);
    mosquitto_destroy(d->mq);
    d->mq = NULL;
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
}

static void dev_publish(struct device *d, const char *topic, const void *payload, int len)
{
    assert_int_equal(mosquitto_publish(d->mq, NULL, topic, len, payload, 1, false), MOSQ_ERR_SUCCESS);
}

/* The way uOTA publishes: strlen + 1, so the payload ends in a NUL. */
static void dev_publish_nul(struct device *d, const char *topic, const char *text)
{
    dev_publish(d, topic, text, (int)strlen(text) + 1);
}

static int dev_pushes(struct device *d)
{
    int n;

    pthread_mutex_lock(&d->mu);
    n = d->pushes;
    pthread_mutex_unlock(&d->mu);
    return n;
}

/* Waits for push number n; returns it parsed. */
static cJSON *dev_wait_push(struct device *d, int n)
{
    uint64_t end = now_ms() + 3000;
    cJSON *p;

    pthread_mutex_lock(&d->mu);
    while (d->pushes < n && now_ms() < end) {
        pthread_mutex_unlock(&d->mu);
        sleep_ms(5);
        pthread_mutex_lock(&d->mu);
    }
    assert_int_equal(d->pushes, n);
    assert_string_equal(d->topic, T_TOPIC_UPGRADE);
    assert_int_equal(d->qos, 1);
    p = cJSON_Parse(d->last);
    pthread_mutex_unlock(&d->mu);
    assert_non_null(p);
    return p;
}

/* ---- HTTP over a raw socket ---- */

struct http_reply {
    int            status;
    char           head[2048];    /* status line and headers, NUL-terminated */
    size_t         head_len;      /* bytes up to and including the blank line */
    unsigned char *body;
    size_t         body_len;
};

static int tcp_connect(int port)
{
    struct sockaddr_in sa;
    int s = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(s >= 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof sa), 0);
    return s;
}

/* Sends req as is and reads the reply until the server closes. */
static void http_raw(int port, const char *req, size_t reqlen, struct http_reply *r)
{
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = malloc(cap);
    unsigned char *sep;
    int s = tcp_connect(port);
    ssize_t n;

    assert_non_null(buf);
    assert_int_equal(send(s, req, reqlen, 0), (ssize_t)reqlen);
    while ((n = recv(s, buf + len, cap - len, 0)) > 0) {
        len += (size_t)n;
        if (cap - len < 4096) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    close(s);
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
    r->body[r->body_len] = '\0';
    free(buf);
}

/* The G1/G2 device request, byte for byte (spec §4.1). */
static void device_get(int port, const char *path, const char *range, struct http_reply *r)
{
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nAccept:*/*\r\nUser-Agent: Mozilla/5.0\r\n"
                     "Cache-Control: no-cache\r\nConnection: close\r\n%s%s%sHost:127.0.0.1:%d\r\n\r\n",
                     path, range ? "Range: " : "", range ? range : "", range ? "\r\n" : "", port);
    http_raw(port, req, (size_t)n, r);
}

static const char *header(const struct http_reply *r, const char *name, char *val, size_t vlen)
{
    char pat[64];
    const char *p, *e;

    snprintf(pat, sizeof pat, "\r\n%s: ", name);
    p = strstr(r->head, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    e = strstr(p, "\r\n");
    snprintf(val, vlen, "%.*s", (int)(e - p), p);
    return val;
}

/* A REST call; returns the parsed JSON body (may be NULL). */
static cJSON *api(int port, const char *method, const char *path, const char *body, int *status)
{
    char req[8192];
    struct http_reply r;
    cJSON *j;
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     method, path, port, body ? strlen(body) : 0, body ? body : "");
    http_raw(port, req, (size_t)n, &r);
    *status = r.status;
    j = cJSON_Parse((const char *)r.body);
    free(r.body);
    return j;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

static double jnum(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

/* ---- group set-up ---- */

static int group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/otahil-cloud-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(events, sizeof events, "%s/events.jsonl", tmpdir);
    snprintf(image, sizeof image, "%s/app v2.bin", tmpdir);
    if (evlog_open(events) != 0)
        return -1;
    image_bytes = make_image(image, NEW_VER, FW_SIZE);
    return 0;
}

static int group_teardown(void **state)
{
    char cmd[128];

    (void)state;
    if (cmd_child > 0) { /* its broker follows it (PR_SET_PDEATHSIG) */
        kill(cmd_child, SIGKILL);
        waitpid(cmd_child, NULL, 0);
        cmd_child = 0;
    }
    dev_close(&dev);
    cloud_stop(cl);
    cl = NULL;
    free(image_bytes);
    evlog_close();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- the tests, in order, on one cloud ---- */

static void test_start(void **state)
{
    struct cloud_opts o = { 0 };
    char err[256], wd[128], line[1024];
    cJSON *st, *devs;
    int status, pid;

    (void)state;
    snprintf(wd, sizeof wd, "%s/cloud", tmpdir);
    o.workdir = wd;
    o.seed = SEED;
    cl = cloud_start(&o, err, sizeof err);
    if (!cl)
        fail_msg("cloud_start: %s", err);
    assert_true(cloud_mqtt_port(cl) > 0);
    assert_true(cloud_http_port(cl) > 0);
    assert_int_not_equal(cloud_mqtt_port(cl), cloud_http_port(cl));
    pid = cloud_broker_pid(cl);
    assert_true(pid > 0);
    assert_int_equal(kill(pid, 0), 0);
    assert_int_equal(cloud_health(cl, err, sizeof err), 0);

    assert_int_equal(count_events("broker.started", line, sizeof line), 1);
    assert_non_null(strstr(line, "mosquitto.conf"));
    assert_int_equal(count_events("cloud.started", line, sizeof line), 1);
    assert_non_null(strstr(line, "\"mqtt_port\":"));

    /* the default device is registered, not yet online */
    st = api(cloud_http_port(cl), "GET", "/api/status", NULL, &status);
    assert_int_equal(status, 200);
    assert_int_equal((int)jnum(st, "broker_pid"), pid);
    assert_int_equal((int)jnum(st, "mqtt_port"), cloud_mqtt_port(cl));
    devs = cJSON_GetObjectItemCaseSensitive(st, "devices");
    assert_int_equal(cJSON_GetArraySize(devs), 1);
    assert_string_equal(jstr(cJSON_GetArrayItem(devs, 0), "pk"), PK);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(devs, 0), "online")));
    cJSON_Delete(st);

    dev_connect(&dev, cloud_mqtt_port(cl));
}

static void test_firmware_store(void **state)
{
    char err[256], notimg[128], line[2048];
    struct cloud_fw_opts raw = { .version = "raw-1.0", .unchecked = 1 };
    unsigned char plain[300];
    struct cloud_fw_info fi;
    char md5[33], sha[65];
    FILE *f;

    (void)state;
    fw_id = cloud_add_firmware(cl, image, NULL, err, sizeof err);
    if (fw_id < 0)
        fail_msg("cloud_add_firmware: %s", err);
    assert_int_equal(cloud_firmware_info(cl, fw_id, &fi), 0);
    assert_string_equal(fi.version, NEW_VER);
    assert_int_equal(fi.size, FW_SIZE);
    hexdigest(EVP_md5(), image_bytes, FW_SIZE, md5);
    hexdigest(EVP_sha256(), image_bytes, FW_SIZE, sha);
    assert_string_equal(fi.md5, md5);
    assert_string_equal(fi.sha256, sha);
    assert_string_equal(fi.name, "app_v2.bin"); /* made URL-safe */
    assert_non_null(strstr(fi.path, "/cloud/fw/"));
    assert_int_equal(access(fi.path, R_OK), 0);
    assert_int_equal(cloud_firmware_info(cl, fw_id + 100, &fi), -1);

    /* a file without the AliOS footer (a serial image) is refused, whatever its version;
     * asked explicitly, the cloud serves it unchecked and says so (spec §12 #8, #11) */
    snprintf(notimg, sizeof notimg, "%s/raw.bin", tmpdir);
    f = fopen(notimg, "w");
    assert_non_null(f);
    fputs("just some bytes, no header at all, but long enough to hold one.......................", f);
    fclose(f);
    assert_int_equal(cloud_add_firmware(cl, notimg, "raw-1.0", err, sizeof err), -1);
    assert_non_null(strstr(err, notimg));
    assert_non_null(strstr(err, "no AliOS OTA footer"));
    assert_null(strchr(err, '\n'));
    assert_int_equal(count_events("firmware.refused", line, sizeof line), 1);
    assert_non_null(strstr(line, "no AliOS OTA footer"));
    assert_int_equal(cloud_add_firmware(cl, "/nonexistent/fw.bin", NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/fw.bin"));
    assert_true(cloud_add_firmware_opts(cl, notimg, &raw, err, sizeof err) > fw_id);
    assert_int_equal(count_events("firmware.unchecked", line, sizeof line), 1);
    assert_non_null(strstr(line, "\"format_ok\":false"));
    assert_non_null(strstr(line, "no AliOS OTA footer"));

    /* a file with the footer that is not an otahil image needs an explicit version */
    memset(plain, 0x5A, sizeof plain);
    add_footer(plain, sizeof plain);
    f = fopen(notimg, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(plain, 1, sizeof plain, f), sizeof plain);
    fclose(f);
    assert_int_equal(cloud_add_firmware(cl, notimg, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, notimg));
    assert_non_null(strstr(err, "not an otahil image"));
    assert_null(strchr(err, '\n'));
    assert_true(cloud_add_firmware(cl, notimg, "vendor-1.0", err, sizeof err) > fw_id);
}

static void test_push_on_inform_and_fields(void **state)
{
    struct job_status st;
    struct cloud_fw_info fi;
    char err[256], line[2048], url[256], md5[33];
    const cJSON *data;
    cJSON *push, *js;
    int job;

    (void)state;
    assert_int_equal(cloud_firmware_info(cl, fw_id, &fi), 0);
    /* created while the device is offline: it waits */
    job = cloud_create_job(cl, PK, DN, fw_id, NULL, err, sizeof err);
    assert_int_equal(job, 1);
    assert_int_equal(cloud_job_status(cl, job, &st), 0);
    assert_int_equal(st.state, JOB_WAITING);
    assert_string_equal(st.target, NEW_VER);
    assert_int_equal(count_events("job.created", line, sizeof line), 1);
    assert_non_null(strstr(line, "\"device_online\":false"));
    assert_int_equal(dev_pushes(&dev), 0);
    assert_int_equal(cloud_create_job(cl, PK, "nobody", fw_id, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "nobody"));
    assert_int_equal(cloud_create_job(cl, PK, DN, 99, NULL, err, sizeof err), -1);

    /* the device informs as uOTA does: numeric id, trailing NUL */
    dev_publish_nul(&dev, T_TOPIC_INFORM, "{\"id\":0,\"params\":{\"version\":\"" OLD_VER "\"}}");
    push = dev_wait_push(&dev, 1);
    assert_int_equal(wait_job(cl, job, JOB_PUSHED, &st), JOB_PUSHED);
    assert_int_equal(wait_events("device.inform", 1, 2000, line, sizeof line), 1);
    assert_non_null(strstr(line, "\"version\":\"" OLD_VER "\""));

    /* every field of spec §1.5 */
    hexdigest(EVP_md5(), image_bytes, FW_SIZE, md5);
    assert_string_equal(jstr(push, "code"), "1000");
    assert_string_equal(jstr(push, "message"), "success");
    assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(push, "id")));
    job1_push_id = (uint64_t)jnum(push, "id");
    assert_true(job1_push_id > 1000000000000ull && job1_push_id < (1ull << 53));
    data = cJSON_GetObjectItemCaseSensitive(push, "data");
    assert_true(cJSON_IsObject(data));
    assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(data, "size")));
    assert_int_equal((int)jnum(data, "size"), FW_SIZE);
    assert_string_equal(jstr(data, "signMethod"), "Md5");
    assert_string_equal(jstr(data, "sign"), md5);
    assert_string_equal(jstr(data, "md5"), md5);
    assert_string_equal(jstr(data, "version"), NEW_VER);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/fw/%d/app_v2.bin", cloud_http_port(cl), fw_id);
    assert_string_equal(jstr(data, "url"), url);
    cJSON_Delete(push);

    /* the job's JSON view agrees */
    {
        char *t = cloud_job_json(cl, job);
        js = cJSON_Parse(t);
        free(t);
    }
    assert_string_equal(jstr(js, "state"), "PUSHED");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(js, "last_step")));
    assert_true((uint64_t)jnum(js, "push_id") == job1_push_id);
    cJSON_Delete(js);
    assert_null(cloud_job_json(cl, 999));
    assert_int_equal(count_events("job.pushed", line, sizeof line), 1);
    assert_non_null(strstr(line, "\"sign_method\":\"Md5\""));
}

static void test_download_like_a_device(void **state)
{
    struct cloud_fw_info fi;
    struct http_reply r;
    char path[128], val[128], line[1024], req[256], head[FW_HEAD_MAX];
    int port = cloud_http_port(cl), before;

    (void)state;
    assert_int_equal(cloud_firmware_info(cl, fw_id, &fi), 0);
    snprintf(path, sizeof path, "/fw/%d/app_v2.bin", fw_id);
    before = count_events("http.done", NULL, 0);

    /* the device's exact request: Accept:*/ /* and Host: with no space */
    device_get(port, path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_memory_equal(r.head, "HTTP/1.1 200 OK\r\n", 17);
    assert_true(r.head_len < 512); /* fits the device's first read */
    assert_non_null(strstr(r.head, "\r\nContent-Length: 40000\r\n"));
    assert_non_null(strstr(r.head, "\r\nContent-Type: application/octet-stream\r\n"));
    assert_non_null(strstr(r.head, "\r\nAccept-Ranges: bytes\r\n"));
    assert_non_null(strstr(r.head, "\r\nConnection: close\r\n"));
    snprintf(val, sizeof val, "\r\nETag: \"%s\"\r\n", fi.md5);
    assert_non_null(strstr(r.head, val));
    assert_null(strstr(r.head, "Transfer-Encoding"));
    assert_null(strstr(r.head, "Content-Range"));
    /* the whole block is fwhead's, byte for byte */
    assert_int_equal(fw_response_head(head, sizeof head, 200, 0, FW_SIZE - 1, FW_SIZE, fi.md5),
                     (int)r.head_len);
    assert_string_equal(r.head, head);
    assert_int_equal(r.body_len, FW_SIZE);
    assert_memory_equal(r.body, image_bytes, FW_SIZE);
    free(r.body);
    assert_int_equal(wait_events("http.done", before + 1, 2000, line, sizeof line), before + 1);
    assert_non_null(strstr(line, "\"status\":200,\"bytes\":40000,"));
    count_events("http.request", line, sizeof line);
    assert_non_null(strstr(line, "\"method\":\"GET\""));
    assert_non_null(strstr(line, "\"range\":null"));

    /* resume: Range bytes=1000- */
    device_get(port, path, "bytes=1000-", &r);
    assert_int_equal(r.status, 206);
    assert_memory_equal(r.head, "HTTP/1.1 206 Partial Content\r\n", 30);
    assert_string_equal(header(&r, "Content-Length", val, sizeof val), "39000");
    assert_string_equal(header(&r, "Content-Range", val, sizeof val), "bytes 1000-39999/40000");
    assert_int_equal(fw_response_head(head, sizeof head, 206, 1000, FW_SIZE - 1, FW_SIZE, fi.md5),
                     (int)r.head_len);
    assert_string_equal(r.head, head);
    assert_int_equal(r.body_len, FW_SIZE - 1000);
    assert_memory_equal(r.body, image_bytes + 1000, FW_SIZE - 1000);
    free(r.body);
    count_events("http.request", line, sizeof line);
    assert_non_null(strstr(line, "\"range\":\"bytes=1000-\",\"status\":206"));

    /* bounded range */
    device_get(port, path, "bytes=10-19", &r);
    assert_int_equal(r.status, 206);
    assert_string_equal(header(&r, "Content-Length", val, sizeof val), "10");
    assert_string_equal(header(&r, "Content-Range", val, sizeof val), "bytes 10-19/40000");
    assert_int_equal(r.body_len, 10);
    assert_memory_equal(r.body, image_bytes + 10, 10);
    free(r.body);

    /* past the end */
    device_get(port, path, "bytes=40000-", &r);
    assert_int_equal(r.status, 416);
    assert_string_equal(header(&r, "Content-Range", val, sizeof val), "bytes */40000");
    assert_string_equal(header(&r, "Content-Length", val, sizeof val), "0");
    assert_int_equal(fw_response_head(head, sizeof head, 416, 0, 0, FW_SIZE, fi.md5), (int)r.head_len);
    assert_string_equal(r.head, head);
    assert_int_equal(r.body_len, 0);
    free(r.body);

    /* HEAD: the headers of a GET, no body */
    snprintf(req, sizeof req, "HEAD %s HTTP/1.1\r\nHost:127.0.0.1:%d\r\nConnection: close\r\n\r\n", path, port);
    http_raw(port, req, strlen(req), &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(header(&r, "Content-Length", val, sizeof val), "40000");
    assert_int_equal(r.body_len, 0);
    free(r.body);

    /* unknown firmware, wrong name, unknown path: 404 with a small body */
    device_get(port, "/fw/999/x.bin", NULL, &r);
    assert_int_equal(r.status, 404);
    assert_true(r.body_len > 0 && r.body_len < 100);
    free(r.body);
    snprintf(path, sizeof path, "/fw/%d/other.bin", fw_id);
    device_get(port, path, NULL, &r);
    assert_int_equal(r.status, 404);
    free(r.body);
    device_get(port, "/elsewhere", NULL, &r);
    assert_int_equal(r.status, 404);
    free(r.body);
}

static void test_progress_failure_and_success_rule(void **state)
{
    struct job_status st;
    char err[256], line[1024], sha[65];
    const cJSON *data;
    cJSON *push;
    int job;

    (void)state;
    /* job 1 was pushed: progress "0" (uOTA spacing), then -4 with a string id */
    dev_publish_nul(&dev, T_TOPIC_PROGRESS, "{\"id\":0,\"params\":{\"step\": \"0\",\"desc\":\"\"}}");
    assert_int_equal(wait_job(cl, 1, JOB_IN_PROGRESS, &st), JOB_IN_PROGRESS);
    assert_int_equal(st.last_step, 0);
    dev_publish_nul(&dev, T_TOPIC_PROGRESS,
                    "{\"id\":\"123\",\"params\":{\"step\": \"-4\",\"desc\":\"ota check hash failed\"}}");
    assert_int_equal(wait_job(cl, 1, JOB_FAILED, &st), JOB_FAILED);
    assert_int_equal(st.last_step, -4);
    assert_string_equal(st.reason, "device reported step -4 (ota check hash failed)");
    assert_int_equal(wait_events("job.failed", 1, 2000, line, sizeof line), 1);
    assert_non_null(strstr(line, "ota check hash failed"));
    count_events("device.progress", line, sizeof line);
    assert_non_null(strstr(line, "\"step\":-4,\"desc\":\"ota check hash failed\""));

    /* job 2, SHA-256, device online: pushed at once */
    job = cloud_create_job(cl, PK, DN, fw_id, &(struct push_opts){ .sign_method = "Sha256" }, err,
                           sizeof err);
    assert_int_equal(job, 2);
    push = dev_wait_push(&dev, 2);
    data = cJSON_GetObjectItemCaseSensitive(push, "data");
    hexdigest(EVP_sha256(), image_bytes, FW_SIZE, sha);
    assert_string_equal(jstr(data, "signMethod"), "Sha256");
    assert_string_equal(jstr(data, "sign"), sha);
    assert_int_equal(strlen(jstr(data, "md5")), 32);
    assert_true((uint64_t)jnum(push, "id") != job1_push_id);
    cJSON_Delete(push);
    /* step as a JSON number, no desc, no NUL (IOTKIT style) */
    dev_publish(&dev, T_TOPIC_PROGRESS, "{\"id\":1,\"params\":{\"step\":50}}", 29);
    assert_int_equal(wait_job(cl, job, JOB_IN_PROGRESS, &st), JOB_IN_PROGRESS);
    assert_int_equal(st.last_step, 50);
    /* after the reboot the device reports the target version */
    dev_publish_nul(&dev, T_TOPIC_INFORM, "{\"id\":0,\"params\":{\"version\":\"" NEW_VER "\"}}");
    assert_int_equal(wait_job(cl, job, JOB_SUCCEEDED, &st), JOB_SUCCEEDED);
    assert_int_equal(wait_events("job.succeeded", 1, 2000, line, sizeof line), 1);
    assert_non_null(strstr(line, "\"version\":\"" NEW_VER "\""));

    /* job 3: the device comes back with the old version: FAILED (spec §9.3) */
    job = cloud_create_job(cl, PK, DN, fw_id, NULL, err, sizeof err);
    cJSON_Delete(dev_wait_push(&dev, 3));
    dev_publish_nul(&dev, T_TOPIC_INFORM, "{\"id\":0,\"params\":{\"version\":\"" OLD_VER "\"}}");
    assert_int_equal(wait_job(cl, job, JOB_FAILED, &st), JOB_FAILED);
    assert_string_equal(st.reason, "device reported " OLD_VER " after the push, expected " NEW_VER);

    /* job 4 is superseded by job 5 */
    job = cloud_create_job(cl, PK, DN, fw_id, NULL, err, sizeof err);
    cJSON_Delete(dev_wait_push(&dev, 4));
    assert_int_equal(cloud_create_job(cl, PK, DN, fw_id, NULL, err, sizeof err), job + 1);
    assert_int_equal(cloud_job_status(cl, job, &st), 0);
    assert_int_equal(st.state, JOB_FAILED);
    assert_string_equal(st.reason, "superseded by job 5");
    cJSON_Delete(dev_wait_push(&dev, 5));
    assert_string_equal(cloud_job_state_name(JOB_IN_PROGRESS), "IN_PROGRESS");
}

static void test_bad_payloads(void **state)
{
    static const unsigned char garbage[] = { 0x01, 0xff, 'n', 'o', 't', ' ', 'j', 's', 'o', 'n', 0 };
    struct job_status before, after;
    char err[256], line[1024];
    int n0 = count_events("cloud.bad_payload", NULL, 0);

    (void)state;
    assert_int_equal(cloud_job_status(cl, 5, &before), 0);
    dev_publish(&dev, T_TOPIC_INFORM, garbage, sizeof garbage);
    assert_int_equal(wait_events("cloud.bad_payload", n0 + 1, 2000, line, sizeof line), n0 + 1);
    assert_non_null(strstr(line, "\"topic\":\"" T_TOPIC_INFORM "\""));
    assert_non_null(strstr(line, "\"len\":11"));
    dev_publish_nul(&dev, T_TOPIC_PROGRESS, "{\"id\":0,\"params\":{\"step\": \"abc\"}}");
    dev_publish(&dev, T_TOPIC_INFORM, "", 0);
    dev_publish_nul(&dev, T_TOPIC_INFORM, "{\"id\":0,\"params\":{}}");
    dev_publish_nul(&dev, T_TOPIC_INFORM, "{\"id\":0,\"params\":{\"version\":\"x\"}} trailing");
    dev_publish(&dev, T_TOPIC_PROGRESS, "\0\0\0", 3);
    assert_int_equal(wait_events("cloud.bad_payload", n0 + 6, 2000, line, sizeof line), n0 + 6);
    /* still healthy, nothing changed */
    assert_int_equal(cloud_health(cl, err, sizeof err), 0);
    assert_int_equal(cloud_job_status(cl, 5, &after), 0);
    assert_int_equal(after.state, before.state);
    /* and the service still listens */
    dev_publish_nul(&dev, T_TOPIC_PROGRESS, "{\"id\":0,\"params\":{\"step\":\"7\"}}");
    assert_int_equal(wait_job(cl, 5, JOB_IN_PROGRESS, &after), JOB_IN_PROGRESS);
}

/* ---- retries and at_inform ---- */

/* The job's JSON view, parsed. */
static cJSON *job_json(struct cloud *c, int job)
{
    char *t = cloud_job_json(c, job);
    cJSON *j;

    assert_non_null(t);
    j = cJSON_Parse(t);
    free(t);
    assert_non_null(j);
    return j;
}

/* No further push reaches the device within ms: it still has n. */
static void dev_no_push(struct device *d, int n, unsigned ms)
{
    sleep_ms(ms);
    assert_int_equal(dev_pushes(d), n);
}

/* A push as the device got it: the data.version it names and its "id". */
static uint64_t push_checked(struct device *d, int n)
{
    cJSON *p = dev_wait_push(d, n);
    uint64_t id;

    assert_string_equal(jstr(cJSON_GetObjectItemCaseSensitive(p, "data"), "version"), NEW_VER);
    id = (uint64_t)jnum(p, "id");
    assert_true(id > 1000000000000ull && id < (1ull << 53));
    cJSON_Delete(p);
    return id;
}

static void test_retries_on_old_version(void **state)
{
    struct job_status st;
    char err[256], line[1024], want[256];
    uint64_t id[3];
    int n0 = dev_pushes(&dev), r0 = count_events("job.retry", NULL, 0), job;
    cJSON *js;

    (void)state;
    assert_int_equal(cloud_create_job(cl, PK, DN, fw_id,
                                      &(struct push_opts){ .retries = CLOUD_MAX_RETRIES + 1 }, err,
                                      sizeof err), -1);
    assert_non_null(strstr(err, "retries"));
    assert_int_equal(cloud_create_job(cl, PK, DN, fw_id, &(struct push_opts){ .retries = -1 }, err,
                                      sizeof err), -1);

    /* retries 2: three pushes in all; the device is online, so the first goes out now */
    job = cloud_create_job(cl, PK, DN, fw_id, &(struct push_opts){ .retries = 2 }, err, sizeof err);
    assert_true(job > 0);
    id[0] = push_checked(&dev, n0 + 1);
    assert_int_equal(wait_job(cl, job, JOB_PUSHED, &st), JOB_PUSHED);
    assert_int_equal(st.pushes, 1);
    assert_int_equal(st.retries, 2);
    js = job_json(cl, job);
    assert_true((uint64_t)jnum(js, "push_id") == id[0]);
    assert_int_equal((int)jnum(js, "pushes"), 1);
    assert_int_equal((int)jnum(js, "retries"), 2);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(js, "at_inform")));
    cJSON_Delete(js);

    /* some progress, then the device comes back on the old version: pushed again */
    dev_publish_nul(&dev, T_TOPIC_PROGRESS, "{\"id\":0,\"params\":{\"step\": \"30\",\"desc\":\"\"}}");
    assert_int_equal(wait_job(cl, job, JOB_IN_PROGRESS, &st), JOB_IN_PROGRESS);
    assert_int_equal(st.last_step, 30);
    dev_publish_nul(&dev, T_TOPIC_INFORM, T_INFORM_OLD);
    id[1] = push_checked(&dev, n0 + 2);
    assert_int_equal(wait_job(cl, job, JOB_PUSHED, &st), JOB_PUSHED);
    assert_int_equal(st.pushes, 2);
    assert_int_equal(st.last_step, -1000); /* reset for the new push */
    assert_int_equal(wait_events("job.retry", r0 + 1, 2000, line, sizeof line), r0 + 1);
    snprintf(want, sizeof want, "\"job\":%d,\"attempt\":2,\"reason\":\"device reported " OLD_VER
             " after the push, expected " NEW_VER "\"", job);
    assert_non_null(strstr(line, want));
    js = job_json(cl, job);
    assert_true((uint64_t)jnum(js, "push_id") == id[1]);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(js, "last_step")));
    cJSON_Delete(js);

    /* again: the third and last push */
    dev_publish_nul(&dev, T_TOPIC_INFORM, T_INFORM_OLD);
    id[2] = push_checked(&dev, n0 + 3);
    assert_int_equal(wait_job(cl, job, JOB_PUSHED, &st), JOB_PUSHED);
    assert_int_equal(st.pushes, 3);
    assert_int_equal(wait_events("job.retry", r0 + 2, 2000, line, sizeof line), r0 + 2);
    assert_non_null(strstr(line, "\"attempt\":3,"));
    /* every push has its own id, same job */
    assert_true(id[0] != id[1] && id[1] != id[2] && id[0] != id[2]);

    /* the budget is spent: the next old version fails the job, no fourth push */
    dev_publish_nul(&dev, T_TOPIC_INFORM, T_INFORM_OLD);
    assert_int_equal(wait_job(cl, job, JOB_FAILED, &st), JOB_FAILED);
    assert_string_equal(st.reason, "device reported " OLD_VER " after the push, expected " NEW_VER);
    assert_int_equal(st.pushes, 3);
    dev_no_push(&dev, n0 + 3, 300);
    assert_int_equal(count_events("job.retry", NULL, 0), r0 + 2);
    js = job_json(cl, job);
    assert_string_equal(jstr(js, "state"), "FAILED");
    assert_int_equal((int)jnum(js, "pushes"), 3);
    assert_int_equal((int)jnum(js, "retries"), 2);
    cJSON_Delete(js);
}

static void test_retry_after_negative_step(void **state)
{
    struct job_status st;
    char err[256], line[1024], want[256];
    uint64_t id1, id2;
    int n0 = dev_pushes(&dev), r0 = count_events("job.retry", NULL, 0), job;
    cJSON *js;

    (void)state;
    job = cloud_create_job(cl, PK, DN, fw_id, &(struct push_opts){ .sign_method = "Md5", .retries = 1 },
                           err, sizeof err);
    assert_true(job > 0);
    id1 = push_checked(&dev, n0 + 1);
    dev_publish_nul(&dev, T_TOPIC_PROGRESS, "{\"id\":0,\"params\":{\"step\": \"20\",\"desc\":\"\"}}");
    assert_int_equal(wait_job(cl, job, JOB_IN_PROGRESS, &st), JOB_IN_PROGRESS);

    /* a failed download: not pushed at once (that would interrupt the
     * device), WAITING for its next inform */
    dev_publish_nul(&dev, T_TOPIC_PROGRESS,
                    "{\"id\":0,\"params\":{\"step\": \"-2\",\"desc\":\"ota download failed\"}}");
    assert_int_equal(wait_job(cl, job, JOB_WAITING, &st), JOB_WAITING);
    assert_int_equal(st.last_step, -2);
    assert_int_equal(st.pushes, 1);
    assert_int_equal(wait_events("job.retry", r0 + 1, 2000, line, sizeof line), r0 + 1);
    snprintf(want, sizeof want, "\"job\":%d,\"attempt\":2,\"reason\":\"device reported step -2 "
             "(ota download failed)\"", job);
    assert_non_null(strstr(line, want));
    /* more reports of the failed attempt change nothing */
    dev_publish_nul(&dev, T_TOPIC_PROGRESS,
                    "{\"id\":0,\"params\":{\"step\": \"-2\",\"desc\":\"again\"}}");
    dev_no_push(&dev, n0 + 1, 300);
    assert_int_equal(cloud_job_status(cl, job, &st), 0);
    assert_int_equal(st.state, JOB_WAITING);
    assert_int_equal(count_events("job.retry", NULL, 0), r0 + 1);

    /* the device informs its old version when it is ready: the second push */
    dev_publish_nul(&dev, T_TOPIC_INFORM, T_INFORM_OLD);
    id2 = push_checked(&dev, n0 + 2);
    assert_true(id2 != id1);
    assert_int_equal(wait_job(cl, job, JOB_PUSHED, &st), JOB_PUSHED);
    assert_int_equal(st.pushes, 2);
    assert_int_equal(st.last_step, -1000);

    /* and this time it installs it: the target version means SUCCEEDED */
    dev_publish_nul(&dev, T_TOPIC_PROGRESS, "{\"id\":0,\"params\":{\"step\": \"100\",\"desc\":\"\"}}");
    assert_int_equal(wait_job(cl, job, JOB_IN_PROGRESS, &st), JOB_IN_PROGRESS);
    dev_publish_nul(&dev, T_TOPIC_INFORM, T_INFORM_NEW);
    assert_int_equal(wait_job(cl, job, JOB_SUCCEEDED, &st), JOB_SUCCEEDED);
    assert_string_equal(st.reason, "device reported the target version " NEW_VER);
    js = job_json(cl, job);
    assert_string_equal(jstr(js, "state"), "SUCCEEDED");
    assert_int_equal((int)jnum(js, "pushes"), 2);
    assert_int_equal((int)jnum(js, "retries"), 1);
    assert_int_equal((int)jnum(js, "last_step"), 100);
    assert_true((uint64_t)jnum(js, "push_id") == id2);
    cJSON_Delete(js);
    dev_no_push(&dev, n0 + 2, 100);

    /* a negative step with no push left fails at once, as without retries */
    job = cloud_create_job(cl, PK, DN, fw_id, &(struct push_opts){ .retries = 1 }, err, sizeof err);
    push_checked(&dev, n0 + 3);
    dev_publish_nul(&dev, T_TOPIC_INFORM, T_INFORM_OLD);
    push_checked(&dev, n0 + 4);
    dev_publish_nul(&dev, T_TOPIC_PROGRESS, "{\"id\":0,\"params\":{\"step\": \"-3\",\"desc\":\"\"}}");
    assert_int_equal(wait_job(cl, job, JOB_FAILED, &st), JOB_FAILED);
    assert_string_equal(st.reason, "device reported step -3");
    assert_int_equal(st.pushes, 2);
}

static void test_at_inform(void **state)
{
    struct job_status st;
    char err[256], line[1024], want[64];
    int n0 = dev_pushes(&dev), job;
    cJSON *js;

    (void)state;
    /* the device is online, but the job waits for its next inform */
    job = cloud_create_job(cl, PK, DN, fw_id, &(struct push_opts){ .at_inform = 1 }, err, sizeof err);
    assert_true(job > 0);
    assert_true(count_events("job.created", line, sizeof line) > 0);
    snprintf(want, sizeof want, "\"job\":%d,", job);
    assert_non_null(strstr(line, want));
    assert_non_null(strstr(line, "\"device_online\":true,\"retries\":0,\"at_inform\":true"));
    dev_no_push(&dev, n0, 300);
    assert_int_equal(cloud_job_status(cl, job, &st), 0);
    assert_int_equal(st.state, JOB_WAITING);
    assert_int_equal(st.pushes, 0);
    js = job_json(cl, job);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(js, "at_inform")));
    assert_int_equal((int)jnum(js, "pushes"), 0);
    cJSON_Delete(js);

    /* its inform brings the push */
    dev_publish_nul(&dev, T_TOPIC_INFORM, T_INFORM_OLD);
    push_checked(&dev, n0 + 1);
    assert_int_equal(wait_job(cl, job, JOB_PUSHED, &st), JOB_PUSHED);
    assert_int_equal(st.pushes, 1);
    dev_publish_nul(&dev, T_TOPIC_INFORM, T_INFORM_NEW);
    assert_int_equal(wait_job(cl, job, JOB_SUCCEEDED, &st), JOB_SUCCEEDED);
    dev_no_push(&dev, n0 + 1, 100);
}

static void test_rest_api(void **state)
{
    int port = cloud_http_port(cl), status, job;
    char body[512], path[64], raw[128];
    cJSON *r, *jobs;
    FILE *f;

    (void)state;
    r = api(port, "POST", "/api/devices", "{\"pk\":\"a1Other\",\"dn\":\"dev-9\",\"secret\":\"s\"}", &status);
    assert_int_equal(status, 201);
    assert_string_equal(jstr(r, "dn"), "dev-9");
    cJSON_Delete(r);

    snprintf(raw, sizeof raw, "%s/plain.bin", tmpdir);
    f = fopen(raw, "w");
    assert_non_null(f);
    fputs("plain firmware", f);
    fclose(f);
    /* no AliOS footer: refused unless asked for unchecked */
    snprintf(body, sizeof body, "{\"path\":\"%s\",\"version\":\"plain-1\"}", raw);
    r = api(port, "POST", "/api/firmware", body, &status);
    assert_int_equal(status, 400);
    assert_non_null(strstr(jstr(r, "error"), "too short to hold the 28-byte AliOS OTA footer"));
    assert_non_null(strstr(jstr(r, "error"), raw));
    cJSON_Delete(r);
    snprintf(body, sizeof body, "{\"path\":\"%s\",\"version\":\"plain-1\",\"unchecked\":1}", raw);
    r = api(port, "POST", "/api/firmware", body, &status);
    assert_int_equal(status, 400);
    assert_string_equal(jstr(r, "error"), "unchecked must be true or false");
    cJSON_Delete(r);
    snprintf(body, sizeof body, "{\"path\":\"%s\",\"version\":\"plain-1\",\"unchecked\":true}", raw);
    r = api(port, "POST", "/api/firmware", body, &status);
    assert_int_equal(status, 201);
    assert_int_equal((int)jnum(r, "size"), 14);
    assert_int_equal(strlen(jstr(r, "md5")), 32);
    assert_int_equal(strlen(jstr(r, "sha256")), 64);
    assert_non_null(strstr(jstr(r, "url"), "/plain.bin"));
    snprintf(body, sizeof body, "{\"pk\":\"a1Other\",\"dn\":\"dev-9\",\"firmware\":%d,\"signMethod\":\"Sha256\"}",
             (int)jnum(r, "id"));
    cJSON_Delete(r);

    r = api(port, "POST", "/api/jobs", body, &status);
    assert_int_equal(status, 201);
    job = (int)jnum(r, "id");
    cJSON_Delete(r);
    snprintf(path, sizeof path, "/api/jobs/%d", job);
    r = api(port, "GET", path, NULL, &status);
    assert_int_equal(status, 200);
    assert_string_equal(jstr(r, "state"), "WAITING"); /* dev-9 never informed */
    assert_string_equal(jstr(r, "sign_method"), "Sha256");
    assert_string_equal(jstr(r, "version"), "plain-1");
    cJSON_Delete(r);

    r = api(port, "GET", "/api/status", NULL, &status);
    assert_int_equal(status, 200);
    jobs = cJSON_GetObjectItemCaseSensitive(r, "jobs");
    assert_int_equal(cJSON_GetArraySize(jobs), job);
    assert_string_equal(jstr(cJSON_GetArrayItem(jobs, 1), "state"), "SUCCEEDED");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "devices")), 2);
    cJSON_Delete(r);

    /* errors: 4xx with {"error":"..."} */
    r = api(port, "POST", "/api/jobs", "{not json", &status);
    assert_int_equal(status, 400);
    assert_non_null(strstr(jstr(r, "error"), "JSON"));
    cJSON_Delete(r);
    r = api(port, "POST", "/api/jobs", "{\"pk\":\"a1Other\",\"dn\":\"nobody\",\"firmware\":1}", &status);
    assert_int_equal(status, 400);
    assert_non_null(strstr(jstr(r, "error"), "nobody"));
    cJSON_Delete(r);
    r = api(port, "POST", "/api/firmware", "{\"path\":\"/nonexistent.bin\"}", &status);
    assert_int_equal(status, 400);
    assert_non_null(strstr(jstr(r, "error"), "/nonexistent.bin"));
    cJSON_Delete(r);
    r = api(port, "GET", "/api/jobs/9999", NULL, &status);
    assert_int_equal(status, 404);
    cJSON_Delete(r);
    r = api(port, "GET", "/api/jobs", NULL, &status);
    assert_int_equal(status, 405);
    cJSON_Delete(r);
    r = api(port, "GET", "/api/nothing", NULL, &status);
    assert_int_equal(status, 404);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(r, "error"));
    cJSON_Delete(r);
}

static void test_rest_job_options(void **state)
{
    static const char *const bad[][2] = {
        { "\"retries\":101", "retries" },
        { "\"retries\":-1", "retries" },
        { "\"retries\":1.5", "retries" },
        { "\"retries\":\"2\"", "retries" },
        { "\"at_inform\":1", "at_inform" },
        { "\"at_inform\":\"yes\"", "at_inform" },
    };
    int port = cloud_http_port(cl), status, job;
    char body[256], path[64];
    cJSON *r;

    (void)state;
    /* dev-9 (registered by test_rest_api) is offline: the job waits */
    snprintf(body, sizeof body, "{\"pk\":\"a1Other\",\"dn\":\"dev-9\",\"firmware\":%d,"
             "\"retries\":3,\"at_inform\":true}", fw_id);
    r = api(port, "POST", "/api/jobs", body, &status);
    assert_int_equal(status, 201);
    job = (int)jnum(r, "id");
    cJSON_Delete(r);
    snprintf(path, sizeof path, "/api/jobs/%d", job);
    r = api(port, "GET", path, NULL, &status);
    assert_int_equal(status, 200);
    assert_string_equal(jstr(r, "state"), "WAITING");
    assert_int_equal((int)jnum(r, "retries"), 3);
    assert_int_equal((int)jnum(r, "pushes"), 0);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "at_inform")));
    cJSON_Delete(r);

    /* null means absent */
    snprintf(body, sizeof body, "{\"pk\":\"a1Other\",\"dn\":\"dev-9\",\"firmware\":%d,"
             "\"retries\":null,\"at_inform\":null}", fw_id);
    r = api(port, "POST", "/api/jobs", body, &status);
    assert_int_equal(status, 201);
    snprintf(path, sizeof path, "/api/jobs/%d", (int)jnum(r, "id"));
    cJSON_Delete(r);
    r = api(port, "GET", path, NULL, &status);
    assert_int_equal((int)jnum(r, "retries"), 0);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r, "at_inform")));
    cJSON_Delete(r);

    /* bad types and ranges: 400, one line naming the field, no job */
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        snprintf(body, sizeof body, "{\"pk\":\"a1Other\",\"dn\":\"dev-9\",\"firmware\":%d,%s}",
                 fw_id, bad[k][0]);
        r = api(port, "POST", "/api/jobs", body, &status);
        assert_int_equal(status, 400);
        assert_non_null(strstr(jstr(r, "error"), bad[k][1]));
        assert_null(strchr(jstr(r, "error"), '\n'));
        cJSON_Delete(r);
    }
    snprintf(path, sizeof path, "/api/jobs/%d", job + 2);
    r = api(port, "GET", path, NULL, &status);
    assert_int_equal(status, 404);
    cJSON_Delete(r);
}

static void test_tables_grow(void **state)
{
    struct job_status st;
    char err[256], dn[40], want[64];
    int first = 0, last = 0, ndev, n0, job;
    cJSON *r;

    (void)state;
    /* a sweep makes one job per cut point: thousands, here on one offline
     * device, each superseding the one before */
    assert_int_equal(cloud_add_device(cl, "a1Many", "dev-m", "s"), 0);
    for (int k = 0; k < 3000; k++) {
        last = cloud_create_job(cl, "a1Many", "dev-m", fw_id, NULL, err, sizeof err);
        if (last < 0)
            fail_msg("job %d of 3000: %s", k + 1, err);
        if (!first)
            first = last;
    }
    assert_int_equal(last, first + 2999);
    assert_int_equal(cloud_job_status(cl, first, &st), 0);
    assert_int_equal(st.state, JOB_FAILED);
    snprintf(want, sizeof want, "superseded by job %d", first + 1);
    assert_string_equal(st.reason, want);
    assert_int_equal(cloud_job_status(cl, last, &st), 0);
    assert_int_equal(st.state, JOB_WAITING);
    assert_int_equal(cloud_job_status(cl, 1, &st), 0); /* the first job of all, still there */
    assert_string_equal(st.target, NEW_VER);

    /* the device table grows up to CLOUD_MAX_DEVICES, then refuses */
    for (ndev = 0;; ndev++) {
        snprintf(dn, sizeof dn, "dev-%d", ndev);
        if (cloud_add_device(cl, "a1Fleet", dn, "s") != 0)
            break;
        assert_true(ndev < CLOUD_MAX_DEVICES);
    }
    {
        char *t = cloud_status_json(cl);
        r = cJSON_Parse(t);
        free(t);
    }
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "devices")),
                     CLOUD_MAX_DEVICES);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "jobs")), last);
    cJSON_Delete(r);
    assert_int_equal(cloud_add_device(cl, PK, DN, OTAHIL_DEFAULT_SECRET), 0); /* known: still fine */

    /* after all that moving, the first device still gets its push */
    n0 = dev_pushes(&dev);
    job = cloud_create_job(cl, PK, DN, fw_id, NULL, err, sizeof err);
    assert_int_equal(job, last + 1);
    push_checked(&dev, n0 + 1);
    dev_publish_nul(&dev, T_TOPIC_INFORM, T_INFORM_NEW);
    assert_int_equal(wait_job(cl, job, JOB_SUCCEEDED, &st), JOB_SUCCEEDED);
}

static void test_second_cloud_seed_and_throttle(void **state)
{
    struct cloud_opts o = { 0 };
    struct http_reply r;
    struct cloud *c2;
    char err[256], wd[128], path[64];
    uint64_t t0, ms;
    cJSON *j;
    int id, job, pid;

    (void)state;
    snprintf(wd, sizeof wd, "%s/cloud2", tmpdir);
    o.workdir = wd;
    o.seed = SEED;
    o.throttle_bps = 20000;
    c2 = cloud_start(&o, err, sizeof err);
    if (!c2)
        fail_msg("second cloud_start: %s", err);
    assert_int_not_equal(cloud_mqtt_port(c2), cloud_mqtt_port(cl));
    id = cloud_add_firmware(c2, image, NULL, err, sizeof err);
    assert_true(id > 0);
    /* same seed, same job id: same push id, whatever the clock says */
    job = cloud_create_job(c2, PK, DN, id, NULL, err, sizeof err);
    assert_int_equal(job, 1);
    {
        char *t = cloud_job_json(c2, job);
        j = cJSON_Parse(t);
        free(t);
    }
    assert_true((uint64_t)jnum(j, "push_id") == job1_push_id);
    cJSON_Delete(j);

    /* 5000 bytes at 20000 B/s: about 200 ms, in pieces */
    snprintf(path, sizeof path, "/fw/%d/app_v2.bin", id);
    t0 = now_ms();
    device_get(cloud_http_port(c2), path, "bytes=35000-", &r);
    ms = now_ms() - t0;
    assert_int_equal(r.status, 206);
    assert_int_equal(r.body_len, 5000);
    assert_memory_equal(r.body, image_bytes + 35000, 5000);
    free(r.body);
    assert_true(ms >= 150);
    assert_true(ms < 3000);

    /* stop leaves no broker behind */
    pid = cloud_broker_pid(c2);
    cloud_stop(c2);
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(errno, ESRCH);
    cloud_stop(NULL);
}

/* ---- tenants: one cloud, several runs (docs/cloud.md, "Tenants") ---- */

/* Lines of file holding text (NULL: all lines). */
static int file_count(const char *path, const char *text)
{
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    FILE *f = fopen(path, "r");

    if (!f)
        return 0;
    while (getline(&line, &cap, f) > 0)
        if (!text || strstr(line, text))
            n++;
    free(line);
    fclose(f);
    return n;
}

static int file_wait(const char *path, const char *text, int atleast)
{
    uint64_t end = now_ms() + 5000;
    int n;

    while ((n = file_count(path, text)) < atleast && now_ms() < end)
        sleep_ms(10);
    return n;
}

/* seq 1..N in file order */
static void file_seq_ok(const char *path)
{
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    FILE *f = fopen(path, "r");

    assert_non_null(f);
    while (getline(&line, &cap, f) > 0) {
        cJSON *o = cJSON_Parse(line);
        assert_non_null(o);
        assert_int_equal((int)jnum(o, "seq"), ++n);
        cJSON_Delete(o);
    }
    free(line);
    fclose(f);
}

static uint64_t job_push_id(struct cloud *c, int job)
{
    char *t = cloud_job_json(c, job);
    cJSON *j = cJSON_Parse(t);
    uint64_t id;

    free(t);
    assert_non_null(j);
    id = (uint64_t)jnum(j, "push_id");
    cJSON_Delete(j);
    return id;
}

static void test_tenants(void **state)
{
    struct cloud_opts o = { 0 };
    struct cloud_http_rule ra, rb, wide, many[CF_HTTP_RULES_MAX + 1];
    struct cloud_mqtt_faults mf;
    struct cloud_tenant ta, tb;
    struct cloud_fw_opts fo = { 0 };
    struct job_status st;
    struct http_reply r;
    struct cloud *c2;
    struct mosquitto *mq;
    char err[512], wd[128], eva[160], evb[160], pa[64], pb[64], p0[64], why[256];
    int fa, fb, f0, ja, jb, n, fw_base, get_base;

    (void)state;
    fw_base = file_count(events, "\"ev\":\"firmware.added\"");
    snprintf(wd, sizeof wd, "%s/cloud-tenants", tmpdir);
    snprintf(eva, sizeof eva, "%s/run-a.jsonl", tmpdir);
    snprintf(evb, sizeof evb, "%s/run-b.jsonl", tmpdir);
    o.workdir = wd;
    o.seed = 99;
    o.no_auth = 1; /* this test publishes device messages with a plain client */
    c2 = cloud_start(&o, err, sizeof err);
    if (!c2)
        fail_msg("cloud_start: %s", err);

    /* A: its first GET gets 503; B: clean GETs */
    memset(&ra, 0, sizeof ra);
    snprintf(ra.label, sizeof ra.label, "a-first");
    ra.nth = 1;
    assert_true(cloudfault_http_set(&ra, "status", "503", why, sizeof why) >= 0);
    memset(&ta, 0, sizeof ta);
    ta = (struct cloud_tenant){ .pk = "pkTenA", .dn = "devA", .secret = "sA", .events = eva,
                                .seed = SEED, .http = &ra, .nhttp = 1 };
    tb = (struct cloud_tenant){ .pk = "pkTenB", .dn = "devB", .secret = "sB", .events = evb,
                                .seed = 5 };
    if (cloud_add_tenant(c2, &ta, err, sizeof err) != 0)
        fail_msg("tenant A: %s", err);
    if (cloud_add_tenant(c2, &tb, err, sizeof err) != 0)
        fail_msg("tenant B: %s", err);

    /* refusals, each one line naming what is wrong */
    memset(&mf, 0, sizeof mf);
    assert_true(cloudfault_mqtt_set(&mf, "restart_broker_at", "40", why, sizeof why) >= 0);
    tb.mqtt = &mf;
    assert_int_equal(cloud_add_tenant(c2, &tb, err, sizeof err), -1);
    assert_non_null(strstr(err, "restart_broker_at restarts the broker of every tenant; give the "
                                "run a cloud of its own"));
    tb.mqtt = NULL;
    memset(&rb, 0, sizeof rb);
    assert_true(cloudfault_http_set(&rb, "stall_ms", "10", why, sizeof why) >= 0);
    tb.http = &rb;
    tb.nhttp = 1;
    assert_int_equal(cloud_add_tenant(c2, &tb, err, sizeof err), -1);
    assert_non_null(strstr(err, "http[0].settings.stall_ms"));
    memset(many, 0, sizeof many);
    tb.http = many;
    tb.nhttp = CF_HTTP_RULES_MAX + 1;
    assert_int_equal(cloud_add_tenant(c2, &tb, err, sizeof err), -1);
    assert_non_null(strstr(err, "http:"));
    tb.http = NULL;
    tb.nhttp = 0;
    tb.events = "relative.jsonl";
    assert_int_equal(cloud_add_tenant(c2, &tb, err, sizeof err), -1);
    assert_non_null(strstr(err, "events:"));
    tb.events = evb;
    tb.pk = "bad/pk";
    assert_int_equal(cloud_add_tenant(c2, &tb, err, sizeof err), -1);
    assert_non_null(strstr(err, "pk:"));
    tb.pk = "pkTenB";

    /* firmware owned by each, and one of the cloud's with a cloud-wide rule */
    fo.owner_pk = "pkTenA";
    fo.owner_dn = "devA";
    fa = cloud_add_firmware_opts(c2, image, &fo, err, sizeof err);
    assert_true(fa > 0);
    fo.owner_pk = "pkTenB";
    fo.owner_dn = "devB";
    fo.url_port = 4567;
    fo.url_host = "10.0.2.2";
    fb = cloud_add_firmware_opts(c2, image, &fo, err, sizeof err);
    assert_true(fb > 0);
    {
        struct cloud_fw_info fi;
        char want[96];
        assert_int_equal(cloud_firmware_info(c2, fb, &fi), 0);
        snprintf(want, sizeof want, "http://10.0.2.2:4567/fw/%d/app_v2.bin", fb);
        assert_string_equal(fi.url, want);
    }
    fo.owner_pk = "nobody";
    fo.owner_dn = "x";
    assert_int_equal(cloud_add_firmware_opts(c2, image, &fo, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a tenant"));
    f0 = cloud_add_firmware(c2, image, NULL, err, sizeof err);
    assert_true(f0 > 0);
    memset(&wide, 0, sizeof wide);
    wide.nth = 1;
    assert_true(cloudfault_http_set(&wide, "status", "404", why, sizeof why) >= 0);
    assert_int_equal(cloud_http_set_faults(c2, &wide, 1, 0, err, sizeof err), 0);

    snprintf(pa, sizeof pa, "/fw/%d/app_v2.bin", fa);
    snprintf(pb, sizeof pb, "/fw/%d/app_v2.bin", fb);
    snprintf(p0, sizeof p0, "/fw/%d/app_v2.bin", f0);
    get_base = file_count(events, "\"ev\":\"http.request\"");
    device_get(cloud_http_port(c2), pa, NULL, &r);
    assert_int_equal(r.status, 503);
    free(r.body);
    device_get(cloud_http_port(c2), pb, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, FW_SIZE);
    free(r.body);
    device_get(cloud_http_port(c2), pa, NULL, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    /* the tenants' GETs did not count among the cloud's: this is its 1st */
    device_get(cloud_http_port(c2), p0, NULL, &r);
    assert_int_equal(r.status, 404);
    free(r.body);

    /* jobs: per-tenant ordinals; seed SEED and ordinal 1 give job 1's push id
     * under SEED, whatever job id the cloud gave it */
    ja = cloud_create_job(c2, "pkTenA", "devA", fa, NULL, err, sizeof err);
    jb = cloud_create_job(c2, "pkTenB", "devB", fb, NULL, err, sizeof err);
    assert_true(ja >= 1 && jb == ja + 1);
    assert_true(job_push_id(c2, ja) == job1_push_id);
    assert_true(job_push_id(c2, jb) != job1_push_id);

    /* a device message on A's topic lands in A's log */
    mq = mosquitto_new(NULL, true, NULL);
    assert_non_null(mq);
    assert_int_equal(mosquitto_connect(mq, "127.0.0.1", cloud_mqtt_port(c2), 30), MOSQ_ERR_SUCCESS);
    assert_int_equal(mosquitto_loop_start(mq), MOSQ_ERR_SUCCESS);
    assert_int_equal(mosquitto_publish(mq, NULL, "/ota/device/inform/pkTenA/devA",
                                       (int)strlen(T_INFORM_OLD), T_INFORM_OLD, 1, false),
                     MOSQ_ERR_SUCCESS);
    assert_int_equal(file_wait(eva, "\"ev\":\"job.pushed\"", 1), 1);
    assert_int_equal(file_count(eva, "\"ev\":\"device.inform\""), 1);
    mosquitto_disconnect(mq);
    mosquitto_loop_stop(mq, false);
    mosquitto_destroy(mq);
    assert_int_equal(cloud_device_offline(c2, "pkTenA", "devA"), 0);

    /* each tenant's events only in its log, in seq order */
    file_seq_ok(eva);
    file_seq_ok(evb);
    assert_int_equal(file_count(eva, "\"ev\":\"device.added\""), 1);
    assert_int_equal(file_count(eva, "\"ev\":\"firmware.added\""), 1);
    assert_int_equal(file_count(eva, "\"ev\":\"http.request\""), 2);
    assert_int_equal(file_count(eva, "\"ev\":\"http.fault\""), 1);
    assert_int_equal(file_count(eva, "\"ev\":\"job.created\""), 1);
    assert_int_equal(file_count(eva, "\"ev\":\"device.offline\""), 1);
    assert_int_equal(file_count(eva, "pkTenB"), 0);
    assert_int_equal(file_count(eva, pb), 0);
    assert_int_equal(file_count(evb, "\"ev\":\"http.request\""), 1);
    assert_int_equal(file_count(evb, "\"ev\":\"http.fault\""), 0);
    assert_int_equal(file_count(evb, "\"ev\":\"job.created\""), 1);
    assert_int_equal(file_count(evb, "pkTenA"), 0);
    assert_int_equal(file_count(evb, pa), 0);
    /* the cloud's own log (this process's): only the GET of its own firmware */
    assert_int_equal(file_count(events, "\"ev\":\"http.request\""), get_base + 1);
    assert_int_equal(file_count(events, "\"ev\":\"firmware.added\""), fw_base + 1);
    assert_int_equal(file_count(events, "pkTen"), 0);

    /* release: A's job fails, its faults are gone, nothing more in its log */
    assert_int_equal(cloud_release_tenant(c2, "pkTenA", "devA"), 0);
    assert_int_equal(cloud_release_tenant(c2, "pkTenA", "devA"), -1);
    assert_int_equal(cloud_release_tenant(c2, "nobody", "x"), -1);
    assert_int_equal(cloud_job_status(c2, ja, &st), 0);
    assert_int_equal(st.state, JOB_FAILED);
    assert_string_equal(st.reason, "tenant released");
    n = file_count(eva, NULL);
    device_get(cloud_http_port(c2), pa, NULL, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
    assert_int_equal(file_count(eva, NULL), n);
    assert_int_equal(file_count(events, "\"ev\":\"http.request\""), get_base + 2); /* the cloud's */
    assert_int_equal(file_count(events, "\"reason\":\"tenant released\""), 1);
    assert_int_equal(file_count(eva, "tenant released"), 0);
    assert_int_equal(cloud_add_firmware_opts(c2, image, &(struct cloud_fw_opts){
                         .owner_pk = "pkTenA", .owner_dn = "devA" }, err, sizeof err), -1);

    /* registering B again resets its counts: a rule for the 1st GET fires again */
    memset(&rb, 0, sizeof rb);
    rb.nth = 1;
    assert_true(cloudfault_http_set(&rb, "status", "500", why, sizeof why) >= 0);
    tb.http = &rb;
    tb.nhttp = 1;
    assert_int_equal(cloud_add_tenant(c2, &tb, err, sizeof err), 0);
    device_get(cloud_http_port(c2), pb, NULL, &r);
    assert_int_equal(r.status, 500);
    free(r.body);
    jb = cloud_create_job(c2, "pkTenB", "devB", fb, NULL, err, sizeof err);
    assert_true(jb > 0);
    assert_int_equal(file_count(evb, "\"ev\":\"job.failed\""), 1); /* superseded */
    file_seq_ok(evb);
    assert_int_equal(file_count(evb, "\"ev\":\"device.added\""), 1);
    cloud_stop(c2);
}

static void test_broker_loss(void **state)
{
    char err[256], line[512];
    uint64_t t0;
    int pid, rc;

    (void)state;
    pid = cloud_broker_pid(cl);
    assert_int_equal(kill(pid, SIGKILL), 0);
    t0 = now_ms();
    while ((rc = cloud_health(cl, err, sizeof err)) == 0 && now_ms() - t0 < 3000)
        sleep_ms(20);
    assert_int_equal(rc, -1);
    assert_true(now_ms() - t0 < 3000);
    snprintf(line, sizeof line, "broker (mosquitto pid %d) exited: killed by signal 9", pid);
    assert_string_equal(err, line);
    assert_int_equal(cloud_health(cl, err, sizeof err), -1); /* stays unhealthy */
    assert_int_equal(wait_events("cloud.broker_lost", 1, 1000, line, sizeof line), 1);
    assert_int_equal(count_events("broker.exited", line, sizeof line), 2); /* c2's and this one */
    assert_non_null(strstr(line, "\"requested\":false"));

    dev_close(&dev);
    cloud_stop(cl);
    cl = NULL;
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
    assert_int_equal(count_events("cloud.stopped", NULL, 0), 2);
}

/* ---- the commands ---- */

/* waitpid with a deadline: a child still running then is killed and the
 * test fails. */
static int wait_child(pid_t pid, unsigned timeout_ms)
{
    uint64_t end = now_ms() + timeout_ms;
    int status;
    pid_t r;

    while ((r = waitpid(pid, &status, WNOHANG)) == 0 && now_ms() < end)
        sleep_ms(10);
    if (r == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        cmd_child = 0;
        fail_msg("`otahil cloud` (pid %d) did not exit within %u ms", (int)pid, timeout_ms);
    }
    assert_int_equal(r, pid);
    cmd_child = 0;
    return status;
}

static void test_cmd_options(void **state)
{
    char out[8192];

    (void)state;
    assert_int_equal(run_captured(tmpdir, cmd_cloud, (char *[]){ "cloud", "--help", NULL }, out, sizeof out), 0);
    assert_non_null(strstr(out, "usage: otahil cloud"));
    assert_int_equal(run_captured(tmpdir, cmd_push, (char *[]){ "push", "--help", NULL }, out, sizeof out), 0);
    assert_non_null(strstr(out, "usage: otahil push"));
    assert_int_equal(run_captured(tmpdir, cmd_cloud, (char *[]){ "cloud", "--bogus", NULL }, out, sizeof out), 2);
    assert_non_null(strstr(out, "--bogus"));
    assert_null(strchr(strchr(out, '\n') + 1, '\n')); /* one line */
    assert_int_equal(run_captured(tmpdir, cmd_cloud, (char *[]){ "cloud", "--mqtt-port", "70000", NULL }, out,
                                  sizeof out), 2);
    assert_non_null(strstr(out, "--mqtt-port"));
    assert_int_equal(run_captured(tmpdir, cmd_cloud, (char *[]){ "cloud", "--device", "pk-only", NULL }, out,
                                  sizeof out), 2);
    assert_non_null(strstr(out, "--device"));
    assert_int_equal(run_captured(tmpdir, cmd_push, (char *[]){ "push", "--image", NULL }, out, sizeof out), 2);
    assert_non_null(strstr(out, "--image"));
    assert_int_equal(run_captured(tmpdir, cmd_push, (char *[]){ "push", "--frobnicate", NULL }, out, sizeof out), 2);
    assert_non_null(strstr(out, "--frobnicate"));
    assert_int_equal(run_captured(tmpdir, cmd_push, (char *[]){ "push", "--image", image, "--sign-method", "crc",
                                                        NULL }, out, sizeof out), 2);
    assert_non_null(strstr(out, "--sign-method"));
    assert_int_equal(run_captured(tmpdir, cmd_push, (char *[]){ "push", "--image", image, "--retries", "101",
                                                        NULL }, out, sizeof out), 2);
    assert_non_null(strstr(out, "--retries"));
    assert_null(strchr(strchr(out, '\n') + 1, '\n')); /* one line */
    assert_int_equal(run_captured(tmpdir, cmd_push, (char *[]){ "push", "--image", image, "--retries", "x",
                                                        NULL }, out, sizeof out), 2);
    assert_non_null(strstr(out, "--retries"));
    assert_int_equal(run_captured(tmpdir, cmd_push, (char *[]){ "push", "--help", NULL }, out, sizeof out), 0);
    assert_non_null(strstr(out, "--retries N"));
    assert_non_null(strstr(out, "--at-inform"));
    assert_int_equal(run_captured(tmpdir, cmd_push, (char *[]){ "push", "--image", image, "--workdir",
                                                        "/nonexistent", NULL }, out, sizeof out), 2);
    assert_non_null(strstr(out, "/nonexistent/cloud.json"));
}

static void test_cmd_cloud_and_push(void **state)
{
    char wd[128], jpath[160], out[8192], apiurl[64], ports[16], *buf;
    const cJSON *mp, *hp;
    struct device d2;
    pid_t child;
    cJSON *cj, *st;
    uint64_t t0;
    int status, bpid, pushes;
    FILE *f;

    (void)state;
    snprintf(wd, sizeof wd, "%s/cmdcloud", tmpdir);
    snprintf(jpath, sizeof jpath, "%s/cloud.json", wd);
    fflush(stdout); /* the child must not repeat our buffered output */
    fflush(stderr);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        char logp[160];
        int fd;

        snprintf(logp, sizeof logp, "%s/cmdcloud.out", tmpdir);
        fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        exit(cmd_cloud(6, (char *[]){ "cloud", "--workdir", wd, "--seed", "7",
                                      "--device=a1Cmd/dev-c/secret", NULL }));
    }
    cmd_child = child;
    t0 = now_ms();
    while (access(jpath, R_OK) != 0 && now_ms() - t0 < 5000)
        sleep_ms(10);
    assert_int_equal(access(jpath, R_OK), 0);
    f = fopen(jpath, "r");
    buf = calloc(1, 4096);
    assert_true(fread(buf, 1, 4095, f) > 0);
    fclose(f);
    cj = cJSON_Parse(buf);
    free(buf);
    mp = cJSON_GetObjectItemCaseSensitive(cj, "mqtt_port");
    hp = cJSON_GetObjectItemCaseSensitive(cj, "http_port");
    assert_true(cJSON_IsNumber(mp) && cJSON_IsNumber(hp));
    assert_int_equal((int)jnum(cj, "pid"), child);
    assert_non_null(strstr(jstr(cj, "events"), "/cmdcloud/events.jsonl"));
    snprintf(apiurl, sizeof apiurl, "http://127.0.0.1:%d", hp->valueint);
    st = api(hp->valueint, "GET", "/api/status", NULL, &status);
    assert_int_equal(status, 200);
    bpid = (int)jnum(st, "broker_pid");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(st, "devices")), 2);
    cJSON_Delete(st);

    /* a device that installs whatever it is pushed */
    dev_connect(&d2, mp->valueint);
    d2.mode = DEV_SUCCEED;
    dev_publish_nul(&d2, T_TOPIC_INFORM, "{\"id\":0,\"params\":{\"version\":\"" OLD_VER "\"}}");
    assert_int_equal(run_captured(tmpdir, cmd_push, (char *[]){ "push", "--image", image, "--workdir", wd,
                                                        "--wait", "--timeout", "10", NULL },
                                  out, sizeof out), 0);
    assert_non_null(strstr(out, "job 1"));
    assert_non_null(strstr(out, "/fw/1/app_v2.bin"));
    assert_non_null(strstr(out, "SUCCEEDED"));

    /* one that fails the download: exit 1 with the reason */
    pthread_mutex_lock(&d2.mu);
    d2.mode = DEV_FAIL;
    pthread_mutex_unlock(&d2.mu);
    assert_int_equal(run_captured(tmpdir, cmd_push, (char *[]){ "push", "--image", image, "--api", apiurl,
                                                        "--sign-method", "Sha256", "--wait", NULL },
                                  out, sizeof out), 1);
    assert_non_null(strstr(out, "device reported step -2 (ota download failed)"));

    /* --retries and --at-inform reach the job: the online device gets no push */
    pthread_mutex_lock(&d2.mu);
    pushes = d2.pushes;
    pthread_mutex_unlock(&d2.mu);
    assert_int_equal(run_captured(tmpdir, cmd_push, (char *[]){ "push", "--image", image, "--api", apiurl,
                                                        "--retries", "4", "--at-inform", NULL },
                                  out, sizeof out), 0);
    assert_non_null(strstr(out, "job 3:"));
    st = api(hp->valueint, "GET", "/api/jobs/3", NULL, &status);
    assert_int_equal(status, 200);
    assert_string_equal(jstr(st, "state"), "WAITING");
    assert_int_equal((int)jnum(st, "retries"), 4);
    assert_int_equal((int)jnum(st, "pushes"), 0);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(st, "at_inform")));
    cJSON_Delete(st);
    sleep_ms(200);
    pthread_mutex_lock(&d2.mu);
    assert_int_equal(d2.pushes, pushes);
    pthread_mutex_unlock(&d2.mu);

    /* a device that never shows up: timeout, exit 2 */
    assert_int_equal(run_captured(tmpdir, cmd_push, (char *[]){ "push", "--image", image, "--api", apiurl,
                                                        "--device", "a1Cmd/dev-c", "--wait",
                                                        "--timeout", "1", NULL },
                                  out, sizeof out), 2);
    assert_non_null(strstr(out, "still WAITING"));
    /* an unknown device is refused */
    assert_int_equal(run_captured(tmpdir, cmd_push, (char *[]){ "push", "--image", image, "--api", apiurl,
                                                        "--device", "a1Cmd/ghost", NULL },
                                  out, sizeof out), 2);
    assert_non_null(strstr(out, "ghost"));
    dev_close(&d2);

    /* SIGTERM: clean stop, exit 0, no broker left, cloud.json gone */
    assert_int_equal(kill(child, SIGTERM), 0);
    status = wait_child(child, 10000);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(kill(bpid, 0), -1);
    assert_int_equal(access(jpath, F_OK), -1);
    snprintf(ports, sizeof ports, "%d", mp->valueint);
    cJSON_Delete(cj);

    /* the port is free again: a cloud on that fixed port starts and its
     * broker, killed, makes `otahil cloud` exit 2 */
    fflush(stdout); /* the child must not repeat our buffered output */
    fflush(stderr);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        char logp[160];
        int fd;

        snprintf(logp, sizeof logp, "%s/cmdcloud2.out", tmpdir);
        fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        exit(cmd_cloud(5, (char *[]){ "cloud", "--workdir", wd, "--mqtt-port", ports, NULL }));
    }
    cmd_child = child;
    t0 = now_ms();
    while (access(jpath, R_OK) != 0 && now_ms() - t0 < 5000)
        sleep_ms(10);
    assert_int_equal(access(jpath, R_OK), 0);
    f = fopen(jpath, "r");
    buf = calloc(1, 4096);
    assert_true(fread(buf, 1, 4095, f) > 0);
    fclose(f);
    cj = cJSON_Parse(buf);
    free(buf);
    assert_int_equal((int)jnum(cj, "mqtt_port"), atoi(ports));
    st = api((int)jnum(cj, "http_port"), "GET", "/api/status", NULL, &status);
    bpid = (int)jnum(st, "broker_pid");
    cJSON_Delete(st);
    cJSON_Delete(cj);
    assert_int_equal(kill(bpid, SIGKILL), 0);
    status = wait_child(child, 10000);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 2);
    snprintf(jpath, sizeof jpath, "%s/cmdcloud2.out", tmpdir);
    f = fopen(jpath, "r");
    buf = calloc(1, 65536);
    assert_true(fread(buf, 1, 65535, f) > 0);
    fclose(f);
    assert_non_null(strstr(buf, "killed by signal 9"));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* commands first: they fork, best done while this process runs no cloud */
        cmocka_unit_test(test_cmd_options),
        cmocka_unit_test(test_cmd_cloud_and_push),
        cmocka_unit_test(test_start),
        cmocka_unit_test(test_firmware_store),
        cmocka_unit_test(test_push_on_inform_and_fields),
        cmocka_unit_test(test_download_like_a_device),
        cmocka_unit_test(test_progress_failure_and_success_rule),
        cmocka_unit_test(test_bad_payloads),
        cmocka_unit_test(test_retries_on_old_version),
        cmocka_unit_test(test_retry_after_negative_step),
        cmocka_unit_test(test_at_inform),
        cmocka_unit_test(test_rest_api),
        cmocka_unit_test(test_rest_job_options),
        cmocka_unit_test(test_tables_grow),
        cmocka_unit_test(test_second_cloud_seed_and_throttle),
        cmocka_unit_test(test_broker_loss),
        cmocka_unit_test(test_tenants),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
