/*
 * sweep.c - the port-level power-cut sweep (see sweep.h, docs/sweep.md).
 *
 * One worker holds: the firmware object, the board, the pre-update flash
 * image (v1 in APPLICATION, sentinels in KV and in every partition the
 * update has no business touching), the new image, and an in-memory cloud:
 * an MQTT peer that pushes the new image whenever the device informs another
 * version (as the real cloud does after a failed attempt) and an HTTP peer
 * that serves the image with Range. A point runs boots until the device is
 * idle on the target version, is bricked, or the boot budget ends, and the
 * checker watches every flash op, every GET and every report on the way.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "conformance/common.h"
#include "conformance/fwhost.h"
#include "conformance/sweep.h"
#include "conformance/sweep_int.h"
#include "mock_cloud/fwhead.h"
#include "hal/soc/flash.h"
#include "sim/board/board.h"
#include "sim/crypto/md5.h"
#include "sim/flash/flashsim.h"
#include "sim/kv/kv.h"

#define SOCK_FD 7

static const char *const inv_names[INV_COUNT] = {
    "none", "bricked", "no-completion", "image-mismatch", "flash-violation",
    "outside-partition", "sentinel-lost", "resume-corrupt", "resume-lost", "verify-failed",
    "record-rejected", "clean-run",
};

const char *sweep_inv_name(int inv)
{
    return inv >= 0 && inv < INV_COUNT ? inv_names[inv] : "unknown";
}

int sweep_inv_parse(const char *name)
{
    for (int i = 1; i < INV_COUNT; i++)
        if (!strcmp(name, inv_names[i]))
            return i;
    return -1;
}

void sweep_defaults(struct sweep_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->board = "native";
    o->port = "reference";
    o->mode = FLASHSIM_F_CUT_BEFORE;
    o->stride = 1;
    o->first = 1;
    o->jobs = 1;
    o->seed = 1;
    o->image_size = 256 * 1024;
    o->max_boots = 12;
}

void sw_failf(struct mh *m, int inv, const char *fmt, ...)
{
    if (m->inv)
        return; /* the first failure stands */
    m->inv = inv;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->why, sizeof(m->why), fmt, ap);
    va_end(ap);
}

static int dl_part(const struct mh *m)
{
    if (!m->cfg.pingpong)
        return HAL_PARTITION_OTA_TEMP;
    return m->boot_slot == HAL_PARTITION_OTA_TEMP ? HAL_PARTITION_APPLICATION : HAL_PARTITION_OTA_TEMP;
}

static const struct board_part *bpart(const struct mh *m, int id)
{
    return board_part(&m->b, id);
}

static uint8_t *part_mem(const struct mh *m, int id)
{
    const struct board_part *p = bpart(m, id);
    return p ? m->mem + (p->start - m->b.flash_base) : NULL;
}

/* ---- host services for the firmware ------------------------------------ */

static void h_event(void *ctx, const char *src, const char *ev, const char *fields)
{
    struct mh *m = ctx;
    if (!strcmp(ev, "boot.image"))
        m->boot_slot = strstr(fields, "\"slot\":\"OTA_TEMP\"") ? HAL_PARTITION_OTA_TEMP
                                                               : HAL_PARTITION_APPLICATION;
    else if (!strcmp(ev, "agent.download.end"))
        m->dl_active = 0;
    else if (!strcmp(ev, "boot.record_rejected"))
        sw_failf(m, m->cut_fired ? INV_REJECTED : INV_CLEAN, "bootloader refused the new image: %s",
              fields);
    else if (!strcmp(ev, "boot.start"))
        m->boot_no++;
    if (m->ev)
        fprintf(m->ev, "{\"seq\":%llu,\"boot\":%u,\"src\":\"%s\",\"ev\":\"%s\"%s%s}\n",
                (unsigned long long)++m->evseq, m->boot_no, src, ev, *fields ? "," : "", fields);
}

static int in_allowed(const struct mh *m, uint32_t a, uint32_t len)
{
    for (int i = 0; i < m->nallow; i++)
        if (a >= m->allow_lo[i] && (uint64_t)a + len <= m->allow_hi[i])
            return 1;
    return 0;
}

static void reap_one(struct mh *m)
{
    int st;
    if (waitpid(-1, &st, 0) > 0) {
        m->active--;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            m->fork_failed = 1;
    }
}

/* The flash changed at chip range [addr, addr + len): what was known about
 * those bytes is not any more. */
static void flash_changed(struct mh *m, const struct flashsim_op *op)
{
    for (int i = 0; i < 2; i++) {
        uint32_t lo = m->ik[i].mem ? (uint32_t)(m->ik[i].mem - m->mem) : 0;
        if (m->ik[i].mem && op->addr < lo + m->ik[i].len && lo < op->addr + op->len)
            m->ik[i].mem = NULL;
    }
    const struct board_part *p = bpart(m, m->gp_part);
    if (p && m->gp_len) {
        uint32_t lo = p->start - m->b.flash_base;
        if (op->addr < lo + m->gp_len && lo < op->addr + op->len)
            m->gp_len = op->addr > lo ? op->addr - lo : 0;
    }
    if (m->fk_ok)
        flashkey_touch(&m->fk, op->addr, op->len);
}

/* ---- cut points ------------------------------------------------------------
 *
 * The second clean run takes each cut point at its op, in one of two ways
 * (docs/sweep.md, "How it is fast"). In process: a snapshot of everything
 * the point may change (snap.h), the point itself (this op with the fault,
 * then the recovery), and back to the snapshot to go on with the clean run.
 * Forked: a child takes the op with the fault and recovers while the clean
 * run goes on in the parent; the fallback where the harness cannot
 * snapshot (sanitizer builds, a snapshot refused) and under --fork.
 */

#define POINT_CHUNK 16 /* points a worker claims at once: neighbours share recoveries */

/* 1 when this worker runs point slot: its chunk is unclaimed or its own. */
static int point_mine(struct mh *m, uint32_t slot)
{
    if (!m->owner)
        return 1;
    uint32_t me = (uint32_t)m->worker + 1, was = 0;
    return __atomic_compare_exchange_n(&m->owner[slot / POINT_CHUNK], &was, me, 0,
                                       __ATOMIC_RELAXED, __ATOMIC_RELAXED) ||
           was == me;
}

/* The fault mode for this op in a child running point slot; 0 in the
 * process that goes on with the clean run. With wait, the child is waited
 * for at once (the fallback for one point of an in-process sweep). */
static int point_fork(struct mh *m, uint32_t slot, int wait)
{
    while (!wait && m->active >= m->jobs)
        reap_one(m);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        m->fork_failed = 1;
        return 0;
    }
    if (pid == 0) {
        m->is_child = 1;
        m->recording = 0;
        m->child_slot = slot;
        return m->o->mode;
    }
    if (wait) {
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            m->fork_failed = 1;
        return 0;
    }
    m->active++;
    return 0;
}

/* The fault mode for this op while point slot runs in process; 0 once the
 * point is over and the clean run goes on from the snapshot. */
static int point_in_process(struct mh *m, uint32_t slot, const struct flashsim_op *op)
{
    if (!point_mine(m, slot))
        return 0;
    int r = snap_take(m->snap);
    if (r > 0)
        return 0; /* back from the point */
    if (r < 0)
        return point_fork(m, slot, 1);
    m->in_snap = 1;
    m->is_child = 1;
    m->recording = 0;
    m->child_slot = slot;
    snap_flash_write(m->snap, op->addr, op->len);
    return m->o->mode;
}

