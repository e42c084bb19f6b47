"""Learner-facing checks: `check(my_fn)` after each exercise, `implemented(my_fn)` to fall back.

    from attnlib.checks import check, implemented
    check(dot_score)                    # prints PASS, or what is wrong and a hint
    dot_score = implemented(dot_score)  # yours if it passes, else attnlib's, said visibly

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
