/*
 * lib/models/classifier.c — the classifier interface (include/stylex/classifier.h):
 * the refcounted object over an implementation's vtable, the preparation of
 * GAN images for the network (channels, bilinear resize, range, mean/std),
 * the perceptual distance on named layers, and the built-in CNN as one
 * implementation. The ONNX importer (lib/models/onnx*.c) is the other.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"
#include "classifier_internal.h"
#include "stylex/classifier.h"
#include "stylex/autograd.h"
#include "stylex/cnn.h"
#include "stylex/ops.h"

struct sx_classifier {
    int refcount;
    const sx_classifier_vtable *vt;
    void *impl;
    sx_classifier_info info;
};

static void free_list(int n, char **v)
{
    for (int i = 0; i < n && v; i++) free(v[i]);
    free(v);
}

void sx_classifier_info_clear(sx_classifier_info *in)
{
    free_list(in->n_classes, in->class_names);
    free_list(in->n_layers, in->layers);
    free_list(in->n_perceptual, in->perceptual);
    free(in->gradcam_layer);
    free(in->penultimate);
    memset(in, 0, sizeof *in);
}

static bool has_layer(const sx_classifier_info *in, const char *name)
{
    if (in->penultimate && strcmp(name, in->penultimate) == 0) return true;
    for (int i = 0; i < in->n_layers; i++)
        if (strcmp(in->layers[i], name) == 0) return true;
    return false;
}

static sx_status check_info(const sx_classifier_info *in)
{
    const sx_classifier_prep *p = &in->prep;
    if (in->n_classes < 2 || !in->class_names)
        return sx_fail(SX_EINVAL, "classifier: %d classes (need 2 or more, with names)", in->n_classes);
    for (int i = 0; i < in->n_classes; i++)
        if (!in->class_names[i]) return sx_fail(SX_EINVAL, "classifier: class %d has no name", i);
    if ((p->channels != 1 && p->channels != 3) || p->height < 1 || p->width < 1)
        return sx_fail(SX_EINVAL, "classifier: input [N, %d, %d, %d]: channels must be 1 or 3, sizes positive",
                       p->channels, p->height, p->width);
    if (!(isfinite(p->range[0]) && isfinite(p->range[1]) && p->range[0] != p->range[1]))
        return sx_fail(SX_EINVAL, "classifier: input range [%g, %g] is empty or not finite", p->range[0], p->range[1]);
    if (p->n_norm != 0 && p->n_norm != p->channels)
        return sx_fail(SX_EINVAL, "classifier: %d mean/std values for %d input channels", p->n_norm, p->channels);
    for (int i = 0; i < p->n_norm; i++)
        if (!(p->std[i] > 0) || !isfinite(p->mean[i]))
            return sx_fail(SX_EINVAL, "classifier: std[%d] = %g must be positive (mean %g)", i, p->std[i], p->mean[i]);
    for (int i = 0; i < in->n_perceptual; i++)
        if (!has_layer(in, in->perceptual[i]))
            return sx_fail(SX_EINVAL, "classifier: perceptual layer '%s' is not a layer of the network", in->perceptual[i]);
    if (in->gradcam_layer && !has_layer(in, in->gradcam_layer))
        return sx_fail(SX_EINVAL, "classifier: Grad-CAM layer '%s' is not a layer of the network", in->gradcam_layer);
    return SX_OK;
}

sx_classifier *sx_classifier_new(const sx_classifier_vtable *vt, void *impl, sx_classifier_info *info)
{
    sx_classifier *c = NULL;
    if (!vt || !vt->run) {
        sx_fail(SX_EINVAL, "classifier_new: a vtable with run is needed");
    } else if (check_info(info) == SX_OK && !(c = calloc(1, sizeof *c))) {
        sx_fail(SX_ENOMEM, "classifier_new: out of memory");
    }
    if (!c) {
        if (vt && vt->free_impl && impl) vt->free_impl(impl);
        sx_classifier_info_clear(info);
        return NULL;
    }
    c->refcount = 1;
    c->vt = vt;
    c->impl = impl;
    c->info = *info;
    c->info.kind = vt->kind;
    memset(info, 0, sizeof *info);
    return c;
}

sx_classifier *sx_classifier_retain(sx_classifier *c)
{
    if (c) c->refcount++;
    return c;
}

void sx_classifier_free(sx_classifier *c)
{
    if (!c || --c->refcount > 0) return;
    if (c->vt->free_impl) c->vt->free_impl(c->impl);
    sx_classifier_info_clear(&c->info);
    free(c);
}

const sx_classifier_info *sx_classifier_info_of(const sx_classifier *c)
{
    if (!c) {
        sx_fail(SX_EINVAL, "classifier: NULL");
        return NULL;
    }
    return &c->info;
}

sx_status sx_classifier_accepts(const sx_classifier *c, const char *fn, const char *what, int channels, int h, int w)
{
    const sx_classifier_prep *p = &c->info.prep;
    bool ch = channels == p->channels || (p->resize && (channels == 1 || (channels == 3 && p->channels == 1)));
    bool size = (h == p->height && w == p->width) || (p->resize && h > 0 && w > 0);
    if (ch && size) return SX_OK;
    return sx_fail(SX_EINVAL, "%s: %s are [N, %d, %d, %d], expected [N, %d, %d, %d] (the classifier's input%s)", fn, what,
                   channels, h, w, p->channels, p->height, p->width,
                   p->resize ? "; other sizes and grey/RGB are converted" : "");
}

/* ---------------------------------------------------------------- resize */