static void flash_restored(void *ctx, uint32_t off, uint32_t len)
{
    struct mh *m = ctx;
    if (m->fk_ok)
        flashkey_touch(&m->fk, off, len);
}

/* A point's result is in m->res: back to the clean run, or the child ends. */
static void point_end(struct mh *m) __attribute__((noreturn));
static void point_end(struct mh *m)
{
    if (m->in_snap)
        snap_back(m->snap, flash_restored, m);
    _exit(0);
}

static int h_flash_op(void *ctx, const struct flashsim_op *op, int before)
{
    struct mh *m = ctx;
    if (!op->seq)
        return 0;
    if (before && m->in_snap)
        snap_flash_write(m->snap, op->addr, op->len);
    if (!before) {
        flash_changed(m, op);
        /* A broken rule is reported as itself, before its consequences. */
        if (op->violation != FLASHSIM_V_NONE)
            sw_failf(m, INV_VIOLATION, "%s: %s %s+0x%x len %u (op %llu)",
                  flashsim_violation_name(op->violation), flashsim_opkind_name(op->kind),
                  board_part_name(op->part), op->off, op->len,
                  (unsigned long long)(op->seq - m->base_seq));
        return 0;
    }
    if (m->recording) {
        if (m->nops == m->capops) {
            m->capops = m->capops ? m->capops * 2 : 4096;
            m->opv = realloc(m->opv, m->capops * sizeof(*m->opv));
            if (!m->opv)
                abort();
        }
        struct opinfo *oi = &m->opv[m->nops++];
        oi->kind = op->kind;
        oi->phase = op->phase;
        oi->part = op->part;
        oi->off = op->off;
        oi->len = op->len;
    }
    if (!in_allowed(m, op->addr, op->len))
        sw_failf(m, INV_OUTSIDE, "%s %s+0x%x len %u (chip 0x%x) is outside the partitions an update may write",
              flashsim_opkind_name(op->kind), board_part_name(op->part), op->off, op->len, op->addr);
    uint64_t k = op->seq - m->base_seq;
    if (!m->forking || m->is_child || k > m->nops || !m->point_of[k])
        return 0;
    if (m->snap)
        return point_in_process(m, m->point_of[k] - 1, op);
    return point_fork(m, m->point_of[k] - 1, 0);
}

/* Longest prefix of the download slot equal to the new image. */
static uint32_t good_prefix(struct mh *m, uint32_t limit)
{
    int part = dl_part(m);
    const uint8_t *p = part_mem(m, part);
    if (!p)
        return 0;
    if (limit > m->v2len)
        limit = m->v2len;
    /* Bytes known equal since the last look are not compared again. */
    uint32_t n = m->gp_part == part ? m->gp_len : 0;
    if (n >= limit)
        return limit;
    while (n + 4096 <= limit && !memcmp(p + n, m->v2 + n, 4096))
        n += 4096;
    while (n < limit && p[n] == m->v2[n])
        n++;
    m->gp_part = part;
    m->gp_len = n;
    return n;
}

static void h_power_cut(void *ctx, const struct flashsim_op *op) __attribute__((noreturn));
static void h_power_cut(void *ctx, const struct flashsim_op *op)
{
    struct mh *m = ctx;
    /* A torn or partial op changed the flash without an "after" call. */
    flash_changed(m, op);
    m->cut_fired = 1;
    m->cut_op = *op;
    m->cut_in_dl = m->dl_active;
    if (m->dl_active) {
        /* Bytes the port wrote: a tail that merely matches because the
         * image holds the erased value there was not written. */
        const uint8_t *p = part_mem(m, dl_part(m));
        uint32_t d = good_prefix(m, m->body_from + m->body_pos);
        while (d > 0 && p[d - 1] == m->b.geom.erase_value)
            d--;
        m->durable = d;
    }
    if (m->ev)
        fprintf(m->ev, "{\"seq\":%llu,\"boot\":%u,\"src\":\"harness\",\"ev\":\"device.power_cut\",\"op\":%llu,\"fault\":\"%s\",\"phase\":\"%s\"}\n",
                (unsigned long long)++m->evseq, m->boot_no,
                (unsigned long long)(op->seq - m->base_seq), flashsim_fault_name(op->fault),
                flashsim_phase_name(op->phase));
    fwhost_leave(&m->fw, FWHOST_CUT);
}

static void h_reboot(void *ctx, const char *reason) __attribute__((noreturn));
static void h_reboot(void *ctx, const char *reason)
{
    struct mh *m = ctx;
    (void)reason;
    fwhost_leave(&m->fw, FWHOST_REBOOT);
}

static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void h_idle(void *ctx)
{
    struct mh *m = ctx;
    for (;;) {
        if (m->inv)
            return;
        if (m->connected_pending) {
            m->connected_pending = 0;
            m->on_connected();
            continue;
        }
        if (m->push_queued && m->sub_cb) {
            m->push_queued = 0;
            m->await_push = 0;
            m->pushes++;
            char payload[sizeof(m->push)];
            memcpy(payload, m->push, (size_t)m->pushlen);
            m->sub_cb(m->topic_upgrade, (int)strlen(m->topic_upgrade), payload, m->pushlen,
                      m->sub_ctx);
            continue;
        }
        return;
    }
}

static int h_mqtt_init(void *ctx, const char *pk, const char *dn, const char *ds,
                       void (*on_connected)(void))
{
    struct mh *m = ctx;
    (void)pk; (void)dn; (void)ds;
    m->on_connected = on_connected;
    m->connected_pending = 1;
    return 0;
}

/* The cloud's rule, in both hosts: a device that informs another version
 * than the target is pushed again, up to MAX_PUSHES pushes per point. */
static void on_inform(struct mh *m, const char *version)
{
    if (!strcmp(version, V2)) {
        m->succeeded = 1;
        m->await_push = 0;
        return;
    }
    m->succeeded = 0;
    if (m->pushes < MAX_PUSHES) {
        m->push_queued = 1;
        m->await_push = 1;
    }
}

void sw_observe_publish(struct mh *m, const char *topic, const void *data, int len)
{
    cJSON *j = cJSON_ParseWithLength(data, (size_t)len);
    cJSON *params = j ? cJSON_GetObjectItemCaseSensitive(j, "params") : NULL;
    if (strstr(topic, "/ota/device/inform/")) {
        cJSON *v = cJSON_GetObjectItemCaseSensitive(params, "version");
        if (cJSON_IsString(v))
            on_inform(m, v->valuestring);
    } else if (strstr(topic, "/ota/device/progress/")) {
        cJSON *s = cJSON_GetObjectItemCaseSensitive(params, "step");
        cJSON *d = cJSON_GetObjectItemCaseSensitive(params, "desc");
        int step = cJSON_IsString(s) ? atoi(s->valuestring) : cJSON_IsNumber(s) ? s->valueint : 0;
        if (step < 0)
            sw_failf(m, m->cut_fired ? INV_VERIFY : INV_CLEAN, "the device reported step %d (%s)",
                     step, cJSON_IsString(d) ? d->valuestring : "");
    }
    cJSON_Delete(j);
}

static int h_mqtt_publish(void *ctx, const char *topic, int qos, const void *data, int len)
{
    (void)qos;
    sw_observe_publish(ctx, topic, data, len);
    return 0;
}

static int h_mqtt_subscribe(void *ctx, const char *topic, otahil_fw_msg_cb cb, void *cb_ctx)
{
    struct mh *m = ctx;
    if (strcmp(topic, m->topic_upgrade) != 0)
        return -1;
    m->sub_cb = cb;
    m->sub_ctx = cb_ctx;
    return 0;
}

