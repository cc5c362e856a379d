/*
 * lib/lua/module.c — luaopen_stylex: builds the module table `sx`, the
 * "stylex.Tensor" metatable (metamethods) and its separate methods table
 * (sx.Tensor), asks each binding file to register its functions, and puts the
 * Lua half of the library (lua/stylex/NAME.lua, compiled into the binary by
 * scripts/embed_lua.sh) into package.preload so that `require "stylex.foo"`
 * needs nothing but the .so.
 */
#include <string.h>

#include "lsx.h"

/* Generated into build/gen/lua_embedded.c; NULL-terminated. */
extern const struct sx_lua_source {
    const char *name;  /* "stylex.<file basename>" */
    const char *code;  /* the file's bytes */
    size_t len;
} sx_lua_sources[];

/* ---------------------------------------------------------------- tensor __index */

/* A number key is t[i] (lsx_tensor_index, tensor.c); methods come from the
 * methods table (upvalue 1); the field `grad` is the
 * gradient accumulated by backward (nil until backward reaches the tensor).
 * Each read of t.grad gives a new userdata holding its own reference to the
 * gradient tensor as it is at that moment. */
static int tensor_index(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TNUMBER) {
        lua_settop(L, 2);
        return lsx_tensor_index(L); /* t[i]: Torch7's slice along dimension 1 */
    }
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
    if (lua_type(L, 2) == LUA_TSTRING && strcmp(lua_tostring(L, 2), "grad") == 0) {
        lsx_tensor *self = luaL_checkudata(L, 1, LSX_TENSOR);
        if (!self->t) return luaL_error(L, "grad: tensor has been freed");
        if (!self->t->grad) return 1;
        lsx_tensor *ud = lsx_new_tensor(L);
        ud->t = sx_tensor_retain(self->t->grad);
    }
    return 1;
}

/* ---------------------------------------------------------------- module functions */

static int l_mem_live(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)sx_mem_live());
    return 1;
}

static int l_num_threads(lua_State *L)
{
    lua_pushinteger(L, sx_num_threads());
    return 1;
}

/* Clamped by the library to its maximum (see sx.num_threads() afterwards). */
static int l_set_num_threads(lua_State *L)
{
    sx_set_num_threads((int)lsx_check_integer(L, 1, 1, 1 << 16));
    return 0;
}

static int l_flops_reset(lua_State *L)
{
    sx_flops_reset();
    return 0;
}

/* GEMM FLOPs since the last sx.flops_reset() (a float: exact up to 2^53). */
static int l_flops_count(lua_State *L)
{
    lua_pushnumber(L, sx_flops_count());
    return 1;
}

/* GFLOP/s of a pooled 1024^3 sgemm, median of 5 after a warm-up, measured now:
 * the bar the benchmarks divide by (as tests/bench/bench_conv.c measures it). */
static int l_sgemm_peak(lua_State *L)
{
    double gflops = sx_sgemm_gflops(1024, 5);
    if (gflops <= 0.0) return lsx_fail(L, "sgemm_peak");
    lua_pushnumber(L, gflops);
    return 1;
}

/* Seconds on a monotonic clock (os.clock counts the CPU time of all threads). */
static int l_wall_time(lua_State *L)
{
    lua_pushnumber(L, sx_clock_seconds());
    return 1;
}

static const luaL_Reg module_fns[] = {
    {"mem_live", l_mem_live},
    {"num_threads", l_num_threads},
    {"set_num_threads", l_set_num_threads},
    {"flops_reset", l_flops_reset},
    {"flops_count", l_flops_count},
    {"sgemm_peak", l_sgemm_peak},
    {"wall_time", l_wall_time},
    {NULL, NULL},
};

/* ---------------------------------------------------------------- embedded Lua */

/* package.preload loader for one embedded source (upvalue 1). */
static int load_embedded(lua_State *L)
{
    const struct sx_lua_source *src = lua_touserdata(L, lua_upvalueindex(1));
    const char *base = strncmp(src->name, "stylex.", 7) == 0 ? src->name + 7 : src->name;
    lua_pushfstring(L, "@lua/stylex/%s.lua", base);
    if (luaL_loadbufferx(L, src->code, src->len, lua_tostring(L, -1), "t") != LUA_OK) return lua_error(L);
    lua_pushstring(L, src->name);
    lua_pushliteral(L, ":embedded:");
    lua_call(L, 2, 1);
    return 1;
}

static void preload_embedded(lua_State *L)
{
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    for (const struct sx_lua_source *s = sx_lua_sources; s->name; s++) {
        lua_pushlightuserdata(L, (void *)s);
        lua_pushcclosure(L, load_embedded, 1);
        lua_setfield(L, -2, s->name);
    }
    lua_pop(L, 1);
}

/* Runs the embedded source `name` with the module table (at -1) as its
 * argument: the parts of sx written in Lua add themselves to it. */
static void run_embedded(lua_State *L, const char *name)
{
    for (const struct sx_lua_source *s = sx_lua_sources; s->name; s++) {
        if (strcmp(s->name, name) != 0) continue;
        const char *base = s->name + 7;
        lua_pushfstring(L, "@lua/stylex/%s.lua", base);
        if (luaL_loadbufferx(L, s->code, s->len, lua_tostring(L, -1), "t") != LUA_OK) lua_error(L);
        lua_remove(L, -2);
        lua_pushvalue(L, -2);
        lua_call(L, 1, 0);
        return;
    }
    luaL_error(L, "stylex: embedded source %s is missing", name);
}

void lsx_preload(lua_State *L)
{
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_stylex);
    lua_setfield(L, -2, "stylex");
    lua_pop(L, 1);
    preload_embedded(L);
}

/* ---------------------------------------------------------------- luaopen */

int luaopen_stylex(lua_State *L)
{
    luaL_checkversion(L);
    lua_newtable(L);                   /* sx */
    lua_newtable(L);                   /* methods */
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "Tensor");     /* sx.Tensor = methods */
    luaL_newmetatable(L, LSX_TENSOR);  /* metamethods only */
    lua_pushvalue(L, -2);
    lua_pushcclosure(L, tensor_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 2);

    luaL_setfuncs(L, module_fns, 0);
    lua_pushliteral(L, STYLEX_VERSION);
    lua_setfield(L, -2, "version");
    lsx_open_tensor(L);
    lsx_open_ops(L);
    lsx_open_shape_ops(L);
    lsx_open_autograd(L);
    lsx_open_io(L);
    lsx_open_image(L);
    lsx_open_nn(L);
    lsx_open_classifier(L);
    lsx_open_models(L);
    lsx_open_metrics(L);
    lsx_open_model_file(L);
    lsx_open_attfind(L);
    lsx_open_shapes(L);
    preload_embedded(L);
    run_embedded(L, "stylex.nn_modules"); /* sx.nn.Sequential, written in Lua */
    lsx_open_dist(L); /* last: under mpirun it wraps sx.attfind.effects (stylex.dist) */
    return 1;
}