/* The [out, in] matrix of 1-d linear interpolation with PyTorch's
 * align_corners=False source positions, clamped at the borders. */
static sx_tensor *bilinear_matrix(int out, int in)
{
    sx_tensor *m = sx_tensor_zeros(2, (int64_t[]){out, in});
    if (!m) return NULL;
    float *d = sx_tensor_data(m);
    double scale = (double)in / out;
    for (int i = 0; i < out; i++) {
        double src = (i + 0.5) * scale - 0.5;
        if (src < 0) src = 0;
        int i0 = (int)src;
        if (i0 > in - 1) i0 = in - 1;
        int i1 = i0 + 1 < in ? i0 + 1 : in - 1;
        double l = src - i0;
        d[(int64_t)i * in + i0] += (float)(1 - l);
        d[(int64_t)i * in + i1] += (float)l;
    }
    return m;
}

/* x [..., K] . m^T -> [..., M] for m [M, K], through a 2-d matmul */
static sx_tensor *apply_last(sx_tensor *x, sx_tensor *m)
{
    int64_t shape[4] = {x->shape[0], x->shape[1], x->shape[2], m->shape[0]};
    sx_tensor *xc = sx_contiguous(x);
    sx_tensor *x2 = xc ? sx_reshape(xc, 2, (int64_t[]){-1, x->shape[3]}) : NULL;
    sx_tensor *y2 = x2 ? sx_linear(x2, m, NULL) : NULL;
    sx_tensor *y = y2 ? sx_reshape(y2, 4, shape) : NULL;
    sx_tensor_free(xc);
    sx_tensor_free(x2);
    sx_tensor_free(y2);
    return y;
}

sx_tensor *sx_interp2d(sx_tensor *x, sx_tensor *mh, sx_tensor *mw)
{
    sx_tensor *a = apply_last(x, mw);                   /* [N, C, H, w] */
    sx_tensor *t = a ? sx_transpose(a, 2, 3) : NULL;    /* [N, C, w, H] */
    sx_tensor *b = t ? apply_last(t, mh) : NULL;        /* [N, C, w, h] */
    sx_tensor *y = b ? sx_transpose(b, 2, 3) : NULL;    /* [N, C, h, w] */
    sx_tensor *yc = y ? sx_contiguous(y) : NULL;
    sx_tensor *tmp[] = {a, t, b, y};
    for (int i = 0; i < 4; i++) sx_tensor_free(tmp[i]);
    return yc;
}

