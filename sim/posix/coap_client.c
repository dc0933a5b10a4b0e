/*
 * coap_client.c - the CoAP calls of ota_hal_os.h (spec §3, §11) on a host,
 * through libcoap's client: one exchange at a time, run to its response or
 * OTA_COAP_WAIT_MS in the caller's thread, the callback called before the
 * send returns; coaps:// is DTLS: with a CA (coap_client_ca()) the server's
 * certificate must chain to it and name the host, as ota_ssl_connect does,
 * and the device shows none of its own; without one, a pre-shared key
 * (identity "PK&DN", key the device secret). A refused handshake fails the
 * exchange at once (coap.dtls_failed with OpenSSL's reason). The native
 * device calls it as its OS layer (os_posix.c), the QEMU target's relay on
 * the firmware's behalf (conformance/qemu.c, QMBOX_OP_COAP_*), so both run
 * this one client. Host code (libcoap, OpenSSL, cJSON).
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <coap3/coap.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "ota_hal_os.h"
#include "sim/posix/coap_client.h"
#include "sim/util/event.h"

static const char *g_coap_ca; /* PEM file for coaps:// with certificates; NULL: PSK */

void coap_client_ca(const char *ca_file)
{
    g_coap_ca = ca_file;
}

#define COAP_RX_MAX 2048 /* largest response payload kept */

/* A response as the callbacks see it: copied out of libcoap's PDU. */
struct ota_coap_msg {
    int      code;                 /* class << 5 | detail */
    uint8_t  payload[COAP_RX_MAX];
    int      len;
    int      has_block2;
    uint32_t block2;               /* raw option value */
    uint8_t  etag[8];
    int      etag_len;             /* -1: no ETag */
    uint8_t  size2[8];
    int      size2_len;            /* -1: no Size2 */
};

struct ota_coap {
    coap_context_t *ctx;
    coap_session_t *sess;
    iotx_deviceinfo_t dev;
    char     token[65];            /* auth token, "" before DeviceNameAuth */
    pthread_mutex_t mu;            /* one exchange at a time (libcoap is not thread-safe) */
    uint8_t  tok[8];               /* CoAP token of the exchange in flight */
    size_t   toklen;
    int      done;
    struct ota_coap_msg rx;
    int      pki;                  /* coaps with certificates */
    char     host[128];            /* the server's address, checked against its certificate */
    char     ca[4096];             /* the CA file (pki) */
    char     why[200];             /* why the last handshake failed, "" if none did */
    int      failed;               /* the exchange in flight ended without an answer */
};

static pthread_once_t g_coap_once = PTHREAD_ONCE_INIT;
static void coap_once(void)
{
    coap_startup();
    coap_set_log_level(LOG_EMERG);
}

static coap_response_t coap_on_response(coap_session_t *sess, const coap_pdu_t *sent,
                                        const coap_pdu_t *rcv, const coap_mid_t mid)
{
    struct ota_coap *c = coap_get_app_data(coap_session_get_context(sess));
    coap_bin_const_t t = coap_pdu_get_token(rcv);
    coap_opt_iterator_t it;
    coap_opt_t *o;
    const uint8_t *data;
    size_t len;

    (void)sent;
    (void)mid;
    if (c->done || t.length != c->toklen || memcmp(t.s, c->tok, t.length) != 0)
        return COAP_RESPONSE_OK; /* late answer to an exchange given up */
    memset(&c->rx, 0, sizeof c->rx);
    c->rx.code = (int)coap_pdu_get_code(rcv);
    c->rx.etag_len = c->rx.size2_len = -1;
    if (coap_get_data(rcv, &len, &data)) {
        c->rx.len = len > COAP_RX_MAX ? COAP_RX_MAX : (int)len;
        memcpy(c->rx.payload, data, (size_t)c->rx.len);
    }
    coap_option_iterator_init(rcv, &it, COAP_OPT_ALL);
    while ((o = coap_option_next(&it)) != NULL) {
        size_t ol = coap_opt_length(o);
        if (it.number == COAP_OPTION_BLOCK2 && ol <= 3) {
            c->rx.has_block2 = 1;
            c->rx.block2 = coap_decode_var_bytes(coap_opt_value(o), ol);
        } else if (it.number == COAP_OPTION_ETAG && ol <= sizeof c->rx.etag) {
            c->rx.etag_len = (int)ol;
            memcpy(c->rx.etag, coap_opt_value(o), ol);
        } else if (it.number == COAP_OPTION_SIZE2 && ol <= sizeof c->rx.size2) {
            c->rx.size2_len = (int)ol;
            memcpy(c->rx.size2, coap_opt_value(o), ol);
        }
    }
    c->done = 1;
    return COAP_RESPONSE_OK;
}

