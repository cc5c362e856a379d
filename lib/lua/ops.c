/*
 * lib/lua/ops.c — the differentiable ops of include/stylex/ops.h as Lua
 * functions (sx.exp(t), sx.conv2d(...)) and, for those taking a tensor first,
 * as methods (t:exp()); the arithmetic metamethods (+ - * / ^ unary -). The
 * shape ops (reshape, views, cat, index_select, ...) are in ops_shape.c.
 *
 * Each function checks all its arguments, converts Lua conventions to C ones
 * (dimensions and positions 1-based -> 0-based, option tables -> structs),
 * calls one C function and raises "name: <C message>" on failure.
 */
#include <math.h>
#include <string.h>

#include "lsx.h"

/* ---------------------------------------------------------------- helpers */

/* An optional tensor (nil/none gives NULL). */
static sx_tensor *opt_tensor(lua_State *L, int idx)
{
    return lua_isnoneornil(L, idx) ? NULL : lsx_check_tensor(L, idx);
}

/* Reads a dimension list: nil (all, returns 0), a dimension, or a table of them. */
static int check_dims(lua_State *L, int idx, int ndim, int *dims)
{
    if (lua_isnoneornil(L, idx)) return 0;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        dims[0] = lsx_check_dim(L, idx, ndim);
        return 1;
    }
    if (lua_type(L, idx) != LUA_TTABLE) luaL_typeerror(L, idx, "dimension or table of dimensions");
    lua_Unsigned n = lua_rawlen(L, idx);
    if (n == 0) luaL_argerror(L, idx, "empty table of dimensions (pass nil to reduce over all)");
    if (n > SX_MAX_DIMS) luaL_argerror(L, idx, "too many dimensions");
    for (int i = 0; i < (int)n; i++) {
        lua_rawgeti(L, idx, i + 1);
        int ok = lua_type(L, -1) == LUA_TNUMBER;
        lua_Integer d = ok ? lua_tointegerx(L, -1, &ok) : 0;
        if (!ok) luaL_argerror(L, idx, lua_pushfstring(L, "entry #%d is not an integer dimension", i + 1));
        dims[i] = lsx_dim_value(L, idx, d, ndim);
        lua_pop(L, 1);
    }
    return (int)n;
}

