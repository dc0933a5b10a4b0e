/*
 * test_crc_digest.c - CRC16/CRC8 (CheckSumUtils.h), MD5 and SHA-256.
 *
 * Check values from the CRC catalogue, RFC 1321 and FIPS 180-4 examples,
 * the hosts' wide CRC16 paths against the table path at every length and
 * alignment, resume equivalence (a context saved mid-stream and restored
 * gives the same result as one pass), and cross-checks against OpenSSL EVP
 * on random data of many lengths fed in arbitrary chunks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "CheckSumUtils.h"
#include "sim/crypto/md5.h"
#include "sim/crypto/sha256.h"

static uint32_t rng_state = 0x2545F491u;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static void fill_random(uint8_t *p, size_t n)
{
    while (n--)
        *p++ = (uint8_t)rnd();
}

static void hex(const uint8_t *d, size_t n, char *out)
{
    size_t i;

    for (i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

/* Plain CRC-16/XMODEM, bit by bit, written independently of crc16.c. */
static uint16_t ref_xmodem(const uint8_t *p, size_t n)
{
    uint16_t c = 0;
    int b;

    while (n--) {
        c ^= (uint16_t)(*p++ << 8);
        for (b = 0; b < 8; b++)
            c = (c & 0x8000) ? (uint16_t)(c << 1 ^ 0x1021) : (uint16_t)(c << 1);
    }
    return c;
}

static uint16_t crc16_once(const void *p, size_t n)
{
    CRC16_Context c;
    uint16_t out = 0;

    CRC16_Init(&c);
    CRC16_Update(&c, p, n);
    CRC16_Final(&c, &out);
    return out;
}

static void test_crc16_check_value(void **state)
{
    (void)state;
    assert_int_equal(crc16_once("123456789", 9), 0x31C3);
    assert_int_equal(crc16_once("", 0), 0x0000);
    assert_int_equal(crc16_once("A", 1), ref_xmodem((const uint8_t *)"A", 1));
}

static void test_crc16_matches_reference(void **state)
{
    uint8_t buf[700];
    size_t n;

    (void)state;
    fill_random(buf, sizeof(buf));
    for (n = 0; n <= sizeof(buf); n += 7)
        assert_int_equal(crc16_once(buf, n), ref_xmodem(buf, n));
}

/* A port saves ctx.crc (before Final) at a breakpoint and assigns it back. */
static void test_crc16_resume(void **state)
{
    uint8_t buf[300];
    uint16_t whole, resumed;
    size_t cut;

    (void)state;
    fill_random(buf, sizeof(buf));
    whole = crc16_once(buf, sizeof(buf));
    for (cut = 0; cut <= sizeof(buf); cut++) {
        CRC16_Context a, b;
        uint16_t saved;

        CRC16_Init(&a);
        CRC16_Update(&a, buf, cut);
        saved = a.crc;
        memset(&a, 0x5A, sizeof(a));
        CRC16_Init(&b);
        b.crc = saved;
        CRC16_Update(&b, buf + cut, sizeof(buf) - cut);
        CRC16_Final(&b, &resumed);
        assert_int_equal(resumed, whole);
    }
}

/* The running (augmented) register is the same however the data is split:
 * long updates take the host's eight-bytes-per-step path, single bytes the
 * table path; a breakpoint saved from one resumes in the other. */
static void test_crc16_split_invariant(void **state)
{
    (void)state;
    static uint8_t b[5000];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(b); i++) {
        x = x * 1103515245u + 12345u;
        b[i] = (uint8_t)(x >> 16);
    }
    for (size_t split = 0; split < sizeof(b); split += 97) {
        CRC16_Context a, c;
        CRC16_Init(&a);
        CRC16_Init(&c);
        CRC16_Update(&a, b, split);
        CRC16_Update(&a, b + split, sizeof(b) - split);
        for (size_t i = 0; i < sizeof(b); i++)
            CRC16_Update(&c, b + i, 1);
        assert_int_equal(a.crc, c.crc);
    }
}

/* Every length up to 1100 at every alignment, from a non-zero register:
 * one update (the host's wide paths: 64 bytes per step with carry-less
 * multiplies on x86-64, 8 per step elsewhere) equals byte-at-a-time
 * updates (the table path); and a megabyte in 512-byte chunks, as the
 * bootloader reads, equals the bitwise reference. */