sx_tensor *sx_resize_bilinear(sx_tensor *x, int h, int w)
{
    if (!sx_check_arg("resize_bilinear", 1, x)) return NULL;
    if (x->ndim != 4 || h < 1 || w < 1) {
        char s[96];
        sx_fail(SX_EINVAL, "resize_bilinear: expects [N, C, H, W] and a positive size, got %s to %dx%d",
                sx_shape_str(x, s, sizeof s), h, w);
        return NULL;
    }
    int64_t H = x->shape[2], W = x->shape[3];
    if (H == h && W == w) return sx_tensor_retain(x);
    sx_tensor *mw = bilinear_matrix(w, (int)W), *mh = mw ? bilinear_matrix(h, (int)H) : NULL;
    sx_tensor *y = mh ? sx_interp2d(x, mh, mw) : NULL;
    sx_tensor_free(mw);
    sx_tensor_free(mh);
    return y;
}

/* ---------------------------------------------------------------- prepare */

/* Replaces *t by next (freeing the old value); false with the error set. */
static bool step(sx_tensor **t, sx_tensor *next)
{
    sx_tensor_free(*t);
    *t = next;
    return next != NULL;
}

sx_tensor *sx_classifier_prepare(const sx_classifier *c, sx_tensor *x)
{
    if (!c) {
        sx_fail(SX_EINVAL, "classifier: NULL");
        return NULL;
    }
    if (!sx_check_arg("classifier", 1, x)) return NULL;
    if (x->ndim != 4 || x->shape[0] < 1) {
        char s[96];
        const sx_classifier_prep *p = &c->info.prep;
        sx_fail(SX_EINVAL, "classifier: input %s, expected [N, %d, %d, %d]", sx_shape_str(x, s, sizeof s), p->channels,
                p->height, p->width);
        return NULL;
    }
    const sx_classifier_prep *p = &c->info.prep;
    if (sx_classifier_accepts(c, "classifier", "the images", (int)x->shape[1], (int)x->shape[2], (int)x->shape[3]) != SX_OK)
        return NULL;
    sx_tensor *h = sx_tensor_retain(x);
    bool ok = true;
    if (x->shape[1] != p->channels) {
        if (p->channels == 3) { /* grey to RGB */
            ok = step(&h, sx_expand(h, 4, (int64_t[]){-1, 3, -1, -1})) && step(&h, sx_contiguous(h));
        } else { /* RGB to grey: the channel mean */
            ok = step(&h, sx_mean(h, 1, (int[]){1}, true));
        }
    }
    ok = ok && step(&h, sx_resize_bilinear(h, p->height, p->width));
    /* [-1, 1] -> [lo, hi]: v * (hi - lo) / 2 + (hi + lo) / 2 */
    float a = (p->range[1] - p->range[0]) * 0.5f, b = (p->range[1] + p->range[0]) * 0.5f;
    if (ok && a != 1.0f) ok = step(&h, sx_mul_scalar(h, a));
    if (ok && b != 0.0f) ok = step(&h, sx_add_scalar(h, b));
    if (ok && p->n_norm > 0) {
        float m[3], r[3];
        for (int i = 0; i < p->n_norm; i++) {
            m[i] = -p->mean[i];
            r[i] = 1.0f / p->std[i];
        }
        int64_t shape[4] = {1, p->n_norm, 1, 1};
        sx_tensor *mt = sx_tensor_from_data(4, shape, m), *rt = mt ? sx_tensor_from_data(4, shape, r) : NULL;
        ok = rt && step(&h, sx_add(h, mt)) && step(&h, sx_mul(h, rt));
        sx_tensor_free(mt);
        sx_tensor_free(rt);
    }
    if (!ok) {
        sx_tensor_free(h);
        return NULL;
    }
    return h;
}

/* ---------------------------------------------------------------- forward */

sx_status sx_classifier_forward(sx_classifier *c, sx_tensor *x, int n, const char *const *names, sx_tensor **maps,
                                sx_tensor **logits)
{
    for (int i = 0; i < n; i++) maps[i] = NULL;
    if (logits) *logits = NULL;
    if (!c) return sx_fail(SX_EINVAL, "classifier: NULL");
    for (int i = 0; i < n; i++)
        if (!names[i] || !has_layer(&c->info, names[i])) {
            char list[512] = "";
            size_t len = 0;
            for (int k = 0; k < c->info.n_layers && len + 4 < sizeof list; k++)
                len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", k ? ", " : "", c->info.layers[k]);
            return sx_fail(SX_EINVAL, "classifier: no layer '%s' (layers: %s)", names[i] ? names[i] : "(null)", list);
        }
    sx_tensor *in = sx_classifier_prepare(c, x);
    if (!in) return sx_last_status();
    sx_tensor *lg = NULL;
    sx_status st = c->vt->run(c->impl, in, n, names, maps, &lg);
    sx_tensor_free(in);
    if (st != SX_OK) return st;
    if (logits) *logits = lg;
    else sx_tensor_free(lg);
    return SX_OK;
}

