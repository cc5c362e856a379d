/*
 * lib/ops/elementwise.c — broadcasting binary ops, scalar ops and unary
 * activations, each forward beside its backward.
 *
 * Kernels walk the output in row-major order as runs along the last
 * dimension, with per-input strides (0 on broadcast dimensions); large
 * tensors are split across the thread pool by runs.
 */
#include <math.h>
#include <string.h>

#include "../core/internal.h"
#include "stylex/ops.h"

/* ---------------------------------------------------------------- broadcasting */

static bool broadcast_shape(const char *fn, const sx_tensor *a, const sx_tensor *b, int *ndim,
                            int64_t *shape)
{
    int n = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int i = 0; i < n; i++) {
        int ia = i - (n - a->ndim), ib = i - (n - b->ndim);
        int64_t sa = ia >= 0 ? a->shape[ia] : 1, sb = ib >= 0 ? b->shape[ib] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            char s1[96], s2[96];
            sx_fail(SX_EINVAL, "%s: shapes %s and %s do not broadcast (dimension %d: %lld vs %lld)", fn,
                    sx_shape_str(a, s1, sizeof s1), sx_shape_str(b, s2, sizeof s2), i, (long long)sa,
                    (long long)sb);
            return false;
        }
        shape[i] = sa == 1 ? sb : sa;
    }
    *ndim = n;
    return true;
}

/* Strides of t seen as a tensor of shape[ndim] (0 on broadcast dimensions). */
static void broadcast_strides(const sx_tensor *t, int ndim, const int64_t *shape, int64_t *stride)
{
    for (int i = 0; i < ndim; i++) {
        int it = i - (ndim - t->ndim);
        stride[i] = (it >= 0 && t->shape[it] == shape[i] && shape[i] != 1) ? t->stride[it] : 0;
    }
}

/* ---------------------------------------------------------------- binary kernels */

typedef enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV } bin_kind;

static void bin_run(bin_kind k, const float *a, int64_t sa, const float *b, int64_t sb, float *o,
                    int64_t n)
{
    if (sa == 1 && sb == 1) {
        switch (k) {
        case BIN_ADD: for (int64_t i = 0; i < n; i++) o[i] = a[i] + b[i]; break;
        case BIN_SUB: for (int64_t i = 0; i < n; i++) o[i] = a[i] - b[i]; break;
        case BIN_MUL: for (int64_t i = 0; i < n; i++) o[i] = a[i] * b[i]; break;
        case BIN_DIV: for (int64_t i = 0; i < n; i++) o[i] = a[i] / b[i]; break;
        }
    } else if (sa == 1 && sb == 0) {
        float y = b[0];
        switch (k) {
        case BIN_ADD: for (int64_t i = 0; i < n; i++) o[i] = a[i] + y; break;
        case BIN_SUB: for (int64_t i = 0; i < n; i++) o[i] = a[i] - y; break;
        case BIN_MUL: for (int64_t i = 0; i < n; i++) o[i] = a[i] * y; break;
        case BIN_DIV: for (int64_t i = 0; i < n; i++) o[i] = a[i] / y; break;
        }
    } else if (sa == 0 && sb == 1) {
        float x = a[0];
        switch (k) {
        case BIN_ADD: for (int64_t i = 0; i < n; i++) o[i] = x + b[i]; break;
        case BIN_SUB: for (int64_t i = 0; i < n; i++) o[i] = x - b[i]; break;
        case BIN_MUL: for (int64_t i = 0; i < n; i++) o[i] = x * b[i]; break;
        case BIN_DIV: for (int64_t i = 0; i < n; i++) o[i] = x / b[i]; break;
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            float x = a[i * sa], y = b[i * sb];
            switch (k) {
            case BIN_ADD: o[i] = x + y; break;
            case BIN_SUB: o[i] = x - y; break;
            case BIN_MUL: o[i] = x * y; break;
            case BIN_DIV: o[i] = x / y; break;
            }
        }
    }
}

