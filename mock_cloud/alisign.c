/*
 * alisign.c - Alibaba IoT MQTT credentials (spec §2, the rule of §2.4).
 *
 * The signed string is built from the fields in name order, as the SDKs
 * sort them before signing: clientId, deviceName, ext (only when not 0),
 * productKey, timestamp. The HMAC comes from OpenSSL; the password check
 * lowers both hex strings and compares them in constant time, so a refusal
 * takes as long whichever digit differs.
 */
#include "mock_cloud/alisign.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ALISIGN_MSG_MAX 512   /* the signed string */

const char *alisign_method_name(enum alisign_method m)
{
    return m == ALISIGN_HMACSHA256 ? "hmacsha256" : "hmacsha1";
}

/* A decimal integer, optionally signed, filling the whole of s[0..n). */
static int alisign_int(const char *s, size_t n, long *out)
{
    char buf[24], *end;

    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    errno = 0;
    *out = strtol(buf, &end, 10);
    return errno || *end || end == buf ? -1 : 0;
}

int alisign_parse_cid(const char *client_id, struct alisign_cid *out, char *why, size_t whylen)
{
    const char *bar, *p, *end;
    size_t idlen, len;
    int have_mode = 0, have_method = 0, have_ts = 0;
    long v;

    memset(out, 0, sizeof *out);
    if (!client_id || !client_id[0]) {
        snprintf(why, whylen, "clientId is empty");
        return -1;
    }
    len = strlen(client_id);
    bar = strchr(client_id, '|');
    if (!bar) {
        snprintf(why, whylen, "clientId has no '|' parameter section "
                 "(expected ID|securemode=N,signmethod=M,timestamp=T|)");
        return -1;
    }
    idlen = (size_t)(bar - client_id);
    if (idlen == 0 || idlen > ALISIGN_ID_MAX) {
        snprintf(why, whylen, "clientId id before '|' is %s", idlen ? "longer than 64 characters"
                                                                     : "empty");
        return -1;
    }
    memcpy(out->id, client_id, idlen);
    end = client_id + len - 1;
    if (end == bar || *end != '|') {
        snprintf(why, whylen, "clientId parameter section does not end with '|'");
        return -1;
    }
    for (p = bar + 1; p < end;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        size_t kn, vn;

        if (!eq) {
            snprintf(why, whylen, "clientId parameter '%.*s' has no '='", (int)(stop - p), p);
            return -1;
        }
        kn = (size_t)(eq - p);
        vn = (size_t)(stop - eq - 1);
        if (kn == 10 && memcmp(p, "securemode", 10) == 0) {
            if (alisign_int(eq + 1, vn, &v) != 0 || v < -1 || v > 255) {
                snprintf(why, whylen, "clientId securemode '%.*s' is not an integer",
                         (int)vn, eq + 1);
                return -1;
            }
            out->securemode = (int)v;
            have_mode = 1;
        } else if (kn == 10 && memcmp(p, "signmethod", 10) == 0) {
            if (vn == 8 && strncasecmp(eq + 1, "hmacsha1", 8) == 0)
                out->method = ALISIGN_HMACSHA1;
            else if (vn == 10 && strncasecmp(eq + 1, "hmacsha256", 10) == 0)
                out->method = ALISIGN_HMACSHA256;
            else {
                snprintf(why, whylen, "clientId signmethod '%.*s' is not supported "
                         "(hmacsha1 or hmacsha256)", (int)vn, eq + 1);
                return -1;
            }
            have_method = 1;
        } else if (kn == 9 && memcmp(p, "timestamp", 9) == 0) {
            size_t k;
            for (k = 0; k < vn && eq[1 + k] >= '0' && eq[1 + k] <= '9'; k++)
                ;
            if (vn == 0 || k != vn || vn > ALISIGN_TS_MAX) {
                snprintf(why, whylen, "clientId timestamp '%.*s' is not 1 to 20 decimal digits",
                         (int)vn, eq + 1);
                return -1;
            }
            memcpy(out->ts, eq + 1, vn);
            out->ts[vn] = '\0';
            have_ts = 1;
        } else if (kn == 3 && memcmp(p, "ext", 3) == 0) {
            if (alisign_int(eq + 1, vn, &out->ext) != 0) {
                snprintf(why, whylen, "clientId ext '%.*s' is not an integer", (int)vn, eq + 1);
                return -1;
            }
        }
        p = comma ? comma + 1 : end;
    }
    if (!have_mode || !have_method || !have_ts) {
        snprintf(why, whylen, "clientId has no %s", !have_mode ? "securemode"
                                                     : !have_method ? "signmethod" : "timestamp");
        return -1;
    }
    return 0;
}

