#!/usr/bin/env bash
# Usability: what a new user meets.  Progress on a (pseudo-)terminal and
# nowhere else, -q, --json records a script can parse whatever the names,
# man pages that lint clean and agree with --help, bash completion, socket
# activation, make install / uninstall, --version.
# usage: bash tests/usability.sh BUILD_DIR
SUITE=usability
. "$(dirname "$0")/lib.sh"

REPO=$(cd "$(dirname "$0")/.." && pwd)
PUT=$BIN/tcpput
GET=$BIN/tcpget
SRC=$T/src
mkdir -p "$SRC"
CR=$'\r'
HAVE_JQ=0
# NO_JQ=1 exercises the checks that do without jq.
[ -z "${NO_JQ:-}" ] && command -v jq >/dev/null 2>&1 && HAVE_JQ=1
[ $HAVE_JQ -eq 1 ] || echo "note: jq not found, JSON checked by the strict grammar only"

# --- helpers ----------------------------------------------------------

# holds 'EXPR' (tests/lib.sh): for check, when a case needs several
# conditions (check NAME [ a ] && [ b ] would check only the first).

# json_strict FILE: FILE is non-empty, ends with a newline, and each line
# is one flat JSON object (RFC 8259 grammar for the strings, numbers and
# literals tcpxfer prints) with no raw control byte anywhere.
json_strict() {
	local LC_ALL=C line
	local S='"([^"\\]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"'
	local N='-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?'
	local V="($S|$N|true|false|null)"
	local O="^\\{($S:$V(,$S:$V)*)?\\}\$"
	[ -s "$1" ] && [ -z "$(tail -c 1 "$1")" ] || return 1
	! grep -q '[[:cntrl:]]' "$1" || return 1
	while IFS= read -r line; do
		[[ $line =~ $O ]] || { echo "  not strict JSON: $line" >&2; return 1; }
	done <"$1"
}

# json_valid FILE: json_strict, and jq (when there) parses every line, on
# its own, as an object.
json_valid() {
	json_strict "$1" || return 1
	[ $HAVE_JQ -eq 1 ] || return 0
	local out
	out=$(jq -R 'fromjson | type == "object"' <"$1" 2>&1) || return 1
	! grep -qvx true <<<"$out"
}

