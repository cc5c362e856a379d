/*
 * lib/models/onnx.c — ONNX classifiers on the autograd engine
 * (include/stylex/onnx.h): the loader, and sx_onnx_load.
 *
 * protobuf-c unpacks the file with the code protoc-c generated from
 * Debian's onnx.proto (build/gen/onnx.pb-c.[ch]); the graph becomes a list
 * of nodes over numbered value slots (onnx_internal.h). Initializers and
 * Constant nodes are constant slots; every value is a float tensor, integer
 * ones included (shapes, pads, indices: exact up to 2^24), so the shape
 * arithmetic of torch.onnx exports (Shape, Gather, Concat, ...) runs on the
 * same tensors and Reshape, Pad, Resize and Slice read their integers from
 * them at run time. Every operator and attribute is checked at load; then
 * the graph runs once on zeros [1, C, H, W] with grad off (onnx_run.c),
 * which finds shape errors and gives each slot its shape, from which
 * onnx_info.c finds the layer lists.
 */
#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "../core/internal.h"
#include "onnx.pb-c.h"
#include "onnx_internal.h"

const char *const onnx_op_names[OP_COUNT] = {
    "Conv", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu", "Sigmoid", "Tanh",
    "Clip", "MaxPool", "AveragePool", "GlobalAveragePool", "BatchNormalization", "Flatten", "Reshape", "Concat",
    "Softmax", "Pad", "Resize", "Constant", "Identity", "Dropout",
    "Shape", "Gather", "Unsqueeze", "Squeeze", "ConstantOfShape", "Slice", "Transpose", "Cast", "ReduceMean"};
_Static_assert(sizeof onnx_op_names / sizeof *onnx_op_names == OP_COUNT, "one name per op");

void onnx_graph_free(void *p)
{
    onnx_graph *g = p;
    if (!g) return;
    for (int i = 0; i < g->n_slots; i++) {
        free(g->slots[i].name);
        sx_tensor_free(g->slots[i].value);
    }
    for (int i = 0; i < g->n_nodes; i++) free(g->nodes[i].name);
    free(g->slots);
    free(g->nodes);
    free(g);
}

/* protobuf-c leaves an absent optional string NULL */
static const char *str(const char *s) { return s ? s : ""; }

bool onnx_lfail(loader *L, const char *fmt, ...)
{
    if (L->err[0]) return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->err, sizeof L->err, fmt, ap);
    va_end(ap);
    return false;
}

static int add_slot(loader *L, const char *name)
{
    onnx_graph *g = L->g;
    if (g->n_slots == L->cap_slots) {
        int cap = L->cap_slots ? 2 * L->cap_slots : 64;
        slot *s = realloc(g->slots, sizeof *s * (size_t)cap);
        if (!s) return onnx_lfail(L, "out of memory"), -1;
        g->slots = s;
        L->cap_slots = cap;
    }
    slot *s = &g->slots[g->n_slots];
    memset(s, 0, sizeof *s);
    s->producer = -1;
    if (!(s->name = strdup(name))) return onnx_lfail(L, "out of memory"), -1;
    return g->n_slots++;
}

static const char *dtype_name(int t)
{
    static const char *const n[] = {"undefined", "float", "uint8", "int8", "uint16", "int16", "int32", "int64",
                                    "string", "bool", "float16", "double", "uint32", "uint64"};
    return t >= 0 && t < 14 ? n[t] : "unknown";
}

