/*
 * tests/c/test_model_file.c — loading the shipped model files
 * (lib/models/model_file.c): a tiny classifier and a tiny generator + encoder
 * written the way the Lua side writes them (state dicts under their names,
 * "G." / "E." prefixes, format and config metadata) load back into modules
 * that compute exactly what the originals computed; the config JSON maps to
 * the C configs as the Lua bindings map it; a file of the wrong format, a
 * missing, extra or mis-shaped tensor, a bad config and a missing file fail
 * with a message naming the problem. The real models/fmnist-shoes files are
 * loaded when present (tests run from the repository root).
 */
#include <dirent.h>
#include <unistd.h>

#include "fixtures.h"


/* ---------------------------------------------------------------- writing files */

/* A file entry list: names (owned) and tensors (owned references). */
typedef struct entries {
    int n;
    char *names[256];
    sx_tensor *tensors[256];
} entries;

static void entries_clear(entries *e)
{
    for (int i = 0; i < e->n; i++) {
        free(e->names[i]);
        sx_tensor_free(e->tensors[i]);
    }
    e->n = 0;
}

/* Appends m's state dict (copies) with names prefixed, except the entry
 * called `skip` (its full name), if any. */
static void add_state(entries *e, const sx_module *m, const char *prefix, const char *skip)
{
    sx_named_tensors sd = {0};
    CHECK_OK(sx_module_state_dict(m, &sd));
    for (int i = 0; i < sd.n && e->n < 256; i++) {
        char name[256];
        snprintf(name, sizeof name, "%s%s", prefix, sd.names[i]);
        if (skip && strcmp(name, skip) == 0) continue;
        e->names[e->n] = strdup(name);
        e->tensors[e->n++] = sx_tensor_retain(sd.tensors[i]);
    }
    sx_named_tensors_clear(&sd);
}

static void add_tensor(entries *e, const char *name, sx_tensor *t)
{
    e->names[e->n] = strdup(name);
    e->tensors[e->n++] = t;
}

/* Writes the entries with n_meta key/value pairs (a NULL-terminated list). */
static void save(const char *path, const entries *e, const char *const *kv)
{
    const char *keys[16], *values[16];
    int nm = 0;
    for (; kv && kv[2 * nm]; nm++) {
        keys[nm] = kv[2 * nm];
        values[nm] = kv[2 * nm + 1];
    }
    CHECK_OK(sx_safetensors_save(path, e->n, (const char *const *)e->names, e->tensors, nm, keys, values));
}

/* ---------------------------------------------------------------- classifier */

/* As scripts/train_classifier.lua writes it: cjson's key order is arbitrary
 * and float32 values come back as 14-digit decimals. */
static const char CLS_CONFIG[] = "{\"hidden\":8,\"dropout\":0.25,\"channels\":[4,6],\"n_classes\":3,"
                                 "\"convs_per_block\":1,\"img_channels\":1,\"resolution\":8}";

static sx_module *tiny_classifier(void)
{
    sx_cnn_config c = tiny_cnn_config(3, 8, 4, 6, 8);
    c.dropout = 0.25f;
    sx_manual_seed(7);
    return sx_cnn_new(&c);
}

