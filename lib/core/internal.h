/*
 * lib/core/internal.h — what the library's own files share and users never see:
 * the op enum, graph nodes, tensor construction helpers, the thread pool and
 * reusable scratch buffers; and the declarations of the recording helpers and
 * the op table, which the ops layer defines (lib/ops/record.c, op_table.c).
 * This header includes nothing above lib/core: a file that calls ops includes
 * stylex/ops.h itself.
 *
 * Adding an op: add its SX_OP_ value here, its row in lib/ops/op_table.c, its
 * forward (which calls sx_record) and backward side by side in lib/ops/, its case in
 * tests/c/test_op_table.c (which fails on an op without a row or a case) and
 * its thorough gradient checks in tests/c/test_gradcheck.c.
 */
#ifndef STYLEX_INTERNAL_H
#define STYLEX_INTERNAL_H

#include <stdatomic.h>

#include "stylex/tensor.h"

typedef enum sx_op_kind {
    SX_OP_ADD,
    SX_OP_SUB,
    SX_OP_MUL,
    SX_OP_DIV,
    SX_OP_ADD_SCALAR,
    SX_OP_MUL_SCALAR,
    SX_OP_POW_SCALAR,
    SX_OP_NEG,
    SX_OP_ABS,
    SX_OP_EXP,
    SX_OP_LOG,
    SX_OP_SQRT,
    SX_OP_RSQRT,
    SX_OP_RELU,
    SX_OP_LEAKY_RELU,
    SX_OP_SIGMOID,
    SX_OP_TANH,
    SX_OP_SOFTPLUS,
    SX_OP_SUM,
    SX_OP_MAX,
    SX_OP_RESHAPE,
    SX_OP_PERMUTE,
    SX_OP_EXPAND,
    SX_OP_NARROW,
    SX_OP_NARROW_SCATTER,
    SX_OP_CAT,
    SX_OP_INDEX_SELECT,
    SX_OP_INDEX_ADD,
    SX_OP_CONTIGUOUS,
    SX_OP_MATMUL,
    SX_OP_CONV2D,
    SX_OP_CONV_TRANSPOSE2D,
    SX_OP_CONV2D_WEIGHT,
    SX_OP_UPFIRDN2D,
    SX_OP_SIN,
    SX_OP_COS,
    SX_OP_CLAMP,
    SX_OP_WHERE,
    SX_OP_COUNT
} sx_op_kind;

#define SX_NODE_MAX_SAVED 3
#define SX_NODE_MAX_IATTR 12

/* How a tensor was made. Owned by that tensor (tensor->grad_fn). */
typedef struct sx_node {
    sx_op_kind op;
    int n_inputs;
    sx_tensor **inputs;                    /* [n_inputs], retained */
    sx_tensor *saved[SX_NODE_MAX_SAVED];   /* retained constants (masks, detached outputs) or NULL */
    int64_t iattr[SX_NODE_MAX_IATTR];      /* op-specific integers (dims, strides, shapes) */
    double fattr[2];                       /* op-specific scalars (slope, exponent) */
    int64_t *ivec;                         /* op-specific integer vector (owned) or NULL */
    int64_t n_ivec;
} sx_node;

/* The backward engine's marks on tensor->bw_mark while it runs (NONE
 * otherwise): OPEN / DONE while sorting the graph, NEEDED on every tensor that
 * lies on a path to a gradient the caller asked for. */
enum { SX_BW_NONE = 0, SX_BW_OPEN = 1, SX_BW_DONE = 2, SX_BW_NEEDED = 3 };

/* Inside a backward function: whether input t's gradient is wanted. An input
 * that requires grad but leads to nothing asked for (the discriminator's
 * weights while R1 takes d D(x) / d x) is skipped: the engine would drop it. */
static inline bool sx_needs_grad(const sx_tensor *t)
{
    return t && t->requires_grad && t->bw_mark == SX_BW_NEEDED;
}

/* Computes the gradients of a node's inputs from the gradient of its output.
 * grads_in has n_inputs slots, all NULL on entry; fill (new references) those
 * whose input sx_needs_grad (others are dropped). Must use differentiable ops
 * only, so that the engine can record them when create_graph is set. */
typedef sx_status (*sx_backward_fn)(const sx_node *node, sx_tensor *grad_out, sx_tensor **grads_in);

