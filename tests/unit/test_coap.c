/*
 * test_coap.c - the fake cloud's CoAP endpoint (mock_cloud/coapserver.c,
 * spec §3) on a free loopback UDP port, with a libcoap client as the
 * device: /auth and its signature (wrong secret, another device's
 * signature, an unregistered device, a malformed payload), the token in
 * option 2088 and in option 61 and its absence, another device's topic, the
 * request that returns the push, the Block2 download (NUM, M, SZX, ETag,
 * Size2; the M bit of requests ignored; SZX 7 refused) and the block faults
 * (drop, code, duplicate, Size2, SZX, ETag), plus their text form. The
 * service behind the endpoint is a small table here: cloud.c's side is
 * exercised end to end by tests/e2e/coap.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mock_cloud/cloudfault.h"
#include "mock_cloud/coapserver.h"

#include <arpa/inet.h>
#include <coap3/coap.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PK "a1OtaHilPK0"
#define DN_A "dev-0001"
#define DN_B "dev-0002"
#define SECRET_A "otahil-device-secret-0001"
#define SECRET_B "secret-of-b"
#define FILE_SIZE 5000u  /* 4 blocks of 1024 and one of 904 */

static char g_dir[64], g_file[128];
static uint8_t g_data[FILE_SIZE];
static int g_messages;              /* device messages the service got */
static char g_last_topic[256];

/* ---- the service: two devices, one firmware file, one push ---- */

static int t_secret(void *ctx, const char *pk, const char *dn, char *secret, size_t n)
{
    (void)ctx;
    if (strcmp(pk, PK) != 0)
        return -1;
    if (strcmp(dn, DN_A) == 0)
        snprintf(secret, n, "%s", SECRET_A);
    else if (strcmp(dn, DN_B) == 0)
        snprintf(secret, n, "%s", SECRET_B);
    else
        return -1;
    return 0;
}

static void t_coap_device(void *ctx, const char *pk, const char *dn)
{
    (void)ctx; (void)pk; (void)dn;
}

static char *t_message(void *ctx, const char *topic, const char *payload, size_t len, int *rlen)
{
    (void)ctx; (void)payload; (void)len;
    g_messages++;
    snprintf(g_last_topic, sizeof g_last_topic, "%s", topic);
    if (strncmp(topic, "/ota/device/request/", 20) != 0)
        return NULL;
    *rlen = 16;
    return strdup("{\"message\":\"ok\"}");
}

static int t_firmware(void *ctx, const char *pk, const char *dn, char *path, size_t n, uint64_t *size)
{
    (void)ctx; (void)pk;
    if (strcmp(dn, DN_A) != 0)
        return -1;
    snprintf(path, n, "%s", g_file);
    *size = FILE_SIZE;
    return 0;
}

static const struct coapserver_ops g_ops = { NULL, t_secret, t_coap_device, t_message, t_firmware,
                                             NULL };

/* ---- the device: a libcoap client, one exchange at a time ---- */

struct reply {
    int      got;
    int      code;        /* class * 100 + detail */
    uint8_t  data[2048];
    size_t   len;
    int      has_block;
    uint32_t block;
    uint8_t  etag[8];
    size_t   etag_len;
    int      has_size2;
    uint32_t size2;
};

struct client {
    coap_context_t *ctx;
    coap_session_t *sess;
    struct reply    r;
};

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent, const coap_pdu_t *rcv,
                                   const coap_mid_t mid)
{
    struct client *c = coap_get_app_data(coap_session_get_context(s));
    coap_opt_iterator_t it;
    coap_opt_t *o;
    const uint8_t *d;
    size_t len;

    (void)sent; (void)mid;
    memset(&c->r, 0, sizeof c->r);
    c->r.got = 1;
    coap_pdu_code_t code = coap_pdu_get_code(rcv);
    c->r.code = (int)(code >> 5) * 100 + (int)(code & 31);
    if (coap_get_data(rcv, &len, &d) && len <= sizeof c->r.data) {
        memcpy(c->r.data, d, len);
        c->r.len = len;
    }
    coap_option_iterator_init(rcv, &it, COAP_OPT_ALL);
    while ((o = coap_option_next(&it)) != NULL) {
        size_t ol = coap_opt_length(o);
        if (it.number == COAP_OPTION_BLOCK2) {
            c->r.has_block = 1;
            c->r.block = coap_decode_var_bytes(coap_opt_value(o), ol);
        } else if (it.number == COAP_OPTION_ETAG && ol <= 8) {
            memcpy(c->r.etag, coap_opt_value(o), ol);
            c->r.etag_len = ol;
        } else if (it.number == COAP_OPTION_SIZE2) {
            c->r.has_size2 = 1;
            c->r.size2 = coap_decode_var_bytes(coap_opt_value(o), ol);
        }
    }
    return COAP_RESPONSE_OK;
}

