# smtplock — build, test and install.
#
#   make            build everything into $(BUILD)/ (BPF objects, skeletons,
#                   lib/ as libsmtplock.a, the smtplock binary, unit tests)
#   make check      dependencies + build + every test; ends "N passed, N failed"
#   make run        dependencies + build + the controller in the foreground
#   make fuzz       long libFuzzer runs of every harness
#   make faults     long fault-injection runs
#   make bench      benchmarks (tests/bench/)
#   make install    PREFIX=/usr/local DESTDIR=
#   make V=1        show the commands
#
# New files need no Makefile change: lib/*.c go into libsmtplock.a,
# ctl/*.c into the binary, bpf/*.bpf.c become objects + skeletons,
# tests/unit/test_*.c become unit tests, tests/fuzz/fuzz_*.c fuzzers.

BUILD    ?= build
CC       := gcc
CLANG    ?= clang
BPFTOOL  ?= bpftool
PREFIX   ?= /usr/local
DESTDIR  ?=
POLICY   ?= policies/example.yaml
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

# SAN=1 builds with AddressSanitizer + UndefinedBehaviorSanitizer.
# FUZZ=1 builds with clang and -fsanitize=fuzzer-no-link for libFuzzer.
ifeq ($(FUZZ),1)
CC := $(CLANG)
SANFLAGS := -fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=all -fno-omit-frame-pointer
else ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
endif

WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-unused-parameter
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -D_GNU_SOURCE -pthread $(WARN) $(SANFLAGS) \
	   -DSL_VERSION='"$(VERSION)"' -I$(BUILD) -Ibpf -Ilib \
	   $(shell pkg-config --cflags libnl-3.0)
LDFLAGS += $(SANFLAGS) -pthread
LDLIBS  := -lbpf -lelf -lz -lssl -lcrypto -lyaml -lnl-3 -lnl-route-3 \
	   -lcrypt -lresolv -ljansson -lcap

BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Wextra \
	      -Werror -Wno-unused-parameter -I$(BUILD) -Ibpf

