#!/usr/bin/env bash
# Streams (tcpput -, pipes, FIFOs, the STREAM capability, STREAM_END) and
# tcpget --once and --stdout: real tcpget and tcpput processes over
# loopback.
# usage: bash tests/stream.sh BUILD_DIR
SUITE=stream
. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PUT="$BIN/tcpput"
GET="$BIN/tcpget"
HOSTILE="$BIN/helper_hostile"
FRECV="$BIN/helper_receiver"
if [ ! -x "$HOSTILE" ] || [ ! -x "$FRECV" ]; then
	make -C "$ROOT" --no-print-directory BUILD="$BIN" "$HOSTILE" "$FRECV" >/dev/null || true
fi
SRC=$T/src
mkdir -p "$SRC"
head -c 5M /dev/urandom >"$SRC/5m"
b2() { b2sum <"$1" | cut -d' ' -f1; }

# wait_for CMD...: until CMD succeeds, at most 5 s
wait_for() {
	local i
	for ((i = 0; i < 100; i++)); do "$@" && return 0; sleep 0.05; done
	return 1
}
has_temp() { [ -n "$(find "$1" -name '.tcpx-*' 2>/dev/null)" ]; }
# fifo_put NAME ADDR: tcpput - ADDR --name NAME reading a FIFO, in the
# background (SPID); the FIFO's writing end is descriptor $W, which the
# caller writes to and closes (exec {W}>&-)
fifo_put() {
	mkfifo "$SRC/fifo-$1"
	"$PUT" -q - "$2" --name "$1" <"$SRC/fifo-$1" 2>/dev/null &
	SPID=$!
	PIDS+=("$SPID")
	exec {W}>"$SRC/fifo-$1"
}

# once_start [ARGS...]: tcpget --once ARGS (start_receiver's, a directory
# of its own unless ARGS give one: -d comes last); sets OPID, OPORT, OOUT
# (stdout), OERR (the log)
once_start() {
	start_receiver "$T/once-default" --once -t 20 "$@" || return 1
	OPID=$RPID OPORT=$RPORT OOUT=$ROUT OERR=$RERR
}
# once_status: tcpget --once's exit status (it must end by itself: at most
# 10 s, then it is killed and 124 returned)
once_status() {
	local i
	for ((i = 0; i < 200; i++)); do
		kill -0 "$OPID" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$OPID" 2>/dev/null && { kill -KILL "$OPID"; wait "$OPID" 2>/dev/null; return 124; }
	wait "$OPID"
}

# --- streams into a directory ------------------------------------------
D=$T/d
start_receiver "$D"
A=127.0.0.1:$RPORT

out=$(head -c 5M "$SRC/5m" | "$PUT" - "$A" --name s.bin 2>"$T/err"); rc=$?
check "stdin stream of 5 MiB: exit 0" [ $rc -eq 0 ]
check "stdin stream: right b2sum" [ "$(b2 "$D/s.bin" 2>/dev/null)" = "$(b2 "$SRC/5m")" ]
check "stdin stream: its line says its final size" grep -q "^s.bin  5.0 MiB  blake2b-512:$(b2 "$SRC/5m")$" <<<"$out"
check "stdin stream: mode 0666 less the umask" [ "$(stat -c %a "$D/s.bin")" = "$(printf '%o' $((0666 & ~$(umask))))" ]
log_wait "$ROUT" "received s.bin \(5.0 MiB"
check "receiver logs the stream's final size" grep -q "received s.bin (5.0 MiB" "$ROUT"

printf '' | "$PUT" -q - "$A" --name empty; rc=$?
check "empty stream: exit 0, an empty file" holds '[ $rc -eq 0 ] && [ -f "$D/empty" ] && [ ! -s "$D/empty" ]'

