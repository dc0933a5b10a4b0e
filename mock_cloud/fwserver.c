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
 * Faults (docs/faults.md): rules installed with fwserver_set_faults() pick
 * firmware GETs by number (1-based, per server and per path) and change what
 * they get: another status with an object-storage error body, a 200 to a
 * Range request, a changing ETag, a wrong or missing Content-Length (chunked),
 * a padded or byte-by-byte header block, a close, a stall or a throttle in the
 * body. The block is still fwhead's, edited in place, so everything a rule
 * does not touch stays byte-exact. Each fault that fires is an http.fault
 * event.
 *
 * REST API under /api/ (JSON in and out) for interactive use; see
 * docs/cloud.md. Errors are 4xx with {"error":"one line"}.
 *
 * HTTPS (fwserver_start_tls): a second listener on another port, the same
 * handlers, civetweb's own TLS over OpenSSL 3 through the build's libssl.so
 * shim (docs/cloud.md, "HTTPS and mqtts"). The REST API stays on the plain
 * port too; the cloud's firmware URLs name the HTTPS one.
 *
 * civetweb's mg_stop() only notices the stop flag when its listener poll
 * (2 s quantum) returns; fwserver_stop() pokes the listener with empty
 * connections meanwhile so a stop takes milliseconds, not seconds.
 */
#include "mock_cloud/fwserver.h"
#include "mock_cloud/cloud.h"
#include "mock_cloud/broker.h"
#include "mock_cloud/cloudfault.h"
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
#define API_BODY_MAX      262144   /* largest REST request body accepted (a tenant with
                                    * CF_HTTP_RULES_MAX rules of every key fits) */
#define FW_THREADS        "16"     /* civetweb workers: concurrent requests */
#define FW_CHUNKED_MAX    4096u    /* body bytes per chunk of a chunked response */
#define FW_PAD_HEADER     "x-oss-meta-padding: " /* the header that pads a header block */

#define FW_PATHS_MAX      64       /* firmware paths counted apart per rule set */

/* GETs counted for one firmware path. */
struct fw_count {
    char     path[CF_PATH_MAX];    /* "/fw/<id>/<name>" */
    uint64_t gets;                 /* GETs of it so far */
};

/* Fault rules and GET counters: the server-wide set, and one per owner
 * (a tenant of the cloud) for the GETs of its firmware. */
struct fw_rules {
    struct cloud_http_rule rules[CF_HTTP_RULES_MAX]; /* nrules in force */
    int                nrules;
    uint64_t           gets;    /* firmware GETs so far (any path) */
    struct fw_count    counts[FW_PATHS_MAX]; /* per path; ncounts used */
    int                ncounts;
    uint32_t           throttle_bps; /* owners: their downloads' rate; 0 = the server's */
};

struct fwserver {
    struct mg_context *ctx;     /* civetweb */
    struct cloud      *cloud;   /* the service whose store and API we serve */
    int                port;    /* listening port on 127.0.0.1 */
    int                tls_port; /* HTTPS listening port on 127.0.0.1; 0: none */
    uint32_t           throttle_bps; /* 0 = full speed */
    int                stopping; /* set by fwserver_stop(); aborts throttled bodies */
    int                poke_done; /* mg_stop() returned: the poke thread ends */
    pthread_mutex_t    fmu;     /* guards the fields below */
    struct fw_rules    g;       /* firmware without an owner */
    struct fw_rules  **own;     /* own[k - 1]: owner k's (heap, NULL until set); nown slots */
    int                nown;
};

static pthread_once_t fw_lib_once = PTHREAD_ONCE_INIT;
static void fw_lib_init(void) { mg_init_library(0); }

