#!/usr/bin/env bash
# zstd as a DATA encoding (tcpput --zstd, the ZSTD capability): real tcpget
# and tcpput processes over loopback, and tcpput against a fake receiver
# that grants no capability (the fallback).
# usage: bash tests/zstd.sh BUILD_DIR
SUITE=zstd
. "$(dirname "$0")/lib.sh"

PUT="$BIN/tcpput"
SRC=$T/src
mkdir -p "$SRC/tree/logs" "$SRC/tree/bin"
# compressible text: varied log lines, 2 MiB (several chunks)
for ((i = 0; i < 20000; i++)); do
	printf '2026-12-01T13:%02d:%02d host%d sshd[%d]: Accepted publickey for user%d from 10.0.%d.%d port %d\n' \
		$((i % 60)) $((i * 7 % 60)) $((i % 9)) $((1000 + i)) $((i % 13)) $((i % 251)) $((i * 3 % 251)) $((20000 + i))
done >"$SRC/text.log"
head -c 700000 /dev/urandom >"$SRC/random.bin"
cp "$SRC/text.log" "$SRC/tree/logs/a.log"
head -c 1000 "$SRC/text.log" >"$SRC/tree/logs/small.log"
head -c 300000 /dev/urandom >"$SRC/tree/bin/blob"
b2() { b2sum "$1" | cut -d' ' -f1; }
wire() { sed -n 's/.*"event":"summary".*"wire_bytes":\([0-9]*\).*/\1/p'; }

D=$T/d1
start_receiver "$D"

# --- a compressible file and a random one ---------------------------------
out=$("$PUT" --zstd --json "$SRC/text.log" "$SRC/random.bin" "127.0.0.1:$RPORT" 2>"$T/err"); rc=$?
check "zstd: exit 0" [ $rc -eq 0 ]
check "zstd: no warning" [ ! -s "$T/err" ]
check "zstd: text arrives with its b2sum" [ "$(b2 "$SRC/text.log")" = "$(b2 "$D/text.log")" ]
check "zstd: random arrives with its b2sum" [ "$(b2 "$SRC/random.bin")" = "$(b2 "$D/random.bin")" ]
check "zstd: no temporary file left" no_temp "$D"

# --- wire bytes: zstd smaller than zlib for text, random goes raw -----------
rm -f "$D/text.log" "$D/random.bin"
wz=$("$PUT" -z --json "$SRC/text.log" "127.0.0.1:$RPORT" 2>/dev/null | wire)
rm -f "$D/text.log"
ws=$("$PUT" --zstd --json "$SRC/text.log" "127.0.0.1:$RPORT" 2>/dev/null | wire)
rm -f "$D/text.log"
w19=$("$PUT" --zstd=19 --json "$SRC/text.log" "127.0.0.1:$RPORT" 2>/dev/null | wire)
size=$(stat -c %s "$SRC/text.log")
echo "     wire bytes of $size bytes of text: -z $wz, --zstd $ws, --zstd=19 $w19"
check "zstd: text on the wire smaller than with -z" [ -n "$ws" ] && [ -n "$wz" ] && [ "$ws" -lt "$wz" ]
check "zstd: --zstd=19 arrives intact" [ "$(b2 "$SRC/text.log")" = "$(b2 "$D/text.log")" ]
rm -f "$D/text.log"
wl=$("$PUT" --zstd -z --json "$SRC/text.log" "127.0.0.1:$RPORT" 2>/dev/null | wire)
check "zstd: --zstd then -z: the last one (zlib) counts" [ -n "$wl" ] && [ "$wl" = "$wz" ]
wr=$("$PUT" --zstd --json "$SRC/random.bin" "127.0.0.1:$RPORT" 2>/dev/null | wire)
rsize=$(stat -c %s "$SRC/random.bin")
# raw: the file plus frame headers (FILE, DATA, END, BYE...), well under 1%
check "zstd: random data goes raw (wire within 1% of its size)" \
	[ -n "$wr" ] && [ "$wr" -ge "$rsize" ] && [ "$wr" -lt $((rsize + rsize / 100)) ]

# --- a tree -----------------------------------------------------------------
"$PUT" --zstd -r "$SRC/tree" "127.0.0.1:$RPORT" >/dev/null 2>"$T/err"; rc=$?
check "zstd: tree exit 0" [ $rc -eq 0 ]
check "zstd: tree identical" holds '[ -z "$(diff -r "$SRC/tree" "$D/tree" 2>&1)" ]'

# --- usage --------------------------------------------------------------------
"$PUT" --zstd=20 "$SRC/text.log" "127.0.0.1:$RPORT" >/dev/null 2>"$T/err"; rc=$?
check "zstd: level 20 refused (usage, exit 2)" [ $rc -eq 2 ]
check "zstd: level 20 one-line error" holds '[ "$(wc -l <"$T/err")" -ge 1 ] && grep -q "^tcpput: .*level" "$T/err"'
(cd "$SRC" && "$PUT" --zstd 9 text.log "127.0.0.1:$RPORT" >/dev/null 2>"$T/err"); rc=$?
check "zstd: a detached level is refused with the spelling" holds '[ $rc -eq 2 ] && grep -q -- "--zstd=9" "$T/err"'
check "zstd: --help names --zstd" holds '"$PUT" --help | grep -q -- "--zstd\[=LEVEL\]"'
stop_receiver

# --- a receiver that grants no zstd: one warning, sent anyway ---------------
FRECV=$BIN/helper_receiver
"$FRECV" hello answer bye >"$T/frecv.out" 2>&1 &
fpid=$!
port=$(port_in "$T/frecv.out" "$PORT_LINE")
"$PUT" --zstd "$SRC/tree/logs/small.log" "127.0.0.1:$port" >/dev/null 2>"$T/err"; rc=$?
wait "$fpid"
check "zstd fallback: exit 0" [ $rc -eq 0 ]
caps=$(sed -n 's/^HELLO 1 1 //p' "$T/frecv.out")
check "zstd fallback: ZSTD (bit 8) and ZLIB (bit 0) asked for" holds '[ -n "$caps" ] && [ $((caps & 0x101)) = $((0x101)) ]'
check "zstd fallback: exactly one warning" holds '[ "$(grep -c "warning: the receiver does not offer zstd" "$T/err")" = 1 ]'
check "zstd fallback: the file was sent" grep -q "^END 1 data=1000" "$T/frecv.out"

finish
