/*
 * lib/lua/args.c — the binding kit (declared in args.h): option tables and
 * their fields, guards for C results, and the protected push every C-owned
 * object goes through on its way into a userdata.
 */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "lsx.h"

#define LSX_GUARD "stylex.Guard"

int lsx_arg_fail(lua_State *L, int arg, const char *fn, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const char *msg = lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    if (!fn) return luaL_argerror(L, arg, msg);
    return luaL_error(L, "bad argument #%d to '%s' (%s)", arg, fn, msg);
}

/* ---------------------------------------------------------------- options tables */

void lsx_check_options(lua_State *L, int idx, const char *fn, const char *const *names, bool required)
{
    if (!required && lua_isnoneornil(L, idx)) return;
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE) {
        if (!fn) luaL_typeerror(L, idx, "table of options");
        lsx_arg_fail(L, idx, fn, "table of options expected, got %s", luaL_typename(L, idx));
    }
    for (lua_pushnil(L); lua_next(L, idx); lua_pop(L, 1)) {
        bool known = false;
        if (lua_type(L, -2) == LUA_TSTRING)
            for (int i = 0; names[i] && !known; i++) known = strcmp(lua_tostring(L, -2), names[i]) == 0;
        if (known) continue;
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (int i = 0; names[i]; i++) {
            if (i) luaL_addstring(&b, ", ");
            luaL_addstring(&b, names[i]);
        }
        luaL_pushresult(&b);
        const char *key = lua_type(L, -3) == LUA_TSTRING ? lua_tostring(L, -3) : luaL_typename(L, -3);
        lsx_arg_fail(L, idx, fn, "unknown option '%s' (options: %s)", key, lua_tostring(L, -1));
    }
}

void lsx_check_opts(lua_State *L, int idx, const char *const *names) { lsx_check_options(L, idx, NULL, names, false); }

/* Pushes field k of the table at idx (nil when idx is not a table); returns its type. */
static int get_field(lua_State *L, int idx, const char *k)
{
    if (!lua_istable(L, idx)) {
        lua_pushnil(L);
        return LUA_TNIL;
    }
    return lua_getfield(L, idx, k);
}

/* For an absent field: raises if required, else pops the nil. */
static void absent(lua_State *L, int idx, const char *fn, const char *k, bool required)
{
    if (required) lsx_arg_fail(L, idx, fn, "option '%s' is required", k);
    lua_pop(L, 1);
}

static const char *got(lua_State *L, int type)
{
    return type == LUA_TNUMBER ? lua_pushfstring(L, "%s", lua_tostring(L, -1)) : luaL_typename(L, -1);
}

lua_Integer lsx_opt_integer(lua_State *L, int idx, const char *fn, const char *k, lua_Integer def, lua_Integer lo,
                            lua_Integer hi, bool required)
{
    idx = lua_absindex(L, idx);
    int type = get_field(L, idx, k);
    if (type == LUA_TNIL) {
        absent(L, idx, fn, k, required);
        return def;
    }
    int ok = type == LUA_TNUMBER;
    lua_Integer v = ok ? lua_tointegerx(L, -1, &ok) : 0;
    if (!ok || v < lo || v > hi)
        lsx_arg_fail(L, idx, fn, "option '%s' must be an integer in %I..%I, got %s", k, lo, hi, got(L, type));
    lua_pop(L, 1);
    return v;
}

double lsx_opt_number(lua_State *L, int idx, const char *fn, const char *k, double def, bool finite, bool required)
{
    idx = lua_absindex(L, idx);
    int type = get_field(L, idx, k);
    if (type == LUA_TNIL) {
        absent(L, idx, fn, k, required);
        return def;
    }
    double v = type == LUA_TNUMBER ? lua_tonumber(L, -1) : 0;
    if (type != LUA_TNUMBER || (finite && !(fabs(v) <= 1e30)))
        lsx_arg_fail(L, idx, fn, "option '%s' must be a %snumber, got %s", k, finite ? "finite " : "", got(L, type));
    lua_pop(L, 1);
    return v;
}

