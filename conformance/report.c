/*
 * report.c - the certification report (see report.h, docs/report.md):
 * results.json for tools (cJSON, keys in a fixed order), junit.xml for CI
 * systems (one testsuite per case group) and report.html for people: one
 * self-contained page (inline CSS and SVG, no script, nothing fetched) with
 * the summary, a table per group and, for every FAIL and ERROR, the checks,
 * the event timeline (routine runs folded into one row) and a picture of the
 * flash: the partition map, the sectors the case changed and the erases it
 * made, from the flash files before and after the case.
 *
 * Each file is built in memory and written through write_file_atomic, so a
 * report is whole or absent. The inputs (event logs, flash files) are only
 * read: a flash file is read into memory and its state parsed there, never
 * mapped, so a report cannot change the evidence it shows. Every string from
 * an input is escaped; bytes that are not UTF-8 become U+FFFD.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/common.h"
#include "conformance/profile.h"
#include "conformance/report.h"
#include "sim/flash/flashsim.h"

#define S(x) ((x) ? (x) : "")

#define TL_MAX_ROWS  400 /* timeline rows shown per case; the rest is in the log */
#define TL_FOLD_MIN  3   /* a run of at least this many routine events is one row */
#define TL_FIELDS    240 /* characters of an event's fields shown */

/* ---- counts and status ------------------------------------------------ */

struct report_counts report_count(const struct report *r)
{
    struct report_counts c = { 0, 0, 0, 0, 0 };

    if (!r)
        return c;
    for (int i = 0; i < r->ncases; i++) {
        switch (r->cases[i].verdict) {
        case V_PASS: c.pass++; break;
        case V_FAIL: c.fail++; break;
        case V_ERROR: c.error++; break;
        default: c.skip++; break;
        }
        c.total++;
    }
    return c;
}

const char *report_status(const struct report *r, int subset)
{
    struct report_counts c = report_count(r);

    if (c.fail)
        return "not certified";
    if (c.error || subset || (r && (r->subset || r->shard)) || c.pass == 0)
        return "incomplete";
    return "certified";
}

/* ---- small helpers ---------------------------------------------------- */

static void set_err(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t n, const char *fmt, ...)
{
    va_list ap;

    if (!err || !n)
        return;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
}

/* A case's path as the report reads it: absolute as it is, else under dir. */
static void resolve(char *out, size_t n, const char *dir, const char *p)
{
    if (p[0] == '/')
        snprintf(out, n, "%s", p);
    else
        snprintf(out, n, "%s/%s", dir, p);
}

/* An in-memory file the report is built in. */
struct mem {
    FILE  *f;
    char  *buf;
    size_t len;
};

static int mem_open(struct mem *m, const char *path, char *err, size_t n)
{
    m->buf = NULL;
    m->len = 0;
    m->f = open_memstream(&m->buf, &m->len);
    if (!m->f) {
        set_err(err, n, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Closes the memory file and writes it to path (temporary name + rename). */
static int mem_commit(struct mem *m, const char *path, char *err, size_t n)
{
    int rc;

    if (fclose(m->f) != 0) {
        set_err(err, n, "%s: out of memory building the report", path);
        free(m->buf);
        return -1;
    }
    rc = write_file_atomic(path, m->buf, m->len, err, n);
    free(m->buf);
    return rc;
}

static int report_path(char *out, size_t n, const char *dir, const char *name, char *err,
                       size_t errn)
{
    if (!dir || !*dir) {
        set_err(err, errn, "%s: no report folder given", name);
        return -1;
    }
    if ((size_t)snprintf(out, n, "%s/%s", dir, name) >= n) {
        set_err(err, errn, "%s/%s: path too long", dir, name);
        return -1;
    }
    return 0;
}

/* Length of the valid UTF-8 sequence at s, or 0 when s does not start one
 * (a stray continuation byte, an overlong form, a surrogate, beyond U+10FFFF
 * or a sequence cut by the NUL). */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    size_t len;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4;
    else
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0) || (c == 0xF0 && s[1] < 0x90) ||
        (c == 0xF4 && s[1] >= 0x90))
        return 0;
    return len;
}

/* Writes at most max bytes of s (0: all) escaped for XML and HTML text and
 * attribute values: & < > " ' as entities, control characters other than
 * tab, newline and carriage return (not allowed in XML 1.0) and bytes that
 * are not UTF-8 as U+FFFD. A cut string ends with an ellipsis. */
static void escn(FILE *f, const char *str, size_t max)
{
    const unsigned char *s = (const unsigned char *)S(str);
    size_t done = 0;

    while (*s) {
        size_t l = utf8_len(s);

        if (max && done >= max) {
            fputs("\xE2\x80\xA6", f);
            return;
        }
        if (l == 0) {
            fputs("\xEF\xBF\xBD", f);
            s++;
            done++;
            continue;
        }
        if (l > 1) {
            fwrite(s, 1, l, f);
        } else {
            switch (*s) {
            case '&': fputs("&amp;", f); break;
            case '<': fputs("&lt;", f); break;
            case '>': fputs("&gt;", f); break;
            case '"': fputs("&quot;", f); break;
            case '\'': fputs("&#39;", f); break;
            case '\t': case '\n': case '\r': fputc(*s, f); break;
            default:
                if (*s < 0x20 || *s == 0x7F)
                    fputs("\xEF\xBF\xBD", f);
                else
                    fputc(*s, f);
            }
        }
        s += l;
        done += l;
    }
}

static void esc(FILE *f, const char *s)
{
    escn(f, s, 0);
}

/* "0.4 s", "3 min 07 s", "1 h 02 min". */
static const char *fmt_secs(char *buf, size_t n, double s)
{
    if (!(s >= 0))
        s = 0;
    if (s < 60)
        snprintf(buf, n, "%.1f s", s);
    else if (s < 3600)
        snprintf(buf, n, "%ld min %02ld s", (long)s / 60, (long)s % 60);
    else
        snprintf(buf, n, "%ld h %02ld min", (long)s / 3600, (long)s / 60 % 60);
    return buf;
}

/* "4 KiB", "960 KiB", "2 MiB", or bytes. */
static const char *fmt_size(char *buf, size_t n, uint32_t v)
{
    if (v >= (1u << 20) && v % (1u << 20) == 0)
        snprintf(buf, n, "%u MiB", v >> 20);
    else if (v >= 1024 && v % 1024 == 0)
        snprintf(buf, n, "%u KiB", v >> 10);
    else
        snprintf(buf, n, "%u bytes", v);
    return buf;
}

/* Seconds rounded to the millisecond (no libm). */
static double ms3(double s)
{
    if (!(s > 0))
        return 0;
    return (double)(long long)(s * 1000.0 + 0.5) / 1000.0;
}

/* ---- results.json ----------------------------------------------------- */

static void json_str(cJSON *o, const char *key, const char *s)
{
    cJSON_AddStringToObject(o, key, S(s));
}

/* A path that may be absent: a string, or null when "" or NULL. */
static void json_path(cJSON *o, const char *key, const char *s)
{
    if (s && *s)
        cJSON_AddStringToObject(o, key, s);
    else
        cJSON_AddNullToObject(o, key);
}

static cJSON *json_profile(const struct profile *p)
{
    cJSON *o;

    if (!p)
        return cJSON_CreateNull();
    o = cJSON_CreateObject();
    json_str(o, "path", p->path);
    json_str(o, "name", p->name);
    json_str(o, "vendor", p->vendor);
    json_str(o, "generation", p->generation);
    json_str(o, "bootloader", p->bootloader);
    json_str(o, "board", p->board);
    json_str(o, "hashes", p->hashes);
    json_str(o, "transports", p->transports);
    cJSON_AddBoolToObject(o, "resume", p->resume != 0);
    cJSON_AddBoolToObject(o, "rsa", p->rsa != 0);
    cJSON_AddNumberToObject(o, "caps", p->caps);
    return o;
}

static cJSON *json_board(const struct board *b)
{
    cJSON *o, *fl, *parts, *kv;

    if (!b)
        return cJSON_CreateNull();
    o = cJSON_CreateObject();
    json_str(o, "name", b->name);
    json_str(o, "description", b->description);
    json_str(o, "path", b->path);
    json_str(o, "bootloader", b->bootloader);
    json_str(o, "profile", b->profile);
    cJSON_AddNumberToObject(o, "boot_attempts", b->boot_attempts);
    cJSON_AddNumberToObject(o, "flash_base", b->flash_base);
    fl = cJSON_AddObjectToObject(o, "flash");
    cJSON_AddNumberToObject(fl, "size", b->geom.size);
    cJSON_AddNumberToObject(fl, "sector_size", b->geom.sector_size);
    cJSON_AddNumberToObject(fl, "program_unit", b->geom.program_unit);
    cJSON_AddNumberToObject(fl, "erase_value", b->geom.erase_value);
    cJSON_AddBoolToObject(fl, "program_once", b->geom.program_once != 0);
    parts = cJSON_AddArrayToObject(o, "partitions");
    for (int i = 0; i < b->nparts; i++) {
        const struct board_part *p = &b->parts[i];
        cJSON *po = cJSON_CreateObject();

        json_str(po, "name", p->name);
        cJSON_AddNumberToObject(po, "id", p->id);
        json_str(po, "description", p->description);
        cJSON_AddNumberToObject(po, "start", p->start);
        cJSON_AddNumberToObject(po, "length", p->length);
        cJSON_AddNumberToObject(po, "options", p->options);
        cJSON_AddItemToArray(parts, po);
    }
    kv = cJSON_AddArrayToObject(o, "kv");
    for (int k = 0; k < b->nkv; k++)
        cJSON_AddItemToArray(kv, cJSON_CreateString(board_part_name(b->kv_parts[k])));
    return o;
}

