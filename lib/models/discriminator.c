/*
 * lib/models/discriminator.c — the resnet discriminator (class-conditional
 * through the classifier's probabilities) and the encoder, which shares its
 * architecture without minibatch-stddev and ends in an FC to w_dim.
 *
 * Module tree (stylegan2-ada names), R the resolution, C_r the channels:
 *   b<R>:  fromrgb (1x1, img_ch -> C_R), then as every block b<r>, r = R .. 8:
 *          conv0 (3x3, C_r -> C_r), conv1 (3x3 stride 2 after the blur,
 *          C_r -> C_r/2), skip (1x1 after the blur-downsample, no bias)
 *   b4:    conv (3x3, C_4 + mbstd_channels -> C_4), fc (C_4*16 -> C_4),
 *          out (C_4 -> max(n_classes, 1), or w_dim for the encoder)
 * All Conv2d / Linear layers are equalized. Activations are lrelu(0.2) * sqrt 2;
 * the block output is (lrelu(conv1) * sqrt 2 + skip) * sqrt .5. The gains are
 * folded into the weights and biases (lrelu is positively homogeneous), so
 * conv1's activation gain is 1 and the skip's sqrt .5 scales its weight.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stylegan_internal.h"

/* ---------------------------------------------------------------- construction */

static sx_module *conv_new(int64_t in, int64_t out, int k, int stride, int pad, bool bias)
{
    sx_conv2d_layer_opts o = {.in = in, .out = out, .kernel = k, .stride = stride, .padding = pad,
                              .no_bias = !bias, .equalized = true};
    return sx_conv2d_layer_new(&o);
}

static sx_module *fc_new(int64_t in, int64_t out)
{
    sx_linear_opts o = {.in = in, .out = out, .equalized = true};
    return sx_linear_layer_new(&o);
}

static sx_tensor *disc_forward_single(sx_module *m, sx_tensor *x) { return sx_discriminator_forward(m, x, NULL); }
static sx_tensor *enc_forward_single(sx_module *m, sx_tensor *x) { return sx_encoder_forward(m, x); }

static sx_module *dnet_new(const char *type, const sx_stylegan_config *cfg, bool mbstd, int out_dim)
{
    sx_module *m = sg_model_new(type, cfg);
    if (!m) return NULL;
    int n = sg_n_levels(cfg);
    bool ok = true;
    for (int k = n - 1; k >= 1 && ok; k--) {
        int c = cfg->channels[k], co = cfg->channels[k - 1];
        sx_module *b = sx_module_new("DiscriminatorBlock");
        ok = b != NULL;
        if (ok && k == n - 1) ok = sg_add(b, "fromrgb", conv_new(cfg->img_channels, c, 1, 1, 0, true));
        ok = ok && sg_add(b, "conv0", conv_new(c, c, 3, 1, 1, true)) &&
             sg_add(b, "conv1", conv_new(c, co, 3, 2, 0, true)) && sg_add(b, "skip", conv_new(c, co, 1, 1, 0, false));
        char name[16];
        snprintf(name, sizeof name, "b%d", 4 << k);
        if (b) ok = ok ? sg_add(m, name, b) : (sx_module_free(b), false);
    }
    int c0 = cfg->channels[0];
    sx_module *e = ok ? sx_module_new("DiscriminatorEpilogue") : NULL;
    ok = e && sg_add(e, "conv", conv_new(c0 + (mbstd ? cfg->mbstd_channels : 0), c0, 3, 1, 1, true)) &&
         sg_add(e, "fc", fc_new((int64_t)c0 * 16, c0)) && sg_add(e, "out", fc_new(c0, out_dim));
    if (e) ok = ok ? sg_add(m, "b4", e) : (sx_module_free(e), false);
    if (!ok) {
        sx_module_free(m);
        return NULL;
    }
    return m;
}

sx_module *sx_discriminator_new(const sx_stylegan_config *cfg)
{
    if (sx_stylegan_config_check(cfg) != SX_OK) return NULL;
    sx_module *m = dnet_new("Discriminator", cfg, cfg->mbstd_group > 0, cfg->n_classes > 0 ? cfg->n_classes : 1);
    if (m) m->forward = disc_forward_single;
    return m;
}

