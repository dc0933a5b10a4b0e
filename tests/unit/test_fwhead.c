/*
 * test_fwhead.c - the firmware response header block (mock_cloud/fwhead.c):
 * the exact bytes for 200, 206 and 416, and its refusals (buffer too small,
 * impossible range, unknown status, bad etag).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mock_cloud/fwhead.h"

#include <string.h>

#define MD5 "0123456789abcdef0123456789abcdef"

static void test_200_bytes(void **state)
{
    static const char want[] =
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: application/octet-stream\r\n"
        "Content-Length: 40000\r\n"
        "Accept-Ranges: bytes\r\n"
        "ETag: \"" MD5 "\"\r\n"
        "Connection: close\r\n"
        "\r\n";
    char buf[FW_HEAD_MAX];

    (void)state;
    assert_int_equal(fw_response_head(buf, sizeof buf, 200, 0, 39999, 40000, MD5), (int)strlen(want));
    assert_string_equal(buf, want);
    /* first and last do not matter for 200 */
    assert_int_equal(fw_response_head(buf, sizeof buf, 200, 7, 9, 40000, MD5), (int)strlen(want));
    assert_string_equal(buf, want);
    /* an empty file */
    assert_true(fw_response_head(buf, sizeof buf, 200, 0, 0, 0, MD5) > 0);
    assert_non_null(strstr(buf, "\r\nContent-Length: 0\r\n"));
}

static void test_206_bytes(void **state)
{
    static const char want[] =
        "HTTP/1.1 206 Partial Content\r\n"
        "Content-Type: application/octet-stream\r\n"
        "Content-Length: 39000\r\n"
        "Content-Range: bytes 1000-39999/40000\r\n"
        "Accept-Ranges: bytes\r\n"
        "ETag: \"" MD5 "\"\r\n"
        "Connection: close\r\n"
        "\r\n";
    static const char big[] =
        "HTTP/1.1 206 Partial Content\r\n"
        "Content-Type: application/octet-stream\r\n"
        "Content-Length: 1\r\n"
        "Content-Range: bytes 18446744073709551614-18446744073709551614/18446744073709551615\r\n"
        "Accept-Ranges: bytes\r\n"
        "Connection: close\r\n"
        "\r\n";
    char buf[FW_HEAD_MAX];

    (void)state;
    assert_int_equal(fw_response_head(buf, sizeof buf, 206, 1000, 39999, 40000, MD5), (int)strlen(want));
    assert_string_equal(buf, want);
    /* the widest numbers, no ETag */
    assert_int_equal(fw_response_head(buf, sizeof buf, 206, UINT64_MAX - 1, UINT64_MAX - 1, UINT64_MAX,
                                      NULL), (int)strlen(big));
    assert_string_equal(buf, big);
    /* a single byte at the start */
    assert_true(fw_response_head(buf, sizeof buf, 206, 0, 0, 1, MD5) > 0);
    assert_non_null(strstr(buf, "\r\nContent-Length: 1\r\nContent-Range: bytes 0-0/1\r\n"));
}

static void test_416_bytes(void **state)
{
    static const char want[] =
        "HTTP/1.1 416 Range Not Satisfiable\r\n"
        "Content-Length: 0\r\n"
        "Content-Range: bytes */40000\r\n"
        "Accept-Ranges: bytes\r\n"
        "ETag: \"" MD5 "\"\r\n"
        "Connection: close\r\n"
        "\r\n";
    char buf[FW_HEAD_MAX];

    (void)state;
    assert_int_equal(fw_response_head(buf, sizeof buf, 416, 0, 0, 40000, MD5), (int)strlen(want));
    assert_string_equal(buf, want);
}

static void test_refusals(void **state)
{
    char buf[FW_HEAD_MAX];
    int n;

    (void)state;
    n = fw_response_head(buf, sizeof buf, 200, 0, 99, 100, MD5);
    assert_true(n > 0);
    /* exactly enough room (with the NUL), then one byte short */
    assert_int_equal(fw_response_head(buf, (size_t)n + 1, 200, 0, 99, 100, MD5), n);
    memset(buf, 'x', sizeof buf);
    assert_int_equal(fw_response_head(buf, (size_t)n, 200, 0, 99, 100, MD5), -1);
    assert_string_equal(buf, "");
    assert_int_equal(fw_response_head(buf, 0, 200, 0, 99, 100, MD5), -1);
    /* impossible ranges */
    assert_int_equal(fw_response_head(buf, sizeof buf, 206, 10, 9, 100, MD5), -1);
    assert_int_equal(fw_response_head(buf, sizeof buf, 206, 0, 100, 100, MD5), -1);
    assert_int_equal(fw_response_head(buf, sizeof buf, 206, 0, 0, 0, MD5), -1);
    /* statuses it does not write */
    assert_int_equal(fw_response_head(buf, sizeof buf, 404, 0, 0, 100, MD5), -1);
    assert_int_equal(fw_response_head(buf, sizeof buf, 0, 0, 0, 100, MD5), -1);
    /* an etag that would break the header */
    assert_int_equal(fw_response_head(buf, sizeof buf, 200, 0, 0, 100, "ab\"cd"), -1);
    assert_int_equal(fw_response_head(buf, sizeof buf, 200, 0, 0, 100, "ab\r\nX: y"), -1);
    assert_string_equal(buf, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_200_bytes),
        cmocka_unit_test(test_206_bytes),
        cmocka_unit_test(test_416_bytes),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
