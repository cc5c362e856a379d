-- stylex.all — the Lua half of the library in one table, each module loaded
-- on first use:
--
--   local sx = require "stylex"            -- the C module: tensors, ops, nn, models
--   local stylex = require "stylex.all"
--   local opts = stylex.cli.parse(arg, defaults, usage)
--   local ds = stylex.data.named("fashion-mnist", "test")
--   local G, E, meta = stylex.evaluate.load_model(path)
--
-- stylex.NAME is require "stylex.NAME" (lua/stylex/NAME.lua), so a field
-- reads as the module it is. The C module's own fields are not here:
-- sx.attfind (the effect table, C) and stylex.attfind (the policies over
-- it, Lua) are different modules.
local all = {}

return setmetatable(all, {
  __index = function(t, name)
    if type(name) ~= "string" or name == "all" then
      error("stylex.all: no module " .. tostring(name), 2)
    end
    local m = require("stylex." .. name)
    rawset(t, name, m)
    return m
  end,
})
