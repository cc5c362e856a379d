-- tests/dist/same_report.lua A.json B.json — two report.json files of
-- scripts/explain.lua (one process, and under mpirun: tests/dist/run.sh) say
-- the same: every string, integer, boolean and list length equal, every
-- other number within 1e-5 (relative above 1), except the fields that are
-- the run's own (when it ran, how long it took, the command line).
local cjson = require "cjson"
local OWN = {generated = true, seconds = true, passes_per_s = true, command = true}
local function read(path)
  local f = assert(io.open(path))
  local doc = cjson.decode(f:read("a"))
  f:close()
  return doc
end
local bad, compared = {}, 0
local function walk(a, b, path)
  if type(a) ~= type(b) then
    bad[#bad + 1] = path .. ": " .. type(a) .. " against " .. type(b)
  elseif type(a) == "table" then
    for k, v in pairs(a) do
      if not OWN[k] then walk(v, b[k], path .. "/" .. tostring(k)) end
    end
    for k in pairs(b) do
      if a[k] == nil and not OWN[k] then bad[#bad + 1] = path .. "/" .. tostring(k) .. ": only in the second" end
    end
  elseif type(a) == "number" and not (math.type(a) == "integer" and math.type(b) == "integer") then
    compared = compared + 1
    if math.abs(a - b) > 1e-5 * math.max(1, math.abs(a)) then
      bad[#bad + 1] = string.format("%s: %.9g against %.9g", path, a, b)
    end
  else
    compared = compared + 1
    if a ~= b then bad[#bad + 1] = path .. ": " .. tostring(a) .. " against " .. tostring(b) end
  end
end
walk(read(arg[1]), read(arg[2]), "")
for i = 1, math.min(#bad, 20) do io.stderr:write("differs: ", bad[i], "\n") end
assert(#bad == 0, #bad .. " fields differ")
assert(compared > 100, "only " .. compared .. " fields compared")
print(string.format("explain under mpirun: the same report (%d fields compared)", compared))
