/*
 * tests/c/test_metrics.c — the Fréchet distance and its Jacobi eigen-solver:
 * eigen-decompositions reproduce their matrix; identical sets give 0; sets
 * built with exactly known moments match the closed form for diagonal
 * covariances (and the 1-D formula); symmetry, scaling, translation, rotation
 * and row-order invariances; a random case against an independent computation
 * of Tr((Sa Sb)^(1/2)) (Denman-Beavers iteration on the non-symmetric product);
 * fewer rows than dimensions; bad arguments.
 */
#include "check.h"

/* A tensor [n, d] from doubles (rounded to float). */
static sx_tensor *from_doubles(int n, int d, const double *x)
{
    float *f = malloc((size_t)n * d * sizeof *f);
    for (int i = 0; i < n * d; i++) f[i] = (float)x[i];
    sx_tensor *t = sx_tensor_from_data(2, SHAPE(n, d), f);
    free(f);
    return t;
}

static double fd(const sx_tensor *a, const sx_tensor *b)
{
    double out = -1;
    sx_status st = sx_frechet_distance(a, b, &out);
    CHECK_MSG(st == SX_OK, "%s", sx_last_error());
    return out;
}

/* |x - y| <= rel * max(|x|, |y|, floor) */
#define CHECK_REL(x, y, rel, floor)                                                                        \
    CHECK_MSG(fabs((x) - (y)) <= (rel) * fmax(fmax(fabs(x), fabs(y)), (floor)), "%.12g vs %.12g (rel %.1g)", \
              (double)(x), (double)(y), (double)(rel))

/* ---------------------------------------------------------------- eigen-solver */

static void test_eigen(void)
{
    enum { n = 12 };
    double a[n * n], keep[n * n], w[n], v[n * n];
    sx_manual_seed(3);
    for (int i = 0; i < n; i++)
        for (int j = i; j < n; j++) keep[i * n + j] = keep[j * n + i] = sx_rng_normal();
    memcpy(a, keep, sizeof a);
    int sweeps = sx_symmetric_eigen(n, a, w, v);
    CHECK_MSG(sweeps > 0 && sweeps < 20, "%d sweeps", sweeps);
    double worst = 0, worst_orth = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0, o = 0; /* (V^T diag(w) V)_ij and (V V^T)_ij */
            for (int k = 0; k < n; k++) {
                s += v[k * n + i] * w[k] * v[k * n + j];
                o += v[i * n + k] * v[j * n + k];
            }
            worst = fmax(worst, fabs(s - keep[i * n + j]));
            worst_orth = fmax(worst_orth, fabs(o - (i == j)));
        }
    CHECK_MSG(worst < 1e-12, "reconstruction error %g", worst);
    CHECK_MSG(worst_orth < 1e-12, "orthogonality error %g", worst_orth);
    double tr = 0, sum = 0;
    for (int i = 0; i < n; i++) tr += keep[i * n + i], sum += w[i];
    CHECK_NEAR(sum, tr, 1e-12);

    /* only the upper triangle is read */
    memcpy(a, keep, sizeof a);
    for (int i = 1; i < n; i++) a[i * n] = 1e9;
    double w2[n];
    sx_symmetric_eigen(n, a, w2, NULL);
    double d = 0;
    for (int i = 0; i < n; i++) d = fmax(d, fabs(w2[i] - w[i]));
    CHECK_MSG(d < 1e-12, "upper triangle only: %g", d);

    /* repeated eigenvalues: I + u u^T has n - 1 eigenvalues 1 and one 1 + |u|^2 */
    double u[n], uu = 0;
    for (int i = 0; i < n; i++) u[i] = 0.5 * (i + 1), uu += u[i] * u[i];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) a[i * n + j] = (i == j) + u[i] * u[j];
    sx_symmetric_eigen(n, a, w, NULL);
    int ones = 0, big = 0;
    for (int i = 0; i < n; i++) {
        if (fabs(w[i] - 1) < 1e-10) ones++;
        if (fabs(w[i] - (1 + uu)) < 1e-10 * uu) big++;
    }
    CHECK(ones == n - 1 && big == 1);

    /* diagonal: no sweep; 1x1; n < 1 */
    double diag[4] = {3, 0, 0, -2}, w1[2];
    CHECK(sx_symmetric_eigen(2, diag, w1, NULL) == 0 && w1[0] == 3 && w1[1] == -2);
    double one[1] = {7};
    CHECK(sx_symmetric_eigen(1, one, w1, v) == 0 && w1[0] == 7 && v[0] == 1);
    CHECK(sx_symmetric_eigen(0, one, w1, NULL) == -1);
}

