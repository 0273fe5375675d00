#!/usr/bin/env bash
# tests/disk.sh: what senders can do to tcpget's disk, and a second
# receiver on the same directory.  Real tcpget processes on loopback,
# driven by build/helper_hostile and tcpput:
#
#  - deep new directories for files that are then aborted, refused or fail
#    leave no directory behind (directories exist only at commit);
#  - --max-dirs caps the directories one connection creates: the file over
#    the cap is refused with RESULT 36, the connection's other files arrive,
#    and the next connection starts afresh;
#  - on a small tmpfs, --min-free and --min-free-inodes refuse a file that
#    would cross them while the file system still has room, and a smaller
#    file still arrives; with the defaults a flood of deep names stops
#    short of the last free inodes;
#  - a second tcpget on the same directory refuses to start, and the
#    first one's file in progress completes.
#
# usage: bash tests/disk.sh BUILD_DIR       (e.g. build, build-asan)
# Mounting a tmpfs needs root (else those cases are skipped, and said so).
SUITE=disk
# The shared set-up: build dir, helper, scaling, assertions.
. "$(dirname "$0")/peer_lib.sh"

WAIT=$((20000 * SLOW))   # a bound only: on a loaded machine 4095 mkdirs can take seconds
# started NAME DIR ARGS...: start_tcpget, counting a failure to start as a
# failed case (an unknown option, say) before giving up
started() {
	start_tcpget "$@" && return 0
	bad "tcpget $1 starts ($(head -c 300 "$T/logs/$1.err"))"
	finish
}
# hrun SERVER STEP...: one helper connection; output in OUT
hrun() {
	local port
	eval "port=\$${1}_PORT"
	shift
	OUT=$("$HELPER" -p "$port" -w "$WAIT" "$@" 2>&1)
}
want_sig() { [ "$(sig "$OUT")" = "$1" ] || why "replies '$(short "$(sig "$OUT")")', want '$(short "$1")'"; }
# dirs_below DIR: how many directories below DIR
dirs_below() { find "$1" -mindepth 1 -type d | wc -l; }
# deep N: "d/d/.../d" with N components
deep() { local s="" i; for ((i = 0; i < $1; i++)); do s+="d/"; done; printf '%s' "${s%/}"; }
# free_bytes DIR, free_inodes DIR: what an unprivileged user may still use
free_bytes() { echo $(($(stat -f -c '%a * %S' "$1"))); }
free_inodes() { stat -f -c %d "$1"; }

# ---- directories of files that never arrive ---------------------------------
D=$T/flood
mkdir -p "$D"
started M "$D" --max-size=1000 -t $((10 * SLOW))
D62=$(deep 62)
begin "300 FILEs with 63 new directories each, then ABORT: no directory left"
steps=(hello) want="H"
for ((i = 1; i <= 300; i++)); do
	steps+=("file:$i:3:a$i/$D62/x" abort)
	want+=" R$i=38"
done
steps+=("file:301:3:ok" data:abc end bye)
want+=" R301=0 B END"
hrun M "${steps[@]}"
want_sig "$want"
n=$(dirs_below "$D")
[ "$n" -eq 0 ] || why "$n directories left under DIR (18,900 if every FILE left its own)"
after=$(listing "$D")
[ "$after" = "ok" ] || why "DIR holds '$(short "$after")', want 'ok'"
wait_no_temp "$D" || why "temporary file left"
alive "$M_PID" && put_ok M "$M_PORT" "$D"
rm -f "$D/ok"
end_case "$OUT"

begin "deep new directories for files that fail (data then ABORT, wrong digest, too big): none left"
steps=(hello) want="H"
for ((i = 1; i <= 100; i += 3)); do
	steps+=("file:$i:3:b$i/$D62/x" data:abc abort)
	steps+=("file:$((i + 1)):3:c$i/$D62/x" data:abc end:bad)
	steps+=("file:$((i + 2)):2000:e$i/$D62/x" fill:2000 end)
	want+=" R$i=38 R$((i + 1))=34 R$((i + 2))=35"
