/*
 * test_testca.c - the cloud's test PKI (mock_cloud/testca.c), checked with
 * OpenSSL's own verifier against the CA a device is given: the good server
 * certificate verifies and names 127.0.0.1 and localhost; the expired one
 * fails with X509_V_ERR_CERT_HAS_EXPIRED; the wrong-host one verifies as a
 * chain but fails X509_check_host and X509_check_ip_asc, and fails the chain
 * too once the host is part of the verification (as a TLS client sets it);
 * the untrusted one fails for want of its issuer. Key files are 0600, the
 * key in each file matches its certificate, serials follow the seed, and a
 * directory that cannot be made is a one-line error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mock_cloud/testca.h"

static char g_dir[64];
static struct testca_files g_f;

static int setup(void **state)
{
    char err[512];

    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/otahil-testca-XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    if (testca_generate(g_dir, 42, &g_f, err, sizeof err) != 0) {
        fprintf(stderr, "testca_generate: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static X509 *load_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *x;

    assert_non_null(f);
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    return x;
}

/* Verifies the server certificate `which` against the device's CA; host
 * non-NULL also checks the name, as a TLS client does. The verify error. */
static int verify(int which, const char *host)
{
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509 *ca = load_cert(g_f.ca), *leaf = load_cert(g_f.crt[which]);
    int ok, e;

    assert_non_null(st);
    assert_non_null(ctx);
    assert_int_equal(X509_STORE_add_cert(st, ca), 1);
    assert_int_equal(X509_STORE_CTX_init(ctx, st, leaf, NULL), 1);
    if (host)
        assert_int_equal(X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(ctx), host, 0), 1);
    ok = X509_verify_cert(ctx);
    e = X509_STORE_CTX_get_error(ctx);
    assert_true(ok == 1 ? e == X509_V_OK : e != X509_V_OK);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    X509_free(ca);
    X509_free(leaf);
    return e;
}

static void test_good(void **state)
{
    X509 *leaf = load_cert(g_f.crt[TESTCA_GOOD]);

    (void)state;
    assert_int_equal(verify(TESTCA_GOOD, NULL), X509_V_OK);
    assert_int_equal(verify(TESTCA_GOOD, "localhost"), X509_V_OK);
    assert_int_equal(X509_check_host(leaf, "localhost", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(leaf, "127.0.0.1", 0), 1);
    assert_int_equal(X509_check_host(leaf, "wrong-host.invalid", 0, 0, NULL), 0);
    X509_free(leaf);
}

static void test_expired(void **state)
{
    X509 *leaf = load_cert(g_f.crt[TESTCA_EXPIRED]);

    (void)state;
    assert_int_equal(verify(TESTCA_EXPIRED, NULL), X509_V_ERR_CERT_HAS_EXPIRED);
    /* Only the date is wrong. */
    assert_int_equal(X509_check_ip_asc(leaf, "127.0.0.1", 0), 1);
    assert_true(X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0);
    X509_free(leaf);
}

static void test_wrong_host(void **state)
{
    X509 *leaf = load_cert(g_f.crt[TESTCA_WRONG_HOST]);

    (void)state;
    assert_int_equal(verify(TESTCA_WRONG_HOST, NULL), X509_V_OK); /* the chain is fine */
    assert_int_equal(X509_check_host(leaf, "localhost", 0, 0, NULL), 0);
    assert_int_equal(X509_check_ip_asc(leaf, "127.0.0.1", 0), 0);
    assert_int_equal(X509_check_host(leaf, "wrong-host.invalid", 0, 0, NULL), 1);
    assert_int_equal(verify(TESTCA_WRONG_HOST, "localhost"), X509_V_ERR_HOSTNAME_MISMATCH);
    X509_free(leaf);
}

static void test_untrusted(void **state)
{
    X509 *leaf = load_cert(g_f.crt[TESTCA_UNTRUSTED_CA]), *other = load_cert(g_f.other_ca);

    (void)state;
    assert_int_equal(verify(TESTCA_UNTRUSTED_CA, NULL), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    assert_int_equal(X509_check_ip_asc(leaf, "127.0.0.1", 0), 1); /* only the issuer is wrong */
    assert_int_equal(X509_check_issued(other, leaf), X509_V_OK);
    X509_free(leaf);
    X509_free(other);
}

static void test_keys(void **state)
{
    struct stat sb;

    (void)state;
    for (int i = 0; i < TESTCA_NCERTS; i++) {
        X509 *crt = load_cert(g_f.crt[i]), *pemcrt = load_cert(g_f.pem[i]);
        FILE *f = fopen(g_f.key[i], "r");
        EVP_PKEY *k;

        assert_non_null(f);
        k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
        assert_non_null(k);
        assert_int_equal(X509_check_private_key(crt, k), 1);
        assert_int_equal(X509_cmp(crt, pemcrt), 0);
        assert_int_equal(stat(g_f.key[i], &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0600);
        assert_int_equal(stat(g_f.pem[i], &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0600);
        EVP_PKEY_free(k);
        X509_free(crt);
        X509_free(pemcrt);
    }
    assert_int_equal(stat(g_f.ca, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644);
}

static void test_names_and_seed(void **state)
{
    char dir[128], err[512];
    struct testca_files f2;
    X509 *a, *b;

    (void)state;
    for (int i = 0; i < TESTCA_NCERTS; i++)
        assert_int_equal(testca_cert_parse(testca_cert_name(i)), i);
    assert_int_equal(testca_cert_parse("self-signed"), -1);
    assert_string_equal(testca_cert_name(TESTCA_NCERTS), "?");

    /* The same seed gives the same serials (fresh keys, though). */
    snprintf(dir, sizeof dir, "%s/again", g_dir);
    assert_int_equal(testca_generate(dir, 42, &f2, err, sizeof err), 0);
    a = load_cert(g_f.crt[TESTCA_GOOD]);
    b = load_cert(f2.crt[TESTCA_GOOD]);
    assert_int_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(a), X509_get0_serialNumber(b)), 0);
    assert_int_not_equal(X509_cmp(a, b), 0);
    X509_free(a);
    X509_free(b);

    assert_int_equal(testca_generate("/proc/otahil-no-such/dir", 1, &f2, err, sizeof err), -1);
    assert_non_null(strstr(err, "/proc/otahil-no-such/dir"));
    assert_null(strchr(err, '\n'));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_wrong_host),
        cmocka_unit_test(test_untrusted),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_names_and_seed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
