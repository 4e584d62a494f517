#!/usr/bin/env bash
# lives.sh — the socket lives in a `socklab trace --json` output: each transition joined to its
# socket (skaddr) and a life cut where one starts (CLOSE -> ..., or an accepted socket's
# LISTEN -> SYN_RECV), then the paths the lives took, most common first, and every life whose
# path is rare (fewer than --rare lives took it) with its ports and times. A life that does not
# end in CLOSE is still open, or lost some of its transitions. Listeners are left out.
#
# usage: bench/scripts/lives.sh TRACE.jsonl [--rare 10]
set -euo pipefail

file=${1:-}
rare=10
[[ -n $file && $file != -* ]] || { echo "lives.sh: give the trace's JSON lines file; see --help" >&2; exit 2; }
shift
while [[ $# -gt 0 ]]; do
    case $1 in
        --rare) rare=${2:?--rare needs a value}; shift 2 ;;
        -h|--help) sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "lives.sh: unknown argument '$1'; see --help" >&2; exit 2 ;;
    esac
done
[[ -r $file ]] || { echo "lives.sh: cannot read $file" >&2; exit 1; }
[[ $rare =~ ^[0-9]+$ ]] || { echo "lives.sh: --rare must be a whole number" >&2; exit 2; }

# Fields are taken as text (skaddr is a 64-bit kernel address: no floating point on the way).
grep -F '"old_state":' "$file" | awk -v rare="$rare" '
function field(name,    m) {
    if (match($0, "\"" name "\":\"?[^,\"}]*")) {
        m = substr($0, RSTART + length(name) + 3, RLENGTH - length(name) - 3)
        sub(/^"/, "", m)
        return m
    }
    return ""
}
{
    sk = field("skaddr"); from = field("old_state"); to = field("new_state")
    lp = field("local_port"); rp = field("remote_port"); t = field("time_ns")
    if (rp == "0" && (to == "LISTEN" || from == "LISTEN")) next          # a listener
    if (from == "CLOSE" || (from == "LISTEN" && rp != "0") || !(sk in cur)) {
        n++; cur[sk] = n; path[n] = ""; first[n] = t
    }
    l = cur[sk]
    path[l] = path[l] (path[l] == "" ? "" : " ") from ">" to
    if (lp != "0") ports[l] = lp "<->" rp
    last[l] = t; steps[l]++; total++
}
END {
    for (i = 1; i <= n; i++) count[path[i]]++
    printf "%d transitions in %d socket lives (listeners left out)\n", total, n
    for (p in count) printf "%8d  %s\n", count[p], p | "sort -rn"
    close("sort -rn")
    shown = 0
    for (i = 1; i <= n; i++) {
        if (count[path[i]] >= rare) continue
        if (!shown++) printf "lives whose path fewer than %d took:\n", rare
        printf "  %s  %s..%s  %s\n", ports[i], first[i], last[i], path[i]
    }
}'
