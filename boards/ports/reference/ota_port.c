/*
 * ota_port.c - otahil's reference port of hal_ota_module_t for the shipped
 * boards, written against the AliOS porting API only (plus otahil's
 * board_info.h to learn the bootloader kind), following the porting guide:
 *
 *   init(*off == 0)  erase the download partition, start CRC16;
 *   init(*off != 0)  resume: keep the bytes before the breakpoint, restore
 *                    the running CRC16 saved at that breakpoint (KV
 *                    "hal_ota_crc16_bp": offset and CRC in one record, so a
 *                    cut can never pair a CRC with another offset; when the
 *                    offsets differ the CRC is recomputed from flash), and
 *                    erase each later sector as the download reaches it. A
 *                    breakpoint that cannot be resumed safely (not on a
 *                    staging unit, or followed by bytes that are not blank)
 *                    restarts the download: *off is set back to 0;
 *   ota_write        the port keeps its own offset (the agent passes NULL);
 *   ota_read         reads the download partition (the agent's footer check);
 *   set_boot(BREAKPOINT) makes the staged bytes durable, then saves the
 *                    running CRC16 (not finalised) with its offset;
 *   set_boot(FINISH) appends a boot record (ota_boot_param.h) with the
 *                    image's CRC16 and its own CRC to PARAMETER_1, reads it
 *                    back, and reboots;
 *   ota_rollback     confirms a healthy trial boot (pingpong boards).
 *
 * Download partition: OTA_TEMP on "copy" boards; on "pingpong" boards the
 * slot that is not running (APPLICATION or OTA_TEMP).
 */
#include <stdint.h>
#include <string.h>

#include <CheckSumUtils.h>
#include <aos/kv.h>
#include <aos/log.h>
#include <hal/ota.h>
#include <hal/soc/soc.h>
#include <ota_boot_param.h>
#include <otahil/board_info.h>

#define KV_KEY_BP "hal_ota_crc16_bp"

struct crc_bp {           /* KV "hal_ota_crc16_bp" */
    uint32_t off;         /* bytes the CRC covers */
    uint16_t crc;         /* CRC16_Context.crc, not finalised */
    uint16_t pad;
};

/* Writes reach flash in whole STAGE-byte units (a multiple of every program
 * unit up to 32), so no program unit is written twice during a download;
 * the remainder waits in s_stage until the next write or a flush. */
#define STAGE 32

static uint32_t        s_off;   /* bytes handed to flash (s_stage excluded) */
static CRC16_Context   s_crc;   /* running CRC16 of everything written */
static hal_partition_t s_dl = HAL_PARTITION_OTA_TEMP;
static uint8_t         s_stage[STAGE];
static uint32_t        s_nstage; /* bytes waiting in s_stage */
static uint32_t        s_erased; /* the partition is erased from here on (up to s_erased_end) */
static uint32_t        s_erased_end;

/* Erases sectors ahead of a program reaching `end`. */
static int erase_to(uint32_t end)
{
    uint32_t ss = otahil_board_sector_size();
    while (s_erased < end && s_erased < s_erased_end) {
        if (hal_flash_erase(s_dl, s_erased, ss) != 0)
            return -1;
        s_erased += ss;
    }
    return 0;
}

static int program(uint32_t *off, const uint8_t *buf, uint32_t len)
{
    if (erase_to(*off + len) != 0)
        return -1;
    return hal_flash_write(s_dl, off, buf, len) == 0 ? 0 : -1;
}

/* Writes the staged remainder, padded with 0xFF to a whole unit. */
static int flush_stage(void)
{
    if (!s_nstage)
        return 0;
    uint32_t off = s_off;
    memset(s_stage + s_nstage, 0xFF, STAGE - s_nstage);
    if (program(&off, s_stage, STAGE) != 0)
        return -1;
    s_off += s_nstage;
    s_nstage = 0;
    return 0;
}

/* CRC16 register over the first len bytes of the download partition. */
static int crc_from_flash(uint32_t len, uint16_t *crc)
{
    CRC16_Context c;
    uint8_t b[256];
    CRC16_Init(&c);
    for (uint32_t off = 0; off < len;) {
        uint32_t n = len - off < sizeof(b) ? len - off : (uint32_t)sizeof(b);
        if (hal_flash_read(s_dl, &off, b, n) != 0)
            return -1;
        CRC16_Update(&c, b, n);
    }
    *crc = c.crc;
    return 0;
}

static int blank(uint32_t from, uint32_t to)
{
    uint8_t b[64];
    while (from < to) {
        uint32_t n = to - from < sizeof(b) ? to - from : (uint32_t)sizeof(b);
        if (hal_flash_read(s_dl, &from, b, n) != 0)
            return 0;
        for (uint32_t i = 0; i < n; i++)
            if (b[i] != 0xFF)
                return 0;
    }
    return 1;
}

