/*
 * lib/nn/basic_layers.c — the small layers of torch.nn that a classifier is
 * built from besides Linear and Conv2d (lib/nn/layers.c): BatchNorm2d with
 * its running statistics, ReLU, LeakyReLU, MaxPool2d, AvgPool2d, Dropout and
 * Flatten, each an sx_module with a single-input forward over the ops of
 * lib/ops (so gradients, and gradients of gradients, come from the ops).
 * BatchNorm2d and Dropout read m->training (sx_module_set_training).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stylex/nn.h"
#include "stylex/ops.h"
#include "layers_internal.h"

/* The scalars a parameterless layer keeps in its impl. */
typedef struct basic_cfg {
    float f;    /* LeakyReLU's slope, Dropout's p */
    int i, j;   /* pooling's k; Flatten's start and end */
} basic_cfg;

static sx_module *basic_module(const char *type, basic_cfg cfg, sx_module_forward_fn forward)
{
    return sx_layer_module(type, &cfg, sizeof cfg, forward);
}

/* The config of m, checking that it is a `type` module. */
static const basic_cfg *cfg_of(sx_module *m, const char *type)
{
    if (!m || !m->type || strcmp(m->type, type) != 0 || !m->impl) {
        sx_fail(SX_EINVAL, "%s forward: module is a %s, not a %s", type, m && m->type ? m->type : "NULL", type);
        return NULL;
    }
    return m->impl;
}

/* ---------------------------------------------------------------- activations, pooling, dropout, flatten */

static sx_tensor *relu_forward(sx_module *m, sx_tensor *x) { return cfg_of(m, "ReLU") ? sx_relu(x) : NULL; }

static sx_tensor *leaky_forward(sx_module *m, sx_tensor *x)
{
    const basic_cfg *c = cfg_of(m, "LeakyReLU");
    return c ? sx_leaky_relu(x, c->f) : NULL;
}

static sx_tensor *max_pool_forward(sx_module *m, sx_tensor *x)
{
    const basic_cfg *c = cfg_of(m, "MaxPool2d");
    return c ? sx_max_pool2d(x, c->i) : NULL;
}

static sx_tensor *avg_pool_forward(sx_module *m, sx_tensor *x)
{
    const basic_cfg *c = cfg_of(m, "AvgPool2d");
    return c ? sx_avg_pool2d(x, c->i) : NULL;
}

static sx_tensor *dropout_forward(sx_module *m, sx_tensor *x)
{
    const basic_cfg *c = cfg_of(m, "Dropout");
    if (!c) return NULL;
    if (!m->training || c->f == 0.0f) {
        if (!x) sx_fail(SX_EINVAL, "Dropout forward: argument #1 is NULL");
        return sx_tensor_retain(x);
    }
    return sx_dropout(x, c->f);
}

static sx_tensor *flatten_forward(sx_module *m, sx_tensor *x)
{
    const basic_cfg *c = cfg_of(m, "Flatten");
    return c ? sx_flatten(x, c->i, c->j) : NULL;
}

sx_module *sx_relu_layer_new(void) { return basic_module("ReLU", (basic_cfg){0}, relu_forward); }

sx_module *sx_leaky_relu_layer_new(float slope)
{
    if (!isfinite(slope)) {
        sx_fail(SX_EINVAL, "LeakyReLU: slope %g is not finite", (double)slope);
        return NULL;
    }
    return basic_module("LeakyReLU", (basic_cfg){.f = slope}, leaky_forward);
}

static bool check_k(const char *fn, int k)
{
    if (k >= 1 && k <= 65536) return true;
    sx_fail(SX_EINVAL, "%s: window size %d outside 1 .. 65536", fn, k);
    return false;
}

sx_module *sx_max_pool2d_layer_new(int k)
{
    return check_k("MaxPool2d", k) ? basic_module("MaxPool2d", (basic_cfg){.i = k}, max_pool_forward) : NULL;
}

