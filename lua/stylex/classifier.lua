-- stylex.classifier — loading a trained classifier and measuring it.
--
--   local classifier = require "stylex.classifier"
--   local model, meta = classifier.load("models/fmnist-shoes/classifier.safetensors") -- or a .onnx
--   local ds = classifier.test_set(meta)          -- the held-out split it was trained for
--   local acc, confusion = classifier.evaluate(model, ds)
local sx = require "stylex"
local data = require "stylex.data"
local cjson = require "cjson"

local classifier = {}

-- The classifier (sx.models.load_classifier: a built-in CNN .safetensors or a
-- .onnx file, opts for the latter) and the file's metadata table. A file
-- without metadata of its own (ONNX) gets class_names (JSON, as the CNN
-- files have them) and format = "onnx" from the classifier itself.
function classifier.load(path, opts)
  local model, meta = sx.models.load_classifier(path, opts)
  if not model then error("classifier.load: " .. tostring(meta), 2) end
  local info = model:info()
  if not meta.class_names then meta.class_names = cjson.encode(info.class_names) end
  if not meta.format then meta.format = info.kind end
  return model, meta
end

-- The held-out test split of the data set the classifier (or a StylEx model:
-- meta is either's metadata) was trained on: Fashion-MNIST, shapes, or an
-- image folder recorded under meta.data (data.folder_splits; size and
-- channels override the record's, for a GAN of another size than the
-- classifier's input).
function classifier.test_set(meta, size, channels)
  if meta.data then
    local _, test = data.folder_splits(meta.data, size, channels)
    return test
  end
  if meta.dataset == "folder" then
    error("classifier.test_set: the metadata records no image folder (key data); give --data DIR", 2)
  end
  if meta.dataset ~= "fashion-mnist" and meta.dataset ~= "shapes" then
    error("classifier.test_set: unknown data set '" .. tostring(meta.dataset) .. "'" ..
      (meta.format == "onnx" and " (an ONNX file records none; give --data DIR)" or ""), 2)
  end
  return data.named(meta.dataset, "test", cjson.decode(meta.classes))
end

-- Accuracy (0-1) and confusion matrix (rows: true class, columns: predicted;
-- 1-based) of model on ds, in eval mode.
function classifier.evaluate(model, ds, batch)
  model = require("stylex.util").as_classifier(model)
  local k = ds.n_classes
  local confusion = {}
  for i = 1, k do
    confusion[i] = {}
    for j = 1, k do confusion[i][j] = 0 end
  end
  local correct = 0
  sx.no_grad(function()
    for x, y in ds:batches(batch or 500) do
      local pred, lab = model:logits(x):argmax(2):totable(), y:totable()
      for i = 1, #lab do
        local t, p = math.tointeger(lab[i]) + 1, math.tointeger(pred[i]) + 1
        confusion[t][p] = confusion[t][p] + 1
        if t == p then correct = correct + 1 end
      end
    end
  end)
  return correct / ds:size(), confusion
end

return classifier
