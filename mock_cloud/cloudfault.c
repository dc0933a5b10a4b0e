/*
 * cloudfault.c - the text form of the fake cloud's faults (see cloudfault.h):
 * one KEY = VALUE setting at a time, each value checked against its range,
 * and the reverse, a rule written back as "key=value ..." for summaries;
 * and the JSON form the REST API carries, {"settings":{"key":"value"}},
 * whose values are the same texts, so a round trip is exact.
 *
 * Numbers are plain decimal (no sign, no suffix) except the two deltas, which
 * need an explicit sign ("+100", "-1"), so that a reader of a plan sees the
 * direction. Booleans are true/false, yes/no, on/off or 1/0.
 */
#include "mock_cloud/cloudfault.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const http_keys[CF_H_COUNT] = {
    [CF_H_STATUS] = "status",           [CF_H_IGNORE_RANGE] = "ignore_range",
    [CF_H_ETAG_CHANGE] = "etag_change", [CF_H_LENGTH] = "length",
    [CF_H_LENGTH_BODY] = "length_body", [CF_H_CHUNKED] = "chunked",
    [CF_H_PAD_HEADERS] = "pad_headers", [CF_H_SPLIT_HEADERS] = "split_headers",
    [CF_H_CLOSE_AT] = "close_at",       [CF_H_STALL_AT] = "stall_at",
    [CF_H_STALL_MS] = "stall_ms",       [CF_H_STALL_THEN] = "stall_then",
    [CF_H_THROTTLE] = "throttle",       [CF_H_PATH] = "path",
};

static const char *const mqtt_keys[CF_M_COUNT] = {
    [CF_M_DROP_PUSH] = "drop_push",         [CF_M_DUPLICATE_AT] = "duplicate_at",
    [CF_M_OFFLINE_PUSH] = "offline_push",   [CF_M_RESTART_BROKER_AT] = "restart_broker_at",
    [CF_M_PUSH_LEN] = "push_len",           [CF_M_URL_LEN] = "url_len",
    [CF_M_SIZE_STRING] = "size_string",     [CF_M_SIZE_DELTA] = "size_delta",
    [CF_M_MESSAGE] = "message",             [CF_M_SIGN_METHOD] = "sign_method",
    [CF_M_SIGN] = "sign",                   [CF_M_SIGN_CASE] = "sign_case",
    [CF_M_WRONG_DIGEST] = "wrong_digest",   [CF_M_WRONG_DIGEST_ATTEMPTS] = "wrong_digest_attempts",
};

const char *cloudfault_http_key_name(int key)
{
    return key >= 0 && key < CF_H_COUNT ? http_keys[key] : "?";
}

const char *cloudfault_mqtt_key_name(int key)
{
    return key >= 0 && key < CF_M_COUNT ? mqtt_keys[key] : "?";
}

static int cf_find(const char *const *names, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], key) == 0)
            return i;
    return -1;
}

/* "unknown key (a, b, c)" */
static void cf_unknown(const char *const *names, int n, char *why, size_t whylen)
{
    size_t len = (size_t)snprintf(why, whylen, "unknown key (expected one of:");

    for (int i = 0; i < n && len < whylen; i++)
        len += (size_t)snprintf(why + len, whylen - len, "%s %s", i ? "," : "", names[i]);
    if (len < whylen)
        snprintf(why + len, whylen - len, ")");
}

static int cf_bool(const char *v, int *out)
{
    static const char *const yes[] = { "true", "yes", "on", "1" };
    static const char *const no[] = { "false", "no", "off", "0" };

    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

/* Plain decimal in [lo, hi]. */
static int cf_uint(const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
    unsigned long long n;
    char *end;

    if (*v < '0' || *v > '9')
        return -1;
    errno = 0;
    n = strtoull(v, &end, 10);
    if (errno || *end || n < lo || n > hi)
        return -1;
    *out = n;
    return 0;
}

/* "+N" or "-N", 1 <= N <= hi. */
static int cf_delta(const char *v, uint64_t hi, int64_t *out)
{
    uint64_t n;

    if ((v[0] != '+' && v[0] != '-') || cf_uint(v + 1, 1, hi, &n) != 0)
        return -1;
    *out = v[0] == '-' ? -(int64_t)n : (int64_t)n;
    return 0;
}

static int cf_text(const char *v, char *out, size_t n)
{
    size_t len = strlen(v);

    if (len >= n)
        return -1;
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p < ' ' || (unsigned char)*p == 0x7f)
            return -1;
    memcpy(out, v, len + 1);
    return 0;
}

#define CF_DELTA_MAX 0x7fffffffull

