/*
 * test_kv.c - the log-structured key-value store on the flash model.
 *
 * API semantics (set/get/del/overwrite, limits, ETOOSMALL, ENOSPC), the
 * CRC-32s on flash against a bitwise reference, compaction, persistence across remounts, blank and junk flash, torn
 * records, heavy random use on program-once geometry with no violation, and
 * the power-cut sweep: a scripted run that forces several compactions is cut
 * before each of its flash ops in turn (fresh copy of the flash each time),
 * remounted, and every key must hold its old or its new value and the store
 * must keep working.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sim/flash/flashsim.h"
#include "sim/kv/kv.h"

#define P_PARAM2 6 /* HAL_PARTITION_PARAMETER_2 */
#define P_PARAM3 7 /* HAL_PARTITION_PARAMETER_3 */
#define P_OTHER  3

/* A chip in RAM with a power switch. */
struct rig {
    struct flashsim fs;
    uint8_t *mem;
    void *state;
    size_t state_len;
    int parts[2];
    int nparts;
    uint64_t ops;    /* numbered ops seen (before calls) */
    uint64_t erases; /* erase ops seen */
    uint64_t cut_at; /* cut power before op number cut_at (0: never) */
    int off;         /* power is off: every op is cut */
    struct flashsim_op log[64]; /* the first ops seen since nlog was reset */
    int nlog;
};

static int rig_hook(void *ctx, const struct flashsim_op *op, int before)
{
    struct rig *r = ctx;

    if (!before)
        return 0;
    if (r->nlog < 64)
        r->log[r->nlog++] = *op;
    r->ops++;
    if (r->off || (r->cut_at && r->ops == r->cut_at)) {
        r->off = 1;
        return 1;
    }
    if (op->kind == FLASHSIM_OP_ERASE)
        r->erases++;
    return 0;
}

static void rig_part(struct rig *r, int id, uint32_t start, uint32_t len)
{
    struct flashsim_part p;

    memset(&p, 0, sizeof(p));
    p.id = id;
    snprintf(p.name, sizeof(p.name), "P%d", id);
    p.start = start;
    p.length = len;
    p.options = 3;
    assert_int_equal(flashsim_add_part(&r->fs, &p), FLASHSIM_OK);
}

/* KV on PARAMETER_2 (sectors 2..2+n2) and, if n3, PARAMETER_3 after a gap. */
static struct rig *rig_new(uint32_t ss, uint32_t pu, int once, uint32_t n2, uint32_t n3)
{
    struct flashsim_geom g = {16 * ss, ss, pu, 0xFF, (uint8_t)once};
    struct rig *r = calloc(1, sizeof(*r));

    assert_non_null(r);
    r->state_len = flashsim_state_size(&g);
    r->mem = malloc(g.size);
    r->state = calloc(1, r->state_len);
    assert_non_null(r->mem);
    assert_non_null(r->state);
    assert_int_equal(flashsim_init(&r->fs, &g, r->mem, r->state, 1), FLASHSIM_OK);
    rig_part(r, P_OTHER, 0, 2 * ss);
    rig_part(r, P_PARAM2, 2 * ss, n2 * ss);
    r->parts[0] = P_PARAM2;
    r->nparts = 1;
    if (n3) {
        rig_part(r, P_PARAM3, (3 + n2) * ss, n3 * ss);
        r->parts[1] = P_PARAM3;
        r->nparts = 2;
    }
    r->fs.hook = rig_hook;
    r->fs.hook_ctx = r;
    return r;
}

static void rig_free(struct rig *r)
{
    free(r->mem);
    free(r->state);
    free(r);
}

static int rig_mount(struct rig *r, struct kv_store *kv)
{
    return kv_mount(kv, &r->fs, r->parts, r->nparts);
}

static uint32_t seed = 12345;

static uint32_t rnd(void)
{
    seed = seed * 1103515245u + 12345u;
    return seed >> 8;
}

static void kv_expect(struct kv_store *kv, const char *key, const void *val, int len)
{
    uint8_t buf[KV_MAX_VALUE];
    int n = sizeof(buf);

    assert_int_equal(kv_get(kv, key, buf, &n), KV_OK);
    assert_int_equal(n, len);
    assert_memory_equal(buf, val, (size_t)len);
}

static void kv_expect_absent(struct kv_store *kv, const char *key)
{
    uint8_t buf[8];
    int n = sizeof(buf);

    assert_int_equal(kv_get(kv, key, buf, &n), KV_ENOENT);
}

/* CRC-32 (reflected 0xEDB88320, init and final XOR 0xFFFFFFFF), bit by bit,
 * written independently of kv.c. */
