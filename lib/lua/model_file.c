/*
 * lib/lua/model_file.c — the model files in Lua (include/stylex/model_file.h):
 *
 *   sx.models.load_stylex(path)     -> G, E, meta | nil, msg   (stylex-model-1 or stylex-training-1)
 *   sx.models.load_classifier(path [, opts]) -> C, meta | nil, msg
 *       C a classifier (lib/lua/classifier.c) of a built-in CNN file
 *       (stylex-classifier-1) or of a .onnx file; opts (ONNX only, over its
 *       sidecar JSON, include/stylex/onnx.h): {class_names=, range={lo, hi},
 *       mean=, std=, resize=, perceptual={...}, gradcam_layer=, penultimate=,
 *       sidecar=path|false}
 *
 * meta is the file's metadata table ({format =, config =, ...}, strings).
 * As for sx.load, a file that cannot be read gives nil and the message; a
 * corrupt file, a wrong format or a config that builds no network raises
 * the library's message ("stylex_load: m.safetensors: ..."). G and E do not
 * require grad; C does (freeze it, or turn grad mode off, for inference).
 */
#include <string.h>

#include "lsx.h"

/* What a load returned, until Lua owns it. */
typedef struct loaded {
    sx_module *m[2];
    sx_model_meta meta;
} loaded;

static void clear_loaded(void *p)
{
    loaded *g = p;
    sx_module_free(g->m[0]);
    sx_module_free(g->m[1]);
    sx_model_meta_clear(&g->meta);
    memset(g, 0, sizeof *g);
}

/* Pushes the n modules (each taken out of g) and the metadata table. */
static int push_loaded(lua_State *L, loaded *g, int n, const char *fn)
{
    for (int i = 0; i < n; i++) {
        sx_module *m = g->m[i];
        g->m[i] = NULL;
        lsx_push_module(L, m, fn);
    }
    lua_createtable(L, 0, g->meta.n);
    for (int i = 0; i < g->meta.n; i++) {
        lua_pushstring(L, g->meta.values[i]);
        lua_setfield(L, -2, g->meta.keys[i]);
    }
    return n + 1;
}

static int l_load_stylex(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    loaded *g = lsx_guard_new(L, sizeof *g, clear_loaded);
    sx_status st = sx_stylex_load(path, &g->m[0], &g->m[1], &g->meta);
    if (st != SX_OK) return lsx_io_fail(L, st);
    return push_loaded(L, g, 2, "load_stylex");
}

typedef struct loaded_classifier {
    sx_classifier *c;
    sx_model_meta meta;
} loaded_classifier;

static void clear_loaded_classifier(void *p)
{
    loaded_classifier *g = p;
    sx_classifier_free(g->c);
    sx_model_meta_clear(&g->meta);
    memset(g, 0, sizeof *g);
}

