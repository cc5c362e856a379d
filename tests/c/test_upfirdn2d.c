/*
 * tests/c/test_upfirdn2d.c — sx_upfirdn2d against a naive reference written
 * step by step (explicit zero insertion, padding, correlation, downsampling,
 * double accumulation), its backward against the reference's adjoint written
 * as a scatter (so the backward's padding formula is checked, not reused),
 * second derivatives, finite-difference checks, the StyleGAN2 configurations,
 * and bad arguments.
 */

#include "fixtures.h"

/* ---------------------------------------------------------------- reference */

typedef struct {
    int64_t N, C, H, W, fh, fw;
    int up, down;
    int pad[4]; /* x0, x1, y0, y1 */
} cfg;

static int64_t ref_out(int64_t in, int up, int down, int p0, int p1, int64_t taps)
{
    int64_t span = in * up + p0 + p1 - taps;
    return span < 0 ? 0 : span / down + 1;
}

/* The output size of case c; false when it is empty. */
static bool out_size(const cfg *c, int64_t *Ho, int64_t *Wo)
{
    *Ho = ref_out(c->H, c->up, c->down, c->pad[2], c->pad[3], c->fh);
    *Wo = ref_out(c->W, c->up, c->down, c->pad[0], c->pad[1], c->fw);
    return *Ho >= 1 && *Wo >= 1;
}

/* o [N, C, Ho, Wo] from x [N, C, H, W] and f [fh, fw]; returns a malloc'd array. */
static float *ref_forward(const cfg *c, const float *x, const float *f, int64_t *Ho_out, int64_t *Wo_out)
{
    const int64_t Hu = c->H * c->up, Wu = c->W * c->up;
    const int64_t Hp = Hu + c->pad[2] + c->pad[3], Wp = Wu + c->pad[0] + c->pad[1];
    const int64_t Hc = Hp - c->fh + 1, Wc = Wp - c->fw + 1;
    int64_t Ho, Wo;
    out_size(c, &Ho, &Wo);
    *Ho_out = Ho;
    *Wo_out = Wo;
    float *o = calloc((size_t)(c->N * c->C * Ho * Wo) + 1, sizeof *o);
    double *u = calloc((size_t)(Hu * Wu), sizeof *u);
    double *p = calloc((size_t)(Hp * Wp) + 1, sizeof *p);
    double *cr = calloc((size_t)(Hc > 0 && Wc > 0 ? Hc * Wc : 1), sizeof *cr);
    for (int64_t pl = 0; pl < c->N * c->C; pl++) {
        const float *xp = x + pl * c->H * c->W;
        /* 1. zero insertion */
        memset(u, 0, (size_t)(Hu * Wu) * sizeof *u);
        for (int64_t i = 0; i < c->H; i++)
            for (int64_t k = 0; k < c->W; k++) u[(i * c->up) * Wu + k * c->up] = xp[i * c->W + k];
        /* 2. pad (negative pads crop) */
        for (int64_t i = 0; i < Hp; i++)
            for (int64_t k = 0; k < Wp; k++) {
                int64_t si = i - c->pad[2], sk = k - c->pad[0];
                p[i * Wp + k] = si >= 0 && si < Hu && sk >= 0 && sk < Wu ? u[si * Wu + sk] : 0.0;
            }
        /* 3. correlation, no flip */
        for (int64_t i = 0; i < Hc; i++)
            for (int64_t k = 0; k < Wc; k++) {
                double s = 0;
                for (int64_t a = 0; a < c->fh; a++)
                    for (int64_t b = 0; b < c->fw; b++) s += (double)f[a * c->fw + b] * p[(i + a) * Wp + k + b];
                cr[i * Wc + k] = s;
            }
        /* 4. keep every down-th pixel */
        for (int64_t m = 0; m < Ho; m++)
            for (int64_t n = 0; n < Wo; n++)
                o[(pl * Ho + m) * Wo + n] = (float)cr[(m * c->down) * Wc + n * c->down];
    }
    free(u);
    free(p);
    free(cr);
    return o;
}

