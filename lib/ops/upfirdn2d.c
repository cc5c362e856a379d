/*
 * lib/ops/upfirdn2d.c — StyleGAN2's FIR resampling op: upsample by zero
 * insertion, pad (or crop), filter, downsample, in one pass; forward beside
 * backward.
 *
 * Definition, per channel plane (rows shown; columns are the same with x0, x1,
 * fw, W):
 *
 *   u[j] = x[j / up]  if j % up == 0 and 0 <= j < H*up, else 0  (zero insertion)
 *   p[j] = u[j - y0]                                             (pad; negative crops)
 *   o[m] = sum_{a < fh} f[a] * p[m*down + a]                     (correlation, then
 *                                                                 every down-th pixel)
 *   Ho   = (H*up + y0 + y1 - fh) / down + 1
 *
 * The filter is CORRELATED as given, not flipped. StyleGAN2's reference
 * upfirdn2d flips it by default (flip_filter=False means "convolve"); the
 * usual filters are symmetric so nothing changes for them, but an asymmetric
 * filter gives mirrored results between the two conventions. Here the
 * forward correlates with f and the backward correlates with flip(f).
 *
 * Backward. Unrolling the definition, o[m] = sum_{i,a} f[a] x[i] [m*down + a - y0 == i*up],
 * so
 *   gx[i] = sum_{m,a} g[m] f[a] [a == i*up + y0 - m*down],
 * which is upfirdn2d(g, flip(f), up = down, down = up) with
 *   pad0' = fh - 1 - y0
 *   pad1' = H*up - Ho*down + y0 - up + 1
 * (substitute b = fh-1-a in the forward formula applied to g: the tap
 * condition becomes i*up + b - pad0' == m*down, so pad0' = fh-1-y0; pad1' is
 * whatever makes the output exactly H rows: (Ho*down + pad0' + pad1' - fh)
 * must equal (H-1)*up. It uses the actual Ho, so the rows the forward dropped
 * by integer division are accounted for; pad1' may be negative.)
 * So the op is closed under differentiation and double backward works: the
 * backward of the backward is upfirdn2d with f, up, down, y0 again and
 * y1 - ((H*up + y0 + y1 - fh) % down), i.e. the forward minus the padding
 * the integer division ignored (same output).
 *
 * The filter f is a constant to autograd: only x is recorded as an input and
 * f never gets a gradient, even if it requires one. The flipped filter is
 * copied (detached) into the node at forward time.
 *
 * Kernel: polyphase, the zero-upsampled image is never built. For every
 * output row the filter rows that land on real input rows are found
 * arithmetically; for every filter column b the output columns that land on
 * input columns form an arithmetic progression (n0 + t*sn -> k0 + t*sk with
 * sn = up/gcd(up, down), sk = down/gcd(up, down)),
 * precomputed once per call, so the inner loop is an axpy (strided in x
 * when down > 1). When sn > 1 the output columns of one phase (n % sn) are
 * accumulated contiguously in a per-thread row buffer and interleaved into
 * the output row at the end, which keeps stores unit-stride. Work is
 * split over the N*C planes with sx_parallel_for. Accumulation is in float,
 * in a fixed order (results do not depend on the thread count).
 *
 * Separable filters (f = col * row^T, as StyleGAN2's [1,3,3,1] filters are)
 * with up = 1 (the blur after a transposed conv or before a stride-2 conv,
 * the 2x downsample, the backward of the blur and of the upsample) take a
 * second kernel: per output row, the fh input rows it reads are combined with col
 * into a zero-padded row buffer, then the buffer is correlated with row at
 * stride `down`: fh*down + fw multiply-adds per output pixel instead of
 * fh*fw, and one pass over memory (a 2-D filter need not be run as two 1-D
 * calls). With up = 2, down = 1 (the upsample, the backward of the downsample)
 * a third kernel does the same on the zero-inserted row: the column pass
 * touches only the filter rows that land on input rows. The op and its
 * backward are unchanged; only the summation order differs (within float
 * rounding of the 2-D sum).
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"
#include "stylex/ops.h"

/* Limits beyond which arguments are refused as absurd. */
#define UFD_MAX_FACTOR 256
#define UFD_MAX_PAD ((int64_t)1 << 24)
#define UFD_MAX_TAPS 4096
/* Taps per axis up to which a separable filter takes the separable kernel */
#define UFD_SEP_MAX_TAPS 64
/* sx_scratch slot of the row accumulator (conv.c uses 0-2) */
#define UFD_SCRATCH_SLOT 3

