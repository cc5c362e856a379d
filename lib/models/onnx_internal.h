/*
 * lib/models/onnx_internal.h — what the files of the ONNX importer share:
 * the graph (nodes over numbered value slots), the loader's state, and the
 * functions one file defines for another.
 *
 *   onnx.c        the file into a graph: protobuf-c, every operator and
 *                 attribute checked, the run at load; sx_onnx_load
 *   onnx_info.c   the classifier info of a loaded graph: the default layer
 *                 lists from the slot shapes, the JSON sidecar, the options
 *   onnx_run.c    running the graph as stylex ops (the vtable), and the
 *                 operators over images (conv, pools, gemm, resize, ...)
 *   onnx_shape.c  the shape arithmetic: integers as float tensors; Reshape,
 *                 Shape, Gather, Slice and friends
 *
 * Only onnx.c sees protobuf-c's types (build/gen/onnx.pb-c.h); the graph
 * here is plain C.
 */
#ifndef SX_ONNX_INTERNAL_H
#define SX_ONNX_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "stylex/classifier.h"
#include "stylex/onnx.h"
#include "stylex/tensor.h"

typedef enum {
    OP_CONV, OP_GEMM, OP_MATMUL, OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_RELU, OP_LEAKY_RELU, OP_SIGMOID, OP_TANH,
    OP_CLIP, OP_MAX_POOL, OP_AVG_POOL, OP_GLOBAL_AVG_POOL, OP_BATCH_NORM, OP_FLATTEN, OP_RESHAPE, OP_CONCAT,
    OP_SOFTMAX, OP_PAD, OP_RESIZE, OP_CONSTANT, OP_IDENTITY, OP_DROPOUT,
    /* the shape arithmetic torch.onnx writes around view(x.size(0), -1) and F.pad */
    OP_SHAPE, OP_GATHER, OP_UNSQUEEZE, OP_SQUEEZE, OP_CONSTANT_OF_SHAPE, OP_SLICE, OP_TRANSPOSE, OP_CAST,
    OP_REDUCE_MEAN, OP_COUNT
} op_kind;

extern const char *const onnx_op_names[OP_COUNT]; /* "Conv", ...: the ONNX op_type of each */

enum { MAX_IN = 64, MAX_DIM = 8 };
/* Bounds that keep a hostile or broken graph from asking for absurd work:
 * the input side (StyleGAN's largest resolution) and the elements one value
 * may have per image (32 Mi floats, 40x ResNet-50's largest map at 224). */
enum { MAX_SIDE = 1024, MAX_PER_IMAGE = 1 << 25 };

typedef struct slot {
    char *name;
    int producer;            /* node index, -1 for the input and constants */
    int last_use;            /* the last node reading it, -1 for none: its value is dropped after that node */
    sx_tensor *value;        /* constants: the value (float; integers converted, exact to 2^24) */
    int ndim;                /* from the run at load (batch 1) */
    int64_t shape[MAX_DIM];
} slot;

typedef struct node {
    op_kind op;
    char *name;              /* the node's name, or "<op> #k" when it has none */
    int n_in;
    int in[MAX_IN];          /* slot indices, -1 for an omitted optional input */
    int out;                 /* slot of the first output */
    /* attributes (those of this node's op) */
    int64_t kernel[2], strides[2], pads[4], group;
    int64_t axis, trans_a, trans_b, ceil_mode, count_include_pad, allow_zero;
    int64_t keepdims, start, end;         /* ReduceMean; Shape's range */
    bool cast_to_int;                     /* Cast to an integer type (truncates; else to a float type) */
    int n_list;
    int64_t list[MAX_DIM];                /* Transpose's perm, (Un)Squeeze/ReduceMean's axes (opset < 13) */
    bool has_list;
    float fill;                           /* ConstantOfShape's value */
    float alpha, beta, epsilon;
    char mode[24], ctm[24], nearest[24], auto_pad[16];
} node;

typedef struct onnx_graph {
    int n_slots, n_nodes;
    slot *slots;
    node *nodes;
    int input, output;       /* slots */
    int opset;
    int channels, height, width;
} onnx_graph;

/* ---------------------------------------------------------------- loading (onnx.c, onnx_info.c) */

typedef struct loader {
    const char *path;
    char err[400];           /* the first error; later ones are dropped */
    onnx_graph *g;
    int cap_slots;
} loader;

/* Sets L->err (unless already set); returns false. */
bool onnx_lfail(loader *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void onnx_graph_free(void *g);
int onnx_find_slot(const onnx_graph *g, const char *name);
/* The classifier info of a graph that has run once (slot shapes known):
 * defaults, then the sidecar (opts->sidecar, else <path minus .onnx>.json
 * when it exists), then opts (onnx_info.c). */
bool onnx_load_info(loader *L, const char *path, const sx_onnx_opts *opts, sx_classifier_info *info);

/* ---------------------------------------------------------------- running (onnx_run.c, onnx_shape.c) */

extern const sx_classifier_vtable onnx_vtable;
/* Runs the graph on x; fills vals[slot] with new references (constants
 * retained); the caller frees them. With keep, a computed value nobody reads
 * any more is dropped after its last reader (so inference holds only the
 * live activations), unless keep[slot]; without keep every value stays. */
sx_status onnx_run_graph(const onnx_graph *g, sx_tensor *x, sx_tensor **vals, const bool *keep);
/* The error of a failed op, prefixed with the node. */
sx_status onnx_node_fail(const node *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* *t = next after freeing *t; false when next is NULL (the error is set). */
bool onnx_step(sx_tensor **t, sx_tensor *next);
/* The integer values of input k (any computed tensor: integers travel as
 * float tensors, exact to 2^24), at most cap; the count, or -1 with the error. */
int onnx_read_ints(const node *n, sx_tensor **v, int k, const char *what, int64_t *out, int cap);

/* The shape arithmetic (onnx_shape.c): each a new reference, or NULL with
 * the error set; x is the node's first input, v every slot's value. */
sx_tensor *onnx_run_reshape(const onnx_graph *g, const node *n, sx_tensor **v);
sx_tensor *onnx_run_flatten(const node *n, sx_tensor *x);
sx_tensor *onnx_run_shape(const node *n, sx_tensor *x);
sx_tensor *onnx_run_unsqueeze(const node *n, sx_tensor **v, sx_tensor *x);
sx_tensor *onnx_run_squeeze(const node *n, sx_tensor **v, sx_tensor *x);
sx_tensor *onnx_run_gather(const node *n, sx_tensor **v, sx_tensor *x);
sx_tensor *onnx_run_constant_of_shape(const node *n, sx_tensor **v);
sx_tensor *onnx_run_slice(const node *n, sx_tensor **v, sx_tensor *x);
sx_tensor *onnx_run_transpose(const node *n, sx_tensor *x);
sx_tensor *onnx_run_cast(const node *n, sx_tensor *x);
sx_tensor *onnx_run_reduce_mean(const node *n, sx_tensor **v, sx_tensor *x);

#endif
