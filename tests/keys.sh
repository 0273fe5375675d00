#!/usr/bin/env bash
# Keys and encryption (SECURE, man/tcpxfer.5): real tcpget and tcpput
# processes over loopback, and build/helper_relay in the middle for the
# tampering cases.
# usage: bash tests/keys.sh BUILD_DIR
SUITE=keys
. "$(dirname "$0")/lib.sh"

PUT="$BIN/tcpput"
GET="$BIN/tcpget"
RELAY="$BIN/helper_relay"
K=$T/keys
mkdir -p "$K" "$T/src"
export XDG_CONFIG_HOME=$T/config
unset TCPX_KEY
KNOWN=$XDG_CONFIG_HOME/tcpxfer/known_receivers

# --- --genkey ------------------------------------------------------------
out=$("$GET" --genkey "$K/r" 2>&1); rc=$?
check "genkey: tcpget exit 0" [ $rc -eq 0 ]
check "genkey: secret key mode 0600" [ "$(stat -c %a "$K/r")" = 600 ]
check "genkey: public key file, one line: tag, base64, comment" \
	grep -qE '^tcpx-ed25519 [A-Za-z0-9+/]{43}= [^ ].*$' "$K/r.pub"
check "genkey: prints the public key and a fingerprint" \
	holds 'grep -qxF "$(cat "$K/r.pub")" <<<"$out" && grep -qE "^fingerprint B2:[A-Za-z0-9+/]{22}$" <<<"$out"'
RFP=$(sed -n 's/^fingerprint //p' <<<"$out")
"$PUT" --genkey "$K/s" >/dev/null 2>&1
"$PUT" --genkey "$K/s2" >/dev/null 2>&1
before=$(cat "$K/s" "$K/s.pub")
out=$("$PUT" --genkey "$K/s" 2>&1); rc=$?
check "genkey: an existing key file is never overwritten" \
	holds '[ $rc -ne 0 ] && grep -q "exists" <<<"$out" && [ "$before" = "$(cat "$K/s" "$K/s.pub")" ]'
: >"$K/only.pub"
out=$("$PUT" --genkey "$K/only" 2>&1); rc=$?
check "genkey: an existing FILE.pub refuses too, nothing written" \
	holds '[ $rc -ne 0 ] && [ ! -e "$K/only" ]'
cp "$K/s" "$K/open"; chmod 0644 "$K/open"
out=$("$PUT" --key "$K/open" "$K/s.pub" 127.0.0.1:1 2>&1); rc=$?
check "a secret key readable by others is refused (tcpput)" \
	holds '[ $rc -ne 0 ] && grep -q "too open" <<<"$out"'
out=$("$GET" -d "$T/none" -p 0 -b 127.0.0.1 --key "$K/open" --allow-any-sender 2>&1); rc=$?
check "a secret key readable by others is refused (tcpget, exit 1)" \
	holds '[ $rc -eq 1 ] && grep -q "chmod 600" <<<"$out"'

# --- start-up -------------------------------------------------------------
out=$(timeout 5 "$GET" -d "$T/none" -p 0 -b 127.0.0.1 --key "$K/r" 2>&1); rc=$?
check "--key without --authorized refuses to start" \
	holds '[ $rc -eq 1 ] && grep -q "allow-any-sender" <<<"$out"'
start_receiver "$T/plain"
PLAIN_PORT=$RPORT PLAIN_PID=$RPID
check "without --key: says once that anyone may send" \
	holds '[ "$(grep -c "anyone who can reach the port may send files" "$ROUT")" = 1 ]'
cut -d' ' -f1-2 "$K/s.pub" >"$K/authorized"
# --keep-partial=0: a cut or tampered transfer leaves no partial data for
# resume either, so "nothing under a final name" is "nothing at all"
start_receiver "$T/in" --key "$K/r" --authorized "$K/authorized" --keep-partial=0
check "with --key: says its fingerprint and the authorized count once" \
	holds '[ "$(grep -c "receiver key $RFP; encrypted; senders: the 1 key in" "$ROUT")" = 1 ]'
D=$T/in
SEC_OUT=$ROUT SEC_ERR=$RERR SEC_PORT=$RPORT SEC_PID=$RPID

