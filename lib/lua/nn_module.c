/*
 * lib/lua/nn_module.c — the module userdata ("stylex.Module"): making and
 * checking it, the methods every module has (sx.nn.Module: forward,
 * parameters, state_dict, child, ...), and the method tables of module
 * types.
 *
 * Every module userdata has the one metatable "stylex.Module"; its __index
 * looks the key up in the method table of the module's type (m->type:
 * sx.nn.Classifier for a "Classifier", sx.nn.Generator, ...), which falls
 * back to sx.nn.Module. So G:synthesis exists and Linear:synthesis is nil:
 * no type reaches another type's methods.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

lsx_module *lsx_new_module(lua_State *L)
{
    lsx_module *ud = lua_newuserdatauv(L, sizeof *ud, 1);
    ud->m = NULL;
    luaL_setmetatable(L, LSX_MODULE);
    lua_newtable(L);
    lua_setiuservalue(L, -2, 1);
    return ud;
}

static int make_module_ud(lua_State *L)
{
    lsx_module *ud = lsx_new_module(L);
    ud->m = lua_touserdata(L, 1);
    return 1;
}

static void drop_module(void *m) { sx_module_free(m); }

void lsx_push_module(lua_State *L, sx_module *m, const char *fn)
{
    lsx_push_result(L, m, make_module_ud, drop_module, fn);
}

lsx_module *nn_check_module_ud(lua_State *L, int idx)
{
    lsx_module *ud = luaL_testudata(L, idx, LSX_MODULE);
    if (!ud) luaL_typeerror(L, idx, "module");
    if (!ud->m) luaL_argerror(L, idx, "module has been freed");
    return ud;
}

sx_module *lsx_check_module(lua_State *L, int idx) { return nn_check_module_ud(L, idx)->m; }
/* ---------------------------------------------------------------- module methods */

static int m_free(lua_State *L)
{
    lsx_module *ud = luaL_checkudata(L, 1, LSX_MODULE);
    sx_module_free(ud->m);
    ud->m = NULL;
    return 0;
}

/* m(x) / m:forward(x) */
static int m_forward(lua_State *L) { return lsx_module_unary(L, lsx_check_module(L, 1), sx_module_forward, "forward"); }

static int m_type(lua_State *L)
{
    lua_pushstring(L, lsx_check_module(L, 1)->type);
    return 1;
}

/* m:num_params() -> number of trainable scalars */
static int m_num_params(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)sx_module_param_numel(lsx_check_module(L, 1)));
    return 1;
}

/* m:child(name) -> the child module (shared with m, the same userdata each
 * call: cached at key 1 of m's cache table), or nil */
static int m_child(lua_State *L)
{
    sx_module *m = lsx_check_module(L, 1);
    const char *name = luaL_checkstring(L, 2);
    sx_module *c = sx_module_child(m, name);
    if (!c) return 0;
    lua_getiuservalue(L, 1, 1);
    if (lua_rawgeti(L, -1, 1) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawseti(L, -3, 1);
    }
    lua_getfield(L, -1, name);
    lsx_module *ud = luaL_testudata(L, -1, LSX_MODULE);
    if (ud && ud->m == c) return 1;
    lua_pop(L, 1);
    ud = lsx_new_module(L);
    ud->m = sx_module_retain(c);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, name);
    return 1;
}

