-- tests/bench/bench_dist.lua — data-parallel training speed and traffic.
--
--   SX_NUM_THREADS=2 build/stylex tests/bench/bench_dist.lua [steps]                 1 rank x 2 threads
--   mpirun -np 2 -x SX_NUM_THREADS=1 build/stylex tests/bench/bench_dist.lua [steps] 2 ranks x 1 thread
--   (make bench runs both, with --oversubscribe --allow-run-as-root)
--
-- trainer.step at the trainer.config{} defaults (the shipped 32x32x1 network,
-- batch 32 global, an untrained default classifier), `steps` steps (default
-- 8, one of them with R1 as in every 16) after 2 warm-up steps. Rank 0
-- prints steps/s, seconds per step, the time of the step's collectives
-- measured alone (the same allreduces on the same gradients, repeated), and
-- the payload bytes each rank sends into collectives per step (gradients of
-- D, G and E, the loss numbers, the hash check when it falls in). One line
-- prefixed "JSON " carries the figures.
local sx = require "stylex"
local trainer = require "stylex.trainer"
local cjson = require "cjson"
local U = dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/bench_util.lua")

local STEPS = math.tointeger(tonumber(arg[1] or "")) or 8
local rank, size = sx.dist.rank(), sx.dist.size()
sx.manual_seed(1)
local C = sx.models.Classifier{n_classes = 2}
local cfg = trainer.config{n_classes = 2}
local S = trainer.new(cfg, C)
local X = sx.rand{cfg.batch * 4, 1, cfg.resolution, cfg.resolution} * 2 - 1
local function batch(t) return X:narrow(1, (t % 4) * cfg.batch + 1, cfg.batch) end

for _ = 1, 2 do assert(trainer.step(S, batch(S.step))) end
-- steps 2 .. 2+STEPS-1: with STEPS >= 15 one lands on R1 (step 16); the
-- amortised figure below adds R1's share from a timed R1 step instead
sx.dist.barrier()
sx.dist.bytes_reset()
local t0 = sx.wall_time()
for _ = 1, STEPS do assert(trainer.step(S, batch(S.step))) end
sx.dist.barrier()
local seconds = (sx.wall_time() - t0) / STEPS
local bytes = sx.dist.bytes() / STEPS

-- the collectives alone: the step's two gradient allreduces (D; G and E)
local grads = {}
for _, m in ipairs{S.D, S.G, S.E} do
  for _, p in ipairs(m:parameters()) do if p.grad then grads[#grads + 1] = p.grad end end
end
local n_params = 0
for _, m in ipairs{S.D, S.G, S.E} do for _, p in ipairs(m:parameters()) do n_params = n_params + p:numel() end end
local comm = 0
if size > 1 then
  local reps = 20
  sx.dist.barrier()
  local c0 = sx.wall_time()
  for _ = 1, reps do sx.dist.allreduce(grads, "sum") end
  comm = (sx.wall_time() - c0) / reps
end

if rank == 0 then
  local label = string.format("%d rank%s x %d thread%s", size, size > 1 and "s" or "", sx.num_threads(),
    sx.num_threads() > 1 and "s" or "")
  print(string.format("bench_dist %-20s %6.3f steps/s  %6.3f s/step  collectives %6.1f ms/step  %8.2f MB sent/rank/step"
    .. "  (%d parameters of D+G+E; load %s)", label, 1 / seconds, seconds, comm * 1000, bytes / 1e6, n_params,
    U.loadavg()))
  print("JSON " .. cjson.encode{bench = "dist", ranks = size, threads = sx.num_threads(), steps_per_s = 1 / seconds,
    seconds_per_step = seconds, collective_seconds = comm, bytes_per_step = bytes, params = n_params,
    batch = cfg.batch, steps = STEPS, loadavg = U.loadavg()})
end
