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
  local ev = field(m, "eval", "doc.model", "table", true)
  if ev then
    for _, k in ipairs{"l1", "perceptual", "agreement", "fd_samples", "fd_recon"} do field(ev, k, "doc.model.eval", "number", true) end
    field(ev, "n", "doc.model.eval", "integer", true)
  end
  field(m, "baseline_path", "doc.model", "string", true)
  field(m, "baseline_step", "doc.model", "integer", true)
  local cd = field(m, "class_direction", "doc.model", "table", true)
  if cd then
    field(cd, "k", "doc.model.class_direction", "integer")
    for i, e in ipairs(field(cd, "per_class", "doc.model.class_direction", "table")) do
      local ep = string.format("doc.model.class_direction.per_class[%d]", i)
      field(e, "class", ep, "integer")
      field(e, "top_k_share", ep, "number")
    end
  end

  local rc = field(doc, "reconstruction", "doc", "table", true)
  if rc then
    local p = "doc.reconstruction"
    field(rc, "n", p, "integer")
    for _, k in ipairs{"l1", "perceptual", "agreement"} do field(rc, k, p, "number") end
    local orig = image_batch(rc, "originals", p, nil, false, true)
    if orig then
      local M = orig:size(1)
      local rec = image_batch(rc, "recons", p, M)
      if shape_str(rec) ~= shape_str(orig) then bad(p .. ".recons", "must have the originals' shape " .. shape_str(orig) .. ", got " .. shape_str(rec)) end
      for _, k in ipairs{"pred_orig", "prob_orig", "pred_recon", "prob_recon"} do number_list(rc, k, p, M) end
    end
  end

  local af = field(doc, "attfind", "doc", "table", true)
  if af then
    for _, k in ipairs{"n_images", "n_coords", "k", "passes", "unstable_images", "discriminator_refused"} do
      field(af, k, "doc.attfind", "integer", true)
    end
    for _, k in ipairs{"max_image_effect", "max_corr", "discriminator_threshold", "seconds", "passes_per_s"} do
      field(af, k, "doc.attfind", "number", true)
    end
    field(af, "policy", "doc.attfind", "string", true)
  end

  local su = field(doc, "sufficiency", "doc", "table", true)
  if su then
    local p = "doc.sufficiency"
    field(su, "stylex", p, "number", true)
    field(su, "baseline", p, "number", true)
    field(su, "k", p, "integer")
    field(su, "n", p, "integer")
    field(su, "strength", p, "number", true)
    for i, e in ipairs(field(su, "by_strength", p, "table", true) or {}) do
      local ep = string.format("%s.by_strength[%d]", p, i)
      if type(e) ~= "table" then bad(ep, "must be a table, got " .. type(e)) end
      field(e, "strength", ep, "number")
      field(e, "stylex", ep, "number", true)
      field(e, "baseline", ep, "number", true)
    end
    local pc = field(su, "per_class", p, "table", true)
    for i, e in ipairs(pc or {}) do
      local ep = string.format("%s.per_class[%d]", p, i)
      if type(e) ~= "table" then bad(ep, "must be a table, got " .. type(e)) end
      field(e, "class", ep, "integer")
      field(e, "name", ep, "string", true)
      field(e, "stylex", ep, "number", true)
      field(e, "baseline", ep, "number", true)
      field(e, "n", ep, "integer", true)
    end
  end

  local gt = field(doc, "ground_truth", "doc", "table", true)
  if gt then
    local p = "doc.ground_truth"
    field(gt, "n", p, "integer")
    for i, f in ipairs(field(gt, "factors", p, "table")) do
      local fp = string.format("%s.factors[%d]", p, i)
      if type(f) ~= "table" then bad(fp, "must be a table, got " .. type(f)) end
      field(f, "name", fp, "string")
      field(f, "flip_share", fp, "number")
      field(f, "used", fp, "boolean")
    end
    for _, k in ipairs{"recall", "precision", "purity"} do field(gt, k, p, "number") end
    field(gt, "k", p, "integer")
    field(gt, "shortcut_rank", p, "integer", true)
    local wt = field(gt, "weighted", p, "table", true)
    if wt then
      for _, k in ipairs{"recall", "precision", "purity"} do field(wt, k, p .. ".weighted", "number") end
      field(wt, "shortcut_rank", p .. ".weighted", "integer", true)
    end
    for i, a in ipairs(field(gt, "attributes", p, "table")) do
      local ap = string.format("%s.attributes[%d]", p, i)
      if type(a) ~= "table" then bad(ap, "must be a table, got " .. type(a)) end
      local c = field(a, "class", ap, "integer")
      if c < 0 or c >= K then bad(ap .. ".class", string.format("must be a class id in 0..%d, got %d", K - 1, c)) end
      field(a, "rank", ap, "integer")
      field(a, "layer_name", ap, "string")
      field(a, "channel", ap, "integer")
      field(a, "dominant", ap, "string", true)
      field(a, "purity", ap, "number")
      field(a, "dominant_weighted", ap, "string", true)
      field(a, "purity_weighted", ap, "number", true)
      number_list(a, "single_flip", ap, 2)
    end
  end

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
    local attrs = field(c, "attributes", cp, "table")
    for ai, a in ipairs(attrs) do
      local ap = string.format("%s.attributes[%d]", cp, ai)
      if type(a) ~= "table" then bad(ap, "must be a table, got " .. type(a)) end
      field(a, "rank", ap, "integer", true)
      field(a, "coord", ap, "integer", true)
      field(a, "layer_name", ap, "string")
      field(a, "channel", ap, "integer")
      field(a, "direction", ap, "string")
      field(a, "score", ap, "number")
      field(a, "flips", ap, "integer", true)
      field(a, "n_other", ap, "integer", true)
      field(a, "flip_share", ap, "number", true)
      field(a, "flip_share_t2", ap, "number", true)
      field(a, "max_corr_above", ap, "number", true)
      field(a, "mean_effect", ap, "number", true)
      local st = field(a, "strip", ap, "table", true)
      if st then check_strip(st, ap .. ".strip", K) end
    end
    local comb = field(c, "combined", cp, "table", true)
    if comb then
      field(comb, "k", cp .. ".combined", "integer")
      check_strip(comb, cp .. ".combined", K)
    end
  end
end

report_check.check = check
report_check.without_nulls = without_nulls
report_check.bad = bad
report_check.flip_share = flip_share

return report_check
