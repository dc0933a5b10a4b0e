/* hal/hal.h - umbrella header some ports include. */
#ifndef HAL_HAL_H
#define HAL_HAL_H
#include "base.h"
#include "ota.h"
#include "soc/soc.h"
#endif
