#!/usr/bin/env python3
"""Man pages and shell completions for socklab's programs, generated from the programs
themselves at build time so they never drift from what the programs accept.

Every program prints its help with CLI11; this reads that help (and each subcommand's help,
recursively), `--version`, and `socklab lab list --json` for the lab ids, and writes:

  clidoc.py man  PROGRAM SECTION OUT    a roff man page
  clidoc.py bash PROGRAM OUT            a bash completion script (bash-completion's dir)
  clidoc.py zsh  PROGRAM OUT            a zsh completion function (_PROGRAM)

Option values are completed from what the help shows: a choice list ({TERM,KILL} or
both|server|client), file names for TEXT, nothing for numbers. `socklab lab run ID` completes
the lab ids and numbers from `socklab lab list --json`.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field

COLUMN = 30  # CLI11's default column width: names on the left, descriptions from here


@dataclass
class Entry:
    names: list[str]          # "-s", "--state" (options) or "PORT" (positionals)
    value: str = ""          # the value placeholder: "TEXT:STATE ...", "MS", "" for a flag
    desc: str = ""

    @property
    def takes_value(self) -> bool:
        return bool(self.value)

    @property
    def choices(self) -> list[str]:
        m = re.search(r"\{([^{}]*)\}", self.value)
        if m:
            return [c for c in m.group(1).split(",") if c]
        if "|" in self.value and " " not in self.value:
            return self.value.split("|")
        return []

    @property
    def repeatable(self) -> bool:
        return self.value.endswith("...")

    @property
    def wants_file(self) -> bool:
        # A plain TEXT (no validator, no choices): the viewer's --screenshot FILE and the like.
        return self.value.removesuffix("...").strip() == "TEXT"

    @property
    def value_name(self) -> str:
        return self.value.removesuffix("...").strip().split(":")[-1].lower()


@dataclass
class Command:
    path: list[str]           # ["socklab", "lab", "run"]
    description: str = ""
    usage: str = ""
    positionals: list[Entry] = field(default_factory=list)
    options: list[Entry] = field(default_factory=list)
    subcommands: list[Command] = field(default_factory=list)
    sub_entries: list[Entry] = field(default_factory=list)  # as the parent's help lists them
    footer: str = ""

    @property
    def sub_descs(self) -> dict[str, str]:
        return {e.names[0]: e.desc for e in self.sub_entries}


def run(argv: list[str]) -> str:
    env = dict(os.environ, LC_ALL="C", LANG="C")
    env.pop("LANGUAGE", None)
    p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    if p.returncode != 0:
        sys.exit(f"clidoc: failed to run {' '.join(argv)}: exit {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def split_entry(line: str) -> tuple[str, str]:
    """One help line: the name column and the description (CLI11 pads names to COLUMN)."""
    if len(line) > COLUMN and line[COLUMN - 1] == " " and line[:COLUMN].strip():
        return line[:COLUMN].strip(), line[COLUMN:].strip()
    return line.strip(), ""


def parse_entry(text: str, positional: bool) -> Entry:
    # Drop what CLI11 appends after the value: requirements, exclusions, defaults.
    text = re.sub(r"\s+(REQUIRED|Excludes:.*|Needs:.*)$", "", text)
    text = re.sub(r"\s+\[[^\]]*\]", "", text)
    first, _, rest = text.partition(" ")
    if positional:
        return Entry([first], rest.strip())
    return Entry(first.split(","), rest.strip())


def parse_help(path: list[str], text: str) -> Command:
    cmd = Command(path)
    lines = text.rstrip("\n").split("\n")
    i = 0
    desc = []
    while i < len(lines) and not lines[i].startswith("Usage:"):
        desc.append(lines[i])
        i += 1
    if i == len(lines):
        sys.exit(f"clidoc: no 'Usage:' line in the help of {' '.join(path)}")
    cmd.description = "\n".join(desc).strip()
    cmd.usage = lines[i][len("Usage:"):].strip()
    # CLI11 shows argv[0] when the program gave itself no name: show the name instead.
    first, _, rest = cmd.usage.partition(" ")
    if "/" in first:
        cmd.usage = " ".join([os.path.basename(first), *path[1:], rest]).strip()
    i += 1
    section = None
    current: Entry | None = None
    footer_from = len(lines)
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            section, current = None, None
        elif section is None and re.fullmatch(r"[A-Z][A-Za-z ]*:", line):
            section = line[:-1]
        elif section is None:
            footer_from = i
            break
        elif line.startswith(" " * COLUMN) and current is not None:
            current.desc = (current.desc + "\n" + line.strip()).strip()
        elif section == "Subcommands":
            name, d = split_entry(line)
            current = Entry([name], "", d)
            cmd.sub_entries.append(current)
        else:
            name, d = split_entry(line)
            current = parse_entry(name, section == "Positionals")
            current.desc = d
            (cmd.positionals if section == "Positionals" else cmd.options).append(current)
        i += 1
    cmd.footer = "\n".join(lines[footer_from:]).strip("\n")
    return cmd


def load(program: str, path: list[str] | None = None) -> Command:
    path = path or [os.path.basename(program)]
    cmd = parse_help(path, run([program, *path[1:], "--help"]))
    for name in cmd.sub_descs:
        cmd.subcommands.append(load(program, path + [name]))
    return cmd


def lab_ids(program: str) -> list[str]:
    labs = json.loads(run([program, "lab", "list", "--json"]))
    return [lab["id"] for lab in labs] + [str(lab["number"]) for lab in labs]


def positional_words(cmd: Command, program: str) -> list[str]:
    if cmd.path[1:] == ["lab", "run"]:
        return lab_ids(program)
    return []


def walk(cmd: Command):
    yield cmd
    for sub in cmd.subcommands:
        yield from walk(sub)


# ---- man pages -----------------------------------------------------------------------------

def roff(text: str) -> str:
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(("\\&" + l if l.startswith((".", "'")) else l) for l in text.split("\n"))


def roff_entries(entries: list[Entry]) -> list[str]:
    out = []
    for e in entries:
        names = ", ".join(f"\\fB{roff(n)}\\fR" for n in e.names)
        # \: lets a long choice list ({LISTEN,SYN_SENT,...}) break after its commas.
        breakable = roff(e.value).replace(",", ",\\:")
        value = f" \\fI{breakable}\\fR" if e.value else ""
        out += [".TP", names + value, roff(e.desc) if e.desc else ""]
    return out


def roff_footer(footer: str) -> list[str]:
    out = []
    for para in re.split(r"\n\s*\n", footer.strip("\n")):
        plines = para.split("\n")
        if not para.strip():
            continue
        if re.fullmatch(r"[A-Z][A-Z ]+", plines[0].strip()):
            out += [".PP", f".B {plines[0].strip().capitalize()}"]
            plines = plines[1:]
        if any(l.startswith("  ") for l in plines):
            out += [".PP", ".nf", ".RS 2"] + [roff(l.rstrip()) for l in plines] + [".RE", ".fi"]
        elif plines:
            out += [".PP", roff(" ".join(l.strip() for l in plines))]
    return out


def man(program: str, section: str) -> str:
    root = load(program)
    name = root.path[0]
    version = run([program, "--version"]).strip()
    summary = re.sub(rf"^{re.escape(name)}:\s*", "", root.description.split("\n")[0])
    out = [f'.\\" Generated from `{name} --help` by packaging/clidoc.py at build time: do not edit.',
           f'.TH {name.upper()} {section} "" "{version}" "socklab"',
           ".SH NAME", f"{roff(name)} \\- {roff(summary)}", ".SH SYNOPSIS"]
    leaves = [c for c in walk(root) if not c.subcommands] or [root]
    for c in leaves:
        words = " ".join(c.path)
        rest = c.usage[len(words):].strip() if c.usage.startswith(words) else c.usage
        out += [".PP", f"\\fB{roff(words)}\\fR {roff(rest)}"]
    out += [".SH DESCRIPTION", roff(re.sub(rf"^{re.escape(name)}:\s*", "", root.description))]
    if root.positionals or root.options:
        out += [".SH OPTIONS"] + roff_entries(root.positionals + root.options)
    if root.subcommands:
        out.append(".SH COMMANDS")
        for c in walk(root):
            if c is root:
                continue
            out += [f'.SS "{roff(" ".join(c.path))}"', roff(c.description),
                    ".PP", f"Usage: \\fB{roff(c.usage)}\\fR"]
            out += roff_entries(c.positionals + [o for o in c.options if o.names != ["-h", "--help"]])
            if c.subcommands:
                out += [".PP", "Commands: " + ", ".join(f"\\fB{roff(s.path[-1])}\\fR" for s in c.subcommands)]
            # Subcommands inherit their parent's footer in CLI11: print each footer once.
            parent_footer = next((p.footer for p in walk(root) if c in p.subcommands), None)
            if c.footer and c.footer != parent_footer:
                out += roff_footer(c.footer)
    if root.footer:
        out += [".SH NOTES" if "EXAMPLES" not in root.footer else ".SH EXAMPLES"]
        out += roff_footer(root.footer.replace("EXAMPLES\n", "\n", 1))
    see = ["socklab(1)", "socklab-viewer(1)", "ss(8)", "tcp(7)"]
    out += [".SH SEE ALSO", ", ".join(f"\\fB{s.split('(')[0]}\\fR({s.split('(')[1]}"
                                    for s in see if not s.startswith(name + "("))]
    out.append(".PP\nThe documentation in /usr/share/doc/socklab (or docs/ of the source tree).")
    return "\n".join(l for l in out if l is not None) + "\n"


# ---- completions ---------------------------------------------------------------------------

def key(cmd: Command) -> str:
    return " ".join(cmd.path[1:])


def sh_words(words: list[str]) -> str:
    return " ".join(words)


def bash(program: str) -> str:
    root = load(program)
    name = root.path[0]
    fn = "_" + re.sub(r"\W", "_", name)
    subs, opts, vals, files, pos = [], [], [], [], []
    for c in walk(root):
        k = key(c)
        subs.append(f'        "{k}") words="{sh_words([s.path[-1] for s in c.subcommands])}" ;;')
        opts.append(f'        "{k}") words="{sh_words([n for o in c.options for n in o.names])}" ;;')
        for o in c.options:
            if not o.takes_value:
                continue
            pattern = "|".join(f'"{k}|{n}"' for n in o.names)
            if o.choices:
                vals.append(f'        {pattern}) words="{sh_words(o.choices)}" ;;')
            elif o.wants_file:
                files.append(pattern)
            else:
                vals.append(f'        {pattern}) words="" ;;')
        words = positional_words(c, program)
        if words:
            pos.append(f'        "{k}") words="{sh_words(words)}" ;;')
    files_case = f'        {"|".join(files)}) return 0 ;;\n' if files else ""
    return f"""# bash completion for {name}: subcommands, options, their values and the lab ids.
