#!/usr/bin/env bash
# Side-by-side load test of reverse proxies: our perlbal, Debian's perlbal
# 1.80, nginx and haproxy, all in front of the same backend (an nginx
# serving one static file with keep-alive), loaded by wrk over persistent
# connections.
#
#   benches/perlbal.sh                   # 3 rounds of 8 s per proxy
#   ROUNDS=5 SECS=10 benches/perlbal.sh
#
# Environment: ROUNDS (3), SECS (8, one wrk run), CONNS (50), WRK_THREADS
# (1), SIZE (1024, bytes of the static file), WORKERS (2: nginx's
# worker_processes and haproxy's nbthread; ours runs one thread per CPU),
# WARMUP (2 s of wrk per proxy, not counted), OURS
# (target/release/perlbal), ORIG (/usr/bin/perlbal), NGINX
# (/usr/sbin/nginx), HAPROXY (/usr/sbin/haproxy), WRK (/usr/bin/wrk),
# PROXIES (ours orig nginx haproxy: a subset to run; also alt), SKIP_BUILD=1
# to use the binary already built. The proxy `alt` is ours again for an
# A/B in the same rounds: ALT (default OURS, e.g. a copy of an earlier
# build); OURS_ARGS and ALT_ARGS are extra flags for each (e.g.
# --runtime-layout=per-thread).
# Measures req/s, p99 latency, the proxy's CPU per request (utime+stime
# of the proxy and its child processes from /proc/PID/stat) and requests
# per CPU-second of the proxy, the backend and wrk together (the steadiest
# throughput figure on a machine shared with other work), rotating the
# order of the proxies every round so drift in the machine's load hits
# all of them; prints medians and ours/other ratios as Markdown.
# SYSCALLS=1 adds one more wrk run per proxy, after the timed rounds, under
# `perf stat` (PERF, /usr/bin/perf; needs tracepoint access, e.g. root):
# the proxy's system calls and context switches per request, by call.
# Loopback only; installs nothing; never run in CI.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
SECS=${SECS:-8}
CONNS=${CONNS:-50}
WRK_THREADS=${WRK_THREADS:-1}
SIZE=${SIZE:-1024}
WORKERS=${WORKERS:-2}
WARMUP=${WARMUP:-2}
SYSCALLS=${SYSCALLS:-0}

cd "$(dirname "$0")/.."
ROOT=$PWD
CONF=$ROOT/benches/perlbal
OURS=${OURS:-$ROOT/target/release/perlbal}
ALT=${ALT:-$OURS}
read -r -a OURS_ARGS <<<"${OURS_ARGS:-}"
read -r -a ALT_ARGS <<<"${ALT_ARGS:-}"
ORIG=${ORIG:-/usr/bin/perlbal}
NGINX=${NGINX:-/usr/sbin/nginx}
HAPROXY=${HAPROXY:-/usr/sbin/haproxy}
WRK=${WRK:-/usr/bin/wrk}
PERF=${PERF:-/usr/bin/perf}
read -r -a PROXIES <<<"${PROXIES:-ours orig nginx haproxy}"
CLK_TCK=$(getconf CLK_TCK)

if [[ -z ${SKIP_BUILD:-} ]]; then
    cargo build --release -p perlbal
