/*
 * lib/lua/attfind.c — AttFind's C half in Lua (include/stylex/attfind.h):
 *
 *   sx.attfind.effects(G, C, latents, {noise=, batch=64, progress=, style_min=, style_max=})
 *     -> tab = {effect [N, 2, S, K], base_logits [N, K], style_min [S], style_max [S],
 *               styles [N, S], latents (the argument), noise = {L tensors},
 *               layers = {{name=, channels=, offset=}...}}
 *     noise: a list of L tensors [N or 1, 1, r_l, r_l]; default: one draw of
 *       batch 1 (global RNG), shared by all images and returned in tab.noise;
 *     progress: function(done, total) called after each batch (passes done
 *       so far, of N (1 + 2S)); returning false stops the computation with an
 *       error; an error inside it stops it and is re-raised as it is;
 *     style_min, style_max: tensors [S] to shift to instead of the extremes
 *       of these N images.
 *   sx.attfind.base(G, C, latents, {noise=, batch=64}) -> base (userdata: base:size(),
 *     base:logits() [N, K], base:close(); freed by the GC or a to-be-closed variable)
 *     the base passes of the N images kept for entries (noise required);
 *   sx.attfind.entries(G, C, latents, rows, cols, {noise=, base=, batch=64, progress=,
 *                      style_min=, style_max=}) -> effect [n, K]
 *     entry q: image rows[q] (1-based) and column cols[q] (1-based flat
 *     column of [2, S]: j to-min, S + j to-max) of the effect table,
 *     exactly; noise required (the table's); the extremes as effects.
 *   sx.attfind.apply(G, latents, coords, values, {noise=, add=false}) -> images [B, C, R, R]
 *     coords: a flat coordinate or a list of them (1-based, as G:locate);
 *     values: a number, a list of numbers (one per coordinate) or a tensor
 *       [n] or [B or 1, n]; row b of the batch gets s_coords[k] := values[b, k]
 *       (or += with add = true); latents [B or 1, D] broadcast against it.
 *
 * Policies over the table (subset selection etc.) and its save/load are Lua:
 * lua/stylex/attfind.lua. Layers, coordinates and offsets are 1-based here,
 * 0-based in C. C results are held in a guard userdata until each tensor has
 * its own userdata, so a Lua error on the way frees them.
 */
#include <string.h>

#include "lsx.h"

typedef struct af_guard {
    sx_attfind_result r;                      /* shapes in attfind.h */
    sx_tensor *noise[SX_STYLEGAN_MAX_LAYERS]; /* default noise [1, 1, r_l, r_l] */
    sx_tensor *img;                           /* apply's images */
} af_guard;

static void clear_guard(void *p)
{
    af_guard *g = p;
    sx_attfind_result_clear(&g->r);
    for (int l = 0; l < SX_STYLEGAN_MAX_LAYERS; l++) sx_tensor_free(g->noise[l]);
    sx_tensor_free(g->img);
    memset(g, 0, sizeof *g);
}

static af_guard *new_guard(lua_State *L) { return lsx_guard_new(L, sizeof(af_guard), clear_guard); }

/* The StyleSpace layout of the generator at argument arg. */
static sx_style_layout check_layout(lua_State *L, int arg)
{
    sx_style_layout lay;
    if (sx_style_layout_of(lsx_check_module(L, arg), &lay) != SX_OK)
        luaL_argerror(L, arg, lua_pushfstring(L, "generator expected (%s)", sx_last_error()));
    return lay;
}

