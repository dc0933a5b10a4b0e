/*
 * flashkey.c - incremental 128-bit keys of flash states (see flashkey.h).
 *
 * The sector hash reads the data as little-endian 64-bit words, 32 bytes
 * per stripe, word i of a stripe going to lane i of two sets of four lanes:
 *   set A: a = rotl((a ^ w) * A_i, 29)
 *   set B: b = (b + rotl(w, 32)) * B_i, then b ^= b >> 31
 * Each step is a bijection of the lane for a fixed word and of the word for
 * a fixed lane, so a difference confined to one lane survives to the end;
 * the two sets differ in every operation and constant. The eight 64-bit
 * multiplies of a stripe are independent of each other, which is what
 * makes the hash fast. A partial word (the tail of an odd-sized buffer) is
 * zero-padded; the lengths go into the finalisation, which folds each set's
 * lanes through a bijective mixer into one 64-bit half.
 *
 * The chip key is the XOR over sectors of mix(index, sector hash), seeded
 * by the geometry, so updating one sector is two XORs. Constants are the
 * fractional parts of square roots of small primes, forced odd.
 */
#include <stdlib.h>
#include <string.h>

#include "conformance/flashkey.h"

#define FK_MAX_SIZE (16u * 1024 * 1024)

static const uint64_t fk_a[4] = {
    0x6A09E667F3BCC909ull, 0xBB67AE8584CAA73Bull, 0x3C6EF372FE94F82Bull, 0xA54FF53A5F1D36F1ull,
};
static const uint64_t fk_b[4] = {
    0x510E527FADE682D1ull, 0x9B05688C2B3E6C1Full, 0x1F83D9ABFB41BD6Bull, 0x5BE0CD19137E2179ull,
};
#define FK_M1 0xCBBB9D5DC1059ED9ull /* sqrt(23) */
#define FK_M2 0x629A292A367CD507ull /* sqrt(29) */
#define FK_M3 0x9159015A3070DD17ull /* sqrt(31) */
#define FK_M4 0x152FECD8F70E5939ull /* sqrt(37) */

static inline uint64_t rotl64(uint64_t x, unsigned r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof(w));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

/* Bijective 64-bit mixers, one per half. */
static inline uint64_t mix_a(uint64_t x)
{
    x ^= x >> 32;
    x *= FK_M1;
    x ^= x >> 29;
    x *= FK_M2;
    x ^= x >> 32;
    return x;
}

static inline uint64_t mix_b(uint64_t x)
{
    x ^= x >> 31;
    x *= FK_M3;
    x ^= x >> 27;
    x *= FK_M4;
    x ^= x >> 33;
    return x;
}

struct fk_lanes {
    uint64_t a[4], b[4];
    unsigned next; /* lane of the next single word */
};

static void lanes_init(struct fk_lanes *l)
{
    for (int i = 0; i < 4; i++) {
        l->a[i] = fk_b[i];
        l->b[i] = fk_a[i];
    }
    l->next = 0;
}

static inline void step_a(uint64_t *a, uint64_t w, uint64_t k)
{
    *a = rotl64((*a ^ w) * k, 29);
}

static inline void step_b(uint64_t *b, uint64_t w, uint64_t k)
{
    uint64_t x = (*b + rotl64(w, 32)) * k;
    *b = x ^ (x >> 31);
}

/* Whole stripes of p (len rounded down to 32), lanes in registers. */
static size_t absorb_stripes(struct fk_lanes *l, const uint8_t *p, size_t len)
{
    uint64_t a0 = l->a[0], a1 = l->a[1], a2 = l->a[2], a3 = l->a[3];
    uint64_t b0 = l->b[0], b1 = l->b[1], b2 = l->b[2], b3 = l->b[3];
    size_t done = 0;

    for (; len - done >= 32; done += 32) {
        uint64_t w0 = load64(p + done), w1 = load64(p + done + 8);
        uint64_t w2 = load64(p + done + 16), w3 = load64(p + done + 24);
        step_a(&a0, w0, fk_a[0]);
        step_a(&a1, w1, fk_a[1]);
        step_a(&a2, w2, fk_a[2]);
        step_a(&a3, w3, fk_a[3]);
        step_b(&b0, w0, fk_b[0]);
        step_b(&b1, w1, fk_b[1]);
        step_b(&b2, w2, fk_b[2]);
        step_b(&b3, w3, fk_b[3]);
    }
    l->a[0] = a0; l->a[1] = a1; l->a[2] = a2; l->a[3] = a3;
    l->b[0] = b0; l->b[1] = b1; l->b[2] = b2; l->b[3] = b3;
    return done;
}

