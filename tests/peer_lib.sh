# tests/peer_lib.sh: the set-up shared by hostile.sh, faults.sh and load.sh
# (sourced after SUITE is set; takes the caller's $1, the build directory):
# tools and the helpers located or built, waits and memory bounds scaled
# for sanitizer builds, a private temp dir, counters, and the assertions.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(cd "${1:-build}" 2>/dev/null && pwd) || { echo "$SUITE: no build directory '${1:-build}'"; echo "$SUITE: 0 passed, 1 failed"; exit 1; }
HELPER=$BIN/helper_hostile       # a hostile sender
FRECV=$BIN/helper_receiver       # a fake receiver, for tcpput
# The helpers are built by `make integration`; build them here when the
# suite is run by hand (with the sanitizer flags if the library has them).
if [ ! -x "$HELPER" ] || [ ! -x "$FRECV" ]; then
	san=()
	if grep -qa __asan_init "$BIN/libtcpx-core.a" 2>/dev/null; then
		san=(EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" CFLAGS="-O1 -g")
	fi
	make -C "$ROOT" --no-print-directory BUILD="$BIN" "${san[@]}" "$HELPER" "$FRECV" >/dev/null || true
fi
for f in tcpget tcpput helper_hostile helper_receiver; do
	[ -x "$BIN/$f" ] || { echo "$SUITE: $BIN/$f missing (make tools $BIN/helper_hostile $BIN/helper_receiver)"; echo "$SUITE: 0 passed, 1 failed"; exit 1; }
done
# Sanitizer builds are slower and hungrier: scale waits and memory bounds.
SLOW=1
if grep -qa __asan_init "$BIN/tcpget"; then SLOW=3; fi
if grep -qs 'exec valgrind' "$BIN/tcpget"; then SLOW=5; fi
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
	for ((i = 0; i < 400 * SLOW; i++)); do
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

# stops_cleanly NAME...: each of these tcpgets that was started exits 0 on
# SIGTERM (one case each)
stops_cleanly() {
	local s pid rc
	for s in "$@"; do
		eval "pid=\${${s}_PID:-}"
		[ -n "$pid" ] || continue
		begin "tcpget $s exits 0 on SIGTERM"
		stop_tcpget "$s"; rc=$?
		[ $rc -eq 0 ] || why "exit status $rc"
		end_case
	done
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
# PUT_OK_ARGS: extra tcpput options (a receiver with a key needs --key).
PUT_OK_ARGS=()
ALIVE_N=0
put_ok() {
	local port=$2 dir=$3 f out rc
	ALIVE_N=$((ALIVE_N + 1))
	f=$T/src/alive-$ALIVE_N
	head -c $((100 + ALIVE_N % 500)) /dev/urandom >"$f"
	out=$("$BIN/tcpput" -q -t $((10 * SLOW)) ${PUT_OK_ARGS[@]+"${PUT_OK_ARGS[@]}"} "$f" "127.0.0.1:$port" 2>&1)
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
