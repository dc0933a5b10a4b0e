/*
 * flashsim.h - the NOR flash model: the heart of otahil.
 *
 * Freestanding C over caller-provided memory (no OS calls, no allocation), so
 * the same model runs in the native device, inside QEMU firmware and as a
 * shim over a real board's driver. The physics it enforces:
 *   - erase works on whole sectors and sets them to the erase value (0xFF);
 *   - programming can only clear bits (new = old & data);
 *   - a program must start and end on the program unit's alignment;
 *   - with program_once set (ECC flash such as STM32L4), a program unit may be
 *     programmed once per erase.
 * Every erase and program is numbered (op seq, counted across reboots because
 * the counters live in the persistent metadata). Reads are counted, not
 * numbered. A broken rule is a violation: recorded in the metadata and
 * reported to the op hook, never silently allowed.
 */
#ifndef FLASHSIM_H
#define FLASHSIM_H

#include <stdint.h>
#include <stddef.h>

#define FLASHSIM_MAX_PARTS    24
#define FLASHSIM_NAME_LEN     24
#define FLASHSIM_VIOL_KEEP    16  /* violations kept in the metadata ring */
#define FLASHSIM_CHIP         (-2) /* "partition" id for absolute chip offsets */
#define FLASHSIM_META_MAGIC   0x4D534F46u /* "FOSM" */
#define FLASHSIM_META_VERSION 1u

/* Return codes (negative errno values, spelled out for freestanding use). */
#define FLASHSIM_OK      0
#define FLASHSIM_EIO     (-5)  /* a flash rule was broken (data may have changed) */
#define FLASHSIM_EINVAL  (-22) /* bad argument or misaligned */
#define FLASHSIM_ERANGE  (-34) /* outside the partition or the chip */
#define FLASHSIM_ENOENT  (-2)  /* no such partition */
#define FLASHSIM_ECUT    (-125) /* power was cut by a fault hook: stop at once */

struct flashsim_geom {
    uint32_t size;         /* chip size in bytes, a multiple of sector_size */
    uint32_t sector_size;  /* erase unit in bytes, a power of two */
    uint32_t program_unit; /* program alignment in bytes (1, 2, 4, 8, 16, 32) */
    uint8_t  erase_value;  /* 0xFF for NOR */
    uint8_t  program_once; /* 1: a unit may be programmed once per erase */
};

struct flashsim_part {
    int      id;                     /* hal_partition_t value */
    char     name[FLASHSIM_NAME_LEN]; /* "APPLICATION", without HAL_PARTITION_ */
    uint32_t start;                  /* absolute chip offset */
    uint32_t length;                 /* bytes */
    uint32_t options;                /* PAR_OPT_READ_EN | PAR_OPT_WRITE_EN */
};

enum flashsim_opkind {
    FLASHSIM_OP_READ = 0,
    FLASHSIM_OP_PROGRAM = 1,
    FLASHSIM_OP_ERASE = 2,
};

enum flashsim_violation {
    FLASHSIM_V_NONE = 0,
    FLASHSIM_V_OUT_OF_CHIP,         /* range leaves the chip */
    FLASHSIM_V_OUT_OF_PARTITION,    /* range leaves the partition */
    FLASHSIM_V_MISALIGNED_PROGRAM,  /* offset or length not on the program unit */
    FLASHSIM_V_ERASE_UNALIGNED,     /* erase not on sector boundaries */
    FLASHSIM_V_PROGRAM_NOT_ERASED,  /* program asks a 0 bit to become 1 */
    FLASHSIM_V_PROGRAM_TWICE,       /* program_once chip: unit already programmed */
    FLASHSIM_V_READ_ONLY,           /* program or erase of a partition without WRITE_EN */
    FLASHSIM_V_COUNT
};

/* One numbered operation, as given to the hook and kept in the op log. */
struct flashsim_op {
    uint64_t seq;       /* 1-based across the flash file's life; 0 for reads */
    uint8_t  kind;      /* enum flashsim_opkind */
    uint8_t  violation; /* enum flashsim_violation, FLASHSIM_V_NONE if clean */
    int16_t  part;      /* partition id, or FLASHSIM_CHIP */
    uint32_t addr;      /* absolute chip offset */
    uint32_t off;       /* offset within the partition (== addr for CHIP) */
    uint32_t len;       /* bytes */
    int32_t  result;    /* FLASHSIM_OK or a negative code */
};

/* Persistent metadata, stored by the backend beside the chip bytes.
 * erase_count has nsectors entries and follows the struct. */