struct bin_ctx {
    bin_kind kind;
    int ndim;              /* >= 1 */
    const int64_t *shape;  /* output shape */
    int64_t sa[SX_MAX_DIMS], sb[SX_MAX_DIMS];
    const float *a, *b;
    float *o;
};

static void bin_rows(void *vctx, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    struct bin_ctx *c = vctx;
    int last = c->ndim - 1;
    int64_t len = c->shape[last];
    for (int64_t r = begin; r < end; r++) {
        int64_t rem = r, oa = 0, ob = 0;
        for (int i = last - 1; i >= 0; i--) {
            int64_t ix = rem % c->shape[i];
            rem /= c->shape[i];
            oa += ix * c->sa[i];
            ob += ix * c->sb[i];
        }
        bin_run(c->kind, c->a + oa, c->sa[last], c->b + ob, c->sb[last], c->o + r * len, len);
    }
}

static void bin_flat(void *vctx, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    struct bin_ctx *c = vctx;
    bin_run(c->kind, c->a + begin, 1, c->b + begin, 1, c->o + begin, end - begin);
}

static const char *bin_name[] = {"add", "sub", "mul", "div"};

static sx_tensor *binary_forward(bin_kind k, sx_tensor *a, sx_tensor *b)
{
    const char *fn = bin_name[k];
    if (!sx_check_arg(fn, 1, a) || !sx_check_arg(fn, 2, b)) return NULL;
    int ndim;
    int64_t shape[SX_MAX_DIMS];
    if (!broadcast_shape(fn, a, b, &ndim, shape)) return NULL;
    sx_tensor *o = sx_tensor_empty(ndim, shape);
    if (!o) return NULL;
    int64_t numel = sx_tensor_numel(o);
    if (numel > 0) {
        struct bin_ctx c = {.kind = k, .a = sx_tensor_data(a), .b = sx_tensor_data(b), .o = sx_tensor_data(o)};
        if (ndim == 0) {
            bin_run(k, c.a, 1, c.b, 1, c.o, 1);
        } else if (sx_tensor_is_contiguous(a) && sx_tensor_is_contiguous(b) && sx_tensor_same_shape(a, b)) {
            sx_parallel_for(numel, 32768, bin_flat, &c);
        } else {
            c.ndim = ndim;
            c.shape = o->shape;
            broadcast_strides(a, ndim, shape, c.sa);
            broadcast_strides(b, ndim, shape, c.sb);
            int64_t rows = numel / shape[ndim - 1];
            int64_t grain = 32768 / (shape[ndim - 1] + 1) + 1;
            sx_parallel_for(rows, grain, bin_rows, &c);
        }
    }
    sx_tensor *in[2] = {a, b};
    static const sx_op_kind ops[] = {SX_OP_ADD, SX_OP_SUB, SX_OP_MUL, SX_OP_DIV};
    sx_record(&o, ops[k], 2, in);
    return o;
}

sx_tensor *sx_add(sx_tensor *a, sx_tensor *b) { return binary_forward(BIN_ADD, a, b); }
sx_tensor *sx_sub(sx_tensor *a, sx_tensor *b) { return binary_forward(BIN_SUB, a, b); }
sx_tensor *sx_mul(sx_tensor *a, sx_tensor *b) { return binary_forward(BIN_MUL, a, b); }
sx_tensor *sx_div(sx_tensor *a, sx_tensor *b) { return binary_forward(BIN_DIV, a, b); }

/* g reduced to the shape of input i (undoing broadcasting); takes ownership of g. */
static sx_tensor *reduce_to_input(sx_tensor *g, const sx_tensor *in)
{
    if (!g) return NULL;
    if (sx_tensor_same_shape(g, in)) return g;
    sx_tensor *r = sx_sum_to(g, in->ndim, in->shape);
    sx_tensor_free(g);
    return r;
}

