/*
 * lib/models/onnx_run.c — running an ONNX graph as stylex ops: the
 * classifier's vtable, one pass over the nodes, and the operators over
 * images (the shape arithmetic is in onnx_shape.c; the graph is
 * onnx_internal.h).
 *
 * One pass over the nodes in file order (ONNX requires a topological order),
 * each node a few of stylex's ops (ops.h), so autograd records the whole
 * graph. Ops stylex has no kernel for are compositions: MaxPool with strides
 * or pads is a max over shifted strided index_selects, AveragePool a
 * depthwise conv, Clip two ReLUs, Resize index_select (nearest) or two
 * matmuls with interpolation matrices (linear), BatchNormalization a
 * per-channel scale and shift.
 */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"
#include "classifier_internal.h"
#include "onnx_internal.h"
#include "stylex/ops.h"

sx_status onnx_node_fail(const node *n, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sx_fail(SX_EINVAL, "onnx: node '%s' (%s): %s", n->name, onnx_op_names[n->op], msg);
}

bool onnx_step(sx_tensor **t, sx_tensor *next)
{
    sx_tensor_free(*t);
    *t = next;
    return next != NULL;
}

/* Pads dims 2 and 3 of x by (top, left, bottom, right) with `value`; a
 * negative pad crops. */
static sx_tensor *pad_nd(sx_tensor *x, const int64_t *begin, const int64_t *end, float value)
{
    for (int d = 0; d < x->ndim; d++)
        if (begin[d] > 16 * MAX_SIDE || end[d] > 16 * MAX_SIDE || begin[d] < -x->shape[d] || end[d] < -x->shape[d]) {
            sx_fail(SX_EINVAL, "pad: pads (%" PRId64 ", %" PRId64 ") of dimension %d (size %" PRId64 ") out of range",
                    begin[d], end[d], d, x->shape[d]);
            return NULL;
        }
    sx_tensor *h = sx_tensor_retain(x);
    bool ok = true;
    for (int d = 0; d < x->ndim && ok; d++) {
        int64_t b = begin[d], e = end[d];
        if (b < 0 || e < 0) {
            int64_t cb = b < 0 ? -b : 0, ce = e < 0 ? -e : 0;
            ok = onnx_step(&h, sx_narrow(h, d, cb, h->shape[d] - cb - ce));
            b = b < 0 ? 0 : b;
            e = e < 0 ? 0 : e;
        }
        if (ok && (b > 0 || e > 0)) {
            int64_t shape[MAX_DIM];
            for (int k = 0; k < h->ndim; k++) shape[k] = h->shape[k];
            shape[d] += b + e;
            ok = onnx_step(&h, sx_narrow_scatter(h, h->ndim, shape, d, b));
        }
    }
    if (ok && value != 0) {
        /* the pad value where nothing was written: value * (1 - inside) */
        sx_tensor *mask = sx_tensor_full(h->ndim, h->shape, value);
        if (!mask) ok = false;
        else {
            int64_t n = sx_tensor_numel(h), idx[MAX_DIM] = {0};
            float *m = sx_tensor_data(mask);
            for (int64_t i = 0; i < n; i++) {
                bool inside = true;
                for (int d = 0; d < h->ndim; d++) {
                    int64_t lo = begin[d] > 0 ? begin[d] : 0, hi = h->shape[d] - (end[d] > 0 ? end[d] : 0);
                    if (idx[d] < lo || idx[d] >= hi) inside = false;
                }
                if (inside) m[i] = 0;
                for (int d = h->ndim - 1; d >= 0; d--) {
                    if (++idx[d] < h->shape[d]) break;
                    idx[d] = 0;
                }
            }
            ok = onnx_step(&h, sx_add(h, mask));
            sx_tensor_free(mask);
        }
    }
    if (!ok) {
        sx_tensor_free(h);
        return NULL;
    }
    return h;
}

static sx_tensor *pad_hw(sx_tensor *x, const int64_t *p, float value)
{
    int64_t b[4] = {0, 0, p[0], p[1]}, e[4] = {0, 0, p[2], p[3]};
    return pad_nd(x, b, e, value);
}

