-- scripts/encoder_spread.lua — the collapse check of trained encoders: how
-- much E(x) varies over the first N held-out images against the mapping's w
-- (trainer.encoder_spread; docs/method.md, "The StyleSpace baseline").
--
--   build/stylex scripts/encoder_spread.lua models/fmnist-shoes/stylex.safetensors models/fmnist-shoes/baseline.safetensors
--
-- Each argument is a shipped model (its metadata names its classifier,
-- whose held-out split is used); prints one line per file. --n N sets the number of images (default 200).
local stylex = require "stylex.all"

local cli = stylex.cli
local n, files = 200, {}
local i = 1
while arg[i] do
  if arg[i] == "--n" then n, i = math.tointeger(tonumber(arg[i + 1] or "")), i + 2
    if not n or n < 2 then cli.usage_error("--n must be an integer >= 2, got " .. tostring(arg[i - 1])) end
  elseif arg[i] == "--debug" then i = i + 1
  elseif arg[i] == "--help" or arg[i] == "-h" then
    print("usage: stylex scripts/encoder_spread.lua [--n N] MODEL...")
    os.exit(0)
  elseif arg[i]:match("^%-%-") and not cli.kind_of(arg[i]) then cli.usage_error("unknown option " .. arg[i])
  else files[#files + 1], i = arg[i], i + 1 end
end
if #files == 0 then cli.usage_error("no MODEL file given") end
for _, path in ipairs(files) do
  local k = cli.kind_of(path)
  if k ~= "file" then cli.usage_error("cannot read the model " .. path) end
end
for _, path in ipairs(files) do
  local G, E, meta = stylex.evaluate.load(path)
  if not meta.classifier then error(path .. ": no classifier in its metadata (a shipped model is needed)", 0) end
  local _, cmeta = stylex.classifier.load(meta.classifier)
  local ds = stylex.classifier.test_set(cmeta)
  local idx = {}
  for k = 1, math.min(n, ds:size()) do idx[k] = k end
  local e, m = stylex.trainer.encoder_spread(G, E, ds:batch(idx))
  print(string.format("%s (step %s): E(x) spread %.4f, mapping w spread %.4f over %d held-out images", path,
    meta.step, e, m, #idx))
end