int cloudfault_http_set(struct cloud_http_rule *r, const char *key, const char *value,
                        char *why, size_t whylen)
{
    int k = cf_find(http_keys, CF_H_COUNT, key), b = 0;
    uint64_t u = 0;

    if (k < 0) {
        cf_unknown(http_keys, CF_H_COUNT, why, whylen);
        return -1;
    }
    switch (k) {
    case CF_H_STATUS:
        if (cf_uint(value, 100, 599, &u) != 0 || u == 200 || u == 206)
            goto bad;
        r->status = (int)u;
        break;
    case CF_H_IGNORE_RANGE:
    case CF_H_ETAG_CHANGE:
    case CF_H_CHUNKED:
        if (cf_bool(value, &b) != 0)
            goto bad;
        if (k == CF_H_IGNORE_RANGE)
            r->ignore_range = b;
        else if (k == CF_H_ETAG_CHANGE)
            r->etag_change = b;
        else
            r->chunked = b;
        break;
    case CF_H_LENGTH:
        if (cf_delta(value, CF_DELTA_MAX, &r->length_delta) != 0)
            goto bad;
        break;
    case CF_H_LENGTH_BODY:
        if (strcmp(value, "announced") == 0)
            r->length_body = CF_BODY_ANNOUNCED;
        else if (strcmp(value, "file") == 0)
            r->length_body = CF_BODY_FILE;
        else
            goto bad;
        break;
    case CF_H_PAD_HEADERS:
        if (cf_uint(value, 1, CF_PAD_HEADERS_MAX, &u) != 0)
            goto bad;
        r->pad_headers = (uint32_t)u;
        break;
    case CF_H_SPLIT_HEADERS:
        if (cf_uint(value, 0, CF_SPLIT_MS_MAX, &u) != 0)
            goto bad;
        r->split_ms = (uint32_t)u;
        break;
    case CF_H_CLOSE_AT:
    case CF_H_STALL_AT:
        if (cf_uint(value, 0, UINT64_MAX >> 1, &u) != 0)
            goto bad;
        if (k == CF_H_CLOSE_AT)
            r->close_at = u;
        else
            r->stall_at = u;
        break;
    case CF_H_STALL_MS:
        if (cf_uint(value, 1, CF_STALL_MS_MAX, &u) != 0)
            goto bad;
        r->stall_ms = (uint32_t)u;
        break;
    case CF_H_STALL_THEN:
        if (strcmp(value, "continue") == 0)
            r->stall_then = CF_STALL_CONTINUE;
        else if (strcmp(value, "close") == 0)
            r->stall_then = CF_STALL_CLOSE;
        else
            goto bad;
        break;
    case CF_H_THROTTLE:
        if (cf_uint(value, 1, 1000000000u, &u) != 0)
            goto bad;
        r->throttle_bps = (uint32_t)u;
        break;
    case CF_H_PATH:
        if (value[0] != '/' || strchr(value, '?') || strchr(value, ' ') ||
            cf_text(value, r->path, sizeof r->path) != 0)
            goto bad;
        break;
    }
    r->set |= 1u << k;
    return k;

bad:
    switch (k) {
    case CF_H_STATUS:
        snprintf(why, whylen, "expected a status 100..599 other than 200 and 206, got '%s'", value);
        break;
    case CF_H_IGNORE_RANGE:
    case CF_H_ETAG_CHANGE:
    case CF_H_CHUNKED:
        snprintf(why, whylen, "expected true or false, got '%s'", value);
        break;
    case CF_H_LENGTH:
        snprintf(why, whylen, "expected +N or -N bytes (N 1..%llu), got '%s'", CF_DELTA_MAX, value);
        break;
    case CF_H_LENGTH_BODY:
        snprintf(why, whylen, "expected announced or file, got '%s'", value);
        break;
    case CF_H_PAD_HEADERS:
        snprintf(why, whylen, "expected a header block size 1..%d bytes, got '%s'",
                 CF_PAD_HEADERS_MAX, value);
        break;
    case CF_H_SPLIT_HEADERS:
        snprintf(why, whylen, "expected the pause between header bytes, 0..%d ms, got '%s'",
                 CF_SPLIT_MS_MAX, value);
        break;
    case CF_H_CLOSE_AT:
    case CF_H_STALL_AT:
        snprintf(why, whylen, "expected a body offset in bytes (0 or more, decimal), got '%s'", value);
        break;
    case CF_H_STALL_MS:
        snprintf(why, whylen, "expected a pause of 1..%d ms, got '%s'", CF_STALL_MS_MAX, value);
        break;
    case CF_H_STALL_THEN:
        snprintf(why, whylen, "expected continue or close, got '%s'", value);
        break;
    case CF_H_THROTTLE:
        snprintf(why, whylen, "expected bytes per second, 1..1000000000, got '%s'", value);
        break;
    case CF_H_PATH:
        snprintf(why, whylen, "expected a firmware path such as /fw/1/fw-target.bin (no query, "
                 "no spaces, under %d characters), got '%s'", CF_PATH_MAX, value);
        break;
    }
    return -1;
}

