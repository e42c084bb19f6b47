"""Tests for attnlib.vocab and attnlib.data.

The date checks do not trust the generator: a small CLDR-pattern reader
written here pulls the numbers back out of every generated string and compares
them with the ISO target, over the days where week-year bugs show (24 Dec to
7 Jan of every year) plus a random sample, for every (locale, format).
"""
from __future__ import annotations

import datetime
import json
import random
import re
import unicodedata
from collections import Counter, defaultdict

import pytest
import torch
from babel.dates import format_date as babel_format_date

from attnlib.data import (
    DATE_FORMATS,
    DATE_LOCALES,
    DATE_YEARS,
    Batch,
    CorpusFormatError,
    date_pairs,
    date_pattern,
    date_splits,
    format_date,
    iterate_batches,
    make_batch,
    read_parallel_corpus,
    symbol_pairs,
    word_tokenize,
)
from attnlib.vocab import BOS, EOS, PAD, UNK, Vocab

# ---------------------------------------------------------------- Vocab

SENTENCES = [["the", "cat", "sat"], ["the", "dog", "sat", "down"], ["a", "cat"], ["the", "end"]]


def test_specials_are_distinct_and_first():
    v = Vocab.build(SENTENCES)
    ids = [PAD, BOS, EOS, UNK]
    assert sorted(ids) == list(range(4))
    assert [v.pad, v.bos, v.eos, v.unk] == ids
    for i, tok in zip(ids, ["<pad>", "<s>", "</s>", "<unk>"]):
        assert v.tokens[i] == tok and v.index(tok) == i


def test_order_is_frequency_then_alphabetical():
    v = Vocab.build(SENTENCES)
    counts = Counter(t for s in SENTENCES for t in s)
    expected = sorted(counts, key=lambda t: (-counts[t], t))
    assert v.tokens[4:] == expected
    assert Vocab.build(reversed(SENTENCES)).tokens == v.tokens  # independent of input order
    v2 = Vocab.build(SENTENCES, min_freq=2)
    assert v2.tokens[4:] == [t for t in expected if counts[t] >= 2]


def test_encode_decode_round_trip():
    v = Vocab.build(SENTENCES)
    for s in SENTENCES:
        ids = v.encode(s, bos=True, eos=True)
        assert ids[0] == BOS and ids[-1] == EOS and len(ids) == len(s) + 2
        assert v.decode(ids) == s
        assert v.decode(torch.tensor(ids + [PAD, PAD])) == s
        assert v.decode(ids, strip=False) == ["<s>"] + s + ["</s>"]
    # decoding stops at the first EOS
    assert v.decode(v.encode(["cat"], eos=True) + v.encode(["dog"])) == ["cat"]


def test_unknown_tokens_map_to_unk():
    v = Vocab.build(SENTENCES)
    assert v.index("zebra") == UNK and "zebra" not in v and "cat" in v
    assert v.encode(["cat", "zebra"]) == [v.index("cat"), UNK]
    assert v.unknown(["zebra", "cat", "yak", "zebra"]) == ["zebra", "yak"]
    assert v.unknown(["cat"]) == []


def test_tokens_round_trip_through_json():
    v = Vocab.build(SENTENCES)
    again = Vocab(json.loads(json.dumps(v.tokens)))
    assert again == v and len(again) == len(v)
    for s in SENTENCES:
        assert again.encode(s) == v.encode(s)


