"""Checkpoints: round trip, tamper detection, no pickled code."""
import pickle

import pytest
import torch

from attnlib.checkpoints import CheckpointError, load_checkpoint, save_checkpoint, sha256_of
from attnlib.seq2seq import ModelConfig, build_model
from attnlib.vocab import Vocab


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    sv, tv = Vocab.build(["abc", "abd"]), Vocab.build(["12", "34"])
    model = build_model(ModelConfig(variant="bahdanau", hidden_size=8, emb_size=4), len(sv), len(tv)).eval()
    path = tmp_path / "m.pt"
    digest = save_checkpoint(path, model, sv, tv, extra={"history": [1.0, 0.5]})
    return path, digest, model, sv, tv


def test_round_trip(saved):
    path, digest, model, sv, tv = saved
    loaded, sv2, tv2, extra = load_checkpoint(path, sha256=digest)
    assert sv2.tokens == sv.tokens and tv2.tokens == tv.tokens and extra == {"history": [1.0, 0.5]}
    src, lengths, tgt = torch.tensor([[4, 5, 6]]), torch.tensor([3]), torch.tensor([[1, 4]])
    assert torch.equal(loaded(src, lengths, tgt)[0], model(src, lengths, tgt)[0])
    assert load_checkpoint(path)[0] is not None  # sidecar sha256 accepted


def test_tampered_file_is_refused(saved):
    path, digest, *_ = saved
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256 .* expected"):
        load_checkpoint(path, sha256=digest)


def test_missing_file_and_sidecar(tmp_path, saved):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    path = saved[0]
    (tmp_path / "m.pt.sha256").unlink()
    with pytest.raises(CheckpointError, match="no m.pt.sha256"):
        load_checkpoint(path)


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickled_code_is_refused_even_with_matching_hash(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"config": {}, "state_dict": {}, "payload": Evil()}, path)
    with pytest.raises(CheckpointError, match="could not be loaded"):
        load_checkpoint(path, sha256=sha256_of(path))


def test_wrong_shapes_are_reported(tmp_path, saved):
    path, _, model, sv, tv = saved
    payload = torch.load(path, weights_only=True)
    payload["config"]["hidden_size"] = 12
    bad = tmp_path / "bad.pt"
    torch.save(payload, bad)
    with pytest.raises(CheckpointError, match="bad.pt could not be loaded"):
        load_checkpoint(bad, sha256=sha256_of(bad))
