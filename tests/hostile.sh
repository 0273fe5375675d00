#!/usr/bin/env bash
# tests/hostile.sh: tcpget against hostile senders.  Every case speaks raw
# TCPX through build/helper_hostile to one long-running tcpget and checks:
# the exact reply (RESULT/ERROR codes, decoded), nothing written outside the
# receiving directory (a canary tree beside it and the paths an escape would
# reach), nothing under a final name unless the case expects it, no
# .tcpx-*.part left once the connection is over, and the server still
# serving (a normal tcpput transfer succeeds right after).  The last
# cases turn round: tcpput against a fake receiver (helper_receiver) that
# stays silent, reads slowly or ends without BYE.
#
# usage: bash tests/hostile.sh BUILD_DIR       (e.g. build, build-asan)
# Needs: tcpget, tcpput, helper_hostile and helper_receiver in BUILD_DIR;
# loopback only.
SUITE=hostile
# The shared set-up: build dir, helper, scaling, assertions.
. "$(dirname "$0")/peer_lib.sh"

# ---- layout ------------------------------------------------------------
# $T/w/d        the receiving directory (DIR)
# $T/w/canary   a sibling that must never change
# $T/w/outside  where symlinks in DIR point; must stay empty
W=$T/w
D=$W/d
OUTSIDE=$W/outside
mkdir -p "$D" "$W/canary" "$OUTSIDE" "$W/outside-file"
echo canary >"$W/canary/keep"
echo "outside target" >"$W/outside-file/target"
ABS=/tmp/tcpx-hostile-abs-$$-$RANDOM
WAIT=$((5000 * SLOW))

# Everything under $T except DIR and our own logs and sources, with sizes
# and times: any write that escaped DIR shows up as a difference.
outside_snapshot() {
	(cd "$T" && find . \( -path ./w/d -o -path './w/d-*' -o -path ./logs -o -path ./src \) -prune -o \
		-printf '%p %y %s %T@\n' | LC_ALL=C sort)
}
SNAP=$(outside_snapshot)

