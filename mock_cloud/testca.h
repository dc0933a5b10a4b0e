/*
 * testca.h - the test PKI of one cloud, made at run time with the OpenSSL C
 * API (no openssl command, no key in the source tree): a CA the devices
 * trust, an unrelated second CA, and one server certificate per TLS case
 * (docs/cloud.md, "HTTPS and mqtts"):
 *
 *   good          signed by the CA; subjectAltName IP:127.0.0.1, DNS:localhost
 *   untrusted-ca  the same names, signed by the other CA
 *   expired       signed by the CA; its validity ended a day ago
 *   wrong-host    signed by the CA; only DNS:wrong-host.invalid
 *
 * Keys are EC P-256. Every file is written to a temporary name and renamed;
 * private keys are mode 0600. The CAs' private keys are never written: they
 * only live while testca_generate() signs.
 */
#ifndef TESTCA_H
#define TESTCA_H

#include <stddef.h>
#include <stdint.h>

#define TESTCA_PATH_MAX 4096

enum testca_cert {
    TESTCA_GOOD = 0,       /* what a correct device accepts */
    TESTCA_UNTRUSTED_CA,   /* chains to a CA the device does not know */
    TESTCA_EXPIRED,        /* notAfter in the past */
    TESTCA_WRONG_HOST,     /* names neither 127.0.0.1 nor localhost */
    TESTCA_NCERTS
};

struct testca_files {
    char ca[TESTCA_PATH_MAX];       /* DIR/ca.pem: the trust anchor given to devices */
    char other_ca[TESTCA_PATH_MAX]; /* DIR/other-ca.pem: the CA devices do not trust */
    char crt[TESTCA_NCERTS][TESTCA_PATH_MAX]; /* DIR/server-NAME.crt: the certificate */
    char key[TESTCA_NCERTS][TESTCA_PATH_MAX]; /* DIR/server-NAME.key: its key (0600) */
    char pem[TESTCA_NCERTS][TESTCA_PATH_MAX]; /* DIR/server-NAME.pem: certificate then key
                                               * in one file, as civetweb takes it (0600) */
};

/* Makes the CA, the other CA and the four server certificates in dir
 * (created if missing; files there are replaced). Serial numbers come from
 * seed; key material from OpenSSL's random generator. Validity: the CAs
 * from a day ago for 10 years; good, untrusted-ca and wrong-host from an
 * hour ago for 30 days; expired from 30 days ago to 1 day ago.
 * 0 and fills f, or -1 with a one-line reason in err (the file or the
 * OpenSSL call that failed). */
int testca_generate(const char *dir, uint64_t seed, struct testca_files *f, char *err,
                    size_t errlen);

/* "good", "untrusted-ca", "expired", "wrong-host"; "?" when out of range. */
const char *testca_cert_name(int which);

/* The enum testca_cert for a name above, or -1. */
int testca_cert_parse(const char *name);

#endif /* TESTCA_H */
