"""attnlib.train's max_seconds bounds the whole run, evaluations included (notebook 05's LIVE_SECONDS).

A fake clock makes the test exact and independent of the machine's speed: every training step costs 1 s and
every evaluation 5 s of fake time, so a run with a budget of 30 s must stop, evaluated, at or before 30 s.
Before its first evaluation the trainer cannot know what one costs: a budget that ends around the first
evaluation may be passed by one step and two evaluations (notebook 05 keeps them cheap: 200 dates).
"""
import importlib
import types

import pytest
import torch

from attnlib.data import date_splits
from attnlib.seq2seq import ModelConfig, build_model
from attnlib.train import TrainConfig
from attnlib.vocab import Vocab

train_module = importlib.import_module("attnlib.train")  # the module: `attnlib.train` is also the exported function


class FakeClock:
    """The trainer's clock; the other clock runs 10x faster (wall time on a loaded machine, or CPU time of
    threads), so a trainer that reads the wrong one stops far too early."""

    def __init__(self, clock: str):
        self.now, self.clock = 0.0, clock

    def module(self):
        def read(name):
            return lambda: self.now if name == self.clock else 10 * self.now
        return types.SimpleNamespace(perf_counter=read("wall"), process_time=read("cpu"))


@pytest.fixture(scope="module")
def tiny_task():
    train_pairs, test_pairs = date_splits(200, 10, seed=0)
    return train_pairs, test_pairs, Vocab.build(s for s, _ in train_pairs), Vocab.build(t for _, t in train_pairs)


@pytest.mark.parametrize("clock_name", ["wall", "cpu"])
@pytest.mark.parametrize("budget, allowed", [(20.0, 20.0), (30.0, 30.0), (5.0, 5.0 + 1.0 + 2 * 5.0)])
def test_max_seconds_bounds_steps_and_evaluations(monkeypatch, tiny_task, budget, allowed, clock_name):
    clock = FakeClock(clock_name)
    real_evaluate, real_adam_step = train_module.evaluate, torch.optim.Adam.step

    def slow_evaluate(*args, **kwargs):
        clock.now += 5.0
        return real_evaluate(*args, **kwargs)

    def slow_step(self, *args, **kwargs):
        clock.now += 1.0
        return real_adam_step(self, *args, **kwargs)

    monkeypatch.setattr(train_module, "time", clock.module())
    monkeypatch.setattr(train_module, "evaluate", slow_evaluate)
    monkeypatch.setattr(torch.optim.Adam, "step", slow_step)
    train_pairs, test_pairs, sv, tv = tiny_task
    torch.manual_seed(0)
    model = build_model(ModelConfig(variant="dot", hidden_size=8, emb_size=4), len(sv), len(tv))
    config = TrainConfig(batch_size=4, max_steps=1000, max_seconds=budget, eval_every=3, target=None, progress=False,
                         clock=clock_name)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # a tiny model: one thread is fastest on a shared machine
    try:
        history = train_module.train(model, train_pairs, test_pairs, sv, tv, config, device="cpu")
    finally:
        torch.set_num_threads(threads)
    assert history.records, "the run must end with an evaluation"
    assert history.seconds <= allowed, f"the run took {history.seconds} fake seconds, budget {budget}, allowed {allowed}"
    # and it used the budget: one more step and the evaluations it could bring would have passed it
    assert history.seconds + 1.0 + 2 * 5.0 > budget, f"the run stopped early, at {history.seconds} of {budget} s"
    assert history.records[-1]["step"] < config.max_steps
