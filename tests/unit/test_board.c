/*
 * test_board.c - board files (sim/board/board.c): the four shipped boards
 * load with their exact tables, mk3060's PARAMETER_4 overlap is accepted
 * only because it is declared, and every kind of error in a board file is
 * reported as "PATH:LINE: message" with the right line. Also name
 * resolution and board_apply onto a flash model.
 *
 * The shipped boards are found through OTAHIL_BOARDS, set here to the
 * repository's boards/ folder (derived from this file's path).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "hal/soc/flash.h"
#include "sim/board/board.h"
#include "sim/flash/flashsim.h"

#define RW (PAR_OPT_READ_EN | PAR_OPT_WRITE_EN)
#define RO PAR_OPT_READ_EN

static char g_boards[4096]; /* absolute path of the repository's boards/ */
static struct board g_b;    /* large: keep it off the stack */
static char g_err[1024];

/* A small valid board: 128 KiB, 4 KiB sectors, free space from 0x10000. */
static const char base_board[] =
    "; a test board\n"
    "[board]\n"
    "name = t\n"
    "bootloader = copy\n"
    "profile = g1\n"
    "kv = PARAMETER_2\n"
    "\n"
    "[flash]\n"
    "size = 128K\n"
    "sector_size = 4K\n"
    "program_unit = 4\n"
    "\n"
    "[partition PARAMETER_1]\n"
    "start = 0x0\n"
    "length = 4K\n"
    "options = read, write\n"
    "\n"
    "[partition PARAMETER_2]\n"
    "start = 0x1000\n"
    "length = 0x2000\n"
    "options = read, write\n"
    "\n"
    "[partition APPLICATION]\n"
    "start = 0x4000\n"
    "length = 0x6000\n"
    "options = read, write\n"
    "\n"
    "[partition OTA_TEMP]\n"
    "start = 0xA000\n"
    "length = 0x6000\n"
    "options = read, write\n";

/* ---- helpers ---- */

static char *write_tmp(const char *text)
{
    static char path[64];
    FILE *f;
    int fd;

    snprintf(path, sizeof(path), "/tmp/otahil-test-board-XXXXXX.ini");
    fd = mkstemps(path, 4);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
    return path;
}

/* text with the first occurrence of old replaced by new ("" deletes). The
 * result lives in one of two buffers used in turn, so calls can nest. */
static char *variant(const char *text, const char *old, const char *new)
{
    static char bufs[2][8192];
    static int turn;
    char *out = bufs[turn ^= 1];
    const char *at = strstr(text, old);

    if (at == NULL)
        fail_msg("variant: '%s' not in the text", old);
    assert_true(text != out);
    snprintf(out, sizeof(bufs[0]), "%.*s%s%s", (int)(at - text), text, new, at + strlen(old));
    return out;
}

/* Line (1-based) holding the marker "<--", or the last line if none. */
static int expected_line(const char *text)
{
    const char *m = strstr(text, "<--"), *p;
    int line = 1;

    for (p = text; *p && (m == NULL || p < m); p++)
        if (*p == '\n' && (m != NULL || p[1] != '\0'))
            line++;
    return line;
}

static int load_text(const char *text)
{
    char *path = write_tmp(text);
    int rc = board_load(&g_b, path, g_err, sizeof(g_err));
    unlink(path);
    return rc;
}

/* text must fail at its marker line (or last line) with msg in the text. */
static void expect_error(const char *text, const char *msg)
{
    char *path = write_tmp(text);
    char want[128];
    int line = expected_line(text);
    int rc = board_load(&g_b, path, g_err, sizeof(g_err));

    unlink(path);
    snprintf(want, sizeof(want), "%s:%d: ", path, line);
    if (rc != -1)
        fail_msg("loaded, but expected '%s' at line %d in:\n%s", msg, line, text);
    if (strncmp(g_err, want, strlen(want)) != 0 || strstr(g_err, msg) == NULL)
        fail_msg("got   '%s'\nwant  '%s...%s...'", g_err, want, msg);
    assert_null(strchr(g_err, '\n')); /* one line */
}

/* The repository's boards/: beside this source file when that path works
 * from here, else $OTAHIL_BOARDS, else ./boards. */
static int setup(void **state)
{
    const char *file = __FILE__, *tail = strstr(file, "tests/unit/test_board.c");
    const char *env = getenv("OTAHIL_BOARDS");
    char rel[4096];

    (void)state;
    snprintf(rel, sizeof(rel), "%.*sboards", tail ? (int)(tail - file) : 0, file);
    if (realpath(rel, g_boards) == NULL && (env == NULL || realpath(env, g_boards) == NULL))
        snprintf(g_boards, sizeof(g_boards), "boards");
    return setenv("OTAHIL_BOARDS", g_boards, 1);
}

/* ---- shipped boards ---- */

struct want_part {
    int id;
    uint32_t start, length, options;
};

