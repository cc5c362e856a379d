/*
 * tests/c/test_ops_more.c — the ops a PyTorch or Torch7 user expects besides
 * the StylEx kernels: sin/cos, clamp, where, comparisons, min/argmin,
 * var/std, view/unsqueeze/squeeze/flatten, and sx_grad's allow_unused zeros.
 * Values against hand-computed results, gradients against finite
 * differences (gradcheck and gradgradcheck for every differentiable one).
 */
#include "check.h"

static sx_tensor *leaf(sx_tensor *t)
{
    sx_tensor_set_requires_grad(t, true);
    return t;
}

static sx_tensor *from(int ndim, const int64_t *shape, const float *v) { return sx_tensor_from_data(ndim, shape, v); }

static bool values_are(const sx_tensor *t, int n, const float *want)
{
    if (!t || sx_tensor_numel(t) != n) return false;
    float got[64];
    sx_tensor_copy_to(t, got);
    for (int i = 0; i < n; i++)
        if (!(got[i] == want[i] || fabsf(got[i] - want[i]) <= 1e-6f * (1 + fabsf(want[i])))) return false;
    return true;
}

/* ---------------------------------------------------------------- sin, cos, clamp */

static sx_tensor *f_sin(sx_tensor *const *x, void *c) { return sx_sin(x[0]); }
static sx_tensor *f_cos(sx_tensor *const *x, void *c) { return sx_cos(x[0]); }
/* one-sided bounds through infinities (inputs at least 0.1 from 0.4) */
static sx_tensor *f_clamp_lo(sx_tensor *const *x, void *c) { return sx_clamp(x[0], 0.4f, INFINITY); }
static sx_tensor *f_clamp_hi(sx_tensor *const *x, void *c) { return sx_clamp(x[0], -INFINITY, 0.4f); }

static void test_sin_cos_clamp(void)
{
    sx_tensor *x = from(1, SHAPE(4), (const float[]){0.0f, 1.0f, -2.0f, 3.0f});
    sx_tensor *s = sx_sin(x), *c = sx_cos(x);
    CHECK(values_are(s, 4, (const float[]){0.0f, sinf(1.0f), sinf(-2.0f), sinf(3.0f)}));
    CHECK(values_are(c, 4, (const float[]){1.0f, cosf(1.0f), cosf(-2.0f), cosf(3.0f)}));
    sx_tensor *k = sx_clamp(x, -1.0f, 2.0f);
    CHECK(values_are(k, 4, (const float[]){0.0f, 1.0f, -1.0f, 2.0f}));
    sx_tensor *nan = from(1, SHAPE(1), (const float[]){NAN}), *kn = sx_clamp(nan, 0, 1);
    CHECK(kn && isnan(sx_tensor_data(kn)[0]));
    CHECK(sx_clamp(x, 2.0f, 1.0f) == NULL && has(sx_last_error(), "clamp: bounds [2, 1]"));
    CHECK(sx_clamp(x, NAN, 1.0f) == NULL);

    /* the bounds themselves pass the gradient (PyTorch's rule) */
    sx_tensor *xb = leaf(from(1, SHAPE(4), (const float[]){-1.0f, 0.5f, 2.0f, 3.0f}));
    sx_tensor *y = sx_clamp(xb, -1.0f, 2.0f), *ys = y ? sx_sum(y, 0, NULL, false) : NULL, *g = NULL;
    CHECK_OK(sx_grad(1, &ys, NULL, 1, &xb, false, false, &g));
    CHECK(values_are(g, 4, (const float[]){1, 1, 1, 0}));

    sx_tensor *r = leaf(RANDN(3, 3, 4));
    GRADCHECK("sin", f_sin, NULL, 1, &r);
    GRADGRADCHECK("sin", f_sin, NULL, 1, &r);
    GRADCHECK("cos", f_cos, NULL, 1, &r);
    GRADGRADCHECK("cos", f_cos, NULL, 1, &r);
    sx_tensor *q = leaf(from(2, SHAPE(2, 3), (const float[]){0.3f, -1.1f, 0.8f, 2.0f, 0.55f, 0.1f}));
    GRADCHECK("clamp lo", f_clamp_lo, NULL, 1, &q);
    GRADCHECK("clamp hi", f_clamp_hi, NULL, 1, &q);
    GRADGRADCHECK("clamp lo", f_clamp_lo, NULL, 1, &q);
    sx_tensor *list[] = {x, s, c, k, nan, kn, xb, y, ys, g, r, q};
    for (size_t i = 0; i < sizeof list / sizeof *list; i++) sx_tensor_free(list[i]);
}

