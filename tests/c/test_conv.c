/*
 * tests/c/test_conv.c — the convolution family (conv2d, conv_transpose2d,
 * conv2d_weight): values against direct-loop references accumulated in
 * double, over random shapes (strides, paddings, groups, odd sizes, kernels
 * 1/3/4, with and without bias) and shapes large enough to take the
 * multi-threaded and batched-tile paths; first and second derivatives by
 * finite differences; bad arguments refused with a message.
 */
#include "fixtures.h"

#include "../../lib/core/internal.h" /* sx_node, to check the recorded attributes */

/* ---------------------------------------------------------------- references */

typedef struct ref_shape {
    int N, Cin, H, W, Cout, kh, kw, sy, sx, py, px, G, opy, opx;
    bool bias;
} ref_shape;

static sx_conv2d_opts opts_of(const ref_shape *s)
{
    sx_conv2d_opts o = {{s->sy, s->sx}, {s->py, s->px}, s->G, {s->opy, s->opx}};
    return o;
}

static int out_size(int in, int k, int s, int p) { return (in + 2 * p - k) / s + 1; }

static float *data_of(const sx_tensor *t)
{
    float *p = malloc((size_t)sx_tensor_numel(t) * sizeof *p + 4);
    sx_tensor_copy_to(t, p);
    return p;
}

/* y [N, Cout, Ho, Wo] = conv2d(x [N, Cin, H, W], w [Cout, Cin/G, kh, kw]) + b */
static sx_tensor *ref_conv2d(const ref_shape *s, const sx_tensor *xt, const sx_tensor *wt, const sx_tensor *bt)
{
    int Ho = out_size(s->H, s->kh, s->sy, s->py), Wo = out_size(s->W, s->kw, s->sx, s->px);
    int cig = s->Cin / s->G, cog = s->Cout / s->G;
    float *x = data_of(xt), *w = data_of(wt), *b = bt ? data_of(bt) : NULL;
    sx_tensor *y = sx_tensor_zeros(4, SHAPE(s->N, s->Cout, Ho, Wo));
    float *yp = sx_tensor_data(y);
    for (int n = 0; n < s->N; n++)
        for (int o = 0; o < s->Cout; o++)
            for (int oy = 0; oy < Ho; oy++)
                for (int ox = 0; ox < Wo; ox++) {
                    double acc = b ? b[o] : 0.0;
                    int gi = o / cog;
                    for (int c = 0; c < cig; c++)
                        for (int ky = 0; ky < s->kh; ky++)
                            for (int kx = 0; kx < s->kw; kx++) {
                                int iy = oy * s->sy - s->py + ky, ix = ox * s->sx - s->px + kx;
                                if (iy < 0 || iy >= s->H || ix < 0 || ix >= s->W) continue;
                                acc += (double)x[((n * s->Cin + gi * cig + c) * s->H + iy) * s->W + ix] *
                                       w[((o * cig + c) * s->kh + ky) * s->kw + kx];
                            }
                    yp[((n * s->Cout + o) * Ho + oy) * Wo + ox] = (float)acc;
                }
    free(x);
    free(w);
    free(b);
    return y;
}

/* y [N, Cout, Hy, Wy] = conv_transpose2d(x [N, Cin, H, W], w [Cin, Cout/G, kh, kw]) + b,
 * by scattering each input pixel through the kernel. */
