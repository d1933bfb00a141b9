#!/usr/bin/env bash
# MogileFS load test: our mogilefsd (SQLite on disk, the default) with three
# of our mogstored on loopback, loaded by `danga-loadgen mogilefs` the way
# the original was measured for reference/mogilefs.md §5 (4 KB and 1 MB
# stores and fetches with 4 clients, get_paths with 1 and 8 clients).
#
# get_paths is shown twice: with noverify=1, what pymogilefs (the Python
# client the original was measured with) sends by default, and verified
# (noverify=0, MogileFS::Client's default: the tracker HEADs the first
# replica, as 2.73 does). `noop` rows are the tracker's round trip without
# the database, a floor for the others. Besides the rates, the table gives
# the CPU the tracker and the three mogstored used per operation (µs, from
# /proc/PID/stat): on 2 shared cores it moves less than the rates do.
#
# The Perl original (MogileFS-Server 2.73) is not packaged by Debian, so it
# cannot run beside ours here; the ratios are against the figures measured
# for it on this class of machine (2 vCPU, SQLite on disk, machine quiet):
# store 4 KB 63/s, fetch 4 KB 492/s, store 1 MB 54/s, fetch 1 MB 256/s,
# get_paths 1,378/s (c=1) and 2,897/s (c=8).
#
#   benches/mogilefs.sh
#   SECS=10 benches/mogilefs.sh
#
# Environment: SECS (8, per figure), DB (sqlite | a mysql:// URL),
# SKIP_BUILD=1 to reuse target/release. Loopback only; never run in CI.
set -euo pipefail

SECS=${SECS:-8}
DB=${DB:-sqlite}

cd "$(dirname "$0")/.."
ROOT=$PWD
REL=${REL:-$ROOT/target/release}
CLK_TCK=$(getconf CLK_TCK)

if [[ -z ${SKIP_BUILD:-} ]]; then
    cargo build --release -p mogilefsd -p mogstored -p danga-loadgen
fi
for b in mogilefsd mogstored danga-loadgen; do
    [[ -x $REL/$b ]] || { echo "missing executable: $REL/$b" >&2; exit 1; }
done

TMP=$(mktemp -d -t danga-mogbench.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

# Waits for a ready file and prints the port of the line named $2.
port_of() {
    local f=$1 name=$2 i
    for ((i = 0; i < 100; i++)); do
        if [[ -s $f ]]; then
            awk -v n="$name" '$1 == n { sub(/.*:/, "", $2); print $2; exit }' "$f"
            return
        fi
        sleep 0.1
    done
    echo "no ready file $f" >&2
    exit 1
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

if [[ $DB == sqlite ]]; then
    DSN="DBI:SQLite:dbname=$TMP/mogilefs.sqlite3"
else
    DSN=$DB
fi
"$REL/mogilefsd" -s -l 127.0.0.1:0 "--dsn=$DSN" --ready-file "$TMP/tracker.ready" &
TRACKER_PID=$!
PIDS+=("$TRACKER_PID")
TPORT=$(port_of "$TMP/tracker.ready" mogilefsd)

NODE_ARGS=()
STORE_PIDS=()
for i in 1 2 3; do
    mkdir -p "$TMP/node$i/dev$i"
    "$REL/mogstored" -s --httplisten=127.0.0.1:0 --mgmtlisten=127.0.0.1:0 \
        "--docroot=$TMP/node$i" --ready-file "$TMP/node$i.ready" &
    PIDS+=("$!")
    STORE_PIDS+=("$!")
    NODE_ARGS+=(--node "127.0.0.1:$(port_of "$TMP/node$i.ready" http)")
done

LG=("$REL/danga-loadgen" mogilefs --tracker "127.0.0.1:$TPORT")
"${LG[@]}" --mode setup "${NODE_ARGS[@]}" >/dev/null
# Give the tracker's monitor a moment to see the devices' free space.
sleep 3

# One figure: label, reference rate, loadgen arguments. Prints a table row.
declare -A REF=(
    [store4k]=63 [fetch4k]=492 [store1m]=54 [fetch1m]=256 [paths1]=1378 [paths8]=2897
    [paths1v]=1378 [paths8v]=2897 [noop1]=0 [noop8]=0
)
figure() {
    local label=$1 desc=$2
    shift 2
    local t0 s0 out rate ops
    t0=$(cpu_ticks "$TRACKER_PID")
    s0=0
    for p in "${STORE_PIDS[@]}"; do s0=$((s0 + $(cpu_ticks "$p"))); done
    out=$("${LG[@]}" --secs "$SECS" "$@")
    local t1 s1=0
    t1=$(cpu_ticks "$TRACKER_PID")
    for p in "${STORE_PIDS[@]}"; do s1=$((s1 + $(cpu_ticks "$p"))); done
    rate=$(sed -n 's/.*ops_per_sec=\([0-9.]*\).*/\1/p' <<<"$out")
    ops=$(sed -n 's/.* ops=\([0-9]*\).*/\1/p' <<<"$out")
    local errs mbs
    errs=$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' <<<"$out")
    mbs=$(sed -n 's/.*mb_per_sec=\([0-9.]*\).*/\1/p' <<<"$out")
    awk -v l="$desc" -v r="$rate" -v n="$ops" -v ref="${REF[$label]}" -v mb="$mbs" -v e="$errs" \
        -v tc="$((t1 - t0))" -v sc="$((s1 - s0))" -v hz="$CLK_TCK" -v secs="$SECS" '
        BEGIN {
            n = (n > 0) ? n : 1
            refcol = (ref > 0) ? sprintf("%d/s", ref) : "-"
            ratio = (ref > 0) ? sprintf("%.1fx", r / ref) : "-"
            printf "| %s | %.0f/s | %.1f MB/s | %d | %.2f | %.0f | %.2f | %.0f | %s | %s |\n",
                l, r, mb, e, tc / hz / secs, tc / hz / n * 1e6,
                sc / hz / secs, sc / hz / n * 1e6, refcol, ratio
        }'
}

echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| figure | ours | throughput | errors | tracker CPU (cores) | tracker µs/op | mogstored CPU (cores) | mogstored µs/op | Perl 2.73 (quiet) | ratio |"
echo "|---|---|---|---|---|---|---|---|---|---|"
figure store4k "store 4 KB, c=4" --mode store --clients 4 --size 4096 --prefix small-
figure fetch4k "fetch 4 KB, c=4" --mode fetch --clients 4 --keys 200 --prefix small- --noverify
figure store1m "store 1 MB, c=4" --mode store --clients 4 --size 1048576 --prefix big-
figure fetch1m "fetch 1 MB, c=4" --mode fetch --clients 4 --keys 40 --prefix big- --noverify
figure paths1 "get_paths noverify, c=1" --mode paths --clients 1 --keys 200 --prefix small- --noverify
figure paths8 "get_paths noverify, c=8" --mode paths --clients 8 --keys 200 --prefix small- --noverify
figure paths1v "get_paths verified, c=1" --mode paths --clients 1 --keys 200 --prefix small-
figure paths8v "get_paths verified, c=8" --mode paths --clients 8 --keys 200 --prefix small-
figure noop1 "noop, c=1" --mode noop --clients 1
figure noop8 "noop, c=8" --mode noop --clients 8
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
