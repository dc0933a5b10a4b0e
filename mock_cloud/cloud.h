/*
 * cloud.h - the fake cloud: a real Mosquitto broker process it starts and
 * configures, a civetweb firmware server (HTTP, Range), the cloud service
 * (devices, firmware store, jobs, push, progress, success rule) connected to
 * the broker as an MQTT client, and a small REST API for interactive use.
 * Everything it sees goes to the run's event log (evlog).
 *
 * Threads: civetweb's workers and libmosquitto's network thread call into the
 * service; one mutex guards its state.
 */
#ifndef CLOUD_H
#define CLOUD_H

#include <stddef.h>
#include <stdint.h>

#include "mock_cloud/cloudfault.h"

#define CLOUD_MAX_DEVICES  1024     /* device table (grows on demand up to this) */
#define CLOUD_MAX_FIRMWARE 4096     /* firmware store (fixed table; one file per run of a
                                     * certification sharing the cloud) */
#define CLOUD_MAX_JOBS     1000000  /* job table (grows on demand up to this): one per cut point */
#define CLOUD_MAX_RETRIES  100      /* push_opts.retries */

struct cloud_opts {
    const char *workdir;     /* broker config, data dir and logs go here (created) */
    const char *mosquitto;   /* broker binary; NULL = "mosquitto" from PATH or /usr/sbin */
    int         mqtt_port;   /* 0 = pick a free loopback port */
    int         http_port;   /* 0 = pick a free loopback port */
    uint64_t    seed;        /* every random choice of the cloud comes from it */
    uint32_t    throttle_bps;/* firmware server: limit each download to this rate (0 = off) */
    int         https;       /* firmware server: an HTTPS listener too, and https:// URLs on it
                              * (cloud_set_url_tls() may change the URLs) */
    int         mqtts;       /* broker: a TLS listener too (mqtts) */
    int         tls_cert;    /* enum testca_cert: the certificate the HTTPS listener presents
                              * (the broker always presents the good one) */
    int         no_auth;     /* nonzero: anonymous broker, no auth plugin, no ACL */
    const char *auth_plugin; /* the broker's auth plugin; NULL = $OTAHIL_BROKER_AUTH, else
                              * ../lib/otahil-broker-auth.so beside the running program */
};

enum job_state {
    JOB_WAITING = 0,   /* not pushed yet (device not seen online, or at_inform), or a retry
                        * waiting for the device's next inform after a negative step */
    JOB_PUSHED,        /* push published */
    JOB_IN_PROGRESS,   /* device reported progress >= 0 */
    JOB_SUCCEEDED,     /* device informed the target version */
    JOB_FAILED,        /* negative step, or another version after the push, with no
                        * push left; or superseded */
};

struct job_status {
    int            id;
    enum job_state state;
    int            last_step;     /* last progress step of the current push (-1000 = none) */
    char           reason[160];   /* why it failed or succeeded */
    char           target[65];    /* version pushed */
    int            pushes;        /* pushes published so far, 0..1+retries */
    int            retries;       /* extra pushes allowed after a failed attempt */
};

/* Options for one job; zero = the spec's §14 defaults (one push, sent as
 * soon as the device is known to be online). */
struct push_opts {
    const char *sign_method;   /* "Md5" (default) or "Sha256" */
    int         retries;       /* 0..CLOUD_MAX_RETRIES: pushes after a failed attempt */
    int         at_inform;     /* nonzero: push at the device's next inform, even if it is
                                * online already */
    const struct cloud_mqtt_faults *faults; /* this job's push faults (copied); NULL: the
                                * cloud-wide ones, cloud_set_mqtt_faults() */
};

struct cloud;

/* Starts broker, firmware server and service; waits until the service's own
 * MQTT client is connected. Unless o->no_auth, the broker loads the auth
 * plugin (mock_cloud/broker_auth.c): the cloud writes the device registry
 * WORKDIR/broker-registry (mode 0600) with every registered device and the
 * service's own credentials (username "otahil-cloud", a password drawn from
 * the kernel's random source for this cloud alone), and rewrites it whenever
 * a device is added or its secret changes. NULL with a one-line reason in
 * err (among them: the plugin is not found). */
struct cloud *cloud_start(const struct cloud_opts *o, char *err, size_t errlen);

/* Stops everything it started (broker killed and reaped). */
void cloud_stop(struct cloud *c);

int cloud_mqtt_port(const struct cloud *c);
int cloud_http_port(const struct cloud *c);
/* The broker's TLS listener and the firmware server's HTTPS listener; 0
 * when the cloud was started without them (cloud_opts.mqtts, .https). */
