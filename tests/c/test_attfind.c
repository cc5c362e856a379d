/*
 * tests/c/test_attfind.c — the AttFind effect table and regeneration with
 * changed coordinates (include/stylex/attfind.h), on a tiny 8x8 generator
 * (S = 11 StyleSpace coordinates) and a tiny 3-class classifier:
 *   - every entry of the effect table equals a brute-force recomputation
 *     (full synthesis from modified styles, no cache), for noise of batch N
 *     and batch 1 and for batch sizes that split layers unevenly;
 *   - styles, base logits, style_min/max against direct computation; shapes;
 *   - given extremes, the progress callback (counts, stopping), grad mode;
 *   - sx_attfind_apply against hand-modified styles, its broadcasting and
 *     add mode, and its agreement with the table;
 *   - bad arguments of both functions.
 */
#include "fixtures.h"

/* ---------------------------------------------------------------- fixtures */

/* 8x8x1 conditional (2 classes) generator: layers b4.conv1 (4 styles),
 * b8.conv0 (4), b8.conv1 (3): S = 11. Noise and biases matter. */
static sx_module *tiny_generator(unsigned seed)
{
    sx_stylegan_config c = tiny_stylegan_config(8, 1, 2, 4, 3);
    return busy_generator_of(&c, seed);
}

/* 8x8x1 images, 3 classes, one block of 4 channels, hidden 8. */
/* The built-in CNN, through the classifier interface. */
static sx_classifier *tiny_classifier(unsigned seed, int resolution)
{
    sx_cnn_config c = sx_cnn_default_config(3);
    c.resolution = resolution;
    c.n_blocks = 1;
    c.channels[0] = 4;
    c.convs_per_block = 1;
    c.hidden = 8;
    c.dropout = 0;
    sx_manual_seed(seed);
    sx_module *m = sx_cnn_new(&c);
    sx_classifier *C = m ? sx_classifier_from_cnn(m, NULL) : NULL;
    sx_module_free(m);
    return C;
}

enum { N = 3, S = 11, K = 3, L = 3, LAT = 7 };

static float at4(const sx_tensor *t, int64_t a, int64_t b, int64_t c, int64_t d)
{
    return sx_tensor_get(t, (int64_t[]){a, b, c, d});
}

static float at2(const sx_tensor *t, int64_t a, int64_t b) { return sx_tensor_get(t, (int64_t[]){a, b}); }

/* Logits [N, K] of the images of flat styles [N, S] (toRGB styles from st),
 * full synthesis from layer 0, no cache. */
static sx_tensor *logits_of_flat(sx_module *G, sx_classifier *C, const sx_styles *st, sx_tensor *flat,
                                 sx_tensor *const *noise)
{
    sx_styles sh;
    sx_styles_share(st, &sh);
    sx_tensor *lg = NULL;
    if (sx_styles_set_flat(G, &sh, flat) == SX_OK) {
        sx_tensor *img = sx_synthesis_from_styles(G, &sh, noise, 0, NULL, NULL);
        lg = img ? sx_classifier_logits(C, img) : NULL;
        sx_tensor_free(img);
    }
    sx_styles_clear(&sh);
    return lg;
}

/* Checks every entry of r against brute force: per coordinate j and
 * direction d, column j of all N images set to the extreme (rows are
 * independent, so row i is image i with only s_ij changed). Returns the
 * largest difference. */
static double brute_force_error(sx_module *G, sx_classifier *C, sx_tensor *lat, sx_tensor *const *noise,
                                const sx_attfind_result *r)
{
    sx_styles st;
    if (sx_synthesis_styles(G, lat, &st) != SX_OK) return INFINITY;
    sx_tensor *flat = sx_styles_flat(&st), *base = logits_of_flat(G, C, &st, flat, noise);
    double worst = base ? max_abs_diff(base, r->base_logits) : INFINITY;
    for (int j = 0; j < S && base; j++)
        for (int d = 0; d < 2; d++) {
            sx_tensor *mod = sx_tensor_copy(flat);
            float v = sx_tensor_get(d ? r->style_max : r->style_min, (int64_t[]){j});
            for (int i = 0; i < N; i++) sx_tensor_data(mod)[i * S + j] = v;
            sx_tensor *lg = logits_of_flat(G, C, &st, mod, noise);
            for (int i = 0; i < N; i++)
                for (int k = 0; k < K; k++) {
                    double want = lg ? (double)at2(lg, i, k) - at2(base, i, k) : INFINITY;
                    double e = fabs(want - at4(r->effect, i, d, j, k));
                    if (!(e <= worst)) worst = e;
                }
            free_all(2, (sx_tensor *[]){mod, lg});
        }
    free_all(2, (sx_tensor *[]){flat, base});
    sx_styles_clear(&st);
    return worst;
}

