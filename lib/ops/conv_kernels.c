/*
 * lib/ops/conv_kernels.c — the kernels of the convolution family (the ops
 * are in conv.c): im2col / col2im, the tiling of the GEMM's columns, and the
 * three drivers conv2d, conv2d_weight and conv^T.
 *
 * conv2d and conv2d_weight cut the GEMM's column dimension (samples x output
 * positions) into tiles that the pool's threads take from a shared counter:
 * each thread im2cols a tile into its own scratch buffer, sized to stay in
 * L2, and calls single-threaded cblas_sgemm on it (OpenBLAS is pinned to one
 * thread; the pool is the only parallelism). Tiles span several samples when
 * images are small, so the GEMM stays wide; a tile inside one sample writes
 * straight into the output. conv2d_weight sums per-thread partial gradients.
 * 1x1 stride-1 unpadded convs skip im2col. Inputs are made contiguous first.
 * Each GEMM adds its FLOPs to the library's counter (sx_flops_add).
 *
 * Scratch slots (sx_scratch, per thread): 0 the im2col / col2im buffer,
 * 1 gathered or scattered GEMM operands, 2 conv2d_weight's partial sums (and,
 * on the calling thread, the flipped kernel of a stride-1 transpose), 3 the
 * zero-padded input rows of im2col.
 */
#include <cblas.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"
#include "conv_internal.h"

/* Bytes of im2col buffer per tile: small enough to stay in a core's L2. */
#define CONV_TILE_BYTES (384 * 1024)
/* Fewest and most GEMM columns per tile. */
#define CONV_TILE_MIN 64
#define CONV_TILE_MAX 4096
/* Images with at least this many output positions are tiled one at a time
 * (tiles write directly into the output); smaller ones are batched. */
#define CONV_SAMPLE_TILE_MIN 256

static int64_t cg_kk(const conv_geom *g) { return g->kh * g->kw; }
static int64_t cg_cin_g(const conv_geom *g) { return g->C / g->G; }
static int64_t cg_cout_g(const conv_geom *g) { return g->Cout / g->G; }
static int64_t cg_kg(const conv_geom *g) { return g->C / g->G * g->kh * g->kw; } /* GEMM depth per group */
static int64_t cg_hwi(const conv_geom *g) { return g->H * g->W; }
static int64_t cg_hwo(const conv_geom *g) { return g->Ho * g->Wo; }

static bool cg_is_pointwise(const conv_geom *g)
{
    return g->kh == 1 && g->kw == 1 && g->sy == 1 && g->sx == 1 && g->py == 0 && g->px == 0;
}

/* ---------------------------------------------------------------- im2col / col2im */

/* Adds d[0, p1-p0), the col values of kernel tap (ky, kx) at output positions
 * [p0, p1) of one image, back into its input plane zp [H, W] (col2im). */
static void col2im_span(const conv_geom *g, float *zp, int64_t ky, int64_t kx, int64_t p0, int64_t p1,
                        const float *d)
{
    int64_t oy = p0 / g->Wo, ox = p0 % g->Wo;
    for (int64_t p = p0; p < p1;) {
        int64_t len = g->Wo - ox < p1 - p ? g->Wo - ox : p1 - p;
        int64_t iy = oy * g->sy - g->py + ky;
        if (iy >= 0 && iy < g->H) {
            float *dst = zp + iy * g->W;
            int64_t ix0 = ox * g->sx - g->px + kx;
            for (int64_t i = 0; i < len; i++) {
                int64_t ix = ix0 + i * g->sx;
                if (ix >= 0 && ix < g->W) dst[ix] += d[i];
            }
        }
        d += len;
        p += len;
        ox = 0;
        oy++;
    }
}

/* col [C*kh*kw, len] for GEMM columns [c0, c0+len) of x [N, C, H, W]; a
 * column is (sample, output position) and may run across samples. Each input
 * plane is first copied into `pad` with its zero border (the rows the tile
 * needs), so the gather below has no bounds tests and vectorises. */
