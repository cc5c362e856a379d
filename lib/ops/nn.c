/*
 * lib/ops/nn.c — softmax family and losses, composed of differentiable ops
 * (so they need no backward of their own and differentiate twice for free).
 *
 * log_softmax subtracts the row maximum as a constant (detached): the result
 * is exact and its gradient unchanged, since softmax is shift-invariant.
 */
#include <math.h>

#include "../core/internal.h"
#include "stylex/ops.h"

/* Frees every tensor in the NULL-terminated-by-count list. */
static void drop(int n, sx_tensor **ts)
{
    for (int i = 0; i < n; i++) sx_tensor_free(ts[i]);
}

sx_tensor *sx_log_softmax(sx_tensor *x, int dim)
{
    if (!sx_check_arg("log_softmax", 1, x)) return NULL;
    int d = sx_norm_dim("log_softmax", dim, x->ndim);
    if (d < 0) return NULL;
    bool prev = sx_set_grad_enabled(false);
    sx_tensor *m = sx_max(x, d, true);
    sx_set_grad_enabled(prev);
    sx_tensor *t[4] = {m, NULL, NULL, NULL};
    sx_tensor *s = m ? sx_sub(x, m) : NULL;          /* x - max */
    t[1] = s ? sx_exp(s) : NULL;                     /* exp */
    t[2] = t[1] ? sx_sum(t[1], 1, &d, true) : NULL;  /* sum exp */
    t[3] = t[2] ? sx_log(t[2]) : NULL;               /* logsumexp - max */
    sx_tensor *o = t[3] ? sx_sub(s, t[3]) : NULL;
    drop(4, t);
    sx_tensor_free(s);
    return o;
}

sx_tensor *sx_softmax(sx_tensor *x, int dim)
{
    sx_tensor *l = sx_log_softmax(x, dim);
    sx_tensor *o = l ? sx_exp(l) : NULL;
    sx_tensor_free(l);
    return o;
}

sx_tensor *sx_cross_entropy(sx_tensor *logits, sx_tensor *labels)
{
    if (!sx_check_arg("cross_entropy", 1, logits) || !sx_check_arg("cross_entropy", 2, labels)) return NULL;
    char sl[96], sy[96];
    if (logits->ndim != 2 || labels->ndim != 1 || labels->shape[0] != logits->shape[0] || logits->shape[0] == 0) {
        sx_fail(SX_EINVAL, "cross_entropy: expects logits [N, C] and labels [N] with N > 0, got %s and %s",
                sx_shape_str(logits, sl, sizeof sl), sx_shape_str(labels, sy, sizeof sy));
        return NULL;
    }
    int64_t N = logits->shape[0], C = logits->shape[1];
    sx_tensor *onehot = sx_tensor_zeros(2, logits->shape);
    if (!onehot) return NULL;
    float *oh = sx_tensor_data(onehot);
    for (int64_t i = 0; i < N; i++) {
        float y = sx_tensor_get(labels, &i);
        if (!(y >= 0 && y < (float)C) || y != floorf(y)) {
            sx_fail(SX_EINVAL, "cross_entropy: label %g of sample %lld is not a class index in [0, %lld)", y,
                    (long long)i, (long long)C);
            sx_tensor_free(onehot);
            return NULL;
        }
        oh[i * C + (int64_t)y] = 1.0f;
    }
    sx_tensor *t[3] = {NULL, NULL, NULL};
    t[0] = sx_log_softmax(logits, 1);
    t[1] = t[0] ? sx_mul(t[0], onehot) : NULL;
    t[2] = t[1] ? sx_sum(t[1], 0, NULL, false) : NULL;
    sx_tensor *o = t[2] ? sx_mul_scalar(t[2], -1.0f / (float)N) : NULL;
    drop(3, t);
    sx_tensor_free(onehot);
    return o;
}

sx_tensor *sx_kl_div(sx_tensor *log_p, sx_tensor *log_q)
{
    if (!sx_check_arg("kl_div", 1, log_p) || !sx_check_arg("kl_div", 2, log_q)) return NULL;
    if (!sx_check_same_shape("kl_div", log_p, log_q)) return NULL;
    if (log_p->ndim < 1 || log_p->shape[0] == 0) {
        sx_fail(SX_EINVAL, "kl_div: expects [N, C] log-probabilities with N > 0");
        return NULL;
    }
    int64_t N = log_p->shape[0];
    sx_tensor *t[4] = {NULL, NULL, NULL, NULL};
    t[0] = sx_exp(log_p);
    t[1] = t[0] ? sx_sub(log_p, log_q) : NULL;
    t[2] = t[1] ? sx_mul(t[0], t[1]) : NULL;
    t[3] = t[2] ? sx_sum(t[2], 0, NULL, false) : NULL;
    sx_tensor *o = t[3] ? sx_mul_scalar(t[3], 1.0f / (float)N) : NULL;
    drop(4, t);
    return o;
}

