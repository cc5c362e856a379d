-- Where Grad-CAM's heat sits, against where the classifier really looks
-- (issue 11: "Grad-CAM's hottest spot sits in the empty background corner").
-- One JSON line on stdout, progress on stderr:
--   build/stylex scripts/gradcam_check.lua --model models/fmnist-shoes [--n N]
-- On the first N test images (classifier.test_set, the images the report's
-- strips start from), for two classes per image, each a part of the line:
-- "predicted" (the class C predicts) and "other" (the runner-up; for two
-- classes the class not predicted: what the report's strips show on the
-- originals, which are images of the other class). In each:
-- "blocks": per classifier block measured (the last, and the one before it),
--   for Grad-CAM (stylex.gradcam) and its variants:
--     gradcam    relu(sum_k alpha_k A_k), alpha_k the spatial mean of the
--                gradient (the textbook map; equal to gradcam.maps before
--                its resize: "raw_vs_module" is the max abs difference);
--     grad_x_act relu(sum_k dlogit/dA_k(p) A_k(p)): no averaging of the
--                gradient (the first-order contribution of each position);
--     negative   relu(-sum_k alpha_k A_k): what the ReLU throws away;
--     vs_blank   relu(sum_k alpha_k (A_k - B_k)), B the features of a blank
--                image (every pixel at the background level): Grad-CAM of
--                what the image changes, without the image-independent
--                response to the frame and the zero padding.
--   Each has "argmax" (an h x w histogram of the map's maximum on the
--   block's own grid; maps that are 0 everywhere are not counted, "zero"
--   says how many), "corner" / "border" / "interior" (shares of the counted
--   maxima in the 4 corner cells, the other outer cells, the rest),
--   "on_object" (share of maxima in a cell holding object pixels),
--   "heat_on_object" (mean share of the map's heat, resized to R x R, on
--   object pixels), "corr_occlusion" (mean per-image Pearson correlation
--   with the occlusion map on the grid).
--   "negative_mass": the share of the signed map sum_k alpha_k A_k that is
--   negative (what the ReLU drops); "peak_vs_signed": per image the kept
--   peak over the signed map's largest magnitude (mean, median, share below
--   1/2): how much the normalisation to a peak of 1 scales a map up;
--   "corner_diff_from_blank": sum |A - B| / sum |A| over the 4 corner cells;
--   "cell_ablation" (last block): each cell's features replaced by the blank
--   image's, the drop of the class's logit through the classifier's head:
--   its argmax histogram etc., its correlation with Grad-CAM and the mean
--   drop at Grad-CAM's maximum against the drop at its own.
-- Per class also "blank" (the blank image's own Grad-CAM, last block: its
--   argmax cell, whether it is a corner) and "shifted" (the content moved by
--   2 pixels, the frame filled with the background: where the last block's
--   maxima go; a spot that stays on the same edge is attached to the frame,
--   not to the object).
-- "occlusion_*": a patch of --patch pixels filled with the image's background
--   level slid with --stride; the drop of the class's logit ("occlusion_logit")
--   and probability ("occlusion_prob"); pixel maps average the drops of the patches covering a
--   pixel, grid maps are those averaged over each cell. "argmax" etc. as
--   above, on the last block's grid ("occlusion" at the top level: the patch).
-- "object_area": the mean share of object pixels (pixels brighter than the
--   background level by --margin). The background level is per image: the
--   median of the outermost ring of pixels (the fill of the occlusion patch);
--   object pixels exceed the ring's 90th percentile by --margin.
-- --dump FILE writes the images, both classes and, for each class and block,
-- stylex's maps (gradcam.maps) and the raw maps before the resize, for
-- tests/reference/gradcam_torch.py.
local stylex = require "stylex.all"
local sx = require "stylex"
local cjson = require "cjson"

