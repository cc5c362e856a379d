/*
 * tests/c/test_stylegan.c — the StyleGAN2 networks (include/stylex/stylegan.h):
 * configs and parameter counts, output shapes at 32x32x1 and 64x64x3 with 0,
 * 2 and 10 classes, the 672-coordinate StyleSpace of the default network, the
 * batched modulated conv against per-sample modulated weights (up and not),
 * regeneration from styles and from cached activations (also the AttFind
 * pattern: one image, a batch of copies shifted at one layer), gradient
 * checks of the modulated conv and the synthesis, and the R1 penalty's
 * gradient (double backward through D) against finite differences.
 * Also prints parameter counts and the forward time of G at batch 32.
 */
#include <time.h>

#include "fixtures.h"

/* ---------------------------------------------------------------- helpers */

/* A tiny config (fixtures.h) with minibatch-stddev groups of 2. */
static sx_stylegan_config tiny_cfg(int res, int img, int n_classes, int c0, int c1)
{
    sx_stylegan_config c = tiny_stylegan_config(res, img, n_classes, c0, c1);
    c.mbstd_group = 2;
    return c;
}

/* Softmax probabilities [n, k] from random logits. */
static sx_tensor *probs(int64_t n, int k, unsigned seed)
{
    sx_tensor *l = T(2, SHAPE(n, k), seed);
    sx_tensor *p = sx_softmax(l, 1);
    sx_tensor_free(l);
    return p;
}

/* ---------------------------------------------------------------- config, layout, counts */

static void test_config(void)
{
    int want[] = {128, 128, 64, 32, 16, 16};
    for (int k = 0; k < 6; k++) CHECK(sx_stylegan_default_channels(4 << k) == want[k]);
    sx_stylegan_config c = sx_stylegan_default_config(32, 1, 2);
    CHECK(c.z_dim == 128 && c.w_dim == 128 && c.mapping_layers == 8 && c.mapping_lr_mul == 0.01f);
    CHECK(c.mbstd_group == 4 && c.mbstd_channels == 1);
    CHECK_OK(sx_stylegan_config_check(&c));
    sx_stylegan_config bad = c;
    bad.resolution = 48;
    CHECK(sx_stylegan_config_check(&bad) == SX_EINVAL && strstr(sx_last_error(), "resolution 48"));
    bad = c;
    bad.resolution = 4;
    CHECK(sx_stylegan_config_check(&bad) == SX_EINVAL);
    bad = c;
    bad.img_channels = 2;
    CHECK(sx_stylegan_config_check(&bad) == SX_EINVAL && strstr(sx_last_error(), "img_channels"));
    bad = c;
    bad.channels[2] = 0; /* messages count list entries from 1, as JSON configs and Lua options do */
    CHECK(sx_stylegan_config_check(&bad) == SX_EINVAL && strstr(sx_last_error(), "'channels[3]' = 0"));
    bad = c;
    bad.mbstd_channels = 3;
    CHECK(sx_stylegan_config_check(&bad) == SX_EINVAL && strstr(sx_last_error(), "mbstd_channels"));
    bad = c;
    bad.n_classes = -1;
    CHECK(sx_generator_new(&bad) == NULL && strstr(sx_last_error(), "n_classes"));
    CHECK(sx_stylegan_config_of(NULL) == NULL);
}

static void test_layout(void)
{
    sx_stylegan_config c = sx_stylegan_default_config(32, 1, 2);
    sx_module *G = sx_generator_new(&c);
    CHECK_NOTNULL(G);
    if (!G) return;
    sx_style_layout lay;
    CHECK_OK(sx_style_layout_of(G, &lay));
    CHECK(lay.n_layers == 7 && lay.n_levels == 4);
    CHECK_MSG(lay.n_coords == 672, "%d style coordinates", lay.n_coords);
    int ch[7] = {128, 128, 128, 128, 64, 64, 32}, res[7] = {4, 8, 8, 16, 16, 32, 32};
    const char *names[7] = {"b4.conv1", "b8.conv0", "b8.conv1", "b16.conv0", "b16.conv1", "b32.conv0", "b32.conv1"};
    for (int l = 0; l < 7; l++) {
        CHECK(lay.channels[l] == ch[l] && lay.resolution[l] == res[l]);
        CHECK_MSG(strcmp(lay.name[l], names[l]) == 0, "%s vs %s", lay.name[l], names[l]);
    }
    int l, ci;
    CHECK(sx_style_layout_locate(&lay, 0, &l, &ci) == SX_OK && l == 0 && ci == 0);
    CHECK(sx_style_layout_locate(&lay, 128, &l, &ci) == SX_OK && l == 1 && ci == 0);
    CHECK(sx_style_layout_locate(&lay, 600, &l, &ci) == SX_OK && l == 5 && ci == 600 - 576);
    CHECK(sx_style_layout_locate(&lay, 671, &l, &ci) == SX_OK && l == 6 && ci == 31);
    CHECK(sx_style_layout_locate(&lay, 672, &l, &ci) == SX_EINVAL);
    /* the synthesis child and the Generator give the same layout */
    sx_style_layout lay2;
    CHECK_OK(sx_style_layout_of(sx_module_child(G, "synthesis"), &lay2));
    CHECK(memcmp(&lay, &lay2, sizeof lay) == 0);
    CHECK(sx_style_layout_of(sx_module_child(G, "mapping"), &lay2) == SX_EINVAL);
    sx_module_free(G);

    sx_stylegan_config c64 = sx_stylegan_default_config(64, 3, 10);
    sx_module *G64 = sx_generator_new(&c64);
    CHECK(G64 && sx_style_layout_of(G64, &lay) == SX_OK && lay.n_layers == 9 && lay.n_coords == 720);
    sx_module_free(G64);
}

