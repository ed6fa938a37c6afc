# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#
# make            build bin/microsegd
# make check      install what is missing, build, run every test (as root)
#   LAYER=unit    one layer (lint unit bpf e2e browser pkg fuzz; a,b for two)
#   TEST=api      one suite (test_api; a,b for two), built and run alone
# make demo       run microsegd on a veth pair with policies/default.yaml
# make bench      benchmarks (BENCH_QUICK=1 for a short run)
# make screenshot docs/console-map.png, the README's picture, from a real demo run
# make deb        the Debian package, build/microsegd_VERSION_ARCH.deb
# V=1             show full commands

.DELETE_ON_ERROR:
# Objects built by pattern rules are kept: they are not throwaway intermediates.
.SECONDARY:
.SUFFIXES:

PREFIX ?= /usr/local
DESTDIR ?=
BUILD := build
# `make deb` builds its own binaries, with Debian's build flags, elsewhere.
BINDIR := bin
BIN := $(BINDIR)/microsegd
VERSION := 0.1.0
# The Debian package: revision of its packaging (scripts/deb/changelog's top
# entry must be $(VERSION)-$(DEB_REVISION)).
DEB_REVISION := 1
DEB_VERSION := $(VERSION)-$(DEB_REVISION)
DEB = $(BUILD)/microsegd_$(DEB_VERSION)_$(shell dpkg --print-architecture).deb

CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/' -e 's/ppc64le/powerpc/' -e 's/s390x/s390/')
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
# src/ has one folder per concern (docs/ARCHITECTURE.md); headers are included
# by bare name from any of them.
SRC_DIRS := lib policy observe agent api discover ctl
CPPFLAGS += -Iinclude $(addprefix -Isrc/,$(SRC_DIRS)) -I$(BUILD) -D_GNU_SOURCE \
	-DMS_VERSION='"$(VERSION)"'
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 $(WARN) -MMD -MP
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

