/*
 * lib/lua/ops_shape.c — the shape ops of include/stylex/ops.h as Lua
 * functions and tensor methods (t:reshape{...}, t:narrow(d, s, n),
 * sx.cat{...}, t:index_select(d, idx)); the rest of the ops are in ops.c.
 *
 * As there: each function checks all its arguments, turns Lua's 1-based
 * dimensions and positions into C's 0-based ones, calls one C function and
 * raises "name: <C message>" on failure.
 */
#include "lsx.h"

/* ---------------------------------------------------------------- arguments */

sx_tensor **lsx_check_tensor_list(lua_State *L, int idx, int *n_out)
{
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE) luaL_typeerror(L, idx, "list of tensors");
    lua_Unsigned n = lua_rawlen(L, idx);
    if (n == 0) luaL_argerror(L, idx, "empty list of tensors");
    if (n > INT32_MAX) luaL_argerror(L, idx, "list too long");
    /* the pointer array is Lua's, so an error below cannot leak it; the
     * tensors stay alive through the list, which is an argument */
    sx_tensor **ts = lua_newuserdatauv(L, (size_t)n * sizeof *ts, 0);
    for (lua_Unsigned i = 0; i < n; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i + 1);
        lsx_tensor *ud = luaL_testudata(L, -1, LSX_TENSOR);
        if (!ud)
            luaL_argerror(L, idx, lua_pushfstring(L, "element #%I is %s, expected a tensor", (lua_Integer)i + 1,
                                                  luaL_typename(L, -1)));
        if (!ud->t)
            luaL_argerror(L, idx, lua_pushfstring(L, "element #%I: tensor has been freed", (lua_Integer)i + 1));
        ts[i] = ud->t;
        lua_pop(L, 1);
    }
    *n_out = (int)n;
    return ts;
}

/* 1-based positions (a table of integers or a tensor holding integral values)
 * into a Lua-owned array of 0-based int64, each checked against [1, size]. */
static int64_t *check_positions(lua_State *L, int idx, int64_t size, int64_t *n_out)
{
    sx_tensor *t = lsx_to_tensor(L, idx);
    if (!t && luaL_testudata(L, idx, LSX_TENSOR)) lsx_check_tensor(L, idx);
    if (!t && lua_type(L, idx) != LUA_TTABLE) luaL_typeerror(L, idx, "table or tensor of indices");
    int64_t n = t ? sx_tensor_numel(t) : (int64_t)lua_rawlen(L, idx);
    int64_t *out = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof *out, 0);
    float *vals = NULL;
    if (t) {
        vals = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof *vals, 0);
        sx_tensor_copy_to(t, vals);
    }
    for (int64_t k = 0; k < n; k++) {
        double v;
        if (t) v = vals[k];
        else {
            lua_rawgeti(L, idx, (lua_Integer)k + 1);
            if (lua_type(L, -1) != LUA_TNUMBER)
                luaL_argerror(L, idx, lua_pushfstring(L, "index #%I is %s, expected an integer", (lua_Integer)k + 1,
                                                      luaL_typename(L, -1)));
            v = lua_tonumber(L, -1);
            lua_pop(L, 1);
        }
        if (!(v >= 1 && v <= (double)size) || v != (double)(int64_t)v)
            luaL_argerror(L, idx, lua_pushfstring(L, "index #%I (%f) is not a position in [1, %I]",
                                                  (lua_Integer)k + 1, (lua_Number)v, (lua_Integer)size));
        out[k] = (int64_t)v - 1;
    }
    if (t) lua_pop(L, 1);
    *n_out = n;
    return out;
}

/* ---------------------------------------------------------------- shapes, views */

/* An op of a tensor and a shape (argument 2): reshape, expand, sum_to. */
typedef sx_tensor *(*shape_op)(sx_tensor *x, int n, const int64_t *shape);

static int shape_call(lua_State *L, shape_op op, const char *name)
{
    sx_tensor *x = lsx_check_tensor(L, 1);
    int64_t shape[SX_MAX_DIMS];
    int n = lsx_check_shape(L, 2, shape, SX_MAX_DIMS);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = op(x, n, shape);
    return lsx_result(L, ud, name);
}

static int l_sum_to(lua_State *L) { return shape_call(L, sx_sum_to, "sum_to"); }
static int l_reshape(lua_State *L) { return shape_call(L, sx_reshape, "reshape"); }

