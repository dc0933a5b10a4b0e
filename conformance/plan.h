/*
 * plan.h - fault plans: a small INI file (fixtures/faults/NAME.plan) that
 * says which faults the fake cloud injects in a run, what the field saw
 * when it happened for real, and what a correct device should make of it.
 * Format and keys: docs/faults.md, "Fault plans".
 *
 *   [plan]        name, description, field, seed, expect, retries, image_size,
 *                 image_footer, base_version, target_version, flash_write_us,
 *                 inform_within_ms, fail_step, slow, file_size, transport, tls,
 *                 tls_fragment, tls_heap, dtls
 *   [http]        firmware server rule for every firmware GET
 *   [http:N]      ... for the Nth firmware GET only
 *   [mqtt]        push faults of every job
 *   [coap]        CoAP block download faults (cloudfault.h: drop_block, code, ...)
 *   [proxy.mqtt]  fault = SPEC lines, kept as text for the transport proxy
 *   [proxy.coap]  the same for the UDP proxy in front of the CoAP endpoint
 *   [proxy.http]  the same
 *
 * Parsing is inih's. Every key is checked; the first problem is reported as
 * one line, "FILE:LINE: key 'x': what is wrong" (or "section [x]: ...").
 */
#ifndef OTAHIL_PLAN_H
#define OTAHIL_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "mock_cloud/cloudfault.h"

#define PLAN_NAME_MAX   64    /* [plan] name, with its NUL */
#define PLAN_TEXT_MAX   1024  /* [plan] description and field, with their NUL */
#define PLAN_FILE_MAX   1024  /* path of the plan file, with its NUL */
#define PLAN_PROXY_MAX  64    /* fault = lines per proxy section */
#define PLAN_SPEC_MAX   256   /* one proxy fault spec, with its NUL */
#define PLAN_KEYS_MAX   24    /* [plan] keys known (room for plan_line) */
#define PLAN_TLS_HEAP_MAX (64u << 20) /* tls_heap: at most 64 MiB */
#define PLAN_VERSION_MAX 64   /* base_version and target_version, with their NUL (the
                               * image header's and the KV entry's 63 characters) */
#define PLAN_FLASH_US_MAX 1000000 /* flash_write_us: at most 1 s per program or erase */
#define PLAN_INFORM_MS_MAX 600000 /* inform_within_ms: at most 10 minutes */

enum plan_expect {
    PLAN_EXPECT_PASS = 0,     /* a correct device absorbs the faults and updates */
    PLAN_EXPECT_FAIL_CLEAN,   /* the update fails, the device keeps its image and reports it */
};

struct fault_plan {
    char     file[PLAN_FILE_MAX];      /* the plan file; "" when built from options only */
    char     name[PLAN_NAME_MAX];      /* [plan] name; default: the file name without .plan */
    char     description[PLAN_TEXT_MAX]; /* what it does */
    char     field[PLAN_TEXT_MAX];     /* what the field saw (issue, symptom) */
    uint64_t seed;                     /* [plan] seed, when has_seed */
    int      has_seed;
    int      expect;                   /* enum plan_expect */
    int      retries;                  /* pushes after a failed attempt for the job `otahil run`
                                        * creates, 0..CLOUD_MAX_RETRIES, when has_retries */
    int      has_retries;
    uint32_t image_size;               /* [plan] image_size: payload bytes of the pushed image; 0: the case's */
    int      image_no_footer;          /* [plan] image_footer = false: the file is served without its
                                        * 28-byte AliOS footer */
    char     base_version[PLAN_VERSION_MAX];   /* [plan] base_version: the version the device runs
                                                * at the start; "": the case's */
    char     target_version[PLAN_VERSION_MAX]; /* [plan] target_version: the version pushed; "":
                                                * the case's */
    uint32_t flash_write_us;           /* [plan] flash_write_us: extra microseconds each program or
                                        * erase takes on the native device; 0: none */
    char     fail_step[128];           /* [plan] fail_step: the negative step a correct device
                                        * reports, "-2", "none" or per profile "g1:-4,g2:-11"
                                        * (conformance/checks.h); "": not checked */
    int32_t  file_size_delta;          /* [plan] file_size = partition[+-N]: the file served is
                                        * the board's download partition's length plus this */
    int      has_file_size;
    int      slow;                     /* [plan] slow = true: takes long (tens of seconds);
                                        * `otahil certify --quick` leaves it out */
    uint32_t inform_within_ms;         /* [plan] inform_within_ms: the inform of the new version
                                        * must follow set_boot FINISH within this many ms; 0: no
                                        * deadline */
    int      https;                    /* [plan] transport = https or mqtts+https: the firmware
                                        * is downloaded over HTTPS */
    int      mqtts;                    /* [plan] transport = mqtts or mqtts+https: MQTT over TLS */
    int      coap;                     /* [plan] transport = coap+http, coap+https or coap+coap:
                                        * the signal channel is CoAP (spec §3), 1; coaps+...: the
                                        * same over DTLS with a pre-shared key, 2 */
    int      coap_dl;                  /* [plan] transport = coap+coap or coaps+coaps: Block2
                                        * download */
    int      tls_cert;                 /* [plan] tls: enum testca_cert the HTTPS server (and, with
                                        * coaps and dtls = certificate, the coaps port) presents */
    int      dtls_psk;                 /* [plan] dtls = psk: coaps with the pre-shared key only (no
                                        * CA for the device); certificate (0, default): the test CA */
    uint32_t tls_fragment;             /* [plan] tls_fragment: the device asks for records of at
                                        * most this many bytes (512..4096); 0: not asked */
    uint32_t tls_heap;                 /* [plan] tls_heap: the device's TLS heap in bytes; 0:
                                        * unlimited */
    struct cloud_http_rule http[CF_HTTP_RULES_MAX]; /* one per [http] / [http:N] section */
    int      nhttp;
    struct cloud_mqtt_faults mqtt;     /* [mqtt]; mqtt.set == 0: none */
    char   **proxy_mqtt;               /* [proxy.mqtt] fault = lines, in order (heap) */
    int      nproxy_mqtt;
    char   **proxy_http;               /* [proxy.http] fault = lines, in order (heap) */
    int      nproxy_http;
    char   **proxy_coap;               /* [proxy.coap] fault = lines (UDP), in order (heap) */
    int      nproxy_coap;
    struct cloud_coap_faults coapf;    /* [coap]: the CoAP block faults; coapf.set == 0: none */
    int      coap_line[CF_C_COUNT];
    /* Where each setting came from, for the checks that span a section. */
    int      http_line[CF_HTTP_RULES_MAX][CF_H_COUNT]; /* line of each key; 0: unset or option */
    int      http_sec_line[CF_HTTP_RULES_MAX];         /* line of the section; 0: option */
    int      mqtt_line[CF_M_COUNT];
    int      plan_line[PLAN_KEYS_MAX];                 /* [plan] keys, by internal index */
};

