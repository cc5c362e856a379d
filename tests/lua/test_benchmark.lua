-- tests/lua/test_benchmark.lua — stylex.benchmark: interventions on the
-- renderer and the attribute scores, on hand-made cases with known answers.
local sx = require "stylex"
local benchmark = require "stylex.benchmark"
local T = dofile("tests/lua/harness.lua")

T.test("move: every factor goes somewhere else, inside its range", function()
  local f = sx.shapes.sample(2, 0, 50, 0.5, 0.5):totable()
  for k, name in ipairs(sx.shapes.factors) do
    local r = sx.shapes.ranges[name]
    for _, row in ipairs(f) do
      local m = benchmark.move(name, row[k])
      T.ok(m >= r.lo and m <= r.hi, name .. " stays in range")
      if name == "size" then T.ok((m > 6.25) ~= (row[k] > 6.25) or row[k] == 6.25, "size crosses its threshold") end
    end
  end
  T.raises("unknown factor 'colour'", benchmark.move, "colour", 1)
end)

T.test("reading_weights: R^2 clipped, accuracy above chance", function()
  local w = benchmark.reading_weights{size = {r2 = 0.7}, squash = {r2 = -0.26}, shape = {accuracy = 1 / 3},
    marker = {accuracy = 0.75}, stripes = {accuracy = 1}}
  T.ok(math.abs(w.size - 0.7) < 1e-12, "size: its R^2")
  T.eq(w.squash, 0, "a negative R^2 weighs 0")
  T.ok(math.abs(w.shape) < 1e-12, "shape at chance (3 classes) weighs 0")
  T.ok(math.abs(w.marker - 0.5) < 1e-12, "marker at 0.75 (2 classes): half way from chance")
  T.eq(w.stripes, 1)
end)

T.test("moved_rows and reading_change: one factor moved, changes in the factor's units", function()
  local rows = sx.shapes.sample(3, 0, 5, 0.5, 0.5):totable()
  local k = 1
  for j, name in ipairs(sx.shapes.factors) do if name == "size" then k = j end end
  local before = rows[1][k]
  local moved = benchmark.moved_rows(rows, k)
  for i, r in ipairs(rows) do
    for j = 1, #r do
      T.eq(moved[i][j], j == k and benchmark.move("size", r[j]) or r[j], "row " .. i .. " factor " .. j)
    end
  end
  T.eq(rows[1][k], before, "the rows given are not changed in place")
  T.eq(benchmark.reading_change("marker", 1, 0), 1)
  T.eq(benchmark.reading_change("shape", 2, 2), 0)
  T.eq(benchmark.reading_change("size", 8, 4.5), 1)  -- the whole range
  T.ok(math.abs(benchmark.reading_change("brightness", 0.55, 0.7) - 0.25) < 1e-12, "a quarter of 0.4..1")
end)

-- A classifier that looks only at the marker's corner pixel: class 2 when it is bright.
local marker_reader = {classify = function(_, x)
  local b = x:shape()[1]
  local corner = x:narrow(3, 3, 1):narrow(4, 3, 1):reshape{b, 1}
  return sx.cat({sx.zeros{b, 1}, corner}, 2)
end}

T.test("factor_effects: a marker-only classifier uses the marker and nothing else", function()
  local effects = benchmark.factor_effects(marker_reader, sx.shapes.sample(9, 0, 300, 0.5, 0.5))
  T.eq(effects.marker, 1.0)
  for _, name in ipairs(sx.shapes.factors) do
    if name ~= "marker" then T.ok(effects[name] <= 0.02, name .. " barely matters: " .. effects[name]) end
  end
  T.eq(benchmark.factors_used(effects), {"marker"})
end)

T.test("score: recall, precision, purity, shortcut rank", function()
  local attrs = {
    {changes = {size = 0.6, brightness = 0.2}},          -- size, purity 0.75
    {changes = {marker = 0.9, pos_x = 0.1}},             -- the shortcut, purity 0.9
    {changes = {rotation = 0.5, shape = 0.5}},           -- a tie goes to the first in factor order: shape
    {changes = {size = 0.4}},                            -- size again, purity 1
    {changes = {}},                                      -- changes nothing
  }
  local s = benchmark.score(attrs, {"size", "brightness", "stripes", "marker"}, {k = 4})
  T.eq(s.k, 4)
  T.near(s.recall, 2 / 4, 1e-12)          -- size and marker dominate something; brightness, stripes nothing
  T.near(s.precision, 3 / 4, 1e-12)       -- size, marker, size are used; shape is not
  T.near(s.purity, (0.75 + 0.9 + 0.5 + 1.0) / 4, 1e-12)
  T.eq(s.shortcut_rank, 2)
  T.eq(s.attributes[1].dominant, "size")
  T.eq(s.attributes[3].dominant, "shape")
  T.eq(s.attributes[5].dominant, nil)
  T.eq(s.attributes[5].purity, 0)
  -- k larger than the list, no shortcut, nothing used
  local s2 = benchmark.score({attrs[1]}, {}, {k = 8})
  T.eq(s2.k, 1)
  T.eq(s2.recall, 0)
  T.eq(s2.precision, 0)
  T.eq(s2.shortcut_rank, nil)
  T.raises("negative change", benchmark.score, {{changes = {size = -1}}}, {})
end)

