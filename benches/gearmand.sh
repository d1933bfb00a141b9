#!/usr/bin/env bash
# Side-by-side load test: our gearmand against the original (Debian's C
# gearmand 1.1.20, package gearman-job-server), both started with the same
# flags and the in-memory queue, loaded by danga-loadgen.
#
#   benches/gearmand.sh                  # 3 rounds of bg + fg, then the durable round
#   ROUNDS=5 benches/gearmand.sh
#
# Environment: ROUNDS (3), BG_JOBS (50000), BG_CLIENTS (4), WINDOW (64),
# FG_CLIENTS (16), FG_JOBS (2000 round trips per client), WORKERS (4),
# PAYLOAD (16 bytes), GRAB (job | uniq), SERVER_THREADS (4, the servers' -t),
# WARMUP_JOBS (5000), DURABLE_JOBS (10000), DURABLE (1; 0 skips the durable
# round), TIMEOUT (120 s per generator run), OURS (target/release/gearmand),
# ORIG (/usr/sbin/gearmand), SKIP_BUILD=1 to use the binaries already built.
# Measures jobs/s and jobs per server CPU-second (utime+stime from
# /proc/PID/stat), alternating the servers A B / B A so drift in the
# machine's background load hits both; then, if ours has a libsqlite3
# queue, one bg round per server with `-q libsqlite3`. See benches/README.md.
# Loopback only; never run in CI.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
BG_JOBS=${BG_JOBS:-50000}
BG_CLIENTS=${BG_CLIENTS:-4}
WINDOW=${WINDOW:-64}
FG_CLIENTS=${FG_CLIENTS:-16}
FG_JOBS=${FG_JOBS:-2000}
WORKERS=${WORKERS:-4}
PAYLOAD=${PAYLOAD:-16}
GRAB=${GRAB:-job}
SERVER_THREADS=${SERVER_THREADS:-4}
WARMUP_JOBS=${WARMUP_JOBS:-5000}
DURABLE_JOBS=${DURABLE_JOBS:-10000}
DURABLE=${DURABLE:-1}
TIMEOUT=${TIMEOUT:-120}

cd "$(dirname "$0")/.."
ROOT=$PWD
OURS=${OURS:-$ROOT/target/release/gearmand}
ORIG=${ORIG:-/usr/sbin/gearmand}
LG=$ROOT/target/release/danga-loadgen
CLK_TCK=$(getconf CLK_TCK)

if [[ -z ${SKIP_BUILD:-} ]]; then
    cargo build --release -p gearmand -p danga-loadgen
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

# gearmand 1.1.20 runs as root without -u; both get the same flags.
SERVER_FLAGS=(-L 127.0.0.1 -l none -t "$SERVER_THREADS")
LOAD_FLAGS=(--workers "$WORKERS" --payload "$PAYLOAD" --grab "$GRAB" --timeout "$TIMEOUT")
BG_FLAGS=(--mode bg --jobs "$BG_JOBS" --clients "$BG_CLIENTS" --window "$WINDOW")
FG_FLAGS=(--mode fg --clients "$FG_CLIENTS" --jobs-per-client "$FG_JOBS")

# running PID: the process exists and has not exited (an exited child stays
# a zombie, state Z, until waited for, and kill -0 still succeeds on it).
running() {
    local state
    state=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null || true)
    [[ -n $state && $state != Z ]]
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_server KEY [EXTRA FLAGS...]: a fresh server on a free port; sets
# PID[KEY], PORT[KEY].
start_server() {
    local key=$1 try port pid i
    shift
    for try in 1 2 3 4 5; do
        port=$((20000 + RANDOM % 40000))
        port_open "$port" && continue
        "${BIN[$key]}" "${SERVER_FLAGS[@]}" "$@" -p "$port" >"$TMP/$key.log" 2>&1 &
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

# Server CPU time so far, in clock ticks (utime + stime of all threads;
# fields 14 and 15, counted after the parenthesised command name).
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

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
    { time "$LG" gearman --server "127.0.0.1:${PORT[$key]}" "$@" \
        >"$TMP/lg.out" 2>"$TMP/lg.err"; } 2>"$TMP/lg.time" || rc=$?
    LAST=$(tail -1 "$TMP/lg.out" 2>/dev/null || true)
    CLIENT_CPU=$(awk '{ printf "%.2f", $1 + $2 }' "$TMP/lg.time")
    if [[ $rc != 0 ]]; then
        echo "  [$key] danga-loadgen failed (rc=$rc): $(tail -2 "$TMP/lg.err" | tr '\n' ' ')" >&2
        return 1
    fi
}

