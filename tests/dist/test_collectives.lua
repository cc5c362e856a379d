-- tests/dist/test_collectives.lua — sx.dist's collectives on 2 ranks
-- (mpirun -np 2 ... build/stylex tests/dist/test_collectives.lua):
--   allreduce sum / mean / max / min of a list whose tensors straddle the
--   8 MiB buckets (one of 3M floats = 12 MB spans two buckets, small ones
--   before and after it), every element checked; broadcast from rank 1;
--   allgather of unequal row counts; the bytes counter; argument errors.
local sx = require "stylex"
local rank, size = sx.dist.rank(), sx.dist.size()
assert(size == 2, "run under mpirun -np 2 (size is " .. size .. ")")
local checks = dofile("tests/dist/checks.lua")
local check = checks.check
local function maxdiff(a, b) return (a - b):abs():max():item() end

-- rank r holds base * (r + 1) + r, integers below 2^24 (so every sum and
-- the max/min formula below are exact in float32)
local BIG = 3000000
local function make()
  return {sx.arange(5) * 1.0, sx.arange(BIG), sx.ones{3, 4}, sx.arange(7) * -1.0}
end
local function local_of(t) return t * (rank + 1) + rank end
for _, op in ipairs{"sum", "mean", "max", "min"} do
  local base = make()
  local ts = {}
  for i, t in ipairs(base) do ts[i] = local_of(t) end
  sx.dist.bytes_reset()
  sx.dist.allreduce(ts, op)
  for i, t in ipairs(base) do
    local r0, r1 = t, t * 2 + 1 -- rank 0's and rank 1's values
    local want
    if op == "sum" then want = r0 + r1
    elseif op == "mean" then want = (r0 + r1) * 0.5
    else
      -- elementwise max/min of r0 and r1 without a max op: from their sum and |difference|
      local s, d = r0 + r1, (r0 - r1):abs()
      want = op == "max" and (s + d) * 0.5 or (s - d) * 0.5
    end
    check(maxdiff(ts[i], want) == 0, string.format("%s of tensor %d: max |diff| %g", op, i, maxdiff(ts[i], want)))
  end
  local n = 5 + BIG + 12 + 7
  check(sx.dist.bytes() == n * 4, string.format("%s: %g bytes counted, expected %d", op, sx.dist.bytes(), n * 4))
end

-- broadcast from rank 1
local b = {sx.ones{4} * rank, sx.ones{2, 2} * (rank + 10)}
sx.dist.broadcast(b, 1)
check(maxdiff(b[1], sx.ones{4}) == 0 and maxdiff(b[2], sx.ones{2, 2} * 11) == 0, "broadcast from rank 1")

-- allgather of 2 rows on rank 0 and 3 on rank 1
local mine = sx.ones{rank + 2, 3} * (rank + 1)
local all = sx.dist.allgather(mine)
check(table.concat(all:shape(), "x") == "5x3", "allgather shape " .. table.concat(all:shape(), "x"))
check(maxdiff(all:narrow(1, 1, 2), sx.ones{2, 3}) == 0 and maxdiff(all:narrow(1, 3, 3), sx.ones{3, 3} * 2) == 0,
  "allgather rows in rank order")
local ok, err = pcall(sx.dist.allgather, sx.ones{2, rank + 3})
check(not ok and tostring(err):find("does not match", 1, true), "allgather of mismatched rows: " .. tostring(err))

-- the hash check passes on equal tensors, fails on different ones on every rank
check(pcall(sx.dist.check_equal, {sx.ones{3}}, "ones"), "equal tensors pass the hash check")
ok, err = pcall(sx.dist.check_equal, {sx.ones{3} * rank}, "rank-valued")
check(not ok and tostring(err):find("rank-valued differ across ranks", 1, true) and tostring(err):find("rank 1", 1, true),
  "different tensors: " .. tostring(err))

checks.finish("dist collectives: ok (allreduce over 2 buckets, broadcast, allgather, hash check)")
