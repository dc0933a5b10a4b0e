/*
 * proxy_spec.c - the textual form of transport faults (docs/faults.md),
 * part of the proxy module (mock_cloud/proxy.h): parsing, the canonical
 * form, and the parameter checks proxy_set_faults() applies.
 *
 *   DIR ":" [ "conn=" K ":" ] FAULT [ "=" VALUE ] { "," KEY "=" VALUE }
 *
 * A duration always carries its unit (us, ms, s); a bare number is a byte
 * count. That is what tells reset_after=5000 (bytes) from reset_after=5s.
 */
#include "mock_cloud/proxy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PX_SPEC_MAX     256                       /* longest spec accepted */
#define PX_DUR_MAX_US   (86400ull * 1000000ull)   /* one day */
#define PX_WINDOW_MAX   1000u                     /* reorder window */
#define PX_HOLD_DEFAULT 100000u                   /* reorder hold, us */

static const char px_fault_list[] =
    "latency, bandwidth, slicer, close_after, reset, reset_after, blackhole, loss, dup, reorder";
static const char px_udp_list[] = "latency, bandwidth, blackhole, loss, dup, reorder";

const char *proxy_fault_name(enum proxy_fault_type t)
{
    switch (t) {
    case PROXY_F_LATENCY:     return "latency";
    case PROXY_F_BANDWIDTH:   return "bandwidth";
    case PROXY_F_SLICER:      return "slicer";
    case PROXY_F_CLOSE_AFTER: return "close_after";
    case PROXY_F_RESET:       return "reset";
    case PROXY_F_BLACKHOLE:   return "blackhole";
    case PROXY_F_LOSS:        return "loss";
    case PROXY_F_DUP:         return "dup";
    case PROXY_F_REORDER:     return "reorder";
    }
    return "?";
}

static int px_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int px_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* ---- values ---- */

/* A byte count: digits and an optional unit (B; K, KiB, M, MiB, G, GiB are
 * powers of 1024; kB/KB, MB, GB powers of 1000). With rate, "/s" may
 * follow. 0 or -1. */
static int px_parse_size(const char *s, int rate, uint64_t *out)
{
    static const struct {
        const char *unit;
        uint64_t    mul;
    } units[] = {
        { "", 1 },           { "B", 1 },
        { "K", 1024 },       { "KiB", 1024 },       { "kB", 1000 },       { "KB", 1000 },
        { "M", 1 << 20 },    { "MiB", 1 << 20 },    { "MB", 1000000 },
        { "G", 1ull << 30 }, { "GiB", 1ull << 30 }, { "GB", 1000000000 },
    };
    char unit[8];
    unsigned long long v;
    char *end;
    size_t ul;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    ul = strlen(end);
    if (rate && ul >= 2 && strcmp(end + ul - 2, "/s") == 0)
        ul -= 2;
    if (ul >= sizeof unit)
        return -1;
    memcpy(unit, end, ul);
    unit[ul] = '\0';
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(unit, units[i].unit) == 0) {
            if (v > UINT64_MAX / units[i].mul)
                return -1;
            *out = v * units[i].mul;
            return 0;
        }
    }
    return -1;
}

/* A duration: a decimal number and a unit (us, ms, s), a whole number of
 * microseconds, at most a day. 0, -1 (not a number or bad unit), -2 (no
 * unit), -3 (out of range or not whole microseconds). */
static int px_parse_dur(const char *s, uint64_t *us)
{
    double v, mul;
    uint64_t r;
    char *end;

    if ((*s < '0' || *s > '9') && *s != '.')
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || !(v >= 0 && v < 1e300))
        return -1;
    if (*end == '\0')
        return -2;
    if (strcmp(end, "us") == 0)
        mul = 1;
    else if (strcmp(end, "ms") == 0)
        mul = 1e3;
    else if (strcmp(end, "s") == 0)
        mul = 1e6;
    else
        return -1;
    v *= mul;
    if (v > (double)PX_DUR_MAX_US)
        return -3;
    r = (uint64_t)(v + 0.5);
    if (v - (double)r > 1e-6 || (double)r - v > 1e-6)
        return -3;
    *us = r;
    return 0;
}

/* A probability: 0..1, or 0%..100%. 0 or -1. */
static int px_parse_prob(const char *s, double *p)
{
    char *end;
    double v;

    if ((*s < '0' || *s > '9') && *s != '.')
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || !(v >= 0 && v < 1e300))
        return -1;
    if (*end == '%') {
        v /= 100.0;
        end++;
    }
    if (*end || v < 0.0 || v > 1.0)
        return -1;
    *p = v;
    return 0;
}

