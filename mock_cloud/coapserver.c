/*
 * coapserver.c - the fake cloud's CoAP endpoint (see coapserver.h), on
 * libcoap 4.3 with one thread of its own that runs coap_io_process().
 *
 * Protocol (spec §3): a device first POSTs /auth with its signature; the
 * server checks it against the cloud's registry (HMAC-MD5 over the signed
 * fields, with the device secret) and answers a token drawn from the run's
 * seed. Every later request must carry that token (option 2088 or 61) and
 * may only touch its own device's paths. Firmware goes out in Block2 blocks
 * (RFC 7959) of at most 1024 bytes: the NUM and SZX of the request choose
 * the block, the M bit of a request is ignored (G1 sets it, spec §3.3), and
 * each answer is 2.05 with Block2 (NUM, M, SZX), an ETag (8 bytes of the
 * file's MD5) and Size2 (the file's size).
 *
 * Faults (cloudfault.h, docs/faults.md "CoAP faults") change single block
 * answers: none, a late one, another block, another code, another ETag,
 * another Size2 or SZX. Each fault that fires is a coap.fault event.
 *
 * Not answering: libcoap sends a response only when the handler sets a
 * code, so a dropped block leaves the request with the empty ACK libcoap
 * sends for a CON request (the device waits, then asks again).
 */
#include "mock_cloud/coapserver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <coap3/coap.h>
#include <limits.h>
#include <sched.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>

#include "sim/util/event.h"
#include "sim/util/evlog.h"

#define CS_PATH_MAX     256   /* a request's Uri-Path, joined */
#define CS_TOKEN_LEN    16    /* hex characters of an auth token */
#define CS_FILE_MAX     (64u << 20) /* largest firmware file served */
#define CS_PAYLOAD_MAX  2048  /* largest device message read */

/* Block faults in force and how often each fired. */
struct cs_faults {
    struct cloud_coap_faults f;
    uint32_t dropped, coded;  /* drop_times, code_times used */
    int      dup_done, reorder_done, delay_done;
};

struct cs_dev {
    char     pk[21], dn[33];
    char     token[CS_TOKEN_LEN + 1]; /* "" = not authenticated yet */
    int      own;             /* faults of its own (a tenant, coapserver_set_device_faults) */
    struct cs_faults fs;      /* ... used when own */
};

struct cs_file {
    char     path[4096];      /* "" = none loaded */
    uint8_t *data;
    uint64_t size;
    uint8_t  etag[8];         /* first 8 bytes of the file's MD5 */
};

struct coapserver {
    struct coapserver_ops ops;
    uint64_t         seed;
    unsigned         tokens;        /* tokens issued */
    coap_context_t  *ctx;
    int              port, dtls_port;
    pthread_t        thread;
    volatile int     quit;
    pthread_mutex_t  io;            /* held around coap_io_process(): libcoap is not thread-safe */
    char             pki_cert[4096], pki_key[4096]; /* "" = no certificate offered */
    char             pki_name[32];  /* which test certificate (testca.h name) */
    pthread_mutex_t  mu;            /* guards faults, the counters and the device table */
    struct cs_faults g;             /* the server-wide faults */
    struct cs_dev    dev[COAPSERVER_DEVICES_MAX]; /* entries are never removed */
    int              ndev;
    struct cs_file   file;
    char             psk_secret[65];  /* key handed to libcoap for the current handshake */
    coap_bin_const_t psk_key;
};

static pthread_once_t cs_once = PTHREAD_ONCE_INIT;
/* libcoap's own refusals (a malformed option it answers with a reset before
 * any handler runs) as events: its warnings and errors, one line each. */
static void cs_log(coap_log_t level, const char *message)
{
    char line[256], esc[512];
    size_t n = strlen(message);

    while (n && (message[n - 1] == '\n' || message[n - 1] == ' '))
        n--;
    snprintf(line, sizeof line, "%.*s", (int)(n < 255 ? n : 255), message);
    evlog_emit("coap", "coap.stack", "\"level\":\"%s\",\"line\":\"%s\"",
               level <= LOG_ERR ? "error" : "warning", otahil_json_escape(esc, sizeof esc, line));
}

static void cs_startup(void)
{
    coap_startup();
    coap_set_log_handler(cs_log);
    coap_set_log_level(LOG_WARNING);
}

static uint64_t cs_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

