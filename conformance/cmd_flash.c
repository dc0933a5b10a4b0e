/* cmd_flash.c - `otahil flash info|dump|provision|factory-reset`: look inside a flash
 * file, make a new one, or re-flash the application of an existing one as a factory
 * programmer does (spec §12 #6). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/commands.h"
#include "conformance/common.h"
#include "hal/soc/flash.h"
#include "sim/boot/boot.h"
#include "sim/util/defaults.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: otahil flash info FILE [--board B]\n"
            "       otahil flash dump FILE --part NAME [--board B] [--offset N] [--length N]\n"
            "       otahil flash provision FILE --image IMG [--board B]\n"
            "       otahil flash factory-reset FILE --image IMG [--board B] [--erase-kv | --app-only]\n"
            "info: partition map with the image found in each slot, erase counts, the boot\n"
            "record, operation counters and violations. provision: a fresh, erased chip with\n"
            "IMG in APPLICATION, as a factory programmer leaves it.\n"
            "factory-reset: re-flash a device's existing FILE as a factory programmer does: IMG\n"
            "into APPLICATION and the boot record (PARAMETER_1) erased, so IMG boots; the KV\n"
            "store (the device's settings) is kept unless --erase-kv. --app-only writes\n"
            "APPLICATION only and keeps the boot record, as a serial flash of the application\n"
            "does: after an OTA on a pingpong board the OTA'd image still boots (spec §12 #6).\n");
}

/* Which slot boots and what it holds, after a factory reset. */
static void print_boots(const char *file, const struct board *b)
{
    struct flashfile ff;
    struct image_info ii;
    char err[512];
    if (open_flash(&ff, file, b, err, sizeof(err)) != 0) {
        printf("boots    ? (%s)\n", err);
        return;
    }
    int slot = active_slot(&ff.fs, b);
    int rc = slot_image(&ff.fs, slot, &ii);
    ota_boot_param_t r;
    int last, rec = boot_record_newest(&ff.fs, &r, &last);
    printf("boots    %s: %s%s\n", board_part_name(slot),
           rc == IMAGE_OK ? ii.version : image_strerror(rc),
           rec && slot != HAL_PARTITION_APPLICATION ? " (the boot record in PARAMETER_1 selects it)" : "");
    flashfile_close(&ff);
}

static int factory_reset(const char *file, const struct board *b, const char *image,
                         unsigned flags)
{
    char err[1024], kv[96] = "";
    uint8_t *d;
    size_t len;
    struct image_info ii;
    if (factory_reset_flash(file, b, image, flags, err, sizeof(err)) != 0) {
        fprintf(stderr, "otahil flash factory-reset: %s\n", err);
        return OTAHIL_EXIT_HARNESS;
    }
    if (read_file(image, &d, &len, err, sizeof(err)) == 0) {
        image_parse(d, len, &ii);
        free(d);
    } else {
        snprintf(ii.version, sizeof(ii.version), "?");
    }
    for (int k = 0; k < b->nkv; k++)
        snprintf(kv + strlen(kv), sizeof(kv) - strlen(kv), "%s%s", k ? ", " : "",
                 board_part_name(b->kv_parts[k]));
    if (flags & FACTORY_APP_ONLY)
        printf("%s: APPLICATION <- %s (%s) only; the boot record (PARAMETER_1) and the KV store (%s) "
               "kept, as a serial flash of the application leaves them\n", file, image, ii.version, kv);
    else
        printf("%s: factory reset (board %s): APPLICATION <- %s (%s), boot record (PARAMETER_1) "
               "erased, KV store (%s) %s\n", file, b->name, image, ii.version, kv,
               flags & FACTORY_ERASE_KV ? "erased" : "kept");
    print_boots(file, b);
    return 0;
}