/* ---------------------------------------------------------------- closed forms */

static void test_identical_sets(void)
{
    /* N > D and N < D (singular covariance) */
    int shapes[2][2] = {{300, 24}, {10, 40}};
    for (int s = 0; s < 2; s++) {
        int n = shapes[s][0], d = shapes[s][1];
        sx_tensor *a = RANDN(10 + s, n, d);
        /* correlated columns and unequal scales */
        float *x = sx_tensor_data(a);
        for (int i = 0; i < n; i++)
            for (int j = 1; j < d; j++) x[i * d + j] = x[i * d + j] * (1 + j) + 0.5f * x[i * d + j - 1];
        double *mu = malloc(d * sizeof *mu), *cov = malloc((size_t)d * d * sizeof *cov), tr = 0;
        CHECK_OK(sx_feature_stats(a, mu, cov));
        for (int j = 0; j < d; j++) tr += cov[j * d + j];
        double v = fd(a, a);
        CHECK_MSG(v >= 0 && v <= 1e-6 * tr, "FD(a, a) = %g with Tr = %g (%d x %d)", v, tr, n, d);
        /* a copy in another buffer, rows reversed: the same set */
        sx_tensor *b = sx_tensor_copy(a);
        float *y = sx_tensor_data(b);
        for (int i = 0; i < n; i++) memcpy(y + (size_t)i * d, x + (size_t)(n - 1 - i) * d, d * sizeof *y);
        double vb = fd(a, b);
        CHECK_MSG(vb <= 1e-6 * tr, "FD(a, reversed a) = %g", vb);
        free(mu);
        free(cov);
        sx_tensor_free(a);
        sx_tensor_free(b);
    }
}

/* Rows +-u_j e_j (each `copies` times) plus mu: mean exactly mu and covariance
 * exactly diag(2 copies u_j^2 / (N - 1)), N = 2 copies D; all values are
 * small integers and halves, exact in float. */
static sx_tensor *axis_set(int d, int copies, const double *u, const double *mu, double *var)
{
    int n = 2 * copies * d;
    double *x = malloc((size_t)n * d * sizeof *x);
    int row = 0;
    for (int c = 0; c < copies; c++)
        for (int j = 0; j < d; j++)
            for (int sign = -1; sign <= 1; sign += 2, row++)
                for (int k = 0; k < d; k++) x[row * d + k] = mu[k] + (k == j ? sign * u[j] : 0);
    for (int j = 0; j < d; j++) var[j] = 2.0 * copies * u[j] * u[j] / (n - 1);
    sx_tensor *t = from_doubles(n, d, x);
    free(x);
    return t;
}

static void test_diagonal_gaussians(void)
{
    enum { d = 5 };
    double ua[d] = {1, 2, 3, 0.5, 4}, ub[d] = {2, 2, 1, 1.5, 0};
    double ma[d] = {0, 1, -2, 0.5, 3}, mb[d] = {1, 1, 0.5, -1, 3};
    double va[d], vb[d];
    sx_tensor *a = axis_set(d, 1, ua, ma, va), *b = axis_set(d, 2, ub, mb, vb);
    CHECK(a->shape[0] == 10 && b->shape[0] == 20);
    double want = 0;
    for (int j = 0; j < d; j++) {
        double dm = ma[j] - mb[j], ds = sqrt(va[j]) - sqrt(vb[j]);
        want += dm * dm + ds * ds;
    }
    double got = fd(a, b);
    CHECK_REL(got, want, 1e-10, 1e-10);
    CHECK_REL(fd(b, a), want, 1e-10, 1e-10);

    /* the moments themselves */
    double mu[d], cov[d * d];
    CHECK_OK(sx_feature_stats(b, mu, cov));
    double worst = 0;
    for (int j = 0; j < d; j++) {
        worst = fmax(worst, fabs(mu[j] - mb[j]));
        for (int k = 0; k < d; k++) worst = fmax(worst, fabs(cov[j * d + k] - (j == k ? vb[j] : 0)));
    }
    CHECK_MSG(worst < 1e-12, "moments off by %g", worst);

    /* equal covariances: only the means count */
    double vc[d];
    sx_tensor *c = axis_set(d, 1, ua, mb, vc);
    double dm2 = 0;
    for (int j = 0; j < d; j++) dm2 += (ma[j] - mb[j]) * (ma[j] - mb[j]);
    CHECK_REL(fd(a, c), dm2, 1e-10, 1e-10);
    sx_tensor_free(a);
    sx_tensor_free(b);
    sx_tensor_free(c);
}

