# tests/fuzz/fuzz.mk: libFuzzer targets of the pure protocol core.
# Included by the main Makefile; every path is relative to the top of the
# tree.  Needs clang with its libFuzzer runtime: fuzz-build installs them
# with apt-get when they are missing (as `deps` does for the libraries).
#
#   make fuzz-build    build-fuzz/fuzz_{frame,receiver,sender,inflate,handshake,multi}
#   make fuzz-smoke    each target FUZZ_SMOKE_SECONDS (10) on a fresh copy of
#                      its seed corpus; fails on any crash, leak, UB or
#                      broken invariant (what `make check` runs)
#   make fuzz          each target FUZZ_SECONDS (300) on build-fuzz/corpus-<t>
#                      (seeded from tests/fuzz/corpus/<t>, kept between runs,
#                      so the tree is never written); `make -j2 fuzz` runs two
#                      at a time.  Crashes land in build-fuzz/crashes-<t>/.
#   make fuzz-regress  runs every reproducer saved in tests/fuzz/crashes/<t>/
#   make fuzz-corpus   regenerates tests/fuzz/corpus with gen_corpus (this one
#                      does write the tree: commit the result)
#
# Extra libFuzzer flags: FUZZ_ARGS="-jobs=... -dict=..." etc.

ifndef TCPX_FUZZ_MK
TCPX_FUZZ_MK := 1

FUZZ_BUILD         ?= build-fuzz
FUZZ_CC            ?= clang
FUZZ_SECONDS       ?= 300
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_ARGS          ?=
FUZZ_DIR            = tests/fuzz
FUZZ_TARGETS        = frame receiver sender inflate handshake multi
FUZZ_PURE           = error outq frame proto digest chunk names sender receiver keys handshake place

# -fno-sanitize-recover: undefined behaviour aborts, so libFuzzer keeps the
# input as a crash instead of printing a warning and going on.
FUZZ_SAN    = -fsanitize=address,undefined -fno-sanitize-recover=all \
              -fno-omit-frame-pointer
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -DTCPX_VERSION_STRING='"fuzz"' -g -O1 \
              -Iinclude -I$(FUZZ_DIR) \
              $(shell pkg-config --cflags zlib libsodium libdeflate libzstd 2>/dev/null)
# The library sources get the warnings but not -Werror here: the gcc build
# is the one that enforces them, and a clang-only warning in code under
# edit should not stop the fuzzers.  The harnesses are ours: -Werror.
FUZZ_WARN   = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
              -Wformat=2 -Wvla -Wpointer-arith
FUZZ_LIBS   = -lz -lsodium -ldeflate -lzstd
# The library's malloc/calloc/realloc/free go to tests/fuzz/fuzz_alloc.c,
# which recycles the big state-machine buffers between runs (they cost
# ASan an mmap each otherwise; see there for what stays checked).
FUZZ_LIBDEFS = -Dmalloc=tcpx_fuzz_malloc -Dcalloc=tcpx_fuzz_calloc \
               -Drealloc=tcpx_fuzz_realloc -Dfree=tcpx_fuzz_free
FUZZ_OBJS   = $(FUZZ_PURE:%=$(FUZZ_BUILD)/obj/%.o) $(FUZZ_BUILD)/obj/fuzz_alloc.o
FUZZ_BINS   = $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_ENV    = UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# -timeout: one input taking this long is a hang (a crash), so neither
# target can run past its time budget by much.
FUZZ_RUNFLAGS = -timeout=25 -print_final_stats=1

.PHONY: fuzz-build fuzz-toolchain fuzz fuzz-smoke fuzz-regress fuzz-corpus \
        $(FUZZ_TARGETS:%=fuzz-run-%) $(FUZZ_TARGETS:%=fuzz-smoke-%)

fuzz-build: $(FUZZ_BINS)

# Keep the objects (make would delete them as intermediates of the links).
.SECONDARY: $(FUZZ_OBJS)

# clang, and libFuzzer's runtime, which Debian ships apart (libclang-rt-dev,
# only a Recommends of clang): checked by linking an empty fuzz target.
fuzz-toolchain: deps
	@if ! command -v $(FUZZ_CC) >/dev/null 2>&1 || \
	    ! printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\nint LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' | \
	      $(FUZZ_CC) -fsanitize=fuzzer -x c - -o /dev/null >/dev/null 2>&1; then \
		echo "fuzz: installing clang libclang-rt-dev"; \
		if [ "$$(id -u)" != 0 ]; then \
			echo "fuzz: run as root or install: clang libclang-rt-dev" >&2; exit 1; fi; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libclang-rt-dev >/dev/null; \
	fi

$(FUZZ_BUILD)/obj:
	mkdir -p $@