/* A TensorProto into slot s (float value; integers also as ints). */
static bool load_tensor(loader *L, const Onnx__TensorProto *t, int s, const char *what)
{
    if (t->n_dims > MAX_DIM) return onnx_lfail(L, "%s '%s' has %zu dimensions", what, str(t->name), t->n_dims);
    int64_t shape[MAX_DIM], numel = 1;
    for (size_t d = 0; d < t->n_dims; d++) {
        if (t->dims[d] < 0 || t->dims[d] > ((int64_t)1 << 31)) return onnx_lfail(L, "%s '%s' has a bad dimension", what, str(t->name));
        shape[d] = t->dims[d];
        numel *= shape[d];
        if (numel > ((int64_t)1 << 31)) return onnx_lfail(L, "%s '%s' is too large", what, str(t->name));
    }
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return onnx_lfail(L, "%s '%s' keeps its data in an external file (not supported; save the model with its weights inside)",
                          what, str(t->name));
    int type = t->has_data_type ? t->data_type : 0;
    size_t raw = t->has_raw_data ? t->raw_data.len : 0;
    const uint8_t *rd = t->has_raw_data ? t->raw_data.data : NULL;
    float *f = malloc(sizeof(float) * (size_t)(numel ? numel : 1));
    if (!f) return onnx_lfail(L, "out of memory");
    bool ok = true;
    if (type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
        /* an empty tensor (Resize's unused roi and scales) has no data at all */
        if (numel == 0) ok = true;
        else if (rd && raw == 4 * (size_t)numel) memcpy(f, rd, raw);
        else if (!rd && t->n_float_data == (size_t)numel) memcpy(f, t->float_data, 4 * (size_t)numel);
        else ok = false;
    } else if (type == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE) {
        if (rd && raw == 8 * (size_t)numel)
            for (int64_t i = 0; i < numel; i++) {
                double d;
                memcpy(&d, rd + 8 * i, 8);
                f[i] = (float)d;
            }
        else if (!rd && t->n_double_data == (size_t)numel)
            for (int64_t i = 0; i < numel; i++) f[i] = (float)t->double_data[i];
        else ok = false;
    } else if (type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 || type == ONNX__TENSOR_PROTO__DATA_TYPE__INT32) {
        size_t w = type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ? 8 : 4;
        for (int64_t i = 0; i < numel && ok; i++) {
            int64_t iv = 0;
            if (rd && raw == w * (size_t)numel) {
                if (w == 8) memcpy(&iv, rd + 8 * i, 8);
                else {
                    int32_t v;
                    memcpy(&v, rd + 4 * i, 4);
                    iv = v;
                }
            } else if (!rd && w == 8 && t->n_int64_data == (size_t)numel) iv = t->int64_data[i];
            else if (!rd && w == 4 && t->n_int32_data == (size_t)numel) iv = t->int32_data[i];
            else ok = false;
            f[i] = (float)iv;
        }
    } else {
        free(f);
        return onnx_lfail(L, "%s '%s' has element type %s (float, double, int32 and int64 are supported)", what, str(t->name),
                          dtype_name(type));
    }
    if (!ok) {
        free(f);
        return onnx_lfail(L, "%s '%s': its data does not match its shape (truncated file?)", what, str(t->name));
    }
    slot *sl = &L->g->slots[s];
    sl->value = sx_tensor_from_data((int)t->n_dims, shape, f);
    free(f);
    if (!sl->value) return onnx_lfail(L, "%s '%s': %s", what, str(t->name), sx_last_error());
    return true;
}

static op_kind op_of(const char *type)
{
    for (int k = 0; k < OP_COUNT; k++)
        if (strcmp(onnx_op_names[k], type) == 0) return (op_kind)k;
    return OP_COUNT;
}

/* The attributes that are one integer or one float, each into its field. */
static const struct {
    const char *name;
    size_t offset;  /* of an int64_t field, or a float one */
    bool is_float;
} scalar_attrs[] = {
    {"group", offsetof(node, group), false},       {"transA", offsetof(node, trans_a), false},
    {"transB", offsetof(node, trans_b), false},    {"axis", offsetof(node, axis), false},
    {"ceil_mode", offsetof(node, ceil_mode), false}, {"count_include_pad", offsetof(node, count_include_pad), false},
    {"allowzero", offsetof(node, allow_zero), false}, {"keepdims", offsetof(node, keepdims), false},
    {"start", offsetof(node, start), false},       {"end", offsetof(node, end), false},
    {"alpha", offsetof(node, alpha), true},        {"beta", offsetof(node, beta), true},
    {"epsilon", offsetof(node, epsilon), true},
};

