"""Name a mistake nobody registered, from properties of the learner's output.

When an output is not the reference's and matches no registered Mistake, the
check asks, in order:
- is it the reference with an axis of size 1 dropped or added, its axes in
  another order, its outputs swapped?
- is it the reference up to a sign, a constant factor, a missing or extra tanh,
  an exp or a log?
- for attention weights: do they sum to 1 over another axis, are they nonzero
  on padding, NaN on a row with no real token?
- does the output stay the same when an input that matters changes, or change
  when only padding changes?
An exception in the learner's code becomes a sentence that quotes the
learner's line and says the likely cause (a (B, S) mask against (B, T, S), an
index equal to a length, a bmm whose inner sizes differ...).

Every diagnosis has a `kind` (tests name them) and a hint in the notebooks'
words.
"""
from __future__ import annotations

import itertools
import math
import os
import re
import traceback
from dataclasses import dataclass

import torch

from .legend import Legend


@dataclass(frozen=True)
class Diagnosis:
    kind: str
    hint: str
    message: str = ""      # replaces the comparison's message when set (exceptions)


# ---------------------------------------------------------------- helpers

def _tuple(x) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _close(a, b, atol=1e-5, rtol=1e-4) -> bool:
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.shape != b.shape:
        return False
    if not (a.is_floating_point() and b.is_floating_point()):
        return bool(torch.equal(a, b))
    a, b = a.detach().to(torch.float64), b.detach().to(torch.float64)
    return bool(torch.isclose(a, b, atol=atol, rtol=rtol, equal_nan=True).all())


def _same(got, expected, atol, rtol) -> bool:
    g, e = _tuple(got), _tuple(expected)
    return len(g) == len(e) and all(_close(x, y, atol, rtol) for x, y in zip(g, e))


def _axes_text(letters: list[str]) -> str:
    return " and ".join(", ".join(letters).rsplit(", ", 1)) if letters else ""


def _float(x) -> bool:
    return isinstance(x, torch.Tensor) and x.is_floating_point()


# ---------------------------------------------------------------- shape properties

def _dropped_axes(got, exp, legend, index):
    """got == exp with some of its size-1 axes removed."""
    ones = [i for i, s in enumerate(exp.shape) if s == 1]
    r = len(ones) - (got.dim() - (exp.dim() - len(ones)))  # how many size-1 axes are gone
    if r < 1 or got.numel() != exp.numel() or not _close(got, exp.reshape(got.shape)):
        return None
    letters = legend.output_letters(index, exp.shape)
    options = [dims for dims in itertools.combinations(ones, r)
               if tuple(s for i, s in enumerate(exp.shape) if i not in dims) == tuple(got.shape)]
    if not options:
        return None
    names = [letters[i] for i in options[0]]
    if len(options) > 1:  # several axes of size 1: say which could be gone (T when one step, B when one sentence)
        names = ["/".join(sorted({letters[d[k]] for d in options}, key=letters.index)) for k in range(r)]
    return Diagnosis("dropped-axis",
                     f"the {_axes_text(names)} {'axes' if len(names) > 1 else 'axis'} of size 1 "
                     f"{'are' if len(names) > 1 else 'is'} missing: you return {legend.name(got.shape)}, "
                     f"the exercise asks for ({', '.join(letters)}) = {tuple(exp.shape)}. Keep it even when "
                     f"its size is 1: no .squeeze() (or index with [:, None], keepdim=True).")


def _extra_axes(got, exp, legend, index):
    """got == exp with size-1 axes added."""
    if got.numel() != exp.numel() or got.dim() <= exp.dim():
        return None
    squeezed = [s for s in got.shape if s != 1]
    if squeezed == [s for s in exp.shape if s != 1] and _close(got.reshape(exp.shape), exp):
        letters = legend.output_letters(index, exp.shape)
        return Diagnosis("extra-axis", f"your result has an extra axis of size 1: you return {tuple(got.shape)}, the "
                                       f"exercise asks for ({', '.join(letters)}) = {tuple(exp.shape)}. Drop it "
                                       f"(keepdim=False, or index [..., 0] / [:, 0]).")
    return None


