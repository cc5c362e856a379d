-- stylex.cli — command-line parsing, argument checks, one-line failures and
-- terminal progress for scripts.
--
--   local opts = cli.parse(arg, {preset = "fmnist-shoes", epochs = 0, resume = false}, usage, checks)
-- accepts --name value and --flag (booleans); numbers are converted when the
-- default is a number; --help prints the usage and exits 0; --debug (every
-- script) makes the host print a traceback with an error. Everything wrong
-- with the command line fails with ONE line on stderr, naming the option and
-- what was expected, and exit status 2 (cli.usage_error); a failure found
-- later, in the work itself, is one line and status 1 (cli.die, or any Lua
-- error: the host prints its message alone). checks (optional):
--   required = {"model", ...}        string options that must be given
--   positive_integers = {"n", ...}   number options that must be integers >= 1
--                                    (converted to Lua integers)
--   options = {name = kind, ...}     a check of the option's value when it is
--                                    given (or required); kinds:
--     "int>=1", "int>=0", "int"      an integer (converted), at least 1 / 0
--     ">0", ">=0", "[0,1]"           a number in that range
--     "file"                         a readable file
--     "dir"                          an existing folder
--     "outdir"                       a folder that exists or can be made, and is writable
--     "outfile"                      a file that can be written (its folder is made)
--     {"a", "b", ...}                one of these words
-- The same checks are cli.check(opts, name, kind) for values a script derives
-- (a default path built from the preset).
local cli = {}

-- The script's name as the messages start with it.
local function progname()
  local a0 = arg and arg[0]
  return type(a0) == "string" and (a0:match("([^/]+)$") or a0) or "stylex"
end

local function flag(name) return "--" .. name:gsub("_", "-") end

-- A usage error: one line, exit status 2.
function cli.usage_error(msg)
  io.stderr:write(progname(), ": ", msg, " (see --help)\n")
  os.exit(2)
end

-- A failure of the work itself: one line, exit status 1 (an error message's
-- leading "file.lua:12: " positions dropped, as the host does without --debug).
function cli.die(msg)
  msg = tostring(msg)
  local rest
  repeat
    rest = msg:match("^[^%s:]+%.lua:%d+: (.*)$")
    msg = rest or msg
  until not rest
  io.stderr:write(progname(), ": ", msg, "\n")
  os.exit(1)
end

