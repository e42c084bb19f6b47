import math

import pytest

from attnlib.metrics import bleu, exact_match, token_accuracy


def test_exact_and_token_accuracy():
    preds, refs = [[1, 2, 3], [1, 2], [4]], [[1, 2, 3], [1, 3], [4, 5]]
    assert exact_match(preds, refs) == pytest.approx(1 / 3)
    assert token_accuracy(preds, refs) == pytest.approx((3 + 1 + 1) / 7)


def test_bleu_by_hand():
    assert bleu([["a", "b", "c", "d"]], [["a", "b", "c", "d"]]) == pytest.approx(1.0)
    assert bleu([["x", "y"]], [["a", "b"]]) == 0.0
    # unigrams 4/4, bigrams 2/3, trigrams 1/2, 4-grams 0/1 -> zero with max_n=4; check max_n=3 by hand
    p, r = [["a", "b", "c", "e"]], [["a", "b", "c", "d", "f"]]
    expected = math.exp(1 - 5 / 4) * (3 / 4 * 2 / 3 * 1 / 2) ** (1 / 3)
    assert bleu(p, r, max_n=3) == pytest.approx(expected)


def test_metric_errors():
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        exact_match([[1], [2]], [[1]])
    with pytest.raises(ValueError, match="no references"):
        bleu([], [])
