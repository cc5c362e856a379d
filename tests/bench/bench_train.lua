-- tests/bench/bench_train.lua — training-step speed, against the machine's
-- sgemm and against the PyTorch reference, measured in one run.
--
--   build/stylex tests/bench/bench_train.lua [repeats]      (make bench runs it)
--
-- Prints, each a median of `repeats` (default 7) after warm-up:
--   * the sgemm peak: sx.sgemm_peak() (pooled 1024^3 sgemm, as bench_conv),
--     measured before and after the rows, the higher kept;
--   * the classifier training step (default sx.models.Classifier, 2 classes,
--     batch 64: forward, cross-entropy, backward, Adam);
--   * the StylEx training step (trainer.step at trainer.config{} defaults with
--     an untrained default classifier; batch 32 = 16 random + 16 encoder) with
--     R1 and without (R1 is lazy: one step in r1_interval = 16 has it), and
--     the amortised average; its D and G phases are timed inside the same steps;
--   * the generator forward, no grad, batch 32 (mapping, classifier
--     probabilities, synthesis), in ms and images/s.
-- GFLOP per step comes from the library's GEMM counter (sx.flops_count: the
-- 2*M*N*K of every sgemm; elementwise work is not counted, as in the
-- reference). "% peak" divides GFLOP/s by the sgemm peak; "adj" is the median
-- over repeats of GFLOP/s over a sx.sgemm_peak() run right after that repeat,
-- which cancels most of the background load on a shared machine.
--
-- Then, if /usr/bin/python3 imports torch and the reference script exists
-- ($TORCH_REFERENCE, default ../shared/bench/torch_reference.py next to the
-- repository), it runs the reference at the same configuration and prints the
-- our/their ratios of the figures that correspond (see docs/benchmarks.md).
-- The reference runs with OMP_WAIT_POLICY=PASSIVE unless the environment sets
-- a policy: on a loaded machine spinning OpenMP threads slow it several-fold.
--
-- A human-readable table, and one line per figure prefixed "JSON ".
local sx = require "stylex"
local trainer = require "stylex.trainer"
local cjson = require "cjson"

local REPEATS = math.tointeger(tonumber(arg[1] or "")) or 7
if REPEATS < 3 then REPEATS = 3 end
local BATCH, CLS_BATCH, N_CLASSES = 32, 64, 2

local repo = (arg[0] or ""):match("^(.*)/tests/bench/[^/]*$") or "."
local ref_path = os.getenv("TORCH_REFERENCE") or (repo .. "/../shared/bench/torch_reference.py")

local loadavg = dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/bench_util.lua").loadavg

local function median(v)
  local s = {}
  for i, x in ipairs(v) do s[i] = x end
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) // 2] or 0.5 * (s[n // 2] + s[n // 2 + 1])
end

local function emit(t) print("JSON " .. cjson.encode(t)) end

-- ---------------------------------------------------------------- measuring

-- Runs fn() `warmup` times, then `reps` timed times. Each timed run counts its
-- GEMM FLOPs and is followed by an sgemm probe. fn may return a table of
-- extra per-run numbers (phase times), whose medians are returned too.
local function measure(fn, warmup, reps)
  for _ = 1, warmup do fn() end
  local ts, fl, adj, extra = {}, {}, {}, {}
  for r = 1, reps do
    sx.flops_reset()
    local t0 = sx.wall_time()
    local e = fn()
    ts[r] = sx.wall_time() - t0
    fl[r] = sx.flops_count()
    adj[r] = fl[r] / ts[r] / 1e9 / sx.sgemm_peak()
    for k, v in pairs(e or {}) do
      extra[k] = extra[k] or {}
      extra[k][r] = v
    end
  end
  local m = {ms = 1e3 * median(ts), min_ms = 1e3 * math.min(table.unpack(ts)),
    max_ms = 1e3 * math.max(table.unpack(ts)), gflop = median(fl) / 1e9, adj = median(adj), reps = reps,
    gflop_min = math.min(table.unpack(fl)) / 1e9, gflop_max = math.max(table.unpack(fl)) / 1e9}
  m.gflops = m.gflop / (m.ms / 1e3)
  m.extra = {}
  for k, v in pairs(extra) do m.extra[k] = median(v) end
  return m
end

-- ---------------------------------------------------------------- the steps

print(string.format("bench_train: %d threads, %d repeats (median; min..max), load average %s",
  sx.num_threads(), REPEATS, loadavg()))
local load_start = loadavg()
local peak_before = sx.sgemm_peak()