static int info(struct flashfile *ff, const struct board *b)
{
    struct flashsim *fs = &ff->fs;
    const struct flashsim_meta *m = fs->meta;
    printf("flash    %s\nboard    %s (%s bootloader, profile %s)\n", ff->path, b->name,
           b->bootloader, b->profile);
    printf("chip     %u bytes, %u-byte sectors, %u-byte program unit%s\n", b->geom.size,
           b->geom.sector_size, b->geom.program_unit, b->geom.program_once ? ", program once" : "");
    printf("counters %llu ops (%llu programs, %llu sector erases), %llu reads, %u boots\n",
           (unsigned long long)m->op_seq, (unsigned long long)m->programs,
           (unsigned long long)m->erases, (unsigned long long)m->reads, m->boots);
    printf("\n%-12s %-10s %-9s %-4s %-8s %s\n", "partition", "start", "length", "opt", "erases",
           "contents");
    for (int i = 0; i < b->nparts; i++) {
        const struct board_part *p = &b->parts[i];
        uint32_t first = (p->start - b->flash_base) / b->geom.sector_size;
        uint32_t nsec = p->length / b->geom.sector_size;
        unsigned long long er = 0;
        for (uint32_t s = first; s < first + nsec && s < m->nsectors; s++)
            er += m->erase_count[s];
        char contents[160] = "";
        if (p->id == HAL_PARTITION_APPLICATION || p->id == HAL_PARTITION_OTA_TEMP) {
            struct image_info ii;
            int rc = slot_image(fs, p->id, &ii);
            if (rc == IMAGE_OK)
                snprintf(contents, sizeof(contents), "image %s%s", ii.version,
                         ii.flags & IMAGE_F_CRASH_AT_BOOT ? " (crashes at boot)" : "");
            else
                snprintf(contents, sizeof(contents), "no valid image (%s)", image_strerror(rc));
            if (active_slot(fs, b) == p->id)
                strncat(contents, "  <- boots", sizeof(contents) - strlen(contents) - 1);
        } else if (p->id == HAL_PARTITION_PARAMETER_1) {
            ota_boot_param_t r;
            int last;
            if (boot_record_newest(fs, &r, &last))
                snprintf(contents, sizeof(contents),
                         "boot record %s len %u crc 0x%04X boot_count %u (%d slots used)",
                         boot_flag_name(r.upg_flag), r.len, r.crc, r.boot_count, last + 1);
            else
                snprintf(contents, sizeof(contents), "no boot record");
        }
        for (int k = 0; k < b->nkv; k++)
            if (b->kv_parts[k] == p->id)
                snprintf(contents, sizeof(contents), "KV store");
        printf("%-12s 0x%08X 0x%07X %-4s %-8llu %s\n", p->name, p->start, p->length,
               (p->options & 2) ? "rw" : "r", er, contents);
    }
    printf("\nviolations %u\n", m->violations);
    uint32_t keep = m->violations < FLASHSIM_VIOL_KEEP ? m->violations : FLASHSIM_VIOL_KEEP;
    for (uint32_t k = 0; k < keep; k++) {
        const struct flashsim_op *op = &m->viol[(m->viol_next + FLASHSIM_VIOL_KEEP - keep + k) % FLASHSIM_VIOL_KEEP];
        printf("  op %llu %s %s+0x%X len %u: %s\n", (unsigned long long)op->seq,
               flashsim_opkind_name(op->kind), op->part >= 0 ? board_part_name(op->part) : "CHIP",
               op->off, op->len, flashsim_violation_name(op->violation));
    }
    return m->violations ? OTAHIL_EXIT_FAIL : 0;
}

static int dump(struct flashfile *ff, const char *part, uint32_t off, uint32_t len)
{
    int id = board_part_id(part);
    const struct flashsim_part *p = id >= 0 ? flashsim_part(&ff->fs, id) : NULL;
    if (!p) {
        fprintf(stderr, "otahil flash dump: no partition '%s' on this board\n", part);
        return OTAHIL_EXIT_HARNESS;
    }
    if (off >= p->length) {
        fprintf(stderr, "otahil flash dump: --offset 0x%X is beyond %s (0x%X bytes)\n", off, part,
                p->length);
        return OTAHIL_EXIT_HARNESS;
    }
    if (!len || len > p->length - off)
        len = p->length - off;
    const uint8_t *mem = ff->fs.mem + p->start + off;
    for (uint32_t i = 0; i < len; i += 16) {
        printf("%08X ", off + i);
        for (uint32_t k = 0; k < 16; k++)
            printf(i + k < len ? " %02x" : "   ", mem[i + k]);
        printf("  |");
        for (uint32_t k = 0; k < 16 && i + k < len; k++)
            putchar(mem[i + k] >= 32 && mem[i + k] < 127 ? mem[i + k] : '.');
        printf("|\n");
    }
    return 0;
}