static int slot_blank(const uint8_t *b)
{
    for (int i = 0; i < OTA_BOOT_PARAM_SLOT; i++)
        if (b[i] != 0xFF)
            return 0;
    return 1;
}

/* Scans PARAMETER_1: newest valid record (returns 1) and last used slot. */
static int rec_scan(ota_boot_param_t *newest, int *last_used, int *nslots)
{
    hal_logic_partition_t *pp = hal_flash_get_info(HAL_PARTITION_PARAMETER_1);
    uint8_t b[OTA_BOOT_PARAM_SLOT];
    int found = 0;
    *last_used = -1;
    *nslots = pp ? (int)(pp->partition_length / OTA_BOOT_PARAM_SLOT) : 0;
    for (int i = 0; i < *nslots; i++) {
        uint32_t off = (uint32_t)i * OTA_BOOT_PARAM_SLOT;
        if (hal_flash_read(HAL_PARTITION_PARAMETER_1, &off, b, sizeof(b)) != 0)
            return found;
        if (slot_blank(b))
            continue;
        *last_used = i;
        ota_boot_param_t r;
        memcpy(&r, b, OTA_BOOT_PARAM_SIZE);
        if (r.param_crc == ota_boot_param_crc(&r)) {
            *newest = r;
            found = 1;
        }
    }
    return found;
}

static int rec_append(ota_boot_param_t *r)
{
    ota_boot_param_t cur;
    int last, nslots;
    (void)rec_scan(&cur, &last, &nslots);
    if (nslots <= 0)
        return -1;
    int slot = last + 1;
    if (slot >= nslots) {
        hal_logic_partition_t *pp = hal_flash_get_info(HAL_PARTITION_PARAMETER_1);
        if (hal_flash_erase(HAL_PARTITION_PARAMETER_1, 0, pp->partition_length) != 0)
            return -1;
        slot = 0;
    }
    r->param_crc = ota_boot_param_crc(r);
    uint8_t b[OTA_BOOT_PARAM_SLOT], back[OTA_BOOT_PARAM_SLOT];
    memset(b, 0xFF, sizeof(b));
    memcpy(b, r, OTA_BOOT_PARAM_SIZE);
    uint32_t off = (uint32_t)slot * OTA_BOOT_PARAM_SLOT, roff = off;
    if (hal_flash_write(HAL_PARTITION_PARAMETER_1, &off, b, sizeof(b)) != 0)
        return -1;
    if (hal_flash_read(HAL_PARTITION_PARAMETER_1, &roff, back, sizeof(back)) != 0)
        return -1;
    return memcmp(b, back, sizeof(b)) == 0 ? 0 : -1;
}

static uint32_t part_addr(hal_partition_t p)
{
    hal_logic_partition_t *pp = hal_flash_get_info(p);
    return pp ? pp->partition_start_addr : 0;
}

/* The slot the running image came from (pingpong boards). */
static hal_partition_t running_slot(void)
{
    ota_boot_param_t r;
    int last, nslots;
    if (rec_scan(&r, &last, &nslots) && r.src_adr == part_addr(HAL_PARTITION_OTA_TEMP))
        return HAL_PARTITION_OTA_TEMP;
    return HAL_PARTITION_APPLICATION;
}

static hal_partition_t download_partition(void)
{
    if (!otahil_board_is_pingpong())
        return HAL_PARTITION_OTA_TEMP;
    return running_slot() == HAL_PARTITION_APPLICATION ? HAL_PARTITION_OTA_TEMP
                                                       : HAL_PARTITION_APPLICATION;
}

static int ref_init(hal_ota_module_t *m, void *something)
{
    (void)m;
    uint32_t off = something ? *(uint32_t *)something : 0;
    s_dl = download_partition();
    hal_logic_partition_t *pp = hal_flash_get_info(s_dl);
    if (!pp)
        return -1;
    uint32_t ss = otahil_board_sector_size();
    s_nstage = 0;
    s_erased_end = pp->partition_length;
    if (off != 0) {
        /* Resume at a sector boundary, or inside a sector whose rest is
         * blank (nothing half-programmed after the breakpoint). */
        uint32_t next = (off + ss - 1) / ss * ss;
        if (off > pp->partition_length || off % STAGE ||
            (off % ss && !blank(off, next < pp->partition_length ? next : pp->partition_length))) {
            LOG("ota resume at %lu unsafe: restarting the download", (unsigned long)off);
            off = 0;
            *(uint32_t *)something = 0;
        } else {
            struct crc_bp bp;
            int len = sizeof(bp);
            uint16_t crc;
            if (aos_kv_get(KV_KEY_BP, &bp, &len) == 0 && len == sizeof(bp) && bp.off == off)
                crc = bp.crc;
            else if (crc_from_flash(off, &crc) != 0)
                return -1;
            s_crc.crc = crc;
            s_off = off;
            s_erased = next;
            return 0;
        }
    }
    if (hal_flash_erase(s_dl, 0, pp->partition_length) != 0)
        return -1;
    s_erased = pp->partition_length;
    CRC16_Init(&s_crc);
    s_off = 0;
    return 0;
}

