/*
 * lib/lua/tensor.c — the tensor userdata and the argument helpers every
 * binding file shares (lsx.h), tensor creation (sx.tensor, sx.zeros, ...,
 * the RNG) and the methods that are not ops (shape, item, totable, free, ...).
 *
 * A userdata owns exactly one reference to its sx_tensor. Results are made
 * the liolib way: push an empty userdata first, then call C and store the
 * result in it, so a Lua memory error can never leak a C tensor. Arguments
 * are checked before any C allocation; C failures become Lua errors carrying
 * sx_last_error().
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "lsx.h"

/* ---------------------------------------------------------------- userdata */

lsx_tensor *lsx_new_tensor(lua_State *L)
{
    lsx_tensor *ud = lua_newuserdatauv(L, sizeof *ud, 0);
    ud->t = NULL;
    luaL_setmetatable(L, LSX_TENSOR);
    return ud;
}

/* C allocations accumulate here until they are worth a GC step. */
static _Thread_local size_t gc_pending;
#define GC_STEP_BYTES ((size_t)64 << 10)

void lsx_gc_pace(lua_State *L)
{
    gc_pending += sx_mem_take_allocated();
    if (gc_pending < GC_STEP_BYTES) return;
    size_t kb = gc_pending >> 10;
    gc_pending = 0;
    /* As if Lua itself had allocated that much: the collector does work in
     * proportion, so dropped tensors are found without collectgarbage(). */
    lua_gc(L, LUA_GCSTEP, kb > INT_MAX ? INT_MAX : (int)kb);
}

int lsx_fail(lua_State *L, const char *fn)
{
    const char *msg = sx_last_error();
    size_t n = strlen(fn);
    if (strncmp(msg, fn, n) == 0 && msg[n] == ':') return luaL_error(L, "%s", msg);
    return luaL_error(L, "%s: %s", fn, msg[0] ? msg : "failed");
}

int lsx_error(lua_State *L) { return luaL_error(L, "%s", sx_last_error()); }

int lsx_result(lua_State *L, lsx_tensor *ud, const char *fn)
{
    if (!ud->t) return lsx_fail(L, fn);
    lsx_gc_pace(L);
    return 1;
}

int lsx_unary(lua_State *L, sx_tensor *(*f)(sx_tensor *), const char *fn)
{
    sx_tensor *x = lsx_check_tensor(L, 1);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = f(x);
    return lsx_result(L, ud, fn);
}

int lsx_binary(lua_State *L, sx_tensor *(*f)(sx_tensor *, sx_tensor *), const char *fn)
{
    sx_tensor *a = lsx_check_tensor(L, 1), *b = lsx_check_tensor(L, 2);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = f(a, b);
    return lsx_result(L, ud, fn);
}

int lsx_module_unary(lua_State *L, sx_module *m, sx_tensor *(*f)(sx_module *, sx_tensor *), const char *fn)
{
    sx_tensor *x = lsx_check_tensor(L, 2);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = f(m, x);
    return lsx_result(L, ud, fn);
}

/* Allocates the userdata under protection, so that t is freed (not leaked)
 * if Lua runs out of memory. */
static int make_tensor_ud(lua_State *L)
{
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = lua_touserdata(L, 1);
    return 1;
}

static void drop_tensor(void *t) { sx_tensor_free(t); }

void lsx_push_tensor(lua_State *L, sx_tensor *t, const char *fn)
{
    lsx_push_result(L, t, make_tensor_ud, drop_tensor, fn);
}

sx_tensor *lsx_to_tensor(lua_State *L, int idx)
{
    lsx_tensor *ud = luaL_testudata(L, idx, LSX_TENSOR);
    return ud ? ud->t : NULL;
}

sx_tensor *lsx_check_tensor(lua_State *L, int idx)
{
    lsx_tensor *ud = luaL_testudata(L, idx, LSX_TENSOR);
    if (!ud) luaL_typeerror(L, idx, "tensor");
    if (!ud->t) luaL_argerror(L, idx, "tensor has been freed");
    return ud->t;
}

