/*
 * lib/models/stylegan_internal.h — what the StyleGAN model files share
 * (stylegan.c: config, mapping, generator, resampling; synthesis.c:
 * synthesis network and StyleSpace; discriminator.c: D and E): the module
 * impl, the layer geometry and small helpers for chains of ops, all defined
 * in stylegan_common.c.
 */
#ifndef STYLEX_STYLEGAN_INTERNAL_H
#define STYLEX_STYLEGAN_INTERNAL_H

#include <math.h>

#include "../core/internal.h"
#include "stylex/ops.h"
#include "stylex/stylegan.h"

#define SG_SQRT2 1.41421356237309515f
#define SG_SQRT_HALF 0.70710678118654757f
#define SG_LRELU_SLOPE 0.2f

/* impl of the top-level modules (Generator, MappingNetwork, SynthesisNetwork,
 * Discriminator, Encoder): the config they were built with. */
typedef struct sg_model_impl {
    sx_stylegan_config cfg;
} sg_model_impl;

/* Resolution levels of a config: k = 0 .. n-1 for resolutions 4 << k. */
int sg_n_levels(const sx_stylegan_config *cfg);
/* StyleSpace layers of a config (2 n_levels - 1). */
int sg_n_layers(const sx_stylegan_config *cfg);
/* Geometry of synthesis layer l: input/output channels, output resolution, level. */
void sg_layer_geom(const sx_stylegan_config *cfg, int l, int *cin, int *cout, int *res, int *level);
/* "b<res>.conv0" / "b<res>.conv1" of layer l into buf. */
void sg_layer_name(const sx_stylegan_config *cfg, int l, char *buf, size_t n);

/* A new top-level module of `type` holding a copy of cfg (checked). */
sx_module *sg_model_new(const char *type, const sx_stylegan_config *cfg);
/* The module itself if its type is `type`, or its child `child` if m is a
 * Generator; NULL with an error naming fn otherwise. */
sx_module *sg_resolve(const sx_module *m, const char *type, const char *child, const char *fn);

/* Adds child `name` to parent (stealing child, which may be NULL after a
 * failed constructor); false with the error set. */
bool sg_add(sx_module *parent, const char *name, sx_module *child);
/* Replaces *t by next (freeing the old value); false if next is NULL. */
bool sg_step(sx_tensor **t, sx_tensor *next);
/* The value of m's parameter `name` times an extra gain: tensor * (gain * extra),
 * one op (or the tensor retained when the product is 1). */
sx_tensor *sg_param_scaled(const sx_module *m, const char *name, float extra);
/* Frees n tensors (NULL entries allowed). */
void sg_free_all(int n, sx_tensor **ts);

/* The [1,3,3,1] outer-product filter [4, 4], normalised to sum `gain`. */
sx_tensor *sg_fir(float gain);
/* upfirdn2d with the [1,3,3,1] filter times gain. */
sx_tensor *sg_fir_apply(sx_tensor *x, float gain, int up, int down, int p0, int p1);

#endif
