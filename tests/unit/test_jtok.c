/*
 * test_jtok.c - the device-side JSON tokenizer (sim/util/jtok.c) and the
 * event-field escaper otahil_json_escape() (sim/util/jsonesc.c): the real
 * firmware push of shared/spec §1.5, the trailing NUL uOTA payloads carry,
 * nesting and token shape, escapes, every error code, token exhaustion and
 * the integer edge cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "sim/util/event.h"
#include "sim/util/jtok.h"

/* The push as the real cloud sends it (shared/spec §1.5). */
static const char push[] =
    "{\"code\":\"1000\",\n"
    " \"data\":{\"size\":584064,\"sign\":\"6080a1da...\",\"version\":\"app-1.1.0\",\n"
    "         \"url\":\"https://iotx-ota.oss-cn-shanghai.aliyuncs.com/...bin?Expires=...&OSSAccessKeyId=...&Signature=...\",\n"
    "         \"signMethod\":\"Md5\",\"md5\":\"6080a1da...\"},\n"
    " \"id\":1553688236684,\"message\":\"success\"}";
#define PUSH_TOKENS 21

static int parse(const char *s, struct jtok *t, int n)
{
    return jtok_parse(s, strlen(s), t, n);
}

static void test_push(void **state)
{
    (void)state;
    struct jtok t[64];
    char buf[256];
    long v;
    int n = jtok_parse(push, strlen(push), t, 64);
    int data, i;

    assert_int_equal(n, PUSH_TOKENS);
    assert_int_equal(t[0].type, JTOK_OBJECT);
    assert_int_equal(t[0].size, 4);
    assert_int_equal(t[0].parent, -1);
    assert_int_equal(t[0].start, 0);
    assert_int_equal(t[0].end, (int)strlen(push));

    i = jtok_find(push, t, n, 0, "message");
    assert_true(i > 0);
    assert_true(jtok_streq(push, &t[i], "success"));
    assert_false(jtok_streq(push, &t[i], "succes"));
    assert_false(jtok_streq(push, &t[i], "successful"));

    data = jtok_find(push, t, n, 0, "data");
    assert_true(data > 0);
    assert_int_equal(t[data].type, JTOK_OBJECT);
    assert_int_equal(t[data].size, 6);

    i = jtok_find(push, t, n, data, "size");
    assert_int_equal(t[i].type, JTOK_PRIMITIVE);
    assert_int_equal(jtok_int(push, &t[i], &v), 0);
    assert_int_equal(v, 584064);

    i = jtok_find(push, t, n, data, "version");
    assert_int_equal(jtok_copy(push, &t[i], buf, sizeof(buf)), 9);
    assert_string_equal(buf, "app-1.1.0");

    static const char url[] =
        "https://iotx-ota.oss-cn-shanghai.aliyuncs.com/...bin?Expires=...&OSSAccessKeyId=...&Signature=...";
    i = jtok_find(push, t, n, data, "url");
    assert_int_equal(jtok_copy(push, &t[i], buf, sizeof(buf)), (int)strlen(url));
    assert_string_equal(buf, url);

    i = jtok_find(push, t, n, data, "signMethod");
    assert_true(jtok_streq(push, &t[i], "Md5"));
    i = jtok_find(push, t, n, data, "md5");
    assert_true(jtok_streq(push, &t[i], "6080a1da..."));

    /* only direct members: size lives in data, not in the root */
    assert_int_equal(jtok_find(push, t, n, 0, "size"), -1);
    assert_int_equal(jtok_find(push, t, n, data, "message"), -1);
    assert_int_equal(jtok_find(push, t, n, 0, "digestsign"), -1);
    /* the lookup object must be an object */
    assert_int_equal(jtok_find(push, t, n, jtok_find(push, t, n, 0, "id"), "x"), -1);
    assert_int_equal(jtok_find(push, t, n, n, "code"), -1);
    assert_int_equal(jtok_find(push, t, n, -1, "code"), -1);

    /* "code" is a string: not an integer for jtok_int */
    i = jtok_find(push, t, n, 0, "code");
    assert_int_equal(t[i].type, JTOK_STRING);
    assert_int_equal(jtok_int(push, &t[i], &v), -1);

    i = jtok_find(push, t, n, 0, "id");
    if (sizeof(long) >= 8) {
        assert_int_equal(jtok_int(push, &t[i], &v), 0);
        assert_true(v == 1553688236684L);
    } else {
        assert_int_equal(jtok_int(push, &t[i], &v), -1);
    }
}

