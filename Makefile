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

# bench_train.lua also runs the PyTorch reference when it can (TORCH_REFERENCE=path).
bench: deps $(BENCH_BIN) all
	@for b in $(BENCH_BIN); do $$b || exit 1; done
	@$(BUILD)/stylex tests/bench/bench_train.lua
	@$(BUILD)/stylex tests/bench/bench_attfind.lua

clean:
	rm -rf build

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
