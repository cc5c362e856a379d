/*
 * tests/bench/bench_conv.c — convolution speed against the machine's sgemm.
 *
 * Prints (1) the practical sgemm peak: cblas_sgemm on large square matrices,
 * on one thread and split by columns over the library's pool exactly as
 * sx_sgemm does; (2) for each 3x3 conv of the default StylEx networks at
 * batch 32: forward and backward (input gradient + weight gradient, the two
 * calls sx_conv2d's backward makes) times, GFLOP/s from the conv's MACs, and
 * the fraction of the pooled sgemm peak.
 *
 * The machine is shared, so times are medians of repeats with the best repeat
 * beside them, and every repeat is followed by a pooled 1024^3 sgemm: the
 * median of conv GFLOP/s over that adjacent sgemm's GFLOP/s ("adj") is the
 * fraction of peak with the background load cancelled out. A human-readable
 * table, then one line per row prefixed "JSON ".
 *
 *   build/bench/bench_conv [repeats]
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/core/internal.h" /* sx_sgemm (the library's pooled sgemm), sx_median */
#include "stylex.h"

/* ---------------------------------------------------------------- sgemm peak */

/* Square operands for sgemm runs: a, b, c [n, n]. */
typedef struct gemm_bufs {
    int n;
    float *a, *b, *c;
} gemm_bufs;

static gemm_bufs gemm_bufs_new(int n)
{
    gemm_bufs g = {n, malloc((size_t)n * n * sizeof(float)), malloc((size_t)n * n * sizeof(float)),
                   malloc((size_t)n * n * sizeof(float))};
    if (!g.a || !g.b || !g.c) {
        fprintf(stderr, "bench_conv: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < (size_t)n * n; i++) {
        g.a[i] = (float)((i * 7) % 13) * 0.1f;
        g.b[i] = (float)((i * 5) % 11) * 0.1f;
    }
    return g;
}

static void gemm_bufs_free(gemm_bufs *g)
{
    free(g->a);
    free(g->b);
    free(g->c);
}

/* Seconds of one n^3 sgemm, over the pool (as sx_sgemm splits it) or on one thread. */
static double sgemm_time(const gemm_bufs *g, bool pooled)
{
    int n = g->n;
    double t0 = sx_clock_seconds();
    if (pooled) sx_sgemm(false, false, n, n, n, 1.0f, g->a, n, g->b, n, 0.0f, g->c, n);
    else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, g->a, n, g->b, n, 0.0f, g->c, n);
    return sx_clock_seconds() - t0;
}

/* Median GFLOP/s of an n^3 sgemm. */
static double sgemm_gflops(int n, bool pooled, int reps)
{
    gemm_bufs g = gemm_bufs_new(n);
    double *t = malloc((size_t)reps * sizeof *t);
    sgemm_time(&g, pooled);
    for (int r = 0; r < reps; r++) t[r] = sgemm_time(&g, pooled);
    double gf = 2.0 * n * (double)n * n / sx_median(t, reps) / 1e9;
    free(t);
    gemm_bufs_free(&g);
    return gf;
}

/* The pooled peak is measured before and after the conv rows and the higher
 * kept, so a burst of load from another process during one measurement does
 * not lower the bar. */
static void measure_peak(int reps, double *peak, double *peak1)
{
    for (int n = 1024; n <= 2048; n *= 2) {
        double g1 = sgemm_gflops(n, false, reps), gp = sgemm_gflops(n, true, reps);
        printf("  %6d  %8.1f GF/s  %8.1f GF/s\n", n, g1, gp);
        if (g1 > *peak1) *peak1 = g1;
        if (gp > *peak) *peak = gp;
    }
}

/* ---------------------------------------------------------------- conv rows */

typedef struct layer {
    int H, Cin, Cout;
} layer;

/* The 3x3, stride 1, padding 1 convs of the default synthesis network,
 * discriminator and encoder (4:128, 8:128, 16:64, 32:32 channels). */
static const layer layers[] = {
    {32, 32, 32}, {32, 32, 64}, {32, 64, 32}, {16, 64, 128}, {16, 128, 64},
    {16, 64, 64}, {8, 128, 128}, {4, 128, 128},
};
enum { N_LAYERS = sizeof layers / sizeof *layers };

#define BATCH 32
#define REF_N 1024 /* the adjacent sgemm */

typedef struct row {
    double fwd_ms, bwd_ms, fwd_gflops, bwd_gflops;  /* medians */
    double fwd_best_ms, bwd_best_ms;                /* fastest repeat */
    double fwd_adj, bwd_adj;                        /* median of conv / adjacent sgemm GFLOP/s */
} row;

