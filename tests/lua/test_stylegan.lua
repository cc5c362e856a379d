-- tests/lua/test_stylegan.lua — the StyleGAN2 networks from Lua (lib/lua/models.c):
-- configs and their errors, shapes of G, D and E, the 672-coordinate StyleSpace
-- layout, regeneration from styles and from a cache (the AttFind pattern),
-- flat styles, module methods shared with the classifier (config), parameters.
local T = dofile("tests/lua/harness.lua")
local sx = require "stylex"

assert(sx.models and sx.models.Generator,
       "sx.models.Generator is missing: luaopen_stylex must call lsx_open_models (lib/lua/models.c)")

local max_abs_diff = T.max_abs_diff

T.test("configs", function()
  local c = sx.models.stylegan_config()
  T.eq(c.resolution, 32)
  T.eq(c.channels, {128, 128, 64, 32})
  T.eq(c.w_dim, 128)
  T.near(c.mapping_lr_mul, 0.01, 1e-7)
  T.eq(sx.models.stylegan_config{resolution = 64, img_channels = 3}.channels, {128, 128, 64, 32, 16})
  T.raises("unknown", sx.models.stylegan_config, {resolutoin = 32})
  T.raises("channels must be a list of 4 widths", sx.models.Generator, {channels = {8, 8}})
  T.raises("resolution 48", sx.models.Generator, {resolution = 48})
  T.raises("img_channels", sx.models.Discriminator, {img_channels = 2})
end)

T.test("shapes of G, D and E", function()
  sx.manual_seed(1)
  for _, case in ipairs{{32, 1, 0}, {32, 1, 2}, {64, 3, 10}} do
    local res, ch, nc = case[1], case[2], case[3]
    local cfg = {resolution = res, img_channels = ch, n_classes = nc}
    local G, D, E = sx.models.Generator(cfg), sx.models.Discriminator(cfg), sx.models.Encoder(cfg)
    T.eq(G:type(), "Generator")
    T.eq(G:config().n_classes, nc)
    local z = sx.randn{2, 128}
    local p = nc > 0 and sx.randn{2, nc}:softmax(2) or nil
    local img = G:generate(z, p)
    T.eq(img:shape(), {2, ch, res, res}, "generate")
    T.eq(D:discriminate(img, p):shape(), {2}, "discriminate")
    local w = E:encode(img)
    T.eq(w:shape(), {2, 128}, "encode")
    T.eq(G:synthesis(G:latent(w, p)):shape(), {2, ch, res, res}, "encoder path")
    -- an Encoder has no generator methods; called directly, they refuse it
    T.eq(E.latent, nil, "E:latent does not exist")
    T.raises("module is a Encoder, expected a Generator", function() return sx.nn.Generator.latent(E, w, p) end)
    if nc > 0 then
      T.raises("class probabilities missing", function() return D:discriminate(img) end)
      T.raises("class probabilities missing", function() return G:generate(z) end)
    else
      T.eq(D(img):shape(), {2}, "unconditional D as a plain module")
    end
  end
  T.raises("expected a MappingNetwork or a Generator", function()
    return sx.nn.Generator.mapping(sx.models.Encoder(), sx.randn{1, 128})
  end)
end)

T.test("StyleSpace layout", function()
  local G = sx.models.Generator{n_classes = 2}
  local lay = G:style_layout()
  T.eq(lay.n_layers, 7)
  T.eq(lay.n_coords, 672)
  T.eq(lay.layers[1].name, "b4.conv1")
  T.eq(lay.layers[2].name, "b8.conv0")
  T.eq(lay.layers[2].offset, 129)
  T.eq(lay.layers[7].channels, 32)
  T.eq(lay.layers[7].resolution, 32)
  T.eq(lay.rgb_channels, {128, 128, 64, 32})
  T.eq({G:locate(1)}, {1, 1})
  T.eq({G:locate(129)}, {2, 1})
  T.eq({G:locate(672)}, {7, 32})
  T.raises("out of range", function() return G:locate(673) end)
end)

