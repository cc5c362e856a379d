/*
 * lib/lua/classifier.c — classifiers in Lua: the built-in CNN as a module,
 * the classifier interface (include/stylex/classifier.h) as its own userdata,
 * and the augmentation:
 *
 *   sx.models.Classifier{n_classes=, resolution=32, img_channels=1, channels={32,64,128},
 *                        convs_per_block=2, hidden=256, dropout=0.3}   -> CNN module
 *   m:classify(x, {train=false, features=false}) -> logits, penultimate, {features...}
 *   m:logits(x)                                   -> logits (eval mode)
 *   m:perceptual(a, b)                            -> [N] perceptual distance
 *   m:config()                                    -> the configuration table
 *   sx.models.classifier(m [, class_names])       -> C, the interface over a CNN module
 *   sx.augment(x, {shift=0, flip=0, fill=-1})     -> shifted/mirrored copy
 *
 * A classifier C (metatable "stylex.Classifier"; sx.models.load_classifier
 * returns one for a .safetensors or a .onnx file) has
 *   C:logits(x)                   -> [N, K] of GAN images x ([-1, 1])
 *   C:classify(x, {features=})    -> logits, penultimate, {perceptual layers' maps}
 *   C:features(x, {names...})     -> {maps...}, logits
 *   C:perceptual(a, b)            -> [N]
 *   C:info()                      -> {kind=, n_classes=, class_names=, channels=, height=,
 *                                     width=, range=, mean=, std=, resize=, layers=,
 *                                     perceptual=, gradcam_layer=, penultimate=}
 *   C:config()                    -> {n_classes=, img_channels=, resolution=} (and a
 *                                     CNN's own config)
 *   C:parameters()                -> the trainable tensors ({} for ONNX)
 *   C:module()                    -> the CNN module, or nil
 *   C:type()                      -> "Classifier"
 * so code written for the CNN module's methods takes either. Everything
 * that takes a classifier (training, AttFind, Grad-CAM, evaluation) accepts
 * C or a CNN module.
 *
 * The CNN module methods live in sx.nn.Classifier, the method table of
 * modules of type "Classifier" (which falls back to sx.nn.Module); called
 * directly on another module they refuse it.
 */
#include <string.h>

#include "lsx.h"

static sx_module *check_classifier(lua_State *L, int idx)
{
    sx_module *m = lsx_check_module(L, idx);
    if (!sx_cnn_config_of(m)) luaL_argerror(L, idx, sx_last_error());
    return m;
}

/* sx.models.Classifier{...} */
static int l_classifier(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    sx_cnn_config c;
    lsx_read_config(L, 1, "Classifier", &sx_cnn_config_desc, &c);
    lsx_push_module(L, sx_cnn_new(&c), "Classifier");
    return 1;
}

static void clear_output(void *o) { sx_cnn_output_clear(o); }

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
    sx_cnn_output *o = lsx_guard_new(L, sizeof *o, clear_output);
    if (sx_cnn_forward(m, x, train, features, o) != SX_OK) return lsx_fail(L, "classify");
    lsx_push_take(L, &o->logits);
    lsx_push_take(L, &o->penultimate);
    lsx_push_take_list(L, o->n_features, o->features);
    lsx_gc_pace(L);
    return 3;
}

static int m_logits(lua_State *L)
{
    return lsx_module_unary(L, check_classifier(L, 1), sx_cnn_logits, "logits");
}

static int m_perceptual(lua_State *L)
{
    sx_classifier *c = lsx_check_classifier(L, 1);
    sx_tensor *a = lsx_check_tensor(L, 2), *b = lsx_check_tensor(L, 3);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_classifier_perceptual(c, a, b);
    return lsx_result(L, ud, "perceptual");
}