int coapserver_sign(const char *cid, const char *pk, const char *dn, const char *seq,
                    const char *secret, char out[33])
{
    char msg[512];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    int n = snprintf(msg, sizeof msg, "clientId%sdeviceName%sproductKey%s%s%s", cid, dn, pk,
                     seq ? "seq" : "", seq ? seq : "");

    if (n < 0 || (size_t)n >= sizeof msg ||
        !HMAC(EVP_md5(), secret, (int)strlen(secret), (const unsigned char *)msg, (size_t)n, mac,
              &maclen) || maclen != 16)
        return -1;
    for (unsigned i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
    return 0;
}

/* ---- events and answers ---- */

static void cs_code(coap_pdu_t *resp, int code)
{
    coap_pdu_set_code(resp, (coap_pdu_code_t)COAP_RESPONSE_CODE(code));
}

/* An error answer with a short diagnostic payload and an event. */
static void cs_refuse(coap_pdu_t *resp, int code, const char *ev, const char *path,
                      const char *why)
{
    char ep[CS_PATH_MAX * 6], ew[512];

    evlog_emit("coap", ev, "\"path\":\"%s\",\"code\":\"%d.%02d\",\"reason\":\"%s\"",
               otahil_json_escape(ep, sizeof ep, path), code / 100, code % 100,
               otahil_json_escape(ew, sizeof ew, why));
    cs_code(resp, code);
    coap_add_data(resp, strlen(why), (const uint8_t *)why);
}

static void cs_fault(const char *fault, uint32_t block, const char *did)
{
    char ed[512];

    evlog_emit("coap", "coap.fault", "\"fault\":\"%s\",\"block\":%u,\"did\":\"%s\"", fault,
               (unsigned)block, otahil_json_escape(ed, sizeof ed, did));
}

/* ---- the request ---- */

struct cs_req {
    char     path[CS_PATH_MAX];  /* "/a/b/c" */
    char     token[65];          /* auth token option, "" = none */
    int      has_block2;
    uint32_t block2;             /* its value */
    int      block2_len;
    const char *bad;             /* a malformed option, or NULL */
};

static void cs_read_options(const coap_pdu_t *req, struct cs_req *r)
{
    coap_opt_iterator_t it;
    coap_opt_t *o;
    size_t pl = 0;

    memset(r, 0, sizeof *r);
    coap_option_iterator_init(req, &it, COAP_OPT_ALL);
    while ((o = coap_option_next(&it)) != NULL) {
        const uint8_t *v = coap_opt_value(o);
        size_t len = coap_opt_length(o);

        switch (it.number) {
        case COAP_OPTION_URI_PATH:
            if (pl + 1 + len >= sizeof r->path) {
                r->bad = "Uri-Path longer than 255 bytes";
                break;
            }
            for (size_t i = 0; i < len; i++)
                if (v[i] == '/' || v[i] < ' ' || v[i] > '~') {
                    r->bad = "Uri-Path segment with '/' or a non-printable byte";
                    break;
                }
            r->path[pl++] = '/';
            memcpy(r->path + pl, v, len);
            pl += len;
            r->path[pl] = '\0';
            break;
        case COAPSERVER_OPT_TOKEN_CLOUD:
        case COAPSERVER_OPT_TOKEN_LOCAL:
            if (len == 0 || len >= sizeof r->token) {
                r->bad = "auth token option empty or longer than 64 bytes";
                break;
            }
            memcpy(r->token, v, len);
            r->token[len] = '\0';
            break;
        case COAP_OPTION_BLOCK2:
            if (len > 3) {
                r->bad = "Block2 option longer than 3 bytes";
                break;
            }
            r->has_block2 = 1;
            r->block2_len = (int)len;
            r->block2 = coap_decode_var_bytes(v, len);
            break;
        default:
            break;
        }
    }
}

static struct cs_dev *cs_by_token(struct coapserver *s, const char *token)
{
    struct cs_dev *d = NULL;

    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->ndev && !d; i++)
        if (s->dev[i].token[0] && strcmp(s->dev[i].token, token) == 0)
            d = &s->dev[i];
    pthread_mutex_unlock(&s->mu);
    return d;
}

/* The entry of pk/dn, added (without a token) when create is set and there
 * is room. Caller holds mu. */
static struct cs_dev *cs_by_name_locked(struct coapserver *s, const char *pk, const char *dn,
                                        int create)
{
    struct cs_dev *d;

    for (int i = 0; i < s->ndev; i++)
        if (strcmp(s->dev[i].pk, pk) == 0 && strcmp(s->dev[i].dn, dn) == 0)
            return &s->dev[i];
    if (!create || s->ndev == COAPSERVER_DEVICES_MAX || strlen(pk) >= sizeof d->pk ||
        strlen(dn) >= sizeof d->dn)
        return NULL;
    d = &s->dev[s->ndev];
    memset(d, 0, sizeof *d);
    snprintf(d->pk, sizeof d->pk, "%s", pk);
    snprintf(d->dn, sizeof d->dn, "%s", dn);
    s->ndev++;
    return d;
}

