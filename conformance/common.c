/* common.c - file, image and flash helpers shared by the otahil commands. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "conformance/common.h"
#include "hal/soc/flash.h"
#include "sim/boot/boot.h"

int write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t n)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, n, "%s: %s", path, strerror(errno));
        return -1;
    }
    const uint8_t *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(err, n, "%s: %s", path, strerror(errno));
            close(fd);
            unlink(tmp);
            return -1;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        snprintf(err, n, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int read_file(const char *path, uint8_t **data, size_t *len, char *err, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, n, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, used = 0;
    uint8_t *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + used, 1, cap - used, f)) > 0) {
        used += r;
        if (used == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
            cap *= 2;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        snprintf(err, n, "%s: read error", path);
        return -1;
    }
    *data = buf;
    *len = used;
    return 0;
}

int mkdir_p(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    return (mkdir(tmp, 0755) == 0 || errno == EEXIST) ? 0 : -1;
}

int make_image_file(const char *path, const struct image_spec *s, char *err, size_t n)
{
    size_t len = image_total_size(s);
    uint8_t *buf = malloc(len);
    if (!buf) {
        snprintf(err, n, "out of memory");
        return -1;
    }
    int rc = image_build(s, buf, len);
    if (rc != IMAGE_OK) {
        snprintf(err, n, "bad image spec: %s", image_strerror(rc));
        free(buf);
        return -1;
    }
    rc = write_file_atomic(path, buf, len, err, n);
    free(buf);
    return rc;
}

int open_flash(struct flashfile *ff, const char *path, const struct board *b, char *err, size_t n)
{
    memset(ff, 0, sizeof(*ff));
    if (flashfile_open(ff, path, &b->geom, 0, 0, err, n) != 0)
        return -1;
    if (board_apply(b, &ff->fs) != 0) {
        snprintf(err, n, "%s: cannot apply the partition table of board %s", path, b->name);
        flashfile_close(ff);
        return -1;
    }
    return 0;
}

int provision_flash(const char *path, const struct board *b, const char *image_path, char *err,
                    size_t n)
{
    uint8_t *img;
    size_t len;
    struct image_info info;
    if (read_file(image_path, &img, &len, err, n) != 0)
        return -1;
    int rc = image_parse(img, len, &info);
    if (rc != IMAGE_OK) {
        snprintf(err, n, "%s: not a valid otahil image: %s", image_path, image_strerror(rc));
        free(img);
        return -1;
    }
    const struct board_part *app = board_part(b, HAL_PARTITION_APPLICATION);
    if (!app || len > app->length) {
        snprintf(err, n, "%s: %zu bytes do not fit APPLICATION of board %s", image_path, len,
                 b->name);
        free(img);
        return -1;
    }
    unlink(path);
    char oplog[4200];
    snprintf(oplog, sizeof(oplog), "%s.oplog", path);
    unlink(oplog);
    struct flashfile ff;
    memset(&ff, 0, sizeof(ff));
    if (flashfile_open(&ff, path, &b->geom, 1, 0, err, n) != 0) {
        free(img);
        return -1;
    }
    memcpy(ff.fs.mem + (app->start - b->flash_base), img, len);
    flashfile_close(&ff);
    free(img);
    return 0;
}

/* Erases a whole partition through the model. 0 or -1 (err). */
static int erase_part(struct flashsim *fs, int id, const char *path, char *err, size_t n)
{
    const struct flashsim_part *p = flashsim_part(fs, id);
    int rc = p ? flashsim_erase(fs, id, 0, p->length) : FLASHSIM_ENOENT;
    if (rc != FLASHSIM_OK)
        snprintf(err, n, "%s: cannot erase %s: flash error %d", path, board_part_name(id), rc);
    return rc == FLASHSIM_OK ? 0 : -1;
}