static void absorb_word(struct fk_lanes *l, uint64_t w)
{
    unsigned i = l->next;
    step_a(&l->a[i], w, fk_a[i]);
    step_b(&l->b[i], w, fk_b[i]);
    l->next = (i + 1) & 3;
}

/* Any length: stripes, then words, then a zero-padded last word. */
static void absorb(struct fk_lanes *l, const uint8_t *p, size_t len)
{
    size_t done = l->next == 0 ? absorb_stripes(l, p, len) : 0;

    for (; len - done >= 8; done += 8)
        absorb_word(l, load64(p + done));
    if (done < len) {
        uint8_t last[8] = { 0 };
        memcpy(last, p + done, len - done);
        absorb_word(l, load64(last));
    }
}

static void lanes_final(const struct fk_lanes *l, uint64_t n1, uint64_t n2, uint64_t out[2])
{
    uint64_t ha = mix_a(l->a[3] ^ n1 ^ rotl64(n2, 32));
    uint64_t hb = mix_b(l->b[3] ^ rotl64(n1, 16) ^ n2);
    for (int i = 2; i >= 0; i--) {
        ha = mix_a(l->a[i] ^ ha);
        hb = mix_b(l->b[i] ^ hb);
    }
    out[0] = ha;
    out[1] = hb;
}

void flashkey_hash(const void *data, size_t len, uint64_t out[2])
{
    struct fk_lanes l;
    lanes_init(&l);
    absorb(&l, data, len);
    lanes_final(&l, len, 0, out);
}

/* ---- chip keys ------------------------------------------------------------ */

/* 1 when sector s is erased: every byte the erased value, no program mark. */
static int sector_blank(const struct flashkey *k, uint32_t s)
{
    const uint8_t *p = k->mem + (size_t)s * k->sector_size;
    if (p[0] != k->erase_value || memcmp(p, p + 1, k->sector_size - 1) != 0)
        return 0;
    if (!k->programmed)
        return 1;
    uint32_t ups = k->units_per_sec;
    if (ups % 8 == 0) {
        const uint8_t *b = k->programmed + (size_t)s * (ups / 8);
        for (uint32_t i = 0; i < ups / 8; i++)
            if (b[i])
                return 0;
        return 1;
    }
    uint32_t bit = s * ups;
    return ((k->programmed[bit >> 3] >> (bit & 7)) & ((1u << ups) - 1)) == 0;
}

static void sector_hash_full(const struct flashkey *k, uint32_t s, uint64_t out[2]);

/* Erased sectors are common (a copy erases a whole slot first): their hash
 * is the same wherever they are, so it is computed once. */
static void sector_hash(struct flashkey *k, uint32_t s, uint64_t out[2])
{
    if (sector_blank(k, s)) {
        if (!k->have_blank) {
            sector_hash_full(k, s, k->blank);
            k->have_blank = 1;
        }
        out[0] = k->blank[0];
        out[1] = k->blank[1];
        return;
    }
    sector_hash_full(k, s, out);
}

static void sector_hash_full(const struct flashkey *k, uint32_t s, uint64_t out[2])
{
    struct fk_lanes l;
    size_t nbits = 0;

    lanes_init(&l);
    absorb(&l, k->mem + (size_t)s * k->sector_size, k->sector_size);
    if (k->programmed) {
        uint32_t ups = k->units_per_sec;
        if (ups % 8 == 0) {
            nbits = ups / 8;
            absorb(&l, k->programmed + (size_t)s * nbits, nbits);
        } else {
            /* fewer than eight units per sector: its bits share a byte */
            uint32_t bit = s * ups;
            uint8_t b = (uint8_t)((k->programmed[bit >> 3] >> (bit & 7)) & ((1u << ups) - 1));
            nbits = 1;
            absorb(&l, &b, 1);
        }
    }
    lanes_final(&l, k->sector_size, nbits + 1, out);
}

