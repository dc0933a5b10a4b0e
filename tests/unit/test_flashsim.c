/*
 * test_flashsim.c - the NOR flash model and its file backend.
 *
 * Every rule and violation kind, the fixed check order, op numbering (one op
 * per program, one per erased sector, rejected ops numbered, reads not),
 * erase counts, program-once, the violation ring, power cuts through the
 * hook, and the file backend: persistence across close/reopen ("reboots"),
 * the op log, the refusal of a file of the wrong size.
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
        cmocka_unit_test(test_violation_ring),
        cmocka_unit_test(test_hook_cut),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_flashfile_persistence),
        cmocka_unit_test(test_flashfile_wrong_size),
        cmocka_unit_test(test_flashfile_oplog),
    };

    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
