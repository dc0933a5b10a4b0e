/*
 * flashsim.c - the NOR flash model.
 *
 * Physics modelled:
 *   - erase works on whole sectors and sets every byte to the erase value;
 *   - programming only pulls bits to zero: a byte becomes old AND new, so a
 *     program that asks a 0 bit to become 1 leaves it 0 (and is a violation);
 *   - a program starts and ends on the program unit (absolute chip offsets);
 *   - on a program-once chip each program unit takes one program per erase
 *     (the `programmed` bitmap, one bit per unit, set by a program and
 *     cleared by the erase of its sector).
 *
 * Accounting:
 *   - every program call is one numbered op; an erase of k sectors is k
 *     numbered ops, one per sector, so a power cut can fall between them;
 *   - a call rejected for range, alignment or permission is one numbered op
 *     (an erase too, whatever its length) that changes nothing;
 *   - a call that never reaches the chip (NULL model or buffer, unknown
 *     partition) is not an op: no number, no hook, no counters;
 *   - meta->programs and meta->erases count numbered ops, including rejected
 *     and cut ones, so op_seq == programs + erases always; erase_count[]
 *     counts sectors actually erased (wear);
 *   - reads are counted in meta->reads and never numbered (seq 0).
 *
 * Power cut: the hook's "before" call may return non-zero. The op's number
 * is consumed (numbering stays the same whether or not a cut happens, so a
 * fault plan "cut before op k" means the same op on every run), nothing
 * changes, no "after" call is made, and the caller gets FLASHSIM_ECUT.
 *
 * Freestanding: no OS calls, no allocation; the chip bytes and the
 * persistent state are caller memory.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "flashsim.h"

#define FS_OPT_WRITE 0x2u /* PAR_OPT_WRITE_EN of hal/soc/flash.h */

static int is_pow2(uint32_t v)
{
    return v && !(v & (v - 1));
}

static size_t meta_bytes(const struct flashsim_geom *g)
{
    return sizeof(struct flashsim_meta) + (size_t)(g->size / g->sector_size) * sizeof(uint32_t);
}

static size_t bitmap_bytes(const struct flashsim_geom *g)
{
    if (!g->program_once)
        return 0;
    return ((size_t)(g->size / g->program_unit) + 7) / 8;
}

int flashsim_geom_check(const struct flashsim_geom *g)
{
    if (!g || !is_pow2(g->sector_size) || !g->size || g->size % g->sector_size)
        return FLASHSIM_EINVAL;
    if (!is_pow2(g->program_unit) || g->program_unit > g->sector_size)
        return FLASHSIM_EINVAL;
    return FLASHSIM_OK;
}

size_t flashsim_state_size(const struct flashsim_geom *g)
{
    size_t align = _Alignof(struct flashsim_meta);
    size_t n;

    if (flashsim_geom_check(g))
        return 0;
    n = meta_bytes(g) + bitmap_bytes(g);
    return (n + align - 1) / align * align;
}

static void bit_set(uint8_t *bm, uint32_t i)
{
    bm[i >> 3] = (uint8_t)(bm[i >> 3] | (1u << (i & 7)));
}

static void bit_clear(uint8_t *bm, uint32_t i)
{
    bm[i >> 3] = (uint8_t)(bm[i >> 3] & ~(1u << (i & 7)));
}

static int bit_get(const uint8_t *bm, uint32_t i)
{
    return (bm[i >> 3] >> (i & 7)) & 1;
}

/* Without metadata the program-once state is unknown: a unit holding any
 * non-erased byte has certainly been programmed since its last erase. */
static void bitmap_from_contents(struct flashsim *fs)
{
    uint32_t pu = fs->geom.program_unit, units = fs->geom.size / pu, u, i;

    for (u = 0; u < units; u++) {
        const uint8_t *p = fs->mem + (size_t)u * pu;

        for (i = 0; i < pu; i++) {
            if (p[i] != fs->geom.erase_value) {
                bit_set(fs->programmed, u);
                break;
            }
        }
    }
}

