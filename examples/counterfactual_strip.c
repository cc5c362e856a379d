/*
 * examples/counterfactual_strip.c — one StylEx counterfactual from C, with
 * the shipped fmnist-shoes model: a held-out Fashion-MNIST test image is
 * encoded into StyleSpace, one style coordinate is moved to several
 * strengths, every frame is classified, and the strip is written as a PNG.
 *
 *   1. load the generator + encoder (models/fmnist-shoes/stylex.safetensors)
 *      and the classifier its metadata names (sx_stylex_load, sx_cnn_load);
 *   2. read the test set (sx_idx_read), pad 28 -> 32 with the background and
 *      scale to [-1, 1] as lua/stylex/data.lua does; keep the first
 *      BATCH test images of the model's classes;
 *   3. encode them: latent = cat(E(x), softmax(C(x))), StyleSpace vector
 *      s = sx_styles_flat(affine styles) [BATCH, S]; the spread of each
 *      coordinate over the batch (min_j, max_j) sets the scale of a move;
 *   4. the coordinate: from argv, or among the CANDIDATES coordinates that
 *      change most when the image's latent gets the probabilities of the
 *      other class (its "class direction"; for an unconditional model: that
 *      vary most over the batch), the one whose move to min_j or max_j lowers
 *      the classifier's probability of the image's class most;
 *   5. frames: s_j := s_j + t (target - s_j) for t in STRENGTHS (t = 0 is the
 *      plain reconstruction, t = 1 sets s_j to the extreme, as AttFind does),
 *      regenerated with one fixed noise (sx_attfind_apply), classified;
 *   6. the original and the frames, each captioned with the class
 *      probabilities, as one PNG (sx_image_grid, sx_png_write).
 *
 * Usage: counterfactual_strip [dir [coord [model]]]
 *   dir    where counterfactual_strip.png goes (default ".")
 *   coord  a flat StyleSpace coordinate, 0-based (default: chosen as above)
 *   model  default models/fmnist-shoes/stylex.safetensors (shipped in the repository)
 * Run from the repository root: the model's metadata names its classifier
 * by a path relative to it (the classifier beside the model is tried too).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stylex.h"

#define DEFAULT_MODEL "models/fmnist-shoes/stylex.safetensors"
#define TEST_IMAGES "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
#define TEST_LABELS "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"
#define BATCH 32      /* test images encoded to measure each coordinate's spread */
#define CANDIDATES 12 /* coordinates tried when none is given */
#define MAX_CLASSES 10
#define SCALE 3       /* pixel magnification in the PNG */

static const float STRENGTHS[] = {-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f, 2.0f};
#define N_FRAMES ((int)(sizeof STRENGTHS / sizeof *STRENGTHS))