static int ref_write(hal_ota_module_t *m, volatile uint32_t *off_set, uint8_t *in_buf,
                     uint32_t in_buf_len)
{
    (void)m; (void)off_set; /* the agent passes NULL: the port keeps its own offset */
    hal_logic_partition_t *pp = hal_flash_get_info(s_dl);
    if (!pp || in_buf_len > pp->partition_length - s_off - s_nstage)
        return -1;
    CRC16_Update(&s_crc, in_buf, in_buf_len);
    while (in_buf_len) {
        if (s_nstage || in_buf_len < STAGE) {
            uint32_t n = STAGE - s_nstage < in_buf_len ? STAGE - s_nstage : in_buf_len;
            memcpy(s_stage + s_nstage, in_buf, n);
            s_nstage += n; in_buf += n; in_buf_len -= n;
            if (s_nstage == STAGE) {
                if (program(&s_off, s_stage, STAGE) != 0)
                    return -1;
                s_nstage = 0;
            }
            continue;
        }
        uint32_t n = in_buf_len - in_buf_len % STAGE;
        if (program(&s_off, in_buf, n) != 0)
            return -1;
        in_buf += n; in_buf_len -= n;
    }
    return 0;
}

static int ref_read(hal_ota_module_t *m, volatile uint32_t *off_set, uint8_t *out_buf,
                    uint32_t out_buf_len)
{
    (void)m;
    uint32_t off = *off_set;
    if (flush_stage() != 0 || hal_flash_read(s_dl, &off, out_buf, out_buf_len) != 0)
        return -1;
    *off_set = off;
    return 0;
}

static int ref_set_boot(hal_ota_module_t *m, void *something)
{
    (void)m;
    ota_finish_param_t *p = something;
    if (!p)
        return -1;
    if (flush_stage() != 0)
        return -1;
    if (p->result_type == OTA_BREAKPOINT) {
        struct crc_bp bp = { s_off, s_crc.crc, 0 };
        return aos_kv_set(KV_KEY_BP, &bp, sizeof(bp), 1) == 0 ? 0 : -1;
    }
    if (p->result_type != OTA_FINISH || p->firmware_type != OTA_RAW)
        return -1;

    uint16_t crc;
    CRC16_Final(&s_crc, &crc);
    ota_boot_param_t r;
    memset(&r, 0, sizeof(r));
    r.len = s_off;
    r.crc = crc;
    r.res_type = OTA_FINISH;
    if (otahil_board_is_pingpong()) {
        r.src_adr = part_addr(s_dl);
        r.dst_adr = part_addr(s_dl == HAL_PARTITION_APPLICATION ? HAL_PARTITION_OTA_TEMP
                                                               : HAL_PARTITION_APPLICATION);
        r.upg_flag = REC_DUAL_UPDATE_FLAG;
    } else {
        r.src_adr = part_addr(HAL_PARTITION_OTA_TEMP);
        r.dst_adr = part_addr(HAL_PARTITION_APPLICATION);
        r.upg_flag = REC_UPGRADE_FLAG;
    }
    if (rec_append(&r) != 0) {
        LOG("ota boot record write failed");
        return -1;
    }
    aos_kv_del(KV_KEY_BP);
    hal_reboot();
    return 0;
}

static int ref_rollback(hal_ota_module_t *m, void *something)
{
    (void)m; (void)something;
    ota_boot_param_t r;
    int last, nslots;
    if (!rec_scan(&r, &last, &nslots))
        return 0;
    if (r.upg_flag == REC_RECOVERY_VERIFY_FLAG) {
        r.upg_flag = REC_NORMAL_FLAG;
        r.boot_count = 0;
        return rec_append(&r);
    }
    if (r.upg_flag == REC_ROLLBACK_FLAG) {
        r.upg_flag = REC_NORMAL_FLAG;
        r.boot_count = 0;
        LOG("rollback finished: running the previous image");
        return rec_append(&r) == 0 ? -1 : -2;
    }
    return 0;
}

struct hal_ota_module_s reference_ota_module = {
    .init = ref_init,
    .ota_write = ref_write,
    .ota_read = ref_read,
    .ota_set_boot = ref_set_boot,
    .ota_rollback = ref_rollback,
};