struct flashsim_meta {
    uint32_t magic;            /* FLASHSIM_META_MAGIC */
    uint32_t version;          /* FLASHSIM_META_VERSION */
    uint64_t op_seq;           /* programs + erases so far */
    uint64_t reads;            /* read calls so far */
    uint64_t programs;         /* program ops so far */
    uint64_t erases;           /* sector erases so far */
    uint32_t violations;       /* total violations */
    uint32_t nsectors;         /* entries in erase_count */
    uint32_t viol_next;        /* next slot in viol[] (ring) */
    uint32_t boots;            /* incremented by the device at each boot */
    struct flashsim_op viol[FLASHSIM_VIOL_KEEP]; /* last violations */
    uint32_t erase_count[];    /* per-sector erase counts */
};

/* Called before (before=1) and after (before=0) each program or erase, and
 * after each read. Returning non-zero from the "before" call cuts power: the
 * op does not happen and the caller gets FLASHSIM_ECUT. */
typedef int (*flashsim_hook_fn)(void *ctx, const struct flashsim_op *op, int before);

struct flashsim {
    struct flashsim_geom geom;
    uint8_t *mem;                      /* geom.size bytes of chip contents */
    struct flashsim_meta *meta;        /* persistent counters */
    struct flashsim_part parts[FLASHSIM_MAX_PARTS];
    int nparts;
    flashsim_hook_fn hook;             /* may be NULL */
    void *hook_ctx;
    /* Program-once bookkeeping: one bit per program unit, set when programmed,
     * cleared by erase. NULL when geom.program_once is 0. Lives in the same
     * persistent storage as meta (the backend sizes it with flashsim_state_size). */
    uint8_t *programmed;
};

/* Bytes of persistent state the backend must provide after the chip bytes:
 * the metadata, the erase counters and the program-once bitmap. */
size_t flashsim_state_size(const struct flashsim_geom *g);

/* Checks geometry: size a non-zero multiple of sector_size, sector_size a
 * power of two, program_unit a power of two <= sector_size.
 * 0 or FLASHSIM_EINVAL. */
int flashsim_geom_check(const struct flashsim_geom *g);

/* Binds the model to memory. state points at flashsim_state_size() bytes;
 * when its magic is wrong (a new file) the metadata is initialised and, if
 * fresh is non-zero, the chip is filled with the erase value.
 * 0 or FLASHSIM_EINVAL. */
/* (flashsim_init, continued) With a wrong magic and fresh 0 (a raw image),
 * a program unit holding any non-erased byte counts as programmed. State
 * whose valid metadata name another sector count, or state not aligned for
 * struct flashsim_meta, is FLASHSIM_EINVAL. */
int flashsim_init(struct flashsim *fs, const struct flashsim_geom *g, uint8_t *mem,
                  void *state, int fresh);

/* Adds a partition. 0, FLASHSIM_EINVAL (table full, bad range). Overlap is the
 * board loader's business, not the model's. */
int flashsim_add_part(struct flashsim *fs, const struct flashsim_part *p);

/* The partition with this id, or NULL. */
const struct flashsim_part *flashsim_part(const struct flashsim *fs, int id);

/* Operations on a partition (or FLASHSIM_CHIP), offsets relative to it.
 * Checks run in a fixed order: partition exists (FLASHSIM_ENOENT), range in
 * the chip and partition (FLASHSIM_ERANGE), alignment (FLASHSIM_EINVAL),
 * write permission (FLASHSIM_EIO), then physics. A range, alignment or
 * permission violation changes nothing. A physics violation (bits that cannot
 * be set, a unit programmed twice) is applied as the chip would (AND of old
 * and new) and returns FLASHSIM_EIO. Every violation is recorded. */
/* Accounting: a call that never reaches the chip (NULL model or buffer,
 * unknown partition) is not an op: not numbered, counted or hooked. A call
 * rejected for range, alignment or permission is one numbered op (a rejected
 * erase too, whatever its length). A power cut consumes the op's number, so
 * "cut before op k" names the same op on every run. meta->programs and
 * meta->erases count numbered ops, rejected and cut ones included (op_seq ==
 * programs + erases); erase_count[] counts sectors actually erased. A
 * zero-length program is one op that changes nothing; a zero-length erase
 * is no op. */
int flashsim_read(struct flashsim *fs, int part, uint32_t off, void *buf, uint32_t len);
int flashsim_program(struct flashsim *fs, int part, uint32_t off, const void *buf, uint32_t len);
/* off and len must be sector-aligned in absolute chip terms. Each sector
 * erased counts one op. */
int flashsim_erase(struct flashsim *fs, int part, uint32_t off, uint32_t len);

/* Name of a violation ("program-not-erased", ...) and of an op kind. */
const char *flashsim_violation_name(int v);
const char *flashsim_opkind_name(int k);

#endif /* FLASHSIM_H */