/* The adjoint of ref_forward, written as a scatter over the forward's taps:
 * gx [N, C, H, W] from g [N, C, Ho, Wo]. */
static float *ref_adjoint(const cfg *c, const float *g, const float *f, int64_t Ho, int64_t Wo)
{
    const int64_t n_x = c->N * c->C * c->H * c->W;
    double *acc = calloc((size_t)n_x + 1, sizeof *acc);
    for (int64_t pl = 0; pl < c->N * c->C; pl++)
        for (int64_t m = 0; m < Ho; m++)
            for (int64_t n = 0; n < Wo; n++)
                for (int64_t a = 0; a < c->fh; a++)
                    for (int64_t b = 0; b < c->fw; b++) {
                        /* position in the zero-upsampled image */
                        int64_t ju = m * c->down + a - c->pad[2], ku = n * c->down + b - c->pad[0];
                        if (ju < 0 || ku < 0 || ju % c->up || ku % c->up) continue;
                        int64_t i = ju / c->up, k = ku / c->up;
                        if (i >= c->H || k >= c->W) continue;
                        acc[(pl * c->H + i) * c->W + k] +=
                            (double)g[(pl * Ho + m) * Wo + n] * f[a * c->fw + b];
                    }
    float *gx = malloc((size_t)n_x * sizeof *gx + 4);
    for (int64_t e = 0; e < n_x; e++) gx[e] = (float)acc[e];
    free(acc);
    return gx;
}

static double max_diff(const float *a, const float *b, int64_t n, double *scale)
{
    double m = 0, s = 1e-6;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d;
        if (fabs((double)b[i]) > s) s = fabs((double)b[i]);
    }
    *scale = s;
    return m;
}

/* got against want over n values, within tol times want's largest
 * magnitude; frees both (malloc'd). */
static void check_close(const char *desc, const char *what, float *got, float *want, int64_t n, double tol)
{
    double scale, d = max_diff(got, want, n, &scale);
    CHECK_MSG(d <= tol * scale, "%s: %s max diff %g (scale %g)", desc, what, d, scale);
    free(got);
    free(want);
}

static float *contents(const sx_tensor *t)
{
    float *p = malloc((size_t)sx_tensor_numel(t) * sizeof *p + 4);
    sx_tensor_copy_to(t, p);
    return p;
}

/* ---------------------------------------------------------------- filters */

/* When set, the visitors below use separable filters col * row^T (random
 * factors), which sx_upfirdn2d runs with its separable kernel when up = 1;
 * otherwise a random (non-separable) filter. */
static bool separable_filters = false;

static sx_tensor *make_filter(unsigned seed, int64_t fh, int64_t fw)
{
    if (!separable_filters) return RANDN(seed, fh, fw);
    sx_tensor *a = RANDN(seed, fh, 1), *b = RANDN(seed + 1, 1, fw);
    sx_tensor *f = a && b ? sx_mul(a, b) : NULL; /* [fh, 1] * [1, fw] broadcasts to [fh, fw] */
    sx_tensor_free(a);
    sx_tensor_free(b);
    return f;
}

/* ---------------------------------------------------------------- configurations */

static const int ups[] = {1, 2, 4};
static const int downs[] = {1, 2};
static const int pads[][4] = {
    {0, 0, 0, 0}, {2, 1, 2, 1}, {1, 1, 1, 1}, {1, 2, 0, 3}, {-1, 2, 3, -2}, {-2, -1, -1, -3}, {3, 0, 0, 3},
};
static const int64_t filters[][2] = {{4, 4}, {1, 4}, {4, 1}, {3, 3}, {1, 1}, {2, 5}};
static const int64_t sizes[][2] = {{5, 7}, {8, 6}};

typedef void (*cfg_visit)(const cfg *c, unsigned seed, void *ctx);

