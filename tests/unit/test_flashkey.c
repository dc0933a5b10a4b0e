/*
 * test_flashkey.c - incremental flash-state keys (conformance/flashkey.c).
 *
 * A key kept up to date by touching the sectors each op changes always
 * equals the key computed from scratch, through thousands of random
 * programs, erases and torn/partial faults on a plain and a program-once
 * chip; it depends on the bytes and the program-once bits only (not on the
 * model's counters); any single bit flipped, or two sectors swapped,
 * changes it, and undoing the change brings it back. Also the errors of
 * init, clipping of touches, the largest chip, and the spread of the
 * buffer hash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "conformance/flashkey.h"
#include "sim/flash/flashsim.h"

static uint64_t g_rng = 0x243F6A8885A308D3ull;

static uint64_t rnd64(void)
{
    uint64_t z = (g_rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void fill_random(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rnd64();
}

/* The key of the current state, computed from scratch. */
static void fresh_key(const struct flashsim_geom *g, const uint8_t *mem, const uint8_t *bm,
                      size_t bmlen, uint64_t out[2])
{
    struct flashkey k;
    assert_int_equal(flashkey_init(&k, g, mem, bm, bmlen), 0);
    flashkey_get(&k, out);
    flashkey_free(&k);
}

static int key_eq(const uint64_t a[2], const uint64_t b[2])
{
    return a[0] == b[0] && a[1] == b[1];
}

/* A flash model whose hook keeps a flashkey up to date. */
struct chip {
    struct flashsim fs;
    struct flashsim_geom g;
    uint8_t *mem;
    void *state;
    size_t bmlen;
    struct flashkey k;
    int cut; /* the last op was cut by the fault */
};

static int chip_hook(void *ctx, const struct flashsim_op *op, int before)
{
    struct chip *c = ctx;
    if (!before && op->kind != FLASHSIM_OP_READ)
        flashkey_touch(&c->k, op->addr, op->len);
    return 0;
}

static void chip_cut(void *ctx, const struct flashsim_op *op)
{
    struct chip *c = ctx;
    /* A torn program or partial erase changed bytes with no "after" call. */
    flashkey_touch(&c->k, op->addr, op->len);
    c->cut = 1;
}

static void chip_open(struct chip *c, uint32_t size, uint32_t ss, uint32_t pu, int once)
{
    memset(c, 0, sizeof(*c));
    c->g = (struct flashsim_geom){ size, ss, pu, 0xFF, (uint8_t)once };
    size_t sl = flashsim_state_size(&c->g);
    c->mem = malloc(size);
    c->state = aligned_alloc(64, (sl + 63) / 64 * 64);
    assert_non_null(c->mem);
    assert_non_null(c->state);
    memset(c->state, 0, sl);
    assert_int_equal(flashsim_init(&c->fs, &c->g, c->mem, c->state, 1), 0);
    c->fs.hook = chip_hook;
    c->fs.hook_ctx = c;
    c->fs.on_cut = chip_cut;
    c->fs.cut_ctx = c;
    c->bmlen = once ? ((size_t)(size / pu) + 7) / 8 : 0;
    assert_int_equal(flashkey_init(&c->k, &c->g, c->mem, c->fs.programmed, c->bmlen), 0);
}

static void chip_close(struct chip *c)
{
    flashkey_free(&c->k);
    free(c->mem);
    free(c->state);
}

/* Random ops, a fault now and then; after each, the kept key equals the
 * key from scratch. */
