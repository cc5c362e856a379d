#!/bin/sh
# Installs the Debian packages stylex needs, if any is missing. As root it runs
# apt-get; otherwise it prints the exact command and fails. python3-numpy is
# for scripts/check_safetensors.py, which the tests run; libopenmpi-dev and
# openmpi-bin (Open MPI) for data-parallel training and make test-dist.
set -e
PKGS="build-essential lua5.4 liblua5.4-dev libopenblas-dev libpng-dev lua-cjson zlib1g-dev dataset-fashion-mnist python3-numpy libopenmpi-dev openmpi-bin"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
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
