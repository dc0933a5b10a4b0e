/*
 * board.c - loads and checks board files (boards/NAME.ini, format in
 * docs/boards.md): flash geometry, partition table, bootloader kind and
 * protocol profile, as data.
 *
 * Parsing is inih's, through ini_parse_stream with a reader of our own. The
 * reader counts lines (inih's handler is not told the line), sees section
 * headers as they go by (inih does not report a section with no keys), and
 * strips leading blanks so that an indented line is a key of its own rather
 * than an inih continuation line. Every problem is reported as one line,
 * "FILE:LINE: what", and the first one found wins. Checks that need the whole
 * file (required keys, geometry, overlaps, the kv partitions, the dual-bank
 * rule) run once the file has been read.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ini.h>

#include "hal/soc/flash.h"
#include "board.h"

#define BOARD_LINE_MAX 1024 /* longest physical line read before inih's own limit */

/* Partitions are unique by id, so the table can never overflow. */
_Static_assert(BOARD_MAX_PARTS >= HAL_PARTITION_MAX, "BOARD_MAX_PARTS too small");

/* Partition names, indexed by rel_2.0.0 hal_partition_t value. */
static const char *const part_names[HAL_PARTITION_MAX] = {
    [HAL_PARTITION_BOOTLOADER] = "BOOTLOADER",
    [HAL_PARTITION_APPLICATION] = "APPLICATION",
    [HAL_PARTITION_ATE] = "ATE",
    [HAL_PARTITION_OTA_TEMP] = "OTA_TEMP",
    [HAL_PARTITION_RF_FIRMWARE] = "RF_FIRMWARE",
    [HAL_PARTITION_PARAMETER_1] = "PARAMETER_1",
    [HAL_PARTITION_PARAMETER_2] = "PARAMETER_2",
    [HAL_PARTITION_PARAMETER_3] = "PARAMETER_3",
    [HAL_PARTITION_PARAMETER_4] = "PARAMETER_4",
    [HAL_PARTITION_BT_FIRMWARE] = "BT_FIRMWARE",
    [HAL_PARTITION_SPIFFS] = "SPIFFS",
    [HAL_PARTITION_CUSTOM_1] = "CUSTOM_1",
    [HAL_PARTITION_CUSTOM_2] = "CUSTOM_2",
    [HAL_PARTITION_RECOVERY] = "RECOVERY",
};

enum section { SEC_NONE, SEC_BOARD, SEC_FLASH, SEC_PART, SEC_BROKEN };

enum board_key { BK_NAME, BK_DESCRIPTION, BK_BOOTLOADER, BK_BOOT_ATTEMPTS, BK_PROFILE,
                 BK_FLASH_BASE, BK_KV, BK_APP_DL, BK_KERNEL_DL, BK_CHECKPOINT, BK_COUNT };
static const char *const board_keys[BK_COUNT] = {
    "name", "description", "bootloader", "boot_attempts", "profile",
    "flash_base", "kv", "app_download_addr", "kernel_download_addr", "checkpoint",
};

enum flash_key { FK_SIZE, FK_SECTOR_SIZE, FK_PROGRAM_UNIT, FK_ERASE_VALUE, FK_PROGRAM_ONCE, FK_COUNT };
static const char *const flash_keys[FK_COUNT] = {
    "size", "sector_size", "program_unit", "erase_value", "program_once",
};

enum part_key { PK_START, PK_LENGTH, PK_OPTIONS, PK_DESCRIPTION, PK_OVERLAPS, PK_COUNT };
static const char *const part_keys[PK_COUNT] = {
    "start", "length", "options", "description", "overlaps",
};

/* State of one board_load. */
struct loader {
    struct board *b;
    const char   *path;
    FILE         *f;
    int           line;        /* lines read so far: the line inih is parsing */
    int           err_line;    /* line of the first problem, 0 if none */
    char          msg[512];    /* its text, without "FILE:LINE: " */
    int           sec;         /* enum section of the current line */
    int           part;        /* index in b->parts when sec is SEC_PART */
    int           board_line;  /* line of [board], 0 if absent */
    int           flash_line;  /* line of [flash], 0 if absent */
    int           bkey[BK_COUNT];                 /* line of each key, 0 if not given */
    int           fkey[FK_COUNT];
    int           pkey[BOARD_MAX_PARTS][PK_COUNT];
    unsigned      flags;       /* BOARD_LOAD_* */
};

