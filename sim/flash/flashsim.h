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
 * Callers tag ops with the OTA phase they belong to (fs->phase), and one
 * built-in fault may be armed: a power cut before, after or in the middle
 * of a chosen op (torn program, partial erase), a driver failure, or a weak
 * bit that reads inverted. Its random choices come from a seed, so a fault
 * plan replays exactly.
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
#define FLASHSIM_META_VERSION 2u /* 2: flashsim_op gained phase and fault */

/* Return codes (negative errno values, spelled out for freestanding use). */
#define FLASHSIM_OK      0
#define FLASHSIM_EIO     (-5)  /* a flash rule was broken (data may have changed) */
#define FLASHSIM_EINVAL  (-22) /* bad argument or misaligned */
#define FLASHSIM_ERANGE  (-34) /* outside the partition or the chip */
#define FLASHSIM_ENOENT  (-2)  /* no such partition */
#define FLASHSIM_ECUT    (-125) /* power was cut (hook or fault): stop at once */

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

/* The OTA phase an op belongs to: set by the caller in fs->phase, copied
 * into every op (reads too), used by fault selectors and the op log. */
enum flashsim_phase {
    FLASHSIM_PH_NONE = 0,
    FLASHSIM_PH_INIT_ERASE,    /* "init-erase": erasing the download slot */
    FLASHSIM_PH_DOWNLOAD,      /* "download-write": writing the image */
    FLASHSIM_PH_BREAKPOINT,    /* "breakpoint-save": resume state */
    FLASHSIM_PH_BOOT_RECORD,   /* "boot-record": the boot parameter record */
    FLASHSIM_PH_BOOT_COPY,     /* "bootloader-copy": copying the new image */
    FLASHSIM_PH_BOOT_COUNTER,  /* "boot-counter": unconfirmed boot counting */
    FLASHSIM_PH_CONFIRM,       /* "confirm": marking the image good */
    FLASHSIM_PH_KV,            /* "kv-write": the key-value store */
    FLASHSIM_PH_COUNT
};

/* What an armed fault does to the op it fires on (see flashsim_fault_arm). */
enum flashsim_fault_mode {
    FLASHSIM_F_NONE = 0,
    FLASHSIM_F_CUT_BEFORE,    /* "before": power cut, op not applied */
    FLASHSIM_F_CUT_AFTER,     /* "after": op completes, then power cut */
    FLASHSIM_F_TORN,          /* "torn": program lands up to a random byte, then cut */
    FLASHSIM_F_PARTIAL_ERASE, /* "erase": sector erase stops at a random byte, then cut */
    FLASHSIM_F_FAIL,          /* "fail": the driver reports EIO, nothing changes */
    FLASHSIM_F_BITFLIP,       /* "bitflip": one weak bit reads inverted (reads only) */
    FLASHSIM_F_COUNT
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
    uint8_t  phase;     /* enum flashsim_phase: fs->phase when the op was made */
    uint8_t  fault;     /* enum flashsim_fault_mode that fired on this op, 0 if none */
};                      /* 32 bytes: kept in the metadata */

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
 * op does not happen and the caller gets FLASHSIM_ECUT. The "before" call
 * comes ahead of the fault check, so op->fault is only set in the "after"
 * call. */
typedef int (*flashsim_hook_fn)(void *ctx, const struct flashsim_op *op, int before);

#define FLASHSIM_ANY_PART (-32768) /* fault selector: any op, by chip offset */

/* The built-in fault, armed with flashsim_fault_arm. It fires once, on the
 * first numbered op (a program, or one sector of an erase; rejected ops
 * count) that matches: the op numbered at_seq, or else the nth op matching
 * every selector since arming. BITFLIP alone ignores at_seq, nth, phase and
 * kinds: it fires on every read that covers its bit. */
struct flashsim_fault {
    uint8_t  mode;      /* enum flashsim_fault_mode */
    uint8_t  phase;     /* selector: FLASHSIM_PH_NONE = any phase */
    uint8_t  kinds;     /* selector: (1u<<FLASHSIM_OP_PROGRAM)|(1u<<FLASHSIM_OP_ERASE); 0 = both */
    int16_t  part;      /* selector: ops on this partition id (by op->off), ops
                         * on FLASHSIM_CHIP (op->addr), or FLASHSIM_ANY_PART:
                         * every op, by chip offset (op->addr) */
    uint32_t off_lo, off_hi; /* selector: the op overlaps [off_lo, off_hi) in
                              * those offsets; off_hi 0 = no upper limit */
    uint64_t at_seq;    /* fire at the op with this global seq (selectors ignored) ... */
    uint32_t nth;       /* ... or, when at_seq == 0, at the nth (1-based; 0 = 1st)
                         * op matching the selectors */
    uint64_t seed;      /* every random choice comes from seed and the op seq */
    uint32_t matched;   /* state: matching ops (BITFLIP: flipped reads) since arming */
    uint8_t  fired;     /* state: 1 once the fault has fired */
    uint8_t  flip_bit;  /* state, BITFLIP: bit 0..7 of the byte at flip_addr */
    uint8_t  flip_ready; /* state, BITFLIP: 0 not chosen yet, 1 chosen, 2 no
                          * valid range (never fires) */
    uint32_t flip_addr; /* state, BITFLIP: absolute chip offset of the weak byte */
};

