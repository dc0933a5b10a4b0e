/*
 * sha1.c - SHA-1 (FIPS 180-4 sections 4.1.1, 5.1.1, 6.1), freestanding.
 *
 * The message is taken in 512-bit blocks of sixteen big-endian words,
 * expanded to an 80-word schedule (W[t] = ROTL1(W[t-3] ^ W[t-8] ^ W[t-14] ^
 * W[t-16])), and mixed into five state words in 80 steps whose function
 * and constant change every 20 steps (Ch, Parity, Maj, Parity). Padding is
 * 0x80, zeros and the bit length as a 64-bit big-endian number, as for
 * SHA-256.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sha1.h"
#include "mdfeed.h"

static uint32_t rol32(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32u - n));
}

static void sha1_block(uint32_t *st, const uint8_t *p)
{
    uint32_t w[80], a, b, c, d, e;
    unsigned t;

    for (t = 0; t < 16; t++)
        w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 |
               (uint32_t)p[4 * t + 2] << 8 | (uint32_t)p[4 * t + 3];
    for (t = 16; t < 80; t++)
        w[t] = rol32(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
    a = st[0];
    b = st[1];
    c = st[2];
    d = st[3];
    e = st[4];
    for (t = 0; t < 80; t++) {
        uint32_t f, k, tmp;

        if (t < 20) {
            f = (b & c) ^ (~b & d);             /* Ch */
            k = 0x5a827999;
        } else if (t < 40) {
            f = b ^ c ^ d;                      /* Parity */
            k = 0x6ed9eba1;
        } else if (t < 60) {
            f = (b & c) ^ (b & d) ^ (c & d);    /* Maj */
            k = 0x8f1bbcdc;
        } else {
            f = b ^ c ^ d;                      /* Parity */
            k = 0xca62c1d6;
        }
        tmp = rol32(a, 5) + f + e + k + w[t];
        e = d;
        d = c;
        c = rol32(b, 30);
        b = a;
        a = tmp;
    }
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
    st[4] += e;
}

void sha1_init(struct sha1_ctx *c)
{
    if (!c)
        return;
    memset(c, 0, sizeof(*c));
    /* FIPS 180-4 section 5.3.1. */
    c->state[0] = 0x67452301;
    c->state[1] = 0xefcdab89;
    c->state[2] = 0x98badcfe;
    c->state[3] = 0x10325476;
    c->state[4] = 0xc3d2e1f0;
}

void sha1_update(struct sha1_ctx *c, const void *data, size_t len)
{
    if (c && data && len)
        md_feed(c->state, &c->count, c->buf, sha1_block, data, len);
}

void sha1_final(struct sha1_ctx *c, uint8_t out[SHA1_DIGEST_LEN])
{
    uint8_t pad[72];
    uint64_t bits;
    size_t have, padlen;
    unsigned i;

    if (!c || !out)
        return;
    bits = c->count << 3;
    have = (size_t)(c->count & 63u);
    padlen = (have < 56 ? 56 : 120) - have;
    memset(pad, 0, sizeof(pad));
    pad[0] = 0x80;
    for (i = 0; i < 8; i++)
        pad[padlen + i] = (uint8_t)(bits >> (56 - 8 * i));
    sha1_update(c, pad, padlen + 8);
    for (i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(c->state[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c->state[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c->state[i] >> 8);
        out[4 * i + 3] = (uint8_t)c->state[i];
    }
    memset(c, 0, sizeof(*c));
}
