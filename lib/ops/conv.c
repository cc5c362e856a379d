/*
 * lib/ops/conv.c — the convolution family: conv2d, conv_transpose2d and
 * conv2d_weight, a set closed under differentiation (as in StyleGAN2's
 * conv2d_gradfix): every backward below is written with these three ops
 * (and sx_sum for bias gradients), so gradients of gradients work.
 *
 * All three are one linear map seen from its three sides. With the geometry
 * of a conv2d  x [N, C, H, W] (*) w [Cout, C/G, kh, kw] -> y [N, Cout, Ho, Wo]:
 *   conv2d            y  = conv(x, w)           im2col(x), then W x col
 *   conv_transpose2d  x' = conv^T(y, w)          W^T x y, then col2im (adds)
 *   conv2d_weight     dw = <y, im2col(x)>        gy x col^T
 * conv_transpose2d(x, w) of PyTorch is conv^T in the geometry whose input is
 * the transpose's output, and stride-1 transposes run as a conv2d with the
 * kernel flipped and transposed (a gather beats col2im's scatter-add).
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
#include "stylex/ops.h"

/* Bytes of im2col buffer per tile: small enough to stay in a core's L2. */
#define CONV_TILE_BYTES (384 * 1024)
/* Fewest and most GEMM columns per tile. */
#define CONV_TILE_MIN 64
#define CONV_TILE_MAX 4096
/* Images with at least this many output positions are tiled one at a time
 * (tiles write directly into the output); smaller ones are batched. */
#define CONV_SAMPLE_TILE_MIN 256

/* The geometry of one conv2d: x [N, C, H, W] (*) w [Cout, C/G, kh, kw] -> y [N, Cout, Ho, Wo]. */
typedef struct conv_geom {
    int64_t N, C, H, W;
    int64_t Cout, Ho, Wo;
    int64_t kh, kw;
    int64_t sy, sx, py, px;
    int64_t G;
} conv_geom;

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

/* Resolved options: 0 stride / groups mean 1; NULL options are all defaults. */
typedef struct conv_opts {
    int64_t sy, sx, py, px, G, opy, opx;
} conv_opts;

static bool conv_opts_read(const char *fn, const sx_conv2d_opts *o, conv_opts *r)
{
    sx_conv2d_opts z = {{0, 0}, {0, 0}, 0, {0, 0}};
    if (!o) o = &z;
    if (o->stride[0] < 0 || o->stride[1] < 0 || o->padding[0] < 0 || o->padding[1] < 0 || o->groups < 0 ||
        o->output_padding[0] < 0 || o->output_padding[1] < 0) {
        sx_fail(SX_EINVAL,
                "%s: options must not be negative (stride %d,%d padding %d,%d groups %d output_padding %d,%d)",
                fn, o->stride[0], o->stride[1], o->padding[0], o->padding[1], o->groups, o->output_padding[0],
                o->output_padding[1]);
        return false;
    }
    r->sy = o->stride[0] ? o->stride[0] : 1;
    r->sx = o->stride[1] ? o->stride[1] : 1;
    r->py = o->padding[0];
    r->px = o->padding[1];
    r->G = o->groups ? o->groups : 1;
    r->opy = o->output_padding[0];
    r->opx = o->output_padding[1];
    return true;
}

static sx_conv2d_opts conv_opts_from_node(const sx_node *n)
{
    sx_conv2d_opts o;
    o.stride[0] = (int)n->iattr[0];
    o.stride[1] = (int)n->iattr[1];
    o.padding[0] = (int)n->iattr[2];
    o.padding[1] = (int)n->iattr[3];
    o.groups = (int)n->iattr[4];
    o.output_padding[0] = (int)n->iattr[5];
    o.output_padding[1] = (int)n->iattr[6];
    return o;
}

/* node->iattr of all three ops: [0, 1] stride y, x; [2, 3] padding y, x;
 * [4] groups; [5, 6] output_padding y, x; [7, 8] kernel kh, kw. */