done
steps+=(bye)
want+=" B END"
hrun M "${steps[@]}"
want_sig "$want"
n=$(dirs_below "$D")
[ "$n" -eq 0 ] || why "$n directories left under DIR"
wait_no_temp "$D" || why "temporary file left"
alive "$M_PID" && put_ok M "$M_PORT" "$D"
end_case "$OUT"

# ---- --max-dirs: the directories one connection may create -------------------
C=$T/cap
mkdir -p "$C"
started C "$C" --max-dirs=10 -t $((10 * SLOW))
begin "--max-dirs=10: the file over the cap gets RESULT 36, the others arrive"
hrun C hello file:1:3:a/b/c/d/e/f1 data:abc end file:2:3:a/b/x/y/z/w/f2 data:abc end \
	file:3:3:p/q/f3 data:abc end file:4:3:a/b/c/d/e/f4 data:abc end \
	file:5:3:top data:abc end file:6:3:r/f6 data:abc end bye
want_sig "H R1=0 R2=0 R3=36 R4=0 R5=0 R6=0 B END"
grep -q '^RESULT 3 36 ".*--max-dirs' <<<"$OUT" || why "RESULT 3 does not name --max-dirs: $(grep '^RESULT 3 ' <<<"$OUT")"
got=$(listing "$C")
want="a a/b a/b/c a/b/c/d a/b/c/d/e a/b/c/d/e/f1 a/b/c/d/e/f4 a/b/x a/b/x/y a/b/x/y/z a/b/x/y/z/w a/b/x/y/z/w/f2 r r/f6 top"
[ "$got" = "$want" ] || why "DIR holds '$got'"
for f in a/b/c/d/e/f1 a/b/x/y/z/w/f2 a/b/c/d/e/f4 top r/f6; do
	[ "$(cat "$C/$f" 2>/dev/null)" = abc ] || why "$f is not intact"
done
grep -q "refused p/q/f3 .*--max-dirs" "$C_ERR" || why "the log does not say why p/q/f3 was refused"
wait_no_temp "$C" || why "temporary file left"
end_case "$OUT"

begin "--max-dirs: the next connection has its own budget"
hrun C hello file:1:3:p/q/f3 data:abc end bye
want_sig "H R1=0 B END"
[ "$(cat "$C/p/q/f3" 2>/dev/null)" = abc ] || why "p/q/f3 did not arrive"
alive "$C_PID" && put_ok C "$C_PORT" "$C"
end_case "$OUT"

begin "default --max-dirs (4096): the 66th file of 63 new directories is refused, a flat one still arrives"
steps=(hello) want="H"
for ((i = 1; i <= 66; i++)); do
	steps+=("file:$i:0:g$i/$(deep 62)/x" end)
	want+=" R$i=0"
done
want="${want% R66=0} R66=36 R67=0 B END"
steps+=(file:67:3:flat data:abc end bye)
hrun M "${steps[@]}"
want_sig "$want"
n=$(dirs_below "$D")
[ "$n" -eq $((65 * 63)) ] || why "$n directories under DIR, want $((65 * 63))"
[ ! -e "$D/g66" ] || why "the refused file left g66"
[ "$(cat "$D/flat" 2>/dev/null)" = abc ] || why "flat did not arrive"
find "$D" -mindepth 1 -delete
end_case "$OUT"