fi
missing=()
[[ -x $OURS ]] || missing+=("$OURS (cargo build --release -p perlbal)")
[[ -x $ORIG ]] || missing+=("$ORIG (Debian package perlbal)")
[[ -x $NGINX ]] || missing+=("$NGINX (Debian package nginx)")
[[ -x $HAPROXY ]] || missing+=("$HAPROXY (Debian package haproxy)")
[[ -x $WRK ]] || missing+=("$WRK (Debian package wrk)")
if ((${#missing[@]})); then
    printf 'missing: %s\n' "${missing[@]}" >&2
    echo "install them (apt-get install nginx haproxy wrk perlbal) and run again" >&2
    exit 1
fi

TMP=$(mktemp -d -t danga-bench.XXXXXX)
declare -A PID PORT NAME
NAME[ours]="ours"
NAME[alt]="ours (alt)"
NAME[orig]="perlbal 1.80"
NAME[nginx]="nginx"
NAME[haproxy]="haproxy"

cleanup() {
    local k
    for k in "${!PID[@]}"; do
        stop "$k"
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# running PID: the process exists and has not exited (a zombie still
# answers kill -0).
running() {
    local state
    state=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null || true)
    [[ -n $state && $state != Z ]]
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 40000))
        port_open "$p" || { echo "$p"; return; }
    done
}

# fill TEMPLATE OUT: the @WORD@ placeholders of an nginx template.
fill() {
    sed -e "s|@TMP@|$TMP|g" -e "s|@PORT@|$PORT_NOW|g" -e "s|@BACKEND_PORT@|${PORT[backend]:-}|g" \
        -e "s|@WORKERS@|$WORKERS|g" "$1" >"$2"
}

# start KEY: one process in the foreground (no daemonising, so $! is the
# process to measure and to kill), on a free port; sets PID[KEY], PORT[KEY].
start() {
    local key=$1 try pid i
    for try in 1 2 3; do
        PORT_NOW=$(free_port)
        case $key in
            backend)
                fill "$CONF/nginx-backend.conf" "$TMP/backend.conf"
                "$NGINX" -c "$TMP/backend.conf" -p "$TMP/" -e "$TMP/backend-error.log" \
                    >"$TMP/$key.log" 2>&1 &
                ;;
            ours)
                PROXY_PORT=$PORT_NOW BACKEND_PORT=${PORT[backend]} \
                    "$OURS" --config="$CONF/danga.conf" "${OURS_ARGS[@]}" >"$TMP/$key.log" 2>&1 &
                ;;
            alt)
                PROXY_PORT=$PORT_NOW BACKEND_PORT=${PORT[backend]} \
                    "$ALT" --config="$CONF/danga.conf" "${ALT_ARGS[@]}" >"$TMP/$key.log" 2>&1 &
                ;;
            orig)
                PROXY_PORT=$PORT_NOW BACKEND_PORT=${PORT[backend]} \
                    "$ORIG" --config="$CONF/perlbal180.conf" >"$TMP/$key.log" 2>&1 &
                ;;
            nginx)
                fill "$CONF/nginx-proxy.conf" "$TMP/nginx-proxy.conf"
                "$NGINX" -c "$TMP/nginx-proxy.conf" -p "$TMP/" -e "$TMP/nginx-proxy-error.log" \
                    >"$TMP/$key.log" 2>&1 &
                ;;
            haproxy)
                PROXY_PORT=$PORT_NOW BACKEND_PORT=${PORT[backend]} WORKERS=$WORKERS \
                    "$HAPROXY" -db -f "$CONF/haproxy.cfg" >"$TMP/$key.log" 2>&1 &
                ;;
        esac
        pid=$!
        for i in $(seq 100); do
            running "$pid" || break
            if port_open "$PORT_NOW"; then
                PID[$key]=$pid
                PORT[$key]=$PORT_NOW
                return 0
            fi
            sleep 0.1
        done
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    echo "could not start $key; its log: $(tail -5 "$TMP/$key.log" | tr '\n' ' ')" >&2
    exit 1
}

stop() {
    local pid=${PID[$1]:-}
    [[ -n $pid ]] || return 0
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "PID[$1]"
}

alive() {
    running "${PID[$1]}" && return 0
    echo "$1 exited; its log: $(tail -5 "$TMP/$1.log" | tr '\n' ' ')" >&2
    exit 1
}

# CPU ticks (utime + stime) of PID and its children (nginx's workers).
cpu_ticks() {
    local p total=0 t
    for p in "$1" $(pgrep -P "$1" || true); do
        t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null || echo 0)
        total=$((total + t))
    done
    echo "$total"
}

