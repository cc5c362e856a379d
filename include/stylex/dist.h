/*
 * stylex/dist.h — data parallelism over MPI (Open MPI): ranks, collectives
 * over lists of tensors, a parameter hash check. docs/scale-out.md.
 *
 * A process started by mpirun (Open MPI's environment: OMPI_COMM_WORLD_SIZE,
 * or a PMIx/PMI rank) initialises MPI in sx_dist_init; a process started
 * without it, or a library built without MPI (SX_HAVE_MPI 0), is one rank of
 * one: rank 0, size 1, and every collective returns at once leaving its
 * tensors untouched. So a single process runs exactly as it did before MPI.
 *
 * Collectives are called by every rank in the same order with tensors of the
 * same shapes (as MPI requires); only the calling thread (the main thread)
 * talks to MPI (MPI_THREAD_FUNNELED). Tensors they write must be contiguous.
 * Errors are a status and sx_last_error(), as everywhere; a rank that fails
 * while the others wait in a collective hangs them, so a host calls
 * sx_dist_abort on a failure (the stylex executable does).
 */
#ifndef STYLEX_DIST_H
#define STYLEX_DIST_H
#include <stdbool.h>
#include <stdint.h>

#include "stylex/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sx_dist_op {
    SX_DIST_SUM = 0,
    SX_DIST_MEAN, /* the sum divided by the number of ranks */
    SX_DIST_MAX,
    SX_DIST_MIN,
} sx_dist_op;

/* Allreduce packs its tensors into messages of at most this many bytes
 * (buckets), so that many small gradients cost few MPI calls. */
#define SX_DIST_BUCKET_BYTES ((int64_t)8 << 20)

/* Initialises MPI when the process was started by mpirun; else one rank.
 * Idempotent. SX_ESTATE if MPI was wanted but could not start. */
sx_status sx_dist_init(void);
/* True when the library was built against MPI. */
bool sx_dist_built_with_mpi(void);
/* This process's rank (0-based) and the number of ranks; 0 and 1 before
 * sx_dist_init or without mpirun. */
int sx_dist_rank(void);
int sx_dist_size(void);

/* Reduces the n tensors elementwise over the ranks, in place: every rank
 * ends with the same values. Tensors must be contiguous (gradients and
 * parameters are). */
sx_status sx_dist_allreduce(sx_tensor *const *ts, int n, sx_dist_op op);
/* Copies root's values of the n tensors into every rank's (in place). */
sx_status sx_dist_broadcast(sx_tensor *const *ts, int n, int root);
sx_status sx_dist_barrier(void);
/* The local tensors of all ranks concatenated along dimension 0, in rank
 * order, on every rank (ranks may hold different row counts; the other
 * dimensions must agree). Returns a new tensor (in one process a copy of
 * local) or NULL. */
sx_tensor *sx_dist_allgather(sx_tensor *local);

/* A 64-bit FNV-1a hash of the n tensors' float bits (shape-independent). */
uint64_t sx_dist_hash(sx_tensor *const *ts, int n);
/* Fails with SX_ESTATE, naming `what` and the ranks whose hash differs
 * from rank 0's, when the n tensors are not bit-identical on every rank.
 * Every rank gets the same answer. */
sx_status sx_dist_check_equal(sx_tensor *const *ts, int n, const char *what);

/* Bytes this rank has sent into collectives since the last reset (the
 * payload, not MPI's own traffic: an allreduce of b bytes counts b). */
double sx_dist_bytes(void);
void sx_dist_bytes_reset(void);

/* Ends MPI (after the last collective; idempotent); aborts every rank of
 * the job with this exit code (for a rank that failed). Both do nothing
 * in a single process. */
void sx_dist_finalize(void);
void sx_dist_abort(int code);

#ifdef __cplusplus
}
#endif
#endif
