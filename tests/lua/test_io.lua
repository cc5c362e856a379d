-- tests/lua/test_io.lua — file formats from Lua: checkpoints (sx.save /
-- sx.load), PNG images (sx.image.load / save), IDX (sx.io.read_idx); the
-- error convention (nil, msg when a file cannot be opened or written; a Lua
-- error for corrupt content and bad arguments); and an independent check of
-- the checkpoint bytes by scripts/check_safetensors.py (numpy), when a
-- python3 with numpy is available.
local T = dofile("tests/lua/harness.lua")
local sx = require "stylex"

local tmp, made = T.tmpfiles() -- our files are named by tmp(suffix)
local base = made[1]
local write_file = T.write_file

local function read_file(path) return assert(T.read_file(path)) end

local function flat(t)
  return t:contiguous():reshape{ t:numel() }:totable()
end

-- ---------------------------------------------------------------- checkpoints

T.test("save and load round trip", function()
  sx.manual_seed(1)
  local tensors = {
    ["net.conv.weight"] = sx.randn{ 4, 3, 3, 3 },
    bias = sx.tensor{ 0, -0.0, 1e-30, -3.25 },
    scalar = sx.tensor(42.5),
    empty = sx.zeros{ 0, 3 },
    transposed = sx.randn{ 5, 6 }:transpose(1, 2),
  }
  local path = tmp(".safetensors")
  T.eq(sx.save(path, tensors, { step = 1000, lr = 0.1, third = 1 / 3, name = "fmnist-shoes", ema = true }), true)
  local got, meta = sx.load(path)
  local n = 0
  for name, t in pairs(tensors) do
    n = n + 1
    T.ok(got[name] ~= nil, "tensor " .. name .. " loaded")
    if got[name] then
      T.eq(got[name]:shape(), t:shape(), name .. " shape")
      T.eq(flat(got[name]), flat(t), name .. " values")
    end
  end
  local m = 0
  for _ in pairs(got) do m = m + 1 end
  T.eq(m, n, "no extra tensors")
  T.eq(meta.step, "1000", "integers as integers")
  T.eq(meta.lr, "0.1", "floats in their shortest exact form")
  T.eq(meta.name, "fmnist-shoes")
  T.eq(meta.ema, "true", "booleans as true/false")
  T.eq(tonumber(meta.third), 1 / 3, "floats are written so that they read back exactly")

  -- no metadata at all; an empty checkpoint
  T.eq(sx.save(path, { a = sx.ones{ 2 } }), true)
  local g2, m2 = sx.load(path)
  T.eq(flat(g2.a), { 1, 1 })
  T.eq(next(m2), nil, "empty metadata table")
  T.eq(sx.save(path, {}), true)
  local g3 = sx.load(path)
  T.eq(next(g3), nil, "empty checkpoint")
end)

