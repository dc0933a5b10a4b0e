/*
 * qemu_main.c - otahil-qemu: one boot of the device under test as firmware
 * in QEMU (conformance/qemu.c). It takes otahil-dut's options, so the
 * supervisor starts one or the other (`otahil run --target qemu`); the one
 * the QEMU target does not have (a TLS heap budget: the TLS stack is the
 * relay's, not the firmware's) is refused by name.
 */
#include <errno.h>
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/qemu.h"
#include "sim/flash/flashsim.h"
#include "sim/device/dut.h"
#include "sim/util/defaults.h"
#include "sim/qemu/qmbox.h"
#include "sim/util/evlog.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: otahil-qemu --board B --flash FILE --broker HOST:PORT [--pk PK] [--dn DN]\n"
            "                   [--secret S] [--events FILE] [--reboot-delay-ms N] [--no-resume]\n"
            "                   [--firmware ELF] [--watchdog-ms N] [--cut-at SEQ[:MODE]]\n"
            "                   [--ca FILE] [--mqtts] [--tls-fragment N] [--flash-delay-us N]\n"
            "                   [--coap coap://HOST:PORT [--coap-dl]] [--net relay|user]\n"
            "One boot of the device as firmware in qemu-system-arm (mps2-an385); normally\n"
            "started by `otahil run --target qemu`. Exit status: sim/device/dut.h.\n");
}

static const char *need(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "otahil-qemu: %s needs a value\n", argv[*i]);
        exit(DUT_EXIT_HARNESS);
    }
    return argv[++*i];
}

static unsigned num(const char *opt, const char *v, unsigned long max)
{
    char *end;
    unsigned long x = strtoul(v, &end, 10);
    if (*v < '0' || *v > '9' || *end || x > max) {
        fprintf(stderr, "otahil-qemu: %s '%s': expected 0..%lu\n", opt, v, max);
        exit(DUT_EXIT_HARNESS);
    }
    return (unsigned)x;
}

/* The CA file as the device has it compiled in: the PEM text with its NUL,
 * at most QMBOX_CA_MAX bytes (the mailbox's room for it). Exits on error. */
static char *read_ca(const char *path, uint32_t *len)
{
    static char buf[QMBOX_CA_MAX + 1];
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "otahil-qemu: --ca %s: %s\n", path, strerror(errno));
        exit(DUT_EXIT_HARNESS);
    }
    size_t n = fread(buf, 1, QMBOX_CA_MAX, f);
    int big = !feof(f) && fgetc(f) != EOF, bad = ferror(f);
    fclose(f);
    buf[n] = '\0';
    if (bad || big || n == 0 || n >= QMBOX_CA_MAX || !strstr(buf, "-----BEGIN CERTIFICATE-----")) {
        fprintf(stderr, "otahil-qemu: --ca %s: %s\n", path, bad ? "read error"
                : big || n >= QMBOX_CA_MAX ? "larger than the mailbox's 4095 bytes for a CA"
                : "no PEM certificate in it");
        exit(DUT_EXIT_HARNESS);
    }
    *len = (uint32_t)strlen(buf) + 1;
    return buf;
}

