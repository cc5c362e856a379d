/*
 * tests/c/test_nn.c — modules, layers, optimisers and EMA: shapes, gradient
 * checks of Linear and Conv2d (first and second order, with respect to the
 * input and the parameters), equalized-lr gains, state dicts and their
 * errors, SGD and Adam against hand-computed steps and on Rosenbrock, exact
 * resume from exported optimiser state, and the EMA formula.
 */
#include "check.h"

/* ---------------------------------------------------------------- helpers */

static float at(const sx_tensor *t, int64_t i) { return sx_tensor_data(t)[i]; }

static sx_tensor *weight_of(sx_module *m) { return sx_module_param(m, "weight")->tensor; }
static sx_tensor *bias_of(sx_module *m) { return sx_module_param(m, "bias")->tensor; }

static bool has_text(const char *s, const char *needle) { return strstr(s, needle) != NULL; }

static double mean_std(const sx_tensor *t, double *mean)
{
    int64_t n = sx_tensor_numel(t);
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++) {
        s += at(t, i);
        s2 += (double)at(t, i) * at(t, i);
    }
    *mean = s / (double)n;
    return sqrt(s2 / (double)n - *mean * *mean);
}

/* ---------------------------------------------------------------- layers */

static void test_linear_shapes(void)
{
    sx_manual_seed(1);
    sx_module *m = sx_linear_layer_new(&(sx_linear_opts){.in = 5, .out = 3});
    CHECK_NOTNULL(m);
    if (!m) return;
    CHECK(strcmp(m->type, "Linear") == 0);
    CHECK(m->n_params == 2 && sx_module_param_count(m) == 2 && sx_module_param_numel(m) == 18);
    CHECK(weight_of(m)->ndim == 2 && weight_of(m)->shape[0] == 3 && weight_of(m)->shape[1] == 5);
    CHECK(bias_of(m)->ndim == 1 && bias_of(m)->shape[0] == 3);
    CHECK(weight_of(m)->requires_grad && bias_of(m)->requires_grad);

    struct {
        int nd;
        int64_t shape[3];
    } cases[] = {{1, {5}}, {2, {4, 5}}, {3, {2, 4, 5}}};
    for (int c = 0; c < 3; c++) {
        sx_tensor *x = sx_tensor_randn(cases[c].nd, cases[c].shape);
        sx_tensor *y = sx_module_forward(m, x);
        CHECK_NOTNULL(y);
        if (y) {
            CHECK(y->ndim == cases[c].nd && y->shape[y->ndim - 1] == 3);
            for (int d = 0; d + 1 < cases[c].nd; d++) CHECK(y->shape[d] == cases[c].shape[d]);
        }
        sx_tensor_free(x);
        sx_tensor_free(y);
    }
    sx_tensor *bad = RANDN(2, 4, 6);
    sx_tensor *y = sx_linear_layer_forward(m, bad);
    CHECK(y == NULL && has_text(sx_last_error(), "[4, 6]"));
    CHECK(sx_linear_layer_forward(m, NULL) == NULL);
    sx_tensor_free(bad);
    sx_module_free(m);

    m = sx_linear_layer_new(&(sx_linear_opts){.in = 5, .out = 3, .no_bias = true});
    CHECK(m && m->n_params == 1 && sx_module_param(m, "bias") == NULL);
    sx_module_free(m);

    CHECK(sx_linear_layer_new(&(sx_linear_opts){.in = 0, .out = 3}) == NULL);
    CHECK(has_text(sx_last_error(), "in and out must be positive"));
    CHECK(sx_linear_layer_new(&(sx_linear_opts){.in = 2, .out = 3, .lr_mul = -1}) == NULL);
    CHECK(sx_linear_layer_new(NULL) == NULL);
}

static void test_conv_shapes(void)
{
    sx_manual_seed(2);
    sx_module *m = sx_conv2d_layer_new(
        &(sx_conv2d_layer_opts){.in = 4, .out = 6, .kernel = 3, .stride = 2, .padding = 1, .groups = 2});
    CHECK_NOTNULL(m);
    if (!m) return;
    sx_tensor *w = weight_of(m);
    CHECK(w->ndim == 4 && w->shape[0] == 6 && w->shape[1] == 2 && w->shape[2] == 3 && w->shape[3] == 3);
    CHECK(bias_of(m)->shape[0] == 6);
    sx_tensor *x = RANDN(3, 2, 4, 8, 8);
    sx_tensor *y = sx_module_forward(m, x);
    CHECK_NOTNULL(y);
    if (y) CHECK(y->shape[0] == 2 && y->shape[1] == 6 && y->shape[2] == 4 && y->shape[3] == 4);
    sx_tensor_free(y);
    sx_tensor_free(x);

    sx_tensor *bad = RANDN(4, 2, 3, 8, 8);
    CHECK(sx_conv2d_layer_forward(m, bad) == NULL && has_text(sx_last_error(), "channels"));
    sx_tensor_free(bad);
    /* a Linear handed to the conv forward is refused, not misread */
    sx_module *lin = sx_linear_layer_new(&(sx_linear_opts){.in = 2, .out = 2});
    sx_tensor *x2 = RANDN(5, 1, 2, 4, 4);
    CHECK(sx_conv2d_layer_forward(lin, x2) == NULL && has_text(sx_last_error(), "not a Conv2d"));
    sx_tensor_free(x2);
    sx_module_free(lin);
    sx_module_free(m);

    CHECK(sx_conv2d_layer_new(&(sx_conv2d_layer_opts){.in = 4, .out = 6, .kernel = 3, .groups = 4}) == NULL);
    CHECK(has_text(sx_last_error(), "groups"));
    CHECK(sx_conv2d_layer_new(&(sx_conv2d_layer_opts){.in = 4, .out = 6, .kernel = 0}) == NULL);
    CHECK(sx_conv2d_layer_new(&(sx_conv2d_layer_opts){.in = 4, .out = 6, .kernel = 3, .padding = -1}) == NULL);
}