static const char *fw_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 410: return "Gone";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
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
                             uint64_t b, uint32_t bps)
{
    char *buf = malloc(FW_CHUNK); /* heap: civetweb workers have 100 KiB stacks */
    uint64_t total = b - a + 1, sent = 0, t0 = evlog_now_us();
    size_t piece = FW_CHUNK;

    if (!buf)
        return 0;
    if (bps) {
        piece = bps / 20u;
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
        if (bps && sent < total) {
            uint64_t due = t0 + sent * 1000000u / bps;
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

/* ---- faults ---- */

#define FW_HAS(ff, k) (((ff)->a.set >> (k)) & 1u)

/* What one firmware GET gets: the settings of every rule that picked it,
 * merged, with the label of the rule each setting came from. */
struct fw_fault {
    struct cloud_http_rule a;                  /* merged settings; a.set says which */
    char     from[CF_H_COUNT][CF_LABEL_MAX];   /* rule label per setting */
    uint64_t request;                          /* firmware GET number on this server (of
                                                * this owner's firmware) */
    uint64_t path_request;                     /* GET number of this path (0: not counted) */
    uint32_t bps;                              /* the rate without a throttle setting */
};

int fwserver_set_faults(struct fwserver *s, const struct cloud_http_rule *rules, int n, int append)
{
    int base;

    if (n < 0 || (n > 0 && !rules))
        return -1;
    pthread_mutex_lock(&s->fmu);
    base = append ? s->g.nrules : 0;
    if (n > CF_HTTP_RULES_MAX - base) {
        pthread_mutex_unlock(&s->fmu);
        return -1;
    }
    if (n > 0)
        memcpy(&s->g.rules[base], rules, (size_t)n * sizeof *rules);
    s->g.nrules = base + n;
    pthread_mutex_unlock(&s->fmu);
    return 0;
}

int fwserver_set_owner_faults(struct fwserver *s, int owner, const struct cloud_http_rule *rules,
                              int n, uint32_t throttle_bps)
{
    struct fw_rules *rs;

    if (owner < 1 || owner > CLOUD_MAX_DEVICES || n < 0 || n > CF_HTTP_RULES_MAX ||
        (n > 0 && !rules))
        return -1;
    pthread_mutex_lock(&s->fmu);
    if (owner > s->nown) {
        struct fw_rules **t = realloc(s->own, (size_t)owner * sizeof *t);
        if (!t) {
            pthread_mutex_unlock(&s->fmu);
            return -1;
        }
        memset(t + s->nown, 0, (size_t)(owner - s->nown) * sizeof *t);
        s->own = t;
        s->nown = owner;
    }
    rs = s->own[owner - 1];
    if (!rs && !(rs = s->own[owner - 1] = malloc(sizeof *rs))) {
        pthread_mutex_unlock(&s->fmu);
        return -1;
    }
    memset(rs, 0, sizeof *rs);
    if (n > 0)
        memcpy(rs->rules, rules, (size_t)n * sizeof *rules);
    rs->nrules = n;
    rs->throttle_bps = throttle_bps;
    pthread_mutex_unlock(&s->fmu);
    return 0;
}

static void fw_rule_label(const struct cloud_http_rule *r, char *out, size_t n)
{
    if (r->label[0])
        snprintf(out, n, "%s", r->label);
    else if (r->nth)
        snprintf(out, n, "http:%u", r->nth);
    else
        snprintf(out, n, "http");
}

/* Copies every setting r has into ff, over what is there. */
static void fw_merge(struct fw_fault *ff, const struct cloud_http_rule *r)
{
    struct cloud_http_rule *a = &ff->a;
    char label[CF_LABEL_MAX];

    fw_rule_label(r, label, sizeof label);
    for (int k = 0; k < CF_H_COUNT; k++) {
        if (k == CF_H_PATH || !((r->set >> k) & 1u))
            continue;
        a->set |= 1u << k;
        memcpy(ff->from[k], label, sizeof label);
        switch (k) {
        case CF_H_STATUS:        a->status = r->status; break;
        case CF_H_IGNORE_RANGE:  a->ignore_range = r->ignore_range; break;
        case CF_H_ETAG_CHANGE:   a->etag_change = r->etag_change; break;
        case CF_H_LENGTH:        a->length_delta = r->length_delta; break;
        case CF_H_LENGTH_BODY:   a->length_body = r->length_body; break;
        case CF_H_CHUNKED:       a->chunked = r->chunked; break;
        case CF_H_PAD_HEADERS:   a->pad_headers = r->pad_headers; break;
        case CF_H_SPLIT_HEADERS: a->split_ms = r->split_ms; break;
        case CF_H_CLOSE_AT:      a->close_at = r->close_at; break;
        case CF_H_STALL_AT:      a->stall_at = r->stall_at; break;
        case CF_H_STALL_MS:      a->stall_ms = r->stall_ms; break;
        case CF_H_STALL_THEN:    a->stall_then = r->stall_then; break;
        case CF_H_THROTTLE:      a->throttle_bps = r->throttle_bps; break;
        }
    }
}

/* Counts a firmware GET of path and merges the rules that pick it: rules
 * for every GET first, then rules for the Nth, each in the order given, a
 * later setting over an earlier one. 1 when any setting applies. */
static int fw_fault_pick(struct fwserver *s, int owner, const char *path, struct fw_fault *ff)
{
    struct fw_rules *rs = &s->g;
    int i;

    memset(ff, 0, sizeof *ff);
    pthread_mutex_lock(&s->fmu);
    ff->bps = s->throttle_bps;
    if (owner >= 1 && owner <= s->nown && s->own[owner - 1]) {
        rs = s->own[owner - 1];
        if (rs->throttle_bps)
            ff->bps = rs->throttle_bps;
    } else if (owner) {
        /* an owner without rules: counted apart from the server-wide GETs */
        pthread_mutex_unlock(&s->fmu);
        if (fwserver_set_owner_faults(s, owner, NULL, 0, 0) != 0)
            return 0;
        return fw_fault_pick(s, owner, path, ff);
    }
    ff->request = ++rs->gets;
    for (i = 0; i < rs->ncounts; i++)
        if (strcmp(rs->counts[i].path, path) == 0)
            break;
    if (i == rs->ncounts && i < FW_PATHS_MAX && strlen(path) < CF_PATH_MAX) {
        snprintf(rs->counts[i].path, sizeof rs->counts[i].path, "%s", path);
        rs->counts[i].gets = 0;
        rs->ncounts++;
    }
    if (i < rs->ncounts)
        ff->path_request = ++rs->counts[i].gets;
    for (int pass = 0; pass < 2; pass++) {
        for (int k = 0; k < rs->nrules; k++) {
            const struct cloud_http_rule *r = &rs->rules[k];
            uint64_t n = ff->request;

            if ((pass == 0) != (r->nth == 0))
                continue;
            if ((r->set >> CF_H_PATH) & 1u) {
                if (strcmp(r->path, path) != 0)
                    continue;
                n = ff->path_request;
            }
            if (r->nth && r->nth != n)
                continue;
            fw_merge(ff, r);
        }
    }
    pthread_mutex_unlock(&s->fmu);
    return ff->a.set != 0;
}

static void fw_ev_fault(const struct fw_req *r, const struct fw_fault *ff, int key, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));
static void fw_ev_fault(const struct fw_req *r, const struct fw_fault *ff, int key, const char *fmt,
                        ...)
{
    char did[512], edid[1024], erule[CF_LABEL_MAX * 6];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(did, sizeof did, fmt, ap);
    va_end(ap);
    evlog_emit("http", "http.fault",
               "\"rule\":\"%s\",\"request\":%llu,\"path_request\":%llu,\"path\":\"%s\","
               "\"fault\":\"%s\",\"did\":\"%s\"",
               otahil_json_escape(erule, sizeof erule, ff->from[key]),
               (unsigned long long)ff->request, (unsigned long long)ff->path_request, r->path,
               cloudfault_http_key_name(key), otahil_json_escape(edid, sizeof edid, did));
}

/* Sleeps us microseconds in slices; 0, or -1 as soon as the server stops. */
static int fw_wait_us(struct fwserver *s, uint64_t us)
{
    uint64_t end = evlog_now_us() + us;

    for (;;) {
        uint64_t now = evlog_now_us();
        if (__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE))
            return -1;
        if (now >= end)
            return 0;
        fw_sleep_us(end - now < FW_SLEEP_SLICE_US ? end - now : FW_SLEEP_SLICE_US);
    }
}

/* The body object storage sends with an error status (an XML <Error>); 400
 * is the one OSS sends for a signed URL past its Expires time. Heap; *len
 * set. NULL when out of memory. */
static char *fw_error_body(int status, uint64_t request, const char *path, size_t *len)
{
    const char *code, *msg, *extra = "";
    char reqid[32], *b;
    int n;

    switch (status) {
    case 400:
        code = "AccessDenied";
        msg = "Request has expired.";
        extra = "  <Expires>2019-03-27T12:10:36.000Z</Expires>\n"
                "  <ServerTime>2019-03-27T13:02:51.000Z</ServerTime>\n";
        break;
    case 403:
        code = "AccessDenied";
        msg = "You have no right to access this object because of bucket acl.";
        break;
    case 404:
        code = "NoSuchKey";
        msg = "The specified key does not exist.";
        break;
    case 500:
        code = "InternalError";
        msg = "We encountered an internal error. Please try again.";
        break;
    case 503:
        code = "ServiceUnavailable";
        msg = "Please reduce your request rate.";
        break;
    default:
        code = "Error";
        msg = fw_reason(status);
        break;
    }
    snprintf(reqid, sizeof reqid, "5C9B%020llX",
             (unsigned long long)(request * 0x9e3779b97f4a7c15ull) & 0xFFFFFFFFFFFFFFFull);
#define FW_ERROR_XML                                                                        \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>%s</Code>\n"             \
    "  <Message>%s</Message>\n  <RequestId>%s</RequestId>\n"                                \
    "  <HostId>iotx-ota.oss-cn-shanghai.aliyuncs.com</HostId>\n  <Key>%s</Key>\n%s</Error>\n"
    n = snprintf(NULL, 0, FW_ERROR_XML, code, msg, reqid, path[0] == '/' ? path + 1 : path, extra);
    b = malloc((size_t)n + 1);
    if (!b)
        return NULL;
    snprintf(b, (size_t)n + 1, FW_ERROR_XML, code, msg, reqid, path[0] == '/' ? path + 1 : path,
             extra);
#undef FW_ERROR_XML
    *len = (size_t)n;
    return b;
}

/* A header block being edited (heap, NUL-terminated). */
struct fw_head {
    char  *b;
    size_t len, cap;
};

/* Replaces oldlen bytes at off with ins. 0 or -1 (no memory). */
static int fw_head_splice(struct fw_head *h, size_t off, size_t oldlen, const char *ins, size_t inslen)
{
    size_t need = h->len - oldlen + inslen + 1;

    if (need > h->cap) {
        char *nb = realloc(h->b, need);
        if (!nb)
            return -1;
        h->b = nb;
        h->cap = need;
    }
    memmove(h->b + off + inslen, h->b + off + oldlen, h->len - off - oldlen + 1);
    memcpy(h->b + off, ins, inslen);
    h->len = h->len - oldlen + inslen;
    return 0;
}

/* Replaces the Content-Length line with line (CRLF included). */
static int fw_head_cl_line(struct fw_head *h, const char *line)
{
    char *p = strstr(h->b, "\r\nContent-Length: "), *e;

    if (!p)
        return -1;
    p += 2;
    e = strstr(p, "\r\n");
    if (!e)
        return -1;
    return fw_head_splice(h, (size_t)(p - h->b), (size_t)(e + 2 - p), line, strlen(line));
}

/* Pads the block to at least want bytes with one header after the status
 * line: exactly want when there is room for the header's own text. */
static int fw_head_pad(struct fw_head *h, size_t want)
{
    size_t over = strlen(FW_PAD_HEADER) + 2, fill;
    char *line, *eol = strstr(h->b, "\r\n");
    int rc;

    if (want <= h->len || !eol)
        return 0;
    fill = want - h->len > over ? want - h->len - over : 0;
    line = malloc(over + fill + 1);
    if (!line)
        return -1;
    memcpy(line, FW_PAD_HEADER, strlen(FW_PAD_HEADER));
    for (size_t i = 0; i < fill; i++)
        line[strlen(FW_PAD_HEADER) + i] = (char)('a' + i % 26);
    memcpy(line + strlen(FW_PAD_HEADER) + fill, "\r\n", 3);
    rc = fw_head_splice(h, (size_t)(eol + 2 - h->b), 0, line, over + fill);
    free(line);
    return rc;
}

/* Writes the header block: at once, or one byte per write with a pause. */
static int fw_write_head(struct fwserver *s, struct mg_connection *conn, const struct fw_head *h,
                         const struct fw_fault *ff)
{
    if (!FW_HAS(ff, CF_H_SPLIT_HEADERS))
        return mg_write(conn, h->b, h->len) == (int)h->len ? 0 : -1;
    for (size_t i = 0; i < h->len; i++) {
        if (mg_write(conn, h->b + i, 1) != 1)
            return -1;
        if (i + 1 < h->len && fw_wait_us(s, (uint64_t)ff->a.split_ms * 1000u) != 0)
            return -1;
    }
    return 0;
}

/* Where body bytes come from: truth bytes of a file (from offset a) or of
 * memory; bytes past truth (a Content-Length that announces more) are 0. */
struct fw_body {
    int         fd;
    uint64_t    a;
    const char *mem;      /* non-NULL: the source instead of fd */
    uint64_t    truth;    /* real bytes available */
    uint64_t    send;     /* bytes to send before any close or stall fault */
};

static ssize_t fw_body_read(const struct fw_body *b, uint64_t off, char *buf, size_t want)
{
    size_t real = off < b->truth ? (size_t)(b->truth - off < want ? b->truth - off : want) : 0;
    ssize_t got = (ssize_t)real;

    if (real && b->mem)
        memcpy(buf, b->mem + off, real);
    else if (real && (got = pread(b->fd, buf, real, (off_t)(b->a + off))) <= 0)
        return -1;
    if ((size_t)got < want && off + (uint64_t)got >= b->truth) {
        memset(buf + got, 0, want - (size_t)got);
        got = (ssize_t)want;
    }
    return got;
}

/* Sends the body under the faults in ff; returns the body bytes written
 * (chunk framing not counted). */
static uint64_t fw_send_faulted_body(struct fwserver *s, struct mg_connection *conn,
                                     const struct fw_req *r, const struct fw_fault *ff,
                                     const struct fw_body *b)
{
    char *buf = malloc(FW_CHUNK);
    uint32_t bps = FW_HAS(ff, CF_H_THROTTLE) ? ff->a.throttle_bps : ff->bps;
    int chunked = FW_HAS(ff, CF_H_CHUNKED) && ff->a.chunked;
    int stall = FW_HAS(ff, CF_H_STALL_AT), stalled = 0, stall_closed = 0, ended = 0;
    uint64_t limit = b->send, sent = 0, t0 = evlog_now_us(), base = 0;
    size_t piece = FW_CHUNK;

    if (!buf)
        return 0;
    if (FW_HAS(ff, CF_H_CLOSE_AT) && ff->a.close_at < limit)
        limit = ff->a.close_at;
    if (bps) {
        piece = bps / 20u;
        piece = piece < FW_PIECE_MIN ? FW_PIECE_MIN : piece > FW_PIECE_MAX ? FW_PIECE_MAX : piece;
    }
    if (chunked && piece > FW_CHUNKED_MAX)
        piece = FW_CHUNKED_MAX;
    if (FW_HAS(ff, CF_H_THROTTLE) && b->send > 0)
        fw_ev_fault(r, ff, CF_H_THROTTLE, "body paced at %u bytes/s", (unsigned)bps);
    for (;;) {
        if (stall && !stalled && sent == ff->a.stall_at) {
            int then_close = FW_HAS(ff, CF_H_STALL_THEN) && ff->a.stall_then == CF_STALL_CLOSE;
            stalled = 1;
            fw_ev_fault(r, ff, CF_H_STALL_AT, "paused %u ms at body byte %llu of %llu, then %s",
                        (unsigned)ff->a.stall_ms, (unsigned long long)sent,
                        (unsigned long long)b->send, then_close ? "closed" : "went on");
            stall_closed = then_close;
            if (fw_wait_us(s, (uint64_t)ff->a.stall_ms * 1000u) != 0 || then_close)
                break;
            t0 = evlog_now_us();
            base = sent;
        }
        if (sent >= limit) {
            ended = sent == b->send;
            break;
        }
        size_t want = limit - sent < piece ? (size_t)(limit - sent) : piece;
        if (stall && !stalled && ff->a.stall_at > sent && ff->a.stall_at - sent < want)
            want = (size_t)(ff->a.stall_at - sent);
        ssize_t got = fw_body_read(b, sent, buf, want);
        if (got <= 0)
            break;
        if (chunked) {
            char line[24];
            int n = snprintf(line, sizeof line, "%zx\r\n", (size_t)got);
            if (mg_write(conn, line, (size_t)n) != n)
                break;
        }
        if (mg_write(conn, buf, (size_t)got) != (int)got || (chunked && mg_write(conn, "\r\n", 2) != 2))
            break;
        sent += (uint64_t)got;
        if (bps && sent < limit) {
            uint64_t due = t0 + (sent - base) * 1000000u / bps, now = evlog_now_us();
            if (due > now && fw_wait_us(s, due - now) != 0)
                break;
        }
    }
    if (ended && chunked)
        mg_write(conn, "0\r\n\r\n", 5);
    if (!ended && !stall_closed && sent == limit && limit < b->send)
        fw_ev_fault(r, ff, CF_H_CLOSE_AT, "closed the connection after %llu of %llu body bytes",
                    (unsigned long long)sent, (unsigned long long)b->send);
    free(buf);
    return sent;
}

/* A firmware GET under faults: status, headers and body as ff says. */
static int fw_serve_faulted(struct fwserver *s, struct mg_connection *conn, const struct fw_req *r,
                            const struct cloud_fw_info *fi, int fd, int status, uint64_t a,
                            uint64_t b, const struct fw_fault *ff, const char *uri)
{
    struct fw_body body = { fd, a, NULL, 0, 0 };
    struct fw_head h = { NULL, 0, 0 };
    char etag[96], *ebody = NULL;
    uint64_t sent = 0;
    int st = status, n;

    h.cap = FW_HEAD_MAX + 256;
    h.b = malloc(h.cap);
    if (!h.b)
        return fw_simple(conn, r, 500, "", "out of memory\n");
    if (FW_HAS(ff, CF_H_STATUS)) {
        char rid[32];
        size_t el = 0;

        st = ff->a.status;
        ebody = fw_error_body(st, ff->request, uri, &el);
        if (!ebody) {
            free(h.b);
            return fw_simple(conn, r, 500, "", "out of memory\n");
        }
        snprintf(rid, sizeof rid, "%.24s", strstr(ebody, "<RequestId>") + 11);
        n = snprintf(h.b, h.cap,
                     "HTTP/1.1 %d %s\r\nServer: AliyunOSS\r\nContent-Type: application/xml\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\nx-oss-request-id: %s\r\n\r\n",
                     st, fw_reason(st), el, rid);
        h.len = (size_t)n;
        body.mem = ebody;
        body.truth = el;
        fw_ev_fault(r, ff, CF_H_STATUS, "answered %d %s with a %zu-byte object storage error body",
                    st, fw_reason(st), el);
    } else {
        if (FW_HAS(ff, CF_H_IGNORE_RANGE) && ff->a.ignore_range && r->has_range && st != 200) {
            fw_ev_fault(r, ff, CF_H_IGNORE_RANGE,
                        "answered Range '%s' with 200 and the whole file (%llu bytes) instead of %d",
                        r->range, (unsigned long long)fi->size, st);
            st = 200;
            a = 0;
            b = fi->size ? fi->size - 1 : 0;
        }
        snprintf(etag, sizeof etag, "%s", fi->md5);
        if (FW_HAS(ff, CF_H_ETAG_CHANGE) && ff->a.etag_change) {
            snprintf(etag, sizeof etag, "%s-%llu", fi->md5, (unsigned long long)ff->request);
            fw_ev_fault(r, ff, CF_H_ETAG_CHANGE, "sent ETag \"%s\" (the file's is \"%s\")", etag,
                        fi->md5);
        }
        n = fw_response_head(h.b, h.cap, st, a, b, fi->size, etag);
        if (n < 0) {
            free(h.b);
            return fw_simple(conn, r, 500, "", "response header too large\n");
        }
        h.len = (size_t)n;
        body.a = a;
        body.truth = st == 416 || fi->size == 0 ? 0 : b - a + 1;
    }
    body.send = body.truth;
    if (FW_HAS(ff, CF_H_LENGTH)) {
        int64_t ann = (int64_t)body.truth + ff->a.length_delta;
        int file = FW_HAS(ff, CF_H_LENGTH_BODY) && ff->a.length_body == CF_BODY_FILE;
        char line[64];

        if (ann < 0)
            ann = 0;
        snprintf(line, sizeof line, "Content-Length: %lld\r\n", (long long)ann);
        if (fw_head_cl_line(&h, line) == 0) {
            if (!file)
                body.send = (uint64_t)ann;
            fw_ev_fault(r, ff, CF_H_LENGTH, "announced Content-Length: %lld for a %llu-byte body, "
                        "sending %llu bytes%s", (long long)ann, (unsigned long long)body.truth,
                        (unsigned long long)body.send,
                        body.send > body.truth ? " (zeros past the end)" : "");
        }
    }
    if (FW_HAS(ff, CF_H_CHUNKED) && ff->a.chunked &&
        fw_head_cl_line(&h, "Transfer-Encoding: chunked\r\n") == 0)
        fw_ev_fault(r, ff, CF_H_CHUNKED, "sent no Content-Length: Transfer-Encoding: chunked, "
                    "chunks of up to %u bytes", FW_CHUNKED_MAX);
    if (FW_HAS(ff, CF_H_PAD_HEADERS)) {
        size_t before = h.len;
        if (fw_head_pad(&h, ff->a.pad_headers) == 0)
            fw_ev_fault(r, ff, CF_H_PAD_HEADERS, before < ff->a.pad_headers
                        ? "padded the header block from %zu to %zu bytes"
                        : "left the header block at %zu bytes (%zu asked for is not more)",
                        before, before < ff->a.pad_headers ? h.len : (size_t)ff->a.pad_headers);
    }
    fw_ev_request(r, st);
    if (FW_HAS(ff, CF_H_SPLIT_HEADERS))
        fw_ev_fault(r, ff, CF_H_SPLIT_HEADERS, "wrote the %zu-byte header block one byte per write, "
                    "%u ms apart", h.len, (unsigned)ff->a.split_ms);
    if (fw_write_head(s, conn, &h, ff) == 0)
        sent = fw_send_faulted_body(s, conn, r, ff, &body);
    fw_ev_done(r, st, sent);
    free(h.b);
    free(ebody);
    return st;
}

/* Serves firmware fi (found) to a GET or HEAD. */
static int fw_serve_file(struct fwserver *s, struct mg_connection *conn, const struct fw_req *r,
                         const struct cloud_fw_info *fi_in, const char *uri, int head_only)
{
    const struct cloud_fw_info fi = *fi_in;
    char head[FW_HEAD_MAX];
    uint64_t a = 0, b = 0, sent = 0;
    uint32_t bps = s->throttle_bps;
    int status, n, fd;

    fd = open(fi.path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fw_simple(conn, r, 500, "", "firmware file unreadable\n");

    status = fw_parse_range(mg_get_header(conn, "Range"), fi.size, &a, &b);
    if (status == 200) {
        a = 0;
        b = fi.size ? fi.size - 1 : 0;
    }
    if (!head_only) {
        struct fw_fault *ff = malloc(sizeof *ff); /* heap: civetweb workers have 100 KiB stacks */

        if (ff && fw_fault_pick(s, fi.owner, uri, ff)) {
            status = fw_serve_faulted(s, conn, r, &fi, fd, status, a, b, ff, uri);
            free(ff);
            close(fd);
            return status;
        }
        if (ff)
            bps = ff->bps;
        free(ff);
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
        sent = fw_send_body(s, conn, fd, a, b, bps);
    close(fd);
    fw_ev_done(r, status, sent);
    return status;
}

static int fw_serve(struct fwserver *s, struct mg_connection *conn, const struct mg_request_info *ri,
                    const struct fw_req *r)
{
    struct cloud_fw_info *fi;
    const char *uri = ri->local_uri, *name;
    int head_only, status;
    char *end, *prev;
    long id;

    head_only = strcmp(r->method, "HEAD") == 0;
    if (!head_only && strcmp(r->method, "GET") != 0)
        return fw_simple(conn, r, 405, "Allow: GET, HEAD\r\n", "method not allowed\n");
    fi = malloc(sizeof *fi); /* heap: civetweb workers have 100 KiB stacks */
    if (!fi)
        return fw_simple(conn, r, 500, "", "out of memory\n");
    errno = 0;
    id = strtol(uri + 4, &end, 10);
    name = end + 1;
    if (errno || end == uri + 4 || *end != '/' || id <= 0 || id > 1000000 ||
        cloud_firmware_info(s->cloud, (int)id, fi) != 0 || strcmp(name, fi->name) != 0) {
        free(fi);
        return fw_simple(conn, r, 404, "", "no such firmware\n");
    }
    /* A tenant's firmware: its events go to the tenant's log. */
    prev = evlog_route_push(evlog_route_get());
    if (fi->owner)
        cloud_route_owner(s->cloud, fi->owner);
    status = fw_serve_file(s, conn, r, fi, uri, head_only);
    evlog_route_pop(prev);
    free(fi);
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

/* Optional field key: absent or null (0), a string (1, *out set) or
 * anything else (-1). */
static int api_opt_str(const cJSON *o, const char *key, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v))
        return -1;
    *out = v->valuestring;
    return 1;
}

/* Optional integer field key in lo..hi: absent or null (0), set (1), or
 * -1. */
static int api_opt_int(const cJSON *o, const char *key, double lo, double hi, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi) ||
        v->valuedouble != (double)(long long)v->valuedouble)
        return -1;
    *out = v->valuedouble;
    return 1;
}

