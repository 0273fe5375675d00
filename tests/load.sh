#!/usr/bin/env bash
# tests/load.sh: tcpget under load.  64 concurrent tcpput senders, 2,000
# junk connections in a row, 500 idle connections held open while a normal
# transfer goes through; after each, tcpget's open descriptors return
# exactly to where they were and its resident memory stays within a bound.
#
# usage: bash tests/load.sh BUILD_DIR       (e.g. build, build-asan)
SUITE=load
# ---- shared preamble (the same in hostile.sh, faults.sh and load.sh) ----
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(cd "${1:-build}" 2>/dev/null && pwd) || { echo "$SUITE: no build directory '${1:-build}'"; echo "$SUITE: 0 passed, 1 failed"; exit 1; }
HELPER=$BIN/helper_hostile
# The helper is built by `make integration`; build it here when the suite
# is run by hand (with the sanitizer flags if the library has them).
if [ ! -x "$HELPER" ]; then
	san=()
	if grep -qa __asan_init "$BIN/libtcpx.a" 2>/dev/null; then
		san=(EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" CFLAGS="-O1 -g")
	fi
	make -C "$ROOT" --no-print-directory BUILD="$BIN" "${san[@]}" "$BIN/helper_hostile" >/dev/null || true
fi
for f in tcpget tcpput helper_hostile; do
	[ -x "$BIN/$f" ] || { echo "$SUITE: $BIN/$f missing (make tools $BIN/helper_hostile)"; echo "$SUITE: 0 passed, 1 failed"; exit 1; }
done
# Sanitizer builds are slower and hungrier: scale waits and memory bounds.
SLOW=1
if grep -qa __asan_init "$BIN/tcpget"; then SLOW=3; fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
T=$(mktemp -d "${TMPDIR:-/tmp}/tcpx-$SUITE.XXXXXX")
mkdir -p "$T/logs" "$T/src"
PASSED=0
FAILED=0
PIDS=()
MOUNTS=()
SERVERS=()

MAINPID=$BASHPID
cleanup() {
	local p m
	# subshells inherit the trap: only the main shell cleans up
	[ "$BASHPID" = "$MAINPID" ] || return 0
	for p in "${PIDS[@]:-}"; do
		[ -n "$p" ] && kill -TERM "$p" 2>/dev/null
	done
	sleep 0.1
	for p in "${PIDS[@]:-}"; do
		[ -n "$p" ] && kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	for m in "${MOUNTS[@]:-}"; do
		[ -n "$m" ] && umount -l "$m" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() { PASSED=$((PASSED + 1)); echo "ok   $*"; }
bad() { FAILED=$((FAILED + 1)); echo "FAIL $*"; }
check() { local n=$1; shift; if "$@"; then ok "$n"; else bad "$n"; fi; }

# A case gathers the reasons it failed; end_case reports it once.
CASE=""
WHY=()
begin() { CASE=$1; WHY=(); }
why() { WHY+=("$*"); }
end_case() {
	if [ ${#WHY[@]} -eq 0 ]; then
		ok "$CASE"
	else
		bad "$CASE"
		local w
		for w in "${WHY[@]}"; do echo "       - $w"; done
		if [ -n "${1:-}" ]; then
			local nres
			nres=$(grep -c '^RESULT' <<<"$1")
			if [ "$nres" -gt 10 ]; then
				grep -m 3 '^RESULT' <<<"$1"
				echo "... ($nres RESULT lines in all)"
				grep -v '^RESULT' <<<"$1"
			else
				cat <<<"$1"
			fi | cut -c 1-240 | sed 's/^/       | /' | head -n 40
		fi
	fi
}

finish() {
	echo "$SUITE: $PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
	exit $?
}

# start_tcpget NAME DIR [ARGS...]: tcpget on a free loopback port, run under
# the command in the WRAP array if set; sets NAME_PID, NAME_PORT, NAME_OUT,
# NAME_ERR.  Returns non-zero if it did not start.
WRAP=()
start_tcpget() {
	local name=$1 dir=$2 out err pid port="" i
	shift 2
	out=$T/logs/$name.out
	err=$T/logs/$name.err
	: >"$out"
	: >"$err"
	"${WRAP[@]}" "$BIN/tcpget" -d "$dir" -p 0 -b 127.0.0.1 "$@" >"$out" 2>"$err" &
	pid=$!
	PIDS+=("$pid")
	SERVERS+=("$name")
	for ((i = 0; i < 100 * SLOW; i++)); do
		port=$(sed -n 's/.*listening on .*:\([0-9][0-9]*\),.*/\1/p' "$out" | head -n 1)
		[ -n "$port" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	printf -v "${name}_PID" %s "$pid"
	printf -v "${name}_PORT" %s "$port"
	printf -v "${name}_OUT" %s "$out"
	printf -v "${name}_ERR" %s "$err"
	[ -n "$port" ] || { echo "tcpget $name did not start: $(cat "$err")"; return 1; }
}

# stop_tcpget NAME [SIGNAL]: signals tcpget and waits (bounded) for its exit
# status, which it returns; 124 if it had to be killed.
stop_tcpget() {
	local pid rc i
	eval "pid=\$${1}_PID"
	if [ "${2:-TERM}" = KILL ]; then
		{ kill -KILL "$pid"; wait "$pid"; } 2>/dev/null
		return 0
	fi
	kill -"${2:-TERM}" "$pid" 2>/dev/null
	for ((i = 0; i < 200 * SLOW; i++)); do
		alive "$pid" || break
		sleep 0.05
	done
	alive "$pid" && kill -KILL "$pid" 2>/dev/null
	{ wait "$pid"; } 2>/dev/null
	rc=$?
	[ $rc -eq 137 ] && rc=124
	return $rc
}

alive() { kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
fds_of() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
rss_of() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null; }
hwm_of() { awk '/^VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null; }

# temps DIR: the temporary files below DIR (symlinks not followed)
temps() { find "$1" -name '.tcpx-*.part' 2>/dev/null; }
# wait_no_temp DIR: true once DIR has no temporary file (bounded wait)
wait_no_temp() {
	local i
	for ((i = 0; i < 60 * SLOW; i++)); do
		[ -z "$(temps "$1")" ] && return 0
		sleep 0.05
	done
	return 1
}
# listing DIR: what is below DIR, one relative path per word, sorted
listing() { (cd "$1" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//'); }

# short STRING: at most 200 characters of it
short() { if [ ${#1} -gt 200 ]; then printf '%s ... %s' "${1:0:120}" "${1: -60}"; else printf '%s' "$1"; fi; }
# sig OUT: the SIG line of a helper run
sig() { sed -n 's/^SIG //p' <<<"$1"; }
# err_ms OUT: milliseconds from our last byte to the first ERROR
err_ms() { sed -n 's/^ERROR [0-9]* ms=\([0-9]*\) .*/\1/p' <<<"$1" | head -n 1; }

# put_ok NAME PORT DIR: a normal tcpput transfer succeeds and arrives intact
# (the "server still serving" check); removes the file afterwards.
ALIVE_N=0
put_ok() {
	local port=$2 dir=$3 f out rc
	ALIVE_N=$((ALIVE_N + 1))
	f=$T/src/alive-$ALIVE_N
	head -c $((100 + ALIVE_N % 500)) /dev/urandom >"$f"
	out=$("$BIN/tcpput" -q -t $((10 * SLOW)) "$f" "127.0.0.1:$port" 2>&1)
	rc=$?
	if [ $rc -ne 0 ] || ! cmp -s "$f" "$dir/alive-$ALIVE_N"; then
		why "server no longer serving: tcpput exit $rc: $out"
		rm -f "$dir/alive-$ALIVE_N"
		return 1
	fi
	rm -f "$dir/alive-$ALIVE_N"
}

# sanitizer_clean FILE...: no ASan/UBSan/LSan report in these logs
sanitizer_clean() { ! grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: .*Sanitizer' "$@" 2>/dev/null | grep -q .; }
# ---- end of the shared preamble ----

# Resident memory may grow this much over a phase (KiB).  Not all freed
# memory goes back to the kernel: glibc keeps per-thread malloc arenas and
# a cache of thread stacks; ASan keeps a quarantine (bounded here).  A leak
# shows as growth from one round of the same load to the next, which the
# 500-connection case measures separately.
RSS_SLACK=$((16 * 1024))
RSS_SLACK_500=$((32 * 1024))
RSS_GROWTH=$((4 * 1024))
if [ $SLOW -gt 1 ]; then
	export ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=16:thread_local_quarantine_size_kb=256"
	RSS_SLACK=$((64 * 1024))
	RSS_SLACK_500=$((192 * 1024))
	RSS_GROWTH=$((32 * 1024))
fi
# 500 held connections need 500 descriptors in tcpget and in the helper
[ "$(ulimit -n)" -ge 2048 ] || ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# fds_back NAME FDS: true once tcpget NAME has exactly FDS descriptors open
fds_back() {
	local pid i
	eval "pid=\$${1}_PID"
	for ((i = 0; i < 100 * SLOW; i++)); do
		[ "$(fds_of "$pid")" -eq "$2" ] && return 0
		sleep 0.05
	done
	return 1
}
# resources_back NAME FDS RSS [SLACK]: descriptors back exactly, memory
# within RSS + SLACK KiB
resources_back() {
	local pid rss slack=${4:-$RSS_SLACK}
	eval "pid=\$${1}_PID"
	fds_back "$1" "$2" || why "tcpget has $(fds_of "$pid") descriptors open, $2 before"
	rss=$(rss_of "$pid")
	[ -n "$rss" ] && [ "$rss" -le $(($3 + slack)) ] ||
		why "tcpget RSS ${rss:-?} KiB, was $3 KiB (allowed +$slack)"
	echo "     (tcpget: $(fds_of "$pid") fds, RSS ${rss:-?} KiB, before $3 KiB)"
}

L_D=$T/d
mkdir -p "$L_D"
start_tcpget L "$L_D" -t $((10 * SLOW)) || finish
# warm up (first connection thread, first file), then take the baseline
begin "warm-up transfer"
put_ok L "$L_PORT" "$L_D"
end_case
sleep 0.2
FD0=$(fds_of "$L_PID")
RSS0=$(rss_of "$L_PID")

# ---- 64 concurrent senders, 1 MiB each ----------------------------------------
for i in $(seq 1 64); do head -c $((1024 * 1024)) /dev/urandom >"$T/src/c$i"; done
begin "64 concurrent tcpput senders of 1 MiB: all exit 0, all identical"
pids=()
for i in $(seq 1 64); do
	"$BIN/tcpput" -q -t $((30 * SLOW)) "$T/src/c$i" "127.0.0.1:$L_PORT" >"$T/logs/put-$i" 2>&1 &
	pids+=($!)
done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
[ $fails -eq 0 ] || why "$fails senders failed: $(cat "$T"/logs/put-* | sort | uniq -c | head -n 3)"
diff=0
for i in $(seq 1 64); do cmp -s "$T/src/c$i" "$L_D/c$i" || diff=$((diff + 1)); done
[ $diff -eq 0 ] || why "$diff files missing or different"
[ -z "$(temps "$L_D")" ] || why "temporary files left"
resources_back L "$FD0" "$RSS0"
end_case
rm -f "$L_D"/c*

# ---- one sender, 3000 small files: all new, then all existing ----------------
mkdir -p "$T/src/many"
for i in $(seq 1 3000); do echo "small file $i" >"$T/src/many/s$i"; done
begin "one tcpput of 3000 small files: exit 0, all arrive"
out=$("$BIN/tcpput" -q -t $((3 * SLOW)) "$T/src/many"/* "127.0.0.1:$L_PORT" 2>&1); rc=$?
[ $rc -eq 0 ] || why "tcpput exit $rc, want 0"
n=$(find "$L_D" -name 's*' -type f | wc -l)
[ "$n" -eq 3000 ] || why "$n of 3000 files arrived"
end_case "$(tail -n 5 <<<"$out")"
begin "the same 3000 again (all exist): exit 1, each refused with 'file exists'"
out=$("$BIN/tcpput" -q -t $((3 * SLOW)) "$T/src/many"/* "127.0.0.1:$L_PORT" 2>&1); rc=$?
[ $rc -eq 1 ] || why "tcpput exit $rc, want 1"
n=$(grep -c 'file exists' <<<"$out")
[ "$n" -eq 3000 ] || why "$n of 3000 files refused as existing; other lines: $(grep -v 'file exists' <<<"$out" | sed 's/^tcpput: [^:]*: //' | sort | uniq -c | sort -rn | head -n 2 | tr -s ' \n' ' ')"
[ -z "$(temps "$L_D")" ] || why "temporary files left"
rm -f "$L_D"/s*
resources_back L "$FD0" "$RSS0"
end_case "$(grep -v 'file exists' <<<"$out" | tail -n 5)"

# ---- 2,000 junk connections in a row ---------------------------------------------
begin "2000 garbage connections: each ended promptly, server fine afterwards"
OUT=$("$HELPER" -p "$L_PORT" garbage 2000 $((RANDOM + 1)) 2>&1); rc=$?
grep -q '^GARBAGE n=2000 connfail=0 .* slow=0 ' <<<"$OUT" || why "junk connections: $OUT"
alive "$L_PID" || why "tcpget died"
put_ok L "$L_PORT" "$L_D"
[ -z "$(listing "$L_D")" ] || why "DIR holds $(listing "$L_D")"
resources_back L "$FD0" "$RSS0"
end_case "$OUT"
echo "     ($OUT)"

# ---- 500 idle connections held at once ----------------------------------------------
H_D=$T/h
mkdir -p "$H_D"
start_tcpget H "$H_D" --max-clients 600 -t 30 || finish
begin "warm-up transfer (second server)"
put_ok H "$H_PORT" "$H_D"
end_case
sleep 0.2
HFD0=$(fds_of "$H_PID")
HRSS0=$(rss_of "$H_PID")
# hold_round N: 500 connections held, a transfer through, then released
hold_round() {
	local log=$T/logs/hold500-$1 t0
	begin "round $1: 500 idle connections held: all get a session, a normal transfer still completes"
	: >"$log"
	"$HELPER" -p "$H_PORT" hold 500 $((40 * SLOW)) >"$log" 2>&1 &
	HOLD=$!
	PIDS+=("$HOLD")
	for ((i = 0; i < 400 * SLOW; i++)); do grep -q '^HELD' "$log" && break; sleep 0.05; done
	grep -q '^HELD 500 hello=500 other=0 failed=0' "$log" || why "held: $(cat "$log")"
	fds_back H $((HFD0 + 500)) || why "tcpget has $(fds_of "$H_PID") descriptors, want $((HFD0 + 500))"
	t0=${EPOCHREALTIME/./}
	put_ok H "$H_PORT" "$H_D"
	echo "     (transfer while 500 held: $(( (${EPOCHREALTIME/./} - t0) / 1000 )) ms; tcpget RSS $(rss_of "$H_PID") KiB, $(fds_of "$H_PID") fds)"
	end_case "$(cat "$log")"
	begin "round $1: 500 idle connections released: descriptors back, memory within bounds"
	kill -TERM "$HOLD"
	wait "$HOLD"
	grep -q '^RELEASED dropped=0' "$log" || why "tcpget dropped held connections early: $(tail -n 1 "$log")"
	resources_back H "$HFD0" "$HRSS0" "$RSS_SLACK_500"
	put_ok H "$H_PORT" "$H_D"
	end_case "$(cat "$log")"
}
hold_round 1
RSS1=$(rss_of "$H_PID")
hold_round 2
begin "no growth from round 1 to round 2 (no per-connection leak)"
rss=$(rss_of "$H_PID")
[ "$rss" -le $((RSS1 + RSS_GROWTH)) ] || why "RSS $RSS1 KiB after round 1, $rss KiB after round 2 (allowed +$RSS_GROWTH)"
end_case

for s in L H; do
	begin "tcpget $s exits 0 on SIGTERM"
	stop_tcpget $s; rc=$?
	[ $rc -eq 0 ] || why "exit status $rc"
	end_case
done
check "no sanitizer report in any tcpget log" sanitizer_clean "$T"/logs/*.err
finish