head -c $((6 * 1024 * 1024 + 12345)) /dev/urandom >"$T/src/big.bin"
printf 'PLAINTEXT-MARKER-%s\n' {1..20000} >"$T/src/secret-name.txt"
want=$(b2sum <"$T/src/big.bin")

# --- pinning the receiver ---------------------------------------------------
out=$("$PUT" --key "$K/s" "$T/src/big.bin" "127.0.0.1:$SEC_PORT" 2>&1); rc=$?
check "unknown receiver key: exit 7, fingerprint and --trust-new shown" \
	holds '[ $rc -eq 7 ] && grep -q "unknown receiver key $RFP" <<<"$out" && grep -q -- "--trust-new" <<<"$out"'
check "unknown receiver key: nothing stored" holds '[ -z "$(ls -A "$D")" ]'
out=$("$PUT" --key "$K/s" --trust-new "$T/src/big.bin" "127.0.0.1:$SEC_PORT" 2>&1); rc=$?
check "--trust-new: exit 0 and the key recorded" \
	holds '[ $rc -eq 0 ] && grep -qF "127.0.0.1:$SEC_PORT $(cut -d" " -f1-2 "$K/r.pub")" "$KNOWN"'
check "encrypted multi-MiB transfer: b2sum equal" [ "$(b2sum <"$D/big.bin")" = "$want" ]
rm -f "$D/big.bin"
out=$("$PUT" --key "$K/s" -z "$T/src/big.bin" "$T/src/secret-name.txt" "127.0.0.1:$SEC_PORT" 2>&1); rc=$?
check "known receiver, -z, two files: exit 0, both equal" \
	holds '[ $rc -eq 0 ] && cmp -s "$T/src/big.bin" "$D/big.bin" && cmp -s "$T/src/secret-name.txt" "$D/secret-name.txt"'