sx_tensor *sx_classifier_logits(sx_classifier *c, sx_tensor *x)
{
    sx_tensor *lg = NULL;
    return sx_classifier_forward(c, x, 0, NULL, NULL, &lg) == SX_OK ? lg : NULL;
}

/* One layer's term: [N] */
static sx_tensor *perceptual_term(sx_tensor *fa, sx_tensor *fb)
{
    if (fa->ndim < 2) {
        char s[96];
        sx_fail(SX_EINVAL, "perceptual: a layer of shape %s has no channels", sx_shape_str(fa, s, sizeof s));
        return NULL;
    }
    /* unit vectors along the channels: f / sqrt(sum_c f^2 + eps) */
    sx_tensor *na = sx_normalize_dim1(fa, false, 1e-10f), *nb = na ? sx_normalize_dim1(fb, false, 1e-10f) : NULL;
    sx_tensor *d = nb ? sx_sub(na, nb) : NULL, *d2 = d ? sx_square(d) : NULL;
    sx_tensor *per = d2 ? sx_sum(d2, 1, (int[]){1}, false) : NULL; /* [N, spatial...] */
    sx_tensor *mean = NULL;
    if (per && per->ndim == 1) mean = sx_tensor_retain(per);
    else if (per) {
        int dims[8], k = 0;
        for (int q = 1; q < per->ndim && k < 8; q++) dims[k++] = q;
        mean = sx_mean(per, k, dims, false);
    }
    sx_tensor *tmp[] = {na, nb, d, d2, per};
    for (int i = 0; i < 5; i++) sx_tensor_free(tmp[i]);
    return mean;
}

sx_tensor *sx_classifier_perceptual(sx_classifier *c, sx_tensor *a, sx_tensor *b)
{
    if (!c) {
        sx_fail(SX_EINVAL, "perceptual: classifier is NULL");
        return NULL;
    }
    if (!sx_check_arg("perceptual", 2, a) || !sx_check_arg("perceptual", 3, b)) return NULL;
    if (!sx_check_same_shape("perceptual", a, b)) return NULL;
    int n = c->info.n_perceptual;
    if (n < 1) {
        sx_fail(SX_EINVAL, "perceptual: the classifier names no perceptual layers");
        return NULL;
    }
    const char *const *names = (const char *const *)c->info.perceptual;
    sx_tensor **fa = calloc((size_t)n * 2, sizeof *fa);
    if (!fa) {
        sx_fail(SX_ENOMEM, "perceptual: out of memory");
        return NULL;
    }
    sx_tensor **fb = fa + n;
    sx_tensor *total = NULL;
    bool ok = sx_classifier_forward(c, a, n, names, fa, NULL) == SX_OK &&
              sx_classifier_forward(c, b, n, names, fb, NULL) == SX_OK;
    for (int k = 0; k < n && ok; k++) {
        sx_tensor *term = perceptual_term(fa[k], fb[k]);
        sx_tensor *next = term ? (total ? sx_add(total, term) : sx_tensor_retain(term)) : NULL;
        ok = next != NULL;
        sx_tensor_free(total);
        sx_tensor_free(term);
        total = next;
    }
    for (int k = 0; k < 2 * n; k++) sx_tensor_free(fa[k]);
    free(fa);
    if (!ok) {
        sx_tensor_free(total);
        return NULL;
    }
    return total;
}

int sx_classifier_parameters(sx_classifier *c, sx_tensor **out, int cap)
{
    return c && c->vt->parameters ? c->vt->parameters(c->impl, out, cap) : 0;
}