/* Calls visit for every combination of the tables above (N=2, C=3). */
static int for_each_cfg(cfg_visit visit, void *ctx)
{
    int count = 0;
    unsigned seed = 100;
    for (size_t iu = 0; iu < sizeof ups / sizeof ups[0]; iu++)
        for (size_t id = 0; id < sizeof downs / sizeof downs[0]; id++)
            for (size_t ip = 0; ip < sizeof pads / sizeof pads[0]; ip++)
                for (size_t iff = 0; iff < sizeof filters / sizeof filters[0]; iff++)
                    for (size_t is = 0; is < sizeof sizes / sizeof sizes[0]; is++) {
                        cfg c = {2, 3, sizes[is][0], sizes[is][1], filters[iff][0], filters[iff][1],
                                 ups[iu], downs[id], {0}};
                        memcpy(c.pad, pads[ip], sizeof c.pad);
                        visit(&c, seed++, ctx);
                        count++;
                    }
    return count;
}

static void cfg_str(const cfg *c, char *buf, size_t n)
{
    snprintf(buf, n, "x [%lld,%lld,%lld,%lld] f [%lld,%lld] up %d down %d pad (%d,%d,%d,%d)", (long long)c->N,
             (long long)c->C, (long long)c->H, (long long)c->W, (long long)c->fh, (long long)c->fw, c->up,
             c->down, c->pad[0], c->pad[1], c->pad[2], c->pad[3]);
}

/* ---------------------------------------------------------------- forward */

struct fwd_stats {
    int ran, refused;
};

static void visit_forward(const cfg *c, unsigned seed, void *vctx)
{
    struct fwd_stats *st = vctx;
    char desc[160];
    cfg_str(c, desc, sizeof desc);
    sx_tensor *x = RANDN(seed, c->N, c->C, c->H, c->W);
    sx_tensor *f = make_filter(seed + 7000, c->fh, c->fw);
    int64_t Ho, Wo;
    float *xd = contents(x), *fd = contents(f);
    float *want = ref_forward(c, xd, fd, &Ho, &Wo);
    sx_tensor *o = sx_upfirdn2d(x, f, c->up, c->down, c->pad);
    if (Ho < 1 || Wo < 1) {
        st->refused++;
        CHECK_MSG(o == NULL && sx_last_status() == SX_EINVAL && strstr(sx_last_error(), "upfirdn2d"),
                  "%s: an empty output must be refused", desc);
    } else {
        st->ran++;
        CHECK_MSG(o != NULL, "%s: %s", desc, sx_last_error());
        if (o) {
            CHECK_MSG(o->ndim == 4 && o->shape[0] == c->N && o->shape[1] == c->C && o->shape[2] == Ho &&
                          o->shape[3] == Wo,
                      "%s: shape", desc);
            float *got = contents(o);
            double scale, d = max_diff(got, want, c->N * c->C * Ho * Wo, &scale);
            CHECK_MSG(d <= 1e-5 * scale, "%s: max diff %g (scale %g)", desc, d, scale);
            free(got);
        }
    }
    sx_tensor_free(o);
    sx_tensor_free(x);
    sx_tensor_free(f);
    free(xd);
    free(fd);
    free(want);
}

static void test_forward_matches_reference(void)
{
    struct fwd_stats st = {0, 0};
    int n = for_each_cfg(visit_forward, &st);
    /* the tables must exercise both outcomes */
    CHECK(n == st.ran + st.refused);
    CHECK(st.ran > 300);
    CHECK(st.refused > 0);
}

