/*
 * qemu.h - one boot of the device under test as firmware in QEMU
 * (qemu-system-arm -M mps2-an385, docs/qemu.md): the flash file copied into
 * the 16 MiB file-backed region, the boot's configuration into the mailbox,
 * QEMU started with its UARTs on sockets of the harness, the mailbox relay
 * (MQTT through libmosquitto, TCP sockets, TLS, CoAP) serving the firmware, UART0
 * lines into the event log, a watchdog for a hung guest, and the flash file
 * written back when the boot ends. build/bin/otahil-qemu takes the same
 * options as otahil-dut, so the supervisor starts either.
 */
#ifndef OTAHIL_QEMU_H
#define OTAHIL_QEMU_H

#include <stdint.h>

struct qemu_boot_opts {
    const char *board;          /* name or path */
    const char *flash;          /* the flash file (native layout: chip + model state) */
    const char *firmware;       /* ELF; NULL: build/qemu/otahil-fw.elf beside the binary */
    const char *broker_host;
    int         broker_port;
    const char *pk, *dn, *ds;
    unsigned    reboot_delay_ms;
    int         resume;
    unsigned    watchdog_ms;    /* guest ticks stalled this long: hung (harness error) */
    uint64_t    cut_seq;        /* power cut at this flash op (0: none) ... */
    int         cut_mode;       /* ... enum flashsim_fault_mode */
    const char *ca_path;        /* the CA file (mqtts: the relay's libmosquitto reads it) */
    const char *ca_pem;         /* its PEM, NUL-terminated: the CA compiled into the device */
    uint32_t    ca_len;         /* strlen(ca_pem) + 1, at most QMBOX_CA_MAX; 0: none */
    int         mqtts;          /* MQTT over TLS (the relay's; needs ca_path) */
    unsigned    tls_fragment;   /* max_fragment_length the relay asks for; 0: none */
    unsigned    flash_delay_us; /* extra microseconds per program or erase (a slow chip); 0: none */
    const char *coap_url;       /* the CoAP signal channel (coap:// or coaps://, the relay's
                                 * CoAP client; coaps with ca_path: certificates); NULL: MQTT */
    int         coap_dl;        /* with coap_url: the download over CoAP Block2 */
    int         nic;            /* QEMU's -nic user on the board's LAN9118: the firmware has its
                                 * own IP stack and reaches the broker at 10.0.2.2 (the host's
                                 * loopback from inside the guest); its events come as console
                                 * lines ("@ev", docs/qemu.md "Own IP stack"). 0: the relay */
};

/* Runs one boot. Returns the boot's exit code (sim/device/dut.h):
 * DUT_EXIT_REBOOT, _CRASH, _BRICKED, _CUT as the firmware ended it,
 * DUT_EXIT_OFF when SIGTERM powered it off, DUT_EXIT_HARNESS (with a
 * one-line reason on stderr and a device.harness_error event) when the
 * board, the flash file, QEMU or the guest failed, a hung guest included. */
int qemu_boot(const struct qemu_boot_opts *o);

/* SIGTERM and SIGINT power the running boot off (qemu_boot returns
 * DUT_EXIT_OFF); SIGPIPE is ignored. Call once, before qemu_boot. */
void qemu_boot_signals(void);

#endif
