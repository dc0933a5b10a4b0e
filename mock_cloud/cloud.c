/*
 * cloud.c - the fake cloud service: devices, firmware store, upgrade jobs.
 *
 * It owns a broker process (broker.c) and an HTTP server (fwserver.c) and is
 * itself an MQTT client of that broker, subscribed to every device's inform
 * and progress topics. It behaves as the real Alibaba IoT cloud does
 * (shared spec §1, §9.3, §14):
 *  - inform: record the version; a waiting job is pushed now; after a push,
 *    the next version report decides: the target version means SUCCEEDED,
 *    any other version fails the attempt.
 *  - progress: a negative step fails the attempt, a step >= 0 marks the job
 *    in progress.
 *  - a failed attempt with pushes left (push_opts.retries) is pushed again:
 *    at once after an inform, at the next inform after a negative step (the
 *    device informs again when it is ready; a push at once would interrupt
 *    it). Otherwise the job FAILS.
 *  - push: /ota/device/upgrade/{pk}/{dn}, QoS 1, the §1.5 JSON with a
 *    numeric size, sign/md5 over the whole served file, a message id drawn
 *    from the seed (no clock), message "success".
 * It is tolerant of what devices really send (trailing NUL bytes, numeric or
 * string ids, "step" as a string or a number, no desc); what it cannot parse
 * becomes a "cloud.bad_payload" event and is otherwise ignored.
 *
 * Push faults (cloudfault.h, docs/faults.md), cloud-wide or per job, change
 * the push as it is prepared (fields, lengths, digests), drop it, publish it
 * again or restart the broker when progress crosses a threshold, or push
 * while the device is known to be offline. Each is a "cloud.fault" event.
 * A broker restart runs on a thread of the cloud's own that lives until
 * cloud_stop(), so the new broker (PR_SET_PDEATHSIG) lives as long.
 *
 * Locking: one mutex (mu) guards the service state. It is taken by the
 * libmosquitto network thread, civetweb's workers and API callers. Events
 * are emitted with mu held where their order matters: evlog has its own
 * lock and never calls back, so that cannot deadlock. MQTT publishes happen
 * after mu is released.
 *
 * Tenants (cloud_add_tenant): a device whose run shares this cloud with
 * others. Its events are routed to its own log with evlog_route() around
 * the code paths that handle it (a device message once its topic names
 * it, the API calls about it, a firmware GET or CoAP request once the
 * firmware or device is known), each restoring the previous route. Its
 * push faults live with the device, its HTTP rules and counters in the
 * firmware server (per owner), its CoAP faults in the CoAP server (per
 * device), so what one tenant does changes nothing another sees.
 *
 * The device and job tables grow on demand (realloc), so an element is
 * addressed by its index under mu and no pointer into a table is kept across
 * an insertion or past an unlock.
 */
#include "mock_cloud/cloud.h"
#include "mock_cloud/broker.h"
#include "mock_cloud/coapserver.h"
#include "mock_cloud/fwcheck.h"
#include "mock_cloud/fwserver.h"
#include "mock_cloud/testca.h"
#include "sim/util/defaults.h"
#include "sim/util/event.h"
#include "sim/util/evlog.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mosquitto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CLOUD_PK_MAX        20      /* spec §11 identity limits */
#define CLOUD_DN_MAX        32
#define CLOUD_SECRET_MAX    64
#define CLOUD_VERSION_MAX   64      /* KV and image header hold 64 bytes */
#define CLOUD_NAME_MAX      80      /* served file name */
#define CLOUD_NO_STEP       (-1000) /* job_status.last_step before any progress */
#define CLOUD_TABLE_MIN     16      /* first allocation of a growing table */
#define CLOUD_SUBACK_US     15000000u /* a loaded host (sanitizers, two cores busy) can take seconds */
#define CLOUD_LOST_GRACE_US 2000000u /* a lost MQTT session counts after this long */
#define CLOUD_RESTART_GRACE_US 5000000u /* ... or this long when a broker restart caused it */
#define CLOUD_KEEPALIVE_S   30
#define CLOUD_CLIENT_ID     "otahil-cloud"
#define CLOUD_SERVICE_USER  "otahil-cloud" /* the service's username at the broker */
#define CLOUD_SERVICE_PASS_BYTES 16      /* random bytes of its password (hex in the registry) */
#define CLOUD_REGISTRY      "broker-registry"
#define CLOUD_AUTH_SO       "otahil-broker-auth.so"
#define CLOUD_COPY_BUF      65536   /* firmware copy buffer (heap: civetweb workers have 100 KiB stacks) */
#define CLOUD_TOPIC_INFORM   "/ota/device/inform/"
#define CLOUD_TOPIC_PROGRESS "/ota/device/progress/"
#define CLOUD_TOPIC_BARRIER  "otahil/cloud/barrier" /* the service's own round trips */
#define CLOUD_BARRIER_US     1000000u
#define CLOUD_TOPIC_REQUEST  "/ota/device/request/"  /* CoAP only (spec §3.2) */

/* Image header fields read by the store (sim/image/image.h). */
#define CLOUD_IMG_MAGIC     "OTAHIMG1"
#define CLOUD_IMG_VER_OFF   24
#define CLOUD_IMG_VER_LEN   64

/* What makes a device a tenant (heap; freed at release). */
struct cloud_tenant_state {
    char     events[PATH_MAX];   /* its event log, "" = the cloud's own */
    uint64_t seed;               /* push ids of its jobs */
    int      jobs;               /* ordinal of its latest job, 0 = none yet */
    struct cloud_mqtt_faults mf; /* push faults of its jobs (none: set 0) */
};

struct cloud_device {
    struct cloud_tenant_state *tn;       /* non-NULL while it is a tenant */
    char pk[CLOUD_PK_MAX + 1];
    char dn[CLOUD_DN_MAX + 1];
    char secret[CLOUD_SECRET_MAX + 1];
    char version[CLOUD_VERSION_MAX + 1]; /* last informed version, "" = none yet */
    int  online;                         /* informed since the cloud started */
    int  last_job;                       /* id of its newest job, 0 = none; the only one
                                          * that can be active */
    int  coap;                           /* authenticated over CoAP: pushes wait in coap_push
                                          * for its next request (spec §3.2) */
    char *coap_push;                     /* heap: the push for its next CoAP request; NULL */
    int  coap_push_len;
};

struct cloud_job {
    int            id;             /* >= 1, index + 1 */
    int            dev;            /* index into devices */
    int            fw;             /* firmware id */
    char           sign_method[8]; /* "Md5" or "Sha256" */
    enum job_state state;
    int            last_step;      /* CLOUD_NO_STEP until the first progress of a push */
    char           reason[160];    /* why it failed or succeeded */
    uint64_t       push_id;        /* "id" of the latest push (of the first before it) */
    int            retries;        /* pushes allowed after a failed attempt */
    int            pushes;         /* pushes prepared so far, <= 1 + retries */
    int            at_inform;      /* first push waits for an inform even if online */
    int            faults;         /* own push faults: index + 1 in jf; 0 = the tenant's, else the
                                    * cloud-wide mf */
    uint64_t       pseed;          /* push ids: cloud_push_id(pseed, pnum, attempt); the cloud's */
    int            pnum;           /* seed and the job id, or a tenant's seed and ordinal */
    unsigned       trig;           /* progress triggers of the current push (CLOUD_TRIG_*) */
};

/* Progress triggers of duplicate_at and restart_broker_at: each fires once
 * per push, at the first report >= P after a report < P. */
#define CLOUD_TRIG_DUP_LOW      1u  /* a report below duplicate_at was seen */
#define CLOUD_TRIG_DUP_DONE     2u
#define CLOUD_TRIG_RESTART_LOW  4u
#define CLOUD_TRIG_RESTART_DONE 8u

struct cloud {
    pthread_mutex_t mu;            /* guards everything below */
    pthread_cond_t  cv;            /* MQTT session changes, barriers (CLOCK_MONOTONIC) */
    unsigned        barrier_sent;  /* the last barrier published, */
    unsigned        barrier_seen;  /* and the last one heard back */
    char            workdir[PATH_MAX]; /* absolute */
    char            fwdir[PATH_MAX + 8]; /* WORKDIR/fw */
    uint64_t        seed;
    struct broker   broker;
    struct fwserver *http;
    struct coapserver *coap;       /* the CoAP endpoint (coapserver.h) */
    struct mosquitto *mq;
    int             http_port;
    int             url_port;      /* port in firmware URLs (a proxy in front of http_port); 0 = http_port */
    char            url_host[64];  /* host in firmware URLs; "" = 127.0.0.1 */
    int             https;         /* firmware URLs are https:// on https_port */
    int             https_port;    /* the firmware server's HTTPS listener; 0 = none */
    struct broker_tls btls;        /* the broker's TLS listener (btls.port 0: none) */
    struct testca_files *tca;      /* the test PKI in WORKDIR/tls; NULL without https and mqtts */
    int             started;       /* cloud.started was emitted */
    int             stopping;      /* teardown began: a disconnect is expected */
    int             connected;     /* MQTT session up */
    int             subscribed;    /* SUBACK seen on the current session */
    int             sub_mid;       /* mid of the pending SUBSCRIBE */
    int             sub_failed;    /* the broker refused a subscription */
    int             had_session;   /* connected at least once */
    unsigned        sessions;      /* MQTT sessions begun (CONNACKs accepted) */
    int             fast_reconnect;/* reconnect delay 0 until the next session (broker restart) */
    uint64_t        lost_at_us;    /* when the session dropped; 0 while up */
    int             lost_reported; /* cloud.broker_lost emitted */
    unsigned        tmp_seq;       /* names of incoming firmware copies */
    char            mosquitto[PATH_MAX]; /* broker binary given to cloud_start, "" = default */
    int             auth;          /* the broker checks credentials and topics (broker_auth.c) */
    char            auth_plugin[PATH_MAX]; /* the plugin's shared object */
    char            registry[PATH_MAX + 32]; /* WORKDIR/broker-registry */
    char            auth_events[PATH_MAX]; /* the event log the plugin appends to, "" = none */
    char            svc_pass[2 * CLOUD_SERVICE_PASS_BYTES + 1]; /* the service's password */
    struct cloud_mqtt_faults mf;   /* cloud-wide push faults */
    struct cloud_mqtt_faults *jf;  /* jobs' own push faults; njf used, jf_cap allocated */
    int             njf, jf_cap;
    pthread_cond_t  rcv;           /* restart thread: requests and completions */
    pthread_t       rthread;       /* restarts the broker on request */
    int             rthread_on;    /* rthread was started */
    unsigned        rreq, rdone;   /* restarts requested, restarts finished */
    int             rquit;         /* the restart thread ends */
    int             rrc;           /* result of the last restart: 0 or -1 */
    char            rerr[256];     /* its reason */
    uint64_t        restarted_us;  /* when the last restart began; 0 = never */
    int             ndev, nfw, njob;
    int             dev_cap, job_cap; /* allocated elements of dev and job */
    struct cloud_device  *dev;                     /* ndev used, grows to CLOUD_MAX_DEVICES */
    struct cloud_fw_info fw[CLOUD_MAX_FIRMWARE];   /* id = index + 1 */
    struct cloud_job     *job;                     /* id = index + 1, grows to CLOUD_MAX_JOBS */
};

/* A push prepared under the lock and published after it. */
struct cloud_push {
    int   job;                     /* 0 = nothing to publish */
    int   attempt;                 /* the job's push number (job_status.pushes) */
    int   drop;                    /* the drop_push fault: prepared, not published */
    char  topic[96];
    char *payload;                 /* heap; freed by cloud_publish */
    int   len;
};

static const struct broker_auth *cloud_broker_auth(const struct cloud *c, struct broker_auth *ba);

static pthread_once_t cloud_mosq_once = PTHREAD_ONCE_INIT;
static void cloud_mosq_init(void) { mosquitto_lib_init(); }

const char *cloud_job_state_name(enum job_state s)
{
    switch (s) {
    case JOB_WAITING:     return "WAITING";
    case JOB_PUSHED:      return "PUSHED";
    case JOB_IN_PROGRESS: return "IN_PROGRESS";
    case JOB_SUCCEEDED:   return "SUCCEEDED";
    case JOB_FAILED:      return "FAILED";
    }
    return "UNKNOWN";
}