int cloudfault_http_check(const struct cloud_http_rule *r, int *key, char *why, size_t whylen)
{
    unsigned s = r->set;
    int k = -1;

#define CF_HAS(x) (s & (1u << (x)))
    if (CF_HAS(CF_H_LENGTH_BODY) && !CF_HAS(CF_H_LENGTH)) {
        k = CF_H_LENGTH_BODY;
        snprintf(why, whylen, "needs length = +N or -N in the same section");
    } else if (CF_HAS(CF_H_CHUNKED) && r->chunked && CF_HAS(CF_H_LENGTH)) {
        k = CF_H_CHUNKED;
        snprintf(why, whylen, "cannot go with length: a chunked response has no Content-Length");
    } else if (CF_HAS(CF_H_STALL_MS) && !CF_HAS(CF_H_STALL_AT)) {
        k = CF_H_STALL_MS;
        snprintf(why, whylen, "needs stall_at = N in the same section");
    } else if (CF_HAS(CF_H_STALL_THEN) && !CF_HAS(CF_H_STALL_AT)) {
        k = CF_H_STALL_THEN;
        snprintf(why, whylen, "needs stall_at = N in the same section");
    } else if (CF_HAS(CF_H_STALL_AT) && !CF_HAS(CF_H_STALL_MS)) {
        k = CF_H_STALL_AT;
        snprintf(why, whylen, "needs stall_ms = T in the same section");
    }
#undef CF_HAS
    if (k < 0)
        return 0;
    if (key)
        *key = k;
    return -1;
}

int cloudfault_mqtt_set(struct cloud_mqtt_faults *f, const char *key, const char *value,
                        char *why, size_t whylen)
{
    int k = cf_find(mqtt_keys, CF_M_COUNT, key), b = 0;
    uint64_t u = 0;

    if (k < 0) {
        cf_unknown(mqtt_keys, CF_M_COUNT, why, whylen);
        return -1;
    }
    switch (k) {
    case CF_M_DROP_PUSH:
    case CF_M_WRONG_DIGEST_ATTEMPTS:
        if (cf_uint(value, 1, 101, &u) != 0)
            goto bad;
        if (k == CF_M_DROP_PUSH)
            f->drop_push = (int)u;
        else
            f->wrong_digest_attempts = (int)u;
        break;
    case CF_M_DUPLICATE_AT:
    case CF_M_RESTART_BROKER_AT:
        if (cf_uint(value, 1, 100, &u) != 0)
            goto bad;
        if (k == CF_M_DUPLICATE_AT)
            f->duplicate_at = (int)u;
        else
            f->restart_broker_at = (int)u;
        break;
    case CF_M_OFFLINE_PUSH:
    case CF_M_SIZE_STRING:
    case CF_M_WRONG_DIGEST:
        if (cf_bool(value, &b) != 0)
            goto bad;
        if (k == CF_M_OFFLINE_PUSH)
            f->offline_push = b;
        else if (k == CF_M_SIZE_STRING)
            f->size_string = b;
        else
            f->wrong_digest = b;
        break;
    case CF_M_PUSH_LEN:
        if (cf_uint(value, 64, CF_PUSH_LEN_MAX, &u) != 0)
            goto bad;
        f->push_len = (uint32_t)u;
        break;
    case CF_M_URL_LEN:
        if (cf_uint(value, 1, CF_URL_LEN_MAX, &u) != 0)
            goto bad;
        f->url_len = (uint32_t)u;
        break;
    case CF_M_SIZE_DELTA:
        if (cf_delta(value, CF_DELTA_MAX, &f->size_delta) != 0)
            goto bad;
        break;
    case CF_M_MESSAGE:
        if (cf_text(value, f->message, sizeof f->message) != 0)
            goto bad;
        break;
    case CF_M_SIGN_METHOD:
        if (!value[0] || cf_text(value, f->sign_method, sizeof f->sign_method) != 0)
            goto bad;
        break;
    case CF_M_SIGN:
        if (strcmp(value, "md5") == 0)
            f->sign = CF_SIGN_MD5;
        else if (strcmp(value, "sha256") == 0)
            f->sign = CF_SIGN_SHA256;
        else
            goto bad;
        break;
    case CF_M_SIGN_CASE:
        if (strcmp(value, "upper") == 0)
            f->sign_upper = 1;
        else if (strcmp(value, "lower") == 0)
            f->sign_upper = 0;
        else
            goto bad;
        break;
    }
    f->set |= 1u << k;
    return k;

bad:
    switch (k) {
    case CF_M_DROP_PUSH:
        snprintf(why, whylen, "expected a push number 1..101 (1 = the first push of each job), "
                 "got '%s'", value);
        break;
    case CF_M_WRONG_DIGEST_ATTEMPTS:
        snprintf(why, whylen, "expected a number of pushes 1..101 (1 = only the first push of each "
                 "job), got '%s'", value);
        break;
    case CF_M_DUPLICATE_AT:
    case CF_M_RESTART_BROKER_AT:
        snprintf(why, whylen, "expected a progress percentage 1..100, got '%s'", value);
        break;
    case CF_M_OFFLINE_PUSH:
    case CF_M_SIZE_STRING:
    case CF_M_WRONG_DIGEST:
        snprintf(why, whylen, "expected true or false, got '%s'", value);
        break;
    case CF_M_PUSH_LEN:
        snprintf(why, whylen, "expected a push size 64..%d bytes, got '%s'", CF_PUSH_LEN_MAX, value);
        break;
    case CF_M_URL_LEN:
        snprintf(why, whylen, "expected a URL length 1..%d characters, got '%s'", CF_URL_LEN_MAX,
                 value);
        break;
    case CF_M_SIZE_DELTA:
        snprintf(why, whylen, "expected +N or -N bytes (N 1..%llu), got '%s'", CF_DELTA_MAX, value);
        break;
    case CF_M_MESSAGE:
        snprintf(why, whylen, "expected printable text under %d characters", CF_TEXT_MAX);
        break;
    case CF_M_SIGN_METHOD:
        snprintf(why, whylen, "expected printable text of 1..%d characters", CF_TEXT_MAX - 1);
        break;
    case CF_M_SIGN:
        snprintf(why, whylen, "expected md5 or sha256, got '%s'", value);
        break;
    case CF_M_SIGN_CASE:
        snprintf(why, whylen, "expected upper or lower, got '%s'", value);
        break;
    }
    return -1;
}

