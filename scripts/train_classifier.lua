-- scripts/train_classifier.lua — trains the classifier that StylEx explains.
--
--   build/stylex scripts/train_classifier.lua --preset fmnist-shoes [--epochs N] [--out DIR]
--   build/stylex scripts/train_classifier.lua --data DIR [--labels CSV] [--test 0.2 | --test-labels CSV]
--
-- An image folder (docs/your-data.md): its labels mapped to classes 0..K-1
-- (the mapping is printed and stored in the metadata as class_names), a
-- held-out test split drawn from it (or listed by --test-labels), and the
-- folder, the CSVs and the split recorded in the metadata (key data), so
-- that eval_classifier.lua, train_stylex.lua and explain.lua find the
-- held-out images themselves.
--
-- Choices (epochs, learning rate, augmentation) are made on a validation
-- split carved from the training set; the test split is used once, at the
-- end, for the figure written into the checkpoint's metadata.
local sx = require "stylex"
local stylex = require "stylex.all"
local sorted = require("stylex.util").encode_sorted -- metadata: the same bytes in every process

local usage = [[
usage: stylex scripts/train_classifier.lua --preset NAME [options]
       stylex scripts/train_classifier.lua --data DIR [--labels CSV] [options]
  --preset NAME     fmnist-shoes | fmnist-tops | fmnist-10 | shapes
  --data DIR        train on a folder of PNGs instead (docs/your-data.md)
  --labels CSV      its file,label list (default DIR/labels.csv)
  --test X          held-out test images drawn from the CSV: a count, or a fraction
                    below 1 (default 0.2; folder only)
  --test-labels CSV a second CSV of held-out test images instead of --test (folder only)
  --resolution N    the side the folder's images are read at (default 32; folder only)
  --channels N      1 | 3 (default: 3 if any image is RGB; folder only)
  --epochs N        training epochs (default: the preset's; 30 for a folder)
  --lr X            Adam learning rate (default: the preset's; 1e-3 for a folder)
  --batch N         batch size (default 64)
  --val N           validation images carved from the training set (default: the preset's;
                    a tenth of the training images for a folder)
  --shift N         augmentation: random shifts of up to N pixels (default: the preset's; 2)
  --flip P          augmentation: left-right mirroring probability (default: the preset's; 0)
  --seed N          random seed (default 1)
  --out DIR         output folder (default models/<preset>, models/custom for a folder)
  --final           after choosing on validation, retrain on train+validation
                    with the chosen settings before the test evaluation]]

local PRESETS = {
  ["fmnist-shoes"] = {classes = {7, 9}, epochs = 12, lr = 1e-3, val = 1000, shift = 2, flip = 0.0},
  ["fmnist-tops"] = {classes = {0, 6}, epochs = 30, lr = 1e-3, val = 1000, shift = 2, flip = 0.5},
  ["fmnist-10"] = {classes = nil, epochs = 12, lr = 1e-3, val = 5000, shift = 2, flip = 0.5},
  -- No shift: the shortcut marker sits at a fixed corner (docs/benchmark.md).
  shapes = {dataset = "shapes", epochs = 3, lr = 1e-3, val = 1000, shift = 0, flip = 0.0},
}
-- An image folder's defaults.
local FOLDER = {dataset = "folder", epochs = 30, lr = 1e-3, shift = 2, flip = 0.0}

local cli = stylex.cli
local names = {}
for k in pairs(PRESETS) do names[#names + 1] = k end
table.sort(names)
-- Every option is checked before any work; 0 for --epochs, --lr, --val means the preset's.
local opts, given = cli.parse(arg, {preset = "", epochs = 0, lr = 0, batch = 64, val = 0, seed = 1, out = "",
  final = false, data = "", labels = "", test = 0.2, test_labels = "", resolution = 32, channels = 0, shift = 0,
  flip = 0}, usage,
  {options = {preset = names, epochs = "int>=1", lr = ">0", batch = "int>=1", val = "int>=1", seed = "int>=0",
    resolution = "int>=1", channels = {1, 3}, shift = "int>=0", flip = "[0,1]", test_labels = "file"}})
local folder = cli.check_data(opts)
if folder and opts.preset ~= "" then cli.usage_error("give --preset or --data, not both") end
if not folder and opts.preset == "" then cli.usage_error("missing --preset (or --data DIR)") end
if not folder then
  for _, k in ipairs{"test", "test_labels", "resolution", "channels"} do
    if given[k] then cli.usage_error("--" .. k:gsub("_", "-") .. " is for an image folder (--data DIR)") end
  end
end
if given.test and given.test_labels then cli.usage_error("give --test or --test-labels, not both") end
cli.check_share(opts, "test")
if opts.resolution > 4096 then cli.usage_error("--resolution must be at most 4096, got " .. opts.resolution) end
local preset = folder and FOLDER or PRESETS[opts.preset]
local epochs = given.epochs and opts.epochs or preset.epochs
local lr = given.lr and opts.lr or preset.lr
local shift = given.shift and opts.shift or preset.shift
local flip = given.flip and opts.flip or preset.flip
local batch = opts.batch
local name = folder and "custom" or opts.preset
opts.out = opts.out ~= "" and opts.out or ("models/" .. name)
local out_dir = opts.out
cli.check(opts, "out", "outdir")

sx.manual_seed(opts.seed)
local dataset = preset.dataset or "fashion-mnist"
local full, test, record
if folder then
  record = {dir = stylex.data.absolute(opts.data), labels = stylex.data.absolute(opts.labels), seed = opts.seed,
    size = opts.resolution, channels = opts.channels > 0 and opts.channels or nil}
  if opts.test_labels ~= "" then record.test_labels = stylex.data.absolute(opts.test_labels)
  else record.test = opts.test end
  full, test = stylex.data.folder_splits(record)
  record.label_map, record.channels = full.label_map, full.channels
  local map = {}
  for k, label in ipairs(full.label_map) do map[k] = string.format("%d = %s", k - 1, label) end
  print(string.format("%s: %d classes from the labels of %s: %s", opts.data, full.n_classes, opts.labels,
    table.concat(map, ", ")))
else
  full = stylex.data.named(dataset, "train", preset.classes)
  test = stylex.data.named(dataset, "test", preset.classes)
end
if full.n_classes < 2 then
  cli.die(string.format("%s: %d class in the training images; a classifier needs at least 2", opts.labels,
    full.n_classes))
end
local n_val = given.val and opts.val or preset.val or full:size() // 10
if n_val >= full:size() then
  cli.usage_error(string.format("--val %d leaves no training image (the training split has %d)", n_val, full:size()))
end
local train, val = full, nil
if n_val > 0 then train, val = full:split(n_val, opts.seed) end
if opts.final then train, val = full, nil end
if train:size() < batch then
  cli.usage_error(string.format("--batch %d is more than the %d training images", batch, train:size()))
end
print(string.format("classifier %s: %d training, %s validation, %d test images, %d classes",
  folder and opts.data or opts.preset, train:size(), val and tostring(val:size()) or "no", test:size(),
  full.n_classes))

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
    x = sx.augment(x, {shift = shift, flip = flip, fill = -1})
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
  preset = folder and "" or opts.preset,
  config = sorted(model:config()),
  classes = sorted(folder and full.label_map or preset.classes or
    (dataset == "shapes" and {0, 1} or {0, 1, 2, 3, 4, 5, 6, 7, 8, 9})),
  class_names = sorted(full.classes),
  dataset = dataset,
  data = record and sorted(record) or nil,
  epochs = tostring(epochs),
  lr = tostring(lr),
  batch = tostring(batch),
  seed = tostring(opts.seed),
  augment = sorted{shift = shift, flip = flip},
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