static int h_mqtt_deinit(void *ctx)
{
    (void)ctx;
    return 0;
}

void sw_conn_reset(struct mh *m)
{
    m->reqlen = 0;
    m->requested = 0;
    m->rx_pos = 0;
    m->hdr_match = 0;
    m->in_body = 0;
    m->body_from = 0;
    m->body_pos = 0;
    m->responding = 0;
}

static int h_connect(void *ctx, const char *host, int port)
{
    struct mh *m = ctx;
    (void)host; (void)port;
    if (m->sock_open)
        return -1;
    m->sock_open = 1;
    sw_conn_reset(m);
    return SOCK_FD;
}

/* A GET: the resume rules hold on its Range. */
static void observe_get(struct mh *m, uint32_t from)
{
    if (m->cut_fired && m->cut_in_dl && !m->resumed) {
        m->resumed = 1;
        m->resume_n = from;
        const uint8_t *p = part_mem(m, dl_part(m));
        if (from > 0) {
            uint32_t good = good_prefix(m, from);
            if (good < from) {
                sw_failf(m, INV_RESUME_CORRUPT,
                         "resumed at byte %u, but the download slot differs from the image at byte %u (0x%02x, image 0x%02x)",
                         from, good, p[good], m->v2[good]);
                fwhost_leave(&m->fw, FWHOST_STOP);
            }
        }
        uint32_t cp = m->cfg.checkpoint;
        if (!m->o->no_resume && cp && (uint64_t)from + cp < m->durable) {
            sw_failf(m, INV_RESUME_LOST,
                     "resumed at byte %u although %u bytes were durable at the cut (checkpoint %u)",
                     from, m->durable, cp);
            fwhost_leave(&m->fw, FWHOST_STOP);
        }
    } else if (m->resumed && from < m->resume_n && !m->o->no_resume) {
        sw_failf(m, INV_RESUME_LOST, "fetched from byte %u again after resuming at %u", from,
                 m->resume_n);
        fwhost_leave(&m->fw, FWHOST_STOP);
    }
    for (int i = 0; i < m->nmk; i++)
        if (from < m->mk[i].min_from)
            m->mk[i].min_from = from;
    m->dl_active = 1;
    m->body_from = from;
    m->body_pos = 0;
}

int sw_observe_request(struct mh *m, const char *buf, size_t len)
{
    if (m->requested)
        return 1;
    if (m->reqlen + len >= sizeof(m->req))
        return -1;
    memcpy(m->req + m->reqlen, buf, len);
    m->reqlen += len;
    m->req[m->reqlen] = 0;
    if (!strstr(m->req, "\r\n\r\n"))
        return 0;
    m->requested = 1;
    uint32_t from = 0;
    const char *r = strcasestr(m->req, "\r\nRange: bytes=");
    if (r)
        from = (uint32_t)strtoul(r + 15, NULL, 10);
    observe_get(m, from);
    return 1;
}

size_t sw_read_size(const struct mh *m, size_t len)
{
    uint64_t s = m->o->seed ^ ((uint64_t)m->body_from << 32) ^ m->rx_pos ^ 0x5245414453ull;
    uint64_t h = mix(&s);
    if (len < 2 || (h & 3) != 0)
        return len; /* most reads find a whole buffer waiting */
    return 1 + (size_t)((h >> 8) % (len - 1));
}

void sw_rx_account(struct mh *m, const char *buf, size_t n)
{
    static const char end[] = "\r\n\r\n";
    size_t i = 0;
    m->rx_pos += (uint32_t)n;
    while (!m->in_body && i < n) {
        char c = buf[i++];
        m->hdr_match = c == end[m->hdr_match] ? m->hdr_match + 1 : c == '\r';
        if (m->hdr_match == 4)
            m->in_body = 1;
    }
    if (m->in_body)
        m->body_pos += (uint32_t)(n - i);
}

static int h_send(void *ctx, int fd, const char *buf, size_t len)
{
    struct mh *m = ctx;
    if (fd != SOCK_FD || !m->sock_open)
        return -1;
    int r = sw_observe_request(m, buf, len);
    if (r < 0)
        return -1;
    if (r == 1 && !m->responding) {
        uint32_t from = m->body_from;
        int st = 200;
        if (from >= m->v2len)
            st = 416;
        else if (from > 0)
            st = 206;
        int k = fw_response_head(m->hdr, sizeof(m->hdr), st, from, m->v2len - 1, m->v2len,
                                 m->v2md5);
        m->hdrlen = k > 0 ? (size_t)k : 0;
        if (st == 416)
            m->body_from = m->v2len;
        m->responding = 1;
    }
    return (int)len;
}

/* The response is one stream, header block then body, read in seeded sizes. */
static int h_recv(void *ctx, int fd, char *buf, size_t len)
{
    struct mh *m = ctx;
    if (fd != SOCK_FD || !m->sock_open || !m->responding)
        return -1;
    size_t want = sw_read_size(m, len), n = 0;
    uint64_t total = m->hdrlen + (uint64_t)(m->v2len - m->body_from);
    while (n < want && m->rx_pos + n < total) {
        uint64_t at = m->rx_pos + n;
        if (at < m->hdrlen) {
            size_t k = m->hdrlen - (size_t)at < want - n ? m->hdrlen - (size_t)at : want - n;
            memcpy(buf + n, m->hdr + at, k);
            n += k;
        } else {
            uint64_t b = at - m->hdrlen, left = total - at;
            size_t k = left < want - n ? (size_t)left : want - n;
            memcpy(buf + n, m->v2 + m->body_from + b, k);
            n += k;
        }
    }
    sw_rx_account(m, buf, n);
    return (int)n;
}

static void h_close(void *ctx, int fd)
{
    struct mh *m = ctx;
    (void)fd;
    m->sock_open = 0;
    m->responding = 0;
}

static int h_thread(void *ctx, void *(*fn)(void *), void *arg, size_t stack)
{
    (void)ctx; (void)stack;
    fn(arg);
    return 0;
}

static void h_msleep(void *ctx, uint32_t ms)
{
    struct mh *m = ctx;
    m->uptime += ms;
}

static uint32_t h_uptime(void *ctx)
{
    return ((struct mh *)ctx)->uptime;
}

static int h_image_known(void *ctx, const uint8_t *mem, uint32_t len, struct image_info *info)
{
    struct mh *m = ctx;
    /* The answer stands while no flash op has touched the slot since. */
    for (int i = 0; i < 2; i++)
        if (m->ik[i].mem == mem && m->ik[i].len == len) {
            if (m->ik[i].known)
                *info = m->ik[i].info;
            return m->ik[i].known;
        }
    int known = 0;
    if (len >= m->v2len && !memcmp(mem, m->v2, m->v2len)) {
        *info = m->v2info;
        known = 1;
    } else if (len >= m->v1len && !memcmp(mem, m->v1, m->v1len)) {
        *info = m->v1info;
        known = 1;
    }
    int slot = m->ik[0].mem == mem || !m->ik[0].mem ? 0 : 1;
    m->ik[slot].mem = mem;
    m->ik[slot].len = len;
    m->ik[slot].known = known;
    if (known)
        m->ik[slot].info = *info;
    return known;
}

/* ---- set-up -------------------------------------------------------------- */


static int overlaps(uint32_t a0, uint32_t a1, uint32_t b0, uint32_t b1)
{
    return a0 < b1 && b0 < a1;
}

static void h_sync(void *ctx);

