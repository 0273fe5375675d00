# tcpxfer: tcpput and tcpget.  `make demo`, `make check`, `make install`.
# Every entry point first runs `deps`, which installs missing Debian
# packages with apt-get, so a fresh Debian 12 with gcc and make suffices.

SHELL    := /bin/bash
VERSION   = 0.1.0
PREFIX   ?= /usr/local
DESTDIR  ?=
bindir   ?= $(PREFIX)/bin
mandir   ?= $(PREFIX)/share/man
datadir  ?= $(PREFIX)/share
bashcompdir ?= $(datadir)/bash-completion/completions
BUILD    ?= build
CC       ?= cc
PKGS      = zlib libsodium libdeflate
DEB_PKGS  = pkg-config zlib1g-dev libsodium-dev libdeflate-dev libcriterion-dev coreutils groff-base \
            jq mandoc valgrind
SAN       = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wformat=2 -Wvla -Wpointer-arith
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -DTCPX_VERSION_STRING='"$(VERSION)"' \
           -Iinclude $(WARN) $(CFLAGS) $(EXTRA_CFLAGS) \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread
TEST_LIBS = $(shell pkg-config --libs criterion 2>/dev/null)

# The pure protocol core (no socket, no file) builds into its own library,
# which the unit tests of pure modules and the fuzzers link alone, so
# nothing in the build lets them pull in I/O.  The I/O modules build into
# libtcpx-io.a; the tools and the I/O tests (IO_TESTS) link both.
PURE = error outq frame proto digest chunk names sender receiver
IO   = conn send_loop serve_loop server store source net ui zpool cli
CORE_LIB = $(BUILD)/libtcpx-core.a
IO_LIB   = $(BUILD)/libtcpx-io.a
IO_TESTS = session store server conn cli
UNIT_TESTS = $(patsubst tests/%.c,$(BUILD)/%,$(wildcard tests/test_*.c))
HELPERS = $(patsubst tests/%.c,$(BUILD)/%,$(wildcard tests/helper_*.c))

.PHONY: all deps tools check check-run unit integration asan demo bench attack \
        install uninstall clean fuzz valgrind man-lint

all: deps
	@$(MAKE) --no-print-directory tools

tools: $(BUILD)/tcpput $(BUILD)/tcpget

# Installs what is missing; silent when everything is there.
deps:
	@missing=""; \
	command -v pkg-config >/dev/null || missing="$(DEB_PKGS)"; \
	pkg-config --exists $(PKGS) criterion 2>/dev/null || missing="$(DEB_PKGS)"; \
	command -v b2sum >/dev/null || missing="$$missing coreutils"; \
	command -v groff >/dev/null || missing="$$missing groff-base"; \
	command -v jq >/dev/null || missing="$$missing jq"; \
	command -v valgrind >/dev/null || missing="$$missing valgrind"; \
	command -v mandoc >/dev/null || missing="$$missing mandoc"; \
	if [ -n "$$missing" ]; then \
		echo "deps: installing $(DEB_PKGS)"; \
		if [ "$$(id -u)" != 0 ]; then echo "deps: run as root or install: $(DEB_PKGS)" >&2; exit 1; fi; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEB_PKGS) >/dev/null; \
	fi

