/*
 * boot.c - the copy and pingpong bootloader models (see boot.h).
 *
 * What a bootloader can and cannot trust: the newest record is trusted only
 * if its own CRC checks; a slot is booted only if it holds an image whose
 * header, footer and MD5 verify; a copy is declared done only after the
 * destination's CRC16 equals the record's. Freestanding.
 */
#include <stdio.h>
#include <string.h>

#include "CheckSumUtils.h"
#include "hal/soc/flash.h"
#include "sim/boot/boot.h"
#include "sim/util/event.h"

#define CHUNK 512

static uint8_t g_buf[CHUNK];

const char *boot_flag_name(uint32_t flag)
{
    switch (flag) {
    case REC_NORMAL_FLAG: return "NORMAL";
    case REC_RECOVERY_FLAG: return "REVY";
    case REC_UPGRADE_FLAG: return "UPGE";
    case REC_ROLLBACK_FLAG: return "ROBK";
    case REC_RECOVERY_VERIFY_FLAG: return "REVV";
    case REC_SWAP_UPDATE_FLAG: return "RSUF";
    case REC_DUAL_UPDATE_FLAG: return "RDUF";
    default: return "unknown";
    }
}

int boot_record_newest(struct flashsim *fs, ota_boot_param_t *r, int *last_used)
{
    const struct flashsim_part *pp = flashsim_part(fs, HAL_PARTITION_PARAMETER_1);
    int found = 0;
    *last_used = -1;
    if (!pp)
        return 0;
    int nslots = (int)(pp->length / OTA_BOOT_PARAM_SLOT);
    for (int i = 0; i < nslots; i++) {
        uint8_t b[OTA_BOOT_PARAM_SLOT];
        if (flashsim_read(fs, HAL_PARTITION_PARAMETER_1, (uint32_t)i * OTA_BOOT_PARAM_SLOT, b,
                          sizeof(b)) != 0)
            break;
        int blank = 1;
        for (size_t k = 0; k < sizeof(b); k++)
            if (b[k] != 0xFF) { blank = 0; break; }
        if (blank)
            continue;
        *last_used = i;
        ota_boot_param_t t;
        memcpy(&t, b, OTA_BOOT_PARAM_SIZE);
        if (t.param_crc == ota_boot_param_crc(&t)) {
            *r = t;
            found = 1;
        }
    }
    return found;
}

int boot_record_append(struct flashsim *fs, ota_boot_param_t *r)
{
    const struct flashsim_part *pp = flashsim_part(fs, HAL_PARTITION_PARAMETER_1);
    ota_boot_param_t cur;
    int last, rc;
    if (!pp)
        return FLASHSIM_ENOENT;
    (void)boot_record_newest(fs, &cur, &last);
    int slot = last + 1;
    if ((uint32_t)(slot + 1) * OTA_BOOT_PARAM_SLOT > pp->length) {
        if ((rc = flashsim_erase(fs, HAL_PARTITION_PARAMETER_1, 0, pp->length)) != 0)
            return rc;
        slot = 0;
    }
    r->param_crc = ota_boot_param_crc(r);
    uint8_t b[OTA_BOOT_PARAM_SLOT];
    memset(b, 0xFF, sizeof(b));
    memcpy(b, r, OTA_BOOT_PARAM_SIZE);
    return flashsim_program(fs, HAL_PARTITION_PARAMETER_1, (uint32_t)slot * OTA_BOOT_PARAM_SLOT,
                            b, sizeof(b));
}

/* CRC16 of the first len bytes of a partition. */
static int part_crc16(struct flashsim *fs, int part, uint32_t len, uint16_t *out)
{
    CRC16_Context c;
    CRC16_Init(&c);
    for (uint32_t off = 0; off < len; off += CHUNK) {
        uint32_t n = len - off < CHUNK ? len - off : CHUNK;
        int rc = flashsim_read(fs, part, off, g_buf, n);
        if (rc)
            return rc;
        CRC16_Update(&c, g_buf, n);
    }
    CRC16_Final(&c, out);
    return 0;
}

struct slot_reader {
    struct flashsim *fs;
    int part;
};

static int slot_read(void *ctx, uint32_t off, void *buf, uint32_t n)
{
    struct slot_reader *s = ctx;
    return flashsim_read(s->fs, s->part, off, buf, n);
}

static const struct boot_cfg *g_cfg;

static int slot_valid(struct flashsim *fs, int part, struct image_info *info)
{
    const struct flashsim_part *pp = flashsim_part(fs, part);
    if (g_cfg && g_cfg->known_image && g_cfg->known_image(g_cfg->known_ctx, part, info))
        return IMAGE_OK;
    if (!pp)
        return IMAGE_ESIZE;
    struct slot_reader s = { fs, part };
    return image_parse_reader(slot_read, &s, pp->length, info);
}

