/*
 * test_broker_auth.c - the broker's auth plugin (mock_cloud/broker_auth.c)
 * in a real Mosquitto started by the cloud: Alibaba credentials (spec §2.4)
 * accepted and refused at CONNECT, each refusal in the broker log and the
 * event log, the registry read live, and the topic ACL (spec §1.1) proved
 * by what is delivered: device A subscribed to device B's upgrade topic gets
 * nothing when B's push goes out while B gets it, and A's publish on B's
 * progress topic never reaches the cloud. Also the signing module itself
 * (mock_cloud/alisign.c) against an HMAC computed here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/testutil.h"

#include "mock_cloud/alisign.h"
#include "mock_cloud/broker.h"
#include "mock_cloud/cloud.h"
#include "sim/util/defaults.h"
#include "sim/util/evlog.h"

#include <mosquitto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PK        OTAHIL_DEFAULT_PK
#define DN_A      OTAHIL_DEFAULT_DN
#define SECRET_A  OTAHIL_DEFAULT_SECRET
#define DN_B      "dev-0002"
#define SECRET_B  "secret-of-device-b"
#define OLD_VER   "app-1.0.0-20180101.1000"
#define NEW_VER   "app-2.0.0-20180601.1200"
#define FW_SIZE   4096
#define TOPIC(type, dn) "/ota/device/" type "/" PK "/" dn
#define CONNACK_NOT_AUTHORISED 5   /* MQTT 3.1.1 CONNACK return code */

static char tmpdir[64], events[128], image[128];
static struct cloud *cl;

/* ---- event log and broker log ---- */

/* Lines of file holding all of the given substrings (NULL-terminated); the
 * last one into last. */
static int count_lines(const char *file, char *last, size_t lastlen, ...)
{
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    FILE *f = fopen(file, "r");

    if (!f)
        return 0;
    while (getline(&line, &cap, f) > 0) {
        va_list ap;
        const char *s;
        int all = 1;
        va_start(ap, lastlen);
        while ((s = va_arg(ap, const char *)))
            if (!strstr(line, s))
                all = 0;
        va_end(ap);
        if (all) {
            n++;
            if (last)
                snprintf(last, lastlen, "%s", line);
        }
    }
    free(line);
    fclose(f);
    return n;
}

static void broker_log(char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/cloud/mosquitto.log", tmpdir);
}

/* ---- MQTT clients driven from this thread ---- */

struct client {
    struct mosquitto *mq;
    int  connack;            /* -1 until the CONNACK */
    int  subacks;            /* SUBACKs received */
    int  granted[4];         /* granted QoS of the last SUBACK */
    int  messages;           /* messages received */
    char topic[128];         /* of the last message */
    char payload[2048];      /* of the last message */
};

static void on_connect(struct mosquitto *mq, void *obj, int rc)
{
    struct client *c = obj;
    (void)mq;
    c->connack = rc;
}

static void on_subscribe(struct mosquitto *mq, void *obj, int mid, int n, const int *g)
{
    struct client *c = obj;
    (void)mq;
    (void)mid;
    c->subacks++;
    for (int i = 0; i < n && i < 4; i++)
        c->granted[i] = g[i];
}

static void on_message(struct mosquitto *mq, void *obj, const struct mosquitto_message *m)
{
    struct client *c = obj;
    int n = m->payloadlen < (int)sizeof c->payload - 1 ? m->payloadlen : (int)sizeof c->payload - 1;
    (void)mq;
    c->messages++;
    snprintf(c->topic, sizeof c->topic, "%s", m->topic);
    memcpy(c->payload, m->payload, (size_t)n);
    c->payload[n] = '\0';
}

/* Runs the network of every client for ms milliseconds, or until *until is
 * nonzero. */
static void pump(struct client **cs, int n, unsigned ms, const int *until)
{
    uint64_t end = now_ms() + ms;

    while (now_ms() < end && !(until && *until))
        for (int i = 0; i < n; i++)
            if (cs[i]->mq)
                mosquitto_loop(cs[i]->mq, 5, 1);
}

