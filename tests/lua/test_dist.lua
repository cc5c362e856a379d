-- tests/lua/test_dist.lua — sx.dist in a process started without mpirun:
-- rank 0 of 1, collectives that leave their tensors as they are, the hash,
-- the allgather's copy, argument errors, and the sharded effect table's
-- block split (stylex.dist.block). The 2-rank tests are tests/dist (make test-dist).
local T = dofile("tests/lua/harness.lua")
local sx = require "stylex"
local dist = require "stylex.dist"

T.test("one process is rank 0 of 1", function()
  T.eq(sx.dist.rank(), 0)
  T.eq(sx.dist.size(), 1)
  T.eq(type(sx.dist.built_with_mpi()), "boolean")
end)

T.test("collectives leave a single rank's tensors as they are", function()
  local a, b = sx.tensor{1, 2, 3}, sx.tensor{{4, 5}}
  for _, op in ipairs{"sum", "mean", "max", "min"} do
    sx.dist.allreduce({a, b}, op)
    T.eq(a:totable(), {1, 2, 3}, op)
    T.eq(b:totable(), {{4, 5}}, op)
  end
  T.ok(sx.dist.allreduce(a) == a, "allreduce returns its argument")
  sx.dist.broadcast(a, 0)
  T.eq(a:totable(), {1, 2, 3})
  sx.dist.barrier()
  local g = sx.dist.allgather(b)
  T.eq(g:totable(), {{4, 5}})
  g:assign(sx.tensor{{0, 0}})
  T.eq(b:totable(), {{4, 5}}, "allgather's result is a copy")
  T.eq(sx.dist.bytes(), 0, "one process sends nothing")
end)

T.test("the hash sees every bit", function()
  local h = sx.dist.hash{sx.tensor{1, 2}, sx.tensor{3}}
  T.eq(#h, 16)
  T.eq(h, sx.dist.hash{sx.tensor{1, 2}, sx.tensor{3}})
  T.ok(h ~= sx.dist.hash{sx.tensor{1, 2}, sx.tensor{3.0000002}}, "one ulp changes the hash")
  T.ok(h ~= sx.dist.hash{sx.tensor{2, 1}, sx.tensor{3}}, "order changes the hash")
  sx.dist.check_equal({sx.tensor{1}}, "one rank")
end)

T.test("bad arguments are named", function()
  local ok, err = pcall(sx.dist.allreduce, sx.tensor{1}, "median")
  T.ok(not ok and tostring(err):find("median", 1, true), tostring(err))
  ok, err = pcall(sx.dist.broadcast, sx.tensor{1}, 1)
  T.ok(not ok and tostring(err):find("out of range", 1, true), tostring(err))
  ok, err = pcall(sx.dist.allreduce, sx.ones{2, 3}:transpose(1, 2))
  T.ok(not ok and tostring(err):find("contiguous", 1, true), tostring(err))
end)

T.test("blocks of the sharded effect table cover the images once", function()
  for _, case in ipairs{{7, 2}, {250, 8}, {3, 3}, {10, 4}} do
    local n, size, next_first = case[1], case[2], 1
    for r = 0, size - 1 do
      local first, count = dist.block(n, r, size)
      T.eq(first, next_first, string.format("n %d size %d rank %d", n, size, r))
      T.ok(count == n // size or count == n // size + 1, "balanced")
      next_first = first + count
    end
    T.eq(next_first, n + 1, string.format("n %d size %d: all images", n, size))
  end
end)

T.done()
