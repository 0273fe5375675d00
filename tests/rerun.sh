#!/usr/bin/env bash
# Re-runs and existing files (the OFFER capability): files already there
# are skipped, a policy per run for different ones, tcpget decides what
# senders may replace, two files of one run never land under one name.
# Real tcpget and tcpput processes over loopback.
# usage: bash tests/rerun.sh BUILD_DIR
SUITE=rerun
. "$(dirname "$0")/lib.sh"

PUT="$BIN/tcpput"
SRC=$T/src
mkdir -p "$SRC/t/sub" "$SRC/a" "$SRC/b"
printf 'one\n' >"$SRC/t/one"
printf 'two\n' >"$SRC/t/sub/two"
head -c 700000 /dev/urandom >"$SRC/t/big"
touch -d '2020-01-02 03:04:05.123456789' "$SRC/t/one"

# wire_bytes of tcpput's JSON summary on stdin
wire() { sed -n 's/.*"event":"summary".*"wire_bytes":\([0-9]*\).*/\1/p'; }

D=$T/d
start_receiver "$D"
out=$("$PUT" -r "$SRC/t" "127.0.0.1:$RPORT" 2>&1); rc=$?
check "first run: exit 0" [ $rc -eq 0 ]
out=$("$PUT" -r "$SRC/t" "127.0.0.1:$RPORT" 2>"$T/err"); rc=$?
check "re-run: exit 0" [ $rc -eq 0 ]
check "re-run: each file said skipped, with why" holds '[ "$(grep -c "^t/.*  skipped (identical: same size and time)$" <<<"$out")" -eq 3 ]'
check "re-run: on stderr only the summary, which counts them" grep -qx "tcpput: 3 already there (identical), 0 B in [0-9.]* s (.*)" "$T/err"
check "re-run: the files are untouched" holds 'cmp -s "$SRC/t/big" "$D/t/big" && [ "$(stat -c %Y.%y "$D/t/one")" = "$(stat -c %Y.%y "$SRC/t/one")" ]'
json=$("$PUT" --json -r "$SRC/t" "127.0.0.1:$RPORT"); rc=$?
check "re-run --json: file_skipped records with the reason" holds '[ $rc -eq 0 ] && [ "$(grep -c "\"event\":\"file_skipped\".*\"reason\":\"same size and time\"" <<<"$json")" -eq 3 ]'
check "re-run --json: no file data sent" holds '[ "$(grep -o "\"bytes\":[0-9]*" <<<"$json" | tail -1)" = "\"bytes\":0" ]'

# a changed file: same size, other content, other mtime: refused by default
printf 'ONE\n' >"$SRC/t/one"
out=$("$PUT" -r "$SRC/t" "127.0.0.1:$RPORT" 2>&1); rc=$?
check "changed: refused, exit 1" [ $rc -eq 1 ]
check "changed: says it exists and differs, names the options" grep -q "t/one: file exists: exists and differs (tcpput --overwrite replaces it, --keep-both keeps both)" <<<"$out"
check "changed: the others skipped" holds '[ "$(grep -c "skipped (identical" <<<"$out")" -eq 2 ]'
check "changed: the old content stays" grep -qx one "$D/t/one"

# --overwrite: refused unless the receiver allows it
out=$("$PUT" --overwrite -r "$SRC/t" "127.0.0.1:$RPORT" 2>&1); rc=$?
check "--overwrite, receiver without --allow-overwrite: exit 1" [ $rc -eq 1 ]
check "--overwrite refused: says the receiver does not allow it" grep -q "overwrite not allowed by the receiver.*tcpget --allow-overwrite" <<<"$out"
check "--overwrite refused: old content stays" grep -qx one "$D/t/one"
check "--overwrite refused: no temporary file left" no_temp "$D"

# --keep-both: the new one under t/one.1, then t/one.2
out=$("$PUT" --keep-both -r "$SRC/t" "127.0.0.1:$RPORT" 2>&1); rc=$?
check "--keep-both: exit 0" [ $rc -eq 0 ]
check "--keep-both: stored as one.1, old one kept" holds 'grep -qx ONE "$D/t/one.1" && grep -qx one "$D/t/one"'
check "--keep-both: says where it went" grep -q "^t/one  4 B  blake2b-512:[0-9a-f]*  (kept both: stored as t/one.1)$" <<<"$out"
printf 'One\n' >"$SRC/t/one"
"$PUT" -q --keep-both "$SRC/t/one" "127.0.0.1:$RPORT:t/" >/dev/null 2>&1; rc=$?
check "--keep-both again: one.2" holds '[ $rc -eq 0 ] && grep -qx One "$D/t/one.2"'
printf 'x\n' >"$SRC/a.tar.gz"
"$PUT" -q "$SRC/a.tar.gz" "127.0.0.1:$RPORT" && printf 'y\n' >"$SRC/a.tar.gz" &&
	"$PUT" -q --keep-both "$SRC/a.tar.gz" "127.0.0.1:$RPORT" >/dev/null 2>&1; rc=$?