/* opts.noise at the options table idx: L borrowed tensors into out; false if absent. */
static bool read_noise(lua_State *L, int idx, const sx_style_layout *lay, sx_tensor **out, const char *fn, int arg)
{
    if (!lua_istable(L, idx) || lua_getfield(L, idx, "noise") == LUA_TNIL) {
        if (lua_istable(L, idx)) lua_pop(L, 1);
        return false;
    }
    if (!lua_istable(L, -1) || lua_rawlen(L, -1) != (lua_Unsigned)lay->n_layers)
        luaL_error(L, "bad argument #%d to '%s' (noise must be a list of %d tensors, one per layer)", arg, fn,
                   lay->n_layers);
    for (int l = 0; l < lay->n_layers; l++) {
        lua_rawgeti(L, -1, l + 1);
        if (!(out[l] = lsx_to_tensor(L, -1)))
            luaL_error(L, "bad argument #%d to '%s' (noise[%d] is not a live tensor)", arg, fn, l + 1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1); /* the list stays referenced by the options table */
    return true;
}

/* ---------------------------------------------------------------- effects */

/* The Lua progress function, called from C between batches. */
typedef struct progress_ctx {
    lua_State *L;
    int fn;      /* stack index of the function */
    int err;     /* stack index of the slot that receives an error value */
    bool failed; /* the function raised an error (its value is at err) */
} progress_ctx;

static bool call_progress(void *vctx, int64_t done, int64_t total)
{
    progress_ctx *p = vctx;
    lua_State *L = p->L;
    lua_pushvalue(L, p->fn);
    lua_pushinteger(L, (lua_Integer)done);
    lua_pushinteger(L, (lua_Integer)total);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
        lua_replace(L, p->err);
        p->failed = true;
        return false;
    }
    bool stop = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
    lua_pop(L, 1);
    return !stop;
}

/* What effects, base and entries read alike: G (argument 1) and its style
 * layout, C (2), the latents (3); from the options table: noise, the
 * extremes and batch. */
typedef struct af_args {
    sx_module *G;
    sx_style_layout lay;
    sx_classifier *C;
    sx_tensor *lat;
    sx_tensor *noise[SX_STYLEGAN_MAX_LAYERS]; /* borrowed from opts.noise, or NULL */
    bool has_noise;
    sx_attfind_opts o;
} af_args;

/* Arguments 1 to 3 into a; the options table at oi checked against keys,
 * and the stack cut to oi. */
static void check_args(lua_State *L, int oi, const char *const keys[], af_args *a)
{
    memset(a, 0, sizeof *a);
    a->G = lsx_check_module(L, 1);
    a->lay = check_layout(L, 1);
    a->C = lsx_check_classifier(L, 2);
    a->lat = lsx_check_tensor(L, 3);
    lsx_check_opts(L, oi, keys);
    lua_settop(L, oi);
}

/* opts.noise (an error without it when need_noise), style_min, style_max and
 * batch of the options table at oi, into a. */
static void read_opts(lua_State *L, const char *fn, int oi, bool need_noise, af_args *a)
{
    a->has_noise = read_noise(L, oi, &a->lay, a->noise, fn, oi);
    if (need_noise && !a->has_noise) luaL_argerror(L, oi, "noise is required (the noise of the table's images)");
    a->o.style_min = lsx_opt_tensor(L, oi, fn, "style_min");
    a->o.style_max = lsx_opt_tensor(L, oi, fn, "style_max");
    a->o.batch = (int)lsx_opt_integer(L, oi, fn, "batch", 0, 1, 65536, false);
}

/* Pushes opts.progress of the options table at oi (or nil), the slot for its
 * error and a guard; *p calls the function from C. Returns the guard. */
static af_guard *push_progress(lua_State *L, const char *fn, int oi, progress_ctx *p)
{
    int top = lua_gettop(L);
    if (lua_istable(L, oi)) lua_getfield(L, oi, "progress");
    else lua_pushnil(L);
    if (!lua_isnil(L, top + 1) && !lua_isfunction(L, top + 1))
        luaL_error(L, "bad argument #%d to '%s' (progress must be a function, got %s)", oi, fn,
                   luaL_typename(L, top + 1));
    lua_pushnil(L);
    af_guard *g = new_guard(L);
    luaL_checkstack(L, 8, fn);
    *p = (progress_ctx){L, top + 1, top + 2, false};
    return g;
}

/* Re-raises the error of the progress function, if it raised one. */
static void rethrow_progress(lua_State *L, const progress_ctx *p)
{
    if (p->failed) {
        lua_pushvalue(L, p->err);
        lua_error(L);
    }
}

