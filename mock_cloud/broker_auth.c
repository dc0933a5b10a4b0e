/*
 * broker_auth.c - the Mosquitto 2.0 plugin (interface version 5) that makes
 * the fake cloud's broker check what the Alibaba IoT broker checks: who a
 * client is (spec §2.4) and which topics it may use (spec §1.1).
 *
 * Built on its own as a shared object (build/lib/otahil-broker-auth.so),
 * loaded by the mosquitto the harness starts (broker.c writes the `plugin`
 * and `plugin_opt_*` lines) and never linked into otahil itself. It runs
 * inside the system's uninstrumented mosquitto, so it is built without
 * sanitizers; Mosquitto calls it from its one thread.
 *
 * Options:
 *   plugin_opt_registry FILE  the device registry the cloud writes (mode
 *                             0600, replaced by rename), re-read at every
 *                             CONNECT:
 *                               service USERNAME PASSWORD   the harness's own client
 *                               device PK DN SECRET         one line per device
 *                             blank lines and '#' comments are skipped.
 *   plugin_opt_events FILE    the run's event log (sim/util/evlog.h); optional.
 *
 * CONNECT (MOSQ_EVT_BASIC_AUTH): the service's username with its password,
 * or a device: clientId parsed and signature checked by alisign.c against
 * the registry's secret for the username's DN&PK. A refusal is a broker log
 * line (warning) and a "broker.auth_refused" event naming the client, the
 * username and what is wrong; the client gets CONNACK "not authorised".
 *
 * Topics (MOSQ_EVT_ACL_CHECK): the service may use every topic. A device
 * may publish only its own /ota/device/{inform,progress,request}/PK/DN and
 * /sys/PK/DN/thing/config/{get,push_reply}, and subscribe to and receive
 * only its own /ota/device/{upgrade,request}/PK/DN and
 * /sys/PK/DN/thing/config/{get_reply,push}: no wildcards, nobody else's.
 * A denial is a log line and a "broker.acl_denied" event; Mosquitto still
 * answers a denied SUBSCRIBE with a SUBACK and drops a denied PUBLISH
 * silently under MQTT 3.1.1, so nothing is delivered.
 */
#include "mock_cloud/alisign.h"
#include "sim/util/event.h"
#include "sim/util/evlog.h"

#include <errno.h>
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUTH_EXPORT __attribute__((visibility("default")))
#define AUTH_LINE_MAX 512
#define AUTH_SERVICE_MAX 128   /* service username and password */

struct auth_device {
    char pk[ALISIGN_PK_MAX + 1];
    char dn[ALISIGN_DN_MAX + 1];
    char secret[ALISIGN_SECRET_MAX + 1];
};

struct auth_state {
    mosquitto_plugin_id_t *id;
    char  registry[4096];              /* plugin_opt_registry */
    struct auth_device *dev;           /* ndev entries, heap */
    int   ndev;
    char  service_user[AUTH_SERVICE_MAX + 1];
    char  service_pass[AUTH_SERVICE_MAX + 1];
};

static struct auth_state auth;

/* Reads the registry into fresh tables; the old ones stay on any error.
 * 0, or -1 with "FILE:LINE: what" (or FILE: errno) in err. */
