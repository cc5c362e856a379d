/*
 * lib/models/attfind.c — the AttFind effect table and regeneration with
 * changed StyleSpace coordinates (include/stylex/attfind.h).
 *
 * The effect table is the expensive part of StylEx's explanations: N (1 + 2S)
 * generator + classifier passes (336k for 250 images of the default 32x32
 * network). Per image: one synthesis pass keeps every layer's input (the
 * cache); then for each layer l the 2 C_l shifted copies (channel c to its
 * minimum and maximum) run in a few batches from layer l on, with the
 * image's batch-1 cache, noise and styles broadcast against the [B, C_l]
 * shifted styles of layer l, so nothing before layer l is recomputed or
 * copied. The classifier then takes the whole batch. The kernels spread each
 * batch over the library's thread pool. Measured on the default network (2
 * cores): CPU time per pass is flat within ~10% from batch 16 to 128 (best
 * at 32-64) and worse at 256, where the activations fall out of cache; so
 * the default is 64, and shifts of several images are not batched together
 * (every layer of the default network has 2 C_l >= 64 shifts per image).
 * Everything runs with grad mode off.
 *
 * Row q of a layer's shifts is channel q / 2, direction q % 2 (0 to-min,
 * 1 to-max), so a batch holds both directions of a run of channels.
 *
 * Screened AttFind (lua/stylex/attfind_screen.lua) needs only some entries: a base
 * (sx_attfind_base_new) keeps every image's activations, styles, noise and
 * logits, and sx_attfind_entries runs any list of (image, column) entries
 * from it, those of one layer in batches whose rows are different images,
 * each with its own channel moved.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"
#include "stylex/autograd.h"
#include "stylex/ops.h"
#include "stylex/attfind.h"
#include "stylex/classifier.h"

#define MAX_BATCH 65536

void sx_attfind_result_clear(sx_attfind_result *r)
{
    if (!r) return;
    sx_tensor_free(r->effect);
    sx_tensor_free(r->base_logits);
    sx_tensor_free(r->style_min);
    sx_tensor_free(r->style_max);
    sx_tensor_free(r->styles);
    memset(r, 0, sizeof *r);
}

/* Checks latents [N >= 1, w_dim + n_classes] against G's config. */
static bool check_latents(const char *fn, const sx_stylegan_config *gc, const sx_tensor *lat)
{
    char s[96];
    if (!lat) return sx_fail(SX_EINVAL, "%s: latents are NULL", fn), false;
    if (lat->ndim != 2 || lat->shape[0] < 1 || lat->shape[1] != gc->w_dim + gc->n_classes) {
        sx_fail(SX_EINVAL, "%s: latents %s, expected [N, %d] (w_dim %d + n_classes %d)", fn,
                sx_shape_str(lat, s, sizeof s), gc->w_dim + gc->n_classes, gc->w_dim, gc->n_classes);
        return false;
    }
    return true;
}

/* Checks noise[l] [n or 1, 1, r_l, r_l] for every layer. */
static bool check_noise(const char *fn, const sx_style_layout *lay, sx_tensor *const *noise, int64_t n)
{
    char s[96];
    for (int l = 0; l < lay->n_layers; l++) {
        const sx_tensor *t = noise[l];
        int64_t r = lay->resolution[l];
        if (!t) return sx_fail(SX_EINVAL, "%s: noise[%d] is missing", fn, l), false;
        bool batch_ok = t->ndim == 4 && (t->shape[0] == 1 || t->shape[0] == n);
        if (!batch_ok || t->shape[1] != 1 || t->shape[2] != r || t->shape[3] != r) {
            sx_fail(SX_EINVAL, "%s: noise[%d] is %s, expected [%lld or 1, 1, %lld, %lld]", fn, l,
                    sx_shape_str(t, s, sizeof s), (long long)n, (long long)r, (long long)r);
            return false;
        }
    }
    return true;
}

/* Prefixes the current error message with "fn: "; returns its status. */
static sx_status prefix_error(const char *fn)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", sx_last_error());
    sx_status st = sx_last_status();
    size_t n = strlen(fn);
    if (strncmp(msg, fn, n) == 0 && msg[n] == ':') return st == SX_OK ? SX_EINVAL : st;
    return sx_fail(st == SX_OK ? SX_EINVAL : st, "%s: %s", fn, msg);
}

