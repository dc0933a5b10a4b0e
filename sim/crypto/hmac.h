/*
 * hmac.h - HMAC (RFC 2104) over the device side's own hashes, freestanding:
 * HMAC-SHA1 (the Alibaba MQTT password, spec §2.1), HMAC-SHA256 (iotkit
 * v3's, spec §2.3) and HMAC-MD5 (the CoAP /auth sign, spec §3.1).
 *
 *   HMAC(K, m) = H((K0 ^ opad) || H((K0 ^ ipad) || m))
 *
 * K0 is the key padded with zeros to the hash's 64-byte block, or the
 * hash of the key when it is longer than a block; ipad = 0x36.., opad =
 * 0x5c... Incremental (init, update..., final) so a signer can feed the
 * signed fields one by one without building the string.
 */
#ifndef OTAHIL_HMAC_H
#define OTAHIL_HMAC_H

#include <stddef.h>
#include <stdint.h>

#include "md5.h"
#include "sha1.h"
#include "sha256.h"

#define HMAC_BLOCK_LEN 64   /* block size of all three hashes */
#define HMAC_MAX_LEN   32   /* the longest digest (SHA-256) */

enum hmac_alg {
    HMAC_MD5 = 0,    /* 16-byte MAC */
    HMAC_SHA1,       /* 20-byte MAC */
    HMAC_SHA256,     /* 32-byte MAC */
};

struct hmac_ctx {
    enum hmac_alg alg;
    union {
        struct md5_ctx    md5;
        struct sha1_ctx   sha1;
        struct sha256_ctx sha256;
    } h;                             /* the inner hash while updating */
    uint8_t opad_key[HMAC_BLOCK_LEN]; /* K0 ^ opad, kept for final */
};

/* The MAC length of alg: 16, 20 or 32; 0 for an unknown alg. */
size_t hmac_len(enum hmac_alg alg);

/* Starts a MAC with key (keylen bytes, any length; NULL only with 0).
 * 0, or -1 for an unknown alg or a NULL c. */
int hmac_init(struct hmac_ctx *c, enum hmac_alg alg, const void *key, size_t keylen);
/* Adds len bytes of the message (nothing when len is 0). */
void hmac_update(struct hmac_ctx *c, const void *data, size_t len);
/* Writes the MAC (hmac_len(alg) bytes) into out and wipes the context.
 * Returns the MAC length, 0 for a NULL c or out. */
size_t hmac_final(struct hmac_ctx *c, uint8_t *out);

/* One-shot forms: out receives 20, 32 or 16 bytes. */
void hmac_sha1(const void *key, size_t keylen, const void *msg, size_t len,
               uint8_t out[SHA1_DIGEST_LEN]);
void hmac_sha256(const void *key, size_t keylen, const void *msg, size_t len, uint8_t out[32]);
void hmac_md5(const void *key, size_t keylen, const void *msg, size_t len, uint8_t out[16]);

#endif
