/*
 * tests/c/test_image.c — stylex/image.h: resampling (area averaging when
 * shrinking, bilinear when enlarging, nearest upscale), value-range mapping,
 * text in the built-in font, captioned grids, and their argument checks.
 */
#include "check.h"

/* t[c, r, q] = f(c, r, q) for a new [C, H, W] tensor. */
static sx_tensor *make_image(int64_t C, int64_t H, int64_t W, float (*f)(int64_t, int64_t, int64_t))
{
    sx_tensor *t = sx_tensor_empty(3, SHAPE(C, H, W));
    float *d = sx_tensor_data(t);
    for (int64_t c = 0; c < C; c++)
        for (int64_t r = 0; r < H; r++)
            for (int64_t q = 0; q < W; q++) d[(c * H + r) * W + q] = f(c, r, q);
    return t;
}

static float at3(const sx_tensor *t, int64_t c, int64_t r, int64_t q)
{
    return sx_tensor_get(t, (const int64_t[]){c, r, q});
}

static float ramp_x(int64_t c, int64_t r, int64_t q) { return (float)q + 10.0f * (float)c; }
static float ramp_y(int64_t c, int64_t r, int64_t q) { return (float)r; }
static float constant(int64_t c, int64_t r, int64_t q) { return 0.3f; }

/* The error message starts with prefix. */
static bool error_is(const char *prefix) { return strncmp(sx_last_error(), prefix, strlen(prefix)) == 0; }

/* ---------------------------------------------------------------- resize */

static void test_resize_constant(void)
{
    sx_tensor *x = make_image(3, 7, 5, constant);
    const int64_t sizes[][2] = {{3, 2}, {20, 13}, {3, 13}, {7, 5}, {1, 1}, {14, 10}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        sx_tensor *y = sx_image_resize(x, sizes[k][0], sizes[k][1]);
        CHECK_NOTNULL(y);
        if (!y) continue;
        CHECK(y->ndim == 3 && y->shape[0] == 3 && y->shape[1] == sizes[k][0] && y->shape[2] == sizes[k][1]);
        sx_tensor *want = sx_tensor_full(3, y->shape, 0.3f);
        CHECK_MSG(max_abs_diff(y, want) < 1e-6, "to %lld x %lld", (long long)sizes[k][0], (long long)sizes[k][1]);
        sx_tensor_free(want);
        sx_tensor_free(y);
    }
    sx_tensor_free(x);
}

static void test_resize_gradient(void)
{
    /* shrinking a ramp: means over the covered intervals */
    sx_tensor *x = make_image(2, 4, 9, ramp_x);
    sx_tensor *y = sx_image_resize(x, 4, 3); /* 3x: means of 3 consecutive columns */
    CHECK_NOTNULL(y);
    for (int64_t q = 0; q < 3; q++) {
        CHECK_NEAR(at3(y, 0, 2, q), 3 * q + 1, 1e-6);
        CHECK_NEAR(at3(y, 1, 0, q), 3 * q + 1 + 10, 1e-5);
    }
    sx_tensor_free(y);
    sx_tensor_free(x);

    x = make_image(1, 1, 5, ramp_x);
    y = sx_image_resize(x, 1, 2); /* [0, 2.5) and [2.5, 5): a pixel split in half */
    CHECK_NEAR(at3(y, 0, 0, 0), (0 + 1 + 0.5 * 2) / 2.5, 1e-6);
    CHECK_NEAR(at3(y, 0, 0, 1), (0.5 * 2 + 3 + 4) / 2.5, 1e-6);
    sx_tensor_free(y);
    sx_tensor_free(x);

    /* enlarging a ramp bilinearly: linear in the source coordinate,
     * constant beyond the outer pixel centres */
    x = make_image(1, 4, 1, ramp_y);
    y = sx_image_resize(x, 16, 3);
    CHECK_NOTNULL(y);
    for (int64_t o = 0; o < 16; o++) {
        double s = (o + 0.5) * 4.0 / 16.0 - 0.5;
        double want = s < 0 ? 0 : s > 3 ? 3 : s;
        for (int64_t q = 0; q < 3; q++) CHECK_NEAR(at3(y, 0, o, q), want, 1e-6);
    }
    sx_tensor_free(y);
    sx_tensor_free(x);

    /* enlarging keeps a ramp's mean; shrinking back the exact 2x gives it back */
    x = make_image(1, 3, 6, ramp_x);
    y = sx_image_resize(x, 6, 12);
    sx_tensor *z = sx_image_resize(y, 3, 6);
    for (int64_t q = 1; q < 5; q++) CHECK_NEAR(at3(z, 0, 1, q), q, 1e-5);
    sx_tensor_free(z);
    sx_tensor_free(y);
    sx_tensor_free(x);
}

