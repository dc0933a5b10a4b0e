/*
 * kv.c - the device's key-value store, log-structured on NOR flash.
 *
 * Freestanding: it reaches flash only through flashsim_read/program/erase
 * and allocates nothing; every record lookup re-reads flash. Deepest stack,
 * measured on Cortex-M3 -Os including the flash model: kv_get 0.5 KiB,
 * kv_mount 0.7 KiB, kv_set and kv_del 1.2 KiB (when they compact),
 * kv_foreach 1.7 KiB (it holds one value).
 *
 * Sector layout (offsets within the sector; H, E and data sizes are rounded
 * up to the flash program unit U, pad bytes hold the erase value):
 *
 *   [header H][data 0][data 1] ...free... [entry 1][entry 0]
 *
 *   header  (12 bytes): magic "KVS1", generation (u32), CRC32 of both.
 *           Written right after the sector is erased; a sector with a valid
 *           header is "used", any other sector is "free" (erased or junk,
 *           erased again before it is reused).
 *   entry k (20 bytes) at sector_size - (k + 1) * E: type ('S' set or
 *           'D' delete), key length, value length, data offset, CRC32 of
 *           key+value, CRC32 of the key (a lookup filter), CRC32 of the
 *           entry's first 16 bytes. Entries grow down from the sector end at
 *           a fixed stride, so a torn entry never hides the ones after it.
 *   data k  key bytes then value bytes, growing up from the header. The data
 *           of entry k always ends at or below the start of slot k + 1, so
 *           the first erased slot ends the entry list.
 *   Integers are little-endian. The CRC is CRC-32 (reflected 0xEDB88320,
 *   init and final XOR 0xFFFFFFFF), private to this file.
 *
 * A record is valid when its entry CRC and its data CRC both match. The
 * newest valid record of a key wins: generations order the sectors, slot
 * numbers order the records of a sector. A delete is a record of type 'D'
 * holding only the key.
 *
 * Write order and power cuts (a cut stops the device at once):
 *   - append: entry first, then data. A cut in between leaves an entry whose
 *     data CRC fails: the key keeps its old value. The entry gives the
 *     record's extent, so appends after a reboot continue past it even when
 *     the intended data were all 0xFF; no unit is ever programmed twice and
 *     no bit is asked to rise. Appends also start after the last non-erased
 *     byte of the data area, whatever put it there.
 *   - a new sector: (erase if not blank) -> header with generation max + 1.
 *   - compaction: at rest at least one sector is free. When the active
 *     sector is full the next free sector (in ring order) is opened; if that
 *     leaves no free sector, the oldest sector is collected into the new one:
 *     each of its records that is the newest valid record of its key is
 *     copied (a delete only while an older record of its key remains in that
 *     sector), then the old sector is erased. Copies hold the same values, so
 *     every key reads the same at each step. "No free sector" at mount means
 *     a collection was interrupted: it is resumed, which is idempotent (a
 *     record already copied is no longer the newest in the old sector). If
 *     the new sector cannot take the copies because cuts left torn records
 *     in it, it holds nothing but copies: it is erased and refilled.
 *   - a store with no valid sector header (blank or junk) is formatted.
 *
 * Space: a set leaves room in the active sector for one delete of a
 * longest key, so a full store can always take a delete. KV_ENOSPC is
 * decided by a dry run of the compactions before any of them happens, so a
 * full store that refuses a set has not erased anything.
 *
 * Generations are 32-bit and assumed never to wrap (one per sector opened).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kv.h"

#define KV_HDR_MAGIC 0x3153564Bu /* "KVS1" as little-endian bytes */
#define KV_HDR_RAW   12u         /* header bytes before padding */
#define KV_ENT_RAW   20u         /* entry bytes before padding */
#define KV_T_SET     0x53u       /* 'S' */
#define KV_T_DEL     0x44u       /* 'D' */
#define KV_MAX_UNIT  64u         /* largest program unit supported */
#define KV_CHUNK     256u        /* program staging buffer: a multiple of every unit */
#define KV_RBUF      64u         /* read buffer for checks and compares */

enum { SLOT_ERASED, SLOT_VALID, SLOT_BAD };

struct kv_ent {
    uint8_t  type;  /* KV_T_SET or KV_T_DEL */
    uint8_t  klen;  /* 1..KV_MAX_KEY */
    uint16_t vlen;  /* 0..KV_MAX_VALUE, 0 for deletes */
    uint32_t doff;  /* data offset within the sector */
    uint32_t dcrc;  /* CRC32 of key then value */
    uint32_t khash; /* CRC32 of the key */
};