# to_ms VALUE: wrk's 1.23ms / 456.78us / 1.02s in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f\n", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f\n", v }
        else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f\n", v * 60000 }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f\n", v * 1000 }
        else print "" }'
}

median() {
    printf '%s\n' "$@" | awk 'NF { a[n++] = $1 }
        END {
            if (n == 0) { print "n/a"; exit }
            for (i = 1; i < n; i++) for (j = i; j > 0 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
            if (n % 2) m = a[(n-1)/2]; else m = (a[n/2-1] + a[n/2]) / 2
            if (m >= 100) printf "%.0f\n", m; else printf "%.3g\n", m
        }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a+0 > 0 && b+0 > 0) printf "%.2f\n", a/b; else print "n/a" }'; }

# child_cpu: sets CHILD_CPU, the CPU seconds (user + system) of this
# shell's children that have ended (wrk's, once it has run). Called
# directly, not in $(...): a subshell starts with no children of its own.
child_cpu() {
    times >"$TMP/times"
    CHILD_CPU=$(awk 'NR == 2 { for (i = 1; i <= 2; i++) { f = $i; sub(/s$/, "", f)
        split(f, p, "m"); t += p[1] * 60 + p[2] } printf "%.3f\n", t }' "$TMP/times")
}

# wrk_run KEY SECS: sets REQS, RPS, P99 (ms), ERRS, CPU (s), CPU_US (µs
# of proxy CPU per request) and PER_CPU_S (requests per CPU-second of the
# proxy, the backend and wrk together).
wrk_run() {
    local key=$1 secs=$2 before after out b_before b_after w_before
    alive "$key"
    before=$(cpu_ticks "${PID[$key]}")
    b_before=$(cpu_ticks "${PID[backend]}")
    child_cpu
    w_before=$CHILD_CPU
    out=$(timeout $((secs + 30)) "$WRK" -t"$WRK_THREADS" -c"$CONNS" -d"${secs}s" --timeout 10s \
        --latency "http://127.0.0.1:${PORT[$key]}/index.html" 2>&1) || {
        echo "  wrk against $key failed: $out" >&2
        return 1
    }
    child_cpu
    alive "$key"
    after=$(cpu_ticks "${PID[$key]}")
    b_after=$(cpu_ticks "${PID[backend]}")
    REQS=$(awk '/requests in/ { print $1; exit }' <<<"$out")
    RPS=$(awk '/^Requests\/sec:/ { printf "%.0f\n", $2 }' <<<"$out")
    P99=$(to_ms "$(awk '$1 == "99%" { print $2; exit }' <<<"$out")")
    ERRS=$(awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 }
        END { print n + 0 }' <<<"$out")
    CPU=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t/hz }')
    CPU_US=$(awk -v c="$CPU" -v r="${REQS:-0}" 'BEGIN { if (r > 0) printf "%.1f", c * 1e6 / r; else print "" }')
    PER_CPU_S=$(awk -v c="$CPU" -v b=$((b_after - b_before)) -v hz="$CLK_TCK" -v w0="$w_before" \
        -v w1="$CHILD_CPU" -v r="${REQS:-0}" 'BEGIN { t = c + b / hz + (w1 - w0)
        if (r > 0 && t > 0) printf "%.0f", r / t; else print "" }')
}

# The system calls counted by syscall_run, besides the total.
CALLS="read write readv writev sendto recvfrom sendmsg recvmsg epoll_wait epoll_pwait futex"