/* libcoap's call once OpenSSL has checked the chain against the CA file
 * (ca_file, loaded by libcoap with check_common_ca) and the dates: the
 * server's certificate (depth 0) must also name the host we dialled, an IP
 * literal against its subjectAltName IP entries, as ota_ssl_connect. */
static int coap_pki_cn(const char *cn, const uint8_t *der, size_t len, coap_session_t *sess,
                       unsigned depth, int validated, void *arg)
{
    struct ota_coap *c = arg;
    const unsigned char *p = der;
    X509 *x;
    struct in_addr a;
    int ok;

    (void)sess;
    if (depth != 0)
        return 1;
    x = d2i_X509(NULL, &p, (long)len);
    ok = x && validated &&
         (inet_pton(AF_INET, c->host, &a) == 1 ? X509_check_ip_asc(x, c->host, 0) == 1
                                               : X509_check_host(x, c->host, 0, 0, NULL) == 1);
    X509_free(x);
    if (!ok) {
        snprintf(c->why, sizeof c->why, "certificate verify failed: %s does not name %s",
                 cn ? cn : "the certificate", c->host);
        return 0;
    }
    otahil_event("os", "coap.dtls_verified", "\"peer\":\"%s\",\"host\":\"%s\"", cn ? cn : "",
                 c->host);
    return 1;
}

/* A refused or broken handshake: why, from the verify result when there is one. */
static int coap_on_event(coap_session_t *sess, const coap_event_t ev)
{
    struct ota_coap *c = coap_get_app_data(coap_session_get_context(sess));
    coap_tls_library_t lib;
    SSL *ssl;

    if (ev == COAP_EVENT_DTLS_CONNECTED) {
        ssl = coap_session_get_tls(sess, &lib);
        otahil_event("os", "coap.dtls_connected", "\"auth\":\"%s\",\"cipher\":\"%s\"",
                     c->pki ? "certificate" : "psk",
                     ssl && lib == COAP_TLS_LIBRARY_OPENSSL ? SSL_get_cipher_name(ssl) : "");
        c->why[0] = '\0';
    } else if (ev == COAP_EVENT_DTLS_ERROR) {
        long vr = X509_V_OK;
        ssl = coap_session_get_tls(sess, &lib);
        if (ssl && lib == COAP_TLS_LIBRARY_OPENSSL)
            vr = SSL_get_verify_result(ssl);
        if (c->pki && c->why[0])
            ; /* the host check of coap_pki_cn */
        else if (c->pki && vr != X509_V_OK)
            snprintf(c->why, sizeof c->why, "certificate verify failed: %s",
                     X509_verify_cert_error_string(vr));
        else
            snprintf(c->why, sizeof c->why, "DTLS handshake failed%s",
                     c->pki ? "" : " (pre-shared key refused?)");
        otahil_event("os", "coap.dtls_failed", "\"host\":\"%s\",\"auth\":\"%s\",\"why\":\"%s\"",
                     c->host, c->pki ? "certificate" : "psk", c->why);
        c->failed = c->done = 1; /* the exchange in flight ends now, unanswered */
    }
    return 0;
}

/* A request libcoap gave up on (TLS failure, no route): the exchange ends. */
static void coap_on_nack(coap_session_t *sess, const coap_pdu_t *sent, const coap_nack_reason_t reason,
                         const coap_mid_t mid)
{
    struct ota_coap *c = coap_get_app_data(coap_session_get_context(sess));

    (void)sent;
    (void)mid;
    if (reason == COAP_NACK_TLS_FAILED || reason == COAP_NACK_NOT_DELIVERABLE)
        c->failed = c->done = 1;
}