def _permuted(got, exp, legend, index):
    """got == exp.permute(p) for some order p other than the identity (a transpose is one)."""
    if got.dim() != exp.dim() or got.dim() < 2 or got.dim() > 5 or sorted(got.shape) != sorted(exp.shape):
        return None
    letters = legend.output_letters(index, exp.shape)
    for p in itertools.permutations(range(exp.dim())):
        if list(p) == list(range(exp.dim())):
            continue
        moved = exp.permute(*p)
        if tuple(moved.shape) == tuple(got.shape) and _close(got, moved):
            yours = "(" + ", ".join(letters[i] for i in p) + ")"
            swapped = [i for i, j in enumerate(p) if i != j]
            what = (f"the {letters[swapped[0]]} and {letters[swapped[1]]} axes are swapped (a transpose)"
                    if len(swapped) == 2 else "the axes are in another order")
            return Diagnosis("permuted-axes",
                             f"{what}: you return {yours}, the exercise asks for ({', '.join(letters)}). Check which "
                             f"operand comes first in the @ / bmm and which axes you transpose; when two sizes "
                             f"are equal this mistake does not even change the shape.")
    return None


# ---------------------------------------------------------------- value properties

def _elementwise(got, exp, legend, index):
    if not (_float(got) and _float(exp)) or got.shape != exp.shape:
        return None
    finite = torch.isfinite(exp)
    if not bool(finite.any()):
        return None
    if _close(got, -exp) and bool((exp.abs() > 1e-6).any()):
        return Diagnosis("sign", "your result is the reference with the opposite sign: a minus sign is missing or extra.")
    if _close(torch.tanh(got), exp):
        return Diagnosis("missing-tanh", "your result is the reference before its tanh: the nonlinearity is missing "
                                         "(the reference applies torch.tanh to it).")
    if _close(got, torch.tanh(exp)):
        return Diagnosis("extra-tanh", "your result is tanh of the reference: there is one tanh too many.")
    inside = exp.abs() < 0.999  # where atanh is accurate enough to recover what went into a tanh
    if bool((exp.abs() <= 1).all()) and int(inside.sum()) * 2 >= exp.numel() and bool((exp.abs() > 1e-3).any()):
        pre = torch.atanh(exp[inside].double())  # what went into the reference's tanh
        for fn, what in ((torch.sigmoid, "a sigmoid"), (torch.relu, "a ReLU")):
            if _close(got[inside].double(), fn(pre), atol=1e-4, rtol=1e-3):
                return Diagnosis("wrong-nonlinearity", f"your result is {what} of what the reference passes to tanh: "
                                                       f"the equation asks for tanh.")
    if bool((exp[finite] <= 0).all()) and _close(got, exp.exp()):
        return Diagnosis("exp-of-reference", "these are probabilities, not log-probabilities: use torch.log_softmax "
                                             "(stable), not softmax.")
    if bool((exp[finite] > 0).all()) and _close(got, exp.log()):
        return Diagnosis("log-of-reference", "your result is the log of the reference: these should be weights "
                                             "(probabilities), not log-probabilities.")
    e, g = exp[finite].double(), got[finite].double()
    denom = 0.0 if exp.numel() < 2 else float((e * e).sum())  # any two scalars differ by a factor: not evidence
    if denom > 0 and bool(torch.isfinite(g).all()):
        c = float((g * e).sum()) / denom
        if abs(c - 1) > 1e-3 and abs(c) > 1e-6 and _close(got[finite], c * exp[finite]):
            why = ""
            for letter, size in legend.sizes.items():
                if size > 1 and any(abs(c - f) < 1e-3 * abs(f) for f in (size ** -0.5, size ** 0.5)):
                    why = f" (sqrt({letter}) = {size ** 0.5:.3g}: a Transformer-style scaling the papers do not use)"
                    break
                if size > 1 and any(abs(c - f) < 1e-3 * abs(f) for f in (1 / size, float(size))):
                    why = f" ({letter} = {size}: a mean where a sum is needed, or the other way round)"
                    break
            if not why and abs(c - 1 / math.log(2)) < 1e-3:
                why = " (1 / ln 2: log base 2, where the natural log is asked)"
            if not why and abs(c - 1 / math.log(10)) < 1e-3:
                why = " (1 / ln 10: log base 10, where the natural log is asked)"
            return Diagnosis("scaled", f"your result is the reference times a constant, {c:.4g}{why}: "
                                       f"remove that factor.")
    return None


