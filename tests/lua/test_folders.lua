-- tests/lua/test_folders.lua — a user's image folder through every script
-- (docs/your-data.md), end to end on folders made here:
--   * data.image_folder: integer labels 3 and 8 make 2 classes (3 -> 0,
--     8 -> 1), names sort, a given label map is kept, non-square images
--     are cropped and resized, a CSV naming missing files is one error;
--   * the built-in CNN: train_classifier --data (labels.csv by default,
--     --test 4) -> eval_classifier (the recorded held-out split, found from
--     the metadata alone) -> train_stylex --classifier (the folder and its
--     split from the classifier's metadata) -> eval_stylex -> explain
--     --model (the held-out images found from the model's metadata);
--   * an ONNX classifier (tests/reference/onnx/plain.onnx, 32x32 grey,
--     classes a, b, c): train_stylex --data --classifier x.onnx
--     --resolution 8 (the GAN's own size) -> explain --model, the data set
--     recorded in the StylEx model's metadata.
-- The scripts run by absolute path in a fresh working folder, as a user would.
local T = dofile("tests/lua/harness.lua")
local sx = require "stylex"
local cjson = require "cjson"
local stylex = require "stylex.all"
local fixtures = dofile("tests/lua/fixtures.lua")

local repo = T.paths()

local work = T.tmpdir()
local cwd = work .. "/cwd"
assert(sx.mkdir(cwd))

-- Runs scripts/<script> with args in cwd: status, stdout, stderr.
local run = T.script_runner(cwd, work)

local function ok_run(script, args)
  local code, out, err = run(script, args)
  T.eq(code, 0, script .. " " .. table.concat(args, " ") .. ": exit status; stderr: " .. err)
  return out, err
end

local function meta_of(path)
  local _, m = sx.load(path)
  T.ok(m, "metadata of " .. path)
  return m or {}
end

-- A folder of n PNGs, w x h (not square), grey; labels[i % #labels + 1].
local function make_folder(dir, n, labels, w, h)
  assert(sx.mkdir(dir .. "/png"))
  local csv = assert(io.open(dir .. "/labels.csv", "w"))
  csv:write("file,label\n")
  for i = 1, n do
    local label = labels[i % #labels + 1]
    local rows = fixtures.rectangle(i, math.max(w, h), function() return label == labels[1] and 0.9 or 0.4 end, 0.1)
    local img = sx.tensor{rows}:narrow(2, 1, h):narrow(3, 1, w)
    local name = string.format("png/i%02d.png", i)
    assert(sx.image.save(img, dir .. "/" .. name))
    csv:write(name, ",", label, "\n")
  end
  csv:close()
end

local digits = work .. "/digits"
make_folder(digits, 16, {"3", "8"}, 12, 10)

T.test("image_folder: labels mapped to 0..K-1, the map kept, missing files refused", function()
  local ds = stylex.data.image_folder{dir = digits, size = 8}
  T.eq(ds.n_classes, 2, "labels 3 and 8 make 2 classes")
  T.eq(ds.label_map, {"3", "8"})
  T.eq(ds.images:shape(), {16, 1, 8, 8}, "cropped to a square and resized")
  local y = ds.labels:totable()
  T.eq(y[1], 1, "image 1 has label 8: class 1")
  T.eq(y[2], 0, "image 2 has label 3: class 0")
  local rev = stylex.data.image_folder{dir = digits, size = 8, classes = {"8", "3"}}
  T.eq(rev.labels:totable()[1], 0, "a given map is used as given")
  T.raises("label '8' is not one of the model's classes (3, 5)", stylex.data.image_folder,
    {dir = digits, size = 8, classes = {"3", "5"}})
  local names = work .. "/names.csv"
  T.write_file(names, "file,label\npng/i01.png,zebra\npng/i02.png,ant\npng/i03.png,10\n")
  T.eq(stylex.data.image_folder{dir = digits, labels = names, size = 8}.label_map, {"10", "ant", "zebra"})
  local numeric = work .. "/numeric.csv"
  T.write_file(numeric, "file,label\npng/i01.png,10\npng/i02.png,9\npng/i03.png,010\n")
  T.eq(stylex.data.image_folder{dir = digits, labels = numeric, size = 8}.label_map, {"9", "10"},
    "integers sort as numbers; 010 is 10")
  local unknown = work .. "/unknown.csv"
  T.write_file(unknown, "file,label\npng/i01.png,3\nnope1.png,8\nnope2.png,3\n")
  T.raises("names 2 files not in " .. digits .. ": nope1.png (line 3), nope2.png (line 4)", stylex.data.image_folder,
    {dir = digits, labels = unknown, size = 8})
  -- the splits a record gives: disjoint, together the folder
  local train, test = stylex.data.folder_splits{dir = digits, labels = digits .. "/labels.csv", test = 0.25,
    seed = 3, size = 8}
  T.eq(train:size() + test:size(), 16)
  T.eq(test:size(), 4, "a fraction of 16")
  local seen = {}
  for i = 1, train:size() do seen[train.images:narrow(1, i, 1):sum():item()] = true end
  local overlap = 0
  for i = 1, test:size() do if seen[test.images:narrow(1, i, 1):sum():item()] then overlap = overlap + 1 end end
  T.ok(overlap < test:size(), "held-out images differ from training ones")
  local _, again = stylex.data.folder_splits{dir = digits, labels = digits .. "/labels.csv", test = 4, seed = 3,
    size = 8}
  T.eq(T.max_abs_diff(again.images, test.images), 0, "the same record, the same held-out images")
end)

T.test("built-in CNN: train_classifier -> eval_classifier -> train_stylex -> eval_stylex -> explain via --data",
  function()
  local m = work .. "/m"
  local out = ok_run("train_classifier.lua", {"--data", digits, "--test", "4", "--val", "2", "--epochs", "1",
    "--batch", "4", "--resolution", "8", "--out", m})
  T.ok(out:find("2 classes from the labels of " .. digits .. "/labels.csv: 0 = 3, 1 = 8", 1, true),
    "the label map is shown: " .. out)
  T.ok(out:find("10 training, 2 validation, 4 test images", 1, true), out)
  local cmeta = meta_of(m .. "/classifier.safetensors")
  T.eq(cjson.decode(cmeta.class_names), {"3", "8"})
  T.eq(cmeta.dataset, "folder")
  local rec = cjson.decode(cmeta.data)
  T.eq(rec.dir, digits)
  T.eq(rec.labels, digits .. "/labels.csv", "--labels defaults to DIR/labels.csv")
  T.eq(rec.test, 4)
  T.eq(rec.label_map, {"3", "8"})
  T.eq(cjson.decode(cmeta.config).n_classes, 2)

  local ev = cjson.decode((ok_run("eval_classifier.lua", {"--checkpoint", m .. "/classifier.safetensors"})))
  T.eq(ev.n, 4, "eval_classifier finds the 4 held-out images from the metadata")
  T.eq(string.format("%.4f", ev.accuracy), cmeta.test_accuracy, "the same split as training's test figure")
  local ev2 = cjson.decode((ok_run("eval_classifier.lua", {"--checkpoint", m .. "/classifier.safetensors",
    "--data", digits})))
  T.eq(ev2.n, 16, "--data without --labels: DIR/labels.csv, every image")

  ok_run("train_stylex.lua", {"--classifier", m .. "/classifier.safetensors", "--steps", "2", "--batch", "4",
    "--grid-every", "100", "--run", work .. "/run", "--out", m .. "/stylex.safetensors"})
  local smeta = meta_of(m .. "/stylex.safetensors")
  T.eq(smeta.dataset, "folder")
  T.eq(cjson.decode(smeta.data).test, 4, "the classifier's split, recorded in the StylEx model")

  local line = (ok_run("eval_stylex.lua", {"--checkpoint", m .. "/stylex.safetensors", "--n", "3", "--batch", "3"}))
  T.eq(cjson.decode(line).n, 3)

  local rep = work .. "/report"
  local _, err = ok_run("explain.lua", {"--model", m, "--out", rep, "--n", "3", "--k", "1", "--sufficiency-k", "1",
    "--examples", "1", "--batch", "32", "--no-baseline"})
  T.ok(err:find("3 held-out images of folder:" .. digits .. " (held-out split)", 1, true), err)
  local doc = cjson.decode(T.read_file(rep .. "/report.json"))
  T.eq(doc.classifier.n_test, 4, "the report's accuracy is on the held-out split")
  T.eq(doc.classifier.class_names, {"3", "8"})
  T.ok(T.exists(rep .. "/index.html"))
end)

T.test("ONNX classifier: train_stylex --data --classifier x.onnx --resolution -> explain --model", function()
  local abc = work .. "/abc"
  make_folder(abc, 12, {"a", "b", "c"}, 9, 9)
  local m = work .. "/mo"
  local onnx = repo .. "/tests/reference/onnx/plain.onnx"
  local code, _, err = run("train_stylex.lua", {"--data", abc, "--classifier", onnx, "--steps", "1", "--run",
    work .. "/r0", "--out", m .. "/x.safetensors", "--resolution", "12", "--batch", "4"})
  T.eq(code, 2, "--resolution 12 is not a power of two: " .. err)
  ok_run("train_stylex.lua", {"--data", abc, "--classifier", onnx, "--resolution", "8", "--test", "3",
    "--steps", "2", "--batch", "4", "--grid-every", "100", "--run", work .. "/runo", "--out", m .. "/stylex.safetensors"})
  local smeta = meta_of(m .. "/stylex.safetensors")
  local rec = cjson.decode(smeta.data)
  T.eq(rec.dir, abc)
  T.eq(rec.test, 3)
  T.eq(rec.size, 8, "the GAN's size, not the classifier's 32")
  T.eq(rec.label_map, {"a", "b", "c"}, "the folder read with the ONNX sidecar's class names")
  T.eq(cjson.decode(smeta.config).resolution, 8)
  local rep = work .. "/reporto"
  local _, eerr = ok_run("explain.lua", {"--model", m, "--out", rep, "--n", "2", "--k", "1", "--sufficiency-k", "1",
    "--examples", "1", "--batch", "32", "--no-baseline"})
  T.ok(eerr:find("2 held-out images of folder:" .. abc .. " (held-out split)", 1, true), eerr)
  local doc = cjson.decode(T.read_file(rep .. "/report.json"))
  T.eq(doc.classifier.n_test, 3)
  T.eq(doc.classifier.class_names, {"a", "b", "c"})
end)

T.rm_rf(work)
T.done()
