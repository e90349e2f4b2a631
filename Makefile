# vstor top-level build.
#   make              userspace (common library, daemons, tools, tests) into $(BUILD)
#   make CC=clang     the same with clang (BUILD defaults to build-clang then)
#   make asan         ASan+UBSan build into build-asan
#   make kmod         the kernel module against KDIR
#   make fuzz         libFuzzer targets (clang) into build-fuzz
#   make check        install deps, build everything, run all tests (= tests/check.sh)
#   make demo         the README's main job (= tests/demo.sh)
#   make install      programs, systemd units, udev rule, DKMS source into
#                     $(DESTDIR) (PREFIX=/usr; see packaging/)
#   make deb          Debian packages vstor and vstor-dkms into $(BUILD)/deb

CC ?= cc
ifeq ($(origin CC),default)
CC := cc
endif
ifneq ($(findstring clang,$(CC)),)
BUILD ?= build-clang
else
BUILD ?= build
endif

PKGS := liburing yajl libcurl libnl-genl-3.0
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

.DEFAULT_GOAL := all

OPT ?= -O2
CFLAGS ?= $(OPT) -g
WARN := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wstrict-prototypes -Wmissing-prototypes
CPPFLAGS += -D_GNU_SOURCE -Icommon -Iosd/blockstore -Itests/lib $(PKG_CFLAGS)
ALL_CFLAGS = -std=c11 $(WARN) $(CFLAGS) $(SANFLAGS) -MMD -MP
# lp_solve (placement), jerasure and gf-complete (erasure codes, common/ec*)
# ship no .pc file.
LDLIBS += $(PKG_LIBS) -llpsolve55 -lcolamd -lJerasure -lgf_complete -lpthread -lm

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o)
COMMON_LIB := $(BUILD)/libvstor-common.a

# The OSD's storage engine is a library of its own so tests and tools can
# link it without the daemon.
BLOCKSTORE_SRC := $(wildcard osd/blockstore/*.c)
BLOCKSTORE_OBJ := $(BLOCKSTORE_SRC:%.c=$(BUILD)/%.o)
BLOCKSTORE_LIB := $(if $(BLOCKSTORE_SRC),$(BUILD)/libvstor-blockstore.a)
LIBS := $(BLOCKSTORE_LIB) $(COMMON_LIB)

TESTLIB_SRC := $(wildcard tests/lib/*.c)
TESTLIB_OBJ := $(TESTLIB_SRC:%.c=$(BUILD)/%.o)

# tests/bench/*_compare.c are tools that print tables, raw_floor.c measures
# the disk and network floor for cluster_bench.sh, blk_bench.c is the light
# block device client of tests/vm/bench_vsN.sh (not run as tests).
TEST_SRC := $(wildcard tests/unit/*.c tests/cluster/*.c tests/bench/*_compare.c \
	tests/bench/raw_floor.c tests/bench/blk_bench.c)
TEST_BIN := $(TEST_SRC:%.c=$(BUILD)/%)

# Programs: each directory with sources becomes one binary. A program named
# like its directory (vsctl) keeps its objects under $(BUILD)/obj/ so the
# binary and the object directory do not collide.
PROGS :=
define prog
$(1)_SRC := $$(wildcard $(2)/*.c)
ifneq ($$($(1)_SRC),)
PROGS += $(BUILD)/$(1)
$(BUILD)/$(1): $$($(1)_SRC:%.c=$(BUILD)/$(if $(filter $(1),$(2)),obj/)%.o) $(LIBS)
	$$(CC) $$(ALL_CFLAGS) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endif
endef
$(eval $(call prog,vstor-osd,osd))
$(eval $(call prog,vstor-mon,mon))
$(eval $(call prog,vsctl,vsctl))
$(eval $(call prog,vstor-disk,disk))

.PHONY: all asan kmod kmod-clean fuzz fuzz-bins check demo clean deps install deb
all: $(LIBS) $(PROGS) $(TEST_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

# One version for the packages, DKMS and every program's --version.
VERSION := $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' dkms.conf)
$(BUILD)/common/version.o: CPPFLAGS += -DVSTOR_VERSION='"$(VERSION)"'
$(BUILD)/common/version.o: dkms.conf

# jerasure.h includes its siblings as "galois.h" etc.
$(BUILD)/common/ec.o $(BUILD)/tests/unit/test_ec: CPPFLAGS += -I/usr/include/jerasure

$(COMMON_LIB): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libvstor-blockstore.a: $(BLOCKSTORE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/tests/%: tests/%.c $(TESTLIB_OBJ) $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(TESTLIB_OBJ) $(LIBS) $(LDLIBS)

asan:
	$(MAKE) BUILD=build-asan OPT=-O1 \
		SANFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"

# libFuzzer targets: tests/fuzz/fuzz_*.c, each linked with the common library
# built with coverage instrumentation.
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang OPT=-O1 \
		SANFLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer" fuzz-bins
fuzz-bins: $(FUZZ_BIN)

$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -std=c11 $(WARN) -g -O1 -fsanitize=fuzzer,address,undefined \
		-o $@ $< $(LIBS) $(LDLIBS)

# Kernel module. KDIR: the running kernel's build tree if present, else the
# newest Debian linux-headers-*-amd64 that is installed.
KDIR ?= $(firstword $(wildcard /lib/modules/$(shell uname -r)/build) \
	$(lastword $(sort $(wildcard /usr/src/linux-headers-*-amd64))))
kmod:
	@test -n "$(KDIR)" || { echo "make kmod: no kernel headers; install linux-headers-amd64 or set KDIR=" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules
kmod-clean:
	@test -z "$(KDIR)" || $(MAKE) -C $(KDIR) M=$(CURDIR) clean

# Installation layout of Debian 12 (merged /usr: units and udev rules under
# /lib are where its packages put them).
PREFIX ?= /usr
UNITDIR ?= /lib/systemd/system
UDEVDIR ?= /lib/udev/rules.d
DKMS_SRC := Makefile Kbuild dkms.conf kmod/Kbuild $(wildcard kmod/*.c kmod/*.h) \
	common/vstor_proto.h common/vstor_genl.h
install: $(PROGS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(UNITDIR) $(DESTDIR)$(UDEVDIR) \
		$(DESTDIR)$(PREFIX)/share/doc/vstor/examples
	install -m 0755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 packaging/systemd/*.service packaging/systemd/*.target \
		$(DESTDIR)$(UNITDIR)/
	install -m 0644 kmod/60-vstor.rules $(DESTDIR)$(UDEVDIR)/
	install -m 0644 packaging/examples/* $(DESTDIR)$(PREFIX)/share/doc/vstor/examples/
	for f in $(DKMS_SRC); do \
		install -D -m 0644 $$f $(DESTDIR)$(PREFIX)/src/vstor-$(VERSION)/$$f || exit 1; \
	done
deb: $(PROGS)
	sh packaging/deb.sh $(BUILD) $(VERSION)

deps:
	sh tests/deps.sh
check:
	sh tests/check.sh
demo:
	sh tests/demo.sh

clean:
	rm -rf build build-clang build-asan build-fuzz
	@test -z "$(KDIR)" || $(MAKE) -C $(KDIR) M=$(CURDIR) clean >/dev/null 2>&1 || true

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
