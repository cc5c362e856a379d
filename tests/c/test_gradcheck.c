/*
 * tests/c/test_gradcheck.c — finite-difference gradient checks (first and
 * second order) for the elementwise, reduction, shape, matmul and loss ops,
 * plus forward values against hand-computed results. The convolution family
 * and upfirdn2d have their own files (test_conv.c, test_upfirdn2d.c).
 */
#include "check.h"

/* ---------------------------------------------------------------- inputs */

/* randn leaf with requires_grad, values pushed to |x| >= 0.3 so that finite
 * differences never straddle a kink (abs, relu, leaky_relu, max ties). */
static sx_tensor *leaf(unsigned seed, int ndim, const int64_t *shape, bool away_from_zero)
{
    sx_tensor *t = T(ndim, shape, seed);
    if (away_from_zero) {
        float *p = sx_tensor_data(t);
        for (int64_t i = 0; i < sx_tensor_numel(t); i++) p[i] += p[i] >= 0 ? 0.3f : -0.3f;
    }
    sx_tensor_set_requires_grad(t, true);
    return t;
}

/* positive leaf in [0.5, 2.5] for log, sqrt, rsqrt, pow, div */
static sx_tensor *pos_leaf(unsigned seed, int ndim, const int64_t *shape)
{
    sx_manual_seed(seed);
    sx_tensor *t = sx_tensor_rand(ndim, shape);
    float *p = sx_tensor_data(t);
    for (int64_t i = 0; i < sx_tensor_numel(t); i++) p[i] = 0.5f + 2.0f * p[i];
    sx_tensor_set_requires_grad(t, true);
    return t;
}

/* ---------------------------------------------------------------- op wrappers */

typedef sx_tensor *(*unary_fn)(sx_tensor *);
typedef sx_tensor *(*binary_fn)(sx_tensor *, sx_tensor *);

static sx_tensor *call_unary(sx_tensor *const *x, void *ctx) { return ((unary_fn)ctx)(x[0]); }
static sx_tensor *call_binary(sx_tensor *const *x, void *ctx) { return ((binary_fn)ctx)(x[0], x[1]); }

static sx_tensor *f_leaky(sx_tensor *x) { return sx_leaky_relu(x, 0.2f); }
static sx_tensor *f_add_s(sx_tensor *x) { return sx_add_scalar(x, 1.5f); }
static sx_tensor *f_mul_s(sx_tensor *x) { return sx_mul_scalar(x, -2.5f); }
static sx_tensor *f_pow3(sx_tensor *x) { return sx_pow_scalar(x, 3.0f); }
static sx_tensor *f_pow_frac(sx_tensor *x) { return sx_pow_scalar(x, -1.5f); }
static sx_tensor *f_rdiv(sx_tensor *x) { return sx_rdiv_scalar(2.0f, x); }