int factory_reset_flash(const char *path, const struct board *b, const char *image_path,
                        unsigned flags, char *err, size_t n)
{
    uint8_t *img = NULL, *file = NULL;
    size_t ilen, flen, want = (size_t)b->geom.size + flashsim_state_size(&b->geom);
    const struct board_part *app = board_part(b, HAL_PARTITION_APPLICATION);
    uint32_t pu = b->geom.program_unit, plen;
    struct image_info info;
    struct flashsim fs;
    uint8_t *padded;
    int rc = -1, irc, prc;
    if (read_file(image_path, &img, &ilen, err, n) != 0)
        return -1;
    irc = image_parse(img, ilen, &info);
    if (irc != IMAGE_OK) {
        snprintf(err, n, "%s: not a valid otahil image: %s", image_path, image_strerror(irc));
        goto out;
    }
    if (!app || ilen > app->length) {
        snprintf(err, n, "%s: %zu bytes do not fit APPLICATION of board %s", image_path, ilen,
                 b->name);
        goto out;
    }
    if (read_file(path, &file, &flen, err, n) != 0)
        goto out;
    if (flen != want) {
        snprintf(err, n, "%s: %zu bytes, not a flash file of board %s (%zu bytes: chip %u + state "
                 "%zu)", path, flen, b->name, want, b->geom.size, want - b->geom.size);
        goto out;
    }
    if (flashsim_init(&fs, &b->geom, file, file + b->geom.size, 0) != FLASHSIM_OK ||
        board_apply(b, &fs) != FLASHSIM_OK) {
        snprintf(err, n, "%s: flash state does not match board %s", path, b->name);
        goto out;
    }
    /* APPLICATION: erased whole, then the image, its tail padded to the program unit. */
    plen = (uint32_t)((ilen + pu - 1) / pu * pu);
    padded = realloc(img, plen);
    if (!padded) {
        snprintf(err, n, "out of memory");
        goto out;
    }
    img = padded;
    memset(img + ilen, b->geom.erase_value, plen - ilen);
    if (erase_part(&fs, HAL_PARTITION_APPLICATION, path, err, n) != 0)
        goto out;
    prc = flashsim_program(&fs, HAL_PARTITION_APPLICATION, 0, img, plen);
    if (prc != FLASHSIM_OK) {
        snprintf(err, n, "%s: cannot program APPLICATION: flash error %d", path, prc);
        goto out;
    }
    if (!(flags & FACTORY_APP_ONLY) &&
        erase_part(&fs, HAL_PARTITION_PARAMETER_1, path, err, n) != 0)
        goto out;
    for (int k = 0; (flags & FACTORY_ERASE_KV) && k < b->nkv; k++)
        if (erase_part(&fs, b->kv_parts[k], path, err, n) != 0)
            goto out;
    rc = write_file_atomic(path, file, flen, err, n);
out:
    free(img);
    free(file);
    return rc;
}

struct reader {
    struct flashsim *fs;
    int part;
};

static int rd(void *ctx, uint32_t off, void *buf, uint32_t nb)
{
    struct reader *r = ctx;
    return flashsim_read(r->fs, r->part, off, buf, nb);
}

int slot_image(struct flashsim *fs, int part, struct image_info *info)
{
    const struct flashsim_part *p = flashsim_part(fs, part);
    if (!p)
        return IMAGE_ESIZE;
    struct reader r = { fs, part };
    return image_parse_reader(rd, &r, p->length, info);
}

int active_slot(struct flashsim *fs, const struct board *b)
{
    ota_boot_param_t r;
    int last;
    if (strcmp(b->bootloader, "pingpong") != 0 || !boot_record_newest(fs, &r, &last))
        return HAL_PARTITION_APPLICATION;
    const struct board_part *ota = board_part(b, HAL_PARTITION_OTA_TEMP);
    if (ota && r.src_adr == ota->start && r.upg_flag != REC_DUAL_UPDATE_FLAG)
        return HAL_PARTITION_OTA_TEMP;
    if (ota && r.upg_flag == REC_DUAL_UPDATE_FLAG && r.dst_adr == ota->start)
        return HAL_PARTITION_OTA_TEMP;
    return HAL_PARTITION_APPLICATION;
}

