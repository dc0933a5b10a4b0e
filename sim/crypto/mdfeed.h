/*
 * mdfeed.h - the input buffering MD5, SHA-1 and SHA-256 share (all three
 * hash 64-byte blocks and count the bytes hashed): whole blocks go to the
 * hash's block function, the rest waits in buf. Freestanding.
 */
#ifndef OTAHIL_MDFEED_H
#define OTAHIL_MDFEED_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef void (*md_block_fn)(uint32_t *state, const uint8_t *block);

static inline void md_feed(uint32_t *state, uint64_t *count, uint8_t buf[64], md_block_fn block,
                           const void *data, size_t len)
{
    const uint8_t *p = data;
    size_t have = (size_t)(*count & 63u);

    *count += len;
    if (have) {
        size_t take = 64 - have < len ? 64 - have : len;

        memcpy(buf + have, p, take);
        p += take;
        len -= take;
        if (have + take < 64)
            return;
        block(state, buf);
    }
    for (; len >= 64; len -= 64, p += 64)
        block(state, p);
    if (len)
        memcpy(buf, p, len);
}

#endif
