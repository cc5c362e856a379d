-- stylex.report_check — the contract of the report's doc (see
-- stylex.report and docs/lua-api.md#reports): report_check.check(doc) raises
-- "report.write: doc.<field> ..." naming the first field that breaks it.
-- Also what the other report modules share about the doc: the error for a
-- broken contract, the copy without JSON nulls, an attribute's flip share.
local util = require "stylex.util"

local report_check = {}

local is_tensor, is_int = util.is_tensor, util.is_int

-- JSON null as lua-cjson decodes it (metadata read back may hold it): a
-- field that is null counts as absent on the page and stays null in report.json.
local NULL = util.NULL

-- Raised for a doc that breaks the contract; report.write re-raises it at
-- the caller's level. I/O failures are raised as {io = msg} and returned.
local function bad(path, msg)
  error("report.write: " .. path .. " " .. msg, 0)
end

local function shape_str(t)
  return "[" .. table.concat(t:shape(), ", ") .. "]"
end

-- An attribute's flip share: given, or flips / n_other.
local function flip_share(a)
  if a.flip_share then return a.flip_share end
  if a.flips and a.n_other and a.n_other > 0 then return a.flips / a.n_other end
  return nil
end

local KIND = {
  string = function(v) return type(v) == "string" end,
  number = function(v) return type(v) == "number" end,
  integer = is_int,
  table = function(v) return type(v) == "table" end,
  boolean = function(v) return type(v) == "boolean" end,
  tensor = is_tensor,
}

-- A copy of the doc's tables without JSON nulls (so that an absent field is
-- nil wherever the page looks); tensors and other values are shared.
local function without_nulls(v, path, seen)
  if type(v) ~= "table" then return v end
  if seen[v] then bad(path, "is part of a cycle") end
  seen[v] = true
  local out = {}
  for k, x in pairs(v) do
    if x ~= NULL then out[k] = without_nulls(x, path .. (type(k) == "number" and "[" .. k .. "]" or "." .. tostring(k)), seen) end
  end
  seen[v] = nil
  return out
end

-- t[key] checked against kind; a missing required field names its path.
local function field(t, key, path, kind, optional)
  local v = t[key]
  local p = path .. "." .. key
  if v == nil then
    if optional then return nil end
    bad(p, "is missing (a required field)")
  end
  if not KIND[kind](v) then bad(p, "must be " .. (kind == "integer" and "an integer" or "a " .. kind) .. ", got " .. type(v)) end
  return v
end

-- The fields of t named in spec, words "key:kind", "key:kind?" when optional.
local function fields(t, path, spec)
  for key, kind, opt in spec:gmatch("([%w_]+):(%a+)(%??)") do field(t, key, path, kind, opt == "?") end
end

-- Each entry of the list t[key] (a table; may be absent if optional),
-- checked to be a table and passed to fn(entry, its path, index).
local function each(t, key, path, optional, fn)
  for i, e in ipairs(field(t, key, path, "table", optional) or {}) do
    local ep = string.format("%s.%s[%d]", path, key, i)
    if type(e) ~= "table" then bad(ep, "must be a table, got " .. type(e)) end
    fn(e, ep, i)
  end
end

-- The optional table t[key], when present, passed to fn(table, its path).
local function section(t, key, path, fn)
  local v = field(t, key, path, "table", true)
  if v then fn(v, path .. "." .. key) end
end

-- A list of n numbers (n = nil: any length, at least one).
local function number_list(t, key, path, n, optional)
  local v = field(t, key, path, "table", optional)
  if v == nil then return nil end
  local p = path .. "." .. key
  if n and #v ~= n then bad(p, string.format("must have %d entries, has %d", n, #v)) end
  if not n and #v == 0 then bad(p, "must not be empty") end
  for i = 1, #v do
    if type(v[i]) ~= "number" then bad(p .. "[" .. i .. "]", "must be a number, got " .. type(v[i])) end
  end
  return v
end

-- Images [n, C, R, R] with C = 1 or 3 (channels = nil), or [n, 1, H, W] maps.
local function image_batch(t, key, path, n, maps, optional)
  local v = field(t, key, path, "tensor", optional)
  if v == nil then return nil end
  local s = v:shape()
  local p = path .. "." .. key
  local ok = #s == 4 and s[1] >= 1 and s[3] >= 1 and s[4] >= 1
  if ok and maps then ok = s[2] == 1 elseif ok then ok = (s[2] == 1 or s[2] == 3) and s[3] == s[4] end
  if not ok then
    bad(p, "must be " .. (maps and "heat maps [N, 1, H, W]" or "images [N, C, R, R] with C = 1 or 3") ..
      ", got " .. shape_str(v))
  end
  if n and s[1] ~= n then bad(p, string.format("must hold %d images, has %d (shape %s)", n, s[1], shape_str(v))) end
  return v
end

