/*
 * lib/lua/lsx.h — what the binding files share: the tensor userdata and
 * argument helpers. The binding is thin: check every argument, call C, clean
 * up, and raise `luaL_error(L, "%s", msg)` on failure.
 *
 * A tensor userdata (metatable "stylex.Tensor") holds exactly one reference to
 * an sx_tensor; __gc and __close share one function that tolerates a second
 * call (the pointer is set to NULL after freeing).
 */
#ifndef STYLEX_LSX_H
#define STYLEX_LSX_H

#include <lauxlib.h>
#include <lua.h>

#include "stylex.h"

#define LSX_TENSOR "stylex.Tensor"

typedef struct lsx_tensor {
    sx_tensor *t; /* owned reference; NULL once freed */
} lsx_tensor;

/* Pushes a new userdata taking ownership of t. If t is NULL, raises a Lua
 * error with sx_last_error() prefixed by fn. Also paces Lua's GC by the C
 * memory allocated since the last push. */
void lsx_push_tensor(lua_State *L, sx_tensor *t, const char *fn);
/* The tensor at argument idx; raises "bad argument #idx to 'fn' (tensor
 * expected, got X)" or "(tensor has been freed)". */
sx_tensor *lsx_check_tensor(lua_State *L, int idx);
/* The tensor at idx, or NULL if the value is not a tensor userdata. */
sx_tensor *lsx_to_tensor(lua_State *L, int idx);
/* Reads a table of integers (a shape) at idx into out[] (at most max); returns the count. */
int lsx_check_shape(lua_State *L, int idx, int64_t *out, int max);
/* Raises a Lua error with sx_last_error(). */
int lsx_error(lua_State *L);

/* Each binding file registers its functions into the module table at -1. */
void lsx_open_tensor(lua_State *L);
void lsx_open_ops(lua_State *L);
void lsx_open_autograd(lua_State *L);
void lsx_open_io(lua_State *L);

#endif