static uint32_t ref_crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;

    while (n--) {
        c ^= *p++;
        for (int b = 0; b < 8; b++)
            c = (c & 1u) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- API ------------------------------------------------------------------ */

static void test_set_get_del(void **state)
{
    struct rig *r = rig_new(4096, 1, 0, 2, 0);
    struct kv_store kv;
    char buf[64];
    int n;

    (void)state;
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    kv_expect_absent(&kv, "ota_ota_version");
    assert_int_equal(kv_set(&kv, "ota_ota_version", "1.0.1", 6), KV_OK);
    kv_expect(&kv, "ota_ota_version", "1.0.1", 6);
    assert_int_equal(kv_set(&kv, "ota_ota_version", "1.0.22", 7), KV_OK);
    kv_expect(&kv, "ota_ota_version", "1.0.22", 7);
    assert_int_equal(kv_set(&kv, "hal_ota_get_crc16", "\x31\xC3", 2), KV_OK);

    /* ETOOSMALL reports the size needed. */
    n = 3;
    assert_int_equal(kv_get(&kv, "ota_ota_version", buf, &n), KV_ETOOSMALL);
    assert_int_equal(n, 7);
    n = 0;
    assert_int_equal(kv_get(&kv, "ota_ota_version", NULL, &n), KV_ETOOSMALL);
    assert_int_equal(n, 7);
    n = 7;
    assert_int_equal(kv_get(&kv, "ota_ota_version", buf, &n), KV_OK);

    assert_int_equal(kv_del(&kv, "ota_ota_version"), KV_OK);
    kv_expect_absent(&kv, "ota_ota_version");
    assert_int_equal(kv_del(&kv, "ota_ota_version"), KV_ENOENT);
    assert_int_equal(kv_del(&kv, "never-set"), KV_ENOENT);
    kv_expect(&kv, "hal_ota_get_crc16", "\x31\xC3", 2);
    /* Set again after a delete. */
    assert_int_equal(kv_set(&kv, "ota_ota_version", "2", 1), KV_OK);
    kv_expect(&kv, "ota_ota_version", "2", 1);
    /* A zero-length value is a value. */
    assert_int_equal(kv_set(&kv, "empty", NULL, 0), KV_OK);
    n = 0;
    assert_int_equal(kv_get(&kv, "empty", NULL, &n), KV_OK);
    assert_int_equal(n, 0);
    assert_int_equal(r->fs.meta->violations, 0);
    rig_free(r);
}

static void test_limits(void **state)
{
    struct rig *r = rig_new(4096, 4, 0, 2, 0);
    struct kv_store kv;
    char key[KV_MAX_KEY + 2];
    uint8_t val[KV_MAX_VALUE + 1];
    int n = 8;

    (void)state;
    memset(val, 0x5A, sizeof(val));
    memset(key, 'k', sizeof(key));
    key[KV_MAX_KEY] = '\0';
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    assert_int_equal(kv_set(&kv, key, val, KV_MAX_VALUE), KV_OK);
    kv_expect(&kv, key, val, KV_MAX_VALUE);
    key[KV_MAX_KEY] = 'k';
    key[KV_MAX_KEY + 1] = '\0';
    assert_int_equal(kv_set(&kv, key, val, 1), KV_EINVAL);
    assert_int_equal(kv_get(&kv, key, val, &n), KV_EINVAL);
    assert_int_equal(kv_del(&kv, key), KV_EINVAL);
    assert_int_equal(kv_set(&kv, "", val, 1), KV_EINVAL);
    assert_int_equal(kv_set(&kv, NULL, val, 1), KV_EINVAL);
    assert_int_equal(kv_set(&kv, "v", val, KV_MAX_VALUE + 1), KV_EINVAL);
    assert_int_equal(kv_set(&kv, "v", val, -1), KV_EINVAL);
    assert_int_equal(kv_set(&kv, "v", NULL, 3), KV_EINVAL);
    assert_int_equal(kv_get(&kv, "v", val, NULL), KV_EINVAL);
    rig_free(r);
}

static void test_mount_errors(void **state)
{
    struct rig *r = rig_new(4096, 1, 0, 1, 1);
    struct kv_store kv;
    struct flashsim_part p;
    int one[1] = {P_PARAM2}, dup[2] = {P_PARAM2, P_PARAM2}, bad[1] = {42}, odd[1] = {9};

    (void)state;
    assert_int_equal(kv_mount(&kv, &r->fs, one, 1), KV_EINVAL); /* one sector */
    assert_int_equal(kv_mount(&kv, &r->fs, dup, 2), KV_EINVAL);
    assert_int_equal(kv_mount(&kv, &r->fs, bad, 1), KV_EINVAL);
    assert_int_equal(kv_mount(&kv, &r->fs, one, 0), KV_EINVAL);
    assert_int_equal(kv_mount(&kv, NULL, one, 1), KV_EINVAL);
    memset(&p, 0, sizeof(p));
    p.id = 9;
    p.start = 10 * 4096 + 512; /* not sector-aligned */
    p.length = 2 * 4096;
    p.options = 3;
    assert_int_equal(flashsim_add_part(&r->fs, &p), FLASHSIM_OK);
    assert_int_equal(kv_mount(&kv, &r->fs, odd, 1), KV_EINVAL);
    /* Unmounted store refuses work. */
    assert_int_equal(kv_set(&kv, "a", "b", 1), KV_EINVAL);
    /* Two partitions of one sector each are enough. */
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    assert_int_equal(kv.nsec, 2);
    assert_int_equal(kv_set(&kv, "a", "b", 1), KV_OK);
    rig_free(r);
}

static void test_persistence(void **state)
{
    struct rig *r = rig_new(2048, 8, 1, 2, 1);
    struct kv_store kv;
    char key[16], val[40];
    int i, round;

    (void)state;
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    for (round = 0; round < 6; round++) {
        for (i = 0; i < 10; i++) {
            snprintf(key, sizeof(key), "key%d", i);
            snprintf(val, sizeof(val), "value %d of round %d", i, round);
            assert_int_equal(kv_set(&kv, key, val, (int)strlen(val)), KV_OK);
        }
        assert_int_equal(rig_mount(r, &kv), KV_OK);
        for (i = 0; i < 10; i++) {
            snprintf(key, sizeof(key), "key%d", i);
            snprintf(val, sizeof(val), "value %d of round %d", i, round);
            kv_expect(&kv, key, val, (int)strlen(val));
        }
    }
    assert_int_equal(kv_del(&kv, "key3"), KV_OK);
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    kv_expect_absent(&kv, "key3");
    assert_int_equal(r->fs.meta->violations, 0);
    rig_free(r);
}

struct seen {
    int count;
    int mask;
    int bad;
};

static void on_key(void *ctx, const char *key, const uint8_t *val, int len)
{
    struct seen *s = ctx;
    int i;

    s->count++;
    if (sscanf(key, "k%d", &i) != 1 || i < 0 || i > 9 || len != 2 || val[0] != 'v' ||
        val[1] != '0' + i)
        s->bad++;
    else
        s->mask |= 1 << i;
}

static void test_foreach(void **state)
{
    struct rig *r = rig_new(4096, 1, 0, 2, 0);
    struct kv_store kv;
    struct seen s = {0, 0, 0};
    char key[8], val[3];
    int i;

    (void)state;
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    for (i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(kv_set(&kv, key, "xx", 2), KV_OK);
        snprintf(val, sizeof(val), "v%d", i);
        assert_int_equal(kv_set(&kv, key, val, 2), KV_OK);
    }
    assert_int_equal(kv_del(&kv, "k4"), KV_OK);
    assert_int_equal(kv_foreach(&kv, on_key, &s), 9);
    assert_int_equal(s.count, 9);
    assert_int_equal(s.bad, 0);
    assert_int_equal(s.mask, 0x3FF & ~(1 << 4));
    assert_int_equal(kv_foreach(&kv, NULL, NULL), 9);
    rig_free(r);
}

/* Setting the value a key already holds writes nothing. */
static void test_same_value_no_write(void **state)
{
    struct rig *r = rig_new(4096, 1, 0, 2, 0);
    struct kv_store kv;
    uint64_t before;

    (void)state;
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    assert_int_equal(kv_set(&kv, "ota_dev_version", "app-1.0.0", 9), KV_OK);
    before = r->fs.meta->programs;
    assert_int_equal(kv_set(&kv, "ota_dev_version", "app-1.0.0", 9), KV_OK);
    assert_int_equal(r->fs.meta->programs, before);
    assert_int_equal(kv_set(&kv, "ota_dev_version", "app-1.0.1", 9), KV_OK);
    assert_true(r->fs.meta->programs > before);
    rig_free(r);
}

/* ---- compaction, space ---------------------------------------------------- */

static void test_compaction(void **state)
{
    struct rig *r = rig_new(2048, 8, 1, 2, 0);
    struct kv_store kv;
    uint8_t val[100];
    int i;

    (void)state;
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    assert_int_equal(kv_set(&kv, "steady", "unchanged", 9), KV_OK);
    for (i = 0; i < 500; i++) {
        memset(val, (uint8_t)i, sizeof(val));
        assert_int_equal(kv_set(&kv, "hot", val, (int)sizeof(val)), KV_OK);
        kv_expect(&kv, "hot", val, (int)sizeof(val));
    }
    /* 500 records of 128+ bytes in two 2 KiB pages: many compactions, wear
     * shared by both pages. */
    assert_true(r->fs.meta->erase_count[2] >= 10);
    assert_true(r->fs.meta->erase_count[3] >= 10);
    assert_true(r->fs.meta->erase_count[2] <= r->fs.meta->erase_count[3] + 1);
    assert_true(r->fs.meta->erase_count[3] <= r->fs.meta->erase_count[2] + 1);
    kv_expect(&kv, "steady", "unchanged", 9);
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    kv_expect(&kv, "steady", "unchanged", 9);
    kv_expect(&kv, "hot", val, (int)sizeof(val));
    assert_int_equal(r->fs.meta->violations, 0);
    rig_free(r);
}

static void test_enospc(void **state)
{
    struct rig *r = rig_new(4096, 4, 0, 3, 0);
    struct kv_store kv;
    uint8_t val[KV_MAX_VALUE];
    char key[16];
    int i, n, rc;
    uint64_t erases;

    (void)state;
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    for (n = 0;; n++) {
        snprintf(key, sizeof(key), "big%d", n);
        memset(val, n, sizeof(val));
        rc = kv_set(&kv, key, val, (int)sizeof(val));
        if (rc == KV_ENOSPC)
            break;
        assert_int_equal(rc, KV_OK);
        assert_true(n < 100);
    }
    /* Three 4 KiB sectors, one kept free: room for a handful of 1 KiB values. */
    assert_true(n >= 4);
    /* Failing again and again costs no erase. */
    erases = r->fs.meta->erases;
    for (i = 0; i < 10; i++)
        assert_int_equal(kv_set(&kv, "more", val, (int)sizeof(val)), KV_ENOSPC);
    assert_int_equal(r->fs.meta->erases, erases);
    /* Everything stored is intact, also after a remount. */
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    for (i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "big%d", i);
        memset(val, i, sizeof(val));
        kv_expect(&kv, key, val, (int)sizeof(val));
    }
    /* A full log has no room for a second copy of a value either. */
    memset(val, 0xEE, sizeof(val));
    assert_int_equal(kv_set(&kv, "big0", val, (int)sizeof(val)), KV_ENOSPC);
    /* A delete always fits, even in a full store, and frees space. */
    assert_int_equal(kv_del(&kv, "big1"), KV_OK);
    kv_expect_absent(&kv, "big1");
    assert_int_equal(kv_set(&kv, "more", val, (int)sizeof(val)), KV_OK);
    kv_expect(&kv, "more", val, (int)sizeof(val));
    assert_int_equal(kv_del(&kv, "big2"), KV_OK);
    assert_int_equal(kv_set(&kv, "big0", val, (int)sizeof(val)), KV_OK);
    kv_expect(&kv, "big0", val, (int)sizeof(val));
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    kv_expect(&kv, "big0", val, (int)sizeof(val));
    kv_expect(&kv, "more", val, (int)sizeof(val));
    kv_expect_absent(&kv, "big1");
    kv_expect_absent(&kv, "big2");
    memset(val, 3, sizeof(val));
    kv_expect(&kv, "big3", val, (int)sizeof(val));
    assert_int_equal(r->fs.meta->violations, 0);
    rig_free(r);
}