void *ota_IOT_CoAP_Init(void *p_config)
{
    iotx_coap_config_t *cfg = p_config;
    char host[128];
    int port = 0, dtls;
    const char *u, *colon;
    coap_address_t dst;
    struct ota_coap *c;

    if (!cfg || !cfg->p_url || !cfg->p_devinfo)
        return NULL;
    dtls = strncmp(cfg->p_url, "coaps://", 8) == 0;
    if (!dtls && strncmp(cfg->p_url, "coap://", 7) != 0)
        return NULL;
    u = cfg->p_url + (dtls ? 8 : 7);
    colon = strrchr(u, ':');
    if (!colon || (size_t)(colon - u) >= sizeof host || (port = atoi(colon + 1)) <= 0 || port > 65535)
        return NULL;
    memcpy(host, u, (size_t)(colon - u));
    host[colon - u] = '\0';
    pthread_once(&g_coap_once, coap_once);
    c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->dev = *cfg->p_devinfo;
    pthread_mutex_init(&c->mu, NULL);
    coap_address_init(&dst);
    dst.addr.sin.sin_family = AF_INET;
    dst.addr.sin.sin_port = htons((uint16_t)port);
    dst.size = sizeof dst.addr.sin;
    if (inet_pton(AF_INET, host, &dst.addr.sin.sin_addr) != 1 || !(c->ctx = coap_new_context(NULL)))
        goto fail;
    coap_set_app_data(c->ctx, c);
    coap_register_response_handler(c->ctx, coap_on_response);
    coap_register_event_handler(c->ctx, coap_on_event);
    coap_register_nack_handler(c->ctx, coap_on_nack);
    snprintf(c->host, sizeof c->host, "%s", host);
    if (dtls && g_coap_ca) {
        coap_dtls_pki_t pk;
        if (strlen(g_coap_ca) >= sizeof c->ca)
            goto fail;
        snprintf(c->ca, sizeof c->ca, "%s", g_coap_ca);
        c->pki = 1;
        memset(&pk, 0, sizeof pk);
        pk.version = COAP_DTLS_PKI_SETUP_VERSION;
        pk.verify_peer_cert = 1;      /* chain to the CA, in date */
        pk.check_common_ca = 1;       /* libcoap loads ca_file as the trust anchor */
        pk.allow_self_signed = 0;
        pk.allow_expired_certs = 0;
        pk.cert_chain_validation = 1;
        pk.cert_chain_verify_depth = 3;
        pk.validate_cn_call_back = coap_pki_cn;
        pk.cn_call_back_arg = c;
        pk.pki_key.key_type = COAP_PKI_KEY_PEM;
        pk.pki_key.key.pem.ca_file = c->ca;
        c->sess = coap_new_client_session_pki(c->ctx, NULL, &dst, COAP_PROTO_DTLS, &pk);
    } else if (dtls) {
        static char id[IOTX_PRODUCT_KEY_LEN + IOTX_DEVICE_NAME_LEN + 2];
        coap_dtls_cpsk_t cp;
        memset(&cp, 0, sizeof cp);
        snprintf(id, sizeof id, "%s&%s", c->dev.product_key, c->dev.device_name);
        cp.version = COAP_DTLS_CPSK_SETUP_VERSION;
        cp.psk_info.identity.s = (const uint8_t *)id;
        cp.psk_info.identity.length = strlen(id);
        cp.psk_info.key.s = (const uint8_t *)c->dev.device_secret;
        cp.psk_info.key.length = strlen(c->dev.device_secret);
        c->sess = coap_new_client_session_psk2(c->ctx, NULL, &dst, COAP_PROTO_DTLS, &cp);
    } else {
        c->sess = coap_new_client_session(c->ctx, NULL, &dst, COAP_PROTO_UDP);
    }
    if (!c->sess)
        goto fail;
    otahil_event("os", "coap.client", "\"url\":\"%s\",\"dtls\":%s,\"auth\":\"%s\"", cfg->p_url,
                 dtls ? "true" : "false", !dtls ? "none" : c->pki ? "certificate" : "psk");
    return c;
fail:
    if (c->ctx)
        coap_free_context(c->ctx);
    pthread_mutex_destroy(&c->mu);
    free(c);
    return NULL;
}