sx_module *sx_encoder_new(const sx_stylegan_config *cfg)
{
    if (sx_stylegan_config_check(cfg) != SX_OK) return NULL;
    sx_module *m = dnet_new("Encoder", cfg, false, cfg->w_dim);
    if (m) m->forward = enc_forward_single;
    return m;
}

/* ---------------------------------------------------------------- layers */

/* conv2d with the layer's weight and bias scaled by gain, then lrelu when
 * act (so lrelu(conv) * gain with the gain folded in). */
static sx_tensor *conv_layer(const sx_module *m, sx_tensor *x, float gain, int stride, int pad, bool act)
{
    bool has_bias = sx_module_param(m, "bias") != NULL;
    sx_tensor *w = sg_param_scaled(m, "weight", gain);
    sx_tensor *b = w && has_bias ? sg_param_scaled(m, "bias", gain) : NULL;
    sx_conv2d_opts o = {.stride = {stride, stride}, .padding = {pad, pad}};
    sx_tensor *y = w && (b || !has_bias) ? sx_conv2d(x, w, b, &o) : NULL;
    if (y && act) sg_step(&y, sx_leaky_relu(y, SG_LRELU_SLOPE));
    sx_tensor_free(w);
    sx_tensor_free(b);
    return y;
}

static sx_tensor *linear_layer(const sx_module *m, sx_tensor *x, float gain, bool act)
{
    sx_tensor *w = sg_param_scaled(m, "weight", gain);
    sx_tensor *b = w ? sg_param_scaled(m, "bias", gain) : NULL;
    sx_tensor *y = b ? sx_linear(x, w, b) : NULL;
    if (y && act) sg_step(&y, sx_leaky_relu(y, SG_LRELU_SLOPE));
    sx_tensor_free(w);
    sx_tensor_free(b);
    return y;
}

/* One resnet block: [N, C, r, r] -> [N, C', r/2, r/2]. */
static sx_tensor *dblock(const sx_module *b, sx_tensor *x)
{
    sx_tensor *s = sx_downsample2d(x);
    bool ok = s && sg_step(&s, conv_layer(sx_module_child(b, "skip"), s, SG_SQRT_HALF, 1, 0, false));
    sx_tensor *h = ok ? conv_layer(sx_module_child(b, "conv0"), x, SG_SQRT2, 1, 1, true) : NULL;
    /* blur with pad 2 (H -> H + 1), then the 3x3 stride-2 conv: H / 2 */
    ok = h && sg_step(&h, sg_fir_apply(h, 1.0f, 1, 1, 2, 2)) &&
         sg_step(&h, conv_layer(sx_module_child(b, "conv1"), h, SG_SQRT2 * SG_SQRT_HALF, 2, 0, true)) &&
         sg_step(&h, sx_add(h, s));
    sx_tensor_free(s);
    if (!ok) {
        sx_tensor_free(h);
        return NULL;
    }
    return h;
}

/* The largest divisor of n that is at most g. */
static int64_t group_size(int64_t n, int64_t g)
{
    if (g > n) g = n;
    while (g > 1 && n % g) g--;
    return g;
}

/* Minibatch standard deviation: appends F channels, each the mean over c = C/F
 * channels and all pixels of the stddev over groups of G samples (samples i,
 * i + N/G, ... form a group, as in stylegan2-ada). */
static sx_tensor *mbstd(sx_tensor *x, int group, int F)
{
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t G = group_size(N, group), n = N / G;
    int d0 = 0, d234[3] = {2, 3, 4};
    sx_tensor *t[4] = {0};
    sx_tensor *y = sx_reshape(x, 6, (int64_t[]){G, n, F, C / F, H, W});
    bool ok = y && (t[0] = sx_mean(y, 1, &d0, true)) && sg_step(&y, sx_sub(y, t[0])) && sg_step(&y, sx_square(y)) &&
              sg_step(&y, sx_mean(y, 1, &d0, false)) && sg_step(&y, sx_add_scalar(y, 1e-8f)) &&
              sg_step(&y, sx_sqrt(y)) && sg_step(&y, sx_mean(y, 3, d234, false)) &&
              sg_step(&y, sx_reshape(y, 5, (int64_t[]){1, n, F, 1, 1})) &&
              sg_step(&y, sx_expand(y, 5, (int64_t[]){G, n, F, H, W})) &&
              sg_step(&y, sx_reshape(y, 4, (int64_t[]){N, F, H, W}));
    if (ok) {
        sx_tensor *parts[2] = {x, y};
        ok = (t[1] = sx_cat(2, parts, 1)) != NULL;
    }
    sx_tensor_free(y);
    sx_tensor_free(t[0]);
    return ok ? t[1] : NULL;
}

