#!/usr/bin/env bash
# interleave.sh RUNS WARMUP CMDFILE
#
# Time the commands listed in CMDFILE (one per line: "name<TAB>command") side by side:
# WARMUP untimed rounds, then RUNS rounds in which every command runs once, each round
# starting one command later so no tool always runs right after another. Every command runs
# the same way — eval'd by this shell, stdout and stderr to /dev/null — and is timed with
# $EPOCHREALTIME (wall, µs) and bash's `time` (user + sys CPU, ms).
# Prints one line per timed run: "round<TAB>name<TAB>wall_s<TAB>cpu_s<TAB>exit_code".
# A name starting with '@' is a probe, not a contender: it runs untimed before each timed
# round and its first output line is printed as "round<TAB>@name<TAB>output<TAB>-<TAB>-"
# (cli.sh counts TIME_WAIT sockets this way, as they come and go while timing).
# cli.sh runs this inside the population's namespace (ip netns exec), so `ip` itself is not
# part of any measurement.
set -uo pipefail

if [[ $# -ne 3 || ! $1 =~ ^[0-9]+$ || ! $2 =~ ^[0-9]+$ || ! -r $3 ]]; then
    echo "usage: interleave.sh RUNS WARMUP CMDFILE" >&2
    exit 2
fi
runs=$1 warmup=$2 cmdfile=$3
names=() cmds=() probe_names=() probe_cmds=()
while IFS=$'\t' read -r name cmd; do
    [[ -z $name || $name == \#* ]] && continue
    if [[ $name == @* ]]; then
        probe_names+=("$name") probe_cmds+=("$cmd")
    else
        names+=("$name") cmds+=("$cmd")
    fi
done <"$cmdfile"
n=${#names[@]}
((n > 0)) || { echo "interleave.sh: no commands in $cmdfile" >&2; exit 2; }

TIMEFORMAT='%3U %3S'
cpu_file=$(mktemp)
trap 'rm -f "$cpu_file"' EXIT

for ((round = -warmup; round < runs; ++round)); do
    for ((p = 0; round >= 0 && p < ${#probe_names[@]}; ++p)); do
        value=$(eval "${probe_cmds[p]}" 2>/dev/null | head -n 1)
        printf '%d\t%s\t%s\t-\t-\n' "$round" "${probe_names[p]}" "$value"
    done
    for ((k = 0; k < n; ++k)); do
        i=$(((k + (round < 0 ? 0 : round)) % n))
        t0=$EPOCHREALTIME
        { time eval "${cmds[i]}" >/dev/null 2>&1; } 2>"$cpu_file"
        rc=${PIPESTATUS[0]}
        t1=$EPOCHREALTIME
        ((round < 0)) && continue
        read -r user sys <"$cpu_file"
        # EPOCHREALTIME is "seconds.microseconds"; integer arithmetic on µs avoids bc.
        wall_us=$(((${t1/./} - ${t0/./})))
        printf '%d\t%s\t%d.%06d\t%s\t%d\n' "$round" "${names[i]}" $((wall_us / 1000000)) \
            $((wall_us % 1000000)) "$(awk -v u="$user" -v s="$sys" 'BEGIN{printf "%.3f", u + s}')" "$rc"
    done
done
