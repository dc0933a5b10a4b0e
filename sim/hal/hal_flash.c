/*
 * hal_flash.c - the AliOS flash HAL (hal/soc/flash.h) over the flash model.
 *
 * Behaves as a careful vendor driver would: erase rounds out to whole
 * sectors (erasing bytes outside the requested range, as real NOR does);
 * write completes an unaligned head of the program unit with the bytes
 * already in flash and pads an unaligned tail with the erase value, so a
 * port may write any length, while the model still catches a unit
 * programmed twice on ECC flash. Freestanding.
 */
#include <string.h>

#include "hal/soc/flash.h"
#include "otahil/board_info.h"
#include "sim/hal/platform.h"
#include "sim/util/phase.h"

static struct otahil_platform *g_plat;

void otahil_platform_bind(struct otahil_platform *p)
{
    g_plat = p;
    memset(p->present, 0, sizeof(p->present));
    for (int i = 0; i < p->fs->nparts; i++) {
        const struct flashsim_part *fp = &p->fs->parts[i];
        if (fp->id < 0 || fp->id >= HAL_PARTITION_MAX)
            continue;
        hal_logic_partition_t *lp = &p->part[fp->id];
        lp->partition_owner = HAL_FLASH_EMBEDDED;
        lp->partition_description = fp->name;
        lp->partition_start_addr = p->flash_base + fp->start;
        lp->partition_length = fp->length;
        lp->partition_options = fp->options;
        p->present[fp->id] = 1;
    }
}

struct otahil_platform *otahil_platform_get(void)
{
    return g_plat;
}

int otahil_board_is_pingpong(void)
{
    return g_plat ? g_plat->pingpong : 0;
}

uint32_t otahil_board_sector_size(void)
{
    return g_plat ? g_plat->fs->geom.sector_size : 0;
}

uint32_t otahil_board_program_unit(void)
{
    return g_plat ? g_plat->fs->geom.program_unit : 0;
}

unsigned otahil_phase_enter(unsigned phase)
{
    if (!g_plat)
        return 0;
    unsigned prev = g_plat->fs->phase;
    g_plat->fs->phase = (uint8_t)phase;
    return prev;
}

unsigned otahil_phase_enter_weak(unsigned phase)
{
    if (!g_plat)
        return 0;
    unsigned prev = g_plat->fs->phase;
    if (prev == FLASHSIM_PH_NONE)
        g_plat->fs->phase = (uint8_t)phase;
    return prev;
}

void otahil_phase_leave(unsigned prev)
{
    if (g_plat)
        g_plat->fs->phase = (uint8_t)prev;
}

static int known(hal_partition_t p)
{
    return g_plat && p >= 0 && p < HAL_PARTITION_MAX && g_plat->present[p];
}

hal_logic_partition_t *hal_flash_get_info(hal_partition_t in_partition)
{
    return known(in_partition) ? &g_plat->part[in_partition] : NULL;
}

int32_t hal_flash_info_get(hal_partition_t in_partition, hal_logic_partition_t *partition)
{
    if (!known(in_partition) || !partition)
        return -22;
    *partition = g_plat->part[in_partition];
    return 0;
}

int32_t hal_flash_erase(hal_partition_t in_partition, uint32_t off_set, uint32_t size)
{
    if (!known(in_partition))
        return -22;
    if (size == 0)
        return 0;
    uint32_t ss = g_plat->fs->geom.sector_size;
    uint32_t first = off_set & ~(ss - 1);
    uint64_t end = (uint64_t)off_set + size;
    end = (end + ss - 1) & ~(uint64_t)(ss - 1);
    if (end > 0xFFFFFFFFull)
        return -34;
    return flashsim_erase(g_plat->fs, in_partition, first, (uint32_t)(end - first));
}

