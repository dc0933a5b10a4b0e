/*
 * cloudfault.h - faults inside the fake cloud (docs/faults.md): rules for the
 * firmware server (what a firmware GET gets back) and settings for the push
 * the cloud service publishes over MQTT. This header holds the data and the
 * text form of each setting, KEY = VALUE, as fault plans and the command line
 * give it; cloud.h installs them in a running cloud.
 *
 * Every setting has a bit in a "set" mask, so that 0 is a value like any
 * other (close_at = 0 closes right after the headers).
 */
#ifndef CLOUDFAULT_H
#define CLOUDFAULT_H

#include <stddef.h>
#include <stdint.h>

#define CF_HTTP_RULES_MAX 64      /* rules installed in one firmware server */
#define CF_LABEL_MAX      32      /* a rule's name in events, e.g. "http:2" */
#define CF_PATH_MAX       128     /* cloud_http_rule.path */
#define CF_TEXT_MAX       64      /* message and sign_method texts, with their NUL */
#define CF_PAD_HEADERS_MAX 65536  /* largest padded header block */
#define CF_PUSH_LEN_MAX   65536   /* largest padded push */
#define CF_URL_LEN_MAX    8192    /* longest lengthened URL */
#define CF_STALL_MS_MAX   600000  /* longest stall: 10 minutes */
#define CF_SPLIT_MS_MAX   1000    /* longest pause between header bytes */

/* ---- firmware server ---- */

enum cf_http_key {
    CF_H_STATUS = 0,    /* answer with this status and an object-storage error body */
    CF_H_IGNORE_RANGE,  /* a Range request gets 200 and the whole file */
    CF_H_ETAG_CHANGE,   /* the ETag differs on every request */
    CF_H_LENGTH,        /* Content-Length announced = true length + length_delta */
    CF_H_LENGTH_BODY,   /* with length: send the announced count or the true body */
    CF_H_CHUNKED,       /* no Content-Length: Transfer-Encoding: chunked */
    CF_H_PAD_HEADERS,   /* header block padded to at least this many bytes */
    CF_H_SPLIT_HEADERS, /* headers written one byte per write, this many ms apart */
    CF_H_CLOSE_AT,      /* close the connection after this many body bytes */
    CF_H_STALL_AT,      /* pause at this body byte ... */
    CF_H_STALL_MS,      /* ... for this many ms ... */
    CF_H_STALL_THEN,    /* ... then go on or close */
    CF_H_THROTTLE,      /* this response at most this many bytes per second */
    CF_H_PATH,          /* match: only GETs of this path, counted apart */
    CF_H_COUNT
};

enum cf_length_body { CF_BODY_ANNOUNCED = 0, CF_BODY_FILE = 1 };
enum cf_stall_then { CF_STALL_CONTINUE = 0, CF_STALL_CLOSE = 1 };

/* One rule: which firmware GETs it applies to and what they get. */
struct cloud_http_rule {
    char     label[CF_LABEL_MAX]; /* name in http.fault events; "" = "http" or "http:N" */
    unsigned nth;                 /* 0: every firmware GET; N >= 1: only the Nth (1-based) */
    unsigned set;                 /* bit (1u << enum cf_http_key) per setting given */
    int      status;              /* 100..599 but 200 and 206 */
    int      ignore_range;        /* 0 or 1 */
    int      etag_change;         /* 0 or 1 */
    int64_t  length_delta;        /* nonzero, bytes */
    int      length_body;         /* enum cf_length_body */
    int      chunked;             /* 0 or 1 */
    uint32_t pad_headers;         /* bytes of the whole header block, blank line included */
    uint32_t split_ms;            /* 0..CF_SPLIT_MS_MAX */
    uint64_t close_at;            /* body bytes before the close */
    uint64_t stall_at;            /* body bytes before the stall */
    uint32_t stall_ms;            /* 1..CF_STALL_MS_MAX */
    int      stall_then;          /* enum cf_stall_then */
    uint32_t throttle_bps;        /* >= 1 */
    char     path[CF_PATH_MAX];   /* "/fw/<id>/<name>" (query not included) */
};

/* ---- MQTT push ---- */