/* A hand-computed case: the asymmetric filter [1, 2] correlates (no flip). */
static void test_forward_by_hand(void)
{
    sx_tensor *x = sx_tensor_from_data(4, SHAPE(1, 1, 1, 3), (const float[]){1, 10, 100});
    sx_tensor *f = sx_tensor_from_data(2, SHAPE(1, 2), (const float[]){1, 2});
    /* o[n] = x[n] + 2 x[n+1] */
    sx_tensor *o = sx_upfirdn2d(x, f, 1, 1, (const int[]){0, 0, 0, 0});
    CHECK_NOTNULL(o);
    if (o) {
        CHECK(o->shape[3] == 2);
        CHECK_NEAR(sx_tensor_get(o, SHAPE(0, 0, 0, 0)), 21.0, 1e-5);
        CHECK_NEAR(sx_tensor_get(o, SHAPE(0, 0, 0, 1)), 210.0, 1e-4);
    }
    sx_tensor_free(o);
    /* up 2, pad (1, 0): padded upsampled row [0, 1, 0, 10, 0, 100, 0] -> 6 outputs */
    o = sx_upfirdn2d(x, f, 2, 1, (const int[]){1, 0, 0, 0});
    CHECK_NOTNULL(o);
    if (o) {
        const float want[6] = {2, 1, 20, 10, 200, 100};
        CHECK(o->shape[3] == 6);
        for (int k = 0; k < 6 && o->shape[3] == 6; k++)
            CHECK_NEAR(sx_tensor_get(o, SHAPE(0, 0, 0, k)), want[k], 1e-4);
    }
    sx_tensor_free(o);
    sx_tensor_free(x);
    sx_tensor_free(f);
}

/* ---------------------------------------------------------------- backward */

/* The inputs of a gradient case: x (requiring grad), f, and an output
 * gradient g [N, C, Ho, Wo], drawn from seed as every gradient test does;
 * case_begin counts the case in *ran, or returns false (nothing drawn) when
 * its output is empty or take is false. */
typedef struct grad_case {
    int64_t Ho, Wo;
    char desc[160];
    sx_tensor *x, *f, *g;
} grad_case;

static bool case_begin(const cfg *c, unsigned seed, bool take, int *ran, grad_case *k)
{
    if (!out_size(c, &k->Ho, &k->Wo) || !take) return false;
    (*ran)++;
    cfg_str(c, k->desc, sizeof k->desc);
    k->x = RANDN(seed, c->N, c->C, c->H, c->W);
    sx_tensor_set_requires_grad(k->x, true);
    k->f = make_filter(seed + 7000, c->fh, c->fw);
    k->g = RANDN(seed + 9000, c->N, c->C, k->Ho, k->Wo);
    return true;
}

static void case_end(grad_case *k) { free_all(3, (sx_tensor *[]){k->x, k->f, k->g}); }

static void visit_backward(const cfg *c, unsigned seed, void *vctx)
{
    grad_case k;
    if (!case_begin(c, seed, true, vctx, &k)) return;
    int64_t Ho = k.Ho, Wo = k.Wo;
    const char *desc = k.desc;
    sx_tensor *x = k.x, *f = k.f, *g = k.g;
    sx_tensor *o = sx_upfirdn2d(x, f, c->up, c->down, c->pad);
    sx_tensor *gx = NULL;
    CHECK_MSG(o && sx_grad(1, &o, &g, 1, &x, false, false, &gx) == SX_OK, "%s: %s", desc, sx_last_error());
    if (gx) {
        CHECK_MSG(sx_tensor_same_shape(gx, x), "%s: gradient shape", desc);
        float *gd = contents(g), *fd = contents(f), *got = contents(gx);
        check_close(desc, "gradient", got, ref_adjoint(c, gd, fd, Ho, Wo), sx_tensor_numel(x), 1e-5);
        free(gd);
        free(fd);
    }
    free_all(2, (sx_tensor *[]){gx, o});
    case_end(&k);
}

static void test_backward_matches_adjoint(void)
{
    int ran = 0;
    for_each_cfg(visit_backward, &ran);
    CHECK(ran > 300);
}

/* h(x) = <d<U(x)^2, r>/dx, v> = <2 U^T(r * U x), v>, so dh/dx = 2 U^T(r * U v):
 * the backward of the backward, compared with the reference. */