int alisign_parse_username(const char *username, char *dn, char *pk, char *why, size_t whylen)
{
    const char *amp;
    size_t dl, pl;

    if (!username || !username[0]) {
        snprintf(why, whylen, "no username (expected DN&PK)");
        return -1;
    }
    amp = strchr(username, '&');
    if (!amp) {
        snprintf(why, whylen, "username has no '&' (expected DN&PK)");
        return -1;
    }
    dl = (size_t)(amp - username);
    pl = strlen(amp + 1);
    if (dl == 0 || dl > ALISIGN_DN_MAX || pl == 0 || pl > ALISIGN_PK_MAX) {
        snprintf(why, whylen, "username %s is %s", dl == 0 || dl > ALISIGN_DN_MAX ? "device name"
                                                                          : "product key",
                 (dl == 0 || pl == 0) ? "empty" : "too long");
        return -1;
    }
    memcpy(dn, username, dl);
    dn[dl] = '\0';
    memcpy(pk, amp + 1, pl + 1);
    return 0;
}

int alisign_password(const struct alisign_cid *cid, const char *pk, const char *dn,
                     const char *secret, int upper, char *out, size_t outlen)
{
    static const char lo[] = "0123456789abcdef", hi[] = "0123456789ABCDEF";
    const char *hx = upper ? hi : lo;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    char msg[ALISIGN_MSG_MAX], ext[32] = "";
    int n;

    if (cid->ext != 0)
        snprintf(ext, sizeof ext, "ext%ld", cid->ext);
    n = snprintf(msg, sizeof msg, "clientId%sdeviceName%s%sproductKey%stimestamp%s", cid->id, dn,
                 ext, pk, cid->ts);
    if (n < 0 || (size_t)n >= sizeof msg || strlen(secret) > ALISIGN_SECRET_MAX)
        return -1;
    if (!HMAC(cid->method == ALISIGN_HMACSHA256 ? EVP_sha256() : EVP_sha1(), secret,
              (int)strlen(secret), (const unsigned char *)msg, (size_t)n, mac, &maclen))
        return -1;
    if (outlen < 2 * (size_t)maclen + 1)
        return -1;
    for (unsigned i = 0; i < maclen; i++) {
        out[2 * i] = hx[mac[i] >> 4];
        out[2 * i + 1] = hx[mac[i] & 15];
    }
    out[2 * maclen] = '\0';
    return 0;
}

int alisign_check(const struct alisign_cid *cid, const char *pk, const char *dn,
                  const char *secret, const char *password, char *why, size_t whylen)
{
    char want[ALISIGN_HEX_MAX + 1], got[ALISIGN_HEX_MAX + 1];
    size_t n = password ? strlen(password) : 0, need;

    if (alisign_password(cid, pk, dn, secret, 0, want, sizeof want) != 0) {
        snprintf(why, whylen, "cannot compute the %s signature", alisign_method_name(cid->method));
        return -1;
    }
    need = strlen(want);
    if (n != need) {
        snprintf(why, whylen, "password is %zu characters, not the %zu hex digits of %s", n, need,
                 alisign_method_name(cid->method));
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = password[i];
        if (ch >= 'A' && ch <= 'F')
            ch = (char)(ch - 'A' + 'a');
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
            snprintf(why, whylen, "password is not hex (character %zu)", i + 1);
            return -1;
        }
        got[i] = ch;
    }
    got[n] = '\0';
    if (CRYPTO_memcmp(got, want, n) != 0) {
        snprintf(why, whylen, "%s signature does not match (wrong secret, or signed with "
                 "other fields)", alisign_method_name(cid->method));
        return -1;
    }
    return 0;
}

int alisign_credentials(const char *pk, const char *dn, const char *secret,
                        enum alisign_method method, int upper, char *client_id,
                        char *username, char *password)
{
    struct alisign_cid cid;

    if (strlen(pk) > ALISIGN_PK_MAX || strlen(dn) > ALISIGN_DN_MAX)
        return -1;
    memset(&cid, 0, sizeof cid);
    snprintf(cid.id, sizeof cid.id, "%s.%s", pk, dn);
    cid.method = method;
    cid.securemode = 3;
    snprintf(cid.ts, sizeof cid.ts, "%s", ALISIGN_DEFAULT_TS);
    snprintf(client_id, ALISIGN_CID_MAX + 1,
             "%s|securemode=3,timestamp=%s,signmethod=%s,gw=0,ext=0|", cid.id, cid.ts,
             alisign_method_name(method));
    snprintf(username, ALISIGN_DN_MAX + ALISIGN_PK_MAX + 2, "%s&%s", dn, pk);
    return alisign_password(&cid, pk, dn, secret, upper, password, ALISIGN_HEX_MAX + 1);
}
