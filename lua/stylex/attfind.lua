-- stylex.attfind — AttFind (SPEC §1.4): policies that pick the StyleSpace
-- attributes which move the classifier most, over an effect table computed in
-- C (lib/models/attfind.c), Screened AttFind (the picks from a few exact
-- entries; its functions are in stylex.attfind_screen, reached from here as
-- attfind.screened_effects etc.), and the table's save / load.
--
--   local attfind = require "stylex.attfind"
--   local tab = attfind.effects(G, C, latents, {progress = attfind.progress_printer("attfind")})
--   attfind.save("runs/shoes/attfind.safetensors", tab, {model = "models/fmnist-shoes/stylex.safetensors"})
--   local per_class = attfind.per_class(tab, attfind.subset_selection, {k = 8})
--   local scr = attfind.screened_effects(G, C, latents, {noise = noise, k = 10})  -- Screened AttFind:
--   attfind.per_class(scr, "subset", {k = 8})                 -- the same picks, a few % of the passes
--   local imgs = attfind.apply_attributes(G, tab, per_class[2], {images = {1, 2, 3}})
--
-- The effect table `tab` (what attfind.effects = sx.attfind.effects returns,
-- and attfind.load reads back):
--   tab.effect       [N, 2, S, K]  logits(shifted) - logits(base); [i, 1, j, c] is
--                                  coordinate j moved to its minimum, [i, 2, j, c] to its maximum
--   tab.base_logits  [N, K]        the classifier on the regenerated images
--   tab.style_min, tab.style_max [S], tab.styles [N, S], tab.latents [N, D],
--   tab.noise        L tensors, the noise used
--   tab.layers       {{name = "b4.conv1", channels = 128, offset = 1}, ...}
--   tab.meta         (after load) the file's metadata
--   tab.exact, tab.screen  only in a screened table (attfind.screened_effects):
--                    [N, 2, S] 1 where effect is exact, the linear estimate
--                    elsewhere; the screening's options and figures
--
-- An attribute is a table
--   {coord = j, layer = l, channel = ch, layer_name = "b16.conv0",
--    direction = "to-min" | "to-max", score = x, class = c}
-- with coord, layer and channel 1-based (as G:locate), class 0-based (the
-- class whose logit it raises). Extra fields are allowed.
--
-- A POLICY is any Lua function policy(tab, opts) -> list of attributes, best
-- first. opts.class (0-based) is the target class; opts.labels the predicted
-- class of each image (a list or tensor [N] of 0-based ids; default: argmax
-- of tab.base_logits); other options are the policy's own. attfind.per_class
-- runs a policy for every class. subset_selection (the official algorithm)
-- and independent_selection below are two policies; a new one is a function.
local sx = require "stylex"
local cjson = require "cjson"
local util = require "stylex.util"

local attfind = {}

local native = sx.attfind or
  error("stylex.attfind: the stylex module has no sx.attfind (luaopen_stylex must call lsx_open_attfind)")
attfind.effects = native.effects
attfind.apply = native.apply

local FORMAT = "stylex-attfind-1"

-- ---------------------------------------------------------------- helpers

local function shape4(tab, fn)
  if type(tab) ~= "table" or type(tab.effect) ~= "userdata" then
    error(fn .. ": expected an effect table (from attfind.effects or attfind.load)", 3)
  end
  local s = tab.effect:shape()
  if #s ~= 4 or s[2] ~= 2 then
    error(fn .. ": tab.effect must be [N, 2, S, K], got [" .. table.concat(s, ", ") .. "]", 3)
  end
  return s[1], s[3], s[4]
end

local function check_class(fn, c, K)
  if math.type(c) ~= "integer" and not (type(c) == "number" and c == math.floor(c)) then
    error(fn .. ": opts.class must be a 0-based class id, got " .. tostring(c), 3)
  end
  c = math.tointeger(c)
  if c < 0 or c >= K then error(string.format("%s: class %d outside 0..%d", fn, c, K - 1), 3) end
  return c
end

local function check_number(fn, name, v, lo)
  if type(v) ~= "number" or v ~= v or v < lo then
    error(string.format("%s: %s must be a number >= %g, got %s", fn, name, lo, tostring(v)), 3)
  end
  return v
