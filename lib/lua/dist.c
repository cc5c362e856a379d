/*
 * lib/lua/dist.c — sx.dist, the ranks and collectives of include/stylex/dist.h:
 *
 *   sx.dist.rank() -> 0 .. size-1         sx.dist.size() -> number of ranks
 *   sx.dist.allreduce(tensors [, op])     op "sum" (default) | "mean" | "max" | "min";
 *                                         in place, on every rank; returns tensors
 *   sx.dist.broadcast(tensors, root)      root's values into every rank's (root 0-based)
 *   sx.dist.barrier()
 *   sx.dist.allgather(t) -> tensor        every rank's t concatenated along dim 1
 *   sx.dist.hash(tensors) -> "16 hex digits"
 *   sx.dist.check_equal(tensors, what)    error naming the ranks that differ
 *   sx.dist.bytes() -> payload bytes sent; sx.dist.bytes_reset()
 *   sx.dist.built_with_mpi() -> boolean;  sx.dist.abort()  (ends every rank, exit code 1)
 *
 * `tensors` is one tensor or a list of them. Ranks are 0-based, as in MPI.
 * Opening the module initialises MPI when the process is one of an mpirun
 * job (and makes sx.attfind.effects shard its images: lua/stylex/dist.lua);
 * without mpirun it is rank 0 of 1 and the collectives do nothing.
 */
#include "lsx.h"
#include "stylex/dist.h"
#include "stylex_lua.h"

/* One tensor or a list of them at idx, as borrowed pointers in an array
 * that is a new userdata on the top of the stack (read other arguments
 * first). */
static sx_tensor **check_tensors(lua_State *L, int idx, int *n)
{
    if (luaL_testudata(L, idx, LSX_TENSOR)) {
        sx_tensor **ts = lua_newuserdatauv(L, sizeof *ts, 0);
        ts[0] = lsx_check_tensor(L, idx);
        *n = 1;
        return ts;
    }
    return lsx_check_tensor_list(L, idx, n);
}

static int l_rank(lua_State *L)
{
    lua_pushinteger(L, sx_dist_rank());
    return 1;
}

static int l_size(lua_State *L)
{
    lua_pushinteger(L, sx_dist_size());
    return 1;
}

static int l_allreduce(lua_State *L)
{
    static const char *const names[] = {"sum", "mean", "max", "min", NULL};
    int op = luaL_checkoption(L, 2, "sum", names); /* before the list, which pushes a userdata */
    int n;
    sx_tensor **ts = check_tensors(L, 1, &n);
    if (sx_dist_allreduce(ts, n, (sx_dist_op)op) != SX_OK) return luaL_error(L, "%s", sx_last_error());
    lua_settop(L, 1);
    return 1;
}

static int l_broadcast(lua_State *L)
{
    int root = (int)lsx_check_integer(L, 2, 0, sx_dist_size() - 1);
    int n;
    sx_tensor **ts = check_tensors(L, 1, &n);
    if (sx_dist_broadcast(ts, n, root) != SX_OK) return luaL_error(L, "%s", sx_last_error());
    lua_settop(L, 1);
    return 1;
}

static int l_barrier(lua_State *L)
{
    if (sx_dist_barrier() != SX_OK) return luaL_error(L, "%s", sx_last_error());
    return 0;
}

static int l_allgather(lua_State *L)
{
    sx_tensor *t = lsx_check_tensor(L, 1);
    lsx_push_tensor(L, sx_dist_allgather(t), "dist.allgather");
    return 1;
}

static int l_hash(lua_State *L)
{
    int n;
    sx_tensor **ts = check_tensors(L, 1, &n);
    char buf[24];
    snprintf(buf, sizeof buf, "%016llx", (unsigned long long)sx_dist_hash(ts, n));
    lua_pushstring(L, buf);
    return 1;
}

static int l_check_equal(lua_State *L)
{
    const char *what = luaL_optstring(L, 2, "tensors");
    int n;
    sx_tensor **ts = check_tensors(L, 1, &n);
    if (sx_dist_check_equal(ts, n, what) != SX_OK) return luaL_error(L, "%s", sx_last_error());
    return 0;
}

static int l_bytes(lua_State *L)
{
    lua_pushnumber(L, sx_dist_bytes());
    return 1;
}

static int l_bytes_reset(lua_State *L)
{
    sx_dist_bytes_reset();
    return 0;
}

static int l_built_with_mpi(lua_State *L)
{
    lua_pushboolean(L, sx_dist_built_with_mpi());
    return 1;
}

static int l_abort(lua_State *L)
{
    sx_dist_abort(1);
    return 0;
}

static const luaL_Reg dist_fns[] = {
    {"rank", l_rank},           {"size", l_size},           {"allreduce", l_allreduce},
    {"broadcast", l_broadcast}, {"barrier", l_barrier},     {"allgather", l_allgather},
    {"hash", l_hash},           {"check_equal", l_check_equal}, {"bytes", l_bytes},
    {"bytes_reset", l_bytes_reset}, {"built_with_mpi", l_built_with_mpi}, {"abort", l_abort},
    {NULL, NULL},
};

/* sx.dist into the module table on the stack; under mpirun also
 * require("stylex.dist").install(sx), which makes sx.attfind.effects the
 * sharded one. Runs after the embedded sources are preloaded. */
void lsx_open_dist(lua_State *L)
{
    if (sx_dist_init() != SX_OK) luaL_error(L, "%s", sx_last_error());
    luaL_newlib(L, dist_fns);
    lua_setfield(L, -2, "dist");
    if (sx_dist_size() == 1) return;
    int sx = lua_gettop(L);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "stylex.dist");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "install");
    lua_pushvalue(L, sx);
    lua_call(L, 1, 0);
    lua_settop(L, sx);
}

void lsx_dist_exit(int ok)
{
    if (ok) sx_dist_finalize();
    else sx_dist_abort(1);
}