/* node->iattr layout */
enum { IA_UP, IA_DOWN, IA_X0, IA_X1, IA_Y0, IA_Y1, IA_HO, IA_WO };

/* For filter column b: output columns n0 + t*sn read input columns k0 + t*sk, t < cnt.
 * `at` is where column n0 sits in the row accumulator: n0 itself when sn = 1,
 * else in the phase-major layout (phase n % sn, then n / sn). */
typedef struct {
    int64_t n0, k0, cnt, at;
} col_run;

struct ufd_ctx {
    const float *x;      /* [planes, H, W] contiguous */
    const float *f;      /* [fh, fw] contiguous */
    float *o;            /* [planes, Ho, Wo] */
    const col_run *runs; /* [fw] */
    int64_t H, W, Ho, Wo;
    int64_t fh, fw;
    int64_t up, down, y0;
    int64_t sn, sk;      /* column progression steps: up/g and down/g, g = gcd(up, down) */
    volatile int failed; /* set by a chunk whose scratch allocation failed */
};

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Non-negative remainder. */
static int64_t mod64(int64_t a, int64_t m)
{
    int64_t r = a % m;
    return r < 0 ? r + m : r;
}

/* Ceiling division for a >= 0, b > 0. */
static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* The progression of output columns n (0 <= n < Wo) that filter column b maps
 * onto input columns k = (n*down + b - x0) / up with 0 <= k < W. */
static col_run column_run(int64_t b, int64_t W, int64_t Wo, int64_t up, int64_t down, int64_t x0,
                          int64_t sn, int64_t sk)
{
    col_run r = {0, 0, 0, 0};
    int64_t n1 = -1;
    for (int64_t n = 0; n < sn && n < Wo; n++)
        if (mod64(n * down + b - x0, up) == 0) {
            n1 = n;
            break;
        }
    if (n1 < 0) return r;
    int64_t k1 = (n1 * down + b - x0) / up; /* exact */
    int64_t t0 = k1 < 0 ? ceil_div(-k1, sk) : 0;
    int64_t n0 = n1 + t0 * sn, k0 = k1 + t0 * sk;
    if (n0 >= Wo || k0 >= W) return r;
    int64_t cn = ceil_div(Wo - n0, sn), ck = ceil_div(W - k0, sk);
    r.n0 = n0;
    r.k0 = k0;
    r.cnt = cn < ck ? cn : ck;
    /* phase-major position: the phases before n0's hold ceil((Wo - q) / sn) columns each */
    int64_t ph = n0 % sn;
    r.at = n0 / sn;
    for (int64_t q = 0; q < ph; q++) r.at += ceil_div(Wo - q, sn);
    return r;
}

