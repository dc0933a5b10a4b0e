/*
 * crc16.c - the CRC helpers AliOS ports use (include/CheckSumUtils.h).
 *
 * CRC16 is CRC-16/XMODEM (polynomial 0x1021, MSB first, no reflection, no
 * final XOR) computed in the augmented form: the register holds the message
 * so far reduced modulo the polynomial, with no implicit x^16 factor, and
 * CRC16_Final feeds two zero bytes. The register before Final is what ports
 * save at a breakpoint and assign back to resume. Feeding one byte b is
 * R' = (R * x^8 + b) mod G, done a nibble at a time with a 16-entry table
 * of (n * x^16) mod G.
 *
 * CRC8 is reflected, polynomial 0x8C (0x31 reversed), init 0, no final XOR
 * (the Dallas/Maxim CRC-8; check value of "123456789" is 0xA1).
 *
 * Freestanding: no OS calls, no allocation.
 */
#include <stddef.h>
#include <stdint.h>

#include "CheckSumUtils.h"

/* (n * x^16) mod (x^16 + x^12 + x^5 + 1) for every 4-bit n. */
static const uint16_t crc16_nibble[16] = {
    0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50a5, 0x60c6, 0x70e7,
    0x8108, 0x9129, 0xa14a, 0xb16b, 0xc18c, 0xd1ad, 0xe1ce, 0xf1ef,
};

/* One nibble into the augmented register: R' = (R * x^4 + n) mod G. */
static uint16_t crc16_feed4(uint16_t r, unsigned n)
{
    return (uint16_t)(((unsigned)r << 4 | n) ^ crc16_nibble[r >> 12]);
}

static uint16_t crc16_feed8(uint16_t r, uint8_t b)
{
    r = crc16_feed4(r, (unsigned)b >> 4);
    return crc16_feed4(r, (unsigned)b & 0xFu);
}

void CRC16_Init(CRC16_Context *inContext)
{
    if (inContext)
        inContext->crc = 0;
}

void CRC16_Update(CRC16_Context *inContext, const void *inSrc, size_t inLen)
{
    const uint8_t *p = inSrc;
    uint16_t r;

    if (!inContext || (!inSrc && inLen))
        return;
    r = inContext->crc;
    while (inLen--)
        r = crc16_feed8(r, *p++);
    inContext->crc = r;
}

void CRC16_Final(CRC16_Context *inContext, uint16_t *outResult)
{
    if (!inContext)
        return;
    inContext->crc = crc16_feed8(crc16_feed8(inContext->crc, 0), 0);
    if (outResult)
        *outResult = inContext->crc;
}

void CRC8_Init(CRC8_Context *inContext)
{
    if (inContext)
        inContext->crc = 0;
}

void CRC8_Update(CRC8_Context *inContext, const void *inSrc, uint32_t inLen)
{
    const uint8_t *p = inSrc;
    unsigned c, bit;

    if (!inContext || (!inSrc && inLen))
        return;
    c = inContext->crc;
    while (inLen--) {
        c ^= *p++;
        for (bit = 0; bit < 8; bit++)
            c = (c & 1u) ? (c >> 1) ^ 0x8Cu : c >> 1;
    }
    inContext->crc = (uint8_t)c;
}

void CRC8_Final(CRC8_Context *inContext, uint8_t *outResult)
{
    if (inContext && outResult)
        *outResult = inContext->crc;
}