/* Linear forward against y = x (w gain)^T + b bgain by loops. */
static void test_equalized_gain(void)
{
    sx_manual_seed(3);
    const int64_t in = 16, out = 4;
    const float lr_mul = 0.01f;
    sx_module *m = sx_linear_layer_new(
        &(sx_linear_opts){.in = in, .out = out, .equalized = true, .lr_mul = lr_mul, .bias_init = 0.5f});
    CHECK_NOTNULL(m);
    if (!m) return;
    sx_param *pw = sx_module_param(m, "weight"), *pb = sx_module_param(m, "bias");
    CHECK_NEAR(pw->gain, lr_mul / 4.0f, 1e-9);
    CHECK_NEAR(pb->gain, lr_mul, 1e-9);
    CHECK_NEAR(pw->lr_mul, lr_mul, 1e-9);
    /* the initial effective bias is bias_init */
    CHECK_NEAR(at(pb->tensor, 0) * pb->gain, 0.5, 1e-6);
    float bias_vals[4] = {0.3f, -1.0f, 2.0f, 7.0f};
    memcpy(sx_tensor_data(pb->tensor), bias_vals, sizeof bias_vals);

    sx_tensor *x = RANDN(4, 3, in);
    sx_tensor *y = sx_module_forward(m, x);
    CHECK_NOTNULL(y);
    double worst = 0;
    for (int64_t r = 0; y && r < 3; r++)
        for (int64_t o = 0; o < out; o++) {
            double s = 0;
            for (int64_t i = 0; i < in; i++)
                s += (double)at(x, r * in + i) * at(pw->tensor, o * in + i) * (lr_mul / 4.0);
            s += bias_vals[o] * lr_mul;
            worst = fmax(worst, fabs(s - at(y, r * out + o)));
        }
    CHECK_NEAR(worst, 0, 1e-4);
    sx_tensor_free(x);
    sx_tensor_free(y);
    sx_module_free(m);

    /* stored weights ~ N(0, 1/lr_mul^2); effective ~ N(0, 1/fan_in) */
    sx_manual_seed(4);
    m = sx_linear_layer_new(&(sx_linear_opts){.in = 256, .out = 64, .equalized = true, .lr_mul = lr_mul});
    double mean, sd = mean_std(weight_of(m), &mean);
    CHECK_NEAR(sd, 100.0, 3.0);
    CHECK_NEAR(mean, 0.0, 3.0);
    CHECK_NEAR(sd * sx_module_param(m, "weight")->gain, 1.0 / 16.0, 0.002);
    sx_module_free(m);

    /* conv: gain = lr_mul / sqrt(in/groups * k * k) */
    m = sx_conv2d_layer_new(&(sx_conv2d_layer_opts){
        .in = 8, .out = 4, .kernel = 3, .padding = 1, .groups = 2, .equalized = true, .lr_mul = 2.0f});
    CHECK_NEAR(sx_module_param(m, "weight")->gain, 2.0 / 6.0, 1e-7);
    sx_tensor *cx = RANDN(5, 1, 8, 5, 5);
    sx_tensor *cy = sx_module_forward(m, cx);
    /* the same conv by the op with the scaled weight */
    sx_tensor *we = sx_mul_scalar(weight_of(m), 2.0f / 6.0f), *be = sx_mul_scalar(bias_of(m), 2.0f);
    sx_tensor *ref = sx_conv2d(cx, we, be, &(sx_conv2d_opts){.padding = {1, 1}, .groups = 2});
    CHECK(cy && ref && max_abs_diff(cy, ref) < 1e-5);
    sx_tensor_free(cx);
    sx_tensor_free(cy);
    sx_tensor_free(we);
    sx_tensor_free(be);
    sx_tensor_free(ref);
    sx_module_free(m);

    /* plain layer: gains 1, He-uniform weights inside +-sqrt(6/fan_in), bias = bias_init */
    sx_manual_seed(5);
    m = sx_linear_layer_new(&(sx_linear_opts){.in = 24, .out = 32, .bias_init = 0.25f});
    CHECK(sx_module_param(m, "weight")->gain == 1.0f && sx_module_param(m, "bias")->gain == 1.0f);
    double bound = sqrt(6.0 / 24.0), mx = 0;
    for (int64_t i = 0; i < 24 * 32; i++) mx = fmax(mx, fabs(at(weight_of(m), i)));
    CHECK(mx <= bound && mx > 0.9 * bound);
    sd = mean_std(weight_of(m), &mean);
    CHECK_NEAR(sd, sqrt(2.0 / 24.0), 0.03);
    CHECK(at(bias_of(m), 0) == 0.25f && at(bias_of(m), 31) == 0.25f);
    sx_module_free(m);

    /* the same seed gives the same layer */
    sx_manual_seed(9);
    sx_module *a = sx_linear_layer_new(&(sx_linear_opts){.in = 7, .out = 5});
    sx_manual_seed(9);
    sx_module *b = sx_linear_layer_new(&(sx_linear_opts){.in = 7, .out = 5});
    CHECK(max_abs_diff(weight_of(a), weight_of(b)) == 0);
    sx_module_free(a);
    sx_module_free(b);
}

