/*
 * test_image.c - synthetic firmware images (sim/image/image.c): build and
 * parse round trip, the payload stream, the exact header and footer bytes
 * (shared/spec §6.2), every rejection code, verification through a
 * read callback over a slot larger than the image, and an image wrapped
 * around a given payload (image_wrap: the QEMU target's programs).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "CheckSumUtils.h"
#include "sim/image/image.h"

#define PAYLOAD 3001u /* not a multiple of 4 nor of the 512-byte read chunk */

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* Bit-wise CRC-16/XMODEM written out here, independent of the library. */
static uint16_t xmodem(const uint8_t *p, size_t n)
{
    uint16_t crc = 0;
    while (n--) {
        crc ^= (uint16_t)(*p++ << 8);
        for (int i = 0; i < 8; i++)
            crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}

/* Rewrites the header CRC after a deliberate header change. */
static void reseal(uint8_t *img)
{
    uint16_t crc = xmodem(img, 126);
    img[126] = (uint8_t)crc;
    img[127] = (uint8_t)(crc >> 8);
}

static uint8_t *make(const char *version, const char *board, uint32_t len, uint32_t seed,
                     uint32_t flags, size_t *total)
{
    struct image_spec s = {version, board, len, seed, flags};
    size_t n = image_total_size(&s);
    uint8_t *buf = malloc(n);

    assert_non_null(buf);
    assert_int_equal(image_build(&s, buf, n), IMAGE_OK);
    *total = n;
    return buf;
}

static void test_round_trip(void **state)
{
    (void)state;
    size_t total;
    uint8_t *img = make("app-1.0.0-20180101.1000", "mk3060", PAYLOAD, 42, IMAGE_F_NEVER_CONFIRM, &total);
    struct image_info info;

    assert_int_equal(total, 128 + PAYLOAD + 28);
    memset(&info, 0xA5, sizeof(info));
    assert_int_equal(image_parse(img, total, &info), IMAGE_OK);
    assert_int_equal(info.flags, IMAGE_F_NEVER_CONFIRM);
    assert_int_equal(info.payload_len, PAYLOAD);
    assert_int_equal(info.seed, 42);
    assert_int_equal(info.image_size, 128 + PAYLOAD);
    assert_int_equal(info.total_size, 128 + PAYLOAD + 28);
    assert_string_equal(info.version, "app-1.0.0-20180101.1000");
    assert_string_equal(info.board, "mk3060");
    assert_int_equal(image_parse(img, total, NULL), IMAGE_OK);
    free(img);

    /* no board, empty payload, a board name using all 24 bytes */
    img = make("v", NULL, 0, 0, 0, &total);
    assert_int_equal(total, 156);
    assert_int_equal(image_parse(img, total, &info), IMAGE_OK);
    assert_string_equal(info.board, "");
    assert_int_equal(info.payload_len, 0);
    free(img);
    img = make("v", "abcdefghijklmnopqrstuvwx", 1, 0, IMAGE_F_KNOWN, &total);
    assert_int_equal(image_parse(img, total, &info), IMAGE_OK);
    assert_string_equal(info.board, "abcdefghijklmnopqrstuvwx");
    assert_int_equal(info.flags, IMAGE_F_CRASH_AT_BOOT | IMAGE_F_NEVER_CONFIRM);
    free(img);
}

static void test_payload_stream(void **state)
{
    (void)state;
    size_t t1, t2, t3, t4;
    uint8_t *a = make("v1", NULL, PAYLOAD, 7, 0, &t1);
    uint8_t *b = make("v1", NULL, PAYLOAD, 7, 0, &t2);
    uint8_t *c = make("v1", NULL, PAYLOAD, 8, 0, &t3);
    uint8_t *one = make("v1", NULL, 9, 1, 0, &t4);

    /* same spec, same bytes; another seed, another payload */
    assert_int_equal(t1, t2);
    assert_memory_equal(a, b, t1);
    assert_memory_not_equal(a + 128, c + 128, PAYLOAD);

    /* xorshift32 (13, 17, 5) from seed 1: 270369, 67634689, 2647435461,
     * emitted little-endian, the last word cut to the length */
    static const uint8_t want[9] = {0x21, 0x20, 0x04, 0x00, 0x01, 0x06, 0x08, 0x04, 0xC5};
    assert_memory_equal(one + 128, want, sizeof(want));
    free(a);
    free(b);
    free(c);
    free(one);

    /* seed 0 means the golden-ratio seed 0x9E3779B9 */
    a = make("v1", NULL, 64, 0, 0, &t1);
    b = make("v1", NULL, 64, 0x9E3779B9u, 0, &t2);
    assert_memory_equal(a + 128, b + 128, 64);
    free(a);
    free(b);
}

static void test_header_bytes(void **state)
{
    (void)state;
    size_t total;
    uint8_t *img = make("app-2.0", "developerkit", 100, 0x12345678, IMAGE_F_CRASH_AT_BOOT, &total);
    static const uint8_t zero[64] = {0};

    assert_memory_equal(img, "OTAHIMG1", 8);
    assert_int_equal(le32(img + 8), 128);
    assert_int_equal(le32(img + 12), IMAGE_F_CRASH_AT_BOOT);
    assert_int_equal(le32(img + 16), 100);
    assert_int_equal(le32(img + 20), 0x12345678);
    assert_string_equal((const char *)img + 24, "app-2.0");
    assert_memory_equal(img + 24 + 7, zero, 64 - 7);          /* NUL-padded */
    assert_string_equal((const char *)img + 88, "developerkit");
    assert_memory_equal(img + 88 + 12, zero, 24 - 12);
    assert_memory_equal(img + 112, zero, 14);                 /* reserved */
    assert_int_equal(img[126] | img[127] << 8, xmodem(img, 126));
    free(img);
}

/* The AliOS footer exactly as shared/spec §6.2 lays it out. */
static void test_footer_fields(void **state)
{
    (void)state;
    size_t total;
    uint8_t *img = make("app-1.1.0", NULL, PAYLOAD, 99, 0, &total);
    const uint8_t *f = img + 128 + PAYLOAD;
    uint8_t md5[16];
    unsigned int mdlen = 0;

    assert_int_equal(total - 28, 128 + PAYLOAD);
    assert_int_equal(f[0], 0xEF);                               /* image_magic */
    assert_int_equal(le32(f), 0xEFEFEFEFu);
    assert_int_equal(le32(f + 4), 128 + PAYLOAD);              /* image_size: bin without footer */
    assert_int_equal(EVP_Digest(img, 128 + PAYLOAD, md5, &mdlen, EVP_md5(), NULL), 1);
    assert_int_equal(mdlen, 16);
    assert_memory_equal(f + 8, md5, 16);                       /* image_md5_value, raw */
    assert_int_equal(f[24], 0xFF);                             /* image_reserver */
    assert_int_equal(f[25], 0xFF);
    assert_int_equal(f[26], 0xFF);                             /* image_crc16, not computed */
    assert_int_equal(f[27], 0xFF);
    free(img);
}

static void test_build_rejects(void **state)
{
    (void)state;
    uint8_t buf[512];
    char v64[65];
    struct image_spec s = {"ok", NULL, 16, 1, 0};

    memset(v64, 'a', 64);
    v64[64] = '\0';
    assert_int_equal(image_total_size(&s), 128 + 16 + 28);
    assert_int_equal(image_build(&s, buf, image_total_size(&s) - 1), IMAGE_ESIZE);
    assert_int_equal(image_build(&s, buf, sizeof(buf)), IMAGE_OK);

    s.version = "";
    assert_int_equal(image_build(&s, buf, sizeof(buf)), IMAGE_EHEADER);
    s.version = NULL;
    assert_int_equal(image_build(&s, buf, sizeof(buf)), IMAGE_EHEADER);
    s.version = v64;                                  /* 64 chars: no room for the NUL */
    assert_int_equal(image_build(&s, buf, sizeof(buf)), IMAGE_EHEADER);
    v64[63] = '\0';                                   /* 63 chars: the longest */
    assert_int_equal(image_build(&s, buf, sizeof(buf)), IMAGE_OK);
    s.version = "ok";
    s.flags = 0x4;
    assert_int_equal(image_build(&s, buf, sizeof(buf)), IMAGE_EHEADER);
    s.flags = 0;
    s.board = "abcdefghijklmnopqrstuvwxy";            /* 25 chars */
    assert_int_equal(image_build(&s, buf, sizeof(buf)), IMAGE_EHEADER);
    s.board = NULL;
    s.payload_len = 0xFFFFFFFFu - 150;                /* image_size would not fit 32 bits */
    assert_int_equal(image_total_size(&s), 0);
    assert_int_equal(image_build(&s, buf, sizeof(buf)), IMAGE_EHEADER);
}

/* Each defect, named after what it breaks, and the code it must produce. */
static void test_parse_rejects(void **state)
{
    (void)state;
    size_t total;
    uint8_t *good = make("app-1.0.0", "native", PAYLOAD, 5, 0, &total);
    uint8_t *img = malloc(total + 64);
    struct image_info info;
    const size_t foot = 128 + PAYLOAD;

    assert_non_null(img);
#define FRESH() memcpy(img, good, total)

    FRESH(); img[0] ^= 1;                                   /* header-magic */
    assert_int_equal(image_parse(img, total, &info), IMAGE_EMAGIC);
    memset(img, 0xFF, total);                               /* erased slot */
    assert_int_equal(image_parse(img, total, &info), IMAGE_EMAGIC);
    FRESH();
    assert_int_equal(image_parse(img, 4, &info), IMAGE_ESIZE);      /* magic fits, header does not */
    assert_int_equal(image_parse(img, 127, &info), IMAGE_ESIZE);
    assert_int_equal(image_parse(img, 0, &info), IMAGE_ESIZE);

    FRESH(); img[30] ^= 0x20;                               /* header-crc */
    assert_int_equal(image_parse(img, total, &info), IMAGE_EHEADER);
    FRESH(); img[126] ^= 1;
    assert_int_equal(image_parse(img, total, &info), IMAGE_EHEADER);

    FRESH(); put32(img + 8, 256); reseal(img);              /* header-size */
    assert_int_equal(image_parse(img, total, &info), IMAGE_EHEADER);

    FRESH(); put32(img + 12, 0x8); reseal(img);             /* header-flags-unknown */
    assert_int_equal(image_parse(img, total, &info), IMAGE_EHEADER);

    FRESH(); memset(img + 24, 0, 64); reseal(img);          /* version-empty */
    assert_int_equal(image_parse(img, total, &info), IMAGE_EHEADER);
    FRESH(); memset(img + 24, 'x', 64); reseal(img);        /* version-unterminated */
    assert_int_equal(image_parse(img, total, &info), IMAGE_EHEADER);
    FRESH(); memset(img + 24, 'x', 63); reseal(img);        /* 63 chars + NUL is fine */
    assert_int_equal(image_parse(img, total, &info), IMAGE_EMD5);   /* header changed after hashing */

    FRESH();                                                /* truncated: declared size beyond buffer */
    assert_int_equal(image_parse(img, total - 1, &info), IMAGE_ESIZE);
    assert_int_equal(image_parse(img, foot, &info), IMAGE_ESIZE);
    FRESH(); put32(img + 16, PAYLOAD + 100); reseal(img);   /* payload_len beyond buffer */
    assert_int_equal(image_parse(img, total, &info), IMAGE_ESIZE);
    FRESH(); put32(img + 16, 0xFFFFFFF0u); reseal(img);     /* payload_len overflowing 32 bits */
    assert_int_equal(image_parse(img, total, &info), IMAGE_ESIZE);

    FRESH(); img[foot] = 0xAB;                              /* footer-magic */
    assert_int_equal(image_parse(img, total, &info), IMAGE_EFOOTER);
    FRESH(); put32(img + foot + 4, 128 + PAYLOAD - 1);      /* footer-size */
    assert_int_equal(image_parse(img, total, &info), IMAGE_EFOOTER);

    FRESH(); img[128 + PAYLOAD / 2] ^= 0x01;                /* payload-corrupt */
    memset(&info, 0, sizeof(info));
    assert_int_equal(image_parse(img, total, &info), IMAGE_EMD5);
    assert_string_equal(info.version, "app-1.0.0");         /* info describes the failed image */
    assert_int_equal(info.total_size, total);
    FRESH(); img[foot + 8] ^= 0x80;                         /* footer-md5 */
    assert_int_equal(image_parse(img, total, &info), IMAGE_EMD5);

    FRESH(); memset(img + total, 0x5A, 64);                 /* trailing bytes are ignored */
    assert_int_equal(image_parse(img, total + 64, &info), IMAGE_OK);
#undef FRESH
    free(img);
    free(good);
}

struct slot {
    const uint8_t *mem;
    uint32_t len;
    uint32_t max_read;  /* largest single read */
    uint32_t calls;
    uint32_t fail_at;   /* fail the read covering this offset (0: never) */
};

static int slot_read(void *ctx, uint32_t off, void *buf, uint32_t n)
{
    struct slot *s = ctx;

    s->calls++;
    assert_true(off <= s->len && n <= s->len - off); /* never outside the slot */
    if (n > s->max_read)
        s->max_read = n;
    if (s->fail_at && off <= s->fail_at && s->fail_at < off + n)
        return -1;
    memcpy(buf, s->mem + off, n);
    return 0;
}

static void test_reader_slot(void **state)
{
    (void)state;
    size_t total;
    uint8_t *img = make("app-3.0.0", NULL, 20000, 11, 0, &total);
    const uint32_t slot_len = 0x10000;
    uint8_t *mem = malloc(slot_len);
    struct slot s = {0};
    struct image_info info;

    assert_non_null(mem);
    memset(mem, 0xFF, slot_len);                 /* an erased slot holding the image */
    memcpy(mem, img, total);
    s.mem = mem;
    s.len = slot_len;
    assert_int_equal(image_parse_reader(slot_read, &s, slot_len, &info), IMAGE_OK);
    assert_int_equal(info.total_size, total);
    assert_string_equal(info.version, "app-3.0.0");
    assert_true(s.max_read <= 512);              /* bounded memory: 512-byte pieces */
    assert_true(s.calls >= (20000 + 128) / 512);

    /* the slot is the bound: an image that does not fit is refused unread */
    memset(&s, 0, sizeof(s));
    s.mem = mem;
    s.len = (uint32_t)total - 1;
    assert_int_equal(image_parse_reader(slot_read, &s, (uint32_t)total - 1, &info), IMAGE_ESIZE);

    /* a failing read is IMAGE_EIO, whichever part it hits */
    uint32_t at[] = {3, 100, 128 + 9000, (uint32_t)total - 5};
    for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
        memset(&s, 0, sizeof(s));
        s.mem = mem;
        s.len = slot_len;
        s.fail_at = at[i];
        assert_int_equal(image_parse_reader(slot_read, &s, slot_len, &info), IMAGE_EIO);
    }
    assert_int_equal(image_parse_reader(NULL, &s, slot_len, &info), IMAGE_EIO);

    /* corruption seen through the callback as through memory */
    mem[128 + 19999] ^= 0x10;
    memset(&s, 0, sizeof(s));
    s.mem = mem;
    s.len = slot_len;
    assert_int_equal(image_parse_reader(slot_read, &s, slot_len, &info), IMAGE_EMD5);
    free(mem);
    free(img);
}

