/*
 * fwhost.c - in-process boots of a native firmware object (see fwhost.h).
 *
 * The object is linked with -z norelro -z now, so its writable PT_LOAD
 * segment (data, bss, a fully bound GOT) is plain memory: a copy taken right
 * after dlopen is the RAM a reset gives, and copying it back is a reboot.
 */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conformance/fwhost.h"

struct seg_find {
    struct fwhost *h;
    ElfW(Addr) base;
};

static int find_segs(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct seg_find *f = arg;
    if (info->dlpi_addr != f->base)
        return 0;
    for (int i = 0; i < info->dlpi_phnum && f->h->nseg < FWHOST_MAX_SEG; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W) || !ph->p_memsz)
            continue;
        f->h->seg[f->h->nseg].addr = (unsigned char *)(info->dlpi_addr + ph->p_vaddr);
        f->h->seg[f->h->nseg].len = ph->p_memsz;
        f->h->nseg++;
    }
    return 1;
}

/* A plain byte copy the sanitizers do not check: the segment holds the
 * redzones between instrumented globals. */
__attribute__((no_sanitize("address", "undefined"))) static void raw_copy(unsigned char *d, const unsigned char *s,
                                                                      size_t n)
{
    for (size_t i = 0; i < n; i++)
        d[i] = s[i];
}

/* Restores a segment from its saved copy. Without ASan, page by page and
 * only the pages that differ: a page the last boot left untouched is not
 * written, so a forked process does not copy it. */
static void seg_restore(unsigned char *d, const unsigned char *s, size_t n)
{
#ifdef __SANITIZE_ADDRESS__
    raw_copy(d, s, n);
#else
    const size_t page = 4096;
    size_t i = 0, head = (size_t)(-(uintptr_t)d & (page - 1));

    if (head > n)
        head = n;
    if (head && memcmp(d, s, head) != 0)
        memcpy(d, s, head);
    for (i = head; i < n; i += page) {
        size_t k = n - i < page ? n - i : page;
        if (memcmp(d + i, s + i, k) != 0)
            memcpy(d + i, s + i, k);
    }
#endif
}

static int resolve(const char *arg, char *out, size_t n)
{
    if (strchr(arg, '/') || strstr(arg, ".so")) {
        snprintf(out, n, "%s", arg);
        return 0;
    }
    char exe[4096];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (k <= 0)
        return -1;
    exe[k] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = 0; /* .../build/bin */
    slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = 0; /* .../build */
    snprintf(out, n, "%s/fw/%s.so", exe, arg);
    return 0;
}

int fwhost_load(struct fwhost *h, const char *name_or_path, char *err, size_t errlen)
{
    memset(h, 0, sizeof(*h));
    if (resolve(name_or_path, h->path, sizeof(h->path)) != 0) {
        snprintf(err, errlen, "port '%s': cannot locate the build tree", name_or_path);
        return -1;
    }
    if (access(h->path, R_OK) != 0) {
        snprintf(err, errlen, "port '%s': %s: %s (build it with make)", name_or_path, h->path,
                 strerror(errno));
        return -1;
    }
    h->dl = dlopen(h->path, RTLD_NOW | RTLD_LOCAL);
    if (!h->dl) {
        snprintf(err, errlen, "port '%s': %s", name_or_path, dlerror());
        return -1;
    }
    h->boot = (otahil_fw_boot_fn)dlsym(h->dl, OTAHIL_FW_ENTRY);
    struct link_map *lm = NULL;
    if (!h->boot || dlinfo(h->dl, RTLD_DI_LINKMAP, &lm) != 0 || !lm) {
        snprintf(err, errlen, "%s: no %s entry: not an otahil firmware object", h->path,
                 OTAHIL_FW_ENTRY);
        fwhost_unload(h);
        return -1;
    }
    struct seg_find f = { h, lm->l_addr };
    dl_iterate_phdr(find_segs, &f);
    if (h->nseg == 0) {
        snprintf(err, errlen, "%s: no writable segment found", h->path);
        fwhost_unload(h);
        return -1;
    }
    for (int i = 0; i < h->nseg; i++) {
        h->seg[i].saved = malloc(h->seg[i].len);
        if (!h->seg[i].saved) {
            snprintf(err, errlen, "out of memory");
            fwhost_unload(h);
            return -1;
        }
        raw_copy(h->seg[i].saved, h->seg[i].addr, h->seg[i].len);
        h->ram += h->seg[i].len;
    }
    return 0;
}

void fwhost_unload(struct fwhost *h)
{
    for (int i = 0; i < h->nseg; i++)
        free(h->seg[i].saved);
    h->nseg = 0;
    if (h->dl)
        dlclose(h->dl);
    h->dl = NULL;
    h->boot = NULL;
}

/* Zeroes the stack a boot is about to use: a reset leaves no trace of the
 * previous boot there, so two boots that did the same work leave the same
 * bytes in their frames (the sweep's memo compares them). */
static __attribute__((noinline)) void paint_stack(void)
{
    unsigned char pad[FWHOST_STACK_PAINT];
    explicit_bzero(pad, sizeof(pad));
}

int fwhost_boot(struct fwhost *h, const struct otahil_fw_config *cfg, const struct otahil_fw_ops *ops)
{
    paint_stack();
    h->stack_base = (const unsigned char *)__builtin_frame_address(0);
    for (int i = 0; i < h->nseg; i++)
        seg_restore(h->seg[i].addr, h->seg[i].saved, h->seg[i].len);
    volatile int end;
    h->in_boot = 1;
    int j = setjmp(h->jb);
    if (j == 0)
        end = h->boot(cfg, ops);
    else
        end = j;
    h->in_boot = 0;
    return end;
}

void fwhost_leave(struct fwhost *h, int end)
{
    longjmp(h->jb, end);
}