struct kv_loc {
    int           sec;  /* sector index */
    uint32_t      slot; /* entry slot */
    struct kv_ent e;
};

/* Where a record's data come from: RAM (sec < 0) or another record. */
struct kv_src {
    const uint8_t *key;
    const uint8_t *val;
    int            sec;
    uint32_t       off;
};

/* ---- CRC-32 --------------------------------------------------------------- */

static const uint32_t crc32_nibble[16] = {
    0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4, 0x4db26158, 0x5005713c,
    0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c, 0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
};

/* Running register (start with 0xFFFFFFFF, XOR the result with it). */
static uint32_t crc32_run(uint32_t c, const void *data, size_t n)
{
    const uint8_t *p = data;

    while (n--) {
        c ^= *p++;
        c = (c >> 4) ^ crc32_nibble[c & 15u];
        c = (c >> 4) ^ crc32_nibble[c & 15u];
    }
    return c;
}

static uint32_t crc32_of(const void *data, size_t n)
{
    return crc32_run(0xFFFFFFFFu, data, n) ^ 0xFFFFFFFFu;
}

/* ---- encoding ------------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- geometry ------------------------------------------------------------- */

static uint32_t unit(const struct kv_store *kv)
{
    return kv->fs->geom.program_unit;
}

static uint32_t rup(const struct kv_store *kv, uint32_t v)
{
    uint32_t u = unit(kv);

    return (v + u - 1) / u * u;
}

static uint32_t hdr_size(const struct kv_store *kv)
{
    return rup(kv, KV_HDR_RAW);
}

static uint32_t ent_size(const struct kv_store *kv)
{
    return rup(kv, KV_ENT_RAW);
}

/* Offset of entry slot k. */
static uint32_t slot_pos(const struct kv_store *kv, uint32_t k)
{
    return kv->sector_size - (k + 1) * ent_size(kv);
}

/* Usable slots: slot k is usable while slot k + 1 still lies above the
 * header (the data of entry k end at or below slot k + 1). */
static uint32_t max_slots(const struct kv_store *kv)
{
    return (kv->sector_size - hdr_size(kv)) / ent_size(kv) - 1;
}

/* Bytes of data a record of this key and value size occupies. */
static uint32_t data_size(const struct kv_store *kv, uint32_t klen, uint32_t vlen)
{
    return rup(kv, klen + vlen);
}

/* Does a record with p data bytes fit in the active sector? */
static int fits(const struct kv_store *kv, uint32_t p)
{
    uint32_t k = kv->sec[kv->active].nslots;

    return k < max_slots(kv) && (uint64_t)kv->write_off + p <= slot_pos(kv, k + 1);
}

/* ---- flash access --------------------------------------------------------- */

static int fl_err(struct kv_store *kv, int rc)
{
    kv->last_flash_err = rc;
    return rc == FLASHSIM_ECUT ? KV_ECUT : KV_EIO;
}

static int fl_read(struct kv_store *kv, int s, uint32_t off, void *buf, uint32_t len)
{
    int rc = flashsim_read(kv->fs, kv->sec[s].part, kv->sec[s].off + off, buf, len);

    return rc ? fl_err(kv, rc) : KV_OK;
}

static int fl_prog(struct kv_store *kv, int s, uint32_t off, const void *buf, uint32_t len)
{
    int rc = flashsim_program(kv->fs, kv->sec[s].part, kv->sec[s].off + off, buf, len);

    return rc ? fl_err(kv, rc) : KV_OK;
}

static int fl_erase(struct kv_store *kv, int s)
{
    int rc = flashsim_erase(kv->fs, kv->sec[s].part, kv->sec[s].off, kv->sector_size);

    return rc ? fl_err(kv, rc) : KV_OK;
}

/* *end = one past the last byte of [from, to) that is not the erase value,
 * or from when the whole range is erased. */
static int last_used(struct kv_store *kv, int s, uint32_t from, uint32_t to, uint32_t *end)
{
    uint8_t buf[64];
    uint8_t ev = kv->fs->geom.erase_value;

    while (to > from) {
        uint32_t n = to - from < sizeof(buf) ? to - from : (uint32_t)sizeof(buf);
        int rc = fl_read(kv, s, to - n, buf, n);

        if (rc)
            return rc;
        while (n) {
            if (buf[n - 1] != ev) {
                *end = to;
                return KV_OK;
            }
            n--;
            to--;
        }
    }
    *end = from;
    return KV_OK;
}

