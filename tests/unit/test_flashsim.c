/*
 * test_flashsim.c - the NOR flash model and its file backend.
 *
 * Every rule and violation kind, random programs and erases against a
 * byte-by-byte model of the rules, the fixed check order, op numbering (one op
 * per program, one per erased sector, rejected ops numbered, reads not),
 * erase counts, program-once, the violation ring, power cuts through the
 * hook, phase tagging, every built-in fault mode (cut before/after, torn
 * program, partial erase, driver failure, bit flip) with its selectors and
 * seeded determinism, and the file backend: persistence across close/reopen
 * ("reboots"), the op log, the refusal of a file of the wrong size.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "sim/flash/flashsim.h"
#include "sim/flash/flashfile.h"

#define SEC   4096u
#define CHIP  (16 * SEC)
#define P_APP 1 /* HAL_PARTITION_APPLICATION */
#define P_OTA 3 /* HAL_PARTITION_OTA_TEMP */
#define P_RO  0 /* HAL_PARTITION_BOOTLOADER, read-only */
#define P_ODD 5 /* HAL_PARTITION_PARAMETER_1, not sector-aligned */
#define RW    3u
#define RO    1u

/* A chip in RAM, with the op log the hook sees. */
struct ram {
    struct flashsim fs;
    uint8_t *mem;
    void *state;
    struct flashsim_op log[256];
    int before[256];
    int nlog;
    uint64_t cut_at; /* cut power before the op with this seq (0: never) */
};

static int ram_hook(void *ctx, const struct flashsim_op *op, int before)
{
    struct ram *r = ctx;

    if (r->nlog < 256) {
        r->log[r->nlog] = *op;
        r->before[r->nlog] = before;
        r->nlog++;
    }
    return before && r->cut_at && op->seq == r->cut_at;
}

static void add(struct flashsim *fs, int id, const char *name, uint32_t start, uint32_t len,
                uint32_t opt)
{
    struct flashsim_part p;

    memset(&p, 0, sizeof(p));
    p.id = id;
    snprintf(p.name, sizeof(p.name), "%s", name);
    p.start = start;
    p.length = len;
    p.options = opt;
    assert_int_equal(flashsim_add_part(fs, &p), FLASHSIM_OK);
}

static struct ram *ram_new(uint32_t pu, int once)
{
    struct flashsim_geom g = {CHIP, SEC, pu, 0xFF, (uint8_t)once};
    struct ram *r = calloc(1, sizeof(*r));

    assert_non_null(r);
    r->mem = malloc(CHIP);
    r->state = calloc(1, flashsim_state_size(&g));
    assert_non_null(r->mem);
    assert_non_null(r->state);
    assert_int_equal(flashsim_init(&r->fs, &g, r->mem, r->state, 1), FLASHSIM_OK);
    add(&r->fs, P_RO, "BOOTLOADER", 0, 2 * SEC, RO);
    add(&r->fs, P_APP, "APPLICATION", 2 * SEC, 6 * SEC, RW);
    add(&r->fs, P_OTA, "OTA_TEMP", 8 * SEC, 6 * SEC, RW);
    add(&r->fs, P_ODD, "PARAMETER_1", 14 * SEC + 512, SEC, RW);
    r->fs.hook = ram_hook;
    r->fs.hook_ctx = r;
    return r;
}

static void ram_free(struct ram *r)
{
    free(r->mem);
    free(r->state);
    free(r);
}

static int all_equal(const uint8_t *p, size_t n, uint8_t v)
{
    while (n--)
        if (*p++ != v)
            return 0;
    return 1;
}

static void test_geom_check(void **state)
{
    struct flashsim_geom g = {CHIP, SEC, 8, 0xFF, 0};

    (void)state;
    assert_int_equal(flashsim_geom_check(&g), FLASHSIM_OK);
    g.sector_size = 3000;
    assert_int_equal(flashsim_geom_check(&g), FLASHSIM_EINVAL);
    g.sector_size = SEC;
    g.size = CHIP + 100;
    assert_int_equal(flashsim_geom_check(&g), FLASHSIM_EINVAL);
    g.size = 0;
    assert_int_equal(flashsim_geom_check(&g), FLASHSIM_EINVAL);
    g.size = CHIP;
    g.program_unit = 3;
    assert_int_equal(flashsim_geom_check(&g), FLASHSIM_EINVAL);
    g.program_unit = 2 * SEC;
    assert_int_equal(flashsim_geom_check(&g), FLASHSIM_EINVAL);
    g.program_unit = 0;
    assert_int_equal(flashsim_geom_check(&g), FLASHSIM_EINVAL);
    assert_int_equal(flashsim_geom_check(NULL), FLASHSIM_EINVAL);
}

static void test_init_and_state_size(void **state)
{
    struct flashsim_geom g = {CHIP, SEC, 8, 0xFF, 0};
    struct flashsim_geom g1 = {CHIP, SEC, 8, 0xFF, 1};
    size_t plain = flashsim_state_size(&g), once = flashsim_state_size(&g1);
    struct ram *r = ram_new(8, 1);

    (void)state;
    assert_true(plain >= sizeof(struct flashsim_meta) + 16 * sizeof(uint32_t));
    /* One bit per program unit for program-once chips. */
    assert_true(once >= plain + CHIP / 8 / 8);
    assert_true(all_equal(r->mem, CHIP, 0xFF));
    assert_int_equal(r->fs.meta->magic, FLASHSIM_META_MAGIC);
    assert_int_equal(r->fs.meta->version, FLASHSIM_META_VERSION);
    assert_int_equal(r->fs.meta->nsectors, 16);
    assert_int_equal(r->fs.meta->op_seq, 0);
    assert_non_null(r->fs.programmed);
    assert_ptr_equal(r->fs.meta, r->state);
    assert_true(r->fs.programmed + CHIP / 8 / 8 <= (uint8_t *)r->state + once);

    /* Re-binding keeps the metadata and the chip. */
    r->mem[5] = 0x12;
    r->fs.meta->op_seq = 77;
    assert_int_equal(flashsim_init(&r->fs, &g1, r->mem, r->state, 1), FLASHSIM_OK);
    assert_int_equal(r->fs.meta->op_seq, 77);
    assert_int_equal(r->mem[5], 0x12);
    /* The same state with another sector count is refused. */
    g1.sector_size = SEC / 2;
    assert_int_equal(flashsim_init(&r->fs, &g1, r->mem, r->state, 1), FLASHSIM_EINVAL);
    /* Misaligned state is refused. */
    assert_int_equal(flashsim_init(&r->fs, &g, r->mem, (uint8_t *)r->state + 1, 1), FLASHSIM_EINVAL);
    assert_int_equal(flashsim_init(&r->fs, &g, NULL, r->state, 1), FLASHSIM_EINVAL);
    ram_free(r);
    assert_int_equal(flashsim_state_size(NULL), 0);
}

static void test_parts(void **state)
{
    struct ram *r = ram_new(1, 0);
    struct flashsim_part p;
    const struct flashsim_part *q;
    int i;

    (void)state;
    q = flashsim_part(&r->fs, P_OTA);
    assert_non_null(q);
    assert_string_equal(q->name, "OTA_TEMP");
    assert_int_equal(q->start, 8 * SEC);
    assert_null(flashsim_part(&r->fs, 9));

    memset(&p, 0, sizeof(p));
    p.id = 9;
    p.start = CHIP - SEC;
    p.length = 2 * SEC; /* leaves the chip */
    assert_int_equal(flashsim_add_part(&r->fs, &p), FLASHSIM_EINVAL);
    p.length = 0;
    assert_int_equal(flashsim_add_part(&r->fs, &p), FLASHSIM_EINVAL);
    p.length = SEC;
    p.id = P_OTA; /* duplicate id */
    assert_int_equal(flashsim_add_part(&r->fs, &p), FLASHSIM_EINVAL);
    p.id = FLASHSIM_CHIP;
    assert_int_equal(flashsim_add_part(&r->fs, &p), FLASHSIM_EINVAL);
    /* Overlap is allowed (the board loader's business); the table fills. */
    for (i = 0; r->fs.nparts < FLASHSIM_MAX_PARTS; i++) {
        p.id = 100 + i;
        assert_int_equal(flashsim_add_part(&r->fs, &p), FLASHSIM_OK);
    }
    p.id = 999;
    assert_int_equal(flashsim_add_part(&r->fs, &p), FLASHSIM_EINVAL);
    ram_free(r);
}

static void test_program_and_rule(void **state)
{
    struct ram *r = ram_new(1, 0);
    uint8_t a[4] = {0xF0, 0x0F, 0x55, 0xFF}, b[4] = {0x3C, 0xFF, 0xFF, 0x00}, out[4];
    const struct flashsim_op *v;

    (void)state;
    assert_int_equal(flashsim_program(&r->fs, P_APP, 100, a, 4), FLASHSIM_OK);
    assert_int_equal(flashsim_read(&r->fs, P_APP, 100, out, 4), FLASHSIM_OK);
    assert_memory_equal(out, a, 4);
    assert_memory_equal(r->mem + 2 * SEC + 100, a, 4);
    /* b asks 0 bits of a to become 1: applied as AND, reported. */
    assert_int_equal(flashsim_program(&r->fs, P_APP, 100, b, 4), FLASHSIM_EIO);
    assert_int_equal(r->mem[2 * SEC + 100], 0xF0 & 0x3C);
    assert_int_equal(r->mem[2 * SEC + 101], 0x0F);
    assert_int_equal(r->mem[2 * SEC + 102], 0x55);
    assert_int_equal(r->mem[2 * SEC + 103], 0x00);
    assert_int_equal(r->fs.meta->violations, 1);
    v = &r->fs.meta->viol[0];
    assert_int_equal(v->violation, FLASHSIM_V_PROGRAM_NOT_ERASED);
    assert_int_equal(v->result, FLASHSIM_EIO);
    assert_int_equal(v->seq, 2);
    assert_int_equal(v->part, P_APP);
    assert_int_equal(v->addr, 2 * SEC + 100);
    assert_int_equal(v->off, 100);
    assert_int_equal(v->len, 4);
    assert_int_equal(r->fs.meta->viol_next, 1);
    /* Clearing more bits of programmed bytes is legal NOR. */
    out[0] = 0x10;
    assert_int_equal(flashsim_program(&r->fs, P_APP, 100, out, 1), FLASHSIM_OK);
    assert_int_equal(r->mem[2 * SEC + 100], 0x10);
    assert_int_equal(r->fs.meta->programs, 3);
    assert_int_equal(r->fs.meta->op_seq, 3);
    assert_int_equal(r->fs.meta->reads, 1);
    ram_free(r);
}

