-- tests/dist/check_run.lua RUN_DIR MODEL STEPS OUTPUT — checks what
-- scripts/train_stylex.lua left after a run and a --resume under mpirun
-- (tests/dist/run.sh): one log row per step 1..STEPS, the checkpoint at
-- STEPS, the model written, and one "training ..." line in OUTPUT (rank 0
-- alone prints).
local sx = require "stylex"
local cjson = require "cjson"
local dir, model, steps, output = arg[1], arg[2], math.tointeger(tonumber(arg[3])), arg[4]
local seen = {}
for line in assert(io.open(dir .. "/log.jsonl")):lines() do
  local row = cjson.decode(line)
  assert(not seen[row.step], "log: step " .. row.step .. " twice")
  seen[row.step] = true
end
for s = 1, steps do assert(seen[s], "log: no row for step " .. s) end
assert(#seen == steps, "log: " .. #seen .. " rows, expected " .. steps)
local _, meta = assert(sx.load(dir .. "/checkpoint.safetensors"))
assert(meta.step == tostring(steps), "checkpoint at step " .. tostring(meta.step) .. ", expected " .. steps)
local _, mmeta = assert(sx.load(model))
assert(mmeta.format == "stylex-model-1", "model file format " .. tostring(mmeta.format))
local n = 0
for line in assert(io.open(output)):lines() do
  if line:match("^training ") then
    n = n + 1
    assert(line:find("2 ranks", 1, true), "the training line does not say 2 ranks: " .. line)
  end
end
assert(n == 2, n .. " 'training' lines in two runs, expected 2 (rank 0 alone prints)")
print(string.format("train_stylex.lua under mpirun: %d steps over a --resume, log, checkpoint and model by rank 0", steps))