/* Programs [off, off+len) padding to the program unit with the erase value. */
static int32_t program_padded(hal_partition_t p, uint32_t off, const uint8_t *buf, uint32_t len)
{
    struct flashsim *fs = g_plat->fs;
    uint32_t pu = fs->geom.program_unit;
    if (pu <= 1)
        return flashsim_program(fs, p, off, buf, len);

    uint8_t unit[32];
    uint32_t head = off % pu;
    int32_t rc;
    if (head) {
        /* Read-modify-program: bytes already in the unit are written back
         * unchanged, so only the new bytes change. */
        uint32_t n = pu - head < len ? pu - head : len;
        if ((rc = flashsim_read(fs, p, off - head, unit, pu)) != 0)
            return rc;
        memcpy(unit + head, buf, n);
        if ((rc = flashsim_program(fs, p, off - head, unit, pu)) != 0)
            return rc;
        off += n; buf += n; len -= n;
    }
    uint32_t body = len - len % pu;
    if (body) {
        if ((rc = flashsim_program(fs, p, off, buf, body)) != 0)
            return rc;
        off += body; buf += body; len -= body;
    }
    if (len) {
        memset(unit, fs->geom.erase_value, pu);
        memcpy(unit, buf, len);
        if ((rc = flashsim_program(fs, p, off, unit, pu)) != 0)
            return rc;
    }
    return 0;
}

int32_t hal_flash_write(hal_partition_t in_partition, uint32_t *off_set,
                        const void *in_buf, uint32_t in_buf_len)
{
    if (!known(in_partition) || !off_set || (!in_buf && in_buf_len))
        return -22;
    if (g_plat->fs->geom.program_unit > 32)
        return -22;
    int32_t rc = program_padded(in_partition, *off_set, in_buf, in_buf_len);
    if (rc == 0)
        *off_set += in_buf_len;
    return rc;
}

int32_t hal_flash_read(hal_partition_t in_partition, uint32_t *off_set,
                       void *out_buf, uint32_t in_buf_len)
{
    if (!known(in_partition) || !off_set || (!out_buf && in_buf_len))
        return -22;
    int32_t rc = flashsim_read(g_plat->fs, in_partition, *off_set, out_buf, in_buf_len);
    if (rc == 0)
        *off_set += in_buf_len;
    return rc;
}

/* Sector buffer for read-modify-erase-program. */
static uint8_t g_sector[8192];

int32_t hal_flash_erase_write(hal_partition_t in_partition, uint32_t *off_set,
                              const void *in_buf, uint32_t in_buf_len)
{
    if (!known(in_partition) || !off_set || (!in_buf && in_buf_len))
        return -22;
    struct flashsim *fs = g_plat->fs;
    uint32_t ss = fs->geom.sector_size;
    if (ss > sizeof(g_sector))
        return -22;
    const uint8_t *src = in_buf;
    uint32_t off = *off_set, left = in_buf_len;
    while (left) {
        uint32_t sec = off & ~(ss - 1);
        uint32_t in = off - sec;
        uint32_t n = ss - in < left ? ss - in : left;
        int32_t rc = flashsim_read(fs, in_partition, sec, g_sector, ss);
        if (rc)
            return rc;
        memcpy(g_sector + in, src, n);
        if ((rc = flashsim_erase(fs, in_partition, sec, ss)) != 0)
            return rc;
        if ((rc = flashsim_program(fs, in_partition, sec, g_sector, ss)) != 0)
            return rc;
        off += n; src += n; left -= n;
    }
    *off_set = off;
    return 0;
}

int32_t hal_flash_enable_secure(hal_partition_t partition, uint32_t off_set, uint32_t size)
{
    (void)off_set; (void)size;
    return known(partition) ? 0 : -22;
}

int32_t hal_flash_dis_secure(hal_partition_t partition, uint32_t off_set, uint32_t size)
{
    (void)off_set; (void)size;
    return known(partition) ? 0 : -22;
}

int32_t hal_flash_addr2offset(hal_partition_t *in_partition, uint32_t *off_set, uint32_t addr)
{
    if (!g_plat || !in_partition || !off_set)
        return -22;
    for (int i = 0; i < HAL_PARTITION_MAX; i++) {
        if (!g_plat->present[i])
            continue;
        const hal_logic_partition_t *lp = &g_plat->part[i];
        if (addr >= lp->partition_start_addr &&
            addr - lp->partition_start_addr < lp->partition_length) {
            *in_partition = (hal_partition_t)i;
            *off_set = addr - lp->partition_start_addr;
            return 0;
        }
    }
    return -22;
}
