-- tests/lua/test_gradcam_check.lua — a smoke test of scripts/gradcam_check.lua
-- on the shipped shapes classifier and a few images: one JSON line with every
-- part, counts that add up, shares in [0, 1], the script's own Grad-CAM equal
-- to stylex.gradcam's, and the --dump file for tests/reference/gradcam_torch.py.
local T = dofile("tests/lua/harness.lua")
local sx = require "stylex"
local cjson = require "cjson"

local host = arg[-1]
local dir = T.tmpdir()
local N = 6

local function in01(v, what) T.ok(type(v) == "number" and v >= 0 and v <= 1, what .. " in [0, 1]: " .. tostring(v)) end

T.test("gradcam_check.lua: the line, its counts and the dump", function()
  local dump = dir .. "/dump.safetensors"
  local p = assert(io.popen(string.format("%q scripts/gradcam_check.lua --model models/shapes --n %d --patch 8 " ..
    "--stride 8 --dump %q 2>%q", host, N, dump, dir .. "/stderr")))
  local text = p:read("a")
  T.ok(p:close(), "exits 0; stderr: " .. (T.read_file(dir .. "/stderr") or ""))
  local r = cjson.decode(text:match("^(.-)\n?$"))
  T.eq(r.n, N)
  T.eq(r.occlusion, {patch = 8, stride = 8, positions = 16})
  in01(r.object_area, "object area")
  for _, target in ipairs{"predicted", "other"} do
    local t = r[target]
    T.ok(t, target .. " is measured")
    T.eq(#t.blocks, 2, target .. ": the last block and the one before")
    T.eq(t.blocks[1].grid, {8, 8}, "last block's grid")
    T.eq(t.blocks[2].grid, {16, 16}, "previous block's grid")
    for _, b in ipairs(t.blocks) do
      T.ok(b.raw_vs_module < 1e-5, "the script's Grad-CAM is gradcam.maps: " .. b.raw_vs_module)
      for _, v in ipairs{"gradcam", "grad_x_act", "negative", "vs_blank"} do
        local s = b[v]
        local what = target .. " block " .. b.block .. " " .. v
        T.eq(s.counted + s.zero, N, what .. ": every image counted or all-zero")
        local sum = 0
        for _, row in ipairs(s.argmax) do for _, c in ipairs(row) do sum = sum + c end end
        T.eq(sum, s.counted, what .. ": the histogram holds the counted maxima")
        T.near(s.corner + s.border + s.interior, s.counted > 0 and 1 or 0, 1e-3, what .. ": corner + border + interior")
        for _, k in ipairs{"corner", "border", "interior", "on_object"} do in01(s[k], what .. " " .. k) end
      end
      in01(b.negative_mass, "negative mass")
      in01(b.peak_vs_signed.mean, "peak vs signed")
    end
    local ab = t.blocks[1].cell_ablation
    T.ok(ab and ab.head_vs_logits < 1e-4, target .. ": the ablation's head is the classifier's")
    T.eq(ab.counted + ab.zero, N, target .. ": every image's ablation map")
    T.eq(#t.shifted, 5, target .. ": five shifts")
    T.eq(t.shifted[1].border, t.blocks[1].gradcam.corner + t.blocks[1].gradcam.border,
      target .. ": the unshifted maxima are the block's")
    for _, k in ipairs{"occlusion_logit", "occlusion_prob"} do T.eq(#t[k].argmax, 8, k .. " on the last grid") end
  end
  local d = assert(sx.load(dump))
  T.eq(d.x:shape(), {N, 1, 32, 32}, "dump: images")
  for _, tag in ipairs{"pred_last", "pred_prev", "other_last", "other_prev"} do
    T.eq(d["maps_" .. tag]:shape(), {N, 1, 32, 32}, "dump: maps_" .. tag)
    T.ok(d["raw_" .. tag] ~= nil, "dump: raw_" .. tag)
  end
end)

T.rm_rf(dir)
T.done()
