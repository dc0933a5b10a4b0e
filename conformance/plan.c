/*
 * plan.c - loads fault plans (see plan.h; format in docs/faults.md) and
 * installs them in a running cloud.
 *
 * Parsing is inih's, through ini_parse_stream with a reader of our own, as
 * for board files: the reader counts lines (inih does not tell the handler
 * which line it is on), sees section headers as they go by (inih says
 * nothing about a section with no keys), and strips leading blanks, so an
 * indented line is a key of its own rather than an inih continuation line.
 * The first problem wins and parsing stops there. Checks that span a
 * section (stall_ms needs stall_at, ...) run once the file is read and name
 * the line of the key at fault.
 *
 * The same setters serve plan_add_cli(), so an option and a plan line accept
 * exactly the same keys and values.
 */
#include "conformance/checks.h"
#include "conformance/plan.h"
#include "mock_cloud/proxy.h"
#include "mock_cloud/cloud.h"
#include "mock_cloud/testca.h"
#include "sim/util/event.h"
#include "sim/util/evlog.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PLAN_LINE_MAX 1024 /* longest physical line read (inih's own limit is lower) */

enum plan_sec { SEC_NONE = 0, SEC_PLAN, SEC_HTTP, SEC_MQTT, SEC_PROXY_MQTT, SEC_PROXY_HTTP,
                SEC_COAP, SEC_PROXY_COAP, SEC_BROKEN };

enum plan_key { PK_NAME, PK_DESCRIPTION, PK_FIELD, PK_SEED, PK_EXPECT, PK_RETRIES, PK_IMAGE_SIZE,
                PK_IMAGE_FOOTER, PK_BASE_VERSION, PK_TARGET_VERSION, PK_FLASH_WRITE_US,
                PK_INFORM_WITHIN_MS, PK_FAIL_STEP, PK_SLOW, PK_FILE_SIZE, PK_TRANSPORT, PK_TLS,
                PK_TLS_FRAGMENT, PK_TLS_HEAP, PK_DTLS, PK_COUNT };
static const char *const plan_keys[PK_COUNT] = {
    "name", "description", "field", "seed", "expect", "retries", "image_size", "image_footer",
    "base_version", "target_version", "flash_write_us", "inform_within_ms", "fail_step", "slow", "file_size",
    "transport", "tls", "tls_fragment", "tls_heap", "dtls",
};
_Static_assert(PK_COUNT <= PLAN_KEYS_MAX, "plan_line has no room for every [plan] key");

/* State of one plan_load. */
struct plan_loader {
    struct fault_plan *p;
    FILE  *f;
    int    line;          /* lines read so far: the line inih is parsing */
    int    err_line;      /* line of the first problem; 0 if none */
    char   msg[512];      /* its text, without "FILE:LINE: " */
    int    sec;           /* enum plan_sec of the current line */
    int    rule;          /* index in p->http when sec is SEC_HTTP */
    int    plan_sec_line; /* line of [plan]; 0 if absent */
    int    mqtt_sec_line;
    int    proxy_sec_line[3];
    int    coap_sec_line;
};

__attribute__((format(printf, 3, 4)))
static int plan_fail(struct plan_loader *L, int line, const char *fmt, ...)
{
    va_list ap;

    if (L->err_line)
        return -1;
    L->err_line = line > 0 ? line : 1;
    va_start(ap, fmt);
    vsnprintf(L->msg, sizeof L->msg, fmt, ap);
    va_end(ap);
    return -1;
}

