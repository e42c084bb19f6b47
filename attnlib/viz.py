"""Attention heatmaps with token labels."""
from __future__ import annotations

import torch


def plot_attention(weights, src_tokens, tgt_tokens, ax=None, title: str | None = None, cmap: str = "viridis",
                   colorbar: bool = True):
    """Draw weights (T, S) as a heatmap: rows are output tokens, columns input tokens.

    Returns the matplotlib Axes. Cells are the weight output step t gave to
    source position s; each row sums to 1 over the real source tokens. The
    colour scale is fixed to [0, 1] and, unless ``colorbar=False``, a colour
    bar labelled "attention weight" reads a colour back as a number.
    """
    import matplotlib.pyplot as plt

    w = weights.detach().float().cpu().numpy() if isinstance(weights, torch.Tensor) else weights
    if w.ndim != 2:
        raise ValueError(f"weights must be 2-D (T, S), got shape {tuple(w.shape)}")
    w = w[: len(tgt_tokens), : len(src_tokens)]
    if ax is None:
        _, ax = plt.subplots(figsize=(0.35 * len(src_tokens) + 2, 0.35 * len(tgt_tokens) + 1.5))
    image = ax.imshow(w, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label="attention weight", fraction=0.046, pad=0.03)
    ax.set_xticks(range(len(src_tokens)), ["␣" if t == " " else t for t in src_tokens])
    ax.set_yticks(range(len(tgt_tokens)), list(tgt_tokens))
    ax.set_xlabel("input (source) token")
    ax.set_ylabel("output (target) token")
    ax.set_title(title or "attention weights: which input each output step read")
    return ax


# Curves are told apart by marker and line style as well as colour (colour-blind readers, grey-scale prints).
CURVE_STYLES = (
    {"marker": "o", "linestyle": "-"},
    {"marker": "s", "linestyle": "--"},
    {"marker": "^", "linestyle": ":"},
    {"marker": "D", "linestyle": "-."},
    {"marker": "v", "linestyle": (0, (5, 1, 1, 1, 1, 1))},
    {"marker": "x", "linestyle": (0, (1, 3))},
)


def curve_style(i: int) -> dict:
    """Keyword arguments for ``ax.plot`` of the i-th curve: a marker and a line style of its own (cycling after 6).

    Colour stays matplotlib's cycle; ``ax.plot(x, y, **curve_style(i), label=...)``.
    """
    if not isinstance(i, int) or isinstance(i, bool) or i < 0:
        raise ValueError(f"curve index must be a non-negative int, got {i!r}")
    return dict(CURVE_STYLES[i % len(CURVE_STYLES)])
