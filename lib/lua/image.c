/*
 * lib/lua/image.c — the Lua face of stylex/image.h, added to the table
 * sx.image (which lib/lua/io.c fills with load and save):
 *
 *   sx.image.resize(t, {h, w})               area-average down / bilinear up
 *   sx.image.to_unit(t, lo, hi)              [lo, hi] -> [0, 1], clamped
 *   sx.image.text(img, x, y, str, {color=, scale=})   draws in place, returns img
 *   sx.image.text_size(str [, scale])        width, height in pixels
 *   sx.image.grid(images, {ncol=, pad=, pad_value=, captions=, range=, scale=,
 *                          text_color=, text_scale=})   one [C, H, W] in [0, 1]
 *
 * Pixel coordinates are 1-based like every position in the Lua API. Every
 * argument is checked before C runs; intermediate tensors of grid are owned
 * by Lua userdata, so an error part way leaks nothing.
 */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "lsx.h"

/* ---------------------------------------------------------------- option helpers */

/* A finite value that stays finite as a float. */
static bool finite_number(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TNUMBER && isfinite(lua_tonumber(L, idx)) && fabs(lua_tonumber(L, idx)) <= 1e30;
}

/* Pushes field `name` of the options table at idx (nil if idx is nil/none). */
static int get_opt(lua_State *L, int idx, const char *name)
{
    if (lua_isnoneornil(L, idx)) {
        lua_pushnil(L);
        return LUA_TNIL;
    }
    return lua_getfield(L, idx, name);
}

/* Integer option in [lo, hi], def when absent. */
static lua_Integer opt_int(lua_State *L, int idx, const char *name, lua_Integer lo, lua_Integer hi, lua_Integer def)
{
    return lsx_opt_integer(L, idx, NULL, name, def, lo, hi, false);
}

/* Finite number option, def when absent. */
static double opt_number(lua_State *L, int idx, const char *name, double def)
{
    return lsx_opt_number(L, idx, NULL, name, def, true, false);
}

/* Reads a colour option (a number, or a table of exactly C numbers) into a
 * Lua-owned array of C floats left on the stack; returns NULL when absent. */
