-- tests/lua/test_pipeline.lua — the whole pipeline end to end on a tiny
-- config, as a smoke test: a tiny classifier trained on Fashion-MNIST
-- Sneaker vs Ankle boot -> a tiny StylEx and a tiny baseline (a few
-- training steps each, exported as shipped models) -> stylex.explain (effect
-- tables, AttFind, sufficiency, strips, Grad-CAM) -> the report folder.
-- Checks that the report holds what it must, that the effect-table cache is
-- reused and gives the same figures, and that the table's prediction of an
-- attribute's flips agrees with regenerating the images.
local T = dofile("tests/lua/harness.lua")
local sx = require "stylex"
local cjson = require "cjson"
local stylex = require "stylex.all"
local fixtures = dofile("tests/lua/fixtures.lua")

local dir = T.tmpdir()

local CLASSES = {7, 9}
local N = 16

local read = T.read_file

-- a tiny classifier, 80 Adam steps: good enough to tell most sneakers from boots
local train = stylex.data.fashion_mnist{split = "train", classes = CLASSES}
sx.manual_seed(11)
local C = fixtures.classifier(2)
fixtures.fit_classifier(C, train, 64, 3, 80)
local cls_path = dir .. "/classifier.safetensors"
local META = {classes = cjson.encode(CLASSES), class_names = cjson.encode(train.classes), dataset = "fashion-mnist"}
local model_meta = fixtures.save_classifier(C, cls_path, META)
-- a tiny StylEx and a tiny baseline: a few training steps each, exported
fixtures.tiny_stylex(C, train, 12, dir, false, model_meta)
fixtures.tiny_stylex(C, train, 12, dir, true, model_meta)