int cloud_mkdir_p(const char *dir)
{
    char buf[PATH_MAX];
    size_t len = strlen(dir);

    if (len == 0 || len >= sizeof buf) {
        errno = len ? ENAMETOOLONG : ENOENT;
        return -1;
    }
    memcpy(buf, dir, len + 1);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = saved;
            if (!saved)
                break;
        }
    }
    struct stat st;
    if (stat(dir, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/* splitmix64: the cloud's only source of "random" numbers. */
static uint64_t cloud_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* A 13-digit message id, like the real cloud's millisecond ids, exactly
 * representable as a JSON number (< 2^53), for push number attempt (>= 1)
 * of a job. The first push of a job keeps the id it always had. */
static uint64_t cloud_push_id(uint64_t seed, int job, int attempt)
{
    uint64_t k = (uint64_t)(unsigned)job + ((uint64_t)(unsigned)(attempt - 1) << 32);

    return 1500000000000ull + cloud_mix(seed ^ cloud_mix(k)) % 100000000000ull;
}

/* Room for element n of a growing table of elem-byte elements: returns the
 * (possibly moved) table, or NULL with errno ENOSPC (max reached) or ENOMEM;
 * the old table stays valid then. */
static void *cloud_grow(void *table, int n, int *cap, int max, size_t elem)
{
    void *t;
    int ncap;

    if (n < *cap)
        return table;
    if (n >= max) {
        errno = ENOSPC;
        return NULL;
    }
    ncap = *cap ? (*cap > max / 2 ? max : *cap * 2) : CLOUD_TABLE_MIN;
    if (ncap > max)
        ncap = max;
    t = realloc(table, (size_t)ncap * elem);
    if (!t) {
        errno = ENOMEM;
        return NULL;
    }
    *cap = ncap;
    return t;
}

/* Identifier text for topics and names: printable, no space, no MQTT
 * topic separators or wildcards, nothing that needs escaping in JSON. */
static int cloud_ident_ok(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n == 0 || n > max)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f || *s == '/' || *s == '+' ||
            *s == '#' || *s == '"' || *s == '\\' || *s == '&' || *s == '|')
            return 0;
    return 1;
}

/* A secret the registry can hold: printable, no spaces. */
static int cloud_secret_ok(const char *s)
{
    if (strlen(s) > CLOUD_SECRET_MAX)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

static int cloud_version_ok(const char *v)
{
    size_t n = strlen(v);

    if (n == 0 || n > CLOUD_VERSION_MAX)
        return 0;
    for (; *v; v++)
        if ((unsigned char)*v < ' ' || (unsigned char)*v >= 0x7f)
            return 0;
    return 1;
}

/* ---- devices ---- */

static int cloud_find_device(const struct cloud *c, const char *pk, const char *dn)
{
    for (int i = 0; i < c->ndev; i++)
        if (strcmp(c->dev[i].pk, pk) == 0 && strcmp(c->dev[i].dn, dn) == 0)
            return i;
    return -1;
}

/* Routes the calling thread's events to device d's tenant log, or to the
 * cloud's own log (d < 0, not a tenant). Caller holds mu. */
static void cloud_route_dev_locked(const struct cloud *c, int d)
{
    const struct cloud_tenant_state *tn = d >= 0 ? c->dev[d].tn : NULL;

    evlog_route(tn && tn->events[0] ? tn->events : NULL);
}

/* The same by identity (takes mu). */
static void cloud_route_dev(struct cloud *c, const char *pk, const char *dn)
{
    pthread_mutex_lock(&c->mu);
    cloud_route_dev_locked(c, cloud_find_device(c, pk, dn));
    pthread_mutex_unlock(&c->mu);
}

void cloud_route_owner(struct cloud *c, int owner)
{
    pthread_mutex_lock(&c->mu);
    cloud_route_dev_locked(c, owner >= 1 && owner <= c->ndev ? owner - 1 : -1);
    pthread_mutex_unlock(&c->mu);
}

/* Writes the broker's registry (broker_auth.c reads it at every CONNECT):
 * the service's credentials and every device with a secret, to a temporary
 * file of mode 0600 renamed over the old one. Caller holds mu (or is the
 * only thread). 0, or -1 with a "cloud.registry_error" event. */
static int cloud_write_registry_locked(struct cloud *c)
{
    char tmp[sizeof c->registry + 8], ee[512], why[256];
    FILE *f = NULL;
    int fd, bad;

    if (!c->auth)
        return 0;
    snprintf(tmp, sizeof tmp, "%s.tmp", c->registry);
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || !(f = fdopen(fd, "w"))) {
        snprintf(why, sizeof why, "cannot create %s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        goto fail;
    }
    fprintf(f, "# otahil broker registry: written by the cloud, read by the broker's auth plugin.\n"
               "service %s %s\n", CLOUD_SERVICE_USER, c->svc_pass);
    for (int i = 0; i < c->ndev; i++)
        if (c->dev[i].secret[0])
            fprintf(f, "device %s %s %s\n", c->dev[i].pk, c->dev[i].dn, c->dev[i].secret);
    bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, c->registry) != 0) {
        snprintf(why, sizeof why, "cannot write %s: %s", c->registry, strerror(errno));
        unlink(tmp);
        goto fail;
    }
    return 0;

fail:
    evlog_emit("cloud", "cloud.registry_error", "\"error\":\"%s\"",
               otahil_json_escape(ee, sizeof ee, why));
    return -1;
}

/* Index of the device, adding it if new. Caller holds mu. -1 if the table
 * is full, the identity is malformed or the registry cannot be written. */
static int cloud_device_locked(struct cloud *c, const char *pk, const char *dn, const char *secret,
                               int automatic)
{
    char epk[64], edn[96];
    struct cloud_device *t;
    int i = cloud_find_device(c, pk, dn);

    if (i >= 0) {
        if (secret && strcmp(c->dev[i].secret, secret) != 0) {
            snprintf(c->dev[i].secret, sizeof c->dev[i].secret, "%s", secret);
            if (cloud_write_registry_locked(c) != 0)
                return -1;
        }
        return i;
    }
    if (!cloud_ident_ok(pk, CLOUD_PK_MAX) || !cloud_ident_ok(dn, CLOUD_DN_MAX))
        return -1;
    t = cloud_grow(c->dev, c->ndev, &c->dev_cap, CLOUD_MAX_DEVICES, sizeof *c->dev);
    if (!t)
        return -1;
    c->dev = t;
    i = c->ndev++;
    memset(&c->dev[i], 0, sizeof c->dev[i]);
    strcpy(c->dev[i].pk, pk);
    strcpy(c->dev[i].dn, dn);
    snprintf(c->dev[i].secret, sizeof c->dev[i].secret, "%s", secret ? secret : "");
    evlog_emit("cloud", "device.added", "\"pk\":\"%s\",\"dn\":\"%s\",\"auto\":%s",
               otahil_json_escape(epk, sizeof epk, pk), otahil_json_escape(edn, sizeof edn, dn),
               automatic ? "true" : "false");
    if (c->dev[i].secret[0] && cloud_write_registry_locked(c) != 0)
        return -1;
    return i;
}

int cloud_add_device(struct cloud *c, const char *pk, const char *dn, const char *secret)
{
    int i;

    if (!c || !pk || !dn || !secret || !cloud_secret_ok(secret))
        return -1;
    pthread_mutex_lock(&c->mu);
    i = cloud_device_locked(c, pk, dn, secret, 0);
    pthread_mutex_unlock(&c->mu);
    return i >= 0 ? 0 : -1;
}

/* ---- firmware store ---- */

static void cloud_hex(const unsigned char *d, unsigned n, char *out)
{
    static const char hx[] = "0123456789abcdef";

    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[2 * n] = '\0';
}

/* The served name: the file's basename restricted to [A-Za-z0-9._-]. */
static void cloud_fw_name(const char *path, char *out, size_t outlen)
{
    const char *base = strrchr(path, '/');
    size_t o = 0;

    base = base ? base + 1 : path;
    for (; *base && o + 1 < outlen && o < CLOUD_NAME_MAX; base++) {
        char ch = *base;
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '.' || ch == '_' || ch == '-';
        out[o++] = ok ? ch : '_';
    }
    out[o] = '\0';
    if (o == 0 || strspn(out, ".") == o)
        snprintf(out, outlen, "firmware.bin");
}

/* Reads the version from an otahil image header. 0 or -1 with err. */
static int cloud_image_version(int fd, const char *path, char *ver, char *err, size_t errlen)
{
    unsigned char h[CLOUD_IMG_VER_OFF + CLOUD_IMG_VER_LEN];
    ssize_t n = pread(fd, h, sizeof h, 0);

    if (n < (ssize_t)sizeof h || memcmp(h, CLOUD_IMG_MAGIC, 8) != 0) {
        snprintf(err, errlen, "%s is not an otahil image (no OTAHIMG1 header); give its version "
                 "explicitly", path);
        return -1;
    }
    memcpy(ver, h + CLOUD_IMG_VER_OFF, CLOUD_IMG_VER_LEN);
    ver[CLOUD_IMG_VER_LEN] = '\0';
    if (!cloud_version_ok(ver)) {
        snprintf(err, errlen, "%s: the otahil image header holds no usable version", path);
        return -1;
    }
    return 0;
}

/* Copies src to dst (created exclusively) hashing it on the way. */
static int cloud_copy_hash(int in, const char *dst, uint64_t *size, char *md5, char *sha256)
{
    unsigned char *buf = malloc(CLOUD_COPY_BUF), d1[EVP_MAX_MD_SIZE], d2[EVP_MAX_MD_SIZE];
    unsigned l1 = 0, l2 = 0;
    EVP_MD_CTX *m = EVP_MD_CTX_new(), *s = EVP_MD_CTX_new();
    int out = -1, rc = -1, e = 0;
    uint64_t total = 0;
    ssize_t n;

    if (!buf || !m || !s || !EVP_DigestInit_ex(m, EVP_md5(), NULL) ||
        !EVP_DigestInit_ex(s, EVP_sha256(), NULL)) {
        e = ENOMEM;
        goto out;
    }
    out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) {
        e = errno;
        goto out;
    }
    for (;;) {
        n = read(in, buf, CLOUD_COPY_BUF);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            e = errno;
            goto out;
        }
        if (n == 0)
            break;
        for (ssize_t w = 0; w < n;) {
            ssize_t k = write(out, buf + w, (size_t)(n - w));
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0) {
                e = errno;
                goto out;
            }
            w += k;
        }
        EVP_DigestUpdate(m, buf, (size_t)n);
        EVP_DigestUpdate(s, buf, (size_t)n);
        total += (uint64_t)n;
    }
    if (!EVP_DigestFinal_ex(m, d1, &l1) || !EVP_DigestFinal_ex(s, d2, &l2)) {
        e = EIO;
        goto out;
    }
    cloud_hex(d1, l1, md5);
    cloud_hex(d2, l2, sha256);
    *size = total;
    rc = 0;
out:
    if (out >= 0 && close(out) != 0 && rc == 0) {
        e = errno;
        rc = -1;
    }
    if (rc != 0 && out >= 0)
        unlink(dst);
    EVP_MD_CTX_free(m);
    EVP_MD_CTX_free(s);
    free(buf);
    errno = e;
    return rc;
}

/* cloud_add_firmware's working set, on the heap: it runs on civetweb
 * workers' small stacks. */
struct cloud_fw_scratch {
    struct cloud_fw_info fi;
    struct fwcheck_report chk;               /* the format check (fwcheck.h) */
    char what[PATH_MAX + 512];               /* what it found, one line */
    char ewhat[(PATH_MAX + 512) * 2];        /* escaped for the event */
    char tmp[PATH_MAX + 64];                 /* the incoming copy */
    char ever[CLOUD_VERSION_MAX * 6 + 1];    /* escaped for the event */
    char eurl[256];
    char epath[PATH_MAX];
};

static int cloud_add_firmware_in(struct cloud *c, const char *path, const char *version,
                                 int unchecked, const struct cloud_fw_opts *o, int owner,
                                 struct cloud_fw_scratch *w, char *err, size_t errlen)
{
    struct cloud_fw_info *fi = &w->fi;
    struct stat st;
    unsigned seq;
    int fd, id, e = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open firmware %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "firmware %s is not a regular file", path);
        close(fd);
        return -1;
    }
    /* Spec §12 #8 and #11: only an OTA-format file is served. */
    fwcheck_fd(fd, &w->chk);
    fwcheck_describe(&w->chk, path, w->what, sizeof w->what);
    if (w->chk.result != FWCHECK_OK && !unchecked) {
        snprintf(err, errlen, "%s", w->what);
        evlog_emit("cloud", "firmware.refused", "\"source\":\"%s\",\"error\":\"%s\"",
                   otahil_json_escape(w->epath, sizeof w->epath, path),
                   otahil_json_escape(w->ewhat, sizeof w->ewhat, w->what));
        close(fd);
        return -1;
    }
    if (version) {
        if (!cloud_version_ok(version)) {
            snprintf(err, errlen, "bad version for %s: 1..64 printable characters", path);
            close(fd);
            return -1;
        }
        snprintf(fi->version, sizeof fi->version, "%s", version);
    } else if (cloud_image_version(fd, path, fi->version, err, errlen) != 0) {
        close(fd);
        return -1;
    }
    cloud_fw_name(path, fi->name, sizeof fi->name);

    pthread_mutex_lock(&c->mu);
    seq = ++c->tmp_seq;
    pthread_mutex_unlock(&c->mu);
    snprintf(w->tmp, sizeof w->tmp, "%s/.incoming-%ld-%u", c->fwdir, (long)getpid(), seq);
    if (cloud_copy_hash(fd, w->tmp, &fi->size, fi->md5, fi->sha256) != 0) {
        snprintf(err, errlen, "cannot copy %s into %s: %s", path, c->fwdir, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);

    pthread_mutex_lock(&c->mu);
    if (c->nfw >= CLOUD_MAX_FIRMWARE) {
        pthread_mutex_unlock(&c->mu);
        unlink(w->tmp);
        snprintf(err, errlen, "firmware store full (%d files)", CLOUD_MAX_FIRMWARE);
        return -1;
    }
    id = c->nfw + 1;
    fi->id = id;
    fi->owner = owner;
    {
        const char *host = o && o->url_host && o->url_host[0] ? o->url_host
                           : c->url_host[0] ? c->url_host : "127.0.0.1";
        int port = o && o->url_port ? o->url_port : c->url_port ? c->url_port
                   : c->https ? c->https_port : c->http_port;
        int tls = c->https;
        if (o && o->url_scheme)
            tls = strcmp(o->url_scheme, "https") == 0;
        else if (c->https_port && port == c->https_port)
            tls = 1;
        else if (port == c->http_port)
            tls = 0;
        snprintf(fi->url, sizeof fi->url, "%s://%s:%d/fw/%d/%s", tls ? "https" : "http", host,
                 port, id, fi->name);
    }
    if ((size_t)snprintf(fi->path, sizeof fi->path, "%s/%d-%s", c->fwdir, id, fi->name) >= sizeof fi->path)
        e = ENAMETOOLONG;
    else if (rename(w->tmp, fi->path) != 0)
        e = errno;
    if (e) {
        pthread_mutex_unlock(&c->mu);
        unlink(w->tmp);
        snprintf(err, errlen, "cannot store %s as %s: %s", path, fi->path, strerror(e));
        return -1;
    }
    c->fw[c->nfw++] = *fi;
    evlog_emit("cloud", "firmware.added",
               "\"id\":%d,\"version\":\"%s\",\"size\":%llu,\"md5\":\"%s\",\"sha256\":\"%s\","
               "\"url\":\"%s\",\"source\":\"%s\"",
               id, otahil_json_escape(w->ever, sizeof w->ever, fi->version), (unsigned long long)fi->size,
               fi->md5, fi->sha256, otahil_json_escape(w->eurl, sizeof w->eurl, fi->url),
               otahil_json_escape(w->epath, sizeof w->epath, path));
    if (unchecked)
        evlog_emit("cloud", "firmware.unchecked", "\"id\":%d,\"source\":\"%s\",\"format_ok\":%s,"
                   "\"check\":\"%s\"", id, w->epath, w->chk.result == FWCHECK_OK ? "true" : "false",
                   otahil_json_escape(w->ewhat, sizeof w->ewhat, w->what));
    pthread_mutex_unlock(&c->mu);
    return id;
}