/* ---- sector headers ------------------------------------------------------- */

static int hdr_read(struct kv_store *kv, int s, int *valid, uint32_t *seq)
{
    uint8_t b[KV_HDR_RAW];
    int rc = fl_read(kv, s, 0, b, sizeof(b));

    if (rc)
        return rc;
    *valid = get32(b) == KV_HDR_MAGIC && get32(b + 8) == crc32_of(b, 8);
    *seq = get32(b + 4);
    return KV_OK;
}

/* Makes sector s an empty used sector of generation seq. */
static int open_sector(struct kv_store *kv, int s, uint32_t seq)
{
    uint8_t b[KV_MAX_UNIT];
    uint32_t end;
    int rc;

    kv->sec[s].used = 0;
    kv->sec[s].nslots = 0;
    rc = last_used(kv, s, 0, kv->sector_size, &end);
    if (rc)
        return rc;
    if (end) {
        rc = fl_erase(kv, s);
        if (rc)
            return rc;
    }
    memset(b, kv->fs->geom.erase_value, sizeof(b));
    put32(b, KV_HDR_MAGIC);
    put32(b + 4, seq);
    put32(b + 8, crc32_of(b, 8));
    rc = fl_prog(kv, s, 0, b, hdr_size(kv));
    if (rc)
        return rc;
    kv->sec[s].used = 1;
    kv->sec[s].seq = seq;
    return KV_OK;
}

/* ---- entries -------------------------------------------------------------- */

/* Reads slot k of sector s; *state is SLOT_ERASED, SLOT_VALID or SLOT_BAD.
 * SLOT_VALID means the entry itself is intact; the data are checked apart. */
static int ent_read(struct kv_store *kv, int s, uint32_t k, struct kv_ent *e, int *state)
{
    uint8_t b[KV_MAX_UNIT];
    uint32_t esz = ent_size(kv), i, pos = slot_pos(kv, k);
    uint8_t ev = kv->fs->geom.erase_value;
    int rc = fl_read(kv, s, pos, b, esz);

    if (rc)
        return rc;
    *state = SLOT_ERASED;
    for (i = 0; i < esz; i++) {
        if (b[i] != ev) {
            *state = SLOT_BAD;
            break;
        }
    }
    if (*state == SLOT_ERASED)
        return KV_OK;
    e->type = b[0];
    e->klen = b[1];
    e->vlen = get16(b + 2);
    e->doff = get32(b + 4);
    e->dcrc = get32(b + 8);
    e->khash = get32(b + 12);
    if (get32(b + 16) != crc32_of(b, 16))
        return KV_OK;
    if (e->type != KV_T_SET && e->type != KV_T_DEL)
        return KV_OK;
    if (!e->klen || e->klen > KV_MAX_KEY || e->vlen > KV_MAX_VALUE)
        return KV_OK;
    if (e->type == KV_T_DEL && e->vlen)
        return KV_OK;
    if (k >= max_slots(kv) || e->doff < hdr_size(kv) || e->doff % unit(kv) ||
        (uint64_t)e->doff + data_size(kv, e->klen, e->vlen) > slot_pos(kv, k + 1))
        return KV_OK;
    *state = SLOT_VALID;
    return KV_OK;
}

static int ent_write(struct kv_store *kv, int s, uint32_t k, const struct kv_ent *e)
{
    uint8_t b[KV_MAX_UNIT];

    memset(b, kv->fs->geom.erase_value, sizeof(b));
    b[0] = e->type;
    b[1] = e->klen;
    put16(b + 2, e->vlen);
    put32(b + 4, e->doff);
    put32(b + 8, e->dcrc);
    put32(b + 12, e->khash);
    put32(b + 16, crc32_of(b, 16));
    return fl_prog(kv, s, slot_pos(kv, k), b, ent_size(kv));
}

/* Reads the key of a record into kbuf (KV_MAX_KEY bytes). */
static int rec_key(struct kv_store *kv, int s, const struct kv_ent *e, uint8_t *kbuf)
{
    return fl_read(kv, s, e->doff, kbuf, e->klen);
}

