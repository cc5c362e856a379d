-- tests/lua/test_broken_inputs.lua — the broken-input suite: every script,
-- given a bad option or a broken file, fails early with ONE line on stderr
-- that names the option or file, exit status 2 for a usage error and 1 for a
-- runtime error, and no traceback; the --run injection creates nothing; an
-- output folder under a file or a data set smaller than the batch is refused
-- before any training. Runs in `make test` (about a minute on 2 cores) and
-- in `make faults`. The scripts run in a fresh working folder (their default
-- outputs, models/custom/..., land there), by absolute path.
local T = dofile("tests/lua/harness.lua")
local sx = require "stylex"
local fixture = dofile("tests/lua/broken_fixture.lua")

local repo = T.paths()

local work = T.tmpdir()
local fx = fixture.make(work)
local cwd = work .. "/cwd"
assert(sx.mkdir(cwd))

-- Runs scripts/<script> with args (a list) in cwd; returns status, stdout, stderr.
local run = T.script_runner(cwd, work)

-- The failure: status, one line, no traceback, the line names `names`.
local function fails(status, script, args, names, what)
  local code, _, err = run(script, args)
  what = script .. " " .. table.concat(args, " ") .. (what and " (" .. what .. ")" or "")
  T.eq(code, status, what .. ": exit status; stderr: " .. err)
  local lines = select(2, err:gsub("\n", ""))
  T.eq(lines, 1, what .. ": one line on stderr: " .. err)
  T.ok(not err:find("traceback", 1, true), what .. ": no traceback: " .. err)
  for _, n in ipairs(type(names) == "table" and names or {names}) do
    T.ok(err:find(n, 1, true), what .. ": the line names " .. n .. ": " .. err)
  end
  return err
end

-- A file whose bytes are not what its name says.
local junk = work .. "/junk.safetensors"
T.write_file(junk, "this is not a safetensors file at all")
local afile = work .. "/a-file"
T.write_file(afile, "x")
-- a training checkpoint made for 16x16 images (trainer.save of a fresh state)
local ckpt16 = work .. "/run16"
do
  local stylex = require "stylex.all"
  local C16 = stylex.classifier.load(fx.classifier16)
  local S = stylex.trainer.new(stylex.trainer.config{resolution = 16, img_channels = 1, n_classes = 2, batch = 4,
    channels = {16, 16, 16}, z_dim = 8, w_dim = 8, mapping_layers = 1}, C16)
  assert(sx.mkdir(ckpt16))
  stylex.trainer.save(S, ckpt16 .. "/checkpoint.safetensors")
end
local corrupt_run = work .. "/corrupt-run"
assert(sx.mkdir(corrupt_run))
T.write_file(corrupt_run .. "/checkpoint.safetensors", "\8\0\0\0\0\0\0\0{\"a\":1}")