local out = dir .. "/report"
local messages = {}
local opts = {model = dir, out = out, n = N, k = 3, sufficiency_k = 4, examples = 2, batch = 32,
  log = function(m) messages[#messages + 1] = m end}

T.test("explain: tiny models to a report folder", function()
  local doc = stylex.explain.run(opts)
  local js = T.ok(read(out .. "/report.json"), "report.json written")
  local html = T.ok(read(out .. "/index.html"), "index.html written")
  local r = cjson.decode(js or "{}")
  local s = r.sufficiency or {}
  T.eq({s.k, s.n}, {4, N}) -- two classes: every image is tried once, toward the other class
  for _, key in ipairs{"stylex", "baseline"} do
    T.ok(type(s[key]) == "number" and s[key] >= 0 and s[key] <= 1, "sufficiency." .. key .. " is a share")
  end
  T.eq(s.stylex, doc.sufficiency.stylex)
  T.ok(r.classifier and r.classifier.accuracy > 0.6, "the tiny classifier is better than chance")
  local cd = r.model and r.model.class_direction or {}
  T.eq({cd.k, #(cd.per_class or {})}, {4, 2})
  for _, e in ipairs(cd.per_class or {}) do
    T.ok(e.top_k_share > 0 and e.top_k_share <= 1, "the class direction's top-k share is a share")
  end
  T.eq(#r.classes, 2)
  for c, entry in ipairs(r.classes) do
    T.eq(entry.class, c - 1)
    T.ok(#entry.attributes >= 1 and #entry.attributes <= 3, "1..k attributes for class " .. (c - 1))
    for _, a in ipairs(entry.attributes) do
      T.ok(a.flips >= 0 and a.flips <= a.n_other, "flips within the other-class images")
      T.eq(#a.strip.rows, 2)
      T.eq(#a.strip.rows[1].probs, #stylex.explain.defaults.strengths)
    end
  end
  T.ok(html and html:find("Sneaker", 1, true), "the page names the classes")
  T.ok(read(opts.model .. "/stylex.attfind-n" .. N .. ".safetensors"), "the StylEx effect table is cached")
  T.ok(read(opts.model .. "/baseline.attfind-n" .. N .. ".safetensors"), "the baseline effect table is cached")
  T.eq(doc.attfind.cached, false)

  -- again: the cached tables, the same figures
  local again = stylex.explain.run(opts)
  T.eq(again.attfind.cached, true)
  T.eq({again.sufficiency.stylex, again.sufficiency.baseline}, {doc.sufficiency.stylex, doc.sufficiency.baseline})

  -- a model whose encoder changed (scripts/fit_encoder.lua) does not reuse the cache
  local dir2 = dir .. "/refit"
  os.execute("mkdir -p '" .. dir2 .. "' && cp '" .. dir .. "'/*.safetensors '" .. dir2 .. "/'")
  local t, m = assert(sx.load(dir2 .. "/stylex.safetensors"))
  for name, v in pairs(t) do if name:sub(1, 2) == "E." then t[name] = v * 1.01 end end
  assert(sx.save(dir2 .. "/stylex.safetensors", t, m))
  local o2 = {}
  for k, v in pairs(opts) do o2[k] = v end
  o2.model, o2.out = dir2, dir2 .. "/report"
  T.eq(stylex.explain.run(o2).attfind.cached, false, "a new encoder: the effect table is recomputed")
end)

T.test("explain --screen: the screened tables, their cache, the exact picks", function()
  local exact = cjson.decode(read(out .. "/report.json"))
  local function picks(r)
    local t = {}
    for c, entry in ipairs(r.classes) do
      t[c] = {}
      for i, a in ipairs(entry.attributes) do t[c][i] = a.coord .. ":" .. a.direction end
    end
    return t
  end
  -- the exact cached tables serve --screen as they are
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o.screen, o.screen_quantile, o.screen_safety = true, 1, 3
  o.out = dir .. "/report-screen-cached"
  local d0 = stylex.explain.run(o)
  T.eq({d0.attfind.cached, d0.attfind.screened}, {true, nil})
  T.ok(not read(dir .. "/stylex.attfind-n" .. N .. "-screened.safetensors"), "no screened table beside an exact one")
  -- without them: screened tables, cached under their own name
  local dir3 = dir .. "/screen"
  os.execute("mkdir -p '" .. dir3 .. "' && cp '" .. dir .. "'/stylex.safetensors '" .. dir .. "'/baseline.safetensors '" ..
    dir3 .. "/'")
  o.model, o.out = dir3, dir3 .. "/report"
  local d1 = stylex.explain.run(o)
  T.eq(d1.attfind.cached, false)
  T.ok(d1.attfind.screened and d1.attfind.screened.certified, "the report says the table is screened and certified")
  T.ok(read(dir3 .. "/stylex.attfind-n" .. N .. "-screened.safetensors"), "the screened StylEx table is cached")
  T.ok(read(dir3 .. "/baseline.attfind-n" .. N .. "-screened.safetensors"), "the screened baseline table is cached")
  T.ok(not read(dir3 .. "/stylex.attfind-n" .. N .. ".safetensors"), "not under the exact table's name")
  local r1 = cjson.decode(read(dir3 .. "/report/report.json"))
  T.eq(picks(r1), picks(exact))
  T.eq({r1.sufficiency.stylex, r1.sufficiency.baseline}, {exact.sufficiency.stylex, exact.sufficiency.baseline})
  -- again: read back; more picks than it certified: computed again
  T.eq(stylex.explain.run(o).attfind.cached, true)
  o.k = 5
  T.eq(stylex.explain.run(o).attfind.cached, false)
  -- without --screen the screened file is never read as the exact table
  local o3 = {}
  for k, v in pairs(opts) do o3[k] = v end
  o3.model, o3.out = dir3, dir3 .. "/report-exact"
  local d3 = stylex.explain.run(o3)
  T.eq({d3.attfind.cached, d3.attfind.screened}, {false, nil})
  T.eq(picks(cjson.decode(read(dir3 .. "/report-exact/report.json"))), picks(exact))
  -- what it cannot serve
  T.raises("option 'screen' certifies subset selection only", stylex.explain.run,
    {model = dir3, screen = true, policy = "independent"})
  T.raises("option 'screen' certifies subset selection only", stylex.explain.run,
    {model = dir3, screen = true, unstable_filter = true})
end)

T.test("explain: bad options", function()
  T.raises("unknown option 'bogus'", stylex.explain.run, {model = dir, bogus = 1})
  T.raises("no model at " .. dir .. "/nowhere", stylex.explain.run, {model = dir .. "/nowhere"})
  T.raises("option 'n' must be a positive integer", stylex.explain.run, {model = dir, n = 2.5})
  T.raises("option 'model'", stylex.explain.run, {})
end)

T.test("the table's flips agree with regenerating the images; the per-attribute figures", function()
  local G = stylex.evaluate.load_model(dir .. "/stylex.safetensors")
  local tab = stylex.attfind.load(dir .. "/stylex.attfind-n" .. N .. ".safetensors")
  local r = cjson.decode(read(out .. "/report.json"))
  local labels = stylex.attfind.labels(tab)
  for c, entry in ipairs(r.classes) do
    local rows = {}
    for i, y in ipairs(labels) do if y ~= c - 1 then rows[#rows + 1] = i end end
    for rank, a in ipairs(entry.attributes) do
      local attr = {{coord = math.tointeger(a.coord), direction = a.direction}}
      local function flips_at(t)
        local flips = 0
        if #rows == 0 then return 0 end
        local pred = sx.no_grad(function()
          return C:logits(stylex.attfind.apply_attributes(G, tab, attr, {images = rows, strength = t})):argmax(2):totable()
        end)
        for _, p in ipairs(pred) do if p == c - 1 then flips = flips + 1 end end
        return flips
      end
      T.eq(flips_at(1), a.flips, "class " .. (c - 1) .. " attribute " .. rank .. ": flips at strength 1")
      T.ok(math.abs(flips_at(2) / math.max(#rows, 1) - a.flip_share_t2) < 1e-12,
        "class " .. (c - 1) .. " attribute " .. rank .. ": flip_share_t2 regenerated")
      if rank == 1 then
        T.eq(a.max_corr_above, cjson.null, "nothing ranked above the first")
      else
        T.ok(type(a.max_corr_above) == "number" and math.abs(a.max_corr_above) <= 1 + 1e-9, "max_corr_above")
      end
      -- the strip's images: of other classes, the most changed first
      local d = a.direction == "to-min" and 1 or 2
      local eff = tab.effect:narrow(2, d, 1):narrow(3, math.tointeger(a.coord), 1):reshape{N, 2}:totable()
      local best = -math.huge
      for _, i in ipairs(rows) do best = math.max(best, eff[i][c]) end
      local first = a.strip.rows[1].image
      T.ok(labels[first] ~= c - 1, "the strip's first image is of another class")
      T.ok(math.abs(eff[first][c] - best) < 1e-9, "the strip's first image is the one the attribute changes most")
      for e = 2, #a.strip.rows do
        T.ok(eff[a.strip.rows[e].image][c] <= eff[a.strip.rows[e - 1].image][c], "strip images by falling effect")
      end
    end
  end
end)

T.rm_rf(dir)
T.done()
