/*
 * lib/models/onnx_shape.c — the shape arithmetic of ONNX graphs: what
 * torch.onnx writes around view(x.size(0), -1) and F.pad (Shape, Gather,
 * Concat of shapes, Unsqueeze, Slice, ...), and Reshape, Flatten,
 * Transpose, Cast, ReduceMean.
 *
 * Integers are float tensors (exact to 2^24), so a shape computed at run
 * time is a value like any other; these ops are views, gathers and copies,
 * differentiable where they touch activations. Called from onnx_run.c's
 * dispatch (onnx_internal.h).
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"
#include "onnx_internal.h"
#include "stylex/ops.h"

int onnx_read_ints(const node *n, sx_tensor **v, int k, const char *what, int64_t *out, int cap)
{
    sx_tensor *t = n->n_in > k && n->in[k] >= 0 ? v[n->in[k]] : NULL;
    if (!t) {
        onnx_node_fail(n, "its %s input is missing", what);
        return -1;
    }
    int64_t m = sx_tensor_numel(t);
    if (m > cap || t->ndim > 1) {
        onnx_node_fail(n, "its %s has %" PRId64 " values in %d dimensions (at most %d, 1-d)", what, m, t->ndim, cap);
        return -1;
    }
    float buf[4 * MAX_DIM];
    sx_tensor_copy_to(t, buf);
    for (int64_t i = 0; i < m; i++) {
        /* INT64_MAX / INT64_MIN (Slice's "to the end") arrive as huge floats */
        double d = buf[i];
        out[i] = d >= 9e18 ? INT64_MAX : d <= -9e18 ? INT64_MIN : (int64_t)llround(d);
    }
    return (int)m;
}

sx_tensor *onnx_run_reshape(const onnx_graph *g, const node *n, sx_tensor **v)
{
    sx_tensor *x = v[n->in[0]];
    int64_t shape[MAX_DIM];
    int m = onnx_read_ints(n, v, 1, "shape", shape, MAX_DIM);
    if (m < 0) return NULL;
    (void)g;
    for (int d = 0; d < m; d++) {
        if (shape[d] == 0 && !n->allow_zero) {
            if (d >= x->ndim) {
                onnx_node_fail(n, "shape entry %d is 0 (copy) but the input has %d dimensions", d, x->ndim);
                return NULL;
            }
            shape[d] = x->shape[d];
        }
    }
    sx_tensor *xc = sx_contiguous(x), *y = xc ? sx_reshape(xc, m, shape) : NULL;
    sx_tensor_free(xc);
    return y;
}

sx_tensor *onnx_run_flatten(const node *n, sx_tensor *x)
{
    int axis = (int)(n->axis < 0 ? n->axis + x->ndim : n->axis);
    if (axis < 0 || axis > x->ndim) {
        onnx_node_fail(n, "axis %" PRId64 " of a %d-d tensor", n->axis, x->ndim);
        return NULL;
    }
    int64_t outer = 1;
    for (int d = 0; d < axis; d++) outer *= x->shape[d];
    sx_tensor *xc = sx_contiguous(x), *y = xc ? sx_reshape(xc, 2, (int64_t[]){outer, -1}) : NULL;
    sx_tensor_free(xc);
    return y;
}

sx_tensor *onnx_run_shape(const node *n, sx_tensor *x)
{
    int64_t lo = n->start < 0 ? n->start + x->ndim : n->start, hi = n->end < 0 ? n->end + x->ndim : n->end;
    if (hi > x->ndim) hi = x->ndim;
    if (lo < 0) lo = 0;
    int64_t m = hi > lo ? hi - lo : 0;
    float dims[MAX_DIM];
    for (int64_t d = 0; d < m; d++) dims[d] = (float)x->shape[lo + d];
    return sx_tensor_from_data(1, &m, dims);
}

/* The axes of (Un)Squeeze and ReduceMean: the attribute (before opset 13 /
 * 18) or input 1; normalised against rank. Returns the count or -1. */
static int read_axes(const node *n, sx_tensor **v, int rank, int64_t *axes)
{
    int m;
    if (n->has_list) {
        m = n->n_list;
        memcpy(axes, n->list, sizeof(int64_t) * (size_t)m);
    } else if (n->n_in > 1 && n->in[1] >= 0) {
        m = onnx_read_ints(n, v, 1, "axes", axes, MAX_DIM);
        if (m < 0) return -1;
    } else {
        return 0;
    }
    for (int i = 0; i < m; i++) {
        if (axes[i] < 0) axes[i] += rank;
        if (axes[i] < 0 || axes[i] >= rank) {
            onnx_node_fail(n, "axis %" PRId64 " out of range for rank %d", axes[i], rank);
            return -1;
        }
    }
    return m;
}

