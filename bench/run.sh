#!/usr/bin/env bash
# bench/run.sh: tcpxfer against its peers, side by side, on loopback.
#
# Runs every workload in one go, alternating contenders per repetition
# (A,B,C,A,B,C,...), and reports median wall times, the ratio of tcpxfer to
# each peer, bytes on the wire (counted by bench/relay) and the peak RSS of
# tcpput and tcpget.  Writes Markdown to stdout and bench/results/latest.md.
#
# Peers, all started here on 127.0.0.1 with throw-away configuration in a
# temporary directory: an rsync daemon, OpenBSD nc (a file, or tar | nc for
# trees), scp to a private sshd, and the lower bound: BLAKE2b-512 of the same
# data on one core (bench/b2bound.c).
#
# Every server is started by this script and killed by its pid at exit;
# every run is bounded by `timeout`; the relay bounds itself.
#
# `bash bench/run.sh -h` lists the options.  `make bench` runs it with
# BENCH_ARGS after `make all`.

set -u -o pipefail
export LC_ALL=C                 # EPOCHREALTIME with a '.', sort, awk
umask 022

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
TCPPUT=${TCPPUT:-$ROOT/build/tcpput}
TCPGET=${TCPGET:-$ROOT/build/tcpget}
HELPERS=$BENCH_DIR/build

# ---------------------------------------------------------------- options

REPS=3
WARMUP=1                        # untimed rounds per workload before the timed ones
BIG_MIB=1024                    # workload 1
SMALL_FILES=10000               # workload 2
SMALL_KIB=4
TEXT_MIB=256                    # workloads 3 and 5
TINY_FILES=1000                 # workload 4
TINY_KIB=1
DELAY_MS=10                     # workload 4, each way
RATE_MBIT=100                   # workload 5
SENDERS=32                      # workload 6
SENDER_MIB=32
TREE_FILES=100000               # workload 7, in directories of 1000
TREE_KIB=1
LFN_MIB=1024                    # workload 10: through the path emulator
LFN_RTT_MS=100
LFN_WINDOW=4194304              # bytes in flight per connection
LFN_LINK=200                    # MiB/s, shared by all connections
LFN_STREAMS=8
LFN_REPS=1                      # its time is the path's: one run each, no warm-up
SCALE_MIB=1,16,256,1024         # workload 11: one file of each size, in the work directory
SCALE_BIG_MIB=8192              # and one this big on the disk (0: none)
SCALE_DISK=/var/tmp
SCALE_DISK_REF_MIB=1024         # a reference point on the disk too, the same medium as the big one
SCALE_REPS=3                    # runs per point in the work directory (the disk points run once)
SCALE_FILES=1000,10000,100000   # and trees of this many 1 KiB files, directories of 1000
MIXED_MIB=256                   # workload 12: text, JSON and incompressible "media"
ONLY=random,small,text,latency,slow,concurrent,tree,rerun,resume,lfn,scale,mixed
SKIP=""
TMP_BASE=""
OUT_MD=$BENCH_DIR/results/latest.md
RUN_TIMEOUT=300                 # seconds, any single timed run
QUICK=0

usage() {
	cat <<EOF
usage: bash bench/run.sh [options]
  --quick            small sizes, 1 repetition, no warm-up (a smoke test; well under a minute)
  --reps N           repetitions per contender, median reported ($REPS)
  --warmup N         untimed rounds of every contender first, 0 for none ($WARMUP;
                     never for the rate-limited workload, whose time is the link's)
  --big-mib N        workload 1: size of the random file ($BIG_MIB)
  --small-files N    workload 2: number of ${SMALL_KIB} KiB files ($SMALL_FILES)
  --text-mib N       workloads 3 and 5: size of the log-like text ($TEXT_MIB)
  --tiny-files N     workload 4: number of ${TINY_KIB} KiB files through the delay relay ($TINY_FILES)
  --delay-ms N       workload 4: one-way delay of the relay ($DELAY_MS)
  --rate-mbit N      workload 5: rate limit of the relay ($RATE_MBIT)
  --senders N        workload 6: concurrent senders ($SENDERS)
  --sender-mib N     workload 6: MiB per sender ($SENDER_MIB)
  --tree-files N     workload 7: files of ${TREE_KIB} KiB in a tree of directories of 1000 ($TREE_FILES)
  --lfn-mib N        workload 10: MiB of random data through the path emulator ($LFN_MIB)
  --lfn-rtt-ms N     workload 10: round-trip time ($LFN_RTT_MS)
  --lfn-window N     workload 10: bytes in flight per connection ($LFN_WINDOW)
  --lfn-link N       workload 10: link rate in MiB/s, shared by all connections ($LFN_LINK)
  --lfn-streams N    workload 10: tcpput --streams N, when tcpput has it ($LFN_STREAMS)
  --lfn-reps N       workload 10: repetitions ($LFN_REPS; no warm-up)
  --scale-mib LIST   workload 11: file sizes in MiB, in the work directory ($SCALE_MIB)
  --scale-big-mib N  workload 11: one more file this big in --scale-disk, next to a ${SCALE_DISK_REF_MIB} MiB
                     reference there, 0 for none ($SCALE_BIG_MIB; skipped when the disk has less
                     than 2.5x that free)
  --scale-disk DIR   workload 11: where the big file goes, on a disk, not tmpfs ($SCALE_DISK)
  --scale-files LIST workload 11: file counts of the 1 KiB trees ($SCALE_FILES)
  --scale-reps N     workload 11: runs per point in the work directory, median reported ($SCALE_REPS)
  --mixed-mib N      workload 12: size of the mixed tree ($MIXED_MIB)
  --only LIST        workloads to run, comma-separated, by name or number:
                     random(1) small(2) text(3) latency(4) slow(5) concurrent(6)
                     tree(7)
                     rerun(8: tcpx re-run of an unchanged --small-files tree)
                     resume(9: tcpx --resume of a --big-mib file cut at 50%)
                     lfn(10: long fat network through bench/relay's path model)
                     scale(11: tcpx time, CPU and peak RSS as file size and file count grow)
                     mixed(12: a tree of log text, JSON and incompressible media: raw, -z, --zstd)
  --skip LIST        contenders to leave out: rsync,nc,scp,b2,tcpx
  --tmp DIR          where inputs and outputs go (default /dev/shm if it has room)
  --out FILE         Markdown report ($OUT_MD)
  --timeout S        limit for any single timed run ($RUN_TIMEOUT)
Environment: TCPPUT, TCPGET override the tools under test (default build/).
EOF
}

die() { echo "run.sh: $*" >&2; exit 1; }
log() { echo "run.sh: $*" >&2; }
posint() { [[ $2 =~ ^[0-9]+$ && $2 -ge 1 ]] || die "$1 needs a positive integer, got '$2'"; }

while [[ $# -gt 0 ]]; do
	opt=$1
	val=""
	if [[ $opt == --*=* ]]; then
		val=${opt#*=}
		opt=${opt%%=*}
	elif [[ $# -ge 2 ]]; then
		val=$2
	fi
	case $opt in
	-h | --help) usage; exit 0 ;;
	--quick)
		QUICK=1 REPS=1 WARMUP=0 BIG_MIB=128 SMALL_FILES=1000 TEXT_MIB=32 TINY_FILES=200
		SENDERS=8 SENDER_MIB=8 TREE_FILES=5000 LFN_MIB=32
		SCALE_MIB=1,4,16 SCALE_BIG_MIB=64 SCALE_DISK_REF_MIB=16 SCALE_FILES=100,300,1000 MIXED_MIB=16
		SCALE_REPS=1
		shift; continue ;;
	--reps) posint "$opt" "$val"; REPS=$val ;;
	--warmup) [[ $val =~ ^[0-9]+$ ]] || die "--warmup needs a number"; WARMUP=$val ;;
	--big-mib) posint "$opt" "$val"; BIG_MIB=$val ;;
	--small-files) posint "$opt" "$val"; SMALL_FILES=$val ;;
	--text-mib) posint "$opt" "$val"; TEXT_MIB=$val ;;
	--tiny-files) posint "$opt" "$val"; TINY_FILES=$val ;;
	--delay-ms) posint "$opt" "$val"; DELAY_MS=$val ;;
	--rate-mbit) posint "$opt" "$val"; RATE_MBIT=$val ;;
	--senders) posint "$opt" "$val"; [[ $val -le 60 ]] || die "--senders: at most 60"; SENDERS=$val ;;
	--sender-mib) posint "$opt" "$val"; SENDER_MIB=$val ;;
	--tree-files) posint "$opt" "$val"; TREE_FILES=$val ;;
	--lfn-mib) posint "$opt" "$val"; LFN_MIB=$val ;;
	--lfn-rtt-ms) posint "$opt" "$val"; LFN_RTT_MS=$val ;;
	--lfn-window) posint "$opt" "$val"; LFN_WINDOW=$val ;;
	--lfn-link) posint "$opt" "$val"; LFN_LINK=$val ;;
	--lfn-streams) posint "$opt" "$val"; LFN_STREAMS=$val ;;
	--lfn-reps) posint "$opt" "$val"; LFN_REPS=$val ;;
	--scale-mib) [[ $val =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--scale-mib needs a list like 1,16,256"; SCALE_MIB=$val ;;
	--scale-big-mib) [[ $val =~ ^[0-9]+$ ]] || die "--scale-big-mib needs a number"; SCALE_BIG_MIB=$val ;;
	--scale-disk) SCALE_DISK=$val ;;
	--scale-reps) posint "$opt" "$val"; SCALE_REPS=$val ;;
	--mixed-mib) posint "$opt" "$val"; MIXED_MIB=$val ;;
	--scale-files) [[ $val =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--scale-files needs a list like 1000,10000"; SCALE_FILES=$val ;;
	--only) ONLY=$val ;;
	--skip) SKIP=$val ;;
	--tmp) TMP_BASE=$val ;;
	--out) OUT_MD=$val ;;
	--timeout) posint "$opt" "$val"; RUN_TIMEOUT=$val ;;
	*) usage >&2; die "unknown option: $opt" ;;
	esac
	if [[ $1 == --*=* ]]; then shift; else shift 2 || die "$opt needs a value"; fi
done

NOTES=()
declare -A WANT=()
IFS=, read -r -a _only <<<"$ONLY"
for w in "${_only[@]}"; do
	case $w in
	1 | random) WANT[random]=1 ;;
	2 | small) WANT[small]=1 ;;
	3 | text) WANT[text]=1 ;;
	4 | latency) WANT[latency]=1 ;;
	5 | slow) WANT[slow]=1 ;;
	6 | concurrent) WANT[concurrent]=1 ;;
	7 | tree) WANT[tree]=1 ;;
	8 | rerun) WANT[rerun]=1 ;;
	9 | resume) WANT[resume]=1 ;;
	10 | lfn) WANT[lfn]=1 ;;
	11 | scale) WANT[scale]=1 ;;
	12 | mixed) WANT[mixed]=1 ;;
	"") ;;
	*) die "--only: unknown workload '$w'" ;;
	esac
done
declare -A SKIPPED=()
IFS=, read -r -a _skip <<<"$SKIP"
for c in "${_skip[@]}"; do
	case $c in
	rsync | nc | scp | b2 | tcpx) SKIPPED[$c]=1; NOTES+=("$c left out (--skip)") ;;
	"") ;;
	*) die "--skip: unknown contender '$c'" ;;
	esac
done
wants() { [[ -n ${WANT[$1]:-} ]]; }
note() { NOTES+=("$*"); log "$*"; }

# --------------------------------------------------------------- cleanup
#
# Every background process goes into LIVE until reaped; at exit each one and its
# descendants (found through /proc, by pid) get SIGTERM, then SIGKILL.

declare -A LIVE=()              # pids started in the background, not yet waited for
WORK=""
SCALE_TMP=""                    # workload 11's directory on the disk
started() { local p; for p in "$@"; do LIVE[$p]=1; done; }
# Waits for one background pid and forgets it (so a recycled pid is never
# signalled at exit); returns its status.
reap() { local rc; wait "$1" 2>/dev/null; rc=$?; unset "LIVE[$1]"; return $rc; }

descendants() {
	local p c
	for p in "$@"; do
		for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do
			descendants "$c"
			echo "$c"
		done
	done
}

kill_tree() {
	local sig=$1 p
	shift
	for p in "$@"; do
		[[ -n $p ]] || continue
		local all
		all=$(descendants "$p")
		kill -s "$sig" "$p" $all 2>/dev/null
	done
	return 0
}

