/*
 * flashfile.c - the native backend of the flash model (POSIX host code).
 *
 * The file holds the chip bytes followed by the model's persistent state
 * (metadata, erase counters, program-once bitmap) and is mapped MAP_SHARED:
 * every program or erase is in the page cache the moment it happens, so a
 * killed process loses nothing that reached "flash". A new file is built
 * under a temporary name and linked into place only once it is complete, so
 * a half-created file never appears under PATH.
 *
 * The backend installs its own op hook: after every program and erase, and
 * after any violation (reads included), it appends one JSON line to
 * PATH.oplog and flushes it, then calls the user hook. The user hook alone
 * decides power cuts in the "before" call. With op_delay_us set, every
 * program and erase first sleeps that long in the "before" call, as on a
 * slow chip: the calling thread is held, the bytes land as usual. A line names the op's phase and
 * the fault that fired on it when there are any; an op cut by the hook or a
 * fault (CUT_AFTER aside) makes no "after" call, so no line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sim/qemu/qmbox.h"
#include "flashfile.h"

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Writes s as the body of a JSON string. */
static void json_str(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
}

static void log_op(struct flashfile *ff, const struct flashsim_op *op)
{
    const struct flashsim_part *p = flashsim_part(&ff->fs, op->part);
    const char *name = op->part == FLASHSIM_CHIP ? "CHIP" : p ? p->name : "?";

    fprintf(ff->oplog, "{\"seq\":%llu,\"op\":\"%s\",\"part\":\"", (unsigned long long)op->seq,
            flashsim_opkind_name(op->kind));
    json_str(ff->oplog, name);
    fprintf(ff->oplog, "\",\"off\":%lu,\"len\":%lu,\"result\":%ld", (unsigned long)op->off,
            (unsigned long)op->len, (long)op->result);
    if (op->violation != FLASHSIM_V_NONE)
        fprintf(ff->oplog, ",\"violation\":\"%s\"", flashsim_violation_name(op->violation));
    if (op->phase != FLASHSIM_PH_NONE)
        fprintf(ff->oplog, ",\"phase\":\"%s\"", flashsim_phase_name(op->phase));
    if (op->fault != FLASHSIM_F_NONE)
        fprintf(ff->oplog, ",\"fault\":\"%s\"", flashsim_fault_name(op->fault));
    fputs("}\n", ff->oplog);
    fflush(ff->oplog);
}

static int ff_hook(void *ctx, const struct flashsim_op *op, int before)
{
    struct flashfile *ff = ctx;

    if (before) {
        if (ff->op_delay_us && (op->kind == FLASHSIM_OP_PROGRAM || op->kind == FLASHSIM_OP_ERASE)) {
            struct timespec ts = { (time_t)(ff->op_delay_us / 1000000u),
                                   (long)(ff->op_delay_us % 1000000u) * 1000L };
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
                ;
        }
        return ff->user_hook ? ff->user_hook(ff->user_ctx, op, 1) : 0;
    }
    if (ff->oplog && (op->kind != FLASHSIM_OP_READ || op->violation != FLASHSIM_V_NONE))
        log_op(ff, op);
    if (ff->user_hook)
        ff->user_hook(ff->user_ctx, op, 0);
    return 0;
}

static void *map_fd(int fd, size_t len)
{
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

    return m == MAP_FAILED ? NULL : m;
}

/* Builds a complete new flash file under a temporary name, then links it to
 * path. Returns 0 with ff->fd and ff->map set, 1 if path appeared meanwhile
 * (the caller opens it as an existing file), -1 on error. */
static int create_file(struct flashfile *ff, const char *path, const struct flashsim_geom *g,
                       char *err, size_t errlen)
{
    char tmp[sizeof(ff->path) + 32];
    int fd, rc;
    void *map;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp)) {
        set_err(err, errlen, "%s: path too long", path);
        return -1;
    }
    unlink(tmp); /* a leftover of an earlier process that had our pid */
    fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        set_err(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
        return -1;
    }
    if (ftruncate(fd, (off_t)ff->map_len) != 0) {
        set_err(err, errlen, "%s: cannot size to %zu bytes: %s", tmp, ff->map_len, strerror(errno));
        goto fail;
    }
    map = map_fd(fd, ff->map_len);
    if (!map) {
        set_err(err, errlen, "%s: cannot map %zu bytes: %s", tmp, ff->map_len, strerror(errno));
        goto fail;
    }
    if (flashsim_init(&ff->fs, g, map, (uint8_t *)map + g->size, 1) != FLASHSIM_OK) {
        set_err(err, errlen, "%s: flash state cannot be placed after %lu chip bytes", path,
                (unsigned long)g->size);
        munmap(map, ff->map_len);
        goto fail;
    }
    if (msync(map, ff->map_len, MS_SYNC) != 0 || fsync(fd) != 0) {
        set_err(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
        munmap(map, ff->map_len);
        goto fail;
    }
    /* link() refuses to replace a file another process created meanwhile. */
    rc = link(tmp, path);
    if (rc != 0 && errno == EEXIST) {
        munmap(map, ff->map_len);
        close(fd);
        unlink(tmp);
        return 1;
    }
    if (rc != 0 && rename(tmp, path) != 0) {
        set_err(err, errlen, "%s: cannot create: %s", path, strerror(errno));
        munmap(map, ff->map_len);
        goto fail;
    }
    unlink(tmp);
    ff->fd = fd;
    ff->map = map;
    return 0;
fail:
    close(fd);
    unlink(tmp);
    return -1;
}

