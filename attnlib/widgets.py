"""Interactive attention explorers for the notebooks (ipywidgets + matplotlib).

Four explorers, each returning one top-level widget whose parts are exposed as
attributes, so that a test (or a curious learner) can drive them from code:

    softmax_explorer(scores, mask)           .sliders .temperature .readout .weights .image .figure
    step_explorer(model, src_vocab, tgt_vocab, source)
                                             .step .top .prediction .weights .image .figure
    variant_explorer(models, src_vocab, tgt_vocab)
                                             .text .dropdown .step .message .prediction .weights .image .figure
    local_explorer(model, src_vocab, tgt_vocab, source)
                                             .step .info .top .prediction .weights .positions .image .figure

Every explorer draws into ONE matplotlib ``Figure`` that it owns (made with
``matplotlib.figure.Figure``, not ``pyplot``, so no figure piles up in the
kernel) and updates its artists in place (bar heights, image data); the PNG is
shown in an ``ipywidgets.Image``. A redraw takes tens of milliseconds on a CPU.

matplotlib and ipywidgets are imported inside the functions: ``import attnlib``
stays light for code that never draws.

Shapes use the package legend: weights (T, S) for one sentence, rows are
output steps, columns source tokens.
"""
from __future__ import annotations

import html
import io
import math

import torch

from .attention import masked_softmax
from .vocab import EOS

DEFAULT_SCORES = (2.0, 1.0, 0.1, -1.0, 0.5)


def _png(figure) -> bytes:
    """The figure as PNG bytes (Agg canvas; pyplot never involved)."""
    buf = io.BytesIO()
    figure.savefig(buf, format="png")
    return buf.getvalue()


def _with_static_fallback(box, what: str):
    """Give the explorer ``box`` a static representation besides its live widget view.

    Its display bundle gains the current figure as ``image/png`` and a text
    saying what the explorer shows. JupyterLab and Notebook render the live
    widget (their widget renderer outranks images); a notebook viewer, an
    exported HTML page or a notebook opened without a kernel cannot run
    widgets and shows the static figure and the text instead.
    """
    import base64

    live = box._repr_mimebundle_  # ipywidgets' own: text/plain + the widget view

    def bundle(**kwargs):
        data = dict(live(**kwargs) or {})
        png = box.image.value  # the explorer's current figure, PNG bytes
        if png and getattr(box, "weights", None) is not None:  # a variant without attention has no map to show
            data["image/png"] = base64.b64encode(png).decode("ascii")
        data["text/plain"] = (f"{what} [an interactive explorer: run the notebook in Jupyter to use it; "
                              f"the figure shows its first state]")
        return data

    box._repr_mimebundle_ = bundle
    box.static_text = what
    return box


def _show_token(t: str) -> str:
    return "␣" if t == " " else t


def _esc(t: str) -> str:
    return html.escape(_show_token(t))


# --------------------------------------------------------------------------
# 1. Softmax explorer: scores -> weights, with a mask and a temperature
# --------------------------------------------------------------------------


def _as_list(name: str, values, kind) -> list:
    if isinstance(values, torch.Tensor):
        if values.dim() != 1:
            raise ValueError(f"{name} must be 1-D (S,), got shape {tuple(values.shape)}")
        values = values.tolist()
    try:
        return [kind(v) for v in values]
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be a sequence of {kind.__name__}s, got {values!r}") from e