static void im2col_tile(const conv_geom *g, const float *x, int64_t c0, int64_t len, float *restrict col,
                        float *restrict pad)
{
    int64_t hwo = cg_hwo(g), hwi = cg_hwi(g), Wp = g->W + 2 * g->px, sx = g->sx;
    for (int64_t done = 0; done < len;) {
        int64_t n = (c0 + done) / hwo, p0 = (c0 + done) % hwo;
        int64_t p1 = hwo - p0 < len - done ? hwo : p0 + len - done;
        int64_t r0 = p0 / g->Wo * g->sy, r1 = (p1 - 1) / g->Wo * g->sy + g->kh; /* padded rows used */
        for (int64_t c = 0; c < g->C; c++) {
            const float *xp = x + (n * g->C + c) * hwi;
            for (int64_t r = r0; r < r1; r++) {
                float *pr = pad + (r - r0) * Wp;
                int64_t iy = r - g->py;
                if (iy < 0 || iy >= g->H) {
                    memset(pr, 0, (size_t)Wp * sizeof *pr);
                    continue;
                }
                for (int64_t i = 0; i < g->px; i++) pr[i] = pr[g->px + g->W + i] = 0.0f;
                memcpy(pr + g->px, xp + iy * g->W, (size_t)g->W * sizeof *pr);
            }
            for (int64_t ky = 0; ky < g->kh; ky++)
                for (int64_t kx = 0; kx < g->kw; kx++) {
                    float *restrict d = col + ((c * g->kh + ky) * g->kw + kx) * len + done;
                    int64_t oy = p0 / g->Wo, ox = p0 % g->Wo;
                    for (int64_t p = p0; p < p1;) {
                        int64_t k = g->Wo - ox < p1 - p ? g->Wo - ox : p1 - p;
                        const float *restrict s = pad + (oy * g->sy + ky - r0) * Wp + kx + ox * sx;
                        if (sx == 1)
                            memcpy(d, s, (size_t)k * sizeof *d);
                        else
                            for (int64_t i = 0; i < k; i++) d[i] = s[i * sx];
                        d += k;
                        p += k;
                        ox = 0;
                        oy++;
                    }
                }
        }
        done += p1 - p0;
    }
}

/* Floats of the padded-plane buffer im2col_tile needs for tiles of up to T columns. */
static size_t im2col_pad_size(const conv_geom *g, int64_t T)
{
    int64_t rows = (T / g->Wo + 2) * g->sy + g->kh, hp = g->H + 2 * g->py;
    return (size_t)((rows < hp ? rows : hp) * (g->W + 2 * g->px));
}

/* Copies GEMM columns [c0, c0+len) of a [N, rows, HWo] tensor into m [rows, len]. */
static void gather_cols(const float *t, int64_t rows, int64_t hw, int64_t c0, int64_t len, float *m)
{
    for (int64_t done = 0; done < len;) {
        int64_t n = (c0 + done) / hw, p0 = (c0 + done) % hw;
        int64_t k = hw - p0 < len - done ? hw - p0 : len - done;
        for (int64_t r = 0; r < rows; r++)
            memcpy(m + r * len + done, t + (n * rows + r) * hw + p0, (size_t)k * sizeof *m);
        done += k;
    }
}

/* The inverse of gather_cols, adding bias[r] (or nothing) on the way. */
static void scatter_cols(const float *m, int64_t rows, int64_t hw, int64_t c0, int64_t len, const float *bias,
                         float *t)
{
    for (int64_t done = 0; done < len;) {
        int64_t n = (c0 + done) / hw, p0 = (c0 + done) % hw;
        int64_t k = hw - p0 < len - done ? hw - p0 : len - done;
        for (int64_t r = 0; r < rows; r++) {
            float *dst = t + (n * rows + r) * hw + p0;
            const float *src = m + r * len + done;
            if (bias) {
                float b = bias[r];
                for (int64_t i = 0; i < k; i++) dst[i] = src[i] + b;
            } else {
                memcpy(dst, src, (size_t)k * sizeof *dst);
            }
        }
        done += k;
    }
}

/* ---------------------------------------------------------------- column tiling */

/* Columns per tile for a GEMM depth of `depth` rows of col. */
static int64_t conv_tile_cols(int64_t depth)
{
    int64_t t = CONV_TILE_BYTES / (int64_t)sizeof(float) / (depth > 0 ? depth : 1);
    if (t < CONV_TILE_MIN) t = CONV_TILE_MIN;
    if (t > CONV_TILE_MAX) t = CONV_TILE_MAX;
    return t;
}

