-- examples/digits_to_png.lua — scikit-learn's digits as a folder of PNGs, the
-- "folder nobody in the project made" of docs/your-data.md.
--
--   zcat digits.csv.gz | build/stylex examples/digits_to_png.lua OUT [3,8]
--
-- digits.csv.gz is in Debian's python3-sklearn (apt-get download
-- python3-sklearn; dpkg-deb -x the .deb; it is at
-- usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz): 1,797
-- rows of 64 grey values 0..16 (an 8x8 image, row by row) and the digit.
-- Writes OUT/dDDDD.png (8x8 grey PNGs, 0..16 scaled to 0..255) and
-- OUT/labels.csv (file,label), keeping only the digits listed (default all).
-- Nothing in make test needs this file or Python: the tests make their own folders.
local sx = require "stylex"

local out, keep_arg = arg[1], arg[2]
if not out then
  io.stderr:write("usage: zcat digits.csv.gz | stylex examples/digits_to_png.lua OUT [DIGITS, e.g. 3,8]\n")
  os.exit(2)
end
local keep = nil
if keep_arg then
  keep = {}
  for d in keep_arg:gmatch("%d+") do keep[math.tointeger(tonumber(d))] = true end
end
assert(sx.mkdir(out))
local csv = assert(io.open(out .. "/labels.csv", "w"))
csv:write("file,label\n")
local n, kept = 0, 0
for line in io.stdin:lines() do
  local v = {}
  for x in line:gmatch("[^,]+") do v[#v + 1] = tonumber(x) end
  if #v == 65 then
    n = n + 1
    local label = math.tointeger(v[65])
    if not keep or keep[label] then
      local rows = {}
      for r = 1, 8 do
        local row = {}
        for c = 1, 8 do row[c] = v[(r - 1) * 8 + c] / 16 end
        rows[r] = row
      end
      local name = string.format("d%04d.png", n)
      assert(sx.image.save(sx.tensor{rows}, out .. "/" .. name))
      csv:write(name, ",", label, "\n")
      kept = kept + 1
    end
  elseif #v > 0 then
    io.stderr:write("digits_to_png: line ", n + 1, ": ", #v, " values, expected 65\n")
    os.exit(1)
  end
end
assert(csv:close())
print(string.format("wrote %d of %d images and labels.csv to %s", kept, n, out))
