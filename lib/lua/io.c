/*
 * lib/lua/io.c — the Lua face of lib/io: checkpoints (sx.save, sx.load),
 * images (sx.image.load, sx.image.save), IDX files (sx.io.read_idx) and
 * folders without a shell (sx.mkdir, sx.remove_tree, sx.replace_dir,
 * sx.remove_stale_temporaries, sx.getpid).
 *
 * Error convention (liolib's): when a file cannot be opened, read or written
 * (SX_EIO) the function returns nil and the message, like io.open; a file
 * whose content is corrupt, or a bad argument, raises a Lua error carrying the
 * library's message. Success returns the value(s), or true for the savers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lsx.h"


/* nil, msg for I/O failures; a Lua error for everything else. */
int lsx_io_fail(lua_State *L, sx_status st)
{
    if (st == SX_EIO) {
        lua_pushnil(L);
        lua_pushstring(L, sx_last_error());
        return 2;
    }
    return luaL_error(L, "%s", sx_last_error());
}

/* ---------------------------------------------------------------- sx.save */

/* Metadata values are strings; numbers are written in the shortest form that
 * reads back to the same number, booleans as "true"/"false". */
static const char *meta_string(lua_State *L, int key_idx, int val_idx)
{
    switch (lua_type(L, val_idx)) {
    case LUA_TSTRING:
        lua_pushvalue(L, val_idx);
        break;
    case LUA_TBOOLEAN:
        lua_pushstring(L, lua_toboolean(L, val_idx) ? "true" : "false");
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, val_idx)) {
            lua_pushfstring(L, "%I", (LUAI_UACINT)lua_tointeger(L, val_idx));
        } else {
            lua_Number x = lua_tonumber(L, val_idx);
            char buf[48];
            snprintf(buf, sizeof buf, "%.15g", (double)x);
            if (strtod(buf, NULL) != (double)x) snprintf(buf, sizeof buf, "%.17g", (double)x);
            lua_pushstring(L, buf);
        }
        break;
    default:
        luaL_error(L,
                   "bad argument #3 to 'save' (metadata value for key '%s' is a %s; strings, numbers or "
                   "booleans expected: encode tables first, e.g. with cjson.encode)",
                   lua_tostring(L, key_idx), luaL_typename(L, val_idx));
    }
    return lua_tostring(L, -1);
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* sx.save(path, {name = tensor, ...} [, {key = value, ...}]) -> true | nil, msg.
 * Tensors are written in name order (so equal inputs give equal files). */
static int l_save(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);

    int n = 0;
    for (lua_pushnil(L); lua_next(L, 2); lua_pop(L, 1)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            return luaL_error(L, "bad argument #2 to 'save' (tensor names must be strings, got a %s key)",
                              luaL_typename(L, -2));
        sx_tensor *t = lsx_to_tensor(L, -1);
        if (!t)
            return luaL_error(L, "bad argument #2 to 'save' (value for '%s' is %s, expected a live tensor)",
                              lua_tostring(L, -2),
                              luaL_testudata(L, -1, LSX_TENSOR) ? "a freed tensor" : luaL_typename(L, -1));
        n++;
    }
    /* Scratch arrays are Lua userdata, so an error below cannot leak them. */
    const char **names = lua_newuserdatauv(L, sizeof *names * (size_t)(n + 1), 0); /* 4 */
    sx_tensor **tensors = lua_newuserdatauv(L, sizeof *tensors * (size_t)(n + 1), 0); /* 5 */
    int i = 0;
    for (lua_pushnil(L); lua_next(L, 2); lua_pop(L, 1)) names[i++] = lua_tostring(L, -2);
    qsort(names, (size_t)n, sizeof *names, cmp_cstr);
    for (i = 0; i < n; i++) {
        lua_getfield(L, 2, names[i]);
        tensors[i] = lsx_to_tensor(L, -1);
        lua_pop(L, 1);
    }

    int n_meta = 0;
    if (!lua_isnil(L, 3))
        for (lua_pushnil(L); lua_next(L, 3); lua_pop(L, 1)) {
            if (lua_type(L, -2) != LUA_TSTRING)
                return luaL_error(L, "bad argument #3 to 'save' (metadata keys must be strings, got a %s key)",
                                  luaL_typename(L, -2));
            n_meta++;
        }
    const char **keys = lua_newuserdatauv(L, sizeof *keys * (size_t)(n_meta + 1), 0);   /* 6 */
    const char **values = lua_newuserdatauv(L, sizeof *values * (size_t)(n_meta + 1), 0); /* 7 */
    lua_createtable(L, 0, n_meta); /* 8: key -> value as string, keeps the strings alive */
    if (!lua_isnil(L, 3)) {
        i = 0;
        for (lua_pushnil(L); lua_next(L, 3); lua_pop(L, 1)) {
            keys[i++] = lua_tostring(L, -2);
            meta_string(L, -2, -1);
            lua_setfield(L, 8, lua_tostring(L, -3));
        }
        qsort(keys, (size_t)n_meta, sizeof *keys, cmp_cstr);
        for (i = 0; i < n_meta; i++) {
            lua_getfield(L, 8, keys[i]);
            values[i] = lua_tostring(L, -1);
            lua_pop(L, 1); /* still referenced by table 8 */
        }
    }

    sx_status st = sx_safetensors_save(path, n, names, tensors, n_meta, keys, values);
    if (st != SX_OK) return lsx_io_fail(L, st);
    lua_pushboolean(L, 1);
    return 1;
}

/* ---------------------------------------------------------------- sx.load */

/* A guard owns the sx_safetensors while its content is turned into Lua values, so a
 * Lua error part way (out of memory) frees it. */