rm -f "$D"/*
cp "$KNOWN" "$T/known.good"
sed "s|^127.0.0.1:$SEC_PORT .*|127.0.0.1:$SEC_PORT $(cut -d' ' -f1-2 "$K/s.pub")|" "$T/known.good" >"$KNOWN"
out=$("$PUT" --key "$K/s" --trust-new "$T/src/big.bin" "127.0.0.1:$SEC_PORT" 2>&1); rc=$?
check "changed receiver key: refused even with --trust-new, exit 7, both fingerprints" \
	holds '[ $rc -eq 7 ] && grep -q "KEY CHANGED: it shows $RFP" <<<"$out" && [ -z "$(ls -A "$D")" ]'
cp "$T/known.good" "$KNOWN"
out=$("$PUT" --key "$K/s" --peer-key "$K/s2.pub" "$T/src/big.bin" "127.0.0.1:$SEC_PORT" 2>&1); rc=$?
check "--peer-key that is not the receiver's: refused, exit 7" \
	holds '[ $rc -eq 7 ] && grep -q "not the one given with --peer-key" <<<"$out"'
out=$(TCPX_KEY=$K/s XDG_CONFIG_HOME=$T/empty "$PUT" --peer-key "$(cat "$K/r.pub")" "$T/src/big.bin" "127.0.0.1:$SEC_PORT" 2>&1); rc=$?
check "--peer-key KEY and \$TCPX_KEY: exit 0" holds '[ $rc -eq 0 ] && cmp -s "$T/src/big.bin" "$D/big.bin"'
rm -f "$D"/*
out=$("$PUT" -v --cipher=xchacha20-poly1305 --key "$K/s" "$T/src/secret-name.txt" "127.0.0.1:$SEC_PORT" 2>&1); rc=$?
check "--cipher=xchacha20-poly1305: exit 0, that cipher" \
	holds '[ $rc -eq 0 ] && grep -q "sealed with XChaCha20-Poly1305" <<<"$out"'
rm -f "$D"/*

# --- authorizing senders ------------------------------------------------------
log_start=$(wc -l <"$SEC_ERR") files_before=$(grep -c "big.bin" "$SEC_OUT")
out=$("$PUT" --key "$K/s2" "$T/src/big.bin" "127.0.0.1:$SEC_PORT" 2>&1); rc=$?
check "unlisted sender: exit 7, told it is not authorized" \
	holds '[ $rc -eq 7 ] && grep -q "sender key not authorized" <<<"$out"'
check "unlisted sender: nothing stored" holds '[ -z "$(ls -A "$D")" ] && no_temp "$D"'
log_wait "$SEC_ERR" "is not in .*authorized: refused before any file"
check "unlisted sender: the receiver logs its fingerprint, no file" \
	holds 'tail -n +$((log_start + 1)) "$SEC_ERR" | grep -q "sender key B2:" && [ "$(grep -c "big.bin" "$SEC_OUT")" = "$files_before" ]'
cut -d' ' -f1-2 "$K/s2.pub" >>"$K/authorized"
kill -HUP "$SEC_PID"
log_wait "$SEC_OUT" "SIGHUP: .* re-read: 2 sender keys"
out=$("$PUT" --key "$K/s2" "$T/src/big.bin" "127.0.0.1:$SEC_PORT" 2>&1); rc=$?
check "SIGHUP re-reads --authorized: the added sender gets through" \
	holds '[ $rc -eq 0 ] && cmp -s "$T/src/big.bin" "$D/big.bin"'
rm -f "$D"/*

# --- no downgrade, either way -----------------------------------------------------
out=$("$PUT" "$T/src/big.bin" "127.0.0.1:$SEC_PORT" 2>&1); rc=$?
check "no key to a receiver with --key: refused (exit 7), nothing stored" \
	holds '[ $rc -eq 7 ] && grep -q "encryption required" <<<"$out" && [ -z "$(ls -A "$D")" ]'
out=$("$PUT" --key "$K/s" --peer-key "$K/r.pub" "$T/src/big.bin" "127.0.0.1:$PLAIN_PORT" 2>&1); rc=$?
check "--key to a receiver without: refused (exit 7), nothing sent" \
	holds '[ $rc -eq 7 ] && grep -q "does not offer encryption" <<<"$out" && [ -z "$(ls -A "$T/plain")" ]'

# --- a man in the middle ------------------------------------------------------------
# relay MODE [K]: runs tcpput through helper_relay to the SECURE receiver;
# sets rc and out
relay() {
	local port
	coproc RL { "$RELAY" "$SEC_PORT" "$@" "$T/capture"; }
	read -r -t 5 port <&"${RL[0]}"
	out=$("$PUT" --key "$K/s" --peer-key "$K/r.pub" -t 5 "$T/src/big.bin" "$T/src/secret-name.txt" "127.0.0.1:$port" 2>&1); rc=$?
	wait "$RL_PID" 2>/dev/null
}
relay pass
check "relay passing bytes: transfer fine" holds '[ $rc -eq 0 ] && cmp -s "$T/src/big.bin" "$D/big.bin"'
check "capture: none of the file's plaintext, none of its name" \
	holds '! grep -q "PLAINTEXT-MARKER" "$T/capture" && ! grep -q "secret-name" "$T/capture" && ! grep -q "big.bin" "$T/capture"'
check "capture: only the HELLO and the handshake are in the clear" \
	holds '[ "$(head -c 12 "$T/capture" | tail -c 4)" = TCPX ]'
rm -f "$D"/*
# empty_soon DIR: DIR empty within 5 s (tcpget removes the temporary of
# a cut connection a moment after tcpput has exited)
empty_soon() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ -z "$(ls -A "$1")" ] && return 0
		sleep 0.05
	done
	return 1
}
for m in "flip 3" "flip 6" "drop 4" "dup 4" "swap 4" "cut 5" "flip 2" "flip 1" "cut 1" "cut 2"; do
	relay $m
	check "relay $m: detected (exit $rc), nothing under a final name" \
		holds '[ $rc -ne 0 ] && empty_soon "$D" && [ -z "$(ls -A "$D")" ]'
done
log_wait "$SEC_ERR" "failed authentication \(altered, replayed, reordered or dropped\)"
check "the receiver says a record failed authentication" \
	grep -q "failed authentication (altered, replayed, reordered or dropped)" "$SEC_ERR"
relay strip-s
check "relay strips SECURE from the sender's HELLO: refused, nothing stored" \
	holds '[ $rc -eq 7 ] && grep -q "encryption required" <<<"$out" && [ -z "$(ls -A "$D")" ]'
relay strip-r
check "relay strips SECURE from the receiver's HELLO: the sender refuses" \
	holds '[ $rc -eq 7 ] && grep -q "does not offer encryption" <<<"$out" && [ -z "$(ls -A "$D")" ]'
check "no temporary file left anywhere" no_temp "$D"

# --- many files, and a sender that stalls in the handshake -----------------------
mkdir -p "$T/many"
for i in $(seq 1 300); do printf 'file %s\n' "$i" >"$T/many/f$i"; done
out=$("$PUT" --key "$K/s" -r "$T/many" "127.0.0.1:$SEC_PORT" 2>&1); rc=$?
check "300 files in a tree, encrypted: exit 0, all equal" \
	holds '[ $rc -eq 0 ] && diff -r "$T/many" "$D/many" >/dev/null'
rm -rf "$D"/*

# --- streams over SECURE: standard input, and tcpget --once --stdout ----------
out=$("$PUT" --key "$K/s" - --name piped.bin "127.0.0.1:$SEC_PORT" <"$T/src/big.bin" 2>&1); rc=$?
check "encrypted stream from standard input: exit 0, b2sum equal" \
	holds '[ $rc -eq 0 ] && [ "$(b2sum <"$D/piped.bin")" = "$want" ]'
rm -rf "$D"/*
"$GET" --once --stdout -p 0 -b 127.0.0.1 --key "$K/r" --authorized "$K/authorized" \
	>"$T/once.out" 2>"$T/once.err" &
OPID=$!
PIDS+=("$OPID")
oport=$(port_in "$T/once.err" "$LISTEN_LINE")
out=$("$PUT" --key "$K/s" --peer-key "$K/r.pub" "$T/src/big.bin" "127.0.0.1:$oport" 2>&1); rc=$?
wait "$OPID"; orc=$?
check "encrypted to tcpget --once --stdout: both exit 0, the bytes on stdout" \
	holds '[ $rc -eq 0 ] && [ $orc -eq 0 ] && [ "$(b2sum <"$T/once.out")" = "$want" ]'

# --- resume over SECURE: a cut at about half, then --resume -----------------
start_receiver "$T/res" --key "$K/r" --allow-any-sender
"$BIN/helper_cutrelay" "$RPORT" $((3 << 20)) cut >"$T/cut.out" 2>&1 &
CPID=$!
PIDS+=("$CPID")
cport=$(port_in "$T/cut.out" "$RELAY_LINE")
"$PUT" --key "$K/s" --peer-key "$K/r.pub" "$T/src/big.bin" "127.0.0.1:$cport" >/dev/null 2>&1
wait "$CPID"
log_wait "$RERR" "mid-transfer"
part=$(find "$T/res" -name '.tcpx-*.part' -printf '%s\n' 2>/dev/null | head -n 1)
out=$("$PUT" --json --resume --key "$K/s" --peer-key "$K/r.pub" "$T/src/big.bin" "127.0.0.1:$RPORT" 2>&1); rc=$?
wire=$(sed -n 's/.*"event":"summary".*"wire_bytes":\([0-9]*\).*/\1/p' <<<"$out")
total=$(stat -c %s "$T/src/big.bin")
check "resume over SECURE: the cut left partial data (${part:-none} bytes), --resume completes it, b2sum equal, about the missing part sent (${wire:-?} bytes)" \
	holds '[ -n "$part" ] && [ "$part" -gt 0 ] && [ $rc -eq 0 ] && [ "$(b2sum <"$T/res/big.bin")" = "$want" ] &&
	       [ -n "$wire" ] && [ "$wire" -lt $((total - part + total / 20)) ]'

start_receiver "$T/hs" --key "$K/r" --allow-any-sender --handshake-timeout 1
out=$("$BIN/helper_hostile" -p "$RPORT" -w 5000 hello:1:1:0x10 waitframes:1 sleep:3000 2>&1)
check "a sender silent after the HELLOs is dropped at --handshake-timeout (ERROR 8)" \
	grep -q "^SIG H E8" <<<"$out"
finish
