/*
 * lib/lua/models.c — the StyleGAN2 networks and StyleSpace in Lua
 * (include/stylex/stylegan.h):
 *
 *   sx.models.stylegan_config{...}      -> the full config table, defaults filled
 *   sx.models.Generator{...}            -> module (mapping + synthesis)
 *   sx.models.Discriminator{...}        -> module
 *   sx.models.Encoder{...}              -> module
 *     config keys: resolution=32, img_channels=1, n_classes=0, z_dim=128,
 *     w_dim=128, mapping_layers=8, mapping_lr_mul=0.01, channels={128,128,64,32}
 *     (channels[i] at resolution 4 * 2^(i-1); default clamp(1024/res, 16, 128)),
 *     mbstd_group=4, mbstd_channels=1
 *   sx.models.modulated_conv2d(x, weight, styles, {up=1, demodulate=true})
 *   sx.models.upsample2d(x), sx.models.downsample2d(x)   [1,3,3,1] FIR resampling
 *
 * Methods of the module types (sx.nn.Generator, sx.nn.Discriminator,
 * sx.nn.Encoder; each falls back to sx.nn.Module, so no type has another's):
 *   m:config()                     config table
 *   G:mapping(z)                   -> w [N, w_dim]
 *   G:latent(w, p)                 -> cat(w, p) [N, w_dim + n_classes] (p nil if unconditional)
 *   G:synthesis(latent, noise)     -> image (noise: nil = fresh, or a list of L tensors)
 *   G:generate(z, p, noise)        -> image
 *   G:noise(n)                     -> list of L tensors [n, 1, r_l, r_l]
 *   G:style_layout()               -> {n_layers, n_coords, n_levels, layers = {{name, channels,
 *                                      out_channels, offset, resolution, level}...}, rgb_channels}
 *   G:locate(j)                    -> layer, channel of flat coordinate j
 *   G:styles(latent)               -> styles {conv = {L tensors [N, C_l]}, rgb = {tensors}}
 *   G:styles_flat(styles)          -> [N, S]
 *   G:styles_with_flat(styles, flat) -> a styles table whose conv are slices of flat
 *   G:from_styles(styles, {noise=, from_layer=1, cache=, keep_cache=false}) -> image [, cache]
 *                                     cache = {x = {L tensors}, img = {tensors}}
 *   D:discriminate(img, p)         -> [N]
 *   E:encode(img)                  -> [N, w_dim]
 *
 * Lua numbers layers, levels, channels and flat coordinates from 1 (layer 1 =
 * b4.conv1; offset is a layer's first flat coordinate); the C API from 0.
 * Tensors a call returns are new userdata; tensors in styles and cache tables
 * may be shared with other tables (views, not copies). C results are held in a
 * guard userdata (collected on error) until each tensor has its own userdata.
 */
#include <string.h>

#include "lsx.h"

/* C-owned results on their way to Lua: whatever is still here when the guard
 * is collected (after an error) is freed. */
typedef struct sg_guard {
    sx_styles st;                         /* styles of a call (shapes in stylegan.h) */
    sx_synthesis_cache cache;             /* a cache of a call */
    sx_tensor *t[SX_STYLEGAN_MAX_LAYERS]; /* loose results: an image, or noise [n, 1, r_l, r_l] */
} sg_guard;

static void clear_guard(void *p)
{
    sg_guard *g = p;
    sx_styles_clear(&g->st);
    sx_synthesis_cache_clear(&g->cache);
    for (int i = 0; i < SX_STYLEGAN_MAX_LAYERS; i++) sx_tensor_free(g->t[i]);
    memset(g, 0, sizeof *g);
}

static sg_guard *new_guard(lua_State *L) { return lsx_guard_new(L, sizeof(sg_guard), clear_guard); }

/* ---------------------------------------------------------------- config */

/* The config from the options table at idx (nil: all defaults). */
static sx_stylegan_config read_config(lua_State *L, int idx, const char *fn)
{
    if (!lua_isnoneornil(L, idx) && !lua_istable(L, idx)) luaL_typeerror(L, idx, "table of options");
    sx_stylegan_config c;
    lsx_read_config(L, idx, fn, &sx_stylegan_config_desc, &c);
    return c;
}