/* ---------------------------------------------------------------- argument helpers */

lua_Number lsx_check_number(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TNUMBER) luaL_typeerror(L, idx, "number");
    return lua_tonumber(L, idx);
}

int64_t lsx_check_integer(lua_State *L, int idx, int64_t lo, int64_t hi)
{
    if (lua_type(L, idx) != LUA_TNUMBER) luaL_typeerror(L, idx, "integer");
    int ok;
    lua_Integer v = lua_tointegerx(L, idx, &ok);
    if (!ok) luaL_argerror(L, idx, "number has no integer representation");
    if (v < lo || v > hi)
        luaL_argerror(L, idx, lua_pushfstring(L, "%I out of range [%I, %I]", (lua_Integer)v,
                                              (lua_Integer)lo, (lua_Integer)hi));
    return v;
}

bool lsx_opt_bool(lua_State *L, int idx, bool def)
{
    if (lua_isnoneornil(L, idx)) return def;
    if (lua_type(L, idx) != LUA_TBOOLEAN) luaL_typeerror(L, idx, "boolean");
    return lua_toboolean(L, idx);
}

int lsx_dim_value(lua_State *L, int idx, lua_Integer d, int ndim)
{
    if (d >= 1 && d <= ndim) return (int)d - 1;
    if (d < 0 && d >= -ndim) return ndim + (int)d;
    if (d == 0) luaL_argerror(L, idx, "dimension 0 is invalid (dimensions are 1-based; -1 is the last)");
    luaL_argerror(L, idx, lua_pushfstring(L, "dimension %I out of range for a %d-d tensor", d, ndim));
    return -1;
}

int lsx_check_dim(lua_State *L, int idx, int ndim)
{
    lua_Integer d = lsx_check_integer(L, idx, LUA_MININTEGER, LUA_MAXINTEGER);
    return lsx_dim_value(L, idx, d, ndim);
}

int lsx_opt_dim(lua_State *L, int idx, int ndim, int def)
{
    return lua_isnoneornil(L, idx) ? def : lsx_check_dim(L, idx, ndim);
}

int lsx_check_shape(lua_State *L, int idx, int64_t *out, int max)
{
    if (lua_type(L, idx) != LUA_TTABLE) luaL_typeerror(L, idx, "table of sizes");
    lua_Unsigned n = lua_rawlen(L, idx);
    if (n > (lua_Unsigned)max)
        luaL_argerror(L, idx, lua_pushfstring(L, "%I dimensions (at most %d)", (lua_Integer)n, max));
    for (int i = 0; i < (int)n; i++) {
        lua_rawgeti(L, idx, i + 1);
        int ok = lua_type(L, -1) == LUA_TNUMBER;
        lua_Integer v = ok ? lua_tointegerx(L, -1, &ok) : 0;
        if (!ok)
            luaL_argerror(L, idx, lua_pushfstring(L, "size #%d is %s, not an integer", i + 1,
                                                  lua_type(L, -1) == LUA_TNUMBER
                                                      ? lua_pushfstring(L, "%f", lua_tonumber(L, -1))
                                                      : luaL_typename(L, -1)));
        out[i] = v;
        lua_pop(L, 1);
    }
    return (int)n;
}

void lsx_add_methods(lua_State *L, const luaL_Reg *fns)
{
    lua_getfield(L, -1, "Tensor");
    luaL_setfuncs(L, fns, 0);
    lua_pop(L, 1);
}

void lsx_add_tensor_ops(lua_State *L, const luaL_Reg *tensor_first, const luaL_Reg *fns)
{
    luaL_setfuncs(L, tensor_first, 0);
    luaL_setfuncs(L, fns, 0);
    lsx_add_methods(L, tensor_first);
}

void lsx_add_metamethods(lua_State *L, const luaL_Reg *fns)
{
    luaL_getmetatable(L, LSX_TENSOR);
    luaL_setfuncs(L, fns, 0);
    lua_pop(L, 1);
}

/* ---------------------------------------------------------------- tables of numbers */

