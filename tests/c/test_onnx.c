/*
 * tests/c/test_onnx.c — ONNX classifiers (stylex/onnx.h) against PyTorch.
 *
 * The fixtures in tests/reference/onnx were exported from PyTorch by
 * tests/reference/onnx_fixtures.py (dev-time only): a plain CNN (opset 11),
 * a ResNet-style net with BatchNorm and residual adds (opset 13) and a
 * MobileNetV2-style one with depthwise convs and ReLU6 (opset 17), each with
 * PyTorch's logits, input gradients and one feature map on fixed images. The
 * classifier's preprocessing (from the sidecar JSON) is part of what is
 * compared: x are GAN images in [-1, 1], PyTorch applied the same mapping.
 * Also: the perceptual distance and the layer lists; the bad models give
 * one line naming the cause.
 */
#include "fixtures.h"

#define DIR "tests/reference/onnx/"

/* max |a - b| / max |b| */
static double rel_err(const sx_tensor *a, const sx_tensor *b)
{
    sx_tensor *bc = sx_tensor_copy(b);
    double m = 0;
    for (int64_t i = 0; i < sx_tensor_numel(bc); i++) m = fmax(m, fabs(sx_tensor_data(bc)[i]));
    sx_tensor_free(bc);
    return max_abs_diff(a, b) / (m > 0 ? m : 1);
}

static void check_against_torch(const char *name, double *worst_rel)
{
    char path[256], ref_path[256];
    snprintf(path, sizeof path, DIR "%s.onnx", name);
    snprintf(ref_path, sizeof ref_path, DIR "%s.ref.safetensors", name);
    sx_classifier *C = NULL;
    sx_safetensors *ref = NULL;
    CHECK_OK(sx_onnx_load(path, NULL, &C));
    CHECK_OK(sx_safetensors_load(ref_path, &ref));
    if (!C || !ref) {
        sx_classifier_free(C);
        sx_safetensors_free(ref);
        return;
    }
    const sx_classifier_info *in = sx_classifier_info_of(C);
    CHECK_MSG(strcmp(in->kind, "onnx") == 0, "%s: kind %s", name, in->kind);
    CHECK(in->n_perceptual >= 1 && in->gradcam_layer && in->penultimate);
    const char *layer = sx_safetensors_meta(ref, "layer");
    CHECK_MSG(layer && strcmp(layer, in->gradcam_layer) == 0, "%s: Grad-CAM layer %s, torch hooked %s", name,
              in->gradcam_layer, layer ? layer : "?");
    sx_tensor *x = sx_safetensors_get(ref, "x"), *want = sx_safetensors_get(ref, "logits");
    sx_tensor *r = sx_safetensors_get(ref, "r"), *want_g = sx_safetensors_get(ref, "grad");
    sx_tensor *want_f = sx_safetensors_get(ref, "feature");
    sx_tensor *xg = sx_tensor_copy(x);
    sx_tensor_set_requires_grad(xg, true);
    const char *names[1] = {in->gradcam_layer};
    sx_tensor *feat = NULL, *logits = NULL;
    CHECK_OK(sx_classifier_forward(C, xg, 1, names, &feat, &logits));
    if (logits && feat) {
        double el = max_abs_diff(logits, want), rl = rel_err(logits, want);
        double ef = max_abs_diff(feat, want_f);
        CHECK_MSG(el < 1e-3 && rl < 1e-4, "%s: logits differ from PyTorch by %g (relative %g)", name, el, rl);
        CHECK_MSG(ef < 1e-3 && rel_err(feat, want_f) < 1e-4, "%s: layer %s differs by %g", name, in->gradcam_layer, ef);
        /* the input gradient of sum(r * logits), through the graph and the preprocessing */
        sx_tensor *prod = sx_mul(logits, r), *loss = prod ? sx_sum(prod, 0, NULL, false) : NULL;
        sx_tensor *g = NULL;
        CHECK_OK(sx_grad(1, &loss, NULL, 1, &xg, false, false, &g));
        if (g) {
            double eg = max_abs_diff(g, want_g), rg = rel_err(g, want_g);
            CHECK_MSG(eg < 1e-3 && rg < 1e-4, "%s: input gradient differs from PyTorch by %g (relative %g)", name, eg, rg);
            printf("  %s: logits %.2e (rel %.2e), input gradient %.2e (rel %.2e), layer %.2e\n", name, el, rl, eg, rg, ef);
            *worst_rel = fmax(*worst_rel, fmax(rl, rg));
        }
        sx_tensor_free(g);
        sx_tensor_free(prod);
        sx_tensor_free(loss);
        /* a Grad-CAM gradient: d logit_0 / d layer exists and is not all zero */
        sx_tensor *l0 = sx_narrow(logits, 1, 0, 1), *s0 = l0 ? sx_sum(l0, 0, NULL, false) : NULL, *gf = NULL;
        CHECK_OK(sx_grad(1, &s0, NULL, 1, &feat, false, false, &gf));
        sx_tensor *zero = gf ? sx_tensor_zeros_like(gf) : NULL;
        CHECK(gf && sx_tensor_same_shape(gf, feat) && max_abs_diff(gf, zero) > 0);
        sx_tensor_free(zero);
        sx_tensor_free(gf);
        sx_tensor_free(l0);
        sx_tensor_free(s0);
    }
    /* the perceptual distance: 0 for the same images, > 0 for others, [N] */
    sx_tensor *y = sx_mul_scalar(x, -0.5f);
    sx_tensor *same = sx_classifier_perceptual(C, x, x), *diff = sx_classifier_perceptual(C, x, y);
    CHECK(same && diff && same->ndim == 1 && same->shape[0] == x->shape[0]);
    if (same && diff) {
        CHECK_NEAR(sx_tensor_data(same)[0], 0.0, 1e-6);
        CHECK_MSG(sx_tensor_data(diff)[0] > 1e-4, "%s: perceptual distance %g", name, sx_tensor_data(diff)[0]);
    }
    sx_tensor *tmp[] = {xg, feat, logits, y, same, diff};
    for (int i = 0; i < 6; i++) sx_tensor_free(tmp[i]);
    sx_safetensors_free(ref);
    sx_classifier_free(C);
}

