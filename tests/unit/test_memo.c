/*
 * test_memo.c - the shared-memory memo table (conformance/memo.c).
 *
 * Inserts and lookups with odd value sizes and structured keys, a key
 * inserted once only (a second insert changes nothing), the reserved zero
 * key, a full table that refuses inserts and keeps answering lookups, bad
 * arguments, and forked processes inserting and looking up an overlapping
 * key set at the same time: every key ends up in the table exactly once,
 * and no lookup ever returns a value that is not its key's.
 */
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "conformance/memo.h"

static uint64_t mix(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Key i: random-looking for even i, small structured numbers for odd i. */
static void key_of(uint32_t i, uint64_t k[2])
{
    if (i & 1) {
        k[0] = i;
        k[1] = 0;
    } else {
        k[0] = mix(i);
        k[1] = mix(i ^ 0xABCDEFull);
    }
}

static void value_of(uint32_t i, unsigned char *v, size_t n)
{
    uint64_t x = mix((uint64_t)i * 3 + 1);
    for (size_t j = 0; j < n; j++) {
        v[j] = (unsigned char)x;
        x = x >> 8 | x << 56;
        if (j % 8 == 7)
            x = mix(x);
    }
}

static void test_basic(void **state)
{
    (void)state;
    enum { VS = 13 };
    struct memo *m = memo_create(1000, VS);
    unsigned char v[VS], w[VS];
    uint64_t k[2];
    struct memo_stats st;

    assert_non_null(m);
    for (uint32_t i = 1; i <= 1000; i++) {
        key_of(i, k);
        value_of(i, v, VS);
        assert_int_equal(memo_insert(m, k, v), 1);
    }
    for (uint32_t i = 1; i <= 1000; i++) {
        key_of(i, k);
        value_of(i, v, VS);
        memset(w, 0, VS);
        assert_int_equal(memo_lookup(m, k, w), 1);
        assert_memory_equal(v, w, VS);
    }
    for (uint32_t i = 1001; i <= 3000; i++) {
        key_of(i, k);
        assert_int_equal(memo_lookup(m, k, w), 0);
    }
    /* a second insert of a key changes nothing */
    key_of(7, k);
    memset(v, 0xEE, VS);
    assert_int_equal(memo_insert(m, k, v), 0);
    assert_int_equal(memo_lookup(m, k, w), 1);
    value_of(7, v, VS);
    assert_memory_equal(v, w, VS);
    /* the zero key is reserved */
    k[0] = k[1] = 0;
    assert_int_equal(memo_insert(m, k, v), -1);
    assert_int_equal(memo_lookup(m, k, w), 0);
    /* a key differing in one half only is another key */
    key_of(8, k);
    k[1] ^= 1;
    assert_int_equal(memo_lookup(m, k, w), 0);

    memo_stats(m, &st);
    assert_int_equal(st.capacity, 1000);
    assert_true(st.slots >= 1334 && (st.slots & (st.slots - 1)) == 0);
    assert_int_equal(st.value_size, VS);
    assert_int_equal(st.used, 1000);
    assert_int_equal(st.inserts, 1000);
    assert_int_equal(st.present, 1);
    assert_int_equal(st.refused, 1);
    assert_int_equal(st.lookups, 1000 + 2000 + 1 + 1 + 1);
    assert_int_equal(st.hits, 1001);
    assert_true(st.probes < 4 * (st.lookups + st.inserts));
    memo_destroy(m);
}

static void test_full_table(void **state)
{
    (void)state;
    struct memo *m = memo_create(50, 64);
    unsigned char v[64], w[64];
    uint64_t k[2];
    struct memo_stats st;

    assert_non_null(m);
    for (uint32_t i = 1; i <= 50; i++) {
        key_of(i, k);
        value_of(i, v, sizeof(v));
        assert_int_equal(memo_insert(m, k, v), 1);
    }
    for (uint32_t i = 51; i <= 200; i++) {
        key_of(i, k);
        assert_int_equal(memo_insert(m, k, v), -1);
    }
    key_of(3, k);
    assert_int_equal(memo_insert(m, k, v), 0); /* present still wins over full */
    for (uint32_t i = 1; i <= 50; i++) {
        key_of(i, k);
        value_of(i, v, sizeof(v));
        assert_int_equal(memo_lookup(m, k, w), 1);
        assert_memory_equal(v, w, sizeof(v));
    }
    for (uint32_t i = 51; i <= 5000; i++) {
        key_of(i, k);
        assert_int_equal(memo_lookup(m, k, w), 0);
    }
    memo_stats(m, &st);
    assert_int_equal(st.used, 50);
    assert_int_equal(st.inserts, 50);
    assert_int_equal(st.refused, 150);
    memo_destroy(m);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    assert_null(memo_create(0, 8));
    assert_null(memo_create(10, 0));
    assert_null(memo_create(10, MEMO_MAX_VALUE + 1));
    assert_null(memo_create((1u << 28) + 1, 8));
    struct memo *m = memo_create(1, MEMO_MAX_VALUE);
    assert_non_null(m);
    memo_destroy(m);
    memo_destroy(NULL);
}

/* Workers forked after creation insert and look up an overlapping key set
 * in different orders at the same time. */
enum { NKEYS = 60000, NWORK = 4, VSIZE = 40 };

static int worker(struct memo *m, int id, uint32_t *inserted, const uint32_t *go)
{
    unsigned char v[VSIZE], w[VSIZE];
    uint64_t k[2];
    uint32_t mine = 0;
    uint64_t x = mix((uint64_t)id + 99);

    while (!__atomic_load_n(go, __ATOMIC_ACQUIRE))
        sched_yield(); /* start together */
    for (uint32_t n = 0; n < NKEYS; n++) {
        /* a different walk through all the keys per worker: i = a*n + b
         * mod NKEYS, a prime to NKEYS */
        static const uint64_t a[NWORK] = { 7919, 7919 * 7, 7919 * 11, 7919 * 13 };
        uint32_t i = (uint32_t)((a[id] * n + (uint64_t)id * 4001u) % NKEYS) + 1;
        key_of(i, k);
        value_of(i, v, VSIZE);
        int rc = memo_insert(m, k, v);
        if (rc < 0)
            return 1;
        mine += rc == 1;
        /* a lookup of any key: a miss is fine, a wrong value is not */
        x = mix(x);
        uint32_t j = (uint32_t)(x % NKEYS) + 1;
        key_of(j, k);
        if (memo_lookup(m, k, w)) {
            value_of(j, v, VSIZE);
            if (memcmp(v, w, VSIZE) != 0)
                return 2;
        }
    }
    *inserted = mine;
    return 0;
}

static void test_concurrent_processes(void **state)
{
    (void)state;
    struct memo *m = memo_create(1u << 16, VSIZE);
    uint32_t *ins = mmap(NULL, sizeof(uint32_t) * (NWORK + 1), PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    uint32_t *go = ins + NWORK;
    pid_t pid[NWORK];

    assert_non_null(m);
    assert_true(ins != MAP_FAILED);
    for (int round = 0; round < 3; round++) {
        if (round) {
            memo_destroy(m);
            m = memo_create(1u << 16, VSIZE);
            assert_non_null(m);
        }
        fflush(NULL);
        *go = 0;
        for (int i = 0; i < NWORK; i++) {
            ins[i] = 0;
            pid[i] = fork();
            assert_true(pid[i] >= 0);
            if (pid[i] == 0)
                _exit(worker(m, i, &ins[i], go));
        }
        __atomic_store_n(go, 1, __ATOMIC_RELEASE);
        uint32_t total = 0;
        for (int i = 0; i < NWORK; i++) {
            int st;
            assert_int_equal(waitpid(pid[i], &st, 0), pid[i]);
            assert_true(WIFEXITED(st));
            assert_int_equal(WEXITSTATUS(st), 0);
            total += ins[i];
        }
        /* every key inserted exactly once, by one of the workers */
        assert_int_equal(total, NKEYS);
        struct memo_stats st;
        memo_stats(m, &st);
        assert_int_equal(st.inserts, NKEYS);
        assert_int_equal(st.used, NKEYS);
        assert_int_equal(st.present, (uint64_t)NKEYS * (NWORK - 1));
        assert_int_equal(st.lookups, (uint64_t)NKEYS * NWORK);
        unsigned char v[VSIZE], w[VSIZE];
        uint64_t k[2];
        for (uint32_t i = 1; i <= NKEYS; i++) {
            key_of(i, k);
            value_of(i, v, VSIZE);
            assert_int_equal(memo_lookup(m, k, w), 1);
            assert_memory_equal(v, w, VSIZE);
        }
    }
    munmap(ins, sizeof(uint32_t) * (NWORK + 1));
    memo_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_full_table),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_concurrent_processes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