/* Gradient checks: inputs {x, weight, bias} where weight and bias are the
 * module's own leaves, so perturbing them perturbs the layer. */
static sx_tensor *call_layer(sx_tensor *const *xs, void *ctx) { return sx_module_forward(ctx, xs[0]); }

static void check_layer_grads(const char *what, sx_module *m, sx_tensor *x)
{
    sx_tensor_set_requires_grad(x, true);
    sx_tensor *xs[3] = {x, weight_of(m), bias_of(m)};
    GRADCHECK(what, call_layer, m, 3, xs);
    GRADGRADCHECK(what, call_layer, m, 3, xs);
}

static void test_layer_gradcheck(void)
{
    sx_manual_seed(11);
    sx_module *lin =
        sx_linear_layer_new(&(sx_linear_opts){.in = 6, .out = 4, .equalized = true, .lr_mul = 0.5f, .bias_init = 1});
    sx_tensor *x = RANDN(12, 3, 6);
    check_layer_grads("Linear equalized", lin, x);
    sx_tensor_free(x);
    sx_module_free(lin);

    sx_manual_seed(12);
    lin = sx_linear_layer_new(&(sx_linear_opts){.in = 5, .out = 3});
    x = RANDN(13, 2, 2, 5);
    check_layer_grads("Linear plain 3-D input", lin, x);
    sx_tensor_free(x);
    sx_module_free(lin);

    sx_manual_seed(14);
    sx_module *conv = sx_conv2d_layer_new(&(sx_conv2d_layer_opts){
        .in = 4, .out = 4, .kernel = 3, .stride = 2, .padding = 1, .groups = 2, .equalized = true, .lr_mul = 0.7f});
    x = RANDN(15, 2, 4, 5, 5);
    check_layer_grads("Conv2d equalized strided grouped", conv, x);
    sx_tensor_free(x);
    sx_module_free(conv);

    sx_manual_seed(16);
    conv = sx_conv2d_layer_new(&(sx_conv2d_layer_opts){.in = 3, .out = 2, .kernel = 1});
    x = RANDN(17, 1, 3, 4, 4);
    check_layer_grads("Conv2d 1x1", conv, x);
    sx_tensor_free(x);
    sx_module_free(conv);

    /* backward reaches the stored leaves scaled by the gain */
    sx_manual_seed(18);
    lin = sx_linear_layer_new(&(sx_linear_opts){.in = 4, .out = 1, .equalized = true, .lr_mul = 0.1f});
    x = sx_tensor_ones(2, SHAPE(1, 4));
    sx_tensor *y = sx_module_forward(lin, x);
    CHECK_OK(sx_backward(y, NULL, false));
    CHECK(weight_of(lin)->grad && bias_of(lin)->grad);
    if (weight_of(lin)->grad) CHECK_NEAR(at(weight_of(lin)->grad, 2), 0.1 / 2.0, 1e-7);
    if (bias_of(lin)->grad) CHECK_NEAR(at(bias_of(lin)->grad, 0), 0.1, 1e-7);
    sx_module_zero_grad(lin);
    CHECK(weight_of(lin)->grad == NULL && bias_of(lin)->grad == NULL);
    sx_tensor_free(y);
    sx_tensor_free(x);
    sx_module_free(lin);
}

/* ---------------------------------------------------------------- module tree */

/* Net: scale [2] (param), w_avg [3] (buffer), block1 { conv: Conv2d 2->3 k3, fc: Linear 3->2 }, head: Linear 2->1 */
static sx_module *make_net(unsigned seed)
{
    sx_manual_seed(seed);
    sx_module *net = sx_module_new("Net");
    sx_module *block = sx_module_new("Block");
    sx_status st = sx_module_add_param(net, "scale", sx_tensor_randn(1, SHAPE(2)), 1.0f, 1.0f);
    if (st == SX_OK) st = sx_module_add_buffer(net, "w_avg", sx_tensor_randn(1, SHAPE(3)));
    if (st == SX_OK)
        st = sx_module_add_child(block, "conv",
                                 sx_conv2d_layer_new(&(sx_conv2d_layer_opts){.in = 2, .out = 3, .kernel = 3}));
    if (st == SX_OK) st = sx_module_add_child(block, "fc", sx_linear_layer_new(&(sx_linear_opts){.in = 3, .out = 2}));
    if (st == SX_OK) st = sx_module_add_child(net, "block1", block);
    else sx_module_free(block);
    if (st == SX_OK) st = sx_module_add_child(net, "head", sx_linear_layer_new(&(sx_linear_opts){.in = 2, .out = 1}));
    if (st != SX_OK) {
        fprintf(stderr, "make_net: %s\n", sx_last_error());
        sx_module_free(net);
        return NULL;
    }
    return net;
}