static int addr_to_slot(const struct flashsim *fs, const struct boot_cfg *cfg, uint32_t addr)
{
    const struct flashsim_part *a = flashsim_part(fs, HAL_PARTITION_APPLICATION);
    const struct flashsim_part *b = flashsim_part(fs, HAL_PARTITION_OTA_TEMP);
    if (a && addr == cfg->flash_base + a->start)
        return HAL_PARTITION_APPLICATION;
    if (b && addr == cfg->flash_base + b->start)
        return HAL_PARTITION_OTA_TEMP;
    return -1;
}

static const char *slot_name(int part)
{
    return part == HAL_PARTITION_APPLICATION ? "APPLICATION"
         : part == HAL_PARTITION_OTA_TEMP ? "OTA_TEMP" : "?";
}

/* Copies len bytes OTA_TEMP -> APPLICATION, then verifies the CRC16. */
static int do_copy(struct flashsim *fs, uint32_t len, uint16_t want)
{
    const struct flashsim_part *app = flashsim_part(fs, HAL_PARTITION_APPLICATION);
    uint32_t ss = fs->geom.sector_size, pu = fs->geom.program_unit;
    uint32_t elen = (len + ss - 1) / ss * ss;
    int rc;
    if (elen > app->length)
        return FLASHSIM_ERANGE;
    otahil_event("boot", "boot.copy.start", "\"len\":%lu,\"crc\":\"0x%04X\"", (unsigned long)len,
                 want);
    if ((rc = flashsim_erase(fs, HAL_PARTITION_APPLICATION, 0, elen)) != 0)
        return rc;
    otahil_sync();
    for (uint32_t off = 0; off < len; off += CHUNK) {
        uint32_t n = len - off < CHUNK ? len - off : CHUNK;
        if ((rc = flashsim_read(fs, HAL_PARTITION_OTA_TEMP, off, g_buf, n)) != 0)
            return rc;
        uint32_t pn = (n + pu - 1) / pu * pu; /* pad the tail to the program unit */
        memset(g_buf + n, fs->geom.erase_value, pn - n);
        if ((rc = flashsim_program(fs, HAL_PARTITION_APPLICATION, off, g_buf, pn)) != 0)
            return rc;
    }
    uint16_t got;
    if ((rc = part_crc16(fs, HAL_PARTITION_APPLICATION, len, &got)) != 0)
        return rc;
    return got == want ? 0 : FLASHSIM_EIO;
}

static int run_copy(struct flashsim *fs, const struct boot_cfg *cfg)
{
    ota_boot_param_t r;
    int last, rc;
    if (!boot_record_newest(fs, &r, &last) || r.upg_flag != REC_UPGRADE_FLAG)
        return 0;
    const struct flashsim_part *ota = flashsim_part(fs, HAL_PARTITION_OTA_TEMP);
    const struct flashsim_part *app = flashsim_part(fs, HAL_PARTITION_APPLICATION);
    uint16_t crc;
    const char *reject = NULL;
    if (r.len == 0 || r.len > ota->length || r.len > app->length)
        reject = "image length out of range";
    else if (addr_to_slot(fs, cfg, r.src_adr) != HAL_PARTITION_OTA_TEMP)
        reject = "source is not OTA_TEMP";
    else if ((rc = part_crc16(fs, HAL_PARTITION_OTA_TEMP, r.len, &crc)) != 0)
        return rc;
    else if (crc != r.crc)
        reject = "image CRC16 does not match the record";
    if (reject) {
        otahil_event("boot", "boot.record_rejected", "\"flag\":\"UPGE\",\"reason\":\"%s\"", reject);
        ota_boot_param_t n = r;
        n.upg_flag = REC_NORMAL_FLAG;
        return boot_record_append(fs, &n);
    }
    fs->phase = FLASHSIM_PH_BOOT_COPY;
    rc = do_copy(fs, r.len, r.crc);
    if (rc == FLASHSIM_ECUT)
        return rc;
    if (rc != 0) {
        otahil_event("boot", "boot.copy.failed", "\"rc\":%d", rc);
        return 0; /* record stays pending: the next boot copies again */
    }
    otahil_event("boot", "boot.copy", "\"len\":%lu,\"crc\":\"0x%04X\"", (unsigned long)r.len,
                 r.crc);
    ota_boot_param_t n = r;
    n.upg_flag = REC_NORMAL_FLAG;
    n.boot_count = 0;
    return boot_record_append(fs, &n);
}

