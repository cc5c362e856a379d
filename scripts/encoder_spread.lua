-- scripts/encoder_spread.lua — the collapse check of trained encoders: how
-- much E(x) varies over the first N held-out images against the mapping's w
-- (trainer.encoder_spread; docs/method.md, "The StyleSpace baseline").
--
--   build/stylex scripts/encoder_spread.lua models/fmnist-shoes/stylex.safetensors models/fmnist-shoes/baseline.safetensors
--
-- Each argument is a shipped model (its metadata names its classifier,
-- whose held-out split is used); prints one line per file. --n N sets the number of images (default 200).
local stylex = require "stylex.all"

local n, files = 200, {}
local i = 1
while arg[i] do
  if arg[i] == "--n" then n, i = math.tointeger(tonumber(arg[i + 1])), i + 2
  else files[#files + 1], i = arg[i], i + 1 end
end
if #files == 0 or not n or n < 2 then
  io.stderr:write("usage: stylex scripts/encoder_spread.lua [--n N] MODEL...\n")
  os.exit(2)
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
