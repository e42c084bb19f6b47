"""Kernel-side tests of attnlib.widgets: drive the explorers' sub-widgets from Python (no browser).

The expected weights are recomputed here with plain torch.softmax over the real
positions, not with attnlib.attention.masked_softmax that the explorer uses.
Models are tiny and untrained: these tests are about the widgets, not the models.
"""
from __future__ import annotations

import gc
import html
import re

import pytest
import torch

import matplotlib.figure  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from attnlib import widgets as W  # noqa: E402
from attnlib.data import date_pairs  # noqa: E402
from attnlib.seq2seq import ModelConfig, build_model  # noqa: E402
from attnlib.vocab import EOS, Vocab  # noqa: E402


@pytest.fixture(scope="module")
def vocabs():
    pairs = date_pairs(500, seed=3)
    return Vocab.build(s for s, _ in pairs), Vocab.build(t for _, t in pairs)


@pytest.fixture(scope="module")
def models(vocabs):
    src_vocab, tgt_vocab = vocabs
    torch.manual_seed(0)
    out = {}
    for name, variant in [("none", "none"), ("Luong dot", "dot"), ("Luong general", "general"), ("Bahdanau", "bahdanau")]:
        out[name] = build_model(ModelConfig(variant=variant, emb_size=8, hidden_size=16), len(src_vocab), len(tgt_vocab)).eval()
    return out


def reference_weights(scores, mask, temperature):
    s = torch.tensor(scores, dtype=torch.float64) / temperature
    real = torch.tensor(mask)
    w = torch.zeros_like(s)
    if real.any():
        w[real] = torch.softmax(s[real], dim=0)
    return w


def readout_weights(explorer) -> list[float]:
    """The weights as the learner reads them: the bold numbers of the readout table."""
    return [float(x) for x in re.findall(r"<td><b>([0-9.]+)</b></td>", explorer.readout.value)]


def live_figures() -> int:
    gc.collect()
    return sum(type(o) is matplotlib.figure.Figure for o in gc.get_objects())


# --------------------------------------------------------------------------- softmax_explorer


def test_softmax_slider_changes_weights_and_view():
    scores = [0.5, -1.0, 2.0, 0.0]
    e = W.softmax_explorer(scores)
    assert len(e.sliders) == 4
    before_w, before_png, before_read = e.weights.clone(), e.image.value, readout_weights(e)
    torch.testing.assert_close(e.weights, reference_weights(scores, [True] * 4, 1.0))
    e.sliders[1].value = 3.0
    assert e.weights[1] > before_w[1] + 0.5  # position 1 now has the top score
    torch.testing.assert_close(e.weights, reference_weights([0.5, 3.0, 2.0, 0.0], [True] * 4, 1.0))
    assert readout_weights(e) != before_read
    assert readout_weights(e) == pytest.approx(e.weights.tolist(), abs=6e-4)
    assert e.image.value != before_png


def test_softmax_temperature_sharpens_and_flattens():
    scores = [1.0, 0.0, -0.5, 2.0, 0.3]
    e = W.softmax_explorer(scores)
    e.temperature.value = 0.2
    sharp = e.weights.clone()
    e.temperature.value = 5.0
    flat = e.weights.clone()
    torch.testing.assert_close(sharp, reference_weights(scores, [True] * 5, 0.2))
    torch.testing.assert_close(flat, reference_weights(scores, [True] * 5, 5.0))
    assert sharp.max() > 0.95 and flat.max() < 0.35


def test_softmax_masked_position_stays_exactly_zero():
    mask = [True, False, True, True, False]
    e = W.softmax_explorer([0.0, 1.0, 2.0, -1.0, 0.5], mask=mask)
    for value in (e.sliders[1].max, e.sliders[1].min, 0.0):
        e.sliders[1].value = value  # the masked slider itself
        e.sliders[0].value = value / 2
        for temperature in (0.1, 1.0, 5.0):
            e.temperature.value = temperature
            assert e.weights[1].item() == 0.0 and e.weights[4].item() == 0.0
            assert e.weights.sum().item() == pytest.approx(1.0, abs=1e-9)
            torch.testing.assert_close(e.weights, reference_weights([s.value for s in e.sliders], mask, temperature))
            shown = readout_weights(e)
            assert shown[1] == 0.0 and shown[4] == 0.0
    assert "masked" in e.readout.value


