-- tests/lua/test_flops.lua — the GEMM FLOP counter (sx.flops_reset /
-- sx.flops_count), the sgemm speed probe (sx.sgemm_peak) and the wall clock
-- (sx.wall_time) that tests/bench/bench_train.lua is built on. Counts are
-- exact: every sgemm adds 2*M*N*K, whichever thread runs it.
local T = dofile("tests/lua/harness.lua")
local sx = require "stylex"

local function counted(fn)
  sx.flops_reset()
  fn()
  return sx.flops_count()
end

T.test("matmul counts 2*M*N*K", function()
  local a, b = sx.randn{4, 5}, sx.randn{5, 6}
  T.eq(counted(function() return sx.matmul(a, b) end), 2 * 4 * 5 * 6)
  -- large enough to be split over the pool: still counted once
  local c, d = sx.randn{256, 128}, sx.randn{128, 300}
  T.eq(counted(function() return sx.matmul(c, d) end), 2 * 256 * 128 * 300)
  -- a batched matmul counts every matrix of the batch
  local e, f = sx.randn{3, 4, 5}, sx.randn{3, 5, 2}
  T.eq(counted(function() return sx.matmul(e, f) end), 3 * 2 * 4 * 5 * 2)
  T.eq(sx.flops_count(), 3 * 2 * 4 * 5 * 2, "reading does not reset")
  sx.flops_reset()
  T.eq(sx.flops_count(), 0)
end)

T.test("convolutions count their MACs twice; backward adds input and weight gradients", function()
  local N, C, H, Cout, k = 8, 6, 16, 5, 3
  local macs = N * Cout * H * H * C * k * k
  local x, w = sx.randn{N, C, H, H}, sx.randn{Cout, C, k, k}
  T.eq(counted(function() return sx.conv2d(x, w, nil, {padding = 1}) end), 2 * macs, "conv2d")
  -- stride 2 goes through col2im in conv_transpose2d: same MACs as its conv2d
  local y2 = sx.randn{N, Cout, H // 2, H // 2}
  local macs2 = N * Cout * (H // 2) * (H // 2) * C * k * k
  T.eq(counted(function() return sx.conv_transpose2d(y2, w, nil,
    {stride = 2, padding = 1, output_padding = 1}) end), 2 * macs2, "conv_transpose2d, stride 2")
  local gy = sx.randn{N, Cout, H, H}
  T.eq(counted(function() return sx.conv2d_weight(x, gy, {k, k}, {padding = 1}) end), 2 * macs, "conv2d_weight")
  -- grouped: each group is its own GEMM
  local wg = sx.randn{Cout * 2, C // 2, k, k}
  local macsg = N * Cout * 2 * H * H * (C // 2) * k * k
  T.eq(counted(function() return sx.conv2d(x, wg, nil, {padding = 1, groups = 2}) end), 2 * macsg, "groups 2")
  local xr, wr = x:requires_grad(true), w:requires_grad(true)
  T.eq(counted(function() sx.conv2d(xr, wr, nil, {padding = 1}):sum():backward() end), 3 * 2 * macs,
    "forward + backward")
  -- sx.grad for the input only: the weight's gradient is not computed (it is
  -- what R1's gradient pass asks for while D's weights require grad)
  T.eq(counted(function() sx.grad(sx.conv2d(xr, wr, nil, {padding = 1}):sum(), xr) end), 2 * 2 * macs,
    "grad for the input only")
  T.eq(counted(function() sx.grad(sx.conv2d(xr, wr, nil, {padding = 1}):sum(), wr) end), 2 * 2 * macs,
    "grad for the weight only")
  -- ... and with create_graph the second backward still reaches the weight
  local gx = sx.grad(sx.conv2d(xr, wr, nil, {padding = 1}):sum(), xr, {create_graph = true})
  wr:zero_grad()
  T.eq(counted(function() (gx * gx):sum():backward() end), 2 * macs, "the gradient's own backward, weight only")
  T.ok(wr.grad ~= nil, "the weight gets its second-order gradient")
end)

T.test("sgemm_peak and wall_time", function()
  local t0 = sx.wall_time()
  local before = sx.flops_count()
  local gf = sx.sgemm_peak()
  local t1 = sx.wall_time()
  T.ok(type(gf) == "number" and gf > 0 and gf < 1e5, "a plausible GFLOP/s: " .. tostring(gf))
  T.ok(t1 > t0, "the clock advances")
  -- a median of 5 timed runs: at least 3 of them took as long, all within (t1 - t0)
  T.ok(gf * 1e9 * (t1 - t0) >= 3 * 2 * 1024 ^ 3, "the timing agrees with the wall clock")
  T.eq(sx.flops_count() - before, 6 * 2 * 1024 ^ 3, "its sgemms count")
end)

T.done()