sx.manual_seed(1)
local img = {resolution = 32, img_channels = 1}

-- classifier training step
local Ct = sx.models.Classifier{n_classes = N_CLASSES, resolution = img.resolution, img_channels = img.img_channels}
local opt_c = sx.optim.Adam(Ct:parameters(), {lr = 1e-3})
local xc = sx.rand{CLS_BATCH, 1, 32, 32} * 2 - 1
local yc = {}
for i = 1, CLS_BATCH do yc[i] = (i - 1) % N_CLASSES end
local cls = measure(function()
  local loss = sx.cross_entropy(Ct:classify(xc, {train = true}), yc)
  opt_c:zero_grad()
  loss:backward()
  opt_c:step()
  loss:item()
end, 3, 2 * REPEATS + 1)

-- StylEx training step; the phases are timed by wrapping trainer.d_step /
-- trainer.g_step, which trainer.step calls through the module table
local C = sx.models.Classifier{n_classes = N_CLASSES, resolution = img.resolution, img_channels = img.img_channels}
local cfg = trainer.config{}
local S = trainer.new(cfg, C)
local x = sx.rand{BATCH, 1, 32, 32} * 2 - 1
local phase = {}
local function timed(name, f)
  return function(...)
    local c0, t0 = sx.flops_count(), sx.wall_time()  -- differences: measure() counts the whole step
    local r = f(...)
    phase[name .. "_ms"] = 1e3 * (sx.wall_time() - t0)
    phase[name .. "_gflop"] = (sx.flops_count() - c0) / 1e9
    return r
  end
end
local d_step, g_step = trainer.d_step, trainer.g_step
trainer.d_step, trainer.g_step = timed("d", d_step), timed("g", g_step)
local step_no = 16
local function stylex_step(with_r1)
  return function()
    step_no = step_no + 16
    S.step = with_r1 and step_no or step_no + 1  -- trainer.d_step adds R1 when step % r1_interval == 0
    phase = {}
    local losses, err = trainer.step(S, x)
    assert(losses, err)
    assert(phase.d_ms and phase.g_ms, "bench_train: trainer.step no longer calls trainer.d_step and "
      .. "trainer.g_step through the module table, so the phases cannot be timed")
    return {d_ms = phase.d_ms, g_ms = phase.g_ms, d_gflop = phase.d_gflop, g_gflop = phase.g_gflop}
  end
