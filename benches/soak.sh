#!/usr/bin/env bash
# Soak: `danga up` under a mixed load through every daemon for a while,
# sampling each daemon's RSS, open fds and the load's error count every
# 10 s, then printing each one's slope after the warm-up (a leak shows as
# a slope that stays above zero however long the run).
#
#   benches/soak.sh            # 10 minutes
#   benches/soak.sh 300        # 5 minutes
#
# Environment: BASE_PORT (1300: `danga up --base-port`, so the usual ports
# stay free), WARMUP (60 s, left out of the slopes), PROFILE (release when
# target/release/danga exists, else debug), SKIP_BUILD=1 to use the
# binaries already built, KEEP=1 to keep the data and samples directory.
# The load: danga-loadgen on memcached (90 % gets), gearmand (background
# jobs and their workers) and the tracker (stores, then fetches); curl
# loops through perlbal's `site` (PUT, reproxied GET, a Gearman /md5/ job,
# DELETE) and its static web server. Loopback only; never run in CI.
set -euo pipefail

SECS=${1:-600}
BASE_PORT=${BASE_PORT:-1300}
WARMUP=${WARMUP:-60}
INTERVAL=10

cd "$(dirname "$0")/.."
ROOT=$PWD
if [[ -z ${PROFILE:-} ]]; then
    PROFILE=debug
    [[ -x target/release/danga ]] && PROFILE=release
fi
if [[ -z ${SKIP_BUILD:-} ]]; then
    flag=(); [[ $PROFILE == release ]] && flag=(--release)
    cargo build "${flag[@]}" --workspace --exclude danga-fuzz --bins
fi
BIN=$ROOT/target/$PROFILE
LG=$BIN/danga-loadgen
for b in "$BIN/danga" "$LG"; do
    [[ -x $b ]] || { echo "missing executable: $b" >&2; exit 1; }
done
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 1; }

port() { echo $(($1 + BASE_PORT)); }
MC=127.0.0.1:$(port 11211)
GM=127.0.0.1:$(port 4730)
TRACKER=127.0.0.1:$(port 7001)
SITE=http://127.0.0.1:$(port 8080)
STATIC=http://127.0.0.1:$(port 8081)

