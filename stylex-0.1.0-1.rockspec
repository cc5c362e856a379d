-- LuaRocks spec of the stylex Lua module for a stock Lua 5.4:
--   luarocks --lua-version 5.4 make              (from a checkout of this repository)
-- builds build/stylex.so with the project's Makefile (the Lua half,
-- lua/stylex/*.lua, is compiled into it) and installs it as the module
-- `stylex`. It needs the Debian packages of scripts/deps.sh (OpenBLAS,
-- libpng, zlib, protobuf-c and libonnx-dev's schema for the ONNX import;
-- lua-cjson for the Lua half's reports).
rockspec_format = "3.0"
package = "stylex"
version = "0.1.0-1"
source = {
  url = "git+file:///work/main", -- `luarocks make` builds the checkout it runs in
}
description = {
  summary = "StylEx: explaining an image classifier with a StyleGAN2, in C with a Lua 5.4 face",
  detailed = [[
Tensors with autograd (second derivatives included), StyleGAN2, AttFind and
counterfactual reports, as one Lua C module: local sx = require "stylex".]],
  license = "not stated yet (the repository has no license file)",
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
build = {
  type = "make",
  build_target = "lua-module",
  build_variables = {
    LUA_INCDIR = "$(LUA_INCDIR)",
  },
  install_target = "install-lua-module",
  install_variables = {
    LUA_CMODDIR = "$(LIBDIR)",
  },
}
