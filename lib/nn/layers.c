/*
 * lib/nn/layers.c — the Linear and Conv2d layers as modules, with
 * StyleGAN2's equalized learning rate.
 *
 * A layer stores its weight and bias as plain leaves and multiplies them by
 * their runtime gains in forward (sx_param_value), so the forward is made of
 * differentiable ops (mul_scalar, linear / conv2d) and double backward works.
 * Initialisation rules are in stylex/nn.h.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"
#include "stylex/ops.h"
#include "stylex/nn.h"
#include "layers_internal.h"

/* The stored weight: N(0, s^2)/lr_mul (equalized) or He-uniform/lr_mul. */
static sx_tensor *init_weight(int ndim, const int64_t *shape, int64_t fan_in, bool equalized, float init_std,
                              float lr_mul)
{
    sx_tensor *w = equalized ? sx_tensor_randn(ndim, shape) : sx_tensor_rand(ndim, shape);
    if (!w) return NULL;
    float *p = sx_tensor_data(w);
    int64_t n = sx_tensor_numel(w);
    if (equalized) {
        float scale = (init_std > 0 ? init_std : 1.0f) / lr_mul;
        for (int64_t i = 0; i < n; i++) p[i] *= scale;
    } else {
        double std = init_std > 0 ? init_std : sqrt(2.0 / (double)fan_in);
        float bound = (float)(sqrt(3.0) * std / lr_mul);
        for (int64_t i = 0; i < n; i++) p[i] = (2.0f * p[i] - 1.0f) * bound;
    }
    return w;
}

/* Adds weight (and bias) to m; frees m and returns NULL on failure. */
static sx_module *add_weight_bias(sx_module *m, int ndim, const int64_t *wshape, int64_t fan_in, int64_t out,
                                  bool bias, bool equalized, float lr_mul, float bias_init, float init_std)
{
    float wgain = equalized ? lr_mul / sqrtf((float)fan_in) : lr_mul;
    sx_tensor *w = init_weight(ndim, wshape, fan_in, equalized, init_std, lr_mul);
    if (!w || sx_module_add_param(m, "weight", w, lr_mul, wgain) != SX_OK) {
        sx_module_free(m);
        return NULL;
    }
    if (bias) {
        sx_tensor *b = sx_tensor_full(1, &out, bias_init / lr_mul);
        if (!b || sx_module_add_param(m, "bias", b, lr_mul, lr_mul) != SX_OK) {
            sx_module_free(m);
            return NULL;
        }
    }
    return m;
}

static bool check_lr_init(const char *fn, float lr_mul, float bias_init, float init_std)
{
    if (!(lr_mul > 0 && isfinite(lr_mul))) {
        sx_fail(SX_EINVAL, "%s: lr_mul must be positive and finite (got %g)", fn, lr_mul);
        return false;
    }
    if (!isfinite(bias_init) || !(init_std >= 0 && isfinite(init_std))) {
        sx_fail(SX_EINVAL, "%s: bias_init must be finite and init_std >= 0 (got %g, %g)", fn, bias_init, init_std);
        return false;
    }
    return true;
}

sx_module *sx_layer_module(const char *type, const void *cfg, size_t size, sx_module_forward_fn forward)
{
    void *impl = malloc(size);
    sx_module *m = impl ? sx_module_new(type) : NULL;
    if (!m) {
        free(impl);
        sx_fail(SX_ENOMEM, "%s: out of memory", type);
        return NULL;
    }
    memcpy(impl, cfg, size);
    m->impl = impl;
    m->forward = forward;
    return m;
}

bool sx_layer_has_opts(const void *opts, const char *fn)
{
    if (opts) return true;
    sx_fail(SX_EINVAL, "%s: NULL options", fn);
    return false;
}

/* ---------------------------------------------------------------- Linear */

static sx_tensor *linear_forward(sx_module *m, sx_tensor *x) { return sx_linear_layer_forward(m, x); }

sx_module *sx_linear_layer_new(const sx_linear_opts *opts)
{
    const char *fn = "Linear";
    if (!sx_layer_has_opts(opts, fn)) return NULL;
    sx_linear_opts o = *opts;
    if (o.lr_mul == 0) o.lr_mul = 1.0f;
    if (o.in <= 0 || o.out <= 0 || o.in > ((int64_t)1 << 30) || o.out > ((int64_t)1 << 30)) {
        sx_fail(SX_EINVAL, "%s: in and out must be positive (got in = %lld, out = %lld)", fn, (long long)o.in,
                (long long)o.out);
        return NULL;
    }
    if (!check_lr_init(fn, o.lr_mul, o.bias_init, o.init_std)) return NULL;
    sx_module *m = sx_layer_module(fn, &o, sizeof o, linear_forward);
    if (!m) return NULL;
    return add_weight_bias(m, 2, (int64_t[]){o.out, o.in}, o.in, o.out, !o.no_bias, o.equalized, o.lr_mul,
                           o.bias_init, o.init_std);
}

