/*
 * test_checks.c - the conformance checks (conformance/checks.c) over
 * synthetic event logs: a clean resumed download passes every check; an
 * error body written, a whole file appended at a breakpoint, a wrong Range,
 * a FINISH before the whole file, a wrong boot-record CRC, a second
 * download and a wrong step each fail the check that names them, with the
 * offset or step in the detail; an inform of another version than the boot
 * runs, and a long download the cloud heard no progress of, fail theirs.
 * And fail_step values parse per profile.
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

#include "CheckSumUtils.h"
#include "conformance/checks.h"
#include "sim/kv/kv.h"

#define FILE_LEN 40000u

static uint8_t g_file[FILE_LEN];
static struct board g_board;

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    return kv_crc32_update(0xFFFFFFFFu, p, n) ^ 0xFFFFFFFFu;
}

/* Builds an event list from JSON lines joined by '\n'. */
static void parse(struct evlist *l, const char *text)
{
    char path[] = "/tmp/otahil-checks-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(evlist_load(path, l), 0);
    unlink(path);
}

/* A port.written line for the file's bytes [from, from+n), or for other
 * bytes when bad. */
static char *written(char *buf, size_t cap, uint32_t from, uint32_t n, int bad)
{
    uint32_t c = bad ? 0x12345678u : crc32_of(g_file + from, n);
    snprintf(buf, cap, "{\"ev\":\"port.written\",\"from\":%u,\"bytes\":%u,\"crc32\":\"%08x\"}\n", from,
             n, c);
    return buf;
}

static const struct check_res *find(const struct check_res *r, int n, const char *id)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(r[i].id, id))
            return &r[i];
    fail_msg("no check %s", id);
    return NULL;
}

/* Runs the checks (no flash: expect_update -1 keeps them off the flash). */
static int run(const char *log, int fail_step, struct check_res *out)
{
    struct evlist l;
    parse(&l, log);
    struct check_in in = { &l, g_file, FILE_LEN, &g_board, "/nonexistent", "v1", "v2", -1, fail_step };
    int n = checks_run(&in, out);
    evlist_free(&l);
    return n;
}

static int setup(void **state)
{
    (void)state;
    for (uint32_t i = 0; i < FILE_LEN; i++)
        g_file[i] = (uint8_t)(i * 7 + (i >> 8));
    memset(&g_board, 0, sizeof(g_board));
    snprintf(g_board.profile, sizeof(g_board.profile), "g1");
    snprintf(g_board.bootloader, sizeof(g_board.bootloader), "copy");
    return 0;
}

/* A clean download cut at 20000, resumed from its 16384 breakpoint. */
static void test_clean_resume(void **state)
{
    (void)state;
    char log[8192], a[256], b[256], c[256];
    CRC16_Context cc;
    uint16_t crc;
    CRC16_Init(&cc);
    CRC16_Update(&cc, g_file, FILE_LEN);
    CRC16_Final(&cc, &crc);
    snprintf(log, sizeof(log),
             "{\"ev\":\"boot.start\"}\n{\"ev\":\"boot.image\",\"version\":\"v1\"}\n"
             "{\"ev\":\"device.inform\",\"version\":\"v1\"}\n"
             "{\"ev\":\"port.init\",\"breakpoint\":0,\"t_us\":0}\n"
             "{\"ev\":\"port.init.ret\",\"src\":\"port\",\"t_us\":1000}\n"
             "{\"ev\":\"http.request\",\"method\":\"GET\",\"path\":\"/fw/1/f.bin\",\"range\":null}\n"
             "{\"ev\":\"device.progress\",\"step\":40}\n"
             "%s%s{\"ev\":\"port.set_boot\",\"src\":\"port\",\"result_type\":\"BREAKPOINT\",\"t_us\":1500000}\n"
             "{\"ev\":\"agent.download.end\"}\n{\"ev\":\"device.progress\",\"step\":-2}\n"
             "{\"ev\":\"boot.start\"}\n{\"ev\":\"port.init\",\"breakpoint\":16384}\n"
             "{\"ev\":\"http.request\",\"method\":\"GET\",\"path\":\"/fw/1/f.bin\",\"range\":\"bytes=16384-\"}\n"
             "%s{\"ev\":\"port.set_boot\",\"result_type\":\"FINISH\"}\n"
             "{\"ev\":\"boot.copy\",\"len\":%u,\"crc\":\"0x%04X\"}\n",
             written(a, sizeof(a), 0, 16384, 0), written(b, sizeof(b), 16384, 3616, 0),
             written(c, sizeof(c), 16384, FILE_LEN - 16384, 0), FILE_LEN, crc);
    struct check_res r[CHECKS_MAX];
    int n = run(log, -2, r);
    assert_int_equal(n, 9);
    for (int i = 0; i < n; i++) {
        if (r[i].verdict != (strcmp(r[i].id, "boot-confirmed") ? V_PASS : V_SKIP))
            fail_msg("%s: %s", r[i].id, r[i].detail);
    }
    for (int i = 0; i < n; i++)
        if (!strcmp(r[i].id, "progress-reported"))
            assert_non_null(strstr(r[i].detail, "each of 1 download"));
    assert_non_null(strstr(find(r, n, "resume-range")->detail, "1 resume"));
}

