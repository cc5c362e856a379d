/*
 * lib/core/parallel.c — the library's one thread pool, and sgemm on top of it.
 *
 * OpenBLAS is pinned to one thread and every parallel loop (kernels' batch
 * splits, large sgemms split by columns) goes through sx_parallel_for, so the
 * two never compete for the cores. Workers sleep on a condition variable
 * between jobs; the calling thread runs the first chunk itself.
 *
 * Also here: the GEMM FLOP counter (every sgemm the library runs adds
 * 2*M*N*K: sx_sgemm below, the convolution kernels' own cblas_sgemm calls)
 * and sx_sgemm_gflops, the pooled sgemm speed the benchmarks divide by.
 */
#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define MAX_THREADS 64

static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t pool_done = PTHREAD_COND_INITIALIZER;
static int pool_started;        /* worker threads running */
static int pool_threads = 1;    /* threads used by parallel loops, caller included */
static unsigned long pool_generation;
static int pool_pending;        /* chunks of the current job not yet finished */
static int pool_stopping;       /* set at exit: workers return */
static pthread_t pool_workers[MAX_THREADS];

static struct {
    sx_range_fn fn;
    void *ctx;
    int64_t n;
    int chunks;
} job;

static _Thread_local int thread_index = 0;
static _Thread_local int in_parallel = 0;

int sx_thread_index(void) { return thread_index; }

static void run_chunk(int c)
{
    int64_t begin = job.n * c / job.chunks, end = job.n * (c + 1) / job.chunks;
    if (begin < end) job.fn(job.ctx, begin, end, c);
}

static void *worker_main(void *arg)
{
    int me = (int)(intptr_t)arg;
    thread_index = me;
    in_parallel = 1;
    unsigned long seen = 0;
    pthread_mutex_lock(&pool_mu);
    for (;;) {
        while (pool_generation == seen && !pool_stopping) pthread_cond_wait(&pool_wake, &pool_mu);
        if (pool_stopping) break;
        seen = pool_generation;
        if (me >= job.chunks) continue;
        pthread_mutex_unlock(&pool_mu);
        run_chunk(me);
        pthread_mutex_lock(&pool_mu);
        if (--pool_pending == 0) pthread_cond_signal(&pool_done);
    }
    pthread_mutex_unlock(&pool_mu);
    return NULL;
}

static void scratch_free_all(void);

/* At exit: stop and join the workers and free the scratch buffers, so leak
 * checkers see a clean process. */
static void pool_shutdown(void)
{
    pthread_mutex_lock(&pool_mu);
    pool_stopping = 1;
    pthread_cond_broadcast(&pool_wake);
    int n = pool_started;
    pthread_mutex_unlock(&pool_mu);
    for (int i = 0; i < n; i++) pthread_join(pool_workers[i], NULL);
    pool_started = 0;
    scratch_free_all();
}

static void pool_init(void)
{
    atexit(pool_shutdown);
    openblas_set_num_threads(1);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    const char *env = getenv("SX_NUM_THREADS");
    if (env && atoi(env) > 0) n = atoi(env);
    if (n < 1) n = 1;
    if (n > MAX_THREADS) n = MAX_THREADS;
    pool_threads = (int)n;
}

/* Starts workers up to `want` (caller excluded); returns how many run. */
static int pool_ensure_workers(int want)
{
    while (pool_started < want) {
        if (pthread_create(&pool_workers[pool_started], NULL, worker_main, (void *)(intptr_t)(pool_started + 1)))
            break;
        pool_started++;
    }
    return pool_started;
}

int sx_num_threads(void)
{
    pthread_once(&pool_once, pool_init);
    return pool_threads;
}

void sx_set_num_threads(int n)
{
    pthread_once(&pool_once, pool_init);
    if (n < 1) n = 1;
    if (n > MAX_THREADS) n = MAX_THREADS;
    pool_threads = n;
}

void sx_parallel_for(int64_t n, int64_t grain, sx_range_fn fn, void *ctx)
{
    if (n <= 0) return;
    pthread_once(&pool_once, pool_init);
    if (grain < 1) grain = 1;
    int64_t chunks = n / grain;
    if (chunks > pool_threads) chunks = pool_threads;
    if (chunks <= 1 || in_parallel) {
        fn(ctx, 0, n, thread_index);
        return;
    }
    pthread_mutex_lock(&pool_mu);
    int workers = pool_ensure_workers((int)chunks - 1);
    if (chunks > workers + 1) chunks = workers + 1;
    if (chunks <= 1) {
        pthread_mutex_unlock(&pool_mu);
        fn(ctx, 0, n, 0);
        return;
    }
    job.fn = fn;
    job.ctx = ctx;
    job.n = n;
    job.chunks = (int)chunks;
    pool_pending = (int)chunks - 1;
    pool_generation++;
    pthread_cond_broadcast(&pool_wake);
    pthread_mutex_unlock(&pool_mu);

    in_parallel = 1;
    run_chunk(0);
    in_parallel = 0;

    pthread_mutex_lock(&pool_mu);
    while (pool_pending > 0) pthread_cond_wait(&pool_done, &pool_mu);
    pthread_mutex_unlock(&pool_mu);
}