static sx_tensor *ref_conv_transpose2d(const ref_shape *s, const sx_tensor *xt, const sx_tensor *wt,
                                       const sx_tensor *bt)
{
    int Hy = (s->H - 1) * s->sy - 2 * s->py + s->kh + s->opy;
    int Wy = (s->W - 1) * s->sx - 2 * s->px + s->kw + s->opx;
    int cig = s->Cin / s->G, cog = s->Cout / s->G;
    float *x = data_of(xt), *w = data_of(wt), *b = bt ? data_of(bt) : NULL;
    size_t ny = (size_t)s->N * s->Cout * Hy * Wy;
    double *acc = calloc(ny + 1, sizeof *acc);
    for (int n = 0; n < s->N; n++)
        for (int c = 0; c < s->Cin; c++) {
            int gi = c / cig;
            for (int iy = 0; iy < s->H; iy++)
                for (int ix = 0; ix < s->W; ix++) {
                    double v = x[((n * s->Cin + c) * s->H + iy) * s->W + ix];
                    for (int o = 0; o < cog; o++)
                        for (int ky = 0; ky < s->kh; ky++)
                            for (int kx = 0; kx < s->kw; kx++) {
                                int yy = iy * s->sy - s->py + ky, yx = ix * s->sx - s->px + kx;
                                if (yy < 0 || yy >= Hy || yx < 0 || yx >= Wy) continue;
                                acc[((size_t)(n * s->Cout + gi * cog + o) * Hy + yy) * Wy + yx] +=
                                    v * w[((c * cog + o) * s->kh + ky) * s->kw + kx];
                            }
                }
        }
    sx_tensor *y = sx_tensor_empty(4, SHAPE(s->N, s->Cout, Hy, Wy));
    float *yp = sx_tensor_data(y);
    for (size_t i = 0; i < ny; i++) {
        int o = (int)(i / ((size_t)Hy * Wy) % (size_t)s->Cout);
        yp[i] = (float)(acc[i] + (b ? b[o] : 0.0));
    }
    free(acc);
    free(x);
    free(w);
    free(b);
    return y;
}

/* dw [Cout, Cin/G, kh, kw] = sum over samples and positions of gy * x-patch */
static sx_tensor *ref_conv2d_weight(const ref_shape *s, const sx_tensor *xt, const sx_tensor *gt)
{
    int Ho = out_size(s->H, s->kh, s->sy, s->py), Wo = out_size(s->W, s->kw, s->sx, s->px);
    int cig = s->Cin / s->G, cog = s->Cout / s->G;
    float *x = data_of(xt), *gy = data_of(gt);
    sx_tensor *dw = sx_tensor_empty(4, SHAPE(s->Cout, cig, s->kh, s->kw));
    float *dp = sx_tensor_data(dw);
    for (int o = 0; o < s->Cout; o++)
        for (int c = 0; c < cig; c++)
            for (int ky = 0; ky < s->kh; ky++)
                for (int kx = 0; kx < s->kw; kx++) {
                    double acc = 0;
                    int ci = o / cog * cig + c;
                    for (int n = 0; n < s->N; n++)
                        for (int oy = 0; oy < Ho; oy++)
                            for (int ox = 0; ox < Wo; ox++) {
                                int iy = oy * s->sy - s->py + ky, ix = ox * s->sx - s->px + kx;
                                if (iy < 0 || iy >= s->H || ix < 0 || ix >= s->W) continue;
                                acc += (double)gy[((n * s->Cout + o) * Ho + oy) * Wo + ox] *
                                       x[((n * s->Cin + ci) * s->H + iy) * s->W + ix];
                            }
                    dp[((o * cig + c) * s->kh + ky) * s->kw + kx] = (float)acc;
                }
    free(x);
    free(gy);
    return dw;
}

/* Largest |value| of t, for scale-relative tolerances. */
static double max_abs(const sx_tensor *t)
{
    float *p = data_of(t);
    double m = 0;
    for (int64_t i = 0; i < sx_tensor_numel(t); i++)
        if (fabs(p[i]) > m) m = fabs(p[i]);
    free(p);
    return m;
}

static void shape_str(const ref_shape *s, char *buf, size_t n)
{
    snprintf(buf, n, "N%d Cin%d %dx%d Cout%d k%dx%d s%d,%d p%d,%d g%d op%d,%d%s", s->N, s->Cin, s->H, s->W,
             s->Cout, s->kh, s->kw, s->sy, s->sx, s->py, s->px, s->G, s->opy, s->opx, s->bias ? " bias" : "");
}

