-- The shapes benchmark's scores (docs/ground-truth.md), one JSON line on stdout:
--   build/stylex scripts/faithfulness.lua --model models/shapes [--n N] [--n-attfind N] [--k K]
-- "classifier": what the classifier really uses, measured by moving one
--   factor at a time in the renderer on N balanced test images, and its
--   accuracies on the correlated and the balanced split.
-- "stylex", "baseline" (for each model the folder holds): the top-k
--   attributes per class that scripts/explain.lua shows (the effect table on
--   the first --n-attfind test images, cached beside the model and shared with
--   explain.lua), each measured by the factor oracles (oracles.safetensors)
--   along its counterfactuals, and scored against the factors the classifier
--   uses: recall@k, precision@k, purity, shortcut rank, single-attribute flips;
--   scored again with each factor's change weighted by how well the oracles
--   read that factor on the model's reconstructions ("weighted",
--   "factor_fidelity", "reading_weights": benchmark.reading_weights); beside
--   them the null control ("null": random StyleSpace coordinates measured
--   the same way, benchmark.null_control).
-- "gradcam": the share of Grad-CAM's heat on the marker, on test images that
--   carry it.
local stylex = require "stylex.all"
local cjson = require "cjson"

local usage = [[
usage: stylex scripts/faithfulness.lua --model DIR [options]
  --model DIR      a folder with classifier.safetensors trained on shapes (models/shapes),
                   oracles.safetensors and stylex.safetensors / baseline.safetensors
  --n N            balanced test images to intervene on (default 2000)
  --n-attfind N    test images of the effect tables (default 250, as explain.lua)
  --k K            attributes per class scored (default 8)
  --n-fidelity N    held-out images whose reconstructions weigh the readings (default 500, as eval_stylex --n 500)
  --null N         random coordinates of the null control (benchmark.null_control; default 16, 0: none)
  --null-seed S    Lua's math.random seed for them (default 5, as null_attributes.lua)
  --max-corr X     select as explain.lua --max-corr X (default 1: off)
  --unstable-filter select after the unstable-image filter, as explain.lua --unstable-filter
  --discriminator-filter  select through the discriminator filter, as explain.lua --discriminator-filter
  --discriminator-threshold X  its threshold (default 0.2, as explain.lua)
  --screen         Screened AttFind tables, as explain.lua --screen (its cached screened tables are shared)]]
local opts = stylex.cli.parse(arg, {model = "", n = 2000, n_attfind = stylex.explain.defaults.n, k = 8, null = 16,
  null_seed = 5, n_fidelity = 500, max_corr = 1, unstable_filter = false,
  discriminator_filter = false, discriminator_threshold = stylex.explain.defaults.discriminator_threshold,
  screen = false}, usage,
  {required = {"model"}, positive_integers = {"n", "n_attfind", "k", "null_seed", "n_fidelity"},
   options = {model = "dir", null = "int>=0", discriminator_threshold = ">=0"}})
if not (opts.max_corr >= -1 and opts.max_corr <= 1) then
  stylex.cli.usage_error("--max-corr must be a number in [-1, 1], got " .. opts.max_corr)
end
stylex.cli.check({classifier = opts.model .. "/classifier.safetensors"}, "classifier", "file", "--model")
local C, meta = stylex.classifier.load(opts.model .. "/classifier.safetensors")
if meta.dataset ~= "shapes" then
  stylex.cli.usage_error("--model: " .. opts.model .. "'s classifier was trained on '" .. tostring(meta.dataset) ..
    "', not on the shapes benchmark")
end
for _, p in ipairs(C:parameters()) do p:requires_grad(false) end
local n, k = math.tointeger(opts.n), math.tointeger(opts.k)
local test = stylex.data.shapes{split = "test", n = n}
local effects = stylex.benchmark.factor_effects(C, test.factors)
local used = stylex.benchmark.factors_used(effects)
local correlated, balanced = stylex.benchmark.accuracies(C, {n = n})
local out = {
  classifier = {
    factor_effects = effects,
    factors_used = used,
    accuracy = correlated,
    accuracy_balanced = balanced,
    n = n,
  },
}
io.stderr:write(string.format("classifier: uses %s; accuracy %.4f correlated, %.4f balanced\n",
  table.concat(used, ", "), correlated, balanced))

