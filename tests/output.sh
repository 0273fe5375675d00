#!/usr/bin/env bash
# tests/output.sh: what tcpget and tcpput print when names and traffic are
# hostile, and that printing never holds a session up (issue 9, "Output").
#   (a) Unicode line separators, bidi controls and other invisible format
#       characters in names come out escaped (\u{XXXX}) in tcpget's text
#       log and JSON, and on tcpput's stdout and stderr;
#   (b) a flood of refused and aborted files on one connection makes a
#       bounded log: 10 lines, then one summary line with the right count;
#   (c) tcpget -q prints no per-file refusal, but still the errors that end
#       a connection;
#   (d) a log consumer that stopped reading throttles no session: tcpput
#       transfers complete and SIGTERM still stops tcpget;
#   (e) records that do not fit are dropped and counted, and the count is
#       printed once the consumer reads again.
#
# usage: bash tests/output.sh BUILD_DIR       (e.g. build, build-asan)
# Needs: tcpget, tcpput and helper_hostile in BUILD_DIR; loopback only.
SUITE=output
. "$(dirname "$0")/peer_lib.sh"

WAIT=$((5000 * SLOW))
rep() { local s="" i; for ((i = 0; i < $2; i++)); do s+=$1; done; printf '%s' "$s"; }
# hexof BYTES: the bytes as hex, for the helper's filex step
hexof() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
LS=$'\xe2\x80\xa8'      # U+2028 LINE SEPARATOR
RLO=$'\xe2\x80\xae'     # U+202E RIGHT-TO-LEFT OVERRIDE
# raw_format FILE: true if FILE holds a raw U+2028, U+2029, U+202A-U+202E,
# U+2066-U+2069, U+200B-U+200F or U+FEFF
raw_format() { LC_ALL=C grep -qa -e $'\xe2\x80[\xa8-\xae]' -e $'\xe2\x81[\xa6-\xa9]' \
	-e $'\xe2\x80[\x8b-\x8f]' -e $'\xef\xbb\xbf' "$1"; }
# settle FILE WORD [TRIES]: waits (bounded: TRIES, default 100, times
# 50 ms) until FILE contains WORD.  tcpget's log is written by a thread of
# its own, a moment after the event: a case waits for the last line it
# expects, then looks.
settle() { local i; for ((i = 0; i < ${3:-100} * SLOW; i++)); do grep -qaF -- "$2" "$1" && return 0; sleep 0.05; done; return 1; }
# bytes FILE: its size
bytes() { wc -c <"$1" | tr -d ' '; }

mkdir -p "$T/a" "$T/b" "$T/j" "$T/q" "$T/s" "$T/e"

# ---- (a) escaping ---------------------------------------------------------
start_tcpget A "$T/a" -t $((10 * SLOW)) --max-size 100 || finish
# start_json NAME DIR [ARGS...]: start_tcpget for tcpget --json (whose
# listening record is JSON)
start_json() {
	local name=$1 dir=$2 i port=""
	shift 2
	"$BIN/tcpget" -d "$dir" -p 0 -b 127.0.0.1 --json "$@" >"$T/logs/$name.out" 2>"$T/logs/$name.err" &
	printf -v "${name}_PID" %s "$!"
	PIDS+=("$!")
	for ((i = 0; i < 400 * SLOW; i++)); do
		port=$(sed -n 's/^{"event":"listening","address":"127\.0\.0\.1:\([0-9]*\)".*/\1/p' "$T/logs/$name.out")
		[ -n "$port" ] && break
		sleep 0.05
	done
	printf -v "${name}_PORT" %s "$port"
	printf -v "${name}_OUT" %s "$T/logs/$name.out"
	printf -v "${name}_ERR" %s "$T/logs/$name.err"
	[ -n "$port" ] || { echo "tcpget $name did not start: $(cat "$T/logs/$name.err")"; return 1; }
}
start_json J "$T/j" -t $((10 * SLOW)) || finish

# accepted: "x<LS>forged line" and "gnp.<RLO>exe"; refused: "../<LS>y"
NAMES=(filex:1:3:"$(hexof "x${LS}forged line")" data:abc end
	filex:2:3:"$(hexof "gnp.${RLO}exe")" data:abc end
	filex:3:3:"$(hexof "../${LS}y")" data:abc end bye)
begin "tcpget text log: U+2028 and U+202E in names shown escaped"
OUT=$("$HELPER" -p "$A_PORT" -w "$WAIT" hello "${NAMES[@]}" 2>&1)
settle "$A_ERR" "refused ../"
[ "$(sig "$OUT")" = "H R1=0 R2=0 R3=32 B END" ] || why "replies '$(sig "$OUT")'"
for f in "$A_OUT" "$A_ERR"; do
	raw_format "$f" && why "raw format character in $(basename "$f")"