static void test_crc16_wide_paths(void **state)
{
    static uint8_t b[1100 + 16];
    static uint8_t big[1 << 20];

    (void)state;
    fill_random(b, sizeof(b));
    for (size_t align = 0; align < 16; align++) {
        for (size_t n = 0; n + align <= sizeof(b); n += n < 300 ? 1 : 13) {
            CRC16_Context wide, narrow;
            CRC16_Init(&wide);
            CRC16_Update(&wide, "seed", 4);
            narrow = wide;
            CRC16_Update(&wide, b + align, n);
            for (size_t i = 0; i < n; i++)
                CRC16_Update(&narrow, b + align + i, 1);
            assert_int_equal(wide.crc, narrow.crc);
        }
    }
    fill_random(big, sizeof(big));
    CRC16_Context c;
    uint16_t got;
    CRC16_Init(&c);
    for (size_t off = 0; off < sizeof(big); off += 512)
        CRC16_Update(&c, big + off, 512);
    CRC16_Final(&c, &got);
    assert_int_equal(got, ref_xmodem(big, sizeof(big)));
    memset(big, 0xFF, sizeof(big));
    assert_int_equal(crc16_once(big, sizeof(big)), ref_xmodem(big, sizeof(big)));
}

static void test_crc8(void **state)
{
    CRC8_Context c;
    uint8_t out = 0;

    (void)state;
    CRC8_Init(&c);
    CRC8_Update(&c, "123456789", 9);
    CRC8_Final(&c, &out);
    assert_int_equal(out, 0xA1); /* CRC-8/MAXIM-DOW check value */

    CRC8_Init(&c);
    CRC8_Update(&c, "1234", 4);
    CRC8_Update(&c, "56789", 5);
    CRC8_Final(&c, &out);
    assert_int_equal(out, 0xA1);

    CRC8_Init(&c);
    CRC8_Final(&c, &out);
    assert_int_equal(out, 0x00);
}

static void md5_hex(const void *p, size_t n, char out[33])
{
    struct md5_ctx c;
    uint8_t d[16];

    md5_init(&c);
    md5_update(&c, p, n);
    md5_final(&c, d);
    hex(d, 16, out);
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
    struct sha256_ctx c;
    uint8_t d[32];

    sha256_init(&c);
    sha256_update(&c, p, n);
    sha256_final(&c, d);
    hex(d, 32, out);
}