static cJSON *json_case(const struct report_case *c)
{
    cJSON *o = cJSON_CreateObject(), *checks;

    json_str(o, "id", c->id);
    json_str(o, "group", c->group);
    json_str(o, "title", c->title);
    json_str(o, "spec", c->spec);
    json_str(o, "transport", c->transport);
    cJSON_AddBoolToObject(o, "matrix", c->matrix);
    json_str(o, "verdict", verdict_name(c->verdict));
    cJSON_AddNumberToObject(o, "seconds", ms3(c->seconds));
    json_str(o, "reason", c->reason);
    checks = cJSON_AddArrayToObject(o, "checks");
    for (int k = 0; k < c->nchecks && k < RUN_CHECKS_MAX; k++) {
        cJSON *ck = cJSON_CreateObject();

        json_str(ck, "id", c->checks[k].id);
        json_str(ck, "verdict", verdict_name(c->checks[k].verdict));
        json_str(ck, "detail", c->checks[k].detail);
        cJSON_AddItemToArray(checks, ck);
    }
    json_path(o, "events", c->events);
    json_path(o, "cloud", c->cloud);
    json_path(o, "events_digest", c->events_digest);
    json_path(o, "repro", c->repro);
    json_path(o, "replay", c->replay);
    json_path(o, "flash_before", c->flash_before);
    json_path(o, "flash_after", c->flash_after);
    return o;
}

int report_write_json(const struct report *r, const char *dir, char *err, size_t n)
{
    char path[4200], seed[32];
    struct report_counts c;
    cJSON *o, *co, *cases;
    char *text;
    int rc;

    if (report_path(path, sizeof(path), dir, "results.json", err, n) != 0)
        return -1;
    if (!r) {
        set_err(err, n, "%s: no report to write", path);
        return -1;
    }
    c = report_count(r);
    o = cJSON_CreateObject();
    json_str(o, "tool", "otahil");
    json_str(o, "version", r->version);
    json_str(o, "port", r->port);
    cJSON_AddItemToObject(o, "profile", json_profile(r->profile));
    cJSON_AddItemToObject(o, "board", json_board(r->board));
    json_str(o, "target", r->target);
    if (r->net)
        json_str(o, "net", r->net);
    if (r->cloud)
        json_str(o, "cloud", r->cloud);
    /* Exact digits: a 64-bit seed does not fit a double. */
    snprintf(seed, sizeof(seed), "%llu", (unsigned long long)r->seed);
    cJSON_AddRawToObject(o, "seed", seed);
    json_path(o, "shard", r->shard);
    cJSON_AddBoolToObject(o, "subset", r->subset != 0);
    json_str(o, "started", r->started);
    cJSON_AddNumberToObject(o, "seconds", ms3(r->seconds));
    co = cJSON_AddObjectToObject(o, "counts");
    cJSON_AddNumberToObject(co, "pass", c.pass);
    cJSON_AddNumberToObject(co, "fail", c.fail);
    cJSON_AddNumberToObject(co, "skip", c.skip);
    cJSON_AddNumberToObject(co, "error", c.error);
    cJSON_AddNumberToObject(co, "total", c.total);
    json_str(o, "status", report_status(r, 0));
    cases = cJSON_AddArrayToObject(o, "cases");
    for (int i = 0; i < r->ncases; i++)
        cJSON_AddItemToArray(cases, json_case(&r->cases[i]));
    text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text) {
        set_err(err, n, "%s: out of memory building the report", path);
        return -1;
    }
    {
        size_t len = strlen(text);
        char *full = malloc(len + 2);

        if (!full) {
            cJSON_free(text);
            set_err(err, n, "%s: out of memory building the report", path);
            return -1;
        }
        memcpy(full, text, len);
        full[len] = '\n';
        full[len + 1] = '\0';
        cJSON_free(text);
        rc = write_file_atomic(path, full, len + 1, err, n);
        free(full);
    }
    return rc;
}

/* ---- groups (junit.xml and report.html) ------------------------------- */

/* The distinct groups in order of first appearance; returns how many.
 * groups must hold r->ncases entries. */
static int list_groups(const struct report *r, const char **groups)
{
    int ng = 0;

    for (int i = 0; i < r->ncases; i++) {
        const char *g = S(r->cases[i].group);
        int k;

        for (k = 0; k < ng; k++)
            if (strcmp(groups[k], g) == 0)
                break;
        if (k == ng)
            groups[ng++] = g;
    }
    return ng;
}

/* The start of junit.xml and report.html: DIR/NAME's path, the report
 * checked, its text opened in memory, and its case groups in order (groups
 * is the caller's to free). 0, or -1 with the reason in err. */
static int report_open(const struct report *r, const char *dir, const char *name, char *path,
                       size_t pathlen, struct mem *m, const char ***groups, int *ng, char *err,
                       size_t n)
{
    if (report_path(path, pathlen, dir, name, err, n) != 0)
        return -1;
    if (!r) {
        set_err(err, n, "%s: no report to write", path);
        return -1;
    }
    *groups = calloc((size_t)(r->ncases > 0 ? r->ncases : 1), sizeof(**groups));
    if (!*groups || mem_open(m, path, err, n) != 0) {
        if (!*groups)
            set_err(err, n, "%s: out of memory building the report", path);
        free(*groups);
        return -1;
    }
    *ng = list_groups(r, *groups);
    return 0;
}

static struct report_counts group_count(const struct report *r, const char *g, double *secs)
{
    struct report_counts c = { 0, 0, 0, 0, 0 };

    *secs = 0;
    for (int i = 0; i < r->ncases; i++) {
        const struct report_case *rc = &r->cases[i];

        if (strcmp(S(rc->group), g) != 0)
            continue;
        switch (rc->verdict) {
        case V_PASS: c.pass++; break;
        case V_FAIL: c.fail++; break;
        case V_ERROR: c.error++; break;
        default: c.skip++; break;
        }
        c.total++;
        *secs += rc->seconds;
    }
    return c;
}

/* ---- junit.xml -------------------------------------------------------- */

static void xml_prop(FILE *f, const char *name, const char *value)
{
    fprintf(f, "      <property name=\"%s\" value=\"", name);
    esc(f, value);
    fputs("\"/>\n", f);
}

/* The body of a <failure> or <error>: the reason, the checks, where the
 * evidence is and how to replay it. */
static void xml_case_body(FILE *f, const struct report_case *c)
{
    esc(f, c->reason);
    fputc('\n', f);
    if (c->nchecks > 0) {
        fputs("\nchecks:\n", f);
        for (int k = 0; k < c->nchecks && k < RUN_CHECKS_MAX; k++) {
            fprintf(f, "  %-5s ", verdict_name(c->checks[k].verdict));
            esc(f, c->checks[k].id);
            fputs(": ", f);
            esc(f, c->checks[k].detail);
            fputc('\n', f);
        }
    }
    if (c->events[0]) {
        fputs("\nevents: ", f);
        esc(f, c->events);
        fputc('\n', f);
    }
    if (c->repro[0]) {
        fputs("repro:  ", f);
        esc(f, c->repro);
        fputc('\n', f);
    }
    if (c->replay[0]) {
        fputs("replay: ", f);
        esc(f, c->replay);
        fputc('\n', f);
    }
}