int cloud_mqtts_port(const struct cloud *c);
int cloud_https_port(const struct cloud *c);
/* Where firmware URLs point on the server (the HTTPS port with
 * cloud_opts.https, else the HTTP one) and the broker port devices use
 * (the TLS one with cloud_opts.mqtts): what a proxy goes in front of. */
int cloud_fw_port(const struct cloud *c);
int cloud_device_mqtt_port(const struct cloud *c);
/* WORKDIR/tls/ca.pem, the CA a device trusts, when the cloud made its test
 * PKI (https, mqtts or cloud_coaps_pki(); testca.h); "" otherwise. */
const char *cloud_ca_path(const struct cloud *c);
/* Firmware added from now on is served at URLs with this port on 127.0.0.1
 * (a transport proxy in front of the firmware server); 0: the server's own. */
void cloud_set_url_port(struct cloud *c, int port);
/* Firmware added from now on is served at URLs naming this host (an address
 * that reaches this machine's loopback from where the device is: 10.0.2.2
 * from inside QEMU's user network); NULL or "": 127.0.0.1. */
void cloud_set_url_host(struct cloud *c, const char *host);
/* Firmware added from now on defaults to https:// URLs on the HTTPS
 * listener (tls 1; needs cloud_opts.https) or http:// URLs on the plain
 * one (tls 0: a cloud with every listener serving runs of either kind,
 * `otahil cloud --transport all`). 0, or -1 for tls 1 without an HTTPS
 * listener. */
int cloud_set_url_tls(struct cloud *c, int tls);
int cloud_broker_pid(const struct cloud *c);
/* The CoAP endpoint (mock_cloud/coapserver.h): its UDP port, and its DTLS
 * (coaps: pre-shared key = device secret, and the test certificate after
 * cloud_coaps_pki()) port, 0 when libcoap has no DTLS. A device that authenticates over CoAP gets its pushes as the
 * answer to its next request (spec §3.2), not over MQTT. */
int cloud_coap_port(const struct cloud *c);
int cloud_coaps_port(const struct cloud *c);
/* The coaps port also offers the test certificate tls_cert (enum
 * testca_cert), making the test PKI first when the cloud has none, so
 * cloud_ca_path() names the CA from then on. cloud_start() does this by
 * itself when it makes the PKI (https or mqtts); plan_apply_cloud() for
 * coaps transports. One certificate per cloud: asking again for another is
 * an error. 0, or -1 with a one-line reason in err. */
int cloud_coaps_pki(struct cloud *c, int tls_cert, char *err, size_t errlen);
/* Sets the CoAP block faults (copied; NULL clears them; docs/faults.md,
 * "CoAP faults"). */
void cloud_set_coap_faults(struct cloud *c, const struct cloud_coap_faults *f);
/* The broker's device registry (WORKDIR/broker-registry), or NULL when the
 * cloud runs without auth. */
const char *cloud_registry_path(const struct cloud *c);

/* 0 while healthy; -1 once the broker process died or the service lost its
 * broker connection and could not get it back (reason in err). */
int cloud_health(struct cloud *c, char *err, size_t errlen);

/* Registers a device (idempotent; registering again updates the secret)
 * and, with auth on, rewrites the broker's registry before it returns, so
 * the device can connect at once. 0, or -1 for a malformed pk or dn, a
 * secret over 64 characters or with spaces or control characters, a full
 * device table (CLOUD_MAX_DEVICES), no memory to grow it, or a registry
 * that cannot be written (a "cloud.registry_error" event says why). */
int cloud_add_device(struct cloud *c, const char *pk, const char *dn, const char *secret);

/* Adds a firmware file to the store (copied into workdir, served at
 * /fw/<id>/<basename>). version NULL: read from the otahil image header.
 * The file must pass the format check of mock_cloud/fwcheck.h (the AliOS
 * footer: magic, image_size, MD5; spec §6.2, §12 #8 and #11): a file that
 * fails it is refused with fwcheck_describe()'s line in err and a
 * "firmware.refused" event. Returns the firmware id (>= 0) or -1 with err. */
int cloud_add_firmware(struct cloud *c, const char *path, const char *version,
                       char *err, size_t errlen);

/* Options of cloud_add_firmware_opts(); zero = cloud_add_firmware(). */
struct cloud_fw_opts {
    const char *version;   /* NULL: read from the otahil image header */
    int         unchecked; /* nonzero: store and serve the file whatever the format check
                            * finds (a fault that serves a file without its footer); the
                            * check still runs and a "firmware.unchecked" event says what
                            * it found */
    const char *owner_pk, *owner_dn; /* the tenant it belongs to: GETs and CoAP blocks of it
                            * use the tenant's faults and rate and their events (and
                            * firmware.added/refused/unchecked) go to the tenant's log;
                            * NULL: no owner. An owner that is not a tenant is an error. */
    int         url_port;  /* its URLs name this port (a transport proxy of that run);
                            * 0: cloud_set_url_port()'s, else the server's own */
    const char *url_host;  /* its URLs name this host; NULL or "": cloud_set_url_host()'s */
    const char *url_scheme;/* "http" or "https"; NULL: https when the URL port is the HTTPS
                            * listener's, http when it is the plain one, else the cloud's
                            * default (cloud_opts.https, cloud_set_url_tls()) */
};