static void clear_loaded(void *box)
{
    sx_safetensors **b = box;
    sx_safetensors_free(*b);
    *b = NULL;
}

static void push_metadata(lua_State *L, const sx_safetensors *c)
{
    lua_createtable(L, 0, c->n_meta);
    for (int i = 0; i < c->n_meta; i++) {
        lua_pushstring(L, c->meta_values[i]);
        lua_setfield(L, -2, c->meta_keys[i]);
    }
}

/* sx.load_metadata(path) -> {key = "value", ...} | nil, msg: the header only */
static int l_load_metadata(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    sx_safetensors **box = lsx_guard_new(L, sizeof *box, clear_loaded);
    sx_status st = sx_safetensors_load_header(path, box);
    if (st != SX_OK) return lsx_io_fail(L, st);
    push_metadata(L, *box);
    return 1;
}

/* sx.load(path) -> {name = tensor, ...}, {key = "value", ...} | nil, msg */
static int l_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    sx_safetensors **box = lsx_guard_new(L, sizeof *box, clear_loaded);
    sx_status st = sx_safetensors_load(path, box);
    if (st != SX_OK) return lsx_io_fail(L, st);
    sx_safetensors *c = *box;
    lua_createtable(L, 0, c->n);
    for (int i = 0; i < c->n; i++) {
        lsx_push_tensor(L, sx_tensor_retain(c->tensors[i]), "load");
        lua_setfield(L, -2, c->names[i]);
    }
    push_metadata(L, c);
    sx_safetensors_free(c);
    *box = NULL;
    return 2;
}

/* ---------------------------------------------------------------- images, IDX */

/* A reader of one tensor, on the path at argument 1: the tensor | nil, msg. */
static int read_tensor(lua_State *L, sx_status (*read)(const char *path, sx_tensor **out))
{
    const char *path = luaL_checkstring(L, 1);
    lsx_tensor *ud = lsx_new_tensor(L);
    sx_status st = read(path, &ud->t);
    if (st != SX_OK) return lsx_io_fail(L, st);
    lsx_gc_pace(L);
    return 1;
}

/* sx.image.load(path) -> tensor [C, H, W] in [0, 1] | nil, msg */
static int l_image_load(lua_State *L) { return read_tensor(L, sx_png_read); }

/* sx.image.save(tensor, path) -> true | nil, msg */
static int l_image_save(lua_State *L)
{
    sx_tensor *t = lsx_check_tensor(L, 1);
    const char *path = luaL_checkstring(L, 2);
    sx_status st = sx_png_write(path, t);
    if (st != SX_OK) return lsx_io_fail(L, st);
    lua_pushboolean(L, 1);
    return 1;
}

/* sx.io.read_idx(path) -> tensor with the file's shape, raw values | nil, msg */
static int l_read_idx(lua_State *L) { return read_tensor(L, sx_idx_read); }

/* ---------------------------------------------------------------- folders */

/* A folder operation f(path) -> true | nil, msg. */
static int path_op(lua_State *L, sx_status (*f)(const char *path))
{
    sx_status st = f(luaL_checkstring(L, 1));
    if (st != SX_OK) return lsx_io_fail(L, st);
    lua_pushboolean(L, 1);
    return 1;
}

/* sx.mkdir(path) -> true | nil, msg: the folder and its parents (mkdir -p) */
static int l_mkdir(lua_State *L) { return path_op(L, sx_mkdir_p); }

/* sx.remove_tree(path) -> true | nil, msg: path and all below it (rm -rf) */
static int l_remove_tree(lua_State *L) { return path_op(L, sx_remove_tree); }

/* sx.replace_dir(tmp, path) -> true | nil, msg: the folder tmp swapped in whole for path */
static int l_replace_dir(lua_State *L)
{
    const char *tmp = luaL_checkstring(L, 1);
    const char *path = luaL_checkstring(L, 2);
    sx_status st = sx_replace_dir(tmp, path);
    if (st != SX_OK) return lsx_io_fail(L, st);
    lua_pushboolean(L, 1);
    return 1;
}

/* sx.getpid() -> this process's id (names of temporaries: "<path>.tmp-<pid>") */
static int l_getpid(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)getpid());
    return 1;
}

/* sx.remove_stale_temporaries(path) -> how many "<path>.tmp-<pid>" of dead processes were removed */
static int l_remove_stale_temporaries(lua_State *L)
{
    lua_pushinteger(L, sx_remove_stale_temporaries(luaL_checkstring(L, 1)));
    return 1;
}

/* ---------------------------------------------------------------- registration */

static const luaL_Reg module_fns[] = {
    {"save", l_save},
    {"load", l_load},
    {"load_metadata", l_load_metadata},
    {"mkdir", l_mkdir},
    {"remove_tree", l_remove_tree},
    {"remove_stale_temporaries", l_remove_stale_temporaries},
    {"replace_dir", l_replace_dir},
    {"getpid", l_getpid},
    {NULL, NULL},
};

static const luaL_Reg image_fns[] = {
    {"load", l_image_load},
    {"save", l_image_save},
    {NULL, NULL},
};

static const luaL_Reg io_fns[] = {
    {"read_idx", l_read_idx},
    {NULL, NULL},
};

/* Adds fns to the sub-table `name` of the table at -1, creating it if needed
 * (the Lua half of the library adds its own entries, e.g. sx.image.grid). */
void lsx_open_io(lua_State *L)
{
    luaL_setfuncs(L, module_fns, 0);
    lsx_register(L, "image", image_fns);
    lsx_register(L, "io", io_fns);
}
