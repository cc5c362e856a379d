-- tests/lua/test_torch_mirror.lua — the PyTorch mirror of the training step
-- (tests/bench/torch_mirror.py, timed by make bench) is still our networks:
-- with our weights loaded it gives our outputs (classifier logits, mapping,
-- synthesis with given noise, D, E, perceptual distance, R1's input
-- gradient), at the stylex defaults and at a different configuration, and
-- every parameter of ours has its place in it. Skipped (passes) when
-- /usr/bin/python3 cannot import torch: the product never needs Python.
local sx = require "stylex"
local trainer = require "stylex.trainer"
local T = dofile("tests/lua/harness.lua")
local U = dofile("tests/bench/bench_util.lua")

local why = U.mirror_unavailable()
if why then
  print("test_torch_mirror.lua: skipped (" .. why .. ")")
  T.done()
  return
end

local TOL = 1e-4
local function check(name, overrides, cls)
  T.test(name, function()
    sx.manual_seed(3)
    local C = sx.models.Classifier(cls)
    local cfg = trainer.config(overrides)
    local S = trainer.new(cfg, C)
    local conf = U.mirror_config(cfg, S.G, C, cfg.batch)
    local rep, err = U.mirror_check(conf, {G = S.G, D = S.D, E = S.E, C = C}, 8)
    if not T.ok(rep, "the check ran: " .. tostring(err)) then return end
    T.eq(#rep.missing, 0, "every mirror parameter has one of ours: missing " .. table.concat(rep.missing, " "))
    T.eq(#rep.unmatched, 0, "every parameter of ours has its place: " .. table.concat(rep.unmatched, " "))
    for _, k in ipairs{"logits", "w", "img", "d", "e", "perceptual", "r1_grad"} do
      local d = rep.rel_diff[k]
      T.ok(d and d <= TOL, string.format("%s: relative difference %s (tolerance %g)", k, tostring(d), TOL))
    end
  end)
end

check("the stylex defaults", {}, {n_classes = 2, resolution = 32, img_channels = 1})
check("3 channels, 3 classes, narrow networks", {img_channels = 3, z_dim = 32, w_dim = 64, mapping_layers = 2,
  channels = {64, 32, 32, 16}}, {n_classes = 3, resolution = 32, img_channels = 3, channels = {16, 32}, hidden = 32})

T.done()