/* A contiguous host copy of t (malloc'd), NULL with an error. */
static float *host_copy(const sx_tensor *t)
{
    float *v = malloc((size_t)sx_tensor_numel(t) * sizeof *v + sizeof *v);
    if (!v) sx_fail(SX_ENOMEM, "attfind: out of memory");
    else sx_tensor_copy_to(t, v);
    return v;
}

/* ---------------------------------------------------------------- effects */

/* Everything one call holds; freed by effects_free. */
typedef struct effects_run {
    sx_style_layout lay;
    int64_t N, K;
    int batch;
    sx_styles st;                               /* all images' styles, [N, C_l] per layer */
    sx_styles one;                              /* image i's styles, batch 1 */
    sx_synthesis_cache cache;                   /* image i's activations, batch 1 */
    sx_tensor *noise1[SX_STYLEGAN_MAX_LAYERS];  /* image i's noise [1, 1, r_l, r_l] */
    float *styles;                              /* [N, S] host copy of out->styles */
    float *smin, *smax;                         /* [S] */
    float *logits;                              /* [batch, K] */
    float *effect, *base;                       /* the results' data: [N, 2, S, K], [N, K] */
    sx_attfind_progress_fn progress;
    void *ctx;
    int64_t done, total;
} effects_run;

static void effects_free(effects_run *r)
{
    sx_styles_clear(&r->st);
    sx_styles_clear(&r->one);
    sx_synthesis_cache_clear(&r->cache);
    for (int l = 0; l < SX_STYLEGAN_MAX_LAYERS; l++) sx_tensor_free(r->noise1[l]);
    free(r->styles);
    free(r->smin);
    free(r->smax);
    free(r->logits);
}

static bool report(effects_run *r, int64_t passes)
{
    r->done += passes;
    if (r->progress && !r->progress(r->ctx, r->done, r->total)) {
        sx_fail(SX_ESTATE, "attfind_effects: stopped by the progress callback after %lld of %lld passes",
                (long long)r->done, (long long)r->total);
        return false;
    }
    return true;
}

/* Classifies img [n <= batch, ...] and copies the logits [n, K] into r->logits. */
static bool classify(effects_run *r, sx_classifier *C, sx_tensor *img)
{
    sx_tensor *lg = img ? sx_classifier_logits(C, img) : NULL;
    if (lg) sx_tensor_copy_to(lg, r->logits);
    sx_tensor_free(lg);
    return lg != NULL;
}

/* Image i: the base pass (cache kept) and every layer's shifted copies. */
static bool effects_image(effects_run *r, sx_module *G, sx_classifier *C, sx_tensor *const *noise, int64_t i)
{
    const sx_style_layout *lay = &r->lay;
    const int64_t S = lay->n_coords, K = r->K;
    sx_styles_clear(&r->one);
    sx_synthesis_cache_clear(&r->cache);
    if (sx_styles_narrow(&r->st, i, 1, &r->one) != SX_OK) return false;
    for (int l = 0; l < lay->n_layers; l++) {
        sx_tensor_free(r->noise1[l]);
        r->noise1[l] = noise[l]->shape[0] == 1 ? sx_tensor_retain(noise[l]) : sx_narrow(noise[l], 0, i, 1);
        if (!r->noise1[l]) return false;
    }
    sx_tensor *img = sx_synthesis_from_styles(G, &r->one, r->noise1, 0, NULL, &r->cache);
    bool ok = classify(r, C, img);
    sx_tensor_free(img);
    if (!ok) return false;
    float *base = r->base + i * K;
    memcpy(base, r->logits, (size_t)K * sizeof *base);
    if (!report(r, 1)) return false;

    const float *row = r->styles + i * S;
    for (int l = 0; l < lay->n_layers; l++) {
        const int64_t Cl = lay->channels[l], off = lay->offset[l], shifts = 2 * Cl;
        /* equal chunks of at most `batch` rows */
        const int64_t chunks = (shifts + r->batch - 1) / r->batch, per = (shifts + chunks - 1) / chunks;
        for (int64_t q0 = 0; q0 < shifts; q0 += per) {
            const int64_t B = q0 + per <= shifts ? per : shifts - q0;
            sx_tensor *conv = sx_tensor_empty(2, (int64_t[]){B, Cl});
            if (!conv) return false;
            float *cd = sx_tensor_data(conv);
            for (int64_t b = 0; b < B; b++) {
                const int64_t q = q0 + b, c = q / 2;
                memcpy(cd + b * Cl, row + off, (size_t)Cl * sizeof *cd);
                cd[b * Cl + c] = q % 2 ? r->smax[off + c] : r->smin[off + c];
            }
            sx_styles sh;
            sx_styles_share(&r->one, &sh);
            sx_tensor_free(sh.conv[l]);
            sh.conv[l] = conv;
            img = sx_synthesis_from_styles(G, &sh, r->noise1, l, &r->cache, NULL);
            sx_styles_clear(&sh);
            ok = classify(r, C, img);
            sx_tensor_free(img);
            if (!ok) return false;
            for (int64_t b = 0; b < B; b++) {
                const int64_t q = q0 + b, j = off + q / 2, d = q % 2;
                float *e = r->effect + ((i * 2 + d) * S + j) * K;
                for (int64_t k = 0; k < K; k++) e[k] = r->logits[b * K + k] - base[k];
            }
            if (!report(r, B)) return false;
        }
    }
    return true;
}

