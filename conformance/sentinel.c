/*
 * sentinel.c - settings planted before an update and checked after it (see
 * sentinel.h; spec §12 #10).
 *
 * Every value comes from a splitmix64 stream seeded by the run's seed, so
 * sentinel_check draws the same values again and needs no state of its own:
 * the KV values from one stream, each partition's pattern from a stream of
 * its own (seed and partition id). The check mounts the KV store on a
 * private copy of the flash file: kv_mount formats a blank store and
 * finishes an interrupted compaction, and neither may change the file the
 * run leaves behind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/common.h"
#include "conformance/sentinel.h"
#include "hal/soc/flash.h"
#include "sim/kv/kv.h"
#include "sim/util/event.h"
#include "sim/util/evlog.h"

#define SENTINEL_SALT 0x53454E54494E454Cull /* "SENTINEL" */
#define SENTINEL_VAL  48                     /* room for a KV value */

static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The two KV values for this seed: an SSID and a WPA passphrase. */
static void kv_values(uint64_t seed, char *ssid, char *passwd)
{
    static const char cs[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    uint64_t s = seed ^ SENTINEL_SALT;
    snprintf(ssid, SENTINEL_VAL, "otahil-lab-%06llx", (unsigned long long)(mix(&s) & 0xFFFFFF));
    for (int i = 0; i < 24; i++)
        passwd[i] = cs[mix(&s) % (sizeof(cs) - 1)];
    passwd[24] = '\0';
}

static void pattern(uint64_t seed, int id, uint8_t *buf, uint32_t len)
{
    uint64_t s = seed ^ SENTINEL_SALT ^ ((uint64_t)(id + 1) << 40);
    for (uint32_t i = 0; i < len; i += 8) {
        uint64_t v = mix(&s);
        for (uint32_t k = 0; k < 8 && i + k < len; k++)
            buf[i + k] = (uint8_t)(v >> (8 * k));
    }
}

static int meets(const struct board_part *p, const struct board_part *q)
{
    return p->start < (uint64_t)q->start + q->length && q->start < (uint64_t)p->start + p->length;
}

/* The partitions to pattern, as indexes in b->parts; returns the count. */
static int pattern_parts(const struct board *b, int *out)
{
    const struct board_part *used[BOARD_MAX_PARTS];
    int nu = 0, n = 0;
    used[nu++] = board_part(b, HAL_PARTITION_APPLICATION);
    used[nu++] = board_part(b, HAL_PARTITION_OTA_TEMP);
    used[nu++] = board_part(b, HAL_PARTITION_PARAMETER_1);
    for (int k = 0; k < b->nkv; k++)
        used[nu++] = board_part(b, b->kv_parts[k]);
    for (int i = 0; i < b->nparts; i++) {
        const struct board_part *p = &b->parts[i];
        int skip = !(p->options & PAR_OPT_WRITE_EN);
        for (int k = 0; k < nu && !skip; k++)
            skip = used[k] && meets(p, used[k]);
        for (int k = 0; k < n && !skip; k++) /* a declared overlap of two of them */
            skip = meets(p, &b->parts[out[k]]);
        if (!skip)
            out[n++] = i;
    }
    return n;
}

int sentinel_plant(const char *flash, const struct board *b, uint64_t seed, char *err, size_t n)
{
    static struct kv_store kv;
    struct flashfile ff;
    char ssid[SENTINEL_VAL], passwd[SENTINEL_VAL];
    int idx[BOARD_MAX_PARTS], np = pattern_parts(b, idx), rc;
    if (open_flash(&ff, flash, b, err, n) != 0)
        return -1;
    kv_values(seed, ssid, passwd);
    ff.fs.phase = FLASHSIM_PH_KV;
    if ((rc = kv_mount(&kv, &ff.fs, b->kv_parts, b->nkv)) != KV_OK ||
        (rc = kv_set(&kv, SENTINEL_KEY_SSID, ssid, (int)strlen(ssid))) != KV_OK ||
        (rc = kv_set(&kv, SENTINEL_KEY_PASSWD, passwd, (int)strlen(passwd))) != KV_OK) {
        snprintf(err, n, "%s: cannot write the settings sentinel into the KV store: kv error %d",
                 flash, rc);
        flashfile_close(&ff);
        return -1;
    }
    ff.fs.phase = FLASHSIM_PH_NONE;
    for (int i = 0; i < np; i++) {
        const struct board_part *p = &b->parts[idx[i]];
        uint8_t *buf = malloc(p->length);
        if (!buf) {
            snprintf(err, n, "out of memory");
            flashfile_close(&ff);
            return -1;
        }
        pattern(seed, p->id, buf, p->length);
        rc = flashsim_program(&ff.fs, p->id, 0, buf, p->length);
        free(buf);
        if (rc != FLASHSIM_OK) {
            snprintf(err, n, "%s: cannot write the sentinel pattern into %s: flash error %d", flash,
                     p->name, rc);
            flashfile_close(&ff);
            return -1;
        }
    }
    flashfile_close(&ff);
    return 0;
}

/* Appends "NAME" to a JSON array body held in buf. */
static void json_add(char *buf, size_t n, const char *name)
{
    size_t l = strlen(buf);
    snprintf(buf + l, n - l, "%s\"%s\"", l ? "," : "", name);
}

int sentinel_check(const char *flash, const struct board *b, uint64_t seed, char *why, size_t n)
{
    static struct kv_store kv;
    char ssid[SENTINEL_VAL], passwd[SENTINEL_VAL], got[SENTINEL_VAL + 1];
    char keys[96] = "", parts[256] = "", lost[352] = "", ewhy[1024];
    const char *key[2] = { SENTINEL_KEY_SSID, SENTINEL_KEY_PASSWD }, *val[2] = { ssid, passwd };
    size_t want = (size_t)b->geom.size + flashsim_state_size(&b->geom), len;
    int idx[BOARD_MAX_PARTS], np = pattern_parts(b, idx), bad = 0, krc;
    struct flashsim fs;
    uint8_t *file, *buf = NULL;
    why[0] = '\0';
    if (read_file(flash, &file, &len, why, n) != 0)
        return -1;
    if (len != want || flashsim_init(&fs, &b->geom, file, file + b->geom.size, 0) != FLASHSIM_OK ||
        board_apply(b, &fs) != FLASHSIM_OK) {
        snprintf(why, n, "%s: not a flash file of board %s", flash, b->name);
        free(file);
        return -1;
    }
    kv_values(seed, ssid, passwd);
    krc = kv_mount(&kv, &fs, b->kv_parts, b->nkv);
    for (int k = 0; k < 2; k++) {
        int gl = SENTINEL_VAL;
        json_add(keys, sizeof(keys), key[k]);
        int rc = krc == KV_OK ? kv_get(&kv, key[k], got, &gl) : krc;
        if (rc == KV_OK && gl == (int)strlen(val[k]) && !memcmp(got, val[k], (size_t)gl))
            continue;
        json_add(lost, sizeof(lost), key[k]);
        if (bad++)
            continue;
        for (int c = 0; rc == KV_OK && c < gl; c++) /* keep the line printable */
            if (got[c] < 0x20 || got[c] > 0x7e)
                got[c] = '?';
        if (krc != KV_OK)
            snprintf(why, n, "KV key %s lost after the update: the KV store no longer mounts (kv "
                     "error %d) (spec §12 #10)", key[k], krc);
        else if (rc == KV_OK)
            snprintf(why, n, "KV key %s changed after the update: '%.*s', expected '%s' (spec "
                     "§12 #10)", key[k], gl, got, val[k]);
        else if (rc == KV_ETOOSMALL)
            snprintf(why, n, "KV key %s changed after the update: now %d bytes, expected '%s' "
                     "(spec §12 #10)", key[k], gl, val[k]);
        else
            snprintf(why, n, "KV key %s lost after the update (spec §12 #10)", key[k]);
    }
    for (int i = 0; i < np; i++) {
        const struct board_part *p = &b->parts[idx[i]];
        const uint8_t *mem = file + (p->start - b->flash_base);
        uint8_t *nb = realloc(buf, p->length);
        if (!nb) {
            snprintf(why, n, "out of memory");
            free(buf);
            free(file);
            return -1;
        }
        buf = nb;
        json_add(parts, sizeof(parts), p->name);
        pattern(seed, p->id, buf, p->length);
        uint32_t off = 0;
        while (off < p->length && mem[off] == buf[off])
            off++;
        if (off == p->length)
            continue;
        json_add(lost, sizeof(lost), p->name);
        if (!bad++)
            snprintf(why, n, "%s changed after the update at offset 0x%x (0x%02x, expected 0x%02x) "
                     "(spec §12 #10)", p->name, off, mem[off], buf[off]);
    }
    free(buf);
    free(file);
    if (bad > 1) {
        size_t l = strlen(why);
        snprintf(why + l, n - l, "; %d sentinels lost in all", bad);
    }
    evlog_emit("run", "run.sentinel", "\"ok\":%s,\"kv\":[%s],\"parts\":[%s],\"lost\":[%s],"
               "\"why\":\"%s\"", bad ? "false" : "true", keys, parts, lost,
               otahil_json_escape(ewhy, sizeof(ewhy), why));
    return bad ? 1 : 0;
}
