/*
 * lib/lua/nn_layers.c — the layer constructors sx.nn.Linear and sx.nn.Conv2d,
 * and torch.nn's small layers (lib/nn/basic_layers.c): sx.nn.BatchNorm2d,
 * ReLU, LeakyReLU, MaxPool2d, AvgPool2d, Dropout, Flatten.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

/* ---------------------------------------------------------------- layers */

/* sx.nn.Linear{in=, out=, bias=true, equalized=false, lr_mul=1, bias_init=0, init_std=} */
int nn_linear(lua_State *L)
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
int nn_conv2d(lua_State *L)
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

/* ---------------------------------------------------------------- torch.nn's small layers */

/* The result of a constructor, pushed as a module userdata (the liolib way). */
static int finish_layer(lua_State *L, lsx_module *ud, const char *fn)
{
    if (!ud->m) return lsx_fail(L, fn);
    lsx_gc_pace(L);
    return 1;
}

/* sx.nn.BatchNorm2d(channels [, {eps = 1e-5, momentum = 0.1, affine = true}]) */
int nn_batchnorm2d(lua_State *L)
{
    static const char *const names[] = {"eps", "momentum", "affine", NULL};
    const char *fn = "BatchNorm2d";
    sx_batchnorm2d_opts o = {.channels = lsx_check_integer(L, 1, 1, (int64_t)1 << 24)};
    lsx_check_options(L, 2, fn, names, false);
    o.eps = (float)lsx_opt_number(L, 2, fn, "eps", 1e-5, true, false);
    o.momentum = (float)lsx_opt_number(L, 2, fn, "momentum", 0.1, true, false);
    o.no_affine = !lsx_opt_boolean(L, 2, fn, "affine", true);
    if (!(o.eps > 0)) lsx_arg_fail(L, 2, fn, "option 'eps' must be positive");
    if (!(o.momentum > 0 && o.momentum <= 1)) lsx_arg_fail(L, 2, fn, "option 'momentum' must be in (0, 1]");
    lsx_module *ud = lsx_new_module(L);
    ud->m = sx_batchnorm2d_layer_new(&o);
    return finish_layer(L, ud, fn);
}

int nn_relu(lua_State *L)
{
    lsx_module *ud = lsx_new_module(L);
    ud->m = sx_relu_layer_new();
    return finish_layer(L, ud, "ReLU");
}

/* sx.nn.LeakyReLU([slope = 0.01]): torch.nn's default slope (sx.leaky_relu's is StyleGAN's 0.2) */
int nn_leaky_relu(lua_State *L)
{
    float slope = lua_isnoneornil(L, 1) ? 0.01f : (float)lsx_check_number(L, 1);
    lsx_module *ud = lsx_new_module(L);
    ud->m = sx_leaky_relu_layer_new(slope);
    return finish_layer(L, ud, "LeakyReLU");
}

static int pool_layer(lua_State *L, bool avg, const char *fn)
{
    int k = (int)lsx_check_integer(L, 1, 1, 1 << 16);
    lsx_module *ud = lsx_new_module(L);
    ud->m = avg ? sx_avg_pool2d_layer_new(k) : sx_max_pool2d_layer_new(k);
    return finish_layer(L, ud, fn);
}

int nn_max_pool2d(lua_State *L) { return pool_layer(L, false, "MaxPool2d"); }
int nn_avg_pool2d(lua_State *L) { return pool_layer(L, true, "AvgPool2d"); }

/* sx.nn.Dropout([p = 0.5]) */
int nn_dropout(lua_State *L)
{
    double p = lua_isnoneornil(L, 1) ? 0.5 : lsx_check_number(L, 1);
    if (!(p >= 0 && p < 1)) luaL_argerror(L, 1, "probability must be in [0, 1)");
    lsx_module *ud = lsx_new_module(L);
    ud->m = sx_dropout_layer_new((float)p);
    return finish_layer(L, ud, "Dropout");
}

/* sx.nn.Flatten([start = 2 [, end = -1]]): dimensions 1-based as everywhere in Lua
 * (torch.nn.Flatten's 1, -1), so the batch dimension stays. */
int nn_flatten(lua_State *L)
{
    int64_t a = lua_isnoneornil(L, 1) ? 2 : lsx_check_integer(L, 1, -SX_MAX_DIMS, SX_MAX_DIMS);
    int64_t b = lua_isnoneornil(L, 2) ? -1 : lsx_check_integer(L, 2, -SX_MAX_DIMS, SX_MAX_DIMS);
    if (a == 0) luaL_argerror(L, 1, "dimension 0 is invalid (dimensions are 1-based; -1 is the last)");
    if (b == 0) luaL_argerror(L, 2, "dimension 0 is invalid (dimensions are 1-based; -1 is the last)");
    lsx_module *ud = lsx_new_module(L);
    ud->m = sx_flatten_layer_new(a > 0 ? (int)a - 1 : (int)a, b > 0 ? (int)b - 1 : (int)b);
    return finish_layer(L, ud, "Flatten");
}
