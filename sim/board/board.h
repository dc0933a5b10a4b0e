/*
 * board.h - board files: flash geometry, partition table, bootloader kind and
 * protocol profile, as data (boards/NAME.ini), so a vendor adds a board
 * without recompiling. Format: docs/boards.md.
 */
#ifndef BOARD_H
#define BOARD_H

#include <stddef.h>
#include <stdint.h>
#include "../flash/flashsim.h"

#define BOARD_MAX_PARTS FLASHSIM_MAX_PARTS
#define BOARD_MAX_KV    4

struct board_part {
    int      id;          /* hal_partition_t value */
    char     name[FLASHSIM_NAME_LEN]; /* "OTA_TEMP" */
    char     description[64];
    uint32_t start;       /* address as the board's HAL reports it (flash_base + chip offset) */
    uint32_t length;      /* bytes */
    uint32_t options;     /* PAR_OPT_READ_EN | PAR_OPT_WRITE_EN */
    int      overlaps_ok; /* partition id this one may overlap (declared), or -1 */
    int      line;        /* line of its [partition NAME] header */
};

struct board {
    char     name[32];
    char     description[128];
    char     path[4096];      /* file it was loaded from */
    char     bootloader[16];  /* "copy" or "pingpong" */
    char     profile[16];     /* protocol profile: "g1" */
    uint32_t boot_attempts;   /* pingpong: unconfirmed boots before rollback (default 3) */
    uint32_t flash_base;      /* address of chip offset 0 (0x08000000 on STM32) */
    uint32_t app_download_addr;    /* value for the port's &app_download_addr (0: APPLICATION start) */
    uint32_t kernel_download_addr; /* value for &kernel_download_addr (0: APPLICATION start) */
    uint32_t checkpoint;      /* agent breakpoint interval in bytes, a multiple of sector_size
                                 (default: 16 KiB rounded up to a sector); 0: only on failure */
    struct flashsim_geom geom;
    struct board_part parts[BOARD_MAX_PARTS];
    int      nparts;
    int      kv_parts[BOARD_MAX_KV]; /* partition ids holding the KV store, in order */
    int      nkv;
};

/* Loads and validates a board file. On error returns -1 and writes one line
 * "FILE:LINE: what is wrong" into err (unknown key or section, bad number,
 * missing field, overlapping or out-of-chip partition, ...). 0 on success. */
int board_load(struct board *b, const char *path, char *err, size_t errlen);

/* board_load_flags() flags. */
#define BOARD_LOAD_ANY_OVERLAP 0x1u /* an undeclared overlap is not an error: the board
                                     * loads, for a check that lists every overlap
                                     * (board_overlaps); nothing that touches flash may use
                                     * such a board */

/* board_load with flags (0: board_load). */
int board_load_flags(struct board *b, const char *path, unsigned flags, char *err, size_t errlen);

/* Two partitions whose ranges meet. */
struct board_overlap {
    int      a, b;        /* indexes in board.parts, a < b */
    uint32_t lo, hi;      /* the shared addresses [lo, hi) */
    int      declared;    /* 1: one of them names the other with 'overlaps =' */
};

/* Every pair of overlapping partitions, in table order: fills up to max
 * entries of out (out may be NULL when max is 0) and returns how many pairs
 * there are (which may exceed max). */
int board_overlaps(const struct board *b, struct board_overlap *out, int max);

/* Resolves a board argument: a path to an .ini file, or a name looked up as
 * DIR/NAME.ini in the boards directory (OTAHIL_BOARDS, else the boards/
 * folder beside the executable's build tree, else ./boards). 0 or -1.
 * An argument containing '/' or ending in ".ini" is copied as it is (0 even
 * if the file does not exist; board_load reports that). OTAHIL_BOARDS may
 * list several folders separated by ':'. The build-tree folders are
 * EXE_DIR/../../boards then EXE_DIR/../boards. -1: empty argument, no
 * readable NAME.ini anywhere, or pathlen too small (path set to ""). */
int board_resolve(const char *name_or_path, char *path, size_t pathlen);

/* Loads by name or path (board_resolve + board_load). 0, or -1 with one line
 * in err; for a name found nowhere the line lists the folders searched. */
int board_open(struct board *b, const char *name_or_path, char *err, size_t errlen);
/* board_open with board_load_flags() flags. */
int board_open_flags(struct board *b, const char *name_or_path, unsigned flags, char *err,
                     size_t errlen);

/* Adds the board's partitions to a flash model (chip offsets = start - flash_base,
 * options copied). 0; FLASHSIM_EINVAL when b or fs is NULL or the model's
 * geometry differs from the board's (nothing added then); otherwise the first
 * error of flashsim_add_part (e.g. FLASHSIM_EINVAL for a partition id the
 * model already has). */
int board_apply(const struct board *b, struct flashsim *fs);

/* The partition with this id, or NULL. */
const struct board_part *board_part(const struct board *b, int id);

/* hal_partition_t value of "APPLICATION" / "HAL_PARTITION_APPLICATION", or -1. */
int board_part_id(const char *name);
/* Name of a partition id ("OTA_TEMP"), or "?". */
const char *board_part_name(int id);

#endif /* BOARD_H */
