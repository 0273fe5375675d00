#!/usr/bin/env bash
# libtcpx as a user gets it: installed into a staging prefix (make
# check-examples does `make install PREFIX=STAGE` first), examples/send.c
# and tests/libtcpx_api.c built against it through pkg-config alone, run
# against a real tcpget on loopback; what is installed, exported and
# uninstalled.
# usage: bash tests/examples.sh BUILD_DIR STAGE_PREFIX
SUITE=examples
. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STAGE=${2:?usage: examples.sh BUILD_DIR STAGE_PREFIX}
LIBDIR=$STAGE/lib
export PKG_CONFIG_PATH=$LIBDIR/pkgconfig
CC=${CC:-cc}
# The sanitizer build's library needs its runtime in the programs too.
XCFLAGS=${EXAMPLE_CFLAGS:-}
VERSION=$(sed -n 's/^VERSION *= *//p' "$ROOT/Makefile")

# --- what make install put there ------------------------------------------
for f in bin/tcpput bin/tcpget lib/libtcpx.a "lib/libtcpx.so.$VERSION" \
	include/tcpx/tcpx.h lib/pkgconfig/libtcpx.pc share/man/man3/libtcpx.3 \
	share/man/man3/tcpx_send.3 share/man/man3/tcpx_serve.3 \
	share/man/man1/tcpput.1 share/man/man5/tcpxfer.5 \
	lib/systemd/system/tcpget.service lib/systemd/system/tcpget.socket; do
	check "installed: $f" [ -f "$STAGE/$f" ]
done
check "installed: libtcpx.so.0 -> libtcpx.so.$VERSION, libtcpx.so -> libtcpx.so.0" \
	holds '[ "$(readlink "$LIBDIR/libtcpx.so.0")" = "libtcpx.so.$VERSION" ] && [ "$(readlink "$LIBDIR/libtcpx.so")" = libtcpx.so.0 ]'
check "installed unit runs the installed tcpget" \
	grep -qx "ExecStart=$STAGE/bin/tcpget -d /var/lib/tcpget" "$STAGE/lib/systemd/system/tcpget.service"
check "installed tcpput runs (--version)" grep -q "^tcpput $VERSION " <<<"$("$STAGE/bin/tcpput" --version)"

# --- the library's face ---------------------------------------------------
check "soname is libtcpx.so.0" \
	holds 'readelf -d "$LIBDIR/libtcpx.so.$VERSION" | grep -q "SONAME.*\[libtcpx.so.0\]"'
exported=$(nm -D --defined-only "$LIBDIR/libtcpx.so.$VERSION" | awk '$2 == "T" || $2 == "D" || $2 == "B" {print $3}' | sed 's/@.*//' | sort | tr '\n' ' ')
check "exports the API and nothing else ($exported)" [ "$exported" = "tcpx_send tcpx_send_options_init tcpx_serve tcpx_serve_options_init tcpx_serve_stop tcpx_strerror tcpx_version " ]
check "every export is declared in tcpx.h" \
	holds 'for s in $exported; do grep -q "\b$s(" "$STAGE/include/tcpx/tcpx.h" || exit 1; done'
check "the tools are built on it (run_send in tcpput, run_serve in tcpget)" \
	holds 'nm "$BIN/tcpput" | grep -q " run_send$" && nm "$BIN/tcpget" | grep -q " run_serve$"'
check "tcpput carries no server (run_serve.o stays out of it)" \
	holds '! nm "$BIN/tcpput" | grep -q " server_run$"'
cflags=$(pkg-config --cflags libtcpx); libs=$(pkg-config --libs libtcpx)
check "pkg-config --cflags --libs libtcpx: the staged prefix" \
	holds '[[ "$cflags" == *"-I$STAGE/include"* ]] && [[ "$libs" == *"-L$LIBDIR"* ]] && [[ "$libs" == *-ltcpx* ]]'
check "pkg-config --modversion libtcpx is $VERSION" [ "$(pkg-config --modversion libtcpx)" = "$VERSION" ]
check "tcpx.h compiles alone as strict C99" \
	"$CC" -std=c99 -pedantic -Wall -Wextra -Werror -fsyntax-only $cflags -x c - <<<'#include <tcpx/tcpx.h>
int main(void) { return tcpx_version() == 0; }'
if command -v c++ >/dev/null; then
	check "tcpx.h compiles as C++" c++ -Wall -Werror -fsyntax-only $cflags -x c++ - <<<'#include <tcpx/tcpx.h>
int main() { return tcpx_version() == nullptr; }'
fi

# --- examples/send.c, shared and static -----------------------------------
check "examples/send.c builds against the installed library (pkg-config)" \
	"$CC" $XCFLAGS -Wall -Wextra -Werror -o "$T/send" "$ROOT/examples/send.c" $cflags $libs
check "it links the shared library" holds 'LD_LIBRARY_PATH=$LIBDIR ldd "$T/send" | grep -q "libtcpx.so.0 => $LIBDIR/libtcpx.so.0"'
check "examples/send.c builds static too (pkg-config --static, libtcpx.a)" \
	"$CC" $XCFLAGS -Wall -Wextra -Werror -o "$T/send-static" "$ROOT/examples/send.c" $cflags \
		-L"$LIBDIR" -Wl,-Bstatic -ltcpx -Wl,-Bdynamic $(pkg-config --static --libs libtcpx | sed 's/-ltcpx//')
