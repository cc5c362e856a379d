/*
 * stylex/shapes.h — the ground-truth benchmark's renderer (SPEC §7, docs/benchmark.md).
 *
 * A 32x32 grey image holds one object on a textured background, rendered from
 * known factors. Three of the object's factors decide the label (the causes);
 * shape and squash are candidate causes the label ignores; position, rotation
 * and the background texture are nuisances; a corner marker is the shortcut,
 * correlated with the label only where the sampler is told to make it so.
 *
 * Everything is a pure function of its inputs: sx_shapes_sample draws image i's
 * factors from its own stream keyed by (seed, i), so sample i does not depend
 * on how many samples are drawn, and the renderer uses no global state.
 */
#ifndef STYLEX_SHAPES_H
#define STYLEX_SHAPES_H

#include <stdint.h>

#include "stylex/tensor.h"

#ifdef __cplusplus
extern "C" {
#ifdef __cplusplus
}
#endif

#endif

#define SX_SHAPES_RES 32

/* Factor indices into sx_shapes_factors.v; ranges in docs/benchmark.md. */
typedef enum sx_shapes_factor {
    SX_SHAPES_SIZE,        /* object radius in pixels, [4.5, 8]; cause: > 6.25 */
    SX_SHAPES_BRIGHTNESS,  /* object grey level in [0, 1], [0.4, 1]; cause: > 0.7 */
    SX_SHAPES_STRIPES,     /* 0 or 1: dark stripes across the object; cause: 1 */
    SX_SHAPES_SHAPE,       /* 0 circle, 1 square, 2 triangle; not a cause */
    SX_SHAPES_SQUASH,      /* vertical scale, [0.6, 1]; not a cause */
    SX_SHAPES_POS_X,       /* centre offset in pixels, [-3, 3]; nuisance */
    SX_SHAPES_POS_Y,       /* centre offset in pixels, [-3, 3]; nuisance */
    SX_SHAPES_ROTATION,    /* radians, [0, 2pi); nuisance */
    SX_SHAPES_TEXTURE,     /* background texture seed, an integer in [0, 2^24); nuisance */
    SX_SHAPES_MARKER,      /* 0 or 1: a bright 3x3 dot in the top-left corner; the shortcut */
    SX_SHAPES_N_FACTORS
} sx_shapes_factor;

typedef struct sx_shapes_factors {
    double v[SX_SHAPES_N_FACTORS];
} sx_shapes_factors;

/* The factor's name as in the CSV and the scores ("size", "brightness", ...). */
const char *sx_shapes_factor_name(int factor);
/* The factor's range [lo, hi] (hi inclusive for the discrete ones). */
void sx_shapes_factor_range(int factor, double *lo, double *hi);
/* 1 for factors that take whole values (stripes, shape, texture, marker). */
int sx_shapes_factor_is_discrete(int factor);

/* The label rule: 1 when at least two of {size > 6.25, brightness > 0.7,
 * stripes} hold, else 0. Flipping any one cause alone flips the label exactly
 * when the other two disagree (half the images when the causes are fair coins). */
int sx_shapes_label(const sx_shapes_factors *f);

/* Draws image `index`'s factors for `seed`. The causes are independent fair
 * draws (continuous ones uniform on their range); the marker is present with
 * probability marker_if_1 when the label is 1 and marker_if_0 when it is 0
 * (0.9 / 0.1 for the correlated training split, 0.5 / 0.5 for the balanced one). */
void sx_shapes_sample(uint64_t seed, int64_t index, double marker_if_1, double marker_if_0,
                      sx_shapes_factors *out);

/* Renders f into out[32*32] (row-major, grey in [0, 1]). Fails on a factor
 * outside its range (SX_EINVAL, the message names the factor). */
sx_status sx_shapes_render(const sx_shapes_factors *f, float *out);

#ifdef __cplusplus
}
#endif

#endif