static void test_module_tree(void)
{
    sx_module *net = make_net(21);
    CHECK_NOTNULL(net);
    if (!net) return;
    static const char *param_names[] = {"scale", "block1.conv.weight", "block1.conv.bias", "block1.fc.weight",
                                        "block1.fc.bias", "head.weight", "head.bias"};
    sx_named_tensors ps = {0};
    CHECK_OK(sx_module_parameters(net, &ps));
    CHECK(ps.n == 7);
    for (int i = 0; i < ps.n && i < 7; i++) CHECK_MSG(strcmp(ps.names[i], param_names[i]) == 0, "%s", ps.names[i]);
    CHECK(sx_module_param_count(net) == 7);
    CHECK(sx_module_param_numel(net) == 2 + 3 * 2 * 9 + 3 + 6 + 2 + 2 + 1);
    /* live tensors, not copies */
    sx_module *conv = sx_module_child(sx_module_child(net, "block1"), "conv");
    CHECK(ps.n > 1 && ps.tensors[1] == weight_of(conv));
    sx_param *fp = sx_module_find_param(net, "block1.conv.weight");
    CHECK(fp && fp->tensor == weight_of(conv));
    sx_param *buf = sx_module_find_param(net, "w_avg");
    CHECK(buf && buf->buffer && !buf->tensor->requires_grad);
    CHECK(sx_module_find_param(net, "block1.nothing.weight") == NULL &&
          has_text(sx_last_error(), "block1.nothing.weight"));
    CHECK(sx_module_find_param(net, "block1") == NULL);
    sx_named_tensors_clear(&ps);
    CHECK(ps.n == 0 && ps.names == NULL);

    /* state dict: parameters and the buffer, as copies */
    sx_named_tensors sd = {0};
    CHECK_OK(sx_module_state_dict(net, &sd));
    CHECK(sd.n == 8 && strcmp(sd.names[1], "w_avg") == 0);
    CHECK(sd.n == 8 && sd.tensors[2] != weight_of(conv) && max_abs_diff(sd.tensors[2], weight_of(conv)) == 0);
    CHECK(!sd.tensors[0]->requires_grad);

    /* names: no dots, no duplicates, no cycles */
    sx_module *extra = sx_module_new("X");
    CHECK(sx_module_add_param(extra, "a.b", sx_tensor_zeros(1, SHAPE(1)), 1, 1) == SX_EINVAL);
    CHECK(sx_module_add_param(extra, "", sx_tensor_zeros(1, SHAPE(1)), 1, 1) == SX_EINVAL);
    CHECK_OK(sx_module_add_param(extra, "a", sx_tensor_zeros(1, SHAPE(1)), 1, 1));
    CHECK(sx_module_add_buffer(extra, "a", sx_tensor_zeros(1, SHAPE(1))) == SX_EINVAL &&
          has_text(sx_last_error(), "already"));
    sx_tensor *nonleaf_src = sx_tensor_ones(1, SHAPE(2));
    sx_tensor_set_requires_grad(nonleaf_src, true);
    CHECK(sx_module_add_param(extra, "nl", sx_mul_scalar(nonleaf_src, 2), 1, 1) == SX_EINVAL);
    sx_tensor_free(nonleaf_src);
    CHECK(sx_module_add_child(extra, "self", sx_module_retain(extra)) == SX_EINVAL &&
          has_text(sx_last_error(), "cycle"));
    CHECK(extra->refcount == 1);
    /* a failed constructor passed straight in: its own message survives */
    CHECK(sx_module_add_child(extra, "bad", sx_linear_layer_new(&(sx_linear_opts){.in = 0, .out = 1})) == SX_EINVAL &&
          has_text(sx_last_error(), "in and out must be positive"));
    CHECK(extra->n_children == 0);
    CHECK(sx_module_forward(extra, NULL) == NULL && has_text(sx_last_error(), "no single-input forward"));
    sx_module_free(extra);

    /* load into a differently initialised twin */
    sx_module *twin = make_net(22);
    sx_module *tconv = sx_module_child(sx_module_child(twin, "block1"), "conv");
    CHECK(max_abs_diff(weight_of(tconv), weight_of(conv)) > 0);
    CHECK_OK(sx_module_load_state_dict(twin, &sd, true));
    sx_named_tensors sd2 = {0};
    CHECK_OK(sx_module_state_dict(twin, &sd2));
    double worst = 0;
    for (int i = 0; i < sd.n && sd2.n == sd.n; i++) worst = fmax(worst, max_abs_diff(sd.tensors[i], sd2.tensors[i]));
    CHECK(sd2.n == sd.n && worst == 0);
    /* the copies are snapshots: writing to one does not reach the model */
    sx_tensor_fill(sd2.tensors[2], 42.0f);
    CHECK(at(weight_of(tconv), 0) != 42.0f);
    sx_named_tensors_clear(&sd2);
    sx_module_free(twin);

    /* load errors: each names the entry, and nothing is written */
    sx_module *victim = make_net(23);
    sx_named_tensors before = {0};
    sx_module_state_dict(victim, &before);

    sx_named_tensors missing = {0};
    for (int i = 0; i < sd.n; i++)
        if (strcmp(sd.names[i], "head.bias") != 0)
            sx_named_tensors_push(&missing, sd.names[i], sx_tensor_retain(sd.tensors[i]));
    CHECK(sx_module_load_state_dict(victim, &missing, true) == SX_EINVAL);
    CHECK_MSG(has_text(sx_last_error(), "missing entry 'head.bias'"), "%s", sx_last_error());

    sx_named_tensors unexpected = {0};
    for (int i = 0; i < sd.n; i++) sx_named_tensors_push(&unexpected, sd.names[i], sx_tensor_retain(sd.tensors[i]));
    sx_named_tensors_push(&unexpected, "block2.fc.weight", sx_tensor_zeros(2, SHAPE(2, 3)));
    CHECK(sx_module_load_state_dict(victim, &unexpected, true) == SX_EINVAL);
    CHECK_MSG(has_text(sx_last_error(), "unexpected entry 'block2.fc.weight'"), "%s", sx_last_error());

    sx_named_tensors wrong = {0};
    for (int i = 0; i < sd.n; i++)
        sx_named_tensors_push(&wrong, sd.names[i],
                              strcmp(sd.names[i], "block1.fc.weight") == 0 ? sx_tensor_zeros(2, SHAPE(3, 2))
                                                                           : sx_tensor_retain(sd.tensors[i]));
    CHECK(sx_module_load_state_dict(victim, &wrong, true) == SX_EINVAL);
    CHECK_MSG(has_text(sx_last_error(), "'block1.fc.weight' has shape [3, 2], expected [2, 3]"), "%s",
              sx_last_error());
    /* even non-strict loading refuses a wrong shape */
    CHECK(sx_module_load_state_dict(victim, &wrong, false) == SX_EINVAL);

    sx_named_tensors after = {0};
    sx_module_state_dict(victim, &after);
    worst = 0;
    for (int i = 0; i < before.n; i++) worst = fmax(worst, max_abs_diff(before.tensors[i], after.tensors[i]));
    CHECK(worst == 0);

    /* non-strict: the missing entry keeps its value, the rest load */
    CHECK_OK(sx_module_load_state_dict(victim, &missing, false));
    sx_module *vconv = sx_module_child(sx_module_child(victim, "block1"), "conv");
    CHECK(max_abs_diff(weight_of(vconv), weight_of(conv)) == 0);
    CHECK(max_abs_diff(sx_module_find_param(victim, "head.bias")->tensor,
                       sx_named_tensors_get(&before, "head.bias")) == 0);

    sx_named_tensors_clear(&missing);
    sx_named_tensors_clear(&unexpected);
    sx_named_tensors_clear(&wrong);
    sx_named_tensors_clear(&before);
    sx_named_tensors_clear(&after);
    sx_module_free(victim);
    sx_named_tensors_clear(&sd);
    sx_module_free(net);
}

