"""Benchmark "local" (bench/local.py) at --quick sizes: its rows, its plot, and an agreement row that can fail."""
from __future__ import annotations

import json


from bench import __main__ as cli
from bench import local as local_bench


def test_quick_local_run_writes_rows_and_plot(tmp_path):
    rows, code = cli.run(["local"], quick=True, out_dir=str(tmp_path), log=lambda *a: None, threads=1)
    assert code == 0, [r.id for r in rows if r.passed is False]
    ids = [r.id for r in rows]
    for S in cli.QUICK.scaling_S:
        assert f"local/fwd/S={S}" in ids and f"local/fwd+bwd/S={S}" in ids
    agree = next(r for r in rows if r.id == "local/agree")
    assert agree.passed is True and agree.values["max_abs_diff"] < 1e-5
    data = json.loads((tmp_path / "results.json").read_text())
    series = next(r for r in data["rows"] if r["id"].startswith("local/flat"))["values"]["local_series"]
    assert set(series) == {"forward", "forward + backward"}
    assert set(series["forward"]) == {"global", "local-m", "local-p", "local-p (dense)"}
    assert all(min(s["seconds"]) > 0 for mode in series.values() for s in mode.values())
    assert (tmp_path / "local_scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## Local vs global attention, one decoder step" in (tmp_path / "results.md").read_text()


def test_agreement_row_fails_on_a_wrong_local_attention(tmp_path, monkeypatch):
    original = local_bench.candidates

    def wrong(H, D, device):
        fns = original(H, D, device)
        right = fns["local-p"]
        fns["local-p"] = lambda x: tuple(t * 1.01 for t in right(x))  # 1% off
        return fns

    monkeypatch.setattr(local_bench, "candidates", wrong)
    rows, code = cli.run(["local"], quick=True, out_dir=str(tmp_path), log=lambda *a: None, threads=1)
    assert code == 1 and next(r for r in rows if r.id == "local/agree").passed is False
