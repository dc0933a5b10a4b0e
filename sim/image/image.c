/*
 * image.c - builds and verifies otahil's synthetic firmware images.
 *
 * An image is a 128-byte header (magic, sizes, flags, payload seed, version,
 * target board, CRC-16/XMODEM of the header), a payload that is a pure
 * function of its seed (an xorshift32 stream: one step per 4 bytes, emitted
 * little-endian), and the 28-byte AliOS footer a device checks after a
 * download (magic 0xEFEFEFEF, image_size, MD5 of header + payload, then
 * 0xFFFF twice as the AliOS build tool leaves them). The layout is in
 * image.h.
 *
 * Verification reads through a callback in pieces of at most 512 bytes, the
 * way a device reads an OTA slot back, so it needs no buffer the size of the
 * image. The in-memory form uses the same path over a buffer.
 *
 * Freestanding: no OS calls, no allocation.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "CheckSumUtils.h"
#include "image.h"
#include "../crypto/md5.h"

#define IMAGE_CHUNK        512u /* bytes read per callback call while hashing */
#define IMAGE_SEED_DEFAULT 0x9E3779B9u

/* Header field offsets (image.h). */
#define H_MAGIC       0
#define H_HEADER_SIZE 8
#define H_FLAGS       12
#define H_PAYLOAD_LEN 16
#define H_SEED        20
#define H_VERSION     24
#define H_BOARD       88
#define H_RESERVED    112
#define H_CRC         126

/* Footer field offsets (shared/spec §6.2). */
#define F_MAGIC    0
#define F_SIZE     4
#define F_MD5      8
#define F_RESERVED 24
#define F_CRC16    26

/* Largest payload whose header + payload + footer still fits in 32 bits. */
#define IMAGE_MAX_PAYLOAD (0xFFFFFFFFu - IMAGE_HEADER_SIZE - IMAGE_FOOTER_SIZE)

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint16_t get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

/* Length of s up to max, without reading past max bytes. */
static size_t bounded_len(const char *s, size_t max)
{
    size_t n = 0;
    while (n < max && s[n] != '\0')
        n++;
    return n;
}

static uint16_t header_crc(const uint8_t *hdr)
{
    CRC16_Context c;
    uint16_t crc;

    CRC16_Init(&c);
    CRC16_Update(&c, hdr, H_CRC);
    CRC16_Final(&c, &crc);
    return crc;
}

static int spec_ok(const struct image_spec *s)
{
    size_t vlen;

    if (s == NULL || s->version == NULL)
        return 0;
    vlen = bounded_len(s->version, IMAGE_VERSION_LEN);
    if (vlen == 0 || vlen >= IMAGE_VERSION_LEN)
        return 0;
    if (s->board != NULL && bounded_len(s->board, IMAGE_BOARD_LEN + 1) > IMAGE_BOARD_LEN)
        return 0;
    if (s->flags & ~IMAGE_F_KNOWN)
        return 0;
    if (s->payload_len > IMAGE_MAX_PAYLOAD)
        return 0;
    return 1;
}

size_t image_total_size(const struct image_spec *s)
{
    if (s == NULL || s->payload_len > IMAGE_MAX_PAYLOAD)
        return 0;
    return (size_t)IMAGE_HEADER_SIZE + s->payload_len + IMAGE_FOOTER_SIZE;
}

/* The payload: xorshift32 (13, 17, 5), one step per 4 bytes, little-endian.
 * The last word is cut when len is not a multiple of 4. */
static void payload_fill(uint32_t seed, uint8_t *out, uint32_t len)
{
    uint32_t x = seed ? seed : IMAGE_SEED_DEFAULT;
    uint8_t word[4];
    uint32_t i, n;

    for (i = 0; i < len; i += 4) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        put_le32(word, x);
        n = len - i < 4 ? len - i : 4;
        memcpy(out + i, word, n);
    }
}