static void test_check_order_and_violations(void **state)
{
    struct ram *r = ram_new(8, 0);
    uint8_t d[16], snap[64];
    const struct flashsim_meta *m;

    (void)state;
    m = r->fs.meta;
    memset(d, 0, sizeof(d));
    memcpy(snap, r->mem + 2 * SEC, sizeof(snap));

    /* Unknown partition: not an op at all. */
    assert_int_equal(flashsim_program(&r->fs, 42, 0, d, 8), FLASHSIM_ENOENT);
    assert_int_equal(flashsim_erase(&r->fs, 42, 0, SEC), FLASHSIM_ENOENT);
    assert_int_equal(flashsim_read(&r->fs, 42, 0, d, 8), FLASHSIM_ENOENT);
    assert_int_equal(m->op_seq, 0);
    assert_int_equal(m->reads, 0);
    assert_int_equal(r->nlog, 0);

    /* Range beats alignment: misaligned and outside -> ERANGE. */
    assert_int_equal(flashsim_program(&r->fs, P_APP, 6 * SEC - 3, d, 5), FLASHSIM_ERANGE);
    assert_int_equal(m->viol[0].violation, FLASHSIM_V_OUT_OF_PARTITION);
    /* Alignment beats permission: misaligned on a read-only part -> EINVAL. */
    assert_int_equal(flashsim_program(&r->fs, P_RO, 4, d, 8), FLASHSIM_EINVAL);
    assert_int_equal(m->viol[1].violation, FLASHSIM_V_MISALIGNED_PROGRAM);
    assert_int_equal(flashsim_program(&r->fs, P_APP, 0, d, 12), FLASHSIM_EINVAL);
    assert_int_equal(m->viol[2].violation, FLASHSIM_V_MISALIGNED_PROGRAM);
    /* Permission. */
    assert_int_equal(flashsim_program(&r->fs, P_RO, 8, d, 8), FLASHSIM_EIO);
    assert_int_equal(m->viol[3].violation, FLASHSIM_V_READ_ONLY);
    assert_int_equal(flashsim_erase(&r->fs, P_RO, 0, SEC), FLASHSIM_EIO);
    assert_int_equal(m->viol[4].violation, FLASHSIM_V_READ_ONLY);
    assert_int_equal(m->viol[4].kind, FLASHSIM_OP_ERASE);
    /* Erase alignment is in absolute chip terms: PARAMETER_1 starts at
     * 14 sectors + 512, so its offset 3584 is a sector boundary. */
    assert_int_equal(flashsim_erase(&r->fs, P_ODD, 0, SEC), FLASHSIM_EINVAL);
    assert_int_equal(m->viol[5].violation, FLASHSIM_V_ERASE_UNALIGNED);
    assert_int_equal(flashsim_erase(&r->fs, P_APP, 0, SEC / 2), FLASHSIM_EINVAL);
    assert_int_equal(m->viol[6].violation, FLASHSIM_V_ERASE_UNALIGNED);
    assert_int_equal(flashsim_erase(&r->fs, P_APP, 5 * SEC, 2 * SEC), FLASHSIM_ERANGE);
    assert_int_equal(m->viol[7].violation, FLASHSIM_V_OUT_OF_PARTITION);
    /* Program alignment is absolute too. */
    assert_int_equal(flashsim_program(&r->fs, P_ODD, 0, d, 8), FLASHSIM_OK);
    assert_int_equal(flashsim_program(&r->fs, P_ODD, 4, d, 8), FLASHSIM_EINVAL);
    /* Chip-absolute ops: only chip bounds, permission always granted. */
    assert_int_equal(flashsim_program(&r->fs, FLASHSIM_CHIP, CHIP - 8, d, 16), FLASHSIM_ERANGE);
    assert_int_equal(m->viol[9].violation, FLASHSIM_V_OUT_OF_CHIP);
    assert_int_equal(flashsim_program(&r->fs, FLASHSIM_CHIP, 8, d, 8), FLASHSIM_OK);
    assert_int_equal(r->mem[8], 0);
    assert_int_equal(flashsim_erase(&r->fs, FLASHSIM_CHIP, 0, SEC), FLASHSIM_OK);
    assert_int_equal(r->mem[8], 0xFF);
    /* Reads out of range: violations, ERANGE, counted but not numbered. */
    assert_int_equal(flashsim_read(&r->fs, P_APP, 6 * SEC, d, 1), FLASHSIM_ERANGE);
    assert_int_equal(m->viol[10].violation, FLASHSIM_V_OUT_OF_PARTITION);
    assert_int_equal(m->viol[10].seq, 0);
    assert_int_equal(m->viol[10].kind, FLASHSIM_OP_READ);
    assert_int_equal(flashsim_read(&r->fs, FLASHSIM_CHIP, CHIP - 1, d, 2), FLASHSIM_ERANGE);
    assert_int_equal(m->viol[11].violation, FLASHSIM_V_OUT_OF_CHIP);
    /* Offsets that would wrap 32 bits are out of range, not wrapped. */
    assert_int_equal(flashsim_read(&r->fs, P_APP, 0xFFFFFFF0u, d, 0x20), FLASHSIM_ERANGE);

    assert_int_equal(m->violations, 13);
    assert_int_equal(m->reads, 3);
    /* Every program and erase call above, rejected or not, is numbered. */
    assert_int_equal(m->op_seq, 13);
    assert_int_equal(m->op_seq, m->programs + m->erases);
    /* Rejected ops changed nothing. */
    assert_memory_equal(r->mem + 2 * SEC, snap, sizeof(snap));
    assert_true(all_equal(r->mem + 6 * SEC, 2 * SEC, 0xFF));
    assert_int_equal(m->erase_count[0], 1);
    assert_int_equal(m->erase_count[2], 0);
    ram_free(r);
}

static void test_erase_counts_and_numbering(void **state)
{
    struct ram *r = ram_new(4, 0);
    uint8_t d[8] = {0};
    int i;

    (void)state;
    assert_int_equal(flashsim_program(&r->fs, P_OTA, SEC + 4, d, 8), FLASHSIM_OK);
    r->nlog = 0;
    assert_int_equal(flashsim_erase(&r->fs, P_OTA, 0, 3 * SEC), FLASHSIM_OK);
    assert_true(all_equal(r->mem + 8 * SEC, 3 * SEC, 0xFF));
    /* Three sectors: three ops, each with its before and after call. */
    assert_int_equal(r->nlog, 6);
    for (i = 0; i < 3; i++) {
        const struct flashsim_op *b = &r->log[2 * i], *a = &r->log[2 * i + 1];

        assert_int_equal(r->before[2 * i], 1);
        assert_int_equal(r->before[2 * i + 1], 0);
        assert_int_equal(b->seq, 2 + i);
        assert_int_equal(a->seq, 2 + i);
        assert_int_equal(a->kind, FLASHSIM_OP_ERASE);
        assert_int_equal(a->off, i * SEC);
        assert_int_equal(a->addr, 8 * SEC + i * SEC);
        assert_int_equal(a->len, SEC);
        assert_int_equal(a->result, FLASHSIM_OK);
        assert_int_equal(a->part, P_OTA);
    }
    assert_int_equal(flashsim_erase(&r->fs, P_OTA, SEC, SEC), FLASHSIM_OK);
    assert_int_equal(r->fs.meta->erase_count[8], 1);
    assert_int_equal(r->fs.meta->erase_count[9], 2);
    assert_int_equal(r->fs.meta->erase_count[10], 1);
    assert_int_equal(r->fs.meta->erase_count[11], 0);
    assert_int_equal(r->fs.meta->erases, 4);
    assert_int_equal(r->fs.meta->programs, 1);
    assert_int_equal(r->fs.meta->op_seq, 5);
    /* An empty erase is no op. */
    assert_int_equal(flashsim_erase(&r->fs, P_OTA, 0, 0), FLASHSIM_OK);
    assert_int_equal(r->fs.meta->op_seq, 5);
    /* Reads reach the hook once, after, with seq 0. */
    r->nlog = 0;
    assert_int_equal(flashsim_read(&r->fs, P_OTA, 0, d, 8), FLASHSIM_OK);
    assert_int_equal(r->nlog, 1);
    assert_int_equal(r->before[0], 0);
    assert_int_equal(r->log[0].seq, 0);
    assert_int_equal(r->log[0].kind, FLASHSIM_OP_READ);
    ram_free(r);
}

static void test_program_once(void **state)
{
    struct ram *r = ram_new(8, 1);
    uint8_t d[16], ff[8];

    (void)state;
    memset(d, 0xA5, sizeof(d));
    memset(ff, 0xFF, sizeof(ff));
    assert_int_equal(flashsim_program(&r->fs, P_APP, 0, d, 16), FLASHSIM_OK);
    /* Same data again: no bit rises, but the unit was programmed already. */
    assert_int_equal(flashsim_program(&r->fs, P_APP, 8, d, 8), FLASHSIM_EIO);
    assert_int_equal(r->fs.meta->viol[0].violation, FLASHSIM_V_PROGRAM_TWICE);
    /* Even all-erased data counts as a program of the unit. */
    assert_int_equal(flashsim_program(&r->fs, P_APP, 16, ff, 8), FLASHSIM_OK);
    assert_int_equal(flashsim_program(&r->fs, P_APP, 16, d, 8), FLASHSIM_EIO);
    assert_int_equal(r->fs.meta->viol[1].violation, FLASHSIM_V_PROGRAM_TWICE);
    assert_memory_equal(r->mem + 2 * SEC + 16, d, 8); /* applied: AND */
    /* A neighbouring sector keeps its bits through an erase of this one. */
    assert_int_equal(flashsim_program(&r->fs, P_APP, SEC, d, 8), FLASHSIM_OK);
    assert_int_equal(flashsim_erase(&r->fs, P_APP, 0, SEC), FLASHSIM_OK);
    assert_int_equal(flashsim_program(&r->fs, P_APP, 0, d, 16), FLASHSIM_OK);
    assert_int_equal(flashsim_program(&r->fs, P_APP, SEC, d, 8), FLASHSIM_EIO);
    assert_int_equal(r->fs.meta->violations, 3);

    /* Without metadata (a raw image), a unit with non-erased bytes counts as
     * programmed. */
    memset(r->state, 0, flashsim_state_size(&r->fs.geom));
    {
        struct flashsim_geom g = r->fs.geom;

        assert_int_equal(flashsim_init(&r->fs, &g, r->mem, r->state, 0), FLASHSIM_OK);
    }
    add(&r->fs, P_APP, "APPLICATION", 2 * SEC, 6 * SEC, RW);
    assert_int_equal(r->mem[2 * SEC], 0xA5);
    assert_int_equal(flashsim_program(&r->fs, P_APP, 0, d, 8), FLASHSIM_EIO);
    assert_int_equal(flashsim_program(&r->fs, P_APP, 24, d, 8), FLASHSIM_OK);
    ram_free(r);
}