static int px_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    unsigned long long v;
    char *end;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int px_dur_err(int rc, const char *key, const char *val, char *err, size_t errlen)
{
    if (rc == -2)
        return px_err(err, errlen, "%s '%s': a duration needs a unit (us, ms or s)", key, val);
    if (rc == -3)
        return px_err(err, errlen, "%s '%s': out of range (whole microseconds, at most a day)", key, val);
    return px_err(err, errlen, "%s '%s': not a duration (e.g. 20ms, 1.5s, 200us)", key, val);
}

/* ---- parse ---- */

static int px_fault_type(const char *name, enum proxy_fault_type *t, int *reset_after)
{
    static const struct {
        const char           *name;
        enum proxy_fault_type type;
    } names[] = {
        { "latency", PROXY_F_LATENCY },         { "delay", PROXY_F_LATENCY },
        { "bandwidth", PROXY_F_BANDWIDTH },     { "slicer", PROXY_F_SLICER },
        { "close_after", PROXY_F_CLOSE_AFTER }, { "reset", PROXY_F_RESET },
        { "reset_after", PROXY_F_RESET },       { "blackhole", PROXY_F_BLACKHOLE },
        { "loss", PROXY_F_LOSS },               { "dup", PROXY_F_DUP },
        { "duplicate", PROXY_F_DUP },           { "reorder", PROXY_F_REORDER },
    };

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i].name) == 0) {
            *t = names[i].type;
            *reset_after = strcmp(name, "reset_after") == 0;
            return 0;
        }
    }
    return -1;
}

static int px_parse_conn(const char *v, uint32_t *conn, char *err, size_t errlen)
{
    if (px_parse_u32(v, 1, UINT32_MAX, conn) != 0)
        return px_err(err, errlen, "conn '%s': not a connection number (1, 2, ...)", v);
    return 0;
}

/* The value of the fault's own item (FAULT=VALUE). */
static int px_parse_main(struct proxy_fault *f, const char *name, const char *v, int reset_after,
                         char *err, size_t errlen)
{
    int rc;

    switch (f->type) {
    case PROXY_F_RESET:
        if (!reset_after) {
            if (v)
                return px_err(err, errlen, "reset takes no value (reset_after=BYTES or "
                              "reset_after=DURATION)");
            return 0;
        }
        if (!v)
            return px_err(err, errlen, "reset_after needs a value (reset_after=5000 bytes or "
                          "reset_after=200ms)");
        if (px_parse_size(v, 0, &f->u.reset.bytes) == 0) {
            if (f->u.reset.bytes == 0)
                return px_err(err, errlen, "reset_after '%s': at least 1 byte (reset resets now)", v);
            return 0;
        }
        rc = px_parse_dur(v, &f->u.reset.after_us);
        if (rc == -2)
            rc = -1;
        return rc ? px_dur_err(rc, "reset_after", v, err, errlen) : 0;
    case PROXY_F_BLACKHOLE:
        if (!v)
            return 0;
        rc = px_parse_dur(v, &f->u.blackhole.close_us);
        return rc ? px_dur_err(rc, "blackhole", v, err, errlen) : 0;
    default:
        break;
    }
    if (!v)
        return px_err(err, errlen, "%s needs a value (%s)", name,
                      f->type == PROXY_F_LATENCY ? "latency=20ms" :
                      f->type == PROXY_F_BANDWIDTH ? "bandwidth=64KiB" :
                      f->type == PROXY_F_SLICER ? "slicer=64/16/200us" :
                      f->type == PROXY_F_CLOSE_AFTER ? "close_after=1000" : "a probability, 0.2 or 20%");
    switch (f->type) {
    case PROXY_F_LATENCY:
        rc = px_parse_dur(v, &f->u.latency.us);
        return rc ? px_dur_err(rc, name, v, err, errlen) : 0;
    case PROXY_F_BANDWIDTH:
        if (px_parse_size(v, 1, &f->u.bandwidth.bps) != 0)
            return px_err(err, errlen, "bandwidth '%s': not a rate in bytes per second (65536, 64KiB, "
                          "1MB/s)", v);
        return 0;
    case PROXY_F_SLICER: {
        char buf[PX_SPEC_MAX], *var = NULL, *delay = NULL;
        uint64_t avg, vr = 0;

        snprintf(buf, sizeof buf, "%s", v);
        var = strchr(buf, '/');
        if (var) {
            *var++ = '\0';
            delay = strchr(var, '/');
            if (delay)
                *delay++ = '\0';
        }
        if (px_parse_size(buf, 0, &avg) != 0 || avg == 0 || avg > UINT32_MAX)
            return px_err(err, errlen, "slicer '%s': average size '%s' is not a byte count of 1 or "
                          "more", v, buf);
        if (var && (px_parse_size(var, 0, &vr) != 0 || vr >= avg))
            return px_err(err, errlen, "slicer '%s': variation '%s' is not a byte count below the "
                          "average", v, var);
        if (delay && (rc = px_parse_dur(delay, &f->u.slicer.delay_us)) != 0)
            return px_dur_err(rc, "slicer delay", delay, err, errlen);
        f->u.slicer.avg = (uint32_t)avg;
        f->u.slicer.var = (uint32_t)vr;
        return 0;
    }
    case PROXY_F_CLOSE_AFTER:
        if (px_parse_size(v, 0, &f->u.close_after.bytes) != 0)
            return px_err(err, errlen, "close_after '%s': not a byte count", v);
        return 0;
    case PROXY_F_LOSS:
    case PROXY_F_DUP:
    case PROXY_F_REORDER: {
        double *p = f->type == PROXY_F_LOSS ? &f->u.loss.p :
                    f->type == PROXY_F_DUP ? &f->u.dup.p : &f->u.reorder.p;
        if (px_parse_prob(v, p) != 0)
            return px_err(err, errlen, "%s '%s': not a probability (0..1 or 0%%..100%%)", name, v);
        return 0;
    }
    default:
        return px_err(err, errlen, "%s: internal error", name);
    }
}