/* Reads the plan in path into p (p is cleared first; release it with
 * plan_free() whatever the result). Returns 0, or -1 with one line in err:
 * "FILE:LINE: key 'x': what is wrong", "FILE:LINE: section [x]: what is
 * wrong", "FILE:LINE: syntax error: ..." or "FILE: cannot open: ...". */
int plan_load(const char *path, struct fault_plan *p, char *err, size_t n);

/* Adds one setting as a command-line option would: section is "plan",
 * "http", "http:N", "mqtt", "proxy.mqtt" or "proxy.http"; key_eq_value is
 * "KEY=VALUE" (blanks around either side are ignored). A key given again
 * replaces the value (description and field are appended to; proxy faults
 * are added). p may be fresh (zeroed) or loaded. Returns 0, or -1 with one
 * line in err: "section [x]: ..." or "key 'x': what is wrong". */
int plan_add_cli(struct fault_plan *p, const char *section, const char *key_eq_value, char *err,
                 size_t n);

/* Parses a --http-fault value: "KEY=VALUE" for [http], or "N:KEY=VALUE"
 * for [http:N]; then as plan_add_cli(). */
int plan_add_http_option(struct fault_plan *p, const char *value, char *err, size_t n);

/* The checks that span a section (stall_ms needs stall_at, chunked cannot
 * go with length, ...), for a plan built or extended with options. 0, or -1
 * with one line in err: "section [http:2]: key 'x': what is wrong". */
int plan_check(const struct fault_plan *p, char *err, size_t n);

struct cloud;

/* Installs the plan in a running cloud: its firmware server rules replace
 * those in force, its [mqtt] settings become the cloud-wide push faults.
 * Proxy faults are not the cloud's: they are only logged. Emits
 * "plan.loaded" {"name","file","expect","seed","description","field",
 * "http":[...],"mqtt","proxy_mqtt":[...],"proxy_http":[...],"summary"}.
 * 0, or -1 with one line in err. */
int plan_apply_cloud(const struct fault_plan *p, struct cloud *c, char *err, size_t n);

/* Only the "plan.loaded" event of plan_apply_cloud (a run in the shared
 * cloud, whose faults the cloud installs for its tenant). 0, or -1 with one
 * line in err. */
int plan_log(const struct fault_plan *p, char *err, size_t n);

/* One line: "http:1 status=400; mqtt size_string=true; proxy.mqtt 2
 * faults", or "no faults". Returns buf. */
char *plan_summary(const struct fault_plan *p, char *buf, size_t n);

/* The plan's transport: "http", "https", "mqtts" or "mqtts+https" over
 * MQTT; "coap+http", "coap+https" or "coap+coap" over CoAP; "coaps+http",
 * "coaps+https" or "coaps+coaps" over CoAP with DTLS. */
const char *plan_transport_name(const struct fault_plan *p);

/* "pass" or "fail-clean". */
const char *plan_expect_name(int expect);

/* Releases what p holds (the proxy lines) and clears it. NULL is a no-op. */
void plan_free(struct fault_plan *p);

#endif /* OTAHIL_PLAN_H */
