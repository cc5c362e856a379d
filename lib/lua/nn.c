/*
 * lib/lua/nn.c — the sx.nn table and the walk over Lua modules: the generic
 * helpers sx.nn.parameters, named_parameters, state_dict, load_state_dict
 * and zero_grad that walk a Lua table composed of modules and tensors, the
 * named-tensor guards the nn binding files share, and the registration of
 * sx.nn (the layers of nn_layers.c, EMA of nn_ema.c, the module userdata of
 * nn_module.c) and sx.optim (optim.c).
 *
 * Walking a Lua module: a table's fields are visited in a stable order
 * (integer keys ascending, then string keys in byte order; keys starting with
 * '_' and values of other types are skipped); a stylex module contributes its
 * own dotted names; a tensor field is a parameter if it is a leaf requiring
 * grad. Names join the keys with '.' ("enc.fc.weight", "layers.2.bias"). A
 * table, module or tensor met twice is listed once, so shared parts and
 * back-references are harmless.
 *
 * C lists and arrays built during a call live in Lua userdata (a guard for
 * named tensor lists), so an error part way never leaks.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

void nn_check_table(lua_State *L, int arg, const char *fn, const char *what)
{
    if (lua_type(L, arg) != LUA_TTABLE) lsx_arg_fail(L, arg, fn, "%s expected, got %s", what, luaL_typename(L, arg));
}

/* ---------------------------------------------------------------- named tensor guard */

static void clear_named(void *nt) { sx_named_tensors_clear(nt); }

/* Pushes an empty sx_named_tensors owned by Lua (a guard: cleared when collected). */
sx_named_tensors *nn_new_named(lua_State *L) { return lsx_guard_new(L, sizeof(sx_named_tensors), clear_named); }

/* Appends (name, retained t) or raises. */
static void named_push(lua_State *L, sx_named_tensors *nt, const char *name, sx_tensor *t, const char *fn)
{
    if (sx_named_tensors_push(nt, name, sx_tensor_retain(t)) != SX_OK) lsx_fail(L, fn);
}

/* Reads a table name -> tensor at idx into a new guarded list (pushed). */
sx_named_tensors *nn_check_tensor_map(lua_State *L, int idx, const char *fn)
{
    idx = lua_absindex(L, idx);
    nn_check_table(L, idx, fn, "table of name = tensor");
    sx_named_tensors *nt = nn_new_named(L);
    for (lua_pushnil(L); lua_next(L, idx); lua_pop(L, 1)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            lsx_arg_fail(L, idx, fn, "keys must be names (strings), got a %s key", luaL_typename(L, -2));
        lsx_tensor *ud = luaL_testudata(L, -1, LSX_TENSOR);
        if (!ud || !ud->t)
            lsx_arg_fail(L, idx, fn, "entry '%s' is %s, expected a tensor", lua_tostring(L, -2),
                     ud ? "a freed tensor" : luaL_typename(L, -1));
        named_push(L, nt, lua_tostring(L, -2), ud->t, fn);
    }
    return nt;
}

/* Pushes a table name -> new tensor userdata holding a copy of each entry. */
void nn_push_copies_map(lua_State *L, const sx_named_tensors *nt, const char *fn)
{
    lua_createtable(L, 0, nt->n);
    for (int i = 0; i < nt->n; i++) {
        lsx_tensor *ud = lsx_new_tensor(L);
        ud->t = sx_tensor_copy(nt->tensors[i]);
        lsx_result(L, ud, fn);
        lua_setfield(L, -2, nt->names[i]);
    }
}

/* ---------------------------------------------------------------- module userdata */

/* Pushes the cached tensor userdata of the module at mod_idx for entry
 * `local` (its module-relative dotted name), making it if needed. */
static void push_cached_param(lua_State *L, int mod_idx, const char *local, sx_tensor *t)
{
    lua_getiuservalue(L, mod_idx, 1);
    lua_getfield(L, -1, local);
    lsx_tensor *ud = luaL_testudata(L, -1, LSX_TENSOR);
    if (!ud || ud->t != t) {
        lua_pop(L, 1);
        ud = lsx_new_tensor(L);
        ud->t = sx_tensor_retain(t);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, local);
    }
    lua_remove(L, -2);
}

/* ---------------------------------------------------------------- walking Lua modules */


typedef struct walk_ctx {
    int mode;                    /* WALK_PARAMS: trainable; WALK_STATE: also module buffers */
    int visited;                 /* stack index: set of values already listed */
    int uds;                     /* stack index: list of tensor userdata, parallel to nt */
    sx_named_tensors *nt;        /* full names and live tensors, in walk order */
    const char *fn;
    char name[WALK_NAME_MAX + 1];
} walk_ctx;

/* Marks the value at idx visited; false if it already was. */
static bool visit(lua_State *L, walk_ctx *c, int idx)
{
    lua_pushvalue(L, idx);
    if (lua_rawget(L, c->visited) != LUA_TNIL) {
        lua_pop(L, 1);
        return false;
    }
    lua_pop(L, 1);
    lua_pushvalue(L, idx);
    lua_pushboolean(L, 1);
    lua_rawset(L, c->visited);
    return true;
}