/* Records the first problem; always -1. */
__attribute__((format(printf, 3, 4)))
static int fail(struct loader *L, int line, const char *fmt, ...)
{
    va_list ap;

    if (L->err_line)
        return -1;
    L->err_line = line > 0 ? line : 1;
    va_start(ap, fmt);
    vsnprintf(L->msg, sizeof(L->msg), fmt, ap);
    va_end(ap);
    return -1;
}

static char *trim(char *s)
{
    char *e;

    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

int board_part_id(const char *name)
{
    int id;

    if (name == NULL)
        return -1;
    if (strncasecmp(name, "HAL_PARTITION_", 14) == 0)
        name += 14;
    for (id = 0; id < HAL_PARTITION_MAX; id++)
        if (strcasecmp(name, part_names[id]) == 0)
            return id;
    return -1;
}

const char *board_part_name(int id)
{
    return id >= 0 && id < HAL_PARTITION_MAX ? part_names[id] : "?";
}

const struct board_part *board_part(const struct board *b, int id)
{
    int i;

    if (b == NULL)
        return NULL;
    for (i = 0; i < b->nparts; i++)
        if (b->parts[i].id == id)
            return &b->parts[i];
    return NULL;
}

static int part_index(const struct board *b, int id)
{
    const struct board_part *p = board_part(b, id);
    return p ? (int)(p - b->parts) : -1;
}

/* Decimal or 0x hex, with an optional K (KiB) or M (MiB) suffix, < 2^32. */
static int parse_u32(const char *s, uint32_t *out)
{
    uint64_t v = 0, mul = 1;
    int base = 10, digits = 0, d;

    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    for (; *s; s++, digits++) {
        if (isdigit((unsigned char)*s))
            d = *s - '0';
        else if (base == 16 && isxdigit((unsigned char)*s))
            d = tolower((unsigned char)*s) - 'a' + 10;
        else
            break;
        v = v * (uint64_t)base + (uint64_t)d;
        if (v > UINT32_MAX)
            return -1;
    }
    if (digits == 0)
        return -1;
    if (*s == 'K' || *s == 'k')
        mul = 1024, s++;
    else if (*s == 'M' || *s == 'm')
        mul = 1024 * 1024, s++;
    if (*s != '\0' || v * mul > UINT32_MAX)
        return -1;
    *out = (uint32_t)(v * mul);
    return 0;
}

static int is_pow2(uint32_t v)
{
    return v != 0 && (v & (v - 1)) == 0;
}

static int copy_text(struct loader *L, char *dst, size_t dstlen, const char *key, const char *value,
                     int allow_empty)
{
    size_t n = strlen(value);

    if (n >= dstlen)
        return fail(L, L->line, "%s: too long (at most %zu characters)", key, dstlen - 1);
    if (n == 0 && !allow_empty)
        return fail(L, L->line, "%s: empty value", key);
    memcpy(dst, value, n + 1);
    return 0;
}

static int number(struct loader *L, const char *key, const char *value, uint32_t *out)
{
    if (parse_u32(value, out) != 0)
        return fail(L, L->line, "%s: bad number '%s' (use decimal, 0x hex, K or M suffix)", key, value);
    return 0;
}

/* Finds key in a section's table and records its line; -1 after a failure. */
static int key_slot(struct loader *L, const char *const *keys, int nkeys, int *lines,
                    const char *section, const char *key)
{
    int k;

    for (k = 0; k < nkeys; k++)
        if (strcmp(key, keys[k]) == 0)
            break;
    if (k == nkeys) {
        fail(L, L->line, "unknown key '%s' in [%s]", key, section);
        return -1;
    }
    if (lines[k]) {
        fail(L, L->line, "duplicate key '%s' in [%s] (first at line %d)", key, section, lines[k]);
        return -1;
    }
    lines[k] = L->line;
    return k;
}

/* Splits a comma-separated list in place into trimmed items. The count, or
 * -1 for an empty item or more than max. */
static int split_list(char *value, char **items, int max)
{
    char *s = value, *comma;
    int n = 0;

    for (;;) {
        comma = strchr(s, ',');
        if (comma != NULL)
            *comma = '\0';
        if (n == max)
            return -1;
        items[n] = trim(s);
        if (*items[n++] == '\0')
            return -1;
        if (comma == NULL)
            return n;
        s = comma + 1;
    }
}

static int set_kv(struct loader *L, char *value)
{
    struct board *b = L->b;
    char *items[BOARD_MAX_KV];
    int n, i, j, id;

    if ((n = split_list(value, items, BOARD_MAX_KV)) < 0)
        return fail(L, L->line, "kv: expected 1 to %d partition names separated by commas", BOARD_MAX_KV);
    for (i = 0; i < n; i++) {
        if ((id = board_part_id(items[i])) < 0)
            return fail(L, L->line, "kv: '%s' is not a partition name", items[i]);
        for (j = 0; j < b->nkv; j++)
            if (b->kv_parts[j] == id)
                return fail(L, L->line, "kv: %s is listed twice", part_names[id]);
        b->kv_parts[b->nkv++] = id;
    }
    return 0;
}

/* The value setters below return 0, or -1 with the problem recorded. */
static int board_value(struct loader *L, const char *key, char *value)
{
    struct board *b = L->b;
    uint32_t v;

    switch (key_slot(L, board_keys, BK_COUNT, L->bkey, "board", key)) {
    case BK_NAME:
        return copy_text(L, b->name, sizeof(b->name), key, value, 0);
    case BK_DESCRIPTION:
        return copy_text(L, b->description, sizeof(b->description), key, value, 1);
    case BK_BOOTLOADER:
        if (strcmp(value, "copy") != 0 && strcmp(value, "pingpong") != 0)
            return fail(L, L->line, "bootloader: '%s' is not copy or pingpong", value);
        return copy_text(L, b->bootloader, sizeof(b->bootloader), key, value, 0);
    case BK_BOOT_ATTEMPTS:
        if (number(L, key, value, &v) != 0)
            return -1;
        if (v < 1 || v > 255)
            return fail(L, L->line, "boot_attempts: %u is outside 1..255", v);
        b->boot_attempts = v;
        return 0;
    case BK_PROFILE:
        if (strcmp(value, "g1") != 0)
            return fail(L, L->line, "profile: unknown protocol profile '%s' (known: g1)", value);
        return copy_text(L, b->profile, sizeof(b->profile), key, value, 0);
    case BK_FLASH_BASE:
        return number(L, key, value, &b->flash_base);
    case BK_CHECKPOINT:
        return number(L, key, value, &b->checkpoint);
    case BK_KV:
        return set_kv(L, value);
    case BK_APP_DL:
        return number(L, key, value, &b->app_download_addr);
    case BK_KERNEL_DL:
        return number(L, key, value, &b->kernel_download_addr);
    default:
        return -1;
    }
}

static int flash_value(struct loader *L, const char *key, char *value)
{
    struct flashsim_geom *g = &L->b->geom;
    uint32_t v;
    int k = key_slot(L, flash_keys, FK_COUNT, L->fkey, "flash", key);

    if (k < 0)
        return -1;
    if (k == FK_PROGRAM_ONCE) {
        if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0)
            return fail(L, L->line, "program_once: '%s' is not yes or no", value);
        g->program_once = value[0] == 'y';
        return 0;
    }
    if (number(L, key, value, &v) != 0)
        return -1;
    switch (k) {
    case FK_SIZE:
        if (v == 0)
            return fail(L, L->line, "bad geometry: size is 0");
        g->size = v;
        return 0;
    case FK_SECTOR_SIZE:
        if (!is_pow2(v))
            return fail(L, L->line, "bad geometry: sector_size 0x%x is not a power of two", v);
        g->sector_size = v;
        return 0;
    case FK_PROGRAM_UNIT:
        if (!is_pow2(v))
            return fail(L, L->line, "bad geometry: program_unit %u is not a power of two", v);
        g->program_unit = v;
        return 0;
    default: /* FK_ERASE_VALUE */
        if (v > 0xFF)
            return fail(L, L->line, "erase_value: 0x%x is not a byte", v);
        g->erase_value = (uint8_t)v;
        return 0;
    }
}

