-- stylex.report — the explanation report (SPEC §1.6): one folder holding
-- index.html (plain HTML, CSS and JS in the file, images as PNGs beside it,
-- nothing fetched from the network), report.json (every number on the page)
-- and the PNGs: each image on its own (the page shows these, upscaled by the
-- browser with `image-rendering: pixelated`, and the sliders step through
-- them), Grad-CAM overlays, and captioned, upscaled grids for figures.
--
--   local report = require "stylex.report"
--   local files = assert(report.write("runs/shoes/report", doc))
--
-- scripts/explain.lua computes the numbers and images; this module only lays
-- them out. The doc table (docs/lua-api.md#reports has the full list of
-- fields; "?" marks an optional one, whose part of the page is then left out):
--
--   doc = {title, generated?, command?,
--          classifier = {path, accuracy, n_test?, class_names},
--          model = {path, step?, eval?, baseline_path?, baseline_step?,
--                   class_direction? = {k, per_class = {{class, top_k_share}, ...}}},
--          reconstruction? = {n, l1, perceptual, agreement, originals?, recons?,
--                             pred_orig?, prob_orig?, pred_recon?, prob_recon?},
--          attfind? = {n_images, n_coords, policy, k, max_image_effect, seconds, passes, passes_per_s},
--          sufficiency? = {stylex?, baseline?, k, n, strength?, by_strength?, per_class?},
--          ground_truth? = {n, factors = {{name, flip_share, used}, ...}, k, recall, precision,
--                           purity, shortcut_rank?, attributes = {{class, rank, layer_name,
--                           channel, dominant?, purity, single_flip = {t1, t2}}, ...}},
--          classes = {{class, name?, attributes = {...}, combined?}, ...}}
--
-- Images are tensors [N, C, R, R] in [-1, 1] with C = 1 or 3; Grad-CAM maps
-- are [N, 1, H, W] in [0, 1]. Class ids are 0-based. In report.json every
-- tensor is replaced by the list of relative PNG names its images were
-- written to (one per image; Grad-CAM maps by their overlays), and each strip
-- gains `grid`, the name of its captioned grid PNG.
local sx = require "stylex"

-- A private lua-cjson instance, so that its settings do not change the
-- shared `cjson` other code uses.
local json = require("cjson").new()
json.encode_sparse_array(true)        -- a sparse list becomes an object, not an error
json.encode_number_precision(14)      -- lua-cjson's maximum
json.encode_invalid_numbers("null")   -- a NaN metric is written as null

local report = {}

-- JSON null as lua-cjson decodes it (metadata read back may hold it): a
-- field that is null counts as absent on the page and stays null in report.json.
local NULL = require("cjson").null

report.FORMAT = "stylex-report-1"

-- ---------------------------------------------------------------- helpers

local function is_tensor(v)
  if type(v) ~= "userdata" then return false end
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__name == "stylex.Tensor"
end

-- Raised for a doc that breaks the contract; report.write re-raises it at
-- the caller's level. I/O failures are raised as {io = msg} and returned.
local function bad(path, msg)
  error("report.write: " .. path .. " " .. msg, 0)
end

local function io_fail(msg)
  error({io = "report.write: " .. msg}, 0)
end

local HTML_ESC = {["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;"}

-- Text safe for HTML element content and quoted attribute values.
local function esc(s)
  return (tostring(s):gsub("[&<>\"']", HTML_ESC))
end

local function is_int(v)
  return type(v) == "number" and v == v and v == math.floor(v) and math.abs(v) < 2^53
end

-- Numbers as the page shows them; an absent value is a dash.
local function fixed(x, d)
  if type(x) ~= "number" then return "–" end
  if x ~= x then return "NaN" end
  return string.format("%." .. (d or 3) .. "f", x)
end

local function pct(x)
  if type(x) ~= "number" then return "–" end
  if x ~= x then return "NaN" end
  return string.format("%.1f %%", 100 * x)
end

local function int(x)
  if type(x) ~= "number" then return "–" end
  local s = string.format("%d", math.floor(math.abs(x) + 0.5))
  -- thousands separators: 168250 -> 168,250
  s = s:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "")
  return (x < 0 and "-" or "") .. s
end

local function sig(x)
  if type(x) ~= "number" then return "–" end
  if x ~= x then return "NaN" end
  return string.format("%.4g", x)
end

local function shape_str(t)
  return "[" .. table.concat(t:shape(), ", ") .. "]"
end

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- Writes text to path through a temporary file and a rename (SPEC §5).
local function write_text(path, text)
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then io_fail(err) end
  local ok, werr = f:write(text)
  local cok, cerr = f:close()
  if not ok or not cok then
    os.remove(tmp)
    io_fail(tmp .. ": " .. tostring(werr or cerr))
  end
  local rok, rerr = os.rename(tmp, path)
  if not rok then
    os.remove(tmp)
    io_fail(tostring(rerr))
  end
end

-- An attribute's flip share: given, or flips / n_other.
local function flip_share(a)
  if a.flip_share then return a.flip_share end
  if a.flips and a.n_other and a.n_other > 0 then return a.flips / a.n_other end
  return nil
end

