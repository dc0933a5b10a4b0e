/*
 * memo.c - shared-memory memo table (see memo.h).
 *
 * Layout of the one mapping: the header (struct memo, counters included),
 * then `slots` slots of `stride` bytes: state word, padding, key, value.
 * State word: bits 31..30 the state (0 empty, 1 writing, 2 ready), bits
 * 29..0 the key's fingerprint; an empty slot is all zero, which is what a
 * fresh anonymous mapping holds.
 */
#include <string.h>
#include <sys/mman.h>

#include "conformance/memo.h"

#define ST_WRITING (1u << 30)
#define ST_READY   (2u << 30)
#define ST_STATE   (3u << 30)
#define ST_FP      (ST_WRITING - 1)

struct memo_slot {
    uint32_t state;
    uint32_t pad;
    uint64_t key[2];
    unsigned char value[]; /* value_size bytes */
};

struct memo {
    uint32_t capacity, slots, mask, value_size;
    size_t stride, map_len;
    /* shared counters, updated atomically */
    uint32_t used;
    uint64_t lookups, hits, inserts, present, refused, probes;
};

#define HDR_BYTES ((sizeof(struct memo) + 63) / 64 * 64)

static struct memo_slot *slot_at(const struct memo *m, uint32_t i)
{
    return (struct memo_slot *)(void *)((unsigned char *)m + HDR_BYTES + (size_t)i * m->stride);
}

/* Home slot and fingerprint from a bijective mix of both halves. */
static uint64_t key_mix(const uint64_t key[2])
{
    uint64_t x = key[0] ^ (key[1] * 0x9E6C63D0676A9A99ull);
    x ^= x >> 31;
    x *= 0xD6E8FEB86659FD93ull;
    x ^= x >> 29;
    x *= 0xC2B2AE3D27D4EB4Full;
    x ^= x >> 32;
    return x;
}

static void count(uint64_t *c, uint64_t n)
{
    __atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

struct memo *memo_create(uint32_t capacity, size_t value_size)
{
    if (capacity == 0 || capacity > (1u << 28) || value_size == 0 || value_size > MEMO_MAX_VALUE)
        return NULL;
    uint64_t want = (uint64_t)capacity + capacity / 3 + 1, slots = 8;
    while (slots < want)
        slots <<= 1;
    size_t stride = (sizeof(struct memo_slot) + value_size + 7) / 8 * 8;
    size_t len = HDR_BYTES + (size_t)slots * stride;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    struct memo *m = p;
    m->capacity = capacity;
    m->slots = (uint32_t)slots;
    m->mask = (uint32_t)slots - 1;
    m->value_size = (uint32_t)value_size;
    m->stride = stride;
    m->map_len = len;
    return m;
}

int memo_lookup(struct memo *m, const uint64_t key[2], void *value_out)
{
    count(&m->lookups, 1);
    if (!key[0] && !key[1])
        return 0;
    uint64_t h = key_mix(key);
    uint32_t fp = (uint32_t)(h >> 34) & ST_FP, i = (uint32_t)h & m->mask, n;
    int found = 0;
    for (n = 0; n < m->slots; n++, i = (i + 1) & m->mask) {
        struct memo_slot *s = slot_at(m, i);
        uint32_t st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
        if (st == 0)
            break;
        if (st == (ST_READY | fp) && s->key[0] == key[0] && s->key[1] == key[1]) {
            memcpy(value_out, s->value, m->value_size);
            found = 1;
            break;
        }
    }
    count(&m->probes, n + 1);
    if (found)
        count(&m->hits, 1);
    return found;
}

int memo_insert(struct memo *m, const uint64_t key[2], const void *value)
{
    if (!key[0] && !key[1]) {
        count(&m->refused, 1);
        return -1;
    }
    uint64_t h = key_mix(key);
    uint32_t fp = (uint32_t)(h >> 34) & ST_FP, i = (uint32_t)h & m->mask, n;
    int rc = -1;
    for (n = 0; n < m->slots; n++, i = (i + 1) & m->mask) {
        struct memo_slot *s = slot_at(m, i);
        uint32_t st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
        if (st == 0) {
            /* The key is not in the table: claim this slot, if room. */
            if (__atomic_fetch_add(&m->used, 1, __ATOMIC_RELAXED) >= m->capacity) {
                __atomic_fetch_sub(&m->used, 1, __ATOMIC_RELAXED);
                break;
            }
            uint32_t expect = 0;
            if (__atomic_compare_exchange_n(&s->state, &expect, ST_WRITING | fp, 0,
                                            __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
                s->key[0] = key[0];
                s->key[1] = key[1];
                memcpy(s->value, value, m->value_size);
                __atomic_store_n(&s->state, ST_READY | fp, __ATOMIC_RELEASE);
                rc = 1;
                break;
            }
            __atomic_fetch_sub(&m->used, 1, __ATOMIC_RELAXED);
            st = expect; /* another process took it first: what did it write? */
        }
        if ((st & ST_FP) != fp)
            continue;
        if ((st & ST_STATE) == ST_WRITING) {
            rc = 0; /* most likely this key, being inserted: do not wait */
            break;
        }
        if (s->key[0] == key[0] && s->key[1] == key[1]) {
            rc = 0;
            break;
        }
    }
    count(&m->probes, n + 1);
    count(rc > 0 ? &m->inserts : rc == 0 ? &m->present : &m->refused, 1);
    return rc;
}

void memo_stats(const struct memo *m, struct memo_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->capacity = m->capacity;
    st->slots = m->slots;
    st->value_size = m->value_size;
    st->used = __atomic_load_n(&m->used, __ATOMIC_RELAXED);
    st->lookups = __atomic_load_n(&m->lookups, __ATOMIC_RELAXED);
    st->hits = __atomic_load_n(&m->hits, __ATOMIC_RELAXED);
    st->inserts = __atomic_load_n(&m->inserts, __ATOMIC_RELAXED);
    st->present = __atomic_load_n(&m->present, __ATOMIC_RELAXED);
    st->refused = __atomic_load_n(&m->refused, __ATOMIC_RELAXED);
    st->probes = __atomic_load_n(&m->probes, __ATOMIC_RELAXED);
}

void memo_destroy(struct memo *m)
{
    if (m)
        munmap(m, m->map_len);
}
