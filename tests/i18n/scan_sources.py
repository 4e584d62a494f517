"""Texts a person reads must come from the catalogue: find prose string literals outside _().

Scans the C++ sources of the programs a learner uses (cli/, labs/, frontend/, helper/, the
state explanations and the port doctor in core/) for string literals that read like prose
("The client closes first", "failed to parse host") and are not the argument of _(), N_() or
tr_n(). Each one left is a failure, unless ALLOW names it with a reason, or its line ends in
the comment `// i18n: allow` (for a text compared with another program's English output).
"""
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from cxx_strings import sequences  # noqa: E402

SCANNED = [
    "cli/*.cpp", "cli/*.hpp", "labs/*.cpp", "labs/labkit/*.cpp", "labs/labkit/*.hpp",
    "frontend/src/*.cpp", "frontend/include/socklab/*.hpp", "helper/*.cpp", "helper/*.hpp",
    "core/src/state.cpp", "core/src/doctor*.cpp",
    "viewer/main.cpp", "viewer/panels/*.cpp", "viewer/model/*.cpp", "viewer/ui/*.cpp",
]

# (file, start of the text): why it stays English.
# Empty today: every such text is in the catalogue.
ALLOW: dict = {}

# Where any text is for a learner, prose or not: a lab step's title and explanation, a note.
LEARNER_FIELD = re.compile(r"(?:\.(?:title|explain)\s*=|\bnote\()\s*$")
MARKED = re.compile(r"(?:\b_|\bN_|\btr_n)\(\s*$")
TR_N_PLURAL = re.compile(r"\btr_n\(\s*(?:\"(?:[^\"\\]|\\.)*\"\s*)+,\s*$", re.S)


def unmarked(root: pathlib.Path):
    """(file, line, text) of every prose literal that bypasses the catalogue."""
    for pattern in SCANNED:
        for path in sorted(root.glob(pattern)):
            src = path.read_text(encoding="utf-8")
            lines = src.split("\n")
            rel = str(path.relative_to(root))
            for seq in sequences(src):
                before = src[:seq.start]
                if not seq.is_prose() and not LEARNER_FIELD.search(before[-80:]):
                    continue
                if MARKED.search(before) or TR_N_PLURAL.search(before[-400:]):
                    continue
                end_line = src.count("\n", 0, seq.end)
                if lines[end_line].rstrip().endswith("// i18n: allow"):
                    continue
                if any(rel == f and seq.text.startswith(t) for f, t in ALLOW):
                    continue
                yield rel, seq.line, seq.text


def main() -> int:
    root = pathlib.Path(sys.argv[1]).resolve()
    found = list(unmarked(root))
    for rel, line, text in found:
        print(f"{rel}:{line}: text outside the catalogue: \"{text[:90]}\"")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
