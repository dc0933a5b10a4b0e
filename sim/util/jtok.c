/*
 * jtok.c - a strict, allocation-free JSON tokenizer for the device side.
 *
 * One pass over the text, no recursion: the open containers are found again
 * through the tokens' parent links, so nesting depth costs nothing but
 * tokens. Grammar is RFC 8259: the root is an object or an array; strings
 * hold no raw control characters and only the escapes \" \\ \/ \b \f \n \r \t
 * and \uXXXX; numbers are -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?;
 * literals are true, false and null. Bytes of 0x80 and above pass unchecked.
 * The only leniency is at the tail: whitespace and NUL bytes may follow the
 * root (a uOTA payload carries its C string terminator).
 *
 * Token shape: an object's children are its keys (JTOK_STRING tokens, each of
 * size 1); a key's only child is its value, the token right after it. An
 * array's children are its elements.
 *
 * Freestanding: no OS calls, no allocation.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "jtok.h"

#define JT_INT_MAX  ((size_t)(~0u >> 1))
#define JT_LONG_MAX ((unsigned long)(~0ul >> 1))

enum expect {
    EXP_VALUE, /* a value (after '[', ',' in an array, ':' or at the root) */
    EXP_KEY,   /* a key string (after '{' or ',' in an object) */
    EXP_COLON, /* ':' after a key */
    EXP_NEXT,  /* ',' or the container's closing bracket */
    EXP_DONE,  /* the root is closed: only whitespace and NUL may follow */
};

struct jparser {
    const char  *js;
    int          end;   /* one past the last byte that is not trailing NUL */
    int          pos;   /* next byte to read */
    struct jtok *toks;
    int          ntoks; /* capacity */
    int          n;     /* tokens used */
};

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A new token, or JTOK_ENOMEM. */
static int tok_new(struct jparser *p, enum jtok_type type, int start, int parent)
{
    struct jtok *t;

    if (p->toks == NULL || p->n >= p->ntoks)
        return JTOK_ENOMEM;
    t = &p->toks[p->n];
    t->type = (uint8_t)type;
    t->start = start;
    t->end = -1;
    t->size = 0;
    t->parent = parent;
    return p->n++;
}

/* Scans a string whose opening quote is at p->pos. On success p->pos is
 * just past the closing quote and *close is the quote's index. */
static int scan_string(struct jparser *p, int *close)
{
    const char *js = p->js;
    int i = p->pos + 1, k;

    while (i < p->end) {
        unsigned char c = (unsigned char)js[i];
        if (c == '"') {
            *close = i;
            p->pos = i + 1;
            return 0;
        }
        if (c < 0x20)
            return JTOK_EINVAL;
        if (c != '\\') {
            i++;
            continue;
        }
        if (++i >= p->end)
            return JTOK_EPART;
        switch (js[i]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            i++;
            break;
        case 'u':
            for (k = 1; k <= 4; k++) {
                if (i + k >= p->end)
                    return JTOK_EPART;
                if (hex_val(js[i + k]) < 0)
                    return JTOK_EINVAL;
            }
            i += 5;
            break;
        default:
            return JTOK_EINVAL;
        }
    }
    return JTOK_EPART;
}

/* After a primitive: the input must go on, with a delimiter. */
static int primitive_end(const struct jparser *p, int i)
{
    char c;

    if (i >= p->end)
        return JTOK_EPART;
    c = p->js[i];
    if (is_ws(c) || c == ',' || c == ']' || c == '}')
        return 0;
    return JTOK_EINVAL;
}

static int scan_digits(const struct jparser *p, int i, int *out)
{
    if (i >= p->end)
        return JTOK_EPART;
    if (!is_digit(p->js[i]))
        return JTOK_EINVAL;
    while (i < p->end && is_digit(p->js[i]))
        i++;
    *out = i;
    return 0;
}

/* Scans a number or literal starting at p->pos; p->pos ends past it. */
static int scan_primitive(struct jparser *p)
{
    static const char *const words[] = {"true", "false", "null"};
    const char *js = p->js;
    int i = p->pos, rc, w, k;

    if (js[i] == '-' || is_digit(js[i])) {
        if (js[i] == '-')
            i++;
        if (i >= p->end)
            return JTOK_EPART;
        if (js[i] == '0')
            i++;
        else if ((rc = scan_digits(p, i, &i)) != 0)
            return rc;
        if (i < p->end && js[i] == '.' && (rc = scan_digits(p, i + 1, &i)) != 0)
            return rc;
        if (i < p->end && (js[i] == 'e' || js[i] == 'E')) {
            i++;
            if (i < p->end && (js[i] == '+' || js[i] == '-'))
                i++;
            if ((rc = scan_digits(p, i, &i)) != 0)
                return rc;
        }
    } else {
        for (w = 0; w < 3; w++)
            if (js[i] == words[w][0])
                break;
        if (w == 3)
            return JTOK_EINVAL;
        for (k = 1; words[w][k] != '\0'; k++) {
            if (i + k >= p->end)
                return JTOK_EPART;
            if (js[i + k] != words[w][k])
                return JTOK_EINVAL;
        }
        i += k;
    }
    if ((rc = primitive_end(p, i)) != 0)
        return rc;
    p->pos = i;
    return 0;
}

