/* cloudref.c - see cloudref.h. */
#include "conformance/cloudref.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conformance/plan.h"
#include "mock_cloud/cloudfault.h"
#include "mock_cloud/testca.h"
#include "sim/util/defaults.h"

static int json_int(const cJSON *o, const char *key, int dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valueint : dflt;
}

int shared_cloud_read(const char *dir, struct shared_cloud *sc, char *err, size_t errlen)
{
    char path[PATH_MAX + 16], *text = NULL;
    size_t len = 0;
    memset(sc, 0, sizeof(*sc));
    snprintf(path, sizeof(path), "%s/cloud.json", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            char *t = realloc(text, cap = (cap + 4096) * 2);
            if (!t) {
                free(text);
                fclose(f);
                snprintf(err, errlen, "%s: out of memory", path);
                return -1;
            }
            text = t;
        }
        size_t n = fread(text + len, 1, 4096, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    text[len] = '\0';
    cJSON *o = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        snprintf(err, errlen, "%s: not a JSON object", path);
        return -1;
    }
    sc->api_port = json_int(o, "http_port", 0);
    sc->mqtt_port = json_int(o, "mqtt_port", 0);
    sc->mqtts_port = json_int(o, "mqtts_port", 0);
    sc->https_port = json_int(o, "https_port", 0);
    sc->coap_port = json_int(o, "coap_port", 0);
    sc->coaps_port = json_int(o, "coaps_port", 0);
    sc->pid = json_int(o, "pid", 0);
    sc->broker_pid = json_int(o, "broker_pid", 0);
    const cJSON *ca = cJSON_GetObjectItemCaseSensitive(o, "ca");
    if (cJSON_IsString(ca))
        snprintf(sc->ca, sizeof(sc->ca), "%s", ca->valuestring);
    snprintf(sc->dir, sizeof(sc->dir), "%s", dir);
    cJSON_Delete(o);
    if (sc->api_port <= 0 || sc->mqtt_port <= 0) {
        snprintf(err, errlen, "%s: no http_port or mqtt_port", path);
        return -1;
    }
    return 0;
}

const char *cloudref_own_reason(const struct fault_plan *p)
{
    if (!p)
        return NULL;
    if (p->mqtt.set & (1u << CF_M_RESTART_BROKER_AT))
        return "its fault restarts the broker, which would disconnect every other device";
    if ((p->https || (p->coap == 2 && !p->dtls_psk)) && p->tls_cert != TESTCA_GOOD)
        return "its cloud presents another certificate than the good one";
    return NULL;
}

static void ids(struct cloudref *r, const char *pk, const char *dn, const char *secret)
{
    snprintf(r->pk, sizeof(r->pk), "%s", pk);
    snprintf(r->dn, sizeof(r->dn), "%s", dn);
    snprintf(r->secret, sizeof(r->secret), "%s", secret);
}

int cloudref_start_own(struct cloudref *r, const struct cloud_opts *o, const struct fault_plan *p,
                       const char *pk, const char *dn, const char *secret, char *err, size_t errlen)
{
    char e[1024];
    memset(r, 0, sizeof(*r));
    ids(r, pk, dn, secret);
    r->https = o->https;
    r->mqtts = o->mqtts;
    r->local = cloud_start(o, e, sizeof(e));
    if (!r->local) {
        snprintf(err, errlen, "cloud: %s", e);
        return -1;
    }
    if (strcmp(pk, OTAHIL_DEFAULT_PK) || strcmp(dn, OTAHIL_DEFAULT_DN)) {
        if (cloud_add_device(r->local, pk, dn, secret) != 0) {
            snprintf(err, errlen, "cloud: cannot register the device %s/%s", pk, dn);
            cloudref_stop(r);
            return -1;
        }
    }
    if (p && plan_apply_cloud(p, r->local, err, errlen) != 0) {
        cloudref_stop(r);
        return -1;
    }
    return 0;
}

/* One REST call; 0 when the status is want, else -1 with one line in err. */
static int call(struct cloudref *r, const char *method, const char *path, cJSON *body, int want,
                cJSON **out, char *err, size_t errlen)
{
    char e[512];
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON *reply = NULL;
    if (body && !text) {
        snprintf(err, errlen, "shared cloud: out of memory");
        return -1;
    }
    int st = api_call(&r->api, method, path, text, &reply, e, sizeof(e));
    free(text);
    if (st < 0) {
        snprintf(err, errlen, "shared cloud: %s %s: %s", method, path, e);
        return -1;
    }
    if (st != want) {
        snprintf(err, errlen, "shared cloud: %s %s: %d %s", method, path, st, api_error_text(reply));
        cJSON_Delete(reply);
        return -1;
    }
    if (out)
        *out = reply;
    else
        cJSON_Delete(reply);
    return 0;
}

