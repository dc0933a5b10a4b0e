/*
 * cmd_cloud.c - `otahil cloud` (run the fake cloud in the foreground) and
 * `otahil push` (register a firmware and create an upgrade job through the
 * running cloud's REST API, optionally waiting for the verdict).
 *
 * `otahil cloud` blocks SIGINT and SIGTERM before anything starts, so every
 * thread it creates inherits the mask and the main thread alone collects the
 * signals with sigtimedwait(); between signals it polls cloud_health(). It
 * publishes where it runs in WORKDIR/cloud.json (written to a temporary name
 * and renamed, so a reader never sees half a file).
 *
 * With --plan, --http-fault and --mqtt-fault it injects faults (plan.h,
 * docs/faults.md): the plan file is read first, the options are added to it
 * in the order given, and the whole is checked before anything starts.
 *
 * `otahil push` talks to the REST API through apiclient.c (plain HTTP/1.1
 * over a socket: one request per connection, Connection: close, the whole
 * response read to EOF).
 */
#include "conformance/cmd_cloud.h"
#include "conformance/apiclient.h"
#include "conformance/netfault.h"
#include "conformance/plan.h"
#include "mock_cloud/cloud.h"
#include "sim/util/defaults.h"
#include "sim/util/evlog.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define CMD_DEFAULT_WORKDIR   ".otahil/cloud"
#define CMD_HEALTH_POLL_MS    200   /* otahil cloud: health check period */
#define CMD_JOB_POLL_MS       250   /* otahil push --wait: job poll period */
#define CMD_DEFAULT_TIMEOUT_S 300   /* otahil push --wait without --timeout */
#define CMD_DEVICE_SPEC_MAX   160   /* otahil cloud --device PK/DN/SECRET */

static const char cloud_usage[] =
    "usage: otahil cloud [options]\n"
    "Runs the fake cloud (Mosquitto broker, firmware server, REST API) until Ctrl-C.\n"
    "  --workdir DIR          broker config, logs and firmware store (default " CMD_DEFAULT_WORKDIR ")\n"
    "  --mqtt-port P          MQTT port on 127.0.0.1 (default: a free port)\n"
    "  --http-port P          HTTP port on 127.0.0.1 (default: a free port)\n"
    "  --events FILE          event log (default WORKDIR/events.jsonl); events are echoed to stderr\n"
    "  --quiet                do not echo events on stderr\n"
    "  --seed N               seed of every random choice of the cloud (default 0)\n"
    "  --throttle BPS         limit each firmware download to BPS bytes per second\n"
    "  --device PK/DN/SECRET  register a device (repeatable; " OTAHIL_DEFAULT_PK "/" OTAHIL_DEFAULT_DN
    " is always there)\n"
    "  --no-auth              anonymous broker: no credential check, no topic ACL (by default the\n"
    "                         broker checks each device's signature against the registered\n"
    "                         secret and lets it use only its own topics; docs/cloud.md)\n"
    "  --plan FILE            inject the faults of a fault plan (docs/faults.md); its seed is\n"
    "                         used unless --seed is given\n"
    "  --http-fault KEY=VALUE firmware server fault for every GET, or N:KEY=VALUE for the Nth\n"
    "                         (repeatable; added to the plan's [http] / [http:N])\n"
    "  --mqtt-fault KEY=VALUE push fault for every job (repeatable; added to the plan's [mqtt])\n"
    "  --coap-fault KEY=VALUE CoAP block fault (repeatable; added to the plan's [coap])\n"
    "  --proxy-fault mqtt|http|coap:SPEC  a transport fault (repeatable; added to [proxy.mqtt] /\n"
    "                         [proxy.http] / [proxy.coap]): devices then use the proxy's MQTT\n"
    "                         port (device_coap_port in cloud.json for CoAP), and firmware URLs\n"
    "                         name the HTTP proxy\n"
    "  --transport T          http (default), https, mqtts or mqtts+https: an HTTPS listener and\n"
    "                         https:// firmware URLs, a TLS listener on the broker, both; the\n"
    "                         test CA is made in WORKDIR/tls (docs/cloud.md); all: every\n"
    "                         listener at once (HTTP and HTTPS, MQTT and mqtts, CoAP and coaps\n"
    "                         with the good certificate) for a cloud shared by runs of any\n"
    "                         transport (tenants); firmware URLs are then http:// unless a\n"
    "                         firmware names the HTTPS port or scheme\n"
    "  --tls CERT             the certificate of the HTTPS listener (and of the coaps port):\n"
    "                         good, untrusted-ca, expired, wrong-host (the plan's [plan] tls)\n"
    "  --dtls certificate|psk with --transport coaps+...: the coaps port presents the test\n"
    "                         certificate and cloud.json names the CA (default), or PSK only\n"
    "  --tls-fragment N, --tls-heap BYTES  kept in the plan for the device (docs/faults.md)\n"
    "  --help                 this text\n"
    "Writes WORKDIR/cloud.json for `otahil push`. Exit: 0 after Ctrl-C/SIGTERM, 2 when the\n"
    "cloud cannot start or loses its broker.\n";

