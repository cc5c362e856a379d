/*
 * lib/ops/reduce.c — sum (and mean), max over dimensions, sum_to (the adjoint
 * of broadcasting), argmax.
 *
 * Reductions walk the (contiguous) input as runs along its last dimension:
 * a reduced last dimension folds each run into one output element, a kept one
 * adds the run into a run of the output. Accumulation is in double.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"
#include "stylex/ops.h"

/* Output shape with reduced dims set to 1 (keepdim form); mask[d] = reduced. */
static bool reduce_setup(const char *fn, const sx_tensor *x, int n_dims, const int *dims, bool *mask,
                         int64_t *kshape)
{
    for (int d = 0; d < x->ndim; d++) mask[d] = n_dims == 0;
    for (int i = 0; i < n_dims; i++) {
        int d = sx_norm_dim(fn, dims[i], x->ndim);
        if (d < 0) return false;
        mask[d] = true;
    }
    for (int d = 0; d < x->ndim; d++) kshape[d] = mask[d] ? 1 : x->shape[d];
    return true;
}

/* Drops the reduced dims from a keepdim-form tensor (a view; not recorded). */
static int squeeze_shape(int ndim, const int64_t *kshape, const bool *mask, int64_t *out)
{
    int n = 0;
    for (int d = 0; d < ndim; d++)
        if (!mask[d]) out[n++] = kshape[d];
    return n;
}

/* Sums contiguous x into acc (keepdim shape, contiguous, zeroed). */
static void sum_kernel(const sx_tensor *x, const bool *mask, const int64_t *kshape, double *acc)
{
    int nd = x->ndim;
    const float *p = sx_tensor_data(x);
    int64_t numel = sx_tensor_numel(x);
    if (numel == 0) return;
    if (nd == 0) {
        acc[0] += p[0];
        return;
    }
    int64_t kstride[SX_MAX_DIMS];
    sx_contiguous_strides(nd, kshape, kstride);
    int last = nd - 1;
    int64_t len = x->shape[last];
    int64_t idx[SX_MAX_DIMS] = {0};
    for (int64_t done = 0; done < numel; done += len, p += len) {
        int64_t off = 0;
        for (int d = 0; d < last; d++)
            if (!mask[d]) off += idx[d] * kstride[d];
        if (mask[last]) {
            double s = 0;
            for (int64_t i = 0; i < len; i++) s += p[i];
            acc[off] += s;
        } else {
            double *a = acc + off;
            for (int64_t i = 0; i < len; i++) a[i] += p[i];
        }
        for (int d = last - 1; d >= 0; d--) {
            if (++idx[d] < x->shape[d]) break;
            idx[d] = 0;
        }
    }
}

/* The sum in keepdim form, not recorded. */
static sx_tensor *sum_compute(sx_tensor *x, const bool *mask, const int64_t *kshape)
{
    sx_tensor *xc = sx_tensor_as_contiguous(x);
    if (!xc) return NULL;
    sx_tensor *o = sx_tensor_empty(x->ndim, kshape);
    int64_t on = o ? sx_tensor_numel(o) : 0;
    double *acc = o ? calloc((size_t)on + 1, sizeof *acc) : NULL;
    if (o && !acc) {
        sx_fail(SX_ENOMEM, "sum: out of memory");
        sx_tensor_free(o);
        o = NULL;
    }
    if (o) {
        sum_kernel(xc, mask, kshape, acc);
        float *q = sx_tensor_data(o);
        for (int64_t i = 0; i < on; i++) q[i] = (float)acc[i];
    }
    free(acc);
    sx_tensor_free(xc);
    return o;
}

sx_tensor *sx_sum(sx_tensor *x, int n_dims, const int *dims, bool keepdim)
{
    if (!sx_check_arg("sum", 1, x)) return NULL;
    bool mask[SX_MAX_DIMS];
    int64_t kshape[SX_MAX_DIMS], shape[SX_MAX_DIMS];
    if (!reduce_setup("sum", x, n_dims, dims, mask, kshape)) return NULL;
    sx_tensor *o = sum_compute(x, mask, kshape);
    if (o && !keepdim) {
        int n = squeeze_shape(x->ndim, kshape, mask, shape);
        o->ndim = n;
        for (int d = 0; d < n; d++) o->shape[d] = shape[d];
        sx_contiguous_strides(n, o->shape, o->stride);
    }
    sx_node *node = sx_record(&o, SX_OP_SUM, 1, &x);
    if (node)
        for (int d = 0; d < x->ndim; d++) node->iattr[d] = mask[d];
    return o;
}

sx_status sx_sum_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    /* g (keepdim or squeezed) reshaped to the keepdim form, then broadcast */
    sx_tensor *x = n->inputs[0];
    int64_t kshape[SX_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) kshape[d] = n->iattr[d] ? 1 : x->shape[d];
    sx_tensor *r = sx_reshape(g, x->ndim, kshape);
    gi[0] = r ? sx_expand(r, x->ndim, x->shape) : NULL;
    sx_tensor_free(r);
    return gi[0] ? SX_OK : sx_last_status();
}