static int mh_setup(struct mh *m, const struct sweep_opts *o, char *err, size_t n)
{
    memset(m, 0, sizeof(*m));
    m->o = o;
    if (board_open(&m->b, o->board, err, n) != 0)
        return -1;
    if (fwhost_load(&m->fw, o->port, err, n) != 0)
        return -1;
    const struct board *b = &m->b;
    const struct board_part *app = bpart(m, HAL_PARTITION_APPLICATION);
    const struct board_part *ota = bpart(m, HAL_PARTITION_OTA_TEMP);
    if (!app || !ota || !bpart(m, HAL_PARTITION_PARAMETER_1)) {
        snprintf(err, n, "board %s: a sweep needs APPLICATION, OTA_TEMP and PARAMETER_1", b->name);
        return -1;
    }

    /* Images: v1 in APPLICATION, v2 served. */
    struct image_spec s1 = { V1, NULL, o->image_size, (uint32_t)o->seed, 0 };
    struct image_spec s2 = { V2, NULL, o->image_size, (uint32_t)(o->seed * 31 + 7), 0 };
    size_t l1 = image_total_size(&s1), l2 = image_total_size(&s2);
    if (!l1 || l2 > ota->length || l2 > app->length) {
        snprintf(err, n, "--image-size %u: the image (%zu bytes) does not fit the slots of board %s",
                 o->image_size, l2, b->name);
        return -1;
    }
    uint8_t *v1 = m->v1 = malloc(l1);
    m->v1len = (uint32_t)l1;
    m->v2 = malloc(l2);
    m->v2len = (uint32_t)l2;
    if (!v1 || !m->v2 || image_build(&s1, v1, l1) != IMAGE_OK || image_build(&s2, m->v2, l2) != IMAGE_OK ||
        image_parse(v1, l1, &m->v1info) != IMAGE_OK || image_parse(m->v2, l2, &m->v2info) != IMAGE_OK) {
        snprintf(err, n, "cannot build the sweep images");
        return -1;
    }
    struct md5_ctx mc;
    uint8_t d[16];
    char hex[33];
    md5_init(&mc);
    md5_update(&mc, m->v2, l2);
    md5_final(&mc, d);
    for (int i = 0; i < 16; i++)
        sprintf(hex + 2 * i, "%02x", d[i]);
    memcpy(m->v2md5, hex, sizeof(m->v2md5));
    snprintf(m->dn, sizeof(m->dn), "dev-0001");
    m->pushlen = snprintf(m->push, sizeof(m->push),
                          "{\"code\":\"1000\",\"data\":{\"size\":%u,\"version\":\"%s\",\"url\":"
                          "\"http://fw.otahil.local/fw/1/v2.bin\",\"md5\":\"%s\",\"sign\":\"%s\","
                          "\"signMethod\":\"Md5\"},\"id\":1,\"message\":\"success\"}",
                          m->v2len, V2, hex, hex) + 1; /* with the NUL, as the cloud sends */
    snprintf(m->topic_upgrade, sizeof(m->topic_upgrade), "/ota/device/upgrade/%s/%s", SWEEP_PK,
             m->dn);

    /* Pre-update flash. */
    m->state_len = flashsim_state_size(&b->geom);
    m->mem = malloc(b->geom.size);
    m->pre_mem = malloc(b->geom.size);
    m->state = aligned_alloc(64, (m->state_len + 63) / 64 * 64);
    m->pre_state = aligned_alloc(64, (m->state_len + 63) / 64 * 64);
    m->sent_data = malloc(b->geom.size);
    if (!m->mem || !m->pre_mem || !m->state || !m->pre_state || !m->sent_data) {
        snprintf(err, n, "out of memory");
        return -1;
    }
    memset(m->pre_mem, b->geom.erase_value, b->geom.size);
    memset(m->pre_state, 0, m->state_len);
    memcpy(m->pre_mem + (app->start - b->flash_base), v1, l1);

    /* Where an update may write: both slots, the boot records, the KV. */
    int allow[FLASHSIM_MAX_PARTS], na = 0;
    allow[na++] = HAL_PARTITION_APPLICATION;
    allow[na++] = HAL_PARTITION_OTA_TEMP;
    allow[na++] = HAL_PARTITION_PARAMETER_1;
    for (int i = 0; i < b->nkv; i++)
        allow[na++] = b->kv_parts[i];
    for (int i = 0; i < na; i++) {
        const struct board_part *p = bpart(m, allow[i]);
        m->allow_lo[m->nallow] = p->start - b->flash_base;
        m->allow_hi[m->nallow++] = p->start - b->flash_base + p->length;
    }
    /* Sentinels: every other writable partition that overlaps none of those. */
    uint64_t rs = o->seed ^ 0x53454E54ull;
    for (int i = 0; i < b->nparts; i++) {
        const struct board_part *p = &b->parts[i];
        uint32_t lo = p->start - b->flash_base, hi = lo + p->length;
        int skip = !(p->options & PAR_OPT_WRITE_EN);
        for (int k = 0; k < m->nallow && !skip; k++)
            skip = overlaps(lo, hi, m->allow_lo[k], m->allow_hi[k]);
        if (skip)
            continue;
        for (uint32_t a = lo; a < hi; a++)
            m->pre_mem[a] = (uint8_t)mix(&rs);
        m->sent[m->nsent].part = p->id;
        m->sent[m->nsent].start = lo;
        m->sent[m->nsent++].len = p->length;
    }
    memcpy(m->sent_data, m->pre_mem, b->geom.size);

    struct flashsim fs;
    if (flashsim_init(&fs, &b->geom, m->pre_mem, m->pre_state, 0) != 0 || board_apply(b, &fs) != 0) {
        snprintf(err, n, "board %s: cannot build the flash model", b->name);
        return -1;
    }
    static struct kv_store kv;
    if (kv_mount(&kv, &fs, b->kv_parts, b->nkv) != 0 ||
        kv_set(&kv, "wifi_ssid", "otahil-lab", 10) != 0 ||
        kv_set(&kv, "wifi_psk", "correct horse battery staple", 28) != 0) {
        snprintf(err, n, "board %s: cannot write the KV sentinels", b->name);
        return -1;
    }
    m->base_seq = fs.meta->op_seq;
    m->base_viol = fs.meta->violations;

    /* The firmware's view of the board. */
    struct otahil_fw_config *c = &m->cfg;
    c->abi = OTAHIL_FW_ABI;
    snprintf(c->board, sizeof(c->board), "%s", b->name);
    c->geom = b->geom;
    c->nparts = fs.nparts;
    memcpy(c->parts, fs.parts, sizeof(fs.parts));
    c->nkv = b->nkv;
    memcpy(c->kv_parts, b->kv_parts, sizeof(int) * (size_t)b->nkv);
    c->pingpong = !strcmp(b->bootloader, "pingpong");
    c->boot_attempts = b->boot_attempts;
    c->flash_base = b->flash_base;
    c->flash_mem = m->mem;
    c->flash_state = m->state;
    c->pk = SWEEP_PK;
    c->dn = m->dn;
    c->ds = SWEEP_DS;
    c->reboot_delay_ms = 3000;
    c->resume = !o->no_resume;
    c->checkpoint = b->checkpoint;

    struct otahil_fw_ops *ops = &m->ops;
    ops->ctx = m;
    ops->event = h_event;
    ops->flash_op = h_flash_op;
    ops->reboot = h_reboot;
    ops->power_cut = h_power_cut;
    ops->idle = h_idle;
    ops->mqtt_init = h_mqtt_init;
    ops->mqtt_publish = h_mqtt_publish;
    ops->mqtt_subscribe = h_mqtt_subscribe;
    ops->mqtt_deinit = h_mqtt_deinit;
    ops->socket_connect = h_connect;
    ops->socket_send = h_send;
    ops->socket_recv = h_recv;
    ops->socket_close = h_close;
    ops->thread_create = h_thread;
    ops->msleep = h_msleep;
    ops->uptime_ms = h_uptime;
    ops->image_known = h_image_known;
    ops->sync = h_sync;
    return 0;
}