int main(int argc, char **argv)
{
    struct qemu_boot_opts o = { OTAHIL_DEFAULT_BOARD, NULL, NULL, NULL, 0, OTAHIL_DEFAULT_PK,
                                OTAHIL_DEFAULT_DN, OTAHIL_DEFAULT_SECRET, 3000, 1, 10000, 0, 0,
                                NULL, NULL, 0, 0, 0, 0, NULL, 0, 0 };
    const char *broker = NULL, *events = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--board")) o.board = need(argc, argv, &i);
        else if (!strcmp(a, "--flash")) o.flash = need(argc, argv, &i);
        else if (!strcmp(a, "--broker")) broker = need(argc, argv, &i);
        else if (!strcmp(a, "--events")) events = need(argc, argv, &i);
        else if (!strcmp(a, "--pk")) o.pk = need(argc, argv, &i);
        else if (!strcmp(a, "--dn")) o.dn = need(argc, argv, &i);
        else if (!strcmp(a, "--secret")) o.ds = need(argc, argv, &i);
        else if (!strcmp(a, "--reboot-delay-ms"))
            o.reboot_delay_ms = num(a, need(argc, argv, &i), 600000);
        else if (!strcmp(a, "--no-resume")) o.resume = 0;
        else if (!strcmp(a, "--firmware")) o.firmware = need(argc, argv, &i);
        else if (!strcmp(a, "--watchdog-ms")) o.watchdog_ms = num(a, need(argc, argv, &i), 3600000);
        else if (!strcmp(a, "--cut-at")) {
            const char *v = need(argc, argv, &i), *colon = strchr(v, ':');
            char *end;
            o.cut_seq = strtoull(v, &end, 10);
            o.cut_mode = colon ? flashsim_fault_parse(colon + 1) : FLASHSIM_F_CUT_BEFORE;
            if (*v < '1' || *v > '9' || end != (colon ? colon : v + strlen(v)) ||
                (o.cut_mode != FLASHSIM_F_CUT_BEFORE && o.cut_mode != FLASHSIM_F_CUT_AFTER &&
                 o.cut_mode != FLASHSIM_F_TORN && o.cut_mode != FLASHSIM_F_PARTIAL_ERASE)) {
                fprintf(stderr, "otahil-qemu: --cut-at '%s': expected SEQ[:MODE], SEQ >= 1, MODE "
                        "before, after, torn or erase\n", v);
                return DUT_EXIT_HARNESS;
            }
        }
        else if (!strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--ca")) {
            o.ca_path = need(argc, argv, &i);
            o.ca_pem = read_ca(o.ca_path, &o.ca_len);
        }
        else if (!strcmp(a, "--mqtts")) o.mqtts = 1;
        else if (!strcmp(a, "--tls-fragment")) {
            o.tls_fragment = num(a, need(argc, argv, &i), 4096);
            if (o.tls_fragment && o.tls_fragment != 512 && o.tls_fragment != 1024 &&
                o.tls_fragment != 2048 && o.tls_fragment != 4096) {
                fprintf(stderr, "otahil-qemu: --tls-fragment %u: expected 512, 1024, 2048, 4096 "
                        "or 0\n", o.tls_fragment);
                return DUT_EXIT_HARNESS;
            }
        }
        else if (!strcmp(a, "--coap")) {
            o.coap_url = need(argc, argv, &i);
            if (strncmp(o.coap_url, "coap://", 7) && strncmp(o.coap_url, "coaps://", 8)) {
                fprintf(stderr, "otahil-qemu: --coap '%s': expected coap://HOST:PORT or "
                        "coaps://HOST:PORT\n", o.coap_url);
                return DUT_EXIT_HARNESS;
            }
            if (strlen(o.coap_url) >= QMBOX_STR) {
                fprintf(stderr, "otahil-qemu: --coap '%s': longer than %d characters\n", o.coap_url,
                        QMBOX_STR - 1);
                return DUT_EXIT_HARNESS;
            }
        }
        else if (!strcmp(a, "--coap-dl")) o.coap_dl = 1;
        else if (!strcmp(a, "--net")) {
            const char *v = need(argc, argv, &i);
            if (strcmp(v, "user") && strcmp(v, "relay")) {
                fprintf(stderr, "otahil-qemu: --net '%s': expected relay (the mailbox relay holds "
                        "the network) or user (the firmware's own IP stack on the LAN9118)\n", v);
                return DUT_EXIT_HARNESS;
            }
            o.nic = !strcmp(v, "user");
        }
        else if (!strcmp(a, "--flash-delay-us"))
            o.flash_delay_us = num(a, need(argc, argv, &i), 1000000);
        else if (!strcmp(a, "--tls-heap")) {
            fprintf(stderr, "otahil-qemu: --tls-heap: not available on the QEMU target (TLS runs in "
                    "the relay, as on an AT-command module: the firmware has no TLS heap to budget; "
                    "docs/qemu.md)\n");
            return DUT_EXIT_HARNESS;
        } else {
            fprintf(stderr, "otahil-qemu: unknown option '%s'\n", a);
            return DUT_EXIT_HARNESS;
        }
    }
    if (!o.flash || !broker) {
        usage(stderr);
        return DUT_EXIT_HARNESS;
    }
    if (o.mqtts && !o.ca_path) {
        fprintf(stderr, "otahil-qemu: --mqtts needs --ca FILE (the CA the broker must chain to)\n");
        return DUT_EXIT_HARNESS;
    }
    if (o.nic && (o.mqtts || o.coap_url || o.tls_fragment)) {
        fprintf(stderr, "otahil-qemu: --net user: the firmware's own IP stack has no TLS and no "
                "CoAP (%s); MQTT and HTTP only (docs/qemu.md)\n",
                o.mqtts ? "--mqtts" : o.coap_url ? "--coap" : "--tls-fragment");
        return DUT_EXIT_HARNESS;
    }
    if (o.coap_dl && !o.coap_url) {
        fprintf(stderr, "otahil-qemu: --coap-dl needs --coap URL (the CoAP signal channel)\n");
        return DUT_EXIT_HARNESS;
    }
    static char host[256];
    const char *colon = strrchr(broker, ':');
    if (!colon || (size_t)(colon - broker) >= sizeof(host) || atoi(colon + 1) <= 0 ||
        atoi(colon + 1) > 65535) {
        fprintf(stderr, "otahil-qemu: --broker '%s': expected HOST:PORT\n", broker);
        return DUT_EXIT_HARNESS;
    }
    memcpy(host, broker, (size_t)(colon - broker));
    host[colon - broker] = 0;
    o.broker_host = host;
    o.broker_port = atoi(colon + 1);
    if (events && evlog_open(events) != 0) {
        perror(events);
        return DUT_EXIT_HARNESS;
    }
    if (o.ca_path || o.tls_fragment)
        evlog_emit("device", "device.tls", "\"ca\":%s,\"mqtts\":%s,\"fragment\":%u,\"heap_budget\":0,"
                   "\"offload\":true", o.ca_pem ? "true" : "false", o.mqtts ? "true" : "false",
                   o.tls_fragment);
    evlog_emit("device", "device.transport", "\"signal\":\"%s\",\"download\":\"%s\",\"offload\":%s",
               o.coap_url ? (strncmp(o.coap_url, "coaps", 5) ? "coap" : "coaps")
                          : o.mqtts ? "mqtts" : "mqtt",
               o.coap_dl ? "coap" : "url", o.nic ? "false" : "true");
    if (o.flash_delay_us)
        evlog_emit("device", "device.flash_slow", "\"delay_us\":%u", o.flash_delay_us);
    qemu_boot_signals();
    mosquitto_lib_init();
    int rc = qemu_boot(&o);
    mosquitto_lib_cleanup();
    evlog_close();
    return rc;
}