/* ---- descriptions ---- */

struct cf_out {
    char  *buf;
    size_t n, len;
};

__attribute__((format(printf, 3, 4)))
static void cf_put(struct cf_out *o, const char *key, const char *fmt, ...)
{
    va_list ap;
    int k;

    if (o->len >= o->n)
        return;
    k = snprintf(o->buf + o->len, o->n - o->len, "%s%s=", o->len ? " " : "", key);
    if (k < 0)
        return;
    o->len += (size_t)k;
    if (o->len >= o->n) {
        o->len = o->n;
        return;
    }
    va_start(ap, fmt);
    k = vsnprintf(o->buf + o->len, o->n - o->len, fmt, ap);
    va_end(ap);
    o->len = k < 0 || (size_t)k >= o->n - o->len ? o->n : o->len + (size_t)k;
}

/* The text form of setting k of r (set or not) into v. */
static void cf_http_value(const struct cloud_http_rule *r, int k, char *v, size_t n)
{
    v[0] = '\0';
    switch (k) {
    case CF_H_STATUS:        snprintf(v, n, "%d", r->status); break;
    case CF_H_IGNORE_RANGE:  snprintf(v, n, "%s", r->ignore_range ? "true" : "false"); break;
    case CF_H_ETAG_CHANGE:   snprintf(v, n, "%s", r->etag_change ? "true" : "false"); break;
    case CF_H_LENGTH:        snprintf(v, n, "%+lld", (long long)r->length_delta); break;
    case CF_H_LENGTH_BODY:   snprintf(v, n, "%s", r->length_body == CF_BODY_FILE ? "file" : "announced"); break;
    case CF_H_CHUNKED:       snprintf(v, n, "%s", r->chunked ? "true" : "false"); break;
    case CF_H_PAD_HEADERS:   snprintf(v, n, "%u", (unsigned)r->pad_headers); break;
    case CF_H_SPLIT_HEADERS: snprintf(v, n, "%u", (unsigned)r->split_ms); break;
    case CF_H_CLOSE_AT:      snprintf(v, n, "%llu", (unsigned long long)r->close_at); break;
    case CF_H_STALL_AT:      snprintf(v, n, "%llu", (unsigned long long)r->stall_at); break;
    case CF_H_STALL_MS:      snprintf(v, n, "%u", (unsigned)r->stall_ms); break;
    case CF_H_STALL_THEN:    snprintf(v, n, "%s", r->stall_then == CF_STALL_CLOSE ? "close" : "continue"); break;
    case CF_H_THROTTLE:      snprintf(v, n, "%u", (unsigned)r->throttle_bps); break;
    case CF_H_PATH:          snprintf(v, n, "%s", r->path); break;
    }
}

