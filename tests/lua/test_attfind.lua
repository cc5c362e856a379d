-- tests/lua/test_attfind.lua — AttFind from Lua: the policies of
-- lua/stylex/attfind.lua on a hand-made effect table whose answers are worked
-- out below, per_class, a custom policy, sx.attfind.effects / apply
-- (lib/lua/attfind.c) on a tiny generator, and the table's save / load.
local T = dofile("tests/lua/harness.lua")
local sx = require "stylex"

assert(sx.attfind and sx.attfind.effects,
       "sx.attfind is missing: luaopen_stylex must call lsx_open_attfind (lib/lua/attfind.c)")
local attfind = require "stylex.attfind"
local fixtures = dofile("tests/lua/fixtures.lua")

-- ---------------------------------------------------------------- the hand-made table
--
-- N = 4 images, S = 3 coordinates, K = 2 classes. Layout: coordinates 1, 2
-- are channels 1, 2 of layer 1 (b4.conv1), coordinate 3 channel 1 of layer 2.
-- Columns of E (flattened [2, S]): c1..c3 = coordinates 1..3 to-min,
-- c4..c6 = coordinates 1..3 to-max.
--
-- Effects on class 1 (effect[i, d, j, 2]):
--            c1     c2     c3     c4     c5     c6
--   img1    1.5    0.75  -0.5    0.25   0.75   0
--   img2    1.0    0.125  0      0.25   0.5    0.5
--   img3   -3.0    0.75   0.25   0.25   0.5    1.0
--   img4    0      0      8      0      0      0      (predicted class 1: excluded)
-- Effects on class 0: 2.0 in c4 for every image, 0 elsewhere (a policy that
-- read the wrong class would pick c4 first).
-- base_logits: img1..3 predict class 0, img4 class 1. Values are multiples
-- of 1/8, so every sum below is exact in float32 and float64.
local HAND1 = {
  {1.5, 0.75, -0.5, 0.25, 0.75, 0},
  {1.0, 0.125, 0, 0.25, 0.5, 0.5},
  {-3.0, 0.75, 0.25, 0.25, 0.5, 1.0},
  {0, 0, 8, 0, 0, 0},
}

local function hand_table()
  local e = {}
  for i = 1, 4 do
    e[i] = {}
    for d = 1, 2 do
      e[i][d] = {}
      for j = 1, 3 do
        local col = (d - 1) * 3 + j
        e[i][d][j] = {col == 4 and 2.0 or 0, HAND1[i][col]}
      end
    end
  end
  return {
    effect = sx.tensor(e),
    base_logits = sx.tensor{{2, -1}, {2, -1}, {2, -1}, {-1, 2}},
    style_min = sx.tensor{-1, -2, -3}, style_max = sx.tensor{1, 2, 3},
    styles = sx.zeros{4, 3},
    layers = {{name = "b4.conv1", channels = 2, offset = 1}, {name = "b8.conv0", channels = 1, offset = 3}},
  }
end

-- {coord, direction, score} of a list of attributes, scores rounded to 1e-6.
local function brief(attrs)
  local out = {}
  for i, a in ipairs(attrs) do
    out[i] = {a.coord, a.direction, math.floor(a.score * 1e6 + 0.5) / 1e6}
  end
  return out
end

local function r6(x) return math.floor(x * 1e6 + 0.5) / 1e6 end