/* The shared trunk: img -> the output FC's result [N, out_dim]. */
static sx_tensor *dnet_forward(const sx_module *m, const sx_stylegan_config *c, sx_tensor *img, bool use_mbstd,
                               const char *fn)
{
    if (!sx_check_arg(fn, 2, img)) return NULL;
    if (img->ndim != 4 || img->shape[0] < 1 || img->shape[1] != c->img_channels || img->shape[2] != c->resolution ||
        img->shape[3] != c->resolution) {
        char s[96];
        sx_fail(SX_EINVAL, "%s: image %s, expected [N, %d, %d, %d]", fn, sx_shape_str(img, s, sizeof s),
                c->img_channels, c->resolution, c->resolution);
        return NULL;
    }
    int n = sg_n_levels(c);
    char name[16];
    snprintf(name, sizeof name, "b%d", c->resolution);
    sx_tensor *x = conv_layer(sx_module_child(sx_module_child(m, name), "fromrgb"), img, SG_SQRT2, 1, 0, true);
    for (int k = n - 1; k >= 1 && x; k--) {
        snprintf(name, sizeof name, "b%d", 4 << k);
        sg_step(&x, dblock(sx_module_child(m, name), x));
    }
    const sx_module *e = sx_module_child(m, "b4");
    if (x && use_mbstd) sg_step(&x, mbstd(x, c->mbstd_group, c->mbstd_channels));
    bool ok = x && sg_step(&x, conv_layer(sx_module_child(e, "conv"), x, SG_SQRT2, 1, 1, true)) &&
              sg_step(&x, sx_reshape(x, 2, (int64_t[]){img->shape[0], -1})) &&
              sg_step(&x, linear_layer(sx_module_child(e, "fc"), x, SG_SQRT2, true)) &&
              sg_step(&x, linear_layer(sx_module_child(e, "out"), x, 1.0f, false));
    if (!ok) {
        sx_tensor_free(x);
        return NULL;
    }
    return x;
}

/* ---------------------------------------------------------------- forwards */

sx_tensor *sx_discriminator_forward(sx_module *D, sx_tensor *img, sx_tensor *p)
{
    const char *fn = "discriminator";
    sx_module *m = sg_resolve(D, "Discriminator", NULL, fn);
    if (!m) return NULL;
    const sx_stylegan_config *c = &((const sg_model_impl *)m->impl)->cfg;
    char s1[96], s2[96];
    if (c->n_classes == 0 && p) {
        sx_fail(SX_EINVAL, "%s: the network is unconditional (n_classes 0) but class probabilities %s were given", fn,
                sx_shape_str(p, s2, sizeof s2));
        return NULL;
    }
    if (c->n_classes > 0 && img &&
        (!p || p->ndim != 2 || p->shape[1] != c->n_classes || img->ndim < 1 || p->shape[0] != img->shape[0])) {
        if (p) sx_shape_str(p, s2, sizeof s2);
        sx_fail(SX_EINVAL, "%s: class probabilities %s, expected [N, %d] for image %s", fn, p ? s2 : "missing",
                c->n_classes, sx_shape_str(img, s1, sizeof s1));
        return NULL;
    }
    sx_tensor *out = dnet_forward(m, c, img, c->mbstd_group > 0, fn);
    if (!out) return NULL;
    if (c->n_classes == 0) {
        sg_step(&out, sx_reshape(out, 1, (int64_t[]){img->shape[0]}));
        return out;
    }
    int dim = 1;
    bool ok = sg_step(&out, sx_mul(out, p)) && sg_step(&out, sx_sum(out, 1, &dim, false));
    return ok ? out : NULL;
}

sx_tensor *sx_encoder_forward(sx_module *E, sx_tensor *img)
{
    sx_module *m = sg_resolve(E, "Encoder", NULL, "encoder");
    if (!m) return NULL;
    return dnet_forward(m, &((const sg_model_impl *)m->impl)->cfg, img, false, "encoder");
}
