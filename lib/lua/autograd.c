/*
 * lib/lua/autograd.c — autograd from Lua: t:requires_grad, t:backward,
 * t:zero_grad, t:detach, t:op_name, sx.grad, sx.no_grad and the grad mode.
 * (The t.grad field is read by the tensor __index in module.c.)
 *
 * Grad mode is per C thread (lib/core/tensor.c): a coroutine switch does
 * not change it.
 */
#include "lsx.h"

/* t:requires_grad(flag) sets the flag and returns t; t:requires_grad()
 * returns the flag. */
static int l_requires_grad(lua_State *L)
{
    sx_tensor *t = lsx_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) {
        lua_pushboolean(L, t->requires_grad);
        return 1;
    }
    bool on = lsx_opt_bool(L, 2, false);
    if (sx_tensor_set_requires_grad(t, on) != SX_OK) return lsx_fail(L, "requires_grad");
    lua_settop(L, 1);
    return 1;
}

static int l_zero_grad(lua_State *L)
{
    sx_tensor_zero_grad(lsx_check_tensor(L, 1));
    return 0;
}

static int l_detach(lua_State *L) { return lsx_unary(L, sx_detach, "detach"); }

/* The op that made t ("" for a leaf). */
static int l_op_name(lua_State *L)
{
    lua_pushstring(L, sx_tensor_op_name(lsx_check_tensor(L, 1)));
    return 1;
}

/* t:backward([grad [, create_graph]]) */
static int l_backward(lua_State *L)
{
    sx_tensor *t = lsx_check_tensor(L, 1);
    sx_tensor *g = lua_isnoneornil(L, 2) ? NULL : lsx_check_tensor(L, 2);
    bool create_graph = lsx_opt_bool(L, 3, false);
    if (sx_backward(t, g, create_graph) != SX_OK) return lsx_fail(L, "backward");
    lsx_gc_pace(L);
    return 0;
}

/* A tensor or a list of tensors at idx; *single tells which. */
static sx_tensor **tensor_or_list(lua_State *L, int idx, int *n, bool *single)
{
    *single = lua_type(L, idx) != LUA_TTABLE;
    if (!*single) return lsx_check_tensor_list(L, idx, n);
    sx_tensor *t = lsx_check_tensor(L, idx);
    sx_tensor **ts = lua_newuserdatauv(L, sizeof *ts, 0);
    ts[0] = t;
    *n = 1;
    return ts;
}

/* Reads boolean option `name` of the table at idx. */
static bool opt_flag(lua_State *L, int idx, const char *name) { return lsx_opt_boolean(L, idx, NULL, name, false); }

/* grad_outputs: a tensor (one output) or a list with one entry (or nil) per output. */
static sx_tensor **check_grad_outputs(lua_State *L, int idx, int n_out)
{
    if (lua_isnoneornil(L, idx)) return NULL;
    int type = lua_getfield(L, idx, "grad_outputs");
    if (type == LUA_TNIL) {
        lua_pop(L, 1);
        return NULL;
    }
    sx_tensor **g = lua_newuserdatauv(L, (size_t)n_out * sizeof *g, 0);
    lua_rotate(L, -2, 1); /* keep the array below the option value */
    if (type == LUA_TTABLE) {
        if ((lua_Integer)lua_rawlen(L, -1) > n_out)
            luaL_argerror(L, idx, "option 'grad_outputs' has more entries than there are outputs");
        for (int k = 0; k < n_out; k++) {
            lua_rawgeti(L, -1, k + 1);
            lsx_tensor *ud = luaL_testudata(L, -1, LSX_TENSOR);
            if (!ud && !lua_isnil(L, -1))
                luaL_argerror(L, idx, lua_pushfstring(L, "option 'grad_outputs': entry #%d is %s, expected a tensor",
                                                      k + 1, luaL_typename(L, -1)));
            if (ud && !ud->t)
                luaL_argerror(L, idx, lua_pushfstring(L, "option 'grad_outputs': entry #%d has been freed", k + 1));
            g[k] = ud ? ud->t : NULL;
            lua_pop(L, 1);
        }
    } else {
        lsx_tensor *ud = luaL_testudata(L, -1, LSX_TENSOR);
        if (!ud) luaL_argerror(L, idx, "option 'grad_outputs' must be a tensor or a list of tensors");
        if (!ud->t) luaL_argerror(L, idx, "option 'grad_outputs': tensor has been freed");
        if (n_out != 1) luaL_argerror(L, idx, "option 'grad_outputs' must be a list (one per output)");
        g[0] = ud->t;
    }
    lua_pop(L, 1);
    return g;
}