/* ---- blank, junk, torn ---------------------------------------------------- */

static void test_junk_and_blank(void **state)
{
    struct rig *r = rig_new(4096, 1, 0, 2, 1);
    struct kv_store kv;
    uint32_t i;

    (void)state;
    /* All junk: formatted. */
    for (i = 2 * 4096; i < 6 * 4096; i++)
        r->mem[i] = (uint8_t)rnd();
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    kv_expect_absent(&kv, "x");
    assert_int_equal(kv_set(&kv, "x", "1", 1), KV_OK);
    assert_int_equal(kv_set(&kv, "y", "2", 1), KV_OK);
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    kv_expect(&kv, "x", "1", 1);
    /* Junk in the other sectors is left alone while a valid one exists. */
    assert_int_equal(kv_set(&kv, "z", "3", 1), KV_OK);
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    kv_expect(&kv, "y", "2", 1);
    kv_expect(&kv, "z", "3", 1);
    /* And is erased before it is used. */
    for (i = 0; i < 200; i++) {
        char v[64];

        memset(v, 'a' + (int)(i % 26), sizeof(v));
        assert_int_equal(kv_set(&kv, "fill", v, (int)sizeof(v)), KV_OK);
    }
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    kv_expect(&kv, "x", "1", 1);
    assert_int_equal(r->fs.meta->violations, 0);
    rig_free(r);
}

