/*
 * tests/c/check.h — the C test harness: assertions, a test registry, and the
 * finite-difference gradient checks every differentiable op must pass.
 *
 *   gradcheck:     d<f(x), r>/dx from the engine vs central differences;
 *   gradgradcheck: the same check applied to h(x) = <d<f(x), r>/dx, v>
 *                  computed with create_graph, i.e. second derivatives.
 *
 * A test program defines `static void test_xxx(void)` functions and lists them
 * in `main` with RUN(test_xxx). Exit status is non-zero if any check failed.
 */
#ifndef STYLEX_TEST_CHECK_H
#define STYLEX_TEST_CHECK_H

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stylex.h"

static int check_failures = 0;
static int check_count = 0;
static const char *check_current = "";

#define CHECK(cond)                                                                              \
    do {                                                                                         \
        check_count++;                                                                           \
        if (!(cond)) {                                                                           \
            check_failures++;                                                                    \
            fprintf(stderr, "FAIL %s (%s:%d): %s\n", check_current, __FILE__, __LINE__, #cond);  \
        }                                                                                        \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                     \
    do {                                                                                         \
        check_count++;                                                                           \
        if (!(cond)) {                                                                           \
            check_failures++;                                                                    \
            fprintf(stderr, "FAIL %s (%s:%d): %s: ", check_current, __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                                        \
            fputc('\n', stderr);                                                                 \
        }                                                                                        \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                    \
    CHECK_MSG(fabs((double)(a) - (double)(b)) <= (tol), "%.7g vs %.7g (tol %.2g)", (double)(a), \
              (double)(b), (double)(tol))

/* A call that must succeed: prints the library's message otherwise. */
#define CHECK_OK(expr) CHECK_MSG((expr) == SX_OK, "%s", sx_last_error())
#define CHECK_NOTNULL(expr) CHECK_MSG((expr) != NULL, "%s", sx_last_error())

#define RUN(fn)                                                                                  \
    do {                                                                                         \
        check_current = #fn;                                                                     \
        int before = check_failures;                                                             \
        fn();                                                                                    \
        printf("%s %s\n", check_failures == before ? "ok  " : "FAIL", #fn);                      \
    } while (0)

static int check_summary(const char *suite)
{
    printf("%s: %d checks, %d failed\n", suite, check_count, check_failures);
    return check_failures ? 1 : 0;
}

/* ---------------------------------------------------------------- helpers */

__attribute__((unused)) static sx_tensor *T(int ndim, const int64_t *shape, unsigned seed)
{
    sx_manual_seed(seed);
    return sx_tensor_randn(ndim, shape);
}

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define NDIM(...) ((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define RANDN(seed, ...) T(NDIM(__VA_ARGS__), SHAPE(__VA_ARGS__), (seed))

__attribute__((unused)) static double max_abs_diff(const sx_tensor *a, const sx_tensor *b)
{
    if (!sx_tensor_same_shape(a, b)) return INFINITY;
    int64_t n = sx_tensor_numel(a);
    float *x = malloc((size_t)n * sizeof *x + 4), *y = malloc((size_t)n * sizeof *y + 4);
    sx_tensor_copy_to(a, x);
    sx_tensor_copy_to(b, y);
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)x[i] - (double)y[i]);
        if (d > m || d != d) m = d != d ? INFINITY : d;
    }
    free(x);
    free(y);
    return m;
}

/* ---------------------------------------------------------------- gradcheck */

/* The function under test: builds an output from inputs (all borrowed). */
typedef sx_tensor *(*check_fn)(sx_tensor *const *inputs, void *ctx);

/* <f(x), r> in double precision, with r fixed. */
static double project(sx_tensor *out, const float *r)
{
    int64_t n = sx_tensor_numel(out);
    float *o = malloc((size_t)n * sizeof *o + 4);
    sx_tensor_copy_to(out, o);
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)o[i] * r[i];
    free(o);
    return s;
}

/* Checks up to max_elems entries of each input's gradient (chosen evenly).
 * Inputs must be contiguous leaves; those with requires_grad are checked, and
 * at least one must have it (else nothing would be checked: refused).
 * Returns the worst error relative to (atol + rtol*|numeric|), <= 1 passes. */
__attribute__((unused)) static double gradcheck_ex(const char *what, check_fn f, void *ctx, int n, sx_tensor *const *xs, double eps,
                           double atol, double rtol, int max_elems)
{
    int nw = 0, which[16];
    for (int i = 0; i < n; i++)
        if (xs[i]->requires_grad) which[nw++] = i;
    if (nw == 0) {
        fprintf(stderr, "gradcheck %s: refused: none of the %d inputs requires grad\n", what, n);
        return INFINITY;
    }
    sx_tensor *out = f(xs, ctx);
    if (!out) {
        fprintf(stderr, "gradcheck %s: forward failed: %s\n", what, sx_last_error());
        return INFINITY;
    }
    int64_t on = sx_tensor_numel(out);
    float *r = malloc((size_t)on * sizeof *r + 4);
    sx_manual_seed(12345);
    for (int64_t i = 0; i < on; i++) r[i] = (float)sx_rng_normal();
    sx_tensor *rt = sx_tensor_from_data(out->ndim, out->shape, r);

    sx_tensor *want[16];
    for (int k = 0; k < nw; k++) want[k] = xs[which[k]];
    sx_tensor *grads[16] = {0};
    double worst = 0;
    /* an output without a graph has zero gradient (e.g. the second
     * derivative of a linear op): then the numeric one must vanish too */
    if (out->requires_grad && sx_grad(1, &out, &rt, nw, want, false, true, grads) != SX_OK) {
        fprintf(stderr, "gradcheck %s: backward failed: %s\n", what, sx_last_error());
        worst = INFINITY;
    }
    sx_tensor_free(out);
    for (int k = 0; k < nw && worst != INFINITY; k++) {
        sx_tensor *x = want[k];
        int64_t xn = sx_tensor_numel(x);
        float *gd = calloc((size_t)xn + 1, sizeof *gd);
        if (grads[k]) sx_tensor_copy_to(grads[k], gd);
        float *data = sx_tensor_data(x);
        int64_t step = xn > max_elems ? xn / max_elems : 1;
        for (int64_t e = 0; e < xn; e += step) {
            float keep = data[e];
            /* project at once: f may return a view of x */
            data[e] = keep + (float)eps;
            sx_tensor *op = f(xs, ctx);
            double fp = op ? project(op, r) : 0;
            data[e] = keep - (float)eps;
            sx_tensor *om = f(xs, ctx);
            double fm = om ? project(om, r) : 0;
            data[e] = keep;
            if (!op || !om) {
                fprintf(stderr, "gradcheck %s: perturbed forward failed: %s\n", what, sx_last_error());
                sx_tensor_free(op);
                sx_tensor_free(om);
                worst = INFINITY;
                break;
            }
            sx_tensor_free(op);
            sx_tensor_free(om);
            double num = (fp - fm) / (2 * eps);
            double err = fabs(num - gd[e]) / (atol + rtol * fabs(num));
            if (!(err <= worst)) worst = err;
            if (!(err <= 1.0)) {
                fprintf(stderr, "gradcheck %s: input %d element %lld: analytic %.6g numeric %.6g\n", what,
                        which[k], (long long)e, gd[e], num);
                break;
            }
        }
        free(gd);
    }
    for (int k = 0; k < nw; k++) sx_tensor_free(grads[k]);
    sx_tensor_free(rt);
    free(r);
    return worst;
}

/* h(x) = sum_k <d<f(x), r>/dx_k, v_k>, built with create_graph. */
struct gg_ctx {
    check_fn f;
    void *ctx;
    int n;
};

static sx_tensor *gradgrad_fn(sx_tensor *const *xs, void *vctx)
{
    struct gg_ctx *c = vctx;
    sx_tensor *out = c->f(xs, c->ctx);
    if (!out) return NULL;
    int64_t on = sx_tensor_numel(out);
    float *r = malloc((size_t)on * sizeof *r + 4);
    sx_manual_seed(777);
    for (int64_t i = 0; i < on; i++) r[i] = (float)sx_rng_normal();
    sx_tensor *rt = sx_tensor_from_data(out->ndim, out->shape, r);
    free(r);
    sx_tensor *want[16], *grads[16] = {0};
    int nw = 0;
    for (int i = 0; i < c->n; i++)
        if (xs[i]->requires_grad) want[nw++] = xs[i];
    sx_status st = sx_grad(1, &out, &rt, nw, want, true, true, grads);
    sx_tensor_free(out);
    sx_tensor_free(rt);
    if (st != SX_OK) return NULL;
    sx_tensor *total = sx_tensor_scalar(0.0f);
    for (int k = 0; k < nw; k++) {
        if (!grads[k]) continue;
        sx_manual_seed(900 + (unsigned)k);
        sx_tensor *v = sx_tensor_randn(grads[k]->ndim, grads[k]->shape);
        sx_tensor *p = sx_mul(grads[k], v);
        sx_tensor *s = sx_sum(p, 0, NULL, false);
        sx_tensor *t2 = sx_add(total, s);
        sx_tensor_free(total);
        total = t2;
        sx_tensor_free(v);
        sx_tensor_free(p);
        sx_tensor_free(s);
        sx_tensor_free(grads[k]);
    }
    return total;
}

__attribute__((unused)) static double gradgradcheck_ex(const char *what, check_fn f, void *ctx, int n, sx_tensor *const *xs,
                               double eps, double atol, double rtol, int max_elems)
{
    struct gg_ctx c = {f, ctx, n};
    return gradcheck_ex(what, gradgrad_fn, &c, n, xs, eps, atol, rtol, max_elems);
}

/* ---- a scratch directory for tests that write files: make_tmpdir("name")
 * once, tmp_path("file") for paths in it (8 rotating buffers), and
 * remove_tmpdir() at the end; has() for matching error messages. */
static char tmpdir[64];

__attribute__((unused)) static bool make_tmpdir(const char *name)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/%s.XXXXXX", name);
    if (mkdtemp(tmpdir)) return true;
    perror("mkdtemp");
    return false;
}

__attribute__((unused)) static const char *tmp_path(const char *name)
{
    static char buf[8][256];
    static int k = 0;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

__attribute__((unused)) static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) remove(tmp_path(e->d_name));
    closedir(d);
    rmdir(tmpdir);
}

__attribute__((unused)) static bool has(const char *haystack, const char *needle)
{
    return strstr(haystack, needle) != NULL;
}

#define GRADCHECK(what, f, ctx, n, xs) CHECK_MSG(gradcheck_ex(what, f, ctx, n, xs, 1e-2, 2e-3, 2e-2, 40) <= 1.0, "%s", what)
#define GRADGRADCHECK(what, f, ctx, n, xs) CHECK_MSG(gradgradcheck_ex(what, f, ctx, n, xs, 1e-2, 5e-3, 3e-2, 24) <= 1.0, "%s", what)

#endif
