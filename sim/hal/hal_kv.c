/*
 * hal_kv.c - aos_kv_* (aos/kv.h) over the platform's log-structured KV store.
 * Freestanding.
 */
#include <stddef.h>

#include "aos/kv.h"
#include "sim/hal/platform.h"
#include "sim/util/phase.h"

int aos_kv_set(const char *key, const void *value, int len, int sync)
{
    (void)sync; /* every set is synchronous */
    struct otahil_platform *p = otahil_platform_get();
    if (!p || !p->kv)
        return -1;
    unsigned prev = otahil_phase_enter_weak(FLASHSIM_PH_KV);
    int rc = kv_set(p->kv, key, value, len);
    otahil_phase_leave(prev);
    return rc;
}

int aos_kv_get(const char *key, void *buffer, int *buffer_len)
{
    struct otahil_platform *p = otahil_platform_get();
    if (!p || !p->kv || !buffer_len)
        return -1;
    return kv_get(p->kv, key, buffer, buffer_len);
}

int aos_kv_del(const char *key)
{
    struct otahil_platform *p = otahil_platform_get();
    if (!p || !p->kv)
        return -1;
    unsigned prev = otahil_phase_enter_weak(FLASHSIM_PH_KV);
    int rc = kv_del(p->kv, key);
    otahil_phase_leave(prev);
    return rc;
}
