"""The course in a real JupyterLab, driven by a real browser (Playwright + Debian's Chromium).

- each explorer of attnlib.widgets: open its notebook (tests/browser/*.ipynb), Run All
  Cells, move a slider / type / pick a variant, and check that the view changed;
- every fresh learner notebook notebooks/*/*.ipynb (every exercise a stub) runs all its cells without
  error, and its explorer, where it has one, is rendered;
- `make lab` serves the course: rooted at the repository (the notebooks' links to ../../docs/ resolve), it
  opens at notebooks/, whose folders the file browser lists, with the news question turned off.

JupyterLab runs on 127.0.0.1 with a fresh HOME and Jupyter dirs, a known token and
no network features; it is stopped at the end. Screenshots go to artifacts/browser/.
Needs /usr/bin/chromium (`apt-get install chromium`; .ci/run installs it).
"""
from __future__ import annotations

import json
import re
import secrets
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "browser"))
from lab import (  # noqa: E402
    NOTEBOOK, REPO, LabServer, browser, cells, errors, free_port, isolated_env, open_notebook, run_menu, screenshot, wait_executed,
)

from playwright.sync_api import expect  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.exclusive]  # a browser, a server and kernels, with timeouts

FIXTURES = Path(__file__).resolve().parent / "browser"
ASSIGNMENTS = ["01_bottleneck", "02_alignment_scores", "03_softmax_weights", "04_context_vector",
               "05_luong_dot", "06_luong_general", "07_bahdanau_additive", "08_side_by_side", "09_local_attention"]