static int auth_load(char *err, size_t errlen)
{
    char line[AUTH_LINE_MAX], user[AUTH_SERVICE_MAX + 1] = "", pass[AUTH_SERVICE_MAX + 1] = "";
    struct auth_device *dev = NULL;
    int ndev = 0, cap = 0, lineno = 0;
    FILE *f;

    f = fopen(auth.registry, "re");
    if (!f) {
        snprintf(err, errlen, "%s: %s", auth.registry, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        char kind[16], a[AUTH_LINE_MAX], b[AUTH_LINE_MAX], c[AUTH_LINE_MAX], extra[2];
        int n;

        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err, errlen, "%s:%d: line longer than %d characters", auth.registry, lineno,
                     AUTH_LINE_MAX - 2);
            goto bad;
        }
        n = sscanf(line, "%15s %511s %511s %511s %1s", kind, a, b, c, extra);
        if (n <= 0 || kind[0] == '#')
            continue;
        if (strcmp(kind, "service") == 0 && n == 3) {
            if (strlen(a) > AUTH_SERVICE_MAX || strlen(b) > AUTH_SERVICE_MAX) {
                snprintf(err, errlen, "%s:%d: service username or password longer than %d",
                         auth.registry, lineno, AUTH_SERVICE_MAX);
                goto bad;
            }
            strcpy(user, a);
            strcpy(pass, b);
        } else if (strcmp(kind, "device") == 0 && n == 4) {
            if (strlen(a) > ALISIGN_PK_MAX || strlen(b) > ALISIGN_DN_MAX ||
                strlen(c) > ALISIGN_SECRET_MAX) {
                snprintf(err, errlen, "%s:%d: device pk > %d, dn > %d or secret > %d characters",
                         auth.registry, lineno, ALISIGN_PK_MAX, ALISIGN_DN_MAX,
                         ALISIGN_SECRET_MAX);
                goto bad;
            }
            if (ndev == cap) {
                int nc = cap ? 2 * cap : 16;
                struct auth_device *t = mosquitto_realloc(dev, (size_t)nc * sizeof *dev);
                if (!t) {
                    snprintf(err, errlen, "%s:%d: out of memory", auth.registry, lineno);
                    goto bad;
                }
                dev = t;
                cap = nc;
            }
            strcpy(dev[ndev].pk, a);
            strcpy(dev[ndev].dn, b);
            strcpy(dev[ndev].secret, c);
            ndev++;
        } else {
            snprintf(err, errlen, "%s:%d: expected 'service USERNAME PASSWORD' or "
                     "'device PK DN SECRET'", auth.registry, lineno);
            goto bad;
        }
    }
    if (ferror(f)) {
        snprintf(err, errlen, "%s: read error", auth.registry);
        goto bad;
    }
    fclose(f);
    mosquitto_free(auth.dev);
    auth.dev = dev;
    auth.ndev = ndev;
    strcpy(auth.service_user, user);
    strcpy(auth.service_pass, pass);
    return 0;

bad:
    fclose(f);
    mosquitto_free(dev);
    return -1;
}

/* Re-reads the registry. It is read at every CONNECT, not only when it
 * looks changed: the file is small, a CONNECT is rare, and a registry the
 * cloud replaced twice within one tick of the file system's clock (same
 * size, a recycled inode) would otherwise go unnoticed. */
static void auth_refresh(void)
{
    char err[AUTH_LINE_MAX + 128], e[sizeof err * 6];

    if (auth_load(err, sizeof err) != 0) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "otahil-auth: registry not reloaded, the previous one "
                             "stays in force: %s", err);
        evlog_emit("broker", "broker.registry_error", "\"error\":\"%s\"",
                   otahil_json_escape(e, sizeof e, err));
    }
}

static const struct auth_device *auth_find(const char *pk, const char *dn)
{
    for (int i = 0; i < auth.ndev; i++)
        if (strcmp(auth.dev[i].pk, pk) == 0 && strcmp(auth.dev[i].dn, dn) == 0)
            return &auth.dev[i];
    return NULL;
}

static int auth_is_service(const char *username)
{
    return username && auth.service_user[0] && strcmp(username, auth.service_user) == 0;
}

/* The refusal: a broker log line and an event. Returns MOSQ_ERR_AUTH. */
static int auth_refuse(struct mosquitto *client, const char *username, const char *why)
{
    const char *cid = mosquitto_client_id(client), *addr = mosquitto_client_address(client);
    char ec[ALISIGN_CID_MAX * 6], eu[AUTH_LINE_MAX], ew[AUTH_LINE_MAX], ea[128];

    mosquitto_log_printf(MOSQ_LOG_WARNING, "otahil-auth: refused client '%s' (username '%s') "
                         "from %s: %s", cid ? cid : "", username ? username : "",
                         addr ? addr : "?", why);
    evlog_emit("broker", "broker.auth_refused",
               "\"client_id\":\"%s\",\"username\":\"%s\",\"address\":\"%s\",\"reason\":\"%s\"",
               otahil_json_escape(ec, sizeof ec, cid ? cid : ""),
               otahil_json_escape(eu, sizeof eu, username ? username : ""),
               otahil_json_escape(ea, sizeof ea, addr ? addr : ""),
               otahil_json_escape(ew, sizeof ew, why));
    return MOSQ_ERR_AUTH;
}

