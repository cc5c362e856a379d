/*
 * lib/io/safetensors.c — checkpoints in the safetensors format, readable by
 * the Python `safetensors` package.
 *
 * File = u64 little-endian header length N, N bytes of UTF-8 JSON (padded with
 * spaces so that the data starts at a multiple of 8), then the tensor bytes.
 * The header maps each tensor name to {"dtype", "shape", "data_offsets":
 * [begin, end]} (offsets relative to the start of the data) and may hold
 * "__metadata__": {string: string}. We write float32 only, tensors in the
 * order given and back to back. We read every common dtype, and refuse a file
 * whose byte ranges do not tile the data region exactly: no overlaps, no
 * gaps, no overruns, no trailing bytes (the rules of the Python reader).
 *
 * Reading is bounded by the file: a shape must match its byte range, and
 * every range must lie inside the file, before anything is allocated for it.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/internal.h"
#include "io_internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_LE 1
#else
#define HOST_LE 0
#endif

/* ---------------------------------------------------------------- dtypes */

typedef enum st_dtype {
    ST_F32, ST_F64, ST_F16, ST_BF16, ST_I64, ST_I32, ST_I16, ST_I8,
    ST_U64, ST_U32, ST_U16, ST_U8, ST_BOOL, ST_NDTYPES
} st_dtype;

static const struct {
    const char *name;
    int size;
} st_dtypes[ST_NDTYPES] = {
    [ST_F32] = {"F32", 4},  [ST_F64] = {"F64", 8}, [ST_F16] = {"F16", 2}, [ST_BF16] = {"BF16", 2},
    [ST_I64] = {"I64", 8},  [ST_I32] = {"I32", 4}, [ST_I16] = {"I16", 2}, [ST_I8] = {"I8", 1},
    [ST_U64] = {"U64", 8},  [ST_U32] = {"U32", 4}, [ST_U16] = {"U16", 2}, [ST_U8] = {"U8", 1},
    [ST_BOOL] = {"BOOL", 1},
};

static uint64_t load_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = h >> 10 & 0x1F, mant = h & 0x3FF, bits;
    if (exp == 0) {
        float f = ldexpf((float)mant, -24);
        return sign ? -f : f;
    }
    if (exp == 31)
        bits = sign | 0x7F800000u | mant << 13;
    else
        bits = sign | (exp + 112) << 23 | mant << 13;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float decode(const unsigned char *p, st_dtype dt)
{
    uint64_t u = load_le(p, st_dtypes[dt].size);
    switch (dt) {
    case ST_F32: {
        uint32_t b = (uint32_t)u;
        float f;
        memcpy(&f, &b, 4);
        return f;
    }
    case ST_F64: {
        double d;
        memcpy(&d, &u, 8);
        return (float)d;
    }
    case ST_F16: return half_to_float((uint16_t)u);
    case ST_BF16: {
        uint32_t b = (uint32_t)u << 16;
        float f;
        memcpy(&f, &b, 4);
        return f;
    }
    case ST_I64: return (float)(int64_t)u;
    case ST_I32: return (float)(int32_t)(uint32_t)u;
    case ST_I16: return (float)(int16_t)(uint16_t)u;
    case ST_I8: return (float)(int8_t)(uint8_t)u;
    case ST_BOOL: return u ? 1.0f : 0.0f;
    default: return (float)u;
    }
}

/* ---------------------------------------------------------------- saving */

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first duplicate among strs[0..n), or NULL. */
static const char *find_duplicate(int n, const char *const *strs, sx_status *st)
{
    *st = SX_OK;
    if (n < 2) return NULL;
    const char **s = malloc(sizeof *s * (size_t)n);
    if (!s) {
        *st = SX_ENOMEM;
        return NULL;
    }
    memcpy(s, strs, sizeof *s * (size_t)n);
    qsort(s, (size_t)n, sizeof *s, cmp_str_ptr);
    const char *dup = NULL;
    for (int i = 1; i < n && !dup; i++)
        if (strcmp(s[i - 1], s[i]) == 0) dup = s[i];
    free(s);
    return dup;
}