TMP=$(mktemp -d -t danga-soak.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    [[ -n ${UP:-} ]] && kill -INT "$UP" 2>/dev/null && wait "$UP" 2>/dev/null || true
    if [[ -n ${KEEP:-} ]]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

"$BIN/danga" up --data "$TMP/data" --base-port "$BASE_PORT" >"$TMP/up.out" 2>&1 &
UP=$!
for _ in $(seq 120); do
    curl -sf -o /dev/null "$SITE/" && break
    kill -0 "$UP" 2>/dev/null || { cat "$TMP/up.out" >&2; exit 1; }
    sleep 1
done
curl -sf -o /dev/null "$SITE/" || { echo "the stack never answered on $SITE" >&2; exit 1; }

# The daemons: danga up's children, by command name (two mogstored).
declare -A DPID
for c in $(pgrep -P "$UP"); do
    name=$(cat "/proc/$c/comm")
    [[ $name == mogstored ]] && [[ -n ${DPID[mogstored1]:-} ]] && name=mogstored2
    [[ $name == mogstored ]] && name=mogstored1
    DPID[$name]=$c
done
NAMES=(memcached gearmand mogilefsd mogstored1 mogstored2 perlbal)
for n in "${NAMES[@]}"; do
    [[ -n ${DPID[$n]:-} ]] || { echo "no $n among danga up's children" >&2; exit 1; }
done

END=$(($(date +%s) + SECS))
# Each load writes its cumulative error count to $TMP/err.<daemon>.
for n in "${NAMES[@]}"; do echo 0 >"$TMP/err.$n"; done
loadgen_loop() { # daemon, then danga-loadgen arguments
    local d=$1; shift
    local errs=0
    while (($(date +%s) < END)); do
        out=$("$LG" "$@" 2>>"$TMP/loadgen.$d.err" || true)
        echo "$out" >>"$TMP/loadgen.$d.out"
        e=$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' <<<"$out")
        [[ -z $out ]] && e=1
        errs=$((errs + ${e:-0}))
        echo "$errs" >"$TMP/err.$d"
    done
}
loadgen_loop memcached memcached --server "$MC" --conns 20 --depth 8 --duration 10 --keys 20000 --value-size 512 &
PIDS+=($!)
loadgen_loop gearmand gearman --server "$GM" --jobs 5000 --clients 4 --workers 2 --timeout 30 &
PIDS+=($!)
loadgen_loop mogilefsd mogilefs --tracker "$TRACKER" --mode store --secs 10 --clients 2 --keys 100 --size 8192 --domain danga --class files --prefix soak- &
PIDS+=($!)
site_loop() {
    local errs=0 i=0 f=$TMP/body
    head -c 20000 /dev/urandom >"$f"
    while (($(date +%s) < END)); do
        k=soak$((i % 50)); i=$((i + 1))
        curl -sf -m 20 -o /dev/null -T "$f" "$SITE/files/$k" || errs=$((errs + 1))
        curl -sf -m 20 -o /dev/null "$SITE/files/$k" || errs=$((errs + 1))
        curl -sf -m 20 -o /dev/null "$SITE/md5/$k" || errs=$((errs + 1))
        ((i % 5 == 0)) && { curl -sf -m 20 -o /dev/null -X DELETE "$SITE/files/$k" || errs=$((errs + 1)); }
        curl -sf -m 20 -o /dev/null "$STATIC/" || errs=$((errs + 1))
        echo "$errs" >"$TMP/err.perlbal"
        echo "$i" >"$TMP/rounds.perlbal"
    done
}
site_loop &
PIDS+=($!)

# Samples: t daemon rss_kib fds errors logged. `errors`: requests of the
# load that failed (the mogstored nodes share the tracker's load and its
# count); `logged`: WARN and ERROR lines in the daemon's own log.
SAMPLES=$TMP/samples
START=$(date +%s)
sample() {
    local t=$(($(date +%s) - START))
    for n in "${NAMES[@]}"; do
        p=${DPID[$n]}
        rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo -1)
        fds=$(ls "/proc/$p/fd" 2>/dev/null | wc -l)
        e=$n; [[ $n == mogstored* ]] && e=mogilefsd
        logged=$(grep -c -E ' (WARN|ERROR) ' "$TMP/data/log/$n.log" 2>/dev/null || true)
        echo "$t $n ${rss:--1} $fds $(cat "$TMP/err.$e") ${logged:-0}" >>"$SAMPLES"
    done
}
echo "soak: ${SECS}s, ${PROFILE} build, base port $BASE_PORT, sampling every ${INTERVAL}s into $SAMPLES"
while (($(date +%s) < END)); do
    sample
    for n in "${NAMES[@]}"; do
        kill -0 "${DPID[$n]}" 2>/dev/null || { echo "$n (pid ${DPID[$n]}) died" >&2; exit 1; }
    done
    sleep "$INTERVAL"
done
sample
for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
PIDS=()

# Least-squares slope per minute of each column after the warm-up.
echo
printf '%-11s %9s %9s %11s %7s %7s %7s %7s %7s\n' daemon rss_start rss_end 'KiB/min' fds_end fds/min errors err/min logged
for n in "${NAMES[@]}"; do
    awk -v n="$n" -v w="$WARMUP" '
        $2 == n && $1 >= w {
            k++; x = $1 / 60; sx += x; sxx += x * x
            sr += $3; sxr += x * $3; sf += $4; sxf += x * $4; se += $5; sxe += x * $5
            if (k == 1) first = $3
            last = $3; fds = $4; errs = $5; logged = $6
        }
        END {
            d = k * sxx - sx * sx
            if (k < 3 || d == 0) { printf "%-11s too few samples after the warm-up\n", n; exit }
            printf "%-11s %9d %9d %11.1f %7d %7.2f %7d %7.2f %7d\n", n, first, last,
                (k * sxr - sx * sr) / d, fds, (k * sxf - sx * sf) / d, errs, (k * sxe - sx * se) / d, logged
        }' "$SAMPLES"
done
# The work done, so a quiet slope is not a quiet load.
echo
sum() { sed -n "s/.*\b$2=\([0-9]*\).*/\1/p" "$TMP/loadgen.$1.out" 2>/dev/null | awk '{s += $1} END {print s + 0}'; }
echo "load: memcached $(sum memcached ops) requests, gearmand $(sum gearmand jobs) background jobs," \
    "mogilefsd $(sum mogilefsd ops) stores, perlbal $(cat "$TMP/rounds.perlbal" 2>/dev/null || echo 0) rounds of 4-5 requests"
echo
tail -n 3 "$TMP"/loadgen.*.err 2>/dev/null | grep -v '^$' | head -n 20 || true