# measure KEY COUNT_FIELD RATE_FIELD LOADGEN-ARGS...: one generator run with
# the server's CPU time around it. Sets RATE, PER_CPU, CPU, CLIENT_CPU,
# LAST; returns 1 if the run failed.
measure() {
    local key=$1 count_field=$2 rate_field=$3 before after count
    shift 3
    RATE="" PER_CPU="" CPU=""
    alive "$key"
    before=$(cpu_ticks "${PID[$key]}")
    loadgen "$key" "$@" || return 1
    alive "$key"
    after=$(cpu_ticks "${PID[$key]}")
    count=$(field "$count_field" "$LAST")
    RATE=$(field "$rate_field" "$LAST")
    CPU=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t/hz }')
    PER_CPU=$(awk -v o="$count" -v c="$CPU" 'BEGIN { if (c > 0) printf "%.0f", o/c; else print "" }')
}

# probe KEY: can the server take one background job and hand it to a worker?
probe() {
    loadgen "$1" --mode bg --jobs 1 --clients 1 --workers 1 --timeout 5 2>/dev/null
}

declare -A BG_RATES BG_CPURATES FG_RATES FG_CPURATES SKIP
# one_round KEY ROUND
one_round() {
    local key=$1 round=$2 name
    local nv="NAME_$1"
    name=${!nv}
    if measure "$key" jobs jobs_per_sec "${BG_FLAGS[@]}" "${LOAD_FLAGS[@]}"; then
        BG_RATES[$key]+="$RATE "
        BG_CPURATES[$key]+="$PER_CPU "
        printf '  round %d  %-8s  bg  %7s jobs/s  %7s jobs/server-CPU-s  (server %5s CPU-s, client %5s CPU-s, submit %s s, sleeps %s)\n' \
            "$round" "$name" "$RATE" "${PER_CPU:-n/a}" "$CPU" "$CLIENT_CPU" \
            "$(field submit_secs "$LAST")" "$(field sleeps "$LAST")"
    else
        printf '  round %d  %-8s  bg  failed: %s\n' "$round" "$name" "${LAST:-no result}"
    fi
    if measure "$key" round_trips rt_per_sec "${FG_FLAGS[@]}" "${LOAD_FLAGS[@]}"; then
        FG_RATES[$key]+="$RATE "
        FG_CPURATES[$key]+="$PER_CPU "
        printf '  round %d  %-8s  fg  %7s rt/s    %7s rt/server-CPU-s    (server %5s CPU-s, client %5s CPU-s, sleeps %s)\n' \
            "$round" "$name" "$RATE" "${PER_CPU:-n/a}" "$CPU" "$CLIENT_CPU" "$(field sleeps "$LAST")"
    else
        printf '  round %d  %-8s  fg  failed: %s\n' "$round" "$name" "${LAST:-no result}"
    fi
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== gearmand: ours ($OURS) vs original ($ORIG)"
echo "   server flags: ${SERVER_FLAGS[*]} -p PORT (in-memory queue)"
echo "   bg: ${BG_FLAGS[*]} ${LOAD_FLAGS[*]}"
echo "   fg: ${FG_FLAGS[*]} ${LOAD_FLAGS[*]}"
echo "   $ROUNDS rounds; load average at start: $LOAD_START"

start_server ours
start_server orig
echo "== warm-up: $WARMUP_JOBS background jobs on each"
for key in ours orig; do
    if ! probe "$key"; then
        echo "  $key: cannot run a background job (${LAST:-no result}); skipping it" >&2
        SKIP[$key]=1
        continue
    fi
    if loadgen "$key" --mode bg --jobs "$WARMUP_JOBS" --clients "$BG_CLIENTS" \
        --window "$WINDOW" "${LOAD_FLAGS[@]}"; then
        echo "  $key: $LAST"
    fi
done
if [[ -n ${SKIP[orig]:-} ]]; then
    echo "the original does not work here; giving up" >&2
    exit 1
fi

echo "== rounds (A B, then B A)"
for round in $(seq "$ROUNDS"); do
    if ((round % 2)); then order=(ours orig); else order=(orig ours); fi
    for key in "${order[@]}"; do
        [[ -n ${SKIP[$key]:-} ]] || one_round "$key" "$round"
    done
done
# shellcheck disable=SC2086 # word splitting wanted
for key in ours orig; do
    declare "MED_BG_$key=$(median ${BG_RATES[$key]:-})"
    declare "MED_BGCPU_$key=$(median ${BG_CPURATES[$key]:-})"
    declare "MED_FG_$key=$(median ${FG_RATES[$key]:-})"
    declare "MED_FGCPU_$key=$(median ${FG_CPURATES[$key]:-})"
done
echo "  median bg jobs/s:             ours $MED_BG_ours, original $MED_BG_orig, ratio $(ratio "$MED_BG_ours" "$MED_BG_orig")"
echo "  median bg jobs/server-CPU-s:  ours $MED_BGCPU_ours, original $MED_BGCPU_orig, ratio $(ratio "$MED_BGCPU_ours" "$MED_BGCPU_orig")"
echo "  median fg rt/s:               ours $MED_FG_ours, original $MED_FG_orig, ratio $(ratio "$MED_FG_ours" "$MED_FG_orig")"
echo "  median fg rt/server-CPU-s:    ours $MED_FGCPU_ours, original $MED_FGCPU_orig, ratio $(ratio "$MED_FGCPU_ours" "$MED_FGCPU_orig")"
stop_server ours
stop_server orig

# The durable round: only if ours has the libsqlite3 queue.
declare -A DUR_RATE DUR_CPU
DUR_RATE[ours]=n/a DUR_RATE[orig]=n/a DUR_CPU[ours]=n/a DUR_CPU[orig]=n/a
DURABLE_NOTE=""
if [[ $DURABLE == 0 ]]; then
    DURABLE_NOTE="skipped (DURABLE=0)"
elif ! "$OURS" --help 2>&1 | grep -q libsqlite3; then
    DURABLE_NOTE="skipped: \`$OURS --help\` does not mention libsqlite3"
elif [[ -n ${SKIP[ours]:-} ]]; then
    DURABLE_NOTE="skipped: ours could not run a background job"
fi
if [[ -z $DURABLE_NOTE ]]; then
    echo "== durable bg round (fresh servers, -q libsqlite3, $DURABLE_JOBS jobs)"
    for key in ours orig; do
        start_server "$key" -q libsqlite3 --libsqlite3-db "$TMP/$key-q.db"
        if measure "$key" jobs jobs_per_sec --mode bg --jobs "$DURABLE_JOBS" --clients "$BG_CLIENTS" \
            --window "$WINDOW" "${LOAD_FLAGS[@]}"; then
            DUR_RATE[$key]=$RATE
            DUR_CPU[$key]=${PER_CPU:-n/a}
            echo "  $key: $RATE jobs/s, ${PER_CPU:-n/a} jobs/server-CPU-s (server $CPU CPU-s, client $CLIENT_CPU CPU-s, submit $(field submit_secs "$LAST") s)"
        else
            echo "  $key: failed: ${LAST:-no result}"
        fi
        stop_server "$key"
    done
else
    echo "== durable bg round $DURABLE_NOTE"
fi

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
ORIG_VERSION=$("$ORIG" --version 2>&1 | awk 'NF { print $1, $2; exit }' || echo "?")

cat <<EOF

== summary (Markdown)

#### gearmand: ours vs the original ($ORIG_VERSION)

$(date -u +%Y-%m-%d), ${CPU_MODEL:-unknown CPU}, $(nproc) vCPU, load average $LOAD_START at start and $LOAD_END at the end.
Servers: \`${SERVER_FLAGS[*]}\`, in-memory queue. $ROUNDS rounds alternating the servers; medians.
bg: \`danga-loadgen gearman ${BG_FLAGS[*]} ${LOAD_FLAGS[*]}\` (jobs/s until the workers completed the last job).
fg: \`danga-loadgen gearman ${FG_FLAGS[*]} ${LOAD_FLAGS[*]}\`.

| metric | ours | original | ours / original |
|---|---:|---:|---:|
| bg jobs/s | $MED_BG_ours | $MED_BG_orig | $(ratio "$MED_BG_ours" "$MED_BG_orig") |
| bg jobs per server CPU-second | $MED_BGCPU_ours | $MED_BGCPU_orig | $(ratio "$MED_BGCPU_ours" "$MED_BGCPU_orig") |
| fg round trips/s | $MED_FG_ours | $MED_FG_orig | $(ratio "$MED_FG_ours" "$MED_FG_orig") |
| fg round trips per server CPU-second | $MED_FGCPU_ours | $MED_FGCPU_orig | $(ratio "$MED_FGCPU_ours" "$MED_FGCPU_orig") |
EOF
if [[ -z $DURABLE_NOTE ]]; then
    cat <<EOF

Durable queue, one round each on fresh servers with \`-q libsqlite3 --libsqlite3-db FILE\`, $DURABLE_JOBS bg jobs:

| metric | ours | original | ours / original |
|---|---:|---:|---:|
| durable bg jobs/s | ${DUR_RATE[ours]} | ${DUR_RATE[orig]} | $(ratio "${DUR_RATE[ours]}" "${DUR_RATE[orig]}") |
| durable bg jobs per server CPU-second | ${DUR_CPU[ours]} | ${DUR_CPU[orig]} | $(ratio "${DUR_CPU[ours]}" "${DUR_CPU[orig]}") |
EOF
else
    echo
    echo "Durable queue: $DURABLE_NOTE."
fi