static void mh_free(struct mh *m)
{
    fwhost_unload(&m->fw);
    free(m->v2);
    free(m->v1);
    free(m->mem);
    free(m->pre_mem);
    free(m->state);
    free(m->pre_state);
    free(m->sent_data);
    free(m->opv);
    free(m->point_of);
    m->point_of = NULL;
}

/* ---- one point ------------------------------------------------------------ */

/* The checker's KV mount writes when it finds the store wiped (it formats
 * it): in a point run in process, those writes are undone with the rest. */
static int check_hook(void *ctx, const struct flashsim_op *op, int before)
{
    struct mh *m = ctx;
    if (before && op->seq && m->in_snap)
        snap_flash_write(m->snap, op->addr, op->len);
    return 0;
}

static void final_checks(struct mh *m)
{
    struct flashsim_meta *meta = m->state;
    if (!m->inv && meta->violations > m->base_viol) {
        const struct flashsim_op *v = &meta->viol[(meta->viol_next + FLASHSIM_VIOL_KEEP - 1) % FLASHSIM_VIOL_KEEP];
        sw_failf(m, INV_VIOLATION, "%s: %s %s+0x%x len %u (op %llu)",
              flashsim_violation_name(v->violation), flashsim_opkind_name(v->kind),
              board_part_name(v->part), v->off, v->len,
              (unsigned long long)(v->seq - m->base_seq));
    }
    if (m->inv)
        return;
    const uint8_t *slot = part_mem(m, m->boot_slot);
    uint32_t good = 0;
    while (good < m->v2len && slot[good] == m->v2[good])
        good++;
    if (good < m->v2len) {
        sw_failf(m, INV_IMAGE, "%s differs from the new image at byte %u", board_part_name(m->boot_slot),
              good);
        return;
    }
    for (int i = 0; i < m->nsent; i++) {
        const struct sentinel *s = &m->sent[i];
        if (memcmp(m->mem + s->start, m->sent_data + s->start, s->len) != 0) {
            sw_failf(m, INV_SENTINEL, "%s changed during the update", board_part_name(s->part));
            return;
        }
    }
    struct flashsim fs;
    static struct kv_store kv;
    char v[64];
    int len = sizeof(v);
    int ok = flashsim_init(&fs, &m->b.geom, m->mem, m->state, 0) == 0 && board_apply(&m->b, &fs) == 0;
    fs.hook = check_hook;
    fs.hook_ctx = m;
    if (!ok || kv_mount(&kv, &fs, m->b.kv_parts, m->b.nkv) != 0 ||
        kv_get(&kv, "wifi_psk", v, &len) != 0 || len != 28 ||
        memcmp(v, "correct horse battery staple", 28) != 0)
        sw_failf(m, INV_SENTINEL, "KV entry wifi_psk (Wi-Fi credentials) was lost");
}

/* ---- memo of recoveries ------------------------------------------------------
 *
 * At a boot start the firmware's RAM is reset, so what follows depends only
 * on the flash (bytes and program-once marks) and on the cloud's state. Two
 * cut points that reach the same state at a boot run the same rest, boot
 * for boot. A point that passes records each boot start after its cut with
 * what the rest took (boots, and the lowest Range it asked for); a point
 * that reaches a recorded state passes without running it, when its own
 * budget and resume rule accept that rest. Failures are never taken from
 * the memo: a failing point always runs in full, so its message is its own.
 */

struct memo_val {
    uint32_t boots;           /* boots the rest took, this one included */
    uint32_t min_from;        /* lowest Range start it fetched (UINT32_MAX: none) */
};

/* The harness's side of the state: the cloud, the connection, the checker. */
static void host_key(const struct mh *m, uint64_t key[2])
{
    uint64_t h[16] = {
        m->pushes, (uint64_t)m->succeeded, (uint64_t)m->push_queued, (uint64_t)m->await_push,
        (uint64_t)m->connected_pending, (uint64_t)(uintptr_t)m->sub_cb, (uint64_t)m->sock_open,
        (uint64_t)m->requested << 32 | m->reqlen, m->rx_pos, (uint64_t)m->hdr_match,
        (uint64_t)m->in_body << 32 | m->body_from, m->body_pos,
        (uint64_t)m->responding << 32 | m->hdrlen, (uint64_t)m->dl_active,
        (uint64_t)(int64_t)m->boot_slot, (uint64_t)(uintptr_t)m->on_connected,
    };
    uint64_t a[2], b[2];
    flashkey_hash(h, sizeof(h), a);
    flashkey_hash(m->req, m->reqlen, b);
    key[0] ^= a[0] ^ (b[0] * 0x9E3779B97F4A7C15ull);
    key[1] ^= a[1] ^ (b[1] * 0xC2B2AE3D27D4EB4Full);
    if (!key[0] && !key[1])
        key[0] = 1;
}

static int memo_usable(const struct mh *m)
{
    /* Not before the first request after a cut: that one is checked
     * against this point's own cut. */
    return m->memo && m->is_child && m->cut_fired && !m->inv && !(m->cut_in_dl && !m->resumed);
}

/* 1 when the rest from this state is known to pass for this point;
 * otherwise remembers the state for memo_commit. */
static int memo_check(struct mh *m, const uint64_t key[2])
{
    struct memo_val v;
    if (memo_lookup(m->memo, key, &v) && m->cur_boot + v.boots <= m->o->max_boots &&
        (!m->resumed || m->o->no_resume || v.min_from >= m->resume_n))
        return 1;
    if (m->nmk < (int)(sizeof(m->mk) / sizeof(m->mk[0]))) {
        m->mk[m->nmk].key[0] = key[0];
        m->mk[m->nmk].key[1] = key[1];
        m->mk[m->nmk].boots = m->cur_boot;
        m->mk[m->nmk++].min_from = UINT32_MAX;
    }
    return 0;
}

/* At a boot start the firmware's RAM is reset: the flash and the harness's
 * state are all there is. */
static int memo_boot(struct mh *m)
{
    if (!memo_usable(m))
        return 0;
    uint64_t key[2];
    flashkey_get(&m->fk, key);
    host_key(m, key);
    return memo_check(m, key);
}

#ifdef __SANITIZE_ADDRESS__
/* Copies raw memory that a sanitizer may have poisoned (redzones between
 * the firmware's globals and in its stack frames): the bytes, unchecked. */
__attribute__((no_sanitize("address", "undefined"))) static void raw_bytes(unsigned char *d,
                                                                          const unsigned char *s,
                                                                          size_t n)
{
    for (size_t i = 0; i < n; i++)
        d[i] = s[i];
}
#endif

/* The 128-bit hash of raw memory. */
static void raw_hash(const unsigned char *p, size_t n, uint64_t out[2])
{
#ifdef __SANITIZE_ADDRESS__
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf)
        abort();
    raw_bytes(buf, p, n);
    flashkey_hash(buf, n, out);
    free(buf);
#else
    flashkey_hash(p, n, out);
#endif
}