static void cf_mqtt_value(const struct cloud_mqtt_faults *f, int k, char *v, size_t n)
{
    v[0] = '\0';
    switch (k) {
    case CF_M_DROP_PUSH:         snprintf(v, n, "%d", f->drop_push); break;
    case CF_M_DUPLICATE_AT:      snprintf(v, n, "%d", f->duplicate_at); break;
    case CF_M_OFFLINE_PUSH:      snprintf(v, n, "%s", f->offline_push ? "true" : "false"); break;
    case CF_M_RESTART_BROKER_AT: snprintf(v, n, "%d", f->restart_broker_at); break;
    case CF_M_PUSH_LEN:          snprintf(v, n, "%u", (unsigned)f->push_len); break;
    case CF_M_URL_LEN:           snprintf(v, n, "%u", (unsigned)f->url_len); break;
    case CF_M_SIZE_STRING:       snprintf(v, n, "%s", f->size_string ? "true" : "false"); break;
    case CF_M_SIZE_DELTA:        snprintf(v, n, "%+lld", (long long)f->size_delta); break;
    case CF_M_MESSAGE:           snprintf(v, n, "%s", f->message); break;
    case CF_M_SIGN_METHOD:       snprintf(v, n, "%s", f->sign_method); break;
    case CF_M_SIGN:              snprintf(v, n, "%s", f->sign == CF_SIGN_SHA256 ? "sha256" : "md5"); break;
    case CF_M_SIGN_CASE:         snprintf(v, n, "%s", f->sign_upper ? "upper" : "lower"); break;
    case CF_M_WRONG_DIGEST:      snprintf(v, n, "%s", f->wrong_digest ? "true" : "false"); break;
    case CF_M_WRONG_DIGEST_ATTEMPTS: snprintf(v, n, "%d", f->wrong_digest_attempts); break;
    }
}

#define CF_VALUE_MAX (CF_PATH_MAX + 8) /* longest text form of one value */

char *cloudfault_http_describe(const struct cloud_http_rule *r, char *buf, size_t n)
{
    struct cf_out o = { buf, n, 0 };
    char v[CF_VALUE_MAX];

    if (n == 0)
        return buf;
    buf[0] = '\0';
    for (int k = 0; k < CF_H_COUNT; k++) {
        if (!(r->set & (1u << k)))
            continue;
        cf_http_value(r, k, v, sizeof v);
        cf_put(&o, http_keys[k], "%s", v);
    }
    buf[o.len < n ? o.len : n - 1] = '\0';
    return buf;
}

char *cloudfault_mqtt_describe(const struct cloud_mqtt_faults *f, char *buf, size_t n)
{
    struct cf_out o = { buf, n, 0 };
    char v[CF_VALUE_MAX];

    if (n == 0)
        return buf;
    buf[0] = '\0';
    for (int k = 0; k < CF_M_COUNT; k++) {
        if (!(f->set & (1u << k)))
            continue;
        cf_mqtt_value(f, k, v, sizeof v);
        cf_put(&o, mqtt_keys[k], "%s", v);
    }
    buf[o.len < n ? o.len : n - 1] = '\0';
    return buf;
}

/* ---- CoAP block download ---- */

static const char *const coap_keys[CF_C_COUNT] = {
    [CF_C_DROP_BLOCK] = "drop_block",         [CF_C_DROP_TIMES] = "drop_times",
    [CF_C_DUPLICATE_BLOCK] = "duplicate_block", [CF_C_REORDER_BLOCK] = "reorder_block",
    [CF_C_DELAY_BLOCK] = "delay_block",       [CF_C_DELAY_MS] = "delay_ms",
    [CF_C_CODE_BLOCK] = "code_block",         [CF_C_CODE] = "code",
    [CF_C_CODE_TIMES] = "code_times",         [CF_C_ETAG_CHANGE_AT] = "etag_change_at",
    [CF_C_SIZE2_DELTA] = "size2_delta",       [CF_C_BLOCK_SZX] = "block_szx",
};

const char *cloudfault_coap_key_name(int key)
{
    return key >= 0 && key < CF_C_COUNT ? coap_keys[key] : "?";
}

/* "C.DD": a CoAP response code 2.01..5.31, as class * 100 + detail. */
static int cf_coap_code(const char *v, int *out)
{
    if (strlen(v) != 4 || v[1] != '.' || v[0] < '2' || v[0] > '5' || v[2] < '0' || v[2] > '3' ||
        v[3] < '0' || v[3] > '9')
        return -1;
    int c = (v[0] - '0') * 100 + (v[2] - '0') * 10 + (v[3] - '0');
    if (c % 100 > 31 || c == 205 || c == 200)
        return -1;
    *out = c;
    return 0;
}

