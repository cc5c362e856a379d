/*
 * lib/models/cnn.c — the built-in CNN classifier and the shift/flip
 * augmentation used to train it (lib/models/classifier.c makes it one
 * implementation of the classifier interface). See include/stylex/cnn.h.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"
#include "stylex/ops.h"
#include "stylex/cnn.h"

sx_cnn_config sx_cnn_default_config(int n_classes)
{
    sx_cnn_config c = {
        .resolution = 32,
        .img_channels = 1,
        .n_classes = n_classes,
        .n_blocks = 3,
        .channels = {32, 64, 128},
        .convs_per_block = 2,
        .hidden = 256,
        .dropout = 0.3f,
    };
    return c;
}

/* ---------------------------------------------------------------- config fields */

#define CF(field) offsetof(sx_cnn_config, field)
static const sx_config_field classifier_fields[] = {
    {.key = "n_classes", .offset = CF(n_classes), .type = SX_FIELD_INT, .lo = 2, .hi = 100000, .required = true},
    {.key = "resolution", .offset = CF(resolution), .type = SX_FIELD_INT, .lo = 1, .hi = 4096},
    {.key = "img_channels", .offset = CF(img_channels), .type = SX_FIELD_INT, .lo = 1, .hi = 3},
    {.key = "convs_per_block", .offset = CF(convs_per_block), .type = SX_FIELD_INT, .lo = 1, .hi = 8},
    {.key = "hidden", .offset = CF(hidden), .type = SX_FIELD_INT, .lo = 1, .hi = 65536},
    {.key = "dropout", .offset = CF(dropout), .type = SX_FIELD_FLOAT, .lo = 0, .hi = 1, .hi_open = true},
    {.key = "channels", .offset = CF(channels), .type = SX_FIELD_INT_LIST, .lo = 1, .hi = 8192,
     .max_len = SX_CNN_MAX_BLOCKS},
    {.key = "n_blocks", .offset = CF(n_blocks), .type = SX_FIELD_INT, .lo = 1, .hi = SX_CNN_MAX_BLOCKS,
     .implied = true},
};
#undef CF
enum { F_CHANNELS = 6, F_N_BLOCKS = 7 };

static void defaults(void *cfg) { *(sx_cnn_config *)cfg = sx_cnn_default_config(2); }

static int list_len(const void *cfg, const sx_config_field *f)
{
    int n = ((const sx_cnn_config *)cfg)->n_blocks;
    return n < 0 ? 0 : n > f->max_len ? f->max_len : n;
}

/* The number of blocks is the length of channels; n_blocks, if given, must agree. */
static sx_status settle(void *cfg, const sx_config_build *b)
{
    sx_cnn_config *c = cfg;
    int n = sx_config_given(b, F_CHANNELS) ? b->len[F_CHANNELS] : sx_cnn_default_config(2).n_blocks;
    if (sx_config_given(b, F_N_BLOCKS) && c->n_blocks != n)
        return sx_fail(SX_EINVAL, "'n_blocks' = %d disagrees with %d channels", c->n_blocks, n);
    c->n_blocks = n;
    return SX_OK;
}

/* The resolution halves n_blocks times; one or three image channels. */
static sx_status rules(const void *cfg)
{
    const sx_cnn_config *c = cfg;
    if (c->resolution % (1 << c->n_blocks))
        return sx_fail(SX_EINVAL, "classifier: resolution %d is not a multiple of 2^%d", c->resolution, c->n_blocks);
    if (c->img_channels != 1 && c->img_channels != 3)
        return sx_fail(SX_EINVAL, "classifier: img_channels must be 1 or 3, got %d", c->img_channels);
    return SX_OK;
}

const sx_config_desc sx_cnn_config_desc = {
    .name = "classifier",
    .n_fields = (int)(sizeof classifier_fields / sizeof *classifier_fields),
    .fields = classifier_fields,
    .defaults = defaults,
    .list_len = list_len,
    .settle = settle,
    .rules = rules,
};