/* Compares all three ops against the references for one shape. */
static void compare_shape(const ref_shape *s, unsigned seed)
{
    char desc[160];
    shape_str(s, desc, sizeof desc);
    sx_conv2d_opts o = opts_of(s);
    int Ho = out_size(s->H, s->kh, s->sy, s->py), Wo = out_size(s->W, s->kw, s->sx, s->px);
    sx_tensor *x = RANDN(seed, s->N, s->Cin, s->H, s->W);
    sx_tensor *w = RANDN(seed + 1, s->Cout, s->Cin / s->G, s->kh, s->kw);
    sx_tensor *b = s->bias ? RANDN(seed + 2, s->Cout) : NULL;
    sx_tensor *gy = RANDN(seed + 3, s->N, s->Cout, Ho, Wo);
    double tol = 1e-5 * (s->Cin / s->G * s->kh * s->kw + 1) + 1e-4;

    sx_tensor *y = sx_conv2d(x, w, b, &o), *yr = ref_conv2d(s, x, w, b);
    CHECK_MSG(y != NULL, "conv2d %s: %s", desc, sx_last_error());
    if (y) CHECK_MSG(max_abs_diff(y, yr) <= tol * (1 + max_abs(yr)), "conv2d %s: max diff %g", desc,
                     max_abs_diff(y, yr));

    sx_tensor *dw = sx_conv2d_weight(x, gy, s->kh, s->kw, &o), *dwr = ref_conv2d_weight(s, x, gy);
    CHECK_MSG(dw != NULL, "conv2d_weight %s: %s", desc, sx_last_error());
    if (dw) CHECK_MSG(max_abs_diff(dw, dwr) <= 1e-5 * (1 + max_abs(dwr)) * (s->N * Ho * Wo + 1),
                      "conv2d_weight %s: max diff %g", desc, max_abs_diff(dw, dwr));

    /* conv_transpose2d in its own right: Cin of the transpose is s->Cin, with
     * weight [Cin, Cout/G, kh, kw] and the output padding of the shape */
    if (s->opy < s->sy && s->opx < s->sx) {
        sx_tensor *wt = RANDN(seed + 4, s->Cin, s->Cout / s->G, s->kh, s->kw);
        int Hy = (s->H - 1) * s->sy - 2 * s->py + s->kh + s->opy;
        int Wy = (s->W - 1) * s->sx - 2 * s->px + s->kw + s->opx;
        if (Hy > 0 && Wy > 0) {
            sx_tensor *z = sx_conv_transpose2d(x, wt, b, &o), *zr = ref_conv_transpose2d(s, x, wt, b);
            CHECK_MSG(z != NULL, "conv_transpose2d %s: %s", desc, sx_last_error());
            if (z) CHECK_MSG(max_abs_diff(z, zr) <= tol * (1 + max_abs(zr)) * (s->kh * s->kw + 1),
                             "conv_transpose2d %s: max diff %g", desc, max_abs_diff(z, zr));
            sx_tensor_free(z);
            sx_tensor_free(zr);
        }
        sx_tensor_free(wt);
    }
    sx_tensor_free(x);
    sx_tensor_free(w);
    sx_tensor_free(b);
    sx_tensor_free(gy);
    sx_tensor_free(y);
    sx_tensor_free(yr);
    sx_tensor_free(dw);
    sx_tensor_free(dwr);
}

static uint64_t lcg_state = 88172645463325252ull;
static int rnd(int lo, int hi) /* uniform in [lo, hi] */
{
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (int)((lcg_state >> 33) % (uint64_t)(hi - lo + 1));
}

static void test_forward_random_shapes(void)
{
    static const int kernels[] = {1, 3, 4}, groups[] = {1, 2, 4};
    int tested = 0;
    for (int t = 0; t < 160; t++) {
        ref_shape s;
        s.G = groups[rnd(0, 2)];
        s.Cin = s.G * rnd(1, 3);
        s.Cout = s.G * rnd(1, 3);
        s.kh = kernels[rnd(0, 2)];
        s.kw = rnd(0, 3) ? s.kh : kernels[rnd(0, 2)];
        s.sy = rnd(1, 2);
        s.sx = rnd(0, 3) ? s.sy : rnd(1, 2);
        s.py = rnd(0, 2);
        s.px = rnd(0, 3) ? s.py : rnd(0, 2);
        s.H = rnd(1, 11);
        s.W = rnd(1, 11);
        s.N = rnd(1, 3);
        s.opy = rnd(0, s.sy - 1);
        s.opx = rnd(0, s.sx - 1);
        s.bias = rnd(0, 1);
        if (s.H + 2 * s.py < s.kh || s.W + 2 * s.px < s.kw) continue;
        compare_shape(&s, 100 + (unsigned)t);
        tested++;
    }
    CHECK(tested > 100);
}