def softmax_explorer(scores=None, mask=None, score_range: float = 6.0):
    """Sliders over raw scores (S,) and a temperature; a bar chart of masked_softmax's weights.

    scores: S numbers (default five); mask: S bools, True on real tokens (default
    all real). A masked position keeps its slider, but its weight stays exactly 0.
    Returns a VBox with ``.sliders`` (S FloatSliders), ``.temperature``,
    ``.readout`` (HTML table of the weights), ``.weights`` (the current (S,)
    tensor), ``.image`` and ``.figure``.
    """
    import ipywidgets as widgets
    from matplotlib.figure import Figure

    scores = list(DEFAULT_SCORES) if scores is None else _as_list("scores", scores, float)
    S = len(scores)
    if not 1 <= S <= 12:
        raise ValueError(f"scores must hold between 1 and 12 numbers (one slider each), got {S}")
    if not all(math.isfinite(s) for s in scores):
        raise ValueError(f"scores must be finite numbers, got {scores}")
    mask = [True] * S if mask is None else _as_list("mask", mask, bool)
    if len(mask) != S:
        raise ValueError(f"mask must have one entry per score: {S} scores, {len(mask)} mask entries")
    lim = max(score_range, max(abs(s) for s in scores))

    sliders = [
        widgets.FloatSlider(value=s, min=-lim, max=lim, step=0.1, readout_format=".1f",
                            description=f"score {i}" + ("" if real else " ✕"),
                            tooltip="masked: its weight stays 0" if not real else f"raw score of position {i}",
                            style={"description_width": "90px"})
        for i, (s, real) in enumerate(zip(scores, mask))
    ]
    temperature = widgets.FloatSlider(value=1.0, min=0.1, max=5.0, step=0.1, readout_format=".1f",
                                      description="temperature", style={"description_width": "90px"})
    readout = widgets.HTML()
    readout.add_class("attn-readout")
    image = widgets.Image(format="png")
    image.add_class("attn-plot")

    figure = Figure(figsize=(5.2, 3.2), dpi=80)
    ax = figure.add_subplot()
    x = list(range(S))
    bars = ax.bar(x, [0.0] * S, color=["tab:blue" if m else "lightgrey" for m in mask],
                  hatch=None, edgecolor="black")
    for b, real in zip(bars, mask):
        if not real:
            b.set_hatch("//")
    labels = [ax.text(i, 0.0, "", ha="center", va="bottom", fontsize=9) for i in x]
    ax.set_xticks(x, [f"{i}" + ("" if m else "\n(masked)") for i, m in enumerate(mask)])
    ax.set_ylim(0.0, 1.12)
    ax.set_xlabel("source position s")
    ax.set_ylabel("weight a(s)")
    title = ax.set_title("softmax(scores / 1.0), masked positions -> 0")  # set before the layout is fitted
    figure.tight_layout()
    mask_t = torch.tensor([mask])  # (1, S)

    box = widgets.VBox([widgets.HBox([widgets.VBox(sliders + [temperature]), image]), readout])
    box.add_class("attn-softmax-explorer")

    def update(_change=None):
        raw = torch.tensor([[s.value for s in sliders]], dtype=torch.float64)  # (1, S)
        w = masked_softmax(raw, mask_t, temperature=temperature.value)[0]  # (S,)
        box.weights = w
        for b, lab, wi in zip(bars, labels, w.tolist()):
            b.set_height(wi)
            lab.set_y(wi + 0.01)
            lab.set_text(f"{wi:.2f}")
        title.set_text(f"softmax(scores / {temperature.value:.1f}), masked positions -> 0")
        image.value = _png(figure)
        rows = "".join(
            f"<tr><td>{i}</td><td>{s.value:+.1f}</td><td><b>{wi:.3f}</b></td><td>{'' if m else 'masked'}</td></tr>"
            for i, (s, wi, m) in enumerate(zip(sliders, w.tolist(), mask))
        )
        readout.value = (f"<table><tr><th>position</th><th>score</th><th>weight</th><th></th></tr>{rows}</table>"
                         f"<div>temperature {temperature.value:.1f}, sum of weights = {float(w.sum()):.3f}</div>")

    for s in sliders + [temperature]:
        s.observe(update, names="value")
    box.sliders, box.temperature, box.readout, box.image, box.figure, box.ax = sliders, temperature, readout, image, figure, ax
    box.update = update
    update()
    return _with_static_fallback(box, "softmax explorer: a slider per raw score and one for the temperature; "
                                      "a bar chart of the masked softmax weights")


# --------------------------------------------------------------------------
# 2. Decoding one sentence, and a heatmap with a step slider
# --------------------------------------------------------------------------


class InputProblem(ValueError):
    """Input an explorer cannot decode (unknown characters, too long, empty); the message is for the learner."""