/* uOTA payloads end with the C string's NUL; buffers may hold several. */
static void test_trailing_nul(void **state)
{
    (void)state;
    struct jtok t[64];
    char buf[sizeof(push) + 8];

    memset(buf, 0, sizeof(buf));
    memcpy(buf, push, strlen(push));
    assert_int_equal(jtok_parse(buf, strlen(push) + 1, t, 64), PUSH_TOKENS);
    assert_int_equal(jtok_parse(buf, sizeof(buf), t, 64), PUSH_TOKENS);
    assert_int_equal(jtok_parse("{} \n\0 \0\t\0", 9, t, 64), 1);
    assert_int_equal(jtok_parse("[]\r\n", 4, t, 64), 1);
    /* anything else after the root */
    assert_int_equal(jtok_parse("{}\0x", 4, t, 64), JTOK_EINVAL);
    assert_int_equal(jtok_parse("{} x", 4, t, 64), JTOK_EINVAL);
    assert_int_equal(jtok_parse("{}{}", 4, t, 64), JTOK_EINVAL);
    assert_int_equal(jtok_parse("[1]]", 4, t, 64), JTOK_EINVAL);
    /* a push cut short and NUL-padded is partial, not garbage */
    assert_int_equal(jtok_parse("{\"a\":1\0\0", 8, t, 64), JTOK_EPART);
    /* a NUL inside the root is garbage */
    assert_int_equal(jtok_parse("[1\0 ]", 5, t, 64), JTOK_EINVAL);
}

static void test_nesting(void **state)
{
    (void)state;
    static const char js[] = "{\"a\":{\"b\":[1,{\"c\":null}],\"d\":true},\"e\":[],\"f\":{},\"g\":[[],[{}]]}";
    struct jtok t[32];
    int n = parse(js, t, 32);
    int a, b, d, e, g;

    assert_int_equal(n, 20);
    assert_int_equal(t[0].size, 4);
    a = jtok_find(js, t, n, 0, "a");
    assert_int_equal(t[a].type, JTOK_OBJECT);
    assert_int_equal(t[a].size, 2);
    /* key tokens have size 1 and are the parent of their value */
    assert_int_equal(t[a - 1].type, JTOK_STRING);
    assert_int_equal(t[a - 1].size, 1);
    assert_int_equal(t[a - 1].parent, 0);
    assert_int_equal(t[a].parent, a - 1);

    b = jtok_find(js, t, n, a, "b");
    assert_int_equal(t[b].type, JTOK_ARRAY);
    assert_int_equal(t[b].size, 2);
    assert_int_equal(t[b + 1].parent, b);
    assert_int_equal(t[b + 2].type, JTOK_OBJECT);
    assert_int_equal(t[b + 2].parent, b);
    assert_int_equal(jtok_find(js, t, n, b + 2, "c"), b + 4);
    assert_int_equal(t[b + 4].type, JTOK_PRIMITIVE);
    assert_int_equal(t[b + 4].end - t[b + 4].start, 4);

    d = jtok_find(js, t, n, a, "d");
    assert_int_equal(d, b + 6);
    assert_memory_equal(js + t[d].start, "true", 4);
    /* c and d are not members of the root; c is not a member of a */
    assert_int_equal(jtok_find(js, t, n, 0, "c"), -1);
    assert_int_equal(jtok_find(js, t, n, 0, "d"), -1);
    assert_int_equal(jtok_find(js, t, n, a, "c"), -1);

    e = jtok_find(js, t, n, 0, "e");
    assert_int_equal(t[e].type, JTOK_ARRAY);
    assert_int_equal(t[e].size, 0);
    assert_int_equal(t[e].end - t[e].start, 2);
    assert_int_equal(t[jtok_find(js, t, n, 0, "f")].size, 0);
    g = jtok_find(js, t, n, 0, "g");
    assert_int_equal(t[g].size, 2);
    assert_int_equal(t[g + 2].size, 1);
    assert_int_equal(t[g + 3].parent, g + 2);

    /* deep nesting costs tokens, not stack */
    char deep[2 * 500 + 1];
    struct jtok dt[500];
    memset(deep, '[', 500);
    memset(deep + 500, ']', 500);
    deep[1000] = '\0';
    assert_int_equal(parse(deep, dt, 500), 500);
    assert_int_equal(dt[499].parent, 498);
    assert_int_equal(dt[0].end, 1000);
    assert_int_equal(dt[0].size, 1);
    deep[999] = ' ';
    assert_int_equal(parse(deep, dt, 500), JTOK_EPART);
}