int report_write_junit(const struct report *r, const char *dir, char *err, size_t n)
{
    char path[4200], seed[32], prof[400];
    struct report_counts c;
    struct mem m;
    const char **groups;
    int ng;

    if (report_open(r, dir, "junit.xml", path, sizeof(path), &m, &groups, &ng, err, n) != 0)
        return -1;
    c = report_count(r);
    snprintf(seed, sizeof(seed), "%llu", (unsigned long long)r->seed);
    if (r->profile)
        snprintf(prof, sizeof(prof), "%s (%s, %s bootloader)", r->profile->name,
                 r->profile->generation, r->profile->bootloader);
    else
        snprintf(prof, sizeof(prof), "none");

    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", m.f);
    fputs("<testsuites name=\"otahil certification: ", m.f);
    esc(m.f, r->port);
    fprintf(m.f, "\" tests=\"%d\" failures=\"%d\" errors=\"%d\" skipped=\"%d\" time=\"%.3f\">\n",
            c.total, c.fail, c.error, c.skip, r->seconds);
    for (int g = 0; g < ng; g++) {
        double secs;
        struct report_counts gc = group_count(r, groups[g], &secs);

        fputs("  <testsuite name=\"", m.f);
        esc(m.f, groups[g]);
        fprintf(m.f, "\" tests=\"%d\" failures=\"%d\" errors=\"%d\" skipped=\"%d\" time=\"%.3f\"",
                gc.total, gc.fail, gc.error, gc.skip, secs);
        if (r->started && *r->started) {
            fputs(" timestamp=\"", m.f);
            esc(m.f, r->started);
            fputc('"', m.f);
        }
        fputs(">\n    <properties>\n", m.f);
        xml_prop(m.f, "board", r->board ? r->board->name : "");
        xml_prop(m.f, "profile", prof);
        if (r->profile)
            xml_prop(m.f, "profile.path", r->profile->path);
        xml_prop(m.f, "seed", seed);
        xml_prop(m.f, "target", r->target);
        if (r->net)
            xml_prop(m.f, "net", r->net);
        if (r->cloud)
            xml_prop(m.f, "cloud", r->cloud);
        xml_prop(m.f, "port", r->port);
        xml_prop(m.f, "version", r->version);
        if (r->shard)
            xml_prop(m.f, "shard", r->shard);
        xml_prop(m.f, "status", report_status(r, 0));
        fputs("    </properties>\n", m.f);
        for (int i = 0; i < r->ncases; i++) {
            const struct report_case *rc = &r->cases[i];

            if (strcmp(S(rc->group), groups[g]) != 0)
                continue;
            fputs("    <testcase classname=\"otahil.", m.f);
            esc(m.f, groups[g]);
            fputs("\" name=\"", m.f);
            esc(m.f, rc->id);
            if (rc->matrix) {
                fputs(" [", m.f);
                esc(m.f, rc->transport);
                fputc(']', m.f);
            }
            fputc(' ', m.f);
            esc(m.f, rc->title);
            fprintf(m.f, "\" time=\"%.3f\"", rc->seconds);
            switch (rc->verdict) {
            case V_PASS:
                fputs("/>\n", m.f);
                break;
            case V_SKIP:
                fputs(">\n      <skipped message=\"", m.f);
                esc(m.f, rc->reason);
                fputs("\"/>\n    </testcase>\n", m.f);
                break;
            default: {
                const char *tag = rc->verdict == V_FAIL ? "failure" : "error";

                fprintf(m.f, ">\n      <%s message=\"", tag);
                esc(m.f, rc->reason);
                fprintf(m.f, "\" type=\"%s\">", verdict_name(rc->verdict));
                xml_case_body(m.f, rc);
                fprintf(m.f, "</%s>\n    </testcase>\n", tag);
            }
            }
        }
        fputs("  </testsuite>\n", m.f);
    }
    fputs("</testsuites>\n", m.f);
    free(groups);
    return mem_commit(&m, path, err, n);
}

/* ---- report.html: the event timeline ---------------------------------- */

struct tl_ev {
    cJSON      *o;       /* the parsed line, or NULL when it is not JSON */
    int         line;
    const char *src, *ev;
};

/* Events that come in long runs and say little one by one: progress, the
 * port's runs of writes and breakpoints, flash operations, proxy chatter. */
static int ev_routine(const struct tl_ev *e)
{
    static const char *const names[] = {
        "agent.progress", "device.progress", "job.in_progress", "port.written",
        "port.set_boot.ret", "agent.breakpoint_saved", "proxy.conn_open", "proxy.conn_close",
        NULL,
    };
    if (!e->ev)
        return 0;
    if (strncmp(e->ev, "flash.", 6) == 0)
        return 1;
    if (strcmp(e->ev, "port.set_boot") == 0) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(e->o, "result_type");

        return cJSON_IsString(t) && strcmp(t->valuestring, "BREAKPOINT") == 0;
    }
    for (int i = 0; names[i]; i++)
        if (strcmp(e->ev, names[i]) == 0)
            return 1;
    return 0;
}

/* The row class of an event: fault, bad, check-PASS/FAIL/SKIP/ERROR, boot,
 * good, verdict, or "" for a plain one. */
static const char *ev_class(const struct tl_ev *e, char *buf, size_t n)
{
    static const char *const bad[] = {
        "app.crash", "boot.bricked", "job.failed", "device.harness_error", "cloud.broker_lost",
        "http.error", "kv.mount_failed", "firmware.refused", "cloud.broker_restart_failed",
        "cloud.bad_payload", NULL,
    };
    const char *ev = e->ev;

    if (!ev)
        return "bad";
    if (strcmp(ev, "check") == 0) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(e->o, "verdict");

        snprintf(buf, n, "check check-%s", cJSON_IsString(v) ? v->valuestring : "SKIP");
        return buf;
    }
    if (strncmp(ev, "fault.", 6) == 0 || strstr(ev, ".fault") || strcmp(ev, "device.power_cut") == 0 ||
        strcmp(ev, "proxy.link") == 0 || strcmp(ev, "cloud.broker_restart") == 0)
        return "fault";
    for (int i = 0; bad[i]; i++)
        if (strcmp(ev, bad[i]) == 0)
            return "bad";
    if (strcmp(ev, "run.verdict") == 0)
        return "verdict";
    if (strcmp(ev, "job.succeeded") == 0)
        return "good";
    if (strncmp(ev, "boot.", 5) == 0 || strcmp(ev, "device.reboot") == 0 ||
        strcmp(ev, "device.exit") == 0 || strcmp(ev, "app.start") == 0)
        return "boot";
    return "";
}

/* The fields of an event other than seq, t_us, src and ev, as
 * "key=value  key=value", cut to TL_FIELDS characters. */
static void ev_fields(FILE *f, const cJSON *o)
{
    char buf[TL_FIELDS + 64];
    size_t len = 0;
    const cJSON *it;

    buf[0] = '\0';
    cJSON_ArrayForEach(it, o) {
        char *v = NULL;
        const char *val;

        if (!it->string || strcmp(it->string, "seq") == 0 || strcmp(it->string, "t_us") == 0 ||
            strcmp(it->string, "src") == 0 || strcmp(it->string, "ev") == 0)
            continue;
        if (cJSON_IsString(it)) {
            val = it->valuestring;
        } else {
            v = cJSON_PrintUnformatted(it);
            val = v ? v : "?";
        }
        len += (size_t)snprintf(buf + len, len < sizeof(buf) ? sizeof(buf) - len : 0, "%s%s=%s",
                                len ? "  " : "", it->string, val);
        free(v);
        if (len >= sizeof(buf) - 1)
            break;
    }
    escn(f, buf, TL_FIELDS);
}

static double ev_t(const struct tl_ev *e, double t0)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(e->o, "t_us");

    return cJSON_IsNumber(t) && t0 >= 0 ? (t->valuedouble - t0) / 1e6 : -1;
}

static long ev_seq(const struct tl_ev *e)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(e->o, "seq");

    return cJSON_IsNumber(s) ? (long)s->valuedouble : -1;
}

static void tl_time(FILE *f, double t)
{
    if (t < 0)
        fputs("<td class=\"t\"></td>", f);
    else
        fprintf(f, "<td class=\"t\">%.3f</td>", t);
}

/* One row for events [a, b) of a run: the events it holds, with counts. */
static void tl_fold(FILE *f, const struct tl_ev *ev, int a, int b, double t0, const char *cls)
{
    const char *names[16];
    int counts[16], nn = 0, other = 0;

    for (int i = a; i < b; i++) {
        int k;

        for (k = 0; k < nn; k++)
            if (strcmp(names[k], ev[i].ev) == 0)
                break;
        if (k == nn) {
            if (nn == 16) {
                other++;
                continue;
            }
            names[nn] = ev[i].ev;
            counts[nn++] = 0;
        }
        counts[k]++;
    }
    fprintf(f, "<tr class=\"fold %s\">", cls);
    tl_time(f, ev_t(&ev[a], t0));
    fprintf(f, "<td class=\"seq\">%ld&ndash;%ld</td><td class=\"src\">&times;%d</td><td colspan=\"2\">",
            ev_seq(&ev[a]), ev_seq(&ev[b - 1]), b - a);
    for (int k = 0; k < nn; k++) {
        fputs(k ? ", " : "", f);
        fputs("<span class=\"ev\">", f);
        esc(f, names[k]);
        fprintf(f, "</span> &times;%d", counts[k]);
    }
    if (other)
        fprintf(f, ", %d more", other);
    {
        double t1 = ev_t(&ev[b - 1], t0), t = ev_t(&ev[a], t0);

        if (t1 >= 0 && t >= 0)
            fprintf(f, " <span class=\"dim\">over %.1f ms</span>", (t1 - t) * 1000.0);
    }
    fputs("</td></tr>\n", f);
}

static void tl_row(FILE *f, const struct tl_ev *e, double t0)
{
    char cb[48];

    if (!e->o) {
        fprintf(f, "<tr class=\"bad\"><td class=\"t\"></td><td class=\"seq\"></td>"
                   "<td colspan=\"3\">line %d is not an event (not a JSON object)</td></tr>\n",
                e->line);
        return;
    }
    fprintf(f, "<tr class=\"%s\">", ev_class(e, cb, sizeof(cb)));
    tl_time(f, ev_t(e, t0));
    fprintf(f, "<td class=\"seq\">%ld</td><td class=\"src\">", ev_seq(e));
    esc(f, e->src);
    fputs("</td><td class=\"ev\">", f);
    esc(f, e->ev);
    fputs("</td><td class=\"fields\">", f);
    if (strcmp(e->ev, "check") == 0) {
        /* A conformance check: its id, verdict and detail, as the checks table. */
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e->o, "id");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(e->o, "verdict");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(e->o, "detail");

        fputs("<b>", f);
        esc(f, cJSON_IsString(id) ? id->valuestring : "?");
        fputs("</b> ", f);
        esc(f, cJSON_IsString(v) ? v->valuestring : "?");
        fputs(": ", f);
        escn(f, cJSON_IsString(d) ? d->valuestring : "", TL_FIELDS);
    } else {
        ev_fields(f, e->o);
    }
    fputs("</td></tr>\n", f);
}