-- ---------------------------------------------------------------- checking the doc

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
    for _, k in ipairs{"n_images", "n_coords", "k", "passes"} do field(af, k, "doc.attfind", "integer", true) end
    for _, k in ipairs{"max_image_effect", "seconds", "passes_per_s"} do field(af, k, "doc.attfind", "number", true) end
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

-- ---------------------------------------------------------------- images

-- The heat-map colour ramp: evenly spaced RGB stops, dark violet through red
-- and orange to pale yellow (brightness rises monotonically, so the order of
-- values survives printing in grey). Used for the PNG overlays and, as a CSS
-- gradient, for the legend on the page.
local RAMP = {
  {0.00, 0.00, 0.02}, {0.16, 0.04, 0.33}, {0.40, 0.07, 0.43}, {0.62, 0.16, 0.38},
  {0.82, 0.29, 0.22}, {0.95, 0.50, 0.06}, {0.98, 0.75, 0.15}, {0.99, 0.99, 0.70},
}

-- map [N, 1, H, W] in [0, 1] -> [N, 3, H, W]: piecewise-linear interpolation
-- of RAMP, as a sum of hat functions max(0, 1 - |v (K-1) - k|) over the stops.
local function colorize(map)
  local K = #RAMP
  local x = map * (K - 1)
  local chans = {sx.zeros_like(map), sx.zeros_like(map), sx.zeros_like(map)}
  for k = 1, K do
    local hat = (1 - (x - (k - 1)):abs()):relu()
    for c = 1, 3 do chans[c] = chans[c] + hat * RAMP[k][c] end
  end
  return sx.cat(chans, 2)
end

-- Grad-CAM overlays: frames [N, C, R, R] in [0, 1], maps [N, 1, R, R] in
-- [0, 1] -> [N, 3, R, R]: the ramp blended over the grey image, more opaque
-- where the map is hot so that cold regions still show the picture.
local function overlay(frames01, maps)
  local grey = frames01:size(2) == 1 and frames01 or frames01:mean(2, true)
  local v = sx.image.to_unit(maps, 0, 1)
  local alpha = v * 0.6 + 0.2
  return grey * (1 - alpha) + colorize(v) * alpha
end

-- The i-th image [C, H, W] of a contiguous batch [N, C, H, W].
local function pick(batch, i)
  local s = batch:shape()
  return batch:narrow(1, i, 1):reshape{s[2], s[3], s[4]}
end