/* cloud_add_firmware with options (o NULL: defaults). Same returns, and -1
 * for an owner that is not a tenant, a url_port outside 0..65535, a
 * url_host that is not a host name or address, a url_scheme other than
 * http and https. */
int cloud_add_firmware_opts(struct cloud *c, const char *path, const struct cloud_fw_opts *o,
                            char *err, size_t errlen);

/* ---- Tenants: one cloud shared by several runs (docs/cloud.md, "Tenants") ----
 *
 * A tenant is a registered device whose run keeps its own event log and
 * its own cloud-side faults in a cloud other runs use at the same time:
 * the events about the device, its jobs, its firmware (cloud_fw_opts
 * owner) and its downloads go to the tenant's log (evlog_route), and its
 * faults touch only its own jobs, GETs and blocks. A tenant's job gets a
 * per-device ordinal (1 for its first job after cloud_add_tenant(), 2 ...)
 * and push ids cloud_push_id(tenant seed, ordinal, attempt), so its log is
 * a function of its own run alone. */
struct cloud_tenant {
    const char *pk, *dn, *secret;           /* the device (cloud_add_device rules) */
    const char *events;                     /* the tenant's event log, an absolute path;
                                             * NULL/"": the cloud's own */
    uint64_t seed;                          /* push ids of its jobs */
    const struct cloud_http_rule *http;     /* firmware-server rules for GETs of ITS
                                             * firmware (copied); nth counts its GETs */
    int nhttp;                              /* 0..CF_HTTP_RULES_MAX */
    const struct cloud_mqtt_faults *mqtt;   /* push faults of its jobs (copied); NULL: none */
    const struct cloud_coap_faults *coap;   /* CoAP block faults of its downloads; NULL: none */
    uint32_t throttle_bps;                  /* its firmware downloads; 0: the cloud's setting */
};

/* Registers (or re-registers) the device as cloud_add_device() does (the
 * broker registry rewritten before it returns) and makes it a tenant.
 * Registering an existing tenant again resets its faults, GET counts and
 * job ordinal. 0, or -1 with a one-line reason in err: a bad identity or
 * secret, an events path that is not absolute or cannot be opened, an
 * http rule failing cloudfault_http_check(), more than CF_HTTP_RULES_MAX
 * rules, coap faults failing cloudfault_coap_check(), mqtt faults with
 * restart_broker_at (it restarts the broker of every tenant), a full
 * device table. */
int cloud_add_tenant(struct cloud *c, const struct cloud_tenant *t, char *err, size_t errlen);

/* The device stops being a tenant: its events go to the cloud's own log
 * from now on, its faults are cleared, its active job (if any) fails with
 * reason "tenant released" (in the cloud's log), and it is marked offline
 * without a device.offline event. 0, or -1 for an unknown device or one
 * that is not a tenant. */
int cloud_release_tenant(struct cloud *c, const char *pk, const char *dn);

/* Sets the calling thread's event route (evlog_route) to the log of the
 * tenant that owns firmware owner key (cloud_fw_info.owner), or to none
 * when it is no longer a tenant. For the firmware server. */
void cloud_route_owner(struct cloud *c, int owner);

/* Creates an upgrade job; pushes at once if the device has informed since the
 * cloud started (unless po->at_inform), else at its next inform. An older
 * active job of the device fails ("superseded by job N").
 *
 * An attempt fails when, after a push, the device informs a version other
 * than the target or reports a negative step. With pushes left (1 + retries
 * in all) the job is pushed again: at once after such an inform; after a
 * negative step it goes back to WAITING and is pushed at the device's next
 * inform of a non-target version. Each retry emits "job.retry". An inform of
 * the target version after a push always means SUCCEEDED.
 *
 * po: NULL = defaults. Job id >= 1, or -1 with a one-line reason in err
 * (unknown device or firmware, bad sign method, retries outside
 * 0..CLOUD_MAX_RETRIES, job table full, out of memory). */
int cloud_create_job(struct cloud *c, const char *pk, const char *dn, int firmware_id,
                     const struct push_opts *po, char *err, size_t errlen);