sx_tensor *sx_mean(sx_tensor *x, int n_dims, const int *dims, bool keepdim)
{
    sx_tensor *s = sx_sum(x, n_dims, dims, keepdim);
    if (!s) return NULL;
    int64_t count = sx_tensor_numel(x) / (sx_tensor_numel(s) > 0 ? sx_tensor_numel(s) : 1);
    sx_tensor *o = sx_mul_scalar(s, count > 0 ? 1.0f / (float)count : NAN);
    sx_tensor_free(s);
    return o;
}

sx_tensor *sx_sum_to(sx_tensor *x, int ndim, const int64_t *shape)
{
    if (!sx_check_arg("sum_to", 1, x)) return NULL;
    if (ndim > x->ndim) {
        char s[96];
        sx_fail(SX_EINVAL, "sum_to: cannot reduce %s to %d dimensions", sx_shape_str(x, s, sizeof s), ndim);
        return NULL;
    }
    int dims[SX_MAX_DIMS], nd = 0, lead = x->ndim - ndim;
    for (int d = 0; d < x->ndim; d++) {
        if (d < lead) dims[nd++] = d;
        else if (shape[d - lead] == 1 && x->shape[d] != 1) dims[nd++] = d;
        else if (shape[d - lead] != x->shape[d]) {
            char s[96];
            sx_fail(SX_EINVAL, "sum_to: %s does not broadcast from target size %lld in dimension %d",
                    sx_shape_str(x, s, sizeof s), (long long)shape[d - lead], d);
            return NULL;
        }
    }
    if (nd == 0) return sx_reshape(x, ndim, shape);
    sx_tensor *s = sx_sum(x, nd, dims, true);
    if (!s) return NULL;
    sx_tensor *o = sx_reshape(s, ndim, shape);
    sx_tensor_free(s);
    return o;
}

/* ---------------------------------------------------------------- max, argmax */

/* For contiguous x viewed as [outer, len, inner]: first argmax along the middle. */
static void argmax_kernel(const float *p, int64_t outer, int64_t len, int64_t inner, float *val, int64_t *arg)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *q = p + o * len * inner + i;
            float best = q[0];
            int64_t bi = 0;
            for (int64_t k = 1; k < len; k++) {
                float v = q[k * inner];
                if (v > best || (v != v && best == best)) {
                    best = v;
                    bi = k;
                }
            }
            val[o * inner + i] = best;
            arg[o * inner + i] = bi;
        }
}

/* The checks and the loop geometry of max and argmax along dim; returns x
 * as a contiguous tensor (a new reference), or NULL with the error set. */
static sx_tensor *max_setup(const char *fn, sx_tensor *x, int dim, int *d, int64_t *outer, int64_t *len,
                            int64_t *inner)
{
    if (!sx_check_arg(fn, 1, x)) return NULL;
    if (x->ndim == 0) {
        sx_fail(SX_EINVAL, "%s: needs at least one dimension", fn);
        return NULL;
    }
    *d = sx_norm_dim(fn, dim, x->ndim);
    if (*d < 0) return NULL;
    if (x->shape[*d] == 0) {
        sx_fail(SX_EINVAL, "%s: dimension %d is empty", fn, dim);
        return NULL;
    }
    *outer = sx_shape_numel(*d, x->shape);
    *len = x->shape[*d];
    *inner = sx_shape_numel(x->ndim - *d - 1, x->shape + *d + 1);
    return sx_tensor_as_contiguous(x);
}