static const char *cs_json_str(const cJSON *o, const char *k, size_t max)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    return cJSON_IsString(v) && v->valuestring[0] && strlen(v->valuestring) <= max ? v->valuestring
                                                                                   : NULL;
}

/* POST /auth (spec §3.1). */
static void cs_auth(struct coapserver *s, const uint8_t *data, size_t len, coap_pdu_t *resp)
{
    char secret[65], want[33], got[65], epk[200], edn[200], ecid[400], reply[128];
    const char *pk, *dn, *cid, *sign, *seq = NULL;
    cJSON *root = cJSON_ParseWithLength((const char *)data, len);
    const cJSON *vseq;
    struct cs_dev *d;

    if (!root || !cJSON_IsObject(root)) {
        cs_refuse(resp, 400, "coap.auth_refused", "/auth", "payload is not a JSON object");
        cJSON_Delete(root);
        return;
    }
    pk = cs_json_str(root, "productKey", 20);
    dn = cs_json_str(root, "deviceName", 32);
    cid = cs_json_str(root, "clientId", 128);
    if (!cid) { /* any clientId, even "": G1 sends the product secret (spec §3.1) */
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "clientId");
        cid = cJSON_IsString(v) && strlen(v->valuestring) <= 128 ? v->valuestring : NULL;
    }
    sign = cs_json_str(root, "sign", 64);
    vseq = cJSON_GetObjectItemCaseSensitive(root, "seq");
    if (cJSON_IsString(vseq) && strlen(vseq->valuestring) <= 20)
        seq = vseq->valuestring;
    if (!pk || !dn || !cid || !sign) {
        cs_refuse(resp, 400, "coap.auth_refused", "/auth",
                  !pk ? "productKey missing, empty or over 20 characters"
                  : !dn ? "deviceName missing, empty or over 32 characters"
                  : !cid ? "clientId missing, not a string or over 128 characters"
                         : "sign missing, empty or over 64 characters");
        cJSON_Delete(root);
        return;
    }
    otahil_json_escape(epk, sizeof epk, pk);
    otahil_json_escape(edn, sizeof edn, dn);
    otahil_json_escape(ecid, sizeof ecid, cid);
    if (s->ops.route)
        s->ops.route(s->ops.ctx, pk, dn); /* cs_handler restores the route */
    if (s->ops.secret(s->ops.ctx, pk, dn, secret, sizeof secret) != 0) {
        evlog_emit("coap", "coap.auth_refused", "\"pk\":\"%s\",\"dn\":\"%s\",\"client_id\":\"%s\","
                   "\"code\":\"4.01\",\"reason\":\"device not registered\"", epk, edn, ecid);
        cs_code(resp, 401);
        cJSON_Delete(root);
        return;
    }
    snprintf(got, sizeof got, "%s", sign);
    for (char *p = got; *p; p++)
        if (*p >= 'A' && *p <= 'F')
            *p = (char)(*p - 'A' + 'a');
    if (coapserver_sign(cid, pk, dn, seq, secret, want) != 0 || strlen(got) != 32 ||
        CRYPTO_memcmp(got, want, 32) != 0) {
        evlog_emit("coap", "coap.auth_refused", "\"pk\":\"%s\",\"dn\":\"%s\",\"client_id\":\"%s\","
                   "\"code\":\"4.01\",\"reason\":\"%s\"", epk, edn, ecid,
                   strlen(got) != 32 ? "sign is not 32 hex digits (HMAC-MD5)"
                                     : "sign does not match (wrong secret, other fields signed, "
                                       "or another device's signature)");
        cs_code(resp, 401);
        cJSON_Delete(root);
        return;
    }
    pthread_mutex_lock(&s->mu);
    d = cs_by_name_locked(s, pk, dn, 1);
    if (!d) {
        pthread_mutex_unlock(&s->mu);
        cs_refuse(resp, 503, "coap.auth_refused", "/auth", "device table full");
        cJSON_Delete(root);
        return;
    }
    /* A new token at every auth: the old one is refused from now on. */
    snprintf(d->token, sizeof d->token, "%016llx",
             (unsigned long long)cs_mix(s->seed ^ cs_mix(++s->tokens)));
    pthread_mutex_unlock(&s->mu);
    s->ops.coap_device(s->ops.ctx, pk, dn);
    evlog_emit("coap", "coap.auth", "\"pk\":\"%s\",\"dn\":\"%s\",\"client_id\":\"%s\",\"with_seq\":%s,"
               "\"token\":\"%s\"", epk, edn, ecid, seq ? "true" : "false", d->token);
    snprintf(reply, sizeof reply, "{\"token\":\"%s\",\"seqOffset\":1}", d->token);
    cs_code(resp, 205);
    {
        uint8_t b[4];
        coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT,
                        coap_encode_var_safe(b, sizeof b, COAP_MEDIATYPE_APPLICATION_JSON), b);
    }
    coap_add_data(resp, strlen(reply), (const uint8_t *)reply);
    cJSON_Delete(root);
}