static void check_table(const struct want_part *w, int n)
{
    assert_int_equal(g_b.nparts, n);
    for (int i = 0; i < n; i++) {
        const struct board_part *p = board_part(&g_b, w[i].id);
        if (p == NULL)
            fail_msg("%s: no partition %s", g_b.name, board_part_name(w[i].id));
        if (p->start != w[i].start || p->length != w[i].length || p->options != w[i].options)
            fail_msg("%s: %s is 0x%x+0x%x opt %u, want 0x%x+0x%x opt %u", g_b.name, p->name, p->start,
                     p->length, p->options, w[i].start, w[i].length, w[i].options);
        assert_string_equal(p->name, board_part_name(w[i].id));
    }
}

static void test_native(void **state)
{
    (void)state;
    static const struct want_part t[] = {
        {HAL_PARTITION_BOOTLOADER, 0x0, 0x10000, RO},
        {HAL_PARTITION_PARAMETER_1, 0x10000, 0x1000, RW},
        {HAL_PARTITION_PARAMETER_2, 0x11000, 0x2000, RW},
        {HAL_PARTITION_PARAMETER_3, 0x13000, 0x1000, RW},
        {HAL_PARTITION_PARAMETER_4, 0x14000, 0x1000, RW},
        {HAL_PARTITION_APPLICATION, 0x20000, 0xF0000, RW},
        {HAL_PARTITION_OTA_TEMP, 0x110000, 0xF0000, RW},
    };
    char want[4200];

    if (board_open(&g_b, "native", g_err, sizeof(g_err)) != 0)
        fail_msg("%s", g_err);
    snprintf(want, sizeof(want), "%s/native.ini", g_boards);
    assert_string_equal(g_b.path, want);
    assert_string_equal(g_b.name, "native");
    assert_string_equal(g_b.bootloader, "copy");
    assert_string_equal(g_b.profile, "g1");
    assert_int_equal(g_b.flash_base, 0);
    assert_int_equal(g_b.geom.size, 2 * 1024 * 1024);
    assert_int_equal(g_b.geom.sector_size, 4096);
    assert_int_equal(g_b.geom.program_unit, 4);
    assert_int_equal(g_b.geom.erase_value, 0xFF);
    assert_int_equal(g_b.geom.program_once, 0);
    assert_int_equal(g_b.nkv, 1);
    assert_int_equal(g_b.kv_parts[0], HAL_PARTITION_PARAMETER_2);
    assert_int_equal(g_b.app_download_addr, 0x20000);    /* default: APPLICATION start */
    assert_int_equal(g_b.kernel_download_addr, 0x20000);
    check_table(t, 7);
    for (int i = 0; i < g_b.nparts; i++)
        assert_int_equal(g_b.parts[i].overlaps_ok, -1);
}

static void test_mk3060(void **state)
{
    (void)state;
    static const struct want_part t[] = {
        {HAL_PARTITION_BOOTLOADER, 0x0, 0x10000, RO},
        {HAL_PARTITION_PARAMETER_4, 0xD000, 0x1000, RW},
        {HAL_PARTITION_PARAMETER_1, 0x10000, 0x1000, RW},
        {HAL_PARTITION_PARAMETER_2, 0x11000, 0x1000, RW},
        {HAL_PARTITION_PARAMETER_3, 0x12000, 0x1000, RW},
        {HAL_PARTITION_RECOVERY, 0x13000, 0x5000, RW},
        {HAL_PARTITION_APPLICATION, 0x18000, 0xE8000, RW},
        {HAL_PARTITION_OTA_TEMP, 0x100000, 0xE8000, RW},
    };

    if (board_open(&g_b, "mk3060", g_err, sizeof(g_err)) != 0)
        fail_msg("%s", g_err);
    assert_string_equal(g_b.bootloader, "copy");
    assert_int_equal(g_b.geom.size, 0x200000);
    assert_int_equal(g_b.geom.sector_size, 0x1000);
    assert_int_equal(g_b.geom.program_unit, 1);
    assert_int_equal(g_b.nkv, 2); /* moc108 multi-partition KV */
    assert_int_equal(g_b.kv_parts[0], HAL_PARTITION_PARAMETER_2);
    assert_int_equal(g_b.kv_parts[1], HAL_PARTITION_PARAMETER_3);
    check_table(t, 8);
    assert_int_equal(board_part(&g_b, HAL_PARTITION_PARAMETER_4)->overlaps_ok, HAL_PARTITION_BOOTLOADER);
}

