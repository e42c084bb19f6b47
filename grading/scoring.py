"""Scores decided outside the student's process: secret inputs in, plain tensors out, attnlib compares.

For each exercise the grader draws inputs the student has never seen
(attnlib.checks.REGISTRY's maker with secret seeds, plus its edge cases with
a secret generator), saves them with torch.save for the sandbox, and keeps
the reference's outputs. The sandbox sends back torch.save bytes of what the
student's function returned; they are loaded here with weights_only=True
(never unpickled), and anything that is not a plain tensor of the right
shape and values is wrong.
"""
from __future__ import annotations

import ast
import io
import json
import secrets
from dataclasses import dataclass, field

import torch

from attnlib.checks import REGISTRY, compare
from attnlib.checks.core import _clone
from attnlib.checks.guard import attnlib_functions

N_SEEDS = 3
CHECKS_API = {"implemented", "REGISTRY", "reference", "run_case", "__code__", "__wrapped__"}


def reference_targets(name: str) -> list[tuple[str, str]]:
    """(module, qualname) of the functions the sandbox's tripwire guards while `name` is graded.

    The registered reference when it is a plain function, and attnlib's own
    function of the same name (a lambda reference usually wraps it).
    """
    ref = REGISTRY[name].reference
    fns = ([ref] if getattr(ref, "__code__", None) is not None and "<" not in getattr(ref, "__qualname__", "<") else [])
    fns += [f for f in attnlib_functions(name) if f is not ref]
    return [(f.__module__, f.__qualname__) for f in fns]