static void test_matches_pytorch(void)
{
    double worst = 0;
    check_against_torch("plain", &worst);
    check_against_torch("resnet", &worst);
    check_against_torch("mobilenet", &worst);
    check_against_torch("idioms", &worst);
    check_against_torch("zoo", &worst);
    printf("  worst relative difference %.2e\n", worst);
}

/* The sidecar's preprocessing and names reach the info; options override it. */
static void test_sidecar_and_options(void)
{
    sx_classifier *C = NULL;
    CHECK_OK(sx_onnx_load(DIR "resnet.onnx", NULL, &C));
    if (C) {
        const sx_classifier_info *in = sx_classifier_info_of(C);
        CHECK(in->n_classes == 4 && strcmp(in->class_names[3], "z") == 0);
        CHECK(in->prep.channels == 3 && in->prep.height == 32 && in->prep.n_norm == 3);
        CHECK_NEAR(in->prep.mean[1], 0.456, 1e-6);
        CHECK(sx_classifier_accepts(C, "t", "x", 1, 64, 64) == SX_OK); /* grey, resized */
        sx_classifier_free(C);
    }
    const char *names[4] = {"a", "b", "c", "d"};
    sx_onnx_opts o = {.sidecar = "", .n_class_names = 4, .class_names = names, .resize = -1};
    CHECK_OK(sx_onnx_load(DIR "resnet.onnx", &o, &C));
    if (C) {
        const sx_classifier_info *in = sx_classifier_info_of(C);
        CHECK(strcmp(in->class_names[0], "a") == 0 && in->prep.n_norm == 0 && !in->prep.resize);
        CHECK_NEAR(in->prep.range[0], 0, 0);
        CHECK(sx_classifier_accepts(C, "t", "the images", 1, 64, 64) == SX_EINVAL &&
              strstr(sx_last_error(), "the images are [N, 1, 64, 64], expected [N, 3, 32, 32]"));
        sx_classifier_free(C);
    }
    /* class names that do not fit, a layer that is not there */
    o = (sx_onnx_opts){.n_class_names = 2, .class_names = names};
    CHECK(sx_onnx_load(DIR "resnet.onnx", &o, &C) == SX_EINVAL && strstr(sx_last_error(), "2 class names for 4 logits"));
    o = (sx_onnx_opts){.gradcam_layer = "/nope"};
    CHECK(sx_onnx_load(DIR "resnet.onnx", &o, &C) == SX_EINVAL && strstr(sx_last_error(), "'/nope'"));
    /* sx_classifier_load dispatches on the extension */
    CHECK_OK(sx_classifier_load(DIR "plain.onnx", NULL, &C, NULL));
    sx_classifier_free(C);
}

static void expect_refused(const char *file, sx_status want, const char *text)
{
    sx_classifier *C = (sx_classifier *)1;
    sx_clear_error();
    sx_status st = sx_onnx_load(file, NULL, &C);
    const char *e = sx_last_error();
    CHECK_MSG(st == want && C == NULL && strstr(e, text) && !strchr(e, '\n'), "%s -> %d '%s'", file, st, e);
    printf("  %s\n", e);
}

