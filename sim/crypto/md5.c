/*
 * md5.c - MD5 message digest (RFC 1321), freestanding.
 *
 * The context is plain data (state words, byte count, pending partial block)
 * so it can be copied to flash at a breakpoint and copied back to resume.
 * Words are little-endian; the message is padded with 0x80, zeros and the
 * bit length as a 64-bit little-endian number.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "md5.h"
#include "mdfeed.h"

/* floor(|sin(i + 1)| * 2^32), RFC 1321 section 3.4. */
static const uint32_t md5_k[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

static uint32_t rol32(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32u - n));
}

/* The four auxiliary functions of RFC 1321 section 3.4, in forms with a
 * shorter dependency chain: F selects c or d by b, G selects b or c by d
 * (the two halves share no bits, so OR is also ADD), H is parity, I as
 * given. */
#define MD5_F(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))
#define MD5_G(x, y, z) (((x) & (z)) + ((y) & ~(z)))
#define MD5_H(x, y, z) ((x) ^ (y) ^ (z))
#define MD5_I(x, y, z) ((y) ^ ((x) | ~(z)))

/* One step: a = b + ((a + fn(b, c, d) + m[g] + k[i]) <<< s). */
#define MD5_STEP(fn, a, b, c, d, g, i, s)               \
    do {                                                \
        (a) += fn((b), (c), (d)) + m[g] + md5_k[i];     \
        (a) = (b) + rol32((a), (s));                    \
    } while (0)