T.test("from styles and from the cache", function()
  sx.manual_seed(2)
  local G = sx.models.Generator{n_classes = 2}
  -- non-zero noise strengths, so that the noise matters
  for name, t in pairs(G:named_parameters()) do
    if name:find("noise_strength", 1, true) then t:fill(0.5) end
  end
  local N = 3
  local lat = G:latent(G:mapping(sx.randn{N, 128}), sx.randn{N, 2}:softmax(2))
  local noise = G:noise(N)
  T.eq(#noise, 7)
  T.eq(noise[7]:shape(), {N, 1, 32, 32})
  local img = G:synthesis(lat, noise)
  local st = G:styles(lat)
  T.eq(#st.conv, 7)
  T.eq(st.conv[2]:shape(), {N, 128})
  T.eq(#st.rgb, 4)
  local img2, cache = G:from_styles(st, {noise = noise, keep_cache = true})
  T.eq(max_abs_diff(img, img2), 0, "from_styles reproduces synthesis")
  T.ok(max_abs_diff(img, G:from_styles(st, {noise = G:noise(N)})) > 1e-3, "noise matters")
  T.eq(#cache.x, 7)
  T.eq(cache.img[4]:shape(), {N, 1, 32, 32})

  -- shift one coordinate of layer 5 (b16.conv1) in every sample
  local shifted = {conv = {}, rgb = st.rgb}
  for l = 1, 7 do shifted.conv[l] = st.conv[l] end
  local s5 = st.conv[5]:clone()
  local v = s5:totable()
  for n = 1, N do v[n][3] = 4.0 end
  s5:assign(v)
  shifted.conv[5] = s5
  local full = G:from_styles(shifted, {noise = noise})
  local part = G:from_styles(shifted, {noise = noise, from_layer = 5, cache = cache})
  T.eq(max_abs_diff(full, part), 0, "cached pass equals the full recompute")
  T.ok(max_abs_diff(full, img) > 1e-4, "the shift changed the image")
  T.raises("needs the cache", function() return G:from_styles(shifted, {from_layer = 5}) end)
  T.raises("from_layer must be an integer in 1..7", function() return G:from_styles(shifted, {from_layer = 8, cache = cache}) end)
  T.raises("unknown", function() return G:from_styles(st, {nosie = noise}) end)

  -- flat styles
  local flat = G:styles_flat(st)
  T.eq(flat:shape(), {N, 672})
  local back = G:styles_with_flat(st, flat)
  T.eq(max_abs_diff(G:from_styles(back, {noise = noise}), img), 0, "styles_with_flat round trip")
end)

T.test("the fused epilogue without a graph gives the recorded path's bits", function()
  sx.manual_seed(4)
  local G = sx.models.Generator{n_classes = 2}
  for name, t in pairs(G:named_parameters()) do
    if name:find("noise_strength", 1, true) then t:fill(0.3) end
    if name:find("bias", 1, true) and name:find("conv", 1, true) then t:assign(sx.randn(t:shape()):totable()) end
  end
  local N = 4
  local lat = G:latent(G:mapping(sx.randn{N, 128}), sx.randn{N, 2}:softmax(2))
  local noise, noise1 = G:noise(N), G:noise(1)
  local lat1 = G:latent(G:mapping(sx.randn{1, 128}), sx.randn{1, 2}:softmax(2))
  for _, case in ipairs{{lat, noise, "batch"}, {lat, noise1, "one noise for the batch"},
      {lat1, noise, "one latent, a batch of noise"}} do
    local recorded = G:synthesis(case[1], case[2])
    T.ok(recorded:op_name() ~= "", "the parameters require grad, so this pass is recorded")
    local fused = sx.no_grad(function() return G:synthesis(case[1], case[2]) end)
    T.eq(fused:shape(), recorded:shape(), case[3])
    T.eq(max_abs_diff(fused, recorded), 0, case[3] .. ": the same bits")
  end
end)

T.test("parameters, config dispatch, functions", function()
  local G = sx.models.Generator{n_classes = 2}
  local named = G:named_parameters()
  T.eq(named["synthesis.b4.const"]:shape(), {128, 4, 4})
  T.eq(named["synthesis.b8.conv0.affine.weight"]:shape(), {128, 130})
  T.eq(G:num_params(), 849835)
  T.eq(sx.models.Discriminator():num_params(), 871521)
  T.eq(sx.models.Encoder():num_params(), 886752)
  -- per-type method tables: each type has its own methods and sx.nn.Module's,
  -- never another type's
  local lin, C = sx.nn.Linear{["in"] = 2, out = 2}, sx.models.Classifier{n_classes = 2}
  local D, E = sx.models.Discriminator(), sx.models.Encoder()
  T.eq(lin.synthesis, nil, "Linear:synthesis")
  T.eq(lin.classify, nil, "Linear:classify")
  T.eq(lin.config, nil, "Linear:config")
  T.eq(C.synthesis, nil, "Classifier:synthesis")
  T.eq(G.classify, nil, "Generator:classify")
  T.eq(G.discriminate, nil, "Generator:discriminate")
  T.eq(D.encode, nil, "Discriminator:encode")
  T.eq(E.discriminate, nil, "Encoder:discriminate")
  T.eq(G:child("mapping").synthesis, nil, "MappingNetwork:synthesis")
  T.ok(G.parameters == sx.nn.Module.parameters and C.forward == sx.nn.Module.forward, "types fall back to sx.nn.Module")
  T.ok(G.synthesis == sx.nn.Generator.synthesis and C.classify == sx.nn.Classifier.classify, "and have their own")
  T.eq(sx.nn.Module.synthesis, nil, "sx.nn.Module has no type's methods")
  T.raises("attempt to call a nil value (method 'synthesis')", function() return lin:synthesis(sx.randn{1, 2}) end)
  -- the classifier keeps its own config()
  T.eq(sx.models.Classifier{n_classes = 2}:config().hidden, 256)
  T.raises("not a Classifier", function() return sx.nn.Classifier.config(sx.nn.Linear{["in"] = 2, out = 2}) end)
  local y = sx.models.modulated_conv2d(sx.randn{2, 3, 4, 4}, sx.randn{5, 3, 3, 3}, sx.randn{2, 3}, {up = 2})
  T.eq(y:shape(), {2, 5, 8, 8})
  T.eq(sx.models.upsample2d(sx.randn{1, 2, 4, 4}):shape(), {1, 2, 8, 8})
  T.eq(sx.models.downsample2d(sx.randn{1, 2, 4, 4}):shape(), {1, 2, 2, 2})
end)

T.done()