-- One strip (an attribute's, or the combined one): strengths and rows.
local function check_strip(st, path, K)
  local strengths = number_list(st, "strengths", path)
  local F = #strengths
  local rows = field(st, "rows", path, "table")
  for r, row in ipairs(rows) do
    local rp = string.format("%s.rows[%d]", path, r)
    if type(row) ~= "table" then bad(rp, "must be a table, got " .. type(row)) end
    field(row, "image", rp, "integer")
    local label = field(row, "label", rp, "integer")
    if label < 0 or label >= K then bad(rp .. ".label", string.format("must be a class id in 0..%d, got %d", K - 1, label)) end
    local frames = image_batch(row, "frames", rp, F)
    number_list(row, "probs", rp, F)
    local cam = image_batch(row, "gradcam", rp, F, true, true)
    if cam and frames then
      local fs = frames:shape()
      if cam:size(3) ~= fs[3] or cam:size(4) ~= fs[4] then
        bad(rp .. ".gradcam", string.format("must match the frames' %dx%d pixels, got %s", fs[3], fs[4], shape_str(cam)))
      end
    end
  end
end

-- Raises with the path of the first field that breaks the contract.
local function check(doc)
  if type(doc) ~= "table" then bad("doc", "must be a table, got " .. type(doc)) end
  field(doc, "title", "doc", "string")
  field(doc, "generated", "doc", "string", true)
  field(doc, "command", "doc", "string", true)

  local cl = field(doc, "classifier", "doc", "table")
  field(cl, "path", "doc.classifier", "string")
  field(cl, "accuracy", "doc.classifier", "number")
  field(cl, "n_test", "doc.classifier", "integer", true)
  local names = field(cl, "class_names", "doc.classifier", "table")
  if #names == 0 then bad("doc.classifier.class_names", "must not be empty") end
  for i = 1, #names do
    if type(names[i]) ~= "string" then bad("doc.classifier.class_names[" .. i .. "]", "must be a string") end
  end
  local K = #names

  local m = field(doc, "model", "doc", "table")
  field(m, "path", "doc.model", "string")
  field(m, "step", "doc.model", "integer", true)
  section(m, "eval", "doc.model", function(ev, p)
    fields(ev, p, "l1:number? perceptual:number? agreement:number? fd_samples:number? fd_recon:number? n:integer?")
  end)
  fields(m, "doc.model", "baseline_path:string? baseline_step:integer?")
  section(m, "class_direction", "doc.model", function(cd, p)
    field(cd, "k", p, "integer")
    each(cd, "per_class", p, false, function(e, ep) fields(e, ep, "class:integer top_k_share:number") end)
  end)

  section(doc, "reconstruction", "doc", function(rc, p)
    field(rc, "n", p, "integer")
    for _, k in ipairs{"l1", "perceptual", "agreement"} do field(rc, k, p, "number") end
    local orig = image_batch(rc, "originals", p, nil, false, true)
    if orig then
      local M = orig:size(1)
      local rec = image_batch(rc, "recons", p, M)
      if shape_str(rec) ~= shape_str(orig) then bad(p .. ".recons", "must have the originals' shape " .. shape_str(orig) .. ", got " .. shape_str(rec)) end
      for _, k in ipairs{"pred_orig", "prob_orig", "pred_recon", "prob_recon"} do number_list(rc, k, p, M) end
    end
  end)

  section(doc, "attfind", "doc", function(af, p)
    fields(af, p, "n_images:integer? n_coords:integer? k:integer? passes:integer? " ..
      "unstable_images:integer? discriminator_refused:integer? max_image_effect:number? max_corr:number? " ..
      "discriminator_threshold:number? seconds:number? passes_per_s:number? policy:string?")
  end)

  section(doc, "sufficiency", "doc", function(su, p)
    fields(su, p, "stylex:number? baseline:number? k:integer n:integer strength:number?")
    each(su, "by_strength", p, true, function(e, ep)
      fields(e, ep, "strength:number stylex:number? baseline:number?")
    end)
    each(su, "per_class", p, true, function(e, ep)
      fields(e, ep, "class:integer name:string? stylex:number? baseline:number? n:integer?")
    end)
  end)

  section(doc, "ground_truth", "doc", function(gt, p)
    field(gt, "n", p, "integer")
    each(gt, "factors", p, false, function(f, fp) fields(f, fp, "name:string flip_share:number used:boolean") end)
    local scores = "recall:number precision:number purity:number shortcut_rank:integer?"
    fields(gt, p, scores .. " k:integer")
    section(gt, "weighted", p, function(wt, wp) fields(wt, wp, scores) end)
    each(gt, "attributes", p, false, function(a, ap)
      local c = field(a, "class", ap, "integer")
      if c < 0 or c >= K then bad(ap .. ".class", string.format("must be a class id in 0..%d, got %d", K - 1, c)) end
      fields(a, ap, "rank:integer layer_name:string channel:integer dominant:string? purity:number " ..
        "dominant_weighted:string? purity_weighted:number?")
      number_list(a, "single_flip", ap, 2)
    end)
  end)

  local classes = field(doc, "classes", "doc", "table")
  local seen = {}
  for ci, c in ipairs(classes) do
    local cp = string.format("doc.classes[%d]", ci)
    if type(c) ~= "table" then bad(cp, "must be a table, got " .. type(c)) end
    local id = field(c, "class", cp, "integer")
    if id < 0 or id >= K then bad(cp .. ".class", string.format("must be a class id in 0..%d, got %d", K - 1, id)) end
    if seen[id] then bad(cp .. ".class", string.format("repeats class %d (each class gets one section)", id)) end
    seen[id] = true
    field(c, "name", cp, "string", true)
    each(c, "attributes", cp, false, function(a, ap)
      fields(a, ap, "rank:integer? coord:integer? layer_name:string channel:integer direction:string score:number " ..
        "flips:integer? n_other:integer? flip_share:number? flip_share_t2:number? max_corr_above:number? " ..
        "mean_effect:number?")
      section(a, "strip", ap, function(st, sp) check_strip(st, sp, K) end)
    end)
    section(c, "combined", cp, function(comb, p)
      field(comb, "k", p, "integer")
      check_strip(comb, p, K)
    end)
  end
end

report_check.check = check
report_check.without_nulls = without_nulls
report_check.bad = bad
report_check.flip_share = flip_share

return report_check