int cmd_flash(int argc, char **argv)
{
    if (argc < 3 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 3 && !(argc > 1 && !strcmp(argv[1], "--help")) ? stderr : stdout);
        return argc > 1 && !strcmp(argv[1], "--help") ? 0 : OTAHIL_EXIT_HARNESS;
    }
    const char *sub = argv[1], *file = argv[2], *board = OTAHIL_DEFAULT_BOARD, *part = NULL,
               *image = NULL;
    uint32_t off = 0, len = 0;
    unsigned flags = 0;
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--board") && v) { board = v; i++; }
        else if (!strcmp(a, "--erase-kv") || !strcmp(a, "--app-only")) {
            if (strcmp(sub, "factory-reset") != 0) {
                fprintf(stderr, "otahil flash %s: %s only applies to factory-reset\n", sub, a);
                return OTAHIL_EXIT_HARNESS;
            }
            flags |= a[2] == 'e' ? FACTORY_ERASE_KV : FACTORY_APP_ONLY;
        }
        else if (!strcmp(a, "--part") && v) { part = v; i++; }
        else if (!strcmp(a, "--image") && v) { image = v; i++; }
        else if (!strcmp(a, "--offset") && v && parse_u32(v, &off) == 0) i++;
        else if (!strcmp(a, "--length") && v && parse_u32(v, &len) == 0) i++;
        else {
            fprintf(stderr, "otahil flash: unknown or incomplete option '%s'\n", a);
            return OTAHIL_EXIT_HARNESS;
        }
    }
    static struct board b;
    char err[1024];
    if (board_open(&b, board, err, sizeof(err)) != 0) {
        fprintf(stderr, "otahil flash: %s\n", err);
        return OTAHIL_EXIT_HARNESS;
    }
    if (!strcmp(sub, "provision")) {
        if (!image) {
            fprintf(stderr, "otahil flash provision: --image is required\n");
            return OTAHIL_EXIT_HARNESS;
        }
        if (provision_flash(file, &b, image, err, sizeof(err)) != 0) {
            fprintf(stderr, "otahil flash provision: %s\n", err);
            return OTAHIL_EXIT_HARNESS;
        }
        printf("%s: erased %s chip with %s in APPLICATION\n", file, b.name, image);
        return 0;
    }
    if (!strcmp(sub, "factory-reset")) {
        if (!image) {
            fprintf(stderr, "otahil flash factory-reset: --image is required\n");
            return OTAHIL_EXIT_HARNESS;
        }
        if ((flags & FACTORY_ERASE_KV) && (flags & FACTORY_APP_ONLY)) {
            fprintf(stderr, "otahil flash factory-reset: --app-only and --erase-kv do not go "
                    "together (--app-only writes APPLICATION only)\n");
            return OTAHIL_EXIT_HARNESS;
        }
        return factory_reset(file, &b, image, flags);
    }
    if (strcmp(sub, "info") != 0 && strcmp(sub, "dump") != 0) {
        fprintf(stderr, "otahil flash: unknown subcommand '%s' (info, dump, provision, "
                "factory-reset)\n", sub);
        return OTAHIL_EXIT_HARNESS;
    }
    struct flashfile ff;
    if (open_flash(&ff, file, &b, err, sizeof(err)) != 0) {
        fprintf(stderr, "otahil flash: %s\n", err);
        return OTAHIL_EXIT_HARNESS;
    }
    int rc;
    if (!strcmp(sub, "info"))
        rc = info(&ff, &b);
    else if (!part) {
        fprintf(stderr, "otahil flash dump: --part is required\n");
        rc = OTAHIL_EXIT_HARNESS;
    } else
        rc = dump(&ff, part, off, len);
    flashfile_close(&ff);
    return rc;
}