/* Programs and erases of every length and alignment against a byte-by-byte
 * model of the rules: the chip bytes, the program-once marks, each call's
 * result and violation kind agree (the model applies whole words, marks
 * whole bitmap bytes and clears them in ranges). */
static void model_check(uint32_t pu, int once)
{
    struct ram *r = ram_new(pu, once);
    uint8_t *want = malloc(CHIP), *marks = calloc(CHIP / pu, 1), d[300];
    uint32_t x = 0x1234567u;

    assert_non_null(want);
    assert_non_null(marks);
    memcpy(want, r->mem, CHIP);
    for (int round = 0; round < 3000; round++) {
        x = x * 1103515245u + 12345u;
        uint32_t sec = 2 + (x >> 8) % 12; /* APPLICATION and OTA_TEMP */
        r->nlog = 0;
        if ((x >> 20) % 9 == 0) {
            assert_int_equal(flashsim_erase(&r->fs, FLASHSIM_CHIP, sec * SEC, SEC), FLASHSIM_OK);
            memset(want + sec * SEC, 0xFF, SEC);
            memset(marks + sec * SEC / pu, 0, SEC / pu);
        } else {
            x = x * 1103515245u + 12345u;
            uint32_t units = 1 + (x >> 10) % (sizeof(d) / pu);
            uint32_t off = sec * SEC + ((x >> 3) % (SEC / pu)) * pu;
            if (off + units * pu > 14 * SEC)
                units = (14 * SEC - off) / pu;
            for (uint32_t i = 0; i < units * pu; i++) {
                x = x * 1103515245u + 12345u;
                d[i] = (x >> 16) % 3 ? 0xFF & (uint8_t)(x >> 8) : 0xFF;
            }
            uint8_t viol = FLASHSIM_V_NONE;
            for (uint32_t u = off / pu; u < off / pu + units; u++) {
                if (once && marks[u])
                    viol = FLASHSIM_V_PROGRAM_TWICE;
                marks[u] = 1;
            }
            for (uint32_t i = 0; i < units * pu; i++) {
                if ((d[i] & (uint8_t)~want[off + i]) && viol == FLASHSIM_V_NONE)
                    viol = FLASHSIM_V_PROGRAM_NOT_ERASED;
                want[off + i] &= d[i];
            }
            int rc = flashsim_program(&r->fs, FLASHSIM_CHIP, off, d, units * pu);
            assert_int_equal(rc, viol == FLASHSIM_V_NONE ? FLASHSIM_OK : FLASHSIM_EIO);
            assert_int_equal(r->log[r->nlog - 1].violation, viol);
        }
        assert_memory_equal(r->mem, want, CHIP);
        uint32_t bad = 0;
        for (uint32_t u = 0; once && u < CHIP / pu; u++)
            bad += ((r->fs.programmed[u >> 3] >> (u & 7)) & 1) != marks[u];
        assert_int_equal(bad, 0);
    }
    free(want);
    free(marks);
    ram_free(r);
}

static void test_program_matches_model(void **state)
{
    (void)state;
    model_check(1, 0);
    model_check(4, 0);
    model_check(8, 1);
    model_check(2, 1);
}

static void test_violation_ring(void **state)
{
    struct ram *r = ram_new(1, 0);
    uint8_t d = 0;
    uint32_t i;

    (void)state;
    for (i = 0; i < FLASHSIM_VIOL_KEEP + 4; i++)
        assert_int_equal(flashsim_program(&r->fs, P_RO, i, &d, 1), FLASHSIM_EIO);
    assert_int_equal(r->fs.meta->violations, FLASHSIM_VIOL_KEEP + 4);
    assert_int_equal(r->fs.meta->viol_next, 4);
    /* Slots 0..3 were overwritten by the newest four. */
    for (i = 0; i < 4; i++)
        assert_int_equal(r->fs.meta->viol[i].off, FLASHSIM_VIOL_KEEP + i);
    assert_int_equal(r->fs.meta->viol[4].off, 4);
    ram_free(r);
}

static void test_hook_cut(void **state)
{
    struct ram *r = ram_new(1, 0);
    uint8_t d[4] = {1, 2, 3, 4};

    (void)state;
    assert_int_equal(flashsim_program(&r->fs, P_APP, 0, d, 4), FLASHSIM_OK);
    r->cut_at = 2;
    r->nlog = 0;
    assert_int_equal(flashsim_program(&r->fs, P_APP, 8, d, 4), FLASHSIM_ECUT);
    assert_true(all_equal(r->mem + 2 * SEC + 8, 4, 0xFF));
    /* The number is consumed; no "after" call. */
    assert_int_equal(r->nlog, 1);
    assert_int_equal(r->before[0], 1);
    assert_int_equal(r->fs.meta->op_seq, 2);
    /* A cut on a rejected op: no violation recorded, nothing changes. */
    r->cut_at = 3;
    assert_int_equal(flashsim_program(&r->fs, P_RO, 0, d, 4), FLASHSIM_ECUT);
    assert_int_equal(r->fs.meta->violations, 0);
    /* A cut between the sectors of one erase: the first ones are erased. */
    r->cut_at = 6;
    assert_int_equal(flashsim_erase(&r->fs, P_APP, 0, 4 * SEC), FLASHSIM_ECUT);
    assert_true(all_equal(r->mem + 2 * SEC, 4, 0xFF));
    assert_int_equal(r->fs.meta->erase_count[2], 1);
    assert_int_equal(r->fs.meta->erase_count[3], 1);
    assert_int_equal(r->fs.meta->erase_count[4], 0);
    assert_int_equal(r->fs.meta->erase_count[5], 0);
    assert_int_equal(r->fs.meta->op_seq, 6);
    r->cut_at = 0;
    assert_int_equal(flashsim_program(&r->fs, P_APP, 8, d, 4), FLASHSIM_OK);
    assert_int_equal(r->fs.meta->op_seq, 7);
    ram_free(r);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(flashsim_violation_name(FLASHSIM_V_NONE), "none");
    assert_string_equal(flashsim_violation_name(FLASHSIM_V_OUT_OF_CHIP), "out-of-chip");
    assert_string_equal(flashsim_violation_name(FLASHSIM_V_OUT_OF_PARTITION), "out-of-partition");
    assert_string_equal(flashsim_violation_name(FLASHSIM_V_MISALIGNED_PROGRAM), "misaligned-program");
    assert_string_equal(flashsim_violation_name(FLASHSIM_V_ERASE_UNALIGNED), "erase-unaligned");
    assert_string_equal(flashsim_violation_name(FLASHSIM_V_PROGRAM_NOT_ERASED), "program-not-erased");
    assert_string_equal(flashsim_violation_name(FLASHSIM_V_PROGRAM_TWICE), "program-twice");
    assert_string_equal(flashsim_violation_name(FLASHSIM_V_READ_ONLY), "read-only");
    assert_string_equal(flashsim_violation_name(FLASHSIM_V_COUNT), "unknown");
    assert_string_equal(flashsim_violation_name(-1), "unknown");
    assert_string_equal(flashsim_opkind_name(FLASHSIM_OP_READ), "read");
    assert_string_equal(flashsim_opkind_name(FLASHSIM_OP_PROGRAM), "program");
    assert_string_equal(flashsim_opkind_name(FLASHSIM_OP_ERASE), "erase");
    assert_string_equal(flashsim_opkind_name(7), "unknown");
}

/* ---- phases and fault injection -------------------------------------------- */

/* on_cut that records and returns, so the flash call returns FLASHSIM_ECUT. */
struct cutrec {
    int n;
    struct flashsim_op op;
};

static void rec_cut(void *ctx, const struct flashsim_op *op)
{
    struct cutrec *c = ctx;

    c->n++;
    c->op = *op;
}

static void arm(struct ram *r, struct cutrec *c, const struct flashsim_fault *f)
{
    if (c) {
        memset(c, 0, sizeof(*c));
        r->fs.on_cut = rec_cut;
        r->fs.cut_ctx = c;
    }
    flashsim_fault_arm(&r->fs, f);
}

/* A fault that matches every op of part P_OTA (and nothing else). */
static struct flashsim_fault on_ota(int mode)
{
    struct flashsim_fault f;

    memset(&f, 0, sizeof(f));
    f.mode = (uint8_t)mode;
    f.part = P_OTA;
    return f;
}

static void test_fault_names_and_layout(void **state)
{
    int i;

    (void)state;
    assert_int_equal(sizeof(struct flashsim_op), 32);
    assert_int_equal(FLASHSIM_META_VERSION, 2);
    assert_string_equal(flashsim_phase_name(FLASHSIM_PH_NONE), "none");
    assert_string_equal(flashsim_phase_name(FLASHSIM_PH_INIT_ERASE), "init-erase");
    assert_string_equal(flashsim_phase_name(FLASHSIM_PH_DOWNLOAD), "download-write");
    assert_string_equal(flashsim_phase_name(FLASHSIM_PH_BREAKPOINT), "breakpoint-save");
    assert_string_equal(flashsim_phase_name(FLASHSIM_PH_BOOT_RECORD), "boot-record");
    assert_string_equal(flashsim_phase_name(FLASHSIM_PH_BOOT_COPY), "bootloader-copy");
    assert_string_equal(flashsim_phase_name(FLASHSIM_PH_BOOT_COUNTER), "boot-counter");
    assert_string_equal(flashsim_phase_name(FLASHSIM_PH_CONFIRM), "confirm");
    assert_string_equal(flashsim_phase_name(FLASHSIM_PH_KV), "kv-write");
    assert_string_equal(flashsim_phase_name(FLASHSIM_PH_COUNT), "unknown");
    assert_string_equal(flashsim_phase_name(-1), "unknown");
    assert_string_equal(flashsim_fault_name(FLASHSIM_F_NONE), "none");
    assert_string_equal(flashsim_fault_name(FLASHSIM_F_CUT_BEFORE), "before");
    assert_string_equal(flashsim_fault_name(FLASHSIM_F_CUT_AFTER), "after");
    assert_string_equal(flashsim_fault_name(FLASHSIM_F_TORN), "torn");
    assert_string_equal(flashsim_fault_name(FLASHSIM_F_PARTIAL_ERASE), "erase");
    assert_string_equal(flashsim_fault_name(FLASHSIM_F_FAIL), "fail");
    assert_string_equal(flashsim_fault_name(FLASHSIM_F_BITFLIP), "bitflip");
    assert_string_equal(flashsim_fault_name(FLASHSIM_F_COUNT), "unknown");
    assert_string_equal(flashsim_fault_name(-3), "unknown");
    for (i = 0; i < FLASHSIM_PH_COUNT; i++)
        assert_int_equal(flashsim_phase_parse(flashsim_phase_name(i)), i);
    for (i = 0; i < FLASHSIM_F_COUNT; i++)
        assert_int_equal(flashsim_fault_parse(flashsim_fault_name(i)), i);
    assert_int_equal(flashsim_phase_parse("unknown"), -1);
    assert_int_equal(flashsim_phase_parse("download"), -1);
    assert_int_equal(flashsim_phase_parse(""), -1);
    assert_int_equal(flashsim_phase_parse(NULL), -1);
    assert_int_equal(flashsim_fault_parse("partial"), -1);
    assert_int_equal(flashsim_fault_parse("TORN"), -1);
    assert_int_equal(flashsim_fault_parse(NULL), -1);
}