/* Reads option `name` of the table at idx as one integer or a pair {y, x}. */
static void opt_pair(lua_State *L, int idx, const char *name, int def, int lo, int hi, int out[2])
{
    out[0] = out[1] = def;
    if (lua_isnoneornil(L, idx)) return;
    int type = lua_getfield(L, idx, name);
    if (type == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    int n = type == LUA_TTABLE ? 2 : 1;
    if (type == LUA_TTABLE && lua_rawlen(L, -1) != 2)
        luaL_argerror(L, idx, lua_pushfstring(L, "option '%s' must be an integer or a pair {y, x}", name));
    for (int i = 0; i < n; i++) {
        if (type == LUA_TTABLE) lua_rawgeti(L, -1, i + 1);
        int ok = lua_type(L, -1) == LUA_TNUMBER;
        lua_Integer v = ok ? lua_tointegerx(L, -1, &ok) : 0;
        if (!ok)
            luaL_argerror(L, idx, lua_pushfstring(L, "option '%s' must be an integer or a pair {y, x}", name));
        if (v < lo || v > hi)
            luaL_argerror(L, idx, lua_pushfstring(L, "option '%s': %I out of range [%d, %d]", name, v, lo, hi));
        out[i] = (int)v;
        if (type == LUA_TTABLE) lua_pop(L, 1);
    }
    if (n == 1) out[1] = out[0];
    lua_pop(L, 1);
}

#define LIM (1 << 20) /* bound on strides, paddings, groups and kernel sizes */

static void check_conv_opts(lua_State *L, int idx, bool transpose, sx_conv2d_opts *o)
{
    static const char *const names[] = {"stride", "padding", "groups", NULL};
    static const char *const tnames[] = {"stride", "padding", "groups", "output_padding", NULL};
    lsx_check_opts(L, idx, transpose ? tnames : names);
    memset(o, 0, sizeof *o);
    int groups[2];
    opt_pair(L, idx, "stride", 1, 1, LIM, o->stride);
    opt_pair(L, idx, "padding", 0, 0, LIM, o->padding);
    opt_pair(L, idx, "groups", 1, 1, LIM, groups);
    if (groups[0] != groups[1]) luaL_argerror(L, idx, "option 'groups' must be one integer");
    o->groups = groups[0];
    if (transpose) opt_pair(L, idx, "output_padding", 0, 0, LIM, o->output_padding);
}

/* ---------------------------------------------------------------- arithmetic */

enum arith { ARITH_ADD, ARITH_SUB, ARITH_MUL, ARITH_DIV };

/* A tensor or a number at idx: returns the tensor, or NULL with *num set. */
static sx_tensor *tensor_or_number(lua_State *L, int idx, float *num)
{
    if (lua_type(L, idx) == LUA_TNUMBER) {
        *num = (float)lua_tonumber(L, idx);
        return NULL;
    }
    if (!luaL_testudata(L, idx, LSX_TENSOR)) luaL_typeerror(L, idx, "tensor or number");
    return lsx_check_tensor(L, idx);
}

/* s op t for a scalar s on the left, via a 0-d tensor that broadcasts. */
static sx_tensor *scalar_left(enum arith op, float s, sx_tensor *t)
{
    sx_tensor *st = sx_tensor_scalar(s);
    if (!st) return NULL;
    sx_tensor *r = op == ARITH_SUB ? sx_sub(st, t) : sx_div(st, t);
    sx_tensor_free(st);
    return r;
}

static sx_tensor *scalar_right_div(sx_tensor *t, float s)
{
    sx_tensor *st = sx_tensor_scalar(s);
    if (!st) return NULL;
    sx_tensor *r = sx_div(t, st);
    sx_tensor_free(st);
    return r;
}

static int arith(lua_State *L, enum arith op, const char *fn)
{
    float na = 0, nb = 0;
    sx_tensor *a = tensor_or_number(L, 1, &na);
    sx_tensor *b = tensor_or_number(L, 2, &nb);
    if (!a && !b) luaL_argerror(L, 1, "tensor expected (both operands are numbers)");
    lsx_tensor *ud = lsx_new_tensor(L);
    if (a && b) {
        switch (op) {
        case ARITH_ADD: ud->t = sx_add(a, b); break;
        case ARITH_SUB: ud->t = sx_sub(a, b); break;
        case ARITH_MUL: ud->t = sx_mul(a, b); break;
        case ARITH_DIV: ud->t = sx_div(a, b); break;
        }
    } else if (a) {
        switch (op) {
        case ARITH_ADD: ud->t = sx_add_scalar(a, nb); break;
        case ARITH_SUB: ud->t = sx_add_scalar(a, -nb); break;
        case ARITH_MUL: ud->t = sx_mul_scalar(a, nb); break;
        case ARITH_DIV: ud->t = scalar_right_div(a, nb); break;
        }
    } else {
        switch (op) {
        case ARITH_ADD: ud->t = sx_add_scalar(b, na); break;
        case ARITH_SUB: ud->t = scalar_left(ARITH_SUB, na, b); break;
        case ARITH_MUL: ud->t = sx_mul_scalar(b, na); break;
        case ARITH_DIV: ud->t = sx_rdiv_scalar(na, b); break;
        }
    }
    return lsx_result(L, ud, fn);
}

static int l_add(lua_State *L) { return arith(L, ARITH_ADD, "add"); }
static int l_sub(lua_State *L) { return arith(L, ARITH_SUB, "sub"); }
static int l_mul(lua_State *L) { return arith(L, ARITH_MUL, "mul"); }
static int l_div(lua_State *L) { return arith(L, ARITH_DIV, "div"); }

/* t ^ p and t:pow(p): p a number. */
static int l_pow(lua_State *L)
{
    sx_tensor *x = lsx_check_tensor(L, 1);
    float p = (float)lsx_check_number(L, 2);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_pow_scalar(x, p);
    return lsx_result(L, ud, "pow");
}

/* ---------------------------------------------------------------- elementwise */

static int l_neg(lua_State *L) { return lsx_unary(L, sx_neg, "neg"); }
static int l_abs(lua_State *L) { return lsx_unary(L, sx_abs, "abs"); }
static int l_exp(lua_State *L) { return lsx_unary(L, sx_exp, "exp"); }
static int l_log(lua_State *L) { return lsx_unary(L, sx_log, "log"); }
static int l_sqrt(lua_State *L) { return lsx_unary(L, sx_sqrt, "sqrt"); }
static int l_rsqrt(lua_State *L) { return lsx_unary(L, sx_rsqrt, "rsqrt"); }
static int l_square(lua_State *L) { return lsx_unary(L, sx_square, "square"); }
static int l_relu(lua_State *L) { return lsx_unary(L, sx_relu, "relu"); }
static int l_sigmoid(lua_State *L) { return lsx_unary(L, sx_sigmoid, "sigmoid"); }
static int l_tanh(lua_State *L) { return lsx_unary(L, sx_tanh, "tanh"); }
static int l_softplus(lua_State *L) { return lsx_unary(L, sx_softplus, "softplus"); }
static int l_contiguous(lua_State *L) { return lsx_unary(L, sx_contiguous, "contiguous"); }
static int l_sin(lua_State *L) { return lsx_unary(L, sx_sin, "sin"); }
static int l_cos(lua_State *L) { return lsx_unary(L, sx_cos, "cos"); }

/* sx.max_pool2d(x, k) / sx.avg_pool2d(x, k): k x k windows, stride k. */
static int pool(lua_State *L, bool avg, const char *fn)
{
    sx_tensor *x = lsx_check_tensor(L, 1);
    int k = (int)lsx_check_integer(L, 2, 1, 1 << 16);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = avg ? sx_avg_pool2d(x, k) : sx_max_pool2d(x, k);
    return lsx_result(L, ud, fn);
}

static int l_max_pool2d(lua_State *L) { return pool(L, false, "max_pool2d"); }
static int l_avg_pool2d(lua_State *L) { return pool(L, true, "avg_pool2d"); }

/* sx.dropout(x, p): always active (the Dropout module checks train/eval). */
static int l_dropout(lua_State *L)
{
    sx_tensor *x = lsx_check_tensor(L, 1);
    float p = (float)lsx_check_number(L, 2);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_dropout(x, p);
    return lsx_result(L, ud, "dropout");
}

static int l_leaky_relu(lua_State *L)
{
    sx_tensor *x = lsx_check_tensor(L, 1);
    float slope = lua_isnoneornil(L, 2) ? 0.2f : (float)lsx_check_number(L, 2);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_leaky_relu(x, slope);
    return lsx_result(L, ud, "leaky_relu");
}

static int l_gt_scalar(lua_State *L)
{
    sx_tensor *x = lsx_check_tensor(L, 1);
    float s = (float)lsx_check_number(L, 2);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_gt_scalar(x, s);
    return lsx_result(L, ud, "gt_scalar");
}

/* ---------------------------------------------------------------- reductions */

static int reduce(lua_State *L, bool mean, const char *fn)
{
    sx_tensor *x = lsx_check_tensor(L, 1);
    int dims[SX_MAX_DIMS];
    int n = check_dims(L, 2, x->ndim, dims);
    bool keepdim = lsx_opt_bool(L, 3, false);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = mean ? sx_mean(x, n, dims, keepdim) : sx_sum(x, n, dims, keepdim);
    return lsx_result(L, ud, fn);
}

static int l_sum(lua_State *L) { return reduce(L, false, "sum"); }
static int l_mean(lua_State *L) { return reduce(L, true, "mean"); }

/* t:max(dim, keepdim) / t:min(dim, keepdim): the values along dim and their
 * 0-based indices (floats, like argmax; keepdim applies to both). Without
 * dim, the maximum (minimum) of all elements, a 0-d tensor, alone. */
static int extreme(lua_State *L, bool is_min, const char *fn)
{
    sx_tensor *x = lsx_check_tensor(L, 1);
    bool all = lua_isnoneornil(L, 2);
    int d = all ? 0 : lsx_check_dim(L, 2, x->ndim);
    bool keepdim = lsx_opt_bool(L, 3, false);
    sx_tensor *(*val)(sx_tensor *, int, bool) = is_min ? sx_min : sx_max;
    lsx_tensor *ud = lsx_new_tensor(L);
    if (all) {
        int64_t flat = -1;
        sx_tensor *f = sx_reshape(x, 1, &flat);
        ud->t = f ? val(f, 0, false) : NULL;
        sx_tensor_free(f);
        return lsx_result(L, ud, fn);
    }
    ud->t = val(x, d, keepdim);
    lsx_result(L, ud, fn);
    lsx_tensor *ix = lsx_new_tensor(L);
    ix->t = is_min ? sx_argmin(x, d) : sx_argmax(x, d);
    if (ix->t && keepdim) {
        sx_tensor *k = sx_unsqueeze(ix->t, d);
        sx_tensor_free(ix->t);
        ix->t = k;
    }
    lsx_result(L, ix, fn);
    return 2;
}

static int l_max(lua_State *L) { return extreme(L, false, "max"); }
static int l_min(lua_State *L) { return extreme(L, true, "min"); }

/* 0-based indices (class ids), as floats; without dim, the index into the
 * flattened tensor (a 0-d tensor). */
static int arg_extreme(lua_State *L, bool is_min, const char *fn)
{
    sx_tensor *x = lsx_check_tensor(L, 1);
    bool all = lua_isnoneornil(L, 2);
    int d = all ? 0 : lsx_check_dim(L, 2, x->ndim);
    sx_tensor *(*f)(sx_tensor *, int) = is_min ? sx_argmin : sx_argmax;
    lsx_tensor *ud = lsx_new_tensor(L);
    if (all) {
        int64_t flat = -1;
        sx_tensor *fl = sx_reshape(x, 1, &flat);
        ud->t = fl ? f(fl, 0) : NULL;
        sx_tensor_free(fl);
    } else {
        ud->t = f(x, d);
    }
    return lsx_result(L, ud, fn);
}

static int l_argmax(lua_State *L) { return arg_extreme(L, false, "argmax"); }
static int l_argmin(lua_State *L) { return arg_extreme(L, true, "argmin"); }

/* t:std(dims, keepdim, unbiased) / t:var(...): dims as for sum; unbiased
 * (divide by count - 1) by default, as in PyTorch and Torch7. */
static int spread(lua_State *L, bool is_std, const char *fn)
{
    sx_tensor *x = lsx_check_tensor(L, 1);
    int dims[SX_MAX_DIMS];
    int n = check_dims(L, 2, x->ndim, dims);
    bool keepdim = lsx_opt_bool(L, 3, false);
    bool unbiased = lsx_opt_bool(L, 4, true);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = is_std ? sx_std(x, n, dims, keepdim, unbiased) : sx_var(x, n, dims, keepdim, unbiased);
    return lsx_result(L, ud, fn);
}

static int l_std(lua_State *L) { return spread(L, true, "std"); }
static int l_var(lua_State *L) { return spread(L, false, "var"); }

/* t:clamp(lo, hi): either bound may be nil (no bound on that side). */
static int l_clamp(lua_State *L)
{
    sx_tensor *x = lsx_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2) && lua_isnoneornil(L, 3)) return luaL_error(L, "clamp: give lo, hi or both");
    float lo = lua_isnoneornil(L, 2) ? -INFINITY : (float)lsx_check_number(L, 2);
    float hi = lua_isnoneornil(L, 3) ? INFINITY : (float)lsx_check_number(L, 3);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_clamp(x, lo, hi);
    return lsx_result(L, ud, "clamp");
}

