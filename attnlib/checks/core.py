"""The machinery behind every exercise check: run, compare, diagnose, hint.

An `Exercise` names the function a learner writes, attnlib's reference for
it, a maker of random inputs (random weights, never constants that would hide
a transposed matrix), edge cases, and known `Mistake`s: wrong implementations
a learner typically writes, each with the hint that fixes it. When a learner's
output does not match the reference but matches a mistake, the check shows
that mistake's hint.

The same registry serves the visible checks in the notebooks, the hidden
tests (other seeds, edge cases) and the instructors' grader (grading/), which
calls learners' functions on inputs only it knows.
"""
from __future__ import annotations

import contextlib
import math
import os
import re
import types
from dataclasses import dataclass, field
from typing import Callable

import torch

from . import guard
from .diagnose import Diagnosis, diagnose_output, explain_error, probe
from .legend import Legend

REGISTRY: dict[str, "Exercise"] = {}


@dataclass(frozen=True)
class Mistake:
    hint: str            # what to tell the learner
    wrong: Callable      # a function that makes this mistake, called like the reference
    kind: str = ""       # a short name for tests and counts (default: "registered")


@dataclass(frozen=True)
class Exercise:
    name: str                                   # the function the learner defines
    stage: int                                  # notebook number
    reference: Callable                         # attnlib's correct implementation
    make_inputs: Callable[[torch.Generator], dict]   # random keyword arguments
    edge_cases: Callable[[torch.Generator], list] = lambda g: []   # list of (description, kwargs)
    mistakes: tuple = ()                        # Mistake, ...
    atol: float = 1e-5
    rtol: float = 1e-4
    describe: str = ""                          # "arg (B, T, H), ... -> out (B, T, S), ...": the shape legend
    properties: tuple = ()                      # fn(kwargs, got, expected) -> Diagnosis | None, this exercise's own
    forbidden: tuple = ()                       # torch functions the learner writes instead: "softmax", "log_softmax"

    def inputs(self, seed: int) -> dict:
        return self.make_inputs(torch.Generator().manual_seed(seed))


def register(exercise: Exercise) -> Exercise:
    if exercise.name in REGISTRY:
        raise ValueError(f"exercise {exercise.name!r} is registered twice")
    REGISTRY[exercise.name] = exercise
    return exercise


def _clone(value):
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_clone(v) for v in value)
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    return value


def _as_tuple(out) -> tuple:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def compare(got, expected, atol: float = 1e-5, rtol: float = 1e-4) -> str | None:
    """None when `got` matches `expected` (tensors or tuples of tensors), else what differs."""
    got_t, exp_t = _as_tuple(got), _as_tuple(expected)
    if len(got_t) != len(exp_t):
        what = "a tuple of " + str(len(exp_t)) if len(exp_t) > 1 else "one tensor"
        return f"expected {what}, got {len(got_t)} value(s) ({type(got).__name__})"
    for i, (g, e) in enumerate(zip(got_t, exp_t)):
        where = f"output {i}: " if len(exp_t) > 1 else ""
        if not isinstance(g, torch.Tensor):
            if isinstance(e, torch.Tensor):
                return f"{where}expected a torch.Tensor, got {type(g).__name__}"
            if g != e:
                return f"{where}expected {e!r}, got {g!r}"
            continue
        if type(g) is not torch.Tensor and not isinstance(g, torch.nn.Parameter):
            return f"{where}expected a plain torch.Tensor, got {type(g).__name__}"
        if tuple(g.shape) != tuple(e.shape):
            return f"{where}expected shape {tuple(e.shape)}, got {tuple(g.shape)}"
        if g.dtype != e.dtype and not (g.is_floating_point() and e.is_floating_point()):
            return f"{where}expected dtype {e.dtype}, got {g.dtype}"
        g = g.detach().to(e.dtype)
        if e.is_floating_point():
            if torch.isnan(g).any() and not torch.isnan(e).any():
                return f"{where}your result contains NaN at {torch.isnan(g).nonzero()[0].tolist()} (expected none)"
            close = torch.isclose(g, e.detach(), atol=atol, rtol=rtol, equal_nan=True)
        else:
            close = g == e
        if not bool(close.all()):
            idx = (~close).nonzero()[0].tolist()
            diff = (g - e).abs().nan_to_num(math.inf).max().item() if e.is_floating_point() else "-"
            return (f"{where}values differ at index {idx}: expected {e[tuple(idx)].item():.6g}, "
                    f"got {g[tuple(idx)].item():.6g} (max abs difference {diff:.3g})" if e.is_floating_point()
                    else f"{where}values differ at index {idx}: expected {e[tuple(idx)].item()}, got {g[tuple(idx)].item()}")
    return None