static void test_phase_recorded(void **state)
{
    struct ram *r = ram_new(8, 0);
    struct flashsim_geom g = r->fs.geom;
    uint8_t d[8] = {0};
    struct flashsim_part p;
    int i;

    (void)state;
    /* init clears phase, fault and on_cut. */
    r->fs.phase = FLASHSIM_PH_KV;
    r->fs.fault.mode = FLASHSIM_F_FAIL;
    r->fs.on_cut = rec_cut;
    r->fs.cut_ctx = r;
    assert_int_equal(flashsim_init(&r->fs, &g, r->mem, r->state, 1), FLASHSIM_OK);
    assert_int_equal(r->fs.phase, FLASHSIM_PH_NONE);
    assert_int_equal(r->fs.fault.mode, FLASHSIM_F_NONE);
    assert_null(r->fs.on_cut);
    assert_null(r->fs.cut_ctx);
    add(&r->fs, P_OTA, "OTA_TEMP", 8 * SEC, 6 * SEC, RW);
    add(&r->fs, P_RO, "BOOTLOADER", 0, 2 * SEC, RO);
    r->fs.hook = ram_hook;
    r->fs.hook_ctx = r;
    /* FLASHSIM_ANY_PART is reserved like FLASHSIM_CHIP. */
    memset(&p, 0, sizeof(p));
    p.id = FLASHSIM_ANY_PART;
    p.length = SEC;
    assert_int_equal(flashsim_add_part(&r->fs, &p), FLASHSIM_EINVAL);

    assert_int_equal(flashsim_program(&r->fs, P_OTA, 0, d, 8), FLASHSIM_OK);
    assert_int_equal(r->log[0].phase, FLASHSIM_PH_NONE);
    r->nlog = 0;
    r->fs.phase = FLASHSIM_PH_INIT_ERASE;
    assert_int_equal(flashsim_erase(&r->fs, P_OTA, 0, 2 * SEC), FLASHSIM_OK);
    r->fs.phase = FLASHSIM_PH_DOWNLOAD;
    assert_int_equal(flashsim_program(&r->fs, P_OTA, 0, d, 8), FLASHSIM_OK);
    assert_int_equal(flashsim_read(&r->fs, P_OTA, 0, d, 8), FLASHSIM_OK);
    r->fs.phase = FLASHSIM_PH_BOOT_RECORD;
    assert_int_equal(flashsim_program(&r->fs, P_RO, 0, d, 8), FLASHSIM_EIO);
    assert_int_equal(r->nlog, 4 + 2 + 1 + 2);
    for (i = 0; i < 4; i++) {
        assert_int_equal(r->log[i].phase, FLASHSIM_PH_INIT_ERASE);
        assert_int_equal(r->log[i].fault, FLASHSIM_F_NONE);
    }
    for (i = 4; i < 7; i++)
        assert_int_equal(r->log[i].phase, FLASHSIM_PH_DOWNLOAD);
    assert_int_equal(r->log[6].kind, FLASHSIM_OP_READ);
    assert_int_equal(r->log[7].phase, FLASHSIM_PH_BOOT_RECORD);
    assert_int_equal(r->log[8].phase, FLASHSIM_PH_BOOT_RECORD);
    /* The violation record keeps the phase. */
    assert_int_equal(r->fs.meta->viol[0].phase, FLASHSIM_PH_BOOT_RECORD);
    assert_int_equal(r->fs.meta->viol[0].violation, FLASHSIM_V_READ_ONLY);
    ram_free(r);
}

static void test_fault_cut_before(void **state)
{
    struct ram *r = ram_new(8, 0);
    struct flashsim_fault f;
    struct cutrec c;
    uint8_t d[16];

    (void)state;
    memset(d, 0x5A, sizeof(d));
    assert_int_equal(flashsim_program(&r->fs, P_OTA, 0, d, 16), FLASHSIM_OK);
    memset(&f, 0, sizeof(f));
    f.mode = FLASHSIM_F_CUT_BEFORE;
    f.at_seq = 2;
    arm(r, &c, &f);
    r->nlog = 0;
    assert_int_equal(flashsim_program(&r->fs, P_OTA, 64, d, 16), FLASHSIM_ECUT);
    assert_true(all_equal(r->mem + 8 * SEC + 64, 16, 0xFF));
    /* The number is consumed; the hook saw "before" only. */
    assert_int_equal(r->fs.meta->op_seq, 2);
    assert_int_equal(r->fs.meta->programs, 2);
    assert_int_equal(r->nlog, 1);
    assert_int_equal(r->before[0], 1);
    assert_int_equal(r->log[0].fault, FLASHSIM_F_NONE); /* before the check */
    assert_int_equal(c.n, 1);
    assert_int_equal(c.op.seq, 2);
    assert_int_equal(c.op.kind, FLASHSIM_OP_PROGRAM);
    assert_int_equal(c.op.part, P_OTA);
    assert_int_equal(c.op.off, 64);
    assert_int_equal(c.op.len, 16);
    assert_int_equal(c.op.fault, FLASHSIM_F_CUT_BEFORE);
    assert_int_equal(c.op.result, FLASHSIM_ECUT);
    assert_int_equal(r->fs.fault.fired, 1);
    assert_int_equal(r->fs.fault.matched, 1);
    assert_int_equal(r->fs.meta->violations, 0);
    /* One-shot: power back on, the next op works. */
    assert_int_equal(flashsim_program(&r->fs, P_OTA, 64, d, 16), FLASHSIM_OK);
    assert_memory_equal(r->mem + 8 * SEC + 64, d, 16);
    assert_int_equal(c.n, 1);

    /* Without on_cut the call still returns FLASHSIM_ECUT. */
    f.at_seq = 4;
    flashsim_fault_arm(&r->fs, &f);
    r->fs.on_cut = NULL;
    assert_int_equal(flashsim_erase(&r->fs, P_OTA, 0, SEC), FLASHSIM_ECUT);
    assert_memory_equal(r->mem + 8 * SEC, d, 16);
    assert_int_equal(r->fs.meta->erase_count[8], 0);
    /* A rejected op: cut unchanged, no violation recorded. */
    f.at_seq = 5;
    arm(r, &c, &f);
    assert_int_equal(flashsim_program(&r->fs, P_RO, 0, d, 8), FLASHSIM_ECUT);
    assert_int_equal(r->fs.meta->violations, 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.op.violation, FLASHSIM_V_READ_ONLY);
    /* A hook cut wins over the fault, which stays armed. */
    f.at_seq = 6;
    arm(r, &c, &f);
    r->cut_at = 6;
    assert_int_equal(flashsim_program(&r->fs, P_OTA, 128, d, 8), FLASHSIM_ECUT);
    assert_int_equal(c.n, 0);
    assert_int_equal(r->fs.fault.fired, 0);
    /* Cleared: nothing fires. */
    r->cut_at = 0;
    f.at_seq = 7;
    arm(r, &c, &f);
    flashsim_fault_clear(&r->fs);
    assert_int_equal(flashsim_program(&r->fs, P_OTA, 128, d, 8), FLASHSIM_OK);
    assert_int_equal(c.n, 0);
    ram_free(r);
}

static void test_fault_cut_after(void **state)
{
    struct ram *r = ram_new(8, 0);
    struct flashsim_fault f = on_ota(FLASHSIM_F_CUT_AFTER);
    struct cutrec c;
    uint8_t d[16];

    (void)state;
    memset(d, 0x42, sizeof(d));
    arm(r, &c, &f);
    assert_int_equal(flashsim_program(&r->fs, P_OTA, 32, d, 16), FLASHSIM_ECUT);
    assert_memory_equal(r->mem + 8 * SEC + 32, d, 16); /* landed */
    /* The "after" call came, marked, before the cut. */
    assert_int_equal(r->nlog, 2);
    assert_int_equal(r->before[1], 0);
    assert_int_equal(r->log[1].fault, FLASHSIM_F_CUT_AFTER);
    assert_int_equal(r->log[1].result, FLASHSIM_OK);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.op.seq, 1);
    assert_int_equal(c.op.result, FLASHSIM_OK);
    assert_int_equal(c.op.fault, FLASHSIM_F_CUT_AFTER);

    /* On the 2nd sector of an erase: sectors 1 and 2 erased, 3 not. */
    f.kinds = 1u << FLASHSIM_OP_ERASE;
    f.nth = 2;
    arm(r, &c, &f);
    assert_int_equal(flashsim_program(&r->fs, P_OTA, 2 * SEC, d, 16), FLASHSIM_OK);
    assert_int_equal(flashsim_erase(&r->fs, P_OTA, 0, 3 * SEC), FLASHSIM_ECUT);
    assert_true(all_equal(r->mem + 8 * SEC, 2 * SEC, 0xFF));
    assert_memory_equal(r->mem + 10 * SEC, d, 16);
    assert_int_equal(r->fs.meta->erase_count[8], 1);
    assert_int_equal(r->fs.meta->erase_count[9], 1);
    assert_int_equal(r->fs.meta->erase_count[10], 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.op.off, SEC);
    assert_int_equal(c.op.kind, FLASHSIM_OP_ERASE);
    assert_int_equal(r->fs.fault.matched, 2);

    /* A rejected op: the violation is recorded (marked), then the cut. */
    memset(&f, 0, sizeof(f));
    f.mode = FLASHSIM_F_CUT_AFTER;
    f.part = FLASHSIM_ANY_PART;
    arm(r, &c, &f);
    assert_int_equal(flashsim_erase(&r->fs, P_RO, 0, SEC), FLASHSIM_ECUT);
    assert_int_equal(r->fs.meta->violations, 1);
    assert_int_equal(r->fs.meta->viol[0].violation, FLASHSIM_V_READ_ONLY);
    assert_int_equal(r->fs.meta->viol[0].fault, FLASHSIM_F_CUT_AFTER);
    assert_int_equal(r->fs.meta->viol[0].result, FLASHSIM_EIO);
    assert_int_equal(c.n, 1);
    ram_free(r);
}