/* Loads path into the one-file cache. 0 or -1. */
static int cs_load(struct coapserver *s, const char *path, uint64_t size)
{
    FILE *fp;
    uint8_t *data;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (s->file.data && strcmp(s->file.path, path) == 0 && s->file.size == size)
        return 0;
    if (size > CS_FILE_MAX)
        return -1;
    fp = fopen(path, "rb");
    if (!fp)
        return -1;
    data = malloc(size ? size : 1);
    if (!data || fread(data, 1, size, fp) != size) {
        free(data);
        fclose(fp);
        return -1;
    }
    fclose(fp);
    if (!EVP_Digest(data, size, md, &mdlen, EVP_md5(), NULL)) {
        free(data);
        return -1;
    }
    free(s->file.data);
    s->file.data = data;
    s->file.size = size;
    snprintf(s->file.path, sizeof s->file.path, "%s", path);
    memcpy(s->file.etag, md, sizeof s->file.etag);
    return 0;
}

/* POST /topic/ota/device/download/{pk}/{dn} (spec §3.3). */
static void cs_download(struct coapserver *s, struct cs_dev *d, const struct cs_req *r,
                        coap_pdu_t *resp)
{
    char path[4096], did[200];
    uint64_t size = 0;
    uint32_t num = r->has_block2 ? r->block2 >> 4 : 0;
    int szx = r->has_block2 ? (int)(r->block2 & 7) : COAPSERVER_BLOCK_SZX;
    struct cloud_coap_faults f;
    struct cs_faults *fs;
    uint8_t b[8], etag[8];
    int code = 205, delay = 0;

    if (szx == 7) {
        cs_refuse(resp, 400, "coap.bad_request", r->path,
                  "Block2 SZX 7 is reserved (no block size 2048)");
        return;
    }
    if (s->ops.firmware(s->ops.ctx, d->pk, d->dn, path, sizeof path, &size) != 0) {
        cs_refuse(resp, 404, "coap.refused", r->path, "no firmware pushed to this device");
        return;
    }
    if (cs_load(s, path, size) != 0) {
        cs_refuse(resp, 500, "coap.refused", r->path, "firmware file cannot be read");
        return;
    }
    if (szx > COAPSERVER_BLOCK_SZX)
        szx = COAPSERVER_BLOCK_SZX;
    uint32_t asked = num;
    pthread_mutex_lock(&s->mu);
    fs = d->own ? &d->fs : &s->g;
    f = fs->f;
#define CS_HAS(k) ((f.set >> (k)) & 1u)
    if (CS_HAS(CF_C_DROP_BLOCK) && num == f.drop_block &&
        fs->dropped < (CS_HAS(CF_C_DROP_TIMES) ? f.drop_times : 1)) {
        fs->dropped++;
        snprintf(did, sizeof did, "request %u for block %u not answered", (unsigned)fs->dropped,
                 (unsigned)num);
        pthread_mutex_unlock(&s->mu);
        cs_fault("drop_block", num, did);
        return; /* no code set: libcoap sends only the empty ACK */
    }
    if (CS_HAS(CF_C_CODE_BLOCK) && num == f.code_block &&
        fs->coded < (CS_HAS(CF_C_CODE_TIMES) ? f.code_times : 1)) {
        fs->coded++;
        code = f.code;
    }
    if (CS_HAS(CF_C_DUPLICATE_BLOCK) && !fs->dup_done && num == f.duplicate_block + 1) {
        fs->dup_done = 1;
        num = f.duplicate_block;
    } else if (CS_HAS(CF_C_REORDER_BLOCK) && !fs->reorder_done && num == f.reorder_block) {
        fs->reorder_done = 1;
        num = f.reorder_block + 1;
    }
    if (CS_HAS(CF_C_DELAY_BLOCK) && !fs->delay_done && num == f.delay_block) {
        fs->delay_done = 1;
        delay = (int)f.delay_ms;
    }
    pthread_mutex_unlock(&s->mu);

    if (code != 205) {
        snprintf(did, sizeof did, "block %u answered %d.%02d", (unsigned)num, code / 100, code % 100);
        cs_fault("code", num, did);
        evlog_emit("coap", "coap.block", "\"pk\":\"%s\",\"dn\":\"%s\",\"num\":%u,\"szx\":%d,"
                   "\"offset\":%llu,\"bytes\":0,\"more\":false,\"code\":\"%d.%02d\"", d->pk, d->dn,
                   (unsigned)asked, szx, (unsigned long long)asked << (szx + 4), code / 100,
                   code % 100);
        cs_code(resp, code);
        return;
    }
    if (num != asked) {
        snprintf(did, sizeof did, "the request for block %u answered with block %u",
                 (unsigned)asked, (unsigned)num);
        cs_fault(num < asked ? "duplicate_block" : "reorder_block", asked, did);
    }
    if (delay) {
        struct timespec ts = { delay / 1000, (long)(delay % 1000) * 1000000L };
        snprintf(did, sizeof did, "block %u answered %d ms late", (unsigned)num, delay);
        cs_fault("delay_block", num, did);
        nanosleep(&ts, NULL);
    }
    /* The answer's block size: the asked one, or the fault's. */
    int rszx = CS_HAS(CF_C_BLOCK_SZX) ? f.block_szx : szx;
    uint64_t bs = rszx == 7 ? 1024 : 16u << rszx;
    uint64_t off = (uint64_t)num << (szx + 4);
    uint32_t rnum = (uint32_t)(off / bs);
    off = (uint64_t)rnum * bs;
    if (CS_HAS(CF_C_BLOCK_SZX) && rszx != szx) {
        snprintf(did, sizeof did, "block %u answered with SZX %d (%s) for SZX %d", (unsigned)num,
                 rszx, rszx == 7 ? "reserved" : "another size", szx);
        cs_fault("block_szx", num, did);
    }
    if (off >= s->file.size && !(off == 0 && s->file.size == 0)) {
        cs_refuse(resp, 402, "coap.refused", r->path, "block beyond the end of the file");
        return;
    }
    uint64_t len = s->file.size - off < bs ? s->file.size - off : bs;
    int more = off + len < s->file.size;
    uint64_t size2 = s->file.size;
    memcpy(etag, s->file.etag, sizeof etag);
    if (CS_HAS(CF_C_ETAG_CHANGE_AT) && num >= f.etag_change_at) {
        etag[7] ^= 0x5a;
        if (num == f.etag_change_at) {
            snprintf(did, sizeof did, "ETag changed from block %u on", (unsigned)num);
            cs_fault("etag_change_at", num, did);
        }
    }
    if (CS_HAS(CF_C_SIZE2_DELTA)) {
        size2 = (uint64_t)((int64_t)size2 + f.size2_delta);
        if (num == 0 || asked == num) {
            snprintf(did, sizeof did, "Size2 %llu for a %llu-byte file", (unsigned long long)size2,
                     (unsigned long long)s->file.size);
            if (rnum == 0)
                cs_fault("size2_delta", num, did);
        }
    }
#undef CS_HAS
    cs_code(resp, 205);
    coap_add_option(resp, COAP_OPTION_ETAG, sizeof etag, etag);
    coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT,
                    coap_encode_var_safe(b, sizeof b, COAP_MEDIATYPE_APPLICATION_OCTET_STREAM), b);
    coap_add_option(resp, COAP_OPTION_BLOCK2,
                    coap_encode_var_safe(b, sizeof b, (rnum << 4) | (more ? 8u : 0u) | (unsigned)rszx),
                    b);
    coap_add_option(resp, COAP_OPTION_SIZE2, coap_encode_var_safe8(b, sizeof b, size2), b);
    coap_add_data(resp, (size_t)len, s->file.data + off);
    evlog_emit("coap", "coap.block", "\"pk\":\"%s\",\"dn\":\"%s\",\"num\":%u,\"szx\":%d,"
               "\"offset\":%llu,\"bytes\":%llu,\"more\":%s,\"code\":\"2.05\"", d->pk, d->dn,
               (unsigned)asked, szx, (unsigned long long)((uint64_t)asked << (szx + 4)),
               (unsigned long long)len, more ? "true" : "false");
}

