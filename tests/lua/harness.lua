-- tests/lua/harness.lua — the assertions the Lua tests share.
--
--   local T = dofile("tests/lua/harness.lua")
--   T.test("name", function() T.eq(a, b) ... end)
--   T.done()           -- prints a summary, exits 1 if anything failed
--
-- A failed check records the message with its line and the test goes on to
-- its next check; an error inside a test fails that test and the next runs.

local T = { failures = 0, checks = 0, current = "" }

local function where(level)
  local info = debug.getinfo(level + 1, "Sl")
  return info and (info.short_src .. ":" .. info.currentline) or "?"
end

local function fail(msg, level)
  T.failures = T.failures + 1
  io.stderr:write(string.format("FAIL [%s] %s: %s\n", T.current, where(level + 1), msg))
end

function T.ok(cond, msg)
  T.checks = T.checks + 1
  if not cond then fail(msg or "expected a true value", 2) end
  return cond
end

-- Deep equality for numbers, strings, booleans and nested tables.
local function deep_eq(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b end
  for k, v in pairs(a) do if not deep_eq(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local function show(v)
  if type(v) ~= "table" then return tostring(v) end
  local parts = {}
  for i = 1, #v do parts[i] = show(v[i]) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

function T.eq(a, b, msg)
  T.checks = T.checks + 1
  if not deep_eq(a, b) then
    fail((msg and msg .. ": " or "") .. "expected " .. show(b) .. ", got " .. show(a), 2)
    return false
  end
  return true
end

-- |a - b| <= tol (elementwise for nested tables of numbers).
local function near(a, b, tol)
  if type(a) == "number" and type(b) == "number" then
    return math.abs(a - b) <= tol or (a ~= a and b ~= b)
  end
  if type(a) ~= "table" or type(b) ~= "table" or #a ~= #b then return false end
  for i = 1, #a do if not near(a[i], b[i], tol) then return false end end
  return true
end

function T.near(a, b, tol, msg)
  T.checks = T.checks + 1
  if not near(a, b, tol or 1e-5) then
    fail((msg and msg .. ": " or "") .. "expected " .. show(b) .. " (tol " .. (tol or 1e-5) .. "), got " .. show(a), 2)
    return false
  end
  return true
end

-- f(...) must raise an error whose message contains `pattern` (plain text).
-- Returns the message.
function T.raises(pattern, f, ...)
  T.checks = T.checks + 1
  local ok, err = pcall(f, ...)
  if ok then
    fail("expected an error mentioning '" .. pattern .. "', got none", 2)
    return nil
  end
  err = tostring(err)
  if not err:find(pattern, 1, true) then
    fail("expected an error mentioning '" .. pattern .. "', got: " .. err, 2)
  end
  return err
end

function T.test(name, f)
  T.current = name
  local ok, err = xpcall(f, debug.traceback)
  if not ok then fail("error: " .. tostring(err), 1) end
  T.current = ""
end

-- Files for tests: the contents of a file (nil if it cannot be read), whether
-- it exists, a fresh empty directory, and removing a directory tree.
function T.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

function T.write_file(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
end

-- Fresh file names: tmp(suffix) is base .. suffix for one os.tmpname() base;
-- made lists every name handed out (and the base), for the caller to remove.
function T.tmpfiles()
  local base = os.tmpname()
  local made = { base }
  local function tmp(suffix)
    local p = base .. suffix
    made[#made + 1] = p
    return p
  end
  return tmp, made
end

function T.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

function T.rm_rf(path) assert(require("stylex").remove_tree(path)) end

function T.tmpdir()
  local dir = os.tmpname()
  os.remove(dir)
  assert(require("stylex").mkdir(dir))
  return dir
end

function T.done()
  local name = arg and arg[0] or "?"
  if T.failures > 0 then
    io.stderr:write(string.format("%s: %d of %d checks FAILED\n", name, T.failures, T.checks))
    os.exit(1)
  end
  print(string.format("%s: %d checks passed", name, T.checks))
end

-- Running the scripts as a user would. T.paths(): the checkout (the working
-- folder of the test) and the stylex executable, both absolute; T.quote(s):
-- s as one shell word; T.script_runner(cwd, work) -> run(script, args):
-- runs scripts/<script> by absolute path with args (a list) in the folder
-- cwd, stderr through the file work/stderr; returns the exit status, stdout
-- and stderr.
function T.paths()
  local repo = io.popen("pwd"):read("l")
  return repo, arg[-1]:sub(1, 1) == "/" and arg[-1] or repo .. "/" .. arg[-1]
end

function T.quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

function T.script_runner(cwd, work)
  local repo, host = T.paths()
  local q = T.quote
  return function(script, args)
    local words = {}
    for i, a in ipairs(args) do words[i] = q(a) end
    local errf = work .. "/stderr"
    local p = assert(io.popen(string.format("cd %s && %s %s %s 2>%s", q(cwd), q(host), q(repo .. "/scripts/" .. script),
      table.concat(words, " "), q(errf))))
    local out = p:read("a")
    local _, _, code = p:close()
    return code, out, T.read_file(errf) or ""
  end
end

-- The largest |a - b| over all elements of two tensors.
function T.max_abs_diff(a, b) return (a - b):abs():max():item() end

return T