/* Shapes heavy enough for the thread split, batched small-image tiles,
 * images cut into several tiles, pointwise kernels and the col2im path. */
static void test_forward_large_shapes(void)
{
    static const ref_shape shapes[] = {
        /* N  Cin H  W  Cout kh kw sy sx py px G opy opx bias */
        {5, 16, 24, 24, 16, 3, 3, 1, 1, 1, 1, 1, 0, 0, true},
        {40, 16, 6, 6, 32, 3, 3, 1, 1, 1, 1, 1, 0, 0, false},
        {7, 12, 5, 7, 24, 3, 3, 1, 1, 1, 1, 4, 0, 0, true},
        {2, 64, 40, 40, 8, 3, 3, 1, 1, 1, 1, 1, 0, 0, false},
        {3, 32, 17, 17, 32, 1, 1, 1, 1, 0, 0, 1, 0, 0, true},
        {37, 32, 4, 4, 48, 1, 1, 1, 1, 0, 0, 2, 0, 0, false},
        {6, 16, 19, 21, 24, 3, 3, 2, 2, 1, 1, 1, 1, 0, true},
        {1, 24, 23, 23, 16, 4, 4, 2, 2, 1, 1, 2, 1, 1, false},
        {9, 8, 10, 10, 8, 3, 3, 1, 1, 3, 3, 1, 0, 0, true},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) compare_shape(&shapes[i], 500 + (unsigned)i);
}

/* One thread and several give the same results, for all three ops (tile
 * plans and the split of the weight gradient depend on the thread count). */
static void test_threads_agree(void)
{
    ref_shape s = {8, 16, 12, 12, 24, 3, 3, 1, 1, 1, 1, 1, 0, 0, true};
    sx_conv2d_opts o = opts_of(&s), o2 = {{2, 2}, {1, 1}, 1, {1, 1}};
    sx_tensor *x = RANDN(1, 8, 16, 12, 12), *w = RANDN(2, 24, 16, 3, 3), *b = RANDN(3, 24);
    sx_tensor *gy = RANDN(4, 8, 24, 12, 12), *wt = RANDN(5, 16, 24, 3, 3);
    int keep = sx_num_threads();
    sx_tensor *r[4][4] = {{0}};
    static const int counts[4] = {1, 2, 3, 5};
    for (int t = 0; t < 4; t++) {
        sx_set_num_threads(counts[t]);
        r[t][0] = sx_conv2d(x, w, b, &o);
        r[t][1] = sx_conv2d_weight(x, gy, 3, 3, &o);
        r[t][2] = sx_conv_transpose2d(gy, w, NULL, &o);
        r[t][3] = sx_conv_transpose2d(x, wt, b, &o2);
    }
    sx_set_num_threads(keep);
    for (int t = 0; t < 4; t++)
        for (int k = 0; k < 4; k++) {
            CHECK_MSG(r[t][k] != NULL, "%s", sx_last_error());
            if (t > 0 && r[0][k] && r[t][k])
                CHECK_MSG(max_abs_diff(r[0][k], r[t][k]) <= 1e-3, "op %d, %d threads: diff %g", k, counts[t],
                          max_abs_diff(r[0][k], r[t][k]));
        }
    for (int t = 0; t < 4; t++) free_all(4, r[t]);
    sx_tensor_free(x);
    sx_tensor_free(w);
    sx_tensor_free(b);
    sx_tensor_free(gy);
    sx_tensor_free(wt);
}