/* One CON POST and its response (into c->rx). 0, or -1 when it cannot be
 * sent or no response came within OTA_COAP_WAIT_MS. */
static int coap_exchange(struct ota_coap *c, const char *path, const iotx_message_t *m, int block,
                         uint32_t block_val, int with_token)
{
    coap_pdu_t *pdu = coap_new_pdu(COAP_MESSAGE_CON, COAP_REQUEST_CODE_POST, c->sess);
    uint8_t b[4];
    const char *p = path;
    uint64_t t0;
    struct timespec ts;

    if (!pdu)
        return -1;
    coap_session_new_token(c->sess, &c->toklen, c->tok);
    coap_add_token(pdu, c->toklen, c->tok);
    while (*p) { /* Uri-Path (11): the path split on '/' */
        const char *q;
        while (*p == '/')
            p++;
        q = strchr(p, '/');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        if (n)
            coap_add_option(pdu, COAP_OPTION_URI_PATH, n, (const uint8_t *)p);
        p += n;
    }
    coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
                    coap_encode_var_safe(b, sizeof b, COAP_MEDIATYPE_APPLICATION_JSON), b);
    coap_add_option(pdu, COAP_OPTION_ACCEPT,
                    coap_encode_var_safe(b, sizeof b, COAP_MEDIATYPE_APPLICATION_OCTET_STREAM), b);
    if (block)
        coap_add_option(pdu, COAP_OPTION_BLOCK2, coap_encode_var_safe(b, sizeof b, block_val), b);
    if (with_token) /* COAP_OPTION_AUTH_TOKEN: 2088 as iotkit's cloud CoAP */
        coap_add_option(pdu, 2088, strlen(c->token), (const uint8_t *)c->token);
    if (m && m->p_payload && m->payload_len)
        coap_add_data(pdu, m->payload_len, m->p_payload);
    c->done = c->failed = 0;
    c->why[0] = '\0';
    if (coap_send(c->sess, pdu) == COAP_INVALID_MID)
        return -1;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    t0 = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    for (;;) {
        uint64_t now;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        now = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
        if (c->done)
            return c->failed ? -1 : 0;
        if (now - t0 >= OTA_COAP_WAIT_MS) {
            c->done = 1; /* a late answer is ignored */
            otahil_event("os", "coap.timeout", "\"path\":\"%s\",\"ms\":%d", path, OTA_COAP_WAIT_MS);
            return -1;
        }
        coap_io_process(c->ctx, (uint32_t)(OTA_COAP_WAIT_MS - (now - t0)) < 50
                                    ? (uint32_t)(OTA_COAP_WAIT_MS - (now - t0)) : 50);
    }
}

static void coap_deliver(struct ota_coap *c, iotx_message_t *m)
{
    if (m && m->resp_callback)
        m->resp_callback(m->user_data, &c->rx);
}

