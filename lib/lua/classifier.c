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

/* sx.models.Classifier{...} */
static int l_classifier(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    sx_classifier_config c;
    lsx_read_config(L, 1, "Classifier", &sx_classifier_config_desc, &c);
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
    return lsx_module_unary(L, check_classifier(L, 1), sx_classifier_logits, "logits");
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
    lsx_push_config(L, &sx_classifier_config_desc, sx_classifier_config_of(check_classifier(L, 1)));
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