/* A sector's share of the key: its hash mixed with its index. */
static void share(uint32_t s, const uint64_t h[2], uint64_t out[2])
{
    out[0] = mix_a(h[0] ^ mix_b((uint64_t)s * FK_M1 + 1));
    out[1] = mix_b(h[1] ^ mix_a((uint64_t)s * FK_M3 + 2));
}

static void key_seed(const struct flashkey *k, uint64_t key[2])
{
    key[0] = mix_a(((uint64_t)k->size << 32 | k->sector_size) ^ fk_a[0]);
    key[1] = mix_b(((uint64_t)k->units_per_sec << 32 | (k->programmed != NULL)) ^ fk_b[0]);
}

int flashkey_init(struct flashkey *k, const struct flashsim_geom *g, const uint8_t *mem,
                  const uint8_t *programmed, size_t programmed_len)
{
    memset(k, 0, sizeof(*k));
    if (!g || !mem || flashsim_geom_check(g) != 0 || g->size > FK_MAX_SIZE)
        return -1;
    if (programmed && programmed_len < ((size_t)(g->size / g->program_unit) + 7) / 8)
        return -1;
    k->size = g->size;
    k->sector_size = g->sector_size;
    k->erase_value = g->erase_value;
    k->have_blank = 0;
    k->nsec = g->size / g->sector_size;
    k->units_per_sec = g->sector_size / g->program_unit;
    k->mem = mem;
    k->programmed = programmed;
    k->sec = malloc(sizeof(*k->sec) * k->nsec);
    k->dirty = calloc(k->nsec, 1);
    k->dlist = malloc(sizeof(*k->dlist) * k->nsec);
    if (!k->sec || !k->dirty || !k->dlist) {
        flashkey_free(k);
        return -1;
    }
    k->all_dirty = 1;
    return 0;
}

void flashkey_touch(struct flashkey *k, uint32_t chip_off, uint32_t len)
{
    if (!len || chip_off >= k->size || k->all_dirty)
        return;
    uint64_t end = (uint64_t)chip_off + len;
    if (end > k->size)
        end = k->size;
    uint32_t s1 = (uint32_t)((end - 1) / k->sector_size);
    for (uint32_t s = chip_off / k->sector_size; s <= s1; s++) {
        if (!k->dirty[s]) {
            k->dirty[s] = 1;
            k->dlist[k->ndirty++] = s;
        }
    }
}

void flashkey_reset_all_dirty(struct flashkey *k)
{
    k->all_dirty = 1;
}

void flashkey_get(struct flashkey *k, uint64_t out[2])
{
    uint64_t sh[2];

    if (k->all_dirty) {
        key_seed(k, k->key);
        for (uint32_t s = 0; s < k->nsec; s++) {
            sector_hash(k, s, k->sec[s]);
            share(s, k->sec[s], sh);
            k->key[0] ^= sh[0];
            k->key[1] ^= sh[1];
        }
        memset(k->dirty, 0, k->nsec);
        k->ndirty = 0;
        k->all_dirty = 0;
    }
    for (uint32_t i = 0; i < k->ndirty; i++) {
        uint32_t s = k->dlist[i];
        share(s, k->sec[s], sh);
        k->key[0] ^= sh[0];
        k->key[1] ^= sh[1];
        sector_hash(k, s, k->sec[s]);
        share(s, k->sec[s], sh);
        k->key[0] ^= sh[0];
        k->key[1] ^= sh[1];
        k->dirty[s] = 0;
    }
    k->ndirty = 0;
    out[0] = k->key[0];
    out[1] = k->key[1];
    if (!out[0] && !out[1])
        out[0] = 1; /* zero is memo.h's empty key */
}

void flashkey_free(struct flashkey *k)
{
    free(k->sec);
    free(k->dirty);
    free(k->dlist);
    k->sec = NULL;
    k->dirty = NULL;
    k->dlist = NULL;
    k->nsec = 0;
    k->size = 0;
    k->ndirty = 0;
}
