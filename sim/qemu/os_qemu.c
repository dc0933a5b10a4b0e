/*
 * os_qemu.c - the firmware's host services on QEMU (the otahil_fw_ops of
 * sim/fw/fw.h), so the same start-up and OS layer as the native firmware
 * object (sim/fw/fw_main.c: bootloader model, KV, HAL, agent, port) runs
 * on a Cortex-M3. The network is offloaded as on a device with an AT-command
 * Wi-Fi or cellular module: every socket, TLS, MQTT and CoAP call is a request
 * in the shared-memory mailbox (sim/qemu/qmbox.h), served by the harness's
 * relay, which holds the real connections. The flash is the file-backed region at
 * 0x21000000, the model's state beside it, so counters survive every boot.
 * The device waits on WFI: a doorbell interrupt or the 1 ms SysTick wakes it.
 * A reboot, a power cut, a crash or a bricked device ends the boot with a
 * semihosting exit whose status is the native device's exit code
 * (sim/device/dut.h); the harness starts the next boot.
 */
#include <stdio.h>
#include <string.h>

#include "ota_hal_os.h"
#include "sim/device/dut.h"
#include "sim/fw/fw.h"
#include "sim/qemu/qemu_fw.h"
#include "sim/qemu/qmbox.h"
#ifdef OTAHIL_QEMU_NIC
#include "sim/qemu/net/os_nic.h"
#endif

#define MBOX ((struct qmbox *)(QMBOX_REGION_ADDR + QMBOX_OFF))
#define MAX_SUBS 4

struct sub {
    char topic[128];
    otahil_fw_msg_cb cb;
    void *ctx;
};

static struct sub g_subs[MAX_SUBS];
static void (*g_on_connected)(void);
static int g_ending;

static inline void barrier(void) { __asm__ volatile("dmb" ::: "memory"); }

#ifdef OTAHIL_QEMU_QUIET
/* A firmware that uses none of the harness's hooks (a whole firmware tested
 * as a black box, docs/qemu.md "A firmware seen from outside"): no
 * heartbeat in the mailbox either. */
void qemu_tick(uint32_t ms) { (void)ms; }
#else
void qemu_tick(uint32_t ms) { MBOX->ticks = ms; }
#endif

/* One request: the caller has filled op, arg and req. Waits for the host. */
static int32_t call(uint32_t op)
{
    struct qmbox *m = MBOX;
    m->op = op;
    barrier();
    uint32_t seq = m->req_seq + 1;
    m->req_seq = seq;
    barrier();
    qemu_uart1_ring();
    while (m->rsp_seq != seq)
        qemu_wfi();
    barrier();
    return m->ret;
}

/* Appends strings to req (each with its NUL). */
static void put_strs(const char *const *s, int n)
{
    uint32_t len = 0;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(s[i] ? s[i] : "");
        if (len + l + 1 > QMBOX_BUF)
            l = QMBOX_BUF - len - 1;
        memcpy(MBOX->req + len, s[i] ? s[i] : "", l);
        MBOX->req[len + l] = 0;
        len += (uint32_t)l + 1;
    }
    MBOX->req_len = len;
}

#ifdef OTAHIL_QEMU_NIC
/* A firmware with its own IP stack reports on its console, as a whole
 * firmware tested as a black box can: "@ev\tSRC\tEVENT\tFIELDS" and
 * "@end\tCODE\tREASON" lines (docs/qemu.md, "Own IP stack"). */
static void console_parts(const char *const *s, int n)
{
    for (int i = 0; i < n; i++) {
        const char *p = s[i] ? s[i] : "";
        size_t l = strlen(p);
        /* FIELDS is JSON members, escaped: no tab or newline; a reason is
         * the firmware's own text, kept on one line */
        for (size_t k = 0; k < l; k++)
            if (p[k] == '\t' || p[k] == '\n' || p[k] == '\r') {
                qemu_uart0_write(p, k);
                qemu_uart0_write(" ", 1);
                p += k + 1;
                l -= k + 1;
                k = (size_t)-1;
            }
        qemu_uart0_write(p, l);
        qemu_uart0_write(i + 1 < n ? "\t" : "\n", 1);
    }
}
#endif