static void md5_block(uint32_t *st, const uint8_t *p)
{
    uint32_t m[16], a = st[0], b = st[1], c = st[2], d = st[3];

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(m, p, sizeof(m));
#else
    for (unsigned i = 0; i < 16; i++)
        m[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
               (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
#endif

    /* Round 1: word i, shifts 7 12 17 22. */
    MD5_STEP(MD5_F, a, b, c, d, 0, 0, 7);
    MD5_STEP(MD5_F, d, a, b, c, 1, 1, 12);
    MD5_STEP(MD5_F, c, d, a, b, 2, 2, 17);
    MD5_STEP(MD5_F, b, c, d, a, 3, 3, 22);
    MD5_STEP(MD5_F, a, b, c, d, 4, 4, 7);
    MD5_STEP(MD5_F, d, a, b, c, 5, 5, 12);
    MD5_STEP(MD5_F, c, d, a, b, 6, 6, 17);
    MD5_STEP(MD5_F, b, c, d, a, 7, 7, 22);
    MD5_STEP(MD5_F, a, b, c, d, 8, 8, 7);
    MD5_STEP(MD5_F, d, a, b, c, 9, 9, 12);
    MD5_STEP(MD5_F, c, d, a, b, 10, 10, 17);
    MD5_STEP(MD5_F, b, c, d, a, 11, 11, 22);
    MD5_STEP(MD5_F, a, b, c, d, 12, 12, 7);
    MD5_STEP(MD5_F, d, a, b, c, 13, 13, 12);
    MD5_STEP(MD5_F, c, d, a, b, 14, 14, 17);
    MD5_STEP(MD5_F, b, c, d, a, 15, 15, 22);
    /* Round 2: word (5i + 1) mod 16, shifts 5 9 14 20. */
    MD5_STEP(MD5_G, a, b, c, d, 1, 16, 5);
    MD5_STEP(MD5_G, d, a, b, c, 6, 17, 9);
    MD5_STEP(MD5_G, c, d, a, b, 11, 18, 14);
    MD5_STEP(MD5_G, b, c, d, a, 0, 19, 20);
    MD5_STEP(MD5_G, a, b, c, d, 5, 20, 5);
    MD5_STEP(MD5_G, d, a, b, c, 10, 21, 9);
    MD5_STEP(MD5_G, c, d, a, b, 15, 22, 14);
    MD5_STEP(MD5_G, b, c, d, a, 4, 23, 20);
    MD5_STEP(MD5_G, a, b, c, d, 9, 24, 5);
    MD5_STEP(MD5_G, d, a, b, c, 14, 25, 9);
    MD5_STEP(MD5_G, c, d, a, b, 3, 26, 14);
    MD5_STEP(MD5_G, b, c, d, a, 8, 27, 20);
    MD5_STEP(MD5_G, a, b, c, d, 13, 28, 5);
    MD5_STEP(MD5_G, d, a, b, c, 2, 29, 9);
    MD5_STEP(MD5_G, c, d, a, b, 7, 30, 14);
    MD5_STEP(MD5_G, b, c, d, a, 12, 31, 20);
    /* Round 3: word (3i + 5) mod 16, shifts 4 11 16 23. */
    MD5_STEP(MD5_H, a, b, c, d, 5, 32, 4);
    MD5_STEP(MD5_H, d, a, b, c, 8, 33, 11);
    MD5_STEP(MD5_H, c, d, a, b, 11, 34, 16);
    MD5_STEP(MD5_H, b, c, d, a, 14, 35, 23);
    MD5_STEP(MD5_H, a, b, c, d, 1, 36, 4);
    MD5_STEP(MD5_H, d, a, b, c, 4, 37, 11);
    MD5_STEP(MD5_H, c, d, a, b, 7, 38, 16);
    MD5_STEP(MD5_H, b, c, d, a, 10, 39, 23);
    MD5_STEP(MD5_H, a, b, c, d, 13, 40, 4);
    MD5_STEP(MD5_H, d, a, b, c, 0, 41, 11);
    MD5_STEP(MD5_H, c, d, a, b, 3, 42, 16);
    MD5_STEP(MD5_H, b, c, d, a, 6, 43, 23);
    MD5_STEP(MD5_H, a, b, c, d, 9, 44, 4);
    MD5_STEP(MD5_H, d, a, b, c, 12, 45, 11);
    MD5_STEP(MD5_H, c, d, a, b, 15, 46, 16);
    MD5_STEP(MD5_H, b, c, d, a, 2, 47, 23);
    /* Round 4: word 7i mod 16, shifts 6 10 15 21. */
    MD5_STEP(MD5_I, a, b, c, d, 0, 48, 6);
    MD5_STEP(MD5_I, d, a, b, c, 7, 49, 10);
    MD5_STEP(MD5_I, c, d, a, b, 14, 50, 15);
    MD5_STEP(MD5_I, b, c, d, a, 5, 51, 21);
    MD5_STEP(MD5_I, a, b, c, d, 12, 52, 6);
    MD5_STEP(MD5_I, d, a, b, c, 3, 53, 10);
    MD5_STEP(MD5_I, c, d, a, b, 10, 54, 15);
    MD5_STEP(MD5_I, b, c, d, a, 1, 55, 21);
    MD5_STEP(MD5_I, a, b, c, d, 8, 56, 6);
    MD5_STEP(MD5_I, d, a, b, c, 15, 57, 10);
    MD5_STEP(MD5_I, c, d, a, b, 6, 58, 15);
    MD5_STEP(MD5_I, b, c, d, a, 13, 59, 21);
    MD5_STEP(MD5_I, a, b, c, d, 4, 60, 6);
    MD5_STEP(MD5_I, d, a, b, c, 11, 61, 10);
    MD5_STEP(MD5_I, c, d, a, b, 2, 62, 15);
    MD5_STEP(MD5_I, b, c, d, a, 9, 63, 21);

    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
}

void md5_init(struct md5_ctx *c)
{
    if (!c)
        return;
    memset(c, 0, sizeof(*c));
    c->state[0] = 0x67452301;
    c->state[1] = 0xefcdab89;
    c->state[2] = 0x98badcfe;
    c->state[3] = 0x10325476;
}

void md5_update(struct md5_ctx *c, const void *data, size_t len)
{
    if (c && data && len)
        md_feed(c->state, &c->count, c->buf, md5_block, data, len);
}

void md5_final(struct md5_ctx *c, uint8_t out[16])
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
        pad[padlen + i] = (uint8_t)(bits >> (8 * i));
    md5_update(c, pad, padlen + 8);
    for (i = 0; i < 4; i++) {
        out[4 * i] = (uint8_t)c->state[i];
        out[4 * i + 1] = (uint8_t)(c->state[i] >> 8);
        out[4 * i + 2] = (uint8_t)(c->state[i] >> 16);
        out[4 * i + 3] = (uint8_t)(c->state[i] >> 24);
    }
    memset(c, 0, sizeof(*c));
}