T.test("subset selection on the hand-made table", function()
  local tab = hand_table()
  -- E = max(0, class-1 effects) of img1..3 (img4 predicts class 1):
  --   img1 [1.5, 0.75, 0, 0.25, 0.75, 0]
  --   img2 [1.0, 0.125, 0, 0.25, 0.5, 0.5]
  --   img3 [0, 0.75, 0.25, 0.25, 0.5, 1.0]
  -- max_image_effect 2, k 6:
  -- step 1, all active: sums c1 2.5, c2 1.625, c3 0.25, c4 0.75, c5 1.75, c6 1.5
  --   -> c1 (coord 1 to-min), score 2.5/3. (Unclipped, img3's -3 would make
  --   c1 -0.5 and c5 win; with img4, c3 would win with 8.25.)
  --   acc = [1.5, 1.0, 0]; c1 zeroed.
  -- step 2, all active (< 2): c2 1.625, c3 0.25, c4 0.75, c5 1.75, c6 1.5
  --   -> c5 (coord 2 to-max), score 1.75/3 (without zeroing c1, 2.5 would win
  --   again). acc = [2.25, 1.5, 0.5]; c5 zeroed.
  -- step 3, img1 saturated (2.25), img2 and img3 active: c2 0.875, c3 0.25,
  --   c4 0.5, c6 1.5 -> c6 (coord 3 to-max), score 0.75. (With img1, c2 would
  --   win with 1.625 over 1.5.) acc = [2.25, 2.0, 1.5]; c6 zeroed.
  -- step 4, img2 at exactly 2.0 is saturated ("still below" is strict), img3
  --   alone: c2 0.75, c3 0.25, c4 0.25 -> c2 (coord 2 to-min), score 0.75
  --   (0.4375 if img2 counted). acc img3 = 2.25.
  -- step 5: no image below 2: the cap is lifted, all three images count:
  --   c3 0.25, c4 0.75 -> c4 (coord 1 to-max), score 0.25; step 6: c3, 0.25/3.
  local a = attfind.subset_selection(tab, {space = "logit", class = 1, k = 6, max_image_effect = 2})
  T.eq(brief(a), {{1, "to-min", r6(2.5 / 3)}, {2, "to-max", r6(1.75 / 3)}, {3, "to-max", 0.75}, {2, "to-min", 0.75},
                  {1, "to-max", 0.25}, {3, "to-min", r6(0.25 / 3)}})
  T.eq({a[5].images, a[6].images}, {3, 3})
  T.eq({a[1].layer, a[1].channel, a[1].layer_name, a[1].class, a[1].images}, {1, 1, "b4.conv1", 1, 3})
  T.eq({a[2].layer, a[2].channel}, {1, 2})
  T.eq({a[3].layer, a[3].channel, a[3].layer_name, a[3].images}, {2, 1, "b8.conv0", 2})
  T.eq(a[4].images, 1)
  -- k = 2 stops after the first two
  T.eq(brief(attfind.subset_selection(tab, {space = "logit", class = 1, k = 2, max_image_effect = 2})),
       {{1, "to-min", r6(2.5 / 3)}, {2, "to-max", r6(1.75 / 3)}})
  -- the defaults (k 8, max_image_effect 1.0): step 1 as above, acc [1.5, 1.0, 0];
  -- step 2 only img3 is below 1.0: c2 0.75, c3 0.25, c4 0.25, c5 0.5, c6 1.0
  --   -> c6, score 1.0; acc img3 = 1.0; step 3 nobody is below 1.0, so all
  --   three count: c2 1.625, c3 0.25, c4 0.75, c5 1.75 -> c5, then c2, c4, c3;
  --   then only zero columns are left: 6 attributes, not 8.
  T.eq(brief(attfind.subset_selection(tab, {space = "logit", class = 1})),
       {{1, "to-min", r6(2.5 / 3)}, {3, "to-max", 1.0}, {2, "to-max", r6(1.75 / 3)}, {2, "to-min", r6(1.625 / 3)},
        {1, "to-max", 0.25}, {3, "to-min", r6(0.25 / 3)}})
  -- labels given: only img4 is "not class 1": E = [0, 0, 8, 0, 0, 0] -> c3
  -- (score 8); then img4 is saturated and every other column is 0: stop
  T.eq(brief(attfind.subset_selection(tab, {space = "logit", class = 1, labels = {1, 1, 1, 0}})), {{3, "to-min", 8}})
  T.eq(brief(attfind.subset_selection(tab, {space = "logit", class = 1, labels = sx.tensor{1, 1, 1, 0}})), {{3, "to-min", 8}})
  -- class 0: only img4 counts, its class-0 effects are 2.0 in c4 -> coord 1 to-max, score 2
  T.eq(brief(attfind.subset_selection(tab, {space = "logit", class = 0})), {{1, "to-max", 2}})
  -- no image outside the class: nothing to select
  T.eq(attfind.subset_selection(tab, {space = "logit", class = 1, labels = {1, 1, 1, 1}}), {})
  -- a column of zeros is never picked: class 0 on img1..3 only has c4 > 0
  T.eq(brief(attfind.subset_selection(tab, {space = "logit", class = 0, labels = {1, 1, 1, 1}, k = 5, max_image_effect = 100})),
       {{1, "to-max", 2}})
  -- the table is not modified
  T.eq(tab.effect:totable()[3][1][1][2], -3)
end)

