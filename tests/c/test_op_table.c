/*
 * tests/c/test_op_table.c — walks the op table (lib/ops/op_table.c) from 0 to
 * SX_OP_COUNT: every op kind must have a row (a name and a backward) and a
 * case below, whose output that op makes, passing gradcheck and
 * gradgradcheck. An op added to the enum without a row, or without a case
 * here, fails this test. The thorough checks of each op (shapes,
 * broadcasting, strides, values) live in test_gradcheck.c, test_conv.c and
 * test_upfirdn2d.c; these cases are one small input each.
 */
#include "check.h"

#include "../../lib/core/internal.h" /* the op enum, sx_op_table, sx_node */

/* ---------------------------------------------------------------- the cases */

enum { ANY, POSITIVE, AWAY_FROM_ZERO, DISTINCT };

typedef struct op_case {
    check_fn f;
    int n_inputs;
    int ndim[3];
    int64_t shape[3][4];
    int domain; /* of every input: ANY, POSITIVE (in [0.5, 2.5]), AWAY_FROM_ZERO (|x| >= 0.3)
                 * or DISTINCT (no two within 0.1, so that max has no near tie) */
} op_case;

#define CASE_FN(name, expr) \
    static sx_tensor *name(sx_tensor *const *x, void *ctx) { return expr; }

CASE_FN(f_add, sx_add(x[0], x[1]))
CASE_FN(f_sub, sx_sub(x[0], x[1]))
CASE_FN(f_mul, sx_mul(x[0], x[1]))
CASE_FN(f_div, sx_div(x[0], x[1]))
CASE_FN(f_add_scalar, sx_add_scalar(x[0], 1.5f))
CASE_FN(f_mul_scalar, sx_mul_scalar(x[0], -2.5f))
CASE_FN(f_pow_scalar, sx_pow_scalar(x[0], 3.0f))
CASE_FN(f_neg, sx_neg(x[0]))
CASE_FN(f_abs, sx_abs(x[0]))
CASE_FN(f_exp, sx_exp(x[0]))
CASE_FN(f_log, sx_log(x[0]))
CASE_FN(f_sqrt, sx_sqrt(x[0]))
CASE_FN(f_rsqrt, sx_rsqrt(x[0]))
CASE_FN(f_relu, sx_relu(x[0]))
CASE_FN(f_leaky_relu, sx_leaky_relu(x[0], 0.2f))
CASE_FN(f_sigmoid, sx_sigmoid(x[0]))
CASE_FN(f_tanh, sx_tanh(x[0]))
CASE_FN(f_softplus, sx_softplus(x[0]))
CASE_FN(f_sum, sx_sum(x[0], 1, (int[]){1}, false))
CASE_FN(f_max, sx_max(x[0], 1, false))
CASE_FN(f_reshape, sx_reshape(x[0], 2, SHAPE(4, -1)))
CASE_FN(f_permute, sx_permute(x[0], (int[]){2, 0, 1}))
CASE_FN(f_expand, sx_expand(x[0], 4, SHAPE(3, 2, 5, 4)))
CASE_FN(f_narrow, sx_narrow(x[0], 1, 1, 2))
CASE_FN(f_narrow_scatter, sx_narrow_scatter(x[0], 3, SHAPE(2, 7, 4), 1, 2))
CASE_FN(f_cat, sx_cat(2, x, 1))
CASE_FN(f_index_select, sx_index_select(x[0], 2, 5, (int64_t[]){3, 0, 3, 1, 2}))
CASE_FN(f_index_add, sx_index_add(x[0], 1, 5, 3, (int64_t[]){4, 0, 4}))
CASE_FN(f_matmul, sx_matmul(x[0], x[1]))
CASE_FN(f_conv2d, sx_conv2d(x[0], x[1], NULL, &(sx_conv2d_opts){{1, 1}, {1, 1}, 1, {0, 0}}))
CASE_FN(f_conv_transpose2d, sx_conv_transpose2d(x[0], x[1], NULL, &(sx_conv2d_opts){{2, 2}, {1, 1}, 1, {1, 1}}))
CASE_FN(f_conv2d_weight, sx_conv2d_weight(x[0], x[1], 3, 3, &(sx_conv2d_opts){{1, 1}, {1, 1}, 1, {0, 0}}))

static sx_tensor *f_contiguous(sx_tensor *const *x, void *ctx)
{
    sx_tensor *t = sx_transpose(x[0], 0, 2); /* non-contiguous, so contiguous() copies and records */
    sx_tensor *o = sx_contiguous(t);
    sx_tensor_free(t);
    return o;
}

