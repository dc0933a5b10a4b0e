/*
 * mqttsign.h - the device's Alibaba MQTT credentials (spec §2), made on the
 * device side without host libraries, for firmware that runs its own MQTT
 * client (sim/util/mqttc.h):
 *
 *   clientId  PK.DN|securemode=3,timestamp=2524608000000,signmethod=M,gw=0,ext=0|
 *   username  DN&PK
 *   password  hex HMAC keyed by the device secret over
 *             "clientId" PK.DN "deviceName" DN "productKey" PK "timestamp" TS
 *
 * M = hmacsha1: lowercase hex, 40 digits, as linkkit sdk-c 2.2 (rel_2.0.0,
 * spec §2.1); hmacsha256: uppercase hex, 64 digits, as iotkit v3 (§2.3).
 * securemode=3 (TCP_DIRECT_PLAIN, §2.2): the client runs over plain TCP.
 * The same strings as the native device's (sim/posix/os_posix.c) and the
 * harness's (mock_cloud/alisign.c, whose check the broker's plugin makes).
 */
#ifndef OTAHIL_MQTTSIGN_H
#define OTAHIL_MQTTSIGN_H

#include <stddef.h>

#define MQTTSIGN_PK_MAX     20   /* spec §11 identity limits (as alisign.h) */
#define MQTTSIGN_DN_MAX     32
#define MQTTSIGN_SECRET_MAX 64
#define MQTTSIGN_CID_MAX    160  /* PK.DN (53) + the longest parameter section (74) */
#define MQTTSIGN_USER_MAX   (MQTTSIGN_DN_MAX + 1 + MQTTSIGN_PK_MAX)
#define MQTTSIGN_PASS_MAX   64   /* hex digits of HMAC-SHA256 */
#define MQTTSIGN_TS         "2524608000000" /* GUIDER_DEFAULT_TS_STR (spec §2.1) */
#define MQTTSIGN_SECUREMODE "3"  /* TCP_DIRECT_PLAIN (spec §2.2) */

enum mqttsign_method {
    MQTTSIGN_HMACSHA1 = 0,   /* "hmacsha1", lowercase hex */
    MQTTSIGN_HMACSHA256,     /* "hmacsha256", uppercase hex */
};

/* NUL-terminated credentials for CONNECT. */
struct mqttsign_creds {
    char client_id[MQTTSIGN_CID_MAX + 1];
    char username[MQTTSIGN_USER_MAX + 1];
    char password[MQTTSIGN_PASS_MAX + 1];
};

/* Makes the credentials of device (pk, dn) with secret ds into out.
 * Returns 0, or -1 (out zeroed) when an argument is NULL, pk or dn is empty,
 * pk, dn or ds is longer than its MQTTSIGN_*_MAX, or method is unknown. */
int mqttsign_make(const char *pk, const char *dn, const char *ds, enum mqttsign_method method,
                  struct mqttsign_creds *out);

#endif