/* Connects with the given credentials (password NULL: none) and returns the
 * CONNACK code, or -1 when none came within 3 s. */
static int client_open(struct client *c, const char *cid, const char *user, const char *pass)
{
    memset(c, 0, sizeof *c);
    c->connack = -1;
    c->mq = mosquitto_new(cid, true, c);
    assert_non_null(c->mq);
    mosquitto_connect_callback_set(c->mq, on_connect);
    mosquitto_subscribe_callback_set(c->mq, on_subscribe);
    mosquitto_message_callback_set(c->mq, on_message);
    if (user)
        assert_int_equal(mosquitto_username_pw_set(c->mq, user, pass), MOSQ_ERR_SUCCESS);
    assert_int_equal(mosquitto_connect(c->mq, "127.0.0.1", cloud_mqtt_port(cl), 30),
                     MOSQ_ERR_SUCCESS);
    for (uint64_t end = now_ms() + 3000; c->connack < 0 && now_ms() < end;)
        mosquitto_loop(c->mq, 5, 1);
    return c->connack;
}

static void client_close(struct client *c)
{
    if (!c->mq)
        return;
    mosquitto_disconnect(c->mq);
    mosquitto_loop(c->mq, 5, 1);
    mosquitto_destroy(c->mq);
    c->mq = NULL;
}

/* A device of the registry, signed as linkkit signs (or with SHA-256 and
 * upper-case hex). Returns the CONNACK code. */
static int device_open(struct client *c, const char *dn, const char *secret,
                       enum alisign_method m, int upper)
{
    char cid[ALISIGN_CID_MAX + 1], user[ALISIGN_DN_MAX + ALISIGN_PK_MAX + 2],
        pass[ALISIGN_HEX_MAX + 1];

    assert_int_equal(alisign_credentials(PK, dn, secret, m, upper, cid, user, pass), 0);
    return client_open(c, cid, user, pass);
}

static void subscribe(struct client *c, const char *topic)
{
    struct client *one[] = { c };
    int before = c->subacks;

    assert_int_equal(mosquitto_subscribe(c->mq, NULL, topic, 1), MOSQ_ERR_SUCCESS);
    for (uint64_t end = now_ms() + 3000; c->subacks == before && now_ms() < end;)
        pump(one, 1, 10, NULL);
    assert_int_equal(c->subacks, before + 1);
}

static void publish(struct client *c, const char *topic, const char *text)
{
    assert_int_equal(mosquitto_publish(c->mq, NULL, topic, (int)strlen(text) + 1, text, 1, false),
                     MOSQ_ERR_SUCCESS);
}

/* ---- fixture ---- */

static void make_image(const char *path, const char *version)
{
    unsigned char b[FW_SIZE], *f = b + FW_SIZE - 28;
    uint32_t n = FW_SIZE - 28;
    FILE *out;

    for (size_t i = 0; i < sizeof b; i++)
        b[i] = (unsigned char)(i * 13);
    memset(b, 0, 128);
    memcpy(b, "OTAHIMG1", 8);
    memcpy(b + 24, version, strlen(version));
    memset(f, 0xEF, 4);
    for (int k = 0; k < 4; k++)
        f[4 + k] = (unsigned char)(n >> (8 * k));
    assert_int_equal(EVP_Digest(b, n, f + 8, NULL, EVP_md5(), NULL), 1);
    memset(f + 24, 0xFF, 4);
    out = fopen(path, "wb");
    assert_non_null(out);
    assert_int_equal(fwrite(b, 1, sizeof b, out), sizeof b);
    fclose(out);
}