/* t:lt(x) ... t:ne(x): x a number or a tensor (broadcasting); float masks, constants. */
static int compare(lua_State *L, sx_compare_op op, const char *fn)
{
    sx_tensor *a = lsx_check_tensor(L, 1);
    float v = 0.0f;
    sx_tensor *b = tensor_or_number(L, 2, &v);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = b ? sx_compare(a, op, b) : sx_compare_scalar(a, op, v);
    return lsx_result(L, ud, fn);
}

static int l_lt(lua_State *L) { return compare(L, SX_CMP_LT, "lt"); }
static int l_le(lua_State *L) { return compare(L, SX_CMP_LE, "le"); }
static int l_gt(lua_State *L) { return compare(L, SX_CMP_GT, "gt"); }
static int l_ge(lua_State *L) { return compare(L, SX_CMP_GE, "ge"); }
static int l_eq(lua_State *L) { return compare(L, SX_CMP_EQ, "eq"); }
static int l_ne(lua_State *L) { return compare(L, SX_CMP_NE, "ne"); }

/* sx.where(mask, a, b): a and b tensors or numbers. */
static sx_tensor *tensor_or_scalar(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TNUMBER) return lsx_check_tensor(L, idx);
    lsx_tensor *ud = lsx_new_tensor(L); /* Lua owns the 0-d tensor */
    ud->t = sx_tensor_scalar((float)lua_tonumber(L, idx));
    if (!ud->t) lsx_fail(L, "where");
    lua_replace(L, idx);
    return ud->t;
}

