#!/usr/bin/env bash
# Several connections per session (tcpput --streams, the MULTI capability,
# man/tcpxfer.5 SEVERAL CONNECTIONS): real tcpget and tcpput processes
# over loopback; build/helper_hostile for a JOIN with a wrong token and
# build/helper_lanecut to cut one joined connection mid-transfer.
# usage: bash tests/multi.sh BUILD_DIR
SUITE=multi
. "$(dirname "$0")/lib.sh"

PUT="$BIN/tcpput"
GET="$BIN/tcpget"
HOSTILE="$BIN/helper_hostile"
LANECUT="$BIN/helper_lanecut"
SRC=$T/src
mkdir -p "$SRC/tree/a/b" "$SRC/tree/c"
export XDG_CONFIG_HOME=$T/config
unset TCPX_KEY
head -c $((64 << 20)) /dev/urandom >"$SRC/big"
SUM=$(b2sum <"$SRC/big" | cut -d' ' -f1)
for i in $(seq 1 40); do head -c $((i * 997)) /dev/urandom >"$SRC/tree/a/f$i"; done
head -c 1000000 /dev/urandom >"$SRC/tree/a/b/mid"
head -c $((3 << 20)) /dev/urandom >"$SRC/tree/c/large"
: >"$SRC/tree/c/empty"

same_big() { [ "$(b2sum <"$1/big" | cut -d' ' -f1)" = "$SUM" ]; }
# lanes_used OUT N: tcpput -v said N extra connections joined, and each
# sent data of the file (more than its HELLO and JOIN)
lanes_used() {
	[ "$(grep -c "extra connection [0-9]* joined" "$1")" -eq "$2" ] &&
	[ "$(grep -cE "extra connection [0-9]+: [0-9]{6,} bytes sent" "$1")" -eq "$2" ]
}

# --- one large file over four connections --------------------------------
D=$T/d1
start_receiver "$D" -v
"$PUT" -v --streams 4 "$SRC/big" "127.0.0.1:$RPORT" >"$T/out" 2>"$T/err"; rc=$?
check "--streams 4, 64 MiB: exit 0, b2sum identical" holds '[ $rc -eq 0 ] && same_big "$D"'
check "--streams 4: three extra connections joined and carried data" lanes_used "$T/err" 3
log_wait "$RERR" "connection [0-9] joined the session" 3
check "--streams 4: the receiver saw three joins" \
	holds '[ "$(grep -c "joined the session" "$RERR")" -eq 3 ]'
check "--streams 4: no warning, no temporary file" \
	holds '! grep -q warning "$T/err" && no_temp "$D"'

# --- a tree, and the offers ---------------------------------------------------
"$PUT" -v -r --streams 4 "$SRC/tree" "127.0.0.1:$RPORT" >"$T/out" 2>"$T/err"; rc=$?
check "--streams 4 -r: a tree of 43 files, exit 0, identical" \
	holds '[ $rc -eq 0 ] && diff -r "$SRC/tree" "$D/tree" >/dev/null'
check "--streams 4 -r: no warning" holds '! grep -q warning "$T/err"'
out=$("$PUT" --streams 4 -r "$SRC/tree" "127.0.0.1:$RPORT" 2>&1); rc=$?
check "--streams 4 -r again: every file skipped as identical (offers)" \
	holds '[ $rc -eq 0 ] && [ "$(grep -c "same size and time" <<<"$out")" -eq 43 ]'
out=$("$PUT" --streams 3 -c "$SRC/big" "127.0.0.1:$RPORT" 2>&1); rc=$?
check "--streams 3 -c: the big file skipped by digest" \
	holds '[ $rc -eq 0 ] && grep -q "same digest" <<<"$out"'
printf x >>"$D/big"
out=$("$PUT" --streams 3 "$SRC/big" "127.0.0.1:$RPORT" 2>&1); rc=$?
check "--streams 3, a different file of that name: refused (exists), exit 1" \
	holds '[ $rc -eq 1 ] && grep -q "exists" <<<"$out"'
stop_receiver

# --- with keys ------------------------------------------------------------------
K=$T/keys
mkdir -p "$K"
"$GET" --genkey "$K/r" >/dev/null 2>&1
"$PUT" --genkey "$K/s" >/dev/null 2>&1
cut -d' ' -f1-2 "$K/s.pub" >"$K/authorized"
D=$T/d2
start_receiver "$D" -v --key "$K/r" --authorized "$K/authorized"
"$PUT" -v --key "$K/s" --peer-key "$K/r.pub" --streams 4 "$SRC/big" \
	"127.0.0.1:$RPORT" >"$T/out" 2>"$T/err"; rc=$?
check "--key --streams 4: exit 0, b2sum identical" holds '[ $rc -eq 0 ] && same_big "$D"'
check "--key --streams 4: three extra connections joined, each SECURE" \
	holds 'lanes_used "$T/err" 3 && log_wait "$RERR" "joined the session" 3'
"$PUT" --genkey "$K/s2" >/dev/null 2>&1
out=$("$PUT" --key "$K/s2" --peer-key "$K/r.pub" --streams 4 "$SRC/big" \
	"127.0.0.1:$RPORT" 2>&1); rc=$?
check "--key of an unlisted sender with --streams: refused (exit 7)" \
	holds '[ $rc -eq 7 ] && grep -q "not authorized" <<<"$out"'
stop_receiver

