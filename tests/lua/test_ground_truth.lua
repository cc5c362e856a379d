-- tests/lua/test_ground_truth.lua — the shapes benchmark's whole chain as a
-- smoke test: tiny shapes data -> a tiny classifier and tiny factor oracles
-- -> a tiny StylEx and a tiny baseline (a few steps each, exported as shipped
-- models) -> scripts/faithfulness.lua, whose JSON line must hold every part
-- with figures in range; the effect tables it computes are cached where
-- scripts/explain.lua finds them.
local T = dofile("tests/lua/harness.lua")
local sx = require "stylex"
local cjson = require "cjson"
local stylex = require "stylex.all"
local fixtures = dofile("tests/lua/fixtures.lua")

local dir = T.tmpdir()
local host = arg[-1]
local K_ATTR, N_TAB = 3, 12

local train = stylex.data.shapes{split = "train", n = 640}

-- A tiny classifier of shapes, 60 Adam steps.
sx.manual_seed(21)
local C = fixtures.classifier(2)
fixtures.fit_classifier(C, train, 32, 4, 60)
local cls_path = dir .. "/classifier.safetensors"
local META = {classes = cjson.encode({0, 1}), class_names = cjson.encode(stylex.data.SHAPES_CLASSES),
  dataset = "shapes"}
local model_meta = fixtures.save_classifier(C, cls_path, META)

-- Tiny oracles, 20 steps on balanced renders.
do
  local O = fixtures.classifier(stylex.benchmark.ORACLE_OUTPUTS)
  local renders = stylex.data.shapes{split = "test", n = 320, seed = 9}
  local cont, disc = stylex.benchmark.oracle_targets(renders.factors)
  fixtures.fit(O:parameters(), renders, 32, 5, 20, function(x, _, idx)
    local d = {}
    for j = 1, #disc do d[j] = disc[j]:index_select(1, idx) end
    return stylex.benchmark.oracle_loss(O:classify(x, {train = true}), cont:index_select(1, idx), d)
  end)
  assert(sx.save(dir .. "/oracles.safetensors", O:state_dict(), {format = "stylex-oracles-1",
    config = cjson.encode(O:config())}))
end

-- A tiny StylEx and a tiny baseline: a few training steps each, exported.
fixtures.tiny_stylex(C, train, 8, dir, false, model_meta)
fixtures.tiny_stylex(C, train, 8, dir, true, model_meta)

local function run(args)
  local p = assert(io.popen(string.format("%q scripts/faithfulness.lua %s 2>%q", host, args, dir .. "/stderr")))
  local text = p:read("a")
  local ok = p:close()
  return ok, text
end

local function in01(v, what) T.ok(type(v) == "number" and v >= 0 and v <= 1, what .. " in [0, 1]: " .. tostring(v)) end

