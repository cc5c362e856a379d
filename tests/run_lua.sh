#!/bin/sh
# Runs each tests/lua/test_*.lua with the stylex host; fails if any fails.
host=$1
status=0
for t in tests/lua/test_*.lua; do
    [ -e "$t" ] || continue
    echo "== $t"
    "$host" "$t" || status=1
done
exit $status
