# weft's build: a plain Makefile in the wireguard-tools style.
#   make            build build/weftd, build/weft, the tests and benchmarks
#   make demo       install dependencies if missing, build, run the demo
#   make check      install dependencies if missing, build, run every test
#   make fuzz       long libFuzzer runs (FUZZ_SECONDS each, default 600)
# Sources are found by wildcard: a new file in src/*, tests/unit or fuzz/
# needs no edit here.

CC       ?= cc
BUILD    ?= build
OPT      ?= -O2
CFLAGS   ?= $(OPT) -g
WARN      = -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
CPPFLAGS += -std=gnu11 -D_GNU_SOURCE -Iinclude -Isrc -MMD -MP
# Programs export nothing: a function of ours must never take the place of
# a shared library's own (weftd's udp_init() would replace liblwip's).
CPPFLAGS += -fvisibility=hidden
LDLIBS    = -lsodium -lcrypto -lb2 -lmnl -lpthread

LIB_SRCS   := $(wildcard src/crypto/*.c src/wg/*.c src/conf/*.c src/util/*.c src/mesh/*.c)
WEFTD_SRCS := $(wildcard src/weftd/*.c)
WEFT_SRCS  := $(wildcard src/weft/*.c src/serve/*.c src/api/*.c src/coord/*.c src/link/*.c) src/weftd/log.c src/weftd/udp.c src/weftd/offload.c
TEST_SRCS  := $(wildcard tests/unit/test_*.c)
BENCH_SRCS := $(wildcard bench/*.c)
VECTOR_SRCS := $(wildcard tests/vectors/*.c)
FUZZ_SRCS  := $(wildcard fuzz/fuzz_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

# liblwip (serve's fallback stack): its headers only where they are used,
# as system headers so that our warnings stay ours.
LWIP_CFLAGS := $(patsubst -I%,-isystem %,$(shell pkg-config --cflags lwip 2>/dev/null))
$(BUILD)/obj/src/serve/stack_lwip.o: CPPFLAGS += $(LWIP_CFLAGS)
# libpq (the coord's PostgreSQL store): its headers where they are used.
PQ_CFLAGS := $(shell pkg-config --cflags libpq 2>/dev/null)
$(BUILD)/obj/src/coord/store_pg.o $(BUILD)/obj/tests/unit/test_store_pg.o: CPPFLAGS += $(PQ_CFLAGS)
LIB        := $(BUILD)/libweft.a
TESTS      := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
BENCHES    := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))
VECTORS    := $(patsubst tests/vectors/%.c,$(BUILD)/vectors/%,$(VECTOR_SRCS))
PROGRAMS   := $(if $(WEFTD_SRCS),$(BUILD)/weftd) $(if $(WEFT_SRCS),$(BUILD)/weft)

.PHONY: all demo check test deps fuzz fuzzers clean asan install
# Objects are kept: deleted as intermediates they made the next plain `make`
# compile the tests and benchmarks again.
.SECONDARY:
all: $(PROGRAMS) $(TESTS) $(BENCHES) $(VECTORS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -c $< -o $@

$(LIB): $(call obj,$(LIB_SRCS))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/weftd: $(call obj,$(WEFTD_SRCS)) $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(BUILD)/weft: $(call obj,$(WEFT_SRCS)) $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -lqrencode -lpng -ljansson -llwip -lmicrohttpd -lsqlite3 \
		-lminiupnpc -lnatpmp -lpq -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LIB) $(LDLIBS) -o $@
# The mesh's device change is the CLI's; its test links it.
$(BUILD)/tests/test_mesh_device: $(BUILD)/obj/src/weft/mesh_device.o
# Unit tests of serve's stacks link the stack they test.
$(BUILD)/tests/test_stack_lwip: $(BUILD)/obj/src/serve/stack_lwip.o
$(BUILD)/tests/test_stack_lwip: LDLIBS += -llwip
# and those of serve's pieces link the piece (the library comes again after it).
$(BUILD)/tests/test_serve_packet: $(BUILD)/obj/src/serve/packet.o
$(BUILD)/tests/test_serve_guard: $(BUILD)/obj/src/serve/guard.o
$(BUILD)/tests/test_serve_ns_helper: $(BUILD)/obj/src/serve/ns_helper.o
$(BUILD)/tests/test_serve_flow: $(BUILD)/obj/src/serve/flow.o $(BUILD)/obj/src/serve/packet.o \
	$(BUILD)/obj/src/serve/guard.o $(BUILD)/obj/src/weftd/log.o
$(BUILD)/tests/test_serve_settings: $(BUILD)/obj/src/serve/settings.o $(BUILD)/obj/src/serve/guard.o \
	$(BUILD)/obj/src/serve/reverse_settings.o
$(BUILD)/tests/test_serve_chain: $(BUILD)/obj/src/serve/chain.o $(BUILD)/obj/src/serve/packet.o \
	$(BUILD)/obj/src/serve/settings.o $(BUILD)/obj/src/serve/guard.o $(BUILD)/obj/src/serve/reverse_settings.o \
	$(BUILD)/obj/src/serve/state.o $(BUILD)/obj/src/serve/api.o
$(BUILD)/tests/test_serve_socks5: $(BUILD)/obj/src/serve/socks5.o $(BUILD)/obj/src/serve/reverse_settings.o
$(BUILD)/tests/test_serve_reverse: $(BUILD)/obj/src/serve/socks5.o $(BUILD)/obj/src/serve/reverse_settings.o \
	$(BUILD)/obj/src/serve/packet.o
$(BUILD)/tests/test_api_tokens: $(BUILD)/obj/src/api/tokens.o
$(BUILD)/tests/test_chain_state: $(BUILD)/obj/src/weft/chain_state.o
$(BUILD)/tests/test_chain_state: LDLIBS += -ljansson
$(BUILD)/tests/test_chain_conf: $(BUILD)/obj/src/weft/chain_conf.o $(BUILD)/obj/src/weft/chain_state.o
$(BUILD)/tests/test_chain_conf: LDLIBS += -ljansson
$(BUILD)/tests/test_chain_api: $(BUILD)/obj/src/weft/chain_api.o
$(BUILD)/tests/test_chain_api: LDLIBS += -ljansson
# coord's protocol pieces, shared by `weft coord` and `weft link`.
COORD_PROTO_OBJS := $(call obj,src/coord/proto.c src/coord/noise.c src/coord/client.c)
$(BUILD)/tests/test_coord_proto $(BUILD)/tests/test_coord_session: $(COORD_PROTO_OBJS)
$(BUILD)/tests/test_link: $(BUILD)/obj/src/link/link.o $(BUILD)/obj/src/link/path.o $(BUILD)/obj/src/link/addr.o
$(BUILD)/tests/test_link_managed: $(BUILD)/obj/src/link/managed.o $(BUILD)/obj/src/weft/conf_path.o
$(BUILD)/tests/test_link_upgrade_file: $(BUILD)/obj/src/link/upgrade_file.o
$(BUILD)/tests/test_stun: $(call obj,src/coord/stun.c src/coord/proto.c)
$(BUILD)/vectors/coord: $(COORD_PROTO_OBJS)
$(BUILD)/vectors/coord: LDLIBS := $(LIB) $(LDLIBS)
$(BUILD)/tests/test_coord_server: $(COORD_PROTO_OBJS) $(call obj,src/coord/server.c src/coord/stun.c \
	src/coord/store.c src/coord/store_sqlite.c)
$(BUILD)/tests/test_coord_server: LDLIBS += -lsqlite3
$(BUILD)/tests/test_link_portmap: $(BUILD)/obj/src/link/portmap_sched.o $(BUILD)/obj/src/link/portmap_natpmp.o \
	$(BUILD)/obj/src/link/portmap_pcp.o
$(BUILD)/tests/test_link_portmap: LDLIBS += -lnatpmp
$(BUILD)/tests/test_link_birthday: $(BUILD)/obj/src/link/birthday.o
$(BUILD)/tests/test_link_birthday_io: $(BUILD)/obj/src/link/birthday_io.o $(BUILD)/obj/src/link/birthday.o
$(BUILD)/tests/test_link_resolve: $(BUILD)/obj/src/link/resolve.o $(BUILD)/obj/src/link/log.o
$(BUILD)/bench/mesh_sim: LDLIBS += -lm
$(BUILD)/vectors/%: $(BUILD)/obj/tests/vectors/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

# the relay's pieces and the coord's PostgreSQL store
$(BUILD)/tests/test_relay_table: $(BUILD)/obj/src/coord/relay_table.o
$(BUILD)/tests/test_coord_frame: $(BUILD)/obj/src/coord/frame.o
$(BUILD)/tests/test_relay_tcp: $(BUILD)/obj/src/coord/relay_tcp.o $(BUILD)/obj/src/coord/frame.o \
	$(BUILD)/obj/src/coord/proto.o
$(BUILD)/tests/test_relay_proto: $(BUILD)/obj/src/coord/relay_proto.o $(COORD_PROTO_OBJS)
$(BUILD)/tests/test_relay_server: $(BUILD)/obj/src/coord/relay.o $(BUILD)/obj/src/coord/relay_table.o \
	$(BUILD)/obj/src/coord/relay_proto.o $(COORD_PROTO_OBJS)
$(BUILD)/tests/test_store_pg: $(BUILD)/obj/src/coord/store_pg.o $(BUILD)/obj/src/coord/proto.o
$(BUILD)/tests/test_store_pg: LDLIBS += -lpq
# the coord's load generator (bench/coord/run.sh)
all: $(BUILD)/bench/coord_load
$(BUILD)/bench/coord_load: $(BUILD)/obj/bench/coord/coord_load.o $(BUILD)/obj/src/coord/relay_proto.o \
	$(COORD_PROTO_OBJS) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(BUILD)/tests/test_path_probe: $(BUILD)/obj/src/link/path.o $(BUILD)/obj/src/link/addr.o
$(BUILD)/tests/test_coord_server: $(call obj,src/coord/relay.c src/coord/relay_table.c src/coord/relay_proto.c)
$(BUILD)/tests/test_relay_client: $(BUILD)/obj/src/link/relay_client.o $(BUILD)/obj/src/link/addr.o \
	$(BUILD)/obj/src/coord/relay_proto.o $(COORD_PROTO_OBJS)

# Unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer, into $(BUILD)/asan.
# -fno-sanitize-recover=all: any sanitizer report ends the run, so none can pass unseen.
SAN_FLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
asan:
	$(MAKE) BUILD=$(BUILD)/asan CC=clang OPT=-O1 \
		CFLAGS="-O1 -g $(SAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined" \
		$(BUILD)/asan/libweft.a $(patsubst $(BUILD)/%,$(BUILD)/asan/%,$(TESTS))

# libFuzzer targets: built with clang into $(BUILD)/fuzz, each linked against a
# fuzzing build of the library; a sanitizer report stops the run as a crash does.
FUZZ_FLAGS = -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -DWEFT_FUZZING
FUZZERS := $(patsubst fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
fuzzers:
	$(MAKE) BUILD=$(BUILD)/fuzzlib CC=clang \
		CFLAGS="$(FUZZ_FLAGS) -fsanitize=fuzzer-no-link" \
		$(BUILD)/fuzzlib/libweft.a
	@mkdir -p $(BUILD)/fuzz
	@for f in $(FUZZ_SRCS); do n=$$(basename $$f .c); \
		echo "clang $$f -> $(BUILD)/fuzz/$$n"; \
		clang $(FUZZ_FLAGS) -fsanitize=fuzzer $(CPPFLAGS) $(WARN) \
		$$f $(BUILD)/fuzzlib/libweft.a $(LDLIBS) -ljansson -o $(BUILD)/fuzz/$$n || exit 1; done
FUZZ_SECONDS ?= 600
fuzz: fuzzers
	@for f in $(FUZZERS); do mkdir -p $(BUILD)/corpus/$$(basename $$f); \
		$$f -max_total_time=$(FUZZ_SECONDS) $(BUILD)/corpus/$$(basename $$f) fuzz/corpus/$$(basename $$f) || exit 1; done

deps:
	@scripts/install-deps

check: deps
	$(MAKE) all
	$(MAKE) asan
	$(MAKE) fuzzers
	BUILD=$(BUILD) tests/run

demo: deps
	$(MAKE) all
	scripts/demo

# Installs the programs, man pages, bash completion, systemd units (with
# @BINDIR@ replaced by where the programs went) and the user guides.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/weft
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
# the pages of `weft api`, found there beside $(BINDIR)/weft
WWWDIR ?= $(PREFIX)/share/weft/www
UNITS := $(wildcard systemd/*.service systemd/*.timer systemd/*.target)
GUIDES := $(wildcard docs/weft-*.md) docs/performance.md docs/crypto-bench.md docs/api.yaml docs/coord-protocol.md
install: $(PROGRAMS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR) \
		$(DESTDIR)$(COMPLETIONDIR) $(DESTDIR)$(SYSTEMDUNITDIR)
	install -m 0755 $(PROGRAMS) $(DESTDIR)$(BINDIR)/
	install -m 0644 docs/weft.8 docs/weftd.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 $(GUIDES) $(DESTDIR)$(DOCDIR)/
	install -m 0644 completion/weft.bash $(DESTDIR)$(COMPLETIONDIR)/weft
	install -d $(DESTDIR)$(WWWDIR)
	install -m 0644 $(wildcard src/api/static/*) $(DESTDIR)$(WWWDIR)/
	@for u in $(UNITS); do echo "install $$u -> $(DESTDIR)$(SYSTEMDUNITDIR)/"; \
		sed 's|@BINDIR@|$(BINDIR)|g' $$u >$(DESTDIR)$(SYSTEMDUNITDIR)/$${u##*/} && \
		chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$${u##*/} || exit 1; done

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