$(BUILD)/%.o: src/%.c $(wildcard include/*.h) | $(BUILD)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(CORE_LIB): $(PURE:%=$(BUILD)/%.o)
	rm -f $@ && ar rcs $@ $^

$(IO_LIB): $(IO:%=$(BUILD)/%.o)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/tcpput: $(BUILD)/tcpput.o $(IO_LIB) $(CORE_LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tcpget: $(BUILD)/tcpget.o $(IO_LIB) $(CORE_LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

# A pure module's test links the core alone: an I/O call there fails the
# link.  The I/O tests link both libraries.
$(IO_TESTS:%=$(BUILD)/test_%): $(IO_LIB)
$(BUILD)/test_%: tests/test_%.c tests/testutil.h $(CORE_LIB)
	$(CC) $(ALL_CFLAGS) -Itests -o $@ $< \
		$(if $(filter $*,$(IO_TESTS)),$(IO_LIB)) $(CORE_LIB) $(LDLIBS) $(TEST_LIBS)

$(BUILD)/helper_%: tests/helper_%.c $(IO_LIB) $(CORE_LIB)
	$(CC) $(ALL_CFLAGS) -Itests -o $@ $< $(IO_LIB) $(CORE_LIB) $(LDLIBS)

$(BUILD):
	mkdir -p $@

# The whole suite, then the whole suite again under ASan + UBSan, the man
# page lint and a short fuzzing run; the closing line adds up every suite's
# count (Criterion's and the shell suites' "N passed, M failed").
check: deps
	@set -o pipefail; mkdir -p $(BUILD); { \
	$(MAKE) --no-print-directory check-run && \
	$(MAKE) --no-print-directory check-run BUILD=build-asan EXTRA_CFLAGS="$(SAN)" CFLAGS="-O1 -g" && \
	$(MAKE) --no-print-directory man-lint && \
	$(MAKE) --no-print-directory fuzz-smoke && \
	$(MAKE) --no-print-directory valgrind; } 2>&1 | tee $(BUILD)/check.log
	@sed -n 's/.*Passing: \([0-9]*\) | Failing: \([0-9]*\) | Crashing: \([0-9]*\).*/\1 \2 \3/p; s/^[a-z]*: \([0-9]*\) passed, \([0-9]*\) failed$$/\1 \2 0/p' \
		$(BUILD)/check.log | awk '{p += $$1; f += $$2 + $$3} END { \
		print "check (normal, sanitizer and valgrind runs, fuzz smoke, man lint):"; \
		printf "check: %d passed, %d failed\n", p, f; exit f > 0 }'

check-run: tools $(UNIT_TESTS) $(HELPERS)
	@$(MAKE) --no-print-directory unit integration

unit: $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; ./$$t --jobs 2; done

SUITES = integration tree hostile faults disk load usability output attack rerun resume

integration: tools $(HELPERS)
	@set -e; for s in $(SUITES); do \
		if [ -f tests/$$s.sh ]; then echo "== tests/$$s.sh $(BUILD)"; \
		bash tests/$$s.sh $(BUILD); fi; done

asan: deps
	@$(MAKE) --no-print-directory check-run BUILD=build-asan EXTRA_CFLAGS="$(SAN)" CFLAGS="-O1 -g"

man-lint:
	@set -e; for m in man/*.[15]; do \
		out=$$(LC_ALL=C.UTF-8 groff -ww -z -t -man $$m 2>&1); \
		if [ -n "$$out" ]; then echo "$$m: $$out"; exit 1; fi; \
		if command -v mandoc >/dev/null; then \
			mandoc -T lint $$m || exit 1; fi; done; \
	echo "man-lint: man pages render without warnings"

# `make check` runs this on the integration suite (about 20 s);
# `make valgrind VALGRIND_SUITES="integration hostile"` adds the hostile
# peers (about 2 minutes more).
# The integration suite with every tcpput and tcpget under valgrind's
# memcheck: wrappers in build-valgrind/ make any memory error or definite
# leak an exit status of 99, which the suite's exit-status checks catch;
# the logs are then scanned for any error summary that is not zero.
VALGRIND_SUITES ?= integration
valgrind: all
	@rm -rf build-valgrind && mkdir -p build-valgrind/logs
	@for t in tcpput tcpget; do \
		printf '#!/bin/sh\nexec valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --log-file=%s/build-valgrind/logs/%s.%%p.log %s/$(BUILD)/%s "$$@"\n' \
			"$$PWD" $$t "$$PWD" $$t > build-valgrind/$$t; chmod +x build-valgrind/$$t; done
	@set -e; for s in $(VALGRIND_SUITES); do bash tests/$$s.sh build-valgrind; done
	@if grep -l "ERROR SUMMARY: [1-9]" build-valgrind/logs/*.log 2>/dev/null; then \
		echo "valgrind: errors above"; exit 1; fi
	@echo "valgrind: no memory errors, no definite leaks ($$(ls build-valgrind/logs | wc -l) processes checked)"

# The attacks of tests/attack.sh at full size and length (about 4 minutes:
# 256 slowloris connections from 64 addresses, 512 idle ones from 128,
# 2000 connections holding a file at 1 byte per 50 s from 250, 300 from
# one address), with each legitimate transfer held to 3 s; prints the
# figures.  Not part of check.
attack: all
	@$(MAKE) --no-print-directory tools $(HELPERS)
	@ATTACK_FULL=1 bash tests/attack.sh $(BUILD)

demo: all
	@bash samples/demo.sh $(BUILD)

bench: all
	@bash bench/run.sh $(BENCH_ARGS)

install: all
	install -d $(DESTDIR)$(bindir) $(DESTDIR)$(mandir)/man1 $(DESTDIR)$(mandir)/man5
	install -m 0755 $(BUILD)/tcpput $(BUILD)/tcpget $(DESTDIR)$(bindir)/
	install -m 0644 man/tcpput.1 man/tcpget.1 $(DESTDIR)$(mandir)/man1/
	install -m 0644 man/tcpxfer.5 $(DESTDIR)$(mandir)/man5/
	install -d $(DESTDIR)$(bashcompdir)
	install -m 0644 samples/completion/tcpput samples/completion/tcpget \
		$(DESTDIR)$(bashcompdir)/

uninstall:
	rm -f $(DESTDIR)$(bindir)/tcpput $(DESTDIR)$(bindir)/tcpget \
	      $(DESTDIR)$(mandir)/man1/tcpput.1 $(DESTDIR)$(mandir)/man1/tcpget.1 \
	      $(DESTDIR)$(mandir)/man5/tcpxfer.5 \
	      $(DESTDIR)$(bashcompdir)/tcpput $(DESTDIR)$(bashcompdir)/tcpget

clean:
	rm -rf build build-asan build-fuzz build-valgrind

# libFuzzer targets (tests/fuzz/): fuzz-build, fuzz, fuzz-smoke.
-include tests/fuzz/fuzz.mk
