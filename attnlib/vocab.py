"""Vocabularies: tokens <-> integer ids.

A :class:`Vocab` is an ordered list of tokens; a token's id is its position.
The first four entries are always the special tokens, so that every vocabulary
in the course agrees on them (the same convention as the PyTorch seq2seq
tutorial's ``SOS_token = 0, EOS_token = 1``, extended with padding and
unknown words as in torchtext's ``build_vocab_from_iterator(specials=...)``):

====  ==========  ==========================================================
id    token       meaning
====  ==========  ==========================================================
0     ``<pad>``   padding; masked out of attention and loss (``PAD``)
1     ``<s>``     beginning of sequence, first decoder input (``BOS``)
2     ``</s>``    end of sequence, last decoder target (``EOS``)
3     ``<unk>``   any token not in the vocabulary (``UNK``)
====  ==========  ==========================================================

The remaining tokens are ordered by descending frequency, ties broken
alphabetically, so that building twice from the same data gives the same ids.
``vocab.tokens`` is a plain list of strings: store it in a checkpoint (it is
JSON-serialisable) and rebuild the identical vocabulary with ``Vocab(tokens)``.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

import torch

PAD, BOS, EOS, UNK = 0, 1, 2, 3
PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, UNK_TOKEN = "<pad>", "<s>", "</s>", "<unk>"
SPECIALS = [PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, UNK_TOKEN]  # index i has id i


class Vocab:
    """An ordered token list with the four specials at ids 0..3.

    ``Vocab(tokens)`` rebuilds a vocabulary from ``vocab.tokens`` (e.g. from a
    checkpoint); use :meth:`Vocab.build` to make one from data.
    """

    def __init__(self, tokens: Sequence[str]):
        tokens = list(tokens)
        if tokens[: len(SPECIALS)] != SPECIALS:
            raise ValueError(
                f"a vocabulary's first tokens must be the specials {SPECIALS}, "
                f"got {tokens[:len(SPECIALS)]}"
            )
        for t in tokens:
            if not isinstance(t, str):
                raise TypeError(f"vocabulary tokens must be strings, got {t!r} ({type(t).__name__})")
        self._itos = tokens
        self._stoi = {t: i for i, t in enumerate(tokens)}
        if len(self._stoi) != len(tokens):
            dupes = sorted(t for t, c in Counter(tokens).items() if c > 1)
            raise ValueError(f"vocabulary tokens must be distinct; repeated: {dupes[:10]}")
        self.pad, self.bos, self.eos, self.unk = PAD, BOS, EOS, UNK

    @classmethod
    def build(cls, sequences: Iterable[Iterable[str]], min_freq: int = 1) -> "Vocab":
        """Count tokens in ``sequences`` and keep those seen ``min_freq`` times or more.

        A string counts as a sequence of characters, so ``Vocab.build(["2006-01-02"])``
        is a character vocabulary. Tokens spelled like a special are not
        counted again: they keep the special's id.
        """
        if not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"min_freq must be an integer >= 1, got {min_freq!r}")
        counts: Counter[str] = Counter()
        for seq in sequences:
            counts.update(seq)
        for s in SPECIALS:
            counts.pop(s, None)
        kept = [t for t, c in counts.items() if c >= min_freq]
        kept.sort(key=lambda t: (-counts[t], t))  # descending frequency, ties alphabetical
        return cls(SPECIALS + kept)

    @property
    def tokens(self) -> list[str]:
        """All tokens in id order (a copy; JSON-serialisable)."""
        return list(self._itos)

    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, token: object) -> bool:
        return token in self._stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self._itos == other._itos

    def __repr__(self) -> str:
        shown = ", ".join(repr(t) for t in self._itos[len(SPECIALS): len(SPECIALS) + 8])
        more = ", ..." if len(self) > len(SPECIALS) + 8 else ""
        return f"Vocab(size={len(self)}, tokens=[specials, {shown}{more}])"

    def index(self, token: str) -> int:
        """The id of ``token``, or ``UNK`` (3) if it is not in the vocabulary."""
        return self._stoi.get(token, UNK)

    def encode(self, tokens: Iterable[str], bos: bool = False, eos: bool = False) -> list[int]:
        """Ids of ``tokens``, optionally with ``BOS`` prepended and ``EOS`` appended."""
        ids = [self._stoi.get(t, UNK) for t in tokens]
        return ([BOS] if bos else []) + ids + ([EOS] if eos else [])

    def decode(self, ids: Iterable[int] | torch.Tensor, strip: bool = True) -> list[str]:
        """Tokens of ``ids``, a list or a 1-D tensor ``(T,)``.

        With ``strip=True`` (for model outputs) decoding stops at the first
        ``EOS`` and drops ``PAD`` and ``BOS``; with ``strip=False`` every id is
        shown, specials included.
        """
        if isinstance(ids, torch.Tensor):
            if ids.dim() != 1:
                raise ValueError(f"decode expects a 1-D tensor of ids (T,), got shape {tuple(ids.shape)}")
            ids = ids.tolist()
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self._itos):
                raise ValueError(f"id {i} is out of range for a vocabulary of size {len(self)}")
            if strip:
                if i == EOS:
                    break
                if i in (PAD, BOS):
                    continue
            out.append(self._itos[i])
        return out

    def unknown(self, tokens: Iterable[str]) -> list[str]:
        """The tokens of ``tokens`` that are not in the vocabulary, in order, without repeats."""
        seen: dict[str, None] = {}
        for t in tokens:
            if t not in self._stoi:
                seen.setdefault(t, None)
        return list(seen)
