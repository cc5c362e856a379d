-- tests/lua/test_checkpoint_bytes.lua — two processes training the same run
-- (scripts/train_stylex.lua, same data, options and seed) write
-- byte-identical checkpoints: the tensors, and the metadata, whose config is
-- JSON with sorted keys (util.encode_sorted; lua-cjson's order follows the
-- table's, which changes from process to process). Also their log rows.
local T = dofile("tests/lua/harness.lua")
local fixture = dofile("tests/lua/broken_fixture.lua")
local util = require "stylex.util"

local repo, host = T.paths()
local q = T.quote

T.test("util.encode_sorted: keys in order, lists as lists", function()
  T.eq(util.encode_sorted{b = 1, a = {3, 2}, c = {z = true, y = "s"}, d = {}}, '{"a":[3,2],"b":1,"c":{"y":"s","z":true},"d":{}}')
  local t = {}
  for i = 1, 40 do t["k" .. i] = i end
  local keys = {}
  for k in util.encode_sorted(t):gmatch('"(k%d+)"') do keys[#keys + 1] = k end
  local sorted = {table.unpack(keys)}
  table.sort(sorted)
  T.eq(keys, sorted, "40 keys sorted")
end)

T.test("two processes, one run: byte-identical checkpoints", function()
  local work = T.tmpdir()
  local fx = fixture.make(work)
  local function train(run)
    return os.execute(string.format("%s %s --data %s --labels %s --classifier %s --batch 4 --steps 2 --grid-every 2 "
      .. "--run %s --out %s >/dev/null 2>&1", q(host), q(repo .. "/scripts/train_stylex.lua"), q(fx.data),
      q(fx.labels), q(fx.classifier), q(run), q(run .. "/model.safetensors")))
  end
  T.eq(train(work .. "/a"), true, "the first run")
  T.eq(train(work .. "/b"), true, "the second run")
  local a, b = T.read_file(work .. "/a/checkpoint.safetensors"), T.read_file(work .. "/b/checkpoint.safetensors")
  T.ok(a and #a > 1000 and a == b, "the checkpoints are byte-identical")
  T.ok(T.read_file(work .. "/a/log.jsonl") == T.read_file(work .. "/b/log.jsonl"), "and the logs")
  T.rm_rf(work)
end)

T.done()
