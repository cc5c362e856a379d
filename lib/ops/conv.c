/*
 * lib/ops/conv.c — the convolution family: conv2d, conv_transpose2d and
 * conv2d_weight, a set closed under differentiation (as in StyleGAN2's
 * conv2d_gradfix): every backward below is written with these three ops
 * (and sx_sum for bias gradients), so gradients of gradients work.
 *
 * All three are one linear map seen from its three sides. With the geometry
 * of a conv2d  x [N, C, H, W] (*) w [Cout, C/G, kh, kw] -> y [N, Cout, Ho, Wo]:
 *   conv2d            y  = conv(x, w)           im2col(x), then W x col
 *   conv_transpose2d  x' = conv^T(y, w)          W^T x y, then col2im (adds)
 *   conv2d_weight     dw = <y, im2col(x)>        gy x col^T
 * conv_transpose2d(x, w) of PyTorch is conv^T in the geometry whose input is
 * the transpose's output, and stride-1 transposes run as a conv2d with the
 * kernel flipped and transposed (a gather beats col2im's scatter-add).
 *
 * The kernels (im2col, column tiling, the three GEMM drivers) are in
 * conv_kernels.c, behind conv_internal.h; this file holds the ops: argument
 * checks, output shapes, recording and the backwards.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"
#include "conv_internal.h"
#include "stylex/ops.h"

/* Resolved options: 0 stride / groups mean 1; NULL options are all defaults. */
typedef struct conv_opts {
    int64_t sy, sx, py, px, G, opy, opx;
} conv_opts;

static bool conv_opts_read(const char *fn, const sx_conv2d_opts *o, conv_opts *r)
{
    sx_conv2d_opts z = {{0, 0}, {0, 0}, 0, {0, 0}};
    if (!o) o = &z;
    if (o->stride[0] < 0 || o->stride[1] < 0 || o->padding[0] < 0 || o->padding[1] < 0 || o->groups < 0 ||
        o->output_padding[0] < 0 || o->output_padding[1] < 0) {
        sx_fail(SX_EINVAL,
                "%s: options must not be negative (stride %d,%d padding %d,%d groups %d output_padding %d,%d)",
                fn, o->stride[0], o->stride[1], o->padding[0], o->padding[1], o->groups, o->output_padding[0],
                o->output_padding[1]);
        return false;
    }
    r->sy = o->stride[0] ? o->stride[0] : 1;
    r->sx = o->stride[1] ? o->stride[1] : 1;
    r->py = o->padding[0];
    r->px = o->padding[1];
    r->G = o->groups ? o->groups : 1;
    r->opy = o->output_padding[0];
    r->opx = o->output_padding[1];
    return true;
}

static sx_conv2d_opts conv_opts_from_node(const sx_node *n)
{
    sx_conv2d_opts o;
    o.stride[0] = (int)n->iattr[0];
    o.stride[1] = (int)n->iattr[1];
    o.padding[0] = (int)n->iattr[2];
    o.padding[1] = (int)n->iattr[3];
    o.groups = (int)n->iattr[4];
    o.output_padding[0] = (int)n->iattr[5];
    o.output_padding[1] = (int)n->iattr[6];
    return o;
}

/* node->iattr of all three ops: [0, 1] stride y, x; [2, 3] padding y, x;
 * [4] groups; [5, 6] output_padding y, x; [7, 8] kernel kh, kw. */
static void conv_node_fill(sx_node *n, const conv_opts *o, int64_t kh, int64_t kw)
{
    n->iattr[0] = o->sy;
    n->iattr[1] = o->sx;
    n->iattr[2] = o->py;
    n->iattr[3] = o->px;
    n->iattr[4] = o->G;
    n->iattr[5] = o->opy;
    n->iattr[6] = o->opx;
    n->iattr[7] = kh;
    n->iattr[8] = kw;
}

/* The output padding that makes conv_transpose2d's output exactly `size`
 * along one dimension, given the conv2d output size `out` there. */
static int conv_output_padding(int64_t size, int64_t out, int64_t k, int64_t s, int64_t p)
{
    return (int)(size - ((out - 1) * s - 2 * p + k));
}

/* The tensor itself if contiguous (new reference), else a contiguous copy. */
/* ---------------------------------------------------------------- argument checks */

