/*
 * lib/io/png.c — PNG images through libpng, as [C, H, W] float tensors in
 * [0, 1].
 *
 * libpng reports errors by longjmp. The setjmp sits in one small function per
 * direction (png_read_core / png_write_core) that makes only libpng calls, so
 * a longjmp crosses nothing but libpng's own frames and our error and I/O
 * callbacks. Everything it allocates is recorded in a job struct owned by the
 * caller, which frees it whichever way the core returns. libpng's message is
 * reported as "png: <path>: <message>".
 *
 * A file is read whole into memory and its chunk list (lengths and CRCs) is
 * checked before libpng decodes it: libpng checks a chunk's CRC only after
 * inflating its data, so a damaged IDAT would otherwise surface as an obscure
 * zlib message ("incorrect data check") rather than as a CRC error.
 */
#include <errno.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "../core/internal.h"
#include "io_internal.h"

/* PNG files larger than this are refused before reading. */
#define PNG_MAX_FILE_BYTES ((int64_t)1 << 30)

typedef struct png_job {
    const char *path;
    FILE *f;                     /* writing: the temporary file */
    const unsigned char *src;    /* reading: the whole file [src_len] */
    size_t src_len, src_pos;
    png_structp png;
    png_infop info;
    char msg[200];          /* libpng's error message */
    unsigned char *pixels;  /* [height * rowbytes] interleaved samples, owned */
    png_bytep *rows;        /* [height] pointers into pixels, owned */
    uint32_t width, height;
    int channels;           /* samples per pixel after the transformations: 1..4 */
} png_job;