/* Non-contiguous inputs (a permuted view) and NULL options. */
static void test_views_and_default_opts(void)
{
    sx_tensor *xp = RANDN(11, 2, 5, 6, 3);  /* [N, H, W, C] */
    sx_tensor *x = sx_permute(xp, (const int[]){0, 3, 1, 2});
    sx_tensor *xc = sx_tensor_copy(x);
    sx_tensor *w = RANDN(12, 4, 3, 3, 3);
    sx_tensor *y = sx_conv2d(x, w, NULL, NULL), *yc = sx_conv2d(xc, w, NULL, NULL);
    CHECK_NOTNULL(y);
    if (y && yc) {
        CHECK(y->shape[2] == 3 && y->shape[3] == 4);
        CHECK(max_abs_diff(y, yc) == 0.0);
    }
    sx_tensor *gy = sx_tensor_ones(4, SHAPE(2, 4, 3, 4));
    sx_tensor *one = sx_tensor_ones(4, SHAPE(1, 1, 1, 1));
    sx_tensor *gye = sx_expand(one, 4, SHAPE(2, 4, 3, 4));
    sx_tensor *d1 = sx_conv2d_weight(x, gye, 3, 3, NULL), *d2 = sx_conv2d_weight(xc, gy, 3, 3, NULL);
    CHECK_NOTNULL(d1);
    if (d1 && d2) CHECK(max_abs_diff(d1, d2) <= 1e-5);
    sx_tensor_free(xp);
    sx_tensor_free(x);
    sx_tensor_free(xc);
    sx_tensor_free(w);
    sx_tensor_free(y);
    sx_tensor_free(yc);
    sx_tensor_free(gy);
    sx_tensor_free(one);
    sx_tensor_free(gye);
    sx_tensor_free(d1);
    sx_tensor_free(d2);
}

/* ---------------------------------------------------------------- gradients */

struct gc_ctx {
    sx_conv2d_opts o;
    int kh, kw;
    bool squared;  /* square the output: a nonlinearity for second derivatives */
};

static sx_tensor *finish(sx_tensor *y, const struct gc_ctx *c)
{
    if (!y || !c->squared) return y;
    sx_tensor *q = sx_square(y);
    sx_tensor_free(y);
    return q;
}

static sx_tensor *f_conv2d(sx_tensor *const *in, void *vc)
{
    struct gc_ctx *c = vc;
    return finish(sx_conv2d(in[0], in[1], in[2], &c->o), c);
}

static sx_tensor *f_conv2d_nobias(sx_tensor *const *in, void *vc)
{
    struct gc_ctx *c = vc;
    return finish(sx_conv2d(in[0], in[1], NULL, &c->o), c);
}

static sx_tensor *f_conv_transpose2d(sx_tensor *const *in, void *vc)
{
    struct gc_ctx *c = vc;
    return finish(sx_conv_transpose2d(in[0], in[1], in[2], &c->o), c);
}

static sx_tensor *f_conv2d_weight(sx_tensor *const *in, void *vc)
{
    struct gc_ctx *c = vc;
    return finish(sx_conv2d_weight(in[0], in[1], c->kh, c->kw, &c->o), c);
}

static void require_grad(int n, sx_tensor *const *xs)
{
    for (int i = 0; i < n; i++) sx_tensor_set_requires_grad(xs[i], true);
}

/* The grad-check configurations: stride 1 and 2, odd sizes, groups, padding. */
typedef struct gc_case {
    int N, Cin, H, W, Cout, k, s, p, G, op;
} gc_case;
static const gc_case gc_cases[] = {
    {2, 3, 5, 5, 4, 3, 1, 1, 1, 0},
    {2, 4, 7, 6, 4, 3, 2, 1, 2, 1},
    {1, 4, 6, 5, 2, 4, 2, 2, 2, 0},
    {2, 2, 4, 5, 3, 1, 1, 0, 1, 0},
};
#define N_GC_CASES (int)(sizeof gc_cases / sizeof *gc_cases)

/* conv2d (or conv_transpose2d) in x, w and b over the cases; the inputs
 * drawn with seeds seed + i, seed + 10 + i, seed + 20 + i. */
static void gradcheck_conv(bool transposed, unsigned seed)
{
    for (int i = 0; i < N_GC_CASES; i++) {
        const gc_case *k = &gc_cases[i];
        int op = transposed ? k->op : 0;
        struct gc_ctx c = {{{k->s, k->s}, {k->p, k->p}, k->G, {op, op}}, k->k, k->k, false};
        int64_t w_out = transposed ? k->Cin : k->Cout, w_in = (transposed ? k->Cout : k->Cin) / k->G;
        sx_tensor *xs[3] = {RANDN(seed + i, k->N, k->Cin, k->H, k->W), RANDN(seed + 10 + i, w_out, w_in, k->k, k->k),
                            RANDN(seed + 20 + i, k->Cout)};
        require_grad(3, xs);
        if (transposed) GRADCHECK("conv_transpose2d x,w,b", f_conv_transpose2d, &c, 3, xs);
        else GRADCHECK("conv2d x,w,b", f_conv2d, &c, 3, xs);
        free_all(3, xs);
    }
}

