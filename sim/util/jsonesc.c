/*
 * jsonesc.c - otahil_json_escape(): a C string as the inside of a JSON
 * string, for the event log's fields.
 *
 * '"' and '\' get a backslash; \b \f \n \r \t use their short escapes and
 * the other control characters (below 0x20) become \u00XX. Well-formed UTF-8
 * passes through unchanged; a byte that does not start a well-formed UTF-8
 * sequence becomes \ufffd, so the log stays valid JSON whatever a device or
 * a malformed push hands over. Output is cut only between whole characters
 * or escapes, never inside one, and is always NUL-terminated.
 *
 * Freestanding: no OS calls, no allocation.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "event.h"

/* Bytes in the well-formed UTF-8 sequence at s (1 to 4), or 0 if s does not
 * start one (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF). */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t n, k;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4;
    else
        return 0;
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (k = 2; k < n; k++)
        if (s[k] < 0x80 || s[k] > 0xBF)
            return 0;
    return n;
}

char *otahil_json_escape(char *dst, size_t dstlen, const char *src)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)(src != NULL ? src : "");
    size_t used = 0, n, adv;
    char esc[6];
    const char *out;

    if (dst == NULL || dstlen == 0)
        return dst;
    while (*s != '\0') {
        out = esc; /* what to write: n bytes; adv: source bytes consumed */
        esc[0] = '\\';
        n = 2;
        adv = 1;
        switch (*s) {
        case '"':  esc[1] = '"';  break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b';  break;
        case '\f': esc[1] = 'f';  break;
        case '\n': esc[1] = 'n';  break;
        case '\r': esc[1] = 'r';  break;
        case '\t': esc[1] = 't';  break;
        default:
            if (*s < 0x20) {
                memcpy(esc + 1, "u00", 3);
                esc[4] = hex[*s >> 4];
                esc[5] = hex[*s & 0xF];
                n = 6;
            } else if ((adv = utf8_len(s)) != 0) {
                out = (const char *)s;
                n = adv;
            } else {
                out = "\\ufffd";
                n = 6;
                adv = 1;
            }
            break;
        }
        if (used + n >= dstlen)
            break;
        memcpy(dst + used, out, n);
        used += n;
        s += adv;
    }
    dst[used] = '\0';
    return dst;
}