static void conv_node_fill(sx_node *n, const conv_opts *o, int64_t kh, int64_t kw)
{
    n->iattr[0] = o->sy;
    n->iattr[1] = o->sx;
    n->iattr[2] = o->py;
    n->iattr[3] = o->px;
    n->iattr[4] = o->G;
    n->iattr[5] = o->opy;
    n->iattr[6] = o->opx;
    n->iattr[7] = kh;
    n->iattr[8] = kw;
}

/* The output padding that makes conv_transpose2d's output exactly `size`
 * along one dimension, given the conv2d output size `out` there. */
static int conv_output_padding(int64_t size, int64_t out, int64_t k, int64_t s, int64_t p)
{
    return (int)(size - ((out - 1) * s - 2 * p + k));
}

/* The tensor itself if contiguous (new reference), else a contiguous copy. */
static sx_tensor *conv_contig(sx_tensor *t)
{
    return sx_tensor_is_contiguous(t) ? sx_tensor_retain(t) : sx_tensor_copy(t);
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
    int64_t hwo = cg_hwo(g), hwi = cg_hwi(g), kg = cg_kg(g), cog = cg_cout_g(g);
    bool pointwise = cg_is_pointwise(g);
    for (int64_t k; (k = atomic_fetch_add(&cx->next, 1)) < cx->tiles.count;) {
        int64_t c;
        int64_t len = conv_tile_get(&cx->tiles, k, &c);
        int64_t n = c / hwo, p0 = c % hwo;
        bool single = p0 + len <= hwo;
        const float *B;
        int64_t ldb;
        if (pointwise && single) {
            B = cx->x + n * g->C * hwi + p0;
            ldb = hwi;
        } else {
            float *col = sx_scratch(thread, 0, (size_t)(g->C * cg_kk(g) * len));
            float *pad = sx_scratch(thread, 3, im2col_pad_size(g, cx->tiles.len));
            if (!col || !pad) {
                atomic_store(&cx->failed, 1);
                return;
            }
            im2col_tile(g, cx->x, c, len, col, pad);
            B = col;
            ldb = len;
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
static bool conv_forward_kernel(const conv_geom *g, const float *x, const float *w, const float *b, float *y)
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
    int64_t hwo = cg_hwo(g), hwi = cg_hwi(g), kg = cg_kg(g), cog = cg_cout_g(g);
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
        if (pointwise && single) {
            B = cx->x + n * g->C * hwi + p0;
            ldb = hwi;
        } else {
            float *col = sx_scratch(thread, 0, (size_t)(g->C * cg_kk(g) * len));
            float *pad = sx_scratch(thread, 3, im2col_pad_size(g, cx->tiles.len));
            if (!col || !pad) {
                atomic_store(&cx->failed, 1);
                return;
            }
            im2col_tile(g, cx->x, c, len, col, pad);
            B = col;
            ldb = len;
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
static bool conv_weight_kernel(const conv_geom *g, const float *x, const float *gy, float *dw)
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
static bool conv_adjoint_kernel(const conv_geom *g, const float *u, const float *w, float *z)
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
    return conv_forward_kernel(&f, u, wf, NULL, z);
}

/* ---------------------------------------------------------------- argument checks */

static bool conv_check_4d(const char *fn, const char *what, const char *layout, const sx_tensor *t)
{
    char s[96];
    if (!t) {
        sx_fail(SX_EINVAL, "%s: %s is NULL", fn, what);
        return false;
    }
    if (t->ndim != 4) {
        sx_fail(SX_EINVAL, "%s: %s must be 4-D %s, got %s", fn, what, layout, sx_shape_str(t, s, sizeof s));
        return false;
    }
    for (int d = 0; d < 4; d++)
        if (t->shape[d] == 0 && d > 0) {
            sx_fail(SX_EINVAL, "%s: %s %s has an empty dimension", fn, what, sx_shape_str(t, s, sizeof s));
            return false;
        }
    return true;
}

static bool conv_check_bias(const char *fn, const sx_tensor *b, int64_t cout)
{
    if (!b || (b->ndim == 1 && b->shape[0] == cout)) return true;
    char s[96];
    sx_fail(SX_EINVAL, "%s: bias has shape %s, expected [%lld]", fn, sx_shape_str(b, s, sizeof s),
            (long long)cout);
    return false;
}

/* Output sizes of a conv2d; false with a message if not positive. */
static bool conv_out_size(const char *fn, int64_t H, int64_t W, int64_t kh, int64_t kw, const conv_opts *o,
                          int64_t *Ho, int64_t *Wo)
{
    int64_t ey = H + 2 * o->py - kh, ex = W + 2 * o->px - kw;
    *Ho = ey < 0 ? 0 : ey / o->sy + 1;
    *Wo = ex < 0 ? 0 : ex / o->sx + 1;
    if (*Ho > 0 && *Wo > 0) return true;
    sx_fail(SX_EINVAL, "%s: output would be empty (input %lldx%lld, kernel %lldx%lld, stride %lld,%lld, "
                       "padding %lld,%lld)",
            fn, (long long)H, (long long)W, (long long)kh, (long long)kw, (long long)o->sy, (long long)o->sx,
            (long long)o->py, (long long)o->px);
    return false;
}

static void conv_geom_set(conv_geom *g, const int64_t *xs, int64_t cout, int64_t Ho, int64_t Wo, int64_t kh,
                          int64_t kw, const conv_opts *o)
{
    *g = (conv_geom){.N = xs[0], .C = xs[1], .H = xs[2], .W = xs[3], .Cout = cout, .Ho = Ho, .Wo = Wo,
                     .kh = kh, .kw = kw, .sy = o->sy, .sx = o->sx, .py = o->py, .px = o->px, .G = o->G};
}

/* Adds b [C] to every plane of y [N, C, HW]. */
static void conv_add_bias(float *y, const float *b, int64_t N, int64_t C, int64_t hw)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            float *p = y + (n * C + c) * hw, bc = b[c];
            for (int64_t i = 0; i < hw; i++) p[i] += bc;
        }
}

/* ---------------------------------------------------------------- conv2d */

sx_tensor *sx_conv2d(sx_tensor *x, sx_tensor *w, sx_tensor *b, const sx_conv2d_opts *opts)
{
    const char *fn = "conv2d";
    conv_opts o;
    if (!conv_check_4d(fn, "input", "[N, C, H, W]", x) ||
        !conv_check_4d(fn, "weight", "[Cout, Cin/groups, kh, kw]", w) || !conv_opts_read(fn, opts, &o))
        return NULL;
    char sx_[96], sw[96];
    int64_t C = x->shape[1], Cout = w->shape[0];
    if (Cout == 0) {
        sx_fail(SX_EINVAL, "%s: weight %s has no output channels", fn, sx_shape_str(w, sw, sizeof sw));
        return NULL;
    }
    if (C % o.G || Cout % o.G) {
        sx_fail(SX_EINVAL, "%s: groups %lld must divide the input's %lld channels and the weight's %lld output "
                           "channels",
                fn, (long long)o.G, (long long)C, (long long)Cout);
        return NULL;
    }
    if (w->shape[1] != C / o.G) {
        sx_fail(SX_EINVAL, "%s: weight %s has %lld input channels per group, input %s has %lld channels "
                           "(groups %lld)",
                fn, sx_shape_str(w, sw, sizeof sw), (long long)w->shape[1], sx_shape_str(x, sx_, sizeof sx_),
                (long long)C, (long long)o.G);
        return NULL;
    }
    if (!conv_check_bias(fn, b, Cout)) return NULL;
    int64_t kh = w->shape[2], kw = w->shape[3], Ho, Wo;
    if (!conv_out_size(fn, x->shape[2], x->shape[3], kh, kw, &o, &Ho, &Wo)) return NULL;

    conv_geom g;
    conv_geom_set(&g, x->shape, Cout, Ho, Wo, kh, kw, &o);
    sx_tensor *y = sx_tensor_empty(4, (int64_t[]){g.N, Cout, Ho, Wo});
    sx_tensor *xc = y ? conv_contig(x) : NULL, *wc = xc ? conv_contig(w) : NULL;
    sx_tensor *bc = wc && b ? conv_contig(b) : NULL;
    bool ok = wc && (!b || bc);
    if (ok && !conv_forward_kernel(&g, sx_tensor_data(xc), sx_tensor_data(wc), bc ? sx_tensor_data(bc) : NULL,
                                   sx_tensor_data(y))) {
        sx_fail(SX_ENOMEM, "%s: out of memory for scratch buffers (input %s, weight %s)", fn,
                sx_shape_str(x, sx_, sizeof sx_), sx_shape_str(w, sw, sizeof sw));
        ok = false;
    }
    sx_tensor_free(xc);
    sx_tensor_free(wc);
    sx_tensor_free(bc);
    if (!ok) {
        sx_tensor_free(y);
        return NULL;
    }
    sx_tensor *in[3] = {x, w, b};
    sx_node *node = sx_record(&y, SX_OP_CONV2D, b ? 3 : 2, in);
    if (node) conv_node_fill(node, &o, kh, kw);
    return y;
}

/* Sum of g [N, C, H, W] over N, H, W -> [C]: the gradient of a bias. */
static sx_tensor *conv_bias_grad(sx_tensor *g)
{
    return sx_sum(g, 3, (const int[]){0, 2, 3}, false);
}

sx_status sx_conv2d_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    sx_tensor *x = n->inputs[0], *w = n->inputs[1], *b = n->n_inputs > 2 ? n->inputs[2] : NULL;
    sx_conv2d_opts o = conv_opts_from_node(n);
    int64_t kh = n->iattr[7], kw = n->iattr[8];
    if (x->requires_grad) {
        o.output_padding[0] = conv_output_padding(x->shape[2], g->shape[2], kh, o.stride[0], o.padding[0]);
        o.output_padding[1] = conv_output_padding(x->shape[3], g->shape[3], kw, o.stride[1], o.padding[1]);
        if (!(gi[0] = sx_conv_transpose2d(g, w, NULL, &o))) return sx_last_status();
    }
    if (w->requires_grad && !(gi[1] = sx_conv2d_weight(x, g, (int)kh, (int)kw, &o))) return sx_last_status();
    if (b && b->requires_grad && !(gi[2] = conv_bias_grad(g))) return sx_last_status();
    return SX_OK;
}