static int auth_on_basic(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_basic_auth *ed = event_data;
    const char *cid = mosquitto_client_id(ed->client);
    char why[256], dn[ALISIGN_DN_MAX + 1], pk[ALISIGN_PK_MAX + 1], ec[ALISIGN_CID_MAX * 6],
        eu[AUTH_LINE_MAX];
    const struct auth_device *d;
    struct alisign_cid parsed;

    (void)event;
    (void)userdata;
    auth_refresh();
    if (auth_is_service(ed->username)) {
        size_t n = ed->password ? strlen(ed->password) : 0;
        if (n != strlen(auth.service_pass) || CRYPTO_memcmp(ed->password, auth.service_pass, n))
            return auth_refuse(ed->client, ed->username, "wrong password for the cloud service");
        return MOSQ_ERR_SUCCESS;
    }
    if (!ed->username)
        return auth_refuse(ed->client, NULL, "no username (expected DN&PK)");
    if (!ed->password)
        return auth_refuse(ed->client, ed->username, "no password");
    if (alisign_parse_cid(cid, &parsed, why, sizeof why) != 0 ||
        alisign_parse_username(ed->username, dn, pk, why, sizeof why) != 0)
        return auth_refuse(ed->client, ed->username, why);
    d = auth_find(pk, dn);
    if (!d) {
        snprintf(why, sizeof why, "unknown device %s/%s (not in the cloud's registry)", pk, dn);
        return auth_refuse(ed->client, ed->username, why);
    }
    if (alisign_check(&parsed, pk, dn, d->secret, ed->password, why, sizeof why) != 0)
        return auth_refuse(ed->client, ed->username, why);
    mosquitto_log_printf(MOSQ_LOG_INFO, "otahil-auth: accepted device %s/%s as '%s' (%s)", pk, dn,
                         cid, alisign_method_name(parsed.method));
    evlog_emit("broker", "broker.auth_ok",
               "\"client_id\":\"%s\",\"username\":\"%s\",\"signmethod\":\"%s\"",
               otahil_json_escape(ec, sizeof ec, cid), otahil_json_escape(eu, sizeof eu, ed->username),
               alisign_method_name(parsed.method));
    return MOSQ_ERR_SUCCESS;
}

/* 1 if topic is "/ota/device/TYPE/PK/DN" for one of types, or
 * "/sys/PK/DN/thing/config/SUFFIX" for one of sys. */
static int auth_own_topic(const char *topic, const char *pk, const char *dn,
                          const char *const *types, const char *const *sys)
{
    char want[256];

    for (; *types; types++) {
        snprintf(want, sizeof want, "/ota/device/%s/%s/%s", *types, pk, dn);
        if (strcmp(topic, want) == 0)
            return 1;
    }
    for (; *sys; sys++) {
        snprintf(want, sizeof want, "/sys/%s/%s/thing/config/%s", pk, dn, *sys);
        if (strcmp(topic, want) == 0)
            return 1;
    }
    return 0;
}