/* Output size of a window op over one axis. */
static int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p0, int64_t p1, bool ceil_mode)
{
    int64_t span = in + p0 + p1 - k;
    if (span < 0) return 0;
    int64_t n = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    /* with ceil_mode the last window must still start inside the input or its left pad (as PyTorch) */
    if (ceil_mode && (n - 1) * s >= in + p0) n--;
    return n;
}

/* Strided windows: x [N, C, H, W] -> [N, C, Ho, Wo] at offset (ky, kx). */
static sx_tensor *window(sx_tensor *x, int64_t ky, int64_t kx, int64_t sy, int64_t sx_, int64_t ho, int64_t wo)
{
    int64_t *ri = malloc(sizeof(int64_t) * (size_t)(ho + wo));
    if (!ri) {
        sx_fail(SX_ENOMEM, "onnx: out of memory");
        return NULL;
    }
    int64_t *ci = ri + ho;
    for (int64_t i = 0; i < ho; i++) ri[i] = ky + i * sy;
    for (int64_t j = 0; j < wo; j++) ci[j] = kx + j * sx_;
    sx_tensor *a = sx_index_select(x, 2, ho, ri), *b = a ? sx_index_select(a, 3, wo, ci) : NULL;
    sx_tensor_free(a);
    free(ri);
    return b;
}

/* MaxPool other than stylex's kernel: the max over the strided windows at
 * each offset of the kernel, on the input padded with -FLT_MAX. */
static sx_tensor *max_windows(const node *n, sx_tensor *x, int64_t kh, int64_t kw, int64_t sy, int64_t sxx)
{
    const int64_t *p = n->pads;
    int64_t H = x->shape[2], W = x->shape[3];
    int64_t ho = out_size(H, kh, sy, p[0], p[2], n->ceil_mode), wo = out_size(W, kw, sxx, p[1], p[3], n->ceil_mode);
    if (ho < 1 || wo < 1) {
        onnx_node_fail(n, "window %" PRId64 "x%" PRId64 " larger than the padded input %" PRId64 "x%" PRId64, kh, kw, H, W);
        return NULL;
    }
    /* ceil_mode may need more right/bottom padding; pads take -FLT_MAX, which no window can pick alone */
    int64_t pp[4] = {p[0], p[1], (ho - 1) * sy + kh - H - p[0], (wo - 1) * sxx + kw - W - p[1]};
    if (pp[2] < p[2]) pp[2] = p[2];
    if (pp[3] < p[3]) pp[3] = p[3];
    sx_tensor *xp = pad_hw(x, pp, -FLT_MAX);
    if (!xp) return NULL;
    int64_t k = kh * kw;
    sx_tensor **w = calloc((size_t)k, sizeof *w);
    sx_tensor *y = NULL;
    bool ok = w != NULL;
    for (int64_t i = 0; i < k && ok; i++) ok = (w[i] = window(xp, i / kw, i % kw, sy, sxx, ho, wo)) != NULL;
    sx_tensor *st = ok ? sx_stack((int)k, w, 0) : NULL;
    if (st) y = sx_max(st, 0, false);
    for (int64_t i = 0; w && i < k; i++) sx_tensor_free(w[i]);
    free(w);
    sx_tensor_free(st);
    sx_tensor_free(xp);
    return y;
}

/* AveragePool other than stylex's kernel: a depthwise conv with a constant
 * kernel, divided by the windows' share inside the image unless
 * count_include_pad. */
