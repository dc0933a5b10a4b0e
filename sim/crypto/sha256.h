/* sha256.h - SHA-256 (FIPS 180-4), freestanding, for the device side. The
 * context is plain data so the agent can persist it at a breakpoint. */
#ifndef OTAHIL_SHA256_H
#define OTAHIL_SHA256_H
#include <stddef.h>
#include <stdint.h>
struct sha256_ctx {
    uint32_t state[8];
    uint64_t count;     /* bytes hashed */
    uint8_t  buf[64];
};
void sha256_init(struct sha256_ctx *c);
void sha256_update(struct sha256_ctx *c, const void *data, size_t len);
/* final writes the digest and wipes the context. */
void sha256_final(struct sha256_ctx *c, uint8_t out[32]);
#endif