local function file_exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- The effect table's images: the first n_attfind of the classifier's test
-- split, as explain.run takes them (so the cache serves both).
local ds = stylex.classifier.test_set(meta)
local n_tab = math.min(math.tointeger(opts.n_attfind), ds:size())
local idx = {}
for i = 1, n_tab do idx[i] = i end
local x = ds:batch(idx)
local ids = string.format("%s:1-%d", ds.name or "data", n_tab)
local eopts = {}
for key, v in pairs(stylex.explain.defaults) do eopts[key] = v end
eopts.model = opts.model
if opts.max_corr < 1 then eopts.max_corr = opts.max_corr end
eopts.unstable_filter = opts.unstable_filter
eopts.discriminator_filter = opts.discriminator_filter
eopts.discriminator_threshold = opts.discriminator_threshold
if opts.screen then
  if opts.unstable_filter or opts.discriminator_filter then
    stylex.cli.usage_error("--screen does not go with --unstable-filter or --discriminator-filter (they read the whole table)")
  end
  eopts.screen = true
  eopts.k = math.max(eopts.k, k) -- the picks the screening certifies
end

-- One model's attributes, measured and scored.
local function attributes_of(which, O)
  local path = opts.model .. "/" .. which .. ".safetensors"
  if not file_exists(path) then return nil end
  local G, E, gmeta = stylex.evaluate.load_model(path)
  local tab = stylex.explain.effect_table(which, G, E, C, x, ids, eopts)
  local D = nil
  if opts.discriminator_filter then
    local err
    D, err = stylex.evaluate.load_discriminator(path)
    if not D then stylex.cli.die(tostring(err)) end
  end
  local per_class = stylex.explain.select(tab, eopts, k, {G = G, C = C, D = D})
  local t0 = stylex.cli.now()
  local fidelity = stylex.benchmark.reconstruction_fidelity(G, E, C, O, ds, {n = opts.n_fidelity})
  local weights = stylex.benchmark.reading_weights(fidelity)
  local s = stylex.benchmark.score_attributes(G, C, O, tab, per_class, used, k, {weights = weights})
  local single = {}
  for i, row in ipairs(s.attributes) do single[i] = row.single_flip end
  local function line(label, sc)
    io.stderr:write(string.format("%s (step %s)%s: recall %.3f, precision %.3f, purity %.3f, shortcut rank %s\n",
      which, gmeta.step, label, sc.recall, sc.precision, sc.purity, tostring(sc.shortcut_rank)))
  end
  line("", s)
  line(", readings weighted by fidelity", s.weighted)
  math.randomseed(opts.null_seed)
  local null = opts.null > 0 and
    stylex.benchmark.null_control(G, C, O, tab, {n = math.tointeger(opts.null), random = math.random})
  io.stderr:write(string.format("%s: measured in %.0f s\n", which, stylex.cli.now() - t0))
  local function rank(r) return r == nil and cjson.null or r end
  s.weighted.shortcut_rank = rank(s.weighted.shortcut_rank)
  local fid = {}
  for name, q in pairs(fidelity) do fid[name] = q.r2 or q.accuracy end
  return {k = k, recall = s.recall, precision = s.precision, purity = s.purity, shortcut_rank = rank(s.shortcut_rank),
    weighted = s.weighted, factor_fidelity = fid, reading_weights = weights, null = null or nil,
    single_flip = single, attributes = s.attributes, step = math.tointeger(tonumber(gmeta.step)), n_images = n_tab}
end

local oracles_path = opts.model .. "/oracles.safetensors"
if file_exists(oracles_path) then
  local O = stylex.benchmark.load_oracles(oracles_path)
  out.stylex = attributes_of("stylex", O)
  out.baseline = attributes_of("baseline", O)
else
  io.stderr:write("faithfulness: no ", oracles_path, " (scripts/train_oracles.lua); attributes not scored\n")
end
local heat = stylex.benchmark.marker_heat_share(C, test, {n = 500})
out.gradcam = {marker_heat_share = heat.share, marker_area = heat.area, n = heat.n}
print(cjson.encode(out))
