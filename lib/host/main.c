/*
 * lib/host/main.c — the stylex executable: a Lua 5.4 interpreter with the
 * standard libraries, and `stylex` (with its embedded stylex.* modules) and
 * lua-cjson (`cjson`, `cjson.safe`) in package.preload.
 *
 *   stylex script.lua [args...]      runs the script ("-" reads stdin)
 *   stylex -e "code" [script [args...]]
 *
 * Like the stock `lua`: the global `arg` holds the script as arg[0], its
 * arguments as arg[1..] and the interpreter and options at negative indices;
 * the arguments are also passed to the script as `...`. An error prints
 * "<script's file name>: <message>" (one line for the library's and the
 * scripts' errors) on stderr and exits with status 1; with `--debug` among
 * the script's arguments, or STYLEX_DEBUG set in the environment, the message
 * keeps the position it was raised at ("file.lua:12: ") and a traceback
 * follows.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "stylex_lua.h"

int luaopen_cjson(lua_State *L);
int luaopen_cjson_safe(lua_State *L);

static const char *progname = "stylex";
static const char *errname = NULL; /* what errors start with: the script's file name, else progname */
static bool debug = false; /* tracebacks with errors */

static void usage(void)
{
    fprintf(stderr,
            "usage: %s [options] [script [args...]]\n"
            "  -e code   run the Lua code (may be repeated; before the script)\n"
            "  -v        print the version\n"
            "  -h        this help\n"
            "  --        stop handling options\n"
            "  -         read the script from stdin\n",
            progname);
}

/* msg without its leading "file.lua:123: " positions (where the error was
 * raised, which --debug shows with the traceback). */
static const char *strip_where(const char *msg)
{
    for (;;) {
        const char *colon = strchr(msg, ':');
        if (!colon || colon - msg < 5 || strncmp(colon - 4, ".lua", 4) != 0 || memchr(msg, ' ', (size_t)(colon - msg)))
            return msg;
        const char *d = colon + 1;
        while (*d >= '0' && *d <= '9') d++;
        if (d == colon + 1 || d[0] != ':' || d[1] != ' ') return msg;
        msg = d + 2;
    }
}

/* Message handler: the error as a string; a traceback and the position under --debug. */
static int msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    if (debug) luaL_traceback(L, L, msg, 1);
    else lua_pushstring(L, strip_where(msg));
    return 1;
}

/* Calls the function below its n arguments on the stack; reports an error. */
static int docall(lua_State *L, int nargs)
{
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    int st = lua_pcall(L, nargs, 0, base);
    lua_remove(L, base);
    if (st != LUA_OK) {
        fprintf(stderr, "%s: %s\n", errname ? errname : progname, lua_tostring(L, -1));
        fflush(stderr);
        lua_pop(L, 1);
    }
    return st;
}

static void preload(lua_State *L)
{
    lsx_preload(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_cjson);
    lua_setfield(L, -2, "cjson");
    lua_pushcfunction(L, luaopen_cjson_safe);
    lua_setfield(L, -2, "cjson.safe");
    lua_pop(L, 1);
}

/* arg[i - script] = argv[i]; with no script, arg[0] is the interpreter. */
static void create_arg_table(lua_State *L, int argc, char **argv, int script)
{
    lua_createtable(L, argc - script > 0 ? argc - script : 0, script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

/* The protected main: everything that may raise a Lua error. */
static int pmain(lua_State *L)
{
    int argc = (int)lua_tointeger(L, 1);
    char **argv = lua_touserdata(L, 2);
    int script = 0;
    bool version = false;
    for (int i = 1; i < argc && !script; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-e") == 0) {
            if (++i == argc) {
                usage();
                lua_pushboolean(L, 0);
                return 1;
            }
        } else if (strcmp(a, "-v") == 0) {
            version = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage();
            lua_pushboolean(L, 1);
            return 1;
        } else if (strcmp(a, "--") == 0) {
            if (i + 1 < argc) script = i + 1;
            break;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "%s: unknown option '%s'\n", progname, a);
            usage();
            lua_pushboolean(L, 0);
            return 1;
        } else {
            script = i;
        }
    }

    const char *env = getenv("STYLEX_DEBUG");
    debug = env && *env && strcmp(env, "0") != 0;
    for (int i = script ? script + 1 : argc; i < argc; i++)
        if (strcmp(argv[i], "--debug") == 0) debug = true;

    luaL_openlibs(L);
    preload(L);
    create_arg_table(L, argc, argv, script);
    if (version) printf("stylex %s (%s)\n", STYLEX_VERSION, LUA_RELEASE);

    int end = script ? script : argc;
    bool ran = version;
    for (int i = 1; i < end; i++)
        if (strcmp(argv[i], "-e") == 0) {
            ran = true;
            if (luaL_loadbuffer(L, argv[i + 1], strlen(argv[i + 1]), "=(command line)") != LUA_OK) {
                fprintf(stderr, "%s: %s\n", progname, lua_tostring(L, -1));
                lua_pushboolean(L, 0);
                return 1;
            }
            if (docall(L, 0) != LUA_OK) {
                lua_pushboolean(L, 0);
                return 1;
            }
            i++;
        }

    if (script) {
        const char *name = strcmp(argv[script], "-") == 0 ? NULL : argv[script];
        if (name) {
            const char *slash = strrchr(name, '/');
            errname = slash ? slash + 1 : name;
        }
        if (luaL_loadfile(L, name) != LUA_OK) {
            fprintf(stderr, "%s: %s\n", progname, lua_tostring(L, -1));
            lua_pushboolean(L, 0);
            return 1;
        }
        int n = argc - script - 1;
        luaL_checkstack(L, n + 3, "too many arguments to script");
        for (int i = script + 1; i < argc; i++) lua_pushstring(L, argv[i]);
        lua_pushboolean(L, docall(L, n) == LUA_OK);
        return 1;
    }
    if (!ran) usage();
    lua_pushboolean(L, ran);
    return 1;
}

int main(int argc, char **argv)
{
    if (argv[0] && argv[0][0]) progname = argv[0];
    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "%s: cannot create the Lua state: not enough memory\n", progname);
        return 1;
    }
    lua_pushcfunction(L, pmain);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    int st = lua_pcall(L, 2, 1, 0);
    bool ok = st == LUA_OK && lua_toboolean(L, -1);
    if (st != LUA_OK) fprintf(stderr, "%s: %s\n", progname, lua_tostring(L, -1));
    lua_close(L);
    lsx_dist_exit(ok);
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
