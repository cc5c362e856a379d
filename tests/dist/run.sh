#!/bin/sh
# tests/dist/run.sh HOST "MPIRUN" — the 2-rank tests (make test-dist).
# Each test's one-process reference runs first without mpirun; then the same
# script under MPIRUN (e.g. "mpirun -np 2 --oversubscribe --allow-run-as-root")
# compares against it. Ranks run one thread each (SX_NUM_THREADS=1), so 2
# ranks on 2 cores do not oversubscribe them. Last, train_stylex.lua itself
# under mpirun for 2 steps and a --resume to 3 (tests/dist/check_run.lua), and
# scripts/explain.lua in one process and under mpirun: the same report
# (tests/dist/same_report.lua).
set -e
host=$1
mpirun=$2
out=${TMPDIR:-/tmp}/stylex-test-dist.$$
mkdir -p "$out"
trap 'rm -rf "$out"' EXIT
echo "== a rank that fails ends the job (no rank waits in a collective)"
fail='local sx = require "stylex"; if sx.dist.rank() == 1 then error("rank 1 fails on purpose") end; sx.dist.barrier()'
rc=0
timeout 60 $mpirun "$host" -e "$fail" > "$out/fail.out" 2>&1 || rc=$?
[ $rc -ne 0 ] || { echo "a job with a failing rank exited 0"; cat "$out/fail.out"; exit 1; }
[ $rc -ne 124 ] || { echo "a job with a failing rank hung (killed after 60 s)"; exit 1; }
grep -q "rank 1 fails on purpose" "$out/fail.out" || { cat "$out/fail.out"; exit 1; }
echo "the job ended with the failing rank's error"
echo "== tests/dist/test_collectives.lua"
$mpirun -x SX_NUM_THREADS=1 "$host" tests/dist/test_collectives.lua
for variant in default options; do
    echo "== tests/dist/test_train.lua ($variant)"
    "$host" tests/dist/test_train.lua ref "$out" $variant
    $mpirun -x SX_NUM_THREADS=1 "$host" tests/dist/test_train.lua dist "$out" $variant
done
echo "== tests/dist/test_effects.lua"
# the reference runs on one thread, as each rank does: the thread count alone
# moves this table by 7e-6 (large sgemms are split by columns), and this test
# is about the sharding, which is exact
SX_NUM_THREADS=1 "$host" tests/dist/test_effects.lua ref "$out"
$mpirun -x SX_NUM_THREADS=1 "$host" tests/dist/test_effects.lua dist "$out"
echo "== scripts/train_stylex.lua under mpirun, then --resume"
train="$host scripts/train_stylex.lua --preset fmnist-shoes --run $out/run --out $out/model.safetensors --grid-every 2"
$mpirun -x SX_NUM_THREADS=1 $train --steps 2 > "$out/train.out" 2>&1 || { cat "$out/train.out"; exit 1; }
$mpirun -x SX_NUM_THREADS=1 $train --steps 3 --resume >> "$out/train.out" 2>&1 || { cat "$out/train.out"; exit 1; }
"$host" tests/dist/check_run.lua "$out/run" "$out/model.safetensors" 3 "$out/train.out"
echo "== scripts/explain.lua in one process and under mpirun"
mkdir -p "$out/model"
cp models/fmnist-shoes/stylex.safetensors models/fmnist-shoes/classifier.safetensors "$out/model/"
explain="scripts/explain.lua --model $out/model --n 8 --k 4 --examples 1 --no-baseline"
SX_NUM_THREADS=1 "$host" $explain --out "$out/report1" > "$out/explain.out" 2>&1 || { cat "$out/explain.out"; exit 1; }
rm -f "$out"/model/*.attfind-*.safetensors # the mpirun run must compute its (sharded) table
$mpirun -x SX_NUM_THREADS=1 "$host" $explain --out "$out/report2" >> "$out/explain.out" 2>&1 || { cat "$out/explain.out"; exit 1; }
[ -e "$out/model/stylex.attfind-n8.safetensors" ] || { echo "explain under mpirun cached no effect table"; exit 1; }
"$host" tests/dist/same_report.lua "$out/report1/report.json" "$out/report2/report.json"
