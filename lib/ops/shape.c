/*
 * lib/ops/shape.c — views and data movement: reshape, permute/transpose,
 * expand, narrow and its adjoint narrow_scatter, cat/stack, index_select and
 * its adjoint index_add, contiguous.
 *
 * reshape (of a contiguous tensor), permute, expand and narrow return views
 * sharing storage; the others copy. Each op's backward is its adjoint, made of
 * ops of this file, so second derivatives pass through.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"
#include "stylex/ops.h"

/* A one-input backward's result: gi[0] = r, and the status (r NULL: the error r's op set). */
static sx_status grad_in(sx_tensor **gi, sx_tensor *r)
{
    gi[0] = r;
    return r ? SX_OK : sx_last_status();
}

/* ---------------------------------------------------------------- reshape */

sx_tensor *sx_reshape(sx_tensor *x, int ndim, const int64_t *shape)
{
    if (!sx_check_arg("reshape", 1, x)) return NULL;
    if (ndim < 0 || ndim > SX_MAX_DIMS) {
        sx_fail(SX_EINVAL, "reshape: %d dimensions (at most %d)", ndim, SX_MAX_DIMS);
        return NULL;
    }
    int64_t s[SX_MAX_DIMS], known = 1, numel = sx_tensor_numel(x);
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        s[i] = shape[i];
        if (s[i] == -1 && infer < 0) infer = i;
        else if (s[i] < 0) {
            sx_fail(SX_EINVAL, "reshape: invalid size %lld in dimension %d", (long long)s[i], i);
            return NULL;
        } else if (s[i] > 0 && known > SX_MAX_NUMEL / s[i]) {
            sx_fail(SX_EINVAL, "reshape: target shape is too large");
            return NULL;
        } else known *= s[i];
    }
    if (infer >= 0) s[infer] = known > 0 ? numel / known : 0;
    if (!sx_shape_check("reshape", ndim, s)) return NULL;
    if (sx_shape_numel(ndim, s) != numel) {
        char b[96];
        sx_fail(SX_EINVAL, "reshape: cannot view %s (%lld elements) as a shape of %lld elements",
                sx_shape_str(x, b, sizeof b), (long long)numel, (long long)sx_shape_numel(ndim, s));
        return NULL;
    }
    int64_t st[SX_MAX_DIMS];
    sx_contiguous_strides(ndim, s, st);
    sx_tensor *o;
    if (sx_tensor_is_contiguous(x)) {
        o = sx_tensor_view(x, ndim, s, st, x->offset);
    } else {
        sx_tensor *c = sx_tensor_copy(x);
        if (!c) return NULL;
        o = sx_tensor_view(c, ndim, s, st, 0);
        sx_tensor_free(c);
    }
    sx_record(&o, SX_OP_RESHAPE, 1, &x);
    return o;
}

sx_status sx_reshape_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    sx_tensor *x = n->inputs[0];
    return grad_in(gi, sx_reshape(g, x->ndim, x->shape));
}

/* ---------------------------------------------------------------- permute */

sx_tensor *sx_permute(sx_tensor *x, const int *perm)
{
    if (!sx_check_arg("permute", 1, x)) return NULL;
    int64_t shape[SX_MAX_DIMS], stride[SX_MAX_DIMS];
    bool seen[SX_MAX_DIMS] = {false};
    int p[SX_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) {
        int d = sx_norm_dim("permute", perm[i], x->ndim);
        if (d < 0) return NULL;
        if (seen[d]) {
            sx_fail(SX_EINVAL, "permute: dimension %d appears twice", perm[i]);
            return NULL;
        }
        seen[d] = true;
        p[i] = d;
        shape[i] = x->shape[d];
        stride[i] = x->stride[d];
    }
    sx_tensor *o = sx_tensor_view(x, x->ndim, shape, stride, x->offset);
    sx_node *node = sx_record(&o, SX_OP_PERMUTE, 1, &x);
    if (node)
        for (int i = 0; i < x->ndim; i++) node->iattr[i] = p[i];
    return o;
}