/* RFC 1321, appendix A.5. */
static void test_md5_rfc1321(void **state)
{
    static const char *const v[][2] = {
        {"", "d41d8cd98f00b204e9800998ecf8427e"},
        {"a", "0cc175b9c0f1b6a831c399e269772661"},
        {"abc", "900150983cd24fb0d6963f7d28e17f72"},
        {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
        {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
        {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
         "d174ab98d277d9f5a5611c2c9f419d9f"},
        {"1234567890123456789012345678901234567890123456789012345678901234567890123456789"
         "0",
         "57edf4a22be3c955ac49da2e2107b67a"},
    };
    char out[33];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        md5_hex(v[i][0], strlen(v[i][0]), out);
        assert_string_equal(out, v[i][1]);
    }
    /* One million 'a', in 1000-byte updates (a test vector widely used
     * alongside RFC 1321's). */
    {
        static uint8_t block[1000];
        struct md5_ctx c;
        uint8_t d[16];

        memset(block, 'a', sizeof(block));
        md5_init(&c);
        for (i = 0; i < 1000; i++)
            md5_update(&c, block, sizeof(block));
        md5_final(&c, d);
        hex(d, 16, out);
        assert_string_equal(out, "7707d6ae4e027c70eea2a935c2296f21");
    }
}

/* FIPS 180-4 examples (NIST CSRC "SHA256.pdf"). */
static void test_sha256_fips(void **state)
{
    char out[65];
    struct sha256_ctx c;
    uint8_t d[32], block[1000];
    int i;

    (void)state;
    sha256_hex("abc", 3, out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, out);
    assert_string_equal(out, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    sha256_hex("", 0, out);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

    memset(block, 'a', sizeof(block));
    sha256_init(&c);
    for (i = 0; i < 1000; i++)
        sha256_update(&c, block, sizeof(block));
    sha256_final(&c, d);
    hex(d, 32, out);
    assert_string_equal(out, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void evp_digest(const EVP_MD *md, const uint8_t *p, size_t n, uint8_t *out)
{
    unsigned int len = 0;

    assert_int_equal(EVP_Digest(p, n, out, &len, md, NULL), 1);
}

/* Feeds p in random chunks; halfway, the context is copied out as bytes
 * (as an agent persists it) and the rest goes into the restored copy. */
static void md5_chunked(const uint8_t *p, size_t n, uint8_t out[16])
{
    struct md5_ctx c, r;
    unsigned char saved[sizeof(c)];
    size_t done = 0;
    int restored = 0;

    md5_init(&c);
    while (done < n) {
        size_t take = 1 + rnd() % 150;

        if (take > n - done)
            take = n - done;
        md5_update(&c, p + done, take);
        done += take;
        if (!restored && done >= n / 2) {
            memcpy(saved, &c, sizeof(c));
            memset(&c, 0xA5, sizeof(c));
            memcpy(&r, saved, sizeof(r));
            c = r;
            restored = 1;
        }
    }
    md5_final(&c, out);
}

static void sha256_chunked(const uint8_t *p, size_t n, uint8_t out[32])
{
    struct sha256_ctx c, r;
    unsigned char saved[sizeof(c)];
    size_t done = 0;
    int restored = 0;

    sha256_init(&c);
    while (done < n) {
        size_t take = 1 + rnd() % 150;

        if (take > n - done)
            take = n - done;
        sha256_update(&c, p + done, take);
        done += take;
        if (!restored && done >= n / 2) {
            memcpy(saved, &c, sizeof(c));
            memset(&c, 0xA5, sizeof(c));
            memcpy(&r, saved, sizeof(r));
            c = r;
            restored = 1;
        }
    }
    sha256_final(&c, out);
}

static void test_digests_vs_openssl(void **state)
{
    static uint8_t buf[70000];
    uint8_t want[32], got[32];
    size_t n;

    (void)state;
    fill_random(buf, sizeof(buf));
    /* Every length around the padding boundaries, then larger steps. */
    for (n = 0; n < sizeof(buf); n = n < 200 ? n + 1 : n * 3 / 2 + 17) {
        evp_digest(EVP_md5(), buf, n, want);
        md5_chunked(buf, n, got);
        assert_memory_equal(got, want, 16);

        evp_digest(EVP_sha256(), buf, n, want);
        sha256_chunked(buf, n, got);
        assert_memory_equal(got, want, 32);
    }
    evp_digest(EVP_md5(), buf, sizeof(buf), want);
    md5_chunked(buf, sizeof(buf), got);
    assert_memory_equal(got, want, 16);
    evp_digest(EVP_sha256(), buf, sizeof(buf), want);
    sha256_chunked(buf, sizeof(buf), got);
    assert_memory_equal(got, want, 32);
}

static void test_digest_count(void **state)
{
    struct md5_ctx m;
    struct sha256_ctx s;
    uint8_t buf[100] = {0};

    (void)state;
    md5_init(&m);
    sha256_init(&s);
    md5_update(&m, buf, 70);
    md5_update(&m, buf, 30);
    sha256_update(&s, buf, 99);
    assert_int_equal(m.count, 100);
    assert_int_equal(s.count, 99);
    /* Zero-length updates, also with a NULL pointer, change nothing. */
    md5_update(&m, NULL, 0);
    sha256_update(&s, NULL, 0);
    assert_int_equal(m.count, 100);
    assert_int_equal(s.count, 99);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc16_check_value),
        cmocka_unit_test(test_crc16_matches_reference),
        cmocka_unit_test(test_crc16_resume),
        cmocka_unit_test(test_crc16_split_invariant),
        cmocka_unit_test(test_crc16_wide_paths),
        cmocka_unit_test(test_crc8),
        cmocka_unit_test(test_md5_rfc1321),
        cmocka_unit_test(test_sha256_fips),
        cmocka_unit_test(test_digests_vs_openssl),
        cmocka_unit_test(test_digest_count),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
