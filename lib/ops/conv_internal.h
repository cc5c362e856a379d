/*
 * lib/ops/conv_internal.h — what conv.c (the convolution ops) and
 * conv_kernels.c (their kernels) share: the geometry of one conv2d and the
 * three kernels that every op of the family runs on contiguous data.
 */
#ifndef STYLEX_CONV_INTERNAL_H
#define STYLEX_CONV_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

/* The geometry of one conv2d: x [N, C, H, W] (*) w [Cout, C/G, kh, kw] -> y [N, Cout, Ho, Wo]. */
typedef struct conv_geom {
    int64_t N, C, H, W;
    int64_t Cout, Ho, Wo;
    int64_t kh, kw;
    int64_t sy, sx, py, px;
    int64_t G;
} conv_geom;

/* y [N, Cout, Ho, Wo] = conv(x, w) (+ b, may be NULL). */
bool sx_conv_kernel_forward(const conv_geom *g, const float *x, const float *w, const float *b, float *y);
/* dw [Cout, C/G, kh, kw] = <gy, im2col(x)>. */
bool sx_conv_kernel_weight(const conv_geom *g, const float *x, const float *gy, float *dw);
/* z [N, C, H, W] = conv^T(u, w), u [N, Cout, Ho, Wo]. */
bool sx_conv_kernel_adjoint(const conv_geom *g, const float *u, const float *w, float *z);

#endif
