# tokentap - build, install, test.
#   make                      build/lib/libtokentap.so, build/bin/tokentapd, build/bin/tokentap,
#                             build/bin/tokentap-mock
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
CFLAGS_SO := $(WARN) $(INC) $(OPT) $(BUILD_SAN) -DTT_PRELOAD -ffunction-sections -fdata-sections -fPIC -fvisibility=hidden -ftls-model=initial-exec
CFLAGS_BIN := $(WARN) $(INC) $(OPT) $(BUILD_SAN)
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
CFLAGS_TEST := $(WARN) $(INC) -O1 -g $(SAN)

PRICES_C := $(B)/gen/prices_gen.c
# Web assets of the report and the ui server, compiled in (tools/assets.h).
ASSETS := tools/report.css tools/report.js tools/ui/index.html tools/ui/app.js tools/ui/app.css
ASSETS_C := $(B)/gen/assets_gen.c

# The preload is two objects (docs/INTERNALS.md, "Two objects"):
#   libtokentap.so       what every process of a traced run loads: the hooks,
#                        the cheap "is this connection interesting" tests,
#                        settings, the fork registry, ownfd, logging;
#   libtokentap-core.so  the capture core (exchange, parsers, providers,
#                        prices, delivery), dlopen()ed beside it by
#                        hooks/core.c the first time a connection looks
#                        like HTTP. It exports one table (preload/core.map)
#                        and uses the first object's shared state.
# Third-party libraries are reached through preload/dlshim.c (lazy dlopen),
# never linked. Stateless helpers (tt.c, curlarg.c, dlshim.c) are in both.
# settings.c first: the link puts its arena and settings at the head of
# .bss, in the page the loader has already written (the relocated GOT, the
# zeroed rest of the data page), so the constructor's copy of the
# environment costs no page fault of its own (bench fig 4's time rows).
PRELOAD_HOOK_SRC := preload/settings.c $(wildcard hooks/*.c) \
    $(addprefix preload/,rt.c ownfd.c real.c elfcheck.c tt.c curlarg.c dlshim.c)
PRELOAD_CORE_SRC := $(filter-out $(addprefix preload/,rt.c settings.c ownfd.c real.c elfcheck.c), \
    $(wildcard preload/*.c preload/providers/*.c))
PRELOAD_OBJ := $(patsubst %.c,$(B)/so/%.o,$(PRELOAD_HOOK_SRC))
PRELOAD_CORE_OBJ := $(patsubst %.c,$(B)/so/%.o,$(PRELOAD_CORE_SRC)) $(B)/so/prices_gen.o

# The programs are linked from one static library per layer, so that each
# links only the members it uses (docs/INTERNALS.md, "Layers and
# libraries"). Lower layers never call upper ones:
#   libtt-core.a      the capture core, built a second time without -fPIC:
#                     spans, wire format, prices, parsers (preload/ but the
#                     lazy-dlopen shim, which only the preload needs)
#   libtt-exporter.a  the store, frames, sinks, forwarders (exporter/ but
#                     the daemon's own modules)
#   libtt-query.a     the store readers the CLI shares with the ui server
#                     (tools/cli_store.c, cli_clickhouse.c, report_trace.c)
#   libtt-ui.a        the ui server and its index (tools/ui_*.c), the web
#                     assets
#   libtt-mock.a      the mock's server and provider routes (tools/mock*.c
#                     but mock_bad.c and mock_main.c): the CLI embeds them
#                     for `replay` and `run --mock`
#   libtt-cli.a       the subcommands (tools/ but the above)
# tokentapd = the daemon's modules + ui + query + exporter + core; tokentap =
# the CLI + ui + query + mock + exporter + core; tokentap-mock = mock + its broken-protocol
# routes (mock_bad.c, test fixtures) + whatever of the core they use.
CORE_SRC := $(filter-out preload/dlshim.c,$(wildcard preload/*.c preload/providers/*.c))
DAEMON_SRC := exporter/tokentapd.c $(wildcard exporter/ttd_*.c)
EXPORTER_SRC := $(filter-out $(DAEMON_SRC),$(wildcard exporter/*.c))
MOCK_PROG_SRC := tools/mock_main.c tools/mock_bad.c
MOCK_SRC := $(filter-out $(MOCK_PROG_SRC),$(wildcard tools/mock*.c))
UI_SRC := $(wildcard tools/ui_*.c)
QUERY_SRC := tools/cli_store.c tools/cli_clickhouse.c tools/report_trace.c
CLI_SRC := $(filter-out tools/tokentap.c $(MOCK_PROG_SRC) $(MOCK_SRC) $(UI_SRC) $(QUERY_SRC),$(wildcard tools/*.c))
# What the unit tests link (every module; no main()).
TOOLS_SRC := $(filter-out tools/tokentap.c tools/mock_main.c,$(wildcard tools/*.c))

LIBS_BIN := -lmicrohttpd -lcurl -lsqlite3 -lmsgpackc -ljansson -lz -lbrotlidec -lzstd -lnghttp2 -lssl -lcrypto -lpthread -lm

bin_obj = $(patsubst %.c,$(B)/bin-obj/%.o,$(1))
LIB_CORE := $(B)/lib/libtt-core.a
LIB_EXPORTER := $(B)/lib/libtt-exporter.a
LIB_QUERY := $(B)/lib/libtt-query.a
LIB_UI := $(B)/lib/libtt-ui.a
LIB_MOCK := $(B)/lib/libtt-mock.a
LIB_CLI := $(B)/lib/libtt-cli.a
BIN_LIBS := $(LIB_CORE) $(LIB_EXPORTER) $(LIB_QUERY) $(LIB_UI) $(LIB_MOCK) $(LIB_CLI)

TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(patsubst tests/unit/%.c,$(B)/test/%,$(TEST_SRC))
TEST_CORE_OBJ := $(patsubst %.c,$(B)/test-obj/%.o,$(CORE_SRC) $(EXPORTER_SRC) $(TOOLS_SRC)) $(B)/test-obj/prices_gen.o $(B)/test-obj/assets_gen.o

all: $(B)/lib/libtokentap.so $(B)/lib/libtokentap-core.so $(B)/bin/tokentapd $(B)/bin/tokentap $(B)/bin/tokentap-mock

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
$(PRELOAD_OBJ): CFLAGS_SO += -DTT_HOOK_OBJECT

# The hook object is loaded into every process a traced program starts,
# so what the loader does for it at each exec is kept small (bench fig 4
# counts it): lazy binding (no -z now); -Bsymbolic (its references to what
# it exports, the state the core shares, bind inside it at link time: no
# symbol lookup at load, no lazy resolution in the constructor);
# --gc-sections (code the hooks never call, and the libc symbols it would
# import, left out); plain RELATIVE relocations, not DT_RELR: it has ~20
# (its tables hold arrays, not pointers), and RELR would add a symbol
# version (GLIBC_ABI_DT_RELR) for the loader to check, which costs more
# than it saves. And no libc on its link line (-nostdlib; hooks/core.c
# defines __dso_handle): no DT_NEEDED for the loader to match against every
# loaded object, no symbol versions for it to check. Its libc references
# stay unversioned, and the loader binds an unversioned reference to the
# symbol's base version, GLIBC_2.2.5 on x86-64 (what a program linked
# before symbol versioning gets); test_layers checks each one exists there.
# The first link, against libc with --no-undefined, is the check that
# every reference is a real libc symbol; it is thrown away. Sanitizer
# builds link their runtime, and libc with it, as usual. The core, loaded
# only with LLM traffic, packs its ~800 relative relocations (DT_RELR,
# glibc >= 2.36), links against the hook object (the state they share) and
# is found beside it.
PRELOAD_LDFLAGS := -shared -Wl,-soname,libtokentap.so -Wl,-Bsymbolic -Wl,--gc-sections -Wl,--version-script=preload/exports.map
$(B)/lib/libtokentap.so: $(PRELOAD_OBJ) preload/exports.map
	@mkdir -p $(dir $@)
	$(CC) $(BUILD_SAN) $(PRELOAD_LDFLAGS) -o $@.check $(PRELOAD_OBJ) -nostartfiles -Wl,--no-undefined -ldl -lpthread
ifeq ($(strip $(BUILD_SAN)),)
	$(CC) $(PRELOAD_LDFLAGS) -o $@ $(PRELOAD_OBJ) -nostdlib -lgcc
	rm -f $@.check
else
	mv $@.check $@
endif
$(B)/lib/libtokentap-core.so: $(PRELOAD_CORE_OBJ) preload/core.map $(B)/lib/libtokentap.so
	$(CC) $(BUILD_SAN) -shared -o $@ $(PRELOAD_CORE_OBJ) -Wl,-soname,libtokentap-core.so -Wl,--version-script=preload/core.map -Wl,-z,pack-relative-relocs -Wl,--no-undefined $(B)/lib/libtokentap.so -ldl -lpthread -lm

$(B)/bin-obj/%.o: %.c $(PRICES_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BIN) -Iexporter -Itools -MMD -MP -c $< -o $@
$(B)/bin-obj/prices_gen.o: $(PRICES_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BIN) -c $< -o $@
$(B)/bin-obj/assets_gen.o: $(ASSETS_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BIN) -c $< -o $@

$(LIB_CORE): $(call bin_obj,$(CORE_SRC)) $(B)/bin-obj/prices_gen.o
$(LIB_EXPORTER): $(call bin_obj,$(EXPORTER_SRC))
$(LIB_QUERY): $(call bin_obj,$(QUERY_SRC))
$(LIB_UI): $(call bin_obj,$(UI_SRC)) $(B)/bin-obj/assets_gen.o
$(LIB_MOCK): $(call bin_obj,$(MOCK_SRC))
$(LIB_CLI): $(call bin_obj,$(CLI_SRC))
$(BIN_LIBS):
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# Archives in layer order, each after those that call it. The mock's
# provider tables are referenced weakly (mock.c), which does not pull an
# archive member: its library goes in whole.
$(B)/bin/tokentapd: $(call bin_obj,$(DAEMON_SRC)) $(LIB_UI) $(LIB_QUERY) $(LIB_EXPORTER) $(LIB_CORE)
	@mkdir -p $(dir $@)
	$(CC) $(BUILD_SAN) -o $@ $^ $(LIBS_BIN)

$(B)/bin/tokentap: $(B)/bin-obj/tools/tokentap.o $(LIB_CLI) $(LIB_UI) $(LIB_QUERY) $(LIB_MOCK) $(LIB_EXPORTER) $(LIB_CORE)
	@mkdir -p $(dir $@)
	$(CC) $(BUILD_SAN) -o $@ $< $(LIB_CLI) $(LIB_UI) $(LIB_QUERY) -Wl,--whole-archive $(LIB_MOCK) -Wl,--no-whole-archive $(LIB_EXPORTER) $(LIB_CORE) $(LIBS_BIN)

$(B)/bin/tokentap-mock: $(call bin_obj,$(MOCK_PROG_SRC)) $(LIB_MOCK) $(LIB_CORE)
	@mkdir -p $(dir $@)
	$(CC) $(BUILD_SAN) -o $@ $(call bin_obj,$(MOCK_PROG_SRC)) -Wl,--whole-archive $(LIB_MOCK) -Wl,--no-whole-archive $(LIB_CORE) $(LIBS_BIN)

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
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/libexec/tokentap
	install -m 0755 $(B)/bin/tokentap $(B)/bin/tokentapd $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 $(B)/bin/tokentap-mock $(DESTDIR)$(PREFIX)/libexec/tokentap/
	install -m 0644 $(B)/lib/libtokentap.so $(B)/lib/libtokentap-core.so $(DESTDIR)$(PREFIX)/lib/
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

$(B)/bench/ingest: $(B)/bin-obj/bench/ingest.o $(LIB_EXPORTER) $(LIB_CORE)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LIBS_BIN)

$(B)/bench/price_lookup: $(B)/bin-obj/bench/price_lookup.o $(LIB_CORE)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LIBS_BIN)

# fig 15: calls the preload must ignore, counted under callgrind.
$(B)/bench/ignored_calls: bench/ignored_calls.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) -O2 -o $@ $< -lssl -lcrypto

bench: all $(B)/bench/ingest $(B)/bench/price_lookup $(B)/bench/ignored_calls
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
# A dynamically linked program with no library at all (test_layers).
$(B)/clients/no_libc: tests/integration/clients/no_libc.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) -O1 -fPIE -pie -nostdlib -ffreestanding -o $@ $<
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
	mkdir -p $(VG_B)/vgbin && cp $(VG_B)/bin/tokentap $(VG_B)/bin/tokentap-mock $(VG_B)/vgbin/ && \
	  cp tests/sanitizers/valgrind-tokentapd.sh $(VG_B)/vgbin/tokentapd
	$(call san_integration,$(VG_B),valgrind,$(VG_B)/vgbin,10,SAN= OPT="$(VG_OPT)")

.PHONY: test-asan test-tsan test-valgrind