static void test_escapes(void **state)
{
    (void)state;
    static const char js[] =
        "[\"q\\\"b\\\\s\\/\\b\\f\\n\\r\\t\", \"\\u00e9\\u20AC\", \"\\uD83D\\uDE00\", \"x\\uD800y\","
        " \"\\uDC00\", \"\\u0041\\u0000z\", \"caf\xc3\xa9\"]";
    struct jtok t[16];
    char buf[64];
    int n = parse(js, t, 16);

    assert_int_equal(n, 8);
    assert_int_equal(jtok_copy(js, &t[1], buf, sizeof(buf)), 11);
    assert_memory_equal(buf, "q\"b\\s/\b\f\n\r\t", 12);
    assert_int_equal(jtok_copy(js, &t[2], buf, sizeof(buf)), 5);
    assert_string_equal(buf, "\xc3\xa9\xe2\x82\xac");
    assert_int_equal(jtok_copy(js, &t[3], buf, sizeof(buf)), 4);      /* surrogate pair */
    assert_string_equal(buf, "\xf0\x9f\x98\x80");
    assert_int_equal(jtok_copy(js, &t[4], buf, sizeof(buf)), 5);      /* lone high surrogate */
    assert_string_equal(buf, "x\xef\xbf\xbdy");
    assert_int_equal(jtok_copy(js, &t[5], buf, sizeof(buf)), 3);      /* lone low surrogate */
    assert_string_equal(buf, "\xef\xbf\xbd");
    assert_int_equal(jtok_copy(js, &t[6], buf, sizeof(buf)), 3);      /* \u0000 is a byte */
    assert_memory_equal(buf, "A\0z", 4);
    assert_int_equal(jtok_copy(js, &t[7], buf, sizeof(buf)), 5);      /* raw UTF-8 passes */
    assert_string_equal(buf, "caf\xc3\xa9");
    /* the token keeps the escapes in place */
    assert_int_equal(t[2].end - t[2].start, 12);

    /* streq and find compare decoded text */
    static const char obj[] = "{\"k\\u0065y\":1,\"\\\"q\\\"\":2}";
    struct jtok o[8];
    int m = parse(obj, o, 8);
    assert_int_equal(m, 5);
    assert_int_equal(jtok_find(obj, o, m, 0, "key"), 2);
    assert_int_equal(jtok_find(obj, o, m, 0, "\"q\""), 4);
    assert_true(jtok_streq(js, &t[2], "\xc3\xa9\xe2\x82\xac"));
}

static void test_copy_limits(void **state)
{
    (void)state;
    static const char js[] = "{\"v\":\"abcdef\",\"u\":\"\\u20ac\",\"n\":12}";
    struct jtok t[8];
    char buf[16];
    int n = parse(js, t, 8);
    int v = jtok_find(js, t, n, 0, "v"), u = jtok_find(js, t, n, 0, "u");

    assert_int_equal(jtok_copy(js, &t[v], buf, 7), 6);                 /* exact fit */
    assert_string_equal(buf, "abcdef");
    memset(buf, 'Z', sizeof(buf));
    assert_int_equal(jtok_copy(js, &t[v], buf, 6), -1);                /* one short */
    assert_string_equal(buf, "abcde");
    assert_int_equal(jtok_copy(js, &t[v], buf, 1), -1);
    assert_string_equal(buf, "");
    buf[0] = 'Z';
    assert_int_equal(jtok_copy(js, &t[v], buf, 0), -1);                /* nothing written */
    assert_int_equal(buf[0], 'Z');
    assert_int_equal(jtok_copy(js, &t[u], buf, 4), 3);                 /* decoded length counts */
    assert_int_equal(jtok_copy(js, &t[u], buf, 3), -1);
    assert_int_equal(strlen(buf), 2);
    strcpy(buf, "keep");
    assert_int_equal(jtok_copy(js, &t[jtok_find(js, t, n, 0, "n")], buf, sizeof(buf)), -2);
    assert_string_equal(buf, "");
    assert_int_equal(jtok_copy(js, &t[0], buf, sizeof(buf)), -2);
    assert_false(jtok_streq(js, &t[0], "v"));
    assert_false(jtok_streq(js, &t[jtok_find(js, t, n, 0, "n")], "12"));
}

