/*
 * test_report.c - the certification report writers (conformance/report.c):
 * a report with a PASS, a FAIL, a SKIP and an ERROR case, the FAIL one with
 * real flash files (provisioned with the native board, then changed through
 * the flash model: two OTA_TEMP sectors erased and written, one APPLICATION
 * sector erased) and an event log; results.json read back with cJSON,
 * junit.xml's counts (and a parse by python3 or xmllint when either is on the
 * machine), report.html's escaping, timeline and flash picture; the status
 * rule; and a report folder that cannot be written.
 *
 * The native board is found through OTAHIL_BOARDS, set to the repository's
 * boards/ folder (derived from this file's path).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conformance/common.h"
#include "conformance/profile.h"
#include "conformance/report.h"
#include "hal/soc/flash.h"

#define NASTY "<script>alert(1)</script> & \"q\" 'a'"

static char g_dir[64];
static struct board g_b;
static struct profile g_p;

static int setup(void **state)
{
    const char *file = __FILE__, *tail = strstr(file, "tests/unit/test_report.c");
    char rel[4096], abs[4096], err[1024], img[128], before[128], after[128], evp[128];
    struct image_spec s = { "app-1.0.0-20180101.1000", NULL, 20000, 3, 0 };
    struct flashfile ff;
    uint8_t data[4096];
    uint8_t *buf;
    size_t len;
    FILE *f;

    (void)state;
    snprintf(rel, sizeof(rel), "%.*sboards", tail ? (int)(tail - file) : 0, file);
    if (realpath(rel, abs) != NULL)
        setenv("OTAHIL_BOARDS", abs, 1);
    snprintf(g_dir, sizeof(g_dir), "/tmp/test_report.XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    if (board_open(&g_b, "native", err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    snprintf(img, sizeof(img), "%s/v1.bin", g_dir);
    snprintf(before, sizeof(before), "%s/before.bin", g_dir);
    snprintf(after, sizeof(after), "%s/after.bin", g_dir);
    if (make_image_file(img, &s, err, sizeof(err)) != 0 ||
        provision_flash(before, &g_b, img, err, sizeof(err)) != 0 ||
        read_file(before, &buf, &len, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    if (write_file_atomic(after, buf, len, err, sizeof(err)) != 0) {
        free(buf);
        return -1;
    }
    free(buf);
    /* What the failing case did: OTA_TEMP sectors 0-1 erased and written,
     * APPLICATION sector 4 (the tail of v1) erased. */
    if (open_flash(&ff, after, &g_b, err, sizeof(err)) != 0)
        return -1;
    memset(data, 0x5A, sizeof(data));
    if (flashsim_erase(&ff.fs, HAL_PARTITION_OTA_TEMP, 0, 2 * 4096) != 0 ||
        flashsim_program(&ff.fs, HAL_PARTITION_OTA_TEMP, 0, data, sizeof(data)) != 0 ||
        flashsim_program(&ff.fs, HAL_PARTITION_OTA_TEMP, 4096, data, 512) != 0 ||
        flashsim_erase(&ff.fs, HAL_PARTITION_APPLICATION, 4 * 4096, 4096) != 0) {
        flashfile_close(&ff);
        return -1;
    }
    flashfile_close(&ff);

    /* The event log: a plain start, a long run of progress and writes, a
     * fault, a boot, checks, a line that is not JSON and an injected string. */
    snprintf(evp, sizeof(evp), "%s/events.jsonl", g_dir);
    f = fopen(evp, "w");
    if (!f)
        return -1;
    fprintf(f, "{\"seq\":1,\"t_us\":1000000,\"src\":\"run\",\"ev\":\"run.start\",\"case\":\"update\"}\n");
    for (int i = 0; i < 10; i++)
        fprintf(f, "{\"seq\":%d,\"t_us\":%d,\"src\":\"%s\",\"ev\":\"%s\",\"step\":%d}\n", 2 + i,
                1000100 + i * 100, i % 2 ? "port" : "agent", i % 2 ? "port.written" : "agent.progress",
                i * 10);
    fprintf(f, "{\"seq\":12,\"t_us\":1002000,\"src\":\"http\",\"ev\":\"http.fault\",\"status\":400,"
               "\"body\":\"<b>expired</b>\"}\n");
    fprintf(f, "{\"seq\":13,\"t_us\":1003000,\"src\":\"boot\",\"ev\":\"boot.image\",\"slot\":\"APPLICATION\"}\n");
    fprintf(f, "\nnot json at all\n"); /* a blank line still counts */
    fprintf(f, "{\"seq\":14,\"t_us\":1004000,\"src\":\"run\",\"ev\":\"check\",\"id\":\"writes-are-file\","
               "\"verdict\":\"FAIL\",\"detail\":\"bad bytes\"}\n");
    fprintf(f, "{\"seq\":15,\"t_us\":1005000,\"src\":\"run\",\"ev\":\"run.verdict\",\"verdict\":\"FAIL\"}\n");
    return fclose(f) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct report_case g_cases[4];

