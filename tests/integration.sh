#!/usr/bin/env bash
# Integration tests: real tcpget and tcpput processes over loopback.
# usage: bash tests/integration.sh BUILD_DIR
SUITE=integration
. "$(dirname "$0")/lib.sh"

PUT="$BIN/tcpput"
SRC=$T/src
mkdir -p "$SRC"
head -c 1 /dev/urandom >"$SRC/one"
: >"$SRC/empty"
for n in 262143 262144 262145 524288 524289; do
	head -c $n /dev/urandom >"$SRC/b$n"
done
head -c $((24 * 1024 * 1024)) /dev/urandom >"$SRC/large"
seq 1 400000 | sed 's/^/log line number /' >"$SRC/text.txt"
printf 'hello, world\n' >"$SRC/hello.txt"

# --- basic transfers --------------------------------------------------
D=$T/d1
start_receiver "$D"
out=$("$PUT" "$SRC/hello.txt" "127.0.0.1:$RPORT" 2>&1); rc=$?
check "single file: exit 0" [ $rc -eq 0 ]
check "single file: identical" cmp -s "$SRC/hello.txt" "$D/hello.txt"
want=$(b2sum "$SRC/hello.txt" | cut -d' ' -f1)
check "single file: prints the b2sum digest" grep -q "blake2b-512:$want" <<<"$out"
log_wait "$ROUT" "received hello.txt "
check "receiver logs the file with digest" grep -q "received hello.txt .*$want" "$ROUT"

"$PUT" -q "$SRC/one" "$SRC/empty" "$SRC"/b* "127.0.0.1:$RPORT"; rc=$?
check "several files incl. empty and chunk boundaries: exit 0" [ $rc -eq 0 ]
all=1
for f in one empty b262143 b262144 b262145 b524288 b524289; do
	cmp -s "$SRC/$f" "$D/$f" || { all=0; echo "  differs: $f"; }
done
check "several files: all identical" [ $all -eq 1 ]
check "empty file arrives empty" holds '[ -f "$D/empty" ] && [ ! -s "$D/empty" ]'

# by host name where the machine resolves localhost (a bare chroot may not)
host=127.0.0.1
getent hosts localhost >/dev/null 2>&1 && host=localhost
"$PUT" -q "$SRC/large" "$host:$RPORT"; rc=$?
check "large file by host name ($host): exit 0" [ $rc -eq 0 ]
check "large file identical" cmp -s "$SRC/large" "$D/large"

# --- compression ------------------------------------------------------
D2=$T/d2
stop_receiver
start_receiver "$D2"
err=$("$PUT" -q -v -z "$SRC/text.txt" "127.0.0.1:$RPORT" 2>&1 >/dev/null); rc=$?
size=$(stat -c %s "$SRC/text.txt")
wire=$(sed -n 's/.*: \([0-9]*\) bytes on the wire.*/\1/p' <<<"$err")
check "-z text: exit 0 and identical" holds '[ $rc -eq 0 ] && cmp -s "$SRC/text.txt" "$D2/text.txt"'
check "-z text: wire bytes below a quarter of the size ($wire of $size)" holds ' [ -n "$wire" ] && [ "$wire" -lt $((size / 4)) ]'
rm -f "$D2/text.txt"
err=$("$PUT" -q -v "$SRC/text.txt" "127.0.0.1:$RPORT" 2>&1 >/dev/null)
wire=$(sed -n 's/.*: \([0-9]*\) bytes on the wire.*/\1/p' <<<"$err")
check "no -z: text goes raw ($wire >= $size)" holds '[ -n "$wire" ] && [ "$wire" -ge "$size" ]'
err=$("$PUT" -q -v -z9 "$SRC/b524288" "127.0.0.1:$RPORT" 2>&1 >/dev/null); rc=$?
wire=$(sed -n 's/.*: \([0-9]*\) bytes on the wire.*/\1/p' <<<"$err")
check "-z9 random data: sent raw, tiny overhead ($wire)" holds '[ $rc -eq 0 ] && [ "$wire" -lt $((524288 + 1024)) ] && cmp -s "$SRC/b524288" "$D2/b524288"'
check "-z: the received text decodes the same as the source" cmp -s "$SRC/text.txt" "$D2/text.txt"

# --- concurrency ------------------------------------------------------
D3=$T/d3
stop_receiver
start_receiver "$D3"
pids=()
for i in $(seq 1 8); do
	head -c $((1024 * 1024 + i)) /dev/urandom >"$SRC/c$i"
	"$PUT" -q "$SRC/c$i" "127.0.0.1:$RPORT" & pids+=($!)
done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
same=1
for i in $(seq 1 8); do cmp -s "$SRC/c$i" "$D3/c$i" || same=0; done
check "8 concurrent senders: all exit 0" [ $fails -eq 0 ]
check "8 concurrent senders: all identical" [ $same -eq 1 ]

