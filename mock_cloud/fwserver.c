/*
 * fwserver.c - the fake cloud's HTTP server (civetweb on 127.0.0.1).
 *
 * Firmware: GET/HEAD /fw/<id>/<name>. Every byte of the response is ours:
 * the status line and a fixed header block (fwhead.c: "Content-Length: <n>"
 * spelled so, because the AliOS raw client finds it with a case-sensitive
 * strstr and reads the number after a space; no chunked encoding, ever; the
 * whole header block stays far below the 512 bytes of the device's first
 * read), then the body read from the stored file. Range "bytes=N-",
 * "bytes=N-M" and "bytes=-K" give 206; a start at or past the end gives 416;
 * any other Range is ignored (200), as HTTP allows. With a throttle the body
 * goes out in small pieces on a schedule of bytes per second, so a test can
 * act in the middle of a download.
 *
 * REST API under /api/ (JSON in and out) for interactive use; see
 * docs/cloud.md. Errors are 4xx with {"error":"one line"}.
 *
 * civetweb's mg_stop() only notices the stop flag when its listener poll
 * (2 s quantum) returns; fwserver_stop() pokes the listener with empty
 * connections meanwhile so a stop takes milliseconds, not seconds.
 */
#include "mock_cloud/fwserver.h"
#include "mock_cloud/cloud.h"
#include "mock_cloud/broker.h"
#include "mock_cloud/fwhead.h"
#include "sim/util/event.h"
#include "sim/util/evlog.h"

#include <civetweb.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define FW_CHUNK          16384u   /* body bytes per write when not throttled */
#define FW_PIECE_MIN      64u      /* throttled pieces: bps/20, within these bounds */
#define FW_PIECE_MAX      4096u
#define FW_SLEEP_SLICE_US 20000u   /* throttled waits re-check the stop flag this often */
#define API_BODY_MAX      65536    /* largest REST request body accepted */
#define FW_THREADS        "16"     /* civetweb workers: concurrent requests */

struct fwserver {
    struct mg_context *ctx;     /* civetweb */
    struct cloud      *cloud;   /* the service whose store and API we serve */
    int                port;    /* listening port on 127.0.0.1 */
    uint32_t           throttle_bps; /* 0 = full speed */
    int                stopping; /* set by fwserver_stop(); aborts throttled bodies */
    int                poke_done; /* mg_stop() returned: the poke thread ends */
};

static pthread_once_t fw_lib_once = PTHREAD_ONCE_INIT;
static void fw_lib_init(void) { mg_init_library(0); }

static const char *fw_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 206: return "Partial Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 416: return "Range Not Satisfiable";
    case 500: return "Internal Server Error";
    default:  return "Error";
    }
}

