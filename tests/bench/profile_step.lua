-- tests/bench/profile_step.lua — a driver for profiling the StylEx step:
--
--   perf record -F 999 -g build/stylex tests/bench/profile_step.lua [steps]
--
-- Two warm-up steps, then `steps` (default 16) trainer.step calls at the
-- configuration bench_train.lua times (trainer.config{}, an untrained default
-- classifier, batch 32); the first of every r1_interval = 16 has R1. Prints the
-- mean time per step (docs/benchmarks.md, "Where the step's time goes").
local sx = require "stylex"
local trainer = require "stylex.trainer"
local N = math.tointeger(tonumber(arg[1] or "")) or 16
sx.manual_seed(1)
local C = sx.models.Classifier{n_classes = 2, resolution = 32, img_channels = 1}
local S = trainer.new(trainer.config{}, C)
local x = sx.rand{32, 1, 32, 32} * 2 - 1
S.step = 1
assert(trainer.step(S, x))
assert(trainer.step(S, x))
S.step = 0
local t0 = sx.wall_time()
for _ = 1, N do assert(trainer.step(S, x)) end
print(string.format("%d steps, %.1f ms/step", N, 1e3 * (sx.wall_time() - t0) / N))
