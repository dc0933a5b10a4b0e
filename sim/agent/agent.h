/*
 * agent.h - otahil's reference OTA agent: the device side of the protocol,
 * following AliOS rel_2.0.0 (G1) as the spec describes it (§1.7), with the
 * known G1 defects fixed where a correct device must behave better (see
 * docs/ARCHITECTURE.md, "Reference agent"). Freestanding: it reaches the
 * world only through ota_hal_os.h, the OTA HAL (hal/ota.h) and the KV store.
 */
#ifndef OTAHIL_AGENT_H
#define OTAHIL_AGENT_H

#include <stdint.h>

#define AGENT_RESP_MAX_LEN 1216  /* OTA_RESP_MAX_LEN: a push of 1216+ bytes is cut */
#define AGENT_URL_MAX      1024  /* download_url[1024]: URLs are cut at 1023 */
#define AGENT_VERSION_MAX  64    /* KV version entries are 64 bytes */
#define AGENT_READ_SIZE    512   /* OTA_BUFFER_MAX_SIZE - 1 */
#define AGENT_READ_RETRIES 6     /* a 7th failed read ends the download */
#define AGENT_COAP_BLOCK   1024  /* OTA_COAP_BLOCK_SIZE: the block size asked first */
#define AGENT_COAP_RETRIES 10    /* MAX_RETRY: the 11th failed block exchange ends the download */
#define AGENT_COAP_WAIT_MS 5000  /* the wait for each response (G1's semaphore) */
#define AGENT_COAP_POLL_MS 1000  /* request interval while idle (G1 requests once) */

struct agent_cfg {
    const char *pk, *dn, *ds;   /* device identity */
    const char *version;        /* running firmware version (SYSINFO_APP_VERSION) */
    int         confirm;        /* call hal_ota_rollback() once healthy (0: image never confirms) */
    uint32_t    reboot_delay_ms;/* pause before the post-attempt reboot (spec: 3000) */
    int         resume;         /* breakpoint resume (KV key_ota_*) */
    uint32_t    checkpoint;     /* save a breakpoint every this many bytes (a multiple of the
                                   flash sector); 0: only when a download fails, as G1 */
    const char *ca_crt;         /* the CA compiled into the device (PEM) that an https://
                                   download must chain to; NULL: https URLs are refused */
    uint32_t    ca_crt_len;     /* strlen(ca_crt) + 1, as ota_ssl_connect takes it */
    const char *coap_url;       /* "coap://HOST:PORT" (or coaps://): the signal channel is
                                 * CoAP (G1 OTA_SIGNAL_CHANNEL 2, spec §3); NULL: MQTT */
    int         dl_coap;        /* with coap_url: download in Block2 blocks (FOTA_DL_COAP,
                                 * download protocol 1); 0: over HTTP(S) from the push's url */
};

/* Writes KV app_version, connects MQTT and runs the service init: subscribe
 * the upgrade topic, report a pending version, inform, confirm the boot.
 * With cfg->coap_url it authenticates over CoAP instead, reports and
 * informs there, and asks for its push with a request every
 * AGENT_COAP_POLL_MS while idle (a thread of its own).
 * The download runs on its own thread when a push is accepted; every attempt
 * ends in ota_reboot(). 0, or a negative value when MQTT (or the CoAP
 * client) cannot start. */
int agent_start(const struct agent_cfg *cfg);

/* Called by the platform on every MQTT (re)connect: re-runs the service init
 * (G1 apps call ota_service_init from their connected callback). */
void agent_on_connected(void);

/* The G1 version rule (spec §9.4): 1 when new is accepted over current,
 * i.e. strncmp(new, current, strlen(new)) > 0; 0 otherwise. */
int agent_version_newer(const char *new_version, const char *current);

#endif