def test_softmax_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mask must have one entry per score"):
        W.softmax_explorer([1.0, 2.0], mask=[True])
    with pytest.raises(ValueError, match="finite"):
        W.softmax_explorer([1.0, float("nan")])


def assert_shows_greedy_decoding(model, src_vocab, source: str, shown: torch.Tensor) -> int:
    """An explorer's weights `shown` are greedy decoding's for `source`, rows up to </s>: -> their number T'."""
    decoded = model.greedy(torch.tensor([src_vocab.encode(source)]), torch.tensor([len(source)]), max_len=12)
    ids = decoded.tokens[0].tolist()
    n = ids.index(EOS) + 1 if EOS in ids else len(ids)
    torch.testing.assert_close(shown, decoded.weights[0, :n])
    return n


# --------------------------------------------------------------------------- step_explorer


def test_step_explorer_slider_moves_highlight_and_top3(models, vocabs):
    src_vocab, tgt_vocab = vocabs
    model = models["Bahdanau"]
    source = "12 mars 2001"
    e = W.step_explorer(model, src_vocab, tgt_vocab, source, max_len=12)
    # the explorer shows what greedy decoding gives, rows up to </s>
    n = assert_shows_greedy_decoding(model, src_vocab, source, e.weights)
    assert e.step.max == n - 1 and e.weights.shape == (n, len(source))

    def shown_top():
        return [float(x) for x in re.findall(r"<li><b>([0-9.]+)</b>", e.top.value)]

    pngs, tops = {e.image.value}, []
    for t in range(min(4, n)):
        e.step.value = t
        expected = e.weights[t].topk(3).values.tolist()
        assert shown_top() == pytest.approx(expected, abs=6e-4)
        assert f"step {t} wrote" in e.top.value
        assert e.view.row_box.get_y() == t - 0.5
        pngs.add(e.image.value)
        tops.append(e.top.value)
    assert len(pngs) == min(4, n)  # each step draws a different picture (the row frame moves)


def test_step_explorer_refuses_what_it_cannot_show(models, vocabs):
    src_vocab, tgt_vocab = vocabs
    with pytest.raises(ValueError, match="no attention"):
        W.step_explorer(models["none"], src_vocab, tgt_vocab, "12 mars 2001")
    with pytest.raises(ValueError, match="Unknown character '§'"):
        W.step_explorer(models["Luong dot"], src_vocab, tgt_vocab, "12 § 2001")


# --------------------------------------------------------------------------- local_explorer


@pytest.mark.parametrize("variant", ["local-m", "local-p"])
def test_local_explorer_shows_each_steps_window_and_gaussian(vocabs, variant):
    src_vocab, tgt_vocab = vocabs
    torch.manual_seed(0)
    model = build_model(ModelConfig(variant=variant, emb_size=8, hidden_size=16, window=2), len(src_vocab),
                        len(tgt_vocab)).eval()
    source = "12 mars 2001"
    e = W.local_explorer(model, src_vocab, tgt_vocab, source, max_len=12)
    n = assert_shows_greedy_decoding(model, src_vocab, source, e.weights)
    assert e.positions.shape == (n,) and e.step.max == n - 1
    if variant == "local-m":
        assert e.positions.tolist() == list(range(n))  # p_t = t
    pngs = {e.image.value}
    for t in range(min(4, n)):
        e.step.value = t
        p = float(e.positions[t])
        assert f"step {t}: p<sub>t</sub> = {p:.2f}" in e.info.value
        # the weights are zero outside the window the view frames
        outside = [s for s in range(len(source)) if abs(s - p) > 2]
        assert bool((e.weights[t, outside] == 0).all())
        x0, y0 = e.view.window_box.get_xy()
        assert y0 == t - 0.5 and x0 == pytest.approx(max(p - 2, -0.5))
        assert (len(e.view.curve.get_xdata()) > 0) == (variant == "local-p")  # the Gaussian: local-p only
        pngs.add(e.image.value)
    assert len(pngs) == min(4, n)
    assert "attn-local-explorer" in e._dom_classes