static bool conv_check_4d(const char *fn, const char *what, const char *layout, const sx_tensor *t)
{
    char s[96];
    if (!t) {
        sx_fail(SX_EINVAL, "%s: %s is NULL", fn, what);
        return false;
    }
    if (t->ndim != 4) {
        sx_fail(SX_EINVAL, "%s: %s must be 4-D %s, got %s", fn, what, layout, sx_shape_str(t, s, sizeof s));
        return false;
    }
    for (int d = 0; d < 4; d++)
        if (t->shape[d] == 0 && d > 0) {
            sx_fail(SX_EINVAL, "%s: %s %s has an empty dimension", fn, what, sx_shape_str(t, s, sizeof s));
            return false;
        }
    return true;
}

static bool conv_check_bias(const char *fn, const sx_tensor *b, int64_t cout)
{
    if (!b || (b->ndim == 1 && b->shape[0] == cout)) return true;
    char s[96];
    sx_fail(SX_EINVAL, "%s: bias has shape %s, expected [%lld]", fn, sx_shape_str(b, s, sizeof s),
            (long long)cout);
    return false;
}

/* Output sizes of a conv2d; false with a message if not positive. */
static bool conv_out_size(const char *fn, int64_t H, int64_t W, int64_t kh, int64_t kw, const conv_opts *o,
                          int64_t *Ho, int64_t *Wo)
{
    int64_t ey = H + 2 * o->py - kh, ex = W + 2 * o->px - kw;
    *Ho = ey < 0 ? 0 : ey / o->sy + 1;
    *Wo = ex < 0 ? 0 : ex / o->sx + 1;
    if (*Ho > 0 && *Wo > 0) return true;
    sx_fail(SX_EINVAL, "%s: output would be empty (input %lldx%lld, kernel %lldx%lld, stride %lld,%lld, "
                       "padding %lld,%lld)",
            fn, (long long)H, (long long)W, (long long)kh, (long long)kw, (long long)o->sy, (long long)o->sx,
            (long long)o->py, (long long)o->px);
    return false;
}

static void conv_geom_set(conv_geom *g, const int64_t *xs, int64_t cout, int64_t Ho, int64_t Wo, int64_t kh,
                          int64_t kw, const conv_opts *o)
{
    *g = (conv_geom){.N = xs[0], .C = xs[1], .H = xs[2], .W = xs[3], .Cout = cout, .Ho = Ho, .Wo = Wo,
                     .kh = kh, .kw = kw, .sy = o->sy, .sx = o->sx, .py = o->py, .px = o->px, .G = o->G};
}

/* Adds b [C] to every plane of y [N, C, HW]. */
static void conv_add_bias(float *y, const float *b, int64_t N, int64_t C, int64_t hw)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            float *p = y + (n * C + c) * hw, bc = b[c];
            for (int64_t i = 0; i < hw; i++) p[i] += bc;
        }
}

/* How every op of the family ends: frees the contiguous copies tmp[0..2]
 * (NULL entries allowed); on success records the node of op on out, with
 * inputs in[0..n_in); NULL (out freed) when !ok. */
static sx_tensor *conv_finish(sx_tensor *out, bool ok, sx_tensor *const *tmp, sx_op_kind op, int n_in,
                              sx_tensor *const *in, const conv_opts *o, int64_t kh, int64_t kw)
{
    for (int i = 0; i < 3; i++) sx_tensor_free(tmp[i]);
    if (!ok) {
        sx_tensor_free(out);
        return NULL;
    }
    sx_node *node = sx_record(&out, op, n_in, in);
    if (node) conv_node_fill(node, o, kh, kw);
    return out;
}

/* ---------------------------------------------------------------- conv2d */