/* Reads attribute a named k if it is one of scalar_attrs. */
static bool read_scalar_attr(node *n, const Onnx__AttributeProto *a, const char *k)
{
    for (size_t i = 0; i < sizeof scalar_attrs / sizeof *scalar_attrs; i++) {
        if (strcmp(k, scalar_attrs[i].name) != 0) continue;
        char *field = (char *)n + scalar_attrs[i].offset;
        if (scalar_attrs[i].is_float) *(float *)field = a->f;
        else *(int64_t *)field = a->i;
        return true;
    }
    return false;
}

/* The attributes this importer reads, per op; any other attribute with a
 * value that changes the result is refused. */
static bool read_attrs(loader *L, const Onnx__NodeProto *p, node *n)
{
    n->strides[0] = n->strides[1] = 1;
    n->group = 1;
    n->alpha = n->op == OP_LEAKY_RELU ? 0.01f : 1.0f;
    n->beta = 1.0f;
    n->epsilon = 1e-5f;
    n->axis = n->op == OP_SOFTMAX ? (L->g->opset >= 13 ? -1 : 1) : 1;
    snprintf(n->mode, sizeof n->mode, "%s", n->op == OP_PAD ? "constant" : "nearest");
    snprintf(n->ctm, sizeof n->ctm, "half_pixel");
    snprintf(n->nearest, sizeof n->nearest, "round_prefer_floor");
    snprintf(n->auto_pad, sizeof n->auto_pad, "NOTSET");
    n->keepdims = 1;
    n->end = INT64_MAX;
    if (n->op == OP_GATHER) n->axis = 0;
    for (size_t i = 0; i < p->n_attribute; i++) {
        const Onnx__AttributeProto *a = p->attribute[i];
        const char *k = a->name ? a->name : "";
        bool ints2 = a->n_ints == 2, ints4 = a->n_ints == 4;
        if (read_scalar_attr(n, a, k)) continue;
        if (!strcmp(k, "kernel_shape") && (n->op == OP_MAX_POOL || n->op == OP_AVG_POOL || n->op == OP_CONV)) {
            if (!ints2) return onnx_lfail(L, "node '%s' (%s): only 2-d kernels", n->name, onnx_op_names[n->op]);
            n->kernel[0] = a->ints[0];
            n->kernel[1] = a->ints[1];
        } else if (!strcmp(k, "strides")) {
            if (!ints2) return onnx_lfail(L, "node '%s' (%s): only 2-d strides", n->name, onnx_op_names[n->op]);
            n->strides[0] = a->ints[0];
            n->strides[1] = a->ints[1];
        } else if (!strcmp(k, "pads") && n->op != OP_PAD) {
            if (!ints4) return onnx_lfail(L, "node '%s' (%s): only 2-d pads", n->name, onnx_op_names[n->op]);
            /* ONNX order: y_begin, x_begin, y_end, x_end; kept as top, left, bottom, right */
            for (int q = 0; q < 4; q++) n->pads[q] = a->ints[q];
        } else if (!strcmp(k, "dilations")) {
            for (size_t q = 0; q < a->n_ints; q++)
                if (a->ints[q] != 1)
                    return onnx_lfail(L, "node '%s' (%s): dilation %" PRId64 " is not supported (only 1)", n->name,
                                      onnx_op_names[n->op], a->ints[q]);
        } else if (!strcmp(k, "to")) {
            int64_t to = a->i;
            if (to != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT && to != ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE &&
                to != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16 && to != ONNX__TENSOR_PROTO__DATA_TYPE__INT64 &&
                to != ONNX__TENSOR_PROTO__DATA_TYPE__INT32)
                return onnx_lfail(L, "node '%s' (Cast): to %s is not supported", n->name, dtype_name((int)to));
            n->cast_to_int = to == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 || to == ONNX__TENSOR_PROTO__DATA_TYPE__INT32;
        } else if ((!strcmp(k, "perm") || !strcmp(k, "axes")) && a->n_ints <= MAX_DIM) {
            n->has_list = true;
            n->n_list = (int)a->n_ints;
            for (size_t q = 0; q < a->n_ints; q++) n->list[q] = a->ints[q];
        } else if (!strcmp(k, "value") && n->op == OP_CONSTANT_OF_SHAPE) {
            const Onnx__TensorProto *t = a->t;
            int ty = t && t->has_data_type ? t->data_type : 0;
            n->fill = 0;
            if (t && t->has_raw_data && ty == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT && t->raw_data.len == 4)
                memcpy(&n->fill, t->raw_data.data, 4);
            else if (t && t->has_raw_data && ty == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 && t->raw_data.len == 8) {
                int64_t q;
                memcpy(&q, t->raw_data.data, 8);
                n->fill = (float)q;
            } else if (t && t->n_float_data == 1) n->fill = t->float_data[0];
            else if (t && t->n_int64_data == 1) n->fill = (float)t->int64_data[0];
            else return onnx_lfail(L, "node '%s' (ConstantOfShape): value must be one float or int64", n->name);
        }
        else if (!strcmp(k, "mode") || !strcmp(k, "coordinate_transformation_mode") || !strcmp(k, "nearest_mode") ||
                 !strcmp(k, "auto_pad")) {
            char *dst = !strcmp(k, "mode") ? n->mode : !strcmp(k, "nearest_mode") ? n->nearest
                        : !strcmp(k, "auto_pad") ? n->auto_pad : n->ctm;
            size_t cap = dst == n->auto_pad ? sizeof n->auto_pad : sizeof n->mode;
            size_t len = a->has_s ? a->s.len : 0;
            if (len >= cap) len = cap - 1;
            memcpy(dst, a->s.data, len);
            dst[len] = 0;
        } else if (!strcmp(k, "training_mode")) {
            if (a->i) return onnx_lfail(L, "node '%s' (BatchNormalization): training_mode 1 is not supported", n->name);
        } else if (!strcmp(k, "storage_order") || !strcmp(k, "momentum") || !strcmp(k, "seed") ||
                   !strcmp(k, "cubic_coeff_a") || !strcmp(k, "exclude_outside") || !strcmp(k, "extrapolation_value") ||
                   !strcmp(k, "ratio") || !strcmp(k, "spatial")) {
            /* no effect on what stylex computes (inference, no cubic, no crop) */
        } else if (n->op == OP_CONSTANT) {
            /* read by load_constant */
        } else {
            return onnx_lfail(L, "node '%s' (%s): attribute '%s' is not supported", n->name, onnx_op_names[n->op], k);
        }
    }
    if (n->op == OP_RESIZE && strcmp(n->mode, "nearest") && strcmp(n->mode, "linear"))
        return onnx_lfail(L, "node '%s' (Resize): mode '%s' is not supported (nearest, linear)", n->name, n->mode);
    if (n->op == OP_CONV && strcmp(n->auto_pad, "NOTSET") && strcmp(n->auto_pad, "VALID") &&
        strncmp(n->auto_pad, "SAME", 4))
        return onnx_lfail(L, "node '%s' (Conv): auto_pad '%s'", n->name, n->auto_pad);
    if ((n->op == OP_MAX_POOL || n->op == OP_AVG_POOL) &&
        (strcmp(n->auto_pad, "NOTSET") && strcmp(n->auto_pad, "VALID")))
        return onnx_lfail(L, "node '%s' (%s): auto_pad '%s' is not supported", n->name, onnx_op_names[n->op], n->auto_pad);
    if ((n->op == OP_MAX_POOL || n->op == OP_AVG_POOL) && (n->kernel[0] < 1 || n->kernel[1] < 1))
        return onnx_lfail(L, "node '%s' (%s): needs a 2-d kernel_shape", n->name, onnx_op_names[n->op]);
    if (n->strides[0] < 1 || n->strides[1] < 1 || n->group < 1 || n->strides[0] > MAX_SIDE || n->strides[1] > MAX_SIDE ||
        n->group > MAX_PER_IMAGE || n->kernel[0] > MAX_SIDE || n->kernel[1] > MAX_SIDE)
        return onnx_lfail(L, "node '%s' (%s): strides, kernel and group must be positive and at most %d", n->name,
                          onnx_op_names[n->op], MAX_SIDE);
    for (int q = 0; q < 4; q++)
        if (n->pads[q] < 0 || n->pads[q] > MAX_SIDE)
            return onnx_lfail(L, "node '%s' (%s): pads must be in 0..%d", n->name, onnx_op_names[n->op], MAX_SIDE);
    return true;
}

