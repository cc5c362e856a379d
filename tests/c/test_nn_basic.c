/*
 * tests/c/test_nn_basic.c — torch.nn's small layers (lib/nn/basic_layers.c)
 * and train/eval mode: BatchNorm2d's normalisation, running statistics
 * (PyTorch's update rule: biased variance in the forward, unbiased in the
 * running average) and gradients in both modes; Dropout's identity in eval
 * mode; ReLU, LeakyReLU, pooling and Flatten as modules; argument errors.
 */
#include "check.h"

static sx_tensor *leaf(sx_tensor *t)
{
    sx_tensor_set_requires_grad(t, true);
    return t;
}

static float at(const sx_tensor *t, int64_t i) { return sx_tensor_data(t)[i]; }

/* ctx: the module; inputs: x, then (optionally) its weight and bias, which
 * the forward reads in place (so gradcheck's perturbations reach them). */
static sx_tensor *f_forward(sx_tensor *const *x, void *m) { return sx_module_forward(m, x[0]); }

static void test_batchnorm_train(void)
{
    sx_module *bn = sx_batchnorm2d_layer_new(&(sx_batchnorm2d_opts){.channels = 2});
    CHECK_NOTNULL(bn);
    if (!bn) return;
    CHECK(bn->training && sx_module_param_count(bn) == 2);
    sx_named_tensors st = {0};
    CHECK_OK(sx_module_state_refs(bn, &st));
    CHECK(st.n == 5 && !strcmp(st.names[2], "running_mean") && !strcmp(st.names[4], "num_batches_tracked"));
    sx_named_tensors_clear(&st);

    /* x [2, 2, 1, 2]: channel 0 holds 1, 3, 5, 7 (mean 4, biased var 5, unbiased 20/3), channel 1 all 2 */
    sx_tensor *x = sx_tensor_from_data(4, SHAPE(2, 2, 1, 2), (const float[]){1, 3, 2, 2, 5, 7, 2, 2});
    sx_tensor *y = sx_module_forward(bn, x);
    CHECK_NOTNULL(y);
    float inv = 1.0f / sqrtf(5.0f + 1e-5f);
    CHECK_NEAR(at(y, 0), -3 * inv, 1e-5);
    CHECK_NEAR(at(y, 1), -1 * inv, 1e-5);
    CHECK_NEAR(at(y, 5), 3 * inv, 1e-5);
    CHECK_NEAR(at(y, 2), 0, 1e-6); /* a constant channel normalises to 0 */
    sx_param *rm = sx_module_param(bn, "running_mean"), *rv = sx_module_param(bn, "running_var");
    sx_param *nb = sx_module_param(bn, "num_batches_tracked");
    CHECK_NEAR(at(rm->tensor, 0), 0.1 * 4, 1e-6);
    CHECK_NEAR(at(rm->tensor, 1), 0.1 * 2, 1e-6);
    CHECK_NEAR(at(rv->tensor, 0), 0.9 + 0.1 * 20.0 / 3.0, 1e-5);
    CHECK_NEAR(at(rv->tensor, 1), 0.9, 1e-6);
    CHECK(at(nb->tensor, 0) == 1.0f);
    CHECK(!rm->tensor->requires_grad && !rm->tensor->grad_fn);

    /* gradients in training mode, through the batch statistics, to x, weight and bias */
    sx_tensor *xg = leaf(RANDN(3, 3, 2, 2, 3));
    sx_tensor *ins[3] = {xg, sx_module_param(bn, "weight")->tensor, sx_module_param(bn, "bias")->tensor};
    sx_tensor_fill(ins[1], 1.5f);
    GRADCHECK("batchnorm2d train", f_forward, bn, 3, ins);
    GRADGRADCHECK("batchnorm2d train", f_forward, bn, 3, ins);

    /* eval mode: the running statistics, so a sample's output does not depend on the batch */
    sx_module_set_training(bn, false);
    sx_tensor *ye = sx_module_forward(bn, x);
    float m0 = at(rm->tensor, 0), v0 = at(rv->tensor, 0), w0 = at(ins[1], 0), b0 = at(ins[2], 0);
    CHECK(ye && fabsf(at(ye, 0) - ((1 - m0) / sqrtf(v0 + 1e-5f) * w0 + b0)) < 1e-5f);
    float before = at(nb->tensor, 0);
    sx_tensor *ye2 = sx_module_forward(bn, x);
    CHECK(at(nb->tensor, 0) == before); /* eval does not touch the statistics */
    GRADCHECK("batchnorm2d eval", f_forward, bn, 3, ins);

    /* errors */
    sx_tensor *bad = sx_tensor_zeros(4, SHAPE(2, 3, 2, 2));
    CHECK(sx_module_forward(bn, bad) == NULL && has(sx_last_error(), "BatchNorm2d forward: expected x [N, 2, H, W]"));
    sx_module_set_training(bn, true);
    sx_tensor *one = sx_tensor_zeros(4, SHAPE(1, 2, 1, 1));
    CHECK(sx_module_forward(bn, one) == NULL && has(sx_last_error(), "more than one value per channel"));
    CHECK(sx_batchnorm2d_layer_new(&(sx_batchnorm2d_opts){.channels = 0}) == NULL);
    CHECK(sx_batchnorm2d_layer_new(&(sx_batchnorm2d_opts){.channels = 2, .momentum = 2}) == NULL);
    sx_module *na = sx_batchnorm2d_layer_new(&(sx_batchnorm2d_opts){.channels = 2, .no_affine = true});
    CHECK(na && sx_module_param_count(na) == 0);
    sx_module_free(na);

    sx_tensor *list[] = {x, y, xg, ye, ye2, bad, one};
    for (size_t i = 0; i < sizeof list / sizeof *list; i++) sx_tensor_free(list[i]);
    sx_module_free(bn);
}

