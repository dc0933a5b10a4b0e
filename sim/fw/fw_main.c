/*
 * fw_main.c - the firmware side of the native firmware ABI (fw.h): the
 * device's start-up code (flash driver over host memory, bootloader model,
 * KV mount, port registration, agent start) and the OS port layer
 * (ota_hal_os.h, aos_*, hal_reboot) forwarded to the host's services.
 * Built into every build/fw/PORT.so; only otahil_fw_boot is exported.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aos/kernel.h"
#include "aos/kv.h"
#include "aos/log.h"
#include "hal/ota.h"
#include "hal/soc/soc.h"
#include "ota_hal_os.h"
#include "sim/agent/agent.h"
#include "sim/boot/boot.h"
#include "sim/fw/fw.h"
#include "sim/hal/platform.h"
#include "sim/kv/kv.h"
#include "sim/util/event.h"

#ifndef OTAHIL_PORT_MODULE
#define OTAHIL_PORT_MODULE reference_ota_module
#endif
extern struct hal_ota_module_s OTAHIL_PORT_MODULE;

static const struct otahil_fw_ops *g_ops;
static const struct otahil_fw_config *g_cfg;
static struct flashsim g_fs;
static struct kv_store g_kv;
static struct otahil_platform g_plat;

/* ---- events, reboot, power ------------------------------------------- */

void otahil_event(const char *source, const char *event, const char *fields_fmt, ...)
{
    char fields[1024] = { 0 }; /* no residue of earlier calls in this frame */
    va_list ap;
    va_start(ap, fields_fmt);
    vsnprintf(fields, sizeof(fields), fields_fmt, ap);
    va_end(ap);
    if (g_ops && g_ops->event)
        g_ops->event(g_ops->ctx, source, event, fields);
}

void otahil_sync(void)
{
    if (g_ops && g_ops->sync)
        g_ops->sync(g_ops->ctx);
}

void otahil_platform_reboot(const char *reason)
{
    hal_ota_report_writes();
    otahil_event("device", "device.reboot", "\"reason\":\"%s\"", reason);
    g_ops->reboot(g_ops->ctx, reason);
}

void ota_reboot(void) { otahil_platform_reboot("ota_reboot"); }
void aos_reboot(void) { otahil_platform_reboot("aos_reboot"); }
void hal_reboot(void) { otahil_platform_reboot("hal_reboot"); }

static int flash_hook(void *ctx, const struct flashsim_op *op, int before)
{
    (void)ctx;
    int mode = g_ops->flash_op ? g_ops->flash_op(g_ops->ctx, op, before) : 0;
    if (before && op->seq && mode > FLASHSIM_F_NONE && mode < FLASHSIM_F_COUNT) {
        struct flashsim_fault f = g_cfg->fault;
        f.mode = (uint8_t)mode;
        f.at_seq = op->seq;
        flashsim_fault_arm(&g_fs, &f);
    }
    return 0;
}

static void flash_cut(void *ctx, const struct flashsim_op *op)
{
    (void)ctx;
    g_ops->power_cut(g_ops->ctx, op);
}

static int known_image(void *ctx, int part, struct image_info *info)
{
    (void)ctx;
    const struct flashsim_part *p = flashsim_part(&g_fs, part);
    if (!p || !g_ops->image_known)
        return 0;
    return g_ops->image_known(g_ops->ctx, g_cfg->flash_mem + p->start, p->length, info);
}

/* ---- start-up ---------------------------------------------------------- */

__attribute__((visibility("default"))) int otahil_fw_boot(const struct otahil_fw_config *cfg,
                                                          const struct otahil_fw_ops *ops);

/* The flash model over the host's memory, this boot's fault armed. */
static int fw_flash(const struct otahil_fw_config *cfg, const struct otahil_fw_ops *ops)
{
    if (!cfg || !ops || cfg->abi != OTAHIL_FW_ABI || !ops->reboot || !ops->power_cut)
        return OTAHIL_FW_HARNESS;
    g_ops = ops;
    g_cfg = cfg;
    if (flashsim_init(&g_fs, &cfg->geom, cfg->flash_mem, cfg->flash_state, 0) != 0)
        return OTAHIL_FW_HARNESS;
    for (int i = 0; i < cfg->nparts; i++)
        if (flashsim_add_part(&g_fs, &cfg->parts[i]) != 0)
            return OTAHIL_FW_HARNESS;
    g_fs.hook = flash_hook;
    g_fs.on_cut = flash_cut;
    if (cfg->fault.mode != FLASHSIM_F_NONE)
        flashsim_fault_arm(&g_fs, &cfg->fault);
    return OTAHIL_FW_IDLE;
}