static void test_developerkit(void **state)
{
    (void)state;
    static const struct want_part t[] = {
        {HAL_PARTITION_BOOTLOADER, 0x08000000, 0x4000, RW}, /* writable in the real table */
        {HAL_PARTITION_APPLICATION, 0x08004000, 0x5C000, RW},
        {HAL_PARTITION_PARAMETER_1, 0x08060000, 0x1000, RW},
        {HAL_PARTITION_PARAMETER_2, 0x08061000, 0x2000, RW},
        {HAL_PARTITION_PARAMETER_3, 0x08063000, 0x1000, RW},
        {HAL_PARTITION_PARAMETER_4, 0x08064000, 0x1000, RW},
        {HAL_PARTITION_OTA_TEMP, 0x08084000, 0x5C000, RW},
        {HAL_PARTITION_SPIFFS, 0x080E0000, 0x20000, RW},
    };

    if (board_open(&g_b, "developerkit", g_err, sizeof(g_err)) != 0)
        fail_msg("%s", g_err);
    assert_string_equal(g_b.bootloader, "pingpong");
    assert_int_equal(g_b.boot_attempts, 3);
    assert_int_equal(g_b.flash_base, 0x08000000);
    assert_int_equal(g_b.geom.size, 0x100000);
    assert_int_equal(g_b.geom.sector_size, 0x800);
    assert_int_equal(g_b.geom.program_unit, 8);
    assert_int_equal(g_b.geom.program_once, 1);
    assert_int_equal(g_b.nkv, 1);
    assert_int_equal(g_b.kv_parts[0], HAL_PARTITION_PARAMETER_2);
    assert_int_equal(g_b.app_download_addr, 0x08004000);
    check_table(t, 8);
}

static void test_esp8266(void **state)
{
    (void)state;
    static const struct want_part t[] = {
        {HAL_PARTITION_BOOTLOADER, 0x0, 0x1000, RO},
        {HAL_PARTITION_APPLICATION, 0x1000, 0xF4000, RW},
        {HAL_PARTITION_OTA_TEMP, 0x101000, 0xF4000, RW},
        {HAL_PARTITION_PARAMETER_1, 0x1F6000, 0x1000, RW},
        {HAL_PARTITION_PARAMETER_2, 0x1F7000, 0x2000, RW},
        {HAL_PARTITION_PARAMETER_3, 0x1F9000, 0x1000, RW},
        {HAL_PARTITION_PARAMETER_4, 0x1FA000, 0x1000, RW},
        {HAL_PARTITION_CUSTOM_1, 0x1FC000, 0x4000, RO},
    };

    if (board_open(&g_b, "esp8266", g_err, sizeof(g_err)) != 0)
        fail_msg("%s", g_err);
    assert_string_equal(g_b.bootloader, "pingpong");
    assert_int_equal(g_b.geom.size, 0x200000);
    assert_int_equal(g_b.geom.sector_size, 0x1000);
    assert_int_equal(g_b.geom.program_unit, 4);
    assert_int_equal(g_b.nkv, 1);
    assert_int_equal(g_b.kv_parts[0], HAL_PARTITION_PARAMETER_2);
    check_table(t, 8);
    assert_string_equal(board_part(&g_b, HAL_PARTITION_CUSTOM_1)->description, "ESP8266 SDK system parameters");
}

/* mk3060's PARAMETER_4 lies inside BOOTLOADER: the shipped file loads only
 * because it declares the overlap. The same file without the declaration
 * fails at PARAMETER_4's start line, naming both partitions. */
static void test_mk3060_overlap_declared(void **state)
{
    (void)state;
    char path[4200], text[8192], cut[8192], marked[8192];
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "%s/mk3060.ini", g_boards);
    f = fopen(path, "r");
    assert_non_null(f);
    n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    assert_non_null(strstr(text, "overlaps = BOOTLOADER\n"));
    snprintf(cut, sizeof(cut), "%s", variant(text, "overlaps = BOOTLOADER\n", ""));
    assert_int_equal(load_text(text), 0);
    snprintf(marked, sizeof(marked), "%s", variant(cut, "start = 0xD000", "start = 0xD000 ; <--"));
    expect_error(marked, "partition PARAMETER_4 (0xd000..0xe000) overlaps BOOTLOADER (0x0..0x10000)");
    expect_error(marked, "declare 'overlaps = BOOTLOADER'");
}

/* ---- the format ---- */

