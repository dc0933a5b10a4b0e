/*
 * sweep_int.h - what the sweep's driver and checker (sweep.c) share with its
 * end-to-end host (sweep_net.c). Not a public interface.
 */
#ifndef OTAHIL_SWEEP_INT_H
#define OTAHIL_SWEEP_INT_H

#include <stdint.h>
#include <stdio.h>

#include "conformance/flashkey.h"
#include "conformance/fwhost.h"
#include "conformance/memo.h"
#include "conformance/snap.h"
#include "conformance/sweep.h"
#include "sim/board/board.h"
#include "sim/fw/fw.h"

#define FWHOST_STOP 12        /* the checker ended the point */
#define MAX_PUSHES  6         /* the cloud pushes at most this often per point */
#define V1 "app-1.0.0-20180101.1000"
#define V2 "app-2.0.0-20260101.1200"
#define SWEEP_PK "a1OtaHilPK0"
#define SWEEP_DS "otahil-device-secret"
#define INV_HARNESS 0xFE      /* a point the harness could not run (e2e: network) */

/* One point's result, in shared memory. */
struct pres {
    uint8_t inv;
    char    why[320];
};

struct opinfo {
    uint8_t  kind, phase;
    int16_t  part;
    uint32_t off, len;
};

struct sentinel {
    int      part;
    uint32_t start, len;    /* chip offsets */
};

struct sweep_net;

/* One worker's whole state. */
struct mh {
    const struct sweep_opts *o;
    struct fwhost fw;
    struct board b;
    struct otahil_fw_config cfg;
    struct otahil_fw_ops ops;
    char dn[33];
    /* images */
    uint8_t *v2, *v1;
    uint32_t v2len, v1len;
    struct image_info v1info, v2info;
    char v2md5[33];
    char push[1024];
    int  pushlen;
    char topic_upgrade[160];
    /* flash */
    size_t state_len;
    uint8_t *mem, *pre_mem;
    void *state, *pre_state;
    uint64_t base_seq;
    uint32_t base_viol;
    uint32_t allow_lo[FLASHSIM_MAX_PARTS], allow_hi[FLASHSIM_MAX_PARTS];
    int nallow;
    struct sentinel sent[FLASHSIM_MAX_PARTS];
    int nsent;
    uint8_t *sent_data;     /* pattern, chip-sized, compared at sentinel ranges */
    /* cloud, per point */
    void (*on_connected)(void);
    int connected_pending;
    otahil_fw_msg_cb sub_cb;
    void *sub_ctx;
    int push_queued;        /* in memory: a push is due */
    int await_push;         /* the device informed an old version; the cloud will push */
    uint32_t pushes;        /* pushes delivered to the device */
    int succeeded;
    uint32_t uptime;
    /* HTTP, per connection */
    int sock_open;
    char req[2048];
    size_t reqlen;
    int requested;          /* the request's header block is complete */
    char hdr[512];
    size_t hdrlen;
    uint32_t rx_pos;        /* response bytes the device has read */
    int hdr_match;          /* progress through "\r\n\r\n" in the response */
    int in_body;
    uint32_t body_from, body_pos;
    int responding;
    /* checker, per point */
    int boot_slot;
    int dl_active;
    int cut_fired, cut_in_dl;
    struct flashsim_op cut_op;
    uint32_t durable;
    int resumed;
    uint32_t resume_n;
    int inv;
    char why[320];
    /* clean-run recording */
    struct opinfo *opv;
    uint32_t nops, capops;
    int recording;
    /* the second clean run takes each cut point at its op: in process from
     * a snapshot (snap.h), or in a child forked there */
    int forking;            /* this clean run takes the cut points at their ops */
    int is_child;           /* running a cut point: in a forked child, or in process (in_snap) */
    int jobs, active, fork_failed;   /* workers or children at once; children running; a loss */
    uint32_t *point_of;     /* op index -> result slot + 1 (0: not a point) */
    struct pres *res;
    uint32_t child_slot;
    struct snap *snap;      /* NULL: every point runs in a forked child */
    int in_snap;            /* this point runs in process and ends with snap_back */
    uint32_t *owner;        /* shared, per chunk of points: the worker running it + 1 */
    int worker;             /* this process's worker number (0: the sweep's own) */
    /* memo of recoveries (port-level sweep): a boot start's state -> the
     * rest of a passing run from there */
    struct flashkey fk;
    int fk_ok;
    struct memo *memo;
    struct { uint64_t key[2]; uint32_t boots, min_from; } mk[128];
    int nmk;
    uint32_t cur_boot;      /* index of the running boot in its point */
    /* image_known answers per slot, valid while no op touched the slot */
    struct { const uint8_t *mem; uint32_t len; int known; struct image_info info; } ik[2];
    /* the download slot equals the new image on its first gp_len bytes */
    int gp_part;
    uint32_t gp_len;
    /* end to end (sweep_net.c) */
    struct sweep_net *net;
    /* replay output */
    FILE *ev;
    uint64_t evseq;
    unsigned boot_no;
};

void sw_failf(struct mh *m, int inv, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* What the device publishes: informs and progress, seen by the checker. */
void sw_observe_publish(struct mh *m, const char *topic, const void *data, int len);
/* Request bytes the device sends; returns 1 once its header block is
 * complete (the Range is checked then), 0 before, -1 when it is too long. */
int sw_observe_request(struct mh *m, const char *buf, size_t len);
/* How many of len bytes one read gives the device: seeded, from the
 * response's position only, so the same in memory and over TCP. */
size_t sw_read_size(const struct mh *m, size_t len);
/* Response bytes the device has read (headers, then body). */
void sw_rx_account(struct mh *m, const char *buf, size_t n);
void sw_conn_reset(struct mh *m);

/* ---- sweep_net.c: the end-to-end host ---- */

/* Starts the cloud (a real Mosquitto, the civetweb firmware server, the
 * service) for the sweep, with the new image in its store. 0 or -1. */
int sw_net_cloud_start(struct mh *m, char *err, size_t n);
void sw_net_cloud_stop(struct mh *m);
/* Switches m's ops to the network host for device dn. */
int sw_net_attach(struct mh *m, const char *dn, char *err, size_t n);
/* Before a point: an upgrade job for the device (pushed at its next inform,
 * re-pushed after failures up to MAX_PUSHES). 0 or -1 with err. */
int sw_net_job(struct mh *m, char *err, size_t n);
/* After each boot: power is gone, so are the device's connections. */
void sw_net_boot_end(struct mh *m);
/* Worker plumbing: the cloud's ports for a forked worker. */
struct sw_net_addr { int mqtt_port, http_port, fw_id; char url[192]; };
void sw_net_addr(const struct mh *m, struct sw_net_addr *a);
int sw_net_attach_addr(struct mh *m, const struct sw_net_addr *a, const char *dn, char *err,
                       size_t n);
void sw_net_detach(struct mh *m);

#endif
