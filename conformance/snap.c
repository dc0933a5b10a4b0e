/*
 * snap.c - snapshots of a run and the way back to them (see snap.h).
 *
 * The way back runs below the stack it restores: snap_back grows its frame
 * with alloca until it lies under the lowest byte of the copy, copies the
 * bytes back from a frame there, and longjmps up into snap_take's frame,
 * which the copy has just brought back. A jump upwards is what longjmp
 * (and glibc's checked longjmp) expects.
 */
#include <alloca.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/snap.h"

#if defined(__SANITIZE_ADDRESS__)
#define SNAP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SNAP_ASAN 1
#endif
#endif

#define SNAP_MARGIN 4096 /* room under the copy for the frames that write it back */

#ifndef SNAP_ASAN
static __attribute__((noinline)) int deeper(const volatile unsigned char *outer)
{
    volatile unsigned char inner = 0;
    return (uintptr_t)&inner < (uintptr_t)outer;
}
#endif

int snap_supported(void)
{
#ifdef SNAP_ASAN
    return 0;
#else
    volatile unsigned char outer = 0;
    return deeper(&outer);
#endif
}

int snap_init(struct snap *s, uint8_t *flash, uint32_t size, uint32_t sector)
{
    memset(s, 0, sizeof(*s));
    if (!flash || !sector || (sector & (sector - 1)) || !size || size % sector)
        return -1;
    s->flash = flash;
    s->flash_size = size;
    s->sector = sector;
    s->logged = calloc(size / sector, 1);
    s->lsec = malloc(sizeof(uint32_t) * (size / sector));
    s->ldata = malloc(size); /* pages are touched only as sectors are saved */
    if (!s->logged || !s->lsec || !s->ldata) {
        snap_free(s);
        return -1;
    }
    return 0;
}

void snap_free(struct snap *s)
{
    for (int i = 0; i < s->nreg; i++)
        free(s->reg[i].saved);
    free(s->stk);
    free(s->logged);
    free(s->lsec);
    free(s->ldata);
    memset(s, 0, sizeof(*s));
}

int snap_region(struct snap *s, void *addr, size_t len)
{
    if (s->nreg == SNAP_MAX_REGIONS)
        return -1;
    unsigned char *saved = malloc(len ? len : 1);
    if (!saved)
        return -1;
    s->reg[s->nreg].addr = addr;
    s->reg[s->nreg].len = len;
    s->reg[s->nreg++].saved = saved;
    return 0;
}

#ifndef SNAP_ASAN
/* Copies the stack from here up to s->top. */
static __attribute__((noinline)) int stack_out(struct snap *s)
{
    volatile unsigned char here = 0;
    unsigned char *lo = (unsigned char *)(uintptr_t)&here;

    if (!s->top || lo >= s->top || (size_t)(s->top - lo) > SNAP_STACK_MAX)
        return -1;
    size_t n = (size_t)(s->top - lo);
    if (n > s->stk_cap) {
        unsigned char *p = realloc(s->stk, n);
        if (!p)
            return -1;
        s->stk = p;
        s->stk_cap = n;
    }
    memcpy(s->stk, lo, n);
    s->lo = lo;
    s->stk_len = n;
    return 0;
}

/* Runs in a frame below the copy: writes it back and jumps into it. It
 * takes the caller's room, so the call cannot become a jump that would
 * give the room back before the copy is written. */
static __attribute__((noinline)) void stack_in(struct snap *s, volatile unsigned char *room)
{
    room[0] = 1;
    memcpy(s->lo, s->stk, s->stk_len);
    longjmp(s->jb, 1);
}

static __attribute__((noinline, noreturn)) void jump_back(struct snap *s)
{
    volatile unsigned char here = 0;
    uintptr_t sp = (uintptr_t)&here, lo = (uintptr_t)s->lo;
    size_t need = sp + SNAP_MARGIN > lo ? sp + SNAP_MARGIN - lo : 1;
    volatile unsigned char *room = alloca(need);

    room[0] = 0;
    stack_in(s, room);
    abort();
}
#endif

int snap_take(struct snap *s)
{
#ifdef SNAP_ASAN
    (void)s;
    return -1;
#else
    for (int i = 0; i < s->nreg; i++)
        memcpy(s->reg[i].saved, s->reg[i].addr, s->reg[i].len);
    s->nlog = 0;
    if (setjmp(s->jb))
        return 1;
    if (stack_out(s) != 0)
        return -1;
    s->taken = 1;
    return 0;
#endif
}

void snap_flash_write(struct snap *s, uint32_t off, uint32_t len)
{
    if (!s->taken || !len || off >= s->flash_size)
        return;
    uint64_t end = (uint64_t)off + len;
    if (end > s->flash_size)
        end = s->flash_size;
    uint32_t last = (uint32_t)((end - 1) / s->sector);
    for (uint32_t sec = off / s->sector; sec <= last; sec++) {
        if (s->logged[sec])
            continue;
        s->logged[sec] = 1;
        memcpy(s->ldata + (size_t)s->nlog * s->sector, s->flash + (size_t)sec * s->sector, s->sector);
        s->lsec[s->nlog++] = sec;
    }
}

void snap_back(struct snap *s, void (*restored)(void *ctx, uint32_t off, uint32_t len), void *ctx)
{
    for (uint32_t i = 0; i < s->nlog; i++) {
        uint32_t sec = s->lsec[i];
        memcpy(s->flash + (size_t)sec * s->sector, s->ldata + (size_t)i * s->sector, s->sector);
        s->logged[sec] = 0;
        if (restored)
            restored(ctx, sec * s->sector, s->sector);
    }
    s->nlog = 0;
    for (int i = 0; i < s->nreg; i++)
        memcpy(s->reg[i].addr, s->reg[i].saved, s->reg[i].len);
    s->taken = 0;
#ifdef SNAP_ASAN
    abort(); /* snap_take never succeeds here */
#else
    jump_back(s);
#endif
}