/* ---------------------------------------------------------------- optimisers */

/* Sets p->grad to a copy of the given values. */
static void set_grad(sx_tensor *p, const float *g)
{
    sx_tensor_zero_grad(p);
    p->grad = sx_tensor_from_data(p->ndim, p->shape, g);
}

static sx_tensor *param(int64_t n, const float *v)
{
    sx_tensor *t = sx_tensor_from_data(1, &n, v);
    sx_tensor_set_requires_grad(t, true);
    return t;
}

/* Steps against hand-computed PyTorch formulas. */
static void test_optim_formulas(void)
{
    /* SGD, momentum 0.9, nesterov, weight decay 0.1, lr 0.5 */
    sx_tensor *p = param(2, (float[]){1.0f, -2.0f});
    sx_optim *sgd = sx_sgd_new(1, &(sx_param_group){1, &p, 0},
                               &(sx_sgd_opts){.lr = 0.5f, .momentum = 0.9f, .nesterov = true, .weight_decay = 0.1f});
    CHECK_NOTNULL(sgd);
    double pv = 1.0, buf = 0;
    const float gs[3] = {0.3f, -0.2f, 0.05f};
    for (int s = 0; s < 3; s++) {
        set_grad(p, (float[]){gs[s], 0.0f});
        CHECK_OK(sx_optim_step(sgd));
        double d = gs[s] + 0.1 * pv;
        buf = s == 0 ? d : 0.9 * buf + d;
        pv -= 0.5 * (d + 0.9 * buf);
    }
    CHECK_NEAR(at(p, 0), pv, 1e-6);
    sx_optim_free(sgd);
    sx_tensor_free(p);

    /* Adam, L2 weight decay vs decoupled, one and two steps */
    for (int decoupled = 0; decoupled < 2; decoupled++) {
        p = param(1, (float[]){2.0f});
        sx_optim *adam = sx_adam_new(
            1, &(sx_param_group){1, &p, 0},
            &(sx_adam_opts){.lr = 0.1f, .beta1 = 0.8f, .beta2 = 0.9f, .eps = 1e-3f, .weight_decay = 0.5f,
                            .decoupled = decoupled});
        double x = 2.0, m = 0, v = 0;
        const float g[2] = {0.4f, -1.0f};
        for (int t = 1; t <= 2; t++) {
            set_grad(p, &g[t - 1]);
            CHECK_OK(sx_optim_step(adam));
            double gi = g[t - 1] + (decoupled ? 0 : 0.5 * x);
            if (decoupled) x *= 1 - 0.1 * 0.5;
            m = 0.8 * m + 0.2 * gi;
            v = 0.9 * v + 0.1 * gi * gi;
            double mh = m / (1 - pow(0.8, t)), vh = v / (1 - pow(0.9, t));
            x -= 0.1 * mh / (sqrt(vh) + 1e-3);
        }
        CHECK_NEAR(at(p, 0), x, 1e-6);
        sx_optim_free(adam);
        sx_tensor_free(p);
    }
}

