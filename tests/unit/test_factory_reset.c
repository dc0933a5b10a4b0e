/*
 * test_factory_reset.c - factory_reset_flash (conformance/common.c, spec §12 #6,
 * AliOS-Things#1068) on a flash file left by an update on a pingpong board
 * (developerkit: ECC flash, a unit programmed once per erase): re-flashing
 * APPLICATION alone keeps the boot record, so the OTA'd image still boots;
 * a factory reset erases the record, so the re-flashed image boots, keeps
 * the KV store unless asked, and leaves a flash the device can write its
 * next record into without a violation. A bad image or a file of another
 * board changes nothing.
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
#include "hal/soc/flash.h"
#include "sim/boot/boot.h"
#include "sim/kv/kv.h"

#define V1 "app-1.0.0-20180101.1000"
#define V2 "app-2.0.0-20260101.1200"

static char g_dir[64], g_v1[128], g_v2[128], g_flash[128];
static struct board g_b;
static struct kv_store g_kv;

static int setup(void **state)
{
    const char *file = __FILE__, *tail = strstr(file, "tests/unit/test_factory_reset.c");
    char rel[4096], abs[4096], err[256];
    struct image_spec s1 = { V1, NULL, 30000, 1, 0 }, s2 = { V2, NULL, 40000, 2, 0 };

    (void)state;
    snprintf(rel, sizeof(rel), "%.*sboards", tail ? (int)(tail - file) : 0, file);
    if (realpath(rel, abs) != NULL)
        setenv("OTAHIL_BOARDS", abs, 1);
    snprintf(g_dir, sizeof(g_dir), "/tmp/test_factory_reset.XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    snprintf(g_v1, sizeof(g_v1), "%s/v1.bin", g_dir);
    snprintf(g_v2, sizeof(g_v2), "%s/v2.bin", g_dir);
    snprintf(g_flash, sizeof(g_flash), "%s/flash.bin", g_dir);
    return make_image_file(g_v1, &s1, err, sizeof(err)) || make_image_file(g_v2, &s2, err, sizeof(err)) ||
           board_open(&g_b, "developerkit", err, sizeof(err));
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The flash as an update to v2 leaves it on a pingpong board: v1 in
 * APPLICATION, v2 in OTA_TEMP, a confirmed record selecting OTA_TEMP, and
 * a setting in KV. */
static void after_update(void)
{
    struct flashfile ff;
    uint8_t *img;
    size_t len;
    char err[512];
    ota_boot_param_t r;

    assert_int_equal(provision_flash(g_flash, &g_b, g_v1, err, sizeof(err)), 0);
    assert_int_equal(open_flash(&ff, g_flash, &g_b, err, sizeof(err)), 0);
    assert_int_equal(read_file(g_v2, &img, &len, err, sizeof(err)), 0);
    uint32_t plen = (uint32_t)(len + 7) / 8 * 8;
    img = realloc(img, plen);
    memset(img + len, 0xFF, plen - len);
    assert_int_equal(flashsim_program(&ff.fs, HAL_PARTITION_OTA_TEMP, 0, img, plen), 0);
    free(img);
    memset(&r, 0, sizeof(r));
    r.src_adr = board_part(&g_b, HAL_PARTITION_OTA_TEMP)->start;
    r.dst_adr = board_part(&g_b, HAL_PARTITION_APPLICATION)->start;
    r.len = (uint32_t)len;
    r.upg_flag = REC_NORMAL_FLAG;
    assert_int_equal(boot_record_append(&ff.fs, &r), 0);
    assert_int_equal(kv_mount(&g_kv, &ff.fs, g_b.kv_parts, g_b.nkv), 0);
    assert_int_equal(kv_set(&g_kv, "wifi_ssid", "lab", 3), 0);
    assert_int_equal(active_slot(&ff.fs, &g_b), HAL_PARTITION_OTA_TEMP);
    flashfile_close(&ff);
}

/* Which image boots; checks there is no violation. */
static const char *boots(char *ver, size_t n)
{
    struct flashfile ff;
    struct image_info ii;
    char err[512];

    assert_int_equal(open_flash(&ff, g_flash, &g_b, err, sizeof(err)), 0);
    assert_int_equal(slot_image(&ff.fs, active_slot(&ff.fs, &g_b), &ii), IMAGE_OK);
    assert_int_equal(ff.fs.meta->violations, 0);
    flashfile_close(&ff);
    snprintf(ver, n, "%s", ii.version);
    return ver;
}