static const char push_usage[] =
    "usage: otahil push --image FILE [options]\n"
    "Registers FILE with a running cloud and creates an upgrade job for a device.\n"
    "  --image FILE           firmware to push (an otahil image: its version comes from its header)\n"
    "  --device PK/DN         target device (default " OTAHIL_DEFAULT_PK "/" OTAHIL_DEFAULT_DN ")\n"
    "  --workdir DIR          find the cloud through DIR/cloud.json (default " CMD_DEFAULT_WORKDIR ")\n"
    "  --api URL              or talk to the REST API at URL, e.g. http://127.0.0.1:8080\n"
    "  --sign-method M        Md5 (default) or Sha256\n"
    "  --retries N            push again up to N times (0..100, default 0) after the device\n"
    "                         informs another version or reports a negative step\n"
    "  --at-inform            push at the device's next inform even if it is online now\n"
    "  --unchecked            serve FILE even if it fails the format check (the AliOS footer:\n"
    "                         magic, image_size, MD5); the cloud logs firmware.unchecked\n"
    "  --wait                 wait for the job's verdict\n"
    "  --timeout S            with --wait: give up after S seconds (default 300)\n"
    "  --help                 this text\n"
    "The cloud refuses a file that is not in OTA format (no AliOS footer, wrong image_size or\n"
    "MD5: a serial image or a badly generated bin; otahil image check FILE shows why).\n"
    "Exit: 0 job created (with --wait: SUCCEEDED), 1 job FAILED, 2 timeout, harness error or a\n"
    "file the cloud refused.\n";

/* ---- option parsing ---- */

/* Matches argv[*i] against "--name VALUE" or "--name=VALUE". 1 and *val set
 * (advancing *i past a separate value), 0 no match, -1 value missing. */
static int cmd_opt(int argc, char **argv, int *i, const char *name, const char **val)
{
    const char *a = argv[*i];
    size_t n = strlen(name);

    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *val = argv[++*i];
    return 1;
}

static int cmd_u64(const char *s, uint64_t max, uint64_t *out)
{
    unsigned long long v;
    char *end;

    if (!s || !*s || *s == '-')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 0);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

/* "A/B" or "A/B/C" split in place; the last part takes the rest. */
static int cmd_split(char *s, char **parts, int n)
{
    for (int k = 0; k < n; k++) {
        parts[k] = s;
        if (k < n - 1) {
            s = strchr(s, '/');
            if (!s)
                return -1;
            *s++ = '\0';
        }
        if (!parts[k][0])
            return -1;
    }
    return 0;
}