def test_vocab_rejects_bad_token_lists():
    with pytest.raises(ValueError, match="specials"):
        Vocab(["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="distinct"):
        Vocab(Vocab.build(SENTENCES).tokens + ["cat"])
    with pytest.raises(ValueError, match="min_freq"):
        Vocab.build(SENTENCES, min_freq=0)


# ---------------------------------------------------------------- Batches

PAIRS = [("12 Jan 1999", "1999-01-12"), ("3/4/05", "2005-04-03"), ("lundi 1 mai 2023", "2023-05-01"), ("x", "")]


@pytest.fixture(scope="module")
def vocabs():
    return Vocab.build(s for s, _ in PAIRS), Vocab.build(t for _, t in PAIRS)


def test_batch_shapes_padding_and_masks(vocabs):
    sv, tv = vocabs
    b = make_batch(PAIRS, sv, tv)
    B, S, T = len(PAIRS), max(len(s) for s, _ in PAIRS), max(len(t) for _, t in PAIRS) + 1
    assert b.src.shape == b.src_mask.shape == (B, S)
    assert b.tgt_in.shape == b.tgt_out.shape == b.tgt_mask.shape == (B, T)
    assert b.src_len.shape == (B,)
    assert b.src.dtype == b.src_len.dtype == b.tgt_in.dtype == b.tgt_out.dtype == torch.long
    assert b.src_mask.dtype == b.tgt_mask.dtype == torch.bool
    assert torch.equal(b.src_len, b.src_mask.sum(1))
    assert (b.src[~b.src_mask] == PAD).all()
    assert (b.tgt_in[~b.tgt_mask] == PAD).all() and (b.tgt_out[~b.tgt_mask] == PAD).all()
    assert (b.src[b.src_mask] != PAD).all()


def test_batch_contents_per_row(vocabs):
    sv, tv = vocabs
    b = make_batch(PAIRS, sv, tv)
    assert (b.tgt_in[:, 0] == BOS).all()
    for i, (s, t) in enumerate(PAIRS):
        n = len(t)
        assert b.src_len[i] == len(s)
        assert b.src[i, : len(s)].tolist() == sv.encode(s)
        assert b.tgt_in[i, 1 : n + 1].tolist() == tv.encode(t)
        assert b.tgt_out[i, :n].tolist() == tv.encode(t)
        assert b.tgt_out[i, n] == EOS  # right after the target, not at the padded end
        assert b.tgt_mask[i].sum() == n + 1
        assert sv.decode(b.src[i]) == list(s)


def test_batch_errors_and_device(vocabs):
    sv, tv = vocabs
    with pytest.raises(ValueError, match="empty"):
        make_batch([], sv, tv)
    with pytest.raises(ValueError, match="empty source"):
        make_batch([("", "1999")], sv, tv)
    b = make_batch(PAIRS, sv, tv).to("cpu")
    assert isinstance(b, Batch) and b.src.device.type == "cpu" and len(b) == len(PAIRS)
    with pytest.raises(ValueError):
        Batch(b.src, b.src_len, b.src_mask, b.tgt_in, b.tgt_out[:, :-1], b.tgt_mask)


def _rows(batches, sv, tv):
    return [("".join(sv.decode(b.src[i])), "".join(tv.decode(b.tgt_out[i])))
            for b in batches for i in range(len(b))]


def test_iterate_batches_covers_once_and_is_seeded():
    pairs = date_pairs(37, seed=1)
    sv, tv = Vocab.build(s for s, _ in pairs), Vocab.build(t for _, t in pairs)

    def run(seed, **kw):
        g = torch.Generator().manual_seed(seed)
        return list(iterate_batches(pairs, sv, tv, batch_size=8, generator=g, **kw))

    batches = run(0)
    assert [len(b) for b in batches] == [8, 8, 8, 8, 5]
    assert sorted(_rows(batches, sv, tv)) == sorted(pairs)
    assert _rows(run(0), sv, tv) == _rows(batches, sv, tv)
    assert _rows(run(1), sv, tv) != _rows(batches, sv, tv)
    ordered = list(iterate_batches(pairs, sv, tv, batch_size=8, shuffle=False))
    assert _rows(ordered, sv, tv) == pairs
    for b in run(0, sort_within=True):
        lens = b.src_len.tolist()
        assert lens == sorted(lens, reverse=True)
    with pytest.raises(ValueError, match="batch_size"):
        iterate_batches(pairs, sv, tv, batch_size=0)


# ---------------------------------------------------------------- Dates
# An independent reader of CLDR patterns (Unicode TR35, date field symbols).

NUMERIC_LETTERS = set("dMLyYu")


def pattern_fields(pattern: str) -> list[tuple[str, int]]:
    """(letter, count) for each field, skipping quoted literals ('' is a quote)."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "'":
            j = pattern.find("'", i + 1)
            i = len(pattern) if j < 0 else j + 1
        elif c.isascii() and c.isalpha():
            j = i
            while j < len(pattern) and pattern[j] == c:
                j += 1
            out.append((c, j - i))
            i = j
        else:
            i += 1
    return out


def numeric_fields(pattern: str) -> list[str]:
    """Letters of the fields printed as digits, in order (MMM and longer are words)."""
    return [c for c, n in pattern_fields(pattern) if c in NUMERIC_LETTERS and not (c in "ML" and n > 2)]


def read_numbers(source: str, pattern: str) -> dict[str, int]:
    """{'year', 'month', 'day'} read from the digits of ``source`` (those present)."""
    groups = re.findall(r"\d+", source)
    letters = numeric_fields(pattern)
    if len(groups) != len(letters):
        raise AssertionError(f"{source!r}: {len(groups)} numbers for fields {letters} of {pattern!r}")
    out = {}
    for letter, g in zip(letters, groups):
        if letter in "yYu":
            if len(g) == 4:
                out["year"] = int(g)
            elif len(g) == 2:  # two-digit years name one year of 1950-2049
                out["year"] = 1900 + int(g) if int(g) >= 50 else 2000 + int(g)
            else:
                raise AssertionError(f"{source!r}: year {g!r} is neither 2 nor 4 digits")
        else:
            out["day" if letter == "d" else "month"] = int(g)
    return out


def problems(source: str, target: str, pattern: str) -> list[str]:
    """Disagreements between the numbers in ``source`` and the ISO ``target``."""
    truth = datetime.date.fromisoformat(target)
    got = read_numbers(source, pattern)
    if "year" not in got:
        return [f"{source!r} ({pattern!r}) has no year"]
    return [f"{source!r} ({pattern!r}): {k} {v} != {getattr(truth, k)} of {target}"
            for k, v in got.items() if v != getattr(truth, k)]


def test_pattern_reader_on_hand_checked_strings():
    assert numeric_fields("EEEE, d 'de' MMMM 'de' y") == ["d", "y"]
    assert numeric_fields("dd.MM.yy") == ["d", "M", "y"]
    assert numeric_fields("d 'dd' MMM y") == ["d", "y"]
    assert read_numbers("02.01.06", "dd.MM.yy") == {"day": 2, "month": 1, "year": 2006}
    assert read_numbers("Sat, 1 Jan 50", "EEE, d MMM yy") == {"day": 1, "year": 1950}
    assert read_numbers("31 Dec 2049", "d MMM y") == {"day": 31, "year": 2049}


def test_data_years_use_two_digit_window():
    assert DATE_YEARS == (1950, 2049)  # the window read_numbers assumes


def _hard_days(n_random: int = 400, seed: int = 0) -> list[datetime.date]:
    lo, hi = DATE_YEARS
    days = set()
    for y in range(lo, hi + 1):  # around New Year, where week-year and calendar year differ
        days.update(datetime.date(y, 12, d) for d in range(24, 32))
        days.update(datetime.date(y, 1, d) for d in range(1, 8))
    rng = random.Random(seed)
    first, last = datetime.date(lo, 1, 1).toordinal(), datetime.date(hi, 12, 31).toordinal()
    days.update(datetime.date.fromordinal(rng.randint(first, last)) for _ in range(n_random))
    for d in list(days):  # add the day/month swap, so M/d vs d/M clashes show up
        try:
            days.add(datetime.date(d.year, d.day, d.month))
        except ValueError:
            pass
    return sorted(days)


@pytest.fixture(scope="module")
def hard_days():
    return _hard_days()


@pytest.fixture(scope="module")
def generated(hard_days):
    """{(locale, fmt): [(source, target), ...]} over the hard days."""
    return {(loc, fmt): [(format_date(d, loc, fmt), d.isoformat()) for d in hard_days]
            for loc, fmt in DATE_FORMATS}


def clashes(examples) -> dict[str, set[str]]:
    """Sources that were generated with more than one target."""
    targets = defaultdict(set)
    for source, target in examples:
        targets[source].add(target)
    return {s: t for s, t in targets.items() if len(t) > 1}


def test_date_formats_cover_locales_and_use_calendar_year():
    assert len(DATE_LOCALES) == 8 and {loc for loc, _ in DATE_FORMATS} == set(DATE_LOCALES)
    assert len(set(DATE_FORMATS)) == len(DATE_FORMATS)
    assert ("en_US", "short") not in DATE_FORMATS
    for loc, fmt in DATE_FORMATS:
        letters = [c for c, _ in pattern_fields(date_pattern(loc, fmt))]
        assert "Y" not in letters and letters.count("y") == 1, (loc, fmt)


def test_dates_are_well_defined(generated, hard_days):
    everything = [ex for exs in generated.values() for ex in exs]
    assert len(everything) == len(DATE_FORMATS) * len(hard_days)
    assert clashes(everything) == {}


def test_dates_clash_check_can_fail():
    days = [datetime.date(2006, 1, 2), datetime.date(2006, 2, 1)]
    bad = [(format_date(d, loc, f), d.isoformat()) for d in days for loc, f in [("en_US", "short"), ("es_ES", "short")]]
    assert clashes(bad)


def test_every_source_reads_back_to_its_target(generated):
    errors = []
    for (loc, fmt), examples in generated.items():
        pattern = date_pattern(loc, fmt)
        for source, target in examples:
            errors += problems(source, target, pattern)
    assert errors == []


def test_text_months_are_consistent(generated):
    """With digits removed, what is left must name one month (per format)."""
    for (loc, fmt), examples in generated.items():
        if "M" in numeric_fields(date_pattern(loc, fmt)):
            continue
        month_of = defaultdict(set)
        for source, target in examples:
            month_of[re.sub(r"\d+", "#", source)].add(target[5:7])
        assert all(len(m) == 1 for m in month_of.values()), (loc, fmt)


def test_week_year_pattern_is_caught():
    day = datetime.date(2018, 12, 31)  # ISO week 1 of 2019
    buggy = babel_format_date(day, "d MMM YYYY", locale="en_GB")
    assert problems(buggy, day.isoformat(), "d MMM YYYY")  # the check sees year 2019
    good = babel_format_date(day, "d MMM y", locale="en_GB")
    assert problems(good, day.isoformat(), "d MMM y") == []
    with pytest.raises(ValueError, match="week"):
        format_date(day, "en_GB", "d MMM YYYY")


def test_date_pairs_come_from_the_formats():
    pairs = date_pairs(1000, seed=3)
    used = set()
    for source, target in pairs:
        day = datetime.date.fromisoformat(target)
        hits = {(loc, f) for loc, f in DATE_FORMATS if format_date(day, loc, f) == source}
        assert hits, source
        used |= hits
    assert used == set(DATE_FORMATS)


def test_date_pairs_are_deterministic_and_bounded():
    assert date_pairs(200, seed=5) == date_pairs(200, seed=5)
    assert date_pairs(200, seed=5) != date_pairs(200, seed=6)
    assert {t[:4] for _, t in date_pairs(300, seed=0, years=(2000, 2001))} == {"2000", "2001"}
    days = [datetime.date(1999, 12, 31), datetime.date(2000, 1, 1)]
    assert {t for _, t in date_pairs(100, seed=0, dates=days)} == {d.isoformat() for d in days}
    with pytest.raises(ValueError):
        date_pairs(10, seed=0, years=(1900, 2000))
    with pytest.raises(ValueError):
        date_pairs(10, seed=0, dates=[datetime.date(2050, 1, 1)])


def test_date_splits_hold_out_days():
    train, test = date_splits(3000, 1000, seed=0)
    assert len(train) == 3000 and len(test) == 1000
    assert not {t for _, t in train} & {t for _, t in test}
    assert date_splits(3000, 1000, seed=0) == (train, test)
    assert date_splits(3000, 1000, seed=1) != (train, test)


# ---------------------------------------------------------------- Symbol tasks


@pytest.mark.parametrize("task", ["copy", "reverse"])
def test_symbol_pairs(task):
    pairs = symbol_pairs(500, 3, 7, task=task, alphabet="abc", seed=1)
    lengths = Counter(len(s) for s, _ in pairs)
    assert set(lengths) == set(range(3, 8))
    for s, t in pairs:
        assert set(s) <= set("abc")
        assert t == (s if task == "copy" else s[::-1])
    assert symbol_pairs(50, 3, 7, task=task, seed=2) == symbol_pairs(50, 3, 7, task=task, seed=2)
    assert symbol_pairs(50, 3, 7, task=task, seed=2) != symbol_pairs(50, 3, 7, task=task, seed=3)


def test_reverse_differs_from_copy():
    assert any(s != t for s, t in symbol_pairs(20, 5, 5, task="reverse"))


def test_symbol_pairs_errors():
    with pytest.raises(ValueError, match="task"):
        symbol_pairs(5, 1, 3, task="sort")
    with pytest.raises(ValueError, match="min_len"):
        symbol_pairs(5, 0, 3)
    with pytest.raises(ValueError, match="min_len"):
        symbol_pairs(5, 4, 3)


# ---------------------------------------------------------------- Corpus reader


def write(tmp_path, name, lines, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes("\n".join(lines).encode(encoding) + b"\n" if isinstance(lines[0], str) else b"\n".join(lines))
    return path


def test_word_tokenize():
    assert word_tokenize("Go.") == ["go", "."]
    assert word_tokenize("I don't know!") == ["i", "don't", "know", "!"]
    assert word_tokenize("Va-t\u2019en !") == ["va", "-", "t'en", "!"]
    decomposed = "Cafe\u0301"
    assert word_tokenize(decomposed) == [unicodedata.normalize("NFC", "café")]


def test_read_good_and_three_column_files(tmp_path):
    rows = [("Go.", "Va !"), ("Who are you?", "Qui êtes-vous ?"), ("I'm OK.", "Ça va.")]
    two = write(tmp_path, "two.txt", [f"{a}\t{b}" for a, b in rows[:2]] + [""] + [f"{a}\t{b}" for a, b in rows[2:]])
    three = write(tmp_path, "three.txt", [f"{a}\t{b}\tCC-BY 2.0 (France) #{i}" for i, (a, b) in enumerate(rows)])
    expected = [(word_tokenize(a), word_tokenize(b)) for a, b in rows]
    assert read_parallel_corpus(two) == expected
    assert read_parallel_corpus(str(three)) == expected
    assert read_parallel_corpus(three, max_pairs=2) == expected[:2]
    assert read_parallel_corpus(three, tokenize=str.split)[0] == (["Go."], ["Va", "!"])


@pytest.mark.parametrize("bad", ["no tab here", "\tonly target", "only source\t"])
def test_malformed_line_names_file_and_line(tmp_path, bad):
    lines = ["Go.\tVa !", "Hi.\tSalut !", bad, "Run!\tCours !"]
    path = write(tmp_path, "broken.txt", lines)
    with pytest.raises(CorpusFormatError) as err:
        read_parallel_corpus(path)
    msg = str(err.value)
    assert "broken.txt" in msg and f"line {lines.index(bad) + 1}" in msg and bad.strip() in msg
    assert isinstance(err.value, ValueError)
    assert len(read_parallel_corpus(path, max_pairs=2)) == 2  # stops before the bad line


def test_bad_utf8_names_file_and_line(tmp_path):
    lines = ["Go.\tVa !".encode(), "Hi.\tSalut !".encode(), "Caf\xe9\tcaf\xe9".encode("latin-1")]
    path = write(tmp_path, "latin1.txt", lines)
    with pytest.raises(CorpusFormatError, match=rf"latin1\.txt.*line {len(lines)}\b"):
        read_parallel_corpus(path)


# ---------------------------------------------------------------- character and word vocabularies (issue 14)

def test_vocab_says_whether_it_holds_characters_or_words():
    chars, words = Vocab.build(["2006-01-02"]), Vocab.build(SENTENCES)
    assert chars.kind == "char" and words.kind == "word"
    assert "char" in repr(chars) and "word" in repr(words)
    assert Vocab(chars.tokens).kind == "char" and Vocab(words.tokens).kind == "word"  # rebuilt from a checkpoint
    assert Vocab.build([["a", "b"]], kind="word").kind == "word"  # one-letter words, said explicitly
    with pytest.raises(ValueError, match="single characters"):
        Vocab(words.tokens, kind="char")
    with pytest.raises(ValueError, match="mixes plain strings with token lists"):
        Vocab.build([["jump", "twice"], "walk left"])
    with pytest.raises(TypeError, match="one string"):
        Vocab.build("walk left")


def test_a_string_against_a_word_vocabulary_is_refused_not_split_into_unknown_characters():
    words = Vocab.build([["jump", "twice"], ["walk"]])
    assert words.encode("jump twice".split()) == [words.index("jump"), words.index("twice")]
    with pytest.raises(ValueError, match=r"word vocabulary.*split\(\)"):
        words.encode("jump twice")
    with pytest.raises(ValueError, match="pair 1, source .word vocabulary."):
        make_batch([(["jump"], ["walk"]), ("jump twice", ["walk"])], words, words)
    chars = Vocab.build(["abc"])
    with pytest.raises(ValueError, match="multi-character token 'jump'"):
        chars.encode(["jump"])
    assert chars.encode(["a", "<unk>"]) == [chars.index("a"), UNK]  # specials are tokens of every vocabulary


def test_batch_and_decode_errors_are_clear(vocabs):
    sv, tv = vocabs
    with pytest.raises(ValueError, match="pair 0 has target None.*empty target"):
        make_batch([("12 Jan 1999", None)], sv, tv)
    b = make_batch([("12 Jan 1999", ())], sv, tv)  # decoding only: an empty target
    assert b.tgt_out.tolist() == [[EOS]]
    with pytest.raises(ValueError, match="decode_batch"):
        tv.decode([[5, 6], [7]])
    with pytest.raises(ValueError, match="decode_batch"):
        tv.decode(torch.tensor([[5, 6]]))
    ids = make_batch(PAIRS[:2], sv, tv).tgt_out
    assert tv.decode_batch(ids) == [list(PAIRS[0][1]), list(PAIRS[1][1])]
    assert tv.decode_batch(ids.tolist()) == tv.decode_batch(ids)


def test_top_level_exports():
    import attnlib
    from attnlib import TrainConfig, evaluate, make_batch as mb, train
    from attnlib.train import evaluate as evaluate_, train as train_
    assert attnlib.Vocab is Vocab and mb is make_batch and train is train_ and evaluate is evaluate_
    assert TrainConfig().val_fraction > 0


# ---------------------------------------------------------------- SCAN (Lake and Baroni 2018)

def test_scan_has_the_papers_20910_distinct_commands():
    from attnlib.data import SCAN_SIZE, scan_commands
    commands = scan_commands()
    assert len(commands) == SCAN_SIZE == 20910 and len(set(commands)) == 20910


@pytest.mark.parametrize("command, actions", [
    ("jump left after walk twice", "I_WALK I_WALK I_TURN_LEFT I_JUMP"),            # the paper's examples (Fig. 1)
    ("run around right", "I_TURN_RIGHT I_RUN " * 3 + "I_TURN_RIGHT I_RUN"),
    ("jump", "I_JUMP"),
    ("jump twice", "I_JUMP I_JUMP"),
    ("jump opposite right twice and walk", "I_TURN_RIGHT I_TURN_RIGHT I_JUMP I_TURN_RIGHT I_TURN_RIGHT I_JUMP I_WALK"),
    ("walk left thrice", "I_TURN_LEFT I_WALK I_TURN_LEFT I_WALK I_TURN_LEFT I_WALK"),
    ("turn around left", "I_TURN_LEFT I_TURN_LEFT I_TURN_LEFT I_TURN_LEFT"),
    ("turn opposite right", "I_TURN_RIGHT I_TURN_RIGHT"),
    ("look right and turn left", "I_TURN_RIGHT I_LOOK I_TURN_LEFT"),
    ("look right after turn left", "I_TURN_LEFT I_TURN_RIGHT I_LOOK"),
])
def test_scan_interpretation_follows_the_grammar(command, actions):
    from attnlib.data import scan_interpret
    assert scan_interpret(command) == actions.split()
    assert scan_interpret(command.split()) == actions.split()


def test_scan_rejects_commands_outside_the_grammar():
    from attnlib.data import scan_interpret
    for bad in ("turn", "fly left", "jump left around", "jump and", "walk twice twice"):
        with pytest.raises(ValueError, match="not a SCAN command"):
            scan_interpret(bad)


def test_scan_splits():
    from attnlib.data import scan_split
    train, test = scan_split("random", seed=0)
    assert (len(train), len(test)) == (16728, 4182)
    assert not {" ".join(s) for s, _ in train} & {" ".join(s) for s, _ in test}
    assert scan_split("random", seed=0) == (train, test) and scan_split("random", seed=1)[1] != test
    train, test = scan_split("length")
    assert (len(train), len(test)) == (16990, 3920)  # the paper's counts (section 4, experiment 2)
    assert max(len(t) for _, t in train) == 22
    assert (min(len(t) for _, t in test), max(len(t) for _, t in test)) == (24, 48)
    assert all(isinstance(s, list) and isinstance(t, list) for s, t in train[:5])
    src, tgt = Vocab.build(s for s, _ in train), Vocab.build(t for _, t in train)
    assert src.kind == tgt.kind == "word" and len(src) == 4 + 13 and len(tgt) == 4 + 6
    with pytest.raises(ValueError, match="split must be"):
        scan_split("addprim_jump")