static void ufd_planes(void *vctx, int64_t begin, int64_t end, int thread)
{
    struct ufd_ctx *c = vctx;
    const int64_t H = c->H, W = c->W, Ho = c->Ho, Wo = c->Wo, fw = c->fw, sn = c->sn, sk = c->sk;
    /* with sn > 1 a row is accumulated phase by phase (contiguous runs), then interleaved */
    float *buf = NULL;
    if (sn > 1 && !(buf = sx_scratch(thread, UFD_SCRATCH_SLOT, (size_t)Wo))) {
        c->failed = 1;
        return;
    }
    for (int64_t p = begin; p < end; p++) {
        const float *xp = c->x + p * H * W; /* [H, W] */
        float *op = c->o + p * Ho * Wo;      /* [Ho, Wo] */
        for (int64_t m = 0; m < Ho; m++) {
            float *orow = op + m * Wo;
            float *acc = sn > 1 ? buf : orow; /* [Wo], phase-major when sn > 1 */
            memset(acc, 0, (size_t)Wo * sizeof *acc);
            /* filter rows a with (j0 + a) % up == 0 hit input row (j0 + a) / up */
            int64_t j0 = m * c->down - c->y0;
            for (int64_t a = mod64(-j0, c->up); a < c->fh; a += c->up) {
                int64_t i = (j0 + a) / c->up; /* exact */
                if (i < 0) continue;
                if (i >= H) break;
                const float *xrow = xp + i * W, *frow = c->f + a * fw;
                for (int64_t b = 0; b < fw; b++) {
                    const col_run r = c->runs[b];
                    const float w = frow[b];
                    float *od = acc + r.at;
                    const float *xs = xrow + r.k0;
                    if (sk == 1) {
                        for (int64_t t = 0; t < r.cnt; t++) od[t] += w * xs[t];
                    } else {
                        for (int64_t t = 0; t < r.cnt; t++) od[t] += w * xs[t * sk];
                    }
                }
            }
            if (sn > 1) {
                const float *src = buf;
                for (int64_t ph = 0; ph < sn && ph < Wo; ph++) {
                    int64_t len = ceil_div(Wo - ph, sn);
                    for (int64_t t = 0; t < len; t++) orow[ph + t * sn] = src[t];
                    src += len;
                }
            }
        }
    }
}

/* ---------------------------------------------------------------- separable, up = 1 */

/* f [fh, fw] as col[fh] * row[fw] (row normalised at f's largest entry),
 * true when that reproduces every entry to 1e-6 of the largest; the
 * factors are written to col and row. */
static bool split_separable(const float *f, int64_t fh, int64_t fw, float *col, float *row)
{
    int64_t ia = 0, ib = 0;
    float big = 0;
    for (int64_t a = 0; a < fh; a++)
        for (int64_t b = 0; b < fw; b++)
            if (fabsf(f[a * fw + b]) > big) big = fabsf(f[a * fw + b]), ia = a, ib = b;
    if (!(big > 0) || !isfinite(big)) return false;
    const float piv = f[ia * fw + ib];
    for (int64_t a = 0; a < fh; a++) col[a] = f[a * fw + ib];
    for (int64_t b = 0; b < fw; b++) row[b] = f[ia * fw + b] / piv;
    for (int64_t a = 0; a < fh; a++)
        for (int64_t b = 0; b < fw; b++)
            if (!(fabsf(f[a * fw + b] - col[a] * row[b]) <= 1e-6f * big)) return false;
    return true;
}

struct ufd_sep_ctx {
    const float *x;        /* [planes, H, W] contiguous */
    float *o;              /* [planes, Ho, Wo] */
    const float *col, *row; /* [fh], [fw] */
    int64_t H, W, Ho, Wo, fh, fw, down, x0, y0;
    int64_t span;          /* row buffer length: (Wo - 1) * down + fw */
    volatile int failed;
};

/* orow[n] = sum_b row[b] * buf[n*d + b], n < Wo: the row pass of the
 * separable kernels (with 4 taps in one sweep; the same sums in the same order
 * as the general loops). */
static void sep_row_pass(float *restrict orow, const float *restrict buf, const float *row, int64_t fw, int64_t d,
                         int64_t Wo)
{
    const float r0 = row[0];
    if (fw == 4) {
        const float r1 = row[1], r2 = row[2], r3 = row[3];
        if (d == 1) {
            for (int64_t n = 0; n < Wo; n++) orow[n] = r0 * buf[n] + r1 * buf[n + 1] + r2 * buf[n + 2] + r3 * buf[n + 3];
        } else {
            for (int64_t n = 0; n < Wo; n++) {
                const float *bs = buf + n * d;
                orow[n] = r0 * bs[0] + r1 * bs[1] + r2 * bs[2] + r3 * bs[3];
            }
        }
    } else if (d == 1) {
        for (int64_t n = 0; n < Wo; n++) orow[n] = r0 * buf[n];
        for (int64_t b = 1; b < fw; b++) {
            const float w = row[b];
            const float *bs = buf + b;
            for (int64_t n = 0; n < Wo; n++) orow[n] += w * bs[n];
        }
    } else {
        for (int64_t n = 0; n < Wo; n++) orow[n] = r0 * buf[n * d];
        for (int64_t b = 1; b < fw; b++) {
            const float w = row[b];
            const float *bs = buf + b;
            for (int64_t n = 0; n < Wo; n++) orow[n] += w * bs[n * d];
        }
    }
}