/* 1 when the record holds this key and its data CRC matches, else 0. */
static int rec_match(struct kv_store *kv, int s, const struct kv_ent *e, const uint8_t *key)
{
    uint8_t buf[KV_MAX_KEY > KV_RBUF ? KV_MAX_KEY : KV_RBUF];
    uint32_t c, done;
    int rc = rec_key(kv, s, e, buf);

    if (rc)
        return rc;
    if (memcmp(buf, key, e->klen))
        return 0;
    c = crc32_run(0xFFFFFFFFu, buf, e->klen);
    for (done = 0; done < e->vlen;) {
        uint32_t n = e->vlen - done < sizeof(buf) ? e->vlen - done : (uint32_t)sizeof(buf);

        rc = fl_read(kv, s, e->doff + e->klen + done, buf, n);
        if (rc)
            return rc;
        c = crc32_run(c, buf, n);
        done += n;
    }
    return (c ^ 0xFFFFFFFFu) == e->dcrc;
}

/* ---- lookups -------------------------------------------------------------- */

/* Used sectors, newest generation first. Returns how many. */
static int order_newest(const struct kv_store *kv, uint8_t *ord)
{
    int n = 0, i, j;

    for (i = 0; i < kv->nsec; i++) {
        if (!kv->sec[i].used)
            continue;
        for (j = n; j > 0 && kv->sec[ord[j - 1]].seq < kv->sec[i].seq; j--)
            ord[j] = ord[j - 1];
        ord[j] = (uint8_t)i;
        n++;
    }
    return n;
}

/* The newest valid record of key: 1 (in *loc), 0 when there is none, or a
 * negative code. */
static int find_newest(struct kv_store *kv, const uint8_t *key, uint32_t klen, uint32_t khash,
                       struct kv_loc *loc)
{
    uint8_t ord[KV_MAX_SECTORS];
    int n = order_newest(kv, ord), i, st, rc;

    for (i = 0; i < n; i++) {
        int s = ord[i];
        uint32_t k = kv->sec[s].nslots;
        struct kv_ent e;

        while (k-- > 0) {
            rc = ent_read(kv, s, k, &e, &st);
            if (rc)
                return rc;
            if (st != SLOT_VALID || e.klen != klen || e.khash != khash)
                continue;
            rc = rec_match(kv, s, &e, key);
            if (rc < 0)
                return rc;
            if (rc) {
                loc->sec = s;
                loc->slot = k;
                loc->e = e;
                return 1;
            }
        }
    }
    return 0;
}

/* Is the valid record in slot k of sector s the newest of its key? The key
 * is read into kbuf. 1, 0 or a negative code. */
static int is_newest(struct kv_store *kv, int s, uint32_t k, const struct kv_ent *e, uint8_t *kbuf)
{
    struct kv_loc loc;
    int rc = rec_key(kv, s, e, kbuf);

    if (rc)
        return rc;
    rc = find_newest(kv, kbuf, e->klen, e->khash, &loc);
    if (rc <= 0)
        return rc;
    return loc.sec == s && loc.slot == k;
}

