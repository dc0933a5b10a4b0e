/*
 * lan9118.h - driver for the SMSC LAN9118 Ethernet controller as QEMU
 * models it on mps2-an385 (docs/qemu.md, "Own IP stack on the LAN9118"):
 * registers at 0x40200000, 32-bit bus, interrupt line IRQ 13. Frames go out
 * through the TX data FIFO (command words A and B, then the frame's words)
 * and come in through the RX status and RX data FIFOs. Guest only,
 * freestanding; single-threaded, except lan9118_irq, which only acknowledges
 * the interrupt and raises a flag.
 */
#ifndef OTAHIL_LAN9118_H
#define OTAHIL_LAN9118_H

#include <stddef.h>
#include <stdint.h>

#define LAN9118_BASE      0x40200000u /* mps2-an385 */
#define LAN9118_IRQ       13          /* mps2-an385 (AN511: 47) */
#define LAN9118_FRAME_MAX 1514        /* Ethernet II without the FCS */
/* QEMU's RX data FIFO holds 2640 words (10560 bytes); a frame that does not
 * fit is dropped. A TCP receive window above this lets the peer overrun it. */
#define LAN9118_RX_FIFO_BYTES 10560

/* Resets the chip (HW_CFG.SRST), checks its ID (ID_REV 0x0118xxxx) and the
 * byte order (BYTE_TEST), sets the MAC address: `mac` if not NULL and not all
 * zero, else the one the chip has (QEMU's -nic macaddr=, by default
 * 52:54:00:12:34:56), which is written to `out_mac` (may be NULL). Accepts
 * frames to that address and broadcasts only (no promiscuous mode, no
 * multicast), enables TX and RX and the RX-status interrupt on IRQ 13
 * (active high, push-pull; the NVIC line is enabled).
 * Returns 0, or -19 (no LAN9118 at LAN9118_BASE: ID or byte test wrong). */
int lan9118_init(const uint8_t mac[6], uint8_t out_mac[6]);

/* Queues one frame (destination MAC first, no FCS: the chip appends it) of
 * 14..LAN9118_FRAME_MAX bytes; frames under 60 bytes are padded with zeros
 * here (QEMU's model sends them as written).
 * Returns 0, -22 (bad length) or -11 (the TX data FIFO has no room: try
 * again; QEMU sends each frame as its last word is written, so this means a
 * stuck chip). */
int lan9118_send(const void *frame, size_t len);

/* Takes the next received frame, if any, into buf (cap bytes; the FCS is
 * not copied). Returns its length (> 0), 0 when no frame is waiting, -90 if
 * it was longer than cap or -5 if its status word has the error bit (in both
 * cases the frame is consumed and dropped). */
int lan9118_recv(void *buf, size_t cap);

/* 1 if the interrupt has fired since the last call (then cleared), else 0:
 * lets an idle loop decide whether to sleep on WFI. */
int lan9118_irq_seen(void);

/* Frames dropped by lan9118_recv (too long or bad status) since init. */
uint32_t lan9118_rx_dropped(void);

/* The interrupt handler (IRQ 13, sim/qemu/startup.c's vector table):
 * acknowledges the RX-status interrupt and marks it seen. */
void qemu_eth_irq(void);

#endif