int cloudref_join(struct cloudref *r, const struct shared_cloud *sc, const char *events,
                  uint64_t seed, const struct fault_plan *p, const char *pk, const char *dn,
                  const char *secret, char *err, size_t errlen)
{
    char abs[PATH_MAX], seedtxt[32];
    memset(r, 0, sizeof(*r));
    ids(r, pk, dn, secret);
    r->shared = sc;
    r->https = p && p->https;
    r->mqtts = p && p->mqtts;
    const char *missing = (r->https && !sc->https_port) ? "an HTTPS listener"
                        : (r->mqtts && !sc->mqtts_port) ? "a TLS listener on the broker"
                        : (p && p->coap == 2 && !sc->coaps_port) ? "a DTLS (coaps) port"
                        : (p && p->coap && !sc->coap_port) ? "a CoAP port" : NULL;
    if (missing) {
        snprintf(err, errlen, "the cloud in %s has no %s (start it with --transport all)", sc->dir,
                 missing);
        return -1;
    }
    if (api_client_init(&r->api, "127.0.0.1", sc->api_port) != 0) {
        snprintf(err, errlen, "shared cloud: bad API port %d", sc->api_port);
        return -1;
    }
    if (!realpath(events, abs)) {
        snprintf(err, errlen, "%s: %s", events, strerror(errno));
        return -1;
    }
    cJSON *b = cJSON_CreateObject();
    cJSON *http = cJSON_CreateArray();
    int bad = !b || !http;
    if (!bad) {
        cJSON_AddItemToObject(b, "http", http);
        bad |= !cJSON_AddStringToObject(b, "pk", pk) || !cJSON_AddStringToObject(b, "dn", dn) ||
               !cJSON_AddStringToObject(b, "secret", secret) ||
               !cJSON_AddStringToObject(b, "events", abs);
        /* the seed as a number: exact up to 2^53, and the cloud takes it as given */
        snprintf(seedtxt, sizeof(seedtxt), "%llu", (unsigned long long)seed);
        bad |= !cJSON_AddItemToObject(b, "seed", cJSON_CreateRaw(seedtxt));
    } else {
        cJSON_Delete(http);
    }
    for (int i = 0; !bad && p && i < p->nhttp; i++) {
        cJSON *rule = cloudfault_http_to_json(&p->http[i]);
        bad |= !rule || !cJSON_AddItemToArray(http, rule);
    }
    if (!bad && p && p->mqtt.set) {
        cJSON *m = cloudfault_mqtt_to_json(&p->mqtt);
        bad |= !m || !cJSON_AddItemToObject(b, "mqtt", m);
    }
    if (!bad && p && p->coapf.set) {
        cJSON *m = cloudfault_coap_to_json(&p->coapf);
        bad |= !m || !cJSON_AddItemToObject(b, "coap", m);
    }
    if (bad) {
        cJSON_Delete(b);
        snprintf(err, errlen, "shared cloud: out of memory");
        return -1;
    }
    int rc = call(r, "POST", "/api/tenants", b, 201, NULL, err, errlen);
    cJSON_Delete(b);
    if (rc != 0)
        return -1;
    r->tenant = 1;
    if (p && plan_log(p, err, errlen) != 0) {
        cloudref_stop(r);
        return -1;
    }
    return 0;
}

void cloudref_stop(struct cloudref *r)
{
    if (r->local) {
        cloud_stop(r->local);
        r->local = NULL;
    }
    if (r->tenant) {
        char path[160], e[256];
        snprintf(path, sizeof(path), "/api/tenants/%s/%s", r->pk, r->dn);
        (void)call(r, "DELETE", path, NULL, 200, NULL, e, sizeof(e));
        r->tenant = 0;
    }
}

void cloudref_set_url_host(struct cloudref *r, const char *host)
{
    if (r->local)
        cloud_set_url_host(r->local, host);
    snprintf(r->url_host, sizeof(r->url_host), "%s", host ? host : "");
}

void cloudref_set_url_port(struct cloudref *r, int port)
{
    if (r->local)
        cloud_set_url_port(r->local, port);
    r->url_port = port;
}

int cloudref_mqtt_port(const struct cloudref *r)
{
    if (r->local)
        return cloud_device_mqtt_port(r->local);
    return r->mqtts ? r->shared->mqtts_port : r->shared->mqtt_port;
}

int cloudref_fw_port(const struct cloudref *r)
{
    if (r->local)
        return cloud_fw_port(r->local);
    return r->https ? r->shared->https_port : r->shared->api_port;
}

