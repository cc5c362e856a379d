-- tests/faults/kill_resume.lua — `make faults`: a tiny training
-- (scripts/train_stylex.lua on tests/lua/broken_fixture.lua's 12 images,
-- batch 4, a checkpoint after every step) killed with SIGKILL 10 times,
-- every other time while its checkpoint's temporary file exists (inside a
-- checkpoint write), and resumed after each kill. Then, against the same run
-- uninterrupted: the checkpoint is byte-identical (two processes write the
-- same bytes for the same state), the exported tensors equal, log.jsonl is
-- byte-identical with one row per step, and no temporary is left.
--   build/stylex tests/faults/kill_resume.lua [steps]   (default 40)
-- Uses the shell (sleep, kill, ls) as a test harness does; the scripts under
-- test do not.
local T = dofile("tests/lua/harness.lua")
local sx = require "stylex"
local fixture = dofile("tests/lua/broken_fixture.lua")

local STEPS = math.tointeger(tonumber(arg[1] or "")) or 40
local KILLS = 10
local repo = io.popen("pwd"):read("l")
local host = arg[-1]:sub(1, 1) == "/" and arg[-1] or repo .. "/" .. arg[-1]
local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local function sleep(s) os.execute(string.format("sleep %.3f", s)) end

local work = T.tmpdir()
local fx = fixture.make(work)
local t0 = sx.wall_time()

local function command(run)
  return string.format("%s %s --data %s --labels %s --classifier %s --batch 4 --steps %d --checkpoint-minutes 0 "
    .. "--grid-every 8 --seed 3 --run %s --out %s", q(host), q(repo .. "/scripts/train_stylex.lua"), q(fx.data),
    q(fx.labels), q(fx.classifier), STEPS, q(run), q(run .. "/model.safetensors"))
end

-- Alive and not a zombie.
local function alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return false end
  local stat = f:read("a")
  f:close()
  return not stat:match("^%d+ %b() Z")
end

local function files_of(dir)
  local out = {}
  for name in io.popen("ls -A " .. q(dir)):lines() do out[#out + 1] = name end
  return out
end

-- The uninterrupted run.
local ref = work .. "/ref"
T.eq(os.execute(command(ref) .. " >/dev/null 2>&1"), true, "the uninterrupted run")
local t_ref = sx.wall_time() - t0

-- The killed run: each round starts (or resumes) it in the background and
-- kills it; odd rounds wait for a checkpoint write to be under way.
local run = work .. "/killed"
local inside, finished_early = 0, 0
math.randomseed(16)
for k = 1, KILLS do
  local pid = math.tointeger(tonumber(io.popen(command(run) .. " --resume >>" .. q(work .. "/killed.out")
    .. " 2>&1 & echo $!"):read("l")))
  local tmp = run .. "/checkpoint.safetensors.tmp-" .. pid
  sleep(0.4 + math.random() * 0.8)
  if k % 2 == 1 then
    for _ = 1, 400 do
      if T.exists(tmp) or not alive(pid) then break end
      sleep(0.005)
    end
  end
  local in_write = T.exists(tmp)
  os.execute("kill -9 " .. pid .. " 2>/dev/null")
  for _ = 1, 400 do
    if not alive(pid) then break end
    sleep(0.01)
  end
  if in_write and T.exists(tmp) then inside = inside + 1 end
  if T.exists(run .. "/model.safetensors") then finished_early = finished_early + 1 end
end
T.ok(inside >= 3, "at least 3 kills inside a checkpoint write, got " .. inside)
T.eq(finished_early, 0, "the run was still going at every kill (more steps needed)")
T.eq(os.execute(command(run) .. " --resume >>" .. q(work .. "/killed.out") .. " 2>&1"), true, "the last resume")

-- The same final state, byte for byte.
local function bytes(p) return T.read_file(p) or ("missing " .. p) end
T.ok(bytes(ref .. "/checkpoint.safetensors") == bytes(run .. "/checkpoint.safetensors"),
  "the checkpoints are byte-identical")
local a, b = sx.load(ref .. "/model.safetensors"), sx.load(run .. "/model.safetensors")
local names, same = 0, true
for name, t in pairs(a or {}) do
  names = names + 1
  if not b[name] or (t - b[name]):abs():max():item() ~= 0 then same = false end
end
T.ok(names > 0 and same, "the exported tensors are equal (" .. names .. " tensors)")
T.ok(bytes(ref .. "/log.jsonl") == bytes(run .. "/log.jsonl"), "log.jsonl is byte-identical")
local steps = {}
for line in io.lines(run .. "/log.jsonl") do steps[#steps + 1] = require("cjson").decode(line).step end
T.eq(#steps, STEPS, "one log row per step")
for i, s in ipairs(steps) do T.eq(s, i, "row " .. i) end
for _, name in ipairs(files_of(run)) do T.ok(not name:find(".tmp", 1, true), "no temporary left: " .. name) end
T.eq(#files_of(ref), #files_of(run), "the same files as the uninterrupted run")

print(string.format("kill_resume: %d steps, %d kills (%d inside a checkpoint write), uninterrupted %.1f s, all %.1f s",
  STEPS, KILLS, inside, t_ref, sx.wall_time() - t0))
T.rm_rf(work)
T.done()
