/*
 * lib/io/json.c — a growable byte buffer and just enough JSON for the
 * safetensors header: a writer for string literals and a pull reader
 * (strings, unsigned integers, skipping any value) that never reads past the
 * text it is given and bounds its nesting depth. The C core must not depend
 * on Lua, so lua-cjson cannot be used here.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "io_internal.h"

#define JSON_MAX_DEPTH 64

/* ---------------------------------------------------------------- buffers */

static bool buf_reserve(sx_buf *b, size_t extra)
{
    if (b->oom) return false;
    if (extra > SIZE_MAX / 2 - b->len) {
        b->oom = true;
        return false;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void sx_buf_put(sx_buf *b, const char *s, size_t n)
{
    if (!buf_reserve(b, n)) return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void sx_buf_puts(sx_buf *b, const char *s) { sx_buf_put(b, s, strlen(s)); }

void sx_buf_printf(sx_buf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    if ((size_t)n < sizeof tmp) {
        sx_buf_put(b, tmp, (size_t)n);
        return;
    }
    if (!buf_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sx_buf_free(sx_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->oom = false;
}

/* ---------------------------------------------------------------- UTF-8 */

bool sx_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
            k = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i <= k) return false;
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xC0) != 0x80) return false;
            cp = cp << 6 | (p[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += k + 1;
    }
    return true;
}

static void put_utf8(sx_buf *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp, n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
    } else {
        u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        u[2] = (char)(0x80 | (cp >> 6 & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
    }
    sx_buf_put(b, u, n);
}

/* ---------------------------------------------------------------- writer */

bool sx_json_put_string(sx_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (!sx_utf8_valid(s, n)) return false;
    sx_buf_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': sx_buf_put(b, "\\\"", 2); break;
        case '\\': sx_buf_put(b, "\\\\", 2); break;
        case '\n': sx_buf_put(b, "\\n", 2); break;
        case '\r': sx_buf_put(b, "\\r", 2); break;
        case '\t': sx_buf_put(b, "\\t", 2); break;
        case '\b': sx_buf_put(b, "\\b", 2); break;
        case '\f': sx_buf_put(b, "\\f", 2); break;
        default:
            if (c < 0x20)
                sx_buf_printf(b, "\\u%04x", c);
            else
                sx_buf_put(b, (const char *)&s[i], 1);
        }
    }
    sx_buf_put(b, "\"", 1);
    return true;
}

/* ---------------------------------------------------------------- reader */

void sx_json_init(sx_json_reader *r, const char *text, size_t len)
{
    r->text = text;
    r->len = len;
    r->pos = 0;
    r->err[0] = '\0';
}

static bool fail(sx_json_reader *r, const char *what)
{
    if (r->pos < r->len) {
        unsigned char c = (unsigned char)r->text[r->pos];
        if (c >= 0x20 && c < 0x7F)
            snprintf(r->err, sizeof r->err, "at byte %zu: %s (found '%c')", r->pos, what, c);
        else
            snprintf(r->err, sizeof r->err, "at byte %zu: %s (found byte 0x%02x)", r->pos, what, c);
    } else {
        snprintf(r->err, sizeof r->err, "at byte %zu: %s (found the end of the header)", r->pos, what);
    }
    return false;
}

static void skip_ws(sx_json_reader *r)
{
    while (r->pos < r->len) {
        char c = r->text[r->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        r->pos++;
    }
}

int sx_json_peek(sx_json_reader *r)
{
    skip_ws(r);
    return r->pos < r->len ? (unsigned char)r->text[r->pos] : -1;
}

bool sx_json_expect(sx_json_reader *r, char c)
{
    if (sx_json_peek(r) != (unsigned char)c) {
        char what[16];
        snprintf(what, sizeof what, "expected '%c'", c);
        return fail(r, what);
    }
    r->pos++;
    return true;
}

bool sx_json_accept(sx_json_reader *r, char c)
{
    if (sx_json_peek(r) != (unsigned char)c) return false;
    r->pos++;
    return true;
}

static int hex4(const char *s)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Decodes a string into b (if non-NULL) or just validates it. */
static bool read_string(sx_json_reader *r, sx_buf *b)
{
    if (sx_json_peek(r) != '"') return fail(r, "expected a string");
    r->pos++;
    size_t raw_start = r->pos;
    sx_buf scratch = {0};
    sx_buf *out = b ? b : &scratch;
    for (;;) {
        if (r->pos >= r->len) {
            sx_buf_free(&scratch);
            return fail(r, "unterminated string");
        }
        unsigned char c = (unsigned char)r->text[r->pos];
        if (c == '"') {
            r->pos++;
            break;
        }
        if (c < 0x20) {
            sx_buf_free(&scratch);
            return fail(r, "control character in a string");
        }
        if (c != '\\') {
            size_t s = r->pos;
            while (r->pos < r->len && r->text[r->pos] != '"' && r->text[r->pos] != '\\' &&
                   (unsigned char)r->text[r->pos] >= 0x20)
                r->pos++;
            sx_buf_put(out, r->text + s, r->pos - s);
            continue;
        }
        if (r->pos + 1 >= r->len) {
            sx_buf_free(&scratch);
            return fail(r, "unterminated string");
        }
        char e = r->text[r->pos + 1];
        const char *simple = NULL;
        switch (e) {
        case '"': simple = "\""; break;
        case '\\': simple = "\\"; break;
        case '/': simple = "/"; break;
        case 'b': simple = "\b"; break;
        case 'f': simple = "\f"; break;
        case 'n': simple = "\n"; break;
        case 'r': simple = "\r"; break;
        case 't': simple = "\t"; break;
        case 'u': break;
        default:
            r->pos++;
            sx_buf_free(&scratch);
            return fail(r, "invalid escape in a string");
        }
        if (simple) {
            sx_buf_put(out, simple, 1);
            r->pos += 2;
            continue;
        }
        int hi = r->pos + 6 <= r->len ? hex4(r->text + r->pos + 2) : -1;
        if (hi < 0) {
            sx_buf_free(&scratch);
            return fail(r, "invalid \\u escape");
        }
        r->pos += 6;
        uint32_t cp = (uint32_t)hi;
        if (hi >= 0xDC00 && hi <= 0xDFFF) {
            r->pos -= 6;
            sx_buf_free(&scratch);
            return fail(r, "lone low surrogate in a string");
        }
        if (hi >= 0xD800 && hi <= 0xDBFF) {
            int lo = r->pos + 6 <= r->len && r->text[r->pos] == '\\' && r->text[r->pos + 1] == 'u'
                         ? hex4(r->text + r->pos + 2) : -1;
            if (lo < 0xDC00 || lo > 0xDFFF) {
                sx_buf_free(&scratch);
                return fail(r, "high surrogate not followed by a low surrogate");
            }
            r->pos += 6;
            cp = 0x10000 + (((uint32_t)hi - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
        }
        put_utf8(out, cp);
    }
    bool oom = out->oom;
    bool ok = !oom && sx_utf8_valid(out->data ? out->data : "", out->len);
    sx_buf_free(&scratch);
    if (!ok) {
        snprintf(r->err, sizeof r->err, "at byte %zu: %s", raw_start,
                 oom ? "out of memory" : "string is not valid UTF-8");
        return false;
    }
    return true;
}

bool sx_json_string(sx_json_reader *r, char **out, size_t *n)
{
    sx_buf b = {0};
    if (!read_string(r, &b)) {
        sx_buf_free(&b);
        return false;
    }
    if (!b.data) {
        b.data = calloc(1, 1);
        if (!b.data) {
            snprintf(r->err, sizeof r->err, "out of memory");
            return false;
        }
    }
    *out = b.data;
    *n = b.len;
    return true;
}

bool sx_json_u64(sx_json_reader *r, uint64_t *out)
{
    int c = sx_json_peek(r);
    if (c < '0' || c > '9') return fail(r, "expected a non-negative integer");
    size_t start = r->pos;
    uint64_t v = 0;
    while (r->pos < r->len && r->text[r->pos] >= '0' && r->text[r->pos] <= '9') {
        unsigned d = (unsigned)(r->text[r->pos] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            r->pos = start;
            return fail(r, "integer too large");
        }
        v = v * 10 + d;
        r->pos++;
    }
    if (r->pos - start > 1 && r->text[start] == '0') {
        r->pos = start;
        return fail(r, "integer with a leading zero");
    }
    if (r->pos < r->len && (r->text[r->pos] == '.' || r->text[r->pos] == 'e' || r->text[r->pos] == 'E')) {
        r->pos = start;
        return fail(r, "expected a non-negative integer");
    }
    *out = v;
    return true;
}

static bool skip_number(sx_json_reader *r)
{
    size_t p = r->pos;
    const char *t = r->text;
#define DIGIT(i) ((i) < r->len && t[i] >= '0' && t[i] <= '9')
    if (p < r->len && t[p] == '-') p++;
    if (!DIGIT(p)) return fail(r, "invalid number");
    if (t[p] == '0')
        p++;
    else
        while (DIGIT(p)) p++;
    if (p < r->len && t[p] == '.') {
        p++;
        if (!DIGIT(p)) return fail(r, "invalid number");
        while (DIGIT(p)) p++;
    }
    if (p < r->len && (t[p] == 'e' || t[p] == 'E')) {
        p++;
        if (p < r->len && (t[p] == '+' || t[p] == '-')) p++;
        if (!DIGIT(p)) return fail(r, "invalid number");
        while (DIGIT(p)) p++;
    }
#undef DIGIT
    r->pos = p;
    return true;
}

/* A number: validated by skip_number, converted by strtod on a copy (the
 * text is not NUL-terminated). */
bool sx_json_number(sx_json_reader *r, double *out)
{
    skip_ws(r);
    size_t start = r->pos;
    if (!skip_number(r)) return false;
    char buf[64];
    size_t n = r->pos - start;
    if (n >= sizeof buf) {
        r->pos = start;
        return fail(r, "number too long");
    }
    memcpy(buf, r->text + start, n);
    buf[n] = 0;
    *out = strtod(buf, NULL);
    return true;
}

static bool skip_value(sx_json_reader *r, int depth)
{
    if (depth > JSON_MAX_DEPTH) return fail(r, "nested too deeply");
    int c = sx_json_peek(r);
    if (c == '"') return read_string(r, NULL);
    if (c == '{') {
        r->pos++;
        if (sx_json_accept(r, '}')) return true;
        do {
            if (!read_string(r, NULL) || !sx_json_expect(r, ':') || !skip_value(r, depth + 1)) return false;
        } while (sx_json_accept(r, ','));
        return sx_json_expect(r, '}');
    }
    if (c == '[') {
        r->pos++;
        if (sx_json_accept(r, ']')) return true;
        do {
            if (!skip_value(r, depth + 1)) return false;
        } while (sx_json_accept(r, ','));
        return sx_json_expect(r, ']');
    }
    if (c == '-' || (c >= '0' && c <= '9')) return skip_number(r);
    static const char *const lits[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(lits[i]);
        if (r->len - r->pos >= n && memcmp(r->text + r->pos, lits[i], n) == 0) {
            r->pos += n;
            return true;
        }
    }
    return fail(r, "expected a value");
}

bool sx_json_skip(sx_json_reader *r) { return skip_value(r, 0); }

bool sx_json_end(sx_json_reader *r)
{
    if (sx_json_peek(r) != -1) return fail(r, "unexpected content after the header object");
    return true;
}