static void test_base_and_defaults(void **state)
{
    (void)state;
    if (load_text(base_board) != 0)
        fail_msg("%s", g_err);
    assert_string_equal(g_b.name, "t");
    assert_string_equal(g_b.description, "");
    assert_int_equal(g_b.boot_attempts, 3);
    assert_int_equal(g_b.flash_base, 0);
    assert_int_equal(g_b.geom.erase_value, 0xFF);
    assert_int_equal(g_b.geom.program_once, 0);
    assert_int_equal(g_b.app_download_addr, 0x4000);
    assert_int_equal(g_b.kernel_download_addr, 0x4000);
    assert_string_equal(board_part(&g_b, HAL_PARTITION_OTA_TEMP)->description, "OTA_TEMP");
    assert_int_equal(board_part(&g_b, HAL_PARTITION_OTA_TEMP)->line, 28);
    assert_int_equal(board_part(&g_b, HAL_PARTITION_PARAMETER_1)->length, 4096);

    /* explicit values, both partition spellings, numbers in every form,
     * comments of both kinds, indented keys (not continuation lines) */
    const char *text =
        "# full form\n"
        "[board]\n"
        "name = full ; inline comment\n"
        "description = A board; with a semicolon\n"
        "bootloader = pingpong\n"
        "boot_attempts = 5\n"
        "profile = g1\n"
        "flash_base = 0x08000000\n"
        "kv = HAL_PARTITION_PARAMETER_2,PARAMETER_1\n"
        "app_download_addr = 0x40200000\n"
        "kernel_download_addr = 1073741824\n"
        "[flash]\n"
        "    size = 0x20000\n"
        "    sector_size = 4096\n"
        "    program_unit = 8\n"
        "    erase_value = 0\n"
        "    program_once = yes\n"
        "[ partition HAL_PARTITION_PARAMETER_1 ]\n"
        "start = 134217728\n"
        "length = 0x4K\n"
        "options = write,read\n"
        "description = first\n"
        "[partition parameter_2]\n"
        "start = 0x08001000\n"
        "length = 8K\n"
        "options = read, write\n"
        "[partition APPLICATION]\n"
        "start = 0x08004000\n"
        "length = 0x6000\n"
        "options = read, write\n"
        "[partition OTA_TEMP]\n"
        "start = 0x0800A000\n"
        "length = 24K\n"
        "options = read , write\n"
        "[partition SPIFFS]\n"
        "start = 0x08010000\n"
        "length = 0x10000\n"
        "options = none\n";
    if (load_text(text) != 0)
        fail_msg("%s", g_err);
    assert_string_equal(g_b.name, "full");
    assert_string_equal(g_b.description, "A board; with a semicolon");
    assert_string_equal(g_b.bootloader, "pingpong");
    assert_int_equal(g_b.boot_attempts, 5);
    assert_int_equal(g_b.flash_base, 0x08000000);
    assert_int_equal(g_b.nkv, 2);
    assert_int_equal(g_b.kv_parts[0], HAL_PARTITION_PARAMETER_2);
    assert_int_equal(g_b.kv_parts[1], HAL_PARTITION_PARAMETER_1);
    assert_int_equal(g_b.app_download_addr, 0x40200000);
    assert_int_equal(g_b.kernel_download_addr, 0x40000000);
    assert_int_equal(g_b.geom.size, 0x20000);
    assert_int_equal(g_b.geom.program_unit, 8);
    assert_int_equal(g_b.geom.erase_value, 0);
    assert_int_equal(g_b.geom.program_once, 1);
    const struct board_part *p1 = board_part(&g_b, HAL_PARTITION_PARAMETER_1);
    assert_non_null(p1);
    assert_string_equal(p1->name, "PARAMETER_1");
    assert_string_equal(p1->description, "first");
    assert_int_equal(p1->start, 0x08000000);
    assert_int_equal(p1->length, 0x1000);
    assert_int_equal(p1->options, RW);
    assert_int_equal(board_part(&g_b, HAL_PARTITION_SPIFFS)->options, 0);
    assert_int_equal(board_part(&g_b, HAL_PARTITION_PARAMETER_2)->line, 23);
}

static void test_overlap_rules(void **state)
{
    (void)state;
    static const char spiffs[] = "[partition SPIFFS]\nstart = 0x5000\nlength = 0x1000\noptions = read\n";
    char text[8192];

    /* SPIFFS inside APPLICATION: an error naming both ... */
    snprintf(text, sizeof(text), "%s%s", base_board,
             "[partition SPIFFS]\nstart = 0x5000 ; <--\nlength = 0x1000\noptions = read\n");
    expect_error(text, "partition SPIFFS (0x5000..0x6000) overlaps APPLICATION (0x4000..0xa000)");
    /* ... unless either side declares it */
    snprintf(text, sizeof(text), "%s%soverlaps = APPLICATION\n", base_board, spiffs);
    assert_int_equal(load_text(text), 0);
    assert_int_equal(board_part(&g_b, HAL_PARTITION_SPIFFS)->overlaps_ok, HAL_PARTITION_APPLICATION);
    snprintf(text, sizeof(text), "%s%s",
             variant(base_board, "start = 0x4000\n", "start = 0x4000\noverlaps = SPIFFS\n"), spiffs);
    assert_int_equal(load_text(text), 0);
    /* a declaration covers only the partition it names */
    snprintf(text, sizeof(text), "%s%s", base_board,
             "[partition SPIFFS]\nstart = 0x9000 ; <--\nlength = 0x2000\noptions = read\noverlaps = APPLICATION\n");
    expect_error(text, "partition SPIFFS (0x9000..0xb000) overlaps OTA_TEMP (0xa000..0x10000)");
    /* a declared overlap that is not one is stale */
    snprintf(text, sizeof(text), "%s%s", base_board,
             "[partition SPIFFS]\nstart = 0x10000\nlength = 0x1000\noptions = read\noverlaps = APPLICATION ; <--\n");
    expect_error(text, "overlaps: SPIFFS does not overlap APPLICATION");
    /* touching is not overlapping */
    snprintf(text, sizeof(text), "%s%s", base_board,
             "[partition SPIFFS]\nstart = 0x10000\nlength = 0x10000\noptions = read\n");
    assert_int_equal(load_text(text), 0);
}

/* BOARD_LOAD_ANY_OVERLAP (otahil board check) loads a board with undeclared
 * overlaps; board_overlaps lists every pair, declared or not, with the
 * shared range. A stale declaration is still an error. */
