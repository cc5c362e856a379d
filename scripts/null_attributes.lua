-- scripts/null_attributes.lua — the shapes scores' null control: random
-- StyleSpace coordinates, measured exactly as faithfulness.lua measures
-- AttFind's attributes (benchmark.measure_attribute on the cached effect
-- table), so that a factor which dominates random moves too shows up as a
-- bias of the oracles' readings, not as something the attributes found.
--
--   build/stylex scripts/null_attributes.lua --model models/shapes [--which stylex|baseline] [--n 16]
--
-- Prints one JSON line (benchmark.null_control): {"which":, "n":,
-- "dominant": {factor: count}, "mean_change": {factor: ..}} ("none" counts
-- coordinates with no image of the other class to move).
-- Needs the effect table faithfulness.lua or explain.lua cached beside the model.
local stylex = require "stylex.all"
local cjson = require "cjson"

local usage = [[
usage: stylex scripts/null_attributes.lua --model DIR [options]
  --model DIR    a shapes model folder (models/shapes) with its cached effect tables
  --which NAME   stylex | baseline (default stylex)
  --n N          random coordinates (default 16), alternately to-min / to-max and toward class 1 / 0
  --n-attfind N  images of the cached effect table (default 250, as faithfulness.lua)
  --seed S       Lua's math.random seed for the coordinates (default 5)]]
local opts = stylex.cli.parse(arg, {model = "", which = "stylex", n = 16, seed = 5,
  n_attfind = stylex.explain.defaults.n}, usage, {required = {"model"}, positive_integers = {"n", "seed", "n_attfind"},
  options = {model = "dir", which = {"stylex", "baseline"}}})
for _, f in ipairs{opts.which .. ".safetensors", "classifier.safetensors"} do
  stylex.cli.check({f = opts.model .. "/" .. f}, "f", "file", "--model")
end
local tab_path = string.format("%s/%s.attfind-n%d.safetensors", opts.model, opts.which, opts.n_attfind)
local G = stylex.evaluate.load_model(opts.model .. "/" .. opts.which .. ".safetensors")
local C = stylex.classifier.load(opts.model .. "/classifier.safetensors")
local O = stylex.benchmark.load_oracles(opts.model .. "/oracles.safetensors")
local ok, tab = pcall(stylex.attfind.load, tab_path)
if not ok or not tab then
  stylex.cli.die("no effect table at " .. tab_path .. " (run scripts/faithfulness.lua first)")
end
math.randomseed(opts.seed)
local null = stylex.benchmark.null_control(G, C, O, tab, {n = opts.n, random = math.random,
  progress = function(i, n) io.stderr:write(string.format("\r%d/%d random coordinates", i, n)) end})
io.stderr:write("\n")
null.which = opts.which
print(cjson.encode(null))