static __attribute__((noinline)) void stack_hash(const struct mh *m, uint64_t out[2])
{
    volatile unsigned char here = 0;
    const unsigned char *lo = (const unsigned char *)&here;
    raw_hash(lo, (size_t)(m->fw.stack_base - lo), out);
}

/* Inside a boot, at a point the firmware reports (a breakpoint saved, the
 * copy's erase done): the state is also the firmware's RAM and its stack,
 * registers included. */
static __attribute__((noinline)) void h_sync(void *ctx)
{
    struct mh *m = ctx;
    uint64_t key[2], a[2];
    __builtin_unwind_init(); /* callee-saved registers onto the stack hashed below */
    if (!m->fk_ok)
        return;
    if (!m->is_child) {
        /* Points start from warm caches: the flash key, the verified prefix. */
        flashkey_get(&m->fk, key);
        if (m->dl_active)
            (void)good_prefix(m, m->body_from + m->body_pos);
        return;
    }
    if (!memo_usable(m))
        return;
    flashkey_get(&m->fk, key);
    for (int i = 0; i < m->fw.nseg; i++) {
        raw_hash(m->fw.seg[i].addr, m->fw.seg[i].len, a);
        key[0] ^= a[0] * (2 * (uint64_t)i + 3);
        key[1] ^= a[1] * (2 * (uint64_t)i + 5);
    }
    stack_hash(m, a);
    key[0] ^= a[0] * 0xFF51AFD7ED558CCDull;
    key[1] ^= a[1] * 0xC4CEB9FE1A85EC53ull;
    host_key(m, key);
    if (memo_check(m, key)) {
        struct pres *r = &m->res[m->child_slot];
        r->inv = 0;
        r->why[0] = 0;
        point_end(m);
    }
}

static void memo_commit(struct mh *m, uint32_t boots_total)
{
    if (!m->memo || !m->is_child || m->inv)
        return;
    for (int i = 0; i < m->nmk; i++) {
        struct memo_val v = { boots_total - m->mk[i].boots, m->mk[i].min_from };
        memo_insert(m->memo, m->mk[i].key, &v);
    }
}

/* Runs one point from the pre-update image. fault NULL: the clean run.
 * Never inlined: a snapshot copies its frame (clean_run_points). */
static __attribute__((noinline)) void run_point(struct mh *m, const struct flashsim_fault *fault)
{
    int pointish;
    memcpy(m->mem, m->pre_mem, m->b.geom.size);
    memcpy(m->state, m->pre_state, m->state_len);
    m->on_connected = NULL;
    m->connected_pending = 0;
    m->sub_cb = NULL;
    m->push_queued = 0;
    m->await_push = 0;
    m->pushes = 0;
    m->succeeded = 0;
    m->sock_open = 0;
    sw_conn_reset(m);
    m->boot_slot = HAL_PARTITION_APPLICATION;
    m->dl_active = 0;
    m->cut_fired = 0;
    m->cut_in_dl = 0;
    m->durable = 0;
    m->resumed = 0;
    m->inv = 0;
    m->why[0] = 0;
    m->boot_no = 0;
    m->nmk = 0;
    m->ik[0].mem = m->ik[1].mem = NULL;
    m->gp_len = 0;
    if (m->fk_ok)
        flashkey_reset_all_dirty(&m->fk);
    int done = 0, known = 0;
    uint32_t boots;
    pointish = fault != NULL;
    for (boots = 0; boots < m->o->max_boots && !m->inv; boots++) {
        m->cur_boot = boots;
        if (m->fk_ok && !m->is_child)
            flashkey_get(&m->fk, (uint64_t[2]){ 0, 0 }); /* points start from a warm cache */
        if (memo_boot(m)) {
            known = 1;
            break;
        }
        m->cfg.fault = fault && !m->cut_fired ? *fault : (struct flashsim_fault){ 0 };
        m->on_connected = NULL;
        m->connected_pending = 0;
        m->sub_cb = NULL;
        m->sock_open = 0;
        m->responding = 0;
        m->dl_active = 0;
        int end = fwhost_boot(&m->fw, &m->cfg, &m->ops);
        if (m->net)
            sw_net_boot_end(m);
        pointish = fault != NULL || m->is_child;
        if (end == FWHOST_STOP || m->inv)
            break;
        if (end == FWHOST_BRICKED) {
            sw_failf(m, pointish ? INV_BRICKED : INV_CLEAN, "device bricked");
            break;
        }
        if (end == FWHOST_HARNESS) {
            sw_failf(m, INV_CLEAN, "the firmware refused its configuration");
            break;
        }
        if (end == FWHOST_IDLE) {
            if (m->succeeded) {
                done = 1;
                break;
            }
            sw_failf(m, pointish ? INV_NO_COMPLETION : INV_CLEAN,
                  "the device stays on the old version after %u pushes", m->pushes);
            break;
        }
        /* reboot, crash or cut: boot again */
    }
    if (known) {
        m->inv = 0;
    } else {
        if (!done && !m->inv)
            sw_failf(m, pointish ? INV_NO_COMPLETION : INV_CLEAN,
                     "not updated after %u boots (boot loop or endless retries)", boots);
        final_checks(m);
        if (done)
            memo_commit(m, boots + 1);
    }
    if (m->is_child) {
        struct pres *r = &m->res[m->child_slot];
        r->inv = (uint8_t)m->inv;
        snprintf(r->why, sizeof(r->why), "%s", m->why);
        point_end(m);
    }
    if (!pointish && m->inv)
        m->inv = INV_CLEAN;
}

/* ---- the sweep ------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fault_for(const struct mh *m, const struct sweep_opts *o, uint32_t k,
                      struct flashsim_fault *f)
{
    memset(f, 0, sizeof(*f));
    f->mode = (uint8_t)o->mode;
    f->part = FLASHSIM_ANY_PART;
    f->at_seq = m->base_seq + k;
    f->seed = o->seed;
}

static void describe(const struct mh *m, const struct sweep_opts *o, uint32_t k, char *out, size_t n)
{
    const struct opinfo *oi = &m->opv[k - 1];
    snprintf(out, n, "cut %u of %u: %s, phase=%s, op=%s %s+0x%x len %u", k, m->nops,
             flashsim_fault_name(o->mode), flashsim_phase_name(oi->phase),
             flashsim_opkind_name(oi->kind), board_part_name(oi->part), oi->off, oi->len);
}

static void replay_cmd(const struct sweep_opts *o, uint32_t k, char *out, size_t n)
{
    char extra[64] = "";
    snprintf(extra, sizeof(extra), "%s%s", o->e2e ? " --e2e" : "", o->no_resume ? " --no-resume" : "");
    snprintf(out, n, "otahil sweep --board %s --port %s --mode %s --seed %llu --image-size %u%s --point %u",
             o->board, o->port, flashsim_fault_name(o->mode), (unsigned long long)o->seed,
             o->image_size, extra, k);
}

static void run_one(struct mh *m, const struct sweep_opts *o, uint32_t k, struct pres *r)
{
    struct flashsim_fault f;
    fault_for(m, o, k, &f);
    run_point(m, &f);
    r->inv = (uint8_t)m->inv;
    snprintf(r->why, sizeof(r->why), "%s", m->why);
}

static void fail_msg(const struct mh *m, const struct sweep_opts *o, uint32_t k, const struct pres *r,
                     char *out, size_t n)
{
    char d[200], cmd[300];
    describe(m, o, k, d, sizeof(d));
    replay_cmd(o, k, cmd, sizeof(cmd));
    snprintf(out, n, "FAIL at %s: %s [%s]\n  replay: %s", d, r->why, sweep_inv_name(r->inv), cmd);
}

static int write_flash(const struct mh *m, const char *path, char *err, size_t n)
{
    size_t total = m->b.geom.size + m->state_len;
    uint8_t *buf = malloc(total);
    if (!buf) {
        snprintf(err, n, "out of memory");
        return -1;
    }
    memcpy(buf, m->mem, m->b.geom.size);
    memcpy(buf + m->b.geom.size, m->state, m->state_len);
    int rc = write_file_atomic(path, buf, total, err, n);
    free(buf);
    return rc;
}

/* ---- the second clean run ------------------------------------------------- */

