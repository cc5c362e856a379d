-- stylex.benchmark — the shapes benchmark's yardstick (docs/ground-truth.md):
-- what a classifier really uses, found by intervening on the renderer, and
-- the scores of a list of attributes against it.
--
--   benchmark.move(name, v)                 the value factor `name` is moved to
--   benchmark.moved_rows(rows, k)           the factor rows with factor k moved, all else equal
--   benchmark.factor_effects(C, factors)    {name = share of images whose decision flips}
--   benchmark.reading_change(name, a, b)    one factor's change between two oracle readings
--   benchmark.factors_used(effects, 0.10)   sorted names with a share >= the threshold
--   benchmark.score(attributes, used, opts) recall@k, precision@k, purity, shortcut rank
--   benchmark.score_classes(lists, used)    the same over one ranked list per class
--   benchmark.reading_weights(fidelity)     how far each factor's reading is trusted on a model's images
--   benchmark.measure_attribute(G, C, O, tab, attr)  an attribute's factor changes and flips
--   benchmark.null_control(G, C, O, tab)    random coordinates measured like attributes
--   benchmark.marker_heat_share(C, ds)      Grad-CAM's heat on the marker
--   benchmark.reconstruction_fidelity(G, E, C, O, ds)  the oracles' quality on reconstructions
local sx = require "stylex"
local data = require "stylex.data"

local benchmark = {}

benchmark.USED_THRESHOLD = 0.10
benchmark.SHORTCUT = "marker"

-- One intervention per factor, all else equal: a continuous factor is
-- reflected about its range's centre (size and brightness thus always cross
-- their label thresholds, which sit at the centres), a two-valued one toggles,
-- shape goes to the next shape, the texture to another seed.
function benchmark.move(name, v)
  local r = sx.shapes.ranges[name]
  if not r then error("benchmark.move: unknown factor '" .. tostring(name) .. "'", 2) end
  if name == "shape" then return (v + 1) % 3 end
  if name == "texture" then return (v + 8388608) % 16777216 end
  if r.discrete then return r.hi - v + r.lo end
  return r.lo + r.hi - v
end