sx_status sx_permute_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    int inv[SX_MAX_DIMS];
    for (int i = 0; i < g->ndim; i++) inv[n->iattr[i]] = i;
    return grad_in(gi, sx_permute(g, inv));
}

sx_tensor *sx_transpose(sx_tensor *x, int d0, int d1)
{
    if (!sx_check_arg("transpose", 1, x)) return NULL;
    int a = sx_norm_dim("transpose", d0, x->ndim), b = a < 0 ? -1 : sx_norm_dim("transpose", d1, x->ndim);
    if (a < 0 || b < 0) return NULL;
    int perm[SX_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) perm[i] = i;
    perm[a] = b;
    perm[b] = a;
    return sx_permute(x, perm);
}

/* ---------------------------------------------------------------- expand */

sx_tensor *sx_expand(sx_tensor *x, int ndim, const int64_t *shape)
{
    if (!sx_check_arg("expand", 1, x)) return NULL;
    if (ndim < x->ndim || ndim > SX_MAX_DIMS) {
        char b[96];
        sx_fail(SX_EINVAL, "expand: cannot expand %s to %d dimensions", sx_shape_str(x, b, sizeof b), ndim);
        return NULL;
    }
    int64_t s[SX_MAX_DIMS], st[SX_MAX_DIMS];
    int lead = ndim - x->ndim;
    for (int i = 0; i < ndim; i++) {
        int j = i - lead;
        int64_t have = j >= 0 ? x->shape[j] : 1;
        s[i] = shape[i] == -1 && j >= 0 ? have : shape[i];
        if (s[i] < 0 || (have != 1 && have != s[i])) {
            char b[96];
            sx_fail(SX_EINVAL, "expand: %s cannot expand to size %lld in dimension %d",
                    sx_shape_str(x, b, sizeof b), (long long)shape[i], i);
            return NULL;
        }
        st[i] = (j >= 0 && have == s[i]) ? x->stride[j] : 0;
    }
    if (!sx_shape_check("expand", ndim, s)) return NULL;
    sx_tensor *o = sx_tensor_view(x, ndim, s, st, x->offset);
    sx_record(&o, SX_OP_EXPAND, 1, &x);
    return o;
}

sx_status sx_expand_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    sx_tensor *x = n->inputs[0];
    return grad_in(gi, sx_sum_to(g, x->ndim, x->shape));
}

/* ---------------------------------------------------------------- narrow */

/* Records o = op(x) for narrow and narrow_scatter, each the other's
 * backward: the dimension and the start of the window. Returns o. */
static sx_tensor *record_window(sx_tensor *o, sx_op_kind op, sx_tensor *x, int d, int64_t start)
{
    sx_node *node = sx_record(&o, op, 1, &x);
    if (node) {
        node->iattr[0] = d;
        node->iattr[1] = start;
    }
    return o;
}

sx_tensor *sx_narrow(sx_tensor *x, int dim, int64_t start, int64_t length)
{
    if (!sx_check_arg("narrow", 1, x)) return NULL;
    int d = sx_norm_dim("narrow", dim, x->ndim);
    if (d < 0) return NULL;
    if (start < 0 || length < 0 || start + length > x->shape[d]) {
        sx_fail(SX_EINVAL, "narrow: range [%lld, %lld) outside dimension %d of size %lld", (long long)start,
                (long long)(start + length), dim, (long long)x->shape[d]);
        return NULL;
    }
    int64_t s[SX_MAX_DIMS];
    memcpy(s, x->shape, sizeof s);
    s[d] = length;
    sx_tensor *o = sx_tensor_view(x, x->ndim, s, x->stride, x->offset + start * x->stride[d]);
    return record_window(o, SX_OP_NARROW, x, d, start);
}