/* How the GEMM columns (samples x output positions) are cut into tiles.
 * Threads take tiles from a shared counter, so a core slowed by another
 * process does less of the work. Large images are cut into equal pieces
 * inside each sample (their tiles write straight into the output); small
 * ones into equal runs across samples. Tile counts are rounded to a
 * multiple of the thread count when there are few. */
typedef struct conv_tiles {
    int64_t hw;      /* output positions per sample */
    int64_t cols;    /* N * hw */
    int64_t per;     /* tiles per sample (by_sample) */
    int64_t len;     /* columns per tile (the last may be shorter) */
    int64_t count;   /* number of tiles */
    bool by_sample;
    int threads;     /* threads to run: 1 when the job is too small to split */
} conv_tiles;

static conv_tiles conv_tiles_plan(int64_t N, int64_t hw, int64_t T, double flops)
{
    conv_tiles p = {.hw = hw, .cols = N * hw, .by_sample = hw >= CONV_SAMPLE_TILE_MIN};
    int threads = flops < 4e6 ? 1 : sx_num_threads();
    if (p.by_sample) {
        p.per = (hw + T - 1) / T;
        while (N * p.per < 8 * threads && (N * p.per) % threads && p.per < hw) p.per++;
        p.len = (hw + p.per - 1) / p.per;
        p.per = (hw + p.len - 1) / p.len; /* no empty piece */
        p.count = N * p.per;
    } else {
        int64_t n = (p.cols + T - 1) / T;
        if (n < 8 * threads) n = (n + threads - 1) / threads * threads;
        if (n > p.cols) n = p.cols;
        p.len = (p.cols + n - 1) / n;
        p.count = (p.cols + p.len - 1) / p.len;
    }
    p.threads = p.count < threads ? (int)p.count : threads;
    return p;
}

/* Tile k: first column *c0 and length. */
static int64_t conv_tile_get(const conv_tiles *p, int64_t k, int64_t *c0)
{
    if (p->by_sample) {
        int64_t n = k / p->per, j = k % p->per, start = j * p->len;
        *c0 = n * p->hw + start;
        return p->hw - start < p->len ? p->hw - start : p->len;
    }
    *c0 = k * p->len;
    return p->cols - *c0 < p->len ? p->cols - *c0 : p->len;
}

/* ---------------------------------------------------------------- conv2d kernel */

/* The columns of x [N, C, H, W] for the tile of len output positions from
 * flat position c: read in place (direct: a pointwise conv whose tile stays
 * within one image) or unfolded by im2col into this thread's scratch.
 * *B [C*kh*kw, len] with leading dimension *ldb; false when out of memory. */
static bool tile_columns(const conv_geom *g, const float *x, const conv_tiles *tiles, int thread, int64_t c,
                         int64_t len, bool direct, const float **B, int64_t *ldb)
{
    int64_t hwo = cg_hwo(g), hwi = cg_hwi(g);
    if (direct) {
        *B = x + (c / hwo) * g->C * hwi + c % hwo;
        *ldb = hwi;
        return true;
    }
    float *col = sx_scratch(thread, 0, (size_t)(g->C * cg_kk(g) * len));
    float *pad = sx_scratch(thread, 3, im2col_pad_size(g, tiles->len));
    if (!col || !pad) return false;
    im2col_tile(g, x, c, len, col, pad);
    *B = col;
    *ldb = len;
    return true;
}

struct fwd_ctx {
    const conv_geom *g;
    const float *x, *w, *b;  /* x [N, C, H, W], w [Cout, C/G*kh*kw], b [Cout] or NULL */
    float *y;                /* [N, Cout, Ho, Wo] */
    conv_tiles tiles;
    atomic_llong next;       /* the next tile to take */
    atomic_int failed;
};