static void cs_handle(coap_resource_t *res, coap_session_t *sess, const coap_pdu_t *req,
                      const coap_string_t *query, coap_pdu_t *resp)
{
    struct coapserver *s = coap_get_app_data(coap_session_get_context(sess));
    struct cs_req r;
    const uint8_t *data = NULL;
    size_t len = 0;
    char kind[16], pk[64], dn[64], topic[CS_PATH_MAX];
    struct cs_dev *d;

    (void)res;
    (void)query;
    cs_read_options(req, &r);
    if (r.bad) {
        cs_refuse(resp, 402, "coap.bad_request", r.path, r.bad);
        return;
    }
    if (!coap_get_data(req, &len, &data)) {
        data = (const uint8_t *)"";
        len = 0;
    }
    if (len > CS_PAYLOAD_MAX) {
        cs_refuse(resp, 413, "coap.bad_request", r.path, "payload over 2048 bytes");
        return;
    }
    if (strcmp(r.path, "/auth") == 0) {
        cs_auth(s, data, len, resp);
        return;
    }
    if (!r.token[0]) {
        cs_refuse(resp, 401, "coap.refused", r.path, "no auth token (option 2088 or 61)");
        return;
    }
    d = cs_by_token(s, r.token);
    if (!d) {
        cs_refuse(resp, 401, "coap.refused", r.path, "unknown or expired auth token");
        return;
    }
    if (sscanf(r.path, "/topic/ota/device/%15[^/]/%63[^/]/%63[^/]", kind, pk, dn) != 3 ||
        (size_t)snprintf(topic, sizeof topic, "/topic/ota/device/%s/%s/%s", kind, pk, dn) !=
            strlen(r.path) ||
        strcmp(topic, r.path) != 0) {
        cs_refuse(resp, 404, "coap.refused", r.path, "not /topic/ota/device/KIND/{pk}/{dn}");
        return;
    }
    if (strcmp(pk, d->pk) != 0 || strcmp(dn, d->dn) != 0) {
        cs_refuse(resp, 403, "coap.refused", r.path, "the token belongs to another device");
        return;
    }
    if (s->ops.route)
        s->ops.route(s->ops.ctx, d->pk, d->dn); /* what follows is about this device */
    if (strcmp(kind, "download") == 0) {
        cs_download(s, d, &r, resp);
        return;
    }
    if (strcmp(kind, "inform") && strcmp(kind, "progress") && strcmp(kind, "request")) {
        cs_refuse(resp, 404, "coap.refused", r.path, "unknown topic kind");
        return;
    }
    int rlen = 0;
    char *reply = s->ops.message(s->ops.ctx, topic + strlen("/topic"), (const char *)data, len,
                                 &rlen);
    evlog_emit("coap", "coap.message", "\"kind\":\"%s\",\"pk\":\"%s\",\"dn\":\"%s\",\"bytes\":%zu,"
               "\"reply_bytes\":%d", kind, d->pk, d->dn, len, reply ? rlen : 0);
    if (strcmp(kind, "request") == 0) {
        uint8_t b[4];
        cs_code(resp, 205);
        coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT,
                        coap_encode_var_safe(b, sizeof b, COAP_MEDIATYPE_APPLICATION_JSON), b);
        if (reply && rlen > 0)
            coap_add_data(resp, (size_t)rlen, (const uint8_t *)reply);
    } else {
        cs_code(resp, 204);
    }
    free(reply);
}