sx_module *sx_avg_pool2d_layer_new(int k)
{
    return check_k("AvgPool2d", k) ? basic_module("AvgPool2d", (basic_cfg){.i = k}, avg_pool_forward) : NULL;
}

sx_module *sx_dropout_layer_new(float p)
{
    if (!(p >= 0.0f && p < 1.0f)) {
        sx_fail(SX_EINVAL, "Dropout: probability %g outside [0, 1)", (double)p);
        return NULL;
    }
    return basic_module("Dropout", (basic_cfg){.f = p}, dropout_forward);
}

sx_module *sx_flatten_layer_new(int start, int end)
{
    return basic_module("Flatten", (basic_cfg){.i = start, .j = end}, flatten_forward);
}

/* ---------------------------------------------------------------- BatchNorm2d */

typedef struct bn_cfg {
    int64_t channels;
    float eps, momentum;
    bool affine;
} bn_cfg;

static sx_tensor *bn_forward(sx_module *m, sx_tensor *x) { return sx_batchnorm2d_layer_forward(m, x); }

sx_module *sx_batchnorm2d_layer_new(const sx_batchnorm2d_opts *o)
{
    const char *fn = "BatchNorm2d";
    if (!sx_layer_has_opts(o, fn)) return NULL;
    bn_cfg c = {o->channels, o->eps == 0 ? 1e-5f : o->eps, o->momentum == 0 ? 0.1f : o->momentum, !o->no_affine};
    if (c.channels < 1 || c.channels > ((int64_t)1 << 24)) {
        sx_fail(SX_EINVAL, "%s: channels must be in 1 .. 2^24 (got %lld)", fn, (long long)c.channels);
        return NULL;
    }
    if (!(c.eps > 0 && isfinite(c.eps)) || !(c.momentum > 0 && c.momentum <= 1)) {
        sx_fail(SX_EINVAL, "%s: eps must be positive and momentum in (0, 1] (got %g, %g)", fn, (double)c.eps,
                (double)c.momentum);
        return NULL;
    }
    sx_module *m = sx_layer_module(fn, &c, sizeof c, bn_forward);
    if (!m) return NULL;
    const int64_t shape[1] = {c.channels};
    sx_status st = SX_OK;
    if (c.affine) {
        st = sx_module_add_param(m, "weight", sx_tensor_ones(1, shape), 1.0f, 1.0f);
        if (st == SX_OK) st = sx_module_add_param(m, "bias", sx_tensor_zeros(1, shape), 1.0f, 1.0f);
    }
    if (st == SX_OK) st = sx_module_add_buffer(m, "running_mean", sx_tensor_zeros(1, shape));
    if (st == SX_OK) st = sx_module_add_buffer(m, "running_var", sx_tensor_ones(1, shape));
    if (st == SX_OK) st = sx_module_add_buffer(m, "num_batches_tracked", sx_tensor_zeros(1, (const int64_t[]){1}));
    if (st != SX_OK) {
        sx_module_free(m);
        return NULL;
    }
    return m;
}

/* v [C] seen as [1, C, 1, 1] (a view). */
static sx_tensor *per_channel(sx_tensor *v) { return sx_reshape(v, 4, (const int64_t[]){1, -1, 1, 1}); }

/* running = (1 - momentum) running + momentum batch, in place, not recorded. */
static sx_status blend(sx_tensor *running, sx_tensor *batch, float momentum)
{
    sx_tensor *a = sx_mul_scalar(running, 1.0f - momentum), *b = a ? sx_mul_scalar(batch, momentum) : NULL;
    sx_tensor *s = b ? sx_add(a, b) : NULL;
    sx_status st = s ? sx_tensor_assign(running, s) : sx_last_status();
    sx_tensor_free(a);
    sx_tensor_free(b);
    sx_tensor_free(s);
    return st;
}