static void visit_double_backward(const cfg *c, unsigned seed, void *vctx)
{
    grad_case k;
    if (!case_begin(c, seed, seed % 3 == 0, vctx, &k)) return; /* a third of the table is plenty */
    int64_t Ho = k.Ho, Wo = k.Wo;
    const char *desc = k.desc;
    sx_tensor *x = k.x, *f = k.f, *r = k.g;
    sx_tensor *v = RANDN(seed + 11000, c->N, c->C, c->H, c->W);
    sx_tensor *o = sx_upfirdn2d(x, f, c->up, c->down, c->pad);
    sx_tensor *o2 = o ? sx_square(o) : NULL;
    sx_tensor *gx = NULL, *ggx = NULL, *p = NULL, *h = NULL;
    bool ok = o2 && sx_grad(1, &o2, &r, 1, &x, true, false, &gx) == SX_OK;
    p = ok ? sx_mul(gx, v) : NULL;
    h = p ? sx_sum(p, 0, NULL, false) : NULL;
    ok = h && sx_grad(1, &h, NULL, 1, &x, false, false, &ggx) == SX_OK;
    CHECK_MSG(ok, "%s: %s", desc, sx_last_error());
    if (ok) {
        int64_t ho, wo, no = c->N * c->C * Ho * Wo;
        float *vd = contents(v), *fd = contents(f), *rd = contents(r), *got = contents(ggx);
        float *uv = ref_forward(c, vd, fd, &ho, &wo);
        for (int64_t e = 0; e < no; e++) uv[e] = 2.0f * rd[e] * uv[e];
        check_close(desc, "second derivative", got, ref_adjoint(c, uv, fd, Ho, Wo), sx_tensor_numel(x), 2e-5);
        free(vd);
        free(fd);
        free(rd);
        free(uv);
    }
    free_all(7, (sx_tensor *[]){ggx, h, p, gx, o2, o, v});
    case_end(&k);
}

static void test_double_backward_matches_reference(void)
{
    int ran = 0;
    for_each_cfg(visit_double_backward, &ran);
    CHECK(ran > 80);
}

/* The gradient with respect to the incoming gradient is the forward op:
 * d<U^T g, v>/dg = U v (the backward's own backward, reached through g). */
static void test_backward_differentiable_in_grad_output(void)
{
    cfg c = {2, 2, 7, 5, 4, 3, 2, 2, {1, -1, 2, 0}};
    int64_t Ho, Wo;
    out_size(&c, &Ho, &Wo);
    sx_tensor *x = RANDN(1, c.N, c.C, c.H, c.W), *f = RANDN(2, c.fh, c.fw);
    sx_tensor *g = RANDN(3, c.N, c.C, Ho, Wo), *v = RANDN(4, c.N, c.C, c.H, c.W);
    sx_tensor_set_requires_grad(x, true);
    sx_tensor_set_requires_grad(g, true);
    sx_tensor *o = sx_upfirdn2d(x, f, c.up, c.down, c.pad);
    sx_tensor *gx = NULL, *gg = NULL;
    bool ok = o && sx_grad(1, &o, &g, 1, &x, true, false, &gx) == SX_OK;
    sx_tensor *p = ok ? sx_mul(gx, v) : NULL, *h = p ? sx_sum(p, 0, NULL, false) : NULL;
    ok = h && sx_grad(1, &h, NULL, 1, &g, false, false, &gg) == SX_OK;
    CHECK_MSG(ok, "%s", sx_last_error());
    if (ok) {
        int64_t ho, wo;
        float *vd = contents(v), *fd = contents(f), *got = contents(gg);
        check_close("through g", "gradient", got, ref_forward(&c, vd, fd, &ho, &wo), sx_tensor_numel(g), 1e-5);
        free(vd);
        free(fd);
    }
    free_all(9, (sx_tensor *[]){gg, h, p, gx, o, v, g, f, x});
}

/* ---------------------------------------------------------------- finite differences */

struct ufd_args {
    sx_tensor *f;
    int up, down, pad[4];
    bool squared; /* square the output so that second derivatives are non-zero */
};

static sx_tensor *call_ufd(sx_tensor *const *xs, void *vctx)
{
    struct ufd_args *a = vctx;
    sx_tensor *o = sx_upfirdn2d(xs[0], a->f, a->up, a->down, a->pad);
    if (!o || !a->squared) return o;
    sx_tensor *o2 = sx_square(o);
    sx_tensor_free(o);
    return o2;
}