CASE_FN(f_sin, sx_sin(x[0]))
CASE_FN(f_cos, sx_cos(x[0]))
CASE_FN(f_clamp, sx_clamp(x[0], -0.25f, 0.15f))

/* ctx: the mask, a constant [2, 3] broadcast against a [2, 1] and a [2, 3] */
static sx_tensor *f_where(sx_tensor *const *x, void *ctx) { return sx_where(ctx, x[0], x[1]); }

/* ctx: the [4, 4] filter, a constant */
static sx_tensor *f_upfirdn2d(sx_tensor *const *x, void *ctx)
{
    return sx_upfirdn2d(x[0], ctx, 2, 1, (const int[]){2, 1, 2, 1});
}

#define IN1(d0, ...) 1, {d0}, {{__VA_ARGS__}}
#define IN2(d0, d1, s0, s1) 2, {d0, d1}, {s0, s1}
#define S(...) {__VA_ARGS__}

static const op_case cases[SX_OP_COUNT] = {
    [SX_OP_ADD] = {f_add, IN2(2, 2, S(2, 3), S(2, 3)), ANY},
    [SX_OP_SUB] = {f_sub, IN2(2, 2, S(2, 3), S(2, 3)), ANY},
    [SX_OP_MUL] = {f_mul, IN2(2, 2, S(2, 3), S(2, 3)), ANY},
    [SX_OP_DIV] = {f_div, IN2(2, 2, S(2, 3), S(2, 3)), POSITIVE},
    [SX_OP_ADD_SCALAR] = {f_add_scalar, IN1(2, 2, 3), ANY},
    [SX_OP_MUL_SCALAR] = {f_mul_scalar, IN1(2, 2, 3), ANY},
    [SX_OP_POW_SCALAR] = {f_pow_scalar, IN1(2, 2, 3), ANY},
    [SX_OP_NEG] = {f_neg, IN1(2, 2, 3), ANY},
    [SX_OP_ABS] = {f_abs, IN1(2, 2, 3), AWAY_FROM_ZERO},
    [SX_OP_EXP] = {f_exp, IN1(2, 2, 3), ANY},
    [SX_OP_LOG] = {f_log, IN1(2, 2, 3), POSITIVE},
    [SX_OP_SQRT] = {f_sqrt, IN1(2, 2, 3), POSITIVE},
    [SX_OP_RSQRT] = {f_rsqrt, IN1(2, 2, 3), POSITIVE},
    [SX_OP_RELU] = {f_relu, IN1(2, 2, 3), AWAY_FROM_ZERO},
    [SX_OP_LEAKY_RELU] = {f_leaky_relu, IN1(2, 2, 3), AWAY_FROM_ZERO},
    [SX_OP_SIGMOID] = {f_sigmoid, IN1(2, 2, 3), ANY},
    [SX_OP_TANH] = {f_tanh, IN1(2, 2, 3), ANY},
    [SX_OP_SOFTPLUS] = {f_softplus, IN1(2, 2, 3), ANY},
    [SX_OP_SUM] = {f_sum, IN1(3, 2, 3, 4), ANY},
    [SX_OP_MAX] = {f_max, IN1(3, 2, 3, 4), DISTINCT},
    [SX_OP_RESHAPE] = {f_reshape, IN1(3, 2, 3, 4), ANY},
    [SX_OP_PERMUTE] = {f_permute, IN1(3, 2, 3, 4), ANY},
    [SX_OP_EXPAND] = {f_expand, IN1(3, 2, 1, 4), ANY},
    [SX_OP_NARROW] = {f_narrow, IN1(3, 2, 3, 4), ANY},
    [SX_OP_NARROW_SCATTER] = {f_narrow_scatter, IN1(3, 2, 3, 4), ANY},
    [SX_OP_CAT] = {f_cat, IN2(3, 3, S(2, 3, 4), S(2, 2, 4)), ANY},
    [SX_OP_INDEX_SELECT] = {f_index_select, IN1(3, 2, 3, 4), ANY},
    [SX_OP_INDEX_ADD] = {f_index_add, IN1(3, 2, 3, 4), ANY},
    [SX_OP_CONTIGUOUS] = {f_contiguous, IN1(3, 2, 3, 4), ANY},
    [SX_OP_MATMUL] = {f_matmul, IN2(2, 2, S(3, 4), S(4, 5)), ANY},
    [SX_OP_CONV2D] = {f_conv2d, IN2(4, 4, S(2, 3, 5, 5), S(4, 3, 3, 3)), ANY},
    [SX_OP_CONV_TRANSPOSE2D] = {f_conv_transpose2d, IN2(4, 4, S(2, 4, 3, 3), S(4, 3, 3, 3)), ANY},
    [SX_OP_CONV2D_WEIGHT] = {f_conv2d_weight, IN2(4, 4, S(2, 3, 5, 5), S(2, 4, 5, 5)), ANY},
    [SX_OP_UPFIRDN2D] = {f_upfirdn2d, IN1(4, 2, 2, 4, 4), ANY},
    [SX_OP_SIN] = {f_sin, IN1(2, 2, 3), ANY},
    [SX_OP_COS] = {f_cos, IN1(2, 2, 3), ANY},
    [SX_OP_CLAMP] = {f_clamp, IN1(2, 2, 3), DISTINCT}, /* values 0.05 from the bounds at least */
    [SX_OP_WHERE] = {f_where, IN2(2, 2, S(2, 1), S(2, 3)), ANY},
};