/* ---------------------------------------------------------------- effect table */

static void test_effects_equal_brute_force(void)
{
    sx_module *G = tiny_generator(1);
    sx_classifier *C = tiny_classifier(2, 8);
    sx_tensor *lat = RANDN(3, N, LAT);
    sx_tensor *noise[L], *noise1[L];
    sx_manual_seed(4);
    CHECK_OK(sx_synthesis_noise(G, N, noise));
    CHECK_OK(sx_synthesis_noise(G, 1, noise1));
    sx_style_layout lay;
    CHECK_OK(sx_style_layout_of(G, &lay));
    CHECK(lay.n_layers == L && lay.n_coords == S);

    /* batch 5 splits layer 0's 8 shifts into 4 + 4 and layer 2's 6 into 3 + 3 */
    sx_attfind_result r, r1, rb;
    CHECK_OK(sx_attfind_effects(G, C, lat, noise, &(sx_attfind_opts){.batch = 5}, NULL, NULL, &r));
    CHECK(has_shape(r.effect, 4, SHAPE(N, 2, S, K)) && has_shape(r.base_logits, 2, SHAPE(N, K)) &&
          has_shape(r.style_min, 1, SHAPE(S)) && has_shape(r.style_max, 1, SHAPE(S)) &&
          has_shape(r.styles, 2, SHAPE(N, S)));
    double e = r.effect ? brute_force_error(G, C, lat, noise, &r) : INFINITY;
    CHECK_MSG(e < 1e-4, "noise of batch N: effect table differs from brute force by %g", e);

    /* the shifts did something, and not the same for every image */
    double spread = 0;
    for (int j = 0; j < S && r.effect; j++)
        spread = fmax(spread, fabs(at4(r.effect, 0, 1, j, 0) - at4(r.effect, 1, 1, j, 0)));
    CHECK_MSG(spread > 1e-3, "effects hardly vary: %g", spread);

    /* styles and extremes */
    sx_styles st;
    CHECK_OK(sx_synthesis_styles(G, lat, &st));
    sx_tensor *flat = sx_styles_flat(&st);
    CHECK(flat && r.styles && max_abs_diff(flat, r.styles) == 0);
    for (int j = 0; j < S && flat; j++) {
        float mn = at2(flat, 0, j), mx = mn;
        for (int i = 1; i < N; i++) {
            mn = fminf(mn, at2(flat, i, j));
            mx = fmaxf(mx, at2(flat, i, j));
        }
        CHECK(r.style_min && sx_tensor_get(r.style_min, (int64_t[]){j}) == mn);
        CHECK(r.style_max && sx_tensor_get(r.style_max, (int64_t[]){j}) == mx);
    }
    /* the image holding the minimum of a coordinate: its to-min shift is a no-op */
    for (int j = 0; j < S && flat; j++)
        for (int i = 0; i < N; i++)
            if (at2(flat, i, j) == sx_tensor_get(r.style_min, (int64_t[]){j}))
                for (int k = 0; k < K; k++) CHECK_NEAR(at4(r.effect, i, 0, j, k), 0, 1e-5);

    /* one shift per call, and the default batch: the same table */
    CHECK_OK(sx_attfind_effects(G, C, lat, noise, &(sx_attfind_opts){.batch = 1}, NULL, NULL, &rb));
    CHECK(rb.effect && r.effect && max_abs_diff(rb.effect, r.effect) < 1e-5);
    sx_attfind_result_clear(&rb);
    CHECK_OK(sx_attfind_effects(G, C, lat, noise, NULL, NULL, NULL, &rb));
    CHECK(rb.effect && r.effect && max_abs_diff(rb.effect, r.effect) < 1e-5);

    /* noise of batch 1, shared by the images */
    CHECK_OK(sx_attfind_effects(G, C, lat, noise1, &(sx_attfind_opts){.batch = 7}, NULL, NULL, &r1));
    e = r1.effect ? brute_force_error(G, C, lat, noise1, &r1) : INFINITY;
    CHECK_MSG(e < 1e-4, "noise of batch 1: effect table differs from brute force by %g", e);
    CHECK(r1.effect && r.effect && max_abs_diff(r1.effect, r.effect) > 1e-4); /* the noise mattered */

    /* a single image: its extremes are its own styles, every effect is 0 */
    sx_attfind_result r0;
    sx_tensor *lat0 = sx_narrow(lat, 0, 1, 1), *noise0[L];
    for (int l = 0; l < L; l++) noise0[l] = sx_narrow(noise[l], 0, 1, 1);
    CHECK_OK(sx_attfind_effects(G, C, lat0, noise0, NULL, NULL, NULL, &r0));
    sx_tensor *z = r0.effect ? sx_tensor_zeros_like(r0.effect) : NULL;
    CHECK(z && max_abs_diff(r0.effect, z) < 1e-5);
    sx_tensor *b1 = r.base_logits ? sx_narrow(r.base_logits, 0, 1, 1) : NULL;
    CHECK(b1 && r0.base_logits && max_abs_diff(b1, r0.base_logits) < 1e-5);

    sx_attfind_result_clear(&r0);
    sx_attfind_result_clear(&r0); /* twice is fine */
    free_all(5, (sx_tensor *[]){lat0, z, b1, flat, lat});
    free_all(L, noise0);
    free_all(L, noise);
    free_all(L, noise1);
    sx_styles_clear(&st);
    sx_attfind_result_clear(&r);
    sx_attfind_result_clear(&r1);
    sx_attfind_result_clear(&rb);
    sx_module_free(G);
    sx_classifier_free(C);
}

