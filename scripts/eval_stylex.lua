-- scripts/eval_stylex.lua — reconstruction and sample-quality metrics of a
-- trained StylEx model (SPEC §3; see docs/method.md and stylex.evaluate).
--
--   build/stylex scripts/eval_stylex.lua --checkpoint models/fmnist-shoes/stylex.safetensors
--   build/stylex scripts/eval_stylex.lua --checkpoint runs/fmnist-shoes/checkpoint.safetensors --n 500
--
-- Accepts the shipped model (scripts/train_stylex.lua's export, format
-- stylex-model-1) or a training checkpoint (stylex-training-1; its EMA
-- generator and encoder are used). Prints ONE JSON line on stdout:
--   {"l1":..,"perceptual":..,"agreement":..,"fd_samples":..,"fd_recon":..,"n":..}
-- On the shapes benchmark (with its factor oracles) the line also has
-- "factor_fidelity": {factor: R^2 or accuracy of the oracles on the
-- reconstructions, against the true factors} (benchmark.reconstruction_fidelity).
-- Progress and what was loaded go to stderr.
local stylex = require "stylex.all"
local cjson = require "cjson"
local sx = require "stylex"

local usage = [[
usage: stylex scripts/eval_stylex.lua --checkpoint FILE [options]
  --checkpoint FILE   shipped model (models/<preset>/stylex.safetensors) or training
                      checkpoint (runs/<preset>/checkpoint.safetensors)
  --n N               held-out images: the first N of the test split (default 1000)
  --batch N           batch size (default 100)
  --seed N            seed of the latents and noise (default 1234)
  --classifier FILE   the classifier (default: the model's metadata, or for
                      runs/<preset>[-baseline]/ models/<preset>/classifier.safetensors)
  --data DIR          evaluate on a folder of PNGs (default: the held-out images of the folder
                      the model was trained on, as its metadata records, else the classifier's test split)
  --labels CSV        its file,label list (default DIR/labels.csv)
  --oracles FILE      shapes: the factor oracles (default models/shapes/oracles.safetensors)
  --record            also store the figures in the shipped model file's metadata
                      (key "eval", the JSON line below; the file is rewritten atomically)]]

local opts = stylex.cli.parse(arg, {checkpoint = "", n = 1000, batch = 100, seed = 1234, classifier = "", data = "",
  labels = "", record = false, oracles = "models/shapes/oracles.safetensors"}, usage,
  {required = {"checkpoint"}, positive_integers = {"n", "batch", "seed"},
   options = {checkpoint = "file", classifier = "file", oracles = "file"}})
local folder = stylex.cli.check_data(opts)

local G, E, meta = stylex.evaluate.load(opts.checkpoint)
local cls_path = opts.classifier
if cls_path == "" then cls_path = meta.classifier or "" end
if cls_path == "" then
  local run = opts.checkpoint:match("runs/([^/]+)/[^/]+$")
  if run then cls_path = "models/" .. run:gsub("%-baseline$", "") .. "/classifier.safetensors" end
end
if cls_path == "" then stylex.cli.usage_error("no classifier recorded in " .. opts.checkpoint .. "; give --classifier FILE") end
stylex.cli.check({classifier = cls_path}, "classifier", "file", "the classifier " .. cls_path)
local C, cmeta = stylex.classifier.load(cls_path)
local ccfg = C:config()

local gcfg = G:config()
local ds
if folder then
  ds = stylex.data.image_folder{dir = opts.data, labels = opts.labels, size = gcfg.resolution,
    channels = gcfg.img_channels, classes = stylex.data.label_map_of(meta.data and meta or cmeta,
    cjson.decode(meta.class_names or cmeta.class_names))}
elseif meta.data then
  ds = stylex.classifier.test_set(meta, gcfg.resolution, gcfg.img_channels)
else
  ds = stylex.classifier.test_set(cmeta)
end
local n = math.min(opts.n, ds:size())
if n < 2 then stylex.cli.die(string.format("%s has %d image%s; the metrics need at least 2", ds.name or "the data",
  n, n == 1 and "" or "s")) end
io.stderr:write(string.format("%s (%s, step %s, %s) with classifier %s: %d images of %s\n", opts.checkpoint,
  meta.format, tostring(meta.step), G:config().n_classes > 0 and "StylEx" or "baseline", cls_path, n, ds.name))

local bar = stylex.cli.progress(n, "eval", 2.0)
local function progress(done) bar(done) end
local r = stylex.evaluate.stylex({G = G, E = E}, C, ds,
  {n = n, batch = opts.batch, seed = opts.seed, progress = progress})

local parts = {}
for i, k in ipairs{"l1", "perceptual", "agreement", "fd_samples", "fd_recon", "n"} do
  parts[i] = cjson.encode(k) .. ":" .. cjson.encode(r[k])
end
if ds.factors then
  local O = stylex.benchmark.load_oracles(opts.oracles)
  local q = stylex.benchmark.reconstruction_fidelity(G, E, C, O, ds, {n = n})
  local f = {}
  for _, name in ipairs(sx.shapes.factors) do
    if q[name] then f[#f + 1] = cjson.encode(name) .. ":" .. cjson.encode(q[name].r2 or q[name].accuracy) end
  end
  parts[#parts + 1] = '"factor_fidelity":{' .. table.concat(f, ",") .. "}"
end
local line = "{" .. table.concat(parts, ",") .. "}"
print(line)
if opts.record then
  if meta.format ~= "stylex-model-1" then
    stylex.cli.die("--record: " .. opts.checkpoint .. " is not a shipped model (format " .. tostring(meta.format) .. ")")
  end
  local tensors, m = assert(sx.load(opts.checkpoint))
  m.eval = line
  local ok, err = sx.save(opts.checkpoint, tensors, m)
  if not ok then
    stylex.cli.die("--record: " .. tostring(err))
  end
  io.stderr:write("recorded the figures in ", opts.checkpoint, " (metadata eval)\n")
end