/* Records (c->name + suffix, t) with the userdata on top of the stack (popped). */
static void walk_add(lua_State *L, walk_ctx *c, size_t plen, const char *suffix, sx_tensor *t)
{
    lua_pushlightuserdata(L, t);
    if (lua_rawget(L, c->visited) != LUA_TNIL) {
        lua_pop(L, 2);
        return;
    }
    lua_pop(L, 1);
    lua_pushlightuserdata(L, t);
    lua_pushboolean(L, 1);
    lua_rawset(L, c->visited);
    size_t sl = strlen(suffix);
    if (plen + sl + 1 > WALK_NAME_MAX) luaL_error(L, "%s: parameter name '%s...' is too long", c->fn, c->name);
    char full[WALK_NAME_MAX + 2];
    memcpy(full, c->name, plen);
    size_t k = plen;
    if (plen && sl) full[k++] = '.';
    memcpy(full + k, suffix, sl + 1);
    named_push(L, c->nt, full, t, c->fn);
    lua_rawseti(L, c->uds, c->nt->n);
}

typedef struct walk_key {
    bool is_str;
    lua_Integer i;
    const char *s;  /* anchored by the table being walked */
} walk_key;

static int key_cmp(const void *a, const void *b)
{
    const walk_key *x = a, *y = b;
    if (x->is_str != y->is_str) return x->is_str ? 1 : -1;
    if (!x->is_str) return (x->i > y->i) - (x->i < y->i);
    return strcmp(x->s, y->s);
}

static void walk_value(lua_State *L, walk_ctx *c, int idx, size_t plen, int depth);

/* Walks the value on top of the stack under c->name extended by key (popped). */
static void walk_child(lua_State *L, walk_ctx *c, size_t plen, const char *key, int depth)
{
    size_t kl = strlen(key);
    if (plen + kl + 1 > WALK_NAME_MAX) luaL_error(L, "%s: parameter name '%s...' is too long", c->fn, c->name);
    size_t nl = plen;
    if (plen) c->name[nl++] = '.';
    memcpy(c->name + nl, key, kl + 1);
    walk_value(L, c, lua_gettop(L), nl + kl, depth + 1);
    c->name[plen] = '\0';
    lua_pop(L, 1);
}

static void walk_table(lua_State *L, walk_ctx *c, int idx, size_t plen, int depth)
{
    size_t n = 0;
    for (lua_pushnil(L); lua_next(L, idx); lua_pop(L, 1)) n++;
    walk_key *keys = lua_newuserdatauv(L, (n ? n : 1) * sizeof *keys, 0);
    size_t k = 0;
    for (lua_pushnil(L); lua_next(L, idx); lua_pop(L, 1)) {
        if (k == n) continue;
        if (lua_type(L, -2) == LUA_TNUMBER && lua_isinteger(L, -2))
            keys[k++] = (walk_key){false, lua_tointeger(L, -2), NULL};
        else if (lua_type(L, -2) == LUA_TSTRING && lua_tostring(L, -2)[0] != '_')
            keys[k++] = (walk_key){true, 0, lua_tostring(L, -2)};
    }
    qsort(keys, k, sizeof *keys, key_cmp);
    for (size_t i = 0; i < k; i++) {
        char buf[32];
        const char *key = keys[i].s;
        if (keys[i].is_str) {
            lua_pushstring(L, key);
            lua_rawget(L, idx);
        } else {
            lua_rawgeti(L, idx, keys[i].i);
            snprintf(buf, sizeof buf, "%lld", (long long)keys[i].i);
            key = buf;
        }
        walk_child(L, c, plen, key, depth);
    }
    lua_pop(L, 1);
}

static void walk_value(lua_State *L, walk_ctx *c, int idx, size_t plen, int depth)
{
    if (depth > WALK_DEPTH_MAX)
        luaL_error(L, "%s: modules nested deeper than %d at '%s'", c->fn, WALK_DEPTH_MAX, c->name);
    luaL_checkstack(L, 8, "module walk");
    lsx_tensor *tu = luaL_testudata(L, idx, LSX_TENSOR);
    if (tu) {
        if (tu->t && tu->t->requires_grad && !tu->t->grad_fn && plen) {
            lua_pushvalue(L, idx);
            walk_add(L, c, plen, "", tu->t);
        }
        return;
    }
    lsx_module *mu = luaL_testudata(L, idx, LSX_MODULE);
    if (mu) {
        if (!mu->m) luaL_error(L, "%s: module '%s' has been freed", c->fn, c->name);
        if (!visit(L, c, idx)) return;
        sx_named_tensors *own = nn_new_named(L);
        sx_status st = c->mode == WALK_PARAMS ? sx_module_parameters(mu->m, own) : sx_module_state_refs(mu->m, own);
        if (st != SX_OK) lsx_fail(L, c->fn);
        for (int i = 0; i < own->n; i++) {
            push_cached_param(L, idx, own->names[i], own->tensors[i]);
            walk_add(L, c, plen, own->names[i], own->tensors[i]);
        }
        sx_named_tensors_clear(own);
        lua_pop(L, 1);
        return;
    }
    if (lua_type(L, idx) == LUA_TTABLE && visit(L, c, idx)) walk_table(L, c, idx, plen, depth);
}

