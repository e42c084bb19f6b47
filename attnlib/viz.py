"""Attention heatmaps with token labels."""
from __future__ import annotations

import torch


def plot_attention(weights, src_tokens, tgt_tokens, ax=None, title: str | None = None, cmap: str = "viridis"):
    """Draw weights (T, S) as a heatmap: rows are output tokens, columns input tokens.

    Returns the matplotlib Axes. Cells are the weight output step t gave to
    source position s; each row sums to 1 over the real source tokens.
    """
    import matplotlib.pyplot as plt

    w = weights.detach().float().cpu().numpy() if isinstance(weights, torch.Tensor) else weights
    if w.ndim != 2:
        raise ValueError(f"weights must be 2-D (T, S), got shape {tuple(w.shape)}")
    w = w[: len(tgt_tokens), : len(src_tokens)]
    if ax is None:
        _, ax = plt.subplots(figsize=(0.35 * len(src_tokens) + 2, 0.35 * len(tgt_tokens) + 1.5))
    ax.imshow(w, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(src_tokens)), ["␣" if t == " " else t for t in src_tokens])
    ax.set_yticks(range(len(tgt_tokens)), list(tgt_tokens))
    ax.set_xlabel("input (source) token")
    ax.set_ylabel("output (target) token")
    ax.set_title(title or "attention weights: which input each output step read")
    return ax