/* A 2x shrink is the exact mean of each 2x2 block, batch or not, any strides. */
static void test_resize_area_exact(void)
{
    sx_tensor *x = RANDN(7, 2, 3, 8, 6);
    sx_tensor *y = sx_image_resize(x, 4, 3);
    CHECK_NOTNULL(y);
    CHECK(y && y->ndim == 4 && y->shape[0] == 2 && y->shape[1] == 3 && y->shape[2] == 4 && y->shape[3] == 3);
    double worst = 0;
    for (int64_t n = 0; n < 2; n++)
        for (int64_t c = 0; c < 3; c++)
            for (int64_t r = 0; r < 4; r++)
                for (int64_t q = 0; q < 3; q++) {
                    double m = 0;
                    for (int dr = 0; dr < 2; dr++)
                        for (int dq = 0; dq < 2; dq++)
                            m += sx_tensor_get(x, (const int64_t[]){n, c, 2 * r + dr, 2 * q + dq});
                    double d = fabs(m / 4 - sx_tensor_get(y, (const int64_t[]){n, c, r, q}));
                    if (d > worst) worst = d;
                }
    CHECK_MSG(worst < 1e-6, "worst %g", worst);

    /* a transposed view gives the same result as its contiguous copy */
    sx_tensor *v = sx_transpose(x, 2, 3); /* [2, 3, 6, 8] */
    sx_tensor *vc = sx_tensor_copy(v);
    sx_tensor *a = sx_image_resize(v, 3, 5), *b = sx_image_resize(vc, 3, 5);
    CHECK(a && b && max_abs_diff(a, b) == 0);
    CHECK(a && !a->requires_grad && !a->grad_fn);
    sx_tensor_free(a);
    sx_tensor_free(b);
    sx_tensor_free(vc);
    sx_tensor_free(v);
    sx_tensor_free(y);
    sx_tensor_free(x);
}

static void test_upscale_and_to_unit(void)
{
    sx_tensor *x = make_image(2, 2, 3, ramp_x);
    sx_tensor *y = sx_image_upscale(x, 3);
    CHECK(y && y->shape[0] == 2 && y->shape[1] == 6 && y->shape[2] == 9);
    for (int64_t r = 0; r < 6; r++)
        for (int64_t q = 0; q < 9; q++) CHECK(at3(y, 1, r, q) == at3(x, 1, r / 3, q / 3));
    sx_tensor_free(y);
    sx_tensor_free(x);

    const float vals[] = {-2, -1, 0, 0.5f, 1, 3, NAN};
    x = sx_tensor_from_data(1, SHAPE(7), vals);
    y = sx_image_to_unit(x, -1, 1);
    const float want[] = {0, 0, 0.5f, 0.75f, 1, 1, 0};
    for (int i = 0; i < 7; i++) CHECK_NEAR(sx_tensor_get(y, (const int64_t[]){i}), want[i], 1e-7);
    sx_tensor_free(y);
    y = sx_image_to_unit(x, 1, -1); /* inverted */
    CHECK_NEAR(sx_tensor_get(y, (const int64_t[]){3}), 0.25, 1e-7);
    sx_tensor_free(y);
    CHECK(sx_image_to_unit(x, 1, 1) == NULL && error_is("image_to_unit:"));
    CHECK(sx_image_to_unit(x, 0, INFINITY) == NULL);
    CHECK(sx_image_to_unit(NULL, 0, 1) == NULL);
    sx_tensor_free(x);
}