static int l_where(lua_State *L)
{
    sx_tensor *mask = lsx_check_tensor(L, 1);
    lua_settop(L, 3);
    sx_tensor *a = tensor_or_scalar(L, 2), *b = tensor_or_scalar(L, 3);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_where(mask, a, b);
    return lsx_result(L, ud, "where");
}

/* ---------------------------------------------------------------- linear algebra, convolution */

static int l_matmul(lua_State *L) { return lsx_binary(L, sx_matmul, "matmul"); }

static int l_linear(lua_State *L)
{
    sx_tensor *x = lsx_check_tensor(L, 1), *w = lsx_check_tensor(L, 2), *b = opt_tensor(L, 3);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_linear(x, w, b);
    return lsx_result(L, ud, "linear");
}

/* sx.conv2d / sx.conv_transpose2d(x, w, b, opts) */
static int conv(lua_State *L, bool transposed)
{
    sx_tensor *x = lsx_check_tensor(L, 1), *w = lsx_check_tensor(L, 2), *b = opt_tensor(L, 3);
    sx_conv2d_opts o;
    check_conv_opts(L, 4, transposed, &o);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = transposed ? sx_conv_transpose2d(x, w, b, &o) : sx_conv2d(x, w, b, &o);
    return lsx_result(L, ud, transposed ? "conv_transpose2d" : "conv2d");
}