int cloudref_coap_port(const struct cloudref *r, int dtls)
{
    if (r->local)
        return dtls ? cloud_coaps_port(r->local) : cloud_coap_port(r->local);
    return dtls ? r->shared->coaps_port : r->shared->coap_port;
}

const char *cloudref_ca_path(const struct cloudref *r)
{
    if (r->local)
        return cloud_ca_path(r->local);
    return r->shared->ca;
}

/* POSTs body b (freed; bad: it could not be built) to path, expecting 201
 * and an "id": the id, or -1 with one line in err. */
static int post_id(struct cloudref *r, const char *path, cJSON *b, int bad, char *err, size_t errlen)
{
    cJSON *reply = NULL;
    if (bad) {
        cJSON_Delete(b);
        snprintf(err, errlen, "shared cloud: out of memory");
        return -1;
    }
    int rc = call(r, "POST", path, b, 201, &reply, err, errlen);
    cJSON_Delete(b);
    if (rc != 0)
        return -1;
    int id = json_int(reply, "id", -1);
    cJSON_Delete(reply);
    if (id < 0)
        snprintf(err, errlen, "shared cloud: POST %s: no id in the reply", path);
    return id;
}

int cloudref_add_firmware(struct cloudref *r, const char *path, const struct cloud_fw_opts *o,
                          char *err, size_t errlen)
{
    if (r->local)
        return cloud_add_firmware_opts(r->local, path, o, err, errlen);
    char abs[PATH_MAX];
    if (!realpath(path, abs)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    cJSON *b = cJSON_CreateObject();
    int bad = !b || !cJSON_AddStringToObject(b, "path", abs) ||
              !cJSON_AddStringToObject(b, "pk", r->pk) || !cJSON_AddStringToObject(b, "dn", r->dn);
    if (!bad && o && o->version)
        bad |= !cJSON_AddStringToObject(b, "version", o->version);
    if (!bad && o && o->unchecked)
        bad |= !cJSON_AddBoolToObject(b, "unchecked", 1);
    if (!bad) /* a proxy's, else the listener of the run's transport */
        bad |= !cJSON_AddNumberToObject(b, "url_port", r->url_port ? r->url_port : cloudref_fw_port(r));
    if (!bad && r->url_host[0])
        bad |= !cJSON_AddStringToObject(b, "url_host", r->url_host);
    if (!bad) /* a proxy's port says nothing of the scheme */
        bad |= !cJSON_AddStringToObject(b, "url_scheme", r->https ? "https" : "http");
    return post_id(r, "/api/firmware", b, bad, err, errlen);
}

int cloudref_create_job(struct cloudref *r, int firmware_id, const struct push_opts *po, char *err,
                        size_t errlen)
{
    if (r->local)
        return cloud_create_job(r->local, r->pk, r->dn, firmware_id, po, err, errlen);
    if (po && po->faults) {
        snprintf(err, errlen, "shared cloud: a job's own push faults go with the tenant");
        return -1;
    }
    cJSON *b = cJSON_CreateObject();
    int bad = !b || !cJSON_AddStringToObject(b, "pk", r->pk) ||
              !cJSON_AddStringToObject(b, "dn", r->dn) ||
              !cJSON_AddNumberToObject(b, "firmware", firmware_id);
    if (!bad && po && po->sign_method)
        bad |= !cJSON_AddStringToObject(b, "signMethod", po->sign_method);
    if (!bad && po)
        bad |= !cJSON_AddNumberToObject(b, "retries", po->retries) ||
               !cJSON_AddBoolToObject(b, "at_inform", po->at_inform != 0);
    return post_id(r, "/api/jobs", b, bad, err, errlen);
}

int cloudref_job_status(struct cloudref *r, int job_id, struct job_status *st)
{
    if (r->local)
        return cloud_job_status(r->local, job_id, st);
    char path[64], e[512];
    cJSON *o = NULL;
    snprintf(path, sizeof(path), "/api/jobs/%d", job_id);
    if (call(r, "GET", path, NULL, 200, &o, e, sizeof(e)) != 0)
        return -1;
    memset(st, 0, sizeof(*st));
    st->id = job_id;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "state");
    st->state = (enum job_state)-1;
    for (int k = JOB_WAITING; k <= JOB_FAILED; k++)
        if (cJSON_IsString(s) && !strcmp(s->valuestring, cloud_job_state_name((enum job_state)k)))
            st->state = (enum job_state)k;
    st->last_step = json_int(o, "last_step", -1000);
    st->pushes = json_int(o, "pushes", 0);
    st->retries = json_int(o, "retries", 0);
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, "reason");
    if (cJSON_IsString(x))
        snprintf(st->reason, sizeof(st->reason), "%s", x->valuestring);
    x = cJSON_GetObjectItemCaseSensitive(o, "version");
    if (cJSON_IsString(x))
        snprintf(st->target, sizeof(st->target), "%s", x->valuestring);
    cJSON_Delete(o);
    return (int)st->state < 0 ? -1 : 0;
}

