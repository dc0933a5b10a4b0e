/*
 * test_sentinel.c - the settings sentinel of `otahil run` (conformance/sentinel.c,
 * spec §12 #10) on each shipped board: planted after provisioning, it checks
 * intact through what an update legitimately writes (both slots, the boot
 * record, the agent's own KV entries, a compaction of the KV store); the
 * erase of the KV sector that the known-bad port fixtures/ports/erases-kv-sector
 * makes loses wifi_ssid, a changed value and a program into PARAMETER_4 are
 * named, and the check never changes the flash file.
 *
 * The shipped boards are found through OTAHIL_BOARDS, set to the repository's
 * boards/ folder (derived from this file's path).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conformance/common.h"
#include "conformance/sentinel.h"
#include "hal/soc/flash.h"
#include "sim/kv/kv.h"

#define SEED 0x5eedull

static const char *const g_names[] = { "native", "mk3060", "esp8266", "developerkit" };
static char g_dir[64], g_img[128], g_flash[128];
static struct board g_b;
static struct kv_store g_kv;

static int setup(void **state)
{
    const char *file = __FILE__, *tail = strstr(file, "tests/unit/test_sentinel.c");
    char rel[4096], abs[4096];
    struct image_spec s = { "app-1.0.0-20180101.1000", NULL, 20000, 3, 0 };
    char err[256];

    (void)state;
    snprintf(rel, sizeof(rel), "%.*sboards", tail ? (int)(tail - file) : 0, file);
    if (realpath(rel, abs) != NULL)
        setenv("OTAHIL_BOARDS", abs, 1);
    snprintf(g_dir, sizeof(g_dir), "/tmp/test_sentinel.XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    snprintf(g_img, sizeof(g_img), "%s/v1.bin", g_dir);
    snprintf(g_flash, sizeof(g_flash), "%s/flash.bin", g_dir);
    return make_image_file(g_img, &s, err, sizeof(err));
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A provisioned flash file of board name, with the sentinels planted. */
static void fresh(const char *name)
{
    char err[1024];

    if (board_open(&g_b, name, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    if (provision_flash(g_flash, &g_b, g_img, err, sizeof(err)) != 0 ||
        sentinel_plant(g_flash, &g_b, SEED, err, sizeof(err)) != 0)
        fail_msg("%s: %s", name, err);
    assert_int_equal(sentinel_check(g_flash, &g_b, SEED, err, sizeof(err)), 0);
    assert_string_equal(err, "");
}

static void expect_lost(const char *name, const char *msg)
{
    char why[1024];

    assert_int_equal(sentinel_check(g_flash, &g_b, SEED, why, sizeof(why)), 1);
    if (!strstr(why, msg))
        fail_msg("%s: got '%s', want '...%s...'", name, why, msg);
    assert_null(strchr(why, '\n'));
}

/* What an update may write leaves the sentinels intact: both slots, the
 * boot record, and enough KV traffic of the agent's to compact the store. */
static void test_update_writes_keep(void **state)
{
    struct flashfile ff;
    char err[512];
    uint8_t junk[512];

    (void)state;
    memset(junk, 0x11, sizeof(junk));
    for (size_t i = 0; i < sizeof(g_names) / sizeof(g_names[0]); i++) {
        fresh(g_names[i]);
        assert_int_equal(open_flash(&ff, g_flash, &g_b, err, sizeof(err)), 0);
        const struct flashsim_part *ota = flashsim_part(&ff.fs, HAL_PARTITION_OTA_TEMP);
        const struct flashsim_part *p1 = flashsim_part(&ff.fs, HAL_PARTITION_PARAMETER_1);
        assert_int_equal(flashsim_erase(&ff.fs, HAL_PARTITION_OTA_TEMP, 0, ota->length), 0);
        assert_int_equal(flashsim_program(&ff.fs, HAL_PARTITION_OTA_TEMP, 0, junk, sizeof(junk)), 0);
        assert_int_equal(flashsim_erase(&ff.fs, HAL_PARTITION_PARAMETER_1, 0, p1->length), 0);
        assert_int_equal(kv_mount(&g_kv, &ff.fs, g_b.kv_parts, g_b.nkv), 0);
        for (int k = 0; k < 60; k++) /* several sectors' worth: compactions */
            assert_int_equal(kv_set(&g_kv, "ota_state", junk + k, 200), 0);
        flashfile_close(&ff);
        assert_int_equal(sentinel_check(g_flash, &g_b, SEED, err, sizeof(err)), 0);
    }
}

/* fixtures/ports/erases-kv-sector: on resume the port erases PARAMETER_2
 * as if it held only OTA parameters; it holds the KV store. */
static void test_kv_sector_erased(void **state)
{
    struct flashfile ff;
    char err[512];

    (void)state;
    for (size_t i = 0; i < sizeof(g_names) / sizeof(g_names[0]); i++) {
        fresh(g_names[i]);
        assert_int_equal(open_flash(&ff, g_flash, &g_b, err, sizeof(err)), 0);
        const struct flashsim_part *kp = flashsim_part(&ff.fs, HAL_PARTITION_PARAMETER_2);
        assert_int_equal(flashsim_erase(&ff.fs, HAL_PARTITION_PARAMETER_2, 0, kp->length), 0);
        flashfile_close(&ff);
        expect_lost(g_names[i], "KV key wifi_ssid lost after the update (spec §12 #10)");
    }
}

static void test_value_changed(void **state)
{
    struct flashfile ff;
    char err[512];

    (void)state;
    fresh("mk3060");
    assert_int_equal(open_flash(&ff, g_flash, &g_b, err, sizeof(err)), 0);
    assert_int_equal(kv_mount(&g_kv, &ff.fs, g_b.kv_parts, g_b.nkv), 0);
    assert_int_equal(kv_set(&g_kv, SENTINEL_KEY_PASSWD, "12345678", 8), 0);
    flashfile_close(&ff);
    expect_lost("mk3060", "KV key wifi_passwd changed after the update: '12345678', expected '");
}

/* A write into a partition the update must not touch, and one through
 * mk3060's PARAMETER_4, which lies inside the bootloader. */
static void test_partition_changed(void **state)
{
    struct flashfile ff;
    char err[512];
    uint8_t zero[8] = { 0 };

    (void)state;
    fresh("mk3060");
    assert_int_equal(open_flash(&ff, g_flash, &g_b, err, sizeof(err)), 0);
    assert_int_equal(flashsim_program(&ff.fs, HAL_PARTITION_PARAMETER_4, 0x40, zero, 8), 0);
    flashfile_close(&ff);
    expect_lost("mk3060", "PARAMETER_4 changed after the update at offset 0x4");
    /* a second loss is counted */
    assert_int_equal(open_flash(&ff, g_flash, &g_b, err, sizeof(err)), 0);
    assert_int_equal(flashsim_erase(&ff.fs, HAL_PARTITION_RECOVERY, 0, 0x1000), 0);
    flashfile_close(&ff);
    expect_lost("mk3060", "; 2 sentinels lost in all");

    fresh("developerkit"); /* SPIFFS: 128 KiB at the end of bank 2 */
    assert_int_equal(open_flash(&ff, g_flash, &g_b, err, sizeof(err)), 0);
    assert_int_equal(flashsim_erase(&ff.fs, HAL_PARTITION_SPIFFS, 0x1F800, 0x800), 0);
    flashfile_close(&ff);
    expect_lost("developerkit", "SPIFFS changed after the update at offset 0x1f800");
}

/* The check reads a copy: a store it has to format or repair stays as it is
 * in the file, and a file that is not one of the board is -1. */
static void test_check_reads_only(void **state)
{
    uint8_t *before, *after;
    size_t lb, la;
    struct flashfile ff;
    char err[512];

    (void)state;
    fresh("native");
    assert_int_equal(open_flash(&ff, g_flash, &g_b, err, sizeof(err)), 0);
    const struct flashsim_part *kp = flashsim_part(&ff.fs, HAL_PARTITION_PARAMETER_2);
    assert_int_equal(flashsim_erase(&ff.fs, HAL_PARTITION_PARAMETER_2, 0, kp->length), 0);
    flashfile_close(&ff);
    assert_int_equal(read_file(g_flash, &before, &lb, err, sizeof(err)), 0);
    assert_int_equal(sentinel_check(g_flash, &g_b, SEED, err, sizeof(err)), 1);
    assert_int_equal(read_file(g_flash, &after, &la, err, sizeof(err)), 0);
    assert_int_equal(lb, la);
    assert_memory_equal(before, after, lb);
    free(before);
    free(after);
    assert_int_equal(sentinel_check(g_img, &g_b, SEED, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a flash file of board native"));
    /* another seed draws other values: the planted ones do not match */
    fresh("native");
    assert_int_equal(sentinel_check(g_flash, &g_b, SEED + 1, err, sizeof(err)), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_update_writes_keep),
        cmocka_unit_test(test_kv_sector_erased),
        cmocka_unit_test(test_value_changed),
        cmocka_unit_test(test_partition_changed),
        cmocka_unit_test(test_check_reads_only),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
