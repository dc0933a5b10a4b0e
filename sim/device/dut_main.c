/*
 * dut_main.c - one boot of the native simulated device:
 *   board file -> flash file -> bootloader model -> booted image -> agent.
 * The image decides the firmware's behaviour: it reports the image's version,
 * crashes at boot when flagged so, and confirms its boot unless flagged
 * "never confirms". A reboot ends the process (exit 10); the supervisor
 * starts the next boot. The vendor's port is linked in and registered here,
 * as a platform's start-up code does.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hal/ota.h"
#include "sim/agent/agent.h"
#include "sim/board/board.h"
#include "sim/boot/boot.h"
#include "sim/device/dut.h"
#include "sim/flash/flashfile.h"
#include "sim/hal/platform.h"
#include "sim/kv/kv.h"
#include "sim/posix/os_posix.h"
#include "sim/util/defaults.h"
#include "sim/util/evlog.h"

#ifndef OTAHIL_PORT_MODULE
#define OTAHIL_PORT_MODULE reference_ota_module
#endif
extern struct hal_ota_module_s OTAHIL_PORT_MODULE;

static struct flashfile g_ff;

void otahil_platform_reboot(const char *reason)
{
    hal_ota_report_writes();
    evlog_emit("device", "device.reboot", "\"reason\":\"%s\"", reason);
    flashfile_close(&g_ff);
    _exit(DUT_EXIT_REBOOT);
}

static void on_term(int sig)
{
    (void)sig;
    evlog_emit("device", "device.poweroff", "");
    _exit(DUT_EXIT_OFF);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: otahil-dut --board B --flash FILE --broker HOST:PORT [--pk PK] [--dn DN]\n"
            "                  [--secret S] [--events FILE] [--reboot-delay-ms N] [--no-resume]\n"
            "                  [--flash-delay-us N] [--ca FILE] [--mqtts] [--tls-fragment N]\n"
            "                  [--tls-heap BYTES] [--coap coap://HOST:PORT [--coap-dl]]\n"
            "One boot of the simulated device; normally started by `otahil device` or `otahil run`.\n");
}

static const char *need(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "otahil-dut: %s needs a value\n", argv[*i]);
        exit(DUT_EXIT_HARNESS);
    }
    return argv[++*i];
}

/* Reads the CA file the way a device has it compiled in: the PEM text with
 * its NUL (ota_ssl_connect's ca_crt_len counts it, spec §4.1). */
static char *read_ca(const char *path, uint32_t *len)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t n = 0;
    if (f) {
        buf = calloc(1, 65536 + 1);
        if (buf)
            n = fread(buf, 1, 65536, f);
        if (!buf || ferror(f) || !feof(f) || n == 0 || !strstr(buf, "-----BEGIN CERTIFICATE-----")) {
            fprintf(stderr, "otahil-dut: --ca %s: %s\n", path,
                    !buf ? "out of memory" : ferror(f) ? strerror(errno)
                    : !feof(f) ? "larger than 64 KiB" : "no PEM certificate in it");
            free(buf);
            buf = NULL;
        }
        fclose(f);
    } else {
        fprintf(stderr, "otahil-dut: --ca %s: %s\n", path, strerror(errno));
    }
    if (buf)
        *len = (uint32_t)strlen(buf) + 1;
    return buf;
}

