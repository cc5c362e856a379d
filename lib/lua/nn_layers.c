/*
 * lib/lua/nn_layers.c — the layer constructors sx.nn.Linear and sx.nn.Conv2d.
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