mkdir -p "$SRC/tree/sub"
printf 'one\n' >"$SRC/tree/a"
head -c 300000 /dev/urandom >"$SRC/tree/sub/b"
tar -C "$SRC" -cf - tree | "$PUT" -q - "$A" --name tree.tar; rc=$?
mkdir -p "$T/x"
check "tar c dir | tcpput - --name dir.tar: exit 0" [ $rc -eq 0 ]
check "the tar arrived whole (extracts to the same tree)" \
	holds 'tar -C "$T/x" -xf "$D/tree.tar" && diff -r "$SRC/tree" "$T/x/tree" >/dev/null'

"$PUT" -q <(head -c 1000 "$SRC/5m") "$A" --name procsub; rc=$?
check "<(...) is a stream: arrives" holds '[ $rc -eq 0 ] && cmp -s <(head -c 1000 "$SRC/5m") "$D/procsub"'
head -c 70000 "$SRC/5m" | "$PUT" -q /dev/stdin "$A" --name devstdin; rc=$?
check "/dev/stdin (a pipe) is a stream: arrives" holds '[ $rc -eq 0 ] && cmp -s <(head -c 70000 "$SRC/5m") "$D/devstdin"'
mkfifo "$SRC/fifo"
(head -c 600000 "$SRC/5m" >"$SRC/fifo") &
WPID=$!
"$PUT" -q "$SRC/fifo" "$A"; rc=$?
wait "$WPID"
check "a FIFO is a stream, sent under its base name" holds '[ $rc -eq 0 ] && cmp -s <(head -c 600000 "$SRC/5m") "$D/fifo"'
"$PUT" -q - "$A" --name regular <"$SRC/5m"; rc=$?
check "- that is a regular file is sent as one (known size)" holds '[ $rc -eq 0 ] && cmp -s "$SRC/5m" "$D/regular"'
head -c 2M "$SRC/5m" | "$PUT" -q -z6 - "$A" --name zipped; rc=$?
check "-z6 stream: arrives" holds '[ $rc -eq 0 ] && cmp -s <(head -c 2M "$SRC/5m") "$D/zipped"'
seq 1 400000 >"$SRC/seq"
err=$(cat "$SRC/seq" | "$PUT" -v -z - "$A" --name seq 2>&1); rc=$?
wire=$(sed -n 's/.* \([0-9]*\) bytes on the wire for .*/\1/p' <<<"$err")
check "-z stream of text: arrives compressed (fewer bytes on the wire)" \
	holds '[ $rc -eq 0 ] && cmp -s "$SRC/seq" "$D/seq" && [ -n "$wire" ] && [ "$wire" -lt "$(stat -c %s "$SRC/seq")" ]'

# --name on a single file, with a destination directory
printf 'hello\n' >"$SRC/orig.txt"
"$PUT" -q "$SRC/orig.txt" "$A:inbox/" --name renamed.txt; rc=$?
check "--name renames a file, under host:dir/" holds '[ $rc -eq 0 ] && cmp -s "$SRC/orig.txt" "$D/inbox/renamed.txt" && [ ! -e "$D/orig.txt" ]'

"$PUT" -q -r "$SRC/tree" "$A:trees/" --name renamed; rc=$?
check "--name renames the tree of -r DIR" holds '[ $rc -eq 0 ] && diff -r "$SRC/tree" "$D/trees/renamed" >/dev/null'

# JSON: no size before the end, the final one after
json=$(head -c 3000 "$SRC/5m" | "$PUT" --json - "$A" --name j.bin 2>/dev/null)
check "--json: file_start has size null" holds 'jq -se "map(select(.event == \"file_start\"))[0].size == null" <<<"$json" >/dev/null'
check "--json: file_done has the final size" holds 'jq -se "map(select(.event == \"file_done\"))[0].size == 3000" <<<"$json" >/dev/null'
# progress: bytes so far, never a percentage
err=$(head -c 3M "$SRC/5m" | "$PUT" --progress - "$A" --name p.bin 2>&1 >/dev/null)
check "--progress of a stream: bytes so far, no percentage" holds 'grep -q "so far" <<<"$err" && ! grep -q "%" <<<"$err"'