static int parse_ulong(const char *opt, const char *v, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    *out = strtoul(v, &end, 10);
    if (*v < '0' || *v > '9' || *end || errno || *out > max) {
        fprintf(stderr, "otahil-dut: %s '%s': expected 0..%lu\n", opt, v, max);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *board_arg = OTAHIL_DEFAULT_BOARD, *flash = NULL, *broker = NULL, *events = NULL;
    const char *pk = OTAHIL_DEFAULT_PK, *dn = OTAHIL_DEFAULT_DN, *ds = OTAHIL_DEFAULT_SECRET;
    long reboot_delay = 3000;
    int resume = 1;
    unsigned long flash_delay_us = 0, tls_fragment = 0, tls_heap = 0;
    const char *ca_path = NULL;
    int mqtts = 0, coap_dl = 0;
    const char *coap_url = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--board")) board_arg = need(argc, argv, &i);
        else if (!strcmp(a, "--flash")) flash = need(argc, argv, &i);
        else if (!strcmp(a, "--broker")) broker = need(argc, argv, &i);
        else if (!strcmp(a, "--events")) events = need(argc, argv, &i);
        else if (!strcmp(a, "--pk")) pk = need(argc, argv, &i);
        else if (!strcmp(a, "--dn")) dn = need(argc, argv, &i);
        else if (!strcmp(a, "--secret")) ds = need(argc, argv, &i);
        else if (!strcmp(a, "--reboot-delay-ms")) reboot_delay = atol(need(argc, argv, &i));
        else if (!strcmp(a, "--no-resume")) resume = 0;
        else if (!strcmp(a, "--flash-delay-us")) {
            const char *v = need(argc, argv, &i);
            char *end;
            flash_delay_us = strtoul(v, &end, 10);
            if (*v < '0' || *v > '9' || *end || flash_delay_us > 1000000) {
                fprintf(stderr, "otahil-dut: --flash-delay-us '%s': expected 0..1000000\n", v);
                return DUT_EXIT_HARNESS;
            }
        }
        else if (!strcmp(a, "--ca")) ca_path = need(argc, argv, &i);
        else if (!strcmp(a, "--mqtts")) mqtts = 1;
        else if (!strcmp(a, "--coap")) {
            coap_url = need(argc, argv, &i);
            if (strncmp(coap_url, "coap://", 7) && strncmp(coap_url, "coaps://", 8)) {
                fprintf(stderr, "otahil-dut: --coap '%s': expected coap://HOST:PORT or "
                        "coaps://HOST:PORT\n", coap_url);
                return DUT_EXIT_HARNESS;
            }
        }
        else if (!strcmp(a, "--coap-dl")) coap_dl = 1;
        else if (!strcmp(a, "--tls-fragment")) {
            if (parse_ulong(a, need(argc, argv, &i), 4096, &tls_fragment) != 0 ||
                (tls_fragment && tls_fragment != 512 && tls_fragment != 1024 &&
                 tls_fragment != 2048 && tls_fragment != 4096 &&
                 fprintf(stderr, "otahil-dut: --tls-fragment %lu: expected 512, 1024, 2048, 4096 "
                         "or 0\n", tls_fragment)))
                return DUT_EXIT_HARNESS;
        }
        else if (!strcmp(a, "--tls-heap")) {
            if (parse_ulong(a, need(argc, argv, &i), 64ul << 20, &tls_heap) != 0)
                return DUT_EXIT_HARNESS;
        }
        else if (!strcmp(a, "--help")) { usage(stdout); return 0; }
        else {
            fprintf(stderr, "otahil-dut: unknown option '%s'\n", a);
            return DUT_EXIT_HARNESS;
        }
    }
    if (!flash || !broker) {
        usage(stderr);
        return DUT_EXIT_HARNESS;
    }
    if (coap_dl && !coap_url) {
        fprintf(stderr, "otahil-dut: --coap-dl needs --coap URL (the CoAP signal channel)\n");
        return DUT_EXIT_HARNESS;
    }
    if (mqtts && !ca_path) {
        fprintf(stderr, "otahil-dut: --mqtts needs --ca FILE (the CA the broker must chain to)\n");
        return DUT_EXIT_HARNESS;
    }
    /* Before anything touches OpenSSL: its heap is counted (and capped). */
    if ((ca_path || tls_heap) && os_posix_tls_heap(tls_heap) != 0) {
        fprintf(stderr, "otahil-dut: --tls-heap: OpenSSL allocated before its heap could be counted\n");
        return DUT_EXIT_HARNESS;
    }
    uint32_t ca_len = 0;
    char *ca_pem = ca_path ? read_ca(ca_path, &ca_len) : NULL;
    if (ca_path && !ca_pem)
        return DUT_EXIT_HARNESS;
    char host[256];
    const char *colon = strrchr(broker, ':');
    if (!colon || (size_t)(colon - broker) >= sizeof(host) || atoi(colon + 1) <= 0) {
        fprintf(stderr, "otahil-dut: --broker '%s': expected HOST:PORT\n", broker);
        return DUT_EXIT_HARNESS;
    }
    memcpy(host, broker, (size_t)(colon - broker));
    host[colon - broker] = 0;

    if (events && evlog_open(events) != 0) {
        fprintf(stderr, "otahil-dut: %s: %s\n", events, strerror(errno));
        return DUT_EXIT_HARNESS;
    }
    signal(SIGTERM, on_term);
    signal(SIGPIPE, SIG_IGN);

    static struct board b;
    char err[512];
    if (board_open(&b, board_arg, err, sizeof(err)) != 0) {
        fprintf(stderr, "otahil-dut: %s\n", err);
        evlog_emit("device", "device.harness_error", "\"what\":\"board\"");
        return DUT_EXIT_HARNESS;
    }
    if (flashfile_open(&g_ff, flash, &b.geom, 0, 1, err, sizeof(err)) != 0 ||
        (board_apply(&b, &g_ff.fs) != 0 &&
         snprintf(err, sizeof(err), "%s: board %s does not fit this flash file", flash, b.name))) {
        fprintf(stderr, "otahil-dut: %s\n", err);
        evlog_emit("device", "device.harness_error", "\"what\":\"flash\"");
        return DUT_EXIT_HARNESS;
    }
    g_ff.fs.meta->boots++;
    g_ff.op_delay_us = (unsigned)flash_delay_us;
    evlog_emit("device", "boot.start", "\"boot\":%u,\"board\":\"%s\",\"pid\":%d",
               g_ff.fs.meta->boots, b.name, (int)getpid());
    if (flash_delay_us)
        evlog_emit("device", "device.flash_slow", "\"delay_us\":%lu", flash_delay_us);

    struct boot_cfg bc = { strcmp(b.bootloader, "pingpong") == 0 ? BOOT_PINGPONG : BOOT_COPY,
                           b.boot_attempts, b.flash_base, NULL, NULL };
    struct boot_result br;
    if (boot_run(&g_ff.fs, &bc, &br) == FLASHSIM_ECUT) {
        evlog_emit("device", "device.power_cut", "\"where\":\"bootloader\"");
        _exit(DUT_EXIT_CUT);
    }
    if (br.bricked) {
        evlog_emit("boot", "boot.bricked", "\"why\":\"%s\"", br.why);
        flashfile_close(&g_ff);
        return DUT_EXIT_BRICKED;
    }
    evlog_emit("boot", "boot.image", "\"slot\":\"%s\",\"version\":\"%s\",\"flags\":%u",
               board_part_name(br.slot), br.image.version, br.image.flags);

    static struct otahil_platform plat;
    static struct kv_store kv;
    plat.fs = &g_ff.fs;
    plat.flash_base = b.flash_base;
    plat.pingpong = bc.kind == BOOT_PINGPONG;
    otahil_platform_bind(&plat);
    int krc = kv_mount(&kv, &g_ff.fs, b.kv_parts, b.nkv);
    if (krc != 0) {
        evlog_emit("device", "kv.mount_failed", "\"rc\":%d", krc);
        flashfile_close(&g_ff);
        return krc == KV_ECUT ? DUT_EXIT_CUT : DUT_EXIT_CRASH;
    }
    plat.kv = &kv;

    if (br.image.flags & IMAGE_F_CRASH_AT_BOOT) {
        evlog_emit("app", "app.crash", "\"version\":\"%s\"", br.image.version);
        flashfile_close(&g_ff);
        return DUT_EXIT_CRASH;
    }
    hal_ota_register_module(&OTAHIL_PORT_MODULE);

    struct os_posix_cfg oc = { host, atoi(colon + 1), pk, dn, ds, agent_on_connected,
                               mqtts ? ca_path : NULL, (unsigned)tls_fragment,
                               coap_url && !strncmp(coap_url, "coaps://", 8) ? ca_path : NULL };
    os_posix_configure(&oc);
    struct agent_cfg ac = { pk, dn, ds, br.image.version,
                            !(br.image.flags & IMAGE_F_NEVER_CONFIRM),
                            (uint32_t)(reboot_delay < 0 ? 0 : reboot_delay), resume,
                            b.checkpoint, ca_pem, ca_len, coap_url, coap_dl };
    if (ca_path || tls_heap || tls_fragment)
        evlog_emit("device", "device.tls", "\"ca\":%s,\"mqtts\":%s,\"fragment\":%lu,\"heap_budget\":%lu",
                   ca_pem ? "true" : "false", mqtts ? "true" : "false", tls_fragment, tls_heap);
    evlog_emit("device", "device.transport", "\"signal\":\"%s\",\"download\":\"%s\"",
               coap_url ? (strncmp(coap_url, "coaps", 5) ? "coap" : "coaps") : mqtts ? "mqtts" : "mqtt",
               coap_dl ? "coap" : "url");
    evlog_emit("app", "app.start", "\"version\":\"%s\",\"confirms\":%s", br.image.version,
               ac.confirm ? "true" : "false");
    if (agent_start(&ac) != 0) {
        flashfile_close(&g_ff);
        return DUT_EXIT_CRASH;
    }
    for (;;)
        pause();
}