static void test_optim_groups_and_checks(void)
{
    /* two groups, same gradients, lr 10x apart: displacements 10x apart */
    sx_tensor *a = param(3, (float[]){0, 0, 0}), *b = param(3, (float[]){0, 0, 0}), *c = param(1, (float[]){5});
    sx_tensor *ga[1] = {a}, *gb[2] = {b, c};
    sx_param_group groups[2] = {{1, ga, 0}, {2, gb, 0.01f}};
    sx_optim *opt = sx_sgd_new(2, groups, &(sx_sgd_opts){.lr = 0.1f});
    CHECK_NOTNULL(opt);
    CHECK(sx_optim_num_groups(opt) == 2 && strcmp(sx_optim_name(opt), "SGD") == 0);
    CHECK_NEAR(sx_optim_get_lr(opt, 0), 0.1, 1e-8);
    CHECK_NEAR(sx_optim_get_lr(opt, 1), 0.01, 1e-9);
    int n = 0;
    CHECK(sx_optim_group_params(opt, 1, &n)[1] == c && n == 2);
    const float g[3] = {1, -2, 3};
    set_grad(a, g);
    set_grad(b, g);
    CHECK_OK(sx_optim_step(opt));
    for (int i = 0; i < 3; i++) CHECK_NEAR(at(a, i), 10 * at(b, i), 1e-7);
    CHECK_NEAR(at(a, 1), 0.2, 1e-7);
    /* c had no gradient: skipped */
    CHECK(at(c, 0) == 5.0f);

    /* set_lr on one group, then all */
    CHECK_OK(sx_optim_set_lr(opt, 1, 0.1f));
    CHECK_OK(sx_optim_step(opt));
    CHECK_NEAR(at(a, 1), at(b, 1) + 0.2 - 0.02, 1e-6);
    CHECK_OK(sx_optim_set_lr(opt, -1, 0.0f));
    CHECK(sx_optim_get_lr(opt, 0) == 0.0f && sx_optim_get_lr(opt, 1) == 0.0f);
    CHECK(sx_optim_set_lr(opt, 2, 0.1f) == SX_EINVAL);
    CHECK(sx_optim_set_lr(opt, 0, NAN) == SX_EINVAL);
    CHECK_OK(sx_optim_set_lr(opt, -1, 0.1f));

    /* a non-finite gradient anywhere: the step is refused and nothing moves */
    float a1 = at(a, 1), b1 = at(b, 1);
    set_grad(c, (float[]){NAN});
    CHECK(sx_optim_step(opt) == SX_EINVAL && has_text(sx_last_error(), "non-finite"));
    CHECK(at(a, 1) == a1 && at(b, 1) == b1 && at(c, 0) == 5.0f);

    sx_optim_zero_grad(opt);
    CHECK(a->grad == NULL && b->grad == NULL && c->grad == NULL);
    CHECK_OK(sx_optim_step(opt));
    CHECK(at(a, 1) == a1);
    sx_optim_free(opt);

    /* bad constructions */
    sx_adam_opts adam_def = sx_adam_defaults();
    sx_tensor *dup[2] = {a, a};
    CHECK(sx_adam_new(1, &(sx_param_group){2, dup, 0}, &adam_def) == NULL &&
          has_text(sx_last_error(), "same tensor"));
    sx_tensor *nl = sx_mul_scalar(a, 2.0f);
    CHECK(sx_adam_new(1, &(sx_param_group){1, &nl, 0}, &adam_def) == NULL &&
          has_text(sx_last_error(), "leaf"));
    sx_tensor_free(nl);
    CHECK(sx_sgd_new(1, &(sx_param_group){1, &a, 0}, &(sx_sgd_opts){.lr = 0.1f, .nesterov = true}) == NULL);
    sx_adam_opts bad_beta = adam_def;
    bad_beta.beta1 = 1.0f;
    CHECK(sx_adam_new(1, &(sx_param_group){1, &a, 0}, &bad_beta) == NULL && has_text(sx_last_error(), "betas"));
    CHECK(sx_adam_new(1, &(sx_param_group){1, &a, 0}, &(sx_adam_opts){.lr = 0.1f}) == NULL &&
          has_text(sx_last_error(), "eps"));
    CHECK(sx_adam_new(0, NULL, &adam_def) == NULL);
    sx_tensor_free(a);
    sx_tensor_free(b);
    sx_tensor_free(c);
}

/* f(x, y) = (1 - x)^2 + 100 (y - x^2)^2 with autograd, gradient into p->grad. */
static double rosenbrock_grad(sx_tensor *p)
{
    sx_tensor *x = sx_narrow(p, 0, 0, 1), *y = sx_narrow(p, 0, 1, 1);
    sx_tensor *nx = sx_neg(x), *a = sx_add_scalar(nx, 1.0f), *a2 = sx_square(a);
    sx_tensor *x2 = sx_square(x), *d = sx_sub(y, x2), *d2 = sx_square(d), *d2s = sx_mul_scalar(d2, 100.0f);
    sx_tensor *f = sx_add(a2, d2s), *loss = sx_sum(f, 0, NULL, false);
    float v = NAN;
    sx_tensor_zero_grad(p);
    if (loss && sx_backward(loss, NULL, false) == SX_OK) sx_tensor_item(loss, &v);
    sx_tensor *all[] = {x, y, nx, a, a2, x2, d, d2, d2s, f, loss};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) sx_tensor_free(all[i]);
    return v;
}

static double dist_to_min(const sx_tensor *p) { return hypot(at(p, 0) - 1.0, at(p, 1) - 1.0); }

/* Runs opt (over the one parameter p) on the Rosenbrock function from
 * (-1.5, 2) until it is within 1e-3 of the minimum (1, 1), at most 20000 steps. */
