-- tests/lua/test_image.lua — sx.image from Lua (resize, to_unit, text,
-- text_size, grid: sizes, value range, a PNG round trip, argument errors)
-- and data.image_folder on a temporary folder of generated PNGs of several
-- sizes, with a corrupt file and a missing one listed in its CSV.
local T = dofile("tests/lua/harness.lua")
local sx = require "stylex"
local data = require "stylex.data"

local tmp, made = T.tmpfiles() -- everything we make is named by tmp(suffix)
local write_file = T.write_file

local function minmax(t)
  local v = t:contiguous():reshape{ t:numel() }:totable()
  local lo, hi = math.huge, -math.huge
  for _, x in ipairs(v) do
    lo, hi = math.min(lo, x), math.max(hi, x)
  end
  return lo, hi
end

-- Calls through Lua code, so that error messages name the function as users see it.
local function grid(...) local r = sx.image.grid(...) return r end
local function resize(...) local r = sx.image.resize(...) return r end
local function text(...) local r = sx.image.text(...) return r end

-- ---------------------------------------------------------------- resize, text

T.test("resize", function()
  local x = sx.full({ 3, 7, 5 }, 0.25)
  local y = resize(x, { 3, 2 })
  T.eq(y:shape(), { 3, 3, 2 })
  T.near(minmax(y), 0.25, 1e-6)
  local b = sx.rand{ 2, 1, 8, 6 }
  local z = resize(b, { 4, 3 })
  T.eq(z:shape(), { 2, 1, 4, 3 })
  -- a 2x shrink is the mean of each 2x2 block
  local want = (b:narrow(3, 1, 1):narrow(4, 1, 1) + b:narrow(3, 2, 1):narrow(4, 1, 1)
    + b:narrow(3, 1, 1):narrow(4, 2, 1) + b:narrow(3, 2, 1):narrow(4, 2, 1)) / 4
  T.near(z:narrow(3, 1, 1):narrow(4, 1, 1):totable(), want:totable(), 1e-6)
  T.eq(resize(b, { 20, 13 }):shape(), { 2, 1, 20, 13 })
  T.raises("bad argument #2 to 'resize'", resize, x, { 3 })
  T.raises("bad argument #2 to 'resize'", resize, x, { 0, 3 })
  T.raises("bad argument #1 to 'resize'", resize, sx.ones{ 4, 4 }, { 2, 2 })
end)

T.test("to_unit", function()
  local y = sx.image.to_unit(sx.tensor{ -2, -1, 0, 1, 3 }, -1, 1)
  T.near(y:totable(), { 0, 0, 0.5, 1, 1 }, 1e-7)
  T.raises("hi must differ", function() return sx.image.to_unit(sx.ones{ 2 }, 1, 1) end)
end)

T.test("text", function()
  local img = sx.zeros{ 3, 20, 40 }
  local w, h = sx.image.text_size("Hi\ngy")
  T.eq({ w, h }, { 11, 17 })
  T.eq({ sx.image.text_size("abc", 2) }, { 34, 16 })
  T.ok(text(img, 3, 2, "Hi\ngy", { color = { 1, 0.5, 0.25 } }) == img, "returns the image")
  -- ink only inside the box: columns 3..13, rows 2..18 (1-based)
  local inside = img:narrow(2, 2, h):narrow(3, 3, w)
  local total = img:sum():item()
  T.ok(total > 0, "some ink")
  T.near(inside:sum():item(), total, 1e-4, "all ink inside the box")
  T.near(img:narrow(1, 2, 1):max():item(), 0.5, 0, "channel 2 gets its colour")
  text(img, -3, -3, "clipped", { scale = 2 })
  T.raises("bad argument #5 to 'text'", text, img, 1, 1, "x", { colour = 1 })
  T.raises("option 'color'", text, img, 1, 1, "x", { color = { 1, 2 } })
  T.raises("option 'scale'", text, img, 1, 1, "x", { scale = 0 })
  T.raises("bad argument #4 to 'text'", text, img, 1, 1, {})
  T.raises("bad argument #1 to 'text'", text, sx.zeros{ 20, 40 }, 1, 1, "x")
end)