static int m_config(lua_State *L)
{
    lsx_push_config(L, &sx_cnn_config_desc, sx_cnn_config_of(check_classifier(L, 1)));
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

/* ---------------------------------------------------------------- the interface */

typedef struct lsx_classifier {
    sx_classifier *c; /* owned reference; NULL once freed */
} lsx_classifier;

/* Pushes a classifier userdata owning c (raises fn's error when c is NULL);
 * module_idx, if non-zero, is the CNN module userdata to keep alive with it. */
static void push_classifier(lua_State *L, sx_classifier *c, int module_idx, const char *fn)
{
    if (module_idx) module_idx = lua_absindex(L, module_idx);
    lsx_classifier *ud = lua_newuserdatauv(L, sizeof *ud, 1);
    ud->c = NULL;
    luaL_setmetatable(L, LSX_CLASSIFIER);
    if (!c) lsx_fail(L, fn);
    ud->c = c;
    if (module_idx) {
        lua_pushvalue(L, module_idx);
        lua_setiuservalue(L, -2, 1);
    }
}

/* The classifier at idx: a classifier userdata, or a CNN module, whose
 * wrapper is made once and kept in a weak-keyed table of the registry. */
sx_classifier *lsx_check_classifier(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    lsx_classifier *ud = luaL_testudata(L, idx, LSX_CLASSIFIER);
    if (ud) {
        if (!ud->c) luaL_argerror(L, idx, "classifier has been freed");
        return ud->c;
    }
    lsx_module *mu = luaL_testudata(L, idx, LSX_MODULE);
    if (!mu || !mu->m || !sx_cnn_config_of(mu->m))
        luaL_argerror(L, idx, lua_pushfstring(L, "classifier expected (sx.models.load_classifier or a CNN module), got %s",
                                              mu ? "another module" : luaL_typename(L, idx)));
    if (luaL_getsubtable(L, LUA_REGISTRYINDEX, "stylex.cnn_classifiers") == 0) {
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "k");
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
    }
    lua_pushvalue(L, idx);
    if (lua_rawget(L, -2) == LUA_TNIL) {
        lua_pop(L, 1);
        push_classifier(L, sx_classifier_from_cnn(mu->m, NULL), idx, "classifier");
        lua_pushvalue(L, idx);
        lua_pushvalue(L, -2);
        lua_rawset(L, -4);
    }
    ud = lua_touserdata(L, -1);
    lua_pop(L, 2);
    return ud->c;
}

void lsx_push_classifier(lua_State *L, sx_classifier *c, const char *fn)
{
    sx_module *m = c ? sx_classifier_module(c) : NULL;
    if (m) {
        sx_module_retain(m);
        lsx_push_module(L, m, fn);
        push_classifier(L, c, -1, fn);
        lua_remove(L, -2);
    } else {
        push_classifier(L, c, 0, fn);
    }
}

static lsx_classifier *check_ud(lua_State *L)
{
    lsx_classifier *ud = luaL_checkudata(L, 1, LSX_CLASSIFIER);
    if (!ud->c) luaL_argerror(L, 1, "classifier has been freed");
    return ud;
}

static int c_gc(lua_State *L)
{
    lsx_classifier *ud = luaL_checkudata(L, 1, LSX_CLASSIFIER);
    sx_classifier_free(ud->c);
    ud->c = NULL;
    return 0;
}

static int c_logits(lua_State *L)
{
    sx_classifier *c = check_ud(L)->c;
    sx_tensor *x = lsx_check_tensor(L, 2);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_classifier_logits(c, x);
    return lsx_result(L, ud, "logits");
}

typedef struct fwd_out {
    int n;
    sx_tensor *logits;
    sx_tensor *maps[]; /* [n] */
} fwd_out;

static void clear_fwd(void *p)
{
    fwd_out *o = p;
    sx_tensor_free(o->logits);
    o->logits = NULL;
    for (int i = 0; i < o->n; i++) {
        sx_tensor_free(o->maps[i]);
        o->maps[i] = NULL;
    }
}

/* Runs c on x for the n names; pushes the guard (the caller takes from it). */
static fwd_out *forward(lua_State *L, sx_classifier *c, sx_tensor *x, int n, const char *const *names)
{
    fwd_out *o = lsx_guard_new(L, sizeof *o + sizeof(sx_tensor *) * (size_t)n, clear_fwd);
    o->n = n;
    if (sx_classifier_forward(c, x, n, names, o->maps, &o->logits) != SX_OK) lsx_fail(L, "classifier");
    return o;
}

