/*
 * fw.h - the native firmware ABI: everything that runs on the device (the
 * bootloader model, the KV store, the HAL, the reference agent and the
 * vendor's port) is built into one shared object per port, build/fw/PORT.so,
 * with a single entry point, otahil_fw_boot(). The host that loads it owns
 * the flash storage, the clock, the network and the event log, and reaches
 * the firmware only through this ABI:
 *
 *   host                                   firmware (PORT.so)
 *   ----                                   ------------------
 *   flash bytes + model state  ---cfg-->   flashsim over host memory
 *   fault plan for this boot   ---cfg-->   flashsim_fault_arm()
 *   event(), flash_op()        <--ops---   otahil_event(), every flash op
 *   reboot(), power_cut()      <--ops---   hal_reboot(), a cut op (never return)
 *   mqtt_*, socket_*, coap ... <--ops---   the OS port layer (ota_hal_os.h)
 *   idle()                     <--ops---   the device waits for messages
 *
 * A boot ends by returning (bricked, crashed, idle with nothing left to do,
 * harness error) or through reboot()/power_cut(), which the host implements
 * with longjmp or _exit. Because the firmware's whole RAM is the shared
 * object's data and bss, a host may "reboot" in-process by restoring those
 * segments to their load-time contents (conformance/fwhost.c), which is how
 * power-cut sweeps run thousands of boots per second.
 */
#ifndef OTAHIL_FW_H
#define OTAHIL_FW_H

#include <stddef.h>
#include <stdint.h>
#include "sim/flash/flashsim.h"
#include "sim/image/image.h"

#define OTAHIL_FW_ABI 4
#define OTAHIL_FW_ENTRY "otahil_fw_boot"
#define OTAHIL_FW_MAX_KV 4

/* What one boot is given. Strings are NUL-terminated and owned by the host. */
struct otahil_fw_config {
    int      abi;                       /* OTAHIL_FW_ABI */
    /* board */
    char     board[32];
    struct flashsim_geom geom;
    struct flashsim_part parts[FLASHSIM_MAX_PARTS];
    int      nparts;
    int      kv_parts[OTAHIL_FW_MAX_KV];
    int      nkv;
    int      pingpong;                  /* bootloader kind: 0 copy, 1 pingpong */
    uint32_t boot_attempts;
    uint32_t flash_base;
    /* persistent storage, owned by the host */
    uint8_t *flash_mem;                 /* geom.size bytes */
    void    *flash_state;               /* flashsim_state_size(&geom) bytes, aligned */
    struct flashsim_fault fault;        /* armed at the start of this boot (mode NONE: none) */
    /* device identity and agent settings */
    const char *pk, *dn, *ds;
    uint32_t reboot_delay_ms;
    int      resume;
    uint32_t checkpoint;
    const char *ca;                     /* the CA compiled into the device (PEM, NUL-terminated)
                                         * that https:// downloads must chain to; NULL: none */
    uint32_t ca_len;                    /* strlen(ca) + 1, as ota_ssl_connect takes it; 0: none */
};

typedef void (*otahil_fw_msg_cb)(char *topic, int topic_len, void *payload, int payload_len,
                                 void *ctx);

/* The CoAP client calls of ota_hal_os.h (spec §11), as a host provides
 * them (the native host: sim/posix/os_posix.c's own). The firmware's
 * ota_IOT_CoAP_* forward to these. */
struct otahil_fw_coap {
    void *(*init)(void *p_config);
    int   (*auth)(void *p_context);
    int   (*send)(void *p_context, char *p_path, void *p_message);
    int   (*send_block)(void *p_context, char *p_path, void *p_message, unsigned char block_type,
                        int num, unsigned char more, unsigned int size);
    int   (*parse_block)(void *p_message, int type, unsigned int *num, unsigned int *more,
                         unsigned int *size);
    int   (*payload)(void *p_message, unsigned char **pp_payload, int *p_len);
    int   (*code)(void *p_message, void *p_resp_code);
    int   (*option)(void *p_message, int number, unsigned char *buf, int *len);
    int   (*deinit)(void **pp_context);
};