/* Extremes given by the caller are the values shifted to. */
static void test_given_extremes(void)
{
    sx_module *G = tiny_generator(5);
    sx_classifier *C = tiny_classifier(6, 8);
    sx_tensor *lat = RANDN(7, N, LAT), *noise[L];
    CHECK_OK(sx_synthesis_noise(G, 1, noise));
    sx_attfind_result r, g;
    CHECK_OK(sx_attfind_effects(G, C, lat, noise, NULL, NULL, NULL, &r));
    sx_tensor *lo = r.style_min ? sx_add_scalar(r.style_min, -0.75f) : NULL;
    sx_tensor *hi = r.style_max ? sx_add_scalar(r.style_max, 0.5f) : NULL;
    sx_attfind_opts o = {.batch = 4, .style_min = lo, .style_max = hi};
    CHECK_OK(sx_attfind_effects(G, C, lat, noise, &o, NULL, NULL, &g));
    CHECK(g.style_min && max_abs_diff(g.style_min, lo) == 0 && max_abs_diff(g.style_max, hi) == 0);
    double e = g.effect ? brute_force_error(G, C, lat, noise, &g) : INFINITY;
    CHECK_MSG(e < 1e-4, "given extremes: differs from brute force by %g", e);
    CHECK(g.effect && max_abs_diff(g.effect, r.effect) > 1e-3);
    free_all(3, (sx_tensor *[]){lat, lo, hi});
    free_all(L, noise);
    sx_attfind_result_clear(&r);
    sx_attfind_result_clear(&g);
    sx_module_free(G);
    sx_classifier_free(C);
}

/* ---------------------------------------------------------------- progress, grad mode */

struct progress_log {
    int calls;
    int64_t last, total;
    bool monotonic;
    int stop_after; /* stop at this call (0: never) */
};

static bool on_progress(void *ctx, int64_t done, int64_t total)
{
    struct progress_log *p = ctx;
    p->calls++;
    p->monotonic = p->monotonic && done > p->last && done <= total;
    p->last = done;
    p->total = total;
    return p->stop_after == 0 || p->calls < p->stop_after;
}