static void rosenbrock_run(const char *name, sx_tensor *p, sx_optim *opt)
{
    int steps = 0;
    for (; steps < 20000 && dist_to_min(p) > 1e-3; steps++) {
        rosenbrock_grad(p);
        if (sx_optim_step(opt) != SX_OK) break;
    }
    CHECK_MSG(dist_to_min(p) < 1e-2, "%s ended at (%g, %g) after %d steps", name, at(p, 0), at(p, 1), steps);
    printf("    %s: |p - (1,1)| = %.2g after %d steps\n", name, dist_to_min(p), steps);
    sx_optim_free(opt);
    sx_tensor_free(p);
}

static void test_rosenbrock(void)
{
    sx_tensor *p = param(2, (float[]){-1.5f, 2.0f});
    sx_adam_opts ao = sx_adam_defaults();
    ao.lr = 0.02f;
    rosenbrock_run("Adam", p, sx_adam_new(1, &(sx_param_group){1, &p, 0}, &ao));
    p = param(2, (float[]){-1.5f, 2.0f});
    rosenbrock_run("SGD+momentum", p,
                   sx_sgd_new(1, &(sx_param_group){1, &p, 0}, &(sx_sgd_opts){.lr = 5e-4f, .momentum = 0.9f}));
}

/* A tiny regression with two groups, Adam or SGD with momentum. */
typedef struct run {
    sx_module *m;
    sx_optim *opt;
} run;

static run run_new(bool adam)
{
    run r = {make_net(31), NULL};
    sx_named_tensors ps = {0};
    sx_module_parameters(r.m, &ps);
    /* group 0: block1 (lr 10x lower), group 1: the rest */
    sx_tensor *g0[8], *g1[8];
    int n0 = 0, n1 = 0;
    for (int i = 0; i < ps.n; i++) {
        if (strncmp(ps.names[i], "block1.", 7) == 0) g0[n0++] = ps.tensors[i];
        else g1[n1++] = ps.tensors[i];
    }
    sx_param_group groups[2] = {{n0, g0, 0.001f}, {n1, g1, 0.01f}};
    sx_adam_opts ao = sx_adam_defaults();
    ao.weight_decay = 0.01f;
    ao.beta1 = 0.0f; /* StyleGAN2's betas */
    ao.beta2 = 0.99f;
    r.opt = adam ? sx_adam_new(2, groups, &ao)
                 : sx_sgd_new(2, groups, &(sx_sgd_opts){.lr = 0.01f, .momentum = 0.9f, .nesterov = true});
    sx_named_tensors_clear(&ps);
    return r;
}

static void run_steps(run *r, int from, int to)
{
    for (int s = from; s < to; s++) {
        sx_manual_seed(1000 + (unsigned)s);
        sx_tensor *x = sx_tensor_randn(4, SHAPE(2, 2, 3, 3));
        sx_module *conv = sx_module_child(sx_module_child(r->m, "block1"), "conv");
        sx_module *fc = sx_module_child(sx_module_child(r->m, "block1"), "fc");
        sx_tensor *h = sx_module_forward(conv, x);                         /* [2, 3, 1, 1] */
        sx_tensor *hf = sx_reshape(h, 2, SHAPE(2, 3));
        sx_tensor *h2 = sx_module_forward(fc, hf);                         /* [2, 2] */
        sx_tensor *sc = sx_mul(h2, sx_module_param(r->m, "scale")->tensor);
        sx_tensor *t = sx_tanh(sc);
        sx_tensor *y = sx_module_forward(sx_module_child(r->m, "head"), t); /* [2, 1] */
        sx_tensor *target = sx_tensor_ones(2, SHAPE(2, 1));
        sx_tensor *loss = sx_mse_loss(y, target);
        sx_optim_zero_grad(r->opt);
        sx_backward(loss, NULL, false);
        sx_optim_step(r->opt);
        sx_tensor *all[] = {x, h, hf, h2, sc, t, y, target, loss};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) sx_tensor_free(all[i]);
    }
}

static void run_free(run *r)
{
    sx_optim_free(r->opt);
    sx_module_free(r->m);
}