/* Backwards of binary ops clear the error first and report whatever a
 * sub-op set, so a failed allocation anywhere surfaces. */
static sx_status done(void) { return sx_last_status(); }

sx_status sx_add_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    sx_clear_error();
    for (int i = 0; i < 2; i++)
        if (sx_needs_grad(n->inputs[i])) gi[i] = reduce_to_input(sx_tensor_retain(g), n->inputs[i]);
    return done();
}

sx_status sx_sub_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    sx_clear_error();
    if (sx_needs_grad(n->inputs[0])) gi[0] = reduce_to_input(sx_tensor_retain(g), n->inputs[0]);
    if (sx_needs_grad(n->inputs[1])) gi[1] = reduce_to_input(sx_neg(g), n->inputs[1]);
    return done();
}

sx_status sx_mul_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    sx_clear_error();
    sx_tensor *a = n->inputs[0], *b = n->inputs[1];
    if (sx_needs_grad(a)) gi[0] = reduce_to_input(sx_mul(g, b), a);
    if (sx_needs_grad(b)) gi[1] = reduce_to_input(sx_mul(g, a), b);
    return done();
}

sx_status sx_div_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    sx_clear_error();
    sx_tensor *a = n->inputs[0], *b = n->inputs[1];
    if (sx_needs_grad(a)) gi[0] = reduce_to_input(sx_div(g, b), a);
    if (sx_needs_grad(b)) {
        /* d(a/b)/db = -a / b^2 */
        sx_tensor *q = sx_div(g, b), *r = q ? sx_div(q, b) : NULL, *s = r ? sx_mul(r, a) : NULL;
        gi[1] = reduce_to_input(s ? sx_neg(s) : NULL, b);
        sx_tensor_free(q);
        sx_tensor_free(r);
        sx_tensor_free(s);
    }
    return done();
}

/* ---------------------------------------------------------------- unary kernels */

typedef enum {
    UN_ADD_SCALAR, UN_MUL_SCALAR, UN_POW_SCALAR, UN_RDIV_SCALAR, UN_NEG, UN_ABS, UN_EXP, UN_LOG, UN_SQRT,
    UN_RSQRT, UN_RELU, UN_LEAKY_RELU, UN_SIGMOID, UN_TANH, UN_SOFTPLUS, UN_GT_SCALAR, UN_SIGN,
    UN_LEAKY_SLOPE, UN_POSITIVE, UN_SIN, UN_COS, UN_CLAMP, UN_IN_RANGE
} un_kind;

struct un_ctx {
    un_kind kind;
    float s, s2; /* the op's scalars: s2 only for clamp's hi (and its mask) */
    const float *x;
    float *o;
};

static inline float softplus1(float x)
{
    /* log(1 + e^x) = max(x, 0) + log1p(e^-|x|) */
    return (x > 0 ? x : 0.0f) + log1pf(expf(-fabsf(x)));
}

