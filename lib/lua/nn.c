/*
 * lib/lua/nn.c — Lua binding of modules, layers, optimisers and EMA:
 * sx.nn.Linear, sx.nn.Conv2d, the module userdata ("stylex.Module") and its
 * methods, sx.optim.Adam / sx.optim.SGD ("stylex.Optim"), sx.nn.ema_update,
 * sx.nn.copy_params, and the generic helpers (sx.nn.parameters,
 * named_parameters, state_dict, load_state_dict, zero_grad) that walk a Lua
 * table composed of modules and tensors.
 *
 * Walking a Lua module: a table's fields are visited in a stable order
 * (integer keys ascending, then string keys in byte order; keys starting with
 * '_' and values of other types are skipped); a stylex module contributes its
 * own dotted names; a tensor field is a parameter if it is a leaf requiring
 * grad. Names join the keys with '.' ("enc.fc.weight", "layers.2.bias"). A
 * table, module or tensor met twice is listed once, so shared parts and
 * back-references are harmless.
 *
 * C lists and arrays built during a call live in Lua userdata (a guard with
 * __gc for named tensor lists), so an error part way never leaks.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsx.h"

#define LSX_OPTIM "stylex.Optim"

/* Longest dotted name and deepest nesting a walk accepts. */
#define WALK_NAME_MAX 512
#define WALK_DEPTH_MAX 48

typedef struct lsx_optim {
    sx_optim *o; /* owned; NULL once freed */
} lsx_optim;

static void check_table(lua_State *L, int arg, const char *fn, const char *what)
{
    if (lua_type(L, arg) != LUA_TTABLE) lsx_arg_fail(L, arg, fn, "%s expected, got %s", what, luaL_typename(L, arg));
}

/* ---------------------------------------------------------------- named tensor guard */

static void clear_named(void *nt) { sx_named_tensors_clear(nt); }

/* Pushes an empty sx_named_tensors owned by Lua (a guard: cleared when collected). */
static sx_named_tensors *new_named(lua_State *L) { return lsx_guard_new(L, sizeof(sx_named_tensors), clear_named); }

/* Appends (name, retained t) or raises. */
static void named_push(lua_State *L, sx_named_tensors *nt, const char *name, sx_tensor *t, const char *fn)
{
    if (sx_named_tensors_push(nt, name, sx_tensor_retain(t)) != SX_OK) lsx_fail(L, fn);
}

/* Reads a table name -> tensor at idx into a new guarded list (pushed). */
static sx_named_tensors *check_tensor_map(lua_State *L, int idx, const char *fn)
{
    idx = lua_absindex(L, idx);
    check_table(L, idx, fn, "table of name = tensor");
    sx_named_tensors *nt = new_named(L);
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
static void push_copies_map(lua_State *L, const sx_named_tensors *nt, const char *fn)
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
    if (!m) {
        lsx_fail(L, fn);
        return;
    }
    lsx_push_protected(L, m, make_module_ud, drop_module);
    lsx_gc_pace(L);
}

static lsx_module *check_module_ud(lua_State *L, int idx)
{
    lsx_module *ud = luaL_testudata(L, idx, LSX_MODULE);
    if (!ud) luaL_typeerror(L, idx, "module");
    if (!ud->m) luaL_argerror(L, idx, "module has been freed");
    return ud;
}

sx_module *lsx_check_module(lua_State *L, int idx) { return check_module_ud(L, idx)->m; }

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

