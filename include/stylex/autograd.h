/*
 * stylex/autograd.h — define-by-run reverse-mode differentiation.
 *
 * Every op that sees an input with requires_grad (while grad mode is on)
 * records a node on its output: the op, retained inputs, saved constants.
 * A graph lives exactly as long as the tensors that reference it; freeing the
 * last output frees the graph.
 *
 * Backward formulas are written with the library's own differentiable ops, so
 * with create_graph the gradients are themselves differentiable (R1 needs this).
 */
#ifndef STYLEX_AUTOGRAD_H
#define STYLEX_AUTOGRAD_H

#include "stylex/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Grad mode (sx_grad_enabled, sx_set_grad_enabled) is declared in
 * stylex/tensor.h: the ops consult it, below the engine. */

/* Marks a leaf as requiring (or not) a gradient. Turning it off on an op's
 * output fails (use sx_detach); turning it on there is a no-op. */
sx_status sx_tensor_set_requires_grad(sx_tensor *t, bool on);
/* Drops t->grad. */
void sx_tensor_zero_grad(sx_tensor *t);

/*
 * Gradients of sum_k <outputs[k], grad_outputs[k]> with respect to inputs.
 * grad_outputs may be NULL (then every output must have one element and its
 * gradient is 1). results[i] receives a new reference; when inputs[i] is
 * not reached from the outputs it is an error, or with allow_unused a new
 * tensor of zeros of the input's shape (no graph). With allow_unused an
 * output that does not require grad contributes nothing (else SX_ESTATE).
 * Every input must require grad.
 * With create_graph the results carry a graph of their own.
 */
sx_status sx_grad(int n_outputs, sx_tensor *const *outputs, sx_tensor *const *grad_outputs,
                  int n_inputs, sx_tensor *const *inputs, bool create_graph, bool allow_unused,
                  sx_tensor **results);

/* Accumulates d(output)/d(leaf) into leaf->grad for every leaf requiring grad.
 * grad_output may be NULL for a one-element output. */
sx_status sx_backward(sx_tensor *output, sx_tensor *grad_output, bool create_graph);

/* The name of the op that made t ("" for a leaf). */
const char *sx_tensor_op_name(const sx_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