/* The module's weight and bias values (times their gains); false on error. */
static bool layer_values(sx_module *m, const char *type, sx_tensor **w, sx_tensor **b)
{
    *w = *b = NULL;
    if (!m || !m->type || strcmp(m->type, type) != 0) {
        sx_fail(SX_EINVAL, "%s forward: module is a %s, not a %s", type, m && m->type ? m->type : "NULL", type);
        return false;
    }
    if (!m->impl) {
        sx_fail(SX_ESTATE, "%s forward: module has no layer configuration", type);
        return false;
    }
    sx_param *pw = sx_module_param(m, "weight"), *pb = sx_module_param(m, "bias");
    if (!pw) {
        sx_fail(SX_ESTATE, "%s forward: module has no weight", type);
        return false;
    }
    *w = sx_param_value(pw);
    if (*w && pb) *b = sx_param_value(pb);
    if (!*w || (pb && !*b)) {
        sx_tensor_free(*w);
        *w = NULL;
        return false;
    }
    return true;
}

sx_tensor *sx_linear_layer_forward(sx_module *m, sx_tensor *x)
{
    if (!sx_check_arg("Linear forward", 2, x)) return NULL;
    sx_tensor *w, *b;
    if (!layer_values(m, "Linear", &w, &b)) return NULL;
    sx_tensor *y = sx_linear(x, w, b);
    sx_tensor_free(w);
    sx_tensor_free(b);
    return y;
}

/* ---------------------------------------------------------------- Conv2d */

static sx_tensor *conv2d_forward(sx_module *m, sx_tensor *x) { return sx_conv2d_layer_forward(m, x); }

sx_module *sx_conv2d_layer_new(const sx_conv2d_layer_opts *opts)
{
    const char *fn = "Conv2d";
    if (!sx_layer_has_opts(opts, fn)) return NULL;
    sx_conv2d_layer_opts o = *opts;
    if (o.lr_mul == 0) o.lr_mul = 1.0f;
    if (o.stride == 0) o.stride = 1;
    if (o.groups == 0) o.groups = 1;
    if (o.in <= 0 || o.out <= 0 || o.in > ((int64_t)1 << 24) || o.out > ((int64_t)1 << 24)) {
        sx_fail(SX_EINVAL, "%s: in and out channels must be positive (got in = %lld, out = %lld)", fn,
                (long long)o.in, (long long)o.out);
        return NULL;
    }
    if (o.kernel < 1 || o.kernel > 1024 || o.stride < 1 || o.padding < 0 || o.groups < 1) {
        sx_fail(SX_EINVAL, "%s: needs kernel >= 1, stride >= 1, padding >= 0, groups >= 1 (got %d, %d, %d, %d)", fn,
                o.kernel, o.stride, o.padding, o.groups);
        return NULL;
    }
    if (o.in % o.groups || o.out % o.groups) {
        sx_fail(SX_EINVAL, "%s: groups %d must divide in (%lld) and out (%lld)", fn, o.groups, (long long)o.in,
                (long long)o.out);
        return NULL;
    }
    if (!check_lr_init(fn, o.lr_mul, o.bias_init, o.init_std)) return NULL;
    sx_module *m = sx_layer_module(fn, &o, sizeof o, conv2d_forward);
    if (!m) return NULL;
    int64_t k = o.kernel, cin = o.in / o.groups;
    return add_weight_bias(m, 4, (int64_t[]){o.out, cin, k, k}, cin * k * k, o.out, !o.no_bias, o.equalized,
                           o.lr_mul, o.bias_init, o.init_std);
}

sx_tensor *sx_conv2d_layer_forward(sx_module *m, sx_tensor *x)
{
    if (!sx_check_arg("Conv2d forward", 2, x)) return NULL;
    sx_tensor *w, *b;
    if (!layer_values(m, "Conv2d", &w, &b)) return NULL;
    const sx_conv2d_layer_opts *o = m->impl;
    sx_conv2d_opts co = {.stride = {o->stride, o->stride}, .padding = {o->padding, o->padding}, .groups = o->groups};
    sx_tensor *y = sx_conv2d(x, w, b, &co);
    sx_tensor_free(w);
    sx_tensor_free(b);
    return y;
}