static void end_boot(int code, const char *reason) __attribute__((noreturn));
static void end_boot(int code, const char *reason)
{
#ifdef OTAHIL_QEMU_QUIET
    /* as a device without a debugger: a reboot, a crash (a watchdog) and a
     * power cut are a system reset (SYSRESETREQ), anything else a halt */
    (void)reason;
    g_ending = 1;
    if (code == DUT_EXIT_REBOOT || code == DUT_EXIT_CRASH || code == DUT_EXIT_CUT) {
        __asm__ volatile("dsb" ::: "memory");
        *(volatile uint32_t *)0xE000ED0Cu = 0x05FA0004u; /* AIRCR: VECTKEY | SYSRESETREQ */
        __asm__ volatile("dsb" ::: "memory");
    }
    for (;;)
        qemu_wfi();
#endif
#ifdef OTAHIL_QEMU_NIC
    if (!g_ending) {
        g_ending = 1;
        char c[16];
        snprintf(c, sizeof(c), "%d", code);
        const char *s[3] = { "@end", c, reason };
        console_parts(s, 3);
    }
    qemu_exit(code);
#endif
    if (!g_ending) {
        g_ending = 1;
        const char *s[1] = { reason };
        put_strs(s, 1);
        MBOX->arg[0] = code;
        (void)call(QMBOX_OP_END);
    }
    qemu_exit(code);
}

/* From a fault handler nothing preempts, so no doorbell could be answered:
 * say it on the console and stop. */
void qemu_crash(const char *why)
{
    static const char pfx[] = "otahil-fw: crash: ";
    g_ending = 1;
    qemu_uart0_write(pfx, sizeof(pfx) - 1);
    qemu_uart0_write(why, strlen(why));
    qemu_uart0_write("\n", 1);
#ifdef OTAHIL_QEMU_QUIET
    end_boot(DUT_EXIT_CRASH, why); /* a watchdog's reset */
#else
    qemu_exit(DUT_EXIT_CRASH);
#endif
}

/* ---- otahil_fw_ops ------------------------------------------------------ */

static void q_event(void *ctx, const char *src, const char *ev, const char *fields)
{
    (void)ctx;
#ifdef OTAHIL_QEMU_QUIET
    (void)src;
    (void)ev;
    (void)fields;
    return;
#endif
#ifdef OTAHIL_QEMU_NIC
    const char *l[4] = { "@ev", src, ev, fields };
    console_parts(l, 4);
    return;
#endif
    const char *s[3] = { src, ev, fields };
    put_strs(s, 3);
    (void)call(QMBOX_OP_EVENT);
}

static void q_reboot(void *ctx, const char *reason) __attribute__((noreturn));
static void q_reboot(void *ctx, const char *reason)
{
    (void)ctx;
    end_boot(DUT_EXIT_REBOOT, reason);
}

static void q_power_cut(void *ctx, const struct flashsim_op *op) __attribute__((noreturn));
static void q_power_cut(void *ctx, const struct flashsim_op *op)
{
    (void)ctx;
    char f[96];
    snprintf(f, sizeof(f), "\"where\":\"flash op %lu\"", (unsigned long)op->seq);
    q_event(NULL, "device", "device.power_cut", f);
    end_boot(DUT_EXIT_CUT, "power cut");
}

/* Takes one inbound record, if any, and hands it to the firmware. */
static int deliver(void)
{
    struct qmbox *m = MBOX;
    if (m->in_rd == m->in_wr)
        return 0;
    barrier();
    uint32_t rd = m->in_rd;
    struct qmbox_in_hdr h;
    if (rd + sizeof(h) > QMBOX_RING) {
        m->in_rd = 0;
        return 1;
    }
    memcpy(&h, m->ring + rd, sizeof(h));
    if (h.kind == QMBOX_IN_WRAP) {
        m->in_rd = 0;
        return 1;
    }
    char *topic = (char *)m->ring + rd + sizeof(h);
    char *payload = topic + h.topic_len + 1;
    uint32_t next = rd + (uint32_t)sizeof(h) + ((h.topic_len + 1 + h.payload_len + 1 + 3u) & ~3u);
    if (h.kind == QMBOX_IN_CONNECTED) {
        m->in_rd = next;
        if (g_on_connected)
            g_on_connected();
        return 1;
    }
    /* The firmware may keep nothing beyond the call: copy out, free the slot. */
    static char t[128], p[4096];
    uint32_t tl = h.topic_len < sizeof(t) - 1 ? h.topic_len : (uint32_t)sizeof(t) - 1;
    uint32_t pl = h.payload_len < sizeof(p) - 1 ? h.payload_len : (uint32_t)sizeof(p) - 1;
    memcpy(t, topic, tl);
    t[tl] = 0;
    memcpy(p, payload, pl);
    p[pl] = 0;
    barrier();
    m->in_rd = next;
    for (int i = 0; i < MAX_SUBS; i++)
        if (g_subs[i].cb && !strcmp(g_subs[i].topic, t)) {
            g_subs[i].cb(t, (int)tl, p, (int)pl, g_subs[i].ctx);
            break;
        }
    return 1;
}

