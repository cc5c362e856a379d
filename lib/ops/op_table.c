/*
 * lib/ops/op_table.c — one row per op: its name (for errors and
 * introspection) and its backward. Forwards and backwards live side by side in
 * the other files of lib/ops/; this table is how the engine
 * (lib/autograd/autograd.c) dispatches. A missing row compiles
 * (as zeros): tests/c/test_op_table.c walks the table and fails on it.
 */
#include "../core/internal.h"
#include "stylex/ops.h"

sx_status sx_add_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_sub_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_mul_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_div_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_add_scalar_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_mul_scalar_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_pow_scalar_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_neg_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_abs_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_exp_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_log_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_sqrt_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_rsqrt_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_relu_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_leaky_relu_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_sigmoid_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_tanh_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_softplus_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_sum_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_max_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_reshape_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_permute_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_expand_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_narrow_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_narrow_scatter_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_cat_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_index_select_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_index_add_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_contiguous_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_matmul_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_conv2d_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_conv_transpose2d_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_conv2d_weight_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_upfirdn2d_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_sin_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_cos_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_clamp_backward(const sx_node *, sx_tensor *, sx_tensor **);
sx_status sx_where_backward(const sx_node *, sx_tensor *, sx_tensor **);

const sx_op_desc sx_op_table[SX_OP_COUNT] = {
    [SX_OP_ADD] = {"add", sx_add_backward},
    [SX_OP_SUB] = {"sub", sx_sub_backward},
    [SX_OP_MUL] = {"mul", sx_mul_backward},
    [SX_OP_DIV] = {"div", sx_div_backward},
    [SX_OP_ADD_SCALAR] = {"add_scalar", sx_add_scalar_backward},
    [SX_OP_MUL_SCALAR] = {"mul_scalar", sx_mul_scalar_backward},
    [SX_OP_POW_SCALAR] = {"pow_scalar", sx_pow_scalar_backward},
    [SX_OP_NEG] = {"neg", sx_neg_backward},
    [SX_OP_ABS] = {"abs", sx_abs_backward},
    [SX_OP_EXP] = {"exp", sx_exp_backward},
    [SX_OP_LOG] = {"log", sx_log_backward},
    [SX_OP_SQRT] = {"sqrt", sx_sqrt_backward},
    [SX_OP_RSQRT] = {"rsqrt", sx_rsqrt_backward},
    [SX_OP_RELU] = {"relu", sx_relu_backward},
    [SX_OP_LEAKY_RELU] = {"leaky_relu", sx_leaky_relu_backward},
    [SX_OP_SIGMOID] = {"sigmoid", sx_sigmoid_backward},
    [SX_OP_TANH] = {"tanh", sx_tanh_backward},
    [SX_OP_SOFTPLUS] = {"softplus", sx_softplus_backward},
    [SX_OP_SUM] = {"sum", sx_sum_backward},
    [SX_OP_MAX] = {"max", sx_max_backward},
    [SX_OP_RESHAPE] = {"reshape", sx_reshape_backward},
    [SX_OP_PERMUTE] = {"permute", sx_permute_backward},
    [SX_OP_EXPAND] = {"expand", sx_expand_backward},
    [SX_OP_NARROW] = {"narrow", sx_narrow_backward},
    [SX_OP_NARROW_SCATTER] = {"narrow_scatter", sx_narrow_scatter_backward},
    [SX_OP_CAT] = {"cat", sx_cat_backward},
    [SX_OP_INDEX_SELECT] = {"index_select", sx_index_select_backward},
    [SX_OP_INDEX_ADD] = {"index_add", sx_index_add_backward},
    [SX_OP_CONTIGUOUS] = {"contiguous", sx_contiguous_backward},
    [SX_OP_MATMUL] = {"matmul", sx_matmul_backward},
    [SX_OP_CONV2D] = {"conv2d", sx_conv2d_backward},
    [SX_OP_CONV_TRANSPOSE2D] = {"conv_transpose2d", sx_conv_transpose2d_backward},
    [SX_OP_CONV2D_WEIGHT] = {"conv2d_weight", sx_conv2d_weight_backward},
    [SX_OP_UPFIRDN2D] = {"upfirdn2d", sx_upfirdn2d_backward},
    [SX_OP_SIN] = {"sin", sx_sin_backward},
    [SX_OP_COS] = {"cos", sx_cos_backward},
    [SX_OP_CLAMP] = {"clamp", sx_clamp_backward},
    [SX_OP_WHERE] = {"where", sx_where_backward},
};
