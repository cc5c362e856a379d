-- tests/bench/bench_attfind.lua — the AttFind effect table's speed at the
-- default config, against a naive computation measured in the same run, and
-- Screened AttFind on the shipped model and on a 64x64x3 network (below).
--
--   build/stylex tests/bench/bench_attfind.lua [images]     (make bench runs it)
--   SX_BENCH_ATTFIND=shipped,64 build/stylex tests/bench/bench_attfind.lua   (only those parts)
--
-- The default 32x32 generator (672 StyleSpace coordinates, 2 classes) and the
-- default classifier, freshly initialised (speed does not depend on the
-- weights). For `images` images (default 3) it times sx.attfind.effects
-- (each image: one synthesis keeping its activations, then the 2 x 672
-- shifted copies recomputed from the shifted layer on, 64 at a time) and
-- prints generator + classifier passes per second, seconds per image, GEMM
-- GFLOP/s against the sgemm peak, and the time extrapolated to N = 250 (the
-- table's cost is linear in N: every image is computed alone).
-- The baseline: the same 1 + 2 x 672 passes of ONE image done naively, every
-- shifted copy synthesised from the first layer (G:from_styles on the whole
-- flat style vector, batch 64) and classified. The effects of both must agree
-- (max |difference| printed; the two orders of work round differently).
local sx = require "stylex"
local cjson = require "cjson"

local IMAGES = math.tointeger(tonumber(arg[1] or "")) or 3
local BATCH = 64
-- which parts run: SX_BENCH_ATTFIND="effects,shipped,64" (the default: all)
local PARTS = {}
for p in (os.getenv("SX_BENCH_ATTFIND") or "effects,shipped,64"):gmatch("[^,]+") do PARTS[p] = true end

local loadavg = dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/bench_util.lua").loadavg

print(string.format("bench_attfind: %d threads, %d images, load average %s", sx.num_threads(), IMAGES, loadavg()))
if PARTS.effects then
  local peak = sx.sgemm_peak()

  sx.manual_seed(1)
  local G = sx.models.Generator{resolution = 32, img_channels = 1, n_classes = 2}
  local C = sx.models.Classifier{n_classes = 2, resolution = 32, img_channels = 1}
  local w = G:mapping(sx.randn{IMAGES, 128})
  local lat = sx.no_grad(function() return G:latent(w, sx.softmax(sx.randn{IMAGES, 2}, 2)) end)
  local noise = G:noise(IMAGES)
  local S = G:style_layout().n_coords

  -- warm-up: one image
  sx.attfind.effects(G, C, lat:narrow(1, 1, 1), {noise = (function()
    local t = {}
    for l, z in ipairs(noise) do t[l] = z:narrow(1, 1, 1) end
    return t
  end)(), batch = BATCH})

  sx.flops_reset()
  local t0 = sx.wall_time()
  local tab = sx.attfind.effects(G, C, lat, {noise = noise, batch = BATCH})
  local secs = sx.wall_time() - t0
  local gflop = sx.flops_count() / 1e9
  local passes = IMAGES * (1 + 2 * S)

  -- naive: image 1, every shifted copy from the first layer
  local naive_secs, max_diff
  sx.no_grad(function()
    local styles = G:styles(lat:narrow(1, 1, 1))
    local flat = G:styles_flat(styles)                      -- [1, S]
    local noise1 = {}
    for l, z in ipairs(noise) do noise1[l] = z:narrow(1, 1, 1) end
    local lo, hi = tab.style_min:totable(), tab.style_max:totable()
    local base_row = flat:totable()[1]
    local rows = {}                                         -- the 2S shifted style vectors, q = 2 (j - 1) + d
    for j = 1, S do
      for d = 1, 2 do
        local r = table.move(base_row, 1, S, 1, {})
        r[j] = d == 1 and lo[j] or hi[j]
        rows[#rows + 1] = r
      end
    end
    local effect = tab.effect:narrow(1, 1, 1):totable()[1]  -- [2][S][K]
    local t1 = sx.wall_time()
    local base = C:logits(G:from_styles(styles, {noise = noise1})):totable()[1]
    max_diff = 0
    for first = 1, #rows, BATCH do
      local m = math.min(BATCH, #rows - first + 1)
      local chunk = sx.tensor(table.move(rows, first, first + m - 1, 1, {}))
      local st = G:styles_with_flat({conv = styles.conv, rgb = (function()
        local t = {}
        for k, r in ipairs(styles.rgb) do t[k] = r:expand{m, r:shape()[2]} end
        return t
      end)()}, chunk)
      local lg = C:logits(G:from_styles(st, {noise = noise1})):totable()
      for b = 1, m do
        local q = first + b - 1
        local j, d = (q - 1) // 2 + 1, (q - 1) % 2 + 1
        for k = 1, #base do
          local diff = math.abs((lg[b][k] - base[k]) - effect[d][j][k])
          if diff > max_diff then max_diff = diff end
        end
      end
    end
    naive_secs = sx.wall_time() - t1
  end)

  local per_image = secs / IMAGES
  print(string.format("  effect table (cached activations, batch %d): %.2f s per image, %.0f passes/s, " ..
    "%.1f GFLOP/s = %.0f%% of the %.1f GFLOP/s sgemm peak", BATCH, per_image, passes / secs, gflop / secs,
    100 * gflop / secs / peak, peak))
  print(string.format("  naive (every copy from the first layer):  %.2f s per image, %.0f passes/s",
    naive_secs, (1 + 2 * S) / naive_secs))
  print(string.format("  speed-up of the cache: %.2fx (same run); effects agree to %.2g (max |diff| of logits)",
    naive_secs / per_image, max_diff))
  print(string.format("  N = 250 images at this speed: %.1f minutes (%d passes)", 250 * per_image / 60,
    250 * (1 + 2 * S)))
  print("JSON " .. cjson.encode{bench = "attfind_effects", images = IMAGES, seconds_per_image = per_image,
    passes_per_s = passes / secs, gflops = gflop / secs, peak_gflops = peak, naive_seconds_per_image = naive_secs,
    speedup = naive_secs / per_image, max_abs_diff = max_diff, n250_minutes = 250 * per_image / 60,
    load_average = loadavg()})
end

-- ---------------------------------------------------------------- Screened AttFind
--
-- attfind_shipped: the shipped fmnist-shoes model (or $SX_BENCH_MODEL), N =
-- 250 held-out images as scripts/explain.lua takes them: encoding, the
-- screened table (attfind.screened_effects, its defaults, k = 10 for the
-- top-10 sufficiency) and the selection, timed together; its picks against
-- those of the cached exact table (<model>/stylex.attfind-n250.safetensors,
-- with the same noise), and sufficiency (top 10, strength 1) of both. The
-- exact table's speed in the same run: sx.attfind.effects on 2 of the
-- images, extrapolated to 250 (its cost is linear in N). The same for the
-- baseline (attfind_shipped_baseline) when the folder has one.
-- attfind_screened_64: an untrained 64x64x3 default generator and
-- classifier (the classifier's output bias set so that half the images fall
-- in each class, as a trained one would split them), N = $SX_BENCH_N64
-- (default 250) random latents: the screened table's time.
local stylex = require "stylex.all"
local MODEL = os.getenv("SX_BENCH_MODEL") or "models/fmnist-shoes"

local same = stylex.attfind.same_picks

local function shipped(which)
  local tpath = MODEL .. "/" .. which .. ".attfind-n250.safetensors"
  local mpath = MODEL .. "/" .. which .. ".safetensors"
  local f = io.open(tpath, "rb")
  if not f then
    print(string.format("  attfind_shipped %s: no %s, skipped", which, tpath))
    return
  end
  f:close()
  local exact = stylex.attfind.load(tpath)
  local G, E, meta = stylex.evaluate.load_model(mpath)
  local smeta = which == "stylex" and meta or select(3, stylex.evaluate.load_model(MODEL .. "/stylex.safetensors"))
  local C, cmeta = stylex.classifier.load(meta.classifier or smeta.classifier)
  for _, p in ipairs(C:parameters()) do p:requires_grad(false) end
  local N = exact.effect:shape()[1]
  local load0 = loadavg()
  local t0 = sx.wall_time()
  local ds = meta.data and stylex.classifier.test_set(meta, G:config().resolution, G:config().img_channels) or
    stylex.classifier.test_set(cmeta)
  local idx = {}
  for i = 1, N do idx[i] = i end
  local x = ds:batch(idx)
  local lat = sx.no_grad(function()
    local p = G:config().n_classes > 0 and sx.softmax(C:logits(x), 2) or nil
    return G:latent(E:encode(x), p)
  end)
  local lat_diff = (lat - exact.latents):abs():max():item()
  local tab = stylex.attfind.screened_effects(G, C, lat, {noise = exact.noise, k = 10})
  local picks = stylex.attfind.per_class(tab, "subset", {k = 10})
  local secs = sx.wall_time() - t0
  local exact_picks = stylex.attfind.per_class(exact, "subset", {k = 10})
  local suff = stylex.attfind.sufficiency(G, C, tab, picks, {k = 10, strength = 1})
  local suff_exact = stylex.attfind.sufficiency(G, C, exact, exact_picks, {k = 10, strength = 1})
  -- the exact table's speed now: 2 images
  local two = {}
  for l, z in ipairs(exact.noise) do two[l] = z:shape()[1] == 1 and z or z:narrow(1, 1, 2) end
  local S = exact.effect:shape()[3]
  local t1 = sx.wall_time()
  sx.attfind.effects(G, C, exact.latents:narrow(1, 1, 2), {noise = two})
  local exact_pps = 2 * (1 + 2 * S) / (sx.wall_time() - t1)
  local s = tab.screen
  local exact_secs = N * (1 + 2 * S) / exact_pps
  print(string.format("  attfind_shipped %s: N = %d screened in %.1f s (gradients %.1f s, exact columns %.1f s): " ..
    "%d of %d columns, %d passes = %.1f%% of the table's %d; same top-8 %s, top-10 %s; sufficiency %.4f " ..
    "(exact table %.4f); exact table at this run's %.0f passes/s: %.0f s (%.1fx); latents differ from the " ..
    "cached by %.2g; load %s -> %s", which, N, secs, s.gradient_seconds, s.exact_seconds, s.columns, 2 * S,
    s.passes, 100 * s.passes / s.full_passes, s.full_passes, tostring(same(picks, exact_picks, 8)),
    tostring(same(picks, exact_picks, 10)), suff.share, suff_exact.share, exact_pps, exact_secs, exact_secs / secs,
    lat_diff, load0, loadavg()))
  print("JSON " .. cjson.encode{bench = which == "stylex" and "attfind_shipped" or "attfind_shipped_baseline",
    model = mpath, images = N, seconds = secs, same_picks = same(picks, exact_picks, 8),
    same_picks_top10 = same(picks, exact_picks, 10), sufficiency = suff.share, sufficiency_exact = suff_exact.share,
    columns = s.columns, of_columns = 2 * S, passes = s.passes, full_passes = s.full_passes,
    certified = s.certified, gradient_seconds = s.gradient_seconds, exact_columns_seconds = s.exact_seconds,
    exact_passes_per_s = exact_pps, exact_seconds_estimate = exact_secs, speedup = exact_secs / secs,
    latents_max_diff = lat_diff, load_average = load0, load_average_end = loadavg(), threads = sx.num_threads()})
end

if PARTS.shipped then
  shipped("stylex")
  shipped("baseline")
end

local N64 = math.tointeger(tonumber(os.getenv("SX_BENCH_N64") or "250")) or 250
if PARTS["64"] and N64 > 0 then
  sx.manual_seed(1)
  local G64 = sx.models.Generator{resolution = 64, img_channels = 3, n_classes = 2}
  local C64 = sx.models.Classifier{n_classes = 2, resolution = 64, img_channels = 3}
  local lat64 = sx.no_grad(function() return G64:latent(G64:mapping(sx.randn{N64, 128}),
    sx.softmax(sx.randn{N64, 2}, 2)) end)
  local noise64 = G64:noise(N64)
  -- half the images in each class: the output bias moved by the median logit difference
  sx.no_grad(function()
    local lg = {}
    for first = 1, N64, 50 do
      local m = math.min(50, N64 - first + 1)
      local nz = {}
      for l, z in ipairs(noise64) do nz[l] = z:narrow(1, first, m) end
      lg[#lg + 1] = C64:logits(G64:synthesis(lat64:narrow(1, first, m), nz))
    end
    local d = (sx.cat(lg, 1):narrow(2, 2, 1) - sx.cat(lg, 1):narrow(2, 1, 1)):reshape{-1}:totable()
    table.sort(d)
    local b = C64:named_parameters()["out.bias"]
    local bv = b:totable()
    bv[2] = bv[2] - d[(N64 + 1) // 2]
    b:copy_(sx.tensor(bv))
  end)
  local S64 = G64:style_layout().n_coords
  local load0 = loadavg()
  local t0 = sx.wall_time()
  local tab = stylex.attfind.screened_effects(G64, C64, lat64, {noise = noise64, k = 10})
  stylex.attfind.per_class(tab, "subset", {k = 10})
  local secs = sx.wall_time() - t0
  local s = tab.screen
  local counts = {0, 0}
  for _, y in ipairs(stylex.attfind.labels(tab)) do counts[y + 1] = counts[y + 1] + 1 end
  print(string.format("  attfind_screened_64 (untrained 64x64x3, %d coordinates): N = %d (%d / %d per class) in " ..
    "%.1f s = %.1f min: %d of %d columns, %d passes = %.1f%% of the table's %d; load %s -> %s", S64, N64, counts[1],
    counts[2], secs, secs / 60, s.columns, 2 * S64, s.passes, 100 * s.passes / s.full_passes, s.full_passes, load0,
    loadavg()))
  print("JSON " .. cjson.encode{bench = "attfind_screened_64", images = N64, coords = S64, seconds = secs,
    minutes = secs / 60, columns = s.columns, of_columns = 2 * S64, passes = s.passes, full_passes = s.full_passes,
    gradient_seconds = s.gradient_seconds, exact_columns_seconds = s.exact_seconds, load_average = load0,
    load_average_end = loadavg(), threads = sx.num_threads()})
end