sx_status sx_narrow_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    sx_tensor *x = n->inputs[0];
    return grad_in(gi, sx_narrow_scatter(g, x->ndim, x->shape, (int)n->iattr[0], n->iattr[1]));
}

sx_tensor *sx_narrow_scatter(sx_tensor *x, int ndim, const int64_t *shape, int dim, int64_t start)
{
    if (!sx_check_arg("narrow_scatter", 1, x)) return NULL;
    if (ndim != x->ndim) {
        sx_fail(SX_EINVAL, "narrow_scatter: %d-d target for a %d-d input", ndim, x->ndim);
        return NULL;
    }
    int d = sx_norm_dim("narrow_scatter", dim, ndim);
    if (d < 0) return NULL;
    for (int i = 0; i < ndim; i++)
        if ((i != d && shape[i] != x->shape[i]) || (i == d && (start < 0 || start + x->shape[d] > shape[d]))) {
            char b[96];
            sx_fail(SX_EINVAL, "narrow_scatter: %s does not fit the target at dimension %d",
                    sx_shape_str(x, b, sizeof b), i);
            return NULL;
        }
    sx_tensor *o = sx_tensor_zeros(ndim, shape);
    if (!o) return NULL;
    int64_t s[SX_MAX_DIMS];
    memcpy(s, shape, (size_t)ndim * sizeof *s);
    s[d] = x->shape[d];
    sx_tensor *win = sx_tensor_view(o, ndim, s, o->stride, start * o->stride[d]);
    if (!win || sx_tensor_assign(win, x) != SX_OK) {
        sx_tensor_free(win);
        sx_tensor_free(o);
        return NULL;
    }
    sx_tensor_free(win);
    return record_window(o, SX_OP_NARROW_SCATTER, x, d, start);
}

sx_status sx_narrow_scatter_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    sx_tensor *x = n->inputs[0];
    int d = (int)n->iattr[0];
    return grad_in(gi, sx_narrow(g, d, n->iattr[1], x->shape[d]));
}

/* ---------------------------------------------------------------- cat, stack */

/* xs[0..n) for fn: at least one tensor, each live. */
static bool check_list(const char *fn, int n, sx_tensor *const *xs)
{
    if (n < 1 || !xs) {
        sx_fail(SX_EINVAL, "%s: needs at least one tensor", fn);
        return false;
    }
    for (int i = 0; i < n; i++)
        if (!sx_check_arg(fn, i + 1, xs[i])) return false;
    return true;
}

sx_tensor *sx_cat(int n, sx_tensor *const *xs, int dim)
{
    if (!check_list("cat", n, xs)) return NULL;
    int d = sx_norm_dim("cat", dim, xs[0]->ndim);
    if (d < 0) return NULL;
    int64_t shape[SX_MAX_DIMS];
    memcpy(shape, xs[0]->shape, sizeof shape);
    shape[d] = 0;
    for (int i = 0; i < n; i++) {
        bool ok = xs[i]->ndim == xs[0]->ndim;
        for (int k = 0; ok && k < xs[0]->ndim; k++)
            if (k != d && xs[i]->shape[k] != xs[0]->shape[k]) ok = false;
        if (!ok) {
            char a[96], b[96];
            sx_fail(SX_EINVAL, "cat: tensor #%d has shape %s, incompatible with %s along dimension %d", i + 1,
                    sx_shape_str(xs[i], a, sizeof a), sx_shape_str(xs[0], b, sizeof b), dim);
            return NULL;
        }
        shape[d] += xs[i]->shape[d];
    }
    sx_tensor *o = sx_tensor_empty(xs[0]->ndim, shape);
    if (!o) return NULL;
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        int64_t s[SX_MAX_DIMS];
        memcpy(s, shape, sizeof s);
        s[d] = xs[i]->shape[d];
        sx_tensor *win = sx_tensor_view(o, o->ndim, s, o->stride, at * o->stride[d]);
        sx_status st = win ? sx_tensor_assign(win, xs[i]) : sx_last_status();
        sx_tensor_free(win);
        if (st != SX_OK) {
            sx_tensor_free(o);
            return NULL;
        }
        at += xs[i]->shape[d];
    }
    sx_node *node = sx_record(&o, SX_OP_CAT, n, xs);
    if (node) node->iattr[0] = d;
    return o;
}

