/*
 * test_hmac.c - SHA-1 (sim/crypto/sha1.c) and HMAC-SHA1, HMAC-SHA256,
 * HMAC-MD5 (sim/crypto/hmac.c), the device side's own.
 *
 * SHA-1 against the FIPS 180 examples (one block, two blocks, a million
 * 'a'), HMAC against every test case of RFC 2202 (SHA-1 and MD5, keys
 * shorter and longer than a block) and RFC 4231 (SHA-256, test case 5 on
 * its first 128 bits), then all of them against OpenSSL on random keys and
 * messages of many lengths fed in random pieces.
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
#include <openssl/hmac.h>

#include "sim/crypto/hmac.h"
#include "sim/crypto/sha1.h"

static uint32_t rng_state = 0x9E3779B9u;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void sha1_hex(const void *p, size_t n, char out[41])
{
    struct sha1_ctx c;
    uint8_t d[SHA1_DIGEST_LEN];

    sha1_init(&c);
    sha1_update(&c, p, n);
    sha1_final(&c, d);
    hex(d, sizeof d, out);
}

static void test_sha1_fips(void **state)
{
    char out[41];
    struct sha1_ctx c;
    uint8_t d[SHA1_DIGEST_LEN], a[1000];

    (void)state;
    sha1_hex("abc", 3, out);
    assert_string_equal(out, "a9993e364706816aba3e25717850c26c9cd0d89d");
    sha1_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, out);
    assert_string_equal(out, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    sha1_hex("", 0, out);
    assert_string_equal(out, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    memset(a, 'a', sizeof a);
    sha1_init(&c);
    for (int i = 0; i < 1000; i++)
        sha1_update(&c, a, sizeof a);
    sha1_final(&c, d);
    hex(d, sizeof d, out);
    assert_string_equal(out, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    /* final wipes the context */
    for (size_t i = 0; i < sizeof c; i++)
        assert_int_equal(((uint8_t *)&c)[i], 0);
}

/* The test cases of RFC 2202 (cases 1..7) and RFC 4231 (cases 1..7). */
struct vec {
    int key_kind;   /* 0 fill byte, 1 the bytes 0x01..0x19, 2 "Jefe" */
    uint8_t fill;
    size_t keylen;
    const char *data; /* NULL: 50 bytes of dfill */
    uint8_t dfill;
    const char *md5, *sha1, *sha256;
};

static const char big1[] = "Test Using Larger Than Block-Size Key - Hash Key First";
static const char big2[] = "Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data";
static const char big3[] = "This is a test using a larger than block-size key and a larger than block-size"
                           " data. The key needs to be hashed before being used by the HMAC algorithm.";

static void mac_hex(enum hmac_alg alg, const uint8_t *key, size_t kl, const void *m, size_t ml,
                    char *out)
{
    uint8_t d[HMAC_MAX_LEN];

    if (alg == HMAC_SHA1)
        hmac_sha1(key, kl, m, ml, d);
    else if (alg == HMAC_SHA256)
        hmac_sha256(key, kl, m, ml, d);
    else
        hmac_md5(key, kl, m, ml, d);
    hex(d, hmac_len(alg), out);
}

static void check_vec(enum hmac_alg alg, int key_kind, uint8_t fill, size_t kl, const char *data,
                      uint8_t dfill, const char *want)
{
    uint8_t key[131], msg[50];
    char out[2 * HMAC_MAX_LEN + 1];
    const void *m = data;
    size_t ml = data ? strlen(data) : sizeof msg;

    if (key_kind == 0)
        memset(key, fill, kl);
    else if (key_kind == 1)
        for (size_t i = 0; i < kl; i++)
            key[i] = (uint8_t)(i + 1);
    else
        memcpy(key, "Jefe", kl = 4);
    if (!data) {
        memset(msg, dfill, sizeof msg);
        m = msg;
    }
    mac_hex(alg, key, kl, m, ml, out);
    if (strncmp(out, want, strlen(want)) != 0)
        fail_msg("HMAC alg %d key %zu bytes: got %s, want %s", alg, kl, out, want);
}

