-- tests/lua/test_report.lua — stylex.report on a synthetic doc (2 classes,
-- 2 attributes each, random images): report.json carries the doc's numbers
-- and names files that exist, index.html references only files in the
-- folder and nothing on the network, strings are escaped, the PNGs have the
-- sizes the layout implies, the Grad-CAM overlay has the ramp's colours,
-- optional parts can be left out, and a broken doc names the broken field.
--
-- With STYLEX_REPORT_KEEP=dir set, the synthetic report is also written to
-- dir and left there (for scripts/check_report.py).
local T = dofile("tests/lua/harness.lua")
local sx = require "stylex"
local cjson = require "cjson"
local report = require "stylex.report"

local base = os.tmpname() -- a fresh file; the reports go into base .. "_*"
-- Calls through Lua code, so that an error raised at the caller's level
-- carries this file's name.
local function write(...) local files, err = report.write(...) return files, err end

local rm_rf, read_file, exists = T.rm_rf, T.read_file, T.exists

-- ---------------------------------------------------------------- the doc

local R, F = 8, 4
local STRENGTHS = {0, 0.5, 1, 1.5}
local NASTY = [[Sneaker <b>&"'</b>]]   -- a class name that must be escaped

-- A strip of `nrows` rows of C-channel frames; Grad-CAM maps when cams.
local function strip(C, nrows, cams, seed)
  local rows = {}
  for r = 1, nrows do
    local probs = {}
    for f = 1, F do probs[f] = (seed * 10 + r * 3 + f) % 17 / 16 end
    rows[r] = {image = seed * 10 + r, label = 1, frames = sx.rand{F, C, R, R} * 2 - 1, probs = probs,
               gradcam = cams and sx.rand{F, 1, R, R} or nil}
  end
  return {strengths = STRENGTHS, rows = rows}
end

local function make_doc()
  sx.manual_seed(7)
  local doc = {
    title = "stylex explanation: <test> & \"quotes\"",
    generated = "2026-11-27 03:30 UTC",
    command = "build/stylex scripts/explain.lua --out <dir>",
    classifier = {path = "models/c.safetensors", accuracy = 0.977, n_test = 2000, class_names = {NASTY, "Ankle boot"}},
    model = {path = "models/g.safetensors", step = 10000,
             eval = {l1 = 0.1234567, perceptual = 0.0456, agreement = 0.95, fd_samples = 12.5, fd_recon = 3.25, n = 250},
             baseline_path = "models/b.safetensors", baseline_step = 9000},
    reconstruction = {n = 250, l1 = 0.11, perceptual = 0.22, agreement = 0.96,
                      originals = sx.rand{3, 1, R, R} * 2 - 1, recons = sx.rand{3, 1, R, R} * 2 - 1,
                      pred_orig = {0, 1, 0}, prob_orig = {0.9, 0.8, 0.7}, pred_recon = {0, 1, 1}, prob_recon = {0.85, 0.75, 0.55}},
    attfind = {n_images = 250, n_coords = 672, policy = "subset", k = 8, max_image_effect = 1.0,
               seconds = 1234.5, passes = 168250, passes_per_s = 136.29},
    sufficiency = {stylex = 0.95, baseline = 0.6, k = 10, n = 250,
                   per_class = {{class = 0, name = NASTY, stylex = 0.9, baseline = 0.5, n = 120},
                                {class = 1, name = "Ankle boot", stylex = 1.0, baseline = 0.7, n = 130}}},
    classes = {},
  }
  for c = 0, 1 do
    doc.classes[c + 1] = {class = c, name = doc.classifier.class_names[c + 1], attributes = {
      {rank = 1, coord = 311, layer_name = "b16.conv0", channel = 55, direction = "to-max", score = 0.8 + c / 100,
       flips = 40, n_other = 120, flip_share = 0.3333333333, mean_effect = 1.2, strip = strip(1, 2, true, c + 1)},
      {rank = 2, coord = 12, layer_name = "b4.conv1", channel = 12, direction = "to-min", score = 0.5,
       flips = 10, n_other = 120, mean_effect = -0.4, strip = strip(3, 1, false, c + 3)},
    }, combined = {k = 2, strengths = STRENGTHS, rows = strip(1, 1, true, c + 5).rows}}
  end
  return doc
end

-- ---------------------------------------------------------------- tests

local DIR = base .. "_report"

T.test("write: files and report.json", function()
  local doc = make_doc()
  local files, err = report.write(DIR, doc)
  T.ok(files, "report.write failed: " .. tostring(err))
  if not files then return end
  local listed = {}
  for _, f in ipairs(files) do
    listed[f] = true
    T.ok(exists(DIR .. "/" .. f), "listed file missing: " .. f)
  end
  T.ok(listed["index.html"] and listed["report.json"], "index.html and report.json listed")
  -- 3 + 3 reconstructions and their grid; per class: attribute 1 (2 rows x
  -- 4 frames + 4 overlays) + grid, attribute 2 (1 row x 4 frames) + grid,
  -- combined (1 row x 8) + grid
  T.eq(#files, 2 + 7 + 2 * (17 + 5 + 9))

  local j = cjson.decode(read_file(DIR .. "/report.json"))
  T.eq(j.format, "stylex-report-1")
  T.eq(j.title, doc.title)
  T.eq(j.classifier.class_names, doc.classifier.class_names)
  T.near(j.classifier.accuracy, 0.977, 1e-12)
  T.eq(j.classifier.n_test, 2000)
  for k, v in pairs(doc.model.eval) do T.near(j.model.eval[k], v, 1e-12, "model.eval." .. k) end
  T.eq(j.model.step, 10000)
  for _, k in ipairs{"n", "l1", "perceptual", "agreement"} do T.near(j.reconstruction[k], doc.reconstruction[k], 1e-12, k) end
  T.near(j.reconstruction.prob_recon, doc.reconstruction.prob_recon, 1e-12)
  T.eq(j.reconstruction.pred_recon, {0, 1, 1})
  T.eq(j.reconstruction.originals, {"img/recon_orig_1.png", "img/recon_orig_2.png", "img/recon_orig_3.png"})
  T.eq(j.reconstruction.grid, "img/recon_grid.png")
  for k, v in pairs(doc.attfind) do
    if type(v) == "number" then T.near(j.attfind[k], v, 1e-12, "attfind." .. k) else T.eq(j.attfind[k], v) end
  end
  T.near(j.sufficiency.stylex, 0.95, 1e-12)
  T.near(j.sufficiency.baseline, 0.6, 1e-12)
  T.eq(j.sufficiency.per_class[1].name, NASTY)
  T.near(j.sufficiency.per_class[2].baseline, 0.7, 1e-12)
  for ci, c in ipairs(doc.classes) do
    local jc = j.classes[ci]
    T.eq(jc.class, c.class)
    for ai, a in ipairs(c.attributes) do
      local ja = jc.attributes[ai]
      for _, k in ipairs{"rank", "coord", "channel", "flips", "n_other"} do T.eq(ja[k], a[k], k) end
      for _, k in ipairs{"score", "mean_effect"} do T.near(ja[k], a[k], 1e-12, k) end
      T.eq(ja.layer_name, a.layer_name)
      T.eq(ja.direction, a.direction)
      T.near(ja.strip.strengths, STRENGTHS, 0)
      T.eq(ja.strip.grid, string.format("img/c%d_a%d_grid.png", c.class, ai))
      for r, row in ipairs(a.strip.rows) do
        local jr = ja.strip.rows[r]
        T.near(jr.probs, row.probs, 1e-12)
        T.eq(jr.image, row.image)
        T.eq(#jr.frames, F)
        T.eq(jr.frames[2], string.format("img/c%d_a%d_r%d_f2.png", c.class, ai, r))
        T.eq(jr.gradcam ~= nil, row.gradcam ~= nil, "gradcam names exactly where maps were given")
        for _, name in ipairs(jr.frames) do T.ok(listed[name], "frame not written: " .. name) end
        for _, name in ipairs(jr.gradcam or {}) do T.ok(listed[name], "overlay not written: " .. name) end
      end
    end
    -- the given share is kept; the missing one is flips / n_other
    T.near(jc.attributes[1].flip_share, 0.3333333333, 1e-12)
    T.near(jc.attributes[2].flip_share, 10 / 120, 1e-12)
    T.eq(jc.combined.k, 2)
    T.eq(#jc.combined.rows[1].gradcam, F)
  end
  -- the caller's doc is left alone
  T.ok(getmetatable(doc.classes[1].attributes[1].strip.rows[1].frames).__name == "stylex.Tensor", "doc still holds tensors")
  T.eq(doc.classes[1].attributes[2].flip_share, nil)
end)

T.test("index.html: local files only, escaped strings, numbers shown", function()
  local html = read_file(DIR .. "/index.html")
  T.ok(html, "index.html written")
  if not html then return end
  local refs = 0
  for attr, ref in html:gmatch('%s(%a+)="([^"]*)"') do
    if attr == "src" or attr == "href" then
      refs = refs + 1
      if ref:sub(1, 1) ~= "#" then
        T.ok(not ref:find(":", 1, true) and not ref:find("^/"), "not a relative file name: " .. ref)
        T.ok(exists(DIR .. "/" .. ref), "referenced file missing: " .. ref)
      end
    end
  end
  T.ok(refs > 60, "found the references (" .. refs .. ")")
  T.ok(not html:find("http:", 1, true) and not html:find("https:", 1, true), "no http(s): in the page")
  T.ok(not html:find('="//', 1, true) and not html:find("url(", 1, true) and not html:find("@import", 1, true),
       "no protocol-relative or CSS references")
  T.ok(not html:find("<link", 1, true), "no <link> elements")
  for s in html:gmatch("<script([^>]*)>") do T.eq(s, "", "inline scripts only") end
  -- the nasty strings appear escaped, never raw
  T.ok(not html:find(NASTY, 1, true), "raw class name in the page")
  T.ok(html:find("Sneaker &lt;b&gt;&amp;&quot;&#39;&lt;/b&gt;", 1, true), "escaped class name")
  T.ok(html:find("<title>stylex explanation: &lt;test&gt; &amp; &quot;quotes&quot;</title>", 1, true), "escaped title")
  T.ok(html:find("--out &lt;dir&gt;", 1, true), "escaped command")
  -- the order of the sections
  local last = 0
  for _, id in ipairs{"classifier", "generator", "reconstruction", "sufficiency", "class-0", "class-1"} do
    local at = html:find('id="' .. id .. '"', 1, true)
    T.ok(at and at > last, "section " .. id .. " in order")
    last = at or last
  end
  -- a few numbers as shown
  for _, s in ipairs{"97.7 %", "95.0 %", "60.0 %", "168,250", "40 / 120", "33.3 %", "8.3 %", "-0.400", "0.1235"} do
    T.ok(html:find(s, 1, true), "page shows " .. s)
  end
  -- one slider per strip row: 2 classes x (2 + 1 + 1) rows
  local sliders = 0
  for _ in html:gmatch('type="range"') do sliders = sliders + 1 end
  T.eq(sliders, 8)
end)

T.test("PNG sizes and the overlay colours", function()
  local f = sx.image.load(DIR .. "/img/c0_a1_r1_f1.png")
  T.eq(f and f:shape(), {1, R, R})
  T.eq(sx.image.load(DIR .. "/img/c0_a2_r1_f4.png"):shape(), {3, R, R})
  T.eq(sx.image.load(DIR .. "/img/c1_a1_r2_cam3.png"):shape(), {3, R, R})
  T.eq(sx.image.load(DIR .. "/img/recon_rec_3.png"):shape(), {1, R, R})
  -- strip grid of attribute 1: 2 rows of CAM + 4 frames + CAM, cells of 8
  -- pixels x 16, captions two lines at text scale 2 (34 px + 4 margin), pad 4
  local g = sx.image.load(DIR .. "/img/c0_a1_grid.png")
  T.eq(g:shape(), {3, 4 + 2 * (128 + 38 + 4), 4 + 6 * (128 + 4)})
  -- attribute 2 (RGB, no maps): 1 row of 4 frames
  T.eq(sx.image.load(DIR .. "/img/c0_a2_grid.png"):shape(), {3, 4 + 128 + 38 + 4, 4 + 4 * (128 + 4)})

  -- overlay: black image under a map of 1 -> 0.8 * the ramp's top colour;
  -- white image under a map of 0 -> 0.8 white + 0.2 * the ramp's bottom
  local dir = base .. "_overlay"
  local frames = sx.cat({sx.full({1, 1, R, R}, -1), sx.full({1, 1, R, R}, 1)}, 1)
  local maps = sx.cat({sx.ones{1, 1, R, R}, sx.zeros{1, 1, R, R}}, 1)
  local doc = make_doc()
  doc.reconstruction, doc.sufficiency, doc.attfind = nil, nil, nil
  doc.classes = {{class = 1, attributes = {{layer_name = "b4.conv0", channel = 1, direction = "to-min", score = 1,
    strip = {strengths = {0, 1}, rows = {{image = 1, label = 0, frames = frames, probs = {0.2, 0.7}, gradcam = maps}}}}}}}
  T.ok(report.write(dir, doc))
  local hot = sx.image.load(dir .. "/img/c1_a1_r1_cam1.png")
  local cold = sx.image.load(dir .. "/img/c1_a1_r1_cam2.png")
  T.near(hot:mean{2, 3}:totable(), {0.8 * 0.99, 0.8 * 0.99, 0.8 * 0.70}, 1 / 255)
  T.near(cold:mean{2, 3}:totable(), {0.8, 0.8, 0.8 + 0.2 * 0.02}, 1 / 255)
  rm_rf(dir)
end)

T.test("optional parts left out", function()
  local dir = base .. "_minimal"
  local doc = {title = "minimal", classifier = {path = "c", accuracy = 0.5, class_names = {"a", "b"}},
               model = {path = "g", step = 1}, classes = {{class = 0, attributes = {}}, {class = 1, attributes = {
                 {layer_name = "b4.conv0", channel = 3, direction = "to-max", score = 0.25}}}}}
  local files = report.write(dir, doc)
  T.eq(files, {"report.json", "index.html"})
  local html = read_file(dir .. "/index.html") or ""
  for _, id in ipairs{"reconstruction", "sufficiency"} do T.ok(not html:find('id="' .. id .. '"', 1, true), id .. " left out") end
  T.ok(not html:find("Generated", 1, true), "no generation line without generated/command")
  T.ok(html:find("No attributes were found", 1, true), "empty class says so")
  local j = cjson.decode(read_file(dir .. "/report.json") or "null")
  T.eq(j and j.classes[2].attributes[1].channel, 3)
  rm_rf(dir)

  -- JSON nulls (metadata decoded by lua-cjson) count as absent on the page
  -- and stay null in report.json
  doc.model.eval = {l1 = 0.5, fd_samples = cjson.null, n = cjson.null}
  doc.sufficiency = {stylex = 0.75, baseline = cjson.null, k = 3, n = 4}
  doc.attfind = cjson.null
  T.ok(report.write(dir, doc))
  html = read_file(dir .. "/index.html") or ""
  T.ok(html:find("75.0 %", 1, true) and not html:find("StyleSpace baseline", 1, true), "null baseline left out")
  T.ok(not html:find("Attributes were found by AttFind", 1, true), "null attfind left out")
  j = cjson.decode(read_file(dir .. "/report.json") or "null")
  T.ok(j and j.sufficiency.baseline == cjson.null and j.model.eval.fd_samples == cjson.null and j.attfind == cjson.null,
       "nulls kept in report.json")
  T.near(j and j.model.eval.l1, 0.5, 0)
  rm_rf(dir)
end)

T.test("a broken doc names the field", function()
  local dir = base .. "_broken"
  local cases = {
    {"doc.classifier.accuracy", function(d) d.classifier.accuracy = nil end},
    {"doc.title", function(d) d.title = nil end},
    {"doc.model.step", function(d) d.model.step = "ten" end},
    {"doc.classes[2].attributes[1].layer_name", function(d) d.classes[2].attributes[1].layer_name = nil end},
    {"doc.classes[1].attributes[2].strip.rows[1].frames", function(d) d.classes[1].attributes[2].strip.rows[1].frames = nil end},
    {"doc.classes[1].attributes[1].strip.rows[2].frames must hold 4 images", function(d)
      d.classes[1].attributes[1].strip.rows[2].frames = sx.zeros{3, 1, R, R} end},
    {"doc.classes[1].attributes[1].strip.rows[1].probs must have 4 entries", function(d)
      d.classes[1].attributes[1].strip.rows[1].probs = {0.5} end},
    {"doc.classes[2].combined.rows[1].gradcam must be heat maps", function(d)
      d.classes[2].combined.rows[1].gradcam = sx.zeros{F, 3, R, R} end},
    {"doc.reconstruction.prob_orig", function(d) d.reconstruction.prob_orig = nil end},
    {"doc.classes[2].class must be a class id in 0..1", function(d) d.classes[2].class = 2 end},
    {"doc.classes[2].class repeats class 0", function(d) d.classes[2].class = 0 end},
  }
  for _, case in ipairs(cases) do
    local doc = make_doc()
    case[2](doc)
    local err = T.raises("report.write: " .. case[1], write, dir, doc)
    -- raised at the caller's level: the message carries this file's name
    T.ok(err and err:find("test_report.lua", 1, true), "error points at the caller: " .. tostring(err))
  end
  T.raises("bad argument #1 to 'write'", write, nil, make_doc())
  T.ok(not exists(dir .. "/index.html"), "nothing written for a broken doc")
  rm_rf(dir)
end)

T.test("an unwritable folder returns nil, msg", function()
  -- base is a file, so base/x cannot be a folder
  local files, err = report.write(base .. "/x", make_doc())
  T.eq(files, nil)
  T.ok(type(err) == "string" and err:find("report.write:", 1, true), "message: " .. tostring(err))
end)

T.test("warnings when the figures rest on too little", function()
  local dir = base .. "_warn"
  assert(write(dir, make_doc()))
  local j = cjson.decode(read_file(dir .. "/report.json"))
  T.eq(#j.warnings, 0, "a trained model on 250 images: no warning")
  T.ok(not read_file(dir .. "/index.html"):find('class="warnings"', 1, true), "and none on the page")
  local doc = make_doc()
  doc.model.step = 40
  doc.reconstruction.agreement, doc.reconstruction.l1, doc.reconstruction.n = 0.5, 0.61, 3
  doc.attfind.n_images, doc.sufficiency.n = 12, 12
  assert(write(dir, doc))
  j = cjson.decode(read_file(dir .. "/report.json"))
  local all = table.concat(j.warnings, "\n")
  T.eq(#j.warnings, 6, "steps, agreement, L1, reconstruction N, AttFind N, sufficiency N: " .. all)
  for _, s in ipairs{ "only 40 steps", "only 50% of 3 images", "mean L1 0.610", "only 12 images" } do
    T.ok(all:find(s, 1, true), "says " .. s .. ": " .. all)
  end
  local html = read_file(dir .. "/index.html")
  local at, first_h2 = html:find('class="warnings"', 1, true), html:find("<h2", 1, true)
  T.ok(at and first_h2 and at < first_h2, "the warnings come before the first section")
  T.ok(html:find("only 40 steps", 1, true), "on the page")
  rm_rf(dir)
end)

T.test("a write that fails part way leaves the old report as it was", function()
  local dir = base .. "_swap"
  local first = assert(write(dir, make_doc()))
  local before = {}
  for _, f in ipairs(first) do before[f] = read_file(dir .. "/" .. f) end
  T.ok(#first > 10 and before["index.html"] and before["img/recon_grid.png"], "the first report")
  -- the second write fails at its fourth PNG
  local save, n = sx.image.save, 0
  sx.image.save = function(...)
    n = n + 1
    if n >= 4 then return nil, "png: disk full" end
    return save(...)
  end
  local doc = make_doc()
  doc.title = "the second report"
  doc.reconstruction.originals = doc.reconstruction.originals * 0 -- other bytes in the first PNGs
  local files, err = write(dir, doc)
  sx.image.save = save
  T.eq(files, nil)
  T.ok(err and err:find("disk full", 1, true) and not err:find(".tmp-", 1, true), "the message: " .. tostring(err))
  for f, bytes in pairs(before) do T.ok(read_file(dir .. "/" .. f) == bytes, f .. " unchanged") end
  T.ok(not exists(dir .. ".tmp-" .. sx.getpid()), "no temporary folder left")
  -- a killed writer's temporary folder is removed by the next write
  assert(sx.mkdir(dir .. ".tmp-999999999/img"))
  assert(write(dir, doc))
  T.ok(not exists(dir .. ".tmp-999999999"), "the dead writer's folder is gone")
  T.ok(read_file(dir .. "/index.html"):find("the second report", 1, true), "the new report is in place")
  rm_rf(dir)
end)

local keep = os.getenv("STYLEX_REPORT_KEEP")
if keep and keep ~= "" then
  local files, err = report.write(keep, make_doc())
  print(files and ("kept the synthetic report in " .. keep) or ("could not keep the report: " .. tostring(err)))
end

rm_rf(DIR)
os.remove(base)
T.done()
