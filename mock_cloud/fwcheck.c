/*
 * fwcheck.c - the served-file format check (see fwcheck.h): the AliOS
 * footer's magic, its image_size against the file's size, then its MD5
 * against the bytes before it, in the order a G1 device checks them after a
 * download (spec §6.2). Files are read through pread in 64 KiB pieces and
 * hashed with OpenSSL, as the firmware store hashes them.
 */
#include "mock_cloud/fwcheck.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FWCHECK_CHUNK 65536

/* Reads n bytes at off of the source into buf. 0, or -1 with errno. */
typedef int (*fwcheck_read_fn)(void *ctx, uint64_t off, void *buf, size_t n);

struct fwcheck_mem {
    const uint8_t *buf;
};

static int fwcheck_read_mem(void *ctx, uint64_t off, void *buf, size_t n)
{
    memcpy(buf, ((struct fwcheck_mem *)ctx)->buf + off, n);
    return 0;
}

static int fwcheck_read_fd(void *ctx, uint64_t off, void *buf, size_t n)
{
    int fd = *(int *)ctx;
    size_t got = 0;

    while (got < n) {
        ssize_t k = pread(fd, (uint8_t *)buf + got, n - got, (off_t)(off + got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        if (k == 0) {
            errno = EIO; /* the file shrank under us */
            return -1;
        }
        got += (size_t)k;
    }
    return 0;
}

static uint32_t fwcheck_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void fwcheck_hex(const uint8_t *d, unsigned n, char *out)
{
    static const char hx[] = "0123456789abcdef";

    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[2 * n] = '\0';
}

const char *fwcheck_magic_name(uint32_t magic)
{
    switch (magic) {
    case FWCHECK_MAGIC_APP: return "app";
    case FWCHECK_MAGIC_SINGLE: return "single";
    case FWCHECK_MAGIC_KERNEL: return "kernel";
    default: return NULL;
    }
}

static int fwcheck_io(struct fwcheck_report *r, int e)
{
    r->sys_errno = e;
    return r->result = FWCHECK_EIO;
}

static int fwcheck_run(fwcheck_read_fn rd, void *ctx, uint64_t size, struct fwcheck_report *r)
{
    uint8_t foot[FWCHECK_FOOTER_SIZE], d[EVP_MAX_MD_SIZE], *buf = NULL;
    unsigned dl = 0;
    EVP_MD_CTX *m = NULL;
    uint64_t len, off;

    memset(r, 0, sizeof(*r));
    r->file_size = size;
    if (size <= FWCHECK_FOOTER_SIZE)
        return r->result = FWCHECK_ESHORT;
    len = size - FWCHECK_FOOTER_SIZE;
    if (rd(ctx, len, foot, sizeof(foot)) != 0)
        return fwcheck_io(r, errno);
    r->magic = fwcheck_le32(foot);
    if (!fwcheck_magic_name(r->magic))
        return r->result = FWCHECK_EMAGIC;
    r->image_size = fwcheck_le32(foot + 4);
    fwcheck_hex(foot + 8, 16, r->md5_footer);
    if (r->image_size != len)
        return r->result = FWCHECK_ESIZE;

    buf = malloc(FWCHECK_CHUNK);
    m = EVP_MD_CTX_new();
    if (!buf || !m || !EVP_DigestInit_ex(m, EVP_md5(), NULL)) {
        free(buf);
        EVP_MD_CTX_free(m);
        return fwcheck_io(r, ENOMEM);
    }
    for (off = 0; off < len;) {
        size_t n = len - off < FWCHECK_CHUNK ? (size_t)(len - off) : FWCHECK_CHUNK;
        if (rd(ctx, off, buf, n) != 0) {
            int e = errno;
            free(buf);
            EVP_MD_CTX_free(m);
            return fwcheck_io(r, e);
        }
        EVP_DigestUpdate(m, buf, n);
        off += n;
    }
    EVP_DigestFinal_ex(m, d, &dl);
    free(buf);
    EVP_MD_CTX_free(m);
    fwcheck_hex(d, dl, r->md5_image);
    if (memcmp(d, foot + 8, 16) != 0)
        return r->result = FWCHECK_EMD5;
    return r->result = FWCHECK_OK;
}

int fwcheck_buf(const uint8_t *buf, size_t len, struct fwcheck_report *r)
{
    struct fwcheck_mem mem = { buf };

    return fwcheck_run(fwcheck_read_mem, &mem, len, r);
}

int fwcheck_fd(int fd, struct fwcheck_report *r)
{
    struct stat st;

    if (fstat(fd, &st) != 0) {
        int e = errno;
        memset(r, 0, sizeof(*r));
        return fwcheck_io(r, e);
    }
    if (!S_ISREG(st.st_mode)) {
        memset(r, 0, sizeof(*r));
        return fwcheck_io(r, EINVAL);
    }
    return fwcheck_run(fwcheck_read_fd, &fd, (uint64_t)st.st_size, r);
}

char *fwcheck_describe(const struct fwcheck_report *r, const char *name, char *buf, size_t n)
{
    switch (r->result) {
    case FWCHECK_OK:
        snprintf(buf, n, "%s: AliOS OTA image: %u bytes + 28-byte footer (magic 0x%08x, %s), MD5 %s",
                 name, r->image_size, r->magic, fwcheck_magic_name(r->magic), r->md5_image);
        break;
    case FWCHECK_ESHORT:
        snprintf(buf, n, "%s: %llu bytes, too short to hold the 28-byte AliOS OTA footer; serve the "
                 "*.ota.bin, not the serial image", name, (unsigned long long)r->file_size);
        break;
    case FWCHECK_EMAGIC:
        snprintf(buf, n, "%s: no AliOS OTA footer (last 28 bytes: magic 0x%08x, not 0xefefefef, "
                 "0xabababab or 0xcdcdcdcd); serve the *.ota.bin, not the serial image", name,
                 r->magic);
        break;
    case FWCHECK_ESIZE:
        snprintf(buf, n, "%s: AliOS OTA footer says image_size %u, but %llu bytes come before it "
                 "(a truncated or padded file, or a footer from another build)", name,
                 r->image_size, (unsigned long long)(r->file_size - FWCHECK_FOOTER_SIZE));
        break;
    case FWCHECK_EMD5:
        snprintf(buf, n, "%s: AliOS OTA footer MD5 %s, but the %u bytes before it have MD5 %s "
                 "(a badly generated OTA bin)", name, r->md5_footer, r->image_size, r->md5_image);
        break;
    default:
        snprintf(buf, n, "%s: cannot read: %s", name,
                 r->sys_errno == EINVAL ? "not a regular file" : strerror(r->sys_errno));
        break;
    }
    return buf;
}