# --- metadata ---------------------------------------------------------
cp "$SRC/hello.txt" "$SRC/mode.txt"
chmod 4750 "$SRC/mode.txt"
touch -d '2001-02-03 04:05:06.123456789' "$SRC/mode.txt"
"$PUT" -q "$SRC/mode.txt" "127.0.0.1:$RPORT"
check "mode kept, setuid dropped" [ "$(stat -c %a "$D3/mode.txt")" = 750 ]
check "mtime kept to the nanosecond" \
	[ "$(stat -c %y "$SRC/mode.txt")" = "$(stat -c %y "$D3/mode.txt")" ]
# Before 1970 with a fraction: tcpxfer(5) counts the nanoseconds forward
# from the second below (-1 s + 0.5 s), both ways.
cp "$SRC/hello.txt" "$SRC/old.txt"
touch -d '1969-12-31 23:59:59.5 UTC' "$SRC/old.txt"
"$PUT" -q "$SRC/old.txt" "127.0.0.1:$RPORT"
check "mtime half a second before 1970 kept" \
	[ "$(stat -c %.9Y "$D3/old.txt" 2>/dev/null)" = -0.500000000 ]

# --- refusals and errors ----------------------------------------------
printf 'original\n' >"$D3/keep.txt"
printf 'replacement\n' >"$SRC/keep.txt"
err=$("$PUT" "$SRC/keep.txt" "127.0.0.1:$RPORT" 2>&1 >/dev/null); rc=$?
check "existing file: exit 1" [ $rc -eq 1 ]
check "existing file: says so and how to overwrite" grep -q "file exists.*--overwrite" <<<"$err"
check "existing file: content untouched" grep -qx original "$D3/keep.txt"

err=$("$PUT" "$T/nonexistent" "$SRC/hello.txt" "127.0.0.1:$RPORT" 2>&1 >/dev/null); rc=$?
check "unreadable file: exit 3" [ $rc -eq 3 ]
check "unreadable file: names it" grep -q "tcpput: $T/nonexistent: No such file" <<<"$err"
check "unreadable file: the other file still arrives" cmp -s "$SRC/hello.txt" "$D3/hello.txt"
err=$("$PUT" "$SRC" "127.0.0.1:$RPORT" 2>&1); rc=$?
check "directory argument: exit 3, clear message" holds '[ $rc -eq 3 ] && grep -q "is a directory" <<<"$err"'

# a port with nobody listening: one a receiver just gave back
SAVE=("$RPID" "$RPORT" "$ROUT" "$RERR")
start_receiver "$T/dead"; deadport=$RPORT; stop_receiver
RPID=${SAVE[0]} RPORT=${SAVE[1]} ROUT=${SAVE[2]} RERR=${SAVE[3]}
err=$("$PUT" "$SRC/hello.txt" "127.0.0.1:$deadport" 2>&1); rc=$?
check "connection refused: exit 5" [ $rc -eq 5 ]
check "connection refused: one clear line with a hint" holds ' [ "$(wc -l <<<"$err")" -eq 1 ] && grep -q "connection refused: is tcpget running there?" <<<"$err"'

"$PUT" "$SRC/hello.txt" >/dev/null 2>&1; check "usage: one argument -> exit 2" [ $? -eq 2 ]
"$PUT" -z10 "$SRC/hello.txt" "127.0.0.1:$RPORT" >/dev/null 2>&1; check "usage: -z10 -> exit 2" [ $? -eq 2 ]
"$PUT" "$SRC/hello.txt" "127.0.0.1:99999" >/dev/null 2>&1; check "usage: port 99999 -> exit 2" [ $? -eq 2 ]
"$PUT" "$SRC/hello.txt" "[::1" >/dev/null 2>&1; check "usage: bad [v6 -> exit 2" [ $? -eq 2 ]
"$PUT" --help | grep -q '^usage: tcpput'; check "--help" [ $? -eq 0 ]
"$PUT" --version | grep -q 'zlib .* libsodium'; check "--version names the libraries" [ $? -eq 0 ]
"$BIN/tcpget" --bogus >/dev/null 2>&1; check "tcpget: bad option -> exit 2" [ $? -eq 2 ]
"$BIN/tcpget" -d /proc/version -p 0 >/dev/null 2>&1; check "tcpget: unusable dir -> exit 1" [ $? -eq 1 ]

check "nothing stray in the receiving directory" no_temp "$D3"
stop_receiver; rc=$?