/* A KEY=VALUE after the fault's own item. */
static int px_parse_param(struct proxy_fault *f, const char *fname, const char *k, const char *v,
                          unsigned *seen, char *err, size_t errlen)
{
    unsigned bit;
    int rc;

    if (strcmp(k, "conn") == 0)
        bit = 1u;
    else if (f->type == PROXY_F_LATENCY && strcmp(k, "jitter") == 0)
        bit = 2u;
    else if (f->type == PROXY_F_REORDER && strcmp(k, "window") == 0)
        bit = 4u;
    else if (f->type == PROXY_F_REORDER && strcmp(k, "hold") == 0)
        bit = 8u;
    else
        return px_err(err, errlen, "unknown key '%s' for %s (%s)", k, fname,
                      f->type == PROXY_F_LATENCY ? "jitter, conn" :
                      f->type == PROXY_F_REORDER ? "window, hold, conn" : "conn");
    if (*seen & bit)
        return px_err(err, errlen, "key '%s' given twice", k);
    *seen |= bit;
    if (!v || !*v)
        return px_err(err, errlen, "key '%s' needs a value", k);
    switch (bit) {
    case 1u:
        return px_parse_conn(v, &f->conn, err, errlen);
    case 2u:
        rc = px_parse_dur(v, &f->u.latency.jitter_us);
        return rc ? px_dur_err(rc, "jitter", v, err, errlen) : 0;
    case 4u:
        if (px_parse_u32(v, 1, PX_WINDOW_MAX, &f->u.reorder.window) != 0)
            return px_err(err, errlen, "window '%s': not a datagram count (1..%u)", v, PX_WINDOW_MAX);
        return 0;
    default:
        rc = px_parse_dur(v, &f->u.reorder.hold_us);
        if (rc == 0 && f->u.reorder.hold_us == 0)
            return px_err(err, errlen, "hold '%s': must be more than 0", v);
        return rc ? px_dur_err(rc, "hold", v, err, errlen) : 0;
    }
}