static int l_conv2d(lua_State *L) { return conv(L, false); }
static int l_conv_transpose2d(lua_State *L) { return conv(L, true); }

/* sx.conv2d_weight(x, gy, {kh, kw} or k, opts) */
static int l_conv2d_weight(lua_State *L)
{
    sx_tensor *x = lsx_check_tensor(L, 1), *gy = lsx_check_tensor(L, 2);
    if (lua_type(L, 3) != LUA_TNUMBER && lua_type(L, 3) != LUA_TTABLE)
        luaL_typeerror(L, 3, "kernel size {kh, kw}");
    int k[2];
    lua_createtable(L, 0, 1); /* reuse the option reader on {size = arg3} */
    lua_pushvalue(L, 3);
    lua_setfield(L, -2, "size");
    lua_replace(L, 3);
    opt_pair(L, 3, "size", 1, 1, LIM, k);
    sx_conv2d_opts o;
    check_conv_opts(L, 4, false, &o);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_conv2d_weight(x, gy, k[0], k[1], &o);
    return lsx_result(L, ud, "conv2d_weight");
}

/* sx.upfirdn2d(x, f, {up=, down=, pad={x0, x1, y0, y1}}) */
static int l_upfirdn2d(lua_State *L)
{
    static const char *const names[] = {"up", "down", "pad", NULL};
    sx_tensor *x = lsx_check_tensor(L, 1), *f = lsx_check_tensor(L, 2);
    lsx_check_opts(L, 3, names);
    int up[2], down[2], pad[4] = {0, 0, 0, 0};
    opt_pair(L, 3, "up", 1, 1, 1 << 10, up);
    opt_pair(L, 3, "down", 1, 1, 1 << 10, down);
    if (up[0] != up[1] || down[0] != down[1]) luaL_argerror(L, 3, "options 'up' and 'down' are single integers");
    if (!lua_isnoneornil(L, 3)) {
        int type = lua_getfield(L, 3, "pad");
        if (type == LUA_TNUMBER) {
            int ok;
            lua_Integer v = lua_tointegerx(L, -1, &ok);
            if (!ok || v < -LIM || v > LIM) luaL_argerror(L, 3, "option 'pad' must be an integer or {x0, x1, y0, y1}");
            pad[0] = pad[1] = pad[2] = pad[3] = (int)v;
        } else if (type == LUA_TTABLE) {
            if (lua_rawlen(L, -1) != 4) luaL_argerror(L, 3, "option 'pad' must be {x0, x1, y0, y1}");
            for (int i = 0; i < 4; i++) {
                lua_rawgeti(L, -1, i + 1);
                int ok = lua_type(L, -1) == LUA_TNUMBER;
                lua_Integer v = ok ? lua_tointegerx(L, -1, &ok) : 0;
                if (!ok || v < -LIM || v > LIM)
                    luaL_argerror(L, 3, lua_pushfstring(L, "option 'pad': entry #%d is not an integer in [%d, %d]",
                                                        i + 1, -LIM, LIM));
                pad[i] = (int)v;
                lua_pop(L, 1);
            }
        } else if (type != LUA_TNIL) {
            luaL_argerror(L, 3, "option 'pad' must be an integer or {x0, x1, y0, y1}");
        }
        lua_pop(L, 1);
    }
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_upfirdn2d(x, f, up[0], down[0], pad);
    return lsx_result(L, ud, "upfirdn2d");
}