enum cf_mqtt_key {
    CF_M_DROP_PUSH = 0,    /* push number N of a job is not published */
    CF_M_DUPLICATE_AT,     /* publish the push again at progress >= P */
    CF_M_OFFLINE_PUSH,     /* push while the device is known to be offline */
    CF_M_RESTART_BROKER_AT,/* restart the broker at progress >= P */
    CF_M_PUSH_LEN,         /* pad the push to this many bytes with data.extData */
    CF_M_URL_LEN,          /* lengthen data.url to this many characters (query string) */
    CF_M_SIZE_STRING,      /* data.size as a JSON string */
    CF_M_SIZE_DELTA,       /* data.size = true size + size_delta */
    CF_M_MESSAGE,          /* "message" text */
    CF_M_SIGN_METHOD,      /* data.signMethod text */
    CF_M_SIGN,             /* which digest data.sign holds */
    CF_M_SIGN_CASE,        /* hex case of data.sign */
    CF_M_WRONG_DIGEST,     /* data.sign and data.md5 do not match the file */
    CF_M_WRONG_DIGEST_ATTEMPTS, /* ... only in pushes 1..N of a job */
    CF_M_COUNT
};

enum cf_sign { CF_SIGN_MD5 = 0, CF_SIGN_SHA256 = 1 };

/* Settings for the pushes of a job (or of every job). */
struct cloud_mqtt_faults {
    unsigned set;                     /* bit (1u << enum cf_mqtt_key) per setting given */
    int      drop_push;               /* 1..101: that push of each job is not published */
    int      duplicate_at;            /* 1..100 percent */
    int      offline_push;            /* 0 or 1 */
    int      restart_broker_at;       /* 1..100 percent */
    uint32_t push_len;                /* bytes, 64..CF_PUSH_LEN_MAX */
    uint32_t url_len;                 /* characters, 1..CF_URL_LEN_MAX */
    int      size_string;             /* 0 or 1 */
    int64_t  size_delta;              /* nonzero, bytes */
    char     message[CF_TEXT_MAX];    /* sent as is (JSON-escaped) */
    char     sign_method[CF_TEXT_MAX];/* sent as is (JSON-escaped) */
    int      sign;                    /* enum cf_sign */
    int      sign_upper;              /* 1: uppercase hex, 0: lowercase */
    int      wrong_digest;            /* 0 or 1 */
    int      wrong_digest_attempts;   /* 1..101: pushes 1..N of each job carry the wrong digest,
                                       * later ones the right one */
};

/* ---- CoAP block download (spec §3.3) ---- */

#define CF_COAP_TIMES_MAX 100     /* drop_times, code_times */
#define CF_COAP_DELAY_MAX 60000   /* delay_ms */

enum cf_coap_key {
    CF_C_DROP_BLOCK = 0,   /* requests for Block2 number N get no answer ... */
    CF_C_DROP_TIMES,       /* ... this many times (default 1) */
    CF_C_DUPLICATE_BLOCK,  /* block N is sent again in answer to the request for N+1, once */
    CF_C_REORDER_BLOCK,    /* the request for block N is answered with block N+1, once */
    CF_C_DELAY_BLOCK,      /* the answer to block N waits delay_ms, once */
    CF_C_DELAY_MS,
    CF_C_CODE_BLOCK,       /* block N is answered with code (no payload) ... */
    CF_C_CODE,             /* "C.DD", 2.01..5.31 but not 2.05 */
    CF_C_CODE_TIMES,       /* ... this many times (default 1) */
    CF_C_ETAG_CHANGE_AT,   /* from block N on, every answer carries another ETag */
    CF_C_SIZE2_DELTA,      /* Size2 = true size + size2_delta in every answer */
    CF_C_BLOCK_SZX,        /* answer with this SZX whatever was asked (7: the reserved, absurd
                            * value; the payload is then 1024 bytes) */
    CF_C_COUNT
};

/* Settings of the CoAP block download. Block numbers count in the
 * device's own block size (the NUM of its request). */
struct cloud_coap_faults {
    unsigned set;            /* bit (1u << enum cf_coap_key) per setting given */
    uint32_t drop_block;     /* block number */
    uint32_t drop_times;     /* 1..CF_COAP_TIMES_MAX */
    uint32_t duplicate_block;
    uint32_t reorder_block;
    uint32_t delay_block;
    uint32_t delay_ms;       /* 1..CF_COAP_DELAY_MAX */
    uint32_t code_block;
    int      code;           /* class * 100 + detail, e.g. 404 for 4.04 */
    uint32_t code_times;     /* 1..CF_COAP_TIMES_MAX */
    uint32_t etag_change_at; /* block number */
    int64_t  size2_delta;    /* nonzero, bytes */
    int      block_szx;      /* 0..7 */
};

