/* cmd_image.c - `otahil image make`, `otahil image info` and `otahil image check`
 * (the format check the cloud makes before it serves a file: mock_cloud/fwcheck.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conformance/commands.h"
#include "conformance/common.h"
#include "mock_cloud/fwcheck.h"
#include "sim/util/defaults.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: otahil image make --version V -o FILE [--size BYTES] [--seed N] [--board B]\n"
            "                         [--crash-at-boot] [--never-confirm] [--payload FILE]\n"
            "       otahil image info FILE\n"
            "       otahil image check FILE\n"
            "Images: a 128-byte header (version, behaviour flags), a payload generated from the\n"
            "seed (or FILE's bytes with --payload: a program, the QEMU target's applications), and\n"
            "the AliOS 28-byte footer (magic 0xEFEFEFEF, size, MD5).\n"
            "check: is FILE fit to be served for OTA (any AliOS OTA bin, not only otahil's): the\n"
            "last 28 bytes are the footer, magic 0xEFEFEFEF, 0xABABABAB or 0xCDCDCDCD, image_size =\n"
            "file size - 28, MD5 of the bytes before it. Exit 0 it is, 1 it is not, 2 unreadable.\n");
}

/* `otahil image check FILE`: what the cloud's format check finds (spec §6.2, §12 #8, #11). */
static int check(const char *path)
{
    struct fwcheck_report r;
    char line[4600];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "otahil image check: %s: %s\n", path, strerror(errno));
        return OTAHIL_EXIT_HARNESS;
    }
    int rc = fwcheck_fd(fd, &r);
    close(fd);
    fwcheck_describe(&r, path, line, sizeof(line));
    if (rc == FWCHECK_EIO) {
        fprintf(stderr, "otahil image check: %s\n", line);
        return OTAHIL_EXIT_HARNESS;
    }
    printf("file     %s, %llu bytes\n", path, (unsigned long long)r.file_size);
    if (rc != FWCHECK_ESHORT) {
        const char *kind = fwcheck_magic_name(r.magic);
        printf("magic    0x%08x (%s)\n", r.magic, kind ? kind : "not an AliOS footer");
    }
    if (rc != FWCHECK_ESHORT && rc != FWCHECK_EMAGIC)
        printf("size     footer image_size %u, file size - 28 = %llu\n", r.image_size,
               (unsigned long long)(r.file_size - FWCHECK_FOOTER_SIZE));
    if (rc == FWCHECK_OK || rc == FWCHECK_EMD5)
        printf("md5      footer %s, computed %s\n", r.md5_footer, r.md5_image);
    printf("%s %s\n", rc == FWCHECK_OK ? "ok  " : "FAIL", line);
    return rc == FWCHECK_OK ? 0 : OTAHIL_EXIT_FAIL;
}