static void un_range(void *vctx, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    struct un_ctx *c = vctx;
    const float *x = c->x;
    float *o = c->o, s = c->s, s2 = c->s2;
    switch (c->kind) {
    case UN_ADD_SCALAR: for (int64_t i = begin; i < end; i++) o[i] = x[i] + s; break;
    case UN_MUL_SCALAR: for (int64_t i = begin; i < end; i++) o[i] = x[i] * s; break;
    case UN_POW_SCALAR:
        if (s == 2.0f) for (int64_t i = begin; i < end; i++) o[i] = x[i] * x[i];
        else if (s == 1.0f) for (int64_t i = begin; i < end; i++) o[i] = x[i];
        else if (s == 0.5f) for (int64_t i = begin; i < end; i++) o[i] = sqrtf(x[i]);
        else if (s == -0.5f) for (int64_t i = begin; i < end; i++) o[i] = 1.0f / sqrtf(x[i]);
        else for (int64_t i = begin; i < end; i++) o[i] = powf(x[i], s);
        break;
    case UN_RDIV_SCALAR: for (int64_t i = begin; i < end; i++) o[i] = s / x[i]; break;
    case UN_NEG: for (int64_t i = begin; i < end; i++) o[i] = -x[i]; break;
    case UN_ABS: for (int64_t i = begin; i < end; i++) o[i] = fabsf(x[i]); break;
    case UN_EXP: for (int64_t i = begin; i < end; i++) o[i] = expf(x[i]); break;
    case UN_LOG: for (int64_t i = begin; i < end; i++) o[i] = logf(x[i]); break;
    case UN_SQRT: for (int64_t i = begin; i < end; i++) o[i] = sqrtf(x[i]); break;
    case UN_RSQRT: for (int64_t i = begin; i < end; i++) o[i] = 1.0f / sqrtf(x[i]); break;
    case UN_RELU: for (int64_t i = begin; i < end; i++) o[i] = x[i] > 0 ? x[i] : 0.0f; break;
    case UN_LEAKY_RELU: for (int64_t i = begin; i < end; i++) o[i] = x[i] > 0 ? x[i] : x[i] * s; break;
    case UN_SIGMOID:
        for (int64_t i = begin; i < end; i++) {
            float v = x[i];
            if (v >= 0) o[i] = 1.0f / (1.0f + expf(-v));
            else {
                float e = expf(v);
                o[i] = e / (1.0f + e);
            }
        }
        break;
    case UN_TANH: for (int64_t i = begin; i < end; i++) o[i] = tanhf(x[i]); break;
    case UN_SOFTPLUS: for (int64_t i = begin; i < end; i++) o[i] = softplus1(x[i]); break;
    case UN_GT_SCALAR: for (int64_t i = begin; i < end; i++) o[i] = x[i] > s ? 1.0f : 0.0f; break;
    case UN_SIGN: for (int64_t i = begin; i < end; i++) o[i] = (float)((x[i] > 0) - (x[i] < 0)); break;
    case UN_LEAKY_SLOPE: for (int64_t i = begin; i < end; i++) o[i] = x[i] > 0 ? 1.0f : s; break;
    case UN_POSITIVE: for (int64_t i = begin; i < end; i++) o[i] = x[i] > 0 ? 1.0f : 0.0f; break;
    case UN_SIN: for (int64_t i = begin; i < end; i++) o[i] = sinf(x[i]); break;
    case UN_COS: for (int64_t i = begin; i < end; i++) o[i] = cosf(x[i]); break;
    /* NaN stays NaN (both comparisons are false), as in PyTorch */
    case UN_CLAMP: for (int64_t i = begin; i < end; i++) o[i] = x[i] < s ? s : x[i] > s2 ? s2 : x[i]; break;
    case UN_IN_RANGE: for (int64_t i = begin; i < end; i++) o[i] = x[i] >= s && x[i] <= s2 ? 1.0f : 0.0f; break;
    }
}

static const char *un_name(un_kind k)
{
    static const char *names[] = {"add_scalar", "mul_scalar", "pow",     "rdiv_scalar", "neg",     "abs",
                                  "exp",        "log",        "sqrt",    "rsqrt",       "relu",    "leaky_relu",
                                  "sigmoid",    "tanh",       "softplus", "gt_scalar",  "sign",    "leaky_slope",
                                  "positive", "sin",    "cos",        "clamp",   "clamp_mask"};
    return names[k];
}

/* Computes the kernel into a new contiguous tensor (not recorded). */
static sx_tensor *unary_compute2(un_kind k, sx_tensor *x, float s, float s2)
{
    if (!sx_check_arg(un_name(k), 1, x)) return NULL;
    sx_tensor *xc = sx_tensor_as_contiguous(x);
    if (!xc) return NULL;
    sx_tensor *o = sx_tensor_empty(x->ndim, x->shape);
    if (o) {
        struct un_ctx c = {k, s, s2, sx_tensor_data(xc), sx_tensor_data(o)};
        sx_parallel_for(sx_tensor_numel(o), 65536, un_range, &c);
    }
    sx_tensor_free(xc);
    return o;
}