static int fw_bootloader(const struct otahil_fw_config *cfg, struct boot_result *br)
{
    g_fs.meta->boots++;
    otahil_event("device", "boot.start", "\"boot\":%u,\"board\":\"%s\"", (unsigned)g_fs.meta->boots,
                 cfg->board);

    struct boot_cfg bc = { cfg->pingpong ? BOOT_PINGPONG : BOOT_COPY, cfg->boot_attempts,
                           cfg->flash_base, known_image, NULL };
    (void)boot_run(&g_fs, &bc, br); /* a cut never returns here */
    if (br->bricked) {
        otahil_event("boot", "boot.bricked", "\"why\":\"%s\"", br->why);
        return OTAHIL_FW_BRICKED;
    }
    return OTAHIL_FW_IDLE;
}

static int fw_application(const struct otahil_fw_config *cfg, const struct otahil_fw_ops *ops,
                          const struct boot_result *br)
{
    char vesc[2 * IMAGE_VERSION_LEN + 2];
    otahil_json_escape(vesc, sizeof(vesc), br->image.version);
    otahil_event("boot", "boot.image", "\"slot\":\"%s\",\"version\":\"%s\",\"flags\":%u",
                 br->slot == HAL_PARTITION_OTA_TEMP ? "OTA_TEMP" : "APPLICATION", vesc,
                 (unsigned)br->image.flags);

    g_plat.fs = &g_fs;
    g_plat.flash_base = cfg->flash_base;
    g_plat.pingpong = cfg->pingpong;
    otahil_platform_bind(&g_plat);
    int krc = kv_mount(&g_kv, &g_fs, cfg->kv_parts, cfg->nkv);
    if (krc != 0) {
        otahil_event("device", "kv.mount_failed", "\"rc\":%d", krc);
        return OTAHIL_FW_CRASHED;
    }
    g_plat.kv = &g_kv;
    if (br->image.flags & IMAGE_F_CRASH_AT_BOOT) {
        otahil_event("app", "app.crash", "\"version\":\"%s\"", vesc);
        return OTAHIL_FW_CRASHED;
    }
    hal_ota_register_module(&OTAHIL_PORT_MODULE);
    struct agent_cfg ac = { cfg->pk, cfg->dn, cfg->ds, br->image.version,
                            !(br->image.flags & IMAGE_F_NEVER_CONFIRM), cfg->reboot_delay_ms,
                            cfg->resume, cfg->checkpoint, cfg->ca_len > 1 ? cfg->ca : NULL,
                            cfg->ca_len > 1 ? cfg->ca_len : 0,
                            ops->coap ? ops->coap_url : NULL, ops->coap ? ops->dl_coap : 0 };
    otahil_event("app", "app.start", "\"version\":\"%s\",\"confirms\":%s", vesc,
                 ac.confirm ? "true" : "false");
    if (agent_start(&ac) != 0)
        return OTAHIL_FW_CRASHED;
    ops->idle(ops->ctx);
    return OTAHIL_FW_IDLE;
}

int otahil_fw_boot(const struct otahil_fw_config *cfg, const struct otahil_fw_ops *ops)
{
    struct boot_result br;
    int end = fw_flash(cfg, ops);
    if (end == OTAHIL_FW_IDLE)
        end = fw_bootloader(cfg, &br);
    return end == OTAHIL_FW_IDLE ? fw_application(cfg, ops, &br) : end;
}

int otahil_fw_boot_stage(const struct otahil_fw_config *cfg, const struct otahil_fw_ops *ops,
                         struct boot_result *br)
{
    int end = fw_flash(cfg, ops);
    return end == OTAHIL_FW_IDLE ? fw_bootloader(cfg, br) : end;
}

