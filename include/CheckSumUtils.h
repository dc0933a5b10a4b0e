/*
 * CheckSumUtils.h - the CRC16 helpers AliOS ports use.
 *
 * CRC-16/XMODEM: polynomial 0x1021, initial value 0, MSB first, no
 * reflection, no final XOR. CRC16_Final() feeds two zero bytes (the
 * "augmented" form) and returns the register, so the result equals the
 * plain CRC-16/XMODEM of the data: CRC16("123456789") == 0x31C3.
 * A breakpoint saves ctx.crc before Final; resuming assigns it back.
 */
#ifndef CHECKSUMUTILS_H
#define CHECKSUMUTILS_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint16_t crc; /* running register; ports read and assign it */
} CRC16_Context;

void CRC16_Init(CRC16_Context *inContext);
void CRC16_Update(CRC16_Context *inContext, const void *inSrc, size_t inLen);
void CRC16_Final(CRC16_Context *inContext, uint16_t *outResult);

typedef struct {
    uint8_t crc;
} CRC8_Context;

/* Reflected CRC-8, polynomial 0x8C, init 0. */
void CRC8_Init(CRC8_Context *inContext);
void CRC8_Update(CRC8_Context *inContext, const void *inSrc, uint32_t inLen);
void CRC8_Final(CRC8_Context *inContext, uint8_t *outResult);

#ifdef __cplusplus
}
#endif

#endif /* CHECKSUMUTILS_H */