static void test_small_layers(void)
{
    sx_tensor *x = sx_tensor_from_data(4, SHAPE(1, 1, 2, 2), (const float[]){-1, 2, -3, 4});
    sx_module *relu = sx_relu_layer_new(), *leaky = sx_leaky_relu_layer_new(0.1f);
    sx_module *mp = sx_max_pool2d_layer_new(2), *ap = sx_avg_pool2d_layer_new(2), *fl = sx_flatten_layer_new(1, -1);
    sx_tensor *r = sx_module_forward(relu, x), *l = sx_module_forward(leaky, x);
    sx_tensor *m = sx_module_forward(mp, x), *a = sx_module_forward(ap, x), *f = sx_module_forward(fl, x);
    CHECK(r && at(r, 0) == 0 && at(r, 3) == 4);
    CHECK(l && fabsf(at(l, 2) + 0.3f) < 1e-6f);
    CHECK(m && m->ndim == 4 && at(m, 0) == 4);
    CHECK(a && at(a, 0) == 0.5f);
    CHECK(f && f->ndim == 2 && f->shape[0] == 1 && f->shape[1] == 4);
    CHECK(sx_module_param_count(relu) == 0 && !strcmp(mp->type, "MaxPool2d"));
    CHECK(sx_module_forward(mp, NULL) == NULL);

    /* Dropout: active in training mode, the identity (the same tensor) in eval mode */
    sx_module *dr = sx_dropout_layer_new(0.5f);
    sx_tensor *big = sx_tensor_ones(1, SHAPE(1000));
    sx_manual_seed(5);
    sx_tensor *d = sx_module_forward(dr, big);
    int zeros = 0, twos = 0;
    for (int i = 0; i < 1000; i++) {
        zeros += at(d, i) == 0.0f;
        twos += at(d, i) == 2.0f;
    }
    CHECK_MSG(zeros + twos == 1000 && zeros > 400 && zeros < 600, "dropout: %d zeros, %d twos", zeros, twos);
    sx_module_set_training(dr, false);
    sx_tensor *e = sx_module_forward(dr, big);
    CHECK(e == big);
    CHECK(sx_dropout_layer_new(1.0f) == NULL && has(sx_last_error(), "Dropout: probability 1 outside [0, 1)"));
    CHECK(sx_max_pool2d_layer_new(0) == NULL && sx_leaky_relu_layer_new(INFINITY) == NULL);

    /* train/eval reaches every module below */
    sx_module *root = sx_module_new("Net");
    sx_module *inner = sx_module_new("Block");
    sx_module_add_child(inner, "drop", sx_dropout_layer_new(0.1f));
    sx_module_add_child(root, "block", inner);
    sx_module_add_child(root, "bn", sx_batchnorm2d_layer_new(&(sx_batchnorm2d_opts){.channels = 1}));
    sx_module_set_training(root, false);
    CHECK(!root->training && !inner->training && !sx_module_child(inner, "drop")->training &&
          !sx_module_child(root, "bn")->training);
    sx_module_set_training(root, true);
    CHECK(sx_module_child(inner, "drop")->training);

    sx_tensor *list[] = {x, r, l, m, a, f, big, d, e};
    for (size_t i = 0; i < sizeof list / sizeof *list; i++) sx_tensor_free(list[i]);
    sx_module *mods[] = {relu, leaky, mp, ap, fl, dr, root};
    for (size_t i = 0; i < sizeof mods / sizeof *mods; i++) sx_module_free(mods[i]);
}

int main(void)
{
    RUN(test_batchnorm_train);
    RUN(test_small_layers);
    return check_summary("test_nn_basic");
}