/* The report: OTA-DL-001 PASS, OTA-DL-002 FAIL (flash, events, repro),
 * OTA-RB-001 SKIP, OTA-BT-001 ERROR (its event log is missing). */
static struct report make_report(void)
{
    struct report r;
    struct report_case *c;

    memset(&g_p, 0, sizeof(g_p));
    snprintf(g_p.path, sizeof(g_p.path), "boards/ports/reference/profile.ini");
    snprintf(g_p.name, sizeof(g_p.name), "otahil reference port");
    snprintf(g_p.vendor, sizeof(g_p.vendor), "otahil & co <lab>");
    snprintf(g_p.generation, sizeof(g_p.generation), "g1");
    snprintf(g_p.bootloader, sizeof(g_p.bootloader), "copy");
    snprintf(g_p.board, sizeof(g_p.board), "native");
    snprintf(g_p.hashes, sizeof(g_p.hashes), "md5,sha256");
    snprintf(g_p.transports, sizeof(g_p.transports), "mqtt+http");
    g_p.resume = 1;
    g_p.caps = CAP_RESUME | CAP_MD5 | CAP_SHA256 | CAP_MQTT_HTTP | CAP_BOOT_COPY;

    memset(g_cases, 0, sizeof(g_cases));
    c = &g_cases[0];
    c->id = "OTA-DL-001";
    c->group = "OTA-DL";
    c->title = "v1 to v2 over MQTT and HTTP";
    c->spec = "§4.1, §5.1";
    c->transport = "mqtt+http";
    c->verdict = V_PASS;
    c->seconds = 0.4321;
    c->nchecks = 1;
    snprintf(c->checks[0].id, sizeof(c->checks[0].id), "image-exact");
    c->checks[0].verdict = V_PASS;
    snprintf(c->checks[0].detail, sizeof(c->checks[0].detail), "APPLICATION holds the file");

    c = &g_cases[1];
    c->id = "OTA-DL-002";
    c->group = "OTA-DL";
    c->title = "expired URL: the error body never reaches flash";
    c->spec = "§5.2";
    c->transport = "mqtt+http";
    c->verdict = V_FAIL;
    c->seconds = 3.5;
    snprintf(c->reason, sizeof(c->reason), "check writes-are-file: %s \xff", NASTY);
    snprintf(c->events, sizeof(c->events), "events.jsonl");
    snprintf(c->repro, sizeof(c->repro), "repro/OTA-DL-002");
    snprintf(c->replay, sizeof(c->replay), "otahil run expired-url-400 --seed 7 --port x");
    snprintf(c->flash_before, sizeof(c->flash_before), "before.bin");
    snprintf(c->flash_after, sizeof(c->flash_after), "%s/after.bin", g_dir);
    c->nchecks = 2;
    snprintf(c->checks[0].id, sizeof(c->checks[0].id), "writes-are-file");
    c->checks[0].verdict = V_FAIL;
    snprintf(c->checks[0].detail, sizeof(c->checks[0].detail), "363 bytes at 0 are not the file's <x>");
    snprintf(c->checks[1].id, sizeof(c->checks[1].id), "resume-range");
    c->checks[1].verdict = V_PASS;
    snprintf(c->checks[1].detail, sizeof(c->checks[1].detail), "no Range asked");

