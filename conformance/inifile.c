/* inifile.c - inih with line numbers (inifile.h). */
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "conformance/inifile.h"

struct reader {
    struct inifile *I;
    FILE *f;
    inifile_key_fn fn;
};

int inifile_fail(struct inifile *I, const char *fmt, ...)
{
    if (I->err_line)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(I->msg, sizeof(I->msg), fmt, ap);
    va_end(ap);
    I->err_line = I->line > 0 ? I->line : 1;
    return -1;
}

static char *read_line(char *str, int num, void *stream)
{
    struct reader *R = stream;
    char buf[1024];
    if (R->I->err_line || !fgets(buf, sizeof(buf), R->f))
        return NULL;
    R->I->line++;
    size_t n = strlen(buf);
    if (n == sizeof(buf) - 1 && buf[n - 1] != '\n' && !feof(R->f)) {
        inifile_fail(R->I, "line too long (at most %d characters)", (int)sizeof(buf) - 2);
        return NULL;
    }
    char *p = buf;
    if (R->I->line == 1 && !strncmp(p, "\xEF\xBB\xBF", 3))
        p += 3;
    while (*p == ' ' || *p == '\t')
        p++;
    n = strlen(p);
    if (num < 2 || n + 1 > (size_t)num) {
        inifile_fail(R->I, "line too long (at most %d characters)", num - 2);
        return NULL;
    }
    memcpy(str, p, n + 1);
    return str;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
    struct reader *R = user;
    return R->fn(R->I, section, name, value) == 0 && !R->I->err_line;
}

int inifile_parse(const char *path, inifile_key_fn fn, void *user, char *err, size_t n)
{
    struct inifile I;
    memset(&I, 0, sizeof(I));
    I.user = user;
    struct reader R = { &I, fopen(path, "r"), fn };
    if (!R.f) {
        snprintf(err, n, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    int rc = ini_parse_stream(read_line, &R, on_key, &R);
    fclose(R.f);
    if (rc > 0 && !I.err_line) {
        I.line = rc;
        inifile_fail(&I, "syntax error: expected [section], key = value or a ; comment");
    } else if (rc < 0 && !I.err_line) {
        inifile_fail(&I, "cannot parse (inih error %d)", rc);
    }
    if (I.err_line) {
        snprintf(err, n, "%s:%d: %s", path, I.err_line, I.msg);
        return -1;
    }
    return 0;
}