/* Programs 64 bytes of new over old at OTA_TEMP 0 under a TORN fault with
 * this seed. The chip is left in r. */
static struct ram *torn_run(uint64_t seed, const uint8_t *old, const uint8_t *nw, struct cutrec *c)
{
    struct ram *r = ram_new(4, 0);
    struct flashsim_fault f = on_ota(FLASHSIM_F_TORN);

    memcpy(r->mem + 8 * SEC, old, 64);
    f.seed = seed;
    arm(r, c, &f);
    assert_int_equal(flashsim_program(&r->fs, P_OTA, 0, nw, 64), FLASHSIM_ECUT);
    return r;
}

/* Checks the torn shape over 64 bytes in units of pu: whole units landed
 * (old & new), then one unit between old & new and old, then untouched.
 * Returns the torn unit. */
static int check_torn(const uint8_t *res, const uint8_t *old, const uint8_t *nw, uint32_t pu)
{
    uint32_t k = 0, i, n = 64 / pu;

    while (k < n) {
        for (i = k * pu; i < (k + 1) * pu; i++)
            if (res[i] != (old[i] & nw[i]))
                break;
        if (i < (k + 1) * pu)
            break;
        k++;
    }
    if (k == n)
        k = n - 1; /* the torn unit happened to land whole */
    for (i = k * pu; i < (k + 1) * pu; i++) {
        uint8_t both = old[i] & nw[i];

        assert_true((res[i] & old[i]) == res[i]);
        assert_true((res[i] & both) == both);
    }
    for (i = (k + 1) * pu; i < 64; i++)
        assert_int_equal(res[i], old[i]);
    return (int)k;
}

static void test_fault_torn(void **state)
{
    uint8_t old[64], nw[64];
    struct cutrec c;
    struct ram *r, *r2;
    int i, differ = 0, tears[16] = {0};
    uint64_t seed;

    (void)state;
    /* Every byte has bits to clear (the high nibble), none to raise, so
     * landed and untouched differ and the program is clean. */
    for (i = 0; i < 64; i++) {
        old[i] = (uint8_t)(0xF0 | (i & 0x0F) | 0x01);
        nw[i] = (uint8_t)(old[i] & 0x0F & (uint8_t)(i * 7));
    }
    r = torn_run(1, old, nw, &c);
    check_torn(r->mem + 8 * SEC, old, nw, 4);
    assert_true(all_equal(r->mem + 8 * SEC + 64, 64, 0xFF));
    assert_int_equal(c.n, 1);
    assert_int_equal(c.op.fault, FLASHSIM_F_TORN);
    assert_int_equal(c.op.result, FLASHSIM_ECUT);
    assert_int_equal(c.op.seq, 1);
    assert_int_equal(r->nlog, 1); /* no "after" call for a cut op */
    assert_int_equal(r->fs.meta->op_seq, 1);
    assert_int_equal(r->fs.meta->violations, 0);
    /* Same seed, same op: the same bytes. */
    r2 = torn_run(1, old, nw, &c);
    assert_memory_equal(r->mem, r2->mem, CHIP);
    ram_free(r2);
    /* Other seeds tear elsewhere or otherwise; the shape always holds. */
    for (seed = 2; seed < 40; seed++) {
        r2 = torn_run(seed, old, nw, &c);
        tears[check_torn(r2->mem + 8 * SEC, old, nw, 4)]++;
        if (memcmp(r->mem + 8 * SEC, r2->mem + 8 * SEC, 64))
            differ++;
        ram_free(r2);
    }
    assert_true(differ > 0);
    for (i = 0, differ = 0; i < 16; i++)
        differ += tears[i] > 0;
    assert_true(differ > 4); /* the tear point moves with the seed */
    ram_free(r);

    /* Violations of the units reached are recorded, marked and cut. */
    old[0] = 0x00;
    nw[0] = 0x80; /* asks a 0 bit to rise, in the first unit: always reached */
    r = torn_run(3, old, nw, &c);
    assert_int_equal(r->fs.meta->violations, 1);
    assert_int_equal(r->fs.meta->viol[0].violation, FLASHSIM_V_PROGRAM_NOT_ERASED);
    assert_int_equal(r->fs.meta->viol[0].fault, FLASHSIM_F_TORN);
    assert_int_equal(r->fs.meta->viol[0].result, FLASHSIM_ECUT);
    ram_free(r);

    /* Zero-length program: just a cut. PARTIAL_ERASE on a program tears. */
    r = ram_new(4, 0);
    {
        struct flashsim_fault f = on_ota(FLASHSIM_F_PARTIAL_ERASE);
        uint8_t z[64];

        memset(z, 0, sizeof(z));
        arm(r, &c, &f);
        assert_int_equal(flashsim_program(&r->fs, P_OTA, 0, z, 0), FLASHSIM_ECUT);
        assert_int_equal(c.n, 1);
        assert_int_equal(c.op.fault, FLASHSIM_F_PARTIAL_ERASE);
        assert_true(all_equal(r->mem, CHIP, 0xFF));
        f.seed = 99;
        arm(r, &c, &f);
        assert_int_equal(flashsim_program(&r->fs, P_OTA, 0, z, 64), FLASHSIM_ECUT);
        memset(old, 0xFF, sizeof(old));
        check_torn(r->mem + 8 * SEC, old, z, 4);
        /* A rejected op is cut unchanged. */
        f = on_ota(FLASHSIM_F_TORN);
        arm(r, &c, &f);
        assert_int_equal(flashsim_program(&r->fs, P_OTA, 6 * SEC - 4, z, 8), FLASHSIM_ECUT);
        assert_int_equal(r->fs.meta->violations, 0);
        assert_int_equal(c.n, 1);
    }
    ram_free(r);
}

static void test_fault_torn_program_once(void **state)
{
    struct ram *r = ram_new(8, 1);
    struct flashsim_fault f = on_ota(FLASHSIM_F_TORN);
    uint8_t z[64], ff[64];
    struct cutrec c;
    int k;

    (void)state;
    memset(z, 0, sizeof(z));
    memset(ff, 0xFF, sizeof(ff));
    f.seed = 11;
    arm(r, &c, &f);
    assert_int_equal(flashsim_program(&r->fs, P_OTA, 0, z, 64), FLASHSIM_ECUT);
    k = check_torn(r->mem + 8 * SEC, ff, z, 8);
    flashsim_fault_clear(&r->fs);
    /* The units landed and the torn one count as programmed, the rest not. */
    assert_int_equal(flashsim_program(&r->fs, P_OTA, (uint32_t)k * 8, z, 8), FLASHSIM_EIO);
    assert_int_equal(r->fs.meta->viol[0].violation, FLASHSIM_V_PROGRAM_TWICE);
    if (k > 0)
        assert_int_equal(flashsim_program(&r->fs, P_OTA, 0, z, 8), FLASHSIM_EIO);
    if (k < 7)
        assert_int_equal(flashsim_program(&r->fs, P_OTA, (uint32_t)(k + 1) * 8, z, 8), FLASHSIM_OK);
    ram_free(r);
}

/* Fills sector 8 (OTA_TEMP 0) with pat, then erases OTA_TEMP [0, 2 sectors)
 * under mode (PARTIAL_ERASE or TORN) with this seed. */
static struct ram *partial_run(int once, int mode, uint64_t seed, uint8_t pat, struct cutrec *c)
{
    struct ram *r = ram_new(8, once);
    struct flashsim_fault f = on_ota(mode);
    uint8_t d[SEC];

    memset(d, pat, sizeof(d));
    assert_int_equal(flashsim_program(&r->fs, P_OTA, 0, d, SEC), FLASHSIM_OK);
    assert_int_equal(flashsim_program(&r->fs, P_OTA, SEC, d, 16), FLASHSIM_OK);
    f.kinds = 1u << FLASHSIM_OP_ERASE;
    f.seed = seed;
    arm(r, c, &f);
    r->nlog = 0;
    assert_int_equal(flashsim_erase(&r->fs, P_OTA, 0, 2 * SEC), FLASHSIM_ECUT);
    return r;
}

/* Leading erased bytes of the sector; checks the rest lies between old and
 * 0xFF. */
static uint32_t check_partial(const uint8_t *sec, uint8_t old)
{
    uint32_t lead = 0, i;

    while (lead < SEC && sec[lead] == 0xFF)
        lead++;
    for (i = lead; i < SEC; i++)
        assert_true((sec[i] & old) == old);
    return lead;
}

static void test_fault_partial_erase(void **state)
{
    struct ram *r, *r2;
    struct cutrec c;
    uint8_t ff16[16];
    uint32_t lead, lead0;
    uint64_t seed;
    int moved = 0;

    (void)state;
    memset(ff16, 0x3C, sizeof(ff16));
    r = partial_run(0, FLASHSIM_F_PARTIAL_ERASE, 5, 0x00, &c);
    lead0 = check_partial(r->mem + 8 * SEC, 0x00);
    assert_true(lead0 < SEC); /* the sector was not fully erased */
    /* The erase counts as wear; the next sector was never reached. */
    assert_int_equal(r->fs.meta->erase_count[8], 1);
    assert_int_equal(r->fs.meta->erase_count[9], 0);
    assert_true(all_equal(r->mem + 9 * SEC, 16, 0x00));
    assert_int_equal(r->fs.meta->erases, 1);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.op.fault, FLASHSIM_F_PARTIAL_ERASE);
    assert_int_equal(c.op.kind, FLASHSIM_OP_ERASE);
    assert_int_equal(c.op.off, 0);
    assert_int_equal(c.op.result, FLASHSIM_ECUT);
    assert_int_equal(r->nlog, 1); /* no "after" call */
    /* Same seed: same bytes. */
    r2 = partial_run(0, FLASHSIM_F_PARTIAL_ERASE, 5, 0x00, &c);
    assert_memory_equal(r->mem, r2->mem, CHIP);
    ram_free(r2);
    /* TORN on an erase is a partial erase; other seeds stop elsewhere. */
    for (seed = 6; seed < 12; seed++) {
        r2 = partial_run(0, FLASHSIM_F_TORN, seed, 0x5A, &c);
        lead = check_partial(r2->mem + 8 * SEC, 0x5A);
        moved += lead != lead0;
        assert_int_equal(r2->fs.meta->erase_count[8], 1);
        assert_int_equal(c.op.fault, FLASHSIM_F_TORN);
        ram_free(r2);
    }
    assert_true(moved > 0);
    ram_free(r);

    /* A rejected erase is cut unchanged. */
    r = ram_new(8, 0);
    {
        struct flashsim_fault f = on_ota(FLASHSIM_F_PARTIAL_ERASE);

        assert_int_equal(flashsim_program(&r->fs, P_OTA, 0, ff16, 16), FLASHSIM_OK);
        arm(r, &c, &f);
        assert_int_equal(flashsim_erase(&r->fs, P_OTA, 0, SEC / 2), FLASHSIM_ECUT);
        assert_memory_equal(r->mem + 8 * SEC, ff16, 16);
        assert_int_equal(r->fs.meta->violations, 0);
        assert_int_equal(r->fs.meta->erase_count[8], 0);
        assert_int_equal(c.n, 1);
    }
    ram_free(r);
}