done
grep -qF 'received x\u{2028}forged line (' "$A_OUT" || why "U+2028 name not escaped on stdout"
grep -qF 'received gnp.\u{202e}exe (' "$A_OUT" || why "U+202E name not escaped on stdout"
grep -qF 'refused ../\u{2028}y (' "$A_ERR" || why "refused U+2028 name not escaped on stderr"
end_case "$(cat "$A_OUT" "$A_ERR")"

begin "tcpget --json: U+2028 and U+202E in names as \\u escapes"
OUT=$("$HELPER" -p "$J_PORT" -w "$WAIT" hello "${NAMES[@]}" 2>&1)
settle "$J_ERR" "refused ../"
[ "$(sig "$OUT")" = "H R1=0 R2=0 R3=32 B END" ] || why "replies '$(sig "$OUT")'"
for f in "$J_OUT" "$J_ERR"; do
	raw_format "$f" && why "raw format character in $(basename "$f")"
done
grep -qF '"name":"x\u2028forged line"' "$J_OUT" || why "U+2028 name not \\u2028 in JSON"
grep -qF '"name":"gnp.\u202eexe"' "$J_OUT" || why "U+202E name not \\u202e in JSON"
jq -e . "$J_OUT" >/dev/null 2>&1 || why "stdout is not JSON lines"
end_case "$(cat "$J_OUT" "$J_ERR")"

begin "tcpput: U+2028 and U+202E in names shown escaped on stdout and stderr"
big=$T/src/$(printf 'r%ss' "$LS")
small=$T/src/$(printf 't%su' "$RLO")
head -c 200 /dev/urandom >"$big"
head -c 20 /dev/urandom >"$small"
"$BIN/tcpput" -t $((10 * SLOW)) "$small" "$big" "127.0.0.1:$A_PORT" >"$T/put.out" 2>"$T/put.err"
rc=$?
[ $rc -eq 1 ] || why "exit $rc, want 1 (one file refused as too large)"
for f in "$T/put.out" "$T/put.err"; do
	raw_format "$f" && why "raw format character in $(basename "$f")"
done
grep -qF 't\u{202e}u  20 B  blake2b-512:' "$T/put.out" || why "U+202E name not escaped on stdout"
grep -qF 'r\u{2028}s: file too large' "$T/put.err" || why "U+2028 name not escaped on stderr"
end_case "$(cat "$T/put.out" "$T/put.err")"

# ---- (b) bounded log under a flood of refusals ------------------------------
# 1000 refused names of 4001-4004 bytes, then 1000 FILE+ABORT, on one connection:
# 2000 failed files, 10 of them shown, "1990" in the summary.
FLOOD=(hello files:1000:"../$(rep n 3997)":0)
for ((i = 1; i <= 1000; i++)); do FLOOD+=(file:+:10:"aborted-$(rep a 200)-$i" abort); done
FLOOD+=(bye)
# flood NAME: runs FLOOD against server NAME, checks the replies
flood() {
	local port sig32 sig38
	eval "port=\$${1}_PORT"
	OUT=$("$HELPER" -p "$port" -w $((20000 * SLOW)) "${FLOOD[@]}" 2>&1)
	sig32=$(sig "$OUT" | grep -o '=32' | wc -l)
	sig38=$(sig "$OUT" | grep -o '=38' | wc -l)
	[ "$sig32" -eq 1000 ] && [ "$sig38" -eq 1000 ] || why "replies: $sig32 RESULT 32, $sig38 RESULT 38, want 1000 each"
	case "$(sig "$OUT")" in *" B END") ;; *) why "session did not end with BYE";; esac
}

start_tcpget B "$T/b" -t $((20 * SLOW)) || finish
begin "2000 failed files on one connection: text log under 50 KB, summary says 1990"
flood B
settle "$B_ERR" "not shown" || why "no summary line"
n=$(grep -c ': refused ' "$B_ERR")
[ "$n" -eq 10 ] || why "$n refusal lines, want 10"
grep -qF ': 1990 more refused files not shown' "$B_ERR" || why "no summary line with 1990: $(grep 'not shown' "$B_ERR")"
[ "$(bytes "$B_ERR")" -lt 50000 ] || why "stderr holds $(bytes "$B_ERR") bytes"
[ "$(bytes "$B_OUT")" -lt 50000 ] || why "stdout holds $(bytes "$B_OUT") bytes"
grep -q '\.\.\.\[4001 bytes\] (0 B)' "$B_ERR" || why "a 4001-byte name is not cut with its length"
[ "$(awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }' "$B_ERR")" -lt 700 ] || why "a log line of 700 bytes or more"
end_case "$(head -c 3000 "$B_ERR")"