/* Links a new value token to what it belongs to: an array, or a key. */
static void attach(struct jparser *p, int tok, int sup)
{
    p->toks[tok].parent = sup;
    if (sup < 0)
        return;
    if (p->toks[sup].type == JTOK_ARRAY)
        p->toks[sup].size++;
    else
        p->toks[sup].size = 1; /* a key holds exactly one value */
}

/* Closes the innermost container with bracket c and steps out to the
 * container holding it (through its key, inside an object). */
static int close_container(struct jparser *p, int *cur, char c)
{
    int parent;

    if (*cur < 0 || p->toks[*cur].type != (c == '}' ? JTOK_OBJECT : JTOK_ARRAY))
        return JTOK_EINVAL;
    p->toks[*cur].end = ++p->pos;
    parent = p->toks[*cur].parent;
    if (parent >= 0 && p->toks[parent].type == JTOK_STRING)
        parent = p->toks[parent].parent;
    *cur = parent;
    return 0;
}

int jtok_parse(const char *js, size_t len, struct jtok *toks, int ntoks)
{
    struct jparser p;
    enum expect expect = EXP_VALUE;
    int cur = -1;      /* innermost open container */
    int sup = -1;      /* where the next value attaches: an array, or a key */
    int opened = 0;    /* the last thing read opened cur: it may close at once */
    int just_opened, tok, start, close, rc;
    char c;

    if (js == NULL || len > JT_INT_MAX)
        return JTOK_EINVAL;
    p.js = js;
    p.end = (int)len;
    while (p.end > 0 && js[p.end - 1] == '\0')
        p.end--;
    p.pos = 0;
    p.toks = toks;
    p.ntoks = toks != NULL && ntoks > 0 ? ntoks : 0;
    p.n = 0;

    while (p.pos < p.end) {
        c = js[p.pos];
        if (is_ws(c) || (expect == EXP_DONE && c == '\0')) {
            p.pos++;
            continue;
        }
        just_opened = opened;
        opened = 0;

        switch (expect) {
        case EXP_DONE:
            return JTOK_EINVAL;

        case EXP_COLON:
            if (c != ':')
                return JTOK_EINVAL;
            p.pos++;
            expect = EXP_VALUE;
            break;

        case EXP_KEY:
            if (c == '}' && just_opened) { /* {} */
                close_container(&p, &cur, c);
                expect = cur < 0 ? EXP_DONE : EXP_NEXT;
                break;
            }
            if (c != '"')
                return JTOK_EINVAL;
            start = p.pos + 1;
            if ((rc = scan_string(&p, &close)) != 0)
                return rc;
            if ((tok = tok_new(&p, JTOK_STRING, start, cur)) < 0)
                return tok;
            p.toks[tok].end = close;
            p.toks[cur].size++;
            sup = tok;
            expect = EXP_COLON;
            break;

        case EXP_NEXT:
            if (c == ',') {
                p.pos++;
                if (p.toks[cur].type == JTOK_OBJECT) {
                    expect = EXP_KEY;
                } else {
                    sup = cur;
                    expect = EXP_VALUE;
                }
                break;
            }
            if (c != '}' && c != ']')
                return JTOK_EINVAL;
            if ((rc = close_container(&p, &cur, c)) != 0)
                return rc;
            expect = cur < 0 ? EXP_DONE : EXP_NEXT;
            break;

        case EXP_VALUE:
            if (c == ']' && just_opened) { /* [] */
                close_container(&p, &cur, c);
                expect = cur < 0 ? EXP_DONE : EXP_NEXT;
                break;
            }
            if (c == '{' || c == '[') {
                if ((tok = tok_new(&p, c == '{' ? JTOK_OBJECT : JTOK_ARRAY, p.pos, -1)) < 0)
                    return tok;
                attach(&p, tok, sup);
                cur = sup = tok;
                p.pos++;
                opened = 1;
                expect = c == '{' ? EXP_KEY : EXP_VALUE;
                break;
            }
            if (cur < 0) /* the root must be an object or an array */
                return JTOK_EINVAL;
            if (c == '"') {
                start = p.pos + 1;
                if ((rc = scan_string(&p, &close)) != 0)
                    return rc;
            } else {
                start = p.pos;
                if ((rc = scan_primitive(&p)) != 0)
                    return rc;
                close = p.pos;
            }
            if ((tok = tok_new(&p, c == '"' ? JTOK_STRING : JTOK_PRIMITIVE, start, -1)) < 0)
                return tok;
            p.toks[tok].end = close;
            attach(&p, tok, sup);
            expect = EXP_NEXT;
            break;
        }
    }
    if (expect == EXP_DONE)
        return p.n;
    return p.n == 0 ? JTOK_EINVAL : JTOK_EPART;
}