/* D = 1: FD = (m1 - m2)^2 + (s1 - s2)^2 with sample moments computed here. */
static void test_one_dimension(void)
{
    sx_tensor *a = RANDN(21, 50, 1), *b = RANDN(22, 70, 1);
    float *y = sx_tensor_data(b);
    for (int i = 0; i < 70; i++) y[i] = 3 * y[i] + 1;
    double m[2] = {0, 0}, s[2] = {0, 0};
    const sx_tensor *t[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        int n = (int)t[k]->shape[0];
        const float *x = sx_tensor_data(t[k]);
        for (int i = 0; i < n; i++) m[k] += x[i];
        m[k] /= n;
        for (int i = 0; i < n; i++) s[k] += (x[i] - m[k]) * (x[i] - m[k]);
        s[k] = sqrt(s[k] / (n - 1));
    }
    double want = (m[0] - m[1]) * (m[0] - m[1]) + (s[0] - s[1]) * (s[0] - s[1]);
    CHECK_REL(fd(a, b), want, 1e-10, 1e-12);
    sx_tensor_free(a);
    sx_tensor_free(b);
}

/* ---------------------------------------------------------------- invariances */

/* b = a @ M + shift for a fixed random M: a different covariance. */
static sx_tensor *transformed(const sx_tensor *a, unsigned seed, float shift)
{
    int n = (int)a->shape[0], d = (int)a->shape[1];
    sx_tensor *m = RANDN(seed, d, d);
    sx_tensor *b = sx_matmul((sx_tensor *)a, m);
    sx_tensor *c = sx_add_scalar(b, shift);
    sx_tensor_free(m);
    sx_tensor_free(b);
    (void)n;
    return c;
}

static void test_invariances(void)
{
    enum { d = 8 };
    sx_tensor *a = RANDN(31, 300, d);
    sx_tensor *a0 = RANDN(32, 200, d);
    sx_tensor *b = transformed(a0, 33, 0.7f);
    double base = fd(a, b);
    CHECK(base > 1);
    CHECK_REL(fd(b, a), base, 1e-10, 0);

    /* scaling by 2 is exact in float: FD scales by 4 */
    sx_tensor *a2 = sx_mul_scalar(a, 2), *b2 = sx_mul_scalar(b, 2);
    CHECK_REL(fd(a2, b2), 4 * base, 1e-10, 0);
    sx_tensor *ah = sx_mul_scalar(a, 0.1f), *bh = sx_mul_scalar(b, 0.1f);
    CHECK_REL(fd(ah, bh), 0.01 * base, 1e-5, 0);

    /* the same translation of both sets */
    sx_tensor *at = sx_add_scalar(a, 5), *bt = sx_add_scalar(b, 5);
    CHECK_REL(fd(at, bt), base, 1e-5, 0);

    /* the same rotation of both sets: Q from the eigenvectors of a random
     * symmetric matrix (V is orthogonal, so is its transpose) */
    double s[d * d], w[d], q[d * d];
    sx_manual_seed(34);
    for (int i = 0; i < d; i++)
        for (int j = i; j < d; j++) s[i * d + j] = s[j * d + i] = sx_rng_normal();
    sx_symmetric_eigen(d, s, w, q);
    sx_tensor *qt = from_doubles(d, d, q);
    sx_tensor *aq = sx_matmul(a, qt), *bq = sx_matmul(b, qt);
    CHECK_REL(fd(aq, bq), base, 1e-5, 0);

    /* a non-contiguous view (a transposed copy transposed back) */
    sx_tensor *at2 = sx_transpose(a, 0, 1), *atc = sx_contiguous(at2), *back = sx_transpose(atc, 0, 1);
    CHECK(!sx_tensor_is_contiguous(back));
    CHECK_REL(fd(back, b), base, 1e-12, 0);

    sx_tensor *list[] = {a, a0, b, a2, b2, ah, bh, at, bt, qt, aq, bq, at2, atc, back};
    for (size_t i = 0; i < sizeof list / sizeof *list; i++) sx_tensor_free(list[i]);
}