local usage = [[
usage: stylex scripts/gradcam_check.lua --model DIR [options]
  --model DIR    a folder with classifier.safetensors (models/fmnist-shoes, models/shapes, ...)
  --n N          first N images of the classifier's test split (default 250)
  --patch P      occlusion patch side in pixels (default 4)
  --stride S     occlusion stride in pixels (default 4; 2 is finer and 4x slower)
  --margin M     object pixels: brighter than the background level by M (default 0.15, images in [-1, 1])
  --batch B      images per forward (default 125)
  --dump FILE    also write images and maps for tests/reference/gradcam_torch.py]]
local opts = stylex.cli.parse(arg, {model = "", n = 250, patch = 4, stride = 4, margin = 0.15, batch = 125,
  dump = ""}, usage,
  {required = {"model"}, positive_integers = {"n", "patch", "stride", "batch"},
   options = {model = "dir", margin = "[0,1]", dump = "outfile"}})
stylex.cli.check({classifier = opts.model .. "/classifier.safetensors"}, "classifier", "file", "--model")
local cpath = opts.model .. "/classifier.safetensors"
local C, meta = stylex.classifier.load(cpath)
for _, p in ipairs(C:parameters()) do p:requires_grad(false) end
local cfg = C:config()
local R, NB = cfg.resolution, #cfg.channels
for _, k in ipairs{"patch", "stride"} do
  if opts[k] > R then stylex.cli.usage_error(string.format("--%s %d is larger than the %dx%d images", k, opts[k], R, R)) end
end
local ds = stylex.classifier.test_set(meta)
local N = math.min(opts.n, ds:size())
local idx = {}
for i = 1, N do idx[i] = i end
local x = ds:batch(idx)
local X = x:totable()
local t_start = stylex.cli.now()

-- ---------------------------------------------------------------- helpers

