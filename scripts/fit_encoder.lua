-- scripts/fit_encoder.lua — the encoder fit: a shipped StylEx (or baseline)
-- model's encoder learns alone to invert its frozen EMA generator, on the
-- reconstruction L1 and perceptual terms of training (no adversarial, no KL)
-- (trainer.encoder_fit_loss; docs/method.md, "The encoder fit").
--
--   build/stylex scripts/fit_encoder.lua --model models/shapes/stylex.safetensors [--steps 2000]
--
-- Rewrites the model file (atomically) with the fitted encoder; the generator
-- is unchanged. The metadata's command gains this step, and "encoder_fit"
-- records the settings. The images come from the classifier's training split
-- in a fixed order, so the fit is a function of the model and the options.
-- Minutes, not hours: no checkpoints.
local sx = require "stylex"
local cjson = require "cjson"
local sorted = require("stylex.util").encode_sorted -- metadata: the same bytes in every process
local stylex = require "stylex.all"

local usage = [[
usage: stylex scripts/fit_encoder.lua --model FILE [options]
  --model FILE   a shipped model (models/<preset>/stylex.safetensors or baseline.safetensors)
  --steps N      encoder updates (default 2000)
  --batch N      training images per update (default 16, the encoder path's half batch)
  --lr X         Adam rate, betas (0, 0.99) (default 0.001)
  --seed N       order of the training images (default 1)
  --data DIR --labels CSV   fit on an image folder (a model trained with train_stylex.lua --data)
  --out FILE     write here instead of rewriting --model]]
local opts = stylex.cli.parse(arg, {model = "", steps = 2000, batch = 16, lr = 0.001, seed = 1, data = "", labels = "",
  out = ""}, usage, {required = {"model"}, positive_integers = {"steps", "batch", "seed"},
  options = {model = "file", lr = ">0", data = "dir", labels = "file", out = "outfile"}})
if opts.labels ~= "" and opts.data == "" then stylex.cli.usage_error("--labels needs --data DIR") end
local out = opts.out ~= "" and opts.out or opts.model

local G, E, meta = stylex.evaluate.load_model(opts.model)
if not meta.classifier then
  stylex.cli.die(opts.model .. ": no classifier in its metadata (a shipped model is needed)")
end
local C, cmeta = stylex.classifier.load(meta.classifier)
for _, p in ipairs(C:parameters()) do p:requires_grad(false) end
for _, p in ipairs(E:parameters()) do p:requires_grad(true) end
local cfg = stylex.trainer.config(cjson.decode(meta.config))
local train_set
if opts.data ~= "" then
  local ccfg = C:config()
  train_set = stylex.data.image_folder{dir = opts.data, labels = opts.labels ~= "" and opts.labels or nil,
    size = ccfg.resolution, channels = ccfg.img_channels}
else
  if cmeta.dataset ~= "fashion-mnist" and cmeta.dataset ~= "shapes" then
    stylex.cli.usage_error(string.format("%s was trained on '%s', not a named data set: give --data and --labels",
      meta.classifier, tostring(cmeta.dataset)))
  end
  train_set = stylex.data.named(cmeta.dataset, "train", cjson.decode(cmeta.classes))
end
if train_set:size() < opts.batch then
  stylex.cli.usage_error(string.format("--batch %d is more than the %d training images", opts.batch, train_set:size()))
end

local optim = sx.optim.Adam(E:parameters(), {lr = opts.lr, betas = {0.0, 0.99}, eps = cfg.eps})
local n = train_set:size()
local per_pass = n // opts.batch
local progress = stylex.cli.progress(opts.steps, "fit encoder", 2.0)
local avg = {}
io.stderr:write(string.format("%s (step %s): fitting the encoder to the frozen generator, %d updates of %d images\n",
  opts.model, tostring(meta.step), opts.steps, opts.batch))
for step = 1, opts.steps do
  local pass, k = (step - 1) // per_pass, (step - 1) % per_pass
  local perm = stylex.data.permutation(n, opts.seed * 100003 + pass)
  local idx = {}
  for i = 1, opts.batch do idx[i] = perm[k * opts.batch + i] end
  local loss, parts = stylex.trainer.encoder_fit_loss(G, E, C, train_set:batch(idx), cfg)
  optim:zero_grad()
  loss:backward()
  optim:step()
  for key, v in pairs(parts) do avg[key] = avg[key] and 0.98 * avg[key] + 0.02 * v or v end
  progress(step, string.format("L1 %.4f P %.4f", avg.rec_l1, avg.rec_perceptual))
end

local tensors, m = assert(sx.load(opts.model))
require("stylex.util").prefixed(tensors, "E.", E:state_dict())
local fit = {steps = opts.steps, batch = opts.batch, lr = opts.lr, seed = opts.seed}
m.encoder_fit = sorted(fit)
m.command = (m.command or "?") .. " && build/stylex scripts/fit_encoder.lua " .. table.concat(arg, " ")
m.eval = nil -- the figures were of the old encoder
local ok, err = sx.save(out, tensors, m)
if not ok then stylex.cli.die(tostring(err)) end
print("wrote " .. out)