/* The extremes: given (checked [S]) or over the N images. */
static bool effects_extremes(effects_run *r, const sx_attfind_opts *o, const char *fn)
{
    const int64_t S = r->lay.n_coords;
    const sx_tensor *given[2] = {o ? o->style_min : NULL, o ? o->style_max : NULL};
    float **dst[2] = {&r->smin, &r->smax};
    for (int e = 0; e < 2; e++) {
        const sx_tensor *t = given[e];
        char s[96];
        if (t && (t->ndim != 1 || t->shape[0] != S))
            return sx_fail(SX_EINVAL, "%s: %s %s, expected [%lld]", fn, e ? "style_max" : "style_min",
                           sx_shape_str(t, s, sizeof s), (long long)S),
                   false;
        if (!(*dst[e] = t ? host_copy(t) : malloc((size_t)S * sizeof(float))))
            return sx_fail(SX_ENOMEM, "%s: out of memory", fn), false;
        if (t) continue;
        for (int64_t j = 0; j < S; j++) {
            float v = r->styles[j];
            for (int64_t i = 1; i < r->N; i++) {
                float x = r->styles[i * S + j];
                if (e ? x > v : x < v) v = x;
            }
            (*dst[e])[j] = v;
        }
    }
    return true;
}

sx_status sx_attfind_effects(sx_module *G, sx_classifier *C, sx_tensor *latents, sx_tensor *const *noise,
                             const sx_attfind_opts *opts, sx_attfind_progress_fn progress, void *ctx,
                             sx_attfind_result *out)
{
    const char *fn = "attfind_effects";
    if (!out) return sx_fail(SX_EINVAL, "%s: NULL result", fn);
    memset(out, 0, sizeof *out);
    effects_run r = {.progress = progress, .ctx = ctx};
    if (sx_style_layout_of(G, &r.lay) != SX_OK) return prefix_error(fn);
    const sx_stylegan_config *gc = sx_stylegan_config_of(G);
    const sx_classifier_info *cc = sx_classifier_info_of(C);
    if (!gc) return sx_last_status();
    if (!cc) return prefix_error(fn);
    if (sx_classifier_accepts(C, fn, "the generator's", gc->img_channels, gc->resolution, gc->resolution) != SX_OK)
        return SX_EINVAL;
    if (!check_latents(fn, gc, latents)) return SX_EINVAL;
    r.N = latents->shape[0];
    r.K = cc->n_classes;
    if (!noise)
        return sx_fail(SX_EINVAL, "%s: noise is required (one tensor per layer, e.g. from synthesis_noise)", fn);
    if (!check_noise(fn, &r.lay, noise, r.N)) return SX_EINVAL;
    r.batch = opts && opts->batch ? opts->batch : SX_ATTFIND_DEFAULT_BATCH;
    if (r.batch < 1 || r.batch > MAX_BATCH)
        return sx_fail(SX_EINVAL, "%s: batch %d outside 1 .. %d", fn, r.batch, MAX_BATCH);
    const int64_t S = r.lay.n_coords, N = r.N, K = r.K;
    r.total = N * (1 + 2 * S);

    bool grad = sx_set_grad_enabled(false);
    sx_attfind_result res = {0};
    sx_tensor *flat = NULL;
    bool ok = sx_synthesis_styles(G, latents, &r.st) == SX_OK && (flat = sx_styles_flat(&r.st)) &&
              (res.styles = sx_tensor_copy(flat)) && (r.styles = host_copy(res.styles)) &&
              effects_extremes(&r, opts, fn) && (r.logits = malloc((size_t)(r.batch * K) * sizeof *r.logits)) &&
              (res.style_min = sx_tensor_from_data(1, (int64_t[]){S}, r.smin)) &&
              (res.style_max = sx_tensor_from_data(1, (int64_t[]){S}, r.smax)) &&
              (res.effect = sx_tensor_zeros(4, (int64_t[]){N, 2, S, K})) &&
              (res.base_logits = sx_tensor_zeros(2, (int64_t[]){N, K}));
    if (ok && !r.logits) ok = (sx_fail(SX_ENOMEM, "%s: out of memory", fn), false);
    if (ok) {
        r.effect = sx_tensor_data(res.effect);
        r.base = sx_tensor_data(res.base_logits);
    }
    for (int64_t i = 0; i < N && ok; i++) ok = effects_image(&r, G, C, noise, i);
    sx_tensor_free(flat);
    effects_free(&r);
    sx_set_grad_enabled(grad);
    if (!ok) {
        sx_attfind_result_clear(&res);
        return prefix_error(fn);
    }
    *out = res;
    return SX_OK;
}