/* ---------------------------------------------------------------- an independent computation */

/* Inverse of the n x n matrix m (Gauss-Jordan with partial pivoting). */
static void inverse(int n, const double *m, double *out)
{
    double *w = malloc((size_t)n * 2 * n * sizeof *w);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < 2 * n; j++) w[i * 2 * n + j] = j < n ? m[i * n + j] : (j - n == i);
    for (int c = 0; c < n; c++) {
        int p = c;
        for (int r = c + 1; r < n; r++)
            if (fabs(w[r * 2 * n + c]) > fabs(w[p * 2 * n + c])) p = r;
        for (int j = 0; j < 2 * n; j++) {
            double t = w[c * 2 * n + j];
            w[c * 2 * n + j] = w[p * 2 * n + j];
            w[p * 2 * n + j] = t;
        }
        double piv = w[c * 2 * n + c];
        for (int j = 0; j < 2 * n; j++) w[c * 2 * n + j] /= piv;
        for (int r = 0; r < n; r++) {
            if (r == c) continue;
            double f = w[r * 2 * n + c];
            for (int j = 0; j < 2 * n; j++) w[r * 2 * n + j] -= f * w[c * 2 * n + j];
        }
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) out[i * n + j] = w[i * 2 * n + n + j];
    free(w);
}

/* Tr(A^(1/2)) for A = Sa Sb (not symmetric; positive eigenvalues) by the
 * Denman-Beavers iteration Y <- (Y + Z^-1) / 2, Z <- (Z + Y^-1) / 2. */
static double trace_sqrt_db(int n, const double *A)
{
    size_t sz = (size_t)n * n * sizeof(double);
    double *y = malloc(sz), *z = malloc(sz), *yi = malloc(sz), *zi = malloc(sz);
    memcpy(y, A, sz);
    for (int i = 0; i < n * n; i++) z[i] = (i / n == i % n);
    for (int it = 0; it < 100; it++) {
        inverse(n, y, yi);
        inverse(n, z, zi);
        double change = 0;
        for (int i = 0; i < n * n; i++) {
            double ny = 0.5 * (y[i] + zi[i]);
            change = fmax(change, fabs(ny - y[i]));
            y[i] = ny;
            z[i] = 0.5 * (z[i] + yi[i]);
        }
        if (change < 1e-15) break;
    }
    double tr = 0;
    for (int i = 0; i < n; i++) tr += y[i * n + i];
    free(y), free(z), free(yi), free(zi);
    return tr;
}

static void test_against_denman_beavers(void)
{
    enum { d = 6 };
    sx_tensor *a0 = RANDN(41, 80, d), *b0 = RANDN(42, 120, d);
    sx_tensor *a = transformed(a0, 43, -0.3f), *b = transformed(b0, 44, 0.4f);
    double mu1[d], c1[d * d], mu2[d], c2[d * d], prod[d * d];
    CHECK_OK(sx_feature_stats(a, mu1, c1));
    CHECK_OK(sx_feature_stats(b, mu2, c2));

    /* the moments against E[x x^T] - mu mu^T */
    const float *x = sx_tensor_data(a);
    double worst = 0;
    for (int j = 0; j < d; j++)
        for (int k = 0; k < d; k++) {
            double s = 0;
            for (int i = 0; i < 80; i++) s += (double)x[i * d + j] * x[i * d + k];
            double want = (s - 80 * mu1[j] * mu1[k]) / 79;
            worst = fmax(worst, fabs(want - c1[j * d + k]) / fmax(1, fabs(want)));
        }
    CHECK_MSG(worst < 1e-9, "covariance off by %g", worst);

    double want = 0;
    for (int j = 0; j < d; j++) {
        want += (mu1[j] - mu2[j]) * (mu1[j] - mu2[j]) + c1[j * d + j] + c2[j * d + j];
        for (int k = 0; k < d; k++) {
            double s = 0;
            for (int m = 0; m < d; m++) s += c1[j * d + m] * c2[m * d + k];
            prod[j * d + k] = s;
        }
    }
    want -= 2 * trace_sqrt_db(d, prod);
    double got = fd(a, b), got_stats = -1;
    CHECK_OK(sx_frechet_distance_stats(d, mu1, c1, mu2, c2, &got_stats));
    CHECK(got == got_stats);
    CHECK_REL(got, want, 1e-9, 0);
    sx_tensor *list[] = {a0, b0, a, b};
    for (int i = 0; i < 4; i++) sx_tensor_free(list[i]);
}