/* Synthesis parameters by formula, for the count check. */
static int64_t synthesis_numel(const sx_stylegan_config *c)
{
    int64_t lat = c->w_dim + c->n_classes, n = (int64_t)c->channels[0] * 16;
    sx_style_layout lay;
    sx_module *G = sx_synthesis_new(c);
    sx_style_layout_of(G, &lay);
    sx_module_free(G);
    for (int l = 0; l < lay.n_layers; l++) {
        int64_t ci = lay.channels[l], co = lay.out_channels[l];
        n += co * ci * 9 + 1 + co + lat * ci + ci;
    }
    for (int k = 0; k < lay.n_levels; k++) {
        int64_t ci = lay.rgb_channels[k];
        n += c->img_channels * ci + c->img_channels + lat * ci + ci;
    }
    return n;
}

static void test_param_counts(void)
{
    struct { int res, img, nc; } cases[] = {{32, 1, 0}, {32, 1, 2}, {32, 1, 10}, {64, 3, 10}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        sx_stylegan_config c = sx_stylegan_default_config(cases[i].res, cases[i].img, cases[i].nc);
        sx_module *G = sx_generator_new(&c), *D = sx_discriminator_new(&c), *E = sx_encoder_new(&c);
        CHECK(G && D && E);
        if (!G || !D || !E) break;
        int64_t nm = sx_module_param_numel(sx_module_child(G, "mapping"));
        int64_t ns = sx_module_param_numel(sx_module_child(G, "synthesis"));
        CHECK_MSG(nm == 8 * (128 * 128 + 128), "mapping has %lld parameters", (long long)nm);
        CHECK_MSG(ns == synthesis_numel(&c), "synthesis %lld vs formula %lld", (long long)ns,
                  (long long)synthesis_numel(&c));
        CHECK(sx_module_param_numel(G) == nm + ns);
        /* D and E differ only in mbstd's extra input channel (9 C4 weights) and the last FC */
        int64_t c0 = c.channels[0], nd = sx_module_param_numel(D), ne = sx_module_param_numel(E);
        int64_t od = c.n_classes ? c.n_classes : 1;
        CHECK(nd - ne == 9 * c0 + (c0 + 1) * (od - c.w_dim));
        printf("    params %dx%dx%d n_classes %2d: G %lld (mapping %lld, synthesis %lld), D %lld, E %lld\n",
               c.resolution, c.resolution, c.img_channels, c.n_classes, (long long)(nm + ns), (long long)nm,
               (long long)ns, (long long)nd, (long long)ne);
        sx_module_free(G);
        sx_module_free(D);
        sx_module_free(E);
    }
    /* names follow stylegan2-ada */
    sx_stylegan_config c = sx_stylegan_default_config(32, 1, 2);
    sx_module *G = sx_generator_new(&c), *D = sx_discriminator_new(&c);
    const char *gnames[] = {"mapping.fc0.weight", "mapping.fc7.bias", "synthesis.b4.const",
                            "synthesis.b4.conv1.noise_strength", "synthesis.b8.conv0.affine.weight",
                            "synthesis.b32.torgb.bias"};
    for (int i = 0; i < 6; i++) CHECK_MSG(sx_module_find_param(G, gnames[i]), "%s", gnames[i]);
    const char *dnames[] = {"b32.fromrgb.weight", "b32.conv0.bias", "b16.conv1.weight", "b8.skip.weight",
                            "b4.conv.weight", "b4.fc.weight", "b4.out.bias"};
    for (int i = 0; i < 7; i++) CHECK_MSG(sx_module_find_param(D, dnames[i]), "%s", dnames[i]);
    CHECK(sx_module_find_param(D, "b8.skip.bias") == NULL);
    /* the affine biases start at 1, the mapping's weights carry lr_mul 0.01 */
    sx_param *ab = sx_module_find_param(G, "synthesis.b8.conv0.affine.bias");
    CHECK(ab && sx_tensor_data(ab->tensor)[0] == 1.0f);
    sx_param *mw = sx_module_find_param(G, "mapping.fc3.weight");
    CHECK(mw && fabsf(mw->gain - 0.01f / sqrtf(128.0f)) < 1e-9f && mw->lr_mul == 0.01f);
    sx_module_free(G);
    sx_module_free(D);
}

/* ---------------------------------------------------------------- shapes */