# ---- --min-free, --min-free-inodes on a small file system ------------------------
F=$T/small
mkdir -p "$F"
head -c 3500000 /dev/urandom >"$T/src/three-mb"
if mount -t tmpfs -o size=4m,nr_inodes=500 tmpfs "$F" 2>/dev/null; then
	MOUNTS+=("$F")
	started F "$F" --min-free=1M --min-free-inodes=100 -t $((10 * SLOW))
	begin "4 MiB tmpfs, --min-free=1M: 3.5 MB refused (36) while it would fit, 2 MB arrives"
	room=$(free_bytes "$F")
	[ "$room" -ge 3500000 ] || why "the file system has only $room bytes: the case tests nothing"
	hrun F hello file:1:3500000:big fill:3500000 end file:2:2000000:mid fill:2000000 end bye
	want_sig "H R1=36 R2=0 B END"
	grep -q '^RESULT 1 36 ".*--min-free' <<<"$OUT" || why "RESULT 1 does not name --min-free: $(grep '^RESULT 1 ' <<<"$OUT")"
	[ "$(stat -c %s "$F/mid" 2>/dev/null)" = 2000000 ] || why "mid did not arrive whole"
	[ ! -e "$F/big" ] || why "big exists"
	left=$(free_bytes "$F")
	[ "$left" -ge $((1024 * 1024)) ] || why "only $left bytes left free"
	wait_no_temp "$F" || why "temporary file left"
	rm -f "$F/mid"
	end_case "$OUT (free before: $room, after: $left)"

	begin "--min-free: tcpput of the 3.5 MB file exits 1 and says why"
	out=$("$BIN/tcpput" "$T/src/three-mb" "127.0.0.1:$F_PORT" 2>&1); rc=$?
	[ $rc -eq 1 ] || why "tcpput exit $rc, want 1"
	grep -q -- "--min-free" <<<"$out" || why "message does not name --min-free: $out"
	alive "$F_PID" && put_ok F "$F_PORT" "$F"
	end_case "$out"

	begin "--min-free: a 3.5 MB stream (tcpput -) refused part way (36), nothing kept, 1 MiB still free"
	out=$(cat "$T/src/three-mb" | "$BIN/tcpput" - "127.0.0.1:$F_PORT" --name stream 2>&1); rc=$?
	[ $rc -eq 1 ] || why "tcpput exit $rc, want 1"
	grep -q -- "--min-free" <<<"$out" || why "message does not name --min-free: $out"
	[ ! -e "$F/stream" ] || why "the stream exists"
	wait_no_temp "$F" || why "temporary file left"
	left=$(free_bytes "$F")
	[ "$left" -ge $((1024 * 1024)) ] || why "only $left bytes left free"
	alive "$F_PID" && put_ok F "$F_PORT" "$F"
	end_case "$out"

	begin "nr_inodes=500, --min-free-inodes=100: 30 new directories refused (36) with 130 inodes free, smaller files arrive"
	mkdir "$F/fill"
	n=$(($(free_inodes "$F") - 130))
	(cd "$F/fill" && for ((i = 1; i <= n; i++)); do : >"$i"; done)
	inodes=$(free_inodes "$F")
	[ "$inodes" -eq 130 ] || why "$inodes inodes free after filling, want 130"
	hrun F hello file:1:3:"$(deep 30)/x" data:abc end file:2:3:flat data:abc end \
		file:3:3:"$(deep 20)/y" data:abc end bye
	want_sig "H R1=36 R2=0 R3=0 B END"
	grep -q '^RESULT 1 36 ".*--min-free-inodes' <<<"$OUT" || why "RESULT 1 does not name --min-free-inodes: $(grep '^RESULT 1 ' <<<"$OUT")"
	[ "$(cat "$F/flat" 2>/dev/null)" = abc ] && [ "$(cat "$F/$(deep 20)/y" 2>/dev/null)" = abc ] ||
		why "flat or the 20-deep file did not arrive"
	[ ! -e "$F/$(deep 30)/x" ] || why "the refused file exists"
	left=$(free_inodes "$F")
	[ "$left" -ge 100 ] || why "only $left inodes left free"
	end_case "$OUT (inodes free before: $inodes, after: $left)"
	find "$F" -mindepth 1 -delete
	stop_tcpget F

	started FD "$F" -t $((10 * SLOW))
	begin "defaults on the 500-inode tmpfs: a flood of new directories stops short of the last inodes"
	# each file a new directory and itself: two inodes, so the floor of
	# 5 (1% of 500) is met exactly rather than jumped over
	steps=(hello)
	for ((i = 1; i <= 300; i++)); do steps+=("file:$i:0:z$i/x" end); done
	steps+=(bye)
	hrun FD "${steps[@]}"
	stored=$(grep -c '^RESULT [0-9]* 0 ' <<<"$OUT")
	refused=$(grep -c '^RESULT [0-9]* 36 ' <<<"$OUT")
	left=$(free_inodes "$F")
	[ "$refused" -gt 0 ] && [ $((stored + refused)) -eq 300 ] || why "$stored stored, $refused refused with 36, of 300"
	grep -q '^RESULT [0-9]* 36 ".*--min-free-inodes' <<<"$OUT" || why "no refusal names --min-free-inodes"
	[ "$left" -ge 5 ] || why "$left inodes left free, want at least 5 (1% of 500)"
	[ "$(sig "$OUT" | sed 's/ R[0-9]*=[0-9]*//g')" = "H B END" ] || why "session did not end with BYE"
	end_case "$(sig "$OUT" | cut -c 1-200) ($stored stored, $refused refused, $left inodes free)"
	find "$F" -mindepth 1 -delete
	alive "$FD_PID" && { begin "defaults on the tmpfs: a legitimate file arrives once there is room"; put_ok FD "$FD_PORT" "$F"; end_case; }