static char *plan_trim(char *s)
{
    char *e;

    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

const char *plan_expect_name(int expect)
{
    return expect == PLAN_EXPECT_FAIL_CLEAN ? "fail-clean" : "pass";
}

/* ---- sections ---- */

/* Kind of a section name; *nth set for "http:N". SEC_NONE when unknown
 * (why says so). */
static int plan_sec_kind(const char *name, unsigned *nth, char *why, size_t whylen)
{
    *nth = 0;
    if (strcmp(name, "plan") == 0)
        return SEC_PLAN;
    if (strcmp(name, "http") == 0)
        return SEC_HTTP;
    if (strcmp(name, "mqtt") == 0)
        return SEC_MQTT;
    if (strcmp(name, "proxy.mqtt") == 0)
        return SEC_PROXY_MQTT;
    if (strcmp(name, "proxy.http") == 0)
        return SEC_PROXY_HTTP;
    if (strcmp(name, "coap") == 0)
        return SEC_COAP;
    if (strcmp(name, "proxy.coap") == 0)
        return SEC_PROXY_COAP;
    if (strncmp(name, "http:", 5) == 0) {
        const char *d = name + 5;
        unsigned long v;
        char *end;

        errno = 0;
        v = *d >= '0' && *d <= '9' ? strtoul(d, &end, 10) : 0;
        if (*d < '0' || *d > '9' || errno || *end || v < 1 || v > 1000000) {
            snprintf(why, whylen, "N in [http:N] must be a firmware GET number 1..1000000");
            return SEC_NONE;
        }
        *nth = (unsigned)v;
        return SEC_HTTP;
    }
    snprintf(why, whylen, "unknown section (expected plan, http, http:N, mqtt, coap, proxy.mqtt, "
             "proxy.http or proxy.coap)");
    return SEC_NONE;
}

/* The rule for [http] (nth 0) or [http:N]: the existing one, or a new one
 * when create. -1 when there is none and none can be made. */
static int plan_rule(struct fault_plan *p, unsigned nth, int create)
{
    for (int i = 0; i < p->nhttp; i++)
        if (p->http[i].nth == nth)
            return i;
    if (!create || p->nhttp >= CF_HTTP_RULES_MAX)
        return -1;
    struct cloud_http_rule *r = &p->http[p->nhttp];
    memset(r, 0, sizeof *r);
    r->nth = nth;
    if (nth)
        snprintf(r->label, sizeof r->label, "http:%u", nth);
    else
        snprintf(r->label, sizeof r->label, "http");
    return p->nhttp++;
}

/* A "[...]" line, seen by the reader before inih parses it. */
static void plan_section_begin(struct plan_loader *L, const char *line)
{
    struct fault_plan *p = L->p;
    char name[PLAN_LINE_MAX], why[160], *s;
    const char *end;
    unsigned nth;
    int kind, *first = NULL;

    for (end = line + 1; *end && *end != ']'; end++)
        if (*end == ';' && isspace((unsigned char)end[-1]))
            break;
    if (*end != ']') {
        L->sec = SEC_BROKEN; /* inih reports the bad header line itself */
        return;
    }
    snprintf(name, sizeof name, "%.*s", (int)(end - line - 1), line + 1);
    s = plan_trim(name);
    kind = plan_sec_kind(s, &nth, why, sizeof why);
    if (kind == SEC_NONE) {
        plan_fail(L, L->line, "section [%s]: %s", s, why);
        return;
    }
    switch (kind) {
    case SEC_PLAN:       first = &L->plan_sec_line; break;
    case SEC_MQTT:       first = &L->mqtt_sec_line; break;
    case SEC_PROXY_MQTT: first = &L->proxy_sec_line[0]; break;
    case SEC_PROXY_HTTP: first = &L->proxy_sec_line[1]; break;
    case SEC_PROXY_COAP: first = &L->proxy_sec_line[2]; break;
    case SEC_COAP:       first = &L->coap_sec_line; break;
    case SEC_HTTP: {
        int i = plan_rule(p, nth, 0);
        if (i >= 0) {
            plan_fail(L, L->line, "section [%s]: given twice (first at line %d)", s,
                      p->http_sec_line[i]);
            return;
        }
        i = plan_rule(p, nth, 1);
        if (i < 0) {
            plan_fail(L, L->line, "section [%s]: more than %d [http] sections", s,
                      CF_HTTP_RULES_MAX);
            return;
        }
        p->http_sec_line[i] = L->line;
        L->rule = i;
        break;
    }
    }
    if (first) {
        if (*first) {
            plan_fail(L, L->line, "section [%s]: given twice (first at line %d)", s, *first);
            return;
        }
        *first = L->line;
    }
    L->sec = kind;
}

/* ---- keys ---- */

/* Appends value to a text key given on several lines (joined by a space). */
static int plan_append(char *dst, size_t n, const char *value, char *why, size_t whylen)
{
    size_t have = strlen(dst), add = strlen(value);

    if (have + (have ? 1 : 0) + add >= n) {
        snprintf(why, whylen, "text too long (at most %zu characters in all)", n - 1);
        return -1;
    }
    if (have)
        dst[have++] = ' ';
    memcpy(dst + have, value, add + 1);
    return 0;
}

/* One [plan] key. The key index (>= 0), or -1 with why. */
static int plan_plan_key(struct fault_plan *p, const char *key, const char *value, char *why,
                         size_t whylen)
{
    unsigned long long u;
    char *end;
    int k;

    for (k = 0; k < PK_COUNT; k++)
        if (strcmp(key, plan_keys[k]) == 0)
            break;
    switch (k) {
    case PK_NAME:
        if (!value[0] || strlen(value) >= sizeof p->name) {
            snprintf(why, whylen, "expected a name of 1..%d characters", PLAN_NAME_MAX - 1);
            return -1;
        }
        for (const char *c = value; *c; c++)
            if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' && *c != '.') {
                snprintf(why, whylen, "expected letters, digits, '-', '_' or '.', got '%s'", value);
                return -1;
            }
        snprintf(p->name, sizeof p->name, "%s", value);
        return k;
    case PK_DESCRIPTION:
    case PK_FIELD:
        if (!value[0]) {
            snprintf(why, whylen, "empty text");
            return -1;
        }
        return plan_append(k == PK_FIELD ? p->field : p->description, PLAN_TEXT_MAX, value, why,
                           whylen) == 0 ? k : -1;
    case PK_SEED:
        errno = 0;
        u = value[0] >= '0' && value[0] <= '9' ? strtoull(value, &end, 0) : 0;
        if (value[0] < '0' || value[0] > '9' || errno || *end) {
            snprintf(why, whylen, "expected an unsigned 64-bit number, got '%s'", value);
            return -1;
        }
        p->seed = u;
        p->has_seed = 1;
        return k;
    case PK_EXPECT:
        if (strcmp(value, "pass") == 0)
            p->expect = PLAN_EXPECT_PASS;
        else if (strcmp(value, "fail-clean") == 0)
            p->expect = PLAN_EXPECT_FAIL_CLEAN;
        else {
            snprintf(why, whylen, "expected pass or fail-clean, got '%s'", value);
            return -1;
        }
        return k;
    case PK_RETRIES:
        errno = 0;
        u = value[0] >= '0' && value[0] <= '9' ? strtoull(value, &end, 10) : 0;
        if (value[0] < '0' || value[0] > '9' || errno || *end || u > CLOUD_MAX_RETRIES) {
            snprintf(why, whylen, "expected 0..%d, got '%s'", CLOUD_MAX_RETRIES, value);
            return -1;
        }
        p->retries = (int)u;
        p->has_retries = 1;
        return k;
    case PK_IMAGE_SIZE:
        errno = 0;
        u = value[0] >= '0' && value[0] <= '9' ? strtoull(value, &end, 10) : 0;
        if (value[0] >= '0' && value[0] <= '9' && !errno) {
            if (!strcmp(end, "K") || !strcmp(end, "KiB"))
                u *= 1024, end += strlen(end);
            else if (!strcmp(end, "M") || !strcmp(end, "MiB"))
                u *= 1024 * 1024, end += strlen(end);
        }
        if (value[0] < '0' || value[0] > '9' || errno || *end || u < 1 || u > 64ull * 1024 * 1024) {
            snprintf(why, whylen, "expected a payload size of 1 byte .. 64 MiB (N, NK, NM), got '%s'",
                     value);
            return -1;
        }
        p->image_size = (uint32_t)u;
        return k;
    case PK_BASE_VERSION:
    case PK_TARGET_VERSION: {
        char *dst = k == PK_BASE_VERSION ? p->base_version : p->target_version;
        const char *c = value;

        while (*c > ' ' && *c < 0x7f)
            c++;
        if (!value[0] || *c || strlen(value) >= PLAN_VERSION_MAX) {
            snprintf(why, whylen, "expected a version of 1..%d printable characters without "
                     "blanks, got '%s'", PLAN_VERSION_MAX - 1, value);
            return -1;
        }
        snprintf(dst, PLAN_VERSION_MAX, "%s", value);
        return k;
    }
    case PK_FLASH_WRITE_US:
    case PK_INFORM_WITHIN_MS: {
        unsigned long long max = k == PK_FLASH_WRITE_US ? PLAN_FLASH_US_MAX : PLAN_INFORM_MS_MAX;

        errno = 0;
        u = value[0] >= '0' && value[0] <= '9' ? strtoull(value, &end, 10) : 0;
        if (value[0] < '0' || value[0] > '9' || errno || *end || u > max ||
            (k == PK_INFORM_WITHIN_MS && u < 1)) {
            if (k == PK_FLASH_WRITE_US)
                snprintf(why, whylen, "expected microseconds added to each flash program or "
                         "erase, 0..%d, got '%s'", PLAN_FLASH_US_MAX, value);
            else
                snprintf(why, whylen, "expected a deadline in ms after set_boot FINISH, 1..%d, "
                         "got '%s'", PLAN_INFORM_MS_MAX, value);
            return -1;
        }
        if (k == PK_FLASH_WRITE_US)
            p->flash_write_us = (uint32_t)u;
        else
            p->inform_within_ms = (uint32_t)u;
        return k;
    }
    case PK_FAIL_STEP: {
        int step;
        if (strlen(value) >= sizeof p->fail_step ||
            check_parse_fail_step(value, NULL, &step, why, whylen) != 0) {
            if (strlen(value) >= sizeof p->fail_step)
                snprintf(why, whylen, "longer than %zu characters", sizeof p->fail_step - 1);
            return -1;
        }
        snprintf(p->fail_step, sizeof p->fail_step, "%s", value);
        return k;
    }
    case PK_FILE_SIZE: {
        long d = 0;
        char *e2 = NULL;
        if (strncmp(value, "partition", 9) == 0) {
            const char *r = value + 9;
            d = *r ? strtol(r, &e2, 10) : 0;
            if (!*r || ((*r == '+' || *r == '-') && e2 != r + 1 && !*e2 && d >= -65536 &&
                        d <= 65536)) {
                p->file_size_delta = (int32_t)d;
                p->has_file_size = 1;
                return k;
            }
        }
        snprintf(why, whylen, "expected partition, partition+N or partition-N (N up to 65536: "
                 "the served file's size against the board's download partition), got '%s'",
                 value);
        return -1;
    }
    case PK_TRANSPORT: {
        /* SIGNAL+DOWNLOAD; "http", "https" and "mqtts" are short for mqtt+http,
         * mqtt+https and mqtts+http. */
        static const struct { const char *name; int mqtts, https, coap, coap_dl; } tr[] = {
            { "http", 0, 0, 0, 0 },        { "https", 0, 1, 0, 0 },
            { "mqtts", 1, 0, 0, 0 },       { "mqtt+http", 0, 0, 0, 0 },
            { "mqtt+https", 0, 1, 0, 0 },  { "mqtts+http", 1, 0, 0, 0 },
            { "mqtts+https", 1, 1, 0, 0 }, { "coap+http", 0, 0, 1, 0 },
            { "coap+https", 0, 1, 1, 0 },  { "coap+coap", 0, 0, 1, 1 },
            { "coaps+http", 0, 0, 2, 0 },  { "coaps+https", 0, 1, 2, 0 },
            { "coaps+coaps", 0, 0, 2, 1 }, /* coaps: DTLS (key dtls: certificate or psk) */
        };
        for (size_t i = 0; i < sizeof tr / sizeof tr[0]; i++)
            if (!strcmp(value, tr[i].name)) {
                p->mqtts = tr[i].mqtts;
                p->https = tr[i].https;
                p->coap = tr[i].coap;
                p->coap_dl = tr[i].coap_dl;
                return k;
            }
        snprintf(why, whylen, "expected mqtt+http, mqtt+https, mqtts+http, mqtts+https, coap+http, "
                 "coap+https, coap+coap, coaps+http, coaps+https or coaps+coaps (http, https, mqtts: "
                 "the same over MQTT), got '%s'", value);
        return -1;
    }
    case PK_TLS: {
        int c = testca_cert_parse(value);
        if (c < 0) {
            snprintf(why, whylen, "expected good, untrusted-ca, expired or wrong-host, got '%s'",
                     value);
            return -1;
        }
        p->tls_cert = c;
        return k;
    }
    case PK_DTLS:
        if (strcmp(value, "certificate") && strcmp(value, "psk")) {
            snprintf(why, whylen, "expected certificate or psk, got '%s'", value);
            return -1;
        }
        p->dtls_psk = value[0] == 'p';
        return k;
    case PK_TLS_FRAGMENT:
        errno = 0;
        u = value[0] >= '0' && value[0] <= '9' ? strtoull(value, &end, 10) : 1;
        if (value[0] < '0' || value[0] > '9' || errno || *end ||
            (u != 0 && u != 512 && u != 1024 && u != 2048 && u != 4096)) {
            snprintf(why, whylen, "expected 512, 1024, 2048, 4096 (bytes per TLS record the "
                     "device asks for) or 0, got '%s'", value);
            return -1;
        }
        p->tls_fragment = (uint32_t)u;
        return k;
    case PK_TLS_HEAP:
        errno = 0;
        u = value[0] >= '0' && value[0] <= '9' ? strtoull(value, &end, 10) : 0;
        if (value[0] >= '0' && value[0] <= '9' && !errno && (!strcmp(end, "K") || !strcmp(end, "KiB")))
            u *= 1024, end += strlen(end);
        if (value[0] < '0' || value[0] > '9' || errno || *end || u > PLAN_TLS_HEAP_MAX) {
            snprintf(why, whylen, "expected the device's TLS heap in bytes (N or NK), 0..%u, got "
                     "'%s'", PLAN_TLS_HEAP_MAX, value);
            return -1;
        }
        p->tls_heap = (uint32_t)u;
        return k;
    case PK_SLOW:
        if (!strcmp(value, "true") || !strcmp(value, "false")) {
            p->slow = value[0] == 't';
            return k;
        }
        snprintf(why, whylen, "expected true or false, got '%s'", value);
        return -1;
    case PK_IMAGE_FOOTER:
        if (!strcmp(value, "true"))
            p->image_no_footer = 0;
        else if (!strcmp(value, "false"))
            p->image_no_footer = 1;
        else {
            snprintf(why, whylen, "expected true or false, got '%s'", value);
            return -1;
        }
        return k;
    }
    snprintf(why, whylen, "unknown key (expected one of: name, description, field, seed, expect, "
             "retries, image_size, image_footer, base_version, target_version, flash_write_us, "
             "inform_within_ms, fail_step, slow, file_size, transport, tls, tls_fragment, tls_heap, "
             "dtls)");
    return -1;
}

