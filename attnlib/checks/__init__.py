"""Learner-facing checks: `check(my_fn)` after each exercise, `implemented(my_fn)` to fall back.

    from attnlib.checks import check, implemented
    check(dot_score)                    # prints PASS, or what is wrong and a hint
    dot_score = implemented(dot_score)  # yours if it passes, else attnlib's, said visibly

Exercises are registered per stage (stage*.py); `REGISTRY` maps each
function name to its `Exercise` (reference, inputs, edge cases, mistakes).
"""
from . import stage2_scores  # noqa: F401  (registers the exercises)
from .core import REGISTRY, Exercise, Mistake, Result, check, compare, implemented, register, results, run_case

__all__ = ["REGISTRY", "Exercise", "Mistake", "Result", "check", "compare", "implemented", "register", "results", "run_case"]