T.test("subset selection with max_corr", function()
  local tab = hand_table()
  -- class-1 logit effects of each column over all four images:
  --   c1 [1.5, 1, -3, 0]  c2 [0.75, 0.125, 0.75, 0]  c3 [-0.5, 0, 0.25, 8]
  --   c4 [0.25, 0.25, 0.25, 0]  c5 [0.75, 0.5, 0.5, 0]  c6 [0, 0.5, 1, 0]
  -- With max_image_effect 2 the picks go c1, c5, c6 as without max_corr
  -- (corr(c5, c1) 0.18; c6: -0.6 with c1, 0.21 with c5). Then c2 would be
  -- next, but corr(c2, c5) = 0.77 > 0.5: passed over and zeroed; img3 alone
  -- then has c3 and c4 at 0.25 -> c3 (lower column; it correlates negatively
  -- with every pick); then c4, corr(c4, c5) = 0.93: passed over; nothing left.
  local a = attfind.subset_selection(tab, {space = "logit", class = 1, k = 6, max_image_effect = 2, max_corr = 0.5})
  T.eq(brief(a), {{1, "to-min", r6(2.5 / 3)}, {2, "to-max", r6(1.75 / 3)}, {3, "to-max", 0.75}, {3, "to-min", 0.25}})
  T.eq({a[1].passed_over, a[2].passed_over, a[3].passed_over, a[4].passed_over}, {0, 0, 0, 1})
  -- max_corr 1 passes over nothing: the official selection
  T.eq(brief(attfind.subset_selection(tab, {space = "logit", class = 1, k = 6, max_image_effect = 2, max_corr = 1})),
       brief(attfind.subset_selection(tab, {space = "logit", class = 1, k = 6, max_image_effect = 2})))
  T.raises("max_corr must be a number >= -1", attfind.subset_selection, tab, {class = 1, max_corr = "0.5"})
end)

