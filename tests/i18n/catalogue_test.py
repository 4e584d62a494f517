"""The Korean catalogue against the sources (ctest: i18n_catalogue_*).

  completeness  every text the sources mark (extracted afresh with xgettext, as the `pot`
                target does) has a Korean translation in po/ko.po: non-empty, not fuzzy
  placeholders  every translation has the msgid's placeholders: fmt's {} / {0} / {:>5}
                (as a multiset; Korean may reorder them with {1} {0}) and printf's %s / %zu
                (in order: printf cannot reorder without %1$)
  scan          no prose string literal in the scanned sources bypasses _() (scan_sources.py),
                and the scan itself finds a planted one
"""
import pathlib
import re
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import scan_sources  # noqa: E402


def parse_po(path):
    """Entries of a PO file: dicts with msgid, msgid_plural, msgstr (list), fuzzy, line."""
    entries, cur, field = [], None, None

    def flush():
        if cur and cur.get("msgid") is not None:
            entries.append(cur)

    cur = {"msgstr": {}, "fuzzy": False}
    for n, raw in enumerate(pathlib.Path(path).read_text(encoding="utf-8").split("\n"), 1):
        line = raw.strip()
        if not line:
            flush()
            cur, field = {"msgstr": {}, "fuzzy": False}, None
            continue
        if line.startswith("#,"):
            cur["fuzzy"] = "fuzzy" in line
            continue
        if line.startswith("#"):
            continue
        m = re.match(r'(msgctxt|msgid_plural|msgid|msgstr)(?:\[(\d+)\])?\s+"(.*)"$', line)
        if m:
            key, idx, text = m.group(1), m.group(2), m.group(3)
            if key == "msgstr":
                field = ("msgstr", int(idx or 0))
                cur["msgstr"][field[1]] = text
            else:
                field = (key, None)
                cur[key] = text
                cur.setdefault("line", n)
            continue
        m = re.match(r'"(.*)"$', line)
        if m and field:
            if field[0] == "msgstr":
                cur["msgstr"][field[1]] += m.group(1)
            else:
                cur[field[0]] += m.group(1)
    flush()
    return entries


FMT = re.compile(r"\{\{|\}\}|\{(\d*)(:[^{}]*)?\}")
PRINTF = re.compile(r"%%|%[-+ #0]*(?:\*|\d+)?(?:\.(?:\*|\d+))?(?:hh|h|ll|l|z|j|t|L)?[diouxXeEfgGcsp]")


def fmt_placeholders(s):
    # {N:spec} -> {:spec}: the argument index may change, the argument and its format not
    return sorted("{" + (m.group(2) or "") + "}" for m in FMT.finditer(s) if m.group(0) not in ("{{", "}}"))


def printf_placeholders(s):
    return [m.group(0) for m in PRINTF.finditer(s) if m.group(0) != "%%"]


def extract(source_dir, build_dir):
    """xgettext over the same files and with the same options as the `pot` target."""
    files = (pathlib.Path(build_dir) / "po" / "sources.txt").read_text().split()
    out = pathlib.Path(tempfile.mkdtemp()) / "fresh.pot"
    subprocess.run(["xgettext", "--language=C++", "--from-code=UTF-8", "--keyword=_",
                    "--keyword=N_", "--keyword=tr_n:1,2", f"--output={out}", *files],
                   cwd=source_dir, check=True)
    return parse_po(out)


def test_completeness(source_dir, build_dir):
    ko = {e["msgid"]: e for e in parse_po(pathlib.Path(source_dir) / "po" / "ko.po")}
    bad = []
    for e in extract(source_dir, build_dir):
        if not e["msgid"]:
            continue
        t = ko.get(e["msgid"])
        if t is None:
            bad.append(f"not in po/ko.po: \"{e['msgid'][:80]}\"")
        elif t["fuzzy"]:
            bad.append(f"po/ko.po:{t['line']}: fuzzy: \"{e['msgid'][:80]}\"")
        elif not t["msgstr"] or any(not v for v in t["msgstr"].values()):
            bad.append(f"po/ko.po:{t['line']}: no Korean for \"{e['msgid'][:80]}\"")
    # msgfmt agrees: every message translated, none fuzzy or untranslated
    stats = subprocess.run(["msgfmt", "--check", "--statistics", "-o", "/dev/null",
                            str(pathlib.Path(source_dir) / "po" / "ko.po")],
                           capture_output=True, text=True)
    if stats.returncode != 0 or "fuzzy" in stats.stderr or "untranslated" in stats.stderr:
        bad.append("msgfmt: " + stats.stderr.strip())
    return bad


def test_placeholders(source_dir, build_dir):
    bad = []
    for e in parse_po(pathlib.Path(source_dir) / "po" / "ko.po"):
        if not e["msgid"]:
            continue
        sources = [e["msgid"]] + ([e["msgid_plural"]] if e.get("msgid_plural") else [])
        for t in e["msgstr"].values():
            if not t:
                continue
            for src in sources:
                if fmt_placeholders(src) != fmt_placeholders(t):
                    bad.append(f"po/ko.po:{e['line']}: {{}} placeholders differ: "
                               f"{fmt_placeholders(src)} vs {fmt_placeholders(t)} in \"{src[:60]}\"")
                if printf_placeholders(src) != printf_placeholders(t):
                    bad.append(f"po/ko.po:{e['line']}: % placeholders differ: "
                               f"{printf_placeholders(src)} vs {printf_placeholders(t)} in \"{src[:60]}\"")
    # the check itself tells a difference apart
    assert fmt_placeholders("{} of {:>3}") == fmt_placeholders("{1:>3}의 {0}")
    assert fmt_placeholders("{} of {}") != fmt_placeholders("{}")
    assert printf_placeholders("%s: %zu") != printf_placeholders("%zu: %s")
    return bad


def test_scan(source_dir, build_dir):
    bad = [f"{r}:{n}: text outside the catalogue: \"{t[:80]}\""
           for r, n, t in scan_sources.unmarked(pathlib.Path(source_dir))]
    # a planted text is found, a marked one is not
    with tempfile.TemporaryDirectory() as d:
        (pathlib.Path(d) / "cli").mkdir()
        (pathlib.Path(d) / "cli" / "x.cpp").write_text(
            'void f() {\n  fmt::print("The client closes first\\n");\n'
            '  std::puts(_("The server reads the end"));\n'
            '  auto s = tr_n("one socket is left", "{} sockets are left", n);\n'
            '  // "a comment is not a text"\n  g("close({})", fd);\n'
            '  lab.step({.title = "Listen", .call = "listen(3, 5)"});\n}\n')
        found = list(scan_sources.unmarked(pathlib.Path(d)))
        if [t for _, _, t in found] != ["The client closes first\\n", "Listen"]:
            bad.append(f"the scan is broken: it found {found}")
    return bad


TESTS = {"completeness": test_completeness, "placeholders": test_placeholders, "scan": test_scan}

if __name__ == "__main__":
    name, source_dir, build_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    problems = TESTS[name](source_dir, build_dir)
    for p in problems:
        print(p)
    print(f"{name}: {len(problems)} problem(s)")
    sys.exit(1 if problems else 0)
