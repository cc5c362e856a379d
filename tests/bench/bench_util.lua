-- tests/bench/bench_util.lua — what the Lua benchmarks (and the mirror's
-- test) share: the load average, and the driving of the PyTorch mirror
-- (tests/bench/torch_mirror.py): its configuration, its numerical check and
-- the process that times the step beside ours.
--   local U = dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/bench_util.lua")
local sx = require "stylex"
local cjson = require "cjson"
local U = {}

-- The machine's load average ("1.23 0.98 0.50"), or "?" where /proc is absent.
function U.loadavg()
  local f = io.open("/proc/loadavg")
  if not f then return "?" end
  local s = f:read("l")
  f:close()
  return s:match("^(%S+ %S+ %S+)") or s
end

-- ---------------------------------------------------------------- the PyTorch mirror

local PY = "/usr/bin/python3"
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local MIRROR = here .. "/torch_mirror.py"
U.PY, U.MIRROR = PY, MIRROR
local function sh_quote(v) return "'" .. tostring(v):gsub("'", "'\\''") .. "'" end

-- Why the mirror cannot run here, or nil.
function U.mirror_unavailable()
  local f = io.open(MIRROR)
  if not f then return MIRROR .. " not found" end
  f:close()
  if os.execute(PY .. " -c 'import torch' >/dev/null 2>&1") ~= true then
    return PY .. " cannot import torch (apt-get install python3-torch)"
  end
  if os.execute("command -v mkfifo >/dev/null 2>&1") ~= true then return "no mkfifo" end
  return nil
end

-- Starts the mirror on the configuration `conf` (torch_mirror.py's DEFAULTS
-- keys). Returns a handle whose :call(cmd) sends one command and returns the
-- decoded reply (nil once the mirror has gone), or nil and why.
function U.mirror_start(conf)
  local why = U.mirror_unavailable()
  if why then return nil, why end
  local fifo = os.tmpname()
  os.remove(fifo)
  if os.execute("mkfifo -m 600 " .. sh_quote(fifo)) ~= true then return nil, "mkfifo " .. fifo .. " failed" end
  -- PyTorch's OpenMP threads spin while they wait; on a machine whose cores
  -- are busy with other work that makes its steps several times slower than
  -- when they sleep (as our pool's threads do). PASSIVE, unless the caller
  -- set a policy. OpenBLAS single-threaded: torch runs its own threads.
  local omp = os.getenv("OMP_WAIT_POLICY") and "" or "OMP_WAIT_POLICY=PASSIVE "
  local cmd = omp .. "OPENBLAS_NUM_THREADS=1 " .. PY .. " " .. sh_quote(MIRROR) .. " --threads " .. sx.num_threads()
    .. " --config " .. sh_quote(cjson.encode(conf)) .. " --commands " .. sh_quote(fifo)
  local out = assert(io.popen(cmd))
  -- read-write, so that opening does not wait for the mirror, and writing
  -- does not raise if it has died (its replies then end instead)
  local cmds = assert(io.open(fifo, "r+"))
  local M = {cmd = cmd, fifo = fifo}
  local function reply()
    for line in out:lines() do
      local js = line:match("^JSON (.*)$")
      if js then return cjson.decode(js) end
      print("  mirror | " .. line)
    end
    return nil
  end
  M.info = reply()
  if not M.info then
    out:close(); cmds:close(); os.remove(fifo)
    return nil, "the mirror exited before it was ready (" .. cmd .. ")"
  end
  function M:call(c)
    if self.dead then return nil end
    cmds:write(c, "\n")
    cmds:flush()
    local r = reply()
    if not r then self.dead = true end
    return r
  end
  function M:close()
    if not self.dead then cmds:write("quit\n"); cmds:flush() end
    local ok = out:close()
    cmds:close()
    os.remove(fifo)
    return ok
  end
  return M
end

-- Runs the mirror's numerical check: our networks' weights (nets = {G =
-- Generator, D =, E =, C = the classifier module}), a few inputs and our
-- outputs go to a safetensors file, the mirror loads the weights into its
-- networks and reports, per output, its largest difference from ours relative
-- to the output's largest magnitude. Returns that report, or nil and why.
function U.mirror_check(conf, nets, batch)
  local why = U.mirror_unavailable()
  if why then return nil, why end
  local t = {}
  for prefix, m in pairs(nets) do
    for name, v in pairs(m:state_dict()) do t[prefix .. "." .. name] = v end
  end
  local G, C = nets.G, nets.C
  local gc = G:config()
  local x = sx.rand{batch, gc.img_channels, gc.resolution, gc.resolution} * 2 - 1
  local z = sx.randn{batch, G:config().z_dim}
  local noise = G:noise(batch)
  t["in.x"], t["in.z"] = x, z
  for l, n in ipairs(noise) do t["in.noise" .. (l - 1)] = n end
  sx.no_grad(function()
    local logits = C:logits(x)
    local p = sx.softmax(logits, 2)
    local w = G:mapping(z)
    local img = G:synthesis(G:latent(w, p), noise)
    t["out.logits"], t["out.w"], t["out.img"] = logits, w, img
    t["out.d"], t["out.e"] = nets.D:discriminate(x, p), nets.E:encode(x)
    t["out.perceptual"] = C:perceptual(x, img)
  end)
  local p = sx.no_grad(function() return sx.softmax(C:logits(x), 2) end)
  local xr = x:detach():requires_grad(true)
  t["out.r1_grad"] = sx.grad(nets.D:discriminate(xr, p):sum(), xr)
  local path = os.tmpname()
  assert(sx.save(path, t, {}))
  local cmd = "OPENBLAS_NUM_THREADS=1 " .. PY .. " " .. sh_quote(MIRROR) .. " --config "
    .. sh_quote(cjson.encode(conf)) .. " --check " .. sh_quote(path)
  local out = assert(io.popen(cmd))
  local rec
  for line in out:lines() do
    local js = line:match("^JSON (.*)$")
    if js then rec = cjson.decode(js) else print("  mirror | " .. line) end
  end
  out:close()
  os.remove(path)
  if not rec then return nil, "the mirror's check printed nothing (" .. cmd .. ")" end
  return rec
end

-- The mirror's --config (torch_mirror.py's DEFAULTS keys) for a training
-- config cfg (trainer.config), its Generator G, classifier module C, batch.
function U.mirror_config(cfg, G, C, batch)
  local g, c = G:config(), C:config()
  return {
    resolution = g.resolution, img_channels = g.img_channels, z_dim = g.z_dim, w_dim = g.w_dim,
    mapping_layers = g.mapping_layers, mapping_lr_mul = g.mapping_lr_mul, channels = g.channels,
    n_classes = g.n_classes, mbstd_group = g.mbstd_group, mbstd_channels = g.mbstd_channels,
    batch = batch, lr = cfg.lr, lr_encoder = cfg.lr_encoder, betas = cfg.betas, eps = cfg.eps,
    r1_gamma = cfg.r1_gamma, r1_interval = cfg.r1_interval, w_l1 = cfg.w_l1, w_perceptual = cfg.w_perceptual,
    w_wrec = cfg.w_wrec, w_kl = cfg.w_kl, ema_kimg = cfg.ema_kimg, ema_rampup = cfg.ema_rampup,
    cls_channels = c.channels, cls_convs_per_block = c.convs_per_block, cls_hidden = c.hidden,
  }
end

return U
