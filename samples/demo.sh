#!/usr/bin/env bash
# make demo: a receiver on a free loopback port, the sample files sent to it
# (compressed), and the digests next to what b2sum says of both copies.
set -eu
BIN=$(cd "${1:-build}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/tcpxfer-demo.XXXXXX")
trap 'kill $GET 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT

echo "== tcpget -d $T/downloads -p 0 -b 127.0.0.1"
"$BIN/tcpget" -d "$T/downloads" -p 0 -b 127.0.0.1 >"$T/get.log" 2>&1 &
GET=$!
PORT=
for _ in $(seq 1 100); do
	PORT=$(sed -n 's/.*listening on .*:\([0-9][0-9]*\),.*/\1/p' "$T/get.log")
	[ -n "$PORT" ] && break
	sleep 0.05
done
[ -n "$PORT" ] || { cat "$T/get.log"; exit 1; }
cat "$T/get.log"

echo
echo "== tcpput -z samples/files/* 127.0.0.1:$PORT"
"$BIN/tcpput" -z "$HERE"/files/* "127.0.0.1:$PORT"
sleep 0.2

echo
echo "== what tcpget logged"
tail -n +2 "$T/get.log"

echo
echo "== b2sum of the originals and of the received copies"
(cd "$HERE/files" && b2sum -- *) | sed 's/^\(.\{16\}\)[0-9a-f]*/\1.../; s/^/sent      /'
(cd "$T/downloads" && b2sum -- *) | sed 's/^\(.\{16\}\)[0-9a-f]*/\1.../; s/^/received  /'
if (cd "$HERE/files" && b2sum -- *) | (cd "$T/downloads" && b2sum --quiet -c -); then
	echo
	echo "demo: every file arrived intact and verified by both sides"
fi