begin "the next connection has its own count (one refusal, shown)"
OUT=$("$HELPER" -p "$B_PORT" -w "$WAIT" hello file:1:0:../next end bye 2>&1)
settle "$B_ERR" "refused ../next" || why "the next connection's refusal is not shown"
[ "$(grep -c 'not shown' "$B_ERR")" -eq 1 ] || why "$(grep -c 'not shown' "$B_ERR") summary lines, want 1"
end_case "$(tail -n 3 "$B_ERR")"

begin "--json: the same flood, JSON log under 50 KB, a files_not_shown record of 1990"
# the flood alone: what the server logs from here on
j_out=$(bytes "$J_OUT") j_err=$(bytes "$J_ERR")
flood J
settle "$J_OUT" files_not_shown || why "no files_not_shown record"
tail -c +$((j_out + 1)) "$J_OUT" >"$T/j-flood.out"
tail -c +$((j_err + 1)) "$J_ERR" >"$T/j-flood.err"
[ "$(bytes "$T/j-flood.out")" -lt 50000 ] || why "stdout holds $(bytes "$T/j-flood.out") bytes"
[ "$(bytes "$T/j-flood.err")" -lt 50000 ] || why "stderr holds $(bytes "$T/j-flood.err") bytes"
got=$(jq -r 'select(.event == "files_not_shown") | .files' "$T/j-flood.out" 2>/dev/null)
[ "$got" = 1990 ] || why "files_not_shown says '$got', want 1990"
got=$(jq -r 'select(.event == "file_failed") | .name_bytes // empty' "$T/j-flood.out" 2>/dev/null | head -n 1)
[ "$got" = 4001 ] || why "a cut name does not say name_bytes 4001: '$got'"
n=$(grep -c '"event":"file_failed"' "$T/j-flood.out")
[ "$n" -eq 10 ] || why "$n file_failed records, want 10"
jq -e . "$T/j-flood.out" >/dev/null 2>&1 || why "stdout is not JSON lines"
end_case "$(head -c 3000 "$T/j-flood.out")"

# ---- (c) -q ------------------------------------------------------------------
# tcpget -q prints no listening line: its port is found from /proc
# listen_port PID: the port of PID's listening TCP socket on IPv4
listen_port() {
	local ino hex
	for ino in $(ls -l "/proc/$1/fd" 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\]$/\1/p'); do
		hex=$(awk -v ino="$ino" '$4 == "0A" && $10 == ino { sub(/.*:/, "", $2); print $2 }' /proc/net/tcp)
		[ -n "$hex" ] && { printf '%d' "0x$hex"; return 0; }
	done
	return 1
}
"$BIN/tcpget" -d "$T/q" -p 0 -b 127.0.0.1 -q -t $((10 * SLOW)) >"$T/logs/Q.out" 2>"$T/logs/Q.err" &
Q_PID=$!
PIDS+=("$Q_PID")
Q_OUT=$T/logs/Q.out Q_ERR=$T/logs/Q.err Q_PORT=""
for ((i = 0; i < 400 * SLOW; i++)); do
	Q_PORT=$(listen_port "$Q_PID") && break
	sleep 0.05
done
[ -n "$Q_PORT" ] || { echo "tcpget -q did not start: $(cat "$Q_ERR")"; finish; }
begin "tcpget -q: no per-file refusal; an error that ends a connection still shown"
OUT=$("$HELPER" -p "$Q_PORT" -w "$WAIT" hello files:20:../q:0 file:+:10:x abort bye 2>&1)
case "$(sig "$OUT")" in *"R21=38 B END") ;; *) why "replies '$(short "$(sig "$OUT")")'";; esac
OUT=$("$HELPER" -p "$Q_PORT" -w "$WAIT" hello hdr:100:0:0:0 2>&1)
[ "$(sig "$OUT")" = "H E3 END" ] || why "replies '$(sig "$OUT")' to an unknown frame type"
settle "$Q_ERR" "127.0.0.1:" || why "the protocol error that ended the connection is not shown"
grep -q 'refused\|not shown' "$Q_ERR" && why "per-file refusals printed"
end_case "$(cat "$Q_ERR")"