static int group_setup(void **state)
{
    struct cloud_opts o = { 0 };
    char err[512], wd[128];

    (void)state;
    signal(SIGPIPE, SIG_IGN);
    mosquitto_lib_init();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/otahil-bauth-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(events, sizeof events, "%s/events.jsonl", tmpdir);
    snprintf(image, sizeof image, "%s/app.bin", tmpdir);
    if (evlog_open(events) != 0)
        return -1;
    snprintf(wd, sizeof wd, "%s/cloud", tmpdir);
    o.workdir = wd;
    o.seed = 5;
    cl = cloud_start(&o, err, sizeof err);
    if (!cl) {
        fprintf(stderr, "cloud_start: %s\n", err);
        return -1;
    }
    return cloud_add_device(cl, PK, DN_B, SECRET_B);
}

static int group_teardown(void **state)
{
    char cmd[128];

    (void)state;
    cloud_stop(cl);
    evlog_close();
    mosquitto_lib_cleanup();
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- the signature ---- */

static void test_alisign(void **state)
{
    static const char msg[] = "clientId" PK "." DN_A "deviceName" DN_A "productKey" PK
                              "timestamp2524608000000";
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    char want[ALISIGN_HEX_MAX + 1], cid[ALISIGN_CID_MAX + 1], user[64], pass[ALISIGN_HEX_MAX + 1],
        why[256];
    struct alisign_cid p;

    (void)state;
    /* the spec's §2.1 string, signed here with OpenSSL directly */
    assert_non_null(HMAC(EVP_sha1(), SECRET_A, (int)strlen(SECRET_A), (const unsigned char *)msg,
                         strlen(msg), mac, &n));
    for (unsigned i = 0; i < n; i++)
        sprintf(want + 2 * i, "%02x", mac[i]);
    assert_int_equal(alisign_credentials(PK, DN_A, SECRET_A, ALISIGN_HMACSHA1, 0, cid, user, pass),
                     0);
    assert_string_equal(pass, want);
    assert_string_equal(user, DN_A "&" PK);
    assert_string_equal(cid, PK "." DN_A "|securemode=3,timestamp=2524608000000,"
                             "signmethod=hmacsha1,gw=0,ext=0|");
    /* iotkit v3's order of keys and upper-case SHA-256 (spec §2.3) */
    assert_int_equal(alisign_parse_cid(PK "." DN_A "|timestamp=2524608000000,_v=sdk-c-3.0.1,"
                                       "securemode=3,signmethod=hmacsha256,lan=C,gw=0,ext=0|",
                                       &p, why, sizeof why), 0);
    assert_int_equal(p.method, ALISIGN_HMACSHA256);
    assert_string_equal(p.ts, "2524608000000");
    assert_int_equal(HMAC(EVP_sha256(), SECRET_A, (int)strlen(SECRET_A),
                          (const unsigned char *)msg, strlen(msg), mac, &n) != NULL, 1);
    for (unsigned i = 0; i < n; i++)
        sprintf(want + 2 * i, "%02X", mac[i]);
    assert_int_equal(alisign_check(&p, PK, DN_A, SECRET_A, want, why, sizeof why), 0);
    assert_int_equal(alisign_check(&p, PK, DN_A, SECRET_B, want, why, sizeof why), -1);
    assert_non_null(strstr(why, "does not match"));
    /* ext=1 is signed (SUPPORT_AUTH_ROUTER), ext=0 is not */
    assert_int_equal(alisign_parse_cid("x|securemode=2,signmethod=hmacsha1,timestamp=1,ext=1|", &p,
                                       why, sizeof why), 0);
    assert_int_equal(alisign_password(&p, PK, DN_A, SECRET_A, 0, pass, sizeof pass), 0);
    {
        static const char m2[] = "clientIdxdeviceName" DN_A "ext1productKey" PK "timestamp1";
        assert_non_null(HMAC(EVP_sha1(), SECRET_A, (int)strlen(SECRET_A),
                             (const unsigned char *)m2, strlen(m2), mac, &n));
        for (unsigned i = 0; i < n; i++)
            sprintf(want + 2 * i, "%02x", mac[i]);
        assert_string_equal(pass, want);
    }
    /* malformed client ids: each names what is wrong */
    {
        static const struct { const char *cid, *why; } bad[] = {
            { PK "." DN_A, "no '|'" },
            { "|securemode=3,signmethod=hmacsha1,timestamp=1|", "empty" },
            { "x|securemode=3,signmethod=hmacsha1,timestamp=1", "does not end with '|'" },
            { "x|securemode=3,signmethod=hmacmd5,timestamp=1|", "signmethod 'hmacmd5'" },
            { "x|securemode=3,timestamp=1|", "no signmethod" },
            { "x|securemode=3,signmethod=hmacsha1|", "no timestamp" },
            { "x|signmethod=hmacsha1,timestamp=1|", "no securemode" },
            { "x|securemode=tls,signmethod=hmacsha1,timestamp=1|", "securemode 'tls'" },
            { "x|securemode=3,signmethod=hmacsha1,timestamp=12ab|", "timestamp '12ab'" },
            { "x|securemode=3,signmethod,timestamp=1|", "'signmethod' has no '='" },
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            assert_int_equal(alisign_parse_cid(bad[i].cid, &p, why, sizeof why), -1);
            if (!strstr(why, bad[i].why))
                fail_msg("%s: reason '%s' does not say '%s'", bad[i].cid, why, bad[i].why);
        }
    }
    assert_int_equal(alisign_parse_username("dev", user, pass, why, sizeof why), -1);
    assert_non_null(strstr(why, "no '&'"));
}

/* ---- CONNECT ---- */

static void test_accepted(void **state)
{
    struct client c;
    char line[2048];

    (void)state;
    /* linkkit: HMAC-SHA1, lower-case hex */
    assert_int_equal(device_open(&c, DN_A, SECRET_A, ALISIGN_HMACSHA1, 0), 0);
    client_close(&c);
    /* iotkit v3: HMAC-SHA256, upper-case hex */
    assert_int_equal(device_open(&c, DN_B, SECRET_B, ALISIGN_HMACSHA256, 1), 0);
    client_close(&c);
    /* SHA-1 in upper case, SHA-256 in lower case: the case never matters */
    assert_int_equal(device_open(&c, DN_A, SECRET_A, ALISIGN_HMACSHA1, 1), 0);
    client_close(&c);
    assert_int_equal(device_open(&c, DN_B, SECRET_B, ALISIGN_HMACSHA256, 0), 0);
    client_close(&c);
    assert_true(count_lines(events, line, sizeof line, "\"ev\":\"broker.auth_ok\"",
                            "\"signmethod\":\"hmacsha256\"", "\"username\":\"" DN_B "&" PK "\"",
                            NULL) >= 2);
    assert_non_null(strstr(line, "\"src\":\"broker\""));
}

/* A refusal: CONNACK "not authorised", an event and a broker log line, each
 * naming the reason. */
static void expect_refused(const char *cid, const char *user, const char *pass, const char *reason)
{
    struct client c;
    char log[160], line[2048];
    int before_ev = count_lines(events, NULL, 0, "broker.auth_refused", reason, NULL);
    int before_log = count_lines((broker_log(log, sizeof log), log), NULL, 0,
                                 "otahil-auth: refused", reason, NULL);
    int rc = client_open(&c, cid, user, pass);

    client_close(&c);
    if (rc != CONNACK_NOT_AUTHORISED)
        fail_msg("%s as %s: CONNACK %d, not %d (not authorised)", cid, user ? user : "(none)", rc,
                 CONNACK_NOT_AUTHORISED);
    assert_int_equal(count_lines(events, line, sizeof line, "broker.auth_refused", reason, NULL),
                     before_ev + 1);
    assert_non_null(strstr(line, "\"src\":\"broker\""));
    assert_int_equal(count_lines(log, NULL, 0, "otahil-auth: refused", reason, NULL),
                     before_log + 1);
}

static void test_refused(void **state)
{
    char cid[ALISIGN_CID_MAX + 1], user[64], pass[ALISIGN_HEX_MAX + 1], cid_b[ALISIGN_CID_MAX + 1],
        user_b[64], pass_b[ALISIGN_HEX_MAX + 1], cut[ALISIGN_HEX_MAX + 1];
    struct client svc;

    (void)state;
    /* a wrong secret */
    assert_int_equal(alisign_credentials(PK, DN_A, "not-the-secret", ALISIGN_HMACSHA1, 0, cid, user,
                                         pass), 0);
    expect_refused(cid, user, pass, "signature does not match");
    /* device A presenting device B's name with A's signature, and A's name
     * with B's signature */
    assert_int_equal(alisign_credentials(PK, DN_A, SECRET_A, ALISIGN_HMACSHA1, 0, cid, user, pass),
                     0);
    assert_int_equal(alisign_credentials(PK, DN_B, SECRET_B, ALISIGN_HMACSHA1, 0, cid_b, user_b,
                                         pass_b), 0);
    expect_refused(cid, user_b, pass, "signature does not match");
    expect_refused(cid, user, pass_b, "signature does not match");
    /* B's clientId with A's username and password: the id is signed */
    expect_refused(cid_b, user, pass, "signature does not match");
    /* malformed clientId, a password that is not the method's hex */
    expect_refused(PK "." DN_A, user, pass, "has no '|' parameter section");
    expect_refused(PK "." DN_A "|securemode=3,signmethod=hmacmd5,timestamp=1|", user, pass,
                   "signmethod 'hmacmd5' is not supported");
    snprintf(cut, sizeof cut, "%.39s", pass);
    expect_refused(cid, user, cut, "password is 39 characters");
    memcpy(cut, pass, 41);
    cut[7] = 'g';
    expect_refused(cid, user, cut, "password is not hex");
    /* identities the registry does not hold, no username, no password */
    expect_refused(cid, DN_A "&a1Other", pass, "unknown device a1Other/" DN_A);
    expect_refused(cid, "dev-0001", pass, "username has no '&'");
    expect_refused(cid, NULL, NULL, "no username");
    expect_refused(cid, user, NULL, "no password");
    /* the cloud service's username with a wrong password */
    expect_refused("intruder", "otahil-cloud", "0123456789abcdef0123456789abcdef",
                   "wrong password for the cloud service");
    /* the cloud stays up and its own session too */
    assert_int_equal(cloud_health(cl, NULL, 0), 0);
    assert_int_equal(device_open(&svc, DN_A, SECRET_A, ALISIGN_HMACSHA1, 0), 0);
    client_close(&svc);
}

static void test_registry_live(void **state)
{
    struct client c;
    struct stat st;

    (void)state;
    assert_non_null(cloud_registry_path(cl));
    assert_int_equal(stat(cloud_registry_path(cl), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* a device added while the broker runs can connect at once */
    assert_int_not_equal(device_open(&c, "dev-0003", "s3", ALISIGN_HMACSHA1, 0), 0);
    client_close(&c);
    assert_int_equal(cloud_add_device(cl, PK, "dev-0003", "s3"), 0);
    assert_int_equal(device_open(&c, "dev-0003", "s3", ALISIGN_HMACSHA1, 0), 0);
    client_close(&c);
    /* a new secret replaces the old one */
    assert_int_equal(cloud_add_device(cl, PK, "dev-0003", "s3-rotated"), 0);
    assert_int_equal(device_open(&c, "dev-0003", "s3", ALISIGN_HMACSHA1, 0),
                     CONNACK_NOT_AUTHORISED);
    client_close(&c);
    assert_int_equal(device_open(&c, "dev-0003", "s3-rotated", ALISIGN_HMACSHA1, 0), 0);
    client_close(&c);
    /* secrets the registry could not hold are refused by the cloud */
    assert_int_equal(cloud_add_device(cl, PK, "dev-0004", "two words"), -1);
    assert_int_equal(cloud_add_device(cl, PK, "dev&0004", "s4"), -1);
}

/* ---- topics ---- */

static void test_push_goes_to_its_device_only(void **state)
{
    struct client a, b, *both[] = { &a, &b };
    struct job_status st;
    char err[256], line[2048];
    int fw, job;

    (void)state;
    assert_int_equal(device_open(&a, DN_A, SECRET_A, ALISIGN_HMACSHA1, 0), 0);
    assert_int_equal(device_open(&b, DN_B, SECRET_B, ALISIGN_HMACSHA1, 0), 0);
    subscribe(&a, TOPIC("upgrade", DN_A));
    assert_int_equal(a.granted[0], 1);
    /* A forbidden SUBSCRIBE still gets a SUBACK: with the plugin's denial,
     * Mosquitto 2.0.11 puts the failure code 0x80 in it (MQTT 3.1.1) */
    subscribe(&a, TOPIC("upgrade", DN_B));
    assert_int_equal(a.granted[0], 0x80);
    subscribe(&a, "/ota/device/upgrade/#");
    assert_int_equal(a.granted[0], 0x80);
    subscribe(&b, TOPIC("upgrade", DN_B));
    assert_int_equal(b.granted[0], 1);
    assert_true(count_lines(events, NULL, 0, "broker.acl_denied", "\"access\":\"subscribe\"",
                            "\"topic\":\"" TOPIC("upgrade", DN_B) "\"", NULL) >= 1);
    assert_true(count_lines(events, NULL, 0, "broker.acl_denied", "\"access\":\"subscribe\"",
                            "\"topic\":\"/ota/device/upgrade/#\"", NULL) >= 1);

    make_image(image, NEW_VER);
    fw = cloud_add_firmware(cl, image, NULL, err, sizeof err);
    assert_true(fw > 0);
    publish(&b, TOPIC("inform", DN_B), "{\"id\":0,\"params\":{\"version\":\"" OLD_VER "\"}}");
    for (uint64_t end = now_ms() + 3000; now_ms() < end;) {
        pump(both, 2, 20, NULL);
        if (count_lines(events, NULL, 0, "device.inform", DN_B, NULL) > 0)
            break;
    }
    job = cloud_create_job(cl, PK, DN_B, fw, NULL, err, sizeof err);
    assert_true(job > 0);
    pump(both, 2, 3000, &b.messages);
    /* B got its push ... */
    assert_int_equal(b.messages, 1);
    assert_string_equal(b.topic, TOPIC("upgrade", DN_B));
    assert_non_null(strstr(b.payload, NEW_VER));
    assert_int_equal(cloud_job_status(cl, job, &st), 0);
    assert_int_equal(st.state, JOB_PUSHED);
    /* ... and A, subscribed to B's topic and to a wildcard, got nothing */
    pump(both, 2, 500, NULL);
    assert_int_equal(a.messages, 0);
    assert_true(count_lines(events, line, sizeof line, "job.pushed", NULL) >= 1);
    client_close(&a);
    client_close(&b);
}

static void test_progress_from_another_device_is_dropped(void **state)
{
    struct client a, b, *both[] = { &a, &b };
    struct job_status st;
    int job = 0;

    (void)state;
    /* the job of the previous test is B's, PUSHED */
    for (int j = 1; cloud_job_status(cl, j, &st) == 0; j++)
        job = j;
    assert_true(job > 0);
    assert_int_equal(device_open(&a, DN_A, SECRET_A, ALISIGN_HMACSHA1, 0), 0);
    assert_int_equal(device_open(&b, DN_B, SECRET_B, ALISIGN_HMACSHA1, 0), 0);
    /* A reports a failure on B's topic, and a success inform; then B
     * reports progress 37 on its own: only B's report may arrive */
    publish(&a, TOPIC("progress", DN_B), "{\"id\":0,\"params\":{\"step\": \"-1\",\"desc\":\"x\"}}");
    publish(&a, TOPIC("inform", DN_B), "{\"id\":0,\"params\":{\"version\":\"" NEW_VER "\"}}");
    pump(both, 2, 200, NULL);
    publish(&b, TOPIC("progress", DN_B), "{\"id\":0,\"params\":{\"step\": \"37\",\"desc\":\"\"}}");
    for (uint64_t end = now_ms() + 3000; now_ms() < end;) {
        pump(both, 2, 20, NULL);
        assert_int_equal(cloud_job_status(cl, job, &st), 0);
        if (st.last_step == 37)
            break;
    }
    assert_int_equal(st.last_step, 37);
    assert_int_equal(st.state, JOB_IN_PROGRESS);
    assert_true(count_lines(events, NULL, 0, "broker.acl_denied", "\"access\":\"publish\"",
                            "\"topic\":\"" TOPIC("progress", DN_B) "\"",
                            "\"username\":\"" DN_A "&" PK "\"", NULL) >= 1);
    assert_true(count_lines(events, NULL, 0, "broker.acl_denied", "\"access\":\"publish\"",
                            "\"topic\":\"" TOPIC("inform", DN_B) "\"", NULL) >= 1);
    /* a device may not publish on its own upgrade topic either (spec §1.1:
     * cloud to device) */
    publish(&b, TOPIC("upgrade", DN_B), "{\"fake\":1}");
    pump(both, 2, 300, NULL);
    assert_true(count_lines(events, NULL, 0, "broker.acl_denied", "\"access\":\"publish\"",
                            "\"topic\":\"" TOPIC("upgrade", DN_B) "\"", NULL) >= 1);
    client_close(&a);
    client_close(&b);
}

static void test_no_auth(void **state)
{
    struct cloud_opts o = { 0 };
    struct cloud *saved = cl, *open_cloud;
    struct client c;
    char err[512], wd[128];

    (void)state;
    snprintf(wd, sizeof wd, "%s/open", tmpdir);
    o.workdir = wd;
    o.no_auth = 1;
    open_cloud = cloud_start(&o, err, sizeof err);
    if (!open_cloud)
        fail_msg("cloud_start --no-auth: %s", err);
    assert_null(cloud_registry_path(open_cloud));
    cl = open_cloud;
    assert_int_equal(client_open(&c, "anyone", NULL, NULL), 0);
    client_close(&c);
    cl = saved;
    cloud_stop(open_cloud);
    /* a plugin that is not there stops the cloud with the reason */
    memset(&o, 0, sizeof o);
    snprintf(wd, sizeof wd, "%s/noplugin", tmpdir);
    o.workdir = wd;
    o.auth_plugin = "/nonexistent/otahil-broker-auth.so";
    assert_null(cloud_start(&o, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/otahil-broker-auth.so not found"));
}

/* A registry the plugin cannot read stops the broker at start, and the
 * error names the file, the line and what is wrong. */
static void test_bad_registry(void **state)
{
    struct broker b;
    struct broker_auth ba;
    char exe[512], plugin[600], reg[128], dir[128], err[1024];
    ssize_t n;
    FILE *f;

    (void)state;
    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    assert_true(n > 0);
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    snprintf(plugin, sizeof plugin, "%s/../lib/otahil-broker-auth.so", exe);
    snprintf(dir, sizeof dir, "%s/badreg", tmpdir);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(reg, sizeof reg, "%s/registry", dir);
    f = fopen(reg, "w");
    assert_non_null(f);
    fputs("# two fields are not a device\ndevice " PK " " DN_A "\n", f);
    fclose(f);
    ba.plugin = plugin;
    ba.registry = reg;
    ba.events = NULL;
    assert_int_equal(broker_start(&b, NULL, dir, 0, &ba, err, sizeof err), -1);
    if (!strstr(err, "registry:2: expected 'service USERNAME PASSWORD' or 'device PK DN SECRET'"))
        fail_msg("error does not name the registry line: %s", err);
    assert_int_equal(b.pid, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alisign),
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_registry_live),
        cmocka_unit_test(test_push_goes_to_its_device_only),
        cmocka_unit_test(test_progress_from_another_device_is_dropped),
        cmocka_unit_test(test_no_auth),
        cmocka_unit_test(test_bad_registry),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