# usage errors
err=$(printf x | "$PUT" - "$A" 2>&1); rc=$?
check "- without --name: usage error naming --name" holds '[ $rc -eq 2 ] && grep -q -- "--name" <<<"$err"'
err=$("$PUT" --name n "$SRC/orig.txt" "$SRC/5m" "$A" 2>&1); rc=$?
check "--name with two inputs: usage error" [ $rc -eq 2 ]
err=$("$PUT" --name ../up "$SRC/orig.txt" "$A" 2>&1); rc=$?
check "--name ../up: usage error" holds '[ $rc -eq 2 ] && [ ! -e "$T/up" ]'

# a producer that pauses: what it wrote goes at once, not when 256 KiB
# have come (the receiver would see nothing move)
fifo_put slow "$A"
printf 'first part\n' >&$W
temp_size() { local f; f=$(find "$D" -name '.tcpx-*' | head -n 1); [ -n "$f" ] && [ "$(stat -c %s "$f")" = "$1" ]; }
check "paused producer: its first 11 bytes reached the receiver before its end" wait_for temp_size 11
printf 'second part\n' >&$W
exec {W}>&-
wait "$SPID"; rc=$?
check "paused producer: the whole stream arrives" holds '[ $rc -eq 0 ] && [ "$(cat "$D/slow")" = "$(printf "first part\nsecond part")" ]'

# a sender killed in the middle of a stream: no file, no temporary
fifo_put killed "$A"
head -c 1M "$SRC/5m" >&$W
wait_for has_temp "$D"
check "killed sender: its stream was in progress (temporary file seen)" has_temp "$D"
{ kill -KILL "$SPID"; wait "$SPID"; } 2>/dev/null
exec {W}>&-
log_wait "$RERR" "closed by the sender mid-transfer"
check "killed sender: receiver saw the connection end mid-transfer" grep -q "mid-transfer" "$RERR"
check "killed sender: no file under its name" [ ! -e "$D/killed" ]
check "killed sender: no temporary left" wait_for no_temp "$D"
stop_receiver

# a stream larger than --max-size: refused part way, nothing left
M=$T/m
start_receiver "$M" --max-size 1M
err=$(head -c 3M "$SRC/5m" | "$PUT" - "127.0.0.1:$RPORT" --name big 2>&1); rc=$?
check "stream past --max-size: exit 1" [ $rc -eq 1 ]
check "stream past --max-size: says why" grep -q -- "--max-size" <<<"$err"
check "stream past --max-size: nothing stored, no temporary" holds '[ -z "$(ls -A "$M")" ]'
head -c 1M "$SRC/5m" | "$PUT" -q - "127.0.0.1:$RPORT" --name fits; rc=$?
check "stream of exactly --max-size: stored" holds '[ $rc -eq 0 ] && [ "$(stat -c %s "$M/fits")" = 1048576 ]'
stop_receiver

# the receiver's JSON: a stream has no size until its end
J=$T/j
start_receiver "$J" --json --max-size 100K
head -c 300K "$SRC/5m" | "$PUT" -q - "127.0.0.1:$RPORT" --name big 2>/dev/null
printf ab | "$PUT" -q - "127.0.0.1:$RPORT" --name small
log_wait "$ROUT" '"event":"file_done"'
check "receiver --json: a stream's file_start has size null" \
	holds 'jq -se "map(select(.event == \"file_start\" and .name == \"small\"))[0].size == null" "$ROUT" >/dev/null'
check "receiver --json: its file_done has the final size" \
	holds 'jq -se "map(select(.event == \"file_done\"))[0].size == 2" "$ROUT" >/dev/null'
check "receiver --json: a stream refused part way: size null, code 35, bytes so far" \
	holds 'jq -se "map(select(.event == \"file_failed\"))[0] | .size == null and .code == 35 and .bytes_so_far <= 102400" "$ROUT" >/dev/null'