/* "read", "write", "read, write" (either order) or "none". 0 or -1. */
static int parse_options(char *value, uint32_t *out)
{
    char *items[2];
    uint32_t o = 0, bit;
    int n, i;

    if (strcmp(value, "none") == 0) {
        *out = 0;
        return 0;
    }
    if ((n = split_list(value, items, 2)) < 0)
        return -1;
    for (i = 0; i < n; i++) {
        if (strcmp(items[i], "read") == 0)
            bit = PAR_OPT_READ_EN;
        else if (strcmp(items[i], "write") == 0)
            bit = PAR_OPT_WRITE_EN;
        else
            return -1;
        if (o & bit)
            return -1;
        o |= bit;
    }
    *out = o;
    return 0;
}

static int part_value(struct loader *L, const char *key, char *value)
{
    struct board_part *p = &L->b->parts[L->part];
    char section[FLASHSIM_NAME_LEN + 16];
    int id;

    snprintf(section, sizeof(section), "partition %s", p->name);
    switch (key_slot(L, part_keys, PK_COUNT, L->pkey[L->part], section, key)) {
    case PK_START:
        return number(L, key, value, &p->start);
    case PK_LENGTH:
        if (number(L, key, value, &p->length) != 0)
            return -1;
        if (p->length == 0)
            return fail(L, L->line, "length: a partition cannot be empty");
        return 0;
    case PK_OPTIONS:
        if (parse_options(value, &p->options) != 0)
            return fail(L, L->line, "options: '%s' is not read, write, 'read, write' or none", value);
        return 0;
    case PK_DESCRIPTION:
        return copy_text(L, p->description, sizeof(p->description), key, value, 0);
    case PK_OVERLAPS:
        if ((id = board_part_id(value)) < 0)
            return fail(L, L->line, "overlaps: '%s' is not a partition name", value);
        if (id == p->id)
            return fail(L, L->line, "overlaps: %s cannot overlap itself", p->name);
        p->overlaps_ok = id;
        return 0;
    default:
        return -1;
    }
}