# Library sources with coverage instrumentation (fuzzer-no-link) and the
# sanitizers; the harness link adds libFuzzer's main.
$(FUZZ_BUILD)/obj/%.o: src/%.c $(wildcard include/*.h) | fuzz-toolchain $(FUZZ_BUILD)/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_WARN) $(FUZZ_LIBDEFS) -fsanitize=fuzzer-no-link \
		$(FUZZ_SAN) -c -o $@ $<

$(FUZZ_BUILD)/obj/fuzz_alloc.o: $(FUZZ_DIR)/fuzz_alloc.c | fuzz-toolchain $(FUZZ_BUILD)/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_WARN) -Werror $(FUZZ_SAN) -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_DIR)/fuzz_%.c $(FUZZ_DIR)/fuzz_common.h $(FUZZ_OBJS) | fuzz-toolchain
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_WARN) -Werror -fsanitize=fuzzer $(FUZZ_SAN) \
		-o $@ $< $(FUZZ_OBJS) $(FUZZ_LIBS)

# Long runs.  The corpus grows in build-fuzz/corpus-<t> across runs.
fuzz: $(FUZZ_TARGETS:%=fuzz-run-%)
	@echo "fuzz: summary (logs in $(FUZZ_BUILD)/fuzz-<target>.log)"; \
	for t in $(FUZZ_TARGETS); do cat $(FUZZ_BUILD)/fuzz-$$t.summary; done

$(FUZZ_TARGETS:%=fuzz-run-%): fuzz-run-%: fuzz-build
	@mkdir -p $(FUZZ_BUILD)/corpus-$* $(FUZZ_BUILD)/crashes-$*
	@cp -n $(FUZZ_DIR)/corpus/$*/* $(FUZZ_BUILD)/corpus-$*/
	@echo "fuzz: $* for $(FUZZ_SECONDS) s"
	@log=$(FUZZ_BUILD)/fuzz-$*.log; \
	$(FUZZ_ENV) $(FUZZ_BUILD)/fuzz_$* -max_total_time=$(FUZZ_SECONDS) \
		$(FUZZ_RUNFLAGS) -artifact_prefix=$(FUZZ_BUILD)/crashes-$*/ \
		$(FUZZ_ARGS) $(FUZZ_BUILD)/corpus-$* >$$log 2>&1; rc=$$?; \
	execs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $$log | tail -n 1); \
	secs=$$(sed -n 's/^stat::average_exec_per_sec: *//p' $$log | tail -n 1); \
	units=$$(ls $(FUZZ_BUILD)/corpus-$* | wc -l); \
	line="fuzz: $*: $${execs:-?} executions ($${secs:-?}/s), corpus $$units files, exit $$rc"; \
	echo "$$line" | tee $(FUZZ_BUILD)/fuzz-$*.summary; \
	if [ $$rc -ne 0 ]; then tail -n 60 $$log; \
		echo "fuzz: $*: reproducer in $(FUZZ_BUILD)/crashes-$*/" >&2; exit 1; fi

# Bounded runs for `make check`: a fresh copy of the seeds every time, so
# the result does not depend on earlier runs.
fuzz-smoke: $(FUZZ_TARGETS:%=fuzz-smoke-%)
	@echo "fuzz-smoke: all targets ran $(FUZZ_SMOKE_SECONDS) s without a crash"

$(FUZZ_TARGETS:%=fuzz-smoke-%): fuzz-smoke-%: fuzz-build
	@rm -rf $(FUZZ_BUILD)/smoke-$* && mkdir -p $(FUZZ_BUILD)/smoke-$* $(FUZZ_BUILD)/crashes-$*
	@cp $(FUZZ_DIR)/corpus/$*/* $(FUZZ_BUILD)/smoke-$*/
	@log=$(FUZZ_BUILD)/smoke-$*.log; \
	$(FUZZ_ENV) $(FUZZ_BUILD)/fuzz_$* -max_total_time=$(FUZZ_SMOKE_SECONDS) \
		$(FUZZ_RUNFLAGS) -artifact_prefix=$(FUZZ_BUILD)/crashes-$*/ \
		$(FUZZ_BUILD)/smoke-$* >$$log 2>&1; rc=$$?; \
	execs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $$log | tail -n 1); \
	echo "fuzz-smoke: $*: $${execs:-?} executions in $(FUZZ_SMOKE_SECONDS) s, exit $$rc"; \
	if [ $$rc -ne 0 ]; then tail -n 60 $$log; \
		echo "fuzz-smoke: $*: reproducer in $(FUZZ_BUILD)/crashes-$*/" >&2; exit 1; fi

# Saved reproducers (tests/fuzz/crashes/<target>/*), each run once.
fuzz-regress: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
		files=$$(ls $(FUZZ_DIR)/crashes/$$t/* 2>/dev/null || true); \
		[ -n "$$files" ] || continue; \
		echo "fuzz-regress: $$t"; \
		$(FUZZ_ENV) $(FUZZ_BUILD)/fuzz_$$t $$files; done; \
	echo "fuzz-regress: no reproducer crashes"

$(FUZZ_BUILD)/gen_corpus: $(FUZZ_DIR)/gen_corpus.c $(FUZZ_DIR)/fuzz_common.h \
		$(FUZZ_PURE:%=src/%.c) $(wildcard include/*.h) | fuzz-toolchain $(FUZZ_BUILD)/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_WARN) $(FUZZ_SAN) -o $@ $< \
		$(FUZZ_PURE:%=src/%.c) $(FUZZ_LIBS)

fuzz-corpus: $(FUZZ_BUILD)/gen_corpus
	rm -rf $(FUZZ_BUILD)/corpus.new
	$(FUZZ_ENV) $(FUZZ_BUILD)/gen_corpus $(FUZZ_BUILD)/corpus.new
	# The handshake and multi seeds are written by hand (fuzz_handshake.c
	# and fuzz_multi.c say how):
	# kept as they are.
	cp -r $(FUZZ_DIR)/corpus/handshake $(FUZZ_BUILD)/corpus.new/
	cp -r $(FUZZ_DIR)/corpus/multi $(FUZZ_BUILD)/corpus.new/
	rm -rf $(FUZZ_DIR)/corpus && mv $(FUZZ_BUILD)/corpus.new $(FUZZ_DIR)/corpus

endif
