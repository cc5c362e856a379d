/*
 * stylex/metrics.h — the Fréchet distance between two sets of feature
 * vectors (SPEC §3: the FID stand-in on the frozen classifier's penultimate
 * features, since Inception weights are not available).
 *
 * For sets a [N, D] and b [M, D] with means mu_a, mu_b and covariances
 * Sa, Sb (normalised by N - 1 and M - 1):
 *
 *   FD = |mu_a - mu_b|^2 + Tr(Sa) + Tr(Sb) - 2 Tr((Sa Sb)^(1/2))
 *
 * the squared 2-Wasserstein distance between the Gaussians of those moments.
 * Everything is computed in double precision. Tr((Sa Sb)^(1/2)) is the sum of
 * the square roots of the eigenvalues of Sa^(1/2) Sb Sa^(1/2) (symmetric and
 * positive semi-definite, with the same eigenvalues as Sa Sb); both
 * eigen-decompositions use the library's own cyclic Jacobi solver (no
 * LAPACK). Eigenvalues that rounding makes slightly negative count as 0, and
 * a result that rounding makes slightly negative is returned as 0.
 *
 * Cost: O((N + M) D^2) for the moments, O(D^3) per Jacobi sweep (about ten
 * sweeps, two decompositions): about a second for D = 256, growing as D^3,
 * hence the limit SX_FRECHET_MAX_DIM.
 *
 * Input tensors are borrowed and may be non-contiguous; they are not part of
 * any autograd graph (the result is a plain number).
 */
#ifndef STYLEX_METRICS_H
#define STYLEX_METRICS_H

#include "stylex/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest feature dimension accepted (the Jacobi solver is O(D^3)). */
#define SX_FRECHET_MAX_DIM 1024

/* Mean [D] and covariance [D * D] (row-major, N - 1 normalisation) of the
 * rows of x [N, D], N >= 2, in double precision. mean and cov are caller
 * arrays of D and D * D doubles. SX_EINVAL for a bad shape or a non-finite
 * value (the message names the row). */
sx_status sx_feature_stats(const sx_tensor *x, double *mean, double *cov);

/* The Fréchet distance between the Gaussians (mu1 [D], cov1 [D * D]) and
 * (mu2, cov2); covariances symmetric positive semi-definite (a non-symmetric
 * input is symmetrised). *out receives the distance (>= 0). 1 <= D <=
 * SX_FRECHET_MAX_DIM; SX_ENOMEM if the work space cannot be allocated. */
sx_status sx_frechet_distance_stats(int D, const double *mu1, const double *cov1, const double *mu2,
                                    const double *cov2, double *out);

/* The Fréchet distance between the rows of a [N, D] and of b [M, D]
 * (N, M >= 2, the same D <= SX_FRECHET_MAX_DIM, all values finite). */
sx_status sx_frechet_distance(const sx_tensor *a, const sx_tensor *b, double *out);

/* Eigenvalues (and optionally eigenvectors) of the symmetric matrix a
 * [n * n], row-major, by cyclic Jacobi rotations. Only the upper triangle of
 * a is read; a is overwritten (its diagonal ends up holding the eigenvalues).
 * w [n] receives the eigenvalues (unsorted); v [n * n] (or NULL) receives the
 * eigenvectors as ROWS, v[i * n + k] = component k of eigenvector i, so that
 * A = V^T diag(w) V. Returns the number of sweeps used (>= 0), or -1 if
 * n < 1 or a or w is NULL. */
int sx_symmetric_eigen(int n, double *a, double *w, double *v);

#ifdef __cplusplus
}
#endif
#endif
