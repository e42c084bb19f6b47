"""JupyterLab settings for `make lab` (passed with --config; see the Makefile).

Only what the course needs: the server listens on this machine only, and
JupyterLab neither shows a news popup nor checks the network for updates.
Port, token and browser stay JupyterLab's defaults (or LAB_ARGS / the user's
own jupyter config), so a person gets the usual URL with its token.
"""
c = get_config()  # noqa: F821  (injected by traitlets)

c.ServerApp.ip = "127.0.0.1"
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