T.test("score_classes: recall over the union, precision and purity pooled, best shortcut rank", function()
  local used = {"size", "brightness", "stripes", "marker"}
  local class0 = {
    {changes = {size = 1.0}},                       -- size, purity 1
    {changes = {shape = 0.3, size = 0.1}},          -- shape (unused), purity 0.75
    {changes = {marker = 0.5, size = 0.5}},         -- a tie goes to size (first in factor order)
  }
  local class1 = {
    {changes = {brightness = 0.2, squash = 0.2}},   -- brightness (first in order), purity 0.5
    {changes = {marker = 1.0}},                     -- the shortcut at rank 2
  }
  local s = benchmark.score_classes({class0, class1}, used, {k = 3})
  T.near(s.recall, 3 / 4, 1e-12)                    -- size, brightness, marker; stripes dominates nothing
  T.near(s.precision, 4 / 5, 1e-12)                 -- all but shape, over 3 + 2 attributes
  T.near(s.purity, (1 + 0.75 + 0.5 + 0.5 + 1) / 5, 1e-12)
  T.eq(s.shortcut_rank, 2)
  T.eq(#s.per_class, 2)
  T.eq(s.per_class[1].shortcut_rank, nil)
  T.eq(s.per_class[2].attributes[2].dominant, "marker")
  -- with k = 1 only the first of each class counts
  local s1 = benchmark.score_classes({class0, class1}, used, {k = 1})
  T.near(s1.recall, 2 / 4, 1e-12)
  T.near(s1.precision, 1, 1e-12)
  T.eq(s1.shortcut_rank, 2)                         -- the rank is over the whole list, as in score
end)

T.test("marker_heat_share: a share of the heat, the region's area, only marked images", function()
  sx.manual_seed(5)
  local C = sx.models.Classifier{n_classes = 2, resolution = 32, img_channels = 1, channels = {8, 8, 8}, hidden = 16}
  local data = require "stylex.data"
  local ds = data.shapes{split = "test", n = 40, seed = 3}
  local marked = 0
  for _, r in ipairs(ds.factors:totable()) do if r[10] > 0.5 then marked = marked + 1 end end
  local h = benchmark.marker_heat_share(C, ds, {batch = 16})
  T.ok(h.share >= 0 and h.share <= 1, "share in [0, 1]: " .. h.share)
  T.near(h.area, 25 / 1024, 1e-12)
  T.ok(h.n <= marked and h.n > 0, "counts marked images with heat: " .. h.n .. " of " .. marked)
  T.eq(benchmark.marker_heat_share(C, ds, {n = 3}).n <= 3, true)
  local plain = data.new_dataset{images = ds.images, labels = ds.labels, classes = ds.classes, n_classes = 2,
    channels = 1, resolution = 32}
  T.raises("no marker factor", benchmark.marker_heat_share, C, plain)
end)

-- The intervention test of the shipped oracles: each factor moved alone
-- (benchmark.move, all else equal) on 300 balanced renders changes that
-- factor's reading and no other's beyond the oracles' noise. Measured when
-- written: the moved factor 0.47-0.53 of its range (discrete: every image),
-- any other at most 0.083 (discrete: none).
T.test("the shipped oracles: moving one factor changes only that factor's reading", function()
  local O = benchmark.load_oracles("models/shapes/oracles.safetensors")
  local rows = sx.shapes.sample(77, 0, 300, 0.5, 0.5):totable()
  local function read(rs) return benchmark.read_factors(O, sx.shapes.render(sx.tensor(rs)) * 2 - 1) end
  local base = read(rows)
  local read_names = {}
  for _, name in ipairs(benchmark.ORACLE_CONTINUOUS) do read_names[#read_names + 1] = name end
  for _, d in ipairs(benchmark.ORACLE_DISCRETE) do read_names[#read_names + 1] = d.name end
  for k, moved in ipairs(sx.shapes.factors) do
    local after = read(benchmark.moved_rows(rows, k))
    for _, name in ipairs(read_names) do
      local rg, change = sx.shapes.ranges[name], 0
      for i = 1, #rows do change = change + benchmark.reading_change(name, after[i][name], base[i][name]) end
      change = change / #rows
      local what = string.format("%s moved: %s reads %.3f", moved, name, change)
      if name == moved then
        T.ok(change >= (rg.discrete and 0.95 or 0.35), what)
      else
        T.ok(change <= (rg.discrete and 0.02 or 0.12), what)
      end
    end
  end
end)

T.test("load_oracles: refuses a file that is not an oracles file", function()
  local dir = T.tmpdir()
  local path = dir .. "/not-oracles.safetensors"
  assert(sx.save(path, {w = sx.zeros{2}}, {format = "something-else"}))
  T.raises("not a stylex oracles file", benchmark.load_oracles, path)
  T.raises("load_oracles", benchmark.load_oracles, dir .. "/missing.safetensors")
end)

T.done()
