"""Run All reaches the end: the learners' notebooks, as released and with wrong answers.

* Every fresh student notebook (notebooks/<id>/<id>.ipynb, every exercise a stub) runs top to bottom in a
  kernel without NBGRADER_EXECUTION, as a learner's Run All does, with no error: each exercise says
  "not written yet; the cells below use attnlib's reference", the graded cells report instead of raising,
  and the widgets at the end (the explorers) are displayed as in the solutions.
* A notebook with wrong answers (the issue's cases) runs to the end too, each check naming the mistake,
  and a correct later exercise passes although an earlier one is wrong.
* `nbgrader validate` (NBGRADER_EXECUTION set) still lists every unfinished or wrong exercise.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = sorted(p.parent.name for p in (ROOT / "notebooks").glob("*/*.ipynb") if p.stem == p.parent.name)
WIDGET = "application/vnd.jupyter.widget-view+json"

pytestmark = pytest.mark.slow


def _nbg(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def run_all(nb, folder: Path, monkeypatch) -> nbformat.NotebookNode:
    """Execute like a learner's Run All: a fresh kernel, no NBGRADER_EXECUTION, every cell even after an error."""
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("NBGRADER_VALIDATING", raising=False)
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(folder)}}).execute()
    return nb


def text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def errors(nb) -> list[str]:
    return [f"cell {i}: {o.get('ename')}: {o.get('evalue', '')[:300]}" for i, c in enumerate(nb.cells)
            if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]


def exercises(nb) -> list[str]:
    return [_nbg(c)["grade_id"] for c in nb.cells if _nbg(c).get("solution") and not _nbg(c).get("grade")]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_a_fresh_student_notebook_runs_to_the_end(assignment, monkeypatch):
    path = ROOT / "notebooks" / assignment / f"{assignment}.ipynb"
    nb = run_all(nbformat.read(path, as_version=4), path.parent, monkeypatch)
    assert not errors(nb), f"{assignment}: Run All stops:\n" + "\n".join(errors(nb))
    out = "".join(text(c) for c in nb.cells)
    from attnlib.checks import REGISTRY
    for name in exercises(nb):
        if name not in REGISTRY:  # a whole module (the capstone's decoder): no reference stands in; its tests report
            graded = [c for c in nb.cells if c.cell_type == "code" and _nbg(c).get("grade")]
            assert graded and all("[graded: 0 points for now]" in text(c) and "not written yet" in text(c)
                                  for c in graded), f"{assignment}: every graded cell must report 'not written yet'"
            continue
        assert f"[TODO] {name}: not written yet; the cells below use attnlib's reference {name}." in out, name
        assert f"[graded: 0 points for now] {name}: not written yet" in out, name
    # the explorers and every other widget of the solutions appear in the student's run too
    solution = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    want = sum(any(WIDGET in o.get("data", {}) for o in c.get("outputs", [])) for c in solution.cells if c.cell_type == "code")
    got = sum(any(WIDGET in o.get("data", {}) for o in c.get("outputs", [])) for c in nb.cells if c.cell_type == "code")
    assert got == want, f"{assignment}: {got} cells display widgets, the solutions display {want}"


# ---------------------------------------------------------------- wrong answers, as the learner wrote them