sx_status sx_cat_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    int d = (int)n->iattr[0];
    int64_t at = 0;
    for (int i = 0; i < n->n_inputs; i++) {
        int64_t len = n->inputs[i]->shape[d];
        if (sx_needs_grad(n->inputs[i])) {
            gi[i] = sx_narrow(g, d, at, len);
            if (!gi[i]) return sx_last_status();
        }
        at += len;
    }
    return SX_OK;
}

sx_tensor *sx_stack(int n, sx_tensor *const *xs, int dim)
{
    if (!check_list("stack", n, xs)) return NULL;
    int nd = xs[0]->ndim + 1;
    int d = sx_norm_dim("stack", dim, nd);
    if (d < 0) return NULL;
    if (nd > SX_MAX_DIMS) {
        sx_fail(SX_EINVAL, "stack: result would have more than %d dimensions", SX_MAX_DIMS);
        return NULL;
    }
    sx_tensor **us = calloc((size_t)n, sizeof *us);
    if (!us) {
        sx_fail(SX_ENOMEM, "stack: out of memory");
        return NULL;
    }
    sx_tensor *o = NULL;
    int i;
    for (i = 0; i < n; i++) {
        if (!sx_tensor_same_shape(xs[i], xs[0])) {
            char a[96], b[96];
            sx_fail(SX_EINVAL, "stack: tensor #%d has shape %s, tensor #1 has %s", i + 1,
                    sx_shape_str(xs[i], a, sizeof a), sx_shape_str(xs[0], b, sizeof b));
            break;
        }
        int64_t s[SX_MAX_DIMS];
        for (int k = 0, j = 0; k < nd; k++) s[k] = k == d ? 1 : xs[i]->shape[j++];
        us[i] = sx_reshape(xs[i], nd, s);
        if (!us[i]) break;
    }
    if (i == n) o = sx_cat(n, us, d);
    for (int k = 0; k < n; k++) sx_tensor_free(us[k]);
    free(us);
    return o;
}

/* ---------------------------------------------------------------- index_select, index_add */

/* x seen as [outer, x->shape[d], inner], contiguous. */
static void outer_inner(const sx_tensor *x, int d, int64_t *outer, int64_t *inner)
{
    *outer = sx_shape_numel(d, x->shape);
    *inner = sx_shape_numel(x->ndim - d - 1, x->shape + d + 1);
}

static int64_t *copy_index(int64_t n, const int64_t *index)
{
    int64_t *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    if (v) memcpy(v, index, (size_t)n * sizeof *v);
    else sx_fail(SX_ENOMEM, "out of memory");
    return v;
}

static bool check_index(const char *fn, int64_t n, const int64_t *index, int64_t size)
{
    if (n < 0 || (n > 0 && !index)) {
        sx_fail(SX_EINVAL, "%s: bad index list", fn);
        return false;
    }
    for (int64_t k = 0; k < n; k++)
        if (index[k] < 0 || index[k] >= size) {
            sx_fail(SX_EINVAL, "%s: index %lld out of range for size %lld", fn, (long long)index[k],
                    (long long)size);
            return false;
        }
    return true;
}

/* The work of index_select and index_add along dimension d (checked):
 * select (add false) gathers o[.., k, ..] = x[.., index[k], ..] into n rows;
 * add scatters o[.., index[k], ..] += x[.., k, ..] into `rows` rows. Recorded
 * as op, the index kept for the backward. */
