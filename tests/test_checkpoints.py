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


def test_shipped_json_is_sha256_checked(tmp_path, monkeypatch):
    """attnlib.pretrained.load_json: plain data beside the checkpoints, refused when it does not match its digest."""
    import json

    from attnlib import pretrained

    data = {"runs": {"dot": {"0": {"final": {"exact": 1.0}}}}}
    (tmp_path / "d.json").write_text(json.dumps(data))
    monkeypatch.setattr(pretrained, "HERE", tmp_path)
    digest = sha256_of(tmp_path / "d.json")
    assert pretrained.load_json("d", sha256=digest) == data
    with pytest.raises(CheckpointError, match="no d.json.sha256"):
        pretrained.load_json("d")
    (tmp_path / "d.json.sha256").write_text(f"{digest}  d.json\n")
    assert pretrained.load_json("d") == data
    (tmp_path / "d.json").write_text(json.dumps({"runs": {}}))
    with pytest.raises(CheckpointError, match="expected"):
        pretrained.load_json("d", sha256=digest)
    with pytest.raises(FileNotFoundError, match="no shipped data 'nope'"):
        pretrained.load_json("nope")


def test_shipped_seed_histories_match_the_checkpoints():
    """dates_seeds.json (tools/train_seeds.py): seed 0 of each variant is the shipped checkpoint's own history."""
    from attnlib import pretrained

    seeds = pretrained.load_json("dates_seeds")
    for variant in ("none", "dot", "general", "bahdanau"):
        extra = torch.load(pretrained.path(f"dates_{variant}"), weights_only=True)["extra"]
        runs = seeds["runs"][variant]
        assert sorted(runs) == ["0", "1", "2"], (variant, sorted(runs))
        assert [r["exact"] for r in runs["0"]["history"]] == [r["exact"] for r in extra["history"]], variant
        assert runs["0"]["final"]["exact"] == extra["final"]["exact"], variant
        for seed, run in runs.items():
            assert len(run["correct"]) == seeds["data"]["n_test"], (variant, seed)
            assert abs(run["correct"].count("1") / len(run["correct"]) - run["final"]["exact"]) < 1e-9, (variant, seed)
