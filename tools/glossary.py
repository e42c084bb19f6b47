"""Keep docs/glossary.md's code-name tables identical to the tables in attnlib's docstrings.

The tables mapping paper symbols to attnlib names are written once, in the
docstrings of the modules that implement them (attnlib/attention.py,
attnlib/local.py, attnlib/transformer.py). docs/glossary.md shows each one
between the markers

    <!-- BEGIN TABLE attnlib.attention -->
    ...
    <!-- END TABLE attnlib.attention -->

`python tools/glossary.py` rewrites those blocks from the docstrings;
`python tools/glossary.py --check` exits 1 when they differ (tests/test_docs.py
runs the same check).
"""
from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "docs" / "glossary.md"
MODULES = ("attnlib.attention", "attnlib.local", "attnlib.transformer")
BLOCK = re.compile(r"(<!-- BEGIN TABLE (?P<module>[\w.]+) -->\n)(?P<body>.*?)(<!-- END TABLE (?P=module) -->)", re.S)


def docstring_table(module: str) -> str:
    """The first markdown table of the module's docstring (consecutive lines starting with '|'), '\\n'-terminated."""
    doc = importlib.import_module(module).__doc__ or ""
    lines, started = [], False
    for line in doc.splitlines():
        if line.startswith("|"):
            lines.append(line.rstrip())
            started = True
        elif started:
            break
    if not lines:
        raise ValueError(f"{module}'s docstring has no table of paper symbols")
    return "\n".join(lines) + "\n"


def render(text: str) -> str:
    """The glossary text with every marked block replaced by its module's table."""
    found = {m.group("module") for m in BLOCK.finditer(text)}
    missing = set(MODULES) - found
    if missing:
        raise ValueError(f"{GLOSSARY} lacks the marked table block of {sorted(missing)}")
    return BLOCK.sub(lambda m: m.group(1) + docstring_table(m.group("module")) + m.group(4), text)


def main(argv: list[str]) -> int:
    text = GLOSSARY.read_text(encoding="utf-8")
    fresh = render(text)
    if "--check" in argv:
        if fresh != text:
            print(f"{GLOSSARY.relative_to(ROOT)} is out of date with attnlib's docstring tables: "
                  f"run `python tools/glossary.py`", file=sys.stderr)
            return 1
        return 0
    GLOSSARY.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
