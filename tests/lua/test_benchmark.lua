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

T.done()