static bool has_axis(const int64_t *axes, int m, int64_t d)
{
    for (int i = 0; i < m; i++)
        if (axes[i] == d) return true;
    return false;
}

sx_tensor *onnx_run_unsqueeze(const node *n, sx_tensor **v, sx_tensor *x)
{
    int64_t axes[MAX_DIM];
    int m = n->has_list ? n->n_list : (n->n_in > 1 && n->in[1] >= 0 ? (int)sx_tensor_numel(v[n->in[1]]) : 0);
    int rank = x->ndim + m;
    if (m < 1 || rank > MAX_DIM || (m = read_axes(n, v, rank, axes)) < 0) {
        if (m >= 0) onnx_node_fail(n, "Unsqueeze needs 1 to %d axes", MAX_DIM - x->ndim);
        return NULL;
    }
    int64_t shape[MAX_DIM];
    for (int d = 0, k = 0; d < rank; d++) shape[d] = has_axis(axes, m, d) ? 1 : x->shape[k++];
    sx_tensor *xc = sx_contiguous(x), *y = xc ? sx_reshape(xc, rank, shape) : NULL;
    sx_tensor_free(xc);
    return y;
}

sx_tensor *onnx_run_squeeze(const node *n, sx_tensor **v, sx_tensor *x)
{
    int64_t axes[MAX_DIM], shape[MAX_DIM];
    int m = read_axes(n, v, x->ndim, axes), rank = 0;
    if (m < 0) return NULL;
    for (int d = 0; d < x->ndim; d++) {
        bool drop = m ? has_axis(axes, m, d) : x->shape[d] == 1;
        if (drop && x->shape[d] != 1) {
            onnx_node_fail(n, "cannot squeeze axis %d of size %" PRId64, d, x->shape[d]);
            return NULL;
        }
        if (!drop) shape[rank++] = x->shape[d];
    }
    sx_tensor *xc = sx_contiguous(x), *y = xc ? sx_reshape(xc, rank, shape) : NULL;
    sx_tensor_free(xc);
    return y;
}

sx_tensor *onnx_run_gather(const node *n, sx_tensor **v, sx_tensor *x)
{
    sx_tensor *it = v[n->in[1]];
    int axis = (int)(n->axis < 0 ? n->axis + x->ndim : n->axis);
    if (axis < 0 || axis >= x->ndim || it->ndim > 1) {
        onnx_node_fail(n, "Gather of %d-d indices along axis %" PRId64 " of a %d-d tensor (scalar or 1-d indices)", it->ndim,
                       n->axis, x->ndim);
        return NULL;
    }
    int64_t idx[4 * MAX_DIM];
    int m = onnx_read_ints(n, v, 1, "indices", idx, 4 * MAX_DIM);
    if (m < 0) return NULL;
    for (int i = 0; i < m; i++) {
        if (idx[i] < 0) idx[i] += x->shape[axis];
        if (idx[i] < 0 || idx[i] >= x->shape[axis]) {
            onnx_node_fail(n, "index out of range for size %" PRId64, x->shape[axis]);
            return NULL;
        }
    }
    sx_tensor *y = sx_index_select(x, axis, m, idx);
    if (y && it->ndim == 0) { /* a scalar index drops the axis */
        int64_t shape[MAX_DIM];
        int r = 0;
        for (int d = 0; d < x->ndim; d++)
            if (d != axis) shape[r++] = y->shape[d];
        onnx_step(&y, sx_reshape(y, r, shape));
    }
    return y;
}

sx_tensor *onnx_run_constant_of_shape(const node *n, sx_tensor **v)
{
    int64_t shape[MAX_DIM];
    int m = onnx_read_ints(n, v, 0, "shape", shape, MAX_DIM);
    if (m < 0) return NULL;
    int64_t total = 1;
    for (int d = 0; d < m; d++) {
        if (shape[d] < 0 || shape[d] > MAX_PER_IMAGE || (total *= shape[d]) > MAX_PER_IMAGE) {
            onnx_node_fail(n, "shape entry %" PRId64 " (too large or negative)", shape[d]);
            return NULL;
        }
    }
    return sx_tensor_full(m, shape, n->fill);
}