static sx_tensor *mean_of(sx_tensor *(*f)(sx_tensor *), const char *fn, sx_tensor *a, sx_tensor *b)
{
    if (!sx_check_arg(fn, 1, a) || !sx_check_arg(fn, 2, b) || !sx_check_same_shape(fn, a, b)) return NULL;
    sx_tensor *d = sx_sub(a, b);
    sx_tensor *e = d ? f(d) : NULL;
    sx_tensor *o = e ? sx_mean(e, 0, NULL, false) : NULL;
    sx_tensor_free(d);
    sx_tensor_free(e);
    return o;
}

sx_tensor *sx_l1_loss(sx_tensor *a, sx_tensor *b) { return mean_of(sx_abs, "l1_loss", a, b); }

sx_tensor *sx_mse_loss(sx_tensor *a, sx_tensor *b) { return mean_of(sx_square, "mse_loss", a, b); }

/* ---------------------------------------------------------------- pooling, dropout */

/* x [N,C,H,W] -> windows [N,C,H/k,W/k,k*k] (a copy; differentiable). */
static sx_tensor *windows(const char *fn, sx_tensor *x, int k)
{
    if (!sx_check_arg(fn, 1, x)) return NULL;
    char s[96];
    if (x->ndim != 4 || k < 1 || x->shape[2] % k || x->shape[3] % k) {
        sx_fail(SX_EINVAL, "%s: expects [N, C, H, W] with H and W multiples of %d, got %s", fn, k,
                sx_shape_str(x, s, sizeof s));
        return NULL;
    }
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2] / k, W = x->shape[3] / k;
    sx_tensor *a = sx_reshape(x, 6, (int64_t[]){N, C, H, k, W, k});
    sx_tensor *b = a ? sx_permute(a, (int[]){0, 1, 2, 4, 3, 5}) : NULL;
    sx_tensor *c = b ? sx_reshape(b, 5, (int64_t[]){N, C, H, W, (int64_t)k * k}) : NULL;
    sx_tensor_free(a);
    sx_tensor_free(b);
    return c;
}

/* The max over each k x k window, computed directly: the path when no graph
 * is recorded (inference: the classifier in AttFind and evaluation). Same
 * result as the differentiable path below (a max is exact). */
typedef struct pool_ctx {
    const float *x;
    float *o;
    int64_t H, W, k; /* output H, W */
} pool_ctx;

static void max_pool_planes(void *vc, int64_t begin, int64_t end, int thread)
{
    const pool_ctx *c = vc;
    const int64_t H = c->H, W = c->W, k = c->k, IW = W * k;
    for (int64_t p = begin; p < end; p++) {
        const float *in = c->x + p * H * k * IW;
        float *out = c->o + p * H * W;
        for (int64_t i = 0; i < H; i++)
            for (int64_t j = 0; j < W; j++) {
                const float *w = in + i * k * IW + j * k;
                float m = w[0];
                for (int64_t a = 0; a < k; a++)
                    for (int64_t b = 0; b < k; b++) {
                        float v = w[a * IW + b];
                        if (v > m || v != v) m = v; /* NaN propagates, as sx_max */
                    }
                out[i * W + j] = m;
            }
    }
}

sx_tensor *sx_max_pool2d(sx_tensor *x, int k)
{
    if (x && x->ndim == 4 && k >= 1 && x->shape[2] % k == 0 && x->shape[3] % k == 0 &&
        !(sx_grad_enabled() && x->requires_grad)) {
        sx_tensor *xc = sx_contiguous(x);
        if (!xc) return NULL;
        int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2] / k, W = x->shape[3] / k;
        sx_tensor *o = sx_tensor_empty(4, (int64_t[]){N, C, H, W});
        if (o) {
            pool_ctx c = {sx_tensor_data(xc), sx_tensor_data(o), H, W, k};
            sx_parallel_for(N * C, 8, max_pool_planes, &c);
        }
        sx_tensor_free(xc);
        return o;
    }
    sx_tensor *w = windows("max_pool2d", x, k);
    sx_tensor *o = w ? sx_max(w, 4, false) : NULL;
    sx_tensor_free(w);
    return o;
}

sx_tensor *sx_avg_pool2d(sx_tensor *x, int k)
{
    sx_tensor *w = windows("avg_pool2d", x, k);
    int dim = 4;
    sx_tensor *o = w ? sx_mean(w, 1, &dim, false) : NULL;
    sx_tensor_free(w);
    return o;
}

sx_tensor *sx_dropout(sx_tensor *x, float p)
{
    if (!sx_check_arg("dropout", 1, x)) return NULL;
    if (!(p >= 0.0f && p < 1.0f)) {
        sx_fail(SX_EINVAL, "dropout: probability %g outside [0, 1)", p);
        return NULL;
    }
    if (p == 0.0f) return sx_tensor_retain(x);
    sx_tensor *mask = sx_tensor_empty(x->ndim, x->shape);
    if (!mask) return NULL;
    float *m = sx_tensor_data(mask), keep = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < sx_tensor_numel(mask); i++) m[i] = sx_rng_uniform() < p ? 0.0f : keep;
    sx_tensor *o = sx_mul(x, mask);
    sx_tensor_free(mask);
    return o;
}