static sx_tensor *unary_compute(un_kind k, sx_tensor *x, float s) { return unary_compute2(k, x, s, 0.0f); }

static sx_tensor *unary_forward(un_kind k, sx_op_kind op, sx_tensor *x, float s)
{
    sx_tensor *o = unary_compute(k, x, s);
    sx_node *node = sx_record(&o, op, 1, &x);
    if (node) node->fattr[0] = s;
    return o;
}

sx_tensor *sx_add_scalar(sx_tensor *a, float s) { return unary_forward(UN_ADD_SCALAR, SX_OP_ADD_SCALAR, a, s); }
sx_tensor *sx_mul_scalar(sx_tensor *a, float s) { return unary_forward(UN_MUL_SCALAR, SX_OP_MUL_SCALAR, a, s); }
sx_tensor *sx_pow_scalar(sx_tensor *a, float p) { return unary_forward(UN_POW_SCALAR, SX_OP_POW_SCALAR, a, p); }
sx_tensor *sx_neg(sx_tensor *x) { return unary_forward(UN_NEG, SX_OP_NEG, x, 0); }
sx_tensor *sx_abs(sx_tensor *x) { return unary_forward(UN_ABS, SX_OP_ABS, x, 0); }
sx_tensor *sx_exp(sx_tensor *x) { return unary_forward(UN_EXP, SX_OP_EXP, x, 0); }
sx_tensor *sx_log(sx_tensor *x) { return unary_forward(UN_LOG, SX_OP_LOG, x, 0); }
sx_tensor *sx_sqrt(sx_tensor *x) { return unary_forward(UN_SQRT, SX_OP_SQRT, x, 0); }
sx_tensor *sx_rsqrt(sx_tensor *x) { return unary_forward(UN_RSQRT, SX_OP_RSQRT, x, 0); }
sx_tensor *sx_relu(sx_tensor *x) { return unary_forward(UN_RELU, SX_OP_RELU, x, 0); }
sx_tensor *sx_leaky_relu(sx_tensor *x, float slope) { return unary_forward(UN_LEAKY_RELU, SX_OP_LEAKY_RELU, x, slope); }
sx_tensor *sx_sigmoid(sx_tensor *x) { return unary_forward(UN_SIGMOID, SX_OP_SIGMOID, x, 0); }
sx_tensor *sx_tanh(sx_tensor *x) { return unary_forward(UN_TANH, SX_OP_TANH, x, 0); }
sx_tensor *sx_softplus(sx_tensor *x) { return unary_forward(UN_SOFTPLUS, SX_OP_SOFTPLUS, x, 0); }
sx_tensor *sx_gt_scalar(sx_tensor *x, float s) { return unary_compute(UN_GT_SCALAR, x, s); }
sx_tensor *sx_sin(sx_tensor *x) { return unary_forward(UN_SIN, SX_OP_SIN, x, 0); }
sx_tensor *sx_cos(sx_tensor *x) { return unary_forward(UN_COS, SX_OP_COS, x, 0); }

sx_tensor *sx_clamp(sx_tensor *x, float lo, float hi)
{
    if (!sx_check_arg("clamp", 1, x)) return NULL;
    if (lo != lo || hi != hi || lo > hi) {
        sx_fail(SX_EINVAL, "clamp: bounds [%g, %g] are not an interval (lo <= hi, no NaN)", (double)lo, (double)hi);
        return NULL;
    }
    sx_tensor *o = unary_compute2(UN_CLAMP, x, lo, hi);
    sx_node *node = sx_record(&o, SX_OP_CLAMP, 1, &x);
    if (node) {
        node->fattr[0] = lo;
        node->fattr[1] = hi;
    }
    return o;
}

sx_tensor *sx_square(sx_tensor *x) { return sx_pow_scalar(x, 2.0f); }