def test_local_explorer_refuses_global_attention(models, vocabs):
    with pytest.raises(ValueError, match="needs a local-attention model"):
        W.local_explorer(models["Luong dot"], *vocabs, "12 mars 2001")


# --------------------------------------------------------------------------- variant_explorer


def message(e) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", e.message.value))


def test_variant_explorer_unknown_characters_give_a_message(models, vocabs):
    e = W.variant_explorer(models, *vocabs, default_text="12 mars 2001", max_len=12)
    assert message(e) == "" and e.weights is not None
    e.text.value = "12 m§rs 2001 ☃"
    assert "Unknown characters '§', '☃'" in message(e)
    assert e.weights is None and e.prediction.value == ""
    e.text.value = "12 mars 2001"  # fixing the input brings the map back
    assert message(e) == "" and e.weights is not None


def test_variant_explorer_overlong_and_empty_input(models, vocabs):
    e = W.variant_explorer(models, *vocabs, default_text="1 May 1999", max_chars=20)
    e.text.value = "1 May 1999 " * 3
    assert "33 characters long" in message(e) and "at most 20" in message(e)
    assert e.weights is None
    e.text.value = ""
    assert "empty" in message(e)


def test_variant_explorer_dropdown_and_no_attention_model(models, vocabs):
    e = W.variant_explorer(models, *vocabs, default_text="3 June 1999", max_len=12)
    assert list(e.dropdown.options) == list(models)
    shapes = {}
    for name in models:
        e.dropdown.value = name
        assert name in e.prediction.value
        if name == "none":
            assert "no attention" in message(e) and e.weights is None
            assert e.step.disabled
        else:
            assert message(e) == "" and not e.step.disabled
            shapes[name] = tuple(e.weights.shape)
            assert e.weights.shape[1] == len("3 June 1999")
            torch.testing.assert_close(e.weights.sum(-1), torch.ones(e.weights.shape[0]))
    assert len(shapes) == 3
    e.dropdown.value = "Luong dot"
    e.step.value = e.step.max
    before = e.top.value
    e.step.value = 0
    assert e.top.value != before and "step 0 wrote" in e.top.value


def test_variant_explorer_rejects_bad_models(vocabs):
    with pytest.raises(ValueError, match="non-empty dict"):
        W.variant_explorer({}, *vocabs)
    with pytest.raises(TypeError, match="Seq2Seq"):
        W.variant_explorer({"x": object()}, *vocabs)


# --------------------------------------------------------------------------- one figure each, reused


def test_updates_reuse_one_figure(models, vocabs):
    fignums = plt.get_fignums()
    soft = W.softmax_explorer()
    step = W.step_explorer(models["Luong dot"], *vocabs, "3 June 1999", max_len=12)
    var = W.variant_explorer(models, *vocabs, default_text="3 June 1999", max_len=12)
    count = live_figures()
    layout = [(id(x.figure), len(x.figure.axes), [(len(a.images), len(a.patches), len(a.texts)) for a in x.figure.axes])
              for x in (soft, step, var)]
    for i in range(5):
        soft.sliders[i].value = float(i % 3)
        soft.temperature.value = 0.5 + i / 10
        step.step.value = i % (step.step.max + 1)
        var.text.value = ["3 June 1999", "12 mars 2001", "2001-03-12x§", "1 May 1950"][i % 4]
        var.dropdown.value = list(models)[i % 4]
        var.step.value = min(i, var.step.max)
    assert live_figures() == count
    assert plt.get_fignums() == fignums
    assert [(id(x.figure), len(x.figure.axes), [(len(a.images), len(a.patches), len(a.texts)) for a in x.figure.axes])
            for x in (soft, step, var)] == layout


# --------------------------------------------------------------------------- static fallback


def _bundle(explorer) -> dict:
    """What IPython sends to the front end for the explorer (the same call the kernel's display makes)."""
    from IPython.core.formatters import format_display_data
    data, _ = format_display_data(explorer)
    return data


def _exported_html(bundle: dict) -> str:
    """The notebook as a viewer shows it: one display_data output, no widget state, through nbconvert's HTML."""
    import nbformat
    from nbconvert import HTMLExporter
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("explorer", execution_count=1)
    cell.outputs = [nbformat.v4.new_output("display_data", data=bundle)]
    nb.cells = [cell]
    body, _ = HTMLExporter().from_notebook_node(nb)
    return body