/* Name of a key ("status", "drop_push", ...), or "?" out of range. */
const char *cloudfault_http_key_name(int key);
const char *cloudfault_mqtt_key_name(int key);
const char *cloudfault_coap_key_name(int key);

/* Sets one setting of r from its text form. key is a cf_http_key name (see
 * docs/faults.md for every key, value and default); value the text after
 * '=' with surrounding blanks removed. A key given again replaces the value.
 * Returns the enum cf_http_key (>= 0), or -1 with what is wrong in why (one
 * line, e.g. "unknown key (status, ignore_range, ...)" or "expected a
 * status 100..599 other than 200 and 206, got '700'"). */
int cloudfault_http_set(struct cloud_http_rule *r, const char *key, const char *value,
                        char *why, size_t whylen);

/* The same for the push settings. */
int cloudfault_mqtt_set(struct cloud_mqtt_faults *f, const char *key, const char *value,
                        char *why, size_t whylen);

/* The same for the CoAP block settings. */
int cloudfault_coap_set(struct cloud_coap_faults *f, const char *key, const char *value,
                        char *why, size_t whylen);

/* Checks the combination of CoAP settings (drop_times without drop_block,
 * delay_block without delay_ms, ...). 0, or -1 with the key at fault in
 * *key and why. */
int cloudfault_coap_check(const struct cloud_coap_faults *f, int *key, char *why, size_t whylen);

/* Checks the combination of settings of a rule (stall_ms without stall_at,
 * chunked with length, ...). Returns 0, or -1 with the enum cf_http_key of
 * the setting at fault in *key (if key is non-NULL) and why. A rule with no
 * setting but path is allowed: it does nothing. */
int cloudfault_http_check(const struct cloud_http_rule *r, int *key, char *why, size_t whylen);

/* Writes r's settings as "key=value key=value" (the text form, parseable by
 * cloudfault_http_set) into buf; "" when nothing is set. Returns buf. */
char *cloudfault_http_describe(const struct cloud_http_rule *r, char *buf, size_t n);
char *cloudfault_mqtt_describe(const struct cloud_mqtt_faults *f, char *buf, size_t n);
char *cloudfault_coap_describe(const struct cloud_coap_faults *f, char *buf, size_t n);

/* ---- JSON forms (the REST API, docs/cloud.md) ----
 *
 * Each setting is carried as its text form under its key name, so anything
 * cloudfault_*_set() reads round-trips exactly:
 *   rule:   {"label":"...","nth":N,"settings":{"status":"503","stall_at":"1000",...}}
 *   mqtt:   {"settings":{"drop_push":"1","message":"busy now",...}}
 *   coap:   {"settings":{"drop_block":"3",...}}
 * A setting may also be given as a JSON number or boolean (taken as its
 * decimal or true/false text). to_json returns a new object (caller
 * cJSON_Delete()s it), NULL when out of memory. from_json fills the struct
 * (zeroed first) and checks the combination (cloudfault_http_check(),
 * cloudfault_coap_check()); 0, or -1 with one line in why naming the field,
 * e.g. "settings.stall_ms: expected a pause of 1..600000 ms, got '0'"
 * (a caller adds where the object was, "http[2]."). */
struct cJSON;
struct cJSON *cloudfault_http_to_json(const struct cloud_http_rule *r);
int cloudfault_http_from_json(const struct cJSON *o, struct cloud_http_rule *r, char *why, size_t n);
struct cJSON *cloudfault_mqtt_to_json(const struct cloud_mqtt_faults *f);
int cloudfault_mqtt_from_json(const struct cJSON *o, struct cloud_mqtt_faults *f, char *why,
                              size_t n);
struct cJSON *cloudfault_coap_to_json(const struct cloud_coap_faults *f);
int cloudfault_coap_from_json(const struct cJSON *o, struct cloud_coap_faults *f, char *why,
                              size_t n);

#endif /* CLOUDFAULT_H */
