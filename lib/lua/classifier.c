/*
 * lib/lua/classifier.c — the classifier and its augmentation, in Lua:
 *
 *   sx.models.Classifier{n_classes=, resolution=32, img_channels=1, channels={32,64,128},
 *                        convs_per_block=2, hidden=256, dropout=0.3}   -> module
 *   m:classify(x, {train=false, features=false}) -> logits, penultimate, {features...}
 *   m:logits(x)                                   -> logits (eval mode)
 *   m:perceptual(a, b)                            -> [N] perceptual distance
 *   m:config()                                    -> the configuration table
 *   sx.augment(x, {shift=0, flip=0, fill=-1})     -> shifted/mirrored copy
 *
 * The classifier methods live in sx.nn.Classifier, the method table of
 * modules of type "Classifier" (which falls back to sx.nn.Module); called
 * directly on another module they refuse it.
 */
#include <string.h>

#include "lsx.h"

static sx_module *check_classifier(lua_State *L, int idx)
{
    sx_module *m = lsx_check_module(L, idx);
    if (!sx_classifier_config_of(m)) luaL_argerror(L, idx, sx_last_error());
    return m;
}

static int int_field(lua_State *L, int idx, const char *k, int def, int lo, int hi)
{
    return (int)lsx_opt_integer(L, idx, "Classifier", k, def, lo, hi, false);
}

/* sx.models.Classifier{...} */
static int l_classifier(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    static const char *const keys[] = {"n_classes", "resolution",      "img_channels", "channels",
                                       "n_blocks",  "convs_per_block", "hidden",       "dropout", NULL};
    lsx_check_opts(L, 1, keys);
    sx_classifier_config c = sx_classifier_default_config(2);
    c.n_classes = int_field(L, 1, "n_classes", 0, 2, 100000);
    c.resolution = int_field(L, 1, "resolution", c.resolution, 1, 4096);
    c.img_channels = int_field(L, 1, "img_channels", c.img_channels, 1, 3);
    c.convs_per_block = int_field(L, 1, "convs_per_block", c.convs_per_block, 1, 8);
    c.hidden = int_field(L, 1, "hidden", c.hidden, 1, 65536);
    if (lua_getfield(L, 1, "dropout") != LUA_TNIL) {
        if (!lua_isnumber(L, -1)) luaL_error(L, "bad argument #1 to 'Classifier' (dropout must be a number)");
        c.dropout = (float)lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    if (lua_getfield(L, 1, "channels") != LUA_TNIL) {
        if (!lua_istable(L, -1)) luaL_error(L, "bad argument #1 to 'Classifier' (channels must be a list)");
        lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
        if (n < 1 || n > SX_CLASSIFIER_MAX_BLOCKS)
            luaL_error(L, "bad argument #1 to 'Classifier' (channels needs 1..%d entries)", SX_CLASSIFIER_MAX_BLOCKS);
        c.n_blocks = (int)n;
        for (int b = 0; b < c.n_blocks; b++) {
            lua_rawgeti(L, -1, b + 1);
            int isint = 0;
            lua_Integer v = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &isint) : 0;
            if (!isint) luaL_error(L, "bad argument #1 to 'Classifier' (channels[%d] must be an integer)", b + 1);
            if (v < 1 || v > 8192) luaL_error(L, "bad argument #1 to 'Classifier' (channels[%d] = %I outside 1..8192)", b + 1, v);
            c.channels[b] = (int)v;
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    int nb = int_field(L, 1, "n_blocks", c.n_blocks, 1, SX_CLASSIFIER_MAX_BLOCKS);
    if (nb != c.n_blocks) luaL_error(L, "bad argument #1 to 'Classifier' (n_blocks %d disagrees with %d channels)", nb, c.n_blocks);
    lsx_push_module(L, sx_classifier_new(&c), "Classifier");
    return 1;
}

static void clear_output(void *o) { sx_classifier_output_clear(o); }

/* m:classify(x, {train=, features=}) -> logits, penultimate, features */
static int m_classify(lua_State *L)
{
    sx_module *m = check_classifier(L, 1);
    sx_tensor *x = lsx_check_tensor(L, 2);
    static const char *const keys[] = {"train", "features", NULL};
    lsx_check_opts(L, 3, keys);
    bool train = false, features = false;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "train");
        train = lua_toboolean(L, -1);
        lua_getfield(L, 3, "features");
        features = lua_toboolean(L, -1);
        lua_pop(L, 2);
    }
    lua_settop(L, 3);
    /* the results land in a guard, so a memory error below frees what Lua
     * does not hold yet */
    sx_classifier_output *o = lsx_guard_new(L, sizeof *o, clear_output);
    if (sx_classifier_forward(m, x, train, features, o) != SX_OK) return lsx_fail(L, "classify");
    lsx_push_take(L, &o->logits);
    lsx_push_take(L, &o->penultimate);
    lsx_push_take_list(L, o->n_features, o->features);
    lsx_gc_pace(L);
    return 3;
}