/* ---------------------------------------------------------------- comparisons, where */

static sx_tensor *f_where_bcast(sx_tensor *const *x, void *mask) { return sx_where(mask, x[0], x[1]); }

static void test_compare_where(void)
{
    sx_tensor *a = from(2, SHAPE(2, 3), (const float[]){1, 2, 3, 4, 5, 6});
    sx_tensor *b = from(1, SHAPE(3), (const float[]){2, 2, 7});
    struct { sx_compare_op op; float want[6]; } cases[] = {
        {SX_CMP_LT, {1, 0, 1, 0, 0, 1}}, {SX_CMP_LE, {1, 1, 1, 0, 0, 1}}, {SX_CMP_GT, {0, 0, 0, 1, 1, 0}},
        {SX_CMP_GE, {0, 1, 0, 1, 1, 0}}, {SX_CMP_EQ, {0, 1, 0, 0, 0, 0}}, {SX_CMP_NE, {1, 0, 1, 1, 1, 1}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        sx_tensor *m = sx_compare(a, cases[i].op, b);
        CHECK_MSG(m && m->ndim == 2 && values_are(m, 6, cases[i].want), "comparison %d", (int)cases[i].op);
        sx_tensor_free(m);
    }
    sx_tensor *m = sx_compare_scalar(a, SX_CMP_GE, 4);
    CHECK(values_are(m, 6, (const float[]){0, 0, 0, 1, 1, 1}));
    sx_tensor *bad = from(1, SHAPE(2), (const float[]){1, 2});
    CHECK(sx_compare(a, SX_CMP_LT, bad) == NULL && has(sx_last_error(), "lt: shapes [2, 3] and [2] do not broadcast"));
    /* a comparison of tensors requiring grad is a constant */
    sx_tensor *ag = leaf(sx_tensor_copy(a)), *mg = sx_compare_scalar(ag, SX_CMP_LT, 3);
    CHECK(mg && !mg->requires_grad && !mg->grad_fn);

    /* where picks, and does not mix: inf and NaN in the branch not taken stay out */
    sx_tensor *inf = from(1, SHAPE(3), (const float[]){INFINITY, NAN, -INFINITY});
    sx_tensor *w = sx_where(m, a, inf);
    CHECK(w && sx_tensor_data(w)[0] == INFINITY && isnan(sx_tensor_data(w)[1]) && sx_tensor_data(w)[2] == -INFINITY &&
          sx_tensor_data(w)[3] == 4 && sx_tensor_data(w)[5] == 6);
    sx_tensor *zero = sx_tensor_scalar(0.0f), *w0 = sx_where(m, zero, a);
    CHECK(values_are(w0, 6, (const float[]){1, 2, 3, 0, 0, 0}));

    /* gradients: each side where it was chosen, summed over its broadcasting */
    sx_tensor *mask = from(2, SHAPE(2, 3), (const float[]){1, 0, 1, 0, 0, 1});
    sx_tensor *xs[2] = {leaf(RANDN(5, 2, 1)), leaf(RANDN(6, 3))};
    GRADCHECK("where", f_where_bcast, mask, 2, xs);
    GRADGRADCHECK("where", f_where_bcast, mask, 2, xs);
    sx_tensor *out = sx_where(mask, xs[0], xs[1]), *s = out ? sx_sum(out, 0, NULL, false) : NULL, *g[2];
    CHECK_OK(sx_grad(1, &s, NULL, 2, xs, false, false, g));
    CHECK(values_are(g[0], 2, (const float[]){2, 1}));      /* row 1 chosen twice, row 2 once */
    CHECK(values_are(g[1], 3, (const float[]){1, 2, 0}));   /* columns not chosen */
    sx_tensor *list[] = {a, b, m, bad, ag, mg, inf, w, zero, w0, mask, xs[0], xs[1], out, s, g[0], g[1]};
    for (size_t i = 0; i < sizeof list / sizeof *list; i++) sx_tensor_free(list[i]);
}

/* ---------------------------------------------------------------- min, var, std */

static sx_tensor *f_min(sx_tensor *const *x, void *c) { return sx_min(x[0], 1, false); }
static sx_tensor *f_std(sx_tensor *const *x, void *c) { return sx_std(x[0], 1, (const int[]){1}, false, true); }
static sx_tensor *f_var_all(sx_tensor *const *x, void *c) { return sx_var(x[0], 0, NULL, false, false); }
static sx_tensor *f_std_keep(sx_tensor *const *x, void *c) { return sx_std(x[0], 2, (const int[]){0, 2}, true, true); }

static void test_min_var_std(void)
{
    sx_tensor *x = from(2, SHAPE(2, 3), (const float[]){3, 1, 2, -1, 5, -1});
    sx_tensor *mn = sx_min(x, 1, false), *am = sx_argmin(x, 1), *am0 = sx_argmin(x, 0);
    CHECK(values_are(mn, 2, (const float[]){1, -1}));
    CHECK(values_are(am, 2, (const float[]){1, 0}));       /* the first minimum */
    CHECK(values_are(am0, 3, (const float[]){1, 0, 1}));
    sx_tensor *v = sx_var(x, 1, (const int[]){1}, false, true), *sd = sx_std(x, 1, (const int[]){1}, false, false);
    /* rows: mean 2, squares 1+1+0 -> 2/2 = 1; mean 1, squares 4+16+4 -> 24/2 = 12 (biased: 24/3 = 8) */
    CHECK(values_are(v, 2, (const float[]){1, 12}));
    CHECK(values_are(sd, 2, (const float[]){sqrtf(2.0f / 3.0f), sqrtf(8.0f)}));
    sx_tensor *one = from(1, SHAPE(1), (const float[]){4}), *v1 = sx_var(one, 0, NULL, false, true);
    CHECK(v1 && isnan(sx_tensor_data(v1)[0])); /* one sample: no unbiased variance, as in PyTorch */

    sx_tensor *r = sx_tensor_from_data(2, SHAPE(3, 4), (const float[]){0.3f, -1.1f, 0.8f, 2.0f, -0.6f, 0.1f, 1.4f,
                                                                        -2.2f, 0.9f, -0.2f, 0.5f, 1.7f});
    leaf(r);
    GRADCHECK("min", f_min, NULL, 1, &r);
    GRADGRADCHECK("min", f_min, NULL, 1, &r);
    GRADCHECK("std", f_std, NULL, 1, &r);
    GRADGRADCHECK("std", f_std, NULL, 1, &r);
    GRADCHECK("var", f_var_all, NULL, 1, &r);
    GRADGRADCHECK("var", f_var_all, NULL, 1, &r);
    sx_tensor *r3 = leaf(RANDN(9, 2, 3, 2));
    GRADCHECK("std keepdim", f_std_keep, NULL, 1, &r3);
    sx_tensor *k = sx_std(r3, 2, (const int[]){0, 2}, true, true);
    CHECK(k && k->ndim == 3 && k->shape[0] == 1 && k->shape[1] == 3 && k->shape[2] == 1);
    sx_tensor *list[] = {x, mn, am, am0, v, sd, one, v1, r, r3, k};
    for (size_t i = 0; i < sizeof list / sizeof *list; i++) sx_tensor_free(list[i]);
}

/* ---------------------------------------------------------------- views */

static sx_tensor *f_select(sx_tensor *const *x, void *c)
{
    sx_tensor *t = sx_transpose(x[0], 0, 1), *o = t ? sx_select(t, 0, 2) : NULL;
    sx_tensor_free(t);
    return o;
}

static void test_views(void)
{
    sx_tensor *x = RANDN(1, 2, 3, 4);
    sx_tensor *v = sx_view(x, 2, SHAPE(6, -1));
    CHECK(v && v->ndim == 2 && v->shape[1] == 4 && v->storage == x->storage);
    sx_tensor *t = sx_transpose(x, 0, 2);
    CHECK(sx_view(t, 1, SHAPE(24)) == NULL && has(sx_last_error(), "view: the tensor [4, 3, 2] is not contiguous"));
    sx_tensor *u = sx_unsqueeze(x, 1), *ue = sx_unsqueeze(x, -1), *u0 = sx_unsqueeze(x, 3);
    CHECK(u && u->ndim == 4 && u->shape[1] == 1 && u->shape[2] == 3 && u->storage == x->storage);
    CHECK(ue && ue->ndim == 4 && ue->shape[3] == 1 && u0 && u0->shape[3] == 1);
    CHECK(sx_unsqueeze(x, 4) == NULL && has(sx_last_error(), "unsqueeze: dimension 4 out of range for a 4-d"));
    sx_tensor *s1 = sx_squeeze(u, 1), *s2 = sx_squeeze(x, 1), *sa = sx_squeeze_all(u);
    CHECK(s1 && s1->ndim == 3 && s1->shape[1] == 3);
    CHECK(s2 && s2->ndim == 3 && s2->shape[1] == 3); /* size 3: left alone, as in PyTorch */
    CHECK(sa && sa->ndim == 3);
    sx_tensor *f = sx_flatten(x, 1, -1), *fa = sx_flatten(x, 0, -1), *fm = sx_flatten(x, 0, 1);
    CHECK(f && f->ndim == 2 && f->shape[0] == 2 && f->shape[1] == 12);
    CHECK(fa && fa->ndim == 1 && fa->shape[0] == 24 && fm && fm->ndim == 2 && fm->shape[0] == 6);
    CHECK(sx_flatten(x, 2, 1) == NULL && has(sx_last_error(), "flatten: start dimension 2 comes after"));
    /* select: a view even of the transposed t, element [i][j][k] of t is x[k][j][i] */
    sx_tensor *sel = sx_select(t, 0, 3), *sel2 = sel ? sx_select(sel, -1, 1) : NULL;
    CHECK(sel && sel->ndim == 2 && sel->shape[0] == 3 && sel->shape[1] == 2 && sel->storage == x->storage);
    CHECK(sel2 && sel2->ndim == 1 && sel2->shape[0] == 3 &&
          sx_tensor_get(sel2, (int64_t[]){2}) == sx_tensor_get(x, (int64_t[]){1, 2, 3}));
    CHECK(sx_select(x, 0, 2) == NULL && has(sx_last_error(), "select: index 2 outside dimension 0 of size 2"));
    sx_tensor *xg = leaf(RANDN(4, 3, 4));
    GRADCHECK("select", f_select, NULL, 1, &xg);
    GRADGRADCHECK("select", f_select, NULL, 1, &xg);
    sx_tensor *list[] = {x, v, t, u, ue, u0, s1, s2, sa, f, fa, fm, sel, sel2, xg};
    for (size_t i = 0; i < sizeof list / sizeof *list; i++) sx_tensor_free(list[i]);
}

/* ---------------------------------------------------------------- allow_unused */

/* d/dw of d(relu(x w))/dw: relu's backward multiplies by a constant mask, so
 * the gradient's graph does not reach w. PyTorch gives zeros; so does
 * allow_unused here, and without it the error names the input. */
static void test_allow_unused_zeros(void)
{
    sx_tensor *x = leaf(from(1, SHAPE(2), (const float[]){1, -2})); /* so d z/dw has a graph (through x) */
    sx_tensor *w = leaf(from(1, SHAPE(1), (const float[]){0.5f}));
    sx_tensor *xw = sx_mul(x, w), *r = sx_relu(xw), *z = sx_sum(r, 0, NULL, false), *g = NULL, *gg = NULL;
    CHECK_OK(sx_grad(1, &z, NULL, 1, &w, true, false, &g));
    CHECK(values_are(g, 1, (const float[]){1}));
    CHECK(sx_grad(1, &g, NULL, 1, &w, false, false, &gg) != SX_OK && has(sx_last_error(), "not reached"));
    CHECK(gg == NULL);
    CHECK_OK(sx_grad(1, &g, NULL, 1, &w, true, true, &gg));
    CHECK(gg && gg->ndim == 1 && gg->shape[0] == 1 && sx_tensor_data(gg)[0] == 0.0f && !gg->grad_fn);
    /* relu(x) alone: d z/dx = mask has no graph at all; allowed, its gradient is zeros */
    sx_tensor *r2 = sx_relu(x), *z2 = sx_sum(r2, 0, NULL, false), *g2 = NULL, *gg2 = NULL, *gg3 = NULL;
    CHECK_OK(sx_grad(1, &z2, NULL, 1, &x, true, false, &g2));
    CHECK(g2 && !g2->requires_grad);
    CHECK(sx_grad(1, &g2, NULL, 1, &x, false, false, &gg2) == SX_ESTATE && has(sx_last_error(), "does not require grad"));
    CHECK_OK(sx_grad(1, &g2, NULL, 1, &x, false, true, &gg2));
    CHECK(values_are(gg2, 2, (const float[]){0, 0}));
    /* with a second output that has a graph, only that one counts */
    sx_tensor *outs[2] = {g2 ? sx_sum(g2, 0, NULL, false) : NULL, z};
    CHECK_OK(sx_grad(2, outs, NULL, 1, &x, false, true, &gg3));
    CHECK(values_are(gg3, 2, (const float[]){0.5f, 0})); /* d z/dx = w where x w > 0 */
    sx_tensor *list[] = {x, w, xw, r, z, g, gg, r2, z2, g2, gg2, gg3, outs[0]};
    for (size_t i = 0; i < sizeof list / sizeof *list; i++) sx_tensor_free(list[i]);
}

int main(void)
{
    RUN(test_sin_cos_clamp);
    RUN(test_compare_where);
    RUN(test_min_var_std);
    RUN(test_views);
    RUN(test_allow_unused_zeros);
    return check_summary("test_ops_more");
}