WRONG = {
    "03_softmax_weights": {
        "stable_softmax": "def stable_softmax(scores):\n"
                          "    shifted = scores - scores.max(dim=0, keepdim=True).values\n"
                          "    e = shifted.exp()\n"
                          "    return e / e.sum(dim=0, keepdim=True)\n",
        "masked_softmax": "def masked_softmax(scores, mask):\n"
                          "    return torch.softmax(scores.masked_fill(~mask, float('-inf')), dim=-1).nan_to_num(0.0)\n",
    },
    "04_context_vector": {
        "context_vector": "def context_vector(weights, values):\n"
                          "    return torch.bmm(values.transpose(1, 2), weights.transpose(1, 2))\n",
        "last_encoder_state": "def last_encoder_state(outputs, lengths):\n"
                              "    return outputs[torch.arange(outputs.shape[0]), lengths]\n",
    },
    "06_luong_general": {   # a wrong first exercise, a correct second one that calls it
        "luong_general_attention": "def luong_general_attention(query, keys, mask, W_a):\n"
                                   "    weights = masked_softmax(general_score(query, keys, W_a), mask)\n"
                                   "    return weights, context_vector(weights, keys)\n",
        "luong_output_log_probs": "def luong_output_log_probs(h, keys, mask, W_a, W_c, W_s, b_s):\n"
                                  "    context, _ = luong_general_attention(h, keys, mask, W_a)\n"
                                  "    h_tilde = torch.tanh(torch.cat([context, h], dim=-1) @ W_c.T)\n"
                                  "    return torch.log_softmax(h_tilde @ W_s.T + b_s, dim=-1)\n",
    },
    "09_local_attention": {   # the mistakes: a window not clipped at padding, then σ = D
        "window_mask": "def window_mask(positions, window, lengths, S):\n"
                       "    s = torch.arange(S, dtype=positions.dtype)\n"
                       "    return (s - positions[..., None]).abs() <= window\n",
        "local_p_attention": "def local_p_attention(scores, query, W_p, v_p, mask, window):\n"
                             "    B, T, S = scores.shape\n"
                             "    lengths = mask.sum(-1)\n"
                             "    p = lengths[:, None] * torch.sigmoid(torch.tanh(query @ W_p.T) @ v_p)\n"
                             "    allowed = window_mask(p, window, lengths, S)\n"
                             "    align = masked_softmax(scores.reshape(B * T, S), allowed.reshape(B * T, S)).view(B, T, S)\n"
                             "    s = torch.arange(S, dtype=scores.dtype)\n"
                             "    return p, align * torch.exp(-(s - p[..., None]) ** 2 / (2 * window ** 2))\n",
    },
    "10_transformer_attention": {   # Luong's unscaled dot, then a correct multi-head layer that calls it
        "scaled_dot_product_attention": "def scaled_dot_product_attention(query, keys, values, mask):\n"
                                        "    weights = masked_softmax(query @ keys.transpose(1, 2), mask)\n"
                                        "    return weights @ values, weights\n",
        "multi_head_attention": "def multi_head_attention(query, keys, values, W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o, "
                                "num_heads, mask):\n"
                                "    n = num_heads\n"
                                "    q, k, v = (split_heads(x @ W.T + b, n) for x, W, b in\n"
                                "               ((query, W_q, b_q), (keys, W_k, b_k), (values, W_v, b_v)))\n"
                                "    out, w = scaled_dot_product_attention(q, k, v, mask.repeat_interleave(n, dim=0))\n"
                                "    B, T, S = query.shape[0], query.shape[1], keys.shape[1]\n"
                                "    return merge_heads(out, n) @ W_o.T + b_o, w.view(B, n, T, S).mean(1)\n",
    },
}
NAMED = {   # words the visible check must print for each wrong answer
    "stable_softmax": ["[FAIL] stable_softmax", "sum to 1 over the", "dim=-1"],
    "masked_softmax": ["[FAIL] masked_softmax", "mask[:, None, :]", "LAST axes"],
    "context_vector": ["[FAIL] context_vector", "you return (B, H, T)", "(B, T, H)"],
    "last_encoder_state": ["[FAIL] last_encoder_state", "IndexError", "lengths - 1"],
    "luong_general_attention": ["[FAIL] luong_general_attention", "outputs are swapped", "return (context, weights)",
                                "Note: your luong_general_attention is not finished"],
    # correct, although it calls the wrong first exercise: the cells after that one's check use attnlib's
    "luong_output_log_probs": ["[PASS] luong_output_log_probs", "[graded] luong_output_log_probs"],
    "window_mask": ["[FAIL] window_mask", "not clipped at the sentence end", "lengths[b]"],
    "local_p_attention": ["[FAIL] local_p_attention", "σ = D", "σ = D/2"],
    "scaled_dot_product_attention": ["[FAIL] scaled_dot_product_attention", "not divided by √d",
                                     "Note: your scaled_dot_product_attention is not finished"],
    "multi_head_attention": ["[PASS] multi_head_attention", "[graded] multi_head_attention"],
}