static int auth_on_acl(int event, void *event_data, void *userdata)
{
    /* spec §1.1: what a device sends, what it receives. */
    static const char *const pub_ota[] = { "inform", "progress", "request", NULL };
    static const char *const pub_sys[] = { "get", "push_reply", NULL };
    static const char *const sub_ota[] = { "upgrade", "request", NULL };
    static const char *const sub_sys[] = { "get_reply", "push", NULL };
    struct mosquitto_evt_acl_check *ed = event_data;
    const char *user = mosquitto_client_username(ed->client), *cid, *what;
    char dn[ALISIGN_DN_MAX + 1], pk[ALISIGN_PK_MAX + 1], why[160], ec[ALISIGN_CID_MAX * 6],
        eu[AUTH_LINE_MAX], et[1536];
    int ok;

    (void)event;
    (void)userdata;
    if (auth_is_service(user) || ed->access == MOSQ_ACL_UNSUBSCRIBE)
        return MOSQ_ERR_SUCCESS;
    if (!user || alisign_parse_username(user, dn, pk, why, sizeof why) != 0)
        ok = 0;
    else if (ed->access == MOSQ_ACL_WRITE)
        ok = auth_own_topic(ed->topic, pk, dn, pub_ota, pub_sys);
    else
        ok = auth_own_topic(ed->topic, pk, dn, sub_ota, sub_sys);
    if (ok)
        return MOSQ_ERR_SUCCESS;
    what = ed->access == MOSQ_ACL_WRITE       ? "publish"
           : ed->access == MOSQ_ACL_SUBSCRIBE ? "subscribe"
                                              : "receive";
    cid = mosquitto_client_id(ed->client);
    mosquitto_log_printf(MOSQ_LOG_WARNING, "otahil-auth: denied %s on '%s' to client '%s' "
                         "(username '%s'): not one of its own topics", what, ed->topic,
                         cid ? cid : "", user ? user : "");
    evlog_emit("broker", "broker.acl_denied",
               "\"client_id\":\"%s\",\"username\":\"%s\",\"access\":\"%s\",\"topic\":\"%s\"",
               otahil_json_escape(ec, sizeof ec, cid ? cid : ""),
               otahil_json_escape(eu, sizeof eu, user ? user : ""), what,
               otahil_json_escape(et, sizeof et, ed->topic ? ed->topic : ""));
    return MOSQ_ERR_ACL_DENIED;
}

AUTH_EXPORT int mosquitto_plugin_version(int supported_version_count,
                                         const int *supported_versions)
{
    for (int i = 0; i < supported_version_count; i++)
        if (supported_versions[i] == 5)
            return 5;
    return -1;
}

AUTH_EXPORT int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
                                      struct mosquitto_opt *options, int option_count)
{
    const char *registry = NULL, *events = NULL;
    char err[AUTH_LINE_MAX + 128];

    *userdata = NULL;
    for (int i = 0; i < option_count; i++) {
        if (strcmp(options[i].key, "registry") == 0)
            registry = options[i].value;
        else if (strcmp(options[i].key, "events") == 0)
            events = options[i].value;
    }
    if (!registry || strlen(registry) >= sizeof auth.registry) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "otahil-auth: plugin_opt_registry %s",
                             registry ? "is too long" : "is missing");
        return MOSQ_ERR_INVAL;
    }
    memset(&auth, 0, sizeof auth);
    auth.id = identifier;
    strcpy(auth.registry, registry);
    if (events && evlog_open(events) != 0) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "otahil-auth: cannot open event log %s: %s", events,
                             strerror(errno));
        return MOSQ_ERR_INVAL;
    }
    if (auth_load(err, sizeof err) != 0) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "otahil-auth: %s", err);
        evlog_close();
        return MOSQ_ERR_INVAL;
    }
    if (mosquitto_callback_register(identifier, MOSQ_EVT_BASIC_AUTH, auth_on_basic, NULL, NULL) ||
        mosquitto_callback_register(identifier, MOSQ_EVT_ACL_CHECK, auth_on_acl, NULL, NULL)) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "otahil-auth: cannot register the callbacks");
        evlog_close();
        return MOSQ_ERR_UNKNOWN;
    }
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "otahil-auth: %d device(s) in %s", auth.ndev,
                         auth.registry);
    return MOSQ_ERR_SUCCESS;
}

AUTH_EXPORT int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options,
                                         int option_count)
{
    (void)userdata;
    (void)options;
    (void)option_count;
    mosquitto_callback_unregister(auth.id, MOSQ_EVT_BASIC_AUTH, auth_on_basic, NULL);
    mosquitto_callback_unregister(auth.id, MOSQ_EVT_ACL_CHECK, auth_on_acl, NULL);
    mosquitto_free(auth.dev);
    auth.dev = NULL;
    auth.ndev = 0;
    evlog_close();
    return MOSQ_ERR_SUCCESS;
}
