/*
 * flashkey.h - a 128-bit key of a flash state, kept up to date as the
 * flash changes: the chip bytes (geom.size of them) and, on program-once
 * chips, the model's program-once bitmap (struct flashsim.programmed).
 * Nothing else of the model is part of the state: the counters (op_seq,
 * reads, programs, erases, violations), erase_count[], boots and the
 * violation ring are left out, so two runs that leave the same bytes and
 * marks behind get the same key whatever they did on the way.
 *
 * The key is made of one 128-bit hash per sector (geom.sector_size bytes
 * and that sector's bits of the bitmap), each mixed with its sector index
 * and XORed together. A sector's hash is cached until flashkey_touch says
 * the sector changed, so flashkey_get costs one rehash per sector touched
 * since the last call (a 4 KiB sector rehashes in well under a
 * microsecond). Distinct states collide with probability about 2^-128 per
 * pair: the two 64-bit halves come from two independent sets of lanes.
 *
 * The key is never all-zero (memo.h reserves it). A flashkey holds
 * pointers to the caller's memory and reads it only inside flashkey_get;
 * it copies with a fork, so a child inherits a valid cache. Host code.
 */
#ifndef OTAHIL_FLASHKEY_H
#define OTAHIL_FLASHKEY_H

#include <stddef.h>
#include <stdint.h>

#include "sim/flash/flashsim.h"

struct flashkey {
    uint32_t size;            /* chip bytes */
    uint32_t sector_size;
    uint32_t nsec;
    uint32_t units_per_sec;   /* program units per sector (bitmap bits) */
    const uint8_t *mem;
    const uint8_t *programmed; /* NULL: not part of the state */
    uint64_t (*sec)[2];       /* cached sector hashes */
    uint8_t *dirty;           /* per sector: 1 while listed in dlist */
    uint32_t *dlist;          /* dirty sectors, in touch order */
    uint32_t ndirty;
    int all_dirty;            /* every sector is to be rehashed */
    uint64_t key[2];          /* XOR of the mixed sector hashes, as cached */
    uint8_t erase_value;
    int have_blank;           /* blank[] holds the hash of an erased sector */
    uint64_t blank[2];
};

/* Binds a key to a chip: mem holds g->size bytes; programmed (may be NULL)
 * is the program-once bitmap, one bit per program unit, programmed_len
 * bytes (at least (g->size / g->program_unit + 7) / 8 when not NULL).
 * Every sector starts dirty. 0, or -1 (bad geometry or bitmap, size above
 * 16 MiB, no memory). */
int flashkey_init(struct flashkey *k, const struct flashsim_geom *g, const uint8_t *mem,
                  const uint8_t *programmed, size_t programmed_len);

/* The bytes [chip_off, chip_off + len) (chip offsets, clipped to the chip)
 * or their program-once bits may have changed: call it after each program
 * and erase (an erase of a sector: its offset and the sector size). A
 * zero-length range touches nothing. */
void flashkey_touch(struct flashkey *k, uint32_t chip_off, uint32_t len);

/* Marks every sector dirty: for when the whole chip changed behind the
 * hook's back (a memcpy of a saved image, a new bitmap). */
void flashkey_reset_all_dirty(struct flashkey *k);

/* The key of the current state (rehashes the dirty sectors, then none is
 * dirty). Never all-zero. */
void flashkey_get(struct flashkey *k, uint64_t out[2]);

/* The 128-bit hash of one buffer, as used for a sector without a bitmap
 * (exposed for tests and benchmarks). */
void flashkey_hash(const void *data, size_t len, uint64_t out[2]);

void flashkey_free(struct flashkey *k);

#endif