static void fwd_body(void *vctx, int64_t begin, int64_t end, int thread)
{
    struct fwd_ctx *cx = vctx;
    const conv_geom *g = cx->g;
    int64_t hwo = cg_hwo(g), kg = cg_kg(g), cog = cg_cout_g(g);
    bool pointwise = cg_is_pointwise(g);
    for (int64_t k; (k = atomic_fetch_add(&cx->next, 1)) < cx->tiles.count;) {
        int64_t c;
        int64_t len = conv_tile_get(&cx->tiles, k, &c);
        int64_t n = c / hwo, p0 = c % hwo;
        bool single = p0 + len <= hwo;
        const float *B;
        int64_t ldb;
        if (!tile_columns(g, cx->x, &cx->tiles, thread, c, len, pointwise && single, &B, &ldb)) {
            atomic_store(&cx->failed, 1);
            return;
        }
        float *C;
        int64_t ldc;
        if (single) {
            C = cx->y + n * g->Cout * hwo + p0;
            ldc = hwo;
        } else {
            C = sx_scratch(thread, 1, (size_t)(g->Cout * len));
            if (!C) {
                atomic_store(&cx->failed, 1);
                return;
            }
            ldc = len;
        }
        sx_flops_add(g->G * cog, len, kg);
        for (int64_t gi = 0; gi < g->G; gi++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)cog, (int)len, (int)kg, 1.0f,
                        cx->w + gi * cog * kg, (int)kg, B + gi * kg * ldb, (int)ldb, 0.0f, C + gi * cog * ldc,
                        (int)ldc);
        if (!single) {
            scatter_cols(C, g->Cout, hwo, c, len, cx->b, cx->y);
        } else if (cx->b) {
            for (int64_t o = 0; o < g->Cout; o++) {
                float bo = cx->b[o], *row = C + o * ldc;
                for (int64_t i = 0; i < len; i++) row[i] += bo;
            }
        }
    }
}

/* y = conv2d(x, w) + b on contiguous data; false (no message) if out of memory. */
bool sx_conv_kernel_forward(const conv_geom *g, const float *x, const float *w, const float *b, float *y)
{
    if (g->N == 0) return true;
    double flops = 2.0 * (double)(g->N * cg_hwo(g)) * (double)g->Cout * (double)cg_kg(g);
    struct fwd_ctx cx = {.g = g, .x = x, .w = w, .b = b, .y = y,
                         .tiles = conv_tiles_plan(g->N, cg_hwo(g), conv_tile_cols(g->C * cg_kk(g)), flops)};
    atomic_init(&cx.next, 0);
    atomic_init(&cx.failed, 0);
    sx_parallel_for(cx.tiles.threads, 1, fwd_body, &cx);
    return !atomic_load(&cx.failed);
}

/* ---------------------------------------------------------------- conv2d_weight kernel */

#define CONV_MAX_PARTIALS 64

struct wgt_ctx {
    const conv_geom *g;
    const float *x, *gy;  /* x [N, C, H, W], gy [N, Cout, Ho, Wo] */
    conv_tiles tiles;
    atomic_llong next;
    float *partial[CONV_MAX_PARTIALS];  /* per thread: its share of dw [Cout, C/G*kh*kw] */
    atomic_int failed;
};

