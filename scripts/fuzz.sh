#!/usr/bin/env bash
# Runs every cargo-fuzz target for a while and prints executions, time and crashes per target.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (default 600 s, all seven targets)
#   FUZZ_JOBS=2 scripts/fuzz.sh 600           (targets run this many at a time; default 2)
#   FUZZ_PROFILE=dev scripts/fuzz.sh 30       (unoptimized build: minutes faster to build, fewer
#                                              executions per second; for CI's smoke run)
#   scripts/fuzz.sh build                     (install cargo-fuzz if missing and build the
#                                              targets, run nothing; CI builds them this way
#                                              while the tests run)
#
# Builds without a sanitizer (`-s none`), which works on stable Rust. New inputs libFuzzer
# finds go to target/fuzz-corpus/<target>/, not to the committed seeds in fuzz/corpus/, so a
# run leaves the tree clean; copy the small interesting ones over by hand. A crash leaves its
# input in fuzz/artifacts/<target>/ and makes the script exit non-zero.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
build_only=false
if [ "${1:-}" = build ]; then
    build_only=true
    shift
fi
seconds=${1:-600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(memtable_ops table_bytes page_bytes filter_bytes wal_record manifest engine_ops)
fi
jobs=${FUZZ_JOBS:-2}
profile=()
case ${FUZZ_PROFILE:-release} in
    release) ;;
    dev) profile=(--dev) ;;
    *) echo "FUZZ_PROFILE must be release or dev" >&2; exit 2 ;;
esac

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install --locked cargo-fuzz@0.13.2
fi

cd fuzz
echo "building the fuzz targets (${FUZZ_PROFILE:-release}, no sanitizer)"
cargo fuzz build -s none "${profile[@]}"
if [ "$build_only" = true ]; then
    exit 0
fi
logs="$root/target/fuzz-logs"
mkdir -p "$logs"

run_one() {
    local target=$1
    local scratch="$root/target/fuzz-corpus/$target"
    mkdir -p "$scratch"
    if cargo fuzz run -s none "${profile[@]}" "$target" "$scratch" "corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$logs/$target.log" 2>&1; then
        echo "ok" >"$logs/$target.status"
    else
        echo "FAILED" >"$logs/$target.status"
    fi
}

running=0
for target in "${targets[@]}"; do
    run_one "$target" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait

failed=0
printf '%-14s %14s %9s %8s  %s\n' target executions seconds exec/s result
for target in "${targets[@]}"; do
    log="$logs/$target.log"
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    secs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o 'in [0-9]*' | grep -o '[0-9]*' || echo '?')
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    status=$(cat "$logs/$target.status" 2>/dev/null || echo "FAILED")
    [ "$status" = ok ] || failed=1
    printf '%-14s %14s %9s %8s  %s\n' "$target" "$execs" "$secs" "$rate" "$status"
done
echo "logs: $logs"
exit "$failed"