sx_tensor *sx_normalize_dim1(sx_tensor *x, bool mean, float eps)
{
    int dim = 1;
    sx_tensor *sq = sx_square(x);
    sx_tensor *red = !sq ? NULL : mean ? sx_mean(sq, 1, &dim, true) : sx_sum(sq, 1, &dim, true);
    sx_tensor *e = red ? sx_add_scalar(red, eps) : NULL;
    sx_tensor *r = e ? sx_rsqrt(e) : NULL;
    sx_tensor *o = r ? sx_mul(x, r) : NULL;
    sx_tensor_free(sq);
    sx_tensor_free(red);
    sx_tensor_free(e);
    sx_tensor_free(r);
    return o;
}

sx_tensor *sx_rdiv_scalar(float s, sx_tensor *a)
{
    sx_tensor *inv = sx_pow_scalar(a, -1.0f);
    if (!inv) return NULL;
    sx_tensor *o = sx_mul_scalar(inv, s);
    sx_tensor_free(inv);
    return o;
}

/* 1 - x */
static sx_tensor *one_minus(sx_tensor *x)
{
    sx_tensor *n = sx_neg(x);
    sx_tensor *o = n ? sx_add_scalar(n, 1.0f) : NULL;
    sx_tensor_free(n);
    return o;
}

/* g * f where f is made by fn from the node's input (freed here). */
static sx_status grad_times(sx_tensor **gi, sx_tensor *g, sx_tensor *f)
{
    if (!f) return sx_last_status();
    *gi = sx_mul(g, f);
    sx_tensor_free(f);
    return *gi ? SX_OK : sx_last_status();
}

sx_status sx_add_scalar_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    (void)n;
    gi[0] = sx_tensor_retain(g);
    return SX_OK;
}

sx_status sx_mul_scalar_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    gi[0] = sx_mul_scalar(g, (float)n->fattr[0]);
    return gi[0] ? SX_OK : sx_last_status();
}

sx_status sx_pow_scalar_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    float p = (float)n->fattr[0];
    if (p == 0.0f) return (gi[0] = sx_tensor_zeros_like(g)) ? SX_OK : sx_last_status();
    sx_tensor *d = p == 1.0f ? sx_tensor_ones_like(g) : sx_pow_scalar(n->inputs[0], p - 1.0f);
    sx_tensor *f = d ? sx_mul_scalar(d, p) : NULL;
    sx_tensor_free(d);
    return grad_times(gi, g, f);
}

sx_status sx_neg_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    (void)n;
    gi[0] = sx_neg(g);
    return gi[0] ? SX_OK : sx_last_status();
}

sx_status sx_abs_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    return grad_times(gi, g, unary_compute(UN_SIGN, n->inputs[0], 0));
}

sx_status sx_exp_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    return grad_times(gi, g, sx_exp(n->inputs[0]));
}

sx_status sx_log_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    gi[0] = sx_div(g, n->inputs[0]);
    return gi[0] ? SX_OK : sx_last_status();
}

sx_status sx_sqrt_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    /* 0.5 / sqrt(x) */
    sx_tensor *r = sx_rsqrt(n->inputs[0]);
    sx_tensor *f = r ? sx_mul_scalar(r, 0.5f) : NULL;
    sx_tensor_free(r);
    return grad_times(gi, g, f);
}

sx_status sx_rsqrt_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    /* -0.5 x^-1.5 */
    sx_tensor *r = sx_pow_scalar(n->inputs[0], -1.5f);
    sx_tensor *f = r ? sx_mul_scalar(r, -0.5f) : NULL;
    sx_tensor_free(r);
    return grad_times(gi, g, f);
}

sx_status sx_relu_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    return grad_times(gi, g, unary_compute(UN_POSITIVE, n->inputs[0], 0));
}

sx_status sx_leaky_relu_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    return grad_times(gi, g, unary_compute(UN_LEAKY_SLOPE, n->inputs[0], (float)n->fattr[0]));
}