/* ---------------------------------------------------------------- entries */

struct sx_attfind_base {
    sx_style_layout lay;
    int64_t N, K;
    sx_styles st;                              /* the N images' styles, [N, C_l] per layer */
    sx_synthesis_cache cache;                  /* their activations, [N or 1, ...] */
    sx_tensor *noise[SX_STYLEGAN_MAX_LAYERS];  /* [N or 1, 1, r_l, r_l] (retained) */
    sx_tensor *logits;                         /* [N, K] */
};

void sx_attfind_base_free(sx_attfind_base *b)
{
    if (!b) return;
    sx_styles_clear(&b->st);
    sx_synthesis_cache_clear(&b->cache);
    for (int l = 0; l < SX_STYLEGAN_MAX_LAYERS; l++) sx_tensor_free(b->noise[l]);
    sx_tensor_free(b->logits);
    free(b);
}

int64_t sx_attfind_base_size(const sx_attfind_base *b) { return b ? b->N : 0; }

sx_tensor *sx_attfind_base_logits(const sx_attfind_base *b)
{
    if (!b) return sx_fail(SX_EINVAL, "attfind_base_logits: NULL base"), NULL;
    return sx_tensor_retain(b->logits);
}

/* Rows idx[0 .. n-1] of t (a batch-1 tensor is shared: it broadcasts). */
static sx_tensor *pick_rows(sx_tensor *t, int64_t n, const int64_t *idx)
{
    if (!t) return NULL;
    if (t->shape[0] == 1) return sx_tensor_retain(t);
    return sx_index_select(t, 0, n, idx);
}

/* Concatenates the chunks' tensors parts[0 .. n-1] along dim 0 into *dst
 * (batch-1 entries are the same in every chunk: the first is kept). */
static bool cat_chunks(sx_tensor **parts, int n, sx_tensor **dst)
{
    if (!parts[0]) return true;
    if (parts[0]->shape[0] == 1 && n > 1 && parts[1] && parts[1]->shape[0] == 1) {
        *dst = sx_tensor_retain(parts[0]);
        return true;
    }
    *dst = n == 1 ? sx_tensor_retain(parts[0]) : sx_cat(n, parts, 0);
    return *dst != NULL;
}