/* Checks that the value on top of the stack, found at depth `depth` of the
 * nested table given as argument arg, matches shape[depth..ndim). path holds
 * the 1-based position of that value, for the error message. */
static void check_nested(lua_State *L, int arg, int depth, int ndim, const int64_t *shape, int64_t *path)
{
    if (depth == ndim) {
        if (lua_type(L, -1) == LUA_TNUMBER) return;
    } else if (lua_type(L, -1) == LUA_TTABLE && (int64_t)lua_rawlen(L, -1) == shape[depth]) {
        luaL_checkstack(L, 2, "nested table");
        for (int64_t i = 0; i < shape[depth]; i++) {
            path[depth] = i + 1;
            lua_rawgeti(L, -1, (lua_Integer)i + 1);
            check_nested(L, arg, depth + 1, ndim, shape, path);
            lua_pop(L, 1);
        }
        return;
    }
    const char *got = luaL_typename(L, -1); /* a static string */
    lua_Integer len = lua_type(L, -1) == LUA_TTABLE ? (lua_Integer)lua_rawlen(L, -1) : -1;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "element ");
    for (int d = 0; d < depth; d++) {
        lua_pushfstring(L, "[%I]", (lua_Integer)path[d]);
        luaL_addvalue(&b);
    }
    if (depth == ndim) lua_pushfstring(L, " is %s, expected a number", got);
    else if (len >= 0) lua_pushfstring(L, " has %I entries, expected %I", len, (lua_Integer)shape[depth]);
    else lua_pushfstring(L, " is %s, expected a table of %I entries", got, (lua_Integer)shape[depth]);
    luaL_addvalue(&b);
    luaL_pushresult(&b);
    luaL_argerror(L, arg, lua_tostring(L, -1));
}

static void fill_nested(lua_State *L, int depth, int ndim, const int64_t *shape, float **out)
{
    if (depth == ndim) {
        *(*out)++ = (float)lua_tonumber(L, -1);
        return;
    }
    for (int64_t i = 0; i < shape[depth]; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i + 1);
        fill_nested(L, depth + 1, ndim, shape, out);
        lua_pop(L, 1);
    }
}

/* Fills ud->t from the number or nested table at arg (checked first). */
static void tensor_from_value(lua_State *L, int arg, lsx_tensor *ud)
{
    if (lua_type(L, arg) == LUA_TNUMBER) {
        ud->t = sx_tensor_scalar((float)lua_tonumber(L, arg));
        return;
    }
    if (lua_type(L, arg) != LUA_TTABLE) luaL_typeerror(L, arg, "table of numbers");
    int64_t shape[SX_MAX_DIMS], path[SX_MAX_DIMS];
    int ndim = 0;
    luaL_checkstack(L, SX_MAX_DIMS + 4, "nested table");
    lua_pushvalue(L, arg);
    while (lua_type(L, -1) == LUA_TTABLE) {
        if (ndim == SX_MAX_DIMS)
            luaL_argerror(L, arg, lua_pushfstring(L, "nested deeper than %d dimensions", SX_MAX_DIMS));
        shape[ndim] = (int64_t)lua_rawlen(L, -1);
        if (shape[ndim++] == 0) break;
        lua_rawgeti(L, -1, 1);
    }
    lua_pop(L, ndim + (lua_type(L, -1) == LUA_TTABLE ? 0 : 1));
    lua_pushvalue(L, arg);
    check_nested(L, arg, 0, ndim, shape, path);
    ud->t = sx_tensor_empty(ndim, shape);
    if (ud->t) {
        float *p = sx_tensor_data(ud->t);
        fill_nested(L, 0, ndim, shape, &p);
    }
    lua_pop(L, 1);
}

sx_tensor *lsx_check_tensor_like(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE) return lsx_check_tensor(L, idx);
    lsx_tensor *ud = lsx_new_tensor(L);
    tensor_from_value(L, idx, ud);
    if (!ud->t) lsx_fail(L, "tensor");
    lua_replace(L, idx);
    return ud->t;
}