typedef struct sx_op_desc {
    const char *name;
    sx_backward_fn backward;
} sx_op_desc;

/* Defined in lib/ops/op_table.c. */
extern const sx_op_desc sx_op_table[SX_OP_COUNT];

/* Recording (lib/ops/record.c). If grad mode is on and some input requires grad, attaches a new node to out
 * (retaining the inputs) and returns it for the caller to fill attributes;
 * returns NULL when nothing is recorded. On allocation failure frees out, sets
 * *out_p to NULL and returns NULL: callers check *out_p. */
sx_node *sx_record(sx_tensor **out_p, sx_op_kind op, int n_inputs, sx_tensor *const *inputs);
/* True when an op on these inputs would be recorded. */
bool sx_needs_record(int n_inputs, sx_tensor *const *inputs);
/* Stores a retained reference to t in node->saved[slot]. */
void sx_node_save(sx_node *node, int slot, sx_tensor *t);
/* Frees a node and drops its references (lib/core/tensor.c). */
void sx_node_free(sx_node *node);

/* t itself (a new reference) when it is contiguous, else a contiguous copy:
 * the input of a kernel that reads flat memory. Not recorded. */
sx_tensor *sx_tensor_as_contiguous(sx_tensor *t);

/* Tensor construction helpers. */
sx_tensor *sx_tensor_view(sx_tensor *base, int ndim, const int64_t *shape, const int64_t *stride,
                          int64_t offset);
bool sx_shape_check(const char *fn, int ndim, const int64_t *shape);
int64_t sx_shape_numel(int ndim, const int64_t *shape);
void sx_contiguous_strides(int ndim, const int64_t *shape, int64_t *stride);
/* Normalises a possibly negative dim against ndim; -1 (with the error set) if out of range. */
int sx_norm_dim(const char *fn, int dim, int ndim);
/* Same shapes; sets an error naming fn and both shapes otherwise. */
bool sx_check_same_shape(const char *fn, const sx_tensor *a, const sx_tensor *b);
/* NULL tensor argument check; sets "fn: argument #k is NULL". */
bool sx_check_arg(const char *fn, int k, const sx_tensor *t);

/* Track storage bytes for the GC pacing counters. */
void sx_mem_note_alloc(size_t bytes);
void sx_mem_note_free(size_t bytes);

/* ---- thread pool: fn(ctx, begin, end) over [0, n) in up to sx_num_threads()
 * contiguous chunks, each at least `grain` items. The calling thread works
 * too. Not re-entrant: a parallel body must not call sx_parallel_for.
 * OpenBLAS is kept at one thread; this pool is the only source of parallelism. */
typedef void (*sx_range_fn)(void *ctx, int64_t begin, int64_t end, int thread);
void sx_parallel_for(int64_t n, int64_t grain, sx_range_fn fn, void *ctx);

/* n values of (float)sx_rng_normal() from the global stream, in order, the
 * transcendental part over the pool (lib/core/rng.c). False when out of
 * memory (nothing drawn then). */
bool sx_rng_fill_normal(float *out, int64_t n);
/* The median of v[0..n) (n >= 1; sorts v): of timed runs, in benchmarks too. */
double sx_median(double *v, int n);
/* The index of the pool thread running this code (0 = caller). */
int sx_thread_index(void);

/* ---- scratch buffers, one set per pool thread, reused across calls.
 * Returns a buffer of at least `count` floats for slot `slot` of thread
 * `thread`; valid until the next call with the same (thread, slot). */
/* Slots in use: 0-2 conv (lib/ops/conv_kernels.c), 3 upfirdn2d. */
#define SX_SCRATCH_SLOTS 4
float *sx_scratch(int thread, int slot, size_t count);

/* sgemm, row-major: C[M,N] = alpha * op(A) op(B) + beta * C. */
void sx_sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
              int64_t ldc);

/* ---- the GEMM FLOP counter (sx_flops_count): every sgemm call, whether
 * through sx_sgemm or a kernel's own cblas_sgemm, adds its 2*M*N*K here. */
extern _Atomic uint64_t sx_gemm_flops;
static inline void sx_flops_add(int64_t M, int64_t N, int64_t K)
{
    atomic_fetch_add_explicit(&sx_gemm_flops, (uint64_t)(2 * M * N * K), memory_order_relaxed);
}

#endif