def _nan(got, exp, kwargs, mask_name):
    if not (_float(got) and _float(exp)) or got.shape != exp.shape:
        return None
    bad = torch.isnan(got) & ~torch.isnan(exp)
    if not bool(bad.any()):
        return None
    mask = kwargs.get(mask_name) if mask_name else None
    if isinstance(mask, torch.Tensor) and mask.dtype == torch.bool and mask.dim() == 2 and got.dim() >= 1 \
            and got.shape[0] == mask.shape[0]:
        empty = ~mask.any(dim=1)  # (B,)
        rows = bad.reshape(bad.shape[0], -1).any(dim=1)
        if bool(empty.any()) and bool((rows <= empty).all()):
            return Diagnosis("nan-empty-row", "NaN on a row whose source has no real token: a softmax over all -inf "
                                              "is 0/0. Such a row has nothing to attend to: give it zeros "
                                              "(torch.nan_to_num, or attnlib's masked_softmax).")
    zeros = any(_float(v) and bool((v == 0).any()) for v in kwargs.values())
    if zeros:
        return Diagnosis("nan-zero", "NaN where the reference has a number, and an input holds exact zeros: "
                                     "0 · log 0 = 0 · (-inf) = NaN and 0 / 0 = NaN in floating point. Make a zero "
                                     "contribute 0 (torch.special.xlogy(w, w) computes w · log w with 0 at w = 0).")
    if any(_float(v) and bool((v.abs() > 80).any()) for v in kwargs.values()):
        return Diagnosis("overflow", "NaN with large inputs: exp of a score above 88 overflows to inf in float32, and "
                                     "inf / inf is NaN. Subtract each row's maximum before exp.")
    return None


def _weights(got, exp, kwargs, mask_name, legend, index):
    """Properties of attention weights: which axis sums to 1, weight on padding, all-padding rows."""
    if not (_float(got) and _float(exp)) or got.shape != exp.shape or got.dim() < 1:
        return None
    letters = legend.output_letters(index, exp.shape)
    mask = kwargs.get(mask_name) if mask_name else None
    real = None
    if isinstance(mask, torch.Tensor) and mask.dtype == torch.bool and mask.dim() == 2 \
            and got.shape[0] == mask.shape[0] and got.shape[-1] == mask.shape[1]:
        real = mask.reshape(mask.shape[0], *([1] * (got.dim() - 2)), mask.shape[1]).expand(got.shape)
        if bool((~real).any()) and bool((got.detach()[~real].abs() > 1e-6).any()):
            empty = ~mask.any(dim=1)
            full_rows = mask.all(dim=1)
            if bool(empty.any()) and _close(got[~empty], exp[~empty]):
                return Diagnosis("empty-row-not-zero",
                                 "a row with no real source token must give all zeros: your weights spread over its "
                                 "padding (a large negative fill like -1e9 gives a uniform row; -inf then zeros does not).")
            if bool(full_rows.any()) and _close(got[full_rows], exp[full_rows]):
                return Diagnosis("weight-on-padding",
                                 "your weights are not 0 on padding (where the mask is False), and only rows with "
                                 "padding are wrong: set padded scores to -inf BEFORE the softmax. Filling with 0 is "
                                 "not masking: exp(0) = 1 still gives padding weight (notebook 3).")
            return Diagnosis("weight-on-padding",
                             "your weights are not 0 on padding (where the mask is False): set padded scores to -inf "
                             "before the softmax (0 is not enough: exp(0) = 1; notebook 3).")
    g = got.detach().double().nan_to_num(0.0)
    e = exp.detach().double()
    one = torch.ones((), dtype=torch.float64)
    rows_real = (e.sum(-1) > 0.5)  # rows the reference normalises (all-padding rows are 0)
    if not bool(torch.isclose(e.sum(-1)[rows_real], one, atol=1e-4).all()):
        return None  # the reference's rows do not sum to 1 either (local-p: softmax times a Gaussian, notebook 9)
    if not bool(torch.isclose(g.sum(-1)[rows_real], one, atol=1e-4).all()):
        for axis in range(got.dim() - 1):
            sums = g.sum(axis)
            nonzero = sums.abs() > 1e-6
            if bool(nonzero.any()) and bool(torch.isclose(sums[nonzero], one, atol=1e-4).all()):
                return Diagnosis("wrong-axis",
                                 f"your weights sum to 1 over the {letters[axis]} axis (dim={axis}), not over the last "
                                 f"axis {letters[-1]}: each row is a distribution over the source positions, so "
                                 f"normalise with dim=-1.")
        return Diagnosis("not-normalised", f"your weights do not sum to 1 over {letters[-1]} (the last axis): divide by "
                                           f"the sum over dim=-1 (keepdim=True), or use a softmax over dim=-1.")
    return None


