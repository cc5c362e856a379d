/*
 * tests/c/test_classifier.c — the classifier: shapes, parameter names,
 * gradients through it, the perceptual distance, augmentation, and that a
 * few hundred Adam steps learn a toy two-class problem.
 */
#include "check.h"

static void test_shapes_and_names(void)
{
    sx_manual_seed(1);
    sx_cnn_config c = sx_cnn_default_config(10);
    sx_module *m = sx_cnn_new(&c);
    CHECK_NOTNULL(m);
    sx_tensor *x = RANDN(2, 3, 1, 32, 32);
    sx_cnn_output o;
    CHECK_OK(sx_cnn_forward(m, x, true, true, &o));
    CHECK(o.logits->ndim == 2 && o.logits->shape[0] == 3 && o.logits->shape[1] == 10);
    CHECK(o.penultimate->shape[1] == 256);
    CHECK(o.n_features == 3);
    CHECK(o.features[0]->shape[1] == 32 && o.features[0]->shape[2] == 32);
    CHECK(o.features[2]->shape[1] == 128 && o.features[2]->shape[3] == 8);
    sx_cnn_output_clear(&o);
    CHECK(sx_module_find_param(m, "block1.conv1.weight") != NULL);
    CHECK(sx_module_find_param(m, "out.bias") != NULL);
    CHECK(sx_module_param_count(m) == 2 * (3 * 2 + 2));

    /* RGB at 64 with 4 blocks */
    sx_cnn_config c3 = {.resolution = 64, .img_channels = 3, .n_classes = 2, .n_blocks = 4,
                               .channels = {8, 8, 16, 16}, .convs_per_block = 1, .hidden = 16};
    sx_module *m3 = sx_cnn_new(&c3);
    sx_tensor *x3 = RANDN(3, 2, 3, 64, 64);
    sx_tensor *l3 = sx_cnn_logits(m3, x3);
    CHECK(l3 && l3->shape[0] == 2 && l3->shape[1] == 2);

    /* refused: wrong input shape, bad configs */
    CHECK(sx_cnn_logits(m, x3) == NULL);
    CHECK(strstr(sx_last_error(), "expected [N, 1, 32, 32]") != NULL);
    sx_cnn_config bad = c;
    bad.resolution = 30;
    CHECK(sx_cnn_new(&bad) == NULL);
    bad = c;
    bad.n_classes = 1;
    CHECK(sx_cnn_new(&bad) == NULL);
    sx_tensor_free(x);
    sx_tensor_free(x3);
    sx_tensor_free(l3);
    sx_module_free(m);
    sx_module_free(m3);
}

static sx_tensor *f_logits(sx_tensor *const *x, void *ctx) { return sx_cnn_logits(ctx, x[0]); }
static sx_tensor *f_perc(sx_tensor *const *x, void *ctx) { return sx_classifier_perceptual(ctx, x[0], x[1]); }

static void test_gradients(void)
{
    sx_manual_seed(2);
    sx_cnn_config c = {.resolution = 8, .img_channels = 1, .n_classes = 3, .n_blocks = 2,
                              .channels = {4, 6}, .convs_per_block = 1, .hidden = 5};
    sx_module *m = sx_cnn_new(&c);
    sx_tensor *x = RANDN(3, 2, 1, 8, 8), *y = RANDN(4, 2, 1, 8, 8);
    sx_tensor_set_requires_grad(x, true);
    sx_tensor_set_requires_grad(y, true);
    sx_tensor *xy[2] = {x, y};
    /* relu and max-pool kinks make finite differences noisy: loose tolerance */
    CHECK(gradcheck_ex("classifier logits", f_logits, m, 1, &x, 1e-3, 5e-3, 5e-2, 30) <= 1.0);
    /* the perceptual distance of the CNN through the classifier interface */
    sx_classifier *C = sx_classifier_from_cnn(m, NULL);
    CHECK(gradcheck_ex("perceptual", f_perc, C, 2, xy, 1e-3, 5e-3, 5e-2, 30) <= 1.0);

    /* perceptual distance: zero for identical images, positive otherwise */
    sx_tensor *same = sx_classifier_perceptual(C, x, x), *diff = sx_classifier_perceptual(C, x, y);
    CHECK(same->shape[0] == 2);
    CHECK_NEAR(sx_tensor_data(same)[0], 0.0, 1e-6);
    CHECK(sx_tensor_data(diff)[0] > 1e-3);
    sx_tensor_free(same);
    sx_tensor_free(diff);
    sx_tensor_free(x);
    sx_tensor_free(y);
    sx_classifier_free(C);
    sx_module_free(m);
}