static void client_open(struct client *c, int port)
{
    coap_address_t a;

    memset(c, 0, sizeof *c);
    coap_address_init(&a);
    a.addr.sin.sin_family = AF_INET;
    a.addr.sin.sin_port = htons((uint16_t)port);
    a.addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.size = sizeof a.addr.sin;
    c->ctx = coap_new_context(NULL);
    assert_non_null(c->ctx);
    coap_set_app_data(c->ctx, c);
    coap_register_response_handler(c->ctx, on_response);
    c->sess = coap_new_client_session(c->ctx, NULL, &a, COAP_PROTO_UDP);
    assert_non_null(c->sess);
}

static void client_close(struct client *c)
{
    coap_session_release(c->sess);
    coap_free_context(c->ctx);
}

/* POST path with the token in option tok_opt (0: none), a Block2 value
 * (block < 0: none) and a payload; waits up to wait_ms. 1 when answered. */
static int post(struct client *c, const char *path, int tok_opt, const char *token, long block,
                const char *payload, int wait_ms)
{
    coap_pdu_t *pdu = coap_new_pdu(COAP_MESSAGE_CON, COAP_REQUEST_CODE_POST, c->sess);
    uint8_t tk[8], b[4];
    size_t tl;
    char segs[256], *save = NULL;

    assert_non_null(pdu);
    coap_session_new_token(c->sess, &tl, tk);
    coap_add_token(pdu, tl, tk);
    snprintf(segs, sizeof segs, "%s", path);
    for (char *s = strtok_r(segs, "/", &save); s; s = strtok_r(NULL, "/", &save))
        coap_add_option(pdu, COAP_OPTION_URI_PATH, strlen(s), (const uint8_t *)s);
    if (block >= 0)
        coap_add_option(pdu, COAP_OPTION_BLOCK2, coap_encode_var_safe(b, sizeof b, (unsigned)block), b);
    if (tok_opt)
        coap_add_option(pdu, (uint16_t)tok_opt, strlen(token), (const uint8_t *)token);
    if (payload)
        coap_add_data(pdu, strlen(payload), (const uint8_t *)payload);
    c->r.got = 0;
    assert_int_not_equal(coap_send(c->sess, pdu), COAP_INVALID_MID);
    for (int t = 0; t < wait_ms && !c->r.got; t += 10)
        coap_io_process(c->ctx, 10);
    return c->r.got;
}

static void auth_payload(char *out, size_t n, const char *dn, const char *cid, const char *secret)
{
    char sign[33];
    assert_int_equal(coapserver_sign(cid, PK, dn, NULL, secret, sign), 0);
    snprintf(out, n, "{\"productKey\":\"%s\",\"deviceName\":\"%s\",\"clientId\":\"%s\",\"sign\":\"%s\"}",
             PK, dn, cid, sign);
}

/* Authenticates dn and returns its token in tok (>= 17 bytes). */
static void get_token(struct client *c, const char *dn, const char *secret, char *tok)
{
    char msg[256];
    auth_payload(msg, sizeof msg, dn, "", secret);
    assert_true(post(c, "/auth", 0, NULL, -1, msg, 2000));
    assert_int_equal(c->r.code, 205);
    c->r.data[c->r.len] = '\0';
    const char *t = strstr((const char *)c->r.data, "\"token\":\"");
    assert_non_null(t);
    memcpy(tok, t + 9, 16);
    tok[16] = '\0';
}

/* ---- fixtures ---- */

static struct coapserver *g_s;