# ---- (d), (e) a log consumer that stopped reading ----------------------------
# tcpget's stdout is a FIFO we hold open and never read past the first
# line; junk fills the pipe, so every write tcpget makes to it would block.
FIFO=$T/fifo
mkfifo "$FIFO"
# start_stalled NAME DIR: tcpget NAME with stdout into the filled FIFO
start_stalled() {
	local line port pid
	exec 7<>"$FIFO"
	"$BIN/tcpget" -d "$2" -p 0 -b 127.0.0.1 -t $((10 * SLOW)) >"$FIFO" 2>"$T/logs/$1.err" &
	pid=$!
	PIDS+=("$pid")
	line=""
	read -r -t $((10 * SLOW)) -u 7 line
	port=$(sed -n 's/.*listening on .*:\([0-9][0-9]*\),.*/\1/p' <<<"$line")
	# fill the pipe: 4 KiB writes until one does not fit, then single bytes
	dd if=/dev/zero of="$FIFO" bs=4096 count=1024 oflag=nonblock 2>/dev/null
	dd if=/dev/zero of="$FIFO" bs=1 count=8192 oflag=nonblock 2>/dev/null
	printf -v "${1}_PID" %s "$pid"
	printf -v "${1}_PORT" %s "$port"
	printf -v "${1}_ERR" %s "$T/logs/$1.err"
	[ -n "$port" ]
}

begin "stalled log consumer: tcpput of 3 files still completes, exit 0"
if start_stalled S "$T/s"; then
	for i in 1 2 3; do head -c $((1000 * i)) /dev/urandom >"$T/src/stall$i"; done
	"$BIN/tcpput" -q -t $((5 * SLOW)) "$T/src/stall1" "$T/src/stall2" "$T/src/stall3" \
		"127.0.0.1:$S_PORT" >"$T/stall.out" 2>"$T/stall.err"
	rc=$?
	[ $rc -eq 0 ] || why "tcpput exit $rc: $(cat "$T/stall.err")"
	for i in 1 2 3; do cmp -s "$T/src/stall$i" "$T/s/stall$i" || why "stall$i not stored"; done
	OUT=$("$HELPER" -p "$S_PORT" -w "$WAIT" hello files:3:p:5 bye 2>&1)
	[ "$(sig "$OUT")" = "H R1=0 R2=0 R3=0 B END" ] || why "a second session: replies '$(sig "$OUT")'"
else
	why "tcpget did not start: $(cat "$S_ERR")"
fi
end_case

begin "stalled log consumer: SIGTERM still stops tcpget (exit 0, bounded wait)"
stop_tcpget S; rc=$?
[ $rc -eq 0 ] || why "exit status $rc (124: had to be killed)"
end_case "$(cat "$S_ERR")"
exec 7>&-

begin "stalled log consumer: dropped records are counted, the count printed later"
if start_stalled E "$T/e"; then
	# 2000 files: 2000 "received" lines, far more than the queue holds
	OUT=$("$HELPER" -p "$E_PORT" -w $((20000 * SLOW)) hello files:2000:f:0 bye 2>&1)
	case "$(sig "$OUT")" in *"R2000=0 B END") ;; *) why "replies '$(short "$(sig "$OUT")")'";; esac
	# read again: what was queued comes out.  Markers (one file each)
	# until one is shown (while the queue is still full they are dropped
	# too): the queue is FIFO, so everything before the one shown was
	# written or counted by then, and it carries the count of the drops.
	# (a reader of its own: it sees EOF once tcpget and fd 7 are gone)
	timeout $((30 * SLOW)) cat "$FIFO" >"$T/e.out" 7>&- &
	CAT=$!
	for ((k = 1; k <= 20; k++)); do
		"$HELPER" -p "$E_PORT" -w "$WAIT" hello files:1:m$k-:0 bye >/dev/null 2>&1
		settle "$T/e.out" "received m$k-1 " 20 && break
	done
	[ $k -le 20 ] || why "no marker shown once the consumer read again"
	stop_tcpget E; rc=$?
	[ $rc -eq 0 ] || why "exit status $rc"
	exec 7>&-
	wait "$CAT"
	shown=$(grep -ac ': received [fm][0-9-]*[0-9] ' "$T/e.out")
	dropped=$(sed -n 's/^tcpget: \([0-9][0-9]*\) log records dropped (output too slow)$/\1/p' "$E_ERR" | awk '{ s += $1 } END { print s + 0 }')
	[ "$dropped" -gt 0 ] || why "no 'log records dropped' line"
	[ $((shown + dropped)) -eq $((2000 + k)) ] || why "$shown lines shown + $dropped dropped != 2000 + $k"
	grep -aq 'tcpget: stopped' "$T/e.out" || why "no 'stopped' line once the consumer read again"
else
	why "tcpget did not start"
fi
end_case "$(cat "$E_ERR")"

stops_cleanly A J B Q
check "no sanitizer report in any tcpget log" sanitizer_clean "$T"/logs/*.err
finish