struct flashsim {
    struct flashsim_geom geom;
    uint8_t *mem;                      /* geom.size bytes of chip contents */
    struct flashsim_meta *meta;        /* persistent counters */
    struct flashsim_part parts[FLASHSIM_MAX_PARTS];
    int nparts;
    flashsim_hook_fn hook;             /* may be NULL */
    void *hook_ctx;
    uint8_t phase;                     /* enum flashsim_phase of the ops to come */
    struct flashsim_fault fault;       /* mode FLASHSIM_F_NONE: no fault armed */
    /* Removes power when a fault cuts: meant never to return (longjmp,
     * _exit). Gets the cut op (result FLASHSIM_ECUT unless CUT_AFTER). If
     * NULL or it returns, the flash call returns FLASHSIM_ECUT. */
    void (*on_cut)(void *ctx, const struct flashsim_op *op);
    void *cut_ctx;
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
 * fresh is non-zero, the chip is filled with the erase value. The hook,
 * phase, fault and on_cut start cleared: set them after init.
 * 0 or FLASHSIM_EINVAL. */
/* (flashsim_init, continued) With a wrong magic and fresh 0 (a raw image),
 * a program unit holding any non-erased byte counts as programmed. State
 * whose valid metadata name another sector count, or state not aligned for
 * struct flashsim_meta, is FLASHSIM_EINVAL. */
int flashsim_init(struct flashsim *fs, const struct flashsim_geom *g, uint8_t *mem,
                  void *state, int fresh);

/* Adds a partition. 0, FLASHSIM_EINVAL (table full, bad range, id reserved:
 * FLASHSIM_CHIP, FLASHSIM_ANY_PART). Overlap is the board loader's business,
 * not the model's. */
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

/* Faults. After the hook's "before" call (a hook cut wins), the armed fault
 * is checked; the op it fires on has op->fault set (in the "after" call and
 * a violation record too). What happens to that op:
 *   CUT_BEFORE     nothing changes; power cut.
 *   CUT_AFTER      the op runs in full (violations, "after" call); power cut.
 *   TORN           program: a byte p in [0,len) is drawn; whole units before
 *                  p's unit land, in p's unit each bit being cleared is
 *                  cleared with probability 1/2, later bytes are untouched;
 *                  the units reached count as programmed and their
 *                  violations are recorded; power cut. An erase: PARTIAL_ERASE.
 *   PARTIAL_ERASE  erase: a byte p in [0,sector) is drawn; bytes before p are
 *                  erased, each later bit short of the erase value reaches it
 *                  with probability 1/2; the sector's erase count rises and
 *                  units wholly before p lose their programmed mark; power
 *                  cut. A program: TORN.
 *   FAIL           nothing changes and no violation is recorded: result
 *                  FLASHSIM_EIO, "after" call, the call returns FLASHSIM_EIO.
 *   BITFLIP        reads covering flip_addr return its flip_bit inverted; the
 *                  chip is unchanged. op->fault is set on those reads.
 * A power cut makes no "after" call (but CUT_AFTER's), calls on_cut and
 * returns FLASHSIM_ECUT; the rest of a multi-sector erase is not done. On a
 * rejected op TORN and PARTIAL_ERASE cut as CUT_BEFORE does. */

/* Arms a copy of f (NULL: clears) with matched, fired and the bit flip
 * state reset. A BITFLIP picks its bit now, or at the first read if part is
 * not in the table yet: a byte of [off_lo, off_hi) (off_hi required) of
 * part, a partition or chip offsets (FLASHSIM_CHIP, FLASHSIM_ANY_PART),
 * clipped to it, and a bit of it. */
void flashsim_fault_arm(struct flashsim *fs, const struct flashsim_fault *f);
void flashsim_fault_clear(struct flashsim *fs);

/* Names of fault modes ("none", "before", "after", "torn", "erase", "fail",
 * "bitflip") and of phases ("none", "init-erase", "download-write",
 * "breakpoint-save", "boot-record", "bootloader-copy", "boot-counter",
 * "confirm", "kv-write"); "unknown" out of range. The parsers are their
 * inverse, -1 for an unknown name or NULL. */
const char *flashsim_fault_name(int mode);
int flashsim_fault_parse(const char *name);
const char *flashsim_phase_name(int ph);
int flashsim_phase_parse(const char *name);

/* Name of a violation ("program-not-erased", ...) and of an op kind. */
const char *flashsim_violation_name(int v);
const char *flashsim_opkind_name(int k);

#endif /* FLASHSIM_H */
