-- The shapes benchmark's scores (docs/benchmark.md), one JSON line on stdout:
--   build/stylex scripts/faithfulness.lua --model models/shapes [--n N]
-- "classifier": what the classifier really uses, measured by moving one
-- factor at a time in the renderer on N balanced test images, and its
-- accuracies on the correlated and the balanced split.
local cjson = require "cjson"
local cli = require "stylex.cli"
local classifier = require "stylex.classifier"
local benchmark = require "stylex.benchmark"
local data = require "stylex.data"

local usage = [[
usage: stylex scripts/faithfulness.lua --model DIR [options]
  --model DIR    a folder with classifier.safetensors trained on shapes (models/shapes)
  --n N          balanced test images to intervene on (default 2000)]]
local opts = cli.parse(arg, {model = "", n = 2000}, usage)
if opts.model == "" then
  io.stderr:write("missing --model DIR\n\n", usage, "\n")
  os.exit(2)
end
local C, meta = classifier.load(opts.model .. "/classifier.safetensors")
if meta.dataset ~= "shapes" then
  io.stderr:write("faithfulness: ", opts.model, "'s classifier was trained on '", tostring(meta.dataset),
    "', not on the shapes benchmark\n")
  os.exit(1)
end
local n = math.tointeger(opts.n)
local test = data.shapes{split = "test", n = n}
local effects = benchmark.factor_effects(C, test.factors)
local correlated, balanced = benchmark.accuracies(C, {n = n})
local out = {
  classifier = {
    factor_effects = effects,
    factors_used = benchmark.factors_used(effects),
    accuracy = correlated,
    accuracy_balanced = balanced,
    n = n,
  },
}
print(cjson.encode(out))
