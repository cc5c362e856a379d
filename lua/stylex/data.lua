-- stylex.data — data sets as Lua objects over tensors.
--
-- A data set holds all its images in one tensor [N, C, H, W] in [-1, 1] and
-- its labels in a tensor [N] of 0-based class indices (floats), and offers
--   ds:size()                      number of samples
--   ds:batch(indices)              images [B, C, H, W], labels [B] (indices 1-based)
--   ds:batches(n, {shuffle=, seed=, drop_last=})   iterator of (images, labels, indices)
--   ds:split(n_held_out, seed)     two data sets: the rest, and n_held_out samples
--   ds:subset(indices)             a data set of those samples
-- plus fields: classes (names), n_classes, channels, resolution, name.
local sx = require "stylex"

local data = {}

local Dataset = {}
Dataset.__index = Dataset

local function new_dataset(fields)
  return setmetatable(fields, Dataset)
end

function Dataset:size()
  return self.images:shape()[1]
end

local function as_index_list(indices, n, fn)
  if type(indices) ~= "table" then
    error(string.format("bad argument #1 to '%s' (table of indices expected, got %s)", fn, type(indices)), 3)
  end
  for k, i in ipairs(indices) do
    if math.type(i) ~= "integer" or i < 1 or i > n then
      error(string.format("bad argument #1 to '%s' (index #%d is %s, expected an integer in 1..%d)",
        fn, k, tostring(i), n), 3)
    end
  end
  return indices
end

function Dataset:batch(indices)
  as_index_list(indices, self:size(), "batch")
  return self.images:index_select(1, indices), self.labels:index_select(1, indices)
end

function Dataset:subset(indices)
  as_index_list(indices, self:size(), "subset")
  local fields = {}
  for k, v in pairs(self) do fields[k] = v end
  fields.images, fields.labels = self:batch(indices)
  return new_dataset(fields)
end

-- A private splitmix64 stream: uniforms in [0, 1) that depend only on the
-- seed (Lua 5.4 integers wrap, >> is logical), leaving the library's global
-- RNG untouched.
function data.uniform_stream(seed)
  local s = math.tointeger(seed) or 0
  return function()
    s = s + 0x9E3779B97F4A7C15
    local z = s
    z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ~ (z >> 27)) * 0x94D049BB133111EB
    z = z ~ (z >> 31)
    return (z >> 11) * 2.0^-53
  end
end

-- A permutation of 1..n (Fisher-Yates) determined by the seed.
function data.permutation(n, seed)
  local u = data.uniform_stream(seed)
  local p = {}
  for i = 1, n do p[i] = i end
  for i = n, 2, -1 do
    local j = 1 + math.floor(u() * i)
    p[i], p[j] = p[j], p[i]
  end
  return p
end

function Dataset:split(n_held_out, seed)
  local n = self:size()
  if math.type(n_held_out) ~= "integer" or n_held_out < 1 or n_held_out >= n then
    error(string.format("bad argument #1 to 'split' (held-out count must be an integer in 1..%d)", n - 1), 2)
  end
  local p = data.permutation(n, seed or 0)
  local rest, held = {}, {}
  for i = 1, n do
    if i <= n_held_out then held[#held + 1] = p[i] else rest[#rest + 1] = p[i] end
  end
  table.sort(rest)
  table.sort(held)
  return self:subset(rest), self:subset(held)
end

function Dataset:batches(batch_size, opts)
  opts = opts or {}
  local n = self:size()
  local order
  if opts.shuffle then
    order = data.permutation(n, opts.seed or 0)
  else
    order = {}
    for i = 1, n do order[i] = i end
  end
  local pos = 0
  return function()
    if pos >= n or (opts.drop_last and pos + batch_size > n) then return nil end
    local idx = {}
    for i = pos + 1, math.min(pos + batch_size, n) do idx[#idx + 1] = order[i] end
    pos = pos + batch_size
    local x, y = self:batch(idx)
    return x, y, idx
  end
end

-- Class names of Fashion-MNIST, by original label 0..9.
data.FASHION_MNIST_CLASSES = {
  [0] = "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
  "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
}

data.FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

-- Fashion-MNIST from the Debian package dataset-fashion-mnist:
--   split   "train" (60,000) or "test" (10,000)
--   classes list of original labels to keep, relabelled 0.. in that order
--           (default: all ten)
--   size    32 (pads 28 -> 32 with the background) or 28
--   dir     where the IDX files are
function data.fashion_mnist(opts)
  opts = opts or {}
  local split = opts.split or "train"
  if split ~= "train" and split ~= "test" then
    error("bad argument #1 to 'fashion_mnist' (split must be \"train\" or \"test\", got " .. tostring(split) .. ")", 2)
  end
  local size = opts.size or 32
  if size ~= 28 and size ~= 32 then
    error("bad argument #1 to 'fashion_mnist' (size must be 28 or 32)", 2)
  end
  local dir = opts.dir or data.FASHION_MNIST_DIR
  local prefix = split == "train" and "train" or "t10k"
  local images = assert(sx.io.read_idx(dir .. "/" .. prefix .. "-images-idx3-ubyte.gz"))
  local labels = assert(sx.io.read_idx(dir .. "/" .. prefix .. "-labels-idx1-ubyte.gz"))
  local n = images:shape()[1]
  if labels:shape()[1] ~= n then
    error(string.format("fashion_mnist: %d images but %d labels in %s", n, labels:shape()[1], dir), 2)
  end

  local classes = opts.classes
  local names = {}
  local keep, relabel = nil, {}
  if classes then
    for k, c in ipairs(classes) do
      c = math.tointeger(c) -- labels decoded from JSON arrive as floats
      if not c or c < 0 or c > 9 then
        error("bad argument #1 to 'fashion_mnist' (classes must be labels 0..9)", 2)
      end
      relabel[c] = k - 1
      names[k] = data.FASHION_MNIST_CLASSES[c]
    end
    keep = {}
    local lab = labels:totable()
    for i = 1, n do
      if relabel[math.tointeger(lab[i])] then keep[#keep + 1] = i end
    end
  else
    for c = 0, 9 do
      relabel[c] = c
      names[c + 1] = data.FASHION_MNIST_CLASSES[c]
    end
  end

  local x = images:reshape{n, 1, 28, 28}
  local y = labels
  if keep then
    x = x:index_select(1, keep)
    y = y:index_select(1, keep)
  end
  local lab = y:totable()
  for i = 1, #lab do lab[i] = relabel[math.tointeger(lab[i])] end
  y = sx.tensor(lab)
  if size == 32 then
    x = sx.upfirdn2d(x, sx.ones{1, 1}, {up = 1, down = 1, pad = {2, 2, 2, 2}})
  end
  x = x / 127.5 - 1
  return new_dataset{
    name = "fashion-mnist-" .. split,
    images = x,
    labels = y,
    classes = names,
    n_classes = #names,
    channels = 1,
    resolution = size,
  }
end

data.Dataset = Dataset
data.new_dataset = new_dataset
return data
