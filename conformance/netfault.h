/*
 * netfault.h - the transport proxies a fault plan asks for ([proxy.mqtt],
 * [proxy.http], [proxy.coap]; docs/faults.md): one in front of the broker and one in
 * front of the firmware server, each with the plan's faults, seeded by the
 * run's seed. The device is pointed at the proxies: its broker address and
 * the firmware URLs the cloud pushes.
 */
#ifndef OTAHIL_NETFAULT_H
#define OTAHIL_NETFAULT_H

#include <stddef.h>
#include <stdint.h>

struct cloud;
struct fault_plan;
struct proxy;

/* The cloud's ports the proxies go in front of. */
struct netfault_upstream {
    int mqtt;    /* the broker port the device uses (the TLS one with mqtts) */
    int fw;      /* the firmware server's (HTTPS with https) */
    int coap;    /* the CoAP endpoint's UDP port, */
    int coaps;   /* and its DTLS port */
};

struct netfault {
    struct proxy *mqtt, *http, *coap;   /* NULL: that hop is direct */
    struct netfault_upstream up;
    int           coaps;                /* the device's CoAP is DTLS (the cloud's coaps port) */
};

/* Starts the proxies the plan has faults for (none: nothing started) and,
 * for HTTP, makes the cloud advertise the proxy in firmware URLs added
 * afterwards. 0, or -1 with one line in err (a bad spec names it). */
int netfault_start(struct netfault *nf, const struct fault_plan *p, struct cloud *c, uint64_t seed,
                   char *err, size_t errlen);
/* The same in front of the given ports; the caller points the firmware
 * URLs at netfault_http_port() (0: no HTTP proxy). */
int netfault_start_to(struct netfault *nf, const struct fault_plan *p,
                      const struct netfault_upstream *u, uint64_t seed, char *err, size_t errlen);
int netfault_http_port(const struct netfault *nf);
/* The port a device should use for MQTT (c: the cloud, for a netfault
 * never started; NULL after netfault_start_to): the proxy's, or the broker's. */
int netfault_mqtt_port(const struct netfault *nf, const struct cloud *c);
/* The UDP port a device should use for CoAP: the proxy's ([proxy.coap]),
 * or the cloud's CoAP endpoint (its DTLS port with a coaps transport). */
int netfault_coap_port(const struct netfault *nf, const struct cloud *c);
void netfault_stop(struct netfault *nf);

#endif