# json_escape STRING: the JSON string body tcpxfer prints for STRING
# (for the checks without jq).
json_escape() {
	local LC_ALL=C s=$1 out= c i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		'"') out+='\"' ;;
		'\') out+='\\' ;;
		[[:cntrl:]]) out+=$(printf '\\u%04x' "'$c") ;;
		*) out+=$c ;;
		esac
	done
	out=${out//$'\xe2\x80\xa8'/\\u2028}
	out=${out//$'\xe2\x80\xa9'/\\u2029}
	printf '%s' "$out"
}

# jfield FILE EVENT KEY [NAME]: KEY of the first EVENT record (whose name,
# last component, is NAME if given).  Numbers and plain strings.
jfield() {
	local f=$1 ev=$2 key=$3
	if [ $HAVE_JQ -eq 1 ]; then
		if [ $# -ge 4 ]; then
			jq -r --arg e "$ev" --arg n "$4" 'select(.event == $e and
				((.name // "") | split("/") | last) == $n) | .'"$key" "$f" | head -n 1
		else
			jq -r --arg e "$ev" 'select(.event == $e) | .'"$key" "$f" | head -n 1
		fi
	else
		local pat="\"event\":\"$ev\""
		if [ $# -ge 4 ]; then
			grep -F "$pat" "$f" | grep -F "$(json_escape "$4")\"," | head -n 1
		else
			grep -F "$pat" "$f" | head -n 1
		fi | sed -n 's/.*"'"$key"'":\("[^"]*"\|[^,}]*\).*/\1/p' | tr -d '"'
	fi
}

# events FILE: the event names in FILE; keys FILE: every member name.
events() { sed -n 's/^{"event":"\([a-z_]*\)".*/\1/p' "$1" | sort -u; }
keys() {
	if [ $HAVE_JQ -eq 1 ]; then jq -r 'keys_unsorted[]' "$1"
	else grep -oE '[{,]"[a-z_]+":' "$1" | tr -d '{,":'; fi | sort -u
}

# help_opts TOOL / man_opts PAGE: option names (-x and --long) listed by
# --help and by the OPTIONS section of the man page.
help_opts() {
	"$BIN/$1" --help | grep -E '^ {2,6}-' | sed -E 's/^ +//; s/  .*//' |
		tr ',' '\n' | sed -E 's/^ +//; s/[ =[].*//' | grep -E '^-' | sort -u
}
man_section() {  # man_section PAGE NAME: the source lines of one .SH
	awk -v s="$2" '/^\.SH /{ sec = $0; sub(/^\.SH +"?/, "", sec); sub(/"$/, "", sec) }
		sec == s' "$1"
}
man_tags() {     # man_tags PAGE SECTION: the tag lines of its .TP items
	man_section "$1" "$2" | awk 'prev ~ /^\.TP/ { print } { prev = $0 }' |
		sed -e 's/\\f[BIRP]//g' -e 's/\\-/-/g' -e 's/^\.BR\? //'
}
man_opts() {
	man_tags "$1" OPTIONS | tr ',' '\n' | sed -E 's/^ +//; s/[ =[].*//' |
		grep -E '^-' | sort -u
}
help_codes() {
	"$BIN/$1" --help | sed -n '/^Exit status:/,$p' | tr '\n' ' ' |
		grep -oE '(: |, )[0-9]+ ' | grep -oE '[0-9]+' | sort -u
}
man_codes() { man_tags "$1" "EXIT STATUS" | grep -oE '^[0-9]+$' | sort -u; }

# pty CMD: runs CMD (a shell command line) on a pseudo-terminal; prints
# what the terminal got.
pty() { SHELL=/bin/sh timeout 20 script -qfec "$1" /dev/null </dev/null; }

# redraws FILE: the progress redraws in FILE, one per line: text after a
# carriage return that is not a terminal's CR LF, escape sequences removed.
redraws() {
	LC_ALL=C sed 's/\r$//' "$1" | grep -a "$CR" | sed 's/^[^\r]*\r//' |
		tr '\r' '\n' | sed 's/\x1b\[K//g' | grep -a .
}
longest() { LC_ALL=C awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }'; }

# Files: one large file with a name too long for a narrow terminal.
LONG=$SRC/a_long_file_name_so_that_the_progress_line_needs_cutting_0123456789.bin
head -c $((8 * 1024 * 1024)) /dev/urandom >"$LONG"
printf 'hello\n' >"$SRC/hello.txt"

# --- --version ----------------------------------------------------------
for tool in tcpput tcpget; do
	v=$("$BIN/$tool" --version); rc=$?
	dv=$(pkg-config --modversion libdeflate 2>/dev/null)
	zv=$(pkg-config --modversion zlib 2>/dev/null)
	sv=$(pkg-config --modversion libsodium 2>/dev/null)
	r=0
	[ $rc -eq 0 ] && grep -qE "^$tool [0-9]+\.[0-9]+\.[0-9]+ " <<<"$v" &&
		grep -qE "libdeflate ${dv:-[0-9][0-9.]*}[,;) ]" <<<"$v" &&
		grep -qE "zlib ${zv:-[0-9][0-9.]*}[,;) ]" <<<"$v" &&
		grep -qE "libsodium ${sv:-[0-9][0-9.]*}[,;) ]" <<<"$v" && r=1
	check "$tool --version: its version, libdeflate ${dv:-?}, zlib ${zv:-?} and libsodium ${sv:-?} ($v)" [ $r -eq 1 ]
done

# --- progress and quiet (text receiver) -------------------------------
D1=$T/d1
start_receiver "$D1" --overwrite --max-size 100000000
check "tcpget start-up line: address, port, DIR and limits" \
	grep -q "^tcpget: listening on 127.0.0.1:$RPORT, storing in $D1 (max 4096 clients, timeout 60 s, max size 95.4 MiB)$" "$ROUT"
DEST=127.0.0.1:$RPORT

pty "stty cols 60; '$PUT' -t 10 '$LONG' $DEST >/dev/null" >"$T/pty60"; rc=$?
cnt=$(redraws "$T/pty60" | grep -c '[0-9]%.*MiB.*\[1/1\]')
w=$(redraws "$T/pty60" | longest)
check "pty: exit 0 and the file arrived" holds '[ $rc -eq 0 ] && cmp -s "$LONG" "$D1/${LONG##*/}"'
check "pty: progress redrawn in place with a percentage ($cnt redraws)" [ "$cnt" -ge 1 ]
check "pty, 60 columns: no progress line longer than 60 (longest $w)" holds '[ "$w" -gt 0 ] && [ "$w" -le 60 ]'
check "pty: a long name is cut, the numbers kept" \
	grep -q '\.\.\. *[0-9]*%' <(redraws "$T/pty60")
check "pty: progress erased at the end" [ "$(tail -c 4 "$T/pty60" | od -An -c | tr -d ' ')" = '\r033[K' ]

pty "stty cols 100; '$PUT' -t 10 '$LONG' $DEST >/dev/null" >"$T/pty100"
w=$(redraws "$T/pty100" | longest)
check "pty, 100 columns: the line uses the width (longest $w, 61..100)" holds '[ "$w" -gt 60 ] && [ "$w" -le 100 ]'

COLUMNS=50 "$PUT" -t 10 --progress "$LONG" $DEST >/dev/null 2>"$T/forced"; rc=$?
cnt=$(redraws "$T/forced" | grep -c '[0-9]%')
w=$(redraws "$T/forced" | longest)
check "--progress without a terminal: redraws with a percentage ($cnt)" holds '[ $rc -eq 0 ] && [ "$cnt" -ge 1 ]'
check "--progress: COLUMNS=50 sizes it (longest $w)" holds '[ "$w" -gt 0 ] && [ "$w" -le 50 ]'

"$PUT" -t 10 "$LONG" "$SRC/hello.txt" $DEST >"$T/plain.out" 2>"$T/plain.err"; rc=$?
check "stderr not a terminal: exit 0, no progress (no CR)" holds '[ $rc -eq 0 ] && ! grep -q "$CR" "$T/plain.err"'
check "stderr not a terminal: one line per file on stdout" [ "$(wc -l <"$T/plain.out")" -eq 2 ]
check "two files: a summary line on stderr" grep -q '^tcpput: 2 of 2 files verified, ' "$T/plain.err"

pty "stty cols 80; '$PUT' -t 10 --no-progress '$LONG' $DEST >/dev/null" >"$T/ptyno"; rc=$?
check "pty with --no-progress: no redraw" holds '[ $rc -eq 0 ] && [ ! -s "$T/ptyno" ]'

pty "stty cols 80; '$PUT' -t 10 -q '$LONG' '$SRC/hello.txt' $DEST" >"$T/ptyq"; rc=$?
check "pty with -q: success prints nothing at all" holds '[ $rc -eq 0 ] && [ ! -s "$T/ptyq" ]'
"$PUT" -q -t 10 "$SRC/hello.txt" $DEST >"$T/q.out" 2>"$T/q.err"; rc=$?
check "-q without a terminal: nothing on stdout or stderr" holds '[ $rc -eq 0 ] && [ ! -s "$T/q.out" ] && [ ! -s "$T/q.err" ]'
"$PUT" -q -t 10 "$T/missing" "$SRC/hello.txt" $DEST >"$T/q.out" 2>"$T/q.err"; rc=$?
check "-q still reports an error (exit 3, one line)" holds '[ $rc -eq 3 ] && [ "$(wc -l <"$T/q.err")" -eq 1 ]'

"$PUT" -v -t 10 "$SRC/hello.txt" $DEST >/dev/null 2>"$T/v.err"
check "-v: the address tried" grep -q "^tcpput: connected to $DEST\$" "$T/v.err"
check "-v: the session negotiated" grep -q "^tcpput: $DEST: session open (TCPX 1, capabilities 0x[0-9a-f]*)\$" "$T/v.err"
check "-v: per-file timing" grep -q '^tcpput: .*hello.txt: [0-9.]* s, [^,]*, [0-9]* bytes on the wire$' "$T/v.err"

# -z takes its level attached (-z6): a lone digit after it is a level
# written apart, unless a file of that name is there to be sent.
mkdir -p "$T/zlevel" && cp "$SRC/hello.txt" "$T/zlevel/zl.txt"
rm -f "$D1/zl.txt"
(cd "$T/zlevel" && "$PUT" -t 10 -z 6 zl.txt $DEST) >"$T/z6.out" 2>"$T/z6.err"; rc=$?
check "-z 6, no file 6: exit 2, nothing sent" holds '[ $rc -eq 2 ] && [ ! -s "$T/z6.out" ] && [ ! -e "$D1/zl.txt" ]'
check "-z 6, no file 6: says to write -z6" \
	[ "$(head -n 1 "$T/z6.err")" = "tcpput: -z 6: write the level attached: -z6 or --compress=6" ]
(cd "$T/zlevel" && "$PUT" -t 10 --compress 9 zl.txt $DEST) >/dev/null 2>"$T/z9.err"; rc=$?
check "--compress 9, no file 9: exit 2, says to write --compress=9" \
	holds '[ $rc -eq 2 ] && [ "$(head -n 1 "$T/z9.err")" = "tcpput: --compress 9: write the level attached: -z9 or --compress=9" ]'
printf 'a file named 6\n' >"$T/zlevel/6"
(cd "$T/zlevel" && "$PUT" -t 10 -z 6 $DEST) >"$T/z6f.out" 2>"$T/z6f.err"; rc=$?
check "-z 6 with a file named 6: it is sent (exit 0, no message)" \
	holds '[ $rc -eq 0 ] && [ ! -s "$T/z6f.err" ] && cmp -s "$T/zlevel/6" "$D1/6"'
stop_receiver

# --- JSON -------------------------------------------------------------
# Names that must stay one valid JSON string: quotes and backslashes and
# U+2028 (accepted by the receiver), a newline, a control character, an
# escape sequence and a byte that is not UTF-8 (refused by the receiver,
# so their file_failed records must carry them escaped).
J=$SRC/json
mkdir -p "$J"
N_QUOTE='we"ird\back slash.txt'
N_SEP=$'line\xe2\x80\xa8sep.txt'
N_UTF=$'caf\xc3\xa9.txt'
N_NL=$'new\nline.txt'
N_CTL=$'ctl\x01char.txt'
N_ESC=$'esc\x1b[31mred.txt'
N_BAD=$'bad\xff.txt'
for n in "$N_QUOTE" "$N_SEP" "$N_UTF" "$N_NL" "$N_CTL" "$N_ESC" "$N_BAD"; do
	printf 'content of %s\n' "$n" >"$J/$n"
done
cp "$SRC/hello.txt" "$J/plain.txt"
ACCEPTED=("$N_QUOTE" "$N_SEP" "$N_UTF" plain.txt)
REFUSED=("$N_NL" "$N_CTL" "$N_ESC")

D2=$T/d2
"$GET" --json -d "$D2" -p 0 -b 127.0.0.1 >"$T/get.json" 2>"$T/get.err" &
GPID=$!
PIDS+=("$GPID")
JPORT=
for _ in $(seq 1 100); do
	JPORT=$(sed -n 's/^{"event":"listening","address":"127\.0\.0\.1:\([0-9]*\)".*/\1/p' "$T/get.json" 2>/dev/null)
	[ -n "$JPORT" ] && break
	sleep 0.05
done
check "tcpget --json: a listening record with the port" [ -n "$JPORT" ]
JDEST=127.0.0.1:$JPORT

"$PUT" --json -t 10 "$J"/* "$JDEST" >"$T/put.json" 2>"$T/put.err"; rc=$?
all=("$J"/*)
nfiles=${#all[@]}
log_wait "$T/get.json" '"event":"file_(done|failed)"' "$nfiles"
check "tcpput --json: every stdout line is a JSON object" json_valid "$T/put.json"
# a file refused at its OFFER (a bad name) never starts: file_failed alone
check "tcpput --json: one line per event (2 per file sent, 1 per refused, summary = $((nfiles + ${#ACCEPTED[@]} + 1)))" \
	[ "$(wc -l <"$T/put.json")" -eq $((nfiles + ${#ACCEPTED[@]} + 1)) ]
check "tcpput --json: summary exit ($(jfield "$T/put.json" summary exit)) = exit status ($rc = 1)" \
	holds '[ "$(jfield "$T/put.json" summary exit)" = "$rc" ] && [ $rc -eq 1 ]'
check "tcpput --json: summary counts" \
	[ "$(jfield "$T/put.json" summary files_ok)/$(jfield "$T/put.json" summary files_failed)" = "${#ACCEPTED[@]}/$((nfiles - ${#ACCEPTED[@]}))" ]
for n in "${ACCEPTED[@]}"; do
	shown=$(printf '%q' "$n")
	want=$(b2sum <"$J/$n" | cut -d' ' -f1)
	check "tcpput --json: $shown: file_done, name intact, digest = b2sum" \
		[ "$(jfield "$T/put.json" file_done digest "$n")" = "$want" ]
	check "tcpget --json: $shown: file_done, name intact, digest = b2sum" \
		[ "$(jfield "$T/get.json" file_done digest "$n")" = "$want" ]
	check "$shown stored under its exact name" cmp -s "$J/$n" "$D2/$n"
done
for n in "${REFUSED[@]}"; do
	shown=$(printf '%q' "$n")
	check "tcpput --json: $shown: file_failed code 32, name escaped and intact" \
		[ "$(jfield "$T/put.json" file_failed code "$n")" = 32 ]
	check "tcpget --json: $shown: file_failed code 32, name escaped and intact" \
		[ "$(jfield "$T/get.json" file_failed code "$n")" = 32 ]
done
check "tcpput --json: a name that is not UTF-8 becomes U+FFFD" \
	grep -q '"name":"[^"]*bad\\ufffd\.txt","size":[0-9]*,"code":32,' "$T/put.json"
check "tcpget --json: a name that is not UTF-8 becomes U+FFFD" \
	grep -q '"name":"bad\\ufffd\.txt","size":[0-9]*,"code":32,' "$T/get.json"
check "tcpput --json: U+2028 escaped (a JavaScript line break)" \
	grep -q 'line\\u2028sep\.txt' "$T/put.json"
check "tcpput text errors: one line per refused file, no raw control byte" \
	holds '[ "$(wc -l <"$T/put.err")" -eq $((nfiles - ${#ACCEPTED[@]})) ] &&
	       ! LC_ALL=C grep -q "[[:cntrl:]]" "$T/put.err"'

# another plain.txt (an identical one would be skipped)
mkdir -p "$T/other" && printf 'other\n' >"$T/other/plain.txt"
"$PUT" --json -t 10 "$T/other/plain.txt" "$JDEST" >"$T/put2.json" 2>/dev/null; rc=$?
check "tcpput --json, exists: summary exit = exit status = 1" \
	holds '[ "$(jfield "$T/put2.json" summary exit)" = "$rc" ] && [ $rc -eq 1 ]'
"$PUT" --json -t 10 "$T/missing" "$JDEST" >"$T/put3.json" 2>/dev/null; rc=$?
check "tcpput --json, unreadable: summary exit = exit status = 3" \
	holds '[ "$(jfield "$T/put3.json" summary exit)" = "$rc" ] && [ $rc -eq 3 ]'
printf 'new\n' >"$SRC/new.txt"
"$PUT" --json -t 10 "$SRC/new.txt" "$JDEST" >"$T/put4.json" 2>/dev/null; rc=$?
check "tcpput --json, success: summary exit = exit status = 0" \
	holds '[ "$(jfield "$T/put4.json" summary exit)" = "$rc" ] && [ $rc -eq 0 ]'
for f in put2 put3 put4; do
	check "tcpput --json ($f): valid JSON lines" json_valid "$T/$f.json"
done

# One file, one name: tcpput's file_start, file_done and file_failed
# records carry the name sent as "name" and the FILE argument as "path";
# a file that failed before it had a name (unreadable) has a null name.
# one_record FILE EVENT PATH NAME: exactly one EVENT record has this path,
# and its name is NAME (null: JSON null).
one_record() {
	local f=$1 ev=$2 path=$3 name=$4 n want
	if [ $HAVE_JQ -eq 1 ]; then
		n=$(jq -r --arg e "$ev" --arg p "$path" \
			'select(.event == $e and .path == $p) | .name // "null"' "$f")
		[ "$n" = "$name" ]
	else
		want="\"path\":\"$(json_escape "$path")\",\"name\":\"$(json_escape "$name")\","
		[ "$name" = null ] && want="\"path\":\"$(json_escape "$path")\",\"name\":null,"
		n=$(grep -F "{\"event\":\"$ev\"," "$f" | grep -cF "\"path\":\"$(json_escape "$path")\"")
		[ "$n" -eq 1 ] && grep -F "{\"event\":\"$ev\"," "$f" | grep -qF "$want"
	fi
}
check "tcpput --json: file_start and file_done: name plain.txt, path the FILE given" \
	holds 'one_record "$T/put.json" file_start "$J/plain.txt" plain.txt &&
	       one_record "$T/put.json" file_done "$J/plain.txt" plain.txt'
check "tcpput --json, refused at its offer: file_failed with the name and path, no file_start" \
	holds 'one_record "$T/put2.json" file_failed "$T/other/plain.txt" plain.txt &&
	       ! grep -q "\"event\":\"file_start\"" "$T/put2.json"'
check "tcpput --json, unreadable: file_failed with the path and a null name" \
	one_record "$T/put3.json" file_failed "$T/missing" null

# An error record: garbage instead of a HELLO.
if exec {g}<>"/dev/tcp/127.0.0.1/$JPORT"; then
	printf 'GARBAGE!' >&$g
	timeout 5 cat <&$g >/dev/null
	exec {g}>&-
fi
for _ in $(seq 1 50); do grep -q '"event":"error"' "$T/get.json" && break; sleep 0.05; done
check "tcpget --json: a protocol error is an error record with the peer" \
	grep -q '^{"event":"error","object":"127\.0\.0\.1:[0-9]*","message":"[^"]*"}$' "$T/get.json"
kill -TERM "$GPID"; wait "$GPID" 2>/dev/null
check "tcpget --json: every stdout line is a JSON object" json_valid "$T/get.json"
check "tcpget text errors: refused names escaped, no raw control byte" \
	holds 'grep -qF "refused ctl\\x01char.txt" "$T/get.err" && ! LC_ALL=C grep -q "[[:cntrl:]]" "$T/get.err"'

# A connection error: a port that was just given back.
"$GET" -d "$T/dead" -p 0 -b 127.0.0.1 >"$T/dead.out" 2>&1 & dpid=$!
PIDS+=("$dpid")
deadport=
for _ in $(seq 1 100); do
	deadport=$(sed -n 's/.*listening on .*:\([0-9][0-9]*\),.*/\1/p' "$T/dead.out" 2>/dev/null)
	[ -n "$deadport" ] && break
	sleep 0.05
done
kill -TERM "$dpid"; wait "$dpid" 2>/dev/null
"$PUT" --json -t 5 "$SRC/hello.txt" "127.0.0.1:$deadport" >"$T/put5.json" 2>/dev/null; rc=$?
check "tcpput --json, refused connection: exit 5, one valid error record" \
	holds '[ $rc -eq 5 ] && json_valid "$T/put5.json" && [ "$(wc -l <"$T/put5.json")" -eq 1 ]'
check "tcpput --json, refused connection: object and hint" \
	grep -q "^{\"event\":\"error\",\"object\":\"127.0.0.1:$deadport\",\"message\":\"connection refused: is tcpget running there?\"}$" "$T/put5.json"

# Every event and member seen is documented in the man page's OUTPUT.
cat "$T"/put*.json >"$T/all-put.json"
for pair in "tcpput:$T/all-put.json" "tcpget:$T/get.json"; do
	tool=${pair%%:*} f=${pair#*:}
	page=$REPO/man/$tool.1
	missing=
	for e in $(events "$f"); do
		man_section "$page" OUTPUT | grep -qE "^\.B $e\$" || missing+=" event:$e"
	done
	for k in $(keys "$f"); do
		man_section "$page" OUTPUT | grep -qE "^\.BR? $k( |\$)" || missing+=" member:$k"
	done
	check "$tool.1 OUTPUT documents every JSON event and member seen${missing:+ (missing:$missing)}" [ -z "$missing" ]
done

# --- man pages and --help ----------------------------------------------
for tool in tcpput tcpget; do
	page=$REPO/man/$tool.1
	h=$(help_opts $tool | tr '\n' ' ')
	m=$(man_opts "$page" | tr '\n' ' ')
	check "$tool: --help options = man OPTIONS ($h)" holds '[ -n "$h" ] && [ "$h" = "$m" ]'
	[ "$h" = "$m" ] || echo "  --help: $h"$'\n'"  man:    $m"
	h=$(help_codes $tool | tr '\n' ' ')
	m=$(man_codes "$page" | tr '\n' ' ')
	check "$tool: --help exit codes = man EXIT STATUS ($h)" holds '[ -n "$h" ] && [ "$h" = "$m" ]'
	missing=
	for s in NAME SYNOPSIS DESCRIPTION OPTIONS OUTPUT "EXIT STATUS" ENVIRONMENT \
		 FILES EXAMPLES "SEE ALSO"; do
		grep -qE "^\.SH \"?$s\"?\$" "$page" || missing+=" $s"
	done
	check "$tool.1 has every section${missing:+ (missing:$missing)}" [ -z "$missing" ]
done
check "tcpget.1 has a SECURITY section" grep -q '^\.SH SECURITY$' "$REPO/man/tcpget.1"
check "tcpput.1 ENVIRONMENT: COLUMNS, NO_COLOR, TCPX_KEY, XDG_CONFIG_HOME" \
	[ "$(man_tags "$REPO/man/tcpput.1" ENVIRONMENT | tr '\n' ' ')" = "COLUMNS NO_COLOR TCPX_KEY XDG_CONFIG_HOME " ]
check "tcpget.1 ENVIRONMENT: LISTEN_FDS and LISTEN_PID" \
	grep -q 'LISTEN_FDS ", " LISTEN_PID' <(man_section "$REPO/man/tcpget.1" ENVIRONMENT)
for m in "$REPO"/man/*.[15]; do
	out=$(LC_ALL=C.UTF-8 groff -ww -z -t -man "$m" 2>&1); rc=$?
	check "groff -ww: ${m##*/} renders without warnings" holds '[ $rc -eq 0 ] && [ -z "$out" ]'
	[ -z "$out" ] || echo "$out" | head -n 5
	if command -v mandoc >/dev/null; then
		out=$(mandoc -T lint "$m" 2>&1); rc=$?
		check "mandoc -T lint: ${m##*/} clean" holds '[ $rc -eq 0 ] && [ -z "$out" ]'
		[ -z "$out" ] || echo "$out" | head -n 5
	fi
done
command -v mandoc >/dev/null || echo "skip mandoc -T lint: mandoc not installed"

# --- bash completion -----------------------------------------------------
# complete TOOL WORD...: what the completion offers for the last word.
complete_words() {
	local tool=$1; shift
	bash --norc --noprofile -c '
		. "$1"; shift; fn=$1; shift
		COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		"$fn"; printf "%s\n" "${COMPREPLY[@]}"' \
		_ "$REPO/samples/completion/$tool" "_$tool" "$tool" "$@" 2>&1
}
for tool in tcpput tcpget; do
	f=$REPO/samples/completion/$tool
	check "completion/$tool: bash syntax" bash -n "$f"
	h=$(help_opts $tool | tr '\n' ' ')
	c=$(complete_words $tool - | sort -u | tr '\n' ' ')
	check "completion/$tool offers exactly the --help options" holds '[ -n "$h" ] && [ "$h" = "$c" ]'
	[ "$h" = "$c" ] || echo "  --help: $h"$'\n'"  compl:  $c"
done
check "completion: tcpput --compress= offers levels 1-9" \
	[ "$(complete_words tcpput --compress = | tr '\n' ' ')" = "1 2 3 4 5 6 7 8 9 " ]
mkdir -p "$T/compl/dir_one" && : >"$T/compl/file_one"
check "completion: tcpget -d offers directories only" \
	[ "$(cd "$T/compl" && complete_words tcpget -d '' | tr '\n' ' ')" = "dir_one " ]
check "completion: tcpput operands offer files" \
	grep -qx file_one <(cd "$T/compl" && complete_words tcpput fi)
check "completion: tcpput -r operands offer directories" \
	grep -qx dir_one <(cd "$T/compl" && complete_words tcpput -r di)

# --- socket activation -------------------------------------------------
# -p/-b name a port and an address tcpget could not listen on itself: it
# starts only by using the socket it was given.
D3=$T/d3
if [ -x "$BIN/helper_activate" ]; then
	"$BIN/helper_activate" "$GET" -d "$D3" -p 1 -b 192.0.2.1 >"$T/act.out" 2>"$T/act.err" &
	APID=$!
	PIDS+=("$APID")
	for _ in $(seq 1 100); do grep -qs 'listening on' "$T/act.out" && break; sleep 0.05; done
	APORT=$(head -n 1 "$T/act.out")
	check "activated tcpget: start-up line says socket activation" \
		grep -q "^tcpget: listening on 127.0.0.1:$APORT (socket activation), storing in $D3 " "$T/act.out"
	"$PUT" -q -t 10 "$SRC/hello.txt" "127.0.0.1:$APORT"; rc=$?
	check "activated tcpget: tcpput to the passed socket, file arrives" \
		holds '[ $rc -eq 0 ] && cmp -s "$SRC/hello.txt" "$D3/hello.txt"'
	kill -TERM "$APID"; wait "$APID"; rc=$?
	check "activated tcpget: SIGTERM, exit 0" [ $rc -eq 0 ]

	"$BIN/helper_activate" "$GET" --json -d "$D3" >"$T/act.json" 2>&1 &
	APID=$!
	PIDS+=("$APID")
	for _ in $(seq 1 100); do grep -qs 'listening' "$T/act.json" && break; sleep 0.05; done
	check "activated tcpget --json: socket_activated true" \
		grep -q '"socket_activated":true}$' "$T/act.json"
	kill -TERM "$APID"; wait "$APID" 2>/dev/null

	# LISTEN_FDS=1 with something else on fd 3: exit 1 at once, saying
	# what (it used to spin at 100% CPU in accept, for ever).
	for kind in closed file dgram stream; do
		t0=${EPOCHREALTIME/./}
		"$BIN/helper_activate" -k $kind "$GET" -d "$D3" >"$T/bad.out" 2>"$T/bad.err" &
		APID=$!
		PIDS+=("$APID")
		for _ in $(seq 1 60); do kill -0 "$APID" 2>/dev/null || break; sleep 0.05; done
		kill -KILL "$APID" 2>/dev/null
		wait "$APID" 2>/dev/null; rc=$?
		ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
		check "LISTEN_FDS=1, fd 3 $kind: exit 1 within 3 s (exit $rc, $ms ms)" \
			holds '[ $rc -eq 1 ] && [ $ms -lt 3000 ]'
		check "LISTEN_FDS=1, fd 3 $kind: the message names descriptor 3" \
			grep -q '^tcpget: LISTEN_FDS: descriptor 3 is not a listening socket: ' "$T/bad.err"
	done
else
	bad "socket activation: $BIN/helper_activate not built (make check-run builds it)"
fi
# Not ours: LISTEN_PID of another process is ignored.
LISTEN_FDS=1 LISTEN_PID=1 "$GET" -d "$D3" -p 0 -b 127.0.0.1 >"$T/noact.out" 2>&1 &
NPID=$!
PIDS+=("$NPID")
for _ in $(seq 1 100); do grep -qs 'listening on' "$T/noact.out" && break; sleep 0.05; done
check "LISTEN_PID of another process: tcpget listens itself" \
	grep -q '^tcpget: listening on 127.0.0.1:[0-9]*, storing' "$T/noact.out"
kill -TERM "$NPID"; wait "$NPID" 2>/dev/null

# --- make install / uninstall ------------------------------------------
R=$T/root
make -C "$REPO" --no-print-directory install DESTDIR="$R" PREFIX=/usr BUILD="$BIN" \
	>"$T/install.log" 2>&1; rc=$?
check "make install DESTDIR=... PREFIX=/usr: exit 0" [ $rc -eq 0 ]
[ $rc -eq 0 ] || tail -n 5 "$T/install.log"
want=(bin/tcpput bin/tcpget share/man/man1/tcpput.1 share/man/man1/tcpget.1
      share/man/man5/tcpxfer.5)
if grep -q 'bash-completion' "$REPO/Makefile"; then
	want+=(share/bash-completion/completions/tcpput share/bash-completion/completions/tcpget)
	check "installed completion is the one in samples/" \
		cmp -s "$REPO/samples/completion/tcpget" "$R/usr/share/bash-completion/completions/tcpget"
else
	echo "skip: the Makefile installs no bash completion yet"
fi
missing=
for f in "${want[@]}"; do [ -f "$R/usr/$f" ] || missing+=" $f"; done
check "make install: ${#want[@]} files in place${missing:+ (missing:$missing)}" [ -z "$missing" ]
check "installed tcpput runs" holds '"$R/usr/bin/tcpput" --version >/dev/null'
check "installed binaries are mode 755, pages 644" \
	[ "$(stat -c %a "$R/usr/bin/tcpget")/$(stat -c %a "$R/usr/share/man/man1/tcpget.1")" = 755/644 ]
check "installed man page is the one in man/" cmp -s "$REPO/man/tcpput.1" "$R/usr/share/man/man1/tcpput.1"
make -C "$REPO" --no-print-directory uninstall DESTDIR="$R" PREFIX=/usr BUILD="$BIN" \
	>>"$T/install.log" 2>&1; rc=$?
left=$(cd "$R" && find . -type f | tr '\n' ' ')
check "make uninstall: exit 0, every installed file removed${left:+ (left: $left)}" holds '[ $rc -eq 0 ] && [ -z "$left" ]'
R2=$T/root2
make -C "$REPO" --no-print-directory install DESTDIR="$R2" bindir=/opt/t/bin \
	mandir=/opt/t/man BUILD="$BIN" >>"$T/install.log" 2>&1
check "make install honours bindir and mandir" \
	holds '[ -x "$R2/opt/t/bin/tcpget" ] && [ -f "$R2/opt/t/man/man1/tcpget.1" ]'

finish