    c = &g_cases[2];
    c->id = "OTA-RB-001";
    c->group = "OTA-RB";
    c->title = "a crashing v2 is rolled back";
    c->spec = "§7.2";
    c->transport = "mqtt+http";
    c->verdict = V_SKIP;
    snprintf(c->reason, sizeof(c->reason), "the profile claims no rollback");

    c = &g_cases[3];
    c->id = "OTA-BT-001";
    c->group = "OTA-BT";
    c->title = "boot hand-off";
    c->spec = "§6.1";
    c->transport = "mqtt+http";
    c->verdict = V_ERROR;
    c->seconds = 61;
    snprintf(c->reason, sizeof(c->reason), "the broker died (harness)");
    snprintf(c->events, sizeof(c->events), "missing/events.jsonl");
    snprintf(c->flash_after, sizeof(c->flash_after), "missing/flash.bin");

    memset(&r, 0, sizeof(r));
    r.version = "0.9.0";
    r.port = "reference";
    r.profile = &g_p;
    r.board = &g_b;
    r.target = "native";
    r.seed = 18446744073709551557ull; /* more digits than a double holds */
    r.shard = NULL;
    r.started = "2026-01-01T12:00:00Z";
    r.seconds = 65.25;
    r.cases = g_cases;
    r.ncases = 4;
    return r;
}