static void test_error_body(void **state)
{
    (void)state;
    char log[4096], a[256];
    snprintf(log, sizeof(log),
             "{\"ev\":\"port.init\",\"breakpoint\":0}\n%s{\"ev\":\"device.progress\",\"step\":-4}\n",
             written(a, sizeof(a), 0, 363, 1));
    struct check_res r[CHECKS_MAX];
    int n = run(log, -2, r);
    const struct check_res *w = find(r, n, "writes-are-file");
    assert_int_equal(w->verdict, V_FAIL);
    assert_non_null(strstr(w->detail, "363 bytes at offset 0"));
    const struct check_res *s = find(r, n, "fail-step");
    assert_int_equal(s->verdict, V_FAIL);
    assert_non_null(strstr(s->detail, "step -4"));
    assert_ptr_equal(checks_first_bad(r, n), w);
}

/* A 200 to a Range request: the whole file lands at the breakpoint. */
static void test_appended_file(void **state)
{
    (void)state;
    char log[4096], a[256], b[256];
    uint32_t c = crc32_of(g_file, 16384);
    snprintf(log, sizeof(log),
             "{\"ev\":\"port.init\",\"breakpoint\":0}\n%s"
             "{\"ev\":\"port.init\",\"breakpoint\":16384}\n"
             "{\"ev\":\"port.written\",\"from\":16384,\"bytes\":16384,\"crc32\":\"%08x\"}\n"
             "%s{\"ev\":\"port.set_boot\",\"result_type\":\"FINISH\"}\n",
             written(a, sizeof(a), 0, 16384, 0), c, written(b, sizeof(b), 32768, 7232, 0));
    struct check_res r[CHECKS_MAX];
    int n = run(log, CHECK_STEP_ANY, r);
    assert_int_equal(find(r, n, "writes-are-file")->verdict, V_FAIL);
    assert_non_null(strstr(find(r, n, "writes-are-file")->detail, "at offset 16384"));
    const struct check_res *f = find(r, n, "finish-after-whole-file");
    assert_int_equal(f->verdict, V_FAIL);
    assert_non_null(strstr(f->detail, "from offset 16384"));
    assert_int_equal(find(r, n, "fail-step")->verdict, V_SKIP);
}

static void test_wrong_range(void **state)
{
    (void)state;
    char log[4096], a[256];
    snprintf(log, sizeof(log),
             "{\"ev\":\"port.init\",\"breakpoint\":0}\n%s"
             "{\"ev\":\"port.init\",\"breakpoint\":16384}\n"
             "{\"ev\":\"http.request\",\"method\":\"GET\",\"path\":\"/fw/1/f.bin\",\"range\":\"bytes=0-\"}\n",
             written(a, sizeof(a), 0, 20000, 0));
    struct check_res r[CHECKS_MAX];
    int n = run(log, CHECK_STEP_ANY, r);
    const struct check_res *x = find(r, n, "resume-range");
    assert_int_equal(x->verdict, V_FAIL);
    assert_non_null(strstr(x->detail, "not Range: bytes=16384-"));
    /* resuming past what was written */
    snprintf(log, sizeof(log),
             "{\"ev\":\"port.init\",\"breakpoint\":0}\n%s{\"ev\":\"port.init\",\"breakpoint\":32768}\n",
             written(a, sizeof(a), 0, 20000, 0));
    n = run(log, CHECK_STEP_ANY, r);
    x = find(r, n, "resume-range");
    assert_int_equal(x->verdict, V_FAIL);
    assert_non_null(strstr(x->detail, "only the first 20000 bytes"));
}