/* The bytes of the active sector (program unit 1: entries are 20 bytes). */
static uint8_t *active_sector(struct rig *r, struct kv_store *kv)
{
    return r->mem + flashsim_part(&r->fs, kv->sec[kv->active].part)->start +
           kv->sec[kv->active].off;
}

static uint8_t *newest_entry(struct rig *r, struct kv_store *kv)
{
    assert_true(kv->sec[kv->active].nslots > 0);
    return active_sector(r, kv) + kv->sector_size - kv->sec[kv->active].nslots * 20;
}

static void test_torn_records(void **state)
{
    struct rig *r = rig_new(4096, 1, 0, 2, 0);
    struct kv_store kv;
    uint8_t *ent;
    uint32_t doff;

    (void)state;
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    assert_int_equal(kv_set(&kv, "key", "old value", 9), KV_OK);
    assert_int_equal(kv_set(&kv, "key", "new value", 9), KV_OK);
    /* A torn entry (bits short of or beyond what was meant) fails its CRC:
     * the old value is back. */
    ent = newest_entry(r, &kv);
    ent[0] &= 0x0F;
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    kv_expect(&kv, "key", "old value", 9);
    /* Appends go on, past the torn record. */
    assert_int_equal(kv_set(&kv, "key", "third", 5), KV_OK);
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    kv_expect(&kv, "key", "third", 5);

    /* Torn data (entry intact): the data CRC fails. */
    assert_int_equal(kv_set(&kv, "key", "fourth", 6), KV_OK);
    ent = newest_entry(r, &kv);
    doff = (uint32_t)ent[4] | (uint32_t)ent[5] << 8;
    active_sector(r, &kv)[doff + 4] &= 0x01; /* the 'o' of "fourth" */
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    kv_expect(&kv, "key", "third", 5);
    assert_int_equal(kv_set(&kv, "key", "fifth", 5), KV_OK);
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    kv_expect(&kv, "key", "fifth", 5);
    assert_int_equal(r->fs.meta->violations, 0);
    rig_free(r);
}