static void fw_sleep_us(uint64_t us)
{
    struct timespec ts = { (time_t)(us / 1000000u), (long)(us % 1000000u) * 1000L };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- events ---- */

struct fw_req {
    const char *method;
    char        path[512];     /* escaped "uri[?query]" */
    char        range[160];    /* escaped Range header, "" = none */
    int         has_range;
    uint64_t    t0;            /* request start, evlog_now_us() */
};

static void fw_req_init(struct fw_req *r, struct mg_connection *conn,
                        const struct mg_request_info *ri)
{
    char raw[1024];
    const char *range = mg_get_header(conn, "Range");

    r->t0 = evlog_now_us();
    r->method = ri->request_method ? ri->request_method : "?";
    snprintf(raw, sizeof raw, "%s%s%s", ri->local_uri ? ri->local_uri : "",
             ri->query_string ? "?" : "", ri->query_string ? ri->query_string : "");
    otahil_json_escape(r->path, sizeof r->path, raw);
    r->has_range = range != NULL;
    otahil_json_escape(r->range, sizeof r->range, range ? range : "");
}

static void fw_ev_request(const struct fw_req *r, int status)
{
    char m[32];

    if (r->has_range)
        evlog_emit("http", "http.request", "\"method\":\"%s\",\"path\":\"%s\",\"range\":\"%s\",\"status\":%d",
                   otahil_json_escape(m, sizeof m, r->method), r->path, r->range, status);
    else
        evlog_emit("http", "http.request", "\"method\":\"%s\",\"path\":\"%s\",\"range\":null,\"status\":%d",
                   otahil_json_escape(m, sizeof m, r->method), r->path, status);
}

static void fw_ev_done(const struct fw_req *r, int status, uint64_t bytes)
{
    evlog_emit("http", "http.done", "\"path\":\"%s\",\"status\":%d,\"bytes\":%llu,\"ms\":%llu", r->path,
               status, (unsigned long long)bytes,
               (unsigned long long)((evlog_now_us() - r->t0) / 1000u));
}

/* A short text response (errors on /fw/ and unknown paths), with events. */
static int fw_simple(struct mg_connection *conn, const struct fw_req *r, int status,
                     const char *extra_headers, const char *body)
{
    char head[512];
    size_t blen = strlen(body);
    int n, head_only = strcmp(r->method, "HEAD") == 0;
    uint64_t sent = 0;

    n = snprintf(head, sizeof head,
                 "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n%s"
                 "Connection: close\r\n\r\n",
                 status, fw_reason(status), blen, extra_headers);
    fw_ev_request(r, status);
    if (mg_write(conn, head, (size_t)n) == n && !head_only && blen > 0 &&
        mg_write(conn, body, blen) == (int)blen)
        sent = blen;
    fw_ev_done(r, status, sent);
    return status;
}

/* ---- firmware ---- */

/* Parses a Range header against size. Returns 200 (no usable range: serve
 * everything), 206 with [*a, *b] set, or 416. */
static int fw_parse_range(const char *h, uint64_t size, uint64_t *a, uint64_t *b)
{
    unsigned long long n = 0, m = 0;
    int have_n = 0, have_m = 0;
    const char *p;

    if (!h)
        return 200;
    while (*h == ' ' || *h == '\t')
        h++;
    if (strncasecmp(h, "bytes", 5) != 0)
        return 200;
    p = h + 5;
    while (*p == ' ')
        p++;
    if (*p++ != '=')
        return 200;
    while (*p == ' ')
        p++;
    for (; *p >= '0' && *p <= '9'; p++, have_n = 1) {
        if (n > (~0ull - 9) / 10)
            return 200;
        n = n * 10 + (unsigned)(*p - '0');
    }
    if (*p++ != '-')
        return 200;
    for (; *p >= '0' && *p <= '9'; p++, have_m = 1) {
        if (m > (~0ull - 9) / 10)
            return 200;
        m = m * 10 + (unsigned)(*p - '0');
    }
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != '\0' || (!have_n && !have_m))
        return 200; /* a list of ranges or junk: ignore it */
    if (!have_n) { /* suffix: the last m bytes */
        if (m == 0 || size == 0)
            return 416;
        *a = m >= size ? 0 : size - m;
        *b = size - 1;
        return 206;
    }
    if (n >= size)
        return 416;
    if (have_m && m < n)
        return 200; /* unsatisfiable syntax: ignore */
    *a = n;
    *b = have_m && m < size ? m : size - 1;
    return 206;
}

/* Writes body bytes [a, b] of fd; returns how many went out. */
static uint64_t fw_send_body(struct fwserver *s, struct mg_connection *conn, int fd, uint64_t a,
                             uint64_t b)
{
    char *buf = malloc(FW_CHUNK); /* heap: civetweb workers have 100 KiB stacks */
    uint64_t total = b - a + 1, sent = 0, t0 = evlog_now_us();
    size_t piece = FW_CHUNK;

    if (!buf)
        return 0;
    if (s->throttle_bps) {
        piece = s->throttle_bps / 20u;
        piece = piece < FW_PIECE_MIN ? FW_PIECE_MIN : piece > FW_PIECE_MAX ? FW_PIECE_MAX : piece;
    }
    while (sent < total) {
        size_t want = total - sent < piece ? (size_t)(total - sent) : piece;
        ssize_t got = pread(fd, buf, want, (off_t)(a + sent));
        if (got <= 0)
            break;
        if (mg_write(conn, buf, (size_t)got) != (int)got)
            break;
        sent += (uint64_t)got;
        if (s->throttle_bps && sent < total) {
            uint64_t due = t0 + sent * 1000000u / s->throttle_bps;
            for (;;) {
                uint64_t now = evlog_now_us();
                if (now >= due || __atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE))
                    break;
                fw_sleep_us(due - now < FW_SLEEP_SLICE_US ? due - now : FW_SLEEP_SLICE_US);
            }
            if (__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE))
                break;
        }
    }
    free(buf);
    return sent;
}