static void random_ops(struct chip *c, int rounds)
{
    uint32_t ss = c->g.sector_size, pu = c->g.program_unit, nsec = c->g.size / ss;
    uint8_t buf[512];
    uint64_t kept[2], want[2], prev[2];
    int changes = 0;

    flashkey_get(&c->k, prev);
    for (int r = 0; r < rounds; r++) {
        uint64_t x = rnd64();
        uint32_t sec = (uint32_t)(x % nsec);
        if (x % 7 == 0) {
            struct flashsim_fault f = { 0 };
            f.mode = (x >> 8) % 2 ? FLASHSIM_F_TORN : FLASHSIM_F_PARTIAL_ERASE;
            f.part = FLASHSIM_ANY_PART;
            f.at_seq = c->fs.meta->op_seq + 1;
            f.seed = x;
            flashsim_fault_arm(&c->fs, &f);
        }
        c->cut = 0;
        if ((x >> 16) % 5 == 0) {
            flashsim_erase(&c->fs, FLASHSIM_CHIP, sec * ss, ss);
        } else {
            uint32_t units = (uint32_t)((x >> 24) % (sizeof(buf) / pu)) + 1;
            uint32_t off = sec * ss + (uint32_t)((x >> 40) % (ss / pu)) * pu;
            if (off + units * pu > c->g.size)
                units = (c->g.size - off) / pu;
            fill_random(buf, units * pu);
            if ((x >> 50) % 3 == 0)
                memset(buf, 0xFF, units * pu); /* programs that change nothing */
            flashsim_program(&c->fs, FLASHSIM_CHIP, off, buf, units * pu);
        }
        flashsim_fault_clear(&c->fs);
        flashkey_get(&c->k, kept);
        fresh_key(&c->g, c->mem, c->fs.programmed, c->bmlen, want);
        assert_true(key_eq(kept, want));
        assert_true(kept[0] || kept[1]);
        changes += !key_eq(kept, prev);
        prev[0] = kept[0];
        prev[1] = kept[1];
    }
    assert_true(changes > rounds / 4);
}

static void test_incremental_equals_fresh(void **state)
{
    (void)state;
    struct chip c;
    chip_open(&c, 64 * 1024, 4096, 4, 0);
    random_ops(&c, 1500);
    chip_close(&c);
}

static void test_incremental_program_once(void **state)
{
    (void)state;
    struct chip c;
    chip_open(&c, 32 * 1024, 2048, 8, 1);
    random_ops(&c, 1500);
    chip_close(&c);
    /* fewer than eight units per sector: a sector's bits share a byte */
    chip_open(&c, 4096, 32, 8, 1);
    random_ops(&c, 1500);
    chip_close(&c);
}

/* The model's counters, wear and violation ring are not part of the state:
 * a second chip that reached the same bytes by other ops has the same key. */
static void test_counters_not_in_key(void **state)
{
    (void)state;
    struct chip a, b;
    uint64_t ka[2], kb[2];
    uint8_t buf[64];

    chip_open(&a, 16 * 1024, 4096, 4, 1);
    chip_open(&b, 16 * 1024, 4096, 4, 1);
    memset(buf, 0x5A, sizeof(buf));
    /* a: one program. b: a program, an erase of it, an erase of another
     * sector, the same program again, and a violation. */
    flashsim_program(&a.fs, FLASHSIM_CHIP, 4096, buf, sizeof(buf));
    flashsim_program(&b.fs, FLASHSIM_CHIP, 4096, buf, sizeof(buf));
    flashsim_erase(&b.fs, FLASHSIM_CHIP, 4096, 4096);
    flashsim_erase(&b.fs, FLASHSIM_CHIP, 8192, 4096);
    flashsim_program(&b.fs, FLASHSIM_CHIP, 4096, buf, sizeof(buf));
    flashsim_program(&b.fs, FLASHSIM_CHIP, 4097, buf, 4); /* misaligned: rejected */
    assert_true(b.fs.meta->op_seq > a.fs.meta->op_seq);
    assert_true(b.fs.meta->violations > 0);
    flashkey_get(&a.k, ka);
    flashkey_get(&b.k, kb);
    assert_true(key_eq(ka, kb));
    chip_close(&a);
    chip_close(&b);
}

/* Every single bit flip (bytes sampled across the chip, every bitmap bit of
 * a small chip) changes the key; flipping back restores it. */
