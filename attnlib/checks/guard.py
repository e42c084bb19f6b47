"""Tell a learner at once when an answer calls what the exercise asks them to write.

The grader (grading/) gives 0 to an answer that calls attnlib's own
implementation of the exercise; notebook 3 also asks for a softmax written
without torch.softmax, notebook 10 for attention without
F.scaled_dot_product_attention. The visible check says so while the
learner's function runs: for the duration of one call, attnlib's functions named like the
exercise raise `UsesReference`, and the forbidden torch functions record that
they were called (and still work).
"""
from __future__ import annotations

import contextlib
import importlib
import pkgutil
import types

import torch


class UsesReference(RuntimeError):
    """Raised inside a learner's call when it reaches attnlib's reference for the same exercise."""


_HITS: list[str] = []


def _trip(*args, **kwargs):
    import attnlib.checks.guard as guard  # resolved in the patched function's own module globals
    guard._HITS.append("reference")
    raise guard.UsesReference("attnlib's own implementation was called")


def attnlib_functions(name: str) -> list:
    """attnlib's own plain functions called `name`, in any module outside attnlib.checks, widgets and viz."""
    import attnlib
    found = []
    for info in pkgutil.walk_packages(attnlib.__path__, "attnlib."):
        if info.name.startswith("attnlib.checks") or info.name.endswith(("widgets", "viz")):
            continue
        try:
            module = importlib.import_module(info.name)
        except Exception:
            continue
        fn = getattr(module, name, None)
        if isinstance(fn, types.FunctionType) and (fn.__module__ or "").startswith("attnlib") and fn not in found:
            found.append(fn)
    return found


def reference_functions(exercise) -> list:
    """The functions an answer to `exercise` must not call: its reference (when a named function) and namesakes."""
    ref = exercise.reference
    fns = [ref] if isinstance(ref, types.FunctionType) and "<" not in ref.__qualname__ else []
    return fns + [f for f in attnlib_functions(exercise.name) if f not in fns]


# (owner, attribute) pairs for Exercise.forbidden names
_TORCH_PLACES = {
    "softmax": [(torch, "softmax"), (torch.nn.functional, "softmax"), (torch.Tensor, "softmax"), (torch.special, "softmax")],
    "log_softmax": [(torch, "log_softmax"), (torch.nn.functional, "log_softmax"), (torch.Tensor, "log_softmax"),
                    (torch.special, "log_softmax")],
    "scaled_dot_product_attention": [(torch.nn.functional, "scaled_dot_product_attention")],
    "multi_head_attention_forward": [(torch.nn.functional, "multi_head_attention_forward")],
}


def _recorder(original, label):
    def wrapper(*args, **kwargs):
        _HITS.append(label)
        return original(*args, **kwargs)
    return wrapper


@contextlib.contextmanager
def watching(exercise, fn):
    """Within the block: the exercise's references trip, its forbidden torch functions record. Yields the hit list."""
    del _HITS[:]
    swapped = []
    for ref in reference_functions(exercise):
        if ref is fn or ref.__code__.co_freevars:
            continue  # the learner's function IS the reference: reported by identity, not by a trip
        swapped.append((ref, ref.__code__))
    patched = []
    try:
        for ref, _ in swapped:
            ref.__code__ = _trip.__code__
        for name in exercise.forbidden:
            for owner, attr in _TORCH_PLACES.get(name, []):
                original = getattr(owner, attr, None)
                if original is not None:
                    patched.append((owner, attr, original))
                    setattr(owner, attr, _recorder(original, f"torch.{name}"))
        yield _HITS
    finally:
        for ref, code in swapped:
            ref.__code__ = code
        for owner, attr, original in reversed(patched):
            setattr(owner, attr, original)


def static_names(fn) -> set[str]:
    """Every global or attribute name the function's code (nested functions included) refers to."""
    names: set[str] = set()
    stack = [getattr(fn, "__code__", None)]
    while stack:
        code = stack.pop()
        if code is None:
            continue
        names |= set(code.co_names)
        stack += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    return names


def reference_use(exercise, fn, hits: list[str]) -> str | None:
    """Why this answer would score 0 for using what it should write, or None."""
    if fn in reference_functions(exercise):
        return f"your {exercise.name} is attnlib's own {exercise.name} (imported, not written)"
    if "reference" in hits:
        return f"your {exercise.name} calls attnlib's own {exercise.name}"
    used = sorted({h for h in hits if h.startswith("torch.")}
                  | {f"torch.{n}" for n in exercise.forbidden if n in static_names(fn)})
    if used:
        return f"your {exercise.name} calls {', '.join(used)}, which this exercise asks you to write yourself"
    return None
