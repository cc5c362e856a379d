-- tests/lua/test_errors.lua — every public function of the stylex module, the
-- tensor methods (sx.Tensor) and the tensor metamethods is called with wrong
-- types, freed tensors, wrong shapes and absurd sizes; each call must raise
-- a Lua error whose message names the function, and the process must go on.
--
-- The loop is over what is registered, not over this file: a function added
-- to sx, sx.Tensor or the metatable without an entry in SPEC below fails the
-- test. An entry lists the kind of each argument (which decides the bad values
-- tried in that position), a valid call (which must succeed) and calls that
-- are well typed but wrong in shape or range.
local T = dofile("tests/lua/harness.lua")
local sx = require "stylex"

local NAN, HUGE = 0 / 0, 1e300
local function X() return sx.ones{2, 3} end
local function freed()
  local t = sx.ones{2}
  t:free()
  return t
end

-- Bad values for each kind of argument; "?" kinds also accept nil.
local common = {
  { d = "a string", v = "x" },
  { d = "a freed tensor", f = freed },
}
local function with(...)
  local out = {}
  for _, list in ipairs({ ... }) do for _, b in ipairs(list) do out[#out + 1] = b end end
  return out
end
local NIL = { { d = "nil", v = nil } }
local BOOL = { { d = "a boolean", v = true } }
local NUMBER = { { d = "a number", v = 1.5 } }
local TABLE = { { d = "an empty table", v = {} } }
local TENSOR = { { d = "a tensor", f = X } }
local INTEGERS = {
  { d = "a fraction", v = 1.5 }, { d = "NaN", v = NAN }, { d = "1e300", v = HUGE }, { d = "-1e300", v = -HUGE },
}
local DIMS = with(INTEGERS, {
  { d = "dimension 0", v = 0 }, { d = "dimension 99", v = 99 }, { d = "dimension -99", v = -99 },
  { d = "dimension 2^62", v = 2 ^ 62 },
})
local SHAPES = {
  { d = "a fractional size", v = { 1.5 } }, { d = "a NaN size", v = { NAN } }, { d = "a string size", v = { "a" } },
  { d = "a negative size", v = { -5 } }, { d = "1e12 elements", v = { 1e12 } }, { d = "a 1e300 size", v = { HUGE } },
  { d = "9 dimensions", v = { 1, 1, 1, 1, 1, 1, 1, 1, 1 } }, { d = "2^80 elements", v = { 2 ^ 40, 2 ^ 40 } },
  { d = "a number", v = 5 },
}
local POSITIONS = {
  { d = "position 0", v = { 0 } }, { d = "position 99", v = { 99 } }, { d = "a fractional position", v = { 1.5 } },
  { d = "a NaN position", v = { NAN } }, { d = "a string position", v = { "a" } }, { d = "a number", v = 5 },
  { d = "a tensor with position 0", f = function() return sx.tensor{0} end },
  { d = "a tensor with a fraction", f = function() return sx.tensor{1.5} end },
}
local LISTS = {
  { d = "an empty list", v = {} }, { d = "a list of numbers", v = { 1 } }, { d = "a list of strings", v = { "a" } },
  { d = "a list with a freed tensor", f = function() return { X(), freed() } end }, { d = "a number", v = 5 },
}
local CONV_OPTS = {
  { d = "a number", v = 5 }, { d = "stride 0", v = { stride = 0 } }, { d = "a string stride", v = { stride = "x" } },
  { d = "a fractional stride", v = { stride = 1.5 } }, { d = "a NaN stride", v = { stride = NAN } },
  { d = "a 3-entry stride", v = { stride = { 1, 2, 3 } } }, { d = "a huge stride", v = { stride = HUGE } },
  { d = "negative padding", v = { padding = -1 } }, { d = "groups 0", v = { groups = 0 } },
  { d = "a pair of groups", v = { groups = { 1, 2 } } }, { d = "an unknown option", v = { strides = 2 } },
  { d = "absurd padding", v = { padding = 2 ^ 20 } },
}
local CONVT_OPTS = with(CONV_OPTS, {
  { d = "negative output_padding", v = { output_padding = -1 } },
  { d = "output_padding not below stride", v = { stride = 1, output_padding = 1 } },
})
local UP_OPTS = {
  { d = "a number", v = 5 }, { d = "up 0", v = { up = 0 } }, { d = "down 0", v = { down = 0 } },
  { d = "a huge up", v = { up = HUGE } }, { d = "up as a pair", v = { up = { 1, 2 } } },
  { d = "a 2-entry pad", v = { pad = { 1, 2 } } }, { d = "a string pad", v = { pad = "x" } },
  { d = "a NaN pad", v = { pad = { NAN, 0, 0, 0 } } }, { d = "a huge pad", v = { pad = { 2 ^ 40, 0, 0, 0 } } },
  { d = "an unknown option", v = { padding = 1 } }, { d = "a crop of everything", v = { pad = { -4, -4, 0, 0 } } },
}
local GRAD_OPTS = {
  { d = "a number", v = 5 }, { d = "a string create_graph", v = { create_graph = "x" } },
  { d = "a number allow_unused", v = { allow_unused = 1 } }, { d = "a string grad_outputs", v = { grad_outputs = "x" } },
  { d = "grad_outputs of strings", v = { grad_outputs = { "x" } } }, { d = "an unknown option", v = { retain = true } },
  { d = "a freed grad_outputs", f = function() return { grad_outputs = freed() } end },
  { d = "too many grad_outputs", f = function() return { grad_outputs = { sx.ones{}, sx.ones{} } } end },
  { d = "a wrong-shape grad_outputs", f = function() return { grad_outputs = sx.ones{3} } end },
}

local BAD = {
  tensor = with(NIL, common, BOOL, NUMBER, TABLE),
  ["tensor?"] = with(common, BOOL, NUMBER, TABLE),
  tensor_like = with(NIL, common, BOOL, { { d = "a table of strings", v = { "a" } }, { d = "a ragged table", v = { { 1 }, { 1, 2 } } } }),
  tensor_or_number = with(NIL, common, BOOL, TABLE),
  udata = with(NIL, { { d = "a string", v = "x" } }, NUMBER, TABLE),
  number = with(NIL, common, BOOL, TABLE, TENSOR),
  ["number?"] = with(common, BOOL, TABLE, TENSOR),
  int = with(NIL, common, BOOL, TABLE, INTEGERS),
  dim = with(NIL, common, BOOL, TABLE, DIMS),
  ["dim?"] = with(common, BOOL, TABLE, DIMS),
  ["dims?"] = with(common, BOOL, DIMS, { { d = "an empty table", v = {} }, { d = "{0}", v = { 0 } }, { d = "{99}", v = { 99 } },
    { d = "{'a'}", v = { "a" } } }),
  ["bool?"] = with(common, { { d = "a number", v = 1 } }, TABLE),
  bool = with(NIL, common, { { d = "a number", v = 1 } }),
  shape = with(NIL, common, BOOL, SHAPES),
  perm = with(NIL, common, BOOL, { { d = "too few", v = { 1 } }, { d = "a repeat", v = { 1, 1 } }, { d = "dimension 3", v = { 1, 3 } },
    { d = "dimension 0", v = { 0, 1 } }, { d = "a fraction", v = { 1.5, 1 } }, { d = "a string", v = { "a", 1 } },
    { d = "too many", v = { 1, 2, 3 } } }),
  positions = with(NIL, common, BOOL, POSITIONS),
  list = with(NIL, common, BOOL, LISTS),
  tensor_or_list = with(NIL, common, BOOL, NUMBER, LISTS),
  ["conv_opts?"] = with(common, BOOL, CONV_OPTS),
  ["convt_opts?"] = with(common, BOOL, CONVT_OPTS),
  ["up_opts?"] = with(common, BOOL, UP_OPTS),
  ["grad_opts?"] = with(common, BOOL, GRAD_OPTS),
  ksize = with(NIL, common, BOOL, { { d = "size 0", v = { 0, 3 } }, { d = "a fractional size", v = { 1.5, 3 } },
    { d = "one entry", v = { 3 } }, { d = "three entries", v = { 3, 3, 3 } }, { d = "the number 0", v = 0 },
    { d = "a huge size", v = { HUGE, 3 } } }),
  fn = with(NIL, common, BOOL, NUMBER, TABLE),
  seed = with(NIL, common, BOOL, TABLE, INTEGERS),
  state = with(NIL, common, BOOL, { { d = "an empty table", v = {} }, { d = "3 words", v = { 1, 2, 3 } },
    { d = "all zeros", v = { 0, 0, 0, 0 } }, { d = "a fraction", v = { 1.5, 1, 1, 1 } } }),
  threads = with(NIL, common, BOOL, INTEGERS, { { d = "0 threads", v = 0 }, { d = "-1 threads", v = -1 } }),
  count = with(NIL, common, BOOL, INTEGERS, { { d = "-1", v = -1 }, { d = "1e12", v = 1e12 } }),
  value = with(NIL, { { d = "a boolean", v = true }, { d = "a freed tensor", f = freed }, { d = "a string", v = "x" },
    { d = "a table of strings", v = { "a" } }, { d = "a ragged table", v = { { 1 }, { 1, 2 } } },
    { d = "9 levels of nesting", v = { { { { { { { { { 1 } } } } } } } } } } }),
}

local function scalar_loss()
  local x = sx.ones{2}:requires_grad(true)
  return (x * x):sum(), x
end

-- name -> { kinds, valid = function() return {args} end, wrong = function() return {{args}, ...} end }
-- noargs = true: takes no arguments (extra ones are ignored), nothing to break.
local function unary(extra) return { kinds = { "tensor" }, valid = function() return { X() } end, wrong = extra } end
local function pair(wrong)
  return { kinds = { "tensor", "tensor" }, valid = function() return { X(), X() } end,
    wrong = wrong or function() return { { X(), sx.ones{3, 2} } } end }
end
local arith = { kinds = { "tensor_or_number", "tensor_or_number" }, valid = function() return { X(), X() } end,
  wrong = function() return { { X(), sx.ones{4} }, { 1, 2 } } end }
local filled = { kinds = { "sizes" }, valid = function() return { { 2, 3 } } end }
-- a shape as a table or, as in Torch7, as numbers: sx.zeros(2, 3)
BAD.sizes = with(NIL, common, BOOL, SHAPES, { { d = "a negative number", v = -5 }, { d = "a fractional number", v = 1.5 },
  { d = "the number 1e12", v = 1e12 } })
for i = #BAD.sizes, 1, -1 do if BAD.sizes[i].v == 5 then table.remove(BAD.sizes, i) end end

local SPEC = {
  -- module
  mem_live = { noargs = true }, num_threads = { noargs = true }, is_grad_enabled = { noargs = true },
  rng_get_state = { noargs = true },
  flops_reset = { noargs = true }, flops_count = { noargs = true }, sgemm_peak = { noargs = true },
  wall_time = { noargs = true },
  set_num_threads = { kinds = { "threads" }, valid = function() return { sx.num_threads() } end },
  manual_seed = { kinds = { "seed" }, valid = function() return { 0 } end },
  rng_set_state = { kinds = { "state" }, valid = function() return { sx.rng_get_state() } end },
  -- creation
  tensor = { kinds = { "value" }, valid = function() return { { { 1, 2 }, { 3, 4 } } } end },
  zeros = filled, ones = filled, rand = filled, randn = filled,
  full = { kinds = { "sizes", "number" }, valid = function() return { { 2 }, 1 } end,
    wrong = function() return { { 2 }, { { 2 } } } end },
  arange = { kinds = { "count" }, valid = function() return { 3 } end },
  zeros_like = unary(), ones_like = unary(),
  -- queries, copies, lifetime
  shape = unary(), dim = unary(), numel = unary(), is_contiguous = unary(), totable = unary(), clone = unary(),
  op_name = unary(), zero_grad = unary(), detach = unary(), contiguous = unary(),
  size = { kinds = { "tensor", "dim?" }, valid = function() return { X(), 2 } end },
  item = { kinds = { "tensor" }, valid = function() return { sx.ones{1} } end,
    wrong = function() return { { X() }, { sx.zeros{0} } } end },
  fill = { kinds = { "tensor", "number" }, valid = function() return { X(), 2 } end },
  assign = { kinds = { "tensor", "tensor_like" }, valid = function() return { X(), X() } end,
    wrong = function() return { { X(), sx.ones{3} }, { X(), { 1, 2 } } } end },
  free = { kinds = { "udata" }, valid = function() return { X() } end },
  -- autograd
  requires_grad = { kinds = { "tensor", "bool?" }, valid = function() return { X(), true } end,
    wrong = function() return { { X() * sx.ones{2, 3}:requires_grad(true), false } } end },
  backward = { kinds = { "tensor", "tensor?", "bool?" }, valid = function() return { (scalar_loss()) } end,
    wrong = function()
      local l, x = scalar_loss()
      return { { x * 2 }, { X() }, { l, sx.ones{2} }, { x * 2, sx.ones{3} } }
    end },
  grad = { kinds = { "tensor_or_list", "tensor_or_list", "grad_opts?" },
    valid = function() local l, x = scalar_loss() return { l, x } end,
    wrong = function()
      local l, x = scalar_loss()
      return { { x * 2, x }, { l, X() }, { l, { x, X() } }, { l, sx.ones{1}:requires_grad(true) } }
    end },
  no_grad = { kinds = { "fn" }, valid = function() return { function() end } end,
    wrong = function() return { { function() error("inner failure in no_grad") end } } end },
  set_grad_enabled = { kinds = { "bool" }, valid = function() return { true } end },
  -- elementwise
  add = arith, sub = arith, mul = arith, div = arith,
  pow = { kinds = { "tensor", "number" }, valid = function() return { X(), 2 } end },
  neg = unary(), abs = unary(), exp = unary(), log = unary(), sqrt = unary(), rsqrt = unary(), square = unary(),
  relu = unary(), sigmoid = unary(), tanh = unary(), softplus = unary(),
  leaky_relu = { kinds = { "tensor", "number?" }, valid = function() return { X(), 0.1 } end },
  gt_scalar = { kinds = { "tensor", "number" }, valid = function() return { X(), 0 } end },
  -- reductions
  sum = { kinds = { "tensor", "dims?", "bool?" }, valid = function() return { X(), 1, true } end },
  mean = { kinds = { "tensor", "dims?", "bool?" }, valid = function() return { X(), { 1, 2 } } end },
  max = { kinds = { "tensor", "dim?", "bool?" }, valid = function() return { X(), 2, true } end,
    wrong = function() return { { sx.zeros{0} }, { sx.zeros{2, 0}, 2 } } end },
  argmax = { kinds = { "tensor", "dim?" }, valid = function() return { X(), 2 } end,
    wrong = function() return { { sx.zeros{2, 0}, 2 }, { sx.zeros{0} } } end },
  sum_to = { kinds = { "tensor", "shape" }, valid = function() return { X(), { 1, 3 } } end,
    wrong = function() return { { X(), { 4 } }, { X(), { 1, 2, 3 } } } end },
  softmax = { kinds = { "tensor", "dim?" }, valid = function() return { X(), 1 } end,
    wrong = function() return { { sx.tensor(1) } } end },
  log_softmax = { kinds = { "tensor", "dim?" }, valid = function() return { X() } end,
    wrong = function() return { { sx.tensor(1) } } end },
  -- shape
  reshape = { kinds = { "tensor", "shape" }, valid = function() return { X(), { 3, -1 } } end,
    wrong = function() return { { X(), { 5 } }, { X(), { -1, -1 } }, { X(), { 4, -1 } } } end },
  permute = { kinds = { "tensor", "perm" }, valid = function() return { X(), { 2, 1 } } end },
  transpose = { kinds = { "tensor", "dim", "dim" }, valid = function() return { X(), 1, 2 } end },
  expand = { kinds = { "tensor", "shape" }, valid = function() return { sx.ones{1, 3}, { 2, 3 } } end,
    wrong = function() return { { X(), { 4, 3 } }, { X(), { 3 } }, { X(), { -2, 3 } } } end },
  narrow = { kinds = { "tensor", "dim", "int", "int" }, valid = function() return { X(), 2, 1, 2 } end,
    wrong = function() return { { X(), 2, 3, 2 }, { X(), 2, 5, 0 }, { X(), 2, 0, 1 }, { X(), 2, 1, -1 }, { X(), 2, 1, 2 ^ 62 } } end },
  narrow_scatter = { kinds = { "tensor", "shape", "dim", "int" }, valid = function() return { sx.ones{2}, { 4 }, 1, 2 } end,
    wrong = function()
      return { { sx.ones{2}, { 4 }, 1, 4 }, { sx.ones{2}, { 4, 1 }, 1, 1 }, { sx.ones{2}, { 1 }, 1, 1 }, { sx.ones{2}, { 4 }, 1, 0 } }
    end },
  index_select = { kinds = { "tensor", "dim", "positions" }, valid = function() return { X(), 2, { 1, 3 } } end },
  index_add = { kinds = { "tensor", "dim", "int", "positions" }, valid = function() return { sx.ones{3, 2}, 1, 2, { 1, 2, 1 } } end,
    wrong = function()
      return { { sx.ones{3, 2}, 1, 2, { 1, 2 } }, { sx.ones{3, 2}, 1, 1, { 1, 2, 1 } }, { sx.ones{3, 2}, 1, -1, { 1, 1, 1 } },
        { sx.ones{3, 2}, 1, 2 ^ 40, { 1, 1, 1 } } }
    end },
  cat = { kinds = { "list", "dim?" }, valid = function() return { { X(), X() }, 1 } end,
    wrong = function() return { { { X(), sx.ones{2, 4} }, 1 }, { { X(), sx.ones{3} } } } end },
  stack = { kinds = { "list", "dim?" }, valid = function() return { { X(), X() } } end,
    wrong = function() return { { { X(), sx.ones{3, 2} } }, { { X(), X() }, 4 } } end },
  -- linear algebra, convolution
  matmul = { kinds = { "tensor", "tensor" }, valid = function() return { X(), sx.ones{3, 4} } end,
    wrong = function() return { { X(), X() }, { sx.ones{3}, sx.ones{3} }, { sx.ones{2, 2, 3}, sx.ones{3, 3, 2} } } end },
  linear = { kinds = { "tensor", "tensor", "tensor?" }, valid = function() return { X(), sx.ones{4, 3}, sx.ones{4} } end,
    wrong = function() return { { X(), sx.ones{4, 2} }, { X(), sx.ones{4, 3}, sx.ones{5} }, { X(), sx.ones{3} } } end },
  conv2d = { kinds = { "tensor", "tensor", "tensor?", "conv_opts?" },
    valid = function() return { sx.ones{1, 2, 5, 5}, sx.ones{4, 2, 3, 3}, sx.ones{4}, { padding = 1 } } end,
    wrong = function()
      local w = sx.ones{4, 2, 3, 3}
      return { { sx.ones{1, 3, 5, 5}, w }, { sx.ones{1, 2, 2, 2}, w }, { sx.ones{1, 2, 5, 5}, w, sx.ones{5} },
        { sx.ones{1, 2, 5, 5}, w, nil, { groups = 3 } }, { sx.ones{2, 5, 5}, w }, { sx.ones{1, 2, 5, 5}, sx.ones{4, 2, 3} } }
    end },
  conv_transpose2d = { kinds = { "tensor", "tensor", "tensor?", "convt_opts?" },
    valid = function() return { sx.ones{1, 3, 4, 4}, sx.ones{3, 2, 3, 3}, sx.ones{2}, { stride = 2, padding = 1, output_padding = 1 } } end,
    wrong = function()
      local w = sx.ones{3, 2, 3, 3}
      return { { sx.ones{1, 2, 4, 4}, w }, { sx.ones{1, 3, 4, 4}, w, sx.ones{3} }, { sx.ones{3, 4, 4}, w },
        { sx.ones{1, 3, 4, 4}, w, nil, { groups = 2 } } }
    end },
  conv2d_weight = { kinds = { "tensor", "tensor", "ksize", "conv_opts?" },
    valid = function() return { sx.ones{1, 2, 5, 5}, sx.ones{1, 3, 3, 3}, { 3, 3 } } end,
    wrong = function()
      return { { sx.ones{1, 2, 5, 5}, sx.ones{1, 3, 4, 4}, { 3, 3 } }, { sx.ones{2, 2, 5, 5}, sx.ones{1, 3, 3, 3}, { 3, 3 } },
        { sx.ones{1, 2, 5, 5}, sx.ones{1, 3, 3, 3}, { 3, 3 }, { groups = 2 } } }
    end },
  upfirdn2d = { kinds = { "tensor", "tensor", "up_opts?" },
    valid = function() return { sx.ones{1, 1, 4, 4}, sx.ones{2, 2}, { up = 2, pad = { 1, 1, 1, 1 } } } end,
    wrong = function()
      return { { sx.ones{4, 4}, sx.ones{2, 2} }, { sx.ones{1, 1, 4, 4}, sx.ones{1, 2, 2} },
        { sx.ones{1, 1, 4, 4}, sx.ones{5, 5} } }
    end },
  -- classification, losses
  cross_entropy = { kinds = { "tensor", "tensor_like" }, valid = function() return { X(), { 0, 2 } } end,
    wrong = function()
      return { { X(), { 0, 3 } }, { X(), { 0.5, 1 } }, { X(), { 0 } }, { sx.ones{3}, { 0 } }, { X(), { -1, 0 } }, { X(), { NAN, 0 } } }
    end },
  kl_div = pair(), l1_loss = pair(), mse_loss = pair(),
}

-- the Torch7 / PyTorch names (issue 17)
local function tracked() return sx.ones{2, 3}:requires_grad(true) end
local function made() return tracked() * 2 end
local compare = { kinds = { "tensor", "tensor_or_number" }, valid = function() return { X(), 1 } end,
  wrong = function() return { { X(), sx.ones{4} } } end }
SPEC.sin, SPEC.cos = unary(), unary()
SPEC.lt, SPEC.le, SPEC.gt, SPEC.ge, SPEC.eq, SPEC.ne = compare, compare, compare, compare, compare, compare
SPEC.clamp = { kinds = { "tensor", "number?", "number?" }, valid = function() return { X(), 0, 1 } end,
  wrong = function() return { { X(), 2, 1 }, { X() }, { X(), NAN, 1 } } end }
SPEC.where = { kinds = { "tensor", "tensor_or_number", "tensor_or_number" }, valid = function() return { X(), X(), 0 } end,
  wrong = function() return { { X(), sx.ones{4}, 0 }, { sx.ones{4}, X(), X() } } end }
SPEC.min = SPEC.max
SPEC.argmin = SPEC.argmax
SPEC.std = { kinds = { "tensor", "dims?", "bool?", "bool?" }, valid = function() return { X(), 2, false, true } end }
SPEC.var = SPEC.std
SPEC.view = { kinds = { "tensor", "shape" }, valid = function() return { X(), { 3, 2 } } end,
  wrong = function() return { { X():transpose(1, 2), { 6 } }, { X(), { 5 } }, { X(), 2, 2 } } end }
SPEC.unsqueeze = { kinds = { "tensor", "dim" }, valid = function() return { X(), 3 } end,
  wrong = function() return { { sx.ones{1, 1, 1, 1, 1, 1, 1, 1}, 1 } } end }
SPEC.squeeze = { kinds = { "tensor", "dim?" }, valid = function() return { sx.ones{2, 1}, 2 } end }
SPEC.flatten = { kinds = { "tensor", "dim?", "dim?" }, valid = function() return { sx.ones{2, 3, 4}, 2, 3 } end,
  wrong = function() return { { sx.ones{2, 3, 4}, 3, 2 } } end }
SPEC.select = { kinds = { "tensor", "dim", "int" }, valid = function() return { X(), 2, 3 } end,
  wrong = function() return { { X(), 2, 4 }, { X(), 2, 0 }, { X(), 2, -1 } } end }
SPEC.max_pool2d = { kinds = { "tensor", "int" }, valid = function() return { sx.ones{1, 1, 4, 4}, 2 } end,
  wrong = function() return { { sx.ones{1, 1, 5, 5}, 2 }, { sx.ones{4, 4}, 2 }, { sx.ones{1, 1, 4, 4}, 0 } } end }
SPEC.avg_pool2d = SPEC.max_pool2d
SPEC.dropout = { kinds = { "tensor", "number" }, valid = function() return { X(), 0.5 } end,
  wrong = function() return { { X(), 1 }, { X(), -0.1 }, { X(), NAN } } end }
local inplace_wrong = function() return { { tracked(), 1 }, { made(), 1 }, { X(), sx.ones{4} }, { X(), sx.ones{2, 2, 3} } } end
SPEC.add_ = { kinds = { "tensor", "tensor_or_number", "number?" }, valid = function() return { X(), X(), 2 } end,
  wrong = inplace_wrong }
SPEC.mul_ = { kinds = { "tensor", "tensor_or_number" }, valid = function() return { X(), 2 } end, wrong = inplace_wrong }
SPEC.zero_ = unary(function() return { { tracked() }, { made() } } end)
SPEC.fill_ = { kinds = { "tensor", "number" }, valid = function() return { X(), 2 } end,
  wrong = function() return { { tracked(), 1 }, { made(), 1 } } end }
SPEC.copy_ = { kinds = { "tensor", "tensor_like" }, valid = function() return { X(), { 1, 2, 3 } } end,
  wrong = function() return { { tracked(), X() }, { made(), X() }, { X(), sx.ones{4} }, { X(), sx.ones{2, 2, 3} } } end }

-- metamethods, called directly
local META = {
  __add = arith, __sub = arith, __mul = arith, __div = arith,
  __pow = { kinds = { "tensor", "number" }, valid = function() return { X(), 2 } end },
  __unm = unary(),
  __len = unary(function() return { { sx.tensor(1) } } end),
  __gc = { kinds = { "udata" }, valid = function() return { X() } end },
  __close = { kinds = { "udata" }, valid = function() return { X() } end },
  __tostring = { kinds = { "udata" }, valid = function() return { X() } end },
  __index = { kinds = { "udata", "string_key" }, valid = function() return { X(), "grad" } end,
    words = { "index", "grad" } },
}
BAD.string_key = {}
META.__newindex = { kinds = { "udata", "index_key", "value" }, valid = function() return { X(), 1, 0 } end,
  wrong = function() return { { tracked(), 1, 0 }, { made(), 1, 0 }, { X(), 1, { 1, 2 } }, { sx.tensor(1), 1, 0 } } end,
  words = { "index", "newindex", "tensor" } }
BAD.index_key = { { d = "index 0", v = 0 }, { d = "index 3", v = 3 }, { d = "index -3", v = -3 }, { d = "a fraction", v = 1.5 },
  { d = "a string key", v = "grad" }, { d = "a boolean key", v = true } }

-- sub-tables of sx (filled by lib/lua/io.c): "table.name" -> spec
local tmp = os.tmpname()
local PATH = with(NIL, BOOL, TABLE, { { d = "a freed tensor", f = freed } })
BAD.path = PATH
BAD.tensor_table = with(NIL, BOOL, NUMBER, { { d = "a string", v = "x" }, { d = "a string value", v = { w = "x" } },
  { d = "a number key", f = function() return { X() } end }, { d = "a freed tensor", f = function() return { w = freed() } end } })
BAD["meta?"] = with(BOOL, NUMBER, { { d = "a string", v = "x" }, { d = "a table value", v = { k = {} } },
  { d = "a number key", v = { "x" } } })
-- For the methods of other userdata (modules, optimisers), make a "self" kind
-- like this one, whose bad values are everything but that userdata.
BAD.module = with(NIL, common, BOOL, NUMBER, TABLE, TENSOR)
function tiny_classifier() return sx.models.Classifier{ n_classes = 2, resolution = 8, channels = { 2 }, hidden = 2 } end
BAD.classifier = with(BAD.module, { { d = "a Linear module", f = function() return sx.nn.Linear{ ["in"] = 2, out = 2 } end } })
BAD["aug_opts?"] = with(BOOL, NUMBER, { { d = "a negative shift", v = { shift = -1 } }, { d = "a string flip", v = { flip = "x" } },
  { d = "a fractional shift", v = { shift = 1.5 } }, { d = "an unknown option", v = { shifts = 1 } } })
BAD["classify_opts?"] = with(NUMBER, { { d = "an unknown option", v = { training = true } } })
BAD.classifier_config = with(NIL, BOOL, NUMBER, { { d = "no n_classes", v = {} }, { d = "one class", v = { n_classes = 1 } },
  { d = "2.5 classes", v = { n_classes = 2.5 } }, { d = "resolution 30", v = { n_classes = 2, resolution = 30 } },
  { d = "no channels", v = { n_classes = 2, channels = {} } }, { d = "an unknown option", v = { n_classes = 2, depth = 3 } },
  { d = "dropout 1", v = { n_classes = 2, dropout = 1 } }, { d = "string channels", v = { n_classes = 2, channels = { "a" } } },
  { d = "7 blocks", v = { n_classes = 2, resolution = 128, channels = { 1, 1, 1, 1, 1, 1, 1 } } } })
local SUB = {
  ["sx.save"] = { kinds = { "path", "tensor_table", "meta?" }, valid = function() return { tmp, { w = X() }, { step = 1 } } end },
  ["sx.load"] = { kinds = { "path" }, valid = function() sx.save(tmp, { w = X() }) return { tmp } end },
  ["sx.load_metadata"] = { kinds = { "path" }, valid = function() sx.save(tmp, { w = X() }) return { tmp } end },
  ["sx.models.load_stylex"] = { kinds = { "path" }, valid = function() return { "/nonexistent/model.safetensors" } end,
    wrong = function() sx.save(tmp, { w = X() }) return { { tmp } } end },
  ["sx.models.load_classifier"] = { kinds = { "path" }, valid = function() return { "/nonexistent/c.safetensors" } end,
    wrong = function() sx.save(tmp, { w = X() }, { format = "stylex-classifier-1", config = "{}" }) return { { tmp } } end },
  ["sx.image.load"] = { kinds = { "path" }, valid = function() sx.image.save(sx.zeros{1, 4, 4}, tmp) return { tmp } end },
  ["sx.image.save"] = { kinds = { "tensor", "path" }, valid = function() return { sx.zeros{1, 4, 4}, tmp } end },
  ["sx.io.read_idx"] = { kinds = { "path" }, valid = function() return { "/nonexistent/file.idx" } end },
  ["sx.mkdir"] = { kinds = { "path" }, valid = function() return { "/dev/null/dir" } end },
  ["sx.remove_tree"] = { kinds = { "path" }, valid = function() return { "/nonexistent/dir" } end },
  ["sx.remove_stale_temporaries"] = { kinds = { "path" }, valid = function() return { "/nonexistent/file" } end },
  ["sx.replace_dir"] = { kinds = { "path", "path" }, valid = function() return { "/nonexistent/a", "/nonexistent/b" } end },
  ["sx.getpid"] = { kinds = {}, valid = function() return {} end },
  ["sx.shapes.sample"] = { kinds = { "int", "int", "int", "number", "number" },
    valid = function() return { 1, 0, 2, 0.5, 0.5 } end },
  ["sx.shapes.render"] = { kinds = { "tensor" }, valid = function() return { sx.shapes.sample(1, 0, 2, 0.5, 0.5) } end },
  ["sx.shapes.label"] = { kinds = { "tensor" }, valid = function() return { sx.shapes.sample(1, 0, 2, 0.5, 0.5) } end },
  -- the classifier (lib/lua/classifier.c)
  ["sx.augment"] = { kinds = { "tensor", "aug_opts?" },
    valid = function() return { sx.zeros{2, 1, 4, 4}, { shift = 1, flip = 0.5, fill = -1 } } end,
    wrong = function() return { { sx.zeros{4, 4} }, { sx.zeros{1, 1, 4, 4}, { flip = 2 } } } end },
  ["sx.models.classifier"] = { kinds = { "classifier" }, valid = function() return { tiny_classifier() } end },
  ["sx.models.Classifier"] = { kinds = { "classifier_config" },
    valid = function() return { { n_classes = 2, resolution = 8, channels = { 2 }, hidden = 2 } } end },
  ["sx.nn.Classifier.classify"] = { kinds = { "classifier", "tensor", "classify_opts?" },
    valid = function() return { tiny_classifier(), sx.zeros{1, 1, 8, 8}, { train = true, features = true } } end,
    wrong = function() return { { tiny_classifier(), sx.zeros{1, 1, 4, 4} }, { tiny_classifier(), sx.zeros{1, 3, 8, 8} } } end },
  ["sx.nn.Classifier.logits"] = { kinds = { "classifier", "tensor" },
    valid = function() return { tiny_classifier(), sx.zeros{2, 1, 8, 8} } end,
    wrong = function() return { { tiny_classifier(), sx.zeros{8, 8} } } end },
  ["sx.nn.Classifier.perceptual"] = { kinds = { "classifier", "tensor", "tensor" },
    valid = function() return { tiny_classifier(), sx.zeros{2, 1, 8, 8}, sx.ones{2, 1, 8, 8} } end,
    wrong = function() return { { tiny_classifier(), sx.zeros{2, 1, 8, 8}, sx.ones{1, 1, 8, 8} } } end },
  ["sx.nn.Classifier.config"] = { kinds = { "classifier" }, valid = function() return { tiny_classifier() } end },
}

-- sx.nn and sx.optim (lib/lua/nn.c)
local function lin() return sx.nn.Linear{ ["in"] = 3, out = 2 } end
local function leaf() return sx.ones{2, 3}:requires_grad(true) end
local function adam() return sx.optim.Adam({ leaf() }, { lr = 0.1 }) end
BAD.linear_opts = with(NIL, common, BOOL, NUMBER, {
  { d = "no in", v = { out = 2 } }, { d = "in 0", v = { ["in"] = 0, out = 2 } },
  { d = "a fractional out", v = { ["in"] = 2, out = 1.5 } }, { d = "a 1e300 in", v = { ["in"] = HUGE, out = 2 } },
  { d = "a NaN lr_mul", v = { ["in"] = 2, out = 2, lr_mul = NAN } }, { d = "lr_mul 0", v = { ["in"] = 2, out = 2, lr_mul = 0 } },
  { d = "an infinite lr_mul", v = { ["in"] = 2, out = 2, lr_mul = math.huge } },
  { d = "a NaN bias_init", v = { ["in"] = 2, out = 2, bias_init = NAN } },
  { d = "a negative init_std", v = { ["in"] = 2, out = 2, init_std = -1 } },
  { d = "a number bias", v = { ["in"] = 2, out = 2, bias = 1 } },
  { d = "an unknown option", v = { ["in"] = 2, out = 2, outs = 3 } } })
BAD.conv_layer_opts = with(BAD.linear_opts, {
  { d = "kernel 0", v = { ["in"] = 2, out = 2, kernel = 0 } }, { d = "stride 0", v = { ["in"] = 2, out = 2, stride = 0 } },
  { d = "negative padding", v = { ["in"] = 2, out = 2, padding = -1 } },
  { d = "groups not dividing", v = { ["in"] = 4, out = 6, groups = 4 } },
  { d = "a huge kernel", v = { ["in"] = 2, out = 2, kernel = HUGE } } })
BAD.walkable = with(NIL, common, BOOL, NUMBER)
BAD["bool?"] = BAD["bool?"]
BAD.name = with(NIL, BOOL, TABLE, { { d = "a freed tensor", f = freed } })
BAD.optim = with(NIL, common, BOOL, NUMBER, TABLE, TENSOR)
BAD["group?"] = with(common, BOOL, TABLE, INTEGERS, { { d = "group 0", v = 0 }, { d = "group 2", v = 2 } })
BAD.params = with(NIL, common, BOOL, NUMBER, {
  { d = "an empty list", v = {} }, { d = "a list of numbers", v = { 1 } }, { d = "a list of strings", v = { "a" } },
  { d = "a list with a freed tensor", f = function() return { leaf(), freed() } end },
  { d = "the same tensor twice", f = function() local p = leaf() return { p, p } end },
  { d = "a non-leaf", f = function() return { leaf() * 2 } end },
  { d = "a group without params", v = { { lr = 1 } } },
  { d = "a group with a string lr", f = function() return { { params = { leaf() }, lr = "x" } } end },
  { d = "a group with a negative lr", f = function() return { { params = { leaf() }, lr = -1 } } end },
  { d = "a group with an unknown field", f = function() return { { params = { leaf() }, momentum = 1 } } end } })
local OPTIM_OPTS = { { d = "a number", v = 5 }, { d = "lr -1", v = { lr = -1 } }, { d = "a NaN lr", v = { lr = NAN } },
  { d = "a string lr", v = { lr = "x" } }, { d = "weight_decay -1", v = { lr = 1, weight_decay = -1 } } }
BAD["adam_opts?"] = with(common, BOOL, OPTIM_OPTS, {
  { d = "one beta", v = { betas = { 0.9 } } }, { d = "beta 1", v = { betas = { 1, 0.9 } } },
  { d = "string betas", v = { betas = { "a", "b" } } }, { d = "eps 0", v = { eps = 0 } },
  { d = "a string decoupled", v = { decoupled = "x" } }, { d = "an unknown option", v = { momentum = 0.9 } } })
BAD.sgd_opts = with(NIL, common, BOOL, OPTIM_OPTS, {
  { d = "no lr", v = { momentum = 0.9 } }, { d = "momentum 1", v = { lr = 1, momentum = 1 } },
  { d = "nesterov without momentum", v = { lr = 1, nesterov = true } },
  { d = "an unknown option", v = { lr = 1, betas = { 0.9, 0.9 } } } })
local function walk(name)
  return { kinds = { "walkable" }, valid = function() return { { a = lin() } } end }
end
SUB["sx.nn.Linear"] = { kinds = { "linear_opts" }, valid = function() return { { ["in"] = 3, out = 2 } } end }
SUB["sx.nn.Conv2d"] = { kinds = { "conv_layer_opts" }, valid = function() return { { ["in"] = 2, out = 4 } } end }
SUB["sx.nn.parameters"] = walk()
SUB["sx.nn.named_parameters"] = walk()
SUB["sx.nn.state_dict"] = walk()
SUB["sx.nn.zero_grad"] = walk()
SUB["sx.nn.load_state_dict"] = { kinds = { "walkable", "tensor_table", "bool?" },
  valid = function() local m = lin() return { { a = m }, { ["a.weight"] = sx.ones{2, 3}, ["a.bias"] = sx.ones{2} } } end,
  wrong = function()
    return { { { a = lin() }, { ["a.weight"] = sx.ones{2, 3} } },
      { { a = lin() }, { ["a.weight"] = sx.ones{3, 2}, ["a.bias"] = sx.ones{2} } },
      { { a = lin() }, { ["a.weight"] = sx.ones{2, 3}, ["a.bias"] = sx.ones{2}, ["b"] = sx.ones{1} } } }
  end }
SUB["sx.nn.ema_update"] = { kinds = { "list", "list", "number" }, valid = function() return { { X() }, { X() }, 0.5 } end,
  wrong = function()
    return { { { X() }, { X() }, 2 }, { { X() }, { X() }, NAN }, { { X() }, { sx.ones{3} }, 0.5 },
      { { X() }, { X(), X() }, 0.5 }, { lin(), sx.nn.Linear{ ["in"] = 3, out = 3 }, 0.5 } }
  end }
SUB["sx.nn.copy_params"] = { kinds = { "list", "list" }, valid = function() return { { X() }, { X() } } end,
  wrong = function() return { { { X() }, { sx.ones{3} } }, { lin(), sx.nn.Linear{ ["in"] = 3, out = 3 } } } end }
local function self_only(kind, make) return { kinds = { kind }, valid = function() return { make() } end } end
SUB["sx.nn.Module.forward"] = { kinds = { "module", "tensor" }, valid = function() return { lin(), X() } end,
  wrong = function() return { { lin(), sx.ones{2, 4} }, { lin(), sx.ones{} } } end }
SUB["sx.nn.Module.parameters"] = self_only("module", lin)
SUB["sx.nn.Module.named_parameters"] = self_only("module", lin)
SUB["sx.nn.Module.state_dict"] = self_only("module", lin)
SUB["sx.nn.Module.zero_grad"] = self_only("module", lin)
SUB["sx.nn.Module.type"] = self_only("module", lin)
SUB["sx.nn.Module.num_params"] = self_only("module", lin)
SUB["sx.nn.Module.children"] = self_only("module", lin)
SUB["sx.nn.Module.free"] = self_only("module", lin)
SUB["sx.nn.Module.eval"] = self_only("module", lin)
SUB["sx.nn.Module.is_training"] = self_only("module", lin)
SUB["sx.nn.Module.train"] = { kinds = { "module", "bool?" }, valid = function() return { lin(), false } end }
-- torch.nn's small layers (lib/nn/basic_layers.c)
BAD.channels = with(NIL, common, BOOL, TABLE, INTEGERS, { { d = "0 channels", v = 0 }, { d = "2^30 channels", v = 2 ^ 30 } })
BAD["bn_opts?"] = with(common, BOOL, NUMBER, { { d = "eps 0", v = { eps = 0 } }, { d = "momentum 2", v = { momentum = 2 } },
  { d = "a NaN eps", v = { eps = NAN } }, { d = "a string affine", v = { affine = "x" } }, { d = "an unknown option", v = { epsilon = 1 } } })
BAD.window = with(NIL, common, BOOL, TABLE, INTEGERS, { { d = "window 0", v = 0 }, { d = "window -1", v = -1 } })
BAD["prob?"] = with(common, BOOL, TABLE, { { d = "p 1", v = 1 }, { d = "p -0.5", v = -0.5 }, { d = "p NaN", v = NAN } })
BAD["slope?"] = with(common, BOOL, TABLE, { { d = "an infinite slope", v = 1 / 0 } })
BAD["flat_dim?"] = with(common, BOOL, TABLE, INTEGERS, { { d = "dimension 0", v = 0 }, { d = "dimension 99", v = 99 } })
SUB["sx.nn.BatchNorm2d"] = { kinds = { "channels", "bn_opts?" }, valid = function() return { 3, { eps = 1e-3, momentum = 0.2 } } end }
SUB["sx.nn.ReLU"] = { noargs = true }
SUB["sx.nn.LeakyReLU"] = { kinds = { "slope?" }, valid = function() return { 0.1 } end }
SUB["sx.nn.MaxPool2d"] = { kinds = { "window" }, valid = function() return { 2 } end }
SUB["sx.nn.AvgPool2d"] = { kinds = { "window" }, valid = function() return { 2 } end }
SUB["sx.nn.Dropout"] = { kinds = { "prob?" }, valid = function() return { 0.5 } end }
SUB["sx.nn.train"] = { kinds = { "walkable", "bool?" }, valid = function() return { { lin(), { lin() } }, false } end }
SUB["sx.nn.eval"] = { kinds = { "walkable" }, valid = function() return { { a = lin() } } end }
SUB["sx.nn.Flatten"] = { kinds = { "flat_dim?", "flat_dim?" }, valid = function() return { 2, -1 } end }
SUB["sx.nn.Module.child"] = { kinds = { "module", "name" }, valid = function() return { lin(), "x" } end }
SUB["sx.nn.Module.load_state_dict"] = { kinds = { "module", "tensor_table", "bool?" },
  valid = function() return { lin(), { weight = sx.ones{2, 3}, bias = sx.ones{2} } } end,
  wrong = function()
    return { { lin(), { weight = sx.ones{2, 3} } }, { lin(), { weight = sx.ones{3, 2}, bias = sx.ones{2} } },
      { lin(), { weight = sx.ones{2, 3}, bias = sx.ones{2}, extra = sx.ones{1} } } }
  end }
SUB["sx.optim.Adam"] = { kinds = { "params", "adam_opts?" }, valid = function() return { { leaf() }, { lr = 0.1 } } end }
SUB["sx.optim.SGD"] = { kinds = { "params", "sgd_opts" }, valid = function() return { { leaf() }, { lr = 0.1 } } end }
SUB["sx.optim.Optimizer.step"] = { kinds = { "optim" }, valid = function() return { adam() } end,
  wrong = function()
    local p = leaf()
    local o = sx.optim.Adam({ p })
    ;(sx.tensor{ { NAN, 1, 1 }, { 1, 1, 1 } } * p):sum():backward()
    return { { o } }
  end }
SUB["sx.optim.Optimizer.zero_grad"] = self_only("optim", adam)
SUB["sx.optim.Optimizer.free"] = self_only("optim", adam)
SUB["sx.optim.Optimizer.num_groups"] = self_only("optim", adam)
SUB["sx.optim.Optimizer.state_dict"] = self_only("optim", adam)
SUB["sx.optim.Optimizer.get_lr"] = { kinds = { "optim", "group?" }, valid = function() return { adam(), 1 } end }
SUB["sx.optim.Optimizer.params"] = { kinds = { "optim", "group?" }, valid = function() return { adam(), 1 } end }
SUB["sx.optim.Optimizer.set_lr"] = { kinds = { "optim", "number", "group?" }, valid = function() return { adam(), 0.1, 1 } end,
  wrong = function() return { { adam(), -1 }, { adam(), NAN }, { adam(), HUGE } } end }
SUB["sx.optim.Optimizer.load_state_dict"] = { kinds = { "optim", "tensor_table" },
  valid = function() local o = adam() return { o, o:state_dict() } end,
  wrong = function()
    return { { adam(), { bogus = X() } }, { adam(), { ["group0.lr"] = sx.tensor{ -1 } } },
      { adam(), { ["group5.lr"] = sx.ones{1} } },
      { adam(), { ["group0.param0.step"] = sx.ones{1}, ["group0.param0.exp_avg"] = sx.ones{3},
        ["group0.param0.exp_avg_sq"] = sx.ones{3} } },
      { adam(), { ["group0.param0.step"] = sx.tensor{ 1.5 }, ["group0.param0.exp_avg"] = X(),
        ["group0.param0.exp_avg_sq"] = X() } } }
  end }

-- the StyleGAN2 networks (lib/lua/models.c), tiny: 8x8 images, 8 channels, one
-- mapping layer, w_dim 8 (3 StyleSpace layers, 24 coordinates, 2 toRGB levels)
local function sg_cfg(extra)
  local c = { resolution = 8, channels = { 8, 8 }, mapping_layers = 1, z_dim = 8, w_dim = 8 }
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end
-- shared modules (made before the leak baseline; nothing here frees them)
local SG, SGc = sx.models.Generator(sg_cfg()), sx.models.Generator(sg_cfg{ n_classes = 2 })
local SD, SDc = sx.models.Discriminator(sg_cfg()), sx.models.Discriminator(sg_cfg{ n_classes = 2 })
local SE = sx.models.Encoder(sg_cfg())
local function z() return sx.randn{2, 8} end
local function probs() return sx.randn{2, 2}:softmax(2) end
local function img() return sx.randn{2, 1, 8, 8} end
local function sg_noise(n) return SG:noise(n or 2) end
local function sg_styles() return SG:styles(z()) end
local function freed_module(make) return function() local m = make() m:free() return m end end
local function sg_bad(...)
  return with(BAD.module, { { d = "a Linear module", f = function() return sx.nn.Linear{ ["in"] = 2, out = 2 } end },
    { d = "a Classifier", f = tiny_classifier } }, ...)
end
BAD.generator = sg_bad({ { d = "a Discriminator", v = SD }, { d = "an Encoder", v = SE },
  { d = "a freed Generator", f = freed_module(function() return sx.models.Generator(sg_cfg()) end) } })
BAD.discriminator = sg_bad({ { d = "a Generator", v = SG }, { d = "an Encoder", v = SE },
  { d = "a freed Discriminator", f = freed_module(function() return sx.models.Discriminator(sg_cfg()) end) } })
BAD.encoder = sg_bad({ { d = "a Generator", v = SG }, { d = "a Discriminator", v = SD },
  { d = "a freed Encoder", f = freed_module(function() return sx.models.Encoder(sg_cfg()) end) } })
-- any StyleGAN network (config() of Generator, Discriminator and Encoder)
BAD.stylegan = sg_bad({ { d = "a freed Generator", f = freed_module(function() return sx.models.Generator(sg_cfg()) end) } })
local function bad_cfg(d, extra) return { d = d, f = function() return sg_cfg(extra) end } end
BAD.stylegan_config = with(common, BOOL, NUMBER, {
  bad_cfg("resolution 12", { resolution = 12 }), bad_cfg("resolution 4", { resolution = 4 }),
  bad_cfg("resolution 2048", { resolution = 2048 }), bad_cfg("a fractional resolution", { resolution = 8.5 }),
  bad_cfg("a string resolution", { resolution = "8" }), bad_cfg("resolution 16 with 2 widths", { resolution = 16 }),
  bad_cfg("img_channels 2", { img_channels = 2 }), bad_cfg("n_classes -1", { n_classes = -1 }),
  bad_cfg("z_dim 0", { z_dim = 0 }), bad_cfg("a fractional w_dim", { w_dim = 1.5 }), bad_cfg("a NaN w_dim", { w_dim = NAN }),
  bad_cfg("a 1e300 z_dim", { z_dim = HUGE }), bad_cfg("mapping_layers 0", { mapping_layers = 0 }),
  bad_cfg("mapping_layers 33", { mapping_layers = 33 }), bad_cfg("mapping_lr_mul 0", { mapping_lr_mul = 0 }),
  bad_cfg("a negative mapping_lr_mul", { mapping_lr_mul = -1 }), bad_cfg("a NaN mapping_lr_mul", { mapping_lr_mul = NAN }),
  bad_cfg("an infinite mapping_lr_mul", { mapping_lr_mul = math.huge }),
  bad_cfg("a string mapping_lr_mul", { mapping_lr_mul = "x" }), bad_cfg("3 widths", { channels = { 8, 8, 8 } }),
  bad_cfg("no widths", { channels = {} }), bad_cfg("width 0", { channels = { 8, 0 } }),
  bad_cfg("a fractional width", { channels = { 8, 1.5 } }), bad_cfg("a string width", { channels = { 8, "a" } }),
  bad_cfg("width 9000", { channels = { 8, 9000 } }), bad_cfg("a string channels", { channels = "x" }),
  bad_cfg("mbstd_group -1", { mbstd_group = -1 }), bad_cfg("mbstd_channels 0", { mbstd_channels = 0 }),
  bad_cfg("mbstd_channels not dividing channels[1]", { mbstd_channels = 3 }),
  bad_cfg("an unknown option", { depth = 3 }), bad_cfg("a number key", { 8 }) })
BAD["modconv_opts?"] = with(common, BOOL, NUMBER, {
  { d = "up 0", v = { up = 0 } }, { d = "up 3", v = { up = 3 } }, { d = "a fractional up", v = { up = 1.5 } },
  { d = "a string up", v = { up = "2" } }, { d = "a NaN up", v = { up = NAN } }, { d = "up as a list", v = { up = { 2 } } },
  { d = "a string demodulate", v = { demodulate = "x" } }, { d = "a number demodulate", v = { demodulate = 1 } },
  { d = "an unknown option", v = { upsample = 2 } } })
-- noise lists for the tiny generator (batch 2)
local NOISE = {
  { d = "an empty list", v = {} }, { d = "a list of numbers", v = { 1, 2, 3 } }, { d = "a list of strings", v = { "a", "b", "c" } },
  { d = "a tensor", f = X }, { d = "a list with a freed tensor", f = function() local n = sg_noise() n[2] = freed() return n end },
  { d = "2 of 3 layers", f = function() local n = sg_noise() n[3] = nil return n end },
  { d = "4 entries", f = function() local n = sg_noise() n[4] = n[3] return n end },
  { d = "layers swapped", f = function() local n = sg_noise() n[1], n[2] = n[2], n[1] return n end },
  { d = "batch 3", f = function() return sg_noise(3) end },
  { d = "no channel dimension", f = function() local n = sg_noise() n[1] = sx.randn{2, 4, 4} return n end } }
BAD["noise?"] = with(common, BOOL, NUMBER, NOISE)
BAD.batch = with(NIL, common, BOOL, TABLE, INTEGERS, { { d = "0", v = 0 }, { d = "-1", v = -1 }, { d = "2^24 + 1", v = 2 ^ 24 + 1 },
  { d = "2^62", v = 2 ^ 62 } })
BAD.coord = with(NIL, common, BOOL, TABLE, INTEGERS)
-- styles tables of the tiny generator: conv = 3 x [2, 8], rgb = 2 x [2, 8]
local function styles_with(edit) return function() local st = sg_styles() edit(st) return st end end
BAD.styles_base = with(NIL, common, BOOL, NUMBER, {
  { d = "a string conv", v = { conv = "x" } }, { d = "conv of numbers", v = { conv = { 1 } } },
  { d = "a tensor conv", f = function() return { conv = X() } end },
  { d = "a freed rgb", f = styles_with(function(st) st.rgb[2] = freed() end) },
  { d = "4 conv layers", f = styles_with(function(st) st.conv[4] = st.conv[3] end) },
  { d = "3 rgb levels", f = styles_with(function(st) st.rgb[3] = st.rgb[2] end) },
  { d = "conv[2] of width 7", f = styles_with(function(st) st.conv[2] = sx.randn{2, 7} end) },
  { d = "a 1-d conv[1]", f = styles_with(function(st) st.conv[1] = sx.randn{8} end) },
  { d = "rgb[1] of width 7", f = styles_with(function(st) st.rgb[1] = sx.randn{2, 7} end) } })
BAD.styles = with(BAD.styles_base, { { d = "an empty table", v = {} },
  { d = "conv[2] missing", f = styles_with(function(st) st.conv[2] = nil end) },
  { d = "conv[2] of batch 3", f = styles_with(function(st) st.conv[2] = sx.randn{3, 8} end) } })
local function sg_cache()
  local _, cache = SG:from_styles(sg_styles(), { keep_cache = true })
  return cache
end
local function cache_with(edit) return function() local c = sg_cache() edit(c) return { from_layer = 2, cache = c } end end
BAD["from_opts?"] = with(common, BOOL, NUMBER, {
  { d = "an unknown option", v = { nosie = 1 } }, { d = "a string noise", v = { noise = "x" } },
  { d = "noise of numbers", v = { noise = { 1, 2, 3 } } },
  { d = "noise with 4 entries", f = function() local n = sg_noise() n[4] = n[3] return { noise = n } end },
  { d = "noise of batch 3", f = function() return { noise = sg_noise(3) } end },
  { d = "from_layer 0", v = { from_layer = 0 } }, { d = "from_layer 4", v = { from_layer = 4 } },
  { d = "a fractional from_layer", v = { from_layer = 1.5 } }, { d = "a string from_layer", v = { from_layer = "1" } },
  { d = "a NaN from_layer", v = { from_layer = NAN } }, { d = "from_layer 2 without a cache", v = { from_layer = 2 } },
  { d = "a string cache", v = { from_layer = 2, cache = "x" } }, { d = "an empty cache", v = { from_layer = 2, cache = {} } },
  { d = "a cache of numbers", v = { from_layer = 2, cache = { x = { 1 } } } },
  { d = "a cache with a freed tensor", f = cache_with(function(c) c.x[2] = freed() end) },
  { d = "a cache with a wrong-resolution x", f = cache_with(function(c) c.x[2] = sx.ones{2, 8, 8, 8} end) },
  { d = "a cache of batch 3", f = cache_with(function(c) c.x[2] = sx.ones{3, 8, 4, 4} end) },
  { d = "a cache without img", f = cache_with(function(c) c.img = nil end) },
  { d = "a string keep_cache", v = { keep_cache = "x" } }, { d = "a number keep_cache", v = { keep_cache = 1 } } })
local function sg_fn(kinds, valid, wrong) return { kinds = kinds, valid = valid, wrong = wrong } end
for _, name in ipairs({ "stylegan_config", "Generator", "Discriminator", "Encoder" }) do
  SUB["sx.models." .. name] = sg_fn({ "stylegan_config" }, function() return { sg_cfg() } end)
end
SUB["sx.models.modulated_conv2d"] = sg_fn({ "tensor", "tensor", "tensor", "modconv_opts?" },
  function() return { sx.randn{2, 3, 4, 4}, sx.randn{5, 3, 3, 3}, sx.randn{2, 3}, { up = 2, demodulate = false } } end,
  function()
    local x, w, s = sx.randn{2, 3, 4, 4}, sx.randn{5, 3, 3, 3}, sx.randn{2, 3}
    return { { sx.randn{3, 4, 4}, w, s }, { x, sx.randn{5, 4, 3, 3}, s }, { x, w, sx.randn{2, 4} }, { x, w, sx.randn{3, 3} },
      { x, sx.randn{5, 3, 2, 2}, s }, { x, sx.randn{5, 3, 3}, s }, { x, w, sx.randn{3} } }
  end)
SUB["sx.models.upsample2d"] = sg_fn({ "tensor" }, function() return { sx.randn{1, 2, 4, 4} } end,
  function() return { { sx.randn{2, 4, 4} }, { sx.zeros{1, 1, 0, 4} }, { sx.zeros{1, 1, 1, 4, 4} } } end)
SUB["sx.models.downsample2d"] = sg_fn({ "tensor" }, function() return { sx.randn{1, 2, 4, 4} } end,
  function() return { { sx.randn{2, 4, 4} }, { sx.randn{1, 1, 1, 1} } } end)
SUB["sx.nn.Generator.mapping"] = sg_fn({ "generator", "tensor" }, function() return { SG, z() } end,
  function() return { { SG, sx.randn{2, 7} }, { SG, sx.randn{8} }, { SG, sx.randn{2, 8, 1} } } end)
SUB["sx.nn.Generator.latent"] = sg_fn({ "generator", "tensor", "tensor?" }, function() return { SGc, z(), probs() } end,
  function()
    return { { SGc, z() }, { SG, z(), probs() }, { SGc, z(), sx.randn{3, 2} }, { SGc, z(), sx.randn{2, 3} },
      { SGc, sx.randn{2, 7}, probs() }, { SGc, sx.randn{8}, probs() } }
  end)
SUB["sx.nn.Generator.synthesis"] = sg_fn({ "generator", "tensor", "noise?" }, function() return { SG, z(), sg_noise() } end,
  function() return { { SG, sx.randn{2, 7} }, { SGc, z() }, { SG, sx.randn{8} }, { SG, sx.randn{3, 8}, sg_noise() } } end)
SUB["sx.nn.Generator.generate"] = sg_fn({ "generator", "tensor", "tensor?", "noise?" },
  function() return { SGc, z(), probs(), sg_noise() } end,
  function()
    return { { SGc, z() }, { SG, z(), probs() }, { SGc, sx.randn{2, 7}, probs() }, { SGc, z(), sx.randn{3, 2} },
      { SGc, z(), sx.randn{2, 3} } }
  end)
SUB["sx.nn.Generator.noise"] = sg_fn({ "generator", "batch" }, function() return { SG, 2 } end)
SUB["sx.nn.Generator.style_layout"] = sg_fn({ "generator" }, function() return { SG } end)
SUB["sx.nn.Generator.locate"] = sg_fn({ "generator", "coord" }, function() return { SG, 24 } end,
  function() return { { SG, 25 }, { SG, 0 }, { SG, -1 } } end)
SUB["sx.nn.Generator.styles"] = sg_fn({ "generator", "tensor" }, function() return { SG, z() } end,
  function() return { { SGc, z() }, { SG, sx.randn{2, 10} }, { SG, sx.randn{8} } } end)
SUB["sx.nn.Generator.styles_flat"] = sg_fn({ "generator", "styles" }, function() return { SG, sg_styles() } end)
-- conv is replaced by the flat slices and rgb is kept as given: a styles table
-- without conv layers (or without rgb) is fine here
SUB["sx.nn.Generator.styles_with_flat"] = sg_fn({ "generator", "styles_base", "tensor" },
  function() return { SG, sg_styles(), sx.randn{2, 24} } end,
  function()
    local st = sg_styles()
    return { { SG, st, sx.randn{2, 23} }, { SG, st, sx.randn{24} }, { SG, st, sx.randn{2, 24, 1} } }
  end)
SUB["sx.nn.Generator.from_styles"] = sg_fn({ "generator", "styles", "from_opts?" },
  function() return { SG, sg_styles(), { noise = sg_noise(), from_layer = 1, keep_cache = true } } end,
  function()
    return { { SG, sx.models.Generator(sg_cfg{ channels = { 4, 4 } }):styles(z()) }, { SG, sg_styles(), { noise = sg_noise(3) } },
      { SG, SG:styles(sx.randn{3, 8}), { from_layer = 2, cache = sg_cache() } } }
  end)
SUB["sx.nn.Discriminator.discriminate"] = sg_fn({ "discriminator", "tensor", "tensor?" }, function() return { SDc, img(), probs() } end,
  function()
    return { { SDc, img() }, { SD, img(), probs() }, { SDc, img(), sx.randn{3, 2} }, { SDc, img(), sx.randn{2, 3} },
      { SDc, sx.randn{2, 1, 16, 16}, probs() }, { SDc, sx.randn{2, 3, 8, 8}, probs() }, { SDc, sx.randn{1, 8, 8}, probs() } }
  end)
SUB["sx.nn.Generator.config"] = sg_fn({ "stylegan" }, function() return { SG } end)
SUB["sx.nn.Discriminator.config"] = sg_fn({ "stylegan" }, function() return { SD } end)
SUB["sx.nn.Encoder.config"] = sg_fn({ "stylegan" }, function() return { SE } end)
SUB["sx.nn.Encoder.encode"] = sg_fn({ "encoder", "tensor" }, function() return { SE, img() } end,
  function() return { { SE, sx.randn{2, 1, 16, 16} }, { SE, sx.randn{2, 3, 8, 8} }, { SE, sx.randn{1, 8, 8} } } end)

-- AttFind (lib/lua/attfind.c): the tiny conditional generator SGc (latents
-- [N, 10], 24 coordinates) and a tiny 8x8 classifier
local function af_opts(extra)
  local o = { batch = 16, noise = SGc:noise(1), progress = function() end }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end
BAD["attfind_opts?"] = with(common, BOOL, NUMBER, {
  { d = "an unknown option", v = { batches = 2 } }, { d = "batch 0", v = { batch = 0 } },
  { d = "a fractional batch", v = { batch = 1.5 } }, { d = "a string batch", v = { batch = "8" } },
  { d = "a NaN batch", v = { batch = NAN } }, { d = "a number progress", v = { progress = 1 } },
  { d = "a string style_min", v = { style_min = "x" } },
  { d = "style_max of 23", f = function() return { style_max = sx.zeros{23} } end },
  { d = "a 2-d style_min", f = function() return { style_min = sx.zeros{1, 24} } end },
  { d = "a progress that stops", f = function() return af_opts{ progress = function() return false end } end } },
  (function() local out = {} for i, b in ipairs(NOISE) do
    out[i] = { d = "noise: " .. b.d, f = function() return { noise = b.f and b.f() or b.v } end } end return out end)())
BAD.base_opts = with(NIL, common, BOOL, NUMBER, {
  { d = "no noise", v = { batch = 4 } }, { d = "an unknown option", f = function() return { noise = SGc:noise(1), rows = 1 } end },
  { d = "batch 0", f = function() return { noise = SGc:noise(1), batch = 0 } end },
  { d = "a string noise", v = { noise = "x" } },
  { d = "noise of batch 3", f = function() return { noise = SGc:noise(3) } end } })
BAD.entry_rows = with(NIL, common, BOOL, { { d = "row 0", v = { 0 } }, { d = "row 3 of 2 images", v = { 3 } },
  { d = "a fractional row", v = { 1.5 } }, { d = "a string row", v = { "1" } }, { d = "no rows", v = {} },
  { d = "two rows for one column", v = { 1, 2 } } })
BAD.entry_cols = with(NIL, common, BOOL, { { d = "column 0", v = { 0 } }, { d = "column 49 of 48", v = { 49 } },
  { d = "a NaN column", v = { NAN } }, { d = "no columns", v = {} } })
BAD.entries_opts = with(NIL, common, BOOL, NUMBER, {
  { d = "no noise", v = { batch = 4 } }, { d = "an unknown option", f = function() return { noise = SGc:noise(1), rows = 1 } end },
  { d = "a number base", f = function() return { noise = SGc:noise(1), base = 1 } end },
  { d = "a closed base", f = function()
    local b = sx.attfind.base(SGc, tiny_classifier(), sx.randn{2, 10}, { noise = SGc:noise(1) })
    b:close()
    return { noise = SGc:noise(1), base = b }
  end },
  { d = "a base of 3 images", f = function()
    return { noise = SGc:noise(1), base = sx.attfind.base(SGc, tiny_classifier(), sx.randn{3, 10}, { noise = SGc:noise(1) }) }
  end },
  { d = "a progress that stops", f = function() return { noise = SGc:noise(1), progress = function() return false end } end },
  { d = "style_max of 23", f = function() return { noise = SGc:noise(1), style_max = sx.zeros{23} } end } })
BAD.coords = with(NIL, common, BOOL, { { d = "coordinate 0", v = { 0 } }, { d = "coordinate 25", v = { 25 } },
  { d = "a fractional coordinate", v = { 1.5 } }, { d = "a NaN coordinate", v = { NAN } },
  { d = "a string coordinate", v = { "1" } }, { d = "a 1e300 coordinate", v = HUGE } })
BAD.values = with(NIL, common, BOOL, { { d = "3 values for 2 coordinates", v = { 1, 2, 3 } },
  { d = "a batch of 3 for latents of 2", f = function() return sx.zeros{3, 2} end },
  { d = "a list of strings", v = { "a", "b" } }, { d = "a ragged table", v = { { 1, 2 }, { 1 } } },
  { d = "a 3-d tensor", f = function() return sx.zeros{1, 1, 2} end } })
BAD["apply_opts?"] = with(common, BOOL, NUMBER, { { d = "an unknown option", v = { mode = "add" } },
  { d = "a number add", v = { add = 1 } }, { d = "a string noise", v = { noise = "x" } },
  { d = "noise of batch 3", f = function() return { noise = SGc:noise(3) } end } })
-- sx.dist (lib/lua/dist.c); one process here, so the collectives leave their tensors as they are
for _, name in ipairs{"rank", "size", "barrier", "bytes", "bytes_reset", "built_with_mpi", "abort"} do
  SUB["sx.dist." .. name] = { noargs = true }
end
SUB["sx.dist.allreduce"] = { kinds = { "tensor_or_list" }, valid = function() return { { X(), X() } } end }
SUB["sx.dist.broadcast"] = { kinds = { "tensor_or_list", "int" }, valid = function() return { X(), 0 } end,
  wrong = function() return { { X(), 1 }, { X(), -1 } } end }
SUB["sx.dist.allgather"] = { kinds = { "tensor" }, valid = function() return { X() } end,
  wrong = function() return { { sx.tensor(3) } } end }
SUB["sx.dist.hash"] = { kinds = { "tensor_or_list" }, valid = function() return { { X() } } end }
SUB["sx.dist.check_equal"] = { kinds = { "tensor_or_list" }, valid = function() return { { X() } } end }
SUB["sx.attfind.effects"] = sg_fn({ "generator", "classifier", "tensor", "attfind_opts?" },
  function() return { SGc, tiny_classifier(), sx.randn{2, 10}, af_opts() } end,
  function()
    return { { SGc, tiny_classifier(), sx.randn{2, 9} }, { SGc, tiny_classifier(), sx.randn{10} },
      { SG, tiny_classifier(), sx.randn{2, 10} },
      { SGc, sx.models.Classifier{ n_classes = 2, resolution = 16, channels = { 2 }, hidden = 2 }, sx.randn{2, 10} },
      { SGc, sx.models.Classifier{ n_classes = 2, resolution = 8, img_channels = 3, channels = { 2 }, hidden = 2 }, sx.randn{2, 10} } }
  end)
SUB["sx.attfind.base"] = sg_fn({ "generator", "classifier", "tensor", "base_opts" },
  function() return { SGc, tiny_classifier(), sx.randn{2, 10}, { noise = SGc:noise(1), batch = 1 } } end,
  function()
    return { { SGc, tiny_classifier(), sx.randn{2, 9}, { noise = SGc:noise(1) } },
      { SG, tiny_classifier(), sx.randn{2, 10}, { noise = SGc:noise(1) } } }
  end)
SUB["sx.attfind.entries"] = sg_fn({ "generator", "classifier", "tensor", "entry_rows", "entry_cols", "entries_opts" },
  function() return { SGc, tiny_classifier(), sx.randn{2, 10}, { 2 }, { 48 }, { noise = SGc:noise(1) } } end,
  function()
    return { { SGc, tiny_classifier(), sx.randn{2, 9}, { 1 }, { 1 }, { noise = SGc:noise(1) } },
      { SG, tiny_classifier(), sx.randn{2, 10}, { 1 }, { 1 }, { noise = SGc:noise(1) } } }
  end)
SUB["sx.attfind.apply"] = sg_fn({ "generator", "tensor", "coords", "values", "apply_opts?" },
  function() return { SGc, sx.randn{2, 10}, { 1, 24 }, { 0.5, -0.5 }, { noise = SGc:noise(2), add = true } } end,
  function()
    return { { SGc, sx.randn{2, 9}, { 1 }, { 0 } }, { SG, sx.randn{2, 10}, { 1 }, { 0 } }, { SGc, sx.randn{10}, { 1 }, { 0 } } }
  end)

-- the metrics binding (lib/lua/metrics.c)
SUB["sx.metrics.frechet_distance"] = { kinds = { "tensor", "tensor" },
  valid = function() return { sx.randn{ 4, 3 }, sx.randn{ 5, 3 } } end,
  wrong = function() return { { sx.zeros{ 4, 3 }, sx.zeros{ 4, 2 } }, { sx.zeros{ 1, 3 }, sx.zeros{ 4, 3 } },
    { sx.zeros{ 4 }, sx.zeros{ 4 } }, { sx.zeros{ 2, 2, 3 }, sx.zeros{ 4, 3 } },
    { sx.full({ 4, 3 }, 0 / 0), sx.zeros{ 4, 3 } }, { sx.zeros{ 2, 1025 }, sx.zeros{ 2, 1025 } } } end }

-- the image binding (lib/lua/image.c)
BAD.text = with(NIL, BOOL, TABLE, NUMBER, { { d = "a freed tensor", f = freed } })
BAD["text_opts?"] = with(common, BOOL, NUMBER, { { d = "an unknown option", v = { colour = 1 } },
  { d = "scale 0", v = { scale = 0 } }, { d = "a fractional scale", v = { scale = 1.5 } },
  { d = "a 2-entry color", v = { color = { 1, 2 } } }, { d = "a string color", v = { color = "x" } },
  { d = "a NaN color", v = { color = NAN } } })
BAD["text_scale?"] = with(common, BOOL, TABLE, INTEGERS, { { d = "scale 0", v = 0 }, { d = "scale 65", v = 65 } })
BAD["grid_opts?"] = with(common, BOOL, NUMBER, { { d = "an unknown option", v = { columns = 1 } },
  { d = "pad -1", v = { pad = -1 } }, { d = "ncol 0", v = { ncol = 0 } }, { d = "scale 0", v = { scale = 0 } },
  { d = "a fractional pad", v = { pad = 1.5 } }, { d = "an empty range", v = { range = { 1, 1 } } },
  { d = "a string range", v = { range = "x" } }, { d = "a NaN pad_value", v = { pad_value = NAN } },
  { d = "too many captions", v = { captions = { "a", "b" } } }, { d = "a table caption", v = { captions = { {} } } },
  { d = "a 3-entry text_color", v = { text_color = { 1, 0, 0 } } }, { d = "text_scale 0", v = { text_scale = 0 } } })
SUB["sx.image.resize"] = { kinds = { "tensor", "shape" }, valid = function() return { sx.zeros{1, 4, 4}, { 2, 3 } } end,
  wrong = function() return { { sx.zeros{4, 4}, { 2, 2 } }, { sx.zeros{1, 4, 4}, { 0, 2 } }, { sx.zeros{1, 0, 4}, { 2, 2 } } } end }
SUB["sx.image.to_unit"] = { kinds = { "tensor", "number", "number" }, valid = function() return { X(), -1, 1 } end,
  wrong = function() return { { X(), 1, 1 }, { X(), 0, HUGE } } end }
SUB["sx.image.text"] = { kinds = { "tensor", "int", "int", "text", "text_opts?" },
  valid = function() return { sx.zeros{3, 8, 8}, 1, 1, "a", { color = { 1, 0, 0 }, scale = 1 } } end,
  wrong = function() return { { sx.zeros{8, 8}, 1, 1, "a" }, { sx.zeros{3, 8, 8}:requires_grad(true), 1, 1, "a" } } end }
SUB["sx.image.text_size"] = { kinds = { "text", "text_scale?" }, valid = function() return { "ab", 2 } end }
SUB["sx.image.grid"] = { kinds = { "tensor_or_list", "grid_opts?" },
  valid = function() return { { sx.zeros{1, 4, 4} }, { ncol = 1, captions = { "a" } } } end,
  wrong = function() return { { { sx.zeros{4, 4} } }, { { sx.zeros{2, 4, 4}, sx.zeros{3, 4, 4} } }, { sx.zeros{0, 1, 4, 4} },
    { { sx.zeros{1, 4, 4} }, { scale = 64, pad = 65536, captions = { ("x"):rep(100000) } } } } end }

-- A function calling M.name(...) (or self:name(...)) from Lua code, so that
-- error messages carry the name as users see it. Not a tail call, for the same reason.
local callers = {}
local function caller(M, label, name, method)
  local key = label .. "." .. name .. (method and ":" or "")
  if not callers[key] then
    local body = method and ("return function(self, ...) local r = self:" .. name .. "(...) return r end")
      or ("return function(...) local r = M." .. name .. "(...) return r end")
    callers[key] = assert(load("local M = ... " .. body, "=" .. key))(M)
  end
  return callers[key]
end

local function value_of(b)
  if b.f then return b.f() end
  return b.v
end

local function describe(label, name, args, n)
  local parts = {}
  for i = 1, n do
    local v = args[i]
    parts[i] = type(v) == "userdata" and "tensor" or type(v) == "table" and "{...}" or tostring(v)
  end
  return label .. "." .. name .. "(" .. table.concat(parts, ", ") .. ")"
end

local function live()
  collectgarbage("collect")
  return sx.mem_live()
end

-- f(args) must raise an error mentioning one of `words`, and leak nothing.
local function must_fail(f, args, n, words, what)
  T.checks = T.checks + 1
  local before = live()
  local ok, err = pcall(f, table.unpack(args, 1, n))
  local leaked = live() - before
  local named = false
  for _, w in ipairs(words) do named = named or tostring(err):find(w, 1, true) ~= nil end
  if ok then
    T.failures = T.failures + 1
    io.stderr:write("FAIL no error from " .. what .. "\n")
  elseif not named then
    T.failures = T.failures + 1
    io.stderr:write("FAIL error from " .. what .. " does not name '" .. words[1] .. "': " .. tostring(err) .. "\n")
  elseif leaked ~= 0 then
    T.failures = T.failures + 1
    io.stderr:write("FAIL " .. what .. " leaked " .. leaked .. " bytes of tensors: " .. tostring(err) .. "\n")
  end
end

local tried = 0
local function check_function(M, label, name, spec)
  if spec.noargs then
    local f = caller(M, label, name)
    T.ok(pcall(f), label .. "." .. name .. "() works")
    T.ok(pcall(f, "extra", {}), label .. "." .. name .. " ignores extra arguments")
    return
  end
  local words = spec.words or { (name:gsub("^__", "")) }
  local f = caller(M, label, name)
  local n = #spec.kinds
  local ok, err = pcall(f, table.unpack(spec.valid(), 1, n))
  T.ok(ok, "valid call " .. label .. "." .. name .. " succeeds: " .. tostring(err))
  for i, kind in ipairs(spec.kinds) do
    local bad = BAD[kind]
    T.ok(bad, "kind " .. kind .. " has bad values")
    for _, b in ipairs(bad or {}) do
      local args = spec.valid()
      args[i] = value_of(b)
      tried = tried + 1
      must_fail(f, args, n, words, describe(label, name, args, n) .. " [argument #" .. i .. " " .. b.d .. "]")
    end
  end
  for _, args in ipairs(spec.wrong and spec.wrong() or {}) do
    tried = tried + 1
    must_fail(f, args, n, words, describe(label, name, args, n) .. " [wrong shape or range]")
  end
  -- the method form on a freed tensor
  if label == "Tensor" and spec.kinds[1] == "tensor" then
    local args = spec.valid()
    local m = caller(M, label, name, true)
    args[1] = freed()
    tried = tried + 1
    must_fail(m, args, n, words, "t:" .. name .. "(...) on a freed tensor")
    must_fail(m, args, n, { "freed" }, "t:" .. name .. "(...) on a freed tensor")
  end
end

-- Checks every function of M against lookup(name); returns the count.
local function check_table(M, label, lookup)
  local names = {}
  for name, v in pairs(M) do
    if type(v) == "function" then names[#names + 1] = name end
  end
  table.sort(names)
  for _, name in ipairs(names) do
    T.current = label .. "." .. name
    local spec = lookup(name)
    if T.ok(spec, "no error spec for " .. label .. "." .. name .. " (add it to tests/lua/test_errors.lua)") then
      check_function(M, label, name, spec)
    end
  end
  return #names
end

local start = live()
local counts = { sub = 0 }
counts.sx = check_table(sx, "sx", function(name) return SUB["sx." .. name] or SPEC[name] end)
counts.Tensor = check_table(sx.Tensor, "Tensor", function(name) return SPEC[name] end)
counts.meta = check_table(getmetatable(sx.ones{1}), "meta", function(name) return META[name] end)
-- sub-tables at any depth (sx.image, sx.nn, sx.nn.Module, ...), each once
local seen = { [sx] = true, [sx.Tensor] = true }
local function check_subtables(M, label)
  local keys = {}
  for k, v in pairs(M) do
    if type(k) == "string" and type(v) == "table" and not seen[v] then keys[#keys + 1] = k end
  end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v, sub = M[k], label .. "." .. k
    seen[v] = true
    counts.sub = counts.sub + check_table(v, sub, function(name) return SUB[sub .. "." .. name] end)
    check_subtables(v, sub)
  end
end
check_subtables(sx, "sx")
for _, spec in ipairs({ SUB }) do
  for key in pairs(spec) do
    local ok = load("local sx = ... return " .. key)(sx) ~= nil
    T.ok(ok, "spec " .. key .. " names a registered function")
  end
end
for name in pairs(SPEC) do
  T.ok(sx[name] or sx.Tensor[name], "spec " .. name .. " names a registered function")
end
os.remove(tmp)

T.test("coverage", function()
  T.ok(counts.sx >= 65, "sx has its functions (" .. counts.sx .. ")")
  T.ok(counts.Tensor >= 45, "sx.Tensor has its methods (" .. counts.Tensor .. ")")
  T.ok(counts.meta >= 11, "the metatable has its metamethods (" .. counts.meta .. ")")
  T.ok(tried > 1500, "bad calls tried: " .. tried)
end)

T.test("operators", function()
  local t = X()
  T.raises("tensor or number expected", function() return t + "1" end)
  T.raises("tensor or number expected", function() return t * {} end)
  T.raises("tensor or number expected", function() return true - t end)
  T.raises("freed", function() return freed() + 1 end)
  T.raises("freed", function() return 2 * freed() end)
  T.raises("freed", function() return -freed() end)
  T.raises("freed", function() return #freed() end)
  T.raises("number expected", function() return t ^ t end)
  T.raises("tensor expected", function() return 2 ^ t end)
  T.raises("do not broadcast", function() return t / sx.ones{4} end)
  T.raises("freed", function() return freed().grad end)
end)

T.test("still running", function()
  T.eq((sx.ones{2} + 1):totable(), { 2, 2 }, "ops still work after all those errors")
  T.eq(sx.is_grad_enabled(), true, "grad mode restored")
  sx.set_num_threads(2)
  T.eq(live(), start, "failed calls leaked no tensor memory")
end)

T.done()