/* inih's callback for each key: nonzero to go on. */
static int handler(void *user, const char *section, const char *name, const char *value)
{
    struct loader *L = user;
    char buf[BOARD_LINE_MAX];
    int rc;

    (void)section; /* the reader tracks sections, empty ones included */
    if (L->err_line)
        return 0;
    snprintf(buf, sizeof(buf), "%s", value);
    switch (L->sec) {
    case SEC_BOARD:
        rc = board_value(L, name, buf);
        break;
    case SEC_FLASH:
        rc = flash_value(L, name, buf);
        break;
    case SEC_PART:
        rc = part_value(L, name, buf);
        break;
    case SEC_BROKEN: /* inih reports the bad header line itself */
        rc = 0;
        break;
    default:
        rc = fail(L, L->line, "key '%s' outside a section", name);
        break;
    }
    return rc == 0;
}

/* A "[...]" line, seen by the reader before inih parses it. */
static void section_begin(struct loader *L, const char *line)
{
    struct board *b = L->b;
    struct board_part *p;
    char name[BOARD_LINE_MAX], *s;
    const char *end;
    int id, i;

    /* Where inih finds the closing bracket: not inside a " ;" comment. */
    for (end = line + 1; *end && *end != ']'; end++)
        if (*end == ';' && isspace((unsigned char)end[-1]))
            break;
    if (*end != ']') {
        L->sec = SEC_BROKEN;
        return;
    }
    snprintf(name, sizeof(name), "%.*s", (int)(end - line - 1), line + 1);
    s = trim(name);
    if (strcmp(s, "board") == 0 || strcmp(s, "flash") == 0) {
        int *first = s[0] == 'b' ? &L->board_line : &L->flash_line;
        if (*first) {
            fail(L, L->line, "duplicate section [%s] (first at line %d)", s, *first);
            return;
        }
        *first = L->line;
        L->sec = s[0] == 'b' ? SEC_BOARD : SEC_FLASH;
        return;
    }
    if (strncmp(s, "partition", 9) != 0 || (s[9] != '\0' && !isspace((unsigned char)s[9]))) {
        fail(L, L->line, "unknown section [%s]", s);
        return;
    }
    s = trim(s + 9);
    if (*s == '\0') {
        fail(L, L->line, "[partition] needs a partition name, as in [partition OTA_TEMP]");
        return;
    }
    if ((id = board_part_id(s)) < 0) {
        fail(L, L->line, "unknown partition '%s' (a hal_partition_t name such as OTA_TEMP)", s);
        return;
    }
    for (i = 0; i < b->nparts; i++)
        if (b->parts[i].id == id) {
            fail(L, L->line, "duplicate partition %s (first at line %d)", part_names[id],
                 b->parts[i].line);
            return;
        }
    L->part = b->nparts++;
    p = &b->parts[L->part];
    p->id = id;
    snprintf(p->name, sizeof(p->name), "%s", part_names[id]);
    p->overlaps_ok = -1;
    p->line = L->line;
    L->sec = SEC_PART;
}