static sx_tensor *avg_windows(const node *n, sx_tensor *x, int64_t kh, int64_t kw, int64_t sy, int64_t sxx)
{
    const int64_t *p = n->pads;
    int64_t C = x->shape[1], H = x->shape[2], W = x->shape[3];
    bool no_pad = !p[0] && !p[1] && !p[2] && !p[3];
    if (n->ceil_mode) {
        onnx_node_fail(n, "ceil_mode 1 is not supported for AveragePool");
        return NULL;
    }
    sx_tensor *xp = no_pad ? sx_tensor_retain(x) : pad_hw(x, p, 0);
    sx_tensor *w = xp ? sx_tensor_full(4, (int64_t[]){C, 1, kh, kw}, 1.0f / (float)(kh * kw)) : NULL;
    sx_conv2d_opts o = {.stride = {(int)sy, (int)sxx}, .groups = (int)C};
    sx_tensor *y = w ? sx_conv2d(xp, w, NULL, &o) : NULL;
    if (y && !no_pad && !n->count_include_pad) {
        /* divide by the share of each window that is inside the image */
        sx_tensor *ones = sx_tensor_ones(4, (int64_t[]){1, 1, H, W});
        sx_tensor *op = ones ? pad_hw(ones, p, 0) : NULL;
        sx_tensor *w1 = op ? sx_tensor_full(4, (int64_t[]){1, 1, kh, kw}, 1.0f / (float)(kh * kw)) : NULL;
        sx_conv2d_opts o1 = {.stride = {(int)sy, (int)sxx}};
        sx_tensor *share = w1 ? sx_conv2d(op, w1, NULL, &o1) : NULL;
        if (!share || !onnx_step(&y, sx_div(y, share))) {
            sx_tensor_free(y);
            y = NULL;
        }
        sx_tensor *tmp[] = {ones, op, w1, share};
        for (int i = 0; i < 4; i++) sx_tensor_free(tmp[i]);
    }
    sx_tensor_free(xp);
    sx_tensor_free(w);
    return y;
}

/* MaxPool, AveragePool: square windows at their own stride over an unpadded
 * input they divide are stylex's pooling kernels, anything else a composition. */
static sx_tensor *run_pool(const node *n, sx_tensor *x)
{
    int64_t kh = n->kernel[0], kw = n->kernel[1], sy = n->strides[0], sxx = n->strides[1];
    const int64_t *p = n->pads;
    bool max = n->op == OP_MAX_POOL;
    if (kh == kw && sy == kh && sxx == kw && !p[0] && !p[1] && !p[2] && !p[3] && x->shape[2] % kh == 0 &&
        x->shape[3] % kw == 0)
        return max ? sx_max_pool2d(x, (int)kh) : sx_avg_pool2d(x, (int)kh);
    return max ? max_windows(n, x, kh, kw, sy, sxx) : avg_windows(n, x, kh, kw, sy, sxx);
}

static sx_tensor *run_conv(const onnx_graph *g, const node *n, sx_tensor **v)
{
    sx_tensor *x = v[n->in[0]], *w = v[n->in[1]], *b = n->n_in > 2 && n->in[2] >= 0 ? v[n->in[2]] : NULL;
    if (x->ndim != 4 || w->ndim != 4) {
        char s1[64], s2[64];
        onnx_node_fail(n, "only 2-d convolutions: input %s, weight %s", sx_shape_str(x, s1, sizeof s1),
                       sx_shape_str(w, s2, sizeof s2));
        return NULL;
    }
    int64_t p[4] = {n->pads[0], n->pads[1], n->pads[2], n->pads[3]};
    if (strncmp(n->auto_pad, "SAME", 4) == 0) {
        for (int d = 0; d < 2; d++) {
            int64_t in = x->shape[2 + d], k = w->shape[2 + d], s = n->strides[d];
            int64_t outn = (in + s - 1) / s, total = (outn - 1) * s + k - in;
            if (total < 0) total = 0;
            bool upper = strcmp(n->auto_pad, "SAME_UPPER") == 0;
            p[d] = upper ? total / 2 : total - total / 2;
            p[d + 2] = total - p[d];
        }
    }
    sx_conv2d_opts o = {.stride = {(int)n->strides[0], (int)n->strides[1]}, .groups = (int)n->group};
    (void)g;
    if (p[0] == p[2] && p[1] == p[3]) {
        o.padding[0] = (int)p[0];
        o.padding[1] = (int)p[1];
        return sx_conv2d(x, w, b, &o);
    }
    sx_tensor *xp = pad_hw(x, p, 0);
    sx_tensor *y = xp ? sx_conv2d(xp, w, b, &o) : NULL;
    sx_tensor_free(xp);
    return y;
}