int otahil_fw_app_stage(const struct otahil_fw_config *cfg, const struct otahil_fw_ops *ops,
                        const struct boot_result *br)
{
    int end = fw_flash(cfg, ops);
    return end == OTAHIL_FW_IDLE ? fw_application(cfg, ops, br) : end;
}

/* ---- the OS port layer over the host ----------------------------------- */

void *ota_malloc(int size) { return size > 0 ? malloc((size_t)size) : NULL; }
void *ota_realloc(void *ptr, int size) { return realloc(ptr, size > 0 ? (size_t)size : 1); }
void *ota_calloc(int n, int size) { return (n > 0 && size > 0) ? calloc((size_t)n, (size_t)size) : NULL; }
void  ota_free(void *ptr) { free(ptr); }
void *aos_malloc(unsigned int size) { return malloc(size); }
void *aos_zalloc(unsigned int size) { return calloc(1, size); }
void  aos_free(void *mem) { free(mem); }

/* One task at a time runs device code here: locks have nothing to guard
 * against on a host without threads, and a threaded host serialises calls. */
static int g_lock_token;
void *ota_mutex_init(void) { return &g_lock_token; }
void ota_mutex_lock(void *mutex) { (void)mutex; }
void ota_mutex_unlock(void *mutex) { (void)mutex; }
void ota_mutex_destroy(void *mutex) { (void)mutex; }
void *ota_semaphore_init(void) { return &g_lock_token; }
int ota_semaphore_wait(void *sem, int timeout_ms) { (void)sem; (void)timeout_ms; return 0; }
void ota_semaphore_post(void *sem) { (void)sem; }
void ota_semaphore_destroy(void *sem) { (void)sem; }

int ota_thread_create(void **thread_handle, void *(*work_routine)(void *), void *arg,
                      hal_os_thread_param_t *param, int *stack_used)
{
    if (thread_handle)
        *thread_handle = NULL;
    if (stack_used)
        *stack_used = 0;
    size_t stack = param && param->stack_size > 0 ? (size_t)param->stack_size : 4096;
    return g_ops->thread_create(g_ops->ctx, work_routine, arg, stack);
}

void ota_thread_exit(void *thread) { (void)thread; }
void ota_msleep(uint32_t ms) { g_ops->msleep(g_ops->ctx, ms); }
void aos_msleep(int ms) { ota_msleep(ms > 0 ? (uint32_t)ms : 0); }

void *ota_timer_create(const char *name, void (*func)(void *), void *user_data)
{
    (void)name; (void)func; (void)user_data;
    return NULL; /* the reference agent uses no timers */
}

int ota_timer_start(void *t, int ms)
{
    (void)t; (void)ms;
    return -1;
}

int ota_kv_set(const char *key, const void *val, int len, int sync) { return aos_kv_set(key, val, len, sync); }
int ota_kv_get(const char *key, void *buffer, int *buffer_len) { return aos_kv_get(key, buffer, buffer_len); }
int ota_kv_del(const char *key) { return aos_kv_del(key); }
int ota_kv_erase_all(void) { return -1; }

static int copy_id(char *dst, size_t n, const char *src)
{
    size_t l = src ? strlen(src) : 0;
    if (l >= n)
        l = n - 1;
    memcpy(dst, src ? src : "", l);
    dst[l] = 0;
    return (int)l;
}

int ota_HAL_GetProductKey(char pk[PRODUCT_KEY_MAXLEN]) { return copy_id(pk, PRODUCT_KEY_MAXLEN, g_cfg->pk); }
int ota_HAL_GetProductSecret(char ps[PRODUCT_SECRET_MAXLEN]) { return copy_id(ps, PRODUCT_SECRET_MAXLEN, ""); }
int ota_HAL_GetDeviceName(char dn[DEVICE_NAME_MAXLEN]) { return copy_id(dn, DEVICE_NAME_MAXLEN, g_cfg->dn); }
int ota_HAL_GetDeviceSecret(char ds[DEVICE_SECRET_MAXLEN]) { return copy_id(ds, DEVICE_SECRET_MAXLEN, g_cfg->ds); }