int cmd_image(int argc, char **argv)
{
    char err[512];
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? OTAHIL_EXIT_HARNESS : 0;
    }
    if (!strcmp(argv[1], "info")) {
        if (argc != 3) {
            usage(stderr);
            return OTAHIL_EXIT_HARNESS;
        }
        uint8_t *d;
        size_t len;
        struct image_info info;
        if (read_file(argv[2], &d, &len, err, sizeof(err)) != 0) {
            fprintf(stderr, "otahil image: %s\n", err);
            return OTAHIL_EXIT_HARNESS;
        }
        int rc = image_parse(d, len, &info);
        free(d);
        if (rc != IMAGE_OK) {
            fprintf(stderr, "otahil image: %s: not a valid otahil image: %s\n", argv[2],
                    image_strerror(rc));
            return OTAHIL_EXIT_HARNESS;
        }
        printf("version  %s\nflags    0x%x%s%s\nboard    %s\npayload  %u bytes (seed %u)\n"
               "file     %u bytes (image %u + footer 28)\n",
               info.version, info.flags, info.flags & IMAGE_F_CRASH_AT_BOOT ? " crash-at-boot" : "",
               info.flags & IMAGE_F_NEVER_CONFIRM ? " never-confirm" : "",
               info.board[0] ? info.board : "(any)", info.payload_len, info.seed, info.total_size,
               info.image_size);
        if (len != info.total_size)
            printf("note     the file has %zu bytes after the footer\n", len - info.total_size);
        return 0;
    }
    if (!strcmp(argv[1], "check")) {
        if (argc != 3) {
            fprintf(stderr, "otahil image check: needs exactly one FILE\n");
            return OTAHIL_EXIT_HARNESS;
        }
        return check(argv[2]);
    }
    if (strcmp(argv[1], "make") != 0) {
        fprintf(stderr, "otahil image: unknown subcommand '%s' (make, info, check)\n", argv[1]);
        return OTAHIL_EXIT_HARNESS;
    }
    struct image_spec s = { NULL, NULL, 64 * 1024, 1, 0 };
    const char *out = NULL, *payload = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--version") && v) { s.version = v; i++; }
        else if ((!strcmp(a, "-o") || !strcmp(a, "--out")) && v) { out = v; i++; }
        else if (!strcmp(a, "--size") && v) {
            if (parse_u32(v, &s.payload_len) != 0) {
                fprintf(stderr, "otahil image: --size '%s' is not a number\n", v);
                return OTAHIL_EXIT_HARNESS;
            }
            i++;
        } else if (!strcmp(a, "--seed") && v) { s.seed = (uint32_t)strtoul(v, NULL, 0); i++; }
        else if (!strcmp(a, "--board") && v) { s.board = v; i++; }
        else if (!strcmp(a, "--payload") && v) { payload = v; i++; }
        else if (!strcmp(a, "--crash-at-boot")) s.flags |= IMAGE_F_CRASH_AT_BOOT;
        else if (!strcmp(a, "--never-confirm")) s.flags |= IMAGE_F_NEVER_CONFIRM;
        else {
            fprintf(stderr, "otahil image make: unknown or incomplete option '%s'\n", a);
            return OTAHIL_EXIT_HARNESS;
        }
    }
    if (!s.version || !out) {
        fprintf(stderr, "otahil image make: --version and -o are required\n");
        return OTAHIL_EXIT_HARNESS;
    }
    if (!*s.version || strlen(s.version) >= IMAGE_VERSION_LEN) {
        fprintf(stderr, "otahil image make: --version must be 1..%d characters\n",
                IMAGE_VERSION_LEN - 1);
        return OTAHIL_EXIT_HARNESS;
    }
    if (payload) {
        uint8_t *p = NULL, *img = NULL;
        size_t plen = 0;
        if (read_file(payload, &p, &plen, err, sizeof(err)) != 0) {
            fprintf(stderr, "otahil image make: --payload %s: %s\n", payload, err);
            return OTAHIL_EXIT_HARNESS;
        }
        s.payload_len = (uint32_t)plen;
        s.seed = 0;
        size_t len = image_total_size(&s);
        int rc = plen == 0 || plen != s.payload_len || len == 0 ? IMAGE_ESIZE : IMAGE_OK;
        if (rc == IMAGE_OK && !(img = malloc(len)))
            rc = IMAGE_ESIZE;
        if (rc == IMAGE_OK)
            rc = image_wrap(&s, p, img, len);
        free(p);
        if (rc != IMAGE_OK) {
            fprintf(stderr, "otahil image make: --payload %s: %zu bytes: %s\n", payload, plen,
                    image_strerror(rc));
            free(img);
            return OTAHIL_EXIT_HARNESS;
        }
        rc = write_file_atomic(out, img, len, err, sizeof(err));
        free(img);
        if (rc != 0) {
            fprintf(stderr, "otahil image make: %s\n", err);
            return OTAHIL_EXIT_HARNESS;
        }
    } else if (make_image_file(out, &s, err, sizeof(err)) != 0) {
        fprintf(stderr, "otahil image make: %s\n", err);
        return OTAHIL_EXIT_HARNESS;
    }
    printf("%s: %s, %zu bytes\n", out, s.version, image_total_size(&s));
    return 0;
}
