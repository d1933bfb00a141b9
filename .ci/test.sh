#!/usr/bin/env bash
# The project's test command (see README.md, "Quick start"); CI runs it through .ci/run.
#
#  1. installs the Debian packages listed in .ci/apt/*.txt that are missing,
#  2. pip-installs the requirements in .ci/pip/*.txt (if any),
#  3. starts MariaDB if it is installed but not answering,
#  4. runs cargo fmt --check, clippy (-D warnings), builds every binary
#     (debug for the tests, release for the install test),
#  5. runs cargo nextest with the `ci` profile,
#  6. runs every fuzz target for 10 s under libFuzzer (fuzz/run.sh ci: one
#     instrumented binary, built with the fuzz-ci profile), printing each
#     target's execution count,
#  7. prints the ten slowest tests.
#
# Exits with nextest's status, else the fuzz run's (or earlier, with the
# status of the step that failed).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# ---------------------------------------------------------------- helpers

section_name=""
section_start=0
script_start=$SECONDS

end_section() {
    if [[ -n "$section_name" ]]; then
        printf '== %s: done in %ds\n' "$section_name" $((SECONDS - section_start))
        section_name=""
    fi
}

section() {
    end_section
    section_name=$1
    section_start=$SECONDS
    printf '\n== %s\n' "$1"
}

# Remove /usr/sbin/policy-rc.d on exit, but only if this script created it.
created_policy_rc_d=0
cleanup() {
    if [[ "$created_policy_rc_d" == 1 ]]; then
        rm -f /usr/sbin/policy-rc.d
        created_policy_rc_d=0
    fi
}
trap cleanup EXIT

# Print the package names in the given list files: one per line, with '#'
# comments, surrounding whitespace and blank lines removed.
list_entries() {
    sed -e 's/#.*//' -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' "$@" | grep -v '^$' || true
}

is_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

shopt -s nullglob

# ---------------------------------------------------------------- Debian packages

section "installing packages"
apt_lists=(.ci/apt/*.txt)
missing=()
if ((${#apt_lists[@]})); then
    while IFS= read -r pkg; do
        if ! is_installed "$pkg"; then
            missing+=("$pkg")
        fi
    done < <(list_entries "${apt_lists[@]}" | sort -u)
fi
if ((${#missing[@]})); then
    echo "missing Debian packages: ${missing[*]}"
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        # Keep package postinst scripts from starting daemons; we start what we need.
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy_rc_d=1
    fi
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
    cleanup
else
    echo "all Debian packages from .ci/apt/*.txt are installed"
fi

# ---------------------------------------------------------------- pip packages

pip_lists=()
for f in .ci/pip/*.txt; do
    if [[ -n "$(list_entries "$f")" ]]; then
        pip_lists+=("$f")
    fi
done
if ((${#pip_lists[@]})); then
    section "installing pip packages"
    for f in "${pip_lists[@]}"; do
        echo "pip install -r $f"
        python3 -m pip install --quiet --disable-pip-version-check -r "$f"
    done
fi

# ---------------------------------------------------------------- MariaDB

if [[ -x /usr/sbin/mariadbd ]] && command -v mariadb-admin >/dev/null; then
    section "mariadb"
    if mariadb-admin ping >/dev/null 2>&1; then
        echo "MariaDB is up"
    else
        echo "MariaDB is not answering; starting /usr/sbin/mariadbd"
        install -d -o mysql /run/mysqld
        start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql ||
            echo "warning: start-stop-daemon failed to start mariadbd" >&2
        up=0
        for _ in $(seq 1 60); do
            if mariadb-admin ping >/dev/null 2>&1; then
                up=1
                break
            fi
            sleep 1
        done
        if ((up)); then
            echo "MariaDB is up"
        else
            echo "warning: MariaDB did not answer within 60 s; MariaDB tests will fail or skip" >&2
        fi
    fi
fi

export DANGA_MYSQL_URL="${DANGA_MYSQL_URL:-mysql://root@127.0.0.1:3306/test}"

# ---------------------------------------------------------------- cargo

section "fmt"
cargo fmt --all --check

section "clippy"
cargo clippy --workspace --all-targets -- -D warnings

section "build binaries"
cargo build --workspace --bins

# The release build is what contrib/install.sh installs (without danga-fuzz,
# whose tokio test-util feature would otherwise reach the daemons); tests/it/install.rs
# checks that every installed binary runs and stays under 10 MB.
section "build release binaries"
cargo build --release --workspace --exclude danga-fuzz --bins

section "nextest"
junit_candidates=(target/nextest/ci/junit.xml)
if [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
    junit_candidates=("$CARGO_TARGET_DIR/nextest/ci/junit.xml" "${junit_candidates[@]}")
fi
rm -f "${junit_candidates[@]}" # never report on a previous run
status=0
cargo nextest run --workspace --profile ci --no-fail-fast || status=$?

# Every fuzz target briefly under libFuzzer (see fuzz/README.md): a crash,
# a budget break or a hang fails the run.
section "fuzz smoke"
fuzz_status=0
fuzz/run.sh ci 10 || fuzz_status=$?
end_section

printf '== total: %ds, nextest exit status %d, fuzz smoke exit status %d\n\n' \
    $((SECONDS - script_start)) "$status" "$fuzz_status"
if ((status == 0)); then
    status=$fuzz_status
fi

# Last, so that the final lines of the log are the slowest tests and the counts.
junit=${junit_candidates[0]}
for f in "${junit_candidates[@]}"; do
    if [[ -f "$f" ]]; then
        junit=$f
        break
    fi
done
python3 .ci/slowest.py "$junit" || true

exit "$status"
