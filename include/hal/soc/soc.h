/*
 * hal/soc/soc.h - what AliOS ports include to reach the SoC HAL: the flash
 * HAL and the reboot call.
 */
#ifndef HAL_SOC_SOC_H
#define HAL_SOC_SOC_H

#include <stdint.h>
#include "../base.h"
#include "flash.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Restarts the device. Never returns. */
void hal_reboot(void);

#ifdef __cplusplus
}
#endif

#endif /* HAL_SOC_SOC_H */