static void test_fault_partial_erase_program_once(void **state)
{
    uint8_t z[8] = {0};
    struct cutrec c;
    uint64_t seed;
    int checked = 0;

    (void)state;
    /* Units wholly inside the erased prefix lose their mark, units past
     * it keep it. The erased prefix p is within 7 bytes of the leading 0xFF
     * run (the byte at p reads 0xFF with probability 1/256 and so on). */
    for (seed = 1; seed < 8; seed++) {
        struct ram *r = partial_run(1, FLASHSIM_F_PARTIAL_ERASE, seed, 0x00, &c);
        uint32_t lead = check_partial(r->mem + 8 * SEC, 0x00);
        uint32_t after = (lead + 7) / 8 * 8;

        flashsim_fault_clear(&r->fs);
        if (lead >= 16) {
            assert_int_equal(flashsim_program(&r->fs, P_OTA, 0, z, 8), FLASHSIM_OK);
            checked++;
        }
        if (after + 8 <= SEC) {
            assert_int_equal(flashsim_program(&r->fs, P_OTA, after, z, 8), FLASHSIM_EIO);
            assert_int_equal(r->fs.meta->viol[0].violation, FLASHSIM_V_PROGRAM_TWICE);
            checked++;
        }
        ram_free(r);
    }
    assert_true(checked >= 8);
}

static void test_fault_fail(void **state)
{
    struct ram *r = ram_new(8, 1);
    struct flashsim_fault f = on_ota(FLASHSIM_F_FAIL);
    struct cutrec c;
    uint8_t d[16];

    (void)state;
    memset(d, 0x11, sizeof(d));
    arm(r, &c, &f);
    assert_int_equal(flashsim_program(&r->fs, P_OTA, 0, d, 16), FLASHSIM_EIO);
    assert_true(all_equal(r->mem + 8 * SEC, 16, 0xFF));
    assert_int_equal(r->fs.meta->violations, 0);
    assert_int_equal(r->fs.meta->op_seq, 1);
    assert_int_equal(c.n, 0); /* no cut */
    assert_int_equal(r->nlog, 2);
    assert_int_equal(r->before[1], 0);
    assert_int_equal(r->log[1].result, FLASHSIM_EIO);
    assert_int_equal(r->log[1].fault, FLASHSIM_F_FAIL);
    assert_int_equal(r->log[1].violation, FLASHSIM_V_NONE);
    /* Power stayed on: the next op works, and the unit was never programmed. */
    assert_int_equal(flashsim_program(&r->fs, P_OTA, 0, d, 16), FLASHSIM_OK);
    assert_memory_equal(r->mem + 8 * SEC, d, 16);

    /* An erase failing at its 2nd sector: the 1st is erased, no more. */
    f.kinds = 1u << FLASHSIM_OP_ERASE;
    f.nth = 2;
    arm(r, &c, &f);
    assert_int_equal(flashsim_program(&r->fs, P_OTA, SEC, d, 16), FLASHSIM_OK);
    assert_int_equal(flashsim_program(&r->fs, P_OTA, 2 * SEC, d, 16), FLASHSIM_OK);
    assert_int_equal(flashsim_erase(&r->fs, P_OTA, 0, 3 * SEC), FLASHSIM_EIO);
    assert_true(all_equal(r->mem + 8 * SEC, SEC, 0xFF));
    assert_memory_equal(r->mem + 9 * SEC, d, 16);
    assert_memory_equal(r->mem + 10 * SEC, d, 16);
    assert_int_equal(r->fs.meta->erase_count[8], 1);
    assert_int_equal(r->fs.meta->erase_count[9], 0);
    assert_int_equal(r->fs.meta->violations, 0);
    /* A rejected op fails the same way, without a violation. */
    memset(&f, 0, sizeof(f));
    f.mode = FLASHSIM_F_FAIL;
    f.part = P_RO;
    arm(r, &c, &f);
    assert_int_equal(flashsim_program(&r->fs, P_RO, 0, d, 8), FLASHSIM_EIO);
    assert_int_equal(r->fs.meta->violations, 0);
    assert_int_equal(c.n, 0);
    ram_free(r);
}

static void test_fault_bitflip(void **state)
{
    struct ram *r = ram_new(8, 0);
    struct flashsim_fault f = on_ota(FLASHSIM_F_BITFLIP);
    uint8_t d[256], out[256], snap[256];
    uint32_t addr, i, diff = 0;
    uint8_t bit;

    (void)state;
    for (i = 0; i < sizeof(d); i++)
        d[i] = (uint8_t)(i * 13);
    assert_int_equal(flashsim_program(&r->fs, P_OTA, 0, d, sizeof(d)), FLASHSIM_OK);
    memcpy(snap, r->mem + 8 * SEC, sizeof(snap));
    f.off_lo = 16;
    f.off_hi = 48;
    f.seed = 7;
    arm(r, NULL, &f);
    assert_int_equal(r->fs.fault.flip_ready, 1);
    addr = r->fs.fault.flip_addr;
    bit = r->fs.fault.flip_bit;
    assert_true(addr >= 8 * SEC + 16 && addr < 8 * SEC + 48);
    assert_true(bit < 8);
    assert_int_equal(r->fs.fault.fired, 0);

    r->nlog = 0;
    assert_int_equal(flashsim_read(&r->fs, P_OTA, 0, out, sizeof(out)), FLASHSIM_OK);
    for (i = 0; i < sizeof(out); i++)
        if (out[i] != d[i]) {
            assert_int_equal(8 * SEC + i, addr);
            assert_int_equal(out[i] ^ d[i], 1u << bit);
            diff++;
        }
    assert_int_equal(diff, 1);
    assert_memory_equal(r->mem + 8 * SEC, snap, sizeof(snap)); /* a weak cell */
    assert_int_equal(r->log[0].fault, FLASHSIM_F_BITFLIP);
    assert_int_equal(r->fs.fault.matched, 1);
    assert_int_equal(r->fs.fault.fired, 1);
    /* Not one-shot; a read that misses the byte is clean. */
    assert_int_equal(flashsim_read(&r->fs, FLASHSIM_CHIP, addr, out, 1), FLASHSIM_OK);
    assert_int_equal(out[0], d[addr - 8 * SEC] ^ (1u << bit));
    assert_int_equal(flashsim_read(&r->fs, P_OTA, 48, out, 16), FLASHSIM_OK);
    assert_memory_equal(out, d + 48, 16);
    assert_int_equal(r->log[2].fault, FLASHSIM_F_NONE);
    assert_int_equal(r->fs.fault.matched, 2);
    /* Programs and erases are never touched by a bit flip. */
    assert_int_equal(flashsim_erase(&r->fs, P_OTA, SEC, SEC), FLASHSIM_OK);
    assert_int_equal(r->log[4].fault, FLASHSIM_F_NONE);
    /* Same seed, same bit; the chosen bit moves with the seed. */
    arm(r, NULL, &f);
    assert_int_equal(r->fs.fault.flip_addr, addr);
    assert_int_equal(r->fs.fault.flip_bit, bit);
    assert_int_equal(r->fs.fault.matched, 0);
    for (diff = 0, f.seed = 8; f.seed < 20; f.seed++) {
        arm(r, NULL, &f);
        diff += r->fs.fault.flip_addr != addr || r->fs.fault.flip_bit != bit;
    }
    assert_true(diff > 0);

    /* A partition not in the table yet: chosen at the first read. */
    f.part = 9;
    f.off_lo = 0;
    f.off_hi = 1;
    arm(r, NULL, &f);
    assert_int_equal(r->fs.fault.flip_ready, 0);
    add(&r->fs, 9, "NINE", 12 * SEC, SEC, RW);
    assert_int_equal(flashsim_read(&r->fs, 9, 0, out, 4), FLASHSIM_OK);
    assert_int_equal(r->fs.fault.flip_ready, 1);
    assert_int_equal(r->fs.fault.flip_addr, 12 * SEC);
    assert_int_equal(__builtin_popcount(out[0] ^ 0xFF), 1);
    /* Chip offsets; a range clipped to the chip. */
    f.part = FLASHSIM_CHIP;
    f.off_lo = CHIP - 1;
    f.off_hi = CHIP + 100;
    arm(r, NULL, &f);
    assert_int_equal(r->fs.fault.flip_addr, CHIP - 1);
    /* No upper limit or an empty range: never fires. */
    f.off_lo = 0;
    f.off_hi = 0;
    arm(r, NULL, &f);
    assert_int_equal(r->fs.fault.flip_ready, 2);
    assert_int_equal(flashsim_read(&r->fs, P_OTA, 0, out, sizeof(out)), FLASHSIM_OK);
    assert_memory_equal(out, d, sizeof(d));
    assert_int_equal(r->fs.fault.fired, 0);
    ram_free(r);
}

