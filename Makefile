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
# BUILD_SAN: sanitizer flags for the preload, the daemon, the CLI and the C
# test clients; empty in the normal build (see make test-asan/test-tsan).
BUILD_SAN :=
CFLAGS_SO := $(WARN) $(INC) $(OPT) $(BUILD_SAN) -fPIC -fvisibility=hidden -ftls-model=initial-exec
CFLAGS_BIN := $(WARN) $(INC) $(OPT) $(BUILD_SAN)
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
CFLAGS_TEST := $(WARN) $(INC) -O1 -g $(SAN)

PRICES_C := $(B)/gen/prices_gen.c
# Web assets of the report and the ui server, compiled in (tools/assets.h).
ASSETS := tools/report.css tools/report.js tools/ui/index.html tools/ui/app.js tools/ui/app.css
ASSETS_C := $(B)/gen/assets_gen.c

# The preload: hooks + capture. Third-party libraries are reached through
# preload/dlshim.c (lazy dlopen), never linked: see docs/INTERNALS.md.
PRELOAD_SRC := $(wildcard preload/*.c preload/providers/*.c hooks/*.c)
PRELOAD_OBJ := $(patsubst %.c,$(B)/so/%.o,$(PRELOAD_SRC)) $(B)/so/prices_gen.o

# Code shared with the daemon and the CLI (linked normally).
CORE_SRC := $(filter-out preload/dlshim.c,$(wildcard preload/*.c preload/providers/*.c))
EXPORTER_SRC := $(filter-out exporter/tokentapd.c,$(wildcard exporter/*.c))
TOOLS_SRC := $(filter-out tools/tokentap.c,$(wildcard tools/*.c))

LIBS_BIN := -lmicrohttpd -lcurl -lsqlite3 -lmsgpackc -ljansson -lz -lbrotlidec -lzstd -lnghttp2 -lssl -lcrypto -lpthread -lm

BIN_CORE_OBJ := $(patsubst %.c,$(B)/bin-obj/%.o,$(CORE_SRC) $(EXPORTER_SRC) $(TOOLS_SRC)) $(B)/bin-obj/prices_gen.o $(B)/bin-obj/assets_gen.o

TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(patsubst tests/unit/%.c,$(B)/test/%,$(TEST_SRC))
TEST_CORE_OBJ := $(patsubst %.c,$(B)/test-obj/%.o,$(CORE_SRC) $(EXPORTER_SRC) $(TOOLS_SRC)) $(B)/test-obj/prices_gen.o $(B)/test-obj/assets_gen.o

all: $(B)/lib/libtokentap.so $(B)/bin/tokentapd $(B)/bin/tokentap

$(PRICES_C): data/catalogue.tsv tools/gen_prices.py
	@mkdir -p $(dir $@)
	python3 tools/gen_prices.py data/catalogue.tsv > $@.tmp && mv $@.tmp $@

$(ASSETS_C): $(ASSETS) tools/gen_assets.awk
	@mkdir -p $(dir $@)
	awk -f tools/gen_assets.awk $(ASSETS) > $@.tmp && mv $@.tmp $@

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
	$(CC) $(BUILD_SAN) -shared -o $@ $(PRELOAD_OBJ) -Wl,--version-script=preload/exports.map -Wl,-z,pack-relative-relocs -Wl,--no-undefined -ldl -lpthread

$(B)/bin-obj/%.o: %.c $(PRICES_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BIN) -Iexporter -Itools -MMD -MP -c $< -o $@
$(B)/bin-obj/prices_gen.o: $(PRICES_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BIN) -c $< -o $@
$(B)/bin-obj/assets_gen.o: $(ASSETS_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BIN) -c $< -o $@

$(B)/bin/tokentapd: $(B)/bin-obj/exporter/tokentapd.o $(BIN_CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(BUILD_SAN) -o $@ $^ $(LIBS_BIN)

$(B)/bin/tokentap: $(B)/bin-obj/tools/tokentap.o $(BIN_CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(BUILD_SAN) -o $@ $^ $(LIBS_BIN)

# --- tests ---------------------------------------------------------------
$(B)/test-obj/%.o: %.c $(PRICES_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) -Iexporter -Itools -MMD -MP -c $< -o $@
$(B)/test-obj/prices_gen.o: $(PRICES_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) -c $< -o $@
$(B)/test-obj/assets_gen.o: $(ASSETS_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) -c $< -o $@

# The inline-hook relocator (hooks/inline_x86_64.c) is preload-only code;
# its unit test links it with libZydis directly.
TEST_INLINE_OBJ := $(B)/test-obj/hooks/inline_x86_64.o
$(B)/test/%: tests/unit/%.c $(TEST_CORE_OBJ) $(TEST_INLINE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) -Iexporter -Itools -Itests/unit -Ihooks -o $@ $< $(TEST_CORE_OBJ) $(TEST_INLINE_OBJ) $(LIBS_BIN) -lZydis -lbrotlienc -lcriterion

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
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/user $(DESTDIR)$(PREFIX)/lib/systemd/system \
	    $(DESTDIR)$(PREFIX)/share/doc/tokentap
	for u in tokentapd.service:user tokentapd@.service:system; do \
	  sed -e 's|@BINDIR@|$(PREFIX)/bin|g' -e 's|@DOCDIR@|$(PREFIX)/share/doc/tokentap|g' \
	    dist/$${u%%:*} > $(DESTDIR)$(PREFIX)/lib/systemd/$${u##*:}/$${u%%:*} && \
	  chmod 0644 $(DESTDIR)$(PREFIX)/lib/systemd/$${u##*:}/$${u%%:*} || exit 1; \
	done
	install -m 0644 docs/FLEET.md docs/OTLP.md dist/tokentap.conf.example \
	    $(DESTDIR)$(PREFIX)/share/doc/tokentap/

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

$(B)/bench/price_lookup: $(B)/bin-obj/bench/price_lookup.o $(BIN_CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LIBS_BIN)

bench: all $(B)/bench/ingest $(B)/bench/price_lookup
	QUICK=$(QUICK) bash bench/run.sh

.PHONY: all unit integration test demo install clean clients bench
-include $(shell find $(B) -name '*.d' 2>/dev/null)

# --- test client programs (C, linked to the system's libcurl) ---------------
CLIENT_SRC := $(wildcard tests/integration/clients/*.c)
CLIENT_BIN := $(patsubst tests/integration/clients/%.c,$(B)/clients/%,$(CLIENT_SRC))
$(B)/clients/%: tests/integration/clients/%.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) -O1 -g $(BUILD_SAN) -o $@ $< -lcurl -lpthread
# The WebSocket client speaks TLS itself (OpenSSL) and inflates (zlib).
$(B)/clients/ws_client: tests/integration/clients/ws_client.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) -O1 -g $(BUILD_SAN) -o $@ $< -lssl -lcrypto -lz -ljansson
clients: $(CLIENT_BIN)

# --- fuzzing (issue #6) --------------------------------------------------------
# make fuzz [FUZZ_SECONDS=120] [FUZZ_TARGETS="http1 json"] [FUZZ_JOBS=2]
# make fuzz-smoke                 every target for 5 s (CI)
# libFuzzer targets (tests/fuzz/fuzz_<name>.c) over the core objects built
# with clang and ASan/UBSan; tests/fuzz/run.sh runs each from a copy of its
# seed corpus (tests/fuzz/corpus/<name>/) under $(B)/fuzz-work and fails on
# any crash, leak, sanitizer report, timeout or OOM. See tests/fuzz/README.md.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 120
FUZZ_JOBS ?= 2
FUZZ_SAN := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
FUZZ_CFLAGS := $(WARN) $(INC) -Iexporter -O1 -g $(FUZZ_SAN)
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_BIN := $(patsubst %,$(B)/fuzz/fuzz_%,$(FUZZ_NAMES))
FUZZ_CORE_OBJ := $(patsubst %.c,$(B)/fuzz-obj/%.o,$(CORE_SRC) $(EXPORTER_SRC)) $(B)/fuzz-obj/prices_gen.o

$(B)/fuzz-obj/%.o: %.c $(PRICES_C)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@
$(B)/fuzz-obj/prices_gen.o: $(PRICES_C)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@
# The targets wrap tt_deliver_span: a finished span goes through the wire
# encoder and the daemon's decoder instead of a socket (fuzz_common.h).
$(B)/fuzz-obj/libcore.a: $(FUZZ_CORE_OBJ)
	rm -f $@ && ar rcs $@ $^
$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h $(B)/fuzz-obj/libcore.a
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Wl,--wrap=tt_deliver_span -o $@ $< $(B)/fuzz-obj/libcore.a $(LIBS_BIN)

fuzz-build: $(FUZZ_BIN)

fuzz: fuzz-build
	bash tests/fuzz/run.sh $(B) $(FUZZ_SECONDS) $(FUZZ_JOBS) $(FUZZ_TARGETS)

fuzz-smoke: fuzz-build
	bash tests/fuzz/run.sh $(B) 5 $(FUZZ_JOBS) $(FUZZ_TARGETS)

.PHONY: fuzz fuzz-smoke fuzz-build

# --- sanitizer and valgrind runs (issue #6) -----------------------------------
# make test-asan       preload, daemon, CLI, C clients and unit suites with
#                      ASan+UBSan (build-asan); unit + whole integration suite
# make test-tsan       the same with TSan (build-tsan), integration suite only
# make test-valgrind   plain -O1 -g build (build-vg): unit suites under memcheck;
#                      integration suite with tokentapd, the C clients and the
#                      curl CLI under memcheck (python3 is not: too slow)
# Not part of `make test`. Every process writes its reports to <build>/sanlog;
# a report fails the test that was running (tests/integration/harness.py).
# Uninstrumented programs (python3, bash) get the sanitizer runtime in
# LD_PRELOAD (TOKENTAP_TEST_PRELOAD_FIRST), so that it precedes libc: as a
# mere DT_NEEDED of the preload it would come after libc, and libc's malloc
# and pthread_create would win over its interceptors (TSan then crashes in
# the first thread python starts). `tokentap run` puts its preload before
# it, hence verify_asan_link_order=0. The curl CLI is the exception (see
# curl_wrapper() in tests/integration/harness.py): curl 7.88 hangs in its
# first setlocale() with libasan or libtsan in LD_PRELOAD, tokentap or not.
# The harness sets each tool's options.
ASAN_B := build-asan
TSAN_B := build-tsan
VG_B := build-vg
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
TSAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer
VG_OPT := -O1 -g
ASAN_RT := $(realpath $(shell $(CC) -print-file-name=libasan.so))
TSAN_RT := $(realpath $(shell $(CC) -print-file-name=libtsan.so))
SAN_TEST_BIN = $(patsubst $(B)/%,$(1)/%,$(TEST_BIN))
# $(call san_integration,<build>,<tool>,<bin dir>,<slowness>,<make args for install>,<runtime>)
san_integration = rm -rf $(1)/sanlog && \
	TOKENTAP_TEST_SAN=$(2) TOKENTAP_BIN_DIR=$(CURDIR)/$(3) TOKENTAP_TEST_PRELOAD_FIRST=$(6) \
	TOKENTAP_TEST_LOG_DIR=$(CURDIR)/$(1)/sanlog TOKENTAP_TEST_SLOW=$(4) \
	TOKENTAP_TEST_MAKE_ARGS='$(5)' bash tests/integration/run.sh

test-asan:
	$(MAKE) B=$(ASAN_B) BUILD_SAN="$(ASAN_FLAGS)" all clients unit
	$(call san_integration,$(ASAN_B),asan,$(ASAN_B)/bin,2,BUILD_SAN="$(ASAN_FLAGS)",$(ASAN_RT))

# Integration suite only: Criterion 2.4 cannot start under TSan (BoxFort maps
# its inheritable arena at a fixed address inside TSan's reserved ranges:
# "Could not initialize inheritable arena", Snaipe/Criterion#274). The
# threads worth checking are in the daemon and in the preload under
# multi-threaded clients, which the integration suite runs.
test-tsan:
	$(MAKE) B=$(TSAN_B) BUILD_SAN="$(TSAN_FLAGS)" all clients
	$(call san_integration,$(TSAN_B),tsan,$(TSAN_B)/bin,3,BUILD_SAN="$(TSAN_FLAGS)",$(TSAN_RT))

# <build>/vgbin: a copy of the CLI next to a wrapper that runs the real
# daemon under valgrind (tests/sanitizers/valgrind-tokentapd.sh).
test-valgrind:
	$(MAKE) B=$(VG_B) SAN= OPT="$(VG_OPT)" all clients $(call SAN_TEST_BIN,$(VG_B))
	bash tests/sanitizers/valgrind-unit.sh $(VG_B)/sanlog-unit $(call SAN_TEST_BIN,$(VG_B))
	mkdir -p $(VG_B)/vgbin && cp $(VG_B)/bin/tokentap $(VG_B)/vgbin/tokentap && \
	  cp tests/sanitizers/valgrind-tokentapd.sh $(VG_B)/vgbin/tokentapd
	$(call san_integration,$(VG_B),valgrind,$(VG_B)/vgbin,10,SAN= OPT="$(VG_OPT)")

.PHONY: test-asan test-tsan test-valgrind