sx_tensor *sx_max(sx_tensor *x, int dim, bool keepdim)
{
    int d;
    int64_t outer, len, inner;
    sx_tensor *xc = max_setup("max", x, dim, &d, &outer, &len, &inner);
    if (!xc) return NULL;
    int64_t shape[SX_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = i == d ? 1 : x->shape[i];
    sx_tensor *o = sx_tensor_empty(x->ndim, shape);
    int64_t *arg = malloc((size_t)(outer * inner + 1) * sizeof *arg);
    sx_tensor *mask = NULL;
    if (o && arg) {
        argmax_kernel(sx_tensor_data(xc), outer, len, inner, sx_tensor_data(o), arg);
        if (sx_needs_record(1, &x)) {
            mask = sx_tensor_zeros(x->ndim, x->shape);
            if (mask) {
                float *m = sx_tensor_data(mask);
                for (int64_t a = 0; a < outer; a++)
                    for (int64_t i = 0; i < inner; i++) m[(a * len + arg[a * inner + i]) * inner + i] = 1.0f;
            }
        }
    } else if (o) {
        sx_fail(SX_ENOMEM, "max: out of memory");
    }
    free(arg);
    sx_tensor_free(xc);
    if (o && (!arg || (sx_needs_record(1, &x) && !mask))) {
        sx_tensor_free(o);
        sx_tensor_free(mask);
        return NULL;
    }
    if (o && !keepdim) {
        for (int i = d; i < x->ndim - 1; i++) o->shape[i] = o->shape[i + 1];
        o->ndim--;
        sx_contiguous_strides(o->ndim, o->shape, o->stride);
    }
    sx_node *node = sx_record(&o, SX_OP_MAX, 1, &x);
    if (node) {
        node->iattr[0] = d;
        sx_node_save(node, 0, mask);
    }
    sx_tensor_free(mask);
    return o;
}

sx_status sx_max_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    sx_tensor *x = n->inputs[0];
    int d = (int)n->iattr[0];
    int64_t kshape[SX_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) kshape[i] = i == d ? 1 : x->shape[i];
    sx_tensor *r = sx_reshape(g, x->ndim, kshape);
    gi[0] = r ? sx_mul(r, n->saved[0]) : NULL;
    sx_tensor_free(r);
    return gi[0] ? SX_OK : sx_last_status();
}

sx_tensor *sx_argmax(sx_tensor *x, int dim)
{
    int d;
    int64_t outer, len, inner;
    sx_tensor *xc = max_setup("argmax", x, dim, &d, &outer, &len, &inner);
    if (!xc) return NULL;
    int64_t shape[SX_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < x->ndim; i++)
        if (i != d) shape[nd++] = x->shape[i];
    sx_tensor *o = sx_tensor_empty(nd, shape);
    float *val = malloc((size_t)(outer * inner + 1) * sizeof *val);
    int64_t *arg = malloc((size_t)(outer * inner + 1) * sizeof *arg);
    if (o && val && arg) {
        argmax_kernel(sx_tensor_data(xc), outer, len, inner, val, arg);
        float *q = sx_tensor_data(o);
        for (int64_t i = 0; i < outer * inner; i++) q[i] = (float)arg[i];
    } else if (o) {
        sx_fail(SX_ENOMEM, "argmax: out of memory");
        sx_tensor_free(o);
        o = NULL;
    }
    free(val);
    free(arg);
    sx_tensor_free(xc);
    return o;
}

/* ---------------------------------------------------------------- min, argmin */

/* Written over max of -x, so their gradients are max's (to the first minimum). */
sx_tensor *sx_min(sx_tensor *x, int dim, bool keepdim)
{
    if (!sx_check_arg("min", 1, x)) return NULL;
    sx_tensor *n = sx_neg(x);
    sx_tensor *m = n ? sx_max(n, dim, keepdim) : NULL;
    sx_tensor *o = m ? sx_neg(m) : NULL;
    sx_tensor_free(n);
    sx_tensor_free(m);
    return o;
}

sx_tensor *sx_argmin(sx_tensor *x, int dim)
{
    if (!sx_check_arg("argmin", 1, x)) return NULL;
    bool prev = sx_set_grad_enabled(false);
    sx_tensor *n = sx_neg(x);
    sx_tensor *o = n ? sx_argmax(n, dim) : NULL;
    sx_set_grad_enabled(prev);
    sx_tensor_free(n);
    return o;
}

/* ---------------------------------------------------------------- var, std */

/* sum((x - mean)^2) / (count - unbiased), made of differentiable ops. */
sx_tensor *sx_var(sx_tensor *x, int n_dims, const int *dims, bool keepdim, bool unbiased)
{
    if (!sx_check_arg("var", 1, x)) return NULL;
    sx_tensor *m = sx_mean(x, n_dims, dims, true);
    if (!m) return NULL;
    int64_t count = sx_tensor_numel(x) / (sx_tensor_numel(m) > 0 ? sx_tensor_numel(m) : 1);
    sx_tensor *d = sx_sub(x, m);
    sx_tensor *d2 = d ? sx_square(d) : NULL;
    sx_tensor *s = d2 ? sx_sum(d2, n_dims, dims, keepdim) : NULL;
    int64_t denom = count - (unbiased ? 1 : 0);
    sx_tensor *o = s ? sx_mul_scalar(s, denom > 0 ? 1.0f / (float)denom : NAN) : NULL;
    sx_tensor_free(m);
    sx_tensor_free(d);
    sx_tensor_free(d2);
    sx_tensor_free(s);
    return o;
}

sx_tensor *sx_std(sx_tensor *x, int n_dims, const int *dims, bool keepdim, bool unbiased)
{
    if (!sx_check_arg("std", 1, x)) return NULL;
    sx_tensor *v = sx_var(x, n_dims, dims, keepdim, unbiased);
    sx_tensor *o = v ? sx_sqrt(v) : NULL;
    sx_tensor_free(v);
    return o;
}
