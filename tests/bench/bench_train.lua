-- tests/bench/bench_train.lua — training-step speed, against the machine's
-- sgemm and against a PyTorch mirror of the same step, measured in one run.
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
-- In the same run, if /usr/bin/python3 imports torch, the PyTorch mirror of
-- the step (tests/bench/torch_mirror.py: the same networks, losses, R1
-- interval, batch split and optimisers) runs beside it: its repeats
-- alternate with ours over a FIFO, so background load hits both alike. It
-- prints the like-for-like check: the mirror's parameter counts and GEMM
-- FLOPs against ours, and its outputs with our weights loaded (logits, w,
-- image, D, E, perceptual distance, R1's input gradient) against ours; then
-- ours against its time for the StylEx step
-- (amortised with R1; also with and without R1), the D and G phases and the
-- generator forward. Otherwise it says why it skipped. The mirror runs with
-- OMP_WAIT_POLICY=PASSIVE unless the environment sets a policy: on a loaded
-- machine spinning OpenMP threads slow it several-fold.
--
-- A human-readable table, and one line per figure prefixed "JSON ".
local sx = require "stylex"
local trainer = require "stylex.trainer"
local cjson = require "cjson"

local REPEATS = math.tointeger(tonumber(arg[1] or "")) or 7
if REPEATS < 3 then REPEATS = 3 end
local BATCH, CLS_BATCH, N_CLASSES = 32, 64, 2

local bench_dir = (arg[0] or ""):match("^(.*)/[^/]*$") or "."

local U = dofile(bench_dir .. "/bench_util.lua")
local loadavg = U.loadavg

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

-- generator forward, no grad: mapping, classifier probabilities, synthesis
local G = S.G
local function gen_fn()
  return sx.no_grad(function()
    local c0, t0 = sx.flops_count(), sx.wall_time()
    local p = sx.softmax(C:logits(x), 2)
    local e = {cls_ms = 1e3 * (sx.wall_time() - t0), cls_gflop = (sx.flops_count() - c0) / 1e9}
    local z = sx.randn{BATCH, cfg.z_dim}
    G:synthesis(G:latent(G:mapping(z), p))
    return e
  end)
end

-- The mirror, on this configuration: first its numerical check, then the
-- timing process, whose GEMM count comes first (untimed runs).
local mirror_conf = U.mirror_config(cfg, G, C, BATCH)
local CHECK_BATCH, CHECK_TOL = 8, 1e-4
local their_check = U.mirror_check(mirror_conf, {G = G, D = S.D, E = S.E, C = C}, CHECK_BATCH)
local mirror, mirror_why = U.mirror_start(mirror_conf)
assert(cfg.style_mixing == 0 and cfg.w_latent == 0 and cfg.w_class_l1 == 0 and cfg.class_dropout == 0
  and not cfg.baseline, "bench_train: the mirror has only the default losses")
local their_count = mirror and mirror:call("count")
local theirs = {plain = {}, r1 = {}, gen = {}}
local function their(kind)
  local r = mirror and mirror:call(kind)
  if r then theirs[kind][#theirs[kind] + 1] = r end
end

-- warm-up, then the two kinds interleaved so that load drift hits both
-- alike, and the mirror's repeats between ours
plain_fn(); r1_fn(); plain_fn()
for _ = 1, 3 do gen_fn() end
if mirror then mirror:call("warm") end
local function combine(runs)
  local out = {reps = #runs, extra = {}}
  for _, k in ipairs({"ms", "gflop", "adj"}) do
    local v = {}
    for i, m in ipairs(runs) do v[i] = m[k] end
    out[k] = median(v)
    if k == "ms" then out.min_ms, out.max_ms = math.min(table.unpack(v)), math.max(table.unpack(v)) end
    if k == "gflop" then out.gflop_min, out.gflop_max = math.min(table.unpack(v)), math.max(table.unpack(v)) end
  end
  for key in pairs(runs[1].extra) do
    local v = {}
    for i, m in ipairs(runs) do v[i] = m.extra[key] end
    out.extra[key] = median(v)
  end
  out.gflops = out.gflop / (out.ms / 1e3)
  return out
end
local p_runs, r_runs, g_runs = {}, {}, {}
for r = 1, REPEATS do
  p_runs[r] = measure(plain_fn, 0, 1)
  r_runs[r] = measure(r1_fn, 0, 1)
  their("plain")
  their("r1")
end
for r = 1, 2 * REPEATS + 1 do
  g_runs[r] = measure(gen_fn, 0, 1)
  their("gen")
end
local plain, r1, gen = combine(p_runs), combine(r_runs), combine(g_runs)
trainer.d_step, trainer.g_step = d_step, g_step
local k = cfg.r1_interval
local function amortised(a_r1, a_plain) return (a_r1 + (k - 1) * a_plain) / k end
local amort = {ms = amortised(r1.ms, plain.ms), gflop = amortised(r1.gflop, plain.gflop), adj = amortised(r1.adj, plain.adj)}
amort.gflops = amort.gflop / (amort.ms / 1e3)

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

-- ---------------------------------------------------------------- against the PyTorch mirror

if not mirror then
  print("PyTorch mirror: skipped (" .. mirror_why .. ")")
else
  local load_mirror = loadavg()
  local ok = mirror:close()
  local info = mirror.info
  print(string.format("PyTorch mirror (tests/bench/torch_mirror.py): torch %s, %d threads, mkldnn %s, "
    .. "its repeats alternating with ours; load average %s", info.torch, info.threads, tostring(info.mkldnn),
    load_mirror))
  print("  " .. mirror.cmd)
  if not ok then print("  the mirror exited with an error; the comparisons below use what it sent") end

  -- like for like: parameters per network, GEMM work per step
  local function nparams(m)
    local n = 0
    for _, t in ipairs(m:parameters()) do n = n + t:numel() end
    return n
  end
  local our_params = {mapping = nparams(G:child("mapping")), synthesis = nparams(G:child("synthesis")),
    discriminator = nparams(S.D), encoder = nparams(S.E), classifier = nparams(C)}
  local same = true
  print()
  print(string.format("  %-14s %10s %10s", "parameters", "ours", "mirror"))
  for _, net in ipairs{"mapping", "synthesis", "discriminator", "encoder", "classifier"} do
    local t = info.params[net]
    same = same and t == our_params[net]
    print(string.format("  %-14s %10d %10d%s", net, our_params[net], t, t == our_params[net] and "" or "  DIFFER"))
  end
  emit{bench = "torch_mirror_params", ours = our_params, torch = info.params, equal = same}
  if their_check then
    local worst = 0
    print()
    print(string.format("  numerical check (batch %d, our weights loaded into the mirror): largest |torch - ours|"
      .. " / largest |ours|", CHECK_BATCH))
    for _, k in ipairs{"logits", "w", "img", "d", "e", "perceptual", "r1_grad"} do
      local v = their_check.rel_diff[k]
      worst = math.max(worst, v or math.huge)
      print(string.format("  %-14s %10.2e%s", k, v or -1, (v and v <= CHECK_TOL) and "" or "  DIFFER"))
    end
    if #their_check.missing > 0 or #their_check.unmatched > 0 then
      print("  parameters not matched: " .. table.concat(their_check.missing, " ") .. " "
        .. table.concat(their_check.unmatched, " "))
    end
    emit{bench = "torch_mirror_check", rel_diff = their_check.rel_diff, worst = worst, tolerance = CHECK_TOL,
      same = worst <= CHECK_TOL and #their_check.missing == 0 and #their_check.unmatched == 0,
      params_loaded = their_check.n_params}
  end
  local our_gf = {plain = plain.gflop, r1 = r1.gflop, gen = gen.gflop, d = plain.extra.d_gflop,
    d_r1 = r1.extra.d_gflop, g = plain.extra.g_gflop}
  local labels = {plain = "StylEx step, no R1", r1 = "StylEx step, with R1", gen = "generator forward",
    d = "D phase, no R1", d_r1 = "D phase, with R1", g = "G phase"}
  local order = {"plain", "r1", "d", "d_r1", "g", "gen"}
  if their_count then
    print()
    print(string.format("  %-22s %10s %10s %8s", "GEMM GFLOP", "ours", "mirror", "o/m"))
    for _, key in ipairs(order) do
      print(string.format("  %-22s %10.3f %10.3f %8.4f", labels[key], our_gf[key], their_count[key],
        our_gf[key] / their_count[key]))
    end
    if #their_count.unknown_ops > 0 then
      print("  the mirror's counter saw matrix ops it does not count: " .. table.concat(their_count.unknown_ops, " "))
    end
    local fl = {}
    for _, key in ipairs(order) do fl[key] = {ours = our_gf[key], torch = their_count[key],
      ratio = our_gf[key] / their_count[key]} end
    emit{bench = "torch_mirror_gemm_gflop", kinds = fl, unknown_ops = their_count.unknown_ops}
  end

  local function med(list, key)
    local v = {}
    for i, r in ipairs(list) do v[i] = r[key] end
    return #v > 0 and median(v) or nil
  end
  local tp, tr, tg = med(theirs.plain, "ms"), med(theirs.r1, "ms"), med(theirs.gen, "ms")
  if not (tp and tr and tg) then
    print("  the mirror sent no timings")
  else
    local tc = their_count or {}
    local function per_s(gf, ms) return gf and gf / (ms / 1e3) or nil end
    local cmp = {
      {"stylex_step_vs_torch", "StylEx step, amortised (1 R1 in 16)", amort.ms, amortised(tr, tp), amort.gflop,
        tc.plain and amortised(tc.r1, tc.plain)},
      {"stylex_step_r1_vs_torch", "  StylEx step, with R1", r1.ms, tr, r1.gflop, tc.r1},
      {"stylex_step_no_r1_vs_torch", "  StylEx step, no R1", plain.ms, tp, plain.gflop, tc.plain},
      {"d_phase_vs_torch", "D phase, amortised", amortised(r1.extra.d_ms, plain.extra.d_ms),
        amortised(med(theirs.r1, "d_ms"), med(theirs.plain, "d_ms")), amortised(r1.extra.d_gflop, plain.extra.d_gflop),
        tc.d and amortised(tc.d_r1, tc.d)},
      {"g_phase_vs_torch", "G phase (G and E)", plain.extra.g_ms, med(theirs.plain, "g_ms"), plain.extra.g_gflop, tc.g},
      {"generator_forward_vs_torch", "generator forward (b32)", gen.ms, tg, gen.gflop, tc.gen},
    }
    print()
    print(string.format("  %-38s %9s %9s %8s %8s %8s", "ours vs the mirror", "ours ms", "torch ms", "t/o",
      "our %pk", "its %pk"))
    for _, c in ipairs(cmp) do
      local name, label, o_ms, t_ms, o_gf, t_gf = table.unpack(c)
      local o_gs, t_gs = per_s(o_gf, o_ms), per_s(t_gf, t_ms)
      print(string.format("  %-38s %9.1f %9.1f %8.2f %7.0f%% %7s", label, o_ms, t_ms, t_ms / o_ms,
        100 * o_gs / peak, t_gs and string.format("%.0f%%", 100 * t_gs / peak) or ""))
      local j = {bench = name, ours_ms = o_ms, torch_ms = t_ms, torch_over_ours = t_ms / o_ms, ours_gflop = o_gf,
        torch_gflop = t_gf, ours_frac_peak = o_gs / peak, torch_frac_peak = t_gs and t_gs / peak,
        peak_gflops = peak, threads = sx.num_threads(), torch_threads = info.threads, torch = info.torch,
        repeats = name == "generator_forward_vs_torch" and #theirs.gen or #theirs.plain, load_average = load_mirror,
        omp_wait_policy = os.getenv("OMP_WAIT_POLICY") or "PASSIVE"}
      if name == "generator_forward_vs_torch" then
        j.ours_images_per_s, j.torch_images_per_s = BATCH / (o_ms / 1e3), BATCH / (t_ms / 1e3)
      end
      emit(j)
    end
    print(string.format("  generator forward: ours %.1f images/s, the mirror %.1f", BATCH / (gen.ms / 1e3),
      BATCH / (tg / 1e3)))
    print("  t/o > 1: ours faster. %pk: GEMM GFLOP/s over this run's sgemm peak; elementwise work is counted by")
    print("  neither side.")
  end
end
print(string.format("\nload average: %s at start, %s at end", load_start, loadavg()))