/* Reads the events file and writes the timeline table. */
static void html_timeline(FILE *f, const char *dir, const struct report_case *c)
{
    char path[4200], err[512];
    uint8_t *data;
    size_t len;
    struct tl_ev *ev = NULL;
    int nev = 0, cap = 0, rows = 0, i;
    double t0 = -1;

    if (!c->events[0]) {
        fputs("<p class=\"dim\">No event log was kept for this case.</p>\n", f);
        return;
    }
    resolve(path, sizeof(path), dir, c->events);
    if (read_file(path, &data, &len, err, sizeof(err)) != 0) {
        fputs("<p class=\"warn\">Event log unavailable: ", f);
        esc(f, err);
        fputs("</p>\n", f);
        return;
    }
    {
        char *text = realloc(data, len + 1), *line, *next;
        int lineno = 0;

        if (!text) {
            free(data);
            fputs("<p class=\"warn\">Event log unavailable: out of memory</p>\n", f);
            return;
        }
        text[len] = '\0';
        data = (uint8_t *)text;
        for (line = text; line < text + len; line = next) {
            cJSON *o;
            const cJSON *s, *e;

            next = memchr(line, '\n', (size_t)(text + len - line));
            next = next ? next + 1 : text + len;
            if (next[-1] == '\n')
                next[-1] = '\0';
            lineno++;
            if (strspn(line, " \t\r") == strlen(line))
                continue;
            if (nev == cap) {
                struct tl_ev *ne = realloc(ev, (size_t)(cap ? cap * 2 : 256) * sizeof(*ev));

                if (!ne)
                    break;
                ev = ne;
                cap = cap ? cap * 2 : 256;
            }
            o = cJSON_Parse(line);
            if (o && !cJSON_IsObject(o)) {
                cJSON_Delete(o);
                o = NULL;
            }
            s = cJSON_GetObjectItemCaseSensitive(o, "src");
            e = cJSON_GetObjectItemCaseSensitive(o, "ev");
            ev[nev].o = o;
            ev[nev].line = lineno;
            ev[nev].src = cJSON_IsString(s) ? s->valuestring : "?";
            ev[nev].ev = cJSON_IsString(e) ? e->valuestring : NULL;
            if (o && !ev[nev].ev) {
                ev[nev].ev = "?";
            }
            if (t0 < 0 && o) {
                const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "t_us");

                if (cJSON_IsNumber(t))
                    t0 = t->valuedouble;
            }
            nev++;
        }
    }
    fputs("<p class=\"dim\">", f);
    fprintf(f, "%d events from <code>", nev);
    esc(f, c->events);
    fputs("</code>; time in seconds from the first. Runs of routine events (progress, runs of "
          "writes, breakpoints, flash operations) are folded into one row with their counts.</p>\n",
          f);
    fputs("<table class=\"tl\"><colgroup><col class=\"t\"><col class=\"seq\"><col class=\"src\">"
          "<col class=\"ev\"><col></colgroup><thead><tr><th>t (s)</th><th>seq</th><th>source</th><th>event</th>"
          "<th>fields</th></tr></thead><tbody>\n", f);
    for (i = 0; i < nev && rows < TL_MAX_ROWS; rows++) {
        int j = i + 1;

        if (ev[i].o && ev_routine(&ev[i])) {
            while (j < nev && ev[j].o && ev_routine(&ev[j]))
                j++;
            if (j - i >= TL_FOLD_MIN) {
                tl_fold(f, ev, i, j, t0, "");
                i = j;
                continue;
            }
        } else if (ev[i].o && strcmp(ev[i].ev, "check") != 0) {
            while (j < nev && ev[j].o && strcmp(ev[j].ev, ev[i].ev) == 0 &&
                   strcmp(ev[j].src, ev[i].src) == 0)
                j++;
            if (j - i >= TL_FOLD_MIN) {
                char cb[48];

                tl_fold(f, ev, i, j, t0, ev_class(&ev[i], cb, sizeof(cb)));
                i = j;
                continue;
            }
        }
        tl_row(f, &ev[i], t0);
        i++;
    }
    if (i < nev)
        fprintf(f, "<tr><td colspan=\"5\" class=\"dim\">&hellip; %d more events in the log</td></tr>\n",
                nev - i);
    fputs("</tbody></table>\n", f);
    for (int k = 0; k < nev; k++)
        cJSON_Delete(ev[k].o);
    free(ev);
    free(data);
}

/* ---- report.html: the flash picture ----------------------------------- */

/* A flash file read into memory: chip bytes, then the model's state. */
struct fimg {
    uint8_t                    *buf;
    const uint8_t              *mem;
    const struct flashsim_meta *meta;
};

static int fimg_load(struct fimg *fi, const char *path, const struct board *b, char *err, size_t n)
{
    size_t len, want = (size_t)b->geom.size + flashsim_state_size(&b->geom);
    struct flashsim fs;
    uint32_t magic;

    fi->buf = NULL;
    if (read_file(path, &fi->buf, &len, err, n) != 0)
        return -1;
    if (len != want) {
        set_err(err, n, "%s: %zu bytes, expected %zu for board %s (chip %u + state %zu)", path, len,
                want, b->name, b->geom.size, want - b->geom.size);
        goto fail;
    }
    memcpy(&magic, fi->buf + b->geom.size, sizeof(magic));
    if (magic != FLASHSIM_META_MAGIC) {
        set_err(err, n, "%s: not a flash file (no flash state after the chip bytes)", path);
        goto fail;
    }
    /* Validates the state in memory; with a valid magic nothing is changed. */
    if (flashsim_init(&fs, &b->geom, fi->buf, fi->buf + b->geom.size, 0) != FLASHSIM_OK) {
        set_err(err, n, "%s: flash state does not match board %s", path, b->name);
        goto fail;
    }
    fi->mem = fi->buf;
    fi->meta = (const struct flashsim_meta *)(const void *)(fi->buf + b->geom.size);
    return 0;
fail:
    free(fi->buf);
    fi->buf = NULL;
    return -1;
}

/* What one sector went through in the case. */
enum sec_state { SEC_BLANK, SEC_DATA, SEC_WRITTEN, SEC_ERASED };

struct sec {
    uint8_t  state;   /* enum sec_state */
    uint32_t erases;  /* erases during the case (all erases when there is no before) */
};

static const char *const sec_fill[] = { "#f4f6f8", "#b8c2cc", "#1f6feb", "#e8a317" };
static const char *const sec_name[] = { "blank", "unchanged data", "written", "erased" };

/* Erase heat on a fixed scale, so that pictures compare across cases: 0, 1,
 * 2, 3-4, 5-8, 9 and more erases. */
static const char *const heat_steps[] = { "#eef1f4", "#f6c453", "#f39c34", "#e8682a", "#cc3a21",
                                          "#8e1010" };
static const char *const heat_names[] = { "0", "1", "2", "3\xE2\x80\x93" "4", "5\xE2\x80\x93" "8", "9+" };

static const char *heat_fill(uint32_t e)
{
    return heat_steps[e == 0 ? 0 : e == 1 ? 1 : e == 2 ? 2 : e <= 4 ? 3 : e <= 8 ? 4 : 5];
}

#define SVG_W     1000
#define SVG_LX    8     /* label column */
#define SVG_SX    196   /* sector strips */
#define SVG_SW    600
#define SVG_RX    812   /* statistics column */
#define SVG_CELL  13    /* state cell height */
#define SVG_HEAT  6     /* erase strip height */
#define SVG_LINE  (SVG_CELL + SVG_HEAT + 5)

/* One strip line: sectors [s0, s1) of a partition, state and erase heat,
 * adjacent equal cells merged when cells are too narrow to be told apart. */
static void svg_line(FILE *f, const struct board_part *p, const struct board *b,
                     const struct sec *sec, uint32_t first, uint32_t s0, uint32_t s1, double cw,
                     double y)
{
    int gap = cw >= 5;
    uint32_t ss = b->geom.sector_size;

    for (int layer = 0; layer < 2; layer++) {
        uint32_t s = s0;

        while (s < s1) {
            uint32_t e = s + 1;
            const struct sec *a = &sec[first + s];

            if (!gap)
                while (e < s1 && (layer ? sec[first + e].erases == a->erases
                                        : sec[first + e].state == a->state))
                    e++;
            double x = SVG_SX + (s - s0) * cw, w = (e - s) * cw - (gap ? 1 : 0);
            fprintf(f, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%d\" fill=\"%s\"><title>",
                    x, layer ? y + SVG_CELL + 1 : y, w < 0.5 ? 0.5 : w, layer ? SVG_HEAT : SVG_CELL,
                    layer ? heat_fill(a->erases) : sec_fill[a->state]);
            esc(f, p->name);
            if (e - s == 1)
                fprintf(f, " sector %u @ 0x%08X", s, p->start + s * ss);
            else
                fprintf(f, " sectors %u-%u @ 0x%08X-0x%08X", s, e - 1, p->start + s * ss,
                        p->start + e * ss - 1);
            if (layer)
                fprintf(f, ": %u erase%s%s", a->erases, a->erases == 1 ? "" : "s",
                        e - s > 1 ? " each" : "");
            else
                fprintf(f, ": %s", sec_name[a->state]);
            fputs("</title></rect>\n", f);
            s = e;
        }
    }
}

