/*
 * lib/lua/optim.c — sx.optim.Adam and sx.optim.SGD, and the optimiser
 * userdata ("stylex.Optim", methods in sx.optim.Optimizer): parameter
 * groups, step, learning rates, state dicts.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

#define LSX_OPTIM "stylex.Optim"

typedef struct lsx_optim {
    sx_optim *o; /* owned; NULL once freed */
} lsx_optim;

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
    char label[40];
    if (group) snprintf(label, sizeof label, "group %d: params", group);
    return lsx_tensor_array(L, list_idx, arg, fn, group ? label : NULL, n);
}

/* Reads argument 1 (a list of tensors, or a list of {params=, lr=} groups)
 * into a Lua-owned group array (pushed, with the tensor arrays kept alive in
 * a table pushed below it). zero_lr[g] tells groups given lr = 0 exactly. */
static sx_param_group *check_groups(lua_State *L, int *n_groups, bool **zero_lr, const char *fn)
{
    nn_check_table(L, 1, fn, "list of tensors or of {params=, lr=} groups");
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

/* The options every optimiser has. */
static void check_rates(lua_State *L, const char *fn, float lr, float weight_decay)
{
    if (!(lr >= 0 && isfinite(lr))) lsx_arg_fail(L, 2, fn, "option 'lr' must be >= 0");
    if (!(weight_decay >= 0 && isfinite(weight_decay))) lsx_arg_fail(L, 2, fn, "option 'weight_decay' must be >= 0");
}

/* The optimiser over the parameter groups at argument 1, made by make(opts). */
typedef sx_optim *(*optim_new)(int n_groups, const sx_param_group *groups, const void *opts);
static int build(lua_State *L, const char *fn, optim_new make, const void *opts)
{
    int ng;
    bool *zero_lr;
    sx_param_group *groups = check_groups(L, &ng, &zero_lr, fn);
    lsx_optim *ud = new_optim(L);
    ud->o = make(ng, groups, opts);
    return optim_result(L, ud, ng, zero_lr, fn);
}

static sx_optim *adam_new(int n, const sx_param_group *g, const void *o) { return sx_adam_new(n, g, o); }
static sx_optim *sgd_new(int n, const sx_param_group *g, const void *o) { return sx_sgd_new(n, g, o); }

/* sx.optim.Adam(params_or_groups [, {lr=1e-3, betas={0.9, 0.999}, eps=1e-8,
 *               weight_decay=0, decoupled=false}]) */
static int nn_adam(lua_State *L)
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
    check_rates(L, fn, o.lr, o.weight_decay);
    if (!(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1)) lsx_arg_fail(L, 2, fn, "betas must be in [0, 1)");
    if (!(o.eps > 0 && isfinite(o.eps))) lsx_arg_fail(L, 2, fn, "option 'eps' must be > 0");
    return build(L, fn, adam_new, &o);
}

/* sx.optim.SGD(params_or_groups, {lr=, momentum=0, nesterov=false, weight_decay=0}) */
static int nn_sgd(lua_State *L)
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
    check_rates(L, fn, o.lr, o.weight_decay);
    if (!(o.momentum >= 0 && o.momentum < 1)) lsx_arg_fail(L, 2, fn, "option 'momentum' must be in [0, 1)");
    if (o.nesterov && !(o.momentum > 0)) lsx_arg_fail(L, 2, fn, "nesterov needs momentum > 0");
    return build(L, fn, sgd_new, &o);
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
    sx_named_tensors *nt = nn_new_named(L);
    if (sx_optim_state(o, nt) != SX_OK) return lsx_fail(L, "state_dict");
    nn_push_copies_map(L, nt, "state_dict");
    return 1;
}

/* opt:load_state_dict(t) -> opt */
static int o_load_state_dict(lua_State *L)
{
    sx_optim *o = check_optim(L, 1);
    sx_named_tensors *nt = nn_check_tensor_map(L, 2, "load_state_dict");
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

static const luaL_Reg optim_fns[] = {
    {"Adam", nn_adam},
    {"SGD", nn_sgd},
    {NULL, NULL},
};

void nn_open_optim(lua_State *L)
{
    lsx_subtable(L, "optim");
    luaL_setfuncs(L, optim_fns, 0);
    nn_new_class(L, LSX_OPTIM, optim_metamethods, optim_methods);
    lua_setfield(L, -2, "Optimizer"); /* sx.optim.Optimizer: the methods of optimisers */
    lua_pop(L, 1);
}
