/*
 * lib/models/stylegan.c — the StyleGAN2 config, the mapping network, the
 * Generator module (mapping + synthesis) and the up/downsampling ops. The
 * helpers every model file shares are in stylegan_common.c, the synthesis
 * network and StyleSpace in synthesis.c, the discriminator and encoder in
 * discriminator.c.
 * Architecture and conventions: include/stylex/stylegan.h.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stylegan_internal.h"

/* ---------------------------------------------------------------- config */

int sx_stylegan_default_channels(int res)
{
    int c = res > 0 ? 1024 / res : 128;
    return c > 128 ? 128 : c < 16 ? 16 : c;
}

sx_stylegan_config sx_stylegan_default_config(int resolution, int img_channels, int n_classes)
{
    sx_stylegan_config c = {
        .resolution = resolution,
        .img_channels = img_channels,
        .z_dim = 128,
        .w_dim = 128,
        .n_classes = n_classes,
        .mapping_layers = 8,
        .mapping_lr_mul = 0.01f,
        .mbstd_group = 4,
        .mbstd_channels = 1,
    };
    for (int k = 0; k < SX_STYLEGAN_MAX_LEVELS; k++) c.channels[k] = sx_stylegan_default_channels(4 << k);
    return c;
}

/* ---------------------------------------------------------------- config fields */

#define CF(field) offsetof(sx_stylegan_config, field)
static const sx_config_field stylegan_fields[] = {
    {.key = "resolution", .offset = CF(resolution), .type = SX_FIELD_INT, .lo = 8,
     .hi = 4 << (SX_STYLEGAN_MAX_LEVELS - 1)},
    {.key = "img_channels", .offset = CF(img_channels), .type = SX_FIELD_INT, .lo = 1, .hi = 3},
    {.key = "n_classes", .offset = CF(n_classes), .type = SX_FIELD_INT, .lo = 0, .hi = 65536},
    {.key = "z_dim", .offset = CF(z_dim), .type = SX_FIELD_INT, .lo = 1, .hi = 65536},
    {.key = "w_dim", .offset = CF(w_dim), .type = SX_FIELD_INT, .lo = 1, .hi = 65536},
    {.key = "mapping_layers", .offset = CF(mapping_layers), .type = SX_FIELD_INT, .lo = 1,
     .hi = SX_STYLEGAN_MAX_MAPPING},
    {.key = "mapping_lr_mul", .offset = CF(mapping_lr_mul), .type = SX_FIELD_FLOAT, .lo = 0, .hi = 1e30,
     .lo_open = true},
    {.key = "mbstd_group", .offset = CF(mbstd_group), .type = SX_FIELD_INT, .lo = 0, .hi = 1024},
    {.key = "mbstd_channels", .offset = CF(mbstd_channels), .type = SX_FIELD_INT, .lo = 1, .hi = 8192},
    {.key = "channels", .offset = CF(channels), .type = SX_FIELD_INT_LIST, .lo = 1, .hi = 8192,
     .max_len = SX_STYLEGAN_MAX_LEVELS},
};
#undef CF
enum { F_CHANNELS = 9 };

static void defaults(void *cfg) { *(sx_stylegan_config *)cfg = sx_stylegan_default_config(32, 1, 0); }

/* One channel width per resolution 4, 8, .., resolution. */
static int list_len(const void *cfg, const sx_config_field *f)
{
    int n = 0, res = ((const sx_stylegan_config *)cfg)->resolution;
    while (n < f->max_len && (4 << n) <= res) n++;
    return n;
}

/* A given channels list has one width per resolution. */
static sx_status settle(void *cfg, const sx_config_build *b)
{
    const sx_stylegan_config *c = cfg;
    int want = list_len(c, &stylegan_fields[F_CHANNELS]);
    if (sx_config_given(b, F_CHANNELS) && b->len[F_CHANNELS] != want)
        return sx_fail(SX_EINVAL,
                       "'channels' has %d widths, expected %d: channels must be a list of %d widths, for resolutions "
                       "4 .. %d",
                       b->len[F_CHANNELS], want, want, c->resolution);
    return SX_OK;
}