/* ---------------------------------------------------------------- conv_transpose2d */

sx_tensor *sx_conv_transpose2d(sx_tensor *x, sx_tensor *w, sx_tensor *b, const sx_conv2d_opts *opts)
{
    const char *fn = "conv_transpose2d";
    conv_opts o;
    if (!conv_check_4d(fn, "input", "[N, Cin, H, W]", x) ||
        !conv_check_4d(fn, "weight", "[Cin, Cout/groups, kh, kw]", w) || !conv_opts_read(fn, opts, &o))
        return NULL;
    char sx_[96], sw[96];
    int64_t Cin = x->shape[1];
    if (Cin % o.G) {
        sx_fail(SX_EINVAL, "%s: groups %lld does not divide the input's %lld channels", fn, (long long)o.G,
                (long long)Cin);
        return NULL;
    }
    if (w->shape[0] != Cin) {
        sx_fail(SX_EINVAL, "%s: weight %s has %lld input channels, input %s has %lld", fn,
                sx_shape_str(w, sw, sizeof sw), (long long)w->shape[0], sx_shape_str(x, sx_, sizeof sx_),
                (long long)Cin);
        return NULL;
    }
    if (o.opy >= o.sy || o.opx >= o.sx) {
        sx_fail(SX_EINVAL, "%s: output_padding %lld,%lld must be smaller than stride %lld,%lld", fn,
                (long long)o.opy, (long long)o.opx, (long long)o.sy, (long long)o.sx);
        return NULL;
    }
    int64_t Cout = w->shape[1] * o.G, kh = w->shape[2], kw = w->shape[3];
    if (!conv_check_bias(fn, b, Cout)) return NULL;
    int64_t H = x->shape[2], W = x->shape[3];
    int64_t Hy = (H - 1) * o.sy - 2 * o.py + kh + o.opy, Wy = (W - 1) * o.sx - 2 * o.px + kw + o.opx;
    if (Hy <= 0 || Wy <= 0) {
        sx_fail(SX_EINVAL, "%s: output would be %lldx%lld (input %lldx%lld, kernel %lldx%lld, stride %lld,%lld, "
                           "padding %lld,%lld)",
                fn, (long long)Hy, (long long)Wy, (long long)H, (long long)W, (long long)kh, (long long)kw,
                (long long)o.sy, (long long)o.sx, (long long)o.py, (long long)o.px);
        return NULL;
    }
    /* the conv2d whose adjoint this is: [N, Cout, Hy, Wy] -> [N, Cin, H, W] */
    conv_geom g;
    conv_geom_set(&g, (int64_t[]){x->shape[0], Cout, Hy, Wy}, Cin, H, W, kh, kw, &o);
    sx_tensor *y = sx_tensor_empty(4, (int64_t[]){g.N, Cout, Hy, Wy});
    sx_tensor *xc = y ? conv_contig(x) : NULL, *wc = xc ? conv_contig(w) : NULL;
    sx_tensor *bc = wc && b ? conv_contig(b) : NULL;
    bool ok = wc && (!b || bc);
    if (ok && !conv_adjoint_kernel(&g, sx_tensor_data(xc), sx_tensor_data(wc), sx_tensor_data(y))) {
        sx_fail(SX_ENOMEM, "%s: out of memory for scratch buffers (input %s, weight %s)", fn,
                sx_shape_str(x, sx_, sizeof sx_), sx_shape_str(w, sw, sizeof sw));
        ok = false;
    }
    if (ok && bc) conv_add_bias(sx_tensor_data(y), sx_tensor_data(bc), g.N, Cout, Hy * Wy);
    sx_tensor_free(xc);
    sx_tensor_free(wc);
    sx_tensor_free(bc);
    if (!ok) {
        sx_tensor_free(y);
        return NULL;
    }
    sx_tensor *in[3] = {x, w, b};
    sx_node *node = sx_record(&y, SX_OP_CONV_TRANSPOSE2D, b ? 3 : 2, in);
    if (node) conv_node_fill(node, &o, kh, kw);
    return y;
}