static char *slurp(const char *name)
{
    char path[256], err[512];
    uint8_t *d;
    size_t len;
    char *s;

    snprintf(path, sizeof(path), "%s/%s", g_dir, name);
    if (read_file(path, &d, &len, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    s = realloc(d, len + 1);
    assert_non_null(s);
    s[len] = '\0';
    return s;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;

    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_counts_status(void **state)
{
    struct report r = make_report();
    struct report_counts c = report_count(&r);

    (void)state;
    assert_int_equal(c.pass, 1);
    assert_int_equal(c.fail, 1);
    assert_int_equal(c.skip, 1);
    assert_int_equal(c.error, 1);
    assert_int_equal(c.total, 4);
    /* A FAIL decides, beside an ERROR too. */
    assert_string_equal(report_status(&r, 0), "not certified");
    assert_string_equal(report_status(&r, 1), "not certified");
    g_cases[1].verdict = V_PASS;
    assert_string_equal(report_status(&r, 0), "incomplete"); /* the ERROR */
    g_cases[3].verdict = V_PASS;
    assert_string_equal(report_status(&r, 0), "certified"); /* PASS and SKIP */
    assert_string_equal(report_status(&r, 1), "incomplete"); /* --only */
    r.subset = 1;
    assert_string_equal(report_status(&r, 0), "incomplete");
    r.subset = 0;
    r.shard = "1/2";
    assert_string_equal(report_status(&r, 0), "incomplete");
    r.shard = NULL;
    for (int i = 0; i < 4; i++)
        g_cases[i].verdict = V_SKIP;
    assert_string_equal(report_status(&r, 0), "incomplete"); /* nothing shown */
    r.ncases = 0;
    assert_string_equal(report_status(&r, 0), "incomplete");
    c = report_count(&r);
    assert_int_equal(c.total, 0);
}

static void test_json(void **state)
{
    struct report r = make_report();
    char err[512];
    char *text;
    cJSON *o, *it, *cs, *c1;
    static const char *const keys[] = { "tool", "version", "port", "profile", "board", "target",
                                        "seed", "shard", "subset", "started", "seconds", "counts",
                                        "status", "cases", NULL };
    int k = 0;

    (void)state;
    assert_int_equal(report_write_json(&r, g_dir, err, sizeof(err)), 0);
    text = slurp("results.json");
    /* The seed's exact digits. */
    assert_non_null(strstr(text, "\"seed\":\t18446744073709551557"));
    o = cJSON_Parse(text);
    assert_non_null(o);
    cJSON_ArrayForEach(it, o) {
        assert_non_null(keys[k]);
        assert_string_equal(it->string, keys[k]);
        k++;
    }
    assert_null(keys[k]);
    assert_string_equal(cJSON_GetObjectItem(o, "tool")->valuestring, "otahil");
    assert_string_equal(cJSON_GetObjectItem(o, "version")->valuestring, "0.9.0");
    assert_string_equal(cJSON_GetObjectItem(o, "status")->valuestring, "not certified");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "shard")));
    assert_true(cJSON_GetObjectItem(o, "seconds")->valuedouble == 65.25);
    it = cJSON_GetObjectItem(o, "profile");
    assert_string_equal(cJSON_GetObjectItem(it, "generation")->valuestring, "g1");
    assert_string_equal(cJSON_GetObjectItem(it, "vendor")->valuestring, "otahil & co <lab>");
    assert_string_equal(cJSON_GetObjectItem(it, "hashes")->valuestring, "md5,sha256");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(it, "resume")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(it, "rsa")));
    assert_int_equal(cJSON_GetObjectItem(it, "caps")->valueint, (int)g_p.caps);
    it = cJSON_GetObjectItem(o, "board");
    assert_string_equal(cJSON_GetObjectItem(it, "name")->valuestring, "native");
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(it, "flash"), "sector_size")->valueint, 4096);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(it, "flash"), "size")->valueint, 2 << 20);
    cs = cJSON_GetObjectItem(it, "partitions");
    assert_int_equal(cJSON_GetArraySize(cs), g_b.nparts);
    for (int i = 0; i < g_b.nparts; i++) {
        cJSON *p = cJSON_GetArrayItem(cs, i);
        assert_string_equal(cJSON_GetObjectItem(p, "name")->valuestring, g_b.parts[i].name);
        assert_int_equal((uint32_t)cJSON_GetObjectItem(p, "start")->valuedouble, g_b.parts[i].start);
        assert_int_equal((uint32_t)cJSON_GetObjectItem(p, "length")->valuedouble, g_b.parts[i].length);
    }
    it = cJSON_GetObjectItem(o, "counts");
    assert_int_equal(cJSON_GetObjectItem(it, "pass")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(it, "fail")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(it, "skip")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(it, "error")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(it, "total")->valueint, 4);
    cs = cJSON_GetObjectItem(o, "cases");
    assert_int_equal(cJSON_GetArraySize(cs), 4);
    assert_true(cJSON_GetObjectItem(cJSON_GetArrayItem(cs, 0), "seconds")->valuedouble == 0.432);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(cs, 0), "events")));
    c1 = cJSON_GetArrayItem(cs, 1);
    assert_string_equal(cJSON_GetObjectItem(c1, "id")->valuestring, "OTA-DL-002");
    assert_string_equal(cJSON_GetObjectItem(c1, "group")->valuestring, "OTA-DL");
    assert_string_equal(cJSON_GetObjectItem(c1, "spec")->valuestring, "§5.2");
    assert_string_equal(cJSON_GetObjectItem(c1, "transport")->valuestring, "mqtt+http");
    assert_string_equal(cJSON_GetObjectItem(c1, "verdict")->valuestring, "FAIL");
    assert_string_equal(cJSON_GetObjectItem(c1, "reason")->valuestring, g_cases[1].reason);
    assert_string_equal(cJSON_GetObjectItem(c1, "events")->valuestring, "events.jsonl");
    assert_string_equal(cJSON_GetObjectItem(c1, "repro")->valuestring, "repro/OTA-DL-002");
    assert_string_equal(cJSON_GetObjectItem(c1, "replay")->valuestring, g_cases[1].replay);
    it = cJSON_GetObjectItem(c1, "checks");
    assert_int_equal(cJSON_GetArraySize(it), 2);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(it, 0), "id")->valuestring,
                        "writes-are-file");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(it, 0), "verdict")->valuestring, "FAIL");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(cs, 2), "verdict")->valuestring, "SKIP");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(cs, 3), "verdict")->valuestring, "ERROR");
    cJSON_Delete(o);
    free(text);
}

