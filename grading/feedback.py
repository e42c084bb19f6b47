"""Feedback HTML: the rebuilt notebook as it ran, without hidden tests, plus the grader's verdict per exercise.

Test cells show only their visible part and no output (tracebacks would
quote hidden lines); every other output is scrubbed of hidden-test lines and
rendered as text or PNG only (a student's HTML or JavaScript never reaches
an instructor's browser).
"""
from __future__ import annotations

import base64
import html
import re

from .assignment import visible_test_source

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
STYLE = """body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;white-space:pre-wrap}
.out{background:#fff;border-left:3px solid #ccc}.err{border-left-color:#c33}
.pass{color:#161}.fail{color:#a11}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em}"""


def _markdown(text: str) -> str:
    """The release's markdown as HTML (raw HTML in it escaped); plain escaped text if mistune is missing."""
    try:
        import mistune
        return mistune.create_markdown(escape=True, plugins=["table", "strikethrough"])(text)
    except Exception:
        return f"<pre>{html.escape(text)}</pre>"


def _scrub(text: str, hidden: list[str]) -> str:
    text = ANSI.sub("", text)
    for line in hidden:
        if line in text:
            text = text.replace(line, "[hidden test]")
    return text


def _output_html(out: dict, hidden: list[str]) -> str:
    kind = out.get("output_type")
    if kind == "stream":
        return f'<pre class="out">{html.escape(_scrub(str(out.get("text", "")), hidden))}</pre>'
    if kind == "error":
        tb = "\n".join(str(x) for x in out.get("traceback", [])) or f"{out.get('ename')}: {out.get('evalue')}"
        return f'<pre class="out err">{html.escape(_scrub(tb, hidden))}</pre>'
    data = out.get("data") or {}
    png = data.get("image/png")
    if isinstance(png, str):
        try:
            base64.b64decode(png, validate=True)
            return f'<img alt="figure" src="data:image/png;base64,{png}">'
        except ValueError:
            pass
    text = data.get("text/plain")
    if isinstance(text, list):
        text = "".join(map(str, text))
    return f'<pre class="out">{html.escape(_scrub(str(text), hidden))}</pre>' if text else ""


def render(title: str, cells: list[dict], run: dict, verdicts: dict, kernel: dict, summary: dict,
           hidden: list[str]) -> str:
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
             f"<p>Score: <b>{summary['score']:g} / {summary['max_score']:g}</b> &middot; status: "
             f"{html.escape(summary['status'])}</p>"]
    if summary.get("flags"):
        parts.append("<p>Notes: " + "; ".join(html.escape(f) for f in summary["flags"]) + "</p>")
    parts.append("<h2>Your functions on the grader's inputs</h2><table><tr><th>exercise</th><th>points</th>"
                 "<th>result</th></tr>")
    for name, v in verdicts.items():
        cls = "pass" if v["passed"] else "fail"
        parts.append(f"<tr><td><code>{html.escape(name)}</code></td><td>{v['points']:g} / {v['max_points']:g}</td>"
                     f"<td class='{cls}'>{html.escape(v['message'])}</td></tr>")
    parts.append("</table>")
    written = summary.get("written") or {}
    if written:
        total = sum(w["points"] for w in written.values())
        parts.append(f"<h2>Written answers</h2><p>Written answers: {total:g} points, graded by hand by your "
                     "instructor; the score above counts them as 0 until then.</p><table><tr><th>question</th>"
                     "<th>points</th><th>your answer</th></tr>")
        for gid, w in written.items():
            parts.append(f"<tr><td>{html.escape(gid)}</td><td>{w['points']:g}</td>"
                         f"<td>{'written, to be graded by hand' if w['answered'] else 'not answered (0 points)'}"
                         "</td></tr>")
        parts.append("</table>")
    parts.append("<h2>Your notebook as the grader ran it</h2>")
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "markdown":
            if cell.get("kind") == "written":
                points = (written.get(cell["grade_id"]) or {}).get("points", 0)
                parts.append(f"<p><i>Your written answer ({html.escape(cell['grade_id'])}, {points:g} points, "
                             "graded by hand):</i></p>")
            parts.append(f"<div class='md'>{_markdown(cell['source'])}</div>")
            continue
        if cell["cell_type"] != "code":
            continue
        ran = run.get(str(i)) or run.get(i) or {}
        if cell["kind"] == "test":
            src = visible_test_source(cell["source"])
            verdict = kernel.get(cell["grade_id"], "not run")
            parts.append(f"<pre>{html.escape(src)}</pre><p><i>Test cell {html.escape(cell['grade_id'])}: "
                         f"{html.escape(verdict)} in your kernel (hidden tests and their output are not shown).</i></p>")
            continue
        parts.append(f"<pre>{html.escape(cell['source'])}</pre>")
        for out in ran.get("outputs", []):
            parts.append(_output_html(out, hidden))
        state = ran.get("state")
        if state and state not in ("ok", "error"):
            parts.append(f"<p class='fail'><i>This cell: {html.escape(state)}.</i></p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def render_unreadable(title: str, why: str, max_score: float) -> str:
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p>Score: <b>0 / {max_score:g}</b> &middot; status: unreadable</p><p>{html.escape(why)}</p></body></html>")
