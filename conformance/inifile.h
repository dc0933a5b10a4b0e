/*
 * inifile.h - inih with line numbers: a reader that counts lines, so a
 * handler can name the line at fault ("FILE:LINE: what is wrong"), and that
 * strips leading blanks (an indented line is a key of its own, not an inih
 * continuation line). For small files read in one go (port profiles).
 */
#ifndef OTAHIL_INIFILE_H
#define OTAHIL_INIFILE_H

#include <stddef.h>

struct inifile {
    int  line;       /* the line being parsed */
    int  err_line;   /* line of the first problem, 0 if none */
    char msg[512];   /* its text */
    void *user;
};

/* Called for each key; returns 0 to go on, or -1 after inifile_fail(). */
typedef int (*inifile_key_fn)(struct inifile *I, const char *section, const char *key,
                              const char *value);

/* Records the first problem, at the current line. Returns -1. */
int inifile_fail(struct inifile *I, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses path. 0, or -1 with "FILE:LINE: what is wrong" (or "FILE: ...") in err. */
int inifile_parse(const char *path, inifile_key_fn fn, void *user, char *err, size_t n);

#endif
