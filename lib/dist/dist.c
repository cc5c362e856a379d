/*
 * lib/dist/dist.c — ranks and collectives over MPI (include/stylex/dist.h).
 *
 * Built with SX_HAVE_MPI 1 (the Makefile sets it when Open MPI's headers are
 * found) it calls MPI once the process turns out to be one of an mpirun job;
 * otherwise, and in every process started without mpirun, it is a world of
 * one rank in which the collectives leave their tensors as they are.
 *
 * Allreduce copies its tensors, in order, into a bucket of at most
 * SX_DIST_BUCKET_BYTES and reduces each full bucket with one MPI_Allreduce
 * (a tensor larger than a bucket is split over several). MPI_Allreduce on
 * floats gives every rank the same bits in Open MPI's algorithms (each
 * partial sum is formed once and passed on, or formed as a+b on both sides
 * of a pair); the parameter hash check is there to catch it if not.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stylex/dist.h"

#ifndef SX_HAVE_MPI
#define SX_HAVE_MPI 0
#endif
#if SX_HAVE_MPI
#include <mpi.h>
#endif

static int g_init;     /* sx_dist_init ran */
static int g_mpi;      /* MPI_Init ran (a job of mpirun) and not finalised */
static int g_rank, g_size = 1;
static double g_bytes; /* payload bytes sent into collectives */
static float *g_bucket;

bool sx_dist_built_with_mpi(void) { return SX_HAVE_MPI; }
int sx_dist_rank(void) { return g_rank; }
int sx_dist_size(void) { return g_size; }
double sx_dist_bytes(void) { return g_bytes; }
void sx_dist_bytes_reset(void) { g_bytes = 0; }

/* Started by mpirun (Open MPI sets OMPI_COMM_WORLD_SIZE; PMIx and PMI
 * launchers such as srun set these). */
static bool launched_by_mpirun(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_SIZE");
}

sx_status sx_dist_init(void)
{
    if (g_init) return SX_OK;
    g_init = 1;
    if (!launched_by_mpirun()) return SX_OK;
#if SX_HAVE_MPI
    int provided = 0;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return sx_fail(SX_ESTATE, "dist_init: MPI_Init_thread failed");
    g_mpi = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    /* errors come back as codes, which become messages, instead of aborting */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    return SX_OK;
#else
    return sx_fail(SX_ESTATE, "dist_init: started by mpirun, but stylex was built without MPI "
                              "(install libopenmpi-dev and rebuild)");
#endif
}

static sx_status check_list(const char *fn, sx_tensor *const *ts, int n, bool writes)
{
    if (n < 0 || (n > 0 && !ts)) return sx_fail(SX_EINVAL, "%s: bad tensor list", fn);
    for (int i = 0; i < n; i++) {
        if (!ts[i]) return sx_fail(SX_EINVAL, "%s: tensor #%d is NULL", fn, i + 1);
        if (writes && !sx_tensor_is_contiguous(ts[i])) {
            char b[96];
            return sx_fail(SX_EINVAL, "%s: tensor #%d %s is not contiguous", fn, i + 1, sx_shape_str(ts[i], b, sizeof b));
        }
    }
    return SX_OK;
}

#if SX_HAVE_MPI
static sx_status mpi_fail(const char *fn, int rc)
{
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return sx_fail(SX_ESTATE, "%s: MPI error on rank %d: %s", fn, g_rank, msg);
}

static MPI_Op mpi_op(sx_dist_op op)
{
    switch (op) {
    case SX_DIST_MAX: return MPI_MAX;
    case SX_DIST_MIN: return MPI_MIN;
    default: return MPI_SUM;
    }
}

/* Reduces the bucket's first k floats; scatters them back to the tensors
 * from (tensor t0, element e0) on. */