-- Predicted classes (1-based table) of images [N, 1, 32, 32] in [-1, 1].
local function predict(C, images, batch)
  local out, n = {}, images:shape()[1]
  for i = 1, n, batch do
    local m = math.min(batch, n - i + 1)
    local logits = C:classify(images:narrow(1, i, m))
    for _, p in ipairs(logits:argmax(2):totable()) do out[#out + 1] = p end
  end
  return out
end

-- For each factor, the share of the images (factors [N, F]) whose predicted
-- class changes when that factor alone is moved (benchmark.move).
-- The intervention: a copy of the factor rows (tables) with factor k
-- (1-based, in sx.shapes.factors order) moved by benchmark.move, all else equal.
function benchmark.moved_rows(rows, k)
  local name, moved = sx.shapes.factors[k], {}
  for i, r in ipairs(rows) do
    local m = {table.unpack(r)}
    m[k] = benchmark.move(name, m[k])
    moved[i] = m
  end
  return moved
end

function benchmark.factor_effects(C, factors, opts)
  opts = opts or {}
  local batch = opts.batch or 200
  local rows = factors:totable()
  local base = predict(C, sx.shapes.render(factors) * 2 - 1, batch)
  local effects = {}
  for k, name in ipairs(sx.shapes.factors) do
    local pred = predict(C, sx.shapes.render(sx.tensor(benchmark.moved_rows(rows, k))) * 2 - 1, batch)
    local flips = 0
    for i = 1, #rows do if pred[i] ~= base[i] then flips = flips + 1 end end
    effects[name] = flips / #rows
  end
  return effects
end

function benchmark.factors_used(effects, threshold)
  threshold = threshold or benchmark.USED_THRESHOLD
  local used = {}
  for _, name in ipairs(sx.shapes.factors) do
    if (effects[name] or 0) >= threshold then used[#used + 1] = name end
  end
  return used
end

-- Recall, precision and purity of a list of scored attributes ({dominant,
-- purity}, the top k of one or several lists) against the factors `used`.
local function summarize(top, used)
  local is_used, dominated, precise, purity_sum = {}, {}, 0, 0
  for _, f in ipairs(used) do is_used[f] = true end
  for _, a in ipairs(top) do
    purity_sum = purity_sum + a.purity
    if a.dominant and is_used[a.dominant] then precise, dominated[a.dominant] = precise + 1, true end
  end
  local recalled = 0
  for _, f in ipairs(used) do if dominated[f] then recalled = recalled + 1 end end
  local n = #top
  return #used > 0 and recalled / #used or 0, n > 0 and precise / n or 0, n > 0 and purity_sum / n or 0
end

-- Scores a ranked list of attributes. Each attribute carries `changes`, a
-- table factor name -> mean absolute change of that factor along the
-- attribute's counterfactuals (oracle units divided by the factor's range),
-- and optionally `single_flip`. `used` lists the factors the classifier uses.
--   per attribute: dominant (the factor of largest change), purity (its share
--     of the total change; 0 when nothing changes)
--   recall: share of `used` that dominate at least one of the top k
--   precision: share of the top k dominated by a used factor
--   purity: mean purity of the top k
--   shortcut_rank: 1-based rank of the first attribute dominated by the
--     shortcut factor, or nil
function benchmark.score(attributes, used, opts)
  opts = opts or {}
  local k = math.min(opts.k or 8, #attributes)
  local shortcut = opts.shortcut or benchmark.SHORTCUT
  local per, shortcut_rank = {}, nil
  for a, attr in ipairs(attributes) do
    local best, best_v, total = nil, -1, 0
    for _, f in ipairs(sx.shapes.factors) do
      local v = attr.changes[f] or 0
      if v < 0 then error("benchmark.score: attribute " .. a .. ": negative change for " .. f, 2) end
      total = total + v
      if v > best_v then best, best_v = f, v end
    end
    if total == 0 then best = nil end
    per[a] = {dominant = best, purity = total > 0 and best_v / total or 0, single_flip = attr.single_flip}
    if best == shortcut and not shortcut_rank then shortcut_rank = a end
  end
  local recall, precision, purity = summarize(table.move(per, 1, k, 1, {}), used)
  return {k = k, recall = recall, precision = precision, purity = purity, shortcut_rank = shortcut_rank,
    attributes = per}
end

-- Scores one ranked list of attributes per class (each as for
-- benchmark.score) together: recall is the share of `used` that dominate at
-- least one top-k attribute of any class, precision and purity are over all
-- the classes' top-k attributes, shortcut_rank is the best rank any class
-- gives a shortcut-dominated attribute (nil if none). per_class holds each
-- list's own benchmark.score.
function benchmark.score_classes(lists, used, opts)
  opts = opts or {}
  local per_class, top, shortcut_rank = {}, {}, nil
  for c, list in ipairs(lists) do
    local s = benchmark.score(list, used, opts)
    per_class[c] = s
    table.move(s.attributes, 1, s.k, #top + 1, top)
    if s.shortcut_rank and (not shortcut_rank or s.shortcut_rank < shortcut_rank) then shortcut_rank = s.shortcut_rank end
  end
  local recall, precision, purity = summarize(top, used)
  return {k = opts.k or 8, recall = recall, precision = precision, purity = purity, shortcut_rank = shortcut_rank,
    per_class = per_class}
end

-- How far each factor's oracle reading can be trusted on a model's images,
-- from benchmark.reconstruction_fidelity: R^2 clipped to [0, 1] for a
-- continuous factor, accuracy above chance for a discrete one,
-- (acc - 1/classes) / (1 - 1/classes) clipped to [0, 1]. A factor the
-- oracles read at chance on the reconstructions weighs 0: a change of its
-- reading says nothing about the image.
function benchmark.reading_weights(fidelity)
  local classes = {}
  for _, d in ipairs(benchmark.ORACLE_DISCRETE) do classes[d.name] = d.classes end
  local w = {}
  for name, q in pairs(fidelity) do
    local v = q.r2 or (q.accuracy - 1 / classes[name]) / (1 - 1 / classes[name])
    w[name] = math.max(0, math.min(1, v))
  end
  return w
end

-- Measures (benchmark.measure_attribute) and scores (benchmark.score_classes)
-- the attributes per class of an effect table, as attfind.per_class gives
-- them, against the factors `used`; k attributes per class count.
--   opts: weights = {factor = w} (benchmark.reading_weights): the lists are
--         scored a second time with every change multiplied by its factor's
--         weight (factors without a weight count 0), as `weighted`
-- Returns the score with `attributes`, one row per attribute, class by class
-- and best first: {class, rank, coord, layer_name, channel, direction,
-- changes, dominant, purity, single_flip = {t1, t2}, n, and with weights
-- dominant_weighted, purity_weighted}; with weights also `weighted`
-- {recall, precision, purity, shortcut_rank}.
function benchmark.score_attributes(G, C, O, tab, per_class, used, k, opts)
  local weights = opts and opts.weights
  local lists, lists_w, rows = {}, {}, {}
  for c, list in ipairs(per_class) do
    lists[c], lists_w[c] = {}, {}
    for r, a in ipairs(list) do
      local m = benchmark.measure_attribute(G, C, O, tab, a)
      lists[c][r] = {changes = m.changes, single_flip = m.single_flip}
      if weights then
        local cw = {}
        for f, v in pairs(m.changes) do cw[f] = v * (weights[f] or 0) end
        lists_w[c][r] = {changes = cw, single_flip = m.single_flip}
      end
      rows[#rows + 1] = {class = a.class, rank = r, coord = a.coord, layer_name = a.layer_name, channel = a.channel,
        direction = a.direction, changes = m.changes, single_flip = m.single_flip, n = m.n, list = c}
    end
  end
  local s = benchmark.score_classes(lists, used, {k = k})
  local sw = weights and benchmark.score_classes(lists_w, used, {k = k})
  for _, row in ipairs(rows) do
    local a = s.per_class[row.list].attributes[row.rank]
    row.dominant, row.purity = a.dominant, a.purity
    if sw then
      local b = sw.per_class[row.list].attributes[row.rank]
      row.dominant_weighted, row.purity_weighted = b.dominant, b.purity
    end
    row.list = nil
  end
  s.attributes = rows
  if sw then
    s.weighted = {recall = sw.recall, precision = sw.precision, purity = sw.purity, shortcut_rank = sw.shortcut_rank}
  end
  return s
end

-- The marker's region for Grad-CAM: its 3x3 pixels (rows and columns 1-3,
-- 0-based) with a margin of one pixel, rows and columns 0-4.
benchmark.MARKER_REGION = {first = 0, last = 4}

-- Grad-CAM (stylex.gradcam, the classifier's last block) on the images of ds
-- that carry the marker: per image the share of the map's total heat inside
-- benchmark.MARKER_REGION for the class C predicts, averaged over images
-- whose map is not zero everywhere. Returns {share =, area = the region's
-- share of the image (what heat spread evenly would give), n =}.
function benchmark.marker_heat_share(C, ds, opts)
  opts = opts or {}
  local gradcam = require "stylex.gradcam"
  local col
  for k, v in ipairs(ds.factor_names or {}) do if v == benchmark.SHORTCUT then col = k end end
  if not col then error("benchmark.marker_heat_share: the data set has no marker factor", 2) end
  local idx = {}
  for i, r in ipairs(ds.factors:totable()) do
    if r[col] > 0.5 and #idx < (opts.n or math.huge) then idx[#idx + 1] = i end
  end
  local R = ds.resolution
  local lo, hi = benchmark.MARKER_REGION.first + 1, benchmark.MARKER_REGION.last + 1
  local side = hi - lo + 1
  local sum, counted, batch = 0, 0, opts.batch or 100
  for first = 1, #idx, batch do
    local x = ds:batch(table.move(idx, first, math.min(first + batch - 1, #idx), 1, {}))
    local pred = sx.no_grad(function() return C:logits(x):argmax(2):totable() end)
    local maps = gradcam.maps(C, x, pred)
    local m = x:shape()[1]
    local total = maps:reshape{m, R * R}:sum(2):totable()
    local inside = maps:narrow(3, lo, side):narrow(4, lo, side):reshape{m, side * side}:sum(2):totable()
    for i = 1, m do
      if total[i] > 0 then sum, counted = sum + inside[i] / total[i], counted + 1 end
    end
  end
  return {share = counted > 0 and sum / counted or 0, area = side * side / (R * R), n = counted}
end

-- C's accuracy on held-out images of the correlated (training-like) split
-- and on the balanced test split. The correlated images come from seed 1001,
-- a stream no shipped training run uses.
function benchmark.accuracies(C, opts)
  opts = opts or {}
  local classifier = require "stylex.classifier"
  local correlated = classifier.evaluate(C, data.shapes{split = "train", n = opts.n or 2000, seed = 1001})
  local balanced = classifier.evaluate(C, data.shapes{split = "test", n = opts.n or 2000, seed = opts.seed or 1})
  return correlated, balanced
end

-- ---------------------------------------------------------------- oracles
-- One network (the library's CNN classifier with 12 outputs) reads every
-- readable factor back from an image: the continuous ones as regressions onto
-- [0, 1] (outputs 1-5), stripes, shape and marker as classifications (6-7,
-- 8-10, 11-12). Rotation (invisible on a plain circle) and the texture seed
-- are nuisances with no oracle.
benchmark.ORACLE_CONTINUOUS = {"size", "brightness", "squash", "pos_x", "pos_y"}
benchmark.ORACLE_DISCRETE = {{name = "stripes", classes = 2}, {name = "shape", classes = 3},
                             {name = "marker", classes = 2}}
benchmark.ORACLE_OUTPUTS = 12

local function column(name)
  for k, v in ipairs(sx.shapes.factors) do if v == name then return k end end
end

-- Targets of a data set's factors [N, F]: continuous ones scaled to [0, 1]
-- ([N, 5]) and the class index of each discrete one (a list of [N] tensors).
function benchmark.oracle_targets(factors)
  local rows = factors:totable()
  local cont, disc = {}, {}
  for j = 1, #benchmark.ORACLE_DISCRETE do disc[j] = {} end
  for i, r in ipairs(rows) do
    local c = {}
    for j, name in ipairs(benchmark.ORACLE_CONTINUOUS) do
      local rg = sx.shapes.ranges[name]
      c[j] = (r[column(name)] - rg.lo) / (rg.hi - rg.lo)
    end
    cont[i] = c
    for j, d in ipairs(benchmark.ORACLE_DISCRETE) do disc[j][i] = r[column(d.name)] end
  end
  local disc_t = {}
  for j = 1, #disc do disc_t[j] = sx.tensor(disc[j]) end
  return sx.tensor(cont), disc_t
end

-- The oracle's loss on outputs [N, 12]: mean squared error of the continuous
-- readings plus the cross-entropy of each discrete one.
function benchmark.oracle_loss(out, cont, disc)
  local loss = sx.mse_loss(out:narrow(2, 1, 5), cont)
  local at = 6
  for j, d in ipairs(benchmark.ORACLE_DISCRETE) do
    loss = loss + sx.cross_entropy(out:narrow(2, at, d.classes), disc[j])
    at = at + d.classes
  end
  return loss
end

-- The oracles of scripts/train_oracles.lua: the network and its metadata.
function benchmark.load_oracles(path)
  local cjson = require "cjson"
  local tensors, meta = sx.load(path)
  if not tensors then error("benchmark.load_oracles: " .. tostring(meta), 2) end
  if not meta or meta.format ~= "stylex-oracles-1" or not meta.config then
    error("benchmark.load_oracles: " .. path .. " is not a stylex oracles file (scripts/train_oracles.lua)", 2)
  end
  local O = sx.models.Classifier(cjson.decode(meta.config))
  O:load_state_dict(tensors)
  return O, meta
end

-- How much factor `name` changed between two oracle readings: for a
-- discrete factor 1 if the reading differs, else 0; for a continuous one
-- |a - b| divided by the factor's range.
function benchmark.reading_change(name, a, b)
  local rg = sx.shapes.ranges[name]
  if rg.discrete then return a ~= b and 1 or 0 end
  return math.abs(a - b) / (rg.hi - rg.lo)
end

-- Reads the factors of images [N, 1, 32, 32] in [-1, 1]: a list of N tables
-- name -> value in the factor's own units (discrete ones as class indices).
function benchmark.read_factors(O, images, batch)
  batch = batch or 200
  local out, n = {}, images:shape()[1]
  for i = 1, n, batch do
    local m = math.min(batch, n - i + 1)
    local o = O:classify(images:narrow(1, i, m)):totable()
    for _, row in ipairs(o) do
      local r = {}
      for j, name in ipairs(benchmark.ORACLE_CONTINUOUS) do
        local rg = sx.shapes.ranges[name]
        r[name] = rg.lo + row[j] * (rg.hi - rg.lo)
      end
      local at = 6
      for _, d in ipairs(benchmark.ORACLE_DISCRETE) do
        local best = 0
        for c = 1, d.classes - 1 do if row[at + c] > row[at + best] then best = c end end
        r[d.name] = best
        at = at + d.classes
      end
      out[#out + 1] = r
    end
  end
  return out
end

-- Oracle quality on a data set with known factors: R^2 per continuous factor,
-- accuracy per discrete one, of the readings of `images` (default ds.images;
-- e.g. their reconstructions, see reconstruction_fidelity) against ds.factors.
function benchmark.oracle_quality(O, ds, images)
  local read = benchmark.read_factors(O, images or ds.images)
  local rows = ds.factors:totable()
  if #read ~= #rows then
    error(string.format("benchmark.oracle_quality: %d images for %d rows of factors", #read, #rows), 2)
  end
  local q = {}
  for _, name in ipairs(benchmark.ORACLE_CONTINUOUS) do
    local k, mean, ss_tot, ss_res = column(name), 0, 0, 0
    for _, r in ipairs(rows) do mean = mean + r[k] end
    mean = mean / #rows
    for i, r in ipairs(rows) do
      ss_tot = ss_tot + (r[k] - mean) ^ 2
      ss_res = ss_res + (r[k] - read[i][name]) ^ 2
    end
    q[name] = {r2 = 1 - ss_res / ss_tot}
  end
  for _, d in ipairs(benchmark.ORACLE_DISCRETE) do
    local k, hits = column(d.name), 0
    for i, r in ipairs(rows) do if read[i][d.name] == r[k] then hits = hits + 1 end end
    q[d.name] = {accuracy = hits / #rows}
  end
  return q
end

-- How much of each factor survives the encoder and generator: the oracle
-- quality (R^2 or accuracy against the true factors) of the reconstructions
-- G(E(x), C(x)) of the first n images of ds (a shapes set with factors). An
-- attribute can only be found for a factor the reconstruction keeps; the
-- oracles' own quality on the originals is the ceiling.
--   opts: n = 500, batch = 50
function benchmark.reconstruction_fidelity(G, E, C, O, ds, opts)
  opts = opts or {}
  if not ds.factors then error("benchmark.reconstruction_fidelity: the data set has no factors (shapes)", 2) end
  local n, batch = math.min(opts.n or 500, ds:size()), opts.batch or 50
  local conditional = G:config().n_classes > 0
  local rec = sx.no_grad(function()
    local parts = {}
    for first = 1, n, batch do
      local b = {}
      for i = first, math.min(first + batch - 1, n) do b[#b + 1] = i end
      local x = ds:batch(b)
      local p = conditional and sx.softmax(C:classify(x), 2) or nil
      parts[#parts + 1] = G:synthesis(G:latent(E:encode(x), p))
    end
    return sx.cat(parts, 1)
  end)
  return benchmark.oracle_quality(O, {factors = ds.factors:narrow(1, 1, n)}, rec)
end

-- ---------------------------------------------------------------- attributes

-- Measures one attribute (attfind's {coord, direction, class, ...}) on the
-- effect table's images that C does not assign to attr.class: the oracle's
-- reading of each factor on the regenerated image and on the image with the
-- attribute applied at strength 1, and the share of those images whose
-- decision becomes attr.class at strength 1 and 2.
--   opts: labels (0-based predicted class per image; default argmax of
--         tab.base_logits), batch = 50
-- Returns {changes = {factor = mean |change| / range}, single_flip = {t1, t2}, n =}.
-- A discrete factor's change is the share of images whose reading changes.
function benchmark.measure_attribute(G, C, O, tab, attr, opts)
  opts = opts or {}
  local attfind = require "stylex.attfind"
  local labels = attfind.labels(tab, opts.labels)
  local rows = {}
  for i, l in ipairs(labels) do if l ~= attr.class then rows[#rows + 1] = i end end
  local batch = opts.batch or 50
  local sums, flips, n = {}, {0, 0}, #rows
  for first = 1, n, batch do
    local idx = table.move(rows, first, math.min(first + batch - 1, n), 1, {})
    sx.no_grad(function()
      local base = benchmark.read_factors(O, attfind.apply_attributes(G, tab, {}, {images = idx}))
      for t = 1, 2 do
        local img = attfind.apply_attributes(G, tab, {attr}, {images = idx, strength = t})
        for _, p in ipairs(C:logits(img):argmax(2):totable()) do
          if p == attr.class then flips[t] = flips[t] + 1 end
        end
        if t == 1 then
          local moved = benchmark.read_factors(O, img)
          for r = 1, #idx do
            for name, v in pairs(moved[r]) do
              sums[name] = (sums[name] or 0) + benchmark.reading_change(name, v, base[r][name])
            end
          end
        end
      end
    end)
  end
  local changes = {}
  for name, v in pairs(sums) do changes[name] = v / math.max(n, 1) end
  return {changes = changes, single_flip = {n > 0 and flips[1] / n or 0, n > 0 and flips[2] / n or 0}, n = n}
end

-- The null control of the scores: n random StyleSpace coordinates of the
-- effect table, measured exactly as attributes (measure_attribute),
-- alternately to-min / to-max and toward class 1 / 0. A factor that
-- dominates random moves too is a bias of the oracles' readings, not
-- something the attributes found.
--   opts: n = 16; random = a function(lo, hi) like math.random (the
--         default; scripts seed it); progress = function(i, n)
-- Returns {n =, dominant = {factor = count}, mean_change = {factor = ..}}
-- ("none" counts coordinates with no image of the other class to move).
function benchmark.null_control(G, C, O, tab, opts)
  opts = opts or {}
  local n, random = opts.n or 16, opts.random or math.random
  local S = tab.styles:shape()[2]
  local out = {n = n, dominant = {}, mean_change = {}}
  for i = 1, n do
    local attr = {coord = random(1, S), direction = i % 2 == 0 and "to-max" or "to-min", class = i % 2}
    local m = benchmark.measure_attribute(G, C, O, tab, attr)
    local best, bv = "none", -1
    for f, v in pairs(m.changes) do
      if v > bv then best, bv = f, v end
      out.mean_change[f] = (out.mean_change[f] or 0) + v / n
    end
    out.dominant[best] = (out.dominant[best] or 0) + 1
    if opts.progress then opts.progress(i, n) end
  end
  return out
end

return benchmark