# --- fallback: a receiver that takes no extra connection -------------------------
D=$T/d3
start_receiver "$D" --max-streams 0
"$PUT" --streams 4 "$SRC/big" "127.0.0.1:$RPORT" >"$T/out" 2>"$T/err"; rc=$?
check "--max-streams 0: --streams 4 falls back to one connection, exit 0, identical" \
	holds '[ $rc -eq 0 ] && same_big "$D"'
check "--max-streams 0: one warning, and only one" \
	holds '[ "$(grep -c "warning" "$T/err")" -eq 1 ] && grep -q "takes no extra connections" "$T/err"'
stop_receiver
D=$T/d4
start_receiver "$D" --max-streams 2
"$PUT" -v --streams 8 "$SRC/big" "127.0.0.1:$RPORT" >"$T/out" 2>"$T/err"; rc=$?
check "--max-streams 2: --streams 8 uses 3 connections, says so, identical" \
	holds '[ $rc -eq 0 ] && same_big "$D" && lanes_used "$T/err" 2 && grep -q "takes 2 extra connections" "$T/err"'

stop_receiver

# --- per-source limits count joined connections; compression ----------------------
D=$T/d6
start_receiver "$D" --max-per-source 2
"$PUT" -v --streams 4 "$SRC/big" "127.0.0.1:$RPORT" >"$T/out" 2>"$T/err"; rc=$?
check "--max-per-source 2: --streams 4 gets one extra connection, the rest refused busy, identical" \
	holds '[ $rc -eq 0 ] && same_big "$D" && lanes_used "$T/err" 1 && [ "$(grep -c "not used: receiver busy" "$T/err")" -eq 2 ]'
stop_receiver
D=$T/d7
start_receiver "$D"
# Compressible, yet long enough on the wire that the extra connections
# join before it ends (a text that shrinks 15-fold is sent before they do).
base64 -w 76 "$SRC/big" | head -c $((48 << 20)) >"$SRC/text"
"$PUT" -v --zstd --streams 3 "$SRC/text" "127.0.0.1:$RPORT" >"$T/out" 2>"$T/err"; rc=$?
check "--zstd --streams 3 (compression workers): exit 0, identical, smaller on the wire" \
	holds '[ $rc -eq 0 ] && cmp -s "$SRC/text" "$D/text" && lanes_used "$T/err" 2 && grep -q "wire" "$T/err"'

# --- a JOIN with a wrong token, while a session is in progress ----------------------
# The session's file is a pipe (a stream), so it is open, mid-file, while
# the JOIN is tried; it completes afterwards.
mkfifo "$T/fifo"
"$PUT" -v --streams 2 --name s.bin - "127.0.0.1:$RPORT" <"$T/fifo" >"$T/out" 2>"$T/err" &
PP=$!
PIDS+=("$PP")
exec 7>"$T/fifo"
head -c 100000 /dev/urandom | tee "$T/stream.part1" >&7
for _ in $(seq 100); do grep -q "extra connection 1 joined" "$T/err" && break; sleep 0.05; done
check "stream with --streams 2: its extra connection joined" grep -q "extra connection 1 joined" "$T/err"
TOKEN=$(printf '%064d' 7)
out=$("$HOSTILE" -p "$RPORT" -w 3000 hello:1:1:0x200 \
	raw:1500000000000022${TOKEN}0001 2>&1)
check "JOIN with a wrong token: refused with ERROR 20, connection closed" \
	grep -q "^SIG H E20 END" <<<"$out"
head -c 100000 /dev/urandom | tee "$T/stream.part2" >&7
exec 7>&-
wait "$PP"; rc=$?
check "JOIN refused: the session it tried completes (exit 0, identical)" \
	holds '[ $rc -eq 0 ] && cat "$T/stream.part1" "$T/stream.part2" | cmp -s - "$D/s.bin"'
log_wait "$RERR" "JOIN refused: unknown join token"
check "JOIN refused: the receiver says why" grep -q "JOIN refused: unknown join token" "$RERR"
stop_receiver

# --- a joined connection cut mid-transfer, then --resume --------------------------------
D=$T/d5
start_receiver "$D"
"$LANECUT" "$RPORT" 2 $((8 << 20)) >"$T/cut.out" 2>&1 &
LPID=$!
PIDS+=("$LPID")
LPORT=$(port_in "$T/cut.out" "$RELAY_LINE")
"$PUT" --streams 3 "$SRC/big" "127.0.0.1:$LPORT" >"$T/out" 2>"$T/err"; rc=$?
check "joined connection cut: tcpput fails (exit 5) and says a connection was lost" \
	holds '[ $rc -eq 5 ] && grep -q "lost" "$T/err"'
log_wait "$RERR" "joined connection was lost"
check "joined connection cut: the receiver says so; nothing under the final name" \
	holds 'grep -q "joined connection was lost" "$RERR" && [ ! -e "$D/big" ]'
kill "$LPID" 2>/dev/null; wait "$LPID" 2>/dev/null
"$PUT" --json --resume --streams 3 "$SRC/big" "127.0.0.1:$RPORT" >"$T/out" 2>"$T/err"; rc=$?
check "--resume --streams 3 after the cut: exit 0, identical, no partial left" \
	holds '[ $rc -eq 0 ] && same_big "$D" && no_temp "$D"'
stop_receiver

# Under the sanitizer build (build-asan) a report would be in these logs.
check "no sanitizer report in any tcpget or tcpput log" \
	holds '! grep -qE "Sanitizer|runtime error" "$T"/get-err.* "$T/err" "$T/out" 2>/dev/null'

finish
