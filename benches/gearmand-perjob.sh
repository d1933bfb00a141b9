#!/usr/bin/env bash
# Per-job counts of a gearmand under a fixed foreground (or background)
# load: system calls (strace -c), instructions (callgrind) and task clock,
# context switches (perf stat), and under perf the load generator's own
# task clock and context switches per job too: on a 2-core machine the
# generator shares the cores, so its cost bounds the jobs/s that
# benches/gearmand.sh can show. Counts, unlike jobs/s, hold on a loaded
# machine, so this is how a change to the server's hot path is judged.
#
#   benches/gearmand-perjob.sh                       # ours (target/release/gearmand)
#   SERVER=/usr/sbin/gearmand benches/gearmand-perjob.sh
#   TOOLS="strace perf" JOBS=1000 benches/gearmand-perjob.sh
#
# Environment: SERVER (target/release/gearmand), LG (target/release/
# danga-loadgen), TOOLS ("strace callgrind perf"), MODE (fg | bg), CLIENTS
# (16), JOBS (2000 per client in fg, in all in bg), WORKERS (4), PAYLOAD
# (16), SERVER_THREADS (4, the server's -t), WARMUP (2000 jobs), TOP (15
# functions listed by callgrind, by their own instructions; the frames
# every thread starts in, at 100%, are left out).
# Each tool gets a fresh server, warmed up before it is measured; strace
# and perf attach to the running server for the measured run only, and
# callgrind's counters are zeroed after the warm-up. Loopback only.
set -euo pipefail

cd "$(dirname "$0")/.."
SERVER=${SERVER:-$PWD/target/release/gearmand}
LG=${LG:-$PWD/target/release/danga-loadgen}
TOOLS=${TOOLS:-strace callgrind perf}
MODE=${MODE:-fg}
CLIENTS=${CLIENTS:-16}
JOBS=${JOBS:-2000}
WORKERS=${WORKERS:-4}
PAYLOAD=${PAYLOAD:-16}
SERVER_THREADS=${SERVER_THREADS:-4}
WARMUP=${WARMUP:-2000}

TMP=$(mktemp -d -t gearmand-perjob.XXXXXX)
SPID=
TPID=
cleanup() {
    [[ -n $TPID ]] && kill "$TPID" 2>/dev/null || true
    [[ -n $SPID ]] && kill "$SPID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

load() { # PORT MODE JOBS [PREFIX...]: the generator, under PREFIX if given
    local port=$1 mode=$2 n=$3 flags
    shift 3
    if [[ $mode == fg ]]; then
        flags=(--mode fg --clients "$CLIENTS" --jobs-per-client "$((n / CLIENTS))")
    else
        flags=(--mode bg --clients "$CLIENTS" --jobs "$n" --window 64)
    fi
    "$@" "$LG" gearman --server "127.0.0.1:$port" "${flags[@]}" --workers "$WORKERS" \
        --payload "$PAYLOAD" --grab job --timeout 600 >"$TMP/lg.out" 2>&1 \
        || { echo "loadgen failed: $(tail -3 "$TMP/lg.out")" >&2; return 1; }
}

start() { # PREFIX...: the server under PREFIX, on a fresh port
    PORT=$(free_port)
    "$@" "$SERVER" -L 127.0.0.1 -p "$PORT" -l none -t "$SERVER_THREADS" >"$TMP/server.out" 2>&1 &
    SPID=$!
    for _ in $(seq 1 300); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "server did not start: $(tail -3 "$TMP/server.out")" >&2
    return 1
}

stop() {
    kill "$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
    SPID=
}

if [[ $MODE == fg ]]; then
    TOTAL=$(((JOBS / CLIENTS) * CLIENTS))
else
    TOTAL=$JOBS
fi
echo "server: $SERVER -t $SERVER_THREADS; $MODE, $TOTAL jobs measured, $CLIENTS clients, $WORKERS workers, payload $PAYLOAD"

for tool in $TOOLS; do
    case $tool in
    strace)
        start
        load "$PORT" "$MODE" "$WARMUP"
        strace -c -f -p "$SPID" -o "$TMP/strace.out" 2>/dev/null &
        TPID=$!
        sleep 1
        load "$PORT" "$MODE" "$TOTAL"
        kill -INT "$TPID"
        wait "$TPID" 2>/dev/null || true
        TPID=
        stop
        awk -v n="$TOTAL" '
            $1 ~ /^[0-9.]+$/ && NF >= 5 {
                calls = $4; name = $NF
                if (name == "total") { total = calls; next }
                per[name] = calls / n
            }
            END {
                printf "strace: %.1f system calls per job:", total / n
                for (k in per) if (per[k] >= 0.05) printf " %s %.2f", k, per[k]
                printf "\n"
            }' "$TMP/strace.out"
        ;;
    callgrind)
        start valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.%p" --dump-instr=no
        load "$PORT" "$MODE" "$WARMUP"
        callgrind_control --zero "$SPID" >/dev/null 2>&1
        load "$PORT" "$MODE" "$TOTAL"
        callgrind_control --dump "$SPID" >/dev/null 2>&1
        sleep 1
        stop
        f=$(ls "$TMP"/cg.*.1 | head -1)
        ir=$(callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
        echo "callgrind: $((ir / TOTAL)) instructions per job (user space, all threads)"
        callgrind_annotate --inclusive=no --threshold=100 --auto=no "$f" 2>/dev/null \
            | sed -n '/file:function/,$p' | grep -v -e '^-*$' -e '(100.0%)' | sed -n "2,$((${TOP:-15} + 1))p" \
            | sed -E 's/ \[[^]]*\]$//' >"$TMP/top"
        sed 's/^/  /' "$TMP/top"
        ;;
    perf)
        start
        load "$PORT" "$MODE" "$WARMUP"
        perf stat -x, -e task-clock,context-switches,cpu-migrations -p "$SPID" -o "$TMP/perf.out" &
        TPID=$!
        sleep 1
        load "$PORT" "$MODE" "$TOTAL" perf stat -x, -e task-clock,context-switches -o "$TMP/perf.lg"
        kill -INT "$TPID"
        wait "$TPID" 2>/dev/null || true
        TPID=
        stop
        awk -F, -v n="$TOTAL" '
            $3 == "task-clock" { printf "perf: %.1f us task clock per job", $1 * 1000 / n }
            $3 == "context-switches" { printf ", %.2f context switches per job", $1 / n }
            $3 == "cpu-migrations" { printf ", %.3f migrations per job", $1 / n }
            END { printf "\n" }' "$TMP/perf.out"
        awk -F, -v n="$TOTAL" '
            $3 == "task-clock" { printf "perf: the load generator: %.1f us task clock per job", $1 * 1000 / n }
            $3 == "context-switches" { printf ", %.2f context switches per job", $1 / n }
            END { printf "\n" }' "$TMP/perf.lg"
        ;;
    *)
        echo "unknown tool $tool" >&2
        exit 64
        ;;
    esac
done