/* ---------------------------------------------------------------- creation */

/* sx.tensor(number | nested table | tensor): a new tensor (a copy). */
static int l_tensor(lua_State *L)
{
    sx_tensor *src = lsx_to_tensor(L, 1);
    if (!src && luaL_testudata(L, 1, LSX_TENSOR)) lsx_check_tensor(L, 1);
    if (!src && lua_type(L, 1) != LUA_TNUMBER && lua_type(L, 1) != LUA_TTABLE)
        luaL_typeerror(L, 1, "number, table or tensor");
    lsx_tensor *ud = lsx_new_tensor(L);
    if (src) ud->t = sx_tensor_copy(src);
    else tensor_from_value(L, 1, ud);
    return lsx_result(L, ud, "tensor");
}

enum fill_kind { FILL_ZEROS, FILL_ONES, FILL_RAND, FILL_RANDN, FILL_FULL };

/* A shape given as a table at arg 1 ({2, 3}) or as the numbers at 1 .. last
 * (2, 3), Torch7's and PyTorch's two spellings; returns the number of
 * arguments it used. Sizes are integers >= 0. */
int lsx_check_sizes(lua_State *L, int last, int64_t *shape, int *ndim)
{
    if (lua_type(L, 1) != LUA_TNUMBER) {
        *ndim = lsx_check_shape(L, 1, shape, SX_MAX_DIMS);
        for (int i = 0; i < *ndim; i++)
            if (shape[i] < 0)
                luaL_argerror(L, 1, lua_pushfstring(L, "size #%d is %I (sizes are >= 0)", i + 1, (lua_Integer)shape[i]));
        return 1;
    }
    if (last > SX_MAX_DIMS)
        luaL_argerror(L, SX_MAX_DIMS + 1, lua_pushfstring(L, "%d sizes (at most %d)", last, SX_MAX_DIMS));
    for (int i = 0; i < last; i++) shape[i] = lsx_check_integer(L, i + 1, 0, SX_MAX_NUMEL);
    *ndim = last;
    return last;
}

static int make_filled(lua_State *L, enum fill_kind kind, const char *fn)
{
    int64_t shape[SX_MAX_DIMS];
    int ndim, top = lua_gettop(L);
    /* full(2, 3, value): the value is the last argument */
    int used = lsx_check_sizes(L, kind == FILL_FULL ? top - 1 : top, shape, &ndim);
    if (used == 1 && lua_type(L, 1) != LUA_TNUMBER && top > (kind == FILL_FULL ? 2 : 1))
        luaL_argerror(L, kind == FILL_FULL ? 3 : 2, "unexpected argument after the shape table");
    if (kind == FILL_FULL && lua_type(L, 1) == LUA_TNUMBER && top < 2)
        luaL_argerror(L, 2, "the value expected after the sizes");
    float value = kind == FILL_FULL ? (float)lsx_check_number(L, used + 1) : 0.0f;
    lsx_tensor *ud = lsx_new_tensor(L);
    switch (kind) {
    case FILL_ZEROS: ud->t = sx_tensor_zeros(ndim, shape); break;
    case FILL_ONES: ud->t = sx_tensor_ones(ndim, shape); break;
    case FILL_RAND: ud->t = sx_tensor_rand(ndim, shape); break;
    case FILL_RANDN: ud->t = sx_tensor_randn(ndim, shape); break;
    case FILL_FULL: ud->t = sx_tensor_full(ndim, shape, value); break;
    }
    return lsx_result(L, ud, fn);
}

static int l_zeros(lua_State *L) { return make_filled(L, FILL_ZEROS, "zeros"); }
static int l_ones(lua_State *L) { return make_filled(L, FILL_ONES, "ones"); }
static int l_rand(lua_State *L) { return make_filled(L, FILL_RAND, "rand"); }
static int l_randn(lua_State *L) { return make_filled(L, FILL_RANDN, "randn"); }
static int l_full(lua_State *L) { return make_filled(L, FILL_FULL, "full"); }