static sx_tensor *index_rows(sx_tensor *x, int d, int64_t n, const int64_t *index, int64_t rows, bool add,
                             sx_op_kind op)
{
    sx_tensor *xc = sx_tensor_as_contiguous(x);
    if (!xc) return NULL;
    int64_t shape[SX_MAX_DIMS], outer, inner;
    memcpy(shape, x->shape, sizeof shape);
    shape[d] = rows;
    outer_inner(x, d, &outer, &inner);
    sx_tensor *o = add ? sx_tensor_zeros(x->ndim, shape) : sx_tensor_empty(x->ndim, shape);
    int64_t *ivec = o ? copy_index(n, index) : NULL;
    if (o && ivec) {
        const float *src = sx_tensor_data(xc);
        float *dst = sx_tensor_data(o);
        int64_t len = x->shape[d];
        for (int64_t a = 0; a < outer; a++)
            for (int64_t k = 0; k < n; k++) {
                if (!add) {
                    memcpy(dst + (a * n + k) * inner, src + (a * len + index[k]) * inner, (size_t)inner * sizeof *dst);
                    continue;
                }
                float *q = dst + (a * rows + index[k]) * inner;
                const float *p = src + (a * n + k) * inner;
                for (int64_t i = 0; i < inner; i++) q[i] += p[i];
            }
    } else {
        sx_tensor_free(o);
        o = NULL;
    }
    sx_tensor_free(xc);
    sx_node *node = sx_record(&o, op, 1, &x);
    if (node) {
        node->iattr[0] = d;
        node->ivec = ivec;
        node->n_ivec = n;
    } else free(ivec);
    return o;
}

sx_tensor *sx_index_select(sx_tensor *x, int dim, int64_t n, const int64_t *index)
{
    if (!sx_check_arg("index_select", 1, x)) return NULL;
    int d = sx_norm_dim("index_select", dim, x->ndim);
    if (d < 0 || !check_index("index_select", n, index, x->shape[d])) return NULL;
    return index_rows(x, d, n, index, n, false, SX_OP_INDEX_SELECT);
}

sx_status sx_index_select_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    int d = (int)n->iattr[0];
    return grad_in(gi, sx_index_add(g, d, n->inputs[0]->shape[d], n->n_ivec, n->ivec));
}

sx_tensor *sx_index_add(sx_tensor *x, int dim, int64_t size, int64_t n, const int64_t *index)
{
    if (!sx_check_arg("index_add", 1, x)) return NULL;
    int d = sx_norm_dim("index_add", dim, x->ndim);
    if (d < 0 || !check_index("index_add", n, index, size)) return NULL;
    if (x->shape[d] != n) {
        sx_fail(SX_EINVAL, "index_add: %lld indices for %lld rows in dimension %d", (long long)n,
                (long long)x->shape[d], dim);
        return NULL;
    }
    return index_rows(x, d, n, index, size, true, SX_OP_INDEX_ADD);
}

sx_status sx_index_add_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    return grad_in(gi, sx_index_select(g, (int)n->iattr[0], n->n_ivec, n->ivec));
}

/* ---------------------------------------------------------------- contiguous */

sx_tensor *sx_contiguous(sx_tensor *x)
{
    if (!sx_check_arg("contiguous", 1, x)) return NULL;
    if (sx_tensor_is_contiguous(x)) return sx_tensor_retain(x);
    sx_tensor *o = sx_tensor_copy(x);
    sx_record(&o, SX_OP_CONTIGUOUS, 1, &x);
    return o;
}

sx_status sx_contiguous_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    (void)n;
    gi[0] = sx_tensor_retain(g);
    return SX_OK;
}

/* ---------------------------------------------------------------- view, squeeze, unsqueeze, flatten */

/* Each is a reshape (so a view of a contiguous tensor, and reshape's backward). */

sx_tensor *sx_view(sx_tensor *x, int ndim, const int64_t *shape)
{
    if (!sx_check_arg("view", 1, x)) return NULL;
    if (!sx_tensor_is_contiguous(x)) {
        char b[96];
        sx_fail(SX_EINVAL, "view: the tensor %s is not contiguous (use reshape, which copies, or contiguous() first)",
                sx_shape_str(x, b, sizeof b));
        return NULL;
    }
    return sx_reshape(x, ndim, shape);
}