local function median(v)
  table.sort(v)
  local m = #v
  return m % 2 == 1 and v[(m + 1) // 2] or (v[m // 2] + v[m // 2 + 1]) / 2
end

-- Per image: background level (median of the outer ring), the object mask
-- (R x R booleans, channel mean) and its area share.
local bg, object, area_sum = {}, {}, 0
for i = 1, N do
  local img = X[i]
  local function px(r, c)
    local s = 0
    for ch = 1, #img do s = s + img[ch][r][c] end
    return s / #img
  end
  local ring = {}
  for k = 1, R do
    ring[#ring + 1] = px(1, k)
    ring[#ring + 1] = px(R, k)
    if k > 1 and k < R then
      ring[#ring + 1] = px(k, 1)
      ring[#ring + 1] = px(k, R)
    end
  end
  bg[i] = median(ring)
  local hi = ring[math.max(1, math.floor(0.9 * #ring))] -- ring is sorted by median()
  local m, cnt = {}, 0
  for r = 1, R do
    m[r] = {}
    for c = 1, R do
      m[r][c] = px(r, c) > hi + opts.margin
      if m[r][c] then cnt = cnt + 1 end
    end
  end
  object[i] = m
  area_sum = area_sum + cnt / (R * R)
end

-- The two classes measured per image: the predicted one and the runner-up
-- ("other": for two classes the class not predicted, which is what the
-- report's strips show for the originals of the other class).
local pred, other, L0, P0 = {}, {}, nil, nil
sx.no_grad(function()
  local lg = C:logits(x)
  L0, P0 = lg:totable(), sx.softmax(lg, 2):totable()
end)
for i = 1, N do
  local b1, b2 = nil, nil
  for c = 1, cfg.n_classes do
    if not b1 or L0[i][c] > L0[i][b1] then b1, b2 = c, b1 elseif not b2 or L0[i][c] > L0[i][b2] then b2 = c end
  end
  pred[i], other[i] = b1 - 1, b2 - 1
end
local TARGETS = {"predicted", "other"}
local class_of = {predicted = pred, other = other}

-- A new histogram / summary accumulator over an h x w grid.
local function new_stats(h, w)
  local hist = {}
  for r = 1, h do
    hist[r] = {}
    for c = 1, w do hist[r][c] = 0 end
  end
  return {h = h, w = w, hist = hist, counted = 0, zero = 0, corner = 0, border = 0, on_object = 0,
    heat_sum = 0, heat_n = 0, corr_sum = 0, corr_n = 0}
end

-- Does cell (r, c) of an h x w grid hold object pixels of image i?
local function cell_has_object(i, h, w, r, c)
  local sh, sw = R // h, R // w
  for y = (r - 1) * sh + 1, r * sh do
    for xx = (c - 1) * sw + 1, c * sw do
      if object[i][y][xx] then return true end
    end
  end
  return false
end

local function flat(m)
  local v = {}
  for r = 1, #m do for c = 1, #m[r] do v[#v + 1] = m[r][c] end end
  return v
end

-- Adds image i's grid map g (h x w table) and, optionally, its R x R map
-- (heat on object) and the grid map it is compared with (correlation).
local function add(st, i, g, big, other)
  local best, br, bc = -math.huge, 1, 1
  for r = 1, st.h do
    for c = 1, st.w do
      if g[r][c] > best then best, br, bc = g[r][c], r, c end
    end
  end
  if best <= 0 then
    st.zero = st.zero + 1
  else
    st.counted = st.counted + 1
    st.hist[br][bc] = st.hist[br][bc] + 1
    local edge_r, edge_c = br == 1 or br == st.h, bc == 1 or bc == st.w
    if edge_r and edge_c then st.corner = st.corner + 1 elseif edge_r or edge_c then st.border = st.border + 1 end
    if cell_has_object(i, st.h, st.w, br, bc) then st.on_object = st.on_object + 1 end
  end
  if big then
    local tot, inside = 0, 0
    for r = 1, R do
      for c = 1, R do
        local v = math.max(big[r][c], 0)
        tot = tot + v
        if object[i][r][c] then inside = inside + v end
      end
    end
    if tot > 0 then st.heat_sum, st.heat_n = st.heat_sum + inside / tot, st.heat_n + 1 end
  end
  if other then
    local rho = stylex.util.correlation(flat(g), flat(other))
    if rho then st.corr_sum, st.corr_n = st.corr_sum + rho, st.corr_n + 1 end
  end
end

local function round(v, d) return math.floor(v * 10 ^ d + 0.5) / 10 ^ d end

local function summary(st)
  local n = math.max(st.counted, 1)
  return {argmax = st.hist, counted = st.counted, zero = st.zero, corner = round(st.corner / n, 4),
    border = round(st.border / n, 4), interior = round((st.counted - st.corner - st.border) / n, 4),
    on_object = round(st.on_object / n, 4),
    heat_on_object = st.heat_n > 0 and round(st.heat_sum / st.heat_n, 4) or cjson.null,
    corr_occlusion = st.corr_n > 0 and round(st.corr_sum / st.corr_n, 4) or cjson.null}
end

-- [n, 1, h, w] tensor -> list of n h x w tables
local function grids(t)
  local out = {}
  for i, v in ipairs(t:totable()) do out[i] = v[1] end
  return out
end

local function resized(t) return t:shape()[3] == R and t or sx.image.resize(t, {R, R}) end

-- ---------------------------------------------------------------- occlusion

local P, S = math.tointeger(opts.patch), math.tointeger(opts.stride)
local positions = {}
for r0 = 0, R - P, S do
  for c0 = 0, R - P, S do positions[#positions + 1] = {r0, c0} end
end
-- occ[target][kind][i]: R x R maps of the drop (kind "logit" or "prob")
local occ, cover = {}, {}
for _, t in ipairs(TARGETS) do
  occ[t] = {logit = {}, prob = {}}
  for _, kind in ipairs{"logit", "prob"} do
    for i = 1, N do
      local m = {}
      for r = 1, R do
        m[r] = {}
        for c = 1, R do m[r][c] = 0 end
      end
      occ[t][kind][i] = m
    end
  end
end
for r = 1, R do
  cover[r] = {}
  for c = 1, R do cover[r][c] = 0 end
end
local bgt = sx.tensor(bg):reshape{N, 1, 1, 1}
local progress = stylex.cli.progress(#positions, "occlusion")
sx.no_grad(function()
  for k, pos in ipairs(positions) do
    local r0, c0 = pos[1], pos[2]
    local mask = {}
    for r = 1, R do
      mask[r] = {}
      for c = 1, R do
        local inside = r > r0 and r <= r0 + P and c > c0 and c <= c0 + P
        mask[r][c] = inside and 1 or 0
        if inside then cover[r][c] = cover[r][c] + 1 end
      end
    end
    local M = sx.tensor{{mask}}
    for first = 1, N, opts.batch do
      local m = math.min(opts.batch, N - first + 1)
      local xo = x:narrow(1, first, m) * (1 - M) + bgt:narrow(1, first, m) * M
      local lg = C:logits(xo)
      local L, Pr = lg:totable(), sx.softmax(lg, 2):totable()
      for j = 1, m do
        local i = first + j - 1
        for _, t in ipairs(TARGETS) do
          local c = class_of[t][i] + 1
          local dl, dp = L0[i][c] - L[j][c], P0[i][c] - Pr[j][c]
          local ml, mp = occ[t].logit[i], occ[t].prob[i]
          for r = r0 + 1, r0 + P do
            for cc = c0 + 1, c0 + P do
              ml[r][cc], mp[r][cc] = ml[r][cc] + dl, mp[r][cc] + dp
            end
          end
        end
      end
    end
    progress(k)
  end
end)
for _, t in ipairs(TARGETS) do
  for _, kind in ipairs{"logit", "prob"} do
    for i = 1, N do
      local m = occ[t][kind][i]
      for r = 1, R do
        for c = 1, R do m[r][c] = m[r][c] / math.max(cover[r][c], 1) end
      end
    end
  end
end
-- the occlusion maps averaged over each cell of an h x w grid
local function occ_grid(maps, h, w)
  local t = sx.tensor(maps):reshape{N, 1, R, R}
  return grids(sx.image.resize(t, {h, w}))
end

-- ---------------------------------------------------------------- Grad-CAM and variants

local function onehot_of(classes)
  local t = {}
  for i = 1, #classes do
    t[i] = {}
    for c = 1, cfg.n_classes do t[i][c] = (c - 1 == classes[i]) and 1 or 0 end
  end
  return sx.tensor(t)
end

-- Features of every block and the gradients of the given logits, with grad mode on.
local function features_and_grads(xin, oh)
  local prev = sx.set_grad_enabled(true)
  local ok, feats, grads = pcall(function()
    local xi = xin:detach():requires_grad(true)
    local logits, _, f = C:classify(xi, {features = true})
    local g = sx.grad(logits, f, {grad_outputs = oh})
    local fd = {}
    for b = 1, #f do fd[b] = f[b]:detach() end
    return fd, g
  end)
  sx.set_grad_enabled(prev)
  if not ok then error(feats, 0) end
  return feats, grads
end

local blank = sx.zeros_like(x) + bgt       -- per image: every pixel at its background level
local bfeats = sx.no_grad(function() local _, _, f = C:classify(blank, {features = true}); return f end)

local function as_tensor(list)
  local t = {}
  for i = 1, #list do t[i] = list[i] end
  return sx.tensor(t)
end

-- x with its content moved down by dy and right by dx pixels (negative: up,
-- left), the uncovered frame at each image's background level.
local function shift(t, dy, dx)
  local s = t:shape()
  local function along(u, dim, d)
    if d == 0 then return u end
    local us = u:shape()
    local fs = {us[1], us[2], us[3], us[4]}
    fs[dim] = math.abs(d)
    local fill = sx.zeros(fs) + bgt
    local keep = u:narrow(dim, d > 0 and 1 or 1 - d, us[dim] - math.abs(d))
    return d > 0 and sx.cat({fill, keep}, dim) or sx.cat({keep, fill}, dim)
  end
  return along(along(t, 3, dy), 4, dx):contiguous()
end

-- The share of an h x w grid's cells that hold object pixels, mean over images.
local function object_cells(h, w)
  local s = 0
  for i = 1, N do
    for r = 1, h do for c = 1, w do if cell_has_object(i, h, w, r, c) then s = s + 1 end end end
  end
  return round(s / (N * h * w), 4)
end

local cell_ablation
-- The classifier's head from the last block's features A [N, K, h, w] (its
-- ReLU map before the pool): 2x2 max-pool, flatten, fc, ReLU, out; from the
-- parameters.
local params = C:named_parameters()
local function head(A)
  local s = A:shape()
  local h = A:contiguous():reshape{s[1], s[2], s[3] // 2, 2, s[4] // 2, 2}:max(6):max(4)
  h = sx.linear(h:reshape{s[1], -1}, params["fc.weight"], params["fc.bias"]):relu()
  return sx.linear(h, params["out.weight"], params["out.bias"])
end

-- Feature ablation at the last block: each cell's features in turn replaced
-- by the blank image's there (B), the drop of the class's logit. Where the
-- classifier's decision depends on its own features, without the linear
-- approximation and the averaged weights of Grad-CAM. Returns the summary
-- (argmax etc., "corr_occlusion" against the pixel occlusion) and
-- "corr_gradcam" (mean per-image correlation with Grad-CAM on the grid),
-- "drop_at_gradcam_max" / "drop_at_own_max" (mean logit drop when the
-- Grad-CAM argmax cell is ablated, and at the ablation map's own maximum),
-- "head_vs_logits" (the head written here against the classifier).
cell_ablation = function(A, B, classes, cam, og)
  local s = A:shape()
  local h, w = s[3], s[4]
  local drops = {}
  for i = 1, N do
    drops[i] = {}
    for r = 1, h do drops[i][r] = {} end
  end
  local res = {}
  sx.no_grad(function()
    local base = head(A)
    res.head_vs_logits = (base - sx.tensor(L0)):abs():max():item()
    local b0 = base:totable()
    for r = 1, h do
      for c = 1, w do
        local m = {}
        for rr = 1, h do
          m[rr] = {}
          for cc = 1, w do m[rr][cc] = (rr == r and cc == c) and 1 or 0 end
        end
        local M = sx.tensor{{m}}
        local lg = head(A * (1 - M) + B * M):totable()
        for i = 1, N do drops[i][r][c] = b0[i][classes[i] + 1] - lg[i][classes[i] + 1] end
      end
    end
  end)
  local st = new_stats(h, w)
  for i = 1, N do add(st, i, drops[i], nil, og[i]) end
  local out = summary(st)
  out.head_vs_logits = res.head_vs_logits
  local g = grids(cam)
  local csum, cn, at_gc, at_own, n = 0, 0, 0, 0, 0
  for i = 1, N do
    local rho = stylex.util.correlation(flat(g[i]), flat(drops[i]))
    if rho then csum, cn = csum + rho, cn + 1 end
    local bg_, gr, gc, bd, dr, dc = -math.huge, nil, nil, -math.huge, nil, nil
    for r = 1, h do
      for c = 1, w do
        if g[i][r][c] > bg_ then bg_, gr, gc = g[i][r][c], r, c end
        if drops[i][r][c] > bd then bd, dr, dc = drops[i][r][c], r, c end
      end
    end
    if bg_ > 0 then
      at_gc, at_own, n = at_gc + drops[i][gr][gc], at_own + bd, n + 1
    end
  end
  out.corr_gradcam = cn > 0 and round(csum / cn, 4) or cjson.null
  out.drop_at_gradcam_max = n > 0 and round(at_gc / n, 4) or cjson.null
  out.drop_at_own_max = n > 0 and round(at_own / n, 4) or cjson.null
  return out
end

local out = {model = opts.model, n = N, resolution = R, object_area = round(area_sum / N, 4),
  background_median = round(median({table.unpack(bg)}), 4),
  occlusion = {patch = P, stride = S, positions = #positions}}
local dump = {x = x, pred = as_tensor(pred), other = as_tensor(other)}

for _, target in ipairs(TARGETS) do
  local classes = class_of[target]
  local oh = onehot_of(classes)
  local feats, grads = features_and_grads(x, oh)
  local res = {blocks = {}}
  for _, layer in ipairs{NB, NB - 1} do
    if layer >= 1 then
      local A, G, B = feats[layer], grads[layer], bfeats[layer]
      local s = A:shape()
      local h, w = s[3], s[4]
      local alpha = G:mean({3, 4}):reshape{N, s[2], 1, 1}
      local lin = (A * alpha):sum(2, true)
      local cam = lin:relu()
      local variants = {
        gradcam = cam,
        grad_x_act = (A * G):sum(2, true):relu(),
        negative = (-lin):relu(),
        vs_blank = ((A - B) * alpha):sum(2, true):relu(),
      }
      -- the module's maps against the textbook map written here
      local module_maps = stylex.gradcam.maps(C, x, classes, {layer = layer})
      local mine = resized(cam)
      local peak = mine:reshape{N, R * R}:max(2, true)
      mine = mine / (peak + (1 - peak:gt_scalar(0))):reshape{N, 1, 1, 1}
      local og = occ_grid(occ[target].logit, h, w)
      local blk = {block = layer, grid = {h, w}, object_cells = object_cells(h, w),
        raw_vs_module = (mine - module_maps):abs():max():item()}
      for name, v in pairs(variants) do
        local st = new_stats(h, w)
        local g, big = grids(v), grids(resized(v))
        for i = 1, N do add(st, i, g[i], big[i], og[i]) end
        blk[name] = summary(st)
      end
      -- the share of the signed map's mass that is negative, and per image
      -- the kept peak against the signed map's largest magnitude (what the
      -- normalisation by the kept peak scales up: 1 when the strongest
      -- evidence is for the class)
      local L = lin:reshape{N, h * w}
      blk.negative_mass = round((-L):relu():sum():item() / L:abs():sum():item(), 4)
      local pk, mg = L:relu():max(2):totable(), L:abs():max(2):totable()
      local ratios, low = {}, 0
      for i = 1, N do
        ratios[i] = mg[i] > 0 and pk[i] / mg[i] or 0
        if ratios[i] < 0.5 then low = low + 1 end
      end
      local rsum = 0
      for i = 1, N do rsum = rsum + ratios[i] end
      blk.peak_vs_signed = {mean = round(rsum / N, 4), median = round(median(ratios), 4), below_half = round(low / N, 4)}
      -- how different the test images' corner features are from the blank
      -- image's: sum |A - B| / sum |A| over the 4 corner cells and all channels
      local At, Bt = A:totable(), B:totable()
      local num, den = 0, 0
      for i = 1, N do
        for _, rc in ipairs{{1, 1}, {1, w}, {h, 1}, {h, w}} do
          for k = 1, s[2] do
            local a, b = At[i][k][rc[1]][rc[2]], Bt[i][k][rc[1]][rc[2]]
            num, den = num + math.abs(a - b), den + math.abs(a)
          end
        end
      end
      blk.corner_diff_from_blank = den > 0 and round(num / den, 4) or cjson.null
      if layer == NB then blk.cell_ablation = cell_ablation(A, B, classes, cam, og) end
      res.blocks[#res.blocks + 1] = blk
      local tag = (target == "predicted" and "pred" or "other") .. "_" .. (layer == NB and "last" or "prev")
      dump["maps_" .. tag], dump["raw_" .. tag] = module_maps, cam
      io.stderr:write(string.format("%s class, block %d (%dx%d): Grad-CAM argmax corner %.3f border %.3f " ..
        "on object %.3f (object cells %.3f), heat on object %.3f, corr with occlusion %s\n", target, layer, h, w,
        blk.gradcam.corner, blk.gradcam.border, blk.gradcam.on_object, blk.object_cells, blk.gradcam.heat_on_object,
        tostring(blk.gradcam.corr_occlusion)))
    end
  end
  -- frame-attached or content-attached: the content shifted by 2 pixels (the
  -- classifier's training augmentation), the frame filled with the
  -- background level; where the last block's Grad-CAM maxima go
  res.shifted = {}
  for _, d in ipairs{{0, 0}, {2, 0}, {-2, 0}, {0, 2}, {0, -2}} do
    local xs = shift(x, d[1], d[2])
    local f, g = features_and_grads(xs, oh)
    local A, G = f[NB], g[NB]
    local s = A:shape()
    local m = grids((A * G:mean({3, 4}):reshape{N, s[2], 1, 1}):sum(2, true):relu())
    local h, w = s[3], s[4]
    local e = {dy = d[1], dx = d[2], counted = 0, border = 0, top = 0, bottom = 0, left = 0, right = 0}
    for i = 1, N do
      local best, br, bc = 0, nil, nil
      for r = 1, h do for c = 1, w do if m[i][r][c] > best then best, br, bc = m[i][r][c], r, c end end end
      if br then
        e.counted = e.counted + 1
        if br == 1 or br == h or bc == 1 or bc == w then e.border = e.border + 1 end
        if br == 1 then e.top = e.top + 1 end
        if br == h then e.bottom = e.bottom + 1 end
        if bc == 1 then e.left = e.left + 1 end
        if bc == w then e.right = e.right + 1 end
      end
    end
    for _, k in ipairs{"border", "top", "bottom", "left", "right"} do e[k] = round(e[k] / math.max(e.counted, 1), 4) end
    res.shifted[#res.shifted + 1] = e
  end
  -- the blank image's own Grad-CAM for this class (the first image's background level)
  local c1 = classes[1]
  local bf, bgr = features_and_grads(blank:narrow(1, 1, 1), onehot_of({c1}))
  local A, G = bf[NB], bgr[NB]
  local s = A:shape()
  local bcam = grids((A * G:mean({3, 4}):reshape{1, s[2], 1, 1}):sum(2, true):relu())[1]
  local best, br, bc = 0, nil, nil
  for r = 1, s[3] do for c = 1, s[4] do if bcam[r][c] > best then best, br, bc = bcam[r][c], r, c end end end
  res.blank = {class = c1, gradcam_argmax = br and {br, bc} or cjson.null,
    at_corner = br ~= nil and (br == 1 or br == s[3]) and (bc == 1 or bc == s[4])}
  -- occlusion on the last block's grid
  local hL = feats[NB]:shape()[3]
  for _, kind in ipairs{"logit", "prob"} do
    local st = new_stats(hL, hL)
    local g = occ_grid(occ[target][kind], hL, hL)
    for i = 1, N do add(st, i, g[i], occ[target][kind][i]) end
    res["occlusion_" .. kind] = summary(st)
  end
  io.stderr:write(string.format("%s class, occlusion (logit drop): argmax corner %.3f border %.3f on object %.3f\n",
    target, res.occlusion_logit.corner, res.occlusion_logit.border, res.occlusion_logit.on_object))
  out[target] = res
end
io.stderr:write(string.format("gradcam_check: %d images in %.0f s\n", N, stylex.cli.now() - t_start))

if opts.dump ~= "" then
  sx.save(opts.dump, dump, {classifier = cpath})
end
print(cjson.encode(out))