/* One filter row of the column pass: bd[t * stride] = w * xs[t] for t < len
 * when first (the first row that lands in the image), += otherwise. */
static inline void sep_col_tap(float *bd, int64_t stride, const float *xs, float w, int64_t len, bool first)
{
    if (first) {
        for (int64_t t = 0; t < len; t++) bd[t * stride] = w * xs[t];
    } else {
        for (int64_t t = 0; t < len; t++) bd[t * stride] += w * xs[t];
    }
}

/* The column pass without upsampling, for output row m of plane xp: the
 * filter rows a that land on input rows i = m*down - y0 + a, combined with
 * col into buf[jlo, jhi) (buffer index j holds input column j - x0). False
 * when none does. */
static inline bool sep_col_pass(const struct ufd_sep_ctx *c, const float *xp, int64_t m, float *buf, int64_t jlo,
                                int64_t jhi)
{
    const int64_t H = c->H, W = c->W, fh = c->fh, x0 = c->x0;
    bool any = false;
    const int64_t i0 = m * c->down - c->y0, len = jhi - jlo;
    float *bd = buf + jlo;
    if (len <= 0) {
        /* no input column reaches this row's buffer */
    } else if (fh == 4 && i0 >= 0 && i0 + 3 < H) {
        /* the common case, 4 rows inside the image, in one sweep (the same
         * sums in the same order as the loop below) */
        const float w0 = c->col[0], w1 = c->col[1], w2 = c->col[2], w3 = c->col[3];
        const float *r0p = xp + i0 * W + (jlo - x0), *r1p = r0p + W, *r2p = r1p + W, *r3p = r2p + W;
        for (int64_t t = 0; t < len; t++) bd[t] = w0 * r0p[t] + w1 * r1p[t] + w2 * r2p[t] + w3 * r3p[t];
        any = true;
    } else {
        for (int64_t a = 0; a < fh; a++) {
            int64_t i = i0 + a;
            if (i < 0 || i >= H) continue;
            sep_col_tap(bd, 1, xp + i * W + (jlo - x0), c->col[a], len, !any);
            any = true;
        }
    }
    return any;
}

/* The column pass for up = 2, down = 1, for output row m of plane xp: the
 * filter rows that land on input rows (every other one) combined with col
 * into the even-phase slots of the zero-inserted row buffer (buf index q
 * holds zero-upsampled column q - x0, i.e. input column (q - x0) / 2 when
 * q - x0 is even), for input columns [klo, khi). False when none lands. */
static inline bool sep_up2_col_pass(const struct ufd_sep_ctx *c, const float *xp, int64_t m, float *buf, int64_t klo,
                                    int64_t khi)
{
    const int64_t H = c->H, W = c->W, fh = c->fh;
    bool any = false;
    float *bd = buf + c->x0 + 2 * klo;
    const int64_t len = khi - klo;
    /* filter rows a with m + a - y0 even land on input row (m + a - y0) / 2 */
    for (int64_t a = mod64(c->y0 - m, 2); a < fh && len > 0; a += 2) {
        int64_t i = (m + a - c->y0) / 2;
        if (i < 0) continue;
        if (i >= H) break;
        sep_col_tap(bd, 2, xp + i * W + klo, c->col[a], len, !any);
        any = true;
    }
    return any;
}

/* The separable kernels: per plane and output row, the column pass into a
 * row buffer, then the row pass (sep_row_pass) over it; a row no filter row
 * reaches is zero. Without upsampling (up2 false) the buffer holds the input
 * columns the row pass reads, zero-padded, and the row pass runs at stride
 * down. For up = 2, down = 1 (up2: the upsample, and the backward of the 2x
 * downsample) it is the zero-inserted, zero-padded row, at stride 1. The
 * column passes write only the slots that hold input columns, so the zeros
 * set once per chunk stay. */
