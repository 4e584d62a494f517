#!/usr/bin/env bash
# tracer.sh — does `socklab trace` see every transition under connection churn, and what does
# it cost? For each rate, socklab-churn opens and closes loopback connections in a private
# network namespace for --duration seconds while `socklab trace --port P --json` records them.
# Reports per rate: connections made, transitions expected (10 per connection + 2 for the
# listener) and traced, events the kernel lost, and the CPU time of the socklab trace process.
# Rate 0 means "as fast as socklab-churn can". Writes bench/results/tracer-<date>.json.
#
# usage: bench/scripts/tracer.sh [--rates "1000 5000 10000 0"] [--duration 10] [--port 40999]
#                                [--threads 4] [--build-dir DIR] [--no-build] [--out-dir DIR]
# Needs root (tracefs, network namespaces), jq and GNU time (/usr/bin/time).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=timed_trace.sh
source "$here/timed_trace.sh"
root=$(cd "$here/../.." && pwd)
rates="1000 5000 10000 15000 0"
duration=10
port=40999
threads=4
build_dir=""
build=1
out_dir="$root/bench/results"

die() { echo "tracer.sh: $*" >&2; exit 1; }
usage() { sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --rates) rates=${2:?--rates needs a value}; shift 2 ;;
        --duration|--port|--threads|--build-dir) churn_option "$1" "${2:-}"; shift 2 ;;
        --no-build) build=0; shift ;;
        --out-dir) out_dir=${2:?--out-dir needs a value}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "tracer.sh: unknown argument '$1'; see --help" >&2; exit 2 ;;
    esac
done
[[ $duration =~ ^[0-9]+$ ]] && ((duration >= 1 && duration <= 600)) || { echo "tracer.sh: --duration must be 1..600 seconds" >&2; exit 2; }
[[ $port =~ ^[0-9]+$ ]] && ((port >= 1 && port <= 65535)) || { echo "tracer.sh: --port must be 1..65535" >&2; exit 2; }
[[ $threads =~ ^[0-9]+$ ]] && ((threads >= 1 && threads <= 64)) || { echo "tracer.sh: --threads must be 1..64" >&2; exit 2; }
for r in $rates; do
    [[ $r =~ ^[0-9]+$ ]] && ((r <= 1000000)) || { echo "tracer.sh: rate '$r' must be 0..1000000" >&2; exit 2; }
done
((EUID == 0)) || die "needs root for tracefs and network namespaces; run it with sudo"
for tool in jq awk /usr/bin/time; do
    command -v "$tool" >/dev/null || die "'$tool' is not installed (apt-get install jq gawk time)"
done

if [[ -z $build_dir ]]; then
    build_dir="$root/build/release"
    if ((build)); then
        (cd "$root" && cmake --preset release >/dev/null && cmake --build --preset release --target socklab socklab-churn) \
            || die "failed to build the release preset; fix the build or pass --build-dir/--no-build"
    fi
elif ((build)); then
    cmake --build "$build_dir" --target socklab socklab-churn || die "failed to build in $build_dir"
fi
socklab="$build_dir/bin/socklab"
churn="$build_dir/bin/socklab-churn"
[[ -x $socklab && -x $churn ]] || die "no socklab/socklab-churn in $build_dir/bin; build them or pass --build-dir"

work=$(mktemp -d /tmp/socklab-tracer-bench.XXXXXX)
cleanup() {
    trace_cleanup
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

results=()
printf '%-8s %10s %12s %12s %12s %6s %9s %8s\n' RATE ACHIEVED CONNECTIONS EXPECTED TRACED LOST CPU_S CPU_%
for rate in $rates; do
    jsonl="$work/trace-$rate.jsonl"
    trace_start "$jsonl" "$work/trace-$rate.err" "$work/time-$rate" --port "$port" --json --duration $((duration + 60))

    summary=$("$churn" --rate "$rate" --duration "$duration" --port "$port" --threads "$threads" --json) \
        || die "socklab-churn failed at rate $rate: $summary"
    expected=$(jq -r .expected_transitions <<<"$summary")
    # Let the reader drain what is still in the buffer (bounded), then stop it like Ctrl-C.
    last=-1
    for ((i = 0; i < 100; i++)); do
        n=$(wc -l <"$jsonl")
        ((n >= expected || n == last)) && break
        last=$n
        sleep 0.1
    done
    trace_stop "$work/trace-$rate.err"

    traced=$(wc -l <"$jsonl")
    lost=$(sed -n 's/.* transitions shown, \([0-9]*\) lost.*/\1/p' "$work/trace-$rate.err" | tail -1)
    read -r user sys _ < <(tail -1 "$work/time-$rate")
    elapsed=$(jq -r .elapsed_s <<<"$summary")
    achieved=$(jq -r .rate <<<"$summary")
    cpu_s=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
    cpu_pct=$(awk -v c="$cpu_s" -v e="$elapsed" 'BEGIN { printf "%.1f", 100 * c / e }')
    printf '%-8s %10s %12s %12s %12s %6s %9s %8s\n' "$rate" "$achieved" "$(jq -r .connections <<<"$summary")" \
        "$expected" "$traced" "${lost:-?}" "$cpu_s" "$cpu_pct"
    results+=("$(jq -c --arg rate "$rate" --argjson traced "$traced" --argjson lost "${lost:-null}" \
        --argjson cpu_s "$cpu_s" --argjson cpu_pct "$cpu_pct" \
        '{requested_rate: ($rate|tonumber), achieved_rate: .rate, connections, elapsed_s,
          expected_transitions, traced: $traced, lost: $lost, tracer_cpu_s: $cpu_s,
          tracer_cpu_percent_of_one_core: $cpu_pct}' <<<"$summary")")
done

mkdir -p "$out_dir"
out="$out_dir/tracer-$(date -u +%Y%m%dT%H%M%SZ).json"
printf '%s\n' "${results[@]}" | jq -s --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" --arg kernel "$(uname -r)" --arg cpus "$(nproc)" --argjson duration "$duration" \
    '{kernel: $kernel, cpus: ($cpus|tonumber), load_average: $load, duration_s: $duration, runs: .,
      highest_zero_loss_rate: ([.[] | select(.lost == 0 and .traced == .expected_transitions) | .achieved_rate] | max)}' >"$out"
echo "highest rate with every transition traced and none lost: $(jq -r .highest_zero_loss_rate "$out")/s"
echo "results: $out"