static void test_gradcheck(void)
{
    struct {
        int64_t H, W, fh, fw;
        int up, down, pad[4];
    } cases[] = {
        {4, 4, 4, 4, 2, 1, {2, 1, 2, 1}},   /* StyleGAN2 upsample */
        {8, 8, 4, 4, 1, 2, {1, 1, 1, 1}},   /* StyleGAN2 downsample */
        {5, 5, 4, 4, 1, 1, {1, 1, 1, 1}},   /* blur after a transposed conv */
        {5, 6, 3, 2, 2, 2, {-1, 2, 1, -1}}, /* crops, odd sizes, asymmetric filter */
        {7, 3, 1, 4, 4, 2, {0, 3, 2, 0}},   /* 1-D-like filter, integer division crops */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char what[64];
        sx_tensor *x = RANDN(40 + (unsigned)k, 2, 2, cases[k].H, cases[k].W);
        sx_tensor_set_requires_grad(x, true);
        struct ufd_args a = {RANDN(50 + (unsigned)k, cases[k].fh, cases[k].fw), cases[k].up, cases[k].down,
                             {0}, false};
        memcpy(a.pad, cases[k].pad, sizeof a.pad);
        snprintf(what, sizeof what, "upfirdn2d case %zu", k);
        GRADCHECK(what, call_ufd, &a, 1, &x);
        a.squared = true;
        snprintf(what, sizeof what, "upfirdn2d^2 case %zu", k);
        GRADCHECK(what, call_ufd, &a, 1, &x);
        GRADGRADCHECK(what, call_ufd, &a, 1, &x);
        sx_tensor_free(a.f);
        sx_tensor_free(x);
    }
}

/* ---------------------------------------------------------------- StyleGAN2 uses */

/* [1,3,3,1] x [1,3,3,1] / 64, times gain. */
static sx_tensor *fir_1331(float gain)
{
    const float k[4] = {1, 3, 3, 1};
    float d[16];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) d[i * 4 + j] = k[i] * k[j] / 64.0f * gain;
    return sx_tensor_from_data(2, SHAPE(4, 4), d);
}

/* A constant image stays constant away from the borders: the filters
 * preserve DC (with gain up^2 when upsampling); sizes are StyleGAN2's. */
static void test_stylegan_configs(void)
{
    sx_tensor *x = sx_tensor_full(4, SHAPE(2, 3, 8, 8), 1.5f);
    struct {
        int up, down, pad[4];
        float gain;
        int64_t size;
    } cases[] = {
        {2, 1, {2, 1, 2, 1}, 4.0f, 16},
        {1, 2, {1, 1, 1, 1}, 1.0f, 4},
        {1, 1, {1, 2, 1, 2}, 1.0f, 8},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        sx_tensor *f = fir_1331(cases[k].gain);
        sx_tensor *o = sx_upfirdn2d(x, f, cases[k].up, cases[k].down, cases[k].pad);
        CHECK_NOTNULL(o);
        if (o) {
            CHECK_MSG(o->shape[2] == cases[k].size && o->shape[3] == cases[k].size, "case %zu: size %lld", k,
                      (long long)o->shape[2]);
            int64_t mid = o->shape[2] / 2;
            CHECK_NEAR(sx_tensor_get(o, SHAPE(1, 2, mid, mid)), 1.5, 1e-5);
            CHECK_NEAR(sx_tensor_get(o, SHAPE(0, 1, mid - 1, mid)), 1.5, 1e-5);
        }
        sx_tensor_free(o);
        sx_tensor_free(f);
    }
    sx_tensor_free(x);
}

/* Separable filters (what StyleGAN2 uses) take the separable kernel when
 * up = 1: the same reference checks as above with filters col * row^T, and
 * finite-difference gradient and second-derivative checks with the [1,3,3,1]
 * filters at the uses of the networks (the blur before a stride-2 conv, the
 * blur after a transposed conv, the 2x downsample). */