/* image_wrap: the payload is the given bytes, header and footer as image_build's. */
static void test_wrap_payload(void **state)
{
    (void)state;
    uint8_t prog[PAYLOAD];
    for (size_t i = 0; i < sizeof(prog); i++)
        prog[i] = (uint8_t)(i * 7u + 3u);
    struct image_spec s = { "app-2.0.0-20260101.1200", NULL, PAYLOAD, 0, IMAGE_F_CRASH_AT_BOOT };
    size_t len = image_total_size(&s);
    uint8_t *img = malloc(len), *gen = malloc(len);
    assert_non_null(img);
    assert_non_null(gen);
    assert_int_equal(image_wrap(&s, prog, img, len), IMAGE_OK);
    assert_memory_equal(img + IMAGE_HEADER_SIZE, prog, PAYLOAD);
    struct image_info info;
    assert_int_equal(image_parse(img, len, &info), IMAGE_OK);
    assert_string_equal(info.version, "app-2.0.0-20260101.1200");
    assert_int_equal(info.flags, IMAGE_F_CRASH_AT_BOOT);
    assert_int_equal(info.payload_len, PAYLOAD);
    /* the header is image_build's for the same spec; the payload is not the seed's */
    assert_int_equal(image_build(&s, gen, len), IMAGE_OK);
    assert_memory_equal(img, gen, IMAGE_HEADER_SIZE);
    assert_memory_not_equal(img + IMAGE_HEADER_SIZE, gen + IMAGE_HEADER_SIZE, PAYLOAD);
    /* the MD5 covers the program: one flipped byte fails */
    img[IMAGE_HEADER_SIZE + 100] ^= 1;
    assert_int_equal(image_parse(img, len, NULL), IMAGE_EMD5);
    /* no payload for a non-empty one, a short buffer, a bad spec */
    assert_int_equal(image_wrap(&s, NULL, img, len), IMAGE_EHEADER);
    assert_int_equal(image_wrap(&s, prog, img, len - 1), IMAGE_ESIZE);
    struct image_spec bad = s;
    bad.flags = 0x80;
    assert_int_equal(image_wrap(&bad, prog, img, len), IMAGE_EHEADER);
    free(img);
    free(gen);
}

static void test_strerror(void **state)
{
    (void)state;
    int codes[] = {IMAGE_OK, IMAGE_EMAGIC, IMAGE_EHEADER, IMAGE_ESIZE, IMAGE_EFOOTER, IMAGE_EMD5, IMAGE_EIO};
    size_t n = sizeof(codes) / sizeof(codes[0]);

    for (size_t i = 0; i < n; i++) {
        assert_non_null(image_strerror(codes[i]));
        assert_true(strlen(image_strerror(codes[i])) > 0);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(image_strerror(codes[i]), image_strerror(codes[j]));
    }
    assert_string_equal(image_strerror(-99), "unknown image error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_payload_stream),
        cmocka_unit_test(test_header_bytes),
        cmocka_unit_test(test_footer_fields),
        cmocka_unit_test(test_build_rejects),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_reader_slot),
        cmocka_unit_test(test_wrap_payload),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