int cloudref_device_offline(struct cloudref *r)
{
    if (r->local)
        return cloud_device_offline(r->local, r->pk, r->dn);
    char e[512];
    cJSON *b = cJSON_CreateObject();
    if (!b || !cJSON_AddStringToObject(b, "pk", r->pk) || !cJSON_AddStringToObject(b, "dn", r->dn)) {
        cJSON_Delete(b);
        return -1;
    }
    int rc = call(r, "POST", "/api/devices/offline", b, 200, NULL, e, sizeof(e));
    cJSON_Delete(b);
    return rc;
}

int cloudref_health(struct cloudref *r, char *err, size_t errlen)
{
    if (r->local)
        return cloud_health(r->local, err, errlen);
    cJSON *o = NULL;
    char e[512];
    /* the cloud process itself first: a dead one does not answer, and the
     * API's timeout is long */
    if (r->shared->pid > 0 && kill(r->shared->pid, 0) != 0 && errno == ESRCH) {
        snprintf(err, errlen, "the shared cloud (pid %d) has exited", r->shared->pid);
        return -1;
    }
    int st = api_call(&r->api, "GET", "/api/health", NULL, &o, e, sizeof(e));
    if (st != 200) {
        snprintf(err, errlen, "shared cloud: %s", st < 0 ? e : api_error_text(o));
        cJSON_Delete(o);
        return -1;
    }
    cJSON_Delete(o);
    return 0;
}

/* ---- the shared cloud's process ---- */

#define SHARED_START_S 30   /* a loaded host with sanitizers: the broker, TLS keys, civetweb */

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The last non-empty line of a file, for an error. */
static void last_line(const char *path, char *out, size_t n)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    out[0] = '\0';
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0])
            snprintf(out, n, "%s", line);
    }
    fclose(f);
}

int shared_cloud_spawn(const char *dir, uint64_t seed, int mqtt_port, int http_port,
                       struct shared_cloud *sc, char *err, size_t errlen)
{
    char exe[PATH_MAX], json[PATH_MAX + 16], log[PATH_MAX + 16], seedtxt[32], mp[16], hp[16];
    ssize_t l = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    memset(sc, 0, sizeof(*sc));
    if (l <= 0) {
        snprintf(err, errlen, "/proc/self/exe: %s", strerror(errno));
        return -1;
    }
    exe[l] = '\0';
    if (cloud_mkdir_p(dir) != 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(json, sizeof(json), "%s/cloud.json", dir);
    snprintf(log, sizeof(log), "%s/cloud.log", dir);
    unlink(json);
    snprintf(seedtxt, sizeof(seedtxt), "%llu", (unsigned long long)seed);
    snprintf(mp, sizeof(mp), "%d", mqtt_port);
    snprintf(hp, sizeof(hp), "%d", http_port);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* it ends with the certification, however that ends */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        char *argv[] = { exe, "cloud", "--workdir", (char *)dir, "--quiet", "--transport", "all",
                         "--seed", seedtxt, "--mqtt-port", mp, "--http-port", hp, NULL };
        execv(exe, argv);
        _exit(127);
    }
    sc->pid = (int)pid;
    double until = mono_s() + SHARED_START_S;
    for (;;) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            char why[512];
            last_line(log, why, sizeof(why));
            sc->pid = 0;
            snprintf(err, errlen, "the shared cloud did not start: %s", why[0] ? why : "it exited");
            return -1;
        }
        if (access(json, R_OK) == 0) {
            char e[512];
            if (shared_cloud_read(dir, sc, e, sizeof(e)) != 0) {
                shared_cloud_stop(sc);
                snprintf(err, errlen, "the shared cloud: %s", e);
                return -1;
            }
            sc->pid = (int)pid;
            return 0;
        }
        if (mono_s() > until) {
            shared_cloud_stop(sc);
            snprintf(err, errlen, "the shared cloud did not start within %d s (%s)", SHARED_START_S, log);
            return -1;
        }
        usleep(20000);
    }
}

void shared_cloud_stop(struct shared_cloud *sc)
{
    if (sc->pid <= 0)
        return;
    pid_t pid = (pid_t)sc->pid;
    kill(pid, SIGTERM);
    double until = mono_s() + 10;
    for (;;) {
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid || (w < 0 && errno == ECHILD))
            break;
        if (mono_s() > until) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            break;
        }
        usleep(10000);
    }
    sc->pid = 0;
}