/* D = 128 (the classifier's penultimate features have 256 by default); a
 * different sample size per set. */
static void test_classifier_sized(void)
{
    enum { d = 128 };
    sx_tensor *a = RANDN(51, 300, d), *b0 = RANDN(52, 200, d);
    sx_tensor *b = transformed(b0, 53, 0.1f);
    double v = fd(a, b), vr = fd(b, a);
    CHECK(v > 0);
    CHECK_REL(v, vr, 1e-8, 0);
    sx_tensor_free(a);
    sx_tensor_free(b0);
    sx_tensor_free(b);
}

/* ---------------------------------------------------------------- bad arguments */

static void test_bad_arguments(void)
{
    double out = 123, mu[2] = {0, 0}, cov[4] = {1, 0, 0, 1};
    sx_tensor *a = RANDN(61, 5, 3), *b = RANDN(62, 6, 4), *v1 = RANDN(63, 5);
    sx_tensor *r1 = RANDN(64, 1, 3), *c3 = RANDN(65, 2, 5, 3), *wide = RANDN(66, 2, SX_FRECHET_MAX_DIM + 1);

    CHECK(sx_frechet_distance(NULL, a, &out) == SX_EINVAL);
    CHECK(sx_frechet_distance(a, a, NULL) == SX_EINVAL);
    CHECK(sx_frechet_distance(a, b, &out) == SX_EINVAL);
    CHECK(strstr(sx_last_error(), "[5, 3] and [6, 4] differ in dimension") != NULL);
    CHECK(sx_frechet_distance(a, v1, &out) == SX_EINVAL);
    CHECK(strstr(sx_last_error(), "expects two feature sets [N, D] and [M, D], got [5, 3] and [5]") != NULL);
    CHECK(sx_frechet_distance(c3, a, &out) == SX_EINVAL);
    CHECK(sx_frechet_distance(a, r1, &out) == SX_EINVAL);
    CHECK(strstr(sx_last_error(), "at least 2 rows") != NULL);
    CHECK(sx_frechet_distance(wide, wide, &out) == SX_EINVAL);
    CHECK(strstr(sx_last_error(), "above the limit") != NULL);

    sx_tensor *nan = sx_tensor_copy(a);
    sx_tensor_data(nan)[7] = NAN;
    CHECK(sx_frechet_distance(a, nan, &out) == SX_EINVAL);
    CHECK_MSG(strstr(sx_last_error(), "frechet_distance: set b: non-finite value nan at row 3, column 2") != NULL, "%s",
              sx_last_error());
    sx_tensor_data(nan)[7] = INFINITY;
    CHECK(sx_frechet_distance(nan, a, &out) == SX_EINVAL);
    CHECK(strstr(sx_last_error(), "set a: non-finite value inf") != NULL);
    CHECK(out == 123);

    CHECK(sx_feature_stats(NULL, mu, cov) == SX_EINVAL);
    CHECK(sx_feature_stats(r1, mu, cov) == SX_EINVAL);
    CHECK(sx_frechet_distance_stats(0, mu, cov, mu, cov, &out) == SX_EINVAL);
    CHECK(sx_frechet_distance_stats(2, mu, NULL, mu, cov, &out) == SX_EINVAL);
    mu[1] = NAN;
    CHECK(sx_frechet_distance_stats(2, mu, cov, mu, cov, &out) == SX_EINVAL);
    mu[1] = 0;
    cov[1] = INFINITY;
    CHECK(sx_frechet_distance_stats(2, mu, cov, mu, cov, &out) == SX_EINVAL);
    cov[1] = 0;
    CHECK_OK(sx_frechet_distance_stats(2, mu, cov, mu, cov, &out));
    CHECK(out == 0);

    sx_tensor *list[] = {a, b, v1, r1, c3, wide, nan};
    for (int i = 0; i < 7; i++) sx_tensor_free(list[i]);
}

int main(void)
{
    RUN(test_eigen);
    RUN(test_identical_sets);
    RUN(test_diagonal_gaussians);
    RUN(test_one_dimension);
    RUN(test_invariances);
    RUN(test_against_denman_beavers);
    RUN(test_classifier_sized);
    RUN(test_bad_arguments);
    return check_summary("test_metrics");
}
