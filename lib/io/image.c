/*
 * lib/io/image.c — stylex/image.h: resampling (area averaging down, bilinear
 * up, nearest-neighbour integer upscale), value-range mapping, text in the
 * built-in font (lib/io/font.c) and captioned grids for reports.
 *
 * Everything here works on plain pixel data outside autograd: inputs are read
 * through their strides, results are new contiguous tensors. Resampling is
 * separable: per axis a table of taps (source index, weight) is built once,
 * then rows are filtered horizontally into a double buffer and columns
 * vertically into the result.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stylex/image.h"
#include "../core/internal.h"

/* lib/io/font.c: the 5x8 glyph of character c (rows of 5 cells + NUL). */
const char *sx_font_glyph(int c);

#define GLYPH_STRIDE (SX_FONT_GLYPH_W + 1)

/* ---------------------------------------------------------------- arguments */

/* x is [C, h, w] or [N, C, h, w] with non-empty images. */
static bool check_image_batch(const char *fn, const sx_tensor *x)
{
    char buf[96];
    if (!sx_check_arg(fn, 1, x)) return false;
    if (x->ndim != 3 && x->ndim != 4) {
        sx_fail(SX_EINVAL, "%s: expected an image [C, H, W] or a batch [N, C, H, W], got shape %s", fn,
                sx_shape_str(x, buf, sizeof buf));
        return false;
    }
    for (int d = 0; d < x->ndim; d++)
        if (x->shape[d] == 0) {
            sx_fail(SX_EINVAL, "%s: empty image (shape %s)", fn, sx_shape_str(x, buf, sizeof buf));
            return false;
        }
    if (x->shape[x->ndim - 1] > SX_IMAGE_MAX_SIDE || x->shape[x->ndim - 2] > SX_IMAGE_MAX_SIDE) {
        sx_fail(SX_EINVAL, "%s: image sides over %lld (shape %s)", fn, (long long)SX_IMAGE_MAX_SIDE,
                sx_shape_str(x, buf, sizeof buf));
        return false;
    }
    return true;
}

/* Element pointer of plane p (the flattened leading dimensions), row r,
 * column c of a 3-d or 4-d tensor. */
static const float *pixel_at(const sx_tensor *x, int64_t p, int64_t r, int64_t c)
{
    int nd = x->ndim;
    int64_t off = x->offset + r * x->stride[nd - 2] + c * x->stride[nd - 1];
    if (nd == 4) {
        int64_t nc = x->shape[1];
        off += (p / nc) * x->stride[0] + (p % nc) * x->stride[1];
    } else {
        off += p * x->stride[0];
    }
    return x->storage->data + off;
}

/* ---------------------------------------------------------------- resize */

/* Taps of one axis: output index o reads count[o] source indices from
 * first[o] on, with weights w[o * max_taps + k]. */
typedef struct axis_taps {
    int64_t *first; /* [out] */
    int *count;     /* [out] */
    double *w;      /* [out * max_taps] */
    int max_taps;
} axis_taps;

static void taps_free(axis_taps *t)
{
    free(t->first);
    free(t->count);
    free(t->w);
}