static sx_status check_save_args(const char *path, int n, const char *const *names, sx_tensor *const *tensors,
                                 int n_meta, const char *const *keys, const char *const *values)
{
    const char *fn = "sx_safetensors_save";
    if (!path) return sx_fail(SX_EINVAL, "%s: path is NULL", fn);
    if (n < 0 || n_meta < 0) return sx_fail(SX_EINVAL, "%s: negative count", fn);
    if (n > 0 && (!names || !tensors)) return sx_fail(SX_EINVAL, "%s: names or tensors is NULL", fn);
    if (n_meta > 0 && (!keys || !values)) return sx_fail(SX_EINVAL, "%s: metadata keys or values is NULL", fn);
    for (int i = 0; i < n; i++) {
        if (!names[i] || !names[i][0]) return sx_fail(SX_EINVAL, "%s: tensor #%d has no name", fn, i + 1);
        if (strcmp(names[i], "__metadata__") == 0)
            return sx_fail(SX_EINVAL, "%s: \"__metadata__\" cannot be a tensor name", fn);
        if (!sx_utf8_valid(names[i], strlen(names[i])))
            return sx_fail(SX_EINVAL, "%s: tensor name #%d is not valid UTF-8", fn, i + 1);
        if (!tensors[i]) return sx_fail(SX_EINVAL, "%s: tensor '%s' is NULL", fn, names[i]);
    }
    for (int i = 0; i < n_meta; i++) {
        if (!keys[i] || !values[i]) return sx_fail(SX_EINVAL, "%s: metadata entry #%d is NULL", fn, i + 1);
        if (!sx_utf8_valid(keys[i], strlen(keys[i])) || !sx_utf8_valid(values[i], strlen(values[i])))
            return sx_fail(SX_EINVAL, "%s: metadata entry '%s' is not valid UTF-8", fn, keys[i]);
    }
    sx_status st;
    const char *dup = find_duplicate(n, names, &st);
    if (st != SX_OK) return sx_fail(st, "%s: out of memory", fn);
    if (dup) return sx_fail(SX_EINVAL, "%s: duplicate tensor name '%s'", fn, dup);
    dup = find_duplicate(n_meta, keys, &st);
    if (st != SX_OK) return sx_fail(st, "%s: out of memory", fn);
    if (dup) return sx_fail(SX_EINVAL, "%s: duplicate metadata key '%s'", fn, dup);
    return SX_OK;
}

/* The JSON header, padded with spaces to a multiple of 8 bytes. */
static sx_status build_header(sx_buf *b, int n, const char *const *names, sx_tensor *const *tensors, int n_meta,
                              const char *const *keys, const char *const *values)
{
    uint64_t offset = 0;
    sx_buf_put(b, "{", 1);
    for (int i = 0; i < n; i++) {
        const sx_tensor *t = tensors[i];
        uint64_t bytes = (uint64_t)sx_tensor_numel(t) * 4;
        if (i) sx_buf_put(b, ",", 1);
        sx_json_put_string(b, names[i]);
        sx_buf_puts(b, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) sx_buf_printf(b, d ? ",%lld" : "%lld", (long long)t->shape[d]);
        sx_buf_printf(b, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
                      (unsigned long long)(offset + bytes));
        offset += bytes;
    }
    if (n_meta > 0) {
        sx_buf_puts(b, n ? ",\"__metadata__\":{" : "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i) sx_buf_put(b, ",", 1);
            sx_json_put_string(b, keys[i]);
            sx_buf_put(b, ":", 1);
            sx_json_put_string(b, values[i]);
        }
        sx_buf_put(b, "}", 1);
    }
    sx_buf_put(b, "}", 1);
    while (b->len % 8) sx_buf_put(b, " ", 1);
    if (b->oom) return sx_fail(SX_ENOMEM, "sx_safetensors_save: out of memory building the header");
    if (b->len > SX_SAFETENSORS_MAX_HEADER)
        return sx_fail(SX_EINVAL, "sx_safetensors_save: header of %zu bytes exceeds the %llu-byte limit", b->len,
                       (unsigned long long)SX_SAFETENSORS_MAX_HEADER);
    return SX_OK;
}

