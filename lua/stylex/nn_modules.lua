-- lua/stylex/nn_modules.lua — the parts of sx.nn written in Lua:
-- sx.nn.Sequential, and sx.nn.train / sx.nn.eval for any Lua module. luaopen_stylex (lib/lua/module.c) runs this chunk with
-- the module table as its argument, and it adds its classes to sx.nn, so
-- they are there as soon as `require "stylex"` returns. (`require
-- "stylex.nn_modules"` gives the same classes.)
--
-- A Sequential holds its parts at 1 .. n: stylex modules (sx.nn.Linear,
-- sx.nn.BatchNorm2d, ...), Lua modules (tables with a forward method, or
-- callable), or plain functions of one tensor (x:tanh() as
-- `function(x) return x:tanh() end`). Its parameters and state dict walk
-- those parts like sx.nn.parameters does any Lua module, so names are
-- "1.weight", "3.running_mean".
local sx = ...
if type(sx) ~= "table" then sx = require "stylex" end
local nn = sx.nn

local Sequential = {}
Sequential.__index = Sequential
Sequential.__name = "stylex.nn.Sequential"

local MODULE_MT = getmetatable(nn.ReLU()) -- every stylex module userdata's

local function is_module(v) return type(v) == "userdata" and getmetatable(v) == MODULE_MT end

local function check_part(v, i)
  local t = type(v)
  if t == "function" or t == "userdata" and is_module(v) then return v end
  if t == "table" and (type(v.forward) == "function" or (getmetatable(v) or {}).__call) then return v end
  error(string.format("Sequential: part %d is a %s, expected a module, a table with forward or a function", i,
                      t), 3)
end

-- sx.nn.Sequential{m1, m2, ...} or sx.nn.Sequential(m1, m2, ...); Torch7's
-- sx.nn.Sequential():add(m1):add(m2) too.
function Sequential.new(...)
  local parts = { ... }
  if select("#", ...) == 1 and type(parts[1]) == "table" and getmetatable(parts[1]) == nil
      and parts[1].forward == nil then
    parts = parts[1]
  end
  local self = setmetatable({ training = true }, Sequential)
  for i = 1, #parts do self[i] = check_part(parts[i], i) end
  return self
end

function Sequential:add(m)
  self[#self + 1] = check_part(m, #self + 1)
  return self
end

local function apply(m, x)
  if type(m) == "table" and type(m.forward) == "function" then return m:forward(x) end
  return m(x)
end

function Sequential:forward(x)
  for i = 1, #self do x = apply(self[i], x) end
  return x
end

Sequential.__call = Sequential.forward
Sequential.__len = function(self) return rawlen(self) end

-- train([on = true]) / eval(): this container's mode and each part's that has one.
function Sequential:train(on)
  if on == nil then on = true end
  if type(on) ~= "boolean" then error("Sequential:train: expected a boolean, got " .. type(on), 2) end
  rawset(self, "training", on)
  for i = 1, #self do
    local m = self[i]
    if type(m) ~= "function" and type(m.train) == "function" then m:train(on) end
  end
  return self
end

function Sequential:eval() return self:train(false) end
function Sequential:is_training() return rawget(self, "training") end

function Sequential:parameters() return nn.parameters(self) end
function Sequential:named_parameters() return nn.named_parameters(self) end
function Sequential:state_dict() return nn.state_dict(self) end
function Sequential:load_state_dict(sd, strict)
  nn.load_state_dict(self, sd, strict)
  return self
end
function Sequential:zero_grad() nn.zero_grad(self) end

function Sequential:__tostring()
  local names = {}
  for i = 1, #self do
    local m = self[i]
    names[i] = type(m) == "function" and "function" or is_module(m) and m:type() or tostring(m)
  end
  return "Sequential{" .. table.concat(names, ", ") .. "}"
end

-- sx.nn.train(obj [, on = true]) / sx.nn.eval(obj): PyTorch's model.train()
-- for any Lua module — a table of parts walked like sx.nn.parameters walks
-- it (keys starting with '_' skipped, each table once): every stylex module
-- met gets m:train(on) (itself and everything below it), every table with
-- a boolean `training` field gets it set. Returns obj.
local function set_training(obj, on, seen)
  if type(obj) == "userdata" then
    if is_module(obj) then obj:train(on) end
    return
  end
  if type(obj) ~= "table" or seen[obj] then return end
  seen[obj] = true
  if type(rawget(obj, "training")) == "boolean" then rawset(obj, "training", on) end
  for k, v in pairs(obj) do
    if not (type(k) == "string" and k:sub(1, 1) == "_") then set_training(v, on, seen) end
  end
end

-- nn.train and nn.eval: obj's modules, found as set_training walks, put in
-- mode `on`. Called in tail position, so that level 2 of the error is the
-- caller of nn.train or nn.eval.
local function set_mode(obj, on, fn)
  if type(obj) ~= "table" and not is_module(obj) then
    error("bad argument #1 to '" .. fn .. "' (module or table of modules expected, got " .. type(obj) .. ")", 2)
  end
  set_training(obj, on, {})
  return obj
end

function nn.train(obj, on)
  if on == nil then on = true end
  if type(on) ~= "boolean" then error("bad argument #2 to 'train' (boolean expected, got " .. type(on) .. ")", 2) end
  return set_mode(obj, on, "train")
end

function nn.eval(obj) return set_mode(obj, false, "eval") end

local classes = { train = nn.train, eval = nn.eval, Sequential = setmetatable({}, {
  __call = function(_, ...) return Sequential.new(...) end,
  __index = Sequential,
}) }
nn.Sequential = classes.Sequential
return classes