static void test_bit_flips_change_key(void **state)
{
    (void)state;
    struct flashsim_geom g = { 32 * 1024, 2048, 8, 0xFF, 1 };
    size_t bmlen = (g.size / g.program_unit + 7) / 8;
    uint8_t *mem = malloc(g.size), *bm = calloc(bmlen, 1);
    struct flashkey k;
    uint64_t base[2], now[2];

    assert_non_null(mem);
    assert_non_null(bm);
    fill_random(mem, g.size);
    fill_random(bm, bmlen);
    assert_int_equal(flashkey_init(&k, &g, mem, bm, bmlen), 0);
    flashkey_get(&k, base);
    for (uint32_t off = 0; off < g.size; off += off < 64 || off > g.size - 64 ? 1 : 97) {
        for (int b = 0; b < 8; b++) {
            mem[off] ^= (uint8_t)(1u << b);
            flashkey_touch(&k, off, 1);
            flashkey_get(&k, now);
            assert_false(key_eq(now, base));
            assert_true(now[0] != base[0] && now[1] != base[1]); /* both halves move */
            mem[off] ^= (uint8_t)(1u << b);
            flashkey_touch(&k, off, 1);
            flashkey_get(&k, now);
            assert_true(key_eq(now, base));
        }
    }
    for (uint32_t bit = 0; bit < bmlen * 8; bit++) {
        uint32_t unit = bit, addr = unit * g.program_unit;
        bm[bit >> 3] ^= (uint8_t)(1u << (bit & 7));
        flashkey_touch(&k, addr, g.program_unit);
        flashkey_get(&k, now);
        assert_false(key_eq(now, base));
        bm[bit >> 3] ^= (uint8_t)(1u << (bit & 7));
        flashkey_touch(&k, addr, g.program_unit);
        flashkey_get(&k, now);
        assert_true(key_eq(now, base));
    }
    /* Without the bitmap, the same bytes give another key (the bitmap is
     * part of the state) and bitmap changes are not seen. */
    struct flashkey k2;
    assert_int_equal(flashkey_init(&k2, &g, mem, NULL, 0), 0);
    flashkey_get(&k2, now);
    assert_false(key_eq(now, base));
    flashkey_free(&k2);
    flashkey_free(&k);
    free(mem);
    free(bm);
}

/* Sector order matters: swapping two sectors' contents changes the key;
 * a state rebuilt behind the hook's back needs flashkey_reset_all_dirty. */
static void test_swap_and_reset(void **state)
{
    (void)state;
    struct flashsim_geom g = { 64 * 1024, 4096, 1, 0xFF, 0 };
    uint8_t *mem = malloc(g.size), *copy = malloc(g.size), tmp[4096];
    struct flashkey k;
    uint64_t base[2], now[2], want[2];

    assert_non_null(mem);
    assert_non_null(copy);
    fill_random(mem, g.size);
    memset(mem + 8 * 4096, 0xFF, 2 * 4096); /* two blank sectors: equal contents */
    memcpy(copy, mem, g.size);
    assert_int_equal(flashkey_init(&k, &g, mem, NULL, 0), 0);
    flashkey_get(&k, base);

    memcpy(tmp, mem + 4096, 4096);
    memcpy(mem + 4096, mem + 3 * 4096, 4096);
    memcpy(mem + 3 * 4096, tmp, 4096);
    flashkey_touch(&k, 4096, 4096);
    flashkey_touch(&k, 3 * 4096, 4096);
    flashkey_get(&k, now);
    assert_false(key_eq(now, base));

    /* swapping the two equal blank sectors is no change at all */
    memcpy(mem, copy, g.size);
    flashkey_reset_all_dirty(&k);
    flashkey_get(&k, now);
    assert_true(key_eq(now, base));

    /* a memcpy of another state, then reset: equals a fresh key */
    fill_random(mem + 20000, 30000);
    flashkey_reset_all_dirty(&k);
    flashkey_get(&k, now);
    fresh_key(&g, mem, NULL, 0, want);
    assert_true(key_eq(now, want));
    assert_false(key_eq(now, base));
    flashkey_free(&k);
    free(mem);
    free(copy);
}

/* Touches are clipped to the chip; bad arguments are refused; the largest
 * chip (16 MiB) works; geometry is part of the key. */
