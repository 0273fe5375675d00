#!/usr/bin/env bash
# Directory trees (tcpput -r, the TREE capability, DIR frames): real tcpget
# and tcpput processes over loopback.
# usage: bash tests/tree.sh BUILD_DIR
SUITE=tree
. "$(dirname "$0")/lib.sh"

PUT="$BIN/tcpput"
SRC=$T/src
P=$SRC/photos
mkdir -p "$P/2018/summer/beach" "$P/2019" "$P/empty" "$P/private"
printf 'sand\n' >"$P/2018/summer/beach/a.jpg"
head -c 300000 /dev/urandom >"$P/2018/summer/big.raw"
printf 'snow\n' >"$P/2019/b.jpg"
printf 'secret\n' >"$P/private/key"
: >"$P/2019/zero"
printf 'top\n' >"$P/top.txt"
chmod 0600 "$P/private/key"
chmod 0750 "$P/2019"
ln -s top.txt "$P/link-to-top"
ln -s /etc "$P/link-out"
mkfifo "$P/fifo"
touch -d '2001-02-03 04:05:06.123456789' "$P/2018/summer/beach/a.jpg"
touch -d '2010-10-10 10:10:10' "$P/2019/b.jpg" "$P/top.txt"
touch -d '2005-05-05 05:05:05' "$P/2018/summer/beach" "$P/empty"
touch -d '2006-06-06 06:06:06.5' "$P/2018/summer" "$P/2019"
touch -d '2007-07-07 07:07:07' "$P/2018"
chmod 0700 "$P/private"
touch -d '2008-08-08 08:08:08' "$P/private" "$P"

# mode and mtime (to the nanosecond) of every regular file and directory
# below $1, by relative path, sorted
meta() { (cd "$1" && find . \( -type f -o -type d \) -printf '%p %m %T@\n' | sort); }

# --- a tree ------------------------------------------------------------
D=$T/d1
start_receiver "$D"
out=$("$PUT" -r "$P" "127.0.0.1:$RPORT" 2>"$T/err"); rc=$?
err=$(cat "$T/err")
check "tree: exit 0" [ $rc -eq 0 ]
check "tree: regular content identical (diff -r, links and FIFO aside)" \
	holds '[ -z "$(diff -r "$P" "$D/photos" 2>&1 | grep -v "^Only in $P: \(link-to-top\|link-out\|fifo\)$")" ]'
check "tree: every file arrived" holds 'for f in 2018/summer/beach/a.jpg 2018/summer/big.raw 2019/b.jpg 2019/zero private/key top.txt; do cmp -s "$P/$f" "$D/photos/$f" || exit 1; done'
check "tree: the empty directory arrived" holds '[ -d "$D/photos/empty" ] && [ -z "$(ls -A "$D/photos/empty")" ]'
mp=$(meta "$P"); md=$(meta "$D/photos")
check "tree: modes and mtimes of dirs and files equal" [ "$mp" = "$md" ]
[ "$mp" = "$md" ] || diff <(echo "$mp") <(echo "$md")
check "tree: 0700 dir and 0600 file kept" holds '[ "$(stat -c %a "$D/photos/private")" = 700 ] && [ "$(stat -c %a "$D/photos/private/key")" = 600 ]'
check "tree: symlinks not sent" holds '[ ! -e "$D/photos/link-to-top" ] && [ ! -L "$D/photos/link-to-top" ] && [ ! -L "$D/photos/link-out" ]'
check "tree: FIFO not sent" holds '[ ! -e "$D/photos/fifo" ]'
check "tree: warns about each symlink by name" holds 'grep -q "photos/link-to-top: warning: symbolic link" <<<"$err" && grep -q "photos/link-out: warning: symbolic link" <<<"$err"'
check "tree: warns about the FIFO by name" grep -q "photos/fifo: warning: not a regular file" <<<"$err"
check "tree: stdout names files as sent (photos/...)" grep -q "^photos/2018/summer/beach/a.jpg  " <<<"$out"
check "tree: no temporary file left" no_temp "$D"
log_wait "$ROUT" "directory photos/$"
check "receiver logs the directories" grep -q "directory photos/2018/summer/beach/" "$ROUT"

