#!/usr/bin/env bash
# bench/secure.sh: what SECURE costs, in the same run: one file (1 GiB by
# default) over loopback without keys, with AES-256-GCM and with
# XChaCha20-Poly1305 records, alternating per repetition; the median wall
# time of each, the CPU seconds of tcpput and tcpget per GiB, and what
# libsodium's AEADs alone cost per GiB on one core (bench/aeadbound.c),
# which bounds the encryption overhead per side.  `make bench` runs it
# after bench/run.sh; writes Markdown to stdout and bench/results/secure.md.
#
# usage: bash bench/secure.sh [--mib N] [--reps N] [--tmp DIR]
# Every tcpget is started here and stopped by its pid; every run is bounded
# by tcpput -t (no byte moving for 60 s ends it).
set -u -o pipefail
export LC_ALL=C
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
B=${BUILD:-$ROOT/build}
MIB=1024 REPS=3 TMP_BASE=""
while [[ $# -gt 0 ]]; do
	case $1 in
	--mib) MIB=$2; shift 2 ;;
	--reps) REPS=$2; shift 2 ;;
	--tmp) TMP_BASE=$2; shift 2 ;;
	*) echo "usage: bash bench/secure.sh [--mib N] [--reps N] [--tmp DIR]" >&2; exit 2 ;;
	esac
done
if [[ -z $TMP_BASE ]]; then
	TMP_BASE=/tmp
	avail=$(df --output=avail -k /dev/shm 2>/dev/null | tail -n 1)
	[[ -n $avail && $avail -gt $((3 * MIB * 1024)) ]] && TMP_BASE=/dev/shm
fi
W=$(mktemp -d "$TMP_BASE/tcpx-secure.XXXXXX") || exit 1
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$W"' EXIT
mkdir -p "$BENCH_DIR/build" "$W/plain" "$W/sec"
cc -std=c11 -O2 -o "$BENCH_DIR/build/aeadbound" "$BENCH_DIR/aeadbound.c" \
	$(pkg-config --cflags --libs libsodium) || exit 1
head -c $((MIB * 1024 * 1024)) /dev/urandom >"$W/file"
"$B/tcpget" --genkey "$W/r" >/dev/null && "$B/tcpput" --genkey "$W/s" >/dev/null || exit 1
cut -d' ' -f1-2 "$W/s.pub" >"$W/auth"

start() {   # start NAME ARGS...: sets NAME_PID, NAME_PORT
	local name=$1 port="" i; shift
	"$B/tcpget" -d "$W/$name" -p 0 -b 127.0.0.1 --overwrite "$@" >"$W/$name.out" 2>&1 &
	local pid=$!; PIDS+=("$pid")
	for ((i = 0; i < 100; i++)); do
		port=$(sed -n 's/.*listening on .*:\([0-9][0-9]*\),.*/\1/p' "$W/$name.out")
		[[ -n $port ]] && break; sleep 0.05
	done
	[[ -n $port ]] || { echo "tcpget did not start" >&2; exit 1; }
	printf -v "${name}_PID" %s "$pid"; printf -v "${name}_PORT" %s "$port"
}
start plain
start sec --key "$W/r" --authorized "$W/auth"
cpu() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null; }   # ticks

# run MODE: one timed transfer; prints "wall put_cpu get_cpu" (seconds)
run() {
	local args g s e pc=0 put rc
	case $1 in
	plain) args=("$W/file" "127.0.0.1:$plain_PORT"); g=$plain_PID ;;
	aes) args=(--key "$W/s" --peer-key "$W/r.pub" "$W/file" "127.0.0.1:$sec_PORT"); g=$sec_PID ;;
	xchacha) args=(--cipher=xchacha20-poly1305 --key "$W/s" --peer-key "$W/r.pub" "$W/file" "127.0.0.1:$sec_PORT"); g=$sec_PID ;;
	esac
	local g0; g0=$(cpu "$g"); s=$EPOCHREALTIME
	"$B/tcpput" -q -t 60 "${args[@]}" & put=$!
	while kill -0 "$put" 2>/dev/null; do pc=$(cpu "$put" || echo "$pc"); sleep 0.02; done
	wait "$put"; rc=$?
	e=$EPOCHREALTIME
	[[ $rc -eq 0 ]] || { echo "tcpput $1 exit $rc" >&2; exit 1; }
	awk -v s="$s" -v e="$e" -v pc="$pc" -v g0="$g0" -v g1="$(cpu "$g")" -v hz="$(getconf CLK_TCK)" \
		'BEGIN { printf "%.3f %.3f %.3f\n", e - s, pc / hz, (g1 - g0) / hz }'
}
declare -A R
run plain >/dev/null      # warm-up: page cache, sockets
for ((i = 0; i < REPS; i++)); do
	for m in plain aes xchacha; do R[$m]+="$(run $m)"$'\n'; done
done
med() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
col() { printf '%s' "${R[$1]}" | awk -v c="$2" 'NF {print $c}' | med; }
bound=$("$BENCH_DIR/build/aeadbound" "$MIB")
ba=$(awk '/^aes-256-gcm/ {print $2}' <<<"$bound"); bx=$(awk '/^xchacha/ {print $2}' <<<"$bound")
gib=$(awk -v m="$MIB" 'BEGIN {print m / 1024}')
{
	echo "## SECURE: $MIB MiB over loopback, median of $REPS ($(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
	echo
	echo "| records | wall s | x plain | tcpput CPU s/GiB | tcpget CPU s/GiB | extra CPU per side / AEAD alone |"
	echo "|---|---|---|---|---|---|"
	pw=$(col plain 1); pp=$(col plain 2); pg=$(col plain 3)
	for m in plain aes xchacha; do
		w=$(col $m 1); p=$(col $m 2); g=$(col $m 3)
		b=$([[ $m == aes ]] && echo "$ba" || echo "$bx")
		awk -v m="$m" -v w="$w" -v pw="$pw" -v p="$p" -v g="$g" -v pp="$pp" -v pg="$pg" -v b="$b" -v gib="$gib" 'BEGIN {
			name = m == "plain" ? "none (no keys)" : m == "aes" ? "AES-256-GCM" : "XChaCha20-Poly1305"
			extra = m == "plain" || b == "" ? "-" : sprintf("%.2fx / %.2fx", (p - pp) / gib / b, (g - pg) / gib / b)
			printf "| %s | %.2f | %.2f | %.2f | %.2f | %s |\n", name, w, w / pw, p / gib, g / gib, extra }'
	done
	echo
	echo "libsodium alone, one core: ${ba:-?} s/GiB AES-256-GCM, ${bx:-?} s/GiB XChaCha20-Poly1305 (bench/aeadbound)."
} | tee "$BENCH_DIR/results/secure.md"
