-- stylex.evaluate — the reconstruction and sample-quality metrics of a
-- trained StylEx model (SPEC §3), and loaders for the files training writes.
--
--   local evaluate = require "stylex.evaluate"
--   local G, E, meta = evaluate.load("models/fmnist-shoes/stylex.safetensors")  -- or a training checkpoint
--   local r = evaluate.stylex({G = G, E = E}, classifier, test_set, {n = 1000, batch = 100})
--   -- r = {l1=, perceptual=, agreement=, fd_samples=, fd_recon=, n=}
--
-- On the first n images x of the data set (the held-out split, in order, so
-- runs compare), with C the frozen classifier and p = softmax(C(x)):
--   x' = G(E(x), p)                 the reconstruction (G unconditional for a
--                                   baseline model: no p)
--   l1         mean |x - x'| over all pixels;
--   perceptual mean over images of C:perceptual(x, x') (the LPIPS recipe on
--              the classifier's feature maps);
--   agreement  share of images with argmax C(x') == argmax C(x);
--   fd_recon   Fréchet distance between C's penultimate features of x' and x;
--   fd_samples the same for samples G(mapping(z), p), one per real image
--              (its p), against x.
-- Everything runs under sx.no_grad in batches. The global RNG is seeded with
-- opts.seed for the latents and noise and restored afterwards, so evaluating
-- in the middle of training does not change the run; the numbers depend on
-- n, batch and seed only.
local sx = require "stylex"

local evaluate = {}

-- The file's metadata (its header only), checked to name a stylex model or
-- checkpoint; the networks are built by the library (sx.models.load_stylex,
-- which reads the config).
local function read(path, fn)
  if type(path) ~= "string" then
    error(string.format("bad argument #1 to '%s' (file name expected, got %s)", fn, type(path)), 3)
  end
  local meta, err = sx.load_metadata(path)
  if not meta then error(fn .. ": " .. tostring(err), 3) end
  if type(meta.config) ~= "string" then
    error(fn .. ": " .. path .. " has no config metadata (not a stylex model or checkpoint)", 3)
  end
  return meta
end

-- G (the EMA generator) and E of the file, their parameters frozen; the
-- global RNG (used for fresh weights before they are overwritten) is left as it was.
local function build(path, fn)
  local ok, G, E, meta = pcall(sx.models.load_stylex, path)
  if not ok or not G then error(fn .. ": " .. tostring(ok and E or G), 3) end
  return G, E, meta
end

-- The shipped model written by scripts/train_stylex.lua's export()
-- (format "stylex-model-1"): EMA generator G, encoder E, and the metadata
-- (config, classes, classifier path, step, ...). Parameters do not require grad.
function evaluate.load_model(path)
  local meta = read(path, "load_model")
  if meta.format ~= "stylex-model-1" then
    error("load_model: " .. path .. " is not a shipped stylex model (format " .. tostring(meta.format) ..
      "); use evaluate.load_checkpoint or evaluate.load", 2)
  end
  return build(path, "load_model")
end

-- The EMA generator and encoder of a training checkpoint (trainer.save,
-- format "stylex-training-1") without the rest of the training state, so no
-- classifier is needed; trainer.load restores everything for resuming.
function evaluate.load_checkpoint(path)
  local meta = read(path, "load_checkpoint")
  if meta.format ~= "stylex-training-1" then
    error("load_checkpoint: " .. path .. " is not a stylex training checkpoint (format " .. tostring(meta.format) .. ")", 2)
  end
  return build(path, "load_checkpoint")
end

-- The discriminator of a training checkpoint, or of a shipped model that
-- train_stylex.lua exported with it (since AttFind's discriminator filter);
-- nil and a message when the file holds none. Parameters do not require
-- grad; the global RNG is left as it was.
function evaluate.load_discriminator(path)
  local meta = read(path, "load_discriminator")
  local t = assert(sx.load(path))
  local state = require("stylex.util").unprefix(t, "D.")
  if next(state) == nil then
    return nil, path .. " holds no discriminator (exported before models carried one; re-export it with " ..
      "train_stylex.lua --export-only from its run's checkpoint)"
  end
  local trainer = require "stylex.trainer"
  local rng = sx.rng_get_state()
  local D = sx.models.Discriminator(trainer.network_config(trainer.config(require("cjson").decode(meta.config))))
  sx.rng_set_state(rng)
  D:load_state_dict(state)
  for _, p in ipairs(D:parameters()) do p:requires_grad(false) end
  return D
end

-- Either kind of file, by its format metadata.
function evaluate.load(path)
  local meta = read(path, "load")
  if meta.format ~= "stylex-model-1" and meta.format ~= "stylex-training-1" then
    error("load: " .. path .. " has format " .. tostring(meta.format) ..
      ", expected stylex-model-1 (shipped model) or stylex-training-1 (training checkpoint)", 2)
  end
  return build(path, "load")
end

local EVAL_OPTS = {n = true, batch = true, seed = true, progress = true}

local function positive_integer(v, name)
  local i = type(v) == "number" and math.tointeger(v)
  if not i or i < 1 then
    error(string.format("bad argument #4 to 'stylex' (option '%s' must be a positive integer, got %s)", name,
      tostring(v)), 3)
  end
  return i
end

-- The metrics above. model: {G = EMA generator, E = encoder} (a training
-- state from trainer.new/load works too: its G_ema is used); classifier: the
-- frozen classifier; dataset: a stylex.data set (its first n images are used);
-- opts: n (default 1000, at most the data set's size, at least 2), batch
-- (default 100), seed (default 1234), progress (a function called as
-- progress(done, n) after each batch).
function evaluate.stylex(model, classifier, dataset, opts)
  if type(model) ~= "table" or not (model.G_ema or model.G) or not model.E then
    error("bad argument #1 to 'stylex' (table with G (or G_ema) and E expected)", 2)
  end
  if classifier == nil then error("bad argument #2 to 'stylex' (classifier expected, got nil)", 2) end
  if type(dataset) ~= "table" or type(dataset.batch) ~= "function" then
    error("bad argument #3 to 'stylex' (data set expected)", 2)
  end
  opts = opts or {}
  if type(opts) ~= "table" then error("bad argument #4 to 'stylex' (table of options expected)", 2) end
  for k in pairs(opts) do
    if not EVAL_OPTS[k] then error("bad argument #4 to 'stylex' (unknown option '" .. tostring(k) .. "')", 2) end
  end
  local G, E, C = model.G_ema or model.G, model.E, require("stylex.util").as_classifier(classifier)
  local n = math.min(positive_integer(opts.n or 1000, "n"), dataset:size())
  local batch = positive_integer(opts.batch or 100, "batch")
  local seed = positive_integer(opts.seed or 1234, "seed")
  local progress = opts.progress
  if progress ~= nil and type(progress) ~= "function" then
    error("bad argument #4 to 'stylex' (option 'progress' must be a function)", 2)
  end
  if n < 2 then error("stylex: the Fréchet distances need at least 2 images, got " .. n, 2) end
  local gcfg = G:config()
  local conditional = gcfg.n_classes > 0

  local rng = sx.rng_get_state()
  sx.manual_seed(seed)
  local ok, result = pcall(sx.no_grad, function()
    local l1_sum, perc_sum, agree, pixels = 0, 0, 0, 0
    local f_real, f_rec, f_smp = {}, {}, {}
    for first = 1, n, batch do
      local m = math.min(batch, n - first + 1)
      local idx = {}
      for i = 1, m do idx[i] = first + i - 1 end
      local x = dataset:batch(idx)
      local logits, pen = C:classify(x)
      local p = conditional and sx.softmax(logits, 2) or nil
      local rec = G:synthesis(G:latent(E:encode(x), p))
      local rec_logits, rec_pen = C:classify(rec)
      local smp = G:synthesis(G:latent(G:mapping(sx.randn{m, gcfg.z_dim}), p))
      local _, smp_pen = C:classify(smp)
      l1_sum = l1_sum + (rec - x):abs():sum():item()
      pixels = pixels + x:numel()
      perc_sum = perc_sum + C:perceptual(x, rec):sum():item()
      local a, b = logits:argmax(2):totable(), rec_logits:argmax(2):totable()
      for i = 1, m do
        if a[i] == b[i] then agree = agree + 1 end
      end
      f_real[#f_real + 1], f_rec[#f_rec + 1], f_smp[#f_smp + 1] = pen, rec_pen, smp_pen
      if progress then progress(first + m - 1, n) end
    end
    local real = sx.cat(f_real, 1)
    return {
      l1 = l1_sum / pixels,
      perceptual = perc_sum / n,
      agreement = agree / n,
      fd_recon = sx.metrics.frechet_distance(sx.cat(f_rec, 1), real),
      fd_samples = sx.metrics.frechet_distance(sx.cat(f_smp, 1), real),
      n = n,
    }
  end)
  sx.rng_set_state(rng)
  if not ok then error(result, 0) end
  return result
end

return evaluate