/* Builds the taps resampling n_in samples to n_out (see sx_image_resize). */
static bool taps_build(axis_taps *t, int64_t n_in, int64_t n_out)
{
    /* area: ceil(n_in / n_out) whole sources plus one partly covered */
    t->max_taps = n_out < n_in ? (int)((n_in + n_out - 1) / n_out) + 1 : 2;
    t->first = malloc((size_t)n_out * sizeof *t->first);
    t->count = malloc((size_t)n_out * sizeof *t->count);
    t->w = malloc((size_t)n_out * (size_t)t->max_taps * sizeof *t->w);
    if (!t->first || !t->count || !t->w) {
        taps_free(t);
        sx_fail(SX_ENOMEM, "image_resize: out of memory");
        return false;
    }
    for (int64_t o = 0; o < n_out; o++) {
        double *w = t->w + o * t->max_taps;
        if (n_out == n_in) {
            t->first[o] = o;
            t->count[o] = 1;
            w[0] = 1.0;
        } else if (n_out < n_in) {
            /* In units of 1/n_out of a source pixel: output o spans
             * [o*n_in, (o+1)*n_in) and source i spans [i*n_out, (i+1)*n_out).
             * Integer overlaps make the weights sum to exactly n_in. */
            int64_t lo = o * n_in, hi = (o + 1) * n_in;
            int64_t i0 = lo / n_out, i1 = (hi - 1) / n_out;
            t->first[o] = i0;
            t->count[o] = (int)(i1 - i0 + 1);
            for (int64_t i = i0; i <= i1; i++) {
                int64_t a = i * n_out > lo ? i * n_out : lo;
                int64_t b = (i + 1) * n_out < hi ? (i + 1) * n_out : hi;
                w[i - i0] = (double)(b - a) / (double)n_in;
            }
        } else {
            double s = ((double)(2 * o + 1) * (double)n_in - (double)n_out) / (2.0 * (double)n_out);
            if (s < 0) s = 0;
            int64_t i0 = (int64_t)s;
            if (i0 > n_in - 1) i0 = n_in - 1;
            double f = s - (double)i0;
            t->first[o] = i0;
            if (i0 + 1 < n_in && f > 0) {
                t->count[o] = 2;
                w[0] = 1.0 - f;
                w[1] = f;
            } else {
                t->count[o] = 1;
                w[0] = 1.0;
            }
        }
    }
    return true;
}

sx_tensor *sx_image_resize(const sx_tensor *x, int64_t H, int64_t W)
{
    if (!check_image_batch("image_resize", x)) return NULL;
    if (H < 1 || W < 1 || H > SX_IMAGE_MAX_SIDE || W > SX_IMAGE_MAX_SIDE) {
        sx_fail(SX_EINVAL, "image_resize: output size %lld x %lld, expected sides in 1..%lld", (long long)H,
                (long long)W, (long long)SX_IMAGE_MAX_SIDE);
        return NULL;
    }
    int nd = x->ndim;
    int64_t h = x->shape[nd - 2], w = x->shape[nd - 1];
    int64_t planes = nd == 4 ? x->shape[0] * x->shape[1] : x->shape[0];
    int64_t shape[4];
    for (int d = 0; d < nd - 2; d++) shape[d] = x->shape[d];
    shape[nd - 2] = H;
    shape[nd - 1] = W;
    if (!sx_shape_check("image_resize", nd, shape)) return NULL;
    if (!sx_shape_check("image_resize", 2, (const int64_t[]){h, W})) return NULL;

    axis_taps ty = {0}, tx = {0};
    if (!taps_build(&ty, h, H)) return NULL;
    if (!taps_build(&tx, w, W)) {
        taps_free(&ty);
        return NULL;
    }
    double *rows = malloc((size_t)(h * W) * sizeof *rows); /* [h, W]: one plane filtered along x */
    sx_tensor *out = rows ? sx_tensor_empty(nd, shape) : NULL;
    if (!out) {
        if (!rows) sx_fail(SX_ENOMEM, "image_resize: out of memory");
        free(rows);
        taps_free(&ty);
        taps_free(&tx);
        return NULL;
    }
    float *dst = sx_tensor_data(out);
    int64_t col_step = x->stride[nd - 1];
    for (int64_t p = 0; p < planes; p++) {
        for (int64_t r = 0; r < h; r++) {
            const float *src = pixel_at(x, p, r, 0);
            for (int64_t o = 0; o < W; o++) {
                const double *wt = tx.w + o * tx.max_taps;
                const float *s = src + tx.first[o] * col_step;
                double acc = 0;
                for (int k = 0; k < tx.count[o]; k++) acc += wt[k] * (double)s[k * col_step];
                rows[r * W + o] = acc;
            }
        }
        float *plane = dst + p * H * W;
        for (int64_t o = 0; o < H; o++) {
            const double *wt = ty.w + o * ty.max_taps;
            const double *s = rows + ty.first[o] * W;
            for (int64_t c = 0; c < W; c++) {
                double acc = 0;
                for (int k = 0; k < ty.count[o]; k++) acc += wt[k] * s[k * W + c];
                plane[o * W + c] = (float)acc;
            }
        }
    }
    free(rows);
    taps_free(&ty);
    taps_free(&tx);
    return out;
}

