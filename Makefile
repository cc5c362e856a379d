# stylex — build, test, benchmark.
#
#   make demo       the main job: installs what is missing, builds, and writes the
#                   explanation report of the shipped fmnist-shoes model into report/
#   make            library, Lua module and host into build/
#   make test       installs missing Debian packages (as root), builds, runs every test
#   make asan       the same tests under AddressSanitizer + UBSan (build/asan/)
#   make bench      kernel and training-step benchmarks (and, with Open MPI, bench-dist)
#   make test-dist  the 2-rank MPI tests (make test runs them when mpirun is there)
#   make deps       installs the Debian packages stylex needs (or says which)
#   make faults     kill-and-resume of a tiny training, and the broken-input suite
#   make fuzz       libFuzzer on every file reader, FUZZ_SECONDS each (installs clang)
#
# Layers (see docs/architecture.md): lib/core (tensors, autograd, threads) <-
# lib/ops (differentiable ops) <- lib/nn, lib/io, lib/models <- lib/lua (the
# binding) <- lib/host (the stylex executable) and lua/ (scripts' library).

BUILD   ?= build
CC      ?= cc
OPT     ?= -O3 -march=native
SAN     ?=
CFLAGS  += -std=c11 -D_GNU_SOURCE $(OPT) -ffp-contract=off -fPIC -Wall -Wextra -Wshadow \
           -Wno-unused-parameter -Iinclude -I/usr/include/lua5.4 $(SAN)
LDFLAGS += $(SAN)
LIBS    := -lopenblas -lpng -lz -lm -lpthread
LUALIBS := -llua5.4 -l:liblua5.4-cjson.so.0

CORE_SRC := $(wildcard lib/core/*.c lib/ops/*.c lib/autograd/*.c lib/nn/*.c lib/io/*.c lib/data/*.c lib/models/*.c)
BIND_SRC := $(wildcard lib/lua/*.c)
LUA_SRC  := $(sort $(wildcard lua/stylex/*.lua))
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
BIND_OBJ := $(BIND_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/lua_embedded.o
HOST_OBJ := $(BUILD)/obj/lib/host/main.o
# ---- ONNX import (issue 12). protoc-c compiles the ONNX schema that Debian's
# libonnx-dev ships into build/gen/onnx.pb-c.[ch]; lib/models/onnx.c reads
# models with it (libprotobuf-c at run time). Kept here, before the rules that
# list CORE_OBJ as prerequisites.
.DEFAULT_GOAL := all
ONNX_PROTO := /usr/include/onnx/onnx.proto
ONNX_GEN   := $(BUILD)/gen/onnx.pb-c.c $(BUILD)/gen/onnx.pb-c.h
CORE_OBJ   += $(BUILD)/obj/gen/onnx.pb-c.o
LIBS       += -lprotobuf-c
$(BUILD)/gen/onnx.pb-c.h: $(BUILD)/gen/onnx.pb-c.c
$(BUILD)/gen/onnx.pb-c.c: $(ONNX_PROTO)
	@mkdir -p $(dir $@)
	protoc-c --c_out=$(BUILD)/gen -I$(dir $(ONNX_PROTO)) $(ONNX_PROTO)
$(BUILD)/obj/gen/onnx.pb-c.o: $(BUILD)/gen/onnx.pb-c.c $(BUILD)/gen/onnx.pb-c.h
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -Wshadow -Wextra,$(CFLAGS)) -I$(BUILD)/gen -c $< -o $@
$(BUILD)/obj/lib/models/onnx.o: CFLAGS += -I$(BUILD)/gen
$(BUILD)/obj/lib/models/onnx.o: $(BUILD)/gen/onnx.pb-c.h
# ---- end of the ONNX block

CTEST_SRC := $(wildcard tests/c/test_*.c)
CTEST_BIN := $(CTEST_SRC:tests/c/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(wildcard tests/bench/bench_*.c)
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)
EXAMPLE_SRC := $(wildcard examples/*.c)
EXAMPLE_BIN := $(EXAMPLE_SRC:examples/%.c=$(BUILD)/examples/%)
HEADERS  := $(wildcard include/*.h include/stylex/*.h lib/*/*.h)