static sx_tensor *run_gemm(const node *n, sx_tensor **v)
{
    sx_tensor *a = v[n->in[0]], *b = v[n->in[1]], *c = n->n_in > 2 && n->in[2] >= 0 ? v[n->in[2]] : NULL;
    if (a->ndim != 2 || b->ndim != 2) {
        onnx_node_fail(n, "Gemm takes 2-d inputs, got %d-d and %d-d", a->ndim, b->ndim);
        return NULL;
    }
    sx_tensor *at = n->trans_a ? sx_transpose(a, 0, 1) : sx_tensor_retain(a);
    sx_tensor *y = NULL;
    if (at) y = n->trans_b ? sx_linear(at, b, NULL) : sx_matmul(at, b);
    sx_tensor_free(at);
    if (y && n->alpha != 1.0f && !onnx_step(&y, sx_mul_scalar(y, n->alpha))) return NULL;
    if (y && c && n->beta != 0.0f) {
        sx_tensor *cb = n->beta == 1.0f ? sx_tensor_retain(c) : sx_mul_scalar(c, n->beta);
        if (!cb || !onnx_step(&y, sx_add(y, cb))) y = NULL;
        sx_tensor_free(cb);
    }
    return y;
}

static sx_tensor *run_matmul(const node *n, sx_tensor **v)
{
    sx_tensor *a = v[n->in[0]], *b = v[n->in[1]];
    if (a->ndim >= 2 && b->ndim == 2) {
        if (a->ndim == 2) return sx_matmul(a, b);
        int64_t shape[MAX_DIM];
        for (int d = 0; d < a->ndim; d++) shape[d] = a->shape[d];
        shape[a->ndim - 1] = b->shape[1];
        sx_tensor *a2 = sx_reshape(a, 2, (int64_t[]){-1, a->shape[a->ndim - 1]});
        sx_tensor *y = a2 ? sx_matmul(a2, b) : NULL;
        if (y) onnx_step(&y, sx_reshape(y, a->ndim, shape));
        sx_tensor_free(a2);
        return y;
    }
    if (a->ndim == 3 && b->ndim == 3) return sx_matmul(a, b);
    onnx_node_fail(n, "MatMul of %d-d by %d-d tensors is not supported (2-d weights, or two 3-d batches)", a->ndim, b->ndim);
    return NULL;
}

/* lo + relu(x - lo), then hi - relu(hi - y): the gradient is 1 strictly inside. */
static sx_tensor *run_clip(const node *n, sx_tensor **v, const onnx_graph *g)
{
    sx_tensor *x = v[n->in[0]];
    float lo = -FLT_MAX, hi = FLT_MAX, val;
    for (int k = 1; k <= 2; k++) {
        if (n->n_in <= k || n->in[k] < 0) continue;
        sx_tensor *t = v[n->in[k]];
        (void)g;
        if (sx_tensor_numel(t) != 1 || sx_tensor_item(t, &val) != SX_OK) {
            onnx_node_fail(n, "Clip's %s must be a scalar", k == 1 ? "min" : "max");
            return NULL;
        }
        if (k == 1) lo = val;
        else hi = val;
    }
    sx_tensor *h = sx_tensor_retain(x);
    bool ok = true;
    if (lo > -FLT_MAX) ok = onnx_step(&h, sx_add_scalar(h, -lo)) && onnx_step(&h, sx_relu(h)) && onnx_step(&h, sx_add_scalar(h, lo));
    if (ok && hi < FLT_MAX)
        ok = onnx_step(&h, sx_neg(h)) && onnx_step(&h, sx_add_scalar(h, hi)) && onnx_step(&h, sx_relu(h)) && onnx_step(&h, sx_neg(h)) &&
             onnx_step(&h, sx_add_scalar(h, hi));
    if (!ok) {
        sx_tensor_free(h);
        return NULL;
    }
    return h;
}