/* Every request: the events about a device go where the service routes
 * them (ops.route); the thread's route is restored afterwards. */
static void cs_handler(coap_resource_t *res, coap_session_t *sess, const coap_pdu_t *req,
                       const coap_string_t *query, coap_pdu_t *resp)
{
    char *prev = evlog_route_push(evlog_route_get());

    cs_handle(res, sess, req, query, resp);
    evlog_route_pop(prev);
}

/* DTLS-PSK: identity "PK&DN", key = the device secret. */
static const coap_bin_const_t *cs_psk_id(coap_bin_const_t *identity, coap_session_t *sess,
                                         void *arg)
{
    struct coapserver *s = arg;
    char id[64], pk[32], dn[40];
    const char *amp;

    (void)sess;
    if (!identity || identity->length == 0 || identity->length >= sizeof id)
        return NULL;
    memcpy(id, identity->s, identity->length);
    id[identity->length] = '\0';
    amp = strchr(id, '&');
    if (!amp || amp == id || strlen(amp + 1) == 0 || (size_t)(amp - id) >= sizeof pk ||
        strlen(amp + 1) >= sizeof dn) {
        evlog_emit("coap", "coap.dtls_refused", "\"reason\":\"PSK identity is not PK&DN\"");
        return NULL;
    }
    memcpy(pk, id, (size_t)(amp - id));
    pk[amp - id] = '\0';
    snprintf(dn, sizeof dn, "%s", amp + 1);
    if (s->ops.secret(s->ops.ctx, pk, dn, s->psk_secret, sizeof s->psk_secret) != 0) {
        evlog_emit("coap", "coap.dtls_refused", "\"reason\":\"PSK identity of an unregistered "
                   "device\"");
        return NULL;
    }
    /* A wrong key shows as this event with no coap.dtls_connected after it. */
    {
        char *prev = evlog_route_push(evlog_route_get());
        if (s->ops.route)
            s->ops.route(s->ops.ctx, pk, dn);
        evlog_emit("coap", "coap.dtls_psk", "\"pk\":\"%s\",\"dn\":\"%s\"", pk, dn);
        evlog_route_pop(prev);
    }
    s->psk_key.s = (const uint8_t *)s->psk_secret;
    s->psk_key.length = strlen(s->psk_secret);
    return &s->psk_key;
}