static void test_limits_and_errors(void **state)
{
    (void)state;
    struct flashkey k;
    struct flashsim_geom g = { 16u * 1024 * 1024, 4096, 1, 0xFF, 0 };
    struct flashsim_geom bad = { 4096, 3000, 1, 0xFF, 0 };
    struct flashsim_geom big = { 32u * 1024 * 1024, 4096, 1, 0xFF, 0 };
    struct flashsim_geom once = { 64 * 1024, 4096, 8, 0xFF, 1 };
    uint8_t *mem = malloc(g.size), bm[1024] = { 0 };
    uint64_t a[2], b[2];

    assert_non_null(mem);
    assert_int_equal(flashkey_init(&k, &bad, mem, NULL, 0), -1);
    assert_int_equal(flashkey_init(&k, &big, mem, NULL, 0), -1);
    assert_int_equal(flashkey_init(&k, NULL, mem, NULL, 0), -1);
    assert_int_equal(flashkey_init(&k, &g, NULL, NULL, 0), -1);
    assert_int_equal(flashkey_init(&k, &once, mem, bm, 1023), -1); /* needs 1024 */
    assert_int_equal(flashkey_init(&k, &once, mem, bm, 1024), 0);
    flashkey_free(&k);
    flashkey_free(&k); /* twice is harmless */

    memset(mem, 0xFF, g.size);
    assert_int_equal(flashkey_init(&k, &g, mem, NULL, 0), 0);
    flashkey_get(&k, a);
    mem[g.size - 1] = 0;
    flashkey_touch(&k, g.size - 1, 100); /* clipped */
    flashkey_touch(&k, g.size, 4096);    /* outside: nothing */
    flashkey_touch(&k, 0, 0);            /* empty: nothing */
    flashkey_get(&k, b);
    assert_false(key_eq(a, b));
    fresh_key(&g, mem, NULL, 0, a);
    assert_true(key_eq(a, b));
    flashkey_free(&k);

    /* same bytes, other geometry: other key */
    struct flashsim_geom g2 = { 16u * 1024 * 1024, 8192, 1, 0xFF, 0 };
    fresh_key(&g2, mem, NULL, 0, a);
    assert_false(key_eq(a, b));
    free(mem);
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

/* The buffer hash: lengths count (trailing zeros too), no collisions among
 * many distinct inputs in either half, and one flipped input bit flips
 * about half of the 128 output bits. */
static void test_hash_spread(void **state)
{
    (void)state;
    static uint8_t buf[4096];
    uint64_t a[2], b[2];
    enum { N = 20000 };
    static uint64_t h0[N], h1[N];

    flashkey_hash(buf, 0, a);
    flashkey_hash(buf, 1, b);
    assert_false(key_eq(a, b));
    for (size_t n = 1; n < 100; n++) {
        flashkey_hash(buf, n, a);
        flashkey_hash(buf, n + 1, b);
        assert_false(key_eq(a, b));
    }
    /* distinct inputs: a counter in a blank sector */
    memset(buf, 0xFF, sizeof(buf));
    for (uint32_t i = 0; i < N; i++) {
        memcpy(buf + (i % 7) * 500, &i, sizeof(i));
        uint64_t h[2];
        flashkey_hash(buf, sizeof(buf), h);
        h0[i] = h[0];
        h1[i] = h[1];
        memset(buf + (i % 7) * 500, 0xFF, sizeof(i));
    }
    for (int half = 0; half < 2; half++) {
        uint64_t *v = half ? h1 : h0;
        qsort(v, N, sizeof(*v), cmp_u64);
        for (uint32_t i = 1; i < N; i++)
            assert_true(v[i] != v[i - 1]);
    }
    /* avalanche */
    fill_random(buf, sizeof(buf));
    flashkey_hash(buf, sizeof(buf), a);
    uint64_t total = 0;
    int flips = 0;
    for (uint32_t bit = 0; bit < sizeof(buf) * 8; bit += 37, flips++) {
        buf[bit >> 3] ^= (uint8_t)(1u << (bit & 7));
        flashkey_hash(buf, sizeof(buf), b);
        buf[bit >> 3] ^= (uint8_t)(1u << (bit & 7));
        int d = __builtin_popcountll(a[0] ^ b[0]) + __builtin_popcountll(a[1] ^ b[1]);
        assert_true(d >= 30 && d <= 98);
        total += (uint64_t)d;
    }
    double mean = (double)total / flips;
    assert_true(mean > 60.0 && mean < 68.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_incremental_equals_fresh),
        cmocka_unit_test(test_incremental_program_once),
        cmocka_unit_test(test_counters_not_in_key),
        cmocka_unit_test(test_bit_flips_change_key),
        cmocka_unit_test(test_swap_and_reset),
        cmocka_unit_test(test_limits_and_errors),
        cmocka_unit_test(test_hash_spread),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