# What each binary links: the policy front end, the flow graph and the small
# helpers are shared by the agent and its client; BPF and the HTTP server are
# the agent's, libcurl the client's.
CORE_SRCS := $(wildcard src/lib/*.c src/policy/*.c src/observe/*.c)
AGENT_SRCS := $(wildcard src/agent/*.c src/api/*.c src/discover/*.c)
CTL_SRCS := $(wildcard src/ctl/*.c)
SRCS := $(CORE_SRCS) $(AGENT_SRCS) $(CTL_SRCS)
CORE_LIBS := -lcjson -lyaml
AGENT_LIBS := -lbpf -lelf -lz -lmicrohttpd $(CORE_LIBS)
CTL_LIBS := -lcurl $(CORE_LIBS)
LDLIBS := $(AGENT_LIBS)

# The web console: its files and Debian's D3, embedded in the agent as a
# generated C source (README, "The web console").
D3_JS ?= /usr/share/nodejs/d3/dist/d3.min.js
WEB_FILES := $(sort $(wildcard src/api/web/*.html src/api/web/*.css src/api/web/*.js src/api/web/*.svg))
WEB_C := $(BUILD)/web_assets.c

OBJS := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(CORE_SRCS) $(AGENT_SRCS)) $(BUILD)/obj/web_assets.o
CTL_OBJS := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(CORE_SRCS) $(CTL_SRCS))
LIB_OBJS := $(filter-out $(BUILD)/obj/agent/main.o,$(OBJS))
SAN_OBJS := $(patsubst src/%.c,$(BUILD)/san/%.o,$(CORE_SRCS) $(AGENT_SRCS)) $(BUILD)/san/web_assets.o
SAN_LIB_OBJS := $(filter-out $(BUILD)/san/agent/main.o,$(SAN_OBJS))
CTL_BIN := $(if $(CTL_SRCS),$(BINDIR)/microsegctl)

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJ := $(BUILD)/microsegd.bpf.o
SKEL := $(BUILD)/microsegd.skel.h

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
BPFT_SRCS := $(wildcard tests/bpf/test_*.c)
BPFT_BINS := $(BPFT_SRCS:tests/bpf/%.c=$(BUILD)/tests/%)
TESTLIB := tests/lib
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_SECONDS ?= 60

.PHONY: all bpf check test deps clean fmt lint install demo bench fuzz test-bins screenshot \
	deb deb-path
all: $(BIN) $(CTL_BIN)

deps:
	$(Q)scripts/install-deps.sh

bpf: $(SKEL)

$(BUILD)/vmlinux.h: Makefile
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)test -r $(VMLINUX_BTF) || { echo "no kernel BTF at $(VMLINUX_BTF)" >&2; exit 1; }
	$(Q)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@

$(BUILD)/%.bpf.o: bpf/%.bpf.c $(BUILD)/vmlinux.h Makefile
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) $(WARN:-Wmissing-prototypes=) \
		-Iinclude -Ibpf -I$(BUILD) -MMD -MP -MT $@ -MF $@.d -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp
	$(Q)rm -f $@.tmp

$(SKEL): $(BPF_OBJ)
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name microsegd_bpf > $@

# Only these parts of the loader include the skeleton; everything else,
# hooks included, builds without BPF.
SKEL_USERS := agent/loader agent/pins agent/install
$(foreach o,$(SKEL_USERS),$(BUILD)/obj/$(o).o $(BUILD)/san/$(o).o): $(SKEL)

$(BUILD)/obj/%.o: src/%.c Makefile
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/san/%.o: src/%.c Makefile
	$(call msg,CC-SAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) -c $< -o $@

$(WEB_C): $(WEB_FILES) scripts/embed-web.sh Makefile
	$(call msg,EMBED,$@)
	$(Q)mkdir -p $(@D)
	$(Q)test -r $(D3_JS) || { echo "no D3 at $(D3_JS): install Debian's node-d3 (make deps)" >&2; exit 1; }
	$(Q)scripts/embed-web.sh $@ $(foreach f,$(WEB_FILES),/$(notdir $(f))=$(f)) /d3.min.js=$(D3_JS)

$(BUILD)/obj/web_assets.o: $(WEB_C)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/san/web_assets.o: $(WEB_C)
	$(call msg,CC-SAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) -c $< -o $@

$(BUILD)/testlib/%.o: tests/lib/%.c Makefile
	$(call msg,CC-SAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -I$(TESTLIB) $(CFLAGS) $(SANFLAGS) -c $< -o $@

TESTLIB_OBJS := $(patsubst tests/lib/%.c,$(BUILD)/testlib/%.o,$(wildcard tests/lib/*.c))

$(BIN): $(OBJS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(AGENT_LIBS) -o $@

$(BINDIR)/microsegctl: $(CTL_OBJS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(CTL_LIBS) -o $@

$(BUILD)/tests/%: tests/unit/%.c $(SAN_LIB_OBJS) $(TESTLIB_OBJS) Makefile
	$(call msg,TEST,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -I$(TESTLIB) $(CFLAGS) $(SANFLAGS) $< $(SAN_LIB_OBJS) $(TESTLIB_OBJS) $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/bpf/%.c $(SAN_LIB_OBJS) $(TESTLIB_OBJS) Makefile
	$(call msg,TEST,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -I$(TESTLIB) $(CFLAGS) $(SANFLAGS) $< $(SAN_LIB_OBJS) $(TESTLIB_OBJS) $(LDLIBS) -o $@

# The fuzzers link the agent's code but the event loop, built by clang with
# libFuzzer's coverage instrumentation; they load no BPF and need no root.
# fuzz_classifier drives the real classifier through BPF_PROG_TEST_RUN with
# the BPF tests' helpers, so it needs root, as they do.
FUZZ_LIB_SRCS := $(filter-out src/agent/main.c,$(CORE_SRCS) $(AGENT_SRCS))
FUZZ_TEST_SRCS := $(TESTLIB)/dptest.c $(TESTLIB)/pkt.c $(TESTLIB)/polbuild.c
$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_SRCS) $(FUZZ_TEST_SRCS) $(WEB_C) $(SKEL) Makefile
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(CPPFLAGS) -I$(TESTLIB) -std=gnu11 $(WARN) -g -O1 \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $< $(FUZZ_LIB_SRCS) \
		$(WEB_C) $(if $(filter fuzz_classifier,$*),$(FUZZ_TEST_SRCS)) $(LDLIBS) -o $@

fuzz: $(FUZZ_BINS)

# The daemon again, with ASan and UBSan: the end-to-end tests run this one.
SAN_BIN := $(BUILD)/san/microsegd
$(SAN_BIN): $(SAN_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(SANFLAGS) $^ $(LDLIBS) -o $@

test-bins: $(BIN) $(CTL_BIN) $(SAN_BIN) $(UNIT_BINS) $(BPFT_BINS) $(FUZZ_BINS)

# What each layer of tests/run.sh needs built; LAYER= and TEST= build only
# that: a C TEST its own binary, a script TEST what its layer (the folder
# its file is in) needs.
comma := ,
LAYER_BINS_lint :=
LAYER_BINS_unit := $(UNIT_BINS)
LAYER_BINS_bpf := $(BPFT_BINS)
LAYER_BINS_e2e := $(BIN) $(CTL_BIN) $(SAN_BIN)
LAYER_BINS_browser := $(BIN) $(SAN_BIN)
LAYER_BINS_pkg := $(BIN)
LAYER_BINS_fuzz := $(FUZZ_BINS)
test_src = $(firstword $(wildcard tests/*/$(1).sh tests/*/test_$(1).sh tests/*/$(1).c tests/*/test_$(1).c))
test_bins = $(if $(filter %.sh,$(1)),$(LAYER_BINS_$(notdir $(patsubst %/,%,$(dir $(1))))), \
	$(if $(filter tests/fuzz/%,$(1)),$(BUILD)/fuzz/$(basename $(notdir $(1))), \
	$(if $(1),$(BUILD)/tests/$(basename $(notdir $(1))))))
# Only from the command line: a TEST or LAYER in the environment (a CI's,
# say) must not quietly make `make check` run less.
CHECK_TEST := $(if $(filter command line,$(origin TEST)),$(TEST))
CHECK_LAYER := $(if $(filter command line,$(origin LAYER)),$(LAYER))
CHECK_BINS := $(strip $(if $(CHECK_TEST),$(sort $(foreach t,$(subst $(comma), ,$(CHECK_TEST)), \
	$(call test_bins,$(call test_src,$(t))))), \
	$(if $(CHECK_LAYER),$(sort $(foreach l,$(subst $(comma), ,$(CHECK_LAYER)),$(LAYER_BINS_$(l)))),test-bins)))
# The build of `make check` uses every core (2 on the development VM),
# unless make was given its own -j.
CHECK_MAKE_JOBS := $(if $(filter -j%,$(MAKEFLAGS)),,-j$(shell nproc))
RUN_TESTS = BUILD=$(BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) LAYER=$(CHECK_LAYER) TEST=$(CHECK_TEST) \
	tests/run.sh

# CI and newcomers: everything from a fresh Debian 12 machine.
check: deps
	$(if $(CHECK_BINS),$(Q)$(MAKE) --no-print-directory $(CHECK_MAKE_JOBS) $(CHECK_BINS))
	$(Q)$(RUN_TESTS)

test:
	$(if $(CHECK_BINS),$(Q)$(MAKE) --no-print-directory $(CHECK_BINS))
	$(Q)$(RUN_TESTS)

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/demo.sh

# The README's picture of the console, from a real run of the demo.
screenshot: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)DEMO_WAIT=0 DEMO_SCREENSHOT=$(CURDIR)/docs/console-map.png scripts/demo.sh

bench: deps
	$(Q)$(MAKE) --no-print-directory all $(BUILD)/bench/bench_classifier \
		$(BUILD)/bench/bench_newflow.bpf.o $(BUILD)/bench/bench_floor.bpf.o
	$(Q)BUILD=$(BUILD) tests/bench/run.sh

# The floor programs parse as the classifier does: its headers.
$(BUILD)/bench/%.bpf.o: tests/bench/%.bpf.c $(BUILD)/vmlinux.h bpf/parse.h include/microsegd_abi.h \
		Makefile
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) $(WARN:-Wmissing-prototypes=) \
		-Iinclude -Ibpf -I$(BUILD) -c $< -o $@

# Benchmarks are built optimized and without sanitizers.
$(BUILD)/bench/%: tests/bench/%.c $(LIB_OBJS) tests/lib/pkt.c Makefile
	$(call msg,BENCH,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -I$(TESTLIB) $(CFLAGS) $< tests/lib/pkt.c $(LIB_OBJS) $(LDLIBS) -lpthread -o $@

FMT_FILES = $(SRCS) $(wildcard src/*/*.h include/*.h bpf/*.c bpf/*.h tests/*/*.c tests/*/*.h)

fmt:
	$(Q)clang-format -i $(FMT_FILES)

lint:
	$(Q)clang-format --dry-run -Werror $(FMT_FILES)

COMPLETIONS := $(PREFIX)/share/bash-completion/completions
EXAMPLES := $(PREFIX)/share/doc/microsegd/examples

install: $(BIN) $(CTL_BIN)
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)/etc/microsegd $(DESTDIR)/etc/logrotate.d \
		$(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)/lib/systemd/system \
		$(DESTDIR)$(COMPLETIONS) $(DESTDIR)$(EXAMPLES)
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/sbin/microsegd
	install -m 0755 $(CTL_BIN) $(DESTDIR)$(PREFIX)/sbin/microsegctl
	# An existing policy, or logrotate configuration, is the operator's:
	# never overwritten.
	test -e $(DESTDIR)/etc/microsegd/policy.yaml || \
		install -m 0644 policies/default.yaml $(DESTDIR)/etc/microsegd/policy.yaml
	test -e $(DESTDIR)/etc/logrotate.d/microsegd || \
		install -m 0644 scripts/microsegd.logrotate $(DESTDIR)/etc/logrotate.d/microsegd
	install -m 0644 man/microsegd.8 man/microsegctl.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 0644 scripts/completion/microsegd scripts/completion/microsegctl \
		$(DESTDIR)$(COMPLETIONS)/
	install -m 0644 policies/*.yaml $(DESTDIR)$(EXAMPLES)/
	sed 's|@SBINDIR@|$(PREFIX)/sbin|' scripts/microsegd.service > $(DESTDIR)/lib/systemd/system/microsegd.service

# Built from a `make install DESTDIR=` tree by scripts/deb/build.sh, with
# Debian's build flags, in build/deb (bin/ is left alone). One build at a
# time: tests that make the package may run in parallel.
deb:
	$(Q)mkdir -p $(BUILD)
	$(Q)flock $(BUILD)/.deb.lock scripts/deb/build.sh $(VERSION) $(DEB_REVISION) $(BUILD)/deb $(DEB)

deb-path:
	@echo $(DEB)

clean:
	rm -rf $(BUILD) bin

-include $(wildcard $(BUILD)/obj/*/*.d $(BUILD)/san/*/*.d $(BUILD)/*.d $(BUILD)/testlib/*.d $(BUILD)/tests/*.d)
