# One command per job. Everything runs inside .venv, created on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# torch is pinned: on the course machines this is a local CPU wheel, unpinned pulls a CUDA build.
TORCH  := torch==2.13.0
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup lab test test-fast release grade bench hub pretrained clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH) -e ".[lab,course,dev]"
	touch $(STAMP)

setup: $(STAMP)                       ## create .venv and install everything

LAB_ARGS ?=
# The server's root is the repository (so the notebooks' links to ../../docs/ resolve); it opens at notebooks/.
lab: setup                            ## open the course in JupyterLab (options: LAB_ARGS="--no-browser --port=8899")
	$(BIN)/jupyter lab --config=lab/jupyter_lab_config.py --ServerApp.root_dir=$(CURDIR) $(LAB_ARGS)

# Two parts: the tests that each need one core run two at a time (pytest-xdist); then, alone, the `exclusive`
# ones, which use both cores themselves or hold time limits. The status is a failure if either part fails.
test: setup                           ## every test: attnlib, notebooks (nbval), grading, browser
	$(BIN)/python -m pytest tests -q -m "not exclusive" -n 2 --durations=10; one=$$?; \
	$(BIN)/python -m pytest tests -q -m exclusive --durations=20; two=$$?; \
	test $$one = 0 && test $$two = 0

test-fast: setup                      ## attnlib's unit tests only
	$(BIN)/python -m pytest tests -q -m "not slow"

release: setup                        ## regenerate notebooks/ from solutions/ with nbgrader
	$(BIN)/python tools/release.py

grade: setup                          ## grade SUBMISSIONS=path/<student>/<assignment>/*.ipynb (as root)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=path [GRADE_ARGS='--jobs 4']"; exit 2; }
	$(BIN)/python -m grading grade "$(SUBMISSIONS)" $(GRADE_ARGS)

bench: setup                          ## benchmarks: bench/results.md and bench/results.json
	$(BIN)/python -m bench

pretrained: setup                     ## remake the shipped date checkpoints (minutes)
	$(BIN)/python tools/train_pretrained.py

hub:                                  ## serve the course to a class from this server (root; see docs/teaching.md)
	deploy/setup.sh
	deploy/add-users.sh $${ATTN_ROSTER:-$${ATTN_HUB_STATE:-/srv/jupyterhub}/roster.txt}
	cd $${ATTN_HUB_STATE:-/srv/jupyterhub} && /opt/attention-course/venv/bin/jupyterhub -f $(CURDIR)/deploy/jupyterhub_config.py

clean:
	rm -rf $(VENV) .pytest_cache
