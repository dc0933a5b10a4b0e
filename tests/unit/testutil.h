/*
 * testutil.h - small helpers the unit tests share (static inline: each test
 * is its own program and uses some of them). Include after cmocka.h.
 */
#ifndef OTAHIL_TESTUTIL_H
#define OTAHIL_TESTUTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "sim/util/evlog.h"

static inline uint64_t now_ms(void)
{
    return evlog_now_us() / 1000u;
}

static inline void sleep_ms(unsigned ms)
{
    struct timespec ts = { (time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* out = lowercase hex digest of buf (room for 2 * EVP_MAX_MD_SIZE + 1). */
static inline void hexdigest(const EVP_MD *md, const void *buf, size_t len, char *out)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned n = 0;

    assert_true(EVP_Digest(buf, len, d, &n, md, NULL));
    for (unsigned i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

/* Ends an image of size bytes with the AliOS footer (spec §6.2), as the
 * cloud's format check wants: magic 0xEFEFEFEF, image_size, MD5 of the rest. */
static inline void add_footer(unsigned char *b, size_t size)
{
    unsigned char *f = b + size - 28;
    uint32_t n = (uint32_t)(size - 28);

    memset(f, 0xEF, 4);
    for (int k = 0; k < 4; k++)
        f[4 + k] = (unsigned char)(n >> (8 * k));
    assert_int_equal(EVP_Digest(b, n, f + 8, NULL, EVP_md5(), NULL), 1);
    memset(f + 24, 0xFF, 4);
}

/* Runs a command's fn(argc, argv) with stdout and stderr captured, through a
 * file in dir, into out. Returns fn's result. */
static inline int run_captured(const char *dir, int (*fn)(int, char **), char **argv, char *out,
                               size_t outlen)
{
    char path[4200];
    int argc = 0, fd, s1, s2, rc;
    ssize_t n;

    while (argv[argc])
        argc++;
    snprintf(path, sizeof path, "%s/captured.txt", dir);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    fflush(stdout);
    fflush(stderr);
    s1 = dup(1);
    s2 = dup(2);
    dup2(fd, 1);
    dup2(fd, 2);
    rc = fn(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(s1, 1);
    dup2(s2, 2);
    close(s1);
    close(s2);
    n = pread(fd, out, outlen - 1, 0);
    close(fd);
    out[n > 0 ? n : 0] = '\0';
    return rc;
}

#endif
