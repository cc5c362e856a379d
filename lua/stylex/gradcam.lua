-- stylex.gradcam — Grad-CAM heat maps (Selvaraju et al., ICCV 2017) of the
-- classifier StylEx explains: *where* it looks, beside StylEx's *what would
-- have to change* (SPEC, introduction).
--
--   local gradcam = require "stylex.gradcam"
--   local maps, weights = gradcam.maps(C, x, 1)            -- class 1 for every image
--   local maps = gradcam.maps(C, x, {0, 1, 1, 0}, {layer = 2})
--   local maps = gradcam.maps(C, frames, 1, {scale = "common"}) -- one scale for a strip
--
-- For image i, class c and the feature map A [K, h, w] of a classifier layer
-- (for the built-in CNN a block's last ReLU output, before its max-pool; the
-- classifier's Grad-CAM layer unless opts.layer says otherwise, see
-- include/stylex/classifier.h):
--   weights   alpha_k = mean over the h x w positions of d logit_c / d A_k
--   map       relu(sum_k alpha_k A_k), resized to the images' H x W (bilinear, pixel
--             centres aligned: sx.image.resize), divided by its maximum so
--             that it lies in [0, 1] (a map that is 0 everywhere stays 0);
--             with opts.scale = "common" by the largest value of all N maps.
-- The gradients come from sx.grad on the classifier's own graph (eval mode,
-- no dropout); nothing is stored in any .grad, the classifier's parameters are
-- not touched, and grad mode is what it was on return (also after an error).
-- Results carry no graph.
local sx = require "stylex"

local gradcam = {}

local is_tensor = require("stylex.util").is_tensor

local function bad(n, msg)
  error(string.format("bad argument #%d to 'maps' (%s)", n, msg), 3)
end

local function describe(v)
  return is_tensor(v) and "a tensor" or "a " .. type(v)
end

-- The classifier (a CNN module is wrapped: sx.models.classifier) and its
-- info, or an error naming argument 1.
local function check_classifier(C)
  local ok, ty = pcall(function() return C:type() end)
  if not ok or ty ~= "Classifier" then
    bad(1, "classifier expected (sx.models.load_classifier or sx.models.Classifier), got " ..
      (ok and "a " .. tostring(ty) .. " module" or type(C)))
  end
  if not C.info then C = sx.models.classifier(C) end
  return C, C:info()
end

-- x's batch size and size, after checking x is a live [N, C, H, W] tensor the classifier takes.
local function check_images(x, info)
  if not is_tensor(x) then bad(2, "tensor expected, got " .. describe(x)) end
  local ok, s = pcall(x.shape, x)
  if not ok then bad(2, "tensor has been freed") end
  local size_ok = #s == 4 and (info.resize or (s[3] == info.height and s[4] == info.width))
  local ch_ok = #s == 4 and (s[2] == info.channels or s[2] == 1 or (s[2] == 3 and info.channels == 1))
  if #s ~= 4 or s[1] < 1 or not size_ok or not ch_ok then
    bad(2, string.format("images [N, %d, %d, %d] expected, got [%s]", info.channels, info.height, info.width,
      table.concat(s, ", ")))
  end
  return s[1], s[3], s[4]
end

-- A list of N 0-based class ids from a number, a list or a tensor [N].
local function check_classes(class, N, K)
  local list, per_image = nil, true
  if type(class) == "number" then
    per_image = false
    list = {}
    for i = 1, N do list[i] = class end
  elseif is_tensor(class) then
    local ok, t = pcall(class.totable, class)
    if not ok then bad(3, "tensor has been freed") end
    if type(t) ~= "table" or #t ~= N or type(t[1]) ~= "number" then
      bad(3, string.format("a tensor of class ids must be [%d]", N))
    end
    list = t
  elseif type(class) == "table" then
    if #class ~= N then bad(3, string.format("%d class ids expected (one per image), got %d", N, #class)) end
    list = class
  else
    bad(3, "class id or list of class ids expected, got " .. describe(class))
  end
  local out = {}
  for i = 1, N do
    local c = list[i]
    local ci = type(c) == "number" and math.tointeger(c)
    if not ci or ci < 0 or ci >= K then
      bad(3, string.format("class %s%s is not a class id in 0..%d", tostring(c), per_image and " (image " .. i .. ")" or "",
        K - 1))
    end
    out[i] = ci
  end
  return out
end

-- The layer whose features are used (its name) and the scale ("each" or "common").
-- A number picks one of the perceptual layers (for the built-in CNN: its blocks).
local function check_opts(opts, info)
  if opts ~= nil and type(opts) ~= "table" then bad(4, "options table expected, got " .. describe(opts)) end
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "layer" and k ~= "scale" then bad(4, "unknown option '" .. tostring(k) .. "'") end
  end
  local scale = opts.scale or "each"
  if scale ~= "each" and scale ~= "common" then
    bad(4, "option 'scale' must be \"each\" or \"common\", got " .. tostring(opts.scale))
  end
  local layer = opts.layer
  if layer == nil then return info.gradcam_layer, scale end
  if type(layer) == "string" then
    for _, name in ipairs(info.layers) do
      if name == layer then return layer, scale end
    end
    bad(4, string.format("option 'layer': the classifier has no layer '%s' (%s)", layer,
      table.concat(info.layers, ", ")))
  end
  local n = #info.perceptual
  local l = type(layer) == "number" and math.tointeger(layer)
  if not l or l == 0 or l > n or l < -n then
    bad(4, string.format("option 'layer' must be a block in 1..%d (or -%d..-1 from the end) or a layer name, got %s",
      n, n, tostring(layer)))
  end
  return info.perceptual[l > 0 and l or n + 1 + l], scale
