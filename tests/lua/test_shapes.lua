-- tests/lua/test_shapes.lua — the ground-truth benchmark's data (lib/data/shapes.c,
-- data.shapes, scripts/make_shapes.lua): determinism down to the bytes, the
-- label rule, the shortcut's rates per split, what each factor does to the
-- picture, and the folder the script writes.
local sx = require "stylex"
local data = require "stylex.data"
local T = dofile("tests/lua/harness.lua")

local F = #sx.shapes.factors
local function col(name)
  for k, v in ipairs(sx.shapes.factors) do if v == name then return k end end
end

-- FNV-1a over the images quantised to bytes as PNG writing does.
local function image_hash(images)
  local h = 0xcbf29ce484222325
  for _, v in ipairs(images:reshape{images:numel()}:totable()) do
    h = (h ~ math.floor(v * 255 + 0.5)) * 0x100000001b3
  end
  return h
end

T.test("shapes: factors and ranges", function()
  T.eq(F, 10)
  T.eq(sx.shapes.factors[1], "size")
  T.eq(sx.shapes.factors[10], "marker")
  T.eq(sx.shapes.ranges.stripes.discrete, true)
  T.eq(sx.shapes.ranges.size.lo, 4.5)
end)

T.test("shapes: deterministic, independent of n, different per seed and split", function()
  local a = sx.shapes.render(sx.shapes.sample(7, 0, 40, 0.9, 0.1))
  local b = sx.shapes.render(sx.shapes.sample(7, 0, 40, 0.9, 0.1))
  T.eq(image_hash(a), image_hash(b))
  -- image i of a stream does not depend on where the draw starts
  local c = sx.shapes.render(sx.shapes.sample(7, 10, 5, 0.9, 0.1))
  T.eq(image_hash(a:narrow(1, 11, 5)), image_hash(c))
  T.ok(image_hash(a) ~= image_hash(sx.shapes.render(sx.shapes.sample(8, 0, 40, 0.9, 0.1))), "seed changes images")
  local tr, te = data.shapes{split = "train", n = 30}, data.shapes{split = "test", n = 30}
  T.ok(image_hash(tr.images) ~= image_hash(te.images), "train and test differ")
  -- Pinned: the first 64 test images of seed 1, as bytes. A change here means
  -- every shipped benchmark file would change too.
  T.eq(string.format("%016x", image_hash((data.shapes{split = "test", n = 64}.images + 1) * 0.5)),
    "d10862e5870fd833")
end)

T.test("shapes: the label rule and each cause's flip share", function()
  local f = sx.shapes.sample(3, 0, 4000, 0.5, 0.5)
  local rows = f:totable()
  local labels = sx.shapes.label(f):totable()
  local ones = 0
  for i, r in ipairs(rows) do
    local votes = (r[col("size")] > 6.25 and 1 or 0) + (r[col("brightness")] > 0.7 and 1 or 0) + r[col("stripes")]
    T.eq(labels[i], votes >= 2 and 1 or 0)
    ones = ones + labels[i]
  end
  T.ok(ones > 1800 and ones < 2200, "classes near balanced: " .. ones)
  -- Moving one cause across its threshold (others equal) flips the label for
  -- about half the images; a non-cause flips none.
  local moves = {size = function(v) return v > 6.25 and 5 or 7.5 end,
                 brightness = function(v) return v > 0.7 and 0.5 or 0.9 end,
                 stripes = function(v) return 1 - v end,
                 shape = function(v) return (v + 1) % 3 end,
                 marker = function(v) return 1 - v end}
  for name, move in pairs(moves) do
    local moved = {}
    for i, r in ipairs(rows) do
      local m = {table.unpack(r)}
      m[col(name)] = move(m[col(name)])
      moved[i] = m
    end
    local l2 = sx.shapes.label(sx.tensor(moved)):totable()
    local flips = 0
    for i = 1, #rows do if l2[i] ~= labels[i] then flips = flips + 1 end end
    local share = flips / #rows
    if name == "shape" or name == "marker" then
      T.eq(flips, 0, name .. " is not a cause")
    else
      T.ok(share >= 0.15 and share < 0.65, name .. " flips " .. share)
    end
  end
end)

