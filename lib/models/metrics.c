/*
 * lib/models/metrics.c — the Fréchet distance between feature sets and the
 * symmetric eigen-solver it needs (cyclic Jacobi), all in double precision.
 * See include/stylex/metrics.h for the formula.
 *
 * Tr((Sa Sb)^(1/2)): with Sa = V^T diag(l) V (eigenvectors as the rows of
 * V), the matrix Sa^(1/2) Sb Sa^(1/2) is similar (through V) to
 * K' = diag(r) (V Sb V^T) diag(r), r = sqrt(max(l, 0)), so K' is decomposed
 * instead: the same eigenvalues without forming Sa^(1/2).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stylex/metrics.h"

/* Jacobi stops when the off-diagonal norm is below this fraction of the
 * matrix's Frobenius norm (convergence is quadratic, so the last sweeps are
 * cheap), or after JACOBI_MAX_SWEEPS (never reached in practice). */
#define JACOBI_TOL 1e-15
#define JACOBI_MAX_SWEEPS 60

/* ---------------------------------------------------------------- eigen-solver */

static double off_diagonal_sq(int n, const double *a)
{
    double s = 0;
    for (int p = 0; p < n; p++)
        for (int q = p + 1; q < n; q++) s += a[(size_t)p * n + q] * a[(size_t)p * n + q];
    return 2 * s;
}

/* A <- J^T A J (and V <- J^T V) for the rotation in the (p, q) plane, p < q,
 * that zeroes a_pq (Golub & Van Loan's symmetric Schur step). Only the upper
 * triangle of A is kept: entry (i, j), i < j, lives at a[i * n + j]. */
static void jacobi_rotate(int n, double *a, double *vt, int p, int q)
{
    size_t N = (size_t)n, P = (size_t)p, Q = (size_t)q;
    double apq = a[P * N + Q], app = a[P * N + P], aqq = a[Q * N + Q];
    double theta = (aqq - app) / (2 * apq);
    /* t = tan of the angle, the smaller root of t^2 + 2 theta t - 1 = 0 */
    double t = fabs(theta) > 1e100 ? 0.5 / theta : (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
    double c = 1 / sqrt(t * t + 1), s = t * c;
    /* (k, p) and (k, q) for every k other than p and q, wherever the upper
     * triangle stores them */
    for (size_t k = 0; k < P; k++) {
        double x = a[k * N + P], y = a[k * N + Q];
        a[k * N + P] = c * x - s * y;
        a[k * N + Q] = s * x + c * y;
    }
    for (size_t k = P + 1; k < Q; k++) {
        double x = a[P * N + k], y = a[k * N + Q];
        a[P * N + k] = c * x - s * y;
        a[k * N + Q] = s * x + c * y;
    }
    double *rp = a + P * N, *rq = a + Q * N;
    for (size_t k = Q + 1; k < N; k++) {
        double x = rp[k], y = rq[k];
        rp[k] = c * x - s * y;
        rq[k] = s * x + c * y;
    }
    /* the 2x2 block in closed form: rounding must not leave a_pq behind */
    rp[P] = app - t * apq;
    rq[Q] = aqq + t * apq;
    rp[Q] = 0;
    if (vt) {
        double *vp = vt + P * N, *vq = vt + Q * N;
        for (size_t k = 0; k < N; k++) {
            double x = vp[k], y = vq[k];
            vp[k] = c * x - s * y;
            vq[k] = s * x + c * y;
        }
    }
}

int sx_symmetric_eigen(int n, double *a, double *w, double *v)
{
    if (n < 1 || !a || !w) return -1;
    size_t N = (size_t)n;
    double norm = 0;
    for (size_t p = 0; p < N; p++)
        for (size_t q = p; q < N; q++) norm += (p == q ? 1 : 2) * a[p * N + q] * a[p * N + q];
    if (v) {
        memset(v, 0, N * N * sizeof *v);
        for (size_t k = 0; k < N; k++) v[k * N + k] = 1;
    }
    double tol = JACOBI_TOL * JACOBI_TOL * norm;
    int sweep = 0;
    while (sweep < JACOBI_MAX_SWEEPS) {
        double off = off_diagonal_sq(n, a);
        if (off <= tol || off == 0) break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++)
                if (a[(size_t)p * N + q] != 0) jacobi_rotate(n, a, v, p, q);
        sweep++;
    }
    for (size_t k = 0; k < N; k++) w[k] = a[k * N + k];
    return sweep;
}

/* ---------------------------------------------------------------- moments */