local folder = {"--data", fx.data, "--labels", fx.labels, "--classifier", fx.classifier}
local function with(base, ...)
  local out = {}
  for _, a in ipairs(base) do out[#out + 1] = a end
  for _, a in ipairs{...} do out[#out + 1] = a end
  return out
end

T.test("train_stylex.lua: bad options are usage errors (exit 2) before any work", function()
  fails(2, "train_stylex.lua", {"--preset", "no-such-preset"}, "--preset")
  fails(2, "train_stylex.lua", {}, "--preset")
  fails(2, "train_stylex.lua", {"--bogus"}, "--bogus")
  fails(2, "train_stylex.lua", {"--preset", "shapes", "--steps"}, "--steps")
  fails(2, "train_stylex.lua", with(folder, "--steps", "-5"), "--steps")
  fails(2, "train_stylex.lua", with(folder, "--steps", "2.5"), "--steps")
  fails(2, "train_stylex.lua", with(folder, "--steps", "nan"), "--steps")
  fails(2, "train_stylex.lua", with(folder, "--batch", "2.5"), "--batch")
  fails(2, "train_stylex.lua", with(folder, "--batch", "6", "--grid-every", "0"), "--grid-every")
  fails(2, "train_stylex.lua", with(folder, "--batch", "5"), "--batch")
  fails(2, "train_stylex.lua", with(folder, "--style-mixing", "1.5"), "--style-mixing")
  fails(2, "train_stylex.lua", with(folder, "--lr-encoder", "-1"), "--lr-encoder")
  fails(2, "train_stylex.lua", with(folder, "--class-dropout", "2"), "--class-dropout")
  fails(2, "train_stylex.lua", with(folder, "--checkpoint-minutes", "-1"), "--checkpoint-minutes")
  fails(2, "train_stylex.lua", {"--data", work .. "/no-such-folder", "--labels", fx.labels, "--classifier", fx.classifier},
    {"--data", "no-such-folder"})
  fails(2, "train_stylex.lua", {"--data", fx.data, "--labels", work .. "/none.csv", "--classifier", fx.classifier},
    {"--labels", "none.csv"})
  fails(2, "train_stylex.lua", {"--data", fx.data, "--labels", fx.labels}, "--classifier")
  fails(2, "train_stylex.lua", with(folder, "--run", afile .. "/run"), {"--run", "a-file"})
  fails(2, "train_stylex.lua", with(folder, "--out", afile .. "/m.safetensors"), {"--out", "a-file"})
  fails(2, "train_stylex.lua", with(folder, "--out", work), {"--out", "folder"})
  -- 12 images, 2 of them held out (--test 0.2), batch 16: refused before training, not after it
  fails(2, "train_stylex.lua", with(folder, "--batch", "16", "--run", work .. "/r-big"), {"--batch", "10"})
  fails(2, "train_stylex.lua", with(folder, "--batch", "1000", "--run", work .. "/r-big"), {"--batch", "10"})
  T.ok(not T.exists(work .. "/r-big/log.jsonl"), "no training started")
end)

T.test("train_stylex.lua: broken files are one-line runtime errors (exit 1)", function()
  fails(1, "train_stylex.lua", {"--data", fx.data, "--labels", fx.labels, "--classifier", junk}, "junk.safetensors")
  fails(1, "train_stylex.lua", {"--data", fx.data, "--labels", fx.empty, "--classifier", fx.classifier}, "empty.csv")
  fails(1, "train_stylex.lua", with(folder, "--run", corrupt_run, "--resume", "--batch", "4"), "checkpoint.safetensors")
  fails(1, "train_stylex.lua", with(folder, "--run", ckpt16, "--resume", "--batch", "4"),
    {"checkpoint.safetensors", "resolution"})
end)

T.test("train_stylex.lua: no path reaches a shell; --data with the default --out works", function()
  local evil = "x';touch PWNED;echo '"
  local code, out, err = run("train_stylex.lua", with(folder, "--run", evil, "--steps", "1", "--batch", "4",
    "--grid-every", "1"))
  T.eq(code, 0, "trains: " .. out .. err)
  T.ok(not T.exists(cwd .. "/PWNED"), "the injection created nothing")
  T.ok(T.exists(cwd .. "/" .. evil .. "/checkpoint.safetensors"), "the run folder has the name as given")
  T.ok(T.exists(cwd .. "/models/custom/stylex.safetensors"), "--data with the default --out: " .. out .. err)
  -- the model just written, for fit_encoder's checks of the data against the batch
  local model = cwd .. "/models/custom/stylex.safetensors"
  fails(2, "fit_encoder.lua", {"--model", model, "--data", fx.data, "--labels", fx.labels, "--batch", "1000",
    "--steps", "1", "--out", work .. "/fitted.safetensors"}, {"--batch", "12"})
  fails(2, "fit_encoder.lua", {"--model", model, "--steps", "1", "--out", work .. "/fitted.safetensors"},
    {"--data", "folder"})
end)

T.test("train_classifier.lua: bad options are usage errors", function()
  fails(2, "train_classifier.lua", {"--preset", "shapes", "--batch", "0"}, "--batch")
  fails(2, "train_classifier.lua", {"--preset", "shapes", "--batch", "-4"}, "--batch")
  fails(2, "train_classifier.lua", {"--preset", "shapes", "--epochs", "-5"}, "--epochs")
  fails(2, "train_classifier.lua", {"--preset", "shapes", "--lr", "-1"}, "--lr")
  fails(2, "train_classifier.lua", {"--preset", "nope"}, "--preset")
  fails(2, "train_classifier.lua", {"--preset", "shapes", "--out", afile .. "/cls"}, {"--out", "a-file"})
  fails(2, "train_classifier.lua", {"--preset", "fmnist-shoes", "--val", "99999999"}, "--val")
end)

T.test("eval_stylex.lua, explain.lua and the other scripts: one line each", function()
  fails(2, "eval_stylex.lua", {}, "--checkpoint")
  fails(2, "eval_stylex.lua", {"--checkpoint", work .. "/none.safetensors"}, {"--checkpoint", "none.safetensors"})
  fails(1, "eval_stylex.lua", {"--checkpoint", junk}, "junk.safetensors")
  fails(2, "eval_stylex.lua", {"--checkpoint", repo .. "/models/fmnist-shoes/stylex.safetensors", "--n", "0"}, "--n")
  fails(1, "eval_stylex.lua", {"--checkpoint", repo .. "/models/fmnist-shoes/stylex.safetensors",
    "--classifier", junk}, "junk.safetensors")
  fails(1, "eval_stylex.lua", {"--checkpoint", repo .. "/models/fmnist-shoes/stylex.safetensors",
    "--classifier", repo .. "/models/fmnist-shoes/classifier.safetensors", "--data", fx.data, "--labels", fx.empty},
    "empty.csv")
  fails(2, "explain.lua", {}, "--model")
  fails(2, "explain.lua", {"--model", work .. "/none"}, {"--model", "none"})
  fails(2, "explain.lua", {"--model", work}, {"--model", "stylex.safetensors"})
  fails(2, "explain.lua", {"--model", repo .. "/models/fmnist-shoes", "--policy", "best"}, "--policy")
  fails(2, "explain.lua", {"--model", repo .. "/models/fmnist-shoes", "--n", "-3"}, "--n")
  fails(2, "explain.lua", {"--model", repo .. "/models/fmnist-shoes", "--max-corr", "2"}, "--max-corr")
  fails(2, "explain.lua", {"--model", repo .. "/models/fmnist-shoes", "--discriminator-threshold", "-1"},
    "--discriminator-threshold")
  fails(2, "explain.lua", {"--model", repo .. "/models/fmnist-shoes", "--out", afile .. "/report"}, {"--out", "a-file"})
  fails(2, "explain.lua", {"--model", repo .. "/models/fmnist-shoes", "--out", afile}, {"--out", "a-file"})
  fails(2, "eval_classifier.lua", {}, "--checkpoint")
  fails(1, "eval_classifier.lua", {"--checkpoint", junk}, "junk.safetensors")
  fails(2, "fit_encoder.lua", {"--model", junk, "--steps", "0"}, "--steps")
  fails(2, "make_shapes.lua", {"--out", afile .. "/x", "--n", "4"}, {"--out", "a-file"})
  fails(2, "make_shapes.lua", {"--out", work .. "/shapes", "--n", "-4"}, "--n")
  fails(2, "train_oracles.lua", {"--epochs", "0"}, "--epochs")
  fails(2, "train_oracles.lua", {"--out", afile .. "/o.safetensors"}, {"--out", "a-file"})
  fails(2, "faithfulness.lua", {"--model", work .. "/none"}, "--model")
  fails(2, "null_attributes.lua", {"--model", work .. "/none"}, "--model")
  fails(2, "gradcam_check.lua", {"--model", work .. "/none"}, "--model")
  fails(2, "gradcam_check.lua", {"--model", repo .. "/models/shapes", "--patch", "100"}, {"--patch", "32x32"})
  fails(2, "encoder_spread.lua", {"--checkpoint", work .. "/none.safetensors"}, "--checkpoint")
end)

T.test("image folders: a missing labels file, a CSV naming unknown files, labels a model does not know", function()
  local nolabels = fx.dir .. "/img" -- a folder of PNGs without labels.csv
  local unknown = work .. "/unknown.csv"
  T.write_file(unknown, "file,label\nimg/img01.png,0\nimg/gone.png,1\nimg/img03.png,0\n")
  local plain = repo .. "/tests/reference/onnx/plain.onnx"
  -- --data without --labels reads DIR/labels.csv: its absence is a usage error naming it
  fails(2, "train_classifier.lua", {"--data", nolabels}, {"--labels", nolabels .. "/labels.csv"})
  fails(2, "train_stylex.lua", {"--data", nolabels, "--classifier", fx.classifier}, nolabels .. "/labels.csv")
  fails(2, "eval_classifier.lua", {"--checkpoint", fx.classifier, "--data", nolabels}, nolabels .. "/labels.csv")
  fails(2, "eval_stylex.lua", {"--checkpoint", junk, "--data", nolabels}, nolabels .. "/labels.csv")
  fails(2, "explain.lua", {"--model", work, "--data", nolabels}, nolabels .. "/labels.csv")
  fails(2, "train_classifier.lua", {"--labels", fx.labels}, "--labels needs --data")
  -- a CSV that names files the folder does not have: one line, the count and the names
  fails(1, "train_classifier.lua", {"--data", fx.data, "--labels", unknown, "--out", work .. "/u"},
    {"unknown.csv", "names 1 file not in", "img/gone.png (line 3)"})
  fails(1, "train_stylex.lua", {"--data", fx.data, "--labels", unknown, "--classifier", fx.classifier, "--run",
    work .. "/ru"}, {"unknown.csv", "img/gone.png (line 3)"})
  fails(1, "eval_classifier.lua", {"--checkpoint", fx.classifier, "--data", fx.data, "--labels", unknown},
    "img/gone.png (line 3)")
  -- the split options
  fails(2, "train_classifier.lua", {"--data", fx.data, "--test", "1.5"}, "--test")
  fails(2, "train_classifier.lua", {"--data", fx.data, "--test", "0"}, "--test")
  fails(2, "train_classifier.lua", {"--data", fx.data, "--test", "2", "--test-labels", fx.labels}, "--test-labels")
  fails(2, "train_classifier.lua", {"--preset", "shapes", "--test", "2"}, {"--test", "--data"})
  fails(2, "train_classifier.lua", {"--preset", "shapes", "--data", fx.data}, {"--preset", "--data"})
  fails(1, "train_classifier.lua", {"--data", fx.data, "--test", "12", "--out", work .. "/u"},
    {"12 held out of 12", "labels.csv"})
  -- a classifier file that records no folder, with no --data
  fails(2, "eval_classifier.lua", {"--checkpoint", fx.classifier}, {"classifier.safetensors", "--data"})
  -- the GAN's own size: only for a classifier that resizes (ONNX), a power of two
  fails(2, "train_stylex.lua", {"--data", fx.data, "--classifier", fx.classifier, "--resolution", "16"},
    {"--resolution", "only an ONNX"})
  fails(2, "train_stylex.lua", {"--data", fx.data, "--classifier", plain, "--resolution", "12"}, "--resolution")
  fails(2, "train_stylex.lua", {"--classifier", plain, "--resolution", "8"}, {"ONNX", "--data"})
  -- labels 0 and 1 against the ONNX classifier's classes a, b, c
  fails(1, "train_stylex.lua", {"--data", fx.data, "--classifier", plain, "--resolution", "8", "--run", work .. "/ro"},
    {"label '1' is not one of the model's classes (a, b, c)", "labels.csv"})
end)

T.test("--debug shows the traceback", function()
  local code, _, err = run("eval_stylex.lua", {"--checkpoint", junk, "--debug"})
  T.eq(code, 1)
  T.ok(err:find("junk.safetensors", 1, true) and err:find("stack traceback", 1, true), "message and traceback: " .. err)
end)

T.rm_rf(work)
T.done()