static void svg_text(FILE *f, double x, double y, const char *cls, const char *anchor)
{
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"%s\"%s%s%s>", x, y, cls,
            anchor ? " text-anchor=\"" : "", anchor ? anchor : "", anchor ? "\"" : "");
}

static void html_flash(FILE *f, const char *dir, const struct report *r, const struct report_case *c)
{
    const struct board *b = r->board;
    char pb[4200], pa[4200], err[600], sz[32], sz2[32];
    struct fimg before = { 0 }, after = { 0 };
    struct sec *sec = NULL;
    uint32_t nsec, ss, maxe = 0, outside = 0;
    int have_before = 0;
    double y;

    if (!b) {
        fputs("<p class=\"dim\">No board in the report: no flash picture.</p>\n", f);
        return;
    }
    if (!c->flash_after[0]) {
        fputs("<p class=\"dim\">No flash file was kept for this case.</p>\n", f);
        return;
    }
    resolve(pa, sizeof(pa), dir, c->flash_after);
    if (fimg_load(&after, pa, b, err, sizeof(err)) != 0) {
        fputs("<p class=\"warn\">Flash picture unavailable: ", f);
        esc(f, err);
        fputs("</p>\n", f);
        return;
    }
    if (c->flash_before[0]) {
        resolve(pb, sizeof(pb), dir, c->flash_before);
        if (fimg_load(&before, pb, b, err, sizeof(err)) == 0) {
            have_before = 1;
        } else {
            fputs("<p class=\"warn\">Flash before the case unavailable (changes not shown): ", f);
            esc(f, err);
            fputs("</p>\n", f);
        }
    }
    ss = b->geom.sector_size;
    nsec = b->geom.size / ss;
    sec = calloc(nsec, sizeof(*sec));
    if (!sec) {
        fputs("<p class=\"warn\">Flash picture unavailable: out of memory</p>\n", f);
        goto out;
    }
    for (uint32_t s = 0; s < nsec; s++) {
        const uint8_t *a = after.mem + (size_t)s * ss;
        int blank = 1;

        for (uint32_t k = 0; k < ss && blank; k++)
            blank = a[k] == b->geom.erase_value;
        if (have_before && memcmp(a, before.mem + (size_t)s * ss, ss) != 0)
            sec[s].state = blank ? SEC_ERASED : SEC_WRITTEN;
        else
            sec[s].state = blank ? SEC_BLANK : SEC_DATA;
        sec[s].erases = after.meta->erase_count[s];
        if (have_before)
            sec[s].erases = sec[s].erases >= before.meta->erase_count[s]
                                ? sec[s].erases - before.meta->erase_count[s]
                                : sec[s].erases;
        if (sec[s].erases > maxe)
            maxe = sec[s].erases;
    }
    for (uint32_t s = 0; s < nsec; s++) {
        uint32_t addr = b->flash_base + s * ss;
        int in = 0;

        for (int i = 0; i < b->nparts && !in; i++)
            in = addr >= b->parts[i].start && addr - b->parts[i].start < b->parts[i].length;
        if (!in && (sec[s].state >= SEC_WRITTEN || sec[s].erases))
            outside++;
    }

    {
        const struct flashsim_meta *ma = after.meta, *mb = have_before ? before.meta : NULL;
        unsigned long long progs = ma->programs - (mb ? mb->programs : 0);
        unsigned long long ers = ma->erases - (mb ? mb->erases : 0);
        uint32_t viol = ma->violations - (mb ? mb->violations : 0);

        fprintf(f, "<p class=\"flashsum\">Chip %s, %s sectors, %u-byte program unit%s. ",
                fmt_size(sz, sizeof(sz), b->geom.size), fmt_size(sz2, sizeof(sz2), ss),
                b->geom.program_unit, b->geom.program_once ? " (program once)" : "");
        fprintf(f, "%s: <b>%llu</b> programs, <b>%llu</b> sector erases, ",
                have_before ? "During the case" : "Over the file's life", progs, ers);
        fprintf(f, "<b class=\"%s\">%u</b> NOR rule violation%s.", viol ? "bad" : "", viol,
                viol == 1 ? "" : "s");
        if (outside)
            fprintf(f, " <b class=\"bad\">%u sectors outside every partition were changed or "
                       "erased.</b>", outside);
        fputs("</p>\n", f);
        if (viol) {
            uint32_t keep = ma->violations < FLASHSIM_VIOL_KEEP ? ma->violations : FLASHSIM_VIOL_KEEP;

            fputs("<ul class=\"viol\">\n", f);
            for (uint32_t k = 0; k < keep; k++) {
                const struct flashsim_op *op =
                    &ma->viol[(ma->viol_next + FLASHSIM_VIOL_KEEP - keep + k) % FLASHSIM_VIOL_KEEP];

                if (mb && op->seq <= mb->op_seq)
                    continue;
                fprintf(f, "<li>op %llu: %s ", (unsigned long long)op->seq,
                        flashsim_opkind_name(op->kind));
                esc(f, op->part >= 0 ? board_part_name(op->part) : "CHIP");
                fprintf(f, "+0x%X, %u bytes: %s</li>\n", op->off, op->len,
                        flashsim_violation_name(op->violation));
            }
            fputs("</ul>\n", f);
        }
    }

    /* Heights first: one block per partition, as many lines as its sectors need. */
    double total = 64;
    for (int i = 0; i < b->nparts; i++) {
        uint32_t np = (b->parts[i].length + ss - 1) / ss;
        double cw = np ? (double)SVG_SW / np : SVG_SW;
        uint32_t per;

        if (cw > 14)
            cw = 14;
        if (cw < 2)
            cw = 2;
        per = (uint32_t)(SVG_SW / cw);
        total += 14 + ((np + per - 1) / (per ? per : 1)) * SVG_LINE + 6;
    }
    total += 40;

    fprintf(f, "<svg class=\"flash\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %.0f\" "
               "width=\"100%%\" role=\"img\" aria-label=\"flash map\">\n", SVG_W, total);
    /* The chip at scale: partitions as blocks, what changed as ticks. */
    svg_text(f, SVG_LX, 20, "h", NULL);
    fprintf(f, "chip 0x%08X</text>\n", b->flash_base);
    svg_text(f, SVG_LX, 34, "s", NULL);
    fprintf(f, "%s, to scale</text>\n", fmt_size(sz, sizeof(sz), b->geom.size));
    fprintf(f, "<rect x=\"%d\" y=\"8\" width=\"%d\" height=\"20\" fill=\"#ffffff\" stroke=\"#8c959f\"/>\n",
            SVG_SX, SVG_SW);
    for (int i = 0; i < b->nparts; i++) {
        const struct board_part *p = &b->parts[i];
        double x = SVG_SX + (double)(p->start - b->flash_base) * SVG_SW / b->geom.size;
        double w = (double)p->length * SVG_SW / b->geom.size;

        fprintf(f, "<rect x=\"%.2f\" y=\"8\" width=\"%.2f\" height=\"20\" fill=\"%s\" "
                   "stroke=\"#57606a\" stroke-width=\"0.5\"><title>",
                x, w < 0.5 ? 0.5 : w, i % 2 ? "#dbe4ee" : "#c4d3e3");
        esc(f, p->name);
        fprintf(f, " 0x%08X, %s</title></rect>\n", p->start, fmt_size(sz, sizeof(sz), p->length));
        if (w > 8.0 * strlen(p->name) * 0.62) {
            svg_text(f, x + w / 2, 22, "pl", "middle");
            esc(f, p->name);
            fputs("</text>\n", f);
        }
    }
    for (uint32_t s = 0; s < nsec; s++) {
        uint32_t e = s + 1;

        if (sec[s].state < SEC_WRITTEN)
            continue;
        while (e < nsec && sec[e].state == sec[s].state)
            e++;
        fprintf(f, "<rect x=\"%.2f\" y=\"30\" width=\"%.2f\" height=\"6\" fill=\"%s\"/>\n",
                SVG_SX + (double)s * SVG_SW / nsec, (double)(e - s) * SVG_SW / nsec,
                sec_fill[sec[s].state]);
        s = e - 1;
    }
    svg_text(f, SVG_RX, 22, "s", NULL);
    fprintf(f, "%d partitions</text>\n", b->nparts);

    y = 64;
    for (int i = 0; i < b->nparts; i++) {
        const struct board_part *p = &b->parts[i];
        uint32_t first = (p->start - b->flash_base) / ss;
        uint32_t np = (p->length + ss - 1) / ss, per, lines, written = 0, erased = 0, ers = 0;
        double cw = np ? (double)SVG_SW / np : SVG_SW;

        if (first + np > nsec)
            np = first < nsec ? nsec - first : 0;
        if (cw > 14)
            cw = 14;
        if (cw < 2)
            cw = 2;
        per = (uint32_t)(SVG_SW / cw);
        lines = np ? (np + per - 1) / per : 1;
        for (uint32_t s = 0; s < np; s++) {
            written += sec[first + s].state == SEC_WRITTEN;
            erased += sec[first + s].state == SEC_ERASED;
            ers += sec[first + s].erases;
        }
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#d0d7de\"/>\n", SVG_LX,
                y - 4, SVG_W - 8, y - 4);
        svg_text(f, SVG_LX, y + 11, "h", NULL);
        esc(f, p->name);
        fputs("</text>\n", f);
        svg_text(f, SVG_LX, y + 25, "s", NULL);
        fprintf(f, "0x%08X &#183; %s &#183; %u sect.</text>\n", p->start,
                fmt_size(sz, sizeof(sz), p->length), np);
        for (uint32_t l = 0; l < lines; l++) {
            uint32_t s0 = l * per, s1 = s0 + per < np ? s0 + per : np;

            svg_line(f, p, b, sec, first, s0, s1, cw, y + 2 + l * SVG_LINE);
        }
        svg_text(f, SVG_RX, y + 11, written || erased ? "h" : "s", NULL);
        if (!have_before)
            fputs("contents after the case", f);
        else if (written || erased)
            fprintf(f, "%u written, %u erased", written, erased);
        else
            fputs("unchanged", f);
        fputs("</text>\n", f);
        svg_text(f, SVG_RX, y + 25, ers ? "e" : "s", NULL);
        fprintf(f, "%u sector erase%s</text>\n", ers, ers == 1 ? "" : "s");
        y += 14 + lines * SVG_LINE + 6;
    }
    /* Legend. */
    y += 8;
    {
        double x = SVG_LX;

        for (int k = 0; k < 4; k++) {
            if (!have_before && k >= SEC_WRITTEN)
                break;
            fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"12\" height=\"12\" fill=\"%s\" "
                       "stroke=\"#8c959f\" stroke-width=\"0.5\"/>\n", x, y, sec_fill[k]);
            svg_text(f, x + 16, y + 10, "s", NULL);
            fprintf(f, "%s</text>\n", sec_name[k]);
            x += 22 + 7.0 * strlen(sec_name[k]);
        }
        x += 20;
        svg_text(f, x, y + 10, "s", NULL);
        fprintf(f, "%s:</text>\n", have_before ? "erases in the case" : "erases");
        x += have_before ? 122 : 52;
        for (int k = 0; k < 6; k++) {
            fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"18\" height=\"8\" fill=\"%s\"/>\n", x,
                    y + 2, heat_steps[k]);
            svg_text(f, x + 22, y + 10, "s", NULL);
            fprintf(f, "%s</text>\n", heat_names[k]);
            x += 30 + 7.0 * strlen(heat_names[k]);
        }
        svg_text(f, x + 8, y + 10, "s", NULL);
        fprintf(f, "(the most on one sector: %u)</text>\n", maxe);
    }
    fputs("</svg>\n", f);