/* Decides the pingpong slot; may append a record. */
static int run_pingpong(struct flashsim *fs, const struct boot_cfg *cfg, int *slot)
{
    ota_boot_param_t r;
    int last, rc;
    *slot = HAL_PARTITION_APPLICATION;
    if (!boot_record_newest(fs, &r, &last))
        return 0;
    int src = addr_to_slot(fs, cfg, r.src_adr);
    int dst = addr_to_slot(fs, cfg, r.dst_adr);
    ota_boot_param_t n = r;
    switch (r.upg_flag) {
    case REC_DUAL_UPDATE_FLAG: {
        uint16_t crc;
        const struct flashsim_part *sp = src >= 0 ? flashsim_part(fs, src) : NULL;
        const char *reject = NULL;
        if (src < 0 || dst < 0 || src == dst)
            reject = "slot addresses do not name the two slots";
        else if (r.len == 0 || r.len > sp->length)
            reject = "image length out of range";
        else if ((rc = part_crc16(fs, src, r.len, &crc)) != 0)
            return rc;
        else if (crc != r.crc)
            reject = "image CRC16 does not match the record";
        if (reject) {
            otahil_event("boot", "boot.record_rejected", "\"flag\":\"RDUF\",\"reason\":\"%s\"",
                         reject);
            n.upg_flag = REC_NORMAL_FLAG;
            n.src_adr = r.dst_adr;
            n.dst_adr = r.src_adr;
            *slot = dst >= 0 ? dst : HAL_PARTITION_APPLICATION;
            return boot_record_append(fs, &n);
        }
        n.upg_flag = REC_RECOVERY_VERIFY_FLAG;
        n.boot_count = 1;
        otahil_event("boot", "boot.switch", "\"from\":\"%s\",\"to\":\"%s\"", slot_name(dst),
                     slot_name(src));
        *slot = src;
        return boot_record_append(fs, &n);
    }
    case REC_RECOVERY_VERIFY_FLAG:
        if (src < 0 || dst < 0)
            break;
        if (r.boot_count >= cfg->boot_attempts) {
            otahil_event("boot", "boot.rollback",
                         "\"from\":\"%s\",\"to\":\"%s\",\"unconfirmed_boots\":%u",
                         slot_name(src), slot_name(dst), r.boot_count);
            n.upg_flag = REC_ROLLBACK_FLAG;
            n.boot_count = 0;
            n.src_adr = r.dst_adr;
            n.dst_adr = r.src_adr;
            *slot = dst;
            return boot_record_append(fs, &n);
        }
        n.boot_count = (uint8_t)(r.boot_count + 1);
        otahil_event("boot", "boot.trial", "\"slot\":\"%s\",\"attempt\":%u,\"of\":%lu",
                     slot_name(src), n.boot_count, (unsigned long)cfg->boot_attempts);
        *slot = src;
        return boot_record_append(fs, &n);
    default:
        if (src >= 0)
            *slot = src;
        return 0;
    }
    return 0;
}

int boot_run(struct flashsim *fs, const struct boot_cfg *cfg, struct boot_result *res)
{
    int rc, slot = HAL_PARTITION_APPLICATION;
    memset(res, 0, sizeof(*res));
    g_cfg = cfg;
    otahil_event("boot", "boot.bootloader", "\"kind\":\"%s\"",
                 cfg->kind == BOOT_PINGPONG ? "pingpong" : "copy");
    if (cfg->kind == BOOT_PINGPONG) {
        fs->phase = FLASHSIM_PH_BOOT_COUNTER;
        rc = run_pingpong(fs, cfg, &slot);
    } else {
        fs->phase = FLASHSIM_PH_BOOT_COPY;
        rc = run_copy(fs, cfg);
    }
    fs->phase = FLASHSIM_PH_NONE;
    if (rc == FLASHSIM_ECUT)
        return rc;
    if (rc != 0)
        otahil_event("boot", "boot.record_write_failed", "\"rc\":%d", rc);

    int irc = slot_valid(fs, slot, &res->image);
    if (irc != IMAGE_OK && cfg->kind == BOOT_PINGPONG) {
        int other = slot == HAL_PARTITION_APPLICATION ? HAL_PARTITION_OTA_TEMP
                                                      : HAL_PARTITION_APPLICATION;
        otahil_event("boot", "boot.slot_invalid", "\"slot\":\"%s\",\"error\":\"%s\"",
                     slot_name(slot), image_strerror(irc));
        if (slot_valid(fs, other, &res->image) == IMAGE_OK) {
            slot = other;
            irc = IMAGE_OK;
        }
    }
    if (irc != IMAGE_OK) {
        res->bricked = 1;
        res->slot = slot;
        snprintf(res->why, sizeof(res->why), "%s: no valid image (%s)", slot_name(slot),
                 image_strerror(irc));
        return 0;
    }
    res->slot = slot;
    return 0;
}
