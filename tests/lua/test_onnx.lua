-- tests/lua/test_onnx.lua — classifiers brought as ONNX files, from Lua:
--   sx.models.load_classifier on the PyTorch-exported fixtures of
--   tests/reference/onnx (tests/reference/onnx_fixtures.py) gives PyTorch's
--   logits and input gradients, info() reports the sidecar, options
--   override it; Grad-CAM runs on a named layer of each network; one StylEx
--   training step runs with an ONNX classifier (8x8 grey GAN images resized
--   and replicated for a 32x32 RGB ResNet), its KL and perceptual terms
--   reaching the generator; the built-in CNN file and module give the same
--   logits through the interface; bad files and options give one line;
--   explain.run (effect table, AttFind, Grad-CAM, report) with an ONNX
--   classifier and a data set given as an option.
local T = dofile("tests/lua/harness.lua")
local sx = require "stylex"
local gradcam = require "stylex.gradcam"
local trainer = require "stylex.trainer"

local DIR = "tests/reference/onnx/"

local function rel(a, b) return T.max_abs_diff(a, b) / b:abs():max():item() end

T.test("the fixtures match PyTorch from Lua", function()
  for _, name in ipairs{ "plain", "resnet", "mobilenet", "idioms", "zoo" } do
    local C, meta = sx.models.load_classifier(DIR .. name .. ".onnx")
    T.ok(C, "loaded " .. name)
    T.eq(type(meta), "table")
    local ref = sx.load(DIR .. name .. ".ref.safetensors")
    local x = ref.x:detach():requires_grad(true)
    local lg = C:logits(x)
    T.ok(T.max_abs_diff(lg, ref.logits) < 1e-3 and rel(lg, ref.logits) < 1e-4, name .. ": logits")
    local g = sx.grad((lg * ref.r):sum(), x)
    T.ok(T.max_abs_diff(g, ref.grad) < 1e-3 and rel(g, ref.grad) < 1e-4, name .. ": input gradient")
    local info = C:info()
    T.eq(info.kind, "onnx")
    T.eq(#info.class_names, lg:size(2))
    T.eq(C:config().n_classes, lg:size(2))
    T.eq(#C:parameters(), 0, name .. ": nothing to train")
    local logits, pen, feats = C:classify(ref.x, { features = true })
    T.near(T.max_abs_diff(logits, ref.logits), 0, 1e-3)
    T.eq(pen:dim(), 2, name .. ": penultimate features [N, D]")
    T.eq(#feats, #info.perceptual)
    local maps = C:features(ref.x, { info.gradcam_layer })
    T.ok(rel(maps[1], ref.feature) < 1e-4, name .. ": the Grad-CAM layer's map")
  end
end)

T.test("sidecar and options", function()
  local C = sx.models.load_classifier(DIR .. "resnet.onnx")
  local info = C:info()
  T.eq(info.class_names, { "w", "x", "y", "z" })
  T.near(info.std[3], 0.225, 1e-6)
  T.eq(info.channels, 3)
  local D = sx.models.load_classifier(DIR .. "resnet.onnx",
    { sidecar = false, class_names = { "a", "b", "c", "d" }, range = { -1, 1 }, mean = { 0.5 }, std = { 2 } })
  local di = D:info()
  T.eq(di.class_names[1], "a")
  T.eq(di.range, { -1, 1 })
  T.eq(di.mean, { 0.5, 0.5, 0.5 }, "one mean for every channel")
  -- with [-1, 1] -> [-1, 1] and (v - 0.5) / 2, the net sees (x - 0.5) / 2: check against identity preprocessing
  local E = sx.models.load_classifier(DIR .. "resnet.onnx", { sidecar = false, range = { -1, 1 } })
  local x = sx.rand{ 2, 3, 32, 32 } * 2 - 1
  T.near(T.max_abs_diff(D:logits(x), E:logits((x - 0.5) / 2)), 0, 1e-4, "mean/std applied")
  T.raises("unknown option 'classes'", sx.models.load_classifier, DIR .. "resnet.onnx", { classes = {} })
  T.raises("2 class names for 4 logits", sx.models.load_classifier, DIR .. "resnet.onnx", { class_names = { "a", "b" } })
  T.raises("no layer '/x'", function() return C:features(x, { "/x" }) end)
  T.raises("options are for .onnx files", sx.models.load_classifier, "models/fmnist-shoes/classifier.safetensors",
    { range = { 0, 1 } })
end)

T.test("Grad-CAM on a named layer of each network", function()
  for _, name in ipairs{ "plain", "resnet", "mobilenet", "idioms", "zoo" } do
    local C = sx.models.load_classifier(DIR .. name .. ".onnx")
    local ref = sx.load(DIR .. name .. ".ref.safetensors")
    local info = C:info()
    local layer = info.gradcam_layer
    local maps, weights = gradcam.maps(C, ref.x, 1, { layer = layer })
    T.eq(maps:shape(), { 5, 1, 32, 32 }, name)
    T.ok((-maps):max():item() <= 0 and maps:max():item() <= 1 + 1e-6, name .. ": maps in [0, 1]")
    T.ok(maps:max():item() > 0.99, name .. ": some map reaches its peak")
    T.eq(weights:size(1), 5)
    local default = gradcam.maps(C, ref.x, 1)
    T.near(T.max_abs_diff(default, maps), 0, 0, name .. ": the default layer is the named one")
    local other = gradcam.maps(C, ref.x, 0, { layer = layer })
    T.ok(T.max_abs_diff(other, maps) > 1e-3, name .. ": another class gives other maps")
    -- an earlier layer by number (a perceptual layer)
    local first = gradcam.maps(C, ref.x, 1, { layer = 1 })
    T.eq(first:shape(), { 5, 1, 32, 32 })
  end
  local C = sx.models.load_classifier(DIR .. "plain.onnx")
  T.raises("has no layer 'nope'", gradcam.maps, C, sx.zeros{ 1, 1, 32, 32 }, 0, { layer = "nope" })
end)

T.test("one StylEx training step with an ONNX classifier", function()
  local C = sx.models.load_classifier(DIR .. "resnet.onnx") -- 3 x 32 x 32, fed 8x8 grey images
  sx.manual_seed(3)
  local cfg = trainer.config{ resolution = 8, channels = { 16, 16 }, z_dim = 16, w_dim = 16, mapping_layers = 2,
    batch = 4 }
  local S = trainer.new(cfg, C)
  T.eq(S.cfg.n_classes, 4, "n_classes from the classifier")
  local x = sx.rand{ 4, 1, 8, 8 } * 2 - 1
  local before = S.E:parameters()[1]:detach():clone()
  local out, err = trainer.step(S, x)
  T.ok(out, "step: " .. tostring(err))
  for _, k in ipairs{ "g_adv", "rec_l1", "rec_perceptual", "kl", "d_real", "d_fake" } do
    T.ok(out and type(out[k]) == "number" and out[k] == out[k], "loss " .. k)
  end
  T.ok(out and out.rec_perceptual > 0, "the perceptual term on the ONNX features")
  T.ok(T.max_abs_diff(S.E:parameters()[1], before) > 0, "the encoder moved")
  -- the KL term's gradient reaches the reconstruction through the imported graph
  local rec = (sx.rand{ 2, 1, 8, 8 } * 2 - 1):requires_grad(true)
  local log_p = sx.no_grad(function() return sx.log_softmax(C:logits(x:narrow(1, 1, 2)), 2) end)
  local g = sx.grad(sx.kl_div(log_p, sx.log_softmax(C:logits(rec), 2)), rec)
  T.ok(g:abs():max():item() > 0, "d KL / d rec through the ONNX graph")
end)

T.test("the built-in CNN through the same interface", function()
  sx.manual_seed(4)
  local m = sx.models.Classifier{ n_classes = 2, resolution = 8, channels = { 4 }, hidden = 8 }
  local C = sx.models.classifier(m, { "no", "yes" })
  local x = sx.randn{ 3, 1, 8, 8 }
  T.near(T.max_abs_diff(C:logits(x), m:logits(x)), 0, 0, "same logits")
  T.eq(C:info().class_names, { "no", "yes" })
  T.eq(C:info().kind, "cnn")
  T.ok(C:module() == m, "the module behind it")
  T.eq(#C:parameters(), #m:parameters())
  T.near(T.max_abs_diff(C:perceptual(x, -x), m:perceptual(x, -x)), 0, 0, "same perceptual distance")
  local shipped = "models/fmnist-shoes/classifier.safetensors"
  local S, meta = sx.models.load_classifier(shipped)
  T.eq(S:info().class_names, { "Sneaker", "Ankle boot" })
  T.eq(meta.format, "stylex-classifier-1")
  T.ok(S:module(), "a CNN file gives the module too")
  T.raises("only the built-in CNN has module methods", function()
    return sx.models.load_classifier(DIR .. "plain.onnx"):named_parameters()
  end)
end)

T.test("bad models give one line", function()
  local cases = {
    { "bad_truncated.onnx", "is not an ONNX model" },
    { "bad_operator.onnx", "node 'the_erf': unsupported operator Erf" },
    { "bad_dynamic.onnx", "dimension H is dynamic" },
    { "bad_input.onnx", "expected [N, C, H, W]" },
    { "bad_opset.onnx", "opset 9 is not supported" },
  }
  for _, c in ipairs(cases) do
    local ok, err = pcall(sx.models.load_classifier, DIR .. c[1])
    T.ok(not ok and err:find(c[2], 1, true) and not err:find("\n"), c[1] .. ": " .. tostring(err))
  end
  local tmp, made = T.tmpfiles()
  local text = tmp("text.onnx")
  T.write_file(text, "this is not a model\n")
  local ok, err = pcall(sx.models.load_classifier, text)
  T.ok(not ok and err:find("is not an ONNX model", 1, true), "a text file: " .. tostring(err))
  for _, f in ipairs(made) do os.remove(f) end
  local C, msg = sx.models.load_classifier(DIR .. "missing.onnx")
  T.ok(C == nil and msg:find("missing.onnx", 1, true), "a missing file: nil, message")
end)

T.test("explain end to end with an ONNX classifier", function()
  -- the plain fixture (3 classes, random weights) explained on three Fashion-MNIST
  -- classes: a tiny StylEx trained against it, then the whole report
  local fixtures = dofile("tests/lua/fixtures.lua")
  local stylex = require "stylex.all"
  local cjson = require "cjson"
  local dir = T.tmpdir()
  local path = DIR .. "plain.onnx"
  local C, cmeta = stylex.classifier.load(path)
  T.eq(cjson.decode(cmeta.class_names), { "a", "b", "c" }, "class names from the sidecar")
  local classes = { 5, 7, 9 }
  local train = stylex.data.fashion_mnist{ split = "train", classes = classes }
  local test = stylex.data.fashion_mnist{ split = "test", classes = classes }
  local trainer = stylex.trainer
  local cfg = trainer.config{ resolution = 32, img_channels = 1, channels = { 16, 16, 8, 8 }, z_dim = 16, w_dim = 16,
    mapping_layers = 2, batch = 8, seed = 2 }
  for _, baseline in ipairs{ false, true } do
    cfg.baseline = baseline
    local S = trainer.new(cfg, C)
    for step = 1, 6 do
      local idx = {}
      for i = 1, 8 do idx[i] = (step * 8 + i) % train:size() + 1 end
      T.ok(trainer.step(S, train:batch(idx)), "a training step")
    end
    trainer.export(S, dir .. "/" .. (baseline and "baseline" or "stylex") .. ".safetensors",
      { classifier = path, classes = cjson.encode(classes), class_names = cmeta.class_names, dataset = "fashion-mnist" })
  end
  local doc = stylex.explain.run{ model = dir, out = dir .. "/report", n = 8, k = 2, sufficiency_k = 2, examples = 1,
    batch = 32, dataset = test, log = function() end }
  T.eq(doc.classifier.class_names, { "a", "b", "c" })
  T.eq(#doc.classes, 3, "attributes for each of the 3 classes")
  T.ok(T.exists(dir .. "/report/index.html") and T.exists(dir .. "/report/report.json"), "the report folder")
  T.rm_rf(dir)
end)

T.done()
