-- tests/lua/test_docs.lua — docs/lua-api.md against the table `require
-- "stylex"` returns, both ways, so the page cannot drift:
--   * every function of sx, of its sub-tables (sx.nn, sx.optim, sx.models,
--     ...), every tensor method (sx.Tensor), every method of modules
--     (sx.nn.Module and the model types), optimisers (sx.optim.Optimizer) and
--     sx.nn.Sequential is named on the page;
--   * every `sx.a.b` the page names exists, and every `t:name` is a tensor
--     method.
-- "Named" means inside a code span (or an indented code block): as
-- `sx.name` / `sx.sub.name`, as a method call `x:name(...)`, or — for an op
-- that is also a tensor method, listed in a table row — as its bare name
-- (`reshape(x, shape)`, `neg`).
local T = dofile("tests/lua/harness.lua")
local sx = require "stylex"

local page = assert(T.read_file("docs/lua-api.md"), "docs/lua-api.md")

-- the code of the page: `spans` and indented code lines
local code = {}
for span in page:gmatch("`([^`]+)`") do code[#code + 1] = span end
for line in (page .. "\n"):gmatch("([^\n]*)\n") do
  if line:match("^    %S") then code[#code + 1] = line end
end

local full, methods, tmethods, bare = {}, {}, {}, {}
for _, c in ipairs(code) do
  for name in c:gmatch("%f[%w_]sx%.[%a_][%w_%.]*") do full[(name:gsub("%.$", ""))] = true end
  for recv, m in c:gmatch("%f[%w_]([%a_][%w_]*):([%a_][%w_]*)") do
    methods[m] = true
    if recv == "t" or recv == "x" then tmethods[m] = true end
  end
  local b = c:match("^([%a_][%w_]*)%(") or c:match("^([%a_][%w_]*)$")
  if b then bare[b] = true end
end

local function functions_of(t)
  local names = {}
  for k, v in pairs(t) do
    if type(k) == "string" and type(v) == "function" and not k:match("^__") then names[#names + 1] = k end
  end
  table.sort(names)
  return names
end

T.test("every function of sx and sx.Tensor is on the page", function()
  for _, k in ipairs(functions_of(sx)) do
    local ok = full["sx." .. k] or (sx.Tensor[k] ~= nil and (bare[k] or tmethods[k]))
    T.ok(ok, "docs/lua-api.md does not name sx." .. k)
  end
  for _, k in ipairs(functions_of(sx.Tensor)) do
    T.ok(tmethods[k] or bare[k] or full["sx." .. k], "docs/lua-api.md does not name the tensor method t:" .. k)
  end
  T.ok(full["sx.version"] and full["sx.Tensor"], "sx.version and sx.Tensor")
end)

-- the method tables: a method is named as `recv:name`
local method_tables = {
  ["sx.nn.Module"] = sx.nn.Module, ["sx.nn.Classifier"] = sx.nn.Classifier, ["sx.nn.Generator"] = sx.nn.Generator,
  ["sx.nn.Discriminator"] = sx.nn.Discriminator, ["sx.nn.Encoder"] = sx.nn.Encoder,
  ["sx.optim.Optimizer"] = sx.optim.Optimizer,
  ["sx.nn.Sequential"] = getmetatable(sx.nn.Sequential()).__index,
}

T.test("every function of the sub-tables is on the page", function()
  local seen, count = { [sx.Tensor] = true }, 0
  for _, t in pairs(method_tables) do seen[t] = true end
  local function walk(t, path)
    if seen[t] then return end
    seen[t] = true
    for _, k in ipairs(functions_of(t)) do
      count = count + 1
      T.ok(full[path .. "." .. k], "docs/lua-api.md does not name " .. path .. "." .. k)
    end
    local keys = {}
    for k, v in pairs(t) do if type(k) == "string" and type(v) == "table" then keys[#keys + 1] = k end end
    table.sort(keys)
    for _, k in ipairs(keys) do walk(t[k], path .. "." .. k) end
  end
  for _, k in ipairs({ "nn", "optim", "models", "image", "io", "attfind", "shapes", "metrics", "dist" }) do
    T.ok(type(sx[k]) == "table", "sx." .. k .. " exists")
  end
  -- every sub-table, so a new one (sx.dist came that way) cannot escape the page
  local subs = {}
  for k, v in pairs(sx) do if type(k) == "string" and type(v) == "table" then subs[#subs + 1] = k end end
  table.sort(subs)
  for _, k in ipairs(subs) do walk(sx[k], "sx." .. k) end
  T.ok(count >= 40, "sub-table functions checked: " .. count)
  for path, t in pairs(method_tables) do
    for _, k in ipairs(functions_of(t)) do
      if k ~= "new" then T.ok(methods[k] or full[path .. "." .. k], "docs/lua-api.md does not name " .. path .. ":" .. k) end
    end
  end
end)

T.test("every sx name the page gives exists", function()
  local n = 0
  for name in pairs(full) do
    local v = load("local sx = ... return " .. name)(sx)
    n = n + 1
    T.ok(v ~= nil, "docs/lua-api.md names " .. name .. ", which require \"stylex\" does not have")
  end
  for m in pairs(tmethods) do
    T.ok(sx.Tensor[m] ~= nil, "docs/lua-api.md names t:" .. m .. ", which tensors do not have")
  end
  T.ok(n >= 100, "names on the page: " .. n)
end)

-- docs/c-api.md against the headers: every function a public header
-- declares is named on the page, and every function the page calls exists.
T.test("docs/c-api.md names every function of the public headers", function()
  local cpage = assert(T.read_file("docs/c-api.md"), "docs/c-api.md")
  local on_page = {}
  for name in cpage:gmatch("%f[%w_](l?u?a?sx_[%w_]+)") do on_page[name] = true end
  for name in cpage:gmatch("%f[%w_](luaopen_[%w_]+)") do on_page[name] = true end
  local headers = { "include/stylex.h", "include/stylex_lua.h" }
  local ls = assert(io.popen("ls include/stylex/*.h"))
  for h in ls:lines() do headers[#headers + 1] = h end
  ls:close()
  T.ok(#headers >= 16, "headers: " .. #headers)
  local declared, n = {}, 0
  for _, h in ipairs(headers) do
    local text = assert(T.read_file(h), h)
    text = text:gsub("/%*.-%*/", " ") -- declarations, not comments
    for name in text:gmatch("%f[%w_]([%a_][%w_]*)%s*%(") do
      if name:match("^sx_") or name:match("^lsx_") or name:match("^luaopen_") then
        if not declared[name] then
          declared[name] = h
          n = n + 1
        end
      end
    end
  end
  T.ok(n >= 250, "functions declared: " .. n)
  local names = {}
  for name in pairs(declared) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    T.ok(on_page[name], "docs/c-api.md does not name " .. name .. " (" .. declared[name] .. ")")
  end
  for name in cpage:gmatch("%f[%w_](sx_[%w_]+)%(") do
    T.ok(declared[name], "docs/c-api.md calls " .. name .. ", which no public header declares")
  end
end)

T.done()