sx_tensor *sx_unsqueeze(sx_tensor *x, int dim)
{
    if (!sx_check_arg("unsqueeze", 1, x)) return NULL;
    if (x->ndim >= SX_MAX_DIMS) {
        sx_fail(SX_EINVAL, "unsqueeze: a %d-d tensor cannot get another dimension (at most %d)", x->ndim, SX_MAX_DIMS);
        return NULL;
    }
    int d = sx_norm_dim("unsqueeze", dim, x->ndim + 1);
    if (d < 0) return NULL;
    int64_t s[SX_MAX_DIMS];
    for (int i = 0, j = 0; i <= x->ndim; i++) s[i] = i == d ? 1 : x->shape[j++];
    return sx_reshape(x, x->ndim + 1, s);
}

sx_tensor *sx_squeeze(sx_tensor *x, int dim)
{
    if (!sx_check_arg("squeeze", 1, x)) return NULL;
    int d = sx_norm_dim("squeeze", dim, x->ndim);
    if (d < 0) return NULL;
    int64_t s[SX_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < x->ndim; i++)
        if (i != d || x->shape[i] != 1) s[n++] = x->shape[i];
    return sx_reshape(x, n, s);
}

sx_tensor *sx_squeeze_all(sx_tensor *x)
{
    if (!sx_check_arg("squeeze", 1, x)) return NULL;
    int64_t s[SX_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < x->ndim; i++)
        if (x->shape[i] != 1) s[n++] = x->shape[i];
    return sx_reshape(x, n, s);
}

sx_tensor *sx_flatten(sx_tensor *x, int start, int end)
{
    if (!sx_check_arg("flatten", 1, x)) return NULL;
    if (x->ndim == 0) return sx_reshape(x, 1, (const int64_t[]){1});
    int a = sx_norm_dim("flatten", start, x->ndim), b = a < 0 ? -1 : sx_norm_dim("flatten", end, x->ndim);
    if (a < 0 || b < 0) return NULL;
    if (a > b) {
        sx_fail(SX_EINVAL, "flatten: start dimension %d comes after end dimension %d", start, end);
        return NULL;
    }
    int64_t s[SX_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < a; i++) s[n++] = x->shape[i];
    int64_t merged = 1;
    for (int i = a; i <= b; i++) merged *= x->shape[i];
    s[n++] = merged;
    for (int i = b + 1; i < x->ndim; i++) s[n++] = x->shape[i];
    return sx_reshape(x, n, s);
}

/* x[index] along dim, that dimension removed: narrow to one element, then a
 * view without the dimension (recorded as a reshape, whose backward gives
 * the gradient narrow's shape back). A view even of a non-contiguous x. */
sx_tensor *sx_select(sx_tensor *x, int dim, int64_t index)
{
    if (!sx_check_arg("select", 1, x)) return NULL;
    int d = sx_norm_dim("select", dim, x->ndim);
    if (d < 0) return NULL;
    if (index < 0 || index >= x->shape[d]) {
        sx_fail(SX_EINVAL, "select: index %lld outside dimension %d of size %lld", (long long)index, dim,
                (long long)x->shape[d]);
        return NULL;
    }
    sx_tensor *n = sx_narrow(x, d, index, 1);
    if (!n) return NULL;
    int64_t s[SX_MAX_DIMS], st[SX_MAX_DIMS];
    for (int i = 0, j = 0; i < n->ndim; i++)
        if (i != d) {
            s[j] = n->shape[i];
            st[j++] = n->stride[i];
        }
    sx_tensor *o = sx_tensor_view(n, n->ndim - 1, s, st, n->offset);
    if (!o) sx_fail(SX_ENOMEM, "select: out of memory");
    sx_record(&o, SX_OP_RESHAPE, 1, &n);
    sx_tensor_free(n);
    return o;
}