/* ---------------------------------------------------------------- classification, losses */

static int softmax_like(lua_State *L, bool log, const char *fn)
{
    sx_tensor *x = lsx_check_tensor(L, 1);
    int d = lsx_opt_dim(L, 2, x->ndim, x->ndim - 1);
    if (x->ndim == 0) return luaL_error(L, "%s: needs at least one dimension", fn);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = log ? sx_log_softmax(x, d) : sx_softmax(x, d);
    return lsx_result(L, ud, fn);
}

static int l_softmax(lua_State *L) { return softmax_like(L, false, "softmax"); }
static int l_log_softmax(lua_State *L) { return softmax_like(L, true, "log_softmax"); }

/* labels: a tensor or a table of 0-based class ids. */
static int l_cross_entropy(lua_State *L)
{
    sx_tensor *logits = lsx_check_tensor(L, 1);
    sx_tensor *labels = lsx_check_tensor_like(L, 2);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_cross_entropy(logits, labels);
    return lsx_result(L, ud, "cross_entropy");
}

static int l_kl_div(lua_State *L) { return lsx_binary(L, sx_kl_div, "kl_div"); }
static int l_l1_loss(lua_State *L) { return lsx_binary(L, sx_l1_loss, "l1_loss"); }
static int l_mse_loss(lua_State *L) { return lsx_binary(L, sx_mse_loss, "mse_loss"); }

/* ---------------------------------------------------------------- registration */

/* Ops taking a tensor first: sx.name(t, ...) and t:name(...). */
static const luaL_Reg tensor_ops[] = {
    {"add", l_add},
    {"sub", l_sub},
    {"mul", l_mul},
    {"div", l_div},
    {"pow", l_pow},
    {"neg", l_neg},
    {"abs", l_abs},
    {"exp", l_exp},
    {"log", l_log},
    {"sqrt", l_sqrt},
    {"rsqrt", l_rsqrt},
    {"square", l_square},
    {"relu", l_relu},
    {"leaky_relu", l_leaky_relu},
    {"sigmoid", l_sigmoid},
    {"tanh", l_tanh},
    {"softplus", l_softplus},
    {"sin", l_sin},
    {"cos", l_cos},
    {"clamp", l_clamp},
    {"gt_scalar", l_gt_scalar},
    {"lt", l_lt},
    {"le", l_le},
    {"gt", l_gt},
    {"ge", l_ge},
    {"eq", l_eq},
    {"ne", l_ne},
    {"sum", l_sum},
    {"mean", l_mean},
    {"std", l_std},
    {"var", l_var},
    {"max", l_max},
    {"min", l_min},
    {"argmax", l_argmax},
    {"argmin", l_argmin},
    {"contiguous", l_contiguous},
    {"matmul", l_matmul},
    {"softmax", l_softmax},
    {"log_softmax", l_log_softmax},
    {NULL, NULL},
};

/* Functions only. */
static const luaL_Reg module_ops[] = {
    {"linear", l_linear},
    {"conv2d", l_conv2d},
    {"conv_transpose2d", l_conv_transpose2d},
    {"conv2d_weight", l_conv2d_weight},
    {"upfirdn2d", l_upfirdn2d},
    {"max_pool2d", l_max_pool2d},
    {"avg_pool2d", l_avg_pool2d},
    {"dropout", l_dropout},
    {"where", l_where},
    {"cross_entropy", l_cross_entropy},
    {"kl_div", l_kl_div},
    {"l1_loss", l_l1_loss},
    {"mse_loss", l_mse_loss},
    {NULL, NULL},
};

static const luaL_Reg arith_metamethods[] = {
    {"__add", l_add},
    {"__sub", l_sub},
    {"__mul", l_mul},
    {"__div", l_div},
    {"__pow", l_pow},
    {"__unm", l_neg},
    {NULL, NULL},
};

void lsx_open_ops(lua_State *L)
{
    lsx_add_tensor_ops(L, tensor_ops, module_ops);
    lsx_add_metamethods(L, arith_metamethods);
}
