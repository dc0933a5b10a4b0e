/*
 * uart.c - the CMSDK APB UARTs of mps2-an385. UART0 (0x40004000) is the
 * console the harness captures into the event log; UART1 (0x40005000)
 * carries only doorbell bytes of the mailbox, both ways (docs/qemu.md):
 * host-to-guest bytes are slow on QEMU's UART, so data never goes this way.
 * BAUDDIV must be at least 16 or QEMU never delivers received bytes.
 */
#include "sim/qemu/qemu_fw.h"

struct cmsdk_uart {
    volatile uint32_t data;      /* 0x00 */
    volatile uint32_t state;     /* 0x04: bit 0 TX full, bit 1 RX full */
    volatile uint32_t ctrl;      /* 0x08: bit 0 TX en, 1 RX en, 2 TX int, 3 RX int */
    volatile uint32_t intstatus; /* 0x0C: write 1 to clear; bit 1 RX */
    volatile uint32_t bauddiv;   /* 0x10 */
};

#define UART0 ((struct cmsdk_uart *)0x40004000u)
#define UART1 ((struct cmsdk_uart *)0x40005000u)
#define NVIC_ISER0 (*(volatile uint32_t *)0xE000E100u)
#define IRQ_UART1_RX 2

void qemu_uart_init(void)
{
    UART0->bauddiv = 16;
    UART0->ctrl = 0x1u;
    UART1->bauddiv = 16;
    UART1->ctrl = 0x1u | 0x2u | 0x8u;
    NVIC_ISER0 = 1u << IRQ_UART1_RX;
}

static void put(struct cmsdk_uart *u, char c)
{
    while (u->state & 1u)
        ;
    u->data = (uint8_t)c;
}

void qemu_uart0_write(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\n')
            put(UART0, '\r');
        put(UART0, buf[i]);
    }
}

void qemu_uart1_ring(void) { put(UART1, 'D'); }

void qemu_uart1_rx_irq(void)
{
    while (UART1->state & 2u)
        (void)UART1->data;
    UART1->intstatus = 2u;
}