STUDENT_NOTEBOOKS = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "notebooks").glob("*/*.ipynb"))


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab serving a copy of notebooks/ and the explorer fixtures; models trained once."""
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "root"
    (root / "explorers").mkdir(parents=True)
    for f in [*FIXTURES.glob("*.ipynb"), FIXTURES / "fixture_models.py"]:
        shutil.copy(f, root / "explorers" / f.name)
    if (REPO / "notebooks").is_dir():  # a copy: nothing the browser does can touch the committed notebooks
        shutil.copytree(REPO / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    port, token = free_port(), secrets.token_hex(16)
    models = REPO / "artifacts" / "browser-models"  # a cache across runs (gitignored); stale files are retrained
    env = isolated_env(tmp / "env", port, token, {"ATTN_BROWSER_MODELS": str(models)})
    server = LabServer.start([sys.executable, "-m", "jupyter", "lab"], env, root, port, token, tmp / "lab.log")
    server.models_dir, server.root = models, root
    try:
        yield server
    finally:
        assert server.stop(), f"JupyterLab did not stop on SIGTERM:\n{server.tail()}"


@pytest.fixture(scope="module")
def trained(lab):
    """Train the fixture models once (in this process); the notebooks then only load them."""
    from fixture_models import get_models

    get_models(lab.models_dir)


@pytest.fixture(scope="module")
def ctx():
    with browser() as c:
        yield c


@pytest.fixture
def page_of(lab, ctx, request):
    """Open a notebook of the served folder; afterwards close the page and shut its kernels down."""
    pages = []

    def open_(relpath):
        page = open_notebook(ctx, lab, relpath)
        pages.append(page)
        return page

    yield open_
    for i, page in enumerate(pages):
        screenshot(page, f"last-{request.node.name}-{i}")  # the final state, passed or failed
        page.close()
    lab.shutdown_kernels()


def run_all(page):
    run_menu(page, "Run All Cells")
    wait_executed(page)
    assert not errors(page), "error output after Run All Cells:\n" + "\n".join(errors(page))
    assert all(re.fullmatch(r"\[\d+\]:", c["prompt"].strip()) for c in cells(page) if c["code"]), \
        f"not every code cell ran: {[c['prompt'] for c in cells(page) if c['code']]}"


def press(page, handle, key: str, times: int):
    handle.focus()
    for _ in range(times):
        page.keyboard.press(key)


# --------------------------------------------------------------------------- explorers


def test_softmax_explorer_in_browser(page_of):
    page = page_of("explorers/softmax_explorer.ipynb")
    run_all(page)
    explorer = page.locator(".attn-softmax-explorer")
    expect(explorer).to_be_visible()
    readout, plot = explorer.locator(".attn-readout"), explorer.locator("img.attn-plot")
    expect(plot).to_have_attribute("src", re.compile(r"^blob:|^data:"))
    screenshot(page, "softmax-1-after-run")

    def row(i):  # "position, score, weight, masked?" as shown
        return readout.locator("tr").nth(i + 1).locator("td").all_inner_texts()

    def cell(i, j):
        return readout.locator("tr").nth(i + 1).locator("td").nth(j)

    assert row(0)[:2] == ["0", "+2.0"] and row(2)[2:] == ["0.000", "masked"]
    before_text, before_src, before_w0 = readout.inner_text(), plot.get_attribute("src"), float(row(0)[2])
    press(page, explorer.locator(".widget-slider .noUi-handle").first, "ArrowRight", 5)
    expect(explorer.locator(".widget-readout").first).to_have_text("2.5")
    expect(cell(0, 1)).to_have_text("+2.5")  # the kernel has seen the last key press
    expect(plot).not_to_have_attribute("src", before_src)
    assert readout.inner_text() != before_text and float(row(0)[2]) > before_w0  # a higher score, a larger weight
    # the masked position: its score moves, its weight stays exactly 0
    press(page, explorer.locator(".widget-slider .noUi-handle").nth(2), "ArrowRight", 20)
    expect(cell(2, 1)).to_have_text("+2.5")
    assert row(2)[2:] == ["0.000", "masked"]
    # the temperature slider (last) changes the weights too: a higher temperature, a flatter distribution
    expect(readout).to_contain_text("temperature 1.0")
    top_before = float(row(0)[2])
    press(page, explorer.locator(".widget-slider .noUi-handle").last, "ArrowRight", 10)
    expect(explorer.locator(".widget-readout").last).to_have_text("2.0")
    expect(readout).to_contain_text("temperature 2.0")  # the kernel has seen the last key press
    assert float(row(0)[2]) < top_before and row(2)[2:] == ["0.000", "masked"]
    explorer.screenshot(path=str(REPO / "artifacts/browser/softmax-2-widget.png"))
    screenshot(page, "softmax-3-after-moves")
    assert not errors(page), "\n".join(errors(page))


def test_step_explorer_in_browser(trained, page_of):
    page = page_of("explorers/step_explorer.ipynb")
    run_all(page)
    explorer = page.locator(".attn-step-explorer")
    expect(explorer).to_be_visible()
    top, plot = explorer.locator(".attn-top"), explorer.locator("img.attn-plot")
    expect(top).to_contain_text("step 0 wrote")
    expect(explorer.locator(".attn-prediction")).to_contain_text("3 June 1999 →")
    assert len(re.findall(r"\d\.\d{3} on", top.inner_text())) == 3  # the top-3 weights as numbers
    screenshot(page, "step-1-after-run")
    before_src = plot.get_attribute("src")
    press(page, explorer.locator(".widget-slider .noUi-handle").first, "ArrowRight", 2)
    expect(top).to_contain_text("step 2 wrote")
    expect(plot).not_to_have_attribute("src", before_src)
    explorer.screenshot(path=str(REPO / "artifacts/browser/step-2-widget.png"))
    assert not errors(page), "\n".join(errors(page))


def test_variant_explorer_in_browser(trained, page_of):
    page = page_of("explorers/variant_explorer.ipynb")
    run_all(page)
    explorer = page.locator(".attn-variant-explorer")
    expect(explorer).to_be_visible()
    text, dropdown = explorer.locator(".widget-text input"), explorer.locator(".widget-dropdown select")
    message, prediction = explorer.locator(".attn-message"), explorer.locator(".attn-prediction")
    plot, top = explorer.locator("img.attn-plot"), explorer.locator(".attn-top")
    expect(prediction).to_contain_text("Bahdanau: 3 June 1999 →")  # the last variant is the default
    expect(plot).to_be_visible()
    screenshot(page, "variant-1-after-run")
    first_src = plot.get_attribute("src")

    text.fill("3 Ju§e 1999")
    expect(message).to_contain_text("Unknown character '§'")
    expect(plot).to_be_hidden()
    screenshot(page, "variant-2-unknown-character")
    text.fill("3 June 1999 " * 5)
    expect(message).to_contain_text("60 characters long")
    text.fill("12 mars 2001")
    expect(message).to_have_text("")
    expect(prediction).to_contain_text("12 mars 2001 →")
    expect(plot).to_be_visible()
    expect(plot).not_to_have_attribute("src", first_src)

    dropdown.select_option("none")
    expect(message).to_contain_text("no attention")
    expect(prediction).to_contain_text("none: 12 mars 2001 →")
    expect(plot).to_be_hidden()
    dropdown.select_option("Luong dot")
    expect(message).to_have_text("")
    expect(prediction).to_contain_text("Luong dot: 12 mars 2001 →")
    expect(top).to_contain_text("step 0 wrote")
    src = plot.get_attribute("src")
    press(page, explorer.locator(".widget-slider .noUi-handle").first, "ArrowRight", 3)
    expect(top).to_contain_text("step 3 wrote")
    expect(plot).not_to_have_attribute("src", src)
    explorer.screenshot(path=str(REPO / "artifacts/browser/variant-3-widget.png"))
    assert not errors(page), "\n".join(errors(page))


# --------------------------------------------------------------------------- learner notebooks


EXPLORERS = {"03_softmax_weights": ".attn-softmax-explorer", "05_luong_dot": ".attn-step-explorer",
             "08_side_by_side": ".attn-variant-explorer", "09_local_attention": ".attn-local-explorer"}


# The notebooks with an explorer; tests/test_run_all.py runs every fresh notebook to the end (nbclient).
WITH_EXPLORER = [n for n in STUDENT_NOTEBOOKS if Path(n).parent.name in EXPLORERS]


@pytest.mark.parametrize("notebook", WITH_EXPLORER or [None], ids=WITH_EXPLORER or ["no-notebooks"])
def test_fresh_student_notebook_runs_all_to_the_end(notebook, lab, page_of):
    """A learner opens a fresh notebook (every exercise a stub) and presses Run All: no error, every cell runs,
    each exercise says it is not written yet, and the explorer at the end is rendered."""
    if notebook is None:
        pytest.fail("no learner notebooks: notebooks/*/*.ipynb is empty (run `make release`)")
    served = lab.root / notebook  # the copy JupyterLab shows (the original may change meanwhile)
    page = page_of(notebook)
    run_menu(page, "Run All Cells")
    wait_executed(page, timeout=300)
    shown = cells(page)
    assert len(shown) == len(json.loads(served.read_text())["cells"])
    screenshot(page, "student-" + Path(notebook).stem)
    assert not errors(page), f"{notebook}: error output after Run All:\n" + "\n".join(errors(page))
    assert all(re.fullmatch(r"\[\d+\]:", c["prompt"].strip()) for c in shown if c["code"]), \
        f"{notebook}: not every cell ran: {[c['prompt'] for c in shown if c['code']]}"
    expect(page.locator(f"{NOTEBOOK} .jp-OutputArea-output").filter(has_text="not written yet").first).to_be_visible()
    explorer = EXPLORERS.get(Path(notebook).parent.name)
    if explorer:
        widget = page.locator(explorer)
        widget.scroll_into_view_if_needed()
        expect(widget).to_be_visible(timeout=60_000)
        expect(widget.locator("img.attn-plot").first).to_have_attribute("src", re.compile(r"^blob:|^data:"))
        widget.screenshot(path=str(REPO / f"artifacts/browser/student-{Path(notebook).stem}-explorer.png"))


# --------------------------------------------------------------------------- make lab


def test_make_lab_serves_the_course(tmp_path, ctx):
    """`make lab` (without reinstalling: -o the venv stamp) serves the repository and opens at notebooks/ with its
    assignment folders; JupyterLab's news question is off with no user setting (lab/settings/overrides.json); stops on SIGTERM."""
    port, token = free_port(), secrets.token_hex(16)
    no_user_settings = tmp_path / "user-settings"   # isolated_env's own settings turn the news off: not here
    env = isolated_env(tmp_path / "env", port, token, {"JUPYTERLAB_SETTINGS_DIR": str(no_user_settings)})
    make = shutil.which("make")
    assert make, "make is not installed"
    server = LabServer.start([make, "-o", ".venv/.installed", "lab"], env, REPO, port, token, tmp_path / "make-lab.log")
    try:
        root = {item["name"] for item in server.api("api/contents")["content"]}
        assert {"notebooks", "docs", "attnlib"} <= root, f"`make lab` is not rooted at the repository: {sorted(root)}"
        listing = sorted(item["name"] for item in server.api("api/contents/notebooks")["content"] if item["type"] == "directory")
        assert set(ASSIGNMENTS) <= set(listing), f"`make lab` serves {listing}, expected the folders {ASSIGNMENTS}"
        news = server.api("lab/api/settings/@jupyterlab/apputils-extension:notification")
        assert news["schema"]["properties"]["fetchNews"]["default"] == "false" and "fetchNews" not in news["settings"], news
        page = ctx.new_page()
        try:
            page.goto(server.url(""))   # the server's default URL: /lab/tree/notebooks
            items = page.locator(".jp-DirListing-content .jp-DirListing-itemText")
            expect(items.first).to_be_visible(timeout=90_000)
            expect(items).to_have_count(len(listing))
            shown = items.all_inner_texts()
            screenshot(page, "make-lab")
            assert not page.locator(".jp-Dialog").count(), "a dialog popped up in a fresh JupyterLab"
        finally:
            page.close()
        assert set(ASSIGNMENTS) <= set(shown), f"the file browser shows {shown}, expected {ASSIGNMENTS}"
    finally:
        clean = server.stop()
    assert clean, f"`make lab` did not stop on SIGTERM:\n{server.tail()}"
    assert not server.server_files(), "the server left its jpserver-*.json behind: it did not shut down cleanly"
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers after `make lab` stopped"
