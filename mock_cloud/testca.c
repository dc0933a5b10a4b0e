/*
 * testca.c - the cloud's test PKI (see testca.h), made with the OpenSSL C API.
 *
 * Method: two self-signed CAs (basicConstraints CA:TRUE, keyCertSign), then
 * four server certificates (CA:FALSE, digitalSignature, serverAuth, a
 * subjectAltName, the issuer's key identifier), all EC P-256 signed with
 * SHA-256. Only the names, the issuer and the validity differ between the
 * server certificates, so each TLS case fails for exactly one reason.
 */
#include "mock_cloud/testca.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define TCA_DAY (24L * 3600L)

static const char *const tca_names[TESTCA_NCERTS] = { "good", "untrusted-ca", "expired",
                                                      "wrong-host" };

const char *testca_cert_name(int which)
{
    return which >= 0 && which < TESTCA_NCERTS ? tca_names[which] : "?";
}

int testca_cert_parse(const char *name)
{
    for (int i = 0; name && i < TESTCA_NCERTS; i++)
        if (strcmp(name, tca_names[i]) == 0)
            return i;
    return -1;
}

/* The reason of the last OpenSSL error, for messages. */
static const char *tca_ossl(char *buf, size_t n)
{
    unsigned long e = ERR_get_error();
    if (!e)
        snprintf(buf, n, "no OpenSSL error queued");
    else
        ERR_error_string_n(e, buf, n);
    ERR_clear_error();
    return buf;
}

static uint64_t tca_serial(uint64_t seed, int k)
{
    uint64_t x = seed + 0x9E3779B97F4A7C15ull * (uint64_t)(k + 1);
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    x ^= x >> 31;
    return (x & 0x7FFFFFFFFFFFFFFFull) | 1u; /* positive and never 0 */
}

static int tca_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    int ok = e && X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok ? 0 : -1;
}

/* One certificate for key: self-signed when issuer is NULL. NULL on failure
 * (the OpenSSL error stays queued). */
static X509 *tca_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey,
                      uint64_t serial, long from_s, long to_s, const char *san)
{
    X509 *x = X509_new();
    X509_NAME *nm;
    X509V3_CTX ctx;

    if (!x)
        return NULL;
    nm = X509_get_subject_name(x);
    if (!X509_set_version(x, 2) || !ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), from_s) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), to_s) || !X509_set_pubkey(x, key) ||
        !X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_ASC, (const unsigned char *)"otahil", -1,
                                    -1, 0) ||
        !X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                    0) ||
        !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : nm))
        goto err;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    if (!issuer) {
        if (tca_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE") ||
            tca_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") ||
            tca_ext(x, &ctx, NID_subject_key_identifier, "hash"))
            goto err;
    } else if (tca_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") ||
               tca_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") ||
               tca_ext(x, &ctx, NID_ext_key_usage, "serverAuth") ||
               tca_ext(x, &ctx, NID_subject_key_identifier, "hash") ||
               tca_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") ||
               tca_ext(x, &ctx, NID_subject_alt_name, san)) {
        goto err;
    }
    if (!X509_sign(x, ikey ? ikey : key, EVP_sha256()))
        goto err;
    return x;
err:
    X509_free(x);
    return NULL;
}

/* Writes cert and/or key to path through path.tmp and a rename; mode 0600
 * when a key is in it. 0, or -1 with err. */
static int tca_write(const char *path, X509 *cert, EVP_PKEY *key, char *err, size_t errlen)
{
    char tmp[TESTCA_PATH_MAX + 16], e[256];
    mode_t mode = key ? 0600 : 0644;
    FILE *f;
    int fd, ok;

    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0 || fchmod(fd, mode) != 0 || !(f = fdopen(fd, "w"))) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        return -1;
    }
    ok = (!cert || PEM_write_X509(f, cert)) &&
         (!key || PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL));
    ok = fflush(f) == 0 && ok && fsync(fileno(f)) == 0;
    if (fclose(f) != 0)
        ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path,
                 ok ? strerror(errno) : tca_ossl(e, sizeof e));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int tca_path(char *out, const char *dir, const char *name, const char *ext, char *err,
                    size_t errlen)
{
    if ((size_t)snprintf(out, TESTCA_PATH_MAX, "%s/%s%s", dir, name, ext) >= TESTCA_PATH_MAX) {
        snprintf(err, errlen, "%s: path too long for the test CA", dir);
        return -1;
    }
    return 0;
}

