/*
 * lib/models/classifier_internal.h — what the classifier implementations in
 * lib/models share (defined in classifier.c).
 */
#ifndef SX_CLASSIFIER_INTERNAL_H
#define SX_CLASSIFIER_INTERNAL_H

#include "stylex/tensor.h"

/* y = mh . x . mw^T per image and channel: x [N, C, H, W], mh [h, H],
 * mw [w, W] -> [N, C, h, w]; differentiable in x (two matmuls). */
sx_tensor *sx_interp2d(sx_tensor *x, sx_tensor *mh, sx_tensor *mw);

#endif