static void test_separable_filters(void)
{
    separable_filters = true;
    struct fwd_stats st = {0, 0};
    for_each_cfg(visit_forward, &st);
    CHECK(st.ran > 300);
    int ran = 0;
    for_each_cfg(visit_backward, &ran);
    CHECK(ran > 300);
    ran = 0;
    for_each_cfg(visit_double_backward, &ran);
    CHECK(ran > 80);
    separable_filters = false;
    struct {
        int64_t H, W;
        int down, pad[4];
        float gain;
    } cases[] = {
        {6, 6, 1, {2, 2, 2, 2}, 1.0f}, /* blur before the discriminator's stride-2 conv */
        {7, 7, 1, {1, 1, 1, 1}, 4.0f}, /* blur after the synthesis' transposed conv */
        {8, 6, 2, {1, 1, 1, 1}, 1.0f}, /* downsample before the skip */
        {7, 5, 2, {-1, 2, 0, 1}, 1.0f}, /* crops and odd sizes */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char what[64];
        sx_tensor *x = RANDN(90 + (unsigned)k, 2, 2, cases[k].H, cases[k].W);
        sx_tensor_set_requires_grad(x, true);
        struct ufd_args a = {fir_1331(cases[k].gain), 1, cases[k].down, {0}, true};
        memcpy(a.pad, cases[k].pad, sizeof a.pad);
        snprintf(what, sizeof what, "separable upfirdn2d^2 case %zu", k);
        GRADCHECK(what, call_ufd, &a, 1, &x);
        GRADGRADCHECK(what, call_ufd, &a, 1, &x);
        sx_tensor_free(a.f);
        sx_tensor_free(x);
    }
}

/* ---------------------------------------------------------------- layouts, threads, filter */

/* A non-contiguous x (a transposed view) gives the same result as its copy. */
static void test_noncontiguous_input(void)
{
    sx_tensor *base = RANDN(60, 2, 3, 6, 5), *f = RANDN(61, 3, 4);
    sx_tensor *xt = sx_transpose(base, 2, 3);
    sx_tensor *xc = xt ? sx_tensor_copy(xt) : NULL;
    CHECK_NOTNULL(xc);
    const int pad[4] = {1, 2, 2, 0};
    sx_tensor *a = xt ? sx_upfirdn2d(xt, f, 2, 1, pad) : NULL, *b = xc ? sx_upfirdn2d(xc, f, 2, 1, pad) : NULL;
    CHECK(a && b && max_abs_diff(a, b) == 0.0);
    free_all(6, (sx_tensor *[]){a, b, xc, xt, base, f});
}

/* Splitting planes over threads does not change a single bit. */
static void test_thread_count_independent(void)
{
    sx_tensor *x = RANDN(70, 4, 16, 16, 16), *f = RANDN(71, 4, 4);
    const int pad[4] = {2, 1, 2, 1};
    int keep = sx_num_threads();
    sx_set_num_threads(1);
    sx_tensor *a = sx_upfirdn2d(x, f, 2, 1, pad);
    sx_set_num_threads(4);
    sx_tensor *b = sx_upfirdn2d(x, f, 2, 1, pad);
    sx_set_num_threads(keep);
    CHECK(a && b && max_abs_diff(a, b) == 0.0);
    free_all(4, (sx_tensor *[]){a, b, x, f});
}

/* f is a constant to autograd: no gradient, no graph through it alone. */
static void test_filter_gets_no_gradient(void)
{
    sx_tensor *x = RANDN(80, 1, 2, 5, 5), *f = RANDN(81, 3, 3);
    const int pad[4] = {1, 1, 1, 1};
    sx_tensor_set_requires_grad(f, true);
    sx_tensor *o = sx_upfirdn2d(x, f, 1, 1, pad);
    CHECK(o && !o->requires_grad);
    sx_tensor_free(o);

    sx_tensor_set_requires_grad(x, true);
    o = sx_upfirdn2d(x, f, 1, 1, pad);
    sx_tensor *s = o ? sx_sum(o, 0, NULL, false) : NULL;
    sx_tensor *in[2] = {x, f}, *gr[2] = {NULL, NULL};
    CHECK_OK(s ? sx_grad(1, &s, NULL, 2, in, false, true, gr) : SX_EINVAL);
    /* the filter is not reached: allow_unused gives zeros of its shape */
    CHECK(gr[0] != NULL && gr[1] != NULL && !gr[1]->grad_fn);
    sx_tensor *zf = sx_tensor_zeros(2, SHAPE(3, 3));
    CHECK(gr[1] && max_abs_diff(gr[1], zf) == 0.0);
    sx_tensor_free(zf);
    free_all(6, (sx_tensor *[]){gr[0], gr[1], s, o, x, f});
}