# after_case WANT_LISTING [SERVER [DIR]]: the invariants every case checks,
# then DIR is emptied for the next case.  WANT_LISTING may list
# alternatives separated by " || ".
after_case() {
	local want=$1 srv=${2:-M} dir=${3:-$D} pid port got now
	eval "pid=\$${srv}_PID port=\$${srv}_PORT"
	alive "$pid" || why "tcpget died"
	wait_no_temp "$dir" || why "temporary file left: $(temps "$dir" | tr '\n' ' ')"
	got=$(listing "$dir")
	local rest=$want alt okay=0
	while :; do
		alt=${rest%% || *}
		[ "$got" = "$alt" ] && okay=1
		[ "$alt" = "$rest" ] && break
		rest=${rest#* || }
	done
	[ $okay -eq 1 ] || why "DIR holds '$(short "$got")', want '$(short "$want")'"
	now=$(outside_snapshot)
	[ "$now" = "$SNAP" ] || why "changed outside DIR: $(diff <(echo "$SNAP") <(echo "$now") | grep '^[<>]' | head -n 5 | tr '\n' ' ')"
	[ ! -e "$ABS" ] && [ ! -L "$ABS" ] || why "absolute name escaped to $ABS"
	alive "$pid" && put_ok "$srv" "$port" "$dir"
	find "$dir" -mindepth 1 -delete 2>/dev/null
}

# hcase NAME WANT_SIG WANT_LISTING STEP...: one hostile connection.
# WANT_SIG may list alternatives separated by " || ".  Options through
# variables: HC_SRV (server, default M), HC_DIR, HC_FAST=1 (the ERROR must
# come at once), HC_CHECK (a function run before the invariants), HC_WAIT
# (how long the helper waits for the receiver, ms).
hcase() {
	local name=$1 want=$2 files=$3 srv=${HC_SRV:-M} dir=${HC_DIR:-$D} port got alt okay=0 ms
	shift 3
	eval "port=\$${srv}_PORT"
	begin "$name"
	OUT=$("$HELPER" -p "$port" -w "${HC_WAIT:-$WAIT}" "$@" 2>&1)
	got=$(sig "$OUT")
	local rest=$want
	while :; do
		alt=${rest%% || *}
		[ "$got" = "$alt" ] && okay=1
		[ "$alt" = "$rest" ] && break
		rest=${rest#* || }
	done
	[ $okay -eq 1 ] || why "replies '$(short "$got")', want '$(short "$want")'"
	if [ -n "${HC_FAST:-}" ]; then
		ms=$(err_ms "$OUT")
		[ -n "$ms" ] && [ "$ms" -lt $((1000 * SLOW)) ] || why "ERROR not at once (ms=${ms:-none})"
	fi
	[ -n "${HC_CHECK:-}" ] && "$HC_CHECK"
	after_case "$files" "$srv" "$dir"
	end_case "$OUT"
}

rep() { local s="" i; for ((i = 0; i < $2; i++)); do s+=$1; done; printf '%s' "$s"; }

start_tcpget M "$D" -v -t $((10 * SLOW)) || finish

# ---- names -------------------------------------------------------------
# Each is refused with RESULT 32 BAD_NAME and the session goes on (BYE).
R32="H R1=32 B END"
hcase "absolute name"                    "$R32" "" hello file:1:3:"$ABS" data:abc end bye
hcase "absolute name into the canary"    "$R32" "" hello file:1:3:"$W/canary/keep" data:abc end bye
hcase "'..' alone"                       "$R32" "" hello file:1:3:.. data:abc end bye
hcase "'../x'"                           "$R32" "" hello file:1:3:../x data:abc end bye
hcase "'../../x'"                        "$R32" "" hello file:1:3:../../x data:abc end bye
hcase "'../canary/keep'"                 "$R32" "" hello file:1:3:../canary/keep data:abc end bye
hcase "'a/../x'"                         "$R32" "" hello file:1:3:a/../x data:abc end bye
hcase "'a/../../x'"                      "$R32" "" hello file:1:3:a/../../x data:abc end bye
hcase "'a/..'"                           "$R32" "" hello file:1:3:a/.. data:abc end bye
hcase "'a/b/..'"                         "$R32" "" hello file:1:3:a/b/.. data:abc end bye
hcase "'.' alone"                        "$R32" "" hello file:1:3:. data:abc end bye
hcase "'./x'"                            "$R32" "" hello file:1:3:./x data:abc end bye
hcase "'a/./x'"                          "$R32" "" hello file:1:3:a/./x data:abc end bye
hcase "'a/.'"                            "$R32" "" hello file:1:3:a/. data:abc end bye
hcase "empty component 'a//b'"           "$R32" "" hello file:1:3:a//b data:abc end bye
hcase "trailing slash 'a/'"              "$R32" "" hello file:1:3:a/ data:abc end bye
hcase "name '/'"                         "$R32" "" hello file:1:3:/ data:abc end bye
hcase "name '//x'"                       "$R32" "" hello file:1:3://x data:abc end bye
hcase "NUL inside a name"                "$R32" "" hello filex:1:3:610062 data:abc end bye
hcase "NUL alone"                        "$R32" "" hello filex:1:3:00 data:abc end bye
hcase "'a\\0/../x' (NUL hides a '..')"   "$R32" "" hello filex:1:3:61002f2e2e2f78 data:abc end bye
hcase "newline in a name"                "$R32" "" hello filex:1:3:610a62 data:abc end bye
hcase "carriage return in a name"        "$R32" "" hello filex:1:3:610d62 data:abc end bye
hcase "tab in a name"                    "$R32" "" hello filex:1:3:610962 data:abc end bye
hcase "backspace in a name"              "$R32" "" hello filex:1:3:61086208 data:abc end bye
hcase "DEL in a name"                    "$R32" "" hello filex:1:3:617f data:abc end bye
hcase "ANSI colour escape in a name"     "$R32" "" hello filex:1:3:1b5b33316d7265641b5b306d data:abc end bye
hcase "ANSI clear-screen + title (OSC)"  "$R32" "" hello filex:1:3:1b5b324a1b5d303b70776e656407 data:abc end bye
hcase "C1 CSI (U+009B) in a name"        "$R32" "" hello filex:1:3:c29b324a data:abc end bye
hcase "invalid UTF-8 byte 0xff"          "$R32" "" hello filex:1:3:61ff data:abc end bye
hcase "overlong UTF-8 '/' (c0 af)"       "$R32" "" hello filex:1:3:2e2ec0af78 data:abc end bye
hcase "overlong UTF-8 '..' (c0 ae)"      "$R32" "" hello filex:1:3:c0aec0ae2f78 data:abc end bye
hcase "UTF-8 surrogate"                  "$R32" "" hello filex:1:3:eda080 data:abc end bye
hcase "UTF-8 above U+10FFFF"             "$R32" "" hello filex:1:3:f4908080 data:abc end bye
hcase "truncated UTF-8 sequence"         "$R32" "" hello filex:1:3:61e282 data:abc end bye
hcase "reserved prefix '.tcpx-x'"        "$R32" "" hello file:1:3:.tcpx-x data:abc end bye
hcase "reserved prefix '.tcpx-'"         "$R32" "" hello file:1:3:.tcpx- data:abc end bye
hcase "reserved: a temp file's own name" "$R32" "" hello file:1:3:.tcpx-0011223344556677.part data:abc end bye
hcase "reserved prefix in a directory"   "$R32" "" hello file:1:3:.tcpx-d/x data:abc end bye
hcase "reserved prefix, last component"  "$R32" "" hello file:1:3:a/.tcpx-x.part data:abc end bye
hcase "'.tcpxfoo' is not reserved"       "H R1=0 B END" ".tcpxfoo" hello file:1:3:.tcpxfoo data:abc end bye
C255=$(rep a 255)
C256=$(rep a 256)
hcase "component of 256 bytes"           "$R32" "" hello file:1:3:"$C256" data:abc end bye
hcase "component of 256 bytes, deeper"   "$R32" "" hello file:1:3:"d/$C256" data:abc end bye
hcase "component of 255 bytes accepted"  "H R1=0 B END" "$C255" hello file:1:3:"$C255" data:abc end bye
# 64 components are allowed, 65 are not
deep=""; deeplist=""
for ((i = 1; i < 64; i++)); do deep+="a/"; deeplist+="${deep%/} "; done
hcase "65 components"                    "$R32" "" hello file:1:3:"${deep}a/f" data:abc end bye
hcase "64 components accepted"           "H R1=0 B END" "${deeplist}${deep}f" hello file:1:3:"${deep}f" data:abc end bye
# a 4096-byte name: 15 components of 255, one of 254, one of 1 byte
n4096=""; n4096list=""
for ((i = 0; i < 15; i++)); do n4096+="$(rep b 255)/"; n4096list+="${n4096%/} "; done
n4096+="$(rep c 254)"; n4096list+="$n4096 "; n4096+="/z"; n4096list+="$n4096"
hcase "name of 4096 bytes accepted"      "H R1=0 B END" "$n4096list" hello file:1:3:"$n4096" data:abc end bye
N4096=$(rep n 4096)
# 4097 bytes: the FILE frame is then 4127 bytes, above FILE's maximum, so the
# header alone decides (FRAME_TOO_LARGE); with a frame length that fits and
# name_len 4097 the payload is MALFORMED.
hcase "name of 4097 bytes (frame 4127 > max 4126)" "H E2 END" "" hello filef:1:3:0644:0:-:"${N4096}n"
hcase "name_len 4097 in a 4126-byte frame" "H E1 END" "" hello filef:1:3:0644:0:4097:"$N4096"
hcase "name_len 0"                       "H E1 END" "" hello filef:1:3:0644:0:-:
hcase "name_len larger than the payload" "H E1 END" "" hello filef:1:3:0644:0:10:abc

# The sender's ERROR message is logged too: escaped, whatever it holds.
hcase "sender ERROR with an ANSI escape in its message" "H END" "" hello hdr:8:0:0:13 raw:000100091b5b33316d4556494c
hcase "sender ERROR whose msg_len overruns the payload" "H END" "" hello hdr:8:0:0:6 raw:0001000a4142
hcase "sender ERROR with an unknown code (999)" "H END" "" hello hdr:8:0:0:4 raw:03e70000
# Extreme modification times: stored, clamped by the file system, and
# accepted (tcpxfer(5): a time the file system cannot hold is no failure).
hcase "mtime 2^63-1: stored clamped, RESULT 0"  "H R1=0 B END" "x" hello filet:1:3:0x7fffffffffffffff:x data:abc end bye
hcase "mtime -2^63+1: stored clamped, RESULT 0" "H R1=0 B END" "x" hello filet:1:3:-0x7fffffffffffffff:x data:abc end bye
# Before 1970 the nanoseconds count forward from the second below:
# mtime_sec -1 with mtime_nsec 500000000 is half a second before the epoch.
chk_neg_mtime() { [ "$(stat -c %.9Y "$D/neg" 2>/dev/null)" = -0.500000000 ] || why "mtime $(stat -c %.9Y "$D/neg" 2>/dev/null), want -0.500000000"; }
HC_CHECK=chk_neg_mtime hcase "mtime_sec -1, mtime_nsec 500000000 is 1969-12-31 23:59:59.5" "H R1=0 B END" "neg" \
	hello mtime:-1 filef:1:3:0644:500000000:-:neg data:abc end bye

begin "log lines show hostile names escaped (no raw ESC or control byte)"
for f in "$M_ERR" "$M_OUT"; do
	if LC_ALL=C grep -q $'\x1b' "$f"; then why "raw ESC (0x1b) in $(basename "$f")"; fi
	if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$f"; then why "raw control byte in $(basename "$f")"; fi
	if [ "$(tr -dc '\000' <"$f" | wc -c)" -ne 0 ]; then why "raw NUL in $(basename "$f")"; fi
	if LC_ALL=C grep -q $'\xc2[\x80-\x9f]' "$f"; then why "raw C1 control in $(basename "$f")"; fi
done
grep -qF '\x1b[31mred\x1b[0m' "$M_ERR" || why "the ANSI name is not logged in escaped form"
grep -qF 'a\x00b' "$M_ERR" || why "the NUL name is not logged in escaped form"
grep -qF 'EVIL' "$M_ERR" || why "the sender's ERROR message is not logged"
end_case "$(grep -a refused "$M_ERR" | head -n 5)"

# ---- pipelining: many files in one burst ----------------------------------
# The sender does not wait for RESULTs; 3000 refusals make far more replies
# than tcpget's reply buffer holds, so it must flush and go on with the
# frames it has already read, without waiting for more input.
# (HC_WAIT is a bound, not a timing: a loaded machine stores 2000 files
# in seconds.)
want="H"
for ((i = 1; i <= 3000; i++)); do want+=" R$i=32"; done
HC_WAIT=$((20000 * SLOW)) hcase "3000 refused files pipelined in one burst: 3000 RESULTs, then BYE" "$want B END" "" \
	hello files:3000:../b:0 bye
want="H"
for ((i = 1; i <= 2000; i++)); do want+=" R$i=0"; done
list=$(for ((i = 1; i <= 2000; i++)); do echo "p$i"; done | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')
HC_WAIT=$((20000 * SLOW)) hcase "2000 small files pipelined in one burst: 2000 RESULT 0, then BYE" "$want B END" "$list" \
	hello files:2000:p:10 bye

# ---- frame headers ---------------------------------------------------------
# Judged from the 8 header bytes alone, before any payload: the helper sends
# the header and nothing more, and the ERROR must come at once.
for t in 1 2 3 4 5 6 7 8; do
	HC_FAST=1 hcase "type $t, length 0xFFFFFFFF, after HELLO" "H E2 END" "" hello hdr:$t:0:0:0xffffffff
done
HC_FAST=1 hcase "HELLO of length 0xFFFFFFFF as first frame" "E2 END" "" hdr:1:0:0:0xffffffff
HC_FAST=1 hcase "FILE of length 0xFFFFFFFF before HELLO" "E2 END" "" hdr:2:0:0:0xffffffff
HC_FAST=1 hcase "DATA of length 0x80000000 in a file" "H E2 END" "" hello file:1:10:x hdr:3:0:0:0x80000000
HC_FAST=1 hcase "DATA one byte above its maximum (262153)" "H E2 END" "" hello file:1:300000:x hdr:3:0:0:262153
HC_FAST=1 hcase "HELLO of 257 bytes"        "E2 END" "" hdr:1:0:0:257
HC_FAST=1 hcase "END of 65 bytes"           "H E2 END" "" hello file:1:0:x hdr:4:0:0:65
HC_FAST=1 hcase "ABORT with a payload"      "H E2 END" "" hello file:1:1:x hdr:5:0:0:1
HC_FAST=1 hcase "BYE with a payload"        "H E2 END" "" hello hdr:7:0:0:1
HC_FAST=1 hcase "ERROR of 1029 bytes"       "H E2 END" "" hello hdr:8:0:0:1029
HC_FAST=1 hcase "RESULT of 1097 bytes"      "H E2 END" "" hello hdr:6:0:0:1097
for t in 0 9 100 255; do
	HC_FAST=1 hcase "unknown frame type $t before HELLO" "E3 END" "" hdr:$t:0:0:0
	HC_FAST=1 hcase "unknown frame type $t after HELLO" "H E3 END" "" hello hdr:$t:0:0:0xffffffff
done
HC_FAST=1 hcase "unknown frame type inside a file" "H E3 END" "" hello file:1:10:x data:abc hdr:42:0:0:3
HC_FAST=1 hcase "non-zero flags"            "H E1 END" "" hello hdr:7:1:0:0
HC_FAST=1 hcase "non-zero reserved field"   "H E1 END" "" hello hdr:7:0:0x100:0
HC_FAST=1 hcase "an HTTP request"           "E3 END" "" raw:$(printf 'GET / HTTP/1.0\r\n\r\n' | od -An -tx1 | tr -d ' \n')
HC_FAST=1 hcase "a TLS ClientHello"         "E3 END" "" raw:160301020001000100

# ---- frames out of order -----------------------------------------------------
hcase "FILE before HELLO"                   "E3 END" "" file:1:3:x data:abc end bye
hcase "DATA before HELLO"                   "E3 END" "" datah:0:3:616263
hcase "END before HELLO"                    "E3 END" "" hdr:4:0:0:64 raw:$(rep 00 64)
hcase "BYE before HELLO"                    "E3 END" "" bye
hcase "DATA before FILE"                    "H E3 END" "" hello datah:0:3:616263
hcase "END before FILE"                     "H E3 END" "" hello end
hcase "ABORT before FILE"                   "H E3 END" "" hello abort
hcase "HELLO twice"                         "H E3 END" "" hello hello
hcase "RESULT from the sender"              "H E3 END" "" hello hdr:6:0:0:72 raw:$(rep 00 72)
hcase "END twice"                           "H R1=0 E3 END" "x" hello file:1:3:x data:abc end end bye
hcase "BYE inside a file"                   "H E3 END" "" hello file:1:3:x data:abc bye
hcase "BYE right after FILE"                "H E3 END" "" hello file:1:3:x bye
hcase "FILE inside a file"                  "H E3 END" "" hello file:1:3:x data:ab file:2:3:y data:abc end bye
hcase "HELLO inside a file"                 "H E3 END" "" hello file:1:3:x data:ab hello
hcase "first FILE id 2"                     "H E1 END" "" hello file:2:3:x data:abc end bye
hcase "FILE id repeated"                    "H R1=0 E1 END" "x" hello file:1:3:x data:abc end file:1:3:y data:abc end bye
hcase "FILE mode outside 07777"             "H E1 END" "" hello filef:1:3:010644:0:-:x data:abc end bye
hcase "FILE mtime_nsec 1000000000"          "H E1 END" "" hello filef:1:3:0644:1000000000:-:x data:abc end bye
hcase "ABORT mid-file: RESULT 38, no file"  "H R1=38 B END" "" hello file:1:6:x data:abc abort bye
hcase "sender ERROR mid-file: quiet close"  "H END" "" hello file:1:6:x data:abc hdr:8:0:0:4 raw:00010000

# ---- DATA payloads ----------------------------------------------------------
hcase "DATA raw_len 0"                      "H E1 END" "" hello file:1:3:x datah:0:0:616263
hcase "DATA raw_len above 262144"           "H E1 END" "" hello file:1:300000:x datah:0:262145:616263
hcase "DATA raw_len differs from raw data"  "H E1 END" "" hello file:1:10:x datah:0:4:616263
hcase "DATA encoding 3"                     "H E1 END" "" hello file:1:3:x datah:3:3:616263
hcase "DATA reserved bytes set"             "H E1 END" "" hello file:1:3:x hdr:3:0:0:11 raw:0000010000000003616263
hcase "DATA payload of 8 bytes"             "H E1 END" "" hello file:1:3:x hdr:3:0:0:8 raw:0000000000000003
hcase "END of 63 bytes"                     "H E1 END" "" hello file:1:0:x hdr:4:0:0:63 raw:$(rep 00 63)

# ---- sizes and digests ------------------------------------------------------
hcase "chunk beyond the declared size"      "H E6 END" "" hello file:1:3:x data:abcd end bye
hcase "second chunk beyond the size"        "H E6 END" "" hello file:1:5:x data:abc data:abc end bye
hcase "data in a file of size 0"            "H E6 END" "" hello file:1:0:x data:a end bye
hcase "fewer bytes than declared, then END" "H E6 END" "" hello file:1:5:x data:abc end bye
hcase "END right after FILE of size 3"      "H E6 END" "" hello file:1:3:x end bye
hcase "refused file is still size-checked"  "H R1=32 E6 END" "" hello file:1:3:../x data:abcd end bye
# A size no disk holds: 36 from a receiver without --max-size (35 with
# one, below), refused at FILE; its data is still size-checked.
hcase "size near 2^64, small data, END: 36 at FILE" "H R1=36 E6 END" "" hello file:1:0xffffffffffffffff:x data:abc end bye
chk_digest() {
	[ "$(cat "$D/b" 2>/dev/null)" = xyz ] || why "second file's content wrong"
	# the RESULT's message is for the sender's user: it must say what happened
	grep -q '^RESULT 1 34 ".*digest' <<<"$OUT" || why "RESULT 34 message does not mention the digest: $(grep '^RESULT 1 ' <<<"$OUT")"
}
HC_CHECK=chk_digest hcase "wrong digest: RESULT 34, next file in the same connection OK" \
	"H R1=34 R2=0 B END" "b" hello file:1:3:a data:abc end:bad file:2:3:b data:xyz end bye
hcase "empty file, right digest"            "H R1=0 B END" "e" hello file:1:0:e end bye

# ---- compression ---------------------------------------------------------------
hcase "valid zlib chunk accepted"           "H R1=0 B END" "z" hello file:1:3:z zraw:3:789c4b4c4a0600024d0127 end bye
HWM0=$(hwm_of "$M_PID")
chk_bomb() {
	local hwm; hwm=$(hwm_of "$M_PID")
	[ $((hwm - HWM0)) -lt $((16384 * SLOW)) ] || why "tcpget peak RSS grew by $((hwm - HWM0)) KiB"
}
HC_CHECK=chk_bomb hcase "zlib bomb: 64 MiB of zeros declared as 1024 bytes" "H E7 END" "" \
	hello file:1:1024:bomb zfill:1024:67108864
HC_CHECK=chk_bomb hcase "zlib bomb: 64 MiB of zeros declared as one full chunk" "H E7 END" "" \
	hello file:1:262144:bomb zfill:262144:67108864
hcase "zlib: garbage bytes"                 "H E7 END" "" hello file:1:3:z zraw:3:0102030405 end bye
hcase "zlib: truncated stream"              "H E7 END" "" hello file:1:3:z zraw:3:789c4b4c4a06 end bye
hcase "zlib: Adler-32 mismatch"             "H E7 END" "" hello file:1:3:z zraw:3:789c4b4c4a0600024d0128 end bye
hcase "zlib: inflates short of raw_len"     "H E7 END" "" hello file:1:4:z zraw:4:789c4b4c4a0600024d0127 end bye
hcase "zlib: inflates past raw_len"         "H E7 END" "" hello file:1:2:z zraw:2:789c4b4c4a0600024d0127 end bye
hcase "zlib: trailing byte after the stream" "H E7 END" "" hello file:1:3:z ztrail:abc end bye
hcase "zlib: preset dictionary (FDICT)"     "H E7 END" "" hello file:1:3:z zraw:3:78bb000000004b4c4a0600024d0127 end bye
hcase "zlib: raw deflate without header"    "H E7 END" "" hello file:1:3:z zraw:3:4b4c4a0600 end bye
hcase "zlib: gzip instead of zlib"          "H E7 END" "" hello file:1:3:z zraw:3:1f8b0800000000000003 end bye
hcase "zlib chunk without ZLIB negotiated"  "H E3 END" "" hello:1:1:0 file:1:3:z zraw:3:789c4b4c4a0600024d0127 end bye
# zstd (capability 0x100): tcpxfer(5)'s example frame, then its breakages
ZS=28b52ffd201c7d00004868656c6c6f2c20210a01004a8a11
hcase "valid zstd chunk accepted"           "H R1=0 B END" "zs" hello:1:1:0x100 file:1:28:zs zsraw:28:$ZS end bye
hcase "zstd chunk without ZSTD negotiated"  "H E3 END" "" hello file:1:28:zs zsraw:28:$ZS end bye
HC_CHECK=chk_bomb hcase "zstd bomb: 64 MiB of zeros declared as 1024 bytes" "H E7 END" "" \
	hello:1:1:0x100 file:1:1024:bomb zsfill:1024:67108864
HC_CHECK=chk_bomb hcase "zstd bomb whose header lies: 64 MiB as one full chunk" "H E7 END" "" \
	hello:1:1:0x100 file:1:262144:bomb zsfill:262144:67108864:1
hcase "zstd: honest frame of a full chunk accepted" "H R1=0 B END" "zf" \
	hello:1:1:0x100 file:1:262144:zf zsfill:262144:262144 end bye
hcase "zstd: garbage bytes"                 "H E7 END" "" hello:1:1:0x100 file:1:3:z zsraw:3:0102030405 end bye
hcase "zstd: truncated frame"               "H E7 END" "" hello:1:1:0x100 file:1:28:z zsraw:28:${ZS:0:40} end bye
hcase "zstd: decodes past raw_len"          "H E7 END" "" hello:1:1:0x100 file:1:27:z zsraw:27:$ZS end bye
hcase "zstd: trailing byte after the frame" "H E7 END" "" hello:1:1:0x100 file:1:28:z zsraw:28:${ZS}00 end bye
hcase "zstd: a window of 128 MiB"           "H E7 END" "" hello:1:1:0x100 file:1:28:z \
	zsraw:28:28b52ffd80881c000000${ZS:12} end bye

# ---- handshake -----------------------------------------------------------------
hcase "wrong magic"                         "E4 END" "" hdr:1:0:0:16 raw:5843505800010001$(rep 00 7)01
hcase "version 2..3 only"                   "E5 END" "" hello:2:3:1
hcase "version 0..0"                        "E1 END" "" hello:0:0:1
hcase "version_min above version_max"       "E1 END" "" hello:2:1:1
hcase "HELLO of 15 bytes"                   "E1 END" "" hdr:1:0:0:15 raw:544350580001000100000000000000
chk_hello_1() { grep -qx 'HELLO 1 1 1' <<<"$OUT" || why "answer was not 'HELLO 1 1 1'"; }
HC_CHECK=chk_hello_1 hcase "versions 1..5: version 1 chosen" "H B END" "" hello:1:5:1 bye
# every bit asked: the known ones granted (ZLIB, TREE, OFFER, STREAM, ZSTD
# and MULTI, 0x30f), the rest cleared; MULTI's STREAMS (F20) comes first
chk_hello_3() { grep -qx 'HELLO 1 1 783' <<<"$OUT" || why "answer was not 'HELLO 1 1 783'"; }
HC_CHECK=chk_hello_3 hcase "unknown capability bits cleared" "H F20 B END" "" hello:1:1:0xffffffffffffffff bye
hcase "HELLO with 240 extension bytes"      "H R1=0 B END" "x" hdr:1:0:0:256 raw:54435058000100010000000000000001$(rep ab 240) file:1:3:x data:abc end bye

# ---- connections that stop mid-frame ---------------------------------------------
HALF=$(rep 61 500)
# (2000000 bytes: above 1 MiB a file in progress has a temporary name;
# a smaller one is unnamed, O_TMPFILE)
chk_temp_seen() { grep -q TEMPSEEN <<<"$OUT" || why "no temporary file while the file was in progress (test did not reach the point)"; }
HC_CHECK=chk_temp_seen hcase "close after half a header, mid-file" "H CLOSED" "" \
	hello file:1:2000000:x fill:1000 waitframes:1 waittemp:"$D" raw:03000000 close
HC_CHECK=chk_temp_seen hcase "close after a DATA header and half its payload" "H CLOSED" "" \
	hello file:1:2000000:x fill:1000 waitframes:1 waittemp:"$D" hdr:3:0:0:1008 raw:0000000000000400$HALF close
HC_CHECK=chk_temp_seen hcase "close between two chunks" "H CLOSED" "" \
	hello file:1:2000000:x fill:1000 waitframes:1 waittemp:"$D" close
HC_CHECK=chk_temp_seen hcase "reset (RST) mid-chunk" "H CLOSED" "" \
	hello file:1:2000000:x fill:1000 waitframes:1 waittemp:"$D" hdr:3:0:0:1008 raw:0000000000000400$HALF rst
HC_CHECK=chk_temp_seen hcase "half-close (EOF) mid-chunk" "H END" "" \
	hello file:1:2000000:x fill:1000 waitframes:1 waittemp:"$D" hdr:3:0:0:1008 raw:0000000000000400$HALF shut
hcase "close after half a header, before HELLO" "CLOSED" "" raw:0100 close
hcase "close after half a FILE payload"      "H CLOSED" "" hello waitframes:1 hdr:2:0:0:40 raw:0000000100 close

# ---- the handshake's order and the closing sequence (tcpxfer(5)) -----------------
# The helper sends each script in one burst, so its FILE leaves before
# tcpget's HELLO can arrive: the receiver cannot tell and reads in order.
hcase "FILE sent before the receiver's HELLO arrived: read in order" "H R1=0 B END" "x" \
	hello file:1:3:x data:abc end bye
# After its BYE the receiver closes as soon as its output is written,
# without waiting for our end of stream (the helper never closes first).
chk_closes_at_once() {
	local ms; ms=$(sed -n 's/^EOF ms=\([0-9]*\)$/\1/p' <<<"$OUT")
	[ -n "$ms" ] && [ "$ms" -lt $((1000 * SLOW)) ] || why "no orderly close right after BYE (EOF ms=${ms:-none})"
}
HC_CHECK=chk_closes_at_once hcase "after BYE tcpget sends BYE and closes, not waiting for our EOF" "H R1=0 B END" "x" \
	hello file:1:3:x data:abc end bye

# ---- existing files and symlinks -------------------------------------------------
chk_keep() { [ "$(cat "$D/keep")" = original ] || why "existing file changed"; }
echo original >"$D/keep"
HC_CHECK=chk_keep hcase "existing file: RESULT 33, content unchanged" "H R1=33 B END" "keep" \
	hello file:1:3:keep data:new end bye
mkdir "$D/dd"
hcase "existing directory as the name: 33"  "H R1=33 B END" "dd" hello file:1:3:dd data:new end bye
echo plain >"$D/pf"
hcase "a file where a directory is needed: 39" "H R1=39 B END" "pf" hello file:1:3:pf/x data:new end bye
mkfifo "$D/fifo"
hcase "a FIFO where a directory is needed: 39" "H R1=39 B END" "fifo" hello file:1:3:fifo/x data:new end bye
ln -s "$OUTSIDE" "$D/link"
hcase "symlink DIR/link -> outside: 'link/x'" "H R1=39 B END" "link" hello file:1:3:link/x data:abc end bye
ln -s "$OUTSIDE" "$D/link"
hcase "symlink DIR/link -> outside: 'link/a/b'" "H R1=39 B END" "link" hello file:1:3:link/a/b data:abc end bye
ln -s "$OUTSIDE" "$D/link"
hcase "symlink as the final name"           "H R1=33 B END" "link" hello file:1:3:link data:abc end bye
ln -s "$W/outside-file/target" "$D/flink"
hcase "symlink to an outside file as the name" "H R1=33 B END" "flink" hello file:1:3:flink data:abc end bye
ln -s "$OUTSIDE/nothing" "$D/dangle"
hcase "dangling symlink as the name"        "H R1=33 B END" "dangle" hello file:1:3:dangle data:abc end bye
mkdir "$D/real"; ln -s real "$D/inner"
hcase "symlink to a directory inside DIR is not followed either" "H R1=39 B END" "inner real" hello file:1:3:inner/x data:abc end bye

# A directory swapped for a symlink out of DIR between two files of one
# connection (tcpget keeps the directory of consecutive files open; it must
# see the swap): the second file is refused, nothing goes through it.
# d-moved is outside DIR (pruned from the snapshot: it changes on purpose).
MV=$W/d-moved
mkdir -p "$D/sub" "$MV"
SNAP=$(outside_snapshot)
(for _ in $(seq 1 400); do [ -e "$D/sub/a" ] && break; sleep 0.05; done
 mv "$D/sub" "$MV/sub" && ln -s "$MV/sub" "$D/sub" && touch "$MV/swapped") &
SWAP_PID=$!
chk_swap() { wait "$SWAP_PID"; [ "$(ls -A "$MV/sub" 2>/dev/null)" = a ] || why "written through the swapped directory: $(ls -A "$MV/sub" 2>/dev/null | tr '\n' ' ')"; }
HC_CHECK=chk_swap hcase "directory swapped for a symlink out of DIR between two files: 39" "H R1=0 R2=39 B END" "sub" \
	hello file:1:1:sub/a data:x end waitfile:"$MV/swapped" file:2:1:sub/b data:y end bye
rm -rf "$MV"
SNAP=$(outside_snapshot)

# --overwrite: replaced atomically, and a symlink is replaced, not followed
O_D=$W/d-over
mkdir -p "$O_D"
SNAP=$(outside_snapshot)
start_tcpget O "$O_D" --overwrite -t $((10 * SLOW)) || finish
chk_over() { [ "$(cat "$O_D/keep")" = new ] || why "not replaced"; }
echo original >"$O_D/keep"
HC_SRV=O HC_DIR=$O_D HC_CHECK=chk_over hcase "--overwrite: existing file replaced" "H R1=0 B END" "keep" \
	hello file:1:3:keep data:new end bye
ln -s "$W/outside-file/target" "$O_D/flink"
chk_flink() { [ -f "$O_D/flink" ] && [ ! -L "$O_D/flink" ] && [ "$(cat "$O_D/flink")" = new ] || why "flink is not the new regular file"; }
HC_SRV=O HC_DIR=$O_D HC_CHECK=chk_flink hcase "--overwrite: symlink replaced, outside file untouched" "H R1=0 B END" "flink" \
	hello file:1:3:flink data:new end bye
ln -s "$OUTSIDE/nothing" "$O_D/dangle"
HC_SRV=O HC_DIR=$O_D hcase "--overwrite: dangling symlink replaced, nothing outside" "H R1=0 B END" "dangle" \
	hello file:1:3:dangle data:new end bye
mkdir "$O_D/dd"
HC_SRV=O HC_DIR=$O_D hcase "--overwrite: a directory is never replaced" "H R1=33 B END" "dd" \
	hello file:1:3:dd data:new end bye
ln -s "$OUTSIDE" "$O_D/link"
HC_SRV=O HC_DIR=$O_D hcase "--overwrite: 'link/x' through a symlink refused" "H R1=39 B END" "link" \
	hello file:1:3:link/x data:abc end bye

# ---- directories (DIR, type 9, only with TREE: capability 0x2) -------------------
# dirx ID MODE NAME: the hex of a DIR frame (mtime 2001-02-03 04:05:06 UTC)
dirx() {
	local n=${#3}
	printf '09000000%08x%08x%08x%016x00000000%04x' $((22 + n)) "$1" "$2" 981173106 "$n"
	printf '%s' "$3" | od -An -tx1 | tr -d ' \n'
}
chk_dir_meta() { [ "$(stat -c '%a %Y' "$D/d" 2>/dev/null)" = "750 981173106" ] || why "d: $(stat -c '%a %Y' "$D/d" 2>/dev/null), want 750 981173106"; }
HC_CHECK=chk_dir_meta hcase "DIR with TREE: made, mode and mtime set" "H R1=0 B END" "d" \
	hello:1:1:3 raw:"$(dirx 1 0750 d)" bye
HC_FAST=1 hcase "DIR without TREE: UNEXPECTED" "H E3 END" "" hello raw:"$(dirx 1 0755 d)" bye
HC_FAST=1 hcase "DIR asking TREE of no one: before HELLO" "E3 END" "" raw:"$(dirx 1 0755 d)"
hcase "DIR '..': 32, the session goes on" "H R1=32 R2=0 B END" "ok" \
	hello:1:1:3 raw:"$(dirx 1 0755 ..)" file:2:3:ok data:abc end bye
hcase "DIR '../x': 32"                   "H R1=32 B END" "" hello:1:1:3 raw:"$(dirx 1 0755 ../x)" bye
hcase "DIR absolute: 32"                 "H R1=32 B END" "" hello:1:1:3 raw:"$(dirx 1 0755 "$W/canary/dirx")" bye
ln -s "$OUTSIDE" "$D/link"
hcase "DIR 'link/x' through a symlink to outside: 39" "H R1=39 B END" "link" \
	hello:1:1:3 raw:"$(dirx 1 0777 link/x)" bye
ln -s "$OUTSIDE" "$D/link"
hcase "DIR over a symlink to outside: 33, not chmod'ed" "H R1=33 B END" "link" \
	hello:1:1:3 raw:"$(dirx 1 0777 link)" bye
echo plain >"$D/pf"
hcase "DIR over a file: 33"              "H R1=33 B END" "pf" hello:1:1:3 raw:"$(dirx 1 0755 pf)" bye
HC_FAST=1 hcase "DIR in a file: UNEXPECTED" "H E3 END" "" hello:1:1:3 file:1:10:x data:abc raw:"$(dirx 2 0755 d)"
hcase "DIR id out of sequence: MALFORMED" "H E1 END" "" hello:1:1:3 raw:"$(dirx 2 0755 d)"

# ---- streams (FILE of unknown size, STREAM_END type 13; only with STREAM: 0x8) ----
U=0xffffffffffffffff
hcase "stream: STREAM_END with its size and digest: stored" "H R1=0 B END" "s" \
	hello:1:1:8 file:1:$U:s data:abc data:de send:5 bye
hcase "stream of 0 bytes: stored empty" "H R1=0 B END" "s" hello:1:1:8 file:1:$U:s send:0 bye
hcase "stream: wrong digest: 34, nothing kept" "H R1=34 R2=0 B END" "ok" \
	hello:1:1:8 file:1:$U:s data:abc send:3:bad file:2:3:ok data:abc end bye
HC_FAST=1 hcase "stream: STREAM_END size short of the data: SIZE" "H E6 END" "" hello:1:1:8 file:1:$U:s data:abc send:2
HC_FAST=1 hcase "stream: STREAM_END size past the data: SIZE" "H E6 END" "" hello:1:1:8 file:1:$U:s data:abc send:4
HC_FAST=1 hcase "stream: STREAM_END size 2^64-1: MALFORMED" "H E1 END" "" hello:1:1:8 file:1:$U:s data:abc send:$U
HC_FAST=1 hcase "stream: END instead of STREAM_END: UNEXPECTED" "H E3 END" "" hello:1:1:8 file:1:$U:s data:abc end
HC_FAST=1 hcase "STREAM_END for a file of known size: UNEXPECTED" "H E3 END" "" hello:1:1:8 file:1:3:x data:abc send:3
HC_FAST=1 hcase "STREAM_END between files: UNEXPECTED" "H R1=0 E3 END" "x" hello:1:1:8 file:1:3:x data:abc end send:0
HC_FAST=1 hcase "STREAM_END without STREAM: no type, UNEXPECTED" "H E3 END" "" hello:1:1:1 file:1:3:x data:abc send:3
HC_FAST=1 hcase "STREAM_END header of length 2^32-1 without STREAM: UNEXPECTED, not 2" "H E3 END" "" \
	hello:1:1:1 file:1:3:x data:abc hdr:13:0:0:0xffffffff
HC_FAST=1 hcase "STREAM_END of 73 bytes: FRAME_TOO_LARGE from the header" "H E2 END" "" \
	hello:1:1:8 file:1:$U:s data:abc hdr:13:0:0:73
HC_FAST=1 hcase "STREAM_END of 71 bytes: MALFORMED" "H E1 END" "" \
	hello:1:1:8 file:1:$U:s data:abc hdr:13:0:0:71 raw:$(rep 00 71)
hcase "size 2^64-1 without STREAM is a size: 36 at FILE, as before" "H R1=36 B END" "" \
	hello:1:1:1 file:1:$U:x abort bye
HC_CHECK=chk_temp_seen hcase "stream cut mid-way (close): nothing kept" "H CLOSED" "" \
	hello:1:1:8 file:1:$U:s fill:1000 waitframes:1 waittemp:"$D" close

# ---- offers (OFFER 10, ANSWER 11, RESUME 12; capability 0x4) --------------------
# In SIG, An=d is the ANSWER to offer n (0 SEND, 1 RESUME, 2 SAME_TIME,
# 4/c REFUSED with code c).
O="hello:1:1:4"
hcase "OFFER, SEND, FILE with its fields: stored" "H A1=0 R1=0 B END" "of" \
	$O offer:1:3:0:0:of file:1:3:of data:abc end bye
echo abc >"$D/same" && touch -d @1700000000 "$D/same"
hcase "OFFER of a file already there, same size and time: SAME_TIME, nothing more" \
	"H A1=2 B END" "same" $O offer:1:4:0:0:same bye
echo abc >"$D/same" && touch -d @1700000000 "$D/same"
HC_FAST=1 hcase "FILE after SAME_TIME: NOT_OFFERED (19)" "H A1=2 E19 END" "same" \
	$O offer:1:4:0:0:same sleep:200 file:1:4:same data:abcd end bye
HC_FAST=1 hcase "FILE with another size than offered: 19" "H A1=0 E19 END" "" \
	$O offer:1:3:0:0:x file:1:4:x data:abcd end bye
HC_FAST=1 hcase "FILE with another id than offered: 19" "H A1=0 E19 END" "" \
	$O offer:1:3:0:0:x file:2:3:x data:abc end bye
HC_FAST=1 hcase "FILE never offered, with OFFER: 19" "H E19 END" "" $O file:1:3:x data:abc end bye
HC_FAST=1 hcase "RESUME for an offer answered SEND: 19" "H A1=0 E19 END" "" \
	$O offer:1:3:0:1:x resume:1:3:1:x data:bc end bye
HC_FAST=1 hcase "OFFER without the capability: UNEXPECTED" "H E3 END" "" hello offer:1:3:0:0:x
HC_FAST=1 hcase "OFFER with policy 3: MALFORMED" "H E1 END" "" \
	$O raw:"0a000000000000210000000100000000000000030000$(printf %04x 420)0000000065$(printf '53f100')00000000000103000078"
HC_FAST=1 hcase "OFFER id out of sequence: MALFORMED" "H E1 END" "" $O offer:2:3:0:0:x
hcase "the same name offered twice: the second refused, 41" "H A1=0 A2=4/41 R1=0 B END" "x" \
	$O offer:1:3:0:0:x offer:2:3:0:0:x file:1:3:x data:abc end bye
hcase "OFFER of '../x': 32 in the ANSWER" "H A1=4/32 B END" "" $O offer:1:3:0:0:../x bye
offers=()
for i in $(seq 1 257); do offers+=("offer:$i:1:0:0:f$i"); done
HC_FAST=1 hcase "257 offers answered SEND, none begun: OFFERS (18)" \
	"H $(for i in $(seq 1 256); do printf 'A%d=0 ' "$i"; done)E18 END" "" $O "${offers[@]}"
hcase "offered with resume, wrong digest at END: 34, partial data removed" "H A1=0 R1=34 B END" "" \
	$O offer:1:1048582:0:1:p file:1:1048582:p data:abcdef fill:1048576 end:bad bye
# partial data kept by a connection that ends mid-file, then resumed by one
# whose END is wrong: the partial data goes too (a file above 1 MiB: only
# those keep partial data)
"$HELPER" -p "$M_PORT" -w "$WAIT" $O offer:1:1048582:0:1:q file:1:1048582:q data:abc sleep:200 close >/dev/null 2>&1
hcase "resumed from kept partial data (RESUME 3), wrong END: 34, the partial removed" \
	"H A1=1 R1=34 B END" "" $O offer:1:1048582:0:1:q resume:1:1048582:3:q fill:1048579 end:bad bye

# ---- limits: idle timeout, --max-size, --max-clients ----------------------------
I_D=$W/d-idle
mkdir -p "$I_D"
SNAP=$(outside_snapshot)
start_tcpget I "$I_D" -t 1 || finish
chk_idle_ms() {
	local ms; ms=$(err_ms "$OUT")
	[ -n "$ms" ] && [ "$ms" -ge 900 ] && [ "$ms" -le $((2000 * SLOW)) ] || why "TIMEOUT after ${ms:-?} ms, want 1000..2000"
}
HC_SRV=I HC_DIR=$I_D HC_CHECK=chk_idle_ms hcase "idle: silent connection gets ERROR 8 in ~1 s" "E8 END" ""
HC_SRV=I HC_DIR=$I_D HC_CHECK=chk_idle_ms hcase "idle after HELLO: ERROR 8" "H E8 END" "" hello
HC_SRV=I HC_DIR=$I_D HC_CHECK=chk_idle_ms hcase "idle mid-file: ERROR 8, temp removed" "H E8 END" "" hello file:1:100:x data:abc
HC_SRV=I HC_DIR=$I_D HC_CHECK=chk_idle_ms hcase "idle mid-frame: ERROR 8" "H E8 END" "" hello hdr:2:0:0:40 raw:00000001

X_D=$W/d-size
mkdir -p "$X_D"
SNAP=$(outside_snapshot)
start_tcpget X "$X_D" --max-size 1000 -t $((10 * SLOW)) || finish
HC_SRV=X HC_DIR=$X_D hcase "--max-size 1000: 2000 bytes refused (35), 1000 accepted" "H R1=35 R2=0 B END" "ok" \
	hello file:1:2000:big fill:2000 end file:2:1000:ok fill:1000 end bye
HC_SRV=X HC_DIR=$X_D hcase "--max-size: a size near 2^64 is 35, the limit before the disk" "H R1=35 E6 END" "" \
	hello file:1:0xffffffffffffffff:x data:abc end bye
HC_SRV=X HC_DIR=$X_D hcase "--max-size 1000: a stream past it is 35 mid-way, nothing kept" "H R1=35 R2=0 B END" "ok" \
	hello:1:1:8 file:1:$U:big fill:2000 send:2000 file:2:1000:ok fill:1000 end bye
HC_SRV=X HC_DIR=$X_D hcase "--max-size 1000: a stream of exactly 1000 bytes is stored" "H R1=0 B END" "s" \
	hello:1:1:8 file:1:$U:s fill:1000 send:1000 bye
head -c 2000 /dev/urandom >"$T/src/big2000"
begin "--max-size: tcpput of a larger file exits 1, nothing stored"
out=$("$BIN/tcpput" "$T/src/big2000" "127.0.0.1:$X_PORT" 2>&1); rc=$?
[ $rc -eq 1 ] || why "tcpput exit $rc, want 1"
after_case "" X "$X_D"
end_case "$out"

C_D=$W/d-clients
mkdir -p "$C_D"
SNAP=$(outside_snapshot)
start_tcpget C "$C_D" --max-clients 2 -t $((10 * SLOW)) || finish
: >"$T/logs/hold2"
"$HELPER" -p "$C_PORT" hold 2 $((20 * SLOW)) >"$T/logs/hold2" 2>&1 &
HOLD=$!
PIDS+=("$HOLD")
for ((i = 0; i < 100 * SLOW; i++)); do grep -q '^HELD' "$T/logs/hold2" && break; sleep 0.05; done
begin "--max-clients 2: third connection gets ERROR 9 BUSY (after its HELLO)"
grep -q '^HELD 2 hello=2 ' "$T/logs/hold2" || why "could not hold 2 sessions: $(cat "$T/logs/hold2")"
OUT=$("$HELPER" -p "$C_PORT" -w "$WAIT" hello 2>&1)
[ "$(sig "$OUT")" = "E9 END" ] || why "replies '$(sig "$OUT")', want 'E9 END'"
end_case "$OUT"
begin "--max-clients 2: a silent third connection gets ERROR 9 at once"
OUT=$("$HELPER" -p "$C_PORT" -w "$WAIT" 2>&1)
[ "$(sig "$OUT")" = "E9 END" ] || why "replies '$(sig "$OUT")', want 'E9 END'"
ms=$(err_ms "$OUT")
[ -n "$ms" ] && [ "$ms" -lt $((1000 * SLOW)) ] || why "BUSY not at once (ms=${ms:-none})"
kill -TERM "$HOLD" 2>/dev/null
wait "$HOLD" 2>/dev/null
grep -q '^RELEASED dropped=0' "$T/logs/hold2" || why "the held sessions were dropped by tcpget: $(tail -n 1 "$T/logs/hold2")"
# the slots free up once tcpget sees the held connections close
for ((i = 0; i < 40 * SLOW; i++)); do
	[ "$(sig "$("$HELPER" -p "$C_PORT" -w "$WAIT" hello bye 2>&1)")" = "H B END" ] && break
	sleep 0.05
done
after_case "" C "$C_D"
end_case "$OUT"

# ---- symlink race: DIR/sub swapped with a symlink to outside while files
# are written into DIR/sub/... (as in rsync's symlink-race tests) ---------
R_D=$W/d-race
R_OUT=$W/race-outside
mkdir -p "$R_D/sub" "$R_OUT"
SNAP=$(outside_snapshot)
start_tcpget R "$R_D" -t $((10 * SLOW)) || finish

# race_senders: sessions of 200 files each into sub/..., until the swapping
# loop (pid $1) ends; bounded to 40 sessions.
race_senders() {
	local swapper=$1 round=0 out
	RACE_SIGS=""
	RACE_OK=0
	RACE_CODES=""
	while [ $round -lt 40 ]; do
		round=$((round + 1))
		if [ $((round % 2)) -eq 0 ]; then
			out=$("$HELPER" -p "$R_PORT" -w "$WAIT" hello files:200:sub/r${round}f:300 bye 2>&1)
		else
			out=$("$HELPER" -p "$R_PORT" -w "$WAIT" hello files:200:sub/d${round}/f:300 bye 2>&1)
		fi
		RACE_SIGS+="$(sig "$out" | sed 's/ R[0-9]*=[0-9]*//g')|"
		RACE_OK=$((RACE_OK + $(grep -c '^RESULT [0-9]* 0 ' <<<"$out")))
		RACE_CODES+="$(grep '^RESULT' <<<"$out" | awk '$3 != 0 {printf " %s", $3}')"
		alive "$swapper" || break
	done
	RACE_ROUNDS=$round
}
race_checks() {
	local stray n
	wait_no_temp "$R_D" || why "temporary file left: $(temps "$R_D" | head -n 3 | tr '\n' ' ')"
	stray=$(find "$R_OUT" -mindepth 1 | head -n 5)
	[ -z "$stray" ] || why "files appeared outside: $stray"
	[ "$(outside_snapshot)" = "$SNAP" ] || why "changed outside DIR"
	# every session completed (HELLO ... BYE), none ended in ERROR
	[ -z "$(tr '|' '\n' <<<"$RACE_SIGS" | grep -v '^$' | grep -vx 'H B END')" ] ||
		why "sessions did not complete: $(tr '|' '\n' <<<"$RACE_SIGS" | sort | uniq -c | tr -s ' \n' ' ')"
	n=$(find "$R_D" -type f | wc -l)
	[ "$n" -eq "$RACE_OK" ] || why "$RACE_OK files reported stored, $n files under DIR"
	alive "$R_PID" || why "tcpget died"
	alive "$R_PID" && put_ok R "$R_PORT" "$R_D"
	find "$R_D" -mindepth 1 -delete
	mkdir -p "$R_D/sub"
}

race_summary() {
	echo "     ($(cat "$1"); $RACE_ROUNDS sessions, $RACE_OK files stored, refused by code: $(tr ' ' '\n' <<<"$RACE_CODES" | grep . | sort | uniq -c | awk '{printf "%s x%s ", $2, $1}'))"
}

begin "symlink race: DIR/sub atomically exchanged with a symlink to outside (2 s)"
"$HELPER" swap "$R_D/sub" "$R_OUT" 2 1000000 >"$T/logs/swap1" 2>&1 &
SW=$!
PIDS+=("$SW")
race_senders "$SW"
wait "$SW"
race_checks
end_case "$(cat "$T/logs/swap1")"
race_summary "$T/logs/swap1"

begin "symlink race: mv DIR/sub away, ln -sfn outside in its place, back (2 s)"
(
	trap - EXIT
	end=$(( ${EPOCHREALTIME/./} + 2000000 )) i=0
	while [ $i -lt 2000 ] && [ "${EPOCHREALTIME/./}" -lt $end ]; do
		# the real directory away, a symlink in its place, then back;
		# if tcpget made a new sub in the gap, that one goes next time
		mv -T "$R_D/sub" "$R_D/sub.$i" 2>/dev/null
		ln -snT "$R_OUT" "$R_D/sub" 2>/dev/null
		rm -f "$R_D/sub" 2>/dev/null
		mv -T "$R_D/sub.$i" "$R_D/sub" 2>/dev/null
		i=$((i + 1))
	done
	echo "mv/ln iterations=$i"
) >"$T/logs/swap2" 2>&1 &
SW=$!
PIDS+=("$SW")
race_senders "$SW"
wait "$SW"
race_checks
end_case "$(cat "$T/logs/swap2")"
race_summary "$T/logs/swap2"

# ---- tcpput against fake receivers (helper_receiver) ------------------------------
# fcase NAME WANT_SIG WANT_EXIT RECEIVER_STEP... -- TCPPUT_ARG...: one
# tcpput run against a scripted receiver.  WANT_SIG is what the receiver
# saw the sender send; FC_CHECK names a function run afterwards, which
# reads FOUT (the receiver's report), PERR and POUT (tcpput's stderr and
# stdout) and PMS (how long tcpput ran, ms).
fcase() {
	local name=$1 want=$2 wexit=$3 port="" i t0 fpid rc
	local rargs=()
	shift 3
	while [ $# -gt 0 ] && [ "$1" != -- ]; do rargs+=("$1"); shift; done
	shift
	begin "$name"
	# emptied first: the loop below must not read the last case's PORT
	# before the new helper's redirection truncates the file
	: >"$T/logs/frecv.out"
	"$FRECV" "${rargs[@]}" >"$T/logs/frecv.out" 2>&1 &
	fpid=$!
	PIDS+=("$fpid")
	# bounded (10 s, more under the sanitizers); a loaded machine can take
	# seconds to start a sanitizer build
	for ((i = 0; i < 500 * SLOW; i++)); do
		port=$(sed -n 's/^PORT //p' "$T/logs/frecv.out")
		[ -n "$port" ] && break
		sleep 0.02
	done
	t0=${EPOCHREALTIME/./}
	"$BIN/tcpput" "$@" "127.0.0.1:$port" >"$T/logs/fput.out" 2>"$T/logs/fput.err"
	rc=$?
	PMS=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))
	wait "$fpid"
	FOUT=$(cat "$T/logs/frecv.out")
	POUT=$(cat "$T/logs/fput.out")
	PERR=$(cat "$T/logs/fput.err")
	[ "$(sig "$FOUT")" = "$want" ] || why "receiver saw '$(sig "$FOUT")', want '$want'"
	[ $rc -eq "$wexit" ] || why "tcpput exit $rc, want $wexit"
	[ -n "${FC_CHECK:-}" ] && "$FC_CHECK"
	end_case "$FOUT
$(sed 's/^/tcpput: /' <<<"$POUT")
$PERR"
}
head -c 1000 /dev/urandom >"$T/src/f1000"
truncate -s 16M "$T/src/f16m"
# tcpput -r against a receiver that grants no TREE (an older tcpget): the
# files of the tree go, with their paths, no DIR frame; one warning; exit 0
mkdir -p "$T/src/oldtree/sub/empty" && echo a >"$T/src/oldtree/sub/a"
chk_no_dir_frames() {
	grep -q '^FILE 1 2 "oldtree/sub/a"' <<<"$FOUT" || why "no FILE oldtree/sub/a"
	! grep -q '^FRAME 9' <<<"$FOUT" || why "a DIR frame was sent"
	[ "$(grep -c 'does not take directories' <<<"$PERR")" -eq 1 ] || why "not warned exactly once"
}
FC_CHECK=chk_no_dir_frames fcase "tcpput -r to a receiver without TREE: files only, warned once" \
	"H F1 E1 B EOF" 0 hello answer bye -- -r "$T/src/oldtree"
# ERROR 8 within -t 1 of the last byte, nothing claims the receiver closed
chk_gave_up() {
	local ms; ms=$(sed -n 's/^ERROR 8 ms=\([0-9]*\) .*/\1/p' <<<"$FOUT")
	[ -n "$ms" ] && [ "$ms" -ge 900 ] && [ "$ms" -le $((2500 * SLOW)) ] || why "ERROR 8 after ${ms:-?} ms, want about 1000"
	grep -q 'timed out' <<<"$PERR" || why "no timeout message"
	! grep -q 'closed by' <<<"$PERR" || why "says the connection was closed by the peer"
}
FC_CHECK=chk_gave_up fcase "tcpput -t 1, receiver silent before its HELLO: ERROR 8, exit 5" \
	"H ERR8 EOF" 5 silent:$((3000 * SLOW)) -- -t 1 "$T/src/f1000"
chk_gave_up_file() {
	chk_gave_up
	grep -q 'f1000: timed out: no verdict: tcpput gave up' <<<"$PERR" || why "the file is not reported as given up"
}
FC_CHECK=chk_gave_up_file fcase "tcpput -t 1, receiver silent after the handshake: ERROR 8, exit 5" \
	"H F1 E1 B ERR8 EOF" 5 hello silent:$((3000 * SLOW)) -- -t 1 "$T/src/f1000"
# A receiver reading 16 KiB every 0.25 s for 3 s: tcpput's send buffer stays
# full all along (no POLLOUT), but the receiver accepts bytes: not idle.
chk_slow() {
	! grep -q 'timed out' <<<"$PERR" || why "tcpput gave up on a receiver that was reading"
	grep -q '^f16m  16.0 MiB  blake2b-512:' <<<"$POUT" || why "f16m not verified"
	grep -q '^SLOW [0-9]* bytes read in 3000 ms' <<<"$FOUT" || why "no slow phase"
	[ "$PMS" -ge 3000 ] || why "tcpput ran $PMS ms: the slow phase did not hold it for longer than -t"
}
FC_CHECK=chk_slow fcase "tcpput -t 1, receiver reading 16 KiB every 0.25 s for 3 s: no timeout" \
	"H F1 E1 B EOF" 0 -r 16384 hello slow:16384:250:3000 answer bye -- -t 1 "$T/src/f16m"
chk_verdicts_no_bye() {
	grep -q "warning: $1 before its BYE; every file has its verdict" <<<"$PERR" || why "no warning about the missing BYE"
	grep -q '^f1000  1000 B  blake2b-512:' <<<"$POUT" || why "f1000 not verified"
	! grep -q 'no verdict' <<<"$PERR" || why "a file reported without verdict"
}
chk_closed_no_bye() { chk_verdicts_no_bye "the receiver closed the connection"; }
FC_CHECK=chk_closed_no_bye fcase "every verdict 0, then the receiver closes without BYE: exit 0, a warning" \
	"H F1 E1 B CLOSED" 0 hello answer close -- -t 5 "$T/src/f1000"
chk_silent_no_bye() { chk_verdicts_no_bye "the receiver went silent"; }
FC_CHECK=chk_silent_no_bye fcase "every verdict 0, then the receiver goes silent: ERROR 8, exit 0, a warning" \
	"H F1 E1 B ERR8 EOF" 0 hello answer silent:$((3000 * SLOW)) -- -t 1 "$T/src/f1000"
chk_lost() {
	grep -q 'connection closed by the receiver' <<<"$PERR" || why "no message about the close"
	grep -q 'f1000: connection closed by peer: no verdict from the receiver' <<<"$PERR" || why "the file is not reported without verdict"
}
FC_CHECK=chk_lost fcase "the receiver closes before the verdict: exit 5" \
	"H F1 E1 B CLOSED" 5 hello drain close -- -t 5 "$T/src/f1000"
# After the receiver's BYE tcpput closes at once, without waiting for an
# end of stream the receiver never sends, and without half-closing before.
chk_closes_after_bye() {
	local ms; ms=$(sed -n 's/^EOF ms=\([0-9]*\)$/\1/p' <<<"$FOUT")
	[ -n "$ms" ] && [ "$ms" -lt $((1000 * SLOW)) ] || why "tcpput's end of stream ${ms:-never} ms after our BYE"
	[ "$PMS" -lt $((2000 * SLOW)) ] || why "tcpput ran $PMS ms"
}
FC_CHECK=chk_closes_after_bye fcase "after the receiver's BYE tcpput closes at once (the receiver holds on)" \
	"H F1 E1 B EOF" 0 hello answer bye hold:$((3000 * SLOW)) -- -t 5 "$T/src/f1000"

# ---- SECURE (tcpxfer(5) SECURE): a receiver with a key -----------------------
# Every case: refused with its ERROR (in the clear before the receiver's
# KX_REPLY, sealed after: F19), nothing stored, the receiver still serving
# a sender with a key.  The sender waits for the receiver's HELLO before
# its first handshake frame (waitframes:1), as the spec says it must; one
# case shows what a sender that does not gets.
S_D=$W/d-secure
KD=$T/src/keys
mkdir -p "$S_D" "$KD"
"$BIN/tcpget" --genkey "$KD/r" >/dev/null 2>&1
"$BIN/tcpput" --genkey "$KD/s" >/dev/null 2>&1
SNAP=$(outside_snapshot)      # d-secure is new in w/
start_tcpget S "$S_D" --key "$KD/r" --allow-any-sender -t $((10 * SLOW)) || finish
PUT_OK_ARGS=(--key "$KD/s" --peer-key "$KD/r.pub")
zeros() { printf '%0*d' $((2 * $1)) 0; }
KXI=raw:1000000000000020$(printf '20243c2fa724ef40cdd0a518dd546e05b914cad065b4e8a3958079080aac6607')
export HC_SRV=S HC_DIR=$S_D
hcase "SECURE: a HELLO without SECURE to a receiver with a key" "E12 END" "" \
	hello file:1:3:a data:abc end bye
hcase "SECURE: AES256GCM asked without SECURE" "E12 END" "" hello:1:1:0x20
hcase "SECURE: KX_INIT before HELLO" "E3 END" "" $KXI
hcase "SECURE: KX_INIT sent before the receiver's HELLO came" "H E3 END" "" \
	hello:1:1:0x10 $KXI
hcase "SECURE: a SEALED record before the handshake" "H E3 END" "" \
	hello:1:1:0x10 waitframes:1 raw:1300000000000018$(zeros 24)
hcase "SECURE: FILE instead of KX_INIT (nothing of it read)" "H E3 END" "" \
	hello:1:1:0x10 waitframes:1 file:1:3:a data:abc end bye
hcase "SECURE: KX_INIT one byte long (FRAME_TOO_LARGE from the header)" "H E2 END" "" \
	hello:1:1:0x10 waitframes:1 hdr:16:0:0:33
hcase "SECURE: KX_INIT too short" "H E1 END" "" \
	hello:1:1:0x10 waitframes:1 raw:100000000000001f$(zeros 31)
hcase "SECURE: KX_INIT the all-zero point" "H E13 END" "" \
	hello:1:1:0x10 waitframes:1 raw:1000000000000020$(zeros 32)
hcase "SECURE: a forged KX_AUTH (sealed ERROR 13)" "H F17 F19 END" "" \
	hello:1:1:0x10 waitframes:1 $KXI raw:1800000000000070$(zeros 112)
hcase "SECURE: KX_AUTH declaring 4 GiB" "H F17 F19 END" "" \
	hello:1:1:0x10 waitframes:1 $KXI hdr:18:0:0:0xffffffff
hcase "SECURE: records instead of KX_AUTH" "H F17 F19 END" "" \
	hello:1:1:0x10 waitframes:1 $KXI raw:1300000000000018$(zeros 24)
hcase "SECURE: the sender gives up in the handshake (ERROR)" "H F17 END" "" \
	hello:1:1:0x10 waitframes:1 $KXI raw:0800000000000004000d0000
unset HC_SRV HC_DIR
PUT_OK_ARGS=()

# ---- the end: every tcpget stops cleanly on SIGTERM, no sanitizer report ----
stops_cleanly M O I X C R S
check "no sanitizer report in any tcpget log" sanitizer_clean "$T"/logs/*.err
finish