static int api_firmware(struct fwserver *s, struct mg_connection *conn, const cJSON *in)
{
    const char *path = api_str(in, "path"), *version = api_str(in, "version");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, "version");
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(in, "unchecked");
    struct cloud_fw_opts fo = { 0 };
    struct cloud_fw_info *fi;
    char err[512];
    double port = 0;
    cJSON *o;
    int id;

    fo.version = version;
    if (!path)
        return api_error(conn, 400, "need a string field path");
    if (v && !cJSON_IsNull(v) && !version)
        return api_error(conn, 400, "version must be a string");
    if (u && !cJSON_IsNull(u)) {
        if (!cJSON_IsBool(u))
            return api_error(conn, 400, "unchecked must be true or false");
        fo.unchecked = cJSON_IsTrue(u);
    }
    if (api_opt_str(in, "pk", &fo.owner_pk) < 0 || api_opt_str(in, "dn", &fo.owner_dn) < 0 ||
        !fo.owner_pk != !fo.owner_dn)
        return api_error(conn, 400, "pk and dn (the owning tenant) must be strings, both or "
                         "neither");
    if (api_opt_int(in, "url_port", 1, 65535, &port) < 0)
        return api_error(conn, 400, "url_port must be an integer 1..65535");
    fo.url_port = (int)port;
    if (api_opt_str(in, "url_host", &fo.url_host) < 0)
        return api_error(conn, 400, "url_host must be a string");
    if (api_opt_str(in, "url_scheme", &fo.url_scheme) < 0)
        return api_error(conn, 400, "url_scheme must be \"http\" or \"https\"");
    id = cloud_add_firmware_opts(s->cloud, path, &fo, err, sizeof err);
    if (id < 0)
        return api_error(conn, 400, "%s", err);
    fi = malloc(sizeof *fi);
    if (!fi)
        return api_error(conn, 500, "out of memory");
    if (cloud_firmware_info(s->cloud, id, fi) != 0) {
        free(fi);
        return api_error(conn, 500, "firmware %d vanished", id);
    }
    o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", id);
    cJSON_AddNumberToObject(o, "size", (double)fi->size);
    cJSON_AddStringToObject(o, "md5", fi->md5);
    cJSON_AddStringToObject(o, "sha256", fi->sha256);
    cJSON_AddStringToObject(o, "version", fi->version);
    cJSON_AddStringToObject(o, "url", fi->url);
    free(fi);
    return api_reply_obj(conn, 201, o);
}