/* inih's fgets: one physical line per call, counted, left-trimmed. */
static char *reader(char *str, int num, void *stream)
{
    struct loader *L = stream;
    char buf[BOARD_LINE_MAX], *p;
    size_t n;
    int c;

    if (L->err_line || fgets(buf, sizeof(buf), L->f) == NULL)
        return NULL;
    L->line++;
    n = strlen(buf);
    if (n == sizeof(buf) - 1 && buf[n - 1] != '\n' && !feof(L->f)) {
        while ((c = fgetc(L->f)) != EOF && c != '\n')
            ;
        fail(L, L->line, "line too long (at most %d characters)", num - 2);
        return NULL;
    }
    p = buf;
    if (L->line == 1 && strncmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    while (*p == ' ' || *p == '\t' || *p == '\v' || *p == '\f')
        p++;
    n = strlen(p);
    if (num < 3 || n + 1 > (size_t)num || (n + 2 > (size_t)num && p[n - 1] != '\n')) {
        fail(L, L->line, "line too long (at most %d characters)", num - 2);
        return NULL;
    }
    if (*p == '[') {
        section_begin(L, p);
        if (L->err_line)
            return NULL;
    }
    memcpy(str, p, n + 1);
    return str;
}

static int ranges_meet(const struct board_part *a, const struct board_part *b)
{
    uint64_t ae = (uint64_t)a->start + a->length, be = (uint64_t)b->start + b->length;
    return a->start < be && b->start < ae;
}

/* Checks that need the whole file. 0, or -1 with the problem recorded. */
static int finish(struct loader *L)
{
    static const int required[] = {HAL_PARTITION_APPLICATION, HAL_PARTITION_OTA_TEMP,
                                   HAL_PARTITION_PARAMETER_1};
    static const int board_req[] = {BK_NAME, BK_BOOTLOADER, BK_PROFILE, BK_KV};
    static const int flash_req[] = {FK_SIZE, FK_SECTOR_SIZE, FK_PROGRAM_UNIT};
    static const int part_req[] = {PK_START, PK_LENGTH, PK_OPTIONS};
    struct board *b = L->b;
    struct flashsim_geom *g = &b->geom;
    const struct board_part *app, *ota;
    uint64_t chip_end;
    size_t k;
    int i, j, last = L->line;

    if (!L->board_line)
        return fail(L, last, "missing section [board]");
    if (!L->flash_line)
        return fail(L, last, "missing section [flash]");
    for (k = 0; k < sizeof(board_req) / sizeof(board_req[0]); k++)
        if (!L->bkey[board_req[k]])
            return fail(L, L->board_line, "[board] needs '%s'", board_keys[board_req[k]]);
    for (k = 0; k < sizeof(flash_req) / sizeof(flash_req[0]); k++)
        if (!L->fkey[flash_req[k]])
            return fail(L, L->flash_line, "[flash] needs '%s'", flash_keys[flash_req[k]]);
    for (i = 0; i < b->nparts; i++)
        for (k = 0; k < sizeof(part_req) / sizeof(part_req[0]); k++)
            if (!L->pkey[i][part_req[k]])
                return fail(L, b->parts[i].line, "[partition %s] needs '%s'", b->parts[i].name,
                            part_keys[part_req[k]]);

    /* Geometry. */
    if (g->program_unit > g->sector_size)
        return fail(L, L->fkey[FK_PROGRAM_UNIT], "bad geometry: program_unit %u is larger than sector_size %u",
                    g->program_unit, g->sector_size);
    if (g->size % g->sector_size)
        return fail(L, L->fkey[FK_SIZE], "bad geometry: size 0x%x is not a multiple of sector_size 0x%x",
                    g->size, g->sector_size);
    chip_end = (uint64_t)b->flash_base + g->size;
    if (chip_end > 0x100000000ull)
        return fail(L, L->bkey[BK_FLASH_BASE], "bad geometry: flash_base 0x%x + size 0x%x passes 4 GiB",
                    b->flash_base, g->size);
    if (!L->bkey[BK_CHECKPOINT])
        b->checkpoint = (16384 + g->sector_size - 1) / g->sector_size * g->sector_size;
    else if (b->checkpoint && b->checkpoint % g->sector_size)
        return fail(L, L->bkey[BK_CHECKPOINT], "checkpoint: %u is not a multiple of sector_size %u (0 turns periodic breakpoints off)",
                    b->checkpoint, g->sector_size);
    if (L->bkey[BK_BOOT_ATTEMPTS] && strcmp(b->bootloader, "pingpong") != 0)
        return fail(L, L->bkey[BK_BOOT_ATTEMPTS], "boot_attempts: only a pingpong bootloader counts boots");

    /* Each partition on its own. */
    for (i = 0; i < b->nparts; i++) {
        const struct board_part *p = &b->parts[i];
        uint64_t end = (uint64_t)p->start + p->length;
        if (p->start < b->flash_base || end > chip_end)
            return fail(L, L->pkey[i][PK_START],
                        "partition %s (0x%x..0x%llx) lies outside the chip (0x%x..0x%llx)", p->name,
                        p->start, (unsigned long long)end, b->flash_base, (unsigned long long)chip_end);
        if ((p->start - b->flash_base) % g->sector_size)
            return fail(L, L->pkey[i][PK_START], "partition %s: start 0x%x is not on a sector boundary (sector_size 0x%x)",
                        p->name, p->start, g->sector_size);
        if (p->length % g->sector_size)
            return fail(L, L->pkey[i][PK_LENGTH], "partition %s: length 0x%x is not a whole number of sectors (sector_size 0x%x)",
                        p->name, p->length, g->sector_size);
        if (p->overlaps_ok >= 0 && part_index(b, p->overlaps_ok) < 0)
            return fail(L, L->pkey[i][PK_OVERLAPS], "overlaps: there is no partition %s",
                        part_names[p->overlaps_ok]);
    }

    /* Overlaps: each pair, reported at the later partition. */
    for (j = 0; j < b->nparts; j++) {
        const struct board_part *q = &b->parts[j];
        for (i = 0; i < j; i++) {
            const struct board_part *p = &b->parts[i];
            if (!ranges_meet(p, q) || p->overlaps_ok == q->id || q->overlaps_ok == p->id ||
                (L->flags & BOARD_LOAD_ANY_OVERLAP))
                continue;
            return fail(L, L->pkey[j][PK_START],
                        "partition %s (0x%x..0x%llx) overlaps %s (0x%x..0x%llx); "
                        "if intended, declare 'overlaps = %s' in [partition %s]",
                        q->name, q->start, (unsigned long long)q->start + q->length, p->name, p->start,
                        (unsigned long long)p->start + p->length, p->name, q->name);
        }
        if (q->overlaps_ok >= 0 && !ranges_meet(q, board_part(b, q->overlaps_ok)))
            return fail(L, L->pkey[j][PK_OVERLAPS], "overlaps: %s does not overlap %s", q->name,
                        part_names[q->overlaps_ok]);
    }

    /* The KV store's partitions. */
    for (i = 0; i < b->nkv; i++) {
        const struct board_part *p = board_part(b, b->kv_parts[i]);
        if (p == NULL)
            return fail(L, L->bkey[BK_KV], "kv: there is no partition %s", part_names[b->kv_parts[i]]);
        if ((p->options & (PAR_OPT_READ_EN | PAR_OPT_WRITE_EN)) != (PAR_OPT_READ_EN | PAR_OPT_WRITE_EN))
            return fail(L, L->bkey[BK_KV], "kv: partition %s is not 'read, write'", p->name);
    }

    for (k = 0; k < sizeof(required) / sizeof(required[0]); k++)
        if (board_part(b, required[k]) == NULL)
            return fail(L, last, "missing [partition %s]", part_names[required[k]]);

    app = board_part(b, HAL_PARTITION_APPLICATION);
    ota = board_part(b, HAL_PARTITION_OTA_TEMP);
    if (strcmp(b->bootloader, "pingpong") == 0 && app->length != ota->length)
        return fail(L, L->pkey[part_index(b, HAL_PARTITION_OTA_TEMP)][PK_LENGTH],
                    "pingpong: APPLICATION (0x%x) and OTA_TEMP (0x%x) must have the same length",
                    app->length, ota->length);

    /* Defaults that depend on the table. */
    if (!L->bkey[BK_APP_DL])
        b->app_download_addr = app->start;
    if (!L->bkey[BK_KERNEL_DL])
        b->kernel_download_addr = app->start;
    for (i = 0; i < b->nparts; i++) /* names are shorter than descriptions */
        if (b->parts[i].description[0] == '\0')
            memcpy(b->parts[i].description, b->parts[i].name, strlen(b->parts[i].name) + 1);
    return 0;
}

int board_load(struct board *b, const char *path, char *err, size_t errlen)
{
    return board_load_flags(b, path, 0, err, errlen);
}

int board_overlaps(const struct board *b, struct board_overlap *out, int max)
{
    int i, j, n = 0;

    for (i = 0; i < b->nparts; i++)
        for (j = i + 1; j < b->nparts; j++) {
            const struct board_part *p = &b->parts[i], *q = &b->parts[j];
            if (!ranges_meet(p, q))
                continue;
            if (n < max) {
                out[n].a = i;
                out[n].b = j;
                out[n].lo = p->start > q->start ? p->start : q->start;
                out[n].hi = (uint32_t)((uint64_t)p->start + p->length < (uint64_t)q->start + q->length
                                       ? p->start + p->length : q->start + q->length);
                out[n].declared = p->overlaps_ok == q->id || q->overlaps_ok == p->id;
            }
            n++;
        }
    return n;
}

int board_load_flags(struct board *b, const char *path, unsigned flags, char *err, size_t errlen)
{
    struct loader L;
    int rc;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (b == NULL || path == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "board_load: no board or path");
        return -1;
    }
    memset(b, 0, sizeof(*b));
    memset(&L, 0, sizeof(L));
    if (strlen(path) >= sizeof(b->path)) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%.64s...: path too long", path);
        return -1;
    }
    memcpy(b->path, path, strlen(path) + 1);
    b->boot_attempts = 3;
    b->geom.erase_value = 0xFF;

    L.b = b;
    L.path = path;
    L.flags = flags;
    if ((L.f = fopen(path, "r")) == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    rc = ini_parse_stream(reader, &L, handler, &L);
    if (ferror(L.f) && !L.err_line)
        fail(&L, L.line + 1, "read error");
    fclose(L.f);
    if (rc > 0 && (!L.err_line || rc < L.err_line)) {
        L.err_line = 0;
        fail(&L, rc, "syntax error: expected [section], key = value or a ; comment");
    } else if (rc < 0 && !L.err_line) {
        fail(&L, L.line, "cannot parse (inih error %d)", rc);
    }
    if (!L.err_line)
        finish(&L);
    if (L.err_line) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s:%d: %s", path, L.err_line, L.msg);
        return -1;
    }
    return 0;
}

