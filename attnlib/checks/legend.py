"""Shapes in the package's letters: an exercise's `describe` line read as a signature.

    "query (B, T, H), keys (B, S, H) -> scores (B, T, S)"

gives the inputs' axis letters and the outputs' names and letters. Bound to
the sizes of one set of inputs, a shape (3, 1) then reads "(B, S)", and a
diagnosis can say "the T axis is missing" instead of quoting numbers.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch

_ARG = re.compile(r"([A-Za-z_]\w*) \(([^()]*)\)")
_LETTER = re.compile(r"^[A-Za-z]\w*$")


def _axes(text: str) -> list[str]:
    return [a.strip() for a in text.split(",") if a.strip()]


def signature(describe: str) -> tuple[dict[str, list[str]], list[tuple[str, list[str]]]]:
    """-> ({input name: letters}, [(output name, letters), ...]) read from an Exercise's describe line."""
    left, _, right = describe.partition("->")
    ins = {m.group(1): _axes(m.group(2)) for m in _ARG.finditer(left)}
    outs = [(m.group(1), _axes(m.group(2))) for m in _ARG.finditer(right)]
    return ins, outs


@dataclass
class Legend:
    """Letters bound to the sizes of one set of inputs."""
    sizes: dict[str, int]                 # letter -> size
    outputs: list[tuple[str, list[str]]]  # (name, letters) of each output

    @classmethod
    def of(cls, describe: str, kwargs: dict) -> "Legend":
        ins, outs = signature(describe)
        sizes: dict[str, int] = {}
        clash: set[str] = set()
        for name, letters in ins.items():
            value = kwargs.get(name)
            if not isinstance(value, torch.Tensor) or "..." in letters or value.dim() != len(letters):
                continue
            for letter, size in zip(letters, value.shape):
                if not _LETTER.match(letter):
                    continue
                if sizes.get(letter, size) != size:
                    clash.add(letter)
                sizes[letter] = int(size)
        for letter in clash:
            sizes.pop(letter, None)
        return cls(sizes, outs)

    def letter(self, size: int) -> str | None:
        """The one letter bound to this size, or None when none or several are."""
        found = [k for k, v in self.sizes.items() if v == size]
        return found[0] if len(found) == 1 else None

    def name(self, shape) -> str:
        """(3, 1, 5) -> '(B, T, S)' where each size names one letter; sizes that do not stay numbers."""
        return "(" + ", ".join(self.letter(s) or str(s) for s in shape) + ")"

    def output_name(self, index: int, count: int) -> str:
        if index < len(self.outputs):
            return self.outputs[index][0]
        return f"output {index}" if count > 1 else "result"

    def output_letters(self, index: int, shape) -> list[str]:
        """The letters of output `index` as described, else read from its sizes."""
        if index < len(self.outputs):
            letters = self.outputs[index][1]
            if "..." not in letters and len(letters) == len(shape):
                return letters
        return [self.letter(s) or str(s) for s in shape]
