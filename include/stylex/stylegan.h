/*
 * stylex/stylegan.h — the StylEx networks: a StyleGAN2 generator (mapping +
 * skip synthesis), a resnet discriminator and the encoder, with access to
 * StyleSpace (the per-channel styles of every modulated 3x3 conv).
 *
 * Conditioning (StylEx, SPEC §1.3): the latent that feeds every style affine
 * is cat(w, p), w = mapping(z) or E(x) [N, w_dim], p = softmax(C(x)) [N,
 * n_classes] the classifier's probabilities (given by the caller). With
 * n_classes 0 the latent is w alone (the "StyleSpace baseline"). The
 * discriminator has one output per class combined as sum_c out_c * p_c.
 *
 * Networks (stylegan2-ada semantics, equalized learning rate everywhere):
 *   mapping:   normalize_2nd_moment(z), then mapping_layers x FC (lr_mul 0.01,
 *              lrelu(0.2) * sqrt 2) -> w.
 *   synthesis: learned const [C4, 4, 4]; at 4x4 one modulated 3x3 conv; then
 *              per resolution 8..R: conv0 (2x up), conv1; every resolution has
 *              a toRGB (1x1 modulated, not demodulated, + bias) and the image
 *              is upsample2d(img) + toRGB(x) (skip architecture).
 *              A modulated conv: s = affine(latent) (bias init 1);
 *              y = conv(x * s[:, :, None, None], weight) * d[:, :, None, None],
 *              d = rsqrt(s^2 @ sum_k(weight^2)^T + 1e-8) (the batched form:
 *              one shared-weight conv for the whole batch); then per-pixel
 *              noise [N, 1, H, W] * noise_strength (init 0), + bias, lrelu * sqrt 2.
 *              2x up: conv_transpose2d stride 2, then the [1,3,3,1] FIR with
 *              gain 4 (official conv2d_resample; 1/4 of the multiply-adds of
 *              upsampling first and convolving at the output resolution).
 *   discriminator (resnet): fromRGB 1x1 at R; per resolution R..8 a block
 *              conv0 3x3, [blur, conv1 3x3 stride 2], skip [blur-down, 1x1 no
 *              bias], (x + skip) * sqrt .5; at 4x4 minibatch-stddev (groups of
 *              G = the largest divisor of N not above mbstd_group, so
 *              min(4, N) when it divides N; mbstd_channels features), conv 3x3,
 *              FC(C4*16 -> C4), FC(C4 -> max(n_classes, 1)).
 *   encoder:   the discriminator's architecture with its own weights, no
 *              minibatch-stddev, last FC -> w_dim.
 * Every op is differentiable through the library's ops (double backward for R1).
 *
 * Channels: channels[k] is the width at resolution 4 << k, for G, D and E.
 * The default rule is clamp(1024 / res, 16, 128): 4:128 8:128 16:64 32:32
 * 64:16 (and 16 above), the SPEC's small network, extended by halving.
 *
 * StyleSpace layers are numbered in synthesis order: layer 0 = b4.conv1,
 * then b8.conv0, b8.conv1, b16.conv0, ... (L = 2 log2(R) - 3 layers); layer l
 * has one style per INPUT channel. The default 32x32 network has 672 styles.
 * toRGB styles are not in StyleSpace but are kept in sx_styles (rgb[]).
 *
 * Parameter names follow stylegan2-ada (e.g. "synthesis.b8.conv0.weight",
 * "synthesis.b8.conv0.affine.bias", "b32.skip.weight", "b4.out.bias").
 *
 * Ownership follows tensor.h: functions returning a pointer return a new
 * reference or NULL with sx_last_error() set; input tensors are borrowed.
 * Structs filled by these functions own their tensors; free them with their
 * *_clear function (safe on a zeroed or already cleared struct).
 */
#ifndef STYLEX_STYLEGAN_H
#define STYLEX_STYLEGAN_H

#include "stylex/config.h"
#include "stylex/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SX_STYLEGAN_MAX_LEVELS 9                                /* resolutions 4 .. 1024 */
#define SX_STYLEGAN_MAX_LAYERS (2 * SX_STYLEGAN_MAX_LEVELS - 3) /* modulated 3x3 convs at 1024 */
#define SX_STYLEGAN_MAX_MAPPING 32

typedef struct sx_stylegan_config {
    int resolution;       /* image height = width: a power of two, 8 .. 1024 (default 32) */
    int img_channels;     /* 1 or 3 */
    int z_dim;            /* mapping input (default 128) */
    int w_dim;            /* mapping output and encoder output (default 128) */
    int n_classes;        /* conditioning classes; 0 = unconditional */
    int mapping_layers;   /* FC layers of the mapping network (default 8), 1 .. 32 */
    float mapping_lr_mul; /* learning-rate multiplier of the mapping FCs (default 0.01) */
    int channels[SX_STYLEGAN_MAX_LEVELS]; /* channels at resolution 4 << k, k = 0 .. log2(R) - 2 */
    int mbstd_group;      /* minibatch-stddev group size (default 4; 0 disables mbstd in D) */
    int mbstd_channels;   /* minibatch-stddev feature channels (default 1) */
} sx_stylegan_config;

