/*
 * memo.h - a fixed-size table from 128-bit keys to small fixed-size values
 * in shared memory, for processes forked after it is created: any of them
 * may look up and insert at the same time, without locks.
 *
 * Open addressing with linear probing over a power-of-two number of slots
 * (at least 4/3 of the capacity, so probe chains stay short). Each slot has
 * a 32-bit state word, claimed with a compare-and-swap: empty -> writing
 * (with 30 bits of the key as a fingerprint) -> ready once key and value
 * are written (release store). Readers trust ready slots only (acquire
 * load), and a ready slot never changes again: nothing is ever removed.
 * A process that dies while writing leaves its slot "writing" forever; it
 * is skipped, never waited for.
 *
 * A key is inserted at most once: a second insert of it finds it ready (or
 * being written) and returns 0. Once `capacity` keys are in, inserts are
 * refused (-1) and lookups go on working. The all-zero key is reserved
 * (flashkey_get never returns it): insert refuses it, lookup misses it.
 */
#ifndef OTAHIL_MEMO_H
#define OTAHIL_MEMO_H

#include <stddef.h>
#include <stdint.h>

#define MEMO_MAX_VALUE 4096 /* largest value_size */

struct memo;

struct memo_stats {
    uint32_t capacity;   /* keys it will hold */
    uint32_t slots;      /* slots in the table */
    uint32_t value_size;
    uint32_t used;       /* slots claimed (ready or being written) */
    uint64_t lookups;    /* memo_lookup calls */
    uint64_t hits;       /* ... that found their key */
    uint64_t inserts;    /* keys inserted */
    uint64_t present;    /* inserts of a key already there (or being written) */
    uint64_t refused;    /* inserts refused: table full, or the zero key */
    uint64_t probes;     /* slots examined by lookups and inserts */
};

/* A table for `capacity` keys (1 .. 1<<28) and values of value_size bytes
 * (1 .. MEMO_MAX_VALUE), zero-filled, in MAP_SHARED|MAP_ANONYMOUS memory:
 * create it before forking. NULL on a bad argument or no memory. */
struct memo *memo_create(uint32_t capacity, size_t value_size);

/* 1 and the value copied to value_out (value_size bytes) when key is in
 * the table and ready; 0 otherwise. */
int memo_lookup(struct memo *m, const uint64_t key[2], void *value_out);

/* 1: inserted; 0: the key is there already (ready, or being written by
 * another process: a slot being written whose fingerprint matches counts
 * as the key, so a different key with the same 30-bit fingerprint written
 * at that very moment also gives 0); -1: refused (full, or the zero key). */
int memo_insert(struct memo *m, const uint64_t key[2], const void *value);

/* A snapshot of the shared counters (each read atomically, not all at
 * one instant while other processes work). */
void memo_stats(const struct memo *m, struct memo_stats *st);

/* Unmaps the table (in this process; other processes keep their mapping). */
void memo_destroy(struct memo *m);

#endif