def _context_of(got_outs, exp_outs, kwargs, legend):
    """A context that is the right weights times the wrong tensor (e.g. the decoder states instead of the keys)."""
    names = [n for n, _ in legend.outputs]
    if "context" not in names or "weights" not in names:
        return None
    ci, wi = names.index("context"), names.index("weights")
    if max(ci, wi) >= len(got_outs):
        return None
    ctx, w = got_outs[ci], exp_outs[wi]
    if not (_float(ctx) and _float(w)):
        return None
    w3 = w if w.dim() == 3 else w[:, None]
    for name, value in kwargs.items():
        if not _float(value) or value.dim() != 3 or value.shape[0] != w3.shape[0] or value.shape[1] != w3.shape[2]:
            continue
        c = torch.bmm(w3, value.to(w3.dtype))
        c = c if w.dim() == 3 else c[:, 0]
        if _close(ctx, c) and not _close(ctx, exp_outs[ci]):
            return Diagnosis("context-of-wrong-tensor", f"your context averages `{name}`: the weights must "
                                                        f"multiply the encoder states, c = Σ_s a(s) h̄_s.")
    return None


# ---------------------------------------------------------------- behaviour under changed inputs

def probe(exercise, fn, kwargs, got, call) -> Diagnosis | None:
    """Change one input at a time: the reference and the learner must agree on what matters.

    `call(fn, kwargs)` runs the learner's function on a copy (None when it raises).
    """
    from .core import _clone
    g = torch.Generator().manual_seed(2 ** 20 + 7)
    mask_name = "mask" if "mask" in kwargs else None
    expected = exercise.reference(**_clone(kwargs))
    for name, value in kwargs.items():
        if not _float(value) or value.numel() == 0:
            continue
        changed = _clone(kwargs)
        changed[name] = value + (value.std().nan_to_num(1.0) + 1.0) * torch.randn(value.shape, generator=g)
        ref2 = exercise.reference(**_clone(changed))
        got2 = call(fn, changed)
        if got2 is None:
            continue
        ref_moves = not _same(ref2, expected, 1e-6, 1e-5)
        got_moves = not _same(got2, got, 1e-6, 1e-5)
        if ref_moves and not got_moves:
            return Diagnosis(f"ignores-{name}", f"your result does not change when `{name}` changes, but the "
                                                f"reference's does: `{name}` is never used (or used where it cancels).")
        if got_moves and not ref_moves:
            return Diagnosis(f"depends-on-{name}", f"your result changes when `{name}` changes, but the reference's "
                                                   f"does not: `{name}` should not matter here.")
    mask = kwargs.get(mask_name) if mask_name else None
    if isinstance(mask, torch.Tensor) and mask.dtype == torch.bool and mask.dim() == 2 and bool((~mask).any()):
        B, S = mask.shape
        for name, value in kwargs.items():
            if not _float(value) or value.dim() < 2 or value.shape[0] != B or name == mask_name:
                continue
            axes = [i for i in range(1, value.dim()) if value.shape[i] == S]
            if not axes:
                continue
            axis = axes[-1] if name == "scores" or name == "weights" else axes[0]
            shape = [1] * value.dim()
            shape[0], shape[axis] = B, S
            pad = (~mask).reshape(shape).expand(value.shape)
            changed = _clone(kwargs)
            changed[name] = torch.where(pad, value + 50.0 * torch.randn(value.shape, generator=g), value)
            if not _same(exercise.reference(**_clone(changed)), expected, 1e-6, 1e-5):
                continue  # the reference itself reads this input at padding: not a padding probe
            got2 = call(fn, changed)
            if got2 is not None and not _same(got2, got, 1e-6, 1e-5):
                return Diagnosis("padding-leaks", f"your result changes when `{name}` changes only at padded positions "
                                                  f"(mask False): padding leaks in. Apply the mask (mask[:, None, :] "
                                                  f"broadcasts a (B, S) mask over T) so that padding gets weight 0.")
    return None