/* A power-of-two resolution, one or three image channels, and a minibatch-
 * stddev width that divides the first level's channels. */
static sx_status rules(const void *cfg)
{
    const char *fn = "stylegan config";
    const sx_stylegan_config *c = cfg;
    int r = c->resolution;
    if (r & (r - 1))
        return sx_fail(SX_EINVAL, "%s: resolution %d must be a power of two in 8 .. %d", fn, r,
                       4 << (SX_STYLEGAN_MAX_LEVELS - 1));
    if (c->img_channels != 1 && c->img_channels != 3)
        return sx_fail(SX_EINVAL, "%s: img_channels must be 1 or 3, got %d", fn, c->img_channels);
    if (c->mbstd_group > 0 && c->channels[0] % c->mbstd_channels)
        return sx_fail(SX_EINVAL, "%s: mbstd_channels %d must divide channels[1] = %d", fn, c->mbstd_channels,
                       c->channels[0]);
    return SX_OK;
}

const sx_config_desc sx_stylegan_config_desc = {
    .name = "stylegan config",
    .n_fields = (int)(sizeof stylegan_fields / sizeof *stylegan_fields),
    .fields = stylegan_fields,
    .defaults = defaults,
    .list_len = list_len,
    .settle = settle,
    .rules = rules,
};

sx_status sx_stylegan_config_check(const sx_stylegan_config *c) { return sx_config_check(&sx_stylegan_config_desc, c); }

static const char *const model_types[] = {"Generator", "MappingNetwork", "SynthesisNetwork", "Discriminator",
                                          "Encoder"};

const sx_stylegan_config *sx_stylegan_config_of(const sx_module *m)
{
    for (size_t i = 0; m && m->type && m->impl && i < sizeof model_types / sizeof *model_types; i++)
        if (strcmp(m->type, model_types[i]) == 0) return &((const sg_model_impl *)m->impl)->cfg;
    sx_fail(SX_EINVAL, "stylegan: module is a %s, not a StyleGAN network (Generator, MappingNetwork, "
                       "SynthesisNetwork, Discriminator, Encoder)",
            m && m->type ? m->type : "NULL");
    return NULL;
}

/* ---------------------------------------------------------------- resampling */

sx_tensor *sx_upsample2d(sx_tensor *x)
{
    /* zero-insert, pad (fw + up - 1) / 2 = 2 and (fw - up) / 2 = 1, gain up^2 */
    return sg_fir_apply(x, 4.0f, 2, 1, 2, 1);
}

sx_tensor *sx_downsample2d(sx_tensor *x)
{
    /* pad (fw - down + 1) / 2 = 1 and (fw - down) / 2 = 1, keep every other pixel */
    return sg_fir_apply(x, 1.0f, 1, 2, 1, 1);
}

/* ---------------------------------------------------------------- mapping */

static sx_tensor *mapping_forward_single(sx_module *m, sx_tensor *z) { return sx_mapping_forward(m, z); }

sx_module *sx_mapping_new(const sx_stylegan_config *cfg)
{
    sx_module *m = sg_model_new("MappingNetwork", cfg);
    if (!m) return NULL;
    m->forward = mapping_forward_single;
    for (int i = 0; i < cfg->mapping_layers; i++) {
        sx_linear_opts o = {.in = i == 0 ? cfg->z_dim : cfg->w_dim, .out = cfg->w_dim, .equalized = true,
                            .lr_mul = cfg->mapping_lr_mul};
        char name[16];
        snprintf(name, sizeof name, "fc%d", i);
        if (!sg_add(m, name, sx_linear_layer_new(&o))) {
            sx_module_free(m);
            return NULL;
        }
    }
    return m;
}

/* lrelu(x W^T + b) * sqrt 2, with the sqrt 2 folded into W and b
 * (lrelu is positively homogeneous), so the activation is one pass. */
static sx_tensor *fc_lrelu(const sx_module *fc, sx_tensor *x)
{
    sx_tensor *w = sg_param_scaled(fc, "weight", SG_SQRT2);
    sx_tensor *b = w ? sg_param_scaled(fc, "bias", SG_SQRT2) : NULL;
    sx_tensor *y = b ? sx_linear(x, w, b) : NULL;
    sx_tensor *a = y ? sx_leaky_relu(y, SG_LRELU_SLOPE) : NULL;
    sx_tensor *tmp[] = {w, b, y};
    sg_free_all(3, tmp);
    return a;
}