/* The base passes of images rows[0 .. n-1] of latents into b (b->N = n). */
static bool base_compute(sx_attfind_base *b, sx_module *G, sx_classifier *C, sx_tensor *latents,
                         sx_tensor *const *noise, int batch, int64_t n, const int64_t *rows)
{
    const int L = b->lay.n_layers;
    sx_tensor *lat = sx_index_select(latents, 0, n, rows);
    bool ok = lat && sx_synthesis_styles(G, lat, &b->st) == SX_OK;
    sx_tensor_free(lat);
    for (int l = 0; l < L && ok; l++) ok = (b->noise[l] = pick_rows(noise[l], n, rows)) != NULL;
    const int64_t chunks = (n + batch - 1) / batch, per = (n + chunks - 1) / chunks;
    sx_synthesis_cache *part = ok ? calloc((size_t)chunks, sizeof *part) : NULL;
    sx_tensor **logit = ok ? calloc((size_t)chunks, sizeof *logit) : NULL;
    sx_tensor **list = ok ? calloc((size_t)chunks, sizeof *list) : NULL;
    if (ok && (!part || !logit || !list)) ok = (sx_fail(SX_ENOMEM, "attfind_base: out of memory"), false);
    int done = 0;
    for (int64_t r0 = 0; r0 < n && ok; r0 += per, done++) {
        const int64_t B = r0 + per <= n ? per : n - r0;
        sx_styles one;
        sx_tensor *nz[SX_STYLEGAN_MAX_LAYERS] = {0};
        ok = sx_styles_narrow(&b->st, r0, B, &one) == SX_OK;
        for (int l = 0; l < L && ok; l++)
            ok = (nz[l] = b->noise[l]->shape[0] == 1 ? sx_tensor_retain(b->noise[l]) : sx_narrow(b->noise[l], 0, r0, B)) != NULL;
        sx_tensor *img = ok ? sx_synthesis_from_styles(G, &one, nz, 0, NULL, &part[done]) : NULL;
        ok = img && (logit[done] = sx_classifier_logits(C, img)) != NULL;
        sx_tensor_free(img);
        sx_styles_clear(&one);
        for (int l = 0; l < L; l++) sx_tensor_free(nz[l]);
    }
    if (ok) {
        b->cache.n_layers = part[0].n_layers;
        b->cache.n_levels = part[0].n_levels;
    }
    for (int l = 0; l < SX_STYLEGAN_MAX_LAYERS && ok; l++) {
        for (int c = 0; c < done; c++) list[c] = part[c].x[l];
        ok = cat_chunks(list, done, &b->cache.x[l]);
    }
    for (int k = 0; k < SX_STYLEGAN_MAX_LEVELS && ok; k++) {
        for (int c = 0; c < done; c++) list[c] = part[c].img[k];
        ok = cat_chunks(list, done, &b->cache.img[k]);
    }
    if (ok) ok = (b->logits = done == 1 ? sx_tensor_retain(logit[0]) : sx_cat(done, logit, 0)) != NULL;
    for (int c = 0; part && c < done; c++) sx_synthesis_cache_clear(&part[c]);
    for (int c = 0; logit && c < done; c++) sx_tensor_free(logit[c]);
    free(part);
    free(logit);
    free(list);
    return ok;
}

/* The checks every entry point shares; fills r's layout, N, K, batch. */
static bool entries_setup(effects_run *r, const char *fn, sx_module *G, sx_classifier *C, sx_tensor *latents,
                          sx_tensor *const *noise, const sx_attfind_opts *opts)
{
    if (sx_style_layout_of(G, &r->lay) != SX_OK) return prefix_error(fn), false;
    const sx_stylegan_config *gc = sx_stylegan_config_of(G);
    const sx_classifier_info *cc = sx_classifier_info_of(C);
    if (!gc) return false;
    if (!cc) return prefix_error(fn), false;
    if (sx_classifier_accepts(C, fn, "the generator's", gc->img_channels, gc->resolution, gc->resolution) != SX_OK)
        return false;
    if (!check_latents(fn, gc, latents)) return false;
    r->N = latents->shape[0];
    r->K = cc->n_classes;
    if (!noise)
        return sx_fail(SX_EINVAL, "%s: noise is required (one tensor per layer, e.g. from synthesis_noise)", fn), false;
    if (!check_noise(fn, &r->lay, noise, r->N)) return false;
    r->batch = opts && opts->batch ? opts->batch : SX_ATTFIND_DEFAULT_BATCH;
    if (r->batch < 1 || r->batch > MAX_BATCH)
        return sx_fail(SX_EINVAL, "%s: batch %d outside 1 .. %d", fn, r->batch, MAX_BATCH), false;
    return true;
}

