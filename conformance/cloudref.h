/*
 * cloudref.h - the cloud one run talks to: a cloud of its own (cloud.h,
 * in this process), or its tenancy in the certification's one shared cloud
 * (an `otahil cloud` process, reached through its REST API; docs/cloud.md,
 * "Tenants"). run.c drives either through these calls alone, so a run's
 * steps, checks and verdict do not depend on which it has.
 *
 * In the shared cloud the run's device is a tenant: its events (inform,
 * progress, pushes, the GETs of its firmware) are appended by the cloud
 * process to the run's own event log, and its cloud-side faults (the plan's
 * [http], [mqtt] and [coap] sections) act on its downloads and pushes alone.
 * A plan whose fault is the cloud itself (a broker restart, a listener with
 * a bad certificate) cannot share it: cloudref_own_reason() says why, and
 * such a run gets a cloud of its own.
 */
#ifndef OTAHIL_CLOUDREF_H
#define OTAHIL_CLOUDREF_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "conformance/apiclient.h"
#include "mock_cloud/cloud.h"

struct fault_plan;

/* The certification's shared cloud, as its cloud.json describes it. */
struct shared_cloud {
    int  api_port;                 /* REST API and plain HTTP firmware port */
    int  mqtt_port, mqtts_port;
    int  https_port;
    int  coap_port, coaps_port;
    int  pid;                      /* the `otahil cloud` process */
    int  broker_pid;
    char ca[PATH_MAX];             /* the CA its TLS listeners chain to */
    char dir[PATH_MAX];            /* its work directory */
};

/* Starts the shared cloud: `otahil cloud` (this executable) in work
 * directory dir, with every listener (--transport all), seed and the given
 * MQTT and HTTP ports (0: free ones); its output goes to DIR/cloud.log. It
 * is killed with its parent. Waits for DIR/cloud.json. 0 and sc filled, or
 * -1 with one line in err (the cloud's own last line when it exited). */
int shared_cloud_spawn(const char *dir, uint64_t seed, int mqtt_port, int http_port,
                       struct shared_cloud *sc, char *err, size_t errlen);
/* Stops it (SIGTERM, then SIGKILL after 10 s) and reaps it. */
void shared_cloud_stop(struct shared_cloud *sc);

/* Reads DIR/cloud.json into sc. 0, or -1 with one line in err. */
int shared_cloud_read(const char *dir, struct shared_cloud *sc, char *err, size_t errlen);

struct cloudref {
    struct cloud              *local;   /* a cloud of the run's own; NULL when shared */
    const struct shared_cloud *shared;  /* the shared one; NULL when own */
    struct api_client          api;
    char  pk[24], dn[40], secret[72];
    int   https, mqtts, coaps;          /* what the run's device uses */
    int   url_port;                     /* firmware URLs name this port (a proxy); 0: the cloud's */
    char  url_host[64];                 /* firmware URLs name this host; "": 127.0.0.1 */
    int   tenant;                       /* registered in the shared cloud */
};

/* Why plan p (NULL: none) needs a cloud of its own, or NULL when it can
 * share one. */
const char *cloudref_own_reason(const struct fault_plan *p);

/* A cloud of the run's own: cloud_start(o) and the plan's cloud faults
 * (plan_apply_cloud). 0, or -1 with one line in err. */
int cloudref_start_own(struct cloudref *r, const struct cloud_opts *o, const struct fault_plan *p,
                       const char *pk, const char *dn, const char *secret, char *err, size_t errlen);

/* The run's tenancy in the shared cloud sc: registers pk/dn/secret with the
 * run's event log (events, an absolute path is made of it), seed, and the
 * plan's cloud faults; then logs the plan (plan.loaded) in the run's log.
 * 0, or -1 with one line in err. */
int cloudref_join(struct cloudref *r, const struct shared_cloud *sc, const char *events,
                  uint64_t seed, const struct fault_plan *p, const char *pk, const char *dn,
                  const char *secret, char *err, size_t errlen);

/* Leaves the cloud: a cloud of its own is stopped, a tenancy released (no
 * event of the cloud's reaches the run's log afterwards). */
void cloudref_stop(struct cloudref *r);

/* Firmware URLs added from now on name this host / port. */
void cloudref_set_url_host(struct cloudref *r, const char *host);
void cloudref_set_url_port(struct cloudref *r, int port);

/* The ports the device (or a proxy in front of it) reaches: MQTT (the TLS
 * listener's with mqtts), the firmware server (HTTPS with https), CoAP
 * (DTLS with coaps). */
int cloudref_mqtt_port(const struct cloudref *r);
int cloudref_fw_port(const struct cloudref *r);
int cloudref_coap_port(const struct cloudref *r, int dtls);
/* The CA the device trusts, "" when the run has no TLS. */
const char *cloudref_ca_path(const struct cloudref *r);

/* The calls of cloud.h, on either cloud. Same returns. */
int cloudref_add_firmware(struct cloudref *r, const char *path, const struct cloud_fw_opts *o,
                          char *err, size_t errlen);
int cloudref_create_job(struct cloudref *r, int firmware_id, const struct push_opts *po, char *err,
                        size_t errlen);
int cloudref_job_status(struct cloudref *r, int job_id, struct job_status *st);
int cloudref_device_offline(struct cloudref *r);
int cloudref_health(struct cloudref *r, char *err, size_t errlen);

#endif /* OTAHIL_CLOUDREF_H */