/* ---------------------------------------------------------------- text */

static void test_text_metrics(void)
{
    CHECK(sx_image_text_width("abc", 1) == 17);
    CHECK(sx_image_text_width("ab\nabcd", 2) == 46);
    CHECK(sx_image_text_height("ab\nabcd", 2) == 34);
    CHECK(sx_image_text_height("abc", 3) == 24);
    CHECK(sx_image_text_width("", 1) == 0 && sx_image_text_height("", 1) == 0);
    CHECK(sx_image_text_width(NULL, 1) == 0 && sx_image_text_width("a", 0) == 0);
    CHECK(sx_image_text_width("\xc3\xa9t\xc3\xa9", 1) == 17); /* one box per UTF-8 character */
    CHECK(sx_image_text_width("ab\r\n", 1) == 11);
}

/* Draws text into zeros [3, H, W] and checks that ink lands only inside the
 * text's box (clipped), with the given colour, and that some ink is there. */
static void check_draw(int64_t H, int64_t W, int64_t x, int64_t y, const char *text, int scale, bool expect_ink)
{
    const float color[3] = {1.0f, 0.5f, 0.25f};
    sx_tensor *img = sx_tensor_zeros(3, SHAPE(3, H, W));
    CHECK_OK(sx_image_draw_text(img, x, y, text, color, scale));
    int64_t bw = sx_image_text_width(text, scale), bh = sx_image_text_height(text, scale);
    int64_t inked = 0, outside = 0, wrong = 0;
    for (int64_t r = 0; r < H; r++)
        for (int64_t q = 0; q < W; q++) {
            float v0 = at3(img, 0, r, q);
            if (v0 == 0 && at3(img, 1, r, q) == 0 && at3(img, 2, r, q) == 0) continue;
            inked++;
            if (r < y || r >= y + bh || q < x || q >= x + bw) outside++;
            for (int c = 0; c < 3; c++)
                if (at3(img, c, r, q) != color[c]) wrong++;
        }
    CHECK_MSG(outside == 0, "'%s' at (%lld, %lld) scale %d: %lld pixels outside the box", text, (long long)x,
              (long long)y, scale, (long long)outside);
    CHECK(wrong == 0);
    CHECK_MSG((inked > 0) == expect_ink, "'%s' at (%lld, %lld): %lld pixels inked", text, (long long)x, (long long)y,
              (long long)inked);
    sx_tensor_free(img);
}

static void test_draw_text(void)
{
    check_draw(30, 60, 3, 4, "Hi\ngy", 1, true);
    check_draw(30, 60, 3, 4, "Sneaker", 2, true);
    check_draw(20, 20, -7, -5, "clip me", 2, true);    /* clipped top-left */
    check_draw(20, 20, 15, 14, "WWW\nWW", 1, true);    /* clipped bottom-right */
    check_draw(20, 20, 20, 0, "off", 1, false);        /* starts right of the image */
    check_draw(20, 20, -1000, 0, "off", 1, false);     /* ends left of it */
    check_draw(20, 20, -((int64_t)1 << 62), 0, "x", 1, false);
    check_draw(20, 20, 1, 1, "", 1, false);
    check_draw(20, 20, 1, 1, " ", 1, false);

    /* an unknown character is a box: ink at its corner, none inside */
    const float one = 1;
    sx_tensor *img = sx_tensor_zeros(3, SHAPE(1, 10, 10));
    CHECK_OK(sx_image_draw_text(img, 2, 1, "\x01", &one, 1));
    CHECK(at3(img, 0, 1, 2) == 1 && at3(img, 0, 7, 6) == 1 && at3(img, 0, 3, 4) == 0);
    sx_tensor_free(img);

    /* on a view: only the view's pixels change */
    sx_tensor *big = sx_tensor_zeros(3, SHAPE(1, 12, 30));
    sx_tensor *part = sx_narrow(big, 2, 10, 10);
    CHECK_OK(sx_image_draw_text(part, 0, 0, "MMMMMM", &one, 1));
    float sum_out = 0, sum_in = 0;
    for (int64_t r = 0; r < 12; r++)
        for (int64_t q = 0; q < 30; q++) *(q >= 10 && q < 20 ? &sum_in : &sum_out) += at3(big, 0, r, q);
    CHECK(sum_out == 0 && sum_in > 0);
    sx_tensor_free(part);
    sx_tensor_free(big);
}