sx_attfind_base *sx_attfind_base_new(sx_module *G, sx_classifier *C, sx_tensor *latents, sx_tensor *const *noise,
                                     const sx_attfind_opts *opts)
{
    const char *fn = "attfind_base";
    effects_run r = {0};
    if (!entries_setup(&r, fn, G, C, latents, noise, opts)) return NULL;
    sx_attfind_base *b = calloc(1, sizeof *b);
    int64_t *all = malloc((size_t)r.N * sizeof *all);
    if (!b || !all) {
        free(b);
        free(all);
        return sx_fail(SX_ENOMEM, "%s: out of memory", fn), NULL;
    }
    for (int64_t i = 0; i < r.N; i++) all[i] = i;
    b->lay = r.lay;
    b->N = r.N;
    b->K = r.K;
    bool grad = sx_set_grad_enabled(false);
    bool ok = base_compute(b, G, C, latents, noise, r.batch, r.N, all);
    sx_set_grad_enabled(grad);
    free(all);
    if (!ok) {
        sx_attfind_base_free(b);
        return prefix_error(fn), NULL;
    }
    return b;
}

/* The entries of one layer l: batches of at most r->batch (image, column) pairs. */
static bool entries_layer(effects_run *r, sx_module *G, sx_classifier *C, const sx_attfind_base *b, int l,
                          int64_t n, const int64_t *which, const int64_t *pos, const int64_t *rows, const int *cols,
                          float *out)
{
    const int64_t S = r->lay.n_coords, K = r->K, Cl = r->lay.channels[l], off = r->lay.offset[l];
    const int L = r->lay.n_layers;
    int64_t *idx = malloc((size_t)r->batch * sizeof *idx);
    if (!idx) return sx_fail(SX_ENOMEM, "attfind_entries: out of memory"), false;
    bool ok = true;
    const int64_t chunks = (n + r->batch - 1) / r->batch, per = (n + chunks - 1) / chunks;
    for (int64_t e0 = 0; e0 < n && ok; e0 += per) {
        const int64_t B = e0 + per <= n ? per : n - e0;
        for (int64_t q = 0; q < B; q++) idx[q] = pos[rows[which[e0 + q]]];
        sx_styles sub = {.n_layers = b->st.n_layers, .n_levels = b->st.n_levels};
        sx_synthesis_cache cache = {.n_layers = b->cache.n_layers, .n_levels = b->cache.n_levels};
        sx_tensor *nz[SX_STYLEGAN_MAX_LAYERS] = {0};
        for (int k = 0; k < L && ok; k++)
            ok = !b->st.conv[k] || k < l || (sub.conv[k] = pick_rows(b->st.conv[k], B, idx));
        for (int k = 0; k < SX_STYLEGAN_MAX_LEVELS && ok; k++)
            ok = !b->st.rgb[k] || (sub.rgb[k] = pick_rows(b->st.rgb[k], B, idx));
        for (int k = 0; k < SX_STYLEGAN_MAX_LEVELS && ok; k++)
            ok = !b->cache.img[k] || (cache.img[k] = pick_rows(b->cache.img[k], B, idx));
        ok = ok && (l == 0 || (cache.x[l] = pick_rows(b->cache.x[l], B, idx)));
        for (int k = l; k < L && ok; k++) ok = (nz[k] = pick_rows(b->noise[k], B, idx)) != NULL;
        /* layer l's styles of each row with its own channel moved */
        sx_tensor *conv = ok ? sx_tensor_empty(2, (int64_t[]){B, Cl}) : NULL;
        if (ok && (ok = conv != NULL)) {
            sx_tensor *src = sub.conv[l]->shape[0] == 1 ? sx_expand(sub.conv[l], 2, (int64_t[]){B, Cl}) :
                                                          sx_tensor_retain(sub.conv[l]);
            if ((ok = src != NULL)) sx_tensor_copy_to(src, sx_tensor_data(conv));
            sx_tensor_free(src);
        }
        if (ok) {
            float *cd = sx_tensor_data(conv);
            for (int64_t q = 0; q < B; q++) {
                const int col = cols[which[e0 + q]];
                const int64_t j = col % S, d = col / S;
                cd[q * Cl + (j - off)] = d ? r->smax[j] : r->smin[j];
            }
            sx_tensor_free(sub.conv[l]);
            sub.conv[l] = conv;
            conv = NULL;
        }
        sx_tensor *img = ok ? sx_synthesis_from_styles(G, &sub, nz, l, l > 0 ? &cache : NULL, NULL) : NULL;
        ok = ok && classify(r, C, img);
        sx_tensor_free(img);
        sx_tensor_free(conv);
        sx_styles_clear(&sub);
        sx_synthesis_cache_clear(&cache);
        for (int k = 0; k < L; k++) sx_tensor_free(nz[k]);
        if (!ok) break;
        const float *bl = sx_tensor_data(b->logits);
        for (int64_t q = 0; q < B; q++)
            for (int64_t k = 0; k < K; k++)
                out[which[e0 + q] * K + k] = r->logits[q * K + k] - bl[idx[q] * K + k];
        ok = report(r, B);
    }
    free(idx);
    return ok;
}