/* sx.grad(outputs, inputs, {grad_outputs=, create_graph=, allow_unused=}):
 * the gradients of the outputs with respect to the inputs, as a tensor (for
 * one input tensor) or a list; with allow_unused an input the outputs do not
 * reach gets zeros (sx_grad's rule). */
static int l_grad(lua_State *L)
{
    static const char *const names[] = {"grad_outputs", "create_graph", "allow_unused", NULL};
    lua_settop(L, 3);
    int n_out, n_in;
    bool single_out, single_in;
    sx_tensor **outs = tensor_or_list(L, 1, &n_out, &single_out);
    sx_tensor **ins = tensor_or_list(L, 2, &n_in, &single_in);
    lsx_check_opts(L, 3, names);
    bool create_graph = opt_flag(L, 3, "create_graph");
    bool allow_unused = opt_flag(L, 3, "allow_unused");
    sx_tensor **gouts = check_grad_outputs(L, 3, n_out);

    /* every userdata exists before C runs, so storing results cannot fail */
    sx_tensor **res = lua_newuserdatauv(L, (size_t)n_in * sizeof *res, 0);
    lua_createtable(L, n_in, 0);
    int list = lua_gettop(L);
    for (int i = 0; i < n_in; i++) {
        lsx_new_tensor(L);
        lua_rawseti(L, list, i + 1);
    }
    if (sx_grad(n_out, outs, gouts, n_in, ins, create_graph, allow_unused, res) != SX_OK)
        return lsx_fail(L, "grad");
    for (int i = 0; i < n_in; i++) {
        if (res[i]) {
            lua_rawgeti(L, list, i + 1);
            ((lsx_tensor *)lua_touserdata(L, -1))->t = res[i];
            lua_pop(L, 1);
        } else {
            lua_pushnil(L);
            lua_rawseti(L, list, i + 1);
        }
    }
    lsx_gc_pace(L);
    if (single_in) lua_rawgeti(L, list, 1);
    return 1;
}

/* sx.no_grad(fn, ...): calls fn(...) with grad mode off; restores the mode
 * even when fn raises, then re-raises. Returns fn's results. */
static int l_no_grad(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    bool prev = sx_set_grad_enabled(false);
    int st = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
    sx_set_grad_enabled(prev);
    if (st != LUA_OK) return lua_error(L);
    return lua_gettop(L);
}

static int l_is_grad_enabled(lua_State *L)
{
    lua_pushboolean(L, sx_grad_enabled());
    return 1;
}

/* sx.set_grad_enabled(flag): returns the previous mode. */
static int l_set_grad_enabled(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TBOOLEAN);
    lua_pushboolean(L, sx_set_grad_enabled(lua_toboolean(L, 1)));
    return 1;
}

static const luaL_Reg autograd_methods[] = {
    {"requires_grad", l_requires_grad},
    {"zero_grad", l_zero_grad},
    {"detach", l_detach},
    {"op_name", l_op_name},
    {"backward", l_backward},
    {NULL, NULL},
};

static const luaL_Reg autograd_fns[] = {
    {"grad", l_grad},
    {"no_grad", l_no_grad},
    {"is_grad_enabled", l_is_grad_enabled},
    {"set_grad_enabled", l_set_grad_enabled},
    {"detach", l_detach},
    {"backward", l_backward},
    {NULL, NULL},
};

void lsx_open_autograd(lua_State *L)
{
    luaL_setfuncs(L, autograd_fns, 0);
    lsx_add_methods(L, autograd_methods);
}
