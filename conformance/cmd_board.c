/*
 * cmd_board.c - `otahil board check B`: the static half of spec §12 #10
 * ("after OTA the Wi-Fi SSID and password are lost": the partitions
 * overlapped). Loads the board file with the usual loader, undeclared
 * overlaps let through (BOARD_LOAD_ANY_OVERLAP) so that every one can be
 * listed, prints the partition table with what each partition is for, and
 * names every overlapping pair: a declared one (mk3060's PARAMETER_4 inside
 * the bootloader, as the real table has it) is a warning, an undeclared one
 * an error. Each line says what an update or a settings write there
 * destroys. Every other problem of the file is the loader's one line.
 */
#include <stdio.h>
#include <string.h>

#include "conformance/commands.h"
#include "hal/soc/flash.h"
#include "sim/board/board.h"
#include "sim/util/defaults.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: otahil board check B\n"
            "B: a board name (boards/B.ini, docs/boards.md) or a path to an .ini file.\n"
            "Prints the partition table and every pair of overlapping partitions: a declared\n"
            "overlap ('overlaps = NAME') is a warning, an undeclared one an error (spec §12 #10:\n"
            "an overlap is how settings are lost in an update).\n"
            "Exit 0 no undeclared overlap, 1 an undeclared overlap, 2 a bad board file.\n");
}

static int is_kv(const struct board *b, int id)
{
    for (int k = 0; k < b->nkv; k++)
        if (b->kv_parts[k] == id)
            return 1;
    return 0;
}

/* Written by an update: both slots, the boot record, the agent's KV state. */
static int update_writes(const struct board *b, int id)
{
    return id == HAL_PARTITION_APPLICATION || id == HAL_PARTITION_OTA_TEMP ||
           id == HAL_PARTITION_PARAMETER_1 || is_kv(b, id);
}

static const char *role(const struct board *b, const struct board_part *p, char *buf, size_t n)
{
    int pingpong = !strcmp(b->bootloader, "pingpong");
    if (is_kv(b, p->id)) {
        int k = 0;
        while (b->kv_parts[k] != p->id)
            k++;
        if (b->nkv > 1)
            snprintf(buf, n, "KV store, part %d of %d (settings: Wi-Fi credentials)", k + 1, b->nkv);
        else
            snprintf(buf, n, "KV store (settings: Wi-Fi credentials)");
        return buf;
    }
    switch (p->id) {
    case HAL_PARTITION_BOOTLOADER: return "bootloader";
    case HAL_PARTITION_APPLICATION: return pingpong ? "image slot A" : "running image";
    case HAL_PARTITION_OTA_TEMP: return pingpong ? "image slot B" : "download slot";
    case HAL_PARTITION_PARAMETER_1: return "boot record (the OTA hand-off)";
    default: return p->description;
    }
}

/* What the overlap of p and q costs, as a clause. */
static void consequence(const struct board *b, const struct board_part *p,
                        const struct board_part *q, char *buf, size_t n)
{
    int pu = update_writes(b, p->id), qu = update_writes(b, q->id);
    int pk = is_kv(b, p->id), qk = is_kv(b, q->id);
    if (pu && qu && pk != qk) {
        const struct board_part *k = pk ? p : q, *w = pk ? q : p;
        snprintf(buf, n, "an update writes %s, so it can erase the settings in %s (the KV store)",
                 w->name, k->name);
    } else if (pu != qu) {
        const struct board_part *w = pu ? p : q, *o = pu ? q : p;
        snprintf(buf, n, "an update writes %s, so it can destroy what %s holds", w->name, o->name);
    } else if (pu) {
        snprintf(buf, n, "an update writes both, each over the other");
    } else if ((p->options | q->options) & PAR_OPT_WRITE_EN) {
        const struct board_part *o = (p->options & PAR_OPT_WRITE_EN) ? p : q;
        snprintf(buf, n, "a write or erase of %s changes %s's bytes", o->name, o == p ? q->name : p->name);
    } else {
        snprintf(buf, n, "both are read-only");
    }
}