/* ---------------------------------------------------------------- bad arguments */

static void expect_refused(sx_tensor *o, const char *why, const char *needle)
{
    CHECK_MSG(o == NULL, "%s: accepted", why);
    CHECK_MSG(sx_last_status() == SX_EINVAL, "%s: status %d", why, (int)sx_last_status());
    CHECK_MSG(strstr(sx_last_error(), "upfirdn2d") != NULL, "%s: message '%s'", why, sx_last_error());
    if (needle) CHECK_MSG(strstr(sx_last_error(), needle) != NULL, "%s: message '%s'", why, sx_last_error());
    sx_tensor_free(o);
}

static void test_bad_arguments(void)
{
    sx_tensor *x = RANDN(90, 1, 2, 4, 4), *f = RANDN(91, 3, 3);
    sx_tensor *x3 = RANDN(92, 2, 4, 4), *f1 = RANDN(93, 3), *f3 = RANDN(94, 1, 3, 3);
    sx_tensor *xe = sx_tensor_zeros(4, SHAPE(1, 2, 0, 4));
    const int pad0[4] = {0, 0, 0, 0};
    expect_refused(sx_upfirdn2d(NULL, f, 1, 1, pad0), "NULL x", "NULL");
    expect_refused(sx_upfirdn2d(x, NULL, 1, 1, pad0), "NULL f", "NULL");
    expect_refused(sx_upfirdn2d(x, f, 1, 1, NULL), "NULL pad", "pad");
    expect_refused(sx_upfirdn2d(x3, f, 1, 1, pad0), "3-D x", "[2, 4, 4]");
    expect_refused(sx_upfirdn2d(x, f1, 1, 1, pad0), "1-D f", "[3]");
    expect_refused(sx_upfirdn2d(x, f3, 1, 1, pad0), "3-D f", "[1, 3, 3]");
    expect_refused(sx_upfirdn2d(x, f, 0, 1, pad0), "up 0", "up");
    expect_refused(sx_upfirdn2d(x, f, 1, 0, pad0), "down 0", "down");
    expect_refused(sx_upfirdn2d(x, f, -3, 1, pad0), "up negative", "up");
    expect_refused(sx_upfirdn2d(x, f, 100000, 1, pad0), "up absurd", "up");
    expect_refused(sx_upfirdn2d(x, f, 1, 1, (const int[]){0, 0, 1 << 30, 0}), "pad absurd", "pad");
    expect_refused(sx_upfirdn2d(x, f, 1, 1, (const int[]){0, 0, -2, 0}), "empty output", "[1, 2, 4, 4]");
    expect_refused(sx_upfirdn2d(x, f, 1, 1, (const int[]){-1, -1, 0, 0}), "empty output in x", "empty");
    expect_refused(sx_upfirdn2d(xe, f, 1, 1, (const int[]){2, 2, 2, 2}), "empty x", "[1, 2, 0, 4]");
    free_all(6, (sx_tensor *[]){x, f, x3, f1, f3, xe});
}

int main(void)
{
    RUN(test_forward_by_hand);
    RUN(test_forward_matches_reference);
    RUN(test_backward_matches_adjoint);
    RUN(test_double_backward_matches_reference);
    RUN(test_backward_differentiable_in_grad_output);
    RUN(test_gradcheck);
    RUN(test_stylegan_configs);
    RUN(test_separable_filters);
    RUN(test_noncontiguous_input);
    RUN(test_thread_count_independent);
    RUN(test_filter_gets_no_gradient);
    RUN(test_bad_arguments);
    return check_summary("upfirdn2d");
}