static void test_shapes(void)
{
    struct { int res, img, nc; } cases[] = {{32, 1, 0}, {32, 1, 2}, {32, 1, 10}, {64, 3, 0}, {64, 3, 2}, {64, 3, 10}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int R = cases[i].res, C = cases[i].img, nc = cases[i].nc;
        sx_stylegan_config c = sx_stylegan_default_config(R, C, nc);
        sx_manual_seed(10 + i);
        sx_module *G = sx_generator_new(&c), *D = sx_discriminator_new(&c), *E = sx_encoder_new(&c);
        int64_t N = 3;
        sx_tensor *z = T(2, SHAPE(N, 128), 20 + i);
        sx_tensor *p = nc ? probs(N, nc, 30 + i) : NULL;
        sx_tensor *img = sx_generator_forward(G, z, p, NULL);
        CHECK_MSG(has_shape(img, 4, SHAPE(N, C, R, R)), "G %dx%dx%d nc %d: %s", R, R, C, nc, sx_last_error());
        CHECK(img && all_finite(img));
        sx_tensor *d = img ? sx_discriminator_forward(D, img, p) : NULL;
        CHECK_MSG(has_shape(d, 1, SHAPE(N)), "D %dx%dx%d nc %d: %s", R, R, C, nc, sx_last_error());
        CHECK(d && all_finite(d));
        sx_tensor *w = img ? sx_encoder_forward(E, img) : NULL;
        CHECK_MSG(has_shape(w, 2, SHAPE(N, 128)), "E %dx%dx%d nc %d: %s", R, R, C, nc, sx_last_error());
        /* the encoder path: synthesis of cat(E(x), p) */
        sx_tensor *lat = w ? sx_stylegan_latent(G, w, p) : NULL;
        CHECK(has_shape(lat, 2, SHAPE(N, 128 + nc)));
        sx_tensor *rec = lat ? sx_synthesis_forward(G, lat, NULL) : NULL;
        CHECK(has_shape(rec, 4, SHAPE(N, C, R, R)));
        /* single-input forwards where they make sense */
        sx_tensor *wm = sx_module_forward(sx_module_child(G, "mapping"), z);
        CHECK(has_shape(wm, 2, SHAPE(N, 128)));
        sx_tensor *we = img ? sx_module_forward(E, img) : NULL;
        CHECK(we && max_abs_diff(we, w) == 0);
        sx_tensor *dd = img ? sx_module_forward(D, img) : NULL;
        CHECK(nc ? dd == NULL : (dd && max_abs_diff(dd, d) == 0));
        sx_tensor *tmp[] = {z, p, img, d, w, lat, rec, wm, we, dd};
        free_all(10, tmp);
        sx_module_free(G);
        sx_module_free(D);
        sx_module_free(E);
    }
    /* batch sizes that are not multiples of the mbstd group (largest divisor used), and 1 */
    sx_stylegan_config c = tiny_cfg(8, 1, 0, 4, 4);
    c.mbstd_group = 4;
    sx_module *D = sx_discriminator_new(&c);
    for (int n = 1; n <= 7; n++) {
        sx_tensor *x = T(4, SHAPE(n, 1, 8, 8), 40 + n);
        sx_tensor *d = sx_discriminator_forward(D, x, NULL);
        CHECK_MSG(has_shape(d, 1, SHAPE(n)) && all_finite(d), "batch %d: %s", n, sx_last_error());
        free_all(2, (sx_tensor *[]){x, d});
    }
    sx_module_free(D);
}

