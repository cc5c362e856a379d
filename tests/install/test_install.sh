#!/bin/sh
# tests/install/test_install.sh — `make install PREFIX=<tmp>` and what an
# outside user does with it: the files are where stylex.pc says, an example
# (examples/c_basic.c) copied out of the tree builds with
# `pkg-config --cflags --libs stylex` and runs, a stock lua5.4 loads the
# installed module, the installed host runs a script; then the rockspec
# builds the module from a copy of the tree with `luarocks make` (skipped,
# with the reason, when luarocks or its Lua 5.4 setup is missing).
# Run from the repository root (make test-install).
set -eu
MAKE=${MAKE:-make}
BUILD=${BUILD:-build}
tmp=$(mktemp -d /tmp/stylex-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
fail() { echo "FAIL test_install: $*" >&2; exit 1; }

echo "== make install PREFIX=$prefix"
$MAKE --no-print-directory -s install BUILD="$BUILD" PREFIX="$prefix" >/dev/null || fail "make install"
for f in lib/libstylex.a lib/libstylex.so lib/pkgconfig/stylex.pc include/stylex.h include/stylex_lua.h \
         include/stylex/tensor.h include/stylex/ops.h include/stylex/nn.h include/stylex/attfind.h \
         bin/stylex lib/lua/5.4/stylex.so; do
    [ -f "$prefix/$f" ] || fail "missing $f"
done
# every header the repository has is installed
for h in include/stylex/*.h; do [ -f "$prefix/$h" ] || fail "missing $h"; done

command -v pkg-config >/dev/null 2>&1 || fail "pkg-config is not installed (Debian package pkg-config)"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
version=$(pkg-config --modversion stylex) || fail "pkg-config does not find stylex.pc"
want=$(sed -n 's/^#define STYLEX_VERSION "\(.*\)"/\1/p' include/stylex_lua.h)
[ "$version" = "$want" ] || fail "stylex.pc version $version, expected $want"
cflags=$(pkg-config --cflags stylex | sed "s/ *$//")
libs=$(pkg-config --libs stylex)
[ "$cflags" = "-I$prefix/include" ] || fail "cflags: $cflags"
case "$libs" in *"-L$prefix/lib"*"-lstylex"*) ;; *) fail "libs: $libs" ;; esac
case "$(pkg-config --static --libs stylex)" in *-lopenblas*-lpng*) ;; *) fail "static libs lack the dependencies" ;; esac
echo "pkg-config: stylex $version: $cflags $libs"

echo "== examples/c_basic.c built out of tree through pkg-config"
mkdir -p "$tmp/outside" "$tmp/out"
cp examples/c_basic.c "$tmp/outside/"
(cd "$tmp/outside" && cc -std=c11 -O2 c_basic.c $(pkg-config --cflags --libs stylex) -lm \
     -Wl,-rpath,"$prefix/lib" -o c_basic) || fail "the example does not build against the installed library"
ldd "$tmp/outside/c_basic" | grep -q "$prefix/lib/libstylex.so" || fail "the example does not use the installed libstylex.so"
SX_NUM_THREADS=1 "$tmp/outside/c_basic" "$tmp/out" >"$tmp/c_basic.log" 2>&1 || { cat "$tmp/c_basic.log"; fail "the example fails"; }
[ -s "$tmp/out/c_basic.safetensors" ] || fail "the example wrote no checkpoint"
tail -1 "$tmp/c_basic.log"

echo "== a stock lua5.4 loads the installed module"
check_lua='local sx = require "stylex"
assert(sx.version == "'"$want"'", "version " .. tostring(sx.version))
local t = sx.zeros(2, 3) + 1
assert(t[2]:sum():item() == 3)
local net = sx.nn.Sequential{sx.nn.Linear{["in"] = 3, out = 2}, sx.nn.ReLU()}
assert(net(t):size(2) == 2)
assert(require("stylex.util").is_tensor(t), "the embedded Lua half loads")
print("lua5.4: stylex " .. sx.version .. " from " .. package.searchpath("stylex", package.cpath))'
if command -v lua5.4 >/dev/null 2>&1; then
    LUA_CPATH="$prefix/lib/lua/5.4/?.so;;" lua5.4 -e "$check_lua" || fail "lua5.4 cannot use the installed module"
else
    echo "skip: no lua5.4 interpreter (Debian package lua5.4)"
fi

echo "== the installed host"
"$prefix/bin/stylex" -e 'local sx = require "stylex"; assert(sx.ones(2):sum():item() == 2); print("host: ok")' \
    || fail "the installed host does not run"

echo "== luarocks make (the rockspec) from a copy of the tree"
if ! command -v luarocks >/dev/null 2>&1; then
    echo "skip: luarocks is not installed (Debian package luarocks; scripts/deps.sh installs it as root)"
    exit 0
fi
if ! luarocks --lua-version 5.4 config variables.LUA_INCDIR >/dev/null 2>&1; then
    echo "skip: luarocks has no Lua 5.4 configuration (liblua5.4-dev)"
    exit 0
fi
mkdir -p "$tmp/src"
tar --exclude=./build --exclude=./runs --exclude=./models --exclude=./report --exclude=./.git -cf - . | (cd "$tmp/src" && tar xf -)
rock=$(ls "$tmp/src"/stylex-*.rockspec | head -1)
luarocks lint "$rock" >"$tmp/lint.log" 2>&1 || { cat "$tmp/lint.log"; fail "luarocks lint $(basename "$rock")"; }
(cd "$tmp/src" && MAKEFLAGS=-j2 luarocks --lua-version 5.4 --tree "$tmp/rocks" make "$(basename "$rock")" \
     >"$tmp/rock.log" 2>&1) || { tail -30 "$tmp/rock.log"; fail "luarocks make"; }
so=$(find "$tmp/rocks" -name stylex.so | head -1)
[ -n "$so" ] || fail "luarocks installed no stylex.so"
LUA_CPATH="$(dirname "$so")/?.so;;" lua5.4 -e "$check_lua" || fail "lua5.4 cannot use the rock's module"
n=$(grep -c -- "-c lib/" "$tmp/rock.log" || true)
[ "$n" -gt 40 ] || { tail -30 "$tmp/rock.log"; fail "luarocks make compiled only $n files"; }
echo "luarocks: built ($n files compiled) and installed $(basename "$rock") into $tmp/rocks"