/* The i-th directory a board name is looked up in: each entry of
 * $OTAHIL_BOARDS (':'-separated), then ../../boards and ../boards beside the
 * executable, then ./boards. 1 when out holds it, 0 to skip, -1 past the end. */
static int lookup_dir(int i, char *out, size_t outlen)
{
    const char *env = getenv("OTAHIL_BOARDS"), *s, *e;
    char exe[4096], *slash;
    ssize_t n;
    int w;

    for (s = env; s != NULL && *s; s = *e ? e + 1 : e) {
        e = strchr(s, ':');
        if (e == NULL)
            e = s + strlen(s);
        if (e == s)
            continue;
        if (i-- == 0) {
            w = snprintf(out, outlen, "%.*s", (int)(e - s), s);
            return w >= 0 && (size_t)w < outlen;
        }
    }
    if (i < 2) {
        n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n <= 0)
            return 0;
        exe[n] = '\0';
        if ((slash = strrchr(exe, '/')) == NULL)
            return 0;
        *slash = '\0';
        w = snprintf(out, outlen, "%s/%s", exe, i == 0 ? "../../boards" : "../boards");
        return w >= 0 && (size_t)w < outlen;
    }
    if (i == 2) {
        snprintf(out, outlen, "boards");
        return 1;
    }
    return -1;
}

