/*
 * qmbox.h - the shared-memory mailbox between QEMU firmware and the harness
 * (docs/qemu.md, "Mailbox"). It lives at the top of the 16 MiB file-backed
 * region at 0x21000000, which QEMU maps from a file the harness maps too;
 * the flash chip bytes and the flash model's state sit at the bottom of the
 * same region. Freestanding: included by the guest and by the host.
 *
 * One request at a time, guest to host (the firmware is single-threaded):
 * the guest fills op, arg[], req[0..req_len), then increments req_seq and
 * rings the doorbell (a byte on UART1). The host serves it, fills ret,
 * rsp[0..rsp_len), sets rsp_seq = req_seq and rings back (a byte into
 * UART1's receiver, an interrupt that ends the guest's WFI). Messages the
 * host receives for the device (MQTT deliveries, "connected") go into the
 * inbound ring, written only by the host (in_wr) and read only by the guest
 * (in_rd), each followed by a doorbell byte.
 */
#ifndef OTAHIL_QMBOX_H
#define OTAHIL_QMBOX_H

#include <stdint.h>
#include "sim/flash/flashsim.h"

#define QMBOX_REGION_ADDR 0x21000000u /* QEMU mps2-an385 "mps.ram", file-backed */
#define QMBOX_REGION_SIZE 0x1000000u  /* 16 MiB: the file's size */
#define QMBOX_OFF         0xF00000u   /* mailbox offset in the region: 15 MiB */
#define QMBOX_MAGIC       0x58424D51u /* "QMBX" */
#define QMBOX_VERSION     4u
#define QMBOX_BUF         8192u       /* request and response payload bytes */
#define QMBOX_RING        (256u * 1024u) /* inbound ring bytes */
#define QMBOX_STR         80          /* identity and board strings */
#define QMBOX_CA_MAX      4096u       /* the device's CA (PEM with its NUL), at most */

/* Requests (op). Strings in req are NUL-terminated, one after another. */
enum qmbox_op {
    QMBOX_OP_NONE = 0,
    QMBOX_OP_EVENT = 1,        /* req: src, ev, fields                      ret 0 */
    QMBOX_OP_MQTT_INIT = 2,    /* req: pk, dn, ds                           ret 0, 1 exists, <0 */
    QMBOX_OP_MQTT_PUB = 3,     /* arg0 qos, arg1 data len; req: topic, data  ret 0 / <0 */
    QMBOX_OP_MQTT_SUB = 4,     /* req: topic                                ret 0 / <0 */
    QMBOX_OP_MQTT_DEINIT = 5,  /*                                           ret 0 */
    QMBOX_OP_SOCK_CONNECT = 6, /* arg0 port; req: host                      ret fd > 0 / <0 */
    QMBOX_OP_SOCK_SEND = 7,    /* arg0 fd; req: bytes (req_len)             ret sent / <0 */
    QMBOX_OP_SOCK_RECV = 8,    /* arg0 fd, arg1 len (<= QMBOX_BUF)          ret n, rsp: bytes */
    QMBOX_OP_SOCK_CLOSE = 9,   /* arg0 fd                                   ret 0 */
    QMBOX_OP_END = 10,         /* arg0 exit code; req: reason (the boot ends) ret 0 */
    /* TLS offloaded to the relay (an AT-command module's TLS sockets): it
     * verifies the chain against the CA the device gives and the host name. */
    QMBOX_OP_SSL_CONNECT = 11, /* arg0 port, arg1 CA bytes (with NUL, 0: none);
                                * req: host, CA                            ret handle > 0 / <0 */
    QMBOX_OP_SSL_SEND = 12,    /* arg0 handle; req: bytes (req_len)          ret sent / <0 */
    QMBOX_OP_SSL_RECV = 13,    /* arg0 handle, arg1 len (<= QMBOX_BUF)       ret n >= 0 (fills len or
                                * waits 5 s, OTA_SSL_TIMEOUT), rsp: bytes; <0 no such handle */
    /* CoAP offloaded to the relay (ota_IOT_CoAP_*, spec §11): it runs the
     * native device's libcoap client (sim/posix/coap_client.c), DTLS too. */
    QMBOX_OP_COAP_INIT = 14,   /* req: url, pk, dn, device id, ds           ret handle > 0 / <0 */
    QMBOX_OP_COAP_AUTH = 15,   /* arg0 handle                               ret 0 / <0 */
    QMBOX_OP_COAP_SEND = 16,   /* arg0 handle, arg1 block type | more << 8 (-1: no block
                                * option), arg2 NUM, arg3 block size; req: path, payload
                                * ret 0 / <0; rsp: qmbox_coap_rsp + payload when answered */
    QMBOX_OP_COAP_DEINIT = 17, /* arg0 handle                               ret 0 */
    QMBOX_OP_COUNT
};

