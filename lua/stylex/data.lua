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
local cjson = require "cjson"

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

-- ---------------------------------------------------------------- a folder of PNGs

-- Splits one CSV line into fields. A field may be quoted ("a, b.png") as long
-- as it holds no quote itself; unquoted fields are trimmed of blanks.
-- Returns the fields, or nil and a reason.
local function csv_fields(line)
  local fields, pos, n = {}, 1, #line
  while true do
    local field
    local first = line:find("%S", pos) or n + 1
    if line:sub(first, first) == '"' then
      local close = line:find('"', first + 1, true)
      if not close then return nil, "unterminated quoted field" end
      field = line:sub(first + 1, close - 1)
      local after = line:find("%S", close + 1) or n + 1
      local c = line:sub(after, after)
      if c == '"' then return nil, "quote inside a quoted field (not supported)" end
      if c ~= "" and c ~= "," then return nil, "text after a quoted field" end
      pos = after
    else
      local comma = line:find(",", pos, true) or n + 1
      field = line:sub(pos, comma - 1):match("^%s*(.-)%s*$")
      if field:find('"', 1, true) then return nil, "quote inside an unquoted field" end
      pos = comma
    end
    fields[#fields + 1] = field
    if pos > n then return fields end
    pos = pos + 1 -- past the comma
    if pos > n then
      fields[#fields + 1] = ""
      return fields
    end
  end
end

-- Reads the `file,label` CSV: a list of {file=, label=, line=}.
local function read_label_csv(path)
  local f, err = io.open(path, "rb")
  if not f then error("image_folder: cannot open the labels file: " .. err, 3) end
  local text = f:read("a")
  f:close()
  text = text:gsub("^\239\187\191", "") -- a UTF-8 byte order mark
  local rows, header_seen, lineno, n_columns = {}, false, 0, 2
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    lineno = lineno + 1
    line = line:gsub("\r$", "")
    if line:find("%S") then
      local fields, why = csv_fields(line)
      if not fields then error(string.format("image_folder: %s: line %d: %s", path, lineno, why), 3) end
      if not header_seen then
        if #fields < 2 or fields[1]:lower() ~= "file" or fields[2]:lower() ~= "label" then
          error(string.format("image_folder: %s: line %d: expected the header 'file,label', got '%s'",
            path, lineno, line), 3)
        end
        header_seen, n_columns = true, #fields
      else
        if #fields ~= n_columns then
          error(string.format("image_folder: %s: line %d: %d fields, expected %d as in the header", path, lineno,
            #fields, n_columns), 3)
        end
        if fields[1] == "" or fields[2] == "" then
          error(string.format("image_folder: %s: line %d: empty %s", path, lineno,
            fields[1] == "" and "file name" or "label"), 3)
        end
        rows[#rows + 1] = { file = fields[1], label = fields[2], line = lineno }
      end
    end
  end
  if not header_seen then error("image_folder: " .. path .. ": empty file (expected the header 'file,label')", 3) end
  return rows
end

local IMAGE_FOLDER_OPTS = { dir = true, labels = true, size = true, channels = true, name = true, classes = true }

-- A user's own images: PNG files (grey or RGB, any size) listed in a CSV.
--   dir       the folder holding the images (required)
--   labels    the CSV (default dir .. "/labels.csv"): a header `file,label`,
--             (further columns are allowed and ignored, as in the shapes
--             benchmark's labels.csv), then one row per image. `file` is relative to dir (or
--             absolute); `label` is an integer or a name. The distinct labels,
--             sorted (as numbers when every label is an integer, else as
--             strings), are the classes 0..K-1: labels 3 and 8 make 2 classes,
--             3 -> 0 and 8 -> 1. Blank lines are ignored, CRLF line
--             ends accepted, fields may be quoted if they hold no quote.
--   classes   a mapping to use instead (the label_map of another split or of a
--             model's metadata): a list of labels, class k-1 being classes[k];
--             a label not in it is an error naming the label and the line
--   size      side of the square images (default 32): a non-square image is
--             centre-cropped to a square, then resized with sx.image.resize
--   channels  1 or 3 (default: 3 if any image is RGB, else 1); grey is
--             repeated into RGB, RGB becomes 0.299 R + 0.587 G + 0.114 B
--   name      the data set's name (default "folder:" .. dir)
-- Returns a data set like data.fashion_mnist's (images [N, C, size, size] in
-- [-1, 1], labels [N] of 0-based classes); ds.label_map lists the original
-- labels (strings) in class order, ds.classes names the classes (the same).
-- A file the CSV names that does not exist is an error (one line, the count
-- and the first names): a CSV that does not match its folder is refused, not
-- half read. A corrupt PNG is reported on stderr with its name and skipped,
-- with a count at the end; ds.skipped lists them as {file=, reason=}. No
-- readable image at all is an error.
function data.image_folder(opts)
  if type(opts) ~= "table" then
    error("bad argument #1 to 'image_folder' (table of options expected, got " .. type(opts) .. ")", 2)
  end
  for k in pairs(opts) do
    if not IMAGE_FOLDER_OPTS[k] then
      error("bad argument #1 to 'image_folder' (unknown option '" .. tostring(k) ..
        "' (options: dir, labels, classes, size, channels, name))", 2)
    end
  end
  local dir = opts.dir
  if type(dir) ~= "string" or dir == "" then
    error("bad argument #1 to 'image_folder' (option 'dir' must be a folder name)", 2)
  end
  local csv = opts.labels or (dir .. "/labels.csv")
  if type(csv) ~= "string" then
    error("bad argument #1 to 'image_folder' (option 'labels' must be a file name)", 2)
  end
  local size = opts.size or 32
  if math.type(size) ~= "integer" or size < 1 or size > 4096 then
    error("bad argument #1 to 'image_folder' (option 'size' must be an integer in 1..4096)", 2)
  end
  local channels = opts.channels
  if channels ~= nil and channels ~= 1 and channels ~= 3 then
    error("bad argument #1 to 'image_folder' (option 'channels' must be 1 or 3)", 2)
  end
  local given = opts.classes
  if given ~= nil then
    if type(given) ~= "table" or #given == 0 then
      error("bad argument #1 to 'image_folder' (option 'classes' must be a non-empty list of labels)", 2)
    end
  end

  local rows = read_label_csv(csv)
  if #rows == 0 then error("image_folder: " .. csv .. " lists no images", 2) end

  local classes, index = {}, {}
  if given then
    for k, c in ipairs(given) do
      classes[k] = tostring(c)
      index[classes[k]] = k - 1
    end
    for _, r in ipairs(rows) do
      r.y = index[r.label]
      if not r.y and r.label:match("^%d+$") then r.y = index[tostring(math.tointeger(tonumber(r.label)))] end
      if not r.y then
        error(string.format("image_folder: %s: line %d: label '%s' is not one of the model's classes (%s)", csv,
          r.line, r.label, table.concat(classes, ", ")), 2)
      end
    end
  else
    -- the distinct labels, sorted (numerically when every label is an integer)
    local all_int = true
    for _, r in ipairs(rows) do
      if not r.label:match("^%d+$") or #r.label > 15 then all_int = false end
    end
    for _, r in ipairs(rows) do
      local key = all_int and tostring(math.tointeger(tonumber(r.label))) or r.label
      r.key = key
      if not index[key] then
        index[key] = true
        classes[#classes + 1] = key
      end
    end
    if #classes > 100000 then error(string.format("image_folder: %s: %d labels: at most 100000 classes", csv,
      #classes), 2) end
    if all_int then
      table.sort(classes, function(a, b) return tonumber(a) < tonumber(b) end)
    else
      table.sort(classes)
    end
    for k, c in ipairs(classes) do index[c] = k - 1 end
    for _, r in ipairs(rows) do r.y = index[r.key] end
  end

  -- files the CSV names that are not there: the CSV does not match the folder
  local missing = {}
  for _, r in ipairs(rows) do
    r.path = r.file:sub(1, 1) == "/" and r.file or (dir .. "/" .. r.file)
    local f, err = io.open(r.path, "rb")
    if f then
      f:close()
    elseif err and err:find("No such file", 1, true) then
      missing[#missing + 1] = string.format("%s (line %d)", r.file, r.line)
    end
  end
  if #missing > 0 then
    local shown = {}
    for i = 1, math.min(3, #missing) do shown[i] = missing[i] end
    error(string.format("image_folder: %s names %d file%s not in %s: %s%s", csv, #missing,
      #missing == 1 and "" or "s", dir, table.concat(shown, ", "), #missing > 3 and ", ..." or ""), 2)
  end

  -- images: load, crop to a square, resize; bad files are skipped
  local images, labels, skipped = {}, {}, {}
  local any_rgb = false
  for _, r in ipairs(rows) do
    local ok, img, msg = pcall(sx.image.load, r.path)
    if ok and img then
      local shape = img:shape()
      local h, w = shape[2], shape[3]
      local side = math.min(h, w)
      if h ~= w then
        img = img:narrow(2, (h - side) // 2 + 1, side):narrow(3, (w - side) // 2 + 1, side)
      end
      if side ~= size or h ~= w then img = sx.image.resize(img, { size, size }) end
      images[#images + 1] = img
      labels[#labels + 1] = r.y
      any_rgb = any_rgb or shape[1] == 3
    else
      local reason = ok and msg or img
      skipped[#skipped + 1] = { file = r.file, reason = tostring(reason) }
      io.stderr:write(string.format("image_folder: skipping %s (line %d of %s): %s\n", r.file, r.line, csv,
        tostring(reason)))
    end
  end
  if #skipped > 0 then
    io.stderr:write(string.format("image_folder: skipped %d of %d images listed in %s\n", #skipped, #rows, csv))
  end
  if #images == 0 then
    error(string.format("image_folder: no image could be read (%d listed in %s, all skipped)", #rows, csv), 2)
  end

  channels = channels or (any_rgb and 3 or 1)
  for i, img in ipairs(images) do
    local c = img:shape()[1]
    if c == 1 and channels == 3 then
      images[i] = sx.cat({ img, img, img }, 1)
    elseif c == 3 and channels == 1 then
      images[i] = img:narrow(1, 1, 1) * 0.299 + img:narrow(1, 2, 1) * 0.587 + img:narrow(1, 3, 1) * 0.114
    end
  end

  return new_dataset{
    name = opts.name or ("folder:" .. dir),
    images = sx.stack(images, 1) * 2 - 1,
    labels = sx.tensor(labels),
    classes = classes,
    label_map = classes,
    n_classes = #classes,
    channels = channels,
    resolution = size,
    skipped = skipped,
  }
end

-- ------------------------------------------- a folder's splits, as a model records them

-- path made absolute against the working folder ($PWD), so that a model's
-- record of its data still finds it from another folder.
function data.absolute(path)
  if path:sub(1, 1) == "/" then return path end
  local pwd = os.getenv("PWD")
  if not pwd or pwd:sub(1, 1) ~= "/" then return path end
  path = path:gsub("^%./", "")
  return (pwd:gsub("/+$", "")) .. "/" .. path
end

local RECORD_KEYS = { dir = "string", labels = "string", test_labels = "string", test = "number",
  seed = "number", size = "number", channels = "number", label_map = "table" }

-- The record of an image folder and its held-out split that a model's
-- metadata keeps (key "data", JSON; docs/your-data.md):
--   dir, labels        the folder and its CSV (absolute paths)
--   test_labels        a second CSV listing the held-out images, or
--   test, seed         the count (or, below 1, the fraction) held out of `labels`,
--                      drawn with data.permutation(seed)
--   size, channels     the side and channel count the images are read at
--   label_map          the original labels in class order (class k-1 = label_map[k])
-- data.folder_splits(rec [, size, channels]) reads the folder back: the
-- images used for training (everything not held out) and the held-out
-- ones, with the recorded label map; size and channels override the record's.
function data.folder_splits(rec, size, channels)
  if type(rec) == "string" then
    local ok, t = pcall(cjson.decode, rec)
    if not ok or type(t) ~= "table" then error("data.folder_splits: the data record is not JSON", 2) end
    rec = t
  end
  if type(rec) ~= "table" then error("data.folder_splits: a data record (table or JSON) expected", 2) end
  for k, kind in pairs(RECORD_KEYS) do
    if rec[k] ~= nil and type(rec[k]) ~= kind then
      error(string.format("data.folder_splits: the data record's '%s' is a %s, expected a %s", k, type(rec[k]),
        kind), 2)
    end
  end
  if not rec.dir or not rec.labels then error("data.folder_splits: the data record has no dir or labels", 2) end
  local base = { dir = rec.dir, labels = rec.labels, size = math.tointeger(size or rec.size),
    channels = math.tointeger(channels or rec.channels), classes = rec.label_map }
  local full = data.image_folder(base)
  if rec.test_labels then
    base.labels, base.classes, base.channels = rec.test_labels, full.label_map, full.channels
    return full, data.image_folder(base)
  end
  local n_test = rec.test
  if type(n_test) == "number" and n_test > 0 and n_test < 1 then -- a fraction
    n_test = math.max(1, math.floor(n_test * full:size() + 0.5))
  end
  n_test = math.tointeger(n_test)
  if not n_test or n_test < 1 or n_test >= full:size() then
    error(string.format("data.folder_splits: %s: %s held out of %d readable images (expected 1..%d)", rec.labels,
      tostring(rec.test), full:size(), full:size() - 1), 2)
  end
  local train, test = full:split(n_test, math.tointeger(rec.seed) or 1)
  train.name, test.name = full.name .. " (training split)", full.name .. " (held-out split)"
  return train, test
end

-- The labels a folder's CSV is read with for a model whose metadata is meta
-- (a classifier's or a StylEx model's; class_names: its classes): the
-- recorded label map of the folder it was trained on, else, for a model of
-- Fashion-MNIST, its original labels (7, 9 for fmnist-shoes), else the class
-- names (an ONNX sidecar's).
function data.label_map_of(meta, class_names)
  if meta.data then
    local ok, rec = pcall(cjson.decode, meta.data)
    if ok and type(rec) == "table" and type(rec.label_map) == "table" then return rec.label_map end
  end
  if meta.dataset == "fashion-mnist" and meta.classes then
    local ok, c = pcall(cjson.decode, meta.classes)
    if ok and type(c) == "table" then
      local map = {}
      for k, v in ipairs(c) do map[k] = tostring(math.tointeger(v) or v) end
      return map
    end
  end
  return class_names
end

-- The ground-truth benchmark (docs/benchmark.md; renderer in lib/data/shapes.c):
--   split   "train" (marker in 90% of class 1 and 10% of class 0: the shortcut)
--           or "test" (marker in half of each class, independent of the label)
--   n       number of images (default 20,000 for train, 2,000 for test)
--   seed    the data's seed (default 1; the test split uses its own stream)
--   marker  {if_1, if_0}: the marker's rate per class, overriding the split's
-- Besides the usual fields, ds.factors is a tensor [N, F] of every image's
-- factor values, columns named by ds.factor_names (= sx.shapes.factors).
data.SHAPES_CLASSES = {"few causes", "most causes"}
data.SHAPES_SPLITS = {train = {n = 20000, stream = 0, marker = {0.9, 0.1}},
                      test = {n = 2000, stream = 1, marker = {0.5, 0.5}}}

-- A data set of given factors [N, F]: images rendered, labels by the rule.
function data.shapes_from_factors(factors, name)
  local images = sx.shapes.render(factors) * 2 - 1
  return new_dataset{
    name = name or "shapes",
    images = images,
    labels = sx.shapes.label(factors),
    factors = factors,
    factor_names = sx.shapes.factors,
    classes = data.SHAPES_CLASSES,
    n_classes = 2,
    channels = 1,
    resolution = 32,
  }
end

function data.shapes(opts)
  opts = opts or {}
  if type(opts) ~= "table" then
    error("bad argument #1 to 'shapes' (table of options expected, got " .. type(opts) .. ")", 2)
  end
  for k in pairs(opts) do
    if k ~= "split" and k ~= "n" and k ~= "seed" and k ~= "marker" then
      error("bad argument #1 to 'shapes' (unknown option '" .. tostring(k) .. "'; expected split, n, seed, marker)", 2)
    end
  end
  local split = opts.split or "train"
  local spec = data.SHAPES_SPLITS[split]
  if not spec then
    error("bad argument #1 to 'shapes' (split must be \"train\" or \"test\", got " .. tostring(split) .. ")", 2)
  end
  local n = opts.n or spec.n
  if math.type(n) ~= "integer" or n < 1 then error("bad argument #1 to 'shapes' (n must be a positive integer)", 2) end
  local seed = opts.seed or 1
  if math.type(seed) ~= "integer" or seed < 0 then
    error("bad argument #1 to 'shapes' (seed must be a non-negative integer)", 2)
  end
  local marker = opts.marker or spec.marker
  -- The split picks a separate stream of the seed, so train and test never share images.
  local factors = sx.shapes.sample(seed * 2 + spec.stream, 0, n, marker[1], marker[2])
  return data.shapes_from_factors(factors, "shapes-" .. split)
end

-- The built-in data sets by the name a classifier's metadata records
-- (meta.dataset): "fashion-mnist" (classes: original labels to keep) or
-- "shapes" (classes unused; its test split is the balanced one).
function data.named(dataset, split, classes)
  if dataset == "fashion-mnist" then return data.fashion_mnist{split = split, classes = classes} end
  if dataset == "shapes" then return data.shapes{split = split} end
  error("data.named: unknown data set '" .. tostring(dataset) .. "' (expected fashion-mnist or shapes)", 2)
end

data.Dataset = Dataset
data.new_dataset = new_dataset
return data