static void test_overlap_list(void **state)
{
    struct board_overlap ov[8];
    char text[8192], *path;
    int n;

    (void)state;
    /* SPIFFS inside APPLICATION, declared; CUSTOM_1 inside PARAMETER_2 (the KV
     * store), undeclared */
    snprintf(text, sizeof(text), "%s%s%s", base_board,
             "[partition SPIFFS]\nstart = 0x5000\nlength = 0x1000\noptions = read\noverlaps = APPLICATION\n",
             "[partition CUSTOM_1]\nstart = 0x2000\nlength = 0x1000\noptions = read\n");
    assert_int_equal(load_text(text), -1);
    path = write_tmp(text);
    assert_int_equal(board_load_flags(&g_b, path, BOARD_LOAD_ANY_OVERLAP, g_err, sizeof(g_err)), 0);
    n = board_overlaps(&g_b, ov, 8);
    assert_int_equal(n, 2);
    assert_string_equal(g_b.parts[ov[0].a].name, "PARAMETER_2");
    assert_string_equal(g_b.parts[ov[0].b].name, "CUSTOM_1");
    assert_int_equal(ov[0].declared, 0);
    assert_int_equal(ov[0].lo, 0x2000);
    assert_int_equal(ov[0].hi, 0x3000);
    assert_string_equal(g_b.parts[ov[1].a].name, "APPLICATION");
    assert_string_equal(g_b.parts[ov[1].b].name, "SPIFFS");
    assert_int_equal(ov[1].declared, 1);
    assert_int_equal(ov[1].lo, 0x5000);
    assert_int_equal(ov[1].hi, 0x6000);
    assert_int_equal(board_overlaps(&g_b, NULL, 0), 2); /* count only */
    unlink(path);
    /* a stale declaration stays an error */
    snprintf(text, sizeof(text), "%s%s", base_board,
             "[partition SPIFFS]\nstart = 0x10000\nlength = 0x1000\noptions = read\noverlaps = APPLICATION\n");
    path = write_tmp(text);
    assert_int_equal(board_load_flags(&g_b, path, BOARD_LOAD_ANY_OVERLAP, g_err, sizeof(g_err)), -1);
    assert_non_null(strstr(g_err, "overlaps: SPIFFS does not overlap APPLICATION"));
    unlink(path);
    /* the shipped mk3060: its one declared overlap */
    assert_int_equal(board_open_flags(&g_b, "mk3060", BOARD_LOAD_ANY_OVERLAP, g_err, sizeof(g_err)), 0);
    assert_int_equal(board_overlaps(&g_b, ov, 8), 1);
    assert_int_equal(ov[0].declared, 1);
    assert_int_equal(ov[0].lo, 0xD000);
    assert_int_equal(ov[0].hi, 0xE000);
}

/* One defect per file; the marker "<--" is on the line the error names (no
 * marker: the last line). */