int ota_socket_connect(char *host, int port) { return g_ops->socket_connect(g_ops->ctx, host, port); }
int ota_socket_send(int fd, char *buf, size_t len) { return g_ops->socket_send(g_ops->ctx, fd, buf, len); }
int ota_socket_recv(int fd, char *buf, size_t len) { return g_ops->socket_recv(g_ops->ctx, fd, buf, len); }
void ota_socket_close(int fd) { g_ops->socket_close(g_ops->ctx, fd); }

/* TLS belongs to a host that offers it (ops->ssl_*: the QEMU target's relay,
 * as an AT-command module); without one, https:// downloads fail. */
void *ota_ssl_connect(const char *host, uint16_t port, const char *ca_crt, uint32_t ca_crt_len)
{
    return g_ops->ssl_connect ? g_ops->ssl_connect(g_ops->ctx, host, port, ca_crt, ca_crt_len) : NULL;
}

int32_t ota_ssl_send(void *ssl, char *buf, uint32_t len)
{
    return g_ops->ssl_send && ssl ? g_ops->ssl_send(g_ops->ctx, ssl, buf, len) : -1;
}

int32_t ota_ssl_recv(void *ssl, char *buf, uint32_t len)
{
    return g_ops->ssl_recv && ssl ? g_ops->ssl_recv(g_ops->ctx, ssl, buf, len) : -1;
}

int ota_hal_mqtt_init_instance(char *productKey, char *deviceName, char *deviceSecret,
                               int maxMsgSize)
{
    (void)maxMsgSize;
    return g_ops->mqtt_init(g_ops->ctx, productKey, deviceName, deviceSecret, agent_on_connected);
}

int ota_hal_mqtt_publish(char *topic, int qos, void *data, int len)
{
    return g_ops->mqtt_publish(g_ops->ctx, topic, qos, data, len);
}

int ota_hal_mqtt_subscribe(char *topic,
                           void (*cb)(char *topic, int topic_len, void *payload, int payload_len,
                                      void *ctx),
                           void *ctx)
{
    return g_ops->mqtt_subscribe(g_ops->ctx, topic, cb, ctx);
}

int ota_hal_mqtt_deinit_instance(void) { return g_ops->mqtt_deinit(g_ops->ctx); }

/* CoAP: the host's client, when it has one. */
#define FW_COAP(call, fail) (g_ops->coap ? g_ops->coap->call : (fail))
void *ota_IOT_CoAP_Init(void *p_config) { return FW_COAP(init(p_config), NULL); }
int ota_IOT_CoAP_DeviceNameAuth(void *p_context) { return FW_COAP(auth(p_context), -1); }
int ota_IOT_CoAP_SendMessage(void *p_context, char *p_path, void *p_message)
{
    return FW_COAP(send(p_context, p_path, p_message), -1);
}
int ota_IOT_CoAP_SendMessage_block(void *p_context, char *p_path, void *p_message,
                                   unsigned char block_type, int num, unsigned char more,
                                   unsigned int size)
{
    return FW_COAP(send_block(p_context, p_path, p_message, block_type, num, more, size), -1);
}
int ota_IOT_CoAP_ParseOption_block(void *p_message, int type, unsigned int *num,
                                   unsigned int *more, unsigned int *size)
{
    return FW_COAP(parse_block(p_message, type, num, more, size), -1);
}
int ota_IOT_CoAP_GetMessagePayload(void *p_message, unsigned char **pp_payload, int *p_len)
{
    return FW_COAP(payload(p_message, pp_payload, p_len), -1);
}
int ota_IOT_CoAP_GetMessageCode(void *p_message, void *p_resp_code)
{
    return FW_COAP(code(p_message, p_resp_code), -1);
}
int ota_IOT_CoAP_GetMessageOption(void *p_message, int number, unsigned char *buf, int *len)
{
    return FW_COAP(option(p_message, number, buf, len), -1);
}
int ota_IOT_CoAP_Deinit(void **pp_context) { return FW_COAP(deinit(pp_context), -1); }
#undef FW_COAP

void otahil_port_log(const char *tag, const char *fmt, ...)
{
    char msg[512], esc[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    otahil_json_escape(esc, sizeof(esc), msg);
    otahil_event("port", "port.log", "\"tag\":\"%s\",\"msg\":\"%s\"", tag ? tag : "", esc);
}
