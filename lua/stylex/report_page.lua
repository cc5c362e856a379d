-- stylex.report_page — index.html of the report: the CSS and the script in
-- the page, the tables and the sections. report_page.html(doc, rimgs, cimgs,
-- name_of) returns the page for a checked doc whose images stylex.report has
-- written (rimgs, cimgs: their names).
local gradcam = require "stylex.gradcam"
local report_check = require "stylex.report_check"
local util = require "stylex.util"

local report_page = {}

local json = util.json()
local bad, flip_share = report_check.bad, report_check.flip_share

local HTML_ESC = {["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;"}

-- Text safe for HTML element content and quoted attribute values.
local function esc(s)
  return (tostring(s):gsub("[&<>\"']", HTML_ESC))
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

local CSS = [[
:root { --fg: #1f2630; --muted: #5f6b78; --line: #dde2e8; --soft: #f4f6f8; --accent: #2d6cb5; --bad: #b3261e; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff;
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 28px 32px 72px; }
.warnings { border: 2px solid var(--bad); background: #fdf0ef; color: var(--bad); padding: 10px 16px; margin: 12px 0 20px; }
.warnings ul { margin: 6px 0 0; padding-left: 20px; }
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
  -- figures that rest on too little (report.warnings), before any figure
  if doc.warnings and #doc.warnings > 0 then
    put(pg, '<div class="warnings" role="alert"><strong>Read with care:</strong>\n<ul>\n')
    for _, w in ipairs(doc.warnings) do putf(pg, "<li>%s</li>\n", esc(w)) end
    put(pg, "</ul></div>\n")
  end
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
  local wt = gt.weighted
  if wt then
    putf(pg, "<p><i>Weighted</i>: the same with each factor's change multiplied by how well the oracles read " ..
      "that factor on this model's reconstructions (R&sup2; or accuracy above chance, clipped to 0..1), so that " ..
      "a factor the oracles cannot read on GAN images names no attribute: recall %s, precision %s, purity %s, " ..
      "shortcut rank %s.</p>\n", fixed(wt.recall, 3), fixed(wt.precision, 3), fixed(wt.purity, 3),
      wt.shortcut_rank and int(wt.shortcut_rank) or "none")
  end
  local function code(v) return v and "<code>" .. esc(v) .. "</code>" or "–" end
  local arows = {}
  for i, a in ipairs(gt.attributes) do
    arows[i] = {esc(name_of(a.class)), {int(a.rank)}, "<code>" .. esc(a.layer_name) .. "</code>", {int(a.channel)},
      code(a.dominant), {fixed(a.purity, 3)}}
    if wt then
      arows[i][#arows[i] + 1] = code(a.dominant_weighted)
      arows[i][#arows[i] + 1] = {a.purity_weighted and fixed(a.purity_weighted, 3) or "–"}
    end
    arows[i][#arows[i] + 1] = {pct(a.single_flip[1])}
    arows[i][#arows[i] + 1] = {pct(a.single_flip[2])}
  end
  local head = {"class", {"rank"}, "layer", {"channel"}, "dominant", {"purity"}}
  if wt then
    head[#head + 1] = "dominant (weighted)"
    head[#head + 1] = {"purity (weighted)"}
  end
  head[#head + 1] = {"flips t = 1"}
  head[#head + 1] = {"flips t = 2"}
  data_table(pg, head, arows)
end

local function section_attfind(pg, af)
  local parts = {}
  local function add(fmt, ...) parts[#parts + 1] = string.format(fmt, ...) end
  add("Attributes were found by AttFind")
  if af.policy then add(" (%s selection%s)", esc(af.policy), af.k and ", " .. int(af.k) .. " per class" or "") end
  if af.n_images then add(" over %s held-out images", int(af.n_images)) end
  if af.n_coords then add(" and %s StyleSpace coordinates", int(af.n_coords)) end
  if af.max_image_effect then add(", max image effect %s", sig(af.max_image_effect)) end
  if af.max_corr then add(", passing over attributes whose effects correlate above %s with an earlier one",
    sig(af.max_corr)) end
  add(".")
  if af.unstable_images then add(" The unstable-image filter set aside %s images.", int(af.unstable_images)) end
  if af.discriminator_refused then
    add(" The discriminator filter refused %s attributes whose moves changed the discriminator's output by more than %s.",
      int(af.discriminator_refused), sig(af.discriminator_threshold or 0.2))
  end
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
      "<i>Flips</i>: of the held-out images of other classes, how many the attribute alone turns into %s " ..
      "(strength 1, and the share at strength 2); <i>mean &Delta;logit</i>: the mean change of the %s logit over " ..
      "them; <i>max corr. above</i>: the largest correlation, over the images, of its change of that logit with " ..
      "the change of an attribute ranked above it (near 1: the same move again).</p>\n",
      esc(cls_name), esc(cls_name), esc(cls_name))
    local rows = {}
    for ai, a in ipairs(c.attributes) do
      rows[ai] = {{int(a.rank or ai)}, "<code>" .. esc(a.layer_name) .. "</code>", {int(a.channel)},
        a.coord and {int(a.coord)} or {"–"}, esc(a.direction), {fixed(a.score, 3)},
        {a.flips and (int(a.flips) .. (a.n_other and " / " .. int(a.n_other) or "")) or "–"},
        {pct(flip_share(a))}, {pct(a.flip_share_t2)},
        {a.max_corr_above and fixed(a.max_corr_above, 2) or "–"}, {a.mean_effect and fixed(a.mean_effect, 3) or "–"}}
    end
    data_table(pg, {{"rank"}, "layer", {"channel"}, {"coordinate"}, "direction", {"score"}, {"flips"}, {"flip share"},
      {"flip share s=2"}, {"max corr. above"}, {"mean &Delta;logit"}}, rows)
  end
  local strips = {c.combined}
  for _, a in ipairs(c.attributes) do strips[#strips + 1] = a.strip end
  local has_cam = false
  for _, st in ipairs(strips) do
    for _, row in ipairs(st.rows) do if row.gradcam then has_cam = true end end
  end
  if #strips > 0 then
    putf(pg, '<p class="note">Counterfactuals: each row is one image (for an attribute, the images of other ' ..
      "classes whose %s logit it raises most) with the attribute applied at increasing " ..
      "strength (s), with the probability of %s under each frame (bold at p &ge; 0.5)%s; the slider steps through " ..
      "the frames.</p>\n", esc(cls_name), esc(cls_name), has_cam and string.format('. Grad-CAM heat maps for %s (<span class="nowrap">' ..
      'low<span class="legend" style="background:%s"></span>high</span>, one scale per row) flank the original and ' ..
      'the last frame',
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

function report_page.html(doc, rimgs, cimgs, name_of)
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
  local legend = gradcam.ramp_css()
  for ci, c in ipairs(doc.classes) do section_class(pg, c, cimgs[ci], name_of, legend) end
  put(pg, '<footer>Written by stylex.report. Every number on this page is in <a class="file" href="report.json">' ..
    "report.json</a>.</footer>\n</main>\n<script>\n", SCRIPT, "</script>\n</body>\n</html>\n")
  return table.concat(pg)
end

return report_page
