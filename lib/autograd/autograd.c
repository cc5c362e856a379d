/*
 * lib/autograd/autograd.c — the backward engine, and the leaf-side calls of
 * stylex/autograd.h (requires_grad, zero_grad, op names). How an op records
 * its node is in lib/ops/record.c; the op table the engine dispatches through
 * is lib/ops/op_table.c. This is the one file above lib/ops that knows nodes:
 * it accumulates gradients with sx_add.
 *
 * Each recorded tensor has one node (single-output ops only), so "the gradient
 * flowing into a tensor" is kept on the tensor itself (bw_grad) while the
 * engine runs. The engine orders the tensors reachable from the outputs
 * topologically, keeps only those on a path to a wanted input, and walks them
 * from the outputs back, calling each op's backward. Backward formulas are
 * made of ordinary ops, run with grad mode = create_graph, so a gradient can
 * itself be differentiated.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"
#include "stylex/autograd.h"
#include "stylex/ops.h"

sx_status sx_tensor_set_requires_grad(sx_tensor *t, bool on)
{
    if (!sx_check_arg("requires_grad", 1, t)) return SX_EINVAL;
    if (t->grad_fn && !on)
        return sx_fail(SX_ESTATE, "requires_grad: cannot turn off on a non-leaf tensor (made by %s); "
                                  "use detach()", sx_op_table[t->grad_fn->op].name);
    if (!t->grad_fn) t->requires_grad = on;
    return SX_OK;
}

void sx_tensor_zero_grad(sx_tensor *t)
{
    if (!t) return;
    sx_tensor_free(t->grad);
    t->grad = NULL;
}

const char *sx_tensor_op_name(const sx_tensor *t)
{
    return t && t->grad_fn ? sx_op_table[t->grad_fn->op].name : "";
}

/* ---------------------------------------------------------------- engine */

typedef struct tvec {
    sx_tensor **v;
    size_t n, cap;
} tvec;

static bool tvec_push(tvec *a, sx_tensor *t)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        sx_tensor **v = realloc(a->v, cap * sizeof *v);
        if (!v) return false;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = t;
    return true;
}

/* Post-order DFS over requires_grad tensors: children (inputs) before parents. */
static bool topo_sort(int n_outputs, sx_tensor *const *outputs, tvec *order)
{
    tvec stack = {0};
    bool ok = true;
    for (int k = 0; k < n_outputs && ok; k++) {
        sx_tensor *root = outputs[k];
        if (!root->requires_grad || root->bw_mark != SX_BW_NONE) continue;
        root->bw_mark = SX_BW_OPEN;
        ok = tvec_push(&stack, root);
        while (ok && stack.n > 0) {
            sx_tensor *t = stack.v[stack.n - 1];
            sx_node *node = t->grad_fn;
            bool pushed = false;
            if (node) {
                for (int i = 0; i < node->n_inputs; i++) {
                    sx_tensor *in = node->inputs[i];
                    if (in && in->requires_grad && in->bw_mark == SX_BW_NONE) {
                        in->bw_mark = SX_BW_OPEN;
                        ok = tvec_push(&stack, in);
                        pushed = true;
                        break;
                    }
                }
            }
            if (!pushed && ok) {
                stack.n--;
                t->bw_mark = SX_BW_DONE;
                ok = tvec_push(order, t);
            }
        }
    }
    free(stack.v);
    return ok;
}

/* Adds g into *slot (takes ownership of g). */
static sx_status accumulate(sx_tensor **slot, sx_tensor *g)
{
    if (!*slot) {
        *slot = g;
        return SX_OK;
    }
    sx_tensor *sum = sx_add(*slot, g);
    sx_tensor_free(g);
    if (!sum) return sx_last_status();
    sx_tensor_free(*slot);
    *slot = sum;
    return SX_OK;
}

/* The engine. wanted[i] are the tensors whose gradients are returned
 * (results) or, when accumulate_leaves is set, every leaf requiring grad
 * gets its gradient added to ->grad. */