int flashsim_init(struct flashsim *fs, const struct flashsim_geom *g, uint8_t *mem,
                  void *state, int fresh)
{
    struct flashsim_meta *m = state;
    uint32_t nsec;

    if (!fs || !mem || !state || flashsim_geom_check(g))
        return FLASHSIM_EINVAL;
    if ((uintptr_t)state % _Alignof(struct flashsim_meta))
        return FLASHSIM_EINVAL;
    nsec = g->size / g->sector_size;
    if (m->magic == FLASHSIM_META_MAGIC && m->version == FLASHSIM_META_VERSION &&
        m->nsectors != nsec)
        return FLASHSIM_EINVAL; /* state of a different geometry */

    memset(fs, 0, sizeof(*fs));
    fs->geom = *g;
    fs->mem = mem;
    fs->meta = m;
    fs->programmed = g->program_once ? (uint8_t *)state + meta_bytes(g) : NULL;

    if (m->magic != FLASHSIM_META_MAGIC || m->version != FLASHSIM_META_VERSION) {
        memset(state, 0, flashsim_state_size(g));
        m->magic = FLASHSIM_META_MAGIC;
        m->version = FLASHSIM_META_VERSION;
        m->nsectors = nsec;
        if (fresh)
            memset(mem, g->erase_value, g->size);
        else if (fs->programmed)
            bitmap_from_contents(fs);
    }
    if (m->viol_next >= FLASHSIM_VIOL_KEEP)
        m->viol_next = 0;
    return FLASHSIM_OK;
}

const struct flashsim_part *flashsim_part(const struct flashsim *fs, int id)
{
    int i;

    if (!fs)
        return NULL;
    for (i = 0; i < fs->nparts; i++)
        if (fs->parts[i].id == id)
            return &fs->parts[i];
    return NULL;
}

int flashsim_add_part(struct flashsim *fs, const struct flashsim_part *p)
{
    struct flashsim_part *d;

    if (!fs || !p || fs->nparts >= FLASHSIM_MAX_PARTS)
        return FLASHSIM_EINVAL;
    /* op.part is 16 bits; FLASHSIM_CHIP is reserved; ids are unique. */
    if (p->id == FLASHSIM_CHIP || p->id < INT16_MIN || p->id > INT16_MAX || flashsim_part(fs, p->id))
        return FLASHSIM_EINVAL;
    if (!p->length || p->start >= fs->geom.size || p->length > fs->geom.size - p->start)
        return FLASHSIM_EINVAL;
    d = &fs->parts[fs->nparts++];
    *d = *p;
    d->name[FLASHSIM_NAME_LEN - 1] = '\0';
    return FLASHSIM_OK;
}

/* Where a call lands: the partition (NULL for CHIP), its base and length. */
struct target {
    const struct flashsim_part *p;
    uint32_t base;
    uint32_t limit;
    uint8_t oor; /* violation for a range that leaves it */
};

static int resolve(const struct flashsim *fs, int part, struct target *t)
{
    if (part == FLASHSIM_CHIP) {
        t->p = NULL;
        t->base = 0;
        t->limit = fs->geom.size;
        t->oor = FLASHSIM_V_OUT_OF_CHIP;
        return FLASHSIM_OK;
    }
    t->p = flashsim_part(fs, part);
    if (!t->p)
        return FLASHSIM_ENOENT;
    t->base = t->p->start;
    t->limit = t->p->length;
    t->oor = FLASHSIM_V_OUT_OF_PARTITION;
    return FLASHSIM_OK;
}

static int in_range(const struct target *t, uint32_t off, uint32_t len)
{
    return (uint64_t)off + len <= t->limit;
}