sx_tensor *sx_conv2d(sx_tensor *x, sx_tensor *w, sx_tensor *b, const sx_conv2d_opts *opts)
{
    const char *fn = "conv2d";
    conv_opts o;
    if (!conv_check_4d(fn, "input", "[N, C, H, W]", x) ||
        !conv_check_4d(fn, "weight", "[Cout, Cin/groups, kh, kw]", w) || !conv_opts_read(fn, opts, &o))
        return NULL;
    char sx_[96], sw[96];
    int64_t C = x->shape[1], Cout = w->shape[0];
    if (Cout == 0) {
        sx_fail(SX_EINVAL, "%s: weight %s has no output channels", fn, sx_shape_str(w, sw, sizeof sw));
        return NULL;
    }
    if (C % o.G || Cout % o.G) {
        sx_fail(SX_EINVAL, "%s: groups %lld must divide the input's %lld channels and the weight's %lld output "
                           "channels",
                fn, (long long)o.G, (long long)C, (long long)Cout);
        return NULL;
    }
    if (w->shape[1] != C / o.G) {
        sx_fail(SX_EINVAL, "%s: weight %s has %lld input channels per group, input %s has %lld channels "
                           "(groups %lld)",
                fn, sx_shape_str(w, sw, sizeof sw), (long long)w->shape[1], sx_shape_str(x, sx_, sizeof sx_),
                (long long)C, (long long)o.G);
        return NULL;
    }
    if (!conv_check_bias(fn, b, Cout)) return NULL;
    int64_t kh = w->shape[2], kw = w->shape[3], Ho, Wo;
    if (!conv_out_size(fn, x->shape[2], x->shape[3], kh, kw, &o, &Ho, &Wo)) return NULL;

    conv_geom g;
    conv_geom_set(&g, x->shape, Cout, Ho, Wo, kh, kw, &o);
    sx_tensor *y = sx_tensor_empty(4, (int64_t[]){g.N, Cout, Ho, Wo});
    sx_tensor *xc = y ? sx_tensor_as_contiguous(x) : NULL, *wc = xc ? sx_tensor_as_contiguous(w) : NULL;
    sx_tensor *bc = wc && b ? sx_tensor_as_contiguous(b) : NULL;
    bool ok = wc && (!b || bc);
    if (ok && !sx_conv_kernel_forward(&g, sx_tensor_data(xc), sx_tensor_data(wc), bc ? sx_tensor_data(bc) : NULL,
                                   sx_tensor_data(y))) {
        sx_fail(SX_ENOMEM, "%s: out of memory for scratch buffers (input %s, weight %s)", fn,
                sx_shape_str(x, sx_, sizeof sx_), sx_shape_str(w, sw, sizeof sw));
        ok = false;
    }
    return conv_finish(y, ok, (sx_tensor *[3]){xc, wc, bc}, SX_OP_CONV2D, b ? 3 : 2, (sx_tensor *[3]){x, w, b}, &o, kh,
                       kw);
}

/* Sum of g [N, C, H, W] over N, H, W -> [C]: the gradient of a bias. */
static sx_tensor *conv_bias_grad(sx_tensor *g)
{
    return sx_sum(g, 3, (const int[]){0, 2, 3}, false);
}

sx_status sx_conv2d_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    sx_tensor *x = n->inputs[0], *w = n->inputs[1], *b = n->n_inputs > 2 ? n->inputs[2] : NULL;
    sx_conv2d_opts o = conv_opts_from_node(n);
    int64_t kh = n->iattr[7], kw = n->iattr[8];
    if (sx_needs_grad(x)) {
        o.output_padding[0] = conv_output_padding(x->shape[2], g->shape[2], kh, o.stride[0], o.padding[0]);
        o.output_padding[1] = conv_output_padding(x->shape[3], g->shape[3], kw, o.stride[1], o.padding[1]);
        if (!(gi[0] = sx_conv_transpose2d(g, w, NULL, &o))) return sx_last_status();
    }
    if (sx_needs_grad(w) && !(gi[1] = sx_conv2d_weight(x, g, (int)kh, (int)kw, &o))) return sx_last_status();
    if (sx_needs_grad(b) && !(gi[2] = conv_bias_grad(g))) return sx_last_status();
    return SX_OK;
}

/* ---------------------------------------------------------------- conv_transpose2d */

