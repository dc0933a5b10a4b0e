/*
 * profile.h - what a port claims (a vendor's port profile, docs/conformance.md):
 * protocol generation, bootloader kind, resume support, hash methods, RSA,
 * transports and board, as a small ini file. Cases whose needs fall outside
 * the claim are SKIP with the reason.
 */
#ifndef OTAHIL_PROFILE_H
#define OTAHIL_PROFILE_H

#include <stddef.h>

/* Capabilities a case may need (bit mask). */
#define CAP_ROLLBACK   0x0001u /* G1: the fifth callback, ota_rollback */
#define CAP_RESUME     0x0002u /* breakpoint resume */
#define CAP_MD5        0x0004u /* signMethod Md5 */
#define CAP_SHA256     0x0008u /* signMethod SHA256 */
#define CAP_RSA        0x0010u /* digestsign (§6.3) */
#define CAP_MQTT_HTTP  0x0020u /* MQTT signalling, HTTP download */
#define CAP_MQTT_HTTPS 0x0040u /* MQTT signalling, HTTPS download */
#define CAP_COAP_HTTP  0x0080u /* CoAP signalling, HTTP download */
#define CAP_COAP_COAP  0x0100u /* CoAP only, Block2 download */
#define CAP_FOOTER     0x0200u /* the image footer check (§6.2) */
#define CAP_BOOT_COPY  0x0400u /* a copy bootloader */
#define CAP_BOOT_PP    0x0800u /* a pingpong (bank swap) bootloader */

struct profile {
    char     path[1024];
    char     name[128];        /* "otahil reference port" */
    char     vendor[128];
    char     generation[8];    /* "g0" (four callbacks) or "g1" (five) */
    char     bootloader[32];   /* "copy", "pingpong" or both, as written */
    char     board[64];        /* board name the port is for */
    char     module[64];       /* the hal_ota_module_t variable; "": found in the sources */
    char     hashes[64];       /* "md5,sha256" as written */
    char     transports[128];  /* "mqtt+http,mqtt+https" as written */
    int      resume;
    int      rsa;
    unsigned caps;             /* CAP_* it claims */
};

/* Loads and validates a profile. -1 with "FILE:LINE: what is wrong" in err. */
int profile_load(struct profile *p, const char *path, char *err, size_t n);

/* The profile of the reference port (boards/ports/reference/profile.ini), or
 * a built-in copy of it when the file cannot be found. */
int profile_reference(struct profile *p, char *err, size_t n);

/* Names of the capabilities in mask, comma-separated, into buf. */
const char *profile_caps_str(unsigned mask, char *buf, size_t n);

#endif