static sx_tensor *run_batch_norm(const node *n, sx_tensor **v)
{
    sx_tensor *x = v[n->in[0]], *scale = v[n->in[1]], *bias = v[n->in[2]], *mean = v[n->in[3]], *var = v[n->in[4]];
    if (x->ndim < 2) {
        onnx_node_fail(n, "BatchNormalization of a %d-d tensor", x->ndim);
        return NULL;
    }
    int64_t C = x->shape[1], shape[MAX_DIM];
    shape[0] = 1;
    shape[1] = C;
    for (int d = 2; d < x->ndim; d++) shape[d] = 1;
    sx_tensor *ve = sx_add_scalar(var, n->epsilon), *r = ve ? sx_rsqrt(ve) : NULL, *a = r ? sx_mul(scale, r) : NULL;
    sx_tensor *ar = a ? sx_reshape(a, x->ndim, shape) : NULL, *mr = ar ? sx_reshape(mean, x->ndim, shape) : NULL;
    sx_tensor *br = mr ? sx_reshape(bias, x->ndim, shape) : NULL;
    sx_tensor *d = br ? sx_sub(x, mr) : NULL, *m = d ? sx_mul(d, ar) : NULL, *y = m ? sx_add(m, br) : NULL;
    sx_tensor *tmp[] = {ve, r, a, ar, mr, br, d, m};
    for (int i = 0; i < 8; i++) sx_tensor_free(tmp[i]);
    return y;
}

static sx_tensor *run_softmax(const onnx_graph *g, const node *n, sx_tensor *x)
{
    int axis = (int)(n->axis < 0 ? n->axis + x->ndim : n->axis);
    if (axis < 0 || axis >= x->ndim) {
        onnx_node_fail(n, "axis %" PRId64 " of a %d-d tensor", n->axis, x->ndim);
        return NULL;
    }
    /* before opset 13 Softmax flattens the dimensions from axis on; the same
     * as one dimension only when axis is the last */
    if (g->opset < 13 && axis != x->ndim - 1) {
        onnx_node_fail(n, "opset %d Softmax over axis %d of a %d-d tensor is not supported (only the last axis)", g->opset,
                       axis, x->ndim);
        return NULL;
    }
    return sx_softmax(x, axis);
}

static sx_tensor *run_pad(const onnx_graph *g, const node *n, sx_tensor **v)
{
    sx_tensor *x = v[n->in[0]];
    if (strcmp(n->mode, "constant") != 0) {
        onnx_node_fail(n, "mode '%s' is not supported (only constant)", n->mode);
        return NULL;
    }
    int64_t pads[2 * MAX_DIM];
    int m = onnx_read_ints(n, v, 1, "pads", pads, 2 * MAX_DIM);
    if (m < 0) return NULL;
    if (m != 2 * x->ndim) {
        onnx_node_fail(n, "%d pads for a %d-d tensor", m, x->ndim);
        return NULL;
    }
    float value = 0;
    (void)g;
    if (n->n_in > 2 && n->in[2] >= 0 && (sx_tensor_numel(v[n->in[2]]) != 1 || sx_tensor_item(v[n->in[2]], &value) != SX_OK)) {
        onnx_node_fail(n, "constant_value must be a scalar");
        return NULL;
    }
    return pad_nd(x, pads, pads + x->ndim, value);
}

/* The source coordinate of output pixel i along an axis. */
static double resize_src(const char *ctm, int64_t i, int64_t out, int64_t in, double scale)
{
    if (strcmp(ctm, "align_corners") == 0) return out > 1 ? (double)i * (double)(in - 1) / (double)(out - 1) : 0;
    if (strcmp(ctm, "asymmetric") == 0) return i / scale;
    if (strcmp(ctm, "pytorch_half_pixel") == 0) return out > 1 ? (i + 0.5) / scale - 0.5 : 0;
    if (strcmp(ctm, "tf_half_pixel_for_nn") == 0) return (i + 0.5) / scale;
    return (i + 0.5) / scale - 0.5; /* half_pixel */
}

