/*
 * test_mqttsign.c - the device side's Alibaba MQTT credentials
 * (sim/util/mqttsign.c, spec §2.1, §2.3): the strings the broker's check
 * (mock_cloud/alisign.c, the plugin's) accepts, byte for byte those the
 * native device connects with (sim/posix/os_posix.c, OpenSSL), for several
 * identities up to the longest allowed; a wrong secret refused; bad
 * identities rejected.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mock_cloud/alisign.h"
#include "sim/hal/platform.h"
#include "sim/posix/os_posix.h"
#include "sim/util/defaults.h"
#include "sim/util/mqttsign.h"

/* os_posix.c's reboot calls end in the device program's platform layer
 * (sim/device/dut_main.c); nothing here reboots. */
void otahil_platform_reboot(const char *reason)
{
    fprintf(stderr, "unexpected reboot: %s\n", reason);
    abort();
}

/* Checks creds as the broker's plugin does: clientId parsed, username
 * split, password verified against secret. 0 or -1 with why. */
static int broker_check(const struct mqttsign_creds *cr, const char *secret, char *why, size_t wl)
{
    struct alisign_cid cid;
    char dn[ALISIGN_DN_MAX + 1], pk[ALISIGN_PK_MAX + 1];

    if (alisign_parse_cid(cr->client_id, &cid, why, wl) != 0 ||
        alisign_parse_username(cr->username, dn, pk, why, wl) != 0)
        return -1;
    return alisign_check(&cid, pk, dn, secret, cr->password, why, wl);
}

static void test_accepted_and_same_as_native(void **state)
{
    static const struct { const char *pk, *dn, *ds; } ids[] = {
        { OTAHIL_DEFAULT_PK, OTAHIL_DEFAULT_DN, OTAHIL_DEFAULT_SECRET },
        { "a1OtaHilPK0", "dev-0002", "secret-of-device-b" },
        { "p", "d", "" },                                       /* an empty secret */
        { "01234567890123456789", "0123456789abcdef0123456789abcdef", /* the longest */
          "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" },
    };
    char why[256];

    (void)state;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        struct mqttsign_creds cr;
        char cid[256], user[128], pass[41];
        struct alisign_cid p;

        assert_int_equal(mqttsign_make(ids[i].pk, ids[i].dn, ids[i].ds, MQTTSIGN_HMACSHA1, &cr), 0);
        if (broker_check(&cr, ids[i].ds, why, sizeof why) != 0)
            fail_msg("identity %zu refused: %s", i, why);
        os_posix_mqtt_credentials(ids[i].pk, ids[i].dn, ids[i].ds, cid, user, pass);
        assert_string_equal(cr.client_id, cid);
        assert_string_equal(cr.username, user);
        assert_string_equal(cr.password, pass);
        assert_int_equal(strlen(cr.password), 40);
        /* the form of spec §2.1 with securemode 3 (plain TCP) */
        assert_int_equal(alisign_parse_cid(cr.client_id, &p, why, sizeof why), 0);
        assert_int_equal(p.securemode, 3);
        assert_string_equal(p.ts, "2524608000000");
        assert_int_equal(p.method, ALISIGN_HMACSHA1);
        assert_int_equal(p.ext, 0);

        /* hmacsha256: upper-case hex, 64 digits, as iotkit v3; also accepted,
         * and the same as alisign's own credentials */
        {
            char acid[ALISIGN_CID_MAX + 1], auser[64], apass[ALISIGN_HEX_MAX + 1];

            assert_int_equal(mqttsign_make(ids[i].pk, ids[i].dn, ids[i].ds, MQTTSIGN_HMACSHA256,
                                           &cr), 0);
            if (broker_check(&cr, ids[i].ds, why, sizeof why) != 0)
                fail_msg("identity %zu (sha256) refused: %s", i, why);
            assert_int_equal(strlen(cr.password), 64);
            for (const char *q = cr.password; *q; q++)
                assert_false(*q >= 'a' && *q <= 'f');
            assert_int_equal(alisign_credentials(ids[i].pk, ids[i].dn, ids[i].ds,
                                                 ALISIGN_HMACSHA256, 1, acid, auser, apass), 0);
            assert_string_equal(cr.client_id, acid);
            assert_string_equal(cr.username, auser);
            assert_string_equal(cr.password, apass);
        }
    }
}

static void test_wrong_secret_refused(void **state)
{
    struct mqttsign_creds cr;
    char why[256];

    (void)state;
    assert_int_equal(mqttsign_make(OTAHIL_DEFAULT_PK, OTAHIL_DEFAULT_DN, "wrong", MQTTSIGN_HMACSHA1,
                                   &cr), 0);
    assert_int_equal(broker_check(&cr, OTAHIL_DEFAULT_SECRET, why, sizeof why), -1);
    assert_non_null(strstr(why, "does not match"));
}

static void test_bad_identity(void **state)
{
    struct mqttsign_creds cr;
    char dn33[34], pk21[22], ds65[66];

    (void)state;
    memset(dn33, 'd', 33);
    dn33[33] = '\0';
    memset(pk21, 'p', 21);
    pk21[21] = '\0';
    memset(ds65, 's', 65);
    ds65[65] = '\0';
    assert_int_equal(mqttsign_make("", "d", "s", MQTTSIGN_HMACSHA1, &cr), -1);
    assert_string_equal(cr.client_id, "");
    assert_int_equal(mqttsign_make("p", "", "s", MQTTSIGN_HMACSHA1, &cr), -1);
    assert_int_equal(mqttsign_make("p", dn33, "s", MQTTSIGN_HMACSHA1, &cr), -1);
    assert_int_equal(mqttsign_make(pk21, "d", "s", MQTTSIGN_HMACSHA1, &cr), -1);
    assert_int_equal(mqttsign_make("p", "d", ds65, MQTTSIGN_HMACSHA1, &cr), -1);
    assert_int_equal(mqttsign_make(NULL, "d", "s", MQTTSIGN_HMACSHA1, &cr), -1);
    assert_int_equal(mqttsign_make("p", "d", "s", (enum mqttsign_method)9, &cr), -1);
    assert_string_equal(cr.password, "");
    assert_int_equal(mqttsign_make("p", "d", "s", MQTTSIGN_HMACSHA1, NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted_and_same_as_native),
        cmocka_unit_test(test_wrong_secret_refused),
        cmocka_unit_test(test_bad_identity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