int proxy_fault_parse(const char *spec, struct proxy_fault *f, int *dir, char *err, size_t errlen)
{
    char buf[PX_SPEC_MAX], *colon, *rest, *item, *save = NULL, *eq;
    enum proxy_fault_type type;
    unsigned seen = 0;
    int udp = 0, reset_after, rc;
    const char *fname;

    memset(f, 0, sizeof *f);
    if (!spec || !*spec)
        return px_err(err, errlen, "empty fault spec");
    if (strlen(spec) >= sizeof buf)
        return px_err(err, errlen, "fault spec longer than %d characters", PX_SPEC_MAX - 1);
    memcpy(buf, spec, strlen(spec) + 1);

    colon = strchr(buf, ':');
    if (!colon)
        return px_err(err, errlen, "'%s': no direction (up:, down:, both: or udp:)", spec);
    *colon = '\0';
    rest = colon + 1;
    if (strcmp(buf, "up") == 0)
        *dir = PROXY_UP;
    else if (strcmp(buf, "down") == 0)
        *dir = PROXY_DOWN;
    else if (strcmp(buf, "both") == 0)
        *dir = PROXY_BOTH;
    else if (strcmp(buf, "udp") == 0) {
        *dir = PROXY_BOTH;
        udp = 1;
    } else
        return px_err(err, errlen, "direction '%s': not up, down, both or udp", buf);

    if (strncmp(rest, "conn=", 5) == 0) {
        colon = strchr(rest, ':');
        if (!colon)
            return px_err(err, errlen, "'%s': no fault after conn=", spec);
        *colon = '\0';
        if ((rc = px_parse_conn(rest + 5, &f->conn, err, errlen)) != 0)
            return rc;
        seen |= 1u;
        rest = colon + 1;
    }
    if (strchr(rest, ':'))
        return px_err(err, errlen, "'%s': one fault per spec (DIR:[conn=K:]FAULT,KEY=VALUE...)", spec);

    item = strtok_r(rest, ",", &save);
    if (!item || !*item)
        return px_err(err, errlen, "'%s': no fault after the direction", spec);
    eq = strchr(item, '=');
    if (eq)
        *eq++ = '\0';
    if (px_fault_type(item, &type, &reset_after) != 0)
        return px_err(err, errlen, "unknown fault '%s' (%s)", item, px_fault_list);
    fname = item;
    f->type = type;
    if (type == PROXY_F_REORDER) {
        f->u.reorder.window = 1;
        f->u.reorder.hold_us = PX_HOLD_DEFAULT;
    }
    if (udp && (type == PROXY_F_SLICER || type == PROXY_F_CLOSE_AFTER || type == PROXY_F_RESET))
        return px_err(err, errlen, "udp: %s is a TCP fault (udp: takes %s)", fname, px_udp_list);
    if ((rc = px_parse_main(f, fname, eq, reset_after, err, errlen)) != 0)
        return rc;
    if (udp && type == PROXY_F_BLACKHOLE && f->u.blackhole.close_us)
        return px_err(err, errlen, "udp: blackhole '%s': a datagram black hole has no close time", eq);

    while ((item = strtok_r(NULL, ",", &save)) != NULL) {
        eq = strchr(item, '=');
        if (eq)
            *eq++ = '\0';
        if ((rc = px_parse_param(f, fname, item, eq, &seen, err, errlen)) != 0)
            return rc;
    }
    return 0;
}

/* ---- canonical form ---- */

static const char *px_dur(uint64_t us, char *buf, size_t len)
{
    if (us && us % 1000000u == 0)
        snprintf(buf, len, "%llus", (unsigned long long)(us / 1000000u));
    else if (us && us % 1000u == 0)
        snprintf(buf, len, "%llums", (unsigned long long)(us / 1000u));
    else
        snprintf(buf, len, "%lluus", (unsigned long long)us);
    return buf;
}

/* The shortest decimal that reads back as p. */
static const char *px_prob(double p, char *buf, size_t len)
{
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, p);
        if (strtod(buf, NULL) == p)
            break;
    }
    return buf;
}

int proxy_fault_format(const struct proxy_fault *f, int dir, char *buf, size_t len)
{
    char a[32], b[32], conn[24] = "";
    const char *d = dir == PROXY_UP ? "up" : dir == PROXY_DOWN ? "down" : "both";

    if (f->conn)
        snprintf(conn, sizeof conn, "conn=%u:", f->conn);
    switch (f->type) {
    case PROXY_F_LATENCY:
        if (f->u.latency.jitter_us)
            return snprintf(buf, len, "%s:%slatency=%s,jitter=%s", d, conn,
                            px_dur(f->u.latency.us, a, sizeof a),
                            px_dur(f->u.latency.jitter_us, b, sizeof b));
        return snprintf(buf, len, "%s:%slatency=%s", d, conn, px_dur(f->u.latency.us, a, sizeof a));
    case PROXY_F_BANDWIDTH:
        return snprintf(buf, len, "%s:%sbandwidth=%llu", d, conn,
                        (unsigned long long)f->u.bandwidth.bps);
    case PROXY_F_SLICER:
        return snprintf(buf, len, "%s:%sslicer=%u/%u/%s", d, conn, f->u.slicer.avg, f->u.slicer.var,
                        px_dur(f->u.slicer.delay_us, a, sizeof a));
    case PROXY_F_CLOSE_AFTER:
        return snprintf(buf, len, "%s:%sclose_after=%llu", d, conn,
                        (unsigned long long)f->u.close_after.bytes);
    case PROXY_F_RESET:
        if (f->u.reset.bytes)
            return snprintf(buf, len, "%s:%sreset_after=%llu", d, conn,
                            (unsigned long long)f->u.reset.bytes);
        if (f->u.reset.after_us)
            return snprintf(buf, len, "%s:%sreset_after=%s", d, conn,
                            px_dur(f->u.reset.after_us, a, sizeof a));
        return snprintf(buf, len, "%s:%sreset", d, conn);
    case PROXY_F_BLACKHOLE:
        if (f->u.blackhole.close_us)
            return snprintf(buf, len, "%s:%sblackhole=%s", d, conn,
                            px_dur(f->u.blackhole.close_us, a, sizeof a));
        return snprintf(buf, len, "%s:%sblackhole", d, conn);
    case PROXY_F_LOSS:
        return snprintf(buf, len, "%s:%sloss=%s", d, conn, px_prob(f->u.loss.p, a, sizeof a));
    case PROXY_F_DUP:
        return snprintf(buf, len, "%s:%sdup=%s", d, conn, px_prob(f->u.dup.p, a, sizeof a));
    case PROXY_F_REORDER:
        return snprintf(buf, len, "%s:%sreorder=%s,window=%u,hold=%s", d, conn,
                        px_prob(f->u.reorder.p, a, sizeof a), f->u.reorder.window,
                        px_dur(f->u.reorder.hold_us, b, sizeof b));
    }
    if (len)
        buf[0] = '\0';
    return -EINVAL;
}