sx_status sx_cnn_config_check(const sx_cnn_config *c)
{
    return sx_config_check(&sx_cnn_config_desc, c);
}

static sx_tensor *classifier_forward_single(sx_module *m, sx_tensor *x) { return sx_cnn_logits(m, x); }

/* Adds child `name` to parent (stealing child); false with the error set. */
static bool add(sx_module *parent, const char *name, sx_module *child)
{
    return child && sx_module_add_child(parent, name, child) == SX_OK;
}

sx_module *sx_cnn_new(const sx_cnn_config *cfg)
{
    if (sx_cnn_config_check(cfg) != SX_OK) return NULL;
    sx_module *m = sx_module_new("Classifier");
    sx_cnn_config *impl = m ? malloc(sizeof *impl) : NULL;
    if (!impl) {
        sx_module_free(m);
        sx_fail(SX_ENOMEM, "classifier: out of memory");
        return NULL;
    }
    *impl = *cfg;
    m->impl = impl;
    m->forward = classifier_forward_single;
    int64_t in = cfg->img_channels;
    bool ok = true;
    for (int b = 0; b < cfg->n_blocks && ok; b++) {
        sx_module *block = sx_module_new("ClassifierBlock");
        for (int k = 0; k < cfg->convs_per_block && block && ok; k++) {
            sx_conv2d_layer_opts o = {.in = in, .out = cfg->channels[b], .kernel = 3, .padding = 1};
            char name[16];
            snprintf(name, sizeof name, "conv%d", k);
            ok = add(block, name, sx_conv2d_layer_new(&o));
            in = cfg->channels[b];
        }
        char name[16];
        snprintf(name, sizeof name, "block%d", b);
        if (ok) ok = add(m, name, block); /* add takes the block, also when it fails */
        else sx_module_free(block);
    }
    int64_t side = cfg->resolution >> cfg->n_blocks;
    sx_linear_opts fc = {.in = in * side * side, .out = cfg->hidden};
    sx_linear_opts out = {.in = cfg->hidden, .out = cfg->n_classes};
    ok = ok && add(m, "fc", sx_linear_layer_new(&fc)) && add(m, "out", sx_linear_layer_new(&out));
    if (!ok) {
        sx_module_free(m);
        return NULL;
    }
    return m;
}

const sx_cnn_config *sx_cnn_config_of(const sx_module *m)
{
    if (!m || !m->type || strcmp(m->type, "Classifier") != 0 || !m->impl) {
        sx_fail(SX_EINVAL, "classifier: module is not a Classifier (got %s)", m && m->type ? m->type : "NULL");
        return NULL;
    }
    return m->impl;
}

void sx_cnn_output_clear(sx_cnn_output *out)
{
    sx_tensor_free(out->logits);
    sx_tensor_free(out->penultimate);
    for (int b = 0; b < SX_CNN_MAX_BLOCKS; b++) sx_tensor_free(out->features[b]);
    memset(out, 0, sizeof *out);
}

/* Replaces *t by f(*t) (freeing the old value); false with the error set. */
static bool step(sx_tensor **t, sx_tensor *next)
{
    sx_tensor_free(*t);
    *t = next;
    return next != NULL;
}

