"""Learner-facing checks: `check(my_fn)` after each exercise, `implemented(my_fn)` to fall back.

    from attnlib.checks import check, graded, implemented
    def example(dot_score):             # the notebook's hand-checked example
        print(dot_score(query, keys))
    check(dot_score, example)           # runs the example with yours, prints PASS, or names the mistake
    graded(dot_score, tests)            # a graded cell: reports in Run All, raises under nbgrader
    dot_score = implemented(dot_score)  # yours if it passes, else attnlib's, said visibly

A mismatch is named by a registered Mistake (same output, or same exception)
or, failing that, by properties of the output (diagnose.py).

Exercises are registered per stage, one module each (stage<N>_*.py, all
imported here); `REGISTRY` maps each function name to its `Exercise`.
"""
import importlib
import pkgutil

from .core import REGISTRY, Exercise, Mistake, Result, check, compare, graded, implemented, register, results, run_case
from .diagnose import Diagnosis

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("stage")):
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["REGISTRY", "Diagnosis", "Exercise", "Mistake", "Result", "check", "compare", "graded", "implemented", "register",
           "results", "run_case"]
