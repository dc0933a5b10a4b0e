/*
 * test_snap.c - snapshots of a run and the way back (conformance/snap.c).
 *
 * A run of nested frames takes a snapshot at its deepest frame, then
 * detours: it changes the registered regions, writes flash through the
 * undo log, changes its own frames' locals, and ends the detour either
 * deeper on the stack or after unwinding to a shallower frame (snap_back
 * then restores the stack from below it). After each detour the run goes
 * on as if nothing happened: the same locals, regions and flash, the
 * restored sectors reported once each. Many snapshots in one run, as the
 * sweep takes one per cut point. Sanitizer builds cannot snapshot: the
 * stack tests are skipped there, and snap_take refuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "conformance/snap.h"

#define FLASH 65536
#define SECTOR 4096

static struct snap g_s;
static uint8_t g_flash[FLASH], g_before[FLASH];
static struct { int counter; char text[64]; } g_reg;
static uint32_t g_restored[FLASH / SECTOR], g_nrestored;
static int g_end_deep;     /* 1: the detour ends below the snapshot; 0: after unwinding */

static void on_restored(void *ctx, uint32_t off, uint32_t len)
{
    (void)ctx;
    assert_int_equal(len, SECTOR);
    g_restored[g_nrestored++] = off;
}

/* The detour's own deeper frames, ending with snap_back. */
static __attribute__((noinline)) int detour_deeper(int n)
{
    volatile char pad[512];
    if (n < 0)
        return 0; /* never: n = 0 ends the detour */
    pad[n] = (char)n;
    if (n == 0)
        snap_back(&g_s, on_restored, NULL);
    return detour_deeper(n - 1) + pad[n];
}

/* The detour's changes: regions, flash (through the undo log). */
static void detour_changes(int round)
{
    g_reg.counter = -round;
    memset(g_reg.text, 'x', sizeof(g_reg.text));
    snap_flash_write(&g_s, 100, 5000); /* sectors 0 and 1 */
    memset(g_flash + 100, 0, 5000);
    snap_flash_write(&g_s, 4096 * 3, 1); /* sector 3 */
    g_flash[4096 * 3] = 0x5A;
    snap_flash_write(&g_s, 150, 10); /* sector 0 again: saved once */
    snap_flash_write(&g_s, FLASH + 10, 10); /* outside the chip: nothing */
}

/* Nested frames, each with a local it changes after its callee returns
 * (a detour that unwinds changes them too). Returns 1000 once the run is
 * back from its detour, if every frame got its locals back; -1 when
 * snap_take refused; 5000 in a detour that unwinds. */
static __attribute__((noinline)) int level(int n, int round)
{
    volatile int local = n * 7 + round;
    if (n > 0) {
        int r = level(n - 1, round);
        local += 100;
        return r + local - 100 - (n * 7 + round);
    }
    int r = snap_take(&g_s);
    if (r != 0)
        return r < 0 ? -1 : 1000 + local - round;
    detour_changes(round);
    local = 4242;
    if (g_end_deep)
        return detour_deeper(8);
    return 5000;
}

static __attribute__((noinline)) int run(int round)
{
    volatile unsigned char top = 0;
    g_s.top = (unsigned char *)(uintptr_t)&top;
    int r = level(6, round);
    if (r == 5000)
        snap_back(&g_s, on_restored, NULL); /* from above the snapshot's lowest frame */
    return r;
}

static void check_back(int r, int round)
{
    assert_int_equal(r, 1000);
    assert_int_equal(g_reg.counter, round);
    assert_string_equal(g_reg.text, "as registered");
    assert_memory_equal(g_flash, g_before, FLASH);
    assert_int_equal(g_nrestored, 3);
    assert_int_equal(g_restored[0], 0);
    assert_int_equal(g_restored[1], 4096);
    assert_int_equal(g_restored[2], 4096 * 3);
}

static int setup(void **state)
{
    (void)state;
    for (size_t i = 0; i < FLASH; i++)
        g_flash[i] = (uint8_t)(i * 31 + 7);
    memcpy(g_before, g_flash, FLASH);
    if (snap_init(&g_s, g_flash, FLASH, SECTOR) != 0 || snap_region(&g_s, &g_reg, sizeof(g_reg)) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    snap_free(&g_s);
    return 0;
}

static void test_detours(void **state)
{
    (void)state;
    if (!snap_supported())
        skip();
    for (int round = 1; round <= 50; round++) {
        g_end_deep = round % 2;
        g_reg.counter = round;
        snprintf(g_reg.text, sizeof(g_reg.text), "as registered");
        g_nrestored = 0;
        int r = run(round);
        check_back(r, round);
    }
}

static void test_refusals(void **state)
{
    (void)state;
    volatile unsigned char here = 0;
    g_s.top = NULL;
    assert_int_equal(snap_take(&g_s), -1); /* no top */
    g_s.top = (unsigned char *)((uintptr_t)&here - 65536);
    assert_int_equal(snap_take(&g_s), -1); /* top below the caller */
    /* Outside a snapshot the undo log takes nothing. */
    snap_flash_write(&g_s, 0, 100);
    assert_int_equal(g_s.nlog, 0);
}

static void test_bad_init(void **state)
{
    (void)state;
    struct snap s;
    assert_int_equal(snap_init(&s, g_flash, FLASH, 3000), -1);
    assert_int_equal(snap_init(&s, g_flash, FLASH + 1, SECTOR), -1);
    assert_int_equal(snap_init(&s, NULL, FLASH, SECTOR), -1);
    assert_int_equal(snap_init(&s, g_flash, FLASH, SECTOR), 0);
    for (int i = 0; i < SNAP_MAX_REGIONS; i++)
        assert_int_equal(snap_region(&s, g_flash, 16), 0);
    assert_int_equal(snap_region(&s, g_flash, 16), -1);
    snap_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_detours, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test(test_bad_init),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