@dataclass
class Result:
    """Outcome of checking one function on one input; truthy when it passed."""

    exercise: str
    passed: bool
    message: str
    hint: str = ""
    case: str = "random inputs"
    details: dict = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        text = f"[{mark}] {self.exercise} ({self.case}): {self.message}"
        return text + (f"\n  hint: {self.hint}" if self.hint else "")


def _call(fn, kwargs):
    """The learner's function on a copy of kwargs; None when it raises (used by the probes)."""
    try:
        return fn(**_clone(kwargs))
    except Exception:
        return None


def _lettered(problem: str, exercise: Exercise, kwargs: dict) -> str:
    """'expected shape (3, 1, 1), got (3, 1)' -> '... (3, 1, 1) = (B, T, S), got (3, 1) = (B, T)'."""
    legend = Legend.of(exercise.describe, kwargs)

    out = re.match(r"output (\d+): ", problem)
    index = int(out.group(1)) if out else 0

    def name(m, expected: bool):
        shape = tuple(int(x) for x in re.findall(r"\d+", m.group(0)))
        lettered = legend.name(shape)
        if expected and (out or len(legend.outputs) == 1):
            lettered = "(" + ", ".join(legend.output_letters(index, shape)) + ")"
        return m.group(0) if lettered == m.group(0).replace(",)", ")") else f"{m.group(0)} = {lettered}"
    problem = re.sub(r"(?<=expected shape )\([\d, ]*\)", lambda m: name(m, True), problem)
    return re.sub(r"(?<=, got )\([\d, ]*\)", lambda m: name(m, False), problem)


def _diagnosis_result(exercise, case, message, diagnosis: Diagnosis) -> "Result":
    return Result(exercise.name, False, diagnosis.message or message, hint=diagnosis.hint, case=case,
                  details={"kind": diagnosis.kind})


def run_case(exercise: Exercise, fn: Callable, kwargs: dict, case: str = "random inputs", watch: bool = False) -> Result:
    """Call `fn` on a copy of kwargs and compare with the reference; name the mistake when it differs.

    In order: a registered Mistake with the same output (or the same exception), the exercise's own
    properties, properties of the output (diagnose.py), then the behaviour when one input changes.
    `watch`: also report an answer that calls attnlib's reference or a forbidden torch function.
    """
    expected = exercise.reference(**_clone(kwargs))
    hits: list[str] = []
    try:
        if watch:
            with guard.watching(exercise, fn) as seen:
                got = fn(**_clone(kwargs))
                hits = list(seen)
        else:
            got = fn(**_clone(kwargs))
    except NotImplementedError:
        return Result(exercise.name, False, "not written yet (it raises NotImplementedError)", case=case,
                      details={"kind": "not-written"})
    except guard.UsesReference:
        use = guard.reference_use(exercise, fn, ["reference"])
        return Result(exercise.name, False, use, hint=_REFERENCE_HINT, case=case, details={"kind": "uses-reference"})
    except Exception as e:  # the learner's code: a sentence, never a traceback
        diagnosis = explain_error(exercise, kwargs, e)
        for i, mistake in enumerate(exercise.mistakes):
            try:
                mistake.wrong(**_clone(kwargs))
            except Exception as other:
                if type(other) is type(e) and str(other) == str(e):
                    return Result(exercise.name, False, diagnosis.message, hint=mistake.hint, case=case,
                                  details={"kind": mistake.kind or "registered", "mistake": i})
        return _diagnosis_result(exercise, case, diagnosis.message, diagnosis)
    if watch:
        use = guard.reference_use(exercise, fn, hits)
        if use:
            return Result(exercise.name, False, use, hint=_REFERENCE_HINT, case=case, details={"kind": "uses-reference"})
    try:
        problem = compare(got, expected, exercise.atol, exercise.rtol)
    except Exception as e:
        problem = f"your result could not be compared ({type(e).__name__}: {e})"
    if problem is None:
        return Result(exercise.name, True, "matches attnlib's reference", case=case)
    problem = _lettered(problem, exercise, kwargs)
    for i, mistake in enumerate(exercise.mistakes):
        try:
            wrong = mistake.wrong(**_clone(kwargs))
            same = compare(got, wrong, exercise.atol, exercise.rtol) is None
        except Exception:
            continue
        if same:
            return Result(exercise.name, False, problem, hint=mistake.hint, case=case,
                          details={"kind": mistake.kind or "registered", "mistake": i})
    for prop in exercise.properties:
        try:
            found = prop(kwargs, got, expected)
        except Exception:
            found = None
        if found:
            return _diagnosis_result(exercise, case, problem, found)
    try:
        found = diagnose_output(exercise, kwargs, got, expected) or probe(exercise, fn, kwargs, got, _call)
    except Exception:
        found = None
    if found:
        return _diagnosis_result(exercise, case, problem, found)
    return Result(exercise.name, False, problem, hint=_shape_hint(exercise, kwargs), case=case, details={"kind": "unnamed"})


