/* aos/aos.h - the AliOS umbrella header. */
#ifndef AOS_AOS_H
#define AOS_AOS_H
#include "kernel.h"
#include "kv.h"
#include "log.h"
#endif
