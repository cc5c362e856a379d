/*
 * lib/models/onnx.c — ONNX classifiers on the autograd engine
 * (include/stylex/onnx.h).
 *
 * Loading: protobuf-c unpacks the file with the code protoc-c generated from
 * Debian's onnx.proto (build/gen/onnx.pb-c.[ch]); the graph becomes a list
 * of nodes over numbered value slots. Initializers and Constant nodes are
 * constant slots; every value is a float tensor, integer ones included
 * (shapes, pads, indices: exact up to 2^24), so the shape arithmetic of
 * torch.onnx exports (Shape, Gather, Concat, ...) runs on the same tensors
 * and Reshape, Pad, Resize and Slice read their integers from them at run
 * time. Every operator and attribute is
 * checked at load; then the graph runs once on zeros [1, C, H, W] with grad
 * off, which finds shape errors and gives each slot its shape (for the layer
 * lists).
 *
 * Running: one pass over the nodes in file order (ONNX requires a
 * topological order), each node a few of stylex's ops (ops.h), so autograd
 * records the whole graph. Ops stylex has no kernel for are compositions:
 * MaxPool with strides or pads is a max over shifted strided index_selects,
 * AveragePool a depthwise conv, Clip two ReLUs, Resize index_select (nearest)
 * or two matmuls with interpolation matrices (linear), BatchNormalization a
 * per-channel scale and shift.
 */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "../core/internal.h"
#include "classifier_internal.h"
#include "onnx.pb-c.h"
#include "stylex/json.h"
#include "stylex/onnx.h"
#include "stylex/ops.h"

/* ---------------------------------------------------------------- the graph */

typedef enum {
    OP_CONV, OP_GEMM, OP_MATMUL, OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_RELU, OP_LEAKY_RELU, OP_SIGMOID, OP_TANH,
    OP_CLIP, OP_MAX_POOL, OP_AVG_POOL, OP_GLOBAL_AVG_POOL, OP_BATCH_NORM, OP_FLATTEN, OP_RESHAPE, OP_CONCAT,
    OP_SOFTMAX, OP_PAD, OP_RESIZE, OP_CONSTANT, OP_IDENTITY, OP_DROPOUT,
    /* the shape arithmetic torch.onnx writes around view(x.size(0), -1) and F.pad */
    OP_SHAPE, OP_GATHER, OP_UNSQUEEZE, OP_SQUEEZE, OP_CONSTANT_OF_SHAPE, OP_SLICE, OP_TRANSPOSE, OP_CAST,
    OP_REDUCE_MEAN, OP_COUNT
} op_kind;

static const char *const op_names[OP_COUNT] = {
    "Conv", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu", "Sigmoid", "Tanh",
    "Clip", "MaxPool", "AveragePool", "GlobalAveragePool", "BatchNormalization", "Flatten", "Reshape", "Concat",
    "Softmax", "Pad", "Resize", "Constant", "Identity", "Dropout",
    "Shape", "Gather", "Unsqueeze", "Squeeze", "ConstantOfShape", "Slice", "Transpose", "Cast", "ReduceMean"};
_Static_assert(sizeof op_names / sizeof *op_names == OP_COUNT, "one name per op");

enum { MAX_IN = 64, MAX_DIM = 8 };
/* Bounds that keep a hostile or broken graph from asking for absurd work:
 * the input side (StyleGAN's largest resolution) and the elements one value
 * may have per image (32 Mi floats, 40x ResNet-50's largest map at 224). */
enum { MAX_SIDE = 1024, MAX_PER_IMAGE = 1 << 25 };

typedef struct slot {
    char *name;
    int producer;            /* node index, -1 for the input and constants */
    int last_use;            /* the last node reading it, -1 for none: its value is dropped after that node */
    sx_tensor *value;        /* constants: the value (float; integers converted, exact to 2^24) */
    int ndim;                /* from the run at load (batch 1) */
    int64_t shape[MAX_DIM];
} slot;

typedef struct node {
    op_kind op;
    char *name;              /* the node's name, or "<op> #k" when it has none */
    int n_in;
    int in[MAX_IN];          /* slot indices, -1 for an omitted optional input */
    int out;                 /* slot of the first output */
    /* attributes (those of this node's op) */
    int64_t kernel[2], strides[2], pads[4], group;
    int64_t axis, trans_a, trans_b, ceil_mode, count_include_pad, allow_zero;
    int64_t keepdims, to, start, end;     /* ReduceMean; Cast's type; Shape's range */
    int n_list;
    int64_t list[MAX_DIM];                /* Transpose's perm, (Un)Squeeze/ReduceMean's axes (opset < 13) */
    bool has_list;
    float fill;                           /* ConstantOfShape's value */
    float alpha, beta, epsilon;
    char mode[24], ctm[24], nearest[24], auto_pad[16];
} node;

typedef struct onnx_graph {
    int n_slots, n_nodes;
    slot *slots;
    node *nodes;
    int input, output;       /* slots */
    int opset;
    int channels, height, width;
} onnx_graph;

static void graph_free(void *p)
{
    onnx_graph *g = p;
    if (!g) return;
    for (int i = 0; i < g->n_slots; i++) {
        free(g->slots[i].name);
        sx_tensor_free(g->slots[i].value);
    }
    for (int i = 0; i < g->n_nodes; i++) free(g->nodes[i].name);
    free(g->slots);
    free(g->nodes);
    free(g);
}

/* ---------------------------------------------------------------- running */

