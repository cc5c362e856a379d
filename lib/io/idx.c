/*
 * lib/io/idx.c — the IDX format of MNIST and Fashion-MNIST, read through
 * zlib's gz* functions (which read gzip'd and plain files alike).
 *
 * Layout (all big-endian): two zero bytes, an element-type byte (0x08 uint8,
 * 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64), a dimension
 * count byte, one uint32 size per dimension, then the elements in row-major
 * order. Fashion-MNIST images have magic 0x00000803 ([n, 28, 28] uint8),
 * labels 0x00000801 ([n] uint8). The data must be exactly as long as the
 * sizes say: we read it into a byte buffer that grows only as data arrives,
 * so a header that claims a huge shape cannot make us allocate before the
 * file has shown that it holds that much.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../core/internal.h"
#include "io_internal.h"

typedef struct idx_type {
    unsigned char code;
    int size;          /* bytes per element */
    const char *name;
} idx_type;

static const idx_type idx_types[] = {
    {0x08, 1, "uint8"}, {0x09, 1, "int8"},    {0x0B, 2, "int16"},
    {0x0C, 4, "int32"}, {0x0D, 4, "float32"}, {0x0E, 8, "float64"},
};

/* Reads up to n bytes; returns the count, or -1 with the error set. */
static int64_t gz_read_all(gzFile g, const char *path, unsigned char *dst, int64_t n)
{
    int64_t got = 0;
    while (got < n) {
        int64_t want = n - got;
        if (want > INT_MAX / 2) want = INT_MAX / 2;
        int r = gzread(g, dst + got, (unsigned)want);
        if (r < 0) {
            int zerr;
            const char *zmsg = gzerror(g, &zerr);
            if (zerr == Z_ERRNO)
                sx_fail(SX_EIO, "idx: %s: read failed: %s", path, strerror(errno));
            else
                sx_fail(SX_EFORMAT, "idx: %s: corrupt gzip data: %s", path, zmsg);
            return -1;
        }
        if (r == 0) break;
        got += r;
    }
    return got;
}