def solution_answers(assignment: str) -> dict:
    """{grade id: source} of every answer cell of solutions/<assignment>: the exercises filled in."""
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    return {_nbg(c)["grade_id"]: c.source for c in nb.cells if _nbg(c).get("solution")}


def with_answers(assignment: str, answers: dict, path: Path | None = None) -> nbformat.NotebookNode:
    """The released notebook (or the copy at path) with the answer cells named in answers replaced."""
    nb = nbformat.read(path or ROOT / "notebooks" / assignment / f"{assignment}.ipynb", as_version=4)
    for cell in nb.cells:
        gid = _nbg(cell).get("grade_id")
        if gid in answers and _nbg(cell).get("solution"):
            cell.source = answers[gid]
    return nb


@pytest.mark.parametrize("assignment", sorted(WRONG))
def test_wrong_answers_run_to_the_end_and_each_check_names_the_mistake(assignment, monkeypatch):
    nb = run_all(with_answers(assignment, WRONG[assignment]), ROOT / "notebooks" / assignment, monkeypatch)
    assert not errors(nb), f"{assignment}: Run All stops:\n" + "\n".join(errors(nb))
    out = "".join(text(c) for c in nb.cells)
    assert "Traceback" not in out
    for name in WRONG[assignment]:
        for words in NAMED[name]:
            assert words in out, f"{assignment}: the output lacks {words!r} for {name}:\n{out[-4000:]}"
        if NAMED[name][0].startswith("[FAIL]"):
            assert f"[graded: 0 points for now] {name}:" in out, name


def test_nbgrader_validate_lists_every_unfinished_or_wrong_exercise(tmp_path):
    """The toolbar's Validate: nbgrader sets NBGRADER_EXECUTION, so the graded cells raise there."""
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    env.pop("NBGRADER_EXECUTION", None)
    a = "06_luong_general"
    stub = ROOT / "notebooks" / a / f"{a}.ipynb"
    wrong = tmp_path / f"{a}.ipynb"
    nbformat.write(with_answers(a, WRONG[a]), wrong)   # a wrong first exercise, a right second one
    runs = {}
    for what, path in (("stub", stub), ("wrong", wrong), ("solution", ROOT / "solutions" / a / f"{a}.ipynb")):
        runs[what] = subprocess.run([sys.executable, "-m", "nbgrader", "validate", str(path)], cwd=path.parent, env=env,
                                    capture_output=True, text=True, timeout=600)
    stub_out, wrong_out = runs["stub"].stdout, runs["wrong"].stdout
    # the check-yourself answers, left blank in both, are listed too ("You did not provide a response")
    written = sum(c.cell_type == "markdown" and _nbg(c).get("grade", False) for c in nbformat.read(stub, as_version=4).cells)
    assert written >= 2, f"{a} has {written} written answers"
    assert f"VALIDATION FAILED ON {2 + written} CELL(S)" in stub_out, stub_out[-3000:]
    assert "luong_general_attention: not written yet" in stub_out and "luong_output_log_probs: not written yet" in stub_out
    assert stub_out.count("You did not provide a response") == written, stub_out[-3000:]
    assert f"VALIDATION FAILED ON {1 + written} CELL(S)" in wrong_out, wrong_out[-3000:]
    assert "luong_general_attention" in wrong_out and "outputs are swapped" in wrong_out
    assert "Success! Your notebook passes all the tests." in runs["solution"].stdout, runs["solution"].stdout[-3000:]