-- ---------------------------------------------------------------- grid

T.test("grid of Fashion-like images with captions, saved and reloaded", function()
  sx.manual_seed(3)
  local batch = sx.rand{ 7, 1, 32, 32 } * 2 - 1 -- like Fashion-MNIST: [-1, 1]
  local captions = {}
  for i = 1, 7 do captions[i] = string.format("Sneaker %d\np=0.%02d", i, 90 + i) end
  local g = grid(batch, { ncol = 4, pad = 2, captions = captions, scale = 2 })
  -- cells 64 wide (wider than "Sneaker 1" = 53), strip 2 lines = 17 + 2
  local cw, ch, strip = 64, 64, 17 + 2
  T.eq(g:shape(), { 1, 2 + 2 * (ch + strip + 2), 2 + 4 * (cw + 2) })
  local lo, hi = minmax(g)
  T.ok(lo >= 0 and hi <= 1, "values in [0, 1]: " .. lo .. " .. " .. hi)
  local path = tmp("_grid.png")
  T.eq(sx.image.save(g, path), true)
  local back = assert(sx.image.load(path))
  T.eq(back:shape(), g:shape(), "reloaded size")
  T.near(back:narrow(2, 3, 5):narrow(3, 3, 5):totable(), g:narrow(2, 3, 5):narrow(3, 3, 5):totable(), 0.5 / 255 + 1e-6)

  -- a list of tensors gives the same grid as the batch
  local list = {}
  for i = 1, 7 do list[i] = batch:narrow(1, i, 1):reshape{ 1, 32, 32 } end
  local g2 = grid(list, { ncol = 4, pad = 2, captions = captions, scale = 2 })
  T.near(g2:totable(), g:totable(), 0)

  -- range: [0, 1] inputs kept as they are; big text
  local unit = sx.rand{ 1, 8, 8 }
  local g3 = grid({ unit }, { range = { 0, 1 }, pad = 0 })
  T.near(g3:totable(), unit:totable(), 1e-6)
  local g4 = grid({ unit, unit }, { pad = 0, captions = { "ab" }, text_scale = 2 })
  T.eq(g4:shape(), { 1, 8 + 16 + 4, 2 * 22 })
end)

T.test("grid of grey and RGB cells of different sizes", function()
  local g = grid({ sx.zeros{ 1, 4, 4 }, sx.ones{ 3, 6, 2 } }, { pad = 1, pad_value = 0.25, ncol = 2,
    text_color = { 1, 0, 0 }, captions = { "g", false } })
  T.eq(g:shape(), { 3, 1 + 6 + 10 + 1, 1 + 2 * (5 + 1) })
  -- the grey cell (value 0 in [-1, 1] -> 0.5) is centred in its 5 x 6 cell
  T.near(g:narrow(2, 3, 1):narrow(3, 2, 1):reshape{ 3 }:totable(), { 0.5, 0.5, 0.5 }, 1e-6)
  T.near(g:narrow(2, 2, 1):narrow(3, 2, 1):reshape{ 3 }:totable(), { 0.25, 0.25, 0.25 }, 1e-6)
  T.near(g:narrow(2, 3, 1):narrow(3, 9, 1):reshape{ 3 }:totable(), { 1, 1, 1 }, 1e-6)
end)

