-- tests/bench/bench_attfind.lua — the AttFind effect table's speed at the
-- default config, against a naive computation measured in the same run.
--
--   build/stylex tests/bench/bench_attfind.lua [images]     (make bench runs it)
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

local loadavg = dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/bench_util.lua").loadavg

print(string.format("bench_attfind: %d threads, %d images, load average %s", sx.num_threads(), IMAGES, loadavg()))
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