local faith -- the line of the test below, for the null control's test
T.test("faithfulness.lua: every part of the line, figures in range", function()
  local ok, text = run(string.format("--model %q --n 120 --n-attfind %d --k %d --null 2", dir, N_TAB, K_ATTR))
  T.ok(ok, "exits 0; stderr: " .. (T.read_file(dir .. "/stderr") or ""))
  local line = text:match("^(.-)\n?$")
  if os.getenv("SX_SHOW") then print(line) end
  local r = cjson.decode(line)
  faith = r
  local c = r.classifier
  for _, name in ipairs(sx.shapes.factors) do in01(c.factor_effects[name], "effect of " .. name) end
  T.eq(type(c.factors_used), "table")
  in01(c.accuracy, "accuracy")
  in01(c.accuracy_balanced, "balanced accuracy")
  for _, which in ipairs{"stylex", "baseline"} do
    local s = r[which]
    T.ok(s, which .. " is scored")
    T.eq(s.k, K_ATTR)
    for _, key in ipairs{"recall", "precision", "purity"} do in01(s[key], which .. " " .. key) end
    T.ok(s.shortcut_rank == cjson.null or math.type(s.shortcut_rank) == "integer", which .. " shortcut rank")
    T.eq(s.null and s.null.n, 2, which .. " null control of 2 coordinates")
    for _, key in ipairs{"recall", "precision", "purity"} do in01(s.weighted[key], which .. " weighted " .. key) end
    for name, w in pairs(s.reading_weights) do in01(w, which .. " reading weight of " .. name) end
    T.eq(s.reading_weights.size, math.max(0, math.min(1, s.factor_fidelity.size)), which .. " size weight is its R^2, clipped")
    T.ok(#s.attributes >= 1 and #s.attributes <= 2 * K_ATTR, which .. ": up to k attributes per class")
    T.eq(#s.single_flip, #s.attributes)
    for i, a in ipairs(s.attributes) do
      in01(s.single_flip[i][1], which .. " flip at t = 1")
      in01(s.single_flip[i][2], which .. " flip at t = 2")
      T.ok(a.class == 0 or a.class == 1, "attribute class")
      in01(a.purity, which .. " purity of attribute " .. i)
      for name, v in pairs(a.changes) do T.ok(v >= 0, name .. " change is non-negative") end
    end
    T.ok(T.exists(string.format("%s/%s.attfind-n%d.safetensors", dir, which, N_TAB)), which .. " effect table cached")
  end
  in01(r.gradcam.marker_heat_share, "marker heat share")
  T.ok(r.gradcam.n > 0, "Grad-CAM on marked images")
end)

T.test("null_attributes.lua: random coordinates measured like attributes, as faithfulness.lua's null", function()
  local p = assert(io.popen(string.format("%q scripts/null_attributes.lua --model %q --n-attfind %d --n 2 2>%q",
    host, dir, N_TAB, dir .. "/stderr")))
  local text = p:read("a")
  T.ok(p:close(), "exits 0; stderr: " .. (T.read_file(dir .. "/stderr") or ""))
  local r = cjson.decode(text:match("^(.-)\n?$"))
  T.eq({r.which, r.n}, {"stylex", 2})
  local counted = 0
  for _, c in pairs(r.dominant) do counted = counted + c end
  T.eq(counted, 2, "every coordinate has a dominant factor")
  for name, v in pairs(r.mean_change) do T.ok(v >= 0, name .. " mean change is non-negative") end
  -- the same seed (5) and count give faithfulness.lua's null control
  local f = faith and faith.stylex.null
  T.ok(f, "faithfulness.lua's line is there")
  for name, v in pairs(r.mean_change) do
    T.ok(math.abs(v - f.mean_change[name]) < 1e-9, name .. ": " .. v .. " vs " .. tostring(f.mean_change[name]))
  end
end)

T.test("explain: a shapes model's report has the Ground truth section", function()
  local out = dir .. "/report"
  local doc = stylex.explain.run{model = dir, out = out, n = N_TAB, k = K_ATTR, sufficiency_k = 2, examples = 1, batch = 32,
    log = function() end}
  local gt = doc.ground_truth
  T.ok(gt, "doc.ground_truth is there")
  T.eq(gt.n, 2000)
  T.eq(#gt.factors, #sx.shapes.factors)
  for _, f in ipairs(gt.factors) do
    in01(f.flip_share, f.name .. " flip share")
    T.eq(f.used, f.flip_share >= 0.10, f.name .. " is used exactly when its share is >= 0.10")
  end
  local shown = 0
  for _, c in ipairs(doc.classes) do shown = shown + #c.attributes end
  T.eq(#gt.attributes, shown, "one row per shown attribute")
  for _, key in ipairs{"recall", "precision", "purity"} do in01(gt.weighted[key], "weighted " .. key) end
  for _, a in ipairs(gt.attributes) do
    T.ok(a.dominant_weighted == nil or (gt.reading_weights[a.dominant_weighted] or 0) > 0,
      "a factor weighted 0 names no attribute")
  end
  local html = T.read_file(out .. "/index.html")
  T.ok(html:find('id="ground-truth"', 1, true), "the page has the section")
  T.ok(html:find("dominant (weighted)", 1, true), "the page has the weighted column")
  T.ok(html:find("<code>marker</code>", 1, true), "the factor table lists the marker")
  local r = cjson.decode(T.read_file(out .. "/report.json"))
  T.eq(#r.ground_truth.factors, #sx.shapes.factors)
end)

T.test("faithfulness.lua: a classifier of another data set is refused", function()
  local other = dir .. "/other"
  os.execute("mkdir -p " .. other)
  assert(sx.save(other .. "/classifier.safetensors", C:state_dict(), {format = "stylex-classifier-1",
    config = cjson.encode(C:config()), classes = "[7,9]", class_names = '["a","b"]', dataset = "fashion-mnist"}))
  local ok = run("--model " .. other)
  T.ok(not ok, "exits non-zero")
  T.ok((T.read_file(dir .. "/stderr") or ""):find("not on the shapes benchmark", 1, true), "says why")
end)

T.done()