/* A compaction whose new sector cannot take the copies (torn records from
 * earlier cuts fill it) starts that sector over. */
static void test_compaction_restart(void **state)
{
    struct rig *r = rig_new(4096, 1, 0, 2, 0);
    struct kv_store kv;
    uint8_t a[1000], b[1000], c[500], *mem0, *state0;
    uint32_t ss = 4096, nsec_b = 0, i;
    int h = -1, n = 0;
    uint32_t erases_b;

    (void)state;
    memset(a, 0xA1, sizeof(a));
    memset(b, 0xB2, sizeof(b));
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    assert_int_equal(kv_set(&kv, "k0", a, (int)sizeof(a)), KV_OK);
    assert_int_equal(kv_set(&kv, "k1", b, (int)sizeof(b)), KV_OK);
    /* Overwrite k0 until a compaction starts: the set that opens a new
     * sector programs its 12-byte header at offset 0. */
    mem0 = malloc(16 * ss);
    state0 = malloc(r->state_len);
    assert_non_null(mem0);
    assert_non_null(state0);
    for (;; n++) {
        assert_true(n < 20);
        memset(c, n, sizeof(c));
        memcpy(mem0, r->mem, 16 * ss);
        memcpy(state0, r->state, r->state_len);
        r->nlog = 0;
        assert_int_equal(kv_set(&kv, "k0", c, (int)sizeof(c)), KV_OK);
        for (i = 0; i < (uint32_t)r->nlog && h < 0; i++)
            if (r->log[i].kind == FLASHSIM_OP_PROGRAM && r->log[i].addr % ss == 0 && r->log[i].len == 12)
                h = (int)i;
        if (h >= 0)
            break;
    }
    nsec_b = r->log[h].addr / ss;
    /* Again from before that set, with power cut right after the header. */
    memcpy(r->mem, mem0, 16 * ss);
    memcpy(r->state, state0, r->state_len);
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    r->ops = 0;
    r->cut_at = (uint64_t)h + 2;
    memset(c, n, sizeof(c));
    assert_int_equal(kv_set(&kv, "k0", c, (int)sizeof(c)), KV_ECUT);
    r->cut_at = 0;
    r->off = 0;
    /* Junk after the header, as torn copies would leave. */
    memset(r->mem + nsec_b * ss + 12, 0x00, ss - 12);
    erases_b = r->fs.meta->erase_count[nsec_b];
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    assert_int_equal(r->fs.meta->erase_count[nsec_b], erases_b + 1);
    memset(c, n - 1, sizeof(c));
    if (n == 0)
        kv_expect(&kv, "k0", a, (int)sizeof(a));
    else
        kv_expect(&kv, "k0", c, (int)sizeof(c));
    kv_expect(&kv, "k1", b, (int)sizeof(b));
    memset(c, 0x77, sizeof(c));
    assert_int_equal(kv_set(&kv, "k0", c, (int)sizeof(c)), KV_OK);
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    kv_expect(&kv, "k0", c, (int)sizeof(c));
    kv_expect(&kv, "k1", b, (int)sizeof(b));
    assert_int_equal(r->fs.meta->violations, 0);
    free(mem0);
    free(state0);
    rig_free(r);
}

/* ---- heavy random use, program-once --------------------------------------- */

#define NKEYS 12

struct model {
    int present[NKEYS];
    int len[NKEYS];
    uint8_t val[NKEYS][KV_MAX_VALUE];
};

static const char *key_name(int i)
{
    static const char *const names[NKEYS] = {
        "ota_ota_version", "ota_dev_version", "hal_ota_get_crc16", "ota_file_crc16",
        "key_ota_hash_ctx_body", "k5", "a-much-longer-key-name-that-is-still-under-the-limit", "k7",
        "wifi", "x", "boot_count", "last",
    };
    return names[i];
}

/* Values of every flavour, including all-0xFF and 0xFF-ended ones (they
 * look like erased flash). */