static void test_malformed(void **state)
{
    (void)state;
    static const char *const invalid[] = {
        "", "   ", "\0", "1", "\"s\"", "true", "null",                 /* no container root */
        "{a:1}", "{'a':1}", "{\"a\" 1}", "{\"a\"::1}", "{1:2}", "{,}", "{\"a\":}", /* objects */
        "{\"a\":1,}", "[1,]", "[,1]", "[1 2]", "{\"a\":1 \"b\":2}", "[\"a\":1]",
        "{\"a\":1]", "[}", "{]", "[1}", "{\"a\":[1}}",                  /* brackets */
        "[01]", "[1.]", "[.5]", "[-]", "[+1]", "[1e]", "[1e+]", "[--1]", "[1.2.3]", "[0x10]",
        "[tru]", "[nul1]", "[True]", "[nan]", "[truex]", "[1a]",      /* primitives */
        "[\"a\x01\"]", "[\"a\tb\"]", "[\"\\x\"]", "[\"\\u12G4\"]", "[\"\\U0041\"]", "[\"\\'\"]",
        "\xef\xbb\xbf{}", "{}}", "[1]x", "[] []",
    };
    static const char *const partial[] = {
        "{", "[", " [ ", "{\"a\"", "{\"a\":", "{\"a\":1", "{\"a\":1,", "[1", "[1,",
        "[\"abc", "[\"ab\\", "[\"\\u12", "[tr", "[fals", "[-", "[1.", "[1e", "[1e+", "[12",
        "{\"a\":[1,2", "{\"a\":{\"b\":{}}", "{\"a", "[[[[]]]",
    };
    struct jtok t[32];

    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        int rc = parse(invalid[i], t, 32);
        if (rc != JTOK_EINVAL)
            fail_msg("'%s': %d, want JTOK_EINVAL", invalid[i], rc);
    }
    for (size_t i = 0; i < sizeof(partial) / sizeof(partial[0]); i++) {
        int rc = parse(partial[i], t, 32);
        if (rc != JTOK_EPART)
            fail_msg("'%s': %d, want JTOK_EPART", partial[i], rc);
    }
    assert_int_equal(jtok_parse(NULL, 3, t, 32), JTOK_EINVAL);
    /* valid corner cases of the same grammar */
    static const char *const ok[] = {
        "[0]", "[-0]", "[0.5]", "[-1.25e+10]", "[1E-3]", "[1e5]", "[true,false,null]",
        "[\"\"]", "{\"\":\"\"}", "[\"\\u0000\"]", " \t\r\n{ \"a\" : [ 1 , 2 ] }",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (parse(ok[i], t, 32) < 1)
            fail_msg("'%s' should parse", ok[i]);
}

static void test_exhaustion(void **state)
{
    (void)state;
    struct jtok t[PUSH_TOKENS];

    assert_int_equal(jtok_parse(push, strlen(push), t, PUSH_TOKENS), PUSH_TOKENS);
    assert_int_equal(jtok_parse(push, strlen(push), t, PUSH_TOKENS - 1), JTOK_ENOMEM);
    assert_int_equal(jtok_parse(push, strlen(push), t, 1), JTOK_ENOMEM);
    assert_int_equal(jtok_parse(push, strlen(push), t, 0), JTOK_ENOMEM);
    assert_int_equal(jtok_parse(push, strlen(push), NULL, 64), JTOK_ENOMEM);
    assert_int_equal(jtok_parse("[1,2,3]", 7, t, 3), JTOK_ENOMEM);
    assert_int_equal(jtok_parse("[1,2,3]", 7, t, 4), 4);
}

