/*
 * lib/models/stylegan_common.c — the helpers the StyleGAN model files share
 * (declared in stylegan_internal.h): level and layer geometry, making and
 * resolving the top-level modules, chains of ops and the [1,3,3,1] FIR
 * filter. stylegan.c, synthesis.c and discriminator.c all build on this file
 * and none of them on another.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stylegan_internal.h"

int sg_n_levels(const sx_stylegan_config *cfg)
{
    int n = 0;
    while ((4 << n) <= cfg->resolution && n < SX_STYLEGAN_MAX_LEVELS) n++;
    return n;
}

int sg_n_layers(const sx_stylegan_config *cfg) { return 2 * sg_n_levels(cfg) - 1; }

void sg_layer_geom(const sx_stylegan_config *cfg, int l, int *cin, int *cout, int *res, int *level)
{
    /* layer 0 = b4.conv1; then level k has conv0 = layer 2k-1 (up) and conv1 = layer 2k */
    int k = (l + 1) / 2;
    bool up = l % 2 == 1;
    if (cin) *cin = up ? cfg->channels[k - 1] : cfg->channels[k];
    if (cout) *cout = cfg->channels[k];
    if (res) *res = 4 << k;
    if (level) *level = k;
}

void sg_layer_name(const sx_stylegan_config *cfg, int l, char *buf, size_t n)
{
    int res;
    sg_layer_geom(cfg, l, NULL, NULL, &res, NULL);
    snprintf(buf, n, "b%d.conv%d", res, l % 2 == 1 ? 0 : 1);
}

sx_module *sg_model_new(const char *type, const sx_stylegan_config *cfg)
{
    if (sx_stylegan_config_check(cfg) != SX_OK) return NULL;
    sg_model_impl *impl = malloc(sizeof *impl);
    sx_module *m = impl ? sx_module_new(type) : NULL;
    if (!m) {
        free(impl);
        sx_fail(SX_ENOMEM, "%s: out of memory", type);
        return NULL;
    }
    impl->cfg = *cfg;
    m->impl = impl;
    return m;
}

sx_module *sg_resolve(const sx_module *m, const char *type, const char *child, const char *fn)
{
    if (m && m->type && m->impl && strcmp(m->type, type) == 0) return (sx_module *)m;
    if (m && m->type && m->impl && child && strcmp(m->type, "Generator") == 0) {
        sx_module *c = sx_module_child(m, child);
        if (c && c->type && strcmp(c->type, type) == 0 && c->impl) return c;
    }
    sx_fail(SX_EINVAL, "%s: module is a %s, expected a %s%s", fn, m && m->type ? m->type : "NULL", type,
            child ? " or a Generator" : "");
    return NULL;
}

bool sg_add(sx_module *parent, const char *name, sx_module *child)
{
    return child && sx_module_add_child(parent, name, child) == SX_OK;
}

bool sg_step(sx_tensor **t, sx_tensor *next)
{
    sx_tensor_free(*t);
    *t = next;
    return next != NULL;
}

sx_tensor *sg_param_scaled(const sx_module *m, const char *name, float extra)
{
    sx_param *p = sx_module_param(m, name);
    if (!p) {
        sx_fail(SX_ESTATE, "stylegan: %s has no parameter '%s'", m ? m->type : "NULL", name);
        return NULL;
    }
    float g = p->gain * extra;
    return g == 1.0f ? sx_tensor_retain(p->tensor) : sx_mul_scalar(p->tensor, g);
}

void sg_free_all(int n, sx_tensor **ts)
{
    for (int i = 0; i < n; i++) sx_tensor_free(ts[i]);
}

sx_tensor *sg_fir(float gain)
{
    static const float k[4] = {1, 3, 3, 1};
    float f[16];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) f[i * 4 + j] = k[i] * k[j] * gain / 64.0f;
    return sx_tensor_from_data(2, (int64_t[]){4, 4}, f);
}

sx_tensor *sg_fir_apply(sx_tensor *x, float gain, int up, int down, int p0, int p1)
{
    /* one upfirdn2d call: the filter is separable, and with up = 1 the op
     * runs it as a column pass and a row pass over each output row
     * (8 taps per pixel instead of 16, no intermediate image) */
    sx_tensor *f = sg_fir(gain);
    sx_tensor *y = f ? sx_upfirdn2d(x, f, up, down, (int[]){p0, p1, p0, p1}) : NULL;
    sx_tensor_free(f);
    return y;
}