static void test_unary(void)
{
    struct {
        const char *name;
        unary_fn f;
        int domain; /* 0 any, 1 positive, 2 away from zero */
        bool second;
    } cases[] = {
        {"neg", sx_neg, 0, true},          {"abs", sx_abs, 2, true},         {"exp", sx_exp, 0, true},
        {"log", sx_log, 1, true},          {"sqrt", sx_sqrt, 1, true},       {"rsqrt", sx_rsqrt, 1, true},
        {"square", sx_square, 0, true},    {"relu", sx_relu, 2, true},       {"leaky_relu", f_leaky, 2, true},
        {"sigmoid", sx_sigmoid, 0, true},  {"tanh", sx_tanh, 0, true},       {"softplus", sx_softplus, 0, true},
        {"add_scalar", f_add_s, 0, true},  {"mul_scalar", f_mul_s, 0, true}, {"pow3", f_pow3, 0, true},
        {"pow-1.5", f_pow_frac, 1, true},  {"rdiv_scalar", f_rdiv, 1, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sx_tensor *x = cases[i].domain == 1 ? pos_leaf(1 + (unsigned)i, 2, SHAPE(3, 5))
                                            : leaf(1 + (unsigned)i, 2, SHAPE(3, 5), cases[i].domain == 2);
        GRADCHECK(cases[i].name, call_unary, (void *)cases[i].f, 1, &x);
        if (cases[i].second) GRADGRADCHECK(cases[i].name, call_unary, (void *)cases[i].f, 1, &x);
        sx_tensor_free(x);
    }
}

static void test_binary_broadcast(void)
{
    struct {
        const char *name;
        binary_fn f;
    } ops[] = {{"add", sx_add}, {"sub", sx_sub}, {"mul", sx_mul}, {"div", sx_div}};
    /* shape pairs that exercise broadcasting in each position */
    const int64_t sa[][3] = {{2, 3, 4}, {2, 3, 4}, {2, 1, 4}, {1, 3, 1}};
    const int64_t sb[][3] = {{2, 3, 4}, {1, 3, 1}, {2, 3, 1}, {2, 1, 4}};
    for (int k = 0; k < 4; k++)
        for (int c = 0; c < 4; c++) {
            sx_tensor *x[2] = {leaf(10 + (unsigned)c, 3, sa[c], false), pos_leaf(20 + (unsigned)c, 3, sb[c])};
            char what[64];
            snprintf(what, sizeof what, "%s case %d", ops[k].name, c);
            GRADCHECK(what, call_binary, (void *)ops[k].f, 2, x);
            GRADGRADCHECK(what, call_binary, (void *)ops[k].f, 2, x);
            sx_tensor_free(x[0]);
            sx_tensor_free(x[1]);
        }
    /* a lower-rank operand and a 0-d scalar tensor */
    sx_tensor *x[2] = {leaf(31, 3, SHAPE(2, 3, 4), false), leaf(32, 1, SHAPE(4), false)};
    GRADCHECK("mul rank-1", call_binary, (void *)sx_mul, 2, x);
    GRADGRADCHECK("mul rank-1", call_binary, (void *)sx_mul, 2, x);
    sx_tensor_free(x[1]);
    x[1] = sx_tensor_scalar(1.7f);
    sx_tensor_set_requires_grad(x[1], true);
    GRADCHECK("add 0-d", call_binary, (void *)sx_add, 2, x);
    sx_tensor_free(x[0]);
    sx_tensor_free(x[1]);
}

static void test_binary_values(void)
{
    sx_tensor *a = sx_tensor_from_data(2, SHAPE(2, 3), (float[]){1, 2, 3, 4, 5, 6});
    sx_tensor *b = sx_tensor_from_data(1, SHAPE(3), (float[]){10, 20, 30});
    sx_tensor *c = sx_add(a, b), *d = sx_div(b, a);
    float want_c[] = {11, 22, 33, 14, 25, 36}, want_d[] = {10, 10, 10, 2.5f, 4, 5}, got[6];
    sx_tensor_copy_to(c, got);
    for (int i = 0; i < 6; i++) CHECK_NEAR(got[i], want_c[i], 1e-6);
    sx_tensor_copy_to(d, got);
    for (int i = 0; i < 6; i++) CHECK_NEAR(got[i], want_d[i], 1e-6);
    sx_tensor *bad = sx_tensor_zeros(1, SHAPE(4));
    CHECK(sx_add(a, bad) == NULL);
    CHECK(strstr(sx_last_error(), "broadcast") != NULL);
    sx_tensor_free(a);
    sx_tensor_free(b);
    sx_tensor_free(c);
    sx_tensor_free(d);
    sx_tensor_free(bad);
}

/* ---------------------------------------------------------------- reductions */

struct red_ctx {
    int n;
    int dims[3];
    bool keep;
    int kind; /* 0 sum, 1 mean, 2 max */
};

static sx_tensor *call_reduce(sx_tensor *const *x, void *vctx)
{
    struct red_ctx *c = vctx;
    if (c->kind == 0) return sx_sum(x[0], c->n, c->dims, c->keep);
    if (c->kind == 1) return sx_mean(x[0], c->n, c->dims, c->keep);
    return sx_max(x[0], c->dims[0], c->keep);
}

static void test_reductions(void)
{
    struct red_ctx cases[] = {
        {0, {0}, false, 0},      {1, {1}, false, 0}, {2, {0, 2}, true, 0}, {1, {-1}, true, 0},
        {2, {0, 2}, false, 1},   {0, {0}, false, 1}, {1, {1}, false, 2},   {1, {-1}, true, 2},
        {1, {0}, false, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sx_tensor *x = leaf(40 + (unsigned)i, 3, SHAPE(3, 4, 5), false);
        char what[64];
        snprintf(what, sizeof what, "reduce case %zu", i);
        GRADCHECK(what, call_reduce, &cases[i], 1, &x);
        GRADGRADCHECK(what, call_reduce, &cases[i], 1, &x);
        sx_tensor_free(x);
    }
    /* values: sum over dims 0 and 2 of arange */
    sx_tensor *a = sx_tensor_arange(24), *r = sx_reshape(a, 3, SHAPE(2, 3, 4));
    sx_tensor *s = sx_sum(r, 2, (int[]){0, 2}, false);
    CHECK(s->ndim == 1 && s->shape[0] == 3);
    /* sum_{n,w} (12n + 4c + w) = 4*12 + 8*4c*... computed directly */
    for (int64_t c = 0; c < 3; c++) {
        double want = 0;
        for (int n = 0; n < 2; n++)
            for (int w = 0; w < 4; w++) want += 12 * n + 4 * c + w;
        CHECK_NEAR(sx_tensor_get(s, &c), want, 1e-4);
    }
    sx_tensor *m = sx_max(r, 1, false), *am = sx_argmax(r, -1);
    CHECK(m->ndim == 2 && m->shape[0] == 2 && m->shape[1] == 4);
    CHECK_NEAR(sx_tensor_get(m, (int64_t[]){1, 2}), 12 + 8 + 2, 0);
    CHECK_NEAR(sx_tensor_get(am, (int64_t[]){1, 1}), 3, 0);
    CHECK(sx_sum(r, 1, (int[]){3}, false) == NULL);
    sx_tensor_free(a);
    sx_tensor_free(r);
    sx_tensor_free(s);
    sx_tensor_free(m);
    sx_tensor_free(am);
}

/* ---------------------------------------------------------------- shape ops */

static sx_tensor *f_shape(sx_tensor *const *x, void *vctx)
{
    int which = (int)(intptr_t)vctx;
    sx_tensor *t = x[0], *o = NULL, *u = NULL;
    switch (which) {
    case 0: return sx_reshape(t, 2, SHAPE(4, -1));
    case 1: return sx_permute(t, (int[]){2, 0, 1});
    case 2: return sx_transpose(t, 0, 2);
    case 3:
        u = sx_narrow(t, 1, 1, 2);
        o = sx_reshape(u, 1, SHAPE(-1)); /* reshape of a non-contiguous view copies */
        break;
    case 4:
        u = sx_narrow(t, 1, 0, 1);
        o = sx_expand(u, 4, SHAPE(3, 2, 5, 4));
        break;
    case 5: return sx_narrow_scatter(t, 3, SHAPE(2, 7, 4), 1, 2);
    case 6: return sx_index_select(t, 2, 5, (int64_t[]){3, 0, 3, 1, 2});
    case 7: return sx_index_add(t, 1, 5, 3, (int64_t[]){4, 0, 4});
    case 8:
        u = sx_permute(t, (int[]){1, 0, 2});
        o = sx_contiguous(u);
        break;
    case 9: {
        sx_tensor *parts[3] = {t, x[1], t};
        return sx_cat(3, parts, 1);
    }
    case 10: {
        sx_tensor *parts[2] = {t, t};
        return sx_stack(2, parts, -1);
    }
    }
    sx_tensor_free(u);
    return o;
}

static void test_shape_ops(void)
{
    for (int which = 0; which <= 10; which++) {
        sx_tensor *x[2] = {leaf(60, 3, SHAPE(2, 3, 4), false), leaf(61, 3, SHAPE(2, 2, 4), false)};
        char what[32];
        snprintf(what, sizeof what, "shape op %d", which);
        int n = which == 9 ? 2 : 1;
        GRADCHECK(what, f_shape, (void *)(intptr_t)which, n, x);
        GRADGRADCHECK(what, f_shape, (void *)(intptr_t)which, n, x);
        sx_tensor_free(x[0]);
        sx_tensor_free(x[1]);
    }
    sx_tensor *x = leaf(62, 3, SHAPE(2, 1, 4), false);
    sx_tensor *e = sx_expand(x, 4, SHAPE(3, 2, 5, 4));
    CHECK_NOTNULL(e);
    CHECK(e && e->stride[0] == 0 && e->stride[2] == 0);
    sx_tensor *s = sx_sum(e, 0, NULL, false), *g = NULL;
    CHECK_OK(sx_grad(1, &s, NULL, 1, &x, false, false, &g));
    CHECK(g && g->shape[1] == 1);
    if (g) CHECK_NEAR(sx_tensor_get(g, (int64_t[]){1, 0, 3}), 15.0, 1e-5);
    sx_tensor_free(g);
    sx_tensor_free(s);
    sx_tensor_free(e);
    sx_tensor_free(x);

    /* views share storage; out-of-range arguments are refused */
    sx_tensor *a = sx_tensor_arange(6), *v = sx_reshape(a, 2, SHAPE(2, 3));
    CHECK(v->storage == a->storage);
    sx_tensor *t = sx_transpose(v, 0, 1);
    CHECK(!sx_tensor_is_contiguous(t));
    CHECK_NEAR(sx_tensor_get(t, (int64_t[]){2, 1}), 5, 0);
    CHECK(sx_narrow(v, 1, 2, 2) == NULL);
    CHECK(sx_reshape(v, 2, SHAPE(4, -1)) == NULL);
    CHECK(sx_permute(v, (int[]){0, 0}) == NULL);
    CHECK(sx_index_select(v, 0, 1, (int64_t[]){2}) == NULL);
    sx_tensor_free(a);
    sx_tensor_free(v);
    sx_tensor_free(t);
}

/* ---------------------------------------------------------------- matmul, linear */

static sx_tensor *f_linear(sx_tensor *const *x, void *ctx) { return sx_linear(x[0], x[1], ctx ? x[2] : NULL); }
static sx_tensor *f_matmul_t(sx_tensor *const *x, void *ctx)
{
    /* a^T b with a transposed view: exercises the no-copy transpose path */
    sx_tensor *at = sx_transpose(x[0], -1, -2);
    sx_tensor *o = sx_matmul(at, x[1]);
    sx_tensor_free(at);
    return o;
}

static void test_matmul(void)
{
    sx_tensor *a = leaf(70, 2, SHAPE(3, 4), false), *b = leaf(71, 2, SHAPE(4, 5), false);
    sx_tensor *ab[2] = {a, b};
    GRADCHECK("matmul 2d", call_binary, (void *)sx_matmul, 2, ab);
    GRADGRADCHECK("matmul 2d", call_binary, (void *)sx_matmul, 2, ab);
    sx_tensor *c = leaf(72, 3, SHAPE(2, 3, 4), false), *d = leaf(73, 3, SHAPE(2, 4, 5), false);
    sx_tensor *cd[2] = {c, d}, *cb[2] = {c, b};
    GRADCHECK("matmul batched", call_binary, (void *)sx_matmul, 2, cd);
    GRADGRADCHECK("matmul batched", call_binary, (void *)sx_matmul, 2, cd);
    GRADCHECK("matmul 3d x 2d", call_binary, (void *)sx_matmul, 2, cb);
    sx_tensor *e = leaf(74, 2, SHAPE(4, 3), false), *eb[2] = {e, b};
    GRADCHECK("matmul transposed", f_matmul_t, NULL, 2, eb);

    /* values of a small product */
    sx_tensor *p = sx_tensor_from_data(2, SHAPE(2, 2), (float[]){1, 2, 3, 4});
    sx_tensor *q = sx_tensor_from_data(2, SHAPE(2, 2), (float[]){5, 6, 7, 8});
    sx_tensor *pq = sx_matmul(p, q);
    float got[4], want[4] = {19, 22, 43, 50};
    sx_tensor_copy_to(pq, got);
    for (int i = 0; i < 4; i++) CHECK_NEAR(got[i], want[i], 1e-5);
    CHECK(sx_matmul(p, b) == NULL);

    sx_tensor *x = leaf(75, 3, SHAPE(2, 3, 4), false), *w = leaf(76, 2, SHAPE(6, 4), false);
    sx_tensor *bias = leaf(77, 1, SHAPE(6), false);
    sx_tensor *xwb[3] = {x, w, bias};
    GRADCHECK("linear", f_linear, (void *)1, 3, xwb);
    GRADGRADCHECK("linear", f_linear, (void *)1, 3, xwb);
    GRADCHECK("linear no bias", f_linear, NULL, 2, xwb);
    CHECK(sx_linear(x, b, NULL) == NULL);
    CHECK(strstr(sx_last_error(), "linear") != NULL);

    sx_tensor *all[] = {a, b, c, d, e, p, q, pq, x, w, bias};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) sx_tensor_free(all[i]);
}

/* ---------------------------------------------------------------- softmax and losses */

static sx_tensor *f_softmax(sx_tensor *const *x, void *ctx) { return sx_softmax(x[0], (int)(intptr_t)ctx); }
static sx_tensor *f_log_softmax(sx_tensor *const *x, void *ctx) { return sx_log_softmax(x[0], (int)(intptr_t)ctx); }
static sx_tensor *f_ce(sx_tensor *const *x, void *ctx) { return sx_cross_entropy(x[0], (sx_tensor *)ctx); }
static sx_tensor *f_kl(sx_tensor *const *x, void *ctx)
{
    sx_tensor *lp = sx_log_softmax(x[0], 1), *lq = sx_log_softmax(x[1], 1);
    sx_tensor *o = sx_kl_div(lp, lq);
    sx_tensor_free(lp);
    sx_tensor_free(lq);
    return o;
}

static void test_losses(void)
{
    sx_tensor *x = leaf(80, 2, SHAPE(4, 5), false), *y = leaf(81, 2, SHAPE(4, 5), false);
    sx_tensor *xy[2] = {x, y};
    GRADCHECK("softmax", f_softmax, (void *)1, 1, &x);
    GRADGRADCHECK("softmax", f_softmax, (void *)1, 1, &x);
    GRADCHECK("softmax dim 0", f_softmax, (void *)0, 1, &x);
    GRADCHECK("log_softmax", f_log_softmax, (void *)-1, 1, &x);
    GRADGRADCHECK("log_softmax", f_log_softmax, (void *)-1, 1, &x);
    sx_tensor *labels = sx_tensor_from_data(1, SHAPE(4), (float[]){0, 4, 2, 2});
    GRADCHECK("cross_entropy", f_ce, labels, 1, &x);
    GRADGRADCHECK("cross_entropy", f_ce, labels, 1, &x);
    GRADCHECK("kl_div", f_kl, NULL, 2, xy);
    GRADGRADCHECK("kl_div", f_kl, NULL, 2, xy);
    /* l1 has a kink at a = b: keep the pair at least 0.3 apart */
    sx_tensor *gap = leaf(82, 2, SHAPE(4, 5), true);
    sx_tensor *shifted = sx_add(x, gap), *x_l1[2] = {x, sx_detach(shifted)};
    sx_tensor_set_requires_grad(x_l1[1], true);
    GRADCHECK("l1_loss", call_binary, (void *)sx_l1_loss, 2, x_l1);
    sx_tensor_free(gap);
    sx_tensor_free(shifted);
    sx_tensor_free(x_l1[1]);
    GRADCHECK("mse_loss", call_binary, (void *)sx_mse_loss, 2, xy);
    GRADGRADCHECK("mse_loss", call_binary, (void *)sx_mse_loss, 2, xy);

    /* values: softmax rows sum to 1 and survive huge logits; CE of uniform logits is log C */
    sx_tensor *big = sx_tensor_from_data(2, SHAPE(1, 3), (float[]){1000, 1000, -1000});
    sx_tensor *sm = sx_softmax(big, 1);
    CHECK_NEAR(sx_tensor_get(sm, (int64_t[]){0, 0}), 0.5, 1e-6);
    CHECK_NEAR(sx_tensor_get(sm, (int64_t[]){0, 2}), 0.0, 1e-6);
    sx_tensor *z = sx_tensor_zeros(2, SHAPE(4, 5));
    sx_tensor *ce = sx_cross_entropy(z, labels);
    float v;
    CHECK_OK(sx_tensor_item(ce, &v));
    CHECK_NEAR(v, log(5.0), 1e-5);
    sx_tensor *badl = sx_tensor_from_data(1, SHAPE(4), (float[]){0, 5, 2, 2});
    CHECK(sx_cross_entropy(z, badl) == NULL);
    CHECK(strstr(sx_last_error(), "label 5") != NULL);

    sx_tensor *all[] = {x, y, labels, big, sm, z, ce, badl};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) sx_tensor_free(all[i]);
}