static int64_t nearest_index(const char *mode, double src, int64_t in)
{
    double f = floor(src);
    int64_t i;
    if (strcmp(mode, "floor") == 0) i = (int64_t)f;
    else if (strcmp(mode, "ceil") == 0) i = (int64_t)ceil(src);
    else if (strcmp(mode, "round_prefer_ceil") == 0) i = (int64_t)floor(src + 0.5);
    else i = src - f == 0.5 ? (int64_t)f : (int64_t)floor(src + 0.5); /* round_prefer_floor */
    return i < 0 ? 0 : i >= in ? in - 1 : i;
}

/* [out, in] linear interpolation with the source position clamped to [0, in-1] */
static sx_tensor *linear_matrix(const char *ctm, int64_t out, int64_t in, double scale)
{
    sx_tensor *m = sx_tensor_zeros(2, (int64_t[]){out, in});
    if (!m) return NULL;
    float *d = sx_tensor_data(m);
    for (int64_t i = 0; i < out; i++) {
        double src = resize_src(ctm, i, out, in, scale);
        if (src < 0) src = 0;
        if (src > in - 1) src = (double)(in - 1);
        int64_t i0 = (int64_t)src, i1 = i0 + 1 < in ? i0 + 1 : in - 1;
        double l = src - (double)i0;
        d[i * in + i0] += (float)(1 - l);
        d[i * in + i1] += (float)l;
    }
    return m;
}