static void q_idle(void *ctx)
{
    (void)ctx;
    for (;;)
        if (!deliver())
            qemu_wfi();
}

static int q_mqtt_init(void *ctx, const char *pk, const char *dn, const char *ds,
                       void (*on_connected)(void))
{
    (void)ctx;
    g_on_connected = on_connected;
    const char *s[3] = { pk, dn, ds };
    put_strs(s, 3);
    return call(QMBOX_OP_MQTT_INIT);
}

static int q_mqtt_publish(void *ctx, const char *topic, int qos, const void *data, int len)
{
    (void)ctx;
    size_t tl = strlen(topic);
    if (len < 0 || tl + 1 + (size_t)len > QMBOX_BUF)
        return -1;
    memcpy(MBOX->req, topic, tl + 1);
    memcpy(MBOX->req + tl + 1, data, (size_t)len);
    MBOX->req_len = (uint32_t)(tl + 1 + (size_t)len);
    MBOX->arg[0] = qos;
    MBOX->arg[1] = len;
    return call(QMBOX_OP_MQTT_PUB);
}

static int q_mqtt_subscribe(void *ctx, const char *topic, otahil_fw_msg_cb cb, void *cb_ctx)
{
    (void)ctx;
    struct sub *free_slot = NULL;
    for (int i = 0; i < MAX_SUBS; i++) {
        if (g_subs[i].cb && !strcmp(g_subs[i].topic, topic)) {
            free_slot = &g_subs[i];
            break;
        }
        if (!g_subs[i].cb && !free_slot)
            free_slot = &g_subs[i];
    }
    if (!free_slot || strlen(topic) >= sizeof(free_slot->topic))
        return -1;
    snprintf(free_slot->topic, sizeof(free_slot->topic), "%s", topic);
    free_slot->cb = cb;
    free_slot->ctx = cb_ctx;
    const char *s[1] = { topic };
    put_strs(s, 1);
    return call(QMBOX_OP_MQTT_SUB);
}

static int q_mqtt_deinit(void *ctx)
{
    (void)ctx;
    MBOX->req_len = 0;
    return call(QMBOX_OP_MQTT_DEINIT);
}

static int q_socket_connect(void *ctx, const char *host, int port)
{
    (void)ctx;
    const char *s[1] = { host };
    put_strs(s, 1);
    MBOX->arg[0] = port;
    return call(QMBOX_OP_SOCK_CONNECT);
}

static int q_socket_send(void *ctx, int fd, const char *buf, size_t len)
{
    (void)ctx;
    size_t done = 0;
    while (done < len) {
        size_t n = len - done < QMBOX_BUF ? len - done : QMBOX_BUF;
        memcpy(MBOX->req, buf + done, n);
        MBOX->req_len = (uint32_t)n;
        MBOX->arg[0] = fd;
        int32_t rc = call(QMBOX_OP_SOCK_SEND);
        if (rc < 0)
            return done ? (int)done : rc;
        done += (size_t)rc;
        if ((size_t)rc < n)
            break;
    }
    return (int)done;
}

/* Fills buf as the native layer does (spec §11): whole chunks, each waited for. */
static int q_socket_recv(void *ctx, int fd, char *buf, size_t len)
{
    (void)ctx;
    size_t done = 0;
    while (done < len) {
        size_t n = len - done < QMBOX_BUF ? len - done : QMBOX_BUF;
        MBOX->arg[0] = fd;
        MBOX->arg[1] = (int32_t)n;
        MBOX->req_len = 0;
        int32_t rc = call(QMBOX_OP_SOCK_RECV);
        if (rc <= 0 || (uint32_t)rc > n)
            return done ? (int)done : (rc > 0 ? -2 : rc);
        memcpy(buf + done, MBOX->rsp, (size_t)rc);
        done += (size_t)rc;
        if ((size_t)rc < n)
            break;
    }
    return (int)done;
}

static void q_socket_close(void *ctx, int fd)
{
    (void)ctx;
    MBOX->arg[0] = fd;
    MBOX->req_len = 0;
    (void)call(QMBOX_OP_SOCK_CLOSE);
}