static int setup(void **state)
{
    (void)state;
    char err[256];
    snprintf(g_dir, sizeof g_dir, "/tmp/otahil-coap-XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    snprintf(g_file, sizeof g_file, "%s/fw.bin", g_dir);
    for (size_t i = 0; i < FILE_SIZE; i++)
        g_data[i] = (uint8_t)(i * 7 + (i >> 8));
    FILE *f = fopen(g_file, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(g_data, 1, FILE_SIZE, f), FILE_SIZE);
    fclose(f);
    g_s = coapserver_start(&g_ops, 42, 0, err, sizeof err);
    if (!g_s)
        fail_msg("coapserver_start: %s", err);
    assert_true(coapserver_port(g_s) > 0);
    assert_int_equal(coapserver_dtls_port(g_s), 0); /* psk 0: no DTLS endpoint */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    coapserver_stop(g_s);
    unlink(g_file);
    rmdir(g_dir);
    return 0;
}

/* ---- tests ---- */

static void test_sign(void **state)
{
    char out[33];
    (void)state;
    /* values from an independent HMAC-MD5 (Python's hmac module) */
    assert_int_equal(coapserver_sign("ps", PK, DN_A, NULL, SECRET_A, out), 0);
    assert_string_equal(out, "d22b055d7d2eb1fe45485f0a8c3e25fb");
    assert_int_equal(coapserver_sign("c", "pk", "dn", "7", "k", out), 0);
    assert_string_equal(out, "238c1ded73cbde8a643bed220d0c5c95");
}

static void test_auth(void **state)
{
    struct client c;
    char msg[256], tok1[17], tok2[17];
    (void)state;
    client_open(&c, coapserver_port(g_s));
    get_token(&c, DN_A, SECRET_A, tok1);                 /* clientId "" accepted */
    auth_payload(msg, sizeof msg, DN_A, "anything", SECRET_A);
    assert_true(post(&c, "/auth", 0, NULL, -1, msg, 2000));
    assert_int_equal(c.r.code, 205);
    get_token(&c, DN_A, SECRET_A, tok2);
    assert_string_not_equal(tok1, tok2);                 /* a new token at every auth */
    auth_payload(msg, sizeof msg, DN_A, "x", "wrong-secret");
    assert_true(post(&c, "/auth", 0, NULL, -1, msg, 2000));
    assert_int_equal(c.r.code, 401);
    /* device A claiming to be B with A's signature, and B's signature for A */
    auth_payload(msg, sizeof msg, DN_A, "x", SECRET_A);
    memcpy(strstr(msg, DN_A), DN_B, strlen(DN_B));
    assert_true(post(&c, "/auth", 0, NULL, -1, msg, 2000));
    assert_int_equal(c.r.code, 401);
    auth_payload(msg, sizeof msg, "dev-9999", "x", SECRET_A);
    assert_true(post(&c, "/auth", 0, NULL, -1, msg, 2000));
    assert_int_equal(c.r.code, 401);
    assert_true(post(&c, "/auth", 0, NULL, -1, "{not json", 2000));
    assert_int_equal(c.r.code, 400);
    assert_true(post(&c, "/auth", 0, NULL, -1, "{\"productKey\":\"" PK "\"}", 2000));
    assert_int_equal(c.r.code, 400);
    client_close(&c);
}

static void test_token(void **state)
{
    struct client c;
    char tok[17];
    const char *inform = "/topic/ota/device/inform/" PK "/" DN_A;
    (void)state;
    client_open(&c, coapserver_port(g_s));
    int before = g_messages;
    assert_true(post(&c, inform, 0, NULL, -1, "{}", 2000));
    assert_int_equal(c.r.code, 401);
    assert_true(post(&c, inform, 2088, "0123456789abcdef", -1, "{}", 2000));
    assert_int_equal(c.r.code, 401);
    assert_int_equal(g_messages, before);                /* refused before the service */
    get_token(&c, DN_A, SECRET_A, tok);
    assert_true(post(&c, inform, 2088, tok, -1, "{}", 2000));
    assert_int_equal(c.r.code, 204);
    assert_string_equal(g_last_topic, "/ota/device/inform/" PK "/" DN_A);
    assert_true(post(&c, inform, 61, tok, -1, "{}", 2000));
    assert_int_equal(c.r.code, 204);
    assert_int_equal(g_messages, before + 2);
    assert_true(post(&c, "/topic/ota/device/inform/" PK "/" DN_B, 61, tok, -1, "{}", 2000));
    assert_int_equal(c.r.code, 403);                     /* another device's topic */
    assert_true(post(&c, "/topic/ota/device/upgrade/" PK "/" DN_A, 61, tok, -1, "{}", 2000));
    assert_int_equal(c.r.code, 404);
    assert_true(post(&c, "/topic/ota/device/request/" PK "/" DN_A, 61, tok, -1, "{}", 2000));
    assert_int_equal(c.r.code, 205);
    assert_int_equal(c.r.len, 16);
    assert_memory_equal(c.r.data, "{\"message\":\"ok\"}", 16);
    client_close(&c);
}

/* Downloads the file in blocks of 16 << szx, the M bit set in every request. */
static void download(struct client *c, const char *tok, int szx, uint8_t *out, uint8_t etag[8])
{
    const char *path = "/topic/ota/device/download/" PK "/" DN_A;
    uint32_t size = 16u << szx, got = 0;
    for (uint32_t num = 0;; num++) {
        assert_true(post(c, path, 61, tok, (long)(num << 4 | 8u | (unsigned)szx), NULL, 2000));
        assert_int_equal(c->r.code, 205);
        assert_true(c->r.has_block);
        assert_int_equal(c->r.block >> 4, num);
        assert_int_equal(c->r.block & 7, szx);
        assert_true(c->r.has_size2);
        assert_int_equal(c->r.size2, FILE_SIZE);
        assert_int_equal(c->r.etag_len, 8);
        if (num == 0)
            memcpy(etag, c->r.etag, 8);
        assert_memory_equal(etag, c->r.etag, 8);
        memcpy(out + got, c->r.data, c->r.len);
        got += (uint32_t)c->r.len;
        if (!(c->r.block & 8)) {
            assert_int_equal(got, FILE_SIZE);
            return;
        }
        assert_int_equal(c->r.len, size);
    }
}

static void test_blocks(void **state)
{
    struct client c;
    char tok[17];
    static uint8_t out[FILE_SIZE];
    uint8_t etag[8], md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    (void)state;
    client_open(&c, coapserver_port(g_s));
    get_token(&c, DN_A, SECRET_A, tok);
    download(&c, tok, 6, out, etag);
    assert_memory_equal(out, g_data, FILE_SIZE);
    assert_int_equal(EVP_Digest(g_data, FILE_SIZE, md, &mdlen, EVP_md5(), NULL), 1);
    assert_memory_equal(etag, md, 8);                    /* ETag: 8 bytes of the MD5 */
    memset(out, 0, sizeof out);
    download(&c, tok, 4, out, etag);                     /* 256-byte blocks */
    assert_memory_equal(out, g_data, FILE_SIZE);
    const char *path = "/topic/ota/device/download/" PK "/" DN_A;
    assert_true(post(&c, path, 61, tok, 7, NULL, 2000)); /* SZX 7: reserved */
    assert_int_equal(c.r.code, 400);
    assert_true(post(&c, path, 61, tok, 5 << 4 | 6, NULL, 2000)); /* past the end */
    assert_int_equal(c.r.code, 402);
    assert_true(post(&c, path, 61, tok, -1, NULL, 2000)); /* no Block2: block 0 of 1024 */
    assert_int_equal(c.r.code, 205);
    assert_int_equal(c.r.block, 8u | 6u);
    /* device B has no firmware pushed */
    get_token(&c, DN_B, SECRET_B, tok);
    assert_true(post(&c, "/topic/ota/device/download/" PK "/" DN_B, 61, tok, 6, NULL, 2000));
    assert_int_equal(c.r.code, 404);
    client_close(&c);
}

static void set_faults(const char *const *kv)
{
    struct cloud_coap_faults f;
    char why[256], key[64];
    memset(&f, 0, sizeof f);
    for (; *kv; kv++) {
        const char *eq = strchr(*kv, '=');
        snprintf(key, sizeof key, "%.*s", (int)(eq - *kv), *kv);
        if (cloudfault_coap_set(&f, key, eq + 1, why, sizeof why) < 0)
            fail_msg("%s: %s", *kv, why);
    }
    assert_int_equal(cloudfault_coap_check(&f, NULL, why, sizeof why), 0);
    coapserver_set_faults(g_s, &f);
}

static void test_faults(void **state)
{
    struct client c;
    char tok[17];
    const char *path = "/topic/ota/device/download/" PK "/" DN_A;
    (void)state;
    client_open(&c, coapserver_port(g_s));
    get_token(&c, DN_A, SECRET_A, tok);

    set_faults((const char *const[]){ "drop_block=1", "drop_times=2", NULL });
    assert_false(post(&c, path, 61, tok, 1 << 4 | 6, NULL, 300));
    assert_false(post(&c, path, 61, tok, 1 << 4 | 6, NULL, 300));
    assert_true(post(&c, path, 61, tok, 1 << 4 | 6, NULL, 2000)); /* the third is answered */
    assert_int_equal(c.r.code, 205);

    set_faults((const char *const[]){ "code_block=2", "code=5.03", NULL });
    assert_true(post(&c, path, 61, tok, 2 << 4 | 6, NULL, 2000));
    assert_int_equal(c.r.code, 503);
    assert_true(post(&c, path, 61, tok, 2 << 4 | 6, NULL, 2000));
    assert_int_equal(c.r.code, 205);

    set_faults((const char *const[]){ "duplicate_block=0", "reorder_block=3", NULL });
    assert_true(post(&c, path, 61, tok, 1 << 4 | 6, NULL, 2000));
    assert_int_equal(c.r.block >> 4, 0);                  /* block 0 again for 1 */
    assert_memory_equal(c.r.data, g_data, 1024);
    assert_true(post(&c, path, 61, tok, 3 << 4 | 6, NULL, 2000));
    assert_int_equal(c.r.block >> 4, 4);                  /* block 4 for 3 */
    assert_int_equal(c.r.len, FILE_SIZE - 4096);
    assert_true(post(&c, path, 61, tok, 3 << 4 | 6, NULL, 2000));
    assert_int_equal(c.r.block >> 4, 3);                  /* once only */

    uint8_t etag0[8];
    set_faults((const char *const[]){ "size2_delta=+100", "etag_change_at=2", "block_szx=7", NULL });
    assert_true(post(&c, path, 61, tok, 1 << 4 | 6, NULL, 2000));
    assert_int_equal(c.r.size2, FILE_SIZE + 100);
    assert_int_equal(c.r.block & 7, 7);
    memcpy(etag0, c.r.etag, 8);
    assert_true(post(&c, path, 61, tok, 2 << 4 | 6, NULL, 2000));
    assert_memory_not_equal(etag0, c.r.etag, 8);

    coapserver_set_faults(g_s, NULL);
    assert_true(post(&c, path, 61, tok, 2 << 4 | 6, NULL, 2000));
    assert_int_equal(c.r.size2, FILE_SIZE);
    assert_int_equal(c.r.block, 2u << 4 | 8u | 6u);
    client_close(&c);
}

static void test_fault_text(void **state)
{
    struct cloud_coap_faults f;
    char why[256], buf[256];
    int key = -1;
    (void)state;
    memset(&f, 0, sizeof f);
    assert_int_equal(cloudfault_coap_set(&f, "code", "4.04", why, sizeof why), CF_C_CODE);
    assert_int_equal(f.code, 404);
    assert_int_equal(cloudfault_coap_check(&f, &key, why, sizeof why), -1);
    assert_int_equal(key, CF_C_CODE);
    assert_string_equal(why, "code needs code_block");
    assert_int_equal(cloudfault_coap_set(&f, "code_block", "9", why, sizeof why), CF_C_CODE_BLOCK);
    assert_int_equal(cloudfault_coap_check(&f, &key, why, sizeof why), 0);
    assert_int_equal(cloudfault_coap_set(&f, "size2_delta", "-1", why, sizeof why), CF_C_SIZE2_DELTA);
    assert_string_equal(cloudfault_coap_describe(&f, buf, sizeof buf),
                        "code_block=9 code=4.04 size2_delta=-1");
    assert_int_equal(cloudfault_coap_set(&f, "code", "2.05", why, sizeof why), -1);
    assert_int_equal(cloudfault_coap_set(&f, "code", "6.00", why, sizeof why), -1);
    assert_int_equal(cloudfault_coap_set(&f, "block_szx", "8", why, sizeof why), -1);
    assert_int_equal(cloudfault_coap_set(&f, "drop_times", "0", why, sizeof why), -1);
    assert_int_equal(cloudfault_coap_set(&f, "size2_delta", "100", why, sizeof why), -1);
    assert_int_equal(cloudfault_coap_set(&f, "nope", "1", why, sizeof why), -1);
    assert_non_null(strstr(why, "unknown key"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_token),
        cmocka_unit_test(test_blocks),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_fault_text),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