check "--keep-both: the number goes before the last extension (a.tar.1.gz)" holds '[ $rc -eq 0 ] && grep -qx y "$D/a.tar.1.gz" && grep -qx x "$D/a.tar.gz"'
check "usage: --overwrite and --keep-both together" holds '! "$PUT" --overwrite --keep-both "$SRC/t/one" 127.0.0.1:1 2>"$T/err" && grep -q "exclude each other" "$T/err"'

# --checksum: same size and mtime, different content
printf 'AAAA\n' >"$SRC/same" && touch -d '2019-05-05 05:05:05' "$SRC/same"
"$PUT" -q "$SRC/same" "127.0.0.1:$RPORT"
printf 'BBBB\n' >"$SRC/same" && touch -d '2019-05-05 05:05:05' "$SRC/same"
out=$("$PUT" "$SRC/same" "127.0.0.1:$RPORT" 2>&1); rc=$?
check "quick check: same size and mtime is taken as identical (rsync's)" holds '[ $rc -eq 0 ] && grep -q "skipped (identical: same size and time)" <<<"$out"'
out=$("$PUT" -c "$SRC/same" "127.0.0.1:$RPORT" 2>&1); rc=$?
check "-c: the different content is caught (refused, exit 1)" holds '[ $rc -eq 1 ] && grep -q "same: file exists: exists and differs" <<<"$out"'
printf 'AAAA\n' >"$SRC/same" && touch -d '2001-01-01' "$SRC/same"
out=$("$PUT" --checksum "$SRC/same" "127.0.0.1:$RPORT" 2>&1); rc=$?
check "--checksum: same content, other mtime: skipped (same digest)" holds '[ $rc -eq 0 ] && grep -q "skipped (identical: same digest)" <<<"$out"'
stop_receiver

# the receiver allows overwriting
D2=$T/d2
mkdir -p "$D2/t" && printf 'old\n' >"$D2/t/one"
start_receiver "$D2" --allow-overwrite
out=$("$PUT" -r "$SRC/t" "127.0.0.1:$RPORT" 2>&1); rc=$?
check "--allow-overwrite, sender without --overwrite: still refused" holds '[ $rc -eq 1 ] && grep -qx old "$D2/t/one"'
out=$("$PUT" --overwrite -r "$SRC/t" "127.0.0.1:$RPORT" 2>&1); rc=$?
check "--allow-overwrite + tcpput --overwrite: replaced, exit 0" holds '[ $rc -eq 0 ] && cmp -s "$SRC/t/one" "$D2/t/one"'
stop_receiver
# tcpget --overwrite keeps its meaning: replaces whatever the sender asks
printf 'old\n' >"$D2/t/one"
start_receiver "$D2" --overwrite
"$PUT" -q "$SRC/t/one" "127.0.0.1:$RPORT:t/"; rc=$?
check "tcpget --overwrite: replaces without tcpput --overwrite (as before)" holds '[ $rc -eq 0 ] && cmp -s "$SRC/t/one" "$D2/t/one"'
stop_receiver

# two files of one run under one name: the second is refused
printf 'from a\n' >"$SRC/a/x"
printf 'from b\n' >"$SRC/b/x"
D3=$T/d3
start_receiver "$D3" --overwrite
out=$("$PUT" "$SRC/a/x" "$SRC/b/x" "127.0.0.1:$RPORT" 2>&1); rc=$?
check "same name twice in one run: exit 1" [ $rc -eq 1 ]
check "same name twice: the first arrived, not replaced (even with --overwrite)" grep -qx "from a" "$D3/x"
check "same name twice: the second refused, clearly" grep -q "b/x: name already used in this session: another file of this run has the same name" <<<"$out"
stop_receiver

# an unchanged tree of a few hundred files: the re-run sends < 5%
M=$SRC/many
for d in $(seq 1 6); do
	mkdir -p "$M/d$d"
	for f in $(seq 1 50); do head -c $((2000 + f * 37)) /dev/urandom >"$M/d$d/f$f"; done
done
D4=$T/d4
start_receiver "$D4"
first=$("$PUT" --json -r "$M" "127.0.0.1:$RPORT" | wire)
second=$("$PUT" --json -r "$M" "127.0.0.1:$RPORT" | wire)
check "300 files: re-run sends < 5% of the first run's bytes ($second of $first)" holds '[ -n "$first" ] && [ -n "$second" ] && [ $((second * 20)) -lt "$first" ]'
check "300 files: all there, identical" diff -r "$M" "$D4/many"
stop_receiver

# an older receiver (no OFFER granted): one warning, v1 behaviour
"$BIN/helper_receiver" hello answer bye >"$T/frecv.out" 2>&1 &
fpid=$!
PIDS+=("$fpid")
port=$(port_in "$T/frecv.out" "$PORT_LINE")
out=$("$PUT" --keep-both "$SRC/t/one" "127.0.0.1:$port" 2>&1); rc=$?
wait "$fpid"
check "receiver without OFFER: a FILE as in version 1, exit 0" holds '[ $rc -eq 0 ] && grep -q "^FILE 1 " "$T/frecv.out"'
check "receiver without OFFER: --keep-both warned about once" holds '[ "$(grep -c "takes no offers (an older tcpget)" <<<"$out")" -eq 1 ]'

finish