/* A list of strings at field k of the table at idx into a Lua-owned array (pushed). */
static const char **opt_strings(lua_State *L, int idx, const char *k, int *n)
{
    *n = 0;
    if (lua_getfield(L, idx, k) == LUA_TNIL) {
        lua_pop(L, 1);
        return NULL;
    }
    if (!lua_istable(L, -1)) luaL_error(L, "bad argument #2 to 'load_classifier' (%s must be a list of strings)", k);
    int len = (int)luaL_len(L, -1);
    const char **v = lua_newuserdatauv(L, sizeof(char *) * (size_t)(len ? len : 1), 0);
    for (int i = 0; i < len; i++) {
        lua_geti(L, -2, i + 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "bad argument #2 to 'load_classifier' (%s[%d] must be a string)", k, i + 1);
        v[i] = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    lua_insert(L, -2); /* the array under its table: both stay on the stack */
    *n = len;
    return v;
}

static int opt_floats(lua_State *L, int idx, const char *k, float *out, int cap)
{
    if (lua_getfield(L, idx, k) == LUA_TNIL) {
        lua_pop(L, 1);
        return 0;
    }
    int len = lua_istable(L, -1) ? (int)luaL_len(L, -1) : -1;
    if (len < 1 || len > cap)
        luaL_error(L, "bad argument #2 to 'load_classifier' (%s must be a list of 1 to %d numbers)", k, cap);
    for (int i = 0; i < len; i++) {
        lua_geti(L, -1, i + 1);
        if (lua_type(L, -1) != LUA_TNUMBER)
            luaL_error(L, "bad argument #2 to 'load_classifier' (%s[%d] must be a number)", k, i + 1);
        out[i] = (float)lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return len;
}

static const char *opt_string(lua_State *L, int idx, const char *k)
{
    int t = lua_getfield(L, idx, k);
    if (t != LUA_TNIL && t != LUA_TSTRING)
        luaL_error(L, "bad argument #2 to 'load_classifier' (%s must be a string)", k);
    const char *s = lua_tostring(L, -1);
    lua_pop(L, 1); /* the options table keeps it */
    return s;
}

static int l_load_classifier(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    static const char *const keys[] = {"class_names", "range", "mean", "std", "resize", "perceptual",
                                       "gradcam_layer", "penultimate", "sidecar", NULL};
    lsx_check_opts(L, 2, keys);
    lua_settop(L, 2);
    sx_onnx_opts o = {0};
    bool onnx = false;
    if (lua_istable(L, 2)) {
        o.class_names = opt_strings(L, 2, "class_names", &o.n_class_names);
        o.perceptual = opt_strings(L, 2, "perceptual", &o.n_perceptual);
        float r[2];
        int nr = opt_floats(L, 2, "range", r, 2);
        if (nr && nr != 2) luaL_error(L, "bad argument #2 to 'load_classifier' (range must be {lo, hi})");
        if (nr) {
            o.set_range = true;
            o.range[0] = r[0];
            o.range[1] = r[1];
        }
        int nm = opt_floats(L, 2, "mean", o.mean, 3), ns = opt_floats(L, 2, "std", o.std, 3);
        if (nm != ns) luaL_error(L, "bad argument #2 to 'load_classifier' (mean and std must have the same length)");
        o.n_norm = nm;
        if (lua_getfield(L, 2, "resize") != LUA_TNIL) o.resize = lua_toboolean(L, -1) ? 1 : -1;
        lua_pop(L, 1);
        o.gradcam_layer = opt_string(L, 2, "gradcam_layer");
        o.penultimate = opt_string(L, 2, "penultimate");
        int t = lua_getfield(L, 2, "sidecar");
        if (t == LUA_TBOOLEAN && !lua_toboolean(L, -1)) o.sidecar = "";
        else if (t == LUA_TSTRING) o.sidecar = lua_tostring(L, -1);
        else if (t != LUA_TNIL) luaL_error(L, "bad argument #2 to 'load_classifier' (sidecar must be a path or false)");
        lua_pop(L, 1);
        lua_pushnil(L);
        onnx = lua_next(L, 2) != 0;
        if (onnx) lua_pop(L, 2);
    }
    size_t n = strlen(path);
    if (onnx && !(n > 5 && strcmp(path + n - 5, ".onnx") == 0))
        luaL_error(L, "bad argument #2 to 'load_classifier' (options are for .onnx files; %s is a built-in CNN file)", path);
    loaded_classifier *g = lsx_guard_new(L, sizeof *g, clear_loaded_classifier);
    sx_status st = sx_classifier_load(path, &o, &g->c, &g->meta);
    if (st != SX_OK) return lsx_io_fail(L, st);
    sx_classifier *c = g->c;
    g->c = NULL;
    lsx_push_classifier(L, c, "load_classifier");
    lua_createtable(L, 0, g->meta.n);
    for (int i = 0; i < g->meta.n; i++) {
        lua_pushstring(L, g->meta.values[i]);
        lua_setfield(L, -2, g->meta.keys[i]);
    }
    return 2;
}

void lsx_open_model_file(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"load_stylex", l_load_stylex},
        {"load_classifier", l_load_classifier},
        {NULL, NULL},
    };
    lsx_register(L, "models", fns);
}
