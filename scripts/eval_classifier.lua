-- scripts/eval_classifier.lua — the held-out test accuracy of a classifier checkpoint.
--
--   build/stylex scripts/eval_classifier.lua --checkpoint models/fmnist-shoes/classifier.safetensors
--
-- Prints one JSON line: {"accuracy": 0..1, "n": test images, "confusion": [[...]]}
-- (confusion rows are true classes, columns predictions, in the checkpoint's class order).
local stylex = require "stylex.all"
local cjson = require "cjson"

local opts = stylex.cli.parse(arg, {checkpoint = ""}, "usage: stylex scripts/eval_classifier.lua --checkpoint FILE",
  {required = {"checkpoint"}, options = {checkpoint = "file"}})
local model, meta = stylex.classifier.load(opts.checkpoint)
local ds = stylex.classifier.test_set(meta)
local acc, confusion = stylex.classifier.evaluate(model, ds)
print(cjson.encode{accuracy = acc, n = ds:size(), confusion = confusion, classes = cjson.decode(meta.class_names)})