int cloud_add_firmware(struct cloud *c, const char *path, const char *version, char *err,
                       size_t errlen)
{
    struct cloud_fw_opts o = { 0 };

    o.version = version;
    return cloud_add_firmware_opts(c, path, &o, err, errlen);
}

int cloud_add_firmware_opts(struct cloud *c, const char *path, const struct cloud_fw_opts *o,
                            char *err, size_t errlen)
{
    struct cloud_fw_scratch *w;
    char *prev;
    int id, owner = 0;

    if (!c || !path || !path[0]) {
        snprintf(err, errlen, "no firmware file given");
        return -1;
    }
    if (o && (o->url_port < 0 || o->url_port > 65535)) {
        snprintf(err, errlen, "url_port %d out of range 1..65535", o->url_port);
        return -1;
    }
    if (o && o->url_host && o->url_host[0] &&
        (strlen(o->url_host) >= sizeof c->url_host || !cloud_ident_ok(o->url_host, 63) ||
         strpbrk(o->url_host, "?@:<>{}`'\\^%,;=[]"))) {
        snprintf(err, errlen, "url_host \"%.64s\" is not a host name or IPv4 address", o->url_host);
        return -1;
    }
    if (o && o->url_scheme && strcmp(o->url_scheme, "http") && strcmp(o->url_scheme, "https")) {
        snprintf(err, errlen, "url_scheme \"%.16s\": http or https", o->url_scheme);
        return -1;
    }
    if (o && (o->owner_pk || o->owner_dn)) {
        int d;

        pthread_mutex_lock(&c->mu);
        d = o->owner_pk && o->owner_dn ? cloud_find_device(c, o->owner_pk, o->owner_dn) : -1;
        owner = d >= 0 && c->dev[d].tn ? d + 1 : 0;
        pthread_mutex_unlock(&c->mu);
        if (!owner) {
            snprintf(err, errlen, "owner %.32s/%.32s is not a tenant (register it with "
                     "POST /api/tenants first)", o->owner_pk ? o->owner_pk : "(none)",
                     o->owner_dn ? o->owner_dn : "(none)");
            return -1;
        }
    }
    w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    prev = evlog_route_push(evlog_route_get());
    if (owner)
        cloud_route_owner(c, owner);
    id = cloud_add_firmware_in(c, path, o ? o->version : NULL, o ? o->unchecked : 0, o, owner, w,
                               err, errlen);
    evlog_route_pop(prev);
    free(w);
    return id;
}