sx_status sx_conv_transpose2d_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    sx_tensor *x = n->inputs[0], *w = n->inputs[1], *b = n->n_inputs > 2 ? n->inputs[2] : NULL;
    sx_conv2d_opts o = conv_opts_from_node(n);
    int kh = (int)n->iattr[7], kw = (int)n->iattr[8];
    o.output_padding[0] = o.output_padding[1] = 0;
    /* y = conv^T(x, w), so <y, g> = <x, conv2d(g, w)> */
    if (x->requires_grad && !(gi[0] = sx_conv2d(g, w, NULL, &o))) return sx_last_status();
    if (w->requires_grad && !(gi[1] = sx_conv2d_weight(g, x, kh, kw, &o))) return sx_last_status();
    if (b && b->requires_grad && !(gi[2] = conv_bias_grad(g))) return sx_last_status();
    return SX_OK;
}

/* ---------------------------------------------------------------- conv2d_weight */

sx_tensor *sx_conv2d_weight(sx_tensor *x, sx_tensor *gy, int kh, int kw, const sx_conv2d_opts *opts)
{
    const char *fn = "conv2d_weight";
    conv_opts o;
    if (!conv_check_4d(fn, "input", "[N, Cin, H, W]", x) ||
        !conv_check_4d(fn, "output gradient", "[N, Cout, Ho, Wo]", gy) || !conv_opts_read(fn, opts, &o))
        return NULL;
    char sx_[96], sg[96];
    if (kh <= 0 || kw <= 0) {
        sx_fail(SX_EINVAL, "%s: kernel size %dx%d must be positive", fn, kh, kw);
        return NULL;
    }
    int64_t C = x->shape[1], Cout = gy->shape[1];
    if (C % o.G || Cout % o.G) {
        sx_fail(SX_EINVAL, "%s: groups %lld must divide the input's %lld channels and the output gradient's "
                           "%lld channels",
                fn, (long long)o.G, (long long)C, (long long)Cout);
        return NULL;
    }
    int64_t Ho, Wo;
    if (!conv_out_size(fn, x->shape[2], x->shape[3], kh, kw, &o, &Ho, &Wo)) return NULL;
    if (gy->shape[0] != x->shape[0] || gy->shape[2] != Ho || gy->shape[3] != Wo) {
        sx_fail(SX_EINVAL, "%s: output gradient %s does not match input %s (expected [%lld, %lld, %lld, %lld] "
                           "for kernel %dx%d, stride %lld,%lld, padding %lld,%lld)",
                fn, sx_shape_str(gy, sg, sizeof sg), sx_shape_str(x, sx_, sizeof sx_), (long long)x->shape[0],
                (long long)Cout, (long long)Ho, (long long)Wo, kh, kw, (long long)o.sy, (long long)o.sx,
                (long long)o.py, (long long)o.px);
        return NULL;
    }
    conv_geom g;
    conv_geom_set(&g, x->shape, Cout, Ho, Wo, kh, kw, &o);
    sx_tensor *dw = sx_tensor_empty(4, (int64_t[]){Cout, C / o.G, kh, kw});
    sx_tensor *xc = dw ? conv_contig(x) : NULL, *gc = xc ? conv_contig(gy) : NULL;
    bool ok = gc != NULL;
    if (ok && !conv_weight_kernel(&g, sx_tensor_data(xc), sx_tensor_data(gc), sx_tensor_data(dw))) {
        sx_fail(SX_ENOMEM, "%s: out of memory for scratch buffers (input %s, output gradient %s)", fn,
                sx_shape_str(x, sx_, sizeof sx_), sx_shape_str(gy, sg, sizeof sg));
        ok = false;
    }
    sx_tensor_free(xc);
    sx_tensor_free(gc);
    if (!ok) {
        sx_tensor_free(dw);
        return NULL;
    }
    sx_tensor *in[2] = {x, gy};
    sx_node *node = sx_record(&dw, SX_OP_CONV2D_WEIGHT, 2, in);
    if (node) conv_node_fill(node, &o, kh, kw);
    return dw;
}

sx_status sx_conv2d_weight_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    /* dw = <gy, im2col(x)>: linear in x and in gy */
    sx_tensor *x = n->inputs[0], *gy = n->inputs[1];
    sx_conv2d_opts o = conv_opts_from_node(n);
    int kh = (int)n->iattr[7], kw = (int)n->iattr[8];
    if (x->requires_grad) {
        o.output_padding[0] = conv_output_padding(x->shape[2], gy->shape[2], kh, o.stride[0], o.padding[0]);
        o.output_padding[1] = conv_output_padding(x->shape[3], gy->shape[3], kw, o.stride[1], o.padding[1]);
        if (!(gi[0] = sx_conv_transpose2d(gy, g, NULL, &o))) return sx_last_status();
        o.output_padding[0] = o.output_padding[1] = 0;
    }
    if (gy->requires_grad && !(gi[1] = sx_conv2d(x, g, NULL, &o))) return sx_last_status();
    return SX_OK;
}