T.test("save is deterministic and header is padded", function()
  local ts = { b = sx.ones{ 3 }, a = sx.zeros{ 2 }, c = sx.full({ 1 }, 2) }
  local p1, p2 = tmp("-d1.safetensors"), tmp("-d2.safetensors")
  sx.save(p1, ts, { x = "1", y = "2" })
  sx.save(p2, ts, { y = "2", x = "1" })
  local b1 = read_file(p1)
  T.eq(b1, read_file(p2), "same content gives the same bytes")
  local hlen = string.unpack("<I8", b1)
  T.eq(hlen % 8, 0, "header padded to a multiple of 8")
  local header = b1:sub(9, 8 + hlen)
  T.ok(header:find('"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}', 1, true), "names in sorted order: " .. header)
  T.eq(#b1, 8 + hlen + 4 * 6)
end)

T.test("save argument errors", function()
  local p = tmp("-args.safetensors")
  T.raises("(table expected, got string)", sx.save, p, "not a table")
  T.raises("tensor names must be strings", sx.save, p, { sx.ones{ 1 } })
  T.raises("value for 'w' is number", sx.save, p, { w = 3 })
  local t = sx.ones{ 1 }
  t:free()
  T.raises("value for 'w' is a freed tensor", sx.save, p, { w = t })
  T.raises("metadata value for key 'config' is a table", sx.save, p, { a = sx.ones{ 1 } }, { config = { 1 } })
  T.raises("metadata keys must be strings", sx.save, p, { a = sx.ones{ 1 } }, { "x" })
  T.raises("__metadata__", sx.save, p, { __metadata__ = sx.ones{ 1 } })
  T.eq(io.open(p, "rb"), nil, "nothing written")
  local ok, msg = sx.save(base .. "-no-such-dir/x.safetensors", { a = sx.ones{ 1 } })
  T.eq(ok, nil, "I/O failure returns nil")
  T.ok(type(msg) == "string" and msg:find("cannot create", 1, true), "with a message: " .. tostring(msg))
end)

T.test("load errors", function()
  local ok, msg = sx.load(base .. "-missing.safetensors")
  T.eq(ok, nil, "missing file returns nil")
  T.ok(msg and msg:find("cannot open", 1, true), tostring(msg))
  local p = tmp("-bad.safetensors")
  write_file(p, string.pack("<I8", 1000) .. "{}")
  T.raises("runs past the end of the file", sx.load, p)
  local h = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}'
  write_file(p, string.pack("<I8", #h) .. h .. string.rep("\0", 12))
  T.raises("overlaps", sx.load, p)
  h = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]'
  write_file(p, string.pack("<I8", #h) .. h .. string.rep("\0", 8))
  T.raises("malformed JSON header", sx.load, p)
  -- other dtypes are converted to float
  h = '{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"u":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}}'
  write_file(p, string.pack("<I8", #h) .. h .. string.pack("<I2I2BB", 0x3C00, 0xC000, 7, 255))
  local got = sx.load(p)
  T.eq(got.h:totable(), { 1, -2 })
  T.eq(got.u:totable(), { 7, 255 })
end)

-- ---------------------------------------------------------------- images

T.test("png round trip", function()
  sx.manual_seed(2)
  for _, c in ipairs{ 1, 3 } do
    local x = sx.rand{ c, 7, 5 }
    local p = tmp("-" .. c .. ".png")
    T.eq(sx.image.save(x, p), true)
    local y = sx.image.load(p)
    T.eq(y:shape(), { c, 7, 5 })
    T.near(flat(y), flat(x), 0.5 / 255 + 1e-6, "8-bit quantisation only")
  end
  local p = tmp("-hw.png")
  sx.image.save(sx.tensor{ { 0, 1 }, { -5, 5 } }, p)
  T.eq(sx.image.load(p):totable(), { { { 0, 1 }, { 0, 1 } } }, "[H, W] saved as grey, clamped")
end)

T.test("png errors", function()
  T.raises("expected 1 or 3 channels", sx.image.save, sx.zeros{ 2, 4, 4 }, tmp("-x.png"))
  T.raises("expected a [C, H, W] or [H, W] tensor", sx.image.save, sx.zeros{ 4 }, tmp("-x.png"))
  T.raises("bad argument #1 to", sx.image.save, "x.png", sx.zeros{ 1, 2, 2 })
  local ok, msg = sx.image.load(base .. "-missing.png")
  T.eq(ok, nil)
  T.ok(msg and msg:find("png: ", 1, true) and msg:find("cannot open", 1, true), tostring(msg))
  ok, msg = sx.image.save(sx.zeros{ 1, 2, 2 }, base .. "-no-such-dir/x.png")
  T.eq(ok, nil)
  T.ok(msg and msg:find("cannot create", 1, true), tostring(msg))

  local p = tmp("-crc.png")
  sx.image.save(sx.rand{ 3, 8, 8 }, p)
  local b = read_file(p)
  local idat = b:find("IDAT", 1, true)
  local i = idat + 4 + 10 -- a byte inside IDAT's data
  write_file(p, b:sub(1, i - 1) .. string.char(b:byte(i) ~ 0x20) .. b:sub(i + 1))
  local err = T.raises("CRC error", sx.image.load, p)
  T.ok(err and err:find("png: " .. p, 1, true), "message names the file: " .. tostring(err))
  write_file(p, b:sub(1, #b // 2))
  T.raises("truncated", sx.image.load, p)
  write_file(p, "not a png at all")
  T.raises("not a PNG file", sx.image.load, p)
end)

-- ---------------------------------------------------------------- IDX

T.test("read_idx", function()
  local p = tmp("-labels-idx1")
  write_file(p, string.pack(">I4I4", 0x801, 4) .. "\0\1\9\7")
  T.eq(sx.io.read_idx(p):totable(), { 0, 1, 9, 7 })
  write_file(p, string.pack(">I4I4", 0x801, 5) .. "\0\1\9\7")
  T.raises("truncated", sx.io.read_idx, p)
  write_file(p, string.pack(">I4I4", 0x0803, 4) .. "\0\1\9\7")
  T.raises("truncated header", sx.io.read_idx, p)
  write_file(p, string.pack(">I4I4", 0x0701, 4) .. "\0\1\9\7")
  T.raises("bad magic number", sx.io.read_idx, p)
  local ok, msg = sx.io.read_idx(base .. "-missing.gz")
  T.eq(ok, nil)
  T.ok(msg and msg:find("cannot open", 1, true), tostring(msg))

  local labels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"
  local f = io.open(labels, "rb")
  if not f then
    print("skip: Fashion-MNIST labels (package dataset-fashion-mnist) not installed")
    return
  end
  f:close()
  local y = sx.io.read_idx(labels)
  T.eq(y:shape(), { 10000 })
  local counts = {}
  for _, v in ipairs(y:totable()) do counts[v] = (counts[v] or 0) + 1 end
  for c = 0, 9 do T.eq(counts[c], 1000, "class " .. c) end
end)

-- ---------------------------------------------------------------- shapes that overflow

-- [0, 2^32, 2^32] holds no element, but its strides pass 2^63: refused in
-- sx_shape_check, the one place every shape goes through (also under
-- UBSan, where computing the strides would abort).
T.test("shapes whose count or strides overflow are refused", function()
  T.raises("shape too large", sx.zeros, { 0, 4294967296, 4294967296 })
  T.raises("shape too large", sx.zeros, { 4294967296, 4294967296 })
  T.eq(sx.zeros{ 0, 65536, 65536 }:numel(), 0, "a large empty shape within the limit is fine")
  T.raises("too large", function() return sx.zeros{ 0 }:reshape{ 0, 4294967296, 4294967296 } end)
  local p = tmp("-huge-idx")
  write_file(p, string.pack(">I4I4I4I4", 0x0803, 0, 0xffffffff, 0xffffffff))
  T.raises("absurd shape", sx.io.read_idx, p)
  local st = tmp("-huge.safetensors")
  local header = '{"x":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}}'
  write_file(st, string.pack("<I8", #header) .. header)
  T.raises("absurd shape", sx.load, st)
end)

-- ---------------------------------------------------------------- folders

T.test("mkdir, remove_tree, replace_dir, stale temporaries: no shell", function()
  local root = tmp("-dirs")
  local odd = root .. "/it's; $(touch PWNED) `x`/b"
  T.eq(sx.mkdir(odd), true)
  T.eq(sx.mkdir(odd .. "/"), true, "an existing folder is fine")
  T.ok(T.exists(odd) and not T.exists("PWNED") and not T.exists(root .. "/PWNED"), "made as named, nothing run")
  write_file(odd .. "/f", "x")
  local ok, err = sx.mkdir(odd .. "/f/g")
  T.eq(ok, nil)
  T.ok(err and err:find("is not a folder", 1, true), tostring(err))
  -- replace_dir: the new folder in place of the old, the old gone
  local a, b = root .. "/report", root .. "/report.tmp-1"
  assert(sx.mkdir(a) and sx.mkdir(b))
  write_file(a .. "/old.txt", "old")
  write_file(b .. "/new.txt", "new")
  T.eq(sx.replace_dir(b, a), true)
  T.ok(T.exists(a .. "/new.txt") and not T.exists(a .. "/old.txt") and not T.exists(b), "swapped whole")
  -- stale temporaries: a dead pid's are removed, this process's are kept
  local target = root .. "/ck.safetensors"
  local dead = target .. ".tmp-999999999"
  local mine = target .. ".tmp-" .. sx.getpid()
  write_file(dead, "half")
  write_file(mine, "mine")
  assert(sx.mkdir(target .. ".tmp-999999998"))
  write_file(target .. ".tmp-notapid", "x")
  T.eq(sx.remove_stale_temporaries(target), 2)
  T.ok(not T.exists(dead) and T.exists(mine) and T.exists(target .. ".tmp-notapid"), "only the dead ones")
  write_file(dead, "half")
  assert(sx.save(target, { w = sx.zeros{ 2 } }))
  T.ok(not T.exists(dead), "a safetensors save removes them too")
  T.eq(sx.remove_tree(root), true)
  T.ok(not T.exists(root), "removed")
  T.eq(sx.remove_tree(root), true, "a missing path is fine")
end)

-- ---------------------------------------------------------------- independent check

-- A python3 with numpy, or nil.
local function find_python()
  for _, py in ipairs{ "python3", "/usr/bin/python3" } do
    if os.execute(py .. ' -c "import numpy" >/dev/null 2>&1') then return py end
  end
end

-- The raw dump format of scripts/check_safetensors.py.
local function write_dump(path, tensors)
  local parts = { "SXDUMP1\n" }
  local names = {}
  for name in pairs(tensors) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    local t = tensors[name]
    local shape = t:shape()
    parts[#parts + 1] = string.pack("<I4", #name) .. name .. string.pack("<I4", #shape)
    for _, s in ipairs(shape) do parts[#parts + 1] = string.pack("<I8", s) end
    for _, v in ipairs(flat(t)) do parts[#parts + 1] = string.pack("<f", v) end
  end
  write_file(path, table.concat(parts))
end

T.test("check_safetensors.py agrees bit for bit", function()
  local py = find_python()
  if not py then
    print("skip: check_safetensors.py needs python3 with numpy (Debian package python3-numpy)")
    return
  end
  sx.manual_seed(3)
  local tensors = {
    ["mapping.fc0.weight"] = sx.randn{ 16, 8 },
    ["synthesis.b4.const"] = sx.randn{ 4, 4, 4 },
    ["odd name \"ü\""] = sx.tensor{ -0.0, 1e-40, 3.4e38, -1 },
    step = sx.tensor(7),
    empty = sx.zeros{ 2, 0 },
    view = sx.randn{ 3, 5 }:transpose(1, 2),
  }
  local ckpt, dump = tmp("-py.safetensors"), tmp("-py.dump")
  sx.save(ckpt, tensors, { step = 7, config = '{"w_dim": 128}' })
  write_dump(dump, tensors)
  local cmd = string.format("%s scripts/check_safetensors.py '%s' '%s' --meta step=7 --meta 'config={\"w_dim\": 128}'",
                            py, ckpt, dump)
  T.eq(os.execute(cmd), true, "check_safetensors.py passes")
  -- and it does fail on a mismatch
  tensors.step = sx.tensor(8)
  write_dump(dump, tensors)
  T.ok(not os.execute(cmd .. " 2>/dev/null"), "check_safetensors.py catches a changed value")
end)

for _, p in ipairs(made) do os.remove(p) end
T.done()
