/*
 * fwhead.c - the header block of a firmware response (see fwhead.h).
 *
 * The block is what the AliOS raw HTTP client can parse (spec §4.1): it
 * finds "Content-Length: " with a case-sensitive strstr and reads the number
 * after the space, so the header is always spelled exactly so; there is no
 * Transfer-Encoding; the whole block stays far below the device's first
 * 512-byte read. Written without the C library so that a freestanding peer
 * can use it too: the text is appended by hand and numbers are formatted in
 * decimal here.
 */
#include "mock_cloud/fwhead.h"

/* Appends to buf while it has room; len counts every byte asked for, so an
 * overflow shows as len + 1 > n at the end. */
struct fwh_out {
    char  *buf;   /* destination */
    size_t n;     /* its size in bytes */
    size_t len;   /* bytes appended (or that would have been) */
};

static void fwh_put(struct fwh_out *o, const char *s)
{
    for (; *s; s++, o->len++)
        if (o->len + 1 < o->n)
            o->buf[o->len] = *s;
}

static void fwh_u64(struct fwh_out *o, uint64_t v)
{
    char d[21];
    int i = 20;

    d[20] = '\0';
    do {
        d[--i] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v);
    fwh_put(o, d + i);
}

static int fwh_etag_ok(const char *e)
{
    for (; *e; e++)
        if ((unsigned char)*e < ' ' || (unsigned char)*e >= 0x7f || *e == '"' || *e == '\\')
            return 0;
    return 1;
}

int fw_response_head(char *buf, size_t n, int status, uint64_t first, uint64_t last,
                     uint64_t total, const char *etag)
{
    struct fwh_out o = { buf, n, 0 };

    if (n > 0)
        buf[0] = '\0';
    if ((status != 200 && status != 206 && status != 416) ||
        (status == 206 && (first > last || last >= total)) || (etag && !fwh_etag_ok(etag)))
        return -1;
    if (status == 416) {
        fwh_put(&o, "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\n"
                    "Content-Range: bytes */");
        fwh_u64(&o, total);
        fwh_put(&o, "\r\n");
    } else {
        fwh_put(&o, status == 200 ? "HTTP/1.1 200 OK\r\n" : "HTTP/1.1 206 Partial Content\r\n");
        fwh_put(&o, "Content-Type: application/octet-stream\r\nContent-Length: ");
        fwh_u64(&o, status == 200 ? total : last - first + 1);
        fwh_put(&o, "\r\n");
        if (status == 206) {
            fwh_put(&o, "Content-Range: bytes ");
            fwh_u64(&o, first);
            fwh_put(&o, "-");
            fwh_u64(&o, last);
            fwh_put(&o, "/");
            fwh_u64(&o, total);
            fwh_put(&o, "\r\n");
        }
    }
    fwh_put(&o, "Accept-Ranges: bytes\r\n");
    if (etag) {
        fwh_put(&o, "ETag: \"");
        fwh_put(&o, etag);
        fwh_put(&o, "\"\r\n");
    }
    fwh_put(&o, "Connection: close\r\n\r\n");
    if (o.len + 1 > n || o.len > 0x7fffffffu) {
        if (n > 0)
            buf[0] = '\0';
        return -1;
    }
    buf[o.len] = '\0';
    return (int)o.len;
}