static void op_fill(struct flashsim_op *op, int kind, int part, const struct target *t,
                    uint32_t off, uint32_t len)
{
    memset(op, 0, sizeof(*op));
    op->kind = (uint8_t)kind;
    op->part = (int16_t)part;
    op->addr = t->base + off;
    op->off = off;
    op->len = len;
}

static void record_violation(struct flashsim *fs, const struct flashsim_op *op)
{
    struct flashsim_meta *m = fs->meta;
    uint32_t slot = m->viol_next % FLASHSIM_VIOL_KEEP;

    m->violations++;
    m->viol[slot] = *op;
    m->viol_next = (slot + 1) % FLASHSIM_VIOL_KEEP;
}

/* Ends a numbered op that reached its "before" call and was not cut. */
static int op_finish(struct flashsim *fs, struct flashsim_op *op, uint8_t viol, int rc)
{
    op->violation = viol;
    op->result = rc;
    if (viol != FLASHSIM_V_NONE)
        record_violation(fs, op);
    if (fs->hook)
        fs->hook(fs->hook_ctx, op, 0);
    return rc;
}

static int cut_before(struct flashsim *fs, const struct flashsim_op *op)
{
    return fs->hook && fs->hook(fs->hook_ctx, op, 1) != 0;
}

int flashsim_read(struct flashsim *fs, int part, uint32_t off, void *buf, uint32_t len)
{
    struct target t;
    struct flashsim_op op;
    int rc;

    if (!fs || !fs->meta || (!buf && len))
        return FLASHSIM_EINVAL;
    rc = resolve(fs, part, &t);
    if (rc)
        return rc;
    fs->meta->reads++;
    op_fill(&op, FLASHSIM_OP_READ, part, &t, off, len);
    if (!in_range(&t, off, len))
        return op_finish(fs, &op, t.oor, FLASHSIM_ERANGE);
    if (len)
        memcpy(buf, fs->mem + op.addr, len);
    return op_finish(fs, &op, FLASHSIM_V_NONE, FLASHSIM_OK);
}

/* Range, alignment and permission checks shared by program and erase. */
static uint8_t precheck(const struct flashsim *fs, const struct target *t, int kind,
                        uint32_t off, uint32_t len, int *rc)
{
    uint32_t unit = kind == FLASHSIM_OP_ERASE ? fs->geom.sector_size : fs->geom.program_unit;
    uint32_t addr = t->base + off;

    if (!in_range(t, off, len)) {
        *rc = FLASHSIM_ERANGE;
        return t->oor;
    }
    if (addr % unit || len % unit) {
        *rc = FLASHSIM_EINVAL;
        return kind == FLASHSIM_OP_ERASE ? FLASHSIM_V_ERASE_UNALIGNED : FLASHSIM_V_MISALIGNED_PROGRAM;
    }
    if (t->p && !(t->p->options & FS_OPT_WRITE)) {
        *rc = FLASHSIM_EIO;
        return FLASHSIM_V_READ_ONLY;
    }
    *rc = FLASHSIM_OK;
    return FLASHSIM_V_NONE;
}

int flashsim_program(struct flashsim *fs, int part, uint32_t off, const void *buf, uint32_t len)
{
    const uint8_t *src = buf;
    struct target t;
    struct flashsim_op op;
    uint8_t viol;
    uint32_t i;
    int rc;

    if (!fs || !fs->meta || (!buf && len))
        return FLASHSIM_EINVAL;
    rc = resolve(fs, part, &t);
    if (rc)
        return rc;
    op_fill(&op, FLASHSIM_OP_PROGRAM, part, &t, off, len);
    op.seq = ++fs->meta->op_seq;
    fs->meta->programs++;
    viol = precheck(fs, &t, FLASHSIM_OP_PROGRAM, off, len, &rc);
    op.violation = viol;
    if (cut_before(fs, &op))
        return FLASHSIM_ECUT;
    if (viol != FLASHSIM_V_NONE)
        return op_finish(fs, &op, viol, rc);

    if (fs->programmed && len) {
        uint32_t u0 = op.addr / fs->geom.program_unit;
        uint32_t u1 = (op.addr + len) / fs->geom.program_unit;

        for (i = u0; i < u1; i++) {
            if (bit_get(fs->programmed, i))
                viol = FLASHSIM_V_PROGRAM_TWICE;
            bit_set(fs->programmed, i);
        }
    }
    for (i = 0; i < len; i++) {
        uint8_t *cell = fs->mem + op.addr + i;

        if ((src[i] & (uint8_t)~*cell) && viol == FLASHSIM_V_NONE)
            viol = FLASHSIM_V_PROGRAM_NOT_ERASED;
        *cell &= src[i];
    }
    return op_finish(fs, &op, viol, viol == FLASHSIM_V_NONE ? FLASHSIM_OK : FLASHSIM_EIO);
}

