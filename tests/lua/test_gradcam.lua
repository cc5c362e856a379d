-- tests/lua/test_gradcam.lua — Grad-CAM (lua/stylex/gradcam.lua):
--   * the channel weights against finite differences of the classifier's
--     logits, computed by a forward written out in this file from the
--     classifier's parameters (not through the module's graph);
--   * the maps against relu(sum_k alpha_k A_k) built from those weights;
--   * shapes, the [0, 1] range, all-zero maps, grad mode and the classifier's
--     .grad left alone, argument errors;
--   * a hand-built classifier whose evidence for each class is a known kind
--     of blob: each class's map lies on that class's blob, wherever it is.
local T = dofile("tests/lua/harness.lua")
local sx = require "stylex"
local gradcam = require "stylex.gradcam"

-- ---------------------------------------------------------------- helpers

-- 2x2 max-pool of [N, C, H, W] (H, W even) written with reshape and max.
local function pool(a)
  local s = a:shape()
  return a:contiguous():reshape{s[1], s[2], s[3] // 2, 2, s[4] // 2, 2}:max(6):max(4)
end

-- The classifier's forward from the output of block `from` (1-based; its
-- last ReLU map, before pooling) to the logits, from its parameters.
local function forward_from(C, from, a)
  local cfg, p = C:config(), C:named_parameters()
  local h = pool(a)
  for b = from + 1, #cfg.channels do
    for k = 1, cfg.convs_per_block do
      local name = string.format("block%d.conv%d.", b - 1, k - 1)
      h = sx.conv2d(h, p[name .. "weight"], p[name .. "bias"], {padding = 1}):relu()
    end
    h = pool(h)
  end
  h = sx.linear(h:reshape{h:shape()[1], -1}, p["fc.weight"], p["fc.bias"]):relu()
  return sx.linear(h, p["out.weight"], p["out.bias"])
end

local function tiny_classifier(seed)
  sx.manual_seed(seed)
  return sx.models.Classifier{n_classes = 3, resolution = 8, img_channels = 1, channels = {3, 4},
    convs_per_block = 1, hidden = 6, dropout = 0}
end

local function max_abs(t) return t:abs():max():item() end

-- ---------------------------------------------------------------- weights and maps

-- Why finite differences along whole channels check alpha honestly: alpha_k
-- is the spatial mean of d logit / d A_k, i.e. (1 / hw) times the derivative
-- of the logit along the direction "add the same amount to every position of
-- channel k". That directional derivative is measured here by running the
-- rest of the network (forward_from, written from the parameters) on
-- A +- eps * 1_k, never touching the autograd graph Grad-CAM used. Adding a
-- constant to a whole channel does not move any max-pool winner, so the only
-- kinks the difference can cross are ReLUs of later layers: eps is small
-- enough for this seed (at eps = 1e-2 a hidden unit of image 1, at 0.008,
-- crosses zero and the check fails by 6%, as it should).
T.test("weights are the spatial mean of d logit / dA (finite differences)", function()
  local C = tiny_classifier(3)
  sx.manual_seed(4)
  local x = sx.randn{2, 1, 8, 8}
  local classes = {0, 2}
  for _, layer in ipairs{2, 1} do
    local maps, alpha = gradcam.maps(C, x, classes, {layer = layer})
    local logits, _, feats = sx.no_grad(function() return C:classify(x, {features = true}) end)
    local A = feats[layer]
    local s = A:shape()
    local hw = s[3] * s[4]
    -- the written-out forward reproduces the classifier
    local head = sx.no_grad(forward_from, C, layer, A)
    T.near(max_abs(head - logits), 0, 1e-5, "forward_from(layer " .. layer .. ") = classifier")
    T.eq(alpha:shape(), {2, s[2]}, "weights shape, layer " .. layer)
    local eps = 1e-3
    local fd = {}
    for i = 1, 2 do fd[i] = {} end
    for k = 1, s[2] do
      local dir = {}
      for c = 1, s[2] do dir[c] = {{c == k and eps or 0}} end
      local d = sx.tensor{dir}                          -- [1, Ck, 1, 1]
      local up, down = sx.no_grad(forward_from, C, layer, A + d), sx.no_grad(forward_from, C, layer, A - d)
      local diff = ((up - down) / (2 * eps * hw)):totable()
      for i = 1, 2 do fd[i][k] = diff[i][classes[i] + 1] end
    end
    T.near(alpha:totable(), fd, 2e-4, "alpha vs finite differences, layer " .. layer)
    -- the map is relu(sum_k alpha_k A_k) resized and scaled to a peak of 1;
    -- built here from the finite-difference weights
    local cam = (A * sx.tensor(fd):reshape{2, s[2], 1, 1}):sum(2, true):relu()
    if s[3] ~= 8 then cam = sx.image.resize(cam, {8, 8}) end
    local want = cam / cam:reshape{2, 64}:max(2, true):reshape{2, 1, 1, 1}
    T.near(max_abs(maps - want), 0, 1e-3, "map vs relu(sum alpha A), layer " .. layer)
  end
end)

