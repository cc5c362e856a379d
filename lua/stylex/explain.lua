-- stylex.explain — the explanation pipeline of SPEC §1.4-1.6 behind
-- scripts/explain.lua: encode held-out images, the AttFind effect table
-- (cached beside the model), the attributes per class, counterfactual strips
-- with Grad-CAM, sufficiency for StylEx and the StyleSpace baseline, for a
-- model of the shapes benchmark the ground truth (stylex.benchmark), and the
-- report (stylex.report).
--
--   local explain = require "stylex.explain"
--   local doc = explain.run{model = "models/fmnist-shoes", out = "report", n = 250}
--
-- A model folder holds stylex.safetensors (scripts/train_stylex.lua's
-- export), optionally baseline.safetensors (the same with --baseline), and
-- the classifier named in their metadata. Effect tables are cached as
-- <model folder>/<stylex|baseline>.attfind-n<N>.safetensors, keyed by
-- fingerprints of the generator's and the encoder's weights, the images and
-- the noise seed; a
-- cache that does not match is recomputed (opts.recompute forces it).
local sx = require "stylex"
local cjson = require "cjson"
local attfind = require "stylex.attfind"
local classifier = require "stylex.classifier"
local data = require "stylex.data"
local evaluate = require "stylex.evaluate"
local gradcam = require "stylex.gradcam"
local report = require "stylex.report"
local cli = require "stylex.cli"
local util = require "stylex.util"

local explain = {}

explain.defaults = {
  model = nil,            -- model folder (required)
  out = "report",         -- report folder
  n = 250,                -- held-out images: the first n of the held-out split (the model's
                          --   recorded image folder's, else the classifier's test split)
  k = 8,                  -- attributes shown per class
  sufficiency_k = 10,     -- attributes applied together for sufficiency
  policy = "subset",      -- "subset" | "independent" | a function(tab, opts)
  space = "prob",         -- the policies read effects as probability ("prob") or logit changes
  max_image_effect = nil, -- subset selection's cap (nil: the policy's default, 0.2 in "prob")
  max_corr = nil,         -- subset selection passes over a column whose class-logit change correlates
                          --   above this with an earlier pick's (nil: off, as the official code)
  unstable_filter = false, -- the official unstable-image filter (attfind.filter_unstable) before
                          --   selecting; the statistics still use every image
  discriminator_filter = false, -- the official discriminator filter (attfind.discriminator_check)
                          --   while selecting; needs a model file that carries its discriminator
  discriminator_threshold = 0.2, -- its largest allowed change of D's output (the official 0.2)
  sufficiency_strengths = {1, 2}, -- sufficiency at each; the first is the headline figure
                          --   (1: the move the effect table measured; 2: the official
                          --   code's shift_size for its counterfactuals)
  examples = 3,           -- images per strip
  strengths = {0, 0.5, 1, 1.5, 2}, -- strip frames: s + t (extreme - s); 2 is the official shift_size
  recon_grid = 16,        -- images in the reconstruction grid
  batch = 64,             -- shifted copies per pass of the effect table
  seed = 1234,            -- noise of the held-out images
  baseline = true,        -- also the StyleSpace baseline, when baseline.safetensors exists
  ground_truth = true,    -- the "Ground truth" section, for a classifier of the shapes benchmark
                          --   with oracles.safetensors beside the model (docs/ground-truth.md)
  recompute = false,      -- ignore cached effect tables
  screen = false,         -- Screened AttFind (attfind.screened_effects) instead of the full table:
                          --   exact columns only where they can change the subset picks
  screen_quantile = 0.9,  -- its bound: safety x this quantile of the measured errors
  screen_safety = 1.5,
  screen_max_columns = nil, -- per class (nil: no limit)
  dataset = nil,          -- a stylex.data set instead of the held-out split
  data = nil,             -- {dir =, labels =}: an image folder instead of the held-out split, read
                          --   at the GAN's size with the model's label map (data.label_map_of)
  command = nil,          -- the command line, for the report
  log = nil,              -- function(msg) for progress messages (default: io.stderr)
}

