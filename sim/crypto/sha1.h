/* sha1.h - SHA-1 (FIPS 180-4), freestanding, for the device side: the
 * HMAC-SHA1 of the Alibaba MQTT signature (spec §2.1). The context is plain
 * data, as md5.h's and sha256.h's are. */
#ifndef OTAHIL_SHA1_H
#define OTAHIL_SHA1_H
#include <stddef.h>
#include <stdint.h>
#define SHA1_DIGEST_LEN 20
#define SHA1_BLOCK_LEN  64
struct sha1_ctx {
    uint32_t state[5];
    uint64_t count;     /* bytes hashed */
    uint8_t  buf[64];
};
void sha1_init(struct sha1_ctx *c);
void sha1_update(struct sha1_ctx *c, const void *data, size_t len);
/* final writes the digest and wipes the context. */
void sha1_final(struct sha1_ctx *c, uint8_t out[SHA1_DIGEST_LEN]);
#endif