static void test_exact_resume(void)
{
    for (int adam = 1; adam >= 0; adam--) {
        const char *what = adam ? "Adam" : "SGD";
        run ref = run_new(adam);
        run_steps(&ref, 0, 20);
        sx_named_tensors model = {0}, state = {0};
        CHECK_OK(sx_module_state_dict(ref.m, &model));
        CHECK_OK(sx_optim_state(ref.opt, &state));
        /* Adam: group lrs + 3 entries for each of 7 params; SGD: 2 lrs + 7 buffers */
        CHECK_MSG(state.n == (adam ? 2 + 3 * 7 : 2 + 7), "%s: %d state entries", what, state.n);
        if (adam) {
            sx_tensor *st = sx_named_tensors_get(&state, "group1.param0.step");
            CHECK(st && at(st, 0) == 20.0f);
            CHECK(sx_named_tensors_get(&state, "group0.param3.exp_avg_sq") != NULL);
        } else {
            CHECK(sx_named_tensors_get(&state, "group0.param0.momentum_buffer") != NULL);
        }
        run_steps(&ref, 20, 40);

        /* a fresh run (different init, a changed lr), loaded, continues identically */
        run res = run_new(adam);
        sx_optim_set_lr(res.opt, -1, 0.5f);
        run_steps(&res, 100, 103);
        CHECK_OK(sx_module_load_state_dict(res.m, &model, true));
        CHECK_OK(sx_optim_load_state(res.opt, &state));
        CHECK_NEAR(sx_optim_get_lr(res.opt, 0), 0.001, 1e-9);
        run_steps(&res, 20, 40);
        sx_named_tensors a = {0}, b = {0};
        sx_module_state_dict(ref.m, &a);
        sx_module_state_dict(res.m, &b);
        double worst = 0;
        for (int i = 0; i < a.n; i++) worst = fmax(worst, max_abs_diff(a.tensors[i], b.tensors[i]));
        CHECK_MSG(worst == 0, "%s resume differs by %g", what, worst);
        /* and the run moved: the check is not vacuous */
        CHECK(max_abs_diff(a.tensors[0], model.tensors[0]) > 0);
        sx_named_tensors_clear(&a);
        sx_named_tensors_clear(&b);

        /* a bad state is refused and the optimiser keeps its own */
        sx_named_tensors bad = {0};
        sx_named_tensors_push(&bad, adam ? "group0.param0.momentum_buffer" : "group0.param0.exp_avg",
                              sx_tensor_zeros(4, SHAPE(3, 2, 3, 3)));
        CHECK(sx_optim_load_state(res.opt, &bad) == SX_EINVAL && has_text(sx_last_error(), "unexpected entry"));
        sx_named_tensors_clear(&bad);
        sx_named_tensors_push(&bad, adam ? "group0.param0.exp_avg" : "group0.param0.momentum_buffer",
                              sx_tensor_zeros(1, SHAPE(5)));
        if (adam) sx_named_tensors_push(&bad, "group0.param0.step", sx_tensor_full(1, SHAPE(1), 3));
        CHECK(sx_optim_load_state(res.opt, &bad) == SX_EINVAL);
        CHECK_MSG(has_text(sx_last_error(), adam ? "exp_avg" : "has shape [5]"), "%s", sx_last_error());
        sx_named_tensors_clear(&bad);
        sx_named_tensors_push(&bad, "group7.lr", sx_tensor_full(1, SHAPE(1), 3));
        CHECK(sx_optim_load_state(res.opt, &bad) == SX_EINVAL && has_text(sx_last_error(), "2 groups"));
        sx_named_tensors_clear(&bad);
        sx_named_tensors after = {0};
        sx_optim_state(res.opt, &after);
        CHECK(after.n == state.n);
        sx_named_tensors_clear(&after);

        sx_named_tensors_clear(&model);
        sx_named_tensors_clear(&state);
        run_free(&ref);
        run_free(&res);
    }
}

/* ---------------------------------------------------------------- EMA */

static void test_ema(void)
{
    sx_tensor *e = sx_tensor_from_data(1, SHAPE(3), (float[]){1, 2, 3});
    sx_tensor *p = sx_tensor_from_data(1, SHAPE(3), (float[]){5, -2, 3});
    CHECK_OK(sx_ema_update(1, &e, &p, 0.75f));
    CHECK_NEAR(at(e, 0), 0.75 * 1 + 0.25 * 5, 1e-6);
    CHECK_NEAR(at(e, 1), 0.75 * 2 + 0.25 * -2, 1e-6);
    CHECK_NEAR(at(e, 2), 3, 1e-6);
    CHECK_OK(sx_ema_update(1, &e, &p, 0.0f));
    CHECK(max_abs_diff(e, p) == 0);
    CHECK(sx_ema_update(1, &e, &p, 1.5f) == SX_EINVAL);
    sx_tensor *q = sx_tensor_zeros(1, SHAPE(4));
    CHECK(sx_ema_update(1, &e, &q, 0.5f) == SX_EINVAL);
    sx_tensor_free(q);
    sx_tensor_free(e);
    sx_tensor_free(p);

    /* a module twin: copy, then EMA of the parameters, buffers copied */
    sx_module *g = make_net(41), *ema = make_net(42);
    CHECK_OK(sx_module_copy_params(ema, g));
    sx_tensor *gw = sx_module_find_param(g, "head.weight")->tensor;
    sx_tensor *ew = sx_module_find_param(ema, "head.weight")->tensor;
    CHECK(max_abs_diff(gw, ew) == 0);
    float old_e = at(ew, 1);
    sx_tensor_fill(gw, 2.0f);
    sx_tensor_fill(sx_module_find_param(g, "w_avg")->tensor, -1.0f);
    CHECK_OK(sx_module_ema_update(ema, g, 0.9f));
    CHECK_NEAR(at(ew, 1), 0.9 * old_e + 0.1 * 2.0, 1e-6);
    CHECK(at(sx_module_find_param(ema, "w_avg")->tensor, 2) == -1.0f);
    sx_module *other = sx_module_new("Other");
    CHECK(sx_module_copy_params(ema, other) == SX_EINVAL && has_text(sx_last_error(), "twins"));
    sx_module_free(other);
    sx_module_free(g);
    sx_module_free(ema);
}

int main(void)
{
    RUN(test_linear_shapes);
    RUN(test_conv_shapes);
    RUN(test_equalized_gain);
    RUN(test_layer_gradcheck);
    RUN(test_module_tree);
    RUN(test_optim_formulas);
    RUN(test_optim_groups_and_checks);
    RUN(test_rosenbrock);
    RUN(test_exact_resume);
    RUN(test_ema);
    return check_summary("test_nn");
}
