-- scripts/eval_classifier.lua — the held-out test accuracy of a classifier checkpoint.
--
--   build/stylex scripts/eval_classifier.lua --checkpoint models/fmnist-shoes/classifier.safetensors
--
-- Prints one JSON line: {"accuracy": 0..1, "n": test images, "confusion": [[...]]}
-- (confusion rows are true classes, columns predictions, in the checkpoint's class order).
local cli = require "stylex.cli"
local classifier = require "stylex.classifier"
local cjson = require "cjson"

local opts = cli.parse(arg, {checkpoint = ""}, "usage: stylex scripts/eval_classifier.lua --checkpoint FILE",
  {required = {"checkpoint"}})
local model, meta = classifier.load(opts.checkpoint)
local ds = classifier.test_set(meta)
local acc, confusion = classifier.evaluate(model, ds)
print(cjson.encode{accuracy = acc, n = ds:size(), confusion = confusion, classes = cjson.decode(meta.class_names)})
