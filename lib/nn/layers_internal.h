/*
 * lib/nn/layers_internal.h — what the layer files of lib/nn share
 * (layers.c: Linear, Conv2d; basic_layers.c: the small layers); defined in
 * layers.c.
 */
#ifndef SX_LAYERS_INTERNAL_H
#define SX_LAYERS_INTERNAL_H

#include <stddef.h>

#include "stylex/nn.h"

/* A new module of type `type` whose impl is a copy of cfg (size bytes, the
 * layer's checked configuration) and whose single-input forward is
 * forward; NULL with the error set. */
sx_module *sx_layer_module(const char *type, const void *cfg, size_t size, sx_module_forward_fn forward);
/* false, with "<fn>: NULL options", when opts is NULL. */
bool sx_layer_has_opts(const void *opts, const char *fn);

#endif
