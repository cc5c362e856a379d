-- scripts/screen_bounds.lua — how Screened AttFind's bound trades exact
-- columns for agreement with the exact table, on a model folder whose exact
-- effect tables are cached (scripts/explain.lua writes them):
--
--   build/stylex scripts/screen_bounds.lua --model models/fmnist-shoes [--which stylex|baseline]
--       [--quantiles 0.8,0.9,0.95] [--safeties 1,1.5,2] [--k 10]
--
-- For every (quantile, safety) it runs attfind.screened_effects with the
-- cached exact table as its oracle (the exact entries are read from it, not
-- recomputed, so a setting costs seconds) and prints the columns it would
-- evaluate and whether its top-8 and top-k picks per class are the exact
-- table's; and, once, whether subset selection on the linear estimate alone
-- gets them. One JSON line per setting on stdout.
local stylex = require "stylex.all"
local cjson = require "cjson"
local sx = require "stylex"

local usage = [[
usage: stylex scripts/screen_bounds.lua --model DIR [options]
  --model DIR        a model folder with <which>.safetensors and <which>.attfind-n<N>.safetensors
  --which NAME       stylex | baseline (default stylex)
  --n N              the table's images (default 250)
  --k K              picks per class checked (default 10)
  --quantiles LIST   comma-separated (default 0.8,0.9,0.95)
  --safeties LIST    comma-separated (default 1,1.5,2)
  --tau X            (default 0.3)
  --round N          columns evaluated per round and class (default 32)
  --initial N        columns evaluated first, by their estimate (default 16)]]
local opts = stylex.cli.parse(arg, {model = "", which = "stylex", n = 250, k = 10, quantiles = "0.8,0.9,0.95",
  safeties = "1,1.5,2", tau = 0.3, round = 32, initial = 16}, usage,
  {required = {"model"}, positive_integers = {"n", "k", "round", "initial"},
   options = {model = "dir", which = {"stylex", "baseline"}, tau = ">=0"}})
local function list(s, name)
  local out = {}
  for x in s:gmatch("[^,]+") do
    out[#out + 1] = tonumber(x) or stylex.cli.usage_error(name .. ": not a number: " .. x)
  end
  return out
end
local quantiles, safeties = list(opts.quantiles, "--quantiles"), list(opts.safeties, "--safeties")
local dir = opts.model:gsub("/+$", "")
local tpath = string.format("%s/%s.attfind-n%d.safetensors", dir, opts.which, opts.n)
stylex.cli.check({table = tpath}, "table", "file", "--model")
local exact = stylex.attfind.load(tpath)
if exact.screen then stylex.cli.die(tpath .. " is a screened table, not an exact one") end
local G, _, meta = stylex.evaluate.load_model(dir .. "/" .. opts.which .. ".safetensors")
local cpath = meta.classifier or select(3, stylex.evaluate.load_model(dir .. "/stylex.safetensors")).classifier
local C = stylex.classifier.load(cpath)
local k = math.tointeger(opts.k)

local agree, key = stylex.attfind.same_picks, stylex.attfind.pick_key
local want = stylex.attfind.per_class(exact, "subset", {k = k})

local grads = stylex.attfind.gradients(G, C, exact.latents, {noise = exact.noise})
local est = {effect = stylex.attfind.linear_effects(exact.styles, exact.style_min, exact.style_max, grads),
  base_logits = exact.base_logits, layers = exact.layers}
local est_picks = stylex.attfind.per_class(est, "subset", {k = k})
local first = {}
for c = 1, #want do
  local m = 0
  while m < k and want[c][m + 1] and est_picks[c][m + 1] and
    key({want[c][m + 1]}, 1) == key({est_picks[c][m + 1]}, 1) do m = m + 1 end
  first[c] = m
end
io.stderr:write(string.format("%s: the linear estimate alone: top-8 %s, top-%d %s; its first %s picks per class " ..
  "are the exact ones\n", opts.which, tostring(agree(est_picks, want, 8)), k, tostring(agree(est_picks, want, k)),
  table.concat(first, " / ")))
print(cjson.encode{which = opts.which, estimate_only = true, same_top8 = agree(est_picks, want, 8),
  same_topk = agree(est_picks, want, k), k = k, leading_agreement = first})

for _, q in ipairs(quantiles) do
  for _, safety in ipairs(safeties) do
    local tab = stylex.attfind.screened_effects(G, C, exact.latents, {noise = exact.noise, k = k, quantile = q,
      safety = safety, tau = opts.tau, round = math.tointeger(opts.round), initial = math.tointeger(opts.initial),
      oracle = exact})
    local got = stylex.attfind.per_class(tab, "subset", {k = k})
    local s = tab.screen
    io.stderr:write(string.format("%s quantile %.3g safety %.3g: %d of %d columns, %d entries, %d passes = %.1f%% " ..
      "of the table's; top-8 %s, top-%d %s\n", opts.which, q, safety, s.columns, exact.effect:shape()[3] * 2,
      s.entries, s.passes, 100 * s.passes / s.full_passes, tostring(agree(got, want, 8)), k,
      tostring(agree(got, want, k))))
    print(cjson.encode{which = opts.which, quantile = q, safety = safety, tau = opts.tau, k = k, columns = s.columns,
      round = opts.round, initial = opts.initial, entries = s.entries, passes = s.passes, full_passes = s.full_passes, same_top8 = agree(got, want, 8), same_topk = agree(got, want, k)})
  end
end
