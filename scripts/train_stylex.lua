-- scripts/train_stylex.lua — trains a StylEx generator + encoder (or the
-- StyleSpace baseline) against a frozen classifier, resumable.
--
--   build/stylex scripts/train_stylex.lua --preset fmnist-shoes [--steps N] [--resume]
--   build/stylex scripts/train_stylex.lua --preset fmnist-shoes --baseline --resume
--
-- Writes into --run (default runs/<preset>[-baseline]/): checkpoint.safetensors
-- (every --checkpoint-minutes, atomically), log.jsonl (every loss, every
-- step; with each grid also the encoder's spread against the mapping's, and
-- a warning when the encoder looks collapsed), samples_<step>.png and
-- recon_<step>.png grids. At the end (or with
-- --export-only) it writes the shipped model: models/<preset>/stylex.safetensors
-- (or baseline.safetensors): EMA generator, encoder, config, steps.
--
-- Under mpirun (docs/scale-out.md) every rank trains its shard of each
-- global batch (stylex.trainer) and rank 0 alone prints, writes the log,
-- grids, checkpoints and the model; --resume reads the checkpoint on every
-- rank, so the run folder must be on a file system all ranks see.
local sx = require "stylex"
local stylex = require "stylex.all"
local cjson = require "cjson"

local usage = [[
usage: stylex scripts/train_stylex.lua --preset NAME [options]
  --preset NAME            fmnist-shoes | fmnist-tops | fmnist-10 | shapes (the classifier of models/NAME)
  --baseline               train the StyleSpace baseline (no classifier conditioning, no KL)
  --steps N                total training steps (default 10000)
  --resume                 continue from the run's checkpoint
  --run DIR                run folder (default runs/<preset>[-baseline])
  --checkpoint-minutes X   checkpoint interval (default 5)
  --grid-every N           write sample/reconstruction grids every N steps (default 1000)
  --style-mixing P         probability of style mixing on the random path (default 0; given with
                           --resume it changes the resumed run's config from then on)
  --class-l1 X             L1 weight on the class columns of the style affines (default 0; given
                           with --resume it changes the resumed run's config from then on)
  --class-dropout Q        probability that an encoder-path image's class input is replaced by the
                           uniform distribution (default 0; with --resume it changes the run's config)
  --latent-loss X          weight of the encoder's latent regression L1(E(G(w)), w) on generated
                           images (default 0; with --resume it changes the run's config from then on)
  --lr-encoder X           the encoder's Adam rate (default lr/10 for StylEx, lr for the
                           baseline; new runs only)
  --wrec-detach            hold E(x) constant in the w-reconstruction term (default for the
                           baseline; new runs only)
  --seed N                 random seed (default 1)
  --batch N                batch size, half random / half encoder path (default 32)
  --data DIR               train on a folder of PNGs instead (docs/your-data.md); without it, a
                           classifier trained on a folder (train_classifier.lua --data) brings
                           its own, and the images it held out stay held out
  --labels CSV             its file,label list (default DIR/labels.csv)
  --test X                 images of --data held out for explain.lua: a count, or a fraction below 1
                           (default 0.2; the classifier's own split when it was trained on this folder)
  --test-labels CSV        a second CSV of held-out images instead of --test
  --classifier FILE        the classifier: .safetensors (stylex's CNN) or .onnx (default
                           models/<preset>/classifier.safetensors)
  --resolution N           the GAN's image side, a power of two >= 8 (default: the classifier's
                           input; an ONNX classifier resizes the GAN's images itself, so give it
                           when its input is not a power of two)
  --channels N             the GAN's image channels, 1 | 3 (default: the classifier's; for an ONNX
                           classifier, the folder's)
  --out FILE               shipped model file (default models/<preset>/stylex.safetensors)
  --export-only            write the shipped model from the run's checkpoint and stop]]

local cli = stylex.cli
local PRESETS = {"fmnist-shoes", "fmnist-tops", "fmnist-10", "shapes"}
-- Every option is checked before any work: ranges here, files and folders
-- below, the batch against the data once it is read.
local opts, given = cli.parse(arg, {preset = "", baseline = false, steps = 10000, resume = false, run = "",
  checkpoint_minutes = 5, grid_every = 1000, seed = 1, batch = 32, data = "", labels = "", classifier = "",
  out = "", export_only = false, style_mixing = -1, class_l1 = -1, latent_loss = -1, class_dropout = -1, lr_encoder = 0,
  wrec_detach = false, test = 0.2, test_labels = "", resolution = 0, channels = 0}, usage,
  {options = {preset = PRESETS, steps = "int>=1", checkpoint_minutes = ">=0", grid_every = "int>=1", seed = "int>=0",
    batch = "int>=1", style_mixing = "[0,1]", class_l1 = ">=0", latent_loss = ">=0", class_dropout = "[0,1]",
    lr_encoder = ">0", classifier = "file", test_labels = "file", resolution = "int>=1", channels = {1, 3}}})
if opts.preset == "" and opts.data == "" and opts.classifier == "" then
  cli.usage_error("missing --preset (or --classifier FILE, with --data DIR)")
end
if opts.batch < 4 or opts.batch % 2 ~= 0 then
  cli.usage_error("--batch must be an even integer >= 4 (half random path, half encoder path), got " .. opts.batch)
end
local folder = cli.check_data(opts)
if folder and opts.classifier == "" then cli.usage_error("--data needs --classifier FILE") end
if given.test and given.test_labels then cli.usage_error("give --test or --test-labels, not both") end
if (given.test or given.test_labels) and not folder then cli.usage_error("--test and --test-labels need --data DIR") end
cli.check_share(opts, "test")
if given.resolution then
  local r = opts.resolution
  if r < 8 or r > 1024 or r & (r - 1) ~= 0 then
    cli.usage_error("--resolution must be a power of two from 8 to 1024, got " .. r)
  end
end
local name = opts.preset ~= "" and opts.preset or "custom"
local suffix = opts.baseline and "-baseline" or ""
opts.run = opts.run ~= "" and opts.run or ("runs/" .. name .. suffix)
local run_dir = opts.run
local ckpt_path = run_dir .. "/checkpoint.safetensors"
opts.classifier = opts.classifier ~= "" and opts.classifier or ("models/" .. name .. "/classifier.safetensors")
local cls_path = opts.classifier
opts.out = opts.out ~= "" and opts.out or
  ("models/" .. name .. "/" .. (opts.baseline and "baseline" or "stylex") .. ".safetensors")
local out_path = opts.out
local rank0 = sx.dist.rank() == 0
local say = rank0 and print or function() end
cli.check(opts, "classifier", "file")
if opts.export_only and cli.kind_of(ckpt_path) ~= "file" then
  cli.usage_error("--export-only: no checkpoint at " .. ckpt_path)
end
if opts.resume and cli.kind_of(ckpt_path) == "dir" then cli.usage_error(ckpt_path .. " is a folder") end
cli.check(opts, "run", "outdir")
cli.check(opts, "out", "outfile")
-- a run killed inside a checkpoint write left checkpoint.safetensors.tmp-<pid>
-- (the next save removes it too, but a resumed run may have no step left to save)
if rank0 then sx.remove_stale_temporaries(ckpt_path) end

local C, cmeta = stylex.classifier.load(cls_path)
local ccfg = C:config()
local onnx = C:info().kind == "onnx"
-- The GAN's images: the classifier's input for the built-in CNN; an ONNX
-- classifier maps any size and channel count onto its own input.
local resolution, img_channels = ccfg.resolution, ccfg.img_channels
if given.resolution then resolution = opts.resolution end
if given.channels then img_channels = opts.channels elseif onnx then img_channels = nil end
if not onnx and (resolution ~= ccfg.resolution or (img_channels or ccfg.img_channels) ~= ccfg.img_channels) then
  cli.usage_error(string.format("--resolution/--channels: the classifier %s takes %dx%dx%d images (only an ONNX "
    .. "classifier resizes its input)", cls_path, ccfg.resolution, ccfg.resolution, ccfg.img_channels))
end
if resolution < 8 or resolution & (resolution - 1) ~= 0 then
  cli.usage_error(string.format("the classifier %s takes %dx%d images: give the GAN's --resolution (a power of "
    .. "two >= 8)", cls_path, resolution, resolution))
end
local train_set, record
local crec = cmeta.data and cjson.decode(cmeta.data) or nil
if folder then
  local dir, labels = stylex.data.absolute(opts.data), stylex.data.absolute(opts.labels)
  if crec and crec.dir == dir and crec.labels == labels and not given.test and not given.test_labels then
    record = crec -- the classifier's own folder: its held-out images stay held out
  else
    record = {dir = dir, labels = labels, seed = opts.seed,
      label_map = stylex.data.label_map_of(cmeta, cjson.decode(cmeta.class_names))}
    if opts.test_labels ~= "" then record.test_labels = stylex.data.absolute(opts.test_labels)
    else record.test = opts.test end
  end
elseif crec then
  record = crec
end
if record then
  record.size, record.channels = resolution, img_channels
  train_set = stylex.data.folder_splits(record)
  record.channels = train_set.channels
  img_channels = train_set.channels
else
  if onnx then
    cli.usage_error(cls_path .. " is an ONNX classifier: give the images with --data DIR")
  end
  if not cmeta.dataset or not cmeta.classes then
    cli.die(cls_path .. ": no dataset/classes in its metadata (not a stylex classifier?); give --data and --labels")
  end
  train_set = stylex.data.named(cmeta.dataset, "train", cjson.decode(cmeta.classes))
end
img_channels = img_channels or ccfg.img_channels
if train_set:size() < opts.batch then
  cli.usage_error(string.format("--batch %d is more than the %d training images%s", opts.batch, train_set:size(),
    opts.data ~= "" and " readable in " .. opts.data or ""))
end

local S
if (opts.resume or opts.export_only) and cli.kind_of(ckpt_path) == "file" then
  S = stylex.trainer.load(ckpt_path, C)
  say(string.format("resumed %s at step %d", ckpt_path, S.step))
else
  if opts.resume then say("no checkpoint at " .. ckpt_path .. "; starting fresh") end
  S = stylex.trainer.new(stylex.trainer.config{resolution = resolution, img_channels = img_channels,
    n_classes = ccfg.n_classes, baseline = opts.baseline, seed = opts.seed,
    batch = opts.batch, style_mixing = math.max(opts.style_mixing, 0),
    lr_encoder = opts.lr_encoder > 0 and opts.lr_encoder or nil, wrec_detach = opts.wrec_detach or nil}, C)
end
if S.cfg.batch > train_set:size() then
  cli.die(string.format("%s: batch %d (from the checkpoint) is more than the %d training images", ckpt_path,
    S.cfg.batch, train_set:size()))
end
-- Options given again on a resume change the checkpoint's config from this step on.
for _, o in ipairs{{"style_mixing", "style_mixing"}, {"class_l1", "w_class_l1"}, {"latent_loss", "w_latent"},
    {"class_dropout", "class_dropout"}} do
  local opt, key = o[1], o[2]
  if given[opt] and S.cfg[key] ~= opts[opt] then
    say(string.format("%s %g (was %g) from step %d", key, opts[opt], S.cfg[key], S.step))
    S.cfg[key] = opts[opt]
  end
end
local cfg = S.cfg

-- The shipped model: EMA generator and encoder, with config and step.
local function export()
  stylex.trainer.export(S, out_path, {classifier = cls_path, classes = cmeta.classes, class_names = cmeta.class_names,
    dataset = record and "folder" or cmeta.dataset, data = record and require("stylex.util").encode_sorted(record),
    command = "build/stylex scripts/train_stylex.lua " .. table.concat(arg, " ")})
  print("wrote " .. out_path)
end
if opts.export_only then
  if rank0 then export() end
  return
end

-- The first n training images (fixed across steps and resumes).
local function first_images(n)
  local idx = {}
  for i = 1, math.min(n, train_set:size()) do idx[i] = i end
  return train_set:batch(idx)
end

-- Grids of EMA samples (fixed latents) and reconstructions (fixed images).
local grid_x = first_images(16)
local function write_grids()
  sx.no_grad(function()
    local state = sx.rng_get_state()
    sx.manual_seed(12345)
    local p = not cfg.baseline and sx.softmax(C:logits(grid_x), 2) or nil
    local samples = S.G_ema:synthesis(S.G_ema:latent(S.G_ema:mapping(sx.randn{grid_x:shape()[1], cfg.z_dim}), p))
    local rec = stylex.trainer.reconstruct(S, S.G_ema, grid_x, p)
    sx.rng_set_state(state)
    local function cells(t)
      local list = {}
      for i = 1, t:shape()[1] do list[i] = t:narrow(1, i, 1):reshape{t:shape()[2], t:shape()[3], t:shape()[4]} end
      return list
    end
    local both = cells(grid_x)
    for _, c in ipairs(cells(rec)) do both[#both + 1] = c end
    assert(sx.image.save(sx.image.grid(cells(samples), {ncol = 8, range = {-1, 1}, scale = 2}),
      string.format("%s/samples_%06d.png", run_dir, S.step)))
    assert(sx.image.save(sx.image.grid(both, {ncol = 16, range = {-1, 1}, scale = 2}),
      string.format("%s/recon_%06d.png", run_dir, S.step)))
  end)
end

-- A fixed batch of training images for the encoder's spread (logged with
-- the grids as encoder_spread and mapping_spread).
local spread_x = first_images(128)

-- The log continues from the checkpoint's step: rows a stopped run wrote
-- after its last checkpoint are dropped, so each step has one row.
local log_path = run_dir .. "/log.jsonl"
local kept, dropped = {}, 0
local old_log = rank0 and io.open(log_path)
if old_log then
  for line in old_log:lines() do
    local ok, row = pcall(cjson.decode, line)
    if ok and type(row) == "table" and type(row.step) == "number" and row.step <= S.step then
      kept[#kept + 1] = line
    else
      dropped = dropped + 1
    end
  end
  old_log:close()
end
if dropped > 0 then
  local f = assert(io.open(log_path .. ".tmp", "w"))
  for _, line in ipairs(kept) do f:write(line, "\n") end
  assert(f:close())
  assert(os.rename(log_path .. ".tmp", log_path))
  print(string.format("%s: dropped %d row%s after step %d (written after the last checkpoint)", log_path, dropped,
    dropped == 1 and "" or "s", S.step))
end
local log
if rank0 then
  local log_err
  log, log_err = io.open(log_path, "a")
  if not log then cli.die(tostring(log_err)) end
end
local n = train_set:size()
local steps_per_epoch = n // cfg.batch
local total = opts.steps
local progress = rank0 and stylex.cli.progress(total, "stylex" .. suffix, 2.0, S.step) or function() end
local last_ckpt = stylex.cli.now()
local ema_losses = {}
say(string.format("training %s%s: %d images, batch %d, step %d of %d, run folder %s%s", name, suffix, n,
  cfg.batch, S.step, total, run_dir, sx.dist.size() > 1 and string.format(", %d ranks", sx.dist.size()) or ""))

while S.step < total do
  -- the batch of this step is a function of the step alone (exact resume)
  local epoch, k = S.step // steps_per_epoch, S.step % steps_per_epoch
  local perm = stylex.data.permutation(n, cfg.seed * 100003 + epoch)
  local idx = {}
  for i = 1, cfg.batch do idx[i] = perm[k * cfg.batch + i] end
  local x = train_set:batch(idx)
  local losses, err = stylex.trainer.step(S, x)
  if not losses then
    if log then log:close() end
    if rank0 then io.stderr:write("\nstopped: ", err, "; the last checkpoint is ", ckpt_path, " (resume with --resume)\n") end
    os.exit(1)
  end
  losses.step = S.step
  local grid_step = rank0 and S.step % opts.grid_every == 0
  if grid_step then
    -- encoder collapse shows first here: E(x) alike for every image
    losses.encoder_spread, losses.mapping_spread = stylex.trainer.encoder_spread(S.G_ema, S.E, spread_x)
    if losses.encoder_spread < 0.05 * losses.mapping_spread then
      io.stderr:write(string.format("\nwarning: step %d: E(x) varies %.4f over %d training images against %.4f "
        .. "for the mapping's w: the encoder may have collapsed (every reconstruction alike)\n", S.step,
        losses.encoder_spread, spread_x:shape()[1], losses.mapping_spread))
    end
  end
  if log then log:write(require("stylex.util").encode_sorted(losses), "\n") end
  for key, v in pairs(losses) do ema_losses[key] = ema_losses[key] and 0.98 * ema_losses[key] + 0.02 * v or v end
  local line = string.format("D %.3f G %.3f L1 %.3f", (ema_losses.d_fake or 0) + (ema_losses.d_real or 0),
    ema_losses.g_adv or 0, ema_losses.rec_l1 or 0)
  if ema_losses.kl then line = line .. string.format(" KL %.4f", ema_losses.kl) end
  if ema_losses.latent then line = line .. string.format(" lat %.3f", ema_losses.latent) end
  if ema_losses.class_l1 then line = line .. string.format(" class-L1 %.1f", ema_losses.class_l1) end
  progress(S.step, line)
  if grid_step then write_grids() end
  if rank0 and (stylex.cli.now() - last_ckpt >= opts.checkpoint_minutes * 60 or S.step == total) then
    log:flush()
    stylex.trainer.save(S, ckpt_path)
    last_ckpt = stylex.cli.now()
  end
end
if rank0 then
  log:close()
  write_grids()
  export()
end