/* DTLS sessions: connected (with how the peer authenticated: a pre-shared
 * key, or the server's certificate), or an error libcoap reports on an
 * established one. */
static int cs_event(coap_session_t *sess, const coap_event_t ev)
{
    coap_tls_library_t lib;
    SSL *ssl;

    if (ev == COAP_EVENT_DTLS_CONNECTED) {
        ssl = coap_session_get_tls(sess, &lib);
        if (ssl && lib == COAP_TLS_LIBRARY_OPENSSL && !SSL_get_psk_identity(ssl))
            evlog_emit("coap", "coap.dtls_connected", "\"auth\":\"certificate\",\"cipher\":\"%s\"",
                       SSL_get_cipher_name(ssl));
        else
            evlog_emit("coap", "coap.dtls_connected", "\"auth\":\"psk\"");
    } else if (ev == COAP_EVENT_DTLS_ERROR) {
        evlog_emit("coap", "coap.dtls_failed", NULL);
    }
    return 0;
}

static void *cs_main(void *arg)
{
    struct coapserver *s = arg;

    while (!s->quit) {
        pthread_mutex_lock(&s->io);
        coap_io_process(s->ctx, 50);
        pthread_mutex_unlock(&s->io);
        sched_yield(); /* let coapserver_set_pki() take the lock */
    }
    return NULL;
}

/* A UDP port that is free on 127.0.0.1 now. 0 on failure. */
static int cs_free_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    int fd = socket(AF_INET, SOCK_DGRAM, 0), port = 0;

    if (fd < 0)
        return 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static coap_endpoint_t *cs_endpoint(coap_context_t *ctx, coap_proto_t proto, int *port)
{
    for (int tries = 0; tries < 16; tries++) {
        coap_address_t a;
        coap_endpoint_t *ep;
        int p = cs_free_port();

        if (!p)
            continue;
        coap_address_init(&a);
        a.addr.sin.sin_family = AF_INET;
        a.addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.addr.sin.sin_port = htons((uint16_t)p);
        a.size = sizeof a.addr.sin;
        ep = coap_new_endpoint(ctx, &a, proto);
        if (ep) {
            *port = p;
            return ep;
        }
    }
    return NULL;
}

struct coapserver *coapserver_start(const struct coapserver_ops *ops, uint64_t seed, int psk,
                                    char *err, size_t errlen)
{
    struct coapserver *s = calloc(1, sizeof *s);
    coap_resource_t *r;

    pthread_once(&cs_once, cs_startup);
    if (!s) {
        snprintf(err, errlen, "coap: out of memory");
        return NULL;
    }
    s->ops = *ops;
    s->seed = seed;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->io, NULL);
    s->ctx = coap_new_context(NULL);
    if (!s->ctx) {
        snprintf(err, errlen, "coap: coap_new_context failed");
        goto fail;
    }
    coap_set_app_data(s->ctx, s);
    coap_register_option(s->ctx, COAPSERVER_OPT_TOKEN_LOCAL); /* 61 is critical (odd) */
    coap_register_option(s->ctx, COAPSERVER_OPT_TOKEN_CLOUD);
    coap_register_event_handler(s->ctx, cs_event);
    if (psk && coap_dtls_is_supported()) {
        coap_dtls_spsk_t sp;
        memset(&sp, 0, sizeof sp);
        sp.version = COAP_DTLS_SPSK_SETUP_VERSION;
        sp.validate_id_call_back = cs_psk_id;
        sp.id_call_back_arg = s;
        if (!coap_context_set_psk2(s->ctx, &sp)) {
            snprintf(err, errlen, "coap: DTLS PSK setup failed");
            goto fail;
        }
    }
    if (!cs_endpoint(s->ctx, COAP_PROTO_UDP, &s->port)) {
        snprintf(err, errlen, "coap: no free UDP port on 127.0.0.1");
        goto fail;
    }
    if (psk && coap_dtls_is_supported() && !cs_endpoint(s->ctx, COAP_PROTO_DTLS, &s->dtls_port)) {
        snprintf(err, errlen, "coap: no free UDP port on 127.0.0.1 for DTLS");
        goto fail;
    }
    r = coap_resource_unknown_init2(cs_handler, 0);
    if (!r) {
        snprintf(err, errlen, "coap: resource setup failed");
        goto fail;
    }
    coap_register_handler(r, COAP_REQUEST_POST, cs_handler);
    coap_add_resource(s->ctx, r);
    if (pthread_create(&s->thread, NULL, cs_main, s) != 0) {
        snprintf(err, errlen, "coap: cannot start its thread");
        goto fail;
    }
    evlog_emit("coap", "coap.started", "\"port\":%d,\"dtls_port\":%d,\"dtls\":%s", s->port,
               s->dtls_port, coap_dtls_is_supported() ? "true" : "false");
    return s;
