/*
 * ota_port.c - otahil's reference port of hal_ota_module_t for the shipped
 * boards, written against the AliOS porting API only (plus otahil's
 * board_info.h to learn the bootloader kind), following the porting guide:
 *
 *   init(*off == 0)  erase the download partition, start CRC16;
 *   init(*off != 0)  resume: keep the partition, restore the running CRC16
 *                    saved in KV "hal_ota_get_crc16" at the breakpoint;
 *   ota_write        the port keeps its own offset (the agent passes NULL);
 *   ota_read         reads the download partition (the agent's footer check);
 *   set_boot(BREAKPOINT) saves the running CRC16 (2 bytes, not finalised);
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

#define KV_KEY_CRC "hal_ota_get_crc16"

/* Writes reach flash in whole STAGE-byte units (a multiple of every program
 * unit up to 32), so no program unit is written twice during a download;
 * the remainder waits in s_stage until the next write or a flush. */
#define STAGE 32

static uint32_t        s_off;   /* bytes handed to flash (s_stage excluded) */
static CRC16_Context   s_crc;   /* running CRC16 of everything written */
static hal_partition_t s_dl = HAL_PARTITION_OTA_TEMP;
static uint8_t         s_stage[STAGE];
static uint32_t        s_nstage; /* bytes waiting in s_stage */

/* Writes the staged remainder, padded with 0xFF to a whole unit. */
static int flush_stage(void)
{
    if (!s_nstage)
        return 0;
    uint32_t off = s_off;
    memset(s_stage + s_nstage, 0xFF, STAGE - s_nstage);
    if (hal_flash_write(s_dl, &off, s_stage, STAGE) != 0)
        return -1;
    s_off += s_nstage;
    s_nstage = 0;
    return 0;
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
    if (off == 0) {
        if (hal_flash_erase(s_dl, 0, pp->partition_length) != 0)
            return -1;
        CRC16_Init(&s_crc);
        s_off = 0;
        s_nstage = 0;
        return 0;
    }
    uint16_t crc = 0;
    int len = sizeof(crc);
    if (off > pp->partition_length || aos_kv_get(KV_KEY_CRC, &crc, &len) != 0 || len != 2) {
        LOG("ota resume at %lu impossible: no saved CRC16", (unsigned long)off);
        return -1;
    }
    s_crc.crc = crc;
    s_off = off;
    s_nstage = 0;
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
                if (hal_flash_write(s_dl, &s_off, s_stage, STAGE) != 0)
                    return -1;
                s_nstage = 0;
            }
            continue;
        }
        uint32_t n = in_buf_len - in_buf_len % STAGE;
        if (hal_flash_write(s_dl, &s_off, in_buf, n) != 0)
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
    if (p->result_type == OTA_BREAKPOINT)
        return aos_kv_set(KV_KEY_CRC, &s_crc.crc, sizeof(s_crc.crc), 1) == 0 ? 0 : -1;
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
    aos_kv_del(KV_KEY_CRC);
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
