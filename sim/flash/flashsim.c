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
 * Phases: every op (reads too) carries fs->phase as it was when the op was
 * made; the caller moves it as the OTA flow goes on.
 *
 * Built-in fault (fs->fault), checked after the hook's "before" call:
 *   - it fires once, on the first numbered op matching at_seq, or else the
 *     nth op matching its selectors (phase, kinds, part and offset range);
 *     op->fault names it from then on (the "after" call, a violation);
 *   - CUT_BEFORE changes nothing; CUT_AFTER lets the op finish; TORN lands
 *     a program up to a drawn byte, whose unit lands bit by bit at random;
 *     PARTIAL_ERASE erases a sector up to a drawn byte and moves each later
 *     bit to the erase value at random (TORN and PARTIAL_ERASE swap on the
 *     other op kind, so one mid-op mode sweeps every op). All four then cut
 *     power: on_cut, and FLASHSIM_ECUT if it returns. A rejected op is cut
 *     unchanged, or, with CUT_AFTER, recorded first;
 *   - FAIL is a driver error: nothing changes, no violation, FLASHSIM_EIO;
 *   - BITFLIP is a weak cell: one bit of the chosen range reads inverted on
 *     every read covering it, the chip bytes unchanged;
 *   - random choices come from splitmix64 seeded by fault.seed and the op
 *     seq (0 for the bit flip's position): a fault plan replays exactly.
 *
 * Freestanding: no OS calls, no allocation; the chip bytes and the
 * persistent state are caller memory.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "flashsim.h"

#define FS_OPT_WRITE 0x2u /* PAR_OPT_WRITE_EN of hal/soc/flash.h */

_Static_assert(sizeof(struct flashsim_op) == 32, "flashsim_op is kept in the metadata");

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

/* Sets bits [i0, i1) of bm; 1 if any of them was set already. Whole bytes
 * at a time between the partial bytes at either end. */
static int bits_test_set(uint8_t *bm, uint32_t i0, uint32_t i1)
{
    uint8_t seen = 0;

    for (; i0 < i1 && (i0 & 7); i0++) {
        seen |= (uint8_t)(bm[i0 >> 3] & (1u << (i0 & 7)));
        bit_set(bm, i0);
    }
    for (; i0 < i1 && i1 - i0 >= 8; i0 += 8) {
        seen |= bm[i0 >> 3];
        bm[i0 >> 3] = 0xFF;
    }
    for (; i0 < i1; i0++) {
        seen |= (uint8_t)(bm[i0 >> 3] & (1u << (i0 & 7)));
        bit_set(bm, i0);
    }
    return seen != 0;
}

/* Clears bits [i0, i1) of bm. */
static void bits_clear(uint8_t *bm, uint32_t i0, uint32_t i1)
{
    for (; i0 < i1 && (i0 & 7); i0++)
        bit_clear(bm, i0);
    if (i0 < i1 && i1 - i0 >= 8) {
        memset(bm + (i0 >> 3), 0, (i1 - i0) >> 3);
        i0 += (i1 - i0) & ~7u;
    }
    for (; i0 < i1; i0++)
        bit_clear(bm, i0);
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
    /* op.part is 16 bits; FLASHSIM_CHIP and FLASHSIM_ANY_PART are reserved;
     * ids are unique. */
    if (p->id == FLASHSIM_CHIP || p->id == FLASHSIM_ANY_PART || p->id < INT16_MIN ||
        p->id > INT16_MAX || flashsim_part(fs, p->id))
        return FLASHSIM_EINVAL;
    if (!p->length || p->start >= fs->geom.size || p->length > fs->geom.size - p->start)
        return FLASHSIM_EINVAL;
    d = &fs->parts[fs->nparts++];
    *d = *p;
    d->name[FLASHSIM_NAME_LEN - 1] = '\0';
    return FLASHSIM_OK;
}

/* ---- fault injection ------------------------------------------------------ */

/* splitmix64: small, freestanding, and the same (seed, op) gives the same
 * sequence on every host. */
struct rng {
    uint64_t s;
};

static void rng_seed(struct rng *r, uint64_t seed, uint64_t seq)
{
    r->s = seed ^ (seq * 0xD1B54A32D192ED03ull);
}

static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0: a multiply, no 64-bit division. */
static uint32_t rng_below(struct rng *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

static uint8_t rng_byte(struct rng *r)
{
    return (uint8_t)(rng_next(r) >> 56);
}

/* Picks the weak bit of a BITFLIP fault once part can be resolved. */
static void flip_choose(struct flashsim *fs)
{
    struct flashsim_fault *f = &fs->fault;
    uint32_t base = 0, limit = fs->geom.size, hi;
    struct rng r;

    if (f->part != FLASHSIM_CHIP && f->part != FLASHSIM_ANY_PART) {
        const struct flashsim_part *p = flashsim_part(fs, f->part);

        if (!p)
            return; /* not in the table yet: try again at the next read */
        base = p->start;
        limit = p->length;
    }
    hi = f->off_hi < limit ? f->off_hi : limit;
    if (!f->off_hi || f->off_lo >= hi) {
        f->flip_ready = 2;
        return;
    }
    rng_seed(&r, f->seed, 0);
    f->flip_addr = base + f->off_lo + rng_below(&r, hi - f->off_lo);
    f->flip_bit = (uint8_t)rng_below(&r, 8);
    f->flip_ready = 1;
}

void flashsim_fault_arm(struct flashsim *fs, const struct flashsim_fault *f)
{
    if (!fs)
        return;
    if (!f) {
        flashsim_fault_clear(fs);
        return;
    }
    fs->fault = *f;
    fs->fault.matched = 0;
    fs->fault.fired = 0;
    fs->fault.flip_ready = 0;
    fs->fault.flip_addr = 0;
    fs->fault.flip_bit = 0;
    if (f->mode == FLASHSIM_F_BITFLIP)
        flip_choose(fs);
}

void flashsim_fault_clear(struct flashsim *fs)
{
    if (fs)
        memset(&fs->fault, 0, sizeof(fs->fault));
}

static int fault_selects(const struct flashsim_fault *f, const struct flashsim_op *op)
{
    uint64_t start, end;

    if (f->phase != FLASHSIM_PH_NONE && op->phase != f->phase)
        return 0;
    if (f->kinds && !(f->kinds & (1u << op->kind)))
        return 0;
    if (f->part == FLASHSIM_ANY_PART) {
        start = op->addr;
    } else {
        if (op->part != f->part)
            return 0;
        start = op->off;
    }
    /* An empty op covers its start: a zero-length program can be selected. */
    end = start + (op->len ? op->len : 1);
    if (end <= f->off_lo)
        return 0;
    return !f->off_hi || start < f->off_hi;
}

/* The fault's mode if it fires on this numbered op (and marks the op), else
 * FLASHSIM_F_NONE. */
static uint8_t fault_fire(struct flashsim *fs, struct flashsim_op *op)
{
    struct flashsim_fault *f = &fs->fault;

    if (f->mode == FLASHSIM_F_NONE || f->mode >= FLASHSIM_F_BITFLIP || f->fired)
        return FLASHSIM_F_NONE;
    if (f->at_seq) {
        if (op->seq != f->at_seq)
            return FLASHSIM_F_NONE;
        f->matched++;
    } else {
        if (!fault_selects(f, op))
            return FLASHSIM_F_NONE;
        if (++f->matched < (f->nth ? f->nth : 1))
            return FLASHSIM_F_NONE;
    }
    f->fired = 1;
    op->fault = f->mode;
    return f->mode;
}

/* Power goes. on_cut is meant not to return; if it does, the call ends. */
static int power_cut(struct flashsim *fs, const struct flashsim_op *op)
{
    if (fs->on_cut)
        fs->on_cut(fs->cut_ctx, op);
    return FLASHSIM_ECUT;
}

/* A cut before the op or in its middle: result FLASHSIM_ECUT. */
static int cut_now(struct flashsim *fs, struct flashsim_op *op)
{
    op->result = FLASHSIM_ECUT;
    return power_cut(fs, op);
}

/* ---- operations ------------------------------------------------------------ */

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

static void op_fill(const struct flashsim *fs, struct flashsim_op *op, int kind, int part,
                    const struct target *t, uint32_t off, uint32_t len)
{
    memset(op, 0, sizeof(*op));
    op->phase = fs->phase;
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
    op_fill(fs, &op, FLASHSIM_OP_READ, part, &t, off, len);
    if (!in_range(&t, off, len))
        return op_finish(fs, &op, t.oor, FLASHSIM_ERANGE);
    if (len) {
        struct flashsim_fault *f = &fs->fault;

        memcpy(buf, fs->mem + op.addr, len);
        if (f->mode == FLASHSIM_F_BITFLIP && !f->flip_ready)
            flip_choose(fs);
        if (f->mode == FLASHSIM_F_BITFLIP && f->flip_ready == 1 && f->flip_addr >= op.addr &&
            f->flip_addr - op.addr < len) {
            uint8_t *b = (uint8_t *)buf + (f->flip_addr - op.addr);

            *b = (uint8_t)(*b ^ (1u << f->flip_bit));
            op.fault = FLASHSIM_F_BITFLIP;
            f->matched++;
            f->fired = 1;
        }
    }
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

/* A driver failure injected by FLASHSIM_F_FAIL: nothing changed, no
 * violation, the "after" call is made. */
static int op_fail(struct flashsim *fs, struct flashsim_op *op)
{
    return op_finish(fs, op, FLASHSIM_V_NONE, FLASHSIM_EIO);
}

/* Programs the op's first n bytes (whole units) as the chip does. With rng,
 * the unit after them is torn: each bit it would clear is cleared with
 * probability 1/2. Units reached are marked programmed. Returns the
 * violation of the units reached. */
static uint8_t program_apply(struct flashsim *fs, const struct flashsim_op *op, const uint8_t *src,
                             uint32_t n, struct rng *torn)
{
    uint32_t pu = fs->geom.program_unit, reach = torn ? n + pu : n, i = 0;
    uint8_t *cell = fs->mem + op->addr;
    uint8_t viol = FLASHSIM_V_NONE, up8 = 0;
    uintptr_t up = 0;

    if (fs->programmed && reach &&
        bits_test_set(fs->programmed, op->addr / pu, (op->addr + reach) / pu))
        viol = FLASHSIM_V_PROGRAM_TWICE;
    /* Whole units: each cell becomes old AND new; a bit asked to rise
     * (new 1 over old 0) is a violation. A machine word at a time. */
    for (; n - i >= sizeof(uintptr_t); i += sizeof(uintptr_t)) {
        uintptr_t w, c;

        memcpy(&w, src + i, sizeof(w));
        memcpy(&c, cell + i, sizeof(c));
        up |= w & ~c;
        c &= w;
        memcpy(cell + i, &c, sizeof(c));
    }
    for (; i < n; i++) {
        up8 |= (uint8_t)(src[i] & (uint8_t)~cell[i]);
        cell[i] &= src[i];
    }
    /* The torn unit: a random subset of the bits being cleared is cleared. */
    for (; i < reach; i++) {
        up8 |= (uint8_t)(src[i] & (uint8_t)~cell[i]);
        cell[i] &= (uint8_t)~(cell[i] & (uint8_t)~src[i] & rng_byte(torn));
    }
    if ((up || up8) && viol == FLASHSIM_V_NONE)
        viol = FLASHSIM_V_PROGRAM_NOT_ERASED;
    return viol;
}

/* TORN on a clean, non-empty program: the unit holding a drawn byte tears,
 * the units before it land, the rest is untouched; then power goes. */
static int program_torn(struct flashsim *fs, struct flashsim_op *op, const uint8_t *src)
{
    uint32_t pu = fs->geom.program_unit, p;
    struct rng r;
    uint8_t viol;

    rng_seed(&r, fs->fault.seed, op->seq);
    p = rng_below(&r, op->len);
    viol = program_apply(fs, op, src, p / pu * pu, &r); /* op->addr is unit-aligned */
    op->violation = viol;
    op->result = FLASHSIM_ECUT;
    if (viol != FLASHSIM_V_NONE)
        record_violation(fs, op);
    return power_cut(fs, op);
}

int flashsim_program(struct flashsim *fs, int part, uint32_t off, const void *buf, uint32_t len)
{
    const uint8_t *src = buf;
    struct target t;
    struct flashsim_op op;
    uint8_t viol, mode;
    int rc;

    if (!fs || !fs->meta || (!buf && len))
        return FLASHSIM_EINVAL;
    rc = resolve(fs, part, &t);
    if (rc)
        return rc;
    op_fill(fs, &op, FLASHSIM_OP_PROGRAM, part, &t, off, len);
    op.seq = ++fs->meta->op_seq;
    fs->meta->programs++;
    viol = precheck(fs, &t, FLASHSIM_OP_PROGRAM, off, len, &rc);
    op.violation = viol;
    if (cut_before(fs, &op))
        return FLASHSIM_ECUT;
    mode = fault_fire(fs, &op);
    if (mode == FLASHSIM_F_FAIL)
        return op_fail(fs, &op);
    if (mode == FLASHSIM_F_PARTIAL_ERASE)
        mode = FLASHSIM_F_TORN;
    if (mode == FLASHSIM_F_CUT_BEFORE ||
        (mode == FLASHSIM_F_TORN && (viol != FLASHSIM_V_NONE || !len)))
        return cut_now(fs, &op);
    if (viol != FLASHSIM_V_NONE) {
        rc = op_finish(fs, &op, viol, rc);
        return mode == FLASHSIM_F_CUT_AFTER ? power_cut(fs, &op) : rc;
    }
    if (mode == FLASHSIM_F_TORN)
        return program_torn(fs, &op, src);

    viol = program_apply(fs, &op, src, len, NULL);
    rc = op_finish(fs, &op, viol, viol == FLASHSIM_V_NONE ? FLASHSIM_OK : FLASHSIM_EIO);
    return mode == FLASHSIM_F_CUT_AFTER ? power_cut(fs, &op) : rc;
}

static void erase_sector(struct flashsim *fs, uint32_t sector)
{
    uint32_t ss = fs->geom.sector_size;

    memset(fs->mem + (size_t)sector * ss, fs->geom.erase_value, ss);
    fs->meta->erase_count[sector]++;
    if (fs->programmed) {
        uint32_t per = ss / fs->geom.program_unit;

        bits_clear(fs->programmed, sector * per, (sector + 1) * per);
    }
}

/* PARTIAL_ERASE: the erase of a sector stops at a drawn byte p. Bytes
 * before p are erased; each later bit short of the erase value gets there
 * with probability 1/2. The erase counts as wear; only units wholly before
 * p lose their programmed mark. Then power goes. */
static int erase_partial(struct flashsim *fs, struct flashsim_op *op)
{
    uint32_t ss = fs->geom.sector_size, pu = fs->geom.program_unit, sector = op->addr / ss;
    uint8_t ev = fs->geom.erase_value, *sec = fs->mem + (size_t)sector * ss;
    uint32_t p, i;
    struct rng r;

    rng_seed(&r, fs->fault.seed, op->seq);
    p = rng_below(&r, ss);
    memset(sec, ev, p);
    for (i = p; i < ss; i++)
        sec[i] = (uint8_t)(sec[i] ^ ((sec[i] ^ ev) & rng_byte(&r)));
    fs->meta->erase_count[sector]++;
    if (fs->programmed) {
        uint32_t u0 = sector * (ss / pu);

        bits_clear(fs->programmed, u0, u0 + p / pu);
    }
    return cut_now(fs, op);
}

int flashsim_erase(struct flashsim *fs, int part, uint32_t off, uint32_t len)
{
    uint32_t ss, done;
    struct target t;
    struct flashsim_op op;
    uint8_t viol, mode;
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
        op_fill(fs, &op, FLASHSIM_OP_ERASE, part, &t, off, len);
        op.seq = ++fs->meta->op_seq;
        fs->meta->erases++;
        op.violation = viol;
        if (cut_before(fs, &op))
            return FLASHSIM_ECUT;
        mode = fault_fire(fs, &op);
        if (mode == FLASHSIM_F_FAIL)
            return op_fail(fs, &op);
        if (mode != FLASHSIM_F_NONE && mode != FLASHSIM_F_CUT_AFTER)
            return cut_now(fs, &op); /* before, torn, partial: unchanged */
        rc = op_finish(fs, &op, viol, rc);
        return mode == FLASHSIM_F_CUT_AFTER ? power_cut(fs, &op) : rc;
    }
    for (done = 0; done < len; done += ss) {
        op_fill(fs, &op, FLASHSIM_OP_ERASE, part, &t, off + done, ss);
        op.seq = ++fs->meta->op_seq;
        fs->meta->erases++;
        if (cut_before(fs, &op))
            return FLASHSIM_ECUT;
        mode = fault_fire(fs, &op);
        if (mode == FLASHSIM_F_FAIL)
            return op_fail(fs, &op);
        if (mode == FLASHSIM_F_CUT_BEFORE)
            return cut_now(fs, &op);
        if (mode == FLASHSIM_F_TORN || mode == FLASHSIM_F_PARTIAL_ERASE)
            return erase_partial(fs, &op);
        erase_sector(fs, op.addr / ss);
        op_finish(fs, &op, FLASHSIM_V_NONE, FLASHSIM_OK);
        if (mode == FLASHSIM_F_CUT_AFTER)
            return power_cut(fs, &op);
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

static const char *const phase_names[FLASHSIM_PH_COUNT] = {
    [FLASHSIM_PH_NONE] = "none",
    [FLASHSIM_PH_INIT_ERASE] = "init-erase",
    [FLASHSIM_PH_DOWNLOAD] = "download-write",
    [FLASHSIM_PH_BREAKPOINT] = "breakpoint-save",
    [FLASHSIM_PH_BOOT_RECORD] = "boot-record",
    [FLASHSIM_PH_BOOT_COPY] = "bootloader-copy",
    [FLASHSIM_PH_BOOT_COUNTER] = "boot-counter",
    [FLASHSIM_PH_CONFIRM] = "confirm",
    [FLASHSIM_PH_KV] = "kv-write",
};

static const char *const fault_names[FLASHSIM_F_COUNT] = {
    [FLASHSIM_F_NONE] = "none",
    [FLASHSIM_F_CUT_BEFORE] = "before",
    [FLASHSIM_F_CUT_AFTER] = "after",
    [FLASHSIM_F_TORN] = "torn",
    [FLASHSIM_F_PARTIAL_ERASE] = "erase",
    [FLASHSIM_F_FAIL] = "fail",
    [FLASHSIM_F_BITFLIP] = "bitflip",
};

static int name_index(const char *const *names, int n, const char *name)
{
    int i;

    if (!name)
        return -1;
    for (i = 0; i < n; i++)
        if (!strcmp(names[i], name))
            return i;
    return -1;
}

const char *flashsim_phase_name(int ph)
{
    return ph < 0 || ph >= FLASHSIM_PH_COUNT ? "unknown" : phase_names[ph];
}

int flashsim_phase_parse(const char *name)
{
    return name_index(phase_names, FLASHSIM_PH_COUNT, name);
}

const char *flashsim_fault_name(int mode)
{
    return mode < 0 || mode >= FLASHSIM_F_COUNT ? "unknown" : fault_names[mode];
}

int flashsim_fault_parse(const char *name)
{
    return name_index(fault_names, FLASHSIM_F_COUNT, name);
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