/* Writes t's values as float32 little-endian. */
static bool write_tensor(FILE *f, const sx_tensor *t)
{
    int64_t n = sx_tensor_numel(t);
    if (n == 0) return true;
    if (HOST_LE && sx_tensor_is_contiguous(t)) return fwrite(sx_tensor_data(t), 4, (size_t)n, f) == (size_t)n;
    float *tmp = malloc((size_t)n * sizeof *tmp);
    if (!tmp) {
        errno = ENOMEM;
        return false;
    }
    sx_tensor_copy_to(t, tmp);
    if (!HOST_LE) {
        for (int64_t i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, &tmp[i], 4);
            u = (u >> 24) | (u >> 8 & 0xFF00) | (u << 8 & 0xFF0000) | (u << 24);
            memcpy(&tmp[i], &u, 4);
        }
    }
    bool ok = fwrite(tmp, 4, (size_t)n, f) == (size_t)n;
    free(tmp);
    return ok;
}

sx_status sx_safetensors_save(const char *path, int n, const char *const *names, sx_tensor *const *tensors,
                              int n_meta, const char *const *meta_keys, const char *const *meta_values)
{
    sx_status st = check_save_args(path, n, names, tensors, n_meta, meta_keys, meta_values);
    if (st != SX_OK) return st;
    sx_buf header = {0};
    st = build_header(&header, n, names, tensors, n_meta, meta_keys, meta_values);
    if (st != SX_OK) {
        sx_buf_free(&header);
        return st;
    }
    /* a killed save left "<path>.tmp-<pid>" (a checkpoint: tens of MB); not
     * done for PNGs, of which a folder may hold thousands */
    sx_remove_stale_temporaries(path);
    sx_tmpfile tf;
    st = sx_tmpfile_open(&tf, "safetensors", path);
    if (st != SX_OK) {
        sx_buf_free(&header);
        return st;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)header.len >> (8 * i));
    bool ok = fwrite(len8, 1, 8, tf.f) == 8 && fwrite(header.data, 1, header.len, tf.f) == header.len;
    sx_buf_free(&header);
    for (int i = 0; i < n && ok; i++) ok = write_tensor(tf.f, tensors[i]);
    if (!ok) {
        sx_fail(SX_EIO, "safetensors: %s: write failed: %s", tf.tmp_path, strerror(errno));
        sx_tmpfile_abort(&tf);
        return SX_EIO;
    }
    return sx_tmpfile_commit(&tf, "safetensors");
}

/* ---------------------------------------------------------------- loading */

typedef struct st_entry {
    char *name;                 /* owned until moved into the result */
    int dtype;                  /* st_dtype, or -1 while unknown */
    char *dtype_name;           /* owned: as written in the header */
    int ndim;                   /* -1 while missing; may exceed SX_MAX_DIMS (refused later) */
    int64_t shape[SX_MAX_DIMS];
    bool has_offsets;
    uint64_t begin, end;        /* byte range relative to the data start */
} st_entry;

typedef struct st_parse {
    const char *path;
    sx_json_reader r;
    st_entry *entries;
    int n, cap;
    char **meta_keys, **meta_values;
    int n_meta, meta_cap;
    bool have_meta;
} st_parse;

static void parse_free(st_parse *p)
{
    for (int i = 0; i < p->n; i++) {
        free(p->entries[i].name);
        free(p->entries[i].dtype_name);
    }
    free(p->entries);
    for (int i = 0; i < p->n_meta; i++) {
        free(p->meta_keys[i]);
        free(p->meta_values[i]);
    }
    free(p->meta_keys);
    free(p->meta_values);
}

static sx_status json_fail(st_parse *p)
{
    return sx_fail(SX_EFORMAT, "safetensors: %s: malformed JSON header %s", p->path, p->r.err);
}

/* A string without NUL bytes (which C strings cannot hold). */
static sx_status parse_cstring(st_parse *p, char **out, const char *what)
{
    size_t n;
    if (!sx_json_string(&p->r, out, &n)) return json_fail(p);
    if (strlen(*out) != n) {
        free(*out);
        *out = NULL;
        return sx_fail(SX_EFORMAT, "safetensors: %s: %s contains a NUL character", p->path, what);
    }
    return SX_OK;
}