-- Writes one PNG (t in [0, 1]) under dir, records its relative name.
local function save_png(ctx, t, name)
  local ok, err = sx.image.save(t, ctx.dir .. "/" .. name)
  if not ok then io_fail(tostring(err)) end
  ctx.files[#ctx.files + 1] = name
  return name
end

-- Writes every image of a batch in [0, 1]; returns the list of names.
local function save_batch(ctx, batch01, prefix)
  local names = {}
  for i = 1, batch01:size(1) do names[i] = save_png(ctx, pick(batch01, i), string.format("%s%d.png", prefix, i)) end
  return names
end

-- ---------------------------------------------------------------- the page

local CSS = [[
:root { --fg: #1f2630; --muted: #5f6b78; --line: #dde2e8; --soft: #f4f6f8; --accent: #2d6cb5; --bad: #b3261e; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff;
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 28px 32px 72px; }
h1 { font-size: 26px; margin: 0 0 4px; letter-spacing: -0.01em; }
h2 { font-size: 20px; margin: 44px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 28px 0 6px; }
h3 .sub { color: var(--muted); font-weight: normal; }
p { margin: 6px 0 10px; max-width: 80ch; }
.meta, .note, figcaption, .rowlabel { color: var(--muted); font-size: 12px; }
code { font: 12px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace;
  background: var(--soft); padding: 1px 5px; border-radius: 3px; word-break: break-all; }
nav.toc { margin: 14px 0 0; font-size: 13px; }
nav.toc a { color: var(--accent); text-decoration: none; margin-right: 14px; white-space: nowrap; }
nav.toc a:hover, a.file:hover { text-decoration: underline; }
a.file { color: var(--accent); font-size: 12px; text-decoration: none; }
table.data { border-collapse: collapse; margin: 8px 0 16px; font-variant-numeric: tabular-nums; }
table.data th, table.data td { padding: 5px 12px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
table.data th { background: var(--soft); color: var(--muted); font-size: 12px; font-weight: 600; }
table.data td.num, table.data th.num { text-align: right; }
table.data tbody tr:hover td { background: #fafbfc; }
table.kv th { background: none; text-align: left; font-weight: 600; color: var(--muted); width: 12em; }
img.px { image-rendering: crisp-edges; image-rendering: pixelated; display: block; background: var(--soft); }
figure { margin: 0; }
figure figcaption { text-align: center; line-height: 1.3; margin-top: 2px; font-variant-numeric: tabular-nums; }
figcaption b { color: var(--fg); }
.scroll { overflow-x: auto; padding-bottom: 4px; }
table.pairs { border-collapse: separate; border-spacing: 6px 4px; }
table.pairs th { font-size: 12px; color: var(--muted); font-weight: normal; text-align: right; padding-right: 6px; }
.bad { color: var(--bad); }
.strip { display: flex; flex-wrap: wrap; align-items: flex-start; gap: 6px; margin: 8px 0 18px;
  padding-bottom: 14px; border-bottom: 1px dashed var(--line); }
.rowlabel { width: 92px; padding-top: 4px; }
.rowlabel b { color: var(--fg); font-size: 13px; }
.cam img { outline: 2px solid #e9d7b0; }
.sep { width: 1px; align-self: stretch; background: var(--line); margin: 0 4px; }
.bar { height: 3px; background: var(--line); margin: 2px 0 0; }
.bar > span { display: block; height: 3px; background: var(--accent); }
.flip .bar > span { background: #d9822b; }
.viewer { margin-left: 12px; padding: 8px 10px; border: 1px solid var(--line); border-radius: 6px; background: var(--soft); }
.viewer .pics { display: flex; gap: 6px; }
.viewer input[type=range] { width: 100%; margin: 8px 0 2px; accent-color: var(--accent); }
.viewer output { display: block; font-size: 12px; font-variant-numeric: tabular-nums; }
.nowrap { white-space: nowrap; }
.legend { display: inline-block; width: 120px; height: 10px; vertical-align: middle; border-radius: 2px; margin: 0 6px; }
footer { margin-top: 56px; color: var(--muted); font-size: 12px; }
]]

-- Steps each .viewer through its precomputed frames (no network: the frame
-- names are relative PNGs written beside the page).
local SCRIPT = [[
(function () {
  'use strict';
  var viewers = document.querySelectorAll('.viewer');
  Array.prototype.forEach.call(viewers, function (v) {
    var frames = JSON.parse(v.getAttribute('data-frames'));
    var cams = JSON.parse(v.getAttribute('data-cams') || '[]');
    var probs = JSON.parse(v.getAttribute('data-probs'));
    var strengths = JSON.parse(v.getAttribute('data-strengths'));
    var cls = v.getAttribute('data-class');
    var range = v.querySelector('input[type=range]');
    var frame = v.querySelector('img.frame');
    var cam = v.querySelector('img.camview');
    var out = v.querySelector('output');
    var bar = v.querySelector('.bar > span');
    function num(x, d) { return typeof x === 'number' ? x.toFixed(d) : 'NaN'; }
    function show() {
      var i = Number(range.value);
      frame.src = frames[i];
      if (cam && cams.length) cam.src = cams[i];
      out.textContent = 'strength ' + num(strengths[i], 2) + ' \u00b7 p(' + cls + ') = ' + num(probs[i], 3);
      bar.style.width = num(100 * Math.min(1, Math.max(0, probs[i] || 0)), 1) + '%';
      v.classList.toggle('flip', probs[i] >= 0.5);
    }
    range.addEventListener('input', show);
    show();
  });
})();
]]

-- A page under construction: a list of strings.
local function Page() return {n = 0} end
local function put(pg, ...)
  for i = 1, select("#", ...) do
    pg.n = pg.n + 1
    pg[pg.n] = select(i, ...)
  end
end
local function putf(pg, fmt, ...) put(pg, string.format(fmt, ...)) end

-- <table class="data"> with a header row; cells are already HTML, a cell
-- given as {html, num = true} is right aligned.
local function data_table(pg, head, rows)
  put(pg, '<table class="data"><thead><tr>')
  for _, h in ipairs(head) do
    if type(h) == "table" then putf(pg, '<th class="num">%s</th>', h[1]) else putf(pg, "<th>%s</th>", h) end
  end
  put(pg, "</tr></thead><tbody>\n")
  for _, r in ipairs(rows) do
    put(pg, "<tr>")
    for _, cell in ipairs(r) do
      if type(cell) == "table" then putf(pg, '<td class="num">%s</td>', cell[1]) else putf(pg, "<td>%s</td>", cell) end
    end
    put(pg, "</tr>\n")
  end
  put(pg, "</tbody></table>\n")
end

-- Key / value table (rows whose value is nil are left out).
local function kv_table(pg, rows)
  put(pg, '<table class="data kv"><tbody>\n')
  for _, r in ipairs(rows) do
    if r[2] ~= nil then putf(pg, "<tr><th>%s</th><td>%s</td></tr>\n", r[1], r[2]) end
  end
  put(pg, "</tbody></table>\n")
end

-- " grid PNG" link, or nothing when the strip had no rows.
local function grid_link(name)
  return name and string.format(' <a class="file" href="%s">grid PNG</a>', esc(name)) or ""
end

local function img_tag(src, px, alt, class)
  return string.format('<img class="px%s" src="%s" width="%d" height="%d" alt="%s">',
    class and " " .. class or "", esc(src), px, px, esc(alt))
end

-- Display size of an R-pixel image: an integer multiple of R near `target`.
local function disp(R, target)
  return R * math.max(1, math.floor(target / R))
end

-- ---------------------------------------------------------------- sections

local function section_header(pg, doc)
  putf(pg, "<h1>%s</h1>\n", esc(doc.title))
  local bits = {}
  if doc.generated then bits[#bits + 1] = "Generated " .. esc(doc.generated) end
  if doc.command then bits[#bits + 1] = (#bits > 0 and "by " or "Generated by ") .. "<code>" .. esc(doc.command) .. "</code>" end
  if #bits > 0 then putf(pg, '<p class="meta">%s</p>\n', table.concat(bits, " ")) end
end

local function section_toc(pg, doc, name_of)
  put(pg, '<nav class="toc">', '<a href="#classifier">Classifier</a>', '<a href="#generator">Generator</a>')
  if doc.reconstruction then put(pg, '<a href="#reconstruction">Reconstructions</a>') end
  if doc.sufficiency then put(pg, '<a href="#sufficiency">Sufficiency</a>') end
  if doc.ground_truth then put(pg, '<a href="#ground-truth">Ground truth</a>') end
  for _, c in ipairs(doc.classes) do
    putf(pg, '<a href="#class-%d">%s</a>', c.class, esc(name_of(c.class)))
  end
  put(pg, "</nav>\n")
end

local function section_classifier(pg, doc)
  local cl = doc.classifier
  local names = {}
  for i, n in ipairs(cl.class_names) do names[i] = string.format("%d&nbsp;%s", i - 1, esc(n)) end
  put(pg, '<h2 id="classifier">The classifier</h2>\n')
  kv_table(pg, {
    {"file", "<code>" .. esc(cl.path) .. "</code>"},
    {"classes", table.concat(names, ", ")},
    {"test accuracy", pct(cl.accuracy) .. (cl.n_test and " on " .. int(cl.n_test) .. " test images" or "")},
  })
end

local function section_generator(pg, doc)
  local m = doc.model
  put(pg, '<h2 id="generator">The generator</h2>\n')
  kv_table(pg, {
    {"StylEx model", "<code>" .. esc(m.path) .. "</code>"},
    {"training step", int(m.step)},
    {"baseline model", m.baseline_path and "<code>" .. esc(m.baseline_path) .. "</code>"},
    {"baseline step", m.baseline_step and int(m.baseline_step)},
  })
  local ev = m.eval
  if ev then
    putf(pg, '<p class="note">Evaluation of the model on %s held-out images: reconstruction x\' = G(E(x), C(x)); ' ..
      "agreement is the share of reconstructions the classifier gives the same class; Fréchet distances are in the " ..
      "classifier's penultimate feature space (lower is better).</p>\n", ev.n and int(ev.n) or "the")
    data_table(pg, {{"L1"}, {"perceptual"}, {"agreement"}, {"FD samples"}, {"FD reconstructions"}},
      {{{fixed(ev.l1, 4)}, {fixed(ev.perceptual, 4)}, {pct(ev.agreement)}, {sig(ev.fd_samples)}, {sig(ev.fd_recon)}}})
  end
  local cd = m.class_direction
  if cd then
    local parts = {}
    for i, e in ipairs(cd.per_class) do
      parts[i] = string.format("%s %s", esc(doc.classifier.class_names[e.class + 1] or tostring(e.class)),
        pct(e.top_k_share))
    end
    putf(pg, '<p class="note">Class direction: the change of the StyleSpace vector when the class probabilities ' ..
      "go from uniform to one class. Its %d largest coordinates carry %s of its squared length: the more, the " ..
      "fewer attributes can move the classifier.</p>\n", cd.k, table.concat(parts, ", "))
  end
end

local function section_reconstruction(pg, rc, imgs, name_of)
  put(pg, '<h2 id="reconstruction">Reconstructions</h2>\n')
  putf(pg, "<p>On %s held-out images, each encoded and regenerated with its own class probabilities.</p>\n", int(rc.n))
  data_table(pg, {{"n"}, {"L1"}, {"perceptual"}, {"agreement"}},
    {{{int(rc.n)}, {fixed(rc.l1, 4)}, {fixed(rc.perceptual, 4)}, {pct(rc.agreement)}}})
  if not imgs then return end
  local px = disp(imgs.R, 64)
  local function cell(src, alt, pred, prob, other)
    local cls = esc(name_of(pred))
    if other and other ~= pred then cls = '<span class="bad">' .. cls .. "</span>" end
    return string.format("<td><figure>%s<figcaption>%s<br>%s</figcaption></figure></td>", img_tag(src, px, alt), cls, fixed(prob, 2))
  end
  put(pg, '<div class="scroll"><table class="pairs"><tbody>\n<tr><th>original</th>')
  for i = 1, #imgs.orig do put(pg, cell(imgs.orig[i], "original " .. i, rc.pred_orig[i], rc.prob_orig[i])) end
  put(pg, "</tr>\n<tr><th>reconstruction</th>")
  for i = 1, #imgs.recon do
    put(pg, cell(imgs.recon[i], "reconstruction " .. i, rc.pred_recon[i], rc.prob_recon[i], rc.pred_orig[i]))
  end
  put(pg, "</tr>\n</tbody></table></div>\n")
  putf(pg, '<p class="note">Each image with the class the classifier predicts and its probability; a reconstruction ' ..
    'whose class differs from its original\'s is in <span class="bad">red</span>. <a class="file" href="%s">grid PNG</a></p>\n',
    esc(imgs.grid))
end

local function section_sufficiency(pg, su, name_of)
  put(pg, '<h2 id="sufficiency">Sufficiency</h2>\n')
  putf(pg, "<p>Sufficiency is the share of held-out images whose predicted class flips when the top-%d attributes " ..
    "found for another class are applied together (directions toward that class): do the attributes suffice to " ..
    "change the decision? Higher is better; the baseline is the same GAN trained without the classifier.</p>\n", su.k)
  if su.strength then
    putf(pg, '<p class="note">Each coordinate moves from its value s to s + %s &middot; (extreme &minus; s), the ' ..
      'extreme being the minimum or maximum over the held-out images that the effect table uses.</p>\n',
      sig(su.strength))
  end
  local rows = {{"StylEx", {int(su.k)}, {int(su.n)}, {pct(su.stylex)}}}
  if su.baseline then rows[2] = {"StyleSpace baseline", {int(su.k)}, {int(su.n)}, {pct(su.baseline)}} end
  data_table(pg, {"model", {"k"}, {"n"}, {"flipped"}}, rows)
  if su.by_strength and #su.by_strength > 0 then
    local sr, has_base = {}, false
    for _, e in ipairs(su.by_strength) do if e.baseline then has_base = true end end
    for i, e in ipairs(su.by_strength) do
      sr[i] = {{sig(e.strength)}, {pct(e.stylex)}}
      if has_base then sr[i][3] = {pct(e.baseline)} end
    end
    put(pg, '<p class="note">The same top-k attributes moved by other strengths.</p>\n')
    data_table(pg, has_base and {{"strength"}, {"StylEx"}, {"baseline"}} or {{"strength"}, {"StylEx"}}, sr)
  end
  if su.per_class and #su.per_class > 0 then
    local pr = {}
    local has_base = false
    for _, e in ipairs(su.per_class) do if e.baseline then has_base = true end end
    for i, e in ipairs(su.per_class) do
      pr[i] = {string.format("%d %s", e.class, esc(e.name or name_of(e.class))), {e.n and int(e.n) or "–"}, {pct(e.stylex)}}
      if has_base then pr[i][4] = {pct(e.baseline)} end
    end
    put(pg, '<p class="note">The same shares per class; n is the number of images counted for the class.</p>\n')
    data_table(pg, has_base and {"class", {"n"}, {"StylEx"}, {"baseline"}} or {"class", {"n"}, {"StylEx"}}, pr)
  end
end

local function section_ground_truth(pg, gt, name_of)
  put(pg, '<h2 id="ground-truth">Ground truth</h2>\n')
  putf(pg, "<p>The classifier was trained on the shapes benchmark (docs/ground-truth.md), whose images are " ..
    "rendered from known factors. <i>Flip share</i>: of %s balanced test images rendered again with that factor " ..
    "alone moved, the share whose decision changes; a factor is <i>used</i> at 0.10 or more.</p>\n", int(gt.n))
  local rows = {}
  for i, f in ipairs(gt.factors) do
    rows[i] = {"<code>" .. esc(f.name) .. "</code>", {pct(f.flip_share)}, f.used and "used" or ""}
  end
  data_table(pg, {"factor", {"flip share"}, "classifier"}, rows)
  putf(pg, "<p>Each attribute below, measured by the factor oracles along its counterfactuals at strength 1: its " ..
    "<i>dominant</i> factor and <i>purity</i> (the dominant factor's share of the total change), and the share of " ..
    "other-class images it alone flips at t = 1 and 2. Over the top %s of every class: recall %s (used factors " ..
    "that dominate an attribute), precision %s (attributes dominated by a used factor), purity %s, shortcut rank " ..
    "%s.</p>\n", int(gt.k), fixed(gt.recall, 3), fixed(gt.precision, 3), fixed(gt.purity, 3),
    gt.shortcut_rank and int(gt.shortcut_rank) or "none")
  local arows = {}
  for i, a in ipairs(gt.attributes) do
    arows[i] = {esc(name_of(a.class)), {int(a.rank)}, "<code>" .. esc(a.layer_name) .. "</code>", {int(a.channel)},
      a.dominant and "<code>" .. esc(a.dominant) .. "</code>" or "–", {fixed(a.purity, 3)},
      {pct(a.single_flip[1])}, {pct(a.single_flip[2])}}
  end
  data_table(pg, {"class", {"rank"}, "layer", {"channel"}, "dominant", {"purity"}, {"flips t = 1"}, {"flips t = 2"}},
    arows)
end

local function section_attfind(pg, af)
  local parts = {}
  local function add(fmt, ...) parts[#parts + 1] = string.format(fmt, ...) end
  add("Attributes were found by AttFind")
  if af.policy then add(" (%s selection%s)", esc(af.policy), af.k and ", " .. int(af.k) .. " per class" or "") end
  if af.n_images then add(" over %s held-out images", int(af.n_images)) end
  if af.n_coords then add(" and %s StyleSpace coordinates", int(af.n_coords)) end
  if af.max_image_effect then add(", max image effect %s", sig(af.max_image_effect)) end
  add(".")
  if af.passes then
    add(" The effect table took %s generator + classifier passes", int(af.passes))
    if af.seconds then add(" in %s s", fixed(af.seconds, 1)) end
    if af.passes_per_s then add(" (%s passes/s)", fixed(af.passes_per_s, 1)) end
    add(".")
  end
  putf(pg, "<p>%s</p>\n", table.concat(parts))
end

-- One row of a strip: label, Grad-CAM of the first frame, the frames, the
-- Grad-CAM of the last frame, and the slider viewer.
local function strip_row(pg, row, imgs, strengths, cls_name, name_of)
  local F = #strengths
  local px, vpx = disp(imgs.R, 96), disp(imgs.R, 160)
  put(pg, '<div class="strip">')
  putf(pg, '<div class="rowlabel"><b>image %d</b><br>predicted %s</div>', row.image, esc(name_of(row.label)))
  local function frame_fig(f)
    local p = row.probs[f]
    return string.format('<figure class="%s">%s<div class="bar"><span style="width:%.1f%%"></span></div>' ..
      "<figcaption>s %s<br>%s</figcaption></figure>", p >= 0.5 and "flip" or "",
      img_tag(imgs.frames[f], px, string.format("strength %g", strengths[f])), 100 * math.max(0, math.min(1, p)),
      fixed(strengths[f], 2), p >= 0.5 and "<b>p " .. fixed(p, 3) .. "</b>" or "p " .. fixed(p, 3))
  end
  local function cam_fig(f, what)
    return string.format('<figure class="cam">%s<figcaption>Grad-CAM<br>%s</figcaption></figure>',
      img_tag(imgs.cams[f], px, "Grad-CAM, " .. what), what)
  end
  if imgs.cams then put(pg, cam_fig(1, "original"), '<div class="sep"></div>') end
  for f = 1, F do put(pg, frame_fig(f)) end
  if imgs.cams then put(pg, '<div class="sep"></div>', cam_fig(F, "last frame")) end
  -- the slider: data-* hold the frame names and numbers as JSON
  putf(pg, '<div class="viewer" data-class="%s" data-frames="%s" data-cams="%s" data-probs="%s" data-strengths="%s">',
    esc(cls_name), esc(json.encode(imgs.frames)), esc(imgs.cams and json.encode(imgs.cams) or "[]"),
    esc(json.encode(row.probs)), esc(json.encode(strengths)))
  put(pg, '<div class="pics">', img_tag(imgs.frames[1], vpx, "frame at the slider's strength", "frame"))
  if imgs.cams then put(pg, img_tag(imgs.cams[1], vpx, "Grad-CAM at the slider's strength", "camview")) end
  putf(pg, '</div><input type="range" min="0" max="%d" step="1" value="0" aria-label="strength">', F - 1)
  putf(pg, '<div class="bar"><span style="width:%.1f%%"></span></div><output>strength %s · p(%s) = %s</output></div>',
    100 * math.max(0, math.min(1, row.probs[1])), fixed(strengths[1], 2), esc(cls_name), fixed(row.probs[1], 3))
  put(pg, "</div>\n")
end

local function strip_block(pg, st, imgs, cls_name, name_of)
  for r, row in ipairs(st.rows) do strip_row(pg, row, imgs.rows[r], st.strengths, cls_name, name_of) end
end

local function section_class(pg, c, cimgs, name_of, legend)
  local cls_name = c.name or name_of(c.class)
  putf(pg, '<h2 id="class-%d">Class %d: %s</h2>\n', c.class, c.class, esc(cls_name))
  if #c.attributes == 0 then
    put(pg, '<p class="note">No attributes were found for this class.</p>\n')
  else
    putf(pg, "<p>The StyleSpace attributes that raise the classifier's score for <b>%s</b> most, best first. " ..
      "<i>Flips</i>: of the held-out images of other classes, how many the attribute alone turns into %s; " ..
      "<i>mean &Delta;logit</i>: the mean change of the %s logit over them.</p>\n",
      esc(cls_name), esc(cls_name), esc(cls_name))
    local rows = {}
    for ai, a in ipairs(c.attributes) do
      rows[ai] = {{int(a.rank or ai)}, "<code>" .. esc(a.layer_name) .. "</code>", {int(a.channel)},
        a.coord and {int(a.coord)} or {"–"}, esc(a.direction), {fixed(a.score, 3)},
        {a.flips and (int(a.flips) .. (a.n_other and " / " .. int(a.n_other) or "")) or "–"},
        {pct(flip_share(a))}, {a.mean_effect and fixed(a.mean_effect, 3) or "–"}}
    end
    data_table(pg, {{"rank"}, "layer", {"channel"}, {"coordinate"}, "direction", {"score"}, {"flips"}, {"flip share"},
      {"mean &Delta;logit"}}, rows)
  end
  local strips = {c.combined}
  for _, a in ipairs(c.attributes) do strips[#strips + 1] = a.strip end
  local has_cam = false
  for _, st in ipairs(strips) do
    for _, row in ipairs(st.rows) do if row.gradcam then has_cam = true end end
  end
  if #strips > 0 then
    putf(pg, '<p class="note">Counterfactuals: each row is one image with the attribute applied at increasing ' ..
      "strength (s), with the probability of %s under each frame (bold at p &ge; 0.5)%s; the slider steps through " ..
      "the frames.</p>\n", esc(cls_name), has_cam and string.format('. Grad-CAM heat maps for %s (<span class="nowrap">' ..
      'low<span class="legend" style="background:%s"></span>high</span>) flank the original and the last frame',
      esc(cls_name), legend) or "")
  end
  for ai, a in ipairs(c.attributes) do
    if a.strip then
      local ai_imgs = cimgs.attrs[ai]
      putf(pg, '<h3 id="class-%d-attr-%d">#%d &middot; <code>%s</code> channel %d &middot; %s ' ..
        '<span class="sub">score %s</span>%s</h3>\n', c.class, ai, a.rank or ai, esc(a.layer_name), a.channel,
        esc(a.direction), fixed(a.score, 3), grid_link(ai_imgs.grid))
      strip_block(pg, a.strip, ai_imgs, cls_name, name_of)
    end
  end
  if c.combined then
    putf(pg, '<h3 id="class-%d-combined">Top-%d attributes together%s</h3>\n', c.class, c.combined.k,
      grid_link(cimgs.combined.grid))
    strip_block(pg, c.combined, cimgs.combined, cls_name, name_of)
  end
end

-- ---------------------------------------------------------------- writing

-- Writes a strip's PNGs: frames, overlays, and its captioned grid (a row
-- per image: [CAM of the first frame,] the frames[, CAM of the last frame];
-- rows without maps get blank cells when others have them). Returns
-- {R =, grid = name | nil, rows = {{R =, frames = names, cams = names | nil}, ...}}.
local function write_strip(ctx, st, prefix)
  local out = {rows = {}}
  local F = #st.strengths
  local with_cams = false
  for _, row in ipairs(st.rows) do if row.gradcam then with_cams = true end end
  local cells, caps = {}, {}
  local function cell(t, cap) cells[#cells + 1], caps[#caps + 1] = t, cap end
  for r, row in ipairs(st.rows) do
    local frames = sx.image.to_unit(row.frames, -1, 1)
    out.R = frames:size(3)
    local ri = {R = out.R, frames = save_batch(ctx, frames, string.format("%s_r%d_f", prefix, r))}
    ctx.map[row.frames] = ri.frames
    local ov = row.gradcam and overlay(frames, row.gradcam)
    if ov then
      ri.cams = save_batch(ctx, ov, string.format("%s_r%d_cam", prefix, r))
      ctx.map[row.gradcam] = ri.cams
    end
    out.rows[r] = ri
    local blank = with_cams and not ov and sx.ones_like(pick(frames, 1))
    if with_cams then cell(ov and pick(ov, 1) or blank, ov and string.format("image %d\nCAM", row.image) or false) end
    for f = 1, F do cell(pick(frames, f), string.format("s=%.2f\np=%.3f", st.strengths[f], row.probs[f])) end
    if with_cams then cell(ov and pick(ov, F) or blank, ov and "CAM" or false) end
  end
  if #cells > 0 then
    local grid = sx.image.grid(cells, {ncol = with_cams and F + 2 or F, pad = 4, pad_value = 1, range = {0, 1},
                                       scale = math.max(1, math.floor(128 / out.R)), captions = caps, text_scale = 2})
    out.grid = save_png(ctx, grid, prefix .. "_grid.png")
  end
  return out
end

local function write_reconstruction(ctx, rc, name_of)
  if not rc.originals then return nil end
  local orig = sx.image.to_unit(rc.originals, -1, 1)
  local recon = sx.image.to_unit(rc.recons, -1, 1)
  local out = {R = orig:size(3)}
  out.orig = save_batch(ctx, orig, "img/recon_orig_")
  out.recon = save_batch(ctx, recon, "img/recon_rec_")
  ctx.map[rc.originals], ctx.map[rc.recons] = out.orig, out.recon
  local cells, caps = {}, {}
  local M = orig:size(1)
  for i = 1, M do
    cells[i] = pick(orig, i)
    caps[i] = string.format("%s\n%.2f", name_of(rc.pred_orig[i]), rc.prob_orig[i])
    cells[M + i] = pick(recon, i)
    caps[M + i] = string.format("%s\n%.2f", name_of(rc.pred_recon[i]), rc.prob_recon[i])
  end
  local grid = sx.image.grid(cells, {ncol = M, pad = 4, pad_value = 1, range = {0, 1},
                                     scale = math.max(1, math.floor(96 / out.R)), captions = caps, text_scale = 1})
  out.grid = save_png(ctx, grid, "img/recon_grid.png")
  return out
end

-- A JSON-ready copy of v: tensors become the names they were written to
-- (or, for a tensor the page does not use, {shape = ...}).
local function jsonify(v, ctx, path, seen)
  if is_tensor(v) then return ctx.map[v] or {shape = v:shape()} end
  if v == NULL then return v end
  local tv = type(v)
  if tv == "number" or tv == "string" or tv == "boolean" then return v end
  if tv ~= "table" then bad(path, "cannot be written to JSON (a " .. tv .. ")") end
  if seen[v] then bad(path, "is part of a cycle (cannot be written to JSON)") end
  seen[v] = true
  local out = {}
  for k, x in pairs(v) do
    out[k] = jsonify(x, ctx, path .. (type(k) == "number" and "[" .. k .. "]" or "." .. tostring(k)), seen)
  end
  seen[v] = nil
  return out
end

local function legend_css()
  local stops = {}
  for k, c in ipairs(RAMP) do
    stops[k] = string.format("rgb(%d,%d,%d) %d%%", math.floor(c[1] * 255 + 0.5), math.floor(c[2] * 255 + 0.5),
      math.floor(c[3] * 255 + 0.5), math.floor(100 * (k - 1) / (#RAMP - 1) + 0.5))
  end
  return "linear-gradient(to right, " .. table.concat(stops, ", ") .. ")"
end

local function build(dir, doc)
  if type(dir) ~= "string" or dir == "" then
    error("bad argument #1 to 'write' (folder name expected, got " .. (dir == "" and "an empty string" or type(dir)) .. ")", 0)
  end
  local given = doc
  if type(doc) ~= "table" then bad("doc", "must be a table, got " .. type(doc)) end
  doc = without_nulls(doc, "doc", {})
  check(doc)
  local sh = io.popen("mkdir -p -- " .. shell_quote(dir .. "/img") .. " 2>&1")
  local said = sh and sh:read("a") or ""
  if not (sh and sh:close()) then
    io_fail("cannot create the folder " .. dir .. "/img" .. (said ~= "" and ": " .. said:gsub("%s+$", "") or ""))
  end

  local names = doc.classifier.class_names
  local function name_of(c)
    return names[math.floor(c) + 1] or tostring(math.floor(c))
  end
  local ctx = {dir = dir, files = {}, map = {}}

  -- images first: the page and the JSON refer to their names
  local rimgs = doc.reconstruction and write_reconstruction(ctx, doc.reconstruction, name_of)
  local cimgs = {}
  for ci, c in ipairs(doc.classes) do
    local ce = {attrs = {}}
    for ai, a in ipairs(c.attributes) do
      if a.strip then ce.attrs[ai] = write_strip(ctx, a.strip, string.format("img/c%d_a%d", c.class, ai)) end
    end
    if c.combined then ce.combined = write_strip(ctx, c.combined, string.format("img/c%d_all", c.class)) end
    cimgs[ci] = ce
  end

  -- report.json: the doc, tensors replaced by file names, plus the grids
  -- and the flip shares the page derives
  local out = jsonify(given, ctx, "doc", {})
  out.format = report.FORMAT
  if rimgs then out.reconstruction.grid = rimgs.grid end
  -- (where the checked doc has a strip, out has its table: nulls were absent)
  for ci, c in ipairs(doc.classes) do
    local oc = out.classes[ci]
    for ai, a in ipairs(c.attributes) do
      oc.attributes[ai].flip_share = flip_share(a) or oc.attributes[ai].flip_share
      if a.strip then oc.attributes[ai].strip.grid = cimgs[ci].attrs[ai].grid end
    end
    if c.combined then oc.combined.grid = cimgs[ci].combined.grid end
  end
  write_text(dir .. "/report.json", json.encode(out))

  -- index.html
  local pg = Page()
  put(pg, '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
    -- nothing but the PNGs beside the page may load, whatever a string holds
    '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src \'self\' file:; ',
    'style-src \'unsafe-inline\'; script-src \'unsafe-inline\'; base-uri \'none\'; form-action \'none\'">\n')
  putf(pg, "<title>%s</title>\n<style>\n%s</style>\n</head>\n<body>\n<main>\n", esc(doc.title), CSS)
  section_header(pg, doc)
  section_toc(pg, doc, name_of)
  section_classifier(pg, doc)
  section_generator(pg, doc)
  if doc.reconstruction then section_reconstruction(pg, doc.reconstruction, rimgs, name_of) end
  if doc.sufficiency then section_sufficiency(pg, doc.sufficiency, name_of) end
  if doc.attfind then section_attfind(pg, doc.attfind) end
  if doc.ground_truth then section_ground_truth(pg, doc.ground_truth, name_of) end
  local legend = legend_css()
  for ci, c in ipairs(doc.classes) do section_class(pg, c, cimgs[ci], name_of, legend) end
  put(pg, '<footer>Written by stylex.report. Every number on this page is in <a class="file" href="report.json">' ..
    "report.json</a>.</footer>\n</main>\n<script>\n", SCRIPT, "</script>\n</body>\n</html>\n")
  write_text(dir .. "/index.html", table.concat(pg))

  ctx.files[#ctx.files + 1] = "report.json"
  ctx.files[#ctx.files + 1] = "index.html"
  return ctx.files
end

-- report.write(dir, doc) -> list of the files written (names relative to dir)
-- | nil, msg when a file or the folder cannot be written. A doc that breaks
-- the contract raises "report.write: doc.<field> ..." naming the field.
function report.write(dir, doc)
  local ok, res = pcall(build, dir, doc)
  if ok then return res end
  if type(res) == "table" and res.io then return nil, res.io end
  -- a broken contract is the caller's error; anything else keeps its position
  local contract = type(res) == "string" and (res:find("^report%.write: ") or res:find("^bad argument"))
  error(res, contract and 2 or 0)
end

return report
