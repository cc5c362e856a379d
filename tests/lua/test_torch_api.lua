-- tests/lua/test_torch_api.lua — the names a PyTorch or Torch7 user reaches
-- for (issue 17): t[i] slices, t:size(), sx.zeros(2, 3), view / unsqueeze /
-- squeeze / flatten, min / max with indices, argmax, clamp, std, sin / cos,
-- where, comparisons, checked in-place updates, sx.nn.Sequential with
-- BatchNorm2d, ReLU, MaxPool2d, Dropout and train / eval, and sx.grad's
-- allow_unused. Ends with the kind of script such a user writes first: a
-- CNN trained 30 Adam steps, saved and reloaded, and a gradient penalty
-- through create_graph.
local T = dofile("tests/lua/harness.lua")
local sx = require "stylex"

-- Finite-difference check of sx.grad through the binding: f maps a list of
-- tensors to a tensor; compares <f, r>'s gradient at up to 12 elements of each.
local function gradcheck(f, xs, eps, tol)
  eps, tol = eps or 1e-2, tol or 2e-2
  local out = f(xs)
  local r = sx.randn(out:size())
  local gs = sx.grad((out * r):sum(), xs, { allow_unused = true })
  local worst = 0
  for k, x in ipairs(xs) do
    local n, flat, g = x:numel(), x:detach():view(-1), gs[k]:contiguous():view(-1)
    for e = 1, n, math.max(1, n // 12) do
      local keep = flat[e]:item()
      flat[e] = keep + eps
      local fp = sx.no_grad(function() return (f(xs) * r):sum():item() end)
      flat[e] = keep - eps
      local fm = sx.no_grad(function() return (f(xs) * r):sum():item() end)
      flat[e] = keep
      local num = (fp - fm) / (2 * eps)
      worst = math.max(worst, math.abs(num - g[e]:item()) / (2e-3 + tol * math.abs(num)))
    end
  end
  return worst
end

T.test("t[i]: a 1-based view along dimension 1, an error outside", function()
  local t = sx.tensor{{1, 2, 3}, {4, 5, 6}}
  T.eq(t[1]:totable(), {1, 2, 3})
  T.eq(t[2][3]:item(), 6, "t[i][j] of a 2-d tensor is a 0-d tensor")
  T.eq(t[-1]:totable(), {4, 5, 6}, "negative counts from the end")
  T.raises("index 3 out of range for dimension 1 of size 2", function() return t[3] end)
  T.raises("index 0 out of range", function() return t[0] end)
  T.raises("not an integer index", function() return t[1.5] end)
  T.raises("0-d tensor", function() return sx.tensor(1)[1] end)
  local row = t[2]
  row:fill(0)
  T.eq(t:totable(), {{1, 2, 3}, {0, 0, 0}}, "a view: writing through it writes t")
  local tt = t:transpose(1, 2)
  T.eq(tt[3]:totable(), {3, 0}, "a slice of a non-contiguous tensor")
  tt[3]:fill(9)
  T.eq(t:totable(), {{1, 2, 9}, {0, 0, 9}}, "... is a view too")
  t[1] = 7
  T.eq(t[1]:totable(), {7, 7, 7}, "t[i] = number fills the slice")
  t[2] = {1, 2, 3}
  T.eq(t[2]:totable(), {1, 2, 3}, "t[i] = table copies")
  t[2] = sx.tensor{5}
  T.eq(t[2]:totable(), {5, 5, 5}, "t[i] = tensor broadcasts")
  T.raises("only t[i] = v", function() t.foo = 1 end)
  T.eq(t.foo, nil, "unknown fields still read as nil")
  -- differentiable: the gradient lands in the slice
  local x = sx.randn(3, 2):requires_grad(true)
  local g = sx.grad((x[2] * sx.tensor{2, 3}):sum(), x)
  T.eq(g:totable(), {{0, 0}, {2, 3}, {0, 0}})
end)

T.test("sizes: t:size(), t:size(d), sx.zeros(2, 3)", function()
  local t = sx.zeros(2, 3)
  T.eq(t:size(), {2, 3}, "t:size() is the shape table")
  T.eq(t:size(2), 3)
  T.eq(t:size(-1), 3)
  T.eq(t:shape(), {2, 3}, "t:shape() unchanged")
  T.eq(sx.zeros{2, 3}:size(), {2, 3})
  T.eq(sx.ones(4):totable(), {1, 1, 1, 1})
  T.eq(sx.full(2, 2, 7):totable(), {{7, 7}, {7, 7}}, "full(sizes..., value)")
  T.eq(sx.full({2}, 7):totable(), {7, 7})
  T.eq(sx.randn(3, 1, 2):size(), {3, 1, 2})
  T.eq(sx.rand(5):size(1), 5)
  T.raises("full", function() return sx.full(3) end)
  T.raises("integer", function() return sx.zeros(2, 1.5) end)
  T.raises("out of range", function() return sx.zeros(-1) end)
end)

T.test("view, unsqueeze, squeeze, flatten, select", function()
  local t = sx.arange(6)
  local v = t:view(2, 3)
  T.eq(v:size(), {2, 3})
  T.eq(t:view{3, -1}:size(), {3, 2})
  v:fill(1)
  T.eq(t:totable(), {1, 1, 1, 1, 1, 1}, "view shares storage")
  T.raises("not contiguous", function() return v:transpose(1, 2):view(6) end)
  local x = sx.zeros(2, 3)
  T.eq(x:unsqueeze(1):size(), {1, 2, 3})
  T.eq(x:unsqueeze(-1):size(), {2, 3, 1})
  T.eq(x:unsqueeze(3):size(), {2, 3, 1})
  T.eq(sx.zeros(2, 1, 3, 1):squeeze():size(), {2, 3})
  T.eq(sx.zeros(2, 1, 3, 1):squeeze(2):size(), {2, 3, 1})
  T.eq(x:squeeze(1):size(), {2, 3}, "a dimension of size > 1 stays")
  T.eq(sx.zeros(2, 3, 4):flatten():size(), {24})
  T.eq(sx.zeros(2, 3, 4):flatten(2):size(), {2, 12})
  T.eq(sx.zeros(2, 3, 4, 5):flatten(2, 3):size(), {2, 12, 5})
  T.eq(sx.tensor{{1, 2}, {3, 4}}:select(2, 2):totable(), {2, 4})
end)

T.test("min, max with indices; argmax; std; clamp; sin; cos; where; comparisons", function()
  local t = sx.tensor{{3, 1, 2}, {-1, 5, -1}}
  local v, i = t:max(2)
  T.eq(v:totable(), {3, 5})
  T.eq(i:totable(), {0, 1}, "indices are 0-based, like argmax (class ids)")
  v, i = t:min(2, true)
  T.eq(v:totable(), {{1}, {-1}})
  T.eq(i:totable(), {{1}, {0}}, "keepdim applies to the indices too; the first minimum")
  T.eq(t:max():item(), 5, "without a dimension: the maximum of all, one value")
  T.eq(select("#", t:max()), 1)
  T.eq(t:min():item(), -1)
  T.eq(t:argmax():item(), 4, "argmax of the flattened tensor")
  T.eq(t:argmax(1):totable(), {0, 1, 0})
  T.eq(t:argmin(2):totable(), {1, 0})
  T.near(t:std(2):totable(), {1, math.sqrt(12)}, 1e-5, "unbiased by default")
  T.near(t:std(2, false, false):totable(), {math.sqrt(2 / 3), math.sqrt(8)}, 1e-5)
  T.near(t:var():item(), 27.5 / 5, 1e-5, "over all elements")
  T.eq(t:clamp(0, 2):totable(), {{2, 1, 2}, {0, 2, 0}})
  T.eq(t:clamp(nil, 0):totable(), {{0, 0, 0}, {-1, 0, -1}})
  T.eq(t:clamp(2):totable(), {{3, 2, 2}, {2, 5, 2}})
  T.near(sx.tensor{0, 1}:sin():totable(), {0, math.sin(1)}, 1e-7)
  T.near(sx.tensor{0, 1}:cos():totable(), {1, math.cos(1)}, 1e-7)
  T.eq(t:gt(1):totable(), {{1, 0, 1}, {0, 1, 0}}, "float masks")
  T.eq(t:lt(sx.tensor{3, 3, 0}):totable(), {{0, 1, 0}, {1, 0, 1}}, "tensors broadcast")
  T.eq(t:eq(-1):totable(), {{0, 0, 0}, {1, 0, 1}})
  T.eq(t:ge(2):totable(), {{1, 0, 1}, {0, 1, 0}})
  T.eq(t:le(1):totable(), {{0, 1, 0}, {1, 0, 1}})
  T.eq(t:ne(1):totable(), {{1, 0, 1}, {1, 1, 1}})
  T.eq(sx.where(t:gt(0), t, 0):totable(), {{3, 1, 2}, {0, 5, 0}})
  T.eq(sx.where(sx.tensor{1, 0}, sx.tensor{5, 1 / 0}, sx.tensor{0 / 0, 2}):totable(), {5, 2},
       "where selects, it does not mix: no inf * 0")
end)

T.test("gradients of the new ops through the binding (finite differences)", function()
  sx.manual_seed(3)
  local a = sx.tensor{{0.3, -1.1, 0.8}, {2.0, 0.55, 0.1}}:requires_grad(true)
  local b = sx.randn(2, 3):requires_grad(true)
  local mask = sx.tensor{{1, 0, 1}, {0, 0, 1}}
  local cases = {
    sin = function(x) return x[1]:sin() end,
    cos = function(x) return x[1]:cos() end,
    clamp = function(x) return x[1]:clamp(-0.5, 0.4) end,
    std = function(x) return x[1]:std(2) end,
    var = function(x) return x[1]:var() end,
    min = function(x) return (x[1]:min(1)) end,
    max = function(x) return (x[1]:max(2, true)) end,
    where = function(x) return sx.where(mask, x[1], x[2]) end,
    index = function(x) return x[1][2] * x[2][1] end,
    view = function(x) return x[1]:view(3, 2):unsqueeze(1):squeeze():flatten() end,
  }
  for name, f in pairs(cases) do
    local worst = gradcheck(f, {a, b})
    T.ok(worst <= 1, name .. ": gradient matches finite differences (" .. worst .. ")")
  end
end)

T.test("in-place updates: allowed on plain tensors, refused on tracked ones", function()
  local t = sx.ones(2, 3)
  T.eq(t:add_(1):totable(), {{2, 2, 2}, {2, 2, 2}}, "returns t")
  t:add_(sx.tensor{1, 2, 3}, 0.5)
  T.eq(t[1]:totable(), {2.5, 3, 3.5}, "add_(x, alpha) broadcasts x")
  t:mul_(2)
  T.eq(t[2]:totable(), {5, 6, 7})
  t:copy_(sx.tensor{1, 2, 3})
  T.eq(t:totable(), {{1, 2, 3}, {1, 2, 3}})
  t:zero_()
  T.eq(t:sum():item(), 0)
  T.raises("does not fit", function() sx.ones(3):add_(sx.ones(2, 3)) end)
  local w = sx.ones(2):requires_grad(true)
  T.raises("add_: in-place update of a leaf that requires grad", function() w:add_(1) end)
  T.raises("zero_", function() w:zero_() end)
  T.raises("made by mul_scalar", function() (w * 2):mul_(2) end)
  T.raises("index assignment", function() w[1] = 3 end)
  sx.no_grad(function() w:add_(1) end)
  T.eq(w:totable(), {2, 2}, "inside no_grad a leaf can be updated (as optimisers do)")
  T.eq(w:requires_grad(), true)
end)

T.test("nn modules: Sequential, BatchNorm2d, ReLU, MaxPool2d, Dropout, train/eval", function()
  sx.manual_seed(1)
  local net = sx.nn.Sequential{
    sx.nn.Conv2d{["in"] = 1, out = 4, kernel = 3}, sx.nn.BatchNorm2d(4), sx.nn.ReLU(), sx.nn.MaxPool2d(2),
    sx.nn.Dropout(0.5), sx.nn.Flatten(), sx.nn.Linear{["in"] = 64, out = 3}}
  T.eq(#net, 7)
  T.ok(tostring(net):find("BatchNorm2d, ReLU, MaxPool2d, Dropout", 1, true), tostring(net))
  local x = sx.randn(6, 1, 8, 8)
  T.eq(net(x):size(), {6, 3})
  local sd = net:state_dict()
  T.ok(sd["2.running_mean"] and sd["2.running_var"] and sd["2.num_batches_tracked"], "BatchNorm's buffers are saved")
  T.ok(sd["1.weight"] and sd["7.bias"], "parameters are named by position")
  T.eq(#net:parameters(), 6, "conv w, b; bn w, b; linear w, b")
  T.eq(net:is_training(), true)
  T.ok(not sx.no_grad(function() return sx.nn.Dropout(0.5)(sx.ones(100)):eq(1):sum():item() == 100 end),
       "a new Dropout is in training mode (it drops)")
  net:eval()
  T.eq(net[2]:is_training(), false, "eval reaches the parts")
  T.eq(net[5]:is_training(), false)
  local y1, y2 = net(x), net(x)
  T.eq((y1 - y2):abs():max():item(), 0, "eval: deterministic (no dropout, running statistics)")
  local rm = sd["2.running_mean"]
  T.eq(net:state_dict()["2.running_mean"]:totable(), rm:totable(), "eval forwards leave the running statistics")
  net:train()
  T.eq(net[2]:is_training(), true)
  net(x)
  T.ok((net:state_dict()["2.num_batches_tracked"] - sd["2.num_batches_tracked"]):item() == 1, "a training forward counts")
  -- a Sequential of Lua modules and functions, built Torch7's way
  local s = sx.nn.Sequential():add(sx.nn.Linear{["in"] = 2, out = 2}):add(function(h) return h:tanh() end)
  T.eq(s(sx.ones(1, 2)):size(), {1, 2})
  T.raises("Sequential: part 1 is a number", function() return sx.nn.Sequential{1} end)
  -- a Lua module of the nn.md kind: sx.nn.eval / sx.nn.train walk it
  local model = {enc = net, head = {sx.nn.Dropout(0.2)}, _cache = sx.nn.Dropout(), training = true}
  T.eq(sx.nn.eval(model), model, "returns its argument")
  T.eq({net[2]:is_training(), model.head[1]:is_training(), model.training}, {false, false, false})
  T.eq(model._cache:is_training(), true, "keys starting with _ are skipped, as in every walk")
  sx.nn.train(model)
  T.eq({net[5]:is_training(), model.head[1]:is_training(), model.training}, {true, true, true})
  T.raises("bad argument #1 to 'train'", function() sx.nn.train(5) end)
  T.near(sx.nn.LeakyReLU()(sx.tensor{-1}):item(), -0.01, 1e-7, "torch.nn's default slope")
  T.near(sx.nn.LeakyReLU(0.2)(sx.tensor{-1}):item(), -0.2, 1e-7)
  T.eq(sx.nn.AvgPool2d(2)(sx.ones(1, 1, 2, 2)):size(), {1, 1, 1, 1})
  local bn = sx.nn.BatchNorm2d(2, {affine = false, momentum = 0.5})
  T.eq(#bn:parameters(), 0)
  bn(sx.tensor{{{{1, 3}}, {{0, 0}}}, {{{5, 7}}, {{0, 0}}}})
  T.near(bn:state_dict().running_mean:totable(), {2, 0}, 1e-6, "momentum 0.5 of mean 4")
end)

T.test("sx.grad: allow_unused gives zeros where ReLU cuts the path", function()
  local x = sx.tensor{-1, 2}:requires_grad(true)
  local w = sx.tensor{0.5}:requires_grad(true)
  local z = (x * w):relu():sum()
  local g = sx.grad(z, w, {create_graph = true})
  T.raises("not reached from the outputs", function() return sx.grad(g:sum(), w) end)
  T.eq(sx.grad(g:sum(), w, {allow_unused = true}):totable(), {0})
  local gx = sx.grad(x:relu():sum(), x, {create_graph = true})
  T.raises("does not require grad", function() return sx.grad(gx:sum(), x) end)
  T.eq(sx.grad(gx:sum(), x, {allow_unused = true}):totable(), {0, 0}, "an output without a graph: zeros")
end)

T.test("a PyTorch user's first script", function()
  sx.manual_seed(7)
  local net = sx.nn.Sequential{
    sx.nn.Conv2d{["in"] = 1, out = 8, kernel = 3}, sx.nn.BatchNorm2d(8), sx.nn.ReLU(), sx.nn.MaxPool2d(2),
    sx.nn.Conv2d{["in"] = 8, out = 8, kernel = 3}, sx.nn.ReLU(), sx.nn.MaxPool2d(2),
    sx.nn.Flatten(), sx.nn.Dropout(0.1), sx.nn.Linear{["in"] = 8 * 2 * 2, out = 2}}
  -- two classes: a bright top half or a bright bottom half, with noise
  local N = 16
  local x = sx.randn(N, 1, 8, 8) * 0.3
  local labels = {}
  for n = 1, N do
    labels[n] = n % 2
    local rows = x[n][1]:narrow(1, labels[n] == 0 and 1 or 5, 4)
    rows:add_(1)
  end
  local opt = sx.optim.Adam(net:parameters(), {lr = 1e-2})
  local first, last
  for step = 1, 30 do
    opt:zero_grad()
    local loss = sx.cross_entropy(net(x), labels)
    loss:backward()
    opt:step()
    first = first or loss:item()
    last = loss:item()
  end
  T.ok(last < 0.5 * first, string.format("30 Adam steps lower the loss (%.3f -> %.3f)", first, last))
  net:eval()
  local pred = net(x):argmax(2)
  T.eq(pred:eq(sx.tensor(labels)):sum():item(), N, "it separates the two classes")
  -- save, reload into a fresh network, same outputs
  local dir = T.tmpdir()
  local path = dir .. "/net.safetensors"
  assert(sx.save(path, net:state_dict(), {step = "30"}))
  local net2 = sx.nn.Sequential{
    sx.nn.Conv2d{["in"] = 1, out = 8, kernel = 3}, sx.nn.BatchNorm2d(8), sx.nn.ReLU(), sx.nn.MaxPool2d(2),
    sx.nn.Conv2d{["in"] = 8, out = 8, kernel = 3}, sx.nn.ReLU(), sx.nn.MaxPool2d(2),
    sx.nn.Flatten(), sx.nn.Dropout(0.1), sx.nn.Linear{["in"] = 8 * 2 * 2, out = 2}}
  net2:load_state_dict((sx.load(path))):eval()
  T.eq((net2(x) - net(x)):abs():max():item(), 0, "reloaded: the same outputs")
  -- a gradient penalty (R1 style) through create_graph: d/dtheta of |dD/dx|^2
  net:train()
  local xr = x:detach():requires_grad(true)
  local out = net(xr):sum()
  local gx = sx.grad(out, xr, {create_graph = true})
  local penalty = gx:square():sum()
  local params = net:parameters()
  local gp = sx.grad(penalty, params, {allow_unused = true})
  T.eq(#gp, #params)
  T.ok(gp[1]:abs():sum():item() > 0, "the penalty has a gradient in the first conv's weight")
  T.rm_rf(dir)
end)

T.done()
