"""Sequence metrics on token lists: exact match, token accuracy, corpus BLEU."""
from __future__ import annotations

import math
from collections import Counter


def _check_pair(predictions, references):
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if not references:
        raise ValueError("no references: metrics need at least one example")


def exact_match(predictions, references) -> float:
    """Fraction of sequences predicted exactly (every token, same length)."""
    _check_pair(predictions, references)
    return sum(list(p) == list(r) for p, r in zip(predictions, references)) / len(references)


def token_accuracy(predictions, references) -> float:
    """Fraction of reference tokens predicted at their position (a missing token counts wrong)."""
    _check_pair(predictions, references)
    right = sum(sum(a == b for a, b in zip(p, r)) for p, r in zip(predictions, references))
    return right / max(1, sum(len(r) for r in references))


def _ngrams(tokens, n):
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def bleu(predictions, references, max_n: int = 4) -> float:
    """Corpus BLEU with one reference per sentence (Papineni et al. 2002), in [0, 1].

    Clipped n-gram precisions for n = 1..max_n, geometric mean, brevity penalty.
    """
    _check_pair(predictions, references)
    matches, totals = [0] * max_n, [0] * max_n
    pred_len = ref_len = 0
    for p, r in zip(predictions, references):
        p, r = list(p), list(r)
        pred_len, ref_len = pred_len + len(p), ref_len + len(r)
        for n in range(1, max_n + 1):
            pc, rc = _ngrams(p, n), _ngrams(r, n)
            matches[n - 1] += sum(min(c, rc[g]) for g, c in pc.items())
            totals[n - 1] += max(0, len(p) - n + 1)
    if min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n
    brevity = 1.0 if pred_len > ref_len else math.exp(1 - ref_len / max(pred_len, 1))
    return brevity * math.exp(log_precision)