/* One proxy fault line: checked by the proxy's own parser, kept as text. */
static int plan_proxy_add(struct fault_plan *p, int sec, const char *key, const char *value,
                          char *why, size_t whylen)
{
    char ***list = sec == SEC_PROXY_MQTT ? &p->proxy_mqtt : sec == SEC_PROXY_COAP ? &p->proxy_coap
                                                                                 : &p->proxy_http;
    int *n = sec == SEC_PROXY_MQTT ? &p->nproxy_mqtt : sec == SEC_PROXY_COAP ? &p->nproxy_coap
                                                                            : &p->nproxy_http;
    char **t;

    if (strcmp(key, "fault") != 0) {
        snprintf(why, whylen, "unknown key (expected fault = SPEC, one per line)");
        return -1;
    }
    if (!value[0] || strlen(value) >= PLAN_SPEC_MAX) {
        snprintf(why, whylen, "expected a fault spec of 1..%d characters", PLAN_SPEC_MAX - 1);
        return -1;
    }
    if (*n >= PLAN_PROXY_MAX) {
        snprintf(why, whylen, "more than %d faults in one proxy section", PLAN_PROXY_MAX);
        return -1;
    }
    {
        struct proxy_fault f;
        int dir;
        char e[256];
        if (proxy_fault_parse(value, &f, &dir, e, sizeof e) != 0 ||
            proxy_fault_check(&f, sec == SEC_PROXY_COAP ? PROXY_UDP : PROXY_TCP, e, sizeof e) != 0) {
            snprintf(why, whylen, "%s", e);
            return -1;
        }
    }
    t = realloc(*list, (size_t)(*n + 1) * sizeof *t);
    if (!t) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    *list = t;
    if (!(t[*n] = strdup(value))) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    (*n)++;
    return 0;
}