static void set_int(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

static void push_layers(lua_State *L, const sx_style_layout *lay)
{
    lua_createtable(L, lay->n_layers, 0);
    for (int l = 0; l < lay->n_layers; l++) {
        lua_createtable(L, 0, 3);
        lua_pushstring(L, lay->name[l]);
        lua_setfield(L, -2, "name");
        set_int(L, "channels", lay->channels[l]);
        set_int(L, "offset", lay->offset[l] + 1);
        lua_rawseti(L, -2, l + 1);
    }
}

static int l_effects(lua_State *L)
{
    const char *fn = "effects";
    static const char *const keys[] = {"noise", "batch", "progress", "style_min", "style_max", NULL};
    af_args a;
    check_args(L, 4, keys, &a);
    read_opts(L, fn, 4, false, &a);
    /* stack: 5 progress function or nil, 6 error slot, 7 guard */
    progress_ctx p;
    af_guard *g = push_progress(L, fn, 4, &p);
    if (!a.has_noise) {
        if (sx_synthesis_noise(a.G, 1, g->noise) != SX_OK) return lsx_fail(L, "attfind_effects");
        memcpy(a.noise, g->noise, sizeof a.noise);
    }
    sx_status st = sx_attfind_effects(a.G, a.C, a.lat, a.noise, &a.o, lua_isnil(L, p.fn) ? NULL : call_progress, &p,
                                      &g->r);
    rethrow_progress(L, &p);
    if (st != SX_OK) return lsx_fail(L, "attfind_effects");

    lua_createtable(L, 0, 8);
    lsx_push_take(L, &g->r.effect);
    lua_setfield(L, -2, "effect");
    lsx_push_take(L, &g->r.base_logits);
    lua_setfield(L, -2, "base_logits");
    lsx_push_take(L, &g->r.style_min);
    lua_setfield(L, -2, "style_min");
    lsx_push_take(L, &g->r.style_max);
    lua_setfield(L, -2, "style_max");
    lsx_push_take(L, &g->r.styles);
    lua_setfield(L, -2, "styles");
    lua_pushvalue(L, 3);
    lua_setfield(L, -2, "latents");
    if (a.has_noise) {
        lua_getfield(L, 4, "noise");
    } else {
        lua_createtable(L, a.lay.n_layers, 0);
        for (int l = 0; l < a.lay.n_layers; l++) {
            lsx_push_take(L, &g->noise[l]);
            lua_rawseti(L, -2, l + 1);
        }
    }
    lua_setfield(L, -2, "noise");
    push_layers(L, &a.lay);
    lua_setfield(L, -2, "layers");
    lsx_gc_pace(L);
    return 1;
}

/* ---------------------------------------------------------------- base and entries */

#define BASE_MT "stylex.attfind_base"

typedef struct af_base {
    sx_attfind_base *b; /* NULL until filled, and after close */
} af_base;

static int base_gc(lua_State *L)
{
    af_base *u = luaL_checkudata(L, 1, BASE_MT);
    sx_attfind_base_free(u->b);
    u->b = NULL;
    return 0;
}

static sx_attfind_base *check_base(lua_State *L, int idx)
{
    af_base *u = luaL_checkudata(L, idx, BASE_MT);
    if (!u->b) luaL_argerror(L, idx, "the base is closed");
    return u->b;
}

static int base_size(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)sx_attfind_base_size(check_base(L, 1)));
    return 1;
}

static int base_logits(lua_State *L)
{
    lsx_push_tensor(L, sx_attfind_base_logits(check_base(L, 1)), "logits");
    return 1;
}

static int base_tostring(lua_State *L)
{
    af_base *u = luaL_checkudata(L, 1, BASE_MT);
    if (u->b) lua_pushfstring(L, "attfind base (%d images)", (int)sx_attfind_base_size(u->b));
    else lua_pushliteral(L, "attfind base (closed)");
    return 1;
}