/* The value of the 4 hex digits at js[k..k+4), or -1. */
static int hex4(const char *js, int k, int end)
{
    int v = 0, d, h;

    if (k + 4 > end)
        return -1;
    for (d = 0; d < 4; d++) {
        if ((h = hex_val(js[k + d])) < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

/* Decodes the character of string content at *i (< end) into out and
 * advances *i. Returns the number of bytes written (1 to 4). A \u escape of
 * a lone surrogate becomes U+FFFD. */
static int decode_char(const char *js, int *i, int end, unsigned char out[4])
{
    uint32_t cp;
    int k = *i, v;

    if (js[k] != '\\' || k + 1 >= end) {
        out[0] = (unsigned char)js[k];
        *i = k + 1;
        return 1;
    }
    switch (js[k + 1]) {
    case 'b': out[0] = '\b'; break;
    case 'f': out[0] = '\f'; break;
    case 'n': out[0] = '\n'; break;
    case 'r': out[0] = '\r'; break;
    case 't': out[0] = '\t'; break;
    case 'u':
        if ((v = hex4(js, k + 2, end)) < 0)
            goto raw;
        cp = (uint32_t)v;
        k += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF && k + 1 < end && js[k] == '\\' && js[k + 1] == 'u' &&
            (v = hex4(js, k + 2, end)) >= 0xDC00 && v <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)v - 0xDC00);
            k += 6;
        }
        if (cp >= 0xD800 && cp <= 0xDFFF)
            cp = 0xFFFD;
        *i = k;
        if (cp < 0x80) {
            out[0] = (unsigned char)cp;
            return 1;
        }
        if (cp < 0x800) {
            out[0] = (unsigned char)(0xC0 | cp >> 6);
            out[1] = (unsigned char)(0x80 | (cp & 0x3F));
            return 2;
        }
        if (cp < 0x10000) {
            out[0] = (unsigned char)(0xE0 | cp >> 12);
            out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            out[2] = (unsigned char)(0x80 | (cp & 0x3F));
            return 3;
        }
        out[0] = (unsigned char)(0xF0 | cp >> 18);
        out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (unsigned char)(0x80 | (cp & 0x3F));
        return 4;
    default: /* \" \\ \/ stand for themselves */
        out[0] = (unsigned char)js[k + 1];
        break;
    }
    *i = k + 2;
    return 1;
raw: /* not a well-formed escape (a token jtok_parse did not make) */
    out[0] = '\\';
    *i = k + 1;
    return 1;
}

static int is_string(const struct jtok *t)
{
    return t != NULL && t->type == JTOK_STRING && t->start >= 0 && t->end >= t->start;
}

int jtok_find(const char *js, const struct jtok *toks, int ntoks, int obj, const char *key)
{
    int i;

    if (js == NULL || toks == NULL || key == NULL || obj < 0 || obj >= ntoks ||
        toks[obj].type != JTOK_OBJECT)
        return -1;
    for (i = obj + 1; i + 1 < ntoks && toks[i].start < toks[obj].end; i++)
        if (toks[i].parent == obj && jtok_streq(js, &toks[i], key))
            return i + 1;
    return -1;
}

int jtok_streq(const char *js, const struct jtok *t, const char *s)
{
    unsigned char ch[4];
    size_t k = 0;
    int i, n, j;

    if (js == NULL || s == NULL || !is_string(t))
        return 0;
    for (i = t->start; i < t->end;) {
        n = decode_char(js, &i, t->end, ch);
        for (j = 0; j < n; j++, k++)
            if (s[k] == '\0' || (unsigned char)s[k] != ch[j])
                return 0;
    }
    return s[k] == '\0';
}

int jtok_copy(const char *js, const struct jtok *t, char *dst, size_t dstlen)
{
    unsigned char ch[4];
    size_t k = 0;
    int i, n, j;

    if (js == NULL || !is_string(t)) {
        if (dst != NULL && dstlen > 0)
            dst[0] = '\0';
        return -2;
    }
    if (dst == NULL)
        dstlen = 0;
    for (i = t->start; i < t->end;) {
        n = decode_char(js, &i, t->end, ch);
        for (j = 0; j < n; j++, k++)
            if (k + 1 < dstlen)
                dst[k] = (char)ch[j];
    }
    if (k + 1 > dstlen) {
        if (dstlen > 0)
            dst[dstlen - 1] = '\0';
        return -1;
    }
    dst[k] = '\0';
    return (int)k;
}

int jtok_int(const char *js, const struct jtok *t, long *out)
{
    unsigned long acc = 0, limit = JT_LONG_MAX;
    unsigned d;
    int i, neg = 0;

    if (js == NULL || t == NULL || out == NULL || t->type != JTOK_PRIMITIVE ||
        t->start < 0 || t->end <= t->start)
        return -1;
    i = t->start;
    if (js[i] == '-') {
        neg = 1;
        limit = JT_LONG_MAX + 1ul;
        i++;
    }
    if (i >= t->end)
        return -1;
    for (; i < t->end; i++) {
        if (!is_digit(js[i]))
            return -1;
        d = (unsigned)(js[i] - '0');
        if (acc > (limit - d) / 10)
            return -1;
        acc = acc * 10 + d;
    }
    if (neg)
        *out = acc == JT_LONG_MAX + 1ul ? -(long)JT_LONG_MAX - 1 : -(long)acc;
    else
        *out = (long)acc;
    return 0;
}
