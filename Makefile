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
libdir   ?= $(PREFIX)/lib
includedir ?= $(PREFIX)/include
pkgconfigdir ?= $(libdir)/pkgconfig
# systemd looks in /usr/local/lib/systemd/system too; Debian's is
# /lib/systemd/system (pkg-config --variable=systemdsystemunitdir systemd).
systemdunitdir ?= $(PREFIX)/lib/systemd/system
BUILD    ?= build
CC       ?= cc
PKGS      = zlib libsodium libdeflate libzstd
DEB_PKGS  = pkg-config zlib1g-dev libsodium-dev libdeflate-dev libzstd-dev libcriterion-dev coreutils groff-base \
            jq mandoc valgrind
SAN       = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wformat=2 -Wvla -Wpointer-arith
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -DTCPX_VERSION_STRING='"$(VERSION)"' \
           -Iinclude $(WARN) $(CFLAGS) $(EXTRA_CFLAGS) \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# Every object goes into libtcpx.so too: position-independent, and hidden
# unless tcpx/tcpx.h exports it (TCPX_EXPORT; src/libtcpx.map says the same).
ALL_CFLAGS += -fPIC -fvisibility=hidden $(CPPFLAGS)
LDLIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread
TEST_LIBS = $(shell pkg-config --libs criterion 2>/dev/null)

# The pure protocol core (no socket, no file) builds into its own library,
# which the unit tests of pure modules and the fuzzers link alone, so
# nothing in the build lets them pull in I/O.  The I/O modules build into
# libtcpx-io.a; the tools and the I/O tests (IO_TESTS) link both.
PURE = error outq frame proto digest chunk names sender receiver keys handshake place
IO   = conn send_loop serve_loop server store source net ui zpool cli keyfile lanes
CORE_LIB = $(BUILD)/libtcpx-core.a
IO_LIB   = $(BUILD)/libtcpx-io.a
IO_TESTS = session store server conn cli keyfile
# libtcpx (tcpx/tcpx.h): the public API over the tools' wiring (run).
IO += run run_serve tcpx
SOVERSION = 0
LIB_A    = $(BUILD)/libtcpx.a
LIB_SO   = $(BUILD)/libtcpx.so.$(VERSION)
LIB_OBJS = $(PURE:%=$(BUILD)/%.o) $(IO:%=$(BUILD)/%.o)
UNIT_TESTS = $(patsubst tests/%.c,$(BUILD)/%,$(wildcard tests/test_*.c))
HELPERS = $(patsubst tests/%.c,$(BUILD)/%,$(wildcard tests/helper_*.c))

.PHONY: all deps tools check check-build check-run unit integration asan demo bench attack \
        install uninstall clean fuzz valgrind man-lint lib check-examples deb

all: deps
	@$(MAKE) --no-print-directory tools lib

tools: $(BUILD)/tcpput $(BUILD)/tcpget

lib: $(LIB_A) $(LIB_SO)

# Installs what is missing; silent when everything is there.
deps:
	@[ -z "$(SKIP_DEPS)" ] || exit 0; missing=""; \
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

# The tools are built on libtcpx: its static archive, so they may call
# what the shared library keeps hidden.
$(LIB_A): $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

# cli is the tools' command line alone (it exits on a usage error): the
# shared library leaves it out.
SO_OBJS = $(filter-out $(BUILD)/cli.o,$(LIB_OBJS))
$(LIB_SO): $(SO_OBJS) src/libtcpx.map
	$(CC) $(ALL_CFLAGS) -shared -Wl,-soname,libtcpx.so.$(SOVERSION) \
		-Wl,--version-script=src/libtcpx.map -Wl,--no-undefined \
		$(LDFLAGS) -o $@ $(SO_OBJS) $(LDLIBS)
	ln -sf libtcpx.so.$(VERSION) $(BUILD)/libtcpx.so.$(SOVERSION)
	ln -sf libtcpx.so.$(SOVERSION) $(BUILD)/libtcpx.so

$(BUILD)/tcpput: $(BUILD)/tcpput.o $(LIB_A)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tcpget: $(BUILD)/tcpget.o $(LIB_A)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

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

# The whole suite, and the whole suite again under ASan + UBSan, the man
# page lint, a short fuzzing run and the integration suite under valgrind.
# Everything is built first (make -j2), then three streams run side by
# side, each into its own log: the normal run, the sanitizer run, and
# examples + lint + fuzz smoke + valgrind (the suites mostly wait on their peers, so
# on 2 cores this takes about half the time of one after the other).
# The logs are shown in that order; the closing line adds up every
# suite's count (Criterion's and the shell suites' "N passed, M failed").
SAN_VARS = BUILD=build-asan EXTRA_CFLAGS="$(SAN)" CFLAGS="-O1 -g"
CHECK_LOGS = $(BUILD)/check-normal.log $(BUILD)/check-asan.log $(BUILD)/check-other.log