/* m:children() -> list of child names, in order */
static int m_children(lua_State *L)
{
    sx_module *m = lsx_check_module(L, 1);
    lua_createtable(L, m->n_children, 0);
    for (int i = 0; i < m->n_children; i++) {
        lua_pushstring(L, m->child_names[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int m_tostring(lua_State *L)
{
    lsx_module *ud = luaL_checkudata(L, 1, LSX_MODULE);
    if (!ud->m) {
        lua_pushliteral(L, "stylex.Module (freed)");
        return 1;
    }
    const sx_module *m = ud->m;
    if (strcmp(m->type, "Linear") == 0 && m->impl) {
        const sx_linear_opts *o = m->impl;
        lua_pushfstring(L, "Linear(in=%I, out=%I, bias=%s, equalized=%s, lr_mul=%f)", (lua_Integer)o->in,
                        (lua_Integer)o->out, o->no_bias ? "false" : "true", o->equalized ? "true" : "false",
                        (lua_Number)o->lr_mul);
    } else if (strcmp(m->type, "Conv2d") == 0 && m->impl) {
        const sx_conv2d_layer_opts *o = m->impl;
        lua_pushfstring(L, "Conv2d(in=%I, out=%I, kernel=%d, stride=%d, padding=%d, groups=%d, bias=%s, "
                           "equalized=%s, lr_mul=%f)",
                        (lua_Integer)o->in, (lua_Integer)o->out, o->kernel, o->stride, o->padding, o->groups,
                        o->no_bias ? "false" : "true", o->equalized ? "true" : "false", (lua_Number)o->lr_mul);
    } else {
        lua_pushfstring(L, "%s (%d parameter tensors, %I scalars)", m->type, sx_module_param_count(m),
                        (lua_Integer)sx_module_param_numel(m));
    }
    return 1;
}

static int m_call(lua_State *L) { return m_forward(L); }

/* The generic walkers as methods: self must be a module userdata. */
static int on_self(lua_State *L, lua_CFunction walker)
{
    nn_check_module_ud(L, 1);
    return walker(L);
}

static int m_parameters(lua_State *L) { return on_self(L, nn_parameters); }
static int m_named_parameters(lua_State *L) { return on_self(L, nn_named_parameters); }
static int m_state_dict(lua_State *L) { return on_self(L, nn_state_dict); }
static int m_load_state_dict(lua_State *L) { return on_self(L, nn_load_state_dict); }
static int m_zero_grad(lua_State *L) { return on_self(L, nn_zero_grad); }

/* m:train([on = true]) / m:eval(): the mode of m and every module below it
 * (BatchNorm2d and Dropout read it); both return m. */
static int m_train(lua_State *L)
{
    sx_module *m = lsx_check_module(L, 1);
    sx_module_set_training(m, lsx_opt_bool(L, 2, true));
    lua_settop(L, 1);
    return 1;
}

static int m_eval(lua_State *L)
{
    sx_module_set_training(lsx_check_module(L, 1), false);
    lua_settop(L, 1);
    return 1;
}

static int m_is_training(lua_State *L)
{
    lua_pushboolean(L, lsx_check_module(L, 1)->training);
    return 1;
}

static const luaL_Reg module_methods[] = {
    {"forward", m_forward},
    {"train", m_train},
    {"eval", m_eval},
    {"is_training", m_is_training},
    {"parameters", m_parameters},
    {"named_parameters", m_named_parameters},
    {"state_dict", m_state_dict},
    {"load_state_dict", m_load_state_dict},
    {"zero_grad", m_zero_grad},
    {"type", m_type},
    {"num_params", m_num_params},
    {"child", m_child},
    {"children", m_children},
    {"free", m_free},
    {NULL, NULL},
};

static const luaL_Reg module_metamethods[] = {
    {"__call", m_call},
    {"__gc", m_free},
    {"__close", m_free},
    {"__tostring", m_tostring},
    {NULL, NULL},
};

/* registry: module type name -> its method table */
#define LSX_MODULE_TYPES "stylex.ModuleTypes"
/* registry: sx.nn.Module, the methods of every module */
#define LSX_MODULE_METHODS "stylex.ModuleMethods"

/* __index of module userdata (upvalue 1: sx.nn.Module, 2: the type tables). */
static int module_index(lua_State *L)
{
    lsx_module *ud = lua_touserdata(L, 1);
    if (ud->m && ud->m->type && lua_getfield(L, lua_upvalueindex(2), ud->m->type) == LUA_TTABLE) {
        lua_pushvalue(L, 2);
        lua_gettable(L, -2); /* the type's table falls back to sx.nn.Module */
        return 1;
    }
    lua_pushvalue(L, 2);
    lua_gettable(L, lua_upvalueindex(1));
    return 1;
}

void nn_open_module(lua_State *L)
{
    luaL_newmetatable(L, LSX_MODULE);
    luaL_setfuncs(L, module_metamethods, 0);
    lua_newtable(L);
    luaL_setfuncs(L, module_methods, 0);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, LSX_MODULE_METHODS);
    lua_pushvalue(L, -1);
    lua_setfield(L, -4, "Module"); /* sx.nn.Module */
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, LSX_MODULE_TYPES);
    lua_pushcclosure(L, module_index, 2);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

void lsx_add_module_methods(lua_State *L, const char *type, const char *name, const luaL_Reg *fns)
{
    lua_getfield(L, LUA_REGISTRYINDEX, LSX_MODULE_TYPES);
    if (lua_getfield(L, -1, type) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_createtable(L, 0, 1);
        lua_getfield(L, LUA_REGISTRYINDEX, LSX_MODULE_METHODS);
        lua_setfield(L, -2, "__index");
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, type);
    }
    luaL_setfuncs(L, fns, 0);
    if (name) { /* the module table is below the type tables and this table */
        lua_getfield(L, -3, "nn");
        lua_pushvalue(L, -2);
        lua_setfield(L, -2, name);
        lua_pop(L, 1);
    }
    lua_pop(L, 2);
}
