"""Data for the course: padded batches, generated tasks and a corpus reader.

Four parts, each usable on its own:

1. **Batches.** :func:`make_batch` turns ``(source, target)`` token sequences
   into padded id tensors with masks; :func:`iterate_batches` walks a data set
   in (optionally shuffled) batches.
2. **Date normalisation** (human-readable dates -> ISO ``YYYY-MM-DD``), the
   task of Coursera's Sequence Models "Neural Machine Translation" exercise,
   here generated with babel's CLDR data (:func:`date_pairs`,
   :func:`date_splits`). Only calendar-year letters (``y``) are used: CLDR's
   ``Y`` is the *week-based* year, which prints 2018-12-31 as 2019 and gave
   that exercise wrong labels.
3. **Symbol tasks** of controlled length (copy, reverse) for the encoder
   bottleneck experiment (:func:`symbol_pairs`), as in Bahdanau et al. 2015,
   Fig. 2 (quality of the fixed-vector model falls with sentence length).
4. **A parallel-corpus reader** for tab-separated files such as Tatoeba's
   (:func:`read_parallel_corpus`).
5. **SCAN** (Lake and Baroni 2018), generated offline from its grammar
   (:func:`scan_commands`, :func:`scan_interpret`, :func:`scan_pairs`,
   :func:`scan_split`): word-level commands -> action sequences.

Shape legend (the package's letters): ``B`` batch, ``S`` source length,
``T`` target length (one more than the longest target: ``BOS``/``EOS``).
"""
from __future__ import annotations

import datetime
import functools
import os
import random
import re
import unicodedata
from dataclasses import dataclass, fields
from typing import Callable, Iterator, Sequence

import torch
from babel import Locale
from babel.dates import get_date_format, parse_pattern, tokenize_pattern

from ._validate import check_mask, check_size, check_tensor
from .vocab import BOS, EOS, PAD, Vocab

Pair = tuple[Sequence[str], Sequence[str]]

# --------------------------------------------------------------------------
# 1. Batches
# --------------------------------------------------------------------------