static void test_early_finish_and_crc(void **state)
{
    (void)state;
    char log[4096], a[256];
    snprintf(log, sizeof(log),
             "{\"ev\":\"port.init\",\"breakpoint\":0}\n%s"
             "{\"ev\":\"port.set_boot\",\"result_type\":\"FINISH\"}\n"
             "{\"ev\":\"boot.copy.start\",\"len\":%u,\"crc\":\"0x0001\"}\n",
             written(a, sizeof(a), 0, FILE_LEN - 1000, 0), FILE_LEN);
    struct check_res r[CHECKS_MAX];
    int n = run(log, CHECK_STEP_ANY, r);
    assert_int_equal(find(r, n, "writes-are-file")->verdict, V_PASS);
    const struct check_res *f = find(r, n, "finish-after-whole-file");
    assert_int_equal(f->verdict, V_FAIL);
    assert_non_null(strstr(f->detail, "only the first 39000 of the file's 40000 bytes"));
    assert_int_equal(find(r, n, "record-crc")->verdict, V_FAIL);
    /* a record the bootloader refused */
    n = run("{\"ev\":\"boot.record_rejected\",\"seq\":5,\"reason\":\"image CRC16 does not match\"}\n",
            CHECK_STEP_ANY, r);
    assert_int_equal(find(r, n, "record-crc")->verdict, V_FAIL);
    assert_non_null(strstr(find(r, n, "record-crc")->detail, "rejected the boot record (event 5)"));
}

static void test_second_download(void **state)
{
    (void)state;
    const char *log = "{\"ev\":\"boot.start\"}\n{\"ev\":\"port.init\",\"breakpoint\":0,\"seq\":7}\n"
                      "{\"ev\":\"port.init\",\"breakpoint\":0,\"seq\":9}\n";
    struct check_res r[CHECKS_MAX];
    int n = run(log, CHECK_STEP_NONE, r);
    const struct check_res *s = find(r, n, "single-download");
    assert_int_equal(s->verdict, V_FAIL);
    assert_non_null(strstr(s->detail, "event 9"));
    assert_int_equal(find(r, n, "fail-step")->verdict, V_PASS);
    /* a reboot in between is two downloads one after the other */
    log = "{\"ev\":\"port.init\",\"breakpoint\":0}\n{\"ev\":\"boot.start\"}\n"
          "{\"ev\":\"port.init\",\"breakpoint\":0}\n{\"ev\":\"device.progress\",\"step\":-2}\n";
    n = run(log, CHECK_STEP_NONE, r);
    assert_int_equal(find(r, n, "single-download")->verdict, V_PASS);
    assert_int_equal(find(r, n, "fail-step")->verdict, V_FAIL);
}

/* The version each boot runs (the bootloader's boot.image) against the
 * informs the cloud hears in that boot. */
static void test_version_reported(void **state)
{
    (void)state;
    const char *log = "{\"ev\":\"boot.start\"}\n{\"ev\":\"boot.image\",\"version\":\"v1\"}\n"
                      "{\"ev\":\"device.inform\",\"version\":\"v1\"}\n"
                      "{\"ev\":\"boot.start\"}\n{\"ev\":\"boot.image\",\"version\":\"v2\"}\n"
                      "{\"ev\":\"device.inform\",\"version\":\"v1\",\"seq\":12}\n";
    struct check_res r[CHECKS_MAX];
    int n = run(log, CHECK_STEP_ANY, r);
    const struct check_res *v = find(r, n, "version-reported");
    assert_int_equal(v->verdict, V_FAIL);
    assert_non_null(strstr(v->detail, "boot 2 runs v2, but the cloud heard the device inform v1 (event 12)"));
    log = "{\"ev\":\"boot.start\"}\n{\"ev\":\"boot.image\",\"version\":\"v1\"}\n"
          "{\"ev\":\"device.inform\",\"version\":\"v1\"}\n"
          "{\"ev\":\"boot.start\"}\n{\"ev\":\"boot.image\",\"version\":\"v2\"}\n"
          "{\"ev\":\"device.inform\",\"version\":\"v2\"}\n";
    n = run(log, CHECK_STEP_ANY, r);
    assert_int_equal(find(r, n, "version-reported")->verdict, V_PASS);
    n = run("{\"ev\":\"boot.start\"}\n", CHECK_STEP_ANY, r);
    assert_int_equal(find(r, n, "version-reported")->verdict, V_SKIP);
}

