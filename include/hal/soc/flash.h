/*
 * hal/soc/flash.h - the flash HAL a port writes through (AliOS rel_2.0.0).
 *
 * Partition numbers are rel_2.0.0's (shared/spec §10.1). Offsets are relative
 * to the partition. Every function returns 0 on success and a negative value
 * on error (-EINVAL bad argument, -ERANGE outside the partition, -EIO a flash
 * rule was broken). hal_flash_write and hal_flash_read advance *off_set by the
 * bytes transferred on success.
 */
#ifndef HAL_SOC_FLASH_H
#define HAL_SOC_FLASH_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PAR_OPT_READ_POS  (0)
#define PAR_OPT_WRITE_POS (1)

#define PAR_OPT_READ_MASK  (0x1u << PAR_OPT_READ_POS)
#define PAR_OPT_WRITE_MASK (0x1u << PAR_OPT_WRITE_POS)

#define PAR_OPT_READ_DIS  (0x0u << PAR_OPT_READ_POS)
#define PAR_OPT_READ_EN   (0x1u << PAR_OPT_READ_POS)
#define PAR_OPT_WRITE_DIS (0x0u << PAR_OPT_WRITE_POS)
#define PAR_OPT_WRITE_EN  (0x1u << PAR_OPT_WRITE_POS)

typedef enum {
    HAL_PARTITION_ERROR = -1,
    HAL_PARTITION_BOOTLOADER,
    HAL_PARTITION_APPLICATION,
    HAL_PARTITION_ATE,
    HAL_PARTITION_OTA_TEMP,
    HAL_PARTITION_RF_FIRMWARE,
    HAL_PARTITION_PARAMETER_1,
    HAL_PARTITION_PARAMETER_2,
    HAL_PARTITION_PARAMETER_3,
    HAL_PARTITION_PARAMETER_4,
    HAL_PARTITION_BT_FIRMWARE,
    HAL_PARTITION_SPIFFS,
    HAL_PARTITION_CUSTOM_1,
    HAL_PARTITION_CUSTOM_2,
    HAL_PARTITION_RECOVERY,
    HAL_PARTITION_MAX,
    HAL_PARTITION_NONE,
} hal_partition_t;

typedef enum {
    HAL_FLASH_EMBEDDED,
    HAL_FLASH_SPI,
    HAL_FLASH_QSPI,
    HAL_FLASH_MAX,
    HAL_FLASH_NONE,
} hal_flash_t;

typedef struct {
    hal_flash_t partition_owner;
    const char *partition_description;
    uint32_t    partition_start_addr;
    uint32_t    partition_length;
    uint32_t    partition_options;
} hal_logic_partition_t;

/* The partition's descriptor, or NULL when the board has no such partition. */
hal_logic_partition_t *hal_flash_get_info(hal_partition_t in_partition);

/* v3.0.0 form: copies the descriptor; 0, or -EINVAL for an unknown partition. */
int32_t hal_flash_info_get(hal_partition_t in_partition, hal_logic_partition_t *partition);

/* Erases every sector touched by [off_set, off_set+size), including bytes
 * of those sectors outside the range, as real NOR drivers do. */
int32_t hal_flash_erase(hal_partition_t in_partition, uint32_t off_set, uint32_t size);

/* Programs without erasing; advances *off_set by in_buf_len on success. */
int32_t hal_flash_write(hal_partition_t in_partition, uint32_t *off_set,
                        const void *in_buf, uint32_t in_buf_len);

/* Erases the sectors covered, keeping bytes of those sectors outside the
 * range (read-modify-erase-program), then programs; advances *off_set. */
int32_t hal_flash_erase_write(hal_partition_t in_partition, uint32_t *off_set,
                              const void *in_buf, uint32_t in_buf_len);

/* Reads; advances *off_set by in_buf_len on success. */
int32_t hal_flash_read(hal_partition_t in_partition, uint32_t *off_set,
                       void *out_buf, uint32_t in_buf_len);

/* Write protection hooks; the simulated chip has none, so both return 0. */
int32_t hal_flash_enable_secure(hal_partition_t partition, uint32_t off_set, uint32_t size);
int32_t hal_flash_dis_secure(hal_partition_t partition, uint32_t off_set, uint32_t size);

/* rel_2.1.0 and later: maps an absolute chip address to partition + offset.
 * 0, or -EINVAL when no partition holds the address. */
int32_t hal_flash_addr2offset(hal_partition_t *in_partition, uint32_t *off_set, uint32_t addr);

#ifdef __cplusplus
}
#endif

#endif /* HAL_SOC_FLASH_H */