/* Walks obj (argument idx: a module or a table) and pushes the guarded list
 * of live (name, tensor) and the parallel list of tensor userdata. Returns
 * the list; the userdata list is on top, the guard below it. */
sx_named_tensors *nn_collect(lua_State *L, int idx, int mode, const char *fn)
{
    idx = lua_absindex(L, idx);
    if (luaL_testudata(L, idx, LSX_MODULE)) nn_check_module_ud(L, idx);
    else nn_check_table(L, idx, fn, "module or table of modules");
    walk_ctx *c = lua_newuserdatauv(L, sizeof *c, 0); /* Lua-owned: the name buffer is large */
    c->mode = mode;
    c->fn = fn;
    c->name[0] = '\0';
    sx_named_tensors *nt = c->nt = nn_new_named(L);
    lua_newtable(L);
    c->uds = lua_gettop(L);
    lua_newtable(L);
    c->visited = lua_gettop(L);
    walk_value(L, c, idx, 0, 0);
    lua_pop(L, 1);         /* visited */
    lua_remove(L, -3);     /* walk_ctx: leaves guard, uds */
    return nt;
}

/* sx.nn.parameters(obj) -> list of tensors (the live parameters) */
int nn_parameters(lua_State *L)
{
    nn_collect(L, 1, WALK_PARAMS, "parameters");
    return 1;
}

/* sx.nn.named_parameters(obj) -> {name = tensor} */
int nn_named_parameters(lua_State *L)
{
    sx_named_tensors *nt = nn_collect(L, 1, WALK_PARAMS, "named_parameters");
    int uds = lua_gettop(L);
    lua_createtable(L, 0, nt->n);
    for (int i = 0; i < nt->n; i++) {
        lua_rawgeti(L, uds, i + 1);
        lua_setfield(L, -2, nt->names[i]);
    }
    return 1;
}

/* sx.nn.state_dict(obj) -> {name = tensor}: copies of parameters and buffers */
int nn_state_dict(lua_State *L)
{
    sx_named_tensors *nt = nn_collect(L, 1, WALK_STATE, "state_dict");
    nn_push_copies_map(L, nt, "state_dict");
    return 1;
}

/* sx.nn.load_state_dict(obj, sd [, strict = true]) -> obj */
int nn_load_state_dict(lua_State *L)
{
    const char *fn = "load_state_dict";
    if (!lua_isnoneornil(L, 3) && lua_type(L, 3) != LUA_TBOOLEAN) lsx_arg_fail(L, 3, fn, "strict must be a boolean");
    bool strict = lua_isnoneornil(L, 3) || lua_toboolean(L, 3);
    nn_check_table(L, 2, fn, "table of name = tensor");
    sx_named_tensors *live = nn_collect(L, 1, WALK_STATE, "load_state_dict");
    sx_named_tensors *src = nn_check_tensor_map(L, 2, "load_state_dict");
    if (sx_named_tensors_assign(live, src, strict, "load_state_dict") != SX_OK) return lsx_fail(L, "load_state_dict");
    lua_settop(L, 1);
    return 1;
}

/* sx.nn.zero_grad(obj) */
int nn_zero_grad(lua_State *L)
{
    sx_named_tensors *nt = nn_collect(L, 1, WALK_PARAMS, "zero_grad");
    for (int i = 0; i < nt->n; i++) sx_tensor_zero_grad(nt->tensors[i]);
    return 0;
}

/* ---------------------------------------------------------------- registration */

static const luaL_Reg nn_fns[] = {
    {"Linear", nn_linear},
    {"Conv2d", nn_conv2d},
    {"BatchNorm2d", nn_batchnorm2d},
    {"ReLU", nn_relu},
    {"LeakyReLU", nn_leaky_relu},
    {"MaxPool2d", nn_max_pool2d},
    {"AvgPool2d", nn_avg_pool2d},
    {"Dropout", nn_dropout},
    {"Flatten", nn_flatten},
    {"parameters", nn_parameters},
    {"named_parameters", nn_named_parameters},
    {"state_dict", nn_state_dict},
    {"load_state_dict", nn_load_state_dict},
    {"zero_grad", nn_zero_grad},
    {"ema_update", nn_ema_update},
    {"copy_params", nn_copy_params},
    {NULL, NULL},
};

/* A metatable with metamethods and an __index table of methods; the methods
 * table is left on the stack. */
void nn_new_class(lua_State *L, const char *tname, const luaL_Reg *meta, const luaL_Reg *methods)
{
    luaL_newmetatable(L, tname);
    luaL_setfuncs(L, meta, 0);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "__index");
    lua_remove(L, -2);
}

void lsx_open_nn(lua_State *L)
{
    lsx_subtable(L, "nn");
    luaL_setfuncs(L, nn_fns, 0);
    nn_open_module(L); /* sx.nn.Module: the methods of every module userdata */
    lua_pop(L, 1);
    nn_open_optim(L); /* sx.optim */
}
