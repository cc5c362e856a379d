/*
 * lib/lua/shapes.c — sx.shapes: the benchmark's sampler, label rule and
 * renderer (include/stylex/shapes.h) over factor tensors [N, F], F =
 * #sx.shapes.factors, columns in that order. stylex.data builds data sets on it.
 */
#include <stdint.h>
#include <stdlib.h>

#include "lsx.h"
#include "stylex/shapes.h"

/* The factor tensor at idx: contiguous [N, SX_SHAPES_N_FACTORS]. */
static sx_tensor *check_factors(lua_State *L, int idx, const char *fn)
{
    sx_tensor *t = lsx_check_tensor(L, idx);
    if (t->ndim != 2 || t->shape[1] != SX_SHAPES_N_FACTORS)
        luaL_error(L, "bad argument #%d to '%s' (factor tensor [N, %d] expected)", idx, fn, SX_SHAPES_N_FACTORS);
    return t;
}

static void read_row(const sx_tensor *t, int64_t i, sx_shapes_factors *f)
{
    for (int k = 0; k < SX_SHAPES_N_FACTORS; k++) {
        int64_t at[2] = {i, k};
        f->v[k] = sx_tensor_get(t, at);
    }
}

/* sx.shapes.sample(seed, first, n, marker_if_1, marker_if_0) -> factors [n, F]
 * for images first .. first+n-1 (0-based indices) of the seed's stream. */
static int l_sample(lua_State *L)
{
    int64_t seed = lsx_check_integer(L, 1, 0, INT64_MAX);
    int64_t first = lsx_check_integer(L, 2, 0, INT64_MAX / 2);
    int64_t n = lsx_check_integer(L, 3, 1, 10000000);
    double m1 = lsx_check_number(L, 4), m0 = lsx_check_number(L, 5);
    luaL_argcheck(L, m1 >= 0 && m1 <= 1, 4, "marker probability in [0, 1] expected");
    luaL_argcheck(L, m0 >= 0 && m0 <= 1, 5, "marker probability in [0, 1] expected");
    lsx_tensor *ud = lsx_new_tensor(L);
    int64_t shape[2] = {n, SX_SHAPES_N_FACTORS};
    ud->t = sx_tensor_empty(2, shape);
    if (ud->t) {
        float *d = sx_tensor_data(ud->t);
        for (int64_t i = 0; i < n; i++) {
            sx_shapes_factors f;
            sx_shapes_sample((uint64_t)seed, first + i, m1, m0, &f);
            for (int k = 0; k < SX_SHAPES_N_FACTORS; k++) d[i * SX_SHAPES_N_FACTORS + k] = (float)f.v[k];
        }
    }
    return lsx_result(L, ud, "shapes.sample");
}

/* sx.shapes.render(factors [N, F]) -> images [N, 1, 32, 32] in [0, 1] */
static int l_render(lua_State *L)
{
    sx_tensor *ft = check_factors(L, 1, "render");
    int64_t n = ft->shape[0];
    lsx_tensor *ud = lsx_new_tensor(L);
    int64_t shape[4] = {n, 1, SX_SHAPES_RES, SX_SHAPES_RES};
    ud->t = sx_tensor_empty(4, shape);
    if (!ud->t) return lsx_fail(L, "shapes.render");
    float *d = sx_tensor_data(ud->t);
    for (int64_t i = 0; i < n; i++) {
        sx_shapes_factors f;
        read_row(ft, i, &f);
        if (sx_shapes_render(&f, d + i * SX_SHAPES_RES * SX_SHAPES_RES) != SX_OK)
            return luaL_error(L, "shapes.render: row %d: %s", (int)(i + 1), sx_last_error());
    }
    lsx_gc_pace(L);
    return 1;
}

/* sx.shapes.label(factors [N, F]) -> labels [N] (0 or 1) */
static int l_label(lua_State *L)
{
    sx_tensor *ft = check_factors(L, 1, "label");
    int64_t n = ft->shape[0];
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_tensor_empty(1, &n);
    if (ud->t) {
        float *d = sx_tensor_data(ud->t);
        for (int64_t i = 0; i < n; i++) {
            sx_shapes_factors f;
            read_row(ft, i, &f);
            d[i] = (float)sx_shapes_label(&f);
        }
    }
    return lsx_result(L, ud, "shapes.label");
}

static const luaL_Reg shapes_fns[] = {
    {"sample", l_sample},
    {"render", l_render},
    {"label", l_label},
    {NULL, NULL},
};

/* sx.shapes = {sample, render, label, factors = {names}, ranges = {name = {lo, hi, discrete}}} */
void lsx_open_shapes(lua_State *L)
{
    lua_newtable(L);
    luaL_setfuncs(L, shapes_fns, 0);
    lua_createtable(L, SX_SHAPES_N_FACTORS, 0);
    lua_createtable(L, 0, SX_SHAPES_N_FACTORS);
    for (int k = 0; k < SX_SHAPES_N_FACTORS; k++) {
        lua_pushstring(L, sx_shapes_factor_name(k));
        lua_rawseti(L, -3, k + 1);
        double lo, hi;
        sx_shapes_factor_range(k, &lo, &hi);
        lua_createtable(L, 0, 3);
        lua_pushnumber(L, lo);
        lua_setfield(L, -2, "lo");
        lua_pushnumber(L, hi);
        lua_setfield(L, -2, "hi");
        lua_pushboolean(L, sx_shapes_factor_is_discrete(k));
        lua_setfield(L, -2, "discrete");
        lua_setfield(L, -2, sx_shapes_factor_name(k));
    }
    lua_setfield(L, -3, "ranges");
    lua_setfield(L, -2, "factors");
    lua_setfield(L, -2, "shapes");
}
