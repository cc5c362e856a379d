/*
 * stylex/cnn.h — the CNN classifier that StylEx explains.
 *
 * A compact VGG-style network for [N, C, R, R] images in [-1, 1]:
 *   blocks b = 0..n_blocks-1: convs_per_block x (conv3x3 -> relu), then 2x2 max-pool;
 *   flatten -> [dropout] -> FC(hidden) -> relu  (the "penultimate" features)
 *   -> [dropout] -> FC(n_classes)               (logits)
 * The forward can also return each block's last relu map (before pooling):
 * the StylEx perceptual distance uses them, the Fréchet distance uses the
 * penultimate features. The classifier is frozen during StylEx training.
 *
 * A classifier is an sx_module (type "Classifier") whose parameters are
 * named block<b>.conv<k>.{weight,bias}, fc.{weight,bias}, out.{weight,bias}.
 */
#ifndef STYLEX_CNN_H
#define STYLEX_CNN_H

#include "stylex/config.h"
#include "stylex/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SX_CNN_MAX_BLOCKS 6

typedef struct sx_cnn_config {
    int resolution;        /* input height = width; a multiple of 2^n_blocks */
    int img_channels;      /* 1 or 3 */
    int n_classes;         /* >= 2 */
    int n_blocks;          /* 1..SX_CNN_MAX_BLOCKS */
    int channels[SX_CNN_MAX_BLOCKS]; /* output channels of each block */
    int convs_per_block;   /* >= 1 */
    int hidden;            /* width of the penultimate layer */
    float dropout;         /* dropout probability before each FC, in training */
} sx_cnn_config;

/* The default: 32x32x1, 3 blocks of (32, 64, 128) channels, 2 convs each,
 * hidden 256, dropout 0.3, n_classes as given. */
sx_cnn_config sx_cnn_default_config(int n_classes);
/* Checks a config: every field's bounds (sx_cnn_config_desc), then
 * that the resolution halves n_blocks times and img_channels is 1 or 3.
 * SX_EINVAL with a message naming the field. */
sx_status sx_cnn_config_check(const sx_cnn_config *cfg);

/* A new classifier with freshly initialised weights (global RNG). */
sx_module *sx_cnn_new(const sx_cnn_config *cfg);
/* The configuration of a classifier module (borrowed), or NULL with an error. */
const sx_cnn_config *sx_cnn_config_of(const sx_module *m);

typedef struct sx_cnn_output {
    sx_tensor *logits;                              /* [N, n_classes] */
    sx_tensor *penultimate;                         /* [N, hidden] */
    int n_features;
    sx_tensor *features[SX_CNN_MAX_BLOCKS];  /* block b: [N, channels[b], R/2^b, R/2^b] */
} sx_cnn_output;

/* Runs the network on x [N, C, R, R]. train enables dropout. Fills out with
 * new references (free with sx_cnn_output_clear); with want_features
 * false only logits and penultimate are kept. */
sx_status sx_cnn_forward(sx_module *m, sx_tensor *x, bool train, bool want_features,
                                sx_cnn_output *out);
void sx_cnn_output_clear(sx_cnn_output *out);
/* Logits only (eval mode): the module's single-input forward. */
sx_tensor *sx_cnn_logits(sx_module *m, sx_tensor *x);

/* Data augmentation (not differentiable): each image shifted by a random
 * integer offset in [-max_shift, max_shift]^2 (vacated pixels take `fill`)
 * and mirrored left-right with probability flip_prob. Global RNG. */
sx_tensor *sx_augment_shift_flip(sx_tensor *x, int max_shift, float flip_prob, float fill);

#ifdef __cplusplus
}
#endif
#endif
