-- stylex.dist — the Lua half of data parallelism (docs/scale-out.md):
-- under mpirun, sx.attfind.effects is the sharded effect table below.
-- The C half (ranks, collectives, the hash check) is sx.dist; the sharded
-- training step is in stylex.trainer.
--
--   dist.block(n, rank, size) -> first, count   rank's contiguous block of n items (1-based)
--   dist.sharded_effects(sx, native)(G, C, latents, opts) -> the table native would give
--
-- This module requires nothing at load time: the library installs it while
-- `stylex` itself is being opened (lib/lua/dist.c).
local dist = {}

-- Rank r's block of n items: n // size each, the first n % size ranks one more.
function dist.block(n, rank, size)
  local base, extra = n // size, n % size
  local first = rank * base + math.min(rank, extra) + 1
  return first, base + (rank < extra and 1 or 0)
end

-- sx.attfind.effects over ranks: each rank computes the rows of its block
-- of images, shifting to the extremes over all N images (allreduced min and
-- max of the styles), and the table is gathered on every rank (rank 0 writes
-- it; the others need it to take the same steps after). Noise given per
-- image is cut the same way; noise [1, ...] (or the default, one draw from
-- the global RNG, the same on every rank) is shared. Progress is rank 0's
-- own count (its block), so only rank 0 passes opts.progress on.
function dist.sharded_effects(sx, native)
  return function(G, C, latents, opts)
    local rank, size = sx.dist.rank(), sx.dist.size()
    if size == 1 then return native(G, C, latents, opts) end
    local N = latents:shape()[1]
    if N < size then
      error(string.format("attfind.effects: %d images cannot be shared by %d ranks", N, size), 2)
    end
    local first, count = dist.block(N, rank, size)
    local o = {}
    for k, v in pairs(opts or {}) do o[k] = v end
    if rank ~= 0 then o.progress = nil end
    local noise = o.noise or G:noise(1)
    local mine = {}
    for l, t in ipairs(noise) do mine[l] = t:shape()[1] == 1 and t or t:narrow(1, first, count) end
    o.noise = mine
    local lat = latents:narrow(1, first, count)
    if not (o.style_min and o.style_max) then
      local flat = sx.no_grad(function() return G:styles_flat(G:styles(lat)) end)
      local lo, hi = -(-flat):max(1), flat:max(1)
      sx.dist.allreduce(lo, "min")
      sx.dist.allreduce(hi, "max")
      o.style_min, o.style_max = o.style_min or lo, o.style_max or hi
    end
    local tab = native(G, C, lat, o)
    tab.effect = sx.dist.allgather(tab.effect)
    tab.base_logits = sx.dist.allgather(tab.base_logits)
    tab.styles = sx.dist.allgather(tab.styles)
    tab.latents = latents
    tab.noise = noise
    return tab
  end
end

-- Called once by the binding under mpirun (more than one rank).
function dist.install(sx)
  sx.attfind.effects = dist.sharded_effects(sx, sx.attfind.effects)
end

return dist