int testca_generate(const char *dir, uint64_t seed, struct testca_files *f, char *err,
                    size_t errlen)
{
    static const char good_san[] = "IP:127.0.0.1,DNS:localhost";
    EVP_PKEY *ca_key = NULL, *other_key = NULL, *key[TESTCA_NCERTS] = { NULL };
    X509 *ca = NULL, *other = NULL, *crt[TESTCA_NCERTS] = { NULL };
    char e[256], name[64];
    int rc = -1;

    memset(f, 0, sizeof *f);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    if (tca_path(f->ca, dir, "ca", ".pem", err, errlen) ||
        tca_path(f->other_ca, dir, "other-ca", ".pem", err, errlen))
        return -1;
    for (int i = 0; i < TESTCA_NCERTS; i++) {
        snprintf(name, sizeof name, "server-%s", tca_names[i]);
        if (tca_path(f->crt[i], dir, name, ".crt", err, errlen) ||
            tca_path(f->key[i], dir, name, ".key", err, errlen) ||
            tca_path(f->pem[i], dir, name, ".pem", err, errlen))
            return -1;
    }

    ERR_clear_error();
    ca_key = EVP_EC_gen("P-256");
    other_key = EVP_EC_gen("P-256");
    if (!ca_key || !other_key ||
        !(ca = tca_cert(ca_key, "otahil test CA", NULL, NULL, tca_serial(seed, 0), -TCA_DAY,
                        3650 * TCA_DAY, NULL)) ||
        !(other = tca_cert(other_key, "otahil other CA", NULL, NULL, tca_serial(seed, 1),
                           -TCA_DAY, 3650 * TCA_DAY, NULL))) {
        snprintf(err, errlen, "test CA: %s", tca_ossl(e, sizeof e));
        goto out;
    }
    for (int i = 0; i < TESTCA_NCERTS; i++) {
        long from = i == TESTCA_EXPIRED ? -30 * TCA_DAY : -3600L;
        long to = i == TESTCA_EXPIRED ? -TCA_DAY : 30 * TCA_DAY;
        const char *san = i == TESTCA_WRONG_HOST ? "DNS:wrong-host.invalid" : good_san;
        const char *cn = i == TESTCA_WRONG_HOST ? "wrong-host.invalid" : "127.0.0.1";
        X509 *issuer = i == TESTCA_UNTRUSTED_CA ? other : ca;
        EVP_PKEY *ikey = i == TESTCA_UNTRUSTED_CA ? other_key : ca_key;

        if (!(key[i] = EVP_EC_gen("P-256")) ||
            !(crt[i] = tca_cert(key[i], cn, issuer, ikey, tca_serial(seed, 2 + i), from, to,
                                san))) {
            snprintf(err, errlen, "test CA: server certificate %s: %s", tca_names[i],
                     tca_ossl(e, sizeof e));
            goto out;
        }
    }
    if (tca_write(f->ca, ca, NULL, err, errlen) || tca_write(f->other_ca, other, NULL, err, errlen))
        goto out;
    for (int i = 0; i < TESTCA_NCERTS; i++)
        if (tca_write(f->crt[i], crt[i], NULL, err, errlen) ||
            tca_write(f->key[i], NULL, key[i], err, errlen) ||
            tca_write(f->pem[i], crt[i], key[i], err, errlen))
            goto out;
    rc = 0;
out:
    for (int i = 0; i < TESTCA_NCERTS; i++) {
        X509_free(crt[i]);
        EVP_PKEY_free(key[i]);
    }
    X509_free(ca);
    X509_free(other);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(other_key);
    return rc;
}
