/*
 * boot.h - bootloader models, run at every boot of a simulated device
 * against the flash model, before the application:
 *
 *   copy      single bank: a pending REC_UPGRADE_FLAG record whose image CRC16
 *             checks out is copied from OTA_TEMP over APPLICATION, verified,
 *             and the record is closed; APPLICATION is booted. The source is
 *             never modified, so a copy cut short simply starts again.
 *   pingpong  A/B slots (APPLICATION, OTA_TEMP): a REC_DUAL_UPDATE_FLAG
 *             record switches to the new slot for a trial (REVV); every boot
 *             of an unconfirmed trial counts; after boot_attempts boots
 *             without confirmation the previous slot is restored (ROBK).
 *
 * Records: include/ota_boot_param.h. Freestanding; reports to the event log.
 */
#ifndef OTAHIL_BOOT_H
#define OTAHIL_BOOT_H

#include <stdint.h>
#include "ota_boot_param.h"
#include "sim/flash/flashsim.h"
#include "sim/image/image.h"

enum boot_kind { BOOT_COPY = 0, BOOT_PINGPONG = 1 };

struct boot_cfg {
    enum boot_kind kind;
    uint32_t boot_attempts;  /* pingpong: trial boots before rollback */
    uint32_t flash_base;     /* address of chip offset 0 (record addresses are absolute) */
    /* Optional shortcut for the boot-time image check: returns 1 and fills
     * *info when the slot is known to hold a valid image (a simulator that
     * recognises the bytes), 0 to let the bootloader parse and verify it. */
    int (*known_image)(void *ctx, int part, struct image_info *info);
    void *known_ctx;
};

struct boot_result {
    int  bricked;                 /* 1: no valid image to boot */
    int  slot;                    /* partition id booted (APPLICATION or OTA_TEMP) */
    struct image_info image;      /* the booted image */
    char why[128];                /* bricked: the reason */
};

/* Runs the bootloader. 0 (see res->bricked), or FLASHSIM_ECUT when power was
 * cut during the bootloader's own flash work. */
int boot_run(struct flashsim *fs, const struct boot_cfg *cfg, struct boot_result *res);

/* Newest valid record in PARAMETER_1: 1 and *r filled, 0 when none.
 * *last_used is the highest non-blank slot (-1 if none). */
int boot_record_newest(struct flashsim *fs, ota_boot_param_t *r, int *last_used);

/* Appends a record (computes param_crc; erases PARAMETER_1 when full).
 * 0 or a flash error. */
int boot_record_append(struct flashsim *fs, ota_boot_param_t *r);

/* "UPGE", "REVV", ..., or "NORMAL". */
const char *boot_flag_name(uint32_t flag);

#endif