static sx_status parse_metadata(st_parse *p)
{
    if (p->have_meta) return sx_fail(SX_EFORMAT, "safetensors: %s: \"__metadata__\" appears twice", p->path);
    p->have_meta = true;
    if (!sx_json_expect(&p->r, '{')) return json_fail(p);
    if (sx_json_accept(&p->r, '}')) return SX_OK;
    do {
        if (p->n_meta == p->meta_cap) {
            int cap = p->meta_cap ? 2 * p->meta_cap : 8;
            char **k = realloc(p->meta_keys, sizeof *k * (size_t)cap);
            if (k) p->meta_keys = k;
            char **v = realloc(p->meta_values, sizeof *v * (size_t)cap);
            if (v) p->meta_values = v;
            if (!k || !v) return sx_fail(SX_ENOMEM, "safetensors: %s: out of memory", p->path);
            p->meta_cap = cap;
        }
        char *key = NULL, *value = NULL;
        sx_status st = parse_cstring(p, &key, "a metadata key");
        if (st != SX_OK) return st;
        if (!sx_json_expect(&p->r, ':')) {
            free(key);
            return json_fail(p);
        }
        if (sx_json_peek(&p->r) != '"') {
            st = sx_fail(SX_EFORMAT, "safetensors: %s: __metadata__ value of '%s' is not a string", p->path, key);
            free(key);
            return st;
        }
        st = parse_cstring(p, &value, "a metadata value");
        if (st != SX_OK) {
            free(key);
            return st;
        }
        p->meta_keys[p->n_meta] = key;
        p->meta_values[p->n_meta++] = value;
    } while (sx_json_accept(&p->r, ','));
    if (!sx_json_expect(&p->r, '}')) return json_fail(p);
    sx_status st;
    const char *dup = find_duplicate(p->n_meta, (const char *const *)p->meta_keys, &st);
    if (st != SX_OK) return sx_fail(st, "safetensors: %s: out of memory", p->path);
    if (dup) return sx_fail(SX_EFORMAT, "safetensors: %s: duplicate metadata key '%s'", p->path, dup);
    return SX_OK;
}

static sx_status parse_tensor_info(st_parse *p, st_entry *e)
{
    if (!sx_json_expect(&p->r, '{')) return json_fail(p);
    if (!sx_json_accept(&p->r, '}')) {
        do {
            char *field = NULL;
            size_t fl;
            if (!sx_json_string(&p->r, &field, &fl) || !sx_json_expect(&p->r, ':')) {
                free(field);
                return json_fail(p);
            }
            bool dup = false;
            sx_status st = SX_OK;
            if (strcmp(field, "dtype") == 0) {
                dup = e->dtype_name != NULL;
                if (!dup) st = parse_cstring(p, &e->dtype_name, "a dtype");
            } else if (strcmp(field, "shape") == 0) {
                dup = e->ndim >= 0;
                if (!dup && !sx_json_expect(&p->r, '[')) st = json_fail(p);
                if (!dup && st == SX_OK) {
                    e->ndim = 0;
                    if (!sx_json_accept(&p->r, ']')) {
                        do {
                            uint64_t v;
                            if (!sx_json_u64(&p->r, &v)) {
                                st = json_fail(p);
                                break;
                            }
                            if (e->ndim >= SX_MAX_DIMS) {
                                st = sx_fail(SX_EFORMAT,
                                             "safetensors: %s: tensor '%s' has more than %d dimensions", p->path,
                                             e->name, SX_MAX_DIMS);
                                break;
                            }
                            if (v > (uint64_t)SX_MAX_NUMEL) {
                                st = sx_fail(SX_EFORMAT, "safetensors: %s: tensor '%s' has absurd size %llu",
                                             p->path, e->name, (unsigned long long)v);
                                break;
                            }
                            e->shape[e->ndim++] = (int64_t)v;
                        } while (sx_json_accept(&p->r, ','));
                        if (st == SX_OK && !sx_json_expect(&p->r, ']')) st = json_fail(p);
                    }
                }
            } else if (strcmp(field, "data_offsets") == 0) {
                dup = e->has_offsets;
                e->has_offsets = true;
                if (!dup && !(sx_json_expect(&p->r, '[') && sx_json_u64(&p->r, &e->begin) &&
                              sx_json_expect(&p->r, ',') && sx_json_u64(&p->r, &e->end) &&
                              sx_json_expect(&p->r, ']')))
                    st = json_fail(p);
            } else if (!sx_json_skip(&p->r)) {
                st = json_fail(p);
            }
            if (dup)
                st = sx_fail(SX_EFORMAT, "safetensors: %s: tensor '%s' has field \"%s\" twice", p->path, e->name,
                             field);
            free(field);
            if (st != SX_OK) return st;
        } while (sx_json_accept(&p->r, ','));
        if (!sx_json_expect(&p->r, '}')) return json_fail(p);
    }
    const char *missing = !e->dtype_name ? "dtype" : e->ndim < 0 ? "shape" : !e->has_offsets ? "data_offsets" : NULL;
    if (missing)
        return sx_fail(SX_EFORMAT, "safetensors: %s: tensor '%s' has no \"%s\"", p->path, e->name, missing);
    for (int d = 0; d < ST_NDTYPES; d++)
        if (strcmp(e->dtype_name, st_dtypes[d].name) == 0) e->dtype = d;
    if (e->dtype < 0)
        return sx_fail(SX_EFORMAT,
                       "safetensors: %s: tensor '%s' has unsupported dtype \"%s\" (supported: F32 F64 F16 BF16 "
                       "I64 I32 I16 I8 U64 U32 U16 U8 BOOL)",
                       p->path, e->name, e->dtype_name);
    return SX_OK;
}

