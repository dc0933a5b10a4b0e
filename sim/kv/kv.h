/*
 * kv.h - the device's key-value store, log-structured on flash.
 *
 * Freestanding: it reaches flash only through the flash model (flashsim), on
 * one or more partitions that together hold at least two erase sectors
 * (mk3060 puts KV on PARAMETER_2 and PARAMETER_3, as moc108's multi-partition
 * mode does). Records are appended; the newest record of a key wins; a delete
 * is a tombstone; a full store is compacted into a spare sector. Every write
 * is ordered so that a power cut at any flash operation leaves each key with
 * its old value or its new one, never garbage (a torn record fails its CRC
 * and is ignored).
 */
#ifndef KV_H
#define KV_H

#include <stdint.h>
#include "../flash/flashsim.h"

#define KV_MAX_KEY     64   /* bytes of a key, without NUL */
#define KV_MAX_VALUE   1024 /* bytes of a value */
#define KV_MAX_SECTORS 64
#define KV_MAX_PARTS   4

#define KV_OK        0
#define KV_ENOENT    (-2)   /* key absent */
#define KV_EIO       (-5)   /* flash error (the flash model's code is in last_flash_err) */
#define KV_EINVAL    (-22)  /* bad key or length */
#define KV_ENOSPC    (-28)  /* live data does not fit even after compaction */
#define KV_ETOOSMALL (-75)  /* caller's buffer too small */
#define KV_ECUT      FLASHSIM_ECUT /* power cut during the operation */

/* The store's CRC-32 (reflected 0xEDB88320) as a running register: start
 * with 0xFFFFFFFF, XOR the last result with 0xFFFFFFFF. Also used by the
 * OTA HAL's report of what the port was given (sim/hal/hal_ota.c). */
uint32_t kv_crc32_update(uint32_t running, const void *data, size_t n);

struct kv_sector {
    int      part;   /* partition id */
    uint32_t off;    /* offset of the sector within the partition */
    uint32_t seq;    /* generation from the sector header (when used) */
    uint32_t nslots; /* record entry slots in use, valid or torn (when used) */
    int      used;   /* 1: valid sector header; 0: free (erased or junk) */
};

struct kv_store {
    struct flashsim *fs;
    struct kv_sector sec[KV_MAX_SECTORS];
    int      nsec;          /* sectors available */
    uint32_t sector_size;
    int      active;        /* index of the sector being appended to */
    uint32_t write_off;     /* next free offset in the active sector */
    uint32_t generation;    /* generation of the active sector */
    int      last_flash_err;
};

/* Mounts the store on the given partitions (all their sectors, in order).
 * A blank or unreadable store is formatted. Recovers from an interrupted
 * append or compaction. 0, KV_EINVAL (fewer than two sectors), KV_EIO or
 * KV_ECUT. */
int kv_mount(struct kv_store *kv, struct flashsim *fs, const int *parts, int nparts);

/* Copies the newest value of key into buf (*len: buffer size in, value length
 * out). KV_OK, KV_ENOENT, KV_ETOOSMALL (then *len is the size needed). */
/* (kv_get) Also KV_EINVAL (store not mounted, bad key, len NULL, buf NULL
 * for a non-empty value) and KV_EIO. */
int kv_get(struct kv_store *kv, const char *key, void *buf, int *len);

/* Durably stores len bytes. KV_OK, KV_EINVAL, KV_ENOSPC, KV_EIO, KV_ECUT. */
/* (kv_set) len may be 0. Setting the value a key already holds writes
 * nothing. KV_ENOSPC is decided before any compaction runs and leaves flash
 * untouched. Every set leaves room for one delete, so a full store can
 * still take a delete. */
int kv_set(struct kv_store *kv, const char *key, const void *val, int len);

/* Deletes key. KV_OK, KV_ENOENT, KV_EIO, KV_ECUT. */
/* (kv_del) Also KV_EINVAL (store not mounted, bad key) and KV_ENOSPC. */
int kv_del(struct kv_store *kv, const char *key);

/* Calls fn for every live key (in no particular order). Returns the count. */
/* (kv_foreach) 0 when the store is not mounted. fn may be NULL (count only)
 * and must not modify the store. */
int kv_foreach(struct kv_store *kv, void (*fn)(void *ctx, const char *key,
               const uint8_t *val, int len), void *ctx);

#endif /* KV_H */