static void test_fault_selectors(void **state)
{
    struct ram *r = ram_new(8, 0);
    struct flashsim_fault f;
    struct cutrec c;
    uint8_t d[16];

    (void)state;
    memset(d, 0, sizeof(d));
    /* Partition and offset range: the op must overlap [SEC, 2*SEC) of OTA. */
    f = on_ota(FLASHSIM_F_CUT_BEFORE);
    f.off_lo = SEC;
    f.off_hi = 2 * SEC;
    arm(r, &c, &f);
    assert_int_equal(flashsim_program(&r->fs, P_APP, SEC, d, 16), FLASHSIM_OK); /* other part */
    assert_int_equal(flashsim_program(&r->fs, P_OTA, SEC - 16, d, 16), FLASHSIM_OK); /* ends at lo */
    assert_int_equal(flashsim_program(&r->fs, P_OTA, 2 * SEC, d, 16), FLASHSIM_OK); /* starts at hi */
    assert_int_equal(flashsim_program(&r->fs, FLASHSIM_CHIP, 9 * SEC, d, 16), FLASHSIM_OK);
    assert_int_equal(r->fs.fault.matched, 0);
    assert_int_equal(flashsim_program(&r->fs, P_OTA, SEC - 8, d, 16), FLASHSIM_ECUT); /* overlaps */
    assert_int_equal(c.op.seq, 5);
    /* off_hi 0: no upper limit; a zero-length op covers its offset. */
    f.off_lo = 5 * SEC;
    f.off_hi = 0;
    arm(r, &c, &f);
    assert_int_equal(flashsim_program(&r->fs, P_OTA, 5 * SEC - 16, d, 16), FLASHSIM_OK);
    assert_int_equal(flashsim_program(&r->fs, P_OTA, 6 * SEC - 16, d, 0), FLASHSIM_ECUT);
    assert_int_equal(c.op.len, 0);
    /* FLASHSIM_ANY_PART: every op, by chip offset. */
    memset(&f, 0, sizeof(f));
    f.mode = FLASHSIM_F_CUT_BEFORE;
    f.part = FLASHSIM_ANY_PART;
    f.off_lo = 9 * SEC;
    f.off_hi = 9 * SEC + 8;
    arm(r, &c, &f);
    assert_int_equal(flashsim_program(&r->fs, P_APP, 0, d, 16), FLASHSIM_OK);
    assert_int_equal(flashsim_program(&r->fs, P_OTA, SEC, d, 8), FLASHSIM_ECUT);
    assert_int_equal(c.op.addr, 9 * SEC);
    arm(r, &c, &f);
    assert_int_equal(flashsim_program(&r->fs, FLASHSIM_CHIP, 9 * SEC, d, 8), FLASHSIM_ECUT);
    /* FLASHSIM_CHIP selects ops made on chip offsets only. */
    f.part = FLASHSIM_CHIP;
    arm(r, &c, &f);
    assert_int_equal(flashsim_program(&r->fs, P_OTA, SEC, d, 8), FLASHSIM_OK);
    assert_int_equal(flashsim_program(&r->fs, FLASHSIM_CHIP, 9 * SEC, d, 8), FLASHSIM_ECUT);

    /* Phase. */
    f = on_ota(FLASHSIM_F_CUT_BEFORE);
    f.phase = FLASHSIM_PH_BOOT_COPY;
    arm(r, &c, &f);
    r->fs.phase = FLASHSIM_PH_DOWNLOAD;
    assert_int_equal(flashsim_program(&r->fs, P_OTA, 64, d, 8), FLASHSIM_OK);
    r->fs.phase = FLASHSIM_PH_BOOT_COPY;
    assert_int_equal(flashsim_program(&r->fs, P_APP, 64, d, 8), FLASHSIM_OK);
    assert_int_equal(flashsim_program(&r->fs, P_OTA, 72, d, 8), FLASHSIM_ECUT);
    assert_int_equal(c.op.phase, FLASHSIM_PH_BOOT_COPY);
    r->fs.phase = FLASHSIM_PH_NONE;

    /* Kinds. */
    f = on_ota(FLASHSIM_F_CUT_BEFORE);
    f.kinds = 1u << FLASHSIM_OP_ERASE;
    arm(r, &c, &f);
    assert_int_equal(flashsim_program(&r->fs, P_OTA, 80, d, 8), FLASHSIM_OK);
    assert_int_equal(flashsim_erase(&r->fs, P_OTA, 3 * SEC, SEC), FLASHSIM_ECUT);
    assert_int_equal(c.op.kind, FLASHSIM_OP_ERASE);
    f.kinds = 1u << FLASHSIM_OP_PROGRAM;
    arm(r, &c, &f);
    assert_int_equal(flashsim_erase(&r->fs, P_OTA, 3 * SEC, SEC), FLASHSIM_OK);
    assert_int_equal(flashsim_program(&r->fs, P_OTA, 88, d, 8), FLASHSIM_ECUT);

    /* nth: the 3rd matching op, whatever runs between. Rejected ops count. */
    f = on_ota(FLASHSIM_F_CUT_BEFORE);
    f.nth = 3;
    arm(r, &c, &f);
    assert_int_equal(flashsim_program(&r->fs, P_OTA, 96, d, 8), FLASHSIM_OK);
    assert_int_equal(flashsim_program(&r->fs, P_APP, 96, d, 8), FLASHSIM_OK);
    assert_int_equal(flashsim_program(&r->fs, P_OTA, 6 * SEC, d, 8), FLASHSIM_ERANGE);
    assert_int_equal(r->fs.fault.matched, 2);
    assert_int_equal(flashsim_erase(&r->fs, P_OTA, 4 * SEC, 2 * SEC), FLASHSIM_ECUT);
    assert_int_equal(r->fs.fault.matched, 3);
    assert_int_equal(c.op.off, 4 * SEC);
    assert_int_equal(r->fs.meta->erase_count[12], 0);
    /* Re-arming resets the count. */
    arm(r, &c, &f);
    assert_int_equal(r->fs.fault.matched, 0);
    assert_int_equal(r->fs.fault.fired, 0);

    /* at_seq: selectors ignored. */
    f = on_ota(FLASHSIM_F_CUT_BEFORE);
    f.part = 77;
    f.phase = FLASHSIM_PH_KV;
    f.at_seq = r->fs.meta->op_seq + 2;
    arm(r, &c, &f);
    assert_int_equal(flashsim_program(&r->fs, P_APP, 128, d, 8), FLASHSIM_OK);
    assert_int_equal(flashsim_program(&r->fs, P_APP, 136, d, 8), FLASHSIM_ECUT);
    assert_int_equal(c.op.seq, f.at_seq);
    assert_int_equal(c.op.part, P_APP);
    assert_int_equal(r->fs.fault.matched, 1);
    assert_int_equal(flashsim_program(&r->fs, P_APP, 136, d, 8), FLASHSIM_OK);
    ram_free(r);
}

/* on_cut as meant: it never returns. */
static jmp_buf cut_env;

static void jump_cut(void *ctx, const struct flashsim_op *op)
{
    struct cutrec *c = ctx;

    c->n++;
    c->op = *op;
    longjmp(cut_env, 1);
}

static void test_fault_on_cut(void **state)
{
    struct ram *r = ram_new(8, 0);
    struct flashsim_fault f = on_ota(FLASHSIM_F_CUT_BEFORE);
    struct cutrec c;
    uint8_t d[8] = {0};
    volatile int returned = 0;

    (void)state;
    /* Exactly once, with the op it fired on, across a multi-sector erase. */
    assert_int_equal(flashsim_program(&r->fs, P_OTA, 2 * SEC, d, 8), FLASHSIM_OK);
    f.kinds = 1u << FLASHSIM_OP_ERASE;
    f.nth = 2;
    arm(r, &c, &f);
    assert_int_equal(flashsim_erase(&r->fs, P_OTA, 0, 4 * SEC), FLASHSIM_ECUT);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.op.seq, 3);
    assert_int_equal(c.op.kind, FLASHSIM_OP_ERASE);
    assert_int_equal(c.op.part, P_OTA);
    assert_int_equal(c.op.off, SEC);
    assert_int_equal(c.op.addr, 9 * SEC);
    assert_int_equal(c.op.len, SEC);
    assert_int_equal(c.op.fault, FLASHSIM_F_CUT_BEFORE);
    assert_int_equal(r->fs.meta->erase_count[8], 1);
    assert_int_equal(r->fs.meta->erase_count[9], 0);
    assert_int_equal(r->mem[10 * SEC], 0);
    assert_int_equal(flashsim_erase(&r->fs, P_OTA, 0, 4 * SEC), FLASHSIM_OK);
    assert_int_equal(c.n, 1);

    /* A callback that never returns: the call does not return either. */
    memset(&c, 0, sizeof(c));
    f = on_ota(FLASHSIM_F_TORN);
    flashsim_fault_arm(&r->fs, &f);
    r->fs.on_cut = jump_cut;
    r->fs.cut_ctx = &c;
    if (!setjmp(cut_env)) {
        flashsim_program(&r->fs, P_OTA, 0, d, 8);
        returned = 1;
    }
    assert_int_equal(returned, 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.op.fault, FLASHSIM_F_TORN);
    ram_free(r);
}

/* ---- file backend ---------------------------------------------------------- */

static char tmpdir[256];

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_flashsim.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    char cmd[300];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static const struct flashsim_geom fgeom = {CHIP, SEC, 8, 0xFF, 1};