def _decode(model, src_vocab, tgt_vocab, source: str, max_chars: int | None, max_len: int):
    """Greedy-decode one string -> (src_tokens, out_tokens incl. EOS, weights (T', S) or None, prediction)."""
    if not isinstance(source, str):
        raise TypeError(f"source must be a string, got {type(source).__name__}")
    src_tokens = list(source)
    if not src_tokens:
        raise InputProblem("The input is empty: type something to translate.")
    if max_chars is not None and len(src_tokens) > max_chars:
        raise InputProblem(f"The input is {len(src_tokens)} characters long; this explorer takes at most "
                           f"{max_chars} (the models were trained on shorter inputs). Shorten it.")
    unknown = src_vocab.unknown(src_tokens)
    if unknown:
        shown = ", ".join(repr(t) for t in unknown)
        raise InputProblem(f"Unknown character{'s' if len(unknown) > 1 else ''} {shown}: the model never saw "
                           f"{'them' if len(unknown) > 1 else 'it'} in training. Remove or replace "
                           f"{'them' if len(unknown) > 1 else 'it'}.")
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    src = torch.tensor([src_vocab.encode(src_tokens)], dtype=torch.long, device=device)  # (1, S)
    src_len = torch.tensor([len(src_tokens)], dtype=torch.long)  # (1,)
    was_training, threads = model.training, torch.get_num_threads()
    model.eval()
    # One sentence is far too small to share between threads: on a busy 2-core machine greedy decoding
    # took 850 ms with 2 threads (they wait on each other) and 10 ms with one.
    torch.set_num_threads(1)
    try:
        out = model.greedy(src, src_len, max_len=max_len)
    finally:
        torch.set_num_threads(threads)
        model.train(was_training)
    ids = out.tokens[0].tolist()  # (T',)
    n = ids.index(EOS) + 1 if EOS in ids else len(ids)  # rows up to and including </s>
    out_tokens = tgt_vocab.decode(ids[:n], strip=False)
    prediction = "".join(tgt_vocab.decode(ids))
    weights = None if out.weights is None else out.weights[0, :n, : len(src_tokens)].float().cpu()  # (T', S)
    return src_tokens, out_tokens, weights, prediction


