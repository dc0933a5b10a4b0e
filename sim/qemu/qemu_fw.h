/*
 * qemu_fw.h - the pieces of the QEMU firmware (sim/qemu) that call each
 * other: start-up (startup.c), the CMSDK UART driver (uart.c) and the OS
 * layer over the mailbox (os_qemu.c). Guest only.
 */
#ifndef OTAHIL_QEMU_FW_H
#define OTAHIL_QEMU_FW_H

#include <stddef.h>
#include <stdint.h>

/* startup.c */
uint32_t qemu_ms(void);                          /* ms since reset (SysTick) */
void qemu_wfi(void);                             /* sleeps until the next interrupt */
void qemu_exit(int code) __attribute__((noreturn)); /* semihosting exit: QEMU's status */
void qemu_eth_irq(void);                         /* IRQ 13: net/lan9118.c's, else the default */

/* uart.c: UART0 is the console, UART1 the mailbox doorbell. */
void qemu_uart_init(void);
void qemu_uart0_write(const char *buf, size_t len);
void qemu_uart1_ring(void);                      /* one doorbell byte to the host */
void qemu_uart1_rx_irq(void);                    /* doorbell from the host */

/* stage/one.c, stage/boot.c or stage/app.c: what the program does once
 * os_qemu.c has the boot's configuration and the host services. */
struct otahil_fw_config;
struct otahil_fw_ops;
int qemu_stage_run(const struct otahil_fw_config *cfg, const struct otahil_fw_ops *ops);

/* os_qemu.c */
void qemu_tick(uint32_t ms);                     /* from SysTick, every ms */
void qemu_crash(const char *why) __attribute__((noreturn)); /* a fault: the boot ends */

#endif