/* The default channel width at resolution res: clamp(1024 / res, 16, 128). */
int sx_stylegan_default_channels(int res);
/* The default config for a resolution, image channels and classes (see above). */
sx_stylegan_config sx_stylegan_default_config(int resolution, int img_channels, int n_classes);
/* Checks a config: every field's bounds (sx_stylegan_config_desc), then a
 * power-of-two resolution, img_channels 1 or 3, and mbstd_channels dividing
 * channels[0]. SX_EINVAL with a message naming the bad field. */
sx_status sx_stylegan_config_check(const sx_stylegan_config *cfg);
/* The config a StyleGAN module was built with (Generator, MappingNetwork,
 * SynthesisNetwork, Discriminator, Encoder), borrowed; NULL with an error. */
const sx_stylegan_config *sx_stylegan_config_of(const sx_module *m);

/* ---------------------------------------------------------------- construction */

/* Type "Generator": children "mapping" (MappingNetwork) and "synthesis"
 * (SynthesisNetwork). Fresh weights from the global RNG. Single-input forward:
 * z -> image for an unconditional generator. */
sx_module *sx_generator_new(const sx_stylegan_config *cfg);
/* Type "MappingNetwork" (fc0 .. fc<L-1>); single-input forward z -> w. */
sx_module *sx_mapping_new(const sx_stylegan_config *cfg);
/* Type "SynthesisNetwork" (b4, b8, ...); no single-input forward. */
sx_module *sx_synthesis_new(const sx_stylegan_config *cfg);
/* Type "Discriminator"; single-input forward img -> [N] when unconditional. */
sx_module *sx_discriminator_new(const sx_stylegan_config *cfg);
/* Type "Encoder"; single-input forward img -> w [N, w_dim]. */
sx_module *sx_encoder_new(const sx_stylegan_config *cfg);

/* ---------------------------------------------------------------- generator */

/* Functions taking `G` accept a Generator or (where only that part is used)
 * its MappingNetwork / SynthesisNetwork child. */

/* z [N, z_dim] -> w [N, w_dim]. */
sx_tensor *sx_mapping_forward(sx_module *G, sx_tensor *z);
/* The style latent cat(w, p) [N, w_dim + n_classes] of the Generator G; p
 * [N, n_classes] must be given iff n_classes > 0 (with n_classes 0 the
 * result is w, retained). */
sx_tensor *sx_stylegan_latent(const sx_module *G, sx_tensor *w, sx_tensor *p);
/* latent [N, w_dim + n_classes] -> image [N, img_channels, R, R]. noise: see
 * sx_synthesis_from_styles. */
sx_tensor *sx_synthesis_forward(sx_module *G, sx_tensor *latent, sx_tensor *const *noise);
/* z [N, z_dim], p [N, n_classes] or NULL -> image: mapping, latent, synthesis. */
sx_tensor *sx_generator_forward(sx_module *G, sx_tensor *z, sx_tensor *p, sx_tensor *const *noise);

/* ---------------------------------------------------------------- StyleSpace */

/* Where each StyleSpace coordinate lives. Flat coordinate j of layer l and
 * input channel c is offset[l] + c. */
typedef struct sx_style_layout {
    int n_layers;                              /* L, modulated 3x3 convs */
    int n_coords;                              /* S = sum of channels[] */
    int channels[SX_STYLEGAN_MAX_LAYERS];      /* styles of layer l (its input channels) */
    int out_channels[SX_STYLEGAN_MAX_LAYERS];  /* output channels of layer l */
    int offset[SX_STYLEGAN_MAX_LAYERS];        /* first flat coordinate of layer l */
    int resolution[SX_STYLEGAN_MAX_LAYERS];    /* output (and noise) height = width of layer l */
    int level[SX_STYLEGAN_MAX_LAYERS];         /* resolution level k (res 4 << k) of layer l */
    char name[SX_STYLEGAN_MAX_LAYERS][16];     /* "b8.conv0" */
    int n_levels;                              /* toRGB layers, one per resolution */
    int rgb_channels[SX_STYLEGAN_MAX_LEVELS];  /* styles of the toRGB of level k */
} sx_style_layout;

sx_status sx_style_layout_of(const sx_module *G, sx_style_layout *out);
/* Flat coordinate j -> (layer, channel); SX_EINVAL if j is out of range. */
sx_status sx_style_layout_locate(const sx_style_layout *lay, int j, int *layer, int *channel);

/* Style vectors. A batch dimension of 1 broadcasts against the others in
 * sx_synthesis_from_styles. Layers a call does not use may be NULL. */
typedef struct sx_styles {
    int n_layers;                             /* L */
    sx_tensor *conv[SX_STYLEGAN_MAX_LAYERS];  /* StyleSpace: layer l [N, channels[l]], owned */
    int n_levels;
    sx_tensor *rgb[SX_STYLEGAN_MAX_LEVELS];   /* toRGB of level k [N, rgb_channels[k]], owned */
} sx_styles;

/* All style vectors (the affine outputs) of latent [N, w_dim + n_classes];
 * out is overwritten (clear it first if it held tensors). */