# Generated from `{name} --help` by packaging/clidoc.py at build time: do not edit.
{fn}_subcommands() {{
    local words=""
    case "$1" in
{chr(10).join(subs)}
    esac
    echo "$words"
}}
{fn}_options() {{
    local words=""
    case "$1" in
{chr(10).join(opts)}
    esac
    echo "$words"
}}
# Options that take a value: prints the values to offer (maybe none); fails for flags.
{fn}_values() {{
    local words=""
    case "$1|$2" in
{chr(10).join(vals)}
        *) return 1 ;;
    esac
    echo "$words"
}}
{fn}_wants_file() {{
    case "$1|$2" in
{files_case}    esac
    return 1
}}
{fn}_positionals() {{
    local words=""
    case "$1" in
{chr(10).join(pos)}
    esac
    echo "$words"
}}
{fn}() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" path="" i word skip=0 subs
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${{COMP_WORDS[i]}}"
        if ((skip)); then skip=0; continue; fi
        if [[ $word == -* ]]; then
            {fn}_wants_file "$path" "$word" && skip=1
            {fn}_values "$path" "$word" >/dev/null && skip=1
            continue
        fi
        subs=" $({fn}_subcommands "$path") "
        if [[ $subs == *" $word "* ]]; then path="${{path:+$path }}$word"; fi
    done
    local prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    if ((COMP_CWORD > 1)) && [[ $prev == -* ]]; then
        if {fn}_wants_file "$path" "$prev"; then
            COMPREPLY=($(compgen -f -- "$cur"))
            return 0
        fi
        local values
        if values=$({fn}_values "$path" "$prev"); then
            COMPREPLY=($(compgen -W "$values" -- "$cur"))
            return 0
        fi
    fi
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$({fn}_options "$path")" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$({fn}_subcommands "$path") $({fn}_positionals "$path")" -- "$cur"))
    fi
    return 0
}}
complete -F {fn} {name}
"""


def zsh_quote(text: str) -> str:
    text = text.split("\n")[0].replace("'", "'\\''")
    return text.replace("[", "\\[").replace("]", "\\]").replace(":", "\\:")


def zsh_args(c: Command, program: str) -> list[str]:
    args = []
    for o in c.options:
        desc = zsh_quote(o.desc)
        action = ""
        if o.takes_value:
            if o.choices:
                action = f":{o.value.split(':')[0].lower()}:({' '.join(o.choices)})"
            elif o.wants_file:
                action = ":file:_files"
            else:
                action = f":{zsh_quote(o.value_name)}: "
        # A repeatable option may come again; any other excludes its other spellings.
        prefix = "*" if o.repeatable else "(" + " ".join(o.names) + ")"
        if len(o.names) > 1:
            args.append(f"'{prefix}'{{{','.join(o.names)}}}'[{desc}]{action}'")
        else:
            args.append(f"'{'*' if o.repeatable else ''}{o.names[0]}[{desc}]{action}'")
    words = positional_words(c, program)
    for p in c.positionals:
        if words:
            args.append(f"':{zsh_quote(p.names[0].lower())}:({' '.join(words)})'")
        else:
            args.append(f"':{zsh_quote(p.names[0].lower())}: '")
    return args


def zsh(program: str) -> str:
    root = load(program)
    name = root.path[0]
    fn = "_" + re.sub(r"\W", "_", name)
    out = [f"#compdef {name}",
           f"# zsh completion for {name}: subcommands, options, their values and the lab ids.",
           f"# Generated from `{name} --help` by packaging/clidoc.py at build time: do not edit.", ""]

    def emit(c: Command) -> None:
        f = fn + "".join("_" + re.sub(r"\W", "_", p) for p in c.path[1:])
        lines = [f"{f}() {{"]
        args = zsh_args(c, program)
        if c.subcommands:
            lines.append("    local curcontext=$curcontext state line")
            lines.append("    _arguments -C \\")
            for a in args:
                lines.append(f"        {a} \\")
            lines.append("        ': :->command' '*:: :->args'")
            lines.append("    case $state in")
            lines.append("        command)")
            lines.append("            local -a commands=(")
            for s in c.subcommands:
                lines.append(f"                '{s.path[-1]}:{zsh_quote(c.sub_descs.get(s.path[-1], ''))}'")
            lines.append("            )")
            lines.append("            _describe command commands ;;")
            lines.append("        args)")
            lines.append("            case $line[1] in")
            for s in c.subcommands:
                sf = f + "_" + re.sub(r"\W", "_", s.path[-1])
                lines.append(f"                {s.path[-1]}) {sf} ;;")
            lines.append("            esac ;;")
            lines.append("    esac")
        else:
            lines.append("    _arguments \\")
            for a in args:
                lines.append(f"        {a} \\")
            lines[-1] = lines[-1].rstrip(" \\")
            if not args:
                lines.append("    return 1")
        lines.append("}")
        out.extend(lines)
        out.append("")
        for s in c.subcommands:
            emit(s)

    emit(root)
    out.append(f'{fn} "$@"')
    return "\n".join(out) + "\n"


def main() -> None:
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    kind, program = sys.argv[1], sys.argv[2]
    if kind == "man" and len(sys.argv) == 5:
        text, out = man(program, sys.argv[3]), sys.argv[4]
    elif kind == "bash" and len(sys.argv) == 4:
        text, out = bash(program), sys.argv[3]
    elif kind == "zsh" and len(sys.argv) == 4:
        text, out = zsh(program), sys.argv[3]
    else:
        sys.exit(__doc__)
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