static void test_rfc2202_sha1_md5(void **state)
{
    (void)state;
    /* RFC 2202 section 3 (HMAC-SHA1) */
    check_vec(HMAC_SHA1, 0, 0x0b, 20, "Hi There", 0, "b617318655057264e28bc0b6fb378c8ef146be00");
    check_vec(HMAC_SHA1, 2, 0, 0, "what do ya want for nothing?", 0,
              "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    check_vec(HMAC_SHA1, 0, 0xaa, 20, NULL, 0xdd, "125d7342b9ac11cd91a39af48aa17b4f63f175d3");
    check_vec(HMAC_SHA1, 1, 0, 25, NULL, 0xcd, "4c9007f4026250c6bc8414f9bf50c86c2d7235da");
    check_vec(HMAC_SHA1, 0, 0x0c, 20, "Test With Truncation", 0,
              "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04");
    check_vec(HMAC_SHA1, 0, 0xaa, 80, big1, 0, "aa4ae5e15272d00e95705637ce8a3b55ed402112");
    check_vec(HMAC_SHA1, 0, 0xaa, 80, big2, 0, "e8e99d0f45237d786d6bbaa7965c7808bbff1a91");
    /* RFC 2202 section 2 (HMAC-MD5) */
    check_vec(HMAC_MD5, 0, 0x0b, 16, "Hi There", 0, "9294727a3638bb1c13f48ef8158bfc9d");
    check_vec(HMAC_MD5, 2, 0, 0, "what do ya want for nothing?", 0,
              "750c783e6ab0b503eaa86e310a5db738");
    check_vec(HMAC_MD5, 0, 0xaa, 16, NULL, 0xdd, "56be34521d144c88dbb8c733f0e8b3f6");
    check_vec(HMAC_MD5, 1, 0, 25, NULL, 0xcd, "697eaf0aca3a3aea3a75164746ffaa79");
    check_vec(HMAC_MD5, 0, 0x0c, 16, "Test With Truncation", 0, "56461ef2342edc00f9bab995690efd4c");
    check_vec(HMAC_MD5, 0, 0xaa, 80, big1, 0, "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd");
    check_vec(HMAC_MD5, 0, 0xaa, 80, big2, 0, "6f630fad67cda0ee1fb1f562db3aa53e");
}

static void test_rfc4231_sha256(void **state)
{
    (void)state;
    check_vec(HMAC_SHA256, 0, 0x0b, 20, "Hi There", 0,
              "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    check_vec(HMAC_SHA256, 2, 0, 0, "what do ya want for nothing?", 0,
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    check_vec(HMAC_SHA256, 0, 0xaa, 20, NULL, 0xdd,
              "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    check_vec(HMAC_SHA256, 1, 0, 25, NULL, 0xcd,
              "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
    /* test case 5: the RFC gives the output truncated to 128 bits */
    check_vec(HMAC_SHA256, 0, 0x0c, 20, "Test With Truncation", 0,
              "a3b6167473100ee06e0c796c2955552b");
    check_vec(HMAC_SHA256, 0, 0xaa, 131, big1, 0,
              "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    check_vec(HMAC_SHA256, 0, 0xaa, 131, big3, 0,
              "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

/* Random keys (0..200 bytes: empty, shorter, equal to and longer than a
 * block) and messages (0..3000 bytes) in random pieces, against OpenSSL. */
static void test_against_openssl(void **state)
{
    static uint8_t key[200], msg[3000];
    const EVP_MD *mds[] = { EVP_md5(), EVP_sha1(), EVP_sha256() };

    (void)state;
    for (int round = 0; round < 600; round++) {
        enum hmac_alg alg = (enum hmac_alg)(round % 3);
        size_t kl = round % 50 == 0 ? 64 : rnd() % sizeof key, ml = rnd() % sizeof msg;
        uint8_t mine[HMAC_MAX_LEN], ref[EVP_MAX_MD_SIZE];
        unsigned rl = 0;
        struct hmac_ctx c;
        size_t off = 0;

        if (round % 7 == 0)
            ml = 64 * (rnd() % 4) + (rnd() % 3); /* at and around block edges */
        for (size_t i = 0; i < kl; i++)
            key[i] = (uint8_t)rnd();
        for (size_t i = 0; i < ml; i++)
            msg[i] = (uint8_t)rnd();
        assert_int_equal(hmac_init(&c, alg, kl ? key : NULL, kl), 0);
        while (off < ml) {
            size_t n = 1 + rnd() % 130;

            if (n > ml - off)
                n = ml - off;
            hmac_update(&c, msg + off, n);
            off += n;
        }
        assert_int_equal(hmac_final(&c, mine), hmac_len(alg));
        assert_non_null(HMAC(mds[alg], key, (int)kl, msg, ml, ref, &rl));
        assert_int_equal(rl, hmac_len(alg));
        if (memcmp(mine, ref, rl) != 0)
            fail_msg("round %d: alg %d, key %zu bytes, message %zu bytes differ from OpenSSL",
                     round, alg, kl, ml);
    }
    /* SHA-1 on its own, against EVP */
    for (int round = 0; round < 200; round++) {
        size_t ml = rnd() % sizeof msg, off = 0;
        uint8_t mine[SHA1_DIGEST_LEN], ref[EVP_MAX_MD_SIZE];
        struct sha1_ctx c;

        for (size_t i = 0; i < ml; i++)
            msg[i] = (uint8_t)rnd();
        sha1_init(&c);
        while (off < ml) {
            size_t n = 1 + rnd() % 200;

            if (n > ml - off)
                n = ml - off;
            sha1_update(&c, msg + off, n);
            off += n;
        }
        sha1_final(&c, mine);
        assert_int_equal(EVP_Digest(msg, ml, ref, NULL, EVP_sha1(), NULL), 1);
        assert_memory_equal(mine, ref, SHA1_DIGEST_LEN);
    }
}

static void test_bad_arguments(void **state)
{
    struct hmac_ctx c;
    uint8_t out[HMAC_MAX_LEN];

    (void)state;
    assert_int_equal(hmac_len((enum hmac_alg)7), 0);
    assert_int_equal(hmac_init(&c, (enum hmac_alg)7, "k", 1), -1);
    assert_int_equal(hmac_init(NULL, HMAC_SHA1, "k", 1), -1);
    assert_int_equal(hmac_init(&c, HMAC_SHA1, NULL, 3), -1);
    assert_int_equal(hmac_init(&c, HMAC_SHA1, NULL, 0), 0);
    assert_int_equal(hmac_final(&c, NULL), 0);
    assert_int_equal(hmac_final(&c, out), SHA1_DIGEST_LEN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha1_fips),
        cmocka_unit_test(test_rfc2202_sha1_md5),
        cmocka_unit_test(test_rfc4231_sha256),
        cmocka_unit_test(test_against_openssl),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
