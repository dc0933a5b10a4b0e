/*
 * hal_ota.c - the OTA HAL dispatch (AliOS kernel/hal/ota.c): a registry of
 * port modules and the hal_ota_* calls the agent makes. Each call is
 * reported to the event log before it reaches the port (a port may reboot
 * inside ota_set_boot) and after it returns. Freestanding.
 *
 * What the port is given to write is reported too, so that the harness can
 * tell whether every byte that reached ota_write was the firmware file's
 * byte at that offset (an error body, chunk framing or a whole file after a
 * Range request is not): each contiguous run of writes is summed with
 * CRC-32 and reported as "port.written" {"from","bytes","crc32"} before
 * set_boot reaches the port, when a new download starts (hal_ota_init),
 * before a reboot (hal_ota_report_writes), and when the offset the caller
 * passes jumps. A run starts at the breakpoint hal_ota_init was given. The
 * run's state is reset after each report, so two devices that reach the same
 * point by different paths (a resume, or none) hold the same RAM there.
 */
#include <stddef.h>

#include "hal/ota.h"
#include "sim/flash/flashsim.h"
#include "sim/hal/platform.h"
#include "sim/kv/kv.h"
#include "sim/util/event.h"
#include "sim/util/phase.h"

static hal_ota_module_t *g_head;

/* The run of writes not yet reported. */
static struct {
    uint32_t from;   /* stream offset of its first byte */
    uint32_t bytes;
    uint32_t crc;    /* running CRC-32 register */
    int      open;   /* hal_ota_init started a download */
} g_run;

void hal_ota_report_writes(void)
{
    if (g_run.open && g_run.bytes)
        otahil_event("port", "port.written", "\"from\":%lu,\"bytes\":%lu,\"crc32\":\"%08lx\"",
                     (unsigned long)g_run.from, (unsigned long)g_run.bytes,
                     (unsigned long)(g_run.crc ^ 0xFFFFFFFFu));
    g_run.from += g_run.bytes;
    g_run.bytes = 0;
    g_run.crc = 0xFFFFFFFFu;
}

void hal_ota_register_module(hal_ota_module_t *module)
{
    if (!module)
        return;
    module->base.list.next = NULL;
    module->base.list.prev = NULL;
    if (!g_head) {
        g_head = module;
        return;
    }
    hal_ota_module_t *m = g_head;
    while (m->base.list.next) {
        if (m == module)
            return;
        m = (hal_ota_module_t *)(void *)m->base.list.next;
    }
    if (m == module)
        return;
    m->base.list.next = &module->base.list;
    module->base.list.prev = &m->base.list;
}

hal_ota_module_t *hal_ota_get_default_module(void)
{
    return g_head;
}

static hal_ota_module_t *pick(hal_ota_module_t *m)
{
    return m ? m : g_head;
}

hal_stat_t hal_ota_init(void *something)
{
    hal_ota_module_t *m = g_head;
    uint32_t off = something ? *(uint32_t *)something : 0;
    hal_ota_report_writes();
    g_run.open = 1;
    g_run.from = off;
    otahil_event("port", "port.init", "\"breakpoint\":%lu", (unsigned long)off);
    if (!m || !m->init)
        return -1;
    unsigned prev = otahil_phase_enter(FLASHSIM_PH_INIT_ERASE);
    int rc = m->init(m, something);
    otahil_phase_leave(prev);
    otahil_event("port", "port.init.ret", "\"rc\":%d", rc);
    return rc;
}

hal_stat_t hal_ota_write(hal_ota_module_t *m, volatile uint32_t *off_set,
                         uint8_t *in_buf, uint32_t in_buf_len)
{
    m = pick(m);
    if (!m || !m->ota_write)
        return -1;
    if (off_set && g_run.open && *off_set != g_run.from + g_run.bytes) {
        hal_ota_report_writes();
        g_run.from = *off_set;
    }
    if (in_buf && g_run.open) {
        g_run.crc = kv_crc32_update(g_run.crc, in_buf, in_buf_len);
        g_run.bytes += in_buf_len;
    }
    unsigned prev = otahil_phase_enter(FLASHSIM_PH_DOWNLOAD);
    int rc = m->ota_write(m, off_set, in_buf, in_buf_len);
    otahil_phase_leave(prev);
    return rc;
}

hal_stat_t hal_ota_read(hal_ota_module_t *m, volatile uint32_t *off_set,
                        uint8_t *out_buf, uint32_t out_buf_len)
{
    m = pick(m);
    if (!m || !m->ota_read)
        return -1;
    return m->ota_read(m, off_set, out_buf, out_buf_len);
}

hal_stat_t hal_ota_set_boot(hal_ota_module_t *m, void *something)
{
    m = pick(m);
    const ota_finish_param_t *p = something;
    hal_ota_report_writes();
    const char *rt = !p ? "null" : p->result_type == OTA_FINISH ? "FINISH"
                   : p->result_type == OTA_BREAKPOINT ? "BREAKPOINT" : "other";
    otahil_event("port", "port.set_boot", "\"result_type\":\"%s\",\"update_type\":%d", rt,
                 p ? (int)p->update_type : -1);
    if (!m || !m->ota_set_boot)
        return -1;
    unsigned prev = otahil_phase_enter(p && p->result_type == OTA_BREAKPOINT ? FLASHSIM_PH_BREAKPOINT
                                                                           : FLASHSIM_PH_BOOT_RECORD);
    int rc = m->ota_set_boot(m, something);
    otahil_phase_leave(prev);
    otahil_event("port", "port.set_boot.ret", "\"rc\":%d", rc);
    return rc;
}

hal_stat_t hal_ota_rollback(hal_ota_module_t *m, void *something)
{
    m = pick(m);
    if (!m || !m->ota_rollback) {
        otahil_event("port", "port.rollback", "\"present\":false");
        return 0;
    }
    unsigned prev = otahil_phase_enter(FLASHSIM_PH_CONFIRM);
    int rc = m->ota_rollback(m, something);
    otahil_phase_leave(prev);
    otahil_event("port", "port.rollback", "\"present\":true,\"rc\":%d", rc);
    return rc;
}