sx_tensor *sx_image_upscale(const sx_tensor *x, int k)
{
    if (!check_image_batch("image_upscale", x)) return NULL;
    int nd = x->ndim;
    int64_t h = x->shape[nd - 2], w = x->shape[nd - 1];
    if (k < 1 || h * k > SX_IMAGE_MAX_SIDE || w * k > SX_IMAGE_MAX_SIDE) {
        sx_fail(SX_EINVAL, "image_upscale: factor %d, expected 1.. with sides up to %lld", k,
                (long long)SX_IMAGE_MAX_SIDE);
        return NULL;
    }
    int64_t shape[4];
    for (int d = 0; d < nd - 2; d++) shape[d] = x->shape[d];
    shape[nd - 2] = h * k;
    shape[nd - 1] = w * k;
    if (!sx_shape_check("image_upscale", nd, shape)) return NULL;
    sx_tensor *out = sx_tensor_empty(nd, shape);
    if (!out) return NULL;
    int64_t planes = nd == 4 ? x->shape[0] * x->shape[1] : x->shape[0];
    int64_t W = w * k, col_step = x->stride[nd - 1];
    float *dst = sx_tensor_data(out);
    for (int64_t p = 0; p < planes; p++)
        for (int64_t r = 0; r < h; r++) {
            const float *src = pixel_at(x, p, r, 0);
            float *row = dst + (p * h * k + r * k) * W;
            for (int64_t c = 0; c < W; c++) row[c] = src[(c / k) * col_step];
            for (int i = 1; i < k; i++) memcpy(row + i * W, row, (size_t)W * sizeof *row);
        }
    return out;
}

sx_tensor *sx_image_to_unit(const sx_tensor *x, float lo, float hi)
{
    if (!sx_check_arg("image_to_unit", 1, x)) return NULL;
    if (!isfinite(lo) || !isfinite(hi) || lo == hi || !isfinite(hi - lo)) {
        sx_fail(SX_EINVAL, "image_to_unit: range [%g, %g], expected two different finite values", (double)lo,
                (double)hi);
        return NULL;
    }
    sx_tensor *out = sx_tensor_copy(x);
    if (!out) return NULL;
    float *d = sx_tensor_data(out);
    int64_t n = sx_tensor_numel(out);
    double scale = 1.0 / ((double)hi - (double)lo);
    for (int64_t i = 0; i < n; i++) {
        double v = ((double)d[i] - (double)lo) * scale;
        d[i] = v > 0 ? (v < 1 ? (float)v : 1.0f) : 0.0f; /* NaN fails v > 0 */
    }
    return out;
}

/* ---------------------------------------------------------------- text */

/* Advances over one character of UTF-8 text (a whole multi-byte sequence,
 * or one byte of a malformed one); returns the character's code for the font
 * (a byte value, or -1 for anything non-ASCII). */
static int next_char(const char **p)
{
    const unsigned char *s = (const unsigned char *)*p;
    int c = *s++;
    if (c >= 0x80) {
        int more = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
        while (more-- > 0 && (*s & 0xC0) == 0x80) s++;
        c = -1;
    }
    *p = (const char *)s;
    return c;
}

/* Widest line in characters and number of lines ('\r' ignored). */
static void text_extent(const char *text, int64_t *max_chars, int64_t *lines)
{
    int64_t cur = 0, best = 0, n = 1;
    for (const char *p = text; *p;) {
        int c = next_char(&p);
        if (c == '\n') {
            n++;
            cur = 0;
        } else if (c != '\r') {
            cur++;
        }
        if (cur > best) best = cur;
    }
    *max_chars = best;
    *lines = n;
}

int64_t sx_image_text_width(const char *text, int scale)
{
    if (!text || scale < 1) return 0;
    int64_t chars, lines;
    text_extent(text, &chars, &lines);
    return chars ? (chars * SX_FONT_ADVANCE - 1) * scale : 0;
}

int64_t sx_image_text_height(const char *text, int scale)
{
    if (!text || !*text || scale < 1) return 0;
    int64_t chars, lines;
    text_extent(text, &chars, &lines);
    return (lines * SX_FONT_LINE - 1) * scale;
}