static void on_error(png_structp png, png_const_charp msg)
{
    png_job *j = png_get_error_ptr(png);
    snprintf(j->msg, sizeof j->msg, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

/* Warnings concern recoverable oddities (e.g. an unknown chunk); stay quiet. */
static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void on_read(png_structp png, png_bytep data, size_t n)
{
    png_job *j = png_get_io_ptr(png);
    if (j->src_len - j->src_pos < n) png_error(png, "file is truncated");
    memcpy(data, j->src + j->src_pos, n);
    j->src_pos += n;
}

static void on_write(png_structp png, png_bytep data, size_t n)
{
    png_job *j = png_get_io_ptr(png);
    if (fwrite(data, 1, n, j->f) != n) {
        char m[120];
        snprintf(m, sizeof m, "write failed: %s", strerror(errno));
        png_error(png, m);
    }
}

static void on_flush(png_structp png)
{
    png_job *j = png_get_io_ptr(png);
    if (fflush(j->f) != 0) png_error(png, "write failed");
}

/* ---------------------------------------------------------------- reading */

/* The only frame that holds a setjmp. Returns 0, or -1 with j->msg set. */
static int png_read_core(png_job *j)
{
    if (setjmp(png_jmpbuf(j->png))) return -1;
    png_structp png = j->png;
    png_infop info = j->info;
    png_set_read_fn(png, j, on_read);
    /* a corrupt ancillary chunk is as much a sign of a damaged file as a critical one */
    png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
    png_read_info(png, info);

    uint32_t w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if ((int64_t)w * h > SX_PNG_MAX_PIXELS) {
        char m[120];
        snprintf(m, sizeof m, "image of %ux%u pixels is too large (limit %lld pixels)", w, h,
                 (long long)SX_PNG_MAX_PIXELS);
        png_error(png, m);
    }
    int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) {
#ifdef PNG_READ_SCALE_16_TO_8_SUPPORTED
        png_set_scale_16(png);
#else
        png_set_strip_16(png);
#endif
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int ch = png_get_channels(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (ch < 1 || ch > 4 || png_get_bit_depth(png, info) != 8 || rowbytes != (size_t)w * (size_t)ch)
        png_error(png, "unsupported pixel layout after conversion to 8 bits");
    j->pixels = malloc(rowbytes * h + 1);
    j->rows = malloc(sizeof *j->rows * h + 1);
    if (!j->pixels || !j->rows) png_error(png, "out of memory");
    for (uint32_t y = 0; y < h; y++) j->rows[y] = j->pixels + (size_t)y * rowbytes;
    png_read_image(png, j->rows);
    png_read_end(png, NULL);
    j->width = w;
    j->height = h;
    j->channels = ch;
    return 0;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Checks the signature and walks the chunks up to IEND: each must fit in the
 * file and carry the right CRC. */
static sx_status check_chunks(const char *path, const unsigned char *b, size_t n)
{
    if (n < 8 || png_sig_cmp(b, 0, 8) != 0) return sx_fail(SX_EFORMAT, "png: %s: not a PNG file (bad signature)", path);
    size_t p = 8;
    for (;;) {
        if (n - p < 12)
            return sx_fail(SX_EFORMAT, "png: %s: file is truncated at byte %zu (no IEND chunk)", path, n);
        uint32_t len = be32(b + p);
        char type[5];
        for (int i = 0; i < 4; i++) type[i] = b[p + 4 + i] >= 0x20 && b[p + 4 + i] < 0x7F ? (char)b[p + 4 + i] : '?';
        type[4] = '\0';
        if (len > 0x7FFFFFFFu)
            return sx_fail(SX_EFORMAT, "png: %s: chunk %s at byte %zu has an invalid length %u", path, type, p, len);
        if (n - p - 12 < len)
            return sx_fail(SX_EFORMAT, "png: %s: file is truncated in chunk %s at byte %zu (%u data bytes, %zu present)",
                           path, type, p, len, n - p - 12);
        uint32_t stored = be32(b + p + 8 + len);
        uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), b + p + 4, len + 4);
        if (crc != stored)
            return sx_fail(SX_EFORMAT, "png: %s: chunk %s at byte %zu: CRC error (stored 0x%08x, computed 0x%08x): "
                           "the file is corrupt", path, type, p, stored, crc);
        p += 12 + (size_t)len;
        if (memcmp(type, "IEND", 4) == 0) return SX_OK;
    }
}

/* Reads the whole file into *buf (owned by the caller). */
static sx_status slurp(const char *path, unsigned char **buf, size_t *len)
{
    *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return sx_fail(SX_EIO, "png: %s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    sx_status st = SX_OK;
    if (fstat(fileno(f), &sb) != 0)
        st = sx_fail(SX_EIO, "png: %s: cannot stat: %s", path, strerror(errno));
    else if (sb.st_size > PNG_MAX_FILE_BYTES)
        st = sx_fail(SX_EFORMAT, "png: %s: file of %lld bytes is too large (limit %lld)", path, (long long)sb.st_size,
                     (long long)PNG_MAX_FILE_BYTES);
    else if (!(*buf = malloc((size_t)sb.st_size + 1)))
        st = sx_fail(SX_ENOMEM, "png: %s: out of memory", path);
    else if ((*len = fread(*buf, 1, (size_t)sb.st_size, f)) != (size_t)sb.st_size && ferror(f))
        st = sx_fail(SX_EIO, "png: %s: read failed: %s", path, strerror(errno));
    fclose(f);
    if (st != SX_OK) {
        free(*buf);
        *buf = NULL;
    }
    return st;
}

sx_status sx_png_read(const char *path, sx_tensor **out)
{
    if (!out) return sx_fail(SX_EINVAL, "sx_png_read: out is NULL");
    *out = NULL;
    if (!path) return sx_fail(SX_EINVAL, "sx_png_read: path is NULL");
    png_job j = {.path = path};
    unsigned char *file = NULL;
    sx_status fst = slurp(path, &file, &j.src_len);
    if (fst == SX_OK) fst = check_chunks(path, file, j.src_len);
    if (fst != SX_OK) {
        free(file);
        return fst;
    }
    j.src = file;

    sx_status st = SX_OK;
    j.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &j, on_error, on_warning);
    if (j.png) j.info = png_create_info_struct(j.png);
    if (!j.png || !j.info)
        st = sx_fail(SX_ENOMEM, "png: %s: cannot create the libpng reader", path);
    else if (png_read_core(&j) != 0)
        st = sx_fail(strcasestr(j.msg, "out of memory") ? SX_ENOMEM : SX_EFORMAT, "png: %s: %s", path, j.msg);
    png_destroy_read_struct(j.png ? &j.png : NULL, j.info ? &j.info : NULL, NULL);
    free(file);

    if (st == SX_OK) {
        int c = j.channels >= 3 ? 3 : 1;
        int64_t shape[3] = {c, j.height, j.width};
        sx_tensor *t = sx_tensor_empty(3, shape);
        if (!t) {
            st = sx_last_status();
        } else {
            float *dst = sx_tensor_data(t);
            int64_t plane = (int64_t)j.height * j.width;
            for (int64_t p = 0; p < plane; p++)
                for (int k = 0; k < c; k++) dst[k * plane + p] = j.pixels[p * j.channels + k] / 255.0f;
            *out = t;
        }
    }
    free(j.pixels);
    free(j.rows);
    return st;
}

/* ---------------------------------------------------------------- writing */

/* The only frame that holds a setjmp. Returns 0, or -1 with j->msg set. */
static int png_write_core(png_job *j)
{
    if (setjmp(png_jmpbuf(j->png))) return -1;
    png_set_write_fn(j->png, j, on_write, on_flush);
    png_set_IHDR(j->png, j->info, j->width, j->height, 8,
                 j->channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(j->png, j->info);
    png_write_image(j->png, j->rows);
    png_write_end(j->png, NULL);
    return 0;
}

static inline unsigned char to_byte(float v)
{
    if (!(v > 0.0f)) return 0; /* also NaN */
    if (v >= 1.0f) return 255;
    return (unsigned char)(v * 255.0f + 0.5f);
}

sx_status sx_png_write(const char *path, const sx_tensor *t)
{
    if (!path) return sx_fail(SX_EINVAL, "sx_png_write: path is NULL");
    if (!sx_check_arg("sx_png_write", 2, t)) return SX_EINVAL;
    char s[96];
    int64_t c, h, w;
    if (t->ndim == 2) {
        c = 1, h = t->shape[0], w = t->shape[1];
    } else if (t->ndim == 3) {
        c = t->shape[0], h = t->shape[1], w = t->shape[2];
    } else {
        return sx_fail(SX_EINVAL, "sx_png_write: %s: expected a [C, H, W] or [H, W] tensor, got shape %s", path,
                       sx_shape_str(t, s, sizeof s));
    }
    if ((c != 1 && c != 3) || h < 1 || w < 1)
        return sx_fail(SX_EINVAL, "sx_png_write: %s: expected 1 or 3 channels and a non-empty image, got shape %s",
                       path, sx_shape_str(t, s, sizeof s));
    if (h * w > SX_PNG_MAX_PIXELS)
        return sx_fail(SX_EINVAL, "sx_png_write: %s: image of shape %s is too large (limit %lld pixels)", path,
                       sx_shape_str(t, s, sizeof s), (long long)SX_PNG_MAX_PIXELS);

    png_job j = {.path = path, .width = (uint32_t)w, .height = (uint32_t)h, .channels = (int)c};
    int64_t plane = h * w;
    float *vals = malloc((size_t)(c * plane) * sizeof *vals);
    j.pixels = malloc((size_t)(c * plane));
    j.rows = malloc(sizeof *j.rows * (size_t)h);
    if (!vals || !j.pixels || !j.rows) {
        free(vals);
        free(j.pixels);
        free(j.rows);
        return sx_fail(SX_ENOMEM, "sx_png_write: %s: out of memory", path);
    }
    sx_tensor_copy_to(t, vals);
    for (int64_t p = 0; p < plane; p++)
        for (int64_t k = 0; k < c; k++) j.pixels[p * c + k] = to_byte(vals[k * plane + p]);
    free(vals);
    for (int64_t y = 0; y < h; y++) j.rows[y] = j.pixels + y * w * c;

    sx_tmpfile tf;
    sx_status st = sx_tmpfile_open(&tf, "png", path);
    if (st == SX_OK) {
        j.f = tf.f;
        j.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &j, on_error, on_warning);
        if (j.png) j.info = png_create_info_struct(j.png);
        if (!j.png || !j.info)
            st = sx_fail(SX_ENOMEM, "png: %s: cannot create the libpng writer", path);
        else if (png_write_core(&j) != 0)
            st = sx_fail(SX_EIO, "png: %s: %s", path, j.msg);
        png_destroy_write_struct(j.png ? &j.png : NULL, j.info ? &j.info : NULL);
        if (st == SX_OK)
            st = sx_tmpfile_commit(&tf, "png");
        else
            sx_tmpfile_abort(&tf);
    }
    free(j.pixels);
    free(j.rows);
    return st;
}