T.test("grid arguments", function()
  local x = sx.zeros{ 1, 4, 4 }
  local freed = sx.zeros{ 1, 4, 4 }
  freed:free()
  T.raises("bad argument #1 to 'grid'", grid, 42)
  T.raises("bad argument #1 to 'grid'", grid, {})
  T.raises("bad argument #1 to 'grid'", grid, { x, "y" })
  T.raises("bad argument #1 to 'grid'", grid, { x, freed })
  T.raises("bad argument #1 to 'grid'", grid, { sx.zeros{ 4, 4 } })
  T.raises("bad argument #1 to 'grid'", grid, { sx.zeros{ 2, 4, 4 }, sx.zeros{ 3, 4, 4 } })
  T.raises("bad argument #1 to 'grid'", grid, sx.zeros{ 0, 1, 4, 4 })
  T.raises("bad argument #2 to 'grid'", grid, { x }, 5)
  T.raises("unknown option 'columns'", grid, { x }, { columns = 2 })
  T.raises("option 'ncol'", grid, { x }, { ncol = 0 })
  T.raises("option 'pad'", grid, { x }, { pad = -1 })
  T.raises("option 'pad'", grid, { x }, { pad = 1.5 })
  T.raises("option 'pad_value'", grid, { x }, { pad_value = 0 / 0 })
  T.raises("option 'scale'", grid, { x }, { scale = 65 })
  T.raises("option 'range'", grid, { x }, { range = { 1, 1 } })
  T.raises("option 'range'", grid, { x }, { range = { 0 } })
  T.raises("option 'range'", grid, { x }, { range = "x" })
  T.raises("option 'captions'", grid, { x }, { captions = { "a", "b" } })
  T.raises("option 'captions'", grid, { x }, { captions = { {} } })
  T.raises("option 'captions'", grid, { x }, { captions = "a" })
  T.raises("option 'text_color'", grid, { x }, { text_color = { 1, 0, 0 } })
  T.raises("option 'text_scale'", grid, { x }, { text_scale = 0 })
  T.raises("grid", grid, { sx.zeros{ 1, 4, 4 } }, { scale = 64, ncol = 1, pad = 65536, captions = { ("x"):rep(100000) } })
end)

-- ---------------------------------------------------------------- image_folder

