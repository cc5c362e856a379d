-- tests/lua/test_gc.lua — tensors and graphs are freed: thousands of small
-- graphs (with backward, double backward and failing calls) are built and
-- dropped, and sx.mem_live() returns to its starting value; a loop making
-- large tensors without collectgarbage() stays bounded, because the binding
-- tells Lua's GC about C memory. Also the script run under valgrind:
--   valgrind --leak-check=full build/stylex tests/lua/test_gc.lua
local T = dofile("tests/lua/harness.lua")
local sx = require "stylex"

local function settle()
  collectgarbage("collect")
  collectgarbage("collect")
  return sx.mem_live()
end

T.test("graphs are freed", function()
  local start = settle()
  sx.manual_seed(5)
  local w = sx.randn{8, 8}:requires_grad(true)
  local k = sx.randn{2, 1, 3, 3}:requires_grad(true)
  local kept_grads = {}
  for i = 1, 3000 do
    local x = sx.randn{4, 8}:requires_grad(true)
    local h = sx.matmul(x, w):relu()
    local loss = sx.cross_entropy(h, {i % 8, (i + 1) % 8, 0, 7}) + (h * h):mean()
    loss:backward()
    if i % 10 == 0 then
      local img = sx.randn{1, 1, 6, 6}:requires_grad(true)
      local out = sx.conv2d(img, k, nil, {padding = 1}):sum()
      local g = sx.grad(out, img, {create_graph = true})
      ;(g * g):sum():backward()
      kept_grads[#kept_grads + 1] = x.grad
    end
    if i % 100 == 0 then
      -- failing calls must not leak what they allocated before failing
      pcall(sx.cat, {h, sx.zeros{3}})
      pcall(sx.matmul, h, sx.zeros{3, 3})
      pcall(sx.no_grad, function() local _ = h * 2 error("stop") end)
      pcall(sx.tensor, {{1, 2}, {3}})
    end
  end
  T.ok(sx.mem_live() > start, "something is alive before dropping")
  kept_grads = nil
  w, k = nil, nil
  T.eq(settle(), start, "mem_live returns to its start")
end)

T.test("free and close release at once", function()
  local start = settle()
  for _ = 1, 200 do
    local a <close> = sx.ones{100}
    local b = a * 2
    b:free()
  end
  T.eq(sx.mem_live() <= start + 200 * 400, true)
  T.eq(settle(), start)
end)

T.test("C memory paces the GC", function()
  local start = settle()
  local peak = 0
  -- 400 MB in 1 MB tensors, never collected explicitly
  for _ = 1, 400 do
    local t = sx.zeros{256, 1024}
    local u = t + 1
    peak = math.max(peak, sx.mem_live() - start)
    local _ = u
  end
  T.ok(peak < 64 * 2 ^ 20, string.format("live tensor memory stays bounded (peak %.1f MB)", peak / 2 ^ 20))
  T.eq(settle(), start)
end)

T.done()