out:
    free(sec);
    free(before.buf);
    free(after.buf);
}

/* ---- report.html: the page -------------------------------------------- */

static const char html_css[] =
    ":root{--pass:#1a7f37;--fail:#cf222e;--skip:#6e7781;--error:#9a6700;--ink:#1f2328;"
    "--dim:#59636e;--line:#d0d7de;--bg:#f6f8fa}\n"
    "*{box-sizing:border-box}\n"
    "html{-webkit-print-color-adjust:exact;print-color-adjust:exact}\n"
    "body{margin:0;background:#e9edf1;color:var(--ink);font:14px/1.45 \"DejaVu Sans\",\"Liberation "
    "Sans\",Arial,sans-serif}\n"
    ".page{max-width:1120px;margin:24px auto;background:#fff;padding:32px 40px 28px;"
    "box-shadow:0 1px 4px rgba(0,0,0,.15)}\n"
    "code,.mono,td.id,td.t,td.seq,pre{font-family:\"DejaVu Sans Mono\",\"Liberation Mono\","
    "monospace;font-size:12.5px}\n"
    "header.top{display:flex;justify-content:space-between;align-items:flex-start;gap:24px;"
    "border-bottom:3px solid var(--ink);padding-bottom:14px}\n"
    ".lab{font-size:12px;letter-spacing:.14em;text-transform:uppercase;color:var(--dim)}\n"
    "h1{font-size:26px;margin:4px 0 6px}\n"
    ".subject{font-size:15px}\n"
    ".cert{min-width:250px;text-align:center;border:3px solid;border-radius:6px;padding:10px 18px}\n"
    ".cert .word{font-size:24px;font-weight:bold;text-transform:uppercase;letter-spacing:.06em}\n"
    ".cert .why{font-size:12px}\n"
    ".cert.certified{color:var(--pass);border-color:var(--pass);background:#eef9f0}\n"
    ".cert.not{color:var(--fail);border-color:var(--fail);background:#fff0f0}\n"
    ".cert.incomplete{color:var(--error);border-color:var(--error);background:#fff8e5}\n"
    "h2{font-size:18px;margin:28px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}\n"
    "h3{font-size:15px;margin:20px 0 6px}\n"
    "h4{font-size:13px;margin:14px 0 4px;text-transform:uppercase;letter-spacing:.08em;color:#424a53}\n"
    ".facts{display:grid;grid-template-columns:1fr 1fr;gap:0 32px;margin-top:16px}\n"
    ".facts table{border-collapse:collapse;width:100%}\n"
    ".facts th{text-align:left;font-weight:normal;color:var(--dim);width:38%;padding:3px 8px 3px 0;"
    "vertical-align:top}\n"
    ".facts td{padding:3px 0;vertical-align:top}\n"
    ".facts caption{text-align:left;font-weight:bold;padding:6px 0 4px;border-bottom:1px solid "
    "var(--line)}\n"
    ".tiles{display:flex;gap:12px;margin:8px 0}\n"
    ".tile{flex:1;border:1px solid var(--line);border-top:5px solid;border-radius:4px;padding:8px "
    "12px}\n"
    ".tile .n{font-size:28px;font-weight:bold}\n"
    ".tile.PASS{border-top-color:var(--pass)}.tile.FAIL{border-top-color:var(--fail)}"
    ".tile.SKIP{border-top-color:var(--skip)}.tile.ERROR{border-top-color:var(--error)}\n"
    ".tile.PASS .n{color:var(--pass)}.tile.FAIL .n{color:var(--fail)}.tile.SKIP .n{color:var(--skip)}"
    ".tile.ERROR .n{color:var(--error)}\n"
    ".bar{display:flex;height:10px;border-radius:5px;overflow:hidden;background:var(--bg);"
    "margin:6px 0 4px}\n"
    ".bar span{display:block}\n"
    ".bar .PASS{background:var(--pass)}.bar .FAIL{background:var(--fail)}.bar .SKIP{background:"
    "#afb8c1}.bar .ERROR{background:#d4a72c}\n"
    "table.cases{border-collapse:collapse;width:100%;margin-bottom:8px;table-layout:fixed}\n"
    "table.cases col.id{width:120px}table.cases col.spec{width:130px}table.cases col.tr{width:"
    "110px}table.cases col.v{width:80px}table.cases col.time{width:80px}\n"
    "table.cases th{text-align:left;font-size:12px;color:var(--dim);font-weight:normal;"
    "border-bottom:2px solid var(--line);padding:4px 8px}\n"
    "table.cases td{border-bottom:1px solid var(--line);padding:5px 8px;vertical-align:top}\n"
    "table.cases tr{break-inside:avoid}\n"
    "table.matrix{table-layout:auto}\n"
    "td.num,table.cases th.num{text-align:right;white-space:nowrap}\n"
    "td.id{white-space:nowrap}\n"
    ".note{display:block;color:var(--dim);font-size:12.5px}\n"
    ".badge{display:inline-block;min-width:52px;text-align:center;border-radius:3px;color:#fff;"
    "font-weight:bold;font-size:11.5px;padding:2px 6px;letter-spacing:.04em}\n"
    ".badge.PASS{background:var(--pass)}.badge.FAIL{background:var(--fail)}"
    ".badge.SKIP{background:var(--skip)}.badge.ERROR{background:var(--error)}\n"
    ".gsum{font-weight:normal;color:var(--dim);font-size:13px;margin-left:8px}\n"
    "section.case{border:1px solid var(--line);border-left:6px solid var(--fail);border-radius:4px;"
    "padding:4px 18px 14px;margin:18px 0}\n"
    "section.case.ERROR{border-left-color:var(--error)}\n"
    "section.case h3{font-size:16px}\n"
    ".reason{background:#fff0f0;border:1px solid #f5c2c7;padding:8px 12px;border-radius:4px}\n"
    "section.case.ERROR .reason{background:#fff8e5;border-color:#eed49a}\n"
    "pre.cmd{background:#1f2328;color:#f0f3f6;padding:8px 12px;border-radius:4px;white-space:"
    "pre-wrap;word-break:break-all}\n"
    "table.checks{border-collapse:collapse;width:100%}\n"
    "table.checks td{border-bottom:1px solid var(--line);padding:3px 8px;vertical-align:top}\n"
    "table.checks td.cid{white-space:nowrap;font-family:\"DejaVu Sans Mono\",monospace;"
    "font-size:12.5px}\n"
    "table.tl{border-collapse:collapse;width:100%;font-size:12px;table-layout:fixed}\n"
    "table.tl th{text-align:left;color:var(--dim);font-weight:normal;border-bottom:1px solid "
    "var(--line);padding:2px 6px}\n"
    "table.tl td{padding:1px 6px;border-bottom:1px solid #eef1f4;vertical-align:top;"
    "overflow-wrap:anywhere}\n"
    "table.tl col.t{width:70px}table.tl col.seq{width:70px}table.tl col.src{width:80px}"
    "table.tl col.ev{width:190px}\n"
    "table.tl td.t,table.tl td.seq{text-align:right;color:var(--dim)}\n"
    "table.tl td.fields{color:#424a53;font-family:\"DejaVu Sans Mono\",monospace;font-size:11.5px}\n"
    "table.tl tr.fold td{background:var(--bg);color:var(--dim);font-style:italic}\n"
    "table.tl tr.fault td{background:#fff1d6}table.tl tr.fault td.ev{font-weight:bold;color:#8a4b00}\n"
    "table.tl tr.bad td{background:#ffe3e3}table.tl tr.bad td.ev{font-weight:bold;color:var(--fail)}\n"
    "table.tl tr.boot td{background:#eaf2ff}table.tl tr.boot td.ev{font-weight:bold;color:#0b4fb3}\n"
    "table.tl tr.good td.ev{font-weight:bold;color:var(--pass)}\n"
    "table.tl tr.verdict td{background:#eef1f4;font-weight:bold}\n"
    "table.tl tr.check-FAIL td{background:#ffe3e3}table.tl tr.check-FAIL td.ev{color:var(--fail);"
    "font-weight:bold}\n"
    "table.tl tr.check-PASS td.ev{color:var(--pass)}table.tl tr.check-ERROR td{background:#fff1d6}\n"
    ".dim{color:var(--dim)}.warn{color:var(--error)}.bad{color:var(--fail)}\n"
    "svg.flash{display:block;margin:6px 0;font-family:\"DejaVu Sans\",Arial,sans-serif}\n"
    "svg.flash .h{font-size:12px;font-weight:bold;fill:#1f2328}\n"
    "svg.flash .s{font-size:11px;fill:#59636e}\n"
    "svg.flash .e{font-size:11px;fill:#8a4b00}\n"
    "svg.flash .pl{font-size:10px;fill:#1f2328}\n"
    "ul.viol{color:var(--fail);margin:4px 0}\n"
    "footer{margin-top:28px;padding-top:10px;border-top:1px solid var(--line);color:var(--dim);"
    "font-size:12px}\n"
    "@media print{body{background:#fff}.page{box-shadow:none;margin:0;max-width:none;padding:0}"
    "section.case{break-before:page}h2,h3{break-after:avoid}svg.flash,table.checks{break-inside:"
    "avoid}@page{size:A4;margin:14mm}}\n";

