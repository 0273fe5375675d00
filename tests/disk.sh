#!/usr/bin/env bash
# tests/disk.sh: what senders can do to tcpget's disk, and a second
# receiver on the same directory.  Real tcpget processes on loopback,
# driven by build/helper_hostile and tcpput:
#
#  - deep new directories for files that are then aborted, refused or fail
#    leave no directory behind (directories exist only at commit);
#  - a second tcpget on the same directory refuses to start, and the
#    first one's file in progress completes.
#
# usage: bash tests/disk.sh BUILD_DIR       (e.g. build, build-asan)
SUITE=disk
# The shared set-up: build dir, helper, scaling, assertions.
. "$(dirname "$0")/peer_lib.sh"

WAIT=$((5000 * SLOW))
# started NAME DIR ARGS...: start_tcpget, counting a failure to start as a
# failed case (an unknown option, say) before giving up
started() {
	start_tcpget "$@" && return 0
	bad "tcpget $1 starts ($(head -c 300 "$T/logs/$1.err"))"
	finish
}
# hrun SERVER STEP...: one helper connection; output in OUT
hrun() {
	local port
	eval "port=\$${1}_PORT"
	shift
	OUT=$("$HELPER" -p "$port" -w "$WAIT" "$@" 2>&1)
}
want_sig() { [ "$(sig "$OUT")" = "$1" ] || why "replies '$(short "$(sig "$OUT")")', want '$(short "$1")'"; }
# dirs_below DIR: how many directories below DIR
dirs_below() { find "$1" -mindepth 1 -type d | wc -l; }
# deep N: "d/d/.../d" with N components
deep() { local s="" i; for ((i = 0; i < $1; i++)); do s+="d/"; done; printf '%s' "${s%/}"; }

# ---- directories of files that never arrive ---------------------------------
D=$T/flood
mkdir -p "$D"
started M "$D" --max-size=1000 -t $((10 * SLOW))
D62=$(deep 62)
begin "300 FILEs with 63 new directories each, then ABORT: no directory left"
steps=(hello) want="H"
for ((i = 1; i <= 300; i++)); do
	steps+=("file:$i:3:a$i/$D62/x" abort)
	want+=" R$i=38"
done
steps+=("file:301:3:ok" data:abc end bye)
want+=" R301=0 B END"
hrun M "${steps[@]}"
want_sig "$want"
n=$(dirs_below "$D")
[ "$n" -eq 0 ] || why "$n directories left under DIR (18,900 if every FILE left its own)"
after=$(listing "$D")
[ "$after" = "ok" ] || why "DIR holds '$(short "$after")', want 'ok'"
wait_no_temp "$D" || why "temporary file left"
alive "$M_PID" && put_ok M "$M_PORT" "$D"
rm -f "$D/ok"
end_case "$OUT"

begin "deep new directories for files that fail (data then ABORT, wrong digest, too big): none left"
steps=(hello) want="H"
for ((i = 1; i <= 100; i += 3)); do
	steps+=("file:$i:3:b$i/$D62/x" data:abc abort)
	steps+=("file:$((i + 1)):3:c$i/$D62/x" data:abc end:bad)
	steps+=("file:$((i + 2)):2000:e$i/$D62/x" fill:2000 end)
	want+=" R$i=38 R$((i + 1))=34 R$((i + 2))=35"
done
steps+=(bye)
want+=" B END"
hrun M "${steps[@]}"
want_sig "$want"
n=$(dirs_below "$D")
[ "$n" -eq 0 ] || why "$n directories left under DIR"
wait_no_temp "$D" || why "temporary file left"
alive "$M_PID" && put_ok M "$M_PORT" "$D"
end_case "$OUT"

# ---- a second tcpget on the same directory -------------------------------------------
L=$T/locked
mkdir -p "$L"
started L "$L" -t $((10 * SLOW))
begin "second tcpget on the same DIR exits 1 at once, naming the first; the file in flight completes"
rm -f "$T/go-lock"
"$HELPER" -p "$L_PORT" -w "$WAIT" hello file:1:2000000:inflight fill:1000000 \
	waittemp:"$L" waitfile:"$T/go-lock" fill:1000000 end bye >"$T/logs/inflight" 2>&1 &
HP=$!
PIDS+=("$HP")
for ((i = 0; i < 200 * SLOW; i++)); do grep -q TEMPSEEN "$T/logs/inflight" && break; sleep 0.025; done
grep -q TEMPSEEN "$T/logs/inflight" || why "no temporary file while the file was in flight"
for dir in "$L" "$L/."; do
	t0=${EPOCHREALTIME/./}
	"$BIN/tcpget" -d "$dir" -p 0 -b 127.0.0.1 >"$T/logs/second.out" 2>"$T/logs/second.err" &
	SP=$!
	PIDS+=("$SP")
	for ((i = 0; i < 60 * SLOW; i++)); do alive "$SP" || break; sleep 0.05; done
	if alive "$SP"; then
		why "-d $dir: the second tcpget is still running after $((3 * SLOW)) s"
		kill -TERM "$SP"
	fi
	{ wait "$SP"; } 2>/dev/null
	rc=$?
	ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
	[ $rc -eq 1 ] || why "-d $dir: second tcpget exit $rc, want 1"
	grep -qx "tcpget: $dir: already served by another tcpget (pid $L_PID holds its lock)" "$T/logs/second.err" ||
		why "-d $dir: message: $(cat "$T/logs/second.err")"
	[ ! -s "$T/logs/second.out" ] || why "-d $dir: the second tcpget printed: $(head -n 2 "$T/logs/second.out")"
	[ -n "$(temps "$L")" ] || why "-d $dir: the file in flight lost its temporary file"
	[ "$ms" -lt $((2000 * SLOW)) ] || why "-d $dir: took $ms ms"
done
touch "$T/go-lock"
wait "$HP"
OUT=$(cat "$T/logs/inflight")
want_sig "H R1=0 B END"
[ "$(stat -c %s "$L/inflight" 2>/dev/null)" = 2000000 ] || why "inflight did not arrive whole"
rm -f "$L/inflight"
alive "$L_PID" && put_ok L "$L_PORT" "$L"
end_case "$OUT$(printf '\n%s' "$(cat "$T/logs/second.err")")"

begin "once the first tcpget stopped, a new one starts on the DIR"
stop_tcpget L
started L2 "$L"
alive "$L2_PID" && put_ok L2 "$L2_PORT" "$L"
end_case

for s in M L2; do
	eval "pid=\${${s}_PID:-}"
	[ -n "$pid" ] || continue
	begin "tcpget $s exits 0 on SIGTERM"
	stop_tcpget $s; rc=$?
	[ $rc -eq 0 ] || why "exit status $rc"
	end_case
done
check "no sanitizer report in any tcpget log" sanitizer_clean "$T"/logs/*.err
finish