/* A Constant node's value into its output slot. */
static bool load_constant(loader *L, const Onnx__NodeProto *p, const node *n)
{
    for (size_t i = 0; i < p->n_attribute; i++) {
        const Onnx__AttributeProto *a = p->attribute[i];
        slot *s = &L->g->slots[n->out];
        if (!strcmp(str(a->name), "value") && a->t) return load_tensor(L, a->t, n->out, "Constant");
        if (!strcmp(str(a->name), "value_float") || !strcmp(str(a->name), "value_floats")) {
            bool one = !strcmp(str(a->name), "value_float");
            int64_t len = one ? 1 : (int64_t)a->n_floats;
            s->value = one ? sx_tensor_scalar(a->f) : sx_tensor_from_data(1, &len, a->floats);
            return s->value ? true : onnx_lfail(L, "Constant '%s': %s", n->name, sx_last_error());
        }
        if (!strcmp(str(a->name), "value_int") || !strcmp(str(a->name), "value_ints")) {
            bool one = !strcmp(str(a->name), "value_int");
            int64_t len = one ? 1 : (int64_t)a->n_ints;
            float *f = malloc(sizeof(float) * (size_t)(len ? len : 1));
            if (!f) return onnx_lfail(L, "out of memory");
            for (int64_t q = 0; q < len; q++) f[q] = (float)(one ? a->i : a->ints[q]);
            s->value = one ? sx_tensor_scalar(f[0]) : sx_tensor_from_data(1, &len, f);
            free(f);
            return s->value ? true : onnx_lfail(L, "Constant '%s': %s", n->name, sx_last_error());
        }
    }
    return onnx_lfail(L, "node '%s' (Constant): no value (value, value_float(s) or value_int(s) expected)", n->name);
}