check: deps
	@mkdir -p $(BUILD); rm -f $(CHECK_LOGS); \
	$(MAKE) --no-print-directory -j2 check-build && \
	$(MAKE) --no-print-directory -j2 check-build $(SAN_VARS) && \
	$(MAKE) --no-print-directory -j2 fuzz-build && { \
	$(MAKE) --no-print-directory check-run >$(BUILD)/check-normal.log 2>&1 & a=$$!; \
	$(MAKE) --no-print-directory check-run $(SAN_VARS) >$(BUILD)/check-asan.log 2>&1 & b=$$!; \
	{ $(MAKE) --no-print-directory check-examples && \
	  $(MAKE) --no-print-directory man-lint && \
	  $(MAKE) --no-print-directory fuzz-smoke && \
	  $(MAKE) --no-print-directory valgrind; } >$(BUILD)/check-other.log 2>&1 & c=$$!; \
	rc=0; wait $$a || rc=1; wait $$b || rc=1; wait $$c || rc=1; \
	cat $(CHECK_LOGS) | tee $(BUILD)/check.log; \
	sed -n 's/.*Passing: \([0-9]*\) | Failing: \([0-9]*\) | Crashing: \([0-9]*\).*/\1 \2 \3/p; s/^[a-z]*: \([0-9]*\) passed, \([0-9]*\) failed$$/\1 \2 0/p' \
		$(BUILD)/check.log | awk -v rc=$$rc '{p += $$1; f += $$2 + $$3} END { \
		print "check (normal, sanitizer and valgrind runs, examples against an installed libtcpx, fuzz smoke, man lint):"; \
		if (rc && !f) print "check: a step failed before its count (see above)"; \
		printf "check: %d passed, %d failed\n", p, f; exit (f > 0 || rc) }'; }

check-build: tools lib $(UNIT_TESTS) $(HELPERS)

check-run: tools $(UNIT_TESTS) $(HELPERS)
	@$(MAKE) --no-print-directory -k unit integration

unit: $(UNIT_TESTS)
	@rc=0; t0=$$(date +%s); for t in $(UNIT_TESTS); do echo "== $$t"; ./$$t --jobs 2 || rc=1; done; \
		echo "time: unit $(BUILD) $$(( $$(date +%s) - t0 )) s"; exit $$rc

SUITES = integration tree stream hostile faults disk load usability output attack keys rerun resume zstd multi

integration: tools $(HELPERS)
	@rc=0; for s in $(SUITES); do \
		if [ -f tests/$$s.sh ]; then echo "== tests/$$s.sh $(BUILD)"; \
		t0=$$(date +%s); bash tests/$$s.sh $(BUILD) || rc=1; \
		echo "time: tests/$$s.sh $(BUILD) $$(( $$(date +%s) - t0 )) s"; fi; done; exit $$rc

asan: deps
	@$(MAKE) --no-print-directory check-run BUILD=build-asan EXTRA_CFLAGS="$(SAN)" CFLAGS="-O1 -g"

