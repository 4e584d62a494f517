#!/usr/bin/env bash
# viewer.sh — the viewer at N real sockets: socklab-population builds the table in a network
# namespace of its own, socklab-churn opens and closes connections inside it (--rate per
# second), and socklab-viewer runs there under xvfb-run with the tracer and the owner scan on,
# measuring --frames frames. Prints the viewer's --bench-out JSON (ui_ms, frame_ms, poll_ms,
# publish_ms as {p50,p99,max}) and writes it to bench/results/viewer-<date>.json.
#
# usage: bench/scripts/viewer.sh [--sockets 100000] [--rate 1000] [--frames 1200]
#                                [--interval 1000] [--build-dir DIR] [--no-build] [--out-dir DIR]
# Needs root (network namespaces, the tracer), iproute2, xvfb, jq.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
sockets=100000
rate=1000
frames=1200
interval=1000
build_dir=""
build=1
out_dir="$root/bench/results"

die() { echo "viewer.sh: $*" >&2; exit 1; }
usage() { sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --sockets) sockets=${2:?--sockets needs a value}; shift 2 ;;
        --rate) rate=${2:?--rate needs a value}; shift 2 ;;
        --frames) frames=${2:?--frames needs a value}; shift 2 ;;
        --interval) interval=${2:?--interval needs a value}; shift 2 ;;
        --build-dir) build_dir=${2:?--build-dir needs a value}; shift 2 ;;
        --no-build) build=0; shift ;;
        --out-dir) out_dir=${2:?--out-dir needs a value}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "viewer.sh: unknown argument '$1'; see --help" >&2; exit 2 ;;
    esac
done
[[ $sockets =~ ^[0-9]+$ ]] && ((sockets >= 100 && sockets <= 500000)) || { echo "viewer.sh: --sockets must be 100..500000" >&2; exit 2; }
[[ $rate =~ ^[0-9]+$ ]] && ((rate <= 20000)) || { echo "viewer.sh: --rate must be 0..20000 (0: no churn)" >&2; exit 2; }
[[ $frames =~ ^[0-9]+$ ]] && ((frames >= 10 && frames <= 100000)) || { echo "viewer.sh: --frames must be 10..100000" >&2; exit 2; }
[[ $interval =~ ^[0-9]+$ ]] && ((interval >= 100 && interval <= 5000)) || { echo "viewer.sh: --interval must be 100..5000 (ms)" >&2; exit 2; }
((EUID == 0)) || die "needs root to build the population in a network namespace; run it with sudo"
for tool in ip jq xvfb-run; do
    command -v "$tool" >/dev/null || die "'$tool' is not installed (apt-get install iproute2 jq xvfb)"
done

if [[ -z $build_dir ]]; then
    build_dir="$root/build/release"
    if ((build)); then
        (cd "$root" && cmake --preset release >/dev/null &&
            cmake --build --preset release --target socklab-viewer socklab-population socklab-churn) \
            || die "failed to build the release preset; fix the build or pass --build-dir/--no-build"
    fi
elif ((build)); then
    cmake --build "$build_dir" --target socklab-viewer socklab-population socklab-churn || die "failed to build in $build_dir"
fi
viewer="$build_dir/bin/socklab-viewer"
population="$build_dir/bin/socklab-population"
churn="$build_dir/bin/socklab-churn"
[[ -x $viewer && -x $population && -x $churn ]] || die "no socklab-viewer, socklab-population or socklab-churn in $build_dir/bin; build first"
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build_dir/CMakeCache.txt" 2>/dev/null || true)

work=$(mktemp -d /tmp/socklab-viewer-bench.XXXXXX)
netns="vbench$$"
churn_pid=""
cleanup() {
    if [[ -n $churn_pid ]]; then kill -TERM "$churn_pid" 2>/dev/null || true; wait "$churn_pid" 2>/dev/null || true; fi
    if [[ -n ${POP[1]:-} ]]; then exec {POP[1]}>&- || true; fi
    if [[ -n ${POP_PID:-} ]]; then wait "$POP_PID" 2>/dev/null || true; fi
    if ip netns list 2>/dev/null | grep -qw "$netns"; then ip netns del "$netns" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

coproc POP { exec "$population" --sockets "$sockets" --netns "$netns" --hold; }
read -r -t 600 -u "${POP[0]}" ready || die "the population did not get ready"
jq -e .ready >/dev/null <<<"$ready" || die "the population did not get ready: $ready"
echo "population: $(jq -c '{sockets,states,setup_ms}' <<<"$ready")" >&2

if ((rate > 0)); then
    # Churn inside the population's namespace, for longer than the frames can take.
    ip netns exec "$netns" "$churn" --host-netns --rate "$rate" --duration 3600 --port 9099 \
        >"$work/churn.out" 2>&1 &
    churn_pid=$!
fi

out="$work/viewer.json"
ip netns exec "$netns" xvfb-run -a -s "-screen 0 1600x1000x24" "$viewer" --interval "$interval" \
    --bench-frames "$frames" --bench-out "$out" >"$work/viewer.log" 2>&1 \
    || { cat "$work/viewer.log" >&2; die "the viewer failed"; }

mkdir -p "$out_dir"
result="$out_dir/viewer-$(date -u +%Y%m%dT%H%M%SZ).json"
jq --argjson population "$ready" --arg build "$build_type" --argjson rate "$rate" \
    --argjson interval "$interval" --arg kernel "$(uname -r)" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
    '. + {population: $population, build: $build, churn_per_s: $rate, interval_ms: $interval, kernel: $kernel, load_average: $load}' \
    "$out" >"$result"
jq '{sockets, polls, seconds, poll_ms, publish_ms, poll_cpu_ms, poll_phases_ms, ui_ms, ui_cpu_ms, frame_ms, snapshot_ms, poll_build_ms}' "$result"
echo "written: $result" >&2