# --- receiver options -------------------------------------------------
D4=$T/d4
start_receiver "$D4" --overwrite --max-size 1000000
printf 'old\n' >"$D4/keep.txt"
"$PUT" -q "$SRC/keep.txt" "127.0.0.1:$RPORT"; rc=$?
check "--overwrite: replaced" holds '[ $rc -eq 0 ] && grep -qx replacement "$D4/keep.txt"'
err=$("$PUT" "$SRC/b524288" "$SRC/large" "127.0.0.1:$RPORT" 2>&1 >/dev/null); rc=$?
check "--max-size: big file refused, exit 1" holds '[ $rc -eq 1 ] && grep -q "large: file too large" <<<"$err"'
check "--max-size: small file in the same run accepted" cmp -s "$SRC/b524288" "$D4/b524288"
check "--max-size: nothing under the refused name" [ ! -e "$D4/large" ]
kill -TERM "$RPID"; wait "$RPID"; rc=$?
check "SIGTERM: tcpget exits 0" [ $rc -eq 0 ]

# --- a file that grows while it is sent ---------------------------------
# tar warns "file changed as we read it".  tcpput sends the size it
# declared (the copy and its digest are of what was read), warns, and
# exits 0, as the copy is verified.  Another process appends to the file
# all along (bounded: 120 s, or until told to stop), and has appended before
# tcpput starts, so every read of the 64 MiB overlaps appends.
D5=$T/d5
start_receiver "$D5" --overwrite
G=$T/growing
head -c $((64 * 1024 * 1024)) /dev/urandom >"$G"
gsize=$(stat -c %s "$G")
(exec 3>>"$G"; end=$((SECONDS + 120))
 while [ ! -e "$T/stop-growing" ] && [ $SECONDS -lt $end ]; do printf 'x\n' >&3; done) &
APPENDER=$!
PIDS+=("$APPENDER")
for _ in $(seq 1 100); do [ "$(stat -c %s "$G")" -gt "$gsize" ] && break; sleep 0.01; done
"$PUT" "$G" "127.0.0.1:$RPORT" >"$T/grow.out" 2>"$T/grow.err"; rc=$?
"$PUT" --json "$G" "127.0.0.1:$RPORT" >"$T/grow.json" 2>"$T/grow-json.err"; jrc=$?
touch "$T/stop-growing"; wait "$APPENDER"
sent=$(sed -n 's/^tcpput: .*growing: file changed while being sent; the copy has the first \([0-9]*\) bytes it had$/\1/p' "$T/grow.err")
check "growing file: exit 0, one warning line on stderr ($(head -n 1 "$T/grow.err"))" \
	holds '[ $rc -eq 0 ] && [ -n "$sent" ] && [ "$(wc -l <"$T/grow.err")" -eq 1 ]'
check "growing file: it did grow past what was sent ($sent of $(stat -c %s "$G") bytes)" \
	holds '[ -n "$sent" ] && [ "$sent" -ge "$gsize" ] && [ "$(stat -c %s "$G")" -gt "$sent" ]'
# the second run's copy: the one JSON reports on
jn=$(sed -n 's/^{"event":"file_start",.*"size":\([0-9]*\)}$/\1/p' "$T/grow.json")
check "growing file, --json: exit 0, file_done warns with the size file_start announced ($jn)" \
	holds '[ $jrc -eq 0 ] && [ -n "$jn" ] &&
	       grep -q "^{\"event\":\"file_done\",.*\"size\":$jn,.*,\"warning\":\"file changed while being sent; the copy has the first $jn bytes it had\"}\$" "$T/grow.json"'
check "growing file, --json: the text warning on stderr too" \
	grep -qx "tcpput: $G: file changed while being sent; the copy has the first $jn bytes it had" "$T/grow-json.err"
check "growing file: the copy is the first $jn bytes, the size announced" \
	holds '[ -n "$jn" ] && [ "$(stat -c %s "$D5/growing")" = "$jn" ] &&
	       cmp -s <(head -c "$jn" "$G") "$D5/growing"'
want=$(b2sum <"$D5/growing" | cut -d' ' -f1)
check "growing file: the digest reported is the copy's" \
	grep -q "\"digest\":\"$want\"" "$T/grow.json"
check "growing file, text: the digest on stdout is of the first $sent bytes" \
	holds '[ -n "$sent" ] && grep -q "blake2b-512:$(head -c "$sent" "$G" | b2sum | cut -d" " -f1)\$" "$T/grow.out"'
rm -f "$G"
stop_receiver

# --- IPv6 --------------------------------------------------------------
if grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 2>/dev/null; then
	RBIND=::1 start_receiver "$T/d6"
	check "IPv6: tcpget -b ::1 listens there" grep -q 'listening on \[::1\]' "$ROUT"
	"$PUT" -q "$SRC/hello.txt" "[::1]:$RPORT"
	check "IPv6 [::1]:port" cmp -s "$SRC/hello.txt" "$T/d6/hello.txt"
	stop_receiver
else
	echo "skip IPv6: no ::1 on this machine"
fi

finish