int cloudfault_coap_set(struct cloud_coap_faults *f, const char *key, const char *value,
                        char *why, size_t whylen)
{
    int k = cf_find(coap_keys, CF_C_COUNT, key);
    uint64_t u = 0;

    if (k < 0) {
        cf_unknown(coap_keys, CF_C_COUNT, why, whylen);
        return -1;
    }
    switch (k) {
    case CF_C_DROP_BLOCK:
    case CF_C_DUPLICATE_BLOCK:
    case CF_C_REORDER_BLOCK:
    case CF_C_DELAY_BLOCK:
    case CF_C_CODE_BLOCK:
    case CF_C_ETAG_CHANGE_AT:
        if (cf_uint(value, 0, 0xFFFFF, &u) != 0) { /* NUM is 20 bits at most */
            snprintf(why, whylen, "expected a block number 0..1048575, got '%s'", value);
            return -1;
        }
        if (k == CF_C_DROP_BLOCK) f->drop_block = (uint32_t)u;
        else if (k == CF_C_DUPLICATE_BLOCK) f->duplicate_block = (uint32_t)u;
        else if (k == CF_C_REORDER_BLOCK) f->reorder_block = (uint32_t)u;
        else if (k == CF_C_DELAY_BLOCK) f->delay_block = (uint32_t)u;
        else if (k == CF_C_CODE_BLOCK) f->code_block = (uint32_t)u;
        else f->etag_change_at = (uint32_t)u;
        break;
    case CF_C_DROP_TIMES:
    case CF_C_CODE_TIMES:
        if (cf_uint(value, 1, CF_COAP_TIMES_MAX, &u) != 0) {
            snprintf(why, whylen, "expected a count 1..%d, got '%s'", CF_COAP_TIMES_MAX, value);
            return -1;
        }
        if (k == CF_C_DROP_TIMES) f->drop_times = (uint32_t)u;
        else f->code_times = (uint32_t)u;
        break;
    case CF_C_DELAY_MS:
        if (cf_uint(value, 1, CF_COAP_DELAY_MAX, &u) != 0) {
            snprintf(why, whylen, "expected milliseconds 1..%d, got '%s'", CF_COAP_DELAY_MAX, value);
            return -1;
        }
        f->delay_ms = (uint32_t)u;
        break;
    case CF_C_CODE:
        if (cf_coap_code(value, &f->code) != 0) {
            snprintf(why, whylen, "expected a CoAP response code C.DD from 2.01 to 5.31 other than "
                     "2.05, got '%s'", value);
            return -1;
        }
        break;
    case CF_C_SIZE2_DELTA:
        if (cf_delta(value, CF_DELTA_MAX, &f->size2_delta) != 0) {
            snprintf(why, whylen, "expected a signed byte count such as +100 or -1, got '%s'", value);
            return -1;
        }
        break;
    case CF_C_BLOCK_SZX:
        if (cf_uint(value, 0, 7, &u) != 0) {
            snprintf(why, whylen, "expected an SZX 0..7 (block size 16 << SZX; 7 is reserved), "
                     "got '%s'", value);
            return -1;
        }
        f->block_szx = (int)u;
        break;
    }
    f->set |= 1u << k;
    return k;
}

int cloudfault_coap_check(const struct cloud_coap_faults *f, int *key, char *why, size_t whylen)
{
    static const struct { int dep, on; const char *what; } need[] = {
        { CF_C_DROP_TIMES, CF_C_DROP_BLOCK, "drop_times needs drop_block" },
        { CF_C_DELAY_MS, CF_C_DELAY_BLOCK, "delay_ms needs delay_block" },
        { CF_C_DELAY_BLOCK, CF_C_DELAY_MS, "delay_block needs delay_ms" },
        { CF_C_CODE, CF_C_CODE_BLOCK, "code needs code_block" },
        { CF_C_CODE_BLOCK, CF_C_CODE, "code_block needs code" },
        { CF_C_CODE_TIMES, CF_C_CODE_BLOCK, "code_times needs code_block" },
    };

    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if ((f->set >> need[i].dep & 1u) && !(f->set >> need[i].on & 1u)) {
            if (key)
                *key = need[i].dep;
            snprintf(why, whylen, "%s", need[i].what);
            return -1;
        }
    return 0;
}