static void wgt_body(void *vctx, int64_t begin, int64_t end, int thread)
{
    struct wgt_ctx *cx = vctx;
    const conv_geom *g = cx->g;
    int64_t hwo = cg_hwo(g), kg = cg_kg(g), cog = cg_cout_g(g);
    bool pointwise = cg_is_pointwise(g);
    float *dw = thread < CONV_MAX_PARTIALS ? sx_scratch(thread, 2, (size_t)(g->Cout * kg)) : NULL;
    if (!dw) {
        atomic_store(&cx->failed, 1);
        return;
    }
    float beta = 0.0f;
    /* Tiles are dealt statically (worker v takes v, v + T, v + 2T, ...), not
     * from the shared counter: which tiles land in which partial sum, and in
     * what order, must not depend on timing, or dw would change in its last
     * bits from run to run and a resumed training run would drift. */
    int64_t T = cx->tiles.threads;
    for (int64_t v = begin; v < end; v++)
    for (int64_t k = v; k < cx->tiles.count; k += T) {
        int64_t c;
        int64_t len = conv_tile_get(&cx->tiles, k, &c);
        int64_t n = c / hwo, p0 = c % hwo;
        bool single = p0 + len <= hwo;
        const float *B, *A;
        int64_t ldb, lda;
        if (!tile_columns(g, cx->x, &cx->tiles, thread, c, len, pointwise && single, &B, &ldb)) {
            atomic_store(&cx->failed, 1);
            return;
        }
        if (single) {
            A = cx->gy + n * g->Cout * hwo + p0;
            lda = hwo;
        } else {
            float *m = sx_scratch(thread, 1, (size_t)(g->Cout * len));
            if (!m) {
                atomic_store(&cx->failed, 1);
                return;
            }
            gather_cols(cx->gy, g->Cout, hwo, c, len, m);
            A = m;
            lda = len;
        }
        sx_flops_add(g->G * cog, kg, len);
        for (int64_t gi = 0; gi < g->G; gi++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)cog, (int)kg, (int)len, 1.0f,
                        A + gi * cog * lda, (int)lda, B + gi * kg * ldb, (int)ldb, beta, dw + gi * cog * kg,
                        (int)kg);
        beta = 1.0f;
    }
    if (beta == 1.0f) cx->partial[thread] = dw;
}

/* dw [Cout, C/G, kh, kw] = the gradient of conv2d in w. */
bool sx_conv_kernel_weight(const conv_geom *g, const float *x, const float *gy, float *dw)
{
    int64_t nw = g->Cout * cg_kg(g);
    memset(dw, 0, (size_t)nw * sizeof *dw);
    if (g->N == 0) return true;
    double flops = 2.0 * (double)(g->N * cg_hwo(g)) * (double)nw;
    struct wgt_ctx cx = {.g = g, .x = x, .gy = gy,
                         .tiles = conv_tiles_plan(g->N, cg_hwo(g), conv_tile_cols(g->C * cg_kk(g)), flops)};
    atomic_init(&cx.next, 0);
    atomic_init(&cx.failed, 0);
    sx_parallel_for(cx.tiles.threads, 1, wgt_body, &cx);
    if (atomic_load(&cx.failed)) return false;
    for (int t = 0; t < CONV_MAX_PARTIALS; t++)
        if (cx.partial[t])
            for (int64_t i = 0; i < nw; i++) dw[i] += cx.partial[t][i];
    return true;
}

/* ---------------------------------------------------------------- conv^T kernel */

/* z [N, C, H, W] = conv^T(u [N, Cout, Ho, Wo], w): per group W^T x u, then
 * col2im. Work is split by samples, or by input channels of z when there
 * are fewer samples than threads; either way no two threads add into the same
 * output element. */
struct adj_ctx {
    const conv_geom *g;
    const float *u, *w;
    float *z;
    bool by_channel;
    atomic_int failed;
};

static void adj_run(struct adj_ctx *cx, int64_t n0, int64_t n1, int64_t c0, int64_t c1, int thread)
{
    const conv_geom *g = cx->g;
    int64_t hwo = cg_hwo(g), hwi = cg_hwi(g), kk = cg_kk(g), kg = cg_kg(g);
    int64_t cig = cg_cin_g(g), cog = cg_cout_g(g);
    int64_t span = c1 - c0 < cig ? c1 - c0 : cig;  /* most channels of one group in [c0, c1) */
    int64_t nb = conv_tile_cols(span * kk) / hwo;
    if (nb < 1) nb = 1;
    for (int64_t n = n0; n < n1; n += nb) {
        int64_t m = n1 - n < nb ? n1 - n : nb, cols = m * hwo;
        const float *B;
        int64_t ldb;
        if (m == 1) {
            B = cx->u + n * g->Cout * hwo;
            ldb = hwo;
        } else {
            float *t = sx_scratch(thread, 1, (size_t)(g->Cout * cols));
            if (!t) {
                atomic_store(&cx->failed, 1);
                return;
            }
            gather_cols(cx->u, g->Cout, hwo, n * hwo, cols, t);
            B = t;
            ldb = cols;
        }
        float *col = sx_scratch(thread, 0, (size_t)(span * kk * cols));
        if (!col) {
            atomic_store(&cx->failed, 1);
            return;
        }
        for (int64_t j = 0; j < m; j++)
            memset(cx->z + ((n + j) * g->C + c0) * hwi, 0, (size_t)((c1 - c0) * hwi) * sizeof(float));
        for (int64_t gi = c0 / cig; gi < g->G && gi * cig < c1; gi++) {
            int64_t ca = c0 > gi * cig ? c0 : gi * cig, cb = c1 < (gi + 1) * cig ? c1 : (gi + 1) * cig;
            int64_t rows = (cb - ca) * kk, roff = (ca - gi * cig) * kk;
            sx_flops_add(rows, cols, cog);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)rows, (int)cols, (int)cog, 1.0f,
                        cx->w + gi * cog * kg + roff, (int)kg, B + gi * cog * ldb, (int)ldb, 0.0f, col,
                        (int)cols);
            for (int64_t j = 0; j < m; j++)
                for (int64_t c = ca; c < cb; c++) {
                    float *zp = cx->z + ((n + j) * g->C + c) * hwi;
                    for (int64_t ky = 0; ky < g->kh; ky++)
                        for (int64_t kx = 0; kx < g->kw; kx++) {
                            int64_t r = ((c - ca) * g->kh + ky) * g->kw + kx;
                            col2im_span(g, zp, ky, kx, 0, hwo, col + r * cols + j * hwo);
                        }
                }
        }
    }
}

