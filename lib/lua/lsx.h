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
#include "stylex_lua.h" /* luaopen_stylex, lsx_preload: the public embedding API */
#include "args.h"        /* the binding kit: options, guards, protected pushes */

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
/* A shape as a table at argument 1 or as the integers at 1 .. last (Torch7's
 * sx.zeros(2, 3)); fills shape and *ndim, returns how many arguments it read. */
int lsx_check_sizes(lua_State *L, int last, int64_t *shape, int *ndim);
/* t[i] (called by the tensor __index for a number key): a view of slice i
 * along dimension 1 (1-based; negative from the end; else an error). */
int lsx_tensor_index(lua_State *L);

/* Pushes a userdata holding no tensor yet (t == NULL), so that a Lua memory
 * error cannot leak a C tensor; the caller then fills ud->t (the liolib
 * pattern: a consistent empty object first). */
lsx_tensor *lsx_new_tensor(lua_State *L);
/* Finishes a call whose result was stored in ud->t (on top of the stack):
 * raises "fn: <sx_last_error()>" if it is NULL, else paces the GC; returns 1. */
int lsx_result(lua_State *L, lsx_tensor *ud, const char *fn);
/* The whole binding of a function of tensors: f(arg 1) / f(arg 1, arg 2),
 * its result pushed as a new tensor (errors name fn). */
int lsx_unary(lua_State *L, sx_tensor *(*f)(sx_tensor *), const char *fn);
int lsx_binary(lua_State *L, sx_tensor *(*f)(sx_tensor *, sx_tensor *), const char *fn);
/* The same for a method m:f(x): m (arg 1, checked by the caller) and x (arg 2). */
int lsx_module_unary(lua_State *L, sx_module *m, sx_tensor *(*f)(sx_module *, sx_tensor *), const char *fn);
/* Raises "fn: <sx_last_error()>" (fn is not repeated if the message already
 * starts with it). */
int lsx_fail(lua_State *L, const char *fn);
/* Tells Lua's GC about the tensor memory C allocated since the last call. */
void lsx_gc_pace(lua_State *L);

/* Strict scalar arguments: numbers only (no string coercion). */
lua_Number lsx_check_number(lua_State *L, int idx);
/* An integer (or an integral float) in [lo, hi]. */
int64_t lsx_check_integer(lua_State *L, int idx, int64_t lo, int64_t hi);
/* nil/none gives def; otherwise a boolean. */
bool lsx_opt_bool(lua_State *L, int idx, bool def);
/* A dimension argument: 1-based, negative counts from the end; returns it
 * 0-based for a tensor of ndim dimensions, raising if out of range. */
int lsx_check_dim(lua_State *L, int idx, int ndim);
/* The same for a value d already read from argument idx (e.g. a table entry). */
int lsx_dim_value(lua_State *L, int idx, lua_Integer d, int ndim);
/* An optional dimension: nil/none gives def (already 0-based), else as lsx_check_dim. */
int lsx_opt_dim(lua_State *L, int idx, int ndim, int def);
/* The tensor at idx, or for a (nested) table of numbers a new tensor made from
 * it, which replaces the table at idx on the stack (so Lua owns it). */
sx_tensor *lsx_check_tensor_like(lua_State *L, int idx);
/* A non-empty list (table) of live tensors at idx, as a Lua-owned array of
 * borrowed pointers (pushed on the stack); *n gets the count. */
sx_tensor **lsx_check_tensor_list(lua_State *L, int idx, int *n);

/* Registers fns as methods of tensors (the table sx.Tensor) / as entries of
 * the "stylex.Tensor" metatable. The module table must be at -1. */
void lsx_add_methods(lua_State *L, const luaL_Reg *fns);
void lsx_add_metamethods(lua_State *L, const luaL_Reg *fns);
/* The ops of a binding file: tensor_first both as sx.name(t, ...) and as
 * t:name(...), fns as sx.name(...) only. The module table must be at -1. */