static void fact(FILE *f, const char *name, const char *value)
{
    fprintf(f, "<tr><th>%s</th><td>", name);
    if (value && *value)
        esc(f, value);
    else
        fputs("&mdash;", f);
    fputs("</td></tr>\n", f);
}

static void badge(FILE *f, enum verdict v)
{
    fprintf(f, "<span class=\"badge %s\">%s</span>", verdict_name(v), verdict_name(v));
}

/* An id usable as an HTML fragment: letters, digits, '-', '_', '.'. */
static void anchor_text(FILE *f, const char *id)
{
    for (const unsigned char *s = (const unsigned char *)S(id); *s; s++)
        fputc((*s >= '0' && *s <= '9') || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
                      *s == '-' || *s == '_' || *s == '.'
                  ? *s
                  : '_',
              f);
}

/* A case's fragment: "case-ID", and "case-ID.TRANSPORT" for a matrix row. */
static void anchor(FILE *f, const struct report_case *c)
{
    fputs("case-", f);
    anchor_text(f, c->id);
    if (c->matrix) {
        fputc('.', f);
        anchor_text(f, c->transport);
    }
}

static void html_header(FILE *f, const struct report *r, const char *status,
                        const struct report_counts *c)
{
    const struct profile *p = r->profile;
    const struct board *b = r->board;
    char buf[512], sz[32], sz2[32], seed[32];
    const char *cls = strcmp(status, "certified") == 0       ? "certified"
                      : strcmp(status, "not certified") == 0 ? "not"
                                                             : "incomplete";

    fputs("<header class=\"top\"><div>\n<div class=\"lab\">otahil &#183; FOTA port conformance "
          "&#183; test report</div>\n<h1>Certification report</h1>\n<div class=\"subject\">Port <b>",
          f);
    esc(f, r->port);
    fputs("</b> &#183; profile <b>", f);
    esc(f, p ? (p->name[0] ? p->name : p->path) : "none");
    fputs("</b> &#183; board <b>", f);
    esc(f, b ? b->name : "none");
    fputs("</b></div>\n</div>\n", f);
    fprintf(f, "<div class=\"cert %s\"><div class=\"lab\">certificate</div><div class=\"word\">", cls);
    esc(f, status);
    fputs("</div><div class=\"why\">", f);
    if (c->fail)
        fprintf(f, "%d case%s failed", c->fail, c->fail == 1 ? "" : "s");
    else if (c->error)
        fprintf(f, "%d harness error%s: rerun", c->error, c->error == 1 ? "" : "s");
    else if (r->subset || r->shard)
        fprintf(f, "a subset of the suite%s", r->shard ? " (shard)" : "");
    else if (!c->pass)
        fputs("no case passed", f);
    else
        fprintf(f, "%d passed, %d not claimed", c->pass, c->skip);
    fputs("</div></div>\n</header>\n", f);

    fputs("<div class=\"facts\">\n<table><caption>Port and profile</caption>\n", f);
    fact(f, "Port", r->port);
    if (p) {
        fact(f, "Profile", p->name);
        fact(f, "Profile file", p->path);
        fact(f, "Vendor", p->vendor);
        fact(f, "Generation", p->generation);
        fact(f, "Bootloader", p->bootloader);
        fact(f, "Breakpoint resume", p->resume ? "claimed" : "not claimed");
        fact(f, "Hash methods", p->hashes);
        fact(f, "RSA signature", p->rsa ? "claimed" : "not claimed");
        fact(f, "Transports", p->transports);
    } else {
        fact(f, "Profile", "none");
    }
    fputs("</table>\n<table><caption>Board and run</caption>\n", f);
    if (b) {
        snprintf(buf, sizeof(buf), "%s%s%s", b->name, b->description[0] ? " \xE2\x80\x94 " : "",
                 b->description);
        fact(f, "Board", buf);
        snprintf(buf, sizeof(buf), "%s at 0x%08X, %s sectors, %u-byte program unit%s",
                 fmt_size(sz, sizeof(sz), b->geom.size), b->flash_base,
                 fmt_size(sz2, sizeof(sz2), b->geom.sector_size), b->geom.program_unit,
                 b->geom.program_once ? ", program once" : "");
        fact(f, "Flash", buf);
        snprintf(buf, sizeof(buf), "%s, %d partitions", b->bootloader, b->nparts);
        fact(f, "Board bootloader", buf);
    } else {
        fact(f, "Board", "none");
    }
    fact(f, "Target", r->target);
    if (r->net)
        fact(f, "Network", !strcmp(r->net, "user") ? "the firmware's own IP stack (QEMU -nic user)"
                                                   : "offloaded to the harness's relay (mailbox)");
    if (r->cloud)
        fact(f, "Cloud", r->cloud);
    snprintf(seed, sizeof(seed), "%llu", (unsigned long long)r->seed);
    fact(f, "Seed", seed);
    fact(f, "Shard", r->shard ? r->shard : r->subset ? "a selection of cases" : "the whole suite");
    fact(f, "Started", r->started);
    fact(f, "Duration", fmt_secs(buf, sizeof(buf), r->seconds));
    fact(f, "otahil", r->version);
    fputs("</table>\n</div>\n", f);
}

static void html_counts(FILE *f, const struct report_counts *c)
{
    const struct { const char *v; int n; const char *what; } t[] = {
        { "PASS", c->pass, "the port met the case" },
        { "FAIL", c->fail, "the port broke the contract" },
        { "SKIP", c->skip, "outside what the profile claims" },
        { "ERROR", c->error, "the harness failed; not held against the port" },
    };

    fprintf(f, "<h2>Results: %d case%s</h2>\n<div class=\"tiles\">\n", c->total,
            c->total == 1 ? "" : "s");
    for (int i = 0; i < 4; i++)
        fprintf(f, "<div class=\"tile %s\"><div class=\"lab\">%s</div><div class=\"n\">%d</div>"
                   "<div class=\"note\">%s</div></div>\n",
                t[i].v, t[i].v, t[i].n, t[i].what);
    fputs("</div>\n<div class=\"bar\">", f);
    for (int i = 0; i < 4; i++)
        if (t[i].n && c->total)
            fprintf(f, "<span class=\"%s\" style=\"width:%.2f%%\"></span>", t[i].v,
                    100.0 * t[i].n / c->total);
    fputs("</div>\n", f);
}