end

local function check_opts(fn, opts, known)
  opts = opts or {}
  if type(opts) ~= "table" then error(fn .. ": options must be a table", 3) end
  for k in pairs(opts) do
    if not known[k] then error(fn .. ": unknown option '" .. tostring(k) .. "'", 3) end
  end
  return opts
end

-- The predicted class of every image: a list of N integers (0-based).
function attfind.labels(tab, labels)
  local N = shape4(tab, "labels")
  if labels == nil then labels = tab.base_logits:argmax(2):totable()
  elseif type(labels) == "userdata" then labels = labels:totable() end
  if type(labels) ~= "table" or #labels ~= N then
    error(string.format("labels: expected %d class ids, got %s", N,
      type(labels) == "table" and tostring(#labels) or type(labels)), 2)
  end
  local out = {}
  for i = 1, N do out[i] = math.tointeger(labels[i]) or error("labels: entry " .. i .. " is not a class id", 2) end
  return out
end

-- Layer (1-based), channel (1-based) and layer name of flat coordinate j.
function attfind.locate(tab, j)
  local layers = tab.layers or error("locate: the table has no layer layout (tab.layers)", 2)
  for l = #layers, 1, -1 do
    local ly = layers[l]
    if j >= ly.offset then
      if j >= ly.offset + ly.channels then break end
      return l, j - ly.offset + 1, ly.name
    end
  end
  error("locate: coordinate " .. tostring(j) .. " is outside the layout", 2)
end

-- The attribute of column col (1..2S) of a class matrix.
local function attribute(tab, S, col, score, c)
  local to_max = col > S
  local coord = to_max and col - S or col
  local layer, channel, name = attfind.locate(tab, coord)
  return {coord = coord, layer = layer, channel = channel, layer_name = name,
          direction = to_max and "to-max" or "to-min", score = score, class = c}
end

-- The space a policy reads the table in. The table holds logit changes;
-- "prob" turns them into changes of the class probability, softmax(base +
-- effect) - softmax(base), as the official AttFind code measures effects (its
-- max_image_effect 0.2 and thresholds are probabilities). With a classifier
-- whose logits can move together (any softmax classifier), a raw logit change
-- need not move the decision: on the shipped fmnist-shoes model the logit
-- space picked attributes that flip 3% of the images, the probability space
-- 18% (docs/method.md#attfind).
local SPACES = {prob = true, logit = true}
local function check_space(fn, space)
  space = space or "prob"
  if not SPACES[space] then error(fn .. ": space must be 'prob' or 'logit', got " .. tostring(space), 3) end
  return space
end

-- E = max(0, effect on class c) of the images `rows`, in `space`, as a Lua
-- matrix [#rows][2S]: columns 1..S are the to-min shifts of coordinates
-- 1..S, S+1..2S the to-max ones.
local function class_matrix(tab, c, rows, space)
  local N, S, K = shape4(tab, "class_matrix")
  if #rows == 0 then return {} end
  local effect, base = tab.effect, tab.base_logits
  if #rows < N then effect, base = effect:index_select(1, rows), base:index_select(1, rows) end
  local n = #rows
  local e
  if space == "prob" then
    local shifted = sx.softmax((effect + base:reshape{n, 1, 1, K}):reshape{n * 2 * S, K}, 2)
    local p0 = sx.softmax(base, 2):narrow(2, c + 1, 1):reshape{n, 1}
    e = shifted:narrow(2, c + 1, 1):reshape{n, 2 * S} - p0
  else
    e = effect:narrow(4, c + 1, 1):contiguous():reshape{n, 2 * S}
  end
  return e:relu():totable()
end

-- Images (1-based) whose label is not c.
local function other_images(labels, c)
  local rows = {}
  for i, y in ipairs(labels) do if y ~= c then rows[#rows + 1] = i end end
  return rows
end

-- The checks and helpers stylex.attfind_screen shares with this module (not
-- part of the API: the screened functions are reached as attfind.NAME).
attfind._shared = {check_opts = check_opts, check_number = check_number, check_space = check_space,
  other_images = other_images}

-- ---------------------------------------------------------------- filters

-- The official unstable-image filter: an image on which more than max_share
-- of all its table entries (both directions, every coordinate, every class)
-- change a class probability by more than `threshold` is one the generator
-- renders unstably; its effects are zeroed, so no policy counts it. The
-- official code zeroes images with more than 750 of 24,192 such entries
-- (2 x 6,048 coordinates x 2 classes), a share of 0.031, at threshold 0.3.
-- Returns a new table (sharing everything but tab.effect) and the list of
-- the images zeroed (1-based).
--   opts: threshold = 0.3, max_share = 750 / 24192
function attfind.filter_unstable(tab, opts)
  local fn = "filter_unstable"
  opts = check_opts(fn, opts, {threshold = true, max_share = true})
  local N, S, K = shape4(tab, fn)
  if tab.screen then error(fn .. ": needs the exact effect table (this one is screened: most entries are estimates)", 2) end
  local threshold = check_number(fn, "threshold", opts.threshold or 0.3, 0)
  local max_share = check_number(fn, "max_share", opts.max_share or 750 / 24192, 0)
  local shifted = sx.softmax((tab.effect + tab.base_logits:reshape{N, 1, 1, K}):reshape{N * 2 * S, K}, 2)
  local dp = (shifted:reshape{N, 2 * S, K} - sx.softmax(tab.base_logits, 2):reshape{N, 1, K})
    :abs():reshape{N, 2 * S * K}:totable()
  local keep, removed = {}, {}
  for i = 1, N do
    local count = 0
    for _, v in ipairs(dp[i]) do if v > threshold then count = count + 1 end end
    if count > max_share * 2 * S * K then removed[#removed + 1] = i; keep[i] = 0 else keep[i] = 1 end
  end
  local out = {}
  for key, v in pairs(tab) do out[key] = v end
  if #removed > 0 then out.effect = tab.effect * sx.tensor(keep):reshape{N, 1, 1, 1} end
  return out, removed
end

-- ---------------------------------------------------------------- policies

-- The official AttFind subset selection, for target class c, on the images
-- whose predicted class is not c: E = max(0, effect on class c) (opts.space) flattened to
-- [N', 2S]; k times, pick the column with the largest mean over the images
-- whose accumulated effect is still below max_image_effect, add that column
-- to every image's accumulated effect, zero the column. Ties go to the lower
-- column (to-min before to-max, then lower coordinates), as numpy's argmax.
-- score = that mean. Once no image is below max_image_effect any more (the
-- official code would then average an empty set), the remaining picks
-- average over all the images, so a table still gets k attributes; a.images
-- is the number of images averaged over. The selection ends early (fewer
-- than k) only when the best mean is 0: nothing left raises the class.
-- With max_corr (not in the official code), a column whose change of the
-- class logit over all the table's images correlates (Pearson) above
-- max_corr with that of a column already picked is passed over and zeroed,
-- so no two picks are pieces of one direction (the report's max_corr_above
-- is this correlation). With accept, a function(attribute) -> boolean, a
-- column it refuses is passed over and zeroed the same way (the official
-- code's discriminator filter is one: attfind.discriminator_check).
-- a.passed_over counts the columns skipped before it.
--   opts: class (required), labels, k = 8, space = "prob" | "logit",
--         max_image_effect = 0.2 (prob) or 1.0 (logit), max_corr = nil (off),
--         accept = nil
function attfind.subset_selection(tab, opts)
  local fn = "subset_selection"
  opts = check_opts(fn, opts, {class = true, labels = true, k = true, max_image_effect = true, space = true,
    max_corr = true, accept = true})
  if opts.accept ~= nil and type(opts.accept) ~= "function" then
    error(fn .. ": opts.accept must be a function(attribute) -> boolean", 2)
  end
  local N, S, K = shape4(tab, fn)
  local c = check_class(fn, opts.class, K)
  local k = check_number(fn, "k", opts.k or 8, 0)
  local space = check_space(fn, opts.space)
  local cap = check_number(fn, "max_image_effect", opts.max_image_effect or (space == "prob" and 0.2 or 1.0), 0)
  local max_corr = opts.max_corr ~= nil and check_number(fn, "max_corr", opts.max_corr, -1) or nil
  local rows = other_images(attfind.labels(tab, opts.labels), c)
  local E = class_matrix(tab, c, rows, space)
  local n, W = #E, 2 * S
  -- the class-logit change of each column over all N images, for max_corr
  local column_effect
  if max_corr then
    local L = tab.effect:narrow(4, c + 1, 1):contiguous():reshape{N, W}:transpose(1, 2):contiguous():totable()
    column_effect = function(col) return L[col] end
  end
  local picked, passed = {}, 0
  local acc = {}
  for i = 1, n do acc[i] = 0 end
  local out = {}
  while #out < k do
    local sums, active = {}, 0
    for col = 1, W do sums[col] = 0 end
    local saturated = true
    for i = 1, n do if acc[i] < cap then saturated = false end end
    for i = 1, n do
      if saturated or acc[i] < cap then
        active = active + 1
        local r = E[i]
        for col = 1, W do sums[col] = sums[col] + r[col] end
      end
    end
    if active == 0 then break end
    local best, best_sum = 1, sums[1]
    for col = 2, W do if sums[col] > best_sum then best, best_sum = col, sums[col] end end
    if best_sum <= 0 then break end
    local too_close = false
    if max_corr then
      local v = column_effect(best)
      for _, q in ipairs(picked) do
        if (util.correlation(v, column_effect(q)) or 0) > max_corr then too_close = true; break end
      end
    end
    local a = attribute(tab, S, best, best_sum / active, c)
    a.images = active
    if too_close or (opts.accept and not opts.accept(a)) then
      passed = passed + 1
      for i = 1, n do E[i][best] = 0 end
    else
      if max_corr or opts.accept then a.passed_over = passed end
      out[#out + 1] = a
      picked[#picked + 1] = best
      for i = 1, n do
        acc[i] = acc[i] + E[i][best]
        E[i][best] = 0
      end
    end
  end
  return out
end

-- The independent variant: on the same images, rank columns by the number of
-- images whose effect on class c is above `threshold`; keep them while that
-- count is at least min_share of the images (and above 0), at most k if given.
-- Ties: larger mean effect first, then the lower column. score = the share.
--   opts: class (required), labels, threshold = 0.2, min_share = 0.03, k = nil,
--         space = "prob" | "logit"
function attfind.independent_selection(tab, opts)
  local fn = "independent_selection"
  opts = check_opts(fn, opts, {class = true, labels = true, threshold = true, min_share = true, k = true,
    space = true})
  local _, S, K = shape4(tab, fn)
  local c = check_class(fn, opts.class, K)
  local space = check_space(fn, opts.space)
  local threshold = check_number(fn, "threshold", opts.threshold or 0.2, 0)
  local min_share = check_number(fn, "min_share", opts.min_share or 0.03, 0)
  if opts.k ~= nil then check_number(fn, "k", opts.k, 0) end
  local rows = other_images(attfind.labels(tab, opts.labels), c)
  local E = class_matrix(tab, c, rows, space)
  local n, W = #E, 2 * S
  if n == 0 then return {} end
  local count, sum, cols = {}, {}, {}
  for col = 1, W do count[col], sum[col], cols[col] = 0, 0, col end
  for i = 1, n do
    local r = E[i]
    for col = 1, W do
      local v = r[col]
      if v > threshold then count[col] = count[col] + 1 end
      sum[col] = sum[col] + v
    end
  end
  table.sort(cols, function(a, b)
    if count[a] ~= count[b] then return count[a] > count[b] end
    if sum[a] ~= sum[b] then return sum[a] > sum[b] end
    return a < b
  end)
  local out = {}
  for _, col in ipairs(cols) do
    if (opts.k and #out >= opts.k) or count[col] == 0 or count[col] < min_share * n then break end
    local a = attribute(tab, S, col, count[col] / n, c)
    a.count, a.mean = count[col], sum[col] / n
    out[#out + 1] = a
  end
  return out
end

-- The official discriminator filter for one attribute: on up to `images`
-- images of the table (not of the attribute's class) that it changes the
-- class probability by more than effect_threshold, regenerate it moved by
-- the attribute at `strength` and compare the discriminator's output on the
-- moved and the unmoved image (each conditioned on the classifier's
-- probabilities of that image, as in training). Returns false when any of
-- them changes by more than `threshold` (the move adds what D calls fake),
-- and the largest change seen. The official code checks both directions of
-- a coordinate; here an attribute is one direction, and only it is checked.
--   opts: images = 10, effect_threshold = 0.2, threshold = 0.2, strength = 2, labels
function attfind.discriminator_check(G, D, C, tab, a, opts)
  local fn = "discriminator_check"
  opts = check_opts(fn, opts, {images = true, effect_threshold = true, threshold = true, strength = true,
    labels = true})
  local N, S, K = shape4(tab, fn)
  local max_images = check_number(fn, "images", opts.images or 10, 1)
  local effect_threshold = check_number(fn, "effect_threshold", opts.effect_threshold or 0.2, 0)
  local threshold = check_number(fn, "threshold", opts.threshold or 0.2, 0)
  local strength = check_number(fn, "strength", opts.strength or 2, 0)
  local rows = other_images(attfind.labels(tab, opts.labels), a.class)
  local E = class_matrix(tab, a.class, rows, "prob")
  local col = (a.direction == "to-max" and S or 0) + a.coord
  local picked = {}
  for r, i in ipairs(rows) do
    if #picked < max_images and E[r][col] > effect_threshold then picked[#picked + 1] = i end
  end
  if #picked == 0 then return true, 0 end
  local worst = sx.no_grad(function()
    local base = attfind.apply_attributes(G, tab, {}, {images = picked, strength = 0})
    local moved = attfind.apply_attributes(G, tab, {a}, {images = picked, strength = strength})
    local conditional = D:config().n_classes > 0
    local function d(x) return D:discriminate(x, conditional and sx.softmax(C:logits(x), 2) or nil) end
    return (d(moved) - d(base)):abs():max():item()
  end)
  return worst <= threshold, worst
end

local policies = {subset = attfind.subset_selection, independent = attfind.independent_selection}

-- Runs policy (a function, or "subset" / "independent") for every class c =
-- 0..K-1 with opts.class = c (one-vs-rest: the images not predicted as c).
-- Returns a list indexed by class + 1; each attribute gets class = c if the
-- policy did not set it.
function attfind.per_class(tab, policy, opts)
  local _, _, K = shape4(tab, "per_class")
  local f = type(policy) == "string" and policies[policy] or policy
  if type(f) ~= "function" then
    error("per_class: policy must be a function(tab, opts) or 'subset' / 'independent', got " .. tostring(policy), 2)
  end
  opts = opts or {}
  local labels = attfind.labels(tab, opts.labels)
  local out = {}
  for c = 0, K - 1 do
    local o = {}
    for key, v in pairs(opts) do o[key] = v end
    o.class, o.labels = c, labels
    local attrs = f(tab, o)
    if type(attrs) ~= "table" then error("per_class: the policy returned " .. type(attrs) .. ", expected a list", 2) end
    for _, a in ipairs(attrs) do if a.class == nil then a.class = c end end
    out[c + 1] = attrs
  end
  return out
end

-- The first k attributes of attrs (all of them if fewer) as one string,
-- "coord:direction" joined by spaces ("12:to-max 40:to-min"): what two
-- selections must share to pick the same.
function attfind.pick_key(attrs, k)
  local out = {}
  for i = 1, math.min(k, #attrs) do out[i] = attrs[i].coord .. ":" .. attrs[i].direction end
  return table.concat(out, " ")
end

-- Whether two per_class results (lists indexed by class + 1) pick the same
-- first k attributes, in the same order, for every class of a.
function attfind.same_picks(a, b, k)
  for c = 1, #a do if attfind.pick_key(a[c], k) ~= attfind.pick_key(b[c], k) then return false end end
  return true
end

-- ---------------------------------------------------------------- regeneration

-- The images of tab's images `opts.images` (1-based list, default all) with
-- every attribute of attrs applied together: s_j moved from the image's value
-- towards the attribute's extreme by `strength` (1 = set to it, as in the
-- table; 0.5 half way; 2 twice as far). Returns images [n, C, R, R] (noise:
-- opts.noise, else tab.noise).
function attfind.apply_attributes(G, tab, attrs, opts)
  local fn = "apply_attributes"
  opts = check_opts(fn, opts, {images = true, strength = true, noise = true})
  local N, S = shape4(tab, fn)
  local t = check_number(fn, "strength", opts.strength or 1, -math.huge)
  local idx = opts.images
  if not idx then
    idx = {}
    for i = 1, N do idx[i] = i end
  end
  if not tab.latents then error(fn .. ": the table has no latents", 2) end
  local styles = tab.styles:index_select(1, idx):totable()
  local lo, hi = tab.style_min:totable(), tab.style_max:totable()
  local coords, values = {}, {}
  for k, a in ipairs(attrs) do
    if math.type(a.coord) ~= "integer" or a.coord < 1 or a.coord > S then
      error(fn .. ": attribute " .. k .. " has no valid coord", 2)
    end
    coords[k] = a.coord
  end
  for r, i in ipairs(idx) do
    local row = {}
    for k, a in ipairs(attrs) do
      local s = styles[r][a.coord]
      local target = a.direction == "to-min" and lo[a.coord] or a.direction == "to-max" and hi[a.coord] or
        error(fn .. ": attribute " .. k .. " has direction " .. tostring(a.direction), 2)
      row[k] = s + t * (target - s)
    end
    values[r] = row
  end
  local noise = opts.noise
  if not noise and tab.noise then
    noise = {}
    for l, z in ipairs(tab.noise) do noise[l] = z:size(1) == 1 and z or z:index_select(1, idx) end
  end
  local lat = tab.latents:index_select(1, idx)
  if #coords == 0 then return native.apply(G, lat, {}, nil, {noise = noise}) end
  return native.apply(G, lat, coords, sx.tensor(values), {noise = noise})
end

-- ---------------------------------------------------------------- sufficiency

-- Sufficiency (SPEC §3): for every class c, each image whose predicted class
-- (opts.labels, default argmax of tab.base_logits) is not c gets the first k
-- attributes of per_class[c + 1] (attfind.per_class's result: c's attributes,
-- directions towards c) applied together at `strength`; it counts as flipped
-- when C's argmax on the regenerated image is c. With more than two classes
-- an image is tried once per other class (one-vs-rest), so n counts
-- (image, class) pairs. A class with no attributes flips nothing.
--   opts: k = 10, strength = 1, labels, batch = 50
-- Returns {share =, flipped =, n =, k =, per_class = {{class =, flipped =, n =, share =}, ...}}
-- (share of a class with no images: nil).
function attfind.sufficiency(G, C, tab, per_class, opts)
  local fn = "sufficiency"
  opts = check_opts(fn, opts, {k = true, strength = true, labels = true, batch = true})
  local _, _, K = shape4(tab, fn)
  if type(per_class) ~= "table" or #per_class ~= K then
    error(string.format("%s: per_class must list the attributes of each of the %d classes", fn, K), 2)
  end
  local k = math.tointeger(check_number(fn, "k", opts.k or 10, 1)) or error(fn .. ": k must be an integer", 2)
  local batch = math.tointeger(check_number(fn, "batch", opts.batch or 50, 1)) or
    error(fn .. ": batch must be an integer", 2)
  local labels = attfind.labels(tab, opts.labels)
  local out = {k = k, flipped = 0, n = 0, per_class = {}}
  for c = 0, K - 1 do
    local attrs = {}
    for i = 1, math.min(k, #per_class[c + 1]) do attrs[i] = per_class[c + 1][i] end
    local rows = other_images(labels, c)
    local flipped = 0
    if #attrs > 0 then
      for first = 1, #rows, batch do
        local idx = table.move(rows, first, math.min(first + batch - 1, #rows), 1, {})
        local pred = sx.no_grad(function()
          return C:logits(attfind.apply_attributes(G, tab, attrs, {images = idx, strength = opts.strength}))
            :argmax(2):totable()
        end)
        for _, p in ipairs(pred) do if p == c then flipped = flipped + 1 end end
      end
    end
    out.per_class[c + 1] = {class = c, flipped = flipped, n = #rows, share = #rows > 0 and flipped / #rows or nil}
    out.flipped, out.n = out.flipped + flipped, out.n + #rows
  end
  out.share = out.n > 0 and out.flipped / out.n or nil
  return out
end

-- ---------------------------------------------------------------- progress

-- A progress function for attfind.effects: cli.progress's line on io.stderr
-- (or `out`), "label 41234/336250 passes | 5m48s elapsed, ETA 41m30s",
-- rewritten at most once a second and ended with a newline when done.
function attfind.progress_printer(label, out)
  local cli = require "stylex.cli"
  local p
  return function(done, total)
    p = p or cli.progress(total, label or "attfind", 1.0, 0, out)
    p(done, "passes")
  end
end

-- ---------------------------------------------------------------- save / load

-- Writes the table to a safetensors file (atomically): tensors effect,
-- base_logits, style_min, style_max, styles, latents, noise.1 .. noise.L
-- (and exact, for a screened table); metadata format, n_images, n_coords,
-- n_classes, layers (JSON), screen (JSON, a screened table's tab.screen)
-- and the entries of meta (e.g. model = the generator's checkpoint path).
-- Returns true, or nil and a message.
function attfind.save(path, tab, meta)
  local N, S, K = shape4(tab, "save")
  local tensors = {effect = tab.effect, base_logits = tab.base_logits, style_min = tab.style_min,
                   style_max = tab.style_max, styles = tab.styles, latents = tab.latents}
  for l, z in ipairs(tab.noise or {}) do tensors["noise." .. l] = z end
  if tab.exact then tensors.exact = tab.exact end
  local m = {}
  for k, v in pairs(tab.meta or {}) do m[k] = v end
  for k, v in pairs(meta or {}) do m[k] = v end
  m.format, m.n_images, m.n_coords, m.n_classes = FORMAT, N, S, K
  m.layers = util.encode_sorted(tab.layers or {})
  m.screen = tab.screen and util.encode_sorted(tab.screen) or nil
  return sx.save(path, tensors, m)
end

-- Reads a table written by attfind.save: the table, or nil and a message if
-- the file cannot be read. A file that is not an AttFind table is an error.
function attfind.load(path)
  local tensors, meta = sx.load(path)
  if not tensors then return nil, meta end
  if not meta or meta.format ~= FORMAT then
    error("attfind.load: " .. path .. " is not an AttFind table (metadata format ~= " .. FORMAT .. ")", 2)
  end
  local tab = {effect = tensors.effect, base_logits = tensors.base_logits, style_min = tensors.style_min,
               style_max = tensors.style_max, styles = tensors.styles, latents = tensors.latents, meta = meta}
  for _, k in ipairs{"effect", "base_logits", "style_min", "style_max", "styles"} do
    if not tab[k] then error("attfind.load: " .. path .. " has no tensor '" .. k .. "'", 2) end
  end
  local noise, l = {}, 1
  while tensors["noise." .. l] do
    noise[l] = tensors["noise." .. l]
    l = l + 1
  end
  if #noise > 0 then tab.noise = noise end
  if meta.screen then -- a screened table: exact only where tab.exact is 1
    tab.screen = cjson.decode(meta.screen)
    tab.exact = tensors.exact or error("attfind.load: " .. path .. " is a screened table without its 'exact' mask", 2)
  end
  tab.layers = cjson.decode(meta.layers or "[]")
  for _, ly in ipairs(tab.layers) do -- JSON numbers come back as floats
    ly.channels, ly.offset = math.tointeger(ly.channels), math.tointeger(ly.offset)
  end
  local N, S, K = shape4(tab, "attfind.load")
  if tostring(N) ~= meta.n_images or tostring(S) ~= meta.n_coords or tostring(K) ~= meta.n_classes then
    error("attfind.load: " .. path .. ": effect [" .. table.concat(tab.effect:shape(), ", ") ..
      "] does not match its metadata", 2)
  end
  return tab
end

-- Screened AttFind (attfind.gradients, linear_effects, screened_effects,
-- screen_covers) lives in stylex.attfind_screen, which requires this module
-- and adds them to it: registering this table first lets that require find it.
package.loaded["stylex.attfind"] = attfind
require "stylex.attfind_screen"

return attfind