static void test_progress_and_grad_mode(void)
{
    sx_module *G = tiny_generator(8);
    sx_classifier *C = tiny_classifier(9, 8);
    sx_tensor *lat = RANDN(10, N, LAT), *noise[L];
    CHECK_OK(sx_synthesis_noise(G, N, noise));
    struct progress_log p = {.monotonic = true};
    sx_attfind_result r;
    CHECK(sx_grad_enabled());
    CHECK_OK(sx_attfind_effects(G, C, lat, noise, &(sx_attfind_opts){.batch = 8}, on_progress, &p, &r));
    /* per image: the base pass, then layers of 8, 8 and 6 shifts in one batch each */
    CHECK(p.monotonic && p.last == N * (1 + 2 * S) && p.total == N * (1 + 2 * S) && p.calls == N * 4);
    CHECK(sx_grad_enabled());
    CHECK(r.effect && !r.effect->requires_grad && r.effect->grad_fn == NULL);
    sx_attfind_result_clear(&r);

    /* stopping: an error, nothing returned, grad mode restored */
    struct progress_log q = {.monotonic = true, .stop_after = 5};
    sx_clear_error();
    CHECK(sx_attfind_effects(G, C, lat, noise, NULL, on_progress, &q, &r) == SX_ESTATE);
    CHECK(strstr(sx_last_error(), "attfind_effects: stopped by the progress callback") != NULL);
    CHECK(q.calls == 5 && r.effect == NULL && r.styles == NULL);
    CHECK(sx_grad_enabled());
    sx_set_grad_enabled(false);
    CHECK_OK(sx_attfind_effects(G, C, lat, noise, NULL, NULL, NULL, &r));
    CHECK(!sx_grad_enabled());
    sx_set_grad_enabled(true);
    sx_attfind_result_clear(&r);
    sx_tensor_free(lat);
    free_all(L, noise);
    sx_module_free(G);
    sx_classifier_free(C);
}

/* ---------------------------------------------------------------- apply */