static void shape_text(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

static double decode(const unsigned char *p, unsigned char code)
{
    switch (code) {
    case 0x08: return p[0];
    case 0x09: return (int8_t)p[0];
    case 0x0B: return (int16_t)(uint16_t)(p[0] << 8 | p[1]);
    case 0x0C: return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
    case 0x0D: {
        uint32_t u = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    default: {
        uint64_t u = 0;
        for (int i = 0; i < 8; i++) u = u << 8 | p[i];
        double d;
        memcpy(&d, &u, 8);
        return d;
    }
    }
}

/* Parses the header and reads the data into *bytes (owned by the caller). */
static sx_status read_idx(gzFile g, const char *path, int *ndim_out, int64_t *shape,
                          const idx_type **type_out, unsigned char **bytes)
{
    unsigned char magic[4];
    int64_t got = gz_read_all(g, path, magic, 4);
    if (got < 0) return sx_last_status();
    if (got < 4)
        return sx_fail(SX_EFORMAT, "idx: %s: truncated header: expected 4 bytes of magic number, found %lld",
                       path, (long long)got);
    const idx_type *type = NULL;
    for (size_t i = 0; i < sizeof idx_types / sizeof idx_types[0]; i++)
        if (idx_types[i].code == magic[2]) type = &idx_types[i];
    if (magic[0] || magic[1] || !type)
        return sx_fail(SX_EFORMAT,
                       "idx: %s: bad magic number 0x%02x%02x%02x%02x (expected 0x000008nn, e.g. 0x00000803 "
                       "for images, 0x00000801 for labels)",
                       path, magic[0], magic[1], magic[2], magic[3]);
    int ndim = magic[3];
    if (ndim < 1 || ndim > SX_MAX_DIMS)
        return sx_fail(SX_EFORMAT, "idx: %s: magic number 0x%02x%02x%02x%02x gives %d dimensions (expected 1 to %d)",
                       path, magic[0], magic[1], magic[2], magic[3], ndim, SX_MAX_DIMS);

    unsigned char dims[4 * SX_MAX_DIMS];
    got = gz_read_all(g, path, dims, 4 * ndim);
    if (got < 0) return sx_last_status();
    if (got < 4 * ndim)
        return sx_fail(SX_EFORMAT,
                       "idx: %s: truncated header: expected %d dimension sizes (%d bytes), found %lld bytes",
                       path, ndim, 4 * ndim, (long long)got);
    for (int i = 0; i < ndim; i++) {
        const unsigned char *d = dims + 4 * i;
        shape[i] = (int64_t)((uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3]);
    }
    if (!sx_shape_check("idx", ndim, shape)) {
        char s[160];
        shape_text(s, sizeof s, ndim, shape);
        return sx_fail(SX_EFORMAT, "idx: %s: header claims an absurd shape %s (more than %lld elements or strides)",
                       path, s, (long long)SX_MAX_NUMEL);
    }
    int64_t numel = sx_shape_numel(ndim, shape);

    char s[160];
    shape_text(s, sizeof s, ndim, shape);
    int64_t want = numel * type->size;
    size_t cap = want < (1 << 20) ? (size_t)want : (size_t)1 << 20;
    unsigned char *buf = malloc(cap ? cap : 1);
    if (!buf) return sx_fail(SX_ENOMEM, "idx: %s: out of memory", path);
    int64_t have = 0;
    for (;;) {
        int64_t r = gz_read_all(g, path, buf + have, (int64_t)cap - have);
        if (r < 0) {
            free(buf);
            return sx_last_status();
        }
        have += r;
        if (have < (int64_t)cap || have == want) break;
        size_t ncap = cap * 2 < (size_t)want ? cap * 2 : (size_t)want;
        unsigned char *nb = realloc(buf, ncap);
        if (!nb) {
            free(buf);
            return sx_fail(SX_ENOMEM, "idx: %s: out of memory reading %lld bytes", path, (long long)want);
        }
        buf = nb;
        cap = ncap;
    }
    if (have < want) {
        free(buf);
        return sx_fail(SX_EFORMAT,
                       "idx: %s: truncated: the header promises shape %s of %s (%lld data bytes), found %lld bytes",
                       path, s, type->name, (long long)want, (long long)have);
    }
    /* Anything after the promised data is an error too; count it for the message. */
    int64_t extra = 0;
    unsigned char sink[4096];
    for (;;) {
        int64_t r = gz_read_all(g, path, sink, (int64_t)sizeof sink);
        if (r < 0) {
            free(buf);
            return sx_last_status();
        }
        extra += r;
        if (r < (int64_t)sizeof sink) break;
    }
    if (extra > 0) {
        free(buf);
        return sx_fail(SX_EFORMAT,
                       "idx: %s: %lld bytes of trailing data after the %lld data bytes the header promises "
                       "(shape %s of %s)",
                       path, (long long)extra, (long long)want, s, type->name);
    }
    *ndim_out = ndim;
    *type_out = type;
    *bytes = buf;
    return SX_OK;
}

sx_status sx_idx_read(const char *path, sx_tensor **out)
{
    if (!out) return sx_fail(SX_EINVAL, "sx_idx_read: out is NULL");
    *out = NULL;
    if (!path) return sx_fail(SX_EINVAL, "sx_idx_read: path is NULL");
    errno = 0;
    gzFile g = gzopen(path, "rb");
    if (!g)
        return sx_fail(SX_EIO, "idx: %s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
    gzbuffer(g, 1 << 17);
    int ndim = 0;
    int64_t shape[SX_MAX_DIMS];
    const idx_type *type = NULL;
    unsigned char *bytes = NULL;
    sx_status st = read_idx(g, path, &ndim, shape, &type, &bytes);
    gzclose(g);
    if (st != SX_OK) return st;

    sx_tensor *t = sx_tensor_empty(ndim, shape);
    if (!t) {
        free(bytes);
        return sx_last_status();
    }
    float *restrict dst = sx_tensor_data(t);
    const unsigned char *restrict src = bytes;
    int64_t numel = sx_tensor_numel(t);
    if (type->code == 0x08) {
        for (int64_t i = 0; i < numel; i++) dst[i] = src[i];
    } else {
        for (int64_t i = 0; i < numel; i++) dst[i] = (float)decode(bytes + i * type->size, type->code);
    }
    free(bytes);
    *out = t;
    return SX_OK;
}