/* One key of a section of kind sec (rule: the [http] rule index). line 0:
 * from an option, where a key given again replaces the value. The key's
 * index (>= 0), or -1 with why; a repeated key sets *dup_line. */
static int plan_key(struct fault_plan *p, int sec, int rule, const char *key, const char *value,
                    int line, int *dup_line, char *why, size_t whylen)
{
    int k;

    *dup_line = 0;
    switch (sec) {
    case SEC_PLAN:
        for (k = 0; k < PK_COUNT; k++)
            if (strcmp(key, plan_keys[k]) == 0 && k != PK_DESCRIPTION && k != PK_FIELD &&
                p->plan_line[k] && line) {
                *dup_line = p->plan_line[k];
                return -1;
            }
        k = plan_plan_key(p, key, value, why, whylen);
        if (k >= 0 && line)
            p->plan_line[k] = line;
        return k;
    case SEC_HTTP:
        for (k = 0; k < CF_H_COUNT; k++)
            if (strcmp(key, cloudfault_http_key_name(k)) == 0 && p->http_line[rule][k] && line) {
                *dup_line = p->http_line[rule][k];
                return -1;
            }
        k = cloudfault_http_set(&p->http[rule], key, value, why, whylen);
        if (k >= 0)
            p->http_line[rule][k] = line;
        return k;
    case SEC_MQTT:
        for (k = 0; k < CF_M_COUNT; k++)
            if (strcmp(key, cloudfault_mqtt_key_name(k)) == 0 && p->mqtt_line[k] && line) {
                *dup_line = p->mqtt_line[k];
                return -1;
            }
        k = cloudfault_mqtt_set(&p->mqtt, key, value, why, whylen);
        if (k >= 0)
            p->mqtt_line[k] = line;
        return k;
    case SEC_COAP:
        for (k = 0; k < CF_C_COUNT; k++)
            if (strcmp(key, cloudfault_coap_key_name(k)) == 0 && p->coap_line[k] && line) {
                *dup_line = p->coap_line[k];
                return -1;
            }
        k = cloudfault_coap_set(&p->coapf, key, value, why, whylen);
        if (k >= 0)
            p->coap_line[k] = line;
        return k;
    case SEC_PROXY_MQTT:
    case SEC_PROXY_HTTP:
    case SEC_PROXY_COAP:
        return plan_proxy_add(p, sec, key, value, why, whylen);
    }
    snprintf(why, whylen, "outside a section");
    return -1;
}