/* The error of a failed op, prefixed with the node. */
static sx_status node_fail(const node *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static sx_status node_fail(const node *n, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sx_fail(SX_EINVAL, "onnx: node '%s' (%s): %s", n->name, op_names[n->op], msg);
}

static bool step(sx_tensor **t, sx_tensor *next)
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
            ok = step(&h, sx_narrow(h, d, cb, h->shape[d] - cb - ce));
            b = b < 0 ? 0 : b;
            e = e < 0 ? 0 : e;
        }
        if (ok && (b > 0 || e > 0)) {
            int64_t shape[MAX_DIM];
            for (int k = 0; k < h->ndim; k++) shape[k] = h->shape[k];
            shape[d] += b + e;
            ok = step(&h, sx_narrow_scatter(h, h->ndim, shape, d, b));
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
            ok = step(&h, sx_add(h, mask));
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

static sx_tensor *run_max_pool(const node *n, sx_tensor *x)
{
    int64_t kh = n->kernel[0], kw = n->kernel[1], sy = n->strides[0], sxx = n->strides[1];
    const int64_t *p = n->pads;
    int64_t H = x->shape[2], W = x->shape[3];
    if (kh == kw && sy == kh && sxx == kw && !p[0] && !p[1] && !p[2] && !p[3] && H % kh == 0 && W % kw == 0)
        return sx_max_pool2d(x, (int)kh);
    int64_t ho = out_size(H, kh, sy, p[0], p[2], n->ceil_mode), wo = out_size(W, kw, sxx, p[1], p[3], n->ceil_mode);
    if (ho < 1 || wo < 1) {
        node_fail(n, "window %" PRId64 "x%" PRId64 " larger than the padded input %" PRId64 "x%" PRId64, kh, kw, H, W);
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

static sx_tensor *run_avg_pool(const node *n, sx_tensor *x)
{
    int64_t kh = n->kernel[0], kw = n->kernel[1], sy = n->strides[0], sxx = n->strides[1];
    const int64_t *p = n->pads;
    int64_t C = x->shape[1], H = x->shape[2], W = x->shape[3];
    bool no_pad = !p[0] && !p[1] && !p[2] && !p[3];
    if (kh == kw && sy == kh && sxx == kw && no_pad && H % kh == 0 && W % kw == 0) return sx_avg_pool2d(x, (int)kh);
    if (n->ceil_mode) {
        node_fail(n, "ceil_mode 1 is not supported for AveragePool");
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
        if (!share || !step(&y, sx_div(y, share))) {
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

static sx_tensor *run_conv(const onnx_graph *g, const node *n, sx_tensor **v)
{
    sx_tensor *x = v[n->in[0]], *w = v[n->in[1]], *b = n->n_in > 2 && n->in[2] >= 0 ? v[n->in[2]] : NULL;
    if (x->ndim != 4 || w->ndim != 4) {
        char s1[64], s2[64];
        node_fail(n, "only 2-d convolutions: input %s, weight %s", sx_shape_str(x, s1, sizeof s1),
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
        node_fail(n, "Gemm takes 2-d inputs, got %d-d and %d-d", a->ndim, b->ndim);
        return NULL;
    }
    sx_tensor *at = n->trans_a ? sx_transpose(a, 0, 1) : sx_tensor_retain(a);
    sx_tensor *y = NULL;
    if (at) y = n->trans_b ? sx_linear(at, b, NULL) : sx_matmul(at, b);
    sx_tensor_free(at);
    if (y && n->alpha != 1.0f && !step(&y, sx_mul_scalar(y, n->alpha))) return NULL;
    if (y && c && n->beta != 0.0f) {
        sx_tensor *cb = n->beta == 1.0f ? sx_tensor_retain(c) : sx_mul_scalar(c, n->beta);
        if (!cb || !step(&y, sx_add(y, cb))) y = NULL;
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
        if (y) step(&y, sx_reshape(y, a->ndim, shape));
        sx_tensor_free(a2);
        return y;
    }
    if (a->ndim == 3 && b->ndim == 3) return sx_matmul(a, b);
    node_fail(n, "MatMul of %d-d by %d-d tensors is not supported (2-d weights, or two 3-d batches)", a->ndim, b->ndim);
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
            node_fail(n, "Clip's %s must be a scalar", k == 1 ? "min" : "max");
            return NULL;
        }
        if (k == 1) lo = val;
        else hi = val;
    }
    sx_tensor *h = sx_tensor_retain(x);
    bool ok = true;
    if (lo > -FLT_MAX) ok = step(&h, sx_add_scalar(h, -lo)) && step(&h, sx_relu(h)) && step(&h, sx_add_scalar(h, lo));
    if (ok && hi < FLT_MAX)
        ok = step(&h, sx_neg(h)) && step(&h, sx_add_scalar(h, hi)) && step(&h, sx_relu(h)) && step(&h, sx_neg(h)) &&
             step(&h, sx_add_scalar(h, hi));
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
        node_fail(n, "BatchNormalization of a %d-d tensor", x->ndim);
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

/* The integer values of input k (any computed tensor: integers travel as
 * float tensors, exact to 2^24), at most cap; the count, or -1 with the error. */
static int read_ints(const node *n, sx_tensor **v, int k, const char *what, int64_t *out, int cap)
{
    sx_tensor *t = n->n_in > k && n->in[k] >= 0 ? v[n->in[k]] : NULL;
    if (!t) {
        node_fail(n, "its %s input is missing", what);
        return -1;
    }
    int64_t m = sx_tensor_numel(t);
    if (m > cap || t->ndim > 1) {
        node_fail(n, "its %s has %" PRId64 " values in %d dimensions (at most %d, 1-d)", what, m, t->ndim, cap);
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

static sx_tensor *run_reshape(const onnx_graph *g, const node *n, sx_tensor **v)
{
    sx_tensor *x = v[n->in[0]];
    int64_t shape[MAX_DIM];
    int m = read_ints(n, v, 1, "shape", shape, MAX_DIM);
    if (m < 0) return NULL;
    (void)g;
    for (int d = 0; d < m; d++) {
        if (shape[d] == 0 && !n->allow_zero) {
            if (d >= x->ndim) {
                node_fail(n, "shape entry %d is 0 (copy) but the input has %d dimensions", d, x->ndim);
                return NULL;
            }
            shape[d] = x->shape[d];
        }
    }
    sx_tensor *xc = sx_contiguous(x), *y = xc ? sx_reshape(xc, m, shape) : NULL;
    sx_tensor_free(xc);
    return y;
}

static sx_tensor *run_flatten(const node *n, sx_tensor *x)
{
    int axis = (int)(n->axis < 0 ? n->axis + x->ndim : n->axis);
    if (axis < 0 || axis > x->ndim) {
        node_fail(n, "axis %" PRId64 " of a %d-d tensor", n->axis, x->ndim);
        return NULL;
    }
    int64_t outer = 1;
    for (int d = 0; d < axis; d++) outer *= x->shape[d];
    sx_tensor *xc = sx_contiguous(x), *y = xc ? sx_reshape(xc, 2, (int64_t[]){outer, -1}) : NULL;
    sx_tensor_free(xc);
    return y;
}

static sx_tensor *run_softmax(const onnx_graph *g, const node *n, sx_tensor *x)
{
    int axis = (int)(n->axis < 0 ? n->axis + x->ndim : n->axis);
    if (axis < 0 || axis >= x->ndim) {
        node_fail(n, "axis %" PRId64 " of a %d-d tensor", n->axis, x->ndim);
        return NULL;
    }
    /* before opset 13 Softmax flattens the dimensions from axis on; the same
     * as one dimension only when axis is the last */
    if (g->opset < 13 && axis != x->ndim - 1) {
        node_fail(n, "opset %d Softmax over axis %d of a %d-d tensor is not supported (only the last axis)", g->opset,
                  axis, x->ndim);
        return NULL;
    }
    return sx_softmax(x, axis);
}

static sx_tensor *run_pad(const onnx_graph *g, const node *n, sx_tensor **v)
{
    sx_tensor *x = v[n->in[0]];
    if (strcmp(n->mode, "constant") != 0) {
        node_fail(n, "mode '%s' is not supported (only constant)", n->mode);
        return NULL;
    }
    int64_t pads[2 * MAX_DIM];
    int m = read_ints(n, v, 1, "pads", pads, 2 * MAX_DIM);
    if (m < 0) return NULL;
    if (m != 2 * x->ndim) {
        node_fail(n, "%d pads for a %d-d tensor", m, x->ndim);
        return NULL;
    }
    float value = 0;
    (void)g;
    if (n->n_in > 2 && n->in[2] >= 0 && (sx_tensor_numel(v[n->in[2]]) != 1 || sx_tensor_item(v[n->in[2]], &value) != SX_OK)) {
        node_fail(n, "constant_value must be a scalar");
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
        node_fail(n, "only 4-d inputs are resized, got %d-d", x->ndim);
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
            node_fail(n, "scales must have 4 entries");
            return NULL;
        }
        sx_tensor_copy_to(sc, f);
        for (int d = 0; d < 4; d++) {
            scale[d] = f[d];
            if (!(scale[d] > 0 && scale[d] <= 16 * MAX_SIDE)) {
                node_fail(n, "scale %g is not in (0, %d]", scale[d], 16 * MAX_SIDE);
                return NULL;
            }
            size[d] = (int64_t)floor(x->shape[d] * scale[d]);
        }
    } else if (has_sizes) {
        if (read_ints(n, v, 3, "sizes", size, 4) != 4) {
            if (!strstr(sx_last_error(), "onnx: node")) node_fail(n, "sizes must have 4 entries");
            return NULL;
        }
        for (int d = 0; d < 4; d++) {
            if (size[d] < 1 || size[d] > 16 * MAX_SIDE) {
                node_fail(n, "size %" PRId64 " is not in 1..%d", size[d], 16 * MAX_SIDE);
                return NULL;
            }
            scale[d] = (double)size[d] / (double)x->shape[d];
        }
    } else {
        node_fail(n, "needs scales or sizes");
        return NULL;
    }
    if (size[2] > 16 * MAX_SIDE || size[3] > 16 * MAX_SIDE) {
        node_fail(n, "resize to %" PRId64 "x%" PRId64 " is too large", size[2], size[3]);
        return NULL;
    }
    if (size[0] != x->shape[0] || size[1] != x->shape[1] || size[2] < 1 || size[3] < 1) {
        node_fail(n, "only height and width can be resized (to %" PRId64 "x%" PRId64 ")", size[2], size[3]);
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
            step(&h, sx_index_select(h, d, size[d], idx));
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

/* ---- the shape arithmetic: integers are float tensors, these ops are
 * views, gathers and copies (differentiable where they touch activations) */

static sx_tensor *run_shape(const node *n, sx_tensor *x)
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
        m = read_ints(n, v, 1, "axes", axes, MAX_DIM);
        if (m < 0) return -1;
    } else {
        return 0;
    }
    for (int i = 0; i < m; i++) {
        if (axes[i] < 0) axes[i] += rank;
        if (axes[i] < 0 || axes[i] >= rank) {
            node_fail(n, "axis %" PRId64 " out of range for rank %d", axes[i], rank);
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

static sx_tensor *run_unsqueeze(const node *n, sx_tensor **v, sx_tensor *x)
{
    int64_t axes[MAX_DIM];
    int m = n->has_list ? n->n_list : (n->n_in > 1 && n->in[1] >= 0 ? (int)sx_tensor_numel(v[n->in[1]]) : 0);
    int rank = x->ndim + m;
    if (m < 1 || rank > MAX_DIM || (m = read_axes(n, v, rank, axes)) < 0) {
        if (m >= 0) node_fail(n, "Unsqueeze needs 1 to %d axes", MAX_DIM - x->ndim);
        return NULL;
    }
    int64_t shape[MAX_DIM];
    for (int d = 0, k = 0; d < rank; d++) shape[d] = has_axis(axes, m, d) ? 1 : x->shape[k++];
    sx_tensor *xc = sx_contiguous(x), *y = xc ? sx_reshape(xc, rank, shape) : NULL;
    sx_tensor_free(xc);
    return y;
}

static sx_tensor *run_squeeze(const node *n, sx_tensor **v, sx_tensor *x)
{
    int64_t axes[MAX_DIM], shape[MAX_DIM];
    int m = read_axes(n, v, x->ndim, axes), rank = 0;
    if (m < 0) return NULL;
    for (int d = 0; d < x->ndim; d++) {
        bool drop = m ? has_axis(axes, m, d) : x->shape[d] == 1;
        if (drop && x->shape[d] != 1) {
            node_fail(n, "cannot squeeze axis %d of size %" PRId64, d, x->shape[d]);
            return NULL;
        }
        if (!drop) shape[rank++] = x->shape[d];
    }
    sx_tensor *xc = sx_contiguous(x), *y = xc ? sx_reshape(xc, rank, shape) : NULL;
    sx_tensor_free(xc);
    return y;
}

static sx_tensor *run_gather(const node *n, sx_tensor **v, sx_tensor *x)
{
    sx_tensor *it = v[n->in[1]];
    int axis = (int)(n->axis < 0 ? n->axis + x->ndim : n->axis);
    if (axis < 0 || axis >= x->ndim || it->ndim > 1) {
        node_fail(n, "Gather of %d-d indices along axis %" PRId64 " of a %d-d tensor (scalar or 1-d indices)", it->ndim,
                  n->axis, x->ndim);
        return NULL;
    }
    int64_t idx[4 * MAX_DIM];
    int m = read_ints(n, v, 1, "indices", idx, 4 * MAX_DIM);
    if (m < 0) return NULL;
    for (int i = 0; i < m; i++) {
        if (idx[i] < 0) idx[i] += x->shape[axis];
        if (idx[i] < 0 || idx[i] >= x->shape[axis]) {
            node_fail(n, "index out of range for size %" PRId64, x->shape[axis]);
            return NULL;
        }
    }
    sx_tensor *y = sx_index_select(x, axis, m, idx);
    if (y && it->ndim == 0) { /* a scalar index drops the axis */
        int64_t shape[MAX_DIM];
        int r = 0;
        for (int d = 0; d < x->ndim; d++)
            if (d != axis) shape[r++] = y->shape[d];
        step(&y, sx_reshape(y, r, shape));
    }
    return y;
}

static sx_tensor *run_constant_of_shape(const node *n, sx_tensor **v)
{
    int64_t shape[MAX_DIM];
    int m = read_ints(n, v, 0, "shape", shape, MAX_DIM);
    if (m < 0) return NULL;
    int64_t total = 1;
    for (int d = 0; d < m; d++) {
        if (shape[d] < 0 || shape[d] > MAX_PER_IMAGE || (total *= shape[d]) > MAX_PER_IMAGE) {
            node_fail(n, "shape entry %" PRId64 " (too large or negative)", shape[d]);
            return NULL;
        }
    }
    return sx_tensor_full(m, shape, n->fill);
}

/* ONNX Slice: per axis start/end clamped as the spec says, any non-zero step. */
static sx_tensor *run_slice(const node *n, sx_tensor **v, sx_tensor *x)
{
    int64_t st[MAX_DIM], en[MAX_DIM], ax[MAX_DIM], sp[MAX_DIM];
    int m = read_ints(n, v, 1, "starts", st, MAX_DIM);
    if (m < 0 || read_ints(n, v, 2, "ends", en, MAX_DIM) != m) {
        if (m >= 0 && !strstr(sx_last_error(), "onnx: node")) node_fail(n, "starts and ends differ in length");
        return NULL;
    }
    for (int i = 0; i < m; i++) {
        ax[i] = i;
        sp[i] = 1;
    }
    if (n->n_in > 3 && n->in[3] >= 0 && read_ints(n, v, 3, "axes", ax, MAX_DIM) != m) return NULL;
    if (n->n_in > 4 && n->in[4] >= 0 && read_ints(n, v, 4, "steps", sp, MAX_DIM) != m) return NULL;
    sx_tensor *h = sx_tensor_retain(x);
    for (int i = 0; i < m && h; i++) {
        int64_t a = ax[i] < 0 ? ax[i] + x->ndim : ax[i];
        if (a < 0 || a >= x->ndim || sp[i] == 0) {
            sx_tensor_free(h);
            node_fail(n, "axis %" PRId64 " or step %" PRId64 " out of range", ax[i], sp[i]);
            return NULL;
        }
        int64_t dim = x->shape[a], s0 = st[i], e0 = en[i];
        /* a step longer than the axis takes one element, as a step of the
         * axis' length does; clamping keeps -step and the counts in range */
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
            step(&h, sx_narrow(h, (int)a, s0, cnt));
            continue;
        }
        int64_t *idx = malloc(sizeof(int64_t) * (size_t)(cnt ? cnt : 1));
        if (!idx) {
            sx_tensor_free(h);
            sx_fail(SX_ENOMEM, "onnx: out of memory");
            return NULL;
        }
        for (int64_t k = 0; k < cnt; k++) idx[k] = s0 + k * sp[i];
        step(&h, sx_index_select(h, (int)a, cnt, idx));
        free(idx);
    }
    return h;
}

static sx_tensor *run_transpose(const node *n, sx_tensor *x)
{
    int perm[MAX_DIM];
    for (int d = 0; d < x->ndim; d++) perm[d] = n->has_list ? (int)n->list[d] : x->ndim - 1 - d;
    if (n->has_list && n->n_list != x->ndim) {
        node_fail(n, "perm has %d entries for a %d-d tensor", n->n_list, x->ndim);
        return NULL;
    }
    sx_tensor *y = sx_permute(x, perm), *yc = y ? sx_contiguous(y) : NULL;
    sx_tensor_free(y);
    return yc;
}

/* Cast: to float keeps the values; to an integer type truncates toward zero
 * (a constant: no gradient); bool and strings are refused at load. */
static sx_tensor *run_cast(const node *n, sx_tensor *x)
{
    if (n->to == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || n->to == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE ||
        n->to == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16)
        return sx_tensor_retain(x);
    sx_tensor *y = sx_tensor_copy(x);
    if (!y) return NULL;
    float *d = sx_tensor_data(y);
    for (int64_t i = 0; i < sx_tensor_numel(y); i++) d[i] = truncf(d[i]);
    return y;
}

static sx_tensor *run_reduce_mean(const node *n, sx_tensor **v, sx_tensor *x)
{
    int64_t axes[MAX_DIM];
    int m = read_axes(n, v, x->ndim, axes);
    if (m < 0) return NULL;
    int dims[MAX_DIM];
    for (int i = 0; i < m; i++) dims[i] = (int)axes[i];
    return sx_mean(x, m, dims, n->keepdims != 0);
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
            node_fail(n, "only 2-d pooling of [N, C, H, W], got %d-d", x->ndim);
            return NULL;
        }
        if (n->op == OP_GLOBAL_AVG_POOL) return sx_mean(x, 2, (int[]){2, 3}, true);
        return n->op == OP_MAX_POOL ? run_max_pool(n, x) : run_avg_pool(n, x);
    case OP_BATCH_NORM: return run_batch_norm(n, v);
    case OP_FLATTEN: return run_flatten(n, x);
    case OP_RESHAPE: return run_reshape(g, n, v);
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
    case OP_SHAPE: return run_shape(n, x);
    case OP_GATHER: return run_gather(n, v, x);
    case OP_UNSQUEEZE: return run_unsqueeze(n, v, x);
    case OP_SQUEEZE: return run_squeeze(n, v, x);
    case OP_CONSTANT_OF_SHAPE: return run_constant_of_shape(n, v);
    case OP_SLICE: return run_slice(n, v, x);
    case OP_TRANSPOSE: return run_transpose(n, x);
    case OP_CAST: return run_cast(n, x);
    case OP_REDUCE_MEAN: return run_reduce_mean(n, v, x);
    case OP_CONSTANT:
    case OP_COUNT: break;
    }
    sx_fail(SX_EINVAL, "onnx: node '%s': nothing to run", n->name);
    return NULL;
}

/* Runs the graph on x; fills vals[slot] with new references (constants
 * retained); the caller frees them. With keep, a computed value nobody reads
 * any more is dropped after its last reader (so inference holds only the
 * live activations), unless keep[slot]; without keep every value stays. */
static sx_status run_graph(const onnx_graph *g, sx_tensor *x, sx_tensor **vals, const bool *keep)
{
    for (int i = 0; i < g->n_slots; i++) vals[i] = g->slots[i].value ? sx_tensor_retain(g->slots[i].value) : NULL;
    vals[g->input] = sx_tensor_retain(x);
    for (int k = 0; k < g->n_nodes; k++) {
        const node *n = &g->nodes[k];
        if (n->op == OP_CONSTANT) continue;
        for (int i = 0; i < n->n_in; i++)
            if (n->in[i] >= 0 && !vals[n->in[i]])
                return node_fail(n, "input '%s' has no value",
                                 g->slots[n->in[i]].name);
        sx_tensor *y = run_node(g, n, vals);
        if (!y) {
            const char *e = sx_last_error();
            if (strncmp(e, "onnx: node", 10) == 0) return sx_last_status();
            char msg[400];
            snprintf(msg, sizeof msg, "%s", e);
            return node_fail(n, "%s", msg);
        }
        vals[n->out] = y;
        int64_t batch = x->shape[0] > 0 ? x->shape[0] : 1;
        if (sx_tensor_numel(y) / batch > MAX_PER_IMAGE) {
            char sh[96];
            return node_fail(n, "its result %s is too large (over %d values per image)", sx_shape_str(y, sh, sizeof sh),
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

static int find_slot(const onnx_graph *g, const char *name)
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
        which[i] = find_slot(g, names[i]);
        if (which[i] >= 0) keep[which[i]] = true;
    }
    keep[g->output] = true;
    sx_status st = n && !which ? sx_fail(SX_ENOMEM, "onnx: out of memory") : run_graph(g, x, vals, keep);
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

static const sx_classifier_vtable onnx_vtable = {.kind = "onnx", .run = onnx_run, .free_impl = graph_free};

/* ---------------------------------------------------------------- loading */

/* protobuf-c leaves an absent optional string NULL */
static const char *str(const char *s) { return s ? s : ""; }

typedef struct loader {
    const char *path;
    char err[400];
    onnx_graph *g;
    int cap_slots;
} loader;

static bool lfail(loader *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool lfail(loader *L, const char *fmt, ...)
{
    if (L->err[0]) return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->err, sizeof L->err, fmt, ap);
    va_end(ap);
    return false;
}

static int add_slot(loader *L, const char *name)
{
    onnx_graph *g = L->g;
    if (g->n_slots == L->cap_slots) {
        int cap = L->cap_slots ? 2 * L->cap_slots : 64;
        slot *s = realloc(g->slots, sizeof *s * (size_t)cap);
        if (!s) return lfail(L, "out of memory"), -1;
        g->slots = s;
        L->cap_slots = cap;
    }
    slot *s = &g->slots[g->n_slots];
    memset(s, 0, sizeof *s);
    s->producer = -1;
    if (!(s->name = strdup(name))) return lfail(L, "out of memory"), -1;
    return g->n_slots++;
}

static const char *dtype_name(int t)
{
    static const char *const n[] = {"undefined", "float", "uint8", "int8", "uint16", "int16", "int32", "int64",
                                    "string", "bool", "float16", "double", "uint32", "uint64"};
    return t >= 0 && t < 14 ? n[t] : "unknown";
}

/* A TensorProto into slot s (float value; integers also as ints). */
static bool load_tensor(loader *L, const Onnx__TensorProto *t, int s, const char *what)
{
    if (t->n_dims > MAX_DIM) return lfail(L, "%s '%s' has %zu dimensions", what, str(t->name), t->n_dims);
    int64_t shape[MAX_DIM], numel = 1;
    for (size_t d = 0; d < t->n_dims; d++) {
        if (t->dims[d] < 0 || t->dims[d] > ((int64_t)1 << 31)) return lfail(L, "%s '%s' has a bad dimension", what, str(t->name));
        shape[d] = t->dims[d];
        numel *= shape[d];
        if (numel > ((int64_t)1 << 31)) return lfail(L, "%s '%s' is too large", what, str(t->name));
    }
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return lfail(L, "%s '%s' keeps its data in an external file (not supported; save the model with its weights inside)",
                     what, str(t->name));
    int type = t->has_data_type ? t->data_type : 0;
    size_t raw = t->has_raw_data ? t->raw_data.len : 0;
    const uint8_t *rd = t->has_raw_data ? t->raw_data.data : NULL;
    float *f = malloc(sizeof(float) * (size_t)(numel ? numel : 1));
    if (!f) return lfail(L, "out of memory");
    bool ok = true;
    if (type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
        /* an empty tensor (Resize's unused roi and scales) has no data at all */
        if (numel == 0) ok = true;
        else if (rd && raw == 4 * (size_t)numel) memcpy(f, rd, raw);
        else if (!rd && t->n_float_data == (size_t)numel) memcpy(f, t->float_data, 4 * (size_t)numel);
        else ok = false;
    } else if (type == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE) {
        if (rd && raw == 8 * (size_t)numel)
            for (int64_t i = 0; i < numel; i++) {
                double d;
                memcpy(&d, rd + 8 * i, 8);
                f[i] = (float)d;
            }
        else if (!rd && t->n_double_data == (size_t)numel)
            for (int64_t i = 0; i < numel; i++) f[i] = (float)t->double_data[i];
        else ok = false;
    } else if (type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 || type == ONNX__TENSOR_PROTO__DATA_TYPE__INT32) {
        size_t w = type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ? 8 : 4;
        for (int64_t i = 0; i < numel && ok; i++) {
            int64_t iv = 0;
            if (rd && raw == w * (size_t)numel) {
                if (w == 8) memcpy(&iv, rd + 8 * i, 8);
                else {
                    int32_t v;
                    memcpy(&v, rd + 4 * i, 4);
                    iv = v;
                }
            } else if (!rd && w == 8 && t->n_int64_data == (size_t)numel) iv = t->int64_data[i];
            else if (!rd && w == 4 && t->n_int32_data == (size_t)numel) iv = t->int32_data[i];
            else ok = false;
            f[i] = (float)iv;
        }
    } else {
        free(f);
        return lfail(L, "%s '%s' has element type %s (float, double, int32 and int64 are supported)", what, str(t->name),
                     dtype_name(type));
    }
    if (!ok) {
        free(f);
        return lfail(L, "%s '%s': its data does not match its shape (truncated file?)", what, str(t->name));
    }
    slot *sl = &L->g->slots[s];
    sl->value = sx_tensor_from_data((int)t->n_dims, shape, f);
    free(f);
    if (!sl->value) return lfail(L, "%s '%s': %s", what, str(t->name), sx_last_error());
    return true;
}

static op_kind op_of(const char *type)
{
    for (int k = 0; k < OP_COUNT; k++)
        if (strcmp(op_names[k], type) == 0) return (op_kind)k;
    return OP_COUNT;
}

/* The attributes this importer reads, per op; any other attribute with a
 * value that changes the result is refused. */
static bool read_attrs(loader *L, const Onnx__NodeProto *p, node *n)
{
    n->strides[0] = n->strides[1] = 1;
    n->group = 1;
    n->alpha = n->op == OP_LEAKY_RELU ? 0.01f : 1.0f;
    n->beta = 1.0f;
    n->epsilon = 1e-5f;
    n->axis = n->op == OP_SOFTMAX ? (L->g->opset >= 13 ? -1 : 1) : 1;
    snprintf(n->mode, sizeof n->mode, "%s", n->op == OP_PAD ? "constant" : "nearest");
    snprintf(n->ctm, sizeof n->ctm, "half_pixel");
    snprintf(n->nearest, sizeof n->nearest, "round_prefer_floor");
    snprintf(n->auto_pad, sizeof n->auto_pad, "NOTSET");
    n->keepdims = 1;
    n->end = INT64_MAX;
    if (n->op == OP_GATHER) n->axis = 0;
    for (size_t i = 0; i < p->n_attribute; i++) {
        const Onnx__AttributeProto *a = p->attribute[i];
        const char *k = a->name ? a->name : "";
        bool ints2 = a->n_ints == 2, ints4 = a->n_ints == 4;
        if (!strcmp(k, "kernel_shape") && (n->op == OP_MAX_POOL || n->op == OP_AVG_POOL || n->op == OP_CONV)) {
            if (!ints2) return lfail(L, "node '%s' (%s): only 2-d kernels", n->name, op_names[n->op]);
            n->kernel[0] = a->ints[0];
            n->kernel[1] = a->ints[1];
        } else if (!strcmp(k, "strides")) {
            if (!ints2) return lfail(L, "node '%s' (%s): only 2-d strides", n->name, op_names[n->op]);
            n->strides[0] = a->ints[0];
            n->strides[1] = a->ints[1];
        } else if (!strcmp(k, "pads") && n->op != OP_PAD) {
            if (!ints4) return lfail(L, "node '%s' (%s): only 2-d pads", n->name, op_names[n->op]);
            /* ONNX order: y_begin, x_begin, y_end, x_end; kept as top, left, bottom, right */
            for (int q = 0; q < 4; q++) n->pads[q] = a->ints[q];
        } else if (!strcmp(k, "dilations")) {
            for (size_t q = 0; q < a->n_ints; q++)
                if (a->ints[q] != 1)
                    return lfail(L, "node '%s' (%s): dilation %" PRId64 " is not supported (only 1)", n->name,
                                 op_names[n->op], a->ints[q]);
        } else if (!strcmp(k, "group")) n->group = a->i;
        else if (!strcmp(k, "alpha")) n->alpha = a->f;
        else if (!strcmp(k, "beta")) n->beta = a->f;
        else if (!strcmp(k, "epsilon")) n->epsilon = a->f;
        else if (!strcmp(k, "transA")) n->trans_a = a->i;
        else if (!strcmp(k, "transB")) n->trans_b = a->i;
        else if (!strcmp(k, "axis")) n->axis = a->i;
        else if (!strcmp(k, "ceil_mode")) n->ceil_mode = a->i;
        else if (!strcmp(k, "count_include_pad")) n->count_include_pad = a->i;
        else if (!strcmp(k, "allowzero")) n->allow_zero = a->i;
        else if (!strcmp(k, "keepdims")) n->keepdims = a->i;
        else if (!strcmp(k, "start")) n->start = a->i;
        else if (!strcmp(k, "end")) n->end = a->i;
        else if (!strcmp(k, "to")) {
            n->to = a->i;
            if (n->to != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT && n->to != ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE &&
                n->to != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16 && n->to != ONNX__TENSOR_PROTO__DATA_TYPE__INT64 &&
                n->to != ONNX__TENSOR_PROTO__DATA_TYPE__INT32)
                return lfail(L, "node '%s' (Cast): to %s is not supported", n->name, dtype_name((int)n->to));
        } else if ((!strcmp(k, "perm") || !strcmp(k, "axes")) && a->n_ints <= MAX_DIM) {
            n->has_list = true;
            n->n_list = (int)a->n_ints;
            for (size_t q = 0; q < a->n_ints; q++) n->list[q] = a->ints[q];
        } else if (!strcmp(k, "value") && n->op == OP_CONSTANT_OF_SHAPE) {
            const Onnx__TensorProto *t = a->t;
            int ty = t && t->has_data_type ? t->data_type : 0;
            n->fill = 0;
            if (t && t->has_raw_data && ty == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT && t->raw_data.len == 4)
                memcpy(&n->fill, t->raw_data.data, 4);
            else if (t && t->has_raw_data && ty == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 && t->raw_data.len == 8) {
                int64_t q;
                memcpy(&q, t->raw_data.data, 8);
                n->fill = (float)q;
            } else if (t && t->n_float_data == 1) n->fill = t->float_data[0];
            else if (t && t->n_int64_data == 1) n->fill = (float)t->int64_data[0];
            else return lfail(L, "node '%s' (ConstantOfShape): value must be one float or int64", n->name);
        }
        else if (!strcmp(k, "mode") || !strcmp(k, "coordinate_transformation_mode") || !strcmp(k, "nearest_mode") ||
                 !strcmp(k, "auto_pad")) {
            char *dst = !strcmp(k, "mode") ? n->mode : !strcmp(k, "nearest_mode") ? n->nearest
                        : !strcmp(k, "auto_pad") ? n->auto_pad : n->ctm;
            size_t cap = dst == n->auto_pad ? sizeof n->auto_pad : sizeof n->mode;
            size_t len = a->has_s ? a->s.len : 0;
            if (len >= cap) len = cap - 1;
            memcpy(dst, a->s.data, len);
            dst[len] = 0;
        } else if (!strcmp(k, "training_mode")) {
            if (a->i) return lfail(L, "node '%s' (BatchNormalization): training_mode 1 is not supported", n->name);
        } else if (!strcmp(k, "storage_order") || !strcmp(k, "momentum") || !strcmp(k, "seed") ||
                   !strcmp(k, "cubic_coeff_a") || !strcmp(k, "exclude_outside") || !strcmp(k, "extrapolation_value") ||
                   !strcmp(k, "ratio") || !strcmp(k, "spatial")) {
            /* no effect on what stylex computes (inference, no cubic, no crop) */
        } else if (n->op == OP_CONSTANT) {
            /* read by load_constant */
        } else {
            return lfail(L, "node '%s' (%s): attribute '%s' is not supported", n->name, op_names[n->op], k);
        }
    }
    if (n->op == OP_RESIZE && strcmp(n->mode, "nearest") && strcmp(n->mode, "linear"))
        return lfail(L, "node '%s' (Resize): mode '%s' is not supported (nearest, linear)", n->name, n->mode);
    if (n->op == OP_CONV && strcmp(n->auto_pad, "NOTSET") && strcmp(n->auto_pad, "VALID") &&
        strncmp(n->auto_pad, "SAME", 4))
        return lfail(L, "node '%s' (Conv): auto_pad '%s'", n->name, n->auto_pad);
    if ((n->op == OP_MAX_POOL || n->op == OP_AVG_POOL) &&
        (strcmp(n->auto_pad, "NOTSET") && strcmp(n->auto_pad, "VALID")))
        return lfail(L, "node '%s' (%s): auto_pad '%s' is not supported", n->name, op_names[n->op], n->auto_pad);
    if ((n->op == OP_MAX_POOL || n->op == OP_AVG_POOL) && (n->kernel[0] < 1 || n->kernel[1] < 1))
        return lfail(L, "node '%s' (%s): needs a 2-d kernel_shape", n->name, op_names[n->op]);
    if (n->strides[0] < 1 || n->strides[1] < 1 || n->group < 1 || n->strides[0] > MAX_SIDE || n->strides[1] > MAX_SIDE ||
        n->group > MAX_PER_IMAGE || n->kernel[0] > MAX_SIDE || n->kernel[1] > MAX_SIDE)
        return lfail(L, "node '%s' (%s): strides, kernel and group must be positive and at most %d", n->name,
                     op_names[n->op], MAX_SIDE);
    for (int q = 0; q < 4; q++)
        if (n->pads[q] < 0 || n->pads[q] > MAX_SIDE)
            return lfail(L, "node '%s' (%s): pads must be in 0..%d", n->name, op_names[n->op], MAX_SIDE);
    return true;
}

/* A Constant node's value into its output slot. */
static bool load_constant(loader *L, const Onnx__NodeProto *p, const node *n)
{
    for (size_t i = 0; i < p->n_attribute; i++) {
        const Onnx__AttributeProto *a = p->attribute[i];
        slot *s = &L->g->slots[n->out];
        if (!strcmp(str(a->name), "value") && a->t) return load_tensor(L, a->t, n->out, "Constant");
        if (!strcmp(str(a->name), "value_float") || !strcmp(str(a->name), "value_floats")) {
            bool one = !strcmp(str(a->name), "value_float");
            int64_t len = one ? 1 : (int64_t)a->n_floats;
            s->value = one ? sx_tensor_scalar(a->f) : sx_tensor_from_data(1, &len, a->floats);
            return s->value ? true : lfail(L, "Constant '%s': %s", n->name, sx_last_error());
        }
        if (!strcmp(str(a->name), "value_int") || !strcmp(str(a->name), "value_ints")) {
            bool one = !strcmp(str(a->name), "value_int");
            int64_t len = one ? 1 : (int64_t)a->n_ints;
            float *f = malloc(sizeof(float) * (size_t)(len ? len : 1));
            if (!f) return lfail(L, "out of memory");
            for (int64_t q = 0; q < len; q++) f[q] = (float)(one ? a->i : a->ints[q]);
            s->value = one ? sx_tensor_scalar(f[0]) : sx_tensor_from_data(1, &len, f);
            free(f);
            return s->value ? true : lfail(L, "Constant '%s': %s", n->name, sx_last_error());
        }
    }
    return lfail(L, "node '%s' (Constant): no value (value, value_float(s) or value_int(s) expected)", n->name);
}

/* How many inputs each op takes: [min, max]. */
static void arity(op_kind op, int *lo, int *hi)
{
    static const signed char a[OP_COUNT][2] = {
        [OP_CONV] = {2, 3}, [OP_GEMM] = {2, 3}, [OP_MATMUL] = {2, 2}, [OP_ADD] = {2, 2}, [OP_SUB] = {2, 2},
        [OP_MUL] = {2, 2}, [OP_DIV] = {2, 2}, [OP_RELU] = {1, 1}, [OP_LEAKY_RELU] = {1, 1}, [OP_SIGMOID] = {1, 1},
        [OP_TANH] = {1, 1}, [OP_CLIP] = {1, 3}, [OP_MAX_POOL] = {1, 1}, [OP_AVG_POOL] = {1, 1},
        [OP_GLOBAL_AVG_POOL] = {1, 1}, [OP_BATCH_NORM] = {5, 5}, [OP_FLATTEN] = {1, 1}, [OP_RESHAPE] = {2, 2},
        [OP_CONCAT] = {1, MAX_IN}, [OP_SOFTMAX] = {1, 1}, [OP_PAD] = {2, 3}, [OP_RESIZE] = {1, 4},
        [OP_CONSTANT] = {0, 0}, [OP_IDENTITY] = {1, 1}, [OP_DROPOUT] = {1, 3}, [OP_SHAPE] = {1, 1},
        [OP_GATHER] = {2, 2}, [OP_UNSQUEEZE] = {1, 2}, [OP_SQUEEZE] = {1, 2}, [OP_CONSTANT_OF_SHAPE] = {1, 1},
        [OP_SLICE] = {3, 5}, [OP_TRANSPOSE] = {1, 1}, [OP_CAST] = {1, 1}, [OP_REDUCE_MEAN] = {1, 1}};
    *lo = a[op][0];
    *hi = a[op][1];
}

static bool load_nodes(loader *L, const Onnx__GraphProto *gp)
{
    onnx_graph *g = L->g;
    g->nodes = calloc(gp->n_node ? gp->n_node : 1, sizeof *g->nodes);
    if (!g->nodes) return lfail(L, "out of memory");
    for (size_t k = 0; k < gp->n_node; k++) {
        const Onnx__NodeProto *p = gp->node[k];
        node *n = &g->nodes[g->n_nodes];
        const char *type = p->op_type ? p->op_type : "";
        char fallback[64];
        snprintf(fallback, sizeof fallback, "%s #%zu", type, k);
        n->name = strdup(p->name && p->name[0] ? p->name : fallback);
        if (!n->name) return lfail(L, "out of memory");
        g->n_nodes++;
        n->op = op_of(type);
        if (p->domain && p->domain[0] && strcmp(p->domain, "ai.onnx"))
            return lfail(L, "node '%s': operator %s of domain '%s' is not supported", n->name, type, p->domain);
        if (n->op == OP_COUNT)
            return lfail(L, "node '%s': unsupported operator %s (stylex runs Conv, Gemm, MatMul, Add, Sub, Mul, Div, "
                            "Relu, LeakyRelu, Sigmoid, Tanh, Clip, MaxPool, AveragePool, GlobalAveragePool, "
                            "BatchNormalization, Flatten, Reshape, Concat, Softmax, Pad, Resize, Constant, Identity, Dropout, "
                            "and for shapes Shape, Gather, Unsqueeze, Squeeze, ConstantOfShape, Slice, Transpose, Cast; ReduceMean)",
                         n->name, type);
        int lo, hi;
        arity(n->op, &lo, &hi);
        if ((int)p->n_input < lo || (int)p->n_input > hi)
            return lfail(L, "node '%s' (%s): %zu inputs, expected %d to %d", n->name, type, p->n_input, lo, hi);
        n->n_in = (int)p->n_input;
        for (int i = 0; i < n->n_in; i++) {
            if (!p->input[i][0]) {
                n->in[i] = -1;
                continue;
            }
            n->in[i] = find_slot(g, p->input[i]);
            if (n->in[i] < 0)
                return lfail(L, "node '%s' (%s): input '%s' is not computed before it", n->name, type, p->input[i]);
        }
        if (n->n_in > 0 && n->in[0] < 0) return lfail(L, "node '%s' (%s): no first input", n->name, type);
        if (p->n_output < 1) return lfail(L, "node '%s' (%s): no output", n->name, type);
        for (size_t o = 1; o < p->n_output; o++)
            if (p->output[o][0])
                for (size_t q = k + 1; q < gp->n_node; q++)
                    for (size_t i = 0; i < gp->node[q]->n_input; i++)
                        if (!strcmp(gp->node[q]->input[i], p->output[o]))
                            return lfail(L, "node '%s' (%s): its output %zu ('%s') is used, only the first is supported",
                                         n->name, type, o, p->output[o]);
        if (!read_attrs(L, p, n)) return false;
        if ((n->out = add_slot(L, p->output[0])) < 0) return false;
        g->slots[n->out].producer = n->op == OP_CONSTANT ? -1 : (int)(n - g->nodes);
        if (n->op == OP_CONSTANT && !load_constant(L, p, n)) return false;
    }
    return true;
}

/* The graph's one non-initializer input: float [N, C, H, W], C, H, W fixed. */
static bool load_input(loader *L, const Onnx__GraphProto *gp)
{
    onnx_graph *g = L->g;
    const Onnx__ValueInfoProto *in = NULL;
    int count = 0;
    for (size_t i = 0; i < gp->n_input; i++) {
        bool init = false;
        for (size_t k = 0; k < gp->n_initializer && !init; k++)
            init = !strcmp(str(gp->initializer[k]->name), str(gp->input[i]->name));
        if (!init) {
            in = gp->input[i];
            count++;
        }
    }
    if (count != 1) return lfail(L, "the graph has %d inputs, expected one image input", count);
    const Onnx__TypeProto *t = in->type;
    if (!t || t->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !t->tensor_type)
        return lfail(L, "input '%s' is not a tensor", str(in->name));
    const Onnx__TypeProto__Tensor *tt = t->tensor_type;
    if (tt->has_elem_type && tt->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return lfail(L, "input '%s' is %s, expected float", str(in->name), dtype_name(tt->elem_type));
    if (!tt->shape) return lfail(L, "input '%s' has no shape (dynamic input shape)", str(in->name));
    const Onnx__TensorShapeProto *s = tt->shape;
    if (s->n_dim != 4) return lfail(L, "input '%s' has %zu dimensions, expected [N, C, H, W]", str(in->name), s->n_dim);
    int64_t dim[4];
    static const char *const what[4] = {"N", "C", "H", "W"};
    for (int d = 1; d < 4; d++) {
        const Onnx__TensorShapeProto__Dimension *x = s->dim[d];
        if (x->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE || x->dim_value < 1)
            return lfail(L, "input '%s': dimension %s is dynamic ('%s'); export with a fixed %s (only N may vary)",
                         str(in->name), what[d],
                         x->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM ? x->dim_param : "?",
                         what[d]);
        dim[d] = x->dim_value;
    }
    if (dim[1] != 1 && dim[1] != 3)
        return lfail(L, "input '%s' has %" PRId64 " channels, expected 1 (grey) or 3 (RGB)", str(in->name), dim[1]);
    if (dim[2] > MAX_SIDE || dim[3] > MAX_SIDE)
        return lfail(L, "input '%s' is %" PRId64 "x%" PRId64 ", larger than %d pixels a side", str(in->name), dim[2], dim[3],
                     MAX_SIDE);
    g->channels = (int)dim[1];
    g->height = (int)dim[2];
    g->width = (int)dim[3];
    return (g->input = add_slot(L, str(in->name))) >= 0;
}

static bool load_graph(loader *L, const Onnx__ModelProto *m)
{
    onnx_graph *g = L->g;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        if (!o->domain || !o->domain[0] || !strcmp(o->domain, "ai.onnx")) g->opset = (int)o->version;
    }
    if (g->opset < 11 || g->opset > 17)
        return lfail(L, "opset %d is not supported (11 to 17; re-export with opset_version=13, say)", g->opset);
    const Onnx__GraphProto *gp = m->graph;
    if (!load_input(L, gp)) return false;
    for (size_t k = 0; k < gp->n_initializer; k++) {
        const Onnx__TensorProto *t = gp->initializer[k];
        int s = add_slot(L, str(t->name));
        if (s < 0 || !load_tensor(L, t, s, "initializer")) return false;
    }
    if (gp->n_sparse_initializer) return lfail(L, "sparse initializers are not supported");
    if (!load_nodes(L, gp)) return false;
    for (int q = 0; q < g->n_slots; q++) g->slots[q].last_use = -1;
    for (int k = 0; k < g->n_nodes; k++)
        for (int i = 0; i < g->nodes[k].n_in; i++)
            if (g->nodes[k].in[i] >= 0) g->slots[g->nodes[k].in[i]].last_use = k;
    if (gp->n_output < 1) return lfail(L, "the graph has no output");
    g->output = find_slot(g, str(gp->output[0]->name));
    if (g->output < 0 || g->slots[g->output].producer < 0)
        return lfail(L, "the output '%s' is not computed by a node", str(gp->output[0]->name));
    return true;
}

/* ---------------------------------------------------------------- the layers and the sidecar */

static bool is_activation(const onnx_graph *g, int s)
{
    int p = g->slots[s].producer;
    if (p < 0) return false;
    op_kind k = g->nodes[p].op;
    return k == OP_RELU || k == OP_CLIP || k == OP_LEAKY_RELU || k == OP_SIGMOID || k == OP_TANH;
}

static bool spatial(const slot *s) { return s->ndim == 4 && s->shape[2] * s->shape[3] > 1; }

static char *dup(loader *L, const char *s)
{
    char *d = strdup(s);
    if (!d) lfail(L, "out of memory");
    return d;
}

/* info's layer lists from the slot shapes; the defaults of onnx.h. */
static bool default_layers(loader *L, sx_classifier_info *in)
{
    onnx_graph *g = L->g;
    in->layers = calloc((size_t)g->n_slots, sizeof(char *));
    in->perceptual = calloc((size_t)g->n_slots, sizeof(char *));
    if (!in->layers || !in->perceptual) return lfail(L, "out of memory");
    int last_act = -1, last_map = -1;
    for (int s = 0; s < g->n_slots; s++) {
        const slot *sl = &g->slots[s];
        if (sl->producer < 0 || sl->ndim != 4) continue;
        if (!(in->layers[in->n_layers] = dup(L, sl->name))) return false;
        in->n_layers++;
        if (!spatial(sl)) continue;
        last_map = s;
        if (is_activation(g, s)) last_act = s;
        /* the last activation of its size: no later activation of the same size */
        if (!is_activation(g, s)) continue;
        bool later = false;
        for (int q = s + 1; q < g->n_slots && !later; q++)
            later = g->slots[q].producer >= 0 && g->slots[q].ndim == 4 && is_activation(g, q) &&
                    g->slots[q].shape[2] == sl->shape[2] && g->slots[q].shape[3] == sl->shape[3];
        if (!later && !(in->perceptual[in->n_perceptual++] = dup(L, sl->name))) return false;
    }
    int cam = last_act >= 0 ? last_act : last_map;
    if (cam >= 0 && !(in->gradcam_layer = dup(L, g->slots[cam].name))) return false;
    if (in->n_perceptual == 0 && cam >= 0 && !(in->perceptual[in->n_perceptual++] = dup(L, g->slots[cam].name)))
        return false;
    int pen = g->output;
    const node *last = &g->nodes[g->slots[g->output].producer];
    if ((last->op == OP_GEMM || last->op == OP_MATMUL) && last->in[0] >= 0) pen = last->in[0];
    if (!(in->penultimate = dup(L, g->slots[pen].name))) return false;
    if (g->slots[pen].producer < 0 && pen != g->input) return lfail(L, "the penultimate features are a constant");
    return true;
}

/* Options read from the sidecar (owned strings). */
typedef struct side_opts {
    int n_names;
    char **names;
    bool set_range;
    float range[2];
    int n_mean, n_std;
    float mean[3], std[3];
    int resize;
    int n_perc;
    char **perc;
    char *gradcam, *pen;
} side_opts;

static void side_clear(side_opts *s)
{
    for (int i = 0; i < s->n_names; i++) free(s->names[i]);
    for (int i = 0; i < s->n_perc; i++) free(s->perc[i]);
    free(s->names);
    free(s->perc);
    free(s->gradcam);
    free(s->pen);
    memset(s, 0, sizeof *s);
}

static bool json_strings(sx_json_reader *r, char ***out, int *n)
{
    if (!sx_json_expect(r, '[')) return false;
    int cap = 0;
    if (sx_json_accept(r, ']')) return true;
    do {
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            char **v = realloc(*out, sizeof(char *) * (size_t)cap);
            if (!v) return false;
            *out = v;
        }
        size_t len;
        if (!sx_json_string(r, &(*out)[*n], &len)) return false;
        (*n)++;
    } while (sx_json_accept(r, ','));
    return sx_json_expect(r, ']');
}

static bool json_floats(sx_json_reader *r, float *out, int cap, int *n, const char *key, loader *L)
{
    if (!sx_json_expect(r, '[')) return false;
    if (sx_json_accept(r, ']')) return true;
    do {
        double d;
        if (!sx_json_number(r, &d)) return false;
        if (*n >= cap) return lfail(L, "'%s' has more than %d numbers", key, cap);
        out[(*n)++] = (float)d;
    } while (sx_json_accept(r, ','));
    return sx_json_expect(r, ']');
}

static bool read_sidecar(loader *L, const char *path, side_opts *s)
{
    FILE *f = fopen(path, "rb");
    if (!f) return lfail(L, "%s: cannot open the sidecar", path);
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? 2 * cap : 8192;
            char *t = cap > (1u << 20) ? NULL : realloc(text, cap);
            if (!t) {
                free(text);
                fclose(f);
                return lfail(L, "%s: larger than 1 MiB", path);
            }
            text = t;
        }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    fclose(f);
    sx_json_reader r;
    sx_json_init(&r, text, len);
    bool ok = sx_json_expect(&r, '{');
    bool empty = ok && sx_json_accept(&r, '}');
    while (ok && !empty) {
        char *key = NULL;
        size_t kl;
        ok = sx_json_string(&r, &key, &kl) && sx_json_expect(&r, ':');
        if (ok) {
            if (!strcmp(key, "class_names")) ok = json_strings(&r, &s->names, &s->n_names);
            else if (!strcmp(key, "perceptual")) ok = json_strings(&r, &s->perc, &s->n_perc);
            else if (!strcmp(key, "gradcam_layer")) ok = sx_json_string(&r, &s->gradcam, &kl);
            else if (!strcmp(key, "penultimate")) ok = sx_json_string(&r, &s->pen, &kl);
            else if (!strcmp(key, "range")) {
                int n = 0;
                ok = json_floats(&r, s->range, 2, &n, key, L) && (n == 2 || lfail(L, "'range' needs 2 numbers"));
                s->set_range = true;
            } else if (!strcmp(key, "mean")) ok = json_floats(&r, s->mean, 3, &s->n_mean, key, L);
            else if (!strcmp(key, "std")) ok = json_floats(&r, s->std, 3, &s->n_std, key, L);
            else if (!strcmp(key, "resize")) {
                int c = sx_json_peek(&r);
                if (c == 't' || c == 'f') {
                    s->resize = c == 't' ? 1 : -1;
                    ok = sx_json_skip(&r);
                } else ok = lfail(L, "'resize' must be true or false");
            } else if (!strcmp(key, "channels")) ok = sx_json_skip(&r); /* informative: the graph says */
            else ok = lfail(L, "unknown key '%s' (class_names, range, mean, std, resize, perceptual, gradcam_layer, "
                               "penultimate)", key);
        }
        free(key);
        if (ok && !sx_json_accept(&r, ',')) {
            ok = sx_json_expect(&r, '}');
            break;
        }
    }
    ok = ok && sx_json_end(&r);
    free(text);
    if (!ok) {
        if (!L->err[0]) lfail(L, "%s", r.err);
        char msg[400];
        snprintf(msg, sizeof msg, "%s", L->err);
        L->err[0] = 0;
        return lfail(L, "sidecar %s: %s", path, msg);
    }
    if (s->n_mean != s->n_std) return lfail(L, "sidecar %s: %d mean and %d std values", path, s->n_mean, s->n_std);
    return true;
}

static bool copy_list(loader *L, int n, const char *const *src, char ***dst, int *dn)
{
    *dst = calloc((size_t)n + 1, sizeof(char *));
    if (!*dst) return lfail(L, "out of memory");
    for (int i = 0; i < n; i++) {
        if (!((*dst)[i] = dup(L, src[i]))) return false;
        *dn = i + 1;
    }
    return true;
}

static void replace(char **dst, char *src)
{
    free(*dst);
    *dst = src;
}

/* The info: defaults, then the sidecar, then the options. */
static bool build_info(loader *L, const sx_onnx_opts *o, const side_opts *s, sx_classifier_info *in)
{
    onnx_graph *g = L->g;
    const slot *out = &g->slots[g->output];
    if (out->ndim != 2 || out->shape[1] < 2)
        return lfail(L, "the output '%s' has %d dimensions (K = %" PRId64 "), expected logits [N, K] with K >= 2",
                     out->name, out->ndim, out->ndim >= 2 ? out->shape[1] : 0);
    int K = (int)out->shape[1];
    in->prep = (sx_classifier_prep){.channels = g->channels, .height = g->height, .width = g->width, .resize = true,
                                    .range = {0, 1}};
    if (!default_layers(L, in)) return false;
    /* class names */
    int nn = o && o->n_class_names ? o->n_class_names : s->n_names;
    if (nn && nn != K) return lfail(L, "%d class names for %d logits", nn, K);
    if (!(in->class_names = calloc((size_t)K, sizeof(char *)))) return lfail(L, "out of memory");
    in->n_classes = K;
    for (int k = 0; k < K; k++) {
        char num[24];
        snprintf(num, sizeof num, "%d", k);
        const char *name = o && o->n_class_names ? o->class_names[k] : s->n_names ? s->names[k] : num;
        if (!(in->class_names[k] = dup(L, name))) return false;
    }
    /* preprocessing */
    sx_classifier_prep *p = &in->prep;
    if (s->set_range) memcpy(p->range, s->range, sizeof p->range);
    if (o && o->set_range) memcpy(p->range, o->range, sizeof p->range);
    if (s->n_mean) {
        p->n_norm = s->n_mean;
        memcpy(p->mean, s->mean, sizeof p->mean);
        memcpy(p->std, s->std, sizeof p->std);
    }
    if (o && o->n_norm) {
        p->n_norm = o->n_norm;
        memcpy(p->mean, o->mean, sizeof p->mean);
        memcpy(p->std, o->std, sizeof p->std);
    }
    if (p->n_norm == 1 && p->channels == 3) { /* one value for all channels */
        p->n_norm = 3;
        p->mean[1] = p->mean[2] = p->mean[0];
        p->std[1] = p->std[2] = p->std[0];
    }
    int rs = o && o->resize ? o->resize : s->resize;
    if (rs) p->resize = rs > 0;
    /* layers */
    if ((o && o->n_perceptual) || s->n_perc) {
        for (int i = 0; i < in->n_perceptual; i++) free(in->perceptual[i]);
        free(in->perceptual);
        in->perceptual = NULL;
        in->n_perceptual = 0;
        bool ok = o && o->n_perceptual ? copy_list(L, o->n_perceptual, o->perceptual, &in->perceptual, &in->n_perceptual)
                                       : copy_list(L, s->n_perc, (const char *const *)s->perc, &in->perceptual,
                                                   &in->n_perceptual);
        if (!ok) return false;
    }
    const char *cam = o && o->gradcam_layer ? o->gradcam_layer : s->gradcam;
    if (cam) replace(&in->gradcam_layer, dup(L, cam));
    const char *pen = o && o->penultimate ? o->penultimate : s->pen;
    if (pen) replace(&in->penultimate, dup(L, pen));
    return !L->err[0];
}

/* The run at load: batch 1 of zeros, grad off; records every slot's shape. */
static bool dry_run(loader *L)
{
    onnx_graph *g = L->g;
    sx_tensor *x = sx_tensor_zeros(4, (int64_t[]){1, g->channels, g->height, g->width});
    sx_tensor **vals = x ? calloc((size_t)g->n_slots, sizeof *vals) : NULL;
    if (!vals) {
        sx_tensor_free(x);
        return lfail(L, "out of memory");
    }
    bool was = sx_set_grad_enabled(false);
    sx_status st = run_graph(g, x, vals, NULL);
    sx_set_grad_enabled(was);
    for (int i = 0; i < g->n_slots; i++) {
        if (vals[i]) {
            g->slots[i].ndim = vals[i]->ndim;
            for (int d = 0; d < vals[i]->ndim && d < MAX_DIM; d++) g->slots[i].shape[d] = vals[i]->shape[d];
        }
        sx_tensor_free(vals[i]);
    }
    free(vals);
    sx_tensor_free(x);
    if (st != SX_OK) {
        const char *e = sx_last_error();
        return lfail(L, "%s", strncmp(e, "onnx: ", 6) == 0 ? e + 6 : e);
    }
    return true;
}

static char *default_sidecar(const char *path)
{
    size_t n = strlen(path);
    char *s = malloc(n + 6);
    if (!s) return NULL;
    memcpy(s, path, n + 1);
    if (n > 5 && !strcmp(s + n - 5, ".onnx")) s[n - 5] = 0;
    strcat(s, ".json");
    return s;
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (*len == cap) {
            cap = cap ? 2 * cap : 1 << 16;
            unsigned char *b = cap > ((size_t)1 << 31) ? NULL : realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(f);
                errno = ENOMEM;
                return NULL;
            }
            buf = b;
        }
        size_t got = fread(buf + *len, 1, cap - *len, f);
        *len += got;
        if (got == 0) break;
    }
    bool err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return NULL;
    }
    return buf;
}

sx_status sx_onnx_load(const char *path, const sx_onnx_opts *opts, sx_classifier **out)
{
    if (out) *out = NULL;
    if (!path || !out) return sx_fail(SX_EINVAL, "onnx_load: path and out are required");
    size_t len = 0;
    unsigned char *buf = read_file(path, &len);
    if (!buf) return sx_fail(SX_EIO, "onnx_load: %s: %s", path, strerror(errno));
    Onnx__ModelProto *m = len ? onnx__model_proto__unpack(NULL, len, buf) : NULL;
    free(buf);
    if (!m || !m->graph || !m->has_ir_version || m->n_opset_import == 0) {
        if (m) onnx__model_proto__free_unpacked(m, NULL);
        return sx_fail(SX_EFORMAT, "onnx_load: %s is not an ONNX model (%s)", path,
                       len == 0 ? "empty file" : !m ? "not a protobuf ModelProto: truncated or another format"
                                                    : "no graph, IR version or opset");
    }
    loader L = {.path = path};
    L.g = calloc(1, sizeof *L.g);
    sx_classifier_info info = {0};
    side_opts side = {0};
    bool ok = L.g && load_graph(&L, m);
    onnx__model_proto__free_unpacked(m, NULL);
    if (!L.g) lfail(&L, "out of memory");
    ok = ok && dry_run(&L);
    if (ok) {
        const char *sc = opts ? opts->sidecar : NULL;
        char *def = sc ? NULL : default_sidecar(path);
        if (sc && sc[0]) ok = read_sidecar(&L, sc, &side);
        else if (def) {
            FILE *f = fopen(def, "rb");
            if (f) {
                fclose(f);
                ok = read_sidecar(&L, def, &side);
            }
        }
        free(def);
    }
    ok = ok && build_info(&L, opts, &side, &info);
    side_clear(&side);
    if (!ok) {
        graph_free(L.g);
        sx_classifier_info_clear(&info);
        return sx_fail(SX_EINVAL, "onnx_load: %s: %s", path, L.err[0] ? L.err : sx_last_error());
    }
    *out = sx_classifier_new(&onnx_vtable, L.g, &info);
    if (!*out) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", sx_last_error());
        return sx_fail(SX_EINVAL, "onnx_load: %s: %s", path, msg);
    }
    return SX_OK;
}
