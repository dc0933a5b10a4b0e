/*
 * jtok.h - a small freestanding JSON tokenizer for the device side (the push
 * and CoAP replies). It splits a buffer into tokens without allocating; the
 * agent then looks values up by key. Strict JSON (RFC 8259) except that the
 * input may end with NUL bytes (uOTA payloads carry a trailing NUL).
 */
#ifndef JTOK_H
#define JTOK_H

#include <stddef.h>
#include <stdint.h>

enum jtok_type {
    JTOK_UNDEF = 0,
    JTOK_OBJECT,
    JTOK_ARRAY,
    JTOK_STRING,     /* start/end exclude the quotes; escapes left in place */
    JTOK_PRIMITIVE,  /* number, true, false, null */
};

#define JTOK_ENOMEM (-1) /* more tokens than the array holds */
#define JTOK_EINVAL (-2) /* not valid JSON */
#define JTOK_EPART  (-3) /* input ends inside a value */

/* Token shape: tokens are in document order. An object's children are its
 * keys: JTOK_STRING tokens of size 1, each followed by its value, whose
 * parent is the key. An array's children are its elements. A container's
 * start is its opening bracket and its end is one past the closing one. */
struct jtok {
    uint8_t type;   /* enum jtok_type */
    int     start;  /* first byte */
    int     end;    /* one past the last byte */
    int     size;   /* children: keys of an object, elements of an array */
    int     parent; /* index of the parent token, -1 for the root */
};

/* Tokenizes js[0..len). Returns the number of tokens (>= 1) or a JTOK_E*
 * code. The root must be an object or array; trailing whitespace and NUL
 * bytes are allowed, anything else after the root is JTOK_EINVAL. Empty or
 * blank input is JTOK_EINVAL; input cut inside the root is JTOK_EPART. */
int jtok_parse(const char *js, size_t len, struct jtok *toks, int ntoks);

/* Index of the value whose key equals key (exact, case-sensitive, escapes
 * decoded) among the direct members of object token obj; -1 when absent or
 * when obj is not an object. ntoks is the count jtok_parse returned. */
int jtok_find(const char *js, const struct jtok *toks, int ntoks, int obj, const char *key);

/* 1 if string token t, escapes decoded, equals s exactly, else 0 (also for
 * a token that is not a string). */
int jtok_streq(const char *js, const struct jtok *t, const char *s);

/* Copies string token t, with escapes decoded (\uXXXX as UTF-8, a surrogate
 * pair as one 4-byte character, a lone surrogate as U+FFFD), into dst
 * (NUL-terminated). Returns the decoded length; if it does not fit, copies
 * dstlen-1 bytes and returns -1. A non-string token returns -2 (dst set to
 * "" when dstlen > 0). \u0000 is copied as a NUL byte and counted. */
int jtok_copy(const char *js, const struct jtok *t, char *dst, size_t dstlen);

/* Reads a primitive integer token (optional '-', digits; no fraction or
 * exponent). 0 and *out set, or -1 (not a number, or out of long range). */
int jtok_int(const char *js, const struct jtok *t, long *out);

#endif /* JTOK_H */