sx_tensor *sx_conv_transpose2d(sx_tensor *x, sx_tensor *w, sx_tensor *b, const sx_conv2d_opts *opts)
{
    const char *fn = "conv_transpose2d";
    conv_opts o;
    if (!conv_check_4d(fn, "input", "[N, Cin, H, W]", x) ||
        !conv_check_4d(fn, "weight", "[Cin, Cout/groups, kh, kw]", w) || !conv_opts_read(fn, opts, &o))
        return NULL;
    char sx_[96], sw[96];
    int64_t Cin = x->shape[1];
    if (Cin % o.G) {
        sx_fail(SX_EINVAL, "%s: groups %lld does not divide the input's %lld channels", fn, (long long)o.G,
                (long long)Cin);
        return NULL;
    }
    if (w->shape[0] != Cin) {
        sx_fail(SX_EINVAL, "%s: weight %s has %lld input channels, input %s has %lld", fn,
                sx_shape_str(w, sw, sizeof sw), (long long)w->shape[0], sx_shape_str(x, sx_, sizeof sx_),
                (long long)Cin);
        return NULL;
    }
    if (o.opy >= o.sy || o.opx >= o.sx) {
        sx_fail(SX_EINVAL, "%s: output_padding %lld,%lld must be smaller than stride %lld,%lld", fn,
                (long long)o.opy, (long long)o.opx, (long long)o.sy, (long long)o.sx);
        return NULL;
    }
    int64_t Cout = w->shape[1] * o.G, kh = w->shape[2], kw = w->shape[3];
    if (!conv_check_bias(fn, b, Cout)) return NULL;
    int64_t H = x->shape[2], W = x->shape[3];
    int64_t Hy = (H - 1) * o.sy - 2 * o.py + kh + o.opy, Wy = (W - 1) * o.sx - 2 * o.px + kw + o.opx;
    if (Hy <= 0 || Wy <= 0) {
        sx_fail(SX_EINVAL, "%s: output would be %lldx%lld (input %lldx%lld, kernel %lldx%lld, stride %lld,%lld, "
                           "padding %lld,%lld)",
                fn, (long long)Hy, (long long)Wy, (long long)H, (long long)W, (long long)kh, (long long)kw,
                (long long)o.sy, (long long)o.sx, (long long)o.py, (long long)o.px);
        return NULL;
    }
    /* the conv2d whose adjoint this is: [N, Cout, Hy, Wy] -> [N, Cin, H, W] */
    conv_geom g;
    conv_geom_set(&g, (int64_t[]){x->shape[0], Cout, Hy, Wy}, Cin, H, W, kh, kw, &o);
    sx_tensor *y = sx_tensor_empty(4, (int64_t[]){g.N, Cout, Hy, Wy});
    sx_tensor *xc = y ? sx_tensor_as_contiguous(x) : NULL, *wc = xc ? sx_tensor_as_contiguous(w) : NULL;
    sx_tensor *bc = wc && b ? sx_tensor_as_contiguous(b) : NULL;
    bool ok = wc && (!b || bc);
    if (ok && !sx_conv_kernel_adjoint(&g, sx_tensor_data(xc), sx_tensor_data(wc), sx_tensor_data(y))) {
        sx_fail(SX_ENOMEM, "%s: out of memory for scratch buffers (input %s, weight %s)", fn,
                sx_shape_str(x, sx_, sizeof sx_), sx_shape_str(w, sw, sizeof sw));
        ok = false;
    }
    if (ok && bc) conv_add_bias(sx_tensor_data(y), sx_tensor_data(bc), g.N, Cout, Hy * Wy);
    return conv_finish(y, ok, (sx_tensor *[3]){xc, wc, bc}, SX_OP_CONV_TRANSPOSE2D, b ? 3 : 2, (sx_tensor *[3]){x, w, b},
                       &o, kh, kw);
}

sx_status sx_conv_transpose2d_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    sx_tensor *x = n->inputs[0], *w = n->inputs[1], *b = n->n_inputs > 2 ? n->inputs[2] : NULL;
    sx_conv2d_opts o = conv_opts_from_node(n);
    int kh = (int)n->iattr[7], kw = (int)n->iattr[8];
    o.output_padding[0] = o.output_padding[1] = 0;
    /* y = conv^T(x, w), so <y, g> = <x, conv2d(g, w)> */
    if (sx_needs_grad(x) && !(gi[0] = sx_conv2d(g, w, NULL, &o))) return sx_last_status();
    if (sx_needs_grad(w) && !(gi[1] = sx_conv2d_weight(g, x, kh, kw, &o))) return sx_last_status();
    if (sx_needs_grad(b) && !(gi[2] = conv_bias_grad(g))) return sx_last_status();
    return SX_OK;
}

