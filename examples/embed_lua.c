/*
 * examples/embed_lua.c — a C program that embeds Lua with stylex, as a host
 * that wants its policies as scripts would: it creates a lua_State, opens the
 * standard libraries, registers the stylex module and lua-cjson, runs
 * examples/policy.lua (an AttFind policy of its own over an effect table
 * computed in C), and checks the table the script returns.
 *
 * Unlike the other examples this one links the Lua binding (lib/lua, with
 * the lua/stylex modules compiled in) and Lua itself; see the Makefile rule for
 * $(BUILD)/examples/embed_lua. luaopen_stylex, the binding's entry point,
 * is declared in include/stylex_lua.h.
 *
 * Usage: embed_lua [dir [policy.lua]]
 *   dir         where the script writes policy_picks.json (default ".")
 *   policy.lua  default examples/policy.lua (run from the repository root)
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "stylex_lua.h"

int luaopen_cjson(lua_State *L); /* lua-cjson */

/* Message handler for lua_pcall: the error with a traceback. */
static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
    return 1;
}

/* t[key] of the table at idx as an integer, or -1 if it is not one. */
static lua_Integer int_field(lua_State *L, int idx, const char *key)
{
    int isint = 0;
    lua_getfield(L, idx, key);
    lua_Integer v = lua_tointegerx(L, -1, &isint);
    lua_pop(L, 1);
    return isint ? v : -1;
}

/*
 * Checks the script's result (at the top of the stack):
 *   {n_images =, n_coords =, classes = {{class =, eligible =, picks = {{coord =, direction =, flips =}, ...}}, ...}}
 * Each pick must name a coordinate 1..n_coords and a direction; flips are
 * new images flipped, so they are >= 1, never increase down the list, and
 * add up to at most the images eligible for that class.
 */
static int check_result(lua_State *L)
{
    int res = lua_gettop(L);
    if (!lua_istable(L, res)) {
        fprintf(stderr, "embed_lua: the script returned %s, expected a table\n", luaL_typename(L, res));
        return 1;
    }
    lua_Integer n_images = int_field(L, res, "n_images"), n_coords = int_field(L, res, "n_coords");
    if (n_images < 1 || n_coords < 1 || lua_getfield(L, res, "classes") != LUA_TTABLE) {
        fprintf(stderr, "embed_lua: the result lacks n_images, n_coords or classes\n");
        return 1;
    }
    int classes = lua_gettop(L), total_picks = 0;
    lua_Integer n_classes = (lua_Integer)lua_rawlen(L, classes);
    for (lua_Integer c = 1; c <= n_classes; c++) {
        lua_rawgeti(L, classes, c);
        int cls = lua_gettop(L);
        lua_Integer eligible = int_field(L, cls, "eligible"), sum = 0, prev = n_images;
        if (eligible < 0 || eligible > n_images || lua_getfield(L, cls, "picks") != LUA_TTABLE) {
            fprintf(stderr, "embed_lua: class %lld: bad eligible count or no picks\n", (long long)c - 1);
            return 1;
        }
        int picks = lua_gettop(L);
        for (lua_Integer k = 1; k <= (lua_Integer)lua_rawlen(L, picks); k++) {
            lua_rawgeti(L, picks, k);
            lua_Integer coord = int_field(L, -1, "coord"), flips = int_field(L, -1, "flips");
            lua_getfield(L, -1, "direction");
            const char *dir = lua_tostring(L, -1);
            bool ok = coord >= 1 && coord <= n_coords && flips >= 1 && flips <= prev && dir &&
                      (strcmp(dir, "to-min") == 0 || strcmp(dir, "to-max") == 0);
            if (!ok) {
                fprintf(stderr, "embed_lua: class %lld, pick %lld is inconsistent (coord %lld, flips %lld, %s)\n",
                        (long long)c - 1, (long long)k, (long long)coord, (long long)flips, dir ? dir : "no direction");
                return 1;
            }
            sum += flips;
            prev = flips;
            total_picks++;
            lua_pop(L, 2);
        }
        if (sum > eligible) {
            fprintf(stderr, "embed_lua: class %lld: %lld flips counted for %lld images\n", (long long)c - 1,
                    (long long)sum, (long long)eligible);
            return 1;
        }
        printf("C side: class %lld: %d picks flip %lld of %lld images\n", (long long)c - 1,
               (int)lua_rawlen(L, picks), (long long)sum, (long long)eligible);
        lua_pop(L, 2);
    }
    lua_pop(L, 1);
    if (n_classes < 2 || total_picks == 0) {
        fprintf(stderr, "embed_lua: expected picks for at least one of >= 2 classes\n");
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    const char *script = argc > 2 ? argv[2] : "examples/policy.lua";
    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "embed_lua: cannot create a Lua state\n");
        return 1;
    }
    luaL_openlibs(L);
    /* require "stylex" now: package.loaded.stylex, and the embedded
     * stylex.* modules (stylex.attfind, ...) go into package.preload */
    luaL_requiref(L, "stylex", luaopen_stylex, 0);
    lua_pop(L, 1);
    /* cjson on demand, as the stylex host provides it */
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_cjson);
    lua_setfield(L, -2, "cjson");
    lua_pop(L, 1);

    int rc = 1;
    lua_pushcfunction(L, traceback);
    if (luaL_loadfile(L, script) != LUA_OK) {
        fprintf(stderr, "embed_lua: %s (pass the script's path as the second argument)\n", lua_tostring(L, -1));
        goto out;
    }
    lua_pushstring(L, dir); /* the script's `...` */
    if (lua_pcall(L, 1, 1, 1) != LUA_OK) {
        fprintf(stderr, "embed_lua: %s\n", lua_tostring(L, -1));
        goto out;
    }
    rc = check_result(L);
out:
    lua_close(L); /* collects every tensor and module the script made */
    return rc;
}