static void test_bad_models(void)
{
    expect_refused(DIR "bad_truncated.onnx", SX_EFORMAT, "is not an ONNX model");
    expect_refused(DIR "resnet.json", SX_EFORMAT, "is not an ONNX model");
    expect_refused(DIR "missing.onnx", SX_EIO, "missing.onnx");
    expect_refused(DIR "bad_operator.onnx", SX_EINVAL, "node 'the_erf': unsupported operator Erf");
    expect_refused(DIR "bad_dynamic.onnx", SX_EINVAL, "dimension H is dynamic ('height')");
    expect_refused(DIR "bad_input.onnx", SX_EINVAL, "has 2 dimensions, expected [N, C, H, W]");
    expect_refused(DIR "bad_opset.onnx", SX_EINVAL, "opset 9 is not supported");
    /* an image of the wrong size when resizing is off */
    sx_onnx_opts o = {.resize = -1};
    sx_classifier *C = NULL;
    CHECK_OK(sx_onnx_load(DIR "plain.onnx", &o, &C));
    sx_tensor *x = sx_tensor_zeros(4, SHAPE(2, 1, 28, 28));
    CHECK(C && sx_classifier_logits(C, x) == NULL && strstr(sx_last_error(), "[N, 1, 32, 32]"));
    sx_tensor_free(x);
    sx_classifier_free(C);
}

/* Damaged copies of a good model (bytes flipped, cut short) load or fail
 * with a message, and one that loads still runs: never a crash. */
static void test_damaged_files(void)
{
    FILE *f = fopen(DIR "zoo.onnx", "rb");
    CHECK(f != NULL);
    if (!f) return;
    static unsigned char buf[1 << 16], bad[1 << 16];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    CHECK(len > 1000 && len < sizeof buf);
    char path[] = "/tmp/stylex_onnx_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    close(fd);
    int loaded = 0, refused = 0, silent = 0;
    sx_tensor *x = sx_tensor_zeros(4, SHAPE(2, 1, 32, 32));
    for (int k = 0; k < 300; k++) {
        size_t n = len;
        memcpy(bad, buf, len);
        if (k < 250) bad[(size_t)k * 7919u % len] ^= (unsigned char)(0x5a + k);
        else n = len * (size_t)(k - 249) / 51;
        FILE *o = fopen(path, "wb");
        fwrite(bad, 1, n, o);
        fclose(o);
        sx_classifier *C = NULL;
        sx_clear_error();
        if (sx_onnx_load(path, NULL, &C) == SX_OK) {
            loaded++;
            sx_tensor *lg = sx_classifier_logits(C, x);
            sx_tensor_free(lg);
            sx_classifier_free(C);
        } else {
            refused++;
            if (!sx_last_error()[0] || strchr(sx_last_error(), '\n')) silent++;
        }
    }
    remove(path);
    sx_tensor_free(x);
    CHECK_MSG(silent == 0, "%d refusals without a one-line message", silent);
    CHECK(refused > 0);
    printf("  300 damaged copies: %d loaded, %d refused with a message\n", loaded, refused);
}

/* The built-in CNN through the same interface. */
static void test_cnn_interface(void)
{
    sx_cnn_config c = tiny_cnn_config(2, 8, 3, 4, 5);
    sx_module *m = sx_cnn_new(&c);
    const char *names[2] = {"no", "yes"};
    sx_classifier *C = sx_classifier_from_cnn(m, names);
    CHECK(C && sx_classifier_module(C) == m);
    const sx_classifier_info *in = sx_classifier_info_of(C);
    CHECK(in->n_perceptual == 2 && strcmp(in->gradcam_layer, "block1") == 0 && strcmp(in->class_names[1], "yes") == 0);
    sx_tensor *x = RANDN(3, 2, 1, 8, 8);
    sx_tensor *a = sx_classifier_logits(C, x), *b = sx_cnn_logits(m, x);
    CHECK(a && b && max_abs_diff(a, b) == 0);
    /* freezing through the interface reaches every parameter of the module */
    int np = sx_classifier_parameters(C, NULL, 0);
    CHECK(np == 8); /* two convs, fc and out: a weight and a bias each */
    sx_classifier_set_requires_grad(C, false);
    sx_tensor *ps[16];
    int got = sx_classifier_parameters(C, ps, 16), on = 0;
    for (int i = 0; i < got && i < 16; i++) on += ps[i]->requires_grad;
    CHECK(got == np && on == 0);
    const char *bad[1] = {"block9"};
    sx_tensor *f = NULL;
    CHECK(sx_classifier_forward(C, x, 1, bad, &f, NULL) == SX_EINVAL && strstr(sx_last_error(), "no layer 'block9'"));
    sx_tensor_free(a);
    sx_tensor_free(b);
    sx_tensor_free(x);
    sx_classifier_free(C);
    sx_module_free(m);
}

int main(void)
{
    RUN(test_matches_pytorch);
    RUN(test_sidecar_and_options);
    RUN(test_bad_models);
    RUN(test_damaged_files);
    RUN(test_cnn_interface);
    return check_summary("test_onnx");
}
