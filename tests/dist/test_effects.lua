-- tests/dist/test_effects.lua — the sharded AttFind effect table against one process.
--
--   build/stylex tests/dist/test_effects.lua ref DIR        one process: writes DIR/effects-ref.safetensors
--   mpirun -np 2 ... build/stylex tests/dist/test_effects.lua dist DIR
--
-- 7 images (blocks of 4 and 3 on 2 ranks) of a tiny random generator, with
-- the default shared noise and with per-image noise. The dist run asserts
-- that effect, base_logits, styles, style_min and style_max equal the
-- one-process table (max |diff| <= 1e-6), and that rank 0 computed only its
-- block (its progress total is 4 images' passes, not 7).
local sx = require "stylex"

local mode, dir = arg[1], arg[2]
assert(mode == "ref" or mode == "dist", "usage: test_effects.lua ref|dist DIR")
local rank, size = sx.dist.rank(), sx.dist.size()
local N = 7

sx.manual_seed(5)
local C = sx.models.Classifier{n_classes = 2, resolution = 32, img_channels = 1, channels = {8, 8, 8}, hidden = 16}
local G = sx.models.Generator{resolution = 32, img_channels = 1, z_dim = 16, w_dim = 16, mapping_layers = 2,
  channels = {16, 16, 8, 8}, n_classes = 2}
local lat = sx.no_grad(function()
  local z = sx.randn{N, 16}
  local p = sx.softmax(C:logits(sx.rand{N, 1, 32, 32} * 2 - 1), 2)
  return G:latent(G:mapping(z), p)
end)
local per_image_noise = G:noise(N)

local FIELDS = {"effect", "base_logits", "styles", "style_min", "style_max"}
local function tables()
  local total = 0
  local shared = sx.attfind.effects(G, C, lat, {batch = 16, progress = function(_, t) total = t end})
  local own = sx.attfind.effects(G, C, lat, {batch = 16, noise = per_image_noise})
  return shared, own, total
end

local path = dir .. "/effects-ref.safetensors"
if mode == "ref" then
  assert(size == 1, "the reference runs in one process")
  local shared, own = tables()
  local t = {}
  for _, f in ipairs(FIELDS) do t["shared." .. f], t["own." .. f] = shared[f], own[f] end
  assert(sx.save(path, t, {}))
  print("ref effects written to " .. path)
  return
end

assert(size == 2, "run under mpirun -np 2 (size is " .. size .. ")")
local ref = assert(sx.load(path))
local shared, own, total = tables()
local worst = 0
local checks = dofile("tests/dist/checks.lua")
local check = checks.check
for name, tab in pairs{shared = shared, own = own} do
  for _, f in ipairs(FIELDS) do
    local r, g = ref[name .. "." .. f], tab[f]
    check(table.concat(r:shape(), "x") == table.concat(g:shape(), "x"),
      string.format("%s.%s shape %s, expected %s", name, f, table.concat(g:shape(), "x"), table.concat(r:shape(), "x")))
    if table.concat(r:shape(), "x") == table.concat(g:shape(), "x") then
      local d = (g - r):abs():max():item()
      worst = math.max(worst, d)
      check(d <= 1e-6, string.format("%s.%s differs from one process by %.3g", name, f, d))
    end
  end
end
check(ref["shared.effect"]:abs():max():item() > 1e-3, "the effect table is all zeros: the comparison says nothing")
local S = ref["shared.styles"]:shape()[2]
if rank == 0 then
  check(total == 4 * (1 + 2 * S), string.format("rank 0 computed %d passes, expected its block's %d", total,
    4 * (1 + 2 * S)))
  print(string.format("dist effects: %d images on 2 ranks vs 1 process: max |diff| %.3g", N, worst))
end
checks.finish("dist effects: ok")
