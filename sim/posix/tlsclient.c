/*
 * tlsclient.c - the device's TLS client handshake (tlsclient.h).
 */
#include "sim/posix/tlsclient.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

static uint8_t mfl_code(unsigned bytes)
{
    switch (bytes) {
    case 512: return TLSEXT_max_fragment_length_512;
    case 1024: return TLSEXT_max_fragment_length_1024;
    case 2048: return TLSEXT_max_fragment_length_2048;
    case 4096: return TLSEXT_max_fragment_length_4096;
    default: return TLSEXT_max_fragment_length_DISABLED;
    }
}

/* Why the handshake failed, in one line: the certificate verdict when there
 * is one, else OpenSSL's first error, else the socket's state. */
static void tlsc_why(SSL *ssl, int rc, char *out, size_t n)
{
    long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    unsigned long e = ERR_peek_error();
    if (vr != X509_V_OK)
        snprintf(out, n, "certificate verify failed: %s", X509_verify_cert_error_string(vr));
    else if (e)
        ERR_error_string_n(e, out, n);
    else if (ssl && SSL_get_error(ssl, rc) == SSL_ERROR_SYSCALL)
        snprintf(out, n, "connection closed or timed out during the handshake");
    else
        snprintf(out, n, "handshake failed");
    ERR_clear_error();
}

void tlsc_free(struct tlsc *t)
{
    if (t->ssl)
        SSL_free(t->ssl);
    if (t->ctx)
        SSL_CTX_free(t->ctx);
    memset(t, 0, sizeof(*t));
}

int tlsc_connect(struct tlsc *t, int fd, const char *host, const char *ca, uint32_t ca_len,
                 unsigned fragment, char *why, size_t whylen)
{
    unsigned char ip[16];
    int rc = 0, is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;

    memset(t, 0, sizeof(*t));
    why[0] = '\0';
    t->verify = ca && ca_len > 1;
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (!t->ctx)
        goto err;
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    if (t->verify) {
        BIO *bio = BIO_new_mem_buf(ca, (int)ca_len - 1);
        X509 *x;
        X509_STORE *st = SSL_CTX_get_cert_store(t->ctx);
        while (bio && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
            X509_STORE_add_cert(st, x);
            X509_free(x);
        }
        BIO_free(bio);
        ERR_clear_error();
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    }
    t->ssl = SSL_new(t->ctx);
    if (!t->ssl)
        goto err;
    if (!is_ip)
        SSL_set_tlsext_host_name(t->ssl, host); /* SNI names hosts, never addresses */
    if (t->verify && !(is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), host)
                             : SSL_set1_host(t->ssl, host)))
        goto err;
    if (fragment && !SSL_set_tlsext_max_fragment_length(t->ssl, mfl_code(fragment)))
        goto err;
    SSL_set_fd(t->ssl, fd);
    if ((rc = SSL_connect(t->ssl)) != 1)
        goto err;
    uint8_t got = SSL_SESSION_get_max_fragment_length(SSL_get_session(t->ssl));
    if (got >= TLSEXT_max_fragment_length_512 && got <= TLSEXT_max_fragment_length_4096)
        t->mfl = 256u << got;
    if (fragment && t->mfl != fragment) {
        snprintf(why, whylen, "the server did not grant max_fragment_length %u: its 16 KiB records "
                 "do not fit the device's buffer", fragment);
        goto err;
    }
    return 0;
err:
    if (!why[0])
        tlsc_why(t->ssl, rc, why, whylen);
    rc = t->verify;
    tlsc_free(t);
    t->verify = rc; /* for the caller's account of the failure */
    return -1;
}
