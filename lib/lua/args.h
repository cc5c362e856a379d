/*
 * lib/lua/args.h — the binding kit (lib/lua/args.c): what every binding file
 * uses to read options, keep C results safe until Lua owns them, and push
 * C-owned objects without leaking on a memory error. Included by lsx.h.
 *
 * Errors name the function. Where a reader takes `fn`, a failure raises
 * "bad argument #idx to 'fn' (...)" with fn fixed (so the message is right
 * through pcall or an alias); with fn NULL it raises through luaL_argerror,
 * which takes the name from the call.
 */
#ifndef STYLEX_LUA_ARGS_H
#define STYLEX_LUA_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lauxlib.h>
#include <lua.h>

#include "stylex/tensor.h"

/* Raises "bad argument #arg to 'fn' (msg)"; fn NULL: luaL_argerror(L, arg, msg).
 * fmt is a lua_pushfstring format (%s %d %I %f %p %c %%). */
int lsx_arg_fail(lua_State *L, int arg, const char *fn, const char *fmt, ...);

/* ---------------------------------------------------------------- options tables */

/* Raises unless idx is a table (or, unless required, nil/none) whose keys
 * are all in names (a NULL-terminated list); catches misspelt options. */
void lsx_check_options(lua_State *L, int idx, const char *fn, const char *const *names, bool required);
/* lsx_check_options(L, idx, NULL, names, false). */
void lsx_check_opts(lua_State *L, int idx, const char *const *names);

/* Field k of the options table at idx (idx may also be nil/none: every field
 * is then absent). An absent field gives def, or raises "option 'k' is
 * required" when required. */
lua_Integer lsx_opt_integer(lua_State *L, int idx, const char *fn, const char *k, lua_Integer def, lua_Integer lo,
                            lua_Integer hi, bool required);
/* A number (any, or finite only: |v| <= 1e30, so it stays finite as a float). */
double lsx_opt_number(lua_State *L, int idx, const char *fn, const char *k, double def, bool finite,
                      bool required);
bool lsx_opt_boolean(lua_State *L, int idx, const char *fn, const char *k, bool def);
/* A live tensor (borrowed: the options table keeps it referenced), or NULL when absent. */
sx_tensor *lsx_opt_tensor(lua_State *L, int idx, const char *fn, const char *k);

/* The list (table) at list_idx of live tensors, as a Lua-owned array of
 * borrowed pointers (pushed; the list keeps the tensors alive); *n gets its
 * length (0 allowed). A bad entry raises, as argument arg of fn,
 * "<label>[i] is X, expected a tensor" ("entry i is X, ..." when label is NULL). */
sx_tensor **lsx_tensor_array(lua_State *L, int list_idx, int arg, const char *fn, const char *label, int *n);

/* ---------------------------------------------------------------- guards */

/* A guard is a Lua-owned box for C results on their way to Lua: a userdata
 * holding `size` zeroed bytes, pushed on the stack; when it is collected
 * (after an error part way, or at the end of the call) clear(payload) frees
 * whatever is still in it. clear must tolerate a zeroed or emptied payload. */
typedef void (*lsx_guard_clear)(void *payload);
void *lsx_guard_new(lua_State *L, size_t size, lsx_guard_clear clear);

/* Pushes *slot as a new tensor userdata, taking the reference out of the
 * guard (*slot becomes NULL); pushes nil when *slot is NULL. */
void lsx_push_take(lua_State *L, sx_tensor **slot);
/* Pushes a list {1..n} of tensors taken from slots. */
void lsx_push_take_list(lua_State *L, int n, sx_tensor **slots);

/* ---------------------------------------------------------------- registration */

/* Pushes the sub-table `name` of the table at -1 (made if absent). */
void lsx_subtable(lua_State *L, const char *name);
/* Registers fns into the sub-table `sub` of the module table at -1 (made if
 * absent). */
void lsx_register(lua_State *L, const char *sub, const luaL_Reg *fns);

/* ---------------------------------------------------------------- protected pushes */

/* Runs make(L) (which pushes one value built around obj, found as light
 * userdata at index 1) under pcall; if it raises (out of memory), frees obj
 * with drop and re-raises. The one way a C-owned object gets its userdata. */
void lsx_push_protected(lua_State *L, void *obj, lua_CFunction make, void (*drop)(void *));
/* A C function's new object on its way to Lua: raises "fn: <sx_last_error()>"
 * when obj is NULL, else lsx_push_protected and a GC step for its memory. */
void lsx_push_result(lua_State *L, void *obj, lua_CFunction make, void (*drop)(void *), const char *fn);

#endif