void lsx_add_tensor_ops(lua_State *L, const luaL_Reg *tensor_first, const luaL_Reg *fns);


/* A module userdata (metatable "stylex.Module", lib/lua/nn_module.c) holds one
 * reference to an sx_module; its user value 1 is a cache table (parameter
 * name -> tensor userdata; key 1: child name -> module userdata), so
 * m:parameters() and m:child(name) return the same objects every time. */
#define LSX_MODULE "stylex.Module"

typedef struct lsx_module {
    sx_module *m; /* owned reference; NULL once freed */
} lsx_module;

/* Pushes an empty module userdata (m == NULL) for the caller to fill (the
 * liolib pattern, as lsx_new_tensor). */
lsx_module *lsx_new_module(lua_State *L);
/* Pushes a module userdata taking ownership of m; if m is NULL raises
 * "fn: <sx_last_error()>". Bindings of models (classifier, generator, ...)
 * use this so their modules get parameters(), state_dict(), etc. */
void lsx_push_module(lua_State *L, sx_module *m, const char *fn);
/* The module at argument idx; raises "bad argument #idx (module expected, got X)". */
sx_module *lsx_check_module(lua_State *L, int idx);
/* Adds fns to the method table of modules of type `type` (m->type; the
 * table is made on first use and falls back to sx.nn.Module); with a name,
 * the table is also sx.nn[name]. The module table must be at -1. */
void lsx_add_module_methods(lua_State *L, const char *type, const char *name, const luaL_Reg *fns);

/* Each binding file registers its functions into the module table at -1. */
/* Reads the options table at idx (nil: every default) into cfg over the
 * descriptor d (lib/lua/config.c): unknown keys, wrong types and the
 * config's check raise "bad argument #idx to 'fn' (...)". */
void lsx_read_config(lua_State *L, int idx, const char *fn, const sx_config_desc *d, void *cfg);
/* Pushes cfg as a table of its fields (those not implied by another). */
void lsx_push_config(lua_State *L, const sx_config_desc *d, const void *cfg);

/* A classifier userdata (metatable "stylex.Classifier", lib/lua/classifier.c)
 * holds one reference to an sx_classifier; user value 1 is the CNN module
 * userdata behind it, or nil. */
#define LSX_CLASSIFIER "stylex.Classifier"
/* The classifier at idx: a classifier userdata or a CNN module (wrapped once,
 * the wrapper cached while the module lives); raises a bad-argument error. */
sx_classifier *lsx_check_classifier(lua_State *L, int idx);
/* Pushes a classifier userdata owning c; raises "fn: <error>" if c is NULL. */
void lsx_push_classifier(lua_State *L, sx_classifier *c, const char *fn);

void lsx_open_tensor(lua_State *L);
void lsx_open_ops(lua_State *L);
void lsx_open_shape_ops(lua_State *L); /* lib/lua/ops_shape.c */
void lsx_open_autograd(lua_State *L);
void lsx_open_io(lua_State *L);
void lsx_open_image(lua_State *L); /* after lsx_open_io: adds to sx.image */
void lsx_open_nn(lua_State *L);
void lsx_open_models(lua_State *L); /* after lsx_open_classifier: wraps config() */
void lsx_open_classifier(lua_State *L); /* after lsx_open_nn: adds to sx.nn.Module */
void lsx_open_attfind(lua_State *L);    /* sx.attfind (lib/lua/attfind.c) */
void lsx_open_shapes(lua_State *L);     /* sx.shapes (lib/lua/shapes.c) */
void lsx_open_metrics(lua_State *L);    /* sx.metrics */
void lsx_open_model_file(lua_State *L); /* sx.models.load_stylex, load_classifier */
void lsx_open_dist(lua_State *L);       /* sx.dist (lib/lua/dist.c) */

/* A file function's failure (lib/lua/io.c): SX_EIO returns nil, message (as
 * io.open does); anything else raises the message. */
int lsx_io_fail(lua_State *L, sx_status st);

#endif