sx_status sx_cnn_forward(sx_module *m, sx_tensor *x, bool train, bool want_features,
                                sx_cnn_output *out)
{
    memset(out, 0, sizeof *out);
    const sx_cnn_config *c = sx_cnn_config_of(m);
    if (!c) return SX_EINVAL;
    if (!sx_check_arg("classifier", 1, x)) return SX_EINVAL;
    if (x->ndim != 4 || x->shape[1] != c->img_channels || x->shape[2] != c->resolution ||
        x->shape[3] != c->resolution || x->shape[0] < 1) {
        char s[96];
        return sx_fail(SX_EINVAL, "classifier: input %s, expected [N, %d, %d, %d]", sx_shape_str(x, s, sizeof s),
                       c->img_channels, c->resolution, c->resolution);
    }
    sx_tensor *h = sx_tensor_retain(x);
    bool ok = true;
    for (int b = 0; b < c->n_blocks && ok; b++) {
        char name[16];
        snprintf(name, sizeof name, "block%d", b);
        sx_module *block = sx_module_child(m, name);
        for (int k = 0; k < c->convs_per_block && ok; k++) {
            snprintf(name, sizeof name, "conv%d", k);
            ok = step(&h, sx_conv2d_layer_forward(sx_module_child(block, name), h)) && step(&h, sx_relu(h));
        }
        if (ok && want_features) out->features[b] = sx_tensor_retain(h);
        ok = ok && step(&h, sx_max_pool2d(h, 2));
    }
    if (want_features) out->n_features = c->n_blocks;
    int64_t n = x->shape[0];
    ok = ok && step(&h, sx_reshape(h, 2, (int64_t[]){n, -1}));
    if (ok && train && c->dropout > 0) ok = step(&h, sx_dropout(h, c->dropout));
    ok = ok && step(&h, sx_linear_layer_forward(sx_module_child(m, "fc"), h)) && step(&h, sx_relu(h));
    if (ok) out->penultimate = sx_tensor_retain(h);
    if (ok && train && c->dropout > 0) ok = step(&h, sx_dropout(h, c->dropout));
    ok = ok && step(&h, sx_linear_layer_forward(sx_module_child(m, "out"), h));
    if (!ok) {
        sx_tensor_free(h);
        sx_cnn_output_clear(out);
        return sx_last_status();
    }
    out->logits = h;
    return SX_OK;
}

sx_tensor *sx_cnn_logits(sx_module *m, sx_tensor *x)
{
    sx_cnn_output o;
    if (sx_cnn_forward(m, x, false, false, &o) != SX_OK) return NULL;
    sx_tensor *logits = sx_tensor_retain(o.logits);
    sx_cnn_output_clear(&o);
    return logits;
}

sx_tensor *sx_augment_shift_flip(sx_tensor *x, int max_shift, float flip_prob, float fill)
{
    if (!sx_check_arg("augment", 1, x)) return NULL;
    if (x->ndim != 4 || max_shift < 0 || max_shift > 4096 || !(flip_prob >= 0 && flip_prob <= 1)) {
        char s[96];
        sx_fail(SX_EINVAL, "augment: expects [N, C, H, W], max_shift >= 0, flip_prob in [0, 1]; got %s, %d, %g",
                sx_shape_str(x, s, sizeof s), max_shift, flip_prob);
        return NULL;
    }
    sx_tensor *xc = sx_tensor_copy(x);
    sx_tensor *o = xc ? sx_tensor_empty(4, x->shape) : NULL;
    if (!o) {
        sx_tensor_free(xc);
        return NULL;
    }
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    const float *src = sx_tensor_data(xc);
    float *dst = sx_tensor_data(o);
    for (int64_t n = 0; n < N; n++) {
        int dy = max_shift ? (int)(sx_rng_uniform() * (2 * max_shift + 1)) - max_shift : 0;
        int dx = max_shift ? (int)(sx_rng_uniform() * (2 * max_shift + 1)) - max_shift : 0;
        bool flip = flip_prob > 0 && sx_rng_uniform() < flip_prob;
        for (int64_t c = 0; c < C; c++) {
            const float *p = src + (n * C + c) * H * W;
            float *q = dst + (n * C + c) * H * W;
            for (int64_t y = 0; y < H; y++)
                for (int64_t xx = 0; xx < W; xx++) {
                    int64_t sy = y - dy, sxx = (flip ? W - 1 - xx : xx) - dx;
                    q[y * W + xx] = (sy >= 0 && sy < H && sxx >= 0 && sxx < W) ? p[sy * W + sxx] : fill;
                }
        }
    }
    sx_tensor_free(xc);
    return o;
}