def static_reference_use(source: str, name: str) -> str | None:
    """Why this answer cell merely calls attnlib's own implementation of `name`, or None.

    Looks at imports and attribute uses of the reference function, and at
    attnlib.checks' REGISTRY / implemented (which hand out the references).
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    ref = REGISTRY[name].reference
    ref_mods = {getattr(ref, "__module__", "") or ""} | {f.__module__ for f in attnlib_functions(name)}
    suspicious = CHECKS_API | {name} | ({ref.__name__} if "<" not in getattr(ref, "__name__", "<") else set())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("attnlib"):
            for alias in node.names:
                if alias.name in suspicious or alias.name == "*" and node.module in ref_mods:
                    return f"imports {alias.name} from {node.module}"
        elif isinstance(node, ast.Attribute) and node.attr in suspicious:
            return f"uses .{node.attr}"
        elif isinstance(node, ast.Name) and node.id in CHECKS_API:
            return f"uses {node.id}"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in suspicious \
                and node.value != name:
            return f"names {node.value!r}"
    forbidden = set(REGISTRY[name].forbidden)
    for node in ast.walk(tree):
        used = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
        if used in forbidden:
            return f"calls {used}, which this exercise asks you to write yourself"
    return copied_reference(source, name)


# ---------------------------------------------------------------- a copy of attnlib's code

VALIDATORS = {"check_tensor", "check_size", "check_mask", "check_float"}   # attnlib/_validate.py, and any *check_* helper
SOURCE_READERS = {"getsource", "getsourcelines", "getsourcefile", "findsource", "linecache", "__file__", "getfile"}


def normalised(fn: ast.FunctionDef) -> str:
    """A function's AST with its name, docstring, annotations and local names erased: equal for a pasted copy.

    Arguments and assigned names become v0, v1, ... in order of first appearance; globals, attributes and
    constants stay. Comments and layout never reach the AST.
    """
    import copy
    node = copy.deepcopy(fn)
    node.name, node.returns, node.decorator_list = "_", None, []
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        node.body = body[1:] or [ast.Pass()]
    local: dict[str, str] = {}
    for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs,
              *([node.args.vararg] if node.args.vararg else []), *([node.args.kwarg] if node.args.kwarg else [])]:
        a.annotation = None
        local.setdefault(a.arg, f"v{len(local)}")
        a.arg = local[a.arg]
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            local.setdefault(sub.id, f"v{len(local)}")
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id in local:
            sub.id = local[sub.id]
    return ast.dump(node, annotate_fields=False, include_attributes=False)


def _function_def(fn) -> ast.FunctionDef | None:
    import inspect
    import textwrap
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return None
    node = tree.body[0] if tree.body else None
    return node if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None


def _distinctive(node: ast.FunctionDef) -> bool:
    """Code no honest answer writes by chance: it calls attnlib's validators, or runs to six statements or more.

    A short reference (the one-line bmm, the two-line Luong step) is what an honest learner writes too.
    """
    calls = {getattr(c.func, "id", getattr(c.func, "attr", "")) for c in ast.walk(node) if isinstance(c, ast.Call)}
    return any(c in VALIDATORS or c.startswith(("check_", "_check")) for c in calls) or len(node.body) >= 6


def copy_sources(name: str) -> list[tuple[str, str, ast.FunctionDef]]:
    """(module, qualname, AST) of the references whose pasted code would be flagged for exercise `name`."""
    import sys
    out = []
    for module, qual in reference_targets(name):
        fn = sys.modules[module]
        for part in qual.split("."):
            fn = getattr(fn, part)
        node = _function_def(fn)
        if node is not None and _distinctive(node):
            out.append((module, qual, node))
    return out


def copied_reference(source: str, name: str) -> str | None:
    """Why this answer cell holds attnlib's own code for `name` (pasted, or read at run time), or None."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in SOURCE_READERS or \
                isinstance(node, ast.Name) and node.id in SOURCE_READERS:
            return f"reads source code at run time ({getattr(node, 'attr', getattr(node, 'id', ''))})"
    theirs = [normalised(n) for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for module, qual, node in copy_sources(name):
        if normalised(node) in theirs:
            return f"its code is attnlib's {module}.{qual}, pasted"
    return None


@dataclass
class Secret:
    """One exercise's secret cases and the reference's answers (kept by the grader)."""
    name: str
    cases: list[dict]
    descriptions: list[str]
    expected: list = field(default_factory=list)

    def inputs_bytes(self) -> bytes:
        buf = io.BytesIO()
        torch.save({"cases": self.cases}, buf)
        return buf.getvalue()


def make_secret(name: str, rng: secrets.SystemRandom | None = None) -> Secret:
    rng = rng or secrets.SystemRandom()
    ex = REGISTRY[name]
    seeds = [rng.randrange(10 ** 6, 2 ** 31) for _ in range(N_SEEDS)]
    cases = [ex.inputs(s) for s in seeds]
    descriptions = ["random inputs"] * len(cases)
    for desc, kw in ex.edge_cases(torch.Generator().manual_seed(rng.randrange(10 ** 6, 2 ** 31))):
        cases.append(kw)
        descriptions.append(f"edge case: {desc}")
    for kw in cases:
        for k, v in kw.items():
            if not isinstance(v, (torch.Tensor, int, float, bool, str, type(None))):
                raise TypeError(f"exercise {name}: input {k} is a {type(v).__name__}; the sandbox takes plain tensors only")
    secret = Secret(name, cases, descriptions)
    secret.expected = [ex.reference(**_clone(kw)) for kw in cases]
    return secret


@dataclass
class Verdict:
    name: str
    passed: bool
    message: str
    cases_passed: int = 0
    cases: int = 0
    uses_reference: str | None = None


def judge(secret: Secret, result: dict | None, static_use: str | None) -> Verdict:
    """Compare the sandbox's outputs for one exercise with the reference, in this (clean) process."""
    n = len(secret.cases)
    if not result or "payload" not in result:
        status = (result or {}).get("status", "not evaluated")
        return Verdict(secret.name, False, f"no result from your function ({status})", 0, n, static_use)
    meta = {}
    try:
        meta = json.loads(result.get("meta") or "{}")
        if not isinstance(meta, dict):
            meta = {}
    except ValueError:
        pass
    tripped = secret.name in (meta.get("tripped") or [])
    use = static_use or ("called attnlib's reference while being graded" if tripped else None) \
        or ("runs a copy of attnlib's code (same bytecode)" if meta.get("copied") else None)
    try:
        import base64
        data = torch.load(io.BytesIO(base64.b64decode(result["payload"], validate=True)), weights_only=True)
        outputs = data["outputs"]
        if not isinstance(outputs, list) or len(outputs) != n:
            raise ValueError("wrong number of cases")
    except Exception as e:  # anything unexpected from the sandbox is simply wrong
        return Verdict(secret.name, False, f"unreadable result ({type(e).__name__})", 0, n, use)
    errors = meta.get("errors") if isinstance(meta.get("errors"), list) else []
    ok, first = 0, None
    for i, (got, expected) in enumerate(zip(outputs, secret.expected)):
        if not isinstance(got, list) or not got:
            err = errors[i] if i < len(errors) and isinstance(errors[i], str) and errors[i] else "no output"
            problem = f"your function raised {err[:300]}" if err != "no output" else "no output"
        else:
            value = got[0] if len(got) == 1 else tuple(got)
            try:
                problem = compare(value, expected, REGISTRY[secret.name].atol, REGISTRY[secret.name].rtol)
            except Exception as e:
                problem = f"could not compare ({type(e).__name__})"
        if problem is None:
            ok += 1
        elif first is None:
            first = f"{secret.descriptions[i]}: {problem}"
    if use:
        return Verdict(secret.name, False, f"no points: the answer uses attnlib's own {secret.name} ({use})", ok, n, use)
    if ok == n:
        return Verdict(secret.name, True, f"all {n} of the grader's cases match", ok, n)
    return Verdict(secret.name, False, f"{n - ok} of {n} of the grader's cases fail; first: {first}", ok, n)
