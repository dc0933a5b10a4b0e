/*
 * checks.c - conformance checks over a run's event log, the served file and
 * the final flash (checks.h). They look at what the port was given and did
 * (port.* events from the OTA HAL), what the servers saw (http.*, device.*)
 * and what the bootloader did (boot.*), never at the agent's own account of
 * itself, so a faulty agent or port cannot talk its way through.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "CheckSumUtils.h"
#include "conformance/checks.h"
#include "conformance/common.h"
#include "hal/soc/flash.h"
#include "sim/boot/boot.h"
#include "sim/kv/kv.h"
#include "sim/util/event.h"
#include "sim/util/evlog.h"

/* ---- event logs ------------------------------------------------------------ */

int evlist_load(const char *path, struct evlist *l)
{
    uint8_t *data;
    size_t len;
    char err[256];
    l->ev = NULL;
    l->n = 0;
    if (read_file(path, &data, &len, err, sizeof(err)) != 0)
        return -1;
    int cap = 0;
    char *s = (char *)data, *end = s + len;
    while (s < end) {
        char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t ll = nl ? (size_t)(nl - s) : (size_t)(end - s);
        cJSON *j = cJSON_ParseWithLength(s, ll);
        if (j) {
            if (l->n == cap) {
                cap = cap ? cap * 2 : 256;
                cJSON **nev = realloc(l->ev, sizeof(*l->ev) * (size_t)cap);
                if (!nev) {
                    cJSON_Delete(j);
                    free(data);
                    evlist_free(l);
                    return -1;
                }
                l->ev = nev;
            }
            l->ev[l->n++] = j;
        }
        s += ll + 1;
    }
    free(data);
    return 0;
}

void evlist_free(struct evlist *l)
{
    for (int i = 0; i < l->n; i++)
        cJSON_Delete(l->ev[i]);
    free(l->ev);
    l->ev = NULL;
    l->n = 0;
}