/* ---- TLS, offloaded to the relay ---------------------------------------- */

static void *q_ssl_connect(void *ctx, const char *host, uint16_t port, const char *ca,
                           uint32_t ca_len)
{
    (void)ctx;
    struct qmbox *m = MBOX;
    size_t hl = strlen(host) + 1;
    if (!ca)
        ca_len = 0;
    if (hl + ca_len > QMBOX_BUF)
        return NULL;
    memcpy(m->req, host, hl);
    if (ca_len)
        memcpy(m->req + hl, ca, ca_len);
    m->req_len = (uint32_t)(hl + ca_len);
    m->arg[0] = port;
    m->arg[1] = (int32_t)ca_len;
    int32_t h = call(QMBOX_OP_SSL_CONNECT);
    return h > 0 ? (void *)(uintptr_t)h : NULL;
}

static int32_t q_ssl_send(void *ctx, void *ssl, const char *buf, uint32_t len)
{
    (void)ctx;
    uint32_t done = 0;
    while (done < len) {
        uint32_t n = len - done < QMBOX_BUF ? len - done : QMBOX_BUF;
        memcpy(MBOX->req, buf + done, n);
        MBOX->req_len = n;
        MBOX->arg[0] = (int32_t)(uintptr_t)ssl;
        int32_t rc = call(QMBOX_OP_SSL_SEND);
        if (rc <= 0)
            return done ? (int32_t)done : -1;
        done += (uint32_t)rc;
    }
    return (int32_t)done;
}

/* As HAL_SSL_Read: fills buf or waits OTA_SSL_TIMEOUT; what arrived, maybe 0. */
static int32_t q_ssl_recv(void *ctx, void *ssl, char *buf, uint32_t len)
{
    (void)ctx;
    uint32_t done = 0;
    while (done < len) {
        uint32_t n = len - done < QMBOX_BUF ? len - done : QMBOX_BUF;
        MBOX->arg[0] = (int32_t)(uintptr_t)ssl;
        MBOX->arg[1] = (int32_t)n;
        MBOX->req_len = 0;
        int32_t rc = call(QMBOX_OP_SSL_RECV);
        if (rc < 0)
            return done ? (int32_t)done : -1;
        if ((uint32_t)rc > n)
            return -1;
        memcpy(buf + done, MBOX->rsp, (size_t)rc);
        done += (uint32_t)rc;
        if ((uint32_t)rc < n)
            break;
    }
    return (int32_t)done;
}

/* ---- CoAP, offloaded to the relay ---------------------------------------- */

/* The response of the last exchange, as the relay read it: what the
 * firmware's callback gets as p_message, valid during the call. */
static struct q_coap_msg {
    struct qmbox_coap_rsp h;
    uint8_t payload[QMBOX_BUF];
} g_coap_rx;

/* A client (the relay's handle as the context), or NULL. */
static void *q_coap_init(void *p_config)
{
    const iotx_coap_config_t *cfg = p_config;
    if (!cfg || !cfg->p_url || !cfg->p_devinfo)
        return NULL;
    const iotx_deviceinfo_t *d = cfg->p_devinfo;
    const char *s[5] = { cfg->p_url, d->product_key, d->device_name, d->device_id,
                         d->device_secret };
    put_strs(s, 5);
    int32_t h = call(QMBOX_OP_COAP_INIT);
    return h > 0 ? (void *)(uintptr_t)h : NULL;
}

static int q_coap_auth(void *p_context)
{
    if (!p_context)
        return -1;
    MBOX->arg[0] = (int32_t)(uintptr_t)p_context;
    MBOX->req_len = 0;
    return call(QMBOX_OP_COAP_AUTH);
}

/* One exchange (a Block2 request when blk >= 0); the callback gets the
 * response, copied out of the mailbox first, before this returns. */