static sx_status parse_header(st_parse *p)
{
    if (!sx_json_expect(&p->r, '{')) return json_fail(p);
    if (!sx_json_accept(&p->r, '}')) {
        do {
            char *key = NULL;
            sx_status st = parse_cstring(p, &key, "a tensor name");
            if (st != SX_OK) return st;
            if (!sx_json_expect(&p->r, ':')) {
                free(key);
                return json_fail(p);
            }
            if (strcmp(key, "__metadata__") == 0) {
                free(key);
                st = parse_metadata(p);
                if (st != SX_OK) return st;
                continue;
            }
            if (p->n == p->cap) {
                int cap = p->cap ? 2 * p->cap : 16;
                st_entry *ne = realloc(p->entries, sizeof *ne * (size_t)cap);
                if (!ne) {
                    free(key);
                    return sx_fail(SX_ENOMEM, "safetensors: %s: out of memory", p->path);
                }
                p->entries = ne;
                p->cap = cap;
            }
            st_entry *e = &p->entries[p->n++];
            *e = (st_entry){.name = key, .dtype = -1, .ndim = -1};
            st = parse_tensor_info(p, e);
            if (st != SX_OK) return st;
        } while (sx_json_accept(&p->r, ','));
        if (!sx_json_expect(&p->r, '}')) return json_fail(p);
    }
    if (!sx_json_end(&p->r)) return json_fail(p);
    return SX_OK;
}

static int cmp_entry_name(const void *a, const void *b)
{
    return strcmp((*(st_entry *const *)a)->name, (*(st_entry *const *)b)->name);
}