/* The attribute value of name in the first tag of s that starts with tag. */
static void attr(const char *s, const char *tag, const char *name, char *out, size_t n)
{
    const char *t = strstr(s, tag), *end, *a;
    char key[64];

    out[0] = '\0';
    if (!t)
        return;
    end = strchr(t, '>');
    snprintf(key, sizeof(key), " %s=\"", name);
    a = strstr(t, key);
    if (!a || a > end)
        return;
    a += strlen(key);
    snprintf(out, n, "%.*s", (int)(strchr(a, '"') - a), a);
}

static void test_junit(void **state)
{
    struct report r = make_report();
    char err[512], v[64], cmd[512];
    char *x;

    (void)state;
    assert_int_equal(report_write_junit(&r, g_dir, err, sizeof(err)), 0);
    x = slurp("junit.xml");
    attr(x, "<testsuites", "tests", v, sizeof(v));
    assert_string_equal(v, "4");
    attr(x, "<testsuites", "failures", v, sizeof(v));
    assert_string_equal(v, "1");
    attr(x, "<testsuites", "errors", v, sizeof(v));
    assert_string_equal(v, "1");
    attr(x, "<testsuites", "skipped", v, sizeof(v));
    assert_string_equal(v, "1");
    /* One suite per group, in order of appearance; OTA-DL holds two cases. */
    assert_int_equal(count(x, "<testsuite "), 3);
    attr(x, "<testsuite name=\"OTA-DL\"", "tests", v, sizeof(v));
    assert_string_equal(v, "2");
    attr(x, "<testsuite name=\"OTA-DL\"", "failures", v, sizeof(v));
    assert_string_equal(v, "1");
    assert_true(strstr(x, "name=\"OTA-DL\"") < strstr(x, "name=\"OTA-RB\""));
    assert_int_equal(count(x, "<testcase "), 4);
    assert_non_null(strstr(x, "<testcase classname=\"otahil.OTA-DL\" name=\"OTA-DL-001 v1 to v2 over "
                              "MQTT and HTTP\" time=\"0.432\"/>"));
    assert_int_equal(count(x, "<failure "), 1);
    assert_int_equal(count(x, "<error "), 1);
    assert_int_equal(count(x, "<skipped "), 1);
    assert_non_null(strstr(x, "<skipped message=\"the profile claims no rollback\"/>"));
    /* Escaped, the stray byte replaced, the checks in the failure's body. */
    assert_null(strstr(x, "<script"));
    assert_non_null(strstr(x, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot; &#39;a&#39; "
                              "\xEF\xBF\xBD"));
    assert_non_null(strstr(x, "FAIL  writes-are-file: 363 bytes at 0 are not the file&#39;s &lt;x&gt;"));
    assert_non_null(strstr(x, "<property name=\"board\" value=\"native\"/>"));
    assert_non_null(strstr(x, "<property name=\"seed\" value=\"18446744073709551557\"/>"));
    assert_non_null(strstr(x, "<property name=\"target\" value=\"native\"/>"));
    assert_non_null(strstr(x, "<property name=\"profile\" value=\"otahil reference port (g1, copy "
                              "bootloader)\"/>"));
    free(x);
    /* A real XML parser, when the machine has one. */
    if (system("command -v python3 >/dev/null 2>&1") == 0) {
        snprintf(cmd, sizeof(cmd),
                 "python3 -c 'import sys, xml.etree.ElementTree as E; t = E.parse(sys.argv[1]).getroot(); "
                 "c = t.findall(\"testsuite/testcase\"); "
                 "sys.exit(0 if len(c) == 4 and len(t.findall(\"testsuite/testcase/failure\")) == 1 "
                 "and \"<script>\" in t.find(\"testsuite/testcase/failure\").get(\"message\") else 1)' "
                 "%s/junit.xml",
                 g_dir);
        assert_int_equal(system(cmd), 0);
    } else if (system("command -v xmllint >/dev/null 2>&1") == 0) {
        snprintf(cmd, sizeof(cmd), "xmllint --noout %s/junit.xml", g_dir);
        assert_int_equal(system(cmd), 0);
    } else {
        print_message("junit.xml: no python3 or xmllint here, XML parse not checked\n");
    }
}

