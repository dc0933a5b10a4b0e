/* cmd_device.c - `otahil device`: a simulated device against a running cloud. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "conformance/commands.h"
#include "conformance/common.h"
#include "conformance/supervisor.h"
#include "sim/device/dut.h"
#include "sim/util/defaults.h"

static volatile sig_atomic_t g_stop;
static void on_sig(int s) { (void)s; g_stop = 1; }

int cmd_device(int argc, char **argv)
{
    struct supervisor_opts o = { NULL, OTAHIL_DEFAULT_BOARD, NULL, NULL, OTAHIL_DEFAULT_PK,
                                 OTAHIL_DEFAULT_DN, OTAHIL_DEFAULT_SECRET, NULL, 3000, 1, 0,
                                 NULL, 0, 0, 0, NULL, 0, NULL, NULL, 0 };
    const char *workdir = ".otahil/cloud";
    char broker[64], events[4200], err[1024], capath[4200], coap[64];
    int want_coap = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: otahil device --flash FILE [--board B] [--broker HOST:PORT | --workdir CLOUDDIR]\n"
                   "                     [--pk PK] [--dn DN] [--secret S] [--events FILE] [--reboot-delay-ms N]\n"
                   "                     [--ca FILE] [--mqtts] [--coap [--coap-dl]]\n"
                   "Boots the simulated device again after every reboot until Ctrl-C. The flash file\n"
                   "must exist (otahil flash provision). Without --broker the cloud is found through\n"
                   "CLOUDDIR/cloud.json written by `otahil cloud`, with the CA of a TLS cloud (and MQTT\n"
                   "over TLS when the cloud's devices use its TLS listener). --ca FILE is the CA the\n"
                   "device trusts for https:// downloads; --mqtts connects MQTT over TLS with it.\n"
                   "--coap: the CoAP signal channel (spec §3) at the cloud's CoAP port (cloud.json's\n"
                   "device_coap_port) instead of MQTT; --coap-dl: firmware in CoAP Block2 blocks.\n");
            return 0;
        }
        if (!strcmp(a, "--board") && v) { o.board = v; i++; }
        else if (!strcmp(a, "--flash") && v) { o.flash = v; i++; }
        else if (!strcmp(a, "--broker") && v) { o.broker = v; i++; }
        else if (!strcmp(a, "--workdir") && v) { workdir = v; i++; }
        else if (!strcmp(a, "--pk") && v) { o.pk = v; i++; }
        else if (!strcmp(a, "--dn") && v) { o.dn = v; i++; }
        else if (!strcmp(a, "--secret") && v) { o.secret = v; i++; }
        else if (!strcmp(a, "--events") && v) { o.events = v; i++; }
        else if (!strcmp(a, "--reboot-delay-ms") && v) { o.reboot_delay_ms = atol(v); i++; }
        else if (!strcmp(a, "--ca") && v) { o.ca = v; i++; }
        else if (!strcmp(a, "--mqtts")) o.mqtts = 1;
        else if (!strcmp(a, "--coap")) want_coap = 1;
        else if (!strcmp(a, "--coap-dl")) o.coap_dl = 1;
        else {
            fprintf(stderr, "otahil device: unknown or incomplete option '%s'\n", a);
            return OTAHIL_EXIT_HARNESS;
        }
    }
    if (!o.flash) {
        fprintf(stderr, "otahil device: --flash is required (create one with otahil flash provision)\n");
        return OTAHIL_EXIT_HARNESS;
    }
    if (o.coap_dl && !want_coap) {
        fprintf(stderr, "otahil device: --coap-dl needs --coap\n");
        return OTAHIL_EXIT_HARNESS;
    }
    int broker_given = o.broker != NULL;
    if (!o.broker || !o.events || want_coap) {
        char path[4200];
        uint8_t *d;
        size_t len;
        snprintf(path, sizeof(path), "%s/cloud.json", workdir);
        if (read_file(path, &d, &len, err, sizeof(err)) != 0) {
            fprintf(stderr, "otahil device: no --broker and no running cloud: %s\n", err);
            return OTAHIL_EXIT_HARNESS;
        }
        cJSON *j = cJSON_ParseWithLength((char *)d, len);
        free(d);
        /* Through the cloud's fault proxy when it runs one. */
        const cJSON *mp = cJSON_GetObjectItemCaseSensitive(j, "device_mqtt_port");
        if (!cJSON_IsNumber(mp))
            mp = cJSON_GetObjectItemCaseSensitive(j, "mqtt_port");
        const cJSON *ev = cJSON_GetObjectItemCaseSensitive(j, "events");
        const cJSON *cp = cJSON_GetObjectItemCaseSensitive(j, "device_coap_port");
        if (want_coap && !cJSON_IsNumber(cp)) {
            fprintf(stderr, "otahil device: %s: no device_coap_port (a cloud without CoAP)\n", path);
            cJSON_Delete(j);
            return OTAHIL_EXIT_HARNESS;
        }
        if (want_coap) {
            snprintf(coap, sizeof(coap), "coap://127.0.0.1:%d", cp->valueint);
            o.coap = coap;
        }
        if (!cJSON_IsNumber(mp)) {
            fprintf(stderr, "otahil device: %s: no mqtt_port\n", path);
            cJSON_Delete(j);
            return OTAHIL_EXIT_HARNESS;
        }
        if (!o.broker) {
            snprintf(broker, sizeof(broker), "127.0.0.1:%d", mp->valueint);
            o.broker = broker;
        }
        if (!o.events && cJSON_IsString(ev)) {
            snprintf(events, sizeof(events), "%s", ev->valuestring);
            o.events = events;
        }
        /* A TLS cloud: its CA, and MQTT over TLS when devices use its TLS listener. */
        const cJSON *ca = cJSON_GetObjectItemCaseSensitive(j, "ca");
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "mqtts_port");
        if (cJSON_IsString(ca) && !o.ca) {
            snprintf(capath, sizeof(capath), "%s", ca->valuestring);
            o.ca = capath;
            o.mqtts = !broker_given && cJSON_IsNumber(mt) && mt->valueint == mp->valueint;
        }
        cJSON_Delete(j);
    }
    struct supervisor sv;
    if (supervisor_init(&sv, &o, err, sizeof(err)) != 0 || supervisor_boot(&sv, err, sizeof(err)) != 0) {
        fprintf(stderr, "otahil device: %s\n", err);
        return OTAHIL_EXIT_HARNESS;
    }
    signal(SIGINT, on_sig);
    signal(SIGTERM, on_sig);
    printf("otahil device: board %s, flash %s, %s %s (Ctrl-C to power off)\n", o.board, o.flash,
           o.coap ? "coap" : "broker", o.coap ? o.coap : o.broker);
    fflush(stdout);
    int rc = 0;
    while (!g_stop) {
        struct boot_end be;
        if (supervisor_poll(&sv, &be)) {
            printf("boot %d ended: %s\n", sv.boots, be.code >= 0 ? dut_exit_name(be.code) : "signal");
            fflush(stdout);
            if (be.code == DUT_EXIT_BRICKED) { rc = OTAHIL_EXIT_FAIL; break; }
            if (be.code != DUT_EXIT_REBOOT && be.code != DUT_EXIT_CRASH) { rc = OTAHIL_EXIT_HARNESS; break; }
            if (supervisor_boot(&sv, err, sizeof(err)) != 0) {
                fprintf(stderr, "otahil device: %s\n", err);
                rc = OTAHIL_EXIT_HARNESS;
                break;
            }
        }
        struct timespec ts = { 0, 20 * 1000000L };
        nanosleep(&ts, NULL);
    }
    supervisor_stop(&sv);
    return rc;
}