static int open_existing(struct flashfile *ff, const char *path, const struct flashsim_geom *g,
                         char *err, size_t errlen)
{
    struct stat st;
    int fd = open(path, O_RDWR | O_CLOEXEC);

    if (fd < 0) {
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        set_err(err, errlen, "%s: not a regular file", path);
        goto fail;
    }
    /* A QEMU region file (docs/qemu.md) holds the same layout at its start. */
    int region = (unsigned long long)st.st_size == QMBOX_REGION_SIZE && ff->map_len <= QMBOX_OFF;
    if ((unsigned long long)st.st_size != (unsigned long long)ff->map_len && !region) {
        set_err(err, errlen, "%s: size %lld bytes, expected %zu (chip %lu + state %zu)", path,
                (long long)st.st_size, ff->map_len, (unsigned long)g->size,
                ff->map_len - g->size);
        goto fail;
    }
    ff->map = map_fd(fd, ff->map_len);
    if (!ff->map) {
        set_err(err, errlen, "%s: cannot map %zu bytes: %s", path, ff->map_len, strerror(errno));
        goto fail;
    }
    if (flashsim_init(&ff->fs, g, ff->map, (uint8_t *)ff->map + g->size, 0) != FLASHSIM_OK) {
        set_err(err, errlen, "%s: flash state does not match this geometry", path);
        munmap(ff->map, ff->map_len);
        ff->map = NULL;
        goto fail;
    }
    ff->fd = fd;
    return 0;
fail:
    close(fd);
    return -1;
}

int flashfile_open(struct flashfile *ff, const char *path, const struct flashsim_geom *g,
                   int create, int oplog, char *err, size_t errlen)
{
    flashsim_hook_fn uh;
    void *uc;
    size_t state;
    int rc = 1;

    if (!ff)
        return -1;
    uh = ff->user_hook;
    uc = ff->user_ctx;
    memset(ff, 0, sizeof(*ff));
    ff->fd = -1;
    ff->user_hook = uh;
    ff->user_ctx = uc;
    if (!path || !*path) {
        set_err(err, errlen, "flash file: no path");
        return -1;
    }
    if (flashsim_geom_check(g) != FLASHSIM_OK) {
        set_err(err, errlen, "%s: bad flash geometry", path);
        return -1;
    }
    if (strlen(path) >= sizeof(ff->path)) {
        set_err(err, errlen, "%s: path too long", path);
        return -1;
    }
    state = flashsim_state_size(g);
    ff->map_len = (size_t)g->size + state;

    if (access(path, F_OK) != 0) {
        if (errno != ENOENT || !create) {
            set_err(err, errlen, "%s: %s", path, strerror(errno));
            return -1;
        }
        rc = create_file(ff, path, g, err, errlen);
        if (rc < 0)
            return -1;
    }
    if (rc == 1 && open_existing(ff, path, g, err, errlen) != 0)
        return -1;

    if (oplog) {
        char lp[sizeof(ff->path) + 8];

        snprintf(lp, sizeof(lp), "%s.oplog", path);
        ff->oplog = fopen(lp, "ae");
        if (!ff->oplog) {
            set_err(err, errlen, "%s: cannot open: %s", lp, strerror(errno));
            flashfile_close(ff);
            return -1;
        }
    }
    snprintf(ff->path, sizeof(ff->path), "%s", path);
    ff->fs.hook = ff_hook;
    ff->fs.hook_ctx = ff;
    return 0;
}

void flashfile_close(struct flashfile *ff)
{
    if (!ff || !ff->map)
        return;
    msync(ff->map, ff->map_len, MS_SYNC);
    munmap(ff->map, ff->map_len);
    ff->map = NULL;
    if (ff->fd >= 0)
        close(ff->fd);
    ff->fd = -1;
    if (ff->oplog)
        fclose(ff->oplog);
    ff->oplog = NULL;
    ff->fs.mem = NULL;
    ff->fs.meta = NULL;
    ff->fs.programmed = NULL;
    ff->fs.hook = NULL;
}