static void sep_planes(struct ufd_sep_ctx *c, int64_t begin, int64_t end, int thread, bool up2)
{
    const int64_t H = c->H, W = c->W, Ho = c->Ho, Wo = c->Wo;
    const int64_t span = c->span, x0 = c->x0;
    float *buf = sx_scratch(thread, UFD_SCRATCH_SLOT, (size_t)span);
    if (!buf) {
        c->failed = 1;
        return;
    }
    int64_t lo, hi; /* without up2: the buffer slots inside the image; with: the input columns that land */
    if (up2) {
        memset(buf, 0, (size_t)span * sizeof *buf);
        /* input columns k in [lo, hi) land on slots x0 + 2k in [0, span) */
        lo = x0 < 0 ? ceil_div(-x0, 2) : 0;
        hi = span - 1 - x0 < 0 ? 0 : (span - 1 - x0) / 2 + 1;
        if (hi > W) hi = W;
    } else {
        lo = x0 > 0 ? x0 : 0;
        hi = W + x0 < span ? W + x0 : span;
        if (lo > 0) memset(buf, 0, (size_t)(lo < span ? lo : span) * sizeof *buf);
        if (hi < span) memset(buf + (hi > 0 ? hi : 0), 0, (size_t)(span - (hi > 0 ? hi : 0)) * sizeof *buf);
    }
    for (int64_t p = begin; p < end; p++) {
        const float *xp = c->x + p * H * W;
        float *op = c->o + p * Ho * Wo;
        for (int64_t m = 0; m < Ho; m++) {
            float *orow = op + m * Wo;
            bool any = up2 ? sep_up2_col_pass(c, xp, m, buf, lo, hi) : sep_col_pass(c, xp, m, buf, lo, hi);
            if (!any) {
                memset(orow, 0, (size_t)Wo * sizeof *orow);
                continue;
            }
            /* horizontal: correlate the buffer with row at stride down */
            sep_row_pass(orow, buf, c->row, c->fw, up2 ? 1 : c->down, Wo);
        }
    }
}

static void ufd_sep_planes(void *vctx, int64_t begin, int64_t end, int thread)
{
    sep_planes(vctx, begin, end, thread, false);
}

static void ufd_sep_up2_planes(void *vctx, int64_t begin, int64_t end, int thread)
{
    sep_planes(vctx, begin, end, thread, true);
}

/* Output size along one axis, or -1 when the padded image is smaller than the filter. */
static int64_t out_size(int64_t in, int64_t up, int64_t down, int64_t p0, int64_t p1, int64_t taps)
{
    int64_t span = in * up + p0 + p1 - taps;
    return span < 0 ? -1 : span / down + 1;
}