sx_status sx_synthesis_styles(sx_module *G, sx_tensor *latent, sx_styles *out);
void sx_styles_clear(sx_styles *st);
/* The StyleSpace styles as one [N, S] tensor (cat over layers, layer order). */
sx_tensor *sx_styles_flat(const sx_styles *st);
/* Replaces st->conv[] by slices (views, differentiable) of flat [N, S];
 * rgb[] is kept. */
sx_status sx_styles_set_flat(const sx_module *G, sx_styles *st, sx_tensor *flat);
/* dst = rows [start, start + length) of every tensor of src (views); entries
 * of batch 1 are shared as they are (they broadcast). dst is overwritten. */
sx_status sx_styles_narrow(const sx_styles *src, int64_t start, int64_t length, sx_styles *dst);
/* A copy of src sharing its tensors (retained), e.g. to replace one layer. */
sx_status sx_styles_share(const sx_styles *src, sx_styles *dst);
/* Style mixing at the stylegan2-ada w index `cutoff` (1 .. L): layer l takes
 * b's styles when l >= cutoff, the toRGB of level k when 2k + 1 >= cutoff
 * (its w index), a's otherwise. out shares the tensors. */
sx_status sx_styles_mix(const sx_styles *a, const sx_styles *b, int cutoff, sx_styles *out);

/* Activations saved by a synthesis pass, to restart it at a later layer.
 * With grad mode on they keep that pass's graph alive (AttFind runs without). */
typedef struct sx_synthesis_cache {
    int n_layers;
    sx_tensor *x[SX_STYLEGAN_MAX_LAYERS];   /* input of layer l [Nc, channels[l], r, r], r its input res */
    int n_levels;
    sx_tensor *img[SX_STYLEGAN_MAX_LEVELS]; /* skip image after level k's toRGB [Nc, img_channels, 4<<k, 4<<k] */
} sx_synthesis_cache;

void sx_synthesis_cache_clear(sx_synthesis_cache *c);
/* dst = rows [start, start + length) of every tensor of src (views; batch-1
 * entries shared as they are). dst is overwritten. */
sx_status sx_synthesis_cache_narrow(const sx_synthesis_cache *src, int64_t start, int64_t length,
                                    sx_synthesis_cache *dst);

/* Fresh N(0, 1) noise for every layer (global RNG): out[l] [N, 1, r_l, r_l],
 * new references; out needs L = sx_style_layout.n_layers slots. */
sx_status sx_synthesis_noise(const sx_module *G, int64_t n, sx_tensor **out);

/*
 * The image [N, img_channels, R, R] from style vectors, running layers
 * from_layer .. L-1.
 *   styles: conv[l] for l >= from_layer and rgb[k] for the levels from
 *     from_layer's on are used (the others may be NULL);
 *   noise: NULL (fresh random noise each call), or L tensors (index = layer;
 *     entries below from_layer unused) noise[l] [N or 1, 1, r_l, r_l];
 *   cache: required when from_layer > 0: x[from_layer] and the image of the
 *     level before from_layer's (from a pass with cache_out on the same
 *     styles for the layers before from_layer);
 *   cache_out: NULL, or filled (overwritten) with every layer's input and
 *     every level's image (entries before from_layer shared with cache).
 * Batch: every tensor used has batch N or 1 (1 broadcasts), so "one image,
 * B shifted copies of layer l" is a batch-1 cache and batch-1 styles except
 * conv[l] [B, C_l]; the cached activations are never copied.
 */
sx_tensor *sx_synthesis_from_styles(sx_module *G, const sx_styles *styles, sx_tensor *const *noise,
                                    int from_layer, const sx_synthesis_cache *cache,
                                    sx_synthesis_cache *cache_out);

/* The batched modulated convolution (no noise, bias or activation):
 * x [N or 1, Cin, H, W], weight [Cout, Cin, k, k] (the value used, gains
 * applied; k odd), styles [N or 1, Cin], up 1 or 2 ->
 * [N, Cout, H*up, W*up]. demodulate as described above. */
sx_tensor *sx_modulated_conv2d(sx_tensor *x, sx_tensor *weight, sx_tensor *styles, int up, bool demodulate);

/* ---------------------------------------------------------------- discriminator, encoder */

/* img [N, img_channels, R, R], p [N, n_classes] (iff n_classes > 0) -> [N]:
 * sum_c out_c * p_c, or the single output when unconditional. */
sx_tensor *sx_discriminator_forward(sx_module *D, sx_tensor *img, sx_tensor *p);
/* img [N, img_channels, R, R] -> w [N, w_dim]. */
sx_tensor *sx_encoder_forward(sx_module *E, sx_tensor *img);

/* FIR resampling helpers with the [1,3,3,1] filter (StyleGAN2's upsample2d /
 * downsample2d): x [N, C, H, W] -> [N, C, 2H, 2W] / [N, C, H/2, W/2]. */
sx_tensor *sx_upsample2d(sx_tensor *x);
sx_tensor *sx_downsample2d(sx_tensor *x);

#ifdef __cplusplus
}
#endif
#endif