-- "dir" | "file" | nil (missing), and the reason a file cannot be read.
local function kind_of(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local ok, rerr, code = f:read(1)
  f:close()
  if ok == nil and code == 21 then return "dir" end -- EISDIR
  if ok == nil and rerr then return nil, rerr end
  return "file"
end
cli.kind_of = kind_of

-- Can a file be created in dir? (made first, with its parents)
local probe_count = 0
local function writable_dir(dir)
  local sx = require "stylex"
  local ok, err = sx.mkdir(dir)
  if not ok then return nil, err end
  probe_count = probe_count + 1
  local probe = string.format("%s/.stylex-probe-%d-%d", dir, math.floor(cli.now() * 1e6) % 1000000000, probe_count)
  local f, ferr = io.open(probe, "w")
  if not f then return nil, "cannot write in the folder " .. dir .. ": " .. tostring(ferr) end
  f:close()
  os.remove(probe)
  return true
end

-- Checks opts[name] (already parsed) against kind; exits with a usage error.
function cli.check(opts, name, kind, label)
  local v = opts[name]
  label = label or flag(name)
  local function bad(what) cli.usage_error(string.format("%s must be %s, got %s", label, what, tostring(v))) end
  if type(kind) == "table" then
    for _, w in ipairs(kind) do if v == w then return v end end
    bad("one of " .. table.concat(kind, " | "))
  elseif kind == "int>=1" or kind == "int>=0" or kind == "int" then
    local n = math.tointeger(v)
    local lo = kind == "int>=1" and 1 or kind == "int>=0" and 0 or nil
    if not n then bad(lo and "an integer >= " .. lo or "an integer") end
    if lo and n < lo then bad("an integer >= " .. lo) end
    opts[name] = n
  elseif kind == ">0" then
    if type(v) ~= "number" or not (v > 0) or v == math.huge then bad("a number > 0") end
  elseif kind == ">=0" then
    if type(v) ~= "number" or not (v >= 0) or v == math.huge then bad("a number >= 0") end
  elseif kind == "[0,1]" then
    if type(v) ~= "number" or not (v >= 0 and v <= 1) then bad("a number from 0 to 1") end
  elseif kind == "file" then
    local k, err = kind_of(v)
    if k == "dir" then cli.usage_error(string.format("%s: %s is a folder, expected a file", label, v)) end
    if not k then cli.usage_error(string.format("%s: cannot read %s", label, err or v)) end
  elseif kind == "dir" then
    local k, err = kind_of(v)
    if k ~= "dir" then
      cli.usage_error(string.format("%s: %s", label, k and v .. " is a file, expected a folder" or
        (err and not err:find("No such file", 1, true) and err or "no folder " .. v)))
    end
  elseif kind == "outdir" then
    if kind_of(v) == "file" then cli.usage_error(string.format("%s: %s is a file, expected a folder", label, v)) end
    local ok, err = writable_dir(v)
    if not ok then cli.usage_error(string.format("%s: %s", label, err)) end
  elseif kind == "outfile" then
    if kind_of(v) == "dir" then cli.usage_error(string.format("%s: %s is a folder, expected a file", label, v)) end
    local ok, err = writable_dir(v:match("^(.*)/[^/]*$") or ".")
    if not ok then cli.usage_error(string.format("%s: %s", label, err)) end
  else
    error("cli.check: unknown kind " .. tostring(kind))
  end
  return opts[name]
end

-- --data DIR [--labels CSV] of a script (both options string-valued, ""
-- when not given): checks the folder and the CSV, --labels defaulting to
-- DIR/labels.csv; --labels without --data is a usage error. Returns true
-- when a folder was given.
function cli.check_data(opts)
  if opts.labels ~= "" and opts.data == "" then cli.usage_error("--labels needs --data DIR") end
  if opts.data == "" then return false end
  cli.check(opts, "data", "dir")
  if opts.labels == "" then
    opts.labels = opts.data:gsub("/+$", "") .. "/labels.csv"
    cli.check(opts, "labels", "file", "--labels (default " .. opts.labels .. ")")
  else
    cli.check(opts, "labels", "file")
  end
  return true
end

-- A held-out share given as a count (an integer >= 1) or a fraction (0 < x < 1).
function cli.check_share(opts, name)
  local v = opts[name]
  if type(v) ~= "number" or not (v > 0) or (v >= 1 and math.tointeger(v) == nil) or v == math.huge then
    cli.usage_error(string.format("%s must be a count >= 1 or a fraction between 0 and 1, got %s", flag(name),
      tostring(v)))
  end
  opts[name] = math.tointeger(v) or v
  return opts[name]
end

function cli.parse(argv, defaults, usage, checks)
  local opts = {}
  for k, v in pairs(defaults) do opts[k] = v end
  local given = {}
  local i = 1
  while argv[i] do
    local a = argv[i]
    if a == "--help" or a == "-h" then
      io.stdout:write(usage or "", "\n")
      if defaults.debug == nil then io.stdout:write("  --debug                  with an error, show where and a traceback\n") end
      os.exit(0)
    end
    local name = a:match("^%-%-([%w_%-]+)$")
    if not name then cli.usage_error("unexpected argument " .. a) end
    local key = name:gsub("%-", "_")
    if key == "debug" and defaults.debug == nil then
      opts.debug = true -- the host reads --debug itself
      i = i + 1
    elseif defaults[key] == nil then
      cli.usage_error("unknown option --" .. name)
    elseif type(defaults[key]) == "boolean" then
      opts[key] = true
      given[key] = true
      i = i + 1
    else
      local v = argv[i + 1]
      if v == nil then cli.usage_error("option --" .. name .. " needs a value") end
      if type(defaults[key]) == "number" then
        local n = tonumber(v)
        if not n or n ~= n then cli.usage_error("option --" .. name .. " needs a number, got " .. v) end
        opts[key] = n
      else
        opts[key] = v
      end
      given[key] = true
      i = i + 2
    end
  end
  checks = checks or {}
  for _, k in ipairs(checks.required or {}) do
    if opts[k] == "" then cli.usage_error("missing " .. flag(k)) end
    given[k] = true
  end
  for _, k in ipairs(checks.positive_integers or {}) do cli.check(opts, k, "int>=1") end
  local names = {}
  for k in pairs(checks.options or {}) do names[#names + 1] = k end
  table.sort(names) -- the first bad option in a fixed order
  for _, k in ipairs(names) do
    if given[k] then cli.check(opts, k, checks.options[k]) end
  end
  return opts, given
end

-- Seconds on a monotonic wall clock (os.clock counts CPU time of all threads).
function cli.now()
  local sx = require "stylex"
  return sx.wall_time and sx.wall_time() or os.time()
end

-- A progress line redrawn in place: call p(done, text) often; it prints at
-- most every `interval` seconds (and always at the end), with ETA. `start`
-- is the count already done before this run (a resumed run): the rate, and
-- so the ETA, counts only the work done since. `out` is io.stderr unless
-- given. The one progress printer of the scripts and modules
-- (attfind.progress_printer is built on it).
function cli.progress(total, label, interval, start, out)
  out = out or io.stderr
  local t0 = cli.now()
  start = start or 0
  local last = -math.huge
  interval = interval or 1.0
  return function(done, text, force)
    local now = cli.now()
    if not force and now - last < interval and done < total then return end
    last = now
    local elapsed = now - t0
    local eta = done > start and elapsed * (total - done) / (done - start) or 0
    out:write(string.format("\r%s %d/%d %s | %s elapsed, ETA %s\027[K", label, done, total, text or "",
      cli.format_seconds(elapsed), cli.format_seconds(eta)))
    if done >= total or force then out:write("\n") end
    out:flush()
  end
end

function cli.format_seconds(s)
  s = math.floor(s + 0.5)
  if s >= 3600 then return string.format("%dh%02dm", s // 3600, (s % 3600) // 60) end
  if s >= 60 then return string.format("%dm%02ds", s // 60, s % 60) end
  return string.format("%ds", s)
end

return cli