sx_status sx_sigmoid_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    /* s (1 - s) */
    sx_tensor *s = sx_sigmoid(n->inputs[0]);
    sx_tensor *c = s ? one_minus(s) : NULL;
    sx_tensor *f = c ? sx_mul(s, c) : NULL;
    sx_tensor_free(s);
    sx_tensor_free(c);
    return grad_times(gi, g, f);
}

sx_status sx_tanh_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    /* 1 - t^2 */
    sx_tensor *t = sx_tanh(n->inputs[0]);
    sx_tensor *t2 = t ? sx_mul(t, t) : NULL;
    sx_tensor *f = t2 ? one_minus(t2) : NULL;
    sx_tensor_free(t);
    sx_tensor_free(t2);
    return grad_times(gi, g, f);
}

sx_status sx_softplus_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    return grad_times(gi, g, sx_sigmoid(n->inputs[0]));
}

sx_status sx_sin_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    return grad_times(gi, g, sx_cos(n->inputs[0]));
}

sx_status sx_cos_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    sx_tensor *s = sx_sin(n->inputs[0]);
    sx_tensor *f = s ? sx_neg(s) : NULL;
    sx_tensor_free(s);
    return grad_times(gi, g, f);
}

/* The gradient passes where lo <= x <= hi (the bounds included, as in
 * PyTorch), through a constant mask, like relu's. */
sx_status sx_clamp_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    return grad_times(gi, g, unary_compute2(UN_IN_RANGE, n->inputs[0], (float)n->fattr[0], (float)n->fattr[1]));
}

/* ---------------------------------------------------------------- comparisons */

/* Float masks (1 where the comparison holds, else 0), broadcasting; constants. */
static float compare1(sx_compare_op op, float a, float b)
{
    switch (op) {
    case SX_CMP_LT: return a < b;
    case SX_CMP_LE: return a <= b;
    case SX_CMP_GT: return a > b;
    case SX_CMP_GE: return a >= b;
    case SX_CMP_EQ: return a == b;
    case SX_CMP_NE: return a != b;
    }
    return 0.0f;
}

/* ---------------------------------------------------------------- strided n-ary walks */

/* The output of shape[ndim] walked as rows along the last dimension, each
 * input read through its broadcast strides: compare (2 inputs) and where (3). */
struct nary_ctx {
    int kind;               /* 0: compare, 1: where */
    sx_compare_op op;
    int ndim;               /* >= 1 */
    const int64_t *shape;
    int64_t st[3][SX_MAX_DIMS];
    const float *in[3];
    float *o;
};

static void nary_rows(void *vctx, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    struct nary_ctx *c = vctx;
    int last = c->ndim - 1;
    int64_t len = c->shape[last];
    for (int64_t r = begin; r < end; r++) {
        int64_t rem = r, off[3] = {0, 0, 0};
        for (int i = last - 1; i >= 0; i--) {
            int64_t ix = rem % c->shape[i];
            rem /= c->shape[i];
            for (int k = 0; k < 3; k++) off[k] += ix * c->st[k][i];
        }
        const float *p0 = c->in[0] + off[0], *p1 = c->in[1] + off[1];
        int64_t s0 = c->st[0][last], s1 = c->st[1][last];
        float *o = c->o + r * len;
        if (c->kind == 0) {
            for (int64_t j = 0; j < len; j++) o[j] = compare1(c->op, p0[j * s0], p1[j * s1]);
        } else {
            const float *p2 = c->in[2] + off[2];
            int64_t s2 = c->st[2][last];
            for (int64_t j = 0; j < len; j++) o[j] = p0[j * s0] != 0.0f ? p1[j * s1] : p2[j * s2];
        }
    }
}