enum { WALK_PARAMS, WALK_STATE };

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
        sx_named_tensors *own = new_named(L);
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
static sx_named_tensors *collect(lua_State *L, int idx, int mode, const char *fn)
{
    idx = lua_absindex(L, idx);
    if (luaL_testudata(L, idx, LSX_MODULE)) check_module_ud(L, idx);
    else check_table(L, idx, fn, "module or table of modules");
    walk_ctx *c = lua_newuserdatauv(L, sizeof *c, 0); /* Lua-owned: the name buffer is large */
    c->mode = mode;
    c->fn = fn;
    c->name[0] = '\0';
    sx_named_tensors *nt = c->nt = new_named(L);
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
static int l_parameters(lua_State *L)
{
    collect(L, 1, WALK_PARAMS, "parameters");
    return 1;
}

/* sx.nn.named_parameters(obj) -> {name = tensor} */
static int l_named_parameters(lua_State *L)
{
    sx_named_tensors *nt = collect(L, 1, WALK_PARAMS, "named_parameters");
    int uds = lua_gettop(L);
    lua_createtable(L, 0, nt->n);
    for (int i = 0; i < nt->n; i++) {
        lua_rawgeti(L, uds, i + 1);
        lua_setfield(L, -2, nt->names[i]);
    }
    return 1;
}

/* sx.nn.state_dict(obj) -> {name = tensor}: copies of parameters and buffers */
static int l_state_dict(lua_State *L)
{
    sx_named_tensors *nt = collect(L, 1, WALK_STATE, "state_dict");
    push_copies_map(L, nt, "state_dict");
    return 1;
}

/* sx.nn.load_state_dict(obj, sd [, strict = true]) -> obj */
static int l_load_state_dict(lua_State *L)
{
    const char *fn = "load_state_dict";
    if (!lua_isnoneornil(L, 3) && lua_type(L, 3) != LUA_TBOOLEAN) lsx_arg_fail(L, 3, fn, "strict must be a boolean");
    bool strict = lua_isnoneornil(L, 3) || lua_toboolean(L, 3);
    check_table(L, 2, fn, "table of name = tensor");
    sx_named_tensors *live = collect(L, 1, WALK_STATE, "load_state_dict");
    sx_named_tensors *src = check_tensor_map(L, 2, "load_state_dict");
    if (sx_named_tensors_assign(live, src, strict, "load_state_dict") != SX_OK) return lsx_fail(L, "load_state_dict");
    lua_settop(L, 1);
    return 1;
}

/* sx.nn.zero_grad(obj) */
static int l_zero_grad(lua_State *L)
{
    sx_named_tensors *nt = collect(L, 1, WALK_PARAMS, "zero_grad");
    for (int i = 0; i < nt->n; i++) sx_tensor_zero_grad(nt->tensors[i]);
    return 0;
}

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
    check_table(L, idx, fn, "list of tensors or module");
    lua_Unsigned len = lua_rawlen(L, idx);
    if (len > (lua_Unsigned)1 << 30) lsx_arg_fail(L, idx, fn, "list too long");
    sx_tensor **ts = lua_newuserdatauv(L, (len ? len : 1) * sizeof *ts, 0);
    for (lua_Unsigned i = 0; i < len; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i + 1);
        lsx_tensor *ud = luaL_testudata(L, -1, LSX_TENSOR);
        if (!ud || !ud->t)
            lsx_arg_fail(L, idx, fn, "%s[%d] is %s, expected a tensor", what, (int)i + 1,
                     ud ? "a freed tensor" : luaL_typename(L, -1));
        ts[i] = ud->t;
        lua_pop(L, 1);
    }
    *n = (int)len;
    return ts;
}

/* Live (name, tensor) lists of two twins (modules, Lua modules); raises
 * unless the names and shapes agree. */