static row bench_layer(const layer *l, int reps, const gemm_bufs *ref)
{
    int64_t N = BATCH;
    sx_tensor *x = sx_tensor_randn(4, (int64_t[]){N, l->Cin, l->H, l->H});
    sx_tensor *w = sx_tensor_randn(4, (int64_t[]){l->Cout, l->Cin, 3, 3});
    sx_tensor *gy = sx_tensor_randn(4, (int64_t[]){N, l->Cout, l->H, l->H});
    sx_conv2d_opts o = {{1, 1}, {1, 1}, 1, {0, 0}};
    double macs = (double)N * l->H * l->H * l->Cout * l->Cin * 9.0, ref_flops = 2.0 * REF_N * REF_N * REF_N;
    double *tf = malloc((size_t)reps * sizeof *tf), *tb = malloc((size_t)reps * sizeof *tb);
    double *af = malloc((size_t)reps * sizeof *af), *ab = malloc((size_t)reps * sizeof *ab);
    bool prev = sx_set_grad_enabled(false);
    for (int r = -2; r < reps; r++) {
        double t0 = sx_clock_seconds();
        sx_tensor *y = sx_conv2d(x, w, NULL, &o);
        double t1 = sx_clock_seconds();
        sx_tensor *gx = sx_conv_transpose2d(gy, w, NULL, &o);
        sx_tensor *gw = sx_conv2d_weight(x, gy, 3, 3, &o);
        double t2 = sx_clock_seconds();
        if (!y || !gx || !gw) {
            fprintf(stderr, "bench_conv: %s\n", sx_last_error());
            exit(1);
        }
        sx_tensor_free(y);
        sx_tensor_free(gx);
        sx_tensor_free(gw);
        double tr = sgemm_time(ref, true);
        if (r >= 0) {
            tf[r] = t1 - t0;
            tb[r] = t2 - t1;
            af[r] = (2.0 * macs / tf[r]) / (ref_flops / tr);
            ab[r] = (4.0 * macs / tb[r]) / (ref_flops / tr);
        }
    }
    sx_set_grad_enabled(prev);
    row res;
    res.fwd_ms = 1e3 * sx_median(tf, reps);
    res.bwd_ms = 1e3 * sx_median(tb, reps);
    res.fwd_best_ms = 1e3 * tf[0];
    res.bwd_best_ms = 1e3 * tb[0];
    res.fwd_gflops = 2.0 * macs / res.fwd_ms / 1e6;
    res.bwd_gflops = 4.0 * macs / res.bwd_ms / 1e6;
    res.fwd_adj = sx_median(af, reps);
    res.bwd_adj = sx_median(ab, reps);
    free(tf);
    free(tb);
    free(af);
    free(ab);
    sx_tensor_free(x);
    sx_tensor_free(w);
    sx_tensor_free(gy);
    return res;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 15;
    if (reps < 3) reps = 3;
    int threads = sx_num_threads(); /* also pins OpenBLAS to one thread */
    sx_manual_seed(1);
    int peak_reps = reps > 5 ? 5 : reps;

    double peak1 = 0, peak = 0;
    printf("sgemm (median of %d, square n x n x n): 1 thread, and split by columns over the pool\n", peak_reps);
    printf("  %6s  %12s  %12s\n", "n", "1 thread", "pool");
    measure_peak(peak_reps, &peak, &peak1);

    row rows[N_LAYERS];
    gemm_bufs ref = gemm_bufs_new(REF_N);
    for (int i = 0; i < N_LAYERS; i++) rows[i] = bench_layer(&layers[i], reps, &ref);
    gemm_bufs_free(&ref);
    measure_peak(peak_reps, &peak, &peak1);
    printf("  practical peak: %.1f GFLOP/s on %d threads (%.1f on one)\n\n", peak, threads, peak1);

    printf("conv2d 3x3 stride 1 padding 1, batch %d, median of %d repeats; backward = input gradient +\n"
           "weight gradient. %% = GFLOP/s / practical peak (best repeat in brackets); adj = median of\n"
           "conv GFLOP/s / the GFLOP/s of a pooled %d^3 sgemm run right after it (load-independent)\n",
           BATCH, reps, REF_N);
    printf("  %-14s %8s %7s %5s %6s %5s   %8s %7s %5s %6s %5s\n", "layer", "fwd ms", "GF/s", "%", "(best)", "adj",
           "bwd ms", "GF/s", "%", "(best)", "adj");
    for (int i = 0; i < N_LAYERS; i++) {
        const layer *l = &layers[i];
        const row *r = &rows[i];
        char name[32];
        snprintf(name, sizeof name, "%dx%d %d->%d", l->H, l->H, l->Cin, l->Cout);
        double fb = r->fwd_gflops * r->fwd_ms / r->fwd_best_ms, bb = r->bwd_gflops * r->bwd_ms / r->bwd_best_ms;
        printf("  %-14s %8.3f %7.1f %4.0f%% (%3.0f%%) %4.0f%%   %8.3f %7.1f %4.0f%% (%3.0f%%) %4.0f%%\n", name,
               r->fwd_ms, r->fwd_gflops, 100 * r->fwd_gflops / peak, 100 * fb / peak, 100 * r->fwd_adj, r->bwd_ms,
               r->bwd_gflops, 100 * r->bwd_gflops / peak, 100 * bb / peak, 100 * r->bwd_adj);
    }
    printf("\n");
    printf("JSON {\"bench\":\"sgemm_peak\",\"threads\":%d,\"gflops\":%.2f,\"gflops_1thread\":%.2f}\n", threads, peak,
           peak1);
    for (int i = 0; i < N_LAYERS; i++) {
        const layer *l = &layers[i];
        const row *r = &rows[i];
        printf("JSON {\"bench\":\"conv2d\",\"H\":%d,\"W\":%d,\"cin\":%d,\"cout\":%d,\"k\":3,\"batch\":%d,"
               "\"fwd_ms\":%.4f,\"fwd_best_ms\":%.4f,\"fwd_gflops\":%.2f,\"fwd_frac_peak\":%.3f,\"fwd_frac_adj\":%.3f,"
               "\"bwd_ms\":%.4f,\"bwd_best_ms\":%.4f,\"bwd_gflops\":%.2f,\"bwd_frac_peak\":%.3f,\"bwd_frac_adj\":%.3f,"
               "\"peak_gflops\":%.2f}\n",
               l->H, l->H, l->Cin, l->Cout, BATCH, r->fwd_ms, r->fwd_best_ms, r->fwd_gflops, r->fwd_gflops / peak,
               r->fwd_adj, r->bwd_ms, r->bwd_best_ms, r->bwd_gflops, r->bwd_gflops / peak, r->bwd_adj, peak);
    }
    return 0;
}
