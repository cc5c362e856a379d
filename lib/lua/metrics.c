/*
 * lib/lua/metrics.c — the Lua face of stylex/metrics.h, in the table
 * sx.metrics:
 *
 *   sx.metrics.frechet_distance(a, b)   a [N, D], b [M, D] -> number
 *
 * The Fréchet distance between the Gaussians fitted to the rows of a and of
 * b (N, M >= 2, the same D <= 1024, finite values); computed in double
 * precision, not differentiable (a plain number).
 */
#include "lsx.h"

static int l_frechet_distance(lua_State *L)
{
    sx_tensor *a = lsx_check_tensor(L, 1);
    sx_tensor *b = lsx_check_tensor(L, 2);
    double out = 0;
    if (sx_frechet_distance(a, b, &out) != SX_OK) return lsx_fail(L, "frechet_distance");
    lua_pushnumber(L, out);
    return 1;
}

static const luaL_Reg metrics_fns[] = {
    {"frechet_distance", l_frechet_distance},
    {NULL, NULL},
};

void lsx_open_metrics(lua_State *L)
{
    lsx_register(L, "metrics", metrics_fns);
}