fail:
    if (s->ctx)
        coap_free_context(s->ctx);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->io);
    free(s);
    return NULL;
}

int coapserver_set_pki(struct coapserver *s, const char *cert, const char *key, const char *name,
                       char *err, size_t errlen)
{
    coap_dtls_pki_t pk;
    char ec[PATH_MAX * 2], en[200];
    int ok;

    if (!s->dtls_port) {
        snprintf(err, errlen, "coap: no DTLS endpoint for a certificate");
        return -1;
    }
    if (strlen(cert) >= sizeof s->pki_cert || strlen(key) >= sizeof s->pki_key) {
        snprintf(err, errlen, "coap: certificate path longer than %zu bytes", sizeof s->pki_cert - 1);
        return -1;
    }
    pthread_mutex_lock(&s->io);
    if (s->pki_cert[0]) { /* libcoap takes one PKI setup per context */
        ok = strcmp(s->pki_cert, cert) == 0 && strcmp(s->pki_key, key) == 0;
        pthread_mutex_unlock(&s->io);
        if (!ok)
            snprintf(err, errlen, "coap: the DTLS endpoint already presents %s", s->pki_cert);
        return ok ? 0 : -1;
    }
    snprintf(s->pki_cert, sizeof s->pki_cert, "%s", cert);
    snprintf(s->pki_key, sizeof s->pki_key, "%s", key);
    snprintf(s->pki_name, sizeof s->pki_name, "%s", name ? name : "");
    memset(&pk, 0, sizeof pk);
    pk.version = COAP_DTLS_PKI_SETUP_VERSION;
    pk.verify_peer_cert = 0; /* devices present no certificate */
    pk.pki_key.key_type = COAP_PKI_KEY_PEM;
    pk.pki_key.key.pem.public_cert = s->pki_cert;
    pk.pki_key.key.pem.private_key = s->pki_key;
    ok = coap_context_set_pki(s->ctx, &pk);
    if (!ok)
        s->pki_cert[0] = s->pki_key[0] = '\0';
    pthread_mutex_unlock(&s->io);
    if (!ok) {
        snprintf(err, errlen, "coap: DTLS certificate setup failed for %s", cert);
        return -1;
    }
    evlog_emit("coap", "coap.dtls_pki", "\"cert\":\"%s\",\"name\":\"%s\"",
               otahil_json_escape(ec, sizeof ec, cert), otahil_json_escape(en, sizeof en, s->pki_name));
    return 0;
}

int coapserver_port(const struct coapserver *s) { return s ? s->port : 0; }
int coapserver_dtls_port(const struct coapserver *s) { return s ? s->dtls_port : 0; }

void coapserver_set_faults(struct coapserver *s, const struct cloud_coap_faults *f)
{
    pthread_mutex_lock(&s->mu);
    if (f)
        s->g.f = *f;
    else
        memset(&s->g.f, 0, sizeof s->g.f);
    s->g.dropped = s->g.coded = 0;
    s->g.dup_done = s->g.reorder_done = s->g.delay_done = 0;
    pthread_mutex_unlock(&s->mu);
}

int coapserver_set_device_faults(struct coapserver *s, const char *pk, const char *dn, int own,
                                 const struct cloud_coap_faults *f)
{
    struct cs_dev *d;

    pthread_mutex_lock(&s->mu);
    d = cs_by_name_locked(s, pk, dn, own);
    if (d) {
        d->own = own;
        memset(&d->fs, 0, sizeof d->fs);
        if (own && f)
            d->fs.f = *f;
    }
    pthread_mutex_unlock(&s->mu);
    return d || !own ? 0 : -1;
}

void coapserver_stop(struct coapserver *s)
{
    if (!s)
        return;
    s->quit = 1;
    pthread_join(s->thread, NULL);
    coap_free_context(s->ctx);
    free(s->file.data);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->io);
    free(s);
}