void sx_classifier_set_requires_grad(sx_classifier *c, bool on)
{
    int n = sx_classifier_parameters(c, NULL, 0);
    sx_tensor **p = n > 0 ? malloc(sizeof *p * (size_t)n) : NULL;
    n = p ? sx_classifier_parameters(c, p, n) : 0;
    for (int i = 0; i < n; i++) sx_tensor_set_requires_grad(p[i], on);
    free(p);
}

/* ---------------------------------------------------------------- the built-in CNN */

static const char *cnn_layer_name(int b)
{
    static const char *const names[SX_CNN_MAX_BLOCKS] = {"block0", "block1", "block2", "block3", "block4", "block5"};
    return names[b];
}

static sx_status cnn_run(void *impl, sx_tensor *x, int n, const char *const *names, sx_tensor **maps,
                         sx_tensor **logits)
{
    sx_module *m = impl;
    bool want = false;
    for (int i = 0; i < n; i++) want = want || strcmp(names[i], "penultimate") != 0;
    sx_cnn_output o;
    sx_status st = sx_cnn_forward(m, x, false, want, &o);
    if (st != SX_OK) return st;
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i], "penultimate") == 0) maps[i] = sx_tensor_retain(o.penultimate);
        else
            for (int b = 0; b < o.n_features; b++)
                if (strcmp(names[i], cnn_layer_name(b)) == 0) maps[i] = sx_tensor_retain(o.features[b]);
    }
    *logits = sx_tensor_retain(o.logits);
    sx_cnn_output_clear(&o);
    return SX_OK;
}

static void cnn_free(void *impl) { sx_module_free(impl); }

static int cnn_parameters(void *impl, sx_tensor **out, int cap)
{
    sx_module *m = impl;
    sx_named_tensors p = {0};
    if (sx_module_parameters(m, &p) != SX_OK) return 0;
    for (int i = 0; i < p.n && i < cap; i++) out[i] = p.tensors[i];
    int n = p.n;
    sx_named_tensors_clear(&p);
    return n;
}

static const sx_classifier_vtable cnn_vtable = {
    .kind = "cnn", .run = cnn_run, .free_impl = cnn_free, .parameters = cnn_parameters};

static char *dup(const char *s)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d) sx_fail(SX_ENOMEM, "classifier: out of memory");
    return d;
}

sx_classifier *sx_classifier_from_cnn(sx_module *m, const char *const *class_names)
{
    const sx_cnn_config *cfg = sx_cnn_config_of(m);
    if (!cfg) return NULL;
    sx_classifier_info in = {0};
    in.prep = (sx_classifier_prep){.channels = cfg->img_channels, .height = cfg->resolution,
                                   .width = cfg->resolution, .range = {-1, 1}};
    bool ok = (in.class_names = calloc((size_t)cfg->n_classes, sizeof(char *))) &&
              (in.layers = calloc((size_t)cfg->n_blocks, sizeof(char *))) &&
              (in.perceptual = calloc((size_t)cfg->n_blocks, sizeof(char *)));
    if (!ok) sx_fail(SX_ENOMEM, "classifier: out of memory");
    in.n_classes = ok ? cfg->n_classes : 0;
    for (int k = 0; k < cfg->n_classes && ok; k++) {
        char num[24];
        snprintf(num, sizeof num, "%d", k);
        ok = (in.class_names[k] = dup(class_names ? class_names[k] : num)) != NULL;
    }
    in.n_layers = in.n_perceptual = ok ? cfg->n_blocks : 0;
    for (int b = 0; b < cfg->n_blocks && ok; b++)
        ok = (in.layers[b] = dup(cnn_layer_name(b))) && (in.perceptual[b] = dup(cnn_layer_name(b)));
    ok = ok && (in.gradcam_layer = dup(cnn_layer_name(cfg->n_blocks - 1))) && (in.penultimate = dup("penultimate"));
    if (!ok) {
        sx_classifier_info_clear(&in);
        return NULL;
    }
    return sx_classifier_new(&cnn_vtable, sx_module_retain(m), &in);
}

sx_module *sx_classifier_module(const sx_classifier *c)
{
    return c && c->vt == &cnn_vtable ? c->impl : NULL;
}