# the same tree again: directories exist (fine), files are there and
# identical (skipped, tests/rerun.sh has the rest)
out=$("$PUT" -r "$P/" "127.0.0.1:$RPORT" 2>&1); rc=$?
check "again: identical files skipped, exit 0" [ $rc -eq 0 ]
check "again: each file said skipped" holds '[ "$(grep -c "  skipped (identical: same size and time)$" <<<"$out")" -eq 6 ]'
check "again: no directory refused" holds '! grep -q "photos/2019/\?: " <<<"$out"'
md2=$(meta "$D/photos")
check "again: modes and mtimes still equal" [ "$mp" = "$md2" ]

# a file where a directory of the tree goes
D2=$T/d2
mkdir -p "$D2"
printf 'not a dir\n' >"$D2/photos"
stop_receiver
start_receiver "$D2"
out=$("$PUT" -r "$P" "127.0.0.1:$RPORT" 2>&1); rc=$?
check "file in the way: exit 1" [ $rc -eq 1 ]
check "file in the way: it is untouched" grep -qx "not a dir" "$D2/photos"
check "file in the way: the directory is refused, named" grep -q "photos: .*not a directory" <<<"$out"
stop_receiver

# --- without -r ---------------------------------------------------------
D3=$T/d3
start_receiver "$D3"
err=$("$PUT" "$P" "127.0.0.1:$RPORT" 2>&1); rc=$?
check "no -r: exit 3" [ $rc -eq 3 ]
check "no -r: the message names -r" grep -q "is a directory (use -r" <<<"$err"
check "no -r: nothing arrived" holds '[ -z "$(ls -A "$D3")" ]'

# -r with plain files and a tree together; a tree named by "."
printf 'solo\n' >"$SRC/solo.txt"
"$PUT" -q -r "$SRC/solo.txt" "$P/2019" "127.0.0.1:$RPORT"; rc=$?
check "-r file and tree: exit 0" [ $rc -eq 0 ]
check "-r file and tree: file under its name, tree under its base name" holds 'cmp -s "$SRC/solo.txt" "$D3/solo.txt" && cmp -s "$P/2019/b.jpg" "$D3/2019/b.jpg"'
(cd "$P/2018" && "$PUT" -q -r . "127.0.0.1:$RPORT"); rc=$?
check "-r .: sent under the directory's own name" holds '[ $rc -eq 0 ] && cmp -s "$P/2018/summer/beach/a.jpg" "$D3/2018/summer/beach/a.jpg"'
stop_receiver

# --- many small files: pipelined, no round trip per file ----------------
M=$SRC/many
for d in $(seq 1 20); do
	mkdir -p "$M/d$d"
	for f in $(seq 1 100); do printf '%d/%d\n' $d $f >"$M/d$d/f$f"; done
done
D4=$T/d4
start_receiver "$D4"
"$PUT" -q -r "$M" "127.0.0.1:$RPORT"; rc=$?
check "2000 files: exit 0" [ $rc -eq 0 ]
check "2000 files: all there, identical" diff -r "$M" "$D4/many"
check "2000 files: 2000 files and 21 directories" holds '[ "$(find "$D4/many" -type f | wc -l)" -eq 2000 ] && [ "$(find "$D4/many" -type d | wc -l)" -eq 21 ]'
stop_receiver

# --- the receiver's directory budget -------------------------------------
D5=$T/d5
start_receiver "$D5" --max-dirs=3
out=$("$PUT" -q -r "$P" "127.0.0.1:$RPORT" 2>&1); rc=$?
check "--max-dirs: exit 1, the rest still arrives" holds '[ $rc -eq 1 ] && cmp -s "$P/top.txt" "$D5/photos/top.txt"'
check "--max-dirs: says why" grep -q "max-dirs" <<<"$out"
stop_receiver