static void set_int(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

static void push_config(lua_State *L, const sx_stylegan_config *c) { lsx_push_config(L, &sx_stylegan_config_desc, c); }

static int l_stylegan_config(lua_State *L)
{
    sx_stylegan_config c = read_config(L, 1, "stylegan_config");
    push_config(L, &c);
    return 1;
}

static int l_generator(lua_State *L)
{
    sx_stylegan_config c = read_config(L, 1, "Generator");
    lsx_push_module(L, sx_generator_new(&c), "Generator");
    return 1;
}

static int l_discriminator(lua_State *L)
{
    sx_stylegan_config c = read_config(L, 1, "Discriminator");
    lsx_push_module(L, sx_discriminator_new(&c), "Discriminator");
    return 1;
}

static int l_encoder(lua_State *L)
{
    sx_stylegan_config c = read_config(L, 1, "Encoder");
    lsx_push_module(L, sx_encoder_new(&c), "Encoder");
    return 1;
}

/* m:config(): StyleGAN modules here, classifiers to the config() this one
 * replaced (upvalue 1); any other module is refused here, so that the error
 * names 'config' (a C function called from C has no name in Lua's messages). */
static int m_config(lua_State *L)
{
    const sx_stylegan_config *c = sx_stylegan_config_of(lsx_check_module(L, 1));
    if (!c) return luaL_argerror(L, 1, sx_last_error());
    push_config(L, c);
    return 1;
}

/* ---------------------------------------------------------------- tensors in tables */

/* Reads t[1..n] of the table at idx (field `field`, or idx itself if NULL)
 * as borrowed tensors; nil entries (and a nil field) give NULL; an entry
 * after the n-th is an error. Errors call the list `name`, argument arg of fn. */
static void read_list(lua_State *L, int idx, const char *field, const char *name, int n, sx_tensor **out,
                      const char *fn, int arg)
{
    idx = lua_absindex(L, idx);
    if (field) lua_getfield(L, idx, field);
    else lua_pushvalue(L, idx);
    for (int i = 0; i < n; i++) out[i] = NULL;
    if (!lua_isnil(L, -1)) {
        if (!lua_istable(L, -1))
            luaL_error(L, "bad argument #%d to '%s' (%s must be a list of tensors, got %s)", arg, fn, name,
                       luaL_typename(L, -1));
        for (int i = 0; i < n; i++) {
            if (lua_rawgeti(L, -1, i + 1) != LUA_TNIL && !(out[i] = lsx_to_tensor(L, -1)))
                luaL_error(L, "bad argument #%d to '%s' (%s[%d] is not a live tensor)", arg, fn, name, i + 1);
            lua_pop(L, 1);
        }
        if (lua_rawgeti(L, -1, n + 1) != LUA_TNIL)
            luaL_error(L, "bad argument #%d to '%s' (%s has more than %d entries)", arg, fn, name, n);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

static sx_style_layout check_layout(lua_State *L, sx_module *m, const char *fn)
{
    sx_style_layout lay;
    if (sx_style_layout_of(m, &lay) != SX_OK) lsx_fail(L, fn);
    return lay;
}

/* Borrowed styles from the table at idx. */
static void read_styles(lua_State *L, int idx, const sx_style_layout *lay, sx_styles *st, const char *fn)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    memset(st, 0, sizeof *st);
    st->n_layers = lay->n_layers;
    st->n_levels = lay->n_levels;
    read_list(L, idx, "conv", "conv", lay->n_layers, st->conv, fn, idx);
    read_list(L, idx, "rgb", "rgb", lay->n_levels, st->rgb, fn, idx);
    /* styles_flat and styles_with_flat do not see the layout: check the widths here */
    for (int i = 0; i < lay->n_layers + lay->n_levels; i++) {
        bool conv = i < lay->n_layers;
        int k = conv ? i : i - lay->n_layers;
        const sx_tensor *t = conv ? st->conv[k] : st->rgb[k];
        int64_t want = conv ? lay->channels[k] : lay->rgb_channels[k];
        char buf[96];
        if (t && (t->ndim != 2 || t->shape[1] != want))
            luaL_error(L, "bad argument #%d to '%s' (%s[%d] is %s, expected [N, %I])", idx, fn, conv ? "conv" : "rgb",
                       k + 1, sx_shape_str(t, buf, sizeof buf), (lua_Integer)want);
    }
}

/* Pushes {conv = {...}, rgb = {...}} taking the tensors of st. */
static void push_styles(lua_State *L, sx_styles *st)
{
    lua_createtable(L, 0, 2);
    lsx_push_take_list(L, st->n_layers, st->conv);
    lua_setfield(L, -2, "conv");
    lsx_push_take_list(L, st->n_levels, st->rgb);
    lua_setfield(L, -2, "rgb");
}

/* ---------------------------------------------------------------- generator methods */

static int finish(lua_State *L, sx_tensor *t, const char *fn)
{
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = t;
    return lsx_result(L, ud, fn);
}

static int m_mapping(lua_State *L)
{
    return lsx_module_unary(L, lsx_check_module(L, 1), sx_mapping_forward, "mapping");
}

static int m_latent(lua_State *L)
{
    sx_module *m = lsx_check_module(L, 1);
    sx_tensor *w = lsx_check_tensor(L, 2);
    sx_tensor *p = lua_isnoneornil(L, 3) ? NULL : lsx_check_tensor(L, 3);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_stylegan_latent(m, w, p);
    return lsx_result(L, ud, "latent");
}

/* The optional noise list at idx (n_layers entries; argument arg) into out; false if nil. */
static bool read_noise(lua_State *L, int idx, int arg, sx_module *m, sx_tensor **out, const char *fn)
{
    if (lua_isnoneornil(L, idx)) return false;
    sx_style_layout lay = check_layout(L, m, fn);
    read_list(L, idx, NULL, "noise", lay.n_layers, out, fn, arg);
    return true;
}

static int m_synthesis(lua_State *L)
{
    sx_module *m = lsx_check_module(L, 1);
    sx_tensor *lat = lsx_check_tensor(L, 2);
    sx_tensor *noise[SX_STYLEGAN_MAX_LAYERS];
    bool has_noise = read_noise(L, 3, 3, m, noise, "synthesis");
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_synthesis_forward(m, lat, has_noise ? noise : NULL);
    return lsx_result(L, ud, "synthesis");
}

static int m_generate(lua_State *L)
{
    sx_module *m = lsx_check_module(L, 1);
    sx_tensor *z = lsx_check_tensor(L, 2);
    sx_tensor *p = lua_isnoneornil(L, 3) ? NULL : lsx_check_tensor(L, 3);
    sx_tensor *noise[SX_STYLEGAN_MAX_LAYERS];
    bool has_noise = read_noise(L, 4, 4, m, noise, "generate");
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_generator_forward(m, z, p, has_noise ? noise : NULL);
    return lsx_result(L, ud, "generate");
}

static int m_noise(lua_State *L)
{
    sx_module *m = lsx_check_module(L, 1);
    int64_t n = lsx_check_integer(L, 2, 1, (int64_t)1 << 24);
    sx_style_layout lay = check_layout(L, m, "noise");
    sg_guard *g = new_guard(L);
    if (sx_synthesis_noise(m, n, g->t) != SX_OK) return lsx_fail(L, "noise");
    lsx_push_take_list(L, lay.n_layers, g->t);
    lsx_gc_pace(L);
    return 1;
}

static int m_style_layout(lua_State *L)
{
    sx_style_layout lay = check_layout(L, lsx_check_module(L, 1), "style_layout");
    lua_createtable(L, 0, 5);
    set_int(L, "n_layers", lay.n_layers);
    set_int(L, "n_coords", lay.n_coords);
    set_int(L, "n_levels", lay.n_levels);
    lua_createtable(L, lay.n_layers, 0);
    for (int l = 0; l < lay.n_layers; l++) {
        lua_createtable(L, 0, 6);
        lua_pushstring(L, lay.name[l]);
        lua_setfield(L, -2, "name");
        set_int(L, "channels", lay.channels[l]);
        set_int(L, "out_channels", lay.out_channels[l]);
        set_int(L, "offset", lay.offset[l] + 1);
        set_int(L, "resolution", lay.resolution[l]);
        set_int(L, "level", lay.level[l] + 1);
        lua_rawseti(L, -2, l + 1);
    }
    lua_setfield(L, -2, "layers");
    lua_createtable(L, lay.n_levels, 0);
    for (int k = 0; k < lay.n_levels; k++) {
        lua_pushinteger(L, lay.rgb_channels[k]);
        lua_rawseti(L, -2, k + 1);
    }
    lua_setfield(L, -2, "rgb_channels");
    return 1;
}

static int m_locate(lua_State *L)
{
    sx_style_layout lay = check_layout(L, lsx_check_module(L, 1), "locate");
    int j = (int)lsx_check_integer(L, 2, 1, lay.n_coords);
    int layer, channel;
    sx_style_layout_locate(&lay, j - 1, &layer, &channel);
    lua_pushinteger(L, layer + 1);
    lua_pushinteger(L, channel + 1);
    return 2;
}

static int m_styles(lua_State *L)
{
    sx_module *m = lsx_check_module(L, 1);
    sx_tensor *lat = lsx_check_tensor(L, 2);
    sg_guard *g = new_guard(L);
    if (sx_synthesis_styles(m, lat, &g->st) != SX_OK) return lsx_fail(L, "styles");
    push_styles(L, &g->st);
    lsx_gc_pace(L);
    return 1;
}

static int m_styles_flat(lua_State *L)
{
    sx_module *m = lsx_check_module(L, 1);
    sx_style_layout lay = check_layout(L, m, "styles_flat");
    sx_styles st;
    read_styles(L, 2, &lay, &st, "styles_flat");
    return finish(L, sx_styles_flat(&st), "styles_flat");
}

static int m_styles_with_flat(lua_State *L)
{
    sx_module *m = lsx_check_module(L, 1);
    sx_style_layout lay = check_layout(L, m, "styles_with_flat");
    sx_styles st;
    read_styles(L, 2, &lay, &st, "styles_with_flat");
    sx_tensor *flat = lsx_check_tensor(L, 3);
    sg_guard *g = new_guard(L);
    if (sx_styles_share(&st, &g->st) != SX_OK || sx_styles_set_flat(m, &g->st, flat) != SX_OK)
        return lsx_fail(L, "styles_with_flat");
    push_styles(L, &g->st);
    return 1;
}

/* G:from_styles(styles, {noise=, from_layer=, cache=, keep_cache=}) -> img [, cache] */
static int m_from_styles(lua_State *L)
{
    const char *fn = "from_styles";
    sx_module *m = lsx_check_module(L, 1);
    sx_style_layout lay = check_layout(L, m, fn);
    sx_styles st;
    read_styles(L, 2, &lay, &st, fn);
    static const char *const keys[] = {"noise", "from_layer", "cache", "keep_cache", NULL};
    lsx_check_opts(L, 3, keys);
    sx_tensor *noise[SX_STYLEGAN_MAX_LAYERS];
    bool has_noise = false, keep = false, has_cache = false;
    int from = 0;
    sx_synthesis_cache cache = {.n_layers = lay.n_layers, .n_levels = lay.n_levels};
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "noise");
        has_noise = read_noise(L, -1, 3, m, noise, fn);
        lua_pop(L, 1);
        if (lua_getfield(L, 3, "from_layer") != LUA_TNIL) {
            int ok = 0;
            lua_Integer v = lua_tointegerx(L, -1, &ok);
            if (!ok || lua_type(L, -1) != LUA_TNUMBER || v < 1 || v > lay.n_layers)
                luaL_error(L, "bad argument #3 to '%s' (from_layer must be an integer in 1..%d)", fn, lay.n_layers);
            from = (int)v - 1;
        }
        lua_pop(L, 1);
        if (lua_getfield(L, 3, "cache") != LUA_TNIL) {
            if (!lua_istable(L, -1)) luaL_error(L, "bad argument #3 to '%s' (cache must be a table)", fn);
            read_list(L, -1, "x", "cache.x", lay.n_layers, cache.x, fn, 3);
            read_list(L, -1, "img", "cache.img", lay.n_levels, cache.img, fn, 3);
            has_cache = true;
        }
        lua_pop(L, 1);
        if (lua_getfield(L, 3, "keep_cache") != LUA_TNIL && !lua_isboolean(L, -1))
            luaL_error(L, "bad argument #3 to '%s' (keep_cache must be a boolean, got %s)", fn, luaL_typename(L, -1));
        keep = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    sg_guard *g = new_guard(L);
    g->t[0] = sx_synthesis_from_styles(m, &st, has_noise ? noise : NULL, from, has_cache ? &cache : NULL,
                                       keep ? &g->cache : NULL);
    if (!g->t[0]) return lsx_fail(L, fn);
    lsx_push_take(L, &g->t[0]);
    if (!keep) {
        lsx_gc_pace(L);
        return 1;
    }
    lua_createtable(L, 0, 2);
    lsx_push_take_list(L, g->cache.n_layers, g->cache.x);
    lua_setfield(L, -2, "x");
    lsx_push_take_list(L, g->cache.n_levels, g->cache.img);
    lua_setfield(L, -2, "img");
    lsx_gc_pace(L);
    return 2;
}

/* ---------------------------------------------------------------- D, E, functions */

static int m_discriminate(lua_State *L)
{
    sx_module *m = lsx_check_module(L, 1);
    sx_tensor *img = lsx_check_tensor(L, 2);
    sx_tensor *p = lua_isnoneornil(L, 3) ? NULL : lsx_check_tensor(L, 3);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_discriminator_forward(m, img, p);
    return lsx_result(L, ud, "discriminate");
}

static int m_encode(lua_State *L) { return lsx_module_unary(L, lsx_check_module(L, 1), sx_encoder_forward, "encode"); }

static int l_modulated_conv2d(lua_State *L)
{
    sx_tensor *x = lsx_check_tensor(L, 1), *w = lsx_check_tensor(L, 2), *s = lsx_check_tensor(L, 3);
    static const char *const keys[] = {"up", "demodulate", NULL};
    lsx_check_opts(L, 4, keys);
    int up = 1;
    bool demod = true;
    if (lua_istable(L, 4)) {
        if (lua_getfield(L, 4, "up") != LUA_TNIL) {
            int ok = 0;
            lua_Integer v = lua_tointegerx(L, -1, &ok);
            if (!ok || lua_type(L, -1) != LUA_TNUMBER || (v != 1 && v != 2))
                luaL_error(L, "bad argument #4 to 'modulated_conv2d' (up must be 1 or 2)");
            up = (int)v;
        }
        if (lua_getfield(L, 4, "demodulate") != LUA_TNIL) {
            if (!lua_isboolean(L, -1))
                luaL_error(L, "bad argument #4 to 'modulated_conv2d' (demodulate must be a boolean, got %s)",
                           luaL_typename(L, -1));
            demod = lua_toboolean(L, -1);
        }
        lua_pop(L, 2);
    }
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_modulated_conv2d(x, w, s, up, demod);
    return lsx_result(L, ud, "modulated_conv2d");
}

static int l_upsample2d(lua_State *L) { return lsx_unary(L, sx_upsample2d, "upsample2d"); }
static int l_downsample2d(lua_State *L) { return lsx_unary(L, sx_downsample2d, "downsample2d"); }

static const luaL_Reg model_fns[] = {
    {"stylegan_config", l_stylegan_config},
    {"Generator", l_generator},
    {"Discriminator", l_discriminator},
    {"Encoder", l_encoder},
    {"modulated_conv2d", l_modulated_conv2d},
    {"upsample2d", l_upsample2d},
    {"downsample2d", l_downsample2d},
    {NULL, NULL},
};

/* The method tables of the StyleGAN module types. The generator's parts
 * (G:child("mapping"), G:child("synthesis")) have the calls that accept
 * them; a Generator has both parts' and its own. */
static const luaL_Reg mapping_methods[] = {
    {"config", m_config},
    {"mapping", m_mapping},
    {NULL, NULL},
};

static const luaL_Reg synthesis_methods[] = {
    {"config", m_config},
    {"synthesis", m_synthesis},
    {"noise", m_noise},
    {"style_layout", m_style_layout},
    {"locate", m_locate},
    {"styles", m_styles},
    {"styles_flat", m_styles_flat},
    {"styles_with_flat", m_styles_with_flat},
    {"from_styles", m_from_styles},
    {NULL, NULL},
};

static const luaL_Reg generator_methods[] = {
    {"latent", m_latent},
    {"generate", m_generate},
    {NULL, NULL},
};

static const luaL_Reg discriminator_methods[] = {
    {"config", m_config},
    {"discriminate", m_discriminate},
    {NULL, NULL},
};

static const luaL_Reg encoder_methods[] = {
    {"config", m_config},
    {"encode", m_encode},
    {NULL, NULL},
};

void lsx_open_models(lua_State *L)
{
    lsx_register(L, "models", model_fns);
    /* per-type methods: sx.nn.Generator, sx.nn.Discriminator, sx.nn.Encoder */
    lsx_add_module_methods(L, "Generator", "Generator", mapping_methods);
    lsx_add_module_methods(L, "Generator", "Generator", synthesis_methods);
    lsx_add_module_methods(L, "Generator", "Generator", generator_methods);
    lsx_add_module_methods(L, "MappingNetwork", NULL, mapping_methods);
    lsx_add_module_methods(L, "SynthesisNetwork", NULL, synthesis_methods);
    lsx_add_module_methods(L, "Discriminator", "Discriminator", discriminator_methods);
    lsx_add_module_methods(L, "Encoder", "Encoder", encoder_methods);
}