static void test_gradcheck_conv2d(void) { gradcheck_conv(false, 20); }
static void test_gradcheck_conv_transpose2d(void) { gradcheck_conv(true, 50); }

static void test_gradcheck_conv2d_weight(void)
{
    for (int i = 0; i < N_GC_CASES; i++) {
        const gc_case *k = &gc_cases[i];
        struct gc_ctx c = {{{k->s, k->s}, {k->p, k->p}, k->G, {0, 0}}, k->k, k->k, false};
        int Ho = out_size(k->H, k->k, k->s, k->p), Wo = out_size(k->W, k->k, k->s, k->p);
        sx_tensor *xs[2] = {RANDN(80 + i, k->N, k->Cin, k->H, k->W), RANDN(90 + i, k->N, k->Cout, Ho, Wo)};
        require_grad(2, xs);
        GRADCHECK("conv2d_weight x,gy", f_conv2d_weight, &c, 2, xs);
        free_all(2, xs);
    }
}

/* Second derivatives. The squared variants are polynomials of degree 4 whose
 * values sum many products, so float rounding swamps small steps: they take a
 * larger one (central differences of a cubic err by only eps^2/6 h'''). */
#define GG(what, f, c, n, xs, eps) \
    CHECK_MSG(gradgradcheck_ex(what, f, c, n, xs, eps, 5e-3, 3e-2, 24) <= 1.0, "%s (case %d)", what, i)

static void test_gradgradcheck(void)
{
    for (int i = 0; i < N_GC_CASES; i++) {
        const gc_case *k = &gc_cases[i];
        for (int sq = 0; sq < 2; sq++) {
            struct gc_ctx c = {{{k->s, k->s}, {k->p, k->p}, k->G, {0, 0}}, k->k, k->k, sq};
            int Ho = out_size(k->H, k->k, k->s, k->p), Wo = out_size(k->W, k->k, k->s, k->p);
            double eps = sq ? 5e-2 : 1e-2;

            sx_tensor *a[2] = {RANDN(100 + i, k->N, k->Cin, k->H, k->W),
                               RANDN(110 + i, k->Cout, k->Cin / k->G, k->k, k->k)};
            require_grad(2, a);
            GG(sq ? "conv2d^2 x,w" : "conv2d x,w", f_conv2d_nobias, &c, 2, a, eps);
            free_all(2, a);

            sx_tensor *b[2] = {RANDN(120 + i, k->N, k->Cin, k->H, k->W), RANDN(130 + i, k->N, k->Cout, Ho, Wo)};
            require_grad(2, b);
            GG(sq ? "conv2d_weight^2 x,gy" : "conv2d_weight x,gy", f_conv2d_weight, &c, 2, b, eps);
            free_all(2, b);

            c.o.output_padding[0] = c.o.output_padding[1] = k->op;
            sx_tensor *t[3] = {RANDN(140 + i, k->N, k->Cin, k->H, k->W),
                               RANDN(150 + i, k->Cin, k->Cout / k->G, k->k, k->k), RANDN(160 + i, k->Cout)};
            require_grad(3, t);
            GG(sq ? "conv_transpose2d^2 x,w,b" : "conv_transpose2d x,w,b", f_conv_transpose2d, &c, 3, t, eps);
            free_all(3, t);
        }
    }
}

/* The R1 pattern: penalty = sum(grad_x(sum(conv2d(tanh(conv2d(x, w1)), w2)))^2), then its
 * gradient in w, against finite differences of the penalty. */