else
	echo "skip tmpfs cases: cannot mount a tmpfs here (not root?)"
fi

# ---- a second tcpget on the same directory -------------------------------------------
L=$T/locked
mkdir -p "$L"
started L "$L" -t $((10 * SLOW))
begin "second tcpget on the same DIR exits 1 at once, naming the first; the file in flight completes"
rm -f "$T/go-lock"
"$HELPER" -p "$L_PORT" -w "$WAIT" hello file:1:2000000:inflight fill:1000000 \
	waittemp:"$L" waitfile:"$T/go-lock" fill:1000000 end bye >"$T/logs/inflight" 2>&1 &
HP=$!
PIDS+=("$HP")
for ((i = 0; i < 200 * SLOW; i++)); do grep -q TEMPSEEN "$T/logs/inflight" && break; sleep 0.025; done
grep -q TEMPSEEN "$T/logs/inflight" || why "no temporary file while the file was in flight"
for dir in "$L" "$L/."; do
	t0=${EPOCHREALTIME/./}
	"$BIN/tcpget" -d "$dir" -p 0 -b 127.0.0.1 >"$T/logs/second.out" 2>"$T/logs/second.err" &
	SP=$!
	PIDS+=("$SP")
	for ((i = 0; i < 60 * SLOW; i++)); do alive "$SP" || break; sleep 0.05; done
	if alive "$SP"; then
		why "-d $dir: the second tcpget is still running after $((3 * SLOW)) s"
		kill -TERM "$SP"
	fi
	{ wait "$SP"; } 2>/dev/null
	rc=$?
	ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
	[ $rc -eq 1 ] || why "-d $dir: second tcpget exit $rc, want 1"
	grep -qx "tcpget: $dir: already served by another tcpget (pid $L_PID holds its lock)" "$T/logs/second.err" ||
		why "-d $dir: message: $(cat "$T/logs/second.err")"
	[ ! -s "$T/logs/second.out" ] || why "-d $dir: the second tcpget printed: $(head -n 2 "$T/logs/second.out")"
	[ -n "$(temps "$L")" ] || why "-d $dir: the file in flight lost its temporary file"
	[ "$ms" -lt $((2000 * SLOW)) ] || why "-d $dir: took $ms ms"
done
touch "$T/go-lock"
wait "$HP"
OUT=$(cat "$T/logs/inflight")
want_sig "H R1=0 B END"
[ "$(stat -c %s "$L/inflight" 2>/dev/null)" = 2000000 ] || why "inflight did not arrive whole"
rm -f "$L/inflight"
alive "$L_PID" && put_ok L "$L_PORT" "$L"
end_case "$OUT$(printf '\n%s' "$(cat "$T/logs/second.err")")"

begin "once the first tcpget stopped, a new one starts on the DIR"
stop_tcpget L
started L2 "$L"
alive "$L2_PID" && put_ok L2 "$L2_PORT" "$L"
end_case

stops_cleanly M C FD L2
check "no sanitizer report in any tcpget log" sanitizer_clean "$T"/logs/*.err
finish