static void html_groups(FILE *f, const struct report *r, const char **groups, int ng)
{
    char tb[32];

    for (int g = 0; g < ng; g++) {
        double secs;
        struct report_counts gc = group_count(r, groups[g], &secs);

        fputs("<h3>", f);
        esc(f, groups[g][0] ? groups[g] : "(no group)");
        fprintf(f, "<span class=\"gsum\">%d case%s: %d pass, %d fail, %d skip, %d error &#183; %s</span>"
                   "</h3>\n",
                gc.total, gc.total == 1 ? "" : "s", gc.pass, gc.fail, gc.skip, gc.error,
                fmt_secs(tb, sizeof(tb), secs));
        fputs("<table class=\"cases\"><colgroup><col class=\"id\"><col><col class=\"spec\">"
              "<col class=\"tr\"><col class=\"v\"><col class=\"time\"></colgroup>"
              "<thead><tr><th>ID</th><th>Title</th><th>Spec</th>"
              "<th>Transport</th><th>Verdict</th><th class=\"num\">Time</th></tr></thead><tbody>\n",
              f);
        for (int i = 0; i < r->ncases; i++) {
            const struct report_case *c = &r->cases[i];
            int detail = c->verdict == V_FAIL || c->verdict == V_ERROR;

            if (strcmp(S(c->group), groups[g]) != 0)
                continue;
            fputs("<tr><td class=\"id\">", f);
            if (detail) {
                fputs("<a href=\"#", f);
                anchor(f, c);
                fputs("\">", f);
            }
            esc(f, c->id);
            fputs(detail ? "</a>" : "", f);
            fputs("</td><td>", f);
            esc(f, c->title);
            if (c->verdict != V_PASS && c->reason[0]) {
                fputs("<span class=\"note\">", f);
                escn(f, c->reason, 200);
                fputs("</span>", f);
            }
            fputs("</td><td>", f);
            esc(f, c->spec);
            fputs("</td><td>", f);
            esc(f, c->transport);
            fputs("</td><td>", f);
            badge(f, c->verdict);
            fprintf(f, "</td><td class=\"num\">%s</td></tr>\n", fmt_secs(tb, sizeof(tb), c->seconds));
        }
        fputs("</tbody></table>\n", f);
    }
}

/* The transport matrix: a row per case that ran over more than one transport,
 * a column per transport, in the order the rows first name them. */
static void html_matrix(FILE *f, const struct report *r)
{
    const char *tr[16];
    int nt = 0, nrows = 0;

    for (int i = 0; i < r->ncases; i++) {
        const struct report_case *c = &r->cases[i];
        int seen = 0;

        if (!c->matrix)
            continue;
        nrows++;
        for (int j = 0; j < r->ncases; j++) /* the catalogued row's transport first */
            if (!r->cases[j].matrix && !strcmp(S(r->cases[j].id), S(c->id))) {
                for (int t = 0; t < nt; t++)
                    seen |= !strcmp(tr[t], S(r->cases[j].transport));
                if (!seen && nt < 16)
                    tr[nt++] = S(r->cases[j].transport);
            }
        seen = 0;
        for (int t = 0; t < nt; t++)
            seen |= !strcmp(tr[t], S(c->transport));
        if (!seen && nt < 16)
            tr[nt++] = S(c->transport);
    }
    if (!nrows)
        return;
    fputs("<h2>Transport matrix</h2>\n<p class=\"dim\">The cases every transport must carry alike, "
          "run over each transport the profile claims (SKIP where it claims none).</p>\n"
          "<table class=\"cases matrix\"><thead><tr><th>ID</th><th>Title</th>", f);
    for (int t = 0; t < nt; t++) {
        fputs("<th>", f);
        esc(f, tr[t]);
        fputs("</th>", f);
    }
    fputs("</tr></thead><tbody>\n", f);
    for (int i = 0; i < r->ncases; i++) {
        const struct report_case *c = &r->cases[i];
        int first = 1;

        if (c->matrix)
            continue;
        for (int j = 0; j < r->ncases; j++)
            if (r->cases[j].matrix && !strcmp(S(r->cases[j].id), S(c->id)))
                first = 0;
        if (first) /* no matrix rows */
            continue;
        fputs("<tr><td class=\"id\">", f);
        esc(f, c->id);
        fputs("</td><td>", f);
        esc(f, c->title);
        fputs("</td>", f);
        for (int t = 0; t < nt; t++) {
            const struct report_case *cell = NULL;

            for (int j = 0; j < r->ncases; j++)
                if (!strcmp(S(r->cases[j].id), S(c->id)) && !strcmp(S(r->cases[j].transport), tr[t]))
                    cell = &r->cases[j];
            fputs("<td>", f);
            if (!cell) {
                fputs("&#8212;", f);
            } else if (cell->verdict == V_FAIL || cell->verdict == V_ERROR) {
                fputs("<a href=\"#", f);
                anchor(f, cell);
                fputs("\">", f);
                badge(f, cell->verdict);
                fputs("</a>", f);
            } else {
                badge(f, cell->verdict);
            }
            fputs("</td>", f);
        }
        fputs("</tr>\n", f);
    }
    fputs("</tbody></table>\n", f);
}

static void html_case(FILE *f, const char *dir, const struct report *r, const struct report_case *c)
{
    char tb[32];

    fprintf(f, "<section class=\"case %s\" id=\"", verdict_name(c->verdict));
    anchor(f, c);
    fputs("\">\n<h3>", f);
    badge(f, c->verdict);
    fputs(" ", f);
    esc(f, c->id);
    fputs(" &#8212; ", f);
    esc(f, c->title);
    fputs("</h3>\n<p class=\"dim\">", f);
    fputs("Spec ", f);
    esc(f, c->spec && c->spec[0] ? c->spec : "\xE2\x80\x94");
    fputs(" &#183; transport ", f);
    esc(f, c->transport && c->transport[0] ? c->transport : "\xE2\x80\x94");
    fprintf(f, " &#183; %s", fmt_secs(tb, sizeof(tb), c->seconds));
    if (c->verdict == V_ERROR)
        fputs(" &#183; a harness error: not counted against the port", f);
    fputs("</p>\n<div class=\"reason\">", f);
    esc(f, c->reason[0] ? c->reason : "(no reason recorded)");
    fputs("</div>\n", f);
    if (c->replay[0] || c->repro[0]) {
        fputs("<h4>Reproduce</h4>\n", f);
        if (c->repro[0]) {
            fputs("<p>Bundle (seed, fault plan, flash before and after, event log): <a href=\"", f);
            esc(f, c->repro);
            fputs("\"><code>", f);
            esc(f, c->repro);
            fputs("</code></a></p>\n", f);
        }
        if (c->replay[0]) {
            fputs("<pre class=\"cmd\">", f);
            esc(f, c->replay);
            fputs("</pre>\n", f);
        }
    }
    if (c->nchecks > 0) {
        fputs("<h4>Checks</h4>\n<table class=\"checks\"><tbody>\n", f);
        for (int k = 0; k < c->nchecks && k < RUN_CHECKS_MAX; k++) {
            fputs("<tr><td>", f);
            badge(f, c->checks[k].verdict);
            fputs("</td><td class=\"cid\">", f);
            esc(f, c->checks[k].id);
            fputs("</td><td>", f);
            esc(f, c->checks[k].detail);
            fputs("</td></tr>\n", f);
        }
        fputs("</tbody></table>\n", f);
    }
    fputs("<h4>Event timeline</h4>\n", f);
    html_timeline(f, dir, c);
    fputs("<h4>Flash</h4>\n", f);
    html_flash(f, dir, r, c);
    fputs("</section>\n", f);
}

int report_write_html(const struct report *r, const char *dir, char *err, size_t n)
{
    char path[4200];
    struct report_counts c;
    const char *status, **groups;
    struct mem m;
    int ng, nbad = 0;

    if (report_open(r, dir, "report.html", path, sizeof(path), &m, &groups, &ng, err, n) != 0)
        return -1;
    c = report_count(r);
    status = report_status(r, 0);

    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>", m.f);
    esc(m.f, r->port);
    fputs(" on ", m.f);
    esc(m.f, r->board ? r->board->name : "no board");
    fputs(": ", m.f);
    esc(m.f, status);
    fputs(" (otahil certification report)</title>\n<style>\n", m.f);
    fputs(html_css, m.f);
    fputs("</style>\n</head>\n<body>\n<div class=\"page\">\n", m.f);
    html_header(m.f, r, status, &c);
    html_counts(m.f, &c);
    html_matrix(m.f, r);
    html_groups(m.f, r, groups, ng);
    for (int i = 0; i < r->ncases; i++)
        nbad += r->cases[i].verdict == V_FAIL || r->cases[i].verdict == V_ERROR;
    if (nbad) {
        fprintf(m.f, "<h2>Failures and errors: %d</h2>\n", nbad);
        for (int i = 0; i < r->ncases; i++)
            if (r->cases[i].verdict == V_FAIL || r->cases[i].verdict == V_ERROR)
                html_case(m.f, dir, r, &r->cases[i]);
    }
    fputs("<footer>PASS: the port met every check of the case. FAIL: the port or the device broke "
          "the contract; the case shows the checks, the events and the flash that prove it. SKIP: "
          "the case needs something the profile does not claim. ERROR: the harness itself failed "
          "(a broker that died, a malformed board); it is never counted against the port, and the "
          "certificate stays incomplete until a rerun. A certificate needs every case PASS or SKIP, "
          "over the whole suite.<br>Written by otahil ", m.f);
    esc(m.f, r->version);
    fputs(" with results.json and junit.xml beside it", m.f);
    if (r->started && *r->started) {
        fputs("; run started ", m.f);
        esc(m.f, r->started);
    }
    fputs(".</footer>\n</div>\n</body>\n</html>\n", m.f);
    free(groups);
    return mem_commit(&m, path, err, n);
}
