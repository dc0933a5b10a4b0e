/* aos/kernel.h - the AliOS kernel calls ports use. */
#ifndef AOS_KERNEL_H
#define AOS_KERNEL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Restarts the device. Never returns. */
void aos_reboot(void);
void aos_msleep(int ms);
long long aos_now_ms(void);
void *aos_malloc(unsigned int size);
void *aos_zalloc(unsigned int size);
void aos_free(void *mem);

#ifdef __cplusplus
}
#endif

#endif /* AOS_KERNEL_H */