/* ---------------------------------------------------------------- inputs */

static sx_tensor *input(unsigned seed, int ndim, const int64_t *shape, int domain)
{
    sx_manual_seed(seed);
    sx_tensor *t = domain == POSITIVE ? sx_tensor_rand(ndim, shape) : sx_tensor_randn(ndim, shape);
    float *p = sx_tensor_data(t);
    int64_t n = sx_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        if (domain == POSITIVE) p[i] = 0.5f + 2.0f * p[i];
        if (domain == AWAY_FROM_ZERO) p[i] += p[i] >= 0 ? 0.3f : -0.3f;
        /* a ramp in steps of 0.1, shuffled by the stride 7 (prime to the 24 elements of the case) */
        if (domain == DISTINCT) p[i] = 0.1f * (float)((i * 7) % n) - 0.05f * (float)n;
    }
    sx_tensor_set_requires_grad(t, true);
    return t;
}

/* ---------------------------------------------------------------- the walk */

static void test_every_op_has_a_row(void)
{
    for (int k = 0; k < SX_OP_COUNT; k++) {
        const sx_op_desc *row = &sx_op_table[k];
        CHECK_MSG(row->name && row->name[0] && row->backward, "op kind %d has no row in sx_op_table", k);
        for (int j = 0; j < k && row->name; j++)
            CHECK_MSG(!sx_op_table[j].name || strcmp(sx_op_table[j].name, row->name), "ops %d and %d share the name %s",
                      j, k, row->name);
    }
}

static void test_every_op_is_gradchecked(void)
{
    sx_tensor *filter = RANDN(7, 4, 4);
    sx_tensor *mask = sx_tensor_from_data(2, SHAPE(2, 3), (const float[]){1, 0, 1, 0, 0, 1});
    for (int k = 0; k < SX_OP_COUNT; k++) {
        const char *name = sx_op_table[k].name ? sx_op_table[k].name : "(no row)";
        const op_case *c = &cases[k];
        CHECK_MSG(c->f, "op %s (kind %d) has no gradient check in tests/c/test_op_table.c", name, k);
        /* without a backward the engine would call NULL: reported above */
        if (!c->f || !sx_op_table[k].backward) continue;
        sx_tensor *xs[3] = {0};
        for (int i = 0; i < c->n_inputs; i++) xs[i] = input(100 * (unsigned)k + (unsigned)i, c->ndim[i], c->shape[i], c->domain);
        void *ctx = k == SX_OP_UPFIRDN2D ? filter : k == SX_OP_WHERE ? mask : NULL;
        /* the case must exercise this op, not another one */
        sx_tensor *out = c->f(xs, ctx);
        CHECK_MSG(out && out->grad_fn && out->grad_fn->op == (sx_op_kind)k, "the case of op %s makes %s", name,
                  out ? (out->grad_fn ? sx_tensor_op_name(out) : "a tensor without a graph") : sx_last_error());
        sx_tensor_free(out);
        GRADCHECK(name, c->f, ctx, c->n_inputs, xs);
        GRADGRADCHECK(name, c->f, ctx, c->n_inputs, xs);
        for (int i = 0; i < c->n_inputs; i++) sx_tensor_free(xs[i]);
    }
    sx_tensor_free(filter);
    sx_tensor_free(mask);
}

int main(void)
{
    RUN(test_every_op_has_a_row);
    RUN(test_every_op_is_gradchecked);
    return check_summary("test_op_table");
}
