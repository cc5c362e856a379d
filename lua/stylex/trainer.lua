-- stylex.trainer — StylEx training, written in Lua from the library's ops and
-- models so that an ablation is an edit to this file (SPEC §1.3).
--
--   local trainer = require "stylex.trainer"
--   local cfg = trainer.config{preset = "fmnist-shoes"}     -- every number a default
--   local S = trainer.new(cfg, classifier_module)           -- or trainer.load(path, classifier)
--   for each batch x: trainer.step(S, x)                    -- D phase, then G+E phase
--   trainer.save(S, path)                                   -- exact-resume checkpoint
--
-- One step, batch B of real images x (first half feeds the random path, the
-- second the encoder path); p = softmax(C(x)), the frozen classifier:
--   D phase: fakes (random: G(mapping(z), p1); encoder: G(E(x2), p2)) under
--     no_grad; non-saturating logistic loss; every r1_interval steps the lazy
--     R1 penalty gamma/2 * |grad_x D(x, p)|^2 * r1_interval by double backward.
--   G phase (G and E): adversarial loss on both paths, plus on the encoder
--     path 1.0 L1(x, x') + 0.1 P(x, x') + 0.1 L1(E(x), E(x')) + 1.0 KL(C(x) || C(x')).
--     With cfg.w_latent > 0 also the latent regression w_latent * L1(E(G(w)), w)
--     on fresh random w (images made without a graph: only E learns from it;
--     not in the paper, see trainer.latent_regression).
--   EMA of the generator.
-- Optional style mixing on the random path (cfg.style_mixing, default 0).
-- Under mpirun (sx.dist.size() > 1) every rank is given the same global
-- batch, keeps its shard of each half, draws every random tensor at the
-- global size and keeps the same rows, and averages the gradients of D, G
-- and E over the ranks before the same Adam step (see "Data parallelism"
-- below and docs/scale-out.md).
-- With cfg.baseline the classifier does not condition G or D and there is no
-- KL term: the "StyleSpace baseline". The perceptual term, a reconstruction
-- loss, stays. Two defaults differ for the baseline, because its
-- unconditioned encoder collapsed to one output otherwise (docs/method.md):
-- cfg.wrec_detach holds E(x) constant in the w-reconstruction term (only
-- E(x') is pulled toward it), and the encoder learns at G's rate.
local sx = require "stylex"
local cjson = require "cjson"
local util = require "stylex.util"

local trainer = {}

-- Defaults (SPEC §1.3). Presets only choose the data.
local DEFAULTS = {
  resolution = 32, img_channels = 1, z_dim = 128, w_dim = 128, mapping_layers = 8,
  channels = nil,            -- nil: the library's rule for the resolution
  batch = 32,                -- half random path, half encoder path
  lr = 0.0025, betas = {0.0, 0.99}, eps = 1e-8,
  lr_encoder = nil,          -- nil: lr / 10 for StylEx, lr for the baseline (see above)
  r1_gamma = 0.01, r1_interval = 16,
  w_l1 = 1.0, w_perceptual = 0.1, w_wrec = 0.1, w_kl = 1.0,
  ema_kimg = 10, ema_rampup = 0.05,
  style_mixing = 0,          -- probability of style mixing on the random path (StyleGAN2: 0.9)
  w_class_l1 = 0,            -- L1 on the class-probability columns of the style affines (not in the paper)
  w_latent = 0,              -- latent regression of the encoder on generated images (not in the paper)
  class_dropout = 0,         -- probability that an encoder-path image's class input is uniform (not in the paper)
  baseline = false,
  wrec_detach = nil,         -- nil: true for the baseline (see above), false for StylEx
  seed = 1,
}

function trainer.config(overrides)
  local cfg = {}
  for k, v in pairs(DEFAULTS) do cfg[k] = v end
  for k, v in pairs(overrides or {}) do cfg[k] = v end
  if cfg.wrec_detach == nil then cfg.wrec_detach = cfg.baseline end
  if cfg.lr_encoder == nil then cfg.lr_encoder = cfg.baseline and cfg.lr or cfg.lr / 10 end
  if cfg.batch < 4 or cfg.batch % 2 ~= 0 then error("trainer.config: batch must be even and >= 4", 2) end
  return cfg
end

-- The sx.models config of G, D and E for a training config (also used by
-- stylex.evaluate to rebuild the networks of a saved model).
local function network_config(cfg)
  return {resolution = cfg.resolution, img_channels = cfg.img_channels, z_dim = cfg.z_dim, w_dim = cfg.w_dim,
    mapping_layers = cfg.mapping_layers, channels = cfg.channels,
    n_classes = cfg.baseline and 0 or cfg.n_classes}
end
trainer.network_config = network_config

local function set_requires_grad(module, on)
  for _, p in ipairs(module:parameters()) do p:requires_grad(on) end
end

-- A fresh training state. C: the frozen classifier (sx.models.load_classifier's,
-- or a CNN module; used through the classifier interface either way).
function trainer.new(cfg, C)
  C = require("stylex.util").as_classifier(C)
  if not cfg.n_classes then cfg.n_classes = C:config().n_classes end
  sx.manual_seed(cfg.seed)
  local net = network_config(cfg)
  local S = {cfg = cfg, C = C, step = 0}
  S.G = sx.models.Generator(net)
  S.G_ema = sx.models.Generator(net)
  sx.nn.copy_params(S.G_ema, S.G)
  set_requires_grad(S.G_ema, false)
  S.D = sx.models.Discriminator(net)
  S.E = sx.models.Encoder(net)
  set_requires_grad(C, false)
  -- lazy regularisation: D's Adam sees R1 once every r1_interval steps, so
  -- its lr and betas are adjusted as in StyleGAN2
  local c = cfg.r1_interval / (cfg.r1_interval + 1)
  local betas = cfg.betas
  S.opt_G = sx.optim.Adam(S.G:parameters(), {lr = cfg.lr, betas = betas, eps = cfg.eps})
  S.opt_E = sx.optim.Adam(S.E:parameters(), {lr = cfg.lr_encoder, betas = betas, eps = cfg.eps})
  S.opt_D = sx.optim.Adam(S.D:parameters(), {lr = cfg.lr * c, betas = {betas[1] ^ c, betas[2] ^ c}, eps = cfg.eps})
  return S
end

-- Class probabilities of real images (constants), or nil for the baseline.
local function probs(S, x)
  if S.cfg.baseline then return nil end
  return sx.no_grad(function() return sx.softmax(S.C:logits(x), 2) end)
end

local function halves(t)
  local n = t:shape()[1] // 2
  return t:narrow(1, 1, n), t:narrow(1, n + 1, t:shape()[1] - n)
end

-- The batch split in two: x1, x2 and their probabilities p1, p2 (nil for the
-- baseline): half the images for samples, half for reconstructions.
local function split_batch(x, p)
  local x1, x2 = halves(x)
  if not p then return x1, x2 end
  local p1, p2 = halves(p)
  return x1, x2, p1, p2
end

-- ---------------------------------------------------------------- data parallelism
-- With R ranks, rank r keeps of each half-batch (h rows, global order) the
-- rows m * n_h + r * k + (1 .. k), m = 0 .. g-1, where g is D's minibatch-
-- stddev group, n_h = h / g and k = n_h / R: D groups row i with rows
-- i + n_h, i + 2 n_h, ... (of its batch), so these rows, in this order, put
-- every sample in the same group on its rank as in the one-process batch,
-- for D's batches of h (G phase) and 2h rows (D phase) alike. Every random
-- tensor with a batch dimension is drawn at its global size on every rank
-- (the RNGs stay in step) and cut the same way, so a rank computes exactly
-- its rows of the one-process step, and the mean of the ranks' gradients is
-- the one-process gradient up to float summation order.
-- trainer.dist_check_every: every so many steps the ranks compare a hash of
-- all parameters and stop with an error naming the ranks that differ.
trainer.dist_check_every = 100

-- The rank's rows of a global half-batch tensor t (S.dist set: in a step).
local function shard(S, t)
  local d = S.dist
  if not d then return t end
  local h = t:shape()[1]
  local g = d.group
  local n_h = h // g
  local k = n_h // d.size
  if h % (g * d.size) ~= 0 then
    error(string.format("trainer: half-batch of %d rows cannot be split over %d ranks in groups of %d", h, d.size, g), 2)
  end
  local parts = {}
  for m = 0, g - 1 do parts[#parts + 1] = t:narrow(1, m * n_h + d.rank * k + 1, k) end
  return #parts == 1 and parts[1] or sx.cat(parts, 1)
end
trainer.shard = shard

-- n rows (local) of N(0, 1) of width d: the rank's rows of the global draw.
local function randn_rows(S, n, d)
  if not S.dist then return sx.randn{n, d} end
  return shard(S, sx.randn{n * S.dist.size, d})
end

-- Synthesis noise for n local rows, or nil (G draws its own) in one process.
local function noise_rows(S, G, n)
  if not S.dist then return nil end
  local noise = G:noise(n * S.dist.size)
  for l = 1, #noise do noise[l] = shard(S, noise[l]) end
  return noise
end

local function synthesize(S, G, lat)
  local noise = noise_rows(S, G, lat:shape()[1])
  if noise then return G:synthesis(lat, noise) end
  return G:synthesis(lat)
end

-- The mean over the ranks of each number of a loss table (keys in sorted
-- order, the same on every rank): the log and the NaN guard then see the
-- one-process values, and every rank takes the same branch.
local function mean_losses(S, out)
  if not S.dist then return out end
  local keys = {}
  for k in pairs(out) do keys[#keys + 1] = k end
  table.sort(keys)
  local v = {}
  for i, k in ipairs(keys) do v[i] = out[k] end
  local t = sx.dist.allreduce(sx.tensor(v), "mean"):totable()
  for i, k in ipairs(keys) do out[k] = t[i] end
  return out
end

-- Averages the gradients of the modules' parameters over the ranks (one
-- bucketed allreduce).
local function mean_grads(S, modules)
  if not S.dist then return end
  local grads = {}
  for _, m in ipairs(modules) do
    for _, p in ipairs(m:parameters()) do
      local g = p.grad
      if g then grads[#grads + 1] = g end
    end
  end
  if #grads > 0 then sx.dist.allreduce(grads, "mean") end
end

-- Every parameter of the training state (networks, EMA), for the hash check.
function trainer.all_parameters(S)
  local list = {}
  for _, m in ipairs{S.G, S.G_ema, S.D, S.E} do
    for _, p in ipairs(m:parameters()) do list[#list + 1] = p end
  end
  return list
end

local function random_latent(S, G, n, p)
  local z = randn_rows(S, n, S.cfg.z_dim)
  return G:latent(G:mapping(z), p)
end

-- Random-path images. With probability cfg.style_mixing the whole batch
-- mixes: from a random w index on (1 .. L-1, the StyleGAN2 indexing: conv
-- layer l has index l - 1, the toRGB of level k index 2k - 1), the styles come
-- from a second latent with the same class probabilities. With style_mixing
-- 0 no extra random number is drawn, so runs without it are unaffected.
local function random_images(S, G, n, p)
  local lat = random_latent(S, G, n, p)
  if S.cfg.style_mixing <= 0 or sx.rand{1}:item() >= S.cfg.style_mixing then return synthesize(S, G, lat) end
  local a, b = G:styles(lat), G:styles(random_latent(S, G, n, p))
  local L = #a.conv
  local cutoff = math.min(L - 1, math.floor(sx.rand{1}:item() * (L - 1)) + 1)
  local mixed = {conv = {}, rgb = {}}
  for l = 1, L do mixed.conv[l] = l - 1 >= cutoff and b.conv[l] or a.conv[l] end
  for k = 1, #a.rgb do mixed.rgb[k] = 2 * k - 1 >= cutoff and b.rgb[k] or a.rgb[k] end
  local noise = noise_rows(S, G, n)
  if noise then return G:from_styles(mixed, {noise = noise}) end
  return G:from_styles(mixed)
end

-- The class input of the encoder path. With cfg.class_dropout q > 0 each
-- image's class probabilities are replaced by the uniform distribution with
-- probability q, while its KL target and D's condition stay C(x): on those
-- images the generator can only satisfy the classifier through E(x). With
-- two classes the class input adds exactly one StyleSpace direction (the
-- style affines are linear in it, and p1 = 1 - p0), used by both classes
-- with opposite signs; the dropout asks for the class to be drawn from w
-- as well (docs/method.md). q = 0 draws no random number.
function trainer.encoder_class_input(S, p)
  local q = S.cfg.class_dropout or 0
  if not p or q <= 0 then return p end
  local n, K = p:shape()[1], p:shape()[2]
  local r = (S.dist and shard(S, sx.rand{n * S.dist.size}) or sx.rand{n}):totable()
  local keep, drop = {}, {}
  for i = 1, n do
    local d = r[i] < q
    keep[i], drop[i] = {d and 0 or 1}, {d and 1 / K or 0}
  end
  return p * sx.tensor(keep) + sx.tensor(drop)
end

-- The encoder path: x' = G(E(x), p) and the w it used.
function trainer.reconstruct(S, G, x, p)
  local w = S.E:encode(x)
  return synthesize(S, G, G:latent(w, p)), w
end

local function softplus_mean(t) return sx.softplus(t):mean() end

-- Sum of |W[:, w_dim + 1 ..]| over G's style affines: the weights through
-- which the class probabilities set the styles. With cfg.w_class_l1 > 0 it
-- is penalised, so that a class moves few StyleSpace coordinates (what
-- AttFind can find with few attributes) instead of all of them a little.
function trainer.class_l1(S, G)
  local total
  local w_dim = S.cfg.w_dim
  for name, W in pairs(sx.nn.named_parameters(G or S.G)) do
    if name:match("affine%.weight$") then
      local cols = W:shape()[2] - w_dim
      if cols > 0 then
        local a = W:narrow(2, w_dim + 1, cols):abs():sum()
        total = total and total + a or a
      end
    end
  end
  return total
end

-- The w-reconstruction term L1(E(x'), E(x)), w = E(x). With cfg.wrec_detach
-- w is a constant here: E(x') is pulled toward E(x), but E(x) is not pulled
-- toward E(x'), the pull that shrinks both toward one output (a constant
-- encoder makes the term zero).
function trainer.w_reconstruction(S, rec, w)
  return sx.l1_loss(S.E:encode(rec), S.cfg.wrec_detach and w:detach() or w)
end

-- The latent regression L1(E(G(w, p)), w): n random w = mapping(z), their
-- images made by G under no_grad (so only the encoder learns from the term),
-- with p the given class probabilities. Unlike the reconstruction terms its
-- target varies as much as the mapping's w does, so a constant encoder pays
-- for it: a pull against the collapse of E (docs/method.md).
function trainer.latent_regression(S, G, n, p)
  local w, img = sx.no_grad(function()
    local w = G:mapping(randn_rows(S, n, S.cfg.z_dim))
    return w, synthesize(S, G, G:latent(w, p))
  end)
  return sx.l1_loss(S.E:encode(img), w)
end

-- The encoder fit (scripts/fit_encoder.lua): after training, E alone learns
-- to invert the frozen EMA generator G on the encoder path's image terms,
-- w_l1 L1(x, x') + w_perceptual P(x, x'), x' = G(E(x), p), without the
-- adversarial term and without the KL (with it the fit kept less of every
-- factor, docs/method.md). Trained jointly, the shapes encoders collapsed
-- while G, which co-adapts, kept the images plausible; the fit is a
-- two-stage inversion. Returns the loss and a table of its parts (numbers).
-- G's parameters must not require grad.
function trainer.encoder_fit_loss(G, E, C, x, cfg)
  local p = G:config().n_classes > 0 and sx.no_grad(function() return sx.softmax(C:logits(x), 2) end) or nil
  local rec = G:synthesis(G:latent(E:encode(x), p))
  local l1 = sx.l1_loss(rec, x)
  local perc = C:perceptual(x, rec):mean()
  return l1 * cfg.w_l1 + perc * cfg.w_perceptual, {rec_l1 = l1:item(), rec_perceptual = perc:item()}
end

-- How much the encoder's w varies over the images x against the mapping's w
-- (of generator G, over as many random z): the standard deviation over the
-- images, averaged over w's dimensions. An encoder whose spread is a small
-- fraction of the mapping's has collapsed toward one output (every
-- reconstruction alike). Works on a training state's (S.G_ema, S.E) and on a
-- shipped model's networks; the global RNG is left as it was.
function trainer.encoder_spread(G, E, x)
  local function spread(w)
    local d = w - w:mean(1, true)
    return (d * d):mean(1):sqrt():mean():item()
  end
  return sx.no_grad(function()
    local state = sx.rng_get_state()
    sx.manual_seed(7)
    local m = spread(G:mapping(sx.randn{x:shape()[1], G:config().z_dim}))
    sx.rng_set_state(state)
    return spread(E:encode(x)), m
  end)
end

local function finite(losses)
  for _, v in pairs(losses) do
    if v ~= v or v == math.huge or v == -math.huge then return false end
  end
  return true
end

-- D phase. Returns a table of the losses (numbers).
function trainer.d_step(S, x, p)
  local cfg = S.cfg
  local x1, x2, p1, p2 = split_batch(x, p)
  local fake = sx.no_grad(function()
    local f1 = random_images(S, S.G, x1:shape()[1], p1)
    local f2 = trainer.reconstruct(S, S.G, x2, trainer.encoder_class_input(S, p2))
    return sx.cat({f1, f2}, 1)
  end)
  set_requires_grad(S.D, true)
  local loss_fake = softplus_mean(S.D:discriminate(fake, p))
  local loss_real = softplus_mean(-S.D:discriminate(x, p))
  local loss = loss_fake + loss_real
  local out = {d_fake = loss_fake:item(), d_real = loss_real:item()}
  if S.step % cfg.r1_interval == 0 then
    local xr = x:detach():requires_grad(true)
    local d = S.D:discriminate(xr, p)
    local g = sx.grad(d:sum(), xr, {create_graph = true})
    local r1 = (g * g):sum({2, 3, 4}):mean() * (cfg.r1_gamma / 2 * cfg.r1_interval)
    loss = loss + r1
    out.r1 = r1:item() / cfg.r1_interval
  end
  mean_losses(S, out)
  if not finite(out) then return out end -- the NaN guard: no update from a bad loss
  S.opt_D:zero_grad()
  loss:backward()
  mean_grads(S, {S.D})
  S.opt_D:step()
  return out
end

-- G phase (generator and encoder).
function trainer.g_step(S, x, p)
  local cfg = S.cfg
  local x1, x2, p1, p2 = split_batch(x, p)
  set_requires_grad(S.D, false)
  local fake = random_images(S, S.G, x1:shape()[1], p1)
  local rec, w = trainer.reconstruct(S, S.G, x2, trainer.encoder_class_input(S, p2))
  local adv = softplus_mean(-S.D:discriminate(fake, p1)) + softplus_mean(-S.D:discriminate(rec, p2))
  local l1 = sx.l1_loss(rec, x2)
  local wrec = trainer.w_reconstruction(S, rec, w)
  local loss = adv + l1 * cfg.w_l1 + wrec * cfg.w_wrec
  local out = {g_adv = adv:item(), rec_l1 = l1:item(), rec_w = wrec:item()}
  if cfg.w_perceptual ~= 0 then
    local perc = S.C:perceptual(x2, rec):mean()
    loss = loss + perc * cfg.w_perceptual
    out.rec_perceptual = perc:item()
  end
  if cfg.w_latent ~= 0 then
    local lat = trainer.latent_regression(S, S.G, x2:shape()[1], p2)
    loss = loss + lat * cfg.w_latent
    out.latent = lat:item()
  end
  if cfg.w_class_l1 ~= 0 and not cfg.baseline then
    local pen = trainer.class_l1(S)
    loss = loss + pen * cfg.w_class_l1
    out.class_l1 = pen:item()
  end
  if not cfg.baseline then
    local log_p = sx.no_grad(function() return sx.log_softmax(S.C:logits(x2), 2) end)
    local kl = sx.kl_div(log_p, sx.log_softmax(S.C:logits(rec), 2))
    loss = loss + kl * cfg.w_kl
    out.kl = kl:item()
  end
  mean_losses(S, out)
  if not finite(out) then return out end
  S.opt_G:zero_grad()
  S.opt_E:zero_grad()
  loss:backward()
  mean_grads(S, {S.G, S.E})
  S.opt_G:step()
  S.opt_E:step()
  return out
end

local function ema_update(S)
  local cfg = S.cfg
  local nimg = (S.step + 1) * cfg.batch
  local ema_nimg = math.min(cfg.ema_kimg * 1000, nimg * cfg.ema_rampup)
  local beta = 0.5 ^ (cfg.batch / math.max(ema_nimg, 1e-8))
  sx.nn.ema_update(S.G_ema, S.G, beta)
end

-- One training step on the real batch x (the global batch: under mpirun each
-- rank is given all of it and keeps its shard). Returns the losses, or nil
-- and a message when a loss is not finite (the NaN guard: the phase that saw
-- the bad value updates nothing, and the caller stops or reloads).
function trainer.step(S, x)
  local R = sx.dist.size()
  if R > 1 then
    local group = S.D:config().mbstd_group or 0
    S.dist = {rank = sx.dist.rank(), size = R, group = group > 0 and group or 1}
    local x1, x2 = halves(x)
    x = sx.cat({shard(S, x1), shard(S, x2)}, 1)
  end
  local p = probs(S, x)
  local d = trainer.d_step(S, x, p)
  if not finite(d) then S.dist = nil; return nil, "non-finite discriminator loss at step " .. S.step end
  local g = trainer.g_step(S, x, p)
  S.dist = nil
  if not finite(g) then return nil, "non-finite generator loss at step " .. S.step end
  ema_update(S)
  S.step = S.step + 1
  if R > 1 and S.step % trainer.dist_check_every == 0 then
    sx.dist.check_equal(trainer.all_parameters(S), "parameters after step " .. S.step)
  end
  for k, v in pairs(d) do g[k] = v end
  return g
end

-- ---------------------------------------------------------------- checkpoints

local prefixed, unprefix = util.prefixed, util.unprefix

-- Writes everything a resumed run needs: networks, optimiser states, step,
-- RNG state, config (atomically: sx.save writes a temporary file and renames;
-- it also removes the temporaries that killed processes left beside path).
-- The config is JSON with sorted keys, so two processes at the same state
-- write the same bytes.
function trainer.save(S, path, extra_meta)
  local t = {}
  prefixed(t, "G.", S.G:state_dict())
  prefixed(t, "G_ema.", S.G_ema:state_dict())
  prefixed(t, "D.", S.D:state_dict())
  prefixed(t, "E.", S.E:state_dict())
  prefixed(t, "opt_G.", S.opt_G:state_dict())
  prefixed(t, "opt_D.", S.opt_D:state_dict())
  prefixed(t, "opt_E.", S.opt_E:state_dict())
  -- RNG words as hex: JSON numbers would round 64-bit integers
  local rng = {}
  for i, v in ipairs(sx.rng_get_state()) do rng[i] = string.format("%016x", v) end
  local meta = {format = "stylex-training-1", config = util.encode_sorted(S.cfg), step = tostring(S.step),
    rng = table.concat(rng, " ")}
  for k, v in pairs(extra_meta or {}) do meta[k] = v end
  assert(sx.save(path, t, meta))
end

-- The shipped model (format "stylex-model-1"): the EMA generator as G.*, the
-- encoder as E.*, the discriminator as D.* (AttFind's discriminator filter
-- reads it: evaluate.load_discriminator), config and step; `meta` adds entries (classifier path,
-- classes, class_names, dataset, command, eval, ...), strings only.
-- evaluate.load_model reads it back.
function trainer.export(S, path, meta)
  local t = {}
  prefixed(t, "G.", S.G_ema:state_dict())
  prefixed(t, "E.", S.E:state_dict())
  prefixed(t, "D.", S.D:state_dict()) -- for AttFind's discriminator filter
  local m = {}
  for k, v in pairs(meta or {}) do m[k] = v end
  m.format, m.config, m.step, m.baseline = "stylex-model-1", util.encode_sorted(S.cfg), tostring(S.step),
    tostring(S.cfg.baseline)
  local ok, err = sx.save(path, t, m)
  if not ok then error("trainer.export: " .. tostring(err), 2) end
end

-- A training state restored from trainer.save's file (C: the classifier).
-- A file that is not such a checkpoint, or one made for another image size,
-- channel count or class count than C's, is an error naming the file.
function trainer.load(path, C)
  local function bad(msg) error("trainer.load: " .. path .. ": " .. msg, 0) end
  local t, meta = sx.load(path)
  if not t then bad(tostring(meta)) end
  if meta.format ~= "stylex-training-1" then
    bad("not a stylex training checkpoint (format " .. tostring(meta.format) .. ", expected stylex-training-1)")
  end
  local ok, saved = pcall(cjson.decode, meta.config or "")
  if not ok or type(saved) ~= "table" then bad("its config metadata is missing or not JSON") end
  local step = math.tointeger(tonumber(meta.step or ""))
  if not step or step < 0 then bad("its step metadata is missing or not a count") end
  local rng = {}
  for word in (meta.rng or ""):gmatch("%x+") do rng[#rng + 1] = math.tointeger(tonumber(word, 16)) end
  if #rng == 0 then bad("its rng metadata is missing") end
  -- defaults fill keys added since the checkpoint was written
  local cfg = trainer.config(saved)
  if C then
    local cc = C:config()
    -- an ONNX classifier resizes and converts the GAN's images itself
    local ok, info = pcall(function() return C:info() end)
    local resizes = ok and type(info) == "table" and info.kind == "onnx"
    for _, k in ipairs{"resolution", "img_channels"} do
      if not resizes and cfg[k] ~= cc[k] then
        bad(string.format("made for %s %g, the classifier has %g", k, cfg[k], cc[k]))
      end
    end
    if not cfg.baseline and cfg.n_classes ~= cc.n_classes then
      bad(string.format("made for %g classes, the classifier has %g", cfg.n_classes, cc.n_classes))
    end
  end
  local S = trainer.new(cfg, C)
  for _, part in ipairs{"G", "G_ema", "D", "E", "opt_G", "opt_D", "opt_E"} do
    local lok, err = pcall(S[part].load_state_dict, S[part], unprefix(t, part .. "."))
    if not lok then bad(part .. ": " .. tostring(err)) end
  end
  S.step = step
  sx.rng_set_state(rng)
  return S, meta
end

return trainer