static void cf_coap_value(const struct cloud_coap_faults *f, int k, char *v, size_t n)
{
    v[0] = '\0';
    switch (k) {
    case CF_C_DROP_BLOCK:      snprintf(v, n, "%u", (unsigned)f->drop_block); break;
    case CF_C_DROP_TIMES:      snprintf(v, n, "%u", (unsigned)f->drop_times); break;
    case CF_C_DUPLICATE_BLOCK: snprintf(v, n, "%u", (unsigned)f->duplicate_block); break;
    case CF_C_REORDER_BLOCK:   snprintf(v, n, "%u", (unsigned)f->reorder_block); break;
    case CF_C_DELAY_BLOCK:     snprintf(v, n, "%u", (unsigned)f->delay_block); break;
    case CF_C_DELAY_MS:        snprintf(v, n, "%u", (unsigned)f->delay_ms); break;
    case CF_C_CODE_BLOCK:      snprintf(v, n, "%u", (unsigned)f->code_block); break;
    case CF_C_CODE:            snprintf(v, n, "%d.%02d", f->code / 100, f->code % 100); break;
    case CF_C_CODE_TIMES:      snprintf(v, n, "%u", (unsigned)f->code_times); break;
    case CF_C_ETAG_CHANGE_AT:  snprintf(v, n, "%u", (unsigned)f->etag_change_at); break;
    case CF_C_SIZE2_DELTA:     snprintf(v, n, "%+lld", (long long)f->size2_delta); break;
    case CF_C_BLOCK_SZX:       snprintf(v, n, "%d", f->block_szx); break;
    }
}

char *cloudfault_coap_describe(const struct cloud_coap_faults *f, char *buf, size_t n)
{
    struct cf_out o = { buf, n, 0 };
    char v[CF_VALUE_MAX];

    if (n == 0)
        return buf;
    buf[0] = '\0';
    for (int k = 0; k < CF_C_COUNT; k++) {
        if (!(f->set & (1u << k)))
            continue;
        cf_coap_value(f, k, v, sizeof v);
        cf_put(&o, coap_keys[k], "%s", v);
    }
    buf[o.len < n ? o.len : n - 1] = '\0';
    return buf;
}

/* ---- JSON forms ---- */

typedef void (*cf_value_fn)(const void *x, int k, char *v, size_t n);
typedef int (*cf_set_fn)(void *x, const char *key, const char *value, char *why, size_t whylen);

static void cf_http_value_any(const void *x, int k, char *v, size_t n) { cf_http_value(x, k, v, n); }
static void cf_mqtt_value_any(const void *x, int k, char *v, size_t n) { cf_mqtt_value(x, k, v, n); }
static void cf_coap_value_any(const void *x, int k, char *v, size_t n) { cf_coap_value(x, k, v, n); }
static int cf_http_set_any(void *x, const char *k, const char *v, char *w, size_t n)
{
    return cloudfault_http_set(x, k, v, w, n);
}
static int cf_mqtt_set_any(void *x, const char *k, const char *v, char *w, size_t n)
{
    return cloudfault_mqtt_set(x, k, v, w, n);
}
static int cf_coap_set_any(void *x, const char *k, const char *v, char *w, size_t n)
{
    return cloudfault_coap_set(x, k, v, w, n);
}