class _HeatmapView:
    """One figure, one axes, one image artist: the attention map of a decoded sentence and a step slider.

    ``show(src_tokens, out_tokens, weights (T', S))`` swaps the data in place;
    moving ``step`` moves the row highlight, colours the top-3 source tokens
    and writes their weights into ``top``.
    """

    def __init__(self):
        import ipywidgets as widgets
        import numpy as np
        from matplotlib.figure import Figure
        from matplotlib.patches import Rectangle

        self.figure = Figure(figsize=(6.0, 4.0), dpi=80)
        self.ax = self.figure.add_subplot()
        self.im = self.ax.imshow(np.zeros((1, 1)), cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        self.figure.colorbar(self.im, ax=self.ax, label="attention weight")
        self.row_box = Rectangle((-0.5, -0.5), 1, 1, fill=False, edgecolor="red", linewidth=2.5)
        self.ax.add_patch(self.row_box)
        self.ax.set_xlabel("input (source) token")
        self.ax.set_ylabel("output step: token written")
        self.title = self.ax.set_title("")
        self.image = widgets.Image(format="png")
        self.image.add_class("attn-plot")
        self.step = widgets.IntSlider(value=0, min=0, max=0, description="output step",
                                      style={"description_width": "80px"}, continuous_update=True)
        self.top = widgets.HTML()
        self.top.add_class("attn-top")
        self.step.observe(lambda _c: self._draw_step(), names="value")
        self.weights = None
        self.src_tokens: list[str] = []
        self.out_tokens: list[str] = []

    def show(self, src_tokens, out_tokens, weights, title: str):
        self.src_tokens, self.out_tokens, self.weights = list(src_tokens), list(out_tokens), weights
        T, S = weights.shape
        self.figure.set_size_inches(max(4.5, 0.28 * S + 2.8), max(2.8, 0.3 * T + 1.9))
        self.im.set_data(weights.numpy())
        self.im.set_extent((-0.5, S - 0.5, T - 0.5, -0.5))
        self.ax.set_xlim(-0.5, S - 0.5)
        self.ax.set_ylim(T - 0.5, -0.5)
        self.ax.set_xticks(range(S), [_show_token(t) for t in src_tokens])
        self.ax.set_yticks(range(T), [f"{t}: {_show_token(tok)}" for t, tok in enumerate(out_tokens)])
        self.row_box.set_width(S)
        self.title.set_text(title)
        self.figure.tight_layout()
        value = min(self.step.value, T - 1)
        with self.step.hold_trait_notifications():
            self.step.max = T - 1  # may clamp value without a redraw of ours: draw explicitly below
            self.step.value = value
        self.step.disabled = False
        self._draw_step()

    def disable(self):
        self.weights = None
        self.step.disabled = True
        self.top.value = ""

    def top_k(self, k: int = 3):
        """[(weight, source position, token), ...] of the current step, largest first."""
        row = self.weights[self.step.value]  # (S,)
        k = min(k, row.numel())
        vals, idx = row.topk(k)
        return [(float(v), int(i), self.src_tokens[int(i)]) for v, i in zip(vals, idx)]

    def _draw_step(self):
        if self.weights is None:
            return
        t = self.step.value
        self.row_box.set_y(t - 0.5)
        top = self.top_k(3)
        top_pos = {i for _, i, _ in top}
        for i, label in enumerate(self.ax.get_xticklabels()):
            label.set_color("red" if i in top_pos else "black")
            label.set_fontweight("bold" if i in top_pos else "normal")
        self.image.value = _png(self.figure)
        items = "".join(f"<li><b>{w:.3f}</b> on '{_esc(tok)}' (position {i})</li>" for w, i, tok in top)
        self.top.value = (f"<div>step {t} wrote <b>'{_esc(self.out_tokens[t])}'</b>; "
                          f"top-{len(top)} attention weights:</div><ol>{items}</ol>")


def step_explorer(model, src_vocab, tgt_vocab, source: str, max_len: int | None = None):
    """Decode ``source`` greedily and explore its attention map one output step at a time.

    Shows the heatmap (rows: output steps, columns: source characters), a
    slider ``.step`` over the output steps that frames that step's row and
    colours its three most attended source tokens, and ``.top`` with those
    three weights as numbers. Returns a VBox with ``.step``, ``.top``,
    ``.prediction``, ``.weights`` ((T', S) tensor), ``.image``, ``.figure``.
    Raises ValueError for a model without attention or a source it cannot read.
    """
    import ipywidgets as widgets

    src_tokens, out_tokens, weights, prediction = _decode(
        model, src_vocab, tgt_vocab, source, None, 32 if max_len is None else max_len)
    if weights is None:
        raise ValueError("this model has no attention (variant 'none'): there is no attention map to explore; "
                         "pass a model with attention (dot, general, concat or bahdanau)")
    view = _HeatmapView()
    pred = widgets.HTML(f"<b>{html.escape(source)}</b> → <b>{html.escape(prediction)}</b>")
    pred.add_class("attn-prediction")
    view.show(src_tokens, out_tokens, weights, "attention weights of each output step")
    box = widgets.VBox([pred, view.step, widgets.HBox([view.image, view.top])])
    box.add_class("attn-step-explorer")
    box.step, box.top, box.prediction, box.image, box.figure = view.step, view.top, pred, view.image, view.figure
    box.weights, box.view = weights, view
    return _with_static_fallback(box, f"step explorer for {source!r} -> {prediction!r}: a slider over the output "
                                      "steps of the attention map, with the three most attended source tokens")


# --------------------------------------------------------------------------
# 3. Variant explorer: type a date, pick a model, see its prediction and map
# --------------------------------------------------------------------------


def variant_explorer(models: dict, src_vocab, tgt_vocab, default_text: str = "25 November 2026",
                     max_chars: int = 40, max_len: int | None = None):
    """A text box and a dropdown over ``models`` (name -> Seq2Seq): prediction and attention map.

    Unknown characters, an empty input or one longer than ``max_chars`` give a
    readable ``.message``; a model without attention shows its prediction and a
    message that it has no map. Returns a VBox with ``.text``, ``.dropdown``,
    ``.step``, ``.message``, ``.prediction``, ``.top``, ``.weights`` ((T', S)
    tensor or None), ``.image`` and ``.figure``.
    """
    import ipywidgets as widgets

    if not isinstance(models, dict) or not models:
        raise ValueError("models must be a non-empty dict {name: Seq2Seq}, e.g. {'Luong dot': model}")
    for name, m in models.items():
        if not hasattr(m, "greedy"):
            raise TypeError(f"models[{name!r}] must be a Seq2Seq (with .greedy), got {type(m).__name__}")
    names = [str(k) for k in models]
    text = widgets.Text(value=default_text, description="date", placeholder="type a date, e.g. 3 juin 1999",
                        continuous_update=True, style={"description_width": "60px"})
    dropdown = widgets.Dropdown(options=names, value=names[-1], description="variant",
                                style={"description_width": "60px"})
    message = widgets.HTML()
    message.add_class("attn-message")
    prediction = widgets.HTML()
    prediction.add_class("attn-prediction")
    view = _HeatmapView()
    plot = widgets.VBox([view.step, widgets.HBox([view.image, view.top])])  # hidden while there is no map
    box = widgets.VBox([widgets.HBox([text, dropdown]), prediction, message, plot])
    box.add_class("attn-variant-explorer")
    lookup = dict(zip(names, models.values()))

    def say(msg: str):
        message.value = f"<div style='color:#a4262c'>{html.escape(msg)}</div>" if msg else ""

    def update(_change=None):
        name = dropdown.value
        box.weights = None
        try:
            src_tokens, out_tokens, weights, pred = _decode(
                lookup[name], src_vocab, tgt_vocab, text.value, max_chars, 32 if max_len is None else max_len)
        except InputProblem as e:
            prediction.value = ""
            say(str(e))
            view.disable()
            plot.layout.display = "none"
            return
        prediction.value = f"{html.escape(name)}: <b>{html.escape(text.value)}</b> → <b>{html.escape(pred)}</b>"
        if weights is None:
            say(f"The '{name}' model has no attention: its decoder only sees the encoder's final state, "
                "so there is no attention map to show.")
            view.disable()
            plot.layout.display = "none"
            return
        say("")
        plot.layout.display = None
        box.weights = weights
        view.show(src_tokens, out_tokens, weights, f"{name}: attention weights")

    text.observe(update, names="value")
    dropdown.observe(update, names="value")
    box.text, box.dropdown, box.step, box.message, box.prediction = text, dropdown, view.step, message, prediction
    box.top, box.image, box.figure, box.view, box.update = view.top, view.image, view.figure, view, update
    update()
    return _with_static_fallback(box, "variant explorer: type a date, pick a model, see its prediction and its "
                                      "attention map")


# --------------------------------------------------------------------------
# 4. Local attention explorer: the window and the Gaussian of each step
# --------------------------------------------------------------------------


def _local_positions(model, src_vocab, tgt_vocab, source: str, max_len: int):
    """Greedy-decode ``source`` with a local-attention model, recording p_t: -> _decode's tuple + positions (T',)."""
    attention = model.decoder.attention
    seen = []

    def record(module, args, _output):  # args: query (1, 1, H), keys, mask, steps: one decoder step
        query, _keys, mask = args[0], args[1], args[2]
        steps = args[3] if len(args) > 3 else None
        seen.append(module.positions(query, mask, steps).reshape(-1))  # (T,) of this call
    handle = attention.register_forward_hook(record)
    try:
        src_tokens, out_tokens, weights, prediction = _decode(model, src_vocab, tgt_vocab, source, None, max_len)
    finally:
        handle.remove()
    positions = torch.cat(seen).float().cpu()[: len(out_tokens)]  # (T',): p_t of each written token
    return src_tokens, out_tokens, weights, prediction, positions


class _LocalView(_HeatmapView):
    """The heatmap view, plus local attention's p_t of every step (dots), the diagonal s = t, and for the
    current step its window [p_t - D, p_t + D] (a frame) and, for local-p, its Gaussian (a curve in the row)."""

    def __init__(self):
        super().__init__()
        from matplotlib.patches import Rectangle

        self.diagonal, = self.ax.plot([], [], ls="--", color="white", lw=1.0, label="diagonal s = t")
        self.dots, = self.ax.plot([], [], ls="none", marker="o", ms=4, mfc="none", mec="orange", label="p_t")
        self.window_box = Rectangle((0, 0), 1, 1, fill=False, edgecolor="orange", linewidth=2.0, linestyle=":")
        self.ax.add_patch(self.window_box)
        self.curve, = self.ax.plot([], [], color="orange", lw=1.8, label="Gaussian exp(-(s - p_t)² / 2σ²)")
        self.info = None
        self.positions, self.window, self.sigma = None, 0, None

    def _draw_step(self):
        if self.weights is None:
            return
        import numpy as np

        t = self.step.value
        T, S = self.weights.shape
        p = float(self.positions[t])
        self.diagonal.set_data([-0.5, min(T, S) - 0.5], [-0.5, min(T, S) - 0.5])
        self.dots.set_data(self.positions.numpy(), np.arange(T))
        lo, hi = max(p - self.window, -0.5), min(p + self.window, S - 0.5)
        self.window_box.set_bounds(lo, t - 0.5, max(hi - lo, 0.0), 1.0)
        if self.sigma is not None:
            s = np.linspace(lo, hi, 60)
            self.curve.set_data(s, t + 0.45 - 0.9 * np.exp(-(s - p) ** 2 / (2 * self.sigma ** 2)))  # peak at the top
        else:
            self.curve.set_data([], [])
        super()._draw_step()
        inside = [s for s in range(S) if abs(s - p) <= self.window]
        span = f"positions {inside[0]}..{inside[-1]}" if inside else "no real position: zero weights"
        gauss = (f"; Gaussian σ = D/2 = {self.sigma:g}: weight × {math.exp(-self.window ** 2 / (2 * self.sigma ** 2)):.2f} "
                 f"at the window's edges") if self.sigma is not None else ""
        self.info.value = (f"<div>step {t}: p<sub>t</sub> = {p:.2f}, window [{p - self.window:.2f}, {p + self.window:.2f}] "
                           f"→ {span}{gauss}</div>")


def local_explorer(model, src_vocab, tgt_vocab, source: str, max_len: int | None = None):
    """Decode ``source`` greedily with a local-m or local-p model and step through its windows.

    The heatmap (rows: output steps, columns: source characters) carries each
    step's aligned position p_t (orange circles) and the diagonal s = t (dashed);
    the slider ``.step`` frames the current step's row and its window
    [p_t - D, p_t + D] (dotted orange), and for local-p draws the Gaussian
    exp(-(s - p_t)² / (2σ²)) inside that row (its peak at p_t). ``.info`` says
    p_t, the window and σ; ``.top`` the three largest weights. Returns a VBox
    (CSS class ``attn-local-explorer``) with ``.step``, ``.info``, ``.top``,
    ``.prediction``, ``.weights`` ((T', S)), ``.positions`` ((T',)), ``.image``
    and ``.figure``. Raises ValueError for a model without local attention.
    """
    import ipywidgets as widgets

    from .local import LocalAttention

    attention = getattr(getattr(model, "decoder", None), "attention", None)
    if not isinstance(attention, LocalAttention):
        raise ValueError("local_explorer needs a local-attention model (variant 'local-m' or 'local-p'); "
                         "for global attention use step_explorer")
    src_tokens, out_tokens, weights, prediction, positions = _local_positions(
        model, src_vocab, tgt_vocab, source, 32 if max_len is None else max_len)
    view = _LocalView()
    view.info = widgets.HTML()
    view.info.add_class("attn-local-info")
    view.positions, view.window, view.sigma = positions, attention.window, attention.sigma
    kind = "local-p" if attention.predictive else "local-m"
    pred = widgets.HTML(f"<b>{html.escape(source)}</b> → <b>{html.escape(prediction)}</b> ({kind}, D = {attention.window})")
    pred.add_class("attn-prediction")
    view.show(src_tokens, out_tokens, weights, f"{kind}: weights, p_t (○) and the window of the framed step")
    box = widgets.VBox([pred, view.step, view.info, widgets.HBox([view.image, view.top])])
    box.add_class("attn-local-explorer")
    box.step, box.info, box.top, box.prediction, box.image, box.figure = (view.step, view.info, view.top, pred,
                                                                          view.image, view.figure)
    box.weights, box.positions, box.view = weights, positions, view
    return _with_static_fallback(box, "local attention explorer: each output step's p_t, its window [p_t - D, p_t + D] and, for local-p, the Gaussian on the attention map")