static void test_apply(void)
{
    sx_module *G = tiny_generator(11);
    sx_classifier *C = tiny_classifier(12, 8);
    sx_tensor *lat = RANDN(13, N, LAT), *noise[L], *noise1[L];
    CHECK_OK(sx_synthesis_noise(G, N, noise));
    CHECK_OK(sx_synthesis_noise(G, 1, noise1));
    sx_styles st;
    CHECK_OK(sx_synthesis_styles(G, lat, &st));
    sx_tensor *flat = sx_styles_flat(&st);

    /* no changes: the plain regeneration */
    sx_tensor *plain = sx_synthesis_forward(G, lat, noise);
    sx_tensor *a0 = sx_attfind_apply(G, lat, noise, 0, NULL, NULL, false);
    CHECK(plain && a0 && max_abs_diff(plain, a0) == 0);

    /* set coordinates 2 (layer 0) and 9 (layer 2) per image; 9 twice: the last wins */
    int coords[] = {2, 9, 9};
    sx_tensor *vals = sx_tensor_from_data(2, SHAPE(N, 3), (float[]){1.5f, 0, -2, 0.5f, 0, 3, -1, 0, 0.25f});
    sx_tensor *a1 = sx_attfind_apply(G, lat, noise, 3, coords, vals, false);
    sx_tensor *mod = sx_tensor_copy(flat);
    float *m = sx_tensor_data(mod);
    m[0 * S + 2] = 1.5f, m[0 * S + 9] = -2;
    m[1 * S + 2] = 0.5f, m[1 * S + 9] = 3;
    m[2 * S + 2] = -1, m[2 * S + 9] = 0.25f;
    sx_styles sh;
    sx_styles_share(&st, &sh);
    sx_styles_set_flat(G, &sh, mod);
    sx_tensor *want = sx_synthesis_from_styles(G, &sh, noise, 0, NULL, NULL);
    CHECK(a1 && want && max_abs_diff(a1, want) < 1e-6 && max_abs_diff(a1, plain) > 1e-3);

    /* add mode: the same change written as offsets */
    sx_tensor *offs = sx_tensor_zeros(2, SHAPE(N, 2));
    for (int i = 0; i < N; i++) {
        float *o = sx_tensor_data(offs) + 2 * i;
        o[0] = m[i * S + 2] - at2(flat, i, 2);
        o[1] = m[i * S + 9] - at2(flat, i, 9);
    }
    sx_tensor *a2 = sx_attfind_apply(G, lat, noise, 2, (int[]){2, 9}, offs, true);
    CHECK(a2 && want && max_abs_diff(a2, want) < 1e-5);

    /* one latent, a strip of 4 strengths of coordinate 5 */
    sx_tensor *lat1 = sx_narrow(lat, 0, 2, 1);
    sx_tensor *strip_v = sx_tensor_from_data(2, SHAPE(4, 1), (float[]){-2, -1, 1, 2});
    sx_tensor *strip = sx_attfind_apply(G, lat1, noise1, 1, (int[]){5}, strip_v, false);
    CHECK(has_shape(strip, 4, SHAPE(4, 1, 8, 8)));
    for (int b = 0; b < 4 && strip; b++) {
        sx_tensor *v1 = sx_narrow(strip_v, 0, b, 1);
        sx_tensor *one = sx_attfind_apply(G, lat1, noise1, 1, (int[]){5}, v1, false);
        sx_tensor *row = sx_narrow(strip, 0, b, 1);
        CHECK(one && max_abs_diff(one, row) < 1e-6);
        free_all(3, (sx_tensor *[]){v1, one, row});
    }

    /* the table's shifts, regenerated: classifier(apply) - base = effect */
    sx_attfind_result r;
    CHECK_OK(sx_attfind_effects(G, C, lat, noise, NULL, NULL, NULL, &r));
    for (int j = 0; j < S && r.effect; j += 4) {
        sx_tensor *ext = sx_tensor_full(2, SHAPE(1, 1), sx_tensor_get(r.style_max, (int64_t[]){j}));
        sx_tensor *img = sx_attfind_apply(G, lat, noise, 1, &j, ext, false);
        sx_tensor *lg = img ? sx_classifier_logits(C, img) : NULL;
        for (int i = 0; i < N && lg; i++)
            for (int k = 0; k < K; k++)
                CHECK_NEAR(at2(lg, i, k) - at2(r.base_logits, i, k), at4(r.effect, i, 1, j, k), 1e-4);
        free_all(3, (sx_tensor *[]){ext, img, lg});
    }
    CHECK(sx_grad_enabled());

    sx_attfind_result_clear(&r);
    sx_styles_clear(&sh);
    sx_styles_clear(&st);
    free_all(12, (sx_tensor *[]){lat, flat, plain, a0, vals, a1, mod, want, offs, a2, lat1, strip_v});
    sx_tensor_free(strip);
    free_all(L, noise);
    free_all(L, noise1);
    sx_module_free(G);
    sx_classifier_free(C);
}

/* ---------------------------------------------------------------- bad arguments */