static int fw_serve(struct fwserver *s, struct mg_connection *conn, const struct mg_request_info *ri,
                    const struct fw_req *r)
{
    struct cloud_fw_info fi;
    char head[FW_HEAD_MAX];
    const char *uri = ri->local_uri, *name;
    uint64_t a = 0, b = 0, sent = 0;
    int head_only, status, n, fd;
    char *end;
    long id;

    head_only = strcmp(r->method, "HEAD") == 0;
    if (!head_only && strcmp(r->method, "GET") != 0)
        return fw_simple(conn, r, 405, "Allow: GET, HEAD\r\n", "method not allowed\n");
    errno = 0;
    id = strtol(uri + 4, &end, 10);
    name = end + 1;
    if (errno || end == uri + 4 || *end != '/' || id <= 0 || id > 1000000 ||
        cloud_firmware_info(s->cloud, (int)id, &fi) != 0 || strcmp(name, fi.name) != 0)
        return fw_simple(conn, r, 404, "", "no such firmware\n");
    fd = open(fi.path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fw_simple(conn, r, 500, "", "firmware file unreadable\n");

    status = fw_parse_range(mg_get_header(conn, "Range"), fi.size, &a, &b);
    if (status == 200) {
        a = 0;
        b = fi.size ? fi.size - 1 : 0;
    }
    n = fw_response_head(head, sizeof head, status, a, b, fi.size, fi.md5);
    if (n < 0) {
        close(fd);
        return fw_simple(conn, r, 500, "", "response header too large\n");
    }
    if (status == 416) {
        close(fd);
        fw_ev_request(r, 416);
        mg_write(conn, head, (size_t)n);
        fw_ev_done(r, 416, 0);
        return 416;
    }
    fw_ev_request(r, status);
    if (mg_write(conn, head, (size_t)n) == n && !head_only && fi.size > 0)
        sent = fw_send_body(s, conn, fd, a, b);
    close(fd);
    fw_ev_done(r, status, sent);
    return status;
}

/* ---- REST API ---- */

static int api_reply(struct mg_connection *conn, int status, char *text)
{
    size_t len = text ? strlen(text) : 0;

    mg_printf(conn,
              "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
              "Cache-Control: no-cache\r\nConnection: close\r\n\r\n",
              status, fw_reason(status), len + 1);
    if (text)
        mg_write(conn, text, len);
    mg_write(conn, "\n", 1);
    free(text);
    return status;
}

static int api_reply_obj(struct mg_connection *conn, int status, cJSON *obj)
{
    char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;

    cJSON_Delete(obj);
    if (!text)
        return api_reply(conn, 500, strdup("{\"error\":\"out of memory\"}"));
    return api_reply(conn, status, text);
}

static int api_error(struct mg_connection *conn, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int api_error(struct mg_connection *conn, int status, const char *fmt, ...)
{
    char msg[512];
    cJSON *o = cJSON_CreateObject();
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++) /* one line */
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    cJSON_AddStringToObject(o, "error", msg);
    return api_reply_obj(conn, status, o);
}

/* Reads and parses a JSON object body. NULL after replying with the error
 * (*status set). */
static cJSON *api_body(struct mg_connection *conn, const struct mg_request_info *ri, int *status)
{
    char *buf;
    size_t len = 0;
    cJSON *root;
    int n;

    if (ri->content_length > API_BODY_MAX) {
        *status = api_error(conn, 413, "request body over %d bytes", API_BODY_MAX);
        return NULL;
    }
    buf = malloc(API_BODY_MAX + 1);
    if (!buf) {
        *status = api_error(conn, 500, "out of memory");
        return NULL;
    }
    while (len < API_BODY_MAX && (n = mg_read(conn, buf + len, API_BODY_MAX - len)) > 0)
        len += (size_t)n;
    root = cJSON_ParseWithLength(buf, len);
    free(buf);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        *status = api_error(conn, 400, "request body is not a JSON object");
        return NULL;
    }
    return root;
}

static const char *api_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int api_devices(struct fwserver *s, struct mg_connection *conn, const cJSON *in)
{
    const char *pk = api_str(in, "pk"), *dn = api_str(in, "dn"), *secret = api_str(in, "secret");
    cJSON *o;

    if (!pk || !dn || !secret)
        return api_error(conn, 400, "need string fields pk, dn and secret");
    if (cloud_add_device(s->cloud, pk, dn, secret) != 0)
        return api_error(conn, 400, "cannot register %s/%s: bad lengths (pk <= 20, dn <= 32, "
                         "secret <= 64) or device table full", pk, dn);
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "pk", pk);
    cJSON_AddStringToObject(o, "dn", dn);
    return api_reply_obj(conn, 201, o);
}