static void erase_sector(struct flashsim *fs, uint32_t sector)
{
    uint32_t ss = fs->geom.sector_size;

    memset(fs->mem + (size_t)sector * ss, fs->geom.erase_value, ss);
    fs->meta->erase_count[sector]++;
    if (fs->programmed) {
        uint32_t per = ss / fs->geom.program_unit, u;

        for (u = sector * per; u < (sector + 1) * per; u++)
            bit_clear(fs->programmed, u);
    }
}

int flashsim_erase(struct flashsim *fs, int part, uint32_t off, uint32_t len)
{
    uint32_t ss, done;
    struct target t;
    struct flashsim_op op;
    uint8_t viol;
    int rc;

    if (!fs || !fs->meta)
        return FLASHSIM_EINVAL;
    rc = resolve(fs, part, &t);
    if (rc)
        return rc;
    ss = fs->geom.sector_size;
    viol = precheck(fs, &t, FLASHSIM_OP_ERASE, off, len, &rc);
    if (viol != FLASHSIM_V_NONE) {
        /* Rejected as a whole: one numbered op that changes nothing. */
        op_fill(&op, FLASHSIM_OP_ERASE, part, &t, off, len);
        op.seq = ++fs->meta->op_seq;
        fs->meta->erases++;
        op.violation = viol;
        if (cut_before(fs, &op))
            return FLASHSIM_ECUT;
        return op_finish(fs, &op, viol, rc);
    }
    for (done = 0; done < len; done += ss) {
        op_fill(&op, FLASHSIM_OP_ERASE, part, &t, off + done, ss);
        op.seq = ++fs->meta->op_seq;
        fs->meta->erases++;
        if (cut_before(fs, &op))
            return FLASHSIM_ECUT;
        erase_sector(fs, op.addr / ss);
        op_finish(fs, &op, FLASHSIM_V_NONE, FLASHSIM_OK);
    }
    return FLASHSIM_OK;
}

const char *flashsim_violation_name(int v)
{
    static const char *const names[FLASHSIM_V_COUNT] = {
        [FLASHSIM_V_NONE] = "none",
        [FLASHSIM_V_OUT_OF_CHIP] = "out-of-chip",
        [FLASHSIM_V_OUT_OF_PARTITION] = "out-of-partition",
        [FLASHSIM_V_MISALIGNED_PROGRAM] = "misaligned-program",
        [FLASHSIM_V_ERASE_UNALIGNED] = "erase-unaligned",
        [FLASHSIM_V_PROGRAM_NOT_ERASED] = "program-not-erased",
        [FLASHSIM_V_PROGRAM_TWICE] = "program-twice",
        [FLASHSIM_V_READ_ONLY] = "read-only",
    };

    if (v < 0 || v >= FLASHSIM_V_COUNT)
        return "unknown";
    return names[v];
}

const char *flashsim_opkind_name(int k)
{
    switch (k) {
    case FLASHSIM_OP_READ:
        return "read";
    case FLASHSIM_OP_PROGRAM:
        return "program";
    case FLASHSIM_OP_ERASE:
        return "erase";
    default:
        return "unknown";
    }
}
