#!/usr/bin/env bash
# report.sh RESULTS.json — the Markdown tables docs/performance.md shows, from one cli.sh run:
# medians (wall, and CPU in brackets) per command and size, then the ratios vs the targets.
set -euo pipefail
[[ $# -eq 1 && -r $1 ]] || { echo "usage: report.sh bench/results/cli-<date>.json" >&2; exit 2; }
command -v jq >/dev/null || { echo "report.sh: needs jq (apt-get install jq)" >&2; exit 1; }

jq -r '
  def ms: if . == null then "n/a" else (. * 10000 | round / 10 | tostring) end;
  def cell: if .ok then "\(.median_wall_s | ms) (\(.median_cpu_s | ms))" else "FAILED" end;
  . as $root
  | ($root.sizes | map(.sockets)) as $sizes
  | "| command | " + ($sizes | map("\(.) sockets: wall (CPU) ms") | join(" | ")) + " |",
    "|---|" + ($sizes | map("---:") | join("|")) + "|",
    ($root.sizes[0].results[] | .name as $n | .command as $c
     | "| `\($c | sub("^.*/socklab "; "socklab "))` | "
       + ([$root.sizes[] | .results[] | select(.name == $n) | cell] | join(" | ")) + " |"),
    "",
    "| comparison | sockets | wall ratio | CPU ratio | target | met |",
    "|---|---:|---:|---:|---:|---|",
    ($root.ratios[] | "| \(.comparison) | \(.sockets) | \(.wall_ratio // "n/a") | \(.cpu_ratio // "n/a") | "
       + "\(if .target == null then "–" else "≤ \(.target)" end) | "
       + "\(if .met == null then "–" elif .met then "**yes**" else "**no**" end) |")
' "$1"