static int m_logits(lua_State *L)
{
    sx_module *m = check_classifier(L, 1);
    sx_tensor *x = lsx_check_tensor(L, 2);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_classifier_logits(m, x);
    return lsx_result(L, ud, "logits");
}

static int m_perceptual(lua_State *L)
{
    sx_module *m = check_classifier(L, 1);
    sx_tensor *a = lsx_check_tensor(L, 2), *b = lsx_check_tensor(L, 3);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_classifier_perceptual(m, a, b);
    return lsx_result(L, ud, "perceptual");
}

static int m_config(lua_State *L)
{
    const sx_classifier_config *c = sx_classifier_config_of(check_classifier(L, 1));
    lua_createtable(L, 0, 8);
    lua_pushinteger(L, c->n_classes);
    lua_setfield(L, -2, "n_classes");
    lua_pushinteger(L, c->resolution);
    lua_setfield(L, -2, "resolution");
    lua_pushinteger(L, c->img_channels);
    lua_setfield(L, -2, "img_channels");
    lua_pushinteger(L, c->convs_per_block);
    lua_setfield(L, -2, "convs_per_block");
    lua_pushinteger(L, c->hidden);
    lua_setfield(L, -2, "hidden");
    lua_pushnumber(L, c->dropout);
    lua_setfield(L, -2, "dropout");
    lua_createtable(L, c->n_blocks, 0);
    for (int b = 0; b < c->n_blocks; b++) {
        lua_pushinteger(L, c->channels[b]);
        lua_rawseti(L, -2, b + 1);
    }
    lua_setfield(L, -2, "channels");
    return 1;
}

/* sx.augment(x, {shift=, flip=, fill=}) */
static int l_augment(lua_State *L)
{
    sx_tensor *x = lsx_check_tensor(L, 1);
    static const char *const keys[] = {"shift", "flip", "fill", NULL};
    lsx_check_opts(L, 2, keys);
    lua_Integer shift = 0;
    lua_Number flip = 0, fill = -1;
    if (lua_istable(L, 2)) {
        if (lua_getfield(L, 2, "shift") != LUA_TNIL) shift = lsx_check_integer(L, -1, 0, 4096);
        if (lua_getfield(L, 2, "flip") != LUA_TNIL) flip = lsx_check_number(L, -1);
        if (lua_getfield(L, 2, "fill") != LUA_TNIL) fill = lsx_check_number(L, -1);
        lua_pop(L, 3);
    }
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_augment_shift_flip(x, (int)shift, (float)flip, (float)fill);
    return lsx_result(L, ud, "augment");
}

static const luaL_Reg classifier_methods[] = {
    {"classify", m_classify},
    {"logits", m_logits},
    {"perceptual", m_perceptual},
    {"config", m_config},
    {NULL, NULL},
};

void lsx_open_classifier(lua_State *L)
{
    lua_pushcfunction(L, l_augment);
    lua_setfield(L, -2, "augment");
    lsx_register(L, "models", (const luaL_Reg[]){{"Classifier", l_classifier}, {NULL, NULL}});
    /* the methods of Classifier modules: sx.nn.Classifier */
    lsx_add_module_methods(L, "Classifier", "Classifier", classifier_methods);
}