_REFERENCE_HINT = ("the grader gives such an answer 0 points: it checks that the exercise's code is yours. "
                   "Write it from the equation above; attnlib's version is there to compare with, not to call.")


def _shape_hint(exercise: Exercise, kwargs: dict) -> str:
    legend = Legend.of(exercise.describe, kwargs)
    shapes = ", ".join(f"{k} {legend.name(v.shape)} = {tuple(v.shape)}" for k, v in kwargs.items()
                       if isinstance(v, torch.Tensor))
    return f"the inputs were: {shapes}" if shapes else ""


# ---------------------------------------------------------------- earlier exercises inside later ones

def _dependencies(fn: Callable, name: str) -> list[str]:
    """Registered exercises (other than `name`) that fn calls through its globals, defined by the learner."""
    glb = getattr(fn, "__globals__", {})
    out = []
    for dep in sorted(guard.static_names(fn)):
        value = glb.get(dep)
        if dep != name and dep in REGISTRY and isinstance(value, types.FunctionType) \
                and value is not REGISTRY[dep].reference and not (value.__module__ or "").startswith("attnlib"):
            out.append(dep)
    return out


@contextlib.contextmanager
def standing_in(fn: Callable, name: str):
    """While checking `name`, earlier exercises that fail their own check are replaced by attnlib's in fn's globals.

    So a wrong first exercise is reported once, at its own check, and never crashes a later one at a correct
    line. Yields the names replaced.
    """
    glb = getattr(fn, "__globals__", None)
    replaced = {}
    if glb is not None:
        for dep in _dependencies(fn, name):
            if not all(results(glb[dep], dep)):
                replaced[dep] = glb[dep]
                glb[dep] = REGISTRY[dep].reference
    try:
        yield sorted(replaced)
    finally:
        for dep, value in replaced.items():
            if glb.get(dep) is REGISTRY[dep].reference:
                glb[dep] = value


def results(fn: Callable, name: str, seeds=(0, 1), edge: bool = True, watch: bool = False) -> list[Result]:
    """Every case of one exercise: random inputs for each seed, then its edge cases."""
    exercise = REGISTRY[name]
    cases = [(f"random inputs, seed {s}", exercise.inputs(s)) for s in seeds]
    if edge:
        cases += list(exercise.edge_cases(torch.Generator().manual_seed(seeds[0])))
    with standing_in(fn, name):
        return [run_case(exercise, fn, kw, desc, watch=watch) for desc, kw in cases]


def _name(fn: Callable, name: str | None) -> str:
    name = name or getattr(fn, "__name__", "")
    if name not in REGISTRY:
        raise KeyError(f"no exercise named {name!r}; known: {sorted(REGISTRY)}")
    return name


def _grading() -> bool:
    """nbgrader sets NBGRADER_EXECUTION ("validate", "autograde") in the kernel: checks raise there, report elsewhere."""
    return bool(os.environ.get("NBGRADER_EXECUTION"))


