-- tests/dist/checks.lua — the checks the 2-rank tests share:
--   local checks = dofile("tests/dist/checks.lua")
--   checks.check(cond, msg)   -- a failure is counted and printed with the rank
--   checks.finish(ok_line)    -- sums the failures over the ranks: an error on
--                             -- every rank if any failed, else rank 0 prints ok_line
local sx = require "stylex"

local checks = {}
local failures = 0

function checks.check(cond, msg)
  if not cond then
    failures = failures + 1
    io.stderr:write(string.format("FAIL (rank %d): %s\n", sx.dist.rank(), msg))
  end
end

function checks.finish(ok_line)
  local total = sx.tensor{failures}
  sx.dist.allreduce(total, "sum")
  if total:item() > 0 then error(string.format("%d check(s) failed", math.tointeger(total:item()))) end
  if sx.dist.rank() == 0 then print(ok_line) end
end

return checks
