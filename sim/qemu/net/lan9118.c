/*
 * lan9118.c - the LAN9118 Ethernet controller of mps2-an385 (QEMU's model,
 * hw/net/lan9118.c). The chip keeps frames in FIFOs, not in descriptors in
 * RAM: a received frame is one word in the RX status FIFO (length with the
 * 4-byte FCS in bits 29:16, error summary in bit 15) and its bytes, FCS
 * included, little-endian in ceil(length / 4) words of the RX data FIFO,
 * which must be read out completely. A frame to send is command word A
 * (first and last segment, buffer size), command word B (tag, frame length)
 * and the frame's bytes in words; QEMU hands it to the network as its last
 * word is written and puts one word into the TX status FIFO, which is
 * drained here. MAC registers are reached indirectly through MAC_CSR_CMD and
 * MAC_CSR_DATA. The interrupt is active low unless IRQ_CFG asks for
 * push-pull, active high, which is what the NVIC needs.
 */
#include "sim/qemu/net/lan9118.h"

#include <string.h>

#include "sim/qemu/qemu_fw.h"

#define REG(off) (*(volatile uint32_t *)(LAN9118_BASE + (off)))
#define RX_DATA      REG(0x00)
#define TX_DATA      REG(0x20)
#define RX_STATUS    REG(0x40)
#define TX_STATUS    REG(0x48)
#define ID_REV       REG(0x50)
#define IRQ_CFG      REG(0x54)
#define INT_STS      REG(0x58)
#define INT_EN       REG(0x5c)
#define BYTE_TEST    REG(0x64)
#define FIFO_INT     REG(0x68)
#define RX_CFG       REG(0x6c)
#define TX_CFG       REG(0x70)
#define HW_CFG       REG(0x74)
#define RX_FIFO_INF  REG(0x7c)
#define TX_FIFO_INF  REG(0x80)
#define MAC_CSR_CMD  REG(0xa4)
#define MAC_CSR_DATA REG(0xa8)

#define IRQ_CFG_EN   0x100u
#define IRQ_CFG_POL  0x010u /* active high */
#define IRQ_CFG_TYPE 0x001u /* push-pull */
#define INT_RSFL     0x008u /* RX status FIFO above its level (FIFO_INT[7:0]) */
#define HW_CFG_SRST  0x1u
#define TX_CFG_ON    0x2u
#define RX_STS_ES    0x8000u

#define MAC_CR    1
#define MAC_ADDRH 2
#define MAC_ADDRL 3
#define MAC_CR_RXEN 0x4u
#define MAC_CR_TXEN 0x8u
#define MAC_CR_FDPX 0x100000u
#define MAC_CSR_BUSY 0x80000000u
#define MAC_CSR_READ 0x40000000u

#define NVIC_ISER0 (*(volatile uint32_t *)0xE000E100u)

static volatile uint32_t g_irq_seen;
static uint32_t g_rx_dropped;

static int mac_wait(void)
{
    for (int i = 0; i < 100000; i++)
        if (!(MAC_CSR_CMD & MAC_CSR_BUSY))
            return 0;
    return -19;
}

static uint32_t mac_read(uint32_t reg)
{
    MAC_CSR_CMD = MAC_CSR_BUSY | MAC_CSR_READ | reg;
    (void)mac_wait();
    return MAC_CSR_DATA;
}

static void mac_write(uint32_t reg, uint32_t val)
{
    MAC_CSR_DATA = val;
    MAC_CSR_CMD = MAC_CSR_BUSY | reg;
    (void)mac_wait();
}

