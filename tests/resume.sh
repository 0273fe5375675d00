#!/usr/bin/env bash
# Resume (the OFFER capability, tcpput --resume): a transfer cut off part
# way keeps its data as partial data on the receiver, and a later run sends
# only what is missing, after both sides compared the prefix.  The cut
# comes at a known point: tests/helper_cutrelay forwards a fixed number of
# bytes, then cuts the connection or stalls it while the test kills a
# process.  Real tcpget and tcpput processes over loopback.
# usage: bash tests/resume.sh BUILD_DIR
SUITE=resume
. "$(dirname "$0")/lib.sh"

PUT="$BIN/tcpput"
RELAY="$BIN/helper_cutrelay"
SRC=$T/src
mkdir -p "$SRC"
SIZE=$((64 << 20))
head -c $SIZE /dev/urandom >"$SRC/big"
SUM=$(b2sum <"$SRC/big" | cut -d' ' -f1)

# wire_bytes of tcpput's JSON summary on stdin
wire() { sed -n 's/.*"event":"summary".*"wire_bytes":\([0-9]*\).*/\1/p'; }
partials() { find "$1" -name '.tcpx-*.part' 2>/dev/null; }
# partial_size DIR: bytes of its one partial file (0 if none)
partial_size() { local p; p=$(partials "$1" | head -n 1); [ -n "$p" ] && stat -c %s "$p" || echo 0; }
# wait_partial DIR BYTES: until DIR's partial holds at least BYTES (bounded: 10 s)
wait_partial() {
	local i
	for ((i = 0; i < 200; i++)); do
		[ "$(partial_size "$1")" -ge "$2" ] && return 0
		sleep 0.05
	done
	return 1
}
# relay_start MODE BYTES: a relay to the receiver; sets LPID, LPORT
relay_start() {
	"$RELAY" "$RPORT" "$2" "$1" >"$T/relay.out" 2>&1 &
	LPID=$!
	PIDS+=("$LPID")
	LPORT=$(port_in "$T/relay.out" "$RELAY_LINE")
}
# cut_at MIB: a first run whose connection the relay cuts after MIB MiB
cut_at() {
	relay_start cut $(($1 << 20))
	"$PUT" "$SRC/big" "127.0.0.1:$LPORT" >/dev/null 2>&1
	wait "$LPID"
	log_wait "$RERR" "mid-transfer"
}
# resumed DIR WIRE HAD: the copy is whole and the run moved about the
# missing part (within 1% of the file, for headers)
resumed() {
	[ "$(b2sum <"$1/big" | cut -d' ' -f1)" = "$SUM" ] || return 1
	local missing=$((SIZE - $3))
	[ "$2" -ge "$missing" ] && [ "$2" -le $((missing + SIZE / 100)) ]
}

# --- the connection cut by a relay at 24 MiB -------------------------------
D=$T/d1
start_receiver "$D"
relay_start cut $((24 << 20))
"$PUT" --json "$SRC/big" "127.0.0.1:$LPORT" >"$T/out" 2>"$T/err"; rc=$?
wait "$LPID"
check "cut: the first run fails (exit 5)" [ $rc -eq 5 ]
log_wait "$RERR" "connection closed by the sender mid-transfer"
had=$(partial_size "$D")
check "cut: partial data kept, not under the final name" holds '[ "$had" -gt $((20 << 20)) ] && [ ! -e "$D/big" ]'
check "cut: the partial is private (0600)" holds '[ "$(stat -c %a "$(partials "$D")")" = 600 ]'
w=$("$PUT" --json --resume "$SRC/big" "127.0.0.1:$RPORT" | tee "$T/out2" | wire)
check "cut, --resume: exit 0, identical (b2sum), sent about the missing part ($w bytes for $((SIZE - had)))" resumed "$D" "$w" "$had"
check "cut, --resume: file_done says where it resumed" grep -q "\"resumed_from\":$had" "$T/out2"
check "cut, --resume: no partial left" no_temp "$D"
stop_receiver

# --- the sender killed (SIGKILL) part way ----------------------------------
D=$T/d2
start_receiver "$D"
relay_start stall $((16 << 20))
"$PUT" "$SRC/big" "127.0.0.1:$LPORT" >/dev/null 2>&1 &
spid=$!
PIDS+=("$spid")
wait_partial "$D" $((15 << 20))
kill -KILL "$spid" 2>/dev/null
wait "$spid" 2>/dev/null
wait "$LPID"
log_wait "$RERR" "connection closed by the sender mid-transfer"
had=$(partial_size "$D")
check "sender killed: partial data kept" holds '[ "$had" -ge $((15 << 20)) ] && [ ! -e "$D/big" ]'
w=$("$PUT" --json --resume "$SRC/big" "127.0.0.1:$RPORT" | wire)
check "sender killed, --resume: identical, sent about the missing part ($w for $((SIZE - had)))" resumed "$D" "$w" "$had"
stop_receiver

