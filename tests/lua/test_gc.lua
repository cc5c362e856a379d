-- tests/lua/test_gc.lua — tensors and graphs are freed: thousands of small
-- graphs (with backward, double backward and failing calls) are built and
-- dropped, and sx.mem_live() returns to its starting value; `<close>` and
-- `:free()` each release at once (tested apart); a loop making
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

-- The two releases are measured apart, each where the collector cannot have
-- done the work instead: it is stopped, <close> is measured right after the
-- scope ends (nothing is allocated in between, so not even the binding's GC
-- steps run), and :free() while a live local still references the tensor.
local function without_gc(f)
  collectgarbage("stop")
  local ok, err = pcall(f)
  collectgarbage("restart")
  if not ok then error(err, 0) end
end

-- A release test: step(held, left) runs 200 times with the collector
-- stopped; it calls held() while its tensors are alive and left() right after
-- releasing them. At least min_held bytes must be counted at held(), none at
-- left(), and nothing after the test.
local function release_test(name, min_held, step)
  T.test(name, function()
    local start = settle()
    local held, left = math.huge, 0
    without_gc(function()
      for _ = 1, 200 do
        step(function() held = math.min(held, sx.mem_live() - start) end,
          function() left = math.max(left, sx.mem_live() - start) end)
      end
    end)
    T.ok(held >= min_held, name .. ": the tensors are counted before their release")
    T.eq(left, 0, name .. ": bytes left after the release, at worst over 200 steps")
    T.eq(settle(), start)
  end)
end

release_test("<close> releases at the end of its scope", 4000, function(held, left)
  do
    local a <close> = sx.ones{1000}
    held()
  end
  left()
end)

local freed = true
release_test(":free() releases at once, while the tensors are still referenced", 8000, function(held, left)
  local a = sx.ones{1000}
  local b = a * 2
  held()
  b:free()
  a:free()
  left()
  b:free() -- a second call does nothing
  freed = freed and not pcall(sx.add, a, b) -- both are still referenced here
end)
T.test("freed tensors refuse to be used", function() T.ok(freed) end)

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