static void test_bad_arguments(void)
{
    sx_stylegan_config c = tiny_cfg(8, 1, 2, 4, 4);
    sx_module *G = sx_generator_new(&c), *D = sx_discriminator_new(&c), *E = sx_encoder_new(&c);
    sx_tensor *x = T(4, SHAPE(2, 1, 8, 8), 1), *p = probs(2, 2, 2), *p3 = probs(2, 3, 3), *z = T(2, SHAPE(2, 6), 4);
    sx_tensor *x3 = T(4, SHAPE(2, 3, 8, 8), 5), *lat = T(2, SHAPE(2, 7), 6), *latbad = T(2, SHAPE(2, 5), 7);
#define EXPECT_FAIL(expr, text)                                                                       \
    do {                                                                                          \
        sx_tensor *r_ = (expr);                                                                   \
        CHECK_MSG(r_ == NULL && strstr(sx_last_error(), text), "%s -> '%s'", #expr, sx_last_error()); \
        sx_tensor_free(r_);                                                                       \
    } while (0)
    EXPECT_FAIL(sx_discriminator_forward(D, x, NULL), "class probabilities missing, expected [N, 2]");
    EXPECT_FAIL(sx_discriminator_forward(D, x, p3), "class probabilities [2, 3]");
    EXPECT_FAIL(sx_discriminator_forward(D, x3, p), "image [2, 3, 8, 8], expected [N, 1, 8, 8]");
    EXPECT_FAIL(sx_discriminator_forward(E, x, p), "module is a Encoder, expected a Discriminator");
    EXPECT_FAIL(sx_encoder_forward(E, x3), "encoder: image [2, 3, 8, 8]");
    EXPECT_FAIL(sx_generator_forward(G, z, NULL, NULL), "class probabilities missing");
    EXPECT_FAIL(sx_generator_forward(G, lat, p, NULL), "mapping: z [2, 7], expected [N, 6]");
    EXPECT_FAIL(sx_synthesis_forward(G, latbad, NULL), "latent [2, 5], expected [N, 7]");
    EXPECT_FAIL(sx_mapping_forward(D, z), "module is a Discriminator, expected a MappingNetwork or a Generator");

    sx_styles st;
    CHECK_OK(sx_synthesis_styles(G, lat, &st));
    sx_synthesis_cache cache;
    sx_tensor *img = sx_synthesis_from_styles(G, &st, NULL, 0, NULL, &cache);
    CHECK_NOTNULL(img);
    EXPECT_FAIL(sx_synthesis_from_styles(G, &st, NULL, 3, &cache, NULL), "from_layer 3 outside 0 .. 2");
    EXPECT_FAIL(sx_synthesis_from_styles(G, &st, NULL, 1, NULL, NULL), "needs the cache");
    sx_tensor *noise[3] = {0};
    CHECK_OK(sx_synthesis_noise(G, 2, noise));
    sx_tensor *nbad = T(4, SHAPE(2, 1, 4, 4), 8);
    sx_tensor *keep = noise[2];
    noise[2] = nbad;
    EXPECT_FAIL(sx_synthesis_from_styles(G, &st, noise, 0, NULL, NULL), "noise[2] is [2, 1, 4, 4], expected [N, 1, 8, 8]");
    noise[2] = keep;
    sx_tensor *s3 = T(2, SHAPE(3, 4), 9);
    sx_tensor *keep_s = st.conv[1];
    st.conv[1] = s3;
    EXPECT_FAIL(sx_synthesis_from_styles(G, &st, noise, 0, NULL, NULL), "styles.conv[1] [3, 4] has batch 3");
    st.conv[1] = NULL;
    EXPECT_FAIL(sx_synthesis_from_styles(G, &st, noise, 0, NULL, NULL), "styles.conv[1] is missing");
    st.conv[1] = keep_s;
    /* layers before from_layer may be missing */
    sx_tensor *keep0 = st.conv[0];
    st.conv[0] = NULL;
    sx_tensor *img1 = sx_synthesis_from_styles(G, &st, noise, 1, &cache, NULL);
    CHECK_MSG(img1 != NULL, "%s", sx_last_error());
    st.conv[0] = keep0;
    sx_tensor *flat = T(2, SHAPE(2, 11), 10);
    CHECK(sx_styles_set_flat(G, &st, flat) == SX_EINVAL && strstr(sx_last_error(), "expected [N, 12]"));
    sx_tensor *mods[] = {x, p, p3, z, x3, lat, latbad, img, nbad, s3, img1, flat};
    free_all(12, mods);
    free_all(3, noise);
    sx_styles_clear(&st);
    sx_synthesis_cache_clear(&cache);
    sx_styles_clear(&st); /* a second clear is harmless */
    sx_module_free(G);
    sx_module_free(D);
    sx_module_free(E);
}

/* ---------------------------------------------------------------- modulated conv */

/* Per-sample reference: weights w * s[n] (per input channel), demodulated per
 * output channel, one sx_conv2d per sample. For up = 2 the sample is first
 * zero-upsampled and FIR-filtered with stylegan2-ada's general-path padding
 * (3, 2) and convolved (kernel flipped) without padding — the
 * "upfirdn2d-upsample then conv" form, independent of the transposed conv. */
static sx_tensor *modconv_reference(sx_tensor *x, sx_tensor *w, sx_tensor *s, int up, bool demod)
{
    int64_t N = x->shape[0], Cin = x->shape[1], Cout = w->shape[0], k = w->shape[2];
    float *wv = malloc((size_t)sx_tensor_numel(w) * sizeof *wv), *sv = malloc((size_t)sx_tensor_numel(s) * sizeof *sv);
    sx_tensor_copy_to(w, wv);
    sx_tensor_copy_to(s, sv);
    sx_tensor *outs[16];
    float f[16];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) f[i * 4 + j] = (float)((i == 0 || i == 3 ? 1 : 3) * (j == 0 || j == 3 ? 1 : 3)) * 4 / 64;
    sx_tensor *fir = sx_tensor_from_data(2, SHAPE(4, 4), f);
    for (int64_t n = 0; n < N; n++) {
        sx_tensor *wm = sx_tensor_empty(4, SHAPE(Cout, Cin, k, k));
        float *p = sx_tensor_data(wm);
        for (int64_t o = 0; o < Cout; o++) {
            double ss = 0;
            for (int64_t i = 0; i < Cin; i++)
                for (int64_t a = 0; a < k * k; a++) {
                    float v = wv[(o * Cin + i) * k * k + a] * sv[(s->shape[0] == 1 ? 0 : n) * Cin + i];
                    p[(o * Cin + i) * k * k + a] = v;
                    ss += (double)v * v;
                }
            float d = demod ? (float)(1.0 / sqrt(ss + 1e-8)) : 1.0f;
            for (int64_t i = 0; i < Cin * k * k; i++) p[o * Cin * k * k + i] *= d;
        }
        sx_tensor *xn = sx_narrow(x, 0, x->shape[0] == 1 ? 0 : n, 1);
        if (up == 1) {
            sx_conv2d_opts o = {.padding = {(int)(k / 2), (int)(k / 2)}};
            outs[n] = sx_conv2d(xn, wm, NULL, &o);
        } else {
            sx_tensor *wf = sx_tensor_empty(4, wm->shape);
            float *q = sx_tensor_data(wf);
            for (int64_t oi = 0; oi < Cout * Cin; oi++)
                for (int64_t a = 0; a < k * k; a++) q[oi * k * k + a] = p[oi * k * k + (k * k - 1 - a)];
            int pk = (int)(k / 2);
            sx_tensor *u = sx_upfirdn2d(xn, fir, 2, 1, (int[]){pk + 2, pk + 1, pk + 2, pk + 1});
            outs[n] = sx_conv2d(u, wf, NULL, NULL);
            free_all(2, (sx_tensor *[]){wf, u});
        }
        free_all(2, (sx_tensor *[]){wm, xn});
    }
    sx_tensor *y = sx_cat((int)N, outs, 0);
    free_all((int)N, outs);
    sx_tensor_free(fir);
    free(wv);
    free(sv);
    return y;
}