sx_status sx_attfind_entries(sx_module *G, sx_classifier *C, sx_tensor *latents, sx_tensor *const *noise,
                             const sx_attfind_opts *opts, const sx_attfind_base *base, int64_t n, const int64_t *rows,
                             const int *cols, sx_attfind_progress_fn progress, void *ctx, sx_tensor **effect)
{
    const char *fn = "attfind_entries";
    if (!effect) return sx_fail(SX_EINVAL, "%s: NULL result", fn);
    *effect = NULL;
    effects_run r = {.progress = progress, .ctx = ctx};
    if (!entries_setup(&r, fn, G, C, latents, noise, opts)) return sx_last_status() == SX_OK ? SX_EINVAL : sx_last_status();
    const int64_t S = r.lay.n_coords, N = r.N, K = r.K;
    if (n < 1 || !rows || !cols) return sx_fail(SX_EINVAL, "%s: no entries (n %lld)", fn, (long long)n);
    for (int64_t q = 0; q < n; q++) {
        if (rows[q] < 0 || rows[q] >= N)
            return sx_fail(SX_EINVAL, "%s: rows[%lld] = %lld outside 0 .. %lld", fn, (long long)q, (long long)rows[q],
                           (long long)N - 1);
        if (cols[q] < 0 || cols[q] >= 2 * S)
            return sx_fail(SX_EINVAL, "%s: cols[%lld] = %d outside 0 .. %lld", fn, (long long)q, cols[q],
                           (long long)(2 * S - 1));
    }
    if (base && (base->N != N || base->K != K || base->lay.n_coords != S))
        return sx_fail(SX_EINVAL, "%s: the base holds %lld images, %lld classes, %lld coordinates; expected %lld, %lld, %lld",
                       fn, (long long)base->N, (long long)base->K, (long long)base->lay.n_coords, (long long)N,
                       (long long)K, (long long)S);

    bool grad = sx_set_grad_enabled(false);
    sx_tensor *flat = NULL, *eff = NULL;
    sx_attfind_base *own = NULL;
    int64_t *pos = malloc((size_t)N * sizeof *pos), *which = malloc((size_t)n * sizeof *which), *distinct = NULL;
    bool ok = pos && which;
    if (!ok) sx_fail(SX_ENOMEM, "%s: out of memory", fn);
    ok = ok && sx_synthesis_styles(G, latents, &r.st) == SX_OK && (flat = sx_styles_flat(&r.st)) &&
         (r.styles = host_copy(flat)) && effects_extremes(&r, opts, fn) &&
         (r.logits = malloc((size_t)(r.batch * K) * sizeof *r.logits)) &&
         (eff = sx_tensor_zeros(2, (int64_t[]){n, K}));
    if (ok && !r.logits) ok = (sx_fail(SX_ENOMEM, "%s: out of memory", fn), false);
    sx_tensor_free(flat);
    sx_styles_clear(&r.st);
    /* the base: the caller's, or one of the distinct images of the entries */
    if (ok && base) {
        for (int64_t i = 0; i < N; i++) pos[i] = i;
        r.total = n;
    } else if (ok) {
        int64_t m = 0;
        for (int64_t i = 0; i < N; i++) pos[i] = -1;
        if (!(distinct = malloc((size_t)n * sizeof *distinct))) ok = (sx_fail(SX_ENOMEM, "%s: out of memory", fn), false);
        for (int64_t q = 0; q < n && ok; q++)
            if (pos[rows[q]] < 0) {
                pos[rows[q]] = m;
                distinct[m++] = rows[q];
            }
        r.total = m + n;
        ok = ok && (own = calloc(1, sizeof *own)) != NULL;
        if (ok) {
            own->lay = r.lay;
            own->N = m;
            own->K = K;
            ok = base_compute(own, G, C, latents, noise, r.batch, m, distinct) && report(&r, m);
        }
        base = own;
    }
    float *out = ok ? sx_tensor_data(eff) : NULL;
    /* by layer, in the order given */
    for (int l = 0; l < r.lay.n_layers && ok; l++) {
        int64_t m = 0;
        for (int64_t q = 0; q < n; q++) {
            const int64_t j = cols[q] % S;
            if (j >= r.lay.offset[l] && j < r.lay.offset[l] + r.lay.channels[l]) which[m++] = q;
        }
        if (m > 0) ok = entries_layer(&r, G, C, base, l, m, which, pos, rows, cols, out);
    }
    sx_attfind_base_free(own);
    free(pos);
    free(which);
    free(distinct);
    effects_free(&r);
    sx_set_grad_enabled(grad);
    if (!ok) {
        sx_tensor_free(eff);
        return prefix_error(fn);
    }
    *effect = eff;
    return SX_OK;
}