#define EXPECT_STATUS(expr, text)                                                                    \
    do {                                                                                             \
        sx_clear_error();                                                                            \
        sx_status st_ = (expr);                                                                      \
        CHECK_MSG(st_ == SX_EINVAL && strstr(sx_last_error(), text), "%s -> '%s'", #expr, sx_last_error()); \
    } while (0)

#define EXPECT_NULL(expr, text)                                                                      \
    do {                                                                                             \
        sx_clear_error();                                                                            \
        sx_tensor *r_ = (expr);                                                                      \
        CHECK_MSG(r_ == NULL && strstr(sx_last_error(), text), "%s -> '%s'", #expr, sx_last_error()); \
        sx_tensor_free(r_);                                                                          \
    } while (0)

static void test_bad_arguments(void)
{
    sx_module *G = tiny_generator(14);
    sx_classifier *C = tiny_classifier(15, 8), *C16 = tiny_classifier(15, 16);
    sx_stylegan_config dc = sx_stylegan_default_config(8, 1, 2);
    sx_module *D = sx_discriminator_new(&dc);
    sx_tensor *lat = RANDN(16, N, LAT), *lat6 = RANDN(17, N, 6), *noise[L], *noise2[L], *bad[L];
    CHECK_OK(sx_synthesis_noise(G, N, noise));
    CHECK_OK(sx_synthesis_noise(G, 2, noise2));
    for (int l = 0; l < L; l++) bad[l] = noise[l];
    bad[0] = noise[1];
    sx_tensor *s10 = sx_tensor_zeros(1, SHAPE(10));
    sx_attfind_result r = {0};

    EXPECT_STATUS(sx_attfind_effects(G, C, lat, noise, NULL, NULL, NULL, NULL), "NULL result");
    EXPECT_STATUS(sx_attfind_effects(D, C, lat, noise, NULL, NULL, NULL, &r), "attfind_effects");
    EXPECT_STATUS(sx_attfind_effects(G, NULL, lat, noise, NULL, NULL, NULL, &r), "classifier: NULL");
    EXPECT_STATUS(sx_attfind_effects(G, C16, lat, noise, NULL, NULL, NULL, &r),
                  "the generator's are [N, 1, 8, 8], expected [N, 1, 16, 16]");
    EXPECT_STATUS(sx_attfind_effects(G, C, lat6, noise, NULL, NULL, NULL, &r), "latents [3, 6], expected [N, 7]");
    EXPECT_STATUS(sx_attfind_effects(G, C, NULL, noise, NULL, NULL, NULL, &r), "latents are NULL");
    EXPECT_STATUS(sx_attfind_effects(G, C, lat, NULL, NULL, NULL, NULL, &r), "noise is required");
    EXPECT_STATUS(sx_attfind_effects(G, C, lat, noise2, NULL, NULL, NULL, &r),
                  "noise[0] is [2, 1, 4, 4], expected [3 or 1");
    EXPECT_STATUS(sx_attfind_effects(G, C, lat, bad, NULL, NULL, NULL, &r), "noise[0] is [3, 1, 8, 8]");
    EXPECT_STATUS(sx_attfind_effects(G, C, lat, noise, &(sx_attfind_opts){.batch = -1}, NULL, NULL, &r),
                  "batch -1 outside");
    EXPECT_STATUS(sx_attfind_effects(G, C, lat, noise, &(sx_attfind_opts){.style_max = s10}, NULL, NULL, &r),
                  "style_max [10], expected [11]");
    CHECK(r.effect == NULL && r.styles == NULL);

    sx_tensor *v = sx_tensor_zeros(2, SHAPE(1, 1)), *v2 = sx_tensor_zeros(2, SHAPE(2, 1));
    EXPECT_NULL(sx_attfind_apply(G, lat, noise, 1, (int[]){11}, v, false), "coords[0] = 11 outside 0 .. 10");
    EXPECT_NULL(sx_attfind_apply(G, lat, noise, 1, (int[]){-1}, v, false), "coords[0] = -1");
    EXPECT_NULL(sx_attfind_apply(G, lat, noise, 2, (int[]){1, 2}, v, false), "values [1, 1], expected [3 or 1, 2]");
    EXPECT_NULL(sx_attfind_apply(G, lat, noise, 1, (int[]){1}, v2, false), "values [2, 1]");
    EXPECT_NULL(sx_attfind_apply(G, lat, noise, 1, NULL, v, false), "need coords and values");
    EXPECT_NULL(sx_attfind_apply(G, lat6, noise, 0, NULL, NULL, false), "latents [3, 6]");
    EXPECT_NULL(sx_attfind_apply(D, lat, noise, 0, NULL, NULL, false), "attfind_apply");
    EXPECT_NULL(sx_attfind_apply(G, lat, noise2, 0, NULL, NULL, false), "noise[0] is [2, 1, 4, 4]");
    CHECK(sx_grad_enabled());

    free_all(6, (sx_tensor *[]){lat, lat6, s10, v, v2, NULL});
    free_all(L, noise);
    free_all(L, noise2);
    sx_module_free(G);
    sx_classifier_free(C);
    sx_classifier_free(C16);
    sx_module_free(D);
}

int main(void)
{
    RUN(test_effects_equal_brute_force);
    RUN(test_given_extremes);
    RUN(test_progress_and_grad_mode);
    RUN(test_apply);
    RUN(test_bad_arguments);
    return check_summary("test_attfind");
}