# syscall_run KEY SECS: one wrk run under `perf stat` on the proxy's
# processes (all their threads); sets SC_LINE: system calls and context
# switches per request, then the calls above that are made at least once
# per hundred requests.
syscall_run() {
    local key=$1 secs=$2 pids out reqs events c perf_pid
    pids=$(echo "${PID[$key]}" $(pgrep -P "${PID[$key]}" || true) | tr ' ' ',')
    events=raw_syscalls:sys_enter,context-switches
    for c in $CALLS; do events+=",syscalls:sys_enter_$c"; done
    "$PERF" stat -x, -e "$events" -p "$pids" -o "$TMP/perf-$key.txt" &
    perf_pid=$!
    sleep 0.3
    out=$(timeout $((secs + 30)) "$WRK" -t"$WRK_THREADS" -c"$CONNS" -d"${secs}s" \
        "http://127.0.0.1:${PORT[$key]}/index.html" 2>&1) || true
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
    reqs=$(awk '/requests in/ { print $1; exit }' <<<"$out")
    SC_LINE=$(awk -F, -v r="${reqs:-0}" 'r > 0 && $1 ~ /^[0-9]+$/ {
            name = $3; sub(/^syscalls:sys_enter_/, "", name)
            if (name ~ /raw_syscalls/) total = $1 / r
            else if (name ~ /context-switches/) cs = $1 / r
            else if ($1 / r >= 0.01) calls = calls sprintf(" %s %.2f", name, $1 / r)
        }
        END { if (r > 0) printf "%.2f syscalls/req, %.3f context switches/req;%s\n", total, cs, calls }' \
        "$TMP/perf-$key.txt")
}

mkdir -p "$TMP/www"
chmod 755 "$TMP" "$TMP/www" # nginx's workers run as another user when we are root
head -c "$SIZE" /dev/zero | tr '\0' 'x' >"$TMP/www/index.html"

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== reverse proxies in front of one nginx backend ($SIZE-byte static file)"
echo "   wrk -t$WRK_THREADS -c$CONNS -d${SECS}s --latency; $ROUNDS rounds; load average at start: $LOAD_START"
start backend
for key in "${PROXIES[@]}"; do
    start "$key"
    # A proxied request must come back whole before any timing.
    got=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' --max-time 10 \
        "http://127.0.0.1:${PORT[$key]}/index.html" || true)
    if [[ $got != "200 $SIZE" ]]; then
        echo "$key does not proxy (got '$got'); its log: $(tail -5 "$TMP/$key.log" | tr '\n' ' ')" >&2
        exit 1
    fi
    echo "   ${NAME[$key]}: pid ${PID[$key]}, 127.0.0.1:${PORT[$key]}"
done

echo "== warm-up: ${WARMUP}s of wrk per proxy"
for key in "${PROXIES[@]}"; do
    wrk_run "$key" "$WARMUP"
done

