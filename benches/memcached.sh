#!/usr/bin/env bash
# Side-by-side load test: our memcached against the original (Debian's
# 1.6.18), both started with the same flags, loaded by danga-loadgen.
#
#   benches/memcached.sh                 # 3 rounds of 8 s each, then the fill test
#   ROUNDS=5 SECS=10 benches/memcached.sh
#
# Environment: ROUNDS (3), SECS (8), CONNS (50), DEPTH (16), WARMUP (2 s),
# OURS (target/release/memcached), ORIG (/usr/bin/memcached),
# SKIP_BUILD=1 to use the binaries already built.
# Measures ops/s and ops per server CPU-second (utime+stime from
# /proc/PID/stat), alternating the servers A B / B A so drift in the
# machine's background load hits both; then items held before the first
# eviction at -m 64 and RSS after that fill. See benches/README.md.
# Loopback only; never run in CI.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
SECS=${SECS:-8}
CONNS=${CONNS:-50}
DEPTH=${DEPTH:-16}
WARMUP=${WARMUP:-2}

cd "$(dirname "$0")/.."
ROOT=$PWD
OURS=${OURS:-$ROOT/target/release/memcached}
ORIG=${ORIG:-/usr/bin/memcached}
LG=$ROOT/target/release/danga-loadgen
CLK_TCK=$(getconf CLK_TCK)

if [[ -z ${SKIP_BUILD:-} ]]; then
    cargo build --release -p memcached -p danga-loadgen
fi
for b in "$OURS" "$ORIG" "$LG"; do
    [[ -x $b ]] || { echo "missing executable: $b" >&2; exit 1; }
done

TMP=$(mktemp -d -t danga-bench.XXXXXX)
declare -A BIN PID PORT
BIN[ours]=$OURS
BIN[orig]=$ORIG
NAME_ours="ours"
NAME_orig="original"