static sx_status flush(float *buf, int64_t k, sx_dist_op op, sx_tensor *const *ts, int t0, int64_t e0)
{
    int rc = MPI_Allreduce(MPI_IN_PLACE, buf, (int)k, MPI_FLOAT, mpi_op(op), MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_fail("dist_allreduce", rc);
    g_bytes += (double)k * sizeof(float);
    if (op == SX_DIST_MEAN) {
        float s = 1.0f / (float)g_size;
        for (int64_t i = 0; i < k; i++) buf[i] *= s;
    }
    for (int64_t off = 0; off < k; t0++, e0 = 0) {
        int64_t take = sx_tensor_numel(ts[t0]) - e0;
        if (take > k - off) take = k - off;
        memcpy(sx_tensor_data(ts[t0]) + e0, buf + off, (size_t)take * sizeof(float));
        off += take;
    }
    return SX_OK;
}
#endif

sx_status sx_dist_allreduce(sx_tensor *const *ts, int n, sx_dist_op op)
{
    if (op < SX_DIST_SUM || op > SX_DIST_MIN) return sx_fail(SX_EINVAL, "dist_allreduce: unknown op %d", (int)op);
    if (check_list("dist_allreduce", ts, n, true) != SX_OK) return sx_last_status();
    if (!g_mpi || g_size == 1) return SX_OK;
#if SX_HAVE_MPI
    const int64_t cap = SX_DIST_BUCKET_BYTES / (int64_t)sizeof(float);
    if (!g_bucket && !(g_bucket = malloc((size_t)cap * sizeof(float))))
        return sx_fail(SX_ENOMEM, "dist_allreduce: bucket of %lld bytes", (long long)SX_DIST_BUCKET_BYTES);
    int64_t k = 0;   /* floats in the bucket */
    int t0 = 0;      /* where the bucket's first float came from */
    int64_t e0 = 0;
    for (int t = 0; t < n; t++) {
        const float *src = sx_tensor_data(ts[t]);
        int64_t m = sx_tensor_numel(ts[t]);
        for (int64_t e = 0; e < m;) {
            int64_t take = m - e < cap - k ? m - e : cap - k;
            memcpy(g_bucket + k, src + e, (size_t)take * sizeof(float));
            k += take;
            e += take;
            if (k == cap) {
                if (flush(g_bucket, k, op, ts, t0, e0) != SX_OK) return sx_last_status();
                k = 0;
                t0 = e < m ? t : t + 1;
                e0 = e < m ? e : 0;
            }
        }
    }
    if (k > 0 && flush(g_bucket, k, op, ts, t0, e0) != SX_OK) return sx_last_status();
#endif
    return SX_OK;
}

sx_status sx_dist_broadcast(sx_tensor *const *ts, int n, int root)
{
    if (check_list("dist_broadcast", ts, n, true) != SX_OK) return sx_last_status();
    if (root < 0 || root >= g_size)
        return sx_fail(SX_EINVAL, "dist_broadcast: root %d outside 0..%d", root, g_size - 1);
    if (!g_mpi || g_size == 1) return SX_OK;
#if SX_HAVE_MPI
    for (int t = 0; t < n; t++) {
        int64_t m = sx_tensor_numel(ts[t]);
        for (int64_t e = 0; e < m; e += (int64_t)1 << 30) {
            int c = (int)(m - e < ((int64_t)1 << 30) ? m - e : ((int64_t)1 << 30));
            int rc = MPI_Bcast(sx_tensor_data(ts[t]) + e, c, MPI_FLOAT, root, MPI_COMM_WORLD);
            if (rc != MPI_SUCCESS) return mpi_fail("dist_broadcast", rc);
            if (g_rank == root) g_bytes += (double)c * sizeof(float);
        }
    }
#endif
    return SX_OK;
}

sx_status sx_dist_barrier(void)
{
#if SX_HAVE_MPI
    if (g_mpi && g_size > 1) {
        int rc = MPI_Barrier(MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail("dist_barrier", rc);
    }
#endif
    return SX_OK;
}

sx_tensor *sx_dist_allgather(sx_tensor *local)
{
    if (!local) { sx_fail(SX_EINVAL, "dist_allgather: NULL tensor"); return NULL; }
    if (local->ndim < 1) { sx_fail(SX_EINVAL, "dist_allgather: a 0-d tensor has no rows"); return NULL; }
    if (!g_mpi || g_size == 1) return sx_tensor_copy(local);
    sx_tensor *c = sx_contiguous(local);
    if (!c) return NULL;
    sx_tensor *out = NULL;
#if SX_HAVE_MPI
    /* every rank's shape, to check them and size the result */
    int64_t mine[SX_MAX_DIMS + 1] = {c->ndim}, *all = NULL;
    for (int d = 0; d < c->ndim; d++) mine[d + 1] = c->shape[d];
    int *counts = NULL, *displs = NULL;
    all = malloc((size_t)g_size * (SX_MAX_DIMS + 1) * sizeof *all);
    counts = malloc((size_t)g_size * sizeof *counts);
    displs = malloc((size_t)g_size * sizeof *displs);
    if (!all || !counts || !displs) { sx_fail(SX_ENOMEM, "dist_allgather: %d ranks", g_size); goto done; }
    int rc = MPI_Allgather(mine, SX_MAX_DIMS + 1, MPI_INT64_T, all, SX_MAX_DIMS + 1, MPI_INT64_T, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) { mpi_fail("dist_allgather", rc); goto done; }
    int64_t rows = 0, row = sx_tensor_numel(c) / (c->shape[0] ? c->shape[0] : 1), total = 0;
    if (c->shape[0] == 0) { row = 1; for (int d = 1; d < c->ndim; d++) row *= c->shape[d]; }
    for (int r = 0; r < g_size; r++) {
        const int64_t *s = all + (size_t)r * (SX_MAX_DIMS + 1);
        bool same = s[0] == c->ndim;
        for (int d = 1; same && d < c->ndim; d++) same = s[d + 1] == c->shape[d];
        if (!same) {
            char b[96];
            sx_fail(SX_EINVAL, "dist_allgather: rank %d's tensor does not match rank %d's %s beyond dimension 1", r,
                    g_rank, sx_shape_str(c, b, sizeof b));
            goto done;
        }
        if (s[1] * row > INT32_MAX || total + s[1] * row > INT32_MAX) {
            sx_fail(SX_EINVAL, "dist_allgather: more than 2^31 elements");
            goto done;
        }
        counts[r] = (int)(s[1] * row);
        displs[r] = (int)total;
        total += s[1] * row;
        rows += s[1];
    }
    int64_t shape[SX_MAX_DIMS];
    memcpy(shape, c->shape, sizeof shape);
    shape[0] = rows;
    if (!(out = sx_tensor_empty(c->ndim, shape))) goto done;
    rc = MPI_Allgatherv(sx_tensor_data(c), counts[g_rank], MPI_FLOAT, sx_tensor_data(out), counts, displs, MPI_FLOAT,
                        MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) {
        mpi_fail("dist_allgather", rc);
        sx_tensor_free(out);
        out = NULL;
        goto done;
    }
    g_bytes += (double)counts[g_rank] * sizeof(float);
done:
    free(all);
    free(counts);
    free(displs);
#endif
    sx_tensor_free(c);
    return out;
}

uint64_t sx_dist_hash(sx_tensor *const *ts, int n)
{
    uint64_t h = 1469598103934665603ULL;
    for (int t = 0; t < n; t++) {
        if (!ts || !ts[t]) continue;
        sx_tensor *c = sx_contiguous(ts[t]);
        if (!c) continue;
        const unsigned char *p = (const unsigned char *)sx_tensor_data(c);
        size_t bytes = (size_t)sx_tensor_numel(c) * sizeof(float);
        for (size_t i = 0; i < bytes; i++) h = (h ^ p[i]) * 1099511628211ULL;
        sx_tensor_free(c);
    }
    return h;
}

sx_status sx_dist_check_equal(sx_tensor *const *ts, int n, const char *what)
{
    if (check_list("dist_check_equal", ts, n, false) != SX_OK) return sx_last_status();
    if (!g_mpi || g_size == 1) return SX_OK;
#if SX_HAVE_MPI
    uint64_t h = sx_dist_hash(ts, n);
    uint64_t *all = malloc((size_t)g_size * sizeof *all);
    if (!all) return sx_fail(SX_ENOMEM, "dist_check_equal: %d ranks", g_size);
    int rc = MPI_Allgather(&h, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) {
        free(all);
        return mpi_fail("dist_check_equal", rc);
    }
    g_bytes += sizeof h;
    char list[256] = "";
    int bad = 0;
    for (int r = 1; r < g_size; r++) {
        if (all[r] == all[0]) continue;
        if (bad++ < 8) {
            size_t len = strlen(list);
            snprintf(list + len, sizeof list - len, "%s%d", len ? ", " : "", r);
        }
    }
    sx_status st = SX_OK;
    if (bad)
        st = sx_fail(SX_ESTATE,
                     "dist_check_equal: %s differ across ranks: %d of %d ranks (rank%s %s%s) hash otherwise than "
                     "rank 0 (%016llx); the ranks no longer take the same steps",
                     what ? what : "tensors", bad, g_size, bad > 1 ? "s" : "", list, bad > 8 ? ", ..." : "",
                     (unsigned long long)all[0]);
    free(all);
    return st;
#else
    return SX_OK;
#endif
}

void sx_dist_finalize(void)
{
#if SX_HAVE_MPI
    if (g_mpi) {
        MPI_Finalize();
        g_mpi = 0;
    }
#endif
    free(g_bucket);
    g_bucket = NULL;
}

void sx_dist_abort(int code)
{
#if SX_HAVE_MPI
    if (g_mpi) MPI_Abort(MPI_COMM_WORLD, code);
#endif
}
