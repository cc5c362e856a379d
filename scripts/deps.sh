#!/bin/sh
# Installs the Debian packages stylex needs, if any is missing. As root it runs
# apt-get; otherwise it prints the exact command and fails. python3-numpy is
# for scripts/check_safetensors.py, which the tests run. protobuf-c-compiler,
# libprotobuf-c-dev and libonnx-dev build the ONNX importer (protoc-c compiles
# libonnx-dev's onnx.proto); libopenmpi-dev and openmpi-bin (Open MPI) for
# data-parallel training and make test-dist.
set -e
PKGS="build-essential lua5.4 liblua5.4-dev libopenblas-dev libpng-dev lua-cjson zlib1g-dev dataset-fashion-mnist python3-numpy protobuf-c-compiler libprotobuf-c-dev libonnx-dev libopenmpi-dev openmpi-bin"
# a target that needs more (make fuzz: clang) names it in STYLEX_EXTRA_PKGS
PKGS="$PKGS ${STYLEX_EXTRA_PKGS:-}"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# For make test-install only, which skips its LuaRocks part without them:
# tried as root, never a failure.
OPTIONAL="pkg-config luarocks"
optional=""
for p in $OPTIONAL; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || optional="$optional $p"
done
if [ -n "$optional" ] && [ "$(id -u)" = 0 ]; then
    echo "deps: installing (optional)$optional"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $optional >/dev/null 2>&1 ||
        echo "deps: could not install$optional (make test-install will skip what needs them)" >&2
fi
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "deps: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing
else
    echo "deps: missing Debian packages:$missing" >&2
    echo "deps: run:  sudo apt-get install -y$missing" >&2
    exit 1
fi