static int is_path(const char *s)
{
    size_t n = strlen(s);
    return strchr(s, '/') != NULL || (n >= 4 && strcmp(s + n - 4, ".ini") == 0);
}

int board_resolve(const char *name_or_path, char *path, size_t pathlen)
{
    char dir[4096];
    int i, r, w;

    if (name_or_path == NULL || *name_or_path == '\0' || path == NULL || pathlen == 0)
        return -1;
    path[0] = '\0';
    if (is_path(name_or_path)) {
        if (strlen(name_or_path) >= pathlen)
            return -1;
        memcpy(path, name_or_path, strlen(name_or_path) + 1);
        return 0;
    }
    for (i = 0; (r = lookup_dir(i, dir, sizeof(dir))) >= 0; i++) {
        if (r == 0)
            continue;
        w = snprintf(path, pathlen, "%s/%s.ini", dir, name_or_path);
        if (w >= 0 && (size_t)w < pathlen && access(path, R_OK) == 0)
            return 0;
    }
    path[0] = '\0';
    return -1;
}

int board_open(struct board *b, const char *name_or_path, char *err, size_t errlen)
{
    return board_open_flags(b, name_or_path, 0, err, errlen);
}

int board_open_flags(struct board *b, const char *name_or_path, unsigned flags, char *err,
                     size_t errlen)
{
    char path[4096], dir[4096];
    const char *sep;
    size_t used;
    int i, r;

    if (board_resolve(name_or_path, path, sizeof(path)) == 0)
        return board_load_flags(b, path, flags, err, errlen);
    if (err == NULL || errlen == 0)
        return -1;
    if (name_or_path == NULL || *name_or_path == '\0') {
        snprintf(err, errlen, "no board name given");
        return -1;
    }
    if (is_path(name_or_path)) {
        snprintf(err, errlen, "%s: path too long", name_or_path);
        return -1;
    }
    used = (size_t)snprintf(err, errlen, "board '%s': no %s.ini in", name_or_path, name_or_path);
    for (i = 0, sep = " "; used < errlen && (r = lookup_dir(i, dir, sizeof(dir))) >= 0; i++)
        if (r == 1) {
            used += (size_t)snprintf(err + used, errlen - used, "%s%s", sep, dir);
            sep = ", ";
        }
    return -1;
}

int board_apply(const struct board *b, struct flashsim *fs)
{
    struct flashsim_part p;
    int i, rc;

    if (b == NULL || fs == NULL)
        return FLASHSIM_EINVAL;
    if (fs->geom.size != b->geom.size || fs->geom.sector_size != b->geom.sector_size ||
        fs->geom.program_unit != b->geom.program_unit || fs->geom.erase_value != b->geom.erase_value ||
        fs->geom.program_once != b->geom.program_once)
        return FLASHSIM_EINVAL;
    for (i = 0; i < b->nparts; i++) {
        memset(&p, 0, sizeof(p));
        p.id = b->parts[i].id;
        snprintf(p.name, sizeof(p.name), "%s", b->parts[i].name);
        p.start = b->parts[i].start - b->flash_base;
        p.length = b->parts[i].length;
        p.options = b->parts[i].options;
        if ((rc = flashsim_add_part(fs, &p)) != FLASHSIM_OK)
            return rc;
    }
    return FLASHSIM_OK;
}