/* Fills the scale x scale block at (x, y) with color, clipped to the image. */
static void put_block(sx_tensor *img, int64_t x, int64_t y, const float *color, int scale)
{
    int64_t H = img->shape[1], W = img->shape[2];
    int64_t x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int64_t x1 = x + scale < W ? x + scale : W, y1 = y + scale < H ? y + scale : H;
    float *base = img->storage->data + img->offset;
    for (int64_t c = 0; c < img->shape[0]; c++)
        for (int64_t r = y0; r < y1; r++)
            for (int64_t q = x0; q < x1; q++)
                base[c * img->stride[0] + r * img->stride[1] + q * img->stride[2]] = color[c];
}

sx_status sx_image_draw_text(sx_tensor *img, int64_t x, int64_t y, const char *text, const float *color,
                             int scale)
{
    char buf[96];
    if (!sx_check_arg("image_draw_text", 1, img)) return sx_last_status();
    if (img->ndim != 3)
        return sx_fail(SX_EINVAL, "image_draw_text: expected an image [C, H, W], got shape %s",
                       sx_shape_str(img, buf, sizeof buf));
    if (img->requires_grad)
        return sx_fail(SX_EINVAL, "image_draw_text: the image requires grad; draw on a detached copy");
    if (!text) return sx_fail(SX_EINVAL, "image_draw_text: text is NULL");
    if (!color) return sx_fail(SX_EINVAL, "image_draw_text: color is NULL");
    if (scale < 1 || scale > SX_IMAGE_MAX_TEXT_SCALE)
        return sx_fail(SX_EINVAL, "image_draw_text: scale %d, expected 1..%d", scale, SX_IMAGE_MAX_TEXT_SCALE);
    int64_t H = img->shape[1], W = img->shape[2];
    /* Text whose box misses the image draws nothing; past this test every
     * glyph position lies between x (or y) and W (or H), so nothing below
     * can overflow. */
    if (x >= W || y >= H || x + sx_image_text_width(text, scale) <= 0 || y + sx_image_text_height(text, scale) <= 0)
        return SX_OK;

    int64_t col = 0, row = 0;
    for (const char *p = text; *p;) {
        int ch = next_char(&p);
        if (ch == '\n') {
            row++;
            col = 0;
            continue;
        }
        if (ch == '\r') continue;
        int64_t gx = x + col * SX_FONT_ADVANCE * scale, gy = y + row * SX_FONT_LINE * scale;
        col++;
        if (gx >= W || gy >= H || gx + SX_FONT_GLYPH_W * scale <= 0 || gy + SX_FONT_GLYPH_H * scale <= 0) continue;
        const char *g = sx_font_glyph(ch);
        for (int r = 0; r < SX_FONT_GLYPH_H; r++)
            for (int c = 0; c < SX_FONT_GLYPH_W; c++)
                if (g[r * GLYPH_STRIDE + c] == '#')
                    put_block(img, gx + (int64_t)c * scale, gy + (int64_t)r * scale, color, scale);
    }
    return SX_OK;
}

/* ---------------------------------------------------------------- grid */

/* Copies image src ([C_s, h, w], C_s = C or 1) into the C-channel dst at
 * (x, y); a grey source fills every channel. */
static void blit(sx_tensor *dst, const sx_tensor *src, int64_t x, int64_t y)
{
    int64_t C = dst->shape[0], W = dst->shape[2], HW = dst->shape[1] * W;
    int64_t h = src->shape[1], w = src->shape[2];
    float *d = sx_tensor_data(dst);
    for (int64_t c = 0; c < C; c++) {
        int64_t sc = src->shape[0] == 1 ? 0 : c;
        for (int64_t r = 0; r < h; r++) {
            const float *s = src->storage->data + src->offset + sc * src->stride[0] + r * src->stride[1];
            float *o = d + c * HW + (y + r) * W + x;
            for (int64_t q = 0; q < w; q++) o[q] = s[q * src->stride[2]];
        }
    }
}