static float *opt_color(lua_State *L, int idx, const char *name, int64_t C)
{
    int type = get_opt(L, idx, name);
    if (type == LUA_TNIL) {
        lua_pop(L, 1);
        return NULL;
    }
    int v = lua_gettop(L);
    if (type == LUA_TTABLE && (int64_t)lua_rawlen(L, v) == C) {
        for (int64_t c = 0; c < C; c++) {
            lua_rawgeti(L, v, (lua_Integer)c + 1);
            if (!finite_number(L, -1))
                luaL_argerror(L, idx, lua_pushfstring(L, "option '%s': entry #%I is not a finite number", name,
                                                      (lua_Integer)c + 1));
            lua_pop(L, 1);
        }
    } else if (!finite_number(L, v)) {
        const char *got = type == LUA_TTABLE ? lua_pushfstring(L, "a table of %I entries", (lua_Integer)lua_rawlen(L, v))
                                             : luaL_typename(L, v);
        luaL_argerror(L, idx, lua_pushfstring(L, "option '%s' must be a finite number or a table of %I (one per "
                                                 "channel), got %s", name, (lua_Integer)C, got));
    }
    float *out = lua_newuserdatauv(L, (size_t)C * sizeof *out, 0);
    for (int64_t c = 0; c < C; c++) {
        if (type == LUA_TTABLE) lua_rawgeti(L, v, (lua_Integer)c + 1);
        else lua_pushvalue(L, v);
        out[c] = (float)lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    lua_remove(L, v);
    return out;
}

/* Option 'range' = {lo, hi} (two different finite numbers); unchanged when absent. */
static void opt_range(lua_State *L, int idx, float *lo, float *hi)
{
    if (get_opt(L, idx, "range") == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    bool ok = lua_type(L, -1) == LUA_TTABLE && lua_rawlen(L, -1) == 2;
    double v[2] = {0, 0};
    for (int k = 0; ok && k < 2; k++) {
        lua_rawgeti(L, -1, k + 1);
        ok = finite_number(L, -1);
        v[k] = lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    if (!ok || v[0] == v[1]) luaL_argerror(L, idx, "option 'range' must be {lo, hi}: two different finite numbers");
    lua_pop(L, 1);
    *lo = (float)v[0];
    *hi = (float)v[1];
}

/* ---------------------------------------------------------------- resize, to_unit */

/* sx.image.resize(t, {h, w}) -> t resampled to h x w ([C,h,w] or [N,C,h,w]) */
static int l_resize(lua_State *L)
{
    sx_tensor *x = lsx_check_tensor(L, 1);
    int64_t size[SX_MAX_DIMS];
    int n = lsx_check_shape(L, 2, size, SX_MAX_DIMS);
    if (n != 2) luaL_argerror(L, 2, lua_pushfstring(L, "size must be {h, w}, got %d entries", n));
    for (int i = 0; i < 2; i++)
        if (size[i] < 1 || size[i] > SX_IMAGE_MAX_SIDE)
            luaL_argerror(L, 2, lua_pushfstring(L, "size %I x %I: sides must be in 1..%I", (lua_Integer)size[0],
                                                (lua_Integer)size[1], (lua_Integer)SX_IMAGE_MAX_SIDE));
    if (x->ndim != 3 && x->ndim != 4) {
        char buf[96];
        luaL_argerror(L, 1, lua_pushfstring(L, "image [C, H, W] or batch [N, C, H, W] expected, got shape %s",
                                            sx_shape_str(x, buf, sizeof buf)));
    }
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_image_resize(x, size[0], size[1]);
    return lsx_result(L, ud, "resize");
}

/* Reads lo, hi at idx, idx + 1 (finite, different). */
static void check_range_args(lua_State *L, int idx, float *lo, float *hi)
{
    double a = lsx_check_number(L, idx), b = lsx_check_number(L, idx + 1);
    if (!finite_number(L, idx)) luaL_argerror(L, idx, "lo must be finite");
    if (!finite_number(L, idx + 1)) luaL_argerror(L, idx + 1, "hi must be finite");
    if (a == b) luaL_argerror(L, idx + 1, "hi must differ from lo");
    *lo = (float)a;
    *hi = (float)b;
}

/* sx.image.to_unit(t, lo, hi) -> (t - lo) / (hi - lo) clamped to [0, 1] */
static int l_to_unit(lua_State *L)
{
    sx_tensor *x = lsx_check_tensor(L, 1);
    float lo, hi;
    check_range_args(L, 2, &lo, &hi);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_image_to_unit(x, lo, hi);
    return lsx_result(L, ud, "to_unit");
}

/* ---------------------------------------------------------------- text */

#define COORD_LIMIT ((int64_t)1 << 31)

/* sx.image.text(img, x, y, str, {color=, scale=}) -> img, with str drawn at
 * column x, row y (1-based, top-left corner of the text). color: a number or
 * one number per channel (default 1); scale: 1..64 (default 1). */
static int l_text(lua_State *L)
{
    static const char *const names[] = {"color", "scale", NULL};
    sx_tensor *img = lsx_check_tensor(L, 1);
    int64_t x = lsx_check_integer(L, 2, -COORD_LIMIT, COORD_LIMIT);
    int64_t y = lsx_check_integer(L, 3, -COORD_LIMIT, COORD_LIMIT);
    if (lua_type(L, 4) != LUA_TSTRING) luaL_typeerror(L, 4, "string");
    const char *text = lua_tostring(L, 4);
    lsx_check_opts(L, 5, names);
    lua_settop(L, 5);
    if (img->ndim != 3) {
        char buf[96];
        luaL_argerror(L, 1, lua_pushfstring(L, "image [C, H, W] expected, got shape %s",
                                            sx_shape_str(img, buf, sizeof buf)));
    }
    int scale = (int)opt_int(L, 5, "scale", 1, SX_IMAGE_MAX_TEXT_SCALE, 1);
    float *color = opt_color(L, 5, "color", img->shape[0]);
    if (!color) {
        color = lua_newuserdatauv(L, (size_t)img->shape[0] * sizeof *color, 0);
        for (int64_t c = 0; c < img->shape[0]; c++) color[c] = 1.0f;
    }
    if (sx_image_draw_text(img, x - 1, y - 1, text, color, scale) != SX_OK) return lsx_fail(L, "text");
    lua_pushvalue(L, 1);
    return 1;
}

/* sx.image.text_size(str [, scale]) -> width, height in pixels */
static int l_text_size(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TSTRING) luaL_typeerror(L, 1, "string");
    int scale = lua_isnoneornil(L, 2) ? 1 : (int)lsx_check_integer(L, 2, 1, SX_IMAGE_MAX_TEXT_SCALE);
    const char *text = lua_tostring(L, 1);
    lua_pushinteger(L, (lua_Integer)sx_image_text_width(text, scale));
    lua_pushinteger(L, (lua_Integer)sx_image_text_height(text, scale));
    return 2;
}

/* ---------------------------------------------------------------- grid */

/* Stores a new reference in a fresh userdata appended to the keep table
 * (so Lua owns it); raises "grid: <message>" if t is NULL. */
static sx_tensor *keep_tensor(lua_State *L, int keep, sx_tensor *t)
{
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = t;
    if (!t) lsx_fail(L, "grid");
    lua_rawseti(L, keep, (lua_Integer)lua_rawlen(L, keep) + 1);
    lsx_gc_pace(L);
    return t;
}

/* sx.image.grid(images, opts) -> [C, H, W] in [0, 1]. images: a list of
 * [C, H, W] tensors, or one [N, C, H, W] (or [C, H, W]) tensor. */
static int l_grid(lua_State *L)
{
    static const char *const names[] = {"ncol",  "pad",   "pad_value",  "captions",   "range",
                                        "scale", "text_color", "text_scale", NULL};
    char buf[96];
    lsx_check_opts(L, 2, names);
    lua_settop(L, 2);

    /* the images: cells[i] borrowed from the argument, or views of a batch (below) */
    int n;
    sx_tensor **cells;
    sx_tensor *batch = NULL;
    if (luaL_testudata(L, 1, LSX_TENSOR)) {
        batch = lsx_check_tensor(L, 1);
        if (batch->ndim != 3 && batch->ndim != 4)
            luaL_argerror(L, 1, lua_pushfstring(L, "tensor [N, C, H, W] or [C, H, W] expected, got shape %s",
                                                sx_shape_str(batch, buf, sizeof buf)));
        if (sx_tensor_numel(batch) == 0 || batch->shape[0] > INT_MAX)
            luaL_argerror(L, 1, lua_pushfstring(L, "%s images (shape %s)", batch->shape[0] ? "too many" : "no",
                                                sx_shape_str(batch, buf, sizeof buf)));
        n = batch->ndim == 4 ? (int)batch->shape[0] : 1;
        cells = NULL;
    } else {
        if (lua_type(L, 1) != LUA_TTABLE) luaL_typeerror(L, 1, "list of tensors or a tensor");
        cells = lsx_check_tensor_list(L, 1, &n);
        for (int i = 0; i < n; i++)
            if (cells[i]->ndim != 3 || sx_tensor_numel(cells[i]) == 0)
                luaL_argerror(L, 1, lua_pushfstring(L, "element #%d has shape %s, expected a non-empty image [C, H, W]",
                                                    i + 1, sx_shape_str(cells[i], buf, sizeof buf)));
    }
    /* channels of the result: all equal, or grey and RGB mixed into RGB */
    int64_t C = batch ? batch->shape[batch->ndim - 3] : cells[0]->shape[0];
    for (int i = 1; !batch && i < n; i++) {
        int64_t c0 = cells[0]->shape[0], ci = cells[i]->shape[0];
        if (ci == c0) continue;
        if ((c0 != 1 && c0 != 3) || (ci != 1 && ci != 3))
            luaL_argerror(L, 1, lua_pushfstring(L, "element #1 has %I channels and element #%d %I: all must have the "
                                                   "same count, or each 1 (grey) or 3 (RGB)",
                                                (lua_Integer)c0, i + 1, (lua_Integer)ci));
        C = 3;
    }

    /* the options */
    int ncol = (int)opt_int(L, 2, "ncol", 1, INT_MAX, 0);
    int pad = (int)opt_int(L, 2, "pad", 0, 65536, 2);
    float pad_value = (float)opt_number(L, 2, "pad_value", 1.0);
    int scale = (int)opt_int(L, 2, "scale", 1, 64, 1);
    int text_scale = (int)opt_int(L, 2, "text_scale", 1, SX_IMAGE_MAX_TEXT_SCALE, 1);
    float lo = -1, hi = 1;
    opt_range(L, 2, &lo, &hi);
    float *text_color = opt_color(L, 2, "text_color", C); /* stays on the stack */

    /* captions: strings (numbers are converted), false or "" for none */
    const char **caps = NULL;
    int kept_strings = 0;
    if (get_opt(L, 2, "captions") != LUA_TNIL) {
        int ct = lua_gettop(L);
        if (lua_type(L, ct) != LUA_TTABLE)
            luaL_argerror(L, 2, lua_pushfstring(L, "option 'captions' must be a list of strings, got %s",
                                                luaL_typename(L, ct)));
        if (lua_rawlen(L, ct) > (lua_Unsigned)n)
            luaL_argerror(L, 2, lua_pushfstring(L, "option 'captions' has %I entries for %d images",
                                                (lua_Integer)lua_rawlen(L, ct), n));
        caps = lua_newuserdatauv(L, (size_t)n * sizeof *caps, 0);
        lua_newtable(L); /* converted strings, kept alive */
        for (int i = 0; i < n; i++) {
            int t = lua_rawgeti(L, ct, i + 1);
            caps[i] = NULL;
            if (t == LUA_TSTRING || t == LUA_TNUMBER) {
                caps[i] = lua_tostring(L, -1); /* converts a number in place */
                lua_rawseti(L, -2, ++kept_strings);
            } else if (t == LUA_TNIL || (t == LUA_TBOOLEAN && !lua_toboolean(L, -1))) {
                lua_pop(L, 1);
            } else {
                luaL_argerror(L, 2, lua_pushfstring(L, "option 'captions': entry #%d is %s, expected a string", i + 1,
                                                    luaL_typename(L, -1)));
            }
        }
    }

    /* map every cell to [0, 1] and upscale it; Lua owns each result */
    lua_newtable(L);
    int keep = lua_gettop(L);
    const sx_tensor **ready = lua_newuserdatauv(L, (size_t)n * sizeof *ready, 0);
    for (int i = 0; i < n; i++) {
        sx_tensor *cell = batch ? batch : cells[i];
        if (batch && batch->ndim == 4) {
            sx_tensor *one = keep_tensor(L, keep, sx_narrow(batch, 0, i, 1));
            cell = keep_tensor(L, keep, sx_reshape(one, 3, batch->shape + 1));
        }
        sx_tensor *u = keep_tensor(L, keep, sx_image_to_unit(cell, lo, hi));
        if (scale > 1) u = keep_tensor(L, keep, sx_image_upscale(u, scale));
        ready[i] = u;
    }
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_image_grid(n, ready, ncol, pad, pad_value, caps, text_color, text_scale);
    return lsx_result(L, ud, "grid");
}

/* ---------------------------------------------------------------- registration */

static const luaL_Reg image_fns[] = {
    {"resize", l_resize},
    {"to_unit", l_to_unit},
    {"text", l_text},
    {"text_size", l_text_size},
    {"grid", l_grid},
    {NULL, NULL},
};

void lsx_open_image(lua_State *L)
{
    lsx_register(L, "image", image_fns);
}
