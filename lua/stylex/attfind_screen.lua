-- stylex.attfind_screen — Screened AttFind (docs/method.md#screened-attfind):
-- the picks of subset selection from a few exact entries of the effect table
-- instead of all of them. Its functions are stylex.attfind's:
--
--   local attfind = require "stylex.attfind"
--   local scr = attfind.screened_effects(G, C, latents, {noise = noise, k = 10})
--   attfind.per_class(scr, "subset", {k = 8})     -- the exact table's picks
--
-- attfind.gradients (d logit / d s), attfind.linear_effects (the estimate of
-- the table from them), attfind.screened_effects (the screening) and
-- attfind.screen_covers (whether a policy reads a screened table only where
-- it is certified). This module adds them to stylex.attfind, which loads it
-- when it loads itself. `require "stylex.attfind_screen"` returns the four.
local sx = require "stylex"
local util = require "stylex.util"
local attfind = require "stylex.attfind"

-- the checks stylex.attfind's own functions use, so the messages are the same
local shared = attfind._shared
local check_opts, check_number, check_space = shared.check_opts, shared.check_number, shared.check_space
local other_images = shared.other_images

-- d logit_k / d s for every image and StyleSpace coordinate: per batch of
-- images one forward pass with the flat styles a leaf (noise fixed) and one
-- backward per class. G's and C's parameters are not differentiated (their
-- flags are restored). Returns a list of K tensors [N, S] (class k at k + 1)
-- and the logits [N, K] of the same passes.
--   opts: noise (required: L tensors [N or 1, 1, r, r]), batch = 50
function attfind.gradients(G, C, latents, opts)
  local fn = "gradients"
  opts = check_opts(fn, opts, {noise = true, batch = true})
  if type(opts.noise) ~= "table" then error(fn .. ": opts.noise is required (the table's noise)", 2) end
  local batch = math.tointeger(check_number(fn, "batch", opts.batch or 50, 1)) or
    error(fn .. ": batch must be an integer", 2)
  local N = latents:shape()[1]
  local params, flags = {}, {}
  for _, m in ipairs{G, C} do
    for _, p in ipairs(m.parameters and m:parameters() or {}) do
      params[#params + 1] = p
      flags[#params] = p:requires_grad()
    end
  end
  for _, p in ipairs(params) do p:requires_grad(false) end
  local was = sx.set_grad_enabled(true)
  local grads, logits = {}, {}
  local ok, err = pcall(function()
    for first = 1, N, batch do
      local m = math.min(batch, N - first + 1)
      local lat = latents:narrow(1, first, m)
      local st = sx.no_grad(function() return G:styles(lat) end)
      local flat = G:styles_flat(st):detach():requires_grad(true)
      local nz = {}
      for l, z in ipairs(opts.noise) do nz[l] = z:shape()[1] == 1 and z or z:narrow(1, first, m) end
      local lg = C:logits(G:from_styles(G:styles_with_flat(st, flat), {noise = nz}))
      logits[#logits + 1] = lg:detach()
      for k = 1, lg:shape()[2] do
        grads[k] = grads[k] or {}
        grads[k][#grads[k] + 1] = sx.grad(lg:narrow(2, k, 1):sum(), flat)
      end
    end
  end)
  sx.set_grad_enabled(was)
  for q, p in ipairs(params) do p:requires_grad(flags[q]) end
  if not ok then error(err, 0) end
  for k = 1, #grads do grads[k] = sx.cat(grads[k], 1) end
  return grads, sx.cat(logits, 1)
end

-- The linear estimate of the effect table from the gradients: effect[i, d,
-- j, k] ~ dlogit_k/ds_j (image i) * (extreme_dj - s_ij). styles [N, S],
-- style_min / style_max [S], grads as attfind.gradients. Returns [N, 2, S, K].
function attfind.linear_effects(styles, style_min, style_max, grads)
  local N, S = styles:shape()[1], styles:shape()[2]
  local parts = {}
  for d, target in ipairs{style_min, style_max} do
    local shift = target:reshape{1, S} - styles
    local pk = {}
    for k, g in ipairs(grads) do pk[k] = (g * shift):reshape{N, 1, S, 1} end
    parts[d] = sx.cat(pk, 4)
  end
  return sx.cat(parts, 2)
end

-- What a policy reads of effect [n, M, K] on class c (`space`), given base
-- logits [n, K]: max(0, change of class c) as a Lua matrix [n][M]; the same
-- arithmetic as class_matrix, so a value computed here on a few columns is
-- bit for bit the one the policy later reads from the whole table.
local function class_values_tensor(effect, base, c, space)
  local s = effect:shape()
  local n, M, K = s[1], s[2], s[3]
  local e
  if space == "prob" then
    local shifted = sx.softmax((effect + base:reshape{n, 1, K}):reshape{n * M, K}, 2)
    local p0 = sx.softmax(base, 2):narrow(2, c + 1, 1):reshape{n, 1}
    e = shifted:narrow(2, c + 1, 1):reshape{n, M} - p0
  else
    e = effect:narrow(3, c + 1, 1):contiguous():reshape{n, M}
  end
  return e:relu()
end
local function class_values(effect, base, c, space)
  return class_values_tensor(effect, base, c, space):totable()
end

-- The quantity the screening bounds, for class c: the class's log-odds
-- log p_c - log(1 - p_c) of logits b + delta ("prob"), or delta_c ("logit").
local function class_variable(b, delta, c, space)
  if space == "logit" then return delta[c + 1] end
  local m = -math.huge
  for k = 1, #b do if k ~= c + 1 then m = math.max(m, b[k] + delta[k]) end end
  local s = 0
  for k = 1, #b do if k ~= c + 1 then s = s + math.exp(b[k] + delta[k] - m) end end
  return b[c + 1] + delta[c + 1] - (m + math.log(s))
end

-- Screened AttFind (docs/method.md#screened-attfind): the picks of subset
-- selection without the whole effect table. One backward pass per image and
-- class gives d logit / d s; its linear estimate of every entry ranks the
-- columns; exact entries (sx.attfind.entries) are evaluated, batched over
-- images, only where a bound says they could change a pick:
--   for each class c, on its images (not predicted c), the quantity v of an
--   entry (the class's log-odds in "prob", the change of logit c in
--   "logit") is taken to be within alpha (|v_est - v_base| + tau) of its
--   estimate, alpha = safety x the `quantile` of |v_exact - v_est| /
--   (|v_est - v_base| + tau) over the entries evaluated so far (measured
--   again after every round). That gives an upper bound of every entry the
--   policy reads, and of every column's score. Subset selection then runs as
--   usual, where each step's pick must be a column exact on the step's images
--   whose score beats the upper bound of every column that is not (ties to
--   the lower column, as the policy); when one could beat it, the `round`
--   columns with the largest bounds are evaluated on the step's images (with
--   partial = true, the default, only on those with the largest bounds,
--   until what the bound leaves on the rest is at most half of the best
--   exact score, unless the column is a contender: its exact part is
--   already half of it) and the selection starts again. The base passes of
--   all N images are kept meanwhile (sx.attfind.base). A certified pick is then evaluated on all N
--   images (so the report's statistics of it are exact). It ends when every
--   class has k certified picks, or a class reached max_columns columns
--   (then certified = false for it).
-- Returns an effect table as attfind.effects does (plus tab.exact [N, 2, S],
-- 1 where effect is exact, the linear estimate elsewhere, and tab.screen,
-- the run's figures). subset_selection on it with these options and at
-- most k picks gives the certified picks, and is how they are read.
--   opts: noise, batch = 64, k = 10, space = "prob", max_image_effect,
--         max_corr, labels (as subset_selection); quantile = 0.9,
--         safety = 1.5, tau = 0.3, initial = 16, round = 32, max_columns =
--         2S (per class), grad_batch = 50, style_min, style_max,
--         partial = true, log = function(msg) (progress, one line per round),
--         oracle = an exact table of the same latents and noise: its entries
--           stand in for the exact passes (to tune the bound at no cost;
--           scripts/screen_bounds.lua)
function attfind.screened_effects(G, C, latents, opts)
  local fn = "screened_effects"
  opts = check_opts(fn, opts, {noise = true, batch = true, k = true, space = true, max_image_effect = true,
    max_corr = true, labels = true, quantile = true, safety = true, tau = true, initial = true, round = true,
    max_columns = true, grad_batch = true, style_min = true, style_max = true, log = true, oracle = true, partial = true})
  if opts.oracle ~= nil and (type(opts.oracle) ~= "table" or type(opts.oracle.effect) ~= "userdata") then
    error(fn .. ": opts.oracle must be an exact effect table of these latents", 2)
  end
  local t0 = sx.wall_time()
  local lay = G:style_layout()
  local S = lay.n_coords
  local W = 2 * S
  local N = latents:shape()[1]
  local k = math.tointeger(check_number(fn, "k", opts.k or 10, 1)) or error(fn .. ": k must be an integer", 2)
  local space = check_space(fn, opts.space)
  local cap = check_number(fn, "max_image_effect", opts.max_image_effect or (space == "prob" and 0.2 or 1.0), 0)
  local max_corr = opts.max_corr ~= nil and check_number(fn, "max_corr", opts.max_corr, -1) or nil
  local quantile = check_number(fn, "quantile", opts.quantile or 0.9, 0)
  if quantile > 1 then error(fn .. ": quantile must be in [0, 1]", 2) end
  local safety = check_number(fn, "safety", opts.safety or 1.5, 0)
  local tau = check_number(fn, "tau", opts.tau or 0.3, 0)
  local initial = math.tointeger(check_number(fn, "initial", opts.initial or 16, 1)) or
    error(fn .. ": initial must be an integer", 2)
  local round = math.tointeger(check_number(fn, "round", opts.round or 32, 1)) or
    error(fn .. ": round must be an integer", 2)
  local max_columns = math.tointeger(check_number(fn, "max_columns", opts.max_columns or W, 1)) or
    error(fn .. ": max_columns must be an integer", 2)
  local log = opts.log or function() end
  local partial = opts.partial ~= false
  local noise = opts.noise
  if noise == nil then noise = G:noise(1) end

  -- the gradients, the styles, the estimate
  local grads, base = attfind.gradients(G, C, latents, {noise = noise, batch = opts.grad_batch})
  local K = base:shape()[2]
  local styles = sx.no_grad(function() return G:styles_flat(G:styles(latents)) end):contiguous()
  local st = styles:totable()
  local lo, hi
  if opts.style_min then lo = opts.style_min:totable() end
  if opts.style_max then hi = opts.style_max:totable() end
  if not lo or not hi then
    lo, hi = lo or {}, hi or {}
    local fill_lo, fill_hi = #lo == 0, #hi == 0
    for j = 1, S do
      local a, b = st[1][j], st[1][j]
      for i = 2, N do
        local x = st[i][j]
        if x < a then a = x end
        if x > b then b = x end
      end
      if fill_lo then lo[j] = a end
      if fill_hi then hi[j] = b end
    end
  end
  local style_min, style_max = sx.tensor(lo), sx.tensor(hi)
  local est = attfind.linear_effects(styles, style_min, style_max, grads) -- [N, 2, S, K]
  local est_flat = est:reshape{N, W, K}
  local g = {}
  for q = 1, K do g[q] = grads[q]:totable() end
  local b = base:totable()
  local labels = attfind.labels({effect = est, base_logits = base}, opts.labels)
  local t_grad = sx.wall_time() - t0

  -- exact entries: exact[col][i] = {delta_1 .. delta_K}; the calls' results (groups)
  local exact, groups = {}, {}
  local t_exact = 0
  local entries, columns_touched = 0, 0
  local function delta_est(i, col)
    local j = col > S and col - S or col
    local shift = (col > S and hi[j] or lo[j]) - st[i][j]
    local d = {}
    for q = 1, K do d[q] = g[q][i][j] * shift end
    return d
  end

  -- per class: its rows, the estimate of what the policy reads, the ratios
  local classes = {}
  for c = 0, K - 1 do
    local rows = other_images(labels, c)
    local cl = {c = c, rows = rows, n = #rows, ratios = {}, alpha = nil, cols = {}, ncols = 0, rounds = 0,
      certified = true}
    if #rows > 0 then
      -- [n, 2S] tensors: the estimate the policy would read, the filled
      -- values (exact where known), 1 where known
      cl.Eest = class_values_tensor(est_flat:index_select(1, rows), base:index_select(1, rows), c, space)
      cl.Et, cl.Kt = cl.Eest, sx.zeros{#rows, W}
      cl.Ex = {}
      for r = 1, #rows do cl.Ex[r] = {} end
      cl.v0, cl.vhat = {}, {}
      local zero = {}
      for q = 1, K do zero[q] = 0 end
      for r, i in ipairs(rows) do
        cl.v0[r] = class_variable(b[i], zero, c, space)
        local vh = {}
        for col = 1, W do vh[col] = class_variable(b[i], delta_est(i, col), c, space) end
        cl.vhat[r] = vh
      end
      cl.vhat_t = sx.tensor(cl.vhat)
      local v0 = {}
      for r = 1, #rows do v0[r] = {cl.v0[r]} end
      cl.v0_t = sx.tensor(v0)
      cl.row_of = {}
      for r, i in ipairs(rows) do cl.row_of[i] = r end
    end
    classes[c + 1] = cl
  end

  -- new exact entries: image rows[q], column cols[q], effect [n, K]; the
  -- errors of those of whole[q] (a column evaluated on all the images it
  -- needed, not only where its bound was largest: an unbiased sample) go
  -- into the calibration
  local function take(rows, cols, whole, effect)
    groups[#groups + 1] = {rows = rows, cols = cols, effect = effect}
    entries = entries + #rows
    local e = effect:totable()
    for q, i in ipairs(rows) do
      local col = cols[q]
      local x = exact[col]
      if not x then
        x = {}
        exact[col] = x
        columns_touched = columns_touched + 1
      end
      x[i] = e[q]
    end
    for _, cl in ipairs(classes) do
      -- the entries of cl's rows among them
      local sub, pos = {}, {}
      for q, i in ipairs(rows) do
        if cl.row_of and cl.row_of[i] then sub[#sub + 1] = q; pos[#pos + 1] = cl.row_of[i] end
      end
      if #sub > 0 then
        local idx = {}
        for s2, q in ipairs(sub) do idx[s2] = rows[q] end
        local vals = class_values(effect:index_select(1, sub):reshape{#sub, 1, K}, base:index_select(1, idx), cl.c,
          space)
        local flat, v = {}, {}
        for s2, q in ipairs(sub) do
          flat[s2] = (pos[s2] - 1) * W + cols[q]
          v[s2] = {vals[s2][1]}
        end
        local fresh = sx.index_add(sx.ones{#sub, 1}, 1, cl.n * W, flat):reshape{cl.n, W}
        cl.Et = cl.Et * (1 - fresh) + sx.index_add(sx.tensor(v), 1, cl.n * W, flat):reshape{cl.n, W}
        cl.Kt = cl.Kt + fresh
        for s2, q in ipairs(sub) do
          local i, row, col = rows[q], pos[s2], cols[q]
          cl.Ex[row][col] = vals[s2][1]
          local ve = cl.vhat[row][col]
          local vx = class_variable(b[i], e[q], cl.c, space)
          if whole[q] then cl.ratios[#cl.ratios + 1] = math.abs(vx - ve) / (math.abs(ve - cl.v0[row]) + tau) end
          if not cl.cols[col] then cl.cols[col] = true; cl.ncols = cl.ncols + 1 end
        end
      end
    end
  end

  -- the base passes of every image, kept for the exact entries
  local bpass = not opts.oracle and sx.attfind.base(G, C, latents, {noise = noise, batch = opts.batch}) or nil

  local function evaluate(requests)
    -- requests: list of {col =, images = {i...}}: one call for all their entries
    local rows, cols, whole, seen = {}, {}, {}, {}
    for _, rq in ipairs(requests) do
      seen[rq.col] = seen[rq.col] or {}
      for _, i in ipairs(rq.images) do
        if not seen[rq.col][i] then
          seen[rq.col][i] = #rows + 1
          rows[#rows + 1] = i
          cols[#cols + 1] = rq.col
          whole[#whole + 1] = rq.whole or false
        elseif rq.whole then
          whole[seen[rq.col][i]] = true
        end
      end
    end
    if #rows == 0 then return end
    local t1 = sx.wall_time()
    local effect
    if opts.oracle then -- the entries read from an exact table of the same images
      local flat = {}
      for q = 1, #rows do flat[q] = (rows[q] - 1) * W + cols[q] end
      effect = opts.oracle.effect:reshape{N * W, K}:index_select(1, flat)
    else
      effect = sx.attfind.entries(G, C, latents, rows, cols, {noise = noise, base = bpass, batch = opts.batch,
        style_min = style_min, style_max = style_max})
    end
    t_exact = t_exact + (sx.wall_time() - t1)
    take(rows, cols, whole, effect)
  end

  local function calibrate(cl)
    if #cl.ratios == 0 then cl.alpha = nil; return end
    local r = table.move(cl.ratios, 1, #cl.ratios, 1, {})
    table.sort(r)
    cl.alpha = safety * r[math.max(1, math.ceil(#r * quantile))]
  end

  -- the upper bounds of class cl's entries, [n, 2S] (the exact value where
  -- known): v within alpha (|v_est - v_base| + tau) of v_est, never below
  -- the estimate the policy would read
  local function upper(cl)
    local v = cl.vhat_t + ((cl.vhat_t - cl.v0_t):abs() + tau) * cl.alpha
    local u = space == "prob" and v:sigmoid() - cl.v0_t:sigmoid() or v
    u = cl.Eest + (u - cl.Eest):relu()
    return u * (1 - cl.Kt) + cl.Et * cl.Kt
  end

  -- the class-c logit change of column col on every image (exact columns only)
  local function column_effect(c, col)
    local x, out = exact[col], {}
    for i = 1, N do out[i] = x[i][c + 1] end
    return out
  end
  local function complete(col)
    local x = exact[col]
    if not x then return false end
    for i = 1, N do if not x[i] then return false end end
    return true
  end
  local function missing(col, images)
    local x, out = exact[col] or {}, {}
    for _, i in ipairs(images) do if not x[i] then out[#out + 1] = i end end
    return out
  end
  local all = {}
  for i = 1, N do all[i] = i end

  -- The images (indices into the table) of column col to evaluate at a
  -- step with active rows act and best exact score best_sum: with partial
  -- evaluation, the missing rows with the largest bounds, until what the
  -- bound leaves on the others is at most half of best_sum (enough to rule
  -- the column out if its evaluated part is small); all the missing rows
  -- of a column whose exact part is already half of best_sum, or before
  -- there is a bound or an exact best.
  local function rows_for(cl, U, col, act, best_sum)
    U = U and U:narrow(2, col, 1):reshape{cl.n}:totable()
    local miss, exact_part = {}, 0
    for _, r in ipairs(act) do
      local x = cl.Ex[r][col]
      if x then exact_part = exact_part + x else miss[#miss + 1] = r end
    end
    local out = {}
    if partial and U and best_sum and exact_part < 0.5 * best_sum then
      table.sort(miss, function(a, b2)
        if U[a] ~= U[b2] then return U[a] > U[b2] end
        return a < b2
      end)
      local rest = 0
      for _, r in ipairs(miss) do rest = rest + U[r] end
      local budget = 0.5 * math.max(best_sum, 0)
      for _, r in ipairs(miss) do
        if rest <= budget then break end
        out[#out + 1] = cl.rows[r]
        rest = rest - U[r]
      end
      if #out > 0 and #out < #miss then return out, false end
      out = {}
    end
    for q, r in ipairs(miss) do out[q] = cl.rows[r] end
    return out, true
  end

  -- one pass of the certified subset selection of class cl: its picks, or
  -- the requests that must be evaluated first
  local function select(cl)
    local n = cl.n
    local U = cl.alpha and upper(cl)
    local acc, zeroed, out, picked, passed = {}, {}, {}, {}, 0
    for r = 1, n do acc[r] = 0 end
    while #out < k do
      local saturated = true
      for r = 1, n do if acc[r] < cap then saturated = false end end
      local act, w = {}, {}
      for r = 1, n do
        local on = saturated or acc[r] < cap
        if on then act[#act + 1] = r end
        w[r] = on and 1 or 0
      end
      if #act == 0 then break end
      -- the column sums over the active rows (float32, in C): filled values,
      -- known entries, bounds
      local wt = sx.tensor{w}
      local sf = sx.matmul(wt, cl.Et):reshape{W}:totable()
      local kn = sx.matmul(wt, cl.Kt):reshape{W}:totable()
      local su = U and sx.matmul(wt, U):reshape{W}:totable() or sf
      -- the best column known on the active rows: the candidates within
      -- float32 rounding of the largest sum, then summed as subset_selection
      -- sums (doubles, row order), ties to the lower column
      local top = -math.huge
      for col = 1, W do
        if not zeroed[col] and kn[col] == #act and sf[col] > top then top = sf[col] end
      end
      local best, best_sum = nil, -math.huge
      local tol = 1e-6 * n * (1 + math.abs(top))
      if top > -math.huge then
        for col = 1, W do
          if not zeroed[col] and kn[col] == #act and sf[col] >= top - tol then
            local e = cl.Et:narrow(2, col, 1):reshape{n}:totable()
            local sum = 0
            for _, r in ipairs(act) do sum = sum + e[r] end
            if sum > best_sum then best, best_sum = col, sum end
          end
        end
      end
      -- the columns that could beat (or tie before) it: bounds within
      -- rounding of it count
      local need, ub = {}, {}
      for col = 1, W do
        if not zeroed[col] and kn[col] ~= #act then
          ub[col] = su[col]
          if not cl.alpha or best == nil or su[col] >= best_sum - tol then need[#need + 1] = col end
        end
      end
      if best ~= nil and best_sum <= 0 then
        -- the policy stops when the best filled score is <= 0 (all are >= 0):
        -- only columns whose bound is above 0 matter
        local keep = {}
        for _, col in ipairs(need) do if ub[col] > 0 then keep[#keep + 1] = col end end
        need = keep
        if #need == 0 then break end
      end
      if #need > 0 then
        table.sort(need, function(a, b2) if ub[a] ~= ub[b2] then return ub[a] > ub[b2] end return a < b2 end)
        -- at most max_columns columns touched: past it, only those already
        local requests, fresh = {}, cl.ncols
        local m = cl.alpha and round or initial
        for _, col in ipairs(need) do
          if #requests >= m then break end
          if cl.cols[col] or fresh < max_columns then
            if not cl.cols[col] then fresh = fresh + 1 end
            local images, whole = rows_for(cl, U, col, act, best and best_sum)
            requests[#requests + 1] = {col = col, images = images, whole = whole}
          end
        end
        if #requests == 0 then cl.certified = false; return out, nil end
        return nil, requests
      end
      -- best is certified: with max_corr its whole column (and the picks') decide
      local too_close = false
      if max_corr then
        if not complete(best) then return nil, {{col = best, images = missing(best, all), whole = true}} end
        local v = column_effect(cl.c, best)
        for _, q in ipairs(picked) do
          if (util.correlation(v, column_effect(cl.c, q)) or 0) > max_corr then too_close = true; break end
        end
      end
      if too_close then
        passed = passed + 1
        zeroed[best] = true
      else
        out[#out + 1] = best
        picked[#picked + 1] = best
        local e = cl.Et:narrow(2, best, 1):reshape{n}:totable()
        for r = 1, n do acc[r] = acc[r] + e[r] end
        zeroed[best] = true
      end
    end
    -- the picks on every image
    local requests = {}
    for _, col in ipairs(out) do
      if not complete(col) then requests[#requests + 1] = {col = col, images = missing(col, all), whole = true} end
    end
    if #requests > 0 then return nil, requests end
    return out, nil
  end

  while true do
    local requests = {}
    for _, cl in ipairs(classes) do
      if cl.n > 0 then
        calibrate(cl)
        local picks, rq = select(cl)
        cl.picks = picks
        if rq then
          cl.rounds = cl.rounds + 1
          for _, x in ipairs(rq) do if #x.images > 0 then requests[#requests + 1] = x end end
        end
      end
    end
    if #requests == 0 then break end
    evaluate(requests)
    local parts = {}
    for _, cl in ipairs(classes) do
      parts[#parts + 1] = string.format("class %d %d columns (alpha %s)", cl.c, cl.ncols,
        cl.alpha and string.format("%.3g", cl.alpha) or "-")
    end
    log(string.format("screen: %d columns, %d entries evaluated (%.1f%% of the table), %s", columns_touched,
      entries, 100 * entries / (N * W), table.concat(parts, ", ")))
  end

  if bpass then bpass:close() end
  -- the table: the estimate with the exact entries in place (each entry is
  -- evaluated once: a request names only missing ones)
  local X = sx.zeros{N * W, K}
  local M = sx.zeros{N * W, 1}
  for _, grp in ipairs(groups) do
    local flat = {}
    for q = 1, #grp.rows do flat[q] = (grp.rows[q] - 1) * W + grp.cols[q] end
    X = X + sx.index_add(grp.effect, 1, N * W, flat)
    M = M + sx.index_add(sx.ones{#flat, 1}, 1, N * W, flat)
  end
  local effect = (est_flat * (1 - M):reshape{N, W, 1} + X:reshape{N, W, K}):reshape{N, 2, S, K}
  M = M:reshape{N, W}
  local per_class, certified = {}, true
  for _, cl in ipairs(classes) do
    certified = certified and cl.certified
    per_class[cl.c + 1] = {class = cl.c, images = cl.n, columns = cl.ncols, rounds = cl.rounds,
      alpha = cl.alpha, certified = cl.certified}
  end
  local passes_total = entries + N -- + the base passes (the gradients' are counted apart)
  local tab = {effect = effect, base_logits = base, style_min = style_min, style_max = style_max, styles = styles,
    latents = latents, noise = noise, exact = M:reshape{N, 2, S},
    screen = {k = k, space = space, max_image_effect = cap, max_corr = max_corr, quantile = quantile,
      safety = safety, tau = tau, initial = initial, round = round, max_columns = max_columns,
      labels = opts.labels and labels or nil,
      columns = columns_touched, entries = entries, passes = passes_total, full_passes = N * (1 + W),
      certified = certified, per_class = per_class, gradient_seconds = t_grad, exact_seconds = t_exact,
      seconds = sx.wall_time() - t0}}
  local layers = {}
  for l, ly in ipairs(lay.layers) do layers[l] = {name = ly.name, channels = ly.channels, offset = ly.offset} end
  tab.layers = layers
  return tab
end

-- Whether subset selection with opts (as explain.select passes them) and k
-- picks reads a screened table only where the screening certified it.
-- Returns true, or false and why not. An exact table (no tab.screen) always
-- qualifies.
function attfind.screen_covers(tab, policy, opts, k)
  local s = tab.screen
  if not s then return true end
  opts = opts or {}
  if policy ~= "subset" and policy ~= attfind.subset_selection then
    return false, "a screened table certifies subset selection only"
  end
  local space = opts.space or "prob"
  local cap = opts.max_image_effect or (space == "prob" and 0.2 or 1.0)
  if space ~= s.space then return false, "screened in space " .. s.space .. ", not " .. space end
  if cap ~= s.max_image_effect then return false, "screened with max_image_effect " .. s.max_image_effect end
  if opts.max_corr ~= s.max_corr then return false, "screened with max_corr " .. tostring(s.max_corr) end
  if opts.accept then return false, "a screened table does not cover an accept filter" end
  if k > s.k then return false, string.format("screened for %d picks, %d asked", s.k, k) end
  if opts.labels ~= nil and s.labels == nil then return false, "screened with the predicted labels" end
  return true
end

return {gradients = attfind.gradients, linear_effects = attfind.linear_effects,
  screened_effects = attfind.screened_effects, screen_covers = attfind.screen_covers}