/* ONNX Slice: per axis start/end clamped as the spec says, any non-zero onnx_step. */
sx_tensor *onnx_run_slice(const node *n, sx_tensor **v, sx_tensor *x)
{
    int64_t st[MAX_DIM], en[MAX_DIM], ax[MAX_DIM], sp[MAX_DIM];
    int m = onnx_read_ints(n, v, 1, "starts", st, MAX_DIM);
    if (m < 0 || onnx_read_ints(n, v, 2, "ends", en, MAX_DIM) != m) {
        if (m >= 0 && !strstr(sx_last_error(), "onnx: node")) onnx_node_fail(n, "starts and ends differ in length");
        return NULL;
    }
    for (int i = 0; i < m; i++) {
        ax[i] = i;
        sp[i] = 1;
    }
    if (n->n_in > 3 && n->in[3] >= 0 && onnx_read_ints(n, v, 3, "axes", ax, MAX_DIM) != m) return NULL;
    if (n->n_in > 4 && n->in[4] >= 0 && onnx_read_ints(n, v, 4, "steps", sp, MAX_DIM) != m) return NULL;
    sx_tensor *h = sx_tensor_retain(x);
    for (int i = 0; i < m && h; i++) {
        int64_t a = ax[i] < 0 ? ax[i] + x->ndim : ax[i];
        if (a < 0 || a >= x->ndim || sp[i] == 0) {
            sx_tensor_free(h);
            onnx_node_fail(n, "axis %" PRId64 " or onnx_step %" PRId64 " out of range", ax[i], sp[i]);
            return NULL;
        }
        int64_t dim = x->shape[a], s0 = st[i], e0 = en[i];
        /* a onnx_step longer than the axis takes one element, as a onnx_step of the
         * axis' length does; clamping keeps -onnx_step and the counts in range */
        int64_t far = dim > 0 ? dim : 1;
        if (sp[i] > far) sp[i] = far;
        if (sp[i] < -far) sp[i] = -far;
        if (s0 < 0 && s0 != INT64_MIN) s0 += dim;
        if (e0 < 0 && e0 != INT64_MIN) e0 += dim;
        if (sp[i] > 0) {
            s0 = s0 < 0 ? 0 : s0 > dim ? dim : s0;
            e0 = e0 < 0 ? 0 : e0 > dim ? dim : e0;
        } else {
            s0 = s0 < 0 ? -1 : s0 > dim - 1 ? dim - 1 : s0;
            e0 = e0 < -1 ? -1 : e0 > dim - 1 ? dim - 1 : e0;
        }
        int64_t cnt = sp[i] > 0 ? (e0 > s0 ? (e0 - s0 + sp[i] - 1) / sp[i] : 0)
                                : (s0 > e0 ? (s0 - e0 - sp[i] - 1) / -sp[i] : 0);
        if (sp[i] == 1) {
            onnx_step(&h, sx_narrow(h, (int)a, s0, cnt));
            continue;
        }
        int64_t *idx = malloc(sizeof(int64_t) * (size_t)(cnt ? cnt : 1));
        if (!idx) {
            sx_tensor_free(h);
            sx_fail(SX_ENOMEM, "onnx: out of memory");
            return NULL;
        }
        for (int64_t k = 0; k < cnt; k++) idx[k] = s0 + k * sp[i];
        onnx_step(&h, sx_index_select(h, (int)a, cnt, idx));
        free(idx);
    }
    return h;
}

sx_tensor *onnx_run_transpose(const node *n, sx_tensor *x)
{
    int perm[MAX_DIM];
    for (int d = 0; d < x->ndim; d++) perm[d] = n->has_list ? (int)n->list[d] : x->ndim - 1 - d;
    if (n->has_list && n->n_list != x->ndim) {
        onnx_node_fail(n, "perm has %d entries for a %d-d tensor", n->n_list, x->ndim);
        return NULL;
    }
    sx_tensor *y = sx_permute(x, perm), *yc = y ? sx_contiguous(y) : NULL;
    sx_tensor_free(y);
    return yc;
}

/* Cast: to float keeps the values; to an integer type truncates toward zero
 * (a constant: no gradient); bool and strings are refused at load. */
sx_tensor *onnx_run_cast(const node *n, sx_tensor *x)
{
    if (!n->cast_to_int) return sx_tensor_retain(x);
    sx_tensor *y = sx_tensor_copy(x);
    if (!y) return NULL;
    float *d = sx_tensor_data(y);
    for (int64_t i = 0; i < sx_tensor_numel(y); i++) d[i] = truncf(d[i]);
    return y;
}

sx_tensor *onnx_run_reduce_mean(const node *n, sx_tensor **v, sx_tensor *x)
{
    int64_t axes[MAX_DIM];
    int m = read_axes(n, v, x->ndim, axes);
    if (m < 0) return NULL;
    int dims[MAX_DIM];
    for (int i = 0; i < m; i++) dims[i] = (int)axes[i];
    return sx_mean(x, m, dims, n->keepdims != 0);
}
