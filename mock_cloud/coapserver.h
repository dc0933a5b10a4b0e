/*
 * coapserver.h - the fake cloud's CoAP face (spec §3): a libcoap server on a
 * free 127.0.0.1 UDP port (and, where libcoap has DTLS, a coaps port with
 * pre-shared keys and, once coapserver_set_pki() gave it one, a server
 * certificate) that takes what a device sends over the CoAP signal
 * channel and serves firmware in Block2 blocks:
 *
 *   POST /auth                                 {"productKey","deviceName","clientId","sign"[,"seq"]}
 *                                              -> {"token":..,"seqOffset":..}
 *   POST /topic/ota/device/inform/{pk}/{dn}     version report
 *   POST /topic/ota/device/progress/{pk}/{dn}   progress
 *   POST /topic/ota/device/request/{pk}/{dn}    -> the push of the device's pending job (§3.2)
 *   POST /topic/ota/device/download/{pk}/{dn}   Block2 -> 2.05, Block2, ETag, Size2 (§3.3)
 *
 * Every request after /auth carries the token in option 2088 or 61 (both
 * are accepted, spec §3.1). What it decides goes to the run's event log as
 * coap.* events (docs/cloud.md, "CoAP"). The service behind it (cloud.c)
 * is reached through an ops table, so jobs and verdicts are the same as
 * over MQTT.
 */
#ifndef COAPSERVER_H
#define COAPSERVER_H

#include <stddef.h>
#include <stdint.h>

#include "mock_cloud/cloudfault.h"

#define COAPSERVER_OPT_TOKEN_CLOUD 2088 /* COAP_OPTION_AUTH_TOKEN, iotkit v2.3.0 cloud CoAP */
#define COAPSERVER_OPT_TOKEN_LOCAL 61   /* the same in the AliOS copy and iotkit's local CoAP */
#define COAPSERVER_BLOCK_SZX       6    /* 1024-byte blocks unless the device asks for less */
#define COAPSERVER_DEVICES_MAX     1024 /* devices held (tokens, own faults): CLOUD_MAX_DEVICES */

/* What the server needs from the cloud service. Called on the server's own
 * thread; each may take the service's lock. */
struct coapserver_ops {
    void *ctx;
    /* 0 and the device secret of a registered device (n >= 65), -1 when the
     * device is not registered. */
    int (*secret)(void *ctx, const char *pk, const char *dn, char *secret, size_t n);
    /* A device authenticated over CoAP: its pushes go to the request
     * mailbox from now on rather than to MQTT. */
    void (*coap_device)(void *ctx, const char *pk, const char *dn);
    /* A device message on topic "/ota/device/KIND/{pk}/{dn}" (KIND inform,
     * progress or request), payload as received. For request, returns the
     * push waiting for the device (heap text, *reply_len set) or NULL when
     * none is; the other kinds return NULL. */
    char *(*message)(void *ctx, const char *topic, const char *payload, size_t len, int *reply_len);
    /* The firmware of the device's pushed job: 0 with its stored file's path
     * and size, -1 when the device has no job in progress. */
    int (*firmware)(void *ctx, const char *pk, const char *dn, char *path, size_t n,
                    uint64_t *size);
    /* Optional (NULL: none): sets the calling thread's event route
     * (evlog_route) for the events about device pk/dn that follow: a
     * tenant's log, or none. The server restores the route after each
     * request. */
    void (*route)(void *ctx, const char *pk, const char *dn);
};

struct coapserver;

/* Starts the server on 127.0.0.1 (a free UDP port) with its own thread.
 * seed makes the tokens; psk non-zero also opens a DTLS (coaps) endpoint
 * when coap_dtls_is_supported(), whose pre-shared key for identity
 * "PK&DN" is the device secret. NULL with a one-line reason in err. */
struct coapserver *coapserver_start(const struct coapserver_ops *ops, uint64_t seed, int psk,
                                    char *err, size_t errlen);

/* The DTLS endpoint also offers a certificate (PEM files cert and key; name
 * is which test certificate, for the coap.dtls_pki event): a device that
 * holds the CA verifies it, one without keeps using its pre-shared key
 * (docs/cloud.md, "CoAP"). libcoap takes one certificate setup per context:
 * setting the same files again is a no-op, other files an error. Safe
 * while the server runs (the next handshake uses it). 0, or -1 with a
 * one-line reason in err (no DTLS endpoint, a file OpenSSL cannot load). */
int coapserver_set_pki(struct coapserver *s, const char *cert, const char *key, const char *name,
                       char *err, size_t errlen);

/* The UDP port; the DTLS port (0 when there is none). */
int coapserver_port(const struct coapserver *s);
int coapserver_dtls_port(const struct coapserver *s);

/* Replaces the block faults (copied; NULL clears them). Each one fires as
 * docs/faults.md, "CoAP faults", says, with a coap.fault event. */
void coapserver_set_faults(struct coapserver *s, const struct cloud_coap_faults *f);

/* Gives device pk/dn block faults of its own (own 1: f copied, NULL: none;
 * the counters start again) used for its downloads instead of the
 * server-wide ones, or takes them away (own 0: the server-wide ones
 * again). 0, or -1 when the device table (COAPSERVER_DEVICES_MAX) is
 * full. */
int coapserver_set_device_faults(struct coapserver *s, const char *pk, const char *dn, int own,
                                 const struct cloud_coap_faults *f);

/* Stops the thread and frees s (NULL is a no-op). */
void coapserver_stop(struct coapserver *s);

/* The sign a device sends to /auth: lowercase hex HMAC-MD5 with secret
 * over "clientId<cid>deviceName<dn>productKey<pk>" (+ "seq<seq>" when seq
 * is non-NULL), into out (33 bytes). 0, or -1 when OpenSSL fails. */
int coapserver_sign(const char *cid, const char *pk, const char *dn, const char *seq,
                    const char *secret, char out[33]);

#endif /* COAPSERVER_H */