static int make_value(uint8_t *v, int maxlen)
{
    int kind = (int)(rnd() % 8), len = (int)(rnd() % (uint32_t)(maxlen + 1)), i;

    for (i = 0; i < len; i++)
        v[i] = (uint8_t)rnd();
    if (kind == 0)
        memset(v, 0xFF, (size_t)len);
    else if (kind == 1 && len > 0)
        memset(v + len / 2, 0xFF, (size_t)(len - len / 2));
    else if (kind == 2)
        memset(v, 0x00, (size_t)len);
    return len;
}

static void model_check(struct kv_store *kv, const struct model *m)
{
    int i;

    for (i = 0; i < NKEYS; i++) {
        if (m->present[i])
            kv_expect(kv, key_name(i), m->val[i], m->len[i]);
        else
            kv_expect_absent(kv, key_name(i));
    }
}

static void heavy(uint32_t ss, uint32_t pu, uint32_t n2, uint32_t n3, int steps, int maxlen)
{
    struct rig *r = rig_new(ss, pu, 1, n2, n3);
    struct kv_store kv;
    static struct model m;
    int s, i, rc, enospc = 0;

    memset(&m, 0, sizeof(m));
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    for (s = 0; s < steps; s++) {
        i = (int)(rnd() % NKEYS);
        if (rnd() % 5 == 0) {
            rc = kv_del(&kv, key_name(i));
            assert_int_equal(rc, m.present[i] ? KV_OK : KV_ENOENT);
            m.present[i] = 0;
        } else {
            uint8_t v[KV_MAX_VALUE];
            int len = make_value(v, maxlen);

            rc = kv_set(&kv, key_name(i), v, len);
            if (rc == KV_ENOSPC) {
                /* Only when the live data really fill the store: all usable
                 * sectors but one record's worth of slack in each. */
                uint64_t live = strlen(key_name(i)) + (uint64_t)len + 64;
                int j;

                for (j = 0; j < NKEYS; j++)
                    if (m.present[j] && j != i)
                        live += strlen(key_name(j)) + (uint64_t)m.len[j] + 64;
                assert_true(live > (uint64_t)(kv.nsec - 1) * (ss - (KV_MAX_KEY + KV_MAX_VALUE + 128)));
                enospc++;
                continue;
            }
            assert_int_equal(rc, KV_OK);
            m.present[i] = 1;
            m.len[i] = len;
            memcpy(m.val[i], v, (size_t)len);
        }
        if (s % 97 == 0) {
            assert_int_equal(rig_mount(r, &kv), KV_OK);
            model_check(&kv, &m);
        }
    }
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    model_check(&kv, &m);
    assert_true(r->fs.meta->erases > 10);
    print_message("heavy %u/%u: %d ENOSPC in %d steps, %llu erases\n", ss, pu, enospc, steps, (unsigned long long)r->fs.meta->erases);
    assert_true(enospc < steps / 10);
    assert_int_equal(r->fs.meta->violations, 0);
    rig_free(r);
}

static void test_heavy_program_once(void **state)
{
    (void)state;
    heavy(2048, 8, 3, 1, 3000, 300);  /* STM32L4-like pages */
    heavy(4096, 32, 3, 1, 1500, 600); /* wide program unit */
    heavy(4096, 16, 2, 2, 1500, KV_MAX_VALUE);
}

/* ---- power-cut sweep ------------------------------------------------------ */

#define MAXSTEPS 128

struct step {
    int del;   /* 1: delete */
    int key;   /* index */
    int len;   /* value length */
    uint8_t val[KV_MAX_VALUE];
};

static struct step script[MAXSTEPS];
static int nsteps;

static void make_script(int n, int maxlen, int big, const struct model *start)
{
    int present[NKEYS], s;

    for (s = 0; s < NKEYS; s++)
        present[s] = start->present[s];
    for (s = 0; s < n; s++) {
        struct step *st = &script[s];

        st->key = (int)(rnd() % 6); /* few keys: many overwrites */
        st->del = present[st->key] && rnd() % 6 == 0;
        if (st->del) {
            present[st->key] = 0;
            continue;
        }
        st->len = make_value(st->val, maxlen);
        if (big && s % 11 == 5) /* now and then a large value: several data chunks */
            st->len = make_value(st->val, KV_MAX_VALUE) / 2 + KV_MAX_VALUE / 2;
        present[st->key] = 1;
    }
    nsteps = n;
}

static int apply(struct kv_store *kv, const struct step *st, struct model *m)
{
    int rc;

    if (st->del) {
        rc = kv_del(kv, key_name(st->key));
        if (rc == KV_ENOENT && !m->present[st->key])
            return KV_OK; /* a replayed script may delete an absent key */
        if (rc == KV_OK)
            m->present[st->key] = 0;
        return rc;
    }
    rc = kv_set(kv, key_name(st->key), st->val, st->len);
    if (rc == KV_OK) {
        m->present[st->key] = 1;
        m->len[st->key] = st->len;
        memcpy(m->val[st->key], st->val, (size_t)st->len);
    }
    return rc;
}