/* inih's callback for each key: nonzero to go on. */
static int plan_handler(void *user, const char *section, const char *name, const char *value)
{
    struct plan_loader *L = user;
    char why[512];
    int dup = 0;

    (void)section; /* the reader tracks sections, empty ones included */
    if (L->err_line)
        return 0;
    if (L->sec == SEC_BROKEN)
        return 0; /* inih reports the bad header line */
    if (L->sec == SEC_NONE) {
        plan_fail(L, L->line, "key '%s': outside a section (start with [plan])", name);
        return 0;
    }
    if (plan_key(L->p, L->sec, L->rule, name, value, L->line, &dup, why, sizeof why) < 0) {
        if (dup)
            plan_fail(L, L->line, "key '%s': given twice in this section (first at line %d)", name,
                      dup);
        else
            plan_fail(L, L->line, "key '%s': %s", name, why);
        return 0;
    }
    return 1;
}

/* inih's fgets: one physical line per call, counted, left-trimmed. */
static char *plan_reader(char *str, int num, void *stream)
{
    struct plan_loader *L = stream;
    char buf[PLAN_LINE_MAX], *p;
    size_t n;
    int c;

    if (L->err_line || fgets(buf, sizeof buf, L->f) == NULL)
        return NULL;
    L->line++;
    n = strlen(buf);
    if (n == sizeof buf - 1 && buf[n - 1] != '\n' && !feof(L->f)) {
        while ((c = fgetc(L->f)) != EOF && c != '\n')
            ;
        plan_fail(L, L->line, "line too long (at most %d characters; give description and "
                  "field on several lines)", num - 2);
        return NULL;
    }
    p = buf;
    if (L->line == 1 && strncmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    while (*p == ' ' || *p == '\t' || *p == '\v' || *p == '\f')
        p++;
    n = strlen(p);
    if (num < 3 || n + 1 > (size_t)num || (n + 2 > (size_t)num && p[n - 1] != '\n')) {
        plan_fail(L, L->line, "line too long (at most %d characters; give description and "
                  "field on several lines)", num - 2);
        return NULL;
    }
    if (*p == '[') {
        plan_section_begin(L, p);
        if (L->err_line)
            return NULL;
    }
    memcpy(str, p, n + 1);
    return str;
}

/* The TLS keys need a TLS transport. 0, or -1 with the key (PK_*) and why. */
static int plan_tls_check(const struct fault_plan *p, int *key, char *why, size_t whylen)
{
    if (p->dtls_psk && (p->coap != 2 || p->https || p->mqtts)) {
        *key = PK_DTLS;
        snprintf(why, whylen, p->coap != 2 ? "needs transport = coaps+http or coaps+coaps"
                 : "coaps+https gives the device the test CA, so DTLS uses certificates");
        return -1;
    }
    if (p->tls_cert != TESTCA_GOOD && !p->https && (p->coap != 2 || p->dtls_psk)) {
        *key = PK_TLS;
        snprintf(why, whylen, "the server's certificate matters only with transport = https, "
                 "mqtts+https or coaps+... (dtls = certificate)");
        return -1;
    }
    if ((p->tls_fragment || p->tls_heap) && !p->https && !p->mqtts) {
        *key = p->tls_fragment ? PK_TLS_FRAGMENT : PK_TLS_HEAP;
        snprintf(why, whylen, "needs a TLS transport (https, mqtts or mqtts+https)");
        return -1;
    }
    return 0;
}

const char *plan_transport_name(const struct fault_plan *p)
{
    if (p->coap == 2)
        return p->coap_dl ? "coaps+coaps" : p->https ? "coaps+https" : "coaps+http";
    if (p->coap)
        return p->coap_dl ? "coap+coap" : p->https ? "coap+https" : "coap+http";
    return p->https ? (p->mqtts ? "mqtts+https" : "https") : p->mqtts ? "mqtts" : "http";
}

/* Checks that span a section. 0, or -1 with the problem recorded. */
static int plan_finish(struct plan_loader *L)
{
    struct fault_plan *p = L->p;
    char why[256];
    int key = 0;

    for (int i = 0; i < p->nhttp; i++)
        if (cloudfault_http_check(&p->http[i], &key, why, sizeof why) != 0)
            return plan_fail(L, p->http_line[i][key] ? p->http_line[i][key] : p->http_sec_line[i],
                             "key '%s': %s", cloudfault_http_key_name(key), why);
    if (plan_tls_check(p, &key, why, sizeof why) != 0)
        return plan_fail(L, p->plan_line[key], "key '%s': %s", plan_keys[key], why);
    if (cloudfault_coap_check(&p->coapf, &key, why, sizeof why) != 0)
        return plan_fail(L, p->coap_line[key] ? p->coap_line[key] : L->coap_sec_line,
                         "key '%s': %s", cloudfault_coap_key_name(key), why);
    return 0;
}

/* The default name: the file's basename without ".plan". */
static void plan_default_name(struct fault_plan *p, const char *path)
{
    const char *b = strrchr(path, '/');
    size_t len;

    b = b ? b + 1 : path;
    len = strlen(b);
    if (len > 5 && strcmp(b + len - 5, ".plan") == 0)
        len -= 5;
    if (len >= sizeof p->name)
        len = sizeof p->name - 1;
    memcpy(p->name, b, len);
    p->name[len] = '\0';
}

int plan_load(const char *path, struct fault_plan *p, char *err, size_t n)
{
    struct plan_loader L;
    int rc;

    memset(p, 0, sizeof *p);
    if (n > 0)
        err[0] = '\0';
    if (!path || strlen(path) >= sizeof p->file) {
        snprintf(err, n, "%.64s: plan path missing or too long", path ? path : "(null)");
        return -1;
    }
    snprintf(p->file, sizeof p->file, "%s", path);
    memset(&L, 0, sizeof L);
    L.p = p;
    if ((L.f = fopen(path, "r")) == NULL) {
        snprintf(err, n, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    rc = ini_parse_stream(plan_reader, &L, plan_handler, &L);
    if (ferror(L.f) && !L.err_line)
        plan_fail(&L, L.line + 1, "read error");
    fclose(L.f);
    if (rc > 0 && (!L.err_line || rc < L.err_line)) {
        L.err_line = 0;
        plan_fail(&L, rc, "syntax error: expected [section], key = value or a ; comment");
    } else if (rc < 0 && !L.err_line) {
        plan_fail(&L, L.line, "cannot parse (inih error %d)", rc);
    }
    if (!L.err_line)
        plan_finish(&L);
    if (L.err_line) {
        snprintf(err, n, "%s:%d: %s", path, L.err_line, L.msg);
        return -1;
    }
    if (!p->name[0])
        plan_default_name(p, path);
    return 0;
}

int plan_add_cli(struct fault_plan *p, const char *section, const char *key_eq_value, char *err,
                 size_t n)
{
    char buf[PLAN_LINE_MAX], why[512], *eq, *key, *value;
    unsigned nth = 0;
    int sec, rule = 0, dup = 0, k;

    if (!section || !key_eq_value) {
        snprintf(err, n, "no setting given");
        return -1;
    }
    sec = plan_sec_kind(section, &nth, why, sizeof why);
    if (sec == SEC_NONE) {
        snprintf(err, n, "section [%s]: %s", section, why);
        return -1;
    }
    if ((size_t)snprintf(buf, sizeof buf, "%s", key_eq_value) >= sizeof buf) {
        snprintf(err, n, "setting too long (at most %d characters)", PLAN_LINE_MAX - 1);
        return -1;
    }
    eq = strchr(buf, '=');
    if (!eq) {
        snprintf(err, n, "expected KEY=VALUE, got '%s'", key_eq_value);
        return -1;
    }
    *eq = '\0';
    key = plan_trim(buf);
    value = plan_trim(eq + 1);
    if (sec == SEC_HTTP) {
        rule = plan_rule(p, nth, 1);
        if (rule < 0) {
            snprintf(err, n, "section [%s]: more than %d [http] sections", section,
                     CF_HTTP_RULES_MAX);
            return -1;
        }
    }
    k = plan_key(p, sec, rule, key, value, 0, &dup, why, sizeof why);
    if (k < 0) {
        snprintf(err, n, "key '%s': %s", key, why);
        return -1;
    }
    return 0;
}

int plan_check(const struct fault_plan *p, char *err, size_t n)
{
    char why[256];
    int key = 0;

    if (plan_tls_check(p, &key, why, sizeof why) != 0) {
        snprintf(err, n, "key '%s': %s", plan_keys[key], why);
        return -1;
    }

    for (int i = 0; i < p->nhttp; i++)
        if (cloudfault_http_check(&p->http[i], &key, why, sizeof why) != 0) {
            snprintf(err, n, "section [%s]: key '%s': %s", p->http[i].label,
                     cloudfault_http_key_name(key), why);
            return -1;
        }
    if (cloudfault_coap_check(&p->coapf, &key, why, sizeof why) != 0) {
        snprintf(err, n, "section [coap]: key '%s': %s", cloudfault_coap_key_name(key), why);
        return -1;
    }
    return 0;
}

int plan_add_http_option(struct fault_plan *p, const char *value, char *err, size_t n)
{
    char section[32];
    const char *colon = strchr(value, ':'), *eq = strchr(value, '=');

    if (colon && (!eq || colon < eq)) {
        if ((size_t)(colon - value) > 10) {
            snprintf(err, n, "expected KEY=VALUE or N:KEY=VALUE, got '%s'", value);
            return -1;
        }
        snprintf(section, sizeof section, "http:%.*s", (int)(colon - value), value);
        return plan_add_cli(p, section, colon + 1, err, n);
    }
    return plan_add_cli(p, "http", value, err, n);
}

/* ---- summary, event, install ---- */

char *plan_summary(const struct fault_plan *p, char *buf, size_t n)
{
    char d[1024];
    size_t len = 0;

#define PLAN_PUT(...)                                                                    \
    do {                                                                                 \
        if (len < n) {                                                                   \
            int k_ = snprintf(buf + len, n - len, __VA_ARGS__);                          \
            len = k_ < 0 ? n : len + (size_t)k_;                                         \
        }                                                                                \
    } while (0)
    if (n == 0)
        return buf;
    buf[0] = '\0';
    for (int i = 0; i < p->nhttp; i++) {
        cloudfault_http_describe(&p->http[i], d, sizeof d);
        if (d[0])
            PLAN_PUT("%s%s %s", len ? "; " : "", p->http[i].label, d);
    }
    if (p->mqtt.set)
        PLAN_PUT("%smqtt %s", len ? "; " : "", cloudfault_mqtt_describe(&p->mqtt, d, sizeof d));
    if (p->nproxy_mqtt)
        PLAN_PUT("%sproxy.mqtt %d fault%s", len ? "; " : "", p->nproxy_mqtt,
                 p->nproxy_mqtt == 1 ? "" : "s");
    if (p->nproxy_http)
        PLAN_PUT("%sproxy.http %d fault%s", len ? "; " : "", p->nproxy_http,
                 p->nproxy_http == 1 ? "" : "s");
    if (p->coapf.set)
        PLAN_PUT("%scoap %s", len ? "; " : "", cloudfault_coap_describe(&p->coapf, d, sizeof d));
    if (p->nproxy_coap)
        PLAN_PUT("%sproxy.coap %d fault%s", len ? "; " : "", p->nproxy_coap,
                 p->nproxy_coap == 1 ? "" : "s");
    if (p->image_size)
        PLAN_PUT("%simage_size=%u", len ? "; " : "", p->image_size);
    if (p->image_no_footer)
        PLAN_PUT("%simage_footer=false", len ? "; " : "");
    if (p->base_version[0])
        PLAN_PUT("%sbase_version=%s", len ? "; " : "", p->base_version);
    if (p->target_version[0])
        PLAN_PUT("%starget_version=%s", len ? "; " : "", p->target_version);
    if (p->flash_write_us)
        PLAN_PUT("%sflash_write_us=%u", len ? "; " : "", p->flash_write_us);
    if (p->inform_within_ms)
        PLAN_PUT("%sinform_within_ms=%u", len ? "; " : "", p->inform_within_ms);
    if (p->has_file_size)
        PLAN_PUT("%sfile_size=partition%+d", len ? "; " : "", (int)p->file_size_delta);
    if (p->https || p->mqtts || p->coap)
        PLAN_PUT("%stransport=%s", len ? "; " : "", plan_transport_name(p));
    if (p->https || (p->coap == 2 && !p->dtls_psk))
        PLAN_PUT("%stls=%s", len ? "; " : "", testca_cert_name(p->tls_cert));
    if (p->coap == 2)
        PLAN_PUT("%sdtls=%s", len ? "; " : "", p->dtls_psk ? "psk" : "certificate");
    if (p->tls_fragment)
        PLAN_PUT("%stls_fragment=%u", len ? "; " : "", p->tls_fragment);
    if (p->tls_heap)
        PLAN_PUT("%stls_heap=%u", len ? "; " : "", p->tls_heap);
    if (p->fail_step[0])
        PLAN_PUT("%sfail_step=%s", len ? "; " : "", p->fail_step);
    if (!len)
        PLAN_PUT("no faults");
#undef PLAN_PUT
    if (len >= n)
        buf[n - 1] = '\0';
    return buf;
}

/* A JSON array of the escaped strings v[0..nv) (heap). NULL when out of
 * memory. */
static char *plan_json_array(char *const *v, int nv)
{
    size_t cap = 3, len = 0;
    char *o;

    for (int i = 0; i < nv; i++)
        cap += strlen(v[i]) * 6 + 3;
    if (!(o = malloc(cap)))
        return NULL;
    o[len++] = '[';
    for (int i = 0; i < nv; i++) {
        if (i)
            o[len++] = ',';
        o[len++] = '"';
        otahil_json_escape(o + len, cap - len, v[i]);
        len += strlen(o + len);
        o[len++] = '"';
    }
    o[len++] = ']';
    o[len] = '\0';
    return o;
}

int plan_apply_cloud(const struct fault_plan *p, struct cloud *c, char *err, size_t n)
{
    char e[512];

    if (!p || !c) {
        snprintf(err, n, "no plan or no cloud");
        return -1;
    }
    if (cloud_http_set_faults(c, p->http, p->nhttp, 0, e, sizeof e) != 0) {
        snprintf(err, n, "plan %s: %s", p->name, e);
        return -1;
    }
    cloud_set_mqtt_faults(c, p->mqtt.set ? &p->mqtt : NULL);
    cloud_set_coap_faults(c, p->coapf.set ? &p->coapf : NULL);
    /* coaps with certificates: the coaps port presents the plan's test
     * certificate and the device is handed the CA (cloud_ca_path). */
    if (p->coap == 2 && !p->dtls_psk && cloud_coaps_pki(c, p->tls_cert, e, sizeof e) != 0) {
        snprintf(err, n, "plan %s: %s", p->name, e);
        return -1;
    }
    return plan_log(p, err, n);
}

int plan_log(const struct fault_plan *p, char *err, size_t n)
{
    char summary[2048], esum[sizeof summary * 2], ename[PLAN_NAME_MAX * 6];
    char efile[PLAN_FILE_MAX * 6], edesc[PLAN_TEXT_MAX * 6], efield[PLAN_TEXT_MAX * 6];
    char mq[1024], emq[sizeof mq * 6], seed[32], d[1024];
    char *http[CF_HTTP_RULES_MAX], *ah = NULL, *am = NULL, *ap = NULL;
    int nh = 0, rc = -1;

    if (!p) {
        snprintf(err, n, "no plan");
        return -1;
    }
    for (int i = 0; i < p->nhttp; i++) {
        size_t l;
        cloudfault_http_describe(&p->http[i], d, sizeof d);
        l = strlen(p->http[i].label) + strlen(d) + 2;
        if (!(http[nh] = malloc(l)))
            goto out;
        snprintf(http[nh++], l, "%s %s", p->http[i].label, d);
    }
    ah = plan_json_array(http, nh);
    am = plan_json_array(p->proxy_mqtt, p->nproxy_mqtt);
    ap = plan_json_array(p->proxy_http, p->nproxy_http);
    if (!ah || !am || !ap)
        goto out;
    cloudfault_mqtt_describe(&p->mqtt, mq, sizeof mq);
    if (p->has_seed)
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)p->seed);
    else
        snprintf(seed, sizeof seed, "null");
    plan_summary(p, summary, sizeof summary);
    evlog_emit("plan", "plan.loaded",
               "\"name\":\"%s\",\"file\":\"%s\",\"expect\":\"%s\",\"seed\":%s,"
               "\"description\":\"%s\",\"field\":\"%s\",\"http\":%s,\"mqtt\":\"%s\","
               "\"proxy_mqtt\":%s,\"proxy_http\":%s,\"summary\":\"%s\"",
               otahil_json_escape(ename, sizeof ename, p->name),
               otahil_json_escape(efile, sizeof efile, p->file), plan_expect_name(p->expect), seed,
               otahil_json_escape(edesc, sizeof edesc, p->description),
               otahil_json_escape(efield, sizeof efield, p->field), ah,
               otahil_json_escape(emq, sizeof emq, mq), am, ap,
               otahil_json_escape(esum, sizeof esum, summary));
    rc = 0;
out:
    if (rc != 0)
        snprintf(err, n, "plan %s: out of memory", p->name);
    for (int i = 0; i < nh; i++)
        free(http[i]);
    free(ah);
    free(am);
    free(ap);
    return rc;
}

void plan_free(struct fault_plan *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->nproxy_mqtt; i++)
        free(p->proxy_mqtt[i]);
    for (int i = 0; i < p->nproxy_http; i++)
        free(p->proxy_http[i]);
    for (int i = 0; i < p->nproxy_coap; i++)
        free(p->proxy_coap[i]);
    free(p->proxy_mqtt);
    free(p->proxy_http);
    free(p->proxy_coap);
    memset(p, 0, sizeof *p);
}