int cloud_firmware_info(struct cloud *c, int firmware_id, struct cloud_fw_info *fi)
{
    int rc = -1;

    pthread_mutex_lock(&c->mu);
    if (firmware_id >= 1 && firmware_id <= c->nfw) {
        *fi = c->fw[firmware_id - 1];
        rc = 0;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* ---- jobs ---- */

/* The job of device d in one of the states of mask (bit per state), if
 * any. A new job ends the device's older active one, so only its newest job
 * can be active. */
static struct cloud_job *cloud_active_job(struct cloud *c, int d, unsigned mask)
{
    struct cloud_job *j;

    if (!c->dev[d].last_job)
        return NULL;
    j = &c->job[c->dev[d].last_job - 1];
    return (mask & (1u << j->state)) ? j : NULL;
}

#define CLOUD_ACTIVE ((1u << JOB_WAITING) | (1u << JOB_PUSHED) | (1u << JOB_IN_PROGRESS))
#define CLOUD_SENT   ((1u << JOB_PUSHED) | (1u << JOB_IN_PROGRESS))

static void cloud_job_fail(struct cloud_job *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void cloud_job_fail(struct cloud_job *j, const char *fmt, ...)
{
    char er[sizeof j->reason * 6];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(j->reason, sizeof j->reason, fmt, ap);
    va_end(ap);
    j->state = JOB_FAILED;
    evlog_emit("cloud", "job.failed", "\"job\":%d,\"reason\":\"%s\"", j->id,
               otahil_json_escape(er, sizeof er, j->reason));
}

/* An attempt of pushed job j failed for the reason fmt. With a push left
 * the job is set up for the next one ("job.retry") and 1 is returned: the
 * caller pushes it now or leaves it WAITING for the next inform. Without,
 * the job FAILS with that reason and 0 is returned. Caller holds mu. */
static int cloud_attempt_failed(struct cloud_job *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int cloud_attempt_failed(struct cloud_job *j, const char *fmt, ...)
{
    char why[sizeof j->reason], er[sizeof why * 6];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (j->pushes >= 1 + j->retries) {
        cloud_job_fail(j, "%s", why);
        return 0;
    }
    evlog_emit("cloud", "job.retry", "\"job\":%d,\"attempt\":%d,\"reason\":\"%s\"", j->id,
               j->pushes + 1, otahil_json_escape(er, sizeof er, why));
    return 1;
}

/* The push faults that apply to job j: its own, else the cloud-wide ones. */
static const struct cloud_mqtt_faults *cloud_job_faults(const struct cloud *c,
                                                        const struct cloud_job *j)
{
    const struct cloud_tenant_state *tn = c->dev[j->dev].tn;

    return j->faults ? &c->jf[j->faults - 1] : tn ? &tn->mf : &c->mf;
}

#define CLOUD_HAS(f, k) (((f)->set >> (k)) & 1u)

static void cloud_ev_fault(const struct cloud_job *j, int key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void cloud_ev_fault(const struct cloud_job *j, int key, const char *fmt, ...)
{
    char did[512], edid[sizeof did * 6];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(did, sizeof did, fmt, ap);
    va_end(ap);
    evlog_emit("cloud", "cloud.fault", "\"job\":%d,\"attempt\":%d,\"fault\":\"%s\",\"did\":\"%s\"",
               j->id, j->pushes, cloudfault_mqtt_key_name(key),
               otahil_json_escape(edid, sizeof edid, did));
}

/* The query string that lengthens a URL: what an OSS URL signed with an STS
 * token carries (spec §1.5, issue #332), the token made as long as needed. */
static const char cloud_query[] =
    "?Expires=1553691836&OSSAccessKeyId=STS.NK8hLTQ2ZxL5fyAqjRmVb3Tc&Signature=pZ3%2BvDj%2FuW8xk0aR1"
    "q7yb4Jk9Lc%3D&security-token=CAIS";
static const char cloud_token[] = "xAJ1q6Ft5B2yfSjIr5bCMc3wD+1Y3/pLg7ySMHfMtX4Ge7pHjJrQpjz2IHlMeXV";

/* A heap copy of url lengthened to want characters (unchanged if it is as
 * long already). NULL when out of memory. */
static char *cloud_long_url(const char *url, size_t want)
{
    size_t ul = strlen(url), n = ul < want ? want : ul;
    char *u = malloc(n + 1);

    if (!u)
        return NULL;
    memcpy(u, url, ul);
    for (size_t i = ul, k = 0; i < n; i++, k++)
        u[i] = k < sizeof cloud_query - 1 ? cloud_query[k]
                                          : cloud_token[(k - (sizeof cloud_query - 1)) %
                                                        (sizeof cloud_token - 1)];
    u[n] = '\0';
    return u;
}

/* Builds the push of job j (spec §1.5) under faults f; with events, each
 * fault applied is a "cloud.fault" event. Heap text, *len set; NULL when
 * out of memory. Caller holds mu. */
static char *cloud_push_payload(struct cloud *c, const struct cloud_job *j,
                                const struct cloud_mqtt_faults *f, int events, int *len)
{
    const struct cloud_fw_info *fw = &c->fw[j->fw - 1];
    char sm[CF_TEXT_MAX * 6], msg[CF_TEXT_MAX * 6], sign[65], md5[33], size[32];
    char ever[CLOUD_VERSION_MAX * 6 + 1], *url = NULL, *eurl = NULL, *pad = NULL, *out = NULL;
    int sha = strcmp(j->sign_method, "Sha256") == 0, n;
    long long sz = (long long)fw->size;
    size_t padlen = 0;

#define CLOUD_EV(k, ...) do { if (events) cloud_ev_fault(j, (k), __VA_ARGS__); } while (0)
    snprintf(sm, sizeof sm, "%s", j->sign_method);
    if (CLOUD_HAS(f, CF_M_SIGN_METHOD)) {
        otahil_json_escape(sm, sizeof sm, f->sign_method);
        sha = strncasecmp(f->sign_method, "sha", 3) == 0;
        CLOUD_EV(CF_M_SIGN_METHOD, "signMethod \"%s\" instead of \"%s\"", f->sign_method,
                 j->sign_method);
    }
    if (CLOUD_HAS(f, CF_M_SIGN)) {
        sha = f->sign == CF_SIGN_SHA256;
        CLOUD_EV(CF_M_SIGN, "sign holds the %s (%d hex digits)", sha ? "SHA-256" : "MD5",
                 sha ? 64 : 32);
    }
    snprintf(sign, sizeof sign, "%s", sha ? fw->sha256 : fw->md5);
    snprintf(md5, sizeof md5, "%s", fw->md5);
    if (CLOUD_HAS(f, CF_M_SIGN_CASE) && f->sign_upper) {
        for (char *p = sign; *p; p++)
            if (*p >= 'a' && *p <= 'f')
                *p = (char)(*p - 'a' + 'A');
        CLOUD_EV(CF_M_SIGN_CASE, "sign in uppercase hex");
    }
    if ((CLOUD_HAS(f, CF_M_WRONG_DIGEST) && f->wrong_digest) ||
        (CLOUD_HAS(f, CF_M_WRONG_DIGEST_ATTEMPTS) && j->pushes <= f->wrong_digest_attempts)) {
        char *ends[2] = { sign + strlen(sign) - 1, md5 + strlen(md5) - 1 };
        for (int k = 0; k < 2; k++)
            *ends[k] = *ends[k] == '0' ? '1' : '0';
        if (CLOUD_HAS(f, CF_M_WRONG_DIGEST) && f->wrong_digest)
            CLOUD_EV(CF_M_WRONG_DIGEST, "sign and md5 with their last hex digit changed: %s, %s",
                     sign, md5);
        else
            CLOUD_EV(CF_M_WRONG_DIGEST_ATTEMPTS, "push %d of %d with a wrong digest: sign and md5 "
                     "with their last hex digit changed: %s, %s", j->pushes,
                     f->wrong_digest_attempts, sign, md5);
    }
    if (CLOUD_HAS(f, CF_M_SIZE_DELTA)) {
        sz += (long long)f->size_delta;
        CLOUD_EV(CF_M_SIZE_DELTA, "size %lld for a %llu-byte file", sz,
                 (unsigned long long)fw->size);
    }
    snprintf(size, sizeof size, CLOUD_HAS(f, CF_M_SIZE_STRING) && f->size_string ? "\"%lld\"" : "%lld",
             sz);
    if (CLOUD_HAS(f, CF_M_SIZE_STRING) && f->size_string)
        CLOUD_EV(CF_M_SIZE_STRING, "size sent as the string %s", size);
    snprintf(msg, sizeof msg, "success");
    if (CLOUD_HAS(f, CF_M_MESSAGE)) {
        otahil_json_escape(msg, sizeof msg, f->message);
        CLOUD_EV(CF_M_MESSAGE, "message \"%s\" instead of \"success\"", f->message);
    }
    url = CLOUD_HAS(f, CF_M_URL_LEN) ? cloud_long_url(fw->url, f->url_len) : strdup(fw->url);
    if (!url)
        goto out;
    if (CLOUD_HAS(f, CF_M_URL_LEN))
        CLOUD_EV(CF_M_URL_LEN, "url of %zu characters (%zu without the query string)", strlen(url),
                 strlen(fw->url));
    eurl = malloc(strlen(url) * 6 + 1);
    if (!eurl)
        goto out;
    otahil_json_escape(eurl, strlen(url) * 6 + 1, url);
    otahil_json_escape(ever, sizeof ever, fw->version);
    for (int pass = 0; pass < 2; pass++) {
        n = snprintf(out, out ? (size_t)*len + 1 : 0,
                     "{\"code\":\"1000\",\"data\":{\"size\":%s,\"sign\":\"%s\",\"version\":\"%s\","
                     "\"url\":\"%s\",\"signMethod\":\"%s\",\"md5\":\"%s\"%s%s%s},\"id\":%llu,"
                     "\"message\":\"%s\"}",
                     size, sign, ever, eurl, sm, md5, pad ? ",\"extData\":\"" : "", pad ? pad : "",
                     pad ? "\"" : "", (unsigned long long)j->push_id, msg);
        if (pass == 1)
            break;
        if (CLOUD_HAS(f, CF_M_PUSH_LEN) && (size_t)n < f->push_len) {
            size_t over = strlen(",\"extData\":\"\"");
            padlen = f->push_len - (size_t)n > over ? f->push_len - (size_t)n - over : 0;
            pad = malloc(padlen + 1);
            if (!pad)
                goto out;
            for (size_t i = 0; i < padlen; i++)
                pad[i] = (char)('a' + i % 26);
            pad[padlen] = '\0';
            n += (int)(over + padlen);
        }
        *len = n;
        out = malloc((size_t)n + 1);
        if (!out)
            goto out;
    }
    if (CLOUD_HAS(f, CF_M_PUSH_LEN))
        CLOUD_EV(CF_M_PUSH_LEN, pad ? "push padded to %d bytes with data.extData"
                                    : "push left at %d bytes (no shorter than asked)", *len);
out:
#undef CLOUD_EV
    free(url);
    free(eurl);
    free(pad);
    return out;
}

/* Moves job j to PUSHED and prepares its message (spec §1.5), with the
 * job's push faults. Caller holds mu and publishes p after releasing it. */
static void cloud_prepare_push(struct cloud *c, struct cloud_job *j, struct cloud_push *p)
{
    const struct cloud_device *d = &c->dev[j->dev];
    const struct cloud_fw_info *f = &c->fw[j->fw - 1];
    const struct cloud_mqtt_faults *mf = cloud_job_faults(c, j);
    char ever[CLOUD_VERSION_MAX * 6 + 1], eurl[sizeof f->url * 6];

    j->pushes++;
    j->push_id = cloud_push_id(j->pseed, j->pnum, j->pushes);
    j->last_step = CLOUD_NO_STEP;
    j->trig = 0;
    otahil_json_escape(ever, sizeof ever, f->version);
    otahil_json_escape(eurl, sizeof eurl, f->url);
    snprintf(p->topic, sizeof p->topic, "/ota/device/upgrade/%s/%s", d->pk, d->dn);
    p->payload = NULL;
    p->job = 0;
    j->state = JOB_PUSHED;
    evlog_emit("cloud", "job.pushed",
               "\"job\":%d,\"pk\":\"%s\",\"dn\":\"%s\",\"version\":\"%s\",\"url\":\"%s\","
               "\"size\":%llu,\"sign_method\":\"%s\",\"push_id\":%llu,\"attempt\":%d",
               j->id, d->pk, d->dn, ever, eurl, (unsigned long long)f->size, j->sign_method,
               (unsigned long long)j->push_id, j->pushes);
    p->payload = cloud_push_payload(c, j, mf, 1, &p->len);
    if (!p->payload) {
        cloud_job_fail(j, "push not prepared: out of memory");
        return;
    }
    p->job = j->id;
    p->attempt = j->pushes;
    if (CLOUD_HAS(mf, CF_M_DROP_PUSH) && mf->drop_push == j->pushes) {
        p->drop = 1;
        cloud_ev_fault(j, CF_M_DROP_PUSH, "push %d (%d bytes) not published", j->pushes, p->len);
    }
}

/* A push for job's device when that device speaks CoAP: kept (payload
 * taken over) for its next request, and 1; 0 for an MQTT device. mu not
 * held. */
static int cloud_coap_mailbox(struct cloud *c, int job, char *payload, int len)
{
    struct cloud_device *d;

    pthread_mutex_lock(&c->mu);
    d = &c->dev[c->job[job - 1].dev];
    if (!d->coap) {
        pthread_mutex_unlock(&c->mu);
        return 0;
    }
    free(d->coap_push);
    d->coap_push = payload;
    d->coap_push_len = len;
    evlog_emit("cloud", "coap.push_waiting", "\"job\":%d,\"pk\":\"%s\",\"dn\":\"%s\",\"bytes\":%d",
               job, d->pk, d->dn, len);
    pthread_mutex_unlock(&c->mu);
    return 1;
}

/* Publishes a prepared push (mu not held) and frees its text. */
static void cloud_publish(struct cloud *c, struct cloud_push *p)
{
    int rc;

    if (!p->job || p->drop) {
        free(p->payload);
        p->payload = NULL;
        return;
    }
    if (cloud_coap_mailbox(c, p->job, p->payload, p->len)) {
        p->payload = NULL;
        return;
    }
    rc = mosquitto_publish(c->mq, NULL, p->topic, p->len, p->payload, 1, false);
    free(p->payload);
    p->payload = NULL;
    if (rc != MOSQ_ERR_SUCCESS) {
        pthread_mutex_lock(&c->mu);
        struct cloud_job *j = &c->job[p->job - 1];
        if (j->state == JOB_PUSHED && j->pushes == p->attempt)
            cloud_job_fail(j, "push not published: %s", mosquitto_strerror(rc));
        pthread_mutex_unlock(&c->mu);
    }
}

/* 1 when job j's faults say to push while its device is offline. */
static int cloud_offline_push(const struct cloud *c, const struct cloud_job *j)
{
    const struct cloud_mqtt_faults *f = cloud_job_faults(c, j);

    return CLOUD_HAS(f, CF_M_OFFLINE_PUSH) && f->offline_push;
}

static int cloud_create_job_in(struct cloud *c, const char *pk, const char *dn, int firmware_id,
                               const struct push_opts *po, char *err, size_t errlen)
{
    const char *sm = po && po->sign_method ? po->sign_method : "Md5";
    int retries = po ? po->retries : 0, at_inform = po ? !!po->at_inform : 0;
    struct cloud_push push = { 0 };
    struct cloud_job *j, *old, *t;
    char ever[CLOUD_VERSION_MAX * 6 + 1];
    int d, id, fx = 0;

    if (!c || !pk || !dn) {
        snprintf(err, errlen, "no device given");
        return -1;
    }
    if (retries < 0 || retries > CLOUD_MAX_RETRIES) {
        snprintf(err, errlen, "retries %d out of range 0..%d", retries, CLOUD_MAX_RETRIES);
        return -1;
    }
    if (strcasecmp(sm, "md5") == 0)
        sm = "Md5";
    else if (strcasecmp(sm, "sha256") == 0)
        sm = "Sha256";
    else {
        snprintf(err, errlen, "unknown sign method \"%.32s\" (Md5 or Sha256)", sm);
        return -1;
    }
    pthread_mutex_lock(&c->mu);
    d = cloud_find_device(c, pk, dn);
    if (d < 0) {
        pthread_mutex_unlock(&c->mu);
        snprintf(err, errlen, "unknown device %.32s/%.32s (register it first)", pk, dn);
        return -1;
    }
    if (firmware_id < 1 || firmware_id > c->nfw) {
        pthread_mutex_unlock(&c->mu);
        snprintf(err, errlen, "unknown firmware %d", firmware_id);
        return -1;
    }
    t = cloud_grow(c->job, c->njob, &c->job_cap, CLOUD_MAX_JOBS, sizeof *c->job);
    if (!t) {
        int e = errno;
        pthread_mutex_unlock(&c->mu);
        if (e == ENOSPC)
            snprintf(err, errlen, "job table full (%d jobs)", CLOUD_MAX_JOBS);
        else
            snprintf(err, errlen, "out of memory for job %d", c->njob + 1);
        return -1;
    }
    c->job = t;
    if (po && po->faults) {
        struct cloud_mqtt_faults *ft = cloud_grow(c->jf, c->njf, &c->jf_cap, CLOUD_MAX_JOBS,
                                                  sizeof *c->jf);
        if (!ft) {
            pthread_mutex_unlock(&c->mu);
            snprintf(err, errlen, "out of memory for the faults of job %d", c->njob + 1);
            return -1;
        }
        c->jf = ft;
        c->jf[c->njf] = *po->faults;
        fx = ++c->njf;
    }
    id = c->njob + 1;
    old = cloud_active_job(c, d, CLOUD_ACTIVE);
    if (old)
        cloud_job_fail(old, "superseded by job %d", id);
    j = &c->job[c->njob++];
    memset(j, 0, sizeof *j);
    j->id = id;
    j->dev = d;
    j->fw = firmware_id;
    snprintf(j->sign_method, sizeof j->sign_method, "%s", sm);
    j->state = JOB_WAITING;
    j->last_step = CLOUD_NO_STEP;
    if (c->dev[d].tn) {
        j->pseed = c->dev[d].tn->seed;
        j->pnum = ++c->dev[d].tn->jobs;
    } else {
        j->pseed = c->seed;
        j->pnum = id;
    }
    j->push_id = cloud_push_id(j->pseed, j->pnum, 1);
    j->retries = retries;
    j->at_inform = at_inform;
    j->faults = fx;
    c->dev[d].last_job = id;
    evlog_emit("cloud", "job.created",
               "\"job\":%d,\"pk\":\"%s\",\"dn\":\"%s\",\"firmware\":%d,\"version\":\"%s\","
               "\"sign_method\":\"%s\",\"device_online\":%s,\"retries\":%d,\"at_inform\":%s",
               id, c->dev[d].pk, c->dev[d].dn, firmware_id,
               otahil_json_escape(ever, sizeof ever, c->fw[firmware_id - 1].version), sm,
               c->dev[d].online ? "true" : "false", retries, at_inform ? "true" : "false");
    if (c->dev[d].online && !at_inform) {
        cloud_prepare_push(c, j, &push);
    } else if (!at_inform && cloud_offline_push(c, j)) {
        cloud_prepare_push(c, j, &push);
        cloud_ev_fault(j, CF_M_OFFLINE_PUSH, "pushed while the device is offline");
    }
    pthread_mutex_unlock(&c->mu);
    cloud_publish(c, &push);
    return id;
}

int cloud_create_job(struct cloud *c, const char *pk, const char *dn, int firmware_id,
                     const struct push_opts *po, char *err, size_t errlen)
{
    char *prev = evlog_route_push(evlog_route_get());
    int id;

    if (c && pk && dn)
        cloud_route_dev(c, pk, dn);
    id = cloud_create_job_in(c, pk, dn, firmware_id, po, err, errlen);
    evlog_route_pop(prev);
    return id;
}

int cloud_job_status(struct cloud *c, int job_id, struct job_status *st)
{
    int rc = -1;

    pthread_mutex_lock(&c->mu);
    if (job_id >= 1 && job_id <= c->njob) {
        const struct cloud_job *j = &c->job[job_id - 1];
        memset(st, 0, sizeof *st);
        st->id = j->id;
        st->state = j->state;
        st->last_step = j->last_step;
        snprintf(st->reason, sizeof st->reason, "%s", j->reason);
        snprintf(st->target, sizeof st->target, "%s", c->fw[j->fw - 1].version);
        st->pushes = j->pushes;
        st->retries = j->retries;
        rc = 0;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* ---- tenants ---- */

/* Checks a tenant's settings before anything changes. 0 or -1 with err. */
static int cloud_tenant_check(const struct cloud_tenant *t, char *err, size_t errlen)
{
    char why[256];
    int key = 0, fd;

    if (!t || !t->pk || !t->dn || !t->secret) {
        snprintf(err, errlen, "pk, dn and secret are required");
        return -1;
    }
    if (!cloud_ident_ok(t->pk, CLOUD_PK_MAX)) {
        snprintf(err, errlen, "pk: 1..%d characters, no spaces, '/', '+', '#', '&', '|', quotes "
                 "or backslashes", CLOUD_PK_MAX);
        return -1;
    }
    if (!cloud_ident_ok(t->dn, CLOUD_DN_MAX)) {
        snprintf(err, errlen, "dn: 1..%d characters, no spaces, '/', '+', '#', '&', '|', quotes "
                 "or backslashes", CLOUD_DN_MAX);
        return -1;
    }
    if (!cloud_secret_ok(t->secret)) {
        snprintf(err, errlen, "secret: at most %d printable characters, no spaces",
                 CLOUD_SECRET_MAX);
        return -1;
    }
    if (t->events && t->events[0]) {
        if (t->events[0] != '/' || strlen(t->events) >= PATH_MAX) {
            snprintf(err, errlen, "events: \"%.200s\" is not an absolute path", t->events);
            return -1;
        }
        fd = open(t->events, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) {
            snprintf(err, errlen, "events: cannot open %.200s: %s", t->events, strerror(errno));
            return -1;
        }
        close(fd);
    }
    if (t->nhttp < 0 || t->nhttp > CF_HTTP_RULES_MAX || (t->nhttp > 0 && !t->http)) {
        snprintf(err, errlen, "http: %d rules, at most %d", t->nhttp, CF_HTTP_RULES_MAX);
        return -1;
    }
    for (int i = 0; i < t->nhttp; i++)
        if (cloudfault_http_check(&t->http[i], &key, why, sizeof why) != 0) {
            snprintf(err, errlen, "http[%d].settings.%s: %s", i, cloudfault_http_key_name(key), why);
            return -1;
        }
    if (t->coap && cloudfault_coap_check(t->coap, &key, why, sizeof why) != 0) {
        snprintf(err, errlen, "coap.settings.%s: %s", cloudfault_coap_key_name(key), why);
        return -1;
    }
    if (t->mqtt && CLOUD_HAS(t->mqtt, CF_M_RESTART_BROKER_AT)) {
        snprintf(err, errlen, "mqtt.settings.restart_broker_at: restart_broker_at restarts the "
                 "broker of every tenant; give the run a cloud of its own");
        return -1;
    }
    return 0;
}

int cloud_add_tenant(struct cloud *c, const struct cloud_tenant *t, char *err, size_t errlen)
{
    char old[PATH_MAX], *prev;
    struct cloud_tenant_state *tn;
    int d;

    if (!c) {
        snprintf(err, errlen, "no cloud");
        return -1;
    }
    if (cloud_tenant_check(t, err, errlen) != 0)
        return -1;
    tn = calloc(1, sizeof *tn);
    if (!tn) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(tn->events, sizeof tn->events, "%s", t->events ? t->events : "");
    tn->seed = t->seed;
    if (t->mqtt)
        tn->mf = *t->mqtt;
    old[0] = '\0';
    /* device.added of a new device goes to the tenant's log */
    prev = evlog_route_push(tn->events[0] ? tn->events : NULL);
    pthread_mutex_lock(&c->mu);
    d = cloud_device_locked(c, t->pk, t->dn, t->secret, 0);
    if (d >= 0) {
        if (c->dev[d].tn) {
            if (strcmp(c->dev[d].tn->events, tn->events) != 0)
                snprintf(old, sizeof old, "%s", c->dev[d].tn->events);
            free(c->dev[d].tn);
        }
        c->dev[d].tn = tn;
        tn = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    evlog_route_pop(prev);
    if (d < 0) {
        free(tn);
        snprintf(err, errlen, "cannot register %s/%s: device table full (%d) or the broker "
                 "registry cannot be written", t->pk, t->dn, CLOUD_MAX_DEVICES);
        return -1;
    }
    if (old[0])
        evlog_forget(old);
    if (fwserver_set_owner_faults(c->http, d + 1, t->http, t->nhttp, t->throttle_bps) != 0 ||
        coapserver_set_device_faults(c->coap, t->pk, t->dn, 1, t->coap) != 0) {
        snprintf(err, errlen, "cannot install the faults of %s/%s: out of memory or CoAP "
                 "device table full", t->pk, t->dn);
        cloud_release_tenant(c, t->pk, t->dn);
        return -1;
    }
    return 0;
}

int cloud_release_tenant(struct cloud *c, const char *pk, const char *dn)
{
    char *prev, events[PATH_MAX];
    struct cloud_job *j;
    int d;

    if (!c || !pk || !dn)
        return -1;
    prev = evlog_route_push(NULL); /* from now on: the cloud's own log */
    pthread_mutex_lock(&c->mu);
    d = cloud_find_device(c, pk, dn);
    if (d < 0 || !c->dev[d].tn) {
        pthread_mutex_unlock(&c->mu);
        evlog_route_pop(prev);
        return -1;
    }
    snprintf(events, sizeof events, "%s", c->dev[d].tn->events);
    free(c->dev[d].tn);
    c->dev[d].tn = NULL;
    j = cloud_active_job(c, d, CLOUD_ACTIVE);
    if (j)
        cloud_job_fail(j, "tenant released");
    free(c->dev[d].coap_push);
    c->dev[d].coap_push = NULL;
    c->dev[d].online = 0; /* no device.offline: the run has ended */
    pthread_mutex_unlock(&c->mu);
    fwserver_set_owner_faults(c->http, d + 1, NULL, 0, 0);
    coapserver_set_device_faults(c->coap, pk, dn, 0, NULL);
    evlog_forget(events);
    evlog_route_pop(prev);
    return 0;
}

/* ---- JSON views ---- */

static cJSON *cloud_job_obj(const struct cloud *c, const struct cloud_job *j)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddNumberToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "pk", c->dev[j->dev].pk);
    cJSON_AddStringToObject(o, "dn", c->dev[j->dev].dn);
    cJSON_AddNumberToObject(o, "firmware", j->fw);
    cJSON_AddStringToObject(o, "version", c->fw[j->fw - 1].version);
    cJSON_AddStringToObject(o, "sign_method", j->sign_method);
    cJSON_AddStringToObject(o, "state", cloud_job_state_name(j->state));
    if (j->last_step == CLOUD_NO_STEP)
        cJSON_AddNullToObject(o, "last_step");
    else
        cJSON_AddNumberToObject(o, "last_step", j->last_step);
    cJSON_AddStringToObject(o, "reason", j->reason);
    cJSON_AddNumberToObject(o, "push_id", (double)j->push_id);
    cJSON_AddNumberToObject(o, "pushes", j->pushes);
    cJSON_AddNumberToObject(o, "retries", j->retries);
    cJSON_AddBoolToObject(o, "at_inform", j->at_inform);
    return o;
}

char *cloud_job_json(struct cloud *c, int job_id)
{
    char *text = NULL;

    pthread_mutex_lock(&c->mu);
    if (job_id >= 1 && job_id <= c->njob) {
        cJSON *o = cloud_job_obj(c, &c->job[job_id - 1]);
        text = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
    }
    pthread_mutex_unlock(&c->mu);
    return text;
}

char *cloud_status_json(struct cloud *c)
{
    cJSON *o = cJSON_CreateObject(), *devs, *fws, *jobs;
    char *text;

    pthread_mutex_lock(&c->mu);
    cJSON_AddNumberToObject(o, "mqtt_port", c->broker.port);
    cJSON_AddNumberToObject(o, "http_port", c->http_port);
    cJSON_AddNumberToObject(o, "coap_port", coapserver_port(c->coap));
    cJSON_AddNumberToObject(o, "coaps_port", coapserver_dtls_port(c->coap));
    cJSON_AddNumberToObject(o, "broker_pid", c->broker.pid);
    cJSON_AddStringToObject(o, "workdir", c->workdir);
    cJSON_AddBoolToObject(o, "mqtt_connected", c->connected);
    cJSON_AddBoolToObject(o, "auth", c->auth);
    devs = cJSON_AddArrayToObject(o, "devices");
    for (int i = 0; i < c->ndev; i++) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "pk", c->dev[i].pk);
        cJSON_AddStringToObject(d, "dn", c->dev[i].dn);
        if (c->dev[i].version[0])
            cJSON_AddStringToObject(d, "version", c->dev[i].version);
        else
            cJSON_AddNullToObject(d, "version");
        cJSON_AddBoolToObject(d, "online", c->dev[i].online);
        cJSON_AddBoolToObject(d, "tenant", c->dev[i].tn != NULL);
        cJSON_AddItemToArray(devs, d);
    }
    fws = cJSON_AddArrayToObject(o, "firmware");
    for (int i = 0; i < c->nfw; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddNumberToObject(f, "id", c->fw[i].id);
        cJSON_AddStringToObject(f, "name", c->fw[i].name);
        cJSON_AddStringToObject(f, "version", c->fw[i].version);
        cJSON_AddNumberToObject(f, "size", (double)c->fw[i].size);
        cJSON_AddStringToObject(f, "md5", c->fw[i].md5);
        cJSON_AddStringToObject(f, "sha256", c->fw[i].sha256);
        cJSON_AddStringToObject(f, "url", c->fw[i].url);
        cJSON_AddItemToArray(fws, f);
    }
    jobs = cJSON_AddArrayToObject(o, "jobs");
    for (int i = 0; i < c->njob; i++)
        cJSON_AddItemToArray(jobs, cloud_job_obj(c, &c->job[i]));
    pthread_mutex_unlock(&c->mu);
    text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

/* ---- faults: offline devices, broker restarts, installing faults ---- */

/* Marks device d offline ("device.offline" if it was online). Caller
 * holds mu. */
static void cloud_mark_offline(struct cloud *c, int d, const char *why)
{
    char *prev;

    if (!c->dev[d].online)
        return;
    c->dev[d].online = 0;
    prev = evlog_route_push(evlog_route_get());
    cloud_route_dev_locked(c, d);
    evlog_emit("cloud", "device.offline", "\"pk\":\"%s\",\"dn\":\"%s\",\"reason\":\"%s\"",
               c->dev[d].pk, c->dev[d].dn, why);
    evlog_route_pop(prev);
}

/* A round trip through the broker: publishes a numbered message to the
 * service's own barrier topic and waits (at most CLOUD_BARRIER_US) until it
 * comes back. Whatever the broker had accepted before it (a device's last
 * progress reports, say) reaches the service first: one connection, in
 * order. Without a session it returns at once. */
static void cloud_barrier(struct cloud *c)
{
    struct timespec dl;
    char num[16];
    unsigned n;

    pthread_mutex_lock(&c->mu);
    if (!c->connected || !c->subscribed) {
        pthread_mutex_unlock(&c->mu);
        return;
    }
    n = ++c->barrier_sent;
    pthread_mutex_unlock(&c->mu);
    snprintf(num, sizeof num, "%u", n);
    if (mosquitto_publish(c->mq, NULL, CLOUD_TOPIC_BARRIER, (int)strlen(num), num, 1, false) !=
        MOSQ_ERR_SUCCESS)
        return;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_nsec += (long)(CLOUD_BARRIER_US % 1000000u) * 1000L;
    dl.tv_sec += CLOUD_BARRIER_US / 1000000u + dl.tv_nsec / 1000000000L;
    dl.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&c->mu);
    while ((int)(c->barrier_seen - n) < 0 && c->connected)
        if (pthread_cond_timedwait(&c->cv, &c->mu, &dl) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&c->mu);
}

static int cloud_device_offline_in(struct cloud *c, const char *pk, const char *dn)
{
    struct cloud_push push = { 0 };
    struct cloud_job *j;
    int d;

    /* what the device sent before it went away is heard before it is marked offline */
    cloud_barrier(c);
    pthread_mutex_lock(&c->mu);
    d = cloud_find_device(c, pk, dn);
    if (d < 0) {
        pthread_mutex_unlock(&c->mu);
        return -1;
    }
    cloud_mark_offline(c, d, "reported by the harness");
    j = cloud_active_job(c, d, 1u << JOB_WAITING);
    if (j && cloud_offline_push(c, j) && !(j->pushes == 0 && j->at_inform)) {
        cloud_prepare_push(c, j, &push);
        cloud_ev_fault(j, CF_M_OFFLINE_PUSH, "pushed while the device is offline");
    }
    pthread_mutex_unlock(&c->mu);
    cloud_publish(c, &push);
    return 0;
}

int cloud_device_offline(struct cloud *c, const char *pk, const char *dn)
{
    char *prev;
    int rc;

    if (!c || !pk || !dn)
        return -1;
    prev = evlog_route_push(evlog_route_get());
    cloud_route_dev(c, pk, dn);
    rc = cloud_device_offline_in(c, pk, dn);
    evlog_route_pop(prev);
    return rc;
}

/* Stops the broker and starts it again on its port. Caller holds mu (so
 * cloud_health() and the teardown never see it half done). 0 or -1. */
static int cloud_restart_locked(struct cloud *c, char *err, size_t errlen)
{
    struct broker_auth ba;
    int port = c->broker.port, rc;
    struct timespec dl;
    unsigned before;

    if (c->stopping) {
        snprintf(err, errlen, "the cloud is stopping");
        return -1;
    }
    c->restarted_us = evlog_now_us();
    evlog_emit("cloud", "cloud.broker_restart", "\"pid\":%d,\"port\":%d", (int)c->broker.pid, port);
    /* The service reconnects at once (its disconnect callback waits for mu,
     * so not before the new broker is up) and is subscribed again before
     * any device, whose client waits a second or more, can report. */
    before = c->sessions;
    c->fast_reconnect = 1;
    mosquitto_reconnect_delay_set(c->mq, 0, 0, false);
    broker_stop(&c->broker);
    for (int d = 0; d < c->ndev; d++)
        cloud_mark_offline(c, d, "broker restart");
    if (c->btls.port)
        c->btls.port = c->broker.tls_port; /* the TLS listener keeps its port too */
    rc = broker_start_tls(&c->broker, c->mosquitto[0] ? c->mosquitto : NULL, c->workdir, port,
                          c->btls.port ? &c->btls : NULL, cloud_broker_auth(c, &ba), err, errlen);
    if (rc != 0) {
        char ee[512];
        c->fast_reconnect = 0;
        mosquitto_reconnect_delay_set(c->mq, 1, 1, false);
        evlog_emit("cloud", "cloud.broker_restart_failed", "\"error\":\"%s\"",
                   otahil_json_escape(ee, sizeof ee, err));
        return rc;
    }
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += CLOUD_SUBACK_US / 1000000u;
    while ((c->sessions == before || !c->subscribed) && !c->sub_failed && !c->stopping)
        if (pthread_cond_timedwait(&c->cv, &c->mu, &dl) == ETIMEDOUT)
            break;
    if (c->sessions == before || !c->subscribed) {
        snprintf(err, errlen, "the broker is back on 127.0.0.1:%d but the service is not "
                 "subscribed again within %u s", port, CLOUD_SUBACK_US / 1000000u);
        return -1;
    }
    return 0;
}

/* The restart thread: restarts the broker once per request, until told to
 * quit. Its brokers die with it (PR_SET_PDEATHSIG), so it lives as long as
 * the cloud. */
static void *cloud_restart_main(void *arg)
{
    struct cloud *c = arg;

    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (c->rdone == c->rreq && !c->rquit)
            pthread_cond_wait(&c->rcv, &c->mu);
        if (c->rquit)
            break;
        c->rrc = cloud_restart_locked(c, c->rerr, sizeof c->rerr);
        c->rdone = c->rreq;
        pthread_cond_broadcast(&c->rcv);
    }
    pthread_cond_broadcast(&c->rcv);
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* Asks the restart thread for a restart, starting it if needed. Returns
 * the request's number, or 0 when the thread cannot start. Caller holds
 * mu. */
static unsigned cloud_restart_request(struct cloud *c)
{
    if (!c->rthread_on) {
        if (pthread_create(&c->rthread, NULL, cloud_restart_main, c) != 0) {
            evlog_emit("cloud", "cloud.broker_restart_failed",
                       "\"error\":\"cannot start the restart thread\"");
            return 0;
        }
        c->rthread_on = 1;
    }
    c->rreq++;
    pthread_cond_broadcast(&c->rcv);
    return c->rreq;
}

int cloud_restart_broker(struct cloud *c, char *err, size_t errlen)
{
    unsigned ticket;
    int rc;

    pthread_mutex_lock(&c->mu);
    if (c->stopping || c->rquit) {
        pthread_mutex_unlock(&c->mu);
        snprintf(err, errlen, "the cloud is stopping");
        return -1;
    }
    ticket = cloud_restart_request(c);
    if (!ticket) {
        pthread_mutex_unlock(&c->mu);
        snprintf(err, errlen, "cannot start the broker restart thread");
        return -1;
    }
    while ((int)(c->rdone - ticket) < 0 && !c->rquit)
        pthread_cond_wait(&c->rcv, &c->mu);
    rc = (int)(c->rdone - ticket) >= 0 ? c->rrc : -1;
    snprintf(err, errlen, "%s", rc ? (c->rquit ? "the cloud is stopping" : c->rerr) : "");
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int cloud_http_set_faults(struct cloud *c, const struct cloud_http_rule *rules, int n, int append,
                          char *err, size_t errlen)
{
    char why[256];
    int key = 0;

    if (!c || n < 0 || (n > 0 && !rules)) {
        snprintf(err, errlen, "no rules given");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (cloudfault_http_check(&rules[i], &key, why, sizeof why) != 0) {
            snprintf(err, errlen, "rule %d (%s): key '%s': %s", i + 1,
                     rules[i].label[0] ? rules[i].label : "unnamed", cloudfault_http_key_name(key),
                     why);
            return -1;
        }
    }
    if (fwserver_set_faults(c->http, rules, n, append) != 0) {
        snprintf(err, errlen, "more than %d firmware server rules", CF_HTTP_RULES_MAX);
        return -1;
    }
    return 0;
}

void cloud_set_mqtt_faults(struct cloud *c, const struct cloud_mqtt_faults *f)
{
    pthread_mutex_lock(&c->mu);
    if (f)
        c->mf = *f;
    else
        memset(&c->mf, 0, sizeof c->mf);
    pthread_mutex_unlock(&c->mu);
}

int cloud_job_set_mqtt_faults(struct cloud *c, int job_id, const struct cloud_mqtt_faults *f)
{
    struct cloud_job *j;
    int rc = -1;

    pthread_mutex_lock(&c->mu);
    if (job_id >= 1 && job_id <= c->njob) {
        j = &c->job[job_id - 1];
        rc = 0;
        if (!f) {
            j->faults = 0;
        } else if (j->faults) {
            c->jf[j->faults - 1] = *f;
        } else {
            struct cloud_mqtt_faults *t = cloud_grow(c->jf, c->njf, &c->jf_cap, CLOUD_MAX_JOBS,
                                                     sizeof *c->jf);
            if (t) {
                c->jf = t;
                c->jf[c->njf] = *f;
                j->faults = ++c->njf;
            } else {
                rc = -1;
            }
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* ---- what devices send ---- */

static void cloud_bad_payload(const char *topic, const char *error, int len)
{
    char et[512], ee[256];

    evlog_emit("cloud", "cloud.bad_payload", "\"topic\":\"%s\",\"error\":\"%s\",\"len\":%d",
               otahil_json_escape(et, sizeof et, topic), otahil_json_escape(ee, sizeof ee, error),
               len);
}

/* Splits "PREFIX{pk}/{dn}". 0 or -1. */
static int cloud_topic_ids(const char *topic, const char *prefix, char *pk, char *dn)
{
    const char *rest = topic + strlen(prefix), *slash = strchr(rest, '/');
    size_t pl;

    if (!slash || strchr(slash + 1, '/'))
        return -1;
    pl = (size_t)(slash - rest);
    if (pl == 0 || pl > CLOUD_PK_MAX || strlen(slash + 1) == 0 || strlen(slash + 1) > CLOUD_DN_MAX)
        return -1;
    memcpy(pk, rest, pl);
    pk[pl] = '\0';
    strcpy(dn, slash + 1);
    return 0;
}

/* Parses a device payload: trailing NUL bytes stripped, one JSON object,
 * nothing but white space after it, with an object "params". NULL and a
 * reason in err otherwise. */
static cJSON *cloud_parse(const char *p, size_t len, const cJSON **params, char *err,
                          size_t errlen)
{
    const char *end = NULL;
    cJSON *root;

    while (len > 0 && p[len - 1] == '\0')
        len--;
    if (len == 0) {
        snprintf(err, errlen, "empty payload");
        return NULL;
    }
    root = cJSON_ParseWithLengthOpts(p, len, &end, 0);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        snprintf(err, errlen, "not JSON (error at byte %ld)", at ? (long)(at - p) : 0L);
        return NULL;
    }
    while (end && end < p + len && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
        end++;
    if (end && end < p + len) {
        snprintf(err, errlen, "data after the JSON value at byte %ld", (long)(end - p));
        cJSON_Delete(root);
        return NULL;
    }
    *params = cJSON_GetObjectItemCaseSensitive(root, "params");
    if (!cJSON_IsObject(root) || !cJSON_IsObject(*params)) {
        snprintf(err, errlen, "no \"params\" object");
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

/* "step" as a JSON number or a string holding a decimal integer. */
static int cloud_step(const cJSON *v, int *step)
{
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (!(d >= INT32_MIN && d <= INT32_MAX) || d != (double)(int)d)
            return -1;
        *step = (int)d;
        return 0;
    }
    if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        char *end;
        long n;

        while (*s == ' ')
            s++;
        errno = 0;
        n = strtol(s, &end, 10);
        while (*end == ' ')
            end++;
        if (errno || end == s || *end || n < INT32_MIN || n > INT32_MAX)
            return -1;
        *step = (int)n;
        return 0;
    }
    return -1;
}

static void cloud_on_inform(struct cloud *c, const char *pk, const char *dn, const char *version,
                            int coap)
{
    char ev[CLOUD_VERSION_MAX * 6 + 1];
    struct cloud_push push = { 0 };
    struct cloud_job *j;
    int d;

    pthread_mutex_lock(&c->mu);
    evlog_emit("cloud", "device.inform", "\"pk\":\"%s\",\"dn\":\"%s\",\"version\":\"%s\"", pk, dn,
               otahil_json_escape(ev, sizeof ev, version));
    d = cloud_device_locked(c, pk, dn, NULL, 1);
    if (d >= 0) {
        c->dev[d].coap = coap; /* where its pushes go */
        snprintf(c->dev[d].version, sizeof c->dev[d].version, "%s", version);
        c->dev[d].online = 1;
        j = cloud_active_job(c, d, CLOUD_ACTIVE);
        if (j && j->pushes == 0) {
            cloud_prepare_push(c, j, &push); /* first push: whatever the version */
        } else if (j) {
            const char *target = c->fw[j->fw - 1].version;
            if (strcmp(version, target) == 0) {
                j->state = JOB_SUCCEEDED;
                snprintf(j->reason, sizeof j->reason, "device reported the target version %s",
                         version);
                evlog_emit("cloud", "job.succeeded", "\"job\":%d,\"version\":\"%s\"", j->id, ev);
            } else if (j->state == JOB_WAITING) {
                cloud_prepare_push(c, j, &push); /* the retry after a negative step */
            } else if (cloud_attempt_failed(j, "device reported %s after the push, expected %s",
                                            version, target)) {
                cloud_prepare_push(c, j, &push);
            }
        }
    }
    pthread_mutex_unlock(&c->mu);
    cloud_publish(c, &push);
}

/* The progress triggers of job j's faults for a report of step >= 0:
 * duplicate_at prepares the same push again in dup; restart_broker_at sets
 * *restart. Each fires once per push, at the first report >= P after a
 * report < P (so G1's "100" at acceptance, before its "0", does not fire
 * it). Caller holds mu. */
static void cloud_progress_faults(struct cloud *c, struct cloud_job *j, int step,
                                  struct cloud_push *dup, int *restart)
{
    const struct cloud_mqtt_faults *f = cloud_job_faults(c, j);

    if (CLOUD_HAS(f, CF_M_DUPLICATE_AT) && !(j->trig & CLOUD_TRIG_DUP_DONE)) {
        if (step < f->duplicate_at) {
            j->trig |= CLOUD_TRIG_DUP_LOW;
        } else if (j->trig & CLOUD_TRIG_DUP_LOW) {
            j->trig |= CLOUD_TRIG_DUP_DONE;
            dup->payload = cloud_push_payload(c, j, f, 0, &dup->len);
            if (dup->payload) {
                const struct cloud_device *d = &c->dev[j->dev];
                snprintf(dup->topic, sizeof dup->topic, "/ota/device/upgrade/%s/%s", d->pk, d->dn);
                dup->job = j->id;
                dup->attempt = j->pushes;
                cloud_ev_fault(j, CF_M_DUPLICATE_AT, "published push %d again (same id %llu) at "
                               "progress %d", j->pushes, (unsigned long long)j->push_id, step);
            }
        }
    }
    if (CLOUD_HAS(f, CF_M_RESTART_BROKER_AT) && !(j->trig & CLOUD_TRIG_RESTART_DONE)) {
        if (step < f->restart_broker_at) {
            j->trig |= CLOUD_TRIG_RESTART_LOW;
        } else if (j->trig & CLOUD_TRIG_RESTART_LOW) {
            j->trig |= CLOUD_TRIG_RESTART_DONE;
            *restart = 1;
            cloud_ev_fault(j, CF_M_RESTART_BROKER_AT, "restarting the broker on port %d at "
                           "progress %d", c->broker.port, step);
        }
    }
}

static void cloud_on_progress(struct cloud *c, const char *pk, const char *dn, int step,
                              const char *desc)
{
    struct cloud_push dup = { 0 };
    char edesc[512];
    struct cloud_job *j;
    int d, restart = 0;

    otahil_json_escape(edesc, sizeof edesc, desc);
    pthread_mutex_lock(&c->mu);
    evlog_emit("cloud", "device.progress", "\"pk\":\"%s\",\"dn\":\"%s\",\"step\":%d,\"desc\":\"%s\"",
               pk, dn, step, edesc);
    d = cloud_device_locked(c, pk, dn, NULL, 1);
    j = d >= 0 ? cloud_active_job(c, d, CLOUD_SENT) : NULL;
    if (j) {
        j->last_step = step;
        if (step < 0) {
            int again;

            if (desc[0])
                again = cloud_attempt_failed(j, "device reported step %d (%.100s)", step, desc);
            else
                again = cloud_attempt_failed(j, "device reported step %d", step);
            if (again)
                j->state = JOB_WAITING; /* pushed again at its next inform */
        } else if (j->state == JOB_PUSHED) {
            j->state = JOB_IN_PROGRESS;
            evlog_emit("cloud", "job.in_progress", "\"job\":%d,\"step\":%d", j->id, step);
        }
        if (step >= 0)
            cloud_progress_faults(c, j, step, &dup, &restart);
    }
    if (restart)
        cloud_restart_request(c);
    pthread_mutex_unlock(&c->mu);
    if (dup.payload && cloud_coap_mailbox(c, dup.job, dup.payload, dup.len))
        dup.payload = NULL;
    if (dup.payload)
        (void)mosquitto_publish(c->mq, NULL, dup.topic, dup.len, dup.payload, 1, false);
    free(dup.payload);
}

/* One device message, from MQTT or CoAP: inform or progress on topic
 * "/ota/device/KIND/{pk}/{dn}", or (CoAP only) request, whose version is
 * recorded as an inform's is. Anything else is ignored. */
static void cloud_device_message(struct cloud *c, const char *topic, const char *payload, int plen,
                                 int coap)
{
    char pk[CLOUD_PK_MAX + 1], dn[CLOUD_DN_MAX + 1], err[160];
    const cJSON *params, *v;
    const char *prefix;
    int inform, step, request = 0;
    char *prev;
    cJSON *root;

    if (!coap && strcmp(topic, CLOUD_TOPIC_BARRIER) == 0) { /* the service's own, over MQTT */
        char num[16] = "";
        memcpy(num, payload, plen > 0 && plen < 16 ? (size_t)plen : 0);
        pthread_mutex_lock(&c->mu);
        c->barrier_seen = (unsigned)strtoul(num, NULL, 10);
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
        return;
    }
    inform = strncmp(topic, CLOUD_TOPIC_INFORM, strlen(CLOUD_TOPIC_INFORM)) == 0;
    if (coap && strncmp(topic, CLOUD_TOPIC_REQUEST, strlen(CLOUD_TOPIC_REQUEST)) == 0)
        inform = request = 1;
    if (!inform && strncmp(topic, CLOUD_TOPIC_PROGRESS, strlen(CLOUD_TOPIC_PROGRESS)) != 0)
        return;
    prefix = request ? CLOUD_TOPIC_REQUEST : inform ? CLOUD_TOPIC_INFORM : CLOUD_TOPIC_PROGRESS;
    if (cloud_topic_ids(topic, prefix, pk, dn) != 0 ||
        !cloud_ident_ok(pk, CLOUD_PK_MAX) || !cloud_ident_ok(dn, CLOUD_DN_MAX)) {
        cloud_bad_payload(topic, "topic does not end in a valid {pk}/{dn}", plen);
        return;
    }
    /* from here on about device pk/dn: a tenant's events go to its log */
    prev = evlog_route_push(evlog_route_get());
    cloud_route_dev(c, pk, dn);
    root = cloud_parse(payload, plen > 0 ? (size_t)plen : 0, &params, err, sizeof err);
    if (!root) {
        cloud_bad_payload(topic, err, plen);
        evlog_route_pop(prev);
        return;
    }
    if (inform) {
        v = cJSON_GetObjectItemCaseSensitive(params, "version");
        if (!cJSON_IsString(v) || !cloud_version_ok(v->valuestring))
            cloud_bad_payload(topic, "params.version is not a 1..64 character string", plen);
        else if (!request)
            cloud_on_inform(c, pk, dn, v->valuestring, coap);
    } else {
        v = cJSON_GetObjectItemCaseSensitive(params, "desc");
        if (cloud_step(cJSON_GetObjectItemCaseSensitive(params, "step"), &step) != 0)
            cloud_bad_payload(topic, "params.step is not an integer or a string holding one", plen);
        else
            cloud_on_progress(c, pk, dn, step, cJSON_IsString(v) ? v->valuestring : "");
    }
    cJSON_Delete(root);
    evlog_route_pop(prev);
}

static void cloud_on_message(struct mosquitto *mq, void *obj, const struct mosquitto_message *m)
{
    (void)mq;
    cloud_device_message(obj, m->topic, m->payload, m->payloadlen, 0);
}

/* ---- the CoAP endpoint's view of the service (coapserver.h) ---- */

static int cloud_coap_secret(void *ctx, const char *pk, const char *dn, char *secret, size_t n)
{
    struct cloud *c = ctx;
    int d;

    pthread_mutex_lock(&c->mu);
    d = cloud_find_device(c, pk, dn);
    if (d >= 0)
        snprintf(secret, n, "%s", c->dev[d].secret);
    pthread_mutex_unlock(&c->mu);
    return d >= 0 ? 0 : -1;
}

static void cloud_coap_device(void *ctx, const char *pk, const char *dn)
{
    struct cloud *c = ctx;
    int d;

    pthread_mutex_lock(&c->mu);
    d = cloud_find_device(c, pk, dn);
    if (d >= 0)
        c->dev[d].coap = 1;
    pthread_mutex_unlock(&c->mu);
}

static void cloud_coap_route(void *ctx, const char *pk, const char *dn)
{
    cloud_route_dev(ctx, pk, dn);
}

static char *cloud_coap_message(void *ctx, const char *topic, const char *payload, size_t len,
                                int *reply_len)
{
    struct cloud *c = ctx;
    char pk[CLOUD_PK_MAX + 1], dn[CLOUD_DN_MAX + 1], *reply = NULL;
    int d;

    cloud_device_message(c, topic, payload, (int)len, 1);
    if (strncmp(topic, CLOUD_TOPIC_REQUEST, strlen(CLOUD_TOPIC_REQUEST)) != 0 ||
        cloud_topic_ids(topic, CLOUD_TOPIC_REQUEST, pk, dn) != 0)
        return NULL;
    pthread_mutex_lock(&c->mu);
    d = cloud_find_device(c, pk, dn);
    if (d >= 0 && c->dev[d].coap_push && !cloud_active_job(c, d, CLOUD_SENT)) {
        /* its job ended (succeeded, failed, superseded) before the device asked */
        evlog_emit("cloud", "coap.push_dropped", "\"pk\":\"%s\",\"dn\":\"%s\",\"reason\":\"the "
                   "job is no longer open\"", pk, dn);
        free(c->dev[d].coap_push);
        c->dev[d].coap_push = NULL;
    }
    if (d >= 0 && c->dev[d].coap_push) {
        reply = c->dev[d].coap_push;
        *reply_len = c->dev[d].coap_push_len;
        c->dev[d].coap_push = NULL;
        evlog_emit("cloud", "coap.push_delivered", "\"pk\":\"%s\",\"dn\":\"%s\",\"bytes\":%d",
                   pk, dn, *reply_len);
    }
    pthread_mutex_unlock(&c->mu);
    return reply;
}

static int cloud_coap_firmware(void *ctx, const char *pk, const char *dn, char *path, size_t n,
                               uint64_t *size)
{
    struct cloud *c = ctx;
    const struct cloud_job *j;
    int d, rc = -1;

    pthread_mutex_lock(&c->mu);
    d = cloud_find_device(c, pk, dn);
    j = d >= 0 ? cloud_active_job(c, d, CLOUD_SENT) : NULL;
    if (j) {
        snprintf(path, n, "%s", c->fw[j->fw - 1].path);
        *size = c->fw[j->fw - 1].size;
        rc = 0;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* ---- the service's MQTT session ---- */

static void cloud_on_connect(struct mosquitto *mq, void *obj, int rc)
{
    static char *const topics[] = { CLOUD_TOPIC_INFORM "+/+", CLOUD_TOPIC_PROGRESS "+/+",
                                    CLOUD_TOPIC_BARRIER };
    struct cloud *c = obj;
    int mid = 0, again;

    if (rc != 0) {
        evlog_emit("cloud", "cloud.mqtt_refused", "\"rc\":%d,\"reason\":\"%s\"", rc,
                   mosquitto_connack_string(rc));
        return;
    }
    pthread_mutex_lock(&c->mu);
    again = c->had_session;
    c->connected = 1;
    c->had_session = 1;
    c->sessions++;
    if (c->fast_reconnect) {
        c->fast_reconnect = 0;
        mosquitto_reconnect_delay_set(mq, 1, 1, false);
    }
    c->subscribed = 0;
    c->lost_at_us = 0;
    if (mosquitto_subscribe_multiple(mq, &mid, 3, topics, 1, 0, NULL) == MOSQ_ERR_SUCCESS)
        c->sub_mid = mid;
    else
        c->sub_failed = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (again)
        evlog_emit("cloud", "cloud.mqtt_reconnected", NULL);
}

static void cloud_on_subscribe(struct mosquitto *mq, void *obj, int mid, int n, const int *granted)
{
    struct cloud *c = obj;
    int ok = 1;

    (void)mq;
    for (int i = 0; i < n; i++)
        if (granted[i] > 2)
            ok = 0;
    pthread_mutex_lock(&c->mu);
    if (mid == c->sub_mid) {
        c->subscribed = ok;
        c->sub_failed = !ok;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
}

static void cloud_on_disconnect(struct mosquitto *mq, void *obj, int rc)
{
    struct cloud *c = obj;
    int expected;

    (void)mq;
    pthread_mutex_lock(&c->mu);
    expected = c->stopping;
    c->connected = 0;
    c->subscribed = 0;
    if (!expected && !c->lost_at_us)
        c->lost_at_us = evlog_now_us();
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (!expected)
        evlog_emit("cloud", "cloud.mqtt_disconnected", "\"rc\":%d,\"reason\":\"%s\"", rc,
                   mosquitto_strerror(rc));
}

/* Waits for the SUBACK of the first session. 0 or -1. */
static int cloud_wait_subscribed(struct cloud *c)
{
    struct timespec dl;
    int rc = -1;

    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += CLOUD_SUBACK_US / 1000000u;
    pthread_mutex_lock(&c->mu);
    while (!c->subscribed && !c->sub_failed)
        if (pthread_cond_timedwait(&c->cv, &c->mu, &dl) == ETIMEDOUT)
            break;
    if (c->subscribed)
        rc = 0;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int cloud_connect(struct cloud *c, char *err, size_t errlen)
{
    int rc;

    pthread_once(&cloud_mosq_once, cloud_mosq_init);
    c->mq = mosquitto_new(CLOUD_CLIENT_ID, true, c);
    if (!c->mq) {
        snprintf(err, errlen, "cannot create the service's MQTT client: %s", strerror(errno));
        return -1;
    }
    mosquitto_int_option(c->mq, MOSQ_OPT_TCP_NODELAY, 1); /* a push is one small packet: no Nagle delay */
    if (c->auth)
        mosquitto_username_pw_set(c->mq, CLOUD_SERVICE_USER, c->svc_pass);
    mosquitto_connect_callback_set(c->mq, cloud_on_connect);
    mosquitto_disconnect_callback_set(c->mq, cloud_on_disconnect);
    mosquitto_subscribe_callback_set(c->mq, cloud_on_subscribe);
    mosquitto_message_callback_set(c->mq, cloud_on_message);
    mosquitto_reconnect_delay_set(c->mq, 1, 1, false);
    rc = mosquitto_connect(c->mq, "127.0.0.1", c->broker.port, CLOUD_KEEPALIVE_S);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_loop_start(c->mq);
    if (rc != MOSQ_ERR_SUCCESS) {
        snprintf(err, errlen, "cannot connect the service's MQTT client to 127.0.0.1:%d: %s",
                 c->broker.port, mosquitto_strerror(rc));
        mosquitto_destroy(c->mq);
        c->mq = NULL;
        return -1;
    }
    if (cloud_wait_subscribed(c) != 0) {
        int connected;
        pthread_mutex_lock(&c->mu);
        connected = c->connected;
        pthread_mutex_unlock(&c->mu);
        snprintf(err, errlen, "the broker on 127.0.0.1:%d did not %s within %u s; see %s",
                 c->broker.port, connected ? "acknowledge the subscriptions" : "accept the connection",
                 CLOUD_SUBACK_US / 1000000u, c->broker.log);
        return -1;
    }
    return 0;
}

/* ---- life cycle ---- */

/* Stops whatever is running; safe at any point of a start. The HTTP server
 * goes first: a REST call in flight may still publish through the MQTT
 * client, never the other way round. */
static void cloud_teardown(struct cloud *c)
{
    pthread_mutex_lock(&c->mu);
    c->stopping = 1;
    pthread_mutex_unlock(&c->mu);
    if (c->http) {
        fwserver_stop(c->http);
        c->http = NULL;
    }
    coapserver_stop(c->coap);
    c->coap = NULL;
    if (c->mq) {
        mosquitto_disconnect(c->mq);
        mosquitto_loop_stop(c->mq, false);
        mosquitto_destroy(c->mq);
        c->mq = NULL;
    }
    /* Under mu, so a broker restart is either done or never begins; the
     * restart thread ends after its broker has been stopped. */
    pthread_mutex_lock(&c->mu);
    broker_stop(&c->broker);
    c->rquit = 1;
    pthread_cond_broadcast(&c->rcv);
    pthread_mutex_unlock(&c->mu);
    if (c->rthread_on) {
        pthread_join(c->rthread, NULL);
        c->rthread_on = 0;
    }
    if (c->started)
        evlog_emit("cloud", "cloud.stopped", NULL);
    c->started = 0;
}

/* The auth plugin: the option, else $OTAHIL_BROKER_AUTH, else
 * ../lib/otahil-broker-auth.so beside the running program (build/bin/otahil
 * and build/tests/test_* both find build/lib/). 0 or -1. */
static int cloud_find_plugin(const struct cloud_opts *o, char *out, size_t outlen)
{
    const char *env = getenv("OTAHIL_BROKER_AUTH");
    char exe[PATH_MAX], *slash;
    ssize_t n;

    if (o->auth_plugin && o->auth_plugin[0])
        return realpath(o->auth_plugin, out) && access(out, R_OK) == 0 ? 0 : -1;
    if (env && env[0])
        return realpath(env, out) && access(out, R_OK) == 0 ? 0 : -1;
    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    if ((size_t)snprintf(out, outlen, "%s/../lib/%s", exe, CLOUD_AUTH_SO) >= outlen)
        return -1;
    return realpath(out, exe) && (size_t)snprintf(out, outlen, "%s", exe) < outlen &&
                   access(out, R_OK) == 0
               ? 0
               : -1;
}

/* Before the broker starts: finds the plugin, draws the service's password
 * and writes the registry with it (the devices follow as they are added).
 * The password comes from getrandom(), not from the run's seed: it is a
 * credential, it changes nothing the run does or logs, and a seed is
 * printed in every report. 0 or -1 with err. */
static int cloud_auth_setup(struct cloud *c, const struct cloud_opts *o, char *err, size_t errlen)
{
    unsigned char rnd[CLOUD_SERVICE_PASS_BYTES];
    const char *ev = evlog_path();

    c->auth = !o->no_auth;
    if (!c->auth)
        return 0;
    if (cloud_find_plugin(o, c->auth_plugin, sizeof c->auth_plugin) != 0) {
        snprintf(err, errlen, "broker auth plugin %s not found or not readable (build it with "
                 "make, point OTAHIL_BROKER_AUTH at it, or run without auth: --no-auth)",
                 o->auth_plugin && o->auth_plugin[0] ? o->auth_plugin
                 : getenv("OTAHIL_BROKER_AUTH") && getenv("OTAHIL_BROKER_AUTH")[0]
                     ? getenv("OTAHIL_BROKER_AUTH")
                     : "../lib/" CLOUD_AUTH_SO " beside this program");
        return -1;
    }
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        snprintf(err, errlen, "cannot draw the broker service password: %s", strerror(errno));
        return -1;
    }
    cloud_hex(rnd, sizeof rnd, c->svc_pass);
    snprintf(c->registry, sizeof c->registry, "%s/" CLOUD_REGISTRY, c->workdir);
    if (ev && !realpath(ev, c->auth_events))
        c->auth_events[0] = '\0';
    if (cloud_write_registry_locked(c) != 0) {
        snprintf(err, errlen, "cannot write the broker registry %s: %s", c->registry,
                 strerror(errno));
        return -1;
    }
    return 0;
}

/* The broker's auth options, or NULL without auth. */
static const struct broker_auth *cloud_broker_auth(const struct cloud *c, struct broker_auth *ba)
{
    if (!c->auth)
        return NULL;
    ba->plugin = c->auth_plugin;
    ba->registry = c->registry;
    ba->events = c->auth_events[0] ? c->auth_events : NULL;
    return ba;
}

const char *cloud_registry_path(const struct cloud *c)
{
    return c->auth ? c->registry : NULL;
}

/* Frees what cloud_start allocated, after cloud_teardown. */
static void cloud_free(struct cloud *c)
{
    pthread_cond_destroy(&c->cv);
    pthread_cond_destroy(&c->rcv);
    pthread_mutex_destroy(&c->mu);
    for (int i = 0; i < c->ndev; i++) {
        free(c->dev[i].coap_push);
        free(c->dev[i].tn);
    }
    free(c->dev);
    free(c->job);
    free(c->jf);
    free(c->tca);
    free(c);
}

/* The test PKI in WORKDIR/tls (testca.h), once per cloud; tls_cert is the
 * certificate named in the cloud.tls event. 0, or -1 with err set. */
static int cloud_make_pki(struct cloud *c, int tls_cert, char *err, size_t errlen)
{
    char tdir[PATH_MAX + 8], ew[PATH_MAX * 2];

    if (tls_cert < 0 || tls_cert >= TESTCA_NCERTS) {
        snprintf(err, errlen, "tls_cert %d: no such test certificate", tls_cert);
        return -1;
    }
    if (c->tca)
        return 0;
    snprintf(tdir, sizeof tdir, "%s/tls", c->workdir);
    if (!(c->tca = malloc(sizeof *c->tca))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (testca_generate(tdir, c->seed, c->tca, err, errlen) != 0) {
        free(c->tca);
        c->tca = NULL;
        return -1;
    }
    evlog_emit("cloud", "cloud.tls", "\"ca\":\"%s\",\"https_cert\":\"%s\"",
               otahil_json_escape(ew, sizeof ew, c->tca->ca), testca_cert_name(tls_cert));
    return 0;
}

struct cloud *cloud_start(const struct cloud_opts *o, char *err, size_t errlen)
{
    struct broker_auth ba;
    char ew[PATH_MAX * 2];
    pthread_condattr_t ca;
    struct cloud *c;

    if (!o || !o->workdir || !o->workdir[0]) {
        snprintf(err, errlen, "no work directory given");
        return NULL;
    }
    if (o->mqtt_port < 0 || o->mqtt_port > 65535 || o->http_port < 0 || o->http_port > 65535) {
        snprintf(err, errlen, "ports must be 0 (any) or 1..65535");
        return NULL;
    }
    if (o->mqtt_port > 0 && broker_port_taken(o->mqtt_port)) {
        snprintf(err, errlen, "MQTT port 127.0.0.1:%d is in use by another program", o->mqtt_port);
        return NULL;
    }
    if (o->http_port > 0 && (o->http_port == o->mqtt_port || broker_port_taken(o->http_port))) {
        snprintf(err, errlen, "HTTP port 127.0.0.1:%d is in use by another program%s", o->http_port,
                 o->http_port == o->mqtt_port ? " (the MQTT port)" : "");
        return NULL;
    }
    c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_cond_init(&c->rcv, &ca);
    pthread_condattr_destroy(&ca);
    c->seed = o->seed;
    if (o->mosquitto && strlen(o->mosquitto) < sizeof c->mosquitto)
        snprintf(c->mosquitto, sizeof c->mosquitto, "%s", o->mosquitto);

    if (cloud_mkdir_p(o->workdir) != 0 || !realpath(o->workdir, c->workdir)) {
        snprintf(err, errlen, "cannot create work directory %s: %s", o->workdir, strerror(errno));
        goto fail;
    }
    snprintf(c->fwdir, sizeof c->fwdir, "%s/fw", c->workdir);
    if (cloud_mkdir_p(c->fwdir) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", c->fwdir, strerror(errno));
        goto fail;
    }
    if ((o->https || o->mqtts) && cloud_make_pki(c, o->tls_cert, err, errlen) != 0)
        goto fail;
    if (o->mqtts) {
        c->btls.port = -1; /* a free port, kept across broker restarts */
        c->btls.cafile = c->tca->ca;
        c->btls.certfile = c->tca->crt[TESTCA_GOOD];
        c->btls.keyfile = c->tca->key[TESTCA_GOOD];
    }
    if (cloud_auth_setup(c, o, err, errlen) != 0 ||
        broker_start_tls(&c->broker, o->mosquitto, c->workdir, o->mqtt_port,
                         o->mqtts ? &c->btls : NULL, cloud_broker_auth(c, &ba), err, errlen) != 0)
        goto fail;
    c->http = fwserver_start_tls(c, o->http_port, o->throttle_bps,
                                 o->https ? c->tca->pem[o->tls_cert] : NULL, err, errlen);
    if (!c->http)
        goto fail;
    c->http_port = fwserver_port(c->http);
    c->https_port = fwserver_tls_port(c->http);
    c->https = o->https;
    if (cloud_add_device(c, OTAHIL_DEFAULT_PK, OTAHIL_DEFAULT_DN, OTAHIL_DEFAULT_SECRET) != 0) {
        snprintf(err, errlen, "cannot register the default device in %s", c->registry);
        goto fail;
    }
    if (cloud_connect(c, err, errlen) != 0)
        goto fail;
    {
        const struct coapserver_ops cops = { c, cloud_coap_secret, cloud_coap_device,
                                             cloud_coap_message, cloud_coap_firmware,
                                             cloud_coap_route };
        c->coap = coapserver_start(&cops, o->seed, 1, err, errlen);
        if (!c->coap)
            goto fail;
    }
    /* With the test PKI made, coaps offers the certificate HTTPS presents. */
    if (c->tca && coapserver_dtls_port(c->coap) && cloud_coaps_pki(c, o->tls_cert, err, errlen) != 0)
        goto fail;
    c->started = 1;
    evlog_emit("cloud", "cloud.started", "\"mqtt_port\":%d,\"http_port\":%d,\"mqtts_port\":%d,"
               "\"https_port\":%d,\"coap_port\":%d,\"coaps_port\":%d,\"workdir\":\"%s\"",
               c->broker.port, c->http_port, c->broker.tls_port, c->https_port,
               coapserver_port(c->coap), coapserver_dtls_port(c->coap),
               otahil_json_escape(ew, sizeof ew, c->workdir));
    return c;

fail:
    cloud_teardown(c);
    cloud_free(c);
    return NULL;
}

void cloud_stop(struct cloud *c)
{
    if (!c)
        return;
    cloud_teardown(c);
    cloud_free(c);
}

int cloud_mqtt_port(const struct cloud *c)
{
    return c->broker.port;
}

void cloud_set_url_port(struct cloud *c, int port)
{
    pthread_mutex_lock(&c->mu);
    c->url_port = port;
    pthread_mutex_unlock(&c->mu);
}

void cloud_set_url_host(struct cloud *c, const char *host)
{
    pthread_mutex_lock(&c->mu);
    snprintf(c->url_host, sizeof c->url_host, "%s", host ? host : "");
    pthread_mutex_unlock(&c->mu);
}

int cloud_set_url_tls(struct cloud *c, int tls)
{
    int rc = 0;

    pthread_mutex_lock(&c->mu);
    if (tls && !c->https_port)
        rc = -1;
    else
        c->https = tls != 0;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int cloud_http_port(const struct cloud *c)
{
    return c->http_port;
}

int cloud_mqtts_port(const struct cloud *c)
{
    return c->broker.tls_port;
}

int cloud_https_port(const struct cloud *c)
{
    return c->https_port;
}

int cloud_fw_port(const struct cloud *c)
{
    return c->https ? c->https_port : c->http_port;
}

int cloud_device_mqtt_port(const struct cloud *c)
{
    return c->btls.port ? c->broker.tls_port : c->broker.port;
}

const char *cloud_ca_path(const struct cloud *c)
{
    return c->tca ? c->tca->ca : "";
}

int cloud_coaps_pki(struct cloud *c, int tls_cert, char *err, size_t errlen)
{
    if (!coapserver_dtls_port(c->coap)) {
        snprintf(err, errlen, "coaps: libcoap has no DTLS here");
        return -1;
    }
    if (cloud_make_pki(c, tls_cert, err, errlen) != 0)
        return -1;
    return coapserver_set_pki(c->coap, c->tca->crt[tls_cert], c->tca->key[tls_cert],
                              testca_cert_name(tls_cert), err, errlen);
}

int cloud_coap_port(const struct cloud *c)
{
    return coapserver_port(c->coap);
}

int cloud_coaps_port(const struct cloud *c)
{
    return coapserver_dtls_port(c->coap);
}

void cloud_set_coap_faults(struct cloud *c, const struct cloud_coap_faults *f)
{
    coapserver_set_faults(c->coap, f);
}

int cloud_broker_pid(const struct cloud *c)
{
    return (int)c->broker.pid;
}

int cloud_health(struct cloud *c, char *err, size_t errlen)
{
    char why[96], reason[256], er[sizeof reason * 6];
    int rc = 0;

    reason[0] = '\0';
    pthread_mutex_lock(&c->mu);
    if (!broker_alive(&c->broker, why, sizeof why)) {
        snprintf(reason, sizeof reason, "broker (mosquitto pid %d) exited: %s", (int)c->broker.pid,
                 why);
        rc = -1;
    } else if (!c->connected && c->lost_at_us &&
               evlog_now_us() - c->lost_at_us >
                   (c->restarted_us && c->lost_at_us >= c->restarted_us &&
                            c->lost_at_us - c->restarted_us < CLOUD_LOST_GRACE_US
                        ? CLOUD_RESTART_GRACE_US
                        : CLOUD_LOST_GRACE_US)) {
        snprintf(reason, sizeof reason, "lost the MQTT connection to the broker on 127.0.0.1:%d "
                 "for %llu ms", c->broker.port,
                 (unsigned long long)((evlog_now_us() - c->lost_at_us) / 1000u));
        rc = -1;
    }
    if (rc && !c->lost_reported) {
        c->lost_reported = 1;
        evlog_emit("cloud", "cloud.broker_lost", "\"reason\":\"%s\"",
                   otahil_json_escape(er, sizeof er, reason));
    }
    pthread_mutex_unlock(&c->mu);
    if (rc && err)
        snprintf(err, errlen, "%s", reason);
    return rc;
}