/* After a cut during step st: the key of st holds its old or its new value;
 * the model is updated to what the store holds. Every other key is checked. */
static void settle(struct kv_store *kv, const struct step *st, struct model *m)
{
    uint8_t buf[KV_MAX_VALUE];
    int n = sizeof(buf), rc, i = st->key;

    rc = kv_get(kv, key_name(i), buf, &n);
    if (st->del) {
        if (rc == KV_ENOENT) {
            m->present[i] = 0;
        } else {
            assert_int_equal(rc, KV_OK);
            assert_true(m->present[i]);
            assert_int_equal(n, m->len[i]);
            assert_memory_equal(buf, m->val[i], (size_t)n);
        }
    } else if (rc == KV_OK && n == st->len && !memcmp(buf, st->val, (size_t)n)) {
        m->present[i] = 1;
        m->len[i] = n;
        memcpy(m->val[i], buf, (size_t)n);
    } else if (m->present[i]) {
        assert_int_equal(rc, KV_OK);
        assert_int_equal(n, m->len[i]);
        assert_memory_equal(buf, m->val[i], (size_t)n);
    } else {
        assert_int_equal(rc, KV_ENOENT);
    }
    model_check(kv, m);
}

static void sweep(uint32_t ss, uint32_t pu, int once, uint32_t n2, uint32_t n3, int steps,
                  int maxlen)
{
    struct rig *r = rig_new(ss, pu, once, n2, n3);
    struct kv_store kv;
    static struct model base, m;
    uint8_t *mem0, *state0;
    uint64_t k, total, cuts = 0, recoveries = 0;
    int s, i, rc;

    /* The starting image: a formatted store with a few keys. */
    memset(&base, 0, sizeof(base));
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    for (i = 0; i < 4; i++) {
        uint8_t v[40];
        int len = snprintf((char *)v, sizeof(v), "initial value %d", i);

        assert_int_equal(kv_set(&kv, key_name(i), v, len), KV_OK);
        base.present[i] = 1;
        base.len[i] = len;
        memcpy(base.val[i], v, (size_t)len);
    }
    make_script(steps, maxlen, 1, &base);
    mem0 = malloc(r->fs.geom.size);
    state0 = malloc(r->state_len);
    assert_non_null(mem0);
    assert_non_null(state0);
    memcpy(mem0, r->mem, r->fs.geom.size);
    memcpy(state0, r->state, r->state_len);

    /* Clean run: count the ops and make sure compactions happen. */
    r->ops = r->erases = 0;
    m = base;
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    for (s = 0; s < nsteps; s++)
        assert_int_equal(apply(&kv, &script[s], &m), KV_OK);
    model_check(&kv, &m);
    total = r->ops;
    assert_true(r->erases >= 2);
    print_message("sweep %u/%u%s: %d steps, %llu ops, %llu erases\n", ss, pu, once ? " once" : "",
                  nsteps, (unsigned long long)total, (unsigned long long)r->erases);

    for (k = 1; k <= total; k++) {
        memcpy(r->mem, mem0, r->fs.geom.size);
        memcpy(r->state, state0, r->state_len);
        m = base;
        r->ops = 0;
        r->off = 0;
        r->cut_at = k;
        assert_int_equal(rig_mount(r, &kv), KV_OK);
        for (s = 0; s < nsteps; s++) {
            rc = apply(&kv, &script[s], &m);
            if (rc == KV_ECUT)
                break;
            assert_int_equal(rc, KV_OK);
        }
        assert_true(s < nsteps); /* op k is within the clean run */
        cuts++;

        /* Power back: remount, old or new, never garbage. */
        r->cut_at = 0;
        r->off = 0;
        r->ops = 0;
        assert_int_equal(rig_mount(r, &kv), KV_OK);
        recoveries += r->ops > 0; /* the mount finished a compaction */
        settle(&kv, &script[s], &m);
        /* The store keeps working: the rest of a few steps, then a reboot. */
        for (i = s + 1; i < nsteps && i < s + 4; i++)
            assert_int_equal(apply(&kv, &script[i], &m), KV_OK);
        model_check(&kv, &m);
        assert_int_equal(rig_mount(r, &kv), KV_OK);
        model_check(&kv, &m);
        assert_int_equal(r->fs.meta->violations, 0);
    }
    assert_int_equal(cuts, total);
    print_message("sweep: %llu cuts, %llu finished by the next mount\n",
                  (unsigned long long)cuts, (unsigned long long)recoveries);
    assert_true(recoveries > 0);
    free(mem0);
    free(state0);
    rig_free(r);
}

static void test_power_cut_sweep_4k_unit1(void **state)
{
    (void)state;
    /* 4 KiB sectors, program unit 1: three sectors over two partitions. */
    sweep(4096, 1, 0, 2, 1, 128, 400);
}