static void ff_parts(struct flashfile *ff)
{
    add(&ff->fs, P_OTA, "OTA_TEMP", 8 * SEC, 6 * SEC, RW);
    add(&ff->fs, P_RO, "BOOT\"LOADER", 0, 2 * SEC, RO);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *s;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    s = calloc(1, (size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    fclose(f);
    return s;
}

struct uctx {
    int before, after;
    uint64_t cut_at;
    long log_len_at_after; /* op log size when the after call came */
    const char *logpath;
};

static int user_hook(void *ctx, const struct flashsim_op *op, int before)
{
    struct uctx *u = ctx;
    struct stat st;

    if (before) {
        u->before++;
        return u->cut_at && op->seq == u->cut_at;
    }
    u->after++;
    if (u->logpath && stat(u->logpath, &st) == 0)
        u->log_len_at_after = (long)st.st_size;
    return 0;
}

static void test_flashfile_persistence(void **state)
{
    struct flashfile ff;
    char path[300], err[256];
    uint8_t d[16], out[16];
    struct stat st;

    (void)state;
    snprintf(path, sizeof(path), "%s/persist.flash", tmpdir);
    memset(&ff, 0, sizeof(ff));
    /* Missing file without create. */
    assert_int_equal(flashfile_open(&ff, path, &fgeom, 0, 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, path));

    assert_int_equal(flashfile_open(&ff, path, &fgeom, 1, 0, err, sizeof(err)), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal((size_t)st.st_size, CHIP + flashsim_state_size(&fgeom));
    ff_parts(&ff);
    assert_true(all_equal(ff.fs.mem, CHIP, 0xFF));
    memset(d, 0x3C, sizeof(d));
    assert_int_equal(flashsim_program(&ff.fs, P_OTA, 64, d, 16), FLASHSIM_OK);
    assert_int_equal(flashsim_erase(&ff.fs, P_OTA, SEC, 2 * SEC), FLASHSIM_OK);
    ff.fs.meta->boots++;
    flashfile_close(&ff);
    flashfile_close(&ff); /* harmless twice */

    /* "Reboot": numbering, counters, contents and program-once state persist. */
    assert_int_equal(flashfile_open(&ff, path, &fgeom, 1, 0, err, sizeof(err)), 0);
    ff_parts(&ff);
    assert_int_equal(ff.fs.meta->op_seq, 3);
    assert_int_equal(ff.fs.meta->boots, 1);
    assert_int_equal(ff.fs.meta->erase_count[9], 1);
    assert_int_equal(ff.fs.meta->erase_count[10], 1);
    assert_int_equal(flashsim_read(&ff.fs, P_OTA, 64, out, 16), FLASHSIM_OK);
    assert_memory_equal(out, d, 16);
    assert_int_equal(flashsim_program(&ff.fs, P_OTA, 64, d, 8), FLASHSIM_EIO);
    assert_int_equal(ff.fs.meta->viol[0].violation, FLASHSIM_V_PROGRAM_TWICE);
    assert_int_equal(ff.fs.meta->viol[0].seq, 4);
    flashfile_close(&ff);
    /* No temporary file is left behind. */
    {
        char tmp[320];

        snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
        assert_int_not_equal(stat(tmp, &st), 0);
    }
}

static void test_flashfile_wrong_size(void **state)
{
    struct flashfile ff;
    char path[300], err[256], want[64];
    struct flashsim_geom g2 = fgeom;
    FILE *f;

    (void)state;
    snprintf(path, sizeof(path), "%s/wrong.flash", tmpdir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("not a flash image", f);
    fclose(f);
    memset(&ff, 0, sizeof(ff));
    err[0] = '\0';
    assert_int_equal(flashfile_open(&ff, path, &fgeom, 1, 0, err, sizeof(err)), -1);
    /* One line naming the file, the size found and the size expected. */
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "size 17 bytes"));
    snprintf(want, sizeof(want), "expected %zu", CHIP + flashsim_state_size(&fgeom));
    assert_non_null(strstr(err, want));
    assert_null(strchr(err, '\n'));
    assert_null(ff.map);

    /* A file made for another geometry is refused the same way. */
    snprintf(path, sizeof(path), "%s/geom.flash", tmpdir);
    assert_int_equal(flashfile_open(&ff, path, &fgeom, 1, 0, err, sizeof(err)), 0);
    flashfile_close(&ff);
    g2.size = 2 * CHIP;
    assert_int_equal(flashfile_open(&ff, path, &g2, 1, 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "expected"));
    g2.size = 0;
    assert_int_equal(flashfile_open(&ff, path, &g2, 1, 0, err, sizeof(err)), -1);
}

static void test_flashfile_oplog(void **state)
{
    struct flashfile ff;
    struct uctx u;
    char path[300], logpath[320], err[256];
    uint8_t d[8] = {0};
    char *log;
    struct stat st;

    (void)state;
    snprintf(path, sizeof(path), "%s/oplog.flash", tmpdir);
    snprintf(logpath, sizeof(logpath), "%s.oplog", path);
    memset(&ff, 0, sizeof(ff));
    memset(&u, 0, sizeof(u));
    u.logpath = logpath;
    ff.user_hook = user_hook; /* set before open: kept */
    ff.user_ctx = &u;
    assert_int_equal(flashfile_open(&ff, path, &fgeom, 1, 1, err, sizeof(err)), 0);
    assert_ptr_equal(ff.user_hook, user_hook);
    ff_parts(&ff);
    assert_int_equal(flashsim_program(&ff.fs, P_OTA, 4096, d, 8), FLASHSIM_OK);
    /* The line is on disk before the user hook's after call. */
    assert_int_equal(stat(logpath, &st), 0);
    assert_int_equal(u.log_len_at_after, (long)st.st_size);
    assert_int_equal(flashsim_erase(&ff.fs, P_OTA, 0, SEC), FLASHSIM_OK);
    assert_int_equal(flashsim_program(&ff.fs, P_OTA, 4096, d, 8), FLASHSIM_EIO);
    assert_int_equal(flashsim_erase(&ff.fs, P_RO, 0, SEC), FLASHSIM_EIO);
    assert_int_equal(flashsim_read(&ff.fs, P_OTA, 0, d, 8), FLASHSIM_OK); /* not logged */
    assert_int_equal(flashsim_read(&ff.fs, FLASHSIM_CHIP, CHIP, d, 8), FLASHSIM_ERANGE);
    assert_int_equal(flashsim_program(&ff.fs, FLASHSIM_CHIP, 0, d, 8), FLASHSIM_OK);
    /* The user hook decides power cuts: nothing logged for a cut op. */
    u.cut_at = 6;
    assert_int_equal(flashsim_program(&ff.fs, P_OTA, 0, d, 8), FLASHSIM_ECUT);
    assert_int_equal(u.before, 6);
    assert_int_equal(u.after, 7);
    flashfile_close(&ff);

    log = slurp(logpath);
    assert_non_null(log);
    assert_string_equal(
        log,
        "{\"seq\":1,\"op\":\"program\",\"part\":\"OTA_TEMP\",\"off\":4096,\"len\":8,\"result\":0}\n"
        "{\"seq\":2,\"op\":\"erase\",\"part\":\"OTA_TEMP\",\"off\":0,\"len\":4096,\"result\":0}\n"
        "{\"seq\":3,\"op\":\"program\",\"part\":\"OTA_TEMP\",\"off\":4096,\"len\":8,\"result\":-5,"
        "\"violation\":\"program-twice\"}\n"
        "{\"seq\":4,\"op\":\"erase\",\"part\":\"BOOT\\\"LOADER\",\"off\":0,\"len\":4096,\"result\":-5,"
        "\"violation\":\"read-only\"}\n"
        "{\"seq\":0,\"op\":\"read\",\"part\":\"CHIP\",\"off\":65536,\"len\":8,\"result\":-34,"
        "\"violation\":\"out-of-chip\"}\n"
        "{\"seq\":5,\"op\":\"program\",\"part\":\"CHIP\",\"off\":0,\"len\":8,\"result\":0}\n");
    free(log);

    /* Reopening appends to the same log, numbering continues. */
    memset(&u, 0, sizeof(u));
    assert_int_equal(flashfile_open(&ff, path, &fgeom, 0, 1, err, sizeof(err)), 0);
    ff_parts(&ff);
    assert_int_equal(flashsim_erase(&ff.fs, P_OTA, SEC, SEC), FLASHSIM_OK);
    flashfile_close(&ff);
    log = slurp(logpath);
    assert_non_null(log);
    assert_non_null(strstr(log, "{\"seq\":7,\"op\":\"erase\",\"part\":\"OTA_TEMP\",\"off\":4096,"
                                "\"len\":4096,\"result\":0}\n"));
    free(log);
}

/* Op log lines name the phase and the fault when there are any. */
static void test_flashfile_oplog_fault(void **state)
{
    struct flashfile ff;
    struct flashsim_fault f;
    char path[300], logpath[320], err[256];
    uint8_t d[8] = {0};
    char *log;

    (void)state;
    snprintf(path, sizeof(path), "%s/fault.flash", tmpdir);
    snprintf(logpath, sizeof(logpath), "%s.oplog", path);
    memset(&ff, 0, sizeof(ff));
    assert_int_equal(flashfile_open(&ff, path, &fgeom, 1, 1, err, sizeof(err)), 0);
    ff_parts(&ff);
    ff.fs.phase = FLASHSIM_PH_DOWNLOAD;
    memset(&f, 0, sizeof(f));
    f.mode = FLASHSIM_F_FAIL;
    f.at_seq = 1;
    flashsim_fault_arm(&ff.fs, &f);
    assert_int_equal(flashsim_program(&ff.fs, P_OTA, 0, d, 8), FLASHSIM_EIO);
    ff.fs.phase = FLASHSIM_PH_INIT_ERASE;
    f.mode = FLASHSIM_F_CUT_AFTER;
    f.at_seq = 2;
    flashsim_fault_arm(&ff.fs, &f);
    assert_int_equal(flashsim_erase(&ff.fs, P_OTA, 0, 2 * SEC), FLASHSIM_ECUT);
    f.mode = FLASHSIM_F_TORN;
    f.at_seq = 3;
    flashsim_fault_arm(&ff.fs, &f);
    ff.fs.phase = FLASHSIM_PH_NONE;
    assert_int_equal(flashsim_program(&ff.fs, P_OTA, 0, d, 8), FLASHSIM_ECUT); /* no line */
    assert_int_equal(flashsim_program(&ff.fs, P_OTA, 8, d, 8), FLASHSIM_OK);
    /* The state written now has the new metadata version. */
    assert_int_equal(ff.fs.meta->version, 2);
    flashfile_close(&ff);

    log = slurp(logpath);
    assert_non_null(log);
    assert_string_equal(
        log,
        "{\"seq\":1,\"op\":\"program\",\"part\":\"OTA_TEMP\",\"off\":0,\"len\":8,\"result\":-5,"
        "\"phase\":\"download-write\",\"fault\":\"fail\"}\n"
        "{\"seq\":2,\"op\":\"erase\",\"part\":\"OTA_TEMP\",\"off\":0,\"len\":4096,\"result\":0,"
        "\"phase\":\"init-erase\",\"fault\":\"after\"}\n"
        "{\"seq\":4,\"op\":\"program\",\"part\":\"OTA_TEMP\",\"off\":8,\"len\":8,\"result\":0}\n");
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_geom_check),
        cmocka_unit_test(test_init_and_state_size),
        cmocka_unit_test(test_parts),
        cmocka_unit_test(test_program_and_rule),
        cmocka_unit_test(test_check_order_and_violations),
        cmocka_unit_test(test_erase_counts_and_numbering),
        cmocka_unit_test(test_program_once),
        cmocka_unit_test(test_program_matches_model),
        cmocka_unit_test(test_violation_ring),
        cmocka_unit_test(test_hook_cut),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_fault_names_and_layout),
        cmocka_unit_test(test_phase_recorded),
        cmocka_unit_test(test_fault_cut_before),
        cmocka_unit_test(test_fault_cut_after),
        cmocka_unit_test(test_fault_torn),
        cmocka_unit_test(test_fault_torn_program_once),
        cmocka_unit_test(test_fault_partial_erase),
        cmocka_unit_test(test_fault_partial_erase_program_once),
        cmocka_unit_test(test_fault_fail),
        cmocka_unit_test(test_fault_bitflip),
        cmocka_unit_test(test_fault_selectors),
        cmocka_unit_test(test_fault_on_cut),
        cmocka_unit_test(test_flashfile_persistence),
        cmocka_unit_test(test_flashfile_wrong_size),
        cmocka_unit_test(test_flashfile_oplog),
        cmocka_unit_test(test_flashfile_oplog_fault),
    };

    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