def diagnose_output(exercise, kwargs, got, expected) -> Diagnosis | None:
    """Properties of the learner's output alone (no further calls)."""
    legend = Legend.of(exercise.describe, kwargs)
    g, e = _tuple(got), _tuple(expected)
    mask_name = "mask" if "mask" in kwargs else None
    if len(g) == len(e) and len(e) > 1:
        for p in itertools.permutations(range(len(e))):
            if list(p) != list(range(len(e))) and all(_close(g[i], e[j]) for i, j in enumerate(p)):
                order = ", ".join(legend.output_name(j, len(e)) for j in range(len(e)))
                return Diagnosis("swapped-outputs", f"the outputs are in the wrong order: return ({order}).")
    if len(g) != len(e):
        if len(e) == 1 and len(g) >= 1 and _close(g[0], e[0]):
            return Diagnosis("extra-outputs", "return only the result, not a tuple.")
        return None
    found = _context_of(g, e, kwargs, legend)
    if found:
        return found
    names = [legend.output_name(i, len(e)) for i in range(len(e))]
    order = sorted(range(len(e)), key=lambda i: names[i] != "weights")  # the weights explain the rest
    for i in order:
        gi, ei = g[i], e[i]
        if not isinstance(gi, torch.Tensor) or not isinstance(ei, torch.Tensor) or _close(gi, ei, exercise.atol, exercise.rtol):
            continue
        what = legend.output_name(i, len(e))
        prefix = f"your {what}: " if len(e) > 1 else ""
        for test in (lambda: _dropped_axes(gi, ei, legend, i), lambda: _extra_axes(gi, ei, legend, i),
                     lambda: _permuted(gi, ei, legend, i), lambda: _nan(gi, ei, kwargs, mask_name),
                     lambda: _elementwise(gi, ei, legend, i),
                     lambda: _weights(gi, ei, kwargs, mask_name, legend, i) if what == "weights" else None):
            found = test()
            if found:
                return Diagnosis(found.kind, prefix + found.hint)
        if gi.shape != ei.shape:
            yours = legend.name(gi.shape)
            want = "(" + ", ".join(legend.output_letters(i, ei.shape)) + ")"
            return Diagnosis("wrong-shape", f"{prefix}you return {yours} = {tuple(gi.shape)}, the exercise asks for "
                                            f"{want} = {tuple(ei.shape)}: follow the shapes through each line "
                                            f"(a `# (B, T, S)` comment per line helps).")
        return None  # the first differing output is the one to explain
    return None


# ---------------------------------------------------------------- exceptions

_HERE = os.path.dirname(os.path.abspath(__file__))
_SKIP = (os.path.dirname(os.path.abspath(torch.__file__)), os.path.dirname(_HERE), os.path.dirname(os.__file__))