/* Inbound records: header then topic then payload, padded to 4 bytes. A
 * record that would cross the ring's end starts at 0 instead (a header with
 * kind QMBOX_IN_WRAP marks the skipped tail when there is room for one). */
enum qmbox_in_kind { QMBOX_IN_WRAP = 0, QMBOX_IN_CONNECTED = 1, QMBOX_IN_MSG = 2 };
struct qmbox_in_hdr {
    uint32_t kind;        /* enum qmbox_in_kind */
    uint32_t topic_len;   /* bytes, without NUL (a NUL follows in the ring) */
    uint32_t payload_len; /* bytes (a NUL follows in the ring) */
};

/* A CoAP response as the relay read it through the client's accessors
 * (GetMessageCode, _ParseOption_block, _GetMessageOption for ETag and
 * Size2, _GetMessagePayload), at the start of rsp; the payload follows. */
struct qmbox_coap_rsp {
    int32_t  code;             /* class << 5 | detail */
    int32_t  block_rc;         /* ParseOption_block's result: < 0 no Block2 */
    uint32_t num, more, size;  /* its NUM, M and block size */
    int32_t  etag_len;         /* -1: no ETag */
    uint8_t  etag[8];
    int32_t  size2_len;        /* -1: no Size2 */
    uint8_t  size2[8];
    int32_t  payload_len;      /* bytes after this header */
};

/* What one boot is given: written by the host before QEMU starts. */
struct qmbox_cfg {
    char     board[32];
    struct flashsim_geom geom;
    struct flashsim_part parts[FLASHSIM_MAX_PARTS];
    int32_t  nparts;
    int32_t  kv_parts[4];
    int32_t  nkv;
    int32_t  pingpong;         /* 0 copy, 1 pingpong */
    uint32_t boot_attempts;
    uint32_t flash_base;       /* the board's address of chip offset 0 */
    uint32_t state_off;        /* flash model state: region offset (chip at 0) */
    struct flashsim_fault fault; /* armed at boot (mode NONE: none) */
    char     pk[QMBOX_STR], dn[QMBOX_STR], ds[QMBOX_STR];
    uint32_t reboot_delay_ms;
    int32_t  resume;
    uint32_t checkpoint;
    uint32_t flash_delay_us;   /* extra time each program or erase takes (a slow chip); 0: none */
    uint32_t ca_len;           /* bytes of ca with its NUL; 0: the device has no CA */
    char     ca[QMBOX_CA_MAX]; /* the CA compiled into the device (PEM) */
    char     coap_url[QMBOX_STR]; /* the CoAP signal channel (coap:// or coaps://); "": MQTT */
    int32_t  dl_coap;          /* with coap_url: the firmware comes over CoAP Block2 */
    /* Firmware with its own IP stack on the LAN9118 (QEMU -nic user, docs/qemu.md "Own IP
     * stack"): where it finds the broker from inside the guest (10.0.2.2 is the host's
     * loopback). nic 0: the mailbox relay holds the network. */
    int32_t  nic;
    char     mqtt_host[32];    /* dotted quad */
    int32_t  mqtt_port;
};

struct qmbox {
    uint32_t magic;            /* QMBOX_MAGIC, written by the host */
    uint32_t version;          /* QMBOX_VERSION */
    struct qmbox_cfg cfg;
    volatile uint32_t ticks;   /* guest: ms since boot (SysTick); the host's watchdog */
    volatile uint32_t req_seq; /* guest: last request posted */
    volatile uint32_t rsp_seq; /* host: last request served */
    uint32_t op;               /* enum qmbox_op */
    int32_t  arg[4];
    uint32_t req_len;
    int32_t  ret;
    uint32_t rsp_len;
    volatile uint32_t in_wr;   /* host: ring write offset */
    volatile uint32_t in_rd;   /* guest: ring read offset */
    uint8_t  req[QMBOX_BUF];
    uint8_t  rsp[QMBOX_BUF];
    uint8_t  ring[QMBOX_RING];
};

/* The guest (ARM EABI) and the host (x86-64) must agree on every offset:
 * fixed-width fields only, and these checks on both compilers. */
_Static_assert(sizeof(struct qmbox_coap_rsp) == 48, "qmbox_coap_rsp layout changed");
_Static_assert(sizeof(struct qmbox_cfg) == 0x15D0, "qmbox_cfg layout changed: update both sides");
_Static_assert(__builtin_offsetof(struct qmbox, ring) == 0x560C, "qmbox layout changed");

#endif
