-- scripts/explain.lua — the explanation report of a trained StylEx model
-- (SPEC §1.4-1.6): AttFind attributes per class, counterfactual strips with
-- the classifier's probabilities and Grad-CAM, sufficiency against the
-- StyleSpace baseline, reconstructions; see stylex.explain.
--
--   build/stylex scripts/explain.lua --model models/fmnist-shoes --out report/
--   build/stylex scripts/explain.lua --model models/custom --data DIR [--labels CSV]
--
-- The held-out images: the folder the model was trained on, as its metadata
-- records it (train_stylex.lua --data; its held-out split), else the
-- classifier's test split, else --data/--labels.
--
-- Writes <out>/index.html (open it in a browser; no network needed),
-- <out>/report.json and the PNGs beside them. The effect tables are cached in
-- the model folder (<which>.attfind-n<N>.safetensors) and reused while the
-- model and the images are the same.
local stylex = require "stylex.all"

local usage = [[
usage: stylex scripts/explain.lua --model DIR [options]
  --model DIR          model folder: stylex.safetensors (+ baseline.safetensors, optional); the
                       classifier is the one its metadata names
  --data DIR           held-out images from a folder of PNGs (default: the held-out split of the
                       folder the model was trained on, else the classifier's test split)
  --labels CSV         its file,label list (default DIR/labels.csv)
  --out DIR            report folder (default report)
  --n N                held-out images for AttFind and sufficiency (default 250)
  --k N                attributes shown per class (default 8)
  --sufficiency-k N    attributes applied together for sufficiency (default 10)
  --policy NAME        subset | independent (default subset)
  --space SPACE        prob | logit: what the policy reads (default prob, as the official code)
  --max-image-effect X subset selection's per-image cap (default 0.2 in prob, 1.0 in logit)
  --max-corr X         subset selection passes over an attribute whose per-image class-logit
                       effects correlate above X with an earlier pick's (default: off)
  --unstable-filter    drop images that too many coordinates move (the official filter)
  --discriminator-filter  pass over attributes whose moves change the discriminator's output by
                       more than --discriminator-threshold (the official filter; the model file must carry D)
  --discriminator-threshold X  (default 0.2, the official value)
  --examples N         images per counterfactual strip (default 3)
  --batch N            shifted copies per effect-table pass (default 64)
  --seed N             noise seed of the held-out images (default 1234)
  --no-baseline        skip the StyleSpace baseline
  --recompute          recompute the effect tables even if cached
  --screen             Screened AttFind: a backward pass ranks the columns by a linear estimate and only
                       the columns that can change the subset picks are computed exactly (cached as
                       <which>.attfind-n<N>-screened.safetensors; an exact cached table is used if there)
  --screen-quantile Q  the screening's error bound: safety x this quantile of the measured errors (default 0.9)
  --screen-safety X    (default 1.5)
  --screen-max-columns N  evaluate at most N columns per class (default: no limit; reaching it leaves the
                       picks uncertified, and the report says so)]]

local d = stylex.explain.defaults
local opts = stylex.cli.parse(arg, {model = "", out = d.out, n = d.n, k = d.k, sufficiency_k = d.sufficiency_k,
  policy = d.policy, space = d.space, max_image_effect = "", max_corr = "", unstable_filter = false,
  discriminator_filter = false, discriminator_threshold = d.discriminator_threshold, examples = d.examples, batch = d.batch, seed = d.seed,
  no_baseline = false, recompute = false, data = "", labels = "", screen = false,
  screen_quantile = d.screen_quantile, screen_safety = d.screen_safety, screen_max_columns = 0}, usage,
  {required = {"model"}, positive_integers = {"n", "k", "sufficiency_k", "examples", "batch", "seed"},
   options = {model = "dir", policy = {"subset", "independent"}, space = {"prob", "logit"},
     discriminator_threshold = ">=0", screen_quantile = "[0,1]", screen_safety = ">=0",
     screen_max_columns = "int>=0"}})
if opts.screen and (opts.policy ~= "subset" or opts.unstable_filter or opts.discriminator_filter) then
  stylex.cli.usage_error("--screen certifies the subset policy only, without --unstable-filter and " ..
    "--discriminator-filter (they read the whole table)")
end
local cap = nil
if opts.max_image_effect ~= "" then
  cap = tonumber(opts.max_image_effect)
  if not cap or not (cap >= 0) then
    stylex.cli.usage_error("--max-image-effect must be a number >= 0, got " .. opts.max_image_effect)
  end
end
local max_corr = nil
if opts.max_corr ~= "" then
  max_corr = tonumber(opts.max_corr)
  if not max_corr or not (max_corr >= -1 and max_corr <= 1) then
    stylex.cli.usage_error("--max-corr must be a number in [-1, 1], got " .. opts.max_corr)
  end
end
local folder = stylex.cli.check_data(opts)
local model_file = opts.model:gsub("/+$", "") .. "/stylex.safetensors"
if stylex.cli.kind_of(model_file) ~= "file" then stylex.cli.usage_error("--model: no " .. model_file) end
-- The report is written to <out>.tmp-<pid> beside it and swapped in whole:
-- its parent folder must be writable.
opts.out = opts.out:gsub("/+$", "")
if opts.out == "" then stylex.cli.usage_error("--out must name a folder") end
if stylex.cli.kind_of(opts.out) == "file" then stylex.cli.usage_error("--out: " .. opts.out .. " is a file, expected a folder") end
stylex.cli.check({out = opts.out:match("^(.*)/[^/]*$") or "."}, "out", "outdir", "--out's folder")

local run = {model = opts.model:gsub("/+$", ""), out = opts.out:gsub("/+$", ""), n = opts.n, k = opts.k,
  sufficiency_k = opts.sufficiency_k, policy = opts.policy, space = opts.space, max_image_effect = cap,
  max_corr = max_corr, unstable_filter = opts.unstable_filter, discriminator_filter = opts.discriminator_filter,
  discriminator_threshold = opts.discriminator_threshold,
  examples = opts.examples, batch = opts.batch, seed = opts.seed, baseline = not opts.no_baseline,
  recompute = opts.recompute, screen = opts.screen, screen_quantile = opts.screen_quantile,
  screen_safety = opts.screen_safety,
  screen_max_columns = opts.screen_max_columns > 0 and math.tointeger(opts.screen_max_columns) or nil,
  data = folder and {dir = opts.data, labels = opts.labels} or nil, command = "build/stylex scripts/explain.lua " .. table.concat(arg, " ")}
if opts.debug then return stylex.explain.run(run) end -- the host prints a traceback
local ok, err = pcall(stylex.explain.run, run)
if not ok then stylex.cli.die(tostring(err)) end
