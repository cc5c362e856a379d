/*
 * lib/lua/config.c — model configs in Lua: an options table read over a
 * config descriptor (stylex/config.h), and a config pushed back as a table.
 * The keys, types and rules are the descriptor's, the same the JSON configs
 * of the model files are read with (lib/models/model_file.c).
 */
#include "lsx.h"

/* The list at -1 as numbers into v (at most max entries; *n gets the length). */
static void read_list(lua_State *L, int idx, const char *fn, const char *key, double *v, int max, int *n)
{
    lua_Unsigned len = lua_rawlen(L, -1);
    *n = len > (lua_Unsigned)max ? max + 1 : (int)len;
    for (int k = 0; k < *n && k < max; k++) {
        if (lua_rawgeti(L, -1, k + 1) != LUA_TNUMBER)
            lsx_arg_fail(L, idx, fn, "'%s[%d]' must be a number, got %s", key, k + 1, luaL_typename(L, -1));
        v[k] = lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
}

void lsx_read_config(lua_State *L, int idx, const char *fn, const sx_config_desc *d, void *cfg)
{
    idx = lua_absindex(L, idx);
    const char *names[SX_CONFIG_MAX_FIELDS + 1];
    for (int i = 0; i < d->n_fields; i++) names[i] = d->fields[i].key;
    names[d->n_fields] = NULL;
    lsx_check_options(L, idx, fn, names, false);
    sx_config_build b;
    sx_config_begin(&b, d, cfg);
    for (int i = 0; i < d->n_fields && lua_istable(L, idx); i++) {
        const sx_config_field *f = &d->fields[i];
        int type = lua_getfield(L, idx, f->key);
        sx_status st = SX_OK;
        if (type != LUA_TNIL && f->type != SX_FIELD_INT_LIST) {
            if (type != LUA_TNUMBER)
                lsx_arg_fail(L, idx, fn, "'%s' must be a number, got %s", f->key, luaL_typename(L, -1));
            st = sx_config_set_number(&b, i, lua_tonumber(L, -1));
        } else if (type != LUA_TNIL) {
            if (type != LUA_TTABLE)
                lsx_arg_fail(L, idx, fn, "'%s' must be a list of integers, got %s", f->key, luaL_typename(L, -1));
            double v[SX_STYLEGAN_MAX_LEVELS + SX_CNN_MAX_BLOCKS];
            int n;
            read_list(L, idx, fn, f->key, v, (int)(sizeof v / sizeof *v), &n);
            st = sx_config_set_list(&b, i, v, n);
        }
        lua_pop(L, 1);
        if (st != SX_OK) lsx_arg_fail(L, idx, fn, "%s", sx_last_error());
    }
    if (sx_config_finish(&b) != SX_OK) lsx_arg_fail(L, idx, fn, "%s", sx_last_error());
}

void lsx_push_config(lua_State *L, const sx_config_desc *d, const void *cfg)
{
    lua_createtable(L, 0, d->n_fields);
    for (int i = 0; i < d->n_fields; i++) {
        const sx_config_field *f = &d->fields[i];
        const void *at = (const char *)cfg + f->offset;
        if (f->implied) continue;
        if (f->type == SX_FIELD_INT) {
            lua_pushinteger(L, *(const int *)at);
        } else if (f->type == SX_FIELD_FLOAT) {
            lua_pushnumber(L, *(const float *)at);
        } else {
            int n = d->list_len(cfg, f);
            lua_createtable(L, n, 0);
            for (int k = 0; k < n; k++) {
                lua_pushinteger(L, ((const int *)at)[k]);
                lua_rawseti(L, -2, k + 1);
            }
        }
        lua_setfield(L, -2, f->key);
    }
}
