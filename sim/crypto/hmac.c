/*
 * hmac.c - HMAC (RFC 2104) over md5.c, sha1.c and sha256.c, freestanding.
 *
 * init hashes K0 ^ ipad into the inner context and keeps K0 ^ opad; final
 * closes the inner hash and hashes K0 ^ opad || inner digest. Key material
 * left on the stack and in the context is wiped.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hmac.h"

size_t hmac_len(enum hmac_alg alg)
{
    switch (alg) {
    case HMAC_MD5:
        return 16;
    case HMAC_SHA1:
        return SHA1_DIGEST_LEN;
    case HMAC_SHA256:
        return 32;
    }
    return 0;
}

static void hash_init(struct hmac_ctx *c)
{
    if (c->alg == HMAC_MD5)
        md5_init(&c->h.md5);
    else if (c->alg == HMAC_SHA1)
        sha1_init(&c->h.sha1);
    else
        sha256_init(&c->h.sha256);
}

static void hash_update(struct hmac_ctx *c, const void *p, size_t n)
{
    if (c->alg == HMAC_MD5)
        md5_update(&c->h.md5, p, n);
    else if (c->alg == HMAC_SHA1)
        sha1_update(&c->h.sha1, p, n);
    else
        sha256_update(&c->h.sha256, p, n);
}

static void hash_final(struct hmac_ctx *c, uint8_t *out)
{
    if (c->alg == HMAC_MD5)
        md5_final(&c->h.md5, out);
    else if (c->alg == HMAC_SHA1)
        sha1_final(&c->h.sha1, out);
    else
        sha256_final(&c->h.sha256, out);
}

int hmac_init(struct hmac_ctx *c, enum hmac_alg alg, const void *key, size_t keylen)
{
    uint8_t k0[HMAC_BLOCK_LEN], ipad[HMAC_BLOCK_LEN];
    unsigned i;

    if (!c || hmac_len(alg) == 0 || (!key && keylen))
        return -1;
    memset(c, 0, sizeof(*c));
    c->alg = alg;
    memset(k0, 0, sizeof(k0));
    if (keylen > HMAC_BLOCK_LEN) {
        hash_init(c);
        hash_update(c, key, keylen);
        hash_final(c, k0);
    } else if (keylen) {
        memcpy(k0, key, keylen);
    }
    for (i = 0; i < HMAC_BLOCK_LEN; i++) {
        ipad[i] = (uint8_t)(k0[i] ^ 0x36);
        c->opad_key[i] = (uint8_t)(k0[i] ^ 0x5c);
    }
    hash_init(c);
    hash_update(c, ipad, sizeof(ipad));
    memset(k0, 0, sizeof(k0));
    memset(ipad, 0, sizeof(ipad));
    return 0;
}

void hmac_update(struct hmac_ctx *c, const void *data, size_t len)
{
    if (c && data && len)
        hash_update(c, data, len);
}

size_t hmac_final(struct hmac_ctx *c, uint8_t *out)
{
    uint8_t inner[HMAC_MAX_LEN];
    size_t n;

    if (!c || !out)
        return 0;
    n = hmac_len(c->alg);
    hash_final(c, inner);
    hash_init(c);
    hash_update(c, c->opad_key, sizeof(c->opad_key));
    hash_update(c, inner, n);
    hash_final(c, out);
    memset(inner, 0, sizeof(inner));
    memset(c, 0, sizeof(*c));
    return n;
}

static void hmac_once(enum hmac_alg alg, const void *key, size_t keylen, const void *msg,
                      size_t len, uint8_t *out)
{
    struct hmac_ctx c;

    if (hmac_init(&c, alg, key, keylen) != 0)
        return;
    hmac_update(&c, msg, len);
    hmac_final(&c, out);
}

void hmac_sha1(const void *key, size_t keylen, const void *msg, size_t len,
               uint8_t out[SHA1_DIGEST_LEN])
{
    hmac_once(HMAC_SHA1, key, keylen, msg, len, out);
}

void hmac_sha256(const void *key, size_t keylen, const void *msg, size_t len, uint8_t out[32])
{
    hmac_once(HMAC_SHA256, key, keylen, msg, len, out);
}

void hmac_md5(const void *key, size_t keylen, const void *msg, size_t len, uint8_t out[16])
{
    hmac_once(HMAC_MD5, key, keylen, msg, len, out);
}