static int api_jobs(struct fwserver *s, struct mg_connection *conn, const cJSON *in)
{
    const char *pk = api_str(in, "pk"), *dn = api_str(in, "dn");
    const cJSON *fw = cJSON_GetObjectItemCaseSensitive(in, "firmware");
    const cJSON *sm = cJSON_GetObjectItemCaseSensitive(in, "signMethod");
    const cJSON *re = cJSON_GetObjectItemCaseSensitive(in, "retries");
    const cJSON *ai = cJSON_GetObjectItemCaseSensitive(in, "at_inform");
    struct push_opts po = { NULL, 0, 0, NULL };
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

/* POST /api/tenants (docs/cloud.md, "Tenants"). */
static int api_tenants(struct fwserver *s, struct mg_connection *conn, const cJSON *in)
{
    static const char *const fields[] = { "pk", "dn", "secret", "events", "seed", "http", "mqtt",
                                          "coap", "throttle_bps" };
    struct cloud_tenant t;
    struct cloud_http_rule *rules = NULL;
    struct cloud_mqtt_faults mf;
    struct cloud_coap_faults cf;
    const cJSON *m, *http, *mq, *cq, *seed;
    char err[512], why[400];
    double bps = 0;
    cJSON *o;
    int rc, n = 0;

    memset(&t, 0, sizeof t);
    cJSON_ArrayForEach(m, in) {
        size_t k = 0;
        while (k < sizeof fields / sizeof fields[0] && strcmp(fields[k], m->string) != 0)
            k++;
        if (k == sizeof fields / sizeof fields[0])
            return api_error(conn, 400, "%.64s: unknown field (pk, dn, secret, events, seed, http, "
                             "mqtt, coap, throttle_bps)", m->string);
    }
    t.pk = api_str(in, "pk");
    t.dn = api_str(in, "dn");
    t.secret = api_str(in, "secret");
    if (!t.pk || !t.dn || !t.secret)
        return api_error(conn, 400, "%s: need a string", !t.pk ? "pk" : !t.dn ? "dn" : "secret");
    if (api_opt_str(in, "events", &t.events) < 0 || (t.events && t.events[0] && t.events[0] != '/'))
        return api_error(conn, 400, "events: expected an absolute path");
    seed = cJSON_GetObjectItemCaseSensitive(in, "seed");
    if (seed && !cJSON_IsNull(seed)) {
        /* a JSON number holds integers exactly up to 2^53; a decimal string any 64-bit seed */
        char *end = NULL;
        if (cJSON_IsNumber(seed) && seed->valuedouble >= 0 && seed->valuedouble <= 9007199254740992.0 &&
            seed->valuedouble == (double)(uint64_t)seed->valuedouble) {
            t.seed = (uint64_t)seed->valuedouble;
        } else if (cJSON_IsString(seed) && seed->valuestring[0] >= '0' &&
                   seed->valuestring[0] <= '9' &&
                   (errno = 0, t.seed = strtoull(seed->valuestring, &end, 10), !errno && !*end)) {
        } else {
            return api_error(conn, 400, "seed: expected an integer 0..2^53 or a decimal string");
        }
    }
    if (api_opt_int(in, "throttle_bps", 0, 4294967295.0, &bps) < 0)
        return api_error(conn, 400, "throttle_bps: expected an integer 0..4294967295 (0: the "
                         "cloud's rate)");
    t.throttle_bps = (uint32_t)bps;
    http = cJSON_GetObjectItemCaseSensitive(in, "http");
    if (http && !cJSON_IsNull(http)) {
        if (!cJSON_IsArray(http))
            return api_error(conn, 400, "http: expected an array of rule objects");
        n = cJSON_GetArraySize(http);
        if (n > CF_HTTP_RULES_MAX)
            return api_error(conn, 400, "http: %d rules, at most %d", n, CF_HTTP_RULES_MAX);
        rules = n ? calloc((size_t)n, sizeof *rules) : NULL;
        if (n && !rules)
            return api_error(conn, 500, "out of memory");
        for (int i = 0; i < n; i++)
            if (cloudfault_http_from_json(cJSON_GetArrayItem(http, i), &rules[i], why,
                                          sizeof why) != 0) {
                free(rules);
                return api_error(conn, 400, "http[%d].%s", i, why);
            }
        t.http = rules;
        t.nhttp = n;
    }
    mq = cJSON_GetObjectItemCaseSensitive(in, "mqtt");
    if (mq && !cJSON_IsNull(mq)) {
        if (cloudfault_mqtt_from_json(mq, &mf, why, sizeof why) != 0) {
            free(rules);
            return api_error(conn, 400, "mqtt.%s", why);
        }
        t.mqtt = &mf;
    }
    cq = cJSON_GetObjectItemCaseSensitive(in, "coap");
    if (cq && !cJSON_IsNull(cq)) {
        if (cloudfault_coap_from_json(cq, &cf, why, sizeof why) != 0) {
            free(rules);
            return api_error(conn, 400, "coap.%s", why);
        }
        t.coap = &cf;
    }
    rc = cloud_add_tenant(s->cloud, &t, err, sizeof err);
    free(rules);
    if (rc != 0)
        return api_error(conn, 400, "%s", err);
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "pk", t.pk);
    cJSON_AddStringToObject(o, "dn", t.dn);
    return api_reply_obj(conn, 201, o);
}

