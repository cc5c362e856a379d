/*
 * lib/lua/model_file.c — the model files in Lua (include/stylex/model_file.h):
 *
 *   sx.models.load_stylex(path)     -> G, E, meta | nil, msg   (stylex-model-1 or stylex-training-1)
 *   sx.models.load_classifier(path) -> C, meta | nil, msg      (stylex-classifier-1)
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

static int l_load_classifier(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    loaded *g = lsx_guard_new(L, sizeof *g, clear_loaded);
    sx_status st = sx_classifier_load(path, &g->m[0], &g->meta);
    if (st != SX_OK) return lsx_io_fail(L, st);
    return push_loaded(L, g, 1, "load_classifier");
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