/* ---------------------------------------------------------------- scratch */

static struct {
    float *p;
    size_t cap;
} scratch[MAX_THREADS][SX_SCRATCH_SLOTS];

static void scratch_free_all(void)
{
    for (int t = 0; t < MAX_THREADS; t++)
        for (int k = 0; k < SX_SCRATCH_SLOTS; k++) {
            free(scratch[t][k].p);
            scratch[t][k].p = NULL;
            scratch[t][k].cap = 0;
        }
}

float *sx_scratch(int thread, int slot, size_t count)
{
    if (thread < 0 || thread >= MAX_THREADS || slot < 0 || slot >= SX_SCRATCH_SLOTS) return NULL;
    if (scratch[thread][slot].cap < count) {
        size_t cap = count + count / 4 + 16;
        size_t bytes = (cap * sizeof(float) + 63) & ~(size_t)63;
        float *p = aligned_alloc(64, bytes);
        if (!p) {
            sx_fail(SX_ENOMEM, "out of memory for a %zu-float scratch buffer", count);
            return NULL;
        }
        free(scratch[thread][slot].p);
        scratch[thread][slot].p = p;
        scratch[thread][slot].cap = cap;
    }
    return scratch[thread][slot].p;
}

/* ---------------------------------------------------------------- FLOP counter */

/* FLOPs (2*M*N*K per sgemm) since the last reset. An integer, so that adds from
 * several threads need one relaxed atomic add each and never round. */
_Atomic uint64_t sx_gemm_flops;

void sx_flops_reset(void) { atomic_store_explicit(&sx_gemm_flops, 0, memory_order_relaxed); }

double sx_flops_count(void) { return (double)atomic_load_explicit(&sx_gemm_flops, memory_order_relaxed); }

/* ---------------------------------------------------------------- sgemm */

struct gemm_job {
    bool ta, tb;
    int64_t M, N, K, lda, ldb, ldc;
    float alpha, beta;
    const float *A, *B;
    float *C;
};

/* Each chunk computes a band of C's columns. */
static void gemm_cols(void *vctx, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    struct gemm_job *g = vctx;
    const float *B = g->tb ? g->B + begin * g->ldb : g->B + begin;
    cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans,
                (int)g->M, (int)(end - begin), (int)g->K, g->alpha, g->A, (int)g->lda, B, (int)g->ldb,
                g->beta, g->C + begin, (int)g->ldc);
}

/* Each chunk computes a band of C's rows. */
static void gemm_rows(void *vctx, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    struct gemm_job *g = vctx;
    const float *A = g->ta ? g->A + begin : g->A + begin * g->lda;
    cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans,
                (int)(end - begin), (int)g->N, (int)g->K, g->alpha, A, (int)g->lda, g->B, (int)g->ldb,
                g->beta, g->C + begin * g->ldc, (int)g->ldc);
}

void sx_sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
              int64_t ldc)
{
    if (M <= 0 || N <= 0) return;
    pthread_once(&pool_once, pool_init); /* pins OpenBLAS to one thread before its first call */
    sx_flops_add(M, N, K);
    struct gemm_job g = {trans_a, trans_b, M, N, K, lda, ldb, ldc, alpha, beta, A, B, C};
    /* Below ~4 MFLOP the thread hand-off costs more than it saves. */
    double flops = 2.0 * (double)M * (double)N * (double)K;
    if (flops < 4e6 || in_parallel) {
        gemm_rows(&g, 0, M, 0);
        return;
    }
    if (N >= M) sx_parallel_for(N, 64, gemm_cols, &g);
    else sx_parallel_for(M, 64, gemm_rows, &g);
}

double sx_clock_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double sx_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double sx_sgemm_gflops(int n, int reps)
{
    if (n < 1 || n > 16384 || reps < 1 || reps > 1000) {
        sx_fail(SX_EINVAL, "sgemm_gflops: n %d must be in [1, 16384] and reps %d in [1, 1000]", n, reps);
        return 0.0;
    }
    size_t nn = (size_t)n * (size_t)n;
    float *a = malloc(nn * sizeof *a), *b = malloc(nn * sizeof *b), *c = malloc(nn * sizeof *c);
    double *t = malloc((size_t)reps * sizeof *t);
    double gflops = 0.0;
    if (!a || !b || !c || !t) {
        sx_fail(SX_ENOMEM, "sgemm_gflops: out of memory for three %dx%d matrices", n, n);
        goto done;
    }
    /* fixed, non-trivial values: denormals or zeros could change the speed */
    for (size_t i = 0; i < nn; i++) {
        a[i] = (float)((i * 7) % 13) * 0.1f;
        b[i] = (float)((i * 5) % 11) * 0.1f;
    }
    sx_sgemm(false, false, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n); /* warm-up: workers, caches, pages of c */
    for (int r = 0; r < reps; r++) {
        double t0 = sx_clock_seconds();
        sx_sgemm(false, false, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        t[r] = sx_clock_seconds() - t0;
    }
    gflops = 2.0 * (double)n * (double)n * (double)n / sx_median(t, reps) / 1e9;
done:
    free(a);
    free(b);
    free(c);
    free(t);
    return gflops;
}