/* POST /api/devices/offline */
static int api_offline(struct fwserver *s, struct mg_connection *conn, const cJSON *in)
{
    const char *pk = api_str(in, "pk"), *dn = api_str(in, "dn");
    cJSON *o;

    if (!pk || !dn)
        return api_error(conn, 400, "need string fields pk and dn");
    if (cloud_device_offline(s->cloud, pk, dn) != 0)
        return api_error(conn, 404, "no such device: %.32s/%.32s", pk, dn);
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "pk", pk);
    cJSON_AddStringToObject(o, "dn", dn);
    return api_reply_obj(conn, 200, o);
}

/* DELETE /api/tenants/<pk>/<dn> */
static int api_release(struct fwserver *s, struct mg_connection *conn, const char *rest)
{
    char pk[64], dn[64];
    const char *slash = strchr(rest, '/');
    cJSON *o;

    if (!slash || slash == rest || (size_t)(slash - rest) >= sizeof pk || !slash[1] ||
        strchr(slash + 1, '/') || strlen(slash + 1) >= sizeof dn)
        return api_error(conn, 404, "no such tenant: %.100s (DELETE /api/tenants/<pk>/<dn>)", rest);
    memcpy(pk, rest, (size_t)(slash - rest));
    pk[slash - rest] = '\0';
    snprintf(dn, sizeof dn, "%s", slash + 1);
    if (cloud_release_tenant(s->cloud, pk, dn) != 0)
        return api_error(conn, 404, "no such tenant: %s/%s", pk, dn);
    o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "released", 1);
    return api_reply_obj(conn, 200, o);
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
    if (strcmp(uri, "/api/health") == 0) {
        char why[512];

        if (!get)
            return api_error(conn, 405, "%s %s: use GET", m, uri);
        if (cloud_health(s->cloud, why, sizeof why) != 0)
            return api_error(conn, 503, "%s", why);
        return api_reply(conn, 200, strdup("{\"ok\":true}"));
    }
    if (strncmp(uri, "/api/tenants/", 13) == 0) {
        if (strcmp(m, "DELETE") != 0)
            return api_error(conn, 405, "%s %s: use DELETE", m, uri);
        return api_release(s, conn, uri + 13);
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
    else if (strcmp(uri, "/api/tenants") == 0)
        poster = api_tenants;
    else if (strcmp(uri, "/api/devices/offline") == 0)
        poster = api_offline;
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
    return fwserver_start_tls(c, port, throttle_bps, NULL, err, errlen);
}