/* How many inputs each op takes: [min, max]. */
static void arity(op_kind op, int *lo, int *hi)
{
    static const signed char a[OP_COUNT][2] = {
        [OP_CONV] = {2, 3}, [OP_GEMM] = {2, 3}, [OP_MATMUL] = {2, 2}, [OP_ADD] = {2, 2}, [OP_SUB] = {2, 2},
        [OP_MUL] = {2, 2}, [OP_DIV] = {2, 2}, [OP_RELU] = {1, 1}, [OP_LEAKY_RELU] = {1, 1}, [OP_SIGMOID] = {1, 1},
        [OP_TANH] = {1, 1}, [OP_CLIP] = {1, 3}, [OP_MAX_POOL] = {1, 1}, [OP_AVG_POOL] = {1, 1},
        [OP_GLOBAL_AVG_POOL] = {1, 1}, [OP_BATCH_NORM] = {5, 5}, [OP_FLATTEN] = {1, 1}, [OP_RESHAPE] = {2, 2},
        [OP_CONCAT] = {1, MAX_IN}, [OP_SOFTMAX] = {1, 1}, [OP_PAD] = {2, 3}, [OP_RESIZE] = {1, 4},
        [OP_CONSTANT] = {0, 0}, [OP_IDENTITY] = {1, 1}, [OP_DROPOUT] = {1, 3}, [OP_SHAPE] = {1, 1},
        [OP_GATHER] = {2, 2}, [OP_UNSQUEEZE] = {1, 2}, [OP_SQUEEZE] = {1, 2}, [OP_CONSTANT_OF_SHAPE] = {1, 1},
        [OP_SLICE] = {3, 5}, [OP_TRANSPOSE] = {1, 1}, [OP_CAST] = {1, 1}, [OP_REDUCE_MEAN] = {1, 1}};
    *lo = a[op][0];
    *hi = a[op][1];
}