/* ---- checks ---- */

int proxy_fault_check(const struct proxy_fault *f, enum proxy_kind kind, char *err, size_t errlen)
{
    const char *name = proxy_fault_name(f->type);
    int tcp_only = 0, udp_only = 0;

    switch (f->type) {
    case PROXY_F_LATENCY:
        if (f->u.latency.us > PX_DUR_MAX_US || f->u.latency.jitter_us > PX_DUR_MAX_US)
            return px_err(err, errlen, "latency: delay and jitter are at most a day");
        break;
    case PROXY_F_BANDWIDTH:
        if (f->u.bandwidth.bps == 0)
            return px_err(err, errlen, "bandwidth: at least 1 byte per second");
        break;
    case PROXY_F_SLICER:
        tcp_only = 1;
        if (f->u.slicer.avg == 0 || f->u.slicer.var >= f->u.slicer.avg)
            return px_err(err, errlen, "slicer: average %u must be at least 1 and above the variation %u",
                          f->u.slicer.avg, f->u.slicer.var);
        if (f->u.slicer.delay_us > PX_DUR_MAX_US)
            return px_err(err, errlen, "slicer: delay is at most a day");
        break;
    case PROXY_F_CLOSE_AFTER:
        tcp_only = 1;
        break;
    case PROXY_F_RESET:
        tcp_only = 1;
        if (f->u.reset.after_us > PX_DUR_MAX_US)
            return px_err(err, errlen, "reset: delay is at most a day");
        break;
    case PROXY_F_BLACKHOLE:
        if (f->u.blackhole.close_us > PX_DUR_MAX_US)
            return px_err(err, errlen, "blackhole: close time is at most a day");
        if (kind == PROXY_UDP && f->u.blackhole.close_us)
            return px_err(err, errlen, "blackhole: a datagram black hole has no close time");
        break;
    case PROXY_F_LOSS:
    case PROXY_F_DUP:
    case PROXY_F_REORDER: {
        double p = f->type == PROXY_F_LOSS ? f->u.loss.p :
                   f->type == PROXY_F_DUP ? f->u.dup.p : f->u.reorder.p;
        udp_only = 1;
        if (!(p >= 0.0 && p <= 1.0))
            return px_err(err, errlen, "%s: probability %g is not within 0..1", name, p);
        if (f->type == PROXY_F_REORDER &&
            (f->u.reorder.window < 1 || f->u.reorder.window > PX_WINDOW_MAX ||
             f->u.reorder.hold_us < 1 || f->u.reorder.hold_us > PX_DUR_MAX_US))
            return px_err(err, errlen, "reorder: window 1..%u and hold 1 us..1 day", PX_WINDOW_MAX);
        break;
    }
    default:
        return px_err(err, errlen, "unknown fault type %d", (int)f->type);
    }
    if (tcp_only && kind != PROXY_TCP)
        return px_err(err, errlen, "%s is a TCP fault; this proxy forwards UDP", name);
    if (udp_only && kind != PROXY_UDP)
        return px_err(err, errlen, "%s is a datagram fault; this proxy forwards TCP", name);
    return 0;
}