static sx_tensor *zeros_like(sx_tensor *t) { return sx_tensor_zeros_like(t); }
static sx_tensor *ones_like(sx_tensor *t) { return sx_tensor_ones_like(t); }
static int l_zeros_like(lua_State *L) { return lsx_unary(L, zeros_like, "zeros_like"); }
static int l_ones_like(lua_State *L) { return lsx_unary(L, ones_like, "ones_like"); }

static int l_arange(lua_State *L)
{
    int64_t n = lsx_check_integer(L, 1, 0, SX_MAX_NUMEL);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_tensor_arange(n);
    return lsx_result(L, ud, "arange");
}

/* ---------------------------------------------------------------- RNG */

static int l_manual_seed(lua_State *L)
{
    lua_Integer seed = lsx_check_integer(L, 1, LUA_MININTEGER, LUA_MAXINTEGER);
    sx_manual_seed((uint64_t)seed);
    return 0;
}

/* The four state words as Lua integers (bit patterns of the uint64s). */
static int l_rng_get_state(lua_State *L)
{
    uint64_t s[4];
    sx_rng_get_state(s);
    lua_createtable(L, 4, 0);
    for (int i = 0; i < 4; i++) {
        lua_pushinteger(L, (lua_Integer)s[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int l_rng_set_state(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    uint64_t s[4];
    bool any = false;
    for (int i = 0; i < 4; i++) {
        lua_rawgeti(L, 1, i + 1);
        int ok = lua_type(L, -1) == LUA_TNUMBER && lua_isinteger(L, -1);
        if (!ok) luaL_argerror(L, 1, "expected a table of 4 integers (from rng_get_state)");
        s[i] = (uint64_t)lua_tointeger(L, -1);
        any |= s[i] != 0;
        lua_pop(L, 1);
    }
    if (!any) luaL_argerror(L, 1, "the all-zero state is not a valid generator state");
    sx_rng_set_state(s);
    return 0;
}

/* ---------------------------------------------------------------- queries */

static int l_shape(lua_State *L)
{
    sx_tensor *t = lsx_check_tensor(L, 1);
    lua_createtable(L, t->ndim, 0);
    for (int i = 0; i < t->ndim; i++) {
        lua_pushinteger(L, (lua_Integer)t->shape[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* t:size() is the shape table (Torch7's LongStorage, PyTorch's torch.Size),
 * t:size(d) the size of dimension d. */
static int l_size(lua_State *L)
{
    sx_tensor *t = lsx_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) return l_shape(L);
    int d = lsx_check_dim(L, 2, t->ndim);
    lua_pushinteger(L, (lua_Integer)t->shape[d]);
    return 1;
}

static int l_dim(lua_State *L)
{
    lua_pushinteger(L, lsx_check_tensor(L, 1)->ndim);
    return 1;
}

static int l_numel(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)sx_tensor_numel(lsx_check_tensor(L, 1)));
    return 1;
}

static int l_is_contiguous(lua_State *L)
{
    lua_pushboolean(L, sx_tensor_is_contiguous(lsx_check_tensor(L, 1)));
    return 1;
}

static int l_item(lua_State *L)
{
    float v;
    if (sx_tensor_item(lsx_check_tensor(L, 1), &v) != SX_OK) return lsx_fail(L, "item");
    lua_pushnumber(L, v);
    return 1;
}

static void push_nested(lua_State *L, const float **p, int depth, int ndim, const int64_t *shape)
{
    if (depth == ndim) {
        lua_pushnumber(L, *(*p)++);
        return;
    }
    int64_t n = shape[depth];
    lua_createtable(L, n > INT_MAX ? INT_MAX : (int)n, 0);
    for (int64_t i = 0; i < n; i++) {
        push_nested(L, p, depth + 1, ndim, shape);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* Nested tables of numbers (a plain number for a 0-d tensor). */
static int l_totable(lua_State *L)
{
    sx_tensor *t = lsx_check_tensor(L, 1);
    luaL_checkstack(L, SX_MAX_DIMS + 4, "totable");
    const float *p = sx_tensor_data(t);
    if (!sx_tensor_is_contiguous(t)) {
        /* a scratch buffer owned by Lua, so an error cannot leak it */
        float *buf = lua_newuserdatauv(L, (size_t)sx_tensor_numel(t) * sizeof(float) + 1, 0);
        sx_tensor_copy_to(t, buf);
        p = buf;
    }
    push_nested(L, &p, 0, t->ndim, t->shape);
    return 1;
}

/* "Tensor[2, 3] (requires_grad, grad_fn=mul) {1, 2, 3, 4, 5, 6}" with at most 8 values. */
static int l_tostring(lua_State *L)
{
    lsx_tensor *ud = luaL_checkudata(L, 1, LSX_TENSOR);
    if (!ud->t) {
        lua_pushliteral(L, "Tensor (freed)");
        return 1;
    }
    sx_tensor *t = ud->t;
    enum { SHOW = 8 };
    char shape[128];
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_pushfstring(L, "Tensor%s", sx_shape_str(t, shape, sizeof shape));
    luaL_addvalue(&b);
    if (t->requires_grad) {
        const char *op = sx_tensor_op_name(t);
        if (op[0]) lua_pushfstring(L, " (grad_fn=%s)", op);
        else lua_pushliteral(L, " (requires_grad)");
        luaL_addvalue(&b);
    }
    luaL_addstring(&b, " {");
    int64_t numel = sx_tensor_numel(t), idx[SX_MAX_DIMS] = {0};
    for (int64_t k = 0; k < numel && k < SHOW; k++) {
        char num[32];
        snprintf(num, sizeof num, k ? ", %.5g" : "%.5g", (double)sx_tensor_get(t, idx));
        luaL_addstring(&b, num);
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) break;
            idx[d] = 0;
        }
    }
    if (numel > SHOW) luaL_addstring(&b, ", ...");
    luaL_addstring(&b, "}");
    luaL_pushresult(&b);
    return 1;
}

static int l_len(lua_State *L)
{
    sx_tensor *t = lsx_check_tensor(L, 1);
    if (t->ndim == 0) return luaL_error(L, "len: a 0-d tensor has no length");
    lua_pushinteger(L, (lua_Integer)t->shape[0]);
    return 1;
}

/* __gc, __close and t:free(): drops the reference; a second call does nothing. */
static int l_free(lua_State *L)
{
    lsx_tensor *ud = luaL_checkudata(L, 1, LSX_TENSOR);
    sx_tensor_free(ud->t);
    ud->t = NULL;
    return 0;
}

/* ---------------------------------------------------------------- copies, in-place */

/* A fresh copy with its own storage; differentiable when t requires grad. */
static int l_clone(lua_State *L)
{
    sx_tensor *t = lsx_check_tensor(L, 1);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = t->requires_grad && sx_grad_enabled() ? sx_mul_scalar(t, 1.0f) : sx_tensor_copy(t);
    return lsx_result(L, ud, "clone");
}

/* t:fill(v): in place, not recorded; returns t. */
static int l_fill(lua_State *L)
{
    sx_tensor *t = lsx_check_tensor(L, 1);
    float v = (float)lsx_check_number(L, 2);
    sx_tensor_fill(t, v);
    lua_settop(L, 1);
    return 1;
}

/* t:assign(src): copies src's values into t in place, not recorded; returns t. */
static int l_assign(lua_State *L)
{
    sx_tensor *t = lsx_check_tensor(L, 1);
    sx_tensor *src = lsx_check_tensor_like(L, 2);
    if (sx_tensor_assign(t, src) != SX_OK) return lsx_fail(L, "assign");
    lsx_gc_pace(L);
    lua_settop(L, 1);
    return 1;
}

/* ---------------------------------------------------------------- checked in-place updates */

/* The in-place updates of PyTorch (add_, mul_, zero_, copy_, fill_) write
 * into a tensor autograd does not see change: refused on a tensor made by a
 * recorded op, and on a leaf requiring grad unless grad mode is off (the
 * way optimisers update parameters: inside sx.no_grad). */
static sx_tensor *check_writable(lua_State *L, int idx, const char *fn)
{
    sx_tensor *t = lsx_check_tensor(L, idx);
    if (t->grad_fn)
        luaL_error(L, "%s: in-place update of a tensor made by %s, which autograd tracks (write t = t + x instead)", fn,
                   sx_tensor_op_name(t));
    if (t->requires_grad && sx_grad_enabled())
        luaL_error(L, "%s: in-place update of a leaf that requires grad (do it inside sx.no_grad, as an optimiser "
                   "does, or on t:detach())", fn);
    return t;
}

/* Writes r (a result of t's op with x, computed without recording) into t;
 * r must have t's shape: x may broadcast into t, not t into x. */
static int write_back(lua_State *L, sx_tensor *t, sx_tensor *r, const char *fn)
{
    if (!r) return lsx_fail(L, fn);
    sx_status st = SX_OK;
    if (!sx_tensor_same_shape(t, r)) {
        char a[96], b[96];
        st = sx_fail(SX_EINVAL, "%s: the result %s does not fit the tensor %s written in place", fn,
                     sx_shape_str(r, a, sizeof a), sx_shape_str(t, b, sizeof b));
    } else {
        st = sx_tensor_assign(t, r);
    }
    sx_tensor_free(r);
    if (st != SX_OK) return lsx_fail(L, fn);
    lsx_gc_pace(L);
    lua_settop(L, 1);
    return 1;
}

/* t:add_(x [, alpha]) and t:mul_(x): x a number or a tensor broadcasting to t. */
static int inplace_arith(lua_State *L, bool mul, const char *fn)
{
    sx_tensor *t = check_writable(L, 1, fn);
    sx_tensor *x = lua_type(L, 2) == LUA_TNUMBER ? NULL : lsx_check_tensor(L, 2);
    float v = x ? 0.0f : (float)lua_tonumber(L, 2);
    float alpha = mul || lua_isnoneornil(L, 3) ? 1.0f : (float)lsx_check_number(L, 3);
    bool prev = sx_set_grad_enabled(false);
    sx_tensor *r = NULL;
    if (!x) r = mul ? sx_mul_scalar(t, v) : sx_add_scalar(t, v * alpha);
    else if (mul) r = sx_mul(t, x);
    else {
        sx_tensor *xs = alpha == 1.0f ? sx_tensor_retain(x) : sx_mul_scalar(x, alpha);
        r = xs ? sx_add(t, xs) : NULL;
        sx_tensor_free(xs);
    }
    sx_set_grad_enabled(prev);
    return write_back(L, t, r, fn);
}

static int l_add_(lua_State *L) { return inplace_arith(L, false, "add_"); }
static int l_mul_(lua_State *L) { return inplace_arith(L, true, "mul_"); }

static int l_zero_(lua_State *L)
{
    sx_tensor_fill(check_writable(L, 1, "zero_"), 0.0f);
    lua_settop(L, 1);
    return 1;
}

static int l_fill_(lua_State *L)
{
    sx_tensor *t = check_writable(L, 1, "fill_");
    sx_tensor_fill(t, (float)lsx_check_number(L, 2));
    lua_settop(L, 1);
    return 1;
}

/* t:copy_(src): src (a tensor or nested table) broadcast to t's shape. */
static int l_copy_(lua_State *L)
{
    sx_tensor *t = check_writable(L, 1, "copy_");
    sx_tensor *src = lsx_check_tensor_like(L, 2);
    bool prev = sx_set_grad_enabled(false);
    sx_tensor *r = sx_expand(src, t->ndim, t->shape);
    sx_set_grad_enabled(prev);
    return write_back(L, t, r, "copy_");
}

/* ---------------------------------------------------------------- t[i] */

/* The integer key at idx as a 0-based position along a dimension of size n:
 * 1-based, negative counting from the end (-1 the last), else an error. */
static int64_t check_index(lua_State *L, int idx, const sx_tensor *t)
{
    if (t->ndim == 0) luaL_error(L, "index: a 0-d tensor has no elements to index (use t:item())");
    int ok;
    lua_Integer i = lua_tointegerx(L, idx, &ok);
    if (!ok) luaL_error(L, "index: %s is not an integer index", lua_tostring(L, idx));
    int64_t n = t->shape[0];
    if (i >= 1 && i <= n) return i - 1;
    if (i < 0 && i >= -n) return n + i;
    luaL_error(L, "index %I out of range for dimension 1 of size %I", i, (lua_Integer)n);
    return -1;
}

/* t[i] (from the tensor __index, module.c): the i-th slice along dimension 1,
 * a view sharing t's storage (a 0-d tensor for a 1-d t), differentiable. */
int lsx_tensor_index(lua_State *L)
{
    sx_tensor *t = lsx_check_tensor(L, 1);
    int64_t i = check_index(L, 2, t);
    lsx_tensor *ud = lsx_new_tensor(L);
    ud->t = sx_select(t, 0, i);
    return lsx_result(L, ud, "index");
}

/* t[i] = v: v a number (fills the slice) or a tensor / nested table of the
 * slice's shape (or broadcasting to it); refused where copy_ is. */
static int l_newindex(lua_State *L)
{
    if (lua_type(L, 2) != LUA_TNUMBER)
        return luaL_error(L, "cannot set field '%s' of a tensor (only t[i] = v is assignable)",
                          lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : luaL_typename(L, 2));
    sx_tensor *t = check_writable(L, 1, "index assignment");
    int64_t i = check_index(L, 2, t);
    sx_tensor *slice = sx_select(t, 0, i);
    if (!slice) return lsx_fail(L, "index assignment");
    sx_status st = SX_OK;
    if (lua_type(L, 3) == LUA_TNUMBER) {
        sx_tensor_fill(slice, (float)lua_tonumber(L, 3));
    } else {
        lsx_tensor *keep = lsx_new_tensor(L); /* so an error below frees the slice */
        keep->t = slice;
        sx_tensor *src = lsx_check_tensor_like(L, 3);
        bool prev = sx_set_grad_enabled(false);
        sx_tensor *r = sx_expand(src, slice->ndim, slice->shape);
        sx_set_grad_enabled(prev);
        st = r ? sx_tensor_assign(slice, r) : sx_last_status();
        sx_tensor_free(r);
        return st == SX_OK ? 0 : lsx_fail(L, "index assignment");
    }
    sx_tensor_free(slice);
    return 0;
}

static const luaL_Reg creation_fns[] = {
    {"tensor", l_tensor},
    {"zeros", l_zeros},
    {"ones", l_ones},
    {"full", l_full},
    {"rand", l_rand},
    {"randn", l_randn},
    {"arange", l_arange},
    {"zeros_like", l_zeros_like},
    {"ones_like", l_ones_like},
    {"manual_seed", l_manual_seed},
    {"rng_get_state", l_rng_get_state},
    {"rng_set_state", l_rng_set_state},
    {NULL, NULL},
};

static const luaL_Reg tensor_methods[] = {
    {"shape", l_shape},
    {"size", l_size},
    {"dim", l_dim},
    {"numel", l_numel},
    {"is_contiguous", l_is_contiguous},
    {"item", l_item},
    {"totable", l_totable},
    {"clone", l_clone},
    {"fill", l_fill},
    {"assign", l_assign},
    {"add_", l_add_},
    {"mul_", l_mul_},
    {"zero_", l_zero_},
    {"fill_", l_fill_},
    {"copy_", l_copy_},
    {"free", l_free},
    {NULL, NULL},
};

static const luaL_Reg tensor_metamethods[] = {
    {"__gc", l_free},
    {"__close", l_free},
    {"__tostring", l_tostring},
    {"__len", l_len},
    {"__newindex", l_newindex},
    {NULL, NULL},
};

void lsx_open_tensor(lua_State *L)
{
    luaL_setfuncs(L, creation_fns, 0);
    lsx_add_methods(L, tensor_methods);
    lsx_add_metamethods(L, tensor_metamethods);
}