static void test_augment(void)
{
    sx_tensor *a = sx_tensor_arange(16), *img = sx_reshape(a, 4, SHAPE(1, 1, 4, 4));
    /* flip only */
    sx_tensor *f = sx_augment_shift_flip(img, 0, 1.0f, -1.0f);
    CHECK_NEAR(sx_tensor_get(f, (int64_t[]){0, 0, 1, 0}), 7, 0);
    /* shifts keep values from the image or the fill */
    sx_manual_seed(3);
    sx_tensor *many = sx_expand(img, 4, SHAPE(64, 1, 4, 4));
    sx_tensor *s = sx_augment_shift_flip(many, 1, 0.0f, -1.0f);
    int moved = 0;
    for (int64_t n = 0; n < 64; n++) {
        float v = sx_tensor_get(s, (int64_t[]){n, 0, 1, 1});
        CHECK(v == -1.0f || (v >= 0 && v < 16));
        moved += v != 5.0f;
    }
    CHECK(moved > 20 && moved < 64);
    CHECK(sx_augment_shift_flip(a, 1, 0.5f, 0) == NULL);
    sx_tensor *all[] = {a, img, f, many, s};
    for (int i = 0; i < 5; i++) sx_tensor_free(all[i]);
}

/* Two classes: a bright square top-left vs bottom-right, plus noise. */
static void toy_batch(int n, sx_tensor **x, sx_tensor **y)
{
    *x = sx_tensor_randn(4, SHAPE(n, 1, 8, 8));
    *y = sx_tensor_zeros(1, SHAPE(n));
    float *p = sx_tensor_data(*x), *l = sx_tensor_data(*y);
    for (int i = 0; i < n; i++) {
        int cls = sx_rng_uniform() < 0.5;
        l[i] = (float)cls;
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 3; c++) p[i * 64 + (cls ? (5 + r) * 8 + 5 + c : r * 8 + c)] += 2.0f;
    }
}

static void test_learns_toy_problem(void)
{
    sx_manual_seed(4);
    sx_cnn_config c = {.resolution = 8, .img_channels = 1, .n_classes = 2, .n_blocks = 2,
                              .channels = {8, 8}, .convs_per_block = 1, .hidden = 16, .dropout = 0.1f};
    sx_module *m = sx_cnn_new(&c);
    sx_named_tensors params = {0};
    CHECK_OK(sx_module_parameters(m, &params));
    sx_param_group g = {params.n, params.tensors, 0};
    sx_adam_opts ao = sx_adam_defaults();
    ao.lr = 3e-3f;
    sx_optim *opt = sx_adam_new(1, &g, &ao);
    CHECK_NOTNULL(opt);
    for (int it = 0; it < 150; it++) {
        sx_tensor *x, *y;
        toy_batch(32, &x, &y);
        sx_cnn_output o;
        CHECK_OK(sx_cnn_forward(m, x, true, false, &o));
        sx_tensor *loss = sx_cross_entropy(o.logits, y);
        sx_optim_zero_grad(opt);
        sx_backward(loss, NULL, false);
        sx_optim_step(opt);
        sx_tensor_free(loss);
        sx_cnn_output_clear(&o);
        sx_tensor_free(x);
        sx_tensor_free(y);
    }
    sx_tensor *x, *y;
    toy_batch(200, &x, &y);
    sx_tensor *logits = sx_cnn_logits(m, x), *pred = sx_argmax(logits, 1);
    int correct = 0;
    for (int i = 0; i < 200; i++) correct += sx_tensor_data(pred)[i] == sx_tensor_data(y)[i];
    CHECK_MSG(correct >= 190, "%d / 200 correct", correct);
    sx_tensor *all[] = {x, y, logits, pred};
    for (int i = 0; i < 4; i++) sx_tensor_free(all[i]);
    sx_optim_free(opt);
    sx_named_tensors_clear(&params);
    sx_module_free(m);
}

int main(void)
{
    RUN(test_shapes_and_names);
    RUN(test_gradients);
    RUN(test_augment);
    RUN(test_learns_toy_problem);
    return check_summary("test_cnn");
}
