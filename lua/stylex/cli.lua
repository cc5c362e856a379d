-- stylex.cli — command-line parsing and terminal progress for scripts.
--
--   local opts = cli.parse(arg, {preset = "fmnist-shoes", epochs = 0, resume = false}, usage)
-- accepts --name value and --flag (booleans); numbers are converted when the
-- default is a number; unknown options and missing values are errors that
-- print the usage. --help prints the usage and exits. checks (optional):
--   required = {"model", ...}        string options that must be given
--   positive_integers = {"n", ...}   number options that must be integers >= 1
--                                    (converted to Lua integers)
local cli = {}

function cli.parse(argv, defaults, usage, checks)
  local opts = {}
  for k, v in pairs(defaults) do opts[k] = v end
  local function fail(msg)
    io.stderr:write(msg, "\n\n", usage or "", "\n")
    os.exit(2)
  end
  local i = 1
  while argv[i] do
    local a = argv[i]
    if a == "--help" or a == "-h" then
      io.stdout:write(usage or "", "\n")
      os.exit(0)
    end
    local name = a:match("^%-%-([%w_%-]+)$")
    if not name then fail("unexpected argument: " .. a) end
    local key = name:gsub("%-", "_")
    if defaults[key] == nil then fail("unknown option --" .. name) end
    if type(defaults[key]) == "boolean" then
      opts[key] = true
      i = i + 1
    else
      local v = argv[i + 1]
      if v == nil then fail("option --" .. name .. " needs a value") end
      if type(defaults[key]) == "number" then
        local n = tonumber(v)
        if not n then fail("option --" .. name .. " needs a number, got " .. v) end
        opts[key] = n
      else
        opts[key] = v
      end
      i = i + 2
    end
  end
  checks = checks or {}
  for _, k in ipairs(checks.required or {}) do
    if opts[k] == "" then fail("missing --" .. k:gsub("_", "-")) end
  end
  for _, k in ipairs(checks.positive_integers or {}) do
    local v = math.tointeger(opts[k])
    if not v or v < 1 then fail("--" .. k:gsub("_", "-") .. " must be a positive integer") end
    opts[k] = v
  end
  return opts
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