local dir = tmp("_folder")
assert(os.execute("mkdir '" .. dir .. "'"))
local function in_dir(name)
  made[#made + 1] = dir .. "/" .. name
  return dir .. "/" .. name
end

-- a 20 x 40 image: 0 in the outer quarters, 1 in the middle half (the centre crop)
local wide = sx.cat({ sx.zeros{ 1, 20, 10 }, sx.ones{ 1, 20, 20 }, sx.zeros{ 1, 20, 10 } }, 3)
sx.image.save(sx.full({ 1, 28, 28 }, 0.4), in_dir("grey28.png"))
sx.image.save(wide, in_dir("wide 20x40.png"))
sx.image.save(sx.rand{ 3, 50, 50 }, in_dir("rgb50.png"))
sx.image.save(sx.full({ 3, 8, 8 }, 0.2), in_dir("rgb8.png"))
write_file(in_dir("corrupt.png"), "\137PNG\r\n\26\nthis is not really a PNG file")
write_file(in_dir("labels.csv"), table.concat({
  "file,label",
  "grey28.png,sneaker",
  '"wide 20x40.png", boot',
  "corrupt.png,boot",
  "",
  "rgb50.png,sandal",
  "rgb8.png,boot",
}, "\r\n") .. "\r\n")
write_file(in_dir("ints.csv"), "file,label\ngrey28.png,2\nrgb8.png,0\n")
write_file(in_dir("none.csv"), "file,label\ncorrupt.png,0\n")
-- a CSV naming files the folder does not have is refused, not half read
write_file(in_dir("missing.csv"), "file,label\ngrey28.png,1\nmissing.png,1\nrgb8.png,0\ngone.png,0\n")
write_file(in_dir("bad_header.csv"), "name,class\ngrey28.png,1\n")
write_file(in_dir("bad_row.csv"), "file,label\ngrey28.png,1,extra\n")
write_file(in_dir("bad_quote.csv"), 'file,label\n"grey28.png,1\n')

T.test("image_folder: counts, labels, shapes, values", function()
  local ds = data.image_folder{ dir = dir }
  T.eq(ds:size(), 4, "4 of 5 listed images read")
  T.eq(#ds.skipped, 1, "the corrupt one skipped")
  T.eq(ds.skipped[1].file, "corrupt.png")
  T.ok(ds.skipped[1].reason:find("corrupt.png", 1, true), "the reason names the file: " .. ds.skipped[1].reason)
  T.eq(ds.classes, { "boot", "sandal", "sneaker" })
  T.eq(ds.n_classes, 3)
  T.eq(ds.labels:totable(), { 2, 0, 1, 0 })
  T.eq(ds.images:shape(), { 4, 3, 32, 32 }, "RGB because some images are")
  T.eq(ds.channels, 3)
  T.eq(ds.resolution, 32)
  local lo, hi = minmax(ds.images)
  T.ok(lo >= -1 and hi <= 1, "values in [-1, 1]")
  -- constant 0.4 stays 0.4 (-> -0.2), grey repeated in the three channels
  local grey = ds.images:narrow(1, 1, 1)
  T.near({ minmax(grey) }, { -0.2, -0.2 }, 1e-5)
  -- the wide image was centre-cropped to its all-ones middle
  T.near({ minmax(ds.images:narrow(1, 2, 1)) }, { 1, 1 }, 1e-6)
  T.near({ minmax(ds.images:narrow(1, 4, 1)) }, { 0.2 * 2 - 1, 0.2 * 2 - 1 }, 1e-5)
  -- the data set methods work
  local x, y = ds:batch{ 2, 4 }
  T.eq(x:shape(), { 2, 3, 32, 32 })
  T.eq(y:totable(), { 0, 0 })
  local rest, held = ds:split(1, 0)
  T.eq({ rest:size(), held:size() }, { 3, 1 })
  local n = 0
  for bx in ds:batches(3) do n = n + bx:shape()[1] end
  T.eq(n, 4)
end)

T.test("image_folder: options", function()
  local ds = data.image_folder{ dir = dir, channels = 1, size = 16, name = "mine" }
  T.eq(ds.images:shape(), { 4, 1, 16, 16 })
  T.eq(ds.name, "mine")
  T.near({ minmax(ds.images:narrow(1, 4, 1)) }, { 0.2 * 2 - 1, 0.2 * 2 - 1 }, 1e-5, "RGB grey stays grey")
  local ints = data.image_folder{ dir = dir, labels = dir .. "/ints.csv" }
  T.eq(ints.labels:totable(), { 1, 0 }, "labels 0 and 2 are classes 0 and 1")
  T.eq(ints.classes, { "0", "2" })
  T.eq(ints.label_map, { "0", "2" })
  T.eq(ints.images:shape(), { 2, 3, 32, 32 })
  T.eq(#ints.skipped, 0)
end)

T.test("image_folder: errors", function()
  T.raises("no image could be read", data.image_folder, { dir = dir, labels = dir .. "/none.csv" })
  T.raises("missing.csv names 2 files not in " .. dir .. ": missing.png (line 3), gone.png (line 5)",
    data.image_folder, { dir = dir, labels = dir .. "/missing.csv" })
  T.raises("expected the header 'file,label'", data.image_folder, { dir = dir, labels = dir .. "/bad_header.csv" })
  T.raises("line 2: 3 fields", data.image_folder, { dir = dir, labels = dir .. "/bad_row.csv" })
  T.raises("unterminated quoted field", data.image_folder, { dir = dir, labels = dir .. "/bad_quote.csv" })
  T.raises("cannot open the labels file", data.image_folder, { dir = dir .. "/nowhere" })
  T.raises("unknown option 'folder'", data.image_folder, { folder = dir })
  T.raises("option 'dir'", data.image_folder, {})
  T.raises("option 'size'", data.image_folder, { dir = dir, size = 0 })
  T.raises("option 'channels'", data.image_folder, { dir = dir, channels = 2 })
end)

T.test("image_folder: warnings on stderr name the files", function()
  local host = arg and arg[-1]
  if not host then
    print("skipped: no interpreter path in arg[-1]")
    return
  end
  local code = "require('stylex.data').image_folder{dir=" .. string.format("%q", dir) .. "}"
  local p = assert(io.popen(string.format("%q -e %q 2>&1", host, code)))
  local out = p:read("a")
  p:close()
  T.ok(out:find("skipping corrupt.png", 1, true), "warns about corrupt.png: " .. out)
  T.ok(out:find("skipped 1 of 5 images", 1, true), "reports the count: " .. out)
end)

for i = #made, 1, -1 do os.remove(made[i]) end
T.done()