T.test("shapes: the shortcut marker's rate per class and split", function()
  local function rates(ds)
    local m, l = ds.factors:totable(), ds.labels:totable()
    local n, k = {[0] = 0, [1] = 0}, {[0] = 0, [1] = 0}
    for i = 1, #l do n[l[i]] = n[l[i]] + 1; k[l[i]] = k[l[i]] + m[i][col("marker")] end
    return k[1] / n[1], k[0] / n[0]
  end
  local r1, r0 = rates(data.shapes{split = "train", n = 3000})
  T.ok(math.abs(r1 - 0.9) < 0.03 and math.abs(r0 - 0.1) < 0.03, "train: " .. r1 .. " " .. r0)
  r1, r0 = rates(data.shapes{split = "test", n = 3000})
  T.ok(math.abs(r1 - 0.5) < 0.05 and math.abs(r0 - 0.5) < 0.05, "test: " .. r1 .. " " .. r0)
end)

T.test("shapes: one factor moved changes the picture only where it should", function()
  local base = sx.shapes.sample(5, 0, 1, 0.5, 0.5):totable()[1]
  base[col("marker")] = 0
  local function render(r) return sx.shapes.render(sx.tensor{r}):reshape{32, 32}:totable() end
  local img = render(base)
  -- the marker touches only its 3x3 corner
  local m = {table.unpack(base)}; m[col("marker")] = 1
  local with = render(m)
  local changed_outside = 0
  for y = 1, 32 do for x = 1, 32 do
    local inside = y >= 2 and y <= 4 and x >= 2 and x <= 4
    if inside then T.eq(with[y][x], 1.0) elseif with[y][x] ~= img[y][x] then changed_outside = changed_outside + 1 end
  end end
  T.eq(changed_outside, 0)
  -- brightness scales the object: the mean over the image rises with it
  local function mean(im) local s = 0 for y = 1, 32 do for x = 1, 32 do s = s + im[y][x] end end return s / 1024 end
  local lo, hi = {table.unpack(base)}, {table.unpack(base)}
  lo[col("brightness")], hi[col("brightness")] = 0.45, 0.95
  T.ok(mean(render(hi)) > mean(render(lo)) + 0.02, "brighter object, brighter image")
  lo, hi = {table.unpack(base)}, {table.unpack(base)}
  lo[col("size")], hi[col("size")] = 4.6, 7.9
  T.ok(mean(render(hi)) > mean(render(lo)), "bigger object, more object pixels")
end)

T.test("shapes: bad input", function()
  T.raises("factor tensor [N, 10]", sx.shapes.render, sx.zeros{3, 4})
  local r = sx.shapes.sample(1, 0, 1, 0.5, 0.5):totable()
  r[1][col("size")] = 20
  T.raises("factor 'size' is 20", sx.shapes.render, sx.tensor(r))
  r[1][col("size")] = 6; r[1][col("shape")] = 1.5
  T.raises("factor 'shape' is 1.5, expected an integer", sx.shapes.render, sx.tensor(r))
  T.raises("marker probability", sx.shapes.sample, 1, 0, 1, 2, 0)
  T.raises("unknown option 'colour'", data.shapes, {colour = 1})
  T.raises("split must be", data.shapes, {split = "val"})
end)

T.test("make_shapes.lua: a folder that image_folder reads back, same bytes twice", function()
  local dir = T.tmpdir()
  local function run(out)
    return os.execute(string.format("build/stylex scripts/make_shapes.lua --out %s --n 24 --seed 4 --split test 2>/dev/null", out))
  end
  T.ok(run(dir .. "/a") and run(dir .. "/b"), "script runs")
  for _, f in ipairs{"labels.csv", "000000.png", "000023.png"} do
    T.eq(T.read_file(dir .. "/a/" .. f), T.read_file(dir .. "/b/" .. f), f .. " identical")
  end
  local ds = data.image_folder{dir = dir .. "/a"}
  local ref = data.shapes{split = "test", n = 24, seed = 4}
  T.eq(ds:size(), 24)
  T.eq(ds.labels:totable(), ref.labels:totable())
  local diff = (ds.images - ref.images):abs():max():item()
  T.ok(diff <= 1 / 255 + 1e-6, "PNG round trip within one grey level: " .. diff)
  T.rm_rf(dir)
end)

T.done()
