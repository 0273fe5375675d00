#!/usr/bin/env bash
# tests/load.sh: tcpget under load.  64 concurrent tcpput senders, 2,000
# junk connections in a row, 500 idle connections held open while a normal
# transfer goes through; after each, tcpget's open descriptors return
# exactly to where they were and its resident memory stays within a bound.
#
# usage: bash tests/load.sh BUILD_DIR       (e.g. build, build-asan)
SUITE=load
# The shared set-up: build dir, helper, scaling, assertions.
. "$(dirname "$0")/peer_lib.sh"

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
# identical ones are skipped (tests/rerun.sh): change them, so each is a
# different file under an existing name
for i in $(seq 1 3000); do echo "changed small file $i" >"$T/src/many/s$i"; done
begin "the same 3000 names again, changed (all exist): exit 1, each refused with 'file exists'"
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
start_tcpget H "$H_D" --max-clients 600 --max-per-source 600 -t 30 || finish
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

stops_cleanly L H
check "no sanitizer report in any tcpget log" sanitizer_clean "$T"/logs/*.err
finish
