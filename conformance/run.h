/* run.h - running one case end to end: cloud, device, checks, verdict. */
#ifndef OTAHIL_RUN_H
#define OTAHIL_RUN_H

#include <stdint.h>

struct fault_plan;

enum verdict { V_PASS = 0, V_FAIL = 1, V_ERROR = 2, V_SKIP = 3 };

struct shared_cloud;

struct run_opts {
    const char *board;           /* name or path */
    const char *out;             /* output directory (created) */
    uint64_t    seed;
    uint32_t    throttle_bps;    /* firmware server rate limit (0 = off) */
    long        reboot_delay_ms; /* agent's pause before rebooting */
    int         timeout_s;       /* no verdict by then: FAIL */
    int         quiet;
    const struct fault_plan *plan; /* faults the cloud injects (plan.h), or NULL; its
                                    * [plan] retries go to the case's job */
    const char *port;            /* device under test: NULL or "reference" (otahil-dut), a
                                  * known-bad variant NAME (build/dut/NAME, from
                                  * fixtures/ports/NAME.patch) or a path to a device binary;
                                  * on QEMU a path is a boot chain's bootloader program
                                  * DIR/NAME-boot.elf, with DIR/NAME-app-v1.bin and -v2.bin
                                  * beside it (portbuild_qemu) */
    int         until_fault;     /* stop the run (power off, no verdict: V_SKIP with the
                                  * reason) as soon as the first fault fires, leaving the
                                  * flash and the event log as they were then */
    int         mqtt_port;       /* the cloud's MQTT and HTTP ports on 127.0.0.1 (0: free ones); */
    int         http_port;       /* a port in use is the harness's ERROR, not the port's FAIL */
    const char *target;          /* where the boots run: NULL or "native" (otahil-dut
                                  * processes) or "qemu" (the firmware in qemu-system-arm,
                                  * each boot an otahil-qemu process; docs/qemu.md) */
    const char *cut;             /* --target qemu: a power cut "SEQ[:MODE]" at flash op SEQ
                                  * of the flash file's life, MODE before (default), after,
                                  * torn or erase (flashsim.h); the boot it ends counts as a
                                  * reboot. NULL: none */
    int         nic;             /* --target qemu --net user: the firmware brings its own IP
                                  * stack on the board's LAN9118 (QEMU -nic user) and reaches
                                  * the cloud at 10.0.2.2; MQTT and HTTP only (docs/qemu.md) */
    /* A whole firmware (--target qemu --net user, `otahil run` only; docs/qemu.md "A whole
     * firmware"): its ELF booted as it is, the chip's first bytes from flash_image (NULL:
     * erased), the cloud serving image as version image_version; judged from outside. */
    const char *firmware;
    const char *flash_image;
    const char *image;
    const char *image_version;
    /* The certification's one cloud (cloudref.h): the run's device joins it
     * as a tenant unless its plan's fault is the cloud itself. NULL: the run
     * starts a cloud of its own. */
    const struct shared_cloud *cloud;
    const char *dn;              /* the device's name; NULL: OTAHIL_DEFAULT_DN (runs sharing a
                                  * cloud need one each) */
};

/* Why a plan cannot run with the firmware's own IP stack (run_opts.nic), or
 * NULL when it can: that firmware has no TLS and no CoAP. */
struct fault_plan;
const char *run_nic_refusal(const struct fault_plan *p);

#define RUN_CHECKS_MAX 16

struct run_check {
    char         id[32];
    enum verdict verdict;
    char         detail[400];
};

struct run_result {
    enum verdict verdict;
    char   reason[512];
    char   events[4200];         /* event log path */
    char   cloud[160];           /* "shared", or "own" with why when a shared one was there */
    int    black_box;            /* the firmware reported no events of its own: judged from
                                  * outside (the cloud, the harness, the flash) */
    double seconds;
    struct run_check checks[RUN_CHECKS_MAX]; /* the conformance checks (checks.h) */
    int    nchecks;
};

/* Known case names, NULL-terminated. */
extern const char *const run_case_names[];
/* One-line description of a case, or NULL when unknown. */
const char *run_case_title(const char *name);

/* 1 if target names the QEMU target, 0 for NULL or "native", -1 otherwise. */
int run_target_qemu(const char *target);

/* Runs the case. Returns the verdict (also in res). */
enum verdict run_case(const char *name, const struct run_opts *o, struct run_result *res);

const char *verdict_name(enum verdict v);

#endif