static void test_html(void **state)
{
    struct report r = make_report();
    char err[512], want[512];
    char *h;

    (void)state;
    assert_int_equal(report_write_html(&r, g_dir, err, sizeof(err)), 0);
    h = slurp("report.html");
    /* Self-contained: no script, nothing fetched. */
    assert_null(strstr(h, "<script"));
    assert_null(strstr(h, "src="));
    assert_null(strstr(h, "href=\"http"));
    assert_null(strstr(h, "@import"));
    assert_non_null(strstr(h, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;"));
    assert_non_null(strstr(h, "otahil &amp; co &lt;lab&gt;"));
    /* Header: port, profile, board, status. */
    assert_non_null(strstr(h, "<div class=\"cert not\">"));
    assert_non_null(strstr(h, ">not certified</div>"));
    assert_non_null(strstr(h, "Port <b>reference</b> &#183; profile <b>otahil reference port</b> "
                              "&#183; board <b>native</b>"));
    assert_non_null(strstr(h, "<td>md5,sha256</td>"));
    assert_non_null(strstr(h, "<td>18446744073709551557</td>"));
    assert_non_null(strstr(h, "<td>1 min 05 s</td>"));
    /* Counts and the group tables. */
    assert_non_null(strstr(h, "<div class=\"tile FAIL\"><div class=\"lab\">FAIL</div><div class=\"n\">1</div>"));
    assert_int_equal(count(h, "<table class=\"cases\">"), 3);
    assert_non_null(strstr(h, "<a href=\"#case-OTA-DL-002\">OTA-DL-002</a>"));
    assert_int_equal(count(h, "<section class=\"case "), 2); /* the FAIL and the ERROR */
    assert_non_null(strstr(h, "<section class=\"case FAIL\" id=\"case-OTA-DL-002\">"));
    assert_non_null(strstr(h, "<section class=\"case ERROR\" id=\"case-OTA-BT-001\">"));
    assert_non_null(strstr(h, "<pre class=\"cmd\">otahil run expired-url-400 --seed 7 --port x</pre>"));
    /* Timeline: the run of ten folded, the fault, boot and check marked, the
     * bad line named, field values escaped. */
    assert_non_null(strstr(h, "<td class=\"seq\">2&ndash;11</td><td class=\"src\">&times;10</td>"));
    assert_non_null(strstr(h, "<span class=\"ev\">agent.progress</span> &times;5, "
                              "<span class=\"ev\">port.written</span> &times;5"));
    assert_non_null(strstr(h, "<tr class=\"fault\">"));
    assert_non_null(strstr(h, "body=&lt;b&gt;expired&lt;/b&gt;"));
    assert_non_null(strstr(h, "<tr class=\"boot\">"));
    assert_non_null(strstr(h, "<tr class=\"check check-FAIL\">"));
    assert_non_null(strstr(h, "<td class=\"fields\"><b>writes-are-file</b> FAIL: bad bytes</td>"));
    assert_non_null(strstr(h, "<tr class=\"verdict\">"));
    assert_non_null(strstr(h, "line 15 is not an event"));
    /* The ERROR case's missing evidence is named, not fatal. */
    snprintf(want, sizeof(want), "Event log unavailable: %s/missing/events.jsonl", g_dir);
    assert_non_null(strstr(h, want));
    snprintf(want, sizeof(want), "Flash picture unavailable: %s/missing/flash.bin", g_dir);
    assert_non_null(strstr(h, want));
    /* The flash picture: what changed where, and the erases it cost. */
    assert_int_equal(count(h, "<svg class=\"flash\""), 1);
    assert_non_null(strstr(h, "<title>OTA_TEMP sectors 0-1 @ 0x00110000-0x00111FFF: written</title>"));
    assert_non_null(strstr(h, "<title>OTA_TEMP sectors 0-1 @ 0x00110000-0x00111FFF: 1 erase each</title>"));
    assert_non_null(strstr(h, "<title>APPLICATION sector 4 @ 0x00024000: erased</title>"));
    assert_non_null(strstr(h, "<title>APPLICATION sectors 0-3 @ 0x00020000-0x00023FFF: unchanged data</title>"));
    assert_non_null(strstr(h, "During the case: <b>2</b> programs, <b>3</b> sector erases"));
    assert_non_null(strstr(h, ">2 written, 0 erased</text>"));
    assert_non_null(strstr(h, ">0 written, 1 erased</text>"));
    free(h);
}

/* The report writers only read their inputs. */
static void test_inputs_unchanged(void **state)
{
    struct report r = make_report();
    char err[512], path[128];
    uint8_t *a, *b;
    size_t la, lb;

    (void)state;
    snprintf(path, sizeof(path), "%s/after.bin", g_dir);
    assert_int_equal(read_file(path, &a, &la, err, sizeof(err)), 0);
    assert_int_equal(report_write_html(&r, g_dir, err, sizeof(err)), 0);
    assert_int_equal(read_file(path, &b, &lb, err, sizeof(err)), 0);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    free(a);
    free(b);
}

/* A flash file of another board is named, not drawn. */
static void test_html_wrong_flash(void **state)
{
    struct report r = make_report();
    char err[512], want[256];
    char *h;

    (void)state;
    snprintf(g_cases[1].flash_after, sizeof(g_cases[1].flash_after), "v1.bin");
    assert_int_equal(report_write_html(&r, g_dir, err, sizeof(err)), 0);
    h = slurp("report.html");
    snprintf(want, sizeof(want), "Flash picture unavailable: %s/v1.bin: ", g_dir);
    assert_non_null(strstr(h, want));
    snprintf(want, sizeof(want), "expected %zu for board native",
             (size_t)g_b.geom.size + flashsim_state_size(&g_b.geom));
    assert_non_null(strstr(h, want));
    assert_null(strstr(h, "<svg class=\"flash\""));
    free(h);
}

/* A folder that cannot be written: -1, the path named, nothing left behind. */
static void test_unwritable(void **state)
{
    struct report r = make_report();
    char err[512], dir[128], want[160];
    int (*const fn[3])(const struct report *, const char *, char *, size_t) = {
        report_write_json, report_write_junit, report_write_html,
    };
    static const char *const names[3] = { "results.json", "junit.xml", "report.html" };

    (void)state;
    snprintf(dir, sizeof(dir), "%s/v1.bin", g_dir); /* a file, not a folder */
    for (int i = 0; i < 3; i++) {
        err[0] = '\0';
        assert_int_equal(fn[i](&r, dir, err, sizeof(err)), -1);
        snprintf(want, sizeof(want), "%s/%s: ", dir, names[i]);
        if (strncmp(err, want, strlen(want)) != 0)
            fail_msg("got '%s', want '%s...'", err, want);
        assert_null(strchr(err, '\n'));
    }
    snprintf(dir, sizeof(dir), "%s/no/such/folder", g_dir);
    assert_int_equal(report_write_html(&r, dir, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no/such/folder/report.html"));
    assert_int_equal(access(dir, F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_status),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_junit),
        cmocka_unit_test(test_html),
        cmocka_unit_test(test_inputs_unchanged),
        cmocka_unit_test(test_html_wrong_flash),
        cmocka_unit_test(test_unwritable),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