static sx_tensor *f_r1(sx_tensor *const *in, void *vc)
{
    struct gc_ctx *c = vc;
    sx_tensor *x = sx_detach(in[0]);
    sx_tensor_set_requires_grad(x, true);
    sx_tensor *y = sx_conv2d(x, in[1], NULL, &c->o);
    sx_tensor *a = y ? sx_tanh(y) : NULL;
    sx_tensor *z = a ? sx_conv2d(a, in[2], NULL, &c->o) : NULL;
    sx_tensor *s = z ? sx_sum(z, 0, NULL, false) : NULL;
    sx_tensor *pen = grad_sq_sum(s, x);
    free_all(5, (sx_tensor *[]){x, y, a, z, s});
    return pen;
}

static void test_r1_double_backward(void)
{
    struct gc_ctx c = {{{1, 1}, {1, 1}, 1, {0, 0}}, 3, 3, false};
    sx_tensor *xs[3] = {RANDN(200, 2, 2, 5, 5), RANDN(201, 3, 2, 3, 3), RANDN(202, 2, 3, 3, 3)};
    /* halved inputs keep tanh off saturation and the penalty small, so a 3e-3
     * step is both accurate and well above float noise */
    for (int i = 0; i < 3; i++) {
        float *d = sx_tensor_data(xs[i]);
        for (int64_t j = 0; j < sx_tensor_numel(xs[i]); j++) d[j] *= 0.5f;
    }
    sx_tensor_set_requires_grad(xs[1], true);
    sx_tensor_set_requires_grad(xs[2], true);
    CHECK_MSG(gradcheck_ex("r1 through two convs (w1, w2)", f_r1, &c, 3, xs, 3e-3, 2e-3, 2e-2, 40) <= 1.0,
              "r1 double backward");
    free_all(3, xs);
}

/* Recorded attributes and op names. */
static void test_recording(void)
{
    sx_tensor *x = RANDN(1, 1, 2, 5, 5), *w = RANDN(2, 4, 1, 3, 3);
    sx_tensor_set_requires_grad(w, true);
    sx_conv2d_opts o = {{2, 2}, {1, 1}, 2, {0, 0}};
    sx_tensor *y = sx_conv2d(x, w, NULL, &o);
    CHECK_NOTNULL(y);
    if (y) {
        CHECK(strcmp(sx_tensor_op_name(y), "conv2d") == 0);
        CHECK(y->grad_fn->iattr[0] == 2 && y->grad_fn->iattr[2] == 1 && y->grad_fn->iattr[4] == 2);
        CHECK(y->grad_fn->iattr[7] == 3 && y->grad_fn->iattr[8] == 3);
    }
    bool prev = sx_set_grad_enabled(false);
    sx_tensor *y2 = sx_conv2d(x, w, NULL, &o);
    sx_set_grad_enabled(prev);
    CHECK(y2 && y2->grad_fn == NULL);
    sx_tensor_free(x);
    sx_tensor_free(w);
    sx_tensor_free(y);
    sx_tensor_free(y2);
}

/* ---------------------------------------------------------------- bad arguments */

