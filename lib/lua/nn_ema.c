/*
 * lib/lua/nn_ema.c — sx.nn.ema_update and sx.nn.copy_params: the same walk
 * over two models (or two lists of tensors), entry by entry.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

/* ---------------------------------------------------------------- EMA and copies */

/* True if the value at idx is a non-empty table whose first entry is a tensor. */
static bool is_tensor_list(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TTABLE) return false;
    lua_rawgeti(L, idx, 1);
    bool yes = luaL_testudata(L, -1, LSX_TENSOR) != NULL;
    lua_pop(L, 1);
    return yes;
}

/* A list of live tensors at idx as a Lua-owned array (pushed). */
static sx_tensor **check_list(lua_State *L, int idx, int *n, const char *what, const char *fn)
{
    nn_check_table(L, idx, fn, "list of tensors or module");
    return lsx_tensor_array(L, idx, idx, fn, what, n);
}

/* Live (name, tensor) lists of two twins (modules, Lua modules); raises
 * unless the names and shapes agree. */
static void twins(lua_State *L, sx_named_tensors **a, sx_named_tensors **b, const char *fn)
{
    *a = nn_collect(L, 1, WALK_STATE, fn);
    *b = nn_collect(L, 2, WALK_STATE, fn);
    if ((*a)->n != (*b)->n)
        luaL_error(L, "%s: the two modules are not twins (%d and %d tensors)", fn, (*a)->n, (*b)->n);
    for (int i = 0; i < (*a)->n; i++) {
        char s1[96], s2[96];
        if (strcmp((*a)->names[i], (*b)->names[i]) != 0 || !sx_tensor_same_shape((*a)->tensors[i], (*b)->tensors[i]))
            luaL_error(L, "%s: the two modules are not twins: '%s' %s vs '%s' %s", fn, (*a)->names[i],
                       sx_shape_str((*a)->tensors[i], s1, sizeof s1), (*b)->names[i],
                       sx_shape_str((*b)->tensors[i], s2, sizeof s2));
    }
}

/* sx.nn.ema_update(ema, src, beta): ema = beta*ema + (1-beta)*src, in place.
 * ema and src: two lists of tensors, or two twin modules (userdata or Lua
 * modules; their buffers are copied). */
int nn_ema_update(lua_State *L)
{
    const char *fn = "ema_update";
    if (lua_type(L, 3) != LUA_TNUMBER) lsx_arg_fail(L, 3, fn, "number expected, got %s", luaL_typename(L, 3));
    lua_Number beta = lua_tonumber(L, 3);
    if (!(beta >= 0 && beta <= 1)) lsx_arg_fail(L, 3, fn, "beta must be in [0, 1]");
    lsx_module *ea = luaL_testudata(L, 1, LSX_MODULE), *sa = luaL_testudata(L, 2, LSX_MODULE);
    if (ea && sa) {
        if (sx_module_ema_update(lsx_check_module(L, 1), lsx_check_module(L, 2), (float)beta) != SX_OK)
            return lsx_fail(L, fn);
        return 0;
    }
    if (is_tensor_list(L, 1) || is_tensor_list(L, 2)) {
        int n1, n2;
        sx_tensor **e = check_list(L, 1, &n1, "ema", fn), **p = check_list(L, 2, &n2, "params", fn);
        if (n1 != n2) return luaL_error(L, "%s: %d EMA tensors for %d parameters", fn, n1, n2);
        if (sx_ema_update(n1, e, p, (float)beta) != SX_OK) return lsx_fail(L, fn);
        return 0;
    }
    sx_named_tensors *a, *b;
    twins(L, &a, &b, fn);
    for (int i = 0; i < a->n; i++) {
        sx_status st = b->tensors[i]->requires_grad ? sx_ema_update(1, &a->tensors[i], &b->tensors[i], (float)beta)
                                                    : sx_tensor_assign(a->tensors[i], b->tensors[i]);
        if (st != SX_OK) return lsx_fail(L, fn);
    }
    return 0;
}

/* sx.nn.copy_params(dst, src): copies values of a list / module into its twin. */
int nn_copy_params(lua_State *L)
{
    const char *fn = "copy_params";
    if (is_tensor_list(L, 1) || is_tensor_list(L, 2)) {
        int n1, n2;
        sx_tensor **d = check_list(L, 1, &n1, "dst", fn), **s = check_list(L, 2, &n2, "src", fn);
        if (n1 != n2) return luaL_error(L, "%s: %d destination tensors for %d sources", fn, n1, n2);
        for (int i = 0; i < n1; i++)
            if (sx_tensor_assign(d[i], s[i]) != SX_OK) return lsx_fail(L, fn);
        return 0;
    }
    sx_named_tensors *a, *b;
    twins(L, &a, &b, fn);
    for (int i = 0; i < a->n; i++)
        if (sx_tensor_assign(a->tensors[i], b->tensors[i]) != SX_OK) return lsx_fail(L, fn);
    return 0;
}