static void test_classifier_config_json(void)
{
    sx_cnn_config c;
    CHECK_OK(sx_cnn_config_from_json(CLS_CONFIG, &c));
    CHECK(c.n_classes == 3 && c.resolution == 8 && c.img_channels == 1 && c.n_blocks == 2);
    CHECK(c.channels[0] == 4 && c.channels[1] == 6 && c.convs_per_block == 1 && c.hidden == 8);
    CHECK_NEAR(c.dropout, 0.25, 0);

    /* absent keys: sx_cnn_default_config's values */
    CHECK_OK(sx_cnn_config_from_json(" { \"n_classes\" : 10 } ", &c));
    sx_cnn_config d = sx_cnn_default_config(10);
    CHECK(c.n_classes == 10 && c.resolution == d.resolution && c.n_blocks == d.n_blocks &&
          c.channels[2] == d.channels[2] && c.hidden == d.hidden);

    /* what the Lua binding refuses, this refuses */
    struct { const char *json, *msg; } bad[] = {
        {"{\"n_classes\":2,\"colour\":1}", "unknown key 'colour'"},
        {"{\"resolution\":32}", "no 'n_classes'"},
        {"{\"n_classes\":1}", "'n_classes' = 1, expected an integer in 2..100000"},
        {"{\"n_classes\":2,\"hidden\":2.5}", "'hidden' = 2.5"},
        {"{\"n_classes\":2,\"channels\":[8,0]}", "'channels[2]' = 0"},
        {"{\"n_classes\":2,\"channels\":[]}", "'channels' is empty"},
        {"{\"n_classes\":2,\"channels\":[1,2,3,4,5,6,7]}", "more than 6 entries"},
        {"{\"n_classes\":2,\"channels\":[8,8],\"n_blocks\":3}", "disagrees"},
        {"{\"n_classes\":2,\"dropout\":\"x\"}", "'dropout' must be a number"},
        {"{\"n_classes\":2,\"dropout\":1}", "'dropout' = 1 outside"},
        {"{\"n_classes\":2", "at byte"},
        {"{\"n_classes\":2} x", "text after the config object"},
        {"[2]", "at byte 0"},
        {"", "at byte 0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        sx_clear_error();
        CHECK_MSG(sx_cnn_config_from_json(bad[i].json, &c) == SX_EINVAL, "%s", bad[i].json);
        CHECK_MSG(has(sx_last_error(), bad[i].msg) && has(sx_last_error(), "classifier_config_from_json"),
                  "%s -> %s", bad[i].json, sx_last_error());
    }
    CHECK(sx_cnn_config_from_json(NULL, &c) == SX_EINVAL);
}

static void test_classifier_roundtrip(void)
{
    sx_module *m = tiny_classifier(), *back = NULL;
    CHECK_NOTNULL(m);
    if (!m) return;
    entries e = {0};
    add_state(&e, m, "", NULL);
    const char *path = tmp_path("classifier.safetensors");
    const char *kv[] = {"format", "stylex-classifier-1", "config", CLS_CONFIG, "dataset", "fashion-mnist", NULL};
    save(path, &e, kv);

    uint64_t before[4], after[4];
    sx_rng_get_state(before);
    sx_model_meta meta;
    CHECK_OK(sx_cnn_load(path, &back, &meta));
    sx_rng_get_state(after);
    CHECK_MSG(memcmp(before, after, sizeof before) == 0, "loading changed the global random stream");
    if (back) {
        const sx_cnn_config *c = sx_cnn_config_of(back);
        CHECK(c && c->n_classes == 3 && c->n_blocks == 2 && c->channels[1] == 6 && c->hidden == 8);
        sx_tensor *x = RANDN(3, 5, 1, 8, 8);
        sx_tensor *a = sx_cnn_logits(m, x), *b = sx_cnn_logits(back, x);
        CHECK(a && b && a->shape[1] == 3);
        CHECK_MSG(max_abs_diff(a, b) == 0, "logits differ by %g", max_abs_diff(a, b));
        /* the loaded parameters are live leaves requiring grad, as sx_cnn_new's */
        sx_param *p = sx_module_find_param(back, "block1.conv0.weight");
        CHECK(p && p->tensor->requires_grad);
        sx_tensor_free(x);
        sx_tensor_free(a);
        sx_tensor_free(b);
    }
    CHECK(meta.n == 3);
    CHECK(sx_model_meta_get(&meta, "dataset") && strcmp(sx_model_meta_get(&meta, "dataset"), "fashion-mnist") == 0);
    CHECK(sx_model_meta_get(&meta, "nothing") == NULL);
    sx_model_meta_clear(&meta);
    CHECK(meta.n == 0 && meta.keys == NULL);
    sx_model_meta_clear(&meta); /* twice is fine */
    sx_module_free(back);
    back = NULL;

    /* meta may be NULL */
    CHECK_OK(sx_cnn_load(path, &back, NULL));
    sx_module_free(back);
    entries_clear(&e);
    sx_module_free(m);
}

static void test_classifier_bad_files(void)
{
    static int sentinel; /* a non-NULL value the loader must reset to NULL */
    sx_module *m = tiny_classifier(), *back = (sx_module *)&sentinel;
    if (!m) return;
    sx_model_meta meta = {0};
    const char *p = tmp_path("bad.safetensors");
    entries e = {0};
    add_state(&e, m, "", NULL);

    /* the other format: a StylEx model handed to the classifier loader */
    save(p, &e, (const char *[]){"format", "stylex-model-1", "config", CLS_CONFIG, NULL});
    CHECK(sx_cnn_load(p, &back, &meta) == SX_EFORMAT);
    CHECK(back == NULL && meta.n == 0);
    CHECK_MSG(has(sx_last_error(), "classifier_load") && has(sx_last_error(), p) &&
              has(sx_last_error(), "format 'stylex-model-1', expected 'stylex-classifier-1'"), "%s", sx_last_error());

    /* no metadata at all: a plain safetensors file */
    save(p, &e, NULL);
    CHECK(sx_cnn_load(p, &back, NULL) == SX_EFORMAT);
    CHECK_MSG(has(sx_last_error(), "no 'format' metadata"), "%s", sx_last_error());

    /* the right format without a config */
    save(p, &e, (const char *[]){"format", "stylex-classifier-1", NULL});
    CHECK(sx_cnn_load(p, &back, NULL) == SX_EFORMAT);
    CHECK_MSG(has(sx_last_error(), "no 'config' metadata"), "%s", sx_last_error());

    /* a config the library cannot build */
    save(p, &e, (const char *[]){"format", "stylex-classifier-1", "config", "{\"n_classes\":3,\"resolution\":7}", NULL});
    CHECK(sx_cnn_load(p, &back, NULL) == SX_EFORMAT);
    CHECK_MSG(has(sx_last_error(), "classifier_load") && has(sx_last_error(), p), "%s", sx_last_error());

    /* a config that does not parse */
    save(p, &e, (const char *[]){"format", "stylex-classifier-1", "config", "{\"n_classes\":", NULL});
    CHECK(sx_cnn_load(p, &back, NULL) == SX_EFORMAT);
    CHECK_MSG(has(sx_last_error(), "config: at byte"), "%s", sx_last_error());

    /* a missing tensor */
    const char *kv[] = {"format", "stylex-classifier-1", "config", CLS_CONFIG, NULL};
    entries f = {0};
    add_state(&f, m, "", "out.bias");
    save(p, &f, kv);
    CHECK(sx_cnn_load(p, &back, &meta) == SX_EFORMAT);
    CHECK(back == NULL && meta.n == 0);
    CHECK_MSG(has(sx_last_error(), "missing entry 'out.bias'") && has(sx_last_error(), p), "%s", sx_last_error());
    entries_clear(&f);

    /* an extra tensor */
    add_state(&f, m, "", NULL);
    add_tensor(&f, "block9.conv0.weight", sx_tensor_zeros(1, (int64_t[]){2}));
    save(p, &f, kv);
    CHECK(sx_cnn_load(p, &back, NULL) == SX_EFORMAT);
    CHECK_MSG(has(sx_last_error(), "unexpected entry 'block9.conv0.weight'"), "%s", sx_last_error());
    entries_clear(&f);

    /* a tensor of the wrong shape: the config says 3 classes, the file has 4 */
    add_state(&f, m, "", "out.bias");
    add_tensor(&f, "out.bias", sx_tensor_zeros(1, (int64_t[]){4}));
    save(p, &f, kv);
    CHECK(sx_cnn_load(p, &back, NULL) == SX_EFORMAT);
    CHECK_MSG(has(sx_last_error(), "out.bias") && has(sx_last_error(), "[4]"), "%s", sx_last_error());
    entries_clear(&f);

    /* no file; bad arguments */
    CHECK(sx_cnn_load(tmp_path("absent.safetensors"), &back, &meta) == SX_EIO);
    CHECK_MSG(has(sx_last_error(), "absent.safetensors"), "%s", sx_last_error());
    CHECK(sx_cnn_load(NULL, &back, NULL) == SX_EINVAL && back == NULL);
    CHECK(sx_cnn_load(p, NULL, NULL) == SX_EINVAL);
    entries_clear(&e);
    sx_module_free(m);
}

/* ---------------------------------------------------------------- StylEx */

/* A training config as lua/stylex/trainer.lua encodes it: network keys mixed
 * with hyper-parameters (a list, booleans, exponents) that the loader skips. */
static const char GEN_CONFIG[] =
    "{\"batch\":4,\"n_classes\":2,\"mapping_layers\":2,\"lr_encoder\":0.00025,\"betas\":[0,0.99],"
    "\"eps\":1e-08,\"img_channels\":1,\"w_dim\":8,\"resolution\":8,\"z_dim\":6,\"channels\":[8,4],"
    "\"baseline\":false,\"seed\":1,\"w_l1\":1,\"lr\":0.0025,\"nested\":{\"a\":[null,true]}}";

static sx_stylegan_config tiny_gen_config(void)
{
    sx_stylegan_config c = tiny_stylegan_config(8, 1, 2, 8, 4);
    c.w_dim = 8;
    return c;
}

static void test_stylex_config_json(void)
{
    sx_stylegan_config c, want = tiny_gen_config();
    CHECK_OK(sx_stylex_config_from_json(GEN_CONFIG, &c));
    CHECK(c.resolution == 8 && c.img_channels == 1 && c.n_classes == 2 && c.z_dim == 6 && c.w_dim == 8);
    CHECK(c.mapping_layers == 2 && c.channels[0] == 8 && c.channels[1] == 4);
    CHECK(c.mbstd_group == want.mbstd_group && c.mapping_lr_mul == want.mapping_lr_mul);

    /* the baseline is unconditional whatever n_classes says */
    CHECK_OK(sx_stylex_config_from_json("{\"n_classes\":2,\"baseline\":true}", &c));
    CHECK(c.n_classes == 0);
    /* absent keys: the defaults (32x32, w_dim 128, the channel rule) */
    CHECK_OK(sx_stylex_config_from_json("{}", &c));
    sx_stylegan_config d = sx_stylegan_default_config(32, 1, 0);
    CHECK(c.resolution == 32 && c.w_dim == d.w_dim && c.channels[3] == d.channels[3] && c.n_classes == 0);

    struct { const char *json, *msg; } bad[] = {
        {"{\"resolution\":4}", "'resolution' = 4"},
        {"{\"resolution\":8,\"channels\":[8]}", "'channels' has 1 widths, expected 2"},
        {"{\"baseline\":1}", "'baseline' must be true or false"},
        {"{\"w_dim\":-3}", "'w_dim' = -3"},
        {"{\"lr\":[1,}", "at byte"},
        {"{\"resolution\":24}", "resolution"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_MSG(sx_stylex_config_from_json(bad[i].json, &c) == SX_EINVAL, "%s", bad[i].json);
        CHECK_MSG(has(sx_last_error(), bad[i].msg) && has(sx_last_error(), "stylex_config_from_json"), "%s -> %s",
                  bad[i].json, sx_last_error());
    }
}

/* G(z, p) with fixed noise, and E(x), for comparing two networks. */
typedef struct gen_probe {
    sx_tensor *z, *p, *x;
    sx_tensor *noise[SX_STYLEGAN_MAX_LAYERS];
    int L;
} gen_probe;

static void probe_init(gen_probe *pr, sx_module *G)
{
    sx_style_layout lay;
    CHECK_OK(sx_style_layout_of(G, &lay));
    pr->L = lay.n_layers;
    pr->z = RANDN(11, 3, 6);
    sx_tensor *l = RANDN(12, 3, 2);
    pr->p = sx_softmax(l, 1);
    sx_tensor_free(l);
    pr->x = RANDN(13, 3, 1, 8, 8);
    CHECK_OK(sx_synthesis_noise(G, 3, pr->noise));
}

static void probe_clear(gen_probe *pr)
{
    sx_tensor_free(pr->z);
    sx_tensor_free(pr->p);
    sx_tensor_free(pr->x);
    for (int l = 0; l < pr->L; l++) sx_tensor_free(pr->noise[l]);
}

/* max |G_a - G_b| + max |E_a - E_b| on the probe (G or E may be NULL on both sides). */
static double probe_diff(gen_probe *pr, sx_module *Ga, sx_module *Gb, sx_module *Ea, sx_module *Eb)
{
    double d = 0;
    if (Ga) {
        sx_tensor *a = sx_generator_forward(Ga, pr->z, pr->p, pr->noise);
        sx_tensor *b = sx_generator_forward(Gb, pr->z, pr->p, pr->noise);
        CHECK(a && a->ndim == 4 && a->shape[0] == 3 && a->shape[1] == 1 && a->shape[2] == 8);
        d += a && b ? max_abs_diff(a, b) : INFINITY;
        sx_tensor_free(a);
        sx_tensor_free(b);
    }
    if (Ea) {
        sx_tensor *a = sx_encoder_forward(Ea, pr->x), *b = sx_encoder_forward(Eb, pr->x);
        CHECK(a && a->ndim == 2 && a->shape[1] == 8);
        d += a && b ? max_abs_diff(a, b) : INFINITY;
        sx_tensor_free(a);
        sx_tensor_free(b);
    }
    return d;
}

static bool all_frozen(const sx_module *m)
{
    sx_named_tensors p = {0};
    bool frozen = sx_module_parameters(m, &p) == SX_OK && p.n > 0;
    for (int i = 0; i < p.n; i++) frozen = frozen && !p.tensors[i]->requires_grad;
    sx_named_tensors_clear(&p);
    return frozen;
}

static void test_stylex_roundtrip(void)
{
    sx_stylegan_config cfg = tiny_gen_config();
    sx_manual_seed(21);
    sx_module *G = sx_generator_new(&cfg), *E = sx_encoder_new(&cfg);
    CHECK(G && E);
    if (!G || !E) goto out0;
    /* give the noise strengths a value, so that a mix-up of noise would show */
    sx_named_tensors ps = {0};
    CHECK_OK(sx_module_parameters(G, &ps));
    for (int i = 0; i < ps.n; i++)
        if (has(ps.names[i], "noise_strength")) sx_tensor_fill(ps.tensors[i], 0.3f);
    sx_named_tensors_clear(&ps);

    entries e = {0};
    add_state(&e, G, "G.", NULL);
    add_state(&e, E, "E.", NULL);
    const char *path = tmp_path("stylex.safetensors");
    save(path, &e, (const char *[]){"format", "stylex-model-1", "config", GEN_CONFIG, "step", "1200",
                                    "classifier", "models/x/classifier.safetensors", NULL});

    gen_probe pr = {0};
    probe_init(&pr, G);
    sx_module *G2 = NULL, *E2 = NULL;
    sx_model_meta meta;
    uint64_t before[4], after[4];
    sx_rng_get_state(before);
    CHECK_OK(sx_stylex_load(path, &G2, &E2, &meta));
    sx_rng_get_state(after);
    CHECK_MSG(memcmp(before, after, sizeof before) == 0, "loading changed the global random stream");
    if (G2 && E2) {
        CHECK_MSG(probe_diff(&pr, G, G2, E, E2) == 0, "loaded networks differ by %g", probe_diff(&pr, G, G2, E, E2));
        const sx_stylegan_config *c = sx_stylegan_config_of(G2);
        CHECK(c && c->n_classes == 2 && c->z_dim == 6 && c->channels[1] == 4);
        CHECK_MSG(all_frozen(G2) && all_frozen(E2), "loaded parameters still require grad");
    }
    CHECK(sx_model_meta_get(&meta, "step") && strcmp(sx_model_meta_get(&meta, "step"), "1200") == 0);
    CHECK(sx_model_meta_get(&meta, "classifier") != NULL);
    sx_model_meta_clear(&meta);
    sx_module_free(G2);
    sx_module_free(E2);

    /* either network alone */
    G2 = E2 = NULL;
    CHECK_OK(sx_stylex_load(path, &G2, NULL, NULL));
    CHECK(G2 && probe_diff(&pr, G, G2, NULL, NULL) == 0);
    sx_module_free(G2);
    CHECK_OK(sx_stylex_load(path, NULL, &E2, NULL));
    CHECK(E2 && probe_diff(&pr, NULL, NULL, E, E2) == 0);
    sx_module_free(E2);

    /* a training checkpoint: the EMA generator is G_ema.*, beside G.*, D.* and optimiser state */
    entries t = {0};
    add_state(&t, G, "G_ema.", NULL);
    add_state(&t, E, "E.", NULL);
    add_tensor(&t, "G.synthesis.b4.const", sx_tensor_zeros(1, (int64_t[]){3}));
    add_tensor(&t, "opt_E.group0.lr", sx_tensor_zeros(1, (int64_t[]){1}));
    save(tmp_path("checkpoint.safetensors"), &t,
         (const char *[]){"format", "stylex-training-1", "config", GEN_CONFIG, NULL});
    G2 = E2 = NULL;
    CHECK_OK(sx_stylex_load(tmp_path("checkpoint.safetensors"), &G2, &E2, NULL));
    CHECK(G2 && E2 && probe_diff(&pr, G, G2, E, E2) == 0);
    sx_module_free(G2);
    sx_module_free(E2);
    entries_clear(&t);

    probe_clear(&pr);
    entries_clear(&e);
out0:
    sx_module_free(G);
    sx_module_free(E);
}

static void test_stylex_bad_files(void)
{
    sx_stylegan_config cfg = tiny_gen_config();
    sx_manual_seed(22);
    sx_module *G = sx_generator_new(&cfg), *E = sx_encoder_new(&cfg);
    if (!G || !E) {
        CHECK(G && E);
        sx_module_free(G);
        sx_module_free(E);
        return;
    }
    const char *p = tmp_path("bad-stylex.safetensors");
    const char *kv[] = {"format", "stylex-model-1", "config", GEN_CONFIG, NULL};
    static int sentinel; /* a non-NULL value the loader must reset to NULL */
    sx_module *G2 = (sx_module *)&sentinel, *E2 = (sx_module *)&sentinel;
    sx_model_meta meta;

    /* a classifier file handed to the StylEx loader */
    entries e = {0};
    add_state(&e, G, "G.", NULL);
    add_state(&e, E, "E.", NULL);
    save(p, &e, (const char *[]){"format", "stylex-classifier-1", "config", CLS_CONFIG, NULL});
    CHECK(sx_stylex_load(p, &G2, &E2, &meta) == SX_EFORMAT);
    CHECK(G2 == NULL && E2 == NULL && meta.n == 0);
    CHECK_MSG(has(sx_last_error(), "stylex_load") &&
              has(sx_last_error(), "format 'stylex-classifier-1', expected 'stylex-model-1' or 'stylex-training-1'"),
              "%s", sx_last_error());

    /* the encoder's last layer missing */
    entries f = {0};
    add_state(&f, G, "G.", NULL);
    add_state(&f, E, "E.", "E.b4.out.bias");
    save(p, &f, kv);
    CHECK(sx_stylex_load(p, &G2, &E2, NULL) == SX_EFORMAT && G2 == NULL && E2 == NULL);
    CHECK_MSG(has(sx_last_error(), "missing entry 'E.b4.out.bias'") && has(sx_last_error(), p), "%s",
              sx_last_error());
    /* ... which does not matter when only G is wanted */
    CHECK_OK(sx_stylex_load(p, &G2, NULL, NULL));
    sx_module_free(G2);
    entries_clear(&f);

    /* a generator tensor missing */
    add_state(&f, G, "G.", "G.synthesis.b8.conv1.affine.weight");
    add_state(&f, E, "E.", NULL);
    save(p, &f, kv);
    CHECK(sx_stylex_load(p, &G2, &E2, NULL) == SX_EFORMAT);
    CHECK_MSG(has(sx_last_error(), "missing entry 'G.synthesis.b8.conv1.affine.weight'"), "%s", sx_last_error());
    entries_clear(&f);

    /* a config that does not describe the tensors: the baseline flag makes G
     * unconditional, so its affines expect w_dim inputs, not w_dim + 2 */
    save(p, &e, (const char *[]){"format", "stylex-model-1", "config", "{\"resolution\":8,\"z_dim\":6,\"w_dim\":8,"
                                 "\"mapping_layers\":2,\"channels\":[8,4],\"n_classes\":2,\"baseline\":true}", NULL});
    CHECK(sx_stylex_load(p, &G2, &E2, NULL) == SX_EFORMAT);
    CHECK_MSG(has(sx_last_error(), "affine.weight") && has(sx_last_error(), "[8, 10]"), "%s", sx_last_error());

    /* a bad config */
    save(p, &e, (const char *[]){"format", "stylex-model-1", "config", "{\"resolution\":12}", NULL});
    CHECK(sx_stylex_load(p, &G2, &E2, NULL) == SX_EFORMAT);
    CHECK_MSG(has(sx_last_error(), "config:"), "%s", sx_last_error());

    CHECK(sx_stylex_load(tmp_path("absent.safetensors"), &G2, &E2, NULL) == SX_EIO);
    CHECK(sx_stylex_load(NULL, &G2, &E2, NULL) == SX_EINVAL && G2 == NULL && E2 == NULL);
    entries_clear(&e);
    sx_module_free(G);
    sx_module_free(E);
}

/* ---------------------------------------------------------------- the shipped files */

static void test_shipped_models(void)
{
    const char *cls = "models/fmnist-shoes/classifier.safetensors", *gen = "models/fmnist-shoes/stylex.safetensors";
    if (access(cls, R_OK) == 0) {
        sx_module *C = NULL;
        sx_model_meta meta;
        CHECK_OK(sx_cnn_load(cls, &C, &meta));
        const char *fmt = sx_model_meta_get(&meta, "format"), *classes = sx_model_meta_get(&meta, "classes");
        CHECK(fmt && strcmp(fmt, "stylex-classifier-1") == 0 && classes && strcmp(classes, "[7,9]") == 0);
        if (C) {
            sx_tensor *x = RANDN(31, 2, 1, 32, 32), *y = sx_cnn_logits(C, x);
            CHECK(y && y->ndim == 2 && y->shape[0] == 2 && y->shape[1] == 2);
            sx_tensor_free(x);
            sx_tensor_free(y);
        }
        sx_model_meta_clear(&meta);
        sx_module_free(C);
    } else {
        printf("     (no %s: skipped)\n", cls);
    }
    if (access(gen, R_OK) == 0) {
        sx_module *G = NULL, *E = NULL;
        sx_model_meta meta;
        CHECK_OK(sx_stylex_load(gen, &G, &E, &meta));
        CHECK(sx_model_meta_get(&meta, "classifier") != NULL);
        if (G && E) {
            bool prev = sx_set_grad_enabled(false);
            const sx_stylegan_config *c = sx_stylegan_config_of(G);
            sx_tensor *x = sx_tensor_zeros(4, (int64_t[]){2, 1, 32, 32});
            sx_tensor *w = sx_encoder_forward(E, x);
            sx_tensor *p = sx_tensor_full(2, (int64_t[]){2, c->n_classes}, 1.0f / c->n_classes);
            sx_tensor *lat = w ? sx_stylegan_latent(G, w, c->n_classes ? p : NULL) : NULL;
            sx_tensor *img = lat ? sx_synthesis_forward(G, lat, NULL) : NULL;
            CHECK_MSG(img && img->ndim == 4 && img->shape[0] == 2 && img->shape[1] == 1 && img->shape[2] == 32 &&
                      img->shape[3] == 32, "%s", sx_last_error());
            sx_tensor_free(x);
            sx_tensor_free(w);
            sx_tensor_free(p);
            sx_tensor_free(lat);
            sx_tensor_free(img);
            sx_set_grad_enabled(prev);
        }
        sx_model_meta_clear(&meta);
        sx_module_free(G);
        sx_module_free(E);
    } else {
        printf("     (no %s: skipped)\n", gen);
    }
}


int main(void)
{
    if (!make_tmpdir("sx_test_model_file")) return 1;
    RUN(test_classifier_config_json);
    RUN(test_classifier_roundtrip);
    RUN(test_classifier_bad_files);
    RUN(test_stylex_config_json);
    RUN(test_stylex_roundtrip);
    RUN(test_stylex_bad_files);
    RUN(test_shipped_models);
    remove_tmpdir();
    return check_summary("test_model_file");
}