/* Does sector s hold a valid record of this key in a slot below k? */
static int older_in_sector(struct kv_store *kv, int s, uint32_t k, const uint8_t *key,
                           const struct kv_ent *e)
{
    struct kv_ent o;
    int st, rc;

    while (k-- > 0) {
        rc = ent_read(kv, s, k, &o, &st);
        if (rc)
            return rc;
        if (st != SLOT_VALID || o.klen != e->klen || o.khash != e->khash)
            continue;
        rc = rec_match(kv, s, &o, key);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- appends -------------------------------------------------------------- */

/* Fills buf with n bytes of the record stream (key, value, then padding)
 * starting at stream offset at. */
static int stream_fill(struct kv_store *kv, const struct kv_src *src, uint32_t klen,
                       uint32_t dlen, uint32_t at, uint8_t *buf, uint32_t n)
{
    uint32_t real = at >= dlen ? 0 : (dlen - at < n ? dlen - at : n);

    memset(buf + real, kv->fs->geom.erase_value, n - real);
    if (!real)
        return KV_OK;
    if (src->sec >= 0)
        return fl_read(kv, src->sec, src->off + at, buf, real);
    if (at < klen) {
        uint32_t kn = klen - at < real ? klen - at : real;

        memcpy(buf, src->key + at, kn);
        if (real > kn)
            memcpy(buf + kn, src->val, real - kn);
    } else {
        memcpy(buf, src->val + (at - klen), real);
    }
    return KV_OK;
}

/* Appends a record to the active sector, which must have room (fits()).
 * Entry first, then data; see the file comment. */
static int rec_append(struct kv_store *kv, const struct kv_ent *tmpl, const struct kv_src *src)
{
    uint8_t buf[KV_CHUNK];
    int s = kv->active;
    uint32_t k = kv->sec[s].nslots;
    uint32_t dlen = (uint32_t)tmpl->klen + tmpl->vlen;
    uint32_t p = data_size(kv, tmpl->klen, tmpl->vlen), done;
    struct kv_ent e = *tmpl;
    int rc;

    e.doff = kv->write_off;
    /* Claim the slot and the space first: whatever happens next, they are
     * not reused before the next mount rescans the sector. */
    kv->sec[s].nslots = k + 1;
    kv->write_off += p;
    rc = ent_write(kv, s, k, &e);
    if (rc)
        return rc;
    for (done = 0; done < p; done += KV_CHUNK) {
        uint32_t n = p - done < KV_CHUNK ? p - done : KV_CHUNK;

        rc = stream_fill(kv, src, e.klen, dlen, done, buf, n);
        if (rc)
            return rc;
        rc = fl_prog(kv, s, e.doff + done, buf, n);
        if (rc)
            return rc;
    }
    return KV_OK;
}

static int free_sectors(const struct kv_store *kv)
{
    int i, n = 0;

    for (i = 0; i < kv->nsec; i++)
        n += !kv->sec[i].used;
    return n;
}

/* Copies the live records of sector o into the active sector. KV_ENOSPC when
 * they do not fit (torn copies left by earlier cuts). */
static int gc_copy(struct kv_store *kv, int o)
{
    uint8_t kbuf[KV_MAX_KEY];
    uint32_t k;
    struct kv_ent e;
    struct kv_src src;
    int st, rc;

    for (k = 0; k < kv->sec[o].nslots; k++) {
        rc = ent_read(kv, o, k, &e, &st);
        if (rc)
            return rc;
        if (st != SLOT_VALID)
            continue;
        rc = is_newest(kv, o, k, &e, kbuf);
        if (rc < 0)
            return rc;
        if (!rc)
            continue;
        if (e.type == KV_T_DEL) {
            /* Nothing older than o exists: a delete matters only while an
             * older record of its key is still in o. */
            rc = older_in_sector(kv, o, k, kbuf, &e);
            if (rc < 0)
                return rc;
            if (!rc)
                continue;
        }
        if (!fits(kv, data_size(kv, e.klen, e.vlen)))
            return KV_ENOSPC;
        src.key = NULL;
        src.val = NULL;
        src.sec = o;
        src.off = e.doff;
        rc = rec_append(kv, &e, &src);
        if (rc)
            return rc;
    }
    return KV_OK;
}

/* Collects the oldest used sector into the active one, then erases it. */
static int gc(struct kv_store *kv)
{
    int i, o = -1, rc;

    for (i = 0; i < kv->nsec; i++)
        if (kv->sec[i].used && i != kv->active && (o < 0 || kv->sec[i].seq < kv->sec[o].seq))
            o = i;
    if (o < 0)
        return KV_OK;
    rc = gc_copy(kv, o);
    if (rc == KV_ENOSPC) {
        /* The active sector holds only copies of o's records: start over. */
        rc = open_sector(kv, kv->active, kv->generation);
        if (rc)
            return rc;
        kv->write_off = hdr_size(kv);
        rc = gc_copy(kv, o);
    }
    if (rc)
        return rc;
    kv->sec[o].used = 0;
    kv->sec[o].nslots = 0;
    return fl_erase(kv, o);
}

/* Opens the next free sector (ring order after the active one) as the new
 * active sector, collecting the oldest sector when no free one is left. */
static int advance(struct kv_store *kv)
{
    int i, t = -1, rc;

    for (i = 1; i < kv->nsec && t < 0; i++) {
        int j = (kv->active + i) % kv->nsec;

        if (!kv->sec[j].used)
            t = j;
    }
    if (t < 0)
        return KV_EIO; /* unreachable: mount and gc keep a free sector */
    rc = open_sector(kv, t, kv->generation + 1);
    if (rc)
        return rc;
    kv->active = t;
    kv->generation = kv->sec[t].seq;
    kv->write_off = hdr_size(kv);
    if (free_sectors(kv) == 0)
        return gc(kv);
    return KV_OK;
}

/* How many advances make room for p data bytes: 0 when no sequence of
 * compactions can (then nothing is written, so a full store does not wear
 * itself out on retries). A dry run of advance() and gc(): it reads flash
 * but writes nothing. Its victims are sectors that exist now (each advance
 * collects at most one sector, the opened ones are newer than all others),
 * and copies made on the way never change which records of later victims
 * are live (a key with a record live in an older victim has none in a newer
 * one), so reading today's flash gives the same decisions as the real run. */
static int advances_needed(struct kv_store *kv, uint32_t p, int *needed)
{
    uint8_t used[KV_MAX_SECTORS], kbuf[KV_MAX_KEY];
    uint32_t seq[KV_MAX_SECTORS], gen = kv->generation, wo = kv->write_off, ns, k;
    int i, j, t, o, nused = 0, nfree, act = kv->active, st, rc, rounds;
    struct kv_ent e;

    for (i = 0; i < kv->nsec; i++) {
        used[i] = (uint8_t)kv->sec[i].used;
        seq[i] = kv->sec[i].seq;
        nused += used[i];
    }
    ns = kv->sec[act].nslots;
    rounds = nused;
    *needed = 0;
    for (i = 1; i <= rounds; i++) {
        for (j = 1, t = -1; j < kv->nsec && t < 0; j++)
            if (!used[(act + j) % kv->nsec])
                t = (act + j) % kv->nsec;
        if (t < 0)
            return KV_OK;
        used[t] = 1;
        seq[t] = ++gen;
        act = t;
        wo = hdr_size(kv);
        ns = 0;
        for (j = 0, nfree = 0; j < kv->nsec; j++)
            nfree += !used[j];
        if (!nfree) {
            for (j = 0, o = -1; j < kv->nsec; j++)
                if (used[j] && j != act && (o < 0 || seq[j] < seq[o]))
                    o = j;
            for (k = 0; o >= 0 && k < kv->sec[o].nslots; k++) {
                uint32_t dp;

                rc = ent_read(kv, o, k, &e, &st);
                if (rc)
                    return rc;
                if (st != SLOT_VALID)
                    continue;
                rc = is_newest(kv, o, k, &e, kbuf);
                if (rc < 0)
                    return rc;
                if (rc && e.type == KV_T_DEL)
                    rc = older_in_sector(kv, o, k, kbuf, &e);
                if (rc < 0)
                    return rc;
                if (!rc)
                    continue;
                dp = data_size(kv, e.klen, e.vlen);
                if (ns >= max_slots(kv) || (uint64_t)wo + dp > slot_pos(kv, ns + 1))
                    return KV_OK;
                wo += dp;
                ns++;
            }
            if (o >= 0)
                used[o] = 0;
        }
        if (ns < max_slots(kv) && (uint64_t)wo + p <= slot_pos(kv, ns + 1)) {
            *needed = i;
            return KV_OK;
        }
    }
    return KV_OK;
}

/* Appends a new record for key, compacting first when the active sector is
 * full. */
static int append_new(struct kv_store *kv, uint8_t type, const uint8_t *key, uint32_t klen,
                      uint32_t khash, const uint8_t *val, uint32_t vlen)
{
    uint32_t p = data_size(kv, klen, vlen), dcrc;
    uint32_t hsz = hdr_size(kv), esz = ent_size(kv);
    /* A set leaves room for one delete of the longest key in the active
     * sector, so a full store can always take a delete and free space. */
    uint32_t need = p + (type == KV_T_SET ? esz + data_size(kv, KV_MAX_KEY, 0) : 0);
    struct kv_ent e;
    struct kv_src src;
    int i, rc;

    if ((uint64_t)hsz + need + 2 * esz > kv->sector_size)
        return KV_ENOSPC; /* larger than an empty sector */
    if (!fits(kv, need)) {
        int needed;

        rc = advances_needed(kv, need, &needed);
        if (rc)
            return rc;
        if (!needed)
            return KV_ENOSPC;
        for (i = 0; i < needed && !fits(kv, need); i++) {
            rc = advance(kv);
            if (rc)
                return rc;
        }
        if (!fits(kv, need))
            return KV_ENOSPC;
    }
    dcrc = crc32_run(0xFFFFFFFFu, key, klen);
    dcrc = crc32_run(dcrc, val, vlen) ^ 0xFFFFFFFFu;
    e.type = type;
    e.klen = (uint8_t)klen;
    e.vlen = (uint16_t)vlen;
    e.doff = 0;
    e.dcrc = dcrc;
    e.khash = khash;
    src.key = key;
    src.val = val;
    src.sec = -1;
    src.off = 0;
    return rec_append(kv, &e, &src);
}

/* ---- public API ----------------------------------------------------------- */

/* Key length, or -1 when empty or longer than KV_MAX_KEY. */
static int key_len(const char *key)
{
    int n = 0;

    if (!key)
        return -1;
    while (n <= KV_MAX_KEY && key[n])
        n++;
    return n == 0 || n > KV_MAX_KEY ? -1 : n;
}

static int mounted(const struct kv_store *kv)
{
    return kv && kv->fs && kv->nsec >= 2 && kv->active >= 0 && kv->active < kv->nsec &&
           kv->sec[kv->active].used;
}

int kv_mount(struct kv_store *kv, struct flashsim *fs, const int *parts, int nparts)
{
    uint32_t ss, u, off, data_end, end, k;
    int i, j, rc, best = -1;

    if (!kv)
        return KV_EINVAL;
    memset(kv, 0, sizeof(*kv));
    if (!fs || !fs->meta || !parts || nparts < 1 || nparts > KV_MAX_PARTS)
        return KV_EINVAL;
    kv->fs = fs;
    ss = fs->geom.sector_size;
    u = fs->geom.program_unit;
    kv->sector_size = ss;
    if (u > KV_MAX_UNIT || ss < 128 || ss < hdr_size(kv) + 4 * ent_size(kv))
        return KV_EINVAL;
    for (i = 0; i < nparts; i++) {
        const struct flashsim_part *p = flashsim_part(fs, parts[i]);

        for (j = 0; j < i; j++)
            if (parts[j] == parts[i])
                return KV_EINVAL;
        if (!p || !p->length || p->start % ss || p->length % ss)
            return KV_EINVAL;
        for (off = 0; off < p->length; off += ss) {
            if (kv->nsec == KV_MAX_SECTORS)
                return KV_EINVAL;
            kv->sec[kv->nsec].part = parts[i];
            kv->sec[kv->nsec].off = off;
            kv->nsec++;
        }
    }
    if (kv->nsec < 2)
        return KV_EINVAL;

    for (i = 0; i < kv->nsec; i++) {
        struct kv_sector *sc = &kv->sec[i];

        rc = hdr_read(kv, i, &sc->used, &sc->seq);
        if (rc)
            return rc;
        if (!sc->used)
            continue;
        if (best < 0 || sc->seq > kv->sec[best].seq)
            best = i;
        for (k = 0; k < max_slots(kv); k++) {
            struct kv_ent e;
            int st;

            rc = ent_read(kv, i, k, &e, &st);
            if (rc)
                return rc;
            if (st == SLOT_ERASED)
                break;
        }
        sc->nslots = k;
    }

    if (best < 0) {
        /* Blank, or nothing valid anywhere: format. */
        kv->active = 0;
        kv->generation = 1;
        kv->write_off = hdr_size(kv);
        return open_sector(kv, 0, 1);
    }

    kv->active = best;
    kv->generation = kv->sec[best].seq;
    /* Appends continue past every record the entries describe and past the
     * last non-erased byte of the data area. */
    data_end = hdr_size(kv);
    for (k = 0; k < kv->sec[best].nslots; k++) {
        struct kv_ent e;
        int st;

        rc = ent_read(kv, best, k, &e, &st);
        if (rc)
            return rc;
        if (st == SLOT_VALID && e.doff + data_size(kv, e.klen, e.vlen) > data_end)
            data_end = e.doff + data_size(kv, e.klen, e.vlen);
    }
    if (kv->sec[best].nslots < max_slots(kv)) {
        rc = last_used(kv, best, hdr_size(kv), slot_pos(kv, kv->sec[best].nslots), &end);
        if (rc)
            return rc;
        if (rup(kv, end) > data_end)
            data_end = rup(kv, end);
    } else {
        data_end = ss; /* no slot left: full */
    }
    kv->write_off = data_end;

    if (free_sectors(kv) == 0)
        return gc(kv); /* an interrupted compaction */
    return KV_OK;
}

int kv_get(struct kv_store *kv, const char *key, void *buf, int *len)
{
    struct kv_loc loc;
    int klen = key_len(key), rc;

    if (!mounted(kv) || klen < 0 || !len)
        return KV_EINVAL;
    rc = find_newest(kv, (const uint8_t *)key, (uint32_t)klen,
                     crc32_of(key, (size_t)klen), &loc);
    if (rc < 0)
        return rc;
    if (!rc || loc.e.type == KV_T_DEL)
        return KV_ENOENT;
    if (*len < (int)loc.e.vlen) {
        *len = loc.e.vlen;
        return KV_ETOOSMALL;
    }
    if (loc.e.vlen && !buf)
        return KV_EINVAL;
    rc = fl_read(kv, loc.sec, loc.e.doff + loc.e.klen, buf, loc.e.vlen);
    if (rc)
        return rc;
    *len = loc.e.vlen;
    return KV_OK;
}

/* 1 when the record's value equals val, 0 if not, or a negative code. */
static int same_value(struct kv_store *kv, const struct kv_loc *loc, const uint8_t *val, uint32_t vlen)
{
    uint8_t buf[KV_RBUF];
    uint32_t done;
    int rc;

    if (loc->e.type != KV_T_SET || loc->e.vlen != vlen)
        return 0;
    for (done = 0; done < vlen;) {
        uint32_t n = vlen - done < KV_RBUF ? vlen - done : KV_RBUF;

        rc = fl_read(kv, loc->sec, loc->e.doff + loc->e.klen + done, buf, n);
        if (rc)
            return rc;
        if (memcmp(buf, val + done, n))
            return 0;
        done += n;
    }
    return 1;
}

int kv_set(struct kv_store *kv, const char *key, const void *val, int len)
{
    const uint8_t *k = (const uint8_t *)key;
    struct kv_loc loc;
    uint32_t khash;
    int klen = key_len(key), rc;

    if (!mounted(kv) || klen < 0 || len < 0 || len > KV_MAX_VALUE || (len && !val))
        return KV_EINVAL;
    khash = crc32_of(k, (size_t)klen);
    rc = find_newest(kv, k, (uint32_t)klen, khash, &loc);
    if (rc < 0)
        return rc;
    if (rc) {
        /* Rewriting the same value would only wear the flash. */
        rc = same_value(kv, &loc, val, (uint32_t)len);
        if (rc)
            return rc < 0 ? rc : KV_OK;
    }
    return append_new(kv, KV_T_SET, k, (uint32_t)klen, khash, val, (uint32_t)len);
}

int kv_del(struct kv_store *kv, const char *key)
{
    const uint8_t *k = (const uint8_t *)key;
    struct kv_loc loc;
    uint32_t khash;
    int klen = key_len(key), rc;

    if (!mounted(kv) || klen < 0)
        return KV_EINVAL;
    khash = crc32_of(k, (size_t)klen);
    rc = find_newest(kv, k, (uint32_t)klen, khash, &loc);
    if (rc < 0)
        return rc;
    if (!rc || loc.e.type == KV_T_DEL)
        return KV_ENOENT;
    return append_new(kv, KV_T_DEL, k, (uint32_t)klen, khash, NULL, 0);
}

int kv_foreach(struct kv_store *kv, void (*fn)(void *ctx, const char *key,
               const uint8_t *val, int len), void *ctx)
{
    uint8_t kbuf[KV_MAX_KEY];
    uint8_t vbuf[KV_MAX_VALUE];
    char name[KV_MAX_KEY + 1];
    struct kv_ent e;
    uint32_t k;
    int s, st, rc, count = 0;

    if (!mounted(kv))
        return 0;
    for (s = 0; s < kv->nsec; s++) {
        if (!kv->sec[s].used)
            continue;
        for (k = 0; k < kv->sec[s].nslots; k++) {
            if (ent_read(kv, s, k, &e, &st) || st != SLOT_VALID || e.type != KV_T_SET)
                continue;
            rc = is_newest(kv, s, k, &e, kbuf);
            if (rc <= 0)
                continue;
            if (fn) {
                if (fl_read(kv, s, e.doff + e.klen, vbuf, e.vlen))
                    continue;
                memcpy(name, kbuf, e.klen);
                name[e.klen] = '\0';
                fn(ctx, name, vbuf, e.vlen);
            }
            count++;
        }
    }
    return count;
}
