#!/usr/bin/env bash
# Builds and runs the fuzz targets with libFuzzer on stable Rust.
#
# libFuzzer needs coverage instrumentation, which stable rustc gives through
# LLVM's SanitizerCoverage pass (-C passes=sancov-module and -C llvm-args,
# both stable flags); libfuzzer-sys compiles libFuzzer itself (C++, with the
# system's c++). No nightly toolchain, no cargo-fuzz, no sanitizer: the
# workspace forbids unsafe code, so AddressSanitizer would find little, and
# -Zsanitizer is nightly-only.
#
#   fuzz/run.sh build                 build every target (target/fuzz/)
#   fuzz/run.sh build-ci              build fuzz_all as `ci` does
#   fuzz/run.sh list                  the target names
#   fuzz/run.sh run TARGET [SECS] [libFuzzer flags...]
#                                     fuzz one target (default 60 s)
#   fuzz/run.sh campaign SECS         every target for SECS, two at a time,
#                                     logs and stats in target/fuzz/logs/
#   fuzz/run.sh smoke SECS            every target for SECS, one at a time;
#                                     fails on a finding
#   fuzz/run.sh ci SECS               what CI runs: builds the one binary
#                                     holding every target (fuzz_all) with
#                                     the cheaper fuzz-ci profile, then runs
#                                     every target for SECS, two at a time;
#                                     fails on a finding
#   fuzz/run.sh repro TARGET FILE     run one input (a crash) and show why
#
# New corpus entries go to target/fuzz/corpus/TARGET (the committed seeds in
# fuzz/corpus/TARGET are read, never written); crashes to
# target/fuzz/artifacts/TARGET/. Commit a crash that you fixed to
# fuzz/regressions/TARGET/ under a name saying what it was.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

triple=$(rustc -vV | sed -n 's/^host: //p')
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$PWD/target/fuzz}
bin_dir=$CARGO_TARGET_DIR/$triple/release
ci_bin=$CARGO_TARGET_DIR/$triple/fuzz-ci/fuzz_all
work=$CARGO_TARGET_DIR
# Set by `ci`: run every target from the fuzz-ci build of fuzz_all.
use_ci=0

# What cargo-fuzz passes, minus the sanitizer. --cfg fuzzing as it does;
# debug assertions and overflow checks on, so arithmetic overflow is found.
flags=(
    -Cpasses=sancov-module
    -Cllvm-args=-sanitizer-coverage-level=4
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
    -Cllvm-args=-sanitizer-coverage-pc-table
    -Cllvm-args=-sanitizer-coverage-trace-compares
    -Cllvm-args=-sanitizer-coverage-stack-depth
    --cfg fuzzing
    -Cdebug-assertions
    -Coverflow-checks
)

targets() {
    sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v -e '^danga-fuzz$' -e '^fuzz_all$'
}

build() {
    # FUZZ_BIN=NAME builds only that binary (e.g. fuzz_all)
    if [[ -n ${FUZZ_BIN:-} ]]; then
        RUSTFLAGS="${flags[*]}" nice -n 10 cargo build --release --target "$triple" \
            -p danga-fuzz --features libfuzzer --bin "$FUZZ_BIN"
        return
    fi
    # --target: build scripts and proc macros are not instrumented.
    RUSTFLAGS="${flags[*]}" nice -n 10 cargo build --release --target "$triple" \
        -p danga-fuzz --features libfuzzer --bins
}

build_ci() {
    RUSTFLAGS="${flags[*]}" nice -n 10 cargo build --profile fuzz-ci --target "$triple" \
        -p danga-fuzz --features libfuzzer --bin fuzz_all
}

# Flags every run gets: connection-loop inputs may be longer (a 4,000-key
# get line), every run stops a hang after 20 s and a 2 GB process.
common_flags() {
    local t=$1
    local len=4096
    [[ $t == *_conn ]] && len=65536
    echo "-max_len=$len -timeout=20 -rss_limit_mb=2048 -print_final_stats=1"
}

run_one() {
    local t=$1 secs=$2
    shift 2
    mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
    local dirs=("$work/corpus/$t" "fuzz/corpus/$t")
    [[ -d fuzz/regressions/$t ]] && dirs+=("fuzz/regressions/$t")
    # A target's own binary, else the one holding every target.
    local bin=$bin_dir/$t
    [[ -x $bin ]] || bin=$bin_dir/fuzz_all
    ((use_ci)) && bin=$ci_bin
    # shellcheck disable=SC2046
    DANGA_FUZZ_TARGET=$t "$bin" $(common_flags "$t") -max_total_time="$secs" \
        -artifact_prefix="$work/artifacts/$t/" "$@" "${dirs[@]}"
}

case ${1:-} in
build)
    build
    ;;
build-ci)
    build_ci
    ;;
list)
    targets
    ;;
run)
    [[ $# -ge 2 ]] || { echo "usage: $0 run TARGET [SECS] [flags...]" >&2; exit 64; }
    t=$2
    secs=${3:-60}
    shift $(($# < 3 ? $# : 3))
    run_one "$t" "$secs" "$@"
    ;;
campaign | smoke | ci)
    [[ $# -eq 2 ]] || { echo "usage: $0 $1 SECS" >&2; exit 64; }
    secs=$2
    jobs=2
    [[ $1 == smoke ]] && jobs=1
    if [[ $1 == ci ]]; then
        start=$SECONDS
        build_ci
        echo "fuzz_all built in $((SECONDS - start)) s"
        use_ci=1
    fi
    mkdir -p "$work/logs"
    failed=0
    running=0
    for t in $(targets); do
        (
            # One block per target, printed at once (two run side by side).
            log=$work/logs/$t.log
            if run_one "$t" "$secs" >"$log" 2>&1; then
                report="$t: ok"$'\n'$(grep -E \
                    '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+[[:space:]]+DONE)' \
                    "$log" | sed "s/^/  $t: /")
                printf '%s\n' "$report"
            else
                report="$t: FAILED (see $log), its last lines:"$'\n'$(tail -n 40 "$log" | sed "s/^/  $t: /")
                printf '%s\n' "$report"
                exit 1
            fi
        ) &
        running=$((running + 1))
        if ((running >= jobs)); then
            wait -n || failed=1
            running=$((running - 1))
        fi
    done
    while ((running > 0)); do
        wait -n || failed=1
        running=$((running - 1))
    done
    exit $failed
    ;;
repro)
    [[ $# -eq 3 ]] || { echo "usage: $0 repro TARGET FILE" >&2; exit 64; }
    # shellcheck disable=SC2046
    bin=$bin_dir/$2
    [[ -x $bin ]] || bin=$bin_dir/fuzz_all
    DANGA_FUZZ_TARGET=$2 "$bin" $(common_flags "$2") "$3"
    ;;
*)
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    exit 64
    ;;
esac