static sx_tensor *run_resize(const onnx_graph *g, const node *n, sx_tensor **v)
{
    sx_tensor *x = v[n->in[0]];
    if (x->ndim != 4) {
        onnx_node_fail(n, "only 4-d inputs are resized, got %d-d", x->ndim);
        return NULL;
    }
    double scale[4] = {1, 1, 1, 1};
    int64_t size[4] = {x->shape[0], x->shape[1], x->shape[2], x->shape[3]};
    sx_tensor *sc = n->n_in > 2 && n->in[2] >= 0 ? v[n->in[2]] : NULL;
    bool has_sizes = n->n_in > 3 && n->in[3] >= 0;
    (void)g;
    if (sc && sx_tensor_numel(sc) == 0) sc = NULL;
    if (sc) {
        float f[4];
        if (sx_tensor_numel(sc) != 4) {
            onnx_node_fail(n, "scales must have 4 entries");
            return NULL;
        }
        sx_tensor_copy_to(sc, f);
        for (int d = 0; d < 4; d++) {
            scale[d] = f[d];
            if (!(scale[d] > 0 && scale[d] <= 16 * MAX_SIDE)) {
                onnx_node_fail(n, "scale %g is not in (0, %d]", scale[d], 16 * MAX_SIDE);
                return NULL;
            }
            size[d] = (int64_t)floor(x->shape[d] * scale[d]);
        }
    } else if (has_sizes) {
        if (onnx_read_ints(n, v, 3, "sizes", size, 4) != 4) {
            if (!strstr(sx_last_error(), "onnx: node")) onnx_node_fail(n, "sizes must have 4 entries");
            return NULL;
        }
        for (int d = 0; d < 4; d++) {
            if (size[d] < 1 || size[d] > 16 * MAX_SIDE) {
                onnx_node_fail(n, "size %" PRId64 " is not in 1..%d", size[d], 16 * MAX_SIDE);
                return NULL;
            }
            scale[d] = (double)size[d] / (double)x->shape[d];
        }
    } else {
        onnx_node_fail(n, "needs scales or sizes");
        return NULL;
    }
    if (size[2] > 16 * MAX_SIDE || size[3] > 16 * MAX_SIDE) {
        onnx_node_fail(n, "resize to %" PRId64 "x%" PRId64 " is too large", size[2], size[3]);
        return NULL;
    }
    if (size[0] != x->shape[0] || size[1] != x->shape[1] || size[2] < 1 || size[3] < 1) {
        onnx_node_fail(n, "only height and width can be resized (to %" PRId64 "x%" PRId64 ")", size[2], size[3]);
        return NULL;
    }
    if (strcmp(n->mode, "nearest") == 0) {
        sx_tensor *h = sx_tensor_retain(x);
        for (int d = 2; d < 4 && h; d++) {
            int64_t *idx = malloc(sizeof(int64_t) * (size_t)size[d]);
            if (!idx) {
                sx_fail(SX_ENOMEM, "onnx: out of memory");
                sx_tensor_free(h);
                return NULL;
            }
            for (int64_t i = 0; i < size[d]; i++)
                idx[i] = nearest_index(n->nearest, resize_src(n->ctm, i, size[d], x->shape[d], scale[d]), x->shape[d]);
            onnx_step(&h, sx_index_select(h, d, size[d], idx));
            free(idx);
        }
        return h;
    }
    sx_tensor *mw = linear_matrix(n->ctm, size[3], x->shape[3], scale[3]);
    sx_tensor *mh = mw ? linear_matrix(n->ctm, size[2], x->shape[2], scale[2]) : NULL;
    sx_tensor *y = mh ? sx_interp2d(x, mh, mw) : NULL;
    sx_tensor_free(mw);
    sx_tensor_free(mh);
    return y;
}
/* One node: a new reference or NULL with the error set (naming the node). */
static sx_tensor *run_node(const onnx_graph *g, const node *n, sx_tensor **v)
{
    sx_tensor *x = v[n->in[0] >= 0 ? n->in[0] : 0];
    sx_tensor *b = n->n_in > 1 && n->in[1] >= 0 ? v[n->in[1]] : NULL;
    switch (n->op) {
    case OP_CONV: return run_conv(g, n, v);
    case OP_GEMM: return run_gemm(n, v);
    case OP_MATMUL: return run_matmul(n, v);
    case OP_ADD: return sx_add(x, b);
    case OP_SUB: return sx_sub(x, b);
    case OP_MUL: return sx_mul(x, b);
    case OP_DIV: return sx_div(x, b);
    case OP_RELU: return sx_relu(x);
    case OP_LEAKY_RELU: return sx_leaky_relu(x, n->alpha);
    case OP_SIGMOID: return sx_sigmoid(x);
    case OP_TANH: return sx_tanh(x);
    case OP_CLIP: return run_clip(n, v, g);
    case OP_MAX_POOL:
    case OP_AVG_POOL:
    case OP_GLOBAL_AVG_POOL:
        if (x->ndim != 4) {
            onnx_node_fail(n, "only 2-d pooling of [N, C, H, W], got %d-d", x->ndim);
            return NULL;
        }
        if (n->op == OP_GLOBAL_AVG_POOL) return sx_mean(x, 2, (int[]){2, 3}, true);
        return run_pool(n, x);
    case OP_BATCH_NORM: return run_batch_norm(n, v);
    case OP_FLATTEN: return onnx_run_flatten(n, x);
    case OP_RESHAPE: return onnx_run_reshape(g, n, v);
    case OP_CONCAT: {
        sx_tensor *xs[MAX_IN];
        int axis = (int)(n->axis < 0 ? n->axis + x->ndim : n->axis);
        for (int k = 0; k < n->n_in; k++) xs[k] = v[n->in[k]];
        return sx_cat(n->n_in, xs, axis);
    }
    case OP_SOFTMAX: return run_softmax(g, n, x);
    case OP_PAD: return run_pad(g, n, v);
    case OP_RESIZE: return run_resize(g, n, v);
    case OP_IDENTITY:
    case OP_DROPOUT: return sx_tensor_retain(x);
    case OP_SHAPE: return onnx_run_shape(n, x);
    case OP_GATHER: return onnx_run_gather(n, v, x);
    case OP_UNSQUEEZE: return onnx_run_unsqueeze(n, v, x);
    case OP_SQUEEZE: return onnx_run_squeeze(n, v, x);
    case OP_CONSTANT_OF_SHAPE: return onnx_run_constant_of_shape(n, v);
    case OP_SLICE: return onnx_run_slice(n, v, x);
    case OP_TRANSPOSE: return onnx_run_transpose(n, x);
    case OP_CAST: return onnx_run_cast(n, x);
    case OP_REDUCE_MEAN: return onnx_run_reduce_mean(n, v, x);
    case OP_CONSTANT:
    case OP_COUNT: break;
    }
    sx_fail(SX_EINVAL, "onnx: node '%s': nothing to run", n->name);
    return NULL;
}

