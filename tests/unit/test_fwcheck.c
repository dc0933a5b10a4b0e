/*
 * test_fwcheck.c - the format check the cloud makes before it serves a file
 * (mock_cloud/fwcheck.c; spec §6.2, §12 #8 and #11): a good otahil image and
 * a vendor bin with each of the three magics pass; a serial image (no
 * footer), a wrong magic, a wrong image_size (truncated, padded), a wrong
 * MD5 and a file shorter than a footer each fail at their own step with a
 * one-line message naming the file. The same through a file descriptor.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mock_cloud/fwcheck.h"
#include "sim/image/image.h"

#define PAYLOAD 5000

static uint8_t *g_img;  /* a good otahil image */
static size_t g_len;

static int setup(void **state)
{
    struct image_spec s = { "app-2.0.0-20260101.1200", NULL, PAYLOAD, 7, 0 };

    (void)state;
    g_len = image_total_size(&s);
    g_img = malloc(g_len);
    return !g_img || image_build(&s, g_img, g_len) != IMAGE_OK;
}

static int teardown(void **state)
{
    (void)state;
    free(g_img);
    return 0;
}

/* A copy of the good image, to spoil. */
static uint8_t *copy_img(size_t extra)
{
    uint8_t *b = calloc(1, g_len + extra);

    assert_non_null(b);
    memcpy(b, g_img, g_len);
    return b;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int k = 0; k < 4; k++)
        p[k] = (uint8_t)(v >> (8 * k));
}

static void expect_fail(const uint8_t *b, size_t len, int want, const char *msg)
{
    struct fwcheck_report r;
    char line[512];

    assert_int_equal(fwcheck_buf(b, len, &r), want);
    assert_int_equal(r.result, want);
    assert_int_equal(r.file_size, len);
    fwcheck_describe(&r, "fw.bin", line, sizeof line);
    if (strncmp(line, "fw.bin: ", 8) != 0 || !strstr(line, msg))
        fail_msg("got '%s', want 'fw.bin: ...%s...'", line, msg);
    assert_null(strchr(line, '\n'));
}

static void test_good(void **state)
{
    struct fwcheck_report r;
    char line[512], md5[33];
    uint8_t d[16];

    (void)state;
    assert_int_equal(fwcheck_buf(g_img, g_len, &r), FWCHECK_OK);
    assert_int_equal(r.magic, FWCHECK_MAGIC_APP);
    assert_int_equal(r.image_size, g_len - 28);
    assert_int_equal(EVP_Digest(g_img, g_len - 28, d, NULL, EVP_md5(), NULL), 1);
    for (int i = 0; i < 16; i++)
        sprintf(md5 + 2 * i, "%02x", d[i]);
    assert_string_equal(r.md5_image, md5);
    assert_string_equal(r.md5_footer, md5);
    fwcheck_describe(&r, "v2.ota.bin", line, sizeof line);
    assert_non_null(strstr(line, "v2.ota.bin: AliOS OTA image"));
    assert_non_null(strstr(line, md5));
    assert_string_equal(fwcheck_magic_name(FWCHECK_MAGIC_APP), "app");
    assert_null(fwcheck_magic_name(0x3ffe8c18));
}

/* A vendor's bin: no otahil header, and the single and kernel magics. */
static void test_other_magics(void **state)
{
    static const uint32_t magics[] = { FWCHECK_MAGIC_SINGLE, FWCHECK_MAGIC_KERNEL };
    uint8_t b[1028];
    struct fwcheck_report r;

    (void)state;
    for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++) {
        for (int k = 0; k < 1000; k++)
            b[k] = (uint8_t)(k * 31 + 1);
        put32(b + 1000, magics[i]);
        put32(b + 1004, 1000);
        assert_int_equal(EVP_Digest(b, 1000, b + 1008, NULL, EVP_md5(), NULL), 1);
        memset(b + 1024, 0xFF, 4);
        assert_int_equal(fwcheck_buf(b, sizeof b, &r), FWCHECK_OK);
        assert_int_equal(r.magic, magics[i]);
    }
}

/* The serial image: the same bytes without the footer (spec §12 #8). */
static void test_no_footer(void **state)
{
    (void)state;
    expect_fail(g_img, g_len - 28, FWCHECK_EMAGIC, "no AliOS OTA footer (last 28 bytes: magic 0x");
    expect_fail(g_img, g_len - 28, FWCHECK_EMAGIC, "serve the *.ota.bin, not the serial image");
}

/* The #850 garbage: a footer whose magic is none of the three. */
static void test_wrong_magic(void **state)
{
    uint8_t *b = copy_img(0);

    (void)state;
    put32(b + g_len - 28, 0x3ffe8c18);
    expect_fail(b, g_len, FWCHECK_EMAGIC, "magic 0x3ffe8c18, not 0xefefefef, 0xabababab or 0xcdcdcdcd");
    free(b);
}

/* image_size off by one way or the other: a truncated payload under a
 * footer, a footer that claims more, bytes after the footer. */
static void test_wrong_size(void **state)
{
    uint8_t *b = copy_img(0);

    (void)state;
    put32(b + g_len - 24, (uint32_t)(g_len - 28 + 1));
    expect_fail(b, g_len, FWCHECK_ESIZE, "footer says image_size 5129, but 5128 bytes come before it");
    put32(b + g_len - 24, (uint32_t)(g_len - 28 - 4));
    expect_fail(b, g_len, FWCHECK_ESIZE, "image_size 5124");
    /* a footer moved 4 bytes earlier: the file lost 4 payload bytes */
    memmove(b + g_len - 32, g_img + g_len - 28, 28);
    expect_fail(b, g_len - 4, FWCHECK_ESIZE, "image_size 5128, but 5124 bytes come before it");
    free(b);
}

/* A badly generated bin: right magic and size, a payload that is not the one
 * hashed. */
static void test_wrong_md5(void **state)
{
    uint8_t *b = copy_img(0);

    (void)state;
    b[300] ^= 0x40;
    expect_fail(b, g_len, FWCHECK_EMD5, "(a badly generated OTA bin)");
    struct fwcheck_report r;
    assert_int_equal(fwcheck_buf(b, g_len, &r), FWCHECK_EMD5);
    assert_string_not_equal(r.md5_footer, r.md5_image);
    free(b);
}

static void test_short(void **state)
{
    (void)state;
    expect_fail(g_img, 0, FWCHECK_ESHORT, "0 bytes, too short to hold the 28-byte AliOS OTA footer");
    expect_fail(g_img + g_len - 28, 28, FWCHECK_ESHORT, "28 bytes, too short");
}

/* Through a file descriptor: the same verdicts, and the offset untouched. */
static void test_fd(void **state)
{
    char path[] = "/tmp/test_fwcheck.XXXXXX";
    struct fwcheck_report r;
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, g_img, g_len), (ssize_t)g_len);
    assert_int_equal(fwcheck_fd(fd, &r), FWCHECK_OK);
    assert_int_equal(lseek(fd, 0, SEEK_CUR), (off_t)g_len);
    assert_int_equal(ftruncate(fd, (off_t)(g_len - 28)), 0);
    assert_int_equal(fwcheck_fd(fd, &r), FWCHECK_EMAGIC);
    close(fd);
    unlink(path);
    fd = open("/tmp", O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(fwcheck_fd(fd, &r), FWCHECK_EIO);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_other_magics),
        cmocka_unit_test(test_no_footer),
        cmocka_unit_test(test_wrong_magic),
        cmocka_unit_test(test_wrong_size),
        cmocka_unit_test(test_wrong_md5),
        cmocka_unit_test(test_short),
        cmocka_unit_test(test_fd),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