#define EXPECT_FAIL(expr, needle)                                                                  \
    do {                                                                                           \
        sx_clear_error();                                                                          \
        sx_tensor *r_ = (expr);                                                                    \
        CHECK_MSG(r_ == NULL && sx_last_status() == SX_EINVAL && strstr(sx_last_error(), needle), \
                  "%s -> \"%s\"", #expr, sx_last_error());                                         \
        sx_tensor_free(r_);                                                                        \
    } while (0)

static void test_bad_arguments(void)
{
    sx_tensor *x = RANDN(1, 2, 4, 6, 6), *w = RANDN(2, 8, 3, 3, 3), *w4 = RANDN(3, 8, 4, 3, 3);
    sx_tensor *x3 = RANDN(4, 4, 6, 6), *b7 = RANDN(5, 7), *gy = RANDN(6, 2, 8, 6, 6);
    sx_tensor *wt = RANDN(7, 4, 2, 3, 3), *wbig = RANDN(8, 8, 4, 9, 9);
    sx_conv2d_opts p1 = {{1, 1}, {1, 1}, 1, {0, 0}};
    sx_conv2d_opts g3 = {{1, 1}, {1, 1}, 3, {0, 0}};
    sx_conv2d_opts neg = {{1, 1}, {-1, 1}, 1, {0, 0}};
    sx_conv2d_opts opbad = {{2, 2}, {1, 1}, 1, {2, 0}};

    EXPECT_FAIL(sx_conv2d(NULL, w, NULL, &p1), "conv2d: input is NULL");
    EXPECT_FAIL(sx_conv2d(x, NULL, NULL, &p1), "conv2d: weight is NULL");
    EXPECT_FAIL(sx_conv2d(x3, w4, NULL, &p1), "input must be 4-D");
    EXPECT_FAIL(sx_conv2d(x, w, NULL, &p1),
                "weight [8, 3, 3, 3] has 3 input channels per group, input [2, 4, 6, 6] has 4 channels (groups 1)");
    EXPECT_FAIL(sx_conv2d(x, w4, NULL, &g3), "groups 3 must divide");
    EXPECT_FAIL(sx_conv2d(x, w4, b7, &p1), "bias has shape [7], expected [8]");
    EXPECT_FAIL(sx_conv2d(x, wbig, NULL, &p1), "output would be empty");
    EXPECT_FAIL(sx_conv2d(x, w4, NULL, &neg), "must not be negative");

    EXPECT_FAIL(sx_conv_transpose2d(NULL, wt, NULL, &p1), "conv_transpose2d: input is NULL");
    EXPECT_FAIL(sx_conv_transpose2d(x, w4, NULL, &p1),
                "weight [8, 4, 3, 3] has 8 input channels, input [2, 4, 6, 6] has 4");
    EXPECT_FAIL(sx_conv_transpose2d(x, wt, NULL, &opbad), "output_padding 2,0 must be smaller than stride");
    EXPECT_FAIL(sx_conv_transpose2d(x, wt, NULL, &g3), "groups 3 does not divide");
    EXPECT_FAIL(sx_conv_transpose2d(x, wt, b7, &p1), "bias has shape [7], expected [2]");
    EXPECT_FAIL(sx_conv_transpose2d(x, wt, NULL, &(sx_conv2d_opts){{1, 1}, {5, 5}, 1, {0, 0}}), "output would be");

    EXPECT_FAIL(sx_conv2d_weight(x, NULL, 3, 3, &p1), "conv2d_weight: output gradient is NULL");
    EXPECT_FAIL(sx_conv2d_weight(x, gy, 0, 3, &p1), "kernel size 0x3 must be positive");
    EXPECT_FAIL(sx_conv2d_weight(x, gy, 3, 3, &(sx_conv2d_opts){{2, 2}, {1, 1}, 1, {0, 0}}),
                "output gradient [2, 8, 6, 6] does not match input [2, 4, 6, 6]");
    EXPECT_FAIL(sx_conv2d_weight(x, gy, 3, 3, &g3), "groups 3 must divide");
    EXPECT_FAIL(sx_conv2d_weight(x3, gy, 3, 3, &p1), "input must be 4-D");

    sx_tensor *empty = sx_tensor_zeros(4, SHAPE(2, 4, 0, 6));
    EXPECT_FAIL(sx_conv2d(empty, w4, NULL, &p1), "empty dimension");
    sx_tensor_free(empty);

    /* zero samples is fine */
    sx_tensor *x0 = sx_tensor_zeros(4, SHAPE(0, 4, 6, 6));
    sx_tensor *y0 = sx_conv2d(x0, w4, NULL, &p1);
    CHECK_MSG(y0 && y0->shape[0] == 0 && y0->shape[1] == 8, "%s", sx_last_error());
    sx_tensor_free(y0);
    sx_tensor_free(x0);

    sx_tensor_free(x);
    sx_tensor_free(w);
    sx_tensor_free(w4);
    sx_tensor_free(x3);
    sx_tensor_free(b7);
    sx_tensor_free(gy);
    sx_tensor_free(wt);
    sx_tensor_free(wbig);
}

int main(void)
{
    RUN(test_forward_random_shapes);
    RUN(test_forward_large_shapes);
    RUN(test_threads_agree);
    RUN(test_views_and_default_opts);
    RUN(test_recording);
    RUN(test_gradcheck_conv2d);
    RUN(test_gradcheck_conv_transpose2d);
    RUN(test_gradcheck_conv2d_weight);
    RUN(test_gradgradcheck);
    RUN(test_r1_double_backward);
    RUN(test_bad_arguments);
    return check_summary("conv");
}