static void kv_part(uint8_t *out)
{
    uint8_t *f;
    size_t len;
    char err[512];
    const struct board_part *kp = board_part(&g_b, HAL_PARTITION_PARAMETER_2);

    assert_int_equal(read_file(g_flash, &f, &len, err, sizeof(err)), 0);
    memcpy(out, f + (kp->start - g_b.flash_base), kp->length);
    free(f);
}

static void test_app_only_keeps_the_ota_image(void **state)
{
    char v[80], err[512];

    (void)state;
    after_update();
    assert_string_equal(boots(v, sizeof(v)), V2);
    assert_int_equal(factory_reset_flash(g_flash, &g_b, g_v1, FACTORY_APP_ONLY, err, sizeof(err)), 0);
    assert_string_equal(boots(v, sizeof(v)), V2); /* the field failure */
}

static void test_factory_reset_boots_the_image(void **state)
{
    static uint8_t kv_before[0x2000], kv_after[0x2000];
    struct flashfile ff;
    char v[80], err[512];
    ota_boot_param_t r;
    int last;

    (void)state;
    after_update();
    kv_part(kv_before);
    assert_int_equal(factory_reset_flash(g_flash, &g_b, g_v1, 0, err, sizeof(err)), 0);
    assert_string_equal(boots(v, sizeof(v)), V1);
    kv_part(kv_after);
    assert_memory_equal(kv_before, kv_after, sizeof(kv_before)); /* settings kept */

    /* the next OTA's record lands on a cleanly erased PARAMETER_1 (program once) */
    assert_int_equal(open_flash(&ff, g_flash, &g_b, err, sizeof(err)), 0);
    assert_int_equal(boot_record_newest(&ff.fs, &r, &last), 0);
    memset(&r, 0, sizeof(r));
    r.src_adr = board_part(&g_b, HAL_PARTITION_APPLICATION)->start;
    assert_int_equal(boot_record_append(&ff.fs, &r), 0);
    assert_int_equal(ff.fs.meta->violations, 0);
    flashfile_close(&ff);

    /* --erase-kv: the settings go too */
    after_update();
    assert_int_equal(factory_reset_flash(g_flash, &g_b, g_v1, FACTORY_ERASE_KV, err, sizeof(err)), 0);
    kv_part(kv_after);
    for (size_t i = 0; i < sizeof(kv_after); i++)
        assert_int_equal(kv_after[i], 0xFF);
    assert_string_equal(boots(v, sizeof(v)), V1);
}

static void test_refusals_change_nothing(void **state)
{
    uint8_t *before, *after;
    size_t lb, la;
    char err[512], bad[160];
    struct board other;

    (void)state;
    after_update();
    assert_int_equal(read_file(g_flash, &before, &lb, err, sizeof(err)), 0);
    /* not an image */
    assert_int_equal(factory_reset_flash(g_flash, &g_b, g_flash, 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a valid otahil image"));
    /* a truncated image */
    snprintf(bad, sizeof(bad), "%s/trunc.bin", g_dir);
    assert_int_equal(write_file_atomic(bad, before, 100, err, sizeof(err)), 0);
    assert_int_equal(factory_reset_flash(g_flash, &g_b, bad, 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, bad));
    /* the flash file of another board */
    assert_int_equal(board_open(&other, "native", err, sizeof(err)), 0);
    assert_int_equal(factory_reset_flash(g_flash, &other, g_v1, 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a flash file of board native"));
    assert_null(strchr(err, '\n'));
    /* a missing file */
    snprintf(bad, sizeof(bad), "%s/none.bin", g_dir);
    assert_int_equal(factory_reset_flash(bad, &g_b, g_v1, 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, bad));
    assert_int_equal(access(bad, F_OK), -1);
    assert_int_equal(read_file(g_flash, &after, &la, err, sizeof(err)), 0);
    assert_int_equal(lb, la);
    assert_memory_equal(before, after, lb);
    free(before);
    free(after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_app_only_keeps_the_ota_image),
        cmocka_unit_test(test_factory_reset_boots_the_image),
        cmocka_unit_test(test_refusals_change_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