static void test_power_cut_sweep_2k_unit8_once(void **state)
{
    (void)state;
    /* 2 KiB pages, program unit 8, program-once (STM32L4-like). */
    sweep(2048, 8, 1, 3, 0, 110, 250);
}

/* Two cuts: one in the scripted run, a second during the recovery that
 * follows (the remount or the next writes). Random cut points, fixed seed. */
static void test_double_cuts(void **state)
{
    struct rig *r = rig_new(2048, 8, 1, 3, 1);
    struct kv_store kv;
    static struct model m;
    int iter, s, i, rc, done, second = 0;

    (void)state;
    memset(&m, 0, sizeof(m));
    assert_int_equal(rig_mount(r, &kv), KV_OK);
    make_script(MAXSTEPS, 300, 0, &m);
    for (iter = 0; iter < 150; iter++) {
        /* First cut somewhere in the next steps. */
        r->ops = 0;
        r->off = 0;
        r->cut_at = 1 + rnd() % 40;
        s = (int)(rnd() % (uint32_t)nsteps);
        for (done = 0; done < 20; done++, s = (s + 1) % nsteps) {
            rc = apply(&kv, &script[s], &m);
            if (rc == KV_ECUT)
                break;
            assert_int_equal(rc, KV_OK);
        }
        if (done == 20)
            continue;
        /* Second cut during recovery (or none if it comes too late). */
        r->ops = 0;
        r->off = 0;
        r->cut_at = 1 + rnd() % 12;
        rc = rig_mount(r, &kv);
        second += rc == KV_ECUT;
        if (rc == KV_OK) {
            settle(&kv, &script[s], &m);
            for (i = 0; i < 3 && rc == KV_OK; i++)
                rc = apply(&kv, &script[(s + 1 + i) % nsteps], &m);
            if (rc == KV_ECUT) {
                second++;
                r->cut_at = 0;
                r->off = 0;
                assert_int_equal(rig_mount(r, &kv), KV_OK);
                settle(&kv, &script[(s + i) % nsteps], &m);
            }
        } else {
            assert_int_equal(rc, KV_ECUT);
            r->cut_at = 0;
            r->off = 0;
            assert_int_equal(rig_mount(r, &kv), KV_OK);
            settle(&kv, &script[s], &m);
        }
        r->cut_at = 0;
        r->off = 0;
        assert_int_equal(rig_mount(r, &kv), KV_OK);
        model_check(&kv, &m);
    }
    print_message("double cuts: %d second cuts in 150 rounds\n", second);
    assert_true(second > 20);
    assert_int_equal(r->fs.meta->violations, 0);
    rig_free(r);
}

/* The CRC-32s on flash are the standard ones, whatever path computed them
 * (hosts slice by eight, firmware goes a nibble at a time): the sector
 * header's, each entry's own, the key's and the data's. */
static void test_crc32_on_flash(void **state)
{
    (void)state;
    struct rig *r = rig_new(4096, 4, 0, 2, 0);
    struct kv_store kv;
    static const char *const keys[] = { "k", "wifi_ssid", "wifi_psk", "a_rather_long_key_name_x" };
    static const char val[] = "correct horse battery staple, and then some more bytes";

    assert_int_equal(rig_mount(r, &kv), KV_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(kv_set(&kv, keys[i], val, 1 + i * 15), KV_OK);
    int checked = 0;
    for (uint32_t s = 2; s < 4; s++) {
        const uint8_t *sec = r->mem + s * 4096;
        if (le32(sec) != 0x3153564Bu)
            continue;
        assert_int_equal(le32(sec + 8), ref_crc32(sec, 8));
        for (uint32_t k = 0; k < 4; k++) {
            const uint8_t *e = sec + 4096 - (k + 1) * 20;
            uint32_t klen = e[1], vlen = (uint32_t)e[2] | (uint32_t)e[3] << 8, doff = le32(e + 4);
            assert_int_equal(le32(e + 16), ref_crc32(e, 16));
            assert_int_equal(klen, strlen(keys[k]));
            assert_int_equal(le32(e + 12), ref_crc32((const uint8_t *)keys[k], klen));
            assert_int_equal(le32(e + 8), ref_crc32(sec + doff, klen + vlen));
            checked++;
        }
    }
    assert_int_equal(checked, 4);
    rig_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_get_del),
        cmocka_unit_test(test_crc32_on_flash),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_mount_errors),
        cmocka_unit_test(test_persistence),
        cmocka_unit_test(test_foreach),
        cmocka_unit_test(test_same_value_no_write),
        cmocka_unit_test(test_compaction),
        cmocka_unit_test(test_enospc),
        cmocka_unit_test(test_junk_and_blank),
        cmocka_unit_test(test_torn_records),
        cmocka_unit_test(test_compaction_restart),
        cmocka_unit_test(test_heavy_program_once),
        cmocka_unit_test(test_power_cut_sweep_4k_unit1),
        cmocka_unit_test(test_power_cut_sweep_2k_unit8_once),
        cmocka_unit_test(test_double_cuts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