const char *ev_str(const cJSON *e, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

double ev_num(const cJSON *e, const char *k, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static int is_ev(const cJSON *e, const char *name)
{
    const char *ev = ev_str(e, "ev");
    return ev && !strcmp(ev, name);
}

static int is_finish(const cJSON *e)
{
    const char *rt = ev_str(e, "result_type");
    return is_ev(e, "port.set_boot") && rt && !strcmp(rt, "FINISH");
}

/* ---- results ----------------------------------------------------------------- */

static struct check_res *put(struct check_res *r, const char *id, enum verdict v, const char *fmt,
                             ...) __attribute__((format(printf, 4, 5)));
static struct check_res *put(struct check_res *r, const char *id, enum verdict v, const char *fmt,
                             ...)
{
    va_list ap;
    snprintf(r->id, sizeof(r->id), "%s", id);
    r->verdict = v;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
    va_end(ap);
    return r;
}

/* A port.written run against the file: 1 when it is the file's bytes there. */
static int run_matches(const struct check_in *in, const cJSON *e, uint32_t *from, uint32_t *bytes,
                       uint32_t *want_crc)
{
    *from = (uint32_t)ev_num(e, "from", 0);
    *bytes = (uint32_t)ev_num(e, "bytes", 0);
    const char *c = ev_str(e, "crc32");
    uint32_t got = c ? (uint32_t)strtoul(c, NULL, 16) : 0;
    *want_crc = 0;
    if ((uint64_t)*from + *bytes > in->file_len)
        return 0;
    *want_crc = kv_crc32_update(0xFFFFFFFFu, in->file + *from, *bytes) ^ 0xFFFFFFFFu;
    return c && got == *want_crc;
}

static void check_writes(const struct check_in *in, struct check_res *r)
{
    int runs = 0;
    for (int i = 0; i < in->l->n; i++) {
        const cJSON *e = in->l->ev[i];
        uint32_t from, bytes, want;
        if (!is_ev(e, "port.written"))
            continue;
        runs++;
        if (run_matches(in, e, &from, &bytes, &want))
            continue;
        if ((uint64_t)from + bytes > in->file_len)
            put(r, "writes-are-file", V_FAIL,
                "ota_write was given %u bytes at offset %u, past the file's end (%zu bytes): a whole "
                "file appended after a Range request, or data after the body",
                bytes, from, in->file_len);
        else
            put(r, "writes-are-file", V_FAIL,
                "ota_write was given %u bytes at offset %u that are not the file's there (crc32 %s, "
                "the file's %08x): an error body, chunk framing or a misplaced resume reached flash",
                bytes, from, ev_str(e, "crc32") ? ev_str(e, "crc32") : "?", want);
        return;
    }
    if (!runs)
        put(r, "writes-are-file", V_SKIP, "nothing was written");
    else
        put(r, "writes-are-file", V_PASS, "%d runs of writes, each the file's bytes at its offset", runs);
}

/* resume-range and finish-after-whole-file follow the same story: what the
 * port holds of the file since its last fresh start. */
struct held {
    uint64_t covered;    /* the file's first bytes, held */
    uint64_t dirty_from; /* lowest offset of bytes that are not the file's; UINT64_MAX: none */
};

static void held_init(struct held *h, uint32_t bp)
{
    if (bp == 0) {
        h->covered = 0;
        h->dirty_from = UINT64_MAX;
        return;
    }
    if (bp < h->covered)
        h->covered = bp;
    if (bp <= h->dirty_from)
        h->dirty_from = UINT64_MAX; /* what follows overwrites them */
}

static void held_write(const struct check_in *in, struct held *h, const cJSON *e)
{
    uint32_t from, bytes, want;
    if (!run_matches(in, e, &from, &bytes, &want)) {
        if (from < h->dirty_from)
            h->dirty_from = from;
        return;
    }
    if (from <= h->covered && (uint64_t)from + bytes > h->covered)
        h->covered = (uint64_t)from + bytes;
}

static int is_fw_get(const cJSON *e)
{
    const char *m = ev_str(e, "method"), *p = ev_str(e, "path");
    return is_ev(e, "http.request") && m && !strcmp(m, "GET") && p && !strncmp(p, "/fw/", 4);
}

static void check_resume(const struct check_in *in, struct check_res *r)
{
    struct held h = { 0, UINT64_MAX };
    long pending = -1; /* breakpoint of the last port.init not yet matched with a GET */
    int resumes = 0, inits = 0;
    for (int i = 0; i < in->l->n; i++) {
        const cJSON *e = in->l->ev[i];
        if (is_ev(e, "port.init")) {
            uint32_t bp = (uint32_t)ev_num(e, "breakpoint", 0);
            inits++;
            if (bp) {
                resumes++;
                if (bp > h.covered) {
                    put(r, "resume-range", V_FAIL,
                        "hal_ota_init resumed at %u, but only the first %llu bytes of the file were "
                        "written before", bp, (unsigned long long)h.covered);
                    return;
                }
            }
            held_init(&h, bp);
            pending = bp;
        } else if (is_ev(e, "port.written")) {
            held_write(in, &h, e);
        } else if (pending >= 0 && is_ev(e, "coap.block")) {
            /* Block2 (spec §3.3): the first block asked must hold the breakpoint. */
            uint64_t off = (uint64_t)ev_num(e, "offset", 0);
            uint64_t bs = 16u << ((int)ev_num(e, "szx", 6) & 7);
            if ((uint64_t)pending < off || (uint64_t)pending >= off + bs) {
                put(r, "resume-range", V_FAIL,
                    "the download at breakpoint %ld asked for Block2 number %d (bytes %llu..%llu), "
                    "which does not hold the breakpoint", pending, (int)ev_num(e, "num", 0),
                    (unsigned long long)off, (unsigned long long)(off + bs - 1));
                return;
            }
            pending = -1;
        } else if (pending >= 0 && is_fw_get(e)) {
            const char *range = ev_str(e, "range");
            char want[40];
            snprintf(want, sizeof(want), "bytes=%ld-", pending);
            if (pending == 0 && range) {
                put(r, "resume-range", V_FAIL, "a fresh download (breakpoint 0) asked for Range: %s",
                    range);
                return;
            }
            if (pending > 0 && (!range || strcmp(range, want) != 0)) {
                put(r, "resume-range", V_FAIL,
                    "the download resumed at breakpoint %ld asked for %s%s, not Range: %s", pending,
                    range ? "Range: " : "", range ? range : "no range", want);
                return;
            }
            pending = -1;
        }
    }
    if (!inits)
        put(r, "resume-range", V_SKIP, "no download started");
    else if (!resumes)
        put(r, "resume-range", V_PASS, "%d download(s), none resumed; no Range asked", inits);
    else
        put(r, "resume-range", V_PASS, "%d resume(s), each asked for Range: bytes=<breakpoint>- (or the Block2 holding it) "
            "and resumed within what was written", resumes);
}

static void check_finish(const struct check_in *in, struct check_res *r)
{
    struct held h = { 0, UINT64_MAX };
    int finishes = 0;
    for (int i = 0; i < in->l->n; i++) {
        const cJSON *e = in->l->ev[i];
        if (is_ev(e, "port.init"))
            held_init(&h, (uint32_t)ev_num(e, "breakpoint", 0));
        else if (is_ev(e, "port.written"))
            held_write(in, &h, e);
        else if (is_finish(e)) {
            finishes++;
            if (h.dirty_from != UINT64_MAX) {
                put(r, "finish-after-whole-file", V_FAIL,
                    "set_boot(OTA_FINISH) after the port was given bytes that are not the file's "
                    "(from offset %llu)", (unsigned long long)h.dirty_from);
                return;
            }
            if (h.covered < in->file_len) {
                put(r, "finish-after-whole-file", V_FAIL,
                    "set_boot(OTA_FINISH) when the port held only the first %llu of the file's %zu "
                    "bytes", (unsigned long long)h.covered, in->file_len);
                return;
            }
        }
    }
    if (!finishes)
        put(r, "finish-after-whole-file", V_SKIP, "no set_boot(OTA_FINISH)");
    else
        put(r, "finish-after-whole-file", V_PASS,
            "set_boot(OTA_FINISH) only with the whole file written and nothing else");
}

static void check_record_crc(const struct check_in *in, struct check_res *r)
{
    CRC16_Context c;
    uint16_t want;
    CRC16_Init(&c);
    CRC16_Update(&c, in->file, in->file_len);
    CRC16_Final(&c, &want);
    int seen = 0;
    for (int i = 0; i < in->l->n; i++) {
        const cJSON *e = in->l->ev[i];
        if (is_ev(e, "boot.record_rejected")) {
            put(r, "record-crc", V_FAIL, "the bootloader rejected the boot record (event %d): %s",
                (int)ev_num(e, "seq", 0), ev_str(e, "reason") ? ev_str(e, "reason") : "?");
            return;
        }
        if (!is_ev(e, "boot.copy.start") && !is_ev(e, "boot.copy"))
            continue;
        seen++;
        uint32_t len = (uint32_t)ev_num(e, "len", 0);
        const char *cs = ev_str(e, "crc");
        uint32_t crc = cs ? (uint32_t)strtoul(cs, NULL, 16) : 0x10000u;
        if (len != in->file_len || crc != want) {
            put(r, "record-crc", V_FAIL,
                "the boot record says %u bytes with CRC16 %s; the file has %zu bytes with CRC16 "
                "0x%04X (a CRC16 not continued across a resume?)", len, cs ? cs : "?",
                in->file_len, want);
            return;
        }
    }
    if (!seen)
        put(r, "record-crc", V_SKIP, "no bootloader copy");
    else
        put(r, "record-crc", V_PASS, "the boot record's CRC16 0x%04X is the file's", want);
}

static void check_single(const struct check_in *in, struct check_res *r)
{
    int active = 0, inits = 0;
    for (int i = 0; i < in->l->n; i++) {
        const cJSON *e = in->l->ev[i];
        if (is_ev(e, "boot.start"))
            active = 0;
        else if (is_ev(e, "agent.download.end"))
            active = 0;
        else if (is_ev(e, "port.init")) {
            inits++;
            if (active) {
                put(r, "single-download", V_FAIL,
                    "hal_ota_init ran again (event %d) while a download was running: a second "
                    "download started", (int)ev_num(e, "seq", 0));
                return;
            }
            active = 1;
        }
    }
    if (!inits)
        put(r, "single-download", V_SKIP, "no download started");
    else
        put(r, "single-download", V_PASS, "%d download(s), one at a time", inits);
}

static void check_step(const struct check_in *in, struct check_res *r)
{
    int neg = 0, bad = 0;
    const char *bad_desc = NULL;
    for (int i = 0; i < in->l->n; i++) {
        const cJSON *e = in->l->ev[i];
        int step = (int)ev_num(e, "step", 0);
        if (!is_ev(e, "device.progress") || step >= 0)
            continue;
        neg++;
        if (!bad && step != in->fail_step) {
            bad = step;
            bad_desc = ev_str(e, "desc");
        }
    }
    const char *prof = in->b->profile;
    if (in->fail_step == CHECK_STEP_ANY)
        put(r, "fail-step", V_SKIP, "the scenario names no step for profile %s", prof);
    else if (in->fail_step == CHECK_STEP_NONE && bad)
        put(r, "fail-step", V_FAIL, "the device reported step %d (%s); profile %s reports nothing",
            bad, bad_desc ? bad_desc : "", prof);
    else if (in->fail_step == CHECK_STEP_NONE)
        put(r, "fail-step", V_PASS, "no negative step reported, as profile %s does", prof);
    else if (bad)
        put(r, "fail-step", V_FAIL, "the device reported step %d (%s); profile %s reports step %d",
            bad, bad_desc ? bad_desc : "", prof, in->fail_step);
    else if (!neg)
        put(r, "fail-step", V_FAIL, "no negative step reported; profile %s reports step %d", prof,
            in->fail_step);
    else
        put(r, "fail-step", V_PASS, "step %d reported, as profile %s does", in->fail_step, prof);
}

/* The image the bootloader runs next, from the final flash. 0 and the slot
 * id, or -1 with r set. */
static int final_slot(const struct check_in *in, struct flashfile *ff, int *slot,
                      struct check_res *r, const char *id)
{
    char err[512];
    if (open_flash(ff, in->flash, in->b, err, sizeof(err)) != 0) {
        put(r, id, V_ERROR, "%s", err);
        return -1;
    }
    *slot = active_slot(&ff->fs, in->b);
    return 0;
}

static void check_keeps(const struct check_in *in, struct check_res *r)
{
    const char *last = NULL;
    for (int i = 0; i < in->l->n; i++) {
        const cJSON *e = in->l->ev[i];
        if (is_finish(e)) {
            put(r, "keeps-image", V_FAIL, "set_boot(OTA_FINISH) was called in an update that must "
                "fail (event %d)", (int)ev_num(e, "seq", 0));
            return;
        }
        if (is_ev(e, "boot.switch") || is_ev(e, "boot.copy")) {
            put(r, "keeps-image", V_FAIL, "the bootloader %s in an update that must fail (event %d)",
                is_ev(e, "boot.copy") ? "copied a new image" : "switched slots",
                (int)ev_num(e, "seq", 0));
            return;
        }
        if (is_ev(e, "device.inform"))
            last = ev_str(e, "version");
    }
    struct flashfile ff;
    struct image_info info;
    int slot;
    if (final_slot(in, &ff, &slot, r, "keeps-image") != 0)
        return;
    int rc = slot_image(&ff.fs, slot, &info);
    flashfile_close(&ff);
    if (rc != IMAGE_OK)
        put(r, "keeps-image", V_FAIL, "%s holds no valid image (%s)", board_part_name(slot),
            image_strerror(rc));
    else if (strcmp(info.version, in->base) != 0)
        put(r, "keeps-image", V_FAIL, "%s holds %s, not the old %s", board_part_name(slot),
            info.version, in->base);
    else if (last && strcmp(last, in->base) != 0)
        put(r, "keeps-image", V_FAIL, "the last version reported is %s, not the old %s", last,
            in->base);
    else
        put(r, "keeps-image", V_PASS, "no FINISH, %s still boots%s", in->base,
            last ? " and is the version reported" : "");
}

static void check_exact(const struct check_in *in, struct check_res *r)
{
    struct flashfile ff;
    int slot;
    if (final_slot(in, &ff, &slot, r, "image-exact") != 0)
        return;
    const struct flashsim_part *p = flashsim_part(&ff.fs, slot);
    uint8_t *buf = malloc(in->file_len ? in->file_len : 1);
    if (!p || !buf || p->length < in->file_len ||
        flashsim_read(&ff.fs, slot, 0, buf, (uint32_t)in->file_len) != 0) {
        put(r, "image-exact", V_FAIL, "%s cannot hold the file's %zu bytes", board_part_name(slot),
            in->file_len);
    } else {
        size_t at = 0;
        while (at < in->file_len && buf[at] == in->file[at])
            at++;
        if (at < in->file_len)
            put(r, "image-exact", V_FAIL, "%s differs from the file at byte %zu of %zu",
                board_part_name(slot), at, in->file_len);
        else
            put(r, "image-exact", V_PASS, "%s holds the file byte for byte (%zu bytes)",
                board_part_name(slot), in->file_len);
    }
    free(buf);
    flashfile_close(&ff);
}

/* The version each boot's image carries, from the bootloader's boot.image
 * (a boot.start begins a boot, with none known until the bootloader says),
 * against every inform the cloud heard during that boot. */
static void check_version(const struct check_in *in, struct check_res *r)
{
    const char *running = NULL;
    int boots = 0, informs = 0;
    for (int i = 0; i < in->l->n; i++) {
        const cJSON *e = in->l->ev[i];
        if (is_ev(e, "boot.start")) {
            running = NULL;
            boots++;
        } else if (is_ev(e, "boot.image")) {
            running = ev_str(e, "version");
        } else if (is_ev(e, "device.inform") && running) {
            const char *v = ev_str(e, "version");
            informs++;
            if (!v || strcmp(v, running) != 0) {
                put(r, "version-reported", V_FAIL,
                    "boot %d runs %s, but the cloud heard the device inform %s (event %d): the "
                    "version reported must be the running image's", boots, running,
                    v ? v : "no version", (int)ev_num(e, "seq", 0));
                return;
            }
        }
    }
    if (!informs)
        put(r, "version-reported", V_SKIP, "the cloud heard no inform");
    else
        put(r, "version-reported", V_PASS, "%d inform(s) over %d boot(s), each the running "
            "image's version", informs, boots);
}

/* A download is long enough to need a progress report when the port was busy
 * with it this long after hal_ota_init returned, and was given at least a
 * tenth of the file (G1 reports at every tenth, spec §1.6). */
#define PROGRESS_WINDOW_US 1000000.0

static double t_us(const cJSON *e)
{
    return ev_num(e, "t_us", 0);
}

static void check_progress(const struct check_in *in, struct check_res *r)
{
    int downloads = 0, long_ones = 0;
    for (int i = 0; i < in->l->n; i++) {
        if (!is_ev(in->l->ev[i], "port.init"))
            continue;
        downloads++;
        /* This download: from hal_ota_init's return to the last port event
         * before the next hal_ota_init or boot; the cloud's reports until the
         * boot ends. */
        double start = -1, end = -1;
        uint64_t given = 0;
        int j;
        for (j = i + 1; j < in->l->n; j++) {
            const cJSON *e = in->l->ev[j];
            const char *src = ev_str(e, "src");
            if (is_ev(e, "port.init") || is_ev(e, "boot.start"))
                break;
            if (is_ev(e, "port.init.ret") && start < 0)
                start = t_us(e);
            if (src && !strcmp(src, "port"))
                end = t_us(e);
            if (is_ev(e, "port.written"))
                given += (uint64_t)ev_num(e, "bytes", 0);
        }
        int boot_at = j;
        while (boot_at < in->l->n && !is_ev(in->l->ev[boot_at], "boot.start"))
            boot_at++;
        if (start < 0 || end - start < PROGRESS_WINDOW_US || given * 10 < in->file_len)
            continue;
        long_ones++;
        int heard = 0;
        for (int k = i + 1; k < boot_at && !heard; k++) {
            const cJSON *e = in->l->ev[k];
            int step = (int)ev_num(e, "step", -1);
            heard = is_ev(e, "device.progress") && step > 0 && step < 100;
        }
        if (!heard) {
            put(r, "progress-reported", V_FAIL,
                "a %.1f s download gave the port %llu of the file's %zu bytes, and the cloud "
                "heard no progress between 0 and 100 during it (a G1 device reports every 10%%)",
                (end - start) / 1e6, (unsigned long long)given, in->file_len);
            return;
        }
    }
    if (!downloads)
        put(r, "progress-reported", V_SKIP, "no download started");
    else if (!long_ones)
        put(r, "progress-reported", V_SKIP, "no download lasted %.0f s with a tenth of the file "
            "written: too short to require a report before the reboot", PROGRESS_WINDOW_US / 1e6);
    else
        put(r, "progress-reported", V_PASS, "the cloud heard progress during each of %d "
            "download(s) of %.0f s or more", long_ones, PROGRESS_WINDOW_US / 1e6);
}

/* Pingpong boards: the trial boot of a new slot (REVV) must be confirmed by
 * the running image once it is healthy, or the bootloader rolls a good
 * update back after boot_attempts resets. Judged on the final flash. */
static void check_confirmed(const struct check_in *in, struct check_res *r)
{
    if (strcmp(in->b->bootloader, "pingpong") != 0) {
        put(r, "boot-confirmed", V_SKIP, "%s bootloader: no trial boot to confirm",
            in->b->bootloader);
        return;
    }
    int switched = 0;
    for (int i = 0; i < in->l->n; i++)
        switched += is_ev(in->l->ev[i], "boot.switch");
    if (!switched) {
        put(r, "boot-confirmed", V_SKIP, "no slot switch, so no trial boot");
        return;
    }
    struct flashfile ff;
    char err[512];
    ota_boot_param_t rec;
    int last;
    if (open_flash(&ff, in->flash, in->b, err, sizeof(err)) != 0) {
        put(r, "boot-confirmed", V_ERROR, "%s", err);
        return;
    }
    int found = boot_record_newest(&ff.fs, &rec, &last);
    flashfile_close(&ff);
    if (found && rec.upg_flag == REC_RECOVERY_VERIFY_FLAG)
        put(r, "boot-confirmed", V_FAIL,
            "the run ended with the new slot still on trial (REVV, boot %u of %lu): the image "
            "booted and reported but never confirmed itself through ota_rollback, so the "
            "bootloader rolls it back after %lu resets", rec.boot_count,
            (unsigned long)in->b->boot_attempts, (unsigned long)in->b->boot_attempts);
    else
        put(r, "boot-confirmed", V_PASS, "%d slot switch(es); the boot record is %s, no trial "
            "left unconfirmed", switched, found ? boot_flag_name(rec.upg_flag) : "blank");
}

int checks_run(const struct check_in *in, struct check_res *out)
{
    int n = 0;
    check_writes(in, &out[n++]);
    check_resume(in, &out[n++]);
    check_finish(in, &out[n++]);
    check_record_crc(in, &out[n++]);
    check_single(in, &out[n++]);
    check_step(in, &out[n++]);
    check_version(in, &out[n++]);
    check_progress(in, &out[n++]);
    check_confirmed(in, &out[n++]);
    if (in->expect_update > 0)
        check_exact(in, &out[n++]);
    else if (in->expect_update == 0)
        check_keeps(in, &out[n++]);
    for (int i = 0; i < n; i++) {
        char d[sizeof(out[i].detail) * 6];
        evlog_emit("run", "check", "\"id\":\"%s\",\"verdict\":\"%s\",\"detail\":\"%s\"", out[i].id,
                   verdict_name(out[i].verdict), otahil_json_escape(d, sizeof(d), out[i].detail));
    }
    return n;
}

const struct check_res *checks_first_bad(const struct check_res *res, int n)
{
    for (int i = 0; i < n; i++)
        if (res[i].verdict == V_FAIL)
            return &res[i];
    for (int i = 0; i < n; i++)
        if (res[i].verdict == V_ERROR)
            return &res[i];
    return NULL;
}

/* One step value: -1..-99 or "none". 0 or -1. */
static int parse_step(const char *s, int *step)
{
    char *end;
    if (!strcmp(s, "none")) {
        *step = CHECK_STEP_NONE;
        return 0;
    }
    long v = strtol(s, &end, 10);
    if (end == s || *end || v > -1 || v < -99)
        return -1;
    *step = (int)v;
    return 0;
}

int check_parse_fail_step(const char *value, const char *profile, int *step, char *err, size_t n)
{
    char buf[256], *save = NULL;
    int found = CHECK_STEP_ANY, v;
    if (!strchr(value, ':')) {
        if (parse_step(value, step) == 0)
            return 0;
        snprintf(err, n, "'%s': a step is -1..-99 or none, alone ('-2') or per profile "
                 "('g1:-4,g2:-11')", value);
        return -1;
    }
    if (strlen(value) >= sizeof(buf)) {
        snprintf(err, n, "longer than %zu characters", sizeof(buf) - 1);
        return -1;
    }
    snprintf(buf, sizeof(buf), "%s", value);
    for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        char *colon = strchr(t, ':');
        if (!colon || colon == t || colon - t > 15) {
            snprintf(err, n, "'%s': write PROFILE:STEP, as 'g1:-4'", t);
            return -1;
        }
        *colon = '\0';
        if (parse_step(colon + 1, &v) != 0) {
            snprintf(err, n, "'%s': a step is -1..-99 or none", colon + 1);
            return -1;
        }
        if (profile && !strcmp(t, profile))
            found = v;
    }
    *step = found;
    return 0;
}
