-- examples/policy.lua — an AttFind policy of one's own, as a Lua function over
-- the effect table computed in C. Run by examples/embed_lua.c (a C program
-- embedding Lua and stylex); also runs under the host:
--   build/stylex examples/policy.lua [dir]
--
-- The policy, "greedy flips": for a target class c, over the images not
-- predicted as c, attribute (coordinate j, direction d) FLIPS image i when the
-- shifted image's logit for c beats every other class by at least `margin`:
--   z = base_logits[i] + effect[i, d, j]      (the shifted image's logits)
--   z[c] - max_{o ~= c} z[o] >= margin
-- Greedily, k times: take the attribute that flips the most images not yet
-- flipped by an earlier pick (ties: larger mean gain in z[c] - max_o z[o],
-- then the lower column); stop early when none flips a new image. score =
-- the number of new flips, so scores never increase and their sum is at most
-- the number of images considered. Unlike subset selection (mean logit
-- effect, capped per image) and independent selection (count of effects
-- above a threshold), this counts decisions that actually change.
--
-- Here the table comes from a tiny randomly initialised generator and
-- classifier (seconds of work), so the picks mean nothing about any data;
-- with a trained model, pass attfind.effects the encoded test images instead.
-- The script returns a summary table that the C host checks, and writes it
-- as JSON (lua-cjson) into the directory given as its first argument.
local sx = require "stylex"
local attfind = require "stylex.attfind"
local cjson = require "cjson"

local dir = ... or "."

-- The policy: tab = the effect table, opts = {class =, labels =, k =, margin =}.
local function greedy_flips(tab, opts)
  local s = tab.effect:shape()
  local N, S, K = s[1], s[3], s[4]
  local c, k, margin = opts.class, opts.k or 5, opts.margin or 0
  local labels = attfind.labels(tab, opts.labels)
  local z = (tab.effect + tab.base_logits:reshape{N, 1, 1, K}):totable() -- [N][2][S][K]
  local base = tab.base_logits:totable()
  local function lead(v) -- v[c] - max over the other classes (1-based c + 1)
    local other = -math.huge
    for o = 1, K do if o ~= c + 1 and v[o] > other then other = v[o] end end
    return v[c + 1] - other
  end
  -- per eligible image: which columns flip it, and each column's gain in lead
  local rows, flips, gain = {}, {}, {}
  for i = 1, N do
    if labels[i] ~= c then
      rows[#rows + 1] = i
      local f, g, l0 = {}, {}, lead(base[i])
      for d = 1, 2 do
        for j = 1, S do
          local col = (d - 1) * S + j
          local l = lead(z[i][d][j])
          f[col] = l >= margin
          g[col] = l - l0
        end
      end
      flips[#rows], gain[#rows] = f, g
    end
  end
  local done, out = {}, {}
  while #out < k do
    local best, best_n, best_gain = nil, 0, -math.huge
    for col = 1, 2 * S do
      local n, total = 0, 0
      for r = 1, #rows do
        if not done[r] and flips[r][col] then n = n + 1 end
        total = total + gain[r][col]
      end
      local mean = #rows > 0 and total / #rows or 0
      if n > best_n or (n == best_n and n > 0 and mean > best_gain) then
        best, best_n, best_gain = col, n, mean
      end
    end
    if not best then break end -- no attribute flips an image not yet flipped
    for r = 1, #rows do if flips[r][best] then done[r] = true end end
    local coord = best > S and best - S or best
    local layer, channel, name = attfind.locate(tab, coord)
    out[#out + 1] = {coord = coord, layer = layer, channel = channel, layer_name = name,
      direction = best > S and "to-max" or "to-min", score = best_n, mean_gain = best_gain, class = c}
  end
  return out, #rows
end

-- A tiny network pair with fresh weights: 8x8 images, S = 8 + 8 + 4 = 20 coordinates.
sx.manual_seed(3)
local net = {resolution = 8, img_channels = 1, z_dim = 16, w_dim = 16, mapping_layers = 2, channels = {8, 4},
  n_classes = 2}
local G = sx.models.Generator(net)
local C = sx.models.Classifier{n_classes = 2, resolution = 8, img_channels = 1, channels = {8, 8},
  convs_per_block = 1, hidden = 16, dropout = 0}
for _, m in ipairs{G, C} do
  for _, p in ipairs(m:parameters()) do p:requires_grad(false) end
end

-- N images from random latents, each conditioned on the classifier's view of
-- itself. A random classifier calls nearly everything one class: its class-1
-- bias is moved so that the decision boundary passes through the median of
-- these images, so that both classes occur and style moves can flip them.
local N = 24
local tab = sx.no_grad(function()
  local w = G:mapping(sx.randn{N, net.z_dim})
  local first = G:synthesis(G:latent(w, sx.full({N, 2}, 0.5)))
  local z = C:logits(first)
  local gap = (z:narrow(2, 2, 1) - z:narrow(2, 1, 1)):reshape{N}:totable()
  table.sort(gap)
  local bias = C:named_parameters()["out.bias"]
  local b = bias:totable()
  bias:assign{b[1], b[2] - (gap[N // 2] + gap[N // 2 + 1]) / 2}
  local latents = G:latent(w, sx.softmax(C:logits(first), 2))
  return attfind.effects(G, C, latents)
end)
local S = tab.effect:shape()[3]

-- The policy for every class (one-vs-rest), through attfind.per_class like the shipped ones.
local eligible = {}
local per_class = attfind.per_class(tab, function(t, o)
  local attrs, n = greedy_flips(t, o)
  eligible[o.class + 1] = n
  return attrs
end, {k = 4, margin = 0.05})

local result = {n_images = N, n_coords = S, margin = 0.05, classes = {}}
for c = 0, #per_class - 1 do
  local picks = {}
  print(string.format("class %d: %d images to flip", c, eligible[c + 1]))
  for rank, a in ipairs(per_class[c + 1]) do
    print(string.format("  %d. coordinate %3d (%s channel %d) %-6s flips %d more (mean lead gain %+.4f)", rank,
      a.coord, a.layer_name, a.channel, a.direction, a.score, a.mean_gain))
    picks[rank] = {coord = a.coord, direction = a.direction, flips = a.score}
  end
  result.classes[c + 1] = {class = c, eligible = eligible[c + 1], picks = picks}
end

local f = assert(io.open(dir .. "/policy_picks.json", "w"))
f:write(cjson.encode(result), "\n")
f:close()
print("wrote " .. dir .. "/policy_picks.json")
return result