# ---- MPI: data-parallel training and sharded AttFind (docs/scale-out.md) ----
# lib/dist talks to Open MPI when its headers are installed (make deps installs
# libopenmpi-dev and openmpi-bin); without them it builds as a world of one rank.
MPI_CFLAGS := $(shell pkg-config --cflags ompi-c 2>/dev/null)
MPI_LIBS   := $(shell pkg-config --libs ompi-c 2>/dev/null)
DIST_OBJ   := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard lib/dist/*.c))
CORE_OBJ   += $(DIST_OBJ)
ifneq ($(MPI_LIBS),)
$(DIST_OBJ): CFLAGS += -DSX_HAVE_MPI=1 $(MPI_CFLAGS)
LIBS       += $(MPI_LIBS)
endif
# make test runs the 2-rank tests when mpirun is there (decided in the
# sub-make that make test starts after make deps, which installs it)
TEST_DIST  := $(if $(and $(MPI_LIBS),$(shell command -v mpirun 2>/dev/null)),test-dist)
# ---- end MPI ----

.PHONY: test-dist test-dist-if-mpi bench-dist all demo deps test test-c test-lua test-examples examples asan bench clean
all: $(BUILD)/libstylex.a $(BUILD)/libstylex.so $(BUILD)/stylex.so $(BUILD)/stylex

$(BUILD)/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# The Lua half of the module (lua/stylex/*.lua) is compiled into the binary,
# so `require "stylex"` needs nothing but the .so on package.cpath.
$(BUILD)/gen/lua_embedded.c: $(LUA_SRC) scripts/embed_lua.sh
	@mkdir -p $(dir $@)
	sh scripts/embed_lua.sh $(LUA_SRC) > $@
$(BUILD)/obj/lua_embedded.o: $(BUILD)/gen/lua_embedded.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libstylex.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/libstylex.so: $(CORE_OBJ)
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(LIBS)
# Lua C module: luaopen_stylex; the Lua interpreter provides the lua_* symbols.
$(BUILD)/stylex.so: $(BIND_OBJ) $(CORE_OBJ)
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(LIBS)
$(BUILD)/stylex: $(HOST_OBJ) $(BIND_OBJ) $(CORE_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LUALIBS) $(LIBS) -Wl,-E

$(BUILD)/tests/%: tests/c/%.c tests/c/check.h tests/c/fixtures.h $(BUILD)/libstylex.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/c $< -o $@ $(LDFLAGS) $(BUILD)/libstylex.a $(LIBS)
$(BUILD)/bench/%: tests/bench/%.c $(BUILD)/libstylex.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< -o $@ $(LDFLAGS) $(BUILD)/libstylex.a $(LIBS)

# Examples use include/stylex.h and libstylex.a only, as an outside program would.
$(BUILD)/examples/%: examples/%.c $(BUILD)/libstylex.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< -o $@ $(LDFLAGS) $(BUILD)/libstylex.a $(LIBS)
# ... except embed_lua, a program embedding Lua: it links what the stylex host
# links (the binding with the embedded lua/stylex/*.lua, Lua and lua-cjson).
# An explicit rule, so it wins over the pattern above. No -Wl,-E: liblua is a
# shared library, so Lua C modules loaded at run time find lua_* in it.
$(BUILD)/examples/embed_lua: examples/embed_lua.c $(BIND_OBJ) $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< -o $@ $(LDFLAGS) $(BIND_OBJ) $(CORE_OBJ) $(LUALIBS) $(LIBS)

deps:
	@sh scripts/deps.sh

# The effect tables are cached beside the model (models/fmnist-shoes/*.attfind-n250.safetensors);
# without them this computes both (about 8 minutes each on 2 cores).
demo: deps
	@$(MAKE) --no-print-directory all
	@$(BUILD)/stylex scripts/explain.lua --model models/fmnist-shoes --out report
	@echo "the report: report/index.html"

test: deps
	@$(MAKE) --no-print-directory test-c test-lua test-examples test-dist-if-mpi

test-c: $(CTEST_BIN)
	@sh tests/run_c.sh $(CTEST_BIN)

test-lua: all
	@sh tests/run_lua.sh $(BUILD)/stylex

examples: $(EXAMPLE_BIN)

# Each example writes its files into the directory given as its argument.
test-examples: $(EXAMPLE_BIN)
	@for e in $(EXAMPLE_BIN); do echo "== $$e"; $$e $(BUILD)/examples || exit 1; done

asan:
	@$(MAKE) --no-print-directory BUILD=build/asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" test-c test-lua test-examples

# bench_train.lua also runs the PyTorch mirror (tests/bench/torch_mirror.py) when torch imports.
bench: deps $(BENCH_BIN) all
	@for b in $(BENCH_BIN); do $$b || exit 1; done
	@$(BUILD)/stylex tests/bench/bench_train.lua
	@$(BUILD)/stylex tests/bench/bench_attfind.lua

clean:
	rm -rf build

# ---------------------------------------------------------------- faults and fuzzing
# (issue 16; slow checks, not part of `make test`)
#
# make faults: a tiny training killed 10 times (some inside a checkpoint
# write) and resumed equals the uninterrupted run byte for byte, with one log
# row per step and no temporary left (tests/faults/kill_resume.lua); then the
# broken-input suite (tests/lua/test_broken_inputs.lua, also in make test).
.PHONY: faults fuzz
faults: all
	@$(BUILD)/stylex tests/faults/kill_resume.lua
	@$(BUILD)/stylex tests/lua/test_broken_inputs.lua

# make fuzz: one libFuzzer target per reader (IDX, PNG, safetensors, JSON and
# the model configs) built with clang, ASan and UBSan into build/fuzz/, each
# run FUZZ_SECONDS (default 60) from the seed files in tests/fuzz/seeds/<target>/
# plus a corpus kept in build/fuzz/corpus/<target>/. A crash, a sanitizer
# report, a leak or a refusal without a message fails the target; the input
# that did it is left in build/fuzz/ (crash-*, leak-*, timeout-*).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer -ffp-contract=off -Iinclude \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_LIB_OBJ := $(CORE_SRC:%.c=build/fuzz/obj/%.o) build/fuzz/obj/gen/onnx.pb-c.o

fuzz:
	@STYLEX_EXTRA_PKGS=clang sh scripts/deps.sh
	@$(MAKE) --no-print-directory -j2 $(FUZZ_TARGETS:%=build/fuzz/%)
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build/fuzz/corpus/$$t; \
	  echo "== $$t ($(FUZZ_SECONDS) s)"; \
	  seeds=../../tests/fuzz/seeds/$$t; [ -d tests/fuzz/seeds/$$t ] || seeds=; \
	  (cd build/fuzz && ./$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
	     -print_final_stats=1 corpus/$$t $$seeds 2>$$t.log) || \
	    { tail -40 build/fuzz/$$t.log; echo "fuzz: $$t found a problem (build/fuzz/$$t.log)"; exit 1; }; \
	  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" build/fuzz/$$t.log | tr '\n' ' '; echo; \
	done

# the library once (instrumented, no fuzzer main), then each target against it
build/fuzz/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	@clang $(FUZZ_CFLAGS:-fsanitize=fuzzer,%=-fsanitize=fuzzer-no-link,%) -c $< -o $@
# the ONNX importer's generated parser (the ONNX block above)
build/fuzz/obj/lib/models/onnx.o: $(BUILD)/gen/onnx.pb-c.h
build/fuzz/obj/lib/models/onnx.o: FUZZ_CFLAGS += -I$(BUILD)/gen
build/fuzz/obj/gen/onnx.pb-c.o: $(BUILD)/gen/onnx.pb-c.c $(BUILD)/gen/onnx.pb-c.h
	@mkdir -p $(dir $@)
	@clang $(FUZZ_CFLAGS:-fsanitize=fuzzer,%=-fsanitize=fuzzer-no-link,%) -I$(BUILD)/gen -c $< -o $@
build/fuzz/libstylex.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	@ar rcs $@ $^
build/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz_common.h build/fuzz/libstylex.a
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $< build/fuzz/libstylex.a -o $@ -lopenblas -lpng -lz -lprotobuf-c -lm -lpthread
# ---------------------------------------------------------------- install, pkg-config, LuaRocks
#
#   make install PREFIX=/usr/local [DESTDIR=]   the libraries, headers, the Lua module,
#                   the host and stylex.pc (see docs/c-api.md#installing)
#   make test-install   installs into a temporary prefix and builds an example
#                   out of tree through pkg-config (run by make test)
#   make lua-module / install-lua-module   what the rockspec (stylex-*.rockspec)
#                   runs: build/stylex.so, then into LUA_CMODDIR

PREFIX      ?= /usr/local
DESTDIR     ?=
LUA_CMODDIR ?= $(PREFIX)/lib/lua/5.4
VERSION     := $(shell sed -n 's/^\#define STYLEX_VERSION "\(.*\)"/\1/p' include/stylex_lua.h)
# LuaRocks passes the Lua headers' folder
ifdef LUA_INCDIR
CFLAGS += -I$(LUA_INCDIR)
endif

.PHONY: install install-lua-module lua-module test-install
install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/stylex \
	  $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(LUA_CMODDIR)
	install -m 644 $(BUILD)/libstylex.a $(DESTDIR)$(PREFIX)/lib/libstylex.a
	install -m 755 $(BUILD)/libstylex.so $(DESTDIR)$(PREFIX)/lib/libstylex.so
	install -m 644 include/stylex.h include/stylex_lua.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 include/stylex/*.h $(DESTDIR)$(PREFIX)/include/stylex/
	install -m 755 $(BUILD)/stylex $(DESTDIR)$(PREFIX)/bin/stylex
	install -m 755 $(BUILD)/stylex.so $(DESTDIR)$(LUA_CMODDIR)/stylex.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' packaging/stylex.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/stylex.pc

lua-module: $(BUILD)/stylex.so
install-lua-module: lua-module
	install -d $(DESTDIR)$(LUA_CMODDIR)
	install -m 755 $(BUILD)/stylex.so $(DESTDIR)$(LUA_CMODDIR)/stylex.so

test-install: all
	@BUILD=$(BUILD) MAKE="$(MAKE)" sh tests/install/test_install.sh

test: test-install
# ---- MPI tests (2 ranks; --allow-run-as-root because CI runs as root) ----
MPIRUN ?= mpirun -np 2 --oversubscribe --allow-run-as-root
test-dist: all
	@sh tests/dist/run.sh $(BUILD)/stylex "$(MPIRUN)"
test-dist-if-mpi: $(TEST_DIST)
# make bench adds the data-parallel figures: 1 rank x 2 threads against
# 2 ranks x 1 thread (tests/bench/bench_dist.lua; docs/scale-out.md)
bench: $(if $(TEST_DIST),bench-dist)
bench-dist: all
	@SX_NUM_THREADS=2 $(BUILD)/stylex tests/bench/bench_dist.lua
	@$(MPIRUN) -x SX_NUM_THREADS=1 $(BUILD)/stylex tests/bench/bench_dist.lua