BPF_SRC  := $(wildcard bpf/*.bpf.c)
BPF_OBJ  := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRC))
BPF_SKEL := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRC))

LIB_SRC  := $(wildcard lib/*.c)
LIB_OBJ  := $(patsubst lib/%.c,$(BUILD)/lib/%.o,$(LIB_SRC))
LIB      := $(BUILD)/libsmtplock.a

CTL_SRC  := $(wildcard ctl/*.c)
CTL_OBJ  := $(patsubst ctl/%.c,$(BUILD)/ctl/%.o,$(CTL_SRC))
BIN      := $(BUILD)/smtplock

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
# Every other tests/unit/*.c (tap.c, pki.c, ...) is linked into each test.
TSUP_SRC := $(filter-out $(UNIT_SRC),$(wildcard tests/unit/*.c))
TAP_OBJ  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%.o,$(TSUP_SRC))

# Test helper programs (bats, benchmarks); never installed.
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(TOOL_SRC))

# kTLS tests and benchmarks that run inside the VM (scripts/vm.sh):
# tests/vm/{test,bench}_*.c, each linked with tests/vm/harness*.c,
# → $(BUILD)/vm-tests/.
VMT_SRC  := $(wildcard tests/vm/test_*.c tests/vm/bench_*.c)
VMT_BIN  := $(patsubst tests/vm/%.c,$(BUILD)/vm-tests/%,$(VMT_SRC))
VMT_HARNESS := $(patsubst tests/vm/%.c,$(BUILD)/vm-tests/%.o,$(wildcard tests/vm/harness*.c))

FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))

.PHONY: all deps check run fuzz faults bench install uninstall clean \
	unit unit-san fuzzers vm-tests
.DELETE_ON_ERROR:
.SECONDARY:

all: $(BIN) $(UNIT_BIN) $(TOOL_BIN) $(VMT_BIN) policy-perms

# ---- BPF: vmlinux.h from the running kernel's BTF, objects, skeletons ----
$(BUILD)/vmlinux.h:
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h) $(BUILD)/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*) > $@

# ---- userspace ----
$(BUILD)/lib/%.o: lib/%.c | $(BPF_SKEL)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	$(call msg,AR,$@)
	$(Q)rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/ctl/%.o: ctl/%.c | $(BPF_SKEL)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -Ictl -MMD -MP -c $< -o $@

$(BIN): $(CTL_OBJ) $(LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $(CTL_OBJ) $(LIB) $(LDLIBS) -o $@

# ---- unit tests ----
$(BUILD)/tests/%.o: tests/unit/%.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -Itests/unit -MMD -MP -c $< -o $@

$(BUILD)/tests/%: tests/unit/%.c $(TAP_OBJ) $(LIB)
	$(call msg,CCLD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -Itests/unit -MMD -MP $< $(TAP_OBJ) $(LIB) \
		$(LDFLAGS) $(LDLIBS) -o $@

$(BUILD)/tests/tools/%: tests/tools/%.c $(LIB)
	$(call msg,CCLD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -MMD -MP $< $(LIB) $(LDFLAGS) $(LDLIBS) -o $@

unit: $(UNIT_BIN)

# ---- tests that run inside the VM ----
$(BUILD)/vm-tests/%.o: tests/vm/%.c | $(BPF_SKEL)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -Itests/unit -MMD -MP -c $< -o $@

$(BUILD)/vm-tests/%: tests/vm/%.c $(VMT_HARNESS) $(TAP_OBJ) $(LIB)
	$(call msg,CCLD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -Itests/unit -Itests/vm -MMD -MP $< $(VMT_HARNESS) $(TAP_OBJ) \
		$(LIB) $(LDFLAGS) $(LDLIBS) -o $@

vm-tests: $(VMT_BIN)

# The same unit tests under ASan + UBSan, in their own build tree.
unit-san:
	$(Q)$(MAKE) --no-print-directory BUILD=$(BUILD)/san SAN=1 unit

# ---- fuzzers (clang, libFuzzer, ASan + UBSan) ----
$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIB)
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -fsanitize=fuzzer $< $(LIB) $(LDFLAGS) $(LDLIBS) -o $@

fuzzers:
	$(Q)$(MAKE) --no-print-directory BUILD=$(BUILD)/fz FUZZ=1 \
		$(patsubst tests/fuzz/%.c,$(BUILD)/fz/fuzz/%,$(FUZZ_SRC))

# Files in git do not keep their mode: secrets used by the example
# policies must not be readable by group/other, or the policy is invalid.
policy-perms:
	$(Q)chmod 600 policies/secrets/* 2>/dev/null || true

# ---- the two commands of the README ----
deps:
	$(Q)./scripts/deps.sh

check: deps
	$(Q)$(MAKE) --no-print-directory all unit-san fuzzers
	$(Q)./tests/run.sh

run: deps
	$(Q)$(MAKE) --no-print-directory all
	$(BIN) run -c $(POLICY) --foreground

# make fuzz FUZZ_SECONDS=N (per harness), make faults FAULT_ROUNDS=N
FUZZ_SECONDS ?= 300
FAULT_ROUNDS ?= 6

fuzz: deps
	$(Q)$(MAKE) --no-print-directory fuzzers
	$(Q)./tests/fuzz/run.sh long $(FUZZ_SECONDS)

faults: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)./tests/faults/run.sh long $(FAULT_ROUNDS)

bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)./tests/bench/run.sh

# ---- install ----
# PREFIX=/usr/local DESTDIR= ; systemd looks for units and sysusers.d
# files under /usr/local/lib too.
SBINDIR     ?= $(PREFIX)/sbin
MANDIR      ?= $(PREFIX)/share/man
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
COMPDIR     ?= $(PREFIX)/share/bash-completion/completions
DOCDIR      ?= $(PREFIX)/share/doc/smtplock
INSTALLED   := $(SBINDIR)/smtplock $(MANDIR)/man8/smtplock.8 \
	       $(MANDIR)/man5/smtplock-policy.5 $(UNITDIR)/smtplock.service \
	       $(SYSUSERSDIR)/smtplock.conf $(COMPDIR)/smtplock

install: $(BIN)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(COMPDIR) \
		$(DESTDIR)$(DOCDIR)/examples/policies.d
	install -m 0755 $(BIN) $(DESTDIR)$(SBINDIR)/smtplock
	install -m 0644 man/smtplock.8 $(DESTDIR)$(MANDIR)/man8/smtplock.8
	install -m 0644 man/smtplock-policy.5 $(DESTDIR)$(MANDIR)/man5/smtplock-policy.5
	sed 's|@SBINDIR@|$(SBINDIR)|g' scripts/smtplock.service > $(DESTDIR)$(UNITDIR)/smtplock.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/smtplock.service
	install -m 0644 scripts/smtplock.sysusers $(DESTDIR)$(SYSUSERSDIR)/smtplock.conf
	install -m 0644 scripts/smtplock.bash-completion $(DESTDIR)$(COMPDIR)/smtplock
	install -m 0644 policies/*.yaml $(DESTDIR)$(DOCDIR)/examples/
	install -m 0644 policies/dropin/policy.yaml $(DESTDIR)$(DOCDIR)/examples/policy-with-dropins.yaml
	install -m 0644 policies/dropin/policies.d/*.yaml $(DESTDIR)$(DOCDIR)/examples/policies.d/

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	rm -rf $(DESTDIR)$(DOCDIR)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