/* ---------------------------------------------------------------- grid */

static float cell_value(int i) { return (float)(i + 1) / 10.0f; }

static void test_grid_sizes(void)
{
    sx_tensor *imgs[5];
    for (int i = 0; i < 5; i++) imgs[i] = sx_tensor_full(3, SHAPE(1, 4, 6), cell_value(i));
    const sx_tensor *const *in = (const sx_tensor *const *)imgs;

    sx_tensor *g = sx_image_grid(5, in, 2, 1, 0.0f, NULL, NULL, 1);
    CHECK_NOTNULL(g);
    CHECK(g && g->ndim == 3 && g->shape[0] == 1 && g->shape[1] == 1 + 3 * (4 + 1) && g->shape[2] == 1 + 2 * (6 + 1));
    for (int i = 0; g && i < 5; i++) {
        int64_t x0 = 1 + (i % 2) * 7, y0 = 1 + (i / 2) * 5;
        CHECK_NEAR(at3(g, 0, y0, x0), cell_value(i), 0);
        CHECK_NEAR(at3(g, 0, y0 + 3, x0 + 5), cell_value(i), 0);
        CHECK(at3(g, 0, y0 - 1, x0) == 0 && at3(g, 0, y0, x0 + 6) == 0);
    }
    CHECK(g && at3(g, 0, 11, 8) == 0); /* the empty sixth cell */
    sx_tensor_free(g);

    /* default column count: ceil(sqrt(5)) = 3; ncol beyond n is n */
    g = sx_image_grid(5, in, 0, 0, 0.0f, NULL, NULL, 1);
    CHECK(g && g->shape[1] == 2 * 4 && g->shape[2] == 3 * 6);
    sx_tensor_free(g);
    g = sx_image_grid(5, in, 9, 0, 0.0f, NULL, NULL, 1);
    CHECK(g && g->shape[1] == 4 && g->shape[2] == 5 * 6);
    sx_tensor_free(g);

    /* captions: the strip fits the tallest, cells widen to the widest */
    const char *caps[5] = {"a", NULL, "two\nlines", "", "x"};
    g = sx_image_grid(5, in, 2, 1, 1.0f, caps, NULL, 1);
    int64_t strip = (2 * 9 - 1) + 2, cw = sx_image_text_width("lines", 1);
    CHECK(cw == 29);
    CHECK(g && g->shape[1] == 1 + 3 * (4 + strip + 1) && g->shape[2] == 1 + 2 * (cw + 1));
    if (g) {
        /* image #4 is centred in its cell */
        int64_t x0 = 1 + (cw + 1) + (cw - 6) / 2, y0 = 1 + (4 + strip + 1);
        CHECK(at3(g, 0, y0, x0) == cell_value(3) && at3(g, 0, y0, x0 - 1) == 1.0f);
        /* cell #3 (row 2, column 1) has two lines of caption, cell #4 none */
        int64_t ink2 = 0, ink3 = 0;
        for (int64_t r = y0 + 4; r < y0 + 4 + strip; r++) {
            for (int64_t q = 1; q < 1 + cw; q++) ink2 += at3(g, 0, r, q) == 0.0f;
            for (int64_t q = 1 + cw + 1; q < 1 + 2 * (cw + 1); q++) ink3 += at3(g, 0, r, q) == 0.0f;
        }
        CHECK_MSG(ink2 > 40 && ink3 == 0, "%lld %lld", (long long)ink2, (long long)ink3);
    }
    sx_tensor_free(g);

    /* scaled text: strip and width scale too */
    const char *caps2[2] = {"abc", NULL};
    g = sx_image_grid(2, in, 2, 0, 1.0f, caps2, NULL, 3);
    CHECK(g && g->shape[1] == 4 + 8 * 3 + 2 * 3 && g->shape[2] == 2 * 17 * 3);
    sx_tensor_free(g);
    for (int i = 0; i < 5; i++) sx_tensor_free(imgs[i]);
}