stop_receiver

# a receiver that takes no stream (no STREAM capability: an older tcpget)
"$FRECV" hello answer bye >"$T/frecv.out" 2>&1 &
FPID=$!
PIDS+=("$FPID")
FPORT=$(port_in "$T/frecv.out" "$PORT_LINE")
err=$(printf abc | "$PUT" - "127.0.0.1:$FPORT" --name s 2>&1); rc=$?
wait "$FPID"
check "older receiver: tcpput asked for OFFER and STREAM" grep -q '^HELLO 1 1 12$' "$T/frecv.out"
check "older receiver: stream refused by tcpput, exit 1" [ $rc -eq 1 ]
check "older receiver: the message says so" grep -q "does not take streams" <<<"$err"
check "older receiver: no FILE was sent" holds '! grep -q "^FILE" "$T/frecv.out"'

# --- tcpget --once ------------------------------------------------------
O=$T/o
mkdir -p "$O"
once_start -d "$O"
"$PUT" -q "$SRC/orig.txt" "127.0.0.1:$OPORT"; rc=$?
once_status; grc=$?
check "--once: the transfer succeeds" holds '[ $rc -eq 0 ] && cmp -s "$SRC/orig.txt" "$O/orig.txt"'
check "--once: tcpget exits 0 after the one session" [ $grc -eq 0 ]
once_start -d "$O"
echo changed >>"$O/orig.txt"    # an identical file would be skipped (exit 0)
"$PUT" -q "$SRC/orig.txt" "127.0.0.1:$OPORT" 2>/dev/null; rc=$?
once_status; grc=$?
check "--once: a refused file (exists, differs) makes tcpget exit 3" holds '[ $rc -eq 1 ] && [ $grc -eq 3 ]'
once_start -d "$O"
out=$("$HOSTILE" -p "$OPORT" hello file:1:3:bad.txt data:abc end:bad bye 2>&1)
once_status; grc=$?
check "--once: a digest mismatch makes tcpget exit 4" holds '[ $grc -eq 4 ] && [ ! -e "$O/bad.txt" ]'
once_start -d "$O"
out=$("$HOSTILE" -p "$OPORT" hello file:1:100:cut.txt data:abc close 2>&1)
once_status; grc=$?
check "--once: a connection lost mid-file makes tcpget exit 5" holds '[ $grc -eq 5 ] && [ ! -e "$O/cut.txt" ] && no_temp "$O"'
once_start -d "$O"
out=$("$HOSTILE" -p "$OPORT" hello hdr:99:0:0:0 2>&1)
once_status; grc=$?
check "--once: a protocol error makes tcpget exit 6" [ $grc -eq 6 ]
# while its one session runs, a second sender is refused by the system
O2=$T/o2
mkdir -p "$O2"
once_start -d "$O2"
fifo_put first "127.0.0.1:$OPORT"
printf 'part\n' >&$W
wait_for has_temp "$O2"
err=$("$PUT" -q "$SRC/orig.txt" "127.0.0.1:$OPORT" 2>&1); rc2=$?
exec {W}>&-
wait "$SPID"; rc=$?
once_status; grc=$?
check "--once: a second sender meanwhile is refused (connection refused, exit 5)" \
	holds '[ $rc2 -eq 5 ] && grep -q "connection refused" <<<"$err"'
check "--once: the first session still completes, exit 0" \
	holds '[ $rc -eq 0 ] && [ $grc -eq 0 ] && [ "$(cat "$O2/first")" = part ]'
once_start -d "$O"
kill -TERM "$OPID"
once_status; grc=$?
check "--once: stopped before any connection: exit 5" [ $grc -eq 5 ]

