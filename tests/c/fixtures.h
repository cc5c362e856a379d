/*
 * tests/c/fixtures.h — helpers the C tests of the models share (after
 * check.h): freeing lists of tensors, shape and finiteness checks,
 * randomising parameters, a tiny StyleGAN config, and the R1 penalty's inner
 * step. All static inline, so a test that uses some of them compiles
 * without warnings about the others.
 */
#ifndef STYLEX_TEST_FIXTURES_H
#define STYLEX_TEST_FIXTURES_H

#include "check.h"

static inline void free_all(int n, sx_tensor *const *ts)
{
    for (int i = 0; i < n; i++) sx_tensor_free(ts[i]);
}

static inline bool has_shape(const sx_tensor *t, int nd, const int64_t *s)
{
    if (!t || t->ndim != nd) return false;
    for (int i = 0; i < nd; i++)
        if (t->shape[i] != s[i]) return false;
    return true;
}

static inline bool all_finite(const sx_tensor *t)
{
    int64_t n = sx_tensor_numel(t);
    float *v = malloc((size_t)n * sizeof *v + 4);
    sx_tensor_copy_to(t, v);
    bool ok = true;
    for (int64_t i = 0; i < n; i++) ok = ok && isfinite(v[i]);
    free(v);
    return ok;
}

/* Fills every parameter whose dotted name ends with `suffix` with N(0, std^2). */
static inline void randomize(sx_module *m, const char *suffix, float std, unsigned seed)
{
    sx_named_tensors ps = {0};
    sx_module_parameters(m, &ps);
    sx_manual_seed(seed);
    size_t ls = strlen(suffix);
    for (int i = 0; i < ps.n; i++) {
        size_t ln = strlen(ps.names[i]);
        if (ln < ls || strcmp(ps.names[i] + ln - ls, suffix) != 0) continue;
        float *d = sx_tensor_data(ps.tensors[i]);
        for (int64_t j = 0; j < sx_tensor_numel(ps.tensors[i]); j++) d[j] = (float)sx_rng_normal() * std;
    }
    sx_named_tensors_clear(&ps);
}

/* A generator of config c whose noise strengths and conv biases are random
 * (not the initial 0), so that noise and every parameter matter. */
static inline sx_module *busy_generator_of(const sx_stylegan_config *c, unsigned seed)
{
    sx_manual_seed(seed);
    sx_module *G = sx_generator_new(c);
    randomize(G, "noise_strength", 0.5f, seed + 1);
    randomize(G, "conv0.bias", 0.2f, seed + 2);
    randomize(G, "conv1.bias", 0.2f, seed + 3);
    return G;
}

/* A tiny StyleGAN config: z_dim 6, w_dim 5, 2 mapping layers, channels c0 at
 * 4x4 and c1 above (the other fields the defaults). */
static inline sx_stylegan_config tiny_stylegan_config(int res, int img, int n_classes, int c0, int c1)
{
    sx_stylegan_config c = sx_stylegan_default_config(res, img, n_classes);
    c.z_dim = 6;
    c.w_dim = 5;
    c.mapping_layers = 2;
    c.channels[0] = c0;
    for (int k = 1; k < SX_STYLEGAN_MAX_LEVELS; k++) c.channels[k] = c1;
    return c;
}

/* A tiny CNN config at resolution res: one conv per block, channels c0 then
 * c1 (c1 == 0: one block), `hidden` units before the logits (the other
 * fields the defaults). */
static inline sx_cnn_config tiny_cnn_config(int n_classes, int res, int c0, int c1, int hidden)
{
    sx_cnn_config c = sx_cnn_default_config(n_classes);
    c.resolution = res;
    c.n_blocks = c1 ? 2 : 1;
    c.channels[0] = c0;
    c.channels[1] = c1;
    c.convs_per_block = 1;
    c.hidden = hidden;
    return c;
}

/* sum(grad_x(s)^2), recorded (create_graph) so that it can be differentiated
 * again: the R1 penalty's inner step, s a scalar of x. NULL on failure. */
static inline sx_tensor *grad_sq_sum(sx_tensor *s, sx_tensor *x)
{
    sx_tensor *g = NULL, *pen = NULL;
    if (s && sx_grad(1, &s, NULL, 1, &x, true, false, &g) == SX_OK) {
        sx_tensor *q = sx_square(g);
        pen = q ? sx_sum(q, 0, NULL, false) : NULL;
        sx_tensor_free(q);
    }
    sx_tensor_free(g);
    return pen;
}

#endif
