/*
 * lib/lua/nn_internal.h — what the files of the nn binding share (nn.c: the
 * walk and sx.nn; nn_module.c: the module userdata; nn_layers.c; nn_ema.c;
 * optim.c). Private to them.
 */
#ifndef STYLEX_LUA_NN_INTERNAL_H
#define STYLEX_LUA_NN_INTERNAL_H

#include "lsx.h"

/* Longest dotted name and deepest nesting a walk accepts. */
#define WALK_NAME_MAX 512
#define WALK_DEPTH_MAX 48

/* What a walk lists: trainable parameters, or also module buffers. */
enum { WALK_PARAMS, WALK_STATE };

/* ---- nn.c */

/* Raises "bad argument #arg to 'fn' (what expected, got X)" unless arg is a table. */
void nn_check_table(lua_State *L, int arg, const char *fn, const char *what);
/* Pushes an empty sx_named_tensors owned by a guard. */
sx_named_tensors *nn_new_named(lua_State *L);
/* Reads a table name -> tensor at idx into a new guarded list (pushed). */
sx_named_tensors *nn_check_tensor_map(lua_State *L, int idx, const char *fn);
/* Pushes a table name -> new tensor userdata holding a copy of each entry. */
void nn_push_copies_map(lua_State *L, const sx_named_tensors *nt, const char *fn);
/* Walks obj (argument idx: a module or a table) and pushes the guarded list
 * of live (name, tensor) and the parallel list of tensor userdata (on top). */
sx_named_tensors *nn_collect(lua_State *L, int idx, int mode, const char *fn);
/* sx.nn.parameters, named_parameters, state_dict, load_state_dict, zero_grad
 * (the module methods of the same names call them). */
int nn_parameters(lua_State *L);
int nn_named_parameters(lua_State *L);
int nn_state_dict(lua_State *L);
int nn_load_state_dict(lua_State *L);
int nn_zero_grad(lua_State *L);
/* A metatable with metamethods and an __index table of methods; the methods
 * table is left on the stack. */
void nn_new_class(lua_State *L, const char *tname, const luaL_Reg *meta, const luaL_Reg *methods);

/* ---- nn_module.c */

/* The module userdata at idx (live); raises otherwise. */
lsx_module *nn_check_module_ud(lua_State *L, int idx);
/* Makes the module metatable and sx.nn.Module (the table sx.nn at -1). */
void nn_open_module(lua_State *L);

/* ---- nn_layers.c, nn_ema.c, optim.c */

int nn_linear(lua_State *L);
int nn_conv2d(lua_State *L);
int nn_batchnorm2d(lua_State *L);
int nn_relu(lua_State *L);
int nn_leaky_relu(lua_State *L);
int nn_max_pool2d(lua_State *L);
int nn_avg_pool2d(lua_State *L);
int nn_dropout(lua_State *L);
int nn_flatten(lua_State *L);
int nn_ema_update(lua_State *L);
int nn_copy_params(lua_State *L);
/* sx.optim (the module table at -1). */
void nn_open_optim(lua_State *L);

#endif