static int l_base(lua_State *L)
{
    const char *fn = "base";
    static const char *const keys[] = {"noise", "batch", NULL};
    af_args a;
    check_args(L, 4, keys, &a);
    read_opts(L, fn, 4, true, &a); /* no extremes: keys refused them */
    af_base *u = lua_newuserdatauv(L, sizeof *u, 0); /* empty and consistent first */
    u->b = NULL;
    luaL_setmetatable(L, BASE_MT);
    if (!(u->b = sx_attfind_base_new(a.G, a.C, a.lat, a.noise, &a.o))) return lsx_fail(L, "attfind_base");
    lsx_gc_pace(L);
    return 1;
}

/* A list argument of integers in 1..hi (at stack index idx, argument arg):
 * into a Lua-owned array of 0-based int64 (pushed as a userdata). */
static int64_t *check_index_list(lua_State *L, int idx, int arg, int64_t hi, int64_t *n, const char *fn,
                                 const char *what)
{
    if (!lua_istable(L, idx)) luaL_error(L, "bad argument #%d to '%s' (%s must be a list of integers)", arg, fn, what);
    lua_Unsigned len = lua_rawlen(L, idx);
    if (len < 1 || len > (1u << 26))
        luaL_error(L, "bad argument #%d to '%s' (%s: expected 1 .. %d entries, got %d)", arg, fn, what, 1 << 26,
                   (int)len);
    int64_t *v = lua_newuserdatauv(L, (size_t)len * sizeof *v, 0);
    for (lua_Unsigned k = 0; k < len; k++) {
        lua_rawgeti(L, idx, (lua_Integer)k + 1);
        int ok = 0;
        lua_Integer x = lua_tointegerx(L, -1, &ok);
        if (!ok || lua_type(L, -1) != LUA_TNUMBER || x < 1 || x > hi)
            luaL_error(L, "bad argument #%d to '%s' (%s[%d] must be an integer in 1..%d)", arg, fn, what, (int)k + 1,
                       (int)hi);
        v[k] = x - 1;
        lua_pop(L, 1);
    }
    *n = (int64_t)len;
    return v;
}

static int l_entries(lua_State *L)
{
    const char *fn = "entries";
    static const char *const keys[] = {"noise", "base", "batch", "progress", "style_min", "style_max", NULL};
    af_args a;
    check_args(L, 6, keys, &a);
    const int64_t N = a.lat->ndim == 2 ? a.lat->shape[0] : 1;
    int64_t n = 0, n_cols = 0;
    int64_t *rows = check_index_list(L, 4, 4, N > 0 ? N : 1, &n, fn, "rows");                        /* 7 */
    int64_t *cols64 = check_index_list(L, 5, 5, 2 * (int64_t)a.lay.n_coords, &n_cols, fn, "columns"); /* 8 */
    if (n_cols != n)
        luaL_error(L, "bad argument #5 to '%s' (%d columns for %d rows: one column per entry)", fn, (int)n_cols, (int)n);
    int *cols = lua_newuserdatauv(L, (size_t)n * sizeof *cols, 0); /* 9 */
    for (int64_t q = 0; q < n; q++) cols[q] = (int)cols64[q];
    read_opts(L, fn, 6, true, &a);
    const sx_attfind_base *base = NULL;
    if (lua_istable(L, 6) && lua_getfield(L, 6, "base") != LUA_TNIL) {
        af_base *u = luaL_testudata(L, -1, BASE_MT);
        if (!u || !u->b) luaL_error(L, "bad argument #6 to '%s' (base must be an open sx.attfind.base)", fn);
        base = u->b;
    }
    lua_settop(L, 9); /* the base stays referenced by the options table */
    /* stack: 10 progress function or nil, 11 error slot, 12 guard */
    progress_ctx p;
    af_guard *g = push_progress(L, fn, 6, &p);
    sx_status st = sx_attfind_entries(a.G, a.C, a.lat, a.noise, &a.o, base, n, rows, cols,
                                      lua_isnil(L, p.fn) ? NULL : call_progress, &p, &g->r.effect);
    rethrow_progress(L, &p);
    if (st != SX_OK) return lsx_fail(L, "attfind_entries");
    lsx_push_take(L, &g->r.effect);
    lsx_gc_pace(L);
    return 1;
}