int ota_IOT_CoAP_DeviceNameAuth(void *p_context)
{
    struct ota_coap *c = p_context;
    char msg[512], sign[33];
    unsigned char mac[16];
    unsigned int maclen = 0;
    iotx_message_t m;
    int rc;

    if (!c)
        return -1;
    snprintf(msg, sizeof msg, "clientId%sdeviceName%sproductKey%s", c->dev.device_id,
             c->dev.device_name, c->dev.product_key);
    if (!HMAC(EVP_md5(), c->dev.device_secret, (int)strlen(c->dev.device_secret),
              (const unsigned char *)msg, strlen(msg), mac, &maclen) || maclen != 16)
        return -1;
    for (unsigned i = 0; i < 16; i++)
        snprintf(sign + 2 * i, 3, "%02x", mac[i]);
    snprintf(msg, sizeof msg, "{\"productKey\":\"%s\",\"deviceName\":\"%s\",\"clientId\":\"%s\","
             "\"sign\":\"%s\"}", c->dev.product_key, c->dev.device_name, c->dev.device_id, sign);
    memset(&m, 0, sizeof m);
    m.p_payload = (unsigned char *)msg;
    m.payload_len = (unsigned short)strlen(msg);
    pthread_mutex_lock(&c->mu);
    rc = coap_exchange(c, "/auth", &m, 0, 0, 0);
    if (rc == 0 && c->rx.code == IOTX_COAP_RESP_CODE_CONTENT) {
        cJSON *r = cJSON_ParseWithLength((const char *)c->rx.payload, (size_t)c->rx.len);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, "token");
        rc = cJSON_IsString(t) && strlen(t->valuestring) < sizeof c->token ? 0 : -2;
        if (rc == 0)
            snprintf(c->token, sizeof c->token, "%s", t->valuestring);
        cJSON_Delete(r);
    } else if (rc == 0) {
        rc = -3;
    }
    otahil_event("os", "coap.auth_reply", "\"ok\":%s,\"code\":\"%d.%02d\"", rc == 0 ? "true" : "false",
                 c->rx.code >> 5, c->rx.code & 31);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int ota_IOT_CoAP_SendMessage(void *p_context, char *p_path, void *p_message)
{
    struct ota_coap *c = p_context;
    int rc;

    if (!c || !p_path)
        return -1;
    pthread_mutex_lock(&c->mu);
    rc = coap_exchange(c, p_path, p_message, 0, 0, 1);
    if (rc == 0)
        coap_deliver(c, p_message);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int ota_IOT_CoAP_SendMessage_block(void *p_context, char *p_path, void *p_message,
                                   unsigned char block_type, int num, unsigned char more,
                                   unsigned int size)
{
    struct ota_coap *c = p_context;
    unsigned szx = 0;
    int rc;

    if (!c || !p_path || block_type != OTA_COAP_OPTION_BLOCK2 || num < 0 || num > 0xFFFFF)
        return -1;
    while (szx < 6 && (16u << szx) < size)
        szx++;
    if ((16u << szx) != size)
        return -1;
    pthread_mutex_lock(&c->mu);
    rc = coap_exchange(c, p_path, p_message, 1,
                       ((uint32_t)num << 4) | (more ? 8u : 0u) | szx, 1);
    if (rc == 0)
        coap_deliver(c, p_message);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int ota_IOT_CoAP_ParseOption_block(void *p_message, int type, unsigned int *num,
                                   unsigned int *more, unsigned int *size)
{
    const struct ota_coap_msg *m = p_message;

    if (!m || type != OTA_COAP_OPTION_BLOCK2 || !m->has_block2)
        return -1;
    *num = m->block2 >> 4;
    *more = (m->block2 >> 3) & 1u;
    *size = 16u << (m->block2 & 7u);
    return *size > 512 ? 1 : 0;
}

int ota_IOT_CoAP_GetMessagePayload(void *p_message, unsigned char **pp_payload, int *p_len)
{
    struct ota_coap_msg *m = p_message;

    if (!m)
        return -1;
    *pp_payload = m->payload;
    *p_len = m->len;
    return 0;
}

int ota_IOT_CoAP_GetMessageCode(void *p_message, void *p_resp_code)
{
    const struct ota_coap_msg *m = p_message;

    if (!m || !p_resp_code)
        return -1;
    *(iotx_coap_resp_code_t *)p_resp_code = (iotx_coap_resp_code_t)m->code;
    return 0;
}

int ota_IOT_CoAP_GetMessageOption(void *p_message, int number, unsigned char *buf, int *len)
{
    const struct ota_coap_msg *m = p_message;
    const uint8_t *v = NULL;
    int n = -1;

    if (!m || !buf || !len)
        return -1;
    if (number == OTA_COAP_OPTION_ETAG) { v = m->etag; n = m->etag_len; }
    else if (number == OTA_COAP_OPTION_SIZE2) { v = m->size2; n = m->size2_len; }
    if (n < 0 || n > *len)
        return -1;
    memcpy(buf, v, (size_t)n);
    *len = n;
    return 0;
}

int ota_IOT_CoAP_Deinit(void **pp_context)
{
    struct ota_coap *c = pp_context ? *pp_context : NULL;

    if (!c)
        return 0;
    coap_session_release(c->sess);
    coap_free_context(c->ctx);
    pthread_mutex_destroy(&c->mu);
    free(c);
    *pp_context = NULL;
    return 0;
}
