-- tests/lua/test_host.lua — the stylex executable (arg table, -e, exit status,
-- one-line errors and the traceback of --debug / STYLEX_DEBUG) and the Lua module loaded by a stock lua5.4 through
-- package.cpath, with the embedded stylex.* modules found without lua/ on
-- package.path.
local T = dofile("tests/lua/harness.lua")

local host = arg[-1]
local dir = host and host:match("^(.*)/[^/]*$") or "."
local so = dir .. "/stylex.so"

-- Runs a shell command; returns its stdout+stderr and exit status.
local function run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

local write = T.write_file

T.test("host: arg table and script arguments", function()
  T.ok(host and io.open(host) ~= nil, "arg[-1] is the host executable: " .. tostring(host))
  local script = os.tmpname()
  write(script, [[
    local n = select("#", ...)
    print(arg[0] == ... and "bad" or "ok", n, arg[1], arg[2], arg[3], (...), (select(2, ...)))
    print(type(require("stylex").zeros), type(require("cjson").encode), type(require("cjson.safe").decode))
  ]])
  local out, code = run(host .. " " .. script .. " one 'two words' 3")
  T.eq(code, 0, "exit status 0")
  T.eq(out, "ok\t3\tone\ttwo words\t3\tone\ttwo words\nfunction\tfunction\tfunction\n")
  local out0 = run(host .. " " .. script)
  T.ok(out0:find("^ok\t0\tnil"), "no arguments: " .. out0)
  local out2 = run(host .. " -e 'print(arg[0] ~= nil, #arg)' " .. script .. " a")
  T.ok(out2:find("^true\t1\n"), "-e runs before the script and sees arg: " .. out2)
  os.remove(script)
end)

T.test("host: -e, errors, exit status", function()
  local out, code = run(host .. " -e 'print(1 + 1)'")
  T.eq(code, 0)
  T.eq(out, "2\n")
  out, code = run(host .. " -e 'local sx = require \"stylex\" local function f() return sx.zeros{-1} end f()'")
  T.eq(code, 1, "a Lua error exits with status 1")
  T.ok(out:find("zeros", 1, true) and not out:find("stack traceback", 1, true), "message, no traceback: " .. out)
  T.eq(select(2, out:gsub("\n", "")), 1, "one line: " .. out)
  out, code = run("STYLEX_DEBUG=1 " .. host .. " -e 'local sx = require \"stylex\" sx.zeros{-1}'")
  T.eq(code, 1)
  T.ok(out:find("zeros", 1, true) and out:find("stack traceback", 1, true), "STYLEX_DEBUG: a traceback: " .. out)
  local script = os.tmpname()
  write(script, "local function f() error('deep') end f()")
  out, code = run(host .. " " .. script .. " --debug")
  T.eq(code, 1)
  T.ok(out:find("deep", 1, true) and out:find("stack traceback", 1, true), "--debug: a traceback: " .. out)
  out = run(host .. " " .. script)
  T.ok(out:find("deep", 1, true) and not out:find("stack traceback", 1, true), "no --debug: none: " .. out)
  os.remove(script)
  out, code = run(host .. " -e 'error({})'")
  T.eq(code, 1)
  T.ok(out:find("error object is a table value", 1, true), out)
  out, code = run(host .. " /nonexistent/script.lua")
  T.eq(code, 1, "a missing script fails")
  T.ok(out:find("/nonexistent/script.lua", 1, true), out)
  out, code = run(host .. " -e 'syntax error here'")
  T.eq(code, 1)
  out, code = run(host .. " -e 'os.exit(3)'")
  T.eq(code, 3, "os.exit status passes through")
  out, code = run(host .. " --bogus")
  T.eq(code, 1, "unknown option")
  out, code = run(host .. " -v")
  T.eq(code, 0)
  T.ok(out:find("^stylex %d+%.%d+%.%d+"), out)
  out, code = run("echo 'print(40 + 2)' | " .. host .. " -")
  T.eq(out, "42\n", "- reads the script from stdin")
end)

T.test("stock lua5.4 loads build/stylex.so", function()
  T.ok(io.open(so) ~= nil, "the module exists: " .. so)
  local code = [[
    package.cpath = "]] .. dir .. [[/?.so;" .. package.cpath
    package.path = "/nonexistent/?.lua"
    local sx = require "stylex"
    local t = (sx.ones{2, 2} + 1):sum()
    local names = {}
    for name in pairs(package.preload) do
      if name:match("^stylex%.") then names[#names + 1] = name end
    end
    table.sort(names)
    for _, name in ipairs(names) do require(name) end
    print(sx.version, t:item(), #names)
  ]]
  local script = os.tmpname()
  write(script, code)
  -- a sanitizer build's module needs its runtime loaded first
  local preload = {}
  for lib in run("ldd " .. so):gmatch("=> (%S+/lib[a-z]*san%.so[.%d]*)") do preload[#preload + 1] = lib end
  local env = #preload > 0 and ("LD_PRELOAD='" .. table.concat(preload, " ") .. "' ASAN_OPTIONS=detect_leaks=0 ") or ""
  local out, status = run(env .. "lua5.4 " .. script)
  os.remove(script)
  T.eq(status, 0, "lua5.4 ran: " .. out)
  T.ok(out:find("^%d+%.%d+%.%d+\t8%.0\t%d+\n$"), "require works, embedded modules load: " .. out)
end)

T.test("stylex.all: each embedded module under its name, loaded once", function()
  local stylex = require "stylex.all"
  for name in pairs(package.preload) do
    local short = name:match("^stylex%.(.+)$")
    if short and short ~= "all" then T.ok(rawequal(stylex[short], require(name)), name) end
  end
  T.ok(stylex.attfind ~= require("stylex").attfind, "the Lua attfind is not the C module's sx.attfind")
  T.raises("stylex.nowhere", function() return stylex.nowhere end)
  T.raises("no module all", function() return stylex.all end)
end)

T.done()
