-- Writes the ground-truth benchmark's images as a PNG folder (docs/benchmark.md):
--   build/stylex scripts/make_shapes.lua --out DIR [--n N] [--seed S] [--split train|test]
-- DIR gets 000000.png ... and labels.csv with the columns file,label and then
-- every factor's value, so the folder is also a plain `--data DIR` image folder.
local sx = require "stylex"
local stylex = require "stylex.all"

local usage = [[
usage: stylex scripts/make_shapes.lua --out DIR [options]
  --out DIR        folder to write (created if missing)
  --n N            number of images (default: the split's, 20000 train / 2000 test)
  --seed S         data seed (default 1)
  --split NAME     train (marker correlated with the label) | test (balanced)]]

local opts, given = stylex.cli.parse(arg, {out = "", n = 0, seed = 1, split = "train"}, usage,
  {required = {"out"}, options = {out = "outdir", n = "int>=1", seed = "int>=0", split = {"train", "test"}}})
local ds = stylex.data.shapes{split = opts.split, n = given.n and opts.n or nil, seed = opts.seed}
local n = ds:size()
local csv = assert(io.open(opts.out .. "/labels.csv.tmp", "w"))
csv:write("file,label,", table.concat(ds.factor_names, ","), "\n")
local factors = ds.factors:totable()
local labels = ds.labels:totable()
local images = (ds.images + 1) * 0.5
for i = 1, n do
  local file = string.format("%06d.png", i - 1)
  assert(sx.image.save(images:narrow(1, i, 1):reshape{1, 32, 32}, opts.out .. "/" .. file))
  local row = {}
  for k, v in ipairs(factors[i]) do row[k] = string.format("%.9g", v) end
  csv:write(file, ",", string.format("%d", labels[i]), ",", table.concat(row, ","), "\n")
  if i % 2000 == 0 or i == n then io.stderr:write(string.format("\rmake_shapes: %d/%d", i, n)) end
end
csv:close()
assert(os.rename(opts.out .. "/labels.csv.tmp", opts.out .. "/labels.csv"))
io.stderr:write(string.format("\nmake_shapes: wrote %d images and labels.csv to %s\n", n, opts.out))