static int cmp_entry_range(const void *a, const void *b)
{
    const st_entry *x = *(st_entry *const *)a, *y = *(st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Checks names, shapes against byte ranges, and that the ranges tile
 * [0, data_len) exactly. On success order[] lists the entries by offset. */
static sx_status check_layout(st_parse *p, uint64_t data_len, st_entry **order)
{
    const char *path = p->path;
    for (int i = 0; i < p->n; i++) order[i] = &p->entries[i];
    qsort(order, (size_t)p->n, sizeof *order, cmp_entry_name);
    for (int i = 1; i < p->n; i++)
        if (strcmp(order[i - 1]->name, order[i]->name) == 0)
            return sx_fail(SX_EFORMAT, "safetensors: %s: duplicate tensor name '%s'", path, order[i]->name);

    for (int i = 0; i < p->n; i++) {
        st_entry *e = &p->entries[i];
        if (e->begin > e->end)
            return sx_fail(SX_EFORMAT, "safetensors: %s: tensor '%s' has data_offsets [%llu, %llu] with begin > end",
                           path, e->name, (unsigned long long)e->begin, (unsigned long long)e->end);
        uint64_t bytes = (uint64_t)st_dtypes[e->dtype].size;
        bool overflow = false;
        for (int d = 0; d < e->ndim; d++) {
            uint64_t s = (uint64_t)e->shape[d];
            if (s && bytes > UINT64_MAX / s) overflow = true;
            bytes = overflow ? 0 : bytes * s;
        }
        if (overflow || bytes != e->end - e->begin) {
            char sh[128], need[32];
            snprintf(need, sizeof need, overflow ? "more than 2^64" : "%llu", (unsigned long long)bytes);
            size_t k = (size_t)snprintf(sh, sizeof sh, "[");
            for (int d = 0; d < e->ndim && k < sizeof sh; d++)
                k += (size_t)snprintf(sh + k, sizeof sh - k, d ? ", %lld" : "%lld", (long long)e->shape[d]);
            if (k < sizeof sh) snprintf(sh + k, sizeof sh - k, "]");
            return sx_fail(SX_EFORMAT,
                           "safetensors: %s: tensor '%s' of shape %s and dtype %s needs %s bytes but its "
                           "data_offsets [%llu, %llu] span %llu",
                           path, e->name, sh, st_dtypes[e->dtype].name, need,
                           (unsigned long long)e->begin, (unsigned long long)e->end,
                           (unsigned long long)(e->end - e->begin));
        }
        if (!sx_shape_check("safetensors", e->ndim, e->shape))
            return sx_fail(SX_EFORMAT, "safetensors: %s: tensor '%s' has an absurd shape (more than %lld elements "
                           "or strides)", path, e->name, (long long)SX_MAX_NUMEL);
        if (e->end > data_len)
            return sx_fail(SX_EFORMAT,
                           "safetensors: %s: tensor '%s' data_offsets [%llu, %llu] overrun the data (%llu bytes)",
                           path, e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                           (unsigned long long)data_len);
    }

    qsort(order, (size_t)p->n, sizeof *order, cmp_entry_range);
    uint64_t expected = 0;
    for (int i = 0; i < p->n; i++) {
        st_entry *e = order[i];
        if (e->begin < expected)
            return sx_fail(SX_EFORMAT, "safetensors: %s: tensor '%s' [%llu, %llu] overlaps tensor '%s' (ending at %llu)",
                           path, e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                           order[i - 1]->name, (unsigned long long)expected);
        if (e->begin > expected)
            return sx_fail(SX_EFORMAT, "safetensors: %s: gap of %llu bytes before tensor '%s' (at %llu, expected %llu)",
                           path, (unsigned long long)(e->begin - expected), e->name,
                           (unsigned long long)e->begin, (unsigned long long)expected);
        expected = e->end;
    }
    if (expected != data_len)
        return sx_fail(SX_EFORMAT, "safetensors: %s: %llu bytes after the last tensor's data (expected none)", path,
                       (unsigned long long)(data_len - expected));
    return SX_OK;
}

/* Reads e's bytes (at file offset base + e->begin, already positioned) into t. */
static sx_status read_tensor(FILE *f, const char *path, const st_entry *e, sx_tensor *t)
{
    float *dst = sx_tensor_data(t);
    int64_t n = sx_tensor_numel(t);
    int es = st_dtypes[e->dtype].size;
    if (e->dtype == ST_F32 && HOST_LE) {
        if (n > 0 && fread(dst, 4, (size_t)n, f) != (size_t)n) goto short_read;
        return SX_OK;
    }
    unsigned char buf[1 << 16];
    int64_t per = (int64_t)sizeof buf / es;
    for (int64_t i = 0; i < n; i += per) {
        int64_t m = n - i < per ? n - i : per;
        if (fread(buf, (size_t)es, (size_t)m, f) != (size_t)m) goto short_read;
        for (int64_t k = 0; k < m; k++) dst[i + k] = decode(buf + k * es, (st_dtype)e->dtype);
    }
    return SX_OK;
short_read:
    if (ferror(f)) return sx_fail(SX_EIO, "safetensors: %s: read failed: %s", path, strerror(errno));
    return sx_fail(SX_EFORMAT, "safetensors: %s: file shrank while reading tensor '%s'", path, e->name);
}

void sx_safetensors_free(sx_safetensors *st)
{
    if (!st) return;
    for (int i = 0; i < st->n; i++) {
        free(st->names ? st->names[i] : NULL);
        sx_tensor_free(st->tensors ? st->tensors[i] : NULL);
    }
    for (int i = 0; i < st->n_meta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_values[i]);
    }
    free(st->names);
    free(st->tensors);
    free(st->meta_keys);
    free(st->meta_values);
    free(st);
}

/* Reads the header (and, with tensors, the data) of the open file f into res. */
static sx_status load_file(FILE *f, const char *path, bool tensors, sx_safetensors *res)
{
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) return sx_fail(SX_EIO, "safetensors: %s: cannot stat: %s", path, strerror(errno));
    uint64_t size = sb.st_size > 0 ? (uint64_t)sb.st_size : 0;
    unsigned char len8[8];
    if (size < 8 || fread(len8, 1, 8, f) != 8)
        return sx_fail(SX_EFORMAT, "safetensors: %s: file of %llu bytes is too short for the 8-byte header length",
                       path, (unsigned long long)size);
    uint64_t hlen = load_le(len8, 8);
    if (hlen > SX_SAFETENSORS_MAX_HEADER)
        return sx_fail(SX_EFORMAT,
                       "safetensors: %s: header length %llu is absurd (limit %llu bytes): not a safetensors file?",
                       path, (unsigned long long)hlen, (unsigned long long)SX_SAFETENSORS_MAX_HEADER);
    if (hlen > size - 8)
        return sx_fail(SX_EFORMAT, "safetensors: %s: header length %llu runs past the end of the file (%llu bytes)",
                       path, (unsigned long long)hlen, (unsigned long long)size);
    char *text = malloc(hlen + 1);
    if (!text) return sx_fail(SX_ENOMEM, "safetensors: %s: out of memory for the header", path);
    if (fread(text, 1, hlen, f) != hlen) {
        free(text);
        return sx_fail(SX_EIO, "safetensors: %s: cannot read the header", path);
    }
    text[hlen] = '\0';

    st_parse p = {.path = path};
    sx_json_init(&p.r, text, hlen);
    sx_status st = parse_header(&p);
    free(text);
    st_entry **order = NULL;
    if (st == SX_OK) {
        order = malloc(sizeof *order * (size_t)(p.n + 1));
        st = order ? check_layout(&p, size - 8 - hlen, order) : sx_fail(SX_ENOMEM, "safetensors: out of memory");
    }
    int n = tensors ? p.n : 0;
    if (st == SX_OK) {
        res->names = calloc((size_t)n + 1, sizeof *res->names);
        res->tensors = calloc((size_t)n + 1, sizeof *res->tensors);
        if (!res->names || !res->tensors) st = sx_fail(SX_ENOMEM, "safetensors: out of memory");
    }
    for (int i = 0; st == SX_OK && i < n; i++) {
        st_entry *e = order[i];
        sx_tensor *t = sx_tensor_empty(e->ndim, e->shape);
        if (!t) {
            st = sx_last_status();
            break;
        }
        res->tensors[i] = t;
        res->names[i] = e->name;
        e->name = NULL;
        res->n = i + 1;
        st = read_tensor(f, path, e, t);
    }
    free(order);
    if (st == SX_OK) {
        res->n_meta = p.n_meta;
        res->meta_keys = p.meta_keys;
        res->meta_values = p.meta_values;
        p.meta_keys = p.meta_values = NULL;
        p.n_meta = 0;
    }
    parse_free(&p);
    return st;
}

