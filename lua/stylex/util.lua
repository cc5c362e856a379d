-- stylex.util — small helpers the Lua modules share: what a tensor is, an
-- integer test, making a folder (no shell), prefixed keys of state dicts, a
-- Pearson correlation, the configured JSON encoder of the report and a JSON
-- encoder with sorted keys (metadata whose bytes must not depend on the
-- process).
local util = {}

-- True for a tensor userdata (live or freed).
function util.is_tensor(v)
  if type(v) ~= "userdata" then return false end
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__name == "stylex.Tensor"
end

-- An integral number that a double holds exactly.
function util.is_int(v)
  return type(v) == "number" and v == v and v == math.floor(v) and math.abs(v) < 2^53
end

-- mkdir -p dir, without a shell (sx.mkdir) -> true | nil, msg.
function util.mkdir_p(dir)
  return require("stylex").mkdir(dir)
end

-- JSON of v with every object's keys in sorted order, so the same value
-- gives the same bytes in every process (lua-cjson follows the table's
-- iteration order, which changes from run to run). Scalars are written by
-- lua-cjson; a table is a list when its keys are exactly 1..#t (an empty
-- table is {}).
function util.encode_sorted(v)
  local cjson = require "cjson"
  if type(v) ~= "table" then return cjson.encode(v) end
  local n, count = #v, 0
  for _ in pairs(v) do count = count + 1 end
  local parts = {}
  if n > 0 and count == n then
    for i = 1, n do parts[i] = util.encode_sorted(v[i]) end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for i, k in ipairs(keys) do
    local val = v[k]
    if val == nil then val = v[tonumber(k)] end
    parts[i] = cjson.encode(k) .. ":" .. util.encode_sorted(val)
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

-- Copies the entries of t into `into` under prefix .. key (a state dict
-- stored beside others in one file: "G.", "E.", ...).
function util.prefixed(into, prefix, t)
  for k, v in pairs(t) do into[prefix .. k] = v end
  return into
end

-- The entries of t whose keys start with prefix, with the prefix removed.
function util.unprefix(t, prefix)
  local out = {}
  for k, v in pairs(t) do
    if k:sub(1, #prefix) == prefix then out[k:sub(#prefix + 1)] = v end
  end
  return out
end

-- A private lua-cjson instance, so that its settings do not change the
-- shared `cjson` other code uses: sparse lists become objects, numbers keep
-- 14 digits (lua-cjson's maximum), a NaN is written as null.
function util.json()
  local json = require("cjson").new()
  json.encode_sparse_array(true)
  json.encode_number_precision(14)
  json.encode_invalid_numbers("null")
  return json
end

-- The Pearson correlation of two lists of numbers of the same length, or
-- nil when either is constant.
function util.correlation(a, b)
  local n, sa, sb = #a, 0, 0
  for k = 1, n do sa, sb = sa + a[k], sb + b[k] end
  local ma, mb = sa / n, sb / n
  local sab, saa, sbb = 0, 0, 0
  for k = 1, n do
    local da, db = a[k] - ma, b[k] - mb
    sab, saa, sbb = sab + da * db, saa + da * da, sbb + db * db
  end
  if saa == 0 or sbb == 0 then return nil end
  return sab / math.sqrt(saa * sbb)
end

-- JSON null as lua-cjson decodes it.
-- A classifier as the interface (include/stylex/classifier.h): C itself if it
-- is one (sx.models.load_classifier's), else a built-in CNN module wrapped by
-- sx.models.classifier, so training, evaluation and Grad-CAM call every
-- classifier the same way.
function util.as_classifier(C)
  if type(C) == "userdata" and C.info then return C end
  return require("stylex").models.classifier(C)
end

util.NULL = require("cjson").null

return util