/* civetweb loads OpenSSL with dlopen at the first TLS start; a failure
 * there would otherwise leave a listener that resets every connection. */
static int fw_tls_init(char *err, size_t errlen)
{
    if (!(mg_check_feature(MG_FEATURES_TLS) & MG_FEATURES_TLS)) {
        snprintf(err, errlen, "this civetweb was built without TLS: no HTTPS listener");
        return -1;
    }
    if (!(mg_init_library(MG_FEATURES_TLS) & MG_FEATURES_TLS)) {
        snprintf(err, errlen, "civetweb could not initialise TLS: it dlopens libssl.so and "
                 "needs SSL_get_peer_certificate, which the build's BUILD/lib/libssl.so shim "
                 "provides (is the program linked with its rpath? docs/cloud.md)");
        return -1;
    }
    return 0;
}

struct fwserver *fwserver_start_tls(struct cloud *c, int port, uint32_t throttle_bps,
                                    const char *tls_pem, char *err, size_t errlen)
{
    struct fwserver *s;
    struct mg_callbacks cb;
    struct mg_server_port ports[4];
    char listen[64], etext[256] = "";
    unsigned ecode = 0;
    struct mg_error_data ed = { &ecode, etext, sizeof etext };
    const char *opts[] = { "listening_ports", listen, "num_threads", FW_THREADS,
                           "enable_keep_alive", "no", "tcp_nodelay", "1",
                           tls_pem ? "ssl_certificate" : NULL, tls_pem,
                           "ssl_protocol_version", "4", /* TLS 1.2 and later */
                           NULL };
    struct mg_init_data init = { &cb, NULL, opts };
    int n;

    pthread_once(&fw_lib_once, fw_lib_init);
    if (tls_pem && fw_tls_init(err, errlen) != 0)
        return NULL;
    s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->cloud = c;
    s->throttle_bps = throttle_bps;
    pthread_mutex_init(&s->fmu, NULL);
    if (tls_pem)
        snprintf(listen, sizeof listen, "127.0.0.1:%d,127.0.0.1:0s", port > 0 ? port : 0);
    else
        snprintf(listen, sizeof listen, "127.0.0.1:%d", port > 0 ? port : 0);
    memset(&cb, 0, sizeof cb);
    cb.log_message = fw_log_message;
    init.user_data = s;
    s->ctx = mg_start2(&init, &ed);
    if (!s->ctx) {
        snprintf(err, errlen, "civetweb could not start on %s: %s", listen,
                 etext[0] ? etext : "unknown error");
        pthread_mutex_destroy(&s->fmu);
        free(s);
        return NULL;
    }
    n = mg_get_server_ports(s->ctx, 4, ports);
    if (n < 1 || ports[0].port <= 0) {
        snprintf(err, errlen, "civetweb started on %s but reports no listening port", listen);
        mg_stop(s->ctx);
        pthread_mutex_destroy(&s->fmu);
        free(s);
        return NULL;
    }
    s->port = 0;
    for (int i = 0; i < n; i++) {
        if (ports[i].is_ssl)
            s->tls_port = ports[i].port;
        else if (!s->port)
            s->port = ports[i].port;
    }
    if (!s->port || (tls_pem && !s->tls_port)) {
        snprintf(err, errlen, "civetweb started on %s but reports no %s listening port", listen,
                 s->port ? "HTTPS" : "plain");
        mg_stop(s->ctx);
        pthread_mutex_destroy(&s->fmu);
        free(s);
        return NULL;
    }
    mg_set_request_handler(s->ctx, "/", fw_route, s);
    return s;
}

int fwserver_port(const struct fwserver *s)
{
    return s->port;
}

int fwserver_tls_port(const struct fwserver *s)
{
    return s->tls_port;
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
    pthread_mutex_destroy(&s->fmu);
    for (int i = 0; i < s->nown; i++)
        free(s->own[i]);
    free(s->own);
    free(s);
}
