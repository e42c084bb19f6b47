"""Write the explorer notebooks the browser test opens (run: python tests/browser/make_fixtures.py).

They are committed unexecuted; the test copies them with fixture_models.py into
the served folder and runs them in JupyterLab. ATTN_BROWSER_MODELS names the folder
of the test's trained checkpoints; without it (a person opening a notebook by hand)
the models are trained for a few seconds into ./fixture-models.
"""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

LOAD = """import os
from fixture_models import get_models
models, src_vocab, tgt_vocab = get_models(os.environ.get("ATTN_BROWSER_MODELS", "fixture-models"))
print(sorted(models))"""

NOTEBOOKS = {
    "softmax_explorer": [
        new_markdown_cell("# Softmax explorer (browser-test fixture)\nPosition 2 is masked: its weight must stay 0."),
        new_code_cell("from attnlib.widgets import softmax_explorer\n"
                      "explorer = softmax_explorer([2.0, 1.0, 0.5, -1.0, 0.0], mask=[True, True, False, True, True])\n"
                      "explorer"),
    ],
    "step_explorer": [
        new_markdown_cell("# Step explorer (browser-test fixture)"),
        new_code_cell(LOAD),
        new_code_cell("from attnlib.widgets import step_explorer\n"
                      "step_explorer(models['Luong dot'], src_vocab, tgt_vocab, '3 June 1999')"),
    ],
    "variant_explorer": [
        new_markdown_cell("# Variant explorer (browser-test fixture)"),
        new_code_cell(LOAD),
        new_code_cell("from attnlib.widgets import variant_explorer\n"
                      "variant_explorer(models, src_vocab, tgt_vocab, default_text='3 June 1999')"),
    ],
}


def main():
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook(cells=cells, metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
            "language_info": {"name": "python"}})
        for i, cell in enumerate(nb.cells):
            cell.id = f"{name}-{i}"  # stable ids: regenerating gives the same files
        nbformat.write(nb, HERE / f"{name}.ipynb")


if __name__ == "__main__":
    main()
