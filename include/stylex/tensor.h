/*
 * stylex/tensor.h — float32 tensors over refcounted storage, errors, RNG.
 *
 * The C core knows nothing of Lua. Every tensor is float32, dimensions are
 * 0-based and outermost first (NCHW). A tensor is a view (shape, strides,
 * offset) over a refcounted sx_storage; views share storage.
 *
 * Ownership: every function that returns an sx_tensor* returns a NEW reference
 * (the caller must sx_tensor_free it) or NULL with the error message set
 * (sx_last_error). Functions taking sx_tensor* never steal the caller's
 * reference unless their comment says so.
 */
#ifndef STYLEX_TENSOR_H
#define STYLEX_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- errors */

typedef enum sx_status {
    SX_OK = 0,
    SX_EINVAL,   /* bad argument: shape, type, range */
    SX_ENOMEM,   /* allocation failed or absurd size */
    SX_EIO,      /* file could not be opened, read or written */
    SX_EFORMAT,  /* file content is corrupt or not of the expected format */
    SX_ESTATE,   /* operation not valid in the current state (e.g. no graph) */
} sx_status;

/* The message of the last failure on this thread ("" if none). */
const char *sx_last_error(void);
/* The status of the last failure on this thread (SX_OK if none). */
sx_status sx_last_status(void);
/* Sets the thread's error; returns st so that `return sx_fail(...)` reads well. */
sx_status sx_fail(sx_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sx_clear_error(void);

/* ---------------------------------------------------------------- tensors */

#define SX_MAX_DIMS 8
/* Upper bound on elements of one tensor (2^34 floats = 64 GiB): larger is refused. */
#define SX_MAX_NUMEL ((int64_t)1 << 34)

typedef struct sx_storage {
    float *data;      /* [size] */
    int64_t size;     /* elements */
    int refcount;
} sx_storage;

struct sx_node;

typedef struct sx_tensor {
    int refcount;
    int ndim;
    int64_t shape[SX_MAX_DIMS];
    int64_t stride[SX_MAX_DIMS];  /* in elements; 0 for broadcast dimensions */
    int64_t offset;               /* in elements, into storage->data */
    sx_storage *storage;          /* owned reference */

    /* autograd */
    bool requires_grad;
    struct sx_tensor *grad;       /* owned; accumulated by sx_backward; NULL until then */
    struct sx_node *grad_fn;      /* owned; how this tensor was made; NULL for leaves */

    /* scratch of the backward engine (valid only during one sx_grad call) */
    struct sx_tensor *bw_grad;    /* owned while the engine runs */
    int bw_mark;
} sx_tensor;

/* Creation. `shape` has `ndim` entries (0 <= ndim <= SX_MAX_DIMS). */
sx_tensor *sx_tensor_empty(int ndim, const int64_t *shape);
sx_tensor *sx_tensor_zeros(int ndim, const int64_t *shape);
sx_tensor *sx_tensor_ones(int ndim, const int64_t *shape);
sx_tensor *sx_tensor_full(int ndim, const int64_t *shape, float value);
sx_tensor *sx_tensor_from_data(int ndim, const int64_t *shape, const float *data); /* copies */
sx_tensor *sx_tensor_arange(int64_t n);             /* 0, 1, ..., n-1 */
sx_tensor *sx_tensor_scalar(float value);           /* 0-d tensor */
sx_tensor *sx_tensor_rand(int ndim, const int64_t *shape);   /* U[0,1), global RNG */
sx_tensor *sx_tensor_randn(int ndim, const int64_t *shape);  /* N(0,1), global RNG */
sx_tensor *sx_tensor_zeros_like(const sx_tensor *t);
sx_tensor *sx_tensor_ones_like(const sx_tensor *t);

/* Reference counting: retain adds one reference, free drops one (NULL is fine). */
sx_tensor *sx_tensor_retain(sx_tensor *t);
void sx_tensor_free(sx_tensor *t);

/* Queries. */
int64_t sx_tensor_numel(const sx_tensor *t);
bool sx_tensor_is_contiguous(const sx_tensor *t);
bool sx_tensor_same_shape(const sx_tensor *a, const sx_tensor *b);
/* Pointer to the first element (storage data + offset). */
float *sx_tensor_data(const sx_tensor *t);
/* Element at a multi-index (idx has t->ndim entries); for tests and small reads. */
float sx_tensor_get(const sx_tensor *t, const int64_t *idx);
/* The single value of a one-element tensor. */
sx_status sx_tensor_item(const sx_tensor *t, float *out);
/* Copies all elements, in row-major order, into out[numel]. */
void sx_tensor_copy_to(const sx_tensor *t, float *out);
/* Writes "[2, 3, 4]" into buf (for error messages); returns buf. */
const char *sx_shape_str(const sx_tensor *t, char *buf, size_t n);

/* Grad mode (per thread, default on): while on, an op whose input requires
 * grad records a node on its output (stylex/autograd.h). set returns the
 * previous value. */
bool sx_grad_enabled(void);
bool sx_set_grad_enabled(bool on);

/* A fresh contiguous copy detached from any graph (not differentiable). */
sx_tensor *sx_tensor_copy(const sx_tensor *t);
/* The same tensor if contiguous (new reference), else a copy; differentiable. */
sx_tensor *sx_contiguous(sx_tensor *t);
/* A new tensor sharing storage, with no grad_fn and requires_grad false. */
sx_tensor *sx_detach(sx_tensor *t);
/* Copies src's values into dst in place (shapes must match; not recorded). */
sx_status sx_tensor_assign(sx_tensor *dst, const sx_tensor *src);
/* Fills dst in place with a value (not recorded). */
void sx_tensor_fill(sx_tensor *dst, float value);

/* Bytes of tensor storage allocated since the last call (for Lua's GC pacing). */
size_t sx_mem_take_allocated(void);
/* Bytes of tensor storage currently alive. */
size_t sx_mem_live(void);
/* Returns the blocks kept for reuse (large freed storages, at most
 * SX_CACHE_MB, default 2048) to the system. */
void sx_mem_cache_clear(void);

/* ---------------------------------------------------------------- RNG */

/* Seeds the global generator; the same seed gives the same numbers everywhere. */
void sx_manual_seed(uint64_t seed);
/* Generator state, for checkpoints (4 words). */
void sx_rng_get_state(uint64_t state[4]);
void sx_rng_set_state(const uint64_t state[4]);
double sx_rng_uniform(void);   /* [0, 1) */
double sx_rng_normal(void);    /* N(0, 1) */

/* ---------------------------------------------------------------- threads */

/* Number of threads the library's parallel loops use (default: online CPUs). */
int sx_num_threads(void);
void sx_set_num_threads(int n);

/* ---------------------------------------------------------------- GEMM FLOPs */

/* The library counts the FLOPs of every sgemm it runs (2*M*N*K each: matmuls,
 * convolutions and their gradients; elementwise work is not counted), over all
 * threads. reset sets the count to 0; count reads it. */
void sx_flops_reset(void);
double sx_flops_count(void);
/* GFLOP/s of a pooled n x n x n sgemm (split over sx_num_threads() threads as
 * matmul's are), the median of `reps` timed runs after one warm-up, measured
 * now; 0 with the error set on bad arguments or no memory. Its sgemms count. */
double sx_sgemm_gflops(int n, int reps);
/* Seconds on a monotonic clock (for timing: differences only). */
double sx_clock_seconds(void);

#ifdef __cplusplus
}
#endif
#endif
