-- scripts/eval_classifier.lua — the held-out test accuracy of a classifier.
--
--   build/stylex scripts/eval_classifier.lua --checkpoint models/fmnist-shoes/classifier.safetensors
--   build/stylex scripts/eval_classifier.lua --checkpoint classifier.onnx --data DIR [--labels CSV]
--
-- The images: the held-out split the classifier's metadata records
-- (Fashion-MNIST, shapes, or the image folder train_classifier.lua --data was
-- given), or --data/--labels. A folder's labels are mapped to the
-- classifier's classes by its recorded label map, else by its class names
-- (an ONNX file's sidecar), else as they are (0..K-1).
-- Prints one JSON line: {"accuracy": 0..1, "n": test images, "confusion": [[...]], "classes": [...]}
-- (confusion rows are true classes, columns predictions, in the classifier's class order).
local stylex = require "stylex.all"
local cjson = require "cjson"

local usage = [==[
usage: stylex scripts/eval_classifier.lua --checkpoint FILE [--data DIR [--labels CSV]]
  --checkpoint FILE   a classifier: .safetensors (stylex's CNN) or .onnx
  --data DIR          evaluate on a folder of PNGs (default: the held-out split the
                      classifier's metadata records)
  --labels CSV        its file,label list (default DIR/labels.csv)]==]
local opts = stylex.cli.parse(arg, {checkpoint = "", data = "", labels = ""}, usage,
  {required = {"checkpoint"}, options = {checkpoint = "file"}})
local folder = stylex.cli.check_data(opts)
local model, meta = stylex.classifier.load(opts.checkpoint)
local class_names = cjson.decode(meta.class_names)
local ds
if folder then
  ds = stylex.data.image_folder{dir = opts.data, labels = opts.labels, size = model:config().resolution,
    channels = model:config().img_channels, classes = stylex.data.label_map_of(meta, class_names)}
else
  if not meta.data and meta.dataset ~= "fashion-mnist" and meta.dataset ~= "shapes" then
    stylex.cli.usage_error(opts.checkpoint .. " records no data set it was trained on; give --data DIR")
  end
  ds = stylex.classifier.test_set(meta)
end
local acc, confusion = stylex.classifier.evaluate(model, ds)
print(cjson.encode{accuracy = acc, n = ds:size(), confusion = confusion, classes = class_names})
