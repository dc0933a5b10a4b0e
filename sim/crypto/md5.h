/* md5.h - MD5 (RFC 1321), freestanding, for the device side. The context is
 * plain data so the agent can persist it at a breakpoint. */
#ifndef OTAHIL_MD5_H
#define OTAHIL_MD5_H
#include <stddef.h>
#include <stdint.h>
struct md5_ctx {
    uint32_t state[4];
    uint64_t count;     /* bytes hashed */
    uint8_t  buf[64];
};
void md5_init(struct md5_ctx *c);
void md5_update(struct md5_ctx *c, const void *data, size_t len);
/* final writes the digest and wipes the context. */
void md5_final(struct md5_ctx *c, uint8_t out[16]);
#endif