static int api_firmware(struct fwserver *s, struct mg_connection *conn, const cJSON *in)
{
    const char *path = api_str(in, "path"), *version = api_str(in, "version");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, "version");
    struct cloud_fw_info fi;
    char err[256];
    cJSON *o;
    int id;

    if (!path)
        return api_error(conn, 400, "need a string field path");
    if (v && !cJSON_IsNull(v) && !version)
        return api_error(conn, 400, "version must be a string");
    id = cloud_add_firmware(s->cloud, path, version, err, sizeof err);
    if (id < 0)
        return api_error(conn, 400, "%s", err);
    if (cloud_firmware_info(s->cloud, id, &fi) != 0)
        return api_error(conn, 500, "firmware %d vanished", id);
    o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", id);
    cJSON_AddNumberToObject(o, "size", (double)fi.size);
    cJSON_AddStringToObject(o, "md5", fi.md5);
    cJSON_AddStringToObject(o, "sha256", fi.sha256);
    cJSON_AddStringToObject(o, "version", fi.version);
    cJSON_AddStringToObject(o, "url", fi.url);
    return api_reply_obj(conn, 201, o);
}

static int api_jobs(struct fwserver *s, struct mg_connection *conn, const cJSON *in)
{
    const char *pk = api_str(in, "pk"), *dn = api_str(in, "dn");
    const cJSON *fw = cJSON_GetObjectItemCaseSensitive(in, "firmware");
    const cJSON *sm = cJSON_GetObjectItemCaseSensitive(in, "signMethod");
    const cJSON *re = cJSON_GetObjectItemCaseSensitive(in, "retries");
    const cJSON *ai = cJSON_GetObjectItemCaseSensitive(in, "at_inform");
    struct push_opts po = { NULL, 0, 0 };
    char err[256];
    cJSON *o;
    int id;

    if (!pk || !dn)
        return api_error(conn, 400, "need string fields pk and dn");
    if (!cJSON_IsNumber(fw) || fw->valuedouble != (double)fw->valueint)
        return api_error(conn, 400, "need a numeric field firmware (a firmware id)");
    if (sm && !cJSON_IsNull(sm)) {
        if (!cJSON_IsString(sm))
            return api_error(conn, 400, "signMethod must be \"Md5\" or \"Sha256\"");
        po.sign_method = sm->valuestring;
    }
    if (re && !cJSON_IsNull(re)) {
        if (!cJSON_IsNumber(re) || !(re->valuedouble >= 0 && re->valuedouble <= CLOUD_MAX_RETRIES) ||
            re->valuedouble != (double)re->valueint)
            return api_error(conn, 400, "retries must be an integer 0..%d", CLOUD_MAX_RETRIES);
        po.retries = re->valueint;
    }
    if (ai && !cJSON_IsNull(ai)) {
        if (!cJSON_IsBool(ai))
            return api_error(conn, 400, "at_inform must be true or false");
        po.at_inform = cJSON_IsTrue(ai);
    }
    id = cloud_create_job(s->cloud, pk, dn, fw->valueint, &po, err, sizeof err);
    if (id < 0)
        return api_error(conn, 400, "%s", err);
    o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", id);
    return api_reply_obj(conn, 201, o);
}