sx_status onnx_run_graph(const onnx_graph *g, sx_tensor *x, sx_tensor **vals, const bool *keep)
{
    for (int i = 0; i < g->n_slots; i++) vals[i] = g->slots[i].value ? sx_tensor_retain(g->slots[i].value) : NULL;
    vals[g->input] = sx_tensor_retain(x);
    for (int k = 0; k < g->n_nodes; k++) {
        const node *n = &g->nodes[k];
        if (n->op == OP_CONSTANT) continue;
        for (int i = 0; i < n->n_in; i++)
            if (n->in[i] >= 0 && !vals[n->in[i]])
                return onnx_node_fail(n, "input '%s' has no value",
                                      g->slots[n->in[i]].name);
        sx_tensor *y = run_node(g, n, vals);
        if (!y) {
            const char *e = sx_last_error();
            if (strncmp(e, "onnx: node", 10) == 0) return sx_last_status();
            char msg[400];
            snprintf(msg, sizeof msg, "%s", e);
            return onnx_node_fail(n, "%s", msg);
        }
        vals[n->out] = y;
        int64_t batch = x->shape[0] > 0 ? x->shape[0] : 1;
        if (sx_tensor_numel(y) / batch > MAX_PER_IMAGE) {
            char sh[96];
            return onnx_node_fail(n, "its result %s is too large (over %d values per image)", sx_shape_str(y, sh, sizeof sh),
                                  MAX_PER_IMAGE);
        }
        for (int i = 0; keep && i < n->n_in; i++) {
            int q = n->in[i];
            if (q >= 0 && g->slots[q].last_use == k && !keep[q] && !g->slots[q].value) {
                sx_tensor_free(vals[q]);
                vals[q] = NULL;
            }
        }
    }
    return SX_OK;
}

int onnx_find_slot(const onnx_graph *g, const char *name)
{
    for (int i = 0; i < g->n_slots; i++)
        if (strcmp(g->slots[i].name, name) == 0) return i;
    return -1;
}

static sx_status onnx_run(void *impl, sx_tensor *x, int n, const char *const *names, sx_tensor **maps,
                          sx_tensor **logits)
{
    onnx_graph *g = impl;
    if (x->ndim != 4 || x->shape[1] != g->channels || x->shape[2] != g->height || x->shape[3] != g->width) {
        char s[96];
        return sx_fail(SX_EINVAL, "onnx: input %s, expected [N, %d, %d, %d]", sx_shape_str(x, s, sizeof s),
                       g->channels, g->height, g->width);
    }
    sx_tensor **vals = calloc((size_t)g->n_slots, sizeof *vals);
    bool *keep = vals ? calloc((size_t)g->n_slots, sizeof *keep) : NULL;
    if (!keep) {
        free(vals);
        return sx_fail(SX_ENOMEM, "onnx: out of memory");
    }
    int *which = n ? calloc((size_t)n, sizeof *which) : NULL;
    for (int i = 0; i < n && which; i++) {
        which[i] = onnx_find_slot(g, names[i]);
        if (which[i] >= 0) keep[which[i]] = true;
    }
    keep[g->output] = true;
    sx_status st = n && !which ? sx_fail(SX_ENOMEM, "onnx: out of memory") : onnx_run_graph(g, x, vals, keep);
    if (st == SX_OK) {
        for (int i = 0; i < n; i++) maps[i] = which[i] >= 0 ? sx_tensor_retain(vals[which[i]]) : NULL;
        *logits = sx_tensor_retain(vals[g->output]);
    }
    for (int i = 0; i < g->n_slots; i++) sx_tensor_free(vals[i]);
    free(vals);
    free(keep);
    free(which);
    return st;
}

const sx_classifier_vtable onnx_vtable = {.kind = "onnx", .run = onnx_run, .free_impl = onnx_graph_free};