sx_status sx_feature_stats(const sx_tensor *x, double *mean, double *cov)
{
    char buf[64];
    if (!x || !mean || !cov) return sx_fail(SX_EINVAL, "feature_stats: NULL argument");
    if (x->ndim != 2 || x->shape[0] < 2 || x->shape[1] < 1)
        return sx_fail(SX_EINVAL, "feature_stats: expects features [N, D] with N >= 2 and D >= 1, got %s",
                       sx_shape_str(x, buf, sizeof buf));
    if (x->shape[1] > SX_FRECHET_MAX_DIM)
        return sx_fail(SX_EINVAL, "feature_stats: feature dimension %lld above the limit %d", (long long)x->shape[1],
                       SX_FRECHET_MAX_DIM);
    size_t n = (size_t)x->shape[0], d = (size_t)x->shape[1];
    float *copy = NULL;
    const float *data = sx_tensor_data(x);
    if (!sx_tensor_is_contiguous(x)) {
        copy = malloc(n * d * sizeof *copy);
        if (!copy) return sx_fail(SX_ENOMEM, "feature_stats: out of memory for %s", sx_shape_str(x, buf, sizeof buf));
        sx_tensor_copy_to(x, copy);
        data = copy;
    }
    double *c = malloc(d * sizeof *c);
    if (!c) {
        free(copy);
        return sx_fail(SX_ENOMEM, "feature_stats: out of memory");
    }
    memset(mean, 0, d * sizeof *mean);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            float f = data[i * d + j];
            if (!isfinite(f)) {
                free(c);
                free(copy);
                return sx_fail(SX_EINVAL, "feature_stats: non-finite value %g at row %zu, column %zu of %s", f, i + 1,
                               j + 1, sx_shape_str(x, buf, sizeof buf));
            }
            mean[j] += f;
        }
    for (size_t j = 0; j < d; j++) mean[j] /= (double)n;
    /* two passes (centre first): no cancellation in E[xx^T] - mu mu^T */
    memset(cov, 0, d * d * sizeof *cov);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < d; j++) c[j] = data[i * d + j] - mean[j];
        for (size_t j = 0; j < d; j++) {
            double cj = c[j], *row = cov + j * d;
            for (size_t k = j; k < d; k++) row[k] += cj * c[k];
        }
    }
    for (size_t j = 0; j < d; j++)
        for (size_t k = j; k < d; k++) {
            cov[j * d + k] /= (double)(n - 1);
            cov[k * d + j] = cov[j * d + k];
        }
    free(c);
    free(copy);
    return SX_OK;
}

/* ---------------------------------------------------------------- distance */