sx_tensor *sx_image_grid(int n, const sx_tensor *const *images, int ncol, int pad, float pad_value,
                         const char *const *captions, const float *text_color, int text_scale)
{
    const char *fn = "image_grid";
    char buf[96];
    if (n < 1 || !images) {
        sx_fail(SX_EINVAL, "%s: %d images, expected at least one", fn, images ? n : 0);
        return NULL;
    }
    if (pad < 0 || pad > 65536) {
        sx_fail(SX_EINVAL, "%s: pad %d, expected 0..65536", fn, pad);
        return NULL;
    }
    if (text_scale < 1 || text_scale > SX_IMAGE_MAX_TEXT_SCALE) {
        sx_fail(SX_EINVAL, "%s: text scale %d, expected 1..%d", fn, text_scale, SX_IMAGE_MAX_TEXT_SCALE);
        return NULL;
    }
    int64_t C = 0, CW = 1, CH = 1, strip = 0;
    bool same_c = true;
    for (int i = 0; i < n; i++) {
        const sx_tensor *t = images[i];
        if (!t) {
            sx_fail(SX_EINVAL, "%s: image #%d is NULL", fn, i + 1);
            return NULL;
        }
        if (t->ndim != 3 || t->shape[0] < 1 || t->shape[1] < 1 || t->shape[2] < 1 ||
            t->shape[1] > SX_IMAGE_MAX_SIDE || t->shape[2] > SX_IMAGE_MAX_SIDE) {
            sx_fail(SX_EINVAL, "%s: image #%d has shape %s, expected a non-empty image [C, H, W]", fn, i + 1,
                    sx_shape_str(t, buf, sizeof buf));
            return NULL;
        }
        if (i > 0 && t->shape[0] != images[0]->shape[0]) same_c = false;
        if (t->shape[0] > C) C = t->shape[0];
        if (t->shape[1] > CH) CH = t->shape[1];
        if (t->shape[2] > CW) CW = t->shape[2];
        const char *cap = captions ? captions[i] : NULL;
        int64_t tw = sx_image_text_width(cap, text_scale), th = sx_image_text_height(cap, text_scale);
        if (tw > CW) CW = tw;
        if (th > 0 && th + 2 * text_scale > strip) strip = th + 2 * text_scale;
    }
    if (!same_c)
        for (int i = 0; i < n; i++)
            if (C != 3 || (images[i]->shape[0] != 1 && images[i]->shape[0] != 3)) {
                sx_fail(SX_EINVAL,
                        "%s: image #%d has %lld channels and image #1 %lld: mix only grey (1) and RGB (3) images",
                        fn, i + 1, (long long)images[i]->shape[0], (long long)images[0]->shape[0]);
                return NULL;
            }
    if (CW > SX_IMAGE_MAX_SIDE || strip > SX_IMAGE_MAX_SIDE) {
        sx_fail(SX_EINVAL, "%s: a caption is wider or taller than %lld pixels", fn, (long long)SX_IMAGE_MAX_SIDE);
        return NULL;
    }
    if (ncol <= 0) {
        ncol = (int)ceil(sqrt((double)n));
        while ((int64_t)ncol * ncol < n) ncol++;
    }
    if (ncol > n) ncol = n;
    int64_t rows = (n + ncol - 1) / ncol;
    int64_t shape[3] = {C, pad + rows * (CH + strip + pad), pad + ncol * (CW + pad)};
    if (!sx_shape_check(fn, 3, shape)) return NULL;
    float *ink = malloc((size_t)C * sizeof *ink);
    sx_tensor *out = ink ? sx_tensor_full(3, shape, pad_value) : NULL;
    if (!out) {
        if (!ink) sx_fail(SX_ENOMEM, "%s: out of memory", fn);
        free(ink);
        return NULL;
    }
    for (int64_t c = 0; c < C; c++) ink[c] = text_color ? text_color[c] : pad_value < 0.5f ? 1.0f : 0.0f;
    for (int i = 0; i < n; i++) {
        const sx_tensor *t = images[i];
        int64_t cx = pad + (i % ncol) * (CW + pad), cy = pad + (i / ncol) * (CH + strip + pad);
        blit(out, t, cx + (CW - t->shape[2]) / 2, cy + (CH - t->shape[1]) / 2);
        const char *cap = captions ? captions[i] : NULL;
        if (cap && *cap) {
            int64_t tw = sx_image_text_width(cap, text_scale);
            sx_image_draw_text(out, cx + (CW - tw) / 2, cy + CH + text_scale, cap, ink, text_scale);
        }
    }
    free(ink);
    return out;
}