check "the static one needs no libtcpx.so" holds '! ldd "$T/send-static" | grep -q libtcpx'

head -c 1000000 /dev/urandom >"$T/data.bin"
printf 'hello, library\n' >"$T/small.txt"
D=$T/recv
start_receiver "$D"
out=$(LD_LIBRARY_PATH=$LIBDIR "$T/send" 127.0.0.1 "$RPORT" "$T/data.bin" "$T/small.txt" 2>"$T/err"); rc=$?
check "send: exit 0" [ $rc -eq 0 ]
check "send: prints what b2sum prints for each file" [ "$out" = "$(b2sum "$T/data.bin" "$T/small.txt")" ]
check "received data.bin has the sender's b2sum" \
	[ "$(b2sum <"$D/data.bin")" = "$(b2sum <"$T/data.bin")" ]
check "received small.txt has the sender's b2sum" \
	[ "$(b2sum <"$D/small.txt")" = "$(b2sum <"$T/small.txt")" ]
check "send: nothing on stderr" [ ! -s "$T/err" ]
check "no temporary file left" no_temp "$D"

touch -d @1600000000 "$T/data.bin"   # identical, it would be skipped
out=$("$T/send-static" 127.0.0.1 "$RPORT" "$T/data.bin" 2>"$T/err"); rc=$?
check "static send of an existing name (a different file): refused, exit 1 (TCPX_SEND_REFUSED)" [ $rc -eq 1 ]
check "static send: the refusal on stderr, by path" grep -q "data.bin: file exists" "$T/err"
LD_LIBRARY_PATH=$LIBDIR "$T/send" 127.0.0.1 "$RPORT" >/dev/null 2>&1; rc=$?
check "send without files: usage, exit 2" [ $rc -eq 2 ]
stop_receiver

# --- the whole API in one process (tests/libtcpx_api.c) -------------------
check "tests/libtcpx_api.c builds against the installed library" \
	"$CC" $XCFLAGS -std=c11 -Wall -Wextra -Werror -o "$T/api" "$ROOT/tests/libtcpx_api.c" $cflags $libs -lpthread
LD_LIBRARY_PATH=$LIBDIR "$T/api" "$T/api-recv" "$T/data.bin" >"$T/api.out" 2>"$T/api.err"; rc=$?
while read -r verdict name; do
	case $verdict in
	ok) ok "api: $name" ;;
	FAIL) bad "api: $name" ;;
	*) bad "api: a line not of the test's: $verdict $name" ;;
	esac
done <"$T/api.out"
check "api: exit 0" [ $rc -eq 0 ]
check "api: the library printed nothing on stderr" [ ! -s "$T/api.err" ]

# --- make uninstall leaves nothing ------------------------------------------
make -s -C "$ROOT" uninstall PREFIX="$STAGE" BUILD="$BIN" >/dev/null 2>&1
left=$(find "$STAGE" \( -type f -o -type l \) | sed "s|^$STAGE/||")
check "make uninstall removes every file it installed${left:+ (left: $left)}" [ -z "$left" ]

# --- a distribution's layout: DESTDIR, libdir, systemdunitdir ---------------
R=$T/destdir
make -s -C "$ROOT" install DESTDIR="$R" PREFIX=/usr BUILD="$BIN" \
	libdir=/usr/lib/x86_64-linux-gnu systemdunitdir=/lib/systemd/system >"$T/inst.log" 2>&1; rc=$?
check "make install DESTDIR=... libdir=... systemdunitdir=...: exit 0" [ $rc -eq 0 ]
check "the library, .pc and units where asked" \
	holds '[ -f "$R/usr/lib/x86_64-linux-gnu/libtcpx.so.$VERSION" ] && [ -f "$R/usr/lib/x86_64-linux-gnu/pkgconfig/libtcpx.pc" ] && [ -f "$R/lib/systemd/system/tcpget.socket" ]'
check "libtcpx.pc names the final prefix, not DESTDIR" \
	holds 'grep -qx "libdir=/usr/lib/x86_64-linux-gnu" "$R/usr/lib/x86_64-linux-gnu/pkgconfig/libtcpx.pc" && grep -qx "includedir=/usr/include" "$R/usr/lib/x86_64-linux-gnu/pkgconfig/libtcpx.pc" && ! grep -q "$R" "$R/usr/lib/x86_64-linux-gnu/pkgconfig/libtcpx.pc"'
check "the service runs /usr/bin/tcpget" grep -qx "ExecStart=/usr/bin/tcpget -d /var/lib/tcpget" "$R/lib/systemd/system/tcpget.service"
make -s -C "$ROOT" uninstall DESTDIR="$R" PREFIX=/usr BUILD="$BIN" \
	libdir=/usr/lib/x86_64-linux-gnu systemdunitdir=/lib/systemd/system >>"$T/inst.log" 2>&1
left=$(find "$R" \( -type f -o -type l \) | sed "s|^$R/||")
check "make uninstall with the same variables removes them all${left:+ (left: $left)}" [ -z "$left" ]

finish