-- Under mpirun every rank runs the pipeline (the effect table is sharded and
-- gathered, the rest is the same on every rank) and rank 0 alone speaks and
-- writes the cache and the report.
local function say(opts, fmt, ...)
  if sx.dist.rank() ~= 0 then return end
  local msg = string.format(fmt, ...)
  if opts.log then opts.log(msg) else io.stderr:write(msg, "\n") end
end

local function file_exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- A fingerprint of a module's weights: the sum of |w| of every tensor, in
-- name order, printed to 9 digits. Different weights give a different
-- string in practice; it guards the effect table cache.
function explain.fingerprint(m)
  local sd = m:state_dict()
  local names = {}
  for k in pairs(sd) do names[#names + 1] = k end
  table.sort(names)
  local parts = {}
  for i, k in ipairs(names) do parts[i] = string.format("%.9g", sd[k]:abs():sum():item()) end
  local h = 0
  for _, p in ipairs(parts) do
    for c in p:gmatch(".") do h = (h * 31 + c:byte()) % 4294967291 end
  end
  return string.format("%d:%08x", #names, h)
end

-- The images' StyleSpace latents: cat(E(x), softmax(C(x))) (E(x) alone
-- for an unconditional generator).
local function latents(G, E, C, x)
  return sx.no_grad(function()
    local p = G:config().n_classes > 0 and sx.softmax(C:logits(x), 2) or nil
    return G:latent(E:encode(x), p)
  end)
end

-- The effect table of model `which` ("stylex" | "baseline") on images x
-- (named by the string ids, for the cache key), from the cache beside
-- opts.model or computed (and cached). opts: model (folder), seed, batch,
-- recompute, log, as in explain.defaults. Returns the table and its timing
-- {seconds=, passes=, passes_per_s=, cached=, path=}.
-- The options of a screened table explain.select needs: subset selection
-- with opts' space, cap and max_corr, certified for the shown and the
-- sufficiency picks.
local function screen_policy_opts(opts)
  return {space = opts.space, max_image_effect = opts.max_image_effect, max_corr = opts.max_corr}
end

-- Whether the cached screened table tab serves opts (the same bound, enough picks).
local function screen_matches(tab, opts)
  local s = tab.screen
  if not s or not attfind.screen_covers(tab, "subset", screen_policy_opts(opts),
      math.max(opts.k, opts.sufficiency_k)) then return false end
  return s.quantile == opts.screen_quantile and s.safety == opts.screen_safety and
    (opts.screen_max_columns == nil or s.max_columns == opts.screen_max_columns) and s.certified
end

-- With opts.screen, a screened table (attfind.screened_effects) cached as
-- <which>.attfind-n<N>-screened.safetensors; an exact table cached for the
-- same model and images serves instead (it is the reference), and a
-- screened one is never read as exact (another file, and tab.screen set).
function explain.effect_table(which, G, E, C, x, ids, opts)
  local N = x:shape()[1]
  local exact_path = string.format("%s/%s.attfind-n%d.safetensors", opts.model, which, N)
  local path = opts.screen and string.format("%s/%s.attfind-n%d-screened.safetensors", opts.model, which, N) or
    exact_path
  local key = {generator = explain.fingerprint(G), encoder = explain.fingerprint(E), images = ids,
    noise_seed = tostring(opts.seed)}
  local function cached(p, screened)
    if opts.recompute or not file_exists(p) then return nil end
    local ok, tab = pcall(attfind.load, p)
    if ok and tab and tab.meta.generator == key.generator and tab.meta.encoder == key.encoder and
        tab.meta.images == key.images and tab.meta.noise_seed == key.noise_seed and
        (tab.screen ~= nil) == screened and (not screened or screen_matches(tab, opts)) then
      say(opts, "%s: %s effect table from %s (computed in %ss)", which, screened and "screened" or "exact", p,
        tab.meta.seconds)
      return tab, {seconds = tonumber(tab.meta.seconds), passes = tonumber(tab.meta.passes),
                   passes_per_s = tonumber(tab.meta.passes_per_s), cached = true, path = p}
    end
    if not opts.screen or screened then
      say(opts, "%s: %s is for another model, image set or screening; recomputing", which, p)
    end
  end
  local tab, timing = cached(exact_path, false)
  if tab then return tab, timing end
  if opts.screen then
    tab, timing = cached(path, true)
    if tab then return tab, timing end
  end
  local lat = latents(G, E, C, x)
  local rng = sx.rng_get_state()
  sx.manual_seed(opts.seed)
  local noise = G:noise(N)
  sx.rng_set_state(rng)
  local t0 = cli.now()
  if opts.screen then
    local po = screen_policy_opts(opts)
    tab = attfind.screened_effects(G, C, lat, {noise = noise, batch = opts.batch,
      k = math.max(opts.k, opts.sufficiency_k), space = po.space, max_image_effect = po.max_image_effect,
      max_corr = po.max_corr, quantile = opts.screen_quantile, safety = opts.screen_safety,
      max_columns = opts.screen_max_columns, log = function(msg) say(opts, "%s %s", which, msg) end})
    local seconds = cli.now() - t0
    local s = tab.screen
    timing = {seconds = seconds, passes = s.passes, passes_per_s = s.passes / seconds, cached = false, path = path,
      screened = true}
    say(opts, "%s: screened effect table of %d images in %.1f s: %d of %d columns evaluated, %d passes (%.1f%% of " ..
      "the full table's %d)%s", which, N, seconds, s.columns, 2 * tab.styles:shape()[2], s.passes,
      100 * s.passes / s.full_passes, s.full_passes, s.certified and "" or "; NOT certified (max columns reached)")
    local ok, err = true, nil
    if sx.dist.rank() == 0 then ok, err = attfind.save(path, tab, {generator = key.generator, encoder = key.encoder,
      images = key.images, noise_seed = key.noise_seed, seconds = string.format("%.1f", seconds),
      passes = tostring(s.passes), passes_per_s = string.format("%.1f", timing.passes_per_s),
      threads = tostring(sx.num_threads and sx.num_threads() or "")}) end
    if not ok then say(opts, "warning: could not cache the screened table at %s: %s", path, tostring(err)) end
    return tab, timing
  end
  local tab = attfind.effects(G, C, lat, {noise = noise, batch = opts.batch,
    progress = attfind.progress_printer("attfind " .. which)})
  local seconds = cli.now() - t0
  local passes = N * (1 + 2 * tab.styles:shape()[2])
  local timing = {seconds = seconds, passes = passes, passes_per_s = passes / seconds, cached = false, path = path}
  say(opts, "%s: effect table of %d images in %.1f s (%.0f generator + classifier passes/s)", which, N, seconds,
    timing.passes_per_s)
  local ok, err = true, nil
  if sx.dist.rank() == 0 then ok, err = attfind.save(path, tab, {generator = key.generator, encoder = key.encoder, images = key.images,
    noise_seed = key.noise_seed, seconds = string.format("%.1f", seconds), passes = tostring(passes),
    passes_per_s = string.format("%.1f", timing.passes_per_s), threads = tostring(sx.num_threads and sx.num_threads() or "")}) end
  if not ok then say(opts, "warning: could not cache the effect table at %s: %s", path, tostring(err)) end
  return tab, timing
end

-- Attributes per class with opts.policy (k of them), read in opts.space, with
-- opts.max_image_effect and opts.max_corr for the subset policy, after the
-- unstable-image filter if opts.unstable_filter, through the discriminator
-- filter if opts.discriminator_filter (nets = {G =, D =, C =}: the model's
-- generator and discriminator, the classifier). Second result: the images
-- the unstable filter zeroed; third: the attributes the discriminator refused.
function explain.select(tab, opts, k, nets)
  local popts = {k = k}
  if type(opts.policy) == "string" then popts.space = opts.space end
  if opts.policy == "subset" then popts.max_image_effect, popts.max_corr = opts.max_image_effect, opts.max_corr end
  if tab.screen then
    local ok, why = attfind.screen_covers(tab, opts.policy, popts, k)
    if ok and (opts.unstable_filter or opts.discriminator_filter) then
      ok, why = false, "the unstable and discriminator filters need the exact table"
    end
    if not ok then error("explain: a screened effect table does not serve this selection (" .. why ..
      "); drop --screen or the option", 2) end
  end
  local refused = 0
  if opts.discriminator_filter then
    if opts.policy ~= "subset" then error("explain: the discriminator filter needs the subset policy", 2) end
    if not (nets and nets.D) then error("explain: the discriminator filter needs the model's discriminator", 2) end
    local labels = attfind.labels(tab)
    popts.accept = function(a)
      local ok = attfind.discriminator_check(nets.G, nets.D, nets.C, tab, a, {labels = labels,
        threshold = opts.discriminator_threshold})
      if not ok then refused = refused + 1 end
      return ok
    end
  end
  local removed = {}
  if opts.unstable_filter then tab, removed = attfind.filter_unstable(tab) end
  return attfind.per_class(tab, opts.policy, popts), removed, refused
end

-- The model file's discriminator when opts.discriminator_filter asks for it.
local function discriminator_of(path, opts)
  if not opts.discriminator_filter then return nil end
  local D, err = evaluate.load_discriminator(path)
  if not D then error("explain: --discriminator-filter: " .. err, 3) end
  return D
end

-- Sufficiency of the top-k of `per_class` at every strength of
-- opts.sufficiency_strengths: a list of attfind.sufficiency results.
local function sufficiency(G, C, tab, per_class, opts)
  local out = {}
  for i, t in ipairs(opts.sufficiency_strengths) do
    out[i] = attfind.sufficiency(G, C, tab, per_class, {k = opts.sufficiency_k, strength = t})
    out[i].strength = t
  end
  return out
end

-- What one attribute does on its own to the images not of its class: how
-- many the table says it flips to its class at strength 1 (flips, n_other,
-- flip_share) and its mean logit change there (mean_effect); the share the
-- regenerated images flip at strength 2 (flip_share_t2); its change of the
-- class logit on every image of the table (class_effect, the move the table
-- measured); the other-class images, most changed first (changed).
local function attribute_stats(G, C, tab, a, labels, batch)
  local N, K = tab.effect:shape()[1], tab.effect:shape()[4]
  local d = a.direction == "to-min" and 1 or 2
  local eff = tab.effect:narrow(2, d, 1):narrow(3, a.coord, 1):reshape{N, K}
  local shifted = (tab.base_logits + eff):argmax(2):totable()
  local e = eff:totable()
  local st = {flips = 0, n_other = 0, mean_effect = 0, changed = {}, class_effect = {}}
  for i = 1, N do
    st.class_effect[i] = e[i][a.class + 1]
    if labels[i] ~= a.class then
      st.n_other = st.n_other + 1
      st.mean_effect = st.mean_effect + e[i][a.class + 1]
      if shifted[i] == a.class then st.flips = st.flips + 1 end
      st.changed[#st.changed + 1] = i
    end
  end
  table.sort(st.changed, function(i, j)
    local ei, ej = e[i][a.class + 1], e[j][a.class + 1]
    if ei ~= ej then return ei > ej end
    return i < j
  end)
  -- at strength 2: the sufficiency of this attribute alone
  local alone = {}
  for c = 1, K do alone[c] = {} end
  alone[a.class + 1] = {a}
  local t2 = attfind.sufficiency(G, C, tab, alone, {k = 1, strength = 2, labels = labels, batch = batch})
  local n = math.max(st.n_other, 1)
  st.mean_effect, st.flip_share = st.mean_effect / n, st.flips / n
  st.flip_share_t2 = t2.per_class[a.class + 1].share or 0
  return st
end

-- A strip row: image i of the table moved by attrs at each strength; the
-- probability of class c on every frame, and Grad-CAM maps for c on one
-- scale.
local function strip_row(G, C, tab, attrs, i, c, labels, strengths)
  local frames = {}
  for f, t in ipairs(strengths) do
    frames[f] = attfind.apply_attributes(G, tab, attrs, {images = {i}, strength = t})
  end
  local x = sx.cat(frames, 1)
  local probs = sx.no_grad(function() return sx.softmax(C:logits(x), 2):narrow(2, c + 1, 1):reshape{#frames} end)
  -- one scale for the strip's maps: the original, not of class c, has little
  -- evidence for c, and a map scaled to its own peak would show that
  -- leftover (which sits at the frame) as hot as real evidence (docs/method.md)
  return {image = i, label = labels[i], frames = x, probs = probs:totable(),
    gradcam = gradcam.maps(C, x, c, {scale = "common"})}
end

-- Images (1-based) of the table whose label is not c: the first `count`.
local function examples_for(labels, c, count)
  local out = {}
  for i, y in ipairs(labels) do
    if y ~= c and #out < count then out[#out + 1] = i end
  end
  return out
end

-- How concentrated each class is in StyleSpace: delta_c = s(w, e_c) -
-- s(w, uniform), the change of the style vector when the class probabilities
-- go from uniform to class c (the same for every w: the affines are linear);
-- the share of |delta_c|^2 in its k largest coordinates. nil for an
-- unconditional generator.
local function class_direction(G, K, k)
  local cfg = G:config()
  if cfg.n_classes == 0 then return nil end
  return sx.no_grad(function()
    local w = sx.zeros{1, cfg.w_dim}
    local function flat(p) return G:styles_flat(G:styles(G:latent(w, p))) end
    local base = flat(sx.ones{1, K} * (1 / K))
    local out = {k = k, per_class = {}}
    for c = 0, K - 1 do
      local onehot = {}
      for j = 1, K do onehot[j] = j == c + 1 and 1 or 0 end
      local sq = (flat(sx.tensor{onehot}) - base):square():reshape{-1}:totable()
      table.sort(sq, function(a, b) return a > b end)
      local top, total = 0, 0
      for i, v in ipairs(sq) do
        total = total + v
        if i <= k then top = top + v end
      end
      out.per_class[c + 1] = {class = c, top_k_share = total > 0 and top / total or 0}
    end
    return out
  end)
end

-- Reconstruction metrics on x and a small grid of originals / reconstructions.
local function reconstruction(G, E, C, x, m)
  return sx.no_grad(function()
    local N = x:shape()[1]
    local logits = C:logits(x)
    local p = G:config().n_classes > 0 and sx.softmax(logits, 2) or nil
    local rec = G:synthesis(G:latent(E:encode(x), p))
    local rec_logits = C:logits(rec)
    local a, b = logits:argmax(2):totable(), rec_logits:argmax(2):totable()
    local agree = 0
    for i = 1, N do if a[i] == b[i] then agree = agree + 1 end end
    m = math.min(m, N)
    local pa, pb = sx.softmax(logits, 2):totable(), sx.softmax(rec_logits, 2):totable()
    local r = {n = N, l1 = (rec - x):abs():mean():item(), perceptual = C:perceptual(x, rec):mean():item(),
      agreement = agree / N, originals = x:narrow(1, 1, m), recons = rec:narrow(1, 1, m),
      pred_orig = {}, prob_orig = {}, pred_recon = {}, prob_recon = {}}
    for i = 1, m do
      r.pred_orig[i], r.pred_recon[i] = a[i], b[i]
      r.prob_orig[i], r.prob_recon[i] = pa[i][a[i] + 1], pb[i][b[i] + 1]
    end
    return r
  end)
end

-- The shapes benchmark's ground truth (docs/ground-truth.md): what C uses,
-- found by moving one factor at a time in the renderer on the factors of ds,
-- and each shown attribute measured by the oracles O and scored, as measured
-- and with the readings weighted by their fidelity on G and E's
-- reconstructions of the first 500 images of ds (benchmark.reading_weights).
local function ground_truth(G, E, C, O, tab, shown, ds, k)
  local benchmark = require "stylex.benchmark"
  local effects = benchmark.factor_effects(C, ds.factors)
  local used = benchmark.factors_used(effects)
  local is_used = {}
  for _, f in ipairs(used) do is_used[f] = true end
  local factors = {}
  for i, name in ipairs(ds.factor_names) do
    factors[i] = {name = name, flip_share = effects[name], used = is_used[name] == true}
  end
  local weights = benchmark.reading_weights(benchmark.reconstruction_fidelity(G, E, C, O, ds, {n = 500}))
  local s = benchmark.score_attributes(G, C, O, tab, shown, used, k, {weights = weights})
  local attrs = {}
  for i, a in ipairs(s.attributes) do
    attrs[i] = {class = a.class, rank = a.rank, layer_name = a.layer_name, channel = a.channel, coord = a.coord,
      dominant = a.dominant, purity = a.purity, dominant_weighted = a.dominant_weighted,
      purity_weighted = a.purity_weighted, single_flip = a.single_flip, changes = a.changes}
  end
  return {n = ds:size(), factors = factors, used = used, k = k, recall = s.recall, precision = s.precision,
    weighted = s.weighted, reading_weights = weights,
    purity = s.purity, shortcut_rank = s.shortcut_rank, attributes = attrs}
end

-- The options whose default is nil (so not keys of explain.defaults).
local NIL_DEFAULT = {model = true, max_image_effect = true, max_corr = true, dataset = true, command = true,
  log = true, data = true, screen_max_columns = true}

local function check_opts(opts)
  if type(opts) ~= "table" then error("explain.run: options table expected", 3) end
  local o = {}
  for k, v in pairs(explain.defaults) do o[k] = v end
  for k, v in pairs(opts) do
    if explain.defaults[k] == nil and not NIL_DEFAULT[k] then
      error("explain.run: unknown option '" .. tostring(k) .. "'", 3)
    end
    o[k] = v
  end
  if type(o.model) ~= "string" then error("explain.run: option 'model' (a model folder) is required", 3) end
  for _, k in ipairs{"n", "k", "sufficiency_k", "examples", "recon_grid", "batch", "seed"} do
    if math.type(o[k]) ~= "integer" or o[k] < 1 then
      error(string.format("explain.run: option '%s' must be a positive integer, got %s", k, tostring(o[k])), 3)
    end
  end
  if o.n < 2 then error("explain.run: option 'n' must be at least 2", 3) end
  if o.screen and (o.policy ~= "subset" or o.unstable_filter or o.discriminator_filter) then
    error("explain.run: option 'screen' certifies subset selection only, without the unstable and " ..
      "discriminator filters (they read the whole table)", 3)
  end
  if type(o.sufficiency_strengths) ~= "table" or #o.sufficiency_strengths == 0 then
    error("explain.run: option 'sufficiency_strengths' must be a non-empty list of numbers", 3)
  end
  return o
end

-- Runs the pipeline and writes the report into opts.out. Returns the doc
-- table given to report.write (tensors included).
function explain.run(opts)
  opts = check_opts(opts)
  local t_start = cli.now()
  local model_path = opts.model .. "/stylex.safetensors"
  if not file_exists(model_path) then error("explain.run: no model at " .. model_path, 2) end
  local G, E, meta = evaluate.load_model(model_path)
  local C, cmeta = classifier.load(meta.classifier)
  for _, p in ipairs(C:parameters()) do p:requires_grad(false) end
  local class_names = cjson.decode(meta.class_names or cmeta.class_names)
  local K = #class_names
  local gcfg = G:config()
  local ds = opts.dataset
  if not ds and opts.data then
    ds = data.image_folder{dir = opts.data.dir, labels = opts.data.labels, size = gcfg.resolution,
      channels = gcfg.img_channels, classes = data.label_map_of(meta.data and meta or cmeta, class_names)}
  elseif not ds and meta.data then
    ds = classifier.test_set(meta, gcfg.resolution, gcfg.img_channels) -- the folder the model was trained on
  elseif not ds then
    ds = classifier.test_set(cmeta)
  end
  local n = math.min(opts.n, ds:size())
  say(opts, "model %s (step %s), classifier %s, %d held-out images of %s", model_path, meta.step, meta.classifier, n,
    ds.name or "the test split")

  local acc = classifier.evaluate(C, ds)
  local idx = {}
  for i = 1, n do idx[i] = i end
  local x = ds:batch(idx)
  local ids = string.format("%s:1-%d", ds.name or "data", n)

  local doc = {
    title = "stylex explanation: " .. (opts.model:match("([^/]+)/*$") or opts.model),
    generated = os.date("!%Y-%m-%d %H:%M UTC"),
    command = opts.command,
    classifier = {path = meta.classifier, accuracy = acc, n_test = ds:size(), class_names = class_names},
    model = {path = model_path, step = math.tointeger(tonumber(meta.step)),
             eval = meta.eval and cjson.decode(meta.eval) or nil,
             class_direction = class_direction(G, K, opts.sufficiency_k)},
  }
  say(opts, "classifier test accuracy %.4f on %d images", acc, ds:size())
  sx.manual_seed(opts.seed) -- the reconstructions' noise, whatever ran before
  doc.reconstruction = reconstruction(G, E, C, x, opts.recon_grid)
  say(opts, "reconstructions: l1 %.4f, perceptual %.4f, agreement %.4f", doc.reconstruction.l1,
    doc.reconstruction.perceptual, doc.reconstruction.agreement)

  -- StylEx: the table, the attributes, sufficiency
  local tab, timing = explain.effect_table("stylex", G, E, C, x, ids, opts)
  local labels = attfind.labels(tab)
  local nets = {G = G, C = C, D = discriminator_of(model_path, opts)}
  local shown, unstable, refused = explain.select(tab, opts, opts.k, nets)
  local for_suff = explain.select(tab, opts, opts.sufficiency_k, nets)
  local sweep = sufficiency(G, C, tab, for_suff, opts)
  local suff = sweep[1]
  doc.attfind = {n_images = n, n_coords = tab.styles:shape()[2], policy = type(opts.policy) == "string" and
    opts.policy or "custom", space = opts.space, k = opts.k,
    max_image_effect = opts.policy == "subset" and (opts.max_image_effect or (opts.space == "prob" and 0.2 or 1.0)) or nil,
    max_corr = opts.policy == "subset" and opts.max_corr or nil,
    unstable_images = opts.unstable_filter and #unstable or nil,
    discriminator_refused = opts.discriminator_filter and refused or nil,
    discriminator_threshold = opts.discriminator_filter and opts.discriminator_threshold or nil,
    seconds = timing.seconds, passes = timing.passes, passes_per_s = timing.passes_per_s, cached = timing.cached,
    screened = tab.screen and {columns = tab.screen.columns, passes = tab.screen.passes,
      full_passes = tab.screen.full_passes, certified = tab.screen.certified, quantile = tab.screen.quantile,
      safety = tab.screen.safety} or nil}
  doc.sufficiency = {stylex = suff.share, k = opts.sufficiency_k, n = suff.n, strength = suff.strength,
    by_strength = {}, per_class = {}}
  for i, r in ipairs(sweep) do
    doc.sufficiency.by_strength[i] = {strength = r.strength, stylex = r.share}
    say(opts, "StylEx sufficiency (top-%d, strength %g): %.4f (%d of %d)", opts.sufficiency_k, r.strength,
      r.share or 0, r.flipped, r.n)
  end
  for c = 0, K - 1 do
    local pc = suff.per_class[c + 1]
    doc.sufficiency.per_class[c + 1] = {class = c, name = class_names[c + 1], stylex = pc.share, n = pc.n}
  end

  -- the StyleSpace baseline, if shipped
  local base_path = opts.model .. "/baseline.safetensors"
  if opts.baseline and file_exists(base_path) then
    local Gb, Eb, bmeta = evaluate.load_model(base_path)
    local btab = explain.effect_table("baseline", Gb, Eb, C, x, ids, opts)
    local bnets = {G = Gb, C = C, D = discriminator_of(base_path, opts)}
    local bsweep = sufficiency(Gb, C, btab, explain.select(btab, opts, opts.sufficiency_k, bnets), opts)
    local bsuff = bsweep[1]
    doc.model.baseline_path, doc.model.baseline_step = base_path, math.tointeger(tonumber(bmeta.step))
    doc.sufficiency.baseline = bsuff.share
    doc.sufficiency.baseline_n = bsuff.n
    for i, r in ipairs(bsweep) do
      doc.sufficiency.by_strength[i].baseline = r.share
      say(opts, "baseline sufficiency (top-%d, strength %g): %.4f (%d of %d)", opts.sufficiency_k, r.strength,
        r.share or 0, r.flipped, r.n)
    end
    for c = 0, K - 1 do doc.sufficiency.per_class[c + 1].baseline = bsuff.per_class[c + 1].share end
  end

  -- the ground truth, for a model of the shapes benchmark
  local oracles_path = opts.model .. "/oracles.safetensors"
  if opts.ground_truth and cmeta.dataset == "shapes" and ds.factors and file_exists(oracles_path) then
    local benchmark = require "stylex.benchmark"
    local t0 = cli.now()
    doc.ground_truth = ground_truth(G, E, C, benchmark.load_oracles(oracles_path), tab, shown, ds, opts.k)
    say(opts, "ground truth: the classifier uses %s; recall %.3f, precision %.3f, purity %.3f (%.1f s)",
      table.concat(doc.ground_truth.used, ", "), doc.ground_truth.recall, doc.ground_truth.precision,
      doc.ground_truth.purity, cli.now() - t0)
  end

  -- per class: attribute table, strips, the combined row
  doc.classes = {}
  for c = 0, K - 1 do
    local ex = examples_for(labels, c, opts.examples)
    local entry = {class = c, name = class_names[c + 1], attributes = {}}
    local effects = {}
    for r, a in ipairs(shown[c + 1]) do
      local st = attribute_stats(G, C, tab, a, labels, opts.batch)
      -- the largest correlation of its per-image class effect with one of an
      -- attribute ranked above it (JSON null for the first)
      effects[r] = st.class_effect
      local corr = nil
      for q = 1, r - 1 do corr = math.max(corr or -1, util.correlation(effects[r], effects[q]) or 0) end
      local rows = {}
      for e = 1, math.min(opts.examples, #st.changed) do
        rows[e] = strip_row(G, C, tab, {a}, st.changed[e], c, labels, opts.strengths)
      end
      entry.attributes[r] = {rank = r, coord = a.coord, layer_name = a.layer_name, channel = a.channel,
        direction = a.direction, score = a.score, flips = st.flips, n_other = st.n_other,
        flip_share = st.flip_share, flip_share_t2 = st.flip_share_t2, max_corr_above = corr or cjson.null,
        mean_effect = st.mean_effect, strip = {strengths = opts.strengths, rows = rows}}
    end
    local top = {}
    for i = 1, math.min(opts.sufficiency_k, #for_suff[c + 1]) do top[i] = for_suff[c + 1][i] end
    if #top > 0 then
      local rows = {}
      for e, i in ipairs(ex) do rows[e] = strip_row(G, C, tab, top, i, c, labels, opts.strengths) end
      entry.combined = {k = #top, strengths = opts.strengths, rows = rows}
    end
    doc.classes[c + 1] = entry
    say(opts, "class %d (%s): %d attributes", c, class_names[c + 1], #entry.attributes)
  end

  doc.seconds = cli.now() - t_start
  local ok, err = true, nil
  if sx.dist.rank() == 0 then ok, err = report.write(opts.out, doc) end
  if not ok then error("explain.run: " .. tostring(err), 2) end
  say(opts, "wrote %s/index.html and %s/report.json in %.1f s", opts.out, opts.out, doc.seconds)
  return doc
end

return explain
