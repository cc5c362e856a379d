-- tests/bench/bench_util.lua — what the Lua benchmarks share:
--   local U = dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/bench_util.lua")
local U = {}

-- The machine's load average ("1.23 0.98 0.50"), or "?" where /proc is absent.
function U.loadavg()
  local f = io.open("/proc/loadavg")
  if not f then return "?" end
  local s = f:read("l")
  f:close()
  return s:match("^(%S+ %S+ %S+)") or s
end

return U