/* C:classify(x, {features=}) -> logits, penultimate, {perceptual maps} */
static int c_classify(lua_State *L)
{
    sx_classifier *c = check_ud(L)->c;
    sx_tensor *x = lsx_check_tensor(L, 2);
    static const char *const keys[] = {"features", "train", NULL};
    lsx_check_opts(L, 3, keys);
    bool features = lsx_opt_boolean(L, 3, "classify", "features", false);
    if (lsx_opt_boolean(L, 3, "classify", "train", false))
        luaL_argerror(L, 3, "train = true: a loaded classifier is frozen (train the CNN module itself)");
    const sx_classifier_info *in = sx_classifier_info_of(c);
    int n = 1 + (features ? in->n_perceptual : 0);
    const char **names = lua_newuserdatauv(L, sizeof(char *) * (size_t)n, 0);
    names[0] = in->penultimate;
    for (int i = 1; i < n; i++) names[i] = in->perceptual[i - 1];
    fwd_out *o = forward(L, c, x, n, names);
    lsx_push_take(L, &o->logits);
    lsx_push_take(L, &o->maps[0]);
    if (features) lsx_push_take_list(L, n - 1, o->maps + 1);
    else lua_newtable(L);
    lsx_gc_pace(L);
    return 3;
}

/* C:features(x, {names}) -> {maps}, logits */
static int c_features(lua_State *L)
{
    sx_classifier *c = check_ud(L)->c;
    sx_tensor *x = lsx_check_tensor(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    int n = (int)luaL_len(L, 3);
    luaL_argcheck(L, n >= 1 && n <= 64, 3, "1 to 64 layer names expected");
    const char **names = lua_newuserdatauv(L, sizeof(char *) * (size_t)n, 0);
    for (int i = 0; i < n; i++) {
        lua_geti(L, 3, i + 1);
        if (lua_type(L, -1) != LUA_TSTRING) luaL_argerror(L, 3, lua_pushfstring(L, "entry %d is not a layer name", i + 1));
        names[i] = lua_tostring(L, -1);
        lua_pop(L, 1); /* the table keeps the string */
    }
    fwd_out *o = forward(L, c, x, n, names);
    lsx_push_take_list(L, n, o->maps);
    lsx_push_take(L, &o->logits);
    lsx_gc_pace(L);
    return 2;
}

static int c_perceptual(lua_State *L)
{
    sx_classifier *c = check_ud(L)->c;
    sx_tensor *a = lsx_check_tensor(L, 2), *b = lsx_check_tensor(L, 3);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_classifier_perceptual(c, a, b);
    return lsx_result(L, ud, "perceptual");
}

static void push_strings(lua_State *L, int n, char *const *v)
{
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushstring(L, v[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

static void push_floats(lua_State *L, int n, const float *v)
{
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushnumber(L, v[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

static int c_info(lua_State *L)
{
    const sx_classifier_info *in = sx_classifier_info_of(check_ud(L)->c);
    lua_createtable(L, 0, 14);
    lua_pushstring(L, in->kind);
    lua_setfield(L, -2, "kind");
    lua_pushinteger(L, in->n_classes);
    lua_setfield(L, -2, "n_classes");
    push_strings(L, in->n_classes, in->class_names);
    lua_setfield(L, -2, "class_names");
    lua_pushinteger(L, in->prep.channels);
    lua_setfield(L, -2, "channels");
    lua_pushinteger(L, in->prep.height);
    lua_setfield(L, -2, "height");
    lua_pushinteger(L, in->prep.width);
    lua_setfield(L, -2, "width");
    push_floats(L, 2, in->prep.range);
    lua_setfield(L, -2, "range");
    push_floats(L, in->prep.n_norm, in->prep.mean);
    lua_setfield(L, -2, "mean");
    push_floats(L, in->prep.n_norm, in->prep.std);
    lua_setfield(L, -2, "std");
    lua_pushboolean(L, in->prep.resize);
    lua_setfield(L, -2, "resize");
    push_strings(L, in->n_layers, in->layers);
    lua_setfield(L, -2, "layers");
    push_strings(L, in->n_perceptual, in->perceptual);
    lua_setfield(L, -2, "perceptual");
    lua_pushstring(L, in->gradcam_layer);
    lua_setfield(L, -2, "gradcam_layer");
    lua_pushstring(L, in->penultimate);
    lua_setfield(L, -2, "penultimate");
    return 1;
}

static int c_config(lua_State *L)
{
    lsx_classifier *ud = check_ud(L);
    sx_module *m = sx_classifier_module(ud->c);
    const sx_classifier_info *in = sx_classifier_info_of(ud->c);
    if (m) lsx_push_config(L, &sx_cnn_config_desc, sx_cnn_config_of(m));
    else lua_createtable(L, 0, 3);
    lua_pushinteger(L, in->n_classes);
    lua_setfield(L, -2, "n_classes");
    lua_pushinteger(L, in->prep.channels);
    lua_setfield(L, -2, "img_channels");
    lua_pushinteger(L, in->prep.height);
    lua_setfield(L, -2, "resolution");
    return 1;
}

static int c_module(lua_State *L)
{
    check_ud(L);
    lua_getiuservalue(L, 1, 1);
    return 1;
}

static int c_parameters(lua_State *L)
{
    check_ud(L);
    if (lua_getiuservalue(L, 1, 1) == LUA_TNIL) {
        lua_newtable(L);
        return 1;
    }
    lua_getfield(L, -1, "parameters");
    lua_insert(L, -2);
    lua_call(L, 1, 1);
    return 1;
}

/* C:name(...) for a module method of the CNN behind C (upvalue 1: the name). */
static int c_delegate(lua_State *L)
{
    check_ud(L);
    const char *name = lua_tostring(L, lua_upvalueindex(1));
    if (lua_getiuservalue(L, 1, 1) == LUA_TNIL)
        return luaL_error(L, "%s: only the built-in CNN has module methods; this classifier is %s", name,
                          sx_classifier_info_of(check_ud(L)->c)->kind);
    lua_getfield(L, -1, name);
    lua_replace(L, 1); /* the method where C was, the module after it */
    lua_insert(L, 2);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

static int c_type(lua_State *L)
{
    check_ud(L);
    lua_pushliteral(L, "Classifier");
    return 1;
}

static int c_tostring(lua_State *L)
{
    lsx_classifier *ud = luaL_checkudata(L, 1, LSX_CLASSIFIER);
    if (!ud->c) {
        lua_pushliteral(L, "stylex.Classifier (freed)");
        return 1;
    }
    const sx_classifier_info *in = sx_classifier_info_of(ud->c);
    lua_pushfstring(L, "stylex.Classifier (%s, %d classes, input [N, %d, %d, %d])", in->kind, in->n_classes,
                    in->prep.channels, in->prep.height, in->prep.width);
    return 1;
}

/* sx.models.classifier(m [, class_names]) */
static int l_wrap(lua_State *L)
{
    sx_module *m = check_classifier(L, 1);
    const sx_cnn_config *cfg = sx_cnn_config_of(m);
    const char **names = NULL;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        luaL_argcheck(L, luaL_len(L, 2) == cfg->n_classes, 2, "one name per class expected");
        names = lua_newuserdatauv(L, sizeof(char *) * (size_t)cfg->n_classes, 0);
        for (int i = 0; i < cfg->n_classes; i++) {
            lua_geti(L, 2, i + 1);
            if (lua_type(L, -1) != LUA_TSTRING) luaL_argerror(L, 2, "class names must be strings");
            names[i] = lua_tostring(L, -1);
            lua_pop(L, 1);
        }
    }
    push_classifier(L, sx_classifier_from_cnn(m, names), 1, "classifier");
    return 1;
}

static const luaL_Reg iface_methods[] = {
    {"logits", c_logits}, {"classify", c_classify}, {"features", c_features}, {"perceptual", c_perceptual},
    {"info", c_info}, {"config", c_config}, {"module", c_module}, {"parameters", c_parameters},
    {"type", c_type}, {NULL, NULL},
};

void lsx_open_classifier(lua_State *L)
{
    luaL_newmetatable(L, LSX_CLASSIFIER);
    luaL_newlib(L, iface_methods);
    static const char *const delegated[] = {"named_parameters", "state_dict", NULL};
    for (int i = 0; delegated[i]; i++) {
        lua_pushstring(L, delegated[i]);
        lua_pushcclosure(L, c_delegate, 1);
        lua_setfield(L, -2, delegated[i]);
    }
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, c_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, c_gc);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, c_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
    lsx_register(L, "models", (const luaL_Reg[]){{"classifier", l_wrap}, {NULL, NULL}});
    lua_pushcfunction(L, l_augment);
    lua_setfield(L, -2, "augment");
    lsx_register(L, "models", (const luaL_Reg[]){{"Classifier", l_classifier}, {NULL, NULL}});
    /* the methods of Classifier modules: sx.nn.Classifier */
    lsx_add_module_methods(L, "Classifier", "Classifier", classifier_methods);
}