sx_tensor *sx_upfirdn2d(sx_tensor *x, sx_tensor *f, int up, int down, const int pad[4])
{
    static const char *fn = "upfirdn2d";
    if (!sx_check_arg(fn, 1, x) || !sx_check_arg(fn, 2, f)) return NULL;
    char sx[96], sf[96];
    if (!pad) {
        sx_fail(SX_EINVAL, "upfirdn2d: pad is NULL (expects {x0, x1, y0, y1})");
        return NULL;
    }
    if (x->ndim != 4) {
        sx_fail(SX_EINVAL, "upfirdn2d: x must be 4-D [N, C, H, W], got %s", sx_shape_str(x, sx, sizeof sx));
        return NULL;
    }
    if (f->ndim != 2) {
        sx_fail(SX_EINVAL, "upfirdn2d: filter must be 2-D [fh, fw], got %s", sx_shape_str(f, sf, sizeof sf));
        return NULL;
    }
    sx_shape_str(x, sx, sizeof sx);
    sx_shape_str(f, sf, sizeof sf);
    if (up < 1 || down < 1 || up > UFD_MAX_FACTOR || down > UFD_MAX_FACTOR) {
        sx_fail(SX_EINVAL, "upfirdn2d: up = %d and down = %d must be in [1, %d] (x %s)", up, down,
                UFD_MAX_FACTOR, sx);
        return NULL;
    }
    for (int k = 0; k < 4; k++)
        if (pad[k] > UFD_MAX_PAD || pad[k] < -UFD_MAX_PAD) {
            sx_fail(SX_EINVAL, "upfirdn2d: pad[%d] = %d is out of range (|pad| <= %lld; x %s)", k, pad[k],
                    (long long)UFD_MAX_PAD, sx);
            return NULL;
        }
    const int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    const int64_t fh = f->shape[0], fw = f->shape[1];
    if (fh < 1 || fw < 1 || fh > UFD_MAX_TAPS || fw > UFD_MAX_TAPS) {
        sx_fail(SX_EINVAL, "upfirdn2d: filter %s must have between 1 and %d taps per axis", sf, UFD_MAX_TAPS);
        return NULL;
    }
    if (H < 1 || W < 1) {
        sx_fail(SX_EINVAL, "upfirdn2d: x %s has an empty spatial dimension", sx);
        return NULL;
    }
    const int64_t x0 = pad[0], x1 = pad[1], y0 = pad[2], y1 = pad[3];
    const int64_t Ho = out_size(H, up, down, y0, y1, fh), Wo = out_size(W, up, down, x0, x1, fw);
    if (Ho < 1 || Wo < 1) {
        sx_fail(SX_EINVAL,
                "upfirdn2d: empty output: x %s upsampled by %d and padded by (x0 %lld, x1 %lld, y0 %lld, "
                "y1 %lld) is %lld x %lld, smaller than the filter %s",
                sx, up, (long long)x0, (long long)x1, (long long)y0, (long long)y1,
                (long long)(H * up + y0 + y1), (long long)(W * up + x0 + x1), sf);
        return NULL;
    }
    const int64_t oshape[4] = {N, C, Ho, Wo};
    if (!sx_shape_check(fn, 4, oshape)) return NULL;

    sx_tensor *xc = sx_tensor_as_contiguous(x);
    float *fd = malloc((size_t)(fh * fw) * sizeof *fd);
    col_run *runs = malloc((size_t)fw * sizeof *runs);
    sx_tensor *o = xc && fd && runs ? sx_tensor_empty(4, oshape) : NULL;
    if (!o) {
        if (xc && (!fd || !runs)) sx_fail(SX_ENOMEM, "upfirdn2d: out of memory (filter %s)", sf);
        sx_tensor_free(xc);
        free(fd);
        free(runs);
        return NULL;
    }
    sx_tensor_copy_to(f, fd);

    float col[UFD_SEP_MAX_TAPS], row[UFD_SEP_MAX_TAPS];
    bool sep = false;
    if ((up == 1 || (up == 2 && down == 1)) && fh > 1 && fw > 1 && fh <= UFD_SEP_MAX_TAPS &&
        fw <= UFD_SEP_MAX_TAPS && split_separable(fd, fh, fw, col, row)) {
        sep = true;
        struct ufd_sep_ctx sc = {
            .x = sx_tensor_data(xc), .o = sx_tensor_data(o), .col = col, .row = row,
            .H = H, .W = W, .Ho = Ho, .Wo = Wo, .fh = fh, .fw = fw, .down = down, .x0 = x0, .y0 = y0,
            .span = (Wo - 1) * down + fw,
        };
        int64_t per_plane = Ho * Wo * (fh * down / up + fw) + 1;
        sx_parallel_for(N * C, 32768 / per_plane + 1, up == 1 ? ufd_sep_planes : ufd_sep_up2_planes, &sc);
        if (sc.failed) {
            sx_tensor_free(xc);
            sx_tensor_free(o);
            free(fd);
            free(runs);
            sx_fail(SX_ENOMEM, "upfirdn2d: out of memory for a %lld-float row buffer", (long long)sc.span);
            return NULL;
        }
    }
    const int64_t g = gcd64(up, down);
    struct ufd_ctx c = {
        .x = sx_tensor_data(xc), .f = fd, .o = sx_tensor_data(o), .runs = runs,
        .H = H, .W = W, .Ho = Ho, .Wo = Wo, .fh = fh, .fw = fw,
        .up = up, .down = down, .y0 = y0, .sn = up / g, .sk = down / g,
    };
    if (!sep) {
        for (int64_t b = 0; b < fw; b++) runs[b] = column_run(b, W, Wo, up, down, x0, c.sn, c.sk);
        /* multiply-adds per plane, roughly: enough work per chunk to pay for a hand-off */
        int64_t per_plane = Ho * Wo * (fh / up + 1) * (fw / up + 1) + 1;
        int64_t grain = 32768 / per_plane + 1;
        sx_parallel_for(N * C, grain, ufd_planes, &c);
    }
    sx_tensor_free(xc);
    free(runs);
    if (c.failed) {
        sx_tensor_free(o);
        free(fd);
        sx_fail(SX_ENOMEM, "upfirdn2d: out of memory for a %lld-float row buffer", (long long)Wo);
        return NULL;
    }

    sx_tensor *ff = NULL;
    if (sx_needs_record(1, &x)) {
        /* the backward correlates with the flipped filter */
        for (int64_t i = 0; i < fh * fw / 2; i++) {
            float t = fd[i];
            fd[i] = fd[fh * fw - 1 - i];
            fd[fh * fw - 1 - i] = t;
        }
        ff = sx_tensor_from_data(2, f->shape, fd);
        if (!ff) {
            sx_tensor_free(o);
            free(fd);
            return NULL;
        }
    }
    free(fd);

    sx_node *node = sx_record(&o, SX_OP_UPFIRDN2D, 1, &x);
    if (node) {
        node->iattr[IA_UP] = up;
        node->iattr[IA_DOWN] = down;
        node->iattr[IA_X0] = x0;
        node->iattr[IA_X1] = x1;
        node->iattr[IA_Y0] = y0;
        node->iattr[IA_Y1] = y1;
        node->iattr[IA_HO] = Ho;
        node->iattr[IA_WO] = Wo;
        sx_node_save(node, 0, ff);
    }
    sx_tensor_free(ff);
    return o;
}