/* Fashion-MNIST class names by label, and at most 7 characters for captions */
static const char *const FMNIST[10] = {"T-shirt", "Trouser", "Pullover", "Dress", "Coat",
                                       "Sandal",  "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
static const char *const SHORT[10] = {"T-shirt", "Trouser", "Pullovr", "Dress", "Coat",
                                      "Sandal",  "Shirt",   "Sneaker", "Bag",   "Boot"};

#define CHECK(ok)                                                                              \
    do {                                                                                       \
        if (!(ok)) {                                                                           \
            fprintf(stderr, "counterfactual_strip:%d: %s: %s\n", __LINE__, #ok, sx_last_error()); \
            goto out;                                                                          \
        }                                                                                      \
    } while (0)

/* The Fashion-MNIST labels of the model's classes, from its "classes"
 * metadata ("[7,9]"); all ten when absent. Returns the count, 0 if malformed. */
static int parse_classes(const char *json, int *labels, int max)
{
    int n = 0;
    if (!json) {
        for (; n < 10 && n < max; n++) labels[n] = n;
        return n;
    }
    for (const char *p = json; *p; p++) {
        if (*p < '0' || *p > '9') continue;
        char *end;
        long v = strtol(p, &end, 10);
        if (v > 9 || n == max) return 0;
        labels[n++] = (int)v;
        p = end - 1;
    }
    return n;
}

/* The classifier: the path in the model's metadata, else the file beside the model. */
static sx_status load_classifier(const char *model, const sx_model_meta *meta, sx_classifier **C)
{
    const char *named = sx_model_meta_get(meta, "classifier");
    if (named && access(named, R_OK) == 0) return sx_classifier_load(named, NULL, C, NULL);
    char path[4096];
    const char *slash = strrchr(model, '/');
    snprintf(path, sizeof path, "%.*sclassifier.safetensors", slash ? (int)(slash - model + 1) : 0, model);
    return sx_classifier_load(path, NULL, C, NULL);
}

/* Class probabilities [n, K] of images [n, C, R, R], copied into probs. */
static sx_status classify(sx_classifier *C, sx_tensor *img, float *probs)
{
    sx_tensor *logits = sx_classifier_logits(C, img);
    sx_tensor *p = logits ? sx_softmax(logits, 1) : NULL;
    if (p) sx_tensor_copy_to(p, probs);
    sx_tensor_free(logits);
    sx_tensor_free(p);
    return p ? SX_OK : sx_last_status();
}

int main(int argc, char **argv)
{
    int rc = 1;
    const char *dir = argc > 1 ? argv[1] : ".";
    const char *model = argc > 3 ? argv[3] : DEFAULT_MODEL;
    sx_module *G = NULL, *E = NULL;
    sx_classifier *C = NULL;
    sx_model_meta meta = {0};
    sx_tensor *raw = NULL, *lab = NULL, *x = NULL, *w = NULL, *logits = NULL, *p = NULL, *lat = NULL;
    sx_tensor *flat = NULL, *lat0 = NULL, *p0 = NULL, *values = NULL, *frames = NULL, *strip = NULL;
    sx_tensor *w0 = NULL, *p_other = NULL, *lat_other = NULL, *flat_other = NULL;
    sx_styles st_other = {0};
    float *spread = NULL; /* [S]: how much each coordinate is allowed to rank the candidates */
    sx_tensor *noise[SX_STYLEGAN_MAX_LAYERS] = {0};
    sx_tensor *cells[N_FRAMES + 1] = {0};
    sx_styles st = {0};
    float *s = NULL, *lo = NULL, *hi = NULL; /* s [BATCH, S]; lo, hi [S]: min_j, max_j over the batch */
    int L = 0;
    bool grad_was = sx_set_grad_enabled(false); /* inference only: no graphs */

    /* 1. the models */
    CHECK(sx_stylex_load(model, &G, &E, &meta) == SX_OK);
    CHECK(load_classifier(model, &meta, &C) == SX_OK);
    const sx_stylegan_config *gc = sx_stylegan_config_of(G);
    const sx_classifier_info *cc = sx_classifier_info_of(C);
    int K = cc->n_classes, R = gc->resolution;
    if (sx_classifier_accepts(C, "counterfactual_strip", "the generator's", 1, R, R) != SX_OK || gc->img_channels != 1 ||
        K > MAX_CLASSES ||
        (gc->n_classes != 0 && gc->n_classes != K)) {
        fprintf(stderr, "counterfactual_strip: %s and its classifier do not fit together (or are not grey %dx%d)\n",
                model, R, R);
        goto out;
    }
    int labels[MAX_CLASSES];
    if (parse_classes(sx_model_meta_get(&meta, "classes"), labels, MAX_CLASSES) != K) {
        fprintf(stderr, "counterfactual_strip: %s: cannot read %d Fashion-MNIST labels from its 'classes' metadata\n",
                model, K);
        goto out;
    }
    const char *step = sx_model_meta_get(&meta, "step");
    printf("model %s (step %s), classes", model, step ? step : "?");
    for (int k = 0; k < K; k++) printf(" %d=%s", k, FMNIST[labels[k]]);
    printf("\n");

    /* 2. the first BATCH test images of those classes, 28 -> 32 padded with
     *    the background (0) and scaled v / 127.5 - 1 */
    CHECK(sx_idx_read(TEST_IMAGES, &raw) == SX_OK);
    CHECK(sx_idx_read(TEST_LABELS, &lab) == SX_OK);
    CHECK(x = sx_tensor_full(4, (int64_t[]){BATCH, 1, R, R}, -1.0f));
    int pad = (R - 28) / 2, found = 0, first_index = -1, first_class = -1;
    for (int64_t i = 0; i < raw->shape[0] && found < BATCH && pad >= 0; i++) {
        int y = (int)sx_tensor_data(lab)[i], cls = -1;
        for (int k = 0; k < K; k++)
            if (labels[k] == y) cls = k;
        if (cls < 0) continue;
        if (found == 0) first_index = (int)i, first_class = cls;
        const float *src = sx_tensor_data(raw) + i * 28 * 28;
        float *dst = sx_tensor_data(x) + (int64_t)found * R * R;
        for (int r = 0; r < 28; r++)
            for (int c = 0; c < 28; c++) dst[(r + pad) * R + c + pad] = src[r * 28 + c] / 127.5f - 1.0f;
        found++;
    }
    if (found < BATCH) {
        fprintf(stderr, "counterfactual_strip: only %d test images of the model's classes at %dx%d\n", found, R, R);
        goto out;
    }

    /* 3. StyleSpace vectors of the batch */
    CHECK(w = sx_encoder_forward(E, x));
    CHECK(logits = sx_classifier_logits(C, x));
    CHECK(p = sx_softmax(logits, 1));
    CHECK(lat = sx_stylegan_latent(G, w, gc->n_classes ? p : NULL));
    CHECK(sx_synthesis_styles(G, lat, &st) == SX_OK);
    CHECK(flat = sx_styles_flat(&st));
    int S = (int)flat->shape[1];
    CHECK((s = malloc((size_t)BATCH * S * sizeof *s)) != NULL);
    sx_tensor_copy_to(flat, s);
    CHECK(lat0 = sx_narrow(lat, 0, 0, 1)); /* the image explained: batch row 0 */
    sx_style_layout lay;
    CHECK(sx_style_layout_of(G, &lay) == SX_OK);
    L = lay.n_layers;
    sx_manual_seed(1);
    CHECK(sx_synthesis_noise(G, 1, noise) == SX_OK); /* one noise for every frame */

    float base[MAX_CLASSES], pr[2 * MAX_CLASSES];
    CHECK((lo = malloc((size_t)S * 2 * sizeof *lo)) != NULL);
    hi = lo + S;
    for (int j = 0; j < S; j++) {
        lo[j] = hi[j] = s[j];
        for (int i = 1; i < BATCH; i++) {
            lo[j] = fminf(lo[j], s[(int64_t)i * S + j]);
            hi[j] = fmaxf(hi[j], s[(int64_t)i * S + j]);
        }
    }

    /* 4. the coordinate and the direction that lowers P(image's class) most */
    CHECK(frames = sx_attfind_apply(G, lat0, noise, 0, NULL, NULL, false)); /* the reconstruction */
    CHECK(classify(C, frames, base) == SX_OK);
    sx_tensor_free(frames);
    frames = NULL;
    int pick = -1;
    float target = 0, best = -INFINITY;
    int cand[CANDIDATES], n_cand = 0;
    if (argc > 2) {
        char *end;
        long j = strtol(argv[2], &end, 10);
        if (*end || j < 0 || j >= S) {
            fprintf(stderr, "counterfactual_strip: coordinate '%s' is not in 0..%d\n", argv[2], S - 1);
            goto out;
        }
        cand[n_cand++] = (int)j;
    } else { /* the CANDIDATES largest spreads */
        CHECK((spread = malloc((size_t)S * sizeof *spread)) != NULL);
        if (gc->n_classes > 0) {
            /* the class direction of image 0: its styles with the other class's
             * probabilities (the most probable other class) minus its own */
            float onehot[MAX_CLASSES] = {0}, own[MAX_CLASSES];
            CHECK(p0 = sx_narrow(p, 0, 0, 1));
            sx_tensor_copy_to(p0, own);
            int other = first_class == 0 ? 1 : 0;
            for (int k = 0; k < K; k++)
                if (k != first_class && own[k] > own[other]) other = k;
            onehot[other] = 1.0f;
            CHECK(p_other = sx_tensor_from_data(2, (int64_t[]){1, K}, onehot));
            CHECK(w0 = sx_narrow(w, 0, 0, 1));
            CHECK(lat_other = sx_stylegan_latent(G, w0, p_other));
            CHECK(sx_synthesis_styles(G, lat_other, &st_other) == SX_OK);
            CHECK(flat_other = sx_styles_flat(&st_other));
            sx_tensor_copy_to(flat_other, spread);
            for (int j = 0; j < S; j++) spread[j] = fabsf(spread[j] - s[j]);
        } else {
            for (int j = 0; j < S; j++) spread[j] = hi[j] - lo[j];
        }
        for (int j = 0; j < S; j++) {
            int at = n_cand < CANDIDATES ? n_cand++ : CANDIDATES;
            while (at > 0 && spread[j] > spread[cand[at - 1]]) {
                if (at < CANDIDATES) cand[at] = cand[at - 1];
                at--;
            }
            if (at < CANDIDATES) cand[at] = j;
        }
    }
    int cls = first_class;
    printf("test image #%d (%s): P(%s) = %.3f after reconstruction\n", first_index, FMNIST[labels[cls]],
           FMNIST[labels[cls]], base[cls]);
    for (int c = 0; c < n_cand; c++) {
        int j = cand[c];
        CHECK(values = sx_tensor_from_data(2, (int64_t[]){2, 1}, (float[]){lo[j], hi[j]}));
        CHECK(frames = sx_attfind_apply(G, lat0, noise, 1, &j, values, false));
        CHECK(classify(C, frames, pr) == SX_OK);
        for (int d = 0; d < 2; d++) {
            float drop = base[cls] - pr[d * K + cls];
            if (drop > best) best = drop, pick = j, target = d ? hi[j] : lo[j];
        }
        sx_tensor_free(values);
        sx_tensor_free(frames);
        values = frames = NULL;
    }
    int layer, channel;
    CHECK(sx_style_layout_locate(&lay, pick, &layer, &channel) == SX_OK);
    printf("coordinate %d (layer %s, channel %d): s = %.3f, moved towards %.3f (batch range %.3f .. %.3f)\n", pick,
           lay.name[layer], channel, s[pick], target, lo[pick], hi[pick]);

    /* 5. the strip: s_j + t (target - s_j) */
    float v[N_FRAMES], probs[N_FRAMES * MAX_CLASSES];
    for (int f = 0; f < N_FRAMES; f++) v[f] = s[pick] + STRENGTHS[f] * (target - s[pick]);
    CHECK(values = sx_tensor_from_data(2, (int64_t[]){N_FRAMES, 1}, v));
    CHECK(frames = sx_attfind_apply(G, lat0, noise, 1, &pick, values, false));
    CHECK(classify(C, frames, probs) == SX_OK);
    float orig[MAX_CLASSES]; /* the original image's probabilities: row 0 of p */
    if (!p0) CHECK(p0 = sx_narrow(p, 0, 0, 1));
    sx_tensor_copy_to(p0, orig);
    printf("%-10s", "frame");
    for (int k = 0; k < K; k++) printf("  P(%s)", FMNIST[labels[k]]);
    printf("\n%-10s", "original");
    for (int k = 0; k < K; k++) printf("  %*.3f", (int)strlen(FMNIST[labels[k]]) + 3, orig[k]);
    printf("\n");
    for (int f = 0; f < N_FRAMES; f++) {
        printf("t = %+4.1f  ", STRENGTHS[f]);
        for (int k = 0; k < K; k++) printf("  %*.3f", (int)strlen(FMNIST[labels[k]]) + 3, probs[f * K + k]);
        printf("\n");
    }

    /* 6. one PNG: the original, then the frames, captioned */
    char caption[N_FRAMES + 1][96];
    const char *captions[N_FRAMES + 1];
    for (int f = 0; f <= N_FRAMES; f++) {
        sx_tensor *img = f == 0 ? sx_narrow(x, 0, 0, 1) : sx_narrow(frames, 0, f - 1, 1);
        sx_tensor *one = img ? sx_reshape(img, 3, (int64_t[]){1, R, R}) : NULL;
        sx_tensor *unit = one ? sx_image_to_unit(one, -1.0f, 1.0f) : NULL;
        cells[f] = unit ? sx_image_upscale(unit, SCALE) : NULL;
        sx_tensor_free(img);
        sx_tensor_free(one);
        sx_tensor_free(unit);
        CHECK(cells[f]);
        const float *pf = f == 0 ? orig : probs + (f - 1) * K;
        int n = f == 0 ? snprintf(caption[f], sizeof caption[f], "original")
                       : snprintf(caption[f], sizeof caption[f], "t=%+.1f", STRENGTHS[f - 1]);
        for (int k = 0; k < K && k < 3 && n < (int)sizeof caption[f]; k++)
            n += snprintf(caption[f] + n, sizeof caption[f] - n, "\n%-7s %.2f", SHORT[labels[k]], pf[k]);
        captions[f] = caption[f];
    }
    CHECK(strip = sx_image_grid(N_FRAMES + 1, (const sx_tensor *const *)cells, N_FRAMES + 1, 4, 1.0f, captions,
                                NULL, 1));
    char path[4096];
    snprintf(path, sizeof path, "%s/counterfactual_strip.png", dir);
    CHECK(sx_png_write(path, strip) == SX_OK);
    printf("wrote %s (%lldx%lld)\n", path, (long long)strip->shape[2], (long long)strip->shape[1]);
    rc = 0;
out:
    sx_set_grad_enabled(grad_was);
    for (int f = 0; f <= N_FRAMES; f++) sx_tensor_free(cells[f]);
    for (int l = 0; l < L; l++) sx_tensor_free(noise[l]);
    sx_styles_clear(&st);
    sx_styles_clear(&st_other);
    sx_tensor_free(w0);
    sx_tensor_free(p_other);
    sx_tensor_free(lat_other);
    sx_tensor_free(flat_other);
    free(spread);
    free(s);
    free(lo);
    sx_tensor_free(raw);
    sx_tensor_free(lab);
    sx_tensor_free(x);
    sx_tensor_free(w);
    sx_tensor_free(logits);
    sx_tensor_free(p);
    sx_tensor_free(lat);
    sx_tensor_free(flat);
    sx_tensor_free(lat0);
    sx_tensor_free(p0);
    sx_tensor_free(values);
    sx_tensor_free(frames);
    sx_tensor_free(strip);
    sx_model_meta_clear(&meta);
    sx_module_free(G);
    sx_module_free(E);
    sx_classifier_free(C);
    return rc;
}