cleanup() {
	local live=() p
	for p in "${!LIVE[@]}"; do
		kill -0 "$p" 2>/dev/null && live+=("$p")
	done
	if [[ ${#live[@]} -gt 0 ]]; then
		kill_tree TERM "${live[@]}"
		local i left
		for ((i = 0; i < 30; i++)); do     # up to 3 s to exit cleanly
			left=0
			for p in "${live[@]}"; do kill -0 "$p" 2>/dev/null && left=1; done
			[[ $left -eq 0 ]] && break
			sleep 0.1
		done
		[[ $left -eq 1 ]] && kill_tree KILL "${live[@]}"
	fi
	wait 2>/dev/null
	[[ -n $WORK && -d $WORK ]] && rm -rf "$WORK"
	[[ -n $SCALE_TMP && -d $SCALE_TMP ]] && rm -rf "$SCALE_TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------- dependencies

is_openbsd_nc() { command -v nc >/dev/null && nc -h 2>&1 | grep -q -i openbsd; }

install_missing() {
	local pkgs=()
	command -v cc >/dev/null || pkgs+=(gcc libc6-dev)
	command -v rsync >/dev/null || pkgs+=(rsync)
	is_openbsd_nc || pkgs+=(netcat-openbsd)
	[[ -x /usr/sbin/sshd ]] || pkgs+=(openssh-server)
	command -v scp >/dev/null && command -v ssh-keygen >/dev/null || pkgs+=(openssh-client)
	command -v pkg-config >/dev/null || pkgs+=(pkg-config)
	pkg-config --exists libsodium 2>/dev/null || pkgs+=(libsodium-dev)
	command -v gzip >/dev/null || pkgs+=(gzip)
	command -v tar >/dev/null || pkgs+=(tar)
	[[ -x /usr/bin/time ]] || pkgs+=(time)
	[[ ${#pkgs[@]} -eq 0 ]] && return 0
	log "installing ${pkgs[*]}"
	[[ $(id -u) -eq 0 ]] || die "missing ${pkgs[*]} and not root to install them"
	command -v apt-get >/dev/null || die "missing ${pkgs[*]} and no apt-get"
	# Keep the packages' maintainer scripts from starting services (an sshd
	# on port 22 on every address): the standard policy-rc.d refusal, only
	# for the time of the install and only if none is in place.
	local policy=""
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
	fi
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2
	local rc=$?
	[[ -n $policy ]] && rm -f "$policy"
	[[ $rc -eq 0 ]] || die "apt-get install ${pkgs[*]} failed"
}

build_helpers() {
	mkdir -p "$HELPERS" || die "cannot create $HELPERS"
	local cflags="-std=c11 -O2 -Wall -Wextra"
	local src out
	for src in relay geninput b2bound helper_cutrelay; do
		out=$HELPERS/$src
		local c=$BENCH_DIR/$src.c
		[[ $src == helper_cutrelay ]] && c=$ROOT/tests/helper_cutrelay.c
		if [[ ! -x $out || $c -nt $out ]]; then
			local libs=""
			[[ $src == b2bound ]] && libs=$(pkg-config --cflags --libs libsodium)
			# shellcheck disable=SC2086
			cc $cflags -D_GNU_SOURCE -o "$out" "$c" $libs || die "cannot build $src"
		fi
	done
}

# ------------------------------------------------------------- utilities

declare -A PORTS_GIVEN=()

# A port in 20000..32767 (below Linux's ephemeral range, so no outgoing
# connection takes it meanwhile) that no socket uses and that this script
# has not handed out before.
free_port() {
	local used p hex i
	used=$(awk 'FNR > 1 { split($2, a, ":"); print a[2] }' /proc/net/tcp /proc/net/tcp6 2>/dev/null | sort -u)
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + RANDOM % 12768))
		[[ -n ${PORTS_GIVEN[$p]:-} ]] && continue
		hex=$(printf '%04X' "$p")
		grep -qx "$hex" <<<"$used" && continue
		PORTS_GIVEN[$p]=1
		echo "$p"
		return 0
	done
	die "no free port found"
}

# Waits until something listens on 127.0.0.1:PORT (LISTEN in /proc/net/tcp)
# and PID is still alive; at most 10 s.
wait_listen() {
	local port=$1 pid=$2 hex i
	hex=$(printf '%04X' "$port")
	for ((i = 0; i < 1000; i++)); do
		if awk -v p="$hex" '$4 == "0A" && $2 ~ (":" p "$") { f = 1 } END { exit !f }' \
			/proc/net/tcp /proc/net/tcp6 2>/dev/null; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.01
	done
	return 1
}

# The pid that runs the real program under `timeout ... /usr/bin/time ...`.
leaf_of() {
	local p=$1 c
	while c=$(cat /proc/"$p"/task/*/children 2>/dev/null | awk '{ print $1; exit }') && [[ -n $c ]]; do
		p=$c
	done
	echo "$p"
}

# GNU time's -o file: the last line is "%U %S %M" or "%M" (KiB); earlier
# lines may say "Command exited with non-zero status".
rss_of() { [[ -s $1 ]] && tail -n 1 "$1" | awk '/^[0-9. ]+$/ { print $NF; exit }'; }
# user + system CPU in milliseconds from a "%U %S %M" line.
cpu_of() { [[ -s $1 ]] && tail -n 1 "$1" | awk 'NF == 3 && /^[0-9. ]+$/ { printf "%d\n", ($1 + $2) * 1000; exit }'; }

now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }
fmt_s() { printf '%d.%03d' $(($1 / 1000000)) $(($1 / 1000 % 1000)); }
# seconds with two decimals, rounded (the carry goes to the seconds:
# 1.995 s is 2.00, not 1.00)
fmt_s2() { local c=$((($1 + 5000) / 10000)); printf '%d.%02d' $((c / 100)) $((c % 100)); }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else printf "%d\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'; }
mib_s() { awk -v b="$1" -v us="$2" 'BEGIN { if (us > 0) printf "%.0f", b / 1048576 / (us / 1e6); else printf "n/a" }'; }
human_bytes() { awk -v b="$1" 'BEGIN { if (b >= 1048576) printf "%.1f MiB", b / 1048576; else if (b >= 1024) printf "%.1f KiB", b / 1024; else printf "%d B", b }'; }
mib_of_kib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# Reads the inputs once so the timed run starts from the page cache.
prime() {
	local p
	for p in "$@"; do
		if [[ -d $p ]]; then
			find "$p" -type f -exec cat {} + >/dev/null
		else
			cat "$p" >/dev/null
		fi
	done
}

# "count bytes" of the regular files under DIR.
tree_stats() { find "$1" -type f -printf '%s\n' 2>/dev/null | awk '{ n++; s += $1 } END { printf "%d %d\n", n, s }'; }

# ------------------------------------------------------------------ relay

RELAY_PID="" RELAY_PORT="" RELAY_OUT=""
WIRE_UP="" WIRE_DOWN=""

start_relay() {                 # delay_ms rate_mbit [relay options...] dest_port
	local dest=${!#} extra=("${@:3:$#-3}")
	RELAY_PORT=$(free_port)
	RELAY_OUT=$WORK/relay.$RELAY_PORT
	rm -f "$RELAY_OUT"
	"$HELPERS/relay" -q -l "$RELAY_PORT" -d "$dest" -D "$1" -r "$2" "${extra[@]}" -n 256 \
		-i 120 -t $((RUN_TIMEOUT + 60)) -o "$RELAY_OUT" &
	RELAY_PID=$!
	started "$RELAY_PID"
	wait_listen "$RELAY_PORT" "$RELAY_PID" || { log "relay did not start"; return 1; }
}

stop_relay() {
	WIRE_UP="" WIRE_DOWN=""
	[[ -n $RELAY_PID ]] || return 0
	kill -TERM "$RELAY_PID" 2>/dev/null
	reap "$RELAY_PID"
	if [[ -s $RELAY_OUT ]]; then
		WIRE_UP=$(awk '$1 == "up_bytes" { print $2 }' "$RELAY_OUT")
		WIRE_DOWN=$(awk '$1 == "down_bytes" { print $2 }' "$RELAY_OUT")
	fi
	rm -f "$RELAY_OUT"
	RELAY_PID=""
}

# ------------------------------------------------------------- the peers

RSYNC_PORT="" RSYNC_DST="" RSYNC_OK=0 RSYNC_COMPRESS="?"
SSH_PORT="" SSH_CFG="" SCP_OK=0

start_rsyncd() {
	RSYNC_DST=$WORK/rsync-module
	mkdir -p "$RSYNC_DST"
	RSYNC_PORT=$(free_port)
	cat >"$WORK/rsyncd.conf" <<EOF
pid file = $WORK/rsyncd.pid
lock file = $WORK/rsyncd.lock
log file = $WORK/rsyncd.log
use chroot = no
max connections = 0
[bench]
	path = $RSYNC_DST
	read only = no
	uid = $(id -u)
	gid = $(id -g)
EOF
	rsync --daemon --no-detach --address=127.0.0.1 --port="$RSYNC_PORT" \
		--config="$WORK/rsyncd.conf" &
	local pid=$!
	started "$pid"
	if wait_listen "$RSYNC_PORT" "$pid"; then
		RSYNC_OK=1
		# Which compressor does `rsync -z` pick?  3.2+ negotiates (zstd first).
		echo probe >"$WORK/probe.txt"
		RSYNC_COMPRESS=$(rsync -z --debug=nstr1 "$WORK/probe.txt" \
			"rsync://127.0.0.1:$RSYNC_PORT/bench/" 2>&1 |
			awk -F': ' '/negotiated compress/ { print $2; exit }')
		[[ -n $RSYNC_COMPRESS ]] || RSYNC_COMPRESS="zlib (not negotiated)"
		rm -f "$RSYNC_DST/probe.txt"
	else
		note "rsync daemon did not start: rsync rows skipped"
	fi
}

start_sshd() {
	local d=$WORK/ssh
	mkdir -p "$d" /run/sshd 2>/dev/null
	chmod 700 "$d"
	ssh-keygen -q -t ed25519 -N '' -f "$d/host_key" >/dev/null 2>&1 &&
		ssh-keygen -q -t ed25519 -N '' -f "$d/client_key" >/dev/null 2>&1 ||
		{ note "scp skipped: ssh-keygen failed"; return 0; }
	cp "$d/client_key.pub" "$d/authorized_keys"
	SSH_PORT=$(free_port)
	cat >"$d/sshd_config" <<EOF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $d/host_key
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
EOF
	SSH_CFG=$d/ssh_config
	cat >"$SSH_CFG" <<EOF
Host bench
	HostName 127.0.0.1
	Port $SSH_PORT
	User $(id -un)
	IdentityFile $d/client_key
	IdentitiesOnly yes
	StrictHostKeyChecking no
	UserKnownHostsFile /dev/null
	BatchMode yes
	LogLevel ERROR
EOF
	/usr/sbin/sshd -D -e -f "$d/sshd_config" 2>"$d/sshd.log" &
	local pid=$!
	started "$pid"
	if ! wait_listen "$SSH_PORT" "$pid"; then
		note "scp skipped: sshd could not start ($(tail -n 1 "$d/sshd.log" 2>/dev/null))"
		return 0
	fi
	if timeout 20 ssh -F "$SSH_CFG" bench true 2>"$d/ssh.err"; then
		SCP_OK=1
	else
		note "scp skipped: ssh login to the local sshd failed ($(tail -n 1 "$d/ssh.err"))"
	fi
}

# --------------------------------------------------------------- results
#
# Per "workload|contender": run times in microseconds, wire bytes, notes.

declare -A TIMES=() UP=() DOWN=() FAILS=()
declare -A RSS_PUT=() RSS_GET=()
declare -A RSS_PUT_K=() RSS_GET_K=()  # the same per workload|contender
declare -A CPU_PUT=()           # workload|contender -> tcpput CPU (ms) per run
declare -A META=()              # workload -> "bytes files"
declare -a ORDER=()             # workload|contender in report order
declare -A LABEL=()

LAST_US="" LAST_ERR="" LAST_OUT="" LAST_RSS_PUT="" LAST_RSS_GET=""
LAST_CPU_PUT="" LAST_CPU_GET=""

record() {                      # key rep
	local key=$1
	[[ -n ${LABEL[$key]:-} ]] || die "internal: no label for $key"
	if [[ $2 -le 0 ]]; then
		if [[ -n $LAST_ERR ]]; then
			note "$key: the untimed warm-up run failed: $LAST_ERR"
		else
			log "$key warm-up: $(fmt_s "$LAST_US") s"
		fi
		return
	fi
	if [[ -n $LAST_ERR ]]; then
		FAILS[$key]+="run $2: $LAST_ERR; "
		log "$key run $2 FAILED: $LAST_ERR"
		return
	fi
	TIMES[$key]+="$LAST_US "
	[[ -n $WIRE_UP ]] && UP[$key]+="$WIRE_UP "
	[[ -n $WIRE_DOWN ]] && DOWN[$key]+="$WIRE_DOWN "
	local w=${key%%|*}
	if [[ -n $LAST_RSS_PUT ]] && ((LAST_RSS_PUT > ${RSS_PUT[$w]:-0})); then RSS_PUT[$w]=$LAST_RSS_PUT; fi
	if [[ -n $LAST_RSS_GET ]] && ((LAST_RSS_GET > ${RSS_GET[$w]:-0})); then RSS_GET[$w]=$LAST_RSS_GET; fi
	if [[ -n $LAST_RSS_PUT ]] && ((LAST_RSS_PUT > ${RSS_PUT_K[$key]:-0})); then RSS_PUT_K[$key]=$LAST_RSS_PUT; fi
	[[ -n $LAST_CPU_PUT ]] && CPU_PUT[$key]+="$LAST_CPU_PUT "
	LAST_CPU_PUT=""
	if [[ -n $LAST_RSS_GET ]] && ((LAST_RSS_GET > ${RSS_GET_K[$key]:-0})); then RSS_GET_K[$key]=$LAST_RSS_GET; fi
	log "$key run $2: $(fmt_s "$LAST_US") s${WIRE_UP:+, wire $WIRE_UP B}${LAST_RSS_PUT:+, put ${LAST_RSS_PUT} KiB}${LAST_RSS_GET:+, get ${LAST_RSS_GET} KiB}"
}

# Checks the received files: count and total size always, and on the first
# repetition a full cmp of one sample file.  Not timed.
verify() {                      # outdir expected_count expected_bytes sample rep
	local got
	got=$(tree_stats "$1")
	if [[ $got != "$2 $3" ]]; then
		LAST_ERR="received $got (files bytes), expected $2 $3"
		return 1
	fi
	if [[ $5 -eq 1 && -n $4 ]]; then
		local f
		f=$(find "$1" -type f -name "$(basename "$4")" -print -quit)
		if [[ -z $f ]] || ! cmp -s "$4" "$f"; then
			LAST_ERR="content of $(basename "$4") differs"
			return 1
		fi
	fi
	return 0
}

OUT_BASE=""                     # where receivers write (default: the work directory)
new_out() { LAST_OUT=${OUT_BASE:-$WORK}/out.$RANDOM$RANDOM; mkdir -p "$LAST_OUT"; }

# ------------------------------------------------------------- contenders
#
# Each runner sets LAST_US (wall time, microseconds) or LAST_ERR, and
# leaves what it received in LAST_OUT for verify().  Servers start and
# report ready before the clock starts; the clock stops when the data are
# on the receiver's side (tcpput and rsync return only then; for nc the
# listener's exit is awaited too).  Relay spec: "" or "DELAY_MS RATE_MBIT".

# tcpx RELAY PRIME_PATHS -- TCPPUT_ARGS...   (tcpput args before HOST:PORT)
run_tcpx() {
	local relay=$1 prime_paths=$2
	shift 3
	LAST_US="" LAST_ERR="" LAST_RSS_PUT="" LAST_RSS_GET="" WIRE_UP="" WIRE_DOWN=""
	LAST_CPU_PUT="" LAST_CPU_GET=""
	new_out
	local port target tpid gpid rc
	port=$(free_port)
	timeout -k 5 $((RUN_TIMEOUT + 30)) /usr/bin/time -f "%U %S %M" -o "$WORK/get.rss" \
		"$TCPGET" -q -d "$LAST_OUT" -p "$port" -b 127.0.0.1 2>"$WORK/get.err" &
	tpid=$!
	started "$tpid"
	if ! wait_listen "$port" "$tpid"; then
		LAST_ERR="tcpget did not listen: $(tail -n 1 "$WORK/get.err")"
		kill_tree TERM "$tpid"; reap "$tpid"
		return 1
	fi
	gpid=$(leaf_of "$tpid")
	target=$port
	if [[ -n $relay ]]; then
		# shellcheck disable=SC2086
		start_relay $relay "$port" || { LAST_ERR="relay"; kill_tree TERM "$tpid"; reap "$tpid"; return 1; }
		target=$RELAY_PORT
	fi
	# shellcheck disable=SC2086
	prime $prime_paths
	local t0 t1
	t0=$(now_us)
	timeout -k 5 "$RUN_TIMEOUT" /usr/bin/time -f "%U %S %M" -o "$WORK/put.rss" \
		"$TCPPUT" -q "$@" "127.0.0.1:$target" 2>"$WORK/put.err"
	rc=$?
	t1=$(now_us)
	[[ -n $relay ]] && stop_relay
	# tcpget exits 0 on SIGTERM; /usr/bin/time then reports its peak RSS.
	kill -TERM "$gpid" 2>/dev/null
	reap "$tpid"
	local grc=$?
	LAST_RSS_PUT=$(rss_of "$WORK/put.rss")
	LAST_RSS_GET=$(rss_of "$WORK/get.rss")
	LAST_CPU_PUT=$(cpu_of "$WORK/put.rss")
	LAST_CPU_GET=$(cpu_of "$WORK/get.rss")
	if [[ $rc -ne 0 ]]; then
		LAST_ERR="tcpput exit $rc: $(tail -n 1 "$WORK/put.err"); tcpget exit $grc$(grep -h '^Command' "$WORK/get.rss" 2>/dev/null | sed 's/^/, /'), said: $(tail -n 2 "$WORK/get.err" | tr '\n' ' ')"
		return 1
	fi
	[[ $grc -eq 0 ]] || log "note: tcpget exited $grc after SIGTERM: $(tail -n 1 "$WORK/get.err")"
	LAST_US=$((t1 - t0))
}

# rsync RELAY PRIME_PATHS -- RSYNC_ARGS... (SOURCE; destination appended)
run_rsync() {
	local relay=$1 prime_paths=$2
	shift 3
	LAST_US="" LAST_ERR="" LAST_RSS_PUT="" LAST_RSS_GET="" WIRE_UP="" WIRE_DOWN=""
	LAST_OUT=$RSYNC_DST
	local target=$RSYNC_PORT rc
	if [[ -n $relay ]]; then
		# shellcheck disable=SC2086
		start_relay $relay "$RSYNC_PORT" || { LAST_ERR="relay"; return 1; }
		target=$RELAY_PORT
	fi
	# shellcheck disable=SC2086
	prime $prime_paths
	local t0 t1
	t0=$(now_us)
	timeout -k 5 "$RUN_TIMEOUT" rsync "$@" "rsync://127.0.0.1:$target/bench/" 2>"$WORK/rsync.err"
	rc=$?
	t1=$(now_us)
	[[ -n $relay ]] && stop_relay
	if [[ $rc -ne 0 ]]; then
		LAST_ERR="rsync exit $rc: $(tail -n 1 "$WORK/rsync.err")"
		return 1
	fi
	LAST_US=$((t1 - t0))
}

# nc into a file: nc_file RELAY PRIME_PATHS FILE
run_nc_file() {
	local relay=$1 prime_paths=$2 file=$3
	LAST_US="" LAST_ERR="" LAST_RSS_PUT="" LAST_RSS_GET="" WIRE_UP="" WIRE_DOWN=""
	new_out
	local port target lpid rc lrc
	port=$(free_port)
	timeout -k 5 $((RUN_TIMEOUT + 30)) nc -l 127.0.0.1 "$port" </dev/null >"$LAST_OUT/$(basename "$file")" &
	lpid=$!
	started "$lpid"
	wait_listen "$port" "$lpid" || { LAST_ERR="nc did not listen"; kill_tree TERM "$lpid"; reap "$lpid"; return 1; }
	target=$port
	if [[ -n $relay ]]; then
		# shellcheck disable=SC2086
		start_relay $relay "$port" || { LAST_ERR="relay"; kill_tree TERM "$lpid"; reap "$lpid"; return 1; }
		target=$RELAY_PORT
	fi
	# shellcheck disable=SC2086
	prime $prime_paths
	local t0 t1
	t0=$(now_us)
	timeout -k 5 "$RUN_TIMEOUT" nc -N 127.0.0.1 "$target" <"$file" >/dev/null
	rc=$?
	reap "$lpid"
	lrc=$?
	t1=$(now_us)
	[[ -n $relay ]] && stop_relay
	if [[ $rc -ne 0 || $lrc -ne 0 ]]; then
		LAST_ERR="nc exit $rc, listener exit $lrc"
		return 1
	fi
	LAST_US=$((t1 - t0))
}

# tar | nc: run_tarnc RELAY DIR
run_tarnc() {
	local relay=$1 dir=$2
	LAST_US="" LAST_ERR="" LAST_RSS_PUT="" LAST_RSS_GET="" WIRE_UP="" WIRE_DOWN=""
	new_out
	local port target lpid rc lrc
	port=$(free_port)
	(timeout -k 5 $((RUN_TIMEOUT + 30)) nc -l 127.0.0.1 "$port" </dev/null |
		tar -x -f - -C "$LAST_OUT") &
	lpid=$!
	started "$lpid"
	wait_listen "$port" "$lpid" || { LAST_ERR="nc did not listen"; kill_tree TERM "$lpid"; reap "$lpid"; return 1; }
	target=$port
	if [[ -n $relay ]]; then
		# shellcheck disable=SC2086
		start_relay $relay "$port" || { LAST_ERR="relay"; kill_tree TERM "$lpid"; reap "$lpid"; return 1; }
		target=$RELAY_PORT
	fi
	prime "$dir"
	local t0 t1
	t0=$(now_us)
	tar -c -f - -C "$(dirname "$dir")" "$(basename "$dir")" |
		timeout -k 5 "$RUN_TIMEOUT" nc -N 127.0.0.1 "$target" >/dev/null
	rc=$?
	reap "$lpid"
	lrc=$?
	t1=$(now_us)
	[[ -n $relay ]] && stop_relay
	if [[ $rc -ne 0 || $lrc -ne 0 ]]; then
		LAST_ERR="tar|nc exit $rc, listener exit $lrc"
		return 1
	fi
	LAST_US=$((t1 - t0))
}

# scp: run_scp PRIME_PATHS SOURCE...
run_scp() {
	local prime_paths=$1
	shift
	LAST_US="" LAST_ERR="" LAST_RSS_PUT="" LAST_RSS_GET="" WIRE_UP="" WIRE_DOWN=""
	new_out
	# shellcheck disable=SC2086
	prime $prime_paths
	local t0 t1 rc
	t0=$(now_us)
	timeout -k 5 "$RUN_TIMEOUT" scp -q -r -F "$SSH_CFG" "$@" "bench:$LAST_OUT/" 2>"$WORK/scp.err"
	rc=$?
	t1=$(now_us)
	if [[ $rc -ne 0 ]]; then
		LAST_ERR="scp exit $rc: $(tail -n 1 "$WORK/scp.err")"
		return 1
	fi
	LAST_US=$((t1 - t0))
}

# The lower bound: BLAKE2b-512 of the same bytes on one core.
run_b2() {                      # PATH (file or directory) expected_files
	LAST_US="" LAST_ERR="" LAST_RSS_PUT="" LAST_RSS_GET="" WIRE_UP="" WIRE_DOWN=""
	LAST_OUT=""
	prime "$1"
	local t0 t1 rc
	t0=$(now_us)
	timeout -k 5 "$RUN_TIMEOUT" "$HELPERS/b2bound" "$1" >"$WORK/b2.out"
	rc=$?
	t1=$(now_us)
	if [[ $rc -ne 0 ]]; then
		LAST_ERR="b2bound exit $rc"
		return 1
	fi
	local lines
	lines=$(wc -l <"$WORK/b2.out")
	[[ $lines -eq $2 ]] || { LAST_ERR="b2bound hashed $lines files, expected $2"; return 1; }
	LAST_US=$((t1 - t0))
}

# Several clients at once: run_many KIND N  (KIND tcpx or rsync; files
# CONC_FILES[0..N-1]).  One receiver (tcpget or the rsync daemon).
run_many() {
	local kind=$1 n=$2
	LAST_US="" LAST_ERR="" LAST_RSS_PUT="" LAST_RSS_GET="" WIRE_UP="" WIRE_DOWN=""
	local port tpid gpid i rc fails=0
	local pids=()
	if [[ $kind == tcpx ]]; then
		new_out
		port=$(free_port)
		timeout -k 5 $((RUN_TIMEOUT + 30)) /usr/bin/time -f %M -o "$WORK/get.rss" \
			"$TCPGET" -q -d "$LAST_OUT" -p "$port" -b 127.0.0.1 2>"$WORK/get.err" &
		tpid=$!
		started "$tpid"
		if ! wait_listen "$port" "$tpid"; then
			LAST_ERR="tcpget did not listen: $(tail -n 1 "$WORK/get.err")"
			kill_tree TERM "$tpid"; reap "$tpid"
			return 1
		fi
		gpid=$(leaf_of "$tpid")
	else
		LAST_OUT=$RSYNC_DST
	fi
	rm -f "$WORK"/put.*.rss "$WORK"/many.*.err
	prime "${CONC_FILES[@]:0:n}"
	local t0 t1
	t0=$(now_us)
	for ((i = 0; i < n; i++)); do
		if [[ $kind == tcpx ]]; then
			timeout -k 5 "$RUN_TIMEOUT" /usr/bin/time -f %M -o "$WORK/put.$i.rss" \
				"$TCPPUT" -q "${CONC_FILES[i]}" "127.0.0.1:$port" 2>"$WORK/many.$i.err" &
		else
			timeout -k 5 "$RUN_TIMEOUT" rsync -W -a "${CONC_FILES[i]}" \
				"rsync://127.0.0.1:$RSYNC_PORT/bench/" 2>"$WORK/many.$i.err" &
		fi
		pids+=($!)
	done
	started "${pids[@]}"
	for ((i = 0; i < n; i++)); do
		reap "${pids[i]}"
		rc=$?
		[[ $rc -eq 0 ]] || { fails=$((fails + 1)); log "sender $i exit $rc: $(tail -n 1 "$WORK/many.$i.err")"; }
	done
	t1=$(now_us)
	if [[ $kind == tcpx ]]; then
		kill -TERM "$gpid" 2>/dev/null
		reap "$tpid"
		LAST_RSS_GET=$(rss_of "$WORK/get.rss")
		local r max=0
		for ((i = 0; i < n; i++)); do
			r=$(rss_of "$WORK/put.$i.rss")
			[[ -n $r ]] && ((r > max)) && max=$r
		done
		[[ $max -gt 0 ]] && LAST_RSS_PUT=$max
	fi
	if [[ $fails -gt 0 ]]; then
		LAST_ERR="$fails of $n senders failed"
		return 1
	fi
	LAST_US=$((t1 - t0))
}

# On a disk, a run's output is moved aside and deleted only after the
# workload's last run: deleting many files just before the next run makes
# ext4 (without a journal, as /var/tmp here) scan recently deleted inodes
# at every new one, and run times swung from 1 to 16 s.  On tmpfs, at once.
DEFER_CLEAR=0
clear_out() {
	if [[ $DEFER_CLEAR == 1 && -n $LAST_OUT && -d $LAST_OUT ]]; then
		mkdir -p "$WORK/trash"
		mv "$LAST_OUT" "$WORK/trash/out.$RANDOM$RANDOM"
		[[ $LAST_OUT == "$RSYNC_DST" ]] && mkdir -p "$RSYNC_DST"
	elif [[ -n $LAST_OUT && $LAST_OUT == "$RSYNC_DST" ]]; then
		find "$RSYNC_DST" -mindepth 1 -delete 2>/dev/null
	elif [[ -n $LAST_OUT && -d $LAST_OUT ]]; then
		rm -rf "$LAST_OUT"
	fi
	LAST_OUT=""
}

# ------------------------------------------------------------- workloads

have_tcpx=0
have() {                        # contender -> usable in this run?
	case $1 in
	tcpx) [[ $have_tcpx -eq 1 && -z ${SKIPPED[tcpx]:-} ]] ;;
	rsync) [[ $RSYNC_OK -eq 1 && -z ${SKIPPED[rsync]:-} ]] ;;
	scp) [[ $SCP_OK -eq 1 && -z ${SKIPPED[scp]:-} ]] ;;
	nc) [[ -z ${SKIPPED[nc]:-} ]] ;;
	b2) [[ -z ${SKIPPED[b2]:-} ]] ;;
	esac
}

# add_contender WORKLOAD ID LABEL: registers a row if its tool is usable.
CONTENDERS=()
add_contender() {
	local kind=${2%%-*}
	[[ $kind == tarnc ]] && kind=nc
	have "$kind" || return 0
	CONTENDERS+=("$2")
	ORDER+=("$1|$2")
	LABEL[$1|$2]=$3
}

# One contender's run; dispatches on workload and contender id.
run_one() {                     # workload contender rep
	local w=$1 c=$2 rep=$3
	local cnt bytes sample
	read -r cnt bytes sample <<<"${META[$w]}"
	case "$w|$c" in
	random\|tcpx) run_tcpx "" "$IN/random.bin" -- "$IN/random.bin" ;;
	random\|rsync) run_rsync "" "$IN/random.bin" -- -W -a "$IN/random.bin" ;;
	random\|nc) run_nc_file "" "$IN/random.bin" "$IN/random.bin" ;;
	random\|scp) run_scp "$IN/random.bin" "$IN/random.bin" ;;
	random\|b2) run_b2 "$IN/random.bin" 1 ;;
	small\|tcpx) run_tcpx "" "$IN/small" -- "${SMALL_LIST[@]}" ;;
	small\|rsync) run_rsync "" "$IN/small" -- -W -a "$IN/small" ;;
	small\|tarnc) run_tarnc "" "$IN/small" ;;
	small\|scp) run_scp "$IN/small" "$IN/small" ;;
	small\|b2) run_b2 "$IN/small" "$cnt" ;;
	tree\|tcpx) run_tcpx "" "$IN/tree" -- -r "$IN/tree" ;;
	tree\|rsync) run_rsync "" "$IN/tree" -- -W -a "$IN/tree" ;;
	tree\|tarnc) run_tarnc "" "$IN/tree" ;;
	text\|tcpx-z) run_tcpx "0 0" "$IN/text.log" -- -z "$IN/text.log" ;;
	text\|tcpx-zstd) run_tcpx "0 0" "$IN/text.log" -- --zstd "$IN/text.log" ;;
	text\|rsync-z) run_rsync "0 0" "$IN/text.log" -- -W -a -z "$IN/text.log" ;;
	latency\|tcpx) run_tcpx "$DELAY_MS 0" "$IN/tiny" -- "${TINY_LIST[@]}" ;;
	latency\|rsync) run_rsync "$DELAY_MS 0" "$IN/tiny" -- -W -a "$IN/tiny" ;;
	latency\|tarnc) run_tarnc "$DELAY_MS 0" "$IN/tiny" ;;
	slow\|tcpx) run_tcpx "0 $RATE_MBIT" "$IN/text.log" -- "$IN/text.log" ;;
	slow\|tcpx-z) run_tcpx "0 $RATE_MBIT" "$IN/text.log" -- -z "$IN/text.log" ;;
	slow\|rsync-z) run_rsync "0 $RATE_MBIT" "$IN/text.log" -- -W -a -z "$IN/text.log" ;;
	concurrent\|tcpx-1) run_many tcpx 1 ;;
	concurrent\|tcpx-n) run_many tcpx "$SENDERS" ;;
	concurrent\|rsync-1) run_many rsync 1 ;;
	concurrent\|rsync-n) run_many rsync "$SENDERS" ;;
	lfn\|tcpx) run_tcpx "$LFN_RELAY" "$LFN_FILE" -- "$LFN_FILE" ;;
	lfn\|tcpx-streams) run_tcpx "$LFN_RELAY" "$LFN_FILE" -- "--streams=$LFN_STREAMS" "$LFN_FILE" ;;
	lfn\|rsync) run_rsync "$LFN_RELAY" "$LFN_FILE" -- -W -a "$LFN_FILE" ;;
	lfn\|nc) run_nc_file "$LFN_RELAY" "$LFN_FILE" "$LFN_FILE" ;;
	mixed\|tcpx) run_tcpx "0 0" "$IN/mixed" -- -r "$IN/mixed" ;;
	mixed\|tcpx-z) run_tcpx "0 0" "$IN/mixed" -- -z -r "$IN/mixed" ;;
	mixed\|tcpx-zstd) run_tcpx "0 0" "$IN/mixed" -- --zstd -r "$IN/mixed" ;;
	mixed\|rsync-z) run_rsync "0 0" "$IN/mixed" -- -W -a -z "$IN/mixed" ;;
	media\|tcpx) run_tcpx "0 0" "$IN/mixed/media" -- -r "$IN/mixed/media" ;;
	media\|tcpx-zstd) run_tcpx "0 0" "$IN/mixed/media" -- --zstd -r "$IN/mixed/media" ;;
	*) die "internal: no runner for $w|$c" ;;
	esac
	if [[ -z $LAST_ERR && -n $LAST_OUT ]]; then
		case $c in
		*-1) verify "$LAST_OUT" 1 $((SENDER_MIB * 1048576)) "${CONC_FILES[0]}" "$rep" ;;
		*) verify "$LAST_OUT" "$cnt" "$bytes" "$sample" "$rep" ;;
		esac
	fi
	record "$w|$c" "$rep"
	clear_out
}

run_workload() {                # workload contender...
	local w=$1 rep c
	shift
	[[ $# -gt 0 ]] || return 0
	local first=1 reps=$REPS
	[[ $w == slow || $w == lfn ]] || first=$((1 - WARMUP))
	[[ $w == lfn ]] && reps=$LFN_REPS
	log "workload $w: $* x $reps"
	case $w in
	small | latency | tree) [[ $(stat -f -c %T "$WORK") == tmpfs ]] || DEFER_CLEAR=1 ;;
	esac
	for ((rep = first; rep <= reps; rep++)); do
		for c in "$@"; do
			run_one "$w" "$c" "$rep"
		done
	done
	DEFER_CLEAR=0
	rm -rf "$WORK/trash"
}

# --------------------------------------------------------------- report

med_of() { local k=$1; [[ -n ${TIMES[$k]:-} ]] && median ${TIMES[$k]}; }
up_of() { local k=$1; [[ -n ${UP[$k]:-} ]] && median ${UP[$k]}; }
down_of() { local k=$1; [[ -n ${DOWN[$k]:-} ]] && median ${DOWN[$k]}; }

# "1.234 s (0.85x)": the contender's median and tcpx's ratio to it.
cell() {                        # key tcpx_median
	local m
	m=$(med_of "$1") || true
	if [[ -z ${LABEL[$1]:-} ]]; then echo "—"; return; fi
	if [[ -z $m ]]; then echo "failed"; return; fi
	if [[ -n $2 ]]; then
		echo "$(fmt_s2 "$m") s ($(ratio "$2" "$m")x)"
	else
		echo "$(fmt_s2 "$m") s"
	fi
}

# A label inside a Markdown table cell: '|' escaped.
md() { local s=$1; echo "${s//|/\\|}"; }

TARGETS=()
target() {                      # text reached met
	local reached=$2
	[[ $reached == n/a* || $reached == "" ]] && reached="n/a"
	TARGETS+=("| $1 | $reached | $3 |")
}
# check VALUE OP LIMIT -> yes/no/n/a
check() { [[ $1 == n/a || -z $1 ]] && { echo "not measured"; return; }; awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN { ok = (op == "<=") ? v <= l : (op == "<") ? v < l : v >= l; print ok ? "yes" : "**no**" }'; }

# Workload 10's table: throughput against the link and the window's ceiling.
LFN_CEIL=""                      # W/RTT in MiB/s
report_lfn() {
	local k m mbs p g
	echo "## Long fat network (workload 10: $LFN_MIB MiB random through bench/relay's path model)"
	echo
	echo "Each connection: RTT $LFN_RTT_MS ms, at most $LFN_WINDOW bytes in flight, so at most W/RTT = $LFN_CEIL MiB/s; all connections share a $LFN_LINK MiB/s link per direction. Medians of $LFN_REPS run(s), no warm-up."
	echo
	echo "| contender | wall (s) | MiB/s | ÷ link ($LFN_LINK MiB/s) | ÷ W/RTT ($LFN_CEIL MiB/s) | peak RSS put / get |"
	echo "|---|---|---|---|---|---|"
	for k in "lfn|tcpx" "lfn|tcpx-streams" "lfn|rsync" "lfn|nc"; do
		[[ -n ${LABEL[$k]:-} ]] || continue
		m=$(med_of "$k") || m=""
		if [[ -z $m ]]; then
			echo "| $(md "${LABEL[$k]}") | failed | | | | |"
			continue
		fi
		mbs=$(awk -v b=$((LFN_MIB * 1048576)) -v us="$m" 'BEGIN { printf "%.1f", b / 1048576 / (us / 1e6) }')
		p=${RSS_PUT_K[$k]:-} g=${RSS_GET_K[$k]:-}
		echo "| $(md "${LABEL[$k]}") | $(fmt_s2 "$m") | $mbs | $(ratio "$mbs" "$LFN_LINK")x | $(ratio "$mbs" "$LFN_CEIL")x | $(kib_cell "$p") / $(kib_cell "$g") |"
	done
	echo
}
# Workload 12's table: wall, tcpput CPU and wire bytes against raw tcpx.
report_mixed() {
	local k m u c base_m base_u base_c total
	total=${META[mixed]#* }
	total=${total%% *}
	echo "## Mixed tree (workload 12: $(human_bytes "$total") in $(awk '{ print $1 }' <<<"${META[mixed]}") files: 35% log text, 25% JSON, 40% incompressible media; through the counting relay, no delay)"
	echo
	echo "| contender | wall (s) | ÷ raw tcpx | tcpput CPU (s) | ÷ raw tcpx | wire bytes | ÷ raw tcpx | of input |"
	echo "|---|---|---|---|---|---|---|---|"
	for k in "mixed|tcpx" "mixed|tcpx-z" "mixed|tcpx-zstd" "mixed|rsync-z" "media|tcpx" "media|tcpx-zstd"; do
		[[ -n ${LABEL[$k]:-} ]] || continue
		case $k in
		mixed\|tcpx | media\|tcpx)
			base_m=$(med_of "$k") || base_m=""
			base_u=$(up_of "$k") || base_u=""
			base_c=$([[ -n ${CPU_PUT[$k]:-} ]] && median ${CPU_PUT[$k]})
			total=${META[${k%%|*}]#* }
			total=${total%% *} ;;
		esac
		m=$(med_of "$k") || m=""
		u=$(up_of "$k") || u=""
		c=$([[ -n ${CPU_PUT[$k]:-} ]] && median ${CPU_PUT[$k]})
		if [[ -z $m ]]; then
			echo "| $(md "${LABEL[$k]}") | failed | | | | | | |"
			continue
		fi
		echo "| $(md "${LABEL[$k]}") | $(fmt_s2 "$m") | $([[ -n $base_m ]] && ratio "$m" "$base_m")x | ${c:+$(awk -v c="$c" 'BEGIN { printf "%.2f", c / 1000 }')} | $([[ -n $c && -n $base_c ]] && echo "$(ratio "$c" "$base_c")x") | ${u:+$(human_bytes "$u")} | $([[ -n $u && -n $base_u ]] && echo "$(ratio "$u" "$base_u")x") | ${u:+$(awk -v a="$u" -v b="$total" 'BEGIN { printf "%.1f%%", 100 * a / b }')} |"
	done
	echo
	echo "The media rows send DIR/media alone (the 40% that does not compress): there every chunk is tried and goes raw, so their ratios are the cost of trying."
	echo
}

# "12.3 MiB" of a KiB figure, or "—".
kib_cell() { if [[ -n $1 ]]; then echo "$(mib_of_kib "$1") MiB"; else echo "—"; fi; }
# MiB/s of workload 10's median for a workload|contender, or "n/a".
lfn_rate() { local m; m=$(med_of "$1") && awk -v b=$((LFN_MIB * 1048576)) -v us="$m" 'BEGIN { printf "%.1f", b / 1048576 / (us / 1e6) }' || echo n/a; }

report() {
	local cpu kernel date_s mem fs
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	kernel=$(uname -r)
	date_s=$(date -u '+%Y-%m-%d %H:%M UTC')
	mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
	fs=$(stat -f -c %T "$WORK")
	local rsync_v nc_v ssh_v sodium_v tcpx_v
	rsync_v=$(rsync --version 2>/dev/null | awk 'NR == 1 { print $3 }')
	ssh_v=$(ssh -V 2>&1 | awk '{ print $1 }' | tr -d ,)
	sodium_v=$(pkg-config --modversion libsodium 2>/dev/null)
	tcpx_v=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo "working tree")
	nc_v=$(dpkg-query -W -f '${Version}' netcat-openbsd 2>/dev/null || echo "?")

	echo "# tcpxfer benchmark"
	echo
	echo "- machine: nproc $(nproc), $cpu, $mem RAM, kernel $kernel"
	echo "- load average (1, 5, 15 min) at start: $LOAD_START; at end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine shows here)"
	echo "- date: $date_s"
	echo "- tcpxfer: $tcpx_v ($TCPPUT, $TCPGET)"
	echo "- peers: rsync $rsync_v daemon (\`rsync -z\` negotiates: $RSYNC_COMPRESS), netcat-openbsd $nc_v, $ssh_v scp (SFTP mode), libsodium $sodium_v"
	echo "- inputs and outputs on $fs ($WORK); each input read once (cat >/dev/null) before each timed run"
	echo "- repetitions: $REPS per contender after $WARMUP untimed warm-up round(s), alternating contenders; median reported$([[ $QUICK -eq 1 ]] && echo "; **quick run: reduced sizes, figures indicative only**")"
	echo "- all on 127.0.0.1; ratio = tcpx median ÷ peer median (below 1: tcpx faster)"
	echo

	local random_l small_l text_l tiny_l slow_l conc_l
	random_l="1 random file, $BIG_MIB MiB"
	small_l="$SMALL_FILES files of $SMALL_KIB KiB"
	text_l="$TEXT_MIB MiB log text, -z"
	tiny_l="$TINY_FILES files of $TINY_KIB KiB, relay +$DELAY_MS ms each way"
	slow_l="$TEXT_MIB MiB log text, relay $RATE_MBIT Mbit/s"
	conc_l="$SENDERS senders at once, $SENDER_MIB MiB each"
	local tree_l="tree of $TREE_FILES files of $TREE_KIB KiB in directories of 1000"

	echo "## Summary (median wall time; in brackets tcpx ÷ peer)"
	echo
	echo "| # | workload | tcpx | rsync daemon | nc or tar\\|nc | scp | BLAKE2b bound | tcpx peak RSS put / get |"
	echo "|---|---|---|---|---|---|---|---|"
	local t w
	rss_cell() {
		local p=${RSS_PUT[$1]:-} g=${RSS_GET[$1]:-}
		echo "$([[ -n $p ]] && echo "$(mib_of_kib "$p") MiB" || echo "?") / $([[ -n $g ]] && echo "$(mib_of_kib "$g") MiB" || echo "?")"
	}
	if wants random; then
		t=$(med_of "random|tcpx") || t=""
		echo "| 1 | $random_l | $(cell "random|tcpx" "") ${t:+($(mib_s $((BIG_MIB * 1048576)) "$t") MiB/s)} | $(cell "random|rsync" "$t") | $(cell "random|nc" "$t") | $(cell "random|scp" "$t") | $(cell "random|b2" "$t") | $(rss_cell random) |"
	fi
	if wants small; then
		t=$(med_of "small|tcpx") || t=""
		echo "| 2 | $small_l | $(cell "small|tcpx" "") | $(cell "small|rsync" "$t") | $(cell "small|tarnc" "$t") | $(cell "small|scp" "$t") | $(cell "small|b2" "$t") | $(rss_cell small) |"
	fi
	if wants text; then
		t=$(med_of "text|tcpx-z") || t=""
		echo "| 3 | $text_l | $(cell "text|tcpx-z" "") | $(cell "text|rsync-z" "$t") (rsync -z) | — | — | — | $(rss_cell text) |"
		t=$(med_of "text|tcpx-zstd") || t=""
		[[ -n ${LABEL["text|tcpx-zstd"]:-} ]] &&
			echo "| 3z | $TEXT_MIB MiB log text, --zstd | $(cell "text|tcpx-zstd" "") | $(cell "text|rsync-z" "$t") (rsync -z) | — | — | — | (same) |"
	fi
	if wants latency; then
		t=$(med_of "latency|tcpx") || t=""
		echo "| 4 | $tiny_l | $(cell "latency|tcpx" "") | $(cell "latency|rsync" "$t") | $(cell "latency|tarnc" "$t") | — | — | $(rss_cell latency) |"
	fi
	if wants slow; then
		t=$(med_of "slow|tcpx-z") || t=""
		echo "| 5a | $slow_l, without -z | $(cell "slow|tcpx" "") | — | — | — | — | $(rss_cell slow) |"
		echo "| 5b | $slow_l, with -z | $(cell "slow|tcpx-z" "") | $(cell "slow|rsync-z" "$t") (rsync -z) | — | — | — | (same) |"
	fi
	if wants concurrent; then
		local t1 tn
		t1=$(med_of "concurrent|tcpx-1") || t1=""
		tn=$(med_of "concurrent|tcpx-n") || tn=""
		echo "| 6a | 1 sender, $SENDER_MIB MiB | $(cell "concurrent|tcpx-1" "") ${t1:+($(mib_s $((SENDER_MIB * 1048576)) "$t1") MiB/s)} | $(cell "concurrent|rsync-1" "$t1") | — | — | — | $(rss_cell concurrent) |"
		echo "| 6b | $conc_l | $(cell "concurrent|tcpx-n" "") ${tn:+($(mib_s $((SENDERS * SENDER_MIB * 1048576)) "$tn") MiB/s aggregate)} | $(cell "concurrent|rsync-n" "$tn") | — | — | — | (same) |"
	fi
	if wants tree; then
		t=$(med_of "tree|tcpx") || t=""
		echo "| 7 | $tree_l | $(cell "tree|tcpx" "") | $(cell "tree|rsync" "$t") | $(cell "tree|tarnc" "$t") | — | — | $(rss_cell tree) |"
	fi
	if wants lfn; then
		t=$(med_of "lfn|tcpx") || t=""
		echo "| 10 | $LFN_MIB MiB random, path RTT $LFN_RTT_MS ms, window $(human_bytes "$LFN_WINDOW"), link $LFN_LINK MiB/s | $(cell "lfn|tcpx" "") ${t:+($(mib_s $((LFN_MIB * 1048576)) "$t") MiB/s)} | $(cell "lfn|rsync" "$t") | $(cell "lfn|nc" "$t") | — | — | $(rss_cell lfn) |"
		t=$(med_of "lfn|tcpx-streams") || t=""
		[[ -n ${LABEL["lfn|tcpx-streams"]:-} ]] &&
			echo "| 10s | the same, tcpx --streams $LFN_STREAMS | $(cell "lfn|tcpx-streams" "") ${t:+($(mib_s $((LFN_MIB * 1048576)) "$t") MiB/s)} | $(cell "lfn|rsync" "$t") | $(cell "lfn|nc" "$t") | — | — | (same) |"
	fi
	echo

	if wants text || wants slow; then
		echo "## Bytes on the wire (sender to receiver, counted by bench/relay; median)"
		echo
		echo "| workload | contender | wire bytes | of input | back (receiver to sender) |"
		echo "|---|---|---|---|---|"
		local k u d
		for k in "text|tcpx-z" "text|tcpx-zstd" "text|rsync-z" "slow|tcpx" "slow|tcpx-z" "slow|rsync-z"; do
			[[ -n ${LABEL[$k]:-} ]] || continue
			u=$(up_of "$k") || u=""
			d=$(down_of "$k") || d=""
			echo "| ${k%%|*} | $(md "${LABEL[$k]}") | ${u:-?}${u:+ ($(human_bytes "$u"))} | ${u:+$(awk -v a="$u" -v b="$((TEXT_MIB * 1048576))" 'BEGIN { printf "%.1f%%", 100 * a / b }')} | ${d:-?} |"
		done
		echo "| text | \`gzip -1\` output size (no transfer) | $GZIP1_BYTES ($(human_bytes "$GZIP1_BYTES")) | $(awk -v a="$GZIP1_BYTES" -v b="$((TEXT_MIB * 1048576))" 'BEGIN { printf "%.1f%%", 100 * a / b }') | |"
		echo
	fi

	wants lfn && report_lfn
	wants scale && report_scale
	wants mixed && report_mixed

	echo "## All runs"
	echo
	echo "| workload | contender | runs in order (s) | median (s) | best (s) | wire bytes up (median) | failures |"
	echo "|---|---|---|---|---|---|---|"
	local k runs m best
	for k in "${ORDER[@]}"; do
		runs=""
		for t in ${TIMES[$k]:-}; do runs+="$(fmt_s "$t") "; done
		m=$(med_of "$k") || m=""
		best=""
		[[ -n ${TIMES[$k]:-} ]] && best=$(printf '%s\n' ${TIMES[$k]} | sort -n | head -n 1)
		echo "| ${k%%|*} | $(md "${LABEL[$k]}") | ${runs:-—} | ${m:+$(fmt_s "$m")} | ${best:+$(fmt_s "$best")} | $(up_of "$k" || true) | $(md "${FAILS[$k]:-}") |"
	done
	echo

	# ---------------------------------------------------------- targets
	local a b r
	if wants random; then
		a=$(med_of "random|tcpx") || a=""; b=$(med_of "random|rsync") || b=""
		r=$([[ -n $a && -n $b ]] && ratio "$a" "$b" || echo n/a)
		target "1: $random_l: tcpx wall ≤ 1.0x rsync daemon" "${r}x" "$(check "$r" "<=" 1.0)"
		b=$(med_of "random|b2") || b=""
		r=$([[ -n $a && -n $b ]] && ratio "$a" "$b" || echo n/a)
		target "1: $random_l: tcpx wall ≤ 1.3x BLAKE2b bound" "${r}x" "$(check "$r" "<=" 1.3)"
	fi
	if wants small; then
		a=$(med_of "small|tcpx") || a=""; b=$(med_of "small|rsync") || b=""
		r=$([[ -n $a && -n $b ]] && ratio "$a" "$b" || echo n/a)
		target "2: $small_l: tcpx ≤ 0.8x rsync daemon" "${r}x" "$(check "$r" "<=" 0.8)"
		b=$(med_of "small|tarnc") || b=""
		r=$([[ -n $a && -n $b ]] && ratio "$a" "$b" || echo n/a)
		target "2: $small_l: tcpx ≤ 1.5x tar\\|nc" "${r}x" "$(check "$r" "<=" 1.5)"
		# issue 12: on a disk (--tmp on ext4), at most 0.9x tar|nc
		[[ $(stat -f -c %T "$WORK") == tmpfs ]] ||
			target "2: $small_l on the disk ($(stat -f -c %T "$WORK")): tcpx ≤ 0.9x tar\\|nc" "${r}x" "$(check "$r" "<=" 0.9)"
	fi
	if wants text; then
		a=$(med_of "text|tcpx-z") || a=""; b=$(med_of "text|rsync-z") || b=""
		r=$([[ -n $a && -n $b ]] && ratio "$a" "$b" || echo n/a)
		target "3: $text_l: tcpx -z wall ≤ 1.0x rsync -z" "${r}x" "$(check "$r" "<=" 1.0)"
		a=$(up_of "text|tcpx-z") || a=""
		r=$([[ -n $a ]] && ratio "$a" "$GZIP1_BYTES" || echo n/a)
		target "3: $text_l: tcpx wire bytes ≤ gzip -1 size" "$([[ -n $a ]] && echo "$a B = ${r}x gzip -1")" "$(check "$r" "<=" 1.0)"
		a=$(med_of "text|tcpx-zstd") || a=""; b=$(med_of "text|rsync-z") || b=""
		r=$([[ -n $a && -n $b ]] && ratio "$a" "$b" || echo n/a)
		target "3: $TEXT_MIB MiB log text: tcpx --zstd wall ≤ 0.7x rsync -z" "${r}x" "$(check "$r" "<=" 0.7)"
		a=$(up_of "text|tcpx-zstd") || a=""; b=$(up_of "text|rsync-z") || b=""
		r=$([[ -n $a && -n $b ]] && ratio "$a" "$b" || echo n/a)
		target "3: $TEXT_MIB MiB log text: tcpx --zstd wire bytes ≤ rsync -z's" "$([[ -n $a ]] && echo "$a B = ${r}x rsync -z")" "$(check "$r" "<=" 1.0)"
	fi
	if wants latency; then
		a=$(med_of "latency|tcpx") || a=""
		target "4: $tiny_l: tcpx under 2 s" "${a:+$(fmt_s2 "$a") s}" "$(check "${a:+$(awk -v u="$a" 'BEGIN { print u / 1e6 }')}" "<" 2)"
	fi
	if wants slow; then
		a=$(med_of "slow|tcpx") || a=""; b=$(med_of "slow|tcpx-z") || b=""
		r=$([[ -n $a && -n $b ]] && ratio "$a" "$b" || echo n/a)
		target "5: $slow_l: -z at least 3x faster than without" "${r}x" "$(check "$r" ">=" 3)"
	fi
	if wants concurrent; then
		a=$(med_of "concurrent|tcpx-1") || a=""; b=$(med_of "concurrent|tcpx-n") || b=""
		# aggregate / single throughput = (n * t1) / tn
		r=$([[ -n $a && -n $b ]] && awk -v n="$SENDERS" -v t1="$a" -v tn="$b" 'BEGIN { printf "%.2f", n * t1 / tn }' || echo n/a)
		target "6: $conc_l: aggregate throughput ≥ 0.8x one sender's" "${r}x" "$(check "$r" ">=" 0.8)"
	fi
	if wants lfn; then
		r=$(lfn_rate "lfn|tcpx")
		r=$([[ $r != n/a ]] && ratio "$r" "$LFN_CEIL" || echo n/a)
		target "10: $LFN_MIB MiB, RTT $LFN_RTT_MS ms: tcpx, one connection, ≥ 0.9x W/RTT ($LFN_CEIL MiB/s)" "${r}x" "$(check "$r" ">=" 0.9)"
		if [[ -n ${LABEL["lfn|tcpx-streams"]:-} ]]; then
			r=$(lfn_rate "lfn|tcpx-streams")
			r=$([[ $r != n/a ]] && ratio "$r" "$LFN_LINK" || echo n/a)
			target "10: $LFN_MIB MiB, RTT $LFN_RTT_MS ms: tcpx --streams $LFN_STREAMS ≥ 0.8x the link ($LFN_LINK MiB/s)" "${r}x" "$(check "$r" ">=" 0.8)"
		fi
	fi
	if wants mixed; then
		a=$(med_of "media|tcpx-zstd") || a=""; b=$(med_of "media|tcpx") || b=""
		r=$([[ -n $a && -n $b ]] && ratio "$a" "$b" || echo n/a)
		target "12: incompressible media only: tcpx --zstd wall ≤ 1.1x raw tcpx" "${r}x" "$(check "$r" "<=" 1.1)"
		a=$(up_of "media|tcpx-zstd") || a=""; b=$(up_of "media|tcpx") || b=""
		r=$([[ -n $a && -n $b ]] && awk -v a="$a" -v b="$b" 'BEGIN { printf "%.4f", a / b }' || echo n/a)
		target "12: incompressible media only: tcpx --zstd wire bytes ≤ 1.001x raw tcpx" "${r}x" "$(check "$r" "<=" 1.001)"
		a=$(up_of "mixed|tcpx-zstd") || a=""; b=$(up_of "mixed|rsync-z") || b=""
		r=$([[ -n $a && -n $b ]] && ratio "$a" "$b" || echo n/a)
		target "12: mixed tree: tcpx --zstd wire bytes ≤ rsync -z's" "${r}x" "$(check "$r" "<=" 1.0)"
	fi
	local maxp=0 maxg=0
	for w in "${!RSS_PUT[@]}"; do ((RSS_PUT[$w] > maxp)) && maxp=${RSS_PUT[$w]}; done
	for w in "${!RSS_GET[@]}"; do ((RSS_GET[$w] > maxg)) && maxg=${RSS_GET[$w]}; done
	r=$([[ $maxp -gt 0 ]] && mib_of_kib "$maxp" || echo n/a)
	target "peak RSS of tcpput ≤ 16 MiB (all runs)" "$r MiB" "$(check "$r" "<=" 16)"
	r=$([[ $maxg -gt 0 ]] && mib_of_kib "$maxg" || echo n/a)
	target "peak RSS of tcpget ≤ 16 MiB (all runs)" "$r MiB" "$(check "$r" "<=" 16)"

	echo "## Targets"
	echo
	echo "| target | reached | met? |"
	echo "|---|---|---|"
	printf '%s\n' "${TARGETS[@]}"
	[[ ${#SCALE_TARGETS[@]} -gt 0 ]] && printf '%s\n' "${SCALE_TARGETS[@]}"
	echo

	echo "## Method notes"
	echo
	echo "- Wall time runs from starting the client until the data are on the receiver's side: tcpput and rsync return only then; for nc and tar|nc the listener's exit is awaited as well. Servers (tcpget, rsync daemon, sshd, nc listener, relay) are started and seen listening before the clock starts."
	echo "- tcpget is started per run under \`/usr/bin/time -f '%U %S %M'\` and stopped with SIGTERM after the transfer; tcpput runs under it too. Peak RSS is the maximum over all runs of a workload (for 6: over all $SENDERS senders)."
	echo "- BLAKE2b bound: bench/b2bound reads the same files with read() in 256 KiB pieces and hashes them with libsodium's crypto_generichash (64-byte output) on one core."
	echo "- The relay (bench/relay.c) forwards on 127.0.0.1 and counts payload bytes per direction; it sleeps with ppoll's nanosecond timeouts, so the one-way delay applied is ${DELAY_MS} ms and at most a fraction of a millisecond more. Workload 3 routes both contenders through it with no delay and no limit, which costs them both some CPU."
	wants lfn && echo "- Workload 10's path model (bench/relay -R $LFN_RTT_MS -W $LFN_WINDOW -L $LFN_LINK -B 256): the relay reads from a connection only while fewer than W bytes are in flight (read until the acknowledgement would be back, RTT later at least) and only with tokens of the shared link; its own sockets' buffers are 256 KiB, so the kernel queues little in front of the path. No loss, no slow start: a ceiling, not a model of TCP's congestion control."
	echo "- The whole run took $(fmt_s2 $(($(now_us) - BENCH_START))) s."
	echo "- Received data are checked after every run (file count and total size; full cmp of one file on the first repetition) and deleted, outside the timed part."
	if [[ ${#NOTES[@]} -gt 0 ]]; then
		echo
		echo "## Notes from this run"
		echo
		local n
		for n in "${NOTES[@]}"; do echo "- $n"; done
	fi
}

# ------------------------------------------------------------------ main

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
BENCH_START=$(now_us)

install_missing
build_helpers
is_openbsd_nc || die "nc is not OpenBSD netcat"

if [[ -x $TCPPUT && -x $TCPGET ]]; then
	have_tcpx=1
else
	note "tcpput/tcpget not found at $TCPPUT, $TCPGET: tcpx rows skipped (run make first)"
fi

# Room: the inputs, plus one received copy of the largest at a time.
need_mib=64
wants random && need_mib=$((need_mib + 2 * BIG_MIB))
wants small && need_mib=$((need_mib + 2 * (SMALL_FILES * (SMALL_KIB + 4)) / 1024))
{ wants text || wants slow; } && need_mib=$((need_mib + 2 * TEXT_MIB))
wants latency && need_mib=$((need_mib + 2 * (TINY_FILES * (TINY_KIB + 4)) / 1024))
wants concurrent && need_mib=$((need_mib + 2 * SENDERS * SENDER_MIB))
wants lfn && need_mib=$((need_mib + 2 * LFN_MIB))
wants mixed && need_mib=$((need_mib + 2 * MIXED_MIB))
if wants scale; then           # all inputs in the work directory at once, one output
	_m=$(tr , '\n' <<<"$SCALE_MIB" | awk '{ s += $1; if ($1 > m) m = $1 } END { print s + m }')
	_f=$(tr , '\n' <<<"$SCALE_FILES" | awk '{ s += $1; if ($1 > m) m = $1 } END { print s + m }')
	need_mib=$((need_mib + _m + (_f * 5) / 1024))
fi
wants tree && need_mib=$((need_mib + 2 * (TREE_FILES * (TREE_KIB + 4)) / 1024))
if [[ -z $TMP_BASE ]]; then
	TMP_BASE=${TMPDIR:-/tmp}
	if [[ -d /dev/shm ]]; then
		shm_free=$(df -Pm /dev/shm | awk 'NR == 2 { print $4 }')
		mem_free=$(awk '/^MemAvailable/ { print int($2 / 1024) }' /proc/meminfo)
		# tmpfs pages are RAM: leave half of what is available to the tools.
		if [[ $shm_free -gt $need_mib && $mem_free -gt $((2 * need_mib)) ]]; then
			TMP_BASE=/dev/shm
		fi
	fi
fi
WORK=$(mktemp -d "$TMP_BASE/tcpx-bench.XXXXXX") || die "cannot create a temporary directory in $TMP_BASE"
free_mib=$(df -Pm "$WORK" | awk 'NR == 2 { print $4 }')
[[ $free_mib -gt $need_mib ]] || die "$WORK has $free_mib MiB free, the chosen sizes need about $need_mib MiB"
IN=$WORK/in
mkdir -p "$IN"
log "work directory $WORK"

# Inputs, generated once.
GZIP1_BYTES=0
SMALL_LIST=() TINY_LIST=() CONC_FILES=()
if wants random; then
	"$HELPERS/geninput" random "$IN/random.bin" $((BIG_MIB * 1048576)) 1 || die "geninput"
	META[random]="1 $((BIG_MIB * 1048576)) $IN/random.bin"
fi
if wants small; then
	"$HELPERS/geninput" tree "$IN/small" "$SMALL_FILES" $((SMALL_KIB * 1024)) 2 || die "geninput"
	SMALL_LIST=("$IN"/small/*)
	META[small]="$SMALL_FILES $((SMALL_FILES * SMALL_KIB * 1024)) $IN/small/f000000"
fi
if wants text || wants slow; then
	"$HELPERS/geninput" text "$IN/text.log" $((TEXT_MIB * 1048576)) 3 || die "geninput"
	META[text]="1 $((TEXT_MIB * 1048576)) $IN/text.log"
	META[slow]=${META[text]}
	GZIP1_BYTES=$(gzip -1 -c "$IN/text.log" | wc -c)
fi
if wants latency; then
	"$HELPERS/geninput" tree "$IN/tiny" "$TINY_FILES" $((TINY_KIB * 1024)) 4 || die "geninput"
	TINY_LIST=("$IN"/tiny/*)
	META[latency]="$TINY_FILES $((TINY_FILES * TINY_KIB * 1024)) $IN/tiny/f000000"
fi
if wants tree; then
	"$HELPERS/geninput" nested "$IN/tree" "$TREE_FILES" $((TREE_KIB * 1024)) 5 || die "geninput"
	META[tree]="$TREE_FILES $((TREE_FILES * TREE_KIB * 1024)) $IN/tree/d0000/f000000"
fi
if wants concurrent; then
	mkdir -p "$IN/conc"
	for ((i = 0; i < SENDERS; i++)); do
		CONC_FILES+=("$IN/conc/$(printf 'c%02d.bin' "$i")")
		"$HELPERS/geninput" random "${CONC_FILES[i]}" $((SENDER_MIB * 1048576)) $((100 + i)) || die "geninput"
	done
	META[concurrent]="$SENDERS $((SENDERS * SENDER_MIB * 1048576)) ${CONC_FILES[0]}"
fi
if wants mixed; then
	"$HELPERS/geninput" mixed "$IN/mixed" $((MIXED_MIB * 1048576)) 13 || die "geninput"
	META[mixed]="$(tree_stats "$IN/mixed") $IN/mixed/logs/app-0000.log"
	META[media]="$(tree_stats "$IN/mixed/media") $IN/mixed/media/img-0000.jpg"
fi
LFN_FILE=$IN/lfn.bin
LFN_RELAY="0 0 -R $LFN_RTT_MS -W $LFN_WINDOW -L $LFN_LINK -B 256"
LFN_CEIL=$(awk -v w="$LFN_WINDOW" -v r="$LFN_RTT_MS" 'BEGIN { printf "%.1f", w / 1048576 / (r / 1000) }')
if wants lfn; then
	if wants random && [[ $LFN_MIB -eq $BIG_MIB ]]; then
		LFN_FILE=$IN/random.bin
	else
		"$HELPERS/geninput" random "$LFN_FILE" $((LFN_MIB * 1048576)) 10 || die "geninput"
	fi
	META[lfn]="1 $((LFN_MIB * 1048576)) $LFN_FILE"
fi

# Peers that stay up for the whole run.
if [[ -z ${SKIPPED[rsync]:-} ]]; then start_rsyncd; fi
if [[ -z ${SKIPPED[scp]:-} ]] && { wants random || wants small; }; then start_sshd; fi

if wants random; then
	CONTENDERS=()
	add_contender random tcpx "tcpx"
	add_contender random rsync "rsync -W daemon"
	add_contender random nc "nc > file"
	add_contender random scp "scp"
	add_contender random b2 "BLAKE2b-512 bound"
	run_workload random "${CONTENDERS[@]}"
fi
if wants small; then
	CONTENDERS=()
	add_contender small tcpx "tcpx"
	add_contender small rsync "rsync -W -a daemon"
	add_contender small tarnc "tar | nc"
	add_contender small scp "scp -r"
	add_contender small b2 "BLAKE2b-512 bound"
	run_workload small "${CONTENDERS[@]}"
fi
if wants text; then
	CONTENDERS=()
	add_contender text tcpx-z "tcpx -z (relay, no delay)"
	add_contender text tcpx-zstd "tcpx --zstd (relay, no delay)"
	add_contender text rsync-z "rsync -z daemon (relay, no delay)"
	run_workload text "${CONTENDERS[@]}"
fi
if wants latency; then
	CONTENDERS=()
	add_contender latency tcpx "tcpx (relay +${DELAY_MS} ms)"
	add_contender latency rsync "rsync -W -a daemon (relay +${DELAY_MS} ms)"
	add_contender latency tarnc "tar | nc (relay +${DELAY_MS} ms)"
	run_workload latency "${CONTENDERS[@]}"
fi
if wants slow; then
	CONTENDERS=()
	add_contender slow tcpx "tcpx without -z (relay ${RATE_MBIT} Mbit/s)"
	add_contender slow tcpx-z "tcpx -z (relay ${RATE_MBIT} Mbit/s)"
	add_contender slow rsync-z "rsync -z daemon (relay ${RATE_MBIT} Mbit/s)"
	run_workload slow "${CONTENDERS[@]}"
fi
if wants concurrent; then
	CONTENDERS=()
	add_contender concurrent tcpx-1 "tcpx, 1 sender"
	add_contender concurrent tcpx-n "tcpx, $SENDERS senders at once"
	add_contender concurrent rsync-1 "rsync daemon, 1 client"
	add_contender concurrent rsync-n "rsync daemon, $SENDERS clients at once"
	run_workload concurrent "${CONTENDERS[@]}"
fi

if wants tree; then
	CONTENDERS=()
	add_contender tree tcpx "tcpx -r"
	add_contender tree rsync "rsync -W -a daemon"
	add_contender tree tarnc "tar | nc"
	run_workload tree "${CONTENDERS[@]}"
fi
if wants mixed; then
	CONTENDERS=()
	add_contender mixed tcpx "tcpx raw (relay, no delay)"
	add_contender mixed tcpx-z "tcpx -z (relay, no delay)"
	add_contender mixed tcpx-zstd "tcpx --zstd (relay, no delay)"
	add_contender mixed rsync-z "rsync -W -a -z daemon (relay, no delay)"
	run_workload mixed "${CONTENDERS[@]}"
	CONTENDERS=()
	add_contender media tcpx "media only: tcpx raw"
	add_contender media tcpx-zstd "media only: tcpx --zstd"
	run_workload media "${CONTENDERS[@]}"
fi
if wants lfn; then
	CONTENDERS=()
	add_contender lfn tcpx "tcpx (one connection)"
	if have tcpx && "$TCPPUT" --help 2>&1 | grep -q -e '--streams'; then
		add_contender lfn tcpx-streams "tcpx --streams $LFN_STREAMS"
	elif have tcpx; then
		note "lfn: tcpput --help lists no --streams: the tcpx --streams $LFN_STREAMS row is skipped"
	fi
	add_contender lfn rsync "rsync -W daemon (one connection)"
	add_contender lfn nc "nc > file (one connection)"
	run_workload lfn "${CONTENDERS[@]}"
fi

# ---------------------------------------------- offers: re-run and resume
# Not contenders side by side: tcpx against itself, one run each (the
# figures are ratios within one run, which the machine's load affects
# less than absolute times).  Lines for the report.
OFFER_MD=()

# wire_bytes of tcpput's JSON summary on stdin
summary_wire() { sed -n 's/.*"event":"summary".*"wire_bytes":\([0-9]*\).*/\1/p'; }

# start_tcpget DIR: sets OG_PID (the tcpget), OG_PORT
start_tcpget_on() {
	OG_PORT=$(free_port)
	"$TCPGET" -q -d "$1" -p "$OG_PORT" -b 127.0.0.1 2>"$WORK/oget.err" &
	OG_PID=$!
	started "$OG_PID"
	wait_listen "$OG_PORT" "$OG_PID"
}
stop_tcpget_on() { kill -TERM "$OG_PID" 2>/dev/null; reap "$OG_PID"; }

bench_rerun() {
	local tree=$IN/small out t0 t1 t2 w1 w2
	[[ -d $tree ]] || "$HELPERS/geninput" tree "$tree" "$SMALL_FILES" $((SMALL_KIB * 1024)) 2 || die "geninput"
	out=$WORK/rerun.out
	rm -rf "$out" && mkdir -p "$out"
	start_tcpget_on "$out" || { note "rerun: tcpget did not start"; return; }
	t0=$(now_us)
	w1=$(timeout "$RUN_TIMEOUT" "$TCPPUT" --json -r "$tree" "127.0.0.1:$OG_PORT" 2>/dev/null | summary_wire)
	t1=$(now_us)
	w2=$(timeout "$RUN_TIMEOUT" "$TCPPUT" --json -r "$tree" "127.0.0.1:$OG_PORT" 2>/dev/null | summary_wire)
	t2=$(now_us)
	stop_tcpget_on
	rm -rf "$out"
	[[ -n $w1 && -n $w2 ]] || { note "rerun: a tcpput run failed"; return; }
	OFFER_MD+=("| 8 | re-run of an unchanged $SMALL_FILES-file tree (${SMALL_KIB} KiB each) | first run $(fmt_s $((t1 - t0))) s, $(human_bytes "$w1") | re-run $(fmt_s $((t2 - t1))) s ($(ratio $((t2 - t1)) $((t1 - t0)))x the time), $(human_bytes "$w2") ($(awk -v a="$w2" -v b="$w1" 'BEGIN { printf "%.2f", 100 * a / b }')% of the bytes) |")
}

bench_resume() {
	local f=$IN/random.bin size out lport lpid t0 t1 w sum
	size=$((BIG_MIB * 1048576))
	[[ -f $f ]] || "$HELPERS/geninput" random "$f" "$size" 1 || die "geninput"
	out=$WORK/resume.out
	rm -rf "$out" && mkdir -p "$out"
	start_tcpget_on "$out" || { note "resume: tcpget did not start"; return; }
	"$HELPERS/helper_cutrelay" "$OG_PORT" $((size / 2)) cut >"$WORK/cut.port" 2>/dev/null &
	lpid=$!
	started "$lpid"
	for _ in $(seq 1 100); do
		lport=$(sed -n 's/^port //p' "$WORK/cut.port")
		[[ -n $lport ]] && break
		sleep 0.05
	done
	timeout "$RUN_TIMEOUT" "$TCPPUT" -q "$f" "127.0.0.1:$lport" >/dev/null 2>&1
	reap "$lpid"
	sleep 0.5               # the receiver notices the cut
	local had
	had=$(find "$out" -name '.tcpx-*.part' -printf '%s\n' | head -n 1)
	t0=$(now_us)
	w=$(timeout "$RUN_TIMEOUT" "$TCPPUT" --json --resume "$f" "127.0.0.1:$OG_PORT" 2>/dev/null | summary_wire)
	t1=$(now_us)
	stop_tcpget_on
	sum=$([[ "$(b2sum <"$f")" == "$(b2sum <"$out/random.bin" 2>/dev/null)" ]] && echo identical || echo DIFFERENT)
	rm -rf "$out"
	[[ -n $w && -n $had ]] || { note "resume: a tcpput run failed"; return; }
	OFFER_MD+=("| 9 | resumed ${BIG_MIB} MiB after a cut at 50% | partial data kept: $(human_bytes "$had") | --resume: $(fmt_s $((t1 - t0))) s, $(human_bytes "$w") for $(human_bytes $((size - had))) missing ($(ratio "$w" $((size - had)))x), result $sum |")
}

# ------------------------------------------- workload 11: cost as work grows
# tcpx against itself: wall, CPU (user + system of tcpput and tcpget) and
# peak RSS per file size and per file count.  The points in the work
# directory run --scale-reps times, alternating (all their inputs exist at
# once), and report medians; the disk points (a reference of 1 GiB and the
# big file, both in --scale-disk) run once, each input flushed to the disk
# (sync FILE) before its run so its writeback does not compete.  Every input
# is read once (prime) just before its timed run and deleted after the
# workload.  Each disk point is followed by a plain copy of its input to
# the same disk (cat FILE > FILE2, read once before), the medium's own cost
# at that size.  A point's medium is one word: "tmpfs" or "ext4:/var/tmp".
declare -A SC_RUNS=()           # point id -> "us,cpu_put_ms,cpu_get_ms,rss_put,rss_get ..."
# "units medium us cp cg rp rg copy_us copy_cpu_ms" (copy: 0 0 off the disk)
SCALE_SIZE_PTS=() SCALE_FILE_PTS=() SCALE_TARGETS=()

scale_point() {                 # id input sample -- tcpput args
	local id=$1 input=$2 sample=$3 cnt bytes
	shift 4
	read -r cnt bytes <<<"$(tree_stats "$input")"
	run_tcpx "" "$input" -- "$@"
	[[ -z $LAST_ERR ]] && verify "$LAST_OUT" "$cnt" "$bytes" "$sample" 1
	clear_out
	if [[ -n $LAST_ERR ]]; then
		note "scale: $id failed: $LAST_ERR"
		return 1
	fi
	log "scale $id: $(fmt_s "$LAST_US") s, CPU put ${LAST_CPU_PUT} ms get ${LAST_CPU_GET} ms, RSS put ${LAST_RSS_PUT} KiB get ${LAST_RSS_GET} KiB"
	if [[ -n $LAST_RSS_PUT ]] && ((LAST_RSS_PUT > ${RSS_PUT[scale]:-0})); then RSS_PUT[scale]=$LAST_RSS_PUT; fi
	if [[ -n $LAST_RSS_GET ]] && ((LAST_RSS_GET > ${RSS_GET[scale]:-0})); then RSS_GET[scale]=$LAST_RSS_GET; fi
	SC_RUNS[$id]+="$LAST_US,${LAST_CPU_PUT:-0},${LAST_CPU_GET:-0},${LAST_RSS_PUT:-0},${LAST_RSS_GET:-0} "
}

# "units medium us cp cg rp rg": medians of wall and CPU, maxima of RSS.
scale_summary() {               # id units medium
	[[ -n ${SC_RUNS[$1]:-} ]] || return 1
	local f out="$2 $3"
	for f in 1 2 3; do
		out+=" $(median $(tr ' ' '\n' <<<"${SC_RUNS[$1]}" | awk -F, -v f=$f 'NF { print $f }'))"
	done
	for f in 4 5; do
		out+=" $(tr ' ' '\n' <<<"${SC_RUNS[$1]}" | awk -F, -v f=$f 'NF && $f > m { m = $f } END { print m + 0 }')"
	done
	echo "$out"
}

bench_scale() {
	local mib f n rep fs
	fs=$(stat -f -c %T "$WORK")
	IFS=, read -r -a sizes <<<"$SCALE_MIB"
	IFS=, read -r -a counts <<<"$SCALE_FILES"
	for mib in "${sizes[@]}"; do
		"$HELPERS/geninput" random "$IN/scale-$mib.bin" $((mib * 1048576)) 11 || die "geninput"
	done
	for n in "${counts[@]}"; do
		"$HELPERS/geninput" nested "$IN/scale-tree-$n" "$n" 1024 12 || die "geninput"
	done
	for ((rep = 1; rep <= SCALE_REPS; rep++)); do
		for mib in "${sizes[@]}"; do
			f=$IN/scale-$mib.bin
			scale_point "size-$mib" "$f" "$f" -- "$f"
		done
		for n in "${counts[@]}"; do
			scale_point "files-$n" "$IN/scale-tree-$n" "$IN/scale-tree-$n/d0000/f000000" -- -r "$IN/scale-tree-$n"
		done
	done
	for mib in "${sizes[@]}"; do
		scale_summary "size-$mib" "$mib" "$fs" >/dev/null && SCALE_SIZE_PTS+=("$(scale_summary "size-$mib" "$mib" "$fs") 0 0")
		rm -f "$IN/scale-$mib.bin"
	done
	for n in "${counts[@]}"; do
		scale_summary "files-$n" "$n" "$fs" >/dev/null && SCALE_FILE_PTS+=("$(scale_summary "files-$n" "$n" "$fs") 0 0")
		rm -rf "$IN/scale-tree-$n"
	done
	[[ $SCALE_BIG_MIB -gt 0 ]] || return 0
	local free need=$((SCALE_BIG_MIB * 5 / 2)) medium ref=$SCALE_DISK_REF_MIB
	free=$(df -Pm "$SCALE_DISK" 2>/dev/null | awk 'NR == 2 { print $4 }')
	medium=$(df -PT "$SCALE_DISK" 2>/dev/null | awk 'NR == 2 { print $2 }')
	if [[ -z $free || $free -lt $need ]]; then
		note "scale: the $SCALE_BIG_MIB MiB point is skipped: $SCALE_DISK has ${free:-no} MiB free, it needs $need"
		return 0
	fi
	if [[ -z $medium || $medium == tmpfs || $medium == ramfs ]]; then
		note "scale: the $SCALE_BIG_MIB MiB point is skipped: $SCALE_DISK is ${medium:-unknown}, not a disk (--scale-disk)"
		return 0
	fi
	medium=$medium:${SCALE_DISK// /_}
	SCALE_TMP=$(mktemp -d "$SCALE_DISK/tcpx-scale.XXXXXX") || die "cannot create a directory in $SCALE_DISK"
	OUT_BASE=$SCALE_TMP
	[[ $ref -lt $SCALE_BIG_MIB ]] || ref=0
	for mib in $ref $SCALE_BIG_MIB; do
		[[ $mib -gt 0 ]] || continue
		f=$SCALE_TMP/scale-$mib.bin
		log "scale: writing $mib MiB to $SCALE_TMP and flushing it"
		"$HELPERS/geninput" random "$f" $((mib * 1048576)) 11 || die "geninput"
		sync "$f"
		# The content check reads both copies: only up to 1 GiB.
		if scale_point "disk-$mib" "$f" "$([[ $mib -le 1024 ]] && echo "$f")" -- "$f"; then
			local t0 t1 cpu
			prime "$f"
			t0=$(now_us)
			timeout -k 5 "$RUN_TIMEOUT" /usr/bin/time -f "%U %S 0" -o "$WORK/copy.time" \
				cat "$f" >"$SCALE_TMP/copy.bin"
			t1=$(now_us)
			cpu=$(cpu_of "$WORK/copy.time")
			rm -f "$SCALE_TMP/copy.bin"
			log "scale disk-$mib plain copy: $(fmt_s $((t1 - t0))) s, CPU $cpu ms"
			SCALE_SIZE_PTS+=("$(scale_summary "disk-$mib" "$mib" "$medium") $((t1 - t0)) ${cpu:-0}")
		fi
		rm -f "$f"
	done
	OUT_BASE=""
	rm -rf "$SCALE_TMP"
	SCALE_TMP=""
}

# scale_ratio FIELD DIVIDE_BY_UNITS POINTS...: the last point's figure
# (per unit when DIVIDE_BY_UNITS is 1) over the smallest of all points'.
# FIELD: 3 wall, 45 CPU put + get, 459 the same less the plain copy's CPU,
# 6 RSS put, 7 RSS get.  CPU figures under 100 ms (GNU time counts in
# 10 ms) are left out.  "n/a" when fewer than 2 points remain or the last
# is left out.
scale_ratio() {
	local field=$1 per=$2
	shift 2
	[[ $# -gt 0 ]] || { echo n/a; return; }
	printf '%s\n' "$@" | awk -v f="$field" -v per="$per" '
		{ v = (f == 45) ? $4 + $5 : (f == 459) ? $4 + $5 - $9 : $f
		  last = -1; if ((f == 45 || f == 459) && v < 100) next
		  if (per) v = v / $1; if (n == 0 || v < min) min = v; last = v; n++ }
		END { if (n < 2 || min <= 0 || last < 0) print "n/a"; else printf "%.2f\n", last / min }'
}
# The larger of two ratios ("n/a" counts only when both are).
worse() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a") print b; else if (b == "n/a" || a + 0 >= b + 0) print a; else print b }'; }

report_scale() {
	local p units medium us cp cg rp rg
	[[ ${#SCALE_SIZE_PTS[@]} -gt 0 || ${#SCALE_FILE_PTS[@]} -gt 0 ]] || return 0
	echo "## Cost as the work grows (workload 11: tcpx against itself)"
	echo
	echo "Medians of $SCALE_REPS alternating run(s) per point in the work directory; the disk points ran once each. CPU is user + system time of tcpput and tcpget together (GNU time, 10 ms steps). Each input is read once (cat) just before its run."
	echo
	echo "| file size | medium | wall (s) | MiB/s | wall per MiB (ms) | CPU put + get (s) | CPU per MiB (ms) | peak RSS put / get | plain copy on the disk: wall (s) / CPU per MiB (ms) |"
	echo "|---|---|---|---|---|---|---|---|---|"
	local xus xc
	for p in "${SCALE_SIZE_PTS[@]}"; do
		read -r units medium us cp cg rp rg xus xc <<<"$p"
		echo "| $units MiB | ${medium/:/, } | $(fmt_s2 "$us") | $(mib_s $((units * 1048576)) "$us") | $(awk -v u="$us" -v n="$units" 'BEGIN { printf "%.2f", u / 1000 / n }') | $(awk -v c=$((cp + cg)) 'BEGIN { printf "%.2f", c / 1000 }') | $(awk -v c=$((cp + cg)) -v n="$units" 'BEGIN { printf "%.2f", c / n }') | $(kib_cell "$rp") / $(kib_cell "$rg") | $([[ ${xus:-0} -gt 0 ]] && echo "$(fmt_s2 "$xus") / $(awk -v c="$xc" -v n="$units" 'BEGIN { printf "%.2f", c / n }')" || echo —) |"
	done
	echo
	echo "| files of 1 KiB | medium | wall (s) | wall per file (µs) | CPU put + get (s) | CPU per file (µs) | peak RSS put / get |"
	echo "|---|---|---|---|---|---|---|"
	for p in "${SCALE_FILE_PTS[@]}"; do
		read -r units medium us cp cg rp rg <<<"$p"
		echo "| $units | $medium | $(fmt_s2 "$us") | $(awk -v u="$us" -v n="$units" 'BEGIN { printf "%.1f", u / n }') | $(awk -v c=$((cp + cg)) 'BEGIN { printf "%.2f", c / 1000 }') | $(awk -v c=$((cp + cg)) -v n="$units" 'BEGIN { printf "%.1f", c * 1000 / n }') | $(kib_cell "$rp") / $(kib_cell "$rg") |"
	done
	echo
	# Verdicts: the per-unit CPU at the largest point over the lowest
	# per-unit CPU of any point on the same medium (a fixed start-up cost
	# makes small points dearer per unit, so the lowest is normally a large
	# one): at most 1.25 reads as linear.  On the disk the plain copy's CPU
	# is taken off first: past the page cache's dirty limit the kernel's
	# write path itself costs more per MiB (writeback, reclaim), which is
	# the medium's, not tcpx's.  Wall per unit is shown, not judged: on a
	# shared machine it is the noisiest figure, and a disk point's wall is
	# the disk's write rate.  RSS at the largest point over the smallest
	# point's: at most 1.25 reads as flat.
	local work=() disk=() q
	for q in "${SCALE_SIZE_PTS[@]}"; do
		if [[ $q == *:* ]]; then disk+=("$q"); else work+=("$q"); fi
	done
	local vcw vcd vc vw vp vg fc fw fp fg
	vcw=$(scale_ratio 45 1 "${work[@]}")
	vcd=$(scale_ratio 459 1 "${disk[@]}")
	vc=$(worse "$vcw" "$vcd")
	vw=$(scale_ratio 3 1 "${work[@]}")
	vp=$(scale_ratio 6 0 "${SCALE_SIZE_PTS[@]}")
	vg=$(scale_ratio 7 0 "${SCALE_SIZE_PTS[@]}")
	fc=$(scale_ratio 45 1 "${SCALE_FILE_PTS[@]}")
	fw=$(scale_ratio 3 1 "${SCALE_FILE_PTS[@]}")
	fp=$(scale_ratio 6 0 "${SCALE_FILE_PTS[@]}")
	fg=$(scale_ratio 7 0 "${SCALE_FILE_PTS[@]}")
	verdict() { awk -v a="$1" -v b="${2:-1}" 'BEGIN { if (a == "n/a" || b == "n/a") print "not measured"; else print (a <= 1.25 && b <= 1.25) ? "yes" : "**no**" }'; }
	word() {                # ratio ratio word_if_yes
		case $(verdict "$1" "$2") in
		yes) echo "$3" ;;
		"not measured") echo "not measured (too few points, or CPU under 100 ms)" ;;
		*) echo "**NOT $3**" ;;
		esac
	}
	echo "Verdict (size): time $(word "$vc" "" linear) — CPU per MiB at the largest file ${vcw}x the lowest in the work directory, ${vcd}x on the disk (less the plain copy's CPU); wall per MiB at the largest in the work directory ${vw}x the lowest (not judged). RSS $(word "$vp" "$vg" flat) — largest ÷ smallest file: tcpput ${vp}x, tcpget ${vg}x."
	echo
	echo "Verdict (count): time $(word "$fc" "" linear) — CPU per file at the most files ${fc}x the lowest, wall per file ${fw}x the lowest (not judged). RSS $(word "$fp" "$fg" flat) — most ÷ fewest files: tcpput ${fp}x, tcpget ${fg}x."
	echo
	SCALE_TARGETS+=("| 11: time linear in file size (per-MiB CPU at the largest ≤ 1.25x the lowest, same medium; on the disk less a plain copy's) | ${vcw}x work directory, ${vcd}x disk (wall ${vw}x) | $(verdict "$vc") |")
	SCALE_TARGETS+=("| 11: peak RSS flat in file size (largest ÷ smallest ≤ 1.25) | put ${vp}x, get ${vg}x | $(verdict "$vp" "$vg") |")
	SCALE_TARGETS+=("| 11: time linear in file count (per-file CPU at the most ≤ 1.25x the lowest) | ${fc}x (wall ${fw}x) | $(verdict "$fc") |")
	SCALE_TARGETS+=("| 11: peak RSS flat in file count (most ÷ fewest ≤ 1.25) | put ${fp}x, get ${fg}x | $(verdict "$fp" "$fg") |")
}

if wants scale; then
	if have tcpx; then bench_scale; else note "scale: no tcpx in this run: workload 11 skipped"; fi
fi
wants rerun && bench_rerun
wants resume && bench_resume

mkdir -p "$(dirname "$OUT_MD")"
{
	report
	if [[ ${#OFFER_MD[@]} -gt 0 ]]; then
		printf '\n## Offers: re-run and resume (tcpx against itself)\n\n'
		printf '| # | workload | first | then |\n|---|---|---|---|\n'
		printf '%s\n' "${OFFER_MD[@]}"
	fi
} | tee "$OUT_MD"
