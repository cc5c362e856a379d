/*
 * stylex/ops.h — the differentiable ops.
 *
 * Every function returns a new reference or NULL with sx_last_error() set,
 * and records itself in the autograd graph when grad mode is on and an input
 * requires grad. Inputs are borrowed. Binary elementwise ops broadcast like
 * NumPy. Dimensions are 0-based; a negative dimension counts from the end.
 */
#ifndef STYLEX_OPS_H
#define STYLEX_OPS_H

#include "stylex/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- elementwise, broadcasting */
sx_tensor *sx_add(sx_tensor *a, sx_tensor *b);
sx_tensor *sx_sub(sx_tensor *a, sx_tensor *b);
sx_tensor *sx_mul(sx_tensor *a, sx_tensor *b);
sx_tensor *sx_div(sx_tensor *a, sx_tensor *b);
sx_tensor *sx_add_scalar(sx_tensor *a, float s);   /* a + s */
sx_tensor *sx_mul_scalar(sx_tensor *a, float s);   /* a * s */
sx_tensor *sx_pow_scalar(sx_tensor *a, float p);   /* a ^ p */
sx_tensor *sx_rdiv_scalar(float s, sx_tensor *a);  /* s / a */

/* ---- elementwise, unary */
sx_tensor *sx_neg(sx_tensor *x);
sx_tensor *sx_abs(sx_tensor *x);
sx_tensor *sx_exp(sx_tensor *x);
sx_tensor *sx_log(sx_tensor *x);
sx_tensor *sx_sqrt(sx_tensor *x);
sx_tensor *sx_rsqrt(sx_tensor *x);
sx_tensor *sx_square(sx_tensor *x);
/* x * rsqrt(r(x^2) + eps), r the sum (mean false) or the mean over dimension 1,
 * kept: unit channel vectors (sum) or normalize_2nd_moment (mean). */
sx_tensor *sx_normalize_dim1(sx_tensor *x, bool mean, float eps);
sx_tensor *sx_relu(sx_tensor *x);
sx_tensor *sx_leaky_relu(sx_tensor *x, float slope);
sx_tensor *sx_sigmoid(sx_tensor *x);
sx_tensor *sx_tanh(sx_tensor *x);
sx_tensor *sx_softplus(sx_tensor *x);   /* log(1 + exp(x)), stable */
sx_tensor *sx_sin(sx_tensor *x);
sx_tensor *sx_cos(sx_tensor *x);
/* min(max(x, lo), hi); lo <= hi (use -INFINITY / INFINITY for one side). The
 * gradient passes where lo <= x <= hi. NaN stays NaN. */
sx_tensor *sx_clamp(sx_tensor *x, float lo, float hi);
/* a where mask != 0, else b; the three broadcast together. mask is a
 * constant (no gradient); a and b get theirs where they were chosen. */
sx_tensor *sx_where(sx_tensor *mask, sx_tensor *a, sx_tensor *b);

/* ---- not differentiable: results are constants */
sx_tensor *sx_gt_scalar(sx_tensor *x, float s);     /* 1 where x > s, else 0 */
sx_tensor *sx_argmax(sx_tensor *x, int dim);        /* indices as floats, dim removed */
sx_tensor *sx_argmin(sx_tensor *x, int dim);        /* the same for the first minimum */
/* Comparisons: float masks, 1 where `a op b` holds, else 0; broadcasting. */
typedef enum sx_compare_op { SX_CMP_LT, SX_CMP_LE, SX_CMP_GT, SX_CMP_GE, SX_CMP_EQ, SX_CMP_NE } sx_compare_op;
sx_tensor *sx_compare(sx_tensor *a, sx_compare_op op, sx_tensor *b);
sx_tensor *sx_compare_scalar(sx_tensor *x, sx_compare_op op, float s);

/* ---- reductions. dims: n_dims entries (n_dims 0 = all dimensions). */
sx_tensor *sx_sum(sx_tensor *x, int n_dims, const int *dims, bool keepdim);
sx_tensor *sx_mean(sx_tensor *x, int n_dims, const int *dims, bool keepdim);
sx_tensor *sx_max(sx_tensor *x, int dim, bool keepdim);  /* values; gradient to the first maximum */
sx_tensor *sx_min(sx_tensor *x, int dim, bool keepdim);  /* values; gradient to the first minimum */
/* Variance and standard deviation over dims (n_dims 0: all), divided by
 * count - 1 when unbiased (PyTorch's default), else by count. */
sx_tensor *sx_var(sx_tensor *x, int n_dims, const int *dims, bool keepdim, bool unbiased);
sx_tensor *sx_std(sx_tensor *x, int n_dims, const int *dims, bool keepdim, bool unbiased);
/* Sums x over broadcast dimensions down to `shape` (the adjoint of expand). */
sx_tensor *sx_sum_to(sx_tensor *x, int ndim, const int64_t *shape);