/* Registers what a point run in process may change: the harness's state
 * (but the flash key, which stays as the point leaves it and is told which
 * sectors come back), the flash model's state and the firmware's RAM; the
 * flash bytes go through the undo log. 0, or -1: fork instead. */
static int snap_setup(struct mh *m)
{
    struct snap *s = calloc(1, sizeof(*s));
    if (!s || snap_init(s, m->mem, m->b.geom.size, m->b.geom.sector_size) != 0) {
        free(s);
        return -1;
    }
    size_t fk = offsetof(struct mh, fk), after = fk + sizeof(m->fk);
    int rc = snap_region(s, m, fk) | snap_region(s, (char *)m + after, sizeof(*m) - after) |
             snap_region(s, m->state, m->state_len);
    for (int i = 0; i < m->fw.nseg; i++)
        rc |= snap_region(s, m->fw.seg[i].addr, m->fw.seg[i].len);
    if (rc) {
        snap_free(s);
        free(s);
        return -1;
    }
    m->snap = s;
    return 0;
}

/* The clean run that takes the cut points. A snapshot copies the stack
 * from the point's op up to this frame: run_point's frame and everything
 * below it, which a point run in process overwrites. */
static __attribute__((noinline)) void clean_run_points(struct mh *m)
{
    volatile unsigned char top = 0;
    if (m->snap)
        m->snap->top = (unsigned char *)(uintptr_t)&top;
    m->forking = 1;
    run_point(m, NULL);
    m->forking = 0;
}

/* Points in process: `jobs` workers (this process and jobs - 1 forked
 * ones) each run the clean run and claim chunks of points as they reach
 * them, so a slow point does not hold the others up. */