/* gx = upfirdn2d(g, flip(f), down, up, pad') with pad' derived in the file header. */
sx_status sx_upfirdn2d_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    const sx_tensor *x = n->inputs[0], *ff = n->saved[0];
    if (!sx_needs_grad(x)) return SX_OK;
    const int64_t up = n->iattr[IA_UP], down = n->iattr[IA_DOWN];
    const int64_t H = x->shape[2], W = x->shape[3], Ho = n->iattr[IA_HO], Wo = n->iattr[IA_WO];
    const int64_t fh = ff->shape[0], fw = ff->shape[1];
    const int64_t x0 = n->iattr[IA_X0], y0 = n->iattr[IA_Y0];
    const int64_t p[4] = {
        fw - 1 - x0, W * up - Wo * down + x0 - up + 1,
        fh - 1 - y0, H * up - Ho * down + y0 - up + 1,
    };
    int pad[4];
    for (int k = 0; k < 4; k++) {
        if (p[k] > UFD_MAX_PAD || p[k] < -UFD_MAX_PAD)
            return sx_fail(SX_EINVAL, "upfirdn2d backward: derived pad[%d] = %lld is out of range", k,
                           (long long)p[k]);
        pad[k] = (int)p[k];
    }
    sx_tensor *gx = sx_upfirdn2d(g, (sx_tensor *)ff, (int)down, (int)up, pad);
    if (!gx) return sx_last_status();
    if (!sx_tensor_same_shape(gx, x)) {
        char s1[96], s2[96];
        sx_shape_str(gx, s1, sizeof s1);
        sx_shape_str(x, s2, sizeof s2);
        sx_tensor_free(gx);
        return sx_fail(SX_ESTATE, "upfirdn2d backward: gradient %s does not match input %s", s1, s2);
    }
    gi[0] = gx;
    return SX_OK;
}