/* ---------------------------------------------------------------- pooling, dropout */

static sx_tensor *f_maxpool(sx_tensor *const *x, void *ctx) { return sx_max_pool2d(x[0], 2); }
static sx_tensor *f_avgpool(sx_tensor *const *x, void *ctx) { return sx_avg_pool2d(x[0], 2); }

static void test_pooling(void)
{
    sx_tensor *x = leaf(90, 4, SHAPE(2, 3, 4, 6), false);
    GRADCHECK("max_pool2d", f_maxpool, NULL, 1, &x);
    GRADCHECK("avg_pool2d", f_avgpool, NULL, 1, &x);
    GRADGRADCHECK("avg_pool2d", f_avgpool, NULL, 1, &x);
    sx_tensor *a = sx_tensor_arange(16), *img = sx_reshape(a, 4, SHAPE(1, 1, 4, 4));
    sx_tensor *mp = sx_max_pool2d(img, 2), *ap = sx_avg_pool2d(img, 2);
    float got[4], want_max[4] = {5, 7, 13, 15}, want_avg[4] = {2.5f, 4.5f, 10.5f, 12.5f};
    sx_tensor_copy_to(mp, got);
    for (int i = 0; i < 4; i++) CHECK_NEAR(got[i], want_max[i], 0);
    sx_tensor_copy_to(ap, got);
    for (int i = 0; i < 4; i++) CHECK_NEAR(got[i], want_avg[i], 1e-6);
    CHECK(sx_max_pool2d(img, 3) == NULL);

    /* without a graph max_pool2d takes a direct kernel: the same values as
     * the differentiable path, for k 2 and 3 and a non-contiguous input */
    for (int k = 2; k <= 3; k++) {
        sx_tensor *base = leaf(91 + k, 4, SHAPE(3, 6, 5, 12), true);
        sx_tensor *tr = sx_transpose(base, 1, 2); /* [3, 5, 6, 12], non-contiguous */
        sx_tensor *slow = sx_max_pool2d(tr, k);   /* base requires grad: recorded */
        sx_tensor *det = sx_detach(tr), *fast = sx_max_pool2d(det, k);
        CHECK(slow && fast && slow->grad_fn != NULL && fast->grad_fn == NULL);
        if (slow && fast) {
            CHECK(sx_tensor_same_shape(slow, fast));
            int64_t n = sx_tensor_numel(slow);
            float *va = malloc((size_t)n * sizeof *va), *vb = malloc((size_t)n * sizeof *vb);
            sx_tensor_copy_to(slow, va);
            sx_tensor_copy_to(fast, vb);
            int same = 1;
            for (int64_t i = 0; i < n; i++) same = same && va[i] == vb[i];
            CHECK(same);
            free(va);
            free(vb);
        }
        sx_tensor_free(base);
        sx_tensor_free(tr);
        sx_tensor_free(slow);
        sx_tensor_free(det);
        sx_tensor_free(fast);
    }

    /* dropout keeps the mean and zeroes about p of the elements */
    sx_tensor *ones = sx_tensor_ones(1, SHAPE(100000));
    sx_manual_seed(5);
    sx_tensor *d = sx_dropout(ones, 0.25f), *m = sx_mean(d, 0, NULL, false);
    float mean;
    sx_tensor_item(m, &mean);
    CHECK_NEAR(mean, 1.0, 0.02);
    int64_t zeros = 0;
    for (int64_t i = 0; i < 100000; i++) zeros += sx_tensor_data(d)[i] == 0.0f;
    CHECK_NEAR(zeros / 1e5, 0.25, 0.01);
    CHECK(sx_dropout(ones, 1.0f) == NULL);
    sx_tensor *all[] = {x, a, img, mp, ap, ones, d, m};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) sx_tensor_free(all[i]);
}