static sx_status run_backward(int n_outputs, sx_tensor *const *outputs, sx_tensor *const *grad_outputs,
                              int n_inputs, sx_tensor *const *inputs, bool create_graph,
                              bool accumulate_leaves, sx_tensor **results)
{
    const char *fn = accumulate_leaves ? "backward" : "grad";
    for (int k = 0; k < n_outputs; k++) {
        if (!sx_check_arg(fn, k + 1, outputs[k])) return SX_EINVAL;
        if (!outputs[k]->requires_grad)
            return sx_fail(SX_ESTATE, "%s: output #%d does not require grad (no graph to differentiate)",
                           fn, k + 1);
        if (grad_outputs && grad_outputs[k]) {
            if (!sx_check_same_shape(fn, outputs[k], grad_outputs[k])) return SX_EINVAL;
        } else if (sx_tensor_numel(outputs[k]) != 1) {
            char s[96];
            return sx_fail(SX_EINVAL, "%s: output of shape %s is not a scalar; pass grad_outputs", fn,
                           sx_shape_str(outputs[k], s, sizeof s));
        }
    }
    for (int i = 0; i < n_inputs; i++) {
        if (!sx_check_arg(fn, i + 1, inputs[i])) return SX_EINVAL;
        if (!inputs[i]->requires_grad)
            return sx_fail(SX_EINVAL, "grad: input #%d does not require grad", i + 1);
    }

    tvec order = {0};
    if (!topo_sort(n_outputs, outputs, &order)) {
        for (size_t i = 0; i < order.n; i++) order.v[i]->bw_mark = SX_BW_NONE;
        free(order.v);
        return sx_fail(SX_ENOMEM, "%s: out of memory sorting the graph", fn);
    }
    /* Which tensors lie on a path to something wanted: mark those NEEDED
     * (children come first in `order`). */
    for (int i = 0; i < n_inputs; i++)
        if (inputs[i]->bw_mark == SX_BW_DONE) inputs[i]->bw_mark = SX_BW_NEEDED;
    for (size_t j = 0; j < order.n; j++) {
        sx_tensor *t = order.v[j];
        if (t->bw_mark == SX_BW_NEEDED) continue;
        if (accumulate_leaves && !t->grad_fn) {
            t->bw_mark = SX_BW_NEEDED;
            continue;
        }
        sx_node *node = t->grad_fn;
        if (node)
            for (int i = 0; i < node->n_inputs; i++)
                if (node->inputs[i] && node->inputs[i]->requires_grad &&
                    node->inputs[i]->bw_mark == SX_BW_NEEDED) {
                    t->bw_mark = SX_BW_NEEDED;
                    break;
                }
    }

    bool prev_mode = sx_set_grad_enabled(create_graph);
    sx_status st = SX_OK;
    for (int k = 0; k < n_outputs && st == SX_OK; k++) {
        sx_tensor *g = grad_outputs && grad_outputs[k] ? sx_tensor_retain(grad_outputs[k])
                                                       : sx_tensor_ones_like(outputs[k]);
        if (!g) st = sx_last_status();
        else st = accumulate(&outputs[k]->bw_grad, g);
    }

    for (size_t j = order.n; j-- > 0 && st == SX_OK;) {
        sx_tensor *t = order.v[j];
        sx_tensor *g = t->bw_grad;
        if (!g || t->bw_mark != SX_BW_NEEDED) continue;
        t->bw_grad = NULL;
        for (int i = 0; i < n_inputs; i++)
            if (inputs[i] == t && !results[i]) results[i] = sx_tensor_retain(g);
        if (accumulate_leaves && !t->grad_fn) {
            sx_tensor *acc = create_graph ? sx_tensor_retain(g) : sx_detach(g);
            if (!acc) st = sx_last_status();
            else st = accumulate(&t->grad, acc);
            if (st == SX_OK && !create_graph && t->grad && t->grad->grad_fn) {
                sx_tensor *d = sx_detach(t->grad);
                sx_tensor_free(t->grad);
                t->grad = d;
            }
        } else if (t->grad_fn) {
            sx_node *node = t->grad_fn;
            sx_tensor *stack_grads[8];
            sx_tensor **gin = node->n_inputs <= 8 ? stack_grads : calloc((size_t)node->n_inputs, sizeof *gin);
            if (!gin) st = sx_fail(SX_ENOMEM, "%s: out of memory", fn);
            else {
                memset(gin, 0, (size_t)node->n_inputs * sizeof *gin);
                st = sx_op_table[node->op].backward(node, g, gin);
                for (int i = 0; i < node->n_inputs; i++) {
                    sx_tensor *in = node->inputs[i];
                    if (st == SX_OK && gin[i] && in && in->requires_grad && in->bw_mark == SX_BW_NEEDED)
                        st = accumulate(&in->bw_grad, gin[i]);
                    else sx_tensor_free(gin[i]);
                }
                if (gin != stack_grads) free(gin);
            }
        }
        sx_tensor_free(g);
    }
    sx_set_grad_enabled(prev_mode);

    for (size_t j = 0; j < order.n; j++) {
        sx_tensor *t = order.v[j];
        t->bw_mark = SX_BW_NONE;
        sx_tensor_free(t->bw_grad);
        t->bw_grad = NULL;
    }
    free(order.v);
    return st;
}

