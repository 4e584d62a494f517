#!/usr/bin/env bash
# causes.sh — does `socklab trace --packets --syscalls` see every segment, transition and
# call under connection churn, and what does it cost? socklab-churn opens and closes loopback
# connections for --duration seconds inside one private network namespace that this script
# makes, while `socklab trace --packets --syscalls --port P --json` records them there.
# Checked exactly against independent counts:
#   segments     == the namespace's Tcp OutSegs + RetransSegs delta (/proc/net/snmp; every
#                   TCP segment in it is one of the churn's, and each is captured once on lo)
#   transitions  == 10 per connection + 2 for the listener (socklab-churn's expectation)
#   connect()    == accepted connections == connections made (one call each)
# plus the losses socklab reports (trace buffer, capture drops). Prints CPU seconds of the
# socklab process and CPU per 1k connections/s. The final figure needs a quiet machine.
#
# usage: bench/scripts/causes.sh [--rate 5000] [--duration 10] [--port 40998] [--threads 4]
#                                [--build-dir DIR]
# Needs root (tracefs, capture, network namespaces), jq and GNU time (/usr/bin/time).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=timed_trace.sh
source "$here/timed_trace.sh"
root=$(cd "$here/../.." && pwd)
rate=5000
duration=10
port=40998
threads=4
build_dir="$root/build/release"

die() { echo "causes.sh: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
    case $1 in
        --rate) rate=${2:?--rate needs a value}; shift 2 ;;
        --duration|--port|--threads|--build-dir) churn_option "$1" "${2:-}"; shift 2 ;;
        -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "causes.sh: unknown argument '$1'; see --help" >&2; exit 2 ;;
    esac
done
[[ $rate =~ ^[0-9]+$ ]] || { echo "causes.sh: --rate must be a whole number" >&2; exit 2; }
[[ $duration =~ ^[0-9]+$ ]] && ((duration >= 1 && duration <= 600)) || { echo "causes.sh: --duration must be 1..600" >&2; exit 2; }
[[ $port =~ ^[0-9]+$ ]] && ((port >= 1 && port <= 65535)) || { echo "causes.sh: --port must be 1..65535" >&2; exit 2; }
((EUID == 0)) || die "needs root for tracefs, capture and network namespaces; run it with sudo"
for tool in jq awk unshare /usr/bin/time; do command -v "$tool" >/dev/null || die "'$tool' is not installed"; done
socklab="$build_dir/bin/socklab"
churn="$build_dir/bin/socklab-churn"
[[ -x $socklab && -x $churn ]] || die "no socklab/socklab-churn in $build_dir/bin (cmake --build --preset release --target socklab socklab-churn)"

if [[ ${1:-} != --inside && -z ${SOCKLAB_CAUSES_INSIDE:-} ]]; then
    # Everything below runs in a network namespace of its own: the capture sees only lo there.
    exec unshare -n -- env SOCKLAB_CAUSES_INSIDE=1 "${BASH_SOURCE[0]}" --rate "$rate" \
        --duration "$duration" --port "$port" --threads "$threads" --build-dir "$build_dir"
fi
ip link set lo up

work=$(mktemp -d /tmp/socklab-causes-bench.XXXXXX)
cleanup() {
    trace_cleanup
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

tcp_counter() {  # value of a Tcp: counter in this namespace's /proc/net/snmp
    awk -v k="$1" '$1 == "Tcp:" && !h { for (i = 2; i <= NF; i++) col[$i] = i; h = 1; next }
                   $1 == "Tcp:" && h { print $col[k] }' /proc/net/snmp
}

out_before=$(( $(tcp_counter OutSegs) + $(tcp_counter RetransSegs) ))
jsonl="$work/causes.jsonl"
trace_start "$jsonl" "$work/err" "$work/time" --packets --syscalls --port "$port" --json --duration $((duration + 120))

summary=$("$churn" --host-netns --rate "$rate" --duration "$duration" --port "$port" --threads "$threads" --json) \
    || die "socklab-churn failed: $summary"
out_after=$(( $(tcp_counter OutSegs) + $(tcp_counter RetransSegs) ))
connections=$(jq -r .connections <<<"$summary")
expected_transitions=$(jq -r .expected_transitions <<<"$summary")
expected_segments=$((out_after - out_before))
# Let the reader drain (bounded: until its output stops growing), then stop it like Ctrl-C.
last=-1
for ((i = 0; i < 600; i++)); do
    n=$(wc -l <"$jsonl")
    ((n == last)) && break
    last=$n
    sleep 0.5
done
trace_stop "$work/err"

segments=$(grep -c '"kind":"segment"' "$jsonl" || true)
transitions=$(grep -c '"kind":"transition"' "$jsonl" || true)
connects=$(grep -c '"call":"connect"' "$jsonl" || true)
accepts=$(grep -cE '"call":"accept4?"' "$jsonl" || true)
read -r user sys _ < <(tail -1 "$work/time")
elapsed=$(jq -r .elapsed_s <<<"$summary")
achieved=$(jq -r .rate <<<"$summary")
cpu_s=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
per_k=$(awk -v c="$cpu_s" -v e="$elapsed" -v r="$achieved" 'BEGIN { printf "%.1f", 100 * c / e / (r / 1000) }')
losses=$(grep -o '[0-9]* trace events lost, [0-9]* segments dropped' "$work/err" || echo "? ?")

printf 'achieved %s conn/s for %ss: %s connections\n' "$achieved" "$elapsed" "$connections"
printf '%-12s %12s %12s\n' WHAT EXPECTED SEEN
printf '%-12s %12s %12s\n' segments "$expected_segments" "$segments" transitions "$expected_transitions" "$transitions" \
    connect "$connections" "$connects" accept "$connections" "$accepts"
printf 'socklab: %s\n' "$losses"
printf 'socklab CPU %s s = %s%% of one core per 1k conn/s\n' "$cpu_s" "$per_k"
ok=1
((segments == expected_segments && transitions == expected_transitions && connects == connections && accepts == connections)) || ok=0
if ((ok)); then echo "zero loss: every count matches"; exit 0; fi
# Keep what was seen, and say which socket lives do not add up (each connection should be a
# client and a server life of five transitions each).
kept="/tmp/socklab-causes-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
cp "$jsonl" "$kept"
"$here/lives.sh" "$kept" --rare 10 | head -60
echo "MISMATCH: see the counts above; the trace is kept in $kept (bench/scripts/lives.sh reads it)"
exit 1