/* {"key":"text value",...} of every setting in set. NULL when out of memory. */
static cJSON *cf_settings_json(const void *x, unsigned set, const char *const *names, int nkeys,
                               cf_value_fn value)
{
    cJSON *o = cJSON_CreateObject();
    char v[CF_VALUE_MAX];

    if (!o)
        return NULL;
    for (int k = 0; k < nkeys; k++) {
        if (!(set & (1u << k)))
            continue;
        value(x, k, v, sizeof v);
        if (!cJSON_AddStringToObject(o, names[k], v)) {
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

/* Reads a "settings" object into x: each member KEY: "text" (a number or
 * a boolean is taken as its text) through set. 0, or -1 with
 * "settings.KEY: why" in why. */
static int cf_settings_from(const cJSON *o, void *x, cf_set_fn set, char *why, size_t n)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "settings"), *m;
    char v[CF_VALUE_MAX + 32], w[512];

    if (!st || cJSON_IsNull(st))
        return 0;
    if (!cJSON_IsObject(st)) {
        snprintf(why, n, "settings: expected an object of KEY: \"value\"");
        return -1;
    }
    cJSON_ArrayForEach(m, st) {
        if (cJSON_IsString(m)) {
            if (strlen(m->valuestring) >= sizeof v) {
                snprintf(why, n, "settings.%s: value over %zu characters", m->string, sizeof v - 1);
                return -1;
            }
            snprintf(v, sizeof v, "%s", m->valuestring);
        } else if (cJSON_IsNumber(m) && m->valuedouble == (double)(long long)m->valuedouble) {
            snprintf(v, sizeof v, "%lld", (long long)m->valuedouble);
        } else if (cJSON_IsBool(m)) {
            snprintf(v, sizeof v, "%s", cJSON_IsTrue(m) ? "true" : "false");
        } else {
            snprintf(why, n, "settings.%s: expected a string (the KEY = VALUE text of the value)",
                     m->string);
            return -1;
        }
        if (set(x, m->string, v, w, sizeof w) < 0) {
            snprintf(why, n, "settings.%s: %s", m->string, w);
            return -1;
        }
    }
    return 0;
}

cJSON *cloudfault_http_to_json(const struct cloud_http_rule *r)
{
    cJSON *o = cJSON_CreateObject(), *st;

    if (!o)
        return NULL;
    st = cf_settings_json(r, r->set, http_keys, CF_H_COUNT, cf_http_value_any);
    if (!st || !cJSON_AddStringToObject(o, "label", r->label) ||
        !cJSON_AddNumberToObject(o, "nth", r->nth)) {
        cJSON_Delete(st);
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddItemToObject(o, "settings", st);
    return o;
}

int cloudfault_http_from_json(const cJSON *o, struct cloud_http_rule *r, char *why, size_t n)
{
    const cJSON *lab = cJSON_GetObjectItemCaseSensitive(o, "label");
    const cJSON *nth = cJSON_GetObjectItemCaseSensitive(o, "nth"), *m;
    char w[512];
    int key = 0;

    memset(r, 0, sizeof *r);
    if (!cJSON_IsObject(o)) {
        snprintf(why, n, "expected an object {\"label\",\"nth\",\"settings\"}");
        return -1;
    }
    cJSON_ArrayForEach(m, o)
        if (strcmp(m->string, "label") && strcmp(m->string, "nth") && strcmp(m->string, "settings")) {
            snprintf(why, n, "%s: unknown field (label, nth, settings)", m->string);
            return -1;
        }
    if (lab && !cJSON_IsNull(lab)) {
        if (!cJSON_IsString(lab) || cf_text(lab->valuestring, r->label, sizeof r->label) != 0) {
            snprintf(why, n, "label: expected printable text under %d characters", CF_LABEL_MAX);
            return -1;
        }
    }
    if (nth && !cJSON_IsNull(nth)) {
        if (!cJSON_IsNumber(nth) || !(nth->valuedouble >= 0 && nth->valuedouble <= 4294967295.0) ||
            nth->valuedouble != (double)(uint32_t)nth->valuedouble) {
            snprintf(why, n, "nth: expected 0 (every GET) or a GET number 1..4294967295");
            return -1;
        }
        r->nth = (unsigned)nth->valuedouble;
    }
    if (cf_settings_from(o, r, cf_http_set_any, why, n) != 0)
        return -1;
    if (cloudfault_http_check(r, &key, w, sizeof w) != 0) {
        snprintf(why, n, "settings.%s: %s", cloudfault_http_key_name(key), w);
        return -1;
    }
    return 0;
}

/* {"settings": st} (st taken over; NULL: out of memory), or NULL. */
static cJSON *cf_settings_obj(cJSON *st)
{
    cJSON *o = cJSON_CreateObject();

    if (!o || !st) {
        cJSON_Delete(o);
        cJSON_Delete(st);
        return NULL;
    }
    cJSON_AddItemToObject(o, "settings", st);
    return o;
}

cJSON *cloudfault_mqtt_to_json(const struct cloud_mqtt_faults *f)
{
    return cf_settings_obj(cf_settings_json(f, f->set, mqtt_keys, CF_M_COUNT, cf_mqtt_value_any));
}

/* An object whose only field is "settings". 0, or -1 with why. */
static int cf_only_settings(const cJSON *o, char *why, size_t n)
{
    const cJSON *m;

    if (!cJSON_IsObject(o)) {
        snprintf(why, n, "expected an object {\"settings\":{...}}");
        return -1;
    }
    cJSON_ArrayForEach(m, o)
        if (strcmp(m->string, "settings")) {
            snprintf(why, n, "%s: unknown field (settings)", m->string);
            return -1;
        }
    return 0;
}

int cloudfault_mqtt_from_json(const cJSON *o, struct cloud_mqtt_faults *f, char *why, size_t n)
{
    memset(f, 0, sizeof *f);
    if (cf_only_settings(o, why, n) != 0)
        return -1;
    return cf_settings_from(o, f, cf_mqtt_set_any, why, n);
}

cJSON *cloudfault_coap_to_json(const struct cloud_coap_faults *f)
{
    return cf_settings_obj(cf_settings_json(f, f->set, coap_keys, CF_C_COUNT, cf_coap_value_any));
}

int cloudfault_coap_from_json(const cJSON *o, struct cloud_coap_faults *f, char *why, size_t n)
{
    char w[512];
    int key = 0;

    memset(f, 0, sizeof *f);
    if (cf_only_settings(o, why, n) != 0 || cf_settings_from(o, f, cf_coap_set_any, why, n) != 0)
        return -1;
    if (cloudfault_coap_check(f, &key, w, sizeof w) != 0) {
        snprintf(why, n, "settings.%s: %s", cloudfault_coap_key_name(key), w);
        return -1;
    }
    return 0;
}