T.test("the unstable-image filter", function()
  -- N = 3, S = 2, K = 2, every base probability 0.5. img1: every entry
  -- raises class 0 by 4 logits (probabilities move by 0.48 > 0.3 on all 8
  -- entries); img2: one column does (2 entries); img3: nothing.
  local e = {}
  for i = 1, 3 do
    e[i] = {}
    for d = 1, 2 do
      e[i][d] = {}
      for j = 1, 2 do e[i][d][j] = {(i == 1 or (i == 2 and d == 1 and j == 1)) and 4 or 0, 0} end
    end
  end
  local tab = {effect = sx.tensor(e), base_logits = sx.zeros{3, 2}, styles = sx.zeros{3, 2}}
  local out, removed = attfind.filter_unstable(tab, {max_share = 0.5})
  T.eq(removed, {1})
  local t = out.effect:totable()
  T.eq({t[1][1][1][1], t[1][2][2][1], t[2][1][1][1]}, {0, 0, 4})
  T.eq(tab.effect:totable()[1][1][1][1], 4)
  T.eq(out.base_logits, tab.base_logits)
  -- the official share (750 of 24,192 entries): img2's 2 of 8 entries are too many
  local _, removed2 = attfind.filter_unstable(tab)
  T.eq(removed2, {1, 2})
  -- a threshold above every change removes nothing, and keeps the table's effect
  local same, none = attfind.filter_unstable(tab, {threshold = 0.49})
  T.eq({#none, same.effect == tab.effect}, {0, true})
  T.raises("unknown option 'share'", attfind.filter_unstable, tab, {share = 1})
end)

T.test("independent selection on the hand-made table", function()
  local tab = hand_table()
  -- counts of E > 0.2 over img1..3, and sums:
  --   c1 2 (2.5)  c2 2 (1.625)  c3 1 (0.25)  c4 3 (0.75)  c5 3 (1.75)  c6 2 (1.5)
  -- ranked by count, then sum: c5, c4, c1, c2, c6, c3; 3% of 3 images is
  -- 0.09, so every column with a count of 1 or more stays.
  local a = attfind.independent_selection(tab, {space = "logit", class = 1})
  T.eq(brief(a), {{2, "to-max", 1}, {1, "to-max", 1}, {1, "to-min", r6(2 / 3)}, {2, "to-min", r6(2 / 3)},
                  {3, "to-max", r6(2 / 3)}, {3, "to-min", r6(1 / 3)}})
  T.eq({a[1].count, a[1].mean, a[1].class}, {3, 1.75 / 3, 1})
  -- min_share 0.5 needs 1.5 images: c3 (1) goes
  T.eq(#attfind.independent_selection(tab, {space = "logit", class = 1, min_share = 0.5}), 5)
  T.eq(brief(attfind.independent_selection(tab, {space = "logit", class = 1, k = 3})),
       {{2, "to-max", 1}, {1, "to-max", 1}, {1, "to-min", r6(2 / 3)}})
  -- threshold 0.5 (strictly above): c1 2, c2 2, c5 1 (0.75), c6 1 (1.0), c3 0, c4 0
  --   -> c1 (2.5), c2 (1.625), c5 (sum 1.75), c6 (sum 1.5); zero counts stop it
  T.eq(brief(attfind.independent_selection(tab, {space = "logit", class = 1, threshold = 0.5})),
       {{1, "to-min", r6(2 / 3)}, {2, "to-min", r6(2 / 3)}, {2, "to-max", r6(1 / 3)}, {3, "to-max", r6(1 / 3)}})
end)

T.test("policies in the probability space (the default)", function()
  local tab = hand_table()
  -- img1..3 have base logits (2, -1): p1 = sig(-3). A column adds e to the
  -- class-1 logit (and, in c4 only, 2 to the class-0 logit); its effect is
  -- max(0, sig(-3 + e - e0) - sig(-3)).
  local function sig(z) return 1 / (1 + math.exp(-z)) end
  local function d(e, e0) return math.max(0, sig(-3 + e - (e0 or 0)) - sig(-3)) end
  -- cap 0.2: step 1 all active -> c1 (sum d(1.5) + d(1) + d(-3)); acc ~ [.135, .072, 0]
  -- step 2 all active -> c5; step 3 all active -> c2; then img1 (acc .231) is
  -- saturated and c6 wins over img2, img3.
  local a = attfind.subset_selection(tab, {class = 1, k = 4})
  local got, want = {}, {{1, "to-min"}, {2, "to-max"}, {2, "to-min"}, {3, "to-max"}}
  for i, x in ipairs(a) do got[i] = {x.coord, x.direction} end
  T.eq(got, want)
  local scores = {(d(1.5) + d(1.0) + d(-3)) / 3, (d(0.75) + d(0.5) + d(0.5)) / 3, (d(0.75) + d(0.125) + d(0.75)) / 3,
                  (d(0.5) + d(1.0)) / 2}
  for i = 1, 4 do T.near(a[i].score, scores[i], 1e-6) end
  T.eq(a[4].images, 2)
  -- c4 (coord 1 to-max) raises the class-1 logit of every image by 0.25, but
  -- the class-0 logit by 2: it counts in logit space, not in probability space
  local function has_c4(attrs)
    for _, x in ipairs(attrs) do if x.coord == 1 and x.direction == "to-max" then return true end end
    return false
  end
  T.ok(has_c4(attfind.independent_selection(tab, {class = 1, space = "logit", threshold = 0.2})))
  T.ok(not has_c4(attfind.independent_selection(tab, {class = 1, threshold = 1e-4})))
  T.raises("space must be 'prob' or 'logit'", attfind.subset_selection, tab, {class = 1, space = "odds"})
end)

T.test("per_class and a custom policy", function()
  local tab = hand_table()
  local all = attfind.per_class(tab, attfind.subset_selection, {space = "logit"})
  T.eq(#all, 2)
  T.eq(brief(all[1]), {{1, "to-max", 2}})
  T.eq(brief(all[2]), brief(attfind.subset_selection(tab, {space = "logit", class = 1})))
  T.eq({all[1][1].class, all[2][1].class, all[2][2].class}, {0, 1, 1})
  T.eq(brief(attfind.per_class(tab, "subset", {k = 1, space = "logit"})[2]), {{1, "to-min", r6(2.5 / 3)}})
  T.eq(#attfind.per_class(tab, "independent", {k = 2, space = "logit"})[2], 2)

  -- a policy is any function(tab, opts) -> list: here, the single largest
  -- raw effect on the class among the images not of it
  local seen = {}
  local function largest(t, opts)
    seen[#seen + 1] = {opts.class, opts.extra, #opts.labels}
    local e = t.effect:totable()
    local best = {score = -math.huge}
    for i = 1, #e do
      if opts.labels[i] ~= opts.class then
        for d = 1, 2 do
          for j = 1, 3 do
            local v = e[i][d][j][opts.class + 1]
            if v > best.score then
              best = {coord = j, direction = d == 1 and "to-min" or "to-max", score = v}
            end
          end
        end
      end
    end
    return {best}
  end
  local mine = attfind.per_class(tab, largest, {extra = "x"})
  T.eq(seen, {{0, "x", 4}, {1, "x", 4}})
  T.eq(brief(mine[1]), {{1, "to-max", 2}})           -- class 0: img4's 2.0 in c4
  T.eq(brief(mine[2]), {{1, "to-min", 1.5}})         -- class 1: img1's 1.5 in c1 (img4's 8 excluded)
  T.eq({mine[1][1].class, mine[2][1].class}, {0, 1})
  T.raises("policy must be a function", attfind.per_class, tab, "greedy")
  T.raises("the policy returned number", attfind.per_class, tab, function() return 1 end)
end)

T.test("pick_key and same_picks", function()
  local a = {{coord = 12, direction = "to-max"}, {coord = 40, direction = "to-min"}, {coord = 3, direction = "to-min"}}
  T.eq(attfind.pick_key(a, 2), "12:to-max 40:to-min")
  T.eq(attfind.pick_key(a, 10), "12:to-max 40:to-min 3:to-min")
  T.eq(attfind.pick_key({}, 3), "")
  local b = {a[1], a[2], {coord = 3, direction = "to-max"}}
  T.ok(attfind.same_picks({a, b}, {a, b}, 3))
  T.ok(attfind.same_picks({a}, {b}, 2), "the first two agree")
  T.ok(not attfind.same_picks({a}, {b}, 3), "the third differs in direction")
  T.ok(not attfind.same_picks({a, a}, {a, b}, 3), "the second class differs")
  T.ok(not attfind.same_picks({a}, {{a[1]}}, 2), "one pick is not two")
  local tab = hand_table()
  local all = attfind.per_class(tab, "subset", {space = "logit"})
  T.ok(attfind.same_picks(all, attfind.per_class(tab, "subset", {space = "logit"}), 8))
  T.ok(not attfind.same_picks(all, attfind.per_class(tab, "subset", {space = "logit", k = 1}), 8))
end)

T.test("policy argument errors", function()
  local tab = hand_table()
  T.raises("opts.class must be a 0-based class id", attfind.subset_selection, tab, {})
  T.raises("class 2 outside 0..1", attfind.subset_selection, tab, {class = 2})
  T.raises("unknown option 'max_effect'", attfind.subset_selection, tab, {class = 0, max_effect = 1})
  T.raises("expected 4 class ids, got 3", attfind.subset_selection, tab, {class = 0, labels = {0, 1, 0}})
  T.raises("expected an effect table", attfind.independent_selection, {}, {class = 0})
  T.raises("tab.effect must be [N, 2, S, K]", attfind.subset_selection, {effect = sx.zeros{4, 3, 3, 2}}, {class = 0})
  T.raises("k must be a number >= 0", attfind.subset_selection, tab, {class = 0, k = "8"})
  T.raises("max_image_effect must be a number >= 0", attfind.subset_selection, tab, {class = 0, max_image_effect = -1})
  T.raises("threshold must be a number", attfind.independent_selection, tab, {class = 0, threshold = 0 / 0})
  T.raises("coordinate 4 is outside the layout", attfind.locate, tab, 4)
  T.eq({attfind.locate(tab, 3)}, {2, 1, "b8.conv0"})
end)

-- ---------------------------------------------------------------- the C table from Lua

local function tiny()
  return fixtures.attfind_models{seed = 7, channels = {4, 3}, classes = 3, c_channels = 4, images = 3}
end

local max_abs_diff = T.max_abs_diff

T.test("effects: the table, progress, noise", function()
  local G, C, lat = tiny()
  local calls, last = 0, 0
  local tab = sx.attfind.effects(G, C, lat, {batch = 8, progress = function(done, total)
    calls = calls + 1
    T.ok(done > last and total == 3 * (1 + 2 * 11))
    last = done
  end})
  T.eq(tab.effect:shape(), {3, 2, 11, 3})
  T.eq(tab.base_logits:shape(), {3, 3})
  T.eq(tab.styles:shape(), {3, 11})
  T.eq({tab.style_min:shape(), tab.style_max:shape()}, {{11}, {11}})
  T.ok(tab.latents == lat)
  T.eq(#tab.noise, 3)
  T.eq(tab.noise[3]:shape(), {1, 1, 8, 8})
  T.eq(tab.layers, {{name = "b4.conv1", channels = 4, offset = 1}, {name = "b8.conv0", channels = 4, offset = 5},
                    {name = "b8.conv1", channels = 3, offset = 9}})
  T.eq({calls, last}, {3 * 4, 69})
  -- base logits are the classifier on the regenerated images
  local base = C:logits(G:synthesis(lat, tab.noise))
  T.ok(max_abs_diff(base, tab.base_logits) < 1e-5)
  -- the same noise again gives the same table
  local again = sx.attfind.effects(G, C, lat, {noise = tab.noise})
  T.ok(max_abs_diff(again.effect, tab.effect) < 1e-5)
  T.ok(again.noise == tab.noise)
  -- given extremes
  local wide = sx.attfind.effects(G, C, lat, {noise = tab.noise, style_min = tab.style_min - 1,
                                                style_max = tab.style_max + 1})
  T.ok(max_abs_diff(wide.style_max, tab.style_max + 1) == 0)
  T.ok(max_abs_diff(wide.effect, tab.effect) > 1e-3)
  -- the policies run on it and name real layers
  local attrs = attfind.subset_selection(tab, {class = 0, k = 3, max_image_effect = 100})
  T.ok(#attrs >= 1 and attrs[1].layer >= 1 and attrs[1].layer <= 3)
  local l, ch = G:locate(attrs[1].coord)
  T.eq({attrs[1].layer, attrs[1].channel}, {l, ch})
end)

T.test("the discriminator filter", function()
  sx.manual_seed(7)
  local cfg = {resolution = 8, n_classes = 2, z_dim = 6, w_dim = 5, mapping_layers = 2, channels = {4, 3}}
  local G, D = sx.models.Generator(cfg), sx.models.Discriminator(cfg)
  local C = sx.models.Classifier{n_classes = 2, resolution = 8, channels = {4}, convs_per_block = 1, hidden = 8,
                                 dropout = 0}
  local tab = sx.attfind.effects(G, C, sx.randn{6, 7})
  local labels = attfind.labels(tab)
  local a = attfind.subset_selection(tab, {class = 0, k = 1, max_image_effect = 100})[1]
  T.ok(a ~= nil)
  -- by hand, with images = 1: the first image not of class 0 whose class-0
  -- probability the attribute raises, moved at strength 2
  local d = a.direction == "to-min" and 1 or 2
  local first
  for i = 1, 6 do
    if labels[i] ~= 0 and not first then
      local base = tab.base_logits:narrow(1, i, 1)
      local moved = base + tab.effect:narrow(1, i, 1):narrow(2, d, 1):narrow(3, a.coord, 1):reshape{1, 2}
      if sx.softmax(moved, 2):totable()[1][1] > sx.softmax(base, 2):totable()[1][1] then first = i end
    end
  end
  T.ok(first ~= nil)
  local x0 = attfind.apply_attributes(G, tab, {}, {images = {first}, strength = 0})
  local x1 = attfind.apply_attributes(G, tab, {a}, {images = {first}, strength = 2})
  local function disc(x) return D:discriminate(x, sx.softmax(C:logits(x), 2)):item() end
  local want = math.abs(disc(x1) - disc(x0))
  local ok, worst = attfind.discriminator_check(G, D, C, tab, a, {images = 1, effect_threshold = 0, threshold = 1e9})
  T.ok(ok and math.abs(worst - want) < 1e-5)
  local ok2, worst2 = attfind.discriminator_check(G, D, C, tab, a, {images = 1, effect_threshold = 0,
    threshold = want / 2})
  T.eq({ok2, math.abs(worst2 - want) < 1e-5}, {false, true})
  -- no image changes by more than 1 in probability: nothing to check
  T.eq({attfind.discriminator_check(G, D, C, tab, a, {effect_threshold = 1})}, {true, 0})
  -- in the subset selection an `accept` that refuses everything leaves nothing
  T.eq(attfind.subset_selection(tab, {class = 0, k = 2, accept = function() return false end}), {})
  local seen = 0
  local kept = attfind.subset_selection(tab, {class = 0, k = 2, max_image_effect = 100, accept = function()
    seen = seen + 1
    return seen ~= 1
  end})
  T.eq({#kept, kept[1].passed_over, kept[2].passed_over}, {2, 1, 1})
  T.ok(kept[1].coord ~= a.coord or kept[1].direction ~= a.direction)
  T.raises("opts.accept must be a function", attfind.subset_selection, tab, {class = 0, accept = true})
end)

T.test("effects: progress errors and stopping", function()
  local G, C, lat = tiny()
  local n = 0
  local err = T.raises("my progress failed", sx.attfind.effects, G, C, lat, {progress = function()
    n = n + 1
    if n == 2 then error("my progress failed") end
  end})
  T.eq(n, 2)
  local obj = {}
  local ok, e = pcall(sx.attfind.effects, G, C, lat, {progress = function() error(obj) end})
  T.ok(not ok and e == obj, "the error value is re-raised as it is")
  T.raises("stopped by the progress callback", sx.attfind.effects, G, C, lat, {progress = function(done)
    return done < 10
  end})
  T.eq(sx.is_grad_enabled(), true, "grad mode restored after the errors")
  T.ok(err ~= nil)
end)

T.test("effects and apply: bad arguments", function()
  local G, C, lat = tiny()
  local D = sx.models.Discriminator{resolution = 8, n_classes = 2, channels = {4, 3}}
  T.raises("unknown option 'batches'", sx.attfind.effects, G, C, lat, {batches = 2})
  T.raises("option 'batch' must be an integer in 1..65536", sx.attfind.effects, G, C, lat, {batch = 0})
  T.raises("progress must be a function", sx.attfind.effects, G, C, lat, {progress = 1})
  T.raises("noise must be a list of 3 tensors", sx.attfind.effects, G, C, lat, {noise = {}})
  T.raises("option 'style_min' must be a live tensor", sx.attfind.effects, G, C, lat, {style_min = 1})
  T.raises("generator expected", sx.attfind.effects, D, C, lat)
  T.raises("latents [3, 6], expected [N, 7]", sx.attfind.effects, G, C, sx.zeros{3, 6})
  T.raises("classifier expected", sx.attfind.effects, G, G, lat)
  T.raises("tensor expected", sx.attfind.effects, G, C, nil)
  T.raises("coordinate 1 must be an integer in 1..11", sx.attfind.apply, G, lat, {12}, {1})
  T.raises("coordinate 2 must be an integer in 1..11", sx.attfind.apply, G, lat, {1, 0}, {1, 2})
  T.raises("values [1, 1], expected [3 or 1, 2]", sx.attfind.apply, G, lat, {1, 2}, {1})
  T.raises("no values expected", sx.attfind.apply, G, lat, {}, {1})
  T.raises("unknown option 'mode'", sx.attfind.apply, G, lat, {1}, 0, {mode = "add"})
  T.raises("option 'add' must be a boolean", sx.attfind.apply, G, lat, {1}, 0, {add = 1})
end)

T.test("apply and apply_attributes agree with the table", function()
  local G, C, lat = tiny()
  local tab = sx.attfind.effects(G, C, lat)
  local N, S = 3, 11
  local mx, mn = tab.style_max:totable(), tab.style_min:totable()
  local eff = tab.effect:totable()
  local base = tab.base_logits:totable()
  for _, j in ipairs{1, 6, 11} do
    -- one value for all images: s_j := max_j
    local img = sx.attfind.apply(G, lat, j, mx[j], {noise = tab.noise})
    local lg = C:logits(img):totable()
    for i = 1, N do
      for k = 1, 3 do T.near(lg[i][k] - base[i][k], eff[i][2][j][k], 1e-4) end
    end
    -- the attribute helper, strength 1 = the table's shift; only image 2
    local a = {{coord = j, direction = "to-min"}}
    local lg2 = C:logits(attfind.apply_attributes(G, tab, a, {images = {2}})):totable()
    for k = 1, 3 do T.near(lg2[1][k] - base[2][k], eff[2][1][j][k], 1e-4) end
  end
  -- strength 0 and no attributes: the plain regeneration
  local plain = G:synthesis(lat, tab.noise)
  local none = attfind.apply_attributes(G, tab, {{coord = 3, direction = "to-max"}}, {strength = 0})
  T.ok(max_abs_diff(none, plain) < 1e-6)
  T.ok(max_abs_diff(attfind.apply_attributes(G, tab, {}), plain) < 1e-6)
  T.ok(max_abs_diff(sx.attfind.apply(G, lat, {}, nil, {noise = tab.noise}), plain) == 0)
  -- a strip: one latent, 4 values of coordinate 2 ([4, 1] values)
  local one = lat:narrow(1, 2, 1)
  local strip = sx.attfind.apply(G, one, {2}, sx.tensor{{-1}, {0}, {1}, {2}}, {noise = tab.noise})
  T.eq(strip:shape(), {4, 1, 8, 8})
  local third = sx.attfind.apply(G, one, {2}, {1}, {noise = tab.noise})
  T.ok(max_abs_diff(strip:narrow(1, 3, 1), third) < 1e-6)
  -- add mode: moving by (max - s) is setting to max
  local s = tab.styles:totable()
  local delta = sx.tensor{{mx[4] - s[1][4]}, {mx[4] - s[2][4]}, {mx[4] - s[3][4]}}
  local set = sx.attfind.apply(G, lat, {4}, mx[4], {noise = tab.noise})
  T.ok(max_abs_diff(sx.attfind.apply(G, lat, {4}, delta, {noise = tab.noise, add = true}), set) < 1e-5)
  -- two attributes together, halfway
  local two = {{coord = 1, direction = "to-max"}, {coord = 9, direction = "to-min"}}
  local half = attfind.apply_attributes(G, tab, two, {strength = 0.5, images = {1, 3}})
  local vals = sx.tensor{{(s[1][1] + mx[1]) / 2, (s[1][9] + mn[9]) / 2}, {(s[3][1] + mx[1]) / 2, (s[3][9] + mn[9]) / 2}}
  local want = sx.attfind.apply(G, lat:index_select(1, {1, 3}), {1, 9}, vals, {noise = tab.noise})
  T.ok(max_abs_diff(half, want) < 1e-5)
  T.raises("direction sideways", attfind.apply_attributes, G, tab, {{coord = 1, direction = "sideways"}})
end)

T.test("save and load", function()
  local G, C, lat = tiny()
  local tab = sx.attfind.effects(G, C, lat, {noise = G:noise(3)})
  local path = os.tmpname()
  T.eq(attfind.save(path, tab, {model = "models/tiny.safetensors", step = 12}), true)
  local back = attfind.load(path)
  for _, k in ipairs{"effect", "base_logits", "style_min", "style_max", "styles", "latents"} do
    T.ok(max_abs_diff(back[k], tab[k]) == 0, k)
  end
  T.eq(#back.noise, 3)
  for l = 1, 3 do T.ok(max_abs_diff(back.noise[l], tab.noise[l]) == 0) end
  T.eq(back.layers, tab.layers)
  T.eq({back.meta.model, back.meta.step, back.meta.n_images, back.meta.n_coords, back.meta.n_classes},
       {"models/tiny.safetensors", "12", "3", "11", "3"})
  -- the policies give the same answers on the loaded table
  T.eq(attfind.per_class(back, "subset", {max_image_effect = 100}),
       attfind.per_class(tab, "subset", {max_image_effect = 100}))
  -- saving a loaded table keeps its metadata
  T.eq(attfind.save(path, back), true)
  T.eq(attfind.load(path).meta.model, "models/tiny.safetensors")
  -- the hand-made table (no latents, no noise) round-trips too
  local hand = hand_table()
  T.eq(attfind.save(path, hand), true)
  local hb = attfind.load(path)
  T.eq(hb.effect:totable(), hand.effect:totable())
  T.ok(hb.latents == nil and hb.noise == nil)
  T.eq(brief(attfind.subset_selection(hb, {class = 1})), brief(attfind.subset_selection(hand, {class = 1})))
  -- errors: a missing file is nil, msg; another safetensors file is refused
  local t, msg = attfind.load(path .. ".missing")
  T.ok(t == nil and type(msg) == "string")
  sx.save(path, {x = sx.zeros{2}})
  T.raises("is not an AttFind table", attfind.load, path)
  os.remove(path)
end)

T.done()