end
assert(cfg.r1_interval == 16, "bench_train assumes the default r1_interval of 16")
local plain_fn, r1_fn = stylex_step(false), stylex_step(true)
-- warm-up, then the two kinds interleaved so that load drift hits both alike
plain_fn(); r1_fn(); plain_fn()
local plain, r1 = {}, {}
do
  local p_runs, r_runs = {}, {}
  for r = 1, REPEATS do
    p_runs[r] = measure(plain_fn, 0, 1)
    r_runs[r] = measure(r1_fn, 0, 1)
  end
  local function combine(runs)
    local keys = {"ms", "gflop", "adj"}
    local out = {reps = #runs, extra = {}}
    for _, k in ipairs(keys) do
      local v = {}
      for i, m in ipairs(runs) do v[i] = m[k] end
      out[k] = median(v)
      if k == "ms" then out.min_ms, out.max_ms = math.min(table.unpack(v)), math.max(table.unpack(v)) end
      if k == "gflop" then out.gflop_min, out.gflop_max = math.min(table.unpack(v)), math.max(table.unpack(v)) end
    end
    for _, k in ipairs({"d_ms", "g_ms", "d_gflop", "g_gflop"}) do
      local v = {}
      for i, m in ipairs(runs) do v[i] = m.extra[k] end
      out.extra[k] = median(v)
    end
    out.gflops = out.gflop / (out.ms / 1e3)
    return out
  end
  plain, r1 = combine(p_runs), combine(r_runs)
end
trainer.d_step, trainer.g_step = d_step, g_step
local k = cfg.r1_interval
local amort = {ms = (r1.ms + (k - 1) * plain.ms) / k, gflop = (r1.gflop + (k - 1) * plain.gflop) / k,
  adj = (r1.adj + (k - 1) * plain.adj) / k}
amort.gflops = amort.gflop / (amort.ms / 1e3)

-- generator forward, no grad: mapping, classifier probabilities, synthesis
local G = S.G
local gen = measure(function()
  return sx.no_grad(function()
    local c0, t0 = sx.flops_count(), sx.wall_time()
    local p = sx.softmax(C:logits(x), 2)
    local e = {cls_ms = 1e3 * (sx.wall_time() - t0), cls_gflop = (sx.flops_count() - c0) / 1e9}
    local z = sx.randn{BATCH, cfg.z_dim}
    G:synthesis(G:latent(G:mapping(z), p))
    return e
  end)
end, 3, 2 * REPEATS + 1)

local peak_after = sx.sgemm_peak()
local peak = math.max(peak_before, peak_after)

-- ---------------------------------------------------------------- our table

print(string.format("sgemm peak (pooled 1024^3, median of 5): %.1f GFLOP/s before, %.1f after; using %.1f",
  peak_before, peak_after, peak))
print()
print(string.format("  %-34s %9s %9s %9s %8s %8s %6s %5s", "step", "ms", "min", "max", "GFLOP", "GFLOP/s",
  "%peak", "adj"))
local rows = {
  {"classifier_step_b64", "classifier step (batch 64)", cls},
  {"stylex_step", "StylEx step, no R1 (batch 32)", plain},
  {"stylex_step_r1", "StylEx step, with R1", r1},
  {"stylex_step_amortised", "StylEx step, amortised (1 R1 in 16)", amort},
  {"stylex_d_phase", "  D phase, no R1", {ms = plain.extra.d_ms, gflop = plain.extra.d_gflop}},
  {"stylex_d_phase_r1", "  D phase, with R1", {ms = r1.extra.d_ms, gflop = r1.extra.d_gflop}},
  {"stylex_g_phase", "  G phase (G and E)", {ms = plain.extra.g_ms, gflop = plain.extra.g_gflop}},
  {"generator_forward_b32", "generator forward, no grad (b32)", gen},
  {"generator_forward_classifier_part", "  of which classifier probabilities",
    {ms = gen.extra.cls_ms, gflop = gen.extra.cls_gflop}},
}
local ours = {}
for _, row in ipairs(rows) do
  local name, label, m = row[1], row[2], row[3]
  m.gflops = m.gflops or m.gflop / (m.ms / 1e3)
  ours[name] = m
  local function f(v, fmt) return v and string.format(fmt, v) or "" end
  print(string.format("  %-34s %9.1f %9s %9s %8.2f %8.1f %5.0f%% %5s", label, m.ms, f(m.min_ms, "%.1f"),
    f(m.max_ms, "%.1f"), m.gflop, m.gflops, 100 * m.gflops / peak, f(m.adj and 100 * m.adj, "%.0f%%")))
end
print(string.format("  generator forward: %.1f images/s", BATCH / (gen.ms / 1e3)))
if plain.gflop_min ~= plain.gflop_max or r1.gflop_min ~= r1.gflop_max then
  print("  note: GFLOP per StylEx step varied between repeats")
end
print()

emit{bench = "sgemm_peak", threads = sx.num_threads(), gflops = peak, gflops_before = peak_before,
  gflops_after = peak_after, n = 1024}
for _, row in ipairs(rows) do
  local m = ours[row[1]]
  local j = {bench = row[1], median_ms = m.ms, min_ms = m.min_ms, max_ms = m.max_ms, gflop = m.gflop,
    gflops = m.gflops, frac_peak = m.gflops / peak, frac_adj = m.adj, repeats = m.reps,
    peak_gflops = peak, threads = sx.num_threads()}
  if row[1] == "generator_forward_b32" then j.images_per_s = BATCH / (m.ms / 1e3) end
  if row[1]:match("^stylex") then j.batch = BATCH else j.batch = row[1]:match("b64") and CLS_BATCH or BATCH end
  emit(j)
end

-- ---------------------------------------------------------------- PyTorch reference

local PY = "/usr/bin/python3"
local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local function has_torch()
  local ok = os.execute(PY .. " -c 'import torch' >/dev/null 2>&1")
  return ok == true
end
local function readable(p)
  local f = io.open(p)
  if f then f:close() end
  return f ~= nil
end

-- The configuration above; only the figures compared below; as many repeats as ours.
local REF_ARGS = "--modconv batched --ch 128,128,64,32 --w_dim 128 --n_cls 2 --batch 32"
  .. " --only a_gen,b_gan_step,b_d_step,c_gan_step_r1,d_rec_step_stylex,cls"
  .. string.format(" --warmup 2 --iters %d", 2 * REPEATS + 1)
-- PyTorch's OpenMP threads spin while they wait; on a machine whose cores are
-- busy with other work that makes its steps several times slower than when
-- they sleep (as our pool's threads do). PASSIVE, unless the caller set a policy.
local OMP = os.getenv("OMP_WAIT_POLICY") and "" or "OMP_WAIT_POLICY=PASSIVE "
if not readable(ref_path) then
  print("PyTorch reference: skipped (" .. ref_path .. " not found; set TORCH_REFERENCE to its path)")
elseif not has_torch() then
  print("PyTorch reference: skipped (" .. PY .. " cannot import torch; apt-get install python3-torch)")
else
  local cmd = OMP .. "OPENBLAS_NUM_THREADS=1 " .. PY .. " " .. sh_quote(ref_path) .. " " .. REF_ARGS
  print("PyTorch reference: " .. cmd)
  local t0 = sx.wall_time()
  local p = assert(io.popen(cmd))
  local theirs = {}
  for line in p:lines() do
    local js = line:match("^JSON (.*)$")
    if js then
      local rec = cjson.decode(js)
      theirs[rec.bench] = rec
    else
      print("  | " .. line)
    end
  end
  local ok = p:close()
  local ref_peak = sx.sgemm_peak()
  print(string.format("  (%.0f s; sgemm peak right after: %.1f GFLOP/s; load average %s)", sx.wall_time() - t0,
    ref_peak, loadavg()))
  if not ok then print("  the reference exited with an error; comparisons below use what it printed") end
  local ref_bar = math.max(peak, ref_peak)
  print()
  -- ours, theirs, what differs
  local pairs_ = {
    {"generator_forward_b32", "a_gen_fwd_b32", "G forward, b32",
      "same G; each includes its own classifier's forward (ours: row above); probabilities vs logits"},
    {"stylex_d_phase", "b_d_step", "D phase vs D step",
      "ours: class-conditional D, fakes half random / half E(x) reconstructions"},
    {"stylex_g_phase", "d_rec_step_stylex", "G phase vs rec. step",
      "ours: 16 random + 16 encoder-path images, + perceptual loss; its: 32 reconstructions"},
    {"stylex_step", "b_gan_step", "StylEx step vs GAN step",
      "ours also trains E on the reconstruction losses (G phase above), + EMA"},
    {"stylex_step_r1", "c_gan_step_r1", "StylEx+R1 vs GAN+R1",
      "both: one R1 pass by double backward in the D step"},
    {"classifier_step_b64", "cls_train_step_b64", "classifier step, b64",
      "ours: 6 convs + FC 256, 2 classes, dropout; its: 3 convs, 10 classes"},
  }
  print(string.format("  their %%pk: their GFLOP/s over %.1f GFLOP/s, the highest sgemm peak of this run", ref_bar))
  print(string.format("  %-26s %9s %9s %9s %8s %8s %9s", "figure (ours vs theirs)", "ours ms", "their ms",
    "time o/t", "GF o/t", "GF/s o/t", "their %pk"))
  for _, q in ipairs(pairs_) do
    local o, t = ours[q[1]], theirs[q[2]]
    if t and t.median_ms then
      local tg = t.gflop or 0
      local tgs = t.gflops_per_s or 0
      print(string.format("  %-26s %9.1f %9.1f %9.2f %8.2f %8.2f %8.0f%%", q[3], o.ms, t.median_ms,
        o.ms / t.median_ms, tg > 0 and o.gflop / tg or 0, tgs > 0 and o.gflops / tgs or 0, 100 * tgs / ref_bar))
      print("      " .. q[4])
      emit{bench = "vs_torch", ours = q[1], theirs = q[2], our_ms = o.ms, their_ms = t.median_ms,
        time_ratio = o.ms / t.median_ms, our_gflop = o.gflop, their_gflop = tg,
        our_gflops = o.gflops, their_gflops = tgs, gflops_ratio = tgs > 0 and o.gflops / tgs or nil,
        their_frac_peak = tgs / ref_bar, torch = t.torch, their_mkldnn = t.mkldnn, their_threads = t.threads,
        omp_wait_policy = os.getenv("OMP_WAIT_POLICY") or "PASSIVE"}
    else
      print(string.format("  %-26s  (the reference printed no %s)", q[3], q[2]))
    end
  end
  print("  time o/t > 1: ours slower. GF o/t: our GEMM work over its. GF/s o/t: GEMM throughput ratio,")
  print("  the fair figure where the work differs. Elementwise work is counted by neither.")
end
print(string.format("\nload average: %s at start, %s at end", load_start, loadavg()))