/* ---------------------------------------------------------------- apply */

sx_tensor *sx_attfind_apply(sx_module *G, sx_tensor *latents, sx_tensor *const *noise, int n_changes,
                            const int *coords, sx_tensor *values, bool add)
{
    const char *fn = "attfind_apply";
    char s[96];
    sx_style_layout lay;
    if (sx_style_layout_of(G, &lay) != SX_OK) return prefix_error(fn), NULL;
    const sx_stylegan_config *gc = sx_stylegan_config_of(G);
    if (!gc || !check_latents(fn, gc, latents)) return NULL;
    if (n_changes < 0 || n_changes > (1 << 24) || (n_changes > 0 && (!coords || !values)))
        return sx_fail(SX_EINVAL, "%s: %d changes need coords and values", fn, n_changes), NULL;
    const int64_t N = latents->shape[0];
    int64_t B = N;
    if (n_changes > 0) {
        if (values->ndim != 2 || values->shape[1] != n_changes || values->shape[0] < 1 ||
            (values->shape[0] != N && values->shape[0] != 1 && N != 1))
            return sx_fail(SX_EINVAL, "%s: values %s, expected [%lld or 1, %d]", fn, sx_shape_str(values, s, sizeof s),
                           (long long)N, n_changes),
                   NULL;
        if (values->shape[0] > B) B = values->shape[0];
        for (int k = 0; k < n_changes; k++)
            if (coords[k] < 0 || coords[k] >= lay.n_coords)
                return sx_fail(SX_EINVAL, "%s: coords[%d] = %d outside 0 .. %d", fn, k, coords[k], lay.n_coords - 1),
                       NULL;
    }
    if (noise && !check_noise(fn, &lay, noise, B)) return NULL;

    bool grad = sx_set_grad_enabled(false);
    sx_styles st;
    sx_tensor *img = NULL;
    float *vals = NULL;
    bool ok = sx_synthesis_styles(G, latents, &st) == SX_OK;
    if (ok && n_changes > 0) ok = (vals = host_copy(values)) != NULL;
    const int64_t vrows = n_changes > 0 ? values->shape[0] : 1;
    for (int l = 0; l < lay.n_layers && ok && n_changes > 0; l++) {
        const int64_t Cl = lay.channels[l], off = lay.offset[l];
        bool touched = false;
        for (int k = 0; k < n_changes; k++) touched = touched || (coords[k] >= off && coords[k] < off + Cl);
        if (!touched) continue;
        /* layer l of every row: the image's styles with the changes */
        sx_tensor *rows = sx_expand(st.conv[l], 2, (int64_t[]){B, Cl});
        sx_tensor *t = rows ? sx_tensor_copy(rows) : NULL;
        sx_tensor_free(rows);
        if (!(ok = t != NULL)) break;
        float *d = sx_tensor_data(t);
        for (int64_t b = 0; b < B; b++)
            for (int k = 0; k < n_changes; k++) {
                if (coords[k] < off || coords[k] >= off + Cl) continue;
                float v = vals[(vrows == 1 ? 0 : b) * n_changes + k];
                float *x = d + b * Cl + (coords[k] - off);
                *x = add ? *x + v : v;
            }
        sx_tensor_free(st.conv[l]);
        st.conv[l] = t;
    }
    if (ok) img = sx_synthesis_from_styles(G, &st, noise, 0, NULL, NULL);
    if (!img) prefix_error(fn);
    free(vals);
    sx_styles_clear(&st);
    sx_set_grad_enabled(grad);
    return img;
}
