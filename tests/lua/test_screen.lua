-- tests/lua/test_screen.lua — Screened AttFind (attfind.screened_effects,
-- lua/stylex/attfind_screen.lua) against the exact effect table on a small random
-- model: the gradients against finite differences, sx.attfind.entries and
-- sx.attfind.base against sx.attfind.effects, the screened picks against the exact picks
-- for several policy options, the table it returns (exact entries, estimate
-- elsewhere), save / load, and the refusals.
local T = dofile("tests/lua/harness.lua")
local sx = require "stylex"
local attfind = require "stylex.attfind"
local fixtures = dofile("tests/lua/fixtures.lua")

local max_abs_diff = T.max_abs_diff

-- 24 images (15 of class 1), S = 16 + 16 + 12 = 44 coordinates (88
-- columns), 2 classes; the classifier's weights are doubled so that shifts
-- move the probabilities.
local function small()
  local G, C, lat = fixtures.attfind_models{seed = 11, channels = {16, 12}, classes = 2, c_channels = 6, images = 24}
  sx.no_grad(function()
    for _, p in ipairs(C:parameters()) do p:mul_(2) end
  end)
  local noise = G:noise(24)
  return G, C, lat, noise
end

local function picks(per_class)
  local out = {}
  for c, attrs in ipairs(per_class) do
    out[c] = {}
    for i, a in ipairs(attrs) do out[c][i] = a.coord .. ":" .. a.direction end
  end
  return out
end

