#!/usr/bin/env python3
"""Write the generated parts of the lab pages from real runs of the labs themselves.

For every lab in the catalogue (`socklab lab list --json`), in a network namespace of its own:
  - one run in the terminal form (`--auto`, 100 columns) becomes the page's "A real run" block;
  - one run in the step protocol (`--auto --json`) becomes its "The segments" block: an ASCII
    ladder of the TCP segments each step caused, with the state changes of both ends.
The blocks sit between markers in docs/labs/NN-<id>.md and are replaced, never edited by hand:

    <!-- generated: transcript -->  ...  <!-- /generated -->
    <!-- generated: ladder -->      ...  <!-- /generated -->

A page without the markers gets both blocks in front of its "## Questions to try" section.
The lab test (`Labs/EveryLab.AutoJsonMeetsEveryExpectation`) fails when a page's transcript no
longer shows the steps and calls the lab runs, so a page cannot drift from its lab.

usage: sudo docs/labs/transcripts.py [--build-dir build/dev] [--only ID ...]
Needs root: the namespace, and the tracer and the capture that show transitions and segments.
"""
import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "docs" / "labs"
WIDTH = 100
TIMEOUT_S = 120


def die(msg):
    print(f"transcripts.py: {msg}", file=sys.stderr)
    sys.exit(1)


def in_netns(argv, env=None):
    """Run argv in a fresh network namespace with only loopback up; return stdout."""
    script = 'ip link set lo up && exec "$@"'
    full = ["unshare", "--net", "--", "sh", "-c", script, "sh", *argv]
    res = subprocess.run(full, capture_output=True, text=True, timeout=TIMEOUT_S, env=env)
    if res.returncode != 0:
        die(f"{' '.join(argv)} exited {res.returncode}:\n{res.stderr[-2000:]}")
    return res.stdout


def transcript(program):
    env = dict(os.environ, COLUMNS=str(WIDTH), LANG="C.UTF-8", LC_ALL="C.UTF-8")
    env.pop("LANGUAGE", None)
    out = in_netns([program, "--auto"], env)
    return out.rstrip("\n")


def ladder(program, lab_port):
    env = dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8")
    out = in_netns([program, "--auto", "--json"], env)
    steps = []  # (number, call, [(time, kind, data)])
    current = None
    for line in out.splitlines():
        ev = json.loads(line)
        if ev.get("event") == "step":
            current = [ev["step"], ev["call"], []]
            steps.append(current)
            for t in ev.get("transitions", []):
                current[2].append((t["time_ns"], "state", t))
        elif ev.get("event") == "observed" and current is not None:
            for s in ev.get("segments", []):
                current[2].append((s["time_ns"], "segment", s))
    return render_ladder(steps, lab_port)


def render_ladder(steps, lab_port):
    """Client ends on the left, the lab's port on the right; arrows for segments."""
    inner = 44
    lines = [f"{'client (other ports)':<22}{'':{inner}}{'server :' + str(lab_port)}"]
    any_segment = False
    for number, call, events in steps:
        events.sort(key=lambda e: e[0])
        body = []
        for _, kind, d in events:
            if kind == "state":
                text = f"{d['old_state']} → {d['new_state']}"
                if d["local_port"] == lab_port:
                    body.append(f"{'':22}{'':{inner}}{text}")
                else:
                    port = f":{d['local_port']} " if d["local_port"] else ""
                    body.append(f"{port + text:<22}")
            else:
                any_segment = True
                # Named as people say them: SYN-ACK, FIN-ACK, PSH-ACK.
                order = ["SYN", "FIN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"]
                flags = "-".join(sorted(d["flags"], key=lambda f: order.index(f) if f in order else 99))
                label = f" {flags} seq {d['seq']}"
                if "ACK" in d["flags"]:
                    label += f" ack {d['ack']}"
                if d["len"]:
                    label += f" len {d['len']}"
                label += " "
                if d["dst_port"] == lab_port:
                    who = f":{d['src_port']}"
                    arrow = ("─" * 2 + label).ljust(inner - 1, "─") + "►"
                else:
                    who = f":{d['dst_port']}"
                    arrow = "◄" + (label + "─" * 2).rjust(inner - 1, "─")
                body.append(f"{who:<22}{arrow}")
        if not body:
            continue
        lines.append("")
        lines.append(f"step {number}: {call}")
        lines.extend(b.rstrip() for b in body)
    if not any_segment:
        return None
    return "\n".join(lines)


def replace_block(page, name, text, heading, intro):
    start = f"<!-- generated: {name} -->"
    end = "<!-- /generated -->"
    block = f"{start}\n```text\n{text}\n```\n{end}"
    if start in page:
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
        return pattern.sub(lambda _: block, page, count=1)
    section = f"## {heading}\n{intro}\n\n{block}\n\n"
    anchor = page.find("## Questions to try")
    if anchor < 0:
        return page.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    return page[:anchor] + section + page[anchor:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=str(ROOT / "build" / "dev"))
    ap.add_argument("--only", nargs="*", default=None, help="lab ids")
    args = ap.parse_args()
    if os.geteuid() != 0:
        die("needs root (a network namespace per run; the tracer and the capture)")
    bindir = Path(args.build_dir) / "bin"
    socklab = bindir / "socklab"
    if not socklab.exists():
        die(f"no {socklab}: build first (cmake --build --preset dev)")
    catalogue = json.loads(subprocess.run([str(socklab), "lab", "list", "--json"], check=True,
                                          capture_output=True, text=True).stdout)
    for lab in catalogue:
        lab_id, number, port = lab["id"], lab["number"], lab["default_port"]
        if args.only is not None and lab_id not in args.only:
            continue
        page_path = PAGES / f"{number:02d}-{lab_id}.md"
        if not page_path.exists():
            die(f"lab {lab_id} has no page {page_path.relative_to(ROOT)}")
        program = str(bindir / f"socklab-lab-{lab_id}")
        page = page_path.read_text()
        page = replace_block(
            page, "transcript", transcript(program), "A real run",
            f"`socklab lab run {lab_id} --auto` on Linux {os.uname().release}, as root (so the "
            "transitions and segments are shown), generated by `docs/labs/transcripts.py`. Ports "
            "the kernel chose and descriptor numbers differ from run to run.")
        drawn = ladder(program, port)
        if drawn is not None:
            page = replace_block(
                page, "ladder", drawn, "The segments",
                "Every TCP segment the steps caused, captured on loopback, with the state changes "
                "of both ends in the order the kernel made them (sequence numbers relative to each "
                "side's first). From the same kind of run, `--auto --json`.")
        page_path.write_text(page)
        print(f"{page_path.relative_to(ROOT)}: written", file=sys.stderr)


if __name__ == "__main__":
    main()
