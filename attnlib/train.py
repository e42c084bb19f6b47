"""Training: seeded, clipped, early-stopped at a target exact match, with a history.

    history = train(model, train_pairs, eval_pairs, src_vocab, tgt_vocab, TrainConfig())
    metrics = evaluate(model, pairs, src_vocab, tgt_vocab)   # exact match, token accuracy
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from .data import Batch, make_batch
from .device import resolve_device, seed_everything
from .metrics import bleu, exact_match, token_accuracy
from .seq2seq import ModelConfig, build_model
from .vocab import EOS

TEST_STEPS = 3000  # tests/test_train.py's budget; every variant needs at most half of it (benchmark 10)


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 128             # large batches: few well-vectorised steps, the CPU's sweet spot
    lr: float = 5e-3                  # Adam; high for speed (dot: 5x fewer steps than at 3e-3) ...
    lr_patience: int = 3              # ... halved after this many evaluations without a new best exact match,
    min_lr: float = 5e-4              # ... down to this floor (the bottleneck model needs long training)
    clip: float = 1.0                 # gradient-norm clipping: RNN gradients can explode
    max_steps: int = 3000
    max_seconds: float | None = None  # wall-clock budget, evaluations included (a live run in a notebook)
    eval_every: int = 25              # steps between held-out evaluations
    target: float | None = 0.99       # stop once held-out exact match reaches this
    seed: int = 0
    progress: bool = True             # a tqdm bar (notebook-aware)


@dataclass
class History:
    """One record per evaluation: step, seconds (wall, evaluations included), train_seconds (in training
    steps only), lr, loss (mean since last eval), exact, token_acc, bleu."""

    records: list = field(default_factory=list)
    reached_target: bool = False

    @property
    def seconds(self) -> float:
        return self.records[-1]["seconds"] if self.records else 0.0

    @property
    def train_seconds(self) -> float:
        return self.records[-1]["train_seconds"] if self.records else 0.0

    @property
    def exact(self) -> float:
        return self.records[-1]["exact"] if self.records else 0.0

    def column(self, name: str) -> list:
        return [r[name] for r in self.records]


def date_model(variant: str, src_vocab_size: int, tgt_vocab_size: int, seed: int = 0, **config):
    """The course's model for the date task, initialised from `seed`. The bottleneck ("none") carries the
    whole date in its one vector and gets a twice wider one (H=256) to reach 99%."""
    config.setdefault("hidden_size", 256 if variant == "none" else 128)
    seed_everything(seed)
    return build_model(ModelConfig(variant=variant, **config), src_vocab_size, tgt_vocab_size)


def _rows(batch: Batch, index: torch.Tensor) -> Batch:
    """Rows `index` of a big padded batch, trimmed to their longest source and target."""
    src_len = batch.src_len[index]
    tgt_mask = batch.tgt_mask[index]
    S, T = int(src_len.max()), int(tgt_mask.sum(1).max())
    return Batch(batch.src[index, :S], src_len, batch.src_mask[index, :S],
                 batch.tgt_in[index, :T], batch.tgt_out[index, :T], tgt_mask[:, :T])


def strip_eos(ids: list[int]) -> list[int]:
    return ids[: ids.index(EOS)] if EOS in ids else ids


@torch.no_grad()
def predict(model, batch: Batch, max_len: int | None = None, beam_size: int = 1):
    """Decode a batch: -> (list of predicted id lists without EOS, Decoded)."""
    model.eval()
    max_len = max_len or batch.tgt_out.shape[1] + 2
    out = model.beam_search(batch.src, batch.src_len, beam_size=beam_size, max_len=max_len)
    return [strip_eos(row) for row in out.tokens.tolist()], out


def evaluate(model, pairs, src_vocab, tgt_vocab, device=None, batch_size: int = 1000) -> dict:
    """Greedy decoding on pairs: -> {'exact': ..., 'token_acc': ..., 'bleu': ...} (BLEU matters for word tasks)."""
    device = resolve_device(device) if device is not None else next(model.parameters()).device
    preds, refs = [], []
    for start in range(0, len(pairs), batch_size):
        batch = make_batch(pairs[start:start + batch_size], src_vocab, tgt_vocab).to(device)
        p, _ = predict(model, batch)
        preds += p
        refs += [strip_eos(row) for row in (batch.tgt_out.masked_fill(~batch.tgt_mask, 0)).tolist()]
    refs = [[t for t in r if t != 0] for r in refs]
    return {"exact": exact_match(preds, refs), "token_acc": token_accuracy(preds, refs), "bleu": bleu(preds, refs)}


def param_groups(model, lr: float) -> list[dict]:
    """Adam's parameter groups: a parameter with an `lr_scale` attribute learns at lr * lr_scale (the general
    score's W_a, see attnlib.attention.LuongAttention), every other one at lr."""
    scales: dict[float, list] = {}
    for p in model.parameters():
        scales.setdefault(getattr(p, "lr_scale", 1.0), []).append(p)
    return [{"params": ps, "lr": lr * scale} for scale, ps in sorted(scales.items(), reverse=True)]


def train(model, train_pairs, eval_pairs, src_vocab, tgt_vocab, config: TrainConfig = TrainConfig(), device=None) -> History:
    """Adam with gradient clipping on random batches; evaluates every `eval_every` steps."""
    from tqdm.auto import tqdm

    device = resolve_device(device)
    generator = seed_everything(config.seed)
    model.to(device).train()
    full = make_batch(train_pairs, src_vocab, tgt_vocab).to(device)
    groups = param_groups(model, config.lr)
    optimizer = torch.optim.Adam(groups, lr=config.lr)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.5, patience=config.lr_patience,
                                                         min_lr=[config.min_lr * g["lr"] / config.lr for g in groups])
    history, losses, start, train_seconds = History(), [], time.perf_counter(), 0.0
    bar = tqdm(range(1, config.max_steps + 1), disable=not config.progress, leave=False, desc="training")
    for step in bar:
        step_start = time.perf_counter()
        index = torch.randint(len(train_pairs), (config.batch_size,), generator=generator).to(device)
        loss = model.loss(_rows(full, index))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimizer.step()
        losses.append(loss.item())  # .item() waits for a GPU, so the step's clock is honest
        train_seconds += time.perf_counter() - step_start
        # max_seconds bounds the run, evaluations included: stop now if one more step and the evaluations due (a regular
        # one now, the final one), timed like this step and the past evaluations, would pass it
        per_eval = (history.records[-1]["seconds"] - history.records[-1]["train_seconds"]) / len(history.records) if history.records else 0.0
        ahead = time.perf_counter() - step_start + (2 if step % config.eval_every == 0 else 1) * per_eval
        out_of_time = config.max_seconds is not None and time.perf_counter() - start + ahead >= config.max_seconds
        if step % config.eval_every == 0 or step == config.max_steps or out_of_time:
            metrics = evaluate(model, eval_pairs, src_vocab, tgt_vocab)
            model.train()
            plateau.step(metrics["exact"])
            history.records.append({"step": step, "seconds": time.perf_counter() - start, "train_seconds": train_seconds,
                                    "lr": optimizer.param_groups[0]["lr"],
                                    "loss": sum(losses) / len(losses), **metrics})
            losses = []
            bar.set_postfix(loss=f"{history.records[-1]['loss']:.3f}", exact=f"{metrics['exact']:.3f}")
            if config.target is not None and metrics["exact"] >= config.target:
                history.reached_target = True
                break
            if out_of_time:
                break
    bar.close()
    model.eval()
    return history
