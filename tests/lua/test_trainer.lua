-- tests/lua/test_trainer.lua — StylEx training and evaluation on a tiny
-- config (8x8 images, channels {16, 16}, 2 mapping layers, z/w 16, a random
-- 2-class classifier), all in a few seconds:
--   overfitting 8 images with trainer.step drives the reconstruction L1 down;
--   N steps straight == N/2 + trainer.save + trainer.load + N/2, every tensor
--   (networks, EMA, optimiser states) and the RNG state bit for bit;
--   the latent regression (cfg.w_latent) trains only the encoder, and trained
--   alone it drives L1(E(G(w)), w) down; the encoder fit lowers the
--   reconstruction L1 through a frozen G, and scripts/fit_encoder.lua changes
--   a model's encoder only;
--   the NaN guard: a NaN image makes trainer.step return nil and a message and
--   changes nothing;
--   stylex.evaluate: an oracle model gives the known values, a tiny model gives
--   all six fields in range, deterministically, without moving the global RNG;
--   the loaders, and scripts/eval_stylex.lua and scripts/train_stylex.lua
--   (a baseline on an image folder, resumed) end to end.
local T = dofile("tests/lua/harness.lua")
local sx = require "stylex"
local cjson = require "cjson"
local stylex = require "stylex.all"
local trainer = require "stylex.trainer" -- the module under test

local RES = 8