def _run_example(example: Callable, fn: Callable, name: str) -> None:
    """The notebook's example, called with the learner's function; an exception becomes one sentence."""
    try:
        with standing_in(fn, name):
            example(fn)
    except NotImplementedError:
        print(f"(the example needs your {name}, which is not written yet)")
    except Exception as e:
        d = explain_error(REGISTRY[name], {}, e)
        print(f"The example stopped: {d.message[len('your function '):] if d.message.startswith('your function ') else d.message}."
              + (f"\n  likely cause: {d.hint}" if d.kind != "error" else ""))


def check(fn: Callable, example: Callable | None = None, name: str | None = None, seeds=(0, 1), quiet: bool = False) -> bool:
    """The visible check after an exercise: run the example with your function, then say what is right or wrong.

    `example(fn)`: the notebook's hand-checked example, called with the learner's function inside the check, so a
    stub or a crash gives a sentence instead of a traceback. Never raises in a learner's Run All; returns passed.
    """
    if isinstance(example, str):  # check(fn, "name"): the older positional form
        example, name = None, example
    name = _name(fn, name)
    outcome = results(fn, name, seeds, watch=True)
    failed = [r for r in outcome if not r.passed]
    stub = failed and all(r.details.get("kind") == "not-written" for r in failed)
    if quiet:
        return not failed
    if stub:
        print(f"[TODO] {name}: not written yet; the cells below use attnlib's reference {name}.")
        return False
    if example is not None:
        _run_example(example, fn, name)
    with standing_in(fn, name) as replaced:
        pass
    if replaced:
        print(f"(your {', '.join(replaced)} does not pass its own check yet: this check ran your {name} with "
              f"attnlib's {', '.join(replaced)} inside.)")
    if failed:
        print(failed[0])
        if len(failed) > 1:
            print(f"  ({len(failed)} of {len(outcome)} cases fail)")
        if failed[0].details.get("kind") != "uses-reference":
            print(f"  The cells below use attnlib's reference {name} until yours passes.")
    else:
        print(f"[PASS] {name}: all {len(outcome)} cases match attnlib's reference")
    return not failed


def graded(fn: Callable, tests: Callable | None = None, name: str | None = None, seeds=(0, 1)) -> bool:
    """The visible part of a graded test cell: reports in a learner's Run All, raises under nbgrader.

    `tests(fn)` holds the cell's hand-written assertions; then the exercise's random cases for `seeds`.
    """
    name = _name(fn, name)
    problems = []
    outcome = results(fn, name, seeds, edge=False)
    if outcome and all(r.details.get("kind") == "not-written" for r in outcome):
        problems.append("not written yet")
    else:
        failed = [r for r in outcome if not r.passed]  # first: these name the mistake
        problems += [f"{r.case}: {r.message}" + (f"\n  hint: {r.hint}" if r.hint and _grading() else "") for r in failed]
        if tests is not None:
            try:
                with standing_in(fn, name):
                    tests(fn)
            except AssertionError as e:
                frame = _assert_line(e)
                problems.append(str(e) or f"the graded assertion {frame} fails")
            except Exception as e:
                problems.append(explain_error(REGISTRY[name], {}, e).message)
    if problems:
        if _grading():
            raise AssertionError(f"{name}: {problems[0]}")
        print(f"[graded: 0 points for now] {name}: {problems[0]}" + ("" if problems[0] == "not written yet" else
                                                                     " (the check above says why)"))
        return False
    print(f"[graded] {name}: the visible graded tests pass (the grader runs more, on inputs it keeps secret)")
    return True


def _assert_line(e: BaseException) -> str:
    from .diagnose import learner_frame
    frame = learner_frame(e)
    return f"`{frame.line.strip()}`" if frame is not None and frame.line else ""


def implemented(fn: Callable, name: str | None = None) -> Callable:
    """The learner's function if it passes its check, else attnlib's reference, saying so visibly.

    Lets a learner who skipped an exercise, or whose answer is still wrong, run the rest of the notebook.
    """
    name = _name(fn, name)
    if fn is REGISTRY[name].reference or check(fn, name=name, quiet=True):
        return fn
    print(f"Note: your {name} is not finished or does not pass its check yet; "
          f"the cells below use attnlib's reference {name} instead.")
    return REGISTRY[name].reference
