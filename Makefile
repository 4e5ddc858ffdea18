# tokentap - build, install, test.
#   make                      build/lib/libtokentap.so, build/bin/tokentapd, build/bin/tokentap
#   make install PREFIX=/usr/local [DESTDIR=...]
#   make test                 unit tests (ASan/UBSan, Criterion) + integration tests
#   make unit | make integration

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
B := build

WARN := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wformat=2
INC := -Ipreload -I$(B)/gen
OPT ?= -O2 -g
CFLAGS_SO := $(WARN) $(INC) $(OPT) -fPIC -fvisibility=hidden -ftls-model=initial-exec
CFLAGS_BIN := $(WARN) $(INC) $(OPT)
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
CFLAGS_TEST := $(WARN) $(INC) -O1 -g $(SAN)

PRICES_C := $(B)/gen/prices_gen.c

# The preload: hooks + capture. Third-party libraries are reached through
# preload/dlshim.c (lazy dlopen), never linked: see docs/INTERNALS.md.
PRELOAD_SRC := $(wildcard preload/*.c preload/providers/*.c hooks/*.c)
PRELOAD_OBJ := $(patsubst %.c,$(B)/so/%.o,$(PRELOAD_SRC)) $(B)/so/prices_gen.o

# Code shared with the daemon and the CLI (linked normally).
CORE_SRC := $(filter-out preload/dlshim.c,$(wildcard preload/*.c preload/providers/*.c))
EXPORTER_SRC := $(filter-out exporter/tokentapd.c,$(wildcard exporter/*.c))
TOOLS_SRC := $(filter-out tools/tokentap.c,$(wildcard tools/*.c))

LIBS_BIN := -lsqlite3 -lmsgpackc -ljansson -lz -lbrotlidec -lzstd -lnghttp2 -lssl -lcrypto -lpthread -lm

BIN_CORE_OBJ := $(patsubst %.c,$(B)/bin-obj/%.o,$(CORE_SRC) $(EXPORTER_SRC) $(TOOLS_SRC)) $(B)/bin-obj/prices_gen.o

TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(patsubst tests/unit/%.c,$(B)/test/%,$(TEST_SRC))
TEST_CORE_OBJ := $(patsubst %.c,$(B)/test-obj/%.o,$(CORE_SRC) $(EXPORTER_SRC) $(TOOLS_SRC)) $(B)/test-obj/prices_gen.o

all: $(B)/lib/libtokentap.so $(B)/bin/tokentapd $(B)/bin/tokentap

$(PRICES_C): data/prices.tsv tools/gen_prices.awk
	@mkdir -p $(dir $@)
	awk -f tools/gen_prices.awk data/prices.tsv > $@.tmp && mv $@.tmp $@

$(B)/so/%.o: %.c $(PRICES_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_SO) -MMD -MP -c $< -o $@
$(B)/so/prices_gen.o: $(PRICES_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_SO) -c $< -o $@

# Lazy binding (no -z now) and packed relative relocations (DT_RELR,
# glibc >= 2.36): the preload is loaded into every process a traced program
# starts, so what the loader does for it at each exec is kept small.
$(B)/lib/libtokentap.so: $(PRELOAD_OBJ) preload/exports.map
	@mkdir -p $(dir $@)
	$(CC) -shared -o $@ $(PRELOAD_OBJ) -Wl,--version-script=preload/exports.map -Wl,-z,pack-relative-relocs -Wl,--no-undefined -ldl -lpthread

$(B)/bin-obj/%.o: %.c $(PRICES_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BIN) -Iexporter -Itools -MMD -MP -c $< -o $@
$(B)/bin-obj/prices_gen.o: $(PRICES_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BIN) -c $< -o $@

$(B)/bin/tokentapd: $(B)/bin-obj/exporter/tokentapd.o $(BIN_CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LIBS_BIN)

$(B)/bin/tokentap: $(B)/bin-obj/tools/tokentap.o $(BIN_CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LIBS_BIN)

# --- tests ---------------------------------------------------------------
$(B)/test-obj/%.o: %.c $(PRICES_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) -Iexporter -Itools -MMD -MP -c $< -o $@
$(B)/test-obj/prices_gen.o: $(PRICES_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) -c $< -o $@

$(B)/test/%: tests/unit/%.c $(TEST_CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) -Iexporter -Itools -Itests/unit -o $@ $< $(TEST_CORE_OBJ) $(LIBS_BIN) -lbrotlienc -lcriterion

unit: $(TEST_BIN)
	@pass=0; fail=0; for t in $(TEST_BIN); do \
	  if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $$t --jobs 2; then pass=$$((pass+1)); else fail=$$((fail+1)); echo "FAILED: $$t"; fi; \
	done; echo "unit suites: $$pass passed, $$fail failed"; test $$fail -eq 0

integration: all clients
	bash tests/integration/run.sh

test: unit integration

demo: all
	bash tools/demo.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib
	install -m 0755 $(B)/bin/tokentap $(B)/bin/tokentapd $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 $(B)/lib/libtokentap.so $(DESTDIR)$(PREFIX)/lib/

clean:
	rm -rf $(B)

# Keep objects built through pattern chains (test objects), so `make test`
# does not rebuild them each time or end its output with an rm line.
.SECONDARY:

# --- bench -----------------------------------------------------------------
# make bench [QUICK=1]: tokentap's overhead as ratios measured on this machine
# (bench/run.sh prints the table). QUICK=1 runs fewer calls/spans (< 1 min).
QUICK ?=

$(B)/bench/ingest: $(B)/bin-obj/bench/ingest.o $(BIN_CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LIBS_BIN)

bench: all $(B)/bench/ingest
	QUICK=$(QUICK) bash bench/run.sh

.PHONY: all unit integration test demo install clean clients bench
-include $(shell find $(B) -name '*.d' 2>/dev/null)

# --- test client programs (C, linked to the system's libcurl) ---------------
CLIENT_SRC := $(wildcard tests/integration/clients/*.c)
CLIENT_BIN := $(patsubst tests/integration/clients/%.c,$(B)/clients/%,$(CLIENT_SRC))
$(B)/clients/%: tests/integration/clients/%.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) -O1 -g -o $@ $< -lcurl -lpthread
clients: $(CLIENT_BIN)
