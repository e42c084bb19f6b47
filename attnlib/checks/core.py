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

import math
from dataclasses import dataclass, field
from typing import Callable

import torch

REGISTRY: dict[str, "Exercise"] = {}


@dataclass(frozen=True)
class Mistake:
    hint: str            # what to tell the learner
    wrong: Callable      # a function that makes this mistake, called like the reference


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
    describe: str = ""                          # one line: what it computes, with shapes

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


def run_case(exercise: Exercise, fn: Callable, kwargs: dict, case: str = "random inputs") -> Result:
    """Call `fn` on a copy of kwargs and compare with the reference; diagnose a mismatch."""
    expected = exercise.reference(**_clone(kwargs))
    try:
        got = fn(**_clone(kwargs))
    except NotImplementedError:
        return Result(exercise.name, False, "not implemented yet (it raises NotImplementedError)", case=case)
    except Exception as e:  # the learner's code: report, never crash the check
        return Result(exercise.name, False, f"your function raised {type(e).__name__}: {e}", case=case,
                      hint=_shape_hint(kwargs))
    problem = compare(got, expected, exercise.atol, exercise.rtol)
    if problem is None:
        return Result(exercise.name, True, "matches attnlib's reference", case=case)
    for mistake in exercise.mistakes:
        try:
            wrong = mistake.wrong(**_clone(kwargs))
        except Exception:
            continue
        if compare(got, wrong, exercise.atol, exercise.rtol) is None:
            return Result(exercise.name, False, problem, hint=mistake.hint, case=case)
    return Result(exercise.name, False, problem, hint=_shape_hint(kwargs), case=case)


def _shape_hint(kwargs: dict) -> str:
    shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in kwargs.items() if isinstance(v, torch.Tensor))
    return f"the inputs were: {shapes}" if shapes else ""


def results(fn: Callable, name: str, seeds=(0, 1), edge: bool = True) -> list[Result]:
    """Every case of one exercise: random inputs for each seed, then its edge cases."""
    exercise = REGISTRY[name]
    out = [run_case(exercise, fn, exercise.inputs(s), f"random inputs, seed {s}") for s in seeds]
    if edge:
        out += [run_case(exercise, fn, kw, desc) for desc, kw in exercise.edge_cases(torch.Generator().manual_seed(seeds[0]))]
    return out


def check(fn: Callable, name: str | None = None, seeds=(0, 1), quiet: bool = False) -> bool:
    """The visible check after an exercise: print what is right or wrong, with a hint; return passed."""
    name = name or getattr(fn, "__name__", "")
    if name not in REGISTRY:
        raise KeyError(f"no exercise named {name!r}; known: {sorted(REGISTRY)}")
    outcome = results(fn, name, seeds)
    failed = [r for r in outcome if not r.passed]
    if not quiet:
        if failed:
            print(failed[0])
            if len(failed) > 1:
                print(f"  ({len(failed)} of {len(outcome)} cases fail)")
        else:
            print(f"[PASS] {name}: all {len(outcome)} cases match attnlib's reference")
    return not failed


def implemented(fn: Callable, name: str | None = None) -> Callable:
    """The learner's function if it passes its check, else attnlib's reference, saying so visibly.

    Lets a learner who skipped an exercise run the rest of the notebook.
    """
    name = name or getattr(fn, "__name__", "")
    if check(fn, name, quiet=True):
        return fn
    print(f"Note: your {name} is not finished or does not pass its check yet; "
          f"the cells below use attnlib's reference {name} instead.")
    return REGISTRY[name].reference