T.test("shape, range, grad mode and the classifier left as they were", function()
  local C = tiny_classifier(5)
  sx.manual_seed(6)
  local x = sx.rand{5, 1, 8, 8} * 2 - 1
  local maps, alpha = gradcam.maps(C, x, 1)
  T.eq(maps:shape(), {5, 1, 8, 8})
  T.eq(alpha:shape(), {5, 4})
  T.ok((-maps):max():item() <= 0, "maps >= 0")
  local peaks = maps:reshape{5, 64}:max(2):totable()
  for i = 1, 5 do
    T.ok(math.abs(peaks[i] - 1) < 1e-6 or peaks[i] == 0, "image " .. i .. " peak " .. peaks[i])
  end
  T.ok(not maps:requires_grad() and not alpha:requires_grad(), "results carry no graph")
  T.ok(not x:requires_grad(), "x still does not require grad")
  for name, p in pairs(C:named_parameters()) do T.ok(p.grad == nil, name .. " has no .grad") end
  -- grad mode: on stays on; off (inside no_grad) stays off, and Grad-CAM still works there
  T.ok(sx.is_grad_enabled(), "grad mode still on")
  local inside, m2 = sx.no_grad(function()
    local m = gradcam.maps(C, x, 1)
    return sx.is_grad_enabled(), m
  end)
  T.eq(inside, false, "grad mode still off inside no_grad")
  T.near(max_abs(m2 - maps), 0, 0, "same maps with grad mode off")
  -- a frozen classifier (parameters not requiring grad) gives the same maps
  for _, p in ipairs(C:parameters()) do p:requires_grad(false) end
  T.near(max_abs(gradcam.maps(C, x, 1) - maps), 0, 0, "same maps for a frozen classifier")
  -- class ids as a list or a tensor; the per-image choice is honoured
  local by_list = gradcam.maps(C, x, {1, 0, 1, 2, 1})
  local by_tensor = gradcam.maps(C, x, sx.tensor{1, 0, 1, 2, 1})
  T.near(max_abs(by_list - by_tensor), 0, 0, "list = tensor")
  T.near(max_abs(by_list:narrow(1, 1, 1) - maps:narrow(1, 1, 1)), 0, 0, "image 1, class 1 both times")
  local class0 = gradcam.maps(C, x, 0)
  T.near(max_abs(by_list:narrow(1, 2, 1) - class0:narrow(1, 2, 1)), 0, 0, "image 2 used class 0")
  -- an error inside (after grad mode was switched on) restores grad mode
  sx.no_grad(function()
    local real = sx.models.classifier(C)
    local bad_C = setmetatable({}, {__index = function(_, k)
      if k == "type" then return function() return "Classifier" end end
      if k == "info" then return function() return real:info() end end
      if k == "features" then return function() error("boom") end end
    end})
    T.raises("boom", gradcam.maps, bad_C, x, 0)
    T.eq(sx.is_grad_enabled(), false, "grad mode restored after an error")
  end)
end)

T.test("scale = \"common\": every map divided by the largest value of all of them", function()
  local C = tiny_classifier(5)
  sx.manual_seed(6)
  local x = sx.rand{5, 1, 8, 8} * 2 - 1
  local each = gradcam.maps(C, x, 1)
  local common = gradcam.maps(C, x, 1, {scale = "common"})
  T.eq(common:shape(), {5, 1, 8, 8})
  T.near(common:max():item(), 1, 1e-6, "the largest value of all maps is 1")
  -- common = each * (own peak / largest peak); the maps differ only in scale
  local peak_each = common:reshape{5, 64}:max(2):totable()
  local faint = 0
  for i = 1, 5 do
    local ci, ei = common:narrow(1, i, 1), each:narrow(1, i, 1)
    T.near(max_abs(ci - ei * peak_each[i]), 0, 1e-6, "image " .. i .. ": the same map, scaled by " .. peak_each[i])
    if peak_each[i] < 0.999 and peak_each[i] > 0 then faint = faint + 1 end
  end
  T.ok(faint > 0, "some map is fainter than the hottest (else the case shows nothing)")
  T.near(max_abs(gradcam.maps(C, x, 1, {scale = "each"}) - each), 0, 0, "\"each\" is the default")
end)