static int api_serve(struct fwserver *s, struct mg_connection *conn, const struct mg_request_info *ri)
{
    const char *uri = ri->local_uri, *m = ri->request_method;
    int get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0, status = 0;
    int (*poster)(struct fwserver *, struct mg_connection *, const cJSON *) = NULL;
    char *text;
    cJSON *in;

    if (strcmp(uri, "/api/status") == 0) {
        if (!get)
            return api_error(conn, 405, "%s %s: use GET", m, uri);
        text = cloud_status_json(s->cloud);
        return text ? api_reply(conn, 200, text) : api_error(conn, 500, "out of memory");
    }
    if (strncmp(uri, "/api/jobs/", 10) == 0) {
        char *end;
        long id;

        if (!get)
            return api_error(conn, 405, "%s %s: use GET", m, uri);
        errno = 0;
        id = strtol(uri + 10, &end, 10);
        if (errno || end == uri + 10 || *end || id < 0 || id > 1000000 ||
            !(text = cloud_job_json(s->cloud, (int)id)))
            return api_error(conn, 404, "no such job: %s", uri + 10);
        return api_reply(conn, 200, text);
    }
    if (strcmp(uri, "/api/devices") == 0)
        poster = api_devices;
    else if (strcmp(uri, "/api/firmware") == 0)
        poster = api_firmware;
    else if (strcmp(uri, "/api/jobs") == 0)
        poster = api_jobs;
    else
        return api_error(conn, 404, "no such API: %s", uri);
    if (!post)
        return api_error(conn, 405, "%s %s: use POST", m, uri);
    in = api_body(conn, ri, &status);
    if (!in)
        return status;
    status = poster(s, conn, in);
    cJSON_Delete(in);
    return status;
}

/* ---- civetweb glue ---- */

static int fw_route(struct mg_connection *conn, void *ud)
{
    struct fwserver *s = ud;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    const char *uri = ri && ri->local_uri ? ri->local_uri : "";
    struct fw_req r;

    if (strcmp(uri, "/api") == 0 || strncmp(uri, "/api/", 5) == 0)
        return api_serve(s, conn, ri);
    fw_req_init(&r, conn, ri);
    if (strncmp(uri, "/fw/", 4) == 0)
        return fw_serve(s, conn, ri, &r);
    return fw_simple(conn, &r, 404, "", "not found\n");
}

static int fw_log_message(const struct mg_connection *conn, const char *message)
{
    char m[512];

    (void)conn;
    evlog_emit("http", "http.error", "\"message\":\"%s\"", otahil_json_escape(m, sizeof m, message));
    return 1; /* handled: civetweb prints nothing */
}

struct fwserver *fwserver_start(struct cloud *c, int port, uint32_t throttle_bps, char *err,
                                size_t errlen)
{
    struct fwserver *s;
    struct mg_callbacks cb;
    struct mg_server_port ports[4];
    char listen[32], etext[256] = "";
    unsigned ecode = 0;
    struct mg_error_data ed = { &ecode, etext, sizeof etext };
    const char *opts[] = { "listening_ports", listen, "num_threads", FW_THREADS,
                           "enable_keep_alive", "no", "tcp_nodelay", "1", NULL };
    struct mg_init_data init = { &cb, NULL, opts };
    int n;

    pthread_once(&fw_lib_once, fw_lib_init);
    s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->cloud = c;
    s->throttle_bps = throttle_bps;
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port > 0 ? port : 0);
    memset(&cb, 0, sizeof cb);
    cb.log_message = fw_log_message;
    init.user_data = s;
    s->ctx = mg_start2(&init, &ed);
    if (!s->ctx) {
        snprintf(err, errlen, "civetweb could not start on %s: %s", listen,
                 etext[0] ? etext : "unknown error");
        free(s);
        return NULL;
    }
    n = mg_get_server_ports(s->ctx, 4, ports);
    if (n < 1 || ports[0].port <= 0) {
        snprintf(err, errlen, "civetweb started on %s but reports no listening port", listen);
        mg_stop(s->ctx);
        free(s);
        return NULL;
    }
    s->port = ports[0].port;
    mg_set_request_handler(s->ctx, "/", fw_route, s);
    return s;
}

int fwserver_port(const struct fwserver *s)
{
    return s->port;
}

/* Wakes civetweb's listener until mg_stop() has returned. */
static void *fw_poke(void *arg)
{
    struct fwserver *s = arg;

    while (!__atomic_load_n(&s->poke_done, __ATOMIC_ACQUIRE)) {
        fw_sleep_us(10000);
        if (!__atomic_load_n(&s->poke_done, __ATOMIC_ACQUIRE))
            (void)broker_port_open(s->port);
    }
    return NULL;
}

void fwserver_stop(struct fwserver *s)
{
    pthread_t t;
    int poking;

    if (!s)
        return;
    __atomic_store_n(&s->stopping, 1, __ATOMIC_RELEASE);
    poking = pthread_create(&t, NULL, fw_poke, s) == 0;
    mg_stop(s->ctx);
    __atomic_store_n(&s->poke_done, 1, __ATOMIC_RELEASE);
    if (poking)
        pthread_join(t, NULL);
    free(s);
}