static void test_grid_mixed(void)
{
    sx_tensor *grey = sx_tensor_full(3, SHAPE(1, 2, 2), 0.25f);
    sx_tensor *rgb = make_image(3, 4, 6, ramp_x);
    const sx_tensor *in[2] = {grey, rgb};
    const float red[3] = {1, 0, 0};
    const char *caps[2] = {"g", "rgb"};
    sx_tensor *g = sx_image_grid(2, in, 2, 0, 0.5f, caps, red, 1);
    CHECK_NOTNULL(g);
    int64_t cw = sx_image_text_width("rgb", 1);
    CHECK(g && g->shape[0] == 3 && g->shape[1] == 4 + 8 + 2 && g->shape[2] == 2 * cw);
    if (g) {
        /* the grey image is repeated into three channels, centred in its cell */
        int64_t x0 = (cw - 2) / 2, y0 = 1;
        for (int c = 0; c < 3; c++) CHECK(at3(g, c, y0, x0) == 0.25f && at3(g, c, 0, x0) == 0.5f);
        int64_t x1 = cw + (cw - 6) / 2;
        CHECK(at3(g, 2, 0, x1 + 5) == 25.0f);
        /* red captions */
        int64_t red_px = 0, other = 0;
        for (int64_t r = 4; r < g->shape[1]; r++)
            for (int64_t q = 0; q < g->shape[2]; q++) {
                if (at3(g, 0, r, q) == 1 && at3(g, 1, r, q) == 0 && at3(g, 2, r, q) == 0) red_px++;
                else if (at3(g, 0, r, q) != 0.5f) other++;
            }
        CHECK(red_px > 10 && other == 0);
    }
    sx_tensor_free(g);
    sx_tensor_free(grey);
    sx_tensor_free(rgb);
}

/* ---------------------------------------------------------------- bad arguments */