T.test("a class with no evidence gives an all-zero map, not NaN", function()
  local C = tiny_classifier(7)
  local w = C:named_parameters()["out.weight"]
  local rows = w:totable()
  for j = 1, #rows[3] do rows[3][j] = 0 end -- class 2's logit is its bias alone
  w:assign(rows)
  sx.manual_seed(8)
  local maps, alpha = gradcam.maps(C, sx.randn{2, 1, 8, 8}, 2)
  T.near(max_abs(alpha), 0, 0, "alpha = 0")
  T.eq(maps:reshape{2 * 64}:totable(), sx.zeros{2 * 64}:totable(), "maps all 0")
end)

-- ---------------------------------------------------------------- where the evidence is

-- A classifier built by hand, 8x8 grey images in [-1, 1] (background -1):
--   block 1 (8x8): channel 1 = relu(x - 0.5)   fires on bright pixels (1 -> 0.5)
--                  channel 2 = relu(x + 0.5)   fires on bright (1.5) and grey (0 -> 0.5)
--   block 2 (4x4, after a max-pool): each channel copied (a centre tap of 1)
--   fc: h1 = sum of block 2's pooled channel 1, h2 = the same of channel 2
--   logits: class 1 = h1 - 0.1 h2, class 0 = -(class 1)
-- So bright pixels are evidence for class 1 and grey ones (through channel 2,
-- with bright pixels outweighed by channel 1) for class 0. Grad-CAM of the
-- last block: d logit_1 / dA reaches one max-pool winner in each of the four
-- 2x2 windows, so alpha = (4 / 16) * (1, -0.1) = (0.25, -0.025) for class 1
-- and its negative for class 0; the class-1 map is 0.25 A1 - 0.025 A2 > 0 on
-- bright pixels only, the class-0 map -0.25 A1 + 0.025 A2 > 0 on grey only.
local function evidence_classifier()
  local C = sx.models.Classifier{n_classes = 2, resolution = 8, img_channels = 1, channels = {2, 2},
    convs_per_block = 1, hidden = 2, dropout = 0}
  local p = C:named_parameters()
  local function tap(v) return {{0, 0, 0}, {0, v, 0}, {0, 0, 0}} end
  local z = {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}}
  p["block0.conv0.weight"]:assign{{tap(1)}, {tap(1)}}
  p["block0.conv0.bias"]:assign{-0.5, 0.5}
  p["block1.conv0.weight"]:assign{{tap(1), z}, {z, tap(1)}}
  p["block1.conv0.bias"]:assign{0, 0}
  local fc = {{}, {}}
  for j = 1, 8 do
    fc[1][j] = j <= 4 and 1 or 0
    fc[2][j] = j > 4 and 1 or 0
  end
  p["fc.weight"]:assign(fc)
  p["fc.bias"]:assign{0, 0}
  p["out.weight"]:assign{{-1, 0.1}, {1, -0.1}}
  p["out.bias"]:assign{0, 0}
  for _, t in ipairs(C:parameters()) do t:requires_grad(false) end
  return C
end

-- An 8x8 image with a 2x2 bright blob (1) and a 2x2 grey blob (0) on
-- background -1, at rows 3-4, columns bright_col and grey_col (1-based).
local function blob_image(bright_col, grey_col)
  local img = {}
  for r = 1, 8 do
    img[r] = {}
    for c = 1, 8 do
      local v = -1
      if r >= 3 and r <= 4 then
        if c >= bright_col and c < bright_col + 2 then v = 1 end
        if c >= grey_col and c < grey_col + 2 then v = 0 end
      end
      img[r][c] = v
    end
  end
  return {img}
end

-- Share of each map's mass in the left half (columns 1-4).
local function left_share(maps)
  local m = maps:totable()
  local out = {}
  for i = 1, #m do
    local left, total = 0, 0
    for r = 1, 8 do
      for c = 1, 8 do
        local v = m[i][1][r][c]
        total = total + v
        if c <= 4 then left = left + v end
      end
    end
    out[i] = total > 0 and left / total or -1
  end
  return out
