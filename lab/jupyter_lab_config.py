"""JupyterLab settings of `make lab` and `attention-course lab` (passed with --config).

Only what the course needs: the server listens on this machine only; JupyterLab
neither asks about nor fetches Jupyter news (no "get notified about official
Jupyter news?" toast, even in a fresh home) and never checks the network for
updates; it opens at notebooks/. The server's root is the folder that holds
notebooks/ and docs/ (the repository for `make lab`, DIR for `attention-course lab`),
so a notebook's links to ../../docs/glossary.md resolve.
Port, token and browser stay JupyterLab's defaults (or LAB_ARGS / the user's
own jupyter config), so a person gets the usual URL with its token.
"""
from pathlib import Path

c = get_config()  # noqa: F821  (injected by traitlets)

c.ServerApp.ip = "127.0.0.1"
c.LabApp.default_url = "/lab/tree/notebooks"
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
# news_url = None stops the fetching, not the question: the notification plugin's own default
# (fetchNews "none") still asks. settings/overrides.json turns it off (fetchNews "false");
# JupyterLab reads overrides.json from LabApp.app_settings_dir (default: <sys.prefix>/share/jupyter/lab/settings).
c.LabApp.app_settings_dir = str(Path(__file__).resolve().parent / "settings")  # noqa: F821  (__file__: set by traitlets)