/* ---- shape. Views share storage with their input where possible. */
sx_tensor *sx_reshape(sx_tensor *x, int ndim, const int64_t *shape);  /* one -1 allowed */
/* reshape that must be a view: SX_EINVAL for a non-contiguous x. */
sx_tensor *sx_view(sx_tensor *x, int ndim, const int64_t *shape);
sx_tensor *sx_unsqueeze(sx_tensor *x, int dim);        /* new size-1 dimension at dim (0 .. ndim) */
sx_tensor *sx_squeeze(sx_tensor *x, int dim);          /* drops dim if its size is 1 (else x as is) */
sx_tensor *sx_squeeze_all(sx_tensor *x);               /* drops every size-1 dimension */
sx_tensor *sx_flatten(sx_tensor *x, int start, int end); /* merges dims start..end (inclusive) */
/* x[index] along dim (0-based), the dimension removed: always a view. */
sx_tensor *sx_select(sx_tensor *x, int dim, int64_t index);
sx_tensor *sx_permute(sx_tensor *x, const int *perm);                 /* perm has x->ndim entries */
sx_tensor *sx_transpose(sx_tensor *x, int d0, int d1);
sx_tensor *sx_expand(sx_tensor *x, int ndim, const int64_t *shape);   /* -1 keeps a size */
sx_tensor *sx_narrow(sx_tensor *x, int dim, int64_t start, int64_t length);
/* Zeros of `ndim, shape` with x written at [start, start+len) of dim (adjoint of narrow). */
sx_tensor *sx_narrow_scatter(sx_tensor *x, int ndim, const int64_t *shape, int dim, int64_t start);
sx_tensor *sx_cat(int n, sx_tensor *const *xs, int dim);
sx_tensor *sx_stack(int n, sx_tensor *const *xs, int dim);
sx_tensor *sx_index_select(sx_tensor *x, int dim, int64_t n, const int64_t *index);
/* Zeros of size `size` along dim (other dims from x), rows x[k] added at index[k]. */
sx_tensor *sx_index_add(sx_tensor *x, int dim, int64_t size, int64_t n, const int64_t *index);

/* ---- linear algebra */
/* [M,K]x[K,N] -> [M,N]; [B,M,K]x[B,K,N] -> [B,M,N]. */
sx_tensor *sx_matmul(sx_tensor *a, sx_tensor *b);
/* x [..., in] , w [out, in], b [out] or NULL -> [..., out] */
sx_tensor *sx_linear(sx_tensor *x, sx_tensor *w, sx_tensor *b);

/* ---- convolution family (NCHW). Closed under differentiation. */
typedef struct sx_conv2d_opts {
    int stride[2];          /* y, x; 0 means 1 */
    int padding[2];         /* y, x */
    int groups;             /* 0 means 1 */
    int output_padding[2];  /* conv_transpose2d only */
} sx_conv2d_opts;
/* x [N,Cin,H,W], w [Cout,Cin/groups,kh,kw], b [Cout] or NULL */
sx_tensor *sx_conv2d(sx_tensor *x, sx_tensor *w, sx_tensor *b, const sx_conv2d_opts *o);
/* x [N,Cin,H,W], w [Cin,Cout/groups,kh,kw], b [Cout] or NULL; the adjoint of conv2d in x */
sx_tensor *sx_conv_transpose2d(sx_tensor *x, sx_tensor *w, sx_tensor *b, const sx_conv2d_opts *o);
/* The gradient of conv2d with respect to its weight: x [N,Cin,H,W], gy [N,Cout,Ho,Wo]
 * -> [Cout,Cin/groups,kh,kw]; the adjoint of conv2d in w. */
sx_tensor *sx_conv2d_weight(sx_tensor *x, sx_tensor *gy, int kh, int kw, const sx_conv2d_opts *o);

/* ---- FIR resampling (StyleGAN2's upfirdn2d): zero-insert upsample by `up`,
 * pad by pad = {x0, x1, y0, y1} (negative crops), correlate each channel with
 * the 2-D filter f [fh, fw], keep every `down`-th pixel. f gets no gradient. */
sx_tensor *sx_upfirdn2d(sx_tensor *x, sx_tensor *f, int up, int down, const int pad[4]);

/* ---- pooling (k x k windows, stride k; H and W must be multiples of k) */
sx_tensor *sx_max_pool2d(sx_tensor *x, int k);
sx_tensor *sx_avg_pool2d(sx_tensor *x, int k);
/* Zeroes each element with probability p (global RNG) and scales the rest by 1/(1-p). */
sx_tensor *sx_dropout(sx_tensor *x, float p);

/* ---- classification and losses (class dimension is the last) */
sx_tensor *sx_softmax(sx_tensor *x, int dim);
sx_tensor *sx_log_softmax(sx_tensor *x, int dim);
/* logits [N,C], labels [N] holding class indices as floats; mean over N */
sx_tensor *sx_cross_entropy(sx_tensor *logits, sx_tensor *labels);
/* KL(P || Q) from log-probabilities [N,C]: mean over N of sum_c p (log p - log q) */
sx_tensor *sx_kl_div(sx_tensor *log_p, sx_tensor *log_q);
sx_tensor *sx_l1_loss(sx_tensor *a, sx_tensor *b);   /* mean |a - b| */
sx_tensor *sx_mse_loss(sx_tensor *a, sx_tensor *b);  /* mean (a - b)^2 */

#ifdef __cplusplus
}
#endif
#endif
