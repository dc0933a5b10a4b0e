/*
 * ota_boot_param.h - the boot hand-off record the reference port writes and
 * the simulated bootloaders read: AliOS rel_2.1.0's ota_boot_param_t (37
 * bytes, packed, little-endian; shared/spec §7.3) with the 2nd-boot flags.
 *
 * Records are appended to HAL_PARTITION_PARAMETER_1 in slots of
 * OTA_BOOT_PARAM_SLOT bytes; the newest record is the valid one (param_crc
 * correct, slot not blank) with the highest slot index. A torn append fails
 * its CRC, so the previous record stays in force. When no blank slot is left
 * the writer erases the partition and writes at slot 0 (the one moment a cut
 * can lose the record; the bootloaders then fall back to a valid image).
 */
#ifndef OTA_BOOT_PARAM_H
#define OTA_BOOT_PARAM_H

#include <stdint.h>

#include "CheckSumUtils.h"

#define OTA_BOOT_PARAM_SIZE 37
#define OTA_BOOT_PARAM_SLOT 48  /* a multiple of every program unit up to 16 */

/* upg_flag values (2nd boot, rec_define.h). */
#define REC_NORMAL_FLAG          0x00000000u /* nothing pending; boot src_adr */
#define REC_RECOVERY_FLAG        0x52455659u /* "REVY" */
#define REC_UPGRADE_FLAG         0x55504745u /* "UPGE": copy OTA_TEMP over APPLICATION */
#define REC_ROLLBACK_FLAG        0x524F424Bu /* "ROBK": rolled back to src_adr */
#define REC_RECOVERY_VERIFY_FLAG 0x52455656u /* "REVV": trial boot of src_adr, unconfirmed */
#define REC_SWAP_UPDATE_FLAG     0x52535546u /* "RSUF" */
#define REC_DUAL_UPDATE_FLAG     0x52445546u /* "RDUF": switch to the slot at src_adr */

typedef struct __attribute__((packed)) {
    uint32_t dst_adr;     /* copy destination / pingpong: slot to fall back to */
    uint32_t src_adr;     /* copy source / pingpong: slot to boot */
    uint32_t len;         /* image length in bytes */
    uint16_t crc;         /* CRC-16/XMODEM of the image */
    uint32_t upg_flag;    /* REC_*_FLAG */
    uint8_t  boot_count;  /* trial boots so far */
    uint32_t rec_size;    /* diff: patch size (0) */
    uint32_t splict_size; /* diff slice size (0) */
    int32_t  off_bp;      /* breakpoint offset (0) */
    uint32_t res_type;    /* OTA_FINISH / OTA_BREAKPOINT */
    uint16_t param_crc;   /* CRC-16/XMODEM of bytes 0..34 */
} ota_boot_param_t;

_Static_assert(sizeof(ota_boot_param_t) == OTA_BOOT_PARAM_SIZE, "ota_boot_param_t is 37 bytes");

/* param_crc of a record: CRC-16/XMODEM of its first 35 bytes. */
static inline uint16_t ota_boot_param_crc(const ota_boot_param_t *r)
{
    CRC16_Context c;
    uint16_t out;
    CRC16_Init(&c);
    CRC16_Update(&c, r, OTA_BOOT_PARAM_SIZE - 2);
    CRC16_Final(&c, &out);
    return out;
}

#endif /* OTA_BOOT_PARAM_H */