# --- tcpget --once --stdout ----------------------------------------------
once_start --stdout
"$PUT" -q "$SRC/5m" "127.0.0.1:$OPORT"; rc=$?
once_status; grc=$?
check "--stdout: a file: tcpput exit 0, tcpget exit 0" holds '[ $rc -eq 0 ] && [ $grc -eq 0 ]'
check "--stdout: standard output is the file, byte for byte" [ "$(b2 "$OOUT")" = "$(b2 "$SRC/5m")" ]
check "--stdout: the log went to stderr" grep -q "received 5m (5.0 MiB" "$OERR"

mkdir -p "$T/cwd"
(cd "$T/cwd" && "$GET" --stdout -p 0 -b 127.0.0.1 -t 20 2>"$T/pipe.err" | b2sum | cut -d' ' -f1 >"$T/pipe.sum"; echo "${PIPESTATUS[0]}" >"$T/pipe.rc") &
PPID_=$!
PPORT=$(port_in "$T/pipe.err" "$LISTEN_LINE")
head -c 5M "$SRC/5m" | "$PUT" -q - "127.0.0.1:$PPORT" --name piped; rc=$?
wait "$PPID_"
check "tcpget --stdout | b2sum of a stream: matches, tcpget exit 0" \
	holds '[ $rc -eq 0 ] && [ "$(cat "$T/pipe.sum")" = "$(b2 "$SRC/5m")" ] && [ "$(cat "$T/pipe.rc")" = 0 ]'
check "--stdout: nothing stored in the current directory" holds '[ -z "$(ls -A "$T/cwd")" ]'

once_start --stdout
tar -C "$SRC" -cf - tree | "$PUT" -q - "127.0.0.1:$OPORT" --name t.tar; rc=$?
once_status; grc=$?
rm -rf "$T/x2" && mkdir -p "$T/x2"
check "tar c | tcpput - ... | tcpget --stdout | tar x: the same tree" \
	holds '[ $rc -eq 0 ] && [ $grc -eq 0 ] && tar -C "$T/x2" -xf "$OOUT" && diff -r "$SRC/tree" "$T/x2/tree" >/dev/null'

once_start --stdout
out=$("$HOSTILE" -p "$OPORT" hello:1:1:8 file:1:0xffffffffffffffff:s data:hello send:5:bad bye 2>&1)
once_status; grc=$?
check "--stdout: a stream's digest mismatch: tcpget exits non-zero (4)" [ $grc -eq 4 ]
check "--stdout: the sender got RESULT 34" grep -q "^SIG H R1=34 B" <<<"$out"
check "--stdout: what was written is the data received (hello)" [ "$(cat "$OOUT")" = hello ]

once_start --stdout
err=$("$PUT" "$SRC/orig.txt" "$SRC/tree/a" "127.0.0.1:$OPORT" 2>&1); rc=$?
once_status; grc=$?
check "--stdout: a second file refused (45): tcpput exit 1, tcpget exit 3" holds '[ $rc -eq 1 ] && [ $grc -eq 3 ]'
check "--stdout: tcpput says the receiver takes one file" grep -q "takes one file" <<<"$err"
check "--stdout: only the first file is on standard output" cmp -s "$SRC/orig.txt" "$OOUT"

once_start --stdout
out=$("$HOSTILE" -p "$OPORT" hello file:1:1000000:x fill:1000 close 2>&1)
once_status; grc=$?
check "--stdout: a connection lost mid-file: exit 5" [ $grc -eq 5 ]

if command -v script >/dev/null; then
	script -qec "$GET --stdout -p 0 -b 127.0.0.1" /dev/null >"$T/tty.out" 2>&1; rc=$?
	check "--stdout to a terminal: refused, exit 1" holds '[ $rc -eq 1 ] && grep -q "is a terminal" "$T/tty.out"'
fi
err=$("$GET" --stdout --overwrite 2>&1); rc=$?
check "--stdout --overwrite: usage error" [ $rc -eq 2 ]
err=$("$GET" --stdout --allow-overwrite 2>&1); rc=$?
check "--stdout --allow-overwrite: usage error" holds '[ $rc -eq 2 ] && grep -q "allow-overwrite" <<<"$err"'