def learner_frame(exc: BaseException):
    """The innermost frame of the traceback that is not torch's, attnlib's or the standard library's."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if not os.path.abspath(f.filename).startswith(_SKIP) and "site-packages" not in f.filename]
    return mine[-1] if mine else (frames[-1] if frames else None)


def _where(frame) -> str:
    if frame is None:
        return ""
    line = (frame.line or "").strip()
    place = f"line {frame.lineno} of {frame.name}" if frame.name not in ("<module>", "<lambda>") else f"line {frame.lineno}"
    return f" at {place}: `{line}`" if line else f" at {place}"


def explain_error(exercise, kwargs, exc: BaseException) -> Diagnosis:
    """One sentence for an exception in the learner's code: where, what, and the likely cause; no traceback."""
    legend = Legend.of(exercise.describe, kwargs)
    frame = learner_frame(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    message = f"your function raised {type(exc).__name__}{_where(frame)}" + (f" ({text[:200]})" if text else "")
    kind, hint = "error", ""
    mask = kwargs.get("mask")
    if m := re.search(r"size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\)", text):
        a, b = int(m.group(1)), int(m.group(2))
        three = [v for v in kwargs.values() if isinstance(v, torch.Tensor) and v.dim() == 3]
        if isinstance(mask, torch.Tensor) and mask.dim() == 2 and (three or any(
                n in exercise.describe for n in ("(B, T, S)",))):
            kind = "mask-broadcast"
            hint = ("a (B, S) mask does not broadcast against (B, T, S): broadcasting lines up the LAST axes, so the "
                    "mask's B meets T. Give the mask a T axis: mask[:, None, :] is (B, 1, S).")
        elif "S" in legend.sizes and "T" in legend.sizes and {a, b} == {legend.sizes["S"], legend.sizes["T"]}:
            kind = "broadcast"
            hint = ("decoder steps T and source positions S met on the same axis: broadcasting lines up the last axes. "
                    "To pair every step with every position, give each tensor the other's axis: "
                    "q[:, :, None, :] (B, T, 1, A) + k[:, None, :, :] (B, 1, S, A) is (B, T, S, A).")
        else:
            kind = "broadcast"
            hint = (f"two tensors met in an elementwise operation with sizes {legend.letter(a) or a} and "
                    f"{legend.letter(b) or b} on the same axis: broadcasting lines up the last axes; add the missing "
                    f"axis with [:, None] where one tensor lacks it.")
    elif m := re.search(r"index (-?\d+) is out of bounds for dimension (\d+) with size (\d+)", text):
        index, size = int(m.group(1)), int(m.group(3))
        kind = "index-out-of-range"
        if index == size:
            hint = (f"an index equal to the length ({size}): positions count from 0, so the last one is "
                    f"{size - 1}. Off by one: use lengths - 1." if "lengths" in kwargs else
                    f"an index equal to the size ({size}): positions count from 0, so the last is {size - 1} (off by one).")
        else:
            hint = f"index {index} does not exist on an axis of size {size}."
    elif m := re.search(r"Expected size for first two dimensions of batch2 tensor to be: \[(\d+), (\d+)\] but got: "
                        r"\[(\d+), (\d+)\]", text):
        want, got = int(m.group(2)), int(m.group(4))
        kind = "bmm-shape"
        hint = (f"x @ y on 3-D tensors (torch.bmm) needs x (B, n, m) and y (B, m, p): y has {legend.letter(got) or got} "
                f"rows where {legend.letter(want) or want} are needed (a missing .transpose(1, 2)?).")
        if legend.letter(want) == "S" and legend.letter(got) == "T":
            hint += (" The weights (B, T, S) multiply what has one row per SOURCE position: the encoder states "
                     "(keys / values), not the decoder states.")
    elif m := re.search(r"mat1 and mat2 shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)", text):
        kind = "matmul-shape"
        hint = (f"x @ W needs x's last size ({legend.letter(int(m.group(2))) or m.group(2)}) to equal W's first "
                f"({legend.letter(int(m.group(3))) or m.group(3)}): a matrix is probably used without .T, or the "
                f"operands are in the wrong order.")
    elif "Expected batch2_sizes" in text or re.search(r"batch1 must be a 3D tensor|batch2 must be a 3D tensor", text):
        kind = "bmm-shape"
        hint = "torch.bmm takes two 3-D tensors (B, n, m) and (B, m, p); reshape or use @."
    elif m := re.search(r"Sizes of tensors must match except in dimension (-?\d+)\. Expected size (\d+) but got "
                        r"size (\d+)", text):
        kind = "cat-shape"
        hint = (f"torch.cat joins tensors along one axis (here dim={m.group(1)}); every other axis must have the same "
                f"size, and here {legend.letter(int(m.group(2))) or m.group(2)} meets "
                f"{legend.letter(int(m.group(3))) or m.group(3)}. To stack features [c; h] use dim=-1, the last axis.")
    elif re.search(r"Expected target size [(\[]", text):
        kind = "cross-entropy-shape"
        hint = ("F.cross_entropy wants the classes on axis 1: logits (N, V) with targets (N,), or (B, V, T) with (B, T). "
                "Reshape to (B*T, V) and (B*T,), or pass logits.transpose(1, 2).")
    elif re.search(r"mean\(\): could not infer output dtype.*Bool", text):
        kind = "dtype"
        hint = "the mean of a bool tensor is not defined: convert first, correct.float().mean()."
    elif m := re.search(r"Dimension out of range \(expected to be in range of \[(-?\d+), (-?\d+)\], but got (-?\d+)\)", text):
        kind = "dim-range"
        hint = f"axis {m.group(3)} does not exist: the tensor has {int(m.group(2)) + 1} axes (dim counts from 0)."
    elif isinstance(exc, TypeError) and re.search(r"unexpected keyword argument|required positional argument", text):
        kind = "signature"
        hint = f"keep the signature of the exercise: {exercise.describe}."
    elif isinstance(exc, NameError):
        kind = "name"
        hint = "a name is not defined: run the notebook's setup cell and the cells above, or check the spelling."
    elif re.search(r"only supports boolean masks|expected .*Bool|must be a bool|with a bool tensor is not supported", text):
        kind = "mask-dtype"
        hint = "the mask is a bool tensor (True on real tokens): invert it with ~mask, not 1 - mask, and use it as given."
    elif re.search(r"expected (scalar type|m1 and m2 to have the same dtype)|dtype", text):
        kind = "dtype"
        hint = "two tensors of different dtypes met: convert with .float() or .to(x.dtype)."
    if not hint:
        shapes = ", ".join(f"{k} {legend.name(v.shape)} = {tuple(v.shape)}" for k, v in kwargs.items()
                           if isinstance(v, torch.Tensor))
        hint = f"follow the shapes through that line; the inputs were {shapes}." if shapes else ""
    return Diagnosis(kind, hint, message)