static void cmd_sleep_ms(unsigned ms)
{
    struct timespec ts = { (time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- otahil cloud ---- */

struct cmd_device {
    char  spec[CMD_DEVICE_SPEC_MAX]; /* PK/DN/SECRET, split in place */
    char *part[3];
};

/* Splits an --device value into d. 0 or -1. */
static int cmd_device_parse(const char *v, struct cmd_device *d)
{
    if ((size_t)snprintf(d->spec, sizeof d->spec, "%s", v) >= sizeof d->spec)
        return -1;
    return cmd_split(d->spec, d->part, 3);
}

static int cmd_write_cloud_json(const char *dir, struct cloud *c, int device_mqtt, int device_coap,
                                const char *events)
{
    char path[PATH_MAX + 16], tmp[PATH_MAX + 32];
    cJSON *o = cJSON_CreateObject();
    char *text;
    FILE *f;
    int ok;

    cJSON_AddNumberToObject(o, "mqtt_port", cloud_mqtt_port(c));
    cJSON_AddNumberToObject(o, "http_port", cloud_http_port(c));
    cJSON_AddNumberToObject(o, "device_mqtt_port", device_mqtt);
    if (cloud_mqtts_port(c))
        cJSON_AddNumberToObject(o, "mqtts_port", cloud_mqtts_port(c));
    if (cloud_https_port(c))
        cJSON_AddNumberToObject(o, "https_port", cloud_https_port(c));
    cJSON_AddNumberToObject(o, "coap_port", cloud_coap_port(c));
    cJSON_AddNumberToObject(o, "device_coap_port", device_coap); /* a [proxy.coap] proxy's, or it */
    if (cloud_coaps_port(c))
        cJSON_AddNumberToObject(o, "coaps_port", cloud_coaps_port(c)); /* DTLS-PSK */
    if (cloud_ca_path(c)[0])
        cJSON_AddStringToObject(o, "ca", cloud_ca_path(c)); /* the CA devices trust */
    cJSON_AddNumberToObject(o, "broker_pid", cloud_broker_pid(c));
    cJSON_AddNumberToObject(o, "pid", (double)getpid());
    cJSON_AddStringToObject(o, "events", events);
    cJSON_AddBoolToObject(o, "auth", cloud_registry_path(c) != NULL);
    if (cloud_registry_path(c))
        cJSON_AddStringToObject(o, "registry", cloud_registry_path(c));
    text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text)
        return -1;
    snprintf(path, sizeof path, "%s/cloud.json", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    f = fopen(tmp, "w");
    ok = f && fprintf(f, "%s\n", text) > 0;
    ok = f && fclose(f) == 0 && ok;
    free(text);
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

const char *cmd_tls_key(char kind)
{
    switch (kind) {
    case 'T': return "transport";
    case 'C': return "tls";
    case 'F': return "tls_fragment";
    case 'H': return "tls_heap";
    case 'D': return "dtls";
    default: return NULL;
    }
}

const char *cmd_tls_opt(char kind)
{
    switch (kind) {
    case 'T': return "--transport";
    case 'C': return "--tls";
    case 'F': return "--tls-fragment";
    case 'H': return "--tls-heap";
    case 'D': return "--dtls";
    default: return NULL;
    }
}

char cmd_tls_kind(const char *opt)
{
    static const char kinds[] = "TCFHD";
    for (int i = 0; kinds[i]; i++)
        if (!strcmp(opt, cmd_tls_opt(kinds[i])))
            return kinds[i];
    return 0;
}

/* cmd_opt for any of the TLS options; *kind says which. */
static int cmd_tls_opt_parse(int argc, char **argv, int *i, char *kind, const char **val)
{
    static const char kinds[] = "TCFHD";
    for (int k = 0; kinds[k]; k++) {
        int m = cmd_opt(argc, argv, i, cmd_tls_opt(kinds[k]), val);
        if (m) {
            *kind = kinds[k];
            return m;
        }
    }
    return 0;
}

/* Builds the fault plan of --plan, --http-fault and --mqtt-fault (kind[i]
 * 'h', 'm' or 'c' (--coap-fault) for value[i]; 'p' --proxy-fault; 'T', 'C', 'F', 'H' the TLS
 * options, cmd_tls_key()). 0, or -1 after printing one line. */
int cmd_fault_plan(const char *cmd, const char *plan_file, const char *const *value,
                   const char *kind, int nv, struct fault_plan *p)
{
    char err[1024];

    if (plan_file) {
        if (plan_load(plan_file, p, err, sizeof err) != 0) {
            fprintf(stderr, "otahil %s: %s\n", cmd, err);
            return -1;
        }
    } else {
        memset(p, 0, sizeof *p);
        snprintf(p->name, sizeof p->name, "options");
    }
    for (int i = 0; i < nv; i++) {
        int rc;
        if (kind[i] == 'p') {
            /* --proxy-fault mqtt:SPEC or http:SPEC */
            char sec[16], kv[PLAN_SPEC_MAX + 8];
            const char *colon = strchr(value[i], ':');
            size_t k = colon ? (size_t)(colon - value[i]) : 0;
            if (k != 4 || (strncmp(value[i], "mqtt", 4) && strncmp(value[i], "http", 4) &&
                           strncmp(value[i], "coap", 4))) {
                snprintf(err, sizeof err, "expected mqtt:SPEC, http:SPEC or coap:SPEC");
                rc = -1;
            } else {
                snprintf(sec, sizeof sec, "proxy.%.4s", value[i]);
                snprintf(kv, sizeof kv, "fault=%s", colon + 1);
                rc = plan_add_cli(p, sec, kv, err, sizeof err);
            }
        } else if (cmd_tls_key(kind[i])) {
            /* --transport, --tls, --tls-fragment, --tls-heap: [plan] keys */
            char kv[256];
            snprintf(kv, sizeof kv, "%s=%s", cmd_tls_key(kind[i]), value[i]);
            rc = plan_add_cli(p, "plan", kv, err, sizeof err);
        } else
            rc = kind[i] == 'h' ? plan_add_http_option(p, value[i], err, sizeof err)
                 : plan_add_cli(p, kind[i] == 'c' ? "coap" : "mqtt", value[i], err, sizeof err);
        if (rc != 0) {
            fprintf(stderr, "otahil %s: %s '%s': %s\n", cmd,
                    kind[i] == 'h' ? "--http-fault" : kind[i] == 'p' ? "--proxy-fault"
                    : cmd_tls_key(kind[i]) ? cmd_tls_opt(kind[i])
                    : kind[i] == 'c' ? "--coap-fault" : "--mqtt-fault",
                    value[i], err);
            return -1;
        }
    }
    if (plan_check(p, err, sizeof err) != 0) {
        fprintf(stderr, "otahil %s: %s%s%s\n", cmd, plan_file ? plan_file : "", plan_file ? ": " : "",
                err);
        return -1;
    }
    return 0;
}

/* cmd_cloud with its scratch: room for argc fault options and a plan. */
static int cmd_cloud_in(int argc, char **argv, const char **fval, char *fkind,
                        struct fault_plan *plan)
{
    const char *devs[CLOUD_MAX_DEVICES]; /* --device values, checked */
    struct cmd_device dev;
    struct cloud_opts o = { 0 };
    const char *workdir = CMD_DEFAULT_WORKDIR, *events = NULL, *v = NULL, *plan_file = NULL;
    char evpath[PATH_MAX], evabs[PATH_MAX], dir[PATH_MAX], err[1024], jpath[PATH_MAX + 16];
    sigset_t set, old;
    struct cloud *c;
    struct netfault netf = { 0 };
    int ndev = 0, nf = 0, have_seed = 0, use_plan, rc = OTAHIL_EXIT_PASS, quiet = 0, all = 0;
    uint64_t n;
    char tk = 0;

    for (int i = 1; i < argc; i++) {
        int m;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(cloud_usage, stdout);
            return OTAHIL_EXIT_PASS;
        }
        if ((m = cmd_opt(argc, argv, &i, "--workdir", &v)) > 0) {
            workdir = v;
        } else if (m == 0 && (m = cmd_opt(argc, argv, &i, "--events", &v)) > 0) {
            events = v;
        } else if (m == 0 && (m = cmd_opt(argc, argv, &i, "--mqtt-port", &v)) > 0) {
            if (cmd_u64(v, 65535, &n) != 0) {
                fprintf(stderr, "otahil cloud: bad --mqtt-port %s (0..65535)\n", v);
                return OTAHIL_EXIT_HARNESS;
            }
            o.mqtt_port = (int)n;
        } else if (m == 0 && (m = cmd_opt(argc, argv, &i, "--http-port", &v)) > 0) {
            if (cmd_u64(v, 65535, &n) != 0) {
                fprintf(stderr, "otahil cloud: bad --http-port %s (0..65535)\n", v);
                return OTAHIL_EXIT_HARNESS;
            }
            o.http_port = (int)n;
        } else if (m == 0 && (m = cmd_opt(argc, argv, &i, "--seed", &v)) > 0) {
            if (cmd_u64(v, UINT64_MAX, &o.seed) != 0) {
                fprintf(stderr, "otahil cloud: bad --seed %s\n", v);
                return OTAHIL_EXIT_HARNESS;
            }
            have_seed = 1;
        } else if (m == 0 && (m = cmd_opt(argc, argv, &i, "--plan", &v)) > 0) {
            plan_file = v;
        } else if (m == 0 && (m = cmd_opt(argc, argv, &i, "--http-fault", &v)) > 0) {
            fkind[nf] = 'h';
            fval[nf++] = v;
        } else if (m == 0 && (m = cmd_opt(argc, argv, &i, "--mqtt-fault", &v)) > 0) {
            fkind[nf] = 'm';
            fval[nf++] = v;
        } else if (m == 0 && (m = cmd_opt(argc, argv, &i, "--coap-fault", &v)) > 0) {
            fkind[nf] = 'c';
            fval[nf++] = v;
        } else if (m == 0 && (m = cmd_opt(argc, argv, &i, "--proxy-fault", &v)) > 0) {
            fkind[nf] = 'p';
            fval[nf++] = v;
        } else if (m == 0 && strcmp(argv[i], "--quiet") == 0) {
            quiet = 1;
        } else if (m == 0 && (m = cmd_tls_opt_parse(argc, argv, &i, &tk, &v)) > 0) {
            if (tk == 'T' && strcmp(v, "all") == 0) {
                all = 1; /* not a plan transport: every listener of the cloud */
                continue;
            }
            fkind[nf] = tk;
            fval[nf++] = v;
        } else if (m == 0 && (m = cmd_opt(argc, argv, &i, "--throttle", &v)) > 0) {
            if (cmd_u64(v, UINT32_MAX, &n) != 0) {
                fprintf(stderr, "otahil cloud: bad --throttle %s (bytes per second)\n", v);
                return OTAHIL_EXIT_HARNESS;
            }
            o.throttle_bps = (uint32_t)n;
        } else if (m == 0 && strcmp(argv[i], "--no-auth") == 0) {
            o.no_auth = 1;
        } else if (m == 0 && (m = cmd_opt(argc, argv, &i, "--device", &v)) > 0) {
            if (ndev >= CLOUD_MAX_DEVICES) {
                fprintf(stderr, "otahil cloud: more than %d --device options\n", CLOUD_MAX_DEVICES);
                return OTAHIL_EXIT_HARNESS;
            }
            if (cmd_device_parse(v, &dev) != 0) {
                fprintf(stderr, "otahil cloud: bad --device %s (PK/DN/SECRET)\n", v);
                return OTAHIL_EXIT_HARNESS;
            }
            devs[ndev++] = v;
        } else if (m < 0) {
            fprintf(stderr, "otahil cloud: option %s needs a value\n", argv[i]);
            return OTAHIL_EXIT_HARNESS;
        } else {
            fprintf(stderr, "otahil cloud: unknown option %s (see otahil cloud --help)\n", argv[i]);
            return OTAHIL_EXIT_HARNESS;
        }
    }

    use_plan = plan_file || nf;
    if (use_plan && cmd_fault_plan("cloud", plan_file, fval, fkind, nf, plan) != 0)
        return OTAHIL_EXIT_HARNESS;
    if (use_plan && plan->has_seed && !have_seed)
        o.seed = plan->seed;
    if (use_plan) {
        o.https = plan->https;
        o.mqtts = plan->mqtts;
        o.tls_cert = plan->tls_cert;
    }
    if (all) {
        if (use_plan && (plan->https || plan->mqtts || plan->coap)) {
            fprintf(stderr, "otahil cloud: --transport all cannot go with another transport\n");
            return OTAHIL_EXIT_HARNESS;
        }
        o.https = o.mqtts = 1; /* the test PKI; coaps presents the same certificate */
    }

    if (cloud_mkdir_p(workdir) != 0 || !realpath(workdir, dir)) {
        fprintf(stderr, "otahil cloud: cannot create work directory %s: %s\n", workdir,
                strerror(errno));
        return OTAHIL_EXIT_HARNESS;
    }
    if (!events) {
        snprintf(evpath, sizeof evpath, "%.*s/events.jsonl", (int)sizeof evpath - 16, dir);
        events = evpath;
    }
    if (evlog_open(events) != 0 || !realpath(events, evabs)) {
        fprintf(stderr, "otahil cloud: cannot open event log %s: %s\n", events, strerror(errno));
        evlog_close();
        return OTAHIL_EXIT_HARNESS;
    }
    evlog_set_echo(!quiet);

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, &old);

    o.workdir = dir;
    c = cloud_start(&o, err, sizeof err);
    if (!c) {
        fprintf(stderr, "otahil cloud: %s\n", err);
        rc = OTAHIL_EXIT_HARNESS;
        goto out;
    }
    if (all && (cloud_set_url_tls(c, 0) != 0 || !cloud_https_port(c) || !cloud_mqtts_port(c) ||
                (cloud_coaps_port(c) && !cloud_ca_path(c)[0]))) {
        fprintf(stderr, "otahil cloud: --transport all: a TLS listener did not start\n");
        rc = OTAHIL_EXIT_HARNESS;
        goto stop;
    }
    if (use_plan && (plan_apply_cloud(plan, c, err, sizeof err) != 0 ||
                     netfault_start(&netf, plan, c, o.seed, err, sizeof err) != 0)) {
        fprintf(stderr, "otahil cloud: %s\n", err);
        rc = OTAHIL_EXIT_HARNESS;
        goto stop;
    }
    for (int k = 0; k < ndev; k++) {
        cmd_device_parse(devs[k], &dev); /* checked while parsing the options */
        if (cloud_add_device(c, dev.part[0], dev.part[1], dev.part[2]) != 0) {
            fprintf(stderr, "otahil cloud: cannot register device %s/%s (pk <= 20, dn <= 32, "
                    "secret <= 64 characters, no '/', '+', '#', '&', '|', quotes or spaces)\n",
                    dev.part[0], dev.part[1]);
            rc = OTAHIL_EXIT_HARNESS;
            goto stop;
        }
    }
    snprintf(jpath, sizeof jpath, "%s/cloud.json", dir);
    if (cmd_write_cloud_json(dir, c, netfault_mqtt_port(&netf, c), netfault_coap_port(&netf, c), evabs) != 0) {
        fprintf(stderr, "otahil cloud: cannot write %s: %s\n", jpath, strerror(errno));
        rc = OTAHIL_EXIT_HARNESS;
        goto stop;
    }
    printf("otahil cloud: mqtt 127.0.0.1:%d  http http://127.0.0.1:%d  coap coap://127.0.0.1:%d  "
           "events %s  (Ctrl-C stops)\n", cloud_mqtt_port(c), cloud_http_port(c), cloud_coap_port(c),
           evabs);
    if (cloud_mqtts_port(c) || cloud_https_port(c))
        printf("otahil cloud: TLS: mqtts 127.0.0.1:%d  https https://127.0.0.1:%d  CA %s (device: "
               "--ca%s)\n", cloud_mqtts_port(c), cloud_https_port(c), cloud_ca_path(c),
               cloud_mqtts_port(c) ? " and --mqtts" : "");
    if (cloud_registry_path(c))
        printf("otahil cloud: broker auth on: devices of %s only, each on its own topics\n",
               cloud_registry_path(c));
    else
        printf("otahil cloud: broker auth off (--no-auth): anonymous clients, any topic\n");
    if (netf.mqtt || netf.http)
        printf("otahil cloud: devices go through the fault proxies: mqtt 127.0.0.1:%d%s\n",
               netfault_mqtt_port(&netf, c), netf.http ? ", firmware URLs name the HTTP proxy" : "");
    if (use_plan)
        printf("otahil cloud: plan %s (expect %s): %s\n", plan->name,
               plan_expect_name(plan->expect), plan_summary(plan, err, sizeof err));
    fflush(stdout);

    for (;;) {
        struct timespec ts = { 0, CMD_HEALTH_POLL_MS * 1000000L };
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM)
            break;
        if (cloud_health(c, err, sizeof err) != 0) {
            fprintf(stderr, "otahil cloud: %s\n", err);
            rc = OTAHIL_EXIT_HARNESS;
            break;
        }
    }
    unlink(jpath);
stop:
    netfault_stop(&netf);
    cloud_stop(c);
out:
    evlog_close();
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

int cmd_cloud(int argc, char **argv)
{
    const char **fval = calloc((size_t)argc + 1, sizeof *fval);
    char *fkind = calloc((size_t)argc + 1, 1);
    struct fault_plan *plan = calloc(1, sizeof *plan);
    int rc;

    if (!fval || !fkind || !plan) {
        fprintf(stderr, "otahil cloud: out of memory\n");
        rc = OTAHIL_EXIT_HARNESS;
    } else {
        rc = cmd_cloud_in(argc, argv, fval, fkind, plan);
    }
    plan_free(plan);
    free(plan);
    free(fval);
    free(fkind);
    return rc;
}

/* ---- otahil push ---- */

static int cmd_wait_job(const struct api_client *api, int job, unsigned timeout_s)
{
    char path[64], err[512], last[32] = "";
    uint64_t deadline = evlog_now_us() + (uint64_t)timeout_s * 1000000u;
    int last_pushes = 0;

    snprintf(path, sizeof path, "/api/jobs/%d", job);
    for (;;) {
        cJSON *r = NULL;
        int st = api_call(api, "GET", path, NULL, &r, err, sizeof err);
        const cJSON *state = cJSON_GetObjectItemCaseSensitive(r, "state");
        const cJSON *reason = cJSON_GetObjectItemCaseSensitive(r, "reason");
        const cJSON *step = cJSON_GetObjectItemCaseSensitive(r, "last_step");
        const cJSON *pushes = cJSON_GetObjectItemCaseSensitive(r, "pushes");
        int np = cJSON_IsNumber(pushes) ? pushes->valueint : 0;
        const char *sname;

        if (st != 200 || !cJSON_IsString(state)) {
            if (st < 0)
                fprintf(stderr, "otahil push: %s\n", err);
            else
                fprintf(stderr, "otahil push: job %d: the cloud answered %d: %s\n", job, st,
                        api_error_text(r));
            cJSON_Delete(r);
            return OTAHIL_EXIT_HARNESS;
        }
        sname = state->valuestring;
        if (strcmp(sname, last) != 0 || np != last_pushes) {
            if (cJSON_IsNumber(step) && np > 1)
                printf("job %d: %s (step %d, push %d)\n", job, sname, step->valueint, np);
            else if (cJSON_IsNumber(step))
                printf("job %d: %s (step %d)\n", job, sname, step->valueint);
            else if (np > 1)
                printf("job %d: %s (push %d)\n", job, sname, np);
            else
                printf("job %d: %s\n", job, sname);
            fflush(stdout);
            snprintf(last, sizeof last, "%s", sname);
            last_pushes = np;
        }
        if (strcmp(sname, "SUCCEEDED") == 0 || strcmp(sname, "FAILED") == 0) {
            int fail = sname[0] == 'F';
            printf("job %d %s: %s\n", job, fail ? "failed" : "succeeded",
                   cJSON_IsString(reason) ? reason->valuestring : "");
            cJSON_Delete(r);
            return fail ? OTAHIL_EXIT_FAIL : OTAHIL_EXIT_PASS;
        }
        cJSON_Delete(r);
        if (evlog_now_us() >= deadline) {
            fprintf(stderr, "otahil push: job %d still %s after %u s\n", job, last, timeout_s);
            return OTAHIL_EXIT_HARNESS;
        }
        cmd_sleep_ms(CMD_JOB_POLL_MS);
    }
}

int cmd_push(int argc, char **argv)
{
    const char *image = NULL, *workdir = NULL, *apiurl = NULL, *sign = NULL, *device = NULL, *v = NULL;
    char devbuf[80], *dv[2] = { (char *)OTAHIL_DEFAULT_PK, (char *)OTAHIL_DEFAULT_DN };
    char abs[PATH_MAX], err[512], *body;
    int wait = 0, have_timeout = 0, at_inform = 0, unchecked = 0, st, fwid, job;
    uint64_t timeout = CMD_DEFAULT_TIMEOUT_S, retries = 0;
    const cJSON *jid, *jurl, *jver;
    struct api_client api;
    cJSON *req, *r = NULL;

    for (int i = 1; i < argc; i++) {
        int m;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(push_usage, stdout);
            return OTAHIL_EXIT_PASS;
        }
        if (strcmp(argv[i], "--wait") == 0) {
            wait = 1;
            continue;
        }
        if (strcmp(argv[i], "--at-inform") == 0) {
            at_inform = 1;
            continue;
        }
        if (strcmp(argv[i], "--unchecked") == 0) {
            unchecked = 1;
            continue;
        }
        if ((m = cmd_opt(argc, argv, &i, "--image", &v)) > 0)
            image = v;
        else if (m == 0 && (m = cmd_opt(argc, argv, &i, "--device", &v)) > 0)
            device = v;
        else if (m == 0 && (m = cmd_opt(argc, argv, &i, "--workdir", &v)) > 0)
            workdir = v;
        else if (m == 0 && (m = cmd_opt(argc, argv, &i, "--api", &v)) > 0)
            apiurl = v;
        else if (m == 0 && (m = cmd_opt(argc, argv, &i, "--sign-method", &v)) > 0)
            sign = v;
        else if (m == 0 && (m = cmd_opt(argc, argv, &i, "--timeout", &v)) > 0) {
            if (cmd_u64(v, 86400, &timeout) != 0 || timeout == 0) {
                fprintf(stderr, "otahil push: bad --timeout %s (1..86400 seconds)\n", v);
                return OTAHIL_EXIT_HARNESS;
            }
            have_timeout = 1;
        } else if (m == 0 && (m = cmd_opt(argc, argv, &i, "--retries", &v)) > 0) {
            if (cmd_u64(v, CLOUD_MAX_RETRIES, &retries) != 0) {
                fprintf(stderr, "otahil push: bad --retries %s (0..%d)\n", v, CLOUD_MAX_RETRIES);
                return OTAHIL_EXIT_HARNESS;
            }
        } else if (m < 0) {
            fprintf(stderr, "otahil push: option %s needs a value\n", argv[i]);
            return OTAHIL_EXIT_HARNESS;
        } else {
            fprintf(stderr, "otahil push: unknown option %s (see otahil push --help)\n", argv[i]);
            return OTAHIL_EXIT_HARNESS;
        }
    }
    if (!image) {
        fprintf(stderr, "otahil push: --image FILE is required\n");
        return OTAHIL_EXIT_HARNESS;
    }
    if (workdir && apiurl) {
        fprintf(stderr, "otahil push: give --workdir or --api, not both\n");
        return OTAHIL_EXIT_HARNESS;
    }
    if (have_timeout && !wait) {
        fprintf(stderr, "otahil push: --timeout only applies with --wait\n");
        return OTAHIL_EXIT_HARNESS;
    }
    if (sign && strcasecmp(sign, "Md5") != 0 && strcasecmp(sign, "Sha256") != 0) {
        fprintf(stderr, "otahil push: bad --sign-method %s (Md5 or Sha256)\n", sign);
        return OTAHIL_EXIT_HARNESS;
    }
    if (device && ((size_t)snprintf(devbuf, sizeof devbuf, "%s", device) >= sizeof devbuf ||
                   cmd_split(devbuf, dv, 2) != 0 || strchr(dv[1], '/'))) {
        fprintf(stderr, "otahil push: bad --device %s (PK/DN)\n", device);
        return OTAHIL_EXIT_HARNESS;
    }
    if (!realpath(image, abs)) {
        fprintf(stderr, "otahil push: cannot find image %s: %s\n", image, strerror(errno));
        return OTAHIL_EXIT_HARNESS;
    }
    if (apiurl ? api_parse_url(apiurl, &api) != 0
               : api_from_workdir(workdir ? workdir : CMD_DEFAULT_WORKDIR, &api, err, sizeof err) != 0) {
        if (apiurl)
            fprintf(stderr, "otahil push: bad --api %s (http://HOST:PORT)\n", apiurl);
        else
            fprintf(stderr, "otahil push: %s\n", err);
        return OTAHIL_EXIT_HARNESS;
    }

    /* 1. the firmware */
    req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "path", abs);
    if (unchecked)
        cJSON_AddTrueToObject(req, "unchecked");
    body = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    snprintf(err, sizeof err, "out of memory");
    st = body ? api_call(&api, "POST", "/api/firmware", body, &r, err, sizeof err) : -1;
    free(body);
    jid = cJSON_GetObjectItemCaseSensitive(r, "id");
    if (st != 201 || !cJSON_IsNumber(jid)) {
        if (st < 0)
            fprintf(stderr, "otahil push: %s\n", err);
        else if (strstr(api_error_text(r), abs)) /* the reason names the file already */
            fprintf(stderr, "otahil push: the cloud refused the firmware: %s\n", api_error_text(r));
        else
            fprintf(stderr, "otahil push: the cloud refused %s: %s\n", abs, api_error_text(r));
        cJSON_Delete(r);
        return OTAHIL_EXIT_HARNESS;
    }
    fwid = jid->valueint;
    jurl = cJSON_GetObjectItemCaseSensitive(r, "url");
    jver = cJSON_GetObjectItemCaseSensitive(r, "version");
    printf("firmware %d: %s  %s\n", fwid, cJSON_IsString(jver) ? jver->valuestring : "?",
           cJSON_IsString(jurl) ? jurl->valuestring : "?");
    cJSON_Delete(r);
    r = NULL;

    /* 2. the job */
    req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "pk", dv[0]);
    cJSON_AddStringToObject(req, "dn", dv[1]);
    cJSON_AddNumberToObject(req, "firmware", fwid);
    if (sign)
        cJSON_AddStringToObject(req, "signMethod", sign);
    if (retries)
        cJSON_AddNumberToObject(req, "retries", (double)retries);
    if (at_inform)
        cJSON_AddTrueToObject(req, "at_inform");
    body = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    snprintf(err, sizeof err, "out of memory");
    st = body ? api_call(&api, "POST", "/api/jobs", body, &r, err, sizeof err) : -1;
    free(body);
    jid = cJSON_GetObjectItemCaseSensitive(r, "id");
    if (st != 201 || !cJSON_IsNumber(jid)) {
        if (st < 0)
            fprintf(stderr, "otahil push: %s\n", err);
        else
            fprintf(stderr, "otahil push: the cloud refused the job for %s/%s: %s\n", dv[0], dv[1],
                    api_error_text(r));
        cJSON_Delete(r);
        return OTAHIL_EXIT_HARNESS;
    }
    job = jid->valueint;
    cJSON_Delete(r);
    printf("job %d: %s/%s <- firmware %d\n", job, dv[0], dv[1], fwid);
    fflush(stdout);
    if (!wait)
        return OTAHIL_EXIT_PASS;
    return cmd_wait_job(&api, job, (unsigned)timeout);
}
