-- tests/lua/fixtures.lua — the tiny trained models the end-to-end tests
-- (test_pipeline.lua, test_ground_truth.lua) build, and the untrained ones
-- of the AttFind tests (test_attfind.lua, test_screen.lua), written once:
--   local fixtures = dofile("tests/lua/fixtures.lua")
local sx = require "stylex"
local cjson = require "cjson"
local stylex = require "stylex.all"

local fixtures = {}

-- Rows [res][res] of image i of the synthetic rectangles: a rectangle whose
-- position, height and brightness depend on i (value(i) inside, background
-- outside).
function fixtures.rectangle(i, res, value, background)
  local rows = {}
  for y = 1, res do
    rows[y] = {}
    for x = 1, res do
      local x0, y0 = (i * 3) % (res // 2) + 1, (i * 5) % (res // 2) + 1
      local inside = x >= x0 and x < x0 + res // 2 and y >= y0 and y < y0 + res // 3 + (i % 3)
      rows[y][x] = inside and value(i) or background
    end
  end
  return rows
end

-- `steps` Adam steps (lr 3e-3) on the shuffled batches of ds (batch size
-- `batch`, shuffle seed `seed`, last partial batch dropped), minimising
-- loss(x, y, idx).
function fixtures.fit(params, ds, batch, seed, steps, loss)
  local opt, step = sx.optim.Adam(params, {lr = 3e-3}), 0
  for x, y, idx in ds:batches(batch, {shuffle = true, seed = seed, drop_last = true}) do
    local l = loss(x, y, idx)
    opt:zero_grad()
    l:backward()
    opt:step()
    step = step + 1
    if step == steps then break end
  end
end

-- An untrained 8x8 generator (2 classes, z_dim 6, w_dim 5, 2 mapping layers,
-- o.channels) and classifier (o.classes classes, one block of o.c_channels
-- channels, hidden 8, no dropout), and o.images random latents [n, 7], drawn
-- in that order after sx.manual_seed(o.seed). Returns G, C, latents.
function fixtures.attfind_models(o)
  sx.manual_seed(o.seed)
  local G = sx.models.Generator{resolution = 8, n_classes = 2, z_dim = 6, w_dim = 5, mapping_layers = 2,
                                channels = o.channels}
  local C = sx.models.Classifier{n_classes = o.classes, resolution = 8, channels = {o.c_channels}, convs_per_block = 1,
                                 hidden = 8, dropout = 0}
  return G, C, sx.randn{o.images, 7}
end

-- The tiny 32x32 classifier (3 blocks of 8 channels, hidden 16) the tests train.
function fixtures.classifier(n_classes)
  return sx.models.Classifier{n_classes = n_classes, resolution = 32, img_channels = 1, channels = {8, 8, 8}, hidden = 16}
end

-- Cross-entropy training of C for `steps` steps (fixtures.fit).
function fixtures.fit_classifier(C, ds, batch, seed, steps)
  fixtures.fit(C:parameters(), ds, batch, seed, steps,
    function(x, y) return sx.cross_entropy(C:classify(x, {train = true}), y) end)
end

-- A tiny StylEx (baseline = false) or baseline: `steps` training steps on
-- batches of 8 from train, exported as <dir>/stylex.safetensors or
-- baseline.safetensors with meta (classifier, classes, class_names, dataset).
function fixtures.tiny_stylex(C, train, steps, dir, baseline, meta)
  local trainer = stylex.trainer
  local cfg = trainer.config{resolution = 32, img_channels = 1, n_classes = 2, channels = {16, 16, 8, 8},
    z_dim = 16, w_dim = 16, mapping_layers = 2, batch = 8, baseline = baseline, seed = 2}
  local S = trainer.new(cfg, C)
  for step = 1, steps do
    local idx = {}
    for i = 1, 8 do idx[i] = (step * 8 + i) % train:size() + 1 end
    assert(trainer.step(S, train:batch(idx)))
  end
  trainer.export(S, dir .. "/" .. (baseline and "baseline" or "stylex") .. ".safetensors", meta)
end

-- Writes C as a classifier file (format stylex-classifier-1) with meta
-- (classes, class_names, dataset); returns the metadata a model trained
-- against it records (meta and classifier = path) for fixtures.tiny_stylex.
function fixtures.save_classifier(C, path, meta)
  local file, model = {format = "stylex-classifier-1", config = cjson.encode(C:config())}, {classifier = path}
  for k, v in pairs(meta) do file[k], model[k] = v, v end
  assert(sx.save(path, C:state_dict(), file))
  return model
end

return fixtures