T.test("gradients agree with finite differences", function()
  local G, C, lat, noise = small()
  local grads, logits = attfind.gradients(G, C, lat, {noise = noise, batch = 5})
  T.eq(#grads, 2)
  T.eq(grads[1]:shape(), {24, 44})
  local base = sx.no_grad(function() return C:logits(G:synthesis(lat, noise)) end)
  T.ok(max_abs_diff(logits, base) < 1e-4)
  local h = 1e-3 -- (at 1e-2 the leaky ReLUs' kinks show)
  for _, probe in ipairs{{i = 1, j = 2}, {i = 7, j = 23}, {i = 24, j = 44}} do
    local l1 = lat:narrow(1, probe.i, 1)
    local nz = {}
    for l, z in ipairs(noise) do nz[l] = z:narrow(1, probe.i, 1) end
    local up = sx.attfind.apply(G, l1, probe.j, h, {noise = nz, add = true})
    local down = sx.attfind.apply(G, l1, probe.j, -h, {noise = nz, add = true})
    local fd = sx.no_grad(function() return ((C:logits(up) - C:logits(down)) * (1 / (2 * h))):totable()[1] end)
    for k = 1, 2 do
      local g = grads[k]:totable()[probe.i][probe.j]
      T.near(g, fd[k], 5e-2 * math.max(0.1, math.abs(fd[k])), string.format("image %d coord %d class %d", probe.i,
        probe.j, k - 1))
    end
  end
end)

T.test("entries are the exact table's entries, with or without a base", function()
  local G, C, lat, noise = small()
  local tab = sx.attfind.effects(G, C, lat, {noise = noise, batch = 7})
  -- entries of every layer, in no order, one image twice
  local rows, cols = {24, 2, 5, 9, 11, 2, 1, 17}, {1, 44, 45, 88, 9, 20, 33, 70}
  local x = tab.effect:totable()
  local function check(eff, what)
    T.eq(eff:shape(), {8, 2}, what)
    local e, worst = eff:totable(), 0
    for q, i in ipairs(rows) do
      local col = cols[q]
      local d, j = col > 44 and 2 or 1, col > 44 and col - 44 or col
      for k = 1, 2 do worst = math.max(worst, math.abs(e[q][k] - x[i][d][j][k])) end
    end
    T.ok(worst < 1e-4, what .. ": entries differ from the table by " .. worst)
  end
  local calls, last = 0, 0
  check(sx.attfind.entries(G, C, lat, rows, cols, {noise = noise, batch = 3,
    progress = function(done, total) calls = calls + 1; last = done; T.eq(total, 7 + 8) end}), "no base")
  T.ok(calls > 0 and last == 15)
  local base = sx.attfind.base(G, C, lat, {noise = noise, batch = 5})
  T.eq(base:size(), 24)
  T.ok(max_abs_diff(base:logits(), tab.base_logits) < 1e-4)
  check(sx.attfind.entries(G, C, lat, rows, cols, {noise = noise, base = base, batch = 4}), "base")
  T.ok(tostring(base):find("24 images", 1, true))
  base:close()
  T.raises("base must be an open sx.attfind.base", sx.attfind.entries, G, C, lat, {1}, {1}, {noise = noise, base = base})
  T.raises("bad argument #5 to 'entries' (columns[1] must be an integer in 1..88", sx.attfind.entries, G, C, lat,
    {1}, {89}, {noise = noise})
  T.raises("bad argument #4 to 'entries' (rows[2] must be an integer in 1..24", sx.attfind.entries, G, C, lat,
    {1, 25}, {1, 1}, {noise = noise})
  T.raises("one column per entry", sx.attfind.entries, G, C, lat, {1, 2}, {1}, {noise = noise})
  T.raises("noise is required", sx.attfind.entries, G, C, lat, {1}, {1}, {})
  T.raises("noise is required", sx.attfind.base, G, C, lat, {})
  T.raises("expected 1 ..", sx.attfind.entries, G, C, lat, {}, {}, {noise = noise})
  -- a base of other images is refused
  local other = sx.attfind.base(G, C, lat:narrow(1, 1, 3), {noise = (function()
    local t = {}
    for l, z in ipairs(noise) do t[l] = z:narrow(1, 1, 3) end
    return t
  end)()})
  T.raises("the base holds 3 images", sx.attfind.entries, G, C, lat, {1}, {1}, {noise = noise, base = other})
end)

T.test("screened picks are the exact picks", function()
  local G, C, lat, noise = small()
  local exact = sx.attfind.effects(G, C, lat, {noise = noise})
  local cases = {
    {k = 6},
    {k = 6, space = "logit"},
    {k = 5, max_image_effect = 0.05},
    {k = 4, max_corr = 0.6},
  }
  local evaluated_less = false
  for n, case in ipairs(cases) do
    local o = {noise = noise, initial = 4, round = 4}
    for key, v in pairs(case) do o[key] = v end
    local lines = 0
    o.log = function() lines = lines + 1 end
    local tab = attfind.screened_effects(G, C, lat, o)
    local popts = {k = case.k, space = case.space, max_image_effect = case.max_image_effect, max_corr = case.max_corr}
    local want = picks(attfind.per_class(exact, "subset", popts))
    local got = picks(attfind.per_class(tab, "subset", popts))
    T.eq(got, want, "case " .. n)
    T.ok(#want[1] > 0 and #want[2] > 0, "case " .. n .. " picks something")
    T.ok(tab.screen.certified, "case " .. n)
    T.ok(lines > 0)
    -- the exact entries are the table's, the others the linear estimate
    local mask = tab.exact:reshape{24, 2, 44, 1}
    local diff = ((tab.effect - exact.effect) * mask):abs():max():item()
    T.ok(diff < 1e-4, "exact entries differ by " .. diff)
    local grads = attfind.gradients(G, C, lat, {noise = noise})
    local est = attfind.linear_effects(tab.styles, tab.style_min, tab.style_max, grads)
    T.ok(((tab.effect - est) * (1 - mask)):abs():max():item() < 1e-6)
    T.ok(max_abs_diff(tab.style_min, exact.style_min) == 0 and max_abs_diff(tab.style_max, exact.style_max) == 0)
    -- every pick is exact on all images
    for c, attrs in ipairs(attfind.per_class(tab, "subset", popts)) do
      for _, a in ipairs(attrs) do
        local d = a.direction == "to-min" and 1 or 2
        T.eq(tab.exact:narrow(2, d, 1):narrow(3, a.coord, 1):sum():item(), 24, "pick of class " .. (c - 1))
      end
    end
    local s = tab.screen
    -- no entry is evaluated twice; the count is the mask's
    T.eq(s.entries, math.tointeger(tab.exact:sum():item()))
    T.eq(s.passes, s.entries + 24)
    T.ok(s.columns >= 1 and s.columns <= 88)
    T.eq(s.full_passes, 24 * 89)
    if s.columns < 88 then evaluated_less = true end
    T.eq(#s.per_class, 2)
  end
  T.ok(evaluated_less, "the screening evaluated every column in every case")
end)

T.test("three classes: each against the rest", function()
  local G, _, lat, noise = small()
  sx.manual_seed(12)
  local C3 = sx.models.Classifier{n_classes = 3, resolution = 8, channels = {6}, convs_per_block = 1, hidden = 8,
                                  dropout = 0}
  sx.no_grad(function()
    for _, p in ipairs(C3:parameters()) do p:mul_(2) end
  end)
  local exact = sx.attfind.effects(G, C3, lat, {noise = noise})
  local counts = {0, 0, 0}
  for _, y in ipairs(attfind.labels(exact)) do counts[y + 1] = counts[y + 1] + 1 end
  T.ok(counts[1] > 0 and counts[2] > 0 and counts[3] > 0, "every class predicted: " .. table.concat(counts, " "))
  for _, space in ipairs{"prob", "logit"} do
    local tab = attfind.screened_effects(G, C3, lat, {noise = noise, k = 4, space = space, initial = 4, round = 4})
    T.eq(picks(attfind.per_class(tab, "subset", {k = 4, space = space})),
         picks(attfind.per_class(exact, "subset", {k = 4, space = space})), space)
    T.eq(#tab.screen.per_class, 3)
    T.eq(tab.screen.entries, math.tointeger(tab.exact:sum():item()))
  end
end)

T.test("the bound decides how much is evaluated", function()
  local G, C, lat, noise = small()
  -- the linear estimate alone does not give the exact picks here (so the
  -- test above checks the exact evaluations, not the estimate)
  local exact = sx.attfind.effects(G, C, lat, {noise = noise})
  local est = {effect = attfind.linear_effects(exact.styles, exact.style_min, exact.style_max,
    attfind.gradients(G, C, lat, {noise = noise})), base_logits = exact.base_logits, layers = exact.layers}
  local same = true
  local a, b = picks(attfind.per_class(est, "subset", {k = 6})), picks(attfind.per_class(exact, "subset", {k = 6}))
  for c = 1, 2 do if table.concat(a[c], " ") ~= table.concat(b[c], " ") then same = false end end
  T.eq(same, false, "the estimate's picks")
  local loose = attfind.screened_effects(G, C, lat, {noise = noise, k = 6, initial = 2, round = 2, safety = 0})
  local tight = attfind.screened_effects(G, C, lat, {noise = noise, k = 6, initial = 2, round = 2, safety = 20,
    quantile = 1})
  T.ok(tight.screen.columns >= loose.screen.columns)
  T.ok(tight.screen.per_class[1].alpha > loose.screen.per_class[1].alpha)
  -- a limit on the columns leaves the picks uncertified, and says so
  local capped = attfind.screened_effects(G, C, lat, {noise = noise, k = 6, initial = 1, round = 1, max_columns = 1})
  T.eq(capped.screen.certified, false)
  T.ok(capped.screen.per_class[1].columns <= 2)
end)

T.test("a screened table saved, loaded, and refused where it cannot serve", function()
  local G, C, lat, noise = small()
  local tab = attfind.screened_effects(G, C, lat, {noise = noise, k = 3, initial = 4, round = 4})
  local path = os.tmpname()
  T.eq(attfind.save(path, tab, {model = "tiny"}), true)
  local back = attfind.load(path)
  T.ok(max_abs_diff(back.exact, tab.exact) == 0 and max_abs_diff(back.effect, tab.effect) == 0)
  T.eq({back.screen.k, back.screen.space, back.screen.columns, back.screen.certified},
       {3, "prob", tab.screen.columns, true})
  T.eq(picks(attfind.per_class(back, "subset", {k = 3})), picks(attfind.per_class(tab, "subset", {k = 3})))
  -- what the screening did not certify
  T.eq(attfind.screen_covers(back, "subset", {}, 3), true)
  T.eq(select(2, attfind.screen_covers(back, "subset", {}, 4)), "screened for 3 picks, 4 asked")
  T.eq(select(1, attfind.screen_covers(back, "independent", {}, 3)), false)
  T.eq(select(1, attfind.screen_covers(back, "subset", {space = "logit"}, 3)), false)
  T.eq(select(1, attfind.screen_covers(back, "subset", {max_corr = 0.5}, 3)), false)
  T.eq(attfind.screen_covers(sx.attfind.effects(G, C, lat, {noise = noise}), "independent", {}, 50), true)
  T.raises("needs the exact effect table", attfind.filter_unstable, back)
  -- a file that says it is screened but has no mask is refused
  local tensors = sx.load(path)
  tensors.exact = nil
  local _, meta = sx.load(path)
  sx.save(path, tensors, meta)
  T.raises("without its 'exact' mask", attfind.load, path)
  os.remove(path)
  -- option errors
  T.raises("unknown option 'bogus'", attfind.screened_effects, G, C, lat, {noise = noise, bogus = 1})
  T.raises("quantile must be in", attfind.screened_effects, G, C, lat, {noise = noise, quantile = 2})
  T.raises("opts.noise is required", attfind.gradients, G, C, lat, {})
end)

T.done()