# --- the receiver killed (SIGKILL) part way, restarted on the same dir ------
D=$T/d3
start_receiver "$D"
relay_start stall $((40 << 20))
"$PUT" "$SRC/big" "127.0.0.1:$LPORT" >/dev/null 2>&1 &
spid=$!
PIDS+=("$spid")
wait_partial "$D" $((39 << 20))
kill -KILL "$RPID"
wait "$RPID" 2>/dev/null
wait "$spid"; rc=$?
wait "$LPID"
check "receiver killed: the sender fails (exit 5)" [ $rc -eq 5 ]
had=$(partial_size "$D")
start_receiver "$D"
check "receiver restarted: the partial survives its clean-up of temporaries" holds 'sleep 0.3; [ "$(partial_size "$D")" -eq "$had" ] && [ "$had" -ge $((39 << 20)) ]'
w=$("$PUT" --json --resume "$SRC/big" "127.0.0.1:$RPORT" | wire)
check "receiver restarted, --resume: identical, sent about the missing part ($w for $((SIZE - had)))" resumed "$D" "$w" "$had"
stop_receiver

# --- without --resume: sent from 0, the partial data replaced ---------------
D=$T/d4
start_receiver "$D"
cut_at 8
w=$("$PUT" --json "$SRC/big" "127.0.0.1:$RPORT" | wire)
check "no --resume: everything sent again, identical" holds '[ "$w" -ge $SIZE ] && [ "$(b2sum <"$D/big" | cut -d" " -f1)" = "$SUM" ] && no_temp "$D"'
stop_receiver

# --- a changed source (prefix different): restarts from 0, still right -----
D=$T/d5
start_receiver "$D"
cut_at 8
cp -p "$SRC/big" "$T/big.orig"
# same size and mtime (same identity), other first bytes
printf 'CHANGED' | dd of="$SRC/big" bs=1 seek=1000 conv=notrunc status=none
touch -r "$T/big.orig" "$SRC/big"
NEWSUM=$(b2sum <"$SRC/big" | cut -d' ' -f1)
w=$("$PUT" --json --resume "$SRC/big" "127.0.0.1:$RPORT" | wire)
check "changed prefix, --resume: sent from 0, the copy is the new content" holds '[ "$w" -ge $SIZE ] && [ "$(b2sum <"$D/big" | cut -d" " -f1)" = "$NEWSUM" ] && no_temp "$D"'
stop_receiver
cp -p "$T/big.orig" "$SRC/big"

# --- damaged partial data: the prefix comparison catches it -------------
D=$T/d6
start_receiver "$D"
cut_at 8
stop_receiver
# the receiver answers with the digest of the data it holds, which is not
# the sender's any more: the sender sends it all, and the damage is gone
p=$(partials "$D")
printf 'X' | dd of="$p" bs=1 seek=5 conv=notrunc status=none
start_receiver "$D"
w=$("$PUT" --json --resume "$SRC/big" "127.0.0.1:$RPORT" | wire)
check "damaged partial: the prefix check catches it, sent from 0, identical" holds '[ "$w" -ge $SIZE ] && [ "$(b2sum <"$D/big" | cut -d" " -f1)" = "$SUM" ] && no_temp "$D"'
stop_receiver

# --- partial data expires: --keep-partial, and its age -----------------
D=$T/d7
start_receiver "$D"
cut_at 4
stop_receiver
check "expiry: a partial is there" holds '[ -n "$(partials "$D")" ]'
touch -d '2 days ago' "$(partials "$D")"
start_receiver "$D"
log_wait "$ROUT" "removed 1 temporary file"
check "expiry: older than 24 h, removed at start" holds '[ -z "$(partials "$D")" ]'
stop_receiver
start_receiver "$D" --keep-partial=0
cut_at 4
check "--keep-partial=0: nothing kept after a cut" holds 'sleep 0.2; no_temp "$D"'
stop_receiver

# --- two senders of the same file at once: they never share one partial ---
D=$T/d8
start_receiver "$D"
cut_at 8
"$PUT" -q --resume "$SRC/big" "127.0.0.1:$RPORT" >"$T/o1" 2>&1 &
p1=$!
"$PUT" -q --resume "$SRC/big" "127.0.0.1:$RPORT" >"$T/o2" 2>&1 &
p2=$!
PIDS+=("$p1" "$p2")
wait "$p1"; r1=$?
wait "$p2"; r2=$?
# one stores it; the other is refused (exists) or skipped, or stores it too
# if it came second; the file is whole either way
check "two senders at once: the file is whole, one of them succeeded" holds '[ $r1 -eq 0 ] || [ $r2 -eq 0 ]; [ "$(b2sum <"$D/big" | cut -d" " -f1)" = "$SUM" ] && no_temp "$D"'
stop_receiver

finish