/* 0 and fills st, or -1 for an unknown job. */
int cloud_job_status(struct cloud *c, int job_id, struct job_status *st);

const char *cloud_job_state_name(enum job_state s);

/* ---- Added for the firmware server, the REST API and the commands ---- */

/* A firmware in the store, as served. */
struct cloud_fw_info {
    int      id;            /* >= 1 */
    char     name[96];      /* served as /fw/<id>/<name>: [A-Za-z0-9._-] only */
    char     path[4096];    /* the stored copy, WORKDIR/fw/<id>-<name> */
    char     version[65];   /* pushed as data.version */
    uint64_t size;          /* bytes of the whole file */
    char     md5[33];       /* lowercase hex MD5 of the whole file */
    char     sha256[65];    /* lowercase hex SHA-256 of the whole file */
    char     url[192];      /* http://127.0.0.1:PORT/fw/<id>/<name> (https:// with
                             * cloud_opts.https) */
    int      owner;         /* the tenant that owns it (a key >= 1 for cloud_route_owner() and
                             * fwserver_set_owner_faults()); 0 = none */
};

/* 0 and fills fi, or -1 for an unknown firmware id. */
int cloud_firmware_info(struct cloud *c, int firmware_id, struct cloud_fw_info *fi);

/* The whole service state as JSON text (what GET /api/status returns):
 * {"mqtt_port","http_port","broker_pid","workdir","mqtt_connected","auth","devices":[{"pk","dn",
 * "version","online"}],"firmware":[{"id","name","version","size","md5",
 * "sha256","url"}],"jobs":[<as cloud_job_json>]}. Caller frees; NULL when
 * out of memory. */
char *cloud_status_json(struct cloud *c);

/* One job as JSON text: {"id","pk","dn","firmware","version","sign_method",
 * "state","last_step","reason","push_id","pushes","retries","at_inform"};
 * last_step is null before any progress on the current push; push_id is the
 * "id" of the latest push (before the first one: the id it will carry);
 * at_inform is a boolean. Caller frees; NULL for an unknown job or out of
 * memory. */
char *cloud_job_json(struct cloud *c, int job_id);

/* ---- Faults (docs/faults.md) ---- */

/* Installs fault rules in the firmware server: replaces the rules in force
 * (append 0) or adds to them (append 1). Safe while the cloud serves; a GET
 * already being answered keeps the rules it started with. Firmware GETs are
 * counted from cloud_start() on, whatever rules are in force. 0, or -1 with
 * a one-line reason in err: a rule fails cloudfault_http_check(), or more
 * than CF_HTTP_RULES_MAX rules in all. n 0 with append 0 clears them. */
int cloud_http_set_faults(struct cloud *c, const struct cloud_http_rule *rules, int n, int append,
                          char *err, size_t errlen);

/* Sets the cloud-wide push faults (copied), used by every job created
 * without its own (push_opts.faults) from its next push on. NULL clears
 * them. Each fault emits "cloud.fault" when it is applied. */
void cloud_set_mqtt_faults(struct cloud *c, const struct cloud_mqtt_faults *f);

/* Gives job job_id its own push faults (copied; NULL: back to the
 * cloud-wide ones), from its next push on. 0, or -1 for an unknown job or
 * no memory. */
int cloud_job_set_mqtt_faults(struct cloud *c, int job_id, const struct cloud_mqtt_faults *f);

/* Tells the cloud that a device is offline (a harness that powers the
 * device off or saw it reboot calls this; a broker restart marks every
 * device offline). The device is online again at its next inform. First a
 * round trip through the broker (at most 1 s), so that what the broker had
 * from the device is heard before: the event order does not depend on the
 * schedule. Emits "device.offline" when it was online. With the push fault offline_push, a
 * job of the device waiting for its push (except the first push of an
 * at_inform job) is pushed now. 0, or -1 for an unknown device. */
int cloud_device_offline(struct cloud *c, const char *pk, const char *dn);

/* Restarts the Mosquitto broker on the same port: every client, the
 * service's own included, is disconnected and its session lost (the broker
 * keeps no persistence). The service reconnects by itself within about a
 * second; devices must reconnect on their own. The restart runs on a thread
 * of the cloud's own, so the new broker lives as long as the cloud (see
 * PR_SET_PDEATHSIG in broker.h). Blocks until the new broker accepts
 * connections. 0, or -1 with a one-line reason in err (the cloud is
 * stopping, the thread cannot start, the broker does not come back: then
 * cloud_health() fails too). */
int cloud_restart_broker(struct cloud *c, char *err, size_t errlen);

/* Creates dir and any missing parents (mode 0755). 0, or -1 with errno. */
int cloud_mkdir_p(const char *dir);

#endif /* CLOUD_H */