static void test_errors(void **state)
{
    (void)state;
    const char *b = base_board;
    char text[8192];
    char longline[400];

    /* unknown section, unknown key, key outside a section */
    snprintf(text, sizeof(text), "%s[flashy] ; <--\nsize = 1\n", b);
    expect_error(text, "unknown section [flashy]");
    expect_error(variant(b, "program_unit = 4\n", "program_unit = 4\nspeed = 80 ; <--\n"),
                 "unknown key 'speed' in [flash]");
    expect_error(variant(b, "options = read, write\n", "options = read, write\nfs = fat ; <--\n"),
                 "unknown key 'fs' in [partition PARAMETER_1]");
    snprintf(text, sizeof(text), "name = early ; <--\n%s", b);
    expect_error(text, "key 'name' outside a section");
    snprintf(text, sizeof(text), "%s[partition] ; <--\n", b);
    expect_error(text, "[partition] needs a partition name");
    snprintf(text, sizeof(text), "%s[partition FLASHFS] ; <--\n", b);
    expect_error(text, "unknown partition 'FLASHFS'");
    snprintf(text, sizeof(text), "%s[partitions] ; <--\n", b);
    expect_error(text, "unknown section [partitions]");

    /* duplicate key, section, partition */
    expect_error(variant(b, "name = t\n", "name = t\nname = u ; <--\n"), "duplicate key 'name' in [board] (first at line 3)");
    expect_error(variant(b, "length = 0x6000\n", "length = 0x6000\n  length = 0x7000 ; <--\n"),
                 "duplicate key 'length' in [partition APPLICATION]");
    snprintf(text, sizeof(text), "%s[flash] ; <--\n", b);
    expect_error(text, "duplicate section [flash] (first at line 8)");
    snprintf(text, sizeof(text), "%s[partition HAL_PARTITION_OTA_TEMP] ; <--\nstart = 0x10000\n", b);
    expect_error(text, "duplicate partition OTA_TEMP (first at line 28)");

    /* bad numbers */
    expect_error(variant(b, "size = 128K", "size = 128Q ; <--"), "size: bad number '128Q'");
    expect_error(variant(b, "size = 128K", "size = 0x ; <--"), "size: bad number '0x'");
    expect_error(variant(b, "size = 128K", "size = 4294967296 ; <--"), "size: bad number");
    expect_error(variant(b, "size = 128K", "size = 4096M ; <--"), "size: bad number");
    expect_error(variant(b, "size = 128K", "size = -4K ; <--"), "size: bad number");
    expect_error(variant(b, "size = 128K", "size = ; <--"), "size: bad number ''");
    expect_error(variant(b, "start = 0xA000", "start = 0xA000 0 ; <--"), "start: bad number");
    expect_error(variant(b, "program_unit = 4", "program_unit = four ; <--"), "program_unit: bad number");

    /* bad values */
    expect_error(variant(b, "bootloader = copy", "bootloader = swap ; <--"), "bootloader: 'swap' is not copy or pingpong");
    expect_error(variant(b, "profile = g1", "profile = g2 ; <--"), "profile: unknown protocol profile 'g2'");
    expect_error(variant(b, "bootloader = copy", "bootloader = pingpong\nboot_attempts = 0 ; <--"), "boot_attempts: 0 is outside 1..255");
    expect_error(variant(b, "bootloader = copy", "bootloader = pingpong\nboot_attempts = 256 ; <--"), "outside 1..255");
    expect_error(variant(b, "bootloader = copy", "bootloader = copy\nboot_attempts = 2 ; <--"), "only a pingpong bootloader");
    expect_error(variant(b, "program_unit = 4", "program_unit = 4\nprogram_once = maybe ; <--"), "program_once: 'maybe' is not yes or no");
    expect_error(variant(b, "program_unit = 4", "program_unit = 4\nerase_value = 0x100 ; <--"), "erase_value: 0x100 is not a byte");
    expect_error(variant(b, "options = read, write", "options = execute ; <--"), "options: 'execute' is not");
    expect_error(variant(b, "options = read, write", "options = read,,write ; <--"), "options:");
    expect_error(variant(b, "options = read, write", "options = read, read ; <--"), "options:");
    expect_error(variant(b, "options = read, write", "options = read, write, ; <--"), "options:");
    expect_error(variant(b, "kv = PARAMETER_2", "kv = PARAMETER_9 ; <--"), "kv: 'PARAMETER_9' is not a partition name");
    expect_error(variant(b, "kv = PARAMETER_2", "kv = PARAMETER_2, PARAMETER_2 ; <--"), "kv: PARAMETER_2 is listed twice");
    expect_error(variant(b, "kv = PARAMETER_2", "kv = PARAMETER_2, ; <--"), "kv: expected 1 to 4");
    expect_error(variant(b, "kv = PARAMETER_2", "kv = PARAMETER_1,PARAMETER_2,PARAMETER_3,PARAMETER_4,SPIFFS ; <--"),
                 "kv: expected 1 to 4");
    expect_error(variant(b, "name = t", "name = abcdefghijklmnopqrstuvwxyz0123456 ; <--"), "name: too long");
    expect_error(variant(b, "length = 0x6000", "length = 0 ; <--"), "length: a partition cannot be empty");
    expect_error(variant(b, "length = 0x6000", "length = 0x6000\noverlaps = APPLICATION ; <--"), "cannot overlap itself");
    expect_error(variant(b, "length = 0x6000", "length = 0x6000\noverlaps = NOWHERE ; <--"), "overlaps: 'NOWHERE' is not a partition name");
    expect_error(variant(b, "length = 0x6000", "length = 0x6000\noverlaps = RECOVERY ; <--"), "overlaps: there is no partition RECOVERY");

    /* missing required fields: reported at the section header */
    expect_error(variant(variant(b, "[board]", "[board] ; <--"), "profile = g1\n", ""), "[board] needs 'profile'");
    expect_error(variant(variant(b, "[flash]", "[flash] ; <--"), "sector_size = 4K\n", ""), "[flash] needs 'sector_size'");
    snprintf(text, sizeof(text), "%s", variant(b, "[partition APPLICATION]", "[partition APPLICATION] ; <--"));
    expect_error(variant(text, "options = read, write\n\n[partition OTA_TEMP]", "\n[partition OTA_TEMP]"),
                 "[partition APPLICATION] needs 'options'");

    /* missing sections and partitions: reported at the last line */
    expect_error(variant(b, "[flash]\nsize = 128K\nsector_size = 4K\nprogram_unit = 4\n", ""), "missing section [flash]");
    expect_error(variant(b, "[board]\nname = t\nbootloader = copy\nprofile = g1\nkv = PARAMETER_2\n", ""),
                 "missing section [board]");
    expect_error("", "missing section [board]");
    expect_error("; only a comment\n\n", "missing section [board]");
    expect_error(variant(b, "[partition APPLICATION]\nstart = 0x4000\nlength = 0x6000\noptions = read, write\n", ""),
                 "missing [partition APPLICATION]");
    expect_error(variant(b, "[partition OTA_TEMP]\nstart = 0xA000\nlength = 0x6000\noptions = read, write\n", ""),
                 "missing [partition OTA_TEMP]");
    expect_error(variant(b, "[partition PARAMETER_1]\nstart = 0x0\nlength = 4K\noptions = read, write\n", ""),
                 "missing [partition PARAMETER_1]");

    /* bad geometry */
    expect_error(variant(b, "sector_size = 4K", "sector_size = 3000 ; <--"), "bad geometry: sector_size 0xbb8 is not a power of two");
    expect_error(variant(b, "sector_size = 4K", "sector_size = 0 ; <--"), "not a power of two");
    expect_error(variant(b, "program_unit = 4", "program_unit = 3 ; <--"), "bad geometry: program_unit 3 is not a power of two");
    expect_error(variant(b, "program_unit = 4", "program_unit = 8K ; <--"), "program_unit 8192 is larger than sector_size 4096");
    expect_error(variant(b, "size = 128K", "size = 130K ; <--"), "bad geometry: size 0x20800 is not a multiple of sector_size 0x1000");
    expect_error(variant(b, "size = 128K", "size = 0 ; <--"), "bad geometry: size is 0");
    expect_error(variant(b, "profile = g1", "profile = g1\nflash_base = 0xFFFF0000 ; <--"),
                 "bad geometry: flash_base 0xffff0000 + size 0x20000 passes 4 GiB");

    /* partitions outside the chip or off the sector grid */
    expect_error(variant(b, "start = 0xA000", "start = 0x1C000 ; <--"),
                 "partition OTA_TEMP (0x1c000..0x22000) lies outside the chip (0x0..0x20000)");
    snprintf(text, sizeof(text), "%s", variant(b, "profile = g1", "profile = g1\nflash_base = 0x08000000"));
    expect_error(variant(text, "start = 0x0\n", "start = 0x0 ; <--\n"), "partition PARAMETER_1 (0x0..0x1000) lies outside the chip (0x8000000..0x8020000)");
    snprintf(text, sizeof(text), "%s[partition SPIFFS]\nstart = 0x10800 ; <--\nlength = 0x1000\noptions = read\n", b);
    expect_error(text, "partition SPIFFS: start 0x10800 is not on a sector boundary (sector_size 0x1000)");
    snprintf(text, sizeof(text), "%s[partition SPIFFS]\nstart = 0x10000\nlength = 0x1800 ; <--\noptions = read\n", b);
    expect_error(text, "partition SPIFFS: length 0x1800 is not a whole number of sectors");

    /* kv naming a partition that is not in the table, or is read-only */
    expect_error(variant(b, "kv = PARAMETER_2", "kv = PARAMETER_2, PARAMETER_3 ; <--"), "kv: there is no partition PARAMETER_3");
    expect_error(variant(variant(b, "kv = PARAMETER_2", "kv = PARAMETER_2 ; <--"), "start = 0x1000\nlength = 0x2000\noptions = read, write",
                         "start = 0x1000\nlength = 0x2000\noptions = read"),
                 "kv: partition PARAMETER_2 is not 'read, write'");

    /* a pingpong bootloader needs equal slots: at OTA_TEMP's length */
    expect_error(variant(variant(b, "bootloader = copy", "bootloader = pingpong"), "length = 0x6000\noptions = read, write\n\n[partition OTA_TEMP]\nstart = 0xA000\nlength = 0x6000",
                         "length = 0x6000\noptions = read, write\n\n[partition OTA_TEMP]\nstart = 0xA000\nlength = 0x5000 ; <--"),
                 "pingpong: APPLICATION (0x6000) and OTA_TEMP (0x5000) must have the same length");

    /* lines inih cannot read */
    expect_error(variant(b, "program_unit = 4\n", "program_unit = 4\njust some words ; <--\n"), "syntax error");
    expect_error(variant(b, "[flash]", "[flash ; <--"), "syntax error");
    memset(longline, 'x', sizeof(longline) - 1);
    longline[sizeof(longline) - 1] = '\0';
    snprintf(text, sizeof(text), "name = t\ndescription = %s ; <--\n", longline);
    expect_error(variant(b, "name = t\n", text), "line too long");
}

