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

A vocabulary is either a **character** vocabulary (every ordinary token is one
character: the date and symbol tasks) or a **word** vocabulary (some token is
longer: SCAN, Tatoeba). ``vocab.kind`` says which and the repr shows it. A
plain string is a sequence of characters, so a word vocabulary refuses one
(``"jump twice"`` would otherwise encode as nine unknown characters), and a
character vocabulary refuses a multi-character token it does not hold.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

import torch

PAD, BOS, EOS, UNK = 0, 1, 2, 3
PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, UNK_TOKEN = "<pad>", "<s>", "</s>", "<unk>"
SPECIALS = [PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, UNK_TOKEN]  # index i has id i
KINDS = ("char", "word")


def _infer_kind(tokens: Sequence[str]) -> str:
    """"char" when every non-special token is a single character, else "word"."""
    return "char" if all(len(t) == 1 for t in tokens[len(SPECIALS):]) else "word"


class Vocab:
    """An ordered token list with the four specials at ids 0..3.

    ``Vocab(tokens)`` rebuilds a vocabulary from ``vocab.tokens`` (e.g. from a
    checkpoint); use :meth:`Vocab.build` to make one from data. ``kind`` is
    ``"char"`` or ``"word"``; None infers it: "char" when every ordinary token
    is one character (pass ``kind="word"`` for words that are all one letter).
    """

    def __init__(self, tokens: Sequence[str], kind: str | None = None):
        if isinstance(tokens, str):
            raise TypeError(f"Vocab(tokens) expects a list of token strings, got the string {tokens[:40]!r}; "
                            "use Vocab.build(sequences) to build one from data")
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
        if kind is None:
            kind = _infer_kind(tokens)
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS} or None, got {kind!r}")
        if kind == "char" and _infer_kind(tokens) != "char":
            long = next(t for t in tokens[len(SPECIALS):] if len(t) != 1)
            raise ValueError(f"a character vocabulary holds single characters, got the token {long!r}")
        self.kind = kind
        self.pad, self.bos, self.eos, self.unk = PAD, BOS, EOS, UNK

    @classmethod
    def build(cls, sequences: Iterable[Iterable[str]], min_freq: int = 1, kind: str | None = None) -> "Vocab":
        """Count tokens in ``sequences`` and keep those seen ``min_freq`` times or more.

        A string counts as a sequence of characters, so ``Vocab.build(["2006-01-02"])``
        is a character vocabulary (``kind == "char"``); lists of words, e.g.
        ``Vocab.build([["jump", "twice"]])``, make a word vocabulary. Mixing
        strings and token lists is refused: it is almost always a forgotten
        ``.split()``. Tokens spelled like a special are not counted again:
        they keep the special's id.
        """
        if not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"min_freq must be an integer >= 1, got {min_freq!r}")
        if isinstance(sequences, str):
            raise TypeError(f"Vocab.build expects a collection of sequences, got one string {sequences[:40]!r}; "
                            f"wrap it in a list: Vocab.build([{sequences[:20]!r}])")
        counts: Counter[str] = Counter()
        kinds = set()
        for i, seq in enumerate(sequences):
            if isinstance(seq, str):
                kinds.add("strings (characters)")
            else:
                try:
                    seq = list(seq)
                except TypeError:
                    raise TypeError(f"sequence {i} is {seq!r} ({type(seq).__name__}), not a sequence of tokens") from None
                bad = next((t for t in seq if not isinstance(t, str)), None)
                if bad is not None:
                    raise TypeError(f"sequence {i} holds {bad!r} ({type(bad).__name__}): tokens must be strings")
                kinds.add("token lists (words)")
            if len(kinds) > 1:
                raise ValueError(f"sequence {i} mixes plain strings with token lists: a string is split into "
                                 "characters, a list into its tokens; split every text the same way "
                                 "(e.g. text.split() for words)")
            counts.update(seq)
        for s in SPECIALS:
            counts.pop(s, None)
        kept = [t for t, c in counts.items() if c >= min_freq]
        kept.sort(key=lambda t: (-counts[t], t))  # descending frequency, ties alphabetical
        return cls(SPECIALS + kept, kind=kind)

    @property
    def tokens(self) -> list[str]:
        """All tokens in id order (a copy; JSON-serialisable)."""
        return list(self._itos)

    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, token: object) -> bool:
        return token in self._stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self._itos == other._itos and self.kind == other.kind

    def __repr__(self) -> str:
        shown = ", ".join(repr(t) for t in self._itos[len(SPECIALS): len(SPECIALS) + 8])
        more = ", ..." if len(self) > len(SPECIALS) + 8 else ""
        return f"Vocab({self.kind}, size={len(self)}, tokens=[specials, {shown}{more}])"

    def _tokens(self, tokens, what: str = "tokens") -> list[str]:
        """``tokens`` as a list, refusing a string against a word vocabulary and words against a character one."""
        if isinstance(tokens, str):
            if self.kind == "word":
                raise ValueError(
                    f"{what}: got the string {tokens[:60]!r} for a word vocabulary; a string would be split into "
                    f"characters, each unknown here. Split it into words first, e.g. {tokens[:30]!r}.split()")
            return list(tokens)
        if tokens is None:
            raise TypeError(f"{what}: got None, expected a sequence of tokens")
        try:
            tokens = list(tokens)
        except TypeError:
            raise TypeError(f"{what}: expected a sequence of tokens, got {tokens!r} ({type(tokens).__name__})") from None
        for t in tokens:
            if not isinstance(t, str):
                raise TypeError(f"{what}: tokens must be strings, got {t!r} ({type(t).__name__})")
            if self.kind == "char" and len(t) != 1 and t not in self._stoi:
                raise ValueError(
                    f"{what}: got the multi-character token {t!r} for a character vocabulary; pass a string "
                    "or single characters, or build a word vocabulary from token lists")
        return tokens

    def index(self, token: str) -> int:
        """The id of ``token``, or ``UNK`` (3) if it is not in the vocabulary."""
        return self._stoi.get(token, UNK)

    def encode(self, tokens: Iterable[str], bos: bool = False, eos: bool = False) -> list[int]:
        """Ids of ``tokens``, optionally with ``BOS`` prepended and ``EOS`` appended.

        A character vocabulary takes a string or a list of characters; a word
        vocabulary takes a list of words and refuses a string (see the module doc).
        """
        ids = [self._stoi.get(t, UNK) for t in self._tokens(tokens, "encode")]
        return ([BOS] if bos else []) + ids + ([EOS] if eos else [])

    def decode(self, ids: Iterable[int] | torch.Tensor, strip: bool = True) -> list[str]:
        """Tokens of ``ids``, a list or a 1-D tensor ``(T,)``.

        With ``strip=True`` (for model outputs) decoding stops at the first
        ``EOS`` and drops ``PAD`` and ``BOS``; with ``strip=False`` every id is
        shown, specials included.
        """
        if isinstance(ids, torch.Tensor):
            if ids.dim() != 1:
                raise ValueError(f"decode expects a 1-D tensor of ids (T,), got shape {tuple(ids.shape)}; "
                                 "for a batch (B, T) use decode_batch")
            ids = ids.tolist()
        out = []
        for i in ids:
            if isinstance(i, (list, tuple, torch.Tensor)) and not (isinstance(i, torch.Tensor) and i.dim() == 0):
                raise ValueError("decode expects one sequence of ids (T,), got a sequence of sequences; "
                                 "for a batch use decode_batch")
            if isinstance(i, bool) or not isinstance(i, (int, torch.Tensor)) and not hasattr(i, "__index__"):
                raise TypeError(f"decode expects integer ids, got {i!r} ({type(i).__name__})")
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

    def decode_batch(self, rows: Iterable[Iterable[int]] | torch.Tensor, strip: bool = True) -> list[list[str]]:
        """:meth:`decode` each row of a batch: a (B, T) tensor or a list of id lists -> B token lists."""
        if isinstance(rows, torch.Tensor):
            if rows.dim() != 2:
                raise ValueError(f"decode_batch expects a 2-D tensor of ids (B, T), got shape {tuple(rows.shape)}")
            rows = rows.tolist()
        return [self.decode(r, strip=strip) for r in rows]

    def unknown(self, tokens: Iterable[str]) -> list[str]:
        """The tokens of ``tokens`` that are not in the vocabulary, in order, without repeats."""
        seen: dict[str, None] = {}
        for t in (list(tokens) if isinstance(tokens, str) else tokens):
            if t not in self._stoi:
                seen.setdefault(t, None)
        return list(seen)
