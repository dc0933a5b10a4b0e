/*
 * tlsclient.h - the device's TLS client handshake, as AliOS's HAL_TLS_mbedtls.c
 * does it with FORCE_SSL_VERIFY (spec §4.1): TLS 1.2 or later, the chain
 * against the CA the device was built with and the host name (or address) it
 * connected to, max_fragment_length when the device asks for small records.
 * Used by the native device's ota_ssl_connect (os_posix.c) and by the QEMU
 * relay that does TLS for the firmware (conformance/qemu.c); each logs its own
 * events. Host code (OpenSSL).
 */
#ifndef OTAHIL_TLSCLIENT_H
#define OTAHIL_TLSCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

struct tlsc {
    SSL_CTX *ctx;
    SSL     *ssl;
    int      verify;    /* a CA was given: the peer is verified */
    unsigned mfl;       /* the max_fragment_length granted (bytes), 0: none */
};

/* Handshakes over the connected socket fd. ca (PEM, ca_len = strlen + 1 as
 * ota_ssl_connect takes it; NULL or ca_len <= 1: no verification), fragment
 * (512..4096, or 0: not asked; a server that does not grant it fails the
 * handshake, since its 16 KiB records would not fit). Returns 0, or -1 with
 * one line in why (the certificate verdict when there is one); t is then
 * released. The socket stays the caller's. */
int tlsc_connect(struct tlsc *t, int fd, const char *host, const char *ca, uint32_t ca_len,
                 unsigned fragment, char *why, size_t whylen);

/* Frees the session and its context (not the socket). */
void tlsc_free(struct tlsc *t);

#endif
