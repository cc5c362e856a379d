-- tests/lua/test_nn.lua — layers, modules, optimisers and EMA from Lua:
-- shapes and argument errors, parameters shared with C (in-place updates
-- visible), state dicts and their errors, a Lua-composed MLP learning XOR,
-- optimiser state through a checkpoint file giving an exact resume,
-- parameter groups with different learning rates, EMA.
local T = dofile("tests/lua/harness.lua")
local sx = require "stylex"

local max_abs_diff = T.max_abs_diff

T.test("Linear and Conv2d shapes", function()
  sx.manual_seed(1)
  local lin = sx.nn.Linear{["in"] = 3, out = 2}
  T.eq(lin:type(), "Linear")
  T.eq(lin:num_params(), 8)
  T.eq(lin(sx.randn{4, 3}):shape(), {4, 2}, "m(x)")
  T.eq(lin:forward(sx.randn{5, 4, 3}):shape(), {5, 4, 2}, "m:forward(x), leading dims kept")
  T.ok(tostring(lin):find("Linear(in=3, out=2", 1, true), tostring(lin))
  local nb = sx.nn.Linear{["in"] = 3, out = 2, bias = false}
  T.eq(#nb:parameters(), 1, "bias = false")

  local conv = sx.nn.Conv2d{["in"] = 4, out = 6, stride = 2, groups = 2}
  T.eq(conv:named_parameters().weight:shape(), {6, 2, 3, 3})
  T.eq(conv(sx.randn{2, 4, 8, 8}):shape(), {2, 6, 4, 4}, "padding defaults to kernel // 2")
  local c1 = sx.nn.Conv2d{["in"] = 3, out = 5, kernel = 1}
  T.eq(c1(sx.randn{1, 3, 7, 7}):shape(), {1, 5, 7, 7})
  T.raises("channels", function() conv(sx.randn{1, 3, 8, 8}) end)

  local eq = sx.nn.Linear{["in"] = 16, out = 4, equalized = true, lr_mul = 0.01, bias_init = 2}
  local ps = eq:named_parameters()
  local x = sx.randn{3, 16}
  local want = sx.linear(x, ps.weight * (0.01 / 4), ps.bias * 0.01)
  T.near(max_abs_diff(eq(x), want), 0, 1e-5, "equalized: weight * lr_mul / sqrt(in), bias * lr_mul")
  T.near((ps.bias * 0.01):totable(), {2, 2, 2, 2}, 1e-5, "the initial bias is bias_init")
end)

T.test("argument errors", function()
  T.raises("bad argument #1 to 'Linear' (option 'in' is required)", sx.nn.Linear, {out = 2})
  T.raises("bad argument #1 to 'Linear' (option 'out' must be an integer", sx.nn.Linear, {["in"] = 2, out = 0})
  T.raises("bad argument #1 to 'Linear' (unknown option 'outs'", sx.nn.Linear, {["in"] = 2, outs = 3})
  T.raises("bad argument #1 to 'Linear' (table of options expected, got number)", sx.nn.Linear, 5)
  T.raises("bad argument #1 to 'Linear' (option 'bias' must be a boolean", sx.nn.Linear,
    {["in"] = 2, out = 2, bias = 1})
  T.raises("bad argument #1 to 'Conv2d' (option 'groups' (3) must divide", sx.nn.Conv2d,
    {["in"] = 4, out = 6, groups = 3})
  T.raises("bad argument #1 to 'Conv2d' (option 'lr_mul' must be positive)", sx.nn.Conv2d,
    {["in"] = 4, out = 6, lr_mul = 0})
  local lin = sx.nn.Linear{["in"] = 2, out = 2}
  T.raises("tensor expected", function() lin("x") end)
  T.raises("does not fit", function() lin(sx.randn{3, 5}) end)
  T.raises("bad argument #1 to 'Adam' (no parameters", sx.optim.Adam, {})
  T.raises("bad argument #1 to 'Adam' (entry 2 is number, expected a tensor)", sx.optim.Adam, {lin:parameters()[1], 3})
  T.raises("bad argument #1 to 'Adam' (group 1: 'lr' must be a number >= 0)", sx.optim.Adam,
    {{params = lin:parameters(), lr = -1}})
  T.raises("bad argument #2 to 'Adam' (betas must be in [0, 1))", sx.optim.Adam, lin:parameters(), {betas = {1, 0.9}})
  T.raises("bad argument #2 to 'SGD' (option 'lr' is required)", sx.optim.SGD, lin:parameters(), {momentum = 0.9})
  T.raises("same tensor", sx.optim.SGD, {lin:parameters()[1], lin:parameters()[1]}, {lr = 1})
  T.raises("bad argument #3 to 'ema_update' (beta must be in [0, 1])", sx.nn.ema_update, lin, lin, 2)
  lin:free()
  T.raises("module has been freed", function() lin(sx.randn{1, 2}) end)
  lin:free()
end)

T.test("parameters are the live C tensors", function()
  sx.manual_seed(2)
  local lin = sx.nn.Linear{["in"] = 3, out = 2, bias_init = 0.5}
  local ps = lin:parameters()
  T.eq(#ps, 2)
  T.ok(ps[1] == lin:parameters()[1], "the same userdata every time")
  T.ok(ps[1] == lin:named_parameters().weight)
  T.eq(ps[1]:requires_grad(), true)
  ps[1]:fill(0)
  T.eq(lin(sx.ones{1, 3}):totable(), {{0.5, 0.5}}, "an in-place update is what forward uses")
  local y = lin(sx.ones{2, 3}):sum()
  y:backward()
  T.eq(ps[1].grad:totable(), {{2, 2, 2}, {2, 2, 2}})
  lin:zero_grad()
  T.eq(ps[1].grad, nil, "m:zero_grad()")
end)

T.test("state_dict round trip and load errors", function()
  sx.manual_seed(3)
  local a = sx.nn.Conv2d{["in"] = 2, out = 3}
  sx.manual_seed(4)
  local b = sx.nn.Conv2d{["in"] = 2, out = 3}
  local sd = a:state_dict()
  T.ok(sd.weight ~= a:named_parameters().weight, "state_dict holds copies")
  T.ok(max_abs_diff(b:named_parameters().weight, sd.weight) > 0)
  T.eq(b:load_state_dict(sd), b, "load_state_dict returns the module")
  T.eq(max_abs_diff(b:named_parameters().weight, sd.weight), 0)
  sd.weight:fill(7)
  T.ok(a:named_parameters().weight:totable()[1][1][1][1] ~= 7, "a snapshot, not a view")

  T.raises("missing entry 'bias'", function() b:load_state_dict{weight = sd.weight} end)
  T.raises("unexpected entry 'extra'",
    function() b:load_state_dict{weight = sd.weight, bias = sd.bias, extra = sx.ones{1}} end)
  T.raises("entry 'bias' has shape [4], expected [3]",
    function() b:load_state_dict{weight = sd.weight, bias = sx.ones{4}} end)
  T.raises("entry 'bias' is number, expected a tensor", function() b:load_state_dict{weight = sd.weight, bias = 1} end)
  T.eq(b:named_parameters().weight:totable()[1][1][1][1] == 7, false, "failed loads change nothing")
  b:load_state_dict({weight = sd.weight}, false)
  T.eq(b:named_parameters().weight:totable()[1][1][1][1], 7, "non-strict load takes what is there")
end)

-- A Lua-composed module: fields hold parts, the class table holds methods.
local MLP = {}
MLP.__index = MLP
function MLP.new(sizes)
  local self = setmetatable({layers = {}}, MLP)
  for i = 1, #sizes - 1 do self.layers[i] = sx.nn.Linear{["in"] = sizes[i], out = sizes[i + 1]} end
  self._cache = sx.nn.Linear{["in"] = 1, out = 1} -- '_' fields are not parts
  self.parent = self                              -- back-references are harmless
  return self
end
function MLP:forward(x)
  for i, l in ipairs(self.layers) do
    x = l(x)
    if i < #self.layers then x = x:tanh() end
  end
  return x
end
function MLP:parameters() return sx.nn.parameters(self) end

local xor_x = sx.tensor{{0, 0}, {0, 1}, {1, 0}, {1, 1}}
local xor_y = sx.tensor{{0}, {1}, {1}, {0}}

local function train(model, opt, steps)
  local loss
  for _ = 1, steps do
    opt:zero_grad()
    loss = sx.mse_loss(model:forward(xor_x), xor_y)
    loss:backward()
    opt:step()
  end
  return loss:item()
end

T.test("composed modules", function()
  sx.manual_seed(5)
  local net = MLP.new{2, 8, 1}
  local names = {}
  for k in pairs(sx.nn.named_parameters(net)) do names[#names + 1] = k end
  table.sort(names)
  T.eq(names, {"layers.1.bias", "layers.1.weight", "layers.2.bias", "layers.2.weight"})
  local ps = net:parameters()
  T.eq(#ps, 4)
  T.ok(ps[1] == net.layers[1]:parameters()[1], "walk order: fields in order, each module's own order")
  local shared = {a = net.layers[1], b = net.layers[1], w = sx.ones{2}:requires_grad(true), c = sx.ones{2}}
  T.eq(#sx.nn.parameters(shared), 3, "a shared module counts once; tensors without grad are not parameters")
  T.eq(#sx.nn.parameters({3, "x", {}}), 0)
  T.raises("module or table of modules expected", sx.nn.parameters, 3)
  for _, fn in ipairs{"train", "eval"} do -- the error points at the caller's line
    local ok, err = pcall(function() local _ = sx.nn[fn](3) end)
    T.ok(not ok and err:find("test_nn%.lua:%d+: bad argument #1 to '" .. fn .. "' %(module or table of modules"),
      fn .. ": " .. tostring(err))
  end
  local outer = sx.nn.Linear{["in"] = 2, out = 2}
  T.eq(outer:children(), {})
  T.eq(outer:child("nothing"), nil)
  local sd = sx.nn.state_dict(net)
  T.ok(sd["layers.2.weight"] ~= nil)
  local twin = MLP.new{2, 8, 1}
  sx.nn.load_state_dict(twin, sd)
  T.eq(max_abs_diff(twin:forward(xor_x), net:forward(xor_x)), 0)
  local loss = sx.mse_loss(net:forward(xor_x), xor_y)
  loss:backward()
  T.ok(ps[1].grad ~= nil)
  sx.nn.zero_grad(net)
  T.eq(ps[1].grad, nil, "sx.nn.zero_grad on a Lua module")
end)

T.test("an MLP learns XOR", function()
  sx.manual_seed(6)
  local net = MLP.new{2, 16, 1}
  local opt = sx.optim.Adam(net:parameters(), {lr = 0.05})
  local first = sx.mse_loss(net:forward(xor_x), xor_y):item()
  local last = train(net, opt, 300)
  T.ok(last < 1e-3, string.format("loss %.3g -> %.3g after 300 Adam steps", first, last))
  local pred = net:forward(xor_x):totable()
  T.near({pred[1][1], pred[2][1], pred[3][1], pred[4][1]}, {0, 1, 1, 0}, 0.1)

  sx.manual_seed(6)
  local net2 = MLP.new{2, 16, 1}
  local sgd = sx.optim.SGD(net2:parameters(), {lr = 0.1, momentum = 0.9, nesterov = true})
  local last2 = train(net2, sgd, 600)
  T.ok(last2 < 1e-2, string.format("SGD: loss %.3g after 600 steps", last2))
end)

T.test("optimiser state through a checkpoint: exact resume", function()
  local path = os.tmpname()
  for _, kind in ipairs{"Adam", "SGD"} do
    local function make()
      sx.manual_seed(7)
      local net = MLP.new{2, 8, 1}
      local opt
      if kind == "Adam" then
        opt = sx.optim.Adam(net:parameters(), {lr = 0.02, betas = {0, 0.99}, weight_decay = 1e-3})
      else
        opt = sx.optim.SGD(net:parameters(), {lr = 0.05, momentum = 0.9})
      end
      return net, opt
    end
    local net, opt = make()
    train(net, opt, 10)
    -- one file: the model under "model.", the optimiser under "optim."
    local tensors = {}
    for k, v in pairs(sx.nn.state_dict(net)) do tensors["model." .. k] = v end
    for k, v in pairs(opt:state_dict()) do tensors["optim." .. k] = v end
    T.ok(sx.save(path, tensors, {step = 10, kind = kind}))
    train(net, opt, 10)
    local want = net:forward(xor_x):totable()

    local net2, opt2 = make()
    train(net2, opt2, 3) -- a different state, to be overwritten
    local loaded, meta = sx.load(path)
    T.eq(meta.kind, kind)
    local msd, osd = {}, {}
    for k, v in pairs(loaded) do
      local rest = k:match("^model%.(.*)")
      if rest then msd[rest] = v else osd[k:match("^optim%.(.*)")] = v end
    end
    if kind == "Adam" then
      T.eq(osd["group0.param0.step"]:totable(), {10})
      T.ok(osd["group0.param3.exp_avg_sq"] ~= nil)
    else
      T.ok(osd["group0.param0.momentum_buffer"] ~= nil)
    end
    sx.nn.load_state_dict(net2, msd)
    T.eq(opt2:load_state_dict(osd), opt2)
    train(net2, opt2, 10)
    T.eq(net2:forward(xor_x):totable(), want, kind .. ": resumed run matches bit for bit")

    T.raises("unexpected entry 'group0.param0.bogus'",
      function() opt2:load_state_dict{["group0.param0.bogus"] = sx.ones{1}} end)
    local bad = {}
    if kind == "Adam" then
      bad = {["group0.param1.exp_avg"] = sx.ones{5}, ["group0.param1.exp_avg_sq"] = sx.ones{5},
        ["group0.param1.step"] = sx.ones{1}}
    else
      bad = {["group0.param1.momentum_buffer"] = sx.ones{5}}
    end
    T.raises("has shape [5], the parameter is [8]", function() opt2:load_state_dict(bad) end)
    if kind == "Adam" then
      T.raises("needs exp_avg and exp_avg_sq",
        function() opt2:load_state_dict{["group0.param1.step"] = sx.ones{1}} end)
    else
      T.raises("unexpected entry 'group0.param1.step' for SGD",
        function() opt2:load_state_dict{["group0.param1.step"] = sx.ones{1}} end)
    end
  end
  os.remove(path)
end)

T.test("parameter groups and learning rates", function()
  sx.manual_seed(8)
  local a = sx.nn.Linear{["in"] = 3, out = 2}
  local b = sx.nn.Linear{["in"] = 3, out = 2}
  b:load_state_dict(a:state_dict())
  local opt = sx.optim.SGD({{params = a:parameters()}, {params = b:parameters(), lr = 0.01}}, {lr = 0.1})
  T.eq(opt:num_groups(), 2)
  T.near(opt:get_lr(1), 0.1, 1e-7)
  T.near(opt:get_lr(2), 0.01, 1e-7)
  local w0 = a:parameters()[1]:clone()
  local x = sx.randn{4, 3}
  local function step()
    opt:zero_grad()
    local loss = (a(x):square():sum() + b(x):square():sum())
    loss:backward()
    opt:step()
  end
  step()
  local da = a:parameters()[1] - w0
  local db = b:parameters()[1] - w0
  T.near(max_abs_diff(da, db * 10), 0, 1e-6, "the group with a 10x lower lr moves 10x less")
  opt:set_lr(0, 2)
  T.eq(opt:get_lr(2), 0)
  local wb = b:parameters()[1]:clone()
  step()
  T.eq(max_abs_diff(b:parameters()[1], wb), 0, "set_lr(0, group) freezes that group")
  opt:set_lr(0.2)
  T.near(opt:get_lr(1), 0.2, 1e-7)
  T.near(opt:get_lr(2), 0.2, 1e-7)
  T.raises("out of range", function() opt:set_lr(0.1, 3) end)
  local frozen = sx.optim.Adam({{params = a:parameters(), lr = 0}})
  T.eq(frozen:get_lr(1), 0, "an explicit lr = 0 is kept")

  -- a non-finite gradient is refused and nothing moves
  local w = a:parameters()[1]:clone()
  opt:zero_grad()
  local bad = (a(sx.tensor{{0 / 0, 1, 1}}):sum())
  bad:backward()
  T.raises("non-finite", function() opt:step() end)
  T.eq(max_abs_diff(a:parameters()[1], w), 0)
end)

T.test("EMA", function()
  local e = {sx.tensor{1, 2}, sx.tensor{{3}}}
  local p = {sx.tensor{5, 6}, sx.tensor{{-1}}}
  sx.nn.ema_update(e, p, 0.75)
  T.near(e[1]:totable(), {2, 3}, 1e-6, "ema = beta*ema + (1-beta)*param")
  T.near(e[2]:totable(), {{2}}, 1e-6)
  T.raises("2 EMA tensors for 1 parameters", sx.nn.ema_update, e, {p[1]}, 0.5)

  sx.manual_seed(9)
  local g = MLP.new{2, 4, 1}
  local ema = MLP.new{2, 4, 1}
  sx.nn.copy_params(ema, g)
  T.eq(max_abs_diff(ema:forward(xor_x), g:forward(xor_x)), 0, "copy_params makes a twin")
  local gw, ew = g.layers[1]:parameters()[1], ema.layers[1]:parameters()[1]
  local before = ew:clone()
  gw:fill(1)
  sx.nn.ema_update(ema, g, 0.9)
  T.near(max_abs_diff(ew, before * 0.9 + 0.1), 0, 1e-6, "EMA of a Lua module")
  sx.nn.ema_update(ema.layers[2], g.layers[2], 0.0)
  T.eq(max_abs_diff(ema.layers[2]:parameters()[1], g.layers[2]:parameters()[1]), 0, "EMA of a module, beta 0")
  T.raises("not twins", sx.nn.ema_update, ema, MLP.new{2, 3, 1}, 0.5)
end)

T.done()
