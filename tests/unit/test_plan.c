/*
 * test_plan.c - fault plans (conformance/plan.c): every fixture in
 * fixtures/faults loads; a plan using every section and key parses to the
 * values it says; each kind of bad line gives its exact one-line error; the
 * option forms (plan_add_cli, --http-fault N:KEY=VALUE) accept the same keys;
 * and `otahil cloud` / `otahil run` refuse a bad plan with one line and exit
 * 2 before starting anything.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/testutil.h"

#include "conformance/cmd_cloud.h"
#include "conformance/commands.h"
#include "conformance/plan.h"
#include "mock_cloud/testca.h"
#include "mock_cloud/cloud.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[64];
static char pfile[128];

/* Writes text to the test's plan file and returns its path. */
static const char *write_plan(const char *text)
{
    FILE *f = fopen(pfile, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return pfile;
}

/* Loads text as a plan; returns plan_load's result, the error in err. */
static int load_text(const char *text, struct fault_plan *p, char *err, size_t n)
{
    return plan_load(write_plan(text), p, err, n);
}

/* Checks that text fails with "FILE:msg". */
static void expect_error(const char *text, const char *msg)
{
    struct fault_plan p;
    char err[1024], want[1024];

    snprintf(want, sizeof want, "%s:%s", pfile, msg);
    if (load_text(text, &p, err, sizeof err) != -1)
        fail_msg("plan loaded, expected the error %s\n--- plan:\n%s", want, text);
    if (strcmp(err, want) != 0)
        fail_msg("plan:\n%s\nerror: %s\nwanted: %s", text, err, want);
    assert_null(strchr(err, '\n'));
    plan_free(&p);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/otahil-plan-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(pfile, sizeof pfile, "%s/t.plan", tmpdir);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- tests ---- */

static void test_fixtures_load(void **state)
{
    DIR *d = opendir("fixtures/faults");
    struct dirent *e;
    int n = 0;

    (void)state;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        struct fault_plan p;
        char path[512], err[1024], sum[1024], base[128];
        size_t len = strlen(e->d_name);

        if (len < 6 || strcmp(e->d_name + len - 5, ".plan") != 0)
            continue;
        snprintf(path, sizeof path, "fixtures/faults/%s", e->d_name);
        if (plan_load(path, &p, err, sizeof err) != 0)
            fail_msg("%s", err);
        snprintf(base, sizeof base, "%.*s", (int)(len - 5), e->d_name);
        assert_string_equal(p.name, base);          /* named after its file */
        assert_true(strlen(p.description) > 40);    /* says what it does */
        assert_true(strlen(p.field) > 40);          /* and what the field saw */
        plan_summary(&p, sum, sizeof sum);
        assert_string_not_equal(sum, "no faults");
        plan_free(&p);
        n++;
    }
    closedir(d);
    assert_true(n >= 9);
}

static void test_full_plan(void **state)
{
    struct fault_plan p;
    char err[1024], sum[1024];

    (void)state;
    if (load_text("; a comment\n"
                  "# another\n"
                  "\n"
                  "[plan]\n"
                  "name = every-key\n"
                  "description = first part\n"
                  "description = second part ; an inline comment\n"
                  "field = seen in the field\n"
                  "seed = 0x10\n"
                  "expect = fail-clean\n"
                  "retries = 2\n"
                  "base_version = app-1.0.9-20180101.1000\n"
                  "target_version = app-1.0.10-20260101.1200\n"
                  "flash_write_us = 5000\n"
                  "inform_within_ms = 10000\n"
                  "\n"
                  "[http:3]\n"
                  "  status = 503\n"
                  "path = /fw/1/fw-target.bin\n"
                  "[http]\n"
                  "ignore_range = yes\n"
                  "etag_change = on\n"
                  "length = -10\n"
                  "length_body = file\n"
                  "pad_headers = 600\n"
                  "split_headers = 0\n"
                  "close_at = 0\n"
                  "stall_at = 100\n"
                  "stall_ms = 2500\n"
                  "stall_then = close\n"
                  "throttle = 20000\n"
                  "[http:1]\n"
                  "chunked = true\n"
                  "[mqtt]\n"
                  "drop_push = 2\n"
                  "duplicate_at = 30\n"
                  "offline_push = true\n"
                  "restart_broker_at = 50\n"
                  "push_len = 1300\n"
                  "url_len = 1100\n"
                  "size_string = true\n"
                  "size_delta = +7\n"
                  "message = Success\n"
                  "sign_method = SHA-256\n"
                  "sign = sha256\n"
                  "sign_case = upper\n"
                  "wrong_digest = false\n"
                  "wrong_digest_attempts = 1\n"
                  "[proxy.mqtt]\n"
                  "fault = up:conn=3:close_after=100\n"
                  "fault = down:latency=200ms\n"
                  "[proxy.http]\n"
                  "fault = down:reset_after=1000\n",
                  &p, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_string_equal(p.name, "every-key");
    assert_string_equal(p.description, "first part second part");
    assert_string_equal(p.field, "seen in the field");
    assert_true(p.has_seed);
    assert_int_equal(p.seed, 16);
    assert_int_equal(p.expect, PLAN_EXPECT_FAIL_CLEAN);
    assert_true(p.has_retries);
    assert_int_equal(p.retries, 2);

    assert_int_equal(p.nhttp, 3);
    /* in file order, labelled by section */
    assert_string_equal(p.http[0].label, "http:3");
    assert_int_equal(p.http[0].nth, 3);
    assert_int_equal(p.http[0].status, 503);
    assert_string_equal(p.http[0].path, "/fw/1/fw-target.bin");
    assert_int_equal(p.http[0].set, (1u << CF_H_STATUS) | (1u << CF_H_PATH));
    assert_string_equal(p.http[1].label, "http");
    assert_int_equal(p.http[1].nth, 0);
    assert_true(p.http[1].ignore_range && p.http[1].etag_change);
    assert_int_equal(p.http[1].length_delta, -10);
    assert_int_equal(p.http[1].length_body, CF_BODY_FILE);
    assert_int_equal(p.http[1].pad_headers, 600);
    assert_int_equal(p.http[1].split_ms, 0);
    assert_true(p.http[1].set & (1u << CF_H_SPLIT_HEADERS)); /* 0 is a value, not "unset" */
    assert_int_equal(p.http[1].close_at, 0);
    assert_true(p.http[1].set & (1u << CF_H_CLOSE_AT));
    assert_int_equal(p.http[1].stall_at, 100);
    assert_int_equal(p.http[1].stall_ms, 2500);
    assert_int_equal(p.http[1].stall_then, CF_STALL_CLOSE);
    assert_int_equal(p.http[1].throttle_bps, 20000);
    assert_string_equal(p.http[2].label, "http:1");
    assert_true(p.http[2].chunked);

    assert_int_equal(p.mqtt.drop_push, 2);
    assert_int_equal(p.mqtt.duplicate_at, 30);
    assert_true(p.mqtt.offline_push);
    assert_int_equal(p.mqtt.restart_broker_at, 50);
    assert_int_equal(p.mqtt.push_len, 1300);
    assert_int_equal(p.mqtt.url_len, 1100);
    assert_true(p.mqtt.size_string);
    assert_int_equal(p.mqtt.size_delta, 7);
    assert_string_equal(p.mqtt.message, "Success");
    assert_string_equal(p.mqtt.sign_method, "SHA-256");
    assert_int_equal(p.mqtt.sign, CF_SIGN_SHA256);
    assert_true(p.mqtt.sign_upper);
    assert_false(p.mqtt.wrong_digest);
    assert_int_equal(p.mqtt.wrong_digest_attempts, 1);
    assert_string_equal(p.base_version, "app-1.0.9-20180101.1000");
    assert_string_equal(p.target_version, "app-1.0.10-20260101.1200");
    assert_int_equal(p.flash_write_us, 5000);
    assert_int_equal(p.inform_within_ms, 10000);
    assert_int_equal(p.mqtt.set, (1u << CF_M_COUNT) - 1);

    assert_int_equal(p.nproxy_mqtt, 2);
    assert_string_equal(p.proxy_mqtt[0], "up:conn=3:close_after=100");
    assert_string_equal(p.proxy_mqtt[1], "down:latency=200ms");
    assert_int_equal(p.nproxy_http, 1);
    assert_string_equal(p.proxy_http[0], "down:reset_after=1000");

    plan_summary(&p, sum, sizeof sum);
    assert_string_equal(sum,
                        "http:3 status=503 path=/fw/1/fw-target.bin; "
                        "http ignore_range=true etag_change=true length=-10 length_body=file "
                        "pad_headers=600 split_headers=0 close_at=0 stall_at=100 stall_ms=2500 "
                        "stall_then=close throttle=20000; "
                        "http:1 chunked=true; "
                        "mqtt drop_push=2 duplicate_at=30 offline_push=true restart_broker_at=50 "
                        "push_len=1300 url_len=1100 size_string=true size_delta=+7 "
                        "message=Success sign_method=SHA-256 sign=sha256 sign_case=upper "
                        "wrong_digest=false wrong_digest_attempts=1; "
                        "proxy.mqtt 2 faults; proxy.http 1 fault; "
                        "base_version=app-1.0.9-20180101.1000; "
                        "target_version=app-1.0.10-20260101.1200; flash_write_us=5000; "
                        "inform_within_ms=10000");
    plan_free(&p);
    assert_int_equal(p.nproxy_mqtt, 0);
    assert_null(p.proxy_mqtt);

    /* no [plan]: the name comes from the file; an empty file is a plan with no faults */
    assert_int_equal(load_text("", &p, err, sizeof err), 0);
    assert_string_equal(p.name, "t");
    assert_int_equal(p.expect, PLAN_EXPECT_PASS);
    assert_false(p.has_seed);
    assert_string_equal(plan_summary(&p, sum, sizeof sum), "no faults");
    plan_free(&p);
}

/* The TLS keys (transport, tls, tls_fragment, tls_heap) and their summary. */
static void test_tls_keys(void **state)
{
    struct fault_plan p;
    char err[1024], sum[512];

    (void)state;
    assert_int_equal(load_text("[plan]\ntransport = mqtts+https\ntls = wrong-host\n"
                               "tls_fragment = 512\ntls_heap = 168K\n", &p, err, sizeof err), 0);
    assert_int_equal(p.https, 1);
    assert_int_equal(p.mqtts, 1);
    assert_int_equal(p.tls_cert, TESTCA_WRONG_HOST);
    assert_int_equal(p.tls_fragment, 512);
    assert_int_equal(p.tls_heap, 168 * 1024);
    assert_string_equal(plan_transport_name(&p), "mqtts+https");
    assert_non_null(strstr(plan_summary(&p, sum, sizeof sum),
                           "transport=mqtts+https; tls=wrong-host; tls_fragment=512; tls_heap=172032"));
    plan_free(&p);
    assert_int_equal(load_text("[plan]\ntransport = mqtts\n", &p, err, sizeof err), 0);
    assert_int_equal(p.https, 0);
    assert_int_equal(p.mqtts, 1);
    assert_int_equal(p.tls_cert, TESTCA_GOOD);
    plan_free(&p);
    /* as options: a tls key needs its transport, checked once all are in */
    memset(&p, 0, sizeof p);
    assert_int_equal(plan_add_cli(&p, "plan", "tls=expired", err, sizeof err), 0);
    assert_int_equal(plan_check(&p, err, sizeof err), -1);
    assert_string_equal(err, "key 'tls': the server's certificate matters only with transport = "
                             "https, mqtts+https or coaps+... (dtls = certificate)");
    assert_int_equal(plan_add_cli(&p, "plan", "transport=https", err, sizeof err), 0);
    assert_int_equal(plan_check(&p, err, sizeof err), 0);
    assert_string_equal(plan_transport_name(&p), "https");
    plan_free(&p);
    /* coaps: the coaps port presents the tls certificate (dtls = certificate, the default);
     * dtls = psk has no certificate, and coaps+https always hands the device the CA */
    assert_int_equal(load_text("[plan]\ntransport = coaps+coaps\ntls = expired\n", &p, err, sizeof err), 0);
    assert_int_equal(p.dtls_psk, 0);
    assert_int_equal(p.tls_cert, TESTCA_EXPIRED);
    assert_non_null(strstr(plan_summary(&p, sum, sizeof sum),
                           "transport=coaps+coaps; tls=expired; dtls=certificate"));
    plan_free(&p);
    assert_int_equal(load_text("[plan]\ntransport = coaps+http\ndtls = psk\n", &p, err, sizeof err), 0);
    assert_int_equal(p.dtls_psk, 1);
    assert_non_null(strstr(plan_summary(&p, sum, sizeof sum), "transport=coaps+http; dtls=psk"));
    plan_free(&p);
    memset(&p, 0, sizeof p);
    assert_int_equal(plan_add_cli(&p, "plan", "transport=coaps+coaps", err, sizeof err), 0);
    assert_int_equal(plan_add_cli(&p, "plan", "dtls=psk", err, sizeof err), 0);
    assert_int_equal(plan_add_cli(&p, "plan", "tls=wrong-host", err, sizeof err), 0);
    assert_int_equal(plan_check(&p, err, sizeof err), -1);
    assert_non_null(strstr(err, "key 'tls'"));
    plan_free(&p);
    memset(&p, 0, sizeof p);
    assert_int_equal(plan_add_cli(&p, "plan", "transport=coaps+https", err, sizeof err), 0);
    assert_int_equal(plan_add_cli(&p, "plan", "dtls=psk", err, sizeof err), 0);
    assert_int_equal(plan_check(&p, err, sizeof err), -1);
    assert_string_equal(err, "key 'dtls': coaps+https gives the device the test CA, so DTLS uses "
                             "certificates");
    assert_int_equal(plan_add_cli(&p, "plan", "dtls=none", err, sizeof err), -1);
    assert_non_null(strstr(err, "expected certificate or psk, got 'none'"));
    plan_free(&p);
    /* CoAP (spec §3): the signal channel, the download, the [coap] and [proxy.coap] sections */
    assert_int_equal(load_text("[plan]\ntransport = coap+coap\n\n[coap]\ndrop_block = 3\n"
                               "drop_times = 2\ncode_block = 4\ncode = 4.04\n\n[proxy.coap]\n"
                               "fault = both:loss=0.1\n", &p, err, sizeof err), 0);
    assert_int_equal(p.coap, 1);
    assert_int_equal(p.coap_dl, 1);
    assert_int_equal(p.https, 0);
    assert_int_equal(p.coapf.drop_block, 3);
    assert_int_equal(p.coapf.drop_times, 2);
    assert_int_equal(p.coapf.code, 404);
    assert_int_equal(p.nproxy_coap, 1);
    assert_string_equal(plan_transport_name(&p), "coap+coap");
    assert_non_null(strstr(plan_summary(&p, sum, sizeof sum),
                           "coap drop_block=3 drop_times=2 code_block=4 code=4.04; proxy.coap 1 fault"));
    plan_free(&p);
    assert_int_equal(load_text("[plan]\ntransport = coap+https\n", &p, err, sizeof err), 0);
    assert_int_equal(p.coap, 1);
    assert_int_equal(p.coap_dl, 0);
    assert_int_equal(p.https, 1);
    assert_string_equal(plan_transport_name(&p), "coap+https");
    plan_free(&p);
    assert_int_equal(load_text("[plan]\ntransport = coaps+coaps\n", &p, err, sizeof err), 0);
    assert_int_equal(p.coap, 2);
    assert_int_equal(p.coap_dl, 1);
    assert_string_equal(plan_transport_name(&p), "coaps+coaps");
    plan_free(&p);
    /* a TCP-only fault on the UDP proxy, a CoAP key out of range, a key without its partner */
    expect_error("[proxy.coap]\nfault = down:slicer=64/16/200us\n",
                 "2: key 'fault': slicer is a TCP fault; this proxy forwards UDP");
    expect_error("[coap]\nblock_szx = 8\n",
                 "2: key 'block_szx': expected an SZX 0..7 (block size 16 << SZX; 7 is reserved), "
                 "got '8'");
    expect_error("[coap]\ndrop_block = 1\ncode = 4.04\n", "3: key 'code': code needs code_block");
    expect_error("[coap]\ncode = 2.05\n", "2: key 'code': expected a CoAP response code C.DD from "
                 "2.01 to 5.31 other than 2.05, got '2.05'");
}

static void test_bad_lines(void **state)
{
    char longline[400];

    (void)state;
    /* keys */
    expect_error("[plan]\nname = x\nbogus = 1\n",
                 "3: key 'bogus': unknown key (expected one of: name, description, field, seed, "
                 "expect, retries, image_size, image_footer, base_version, target_version, "
                 "flash_write_us, inform_within_ms, fail_step, slow, file_size, transport, tls, "
                 "tls_fragment, tls_heap, dtls)");
    /* TLS keys (docs/faults.md, "Low-memory TLS") */
    expect_error("[plan]\ntransport = ftp\n",
                 "2: key 'transport': expected mqtt+http, mqtt+https, mqtts+http, mqtts+https, "
                 "coap+http, coap+https, coap+coap, coaps+http, coaps+https or coaps+coaps (http, "
                 "https, mqtts: the same over MQTT), got 'ftp'");
    expect_error("[plan]\ntransport = https\ntls = self-signed\n",
                 "3: key 'tls': expected good, untrusted-ca, expired or wrong-host, got 'self-signed'");
    expect_error("[plan]\ntls = expired\n",
                 "2: key 'tls': the server's certificate matters only with transport = https, "
                 "mqtts+https or coaps+... (dtls = certificate)");
    expect_error("[plan]\ntransport = mqtts\ntls_fragment = 300\n",
                 "3: key 'tls_fragment': expected 512, 1024, 2048, 4096 (bytes per TLS record the "
                 "device asks for) or 0, got '300'");
    expect_error("[plan]\ntls_heap = 64K\n",
                 "2: key 'tls_heap': needs a TLS transport (https, mqtts or mqtts+https)");
    expect_error("[plan]\nfile_size = partition+x\n",
                 "2: key 'file_size': expected partition, partition+N or partition-N (N up to 65536: "
                 "the served file's size against the board's download partition), got 'partition+x'");
    expect_error("[plan]\nfail_step = 4\n",
                 "2: key 'fail_step': '4': a step is -1..-99 or none, alone ('-2') or per profile "
                 "('g1:-4,g2:-11')");
    expect_error("[plan]\nfail_step = g1:-4,-2\n",
                 "2: key 'fail_step': '-2': write PROFILE:STEP, as 'g1:-4'");
    expect_error("[plan]\nslow = yes\n", "2: key 'slow': expected true or false, got 'yes'");
    expect_error("[plan]\nflash_write_us = 2000000\n",
                 "2: key 'flash_write_us': expected microseconds added to each flash program or "
                 "erase, 0..1000000, got '2000000'");
    expect_error("[plan]\nflash_write_us = 5ms\n",
                 "2: key 'flash_write_us': expected microseconds added to each flash program or "
                 "erase, 0..1000000, got '5ms'");
    expect_error("[plan]\ninform_within_ms = 0\n",
                 "2: key 'inform_within_ms': expected a deadline in ms after set_boot FINISH, "
                 "1..600000, got '0'");
    expect_error("[plan]\ninform_within_ms = -3\n",
                 "2: key 'inform_within_ms': expected a deadline in ms after set_boot FINISH, "
                 "1..600000, got '-3'");
    expect_error("[plan]\ntarget_version = app 2.0\n",
                 "2: key 'target_version': expected a version of 1..63 printable characters "
                 "without blanks, got 'app 2.0'");
    expect_error("[plan]\nbase_version = app-1.0.0-20180101.1000-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
                 "2: key 'base_version': expected a version of 1..63 printable characters "
                 "without blanks, got 'app-1.0.0-20180101.1000-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'");
    expect_error("[plan]\nbase_version =\n",
                 "2: key 'base_version': expected a version of 1..63 printable characters "
                 "without blanks, got ''");
    expect_error("[plan]\ntarget_version = a\ntarget_version = b\n",
                 "3: key 'target_version': given twice in this section (first at line 2)");
    expect_error("[mqtt]\nwrong_digest_attempts = 0\n",
                 "2: key 'wrong_digest_attempts': expected a number of pushes 1..101 (1 = only the "
                 "first push of each job), got '0'");
    expect_error("[mqtt]\nwrong_digest_attempts = first\n",
                 "2: key 'wrong_digest_attempts': expected a number of pushes 1..101 (1 = only the "
                 "first push of each job), got 'first'");
    expect_error("[plan]\nexpect = maybe\n", "2: key 'expect': expected pass or fail-clean, got 'maybe'");
    expect_error("[plan]\nseed = abc\n", "2: key 'seed': expected an unsigned 64-bit number, got 'abc'");
    expect_error("[plan]\nretries = 101\n", "2: key 'retries': expected 0..100, got '101'");
    expect_error("[plan]\nname = bad name\n",
                 "2: key 'name': expected letters, digits, '-', '_' or '.', got 'bad name'");
    expect_error("[plan]\nname = a\nname = b\n",
                 "3: key 'name': given twice in this section (first at line 2)");
    expect_error("[http:1]\nstatus = 200\n",
                 "2: key 'status': expected a status 100..599 other than 200 and 206, got '200'");
    expect_error("[http]\nstatus = 4o4\n",
                 "2: key 'status': expected a status 100..599 other than 200 and 206, got '4o4'");
    expect_error("[http]\nclose_at = -5\n",
                 "2: key 'close_at': expected a body offset in bytes (0 or more, decimal), got '-5'");
    expect_error("[http]\nlength = 100\n",
                 "2: key 'length': expected +N or -N bytes (N 1..2147483647), got '100'");
    expect_error("[http]\nchunked = maybe\n", "2: key 'chunked': expected true or false, got 'maybe'");
    expect_error("[http]\npad_headers = 0\n",
                 "2: key 'pad_headers': expected a header block size 1..65536 bytes, got '0'");
    expect_error("[http]\nsplit_headers = 5000\n",
                 "2: key 'split_headers': expected the pause between header bytes, 0..1000 ms, got "
                 "'5000'");
    expect_error("[http]\nstall_then = later\n",
                 "2: key 'stall_then': expected continue or close, got 'later'");
    expect_error("[http]\nthrottle = 0\n",
                 "2: key 'throttle': expected bytes per second, 1..1000000000, got '0'");
    expect_error("[http]\npath = fw/1/x.bin\n",
                 "2: key 'path': expected a firmware path such as /fw/1/fw-target.bin (no query, no "
                 "spaces, under 128 characters), got 'fw/1/x.bin'");
    expect_error("[http]\nstatus = 500\nstatus = 503\n",
                 "3: key 'status': given twice in this section (first at line 2)");
    expect_error("[http]\nstatuss = 500\n",
                 "2: key 'statuss': unknown key (expected one of: status, ignore_range, etag_change, "
                 "length, length_body, chunked, pad_headers, split_headers, close_at, stall_at, "
                 "stall_ms, stall_then, throttle, path)");
    expect_error("[mqtt]\nduplicate_at = 0\n",
                 "2: key 'duplicate_at': expected a progress percentage 1..100, got '0'");
    expect_error("[mqtt]\ndrop_push = 102\n",
                 "2: key 'drop_push': expected a push number 1..101 (1 = the first push of each "
                 "job), got '102'");
    expect_error("[mqtt]\npush_len = 10\n", "2: key 'push_len': expected a push size 64..65536 bytes, got '10'");
    expect_error("[mqtt]\nurl_len = 9000\n",
                 "2: key 'url_len': expected a URL length 1..8192 characters, got '9000'");
    expect_error("[mqtt]\nsize_delta = 5\n",
                 "2: key 'size_delta': expected +N or -N bytes (N 1..2147483647), got '5'");
    expect_error("[mqtt]\nsign = crc\n", "2: key 'sign': expected md5 or sha256, got 'crc'");
    expect_error("[mqtt]\nsign_case = mixed\n", "2: key 'sign_case': expected upper or lower, got 'mixed'");
    expect_error("[mqtt]\nsign_method =\n", "2: key 'sign_method': expected printable text of 1..63 characters");
    expect_error("[mqtt]\nsize_string = yes\nsize_string = no\n",
                 "3: key 'size_string': given twice in this section (first at line 2)");
    expect_error("[proxy.mqtt]\nfault = down:latency=20\n",
                 "2: key 'fault': latency '20': a duration needs a unit (us, ms or s)");
    expect_error("[proxy.mqtt]\nfault = down:latency=100ms\nspec = x\n",
                 "3: key 'spec': unknown key (expected fault = SPEC, one per line)");
    expect_error("[proxy.http]\nfault =\n", "2: key 'fault': expected a fault spec of 1..255 characters");
    expect_error("name = x\n", "1: key 'name': outside a section (start with [plan])");
    /* checks that span a section name the key at fault */
    expect_error("[http]\nstall_ms = 100\n", "2: key 'stall_ms': needs stall_at = N in the same section");
    expect_error("[http]\nthrottle = 5\nstall_at = 10\n",
                 "3: key 'stall_at': needs stall_ms = T in the same section");
    expect_error("[http]\nstall_then = close\n",
                 "2: key 'stall_then': needs stall_at = N in the same section");
    expect_error("[http]\nlength_body = file\n",
                 "2: key 'length_body': needs length = +N or -N in the same section");
    expect_error("[http:4]\nlength = +1\nchunked = true\n",
                 "3: key 'chunked': cannot go with length: a chunked response has no Content-Length");
    /* sections */
    expect_error("[http:0]\n", "1: section [http:0]: N in [http:N] must be a firmware GET number 1..1000000");
    expect_error("[http:x]\n", "1: section [http:x]: N in [http:N] must be a firmware GET number 1..1000000");
    expect_error("[https]\n",
                 "1: section [https]: unknown section (expected plan, http, http:N, mqtt, coap, "
                 "proxy.mqtt, proxy.http or proxy.coap)");
    expect_error("[mqtt]\n[mqtt]\n", "2: section [mqtt]: given twice (first at line 1)");
    expect_error("[http:2]\nstatus = 500\n\n[http:2]\n", "4: section [http:2]: given twice (first at line 1)");
    /* syntax */
    expect_error("[plan]\njust some words\n",
                 "2: syntax error: expected [section], key = value or a ; comment");
    expect_error("[plan\nname = x\n", "1: syntax error: expected [section], key = value or a ; comment");
    memset(longline, 'x', sizeof longline);
    memcpy(longline, "[plan]\ndescription = ", 21);
    longline[sizeof longline - 2] = '\n';
    longline[sizeof longline - 1] = '\0';
    expect_error(longline, "2: line too long (at most 198 characters; give description and field on "
                           "several lines)");
    {
        struct fault_plan p;
        char err[512], want[512], path[256];
        snprintf(want, sizeof want, "%s/none.plan: cannot open: No such file or directory", tmpdir);
        snprintf(path, sizeof path, "%s/none.plan", tmpdir);
        assert_int_equal(plan_load(path, &p, err, sizeof err), -1);
        assert_string_equal(err, want);
        plan_free(&p);
    }
}

static void test_options(void **state)
{
    struct fault_plan p;
    char err[512], sum[1024];

    (void)state;
    memset(&p, 0, sizeof p);
    assert_int_equal(plan_add_cli(&p, "http", "status=503", err, sizeof err), 0);
    assert_int_equal(plan_add_cli(&p, "http", " status = 404 ", err, sizeof err), 0); /* replaces */
    assert_int_equal(plan_add_http_option(&p, "2:close_at=100", err, sizeof err), 0);
    assert_int_equal(plan_add_http_option(&p, "2:stall_at=10", err, sizeof err), 0);
    assert_int_equal(plan_check(&p, err, sizeof err), -1);
    assert_string_equal(err, "section [http:2]: key 'stall_at': needs stall_ms = T in the same section");
    assert_int_equal(plan_add_http_option(&p, "2:stall_ms=10", err, sizeof err), 0);
    assert_int_equal(plan_check(&p, err, sizeof err), 0);
    assert_int_equal(plan_add_cli(&p, "mqtt", "message=Success", err, sizeof err), 0);
    assert_int_equal(plan_add_cli(&p, "proxy.http", "fault=down:reset", err, sizeof err), 0);
    assert_int_equal(plan_add_cli(&p, "plan", "description=a", err, sizeof err), 0);
    assert_int_equal(plan_add_cli(&p, "plan", "description=b", err, sizeof err), 0); /* appended */
    assert_string_equal(p.description, "a b");
    plan_summary(&p, sum, sizeof sum);
    assert_string_equal(sum, "http status=404; http:2 close_at=100 stall_at=10 stall_ms=10; "
                             "mqtt message=Success; proxy.http 1 fault");

    assert_int_equal(plan_add_cli(&p, "http", "status", err, sizeof err), -1);
    assert_string_equal(err, "expected KEY=VALUE, got 'status'");
    assert_int_equal(plan_add_cli(&p, "mqtt", "drop=1", err, sizeof err), -1);
    assert_string_equal(err, "key 'drop': unknown key (expected one of: drop_push, duplicate_at, "
                             "offline_push, restart_broker_at, push_len, url_len, size_string, "
                             "size_delta, message, sign_method, sign, sign_case, wrong_digest, "
                             "wrong_digest_attempts)");
    assert_int_equal(plan_add_http_option(&p, "0:status=500", err, sizeof err), -1);
    assert_string_equal(err, "section [http:0]: N in [http:N] must be a firmware GET number 1..1000000");
    assert_int_equal(plan_add_cli(&p, "tcp", "x=1", err, sizeof err), -1);
    assert_string_equal(err, "section [tcp]: unknown section (expected plan, http, http:N, mqtt, "
                             "coap, proxy.mqtt, proxy.http or proxy.coap)");
    plan_free(&p);

    /* added to a loaded plan: the option wins over the file */
    write_plan("[plan]\nname = base\n[http:1]\nstatus = 400\n");
    assert_int_equal(plan_load(pfile, &p, err, sizeof err), 0);
    assert_int_equal(plan_add_http_option(&p, "1:status=403", err, sizeof err), 0);
    assert_int_equal(p.nhttp, 1);
    assert_int_equal(p.http[0].status, 403);
    plan_free(&p);
}

static void test_commands_refuse_bad_plans(void **state)
{
    char out[4096], want[512], wd[128];

    (void)state;
    snprintf(wd, sizeof wd, "%s/cloud", tmpdir);
    write_plan("[plan]\nname = x\n[http]\nstatus = 999\n");
    assert_int_equal(run_captured(tmpdir, cmd_cloud, (char *[]){ "cloud", "--workdir", wd, "--plan", pfile, NULL },
                                  out, sizeof out), 2);
    snprintf(want, sizeof want, "otahil cloud: %s:4: key 'status': expected a status 100..599 other "
             "than 200 and 206, got '999'\n", pfile);
    assert_string_equal(out, want);
    assert_int_equal(access(wd, F_OK), -1); /* nothing was started */

    assert_int_equal(run_captured(tmpdir, cmd_cloud, (char *[]){ "cloud", "--workdir", wd, "--http-fault",
                                                         "3:close_at=x", NULL },
                                  out, sizeof out), 2);
    assert_string_equal(out, "otahil cloud: --http-fault '3:close_at=x': key 'close_at': expected a "
                             "body offset in bytes (0 or more, decimal), got 'x'\n");
    assert_int_equal(run_captured(tmpdir, cmd_cloud, (char *[]){ "cloud", "--workdir", wd, "--mqtt-fault",
                                                         "sign=crc32", NULL },
                                  out, sizeof out), 2);
    assert_string_equal(out, "otahil cloud: --mqtt-fault 'sign=crc32': key 'sign': expected md5 or "
                             "sha256, got 'crc32'\n");
    assert_int_equal(run_captured(tmpdir, cmd_cloud, (char *[]){ "cloud", "--workdir", wd, "--http-fault",
                                                         "stall_ms=5", NULL },
                                  out, sizeof out), 2);
    assert_string_equal(out, "otahil cloud: section [http]: key 'stall_ms': needs stall_at = N in the "
                             "same section\n");
    assert_int_equal(access(wd, F_OK), -1);

    assert_int_equal(run_captured(tmpdir, cmd_run, (char *[]){ "run", "update", "--plan", pfile, NULL }, out,
                                  sizeof out), 2);
    snprintf(want, sizeof want, "otahil run: %s:4: key 'status': expected a status 100..599 other "
             "than 200 and 206, got '999'\n", pfile);
    assert_string_equal(out, want);
    assert_int_equal(run_captured(tmpdir, cmd_cloud, (char *[]){ "cloud", "--help", NULL }, out, sizeof out), 0);
    assert_non_null(strstr(out, "--plan FILE"));
    assert_non_null(strstr(out, "--http-fault"));
    assert_non_null(strstr(out, "--mqtt-fault"));
    assert_int_equal(run_captured(tmpdir, cmd_run, (char *[]){ "run", "--help", NULL }, out, sizeof out), 0);
    assert_non_null(strstr(out, "--plan FILE"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures_load),
        cmocka_unit_test(test_full_plan),
        cmocka_unit_test(test_tls_keys),
        cmocka_unit_test(test_bad_lines),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_commands_refuse_bad_plans),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