static int build(const struct image_spec *s, const uint8_t *payload, uint8_t *out, size_t outlen)
{
    uint8_t *hdr = out, *foot;
    struct md5_ctx md5;
    uint32_t image_size;

    if (!spec_ok(s))
        return IMAGE_EHEADER;
    if (out == NULL || outlen < image_total_size(s))
        return IMAGE_ESIZE;
    image_size = IMAGE_HEADER_SIZE + s->payload_len;

    memset(hdr, 0, IMAGE_HEADER_SIZE);
    memcpy(hdr + H_MAGIC, IMAGE_MAGIC, 8);
    put_le32(hdr + H_HEADER_SIZE, IMAGE_HEADER_SIZE);
    put_le32(hdr + H_FLAGS, s->flags);
    put_le32(hdr + H_PAYLOAD_LEN, s->payload_len);
    put_le32(hdr + H_SEED, s->seed);
    memcpy(hdr + H_VERSION, s->version, strlen(s->version));
    if (s->board != NULL)
        memcpy(hdr + H_BOARD, s->board, bounded_len(s->board, IMAGE_BOARD_LEN));
    put_le16(hdr + H_CRC, header_crc(hdr));

    if (payload != NULL)
        memcpy(out + IMAGE_HEADER_SIZE, payload, s->payload_len);
    else
        payload_fill(s->seed, out + IMAGE_HEADER_SIZE, s->payload_len);

    foot = out + image_size;
    put_le32(foot + F_MAGIC, IMAGE_FOOTER_MAGIC);
    put_le32(foot + F_SIZE, image_size);
    md5_init(&md5);
    md5_update(&md5, out, image_size);
    md5_final(&md5, foot + F_MD5);
    put_le16(foot + F_RESERVED, 0xFFFFu);
    put_le16(foot + F_CRC16, 0xFFFFu);
    return IMAGE_OK;
}

int image_build(const struct image_spec *s, uint8_t *out, size_t outlen)
{
    return build(s, NULL, out, outlen);
}

int image_wrap(const struct image_spec *s, const uint8_t *payload, uint8_t *out, size_t outlen)
{
    if (payload == NULL && s != NULL && s->payload_len > 0)
        return IMAGE_EHEADER;
    return build(s, payload, out, outlen);
}

/* Checks a header and fills info. IMAGE_OK, IMAGE_EMAGIC or IMAGE_EHEADER. */
static int header_check(const uint8_t *hdr, struct image_info *info)
{
    size_t vlen;

    if (memcmp(hdr + H_MAGIC, IMAGE_MAGIC, 8) != 0)
        return IMAGE_EMAGIC;
    if (get_le32(hdr + H_HEADER_SIZE) != IMAGE_HEADER_SIZE)
        return IMAGE_EHEADER;
    if (get_le16(hdr + H_CRC) != header_crc(hdr))
        return IMAGE_EHEADER;
    if (get_le32(hdr + H_FLAGS) & ~IMAGE_F_KNOWN)
        return IMAGE_EHEADER;
    vlen = bounded_len((const char *)hdr + H_VERSION, IMAGE_VERSION_LEN);
    if (vlen == 0 || vlen == IMAGE_VERSION_LEN)
        return IMAGE_EHEADER;

    memset(info, 0, sizeof(*info));
    info->flags = get_le32(hdr + H_FLAGS);
    info->payload_len = get_le32(hdr + H_PAYLOAD_LEN);
    info->seed = get_le32(hdr + H_SEED);
    memcpy(info->version, hdr + H_VERSION, vlen);
    memcpy(info->board, hdr + H_BOARD, bounded_len((const char *)hdr + H_BOARD, IMAGE_BOARD_LEN));
    return IMAGE_OK;
}