/* t:view{2, 3} or t:view(2, 3): reshape that must not copy. */
static int l_view(lua_State *L)
{
    sx_tensor *x = lsx_check_tensor(L, 1);
    int64_t shape[SX_MAX_DIMS];
    int n;
    if (lua_type(L, 2) == LUA_TNUMBER) {
        n = lua_gettop(L) - 1;
        if (n > SX_MAX_DIMS) luaL_argerror(L, SX_MAX_DIMS + 2, "too many sizes");
        for (int i = 0; i < n; i++) shape[i] = lsx_check_integer(L, i + 2, -1, SX_MAX_NUMEL);
    } else {
        n = lsx_check_shape(L, 2, shape, SX_MAX_DIMS);
    }
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_view(x, n, shape);
    return lsx_result(L, ud, "view");
}

/* t:unsqueeze(d): a new size-1 dimension d (1 .. ndim+1; -1 is after the last). */
static int l_unsqueeze(lua_State *L)
{
    sx_tensor *x = lsx_check_tensor(L, 1);
    int d = lsx_check_dim(L, 2, x->ndim + 1);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_unsqueeze(x, d);
    return lsx_result(L, ud, "unsqueeze");
}

/* t:squeeze([d]): drops d if its size is 1; without d, every size-1 dimension. */
static int l_squeeze(lua_State *L)
{
    sx_tensor *x = lsx_check_tensor(L, 1);
    bool all = lua_isnoneornil(L, 2);
    int d = all ? 0 : lsx_check_dim(L, 2, x->ndim);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = all ? sx_squeeze_all(x) : sx_squeeze(x, d);
    return lsx_result(L, ud, "squeeze");
}

/* t:flatten([start = 1 [, end = -1]]) */
static int l_flatten(lua_State *L)
{
    sx_tensor *x = lsx_check_tensor(L, 1);
    int nd = x->ndim ? x->ndim : 1;
    int a = lsx_opt_dim(L, 2, nd, 0), b = lsx_opt_dim(L, 3, nd, nd - 1);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_flatten(x, a, b);
    return lsx_result(L, ud, "flatten");
}

/* t:select(dim, i): slice i (1-based) along dim, the dimension removed; a view. */
static int l_select(lua_State *L)
{
    sx_tensor *x = lsx_check_tensor(L, 1);
    int d = lsx_check_dim(L, 2, x->ndim);
    int64_t i = lsx_check_integer(L, 3, 1, x->shape[d] > 0 ? x->shape[d] : 1);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_select(x, d, i - 1);
    return lsx_result(L, ud, "select");
}

