#!/bin/sh
# fuzz/run.sh [SECONDS] — build the "fuzz" preset (clang + libFuzzer) and run every fuzz_*
# target for SECONDS each (default 20), seeded from fuzz/corpus/<target>/. New inputs go to a
# scratch corpus, never into the repository; a crash leaves its input in $FUZZ_OUT/<target>/
# and makes the script exit non-zero. Turn every crash into a regression test in tests/core.
#   FUZZ_BUILD_DIR=build/my-fuzz fuzz/run.sh 300    # a build dir of your own, 5 min each
set -eu
seconds=${1:-20}
case $seconds in ''|*[!0-9]*) echo "usage: $0 [SECONDS]   (a whole number)" >&2; exit 2;; esac
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build/fuzz}
out=${FUZZ_OUT:-$(mktemp -d /tmp/socklab-fuzz.XXXXXX)}

cd "$root"
if [ -n "${FUZZ_BUILD_DIR:-}" ]; then
    # Same settings as the preset, in the build directory asked for.
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
        -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DSOCKLAB_BUILD_FUZZ=ON \
        -DSOCKLAB_BUILD_TESTS=OFF -DSOCKLAB_BUILD_BENCH=OFF -DSOCKLAB_BUILD_VIEWER=OFF >/dev/null
else
    cmake --preset fuzz >/dev/null
fi
targets=$(cd fuzz && ls fuzz_*.cpp | sed 's/\.cpp$//')
# shellcheck disable=SC2086
cmake --build "$build" --target $targets -j"${JOBS:-2}"

status=0
for t in $targets; do
    mkdir -p "$out/$t/corpus" "$out/$t/crashes"
    seeds=$root/fuzz/corpus/$t
    [ -d "$seeds" ] || seeds=
    echo "== $t: ${seconds}s (scratch: $out/$t)"
    # shellcheck disable=SC2086
    if ! "$build/bin/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="$out/$t/crashes/" \
            "$out/$t/corpus" $seeds >"$out/$t/log" 2>&1; then
        echo "!! $t failed; input(s) in $out/$t/crashes/, log in $out/$t/log" >&2
        tail -n 30 "$out/$t/log" >&2
        status=1
    else
        grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$out/$t/log" || true
    fi
done
[ $status -eq 0 ] && [ -z "${FUZZ_OUT:-}" ] && rm -rf "$out"
exit $status