static void test_int(void **state)
{
    (void)state;
    char js[256];
    struct jtok t[16];
    long v;
    int n;

    /* LONG_MAX, LONG_MIN, one past each, whatever the width of long */
    snprintf(js, sizeof(js), "[0,-0,7,-42,%ld,%ld,%lu,-%lu,1.5,1e3,-1E2,true,null,\"12\"]",
             (long)(~0ul >> 1), -(long)(~0ul >> 1) - 1, (~0ul >> 1) + 1, (~0ul >> 1) + 2);
    n = parse(js, t, 16);
    assert_int_equal(n, 15);
    assert_int_equal(jtok_int(js, &t[1], &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(jtok_int(js, &t[2], &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(jtok_int(js, &t[3], &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(jtok_int(js, &t[4], &v), 0);
    assert_int_equal(v, -42);
    assert_int_equal(jtok_int(js, &t[5], &v), 0);
    assert_true(v == (long)(~0ul >> 1));
    assert_int_equal(jtok_int(js, &t[6], &v), 0);
    assert_true(v == -(long)(~0ul >> 1) - 1);
    v = 123;
    assert_int_equal(jtok_int(js, &t[7], &v), -1);   /* LONG_MAX + 1 */
    assert_int_equal(jtok_int(js, &t[8], &v), -1);   /* LONG_MIN - 1 */
    assert_int_equal(jtok_int(js, &t[9], &v), -1);   /* fraction */
    assert_int_equal(jtok_int(js, &t[10], &v), -1);  /* exponent */
    assert_int_equal(jtok_int(js, &t[11], &v), -1);
    assert_int_equal(jtok_int(js, &t[12], &v), -1);  /* true */
    assert_int_equal(jtok_int(js, &t[13], &v), -1);  /* null */
    assert_int_equal(jtok_int(js, &t[14], &v), -1);  /* a quoted number */
    assert_int_equal(v, 123);                        /* untouched on failure */
    assert_int_equal(jtok_int(js, &t[0], &v), -1);   /* the array itself */
    assert_int_equal(jtok_int(js, &t[1], NULL), -1);
}

static void test_json_escape(void **state)
{
    (void)state;
    char out[128];

    assert_ptr_equal(otahil_json_escape(out, sizeof(out), "plain v1.0"), out);
    assert_string_equal(out, "plain v1.0");
    otahil_json_escape(out, sizeof(out), "a\"b\\c/d");
    assert_string_equal(out, "a\\\"b\\\\c/d");
    otahil_json_escape(out, sizeof(out), "\n\t\r\b\f");
    assert_string_equal(out, "\\n\\t\\r\\b\\f");
    otahil_json_escape(out, sizeof(out), "\x01\x1f\x7f");
    assert_string_equal(out, "\\u0001\\u001f\x7f");
    otahil_json_escape(out, sizeof(out), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    assert_string_equal(out, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    /* bytes that are not UTF-8: each one becomes U+FFFD */
    otahil_json_escape(out, sizeof(out), "a\xff" "b\xc0\x80" "c\xed\xa0\x80" "d\xe2\x82");
    assert_string_equal(out, "a\\ufffdb\\ufffd\\ufffdc\\ufffd\\ufffd\\ufffdd\\ufffd\\ufffd");
    otahil_json_escape(out, sizeof(out), NULL);
    assert_string_equal(out, "");

    /* truncation keeps escapes and characters whole */
    otahil_json_escape(out, 4, "ab\"c");
    assert_string_equal(out, "ab");
    otahil_json_escape(out, 5, "ab\"c");
    assert_string_equal(out, "ab\\\"");
    otahil_json_escape(out, 8, "a\x01z");
    assert_string_equal(out, "a\\u0001");
    otahil_json_escape(out, 7, "a\x01z");
    assert_string_equal(out, "a");
    otahil_json_escape(out, 4, "a\xe2\x82\xac");
    assert_string_equal(out, "a");
    otahil_json_escape(out, 1, "abc");
    assert_string_equal(out, "");
    out[0] = 'Z';
    assert_ptr_equal(otahil_json_escape(out, 0, "abc"), out);
    assert_int_equal(out[0], 'Z');
}

/* What the escaper writes, the tokenizer reads back unchanged. */
static void test_escape_round_trip(void **state)
{
    (void)state;
    char src[64], esc[400], js[420], back[64];
    struct jtok t[4];
    int i;

    for (i = 0; i < 31; i++)
        src[i] = (char)(i + 1);
    memcpy(src + 31, "\"\\/ \xc3\xa9", 7); /* 6 bytes and the NUL */
    otahil_json_escape(esc, sizeof(esc), src);
    snprintf(js, sizeof(js), "{\"s\":\"%s\"}", esc);
    assert_int_equal(parse(js, t, 4), 3);
    assert_int_equal(jtok_copy(js, &t[2], back, sizeof(back)), 37);
    assert_string_equal(back, src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_push),
        cmocka_unit_test(test_trailing_nul),
        cmocka_unit_test(test_nesting),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_copy_limits),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_exhaustion),
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_json_escape),
        cmocka_unit_test(test_escape_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