static void test_missing_file(void **state)
{
    (void)state;
    assert_int_equal(board_load(&g_b, "/nonexistent/dir/x.ini", g_err, sizeof(g_err)), -1);
    assert_string_equal(g_err, "/nonexistent/dir/x.ini: cannot open: No such file or directory");
    assert_int_equal(board_open(&g_b, "/nonexistent/dir/x.ini", g_err, sizeof(g_err)), -1);
    assert_non_null(strstr(g_err, "cannot open"));
}

/* ---- names and resolution ---- */

static void test_part_names(void **state)
{
    (void)state;
    assert_int_equal(board_part_id("BOOTLOADER"), 0);
    assert_int_equal(board_part_id("APPLICATION"), 1);
    assert_int_equal(board_part_id("HAL_PARTITION_APPLICATION"), 1);
    assert_int_equal(board_part_id("ota_temp"), 3);
    assert_int_equal(board_part_id("PARAMETER_1"), 5);
    assert_int_equal(board_part_id("CUSTOM_1"), 11);
    assert_int_equal(board_part_id("HAL_PARTITION_RECOVERY"), 13);
    assert_int_equal(board_part_id("RECOVERY_BACK_PARA"), -1); /* rel_2.1.0 only */
    assert_int_equal(board_part_id("MAX"), -1);
    assert_int_equal(board_part_id("ERROR"), -1);
    assert_int_equal(board_part_id("HAL_PARTITION_"), -1);
    assert_int_equal(board_part_id(""), -1);
    assert_int_equal(board_part_id(NULL), -1);
    for (int id = 0; id <= 13; id++)
        assert_int_equal(board_part_id(board_part_name(id)), id);
    assert_string_equal(board_part_name(3), "OTA_TEMP");
    assert_string_equal(board_part_name(14), "?");
    assert_string_equal(board_part_name(-1), "?");
}