/* Progress during a download of 1 s or more with a tenth of the file given
 * to the port; none needed for a shorter one. */
static void test_progress_reported(void **state)
{
    (void)state;
    char log[4096], a[256];
#define PROGRESS_LOG "{\"ev\":\"boot.start\"}\n{\"ev\":\"port.init\",\"breakpoint\":0,\"t_us\":0}\n" \
                      "{\"ev\":\"port.init.ret\",\"src\":\"port\",\"t_us\":100}\n%s%s" \
                      "{\"ev\":\"port.set_boot\",\"src\":\"port\",\"result_type\":\"FINISH\"," \
                      "\"t_us\":%u}\n{\"ev\":\"device.progress\",\"step\":100}\n" \
                      "{\"ev\":\"boot.start\"}\n{\"ev\":\"device.progress\",\"step\":50}\n"
    struct check_res r[CHECKS_MAX];
    snprintf(log, sizeof(log), PROGRESS_LOG, "", written(a, sizeof(a), 0, FILE_LEN, 0), 2500100u);
    int n = run(log, CHECK_STEP_ANY, r);
    const struct check_res *p = find(r, n, "progress-reported");
    assert_int_equal(p->verdict, V_FAIL);
    assert_non_null(strstr(p->detail, "a 2.5 s download gave the port 40000 of the file's 40000 bytes"));
    snprintf(log, sizeof(log), PROGRESS_LOG, "{\"ev\":\"device.progress\",\"step\":10}\n",
             written(a, sizeof(a), 0, FILE_LEN, 0), 2500100u);
    n = run(log, CHECK_STEP_ANY, r);
    assert_int_equal(find(r, n, "progress-reported")->verdict, V_PASS);
    /* too short, or too little of the file: nothing required */
    snprintf(log, sizeof(log), PROGRESS_LOG, "", written(a, sizeof(a), 0, FILE_LEN, 0), 900000u);
    n = run(log, CHECK_STEP_ANY, r);
    assert_int_equal(find(r, n, "progress-reported")->verdict, V_SKIP);
    snprintf(log, sizeof(log), PROGRESS_LOG, "", written(a, sizeof(a), 0, FILE_LEN / 20, 0), 2500100u);
    n = run(log, CHECK_STEP_ANY, r);
    assert_int_equal(find(r, n, "progress-reported")->verdict, V_SKIP);
#undef PROGRESS_LOG
}

static void test_parse_fail_step(void **state)
{
    (void)state;
    char err[256];
    int step;
    assert_int_equal(check_parse_fail_step("-2", "g1", &step, err, sizeof(err)), 0);
    assert_int_equal(step, -2);
    assert_int_equal(check_parse_fail_step("none", "g2", &step, err, sizeof(err)), 0);
    assert_int_equal(step, CHECK_STEP_NONE);
    assert_int_equal(check_parse_fail_step("g1:-4,g2:-11", "g2", &step, err, sizeof(err)), 0);
    assert_int_equal(step, -11);
    assert_int_equal(check_parse_fail_step("g1:-4, g2:none", "g2", &step, err, sizeof(err)), 0);
    assert_int_equal(step, CHECK_STEP_NONE);
    assert_int_equal(check_parse_fail_step("g1:-4", "g3", &step, err, sizeof(err)), 0);
    assert_int_equal(step, CHECK_STEP_ANY);
    assert_int_equal(check_parse_fail_step("4", "g1", &step, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "'4': a step is -1..-99 or none"));
    assert_int_equal(check_parse_fail_step("g1:-4,-2", "g1", &step, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "'-2': write PROFILE:STEP"));
    assert_int_equal(check_parse_fail_step("g1:x", "g1", &step, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "'x': a step is"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_clean_resume, setup),
        cmocka_unit_test_setup(test_error_body, setup),
        cmocka_unit_test_setup(test_appended_file, setup),
        cmocka_unit_test_setup(test_wrong_range, setup),
        cmocka_unit_test_setup(test_early_finish_and_crc, setup),
        cmocka_unit_test_setup(test_second_download, setup),
        cmocka_unit_test_setup(test_version_reported, setup),
        cmocka_unit_test_setup(test_progress_reported, setup),
        cmocka_unit_test_setup(test_parse_fail_step, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
