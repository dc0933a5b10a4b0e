/*
 * profile.c - port profiles (profile.h): what a port claims, from a small
 * ini file, checked key by key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conformance/common.h"
#include "conformance/inifile.h"
#include "conformance/profile.h"
#include "sim/util/defaults.h"

struct cap_name {
    unsigned    cap;
    const char *name;
};

static const struct cap_name g_caps[] = {
    { CAP_ROLLBACK, "rollback callback (g1)" },
    { CAP_RESUME, "resume" },
    { CAP_MD5, "md5" },
    { CAP_SHA256, "sha256" },
    { CAP_RSA, "rsa" },
    { CAP_MQTT_HTTP, "mqtt+http" },
    { CAP_MQTT_HTTPS, "mqtt+https" },
    { CAP_COAP_HTTP, "coap+http" },
    { CAP_COAP_COAP, "coap+coap" },
    { CAP_FOOTER, "footer check" },
    { CAP_BOOT_COPY, "copy bootloader" },
    { CAP_BOOT_PP, "pingpong bootloader" },
};

const char *profile_caps_str(unsigned mask, char *buf, size_t n)
{
    size_t l = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(g_caps) / sizeof(g_caps[0]); i++)
        if (mask & g_caps[i].cap)
            l += (size_t)snprintf(buf + l, l < n ? n - l : 0, "%s%s", l ? ", " : "", g_caps[i].name);
    if (!l)
        snprintf(buf, n, "nothing");
    return buf;
}

static int yes_no(struct inifile *I, const char *key, const char *v, int *out)
{
    if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1"))
        *out = 1;
    else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0"))
        *out = 0;
    else
        return inifile_fail(I, "key '%s': '%s' is not yes or no", key, v);
    return 0;
}

/* Each comma-separated word of v must be one of words[]; their caps are ORed. */
static int word_list(struct inifile *I, const char *key, const char *v, const char *const *words,
                     const unsigned *caps, unsigned *out)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", v);
    int any = 0;
    for (char *save = NULL, *w = strtok_r(buf, ", \t", &save); w; w = strtok_r(NULL, ", \t", &save)) {
        int k;
        for (k = 0; words[k]; k++)
            if (!strcasecmp(w, words[k]))
                break;
        if (!words[k]) {
            char all[256];
            size_t l = 0;
            for (int j = 0; words[j]; j++)
                l += (size_t)snprintf(all + l, sizeof(all) - l, "%s%s", j ? ", " : "", words[j]);
            return inifile_fail(I, "key '%s': '%s' is not one of %s", key, w, all);
        }
        *out |= caps[k];
        any = 1;
    }
    if (!any)
        return inifile_fail(I, "key '%s': empty", key);
    return 0;
}

