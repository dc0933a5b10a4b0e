/*
 * qemu_main.c - otahil-qemu: one boot of the device under test as firmware
 * in QEMU (conformance/qemu.c). It takes otahil-dut's options, so the
 * supervisor starts one or the other (`otahil run --target qemu`); the
 * options the QEMU target does not have yet are refused by name.
 */
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/qemu.h"
#include "sim/flash/flashsim.h"
#include "sim/device/dut.h"
#include "sim/util/defaults.h"
#include "sim/util/evlog.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: otahil-qemu --board B --flash FILE --broker HOST:PORT [--pk PK] [--dn DN]\n"
            "                   [--secret S] [--events FILE] [--reboot-delay-ms N] [--no-resume]\n"
            "                   [--firmware ELF] [--watchdog-ms N] [--cut-at SEQ[:MODE]]\n"
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

int main(int argc, char **argv)
{
    struct qemu_boot_opts o = { OTAHIL_DEFAULT_BOARD, NULL, NULL, NULL, 0, OTAHIL_DEFAULT_PK,
                                OTAHIL_DEFAULT_DN, OTAHIL_DEFAULT_SECRET, 3000, 1, 10000, 0, 0 };
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
        else if (!strcmp(a, "--ca") || !strcmp(a, "--mqtts") || !strcmp(a, "--tls-fragment") ||
                 !strcmp(a, "--tls-heap") || !strcmp(a, "--flash-delay-us")) {
            fprintf(stderr, "otahil-qemu: %s: not available on the QEMU target (no TLS stack or "
                    "slow-flash model in its firmware yet; docs/qemu.md)\n", a);
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
    qemu_boot_signals();
    mosquitto_lib_init();
    int rc = qemu_boot(&o);
    mosquitto_lib_cleanup();
    evlog_close();
    return rc;
}