sx_status sx_grad(int n_outputs, sx_tensor *const *outputs, sx_tensor *const *grad_outputs,
                  int n_inputs, sx_tensor *const *inputs, bool create_graph, bool allow_unused,
                  sx_tensor **results)
{
    for (int i = 0; i < n_inputs; i++) results[i] = NULL;
    sx_status st = SX_OK;
    if (allow_unused) {
        /* An output without a graph (the gradient of a gradient through
         * relu, say) depends on no input: it contributes nothing. */
        sx_tensor *stack_o[8], *stack_g[8];
        bool small = n_outputs <= 8;
        sx_tensor **o = small ? stack_o : malloc((size_t)n_outputs * sizeof *o);
        sx_tensor **g = small ? stack_g : malloc((size_t)n_outputs * sizeof *g);
        if (!o || !g) st = sx_fail(SX_ENOMEM, "grad: out of memory");
        int m = 0;
        for (int k = 0; k < n_outputs && st == SX_OK; k++) {
            if (!sx_check_arg("grad", k + 1, outputs[k])) st = SX_EINVAL;
            else if (outputs[k]->requires_grad) {
                o[m] = outputs[k];
                g[m++] = grad_outputs ? grad_outputs[k] : NULL;
            }
        }
        for (int i = 0; i < n_inputs && st == SX_OK; i++)
            if (!sx_check_arg("grad", i + 1, inputs[i])) st = SX_EINVAL;
            else if (!inputs[i]->requires_grad) st = sx_fail(SX_EINVAL, "grad: input #%d does not require grad", i + 1);
        if (st == SX_OK && m > 0) st = run_backward(m, o, g, n_inputs, inputs, create_graph, false, results);
        if (!small) {
            free(o);
            free(g);
        }
    } else {
        st = run_backward(n_outputs, outputs, grad_outputs, n_inputs, inputs, create_graph, false, results);
    }
    /* An input the outputs do not reach has a zero gradient: with allow_unused
     * it gets zeros of its shape (a constant, also under create_graph), as
     * PyTorch's materialize_grads does. Second derivatives through relu,
     * abs, max or clamp land here: their backwards use a constant mask, so
     * the first gradient's graph does not reach the input (or is no graph). */
    for (int i = 0; i < n_inputs && st == SX_OK; i++) {
        if (results[i]) continue;
        if (!allow_unused)
            st = sx_fail(SX_EINVAL, "grad: input #%d is not reached from the outputs (set allow_unused "
                                    "to get zeros for it)", i + 1);
        else if (!(results[i] = sx_tensor_zeros_like(inputs[i])))
            st = sx_last_status();
    }
    if (st != SX_OK)
        for (int i = 0; i < n_inputs; i++) {
            sx_tensor_free(results[i]);
            results[i] = NULL;
        }
    return st;
}

sx_status sx_backward(sx_tensor *output, sx_tensor *grad_output, bool create_graph)
{
    if (!sx_check_arg("backward", 1, output)) return SX_EINVAL;
    sx_tensor *go[1] = {grad_output};
    return run_backward(1, &output, go, 0, NULL, create_graph, true, NULL);
}