/* Broadcasts n tensors (a first pair, then the result with a third). */
static bool broadcast_n(const char *fn, int n, sx_tensor *const *ts, int *ndim, int64_t *shape)
{
    if (!broadcast_shape(fn, ts[0], ts[1], ndim, shape)) return false;
    if (n < 3) return true;
    sx_tensor view = {.ndim = *ndim};
    memcpy(view.shape, shape, sizeof(int64_t) * (size_t)*ndim);
    if (!broadcast_shape(fn, &view, ts[2], ndim, shape)) return false;
    return true;
}

static sx_tensor *nary_compute(const char *fn, int kind, sx_compare_op op, int n, sx_tensor *const *ts)
{
    for (int i = 0; i < n; i++)
        if (!sx_check_arg(fn, i + 1, ts[i])) return NULL;
    int ndim;
    int64_t shape[SX_MAX_DIMS];
    if (!broadcast_n(fn, n, ts, &ndim, shape)) return NULL;
    sx_tensor *o = sx_tensor_empty(ndim, shape);
    if (!o) return NULL;
    int64_t numel = sx_tensor_numel(o);
    if (numel == 0) return o;
    struct nary_ctx c = {.kind = kind, .op = op, .o = sx_tensor_data(o)};
    /* a 0-d result is walked as one row of one element */
    int64_t one = 1;
    c.ndim = ndim ? ndim : 1;
    c.shape = ndim ? o->shape : &one;
    for (int k = 0; k < 3; k++) {
        sx_tensor *t = ts[k < n ? k : 0];
        c.in[k] = sx_tensor_data(t);
        if (ndim) broadcast_strides(t, ndim, shape, c.st[k]);
        else c.st[k][0] = 0;
    }
    int64_t rows = numel / c.shape[c.ndim - 1];
    sx_parallel_for(rows, 32768 / (c.shape[c.ndim - 1] + 1) + 1, nary_rows, &c);
    return o;
}

static const char *compare_name(sx_compare_op op)
{
    static const char *names[] = {"lt", "le", "gt", "ge", "eq", "ne"};
    return (unsigned)op < 6 ? names[op] : "compare";
}

sx_tensor *sx_compare(sx_tensor *a, sx_compare_op op, sx_tensor *b)
{
    if ((unsigned)op >= 6) {
        sx_fail(SX_EINVAL, "compare: unknown comparison %d", (int)op);
        return NULL;
    }
    sx_tensor *ts[2] = {a, b};
    return nary_compute(compare_name(op), 0, op, 2, ts);
}

sx_tensor *sx_compare_scalar(sx_tensor *x, sx_compare_op op, float s)
{
    if (!sx_check_arg(compare_name(op), 1, x)) return NULL;
    sx_tensor *b = sx_tensor_scalar(s);
    sx_tensor *o = b ? sx_compare(x, op, b) : NULL;
    sx_tensor_free(b);
    return o;
}

/* ---------------------------------------------------------------- where */

/* where(mask, a, b): a where mask != 0, else b; mask, a and b broadcast
 * together. The mask is a constant (saved, not an input of the node), so the
 * backward is where() again and differentiates to any order. */
sx_tensor *sx_where(sx_tensor *mask, sx_tensor *a, sx_tensor *b)
{
    sx_tensor *ts[3] = {mask, a, b};
    sx_tensor *o = nary_compute("where", 1, SX_CMP_LT, 3, ts);
    sx_node *node = sx_record(&o, SX_OP_WHERE, 2, ts + 1);
    if (node) sx_node_save(node, 0, mask);
    return o;
}

sx_status sx_where_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    sx_clear_error();
    sx_tensor *zero = sx_tensor_scalar(0.0f);
    if (!zero) return sx_last_status();
    sx_tensor *mask = n->saved[0];
    if (sx_needs_grad(n->inputs[0])) gi[0] = reduce_to_input(sx_where(mask, g, zero), n->inputs[0]);
    if (sx_needs_grad(n->inputs[1])) gi[1] = reduce_to_input(sx_where(mask, zero, g), n->inputs[1]);
    sx_tensor_free(zero);
    return done();
}