static void test_bad_arguments(void)
{
    sx_tensor *flat = sx_tensor_zeros(2, SHAPE(4, 4));
    sx_tensor *img = sx_tensor_zeros(3, SHAPE(1, 4, 4));
    sx_tensor *two = sx_tensor_zeros(3, SHAPE(2, 4, 4));
    sx_tensor *three = sx_tensor_zeros(3, SHAPE(3, 4, 4));
    sx_tensor *empty = sx_tensor_zeros(3, SHAPE(1, 0, 4));
    float color[3] = {1, 1, 1};

    CHECK(sx_image_resize(NULL, 2, 2) == NULL && error_is("image_resize:"));
    CHECK(sx_image_resize(flat, 2, 2) == NULL && error_is("image_resize:") && strstr(sx_last_error(), "[4, 4]"));
    CHECK(sx_image_resize(empty, 2, 2) == NULL && error_is("image_resize: empty"));
    CHECK(sx_image_resize(img, 0, 2) == NULL && error_is("image_resize:"));
    CHECK(sx_image_resize(img, 2, -1) == NULL);
    CHECK(sx_image_resize(img, SX_IMAGE_MAX_SIDE + 1, 2) == NULL);
    CHECK(sx_image_resize(img, SX_IMAGE_MAX_SIDE, SX_IMAGE_MAX_SIDE) == NULL); /* 2^48 elements */
    CHECK(sx_image_upscale(img, 0) == NULL && error_is("image_upscale:"));
    CHECK(sx_image_upscale(img, 1 << 30) == NULL);

    CHECK(sx_image_draw_text(flat, 0, 0, "a", color, 1) == SX_EINVAL && error_is("image_draw_text:"));
    CHECK(sx_image_draw_text(img, 0, 0, NULL, color, 1) == SX_EINVAL);
    CHECK(sx_image_draw_text(img, 0, 0, "a", NULL, 1) == SX_EINVAL);
    CHECK(sx_image_draw_text(img, 0, 0, "a", color, 0) == SX_EINVAL);
    CHECK(sx_image_draw_text(img, 0, 0, "a", color, SX_IMAGE_MAX_TEXT_SCALE + 1) == SX_EINVAL);
    sx_tensor *leaf = sx_tensor_zeros(3, SHAPE(1, 4, 4));
    leaf->requires_grad = true;
    CHECK(sx_image_draw_text(leaf, 0, 0, "a", color, 1) == SX_EINVAL && strstr(sx_last_error(), "grad"));
    sx_tensor_free(leaf);

    const sx_tensor *ok[2] = {img, three};
    CHECK(sx_image_grid(0, ok, 1, 0, 0, NULL, NULL, 1) == NULL && error_is("image_grid:"));
    CHECK(sx_image_grid(1, NULL, 1, 0, 0, NULL, NULL, 1) == NULL);
    CHECK(sx_image_grid(2, ok, 1, -1, 0, NULL, NULL, 1) == NULL && strstr(sx_last_error(), "pad"));
    CHECK(sx_image_grid(2, ok, 1, 0, 0, NULL, NULL, 0) == NULL && strstr(sx_last_error(), "scale"));
    const sx_tensor *with_null[2] = {img, NULL};
    CHECK(sx_image_grid(2, with_null, 1, 0, 0, NULL, NULL, 1) == NULL && strstr(sx_last_error(), "#2"));
    const sx_tensor *with_flat[2] = {img, flat};
    CHECK(sx_image_grid(2, with_flat, 1, 0, 0, NULL, NULL, 1) == NULL && strstr(sx_last_error(), "#2"));
    const sx_tensor *with_empty[2] = {img, empty};
    CHECK(sx_image_grid(2, with_empty, 1, 0, 0, NULL, NULL, 1) == NULL);
    const sx_tensor *mixed[2] = {two, three};
    CHECK(sx_image_grid(2, mixed, 1, 0, 0, NULL, NULL, 1) == NULL && strstr(sx_last_error(), "channels"));
    const sx_tensor *twos[2] = {two, two}; /* equal channel counts other than 1 and 3 are fine */
    sx_tensor *g = sx_image_grid(2, twos, 1, 0, 0, NULL, NULL, 1);
    CHECK(g && g->shape[0] == 2);
    sx_tensor_free(g);

    sx_tensor_free(flat);
    sx_tensor_free(img);
    sx_tensor_free(two);
    sx_tensor_free(three);
    sx_tensor_free(empty);
}

int main(void)
{
    RUN(test_resize_constant);
    RUN(test_resize_gradient);
    RUN(test_resize_area_exact);
    RUN(test_upscale_and_to_unit);
    RUN(test_text_metrics);
    RUN(test_draw_text);
    RUN(test_grid_sizes);
    RUN(test_grid_mixed);
    RUN(test_bad_arguments);
    int live_after = (int)sx_mem_live();
    CHECK_MSG(live_after == 0, "%d bytes of tensors alive at exit", live_after);
    return check_summary("test_image");
}