static bool load_nodes(loader *L, const Onnx__GraphProto *gp)
{
    onnx_graph *g = L->g;
    g->nodes = calloc(gp->n_node ? gp->n_node : 1, sizeof *g->nodes);
    if (!g->nodes) return onnx_lfail(L, "out of memory");
    for (size_t k = 0; k < gp->n_node; k++) {
        const Onnx__NodeProto *p = gp->node[k];
        node *n = &g->nodes[g->n_nodes];
        const char *type = p->op_type ? p->op_type : "";
        char fallback[64];
        snprintf(fallback, sizeof fallback, "%s #%zu", type, k);
        n->name = strdup(p->name && p->name[0] ? p->name : fallback);
        if (!n->name) return onnx_lfail(L, "out of memory");
        g->n_nodes++;
        n->op = op_of(type);
        if (p->domain && p->domain[0] && strcmp(p->domain, "ai.onnx"))
            return onnx_lfail(L, "node '%s': operator %s of domain '%s' is not supported", n->name, type, p->domain);
        if (n->op == OP_COUNT)
            return onnx_lfail(L, "node '%s': unsupported operator %s (stylex runs Conv, Gemm, MatMul, Add, Sub, Mul, Div, "
                            "Relu, LeakyRelu, Sigmoid, Tanh, Clip, MaxPool, AveragePool, GlobalAveragePool, "
                            "BatchNormalization, Flatten, Reshape, Concat, Softmax, Pad, Resize, Constant, Identity, Dropout, "
                            "and for shapes Shape, Gather, Unsqueeze, Squeeze, ConstantOfShape, Slice, Transpose, Cast; ReduceMean)",
                         n->name, type);
        int lo, hi;
        arity(n->op, &lo, &hi);
        if ((int)p->n_input < lo || (int)p->n_input > hi)
            return onnx_lfail(L, "node '%s' (%s): %zu inputs, expected %d to %d", n->name, type, p->n_input, lo, hi);
        n->n_in = (int)p->n_input;
        for (int i = 0; i < n->n_in; i++) {
            if (!p->input[i][0]) {
                n->in[i] = -1;
                continue;
            }
            n->in[i] = onnx_find_slot(g, p->input[i]);
            if (n->in[i] < 0)
                return onnx_lfail(L, "node '%s' (%s): input '%s' is not computed before it", n->name, type, p->input[i]);
        }
        if (n->n_in > 0 && n->in[0] < 0) return onnx_lfail(L, "node '%s' (%s): no first input", n->name, type);
        if (p->n_output < 1) return onnx_lfail(L, "node '%s' (%s): no output", n->name, type);
        for (size_t o = 1; o < p->n_output; o++)
            if (p->output[o][0])
                for (size_t q = k + 1; q < gp->n_node; q++)
                    for (size_t i = 0; i < gp->node[q]->n_input; i++)
                        if (!strcmp(gp->node[q]->input[i], p->output[o]))
                            return onnx_lfail(L, "node '%s' (%s): its output %zu ('%s') is used, only the first is supported",
                                              n->name, type, o, p->output[o]);
        if (!read_attrs(L, p, n)) return false;
        if ((n->out = add_slot(L, p->output[0])) < 0) return false;
        g->slots[n->out].producer = n->op == OP_CONSTANT ? -1 : (int)(n - g->nodes);
        if (n->op == OP_CONSTANT && !load_constant(L, p, n)) return false;
    }
    return true;
}