static void test_resolve(void **state)
{
    (void)state;
    char path[4200], want[4200], env[8400];

    /* paths are used as they are */
    assert_int_equal(board_resolve("boards/native.ini", path, sizeof(path)), 0);
    assert_string_equal(path, "boards/native.ini");
    assert_int_equal(board_resolve("my.ini", path, sizeof(path)), 0);
    assert_string_equal(path, "my.ini");
    assert_int_equal(board_resolve("./x", path, sizeof(path)), 0);
    assert_string_equal(path, "./x");
    assert_int_equal(board_resolve("boards/native.ini", path, 8), -1);

    /* names through OTAHIL_BOARDS, which may list several folders */
    snprintf(want, sizeof(want), "%s/esp8266.ini", g_boards);
    assert_int_equal(board_resolve("esp8266", path, sizeof(path)), 0);
    assert_string_equal(path, want);
    snprintf(env, sizeof(env), "/nonexistent-a::%s", g_boards);
    setenv("OTAHIL_BOARDS", env, 1);
    assert_int_equal(board_resolve("esp8266", path, sizeof(path)), 0);
    assert_string_equal(path, want);
    setenv("OTAHIL_BOARDS", g_boards, 1);

    assert_int_equal(board_resolve("no-such-board", path, sizeof(path)), -1);
    assert_string_equal(path, "");
    assert_int_equal(board_resolve("", path, sizeof(path)), -1);
    assert_int_equal(board_resolve(NULL, path, sizeof(path)), -1);
    assert_int_equal(board_open(&g_b, "no-such-board", g_err, sizeof(g_err)), -1);
    assert_non_null(strstr(g_err, "board 'no-such-board': no no-such-board.ini in"));
    assert_non_null(strstr(g_err, g_boards));
}

/* ---- onto the flash model ---- */

static void test_apply(void **state)
{
    (void)state;
    static struct flashsim fs;
    uint8_t *mem, *st;
    const struct flashsim_part *p;

    if (board_open(&g_b, "developerkit", g_err, sizeof(g_err)) != 0)
        fail_msg("%s", g_err);
    mem = malloc(g_b.geom.size);
    st = calloc(1, flashsim_state_size(&g_b.geom));
    assert_non_null(mem);
    assert_non_null(st);
    assert_int_equal(flashsim_init(&fs, &g_b.geom, mem, st, 1), 0);
    assert_int_equal(board_apply(&g_b, &fs), 0);
    assert_int_equal(fs.nparts, g_b.nparts);
    p = flashsim_part(&fs, HAL_PARTITION_OTA_TEMP);
    assert_non_null(p);
    assert_int_equal(p->start, 0x84000); /* chip offset = start - flash_base */
    assert_int_equal(p->length, 0x5C000);
    assert_int_equal(p->options, RW);
    assert_string_equal(p->name, "OTA_TEMP");
    assert_int_equal(flashsim_part(&fs, HAL_PARTITION_BOOTLOADER)->start, 0);
    assert_int_equal(flashsim_part(&fs, HAL_PARTITION_SPIFFS)->start, 0xE0000);
    free(mem);
    free(st);

    /* a flash model of another geometry is refused */
    if (board_open(&g_b, "mk3060", g_err, sizeof(g_err)) != 0)
        fail_msg("%s", g_err);
    struct flashsim_geom g = g_b.geom;
    g.program_unit = 4;
    mem = malloc(g.size);
    st = calloc(1, flashsim_state_size(&g));
    assert_int_equal(flashsim_init(&fs, &g, mem, st, 1), 0);
    assert_int_equal(board_apply(&g_b, &fs), FLASHSIM_EINVAL);
    assert_int_equal(fs.nparts, 0);
    free(mem);
    free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_native),
        cmocka_unit_test(test_mk3060),
        cmocka_unit_test(test_developerkit),
        cmocka_unit_test(test_esp8266),
        cmocka_unit_test(test_mk3060_overlap_declared),
        cmocka_unit_test(test_base_and_defaults),
        cmocka_unit_test(test_overlap_rules),
        cmocka_unit_test(test_overlap_list),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_part_names),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_apply),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
