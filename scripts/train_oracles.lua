-- Trains the shapes benchmark's factor oracles (docs/benchmark.md): one CNN
-- that reads size, brightness, squash, position, stripes, shape and the
-- marker back from any image, so that GAN counterfactuals can be measured.
--   build/stylex scripts/train_oracles.lua [--epochs N] [--n N] [--out FILE]
-- Prints each factor's R^2 or accuracy on held-out renders and records them
-- in the file's metadata.
local sx = require "stylex"
local sorted = require("stylex.util").encode_sorted -- metadata: the same bytes in every process
local stylex = require "stylex.all"

local usage = [[
usage: stylex scripts/train_oracles.lua [options]
  --epochs N     passes over the training renders (default 8)
  --n N          training renders (default 30000; the marker in half of them)
  --batch N      batch size (default 64)
  --lr X         Adam learning rate (default 1e-3, cosine decay)
  --dropout P    dropout before the fully connected layers (default 0: regressions are
                 read off the same features every time)
  --seed S       seed of the training renders and of the weights (default 11)
  --out FILE     default models/shapes/oracles.safetensors]]
local opts = stylex.cli.parse(arg, {epochs = 8, n = 30000, batch = 64, lr = 1e-3, dropout = 0, seed = 11,
  out = "models/shapes/oracles.safetensors"}, usage, {positive_integers = {"epochs", "n", "batch"},
  options = {lr = ">0", dropout = "[0,1]", seed = "int>=0", out = "outfile"}})
stylex.cli.check(opts, "out", "outfile")
if opts.batch > opts.n then stylex.cli.usage_error(string.format("--batch %d is more than --n %d", opts.batch, opts.n)) end
local seed = opts.seed
sx.manual_seed(seed)
-- Balanced marker rates: the oracle must not learn the label's correlations.
local train = stylex.data.shapes{split = "test", n = math.tointeger(opts.n), seed = seed}
local held = stylex.data.shapes{split = "test", n = 2000, seed = seed + 1}
local cont, disc = stylex.benchmark.oracle_targets(train.factors)

local cfg = {n_classes = stylex.benchmark.ORACLE_OUTPUTS, resolution = 32, img_channels = 1, dropout = opts.dropout}
local O = sx.models.Classifier(cfg)
local optim = sx.optim.Adam(O:parameters(), {lr = opts.lr})
local batch, epochs = math.tointeger(opts.batch), math.tointeger(opts.epochs)
local per_epoch = train:size() // batch
local progress = stylex.cli.progress(epochs * per_epoch, "oracles", 2.0)
local step, t0 = 0, stylex.cli.now()
for epoch = 1, epochs do
  local loss_sum, seen = 0, 0
  for x, _, idx in train:batches(batch, {shuffle = true, seed = seed * 1000 + epoch, drop_last = true}) do
    optim:set_lr(opts.lr * 0.5 * (1 + math.cos(math.pi * step / (epochs * per_epoch))))
    local d = {}
    for j = 1, #disc do d[j] = disc[j]:index_select(1, idx) end
    local loss = stylex.benchmark.oracle_loss(O:classify(x, {train = true}), cont:index_select(1, idx), d)
    optim:zero_grad()
    loss:backward()
    optim:step()
    step = step + 1
    loss_sum, seen = loss_sum + loss:item(), seen + 1
    progress(step, string.format("epoch %d/%d loss %.4f", epoch, epochs, loss_sum / seen))
  end
end
local seconds = stylex.cli.now() - t0
local quality = stylex.benchmark.oracle_quality(O, held)
for _, name in ipairs(sx.shapes.factors) do
  local q = quality[name]
  if q then print(string.format("%-10s %s", name, q.r2 and string.format("R^2 %.4f", q.r2)
    or string.format("accuracy %.4f", q.accuracy))) end
end
assert(sx.save(opts.out, O:state_dict(), {
  format = "stylex-oracles-1",
  config = sorted(O:config()),
  continuous = sorted(stylex.benchmark.ORACLE_CONTINUOUS),
  quality = sorted(quality),
  held_out = "2000 renders of seed " .. (seed + 1),
  epochs = tostring(epochs), n = tostring(train:size()), seconds = string.format("%.0f", seconds),
  command = "build/stylex scripts/train_oracles.lua " .. table.concat(arg, " "),
}))
print("wrote " .. opts.out)