static void points_in_process(struct mh *m)
{
    pid_t pid[64];
    int n = 0;
    fflush(NULL);
    for (int w = 1; w < m->jobs; w++) {
        pid_t p = fork();
        if (p < 0)
            break; /* fewer workers share the points */
        if (p == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            m->worker = w;
            clean_run_points(m);
            _exit(m->fork_failed ? 3 : 0);
        }
        pid[n++] = p;
    }
    m->worker = 0;
    clean_run_points(m);
    for (int i = 0; i < n; i++) {
        int st;
        if (waitpid(pid[i], &st, 0) != pid[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            m->fork_failed = 1;
    }
}

/* ---- e2e workers ---------------------------------------------------------- */

#define E2E_CAP (1u << 18)    /* most cut points an e2e sweep can take */

/* Shared between the e2e sweep and its workers (MAP_SHARED, before fork). */
struct e2e_shared {
    uint32_t next;            /* next index into pts to claim */
    uint32_t np;
    uint32_t pts[E2E_CAP];
};

struct e2e {
    struct e2e_shared *sh;
    size_t shlen;
    pid_t pid[64];
    int go[64];               /* write end of each worker's start pipe */
    int n;
};

/* A worker: waits for the cloud's address, then claims points until none
 * are left. It was forked before the cloud started any thread. */
static void e2e_worker(struct mh *m, const struct sweep_opts *o, struct e2e *w, int idx, int rfd)
{
    struct sw_net_addr a;
    char err[256], dn[33];
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (int i = 0; i < idx; i++)
        close(w->go[i]);
    if (read(rfd, &a, sizeof(a)) != (ssize_t)sizeof(a))
        _exit(0); /* no start: the clean run failed */
    snprintf(dn, sizeof(dn), "sweep-w%d", idx);
    if (sw_net_attach_addr(m, &a, dn, err, sizeof(err)) != 0)
        _exit(3);
    for (;;) {
        uint32_t i = __atomic_fetch_add(&w->sh->next, 1, __ATOMIC_RELAXED);
        if (i >= w->sh->np)
            break;
        struct pres *r = &m->res[i];
        if (sw_net_job(m, err, sizeof(err)) != 0) {
            r->inv = INV_HARNESS;
            snprintf(r->why, sizeof(r->why), "%s", err);
            continue;
        }
        run_one(m, o, w->sh->pts[i], r);
    }
    sw_net_detach(m);
    _exit(0);
}

static int e2e_fork(struct mh *m, const struct sweep_opts *o, struct e2e *w, char *err, size_t n)
{
    memset(w, 0, sizeof(*w));
    w->shlen = sizeof(struct e2e_shared) + sizeof(struct pres) * E2E_CAP;
    void *p = mmap(NULL, w->shlen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED) {
        snprintf(err, n, "out of memory");
        return -1;
    }
    w->sh = p;
    m->res = (struct pres *)(w->sh + 1);
    int jobs = o->jobs < 1 ? 1 : o->jobs > 64 ? 64 : o->jobs;
    fflush(NULL);
    for (int i = 0; i < jobs; i++) {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0) {
            snprintf(err, n, "pipe: %s", strerror(errno));
            return -1;
        }
        pid_t pid = fork();
        if (pid < 0) {
            close(fds[0]);
            close(fds[1]);
            snprintf(err, n, "fork: %s", strerror(errno));
            return -1;
        }
        if (pid == 0) {
            close(fds[1]);
            e2e_worker(m, o, w, i, fds[0]);
        }
        close(fds[0]);
        w->pid[w->n] = pid;
        w->go[w->n++] = fds[1];
    }
    return 0;
}

/* Starts the workers on the points (np 0: tells them to quit) and waits
 * for them. Returns the number that did not end cleanly. */
static int e2e_finish(struct e2e *w, const struct sw_net_addr *a, uint32_t np)
{
    int bad = 0;
    w->sh->np = np;
    for (int i = 0; i < w->n; i++) {
        if (np && write(w->go[i], a, sizeof(*a)) != (ssize_t)sizeof(*a))
            bad++;
        close(w->go[i]);
    }
    for (int i = 0; i < w->n; i++) {
        int st;
        if (waitpid(w->pid[i], &st, 0) != w->pid[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            bad++;
    }
    w->n = 0;
    return bad;
}

static void e2e_free(struct e2e *w)
{
    if (w->n)
        e2e_finish(w, NULL, 0);
    if (w->sh)
        munmap(w->sh, w->shlen);
    w->sh = NULL;
}

/* ---- the sweep ------------------------------------------------------------- */

int sweep_run(const struct sweep_opts *o, struct sweep_summary *s, FILE *out, char *err,
              size_t errlen)
{
    static struct mh m;
    struct e2e w;
    FILE *evf = NULL;
    uint32_t *pts = NULL, np = 0;
    size_t reslen = 0;
    int rc = 2;

    memset(s, 0, sizeof(*s));
    memset(&w, 0, sizeof(w));
    double t0 = now_s();
    if (mh_setup(&m, o, err, errlen) != 0)
        goto done;
    if (o->point > 0 && o->events) {
        evf = strcmp(o->events, "-") ? fopen(o->events, "w") : stdout;
        if (!evf) {
            snprintf(err, errlen, "%s: %s", o->events, strerror(errno));
            goto done;
        }
    }
    if (o->e2e) {
        /* Workers first, while this process has no thread; then the cloud. */
        if (o->point <= 0 && e2e_fork(&m, o, &w, err, errlen) != 0)
            goto done;
        if (sw_net_cloud_start(&m, err, errlen) != 0 ||
            sw_net_attach(&m, "sweep-clean", err, errlen) != 0 || sw_net_job(&m, err, errlen) != 0)
            goto done;
    }

    /* The clean run numbers the ops. */
    m.recording = 1;
    run_point(&m, NULL);
    m.recording = 0;
    s->ops = m.nops;
    if (m.inv == INV_HARNESS) {
        snprintf(err, errlen, "clean run: %s", m.why);
        goto done;
    }
    if (m.inv) {
        snprintf(s->first_failure, sizeof(s->first_failure),
                 "FAIL clean run (no fault): %s [clean-run]", m.why);
        fprintf(out, "%s\n", s->first_failure);
        s->failures = 1;
        s->inv_fail[INV_CLEAN] = 1;
        rc = 1;
        goto done;
    }

    if (o->point > 0) {
        if ((uint32_t)o->point > m.nops) {
            snprintf(err, errlen, "--point %ld: the clean run has %u flash operations", o->point,
                     m.nops);
            goto done;
        }
        struct pres r;
        memset(&r, 0, sizeof(r));
        if (o->e2e && sw_net_job(&m, err, errlen) != 0)
            goto done;
        m.ev = evf;
        run_one(&m, o, (uint32_t)o->point, &r);
        m.ev = NULL;
        if (r.inv == INV_HARNESS) {
            snprintf(err, errlen, "point %ld: %s", o->point, r.why);
            goto done;
        }
        if (o->flash_out && write_flash(&m, o->flash_out, err, errlen) != 0)
            goto done;
        s->points = 1;
        if (r.inv) {
            s->failures = 1;
            s->inv_fail[r.inv]++;
            fail_msg(&m, o, (uint32_t)o->point, &r, s->first_failure, sizeof(s->first_failure));
            fprintf(out, "%s\n", s->first_failure);
        } else {
            char d[200];
            describe(&m, o, (uint32_t)o->point, d, sizeof(d));
            fprintf(out, "PASS at %s: updated to %s\n", d, V2);
        }
        rc = r.inv ? 1 : 0;
        goto done;
    }

    /* The points: every stride-th op from first, in the chosen phase. */
    m.point_of = calloc(m.nops + 1, sizeof(uint32_t));
    pts = malloc(sizeof(uint32_t) * (m.nops + 1));
    if (!m.point_of || !pts) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    for (uint32_t k = o->first ? o->first : 1; k <= m.nops; k += o->stride ? o->stride : 1)
        if (!o->phase || m.opv[k - 1].phase == o->phase) {
            pts[np] = k;
            m.point_of[k] = ++np;
        }
    if (o->e2e) {
        /* Each worker claims points and runs each from the pre-update flash
         * through the cloud (connections cannot be forked mid-run). */
        if (np > E2E_CAP) {
            snprintf(err, errlen, "%u cut points: an end-to-end sweep takes at most %u (use --stride)",
                     np, E2E_CAP);
            goto done;
        }
        memcpy(w.sh->pts, pts, sizeof(uint32_t) * np);
        for (uint32_t i = 0; i < np; i++)
            m.res[i].inv = 0xFF;
        struct sw_net_addr a;
        sw_net_addr(&m, &a);
        if (e2e_finish(&w, &a, np) != 0)
            m.fork_failed = 1;
    } else {
        /* A second clean run takes each point at its op (so no prefix is
         * run twice): in process from a snapshot, in `jobs` workers that
         * share the points, or else in a child forked there, up to `jobs`
         * children at once. */
        size_t owners = (sizeof(struct pres) * (np + 1) + 63) / 64 * 64;
        reslen = owners + sizeof(uint32_t) * (np / POINT_CHUNK + 1);
        m.res = mmap(NULL, reslen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (m.res == MAP_FAILED) {
            m.res = NULL;
            snprintf(err, errlen, "out of memory");
            goto done;
        }
        for (uint32_t i = 0; i < np; i++)
            m.res[i].inv = 0xFF; /* not run */
        m.jobs = o->jobs < 1 ? 1 : o->jobs > 64 ? 64 : o->jobs;
        if (m.jobs > 1)
            m.owner = (uint32_t *)(void *)((char *)m.res + owners);
        /* Recoveries that reach a known state at a boot are not run again. */
        struct flashsim fs;
        if (!o->no_memo && flashsim_init(&fs, &m.b.geom, m.mem, m.state, 0) == 0 &&
            flashkey_init(&m.fk, &m.b.geom, m.mem, fs.programmed,
                          fs.programmed ? (m.b.geom.size / m.b.geom.program_unit + 7) / 8 : 0) == 0) {
            m.fk_ok = 1;
            uint32_t cap = np * 4 + 1024;
            m.memo = memo_create(cap > (1u << 22) ? 1u << 22 : cap, sizeof(struct memo_val));
        }
        if (!o->fork_points && snap_supported() && snap_setup(&m) == 0) {
            points_in_process(&m);
        } else {
            m.owner = NULL;
            clean_run_points(&m);
            while (m.active > 0)
                reap_one(&m);
        }
    }
    uint32_t lost = 0, harness = 0;
    for (uint32_t i = 0; i < np; i++) {
        lost += m.res[i].inv == 0xFF;
        harness += m.res[i].inv == INV_HARNESS;
    }
    if (m.fork_failed || lost) {
        snprintf(err, errlen, "%u of %u cut points did not report (a worker died or fork failed)",
                 lost, np);
        goto done;
    }
    s->points = np;
    for (uint32_t i = 0; i < np; i++) {
        const struct pres *r = &m.res[i];
        if (!r->inv || r->inv == INV_HARNESS)
            continue;
        char msg[800];
        fail_msg(&m, o, pts[i], r, msg, sizeof(msg));
        s->failures++;
        s->inv_fail[r->inv]++;
        if (!s->first_failure[0])
            snprintf(s->first_failure, sizeof(s->first_failure), "%s", msg);
        if (!o->quiet || s->failures <= 5)
            fprintf(out, "%s\n", msg);
    }
    if (harness) {
        for (uint32_t i = 0; i < np; i++)
            if (m.res[i].inv == INV_HARNESS) {
                snprintf(err, errlen, "%u of %u cut points could not run; the first, cut %u: %s",
                         harness, np, pts[i], m.res[i].why);
                break;
            }
        s->harness = harness;
        goto done;
    }
    rc = s->failures ? 1 : 0;
done:
    if (evf && evf != stdout)
        fclose(evf);
    e2e_free(&w);
    if (o->e2e)
        sw_net_cloud_stop(&m);
    if (reslen)
        munmap(m.res, reslen);
    m.res = NULL;
    free(pts);
    if (m.memo) {
        struct memo_stats ms;
        memo_stats(m.memo, &ms);
        s->memo_hits = (uint32_t)ms.hits;
        memo_destroy(m.memo);
        m.memo = NULL;
    }
    if (m.fk_ok)
        flashkey_free(&m.fk);
    m.fk_ok = 0;
    if (m.snap) {
        snap_free(m.snap);
        free(m.snap);
        m.snap = NULL;
    }
    s->seconds = now_s() - t0;
    mh_free(&m);
    return rc;
}