static void twins(lua_State *L, sx_named_tensors **a, sx_named_tensors **b, const char *fn)
{
    *a = collect(L, 1, WALK_STATE, fn);
    *b = collect(L, 2, WALK_STATE, fn);
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
static int l_ema_update(lua_State *L)
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
static int l_copy_params(lua_State *L)
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

/* ---------------------------------------------------------------- layers */

/* sx.nn.Linear{in=, out=, bias=true, equalized=false, lr_mul=1, bias_init=0, init_std=} */
static int l_linear(lua_State *L)
{
    static const char *const names[] = {"in", "out", "bias", "equalized", "lr_mul", "bias_init", "init_std", NULL};
    const char *fn = "Linear";
    lsx_check_options(L, 1, fn, names, true);
    sx_linear_opts o = {
        .in = lsx_opt_integer(L, 1, fn, "in", 0, 1, (int64_t)1 << 30, true),
        .out = lsx_opt_integer(L, 1, fn, "out", 0, 1, (int64_t)1 << 30, true),
        .no_bias = !lsx_opt_boolean(L, 1, fn, "bias", true),
        .equalized = lsx_opt_boolean(L, 1, fn, "equalized", false),
        .lr_mul = (float)lsx_opt_number(L, 1, fn, "lr_mul", 1.0, false, false),
        .bias_init = (float)lsx_opt_number(L, 1, fn, "bias_init", 0.0, false, false),
        .init_std = (float)lsx_opt_number(L, 1, fn, "init_std", 0.0, false, false),
    };
    if (!(o.lr_mul > 0)) lsx_arg_fail(L, 1, fn, "option 'lr_mul' must be positive");
    if (!(o.init_std >= 0)) lsx_arg_fail(L, 1, fn, "option 'init_std' must be >= 0");
    lsx_module *ud = lsx_new_module(L);
    ud->m = sx_linear_layer_new(&o);
    if (!ud->m) return lsx_fail(L, fn);
    lsx_gc_pace(L);
    return 1;
}

/* sx.nn.Conv2d{in=, out=, kernel=3, stride=1, padding=kernel//2, groups=1, bias=true,
 *              equalized=false, lr_mul=1, bias_init=0, init_std=} */
static int l_conv2d(lua_State *L)
{
    static const char *const names[] = {"in",        "out",    "kernel",    "stride",    "padding",  "groups",
                                        "bias",      "equalized", "lr_mul", "bias_init", "init_std", NULL};
    const char *fn = "Conv2d";
    lsx_check_options(L, 1, fn, names, true);
    sx_conv2d_layer_opts o = {
        .in = lsx_opt_integer(L, 1, fn, "in", 0, 1, (int64_t)1 << 24, true),
        .out = lsx_opt_integer(L, 1, fn, "out", 0, 1, (int64_t)1 << 24, true),
        .kernel = (int)lsx_opt_integer(L, 1, fn, "kernel", 3, 1, 1024, false),
        .stride = (int)lsx_opt_integer(L, 1, fn, "stride", 1, 1, 1024, false),
        .groups = (int)lsx_opt_integer(L, 1, fn, "groups", 1, 1, 1 << 24, false),
        .no_bias = !lsx_opt_boolean(L, 1, fn, "bias", true),
        .equalized = lsx_opt_boolean(L, 1, fn, "equalized", false),
        .lr_mul = (float)lsx_opt_number(L, 1, fn, "lr_mul", 1.0, false, false),
        .bias_init = (float)lsx_opt_number(L, 1, fn, "bias_init", 0.0, false, false),
        .init_std = (float)lsx_opt_number(L, 1, fn, "init_std", 0.0, false, false),
    };
    o.padding = (int)lsx_opt_integer(L, 1, fn, "padding", o.kernel / 2, 0, 1024, false);
    if (!(o.lr_mul > 0)) lsx_arg_fail(L, 1, fn, "option 'lr_mul' must be positive");
    if (!(o.init_std >= 0)) lsx_arg_fail(L, 1, fn, "option 'init_std' must be >= 0");
    if (o.in % o.groups || o.out % o.groups)
        lsx_arg_fail(L, 1, fn, "option 'groups' (%d) must divide 'in' (%I) and 'out' (%I)", o.groups, (lua_Integer)o.in,
                 (lua_Integer)o.out);
    lsx_module *ud = lsx_new_module(L);
    ud->m = sx_conv2d_layer_new(&o);
    if (!ud->m) return lsx_fail(L, fn);
    lsx_gc_pace(L);
    return 1;
}

/* ---------------------------------------------------------------- module methods */

static int m_free(lua_State *L)
{
    lsx_module *ud = luaL_checkudata(L, 1, LSX_MODULE);
    sx_module_free(ud->m);
    ud->m = NULL;
    return 0;
}

/* m(x) / m:forward(x) */
static int m_forward(lua_State *L)
{
    sx_module *m = lsx_check_module(L, 1);
    sx_tensor *x = lsx_check_tensor(L, 2);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_module_forward(m, x);
    return lsx_result(L, ud, "forward");
}

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
static int m_parameters(lua_State *L)
{
    check_module_ud(L, 1);
    return l_parameters(L);
}

static int m_named_parameters(lua_State *L)
{
    check_module_ud(L, 1);
    return l_named_parameters(L);
}

static int m_state_dict(lua_State *L)
{
    check_module_ud(L, 1);
    return l_state_dict(L);
}

static int m_load_state_dict(lua_State *L)
{
    check_module_ud(L, 1);
    return l_load_state_dict(L);
}

static int m_zero_grad(lua_State *L)
{
    check_module_ud(L, 1);
    return l_zero_grad(L);
}

static const luaL_Reg module_methods[] = {
    {"forward", m_forward},
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

/* ---------------------------------------------------------------- optimisers */

static sx_optim *check_optim(lua_State *L, int idx)
{
    lsx_optim *ud = luaL_checkudata(L, idx, LSX_OPTIM);
    if (!ud->o) luaL_argerror(L, idx, "optimiser has been freed");
    return ud->o;
}

/* A list of live tensors at list_idx (a table somewhere on the stack), for
 * argument arg; errors say which group and entry. Pushes the array. */
static sx_tensor **group_list(lua_State *L, int list_idx, int arg, int group, int *n, const char *fn)
{
    list_idx = lua_absindex(L, list_idx);
    lua_Unsigned len = lua_rawlen(L, list_idx);
    if (len > (lua_Unsigned)1 << 30) lsx_arg_fail(L, arg, fn, "list too long");
    sx_tensor **ts = lua_newuserdatauv(L, (len ? len : 1) * sizeof *ts, 0);
    for (lua_Unsigned i = 0; i < len; i++) {
        lua_rawgeti(L, list_idx, (lua_Integer)i + 1);
        lsx_tensor *ud = luaL_testudata(L, -1, LSX_TENSOR);
        if (!ud || !ud->t) {
            const char *got = ud ? "a freed tensor" : luaL_typename(L, -1);
            if (group) lsx_arg_fail(L, arg, fn, "group %d: params[%d] is %s, expected a tensor", group, (int)i + 1, got);
            lsx_arg_fail(L, arg, fn, "entry %d is %s, expected a tensor", (int)i + 1, got);
        }
        ts[i] = ud->t;
        lua_pop(L, 1);
    }
    *n = (int)len;
    return ts;
}

/* Reads argument 1 (a list of tensors, or a list of {params=, lr=} groups)
 * into a Lua-owned group array (pushed, with the tensor arrays kept alive in
 * a table pushed below it). zero_lr[g] tells groups given lr = 0 exactly. */
static sx_param_group *check_groups(lua_State *L, int *n_groups, bool **zero_lr, const char *fn)
{
    check_table(L, 1, fn, "list of tensors or of {params=, lr=} groups");
    lua_Unsigned len = lua_rawlen(L, 1);
    if (len == 0) lsx_arg_fail(L, 1, fn, "no parameters (expected a list of tensors or of {params=, lr=} groups)");
    lua_newtable(L); /* anchors the per-group arrays */
    int anchor = lua_gettop(L);
    lua_rawgeti(L, 1, 1);
    bool grouped = lua_type(L, -1) == LUA_TTABLE;
    lua_pop(L, 1);
    int ng = grouped ? (int)(len > 1 << 16 ? 1 << 16 : len) : 1;
    sx_param_group *groups = lua_newuserdatauv(L, (size_t)ng * sizeof *groups, 0);
    lua_rawseti(L, anchor, 0);
    *zero_lr = lua_newuserdatauv(L, (size_t)ng * sizeof **zero_lr, 0);
    lua_rawseti(L, anchor, -1);
    if (!grouped) {
        int n;
        sx_tensor **ts = group_list(L, 1, 1, 0, &n, fn);
        lua_rawseti(L, anchor, 1);
        groups[0] = (sx_param_group){n, ts, 0};
        (*zero_lr)[0] = false;
    } else {
        for (int g = 0; g < ng; g++) {
            lua_rawgeti(L, 1, g + 1);
            int gi = lua_gettop(L);
            if (lua_type(L, gi) != LUA_TTABLE)
                lsx_arg_fail(L, 1, fn, "group %d is %s, expected a table {params=, lr=}", g + 1, luaL_typename(L, gi));
            for (lua_pushnil(L); lua_next(L, gi); lua_pop(L, 1))
                if (lua_type(L, -2) != LUA_TSTRING ||
                    (strcmp(lua_tostring(L, -2), "params") != 0 && strcmp(lua_tostring(L, -2), "lr") != 0))
                    lsx_arg_fail(L, 1, fn, "group %d: unknown field (groups have 'params' and 'lr')", g + 1);
            if (lua_getfield(L, gi, "params") != LUA_TTABLE)
                lsx_arg_fail(L, 1, fn, "group %d: 'params' must be a list of tensors", g + 1);
            int n;
            sx_tensor **ts = group_list(L, -1, 1, g + 1, &n, fn);
            lua_rawseti(L, anchor, g + 1);
            lua_pop(L, 1);
            int type = lua_getfield(L, gi, "lr");
            double lr = 0;
            if (type != LUA_TNIL) {
                if (type != LUA_TNUMBER || !(lua_tonumber(L, -1) >= 0))
                    lsx_arg_fail(L, 1, fn, "group %d: 'lr' must be a number >= 0", g + 1);
                lr = lua_tonumber(L, -1);
            }
            lua_pop(L, 2);
            groups[g] = (sx_param_group){n, ts, (float)lr};
            (*zero_lr)[g] = type != LUA_TNIL && lr == 0;
        }
    }
    *n_groups = ng;
    return groups;
}

/* Finishes a constructor: ud->o set (or NULL), groups given lr 0 get it. */
static int optim_result(lua_State *L, lsx_optim *ud, int ng, const bool *zero_lr, const char *fn)
{
    if (!ud->o) return lsx_fail(L, fn);
    for (int g = 0; g < ng; g++)
        if (zero_lr[g]) sx_optim_set_lr(ud->o, g, 0.0f);
    return 1;
}

static lsx_optim *new_optim(lua_State *L)
{
    lsx_optim *ud = lua_newuserdatauv(L, sizeof *ud, 0);
    ud->o = NULL;
    luaL_setmetatable(L, LSX_OPTIM);
    return ud;
}

/* sx.optim.Adam(params_or_groups [, {lr=1e-3, betas={0.9, 0.999}, eps=1e-8,
 *               weight_decay=0, decoupled=false}]) */
static int l_adam(lua_State *L)
{
    static const char *const names[] = {"lr", "betas", "eps", "weight_decay", "decoupled", NULL};
    const char *fn = "Adam";
    lsx_check_options(L, 2, fn, names, false);
    sx_adam_opts o = sx_adam_defaults();
    if (!lua_isnoneornil(L, 2)) {
        o.lr = (float)lsx_opt_number(L, 2, fn, "lr", o.lr, false, false);
        o.eps = (float)lsx_opt_number(L, 2, fn, "eps", o.eps, false, false);
        o.weight_decay = (float)lsx_opt_number(L, 2, fn, "weight_decay", 0, false, false);
        o.decoupled = lsx_opt_boolean(L, 2, fn, "decoupled", false);
        int type = lua_getfield(L, 2, "betas");
        if (type != LUA_TNIL) {
            if (type != LUA_TTABLE || lua_rawlen(L, -1) != 2)
                lsx_arg_fail(L, 2, fn, "option 'betas' must be a list of two numbers");
            for (int k = 1; k <= 2; k++) {
                if (lua_rawgeti(L, -1, k) != LUA_TNUMBER)
                    lsx_arg_fail(L, 2, fn, "option 'betas' must be a list of two numbers");
                *(k == 1 ? &o.beta1 : &o.beta2) = (float)lua_tonumber(L, -1);
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
    }
    if (!(o.lr >= 0 && isfinite(o.lr))) lsx_arg_fail(L, 2, fn, "option 'lr' must be >= 0");
    if (!(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1)) lsx_arg_fail(L, 2, fn, "betas must be in [0, 1)");
    if (!(o.eps > 0 && isfinite(o.eps))) lsx_arg_fail(L, 2, fn, "option 'eps' must be > 0");
    if (!(o.weight_decay >= 0 && isfinite(o.weight_decay))) lsx_arg_fail(L, 2, fn, "option 'weight_decay' must be >= 0");
    int ng;
    bool *zero_lr;
    sx_param_group *groups = check_groups(L, &ng, &zero_lr, fn);
    lsx_optim *ud = new_optim(L);
    ud->o = sx_adam_new(ng, groups, &o);
    return optim_result(L, ud, ng, zero_lr, fn);
}

/* sx.optim.SGD(params_or_groups, {lr=, momentum=0, nesterov=false, weight_decay=0}) */
static int l_sgd(lua_State *L)
{
    static const char *const names[] = {"lr", "momentum", "nesterov", "weight_decay", NULL};
    const char *fn = "SGD";
    lsx_check_options(L, 2, fn, names, true);
    sx_sgd_opts o = {
        .lr = (float)lsx_opt_number(L, 2, fn, "lr", 0, false, true),
        .momentum = (float)lsx_opt_number(L, 2, fn, "momentum", 0, false, false),
        .nesterov = lsx_opt_boolean(L, 2, fn, "nesterov", false),
        .weight_decay = (float)lsx_opt_number(L, 2, fn, "weight_decay", 0, false, false),
    };
    if (!(o.lr >= 0 && isfinite(o.lr))) lsx_arg_fail(L, 2, fn, "option 'lr' must be >= 0");
    if (!(o.momentum >= 0 && o.momentum < 1)) lsx_arg_fail(L, 2, fn, "option 'momentum' must be in [0, 1)");
    if (o.nesterov && !(o.momentum > 0)) lsx_arg_fail(L, 2, fn, "nesterov needs momentum > 0");
    if (!(o.weight_decay >= 0 && isfinite(o.weight_decay))) lsx_arg_fail(L, 2, fn, "option 'weight_decay' must be >= 0");
    int ng;
    bool *zero_lr;
    sx_param_group *groups = check_groups(L, &ng, &zero_lr, fn);
    lsx_optim *ud = new_optim(L);
    ud->o = sx_sgd_new(ng, groups, &o);
    return optim_result(L, ud, ng, zero_lr, fn);
}

static int o_free(lua_State *L)
{
    lsx_optim *ud = luaL_checkudata(L, 1, LSX_OPTIM);
    sx_optim_free(ud->o);
    ud->o = NULL;
    return 0;
}

static int o_step(lua_State *L)
{
    sx_optim *o = check_optim(L, 1);
    if (sx_optim_step(o) != SX_OK) return lsx_error(L);
    lsx_gc_pace(L);
    return 0;
}

static int o_zero_grad(lua_State *L)
{
    sx_optim_zero_grad(check_optim(L, 1));
    return 0;
}

/* An optional 1-based group argument -> 0-based, or -1 (all) when absent. */
static int opt_group(lua_State *L, int idx, sx_optim *o, int absent)
{
    if (lua_isnoneornil(L, idx)) return absent;
    return (int)lsx_check_integer(L, idx, 1, sx_optim_num_groups(o)) - 1;
}

/* opt:set_lr(lr [, group]): one group (1-based) or all */
static int o_set_lr(lua_State *L)
{
    sx_optim *o = check_optim(L, 1);
    lua_Number lr = lsx_check_number(L, 2);
    luaL_argcheck(L, lr >= 0 && lr < HUGE_VAL, 2, "lr must be >= 0 and finite");
    if (sx_optim_set_lr(o, opt_group(L, 3, o, -1), (float)lr) != SX_OK) return lsx_error(L);
    return 0;
}

/* opt:get_lr([group = 1]) */
static int o_get_lr(lua_State *L)
{
    sx_optim *o = check_optim(L, 1);
    lua_pushnumber(L, sx_optim_get_lr(o, opt_group(L, 2, o, 0)));
    return 1;
}

static int o_num_groups(lua_State *L)
{
    lua_pushinteger(L, sx_optim_num_groups(check_optim(L, 1)));
    return 1;
}

/* opt:params([group = 1]) -> list of that group's tensors (new userdata each) */
static int o_params(lua_State *L)
{
    sx_optim *o = check_optim(L, 1);
    int n = 0;
    sx_tensor *const *ps = sx_optim_group_params(o, opt_group(L, 2, o, 0), &n);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lsx_tensor *ud = lsx_new_tensor(L);
        ud->t = sx_tensor_retain(ps[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* opt:state_dict() -> {name = tensor} (copies; see docs/nn.md for the names) */
static int o_state_dict(lua_State *L)
{
    sx_optim *o = check_optim(L, 1);
    sx_named_tensors *nt = new_named(L);
    if (sx_optim_state(o, nt) != SX_OK) return lsx_fail(L, "state_dict");
    push_copies_map(L, nt, "state_dict");
    return 1;
}

/* opt:load_state_dict(t) -> opt */
static int o_load_state_dict(lua_State *L)
{
    sx_optim *o = check_optim(L, 1);
    sx_named_tensors *nt = check_tensor_map(L, 2, "load_state_dict");
    if (sx_optim_load_state(o, nt) != SX_OK) return lsx_fail(L, "load_state_dict");
    lsx_gc_pace(L);
    lua_settop(L, 1);
    return 1;
}

static int o_tostring(lua_State *L)
{
    lsx_optim *ud = luaL_checkudata(L, 1, LSX_OPTIM);
    if (!ud->o) lua_pushliteral(L, "stylex.Optim (freed)");
    else {
        char buf[128];
        snprintf(buf, sizeof buf, "%s (%d groups, lr %g)", sx_optim_name(ud->o), sx_optim_num_groups(ud->o),
                 sx_optim_get_lr(ud->o, 0));
        lua_pushstring(L, buf);
    }
    return 1;
}

static const luaL_Reg optim_methods[] = {
    {"step", o_step},
    {"zero_grad", o_zero_grad},
    {"set_lr", o_set_lr},
    {"get_lr", o_get_lr},
    {"num_groups", o_num_groups},
    {"params", o_params},
    {"state_dict", o_state_dict},
    {"load_state_dict", o_load_state_dict},
    {"free", o_free},
    {NULL, NULL},
};

static const luaL_Reg optim_metamethods[] = {
    {"__gc", o_free},
    {"__close", o_free},
    {"__tostring", o_tostring},
    {NULL, NULL},
};

/* ---------------------------------------------------------------- registration */

static const luaL_Reg nn_fns[] = {
    {"Linear", l_linear},
    {"Conv2d", l_conv2d},
    {"parameters", l_parameters},
    {"named_parameters", l_named_parameters},
    {"state_dict", l_state_dict},
    {"load_state_dict", l_load_state_dict},
    {"zero_grad", l_zero_grad},
    {"ema_update", l_ema_update},
    {"copy_params", l_copy_params},
    {NULL, NULL},
};

static const luaL_Reg optim_fns[] = {
    {"Adam", l_adam},
    {"SGD", l_sgd},
    {NULL, NULL},
};

/* The sub-table `name` of the table at -1 (created if absent), pushed. */
static void subtable(lua_State *L, const char *name)
{
    if (lua_getfield(L, -1, name) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, name);
    }
}

/* A metatable with metamethods and an __index table of methods; the methods
 * table is left on the stack. */
static void new_class(lua_State *L, const char *tname, const luaL_Reg *meta, const luaL_Reg *methods)
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
    subtable(L, "nn");
    luaL_setfuncs(L, nn_fns, 0);
    new_class(L, LSX_MODULE, module_metamethods, module_methods);
    lua_setfield(L, -2, "Module"); /* sx.nn.Module: the methods of module userdata */
    lua_pop(L, 1);

    subtable(L, "optim");
    luaL_setfuncs(L, optim_fns, 0);
    new_class(L, LSX_OPTIM, optim_metamethods, optim_methods);
    lua_setfield(L, -2, "Optimizer"); /* sx.optim.Optimizer: the methods of optimisers */
    lua_pop(L, 1);
}
