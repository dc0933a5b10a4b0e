/*
 * libssl_compat.c - built as BUILD/lib/libssl.so, the library civetweb finds
 * when it dlopens "libssl.so" for its HTTPS listener (docs/cloud.md, "HTTPS
 * and mqtts"). Debian's civetweb resolves the OpenSSL 1.1 function table,
 * which names SSL_get_peer_certificate; OpenSSL 3 renamed it
 * SSL_get1_peer_certificate (same behaviour: a reference the caller frees)
 * and no longer exports the old name, so civetweb's TLS start fails. This
 * object defines the old name and needs libssl.so.3 for everything else:
 * dlsym through its handle finds the rest there.
 */
#include <openssl/ssl.h>

#undef SSL_get_peer_certificate
X509 *SSL_get_peer_certificate(const SSL *s);

X509 *SSL_get_peer_certificate(const SSL *s)
{
    return SSL_get1_peer_certificate(s);
}
