/*
 * alisign.h - Alibaba IoT MQTT credentials (spec §2): made as a device makes
 * them, checked as the fake broker checks them (spec §2.4).
 *
 *   clientId  ID|securemode=N,signmethod=hmacsha1|hmacsha256,timestamp=TS[,k=v...]|
 *   username  DN&PK
 *   password  hex HMAC (SHA-1: 40 digits, SHA-256: 64), key = deviceSecret,
 *             message = the signed fields sorted by name, each name followed
 *             by its value: clientId ID, deviceName DN, [ext N,] productKey
 *             PK, timestamp TS
 *
 * ID is whatever the device chose (linkkit uses "PK.DN"). securemode must be
 * an integer but need not match the transport (rel_2.0.0 sends 2 over plain
 * TCP). ext enters the signed string only when it is not 0 (the
 * SUPPORT_AUTH_ROUTER variant; rel_2.0.0 sends ext=0 and signs without it).
 * The hex is compared case-insensitively (linkkit writes lowercase SHA-1,
 * iotkit v3 uppercase SHA-256). Other clientId keys (gw, _v, lan,
 * partner_id, module_id, authtype) are accepted and not signed.
 *
 * Used by the broker's auth plugin (broker_auth.c), by the harness's own
 * MQTT clients that act as devices, and by the tests.
 */
#ifndef ALISIGN_H
#define ALISIGN_H

#include <stddef.h>

#define ALISIGN_ID_MAX     64   /* the part of the clientId before '|' */
#define ALISIGN_TS_MAX     20   /* timestamp digits (2524608000000 has 13) */
#define ALISIGN_CID_MAX    256  /* a whole clientId */
#define ALISIGN_PK_MAX     20   /* spec §11 identity limits */
#define ALISIGN_DN_MAX     32
#define ALISIGN_SECRET_MAX 64
#define ALISIGN_HEX_MAX    64   /* hex digits of the longest password (SHA-256) */
#define ALISIGN_DEFAULT_TS "2524608000000" /* GUIDER_DEFAULT_TS_STR (spec §2.1) */

enum alisign_method {
    ALISIGN_HMACSHA1 = 0,   /* "hmacsha1" */
    ALISIGN_HMACSHA256,     /* "hmacsha256" */
};

/* A parsed clientId. */
struct alisign_cid {
    char id[ALISIGN_ID_MAX + 1];  /* before the first '|' */
    enum alisign_method method;
    int  securemode;
    long ext;                     /* 0 when absent */
    char ts[ALISIGN_TS_MAX + 1];  /* decimal digits */
};

/* Parses a clientId of the form above. 0, or -1 with a one-line reason in
 * why naming the field: no '|', an empty or over-long id, a missing final
 * '|', a parameter without '=', a missing or non-integer securemode, a
 * missing or unsupported signmethod (hmacmd5 is not supported), a missing or
 * non-decimal timestamp, a non-integer ext. */
int alisign_parse_cid(const char *client_id, struct alisign_cid *out, char *why, size_t whylen);

/* Splits a username "DN&PK" into dn and pk (buffers of ALISIGN_DN_MAX + 1
 * and ALISIGN_PK_MAX + 1). 0, or -1 with a reason in why: no '&', an empty
 * or over-long part. */
int alisign_parse_username(const char *username, char *dn, char *pk, char *why, size_t whylen);

/* The password for (cid, pk, dn) signed with secret: hex of the HMAC, upper
 * case if upper, into out (at least ALISIGN_HEX_MAX + 1 bytes). 0, or -1
 * when OpenSSL fails or a field is too long. */
int alisign_password(const struct alisign_cid *cid, const char *pk, const char *dn,
                     const char *secret, int upper, char *out, size_t outlen);

/* Checks a password against the one (cid, pk, dn, secret) gives: same
 * length, same hex digits in any case (a constant-time compare). 0 when it
 * matches, -1 with a reason in why: not hex, wrong length for the method,
 * or a signature that does not match (wrong secret or fields signed). */
int alisign_check(const struct alisign_cid *cid, const char *pk, const char *dn,
                  const char *secret, const char *password, char *why, size_t whylen);

/* The three credentials of a device as linkkit makes them (spec §2.1:
 * id "PK.DN", securemode=3, timestamp 2524608000000, gw=0, ext=0), with
 * method and hex case chosen: client_id (ALISIGN_CID_MAX + 1), username
 * (ALISIGN_DN_MAX + ALISIGN_PK_MAX + 2), password (ALISIGN_HEX_MAX + 1).
 * 0, or -1 for an over-long identity or an OpenSSL failure. */
int alisign_credentials(const char *pk, const char *dn, const char *secret,
                        enum alisign_method method, int upper, char *client_id,
                        char *username, char *password);

/* "hmacsha1" or "hmacsha256". */
const char *alisign_method_name(enum alisign_method m);

#endif /* ALISIGN_H */
