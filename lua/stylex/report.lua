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
--
-- The module is split by concern: stylex.report_check holds the doc's
-- contract, stylex.report_page the page, and this file writes the folder
-- (the PNGs, report.json, index.html); the heat-map colours are
-- stylex.gradcam's.
local sx = require "stylex"
local gradcam = require "stylex.gradcam"
local report_check = require "stylex.report_check"
local report_page = require "stylex.report_page"
local util = require "stylex.util"

local json = util.json()

local report = {}

local NULL = util.NULL
local is_tensor = util.is_tensor
local bad, flip_share, check, without_nulls =
  report_check.bad, report_check.flip_share, report_check.check, report_check.without_nulls
local page = report_page

report.FORMAT = "stylex-report-1"

-- When a figure rests on too little the report says so at the top of the
-- page and in report.json's "warnings": a generator trained fewer than
-- min_steps steps, reconstructions that keep the classifier's class for less
-- than min_agreement of the images or whose mean L1 (images in [-1, 1])
-- passes max_l1, or AttFind, sufficiency or reconstructions measured on
-- fewer than min_n images. (The shipped fmnist-shoes models: 8,000-12,000
-- steps, agreement 0.86-1.0, L1 0.13-0.16, N 250.)
report.WARN = {min_steps = 2000, min_agreement = 0.8, max_l1 = 0.3, min_n = 100}

-- The warnings of a checked doc (nulls removed): a list of sentences.
function report.warnings(doc)
  local W, out = report.WARN, {}
  local function add(fmt, ...) out[#out + 1] = string.format(fmt, ...) end
  local m = doc.model or {}
  if m.step and m.step < W.min_steps then
    add("The generator trained only %d steps (under %d): its samples, reconstructions and attributes may not "
      .. "show what a trained model would.", m.step, W.min_steps)
  end
  if m.baseline_step and m.baseline_step < W.min_steps then
    add("The StyleSpace baseline trained only %d steps (under %d): the comparison with it is weak.",
      m.baseline_step, W.min_steps)
  end
  local rc = doc.reconstruction
  if rc then
    if rc.agreement < W.min_agreement then
      add("Reconstructions keep the classifier's class for only %.0f%% of %d images (under %.0f%%): "
        .. "counterfactuals start from images the classifier sees differently.", 100 * rc.agreement, rc.n,
        100 * W.min_agreement)
    end
    if rc.l1 > W.max_l1 then
      add("Reconstructions are far from the images (mean L1 %.3f, over %.2f): the encoder does not invert the "
        .. "generator well.", rc.l1, W.max_l1)
    end
    if rc.n < W.min_n then add("Reconstruction figures rest on only %d images (under %d).", rc.n, W.min_n) end
  end
  local af = doc.attfind
  if af and af.n_images and af.n_images < W.min_n then
    add("AttFind ranked the attributes on only %d images (under %d): the ranking and the flip shares are noisy.",
      af.n_images, W.min_n)
  end
  local su = doc.sufficiency
  if su and su.n < W.min_n then add("Sufficiency rests on only %d images (under %d).", su.n, W.min_n) end
  return out
end

-- ---------------------------------------------------------------- helpers

local function io_fail(msg)
  error({io = "report.write: " .. msg}, 0)
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

-- ---------------------------------------------------------------- images

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
    local ov = row.gradcam and gradcam.overlay(frames, row.gradcam)
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

local function build(dir, doc)
  if type(dir) ~= "string" or dir == "" then
    error("bad argument #1 to 'write' (folder name expected, got " .. (dir == "" and "an empty string" or type(dir)) .. ")", 0)
  end
  local given = doc
  if type(doc) ~= "table" then bad("doc", "must be a table, got " .. type(doc)) end
  doc = without_nulls(doc, "doc", {})
  check(doc)
  doc.warnings = report.warnings(doc)
  local made, err = util.mkdir_p(dir .. "/img")
  if not made then io_fail(err) end

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
  out.warnings = doc.warnings
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

  write_text(dir .. "/index.html", page.html(doc, rimgs, cimgs, name_of))

  ctx.files[#ctx.files + 1] = "report.json"
  ctx.files[#ctx.files + 1] = "index.html"
  return ctx.files
end

-- report.write(dir, doc) -> list of the files written (names relative to dir)
-- | nil, msg when a file or the folder cannot be written. A doc that breaks
-- the contract raises "report.write: doc.<field> ..." naming the field.
-- The report is built in "<dir>.tmp-<pid>" and swapped in whole
-- (sx.replace_dir): a write that fails, or a process killed part way, leaves
-- the report at dir as it was (a killed writer's temporary folder is removed
-- by the next write).
function report.write(dir, doc)
  if type(dir) == "string" then dir = dir:gsub("(.)/+$", "%1") end
  if type(dir) ~= "string" or dir == "" then
    error("bad argument #1 to 'write' (folder name expected, got " .. (dir == "" and "an empty string" or type(dir)) .. ")", 2)
  end
  sx.remove_stale_temporaries(dir)
  local tmp = string.format("%s.tmp-%d", dir, sx.getpid())
  sx.remove_tree(tmp)
  local ok, res = pcall(build, tmp, doc)
  if ok then
    local swapped, err = sx.replace_dir(tmp, dir)
    if swapped then return res end
    sx.remove_tree(tmp)
    return nil, err
  end
  sx.remove_tree(tmp)
  if type(res) == "table" and res.io then return nil, (res.io:gsub(tmp:gsub("%p", "%%%0"), dir)) end
  -- a broken contract is the caller's error; anything else keeps its position
  local contract = type(res) == "string" and (res:find("^report%.write: ") or res:find("^bad argument"))
  error(res, contract and 2 or 0)
end

return report