-- n distinct images [n, 1, RES, RES] in [-1, 1]: a bright rectangle whose
-- position, height and brightness depend on the index, on a -1 background.
local function rectangles(n)
  local out = {}
  for i = 1, n do
    local img = {}
    for y = 1, RES do
      img[y] = {}
      for x = 1, RES do
        local x0, y0 = (i * 3) % (RES // 2) + 1, (i * 5) % (RES // 2) + 1
        local inside = x >= x0 and x < x0 + RES // 2 and y >= y0 and y < y0 + RES // 3 + (i % 3)
        img[y][x] = inside and (0.2 + 0.1 * (i % 4)) or -1
      end
    end
    out[i] = { img }
  end
  return sx.tensor(out)
end

local function tiny_classifier()
  sx.manual_seed(5)
  return sx.models.Classifier{ n_classes = 2, resolution = RES, channels = { 4 }, hidden = 8 }
end

local function tiny_config(over)
  local c = { resolution = RES, channels = { 16, 16 }, z_dim = 16, w_dim = 16, mapping_layers = 2, batch = 8 }
  for k, v in pairs(over or {}) do c[k] = v end
  return trainer.config(c)
end

-- Every tensor of a training state, by "part.name".
local function all_state(S)
  local out = {}
  for _, part in ipairs{ "G", "G_ema", "D", "E", "opt_G", "opt_D", "opt_E" } do
    for name, t in pairs(S[part]:state_dict()) do out[part .. "." .. name] = t end
  end
  return out
end

-- Names whose tensors differ in shape or in any bit of any value (NaN equals NaN).
local function differences(a, b)
  local diff = {}
  for name, ta in pairs(a) do
    local tb = b[name]
    local same = tb ~= nil and #ta:shape() == #tb:shape()
    if same then
      local va, vb = ta:reshape{ -1 }:totable(), tb:reshape{ -1 }:totable()
      same = #va == #vb
      for i = 1, #va do
        if same and va[i] ~= vb[i] and (va[i] == va[i] or vb[i] == vb[i]) then same = false end
      end
    end
    if not same then diff[#diff + 1] = name end
  end
  for name in pairs(b) do
    if a[name] == nil then diff[#diff + 1] = name end
  end
  table.sort(diff)
  return diff
end

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

T.test("overfitting 8 images: the reconstruction L1 falls", function()
  local C = tiny_classifier()
  -- L1 weighted up so that reconstruction, not the adversarial game, leads;
  -- the encoder at G's learning rate
  local S = trainer.new(tiny_config{ batch = 16, lr_encoder = 0.0025, w_l1 = 30 }, C)
  local x = rectangles(8)
  local p = sx.no_grad(function() return sx.softmax(C:logits(x), 2) end)
  local function rec_l1()
    return sx.no_grad(function() return sx.l1_loss(trainer.reconstruct(S, S.G, x, p), x):item() end)
  end
  local start = rec_l1()
  local xx = sx.cat({ x, x }, 1) -- random path and encoder path both see the 8 images
  local last
  for _ = 1, 300 do
    last = trainer.step(S, xx)
    if not last then break end
  end
  T.ok(last, "300 steps without a non-finite loss")
  local final = rec_l1()
  T.ok(final < start / 3, string.format("reconstruction L1 %.4f -> %.4f (want below a third)", start, final))
  T.eq(S.step, 300)
  for _, k in ipairs{ "d_fake", "d_real", "r1", "g_adv", "rec_l1", "rec_perceptual", "rec_w", "kl" } do
    T.ok(last == nil or k == "r1" or type(last[k]) == "number", "step returns loss " .. k)
  end
end)

T.test("latent regression: only the encoder learns from it, and it falls", function()
  local C = tiny_classifier()
  local S = trainer.new(tiny_config{ w_latent = 1 }, C)
  local p = sx.softmax(sx.randn{ 4, 2 }, 2)
  local loss = trainer.latent_regression(S, S.G, 4, p)
  loss:backward()
  local e_grad, g_grad = 0, 0
  for _, q in ipairs(S.E:parameters()) do if q.grad then e_grad = e_grad + q.grad:abs():sum():item() end end
  for _, q in ipairs(S.G:parameters()) do if q.grad then g_grad = g_grad + q.grad:abs():sum():item() end end
  T.ok(e_grad > 0, "the encoder gets a gradient")
  T.eq(g_grad, 0, "the generator gets none")
  -- trained on the term alone, the encoder inverts the fixed generator better
  local opt = sx.optim.Adam(S.E:parameters(), { lr = 0.003 })
  local function measure()
    sx.manual_seed(99)
    return sx.no_grad(function() return trainer.latent_regression(S, S.G, 32, sx.softmax(sx.randn{ 32, 2 }, 2)):item() end)
  end
  local start = measure()
  for _ = 1, 150 do
    opt:zero_grad()
    trainer.latent_regression(S, S.G, 16, sx.softmax(sx.randn{ 16, 2 }, 2)):backward()
    opt:step()
  end
  local final = measure()
  T.ok(final < 0.8 * start, string.format("L1(E(G(w)), w) %.4f -> %.4f (want below 0.8x)", start, final))
  -- and trainer.step reports it
  local x = rectangles(8)
  local out = trainer.step(S, x)
  T.ok(out and type(out.latent) == "number", "step returns loss latent")
end)

T.test("class dropout: some encoder-path class inputs become uniform", function()
  local C = tiny_classifier()
  local p = sx.softmax(sx.randn{ 64, 2 }, 2)
  local S0 = trainer.new(tiny_config(), C)
  local rng = sx.rng_get_state()
  T.ok(trainer.encoder_class_input(S0, p) == p, "q = 0: the input itself")
  T.eq(sx.rng_get_state(), rng, "q = 0 draws no random number")
  T.eq(trainer.encoder_class_input(S0, nil), nil, "the baseline has no class input")
  local S1 = trainer.new(tiny_config{ class_dropout = 1 }, C)
  for _, row in ipairs(trainer.encoder_class_input(S1, p):totable()) do T.eq(row, { 0.5, 0.5 }) end
  local S = trainer.new(tiny_config{ class_dropout = 0.5 }, C)
  local got, want = trainer.encoder_class_input(S, p):totable(), p:totable()
  local kept, dropped = 0, 0
  for i = 1, 64 do
    if got[i][1] == 0.5 and got[i][2] == 0.5 then dropped = dropped + 1
    else
      T.ok(math.abs(got[i][1] - want[i][1]) < 1e-7 and math.abs(got[i][2] - want[i][2]) < 1e-7, "row " .. i)
      kept = kept + 1
    end
  end
  T.ok(kept > 16 and dropped > 16, string.format("q = 0.5: %d kept, %d dropped of 64", kept, dropped))
  local out = trainer.step(S, rectangles(8))
  T.ok(out and type(out.kl) == "number", "a step with class dropout runs")
end)

T.test("encoder fit: E alone learns to invert a frozen G", function()
  local C = tiny_classifier()
  local S = trainer.new(tiny_config(), C)
  for _, q in ipairs(S.G_ema:parameters()) do q:requires_grad(false) end
  local x = rectangles(8)
  local function l1() return sx.no_grad(function() return select(2, trainer.encoder_fit_loss(S.G_ema, S.E, C, x, S.cfg)).rec_l1 end) end
  local start = l1()
  local opt = sx.optim.Adam(S.E:parameters(), { lr = 0.003, betas = { 0, 0.99 } })
  local parts
  for _ = 1, 100 do
    local loss
    loss, parts = trainer.encoder_fit_loss(S.G_ema, S.E, C, x, S.cfg)
    opt:zero_grad()
    loss:backward()
    opt:step()
  end
  local final = l1()
  T.ok(final < 0.8 * start, string.format("reconstruction L1 %.4f -> %.4f (want below 0.8x)", start, final))
  T.ok(type(parts.rec_l1) == "number" and type(parts.rec_perceptual) == "number" and parts.kl == nil,
    "the parts: L1 and P, no KL")
end)

T.test("resume: N/2 + save + load + N/2 equals N straight, bit for bit", function()
  local C = tiny_classifier()
  local pool = rectangles(16)
  -- a batch that depends on the step alone, as in scripts/train_stylex.lua
  local function batch_of(step)
    local perm = stylex.data.permutation(16, 1000 + step)
    local idx = {}
    for i = 1, 8 do idx[i] = perm[i] end
    return pool:index_select(1, idx)
  end
  local N = 6
  local cfg = { r1_interval = 2, ema_rampup = 0.5 } -- R1 on steps 0, 2, 4: both halves see it
  local function run(S, steps)
    for _ = 1, steps do assert(trainer.step(S, batch_of(S.step))) end
  end

  local A = trainer.new(tiny_config(cfg), C)
  run(A, N)
  local state_a, rng_a = all_state(A), sx.rng_get_state()

  local B = trainer.new(tiny_config(cfg), C)
  run(B, N // 2)
  local path = os.tmpname()
  trainer.save(B, path, { note = "half way" })
  sx.manual_seed(999) -- whatever happens between, the checkpoint restores the RNG
  local B2, meta = trainer.load(path, C)
  T.eq(meta.format, "stylex-training-1")
  T.eq(meta.note, "half way")
  T.eq(B2.step, N // 2)
  T.eq(math.type(B2.step), "integer")
  run(B2, N - N // 2)
  local state_b, rng_b = all_state(B2), sx.rng_get_state()

  T.ok(count(state_a) > 40, count(state_a) .. " tensors compared")
  T.ok(state_a["opt_D.group0.param0.exp_avg"] ~= nil, "optimiser moments are compared")
  T.eq(differences(state_a, state_b), {}, "tensors that differ after resuming")
  T.eq(rng_b, rng_a, "RNG state")
  T.eq(B2.step, N)

  -- the comparison can fail: another seed gives other parameters
  local Cs = trainer.new(tiny_config{ r1_interval = 2, ema_rampup = 0.5, seed = 2 }, C)
  run(Cs, N)
  T.ok(#differences(state_a, all_state(Cs)) > 10, "a different seed differs")
  os.remove(path)

  T.raises("not a stylex training checkpoint", function()
    sx.save(path, { w = sx.zeros{ 1 } }, { format = "something-else" })
    trainer.load(path, C)
  end)
  os.remove(path)
end)

T.test("NaN guard: a NaN image gives nil + message and changes nothing", function()
  local C = tiny_classifier()
  local S = trainer.new(tiny_config(), C)
  local x = rectangles(8)
  T.ok(trainer.step(S, x), "a normal step")
  local before, step_before = all_state(S), S.step
  local bad = x:clone()
  bad:narrow(1, 3, 1):fill(0 / 0)
  local losses, err = trainer.step(S, bad)
  T.eq(losses, nil)
  T.ok(type(err) == "string" and err:find("non-finite discriminator loss at step 1", 1, true), tostring(err))
  T.eq(S.step, step_before, "the step counter did not move")
  T.eq(differences(before, all_state(S)), {}, "tensors changed by the bad step")

  -- the G phase's own guard: a NaN in the encoder half (images 5..8)
  local bad2 = x:clone()
  bad2:narrow(1, 6, 1):fill(0 / 0)
  local p = sx.no_grad(function() return sx.softmax(C:logits(x), 2) end)
  local g = trainer.g_step(S, bad2, p)
  T.ok(g.rec_l1 ~= g.rec_l1, "the G phase sees the NaN")
  T.eq(differences(before, all_state(S)), {}, "tensors changed by the bad G phase")

  local ok = trainer.step(S, x)
  T.ok(ok and ok.rec_l1 == ok.rec_l1, "training goes on with good data")
  T.eq(S.step, step_before + 1)
end)

-- A data set of the rectangles with labels from the classifier (any will do).
local function tiny_dataset(n)
  local x = rectangles(n)
  return stylex.data.new_dataset{ name = "rectangles", images = x, labels = sx.zeros{ n }, classes = { "a", "b" },
    n_classes = 2, channels = 1, resolution = RES }
end

T.test("evaluate: an oracle model gives the known values", function()
  local C = tiny_classifier()
  local ds = tiny_dataset(20)
  -- duck-typed G and E: E(x) = x flattened, G(latent) = the latent as an
  -- image (plus a constant shift), so x' = x + shift; samples: the images of
  -- another data set
  local function oracle(shift)
    local G = {}
    function G:config() return { n_classes = 2, z_dim = RES * RES } end
    function G:latent(w) return w end
    function G:synthesis(l) return l:reshape{ l:shape()[1], 1, RES, RES } + shift end
    function G:mapping(z) return z * 0.5 end
    local E = {}
    function E:encode(x) return x:reshape{ x:shape()[1], RES * RES } end
    return { G = G, E = E }
  end
  local r = stylex.evaluate.stylex(oracle(0), C, ds, { n = 20, batch = 6 })
  T.near(r.l1, 0, 1e-7, "l1 of a perfect reconstruction")
  T.near(r.perceptual, 0, 1e-6, "perceptual distance of a perfect reconstruction")
  T.eq(r.agreement, 1)
  T.near(r.fd_recon, 0, 1e-6, "fd_recon of a perfect reconstruction")
  T.ok(r.fd_samples > 0, "noise samples are not the data")
  T.eq(r.n, 20)
  local r2 = stylex.evaluate.stylex(oracle(0.25), C, ds, { n = 20, batch = 7 })
  T.near(r2.l1, 0.25, 1e-6, "l1 of x + 0.25")
  T.ok(r2.perceptual > 0 and r2.fd_recon > 0)
  -- the FD of the features by hand: C's penultimate features of x and x + 0.25
  local real = select(2, C:classify(ds.images))
  local shifted = select(2, C:classify(ds.images + 0.25))
  T.near(r2.fd_recon, sx.metrics.frechet_distance(shifted, real), 1e-6 * (1 + r2.fd_recon), "fd_recon")
  -- agreement counts matching argmax
  local a = C:logits(ds.images):argmax(2):totable()
  local b = C:logits(ds.images + 0.25):argmax(2):totable()
  local same = 0
  for i = 1, #a do if a[i] == b[i] then same = same + 1 end end
  T.near(r2.agreement, same / 20, 1e-12, "agreement")
end)

T.test("evaluate: a tiny model, all six fields in range", function()
  local C = tiny_classifier()
  local S = trainer.new(tiny_config(), C)
  local x = rectangles(8)
  for _ = 1, 3 do assert(trainer.step(S, x)) end
  local ds = tiny_dataset(24)
  local rng = sx.rng_get_state()
  local r = stylex.evaluate.stylex(S, C, ds, { n = 1000, batch = 10 }) -- a training state works: its G_ema
  T.eq(sx.rng_get_state(), rng, "the global RNG is restored")
  T.eq(r.n, 24, "n is clamped to the data set")
  T.ok(r.l1 > 0 and r.l1 <= 2, "l1 in (0, 2]: " .. r.l1)
  T.ok(r.perceptual > 0 and r.perceptual < 1e6, "perceptual: " .. r.perceptual)
  T.ok(r.agreement >= 0 and r.agreement <= 1, "agreement: " .. r.agreement)
  T.ok(r.fd_samples >= 0 and r.fd_samples < math.huge, "fd_samples: " .. r.fd_samples)
  T.ok(r.fd_recon >= 0 and r.fd_recon < math.huge, "fd_recon: " .. r.fd_recon)
  T.eq(count(r), 6)
  local again = stylex.evaluate.stylex({ G = S.G_ema, E = S.E }, C, ds, { n = 24, batch = 10 })
  T.eq(again, r, "deterministic")
  local other = stylex.evaluate.stylex({ G = S.G_ema, E = S.E }, C, ds, { n = 24, batch = 10, seed = 7 })
  T.ok(other.fd_samples ~= r.fd_samples, "the seed picks the samples")
  local seen = {}
  stylex.evaluate.stylex(S, C, ds, { n = 15, batch = 10, progress = function(done, n) seen[#seen + 1] = done .. "/" .. n end })
  T.eq(seen, { "10/15", "15/15" }, "progress")

  -- style mixing on the random path: trains, and draws different fakes than without
  local function d_fake_after(mixing)
    sx.manual_seed(3)
    local M = trainer.new(tiny_config{ style_mixing = mixing, seed = 4 }, C)
    local l = assert(trainer.step(M, x))
    return l.d_fake
  end
  local plain, mixed = d_fake_after(0), d_fake_after(1)
  T.ok(mixed == mixed and plain ~= mixed, "style mixing changes the random path (" .. plain .. " vs " .. mixed .. ")")
  T.eq(d_fake_after(0), plain, "without mixing the run is as before")

  -- the L1 on the class columns of the style affines shrinks them (and is reported)
  local entries = 0
  local function class_weight_after(w)
    local M = trainer.new(tiny_config{ w_class_l1 = w, seed = 4 }, C)
    entries = 0
    for name, W in pairs(sx.nn.named_parameters(M.G)) do
      if name:match("affine%.weight$") then entries = entries + W:shape()[1] * M.cfg.n_classes end
    end
    local l
    for _ = 1, 30 do l = assert(trainer.step(M, x)) end
    return trainer.class_l1(M):item(), l.class_l1, M.cfg.lr
  end
  local free, none = class_weight_after(0)
  local pen, seen, lr = class_weight_after(0.05)
  T.ok(none == nil and type(seen) == "number", "class_l1 is a logged loss only when on")
  -- Adam moves each entry by at most about lr a step: 30 steps can take off
  -- 30 lr per entry; the penalty must get at least half of that
  T.ok(free - pen > 0.5 * 30 * lr * entries, string.format(
    "30 steps with the L1: sum |W_class| %.2f vs %.2f without (at most %.2f less)", pen, free, 30 * lr * entries))

  -- the baseline: an unconditional generator
  local B = trainer.new(tiny_config{ baseline = true }, C)
  local lb = assert(trainer.step(B, x))
  -- no KL; the reconstruction losses as for StylEx
  T.ok(lb.kl == nil, "the baseline has no KL term")
  T.ok(lb.rec_l1 and lb.rec_w and lb.rec_perceptual and lb.g_adv, "the baseline's other losses")
  -- a zero weight drops the perceptual term (and its classifier passes)
  local B0 = trainer.new(tiny_config{ baseline = true, w_perceptual = 0 }, C)
  T.ok(assert(trainer.step(B0, x)).rec_perceptual == nil, "w_perceptual 0: no perceptual term")
  -- the baseline's w-reconstruction holds E(x) constant (wrec_detach, its
  -- default); StylEx's pulls E(x) toward E(x') too (SPEC)
  T.eq(B.cfg.wrec_detach, true, "the baseline detaches E(x) by default")
  T.eq(S.cfg.wrec_detach, false, "StylEx does not")
  T.eq(tiny_config{ baseline = true, wrec_detach = false }.wrec_detach, false, "an explicit setting wins")
  -- and its encoder learns at G's rate, StylEx's at a tenth of it
  T.eq({ B.cfg.lr_encoder, S.cfg.lr_encoder }, { B.cfg.lr, S.cfg.lr / 10 }, "encoder learning rates")
  T.eq(tiny_config{ baseline = true, lr_encoder = 1e-4 }.lr_encoder, 1e-4, "an explicit encoder lr wins")
  local function w_grad(M)
    local w = sx.randn{ 4, 16 }:requires_grad(true)
    local rec = x:narrow(1, 1, 4)
    local g = sx.grad(trainer.w_reconstruction(M, rec, w), w, { allow_unused = true })
    return g:abs():sum():item()
  end
  T.eq(w_grad(B), 0, "detached: no gradient reaches E(x) (allow_unused gives zeros)")
  T.ok(w_grad(S) > 0, "not detached: E(x) gets a gradient")
  -- the encoder's spread: positive for a working encoder, 0 for one whose
  -- output ignores the image; the global RNG is untouched
  rng = sx.rng_get_state()
  local e, m = trainer.encoder_spread(B.G_ema, B.E, x)
  T.eq(sx.rng_get_state(), rng, "encoder_spread leaves the RNG alone")
  T.ok(e > 0 and m > 0, string.format("spreads %.4f, %.4f", e, m))
  T.eq({ trainer.encoder_spread(B.G_ema, B.E, x) }, { e, m }, "deterministic")
  sx.no_grad(function() sx.nn.named_parameters(B.E)["b4.out.weight"]:fill(0) end)
  T.eq(trainer.encoder_spread(B.G_ema, B.E, x), 0, "a constant encoder has spread 0")
  local rb = stylex.evaluate.stylex(B, C, ds, { n = 12 })
  T.eq(rb.n, 12)
  T.ok(rb.fd_samples >= 0 and rb.agreement >= 0 and rb.agreement <= 1)

  rng = sx.rng_get_state()
  T.raises("unknown option 'batches'", stylex.evaluate.stylex, S, C, ds, { batches = 2 })
  T.raises("option 'n' must be a positive integer", stylex.evaluate.stylex, S, C, ds, { n = 1.5 })
  T.raises("at least 2 images", stylex.evaluate.stylex, S, C, ds:subset{ 1 }, {})
  T.raises("table with G (or G_ema) and E", stylex.evaluate.stylex, {}, C, ds)
  -- an error part way (images the classifier cannot take)
  local big = stylex.data.new_dataset{ images = sx.zeros{ 4, 1, 2 * RES, 2 * RES }, labels = sx.zeros{ 4 } }
  T.raises("expected [N, 1, 8, 8]", stylex.evaluate.stylex, S, C, big, { n = 4 })
  T.eq(sx.rng_get_state(), rng, "the global RNG is restored after an error")
end)

-- The shipped model as scripts/train_stylex.lua's export() writes it.
local function export(S, path, classifier_path)
  local t = {}
  for k, v in pairs(S.G_ema:state_dict()) do t["G." .. k] = v end
  for k, v in pairs(S.E:state_dict()) do t["E." .. k] = v end
  assert(sx.save(path, t, { format = "stylex-model-1", config = cjson.encode(S.cfg), step = tostring(S.step),
    classifier = classifier_path, classes = "[7, 9]", baseline = tostring(S.cfg.baseline) }))
end

T.test("loaders: shipped model and training checkpoint", function()
  local C = tiny_classifier()
  local S = trainer.new(tiny_config(), C)
  local x = rectangles(8)
  for _ = 1, 2 do assert(trainer.step(S, x)) end
  local model, ckpt = os.tmpname(), os.tmpname()
  export(S, model, "some/classifier.safetensors")
  trainer.save(S, ckpt)
  local rng = sx.rng_get_state()

  local p = sx.no_grad(function() return sx.softmax(C:logits(x), 2) end)
  local z = sx.randn{ 8, 16 }
  local noise = S.G_ema:noise(8)
  local want_img = S.G_ema:generate(z, p, noise):totable()
  local want_w = S.E:encode(x):totable()
  rng = sx.rng_get_state()
  for _, load in ipairs{ stylex.evaluate.load_model, stylex.evaluate.load } do
    local G, E, meta = load(model)
    T.eq(meta.classifier, "some/classifier.safetensors")
    T.eq(G:generate(z, p, noise):totable(), want_img, "the shipped G is G_ema")
    T.eq(E:encode(x):totable(), want_w, "the shipped E")
    T.eq(G:parameters()[1]:requires_grad(), false, "frozen")
  end
  for _, load in ipairs{ stylex.evaluate.load_checkpoint, stylex.evaluate.load } do
    local G, E, meta = load(ckpt)
    T.eq(meta.format, "stylex-training-1")
    T.eq(G:generate(z, p, noise):totable(), want_img, "the checkpoint's G_ema")
    T.eq(E:encode(x):totable(), want_w, "the checkpoint's E")
  end
  T.eq(sx.rng_get_state(), rng, "loading leaves the RNG alone")
  -- the discriminator: in the checkpoint and in trainer.export's model, not in a model without D.*
  local with_d = os.tmpname()
  trainer.export(S, with_d, {classifier = "some/classifier.safetensors", classes = "[7, 9]"})
  local want_d = S.D:discriminate(x, p):totable()
  for _, f in ipairs{ckpt, with_d} do
    local D = assert(stylex.evaluate.load_discriminator(f))
    T.eq(D:discriminate(x, p):totable(), want_d, "the run's D from " .. f)
    T.eq(D:parameters()[1]:requires_grad(), false, "frozen")
  end
  T.eq(sx.rng_get_state(), rng, "loading D leaves the RNG alone")
  local none, why = stylex.evaluate.load_discriminator(model)
  T.ok(none == nil and why:find("holds no discriminator", 1, true), why)
  os.remove(with_d)
  -- the library's loaders underneath: the metadata alone, the networks, the classifier
  local head = assert(sx.load_metadata(model))
  T.eq(head.format, "stylex-model-1")
  T.eq(head.config, cjson.encode(S.cfg), "the config as written")
  local G2, E2, meta2 = sx.models.load_stylex(model)
  T.eq(meta2.classifier, "some/classifier.safetensors")
  T.eq(G2:generate(z, p, noise):totable(), want_img, "load_stylex: G")
  T.eq(E2:encode(x):totable(), want_w, "load_stylex: E")
  T.eq(sx.models.load_stylex("/nonexistent/model.safetensors"), nil, "an unreadable file: nil, msg")
  local cpath = os.tmpname()
  sx.save(cpath, { w = sx.zeros{ 1 } }, { format = "stylex-classifier-1", config = "{}" })
  T.raises("expected 'stylex-model-1' or 'stylex-training-1'", sx.models.load_stylex, cpath)
  assert(sx.save(cpath, C:state_dict(), { format = "stylex-classifier-1", config = cjson.encode(C:config()) }))
  local C2, cmeta = sx.models.load_classifier(cpath)
  T.eq(cmeta.format, "stylex-classifier-1")
  T.eq(C2:logits(x):totable(), C:logits(x):totable(), "load_classifier: the same logits")
  T.eq(C2:config(), C:config(), "and the same config")
  os.remove(cpath)
  T.raises("is not a shipped stylex model", stylex.evaluate.load_model, ckpt)
  T.raises("is not a stylex training checkpoint", stylex.evaluate.load_checkpoint, model)
  T.raises("load_model: ", stylex.evaluate.load_model, "/nonexistent/model.safetensors")
  local other = os.tmpname()
  sx.save(other, { w = sx.zeros{ 1 } }, { format = "x", config = "{}" })
  T.raises("expected stylex-model-1", stylex.evaluate.load, other)
  sx.save(other, { w = sx.zeros{ 1 } })
  T.raises("no config metadata", stylex.evaluate.load, other)
  for _, f in ipairs{ model, ckpt, other } do os.remove(f) end
end)

T.test("scripts/eval_stylex.lua and train_stylex.lua end to end (image folder)", function()
  local host = arg[-1]
  if not (host and io.open(host)) then
    T.ok(false, "arg[-1] is the host: " .. tostring(host))
    return
  end
  local dir = os.tmpname()
  os.remove(dir)
  os.execute("mkdir -p '" .. dir .. "'")
  local x = rectangles(12)
  local csv = assert(io.open(dir .. "/labels.csv", "w"))
  csv:write("file,label\n")
  for i = 1, 12 do
    local name = string.format("img%02d.png", i)
    assert(sx.image.save((x:narrow(1, i, 1):reshape{ 1, RES, RES } + 1) * 0.5, dir .. "/" .. name))
    csv:write(name, ",", i % 2, "\n")
  end
  csv:close()
  local C = tiny_classifier()
  local cpath = dir .. "/classifier.safetensors"
  assert(sx.save(cpath, C:state_dict(), { format = "stylex-classifier-1", config = cjson.encode(C:config()),
    dataset = "folder" }))
  local S = trainer.new(tiny_config(), C)
  assert(trainer.step(S, x:narrow(1, 1, 8)))
  local model = dir .. "/stylex.safetensors"
  export(S, model, cpath)
  local cmd = string.format("'%s' scripts/eval_stylex.lua --checkpoint '%s' --data '%s' --n 10 --batch 4 2>/dev/null",
    host, model, dir)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  local ok = p:close()
  T.ok(ok, "the script succeeds: " .. out)
  local lines = {}
  for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
  T.eq(#lines, 1, "one line on stdout")
  local okj, r = pcall(cjson.decode, lines[1] or "")
  T.ok(okj and type(r) == "table", "JSON: " .. tostring(lines[1]))
  if okj and type(r) == "table" then
    T.eq(r.n, 10)
    for _, k in ipairs{ "l1", "perceptual", "agreement", "fd_samples", "fd_recon" } do
      T.ok(type(r[k]) == "number" and r[k] >= 0, k .. " = " .. tostring(r[k]))
    end
    T.ok((lines[1]):find('^{"l1":') ~= nil, "keys in the documented order")
  end
  local p2 = io.popen(string.format("'%s' scripts/eval_stylex.lua 2>&1", host))
  local usage = p2:read("a")
  T.ok(not p2:close() and usage:find("missing --checkpoint", 1, true), "no --checkpoint: usage and failure")

  -- scripts/train_stylex.lua on the same folder: the baseline, 4 steps, then
  -- resumed to 6; a loss row per step, the encoder's spread with each grid
  local function train(extra)
    local q = assert(io.popen(string.format("'%s' scripts/train_stylex.lua --data '%s' --labels '%s/labels.csv' "
      .. "--classifier '%s' --run '%s/run' --out '%s/baseline.safetensors' --baseline --batch 4 --grid-every 2 %s 2>&1",
      host, dir, dir, cpath, dir, dir, extra)))
    local text = q:read("a")
    return q:close(), text
  end
  local ok1, out1 = train("--steps 4")
  T.ok(ok1, "train_stylex.lua runs: " .. out1)
  -- a row the run wrote after its last checkpoint (as if stopped there)
  local f = assert(io.open(dir .. "/run/log.jsonl", "a"))
  f:write('{"step":5,"d_fake":1}\n')
  f:close()
  local ok2, out2 = train("--steps 6 --resume")
  T.ok(ok2 and out2:find("at step 4", 1, true), "and resumes at step 4: " .. out2)
  T.ok(out2:find("dropped 1 row after step 4", 1, true), "the stale row is dropped: " .. out2)
  local rows = {}
  for line in io.lines(dir .. "/run/log.jsonl") do rows[#rows + 1] = cjson.decode(line) end
  T.eq(#rows, 6, "a log row per step")
  for i, r in ipairs(rows) do
    T.eq(r.step, i)
    T.ok(r.kl == nil and type(r.rec_w) == "number", "baseline losses at step " .. i)
    T.eq(r.encoder_spread ~= nil, i % 2 == 0, "encoder spread at the grid steps only, step " .. i)
    if r.encoder_spread then T.ok(r.encoder_spread >= 0 and r.mapping_spread > 0, "spreads at step " .. i) end
  end
  T.ok(io.open(dir .. "/run/recon_000004.png") and io.open(dir .. "/run/samples_000006.png"), "the grids")
  local _, meta = sx.load(dir .. "/baseline.safetensors")
  T.eq({ meta.step, meta.baseline, cjson.decode(meta.config).wrec_detach }, { "6", "true", true }, "the exported baseline")

  -- scripts/fit_encoder.lua on the exported baseline: only the encoder changes
  local before = assert(sx.load(dir .. "/baseline.safetensors"))
  local q = assert(io.popen(string.format("'%s' scripts/fit_encoder.lua --model '%s/baseline.safetensors' --data '%s' "
    .. "--labels '%s/labels.csv' --steps 3 --batch 4 --out '%s/fitted.safetensors' 2>&1", host, dir, dir, dir, dir)))
  local fit_out = q:read("a")
  T.ok(q:close(), "fit_encoder.lua runs: " .. fit_out)
  local after, fmeta = sx.load(dir .. "/fitted.safetensors")
  T.ok(after, "the fitted model is written")
  if after then
    local g_same, e_changed = true, false
    for name, t in pairs(before) do
      local d = (t - after[name]):abs():sum():item()
      if name:sub(1, 2) == "G." and d ~= 0 then g_same = false end
      if name:sub(1, 2) == "E." and d ~= 0 then e_changed = true end
    end
    T.ok(g_same, "the generator is unchanged")
    T.ok(e_changed, "the encoder changed")
    T.eq(cjson.decode(fmeta.encoder_fit).steps, 3, "encoder_fit records the settings")
    T.ok(fmeta.command:find("&& build/stylex scripts/fit_encoder.lua", 1, true), "the command gains the fit")
  end
  os.execute("rm -rf '" .. dir .. "'")
end)

T.done()