static int check(const char *arg)
{
    static struct board b;
    struct board_overlap ov[BOARD_MAX_PARTS * BOARD_MAX_PARTS / 2];
    char err[1024], rb[96], what[160];
    if (board_open_flags(&b, arg, BOARD_LOAD_ANY_OVERLAP, err, sizeof(err)) != 0) {
        fprintf(stderr, "otahil board check: %s\n", err);
        return OTAHIL_EXIT_HARNESS;
    }
    int n = board_overlaps(&b, ov, (int)(sizeof(ov) / sizeof(ov[0])));
    uint32_t kvbytes = 0;
    for (int k = 0; k < b.nkv; k++)
        kvbytes += board_part(&b, b.kv_parts[k])->length;

    printf("board    %s (%s): %s\n", b.name, b.path, b.description[0] ? b.description : "-");
    printf("flash    0x%X bytes at 0x%X, 0x%X-byte sectors, program unit %u%s\n", b.geom.size,
           b.flash_base, b.geom.sector_size, b.geom.program_unit,
           b.geom.program_once ? ", program once" : "");
    printf("boot     %s bootloader, boot record in PARAMETER_1\n", b.bootloader);
    printf("kv       ");
    for (int k = 0; k < b.nkv; k++)
        printf("%s%s", k ? ", " : "", board_part_name(b.kv_parts[k]));
    printf(" (%u KiB)\n\n", kvbytes / 1024);
    printf("%-12s %-10s %-10s %-10s %-3s %s\n", "partition", "start", "end", "length", "opt", "use");
    for (int i = 0; i < b.nparts; i++) {
        const struct board_part *p = &b.parts[i];
        int mark = 0;
        for (int k = 0; k < n; k++)
            if (ov[k].a == i || ov[k].b == i)
                mark = ov[k].declared && mark != 2 ? 1 : 2;
        printf("%-12s 0x%08X 0x%08llX 0x%08X %-3s %s%s\n", p->name, p->start,
               (unsigned long long)p->start + p->length, p->length,
               (p->options & PAR_OPT_WRITE_EN) ? "rw" : (p->options & PAR_OPT_READ_EN) ? "r" : "-",
               role(&b, p, rb, sizeof(rb)),
               mark == 2 ? "   <- overlap (undeclared)" : mark ? "   <- overlap (declared)" : "");
    }
    printf("\n");
    int bad = 0;
    for (int k = 0; k < n; k++) {
        const struct board_part *p = &b.parts[ov[k].a], *q = &b.parts[ov[k].b];
        /* the declaring partition, else the later one, carries the line */
        const struct board_part *at = q->overlaps_ok == p->id ? q : p->overlaps_ok == q->id ? p : q;
        const struct board_part *other = at == p ? q : p;
        consequence(&b, p, q, what, sizeof(what));
        if (ov[k].declared) {
            printf("warning: %s:%d: %s (0x%x..0x%llx) overlaps %s (0x%x..0x%llx) on 0x%x..0x%x, "
                   "declared ('overlaps = %s'): %s (spec §10.3, §12 #10)\n",
                   b.path, at->line, at->name, at->start, (unsigned long long)at->start + at->length,
                   other->name, other->start, (unsigned long long)other->start + other->length,
                   ov[k].lo, ov[k].hi, other->name, what);
        } else {
            bad++;
            printf("error: %s:%d: %s (0x%x..0x%llx) overlaps %s (0x%x..0x%llx) on 0x%x..0x%x, "
                   "undeclared: %s (spec §12 #10: partitions must not overlap)\n",
                   b.path, at->line, at->name, at->start, (unsigned long long)at->start + at->length,
                   other->name, other->start, (unsigned long long)other->start + other->length,
                   ov[k].lo, ov[k].hi, what);
        }
    }
    if (!n)
        printf("%s: no overlapping partitions\n", b.name);
    else
        printf("%s: %d overlap%s: %d undeclared (error), %d declared (warning)\n", b.name, n,
               n == 1 ? "" : "s", bad, n - bad);
    return bad ? OTAHIL_EXIT_FAIL : 0;
}

int cmd_board(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return 0;
    }
    if (argc < 2) {
        usage(stderr);
        return OTAHIL_EXIT_HARNESS;
    }
    if (strcmp(argv[1], "check") != 0) {
        fprintf(stderr, "otahil board: unknown subcommand '%s' (check)\n", argv[1]);
        return OTAHIL_EXIT_HARNESS;
    }
    if (argc != 3) {
        fprintf(stderr, "otahil board check: needs exactly one board (a name or an .ini path)\n");
        return OTAHIL_EXIT_HARNESS;
    }
    return check(argv[2]);
}