static void test_modconv_matches_per_sample(void)
{
    struct { int N, Cin, Cout, H, k, up, demod, sbatch1; } cases[] = {
        {3, 5, 4, 6, 3, 1, 1, 0}, {3, 5, 4, 6, 3, 2, 1, 0}, {2, 7, 3, 5, 3, 2, 1, 0},
        {3, 6, 2, 4, 1, 1, 0, 0}, {2, 4, 4, 4, 3, 1, 0, 0}, {4, 5, 4, 4, 3, 2, 1, 1},
        {16, 64, 32, 8, 3, 2, 1, 0}, {16, 32, 32, 16, 3, 1, 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int N = cases[i].N, Ci = cases[i].Cin, Co = cases[i].Cout, H = cases[i].H, k = cases[i].k;
        sx_tensor *x = T(4, SHAPE(N, Ci, H, H), 100 + i), *w = T(4, SHAPE(Co, Ci, k, k), 200 + i);
        sx_tensor *s = T(2, SHAPE(cases[i].sbatch1 ? 1 : N, Ci), 300 + i);
        sx_tensor *y = sx_modulated_conv2d(x, w, s, cases[i].up, cases[i].demod);
        sx_tensor *r = modconv_reference(x, w, s, cases[i].up, cases[i].demod);
        CHECK_MSG(has_shape(y, 4, SHAPE(N, Co, H * cases[i].up, H * cases[i].up)), "case %zu: %s", i, sx_last_error());
        double e = y && r ? max_abs_diff(y, r) : INFINITY;
        CHECK_MSG(e < 2e-4, "case %zu (up %d demod %d): max diff %g", i, cases[i].up, cases[i].demod, e);
        free_all(4, (sx_tensor *[]){x, w, s, y});
        sx_tensor_free(r);
    }
    /* a batch-1 x broadcast against N styles equals x repeated */
    sx_tensor *x1 = T(4, SHAPE(1, 4, 4, 4), 7), *w = T(4, SHAPE(3, 4, 3, 3), 8), *s = T(2, SHAPE(3, 4), 9);
    sx_tensor *xr = sx_expand(x1, 4, SHAPE(3, 4, 4, 4));
    sx_tensor *a = sx_modulated_conv2d(x1, w, s, 2, true), *b = sx_modulated_conv2d(xr, w, s, 2, true);
    CHECK(a && b && max_abs_diff(a, b) < 1e-6);
    free_all(6, (sx_tensor *[]){x1, w, s, xr, a, b});
}

struct mc_ctx {
    int up;
    bool demod;
};

static sx_tensor *f_modconv(sx_tensor *const *in, void *vc)
{
    struct mc_ctx *c = vc;
    return sx_modulated_conv2d(in[0], in[1], in[2], c->up, c->demod);
}

static void test_modconv_gradcheck(void)
{
    struct mc_ctx cases[] = {{1, true}, {2, true}, {1, false}};
    const char *names[] = {"modconv up 1 demod (x, weight, styles)", "modconv up 2 demod (x, weight, styles)",
                           "modconv 1x1 no demod (x, weight, styles)"};
    for (int i = 0; i < 3; i++) {
        int k = cases[i].demod ? 3 : 1;
        sx_tensor *xs[3] = {T(4, SHAPE(2, 3, 4, 4), 50 + i), T(4, SHAPE(2, 3, k, k), 60 + i), T(2, SHAPE(2, 3), 70 + i)};
        for (int j = 0; j < 3; j++) sx_tensor_set_requires_grad(xs[j], true);
        GRADCHECK(names[i], f_modconv, &cases[i], 3, xs);
        if (i == 1) GRADGRADCHECK("modconv up 2 demod, second order", f_modconv, &cases[i], 3, xs);
        free_all(3, xs);
    }
}

/* ---------------------------------------------------------------- from styles, cache */

/* A default-config generator with non-trivial noise strengths and biases, so
 * noise and every parameter matter. */
static sx_module *busy_generator(int res, int img, int nc, unsigned seed)
{
    sx_stylegan_config c = sx_stylegan_default_config(res, img, nc);
    return busy_generator_of(&c, seed);
}

static void test_from_styles_exact(void)
{
    sx_module *G = busy_generator(32, 1, 2, 5);
    int64_t N = 3;
    sx_tensor *z = T(2, SHAPE(N, 128), 11), *p = probs(N, 2, 12);
    sx_tensor *w = sx_mapping_forward(G, z), *lat = sx_stylegan_latent(G, w, p);
    sx_tensor *noise[7] = {0}, *noise2[7] = {0};
    CHECK_OK(sx_synthesis_noise(G, N, noise));
    CHECK_OK(sx_synthesis_noise(G, N, noise2));
    sx_tensor *img = sx_synthesis_forward(G, lat, noise);
    sx_tensor *img_g = sx_generator_forward(G, z, p, noise);
    sx_styles st;
    CHECK_OK(sx_synthesis_styles(G, lat, &st));
    CHECK(st.n_layers == 7 && st.n_levels == 4 && has_shape(st.conv[3], 2, SHAPE(N, 128)) &&
          has_shape(st.conv[5], 2, SHAPE(N, 64)) && has_shape(st.conv[6], 2, SHAPE(N, 32)) && has_shape(st.rgb[3], 2, SHAPE(N, 32)));
    sx_tensor *img2 = sx_synthesis_from_styles(G, &st, noise, 0, NULL, NULL);
    CHECK_MSG(img && img2 && max_abs_diff(img, img2) == 0, "from_styles differs from forward by %g",
              img && img2 ? max_abs_diff(img, img2) : -1.0);
    CHECK(img_g && max_abs_diff(img, img_g) == 0);
    /* noise matters, and the same noise gives the same image */
    sx_tensor *img3 = sx_synthesis_from_styles(G, &st, noise2, 0, NULL, NULL);
    CHECK(img3 && max_abs_diff(img, img3) > 1e-3);
    /* flat styles: 672 wide, and setting them back changes nothing */
    sx_tensor *flat = sx_styles_flat(&st);
    CHECK(has_shape(flat, 2, SHAPE(N, 672)));
    sx_styles st2;
    CHECK_OK(sx_styles_share(&st, &st2));
    CHECK_OK(sx_styles_set_flat(G, &st2, flat));
    sx_tensor *img4 = sx_synthesis_from_styles(G, &st2, noise, 0, NULL, NULL);
    CHECK(img4 && max_abs_diff(img, img4) == 0);
    /* flat coordinate 300 is layer 2 channel 44 */
    float *fp = sx_tensor_data(flat);
    CHECK(fp[300] == sx_tensor_get(st.conv[2], (int64_t[]){0, 44}));
    /* mixing a style set with itself changes nothing; with another one it does */
    sx_tensor *z2 = T(2, SHAPE(N, 128), 13), *w2 = sx_mapping_forward(G, z2), *lat2 = sx_stylegan_latent(G, w2, p);
    sx_styles sb, mixed;
    CHECK_OK(sx_synthesis_styles(G, lat2, &sb));
    CHECK_OK(sx_styles_mix(&st, &sb, 3, &mixed));
    CHECK(mixed.conv[2] == st.conv[2] && mixed.conv[3] == sb.conv[3] && mixed.rgb[0] == st.rgb[0] &&
          mixed.rgb[1] == sb.rgb[1]);
    sx_tensor *img5 = sx_synthesis_from_styles(G, &mixed, noise, 0, NULL, NULL);
    CHECK(img5 && max_abs_diff(img, img5) > 1e-3);
    sx_styles_clear(&mixed);
    CHECK_OK(sx_styles_mix(&st, &st, 5, &mixed));
    sx_tensor *img6 = sx_synthesis_from_styles(G, &mixed, noise, 0, NULL, NULL);
    CHECK(img6 && max_abs_diff(img, img6) == 0);
    sx_tensor *tmp[] = {z, p, w, lat, img, img_g, img2, img3, flat, img4, z2, w2, lat2, img5, img6};
    free_all(15, tmp);
    free_all(7, noise);
    free_all(7, noise2);
    sx_styles_clear(&st);
    sx_styles_clear(&st2);
    sx_styles_clear(&sb);
    sx_styles_clear(&mixed);
    sx_module_free(G);
}

/* styles with coordinate `ch` of layer l set to v in sample n (a fresh tensor for that layer). */
static void shift_style(sx_styles *st, int l, int64_t n, int ch, float v)
{
    sx_tensor *c = sx_tensor_copy(st->conv[l]);
    sx_tensor_data(c)[n * c->shape[1] + ch] = v;
    sx_tensor_free(st->conv[l]);
    st->conv[l] = c;
}

static void test_cache_equals_recompute(void)
{
    sx_module *G = busy_generator(32, 1, 2, 6);
    int64_t N = 3;
    sx_tensor *z = T(2, SHAPE(N, 128), 21), *p = probs(N, 2, 22);
    sx_tensor *w = sx_mapping_forward(G, z), *lat = sx_stylegan_latent(G, w, p);
    sx_tensor *noise[7] = {0};
    sx_styles base;
    CHECK_OK(sx_synthesis_noise(G, N, noise));
    CHECK_OK(sx_synthesis_styles(G, lat, &base));
    sx_synthesis_cache cache;
    sx_tensor *img0 = sx_synthesis_from_styles(G, &base, noise, 0, NULL, &cache);
    CHECK(img0 && cache.n_layers == 7 && cache.n_levels == 4);
    CHECK(has_shape(cache.x[3], 4, SHAPE(N, 128, 8, 8)) && has_shape(cache.x[4], 4, SHAPE(N, 64, 16, 16)));
    CHECK(has_shape(cache.img[3], 4, SHAPE(N, 1, 32, 32)) && max_abs_diff(cache.img[3], img0) == 0);
    sx_style_layout lay;
    sx_style_layout_of(G, &lay);
    for (int l = 0; l < 7; l++) {
        sx_styles sh;
        sx_styles_share(&base, &sh);
        shift_style(&sh, l, 1, lay.channels[l] / 3, 4.0f);
        sx_tensor *full = sx_synthesis_from_styles(G, &sh, noise, 0, NULL, NULL);
        sx_synthesis_cache c2;
        sx_tensor *part = sx_synthesis_from_styles(G, &sh, noise, l, &cache, &c2);
        CHECK_MSG(full && part && max_abs_diff(full, part) == 0, "layer %d: cached pass differs by %g", l,
                  full && part ? max_abs_diff(full, part) : -1.0);
        CHECK(full && max_abs_diff(full, img0) > 1e-4); /* the shift did something */
        /* the new cache shares the old entries before l and has new ones after */
        CHECK((l == 0 || (c2.x[0] == cache.x[0] && c2.x[l] == cache.x[l])) && c2.img[3] != cache.img[3]);
        free_all(2, (sx_tensor *[]){full, part});
        sx_synthesis_cache_clear(&c2);
        sx_styles_clear(&sh);
    }

    /* AttFind: image 1, B copies each with one coordinate of layer l moved,
     * from a batch-1 cache and batch-1 styles except layer l */
    sx_styles one;
    sx_synthesis_cache c1;
    sx_tensor *noise1[7];
    CHECK_OK(sx_styles_narrow(&base, 1, 1, &one));
    CHECK_OK(sx_synthesis_cache_narrow(&cache, 1, 1, &c1));
    for (int l = 0; l < 7; l++) noise1[l] = sx_narrow(noise[l], 0, 1, 1);
    int B = 5;
    int layers[] = {1, 4, 6};
    for (int li = 0; li < 3; li++) {
        int l = layers[li];
        sx_tensor *rows = sx_expand(one.conv[l], 2, SHAPE(B, lay.channels[l]));
        sx_tensor *shifted = sx_tensor_copy(rows);
        for (int b = 0; b < B; b++) sx_tensor_data(shifted)[b * lay.channels[l] + 7 * b] = b % 2 ? -3.0f : 3.0f;
        sx_styles sh;
        sx_styles_share(&one, &sh);
        sx_tensor_free(sh.conv[l]);
        sh.conv[l] = shifted;
        sx_tensor *batch = sx_synthesis_from_styles(G, &sh, noise1, l, &c1, NULL);
        CHECK_MSG(has_shape(batch, 4, SHAPE(B, 1, 32, 32)), "layer %d: %s", l, sx_last_error());
        for (int b = 0; b < B && batch; b++) {
            sx_styles full;
            sx_styles_share(&base, &full);
            shift_style(&full, l, 1, 7 * b, b % 2 ? -3.0f : 3.0f);
            sx_tensor *ref = sx_synthesis_from_styles(G, &full, noise, 0, NULL, NULL);
            sx_tensor *ref1 = ref ? sx_narrow(ref, 0, 1, 1) : NULL, *got = sx_narrow(batch, 0, b, 1);
            double e = ref1 && got ? max_abs_diff(ref1, got) : INFINITY;
            CHECK_MSG(e < 1e-5, "layer %d copy %d: batched-from-cache differs by %g", l, b, e);
            free_all(3, (sx_tensor *[]){ref, ref1, got});
            sx_styles_clear(&full);
        }
        sx_tensor_free(rows);
        sx_tensor_free(batch);
        sx_styles_clear(&sh);
    }
    free_all(7, noise1);
    sx_styles_clear(&one);
    sx_synthesis_cache_clear(&c1);
    sx_synthesis_cache_clear(&cache);
    sx_styles_clear(&base);
    free_all(7, noise);
    free_all(5, (sx_tensor *[]){z, p, w, lat, img0});
    sx_module_free(G);
}

/* ---------------------------------------------------------------- gradients */

struct syn_ctx {
    sx_module *G;
    sx_tensor **noise;
};

static sx_tensor *f_synthesis(sx_tensor *const *in, void *vc)
{
    struct syn_ctx *c = vc;
    return sx_synthesis_forward(c->G, in[0], c->noise);
}

/* First derivatives of the whole synthesis (tiny, 8x8, conditional) with
 * respect to the latent and parameters of every kind. */
static void test_synthesis_gradcheck(void)
{
    sx_stylegan_config cfg = tiny_cfg(8, 3, 2, 4, 3);
    sx_manual_seed(3);
    sx_module *G = sx_generator_new(&cfg);
    randomize(G, "noise_strength", 0.5f, 4);
    randomize(G, "bias", 0.3f, 5);
    sx_tensor *noise[3];
    sx_synthesis_noise(G, 2, noise);
    struct syn_ctx c = {G, noise};
    const char *pn[] = {"synthesis.b4.const", "synthesis.b8.conv0.weight", "synthesis.b8.conv1.noise_strength",
                        "synthesis.b8.conv0.affine.weight", "synthesis.b8.torgb.weight", "synthesis.b4.torgb.affine.bias"};
    sx_tensor *xs[7] = {T(2, SHAPE(2, 7), 6)};
    sx_tensor_set_requires_grad(xs[0], true);
    for (int i = 0; i < 6; i++) {
        sx_param *pp = sx_module_find_param(G, pn[i]);
        xs[i + 1] = pp ? pp->tensor : NULL;
    }
    /* a small step: with 3-4 channels the demodulation is strongly curved */
    CHECK_MSG(gradcheck_ex("synthesis", f_synthesis, &c, 7, xs, 2e-3, 1e-2, 2e-2, 40) <= 1.0,
              "synthesis (latent, const, conv weight, noise strength, affine, toRGB)");
    sx_tensor_free(xs[0]);
    free_all(3, noise);
    sx_module_free(G);
}

/* R1 = sum over the batch of ||d D(x) / dx||^2 (one scalar; D's outputs summed). */
static sx_tensor *r1_penalty(sx_module *D, sx_tensor *x0, sx_tensor *p)
{
    sx_tensor *x = sx_detach(x0);
    sx_tensor_set_requires_grad(x, true);
    sx_tensor *d = sx_discriminator_forward(D, x, p);
    sx_tensor *s = d ? sx_sum(d, 0, NULL, false) : NULL;
    sx_tensor *pen = grad_sq_sum(s, x);
    free_all(3, (sx_tensor *[]){x, d, s});
    return pen;
}

static double r1_value(sx_module *D, sx_tensor *x, sx_tensor *p)
{
    bool was = sx_set_grad_enabled(true);
    sx_tensor *pen = r1_penalty(D, x, p);
    sx_set_grad_enabled(was);
    float v = NAN;
    if (pen) sx_tensor_item(pen, &v);
    sx_tensor_free(pen);
    return v;
}

/*
 * The R1 gradient with respect to D's parameters, through the double backward,
 * against finite differences. R1 is piecewise smooth in the parameters (lrelu
 * switches the slope of d D/dx), so a step that moves a pre-activation across
 * 0 makes the central difference wrong; then one of the one-sided differences
 * (the side without the switch) must agree instead.
 */
static void test_r1_gradient(void)
{
    sx_stylegan_config cfg = tiny_cfg(8, 1, 2, 4, 3);
    sx_manual_seed(77);
    sx_module *D = sx_discriminator_new(&cfg);
    randomize(D, "bias", 0.3f, 78);
    sx_tensor *x = T(4, SHAPE(4, 1, 8, 8), 79), *p = probs(4, 2, 80);
    sx_tensor *pen = r1_penalty(D, x, p);
    CHECK_NOTNULL(pen);
    const char *pn[] = {"b8.fromrgb.weight", "b8.conv0.weight", "b8.conv1.bias", "b8.skip.weight",
                        "b4.conv.weight", "b4.fc.weight", "b4.out.weight"};
    enum { NP = 7 };
    sx_tensor *params[NP], *grads[NP] = {0};
    for (int i = 0; i < NP; i++) params[i] = sx_module_find_param(D, pn[i])->tensor;
    CHECK_OK(sx_grad(1, &pen, NULL, NP, params, false, false, grads));
    double r0 = r1_value(D, x, p);
    CHECK(r0 > 0 && isfinite(r0));
    int checked = 0, central = 0;
    /* a small step keeps switches rare; R1's float rounding (~1e-7 of R1) stays
     * below the tolerance */
    const float eps = 5e-4f;
    for (int i = 0; i < NP && grads[0]; i++) {
        int64_t n = sx_tensor_numel(params[i]);
        float *pd = sx_tensor_data(params[i]), *gd = malloc((size_t)n * sizeof *gd);
        sx_tensor_copy_to(grads[i], gd);
        for (int64_t e = 0; e < n; e += n > 6 ? n / 6 : 1) {
            float keep = pd[e];
            pd[e] = keep + eps;
            double fp = r1_value(D, x, p);
            pd[e] = keep - eps;
            double fm = r1_value(D, x, p);
            pd[e] = keep;
            double cd = (fp - fm) / (2 * eps), fd = (fp - r0) / eps, bd = (r0 - fm) / eps;
            double tol = 2e-4 + 3e-2 * fabs(gd[e]);
            bool ok_c = fabs(cd - gd[e]) <= tol, ok_1 = fabs(fd - gd[e]) <= 3 * tol || fabs(bd - gd[e]) <= 3 * tol;
            CHECK_MSG(ok_c || ok_1, "%s[%lld]: analytic %.6g, central %.6g, forward %.6g, backward %.6g", pn[i],
                      (long long)e, gd[e], cd, fd, bd);
            checked++;
            central += ok_c;
        }
        free(gd);
    }
    printf("    R1 = %.5g; %d parameter entries checked, %d by the central difference\n", r0, checked, central);
    CHECK(central >= checked * 3 / 4);
    free_all(NP, grads);
    free_all(3, (sx_tensor *[]){x, p, pen});
    sx_module_free(D);
}

int main(void)
{
    RUN(test_config);
    RUN(test_layout);
    RUN(test_param_counts);
    RUN(test_shapes);
    RUN(test_bad_arguments);
    RUN(test_modconv_matches_per_sample);
    RUN(test_modconv_gradcheck);
    RUN(test_from_styles_exact);
    RUN(test_cache_equals_recompute);
    RUN(test_synthesis_gradcheck);
    RUN(test_r1_gradient);
    return check_summary("test_stylegan");
}