/* The graph's one non-initializer input: float [N, C, H, W], C, H, W fixed. */
static bool load_input(loader *L, const Onnx__GraphProto *gp)
{
    onnx_graph *g = L->g;
    const Onnx__ValueInfoProto *in = NULL;
    int count = 0;
    for (size_t i = 0; i < gp->n_input; i++) {
        bool init = false;
        for (size_t k = 0; k < gp->n_initializer && !init; k++)
            init = !strcmp(str(gp->initializer[k]->name), str(gp->input[i]->name));
        if (!init) {
            in = gp->input[i];
            count++;
        }
    }
    if (count != 1) return onnx_lfail(L, "the graph has %d inputs, expected one image input", count);
    const Onnx__TypeProto *t = in->type;
    if (!t || t->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !t->tensor_type)
        return onnx_lfail(L, "input '%s' is not a tensor", str(in->name));
    const Onnx__TypeProto__Tensor *tt = t->tensor_type;
    if (tt->has_elem_type && tt->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return onnx_lfail(L, "input '%s' is %s, expected float", str(in->name), dtype_name(tt->elem_type));
    if (!tt->shape) return onnx_lfail(L, "input '%s' has no shape (dynamic input shape)", str(in->name));
    const Onnx__TensorShapeProto *s = tt->shape;
    if (s->n_dim != 4) return onnx_lfail(L, "input '%s' has %zu dimensions, expected [N, C, H, W]", str(in->name), s->n_dim);
    int64_t dim[4];
    static const char *const what[4] = {"N", "C", "H", "W"};
    for (int d = 1; d < 4; d++) {
        const Onnx__TensorShapeProto__Dimension *x = s->dim[d];
        if (x->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE || x->dim_value < 1)
            return onnx_lfail(L, "input '%s': dimension %s is dynamic ('%s'); export with a fixed %s (only N may vary)",
                              str(in->name), what[d],
                              x->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM ? x->dim_param : "?",
                              what[d]);
        dim[d] = x->dim_value;
    }
    if (dim[1] != 1 && dim[1] != 3)
        return onnx_lfail(L, "input '%s' has %" PRId64 " channels, expected 1 (grey) or 3 (RGB)", str(in->name), dim[1]);
    if (dim[2] > MAX_SIDE || dim[3] > MAX_SIDE)
        return onnx_lfail(L, "input '%s' is %" PRId64 "x%" PRId64 ", larger than %d pixels a side", str(in->name), dim[2], dim[3],
                          MAX_SIDE);
    g->channels = (int)dim[1];
    g->height = (int)dim[2];
    g->width = (int)dim[3];
    return (g->input = add_slot(L, str(in->name))) >= 0;
}

static bool load_graph(loader *L, const Onnx__ModelProto *m)
{
    onnx_graph *g = L->g;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        if (!o->domain || !o->domain[0] || !strcmp(o->domain, "ai.onnx")) g->opset = (int)o->version;
    }
    if (g->opset < 11 || g->opset > 17)
        return onnx_lfail(L, "opset %d is not supported (11 to 17; re-export with opset_version=13, say)", g->opset);
    const Onnx__GraphProto *gp = m->graph;
    if (!load_input(L, gp)) return false;
    for (size_t k = 0; k < gp->n_initializer; k++) {
        const Onnx__TensorProto *t = gp->initializer[k];
        int s = add_slot(L, str(t->name));
        if (s < 0 || !load_tensor(L, t, s, "initializer")) return false;
    }
    if (gp->n_sparse_initializer) return onnx_lfail(L, "sparse initializers are not supported");
    if (!load_nodes(L, gp)) return false;
    for (int q = 0; q < g->n_slots; q++) g->slots[q].last_use = -1;
    for (int k = 0; k < g->n_nodes; k++)
        for (int i = 0; i < g->nodes[k].n_in; i++)
            if (g->nodes[k].in[i] >= 0) g->slots[g->nodes[k].in[i]].last_use = k;
    if (gp->n_output < 1) return onnx_lfail(L, "the graph has no output");
    g->output = onnx_find_slot(g, str(gp->output[0]->name));
    if (g->output < 0 || g->slots[g->output].producer < 0)
        return onnx_lfail(L, "the output '%s' is not computed by a node", str(gp->output[0]->name));
    return true;
}

