/*
 * stylex_lua.h — embedding stylex's Lua face in a C program (a host that
 * runs training schedules, policies or reports as Lua scripts). Link the
 * binding (build/stylex.so, or the lib/lua objects with libstylex.a), Lua
 * 5.4 and lua-cjson; see examples/embed_lua.c and docs/lua-api.md#loading.
 *
 *   lua_State *L = luaL_newstate();
 *   luaL_openlibs(L);
 *   luaL_requiref(L, "stylex", luaopen_stylex, 0);   // or lsx_preload(L)
 *
 * The C library itself (include/stylex.h) never includes Lua.
 */
#ifndef STYLEX_LUA_H
#define STYLEX_LUA_H

#include <lua.h>

/* The version of the library and its Lua face (sx.version). */
#define STYLEX_VERSION "0.1.0"

#ifdef __cplusplus
extern "C" {
#endif

/* The module: returns the table `sx`, and registers the embedded
 * lua/stylex/NAME.lua modules in package.preload. */
int luaopen_stylex(lua_State *L);
/* Puts "stylex" and the embedded "stylex.*" modules into package.preload,
 * so a script can require any of them first. */
void lsx_preload(lua_State *L);
/* Ends an mpirun job's MPI after the Lua state is closed: finalises when
 * ok, else aborts every rank (so none waits forever on a failed one).
 * Does nothing in a process started without mpirun. */
void lsx_dist_exit(int ok);

#ifdef __cplusplus
}
#endif
#endif