def test_explorers_carry_a_static_figure_for_viewers_without_widgets(models, vocabs):
    import base64
    src_vocab, tgt_vocab = vocabs
    explorers = {"softmax": W.softmax_explorer([0.5, -1.0, 2.0]),
                 "step": W.step_explorer(models["Luong dot"], src_vocab, tgt_vocab, "25 November 2026"),
                 "variant": W.variant_explorer(models, src_vocab, tgt_vocab)}
    for name, e in explorers.items():
        data = _bundle(e)
        assert "application/vnd.jupyter.widget-view+json" in data, f"{name}: the live widget view is gone"
        png = base64.b64decode(data["image/png"], validate=True)
        assert png.startswith(b"\x89PNG") and png == e.image.value, f"{name}: the static figure is not the explorer's"
        assert "interactive explorer" in data["text/plain"], data["text/plain"]
        page = _exported_html(data)
        assert f'src="data:image/png;base64,{data["image/png"][:60]}' in page, f"{name}: the HTML export shows no figure"
    # the snapshot follows the explorer's state: a moved slider gives another figure
    before = _bundle(explorers["softmax"])["image/png"]
    explorers["softmax"].sliders[1].value = 3.0
    assert _bundle(explorers["softmax"])["image/png"] != before


def test_variant_explorer_without_a_map_shows_text_not_a_stale_figure(models, vocabs):
    src_vocab, tgt_vocab = vocabs
    e = W.variant_explorer(models, src_vocab, tgt_vocab)
    e.dropdown.value = "none"
    data = _bundle(e)
    assert "image/png" not in data and "variant explorer" in data["text/plain"]
    assert "variant explorer" in _exported_html(data)


# --------------------------------------------------------------------------- attnlib.viz


def test_plot_attention_has_a_colour_bar_on_a_fixed_scale():
    from attnlib.viz import plot_attention
    fig, ax = plt.subplots()
    try:
        plot_attention(torch.tensor([[0.2, 0.8], [0.6, 0.4]]), ["a", "b"], ["x", "y"], ax=ax)
        bars = [a for a in fig.axes if a is not ax]
        assert len(bars) == 1 and bars[0].get_ylabel() == "attention weight"
        assert ax.images[0].get_clim() == (0.0, 1.0)
        fig2, ax2 = plt.subplots()
        plot_attention(torch.eye(2), ["a", "b"], ["x", "y"], ax=ax2, colorbar=False)
        assert fig2.axes == [ax2]
    finally:
        plt.close("all")


def test_curve_styles_differ_by_more_than_colour():
    from attnlib.viz import curve_style
    styles = [curve_style(i) for i in range(6)]
    assert len({s["marker"] for s in styles}) == 6 and len({str(s["linestyle"]) for s in styles}) == 6
    assert curve_style(6) == curve_style(0)
    with pytest.raises(ValueError, match="non-negative int"):
        curve_style(-1)


def test_encoder_decoder_drawing_shows_the_bottleneck_and_attention():
    from matplotlib.patches import FancyArrowPatch
    from attnlib.viz import draw_encoder_decoder

    def arrows(ax, color):
        rgba = matplotlib.colors.to_rgba(color)
        return [p for p in ax.patches if isinstance(p, FancyArrowPatch) and p.get_edgecolor() == rgba]
    fig, (plain, attn) = plt.subplots(2, 1)
    try:
        draw_encoder_decoder(plain, "4271")
        draw_encoder_decoder(attn, "4271", attention=True, step=2)
        assert len(arrows(plain, "tab:red")) == 1 == len(arrows(attn, "tab:red")), "one bottleneck arrow (h, c)"
        assert not arrows(plain, "tab:green")
        lines = arrows(attn, "tab:green")
        assert len(lines) == 4, "every encoder state reaches the attending decoder step"
        widths = [p.get_linewidth() for p in lines]
        assert widths.index(max(widths)) == 2, "the copied position carries the most weight"
        with pytest.raises(ValueError, match="one number per source token"):
            draw_encoder_decoder(attn, "42", attention=True, weights=[1.0])
    finally:
        plt.close("all")