/* ---------------------------------------------------------------- engine */

static void test_engine(void)
{
    /* gradients accumulate across backward calls; a diamond graph sums paths */
    sx_tensor *x = sx_tensor_from_data(1, SHAPE(3), (float[]){1, 2, 3});
    sx_tensor_set_requires_grad(x, true);
    sx_tensor *a = sx_mul(x, x), *b = sx_mul_scalar(x, 3.0f), *c = sx_add(a, b);
    sx_tensor *s = sx_sum(c, 0, NULL, false);
    CHECK_OK(sx_backward(s, NULL, false));
    CHECK_OK(sx_backward(s, NULL, false));
    float g[3];
    sx_tensor_copy_to(x->grad, g);
    for (int i = 0; i < 3; i++) CHECK_NEAR(g[i], 2 * (2 * (i + 1) + 3), 1e-5);
    CHECK(x->grad->grad_fn == NULL);
    sx_tensor_zero_grad(x);
    CHECK(x->grad == NULL);

    /* second derivative of sum(x^3): d/dx (3x^2 . v) = 6 x v */
    sx_tensor *x3 = sx_pow_scalar(x, 3.0f), *s3 = sx_sum(x3, 0, NULL, false), *g1 = NULL, *g2 = NULL;
    CHECK_OK(sx_grad(1, &s3, NULL, 1, &x, true, false, &g1));
    CHECK(g1 && g1->requires_grad);
    sx_tensor *gs = sx_sum(g1, 0, NULL, false);
    CHECK_OK(sx_grad(1, &gs, NULL, 1, &x, false, false, &g2));
    sx_tensor_copy_to(g2, g);
    for (int i = 0; i < 3; i++) CHECK_NEAR(g[i], 6 * (i + 1), 1e-4);

    /* no grad mode records nothing; grad of a non-requiring output fails */
    bool prev = sx_set_grad_enabled(false);
    sx_tensor *n = sx_mul(x, x);
    sx_set_grad_enabled(prev);
    CHECK(n->grad_fn == NULL && !n->requires_grad);
    sx_tensor *r = NULL;
    CHECK(sx_grad(1, &n, NULL, 1, &x, false, false, &r) != SX_OK);
    /* unused input: error unless allowed */
    sx_tensor *y = sx_tensor_ones(1, SHAPE(3));
    sx_tensor_set_requires_grad(y, true);
    sx_tensor *ins[2] = {x, y}, *res[2];
    CHECK(sx_grad(1, &s, NULL, 2, ins, false, false, res) != SX_OK);
    CHECK_OK(sx_grad(1, &s, NULL, 2, ins, false, true, res));
    /* allowed: zeros of the unused input's shape, with no graph */
    CHECK(res[0] != NULL && res[1] != NULL);
    CHECK(res[1] && res[1]->ndim == 1 && res[1]->shape[0] == 3 && !res[1]->requires_grad &&
          sx_tensor_get(res[1], (int64_t[]){0}) == 0.0f && sx_tensor_get(res[1], (int64_t[]){2}) == 0.0f);
    sx_tensor_free(res[0]);
    sx_tensor_free(res[1]);
    /* a non-leaf input: d s / d c = ones */
    sx_tensor *rc = NULL;
    CHECK_OK(sx_grad(1, &s, NULL, 1, &c, false, false, &rc));
    CHECK(rc && sx_tensor_get(rc, (int64_t[]){2}) == 1.0f);
    sx_tensor_free(rc);

    /* freeing the output frees the graph: live memory returns to its start */
    size_t before = sx_mem_live();
    sx_tensor *t = sx_tensor_randn(2, SHAPE(64, 64));
    sx_tensor_set_requires_grad(t, true);
    sx_tensor *h = t;
    sx_tensor_retain(h);
    for (int i = 0; i < 2000; i++) {
        sx_tensor *h2 = sx_tanh(h);
        sx_tensor_free(h);
        h = h2;
    }
    sx_tensor *hs = sx_sum(h, 0, NULL, false);
    CHECK_OK(sx_backward(hs, NULL, false));
    sx_tensor_free(h);
    sx_tensor_free(hs);
    sx_tensor_free(t);
    CHECK(sx_mem_live() == before);

    sx_tensor *all[] = {x, a, b, c, s, x3, s3, g1, g2, gs, n, y};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) sx_tensor_free(all[i]);
}

