/*
 * lib/ops/record.c — how an op records itself on the graph: sx_record, which
 * attaches a node to an op's output when grad mode (lib/core/tensor.c) is on
 * and some input requires grad, and saved tensors. The ops call these; the engine that walks
 * the nodes back is lib/autograd/autograd.c.
 */
#include <stdlib.h>

#include "../core/internal.h"

bool sx_needs_record(int n_inputs, sx_tensor *const *inputs)
{
    if (!sx_grad_enabled()) return false;
    for (int i = 0; i < n_inputs; i++)
        if (inputs[i] && inputs[i]->requires_grad) return true;
    return false;
}

sx_node *sx_record(sx_tensor **out_p, sx_op_kind op, int n_inputs, sx_tensor *const *inputs)
{
    sx_tensor *out = *out_p;
    if (!out || !sx_needs_record(n_inputs, inputs)) return NULL;
    sx_node *node = calloc(1, sizeof *node);
    sx_tensor **ins = node ? malloc((size_t)n_inputs * sizeof *ins) : NULL;
    if (!node || !ins) {
        free(node);
        free(ins);
        sx_tensor_free(out);
        *out_p = NULL;
        sx_fail(SX_ENOMEM, "%s: out of memory recording the graph", sx_op_table[op].name);
        return NULL;
    }
    node->op = op;
    node->n_inputs = n_inputs;
    node->inputs = ins;
    for (int i = 0; i < n_inputs; i++) ins[i] = sx_tensor_retain(inputs[i]);
    out->grad_fn = node;
    out->requires_grad = true;
    return node;
}

void sx_node_save(sx_node *node, int slot, sx_tensor *t)
{
    sx_tensor_free(node->saved[slot]);
    node->saved[slot] = sx_tensor_retain(t);
}
