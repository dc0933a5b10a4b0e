/*
 * snap.h - an in-process fork for the power-cut sweep: the state of a run
 * taken at a cut point, a detour through that point's recovery, and the
 * way back to the moment of the snapshot, as if the detour never happened.
 *
 * What a snapshot holds:
 *   - memory regions registered once (the firmware's RAM, the flash model's
 *     state, the harness's own struct), copied whole at each snapshot;
 *   - the stack in use, from the frame that takes the snapshot up to a top
 *     the owner sets (a frame that encloses the whole run), copied as bytes:
 *     a detour runs on the same addresses and overwrites it;
 *   - the flash as an undo log: a sector is copied before the detour's
 *     first write to it, and copied back at the end.
 *
 * snap_take returns twice, as fork does: 0 to carry on with the detour,
 * then 1 when snap_back has put everything back (the registers come back
 * through longjmp, the frames through the stack copy). Everything else a
 * detour touches (the heap, files, other processes' memory) stays as the
 * detour left it: a caller keeps such state out of a detour's reach or
 * registers it.
 *
 * The stack copy confuses AddressSanitizer (its shadow of the stack does
 * not come back with the bytes), so sanitizer builds cannot snapshot:
 * snap_supported() says so and the caller forks instead. Host code; the
 * stack is assumed to grow downwards, which snap_supported() checks.
 */
#ifndef OTAHIL_SNAP_H
#define OTAHIL_SNAP_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_MAX_REGIONS 8
#define SNAP_STACK_MAX (4u << 20) /* a deeper stack in use is not copied: snap_take fails */

struct snap_region {
    unsigned char *addr;
    size_t len;
    unsigned char *saved;     /* len bytes: the region at the last snapshot */
};

struct snap {
    struct snap_region reg[SNAP_MAX_REGIONS];
    int nreg;
    /* stack */
    unsigned char *top;       /* the copied stack ends here (exclusive); set by the owner */
    unsigned char *lo;        /* ... and starts here, at the last snapshot */
    unsigned char *stk;       /* its bytes then */
    size_t stk_len, stk_cap;
    jmp_buf jb;               /* the registers at the last snapshot */
    /* flash undo log */
    uint8_t *flash;
    uint32_t flash_size, sector;
    uint8_t *logged;          /* per sector: 1 once saved in the current log */
    uint32_t *lsec;           /* the sectors saved, in order */
    uint8_t *ldata;           /* their bytes before the detour, in the same order */
    uint32_t nlog;
    int taken;                /* a snapshot is held (between snap_take and snap_back) */
};

/* 1 when this build can snapshot a run (no AddressSanitizer, a stack that
 * grows downwards); 0 when the caller must fork instead. */
int snap_supported(void);

/* Binds a snapshot to the flash bytes (size bytes, sectors of sector
 * bytes, a power of two dividing size). 0, or -1 (bad geometry, no
 * memory). */
int snap_init(struct snap *s, uint8_t *flash, uint32_t size, uint32_t sector);
void snap_free(struct snap *s);

/* Adds a memory region to every snapshot. 0, or -1 (table full, no
 * memory). */
int snap_region(struct snap *s, void *addr, size_t len);

/* Takes a snapshot: the regions, the stack between this call and s->top,
 * and an empty undo log. Returns 0 to the caller, then 1 a second time when
 * snap_back restores it; -1 when it cannot (a sanitizer build, s->top not
 * above the caller, a stack deeper than SNAP_STACK_MAX, no memory), and
 * then nothing was taken. The caller's frame must lie below s->top. */
int snap_take(struct snap *s) __attribute__((returns_twice));

/* Before a write during a detour: saves the sectors that flash bytes
 * [off, off + len) lie in (clipped to the chip), those not saved yet. */
void snap_flash_write(struct snap *s, uint32_t off, uint32_t len);

/* Ends the detour: copies back the saved sectors, calling restored(ctx,
 * off, len) for each after its bytes are back, then the regions and the
 * stack, and returns from snap_take a second time (with 1). */
void snap_back(struct snap *s, void (*restored)(void *ctx, uint32_t off, uint32_t len), void *ctx)
    __attribute__((noreturn));

#endif