static void adj_body(void *vctx, int64_t begin, int64_t end, int thread)
{
    struct adj_ctx *cx = vctx;
    if (cx->by_channel) adj_run(cx, 0, cx->g->N, begin, end, thread);
    else adj_run(cx, begin, end, 0, cx->g->C, thread);
}

/* z = conv^T(u, w) through col2im, for any stride and padding. */
static bool conv_adjoint_col2im(const conv_geom *g, const float *u, const float *w, float *z)
{
    if (g->N == 0) return true;
    struct adj_ctx cx = {.g = g, .u = u, .w = w, .z = z, .by_channel = g->N < sx_num_threads()};
    atomic_init(&cx.failed, 0);
    double flops = 2.0 * (double)g->N * (double)cg_hwo(g) * (double)g->Cout * (double)cg_kg(g);
    int64_t units = cx.by_channel ? g->C : g->N;
    sx_parallel_for(units, flops < 4e6 ? units : 1, adj_body, &cx);
    return !atomic_load(&cx.failed);
}

/* z = conv^T(u, w). A stride-1 adjoint is the conv2d of u with the kernel
 * flipped and its in/out channels swapped, padded by k-1-p. */
bool sx_conv_kernel_adjoint(const conv_geom *g, const float *u, const float *w, float *z)
{
    if (g->sy != 1 || g->sx != 1 || g->py > g->kh - 1 || g->px > g->kw - 1)
        return conv_adjoint_col2im(g, u, w, z);
    int64_t kk = cg_kk(g), cig = cg_cin_g(g), cog = cg_cout_g(g);
    /* wf [C, Cout/G, kh, kw]: wf[gi*cig + c, o, ky, kx] = w[gi*cog + o, c, kh-1-ky, kw-1-kx],
     * in slot 2 of the calling thread (the forward kernel below uses 0, 1 and 3) */
    float *wf = sx_scratch(sx_thread_index(), 2, (size_t)(g->C * cog * kk));
    if (!wf) return false;
    for (int64_t gi = 0; gi < g->G; gi++)
        for (int64_t c = 0; c < cig; c++)
            for (int64_t o = 0; o < cog; o++) {
                const float *src = w + ((gi * cog + o) * cig + c) * kk;
                float *dst = wf + ((gi * cig + c) * cog + o) * kk;
                for (int64_t k = 0; k < kk; k++) dst[k] = src[kk - 1 - k];
            }
    conv_geom f = {.N = g->N, .C = g->Cout, .H = g->Ho, .W = g->Wo, .Cout = g->C, .Ho = g->H, .Wo = g->W,
                   .kh = g->kh, .kw = g->kw, .sy = 1, .sx = 1, .py = g->kh - 1 - g->py,
                   .px = g->kw - 1 - g->px, .G = g->G};
    return sx_conv_kernel_forward(&f, u, wf, NULL, z);
}