int image_parse_reader(int (*read)(void *ctx, uint32_t off, void *buf, uint32_t n),
                       void *ctx, uint32_t slot_len, struct image_info *info)
{
    uint8_t hdr[IMAGE_HEADER_SIZE];
    uint8_t foot[IMAGE_FOOTER_SIZE];
    uint8_t chunk[IMAGE_CHUNK];
    uint8_t md5[16];
    struct md5_ctx c;
    struct image_info local;
    uint32_t off, n;
    int rc;

    if (read == NULL)
        return IMAGE_EIO;
    if (info == NULL)
        info = &local;

    /* The magic alone decides "not an image", even in a short slot. */
    n = slot_len < 8 ? slot_len : 8;
    if (read(ctx, 0, hdr, n) != 0)
        return IMAGE_EIO;
    if (memcmp(hdr, IMAGE_MAGIC, n) != 0)
        return IMAGE_EMAGIC;
    if (slot_len < IMAGE_HEADER_SIZE)
        return IMAGE_ESIZE;
    if (read(ctx, 8, hdr + 8, IMAGE_HEADER_SIZE - 8) != 0)
        return IMAGE_EIO;
    rc = header_check(hdr, info);
    if (rc != IMAGE_OK)
        return rc;

    if (info->payload_len > IMAGE_MAX_PAYLOAD)
        return IMAGE_ESIZE;
    info->image_size = IMAGE_HEADER_SIZE + info->payload_len;
    info->total_size = info->image_size + IMAGE_FOOTER_SIZE;
    if (info->total_size > slot_len)
        return IMAGE_ESIZE;

    if (read(ctx, info->image_size, foot, IMAGE_FOOTER_SIZE) != 0)
        return IMAGE_EIO;
    if (get_le32(foot + F_MAGIC) != IMAGE_FOOTER_MAGIC)
        return IMAGE_EFOOTER;
    if (get_le32(foot + F_SIZE) != info->image_size)
        return IMAGE_EFOOTER;

    md5_init(&c);
    md5_update(&c, hdr, IMAGE_HEADER_SIZE);
    for (off = IMAGE_HEADER_SIZE; off < info->image_size; off += n) {
        n = info->image_size - off;
        if (n > IMAGE_CHUNK)
            n = IMAGE_CHUNK;
        if (read(ctx, off, chunk, n) != 0)
            return IMAGE_EIO;
        md5_update(&c, chunk, n);
    }
    md5_final(&c, md5);
    if (memcmp(md5, foot + F_MD5, sizeof(md5)) != 0)
        return IMAGE_EMD5;
    return IMAGE_OK;
}

struct membuf {
    const uint8_t *buf;
    uint32_t len;
};

static int membuf_read(void *ctx, uint32_t off, void *buf, uint32_t n)
{
    const struct membuf *m = ctx;

    if (n == 0)
        return 0;
    if (off > m->len || n > m->len - off)
        return -1;
    memcpy(buf, m->buf + off, n);
    return 0;
}

int image_parse(const uint8_t *buf, size_t len, struct image_info *info)
{
    struct membuf m;

    if (buf == NULL)
        len = 0;
    m.buf = buf;
    m.len = (uint32_t)len;
    if (m.len != len) /* a buffer beyond 4 GiB: the rest cannot matter */
        m.len = 0xFFFFFFFFu;
    return image_parse_reader(membuf_read, &m, m.len, info);
}

const char *image_strerror(int err)
{
    switch (err) {
    case IMAGE_OK:
        return "ok";
    case IMAGE_EMAGIC:
        return "not an otahil image (bad header magic)";
    case IMAGE_EHEADER:
        return "bad image header (CRC, size, flags or version)";
    case IMAGE_ESIZE:
        return "image larger than its buffer or slot";
    case IMAGE_EFOOTER:
        return "bad image footer (magic or size)";
    case IMAGE_EMD5:
        return "image MD5 does not match its footer";
    case IMAGE_EIO:
        return "read error while verifying the image";
    default:
        return "unknown image error";
    }
}
