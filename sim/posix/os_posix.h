/* os_posix.h - configuration of the native device's OS port layer. */
#ifndef OS_POSIX_H
#define OS_POSIX_H

#include <stddef.h>

struct os_posix_cfg {
    const char *broker_host;
    int         broker_port;
    const char *pk, *dn, *ds;
    void      (*on_connected)(void); /* called on every MQTT (re)connect */
    const char *mqtt_ca;       /* PEM file: MQTT over TLS verified against it (mqtts); NULL:
                                * plain TCP */
    unsigned    tls_fragment;  /* 512, 1024, 2048 or 4096: every TLS session asks for the
                                * max_fragment_length extension (RFC 6066) and fails when the
                                * server does not grant it; 0: records up to 16 KiB */
    const char *coap_ca;       /* PEM file: coaps:// is DTLS with certificates, the server's
                                * verified against it (chain and host); NULL: DTLS with the
                                * pre-shared key "PK&DN" / device secret */
};

void os_posix_configure(const struct os_posix_cfg *cfg);

/* Routes OpenSSL's allocations (ota_ssl_* and libmosquitto's TLS alike)
 * through a counter, so TLS sessions report the heap they hold and, with
 * budget > 0, an allocation that would take the total past budget bytes
 * fails: the device's TLS heap (docs/faults.md, "Low-memory TLS"). Must
 * run before anything uses OpenSSL. 0, or -1 when OpenSSL has allocated
 * already. */
int os_posix_tls_heap(size_t budget);
/* The MQTT credentials ota_hal_mqtt_init_instance connects with (spec
 * §2.1, plain TCP): client_id "PK.DN|securemode=3,timestamp=2524608000000,
 * signmethod=hmacsha1,gw=0,ext=0|", user "DN&PK", pass the lowercase hex
 * HMAC-SHA1 (OpenSSL) keyed by ds. Longer identities are truncated. */
void os_posix_mqtt_credentials(const char *pk, const char *dn, const char *ds,
                               char client_id[256], char user[128], char pass[41]);
/* 1 while the MQTT session is up. */
int os_posix_mqtt_connected(void);

#endif