end

-- The computation, with grad mode on.
local function compute(C, x, classes, layer, scale, K, H, W)
  local N = #classes
  -- a leaf copy of x that requires grad, so that the layer's features carry a
  -- graph even when the frozen classifier's parameters do not require grad
  local xin = x:detach():requires_grad(true)
  local maps, logits = C:features(xin, {layer})
  local A = maps[1]                               -- [N, Ck, h, w]
  local s = A:shape()
  if #s ~= 4 then error(string.format("gradcam: layer '%s' is not a feature map [N, C, h, w]", layer), 0) end
  local onehot = {}
  for i = 1, N do
    local row = {}
    for c = 1, K do row[c] = (c - 1 == classes[i]) and 1 or 0 end
    onehot[i] = row
  end
  -- images are independent (eval mode), so the gradient of sum_i logit[i, c_i]
  -- at image i is that of logit[i, c_i] alone
  local g = sx.grad(logits, A, {grad_outputs = sx.tensor(onehot)})
  local weights = g:mean({3, 4})                  -- [N, Ck]
  local cam = (A:detach() * weights:reshape{N, s[2], 1, 1}):sum(2, true):relu() -- [N, 1, h, w]
  if s[3] ~= H or s[4] ~= W then cam = sx.image.resize(cam, {H, W}) end
  local peak = scale == "common" and cam:max():reshape{1, 1} or cam:reshape{N, H * W}:max(2, true) -- [N or 1, 1]
  local denom = peak + (1 - peak:gt_scalar(0))    -- the peak, or 1 for an all-zero map
  return cam / denom:reshape{peak:size(1), 1, 1, 1}, weights
end

-- Grad-CAM maps [N, 1, H, W] in [0, 1] of classifier C (sx.models.load_classifier's,
-- or a CNN module) on images x [N, C, H, W] for class `class` (a 0-based id for
-- every image, or a list / tensor of N ids), and the channel weights alpha
-- [N, Ck] of the layer used.
--   opts.layer: a layer name (C:info().layers), or a number: one of the
--               perceptual layers, 1-based, negative from the end (the
--               built-in CNN's blocks); default C:info().gradcam_layer (the
--               CNN's last block)
--   opts.scale: "each" (the default, as the paper: every map divided by its
--               own peak) or "common" (all N maps divided by their one
--               largest value, so that a map with little evidence for its
--               class stays faint beside one with much)
function gradcam.maps(C, x, class, opts)
  local info
  C, info = check_classifier(C)
  local N, H, W = check_images(x, info)
  local classes = check_classes(class, N, info.n_classes)
  local layer, scale = check_opts(opts, info)
  local prev = sx.set_grad_enabled(true)
  local ok, maps, weights = pcall(compute, C, x, classes, layer, scale, info.n_classes, H, W)
  sx.set_grad_enabled(prev)
  if not ok then error(maps, 0) end
  return maps, weights
end

-- ---------------------------------------------------------------- colour map

-- The heat-map colour ramp: evenly spaced RGB stops, dark violet through red
-- and orange to pale yellow (brightness rises monotonically, so the order of
-- values survives printing in grey). Used for the PNG overlays and, as a CSS
-- gradient, for the legend on the page.
gradcam.RAMP = {
  {0.00, 0.00, 0.02}, {0.16, 0.04, 0.33}, {0.40, 0.07, 0.43}, {0.62, 0.16, 0.38},
  {0.82, 0.29, 0.22}, {0.95, 0.50, 0.06}, {0.98, 0.75, 0.15}, {0.99, 0.99, 0.70},
}

-- map [N, 1, H, W] in [0, 1] -> [N, 3, H, W]: piecewise-linear interpolation
-- of gradcam.RAMP, as a sum of hat functions max(0, 1 - |v (K-1) - k|) over the stops.
function gradcam.colorize(map)
  local K = #gradcam.RAMP
  local x = map * (K - 1)
  local chans = {sx.zeros_like(map), sx.zeros_like(map), sx.zeros_like(map)}
  for k = 1, K do
    local hat = (1 - (x - (k - 1)):abs()):relu()
    for c = 1, 3 do chans[c] = chans[c] + hat * gradcam.RAMP[k][c] end
  end
  return sx.cat(chans, 2)
end

-- Grad-CAM overlays: frames [N, C, R, R] in [0, 1], maps [N, 1, R, R] in
-- [0, 1] -> [N, 3, R, R]: the ramp blended over the grey image, more opaque
-- where the map is hot so that cold regions still show the picture.
function gradcam.overlay(frames01, maps)
  local grey = frames01:size(2) == 1 and frames01 or frames01:mean(2, true)
  local v = sx.image.to_unit(maps, 0, 1)
  local alpha = v * 0.6 + 0.2
  return grey * (1 - alpha) + gradcam.colorize(v) * alpha
end

-- The ramp as a CSS gradient, for the legend beside the overlays.
function gradcam.ramp_css()
  local stops = {}
  for k, c in ipairs(gradcam.RAMP) do
    stops[k] = string.format("rgb(%d,%d,%d) %d%%", math.floor(c[1] * 255 + 0.5), math.floor(c[2] * 255 + 0.5),
      math.floor(c[3] * 255 + 0.5), math.floor(100 * (k - 1) / (#gradcam.RAMP - 1) + 0.5))
  end
  return "linear-gradient(to right, " .. table.concat(stops, ", ") .. ")"
end

return gradcam
