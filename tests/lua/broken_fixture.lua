-- tests/lua/broken_fixture.lua — the small files the broken-input suite
-- (test_broken_inputs.lua) and the kill-and-resume test (tests/faults/)
-- run the scripts on:
--   local fx = dofile("tests/lua/broken_fixture.lua").make(dir)
-- dir/img/imgNN.png (12 images of 8x8: a rectangle whose place and
-- brightness follow the index), dir/labels.csv (label = index mod 2),
-- dir/classifier.safetensors (a tiny untrained CNN of 8x8, data set
-- "folder"), dir/classifier16.safetensors (the same at 16x16) and
-- dir/empty.csv (a header and no row). Returns the paths.
local sx = require "stylex"
local cjson = require "cjson"

local M = {}
M.RES = 8
M.N = 12

local function image(i, res)
  local rows = {}
  for y = 1, res do
    rows[y] = {}
    for x = 1, res do
      local x0, y0 = (i * 3) % (res // 2) + 1, (i * 5) % (res // 2) + 1
      local inside = x >= x0 and x < x0 + res // 2 and y >= y0 and y < y0 + res // 3 + (i % 3)
      rows[y][x] = inside and (0.6 + 0.05 * (i % 4)) or 0
    end
  end
  return sx.tensor{rows}
end

local function save_classifier(path, res)
  sx.manual_seed(5)
  local C = sx.models.Classifier{n_classes = 2, resolution = res, channels = {4}, hidden = 8}
  assert(sx.save(path, C:state_dict(), {format = "stylex-classifier-1", config = cjson.encode(C:config()),
    dataset = "folder", classes = "[0,1]", class_names = '["0","1"]'}))
end

function M.make(dir)
  assert(sx.mkdir(dir .. "/img"))
  local csv = assert(io.open(dir .. "/labels.csv", "w"))
  csv:write("file,label\n")
  for i = 1, M.N do
    local name = string.format("img/img%02d.png", i)
    assert(sx.image.save(image(i, M.RES), dir .. "/" .. name))
    csv:write(name, ",", i % 2, "\n")
  end
  csv:close()
  local e = assert(io.open(dir .. "/empty.csv", "w"))
  e:write("file,label\n")
  e:close()
  save_classifier(dir .. "/classifier.safetensors", M.RES)
  save_classifier(dir .. "/classifier16.safetensors", 16)
  return {dir = dir, data = dir, labels = dir .. "/labels.csv", empty = dir .. "/empty.csv",
    classifier = dir .. "/classifier.safetensors", classifier16 = dir .. "/classifier16.safetensors"}
end

return M