int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (end == s || errno)
        return -1;
    if (*end == 'K' || *end == 'k') { v *= 1024; end++; }
    else if (*end == 'M' || *end == 'm') { v *= 1024 * 1024; end++; }
    if (*end || v > 0xFFFFFFFFull)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int otahil_source_path(const char *rel, char *out, size_t n)
{
    const char *env = getenv("OTAHIL_SRC");
    char exe[4096], *slash;
    if (env && *env) {
        snprintf(out, n, "%s/%s", env, rel);
        return access(out, F_OK) == 0 ? 0 : -1;
    }
    ssize_t k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (k > 0) {
        exe[k] = '\0';
        if ((slash = strrchr(exe, '/')) != NULL) {
            *slash = '\0';
            for (int up = 2; up <= 3; up++) { /* build/bin or build/san/bin */
                char *real;
                snprintf(out, n, "%s/%s../%s", exe, up == 2 ? "../" : "../../", rel);
                if (access(out, F_OK) != 0)
                    continue;
                if ((real = realpath(out, NULL)) != NULL) {
                    snprintf(out, n, "%s", real);
                    free(real);
                }
                return 0;
            }
        }
    }
    snprintf(out, n, "%s", rel);
    return access(out, F_OK) == 0 ? 0 : -1;
}

void otahil_faults_dir(char *out, size_t n)
{
    const char *env = getenv("OTAHIL_FAULTS");
    if (env && *env)
        snprintf(out, n, "%s", env);
    else
        otahil_source_path("fixtures/faults", out, n);
}

int copy_file_atomic(const char *from, const char *to, char *err, size_t n)
{
    uint8_t *d;
    size_t l;
    if (read_file(from, &d, &l, err, n) != 0)
        return -1;
    int rc = write_file_atomic(to, d, l, err, n);
    free(d);
    return rc;
}

/* ---- the event sequence of a run ------------------------------------------ */

struct src_events {
    char  *src;
    char  *evs;   /* "ev\n" per event, in file order */
    size_t len, cap;
};

static int src_cmp(const void *a, const void *b)
{
    return strcmp(((const struct src_events *)a)->src, ((const struct src_events *)b)->src);
}

int events_sequence_digest(const char *path, char out[65])
{
    FILE *f = fopen(path, "r");
    struct src_events *s = NULL;
    int ns = 0, rc = -1;
    char *line = NULL;
    size_t lcap = 0;

    out[0] = '\0';
    if (!f)
        return -1;
    while (getline(&line, &lcap, f) > 0) {
        cJSON *e = cJSON_Parse(line);
        const cJSON *src = cJSON_GetObjectItemCaseSensitive(e, "src");
        const cJSON *ev = cJSON_GetObjectItemCaseSensitive(e, "ev");
        if (cJSON_IsString(src) && cJSON_IsString(ev)) {
            int k = 0;
            while (k < ns && strcmp(s[k].src, src->valuestring) != 0)
                k++;
            if (k == ns) {
                struct src_events *t = realloc(s, sizeof(*s) * (size_t)(ns + 1));
                if (!t) {
                    cJSON_Delete(e);
                    goto out;
                }
                s = t;
                memset(&s[ns], 0, sizeof(s[ns]));
                if (!(s[ns].src = strdup(src->valuestring))) {
                    cJSON_Delete(e);
                    goto out;
                }
                ns++;
            }
            size_t l = strlen(ev->valuestring) + 1;
            if (s[k].len + l > s[k].cap) {
                size_t c = (s[k].cap + l) * 2;
                char *t = realloc(s[k].evs, c);
                if (!t) {
                    cJSON_Delete(e);
                    goto out;
                }
                s[k].evs = t;
                s[k].cap = c;
            }
            memcpy(s[k].evs + s[k].len, ev->valuestring, l - 1);
            s[k].evs[s[k].len + l - 1] = '\n';
            s[k].len += l;
        }
        cJSON_Delete(e);
    }
    if (ns > 0)
        qsort(s, (size_t)ns, sizeof(*s), src_cmp);
    {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        unsigned char h[32];
        unsigned hl = 0;
        if (md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1) {
            for (int k = 0; k < ns; k++) {
                EVP_DigestUpdate(md, s[k].src, strlen(s[k].src));
                EVP_DigestUpdate(md, ":\n", 2);
                EVP_DigestUpdate(md, s[k].evs ? s[k].evs : "", s[k].len);
            }
            if (EVP_DigestFinal_ex(md, h, &hl) == 1 && hl == 32) {
                for (int i = 0; i < 32; i++)
                    snprintf(out + 2 * i, 3, "%02x", h[i]);
                rc = 0;
            }
        }
        EVP_MD_CTX_free(md);
    }
out:
    for (int k = 0; k < ns; k++) {
        free(s[k].src);
        free(s[k].evs);
    }
    free(s);
    free(line);
    fclose(f);
    return rc;
}