cleanup() {
    local k
    for k in "${!PID[@]}"; do
        stop_server "$k"
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

SERVER_FLAGS=(-t 2 -m 64 -l 127.0.0.1 -U 0 -c 4096)
[[ $(id -u) == 0 ]] && SERVER_FLAGS+=(-u root)

# running PID: the process exists and has not exited (an exited child stays
# a zombie, state Z, until waited for, and kill -0 still succeeds on it).
running() {
    local state
    state=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null || true)
    [[ -n $state && $state != Z ]]
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_server KEY: a fresh server on a free port; sets PID[KEY], PORT[KEY].
start_server() {
    local key=$1 try port pid i
    for try in 1 2 3 4 5; do
        port=$((20000 + RANDOM % 40000))
        port_open "$port" && continue
        "${BIN[$key]}" "${SERVER_FLAGS[@]}" -p "$port" >"$TMP/$key.log" 2>&1 &
        pid=$!
        for i in $(seq 50); do
            running "$pid" || break
            if port_open "$port"; then
                PID[$key]=$pid
                PORT[$key]=$port
                return 0
            fi
            sleep 0.1
        done
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    echo "could not start ${BIN[$key]} (log: $(tail -3 "$TMP/$key.log"))" >&2
    return 1
}

# alive KEY: fail loudly if server KEY has exited.
alive() {
    running "${PID[$1]}" && return 0
    echo "${BIN[$1]} exited; its log: $(tail -5 "$TMP/$1.log" | tr '\n' ' ')" >&2
    exit 1
}

stop_server() {
    local key=$1 pid=${PID[$1]:-}
    [[ -n $pid ]] || return 0
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "PID[$key]"
}

# Server CPU time so far, in clock ticks (utime + stime; fields 14 and 15,
# counted after the parenthesised command name).
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# field NAME LINE: the value of NAME=... in a loadgen result line.
field() { printf '%s\n' "$2" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }

median() {
    printf '%s\n' "$@" | awk 'NF { a[n++] = $1 }
        END {
            if (n == 0) { print "n/a"; exit }
            for (i = 1; i < n; i++) for (j = i; j > 0 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
            if (n % 2) print a[(n-1)/2]; else printf "%.0f\n", (a[n/2-1] + a[n/2]) / 2
        }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a+0 > 0 && b+0 > 0) printf "%.2f\n", a/b; else print "n/a" }'; }

LAST=""
# loadgen KEY ARGS...: run the generator against server KEY; LAST holds the
# result line, CLIENT_CPU the generator's own CPU seconds.
loadgen() {
    local key=$1; shift
    local rc=0
    TIMEFORMAT='%3U %3S'
    { time "$LG" memcached --server "127.0.0.1:${PORT[$key]}" "$@" \
        >"$TMP/lg.out" 2>"$TMP/lg.err"; } 2>"$TMP/lg.time" || rc=$?
    LAST=$(tail -1 "$TMP/lg.out" 2>/dev/null || true)
    CLIENT_CPU=$(awk '{ printf "%.2f", $1 + $2 }' "$TMP/lg.time")
    if [[ $rc != 0 ]]; then
        echo "  [$key] danga-loadgen failed (rc=$rc): $(tail -2 "$TMP/lg.err" | tr '\n' ' ')" >&2
        return 1
    fi
}

declare -A RATES CPURATES
# one_round KEY ROUND
one_round() {
    local key=$1 round=$2 pid=${PID[$1]} before after ops rate cpu per_cpu name
    local nv="NAME_$1"
    name=${!nv}
    alive "$key"
    before=$(cpu_ticks "$pid")
    if ! loadgen "$key" --conns "$CONNS" --depth "$DEPTH" --duration "$SECS" \
        --get-ratio 0.9 --value-size 100; then
        printf '  round %d  %-8s  failed\n' "$round" "$name"
        return 0
    fi
    alive "$key"
    after=$(cpu_ticks "$pid")
    ops=$(field ops "$LAST")
    rate=$(field ops_per_sec "$LAST")
    cpu=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t/hz }')
    per_cpu=$(awk -v o="$ops" -v c="$cpu" 'BEGIN { if (c > 0) printf "%.0f", o/c; else print "" }')
    RATES[$key]+="$rate "
    CPURATES[$key]+="$per_cpu "
    printf '  round %d  %-8s  %8s ops/s  %8s ops/server-CPU-s  (server %5s CPU-s, client %5s CPU-s, errors %s, hit rate %s)\n' \
        "$round" "$name" "$rate" "${per_cpu:-n/a}" "$cpu" "$CLIENT_CPU" "$(field errors "$LAST")" \
        "$(awk -v h="$(field hits "$LAST")" -v g="$(field gets "$LAST")" 'BEGIN { if (g > 0) printf "%.3f", h/g; else print "n/a" }')"
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== memcached: ours ($OURS) vs original ($ORIG)"
echo "   server flags: ${SERVER_FLAGS[*]} -p PORT"
echo "   load: --conns $CONNS --depth $DEPTH --duration $SECS --get-ratio 0.9 --value-size 100; $ROUNDS rounds"
echo "   load average at start: $LOAD_START"

start_server ours
start_server orig
echo "== warm-up: set all 100,000 keys, then $WARMUP s of load"
for key in ours orig; do
    if loadgen "$key" --conns "$CONNS" --depth "$DEPTH" --duration "$WARMUP" --prefill \
        --get-ratio 0.9 --value-size 100; then
        echo "  $key: $LAST"
    fi
done

echo "== rounds (A B, then B A)"
for round in $(seq "$ROUNDS"); do
    if ((round % 2)); then order=(ours orig); else order=(orig ours); fi
    for key in "${order[@]}"; do
        one_round "$key" "$round"
    done
done
# shellcheck disable=SC2086 # word splitting wanted
{
    MED_RATE_ours=$(median ${RATES[ours]:-})
    MED_RATE_orig=$(median ${RATES[orig]:-})
    MED_CPU_ours=$(median ${CPURATES[ours]:-})
    MED_CPU_orig=$(median ${CPURATES[orig]:-})
}
echo "  median ops/s:                ours $MED_RATE_ours, original $MED_RATE_orig, ratio $(ratio "$MED_RATE_ours" "$MED_RATE_orig")"
echo "  median ops/server-CPU-s:     ours $MED_CPU_ours, original $MED_CPU_orig, ratio $(ratio "$MED_CPU_ours" "$MED_CPU_orig")"
stop_server ours
stop_server orig

echo "== fill until the first eviction (fresh servers, -m 64, 14 B keys, 100 B values)"
declare -A HELD PREV RSS
for key in ours orig; do
    HELD[$key]=n/a PREV[$key]=n/a RSS[$key]=n/a
    start_server "$key"
    if loadgen "$key" --fill-until-evict --depth 64 --value-size 100; then
        HELD[$key]=$(field items_held "$LAST")
        PREV[$key]=$(field items_held_prev "$LAST")
    else
        PREV[$key]=$(field items_held_prev "$LAST")
    fi
    alive "$key"
    RSS[$key]=$(awk -v k="$(rss_kb "${PID[$key]}")" 'BEGIN { printf "%.1f", k/1024 }')
    echo "  $key: ${LAST:-no result}; RSS ${RSS[$key]} MB"
    stop_server "$key"
done

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
ORIG_VERSION=$("$ORIG" -V 2>/dev/null | head -1 || echo "?")

cat <<EOF

== summary (Markdown)

#### memcached: ours vs the original ($ORIG_VERSION)

$(date -u +%Y-%m-%d), ${CPU_MODEL:-unknown CPU}, $(nproc) vCPU, load average $LOAD_START at start and $LOAD_END at the end.
Servers: \`${SERVER_FLAGS[*]}\`. Load: \`danga-loadgen memcached --conns $CONNS --depth $DEPTH --duration $SECS --get-ratio 0.9 --value-size 100\` over 100,000 prefilled keys, $ROUNDS rounds alternating the servers; medians.

| metric | ours | original | ours / original |
|---|---:|---:|---:|
| ops/s | $MED_RATE_ours | $MED_RATE_orig | $(ratio "$MED_RATE_ours" "$MED_RATE_orig") |
| ops per server CPU-second | $MED_CPU_ours | $MED_CPU_orig | $(ratio "$MED_CPU_ours" "$MED_CPU_orig") |
| items held before the first eviction (\`-m 64\`) | ${HELD[ours]} | ${HELD[orig]} | $(ratio "${HELD[ours]}" "${HELD[orig]}") |
| RSS after the fill (MB) | ${RSS[ours]} | ${RSS[orig]} | $(ratio "${RSS[ours]}" "${RSS[orig]}") |
EOF
