-- scripts/train_classifier.lua — trains the classifier that StylEx explains.
--
--   build/stylex scripts/train_classifier.lua --preset fmnist-shoes [--epochs N] [--out DIR]
--
-- Choices (epochs, learning rate, augmentation) are made on a validation
-- split carved from the training set; the test split is used once, at the
-- end, for the figure written into the checkpoint's metadata.
local sx = require "stylex"
local stylex = require "stylex.all"
local sorted = require("stylex.util").encode_sorted -- metadata: the same bytes in every process

local usage = [[
usage: stylex scripts/train_classifier.lua --preset NAME [options]
  --preset NAME     fmnist-shoes | fmnist-tops | fmnist-10 | shapes
  --epochs N        training epochs (default: the preset's)
  --lr X            Adam learning rate (default: the preset's)
  --batch N         batch size (default 64)
  --val N           validation images carved from the training set (default: the preset's)
  --seed N          random seed (default 1)
  --out DIR         output folder (default models/<preset>)
  --final           after choosing on validation, retrain on train+validation
                    with the chosen settings before the test evaluation]]

local PRESETS = {
  ["fmnist-shoes"] = {classes = {7, 9}, epochs = 12, lr = 1e-3, val = 1000, shift = 2, flip = 0.0},
  ["fmnist-tops"] = {classes = {0, 6}, epochs = 30, lr = 1e-3, val = 1000, shift = 2, flip = 0.5},
  ["fmnist-10"] = {classes = nil, epochs = 12, lr = 1e-3, val = 5000, shift = 2, flip = 0.5},
  -- No shift: the shortcut marker sits at a fixed corner (docs/benchmark.md).
  shapes = {dataset = "shapes", epochs = 3, lr = 1e-3, val = 1000, shift = 0, flip = 0.0},
}

local cli = stylex.cli
local names = {}
for k in pairs(PRESETS) do names[#names + 1] = k end
table.sort(names)
-- Every option is checked before any work; 0 for --epochs, --lr, --val means the preset's.
local opts, given = cli.parse(arg, {preset = "", epochs = 0, lr = 0, batch = 64, val = 0, seed = 1, out = "",
  final = false}, usage, {required = {"preset"},
  options = {preset = names, epochs = "int>=1", lr = ">0", batch = "int>=1", val = "int>=1", seed = "int>=0"}})
local preset = PRESETS[opts.preset]
local epochs = given.epochs and opts.epochs or preset.epochs
local lr = given.lr and opts.lr or preset.lr
local n_val = given.val and opts.val or preset.val
local batch = opts.batch
opts.out = opts.out ~= "" and opts.out or ("models/" .. opts.preset)
local out_dir = opts.out
cli.check(opts, "out", "outdir")

sx.manual_seed(opts.seed)
local dataset = preset.dataset or "fashion-mnist"
local full = stylex.data.named(dataset, "train", preset.classes)
local test = stylex.data.named(dataset, "test", preset.classes)
if n_val >= full:size() then
  cli.usage_error(string.format("--val %d leaves no training image (the training split has %d)", n_val, full:size()))
end
local train, val = full:split(n_val, opts.seed)
if opts.final then train, val = full, nil end
if train:size() < batch then
  cli.usage_error(string.format("--batch %d is more than the %d training images", batch, train:size()))
end
print(string.format("classifier %s: %d training, %s validation, %d test images, %d classes",
  opts.preset, train:size(), val and tostring(val:size()) or "no", test:size(), full.n_classes))

local cfg = {n_classes = full.n_classes, resolution = full.resolution, img_channels = full.channels}
local model = sx.models.Classifier(cfg)
local optim = sx.optim.Adam(model:parameters(), {lr = lr})

local function evaluate(ds) return stylex.classifier.evaluate(model, ds) end

local steps_per_epoch = train:size() // batch
local progress = stylex.cli.progress(epochs * steps_per_epoch, "train", 2.0)
local history = {}
local step = 0
local t0 = stylex.cli.now()
for epoch = 1, epochs do
  -- cosine decay of the learning rate over the run
  local loss_sum, hits, seen = 0, 0, 0
  for x, y in train:batches(batch, {shuffle = true, seed = opts.seed * 1000 + epoch, drop_last = true}) do
    local frac = step / (epochs * steps_per_epoch)
    optim:set_lr(lr * 0.5 * (1 + math.cos(math.pi * frac)))
    x = sx.augment(x, {shift = preset.shift, flip = preset.flip, fill = -1})
    local logits = model:classify(x, {train = true})
    local loss = sx.cross_entropy(logits, y)
    optim:zero_grad()
    loss:backward()
    optim:step()
    step = step + 1
    local n = y:numel()
    loss_sum = loss_sum + loss:item() * n
    local pred, lab = logits:argmax(2):totable(), y:totable()
    for i = 1, n do if pred[i] == lab[i] then hits = hits + 1 end end
    seen = seen + n
    progress(step, string.format("epoch %d/%d loss %.4f acc %.4f", epoch, epochs, loss_sum / seen, hits / seen))
  end
  local entry = {epoch = epoch, loss = loss_sum / seen, train_accuracy = hits / seen}
  if val then entry.val_accuracy = evaluate(val) end
  history[#history + 1] = entry
  io.stderr:write(string.format("epoch %d: loss %.4f train acc %.4f%s\n", epoch, entry.loss, entry.train_accuracy,
    val and string.format(" val acc %.4f", entry.val_accuracy) or ""))
end
local seconds = stylex.cli.now() - t0

local test_acc = evaluate(test)
print(string.format("test accuracy %.4f on %d images (%.0f s of training)", test_acc, test:size(), seconds))

local meta = {
  format = "stylex-classifier-1",
  preset = opts.preset,
  config = sorted(model:config()),
  classes = sorted(preset.classes or (dataset == "shapes" and {0, 1} or {0, 1, 2, 3, 4, 5, 6, 7, 8, 9})),
  class_names = sorted(full.classes),
  dataset = dataset,
  epochs = tostring(epochs),
  lr = tostring(lr),
  batch = tostring(batch),
  seed = tostring(opts.seed),
  augment = sorted{shift = preset.shift, flip = preset.flip},
  validation = val and tostring(val:size()) or "0",
  val_accuracy = val and string.format("%.4f", history[#history].val_accuracy) or "",
  test_accuracy = string.format("%.4f", test_acc),
  test_n = tostring(test:size()),
  history = sorted(history),
  command = "build/stylex scripts/train_classifier.lua " .. table.concat(arg, " "),
}
local path = out_dir .. "/classifier.safetensors"
assert(sx.save(path, model:state_dict(), meta))
print("wrote " .. path)