man-lint:
	@set -e; for m in man/*.[135]; do \
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
	@bash bench/secure.sh $(SECURE_BENCH_ARGS)

# The tools, man pages and completion; libtcpx (shared and static), its
# header, libtcpx.pc and man 3 pages; the receiver's systemd units
# (samples/, ExecStart pointed at $(bindir)), installed, not enabled.
MAN3 = man/libtcpx.3
# One page for the API; each function's name is a link to it.
MAN3_LINKS = tcpx_send tcpx_send_options_init tcpx_serve tcpx_serve_options_init \
             tcpx_serve_stop tcpx_version tcpx_strerror
install: all
	install -d $(DESTDIR)$(bindir) $(DESTDIR)$(mandir)/man1 $(DESTDIR)$(mandir)/man5
	install -m 0755 $(BUILD)/tcpput $(BUILD)/tcpget $(DESTDIR)$(bindir)/
	install -m 0644 man/tcpput.1 man/tcpget.1 $(DESTDIR)$(mandir)/man1/
	install -m 0644 man/tcpxfer.5 $(DESTDIR)$(mandir)/man5/
	install -d $(DESTDIR)$(bashcompdir)
	install -m 0644 samples/completion/tcpput samples/completion/tcpget \
		$(DESTDIR)$(bashcompdir)/
	install -d $(DESTDIR)$(libdir) $(DESTDIR)$(includedir)/tcpx \
		$(DESTDIR)$(pkgconfigdir) $(DESTDIR)$(mandir)/man3 \
		$(DESTDIR)$(systemdunitdir)
	install -m 0644 $(LIB_A) $(DESTDIR)$(libdir)/
	install -m 0644 $(LIB_SO) $(DESTDIR)$(libdir)/
	ln -sf libtcpx.so.$(VERSION) $(DESTDIR)$(libdir)/libtcpx.so.$(SOVERSION)
	ln -sf libtcpx.so.$(SOVERSION) $(DESTDIR)$(libdir)/libtcpx.so
	install -m 0644 include/tcpx/tcpx.h $(DESTDIR)$(includedir)/tcpx/
	sed -e 's|@prefix@|$(PREFIX)|; s|@libdir@|$(libdir)|; s|@includedir@|$(includedir)|; s|@VERSION@|$(VERSION)|; s|@PKGS@|$(PKGS)|' \
		libtcpx.pc.in > $(DESTDIR)$(pkgconfigdir)/libtcpx.pc
	chmod 0644 $(DESTDIR)$(pkgconfigdir)/libtcpx.pc
	install -m 0644 $(MAN3) $(DESTDIR)$(mandir)/man3/
	for f in $(MAN3_LINKS); do ln -sf libtcpx.3 $(DESTDIR)$(mandir)/man3/$$f.3; done
	sed -e 's|^ExecStart=/usr/local/bin/tcpget|ExecStart=$(bindir)/tcpget|' \
		samples/tcpget.service > $(DESTDIR)$(systemdunitdir)/tcpget.service
	install -m 0644 samples/tcpget.socket $(DESTDIR)$(systemdunitdir)/
	chmod 0644 $(DESTDIR)$(systemdunitdir)/tcpget.service

uninstall:
	rm -f $(DESTDIR)$(bindir)/tcpput $(DESTDIR)$(bindir)/tcpget \
	      $(DESTDIR)$(mandir)/man1/tcpput.1 $(DESTDIR)$(mandir)/man1/tcpget.1 \
	      $(DESTDIR)$(mandir)/man5/tcpxfer.5 \
	      $(DESTDIR)$(bashcompdir)/tcpput $(DESTDIR)$(bashcompdir)/tcpget
	rm -f $(DESTDIR)$(libdir)/libtcpx.a $(DESTDIR)$(libdir)/libtcpx.so \
	      $(DESTDIR)$(libdir)/libtcpx.so.$(SOVERSION) \
	      $(DESTDIR)$(libdir)/libtcpx.so.$(VERSION) \
	      $(DESTDIR)$(includedir)/tcpx/tcpx.h \
	      $(DESTDIR)$(pkgconfigdir)/libtcpx.pc \
	      $(MAN3:man/%=$(DESTDIR)$(mandir)/man3/%) \
	      $(MAN3_LINKS:%=$(DESTDIR)$(mandir)/man3/%.3) \
	      $(DESTDIR)$(systemdunitdir)/tcpget.service \
	      $(DESTDIR)$(systemdunitdir)/tcpget.socket
	-rmdir $(DESTDIR)$(includedir)/tcpx 2>/dev/null

# `make check`'s library step: libtcpx installed into a staging prefix
# under $(BUILD), examples/ and tests/libtcpx_api.c built against it
# through pkg-config alone, run against a real tcpget on loopback.
STAGE = $(abspath $(BUILD))/stage
check-examples: all
	@rm -rf $(STAGE)
	@$(MAKE) --no-print-directory install PREFIX=$(STAGE) >/dev/null
	@EXAMPLE_CFLAGS="$(EXTRA_CFLAGS)" bash tests/examples.sh $(BUILD) $(STAGE)

# Debian packages (debian/) from a copy of the committed tree, into
# $(BUILD)/deb/; needs dpkg-dev, debhelper and the Build-Depends.
deb:
	rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb/tcpxfer-$(VERSION)
	git archive HEAD | tar -x -C $(BUILD)/deb/tcpxfer-$(VERSION)
	cd $(BUILD)/deb/tcpxfer-$(VERSION) && dpkg-buildpackage -us -uc -b
	@ls $(BUILD)/deb/*.deb

clean:
	rm -rf build build-asan build-fuzz build-valgrind

# libFuzzer targets (tests/fuzz/): fuzz-build, fuzz, fuzz-smoke.
-include tests/fuzz/fuzz.mk