static sx_status load(const char *fn, const char *path, bool tensors, sx_safetensors **out)
{
    if (!out) return sx_fail(SX_EINVAL, "%s: out is NULL", fn);
    *out = NULL;
    if (!path) return sx_fail(SX_EINVAL, "%s: path is NULL", fn);
    sx_safetensors *res = calloc(1, sizeof *res);
    if (!res) return sx_fail(SX_ENOMEM, "%s: out of memory", fn);
    FILE *f = fopen(path, "rb");
    if (!f) {
        free(res);
        return sx_fail(SX_EIO, "safetensors: %s: cannot open: %s", path, strerror(errno));
    }
    sx_status st = load_file(f, path, tensors, res);
    fclose(f);
    if (st != SX_OK) {
        sx_safetensors_free(res);
        return st;
    }
    *out = res;
    return SX_OK;
}

sx_status sx_safetensors_load(const char *path, sx_safetensors **out)
{
    return load("sx_safetensors_load", path, true, out);
}

sx_status sx_safetensors_load_header(const char *path, sx_safetensors **out)
{
    return load("sx_safetensors_load_header", path, false, out);
}

sx_tensor *sx_safetensors_get(const sx_safetensors *st, const char *name)
{
    if (!st || !name) return NULL;
    for (int i = 0; i < st->n; i++)
        if (strcmp(st->names[i], name) == 0) return st->tensors[i];
    return NULL;
}

const char *sx_safetensors_meta(const sx_safetensors *st, const char *key)
{
    if (!st || !key) return NULL;
    for (int i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_values[i];
    return NULL;
}
