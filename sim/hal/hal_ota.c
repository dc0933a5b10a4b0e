/*
 * hal_ota.c - the OTA HAL dispatch (AliOS kernel/hal/ota.c): a registry of
 * port modules and the hal_ota_* calls the agent makes. Each call is
 * reported to the event log before it reaches the port (a port may reboot
 * inside ota_set_boot) and after it returns. Freestanding.
 */
#include <stddef.h>

#include "hal/ota.h"
#include "sim/flash/flashsim.h"
#include "sim/util/event.h"
#include "sim/util/phase.h"

static hal_ota_module_t *g_head;

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