bool lsx_opt_boolean(lua_State *L, int idx, const char *fn, const char *k, bool def)
{
    idx = lua_absindex(L, idx);
    int type = get_field(L, idx, k);
    if (type != LUA_TNIL && type != LUA_TBOOLEAN)
        lsx_arg_fail(L, idx, fn, "option '%s' must be a boolean, got %s", k, got(L, type));
    bool v = type == LUA_TNIL ? def : lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

sx_tensor *lsx_opt_tensor(lua_State *L, int idx, const char *fn, const char *k)
{
    idx = lua_absindex(L, idx);
    sx_tensor *t = NULL;
    int type = get_field(L, idx, k);
    if (type != LUA_TNIL && !(t = lsx_to_tensor(L, -1)))
        lsx_arg_fail(L, idx, fn, "option '%s' must be a live tensor, got %s", k, got(L, type));
    lua_pop(L, 1);
    return t;
}

sx_tensor **lsx_tensor_array(lua_State *L, int list_idx, int arg, const char *fn, const char *label, int *n)
{
    list_idx = lua_absindex(L, list_idx);
    lua_Unsigned len = lua_rawlen(L, list_idx);
    if (len > (lua_Unsigned)1 << 30) lsx_arg_fail(L, arg, fn, "list too long");
    sx_tensor **ts = lua_newuserdatauv(L, (len ? len : 1) * sizeof *ts, 0);
    for (lua_Unsigned i = 0; i < len; i++) {
        lua_rawgeti(L, list_idx, (lua_Integer)i + 1);
        lsx_tensor *ud = luaL_testudata(L, -1, LSX_TENSOR);
        if (!ud || !ud->t) {
            const char *got = ud ? "a freed tensor" : luaL_typename(L, -1);
            if (label) lsx_arg_fail(L, arg, fn, "%s[%d] is %s, expected a tensor", label, (int)i + 1, got);
            lsx_arg_fail(L, arg, fn, "entry %d is %s, expected a tensor", (int)i + 1, got);
        }
        ts[i] = ud->t;
        lua_pop(L, 1);
    }
    *n = (int)len;
    return ts;
}

/* ---------------------------------------------------------------- guards */

typedef struct lsx_guard {
    lsx_guard_clear clear; /* NULL once run */
    union {
        max_align_t align;
        unsigned char bytes[1];
    } payload[];
} lsx_guard;

/* __gc and __close: clears once, tolerates a second call. */
static int guard_gc(lua_State *L)
{
    lsx_guard *g = luaL_checkudata(L, 1, LSX_GUARD);
    lsx_guard_clear clear = g->clear;
    g->clear = NULL;
    if (clear) clear(g->payload);
    return 0;
}

void *lsx_guard_new(lua_State *L, size_t size, lsx_guard_clear clear)
{
    lsx_guard *g = lua_newuserdatauv(L, sizeof *g + size, 0);
    memset(g, 0, sizeof *g + size);
    if (luaL_newmetatable(L, LSX_GUARD)) {
        lua_pushcfunction(L, guard_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, guard_gc);
        lua_setfield(L, -2, "__close");
    }
    lua_setmetatable(L, -2);
    g->clear = clear;
    return g->payload;
}

void lsx_push_take(lua_State *L, sx_tensor **slot)
{
    if (!*slot) {
        lua_pushnil(L);
        return;
    }
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = *slot;
    *slot = NULL;
}

void lsx_push_take_list(lua_State *L, int n, sx_tensor **slots)
{
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lsx_push_take(L, &slots[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

/* ---------------------------------------------------------------- registration */

void lsx_subtable(lua_State *L, const char *name)
{
    if (lua_getfield(L, -1, name) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, name);
    }
}

void lsx_register(lua_State *L, const char *sub, const luaL_Reg *fns)
{
    lsx_subtable(L, sub);
    luaL_setfuncs(L, fns, 0);
    lua_pop(L, 1);
}

/* ---------------------------------------------------------------- protected pushes */

void lsx_push_protected(lua_State *L, void *obj, lua_CFunction make, void (*drop)(void *))
{
    lua_pushcfunction(L, make);
    lua_pushlightuserdata(L, obj);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        drop(obj);
        lua_error(L);
    }
}

void lsx_push_result(lua_State *L, void *obj, lua_CFunction make, void (*drop)(void *), const char *fn)
{
    if (!obj) {
        lsx_fail(L, fn);
        return;
    }
    lsx_push_protected(L, obj, make, drop);
    lsx_gc_pace(L);
}