int lan9118_init(const uint8_t mac[6], uint8_t out_mac[6])
{
    if ((ID_REV >> 16) != 0x0118u || BYTE_TEST != 0x87654321u)
        return -19;
    HW_CFG = HW_CFG_SRST;
    for (int i = 0; i < 100000 && (HW_CFG & HW_CFG_SRST); i++)
        ;
    if (HW_CFG & HW_CFG_SRST)
        return -19;
    g_irq_seen = 0;
    g_rx_dropped = 0;

    static const uint8_t zero[6];
    uint8_t m[6];
    if (mac && memcmp(mac, zero, 6) != 0) {
        memcpy(m, mac, 6);
        mac_write(MAC_ADDRL, (uint32_t)m[0] | (uint32_t)m[1] << 8 | (uint32_t)m[2] << 16 |
                                 (uint32_t)m[3] << 24);
        mac_write(MAC_ADDRH, (uint32_t)m[4] | (uint32_t)m[5] << 8);
    } else {
        uint32_t lo = mac_read(MAC_ADDRL), hi = mac_read(MAC_ADDRH);
        m[0] = (uint8_t)lo, m[1] = (uint8_t)(lo >> 8), m[2] = (uint8_t)(lo >> 16);
        m[3] = (uint8_t)(lo >> 24), m[4] = (uint8_t)hi, m[5] = (uint8_t)(hi >> 8);
    }
    if (out_mac)
        memcpy(out_mac, m, 6);

    RX_CFG = 0;               /* no end alignment, no offset */
    TX_CFG = TX_CFG_ON;
    FIFO_INT = 0x48000000u;   /* RX status level 0: any frame raises RSFL */
    mac_write(MAC_CR, MAC_CR_TXEN | MAC_CR_RXEN | MAC_CR_FDPX); /* our MAC and broadcast */
    INT_STS = 0xffffffffu;
    INT_EN = INT_RSFL;
    IRQ_CFG = IRQ_CFG_EN | IRQ_CFG_POL | IRQ_CFG_TYPE;
    NVIC_ISER0 = 1u << LAN9118_IRQ;
    return 0;
}

int lan9118_send(const void *frame, size_t len)
{
    if (len < 14 || len > LAN9118_FRAME_MAX)
        return -22;
    size_t flen = len < 60u ? 60u : len;    /* QEMU's model does not pad: zeros here */
    uint32_t words = ((uint32_t)flen + 3u) / 4u;
    if ((TX_FIFO_INF & 0xffffu) < words * 4u + 8u)
        return -11;
    TX_DATA = 0x3000u | (uint32_t)flen;       /* A: first and last segment, buffer size */
    TX_DATA = (uint32_t)flen << 16 | (uint32_t)flen; /* B: tag, frame length */
    const uint8_t *p = frame;
    for (uint32_t i = 0; i < words; i++) {
        uint32_t w = 0;
        size_t n = i * 4u >= len ? 0u : len - i * 4u < 4u ? len - i * 4u : 4u;
        memcpy(&w, p + i * 4u, n);            /* little-endian, as the FIFO takes it */
        TX_DATA = w;
    }
    while (TX_FIFO_INF & 0x00ff0000u)         /* the TX status words */
        (void)TX_STATUS;
    return 0;
}

int lan9118_recv(void *buf, size_t cap)
{
    if (!(RX_FIFO_INF & 0x00ff0000u))
        return 0;
    uint32_t sts = RX_STATUS;
    uint32_t len = (sts >> 16) & 0x3fffu;     /* with the FCS */
    uint32_t words = (len + 3u) / 4u;
    uint32_t flen = len >= 4u ? len - 4u : 0u;
    int bad = (sts & RX_STS_ES) != 0, big = flen > cap || flen < 14u;
    uint8_t *p = buf;
    for (uint32_t i = 0; i < words; i++) {
        uint32_t w = RX_DATA;
        if (bad || big || i * 4u >= flen)
            continue;
        size_t n = flen - i * 4u < 4u ? flen - i * 4u : 4u;
        memcpy(p + i * 4u, &w, n);
    }
    if (bad || big) {
        g_rx_dropped++;
        return bad ? -5 : -90;
    }
    return (int)flen;
}

int lan9118_irq_seen(void)
{
    if (!g_irq_seen)
        return 0;
    g_irq_seen = 0;
    return 1;
}

uint32_t lan9118_rx_dropped(void) { return g_rx_dropped; }

void qemu_eth_irq(void)
{
    INT_STS = INT_RSFL;
    g_irq_seen = 1;
}
