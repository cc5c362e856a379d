-- scripts/explain.lua — the explanation report of a trained StylEx model
-- (SPEC §1.4-1.6): AttFind attributes per class, counterfactual strips with
-- the classifier's probabilities and Grad-CAM, sufficiency against the
-- StyleSpace baseline, reconstructions; see stylex.explain.
--
--   build/stylex scripts/explain.lua --model models/fmnist-shoes --out report/
--
-- Writes <out>/index.html (open it in a browser; no network needed),
-- <out>/report.json and the PNGs beside them. The effect tables are cached in
-- the model folder (<which>.attfind-n<N>.safetensors) and reused while the
-- model and the images are the same.
local stylex = require "stylex.all"

local usage = [[
usage: stylex scripts/explain.lua --model DIR [options]
  --model DIR          model folder: stylex.safetensors (+ baseline.safetensors, optional)
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
  --recompute          recompute the effect tables even if cached]]

local d = stylex.explain.defaults
local opts = stylex.cli.parse(arg, {model = "", out = d.out, n = d.n, k = d.k, sufficiency_k = d.sufficiency_k,
  policy = d.policy, space = d.space, max_image_effect = "", max_corr = "", unstable_filter = false,
  discriminator_filter = false, discriminator_threshold = d.discriminator_threshold, examples = d.examples, batch = d.batch, seed = d.seed,
  no_baseline = false, recompute = false}, usage,
  {required = {"model"}, positive_integers = {"n", "k", "sufficiency_k", "examples", "batch", "seed"}})
local cap = nil
if opts.max_image_effect ~= "" then
  cap = tonumber(opts.max_image_effect)
  if not cap or cap < 0 then
    io.stderr:write("--max-image-effect must be a number >= 0\n")
    os.exit(2)
  end
end
local max_corr = nil
if opts.max_corr ~= "" then
  max_corr = tonumber(opts.max_corr)
  if not max_corr or max_corr < -1 or max_corr > 1 then
    io.stderr:write("--max-corr must be a number in [-1, 1]\n")
    os.exit(2)
  end
end
if opts.space ~= "prob" and opts.space ~= "logit" then
  io.stderr:write("--space must be prob or logit\n")
  os.exit(2)
end
if opts.policy ~= "subset" and opts.policy ~= "independent" then
  io.stderr:write("--policy must be subset or independent\n")
  os.exit(2)
end

local run = {model = opts.model:gsub("/+$", ""), out = opts.out:gsub("/+$", ""), n = opts.n, k = opts.k,
  sufficiency_k = opts.sufficiency_k, policy = opts.policy, space = opts.space, max_image_effect = cap,
  max_corr = max_corr, unstable_filter = opts.unstable_filter, discriminator_filter = opts.discriminator_filter,
  discriminator_threshold = opts.discriminator_threshold,
  examples = opts.examples, batch = opts.batch, seed = opts.seed, baseline = not opts.no_baseline,
  recompute = opts.recompute, command = "build/stylex scripts/explain.lua " .. table.concat(arg, " ")}
local ok, err = pcall(stylex.explain.run, run)
if not ok then
  io.stderr:write("explain: ", tostring(err), "\n")
  os.exit(1)
end