sx_tensor *sx_batchnorm2d_layer_forward(sx_module *m, sx_tensor *x)
{
    const char *fn = "BatchNorm2d forward";
    if (!m || !m->type || strcmp(m->type, "BatchNorm2d") != 0 || !m->impl) {
        sx_fail(SX_EINVAL, "%s: module is a %s, not a BatchNorm2d", fn, m && m->type ? m->type : "NULL");
        return NULL;
    }
    if (!x) {
        sx_fail(SX_EINVAL, "%s: argument #1 is NULL", fn);
        return NULL;
    }
    const bn_cfg *c = m->impl;
    if (x->ndim != 4 || x->shape[1] != c->channels) {
        char b[96];
        sx_fail(SX_EINVAL, "%s: expected x [N, %lld, H, W], got %s", fn, (long long)c->channels,
                sx_shape_str(x, b, sizeof b));
        return NULL;
    }
    sx_param *pm = sx_module_param(m, "running_mean"), *pv = sx_module_param(m, "running_var");
    sx_param *pn = sx_module_param(m, "num_batches_tracked");
    if (!pm || !pv || !pn) {
        sx_fail(SX_ESTATE, "%s: module has lost its running statistics", fn);
        return NULL;
    }
    int64_t count = x->shape[0] * x->shape[2] * x->shape[3];
    const int dims[3] = {0, 2, 3};
    sx_tensor *mean = NULL, *var = NULL;
    if (m->training) {
        if (count < 2) {
            sx_fail(SX_EINVAL, "%s: training needs more than one value per channel (x is [%lld, %lld, %lld, %lld])", fn,
                    (long long)x->shape[0], (long long)x->shape[1], (long long)x->shape[2], (long long)x->shape[3]);
            return NULL;
        }
        mean = sx_mean(x, 3, dims, true);
        var = mean ? sx_var(x, 3, dims, true, false) : NULL;
        if (!var) goto fail;
        /* the running statistics, outside the graph: unbiased variance, as PyTorch */
        bool prev = sx_set_grad_enabled(false);
        sx_tensor *bm = sx_reshape(mean, 1, (const int64_t[]){c->channels});
        sx_tensor *bv = bm ? sx_reshape(var, 1, (const int64_t[]){c->channels}) : NULL;
        sx_tensor *bu = bv ? sx_mul_scalar(bv, (float)count / (float)(count - 1)) : NULL;
        sx_status st = bu ? blend(pm->tensor, bm, c->momentum) : sx_last_status();
        if (st == SX_OK) st = blend(pv->tensor, bu, c->momentum);
        if (st == SX_OK) sx_tensor_data(pn->tensor)[0] += 1.0f;
        sx_set_grad_enabled(prev);
        sx_tensor_free(bm);
        sx_tensor_free(bv);
        sx_tensor_free(bu);
        if (st != SX_OK) goto fail;
    } else {
        mean = per_channel(pm->tensor);
        var = mean ? per_channel(pv->tensor) : NULL;
        if (!var) goto fail;
    }
    sx_tensor *ve = sx_add_scalar(var, c->eps), *inv = ve ? sx_rsqrt(ve) : NULL;
    sx_tensor *d = inv ? sx_sub(x, mean) : NULL, *y = d ? sx_mul(d, inv) : NULL;
    sx_tensor_free(ve);
    sx_tensor_free(inv);
    sx_tensor_free(d);
    if (y && c->affine) {
        sx_param *pw = sx_module_param(m, "weight"), *pb = sx_module_param(m, "bias");
        sx_tensor *w = pw ? per_channel(pw->tensor) : NULL, *b = pb ? per_channel(pb->tensor) : NULL;
        sx_tensor *yw = w && b ? sx_mul(y, w) : NULL, *yb = yw ? sx_add(yw, b) : NULL;
        if (!pw || !pb) sx_fail(SX_ESTATE, "%s: module has lost its weight or bias", fn);
        sx_tensor_free(w);
        sx_tensor_free(b);
        sx_tensor_free(yw);
        sx_tensor_free(y);
        y = yb;
    }
    sx_tensor_free(mean);
    sx_tensor_free(var);
    return y;
fail:
    sx_tensor_free(mean);
    sx_tensor_free(var);
    return NULL;
}