/* ---------------------------------------------------------------- apply */

static int l_apply(lua_State *L)
{
    const char *fn = "apply";
    sx_module *G = lsx_check_module(L, 1);
    sx_style_layout lay = check_layout(L, 1);
    sx_tensor *lat = lsx_check_tensor(L, 2);
    lua_settop(L, 5); /* scratch values go above the arguments */
    /* coords: a number or a list, 1-based -> a Lua-owned array of 0-based ints */
    int n = 0;
    if (lua_type(L, 3) == LUA_TNUMBER) {
        n = 1;
    } else if (lua_istable(L, 3)) {
        lua_Unsigned len = lua_rawlen(L, 3);
        if (len > (1u << 20)) luaL_argerror(L, 3, "too many coordinates");
        n = (int)len;
    } else {
        luaL_typeerror(L, 3, "coordinate or list of coordinates");
    }
    int *coords = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *coords, 0);
    for (int k = 0; k < n; k++) {
        if (lua_istable(L, 3)) lua_rawgeti(L, 3, k + 1);
        else lua_pushvalue(L, 3);
        int ok = 0;
        lua_Integer j = lua_tointegerx(L, -1, &ok);
        if (!ok || lua_type(L, -1) != LUA_TNUMBER || j < 1 || j > lay.n_coords)
            luaL_error(L, "bad argument #3 to '%s' (coordinate %d must be an integer in 1..%d)", fn, k + 1,
                       lay.n_coords);
        coords[k] = (int)j - 1;
        lua_pop(L, 1);
    }
    /* values: a number, a list or a tensor; [n] is one row */
    sx_tensor *v = NULL;
    if (n > 0) {
        if (lua_type(L, 4) == LUA_TNUMBER) {
            lsx_tensor *ud = lsx_new_tensor(L);
            ud->t = sx_tensor_full(2, (int64_t[]){1, 1}, (float)lua_tonumber(L, 4));
            lsx_result(L, ud, fn);
            lua_replace(L, 4);
        }
        v = lsx_check_tensor_like(L, 4);
        if (v->ndim == 1) {
            lsx_tensor *ud = lsx_new_tensor(L);
            ud->t = sx_reshape(v, 2, (int64_t[]){1, v->shape[0]});
            lsx_result(L, ud, fn);
            lua_replace(L, 4);
            v = ud->t;
        }
    } else if (!lua_isnoneornil(L, 4) && !(lua_istable(L, 4) && lua_rawlen(L, 4) == 0)) {
        luaL_argerror(L, 4, "no coordinates given, so no values expected");
    }
    static const char *const keys[] = {"noise", "add", NULL};
    lsx_check_opts(L, 5, keys);
    sx_tensor *noise[SX_STYLEGAN_MAX_LAYERS] = {0};
    bool has_noise = read_noise(L, 5, &lay, noise, fn, 5);
    bool add = lsx_opt_boolean(L, 5, fn, "add", false);
    af_guard *g = new_guard(L);
    g->img = sx_attfind_apply(G, lat, has_noise ? noise : NULL, n, coords, v, add);
    if (!g->img) return lsx_fail(L, "attfind_apply");
    lsx_push_take(L, &g->img);
    lsx_gc_pace(L);
    return 1;
}

static const luaL_Reg attfind_fns[] = {
    {"effects", l_effects},
    {"base", l_base},
    {"entries", l_entries},
    {"apply", l_apply},
    {NULL, NULL},
};

static const luaL_Reg base_methods[] = {
    {"size", base_size},
    {"logits", base_logits},
    {"close", base_gc},
    {NULL, NULL},
};

static const luaL_Reg base_metamethods[] = {
    {"__gc", base_gc},
    {"__close", base_gc},
    {"__tostring", base_tostring},
    {NULL, NULL},
};

void lsx_open_attfind(lua_State *L)
{
    luaL_newmetatable(L, BASE_MT);
    luaL_setfuncs(L, base_metamethods, 0);
    luaL_newlib(L, base_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newlib(L, attfind_fns);
    lua_setfield(L, -2, "attfind");
}
