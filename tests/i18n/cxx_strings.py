"""Find the string literals of a C++ source file, for the catalogue's source scan.

A small tokenizer, not a C++ parser: it skips comments, character literals and preprocessor
lines, reads ordinary and raw string literals, and joins literals that C++ concatenates
("abc" "def", with only spaces or comments between them) into one sequence, because that is
one text a person reads.
"""
import re
from dataclasses import dataclass

# Learner-facing prose: two words in a row, the first a word ("The", "failed"), the second a
# lowercase word. Syscall texts ("setsockopt({}, SOL_SOCKET, SO_REUSEADDR, 1)"), state names,
# JSON keys and format-only strings ("{}: {}") do not look like this.
PROSE = re.compile(r"\b[A-Za-z][a-z]+ [a-z]{2,}\b")


@dataclass
class Sequence:
    start: int  # offset of the first literal's opening quote (or its prefix)
    end: int  # offset just past the last literal's closing quote
    text: str  # the literals' contents, joined (escapes left as written)
    line: int

    def is_prose(self) -> bool:
        return bool(PROSE.search(self.text))


def sequences(src: str):
    """Yield every Sequence of adjacent string literals in `src`."""
    i, n = 0, len(src)
    line_start = True
    current = None
    while i < n:
        c = src[i]
        if c == "\n":
            line_start = True
            i += 1
            continue
        if c in " \t\r":
            i += 1
            continue
        if line_start and c == "#":
            # A preprocessor line (with its continuations): #include "x.hpp" is no text.
            while i < n and src[i] != "\n":
                if src[i] == "\\" and i + 1 < n and src[i + 1] == "\n":
                    i += 2
                    continue
                i += 1
            if current:
                yield current
                current = None
            continue
        line_start = False
        if src.startswith("//", i):
            while i < n and src[i] != "\n":
                i += 1
            continue
        if src.startswith("/*", i):
            j = src.find("*/", i + 2)
            i = n if j < 0 else j + 2
            continue
        m = re.match(r'(u8|u|U|L)?R"([^(\s]*)\(', src[i:i + 40])
        if m and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            delim = ")" + m.group(2) + '"'
            body = i + m.end()
            j = src.find(delim, body)
            j = n if j < 0 else j
            text = src[body:j]
            end = j + len(delim)
            current = _extend(current, src, i, end, text)
            i = end
            continue
        m = re.match(r'(u8|u|U|L)?"', src[i:i + 3])
        if m and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            j = i + m.end()
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            current = _extend(current, src, i, j + 1, src[i + m.end():j])
            i = j + 1
            continue
        if c == "'" and not (i > 0 and src[i - 1].isalnum()):  # 1'000 digit separators
            j = i + 1
            while j < n and src[j] != "'":
                j += 2 if src[j] == "\\" else 1
            i = j + 1
            continue
        if current:
            yield current
            current = None
        i += 1
    if current:
        yield current


def _extend(current, src, start, end, text):
    if current is None:
        return Sequence(start, end, text, src.count("\n", 0, start) + 1)
    current.end = end
    current.text += text
    return current


def code_before(src: str, seq: Sequence, width: int = 80) -> str:
    """The code just before a sequence, comments and whitespace squeezed out of its end."""
    return src[max(0, seq.start - width):seq.start].rstrip()