static int on_key(struct inifile *I, const char *section, const char *key, const char *v)
{
    struct profile *p = I->user;
    static const char *const boots[] = { "copy", "pingpong", NULL };
    static const unsigned boot_caps[] = { CAP_BOOT_COPY, CAP_BOOT_PP };
    static const char *const hashes[] = { "md5", "sha256", NULL };
    static const unsigned hash_caps[] = { CAP_MD5, CAP_SHA256 };
    static const char *const trans[] = { "mqtt+http", "mqtt+https", "coap+http", "coap+coap", NULL };
    static const unsigned trans_caps[] = { CAP_MQTT_HTTP, CAP_MQTT_HTTPS, CAP_COAP_HTTP, CAP_COAP_COAP };
    int b = 0;
    if (strcmp(section, "port") != 0)
        return inifile_fail(I, "section [%s]: unknown (a profile has one section, [port])", section);
#define TEXT(field)                                                                             \
    if (!strcmp(key, #field)) {                                                                 \
        if (strlen(v) >= sizeof(p->field))                                                      \
            return inifile_fail(I, "key '%s': longer than %d characters", key,                  \
                                (int)sizeof(p->field) - 1);                                     \
        snprintf(p->field, sizeof(p->field), "%s", v);                                          \
        return 0;                                                                               \
    }
    TEXT(name)
    TEXT(vendor)
    TEXT(board)
    TEXT(module)
#undef TEXT
    if (!strcmp(key, "generation")) {
        if (strcmp(v, "g0") != 0 && strcmp(v, "g1") != 0)
            return inifile_fail(I, "key 'generation': '%s' is not g0 (four callbacks) or g1 (five)", v);
        snprintf(p->generation, sizeof(p->generation), "%s", v);
        return 0;
    }
    if (!strcmp(key, "bootloader")) {
        unsigned c = 0;
        if (word_list(I, key, v, boots, boot_caps, &c) != 0)
            return -1;
        snprintf(p->bootloader, sizeof(p->bootloader), "%s", v);
        p->caps = (p->caps & ~(CAP_BOOT_COPY | CAP_BOOT_PP)) | c;
        return 0;
    }
    if (!strcmp(key, "hash")) {
        unsigned c = 0;
        if (word_list(I, key, v, hashes, hash_caps, &c) != 0)
            return -1;
        snprintf(p->hashes, sizeof(p->hashes), "%s", v);
        p->caps = (p->caps & ~(CAP_MD5 | CAP_SHA256)) | c;
        return 0;
    }
    if (!strcmp(key, "transports")) {
        unsigned c = 0;
        if (word_list(I, key, v, trans, trans_caps, &c) != 0)
            return -1;
        snprintf(p->transports, sizeof(p->transports), "%s", v);
        p->caps = (p->caps & ~(CAP_MQTT_HTTP | CAP_MQTT_HTTPS | CAP_COAP_HTTP | CAP_COAP_COAP)) | c;
        return 0;
    }
    if (!strcmp(key, "resume") || !strcmp(key, "rsa") || !strcmp(key, "footer")) {
        if (yes_no(I, key, v, &b) != 0)
            return -1;
        unsigned cap = key[0] == 'r' ? (key[1] == 'e' ? CAP_RESUME : CAP_RSA) : CAP_FOOTER;
        if (cap == CAP_RESUME)
            p->resume = b;
        if (cap == CAP_RSA)
            p->rsa = b;
        p->caps = b ? p->caps | cap : p->caps & ~cap;
        return 0;
    }
    return inifile_fail(I, "key '%s': unknown (known: name, vendor, generation, bootloader, board, "
                        "module, resume, hash, rsa, footer, transports)", key);
}

int profile_load(struct profile *p, const char *path, char *err, size_t n)
{
    memset(p, 0, sizeof(*p));
    /* Defaults: what every port of the family does unless it says otherwise. */
    snprintf(p->generation, sizeof(p->generation), "g1");
    snprintf(p->bootloader, sizeof(p->bootloader), "copy");
    snprintf(p->hashes, sizeof(p->hashes), "md5");
    snprintf(p->transports, sizeof(p->transports), "mqtt+http");
    p->resume = 1;
    p->caps = CAP_BOOT_COPY | CAP_MD5 | CAP_MQTT_HTTP | CAP_RESUME | CAP_FOOTER;
    if (strlen(path) >= sizeof(p->path)) {
        snprintf(err, n, "%.80s...: path too long", path);
        return -1;
    }
    snprintf(p->path, sizeof(p->path), "%s", path);
    if (inifile_parse(path, on_key, p, err, n) != 0)
        return -1;
    if (!p->name[0]) {
        snprintf(err, n, "%s: [port] name is missing", path);
        return -1;
    }
    if (!strcmp(p->generation, "g1"))
        p->caps |= CAP_ROLLBACK;
    else
        p->caps &= ~CAP_ROLLBACK;
    return 0;
}

int profile_reference(struct profile *p, char *err, size_t n)
{
    char path[4200];
    if (otahil_source_path("boards/ports/reference/profile.ini", path, sizeof(path)) == 0 &&
        profile_load(p, path, err, n) == 0)
        return 0;
    memset(p, 0, sizeof(*p));
    snprintf(p->path, sizeof(p->path), "(built in)");
    snprintf(p->name, sizeof(p->name), "otahil reference port");
    snprintf(p->vendor, sizeof(p->vendor), "otahil");
    snprintf(p->generation, sizeof(p->generation), "g1");
    snprintf(p->bootloader, sizeof(p->bootloader), "copy, pingpong");
    snprintf(p->board, sizeof(p->board), "%s", OTAHIL_DEFAULT_BOARD);
    snprintf(p->module, sizeof(p->module), "reference_ota_module");
    snprintf(p->hashes, sizeof(p->hashes), "md5, sha256");
    snprintf(p->transports, sizeof(p->transports), "mqtt+http, mqtt+https, coap+http, coap+coap");
    p->resume = 1;
    p->caps = CAP_ROLLBACK | CAP_RESUME | CAP_MD5 | CAP_SHA256 | CAP_MQTT_HTTP | CAP_MQTT_HTTPS |
              CAP_COAP_HTTP | CAP_COAP_COAP | CAP_FOOTER | CAP_BOOT_COPY | CAP_BOOT_PP;
    return 0;
}