# --- streams and offers together (tcpget grants OFFER and STREAM) --------
# An offered stream has its size unknown and no flags: never identical,
# never resumed, so it is sent, or refused by the policy (tcpxfer(5)).
OD=$T/od
start_receiver "$OD" --allow-overwrite
A2=127.0.0.1:$RPORT
U=0xffffffffffffffff
err=$(printf 'one\n' | "$PUT" -v - "$A2" --name s 2>&1 >/dev/null); rc=$?
check "offers+streams: a stream offered to tcpget arrives, exit 0" \
	holds '[ $rc -eq 0 ] && [ "$(cat "$OD/s")" = one ]'
check "offers+streams: the session granted OFFER and STREAM (0xc)" grep -q "capabilities 0xc)" <<<"$err"
err=$(printf 'one\n' | "$PUT" - "$A2" --name s 2>&1 >/dev/null); rc=$?
check "offers+streams: the same stream again is not 'identical': refused, exit 1" \
	holds '[ $rc -eq 1 ] && grep -q "exists and differs" <<<"$err"'
printf 'two\n' | "$PUT" -q -c --resume - "$A2" --name s2; rc=$?
check "offers+streams: -c and --resume do nothing for a stream: it arrives whole" \
	holds '[ $rc -eq 0 ] && [ "$(cat "$OD/s2")" = two ]'
printf 'three\n' | "$PUT" -q --overwrite - "$A2" --name s; rc=$?
check "offers+streams: --overwrite (receiver allows it) replaces with the stream" \
	holds '[ $rc -eq 0 ] && [ "$(cat "$OD/s")" = three ]'
out=$(printf 'four\n' | "$PUT" --keep-both - "$A2" --name s 2>/dev/null); rc=$?
check "offers+streams: --keep-both keeps both (s.1 is the stream)" \
	holds '[ $rc -eq 0 ] && [ "$(cat "$OD/s.1")" = four ] && [ "$(cat "$OD/s")" = three ]'
check "offers+streams: the line says where it was stored" grep -q "kept both: stored as s.1" <<<"$out"
out=$("$HOSTILE" -p "$RPORT" hello:1:1:12 offer:1:$U:0:1:h file:1:$U:h data:abc send:3 bye 2>&1)
check "offers+streams: an OFFER of unknown size asking to resume is answered SEND" \
	holds 'grep -q "^SIG H A1=0 R1=0 B" <<<"$out" && [ "$(cat "$OD/h")" = abc ]'
out=$("$HOSTILE" -p "$RPORT" hello:1:1:12 offer:1:$U:0:1:c file:1:$U:c fill:1000 waitframes:1 waittemp:"$OD" close 2>&1)
check "offers+streams: a stream cut mid-way keeps no partial data" wait_for eval '! has_temp "$OD"'
stop_receiver

once_start --stdout
"$PUT" -q -c --resume "$SRC/orig.txt" "127.0.0.1:$OPORT"; rc=$?
once_status; grc=$?
check "--stdout with offers (-c --resume): the file is sent, both exit 0" \
	holds '[ $rc -eq 0 ] && [ $grc -eq 0 ] && cmp -s "$SRC/orig.txt" "$OOUT"'
once_start --stdout
out=$("$HOSTILE" -p "$OPORT" hello:1:1:12 offer:1:$U:0:0:x offer:2:3:0:0:y file:1:$U:x data:hi send:2 bye 2>&1)
once_status; grc=$?
check "--stdout with offers: the first offer SEND, the second refused 45 at once" \
	holds 'grep -q "^SIG H A1=0 A2=4/45 R1=0 B" <<<"$out" && [ "$(cat "$OOUT")" = hi ] && [ $grc -eq 3 ]'

# under ASan/UBSan (build-asan): no report in any tcpget log
stop_receiver
check "no sanitizer report in any tcpget log" \
	holds '! grep -l -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$T"/get-err.* "$T/pipe.err" 2>/dev/null | grep -q .'

finish