static int q_coap_exchange(void *p_context, const char *path, void *p_message, int32_t blk,
                           int num, unsigned int size)
{
    iotx_message_t *msg = p_message;
    struct qmbox *m = MBOX;
    size_t pl = path ? strlen(path) + 1 : 0;
    size_t dl = msg && msg->p_payload ? msg->payload_len : 0;
    if (!p_context || !path || pl + dl > QMBOX_BUF)
        return -1;
    memcpy(m->req, path, pl);
    if (dl)
        memcpy(m->req + pl, msg->p_payload, dl);
    m->req_len = (uint32_t)(pl + dl);
    m->arg[0] = (int32_t)(uintptr_t)p_context;
    m->arg[1] = blk;
    m->arg[2] = num;
    m->arg[3] = (int32_t)size;
    int32_t rc = call(QMBOX_OP_COAP_SEND);
    if (rc != 0 || m->rsp_len < sizeof(g_coap_rx.h))
        return rc;
    memcpy(&g_coap_rx.h, m->rsp, sizeof(g_coap_rx.h));
    uint32_t n = (uint32_t)g_coap_rx.h.payload_len;
    if (g_coap_rx.h.payload_len < 0 || n > m->rsp_len - sizeof(g_coap_rx.h))
        return -1;
    memcpy(g_coap_rx.payload, m->rsp + sizeof(g_coap_rx.h), n);
    if (msg && msg->resp_callback)
        msg->resp_callback(msg->user_data, &g_coap_rx);
    return 0;
}

static int q_coap_send(void *p_context, char *p_path, void *p_message)
{
    return q_coap_exchange(p_context, p_path, p_message, -1, 0, 0);
}

static int q_coap_send_block(void *p_context, char *p_path, void *p_message,
                             unsigned char block_type, int num, unsigned char more, unsigned int size)
{
    return q_coap_exchange(p_context, p_path, p_message,
                           (int32_t)block_type | (more ? 0x100 : 0), num, size);
}

/* The accessors read what the relay's client reported for the response. */
static int q_coap_parse_block(void *p_message, int type, unsigned int *num, unsigned int *more,
                              unsigned int *size)
{
    const struct q_coap_msg *m = p_message;
    if (!m || type != OTA_COAP_OPTION_BLOCK2 || m->h.block_rc < 0)
        return -1;
    *num = m->h.num;
    *more = m->h.more;
    *size = m->h.size;
    return m->h.block_rc;
}

static int q_coap_payload(void *p_message, unsigned char **pp_payload, int *p_len)
{
    struct q_coap_msg *m = p_message;
    if (!m)
        return -1;
    *pp_payload = m->payload;
    *p_len = m->h.payload_len;
    return 0;
}

static int q_coap_code(void *p_message, void *p_resp_code)
{
    const struct q_coap_msg *m = p_message;
    if (!m || !p_resp_code)
        return -1;
    *(iotx_coap_resp_code_t *)p_resp_code = (iotx_coap_resp_code_t)m->h.code;
    return 0;
}

static int q_coap_option(void *p_message, int number, unsigned char *buf, int *len)
{
    const struct q_coap_msg *m = p_message;
    const uint8_t *v = NULL;
    int n = -1;
    if (!m || !buf || !len)
        return -1;
    if (number == OTA_COAP_OPTION_ETAG) {
        v = m->h.etag;
        n = m->h.etag_len;
    } else if (number == OTA_COAP_OPTION_SIZE2) {
        v = m->h.size2;
        n = m->h.size2_len;
    }
    if (n < 0 || n > *len || n > 8)
        return -1;
    memcpy(buf, v, (size_t)n);
    *len = n;
    return 0;
}

static int q_coap_deinit(void **pp_context)
{
    if (!pp_context || !*pp_context)
        return 0;
    MBOX->arg[0] = (int32_t)(uintptr_t)*pp_context;
    MBOX->req_len = 0;
    (void)call(QMBOX_OP_COAP_DEINIT);
    *pp_context = NULL;
    return 0;
}

static const struct otahil_fw_coap g_coap_ops = {
    q_coap_init, q_coap_auth, q_coap_send, q_coap_send_block, q_coap_parse_block,
    q_coap_payload, q_coap_code, q_coap_option, q_coap_deinit,
};

/* A slow chip (cfg.flash_delay_us): every program and erase first waits
 * that long, to the SysTick's millisecond, as flashfile.c's op_delay_us
 * holds the native device's writing thread. */
static int q_flash_op(void *ctx, const struct flashsim_op *op, int before)
{
    (void)ctx;
    uint32_t us = MBOX->cfg.flash_delay_us;
    if (before && us && (op->kind == FLASHSIM_OP_PROGRAM || op->kind == FLASHSIM_OP_ERASE)) {
        uint32_t t0 = qemu_ms(), ms = (us + 999u) / 1000u;
        while (qemu_ms() - t0 < ms)
            qemu_wfi();
    }
    return 0;
}

/* One task: a thread runs at once, as on the other hosts without threads. */
static int q_thread_create(void *ctx, void *(*fn)(void *), void *arg, size_t stack)
{
    (void)ctx;
    (void)stack;
    fn(arg);
    return 0;
}

