/*
 * mqttsign.c - the device's Alibaba MQTT credentials (spec §2.1, §2.3),
 * freestanding: strings put together with bounded appends, the HMAC from
 * sim/crypto/hmac.c fed the signed fields in name order (clientId,
 * deviceName, productKey, timestamp) without building the signed string.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sim/crypto/hmac.h"
#include "mqttsign.h"

/* Appends s to buf (capacity cap including the NUL) at *len; -1 when it
 * does not fit. */
static int put(char *buf, size_t cap, size_t *len, const char *s)
{
    size_t n = strlen(s);

    if (*len + n + 1 > cap)
        return -1;
    memcpy(buf + *len, s, n + 1);
    *len += n;
    return 0;
}

static size_t bounded_len(const char *s, size_t max)
{
    size_t n = 0;

    while (n <= max && s[n])
        n++;
    return n;
}

int mqttsign_make(const char *pk, const char *dn, const char *ds, enum mqttsign_method method,
                  struct mqttsign_creds *out)
{
    static const char lo[] = "0123456789abcdef", hi[] = "0123456789ABCDEF";
    struct hmac_ctx h;
    uint8_t mac[HMAC_MAX_LEN];
    size_t pl, dl, sl, n = 0, maclen;
    const char *hx, *name;
    enum hmac_alg alg;

    if (!out)
        return -1;
    memset(out, 0, sizeof(*out));
    if (!pk || !dn || !ds)
        return -1;
    pl = bounded_len(pk, MQTTSIGN_PK_MAX);
    dl = bounded_len(dn, MQTTSIGN_DN_MAX);
    sl = bounded_len(ds, MQTTSIGN_SECRET_MAX);
    if (pl == 0 || pl > MQTTSIGN_PK_MAX || dl == 0 || dl > MQTTSIGN_DN_MAX ||
        sl > MQTTSIGN_SECRET_MAX)
        return -1;
    if (method == MQTTSIGN_HMACSHA1) {
        alg = HMAC_SHA1;
        hx = lo;
        name = "hmacsha1";
    } else if (method == MQTTSIGN_HMACSHA256) {
        alg = HMAC_SHA256;
        hx = hi;
        name = "hmacsha256";
    } else {
        return -1;
    }

    /* Every length is bounded above, so the buffers hold the longest form. */
    put(out->client_id, sizeof(out->client_id), &n, pk);
    put(out->client_id, sizeof(out->client_id), &n, ".");
    put(out->client_id, sizeof(out->client_id), &n, dn);
    put(out->client_id, sizeof(out->client_id), &n,
        "|securemode=" MQTTSIGN_SECUREMODE ",timestamp=" MQTTSIGN_TS ",signmethod=");
    put(out->client_id, sizeof(out->client_id), &n, name);
    put(out->client_id, sizeof(out->client_id), &n, ",gw=0,ext=0|");
    n = 0;
    put(out->username, sizeof(out->username), &n, dn);
    put(out->username, sizeof(out->username), &n, "&");
    put(out->username, sizeof(out->username), &n, pk);

    hmac_init(&h, alg, ds, sl);
    hmac_update(&h, "clientId", 8);
    hmac_update(&h, pk, pl);
    hmac_update(&h, ".", 1);
    hmac_update(&h, dn, dl);
    hmac_update(&h, "deviceName", 10);
    hmac_update(&h, dn, dl);
    hmac_update(&h, "productKey", 10);
    hmac_update(&h, pk, pl);
    hmac_update(&h, "timestamp" MQTTSIGN_TS, 9 + sizeof(MQTTSIGN_TS) - 1);
    maclen = hmac_final(&h, mac);
    for (size_t i = 0; i < maclen; i++) {
        out->password[2 * i] = hx[mac[i] >> 4];
        out->password[2 * i + 1] = hx[mac[i] & 15];
    }
    out->password[2 * maclen] = '\0';
    memset(mac, 0, sizeof(mac));
    return 0;
}