end

T.test("each class's map lies on that class's evidence", function()
  local C = evidence_classifier()
  -- image 1: bright left, grey right; image 2: grey left, bright right
  local x = sx.tensor{blob_image(1, 7), blob_image(7, 1)}
  local m1, a1 = gradcam.maps(C, x, 1)
  local m0, a0 = gradcam.maps(C, x, 0)
  T.near(a1:totable(), {{0.25, -0.025}, {0.25, -0.025}}, 1e-6, "class-1 weights")
  T.near(a0:totable(), {{-0.25, 0.025}, {-0.25, 0.025}}, 1e-6, "class-0 weights")
  local s1, s0 = left_share(m1), left_share(m0)
  T.ok(s1[1] > 0.99, "class 1, image 1: mass on the bright blob (left), got " .. s1[1])
  T.ok(s1[2] < 0.01 and s1[2] >= 0, "class 1, image 2: mass on the bright blob (right), got " .. s1[2])
  T.ok(s0[1] < 0.01 and s0[1] >= 0, "class 0, image 1: mass on the grey blob (right), got " .. s0[1])
  T.ok(s0[2] > 0.99, "class 0, image 2: mass on the grey blob (left), got " .. s0[2])
  -- the first block (8x8, no resizing) gives maps that are exactly the blobs
  local f1 = gradcam.maps(C, x, 1, {layer = 1}):totable()
  local f0 = gradcam.maps(C, x, 0, {layer = -2}):totable()
  local img = x:totable()
  for i = 1, 2 do
    for r = 1, 8 do
      for c = 1, 8 do
        local v = img[i][1][r][c]
        T.near(f1[i][1][r][c], v == 1 and 1 or 0, 1e-6, string.format("layer 1, class 1, image %d (%d, %d)", i, r, c))
        T.near(f0[i][1][r][c], v == 0 and 1 or 0, 1e-6, string.format("layer 1, class 0, image %d (%d, %d)", i, r, c))
      end
    end
  end
end)

-- ---------------------------------------------------------------- errors

T.test("argument errors", function()
  local C = tiny_classifier(9)
  local x = sx.zeros{2, 1, 8, 8}
  local freed = sx.zeros{2, 1, 8, 8}
  freed:free()
  T.raises("bad argument #1 to 'maps' (classifier expected", gradcam.maps, nil, x, 0)
  T.raises("got a Linear module", gradcam.maps, sx.nn.Linear{["in"] = 2, out = 2}, x, 0)
  T.raises("bad argument #2 to 'maps' (tensor expected, got a number)", gradcam.maps, C, 5, 0)
  T.raises("bad argument #2 to 'maps' (tensor has been freed)", gradcam.maps, C, freed, 0)
  T.raises("images [N, 1, 8, 8] expected, got [2, 1, 4, 4]", gradcam.maps, C, sx.zeros{2, 1, 4, 4}, 0)
  T.raises("got [1, 8, 8]", gradcam.maps, C, sx.zeros{1, 8, 8}, 0)
  T.raises("class 3 is not a class id in 0..2", gradcam.maps, C, x, 3)
  T.raises("class 0.5 is not a class id", gradcam.maps, C, x, 0.5)
  T.raises("class -1 (image 2)", gradcam.maps, C, x, {0, -1})
  T.raises("2 class ids expected (one per image), got 3", gradcam.maps, C, x, {0, 1, 1})
  T.raises("a tensor of class ids must be [2]", gradcam.maps, C, x, sx.tensor{1})
  T.raises("class id or list of class ids expected, got a string", gradcam.maps, C, x, "cat")
  T.raises("bad argument #3", gradcam.maps, C, x, nil)
  T.raises("unknown option 'layers'", gradcam.maps, C, x, 0, {layers = 1})
  T.raises("option 'layer' must be a block in 1..2", gradcam.maps, C, x, 0, {layer = 0})
  T.raises("got 3", gradcam.maps, C, x, 0, {layer = 3})
  T.raises("got 1.5", gradcam.maps, C, x, 0, {layer = 1.5})
  T.raises("options table expected", gradcam.maps, C, x, 0, 7)
  T.raises("option 'scale' must be \"each\" or \"common\", got 1", gradcam.maps, C, x, 0, {scale = 1})
  T.ok(sx.is_grad_enabled(), "grad mode untouched by argument errors")
end)

T.done()