# --- destination: HOST[:PORT]:DIR/ ----------------------------------------
D7=$T/d7
start_receiver "$D7"
"$PUT" -q -r "$P/2019" "127.0.0.1:$RPORT:backup/" ; rc=$?
check "HOST:PORT:DIR/: the tree arrives under DIR" holds '[ $rc -eq 0 ] && cmp -s "$P/2019/b.jpg" "$D7/backup/2019/b.jpg" && [ "$(stat -c %a "$D7/backup/2019")" = 750 ]'
"$PUT" -q "$SRC/solo.txt" "127.0.0.1:$RPORT:deep/er" ; rc=$?
check "HOST:PORT:DIR (no slash): a file arrives as DIR/NAME" holds '[ $rc -eq 0 ] && cmp -s "$SRC/solo.txt" "$D7/deep/er/solo.txt"'
"$PUT" -q "$SRC/solo.txt" "127.0.0.1:$RPORT:" ; rc=$?
check "HOST:PORT: (empty DIR): the receiver's directory" holds '[ $rc -eq 0 ] && cmp -s "$SRC/solo.txt" "$D7/solo.txt"'
err=$("$PUT" -q "$SRC/solo.txt" "127.0.0.1:$RPORT:../up/" 2>&1); rc=$?
check "HOST:PORT:../: usage error (exit 2) naming the directory" holds '[ $rc -eq 2 ] && grep -q "\.\./up is not a directory beneath" <<<"$err"'
check "HOST:PORT:../: nothing sent" holds '[ ! -e "$T/up" ] && [ ! -e "$D7/../up" ]'
if grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 2>/dev/null; then
	stop_receiver
	RBIND=::1 start_receiver "$D7"
	"$PUT" -q -r "$P/2019" "[::1]:$RPORT:v6dir/"; rc=$?
	check "[::1]:PORT:DIR/" holds '[ $rc -eq 0 ] && cmp -s "$P/2019/b.jpg" "$D7/v6dir/2019/b.jpg"'
fi
stop_receiver

# --- -L: symbolic links inside the tree followed ---------------------------
L=$SRC/L
mkdir -p "$L/real/in"
printf 'target\n' >"$L/real/t.txt"
printf 'inner\n' >"$L/real/in/i.txt"
ln -s real/t.txt "$L/to-file"
ln -s real "$L/to-dir"
ln -s .. "$L/real/in/loop"
ln -s nowhere "$L/dangling"
D8=$T/d8
start_receiver "$D8"
err=$("$PUT" -q -r -L "$L" "127.0.0.1:$RPORT" 2>&1); rc=$?
check "-L: a loop and a dangling link fail, exit 3" [ $rc -eq 3 ]
check "-L: the loop is named" grep -q "real/in/loop: symbolic link loop" <<<"$err"
check "-L: a link to a file arrives as the file" holds 'cmp -s "$L/real/t.txt" "$D8/L/to-file" && [ ! -L "$D8/L/to-file" ]'
check "-L: a link to a directory arrives as the directory" holds 'cmp -s "$L/real/in/i.txt" "$D8/L/to-dir/in/i.txt" && [ -d "$D8/L/to-dir" ] && [ ! -L "$D8/L/to-dir" ]'
check "-L: nothing named after the dangling link" holds '[ ! -e "$D8/L/dangling" ]'
stop_receiver

# --- JSON ---------------------------------------------------------------
D6=$T/d6
start_receiver "$D6"
"$PUT" --json -r "$P/2019" "127.0.0.1:$RPORT" >"$T/json" 2>/dev/null; rc=$?
check "--json: a dir_done record for the directory" holds '[ $rc -eq 0 ] && jq -s -e "any(.[]; .event == \"dir_done\" and .name == \"2019\")" "$T/json" >/dev/null'
stop_receiver

finish