/* ---------------------------------------------------------------- the checker itself */

/* A check with no input requiring grad compares nothing: it must fail, not
 * pass (the refusal's message on stderr is expected). */
static void test_gradcheck_refuses(void)
{
    sx_tensor *x = RANDN(100, 3, 4), *y = RANDN(101, 3, 4), *xy[2] = {x, y};
    CHECK(!(gradcheck_ex("refused exp", call_unary, (void *)sx_exp, 1, &x, 1e-2, 2e-3, 2e-2, 40) <= 1.0));
    CHECK(!(gradgradcheck_ex("refused exp", call_unary, (void *)sx_exp, 1, &x, 1e-2, 5e-3, 3e-2, 24) <= 1.0));
    CHECK(!(gradcheck_ex("refused mul", call_binary, (void *)sx_mul, 2, xy, 1e-2, 2e-3, 2e-2, 40) <= 1.0));
    /* one input requiring grad is enough */
    sx_tensor_set_requires_grad(y, true);
    CHECK(gradcheck_ex("mul, y only", call_binary, (void *)sx_mul, 2, xy, 1e-2, 2e-3, 2e-2, 40) <= 1.0);
    sx_tensor_free(x);
    sx_tensor_free(y);
}

static void test_rng(void)
{
    sx_manual_seed(42);
    double u1 = sx_rng_uniform(), n1 = sx_rng_normal();
    uint64_t st[4];
    sx_rng_get_state(st);
    double n2 = sx_rng_normal();
    sx_manual_seed(42);
    CHECK(sx_rng_uniform() == u1 && sx_rng_normal() == n1);
    sx_rng_set_state(st);
    CHECK(sx_rng_normal() == n2);
    /* moments of many normals */
    sx_manual_seed(1);
    double m = 0, v = 0;
    for (int i = 0; i < 100000; i++) {
        double z = sx_rng_normal();
        m += z;
        v += z * z;
    }
    CHECK_NEAR(m / 1e5, 0.0, 0.02);
    CHECK_NEAR(v / 1e5, 1.0, 0.02);
}

int main(void)
{
    RUN(test_unary);
    RUN(test_binary_broadcast);
    RUN(test_binary_values);
    RUN(test_reductions);
    RUN(test_shape_ops);
    RUN(test_matmul);
    RUN(test_losses);
    RUN(test_pooling);
    RUN(test_engine);
    RUN(test_gradcheck_refuses);
    RUN(test_rng);
    return check_summary("test_gradcheck");
}
