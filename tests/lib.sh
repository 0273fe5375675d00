# tests/lib.sh: shared helpers of the shell test suites (sourced).
# Every suite: `BIN` (build dir with tcpput/tcpget), a private temp dir,
# pass/fail counters, a closing "SUITE: N passed, M failed" line, and a trap
# that stops every process it started.

set -u
BIN=$(cd "${1:-build}" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/tcpx-test.XXXXXX")
PASSED=0
FAILED=0
PIDS=()

cleanup() {
	for p in "${PIDS[@]:-}"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

ok() { PASSED=$((PASSED + 1)); echo "ok   $*"; }
bad() { FAILED=$((FAILED + 1)); echo "FAIL $*"; }
# check NAME CMD...: passes if CMD succeeds
check() { local n=$1; shift; if "$@"; then ok "$n"; else bad "$n"; fi; }
# holds EXPR: for check, when the condition has several parts (a && b)
holds() { eval "$1"; }

finish() {
	echo "$SUITE: $PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
	exit $?
}

# start_receiver DIR [ARGS...]: starts tcpget on a free loopback port (on
# $RBIND, default 127.0.0.1); sets RPID, RPORT, ROUT (stdout), RERR (stderr).
# The "listening" line is read from stdout, or stderr (tcpget --stdout), as
# text or as a JSON record (--json).
start_receiver() {
	local dir=$1; shift
	ROUT=$(mktemp "$T/get-out.XXXXXX")
	RERR=$(mktemp "$T/get-err.XXXXXX")
	"$BIN/tcpget" -d "$dir" -p 0 -b "${RBIND:-127.0.0.1}" "$@" >"$ROUT" 2>"$RERR" &
	RPID=$!
	PIDS+=("$RPID")
	RPORT=""
	for _ in $(seq 1 400); do
		RPORT=$(sed -n 's/.*listening on .*:\([0-9][0-9]*\),.*/\1/p
			s/.*"event":"listening","address":"[^"]*:\([0-9][0-9]*\)".*/\1/p' \
			"$ROUT" "$RERR" | head -n 1)
		[ -n "$RPORT" ] && return 0
		sleep 0.05
	done
	echo "tcpget did not start: $(cat "$RERR")" >&2
	return 1
}

# port_in FILE PATTERN: waits (bounded: 10 s) until FILE has a line
# matching the sed pattern PATTERN, whose \1 is a port; prints that port.
# For the helpers (PORT N, port N) and tcpget's listening line.
PORT_LINE='s/^PORT \([0-9][0-9]*\)$/\1/p'
RELAY_LINE='s/^port \([0-9][0-9]*\)$/\1/p'
LISTEN_LINE='s/.*listening on .*:\([0-9][0-9]*\),.*/\1/p'
port_in() {
	local i p
	for ((i = 0; i < 500; i++)); do
		p=$(sed -n "$2" "$1" 2>/dev/null | head -n 1)
		[ -n "$p" ] && { echo "$p"; return 0; }
		sleep 0.02
	done
	return 1
}

stop_receiver() {
	kill -TERM "$RPID" 2>/dev/null
	wait "$RPID" 2>/dev/null
}

# log_wait FILE REGEX [COUNT]: waits (bounded: 5 s) until FILE has COUNT
# (default 1) lines matching REGEX (grep -E).  tcpget writes its log from a
# thread of its own, a moment after the event it reports: a check that
# reads the log right after a transfer waits for the line first.
log_wait() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -cE -- "$2" "$1" 2>/dev/null)" -ge "${3:-1}" ] && return 0
		sleep 0.05
	done
	return 1
}

# no_temp DIR: no temporary file anywhere below DIR
no_temp() { [ -z "$(find "$1" -name '.tcpx-*' 2>/dev/null)" ]; }