sx_status sx_frechet_distance_stats(int D, const double *mu1, const double *cov1, const double *mu2,
                                    const double *cov2, double *out)
{
    if (!mu1 || !cov1 || !mu2 || !cov2 || !out) return sx_fail(SX_EINVAL, "frechet_distance: NULL argument");
    if (D < 1 || D > SX_FRECHET_MAX_DIM)
        return sx_fail(SX_EINVAL, "frechet_distance: dimension %d outside 1..%d", D, SX_FRECHET_MAX_DIM);
    size_t N = (size_t)D;
    for (size_t i = 0; i < N; i++)
        if (!isfinite(mu1[i]) || !isfinite(mu2[i])) return sx_fail(SX_EINVAL, "frechet_distance: non-finite mean");
    for (size_t i = 0; i < N * N; i++)
        if (!isfinite(cov1[i]) || !isfinite(cov2[i]))
            return sx_fail(SX_EINVAL, "frechet_distance: non-finite covariance");

    /* work: a (Sa, then K'), v (eigenvectors of Sa), sb (Sb), t (V Sb), w, r */
    double *a = malloc(N * N * sizeof *a), *v = malloc(N * N * sizeof *v), *t = malloc(N * N * sizeof *t);
    double *sb = malloc(N * N * sizeof *sb), *w = malloc(N * sizeof *w), *r = malloc(N * sizeof *r);
    if (!a || !v || !t || !sb || !w || !r) {
        free(a), free(v), free(t), free(sb), free(w), free(r);
        return sx_fail(SX_ENOMEM, "frechet_distance: out of memory for %d x %d matrices", D, D);
    }

    double dist = 0, tr1 = 0, tr2 = 0;
    for (size_t i = 0; i < N; i++) {
        double dm = mu1[i] - mu2[i];
        dist += dm * dm;
        tr1 += cov1[i * N + i];
        tr2 += cov2[i * N + i];
    }

    /* Sa = V^T diag(l) V, eigenvectors as the rows of v (symmetrised: the
     * solver reads the upper triangle) */
    for (size_t i = 0; i < N; i++)
        for (size_t j = i; j < N; j++) a[i * N + j] = 0.5 * (cov1[i * N + j] + cov1[j * N + i]);
    sx_symmetric_eigen(D, a, w, v);
    for (size_t i = 0; i < N; i++) r[i] = w[i] > 0 ? sqrt(w[i]) : 0;

    /* t = V Sb_sym, then K' = diag(r) t V^T diag(r) (upper triangle); all
     * inner loops run along rows */
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < N; j++) sb[i * N + j] = 0.5 * (cov2[i * N + j] + cov2[j * N + i]);
    memset(t, 0, N * N * sizeof *t);
    for (size_t i = 0; i < N; i++) {
        if (r[i] == 0) continue;
        double *ti = t + i * N;
        for (size_t m = 0; m < N; m++) {
            double vim = v[i * N + m];
            const double *sm = sb + m * N;
            for (size_t k = 0; k < N; k++) ti[k] += vim * sm[k];
        }
    }
    for (size_t i = 0; i < N; i++)
        for (size_t j = i; j < N; j++) {
            double s = 0;
            if (r[i] != 0 && r[j] != 0) {
                const double *ti = t + i * N, *vj = v + j * N;
                for (size_t k = 0; k < N; k++) s += ti[k] * vj[k];
            }
            a[i * N + j] = r[i] * s * r[j];
        }
    sx_symmetric_eigen(D, a, w, NULL);
    double trsqrt = 0;
    for (size_t i = 0; i < N; i++)
        if (w[i] > 0) trsqrt += sqrt(w[i]);

    dist += tr1 + tr2 - 2 * trsqrt;
    *out = dist > 0 ? dist : 0;
    free(a), free(v), free(t), free(sb), free(w), free(r);
    return SX_OK;
}

sx_status sx_frechet_distance(const sx_tensor *a, const sx_tensor *b, double *out)
{
    char ba[64], bb[64];
    if (!a || !b || !out) return sx_fail(SX_EINVAL, "frechet_distance: NULL argument");
    if (a->ndim != 2 || b->ndim != 2)
        return sx_fail(SX_EINVAL, "frechet_distance: expects two feature sets [N, D] and [M, D], got %s and %s",
                       sx_shape_str(a, ba, sizeof ba), sx_shape_str(b, bb, sizeof bb));
    if (a->shape[1] != b->shape[1])
        return sx_fail(SX_EINVAL, "frechet_distance: feature sets %s and %s differ in dimension",
                       sx_shape_str(a, ba, sizeof ba), sx_shape_str(b, bb, sizeof bb));
    if (a->shape[0] < 2 || b->shape[0] < 2 || a->shape[1] < 1)
        return sx_fail(SX_EINVAL, "frechet_distance: needs at least 2 rows and 1 column in each set, got %s and %s",
                       sx_shape_str(a, ba, sizeof ba), sx_shape_str(b, bb, sizeof bb));
    if (a->shape[1] > SX_FRECHET_MAX_DIM)
        return sx_fail(SX_EINVAL, "frechet_distance: feature dimension %lld above the limit %d",
                       (long long)a->shape[1], SX_FRECHET_MAX_DIM);
    size_t d = (size_t)a->shape[1];
    double *mem = malloc(2 * (d + d * d) * sizeof *mem);
    if (!mem) return sx_fail(SX_ENOMEM, "frechet_distance: out of memory for %zu x %zu covariances", d, d);
    double *mu1 = mem, *cov1 = mu1 + d, *mu2 = cov1 + d * d, *cov2 = mu2 + d;
    const char *which = "a";
    sx_status st = sx_feature_stats(a, mu1, cov1);
    if (st == SX_OK) {
        which = "b";
        st = sx_feature_stats(b, mu2, cov2);
    }
    if (st != SX_OK) {
        /* name the set: "feature_stats: ..." -> "frechet_distance: set b: ..." */
        char msg[400];
        snprintf(msg, sizeof msg, "%s", sx_last_error());
        const char *rest = strncmp(msg, "feature_stats: ", 15) == 0 ? msg + 15 : msg;
        sx_fail(st, "frechet_distance: set %s: %s", which, rest);
    }
    if (st == SX_OK) st = sx_frechet_distance_stats((int)d, mu1, cov1, mu2, cov2, out);
    free(mem);
    return st;
}