/* ---------------------------------------------------------------- conv2d_weight */

sx_tensor *sx_conv2d_weight(sx_tensor *x, sx_tensor *gy, int kh, int kw, const sx_conv2d_opts *opts)
{
    const char *fn = "conv2d_weight";
    conv_opts o;
    if (!conv_check_4d(fn, "input", "[N, Cin, H, W]", x) ||
        !conv_check_4d(fn, "output gradient", "[N, Cout, Ho, Wo]", gy) || !conv_opts_read(fn, opts, &o))
        return NULL;
    char sx_[96], sg[96];
    if (kh <= 0 || kw <= 0) {
        sx_fail(SX_EINVAL, "%s: kernel size %dx%d must be positive", fn, kh, kw);
        return NULL;
    }
    int64_t C = x->shape[1], Cout = gy->shape[1];
    if (C % o.G || Cout % o.G) {
        sx_fail(SX_EINVAL, "%s: groups %lld must divide the input's %lld channels and the output gradient's "
                           "%lld channels",
                fn, (long long)o.G, (long long)C, (long long)Cout);
        return NULL;
    }
    int64_t Ho, Wo;
    if (!conv_out_size(fn, x->shape[2], x->shape[3], kh, kw, &o, &Ho, &Wo)) return NULL;
    if (gy->shape[0] != x->shape[0] || gy->shape[2] != Ho || gy->shape[3] != Wo) {
        sx_fail(SX_EINVAL, "%s: output gradient %s does not match input %s (expected [%lld, %lld, %lld, %lld] "
                           "for kernel %dx%d, stride %lld,%lld, padding %lld,%lld)",
                fn, sx_shape_str(gy, sg, sizeof sg), sx_shape_str(x, sx_, sizeof sx_), (long long)x->shape[0],
                (long long)Cout, (long long)Ho, (long long)Wo, kh, kw, (long long)o.sy, (long long)o.sx,
                (long long)o.py, (long long)o.px);
        return NULL;
    }
    conv_geom g;
    conv_geom_set(&g, x->shape, Cout, Ho, Wo, kh, kw, &o);
    sx_tensor *dw = sx_tensor_empty(4, (int64_t[]){Cout, C / o.G, kh, kw});
    sx_tensor *xc = dw ? sx_tensor_as_contiguous(x) : NULL, *gc = xc ? sx_tensor_as_contiguous(gy) : NULL;
    bool ok = gc != NULL;
    if (ok && !sx_conv_kernel_weight(&g, sx_tensor_data(xc), sx_tensor_data(gc), sx_tensor_data(dw))) {
        sx_fail(SX_ENOMEM, "%s: out of memory for scratch buffers (input %s, output gradient %s)", fn,
                sx_shape_str(x, sx_, sizeof sx_), sx_shape_str(gy, sg, sizeof sg));
        ok = false;
    }
    return conv_finish(dw, ok, (sx_tensor *[3]){xc, gc, NULL}, SX_OP_CONV2D_WEIGHT, 2, (sx_tensor *[2]){x, gy}, &o, kh,
                       kw);
}

sx_status sx_conv2d_weight_backward(const sx_node *n, sx_tensor *g, sx_tensor **gi)
{
    /* dw = <gy, im2col(x)>: linear in x and in gy */
    sx_tensor *x = n->inputs[0], *gy = n->inputs[1];
    sx_conv2d_opts o = conv_opts_from_node(n);
    int kh = (int)n->iattr[7], kw = (int)n->iattr[8];
    if (sx_needs_grad(x)) {
        o.output_padding[0] = conv_output_padding(x->shape[2], gy->shape[2], kh, o.stride[0], o.padding[0]);
        o.output_padding[1] = conv_output_padding(x->shape[3], gy->shape[3], kw, o.stride[1], o.padding[1]);
        if (!(gi[0] = sx_conv_transpose2d(gy, g, NULL, &o))) return sx_last_status();
        o.output_padding[0] = o.output_padding[1] = 0;
    }
    if (sx_needs_grad(gy) && !(gi[1] = sx_conv2d(x, g, NULL, &o))) return sx_last_status();
    return SX_OK;
}

