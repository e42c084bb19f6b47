"""docs/: the glossary and the references exist, the glossary's code tables are attnlib's own, and the symbol map
notebook 02 shows is the glossary's (one notation, written once)."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "docs" / "glossary.md"
REFERENCES = ROOT / "docs" / "references.md"


def _glossary_tool():
    spec = importlib.util.spec_from_file_location("attn_glossary", ROOT / "tools" / "glossary.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_glossary_tables_are_the_docstring_tables():
    """Each module's table of paper symbols appears in the glossary exactly as in its docstring."""
    tool = _glossary_tool()
    text = GLOSSARY.read_text(encoding="utf-8")
    assert tool.render(text) == text, "docs/glossary.md differs from attnlib's docstring tables: run tools/glossary.py"
    for module in tool.MODULES:
        table = tool.docstring_table(module)
        assert table.count("\n") >= 4 and table in text, module


def test_the_glossary_check_fails_on_a_drifted_table():
    tool = _glossary_tool()
    text = GLOSSARY.read_text(encoding="utf-8")
    drifted = text.replace("| ``keys`` (also the values)", "| ``memory`` (also the values)", 1)
    assert drifted != text and tool.render(drifted) != drifted
    with pytest.raises(ValueError, match="lacks the marked table block"):
        tool.render(text.replace("<!-- BEGIN TABLE attnlib.local -->", ""))


def _table_rows(markdown: str, header_start: str) -> list[str]:
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line.strip())
    return rows


def test_notebook_02_symbol_map_is_the_glossarys():
    """The map in notebook 02 section 2.4 is the glossary's notation table, row for row (no second copy to drift)."""
    nb = nbformat.read(ROOT / "solutions" / "02_alignment_scores" / "02_alignment_scores.ipynb", as_version=4)
    cell = next(c.source for c in nb.cells if c.cell_type == "markdown" and "**Symbol map.**" in c.source)
    header = "| course | Luong et al. 2015 | Bahdanau et al. 2014 |"
    in_notebook = _table_rows(cell, header)
    in_glossary = _table_rows(GLOSSARY.read_text(encoding="utf-8"), header)
    assert len(in_notebook) >= 10 and in_notebook == in_glossary


def test_one_meaning_per_symbol_in_the_notebooks():
    """The issue's clashes stay fixed: no matrix named A or H-bar; W_a never names the additive score's projections."""
    problems = []
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        for i, c in enumerate(nbformat.read(path, as_version=4).cells):
            if c.cell_type != "markdown":
                continue
            if re.search(r"\\bar H\b|\\bar{H}|H̄", c.source):
                problems.append(f"{path.name} cell {i}: H-bar (the stacked encoder states are h̄_(1:S))")
            if re.search(r"A \\in \\mathbb\{R\}\^\{T|A_\{ts\}", c.source):
                problems.append(f"{path.name} cell {i}: a matrix named A (A is the additive size; weights are α)")
            if re.search(r"W_a s_\{i-1\}|W_a \[h_t", c.source):
                problems.append(f"{path.name} cell {i}: W_a for the additive/concat projection (W_q, W_k)")
    assert not problems, "\n".join(problems)


def test_references_name_sections_and_the_glossary_links_them():
    text = REFERENCES.read_text(encoding="utf-8")
    for paper, where in [("Bahdanau", "appendix A.1.2"), ("Bahdanau", "section 3.1"), ("Luong", "section 3.2, eq. 10"),
                         ("Luong", "section 3.1, eq. 8"), ("Sutskever", "section 3.3"), ("Vaswani", "3.2.1"),
                         ("Jain and Wallace", "Attention is not Explanation"), ("Lake and Baroni", "SCAN")]:
        assert paper in text and where in text, (paper, where)
    assert "(references.md)" in GLOSSARY.read_text(encoding="utf-8")