static void q_msleep(void *ctx, uint32_t ms)
{
    (void)ctx;
    uint32_t t0 = qemu_ms();
    while (qemu_ms() - t0 < ms)
        qemu_wfi();
}

static uint32_t q_uptime(void *ctx)
{
    (void)ctx;
    return qemu_ms();
}

/* ---- main ---------------------------------------------------------------- */

int main(void)
{
    static struct otahil_fw_config cfg;
    static struct otahil_fw_ops ops = {
        .event = q_event,
        .reboot = q_reboot,
        .power_cut = q_power_cut,
        .idle = q_idle,
        .mqtt_init = q_mqtt_init,
        .mqtt_publish = q_mqtt_publish,
        .mqtt_subscribe = q_mqtt_subscribe,
        .mqtt_deinit = q_mqtt_deinit,
        .socket_connect = q_socket_connect,
        .socket_send = q_socket_send,
        .socket_recv = q_socket_recv,
        .socket_close = q_socket_close,
        .thread_create = q_thread_create,
        .msleep = q_msleep,
        .uptime_ms = q_uptime,
        .flash_op = q_flash_op,
        .ssl_connect = q_ssl_connect,
        .ssl_send = q_ssl_send,
        .ssl_recv = q_ssl_recv,
        .coap = &g_coap_ops,
    };
    struct qmbox *m = MBOX;
    qemu_uart_init();
    if (m->magic != QMBOX_MAGIC || m->version != QMBOX_VERSION) {
        static const char msg[] = "otahil-fw: no mailbox at 0x21F00000 (start me through otahil)\n";
        qemu_uart0_write(msg, sizeof(msg) - 1);
        return DUT_EXIT_HARNESS;
    }
    const struct qmbox_cfg *q = &m->cfg;
    char line[160];
    int n = snprintf(line, sizeof(line), "otahil-fw: board %s, flash %lu KiB at 0x%08lx\n",
                     q->board, (unsigned long)(q->geom.size / 1024),
                     (unsigned long)QMBOX_REGION_ADDR);
    qemu_uart0_write(line, (size_t)n);
    cfg.abi = OTAHIL_FW_ABI;
    snprintf(cfg.board, sizeof(cfg.board), "%s", q->board);
    cfg.geom = q->geom;
    memcpy(cfg.parts, q->parts, sizeof(cfg.parts));
    cfg.nparts = q->nparts;
    for (int i = 0; i < OTAHIL_FW_MAX_KV && i < 4; i++)
        cfg.kv_parts[i] = q->kv_parts[i];
    cfg.nkv = q->nkv;
    cfg.pingpong = q->pingpong;
    cfg.boot_attempts = q->boot_attempts;
    cfg.flash_base = q->flash_base;
    cfg.flash_mem = (uint8_t *)QMBOX_REGION_ADDR;
    cfg.flash_state = (void *)(QMBOX_REGION_ADDR + q->state_off);
    cfg.fault = q->fault;
    cfg.pk = q->pk;
    cfg.dn = q->dn;
    cfg.ds = q->ds;
    cfg.reboot_delay_ms = q->reboot_delay_ms;
    cfg.resume = q->resume;
    cfg.checkpoint = q->checkpoint;
    if (q->ca_len > 1 && q->ca_len <= QMBOX_CA_MAX && q->ca[q->ca_len - 1] == '\0') {
        cfg.ca = q->ca;
        cfg.ca_len = q->ca_len;
    }
    if (q->coap_url[0] && memchr(q->coap_url, 0, sizeof(q->coap_url))) {
        ops.coap_url = q->coap_url; /* the CoAP signal channel, through the relay */
        ops.dl_coap = q->dl_coap;
    }
#ifdef OTAHIL_QEMU_NIC
    /* the network is the firmware's own: sockets and MQTT over its IP stack */
    if (qemu_nic_setup(&ops, q) != 0)
        end_boot(DUT_EXIT_HARNESS, "no network: the LAN9118 or the configuration");
#endif
    int end = qemu_stage_run(&cfg, &ops);
    switch (end) {
    case OTAHIL_FW_BRICKED: end_boot(DUT_EXIT_BRICKED, "bricked");
    case OTAHIL_FW_CRASHED: end_boot(DUT_EXIT_CRASH, "crashed");
    case OTAHIL_FW_IDLE: end_boot(DUT_EXIT_OFF, "idle");
    default: end_boot(DUT_EXIT_HARNESS, "bad configuration");
    }
}
