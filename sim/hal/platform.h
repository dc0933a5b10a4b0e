/*
 * platform.h - what the device-side HAL (hal_flash_*, aos_kv_*, hal_ota_*,
 * reboot) is bound to: the flash model, the partition table and the KV
 * store. Freestanding; one platform per device process (or firmware image).
 */
#ifndef OTAHIL_PLATFORM_H
#define OTAHIL_PLATFORM_H

#include <stdint.h>
#include "hal/soc/flash.h"
#include "sim/flash/flashsim.h"
#include "sim/kv/kv.h"

struct otahil_platform {
    struct flashsim *fs;
    struct kv_store *kv;                 /* NULL until mounted */
    uint32_t flash_base;                 /* address of chip offset 0 */
    int pingpong;                        /* bootloader kind, for board_info.h */
    hal_logic_partition_t part[HAL_PARTITION_MAX];
    uint8_t present[HAL_PARTITION_MAX];
};

/* Binds the HAL to p (kept by pointer) and fills p->part from p->fs's
 * partition table. */
void otahil_platform_bind(struct otahil_platform *p);
struct otahil_platform *otahil_platform_get(void);

/* Provided by each platform (native device, firmware): ends this boot.
 * reason is logged. Never returns. */
void otahil_platform_reboot(const char *reason) __attribute__((noreturn));

/* Reports the writes the port was given that are not reported yet
 * ("port.written", sim/hal/hal_ota.c). Platforms call it before a reboot. */
void hal_ota_report_writes(void);

#endif