@dataclass
class Batch:
    """A padded batch of source/target id sequences (teacher forcing layout).

    ==========  ========  ====================================================
    field       shape     contents
    ==========  ========  ====================================================
    src         (B, S)    source ids, ``PAD`` after each row's length (long)
    src_len     (B,)      number of real source tokens per row (long)
    src_mask    (B, S)    True on real source tokens (bool)
    tgt_in      (B, T)    decoder inputs: ``BOS`` + target, then ``PAD``
    tgt_out     (B, T)    decoder targets: target + ``EOS``, then ``PAD``
    tgt_mask    (B, T)    True where ``tgt_out`` is a real token or ``EOS``
    ==========  ========  ====================================================

    ``tgt_in[:, t]`` is fed to the decoder at step ``t`` and ``tgt_out[:, t]``
    is what it must predict there (the one-step shift of Sutskever et al.
    2014, Fig. 1).
    """

    src: torch.Tensor
    src_len: torch.Tensor
    src_mask: torch.Tensor
    tgt_in: torch.Tensor
    tgt_out: torch.Tensor
    tgt_mask: torch.Tensor

    def __post_init__(self) -> None:
        check_tensor("src", self.src, 2, "(B, S)")
        b, s = self.src.shape
        check_tensor("src_len", self.src_len, 1, "(B,)")
        check_size("src_len length (B)", self.src_len.shape[0], b)
        check_mask(self.src_mask, b, s)
        check_tensor("tgt_in", self.tgt_in, 2, "(B, T)")
        for name in ("tgt_out", "tgt_mask"):
            check_tensor(name, getattr(self, name), 2, "(B, T)")
            check_size(f"{name} shape (B, T)", tuple(getattr(self, name).shape), tuple(self.tgt_in.shape))
        check_size("tgt_in batch size (B)", self.tgt_in.shape[0], b)
        if self.tgt_mask.dtype != torch.bool:
            raise TypeError(f"tgt_mask must have dtype torch.bool, got {self.tgt_mask.dtype}")

    def to(self, device: torch.device | str) -> "Batch":
        """A copy with every tensor on ``device``."""
        return Batch(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def __len__(self) -> int:
        return self.src.shape[0]


def _pad(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-pad ``rows`` with PAD: ids (B, L), lengths (B,), mask (B, L)."""
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)  # (B,)
    width = int(lengths.max()) if rows else 0
    ids = torch.full((len(rows), width), PAD, dtype=torch.long)  # (B, L)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    mask = torch.arange(width).unsqueeze(0) < lengths.unsqueeze(1)  # (B, L)
    return ids, lengths, mask


def make_batch(pairs: Sequence[Pair], src_vocab: Vocab, tgt_vocab: Vocab) -> Batch:
    """Encode and pad a list of ``(source_tokens, target_tokens)`` pairs.

    Strings count as character sequences, so date pairs such as
    ``("2 Jan 2006", "2006-01-02")`` work directly with character
    vocabularies; a word vocabulary needs token lists (``"jump twice".split()``)
    and refuses a string with an error naming the pair. Unknown tokens become
    ``UNK``. A batch for decoding alone (no reference) takes an empty target
    ``()``; ``None`` is refused. Returns a :class:`Batch` with ``src (B, S)``, ``src_len (B,)``,
    ``src_mask (B, S)``, ``tgt_in``, ``tgt_out``, ``tgt_mask`` all ``(B, T)``,
    where ``S`` is the longest source and ``T`` the longest target plus one.
    """
    pairs = list(pairs)
    if not pairs:
        raise ValueError("make_batch got an empty list of pairs: a batch needs at least one example")
    src_rows, tgt_rows = [], []
    for i, pair in enumerate(pairs):
        if len(pair) != 2:
            raise ValueError(f"pair {i} must be (source, target), got {len(pair)} items")
        src, tgt = pair
        if src is None or tgt is None:
            side = "source" if src is None else "target"
            hint = " (for decoding without a reference pass an empty target: (source, ()))" if side == "target" else ""
            raise ValueError(f"pair {i} has {side} None: make_batch needs a token sequence on both sides{hint}")
        for side, seq, vocab, rows in (("source", src, src_vocab, src_rows), ("target", tgt, tgt_vocab, tgt_rows)):
            try:
                rows.append(vocab.encode(seq))
            except (TypeError, ValueError) as e:
                raise type(e)(f"pair {i}, {side} ({vocab.kind} vocabulary): {e}") from None
        if len(src_rows[-1]) == 0:
            raise ValueError(f"pair {i} has an empty source: the encoder needs at least one token")
    src, src_len, src_mask = _pad(src_rows)  # (B, S), (B,), (B, S)
    tgt_in, _, tgt_mask = _pad([[BOS] + r for r in tgt_rows])  # (B, T), -, (B, T)
    tgt_out, _, _ = _pad([r + [EOS] for r in tgt_rows])  # (B, T)
    return Batch(src, src_len, src_mask, tgt_in, tgt_out, tgt_mask)


def iterate_batches(
    pairs: Sequence[Pair],
    src_vocab: Vocab,
    tgt_vocab: Vocab,
    batch_size: int,
    shuffle: bool = True,
    generator: torch.Generator | None = None,
    sort_within: bool = False,
) -> Iterator[Batch]:
    """Yield :class:`Batch` es of at most ``batch_size`` pairs, covering ``pairs`` once.

    With ``shuffle`` the order comes from ``torch.randperm(generator=...)``, so a
    seeded ``torch.Generator`` gives the same batches every run. With
    ``sort_within`` each batch is ordered by decreasing source length, the
    order ``pack_padded_sequence(enforce_sorted=True)`` expects.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    pairs = list(pairs)
    if shuffle:
        order = torch.randperm(len(pairs), generator=generator).tolist()
    else:
        order = list(range(len(pairs)))

    def _batches() -> Iterator[Batch]:
        for start in range(0, len(order), batch_size):
            chunk = [pairs[i] for i in order[start: start + batch_size]]
            if sort_within:
                chunk.sort(key=lambda p: -len(p[0]))  # stable: ties keep their order
            yield make_batch(chunk, src_vocab, tgt_vocab)

    return _batches()


# --------------------------------------------------------------------------
# 2. Dates: human-readable -> ISO 8601
# --------------------------------------------------------------------------

DATE_LOCALES = ["en_US", "en_GB", "fr_FR", "de_DE", "es_ES", "it_IT", "pt_BR", "nl_NL"]
DATE_YEARS = (1950, 2049)  # 100 years, so a two-digit year names exactly one of them

_NAMED = ("full", "long", "medium", "short")
# Custom CLDR patterns (Unicode TR35, "Date Field Symbol Table"). Text ones are
# used in every locale, numeric ones once (their output does not depend on the
# locale). None of them reads month-first with a numeric month, because that
# would clash with the day-first numeric dates of most locales.
_TEXT_PATTERNS = ("d MMM y", "MMMM d, y", "EEE, d MMM yy")
_NUMERIC_PATTERNS = ("y/MM/dd", "d.M.y", "dd-MM-yy")
# en_US "short" is M/d/yy: "1/2/06" would be 2 January there but 1 February in
# es_ES (d/M/yy), so one source would have two targets.
_EXCLUDED = {("en_US", "short")}


@functools.lru_cache(maxsize=None)
def _locale(name: str) -> Locale:
    return Locale.parse(name)


@functools.lru_cache(maxsize=None)
def date_pattern(locale: str, fmt: str) -> str:
    """The CLDR pattern behind ``fmt`` in ``locale`` (named formats are looked up).

    Raises ``ValueError`` for the week-based year ``Y`` (use calendar ``y``).
    """
    pattern = get_date_format(fmt, _locale(locale)).pattern if fmt in _NAMED else fmt
    letters = {value[0] for kind, value in tokenize_pattern(pattern) if kind == "field"}
    if "Y" in letters:
        raise ValueError(
            f"pattern {pattern!r} uses 'Y', the week-based year (2018-12-31 prints as 2019); use 'y'"
        )
    return pattern


def _build_date_formats() -> list[tuple[str, str]]:
    out, seen = [], set()
    candidates = [(loc, f) for loc in DATE_LOCALES for f in _NAMED + _TEXT_PATTERNS]
    candidates += [(DATE_LOCALES[1], p) for p in _NUMERIC_PATTERNS]
    for loc, f in candidates:
        key = (loc, date_pattern(loc, f))  # skip a custom pattern the locale already has
        if (loc, f) not in _EXCLUDED and key not in seen:
            seen.add(key)
            out.append((loc, f))
    return out


#: Every (locale, format) the generator draws from; a format is a babel name
#: ("full", "long", "medium", "short") or a custom CLDR pattern.
# DATE_FORMATS is built on first use (module __getattr__ below): babel's CLDR lookups take most of a second, and
# `import attnlib` (which exports make_batch) should not pay for them.
_date_formats = functools.lru_cache(maxsize=None)(_build_date_formats)


def __getattr__(name):
    if name == "DATE_FORMATS":
        return _date_formats()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.lru_cache(maxsize=None)
def _compiled(locale: str, fmt: str):
    return parse_pattern(date_pattern(locale, fmt))


def format_date(date: datetime.date, locale: str, fmt: str) -> str:
    """``date`` written in ``locale`` with ``fmt`` (babel name or CLDR pattern).

    Same result as ``babel.dates.format_date(date, fmt, locale)``, with the
    locale and pattern parsed once and cached (about 3 µs a call).
    """
    return _compiled(locale, fmt).apply(date, _locale(locale))


def _check_years(years: tuple[int, int]) -> tuple[int, int]:
    lo, hi = years
    if not DATE_YEARS[0] <= lo <= hi <= DATE_YEARS[1]:
        raise ValueError(
            f"years must lie within {DATE_YEARS} (two-digit years must be unambiguous), got {years}"
        )
    return lo, hi


def date_pairs(
    n: int,
    seed: int,
    years: tuple[int, int] = DATE_YEARS,
    dates: Sequence[datetime.date] | None = None,
) -> list[tuple[str, str]]:
    """``n`` pairs ``(human_readable, "YYYY-MM-DD")``, deterministic for ``seed``.

    Each pair takes a random day (uniform over ``years``, or drawn from
    ``dates`` when given) and a random ``(locale, fmt)`` from :data:`DATE_FORMATS`.
    """
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    rng = random.Random(seed)
    if dates is None:
        lo, hi = _check_years(years)
        first, last = datetime.date(lo, 1, 1).toordinal(), datetime.date(hi, 12, 31).toordinal()
        draw = lambda: datetime.date.fromordinal(rng.randint(first, last))  # noqa: E731
    else:
        dates = list(dates)
        if not dates:
            raise ValueError("dates is empty: nothing to draw from")
        bad = [d for d in dates if not DATE_YEARS[0] <= d.year <= DATE_YEARS[1]]
        if bad:
            raise ValueError(f"dates must lie within the years {DATE_YEARS}, got e.g. {bad[0]}")
        draw = lambda: rng.choice(dates)  # noqa: E731
    out = []
    for _ in range(n):
        day = draw()
        locale, fmt = rng.choice(_date_formats())
        out.append((format_date(day, locale, fmt), day.isoformat()))
    return out


def date_splits(
    n_train: int, n_test: int, seed: int, test_fraction: float = 0.1
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Train and test date pairs whose calendar days do not overlap.

    The days of :data:`DATE_YEARS` are shuffled with ``seed``; a ``test_fraction``
    of them is held out for the test pairs, so a model cannot pass the test by
    remembering a date it saw in training, only by learning the formats.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = random.Random(seed)
    first = datetime.date(DATE_YEARS[0], 1, 1).toordinal()
    last = datetime.date(DATE_YEARS[1], 12, 31).toordinal()
    days = [datetime.date.fromordinal(o) for o in range(first, last + 1)]
    rng.shuffle(days)
    k = max(1, round(len(days) * test_fraction))
    test_days, train_days = days[:k], days[k:]
    train = date_pairs(n_train, rng.randrange(2**32), dates=train_days)
    test = date_pairs(n_test, rng.randrange(2**32), dates=test_days)
    return train, test


# --------------------------------------------------------------------------
# 3. Symbol tasks of controlled length
# --------------------------------------------------------------------------

SYMBOL_TASKS = ("copy", "reverse")


def symbol_pairs(
    n: int,
    min_len: int,
    max_len: int,
    task: str = "copy",
    alphabet: str = "0123456789",
    seed: int = 0,
) -> list[tuple[str, str]]:
    """``n`` random strings over ``alphabet`` and their copy or reversal.

    Lengths are uniform in ``[min_len, max_len]`` (both included), so sweeping
    the length shows when a fixed-size encoder vector stops being enough.
    """
    if task not in SYMBOL_TASKS:
        raise ValueError(f"task must be one of {SYMBOL_TASKS}, got {task!r}")
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if not (isinstance(min_len, int) and isinstance(max_len, int)) or not 1 <= min_len <= max_len:
        raise ValueError(f"need integers 1 <= min_len <= max_len, got min_len={min_len!r}, max_len={max_len!r}")
    if not alphabet:
        raise ValueError("alphabet is empty")
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        s = "".join(rng.choices(alphabet, k=rng.randint(min_len, max_len)))
        out.append((s, s if task == "copy" else s[::-1]))
    return out


# --------------------------------------------------------------------------
# 4. Tab-separated parallel corpora
# --------------------------------------------------------------------------


class CorpusFormatError(ValueError):
    """A line of a parallel corpus file that cannot be read; names file and line."""


_TOKEN = re.compile(r"\w+(?:'\w+)*|[^\w\s]")  # words (with inner apostrophes) or one punctuation mark


def word_tokenize(text: str) -> list[str]:
    """Lower-cased word and punctuation tokens of ``text``.

    Unicode is normalised to NFC (so "é" is one code point whichever way it
    was typed), the typographic apostrophe ’ becomes ', words keep their inner
    apostrophes ("don't", "j'ai") and every other punctuation mark is its own
    token: ``word_tokenize("Va-t'en !") == ["va", "-", "t'en", "!"]``.
    """
    text = unicodedata.normalize("NFC", text).replace("\u2019", "'").lower()
    return _TOKEN.findall(text)


def _shown(line: str, limit: int = 80) -> str:
    return repr(line if len(line) <= limit else line[:limit] + "...")


def read_parallel_corpus(
    path: str | os.PathLike,
    max_pairs: int | None = None,
    tokenize: Callable[[str], list[str]] = word_tokenize,
) -> list[tuple[list[str], list[str]]]:
    """Read ``source<TAB>target[<TAB>attribution...]`` lines as token pairs.

    This is the format of the Tatoeba sentence pairs distributed by
    manythings.org/anki (e.g. ``fra-eng.zip`` -> ``fra.txt``, English first)
    and of ``data/eng-fra.txt`` in the PyTorch tutorial's
    ``download.pytorch.org/tutorial/data.zip``; download one by hand and pass
    its path. Columns after the second are ignored and blank lines skipped.

    A line with fewer than two fields or an empty side raises
    :class:`CorpusFormatError` naming the file and 1-based line number; so
    does a line that is not valid UTF-8. Reading stops after ``max_pairs``.
    """
    if max_pairs is not None and (not isinstance(max_pairs, int) or max_pairs < 0):
        raise ValueError(f"max_pairs must be None or a non-negative integer, got {max_pairs!r}")
    path = os.fspath(path)
    pairs: list[tuple[list[str], list[str]]] = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if max_pairs is not None and len(pairs) >= max_pairs:
                break
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise CorpusFormatError(
                    f"{path}, line {lineno}: not valid UTF-8 ({e.reason} at byte {e.start}): {raw[:80]!r}"
                ) from None
            line = line.rstrip("\r\n")
            if lineno == 1:
                line = line.lstrip("\ufeff")  # a UTF-8 byte-order mark
            if not line.strip():
                continue
            fields_ = line.split("\t")
            if len(fields_) < 2:
                raise CorpusFormatError(
                    f"{path}, line {lineno}: expected 'source<TAB>target', found no tab: {_shown(line)}"
                )
            src, tgt = tokenize(fields_[0]), tokenize(fields_[1])
            if not src or not tgt:
                side = "source" if not src else "target"
                raise CorpusFormatError(f"{path}, line {lineno}: empty {side}: {_shown(line)}")
            pairs.append((src, tgt))
    return pairs


# --------------------------------------------------------------------------
# 5. SCAN (Lake and Baroni 2018, "Generalization without systematicity")
# --------------------------------------------------------------------------
#
# The grammar of the paper's Fig. 6 (appendix), in its words:
#   C -> S and S | S after S | S          S -> V twice | V thrice | V
#   V -> D[1] opposite D[2] | D[1] around D[2] | D | U
#   D -> U left | U right | turn left | turn right      U -> walk | look | run | jump
# where D[1] is U or "turn" and D[2] is "left" or "right". Its interpretation:
#   [[walk]] = I_WALK (look, run, jump alike)      [[turn left]] = I_TURN_LEFT
#   [[u left]] = I_TURN_LEFT [[u]]                 [[u opposite left]] = I_TURN_LEFT I_TURN_LEFT [[u]]
#   [[u around left]] = (I_TURN_LEFT [[u]]) x 4    [[turn opposite left]] = I_TURN_LEFT x 2
#   [[turn around left]] = I_TURN_LEFT x 4          (right alike, with I_TURN_RIGHT)
#   [[x twice]] = [[x]] x 2, [[x thrice]] = [[x]] x 3
#   [[x1 and x2]] = [[x1]] [[x2]],                  [[x1 after x2]] = [[x2]] [[x1]]
# 4 U + 10 D + 10 "opposite" + 10 "around" = 34 V; 3 x 34 = 102 S; 102 + 2 x 102^2 = 20,910 commands.

SCAN_PRIMITIVES = ("walk", "look", "run", "jump")
SCAN_DIRECTIONS = ("left", "right")
SCAN_ACTIONS = ("I_WALK", "I_LOOK", "I_RUN", "I_JUMP", "I_TURN_LEFT", "I_TURN_RIGHT")
SCAN_SIZE = 20910
SCAN_LENGTH_SPLIT = 22  # length split: train on outputs of at most 22 actions, test on longer ones (24..48)


def _scan_v() -> list[str]:
    out = list(SCAN_PRIMITIVES)
    for first in SCAN_PRIMITIVES + ("turn",):
        for d in SCAN_DIRECTIONS:
            out += [f"{first} {d}", f"{first} opposite {d}", f"{first} around {d}"]
    return out


def scan_commands() -> list[str]:
    """All 20,910 SCAN commands of the grammar (Lake and Baroni 2018, Fig. 6), in a fixed order."""
    s_phrases = [v + suffix for v in _scan_v() for suffix in ("", " twice", " thrice")]
    out = list(s_phrases)
    for conj in ("and", "after"):
        out += [f"{a} {conj} {b}" for a in s_phrases for b in s_phrases]
    return out


def _scan_v_meaning(words: list[str], command: str) -> list[str]:
    turn = {"left": "I_TURN_LEFT", "right": "I_TURN_RIGHT"}
    first = words[0]
    if first not in SCAN_PRIMITIVES + ("turn",):
        raise ValueError(f"not a SCAN command: {command!r} (unknown word {first!r})")
    act = [] if first == "turn" else [f"I_{first.upper()}"]
    if len(words) == 1:
        if first == "turn":
            raise ValueError(f"not a SCAN command: {command!r} ('turn' needs a direction)")
        return act
    if len(words) == 2 and words[1] in turn:
        return [turn[words[1]]] + act
    if len(words) == 3 and words[1] in ("opposite", "around") and words[2] in turn:
        if words[1] == "opposite":
            return [turn[words[2]]] * 2 + act
        return ([turn[words[2]]] + act) * 4
    raise ValueError(f"not a SCAN command: {command!r} (cannot read {' '.join(words)!r})")


def _scan_s_meaning(words: list[str], command: str) -> list[str]:
    if words and words[-1] in ("twice", "thrice"):
        return _scan_v_meaning(words[:-1], command) * (2 if words[-1] == "twice" else 3)
    if not words:
        raise ValueError(f"not a SCAN command: {command!r} (an empty phrase)")
    return _scan_v_meaning(words, command)


def scan_interpret(command: str | Sequence[str]) -> list[str]:
    """The action sequence of a SCAN command (a string or its word list).

    ``scan_interpret("jump left after walk twice") == ["I_WALK", "I_WALK", "I_TURN_LEFT", "I_JUMP"]``.
    Raises ValueError for a command outside the grammar.
    """
    words = command.split() if isinstance(command, str) else list(command)
    shown = " ".join(words)
    for conj in ("and", "after"):
        if conj in words:
            k = words.index(conj)
            first, second = _scan_s_meaning(words[:k], shown), _scan_s_meaning(words[k + 1:], shown)
            return first + second if conj == "and" else second + first
    return _scan_s_meaning(words, shown)


def scan_pairs(commands: Sequence[str] | None = None) -> list[tuple[list[str], list[str]]]:
    """(command words, action words) pairs, word lists ready for word vocabularies; None: all of SCAN."""
    commands = scan_commands() if commands is None else commands
    return [(c.split(), scan_interpret(c)) for c in commands]


SCAN_SPLITS = ("random", "length")


def scan_split(split: str = "random", seed: int = 0, test_fraction: float = 0.2):
    """-> (train pairs, test pairs) of SCAN as word lists.

    ``"random"`` (the paper's experiment 1, "simple split"): a seeded random ``test_fraction`` (20 %) of the
    20,910 commands is held out. ``"length"`` (experiment 2): train on the commands whose action sequence
    has at most 22 actions (16,990 of them), test on the 3,920 longer ones (24 to 48 actions; no command has
    23). Pairs come in a seeded random order.
    """
    if split not in SCAN_SPLITS:
        raise ValueError(f"split must be one of {SCAN_SPLITS}, got {split!r}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    pairs = scan_pairs()
    random.Random(seed).shuffle(pairs)
    if split == "random":
        k = round(len(pairs) * test_fraction)
        return pairs[k:], pairs[:k]
    return ([p for p in pairs if len(p[1]) <= SCAN_LENGTH_SPLIT], [p for p in pairs if len(p[1]) > SCAN_LENGTH_SPLIT])