sx_tensor *sx_mapping_forward(sx_module *G, sx_tensor *z)
{
    const char *fn = "mapping";
    sx_module *m = sg_resolve(G, "MappingNetwork", "mapping", fn);
    if (!m || !sx_check_arg(fn, 2, z)) return NULL;
    const sx_stylegan_config *c = sx_stylegan_config_of(m);
    if (z->ndim != 2 || z->shape[1] != c->z_dim || z->shape[0] < 1) {
        char s[96];
        sx_fail(SX_EINVAL, "%s: z %s, expected [N, %d]", fn, sx_shape_str(z, s, sizeof s), c->z_dim);
        return NULL;
    }
    /* normalize_2nd_moment: z * rsqrt(mean(z^2) + 1e-8) */
    sx_tensor *x = sx_normalize_dim1(z, true, 1e-8f);
    for (int i = 0; i < c->mapping_layers && x; i++) {
        char name[16];
        snprintf(name, sizeof name, "fc%d", i);
        sg_step(&x, fc_lrelu(sx_module_child(m, name), x));
    }
    return x;
}

/* ---------------------------------------------------------------- generator */

static sx_tensor *generator_forward_single(sx_module *m, sx_tensor *z)
{
    return sx_generator_forward(m, z, NULL, NULL);
}

sx_module *sx_generator_new(const sx_stylegan_config *cfg)
{
    sx_module *g = sg_model_new("Generator", cfg);
    if (!g) return NULL;
    g->forward = generator_forward_single;
    if (!sg_add(g, "mapping", sx_mapping_new(cfg)) || !sg_add(g, "synthesis", sx_synthesis_new(cfg))) {
        sx_module_free(g);
        return NULL;
    }
    return g;
}

sx_tensor *sx_stylegan_latent(const sx_module *G, sx_tensor *w, sx_tensor *p)
{
    const char *fn = "stylegan_latent";
    if (!sg_resolve(G, "Generator", NULL, fn)) return NULL;
    const sx_stylegan_config *c = sx_stylegan_config_of(G);
    if (!c || !sx_check_arg(fn, 2, w)) return NULL;
    char s1[96], s2[96];
    if (w->ndim != 2 || w->shape[1] != c->w_dim || w->shape[0] < 1) {
        sx_fail(SX_EINVAL, "%s: w %s, expected [N, %d]", fn, sx_shape_str(w, s1, sizeof s1), c->w_dim);
        return NULL;
    }
    if (c->n_classes == 0) {
        if (p) {
            sx_fail(SX_EINVAL, "%s: the network is unconditional (n_classes 0) but class probabilities %s were given",
                    fn, sx_shape_str(p, s2, sizeof s2));
            return NULL;
        }
        return sx_tensor_retain(w);
    }
    if (!p || p->ndim != 2 || p->shape[0] != w->shape[0] || p->shape[1] != c->n_classes) {
        if (p) sx_shape_str(p, s2, sizeof s2);
        sx_fail(SX_EINVAL, "%s: class probabilities %s, expected [%lld, %d] (w is %s)", fn, p ? s2 : "missing",
                (long long)w->shape[0], c->n_classes, sx_shape_str(w, s1, sizeof s1));
        return NULL;
    }
    sx_tensor *parts[2] = {w, p};
    return sx_cat(2, parts, 1);
}

sx_tensor *sx_generator_forward(sx_module *G, sx_tensor *z, sx_tensor *p, sx_tensor *const *noise)
{
    if (!sg_resolve(G, "Generator", NULL, "generator")) return NULL;
    sx_tensor *w = sx_mapping_forward(G, z);
    sx_tensor *lat = w ? sx_stylegan_latent(G, w, p) : NULL;
    sx_tensor *img = lat ? sx_synthesis_forward(G, lat, noise) : NULL;
    sx_tensor_free(w);
    sx_tensor_free(lat);
    return img;
}