/* The host's services. ctx is the host's own pointer, passed back. */
struct otahil_fw_ops {
    void *ctx;
    void (*event)(void *ctx, const char *src, const char *ev, const char *fields);
    /* Every numbered flash op and every read, before (1) and after (0).
     * For a "before" call, a non-zero enum flashsim_fault_mode applies that
     * fault to this very op (a host deciding cut points on the fly). */
    int  (*flash_op)(void *ctx, const struct flashsim_op *op, int before);
    void (*reboot)(void *ctx, const char *reason) __attribute__((noreturn));
    void (*power_cut)(void *ctx, const struct flashsim_op *op) __attribute__((noreturn));
    /* The device has nothing to do: wait for messages. Returning ends the boot. */
    void (*idle)(void *ctx);
    /* MQTT: on_connected is called by the host after each (re)connect. */
    int  (*mqtt_init)(void *ctx, const char *pk, const char *dn, const char *ds,
                      void (*on_connected)(void));
    int  (*mqtt_publish)(void *ctx, const char *topic, int qos, const void *data, int len);
    int  (*mqtt_subscribe)(void *ctx, const char *topic, otahil_fw_msg_cb cb, void *cb_ctx);
    int  (*mqtt_deinit)(void *ctx);
    /* TCP (fd > 0) and TLS. */
    int  (*socket_connect)(void *ctx, const char *host, int port);
    int  (*socket_send)(void *ctx, int fd, const char *buf, size_t len);
    int  (*socket_recv)(void *ctx, int fd, char *buf, size_t len);
    void (*socket_close)(void *ctx, int fd);
    /* Threads and time: a host without threads runs fn at once. */
    int  (*thread_create)(void *ctx, void *(*fn)(void *), void *arg, size_t stack);
    void (*msleep)(void *ctx, uint32_t ms);
    uint32_t (*uptime_ms)(void *ctx);
    /* Optional: 1 and *info when the bytes at mem (a whole slot) begin with
     * an image the host knows to be valid, sparing the bootloader model a
     * full verification; 0 to verify. */
    int  (*image_known)(void *ctx, const uint8_t *mem, uint32_t len, struct image_info *info);
    /* Optional: the device is at a quiescent point (otahil_sync()). */
    void (*sync)(void *ctx);
    /* Optional: a CoAP client; NULL: the CoAP calls fail (no CoAP stack). */
    const struct otahil_fw_coap *coap;
    /* With coap: the agent's CoAP settings (agent_cfg.coap_url, .dl_coap). */
    const char *coap_url;
    int         dl_coap;
    /* Optional: TLS offloaded to the host, as an AT-command module does
     * (ota_ssl_*): a handle or NULL; bytes sent or -1; bytes read (fills len
     * or waits OTA_SSL_TIMEOUT, maybe 0) or -1. NULL: ota_ssl_connect fails. */
    void   *(*ssl_connect)(void *ctx, const char *host, uint16_t port, const char *ca,
                           uint32_t ca_len);
    int32_t (*ssl_send)(void *ctx, void *ssl, const char *buf, uint32_t len);
    int32_t (*ssl_recv)(void *ctx, void *ssl, char *buf, uint32_t len);
};

/* How a boot ended when it returns. */
enum otahil_fw_end {
    OTAHIL_FW_IDLE = 0,     /* idle() returned: the device is up with nothing to do */
    OTAHIL_FW_BRICKED = 1,  /* the bootloader found no valid image */
    OTAHIL_FW_CRASHED = 2,  /* the booted image crashed (its flags say so) */
    OTAHIL_FW_HARNESS = 3,  /* bad configuration */
};

/* The two halves of otahil_fw_boot, for firmware that runs them as separate
 * programs (the QEMU target's boot chain, docs/qemu.md; not exported by
 * PORT.so). The boot stage: the flash model, the boot counter, boot.start and
 * the bootloader model; OTAHIL_FW_IDLE and *br the slot to run, or how the
 * boot ended. The application stage: the flash model again (the same
 * memory and state), then boot.image, the KV mount, the image's behaviour
 * and the agent, as the second half of otahil_fw_boot. */
struct boot_result;
int otahil_fw_boot_stage(const struct otahil_fw_config *cfg, const struct otahil_fw_ops *ops,
                         struct boot_result *br);
int otahil_fw_app_stage(const struct otahil_fw_config *cfg, const struct otahil_fw_ops *ops,
                        const struct boot_result *br);

typedef int (*otahil_fw_boot_fn)(const struct otahil_fw_config *cfg, const struct otahil_fw_ops *ops);

#endif
