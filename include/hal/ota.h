/*
 * hal/ota.h - the OTA port contract (AliOS Things rel_2.0.0, "G1").
 *
 * A vendor's ota_port.c fills a struct hal_ota_module_s with its callbacks.
 * The OTA agent calls them through hal_ota_init/write/read/set_boot/rollback.
 * Values and layout follow the spec (shared/spec §7.1): enums are 4 bytes,
 * ota_finish_param_t is 20 bytes.
 */
#ifndef HAL_OTA_H
#define HAL_OTA_H

#include <stdint.h>
#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    OTA_KERNEL = 0,
    OTA_APP    = 1,
    OTA_ALL    = 2
} OTA_ENUM_UPDATE_TYPE;

typedef enum {
    OTA_FINISH     = 0, /* download done and verified: write the boot hand-off */
    OTA_BREAKPOINT = 1  /* download interrupted: save resume state, do not switch */
} OTA_ENUM_RESULT_TYPE;

enum ota_parti_e {
    OTA_PARTITION_KERNEL  = 0,
    OTA_PARTITION_APP     = 1,
    OTA_PARTITION_DEFAULT = 2,
};

typedef enum {
    OTA_RAW  = 0,
    OTA_DIFF = 1,
} OTA_ENUM_FIRMWARE_TYPE;

typedef struct {
    OTA_ENUM_UPDATE_TYPE   update_type;   /* offset 0 */
    OTA_ENUM_RESULT_TYPE   result_type;   /* offset 4 */
    OTA_ENUM_FIRMWARE_TYPE firmware_type; /* offset 8: from the push's isDiff */
    uint32_t               splict_size;   /* offset 12: from splictSize */
    uint8_t                diff_version;  /* offset 16: dmethod & 0xff */
    uint8_t                rollback;      /* offset 17: reserved; G1 never sets it */
} ota_finish_param_t;

typedef struct {
    uint32_t start_address; /* where the bin is saved on flash */
    uint32_t length;        /* file length */
    uint8_t  version[8];
    uint8_t  type;          /* 'B' bootloader, 'P' boot table, 'A' app, 'D' driver */
    uint8_t  upgrade_type;  /* 'u' upgrade */
    uint16_t crc;
    uint8_t  reserved[4];
} boot_table_t;

typedef struct hal_ota_module_s hal_ota_module_t;

struct hal_ota_module_s {
    hal_module_base_t base;

    /* something points at a uint32_t: 0 = fresh download (erase, CRC16 init),
     * otherwise the breakpoint offset to resume at. */
    int (*init)(hal_ota_module_t *m, void *something);
    /* off_set is NULL when called by the agent: the port keeps its own offset. */
    int (*ota_write)(hal_ota_module_t *m, volatile uint32_t *off_set,
                     uint8_t *in_buf, uint32_t in_buf_len);
    /* Reads from the download area at *off_set and advances it. */
    int (*ota_read)(hal_ota_module_t *m, volatile uint32_t *off_set,
                    uint8_t *out_buf, uint32_t out_buf_len);
    /* something points at an ota_finish_param_t. */
    int (*ota_set_boot)(hal_ota_module_t *m, void *something);
    /* Confirms a healthy boot (NULL in four-callback G0 ports). */
    int (*ota_rollback)(hal_ota_module_t *m, void *something);
};

/* Registers a module; the first registered one is the default. */
void hal_ota_register_module(hal_ota_module_t *module);

/* Each returns the callback's value, or -1 when no module (or no such
 * callback) is registered. m == NULL selects the default module. */
hal_stat_t hal_ota_init(void *something);
hal_stat_t hal_ota_write(hal_ota_module_t *m, volatile uint32_t *off_set,
                         uint8_t *in_buf, uint32_t in_buf_len);
hal_stat_t hal_ota_read(hal_ota_module_t *m, volatile uint32_t *off_set,
                        uint8_t *out_buf, uint32_t out_buf_len);
hal_stat_t hal_ota_set_boot(hal_ota_module_t *m, void *something);
hal_stat_t hal_ota_rollback(hal_ota_module_t *m, void *something);
hal_ota_module_t *hal_ota_get_default_module(void);

#ifdef __cplusplus
}
#endif

#endif /* HAL_OTA_H */