static int l_permute(lua_State *L)
{
    sx_tensor *x = lsx_check_tensor(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    if ((lua_Integer)lua_rawlen(L, 2) != x->ndim)
        luaL_argerror(L, 2, lua_pushfstring(L, "%I dimensions given for a %d-d tensor", (lua_Integer)lua_rawlen(L, 2),
                                            x->ndim));
    int perm[SX_MAX_DIMS];
    bool seen[SX_MAX_DIMS] = {false};
    for (int i = 0; i < x->ndim; i++) {
        lua_rawgeti(L, 2, i + 1);
        int ok = lua_type(L, -1) == LUA_TNUMBER;
        lua_Integer d = ok ? lua_tointegerx(L, -1, &ok) : 0;
        if (!ok) luaL_argerror(L, 2, lua_pushfstring(L, "entry #%d is not an integer dimension", i + 1));
        perm[i] = lsx_dim_value(L, 2, d, x->ndim);
        if (seen[perm[i]]) luaL_argerror(L, 2, lua_pushfstring(L, "dimension %d appears twice", perm[i] + 1));
        seen[perm[i]] = true;
        lua_pop(L, 1);
    }
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_permute(x, perm);
    return lsx_result(L, ud, "permute");
}

static int l_transpose(lua_State *L)
{
    sx_tensor *x = lsx_check_tensor(L, 1);
    int a = lsx_check_dim(L, 2, x->ndim), b = lsx_check_dim(L, 3, x->ndim);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_transpose(x, a, b);
    return lsx_result(L, ud, "transpose");
}

static int l_expand(lua_State *L) { return shape_call(L, sx_expand, "expand"); }

/* t:narrow(dim, start, length): elements start .. start+length-1 (1-based). */
static int l_narrow(lua_State *L)
{
    sx_tensor *x = lsx_check_tensor(L, 1);
    int d = lsx_check_dim(L, 2, x->ndim);
    int64_t size = x->shape[d];
    int64_t start = lsx_check_integer(L, 3, LUA_MININTEGER, LUA_MAXINTEGER);
    int64_t len = lsx_check_integer(L, 4, LUA_MININTEGER, LUA_MAXINTEGER);
    if (start < 1 || len < 0 || start > size + 1 || len > size - start + 1)
        return luaL_error(L, "narrow: elements %I to %I (start %I, length %I) are outside dimension %d of size %I",
                          (lua_Integer)start, (lua_Integer)(len >= 0 && start <= LUA_MAXINTEGER - len ? start + len - 1 : start),
                          (lua_Integer)start, (lua_Integer)len, d + 1, (lua_Integer)size);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_narrow(x, d, start - 1, len);
    return lsx_result(L, ud, "narrow");
}

/* sx.narrow_scatter(x, shape, dim, start): zeros of shape with x at start (1-based). */
static int l_narrow_scatter(lua_State *L)
{
    sx_tensor *x = lsx_check_tensor(L, 1);
    int64_t shape[SX_MAX_DIMS];
    int n = lsx_check_shape(L, 2, shape, SX_MAX_DIMS);
    int d = lsx_check_dim(L, 3, n);
    int64_t start = lsx_check_integer(L, 4, 1, SX_MAX_NUMEL);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_narrow_scatter(x, n, shape, d, start - 1);
    return lsx_result(L, ud, "narrow_scatter");
}

/* sx.cat(list, dim) / sx.stack(list, dim): along an existing dimension / a new one. */
static int join(lua_State *L, bool stack, const char *fn)
{
    lua_settop(L, 2); /* the list check pushes a buffer */
    int n;
    sx_tensor **xs = lsx_check_tensor_list(L, 1, &n);
    int d = lsx_opt_dim(L, 2, xs[0]->ndim + (stack ? 1 : 0), 0);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = stack ? sx_stack(n, xs, d) : sx_cat(n, xs, d);
    return lsx_result(L, ud, fn);
}

static int l_cat(lua_State *L) { return join(L, false, "cat"); }
static int l_stack(lua_State *L) { return join(L, true, "stack"); }

static int l_index_select(lua_State *L)
{
    sx_tensor *x = lsx_check_tensor(L, 1);
    int d = lsx_check_dim(L, 2, x->ndim);
    int64_t n;
    int64_t *index = check_positions(L, 3, x->shape[d], &n);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_index_select(x, d, n, index);
    return lsx_result(L, ud, "index_select");
}

/* sx.index_add(x, dim, size, indices): zeros of `size` along dim, x's rows added at indices (1-based). */
static int l_index_add(lua_State *L)
{
    sx_tensor *x = lsx_check_tensor(L, 1);
    int d = lsx_check_dim(L, 2, x->ndim);
    int64_t size = lsx_check_integer(L, 3, 0, SX_MAX_NUMEL);
    int64_t n;
    int64_t *index = check_positions(L, 4, size, &n);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_index_add(x, d, size, n, index);
    return lsx_result(L, ud, "index_add");
}

/* ---------------------------------------------------------------- registration */

/* Ops taking a tensor first: sx.name(t, ...) and t:name(...). */
static const luaL_Reg tensor_ops[] = {
    {"sum_to", l_sum_to},
    {"reshape", l_reshape},
    {"view", l_view},
    {"unsqueeze", l_unsqueeze},
    {"squeeze", l_squeeze},
    {"flatten", l_flatten},
    {"select", l_select},
    {"permute", l_permute},
    {"transpose", l_transpose},
    {"expand", l_expand},
    {"narrow", l_narrow},
    {"index_select", l_index_select},
    {NULL, NULL},
};

/* Functions only. */
static const luaL_Reg module_ops[] = {
    {"narrow_scatter", l_narrow_scatter},
    {"cat", l_cat},
    {"stack", l_stack},
    {"index_add", l_index_add},
    {NULL, NULL},
};

void lsx_open_shape_ops(lua_State *L)
{
    lsx_add_tensor_ops(L, tensor_ops, module_ops);
}