/* The run at load: batch 1 of zeros, grad off; records every slot's shape. */
static bool dry_run(loader *L)
{
    onnx_graph *g = L->g;
    sx_tensor *x = sx_tensor_zeros(4, (int64_t[]){1, g->channels, g->height, g->width});
    sx_tensor **vals = x ? calloc((size_t)g->n_slots, sizeof *vals) : NULL;
    if (!vals) {
        sx_tensor_free(x);
        return onnx_lfail(L, "out of memory");
    }
    bool was = sx_set_grad_enabled(false);
    sx_status st = onnx_run_graph(g, x, vals, NULL);
    sx_set_grad_enabled(was);
    for (int i = 0; i < g->n_slots; i++) {
        if (vals[i]) {
            g->slots[i].ndim = vals[i]->ndim;
            for (int d = 0; d < vals[i]->ndim && d < MAX_DIM; d++) g->slots[i].shape[d] = vals[i]->shape[d];
        }
        sx_tensor_free(vals[i]);
    }
    free(vals);
    sx_tensor_free(x);
    if (st != SX_OK) {
        const char *e = sx_last_error();
        return onnx_lfail(L, "%s", strncmp(e, "onnx: ", 6) == 0 ? e + 6 : e);
    }
    return true;
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (*len == cap) {
            cap = cap ? 2 * cap : 1 << 16;
            unsigned char *b = cap > ((size_t)1 << 31) ? NULL : realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(f);
                errno = ENOMEM;
                return NULL;
            }
            buf = b;
        }
        size_t got = fread(buf + *len, 1, cap - *len, f);
        *len += got;
        if (got == 0) break;
    }
    bool err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return NULL;
    }
    return buf;
}

sx_status sx_onnx_load(const char *path, const sx_onnx_opts *opts, sx_classifier **out)
{
    if (out) *out = NULL;
    if (!path || !out) return sx_fail(SX_EINVAL, "onnx_load: path and out are required");
    size_t len = 0;
    unsigned char *buf = read_file(path, &len);
    if (!buf) return sx_fail(SX_EIO, "onnx_load: %s: %s", path, strerror(errno));
    Onnx__ModelProto *m = len ? onnx__model_proto__unpack(NULL, len, buf) : NULL;
    free(buf);
    if (!m || !m->graph || !m->has_ir_version || m->n_opset_import == 0) {
        if (m) onnx__model_proto__free_unpacked(m, NULL);
        return sx_fail(SX_EFORMAT, "onnx_load: %s is not an ONNX model (%s)", path,
                       len == 0 ? "empty file" : !m ? "not a protobuf ModelProto: truncated or another format"
                                                    : "no graph, IR version or opset");
    }
    loader L = {.path = path};
    L.g = calloc(1, sizeof *L.g);
    sx_classifier_info info = {0};
    bool ok = L.g && load_graph(&L, m);
    onnx__model_proto__free_unpacked(m, NULL);
    if (!L.g) onnx_lfail(&L, "out of memory");
    ok = ok && dry_run(&L) && onnx_load_info(&L, path, opts, &info);
    if (!ok) {
        onnx_graph_free(L.g);
        sx_classifier_info_clear(&info);
        return sx_fail(SX_EINVAL, "onnx_load: %s: %s", path, L.err[0] ? L.err : sx_last_error());
    }
    *out = sx_classifier_new(&onnx_vtable, L.g, &info);
    if (!*out) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", sx_last_error());
        return sx_fail(SX_EINVAL, "onnx_load: %s: %s", path, msg);
    }
    return SX_OK;
}