declare -A RPS_ALL P99_ALL CPU_ALL PER_ALL
echo "== rounds (the order rotates every round)"
n=${#PROXIES[@]}
for round in $(seq "$ROUNDS"); do
    for i in $(seq 0 $((n - 1))); do
        key=${PROXIES[$(((i + round - 1) % n))]}
        if wrk_run "$key" "$SECS"; then
            RPS_ALL[$key]+="$RPS "
            P99_ALL[$key]+="$P99 "
            CPU_ALL[$key]+="$CPU_US "
            PER_ALL[$key]+="$PER_CPU_S "
            printf '  round %d  %-13s %8s req/s  p99 %8s ms  %6s µs proxy CPU/req  %6s req/CPU-s  (proxy %5s CPU-s, %s errors)\n' \
                "$round" "${NAME[$key]}" "$RPS" "$P99" "${CPU_US:-n/a}" "${PER_CPU_S:-n/a}" "$CPU" "$ERRS"
        fi
    done
done

declare -A MED_RPS MED_P99 MED_CPU MED_PER
for key in "${PROXIES[@]}"; do
    # shellcheck disable=SC2086
    MED_PER[$key]=$(median ${PER_ALL[$key]:-})
    # shellcheck disable=SC2086 # word splitting wanted
    MED_RPS[$key]=$(median ${RPS_ALL[$key]:-})
    # shellcheck disable=SC2086
    MED_P99[$key]=$(median ${P99_ALL[$key]:-})
    # shellcheck disable=SC2086
    MED_CPU[$key]=$(median ${CPU_ALL[$key]:-})
    printf '  median  %-13s %8s req/s  p99 %8s ms  %6s µs proxy CPU/req  %6s req/CPU-s\n' \
        "${NAME[$key]}" "${MED_RPS[$key]}" "${MED_P99[$key]}" "${MED_CPU[$key]}" "${MED_PER[$key]}"
done

declare -A SC_ALL=()
if [[ $SYSCALLS == 1 ]]; then
    if [[ -x $PERF ]] && "$PERF" stat -e raw_syscalls:sys_enter -o /dev/null true 2>/dev/null; then
        echo "== system calls per request (one ${SECS}s wrk run each under perf stat, not timed)"
        for key in "${PROXIES[@]}"; do
            syscall_run "$key" "$SECS"
            SC_ALL[$key]=$SC_LINE
            printf '  %-13s %s\n' "${NAME[$key]}" "${SC_LINE:-n/a}"
        done
    else
        echo "== SYSCALLS=1: $PERF cannot count tracepoints here (install linux-perf, run as root); skipped" >&2
    fi
fi

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
NGINX_VERSION=$("$NGINX" -v 2>&1 | sed 's|.*nginx/||')
HAPROXY_VERSION=$("$HAPROXY" -v 2>&1 | awk 'NR == 1 { print $3 }')
declare -A LABEL
LABEL[ours]="ours (\`perlbal\`, $(nproc) threads${OURS_ARGS[*]:+, ${OURS_ARGS[*]}})"
LABEL[alt]="ours (alt: $(basename "$ALT")${ALT_ARGS[*]:+, ${ALT_ARGS[*]}})"
LABEL[orig]="Perlbal 1.80 (Debian)"
LABEL[nginx]="nginx $NGINX_VERSION, $WORKERS workers"
LABEL[haproxy]="haproxy $HAPROXY_VERSION, $WORKERS threads"

cat <<EOF

== summary (Markdown)

#### perlbal: ours vs Perlbal 1.80, nginx and haproxy as reverse proxies

$(date -u +%Y-%m-%d), ${CPU_MODEL:-unknown CPU}, $(nproc) vCPU, load average $LOAD_START at start and $LOAD_END at the end.
One backend (nginx, 1 worker, a $SIZE-byte static file, keep-alive); each proxy keeps client and backend connections alive
(configs in \`benches/perlbal/\`). Load: \`wrk -t$WRK_THREADS -c$CONNS -d${SECS}s --latency\`, $ROUNDS rounds rotating the proxies; medians.
CPU per request is the proxy's utime+stime (all its threads and worker processes) over the requests wrk counted;
requests per CPU-second divide those requests by the CPU time of the proxy, the backend and wrk together
(what the three would serve per second on one core of their own, whatever else runs on the machine).

| proxy | req/s | p99 (ms) | proxy CPU per request (µs) | requests per CPU-second (proxy + backend + wrk) | req/s, ours / it | CPU per request, it / ours | requests per CPU-second, ours / it |
|---|---:|---:|---:|---:|---:|---:|---:|
EOF
for key in "${PROXIES[@]}"; do
    if [[ $key == ours ]]; then
        r1="–" r2="–" r3="–"
    else
        r1=$(ratio "${MED_RPS[ours]:-}" "${MED_RPS[$key]}")
        # less CPU is better: the other's CPU over ours
        r2=$(ratio "${MED_CPU[$key]}" "${MED_CPU[ours]:-}")
        r3=$(ratio "${MED_PER[ours]:-}" "${MED_PER[$key]}")
    fi
    echo "| ${LABEL[$key]} | ${MED_RPS[$key]} | ${MED_P99[$key]} | ${MED_CPU[$key]} | ${MED_PER[$key]} | $r1 | $r2 | $r3 |"
done
if ((${#SC_ALL[@]})); then
    echo
    echo "System calls per request (\`perf stat\`, one more ${SECS}s run each):"
    echo
    for key in "${PROXIES[@]}"; do
        echo "- ${LABEL[$key]}: ${SC_ALL[$key]:-n/a}"
    done
fi
