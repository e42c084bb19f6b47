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


def draw_encoder_decoder(ax, source=("4", "2", "7"), attention: bool = False, step: int = 1, weights=None):
    """Draw an RNN encoder-decoder copying ``source`` on ``ax``: boxes for the RNN steps, arrows for the states.

    Without attention the decoder's only view of the source is the encoder's final state (h, c), drawn in red.
    With ``attention=True`` decoder step ``step`` (0-based) also reads every encoder state, with line widths
    proportional to ``weights`` (S numbers summing to 1; default: most weight on the position being copied).
    Returns ax. Pure matplotlib, nothing downloaded.
    """
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    source = [str(t) for t in source]
    S = len(source)
    if S < 1:
        raise ValueError("source must hold at least one token")
    if not 0 <= step <= S:
        raise ValueError(f"step must be a decoder step 0..{S} (S = {S}), got {step}")
    if weights is None:
        weights = [0.1 / max(S - 1, 1)] * S
        weights[min(step, S - 1)] = 0.9 if S > 1 else 1.0
    if len(weights) != S:
        raise ValueError(f"weights must have one number per source token: {S} tokens, {len(weights)} weights")
    targets, inputs = source + ["</s>"], ["<s>"] + source
    enc_x = [1.2 * s for s in range(S)]
    dec_x = [1.2 * (S + 1) + 1.2 * t for t in range(S + 1)]

    def box(x, y, text, color):
        ax.add_patch(FancyBboxPatch((x - 0.4, y - 0.3), 0.8, 0.6, boxstyle="round,pad=0.05", facecolor=color,
                                    edgecolor="black", linewidth=1))
        ax.text(x, y, text, ha="center", va="center", fontsize=9)

    def arrow(a, b, color="black", width=1.0, style="-|>", rad=0.0):
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle=style, mutation_scale=10, color=color, linewidth=width,
                                     shrinkA=2, shrinkB=2, connectionstyle=f"arc3,rad={rad}"))

    for s, x in enumerate(enc_x):
        box(x, 0, "LSTM", "#dbe9f6")
        ax.text(x, -1.0, source[s], ha="center", va="center", fontsize=11, family="monospace")
        arrow((x, -0.75), (x, -0.35))
        if s:
            arrow((enc_x[s - 1] + 0.45, 0), (x - 0.45, 0))
        ax.text(x, 0.5, r"$\bar h_{%d}$" % (s + 1), ha="center", va="bottom", fontsize=9)
    for t, x in enumerate(dec_x):
        box(x, 0, "LSTM", "#fde2c8")
        ax.text(x, -1.0, inputs[t], ha="center", va="center", fontsize=9, family="monospace")
        arrow((x, -0.75), (x, -0.35))
        ax.text(x, 1.6, targets[t], ha="center", va="center", fontsize=11, family="monospace")
        arrow((x, 0.35), (x, 1.35))
        if t:
            arrow((dec_x[t - 1] + 0.45, 0), (x - 0.45, 0))
    # the bottleneck: the final encoder state (h, c) is the decoder's start
    arrow((enc_x[-1] + 0.45, 0), (dec_x[0] - 0.45, 0), color="tab:red", width=2.5)
    ax.text((enc_x[-1] + dec_x[0]) / 2, -0.35, "(h, c)", ha="center", va="top", fontsize=9, color="tab:red")
    if attention:
        for s, (x, w) in enumerate(zip(enc_x, weights)):
            arrow((x + 0.2, 0.32), (dec_x[step] - 0.2, 0.32), color="tab:green", width=0.5 + 4 * float(w),
                  rad=-0.35)
        ax.text(dec_x[-1] + 0.55, 0.6, r"$c_t = \sum_s a_t(s)\,\bar h_s$" + "\n(line width: $a_t(s)$)",
                ha="left", va="center", fontsize=9, color="tab:green")
    ax.set_xlim(-0.8, dec_x[-1] + 0.8 + (2.4 if attention else 0))
    ax.set_ylim(-1.4, 2.6 if attention else 2.0)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.text(enc_x[0] - 0.5, 1.6, "encoder", ha="left", va="center", fontsize=10, color="#1f4e79")
    ax.text(dec_x[0] - 0.5, -1.35, "decoder (inputs: the previous correct token)", ha="left", va="center",
            fontsize=9, color="#8a4b08")
    return ax
