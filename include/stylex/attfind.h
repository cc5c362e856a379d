/*
 * stylex/attfind.h — AttFind (SPEC §1.4): the effect of every StyleSpace
 * coordinate on the classifier, and regeneration with chosen coordinates
 * changed (the counterfactuals of an explanation).
 *
 * The effect table of N images with style latents cat(w, p) (w from the
 * encoder, p the classifier's probabilities), S StyleSpace coordinates
 * (sx_styles_flat order) and a classifier with K classes:
 *   styles      s [N, S]        the images' StyleSpace vectors;
 *   base_logits   [N, K]        C(G(s_i)), the regenerated images classified;
 *   style_min/max [S]           min_j / max_j of s[:, j] over the N images;
 *   effect        [N, 2, S, K]  effect[i, d, j, :] = C(G(s_i with s_ij := min_j
 *                               (d = 0, "to-min") or max_j (d = 1, "to-max")))
 *                               - base_logits[i, :], the noise fixed.
 * That is N (1 + 2S) generator + classifier passes. Each image runs the
 * synthesis once keeping its activations; a shift of layer l's styles then
 * reruns only layers l .. L-1, for a batch of shifted copies at once (batch-1
 * cache and styles broadcast against the [B, C_l] shifted styles of layer l).
 * Policies that pick attributes from the table are Lua
 * (lua/stylex/attfind.lua): the table is the whole interface between them.
 *
 * Both functions run with grad mode off (restored on return) and record no
 * graph. Ownership follows tensor.h: inputs are borrowed; results are new
 * references, freed with sx_attfind_result_clear or sx_tensor_free.
 */
#ifndef STYLEX_ATTFIND_H
#define STYLEX_ATTFIND_H

#include "stylex/classifier.h"
#include "stylex/stylegan.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SX_ATTFIND_DEFAULT_BATCH 64

/* Called after each batch of passes with the passes done so far and the
 * total, N (1 + 2S). Returning false stops the computation (the call then
 * fails with SX_ESTATE and "stopped by the progress callback"). */
typedef bool (*sx_attfind_progress_fn)(void *ctx, int64_t done, int64_t total);

typedef struct sx_attfind_opts {
    int batch;                  /* shifted copies per generator + classifier call; 0 = default (64) */
    const sx_tensor *style_min; /* [S] or NULL: the extremes to shift to instead of those of the */
    const sx_tensor *style_max; /*   N images (e.g. from a larger set, or to compute in chunks) */
} sx_attfind_opts;

typedef struct sx_attfind_result {
    sx_tensor *effect;      /* [N, 2, S, K] logit changes; d = 0 to-min, 1 to-max */
    sx_tensor *base_logits; /* [N, K] */
    sx_tensor *style_min;   /* [S] */
    sx_tensor *style_max;   /* [S] */
    sx_tensor *styles;      /* [N, S] */
} sx_attfind_result;

/*
 * The effect table (above).
 *   G: a Generator (or its SynthesisNetwork); C: a Classifier whose input is
 *     G's image ([img_channels, R, R]);
 *   latents [N, w_dim + n_classes];
 *   noise: L tensors (L = layers of G), noise[l] [N or 1, 1, r_l, r_l]
 *     (sx_synthesis_noise gives them), required: the same noise for the base
 *     and every shifted copy of an image;
 *   opts: NULL for the defaults;
 *   progress: NULL, or called as described at sx_attfind_progress_fn;
 *   out: overwritten; on failure it holds nothing.
 */
sx_status sx_attfind_effects(sx_module *G, sx_classifier *C, sx_tensor *latents, sx_tensor *const *noise,
                             const sx_attfind_opts *opts, sx_attfind_progress_fn progress, void *ctx,
                             sx_attfind_result *out);
void sx_attfind_result_clear(sx_attfind_result *r);

/*
 * Chosen entries of the effect table, exactly as sx_attfind_effects computes
 * them: the screened AttFind of lua/stylex/attfind.lua evaluates only the
 * entries that can change the policy's picks.
 *
 * A base holds the base pass of N images (every layer's input, every
 * level's skip image, the styles, the noise and the logits: host memory of
 * N times one image's activations), so that entries asked for in many calls
 * never recompute it.
 *   sx_attfind_base_new: latents, noise, opts as sx_attfind_effects (opts:
 *     batch only); NULL with an error on failure. Free with
 *     sx_attfind_base_free (NULL is fine).
 *   sx_attfind_base_size: N; sx_attfind_base_logits: [N, K] (new reference).
 *
 * sx_attfind_entries: entry q is image rows[q] (0-based index into latents)
 * with column cols[q] = d * S + j (coordinate j, d = 0 to-min, 1 to-max, the
 * [2, S] order of the table):
 *   base: from sx_attfind_base_new on the same latents and noise, or NULL
 *     (then the base passes of the distinct images of the entries are run
 *     first, and counted in the progress);
 *   the extremes are those of all N latents unless opts gives them;
 *   entries of one layer run together in batches of at most opts->batch,
 *     each from that layer on, from the base's activations;
 *   effect: set to [n, K], effect[q, :] = effect[rows[q], d, j, :] of the
 *     full table (new reference; NULL on failure).
 */
typedef struct sx_attfind_base sx_attfind_base;

sx_attfind_base *sx_attfind_base_new(sx_module *G, sx_classifier *C, sx_tensor *latents, sx_tensor *const *noise,
                                     const sx_attfind_opts *opts);
void sx_attfind_base_free(sx_attfind_base *b);
int64_t sx_attfind_base_size(const sx_attfind_base *b);
sx_tensor *sx_attfind_base_logits(const sx_attfind_base *b);
sx_status sx_attfind_entries(sx_module *G, sx_classifier *C, sx_tensor *latents, sx_tensor *const *noise,
                             const sx_attfind_opts *opts, const sx_attfind_base *base, int64_t n, const int64_t *rows,
                             const int *cols, sx_attfind_progress_fn progress, void *ctx, sx_tensor **effect);

/*
 * Images with StyleSpace coordinates changed: for every row b of the batch,
 * coordinate coords[k] (flat, 0-based) of image b's styles is set to
 * values[b, k] (add false) or moved by it (add true); the other coordinates
 * and the toRGB styles stay those of latents[b].
 *   latents [B or 1, w_dim + n_classes];
 *   values [B or 1, n_changes] (NULL when n_changes is 0: plain regeneration);
 *   noise: NULL (fresh random noise) or L tensors [B or 1, 1, r_l, r_l];
 * A batch of 1 broadcasts, so one latent and values [M, n] give M images
 * (a strip of strengths), and latents [N] with values [1, n] apply the same
 * change to N images. A coordinate listed twice: set keeps the last value,
 * add adds both. Returns images [B, img_channels, R, R] (new reference).
 */
sx_tensor *sx_attfind_apply(sx_module *G, sx_tensor *latents, sx_tensor *const *noise, int n_changes,
                            const int *coords, sx_tensor *values, bool add);

#ifdef __cplusplus
}
#endif
#endif
