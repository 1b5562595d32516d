# ELBO Lab: `make lab` opens the notebooks, `make test` runs every check. Both set up .venv first
# (only when requirements.txt or pyproject.toml changed since the last set-up).
# The newest of Python 3.13, 3.12 and 3.11 that runs here with venv (a pyenv shim of a version that
# is not selected does not run); `make PYTHON=/path/to/python3.x` takes another.
# (Looked for once, and only when a venv is created.)
PYTHON ?= $(eval PYTHON := $(firstword $(foreach v,3.13 3.12 3.11,\
	$(shell python$(v) -c 'import ensurepip, venv' >/dev/null 2>&1 && command -v python$(v)))))$(PYTHON)
VENV := .venv
READY := $(VENV)/.ready
# The math renderer of the static site, served with its pages (npm's mathjax package).
MATHJAX_VERSION := 3.2.2
MATHJAX := build/npm/node_modules/mathjax/es5/tex-svg-full.js
# The accessibility audit of the site's pages (npm's axe-core), run by the tests.
AXE_VERSION := 4.14.1
AXE := build/npm/node_modules/axe-core/axe.min.js
# JupyterLab refuses to run as root without --allow-root (a course's container runs as root).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
# The notebooks that train networks: their stored numbers are checked again on another CPU path.
TRAINING_NOTEBOOKS := $(wildcard notebooks/0[7-9]_*.ipynb notebooks/1[0-6]_*.ipynb)
# The tests run on every CPU (pytest-xdist); a notebook's cells stay together, in order, on one.
PYTEST := $(VENV)/bin/python -m pytest -n auto --dist loadfile
# One CPU, as on Binder (taskset is Linux's; elsewhere the benchmark runs unpinned).
ONE_CPU := $(if $(shell command -v taskset),taskset -c 0)

.PHONY: lab test test-unit test-generic-cpu site bench student grade
# JupyterLab at the project's root (the notebooks link to instructors/), with notebook 01 open.
lab: $(READY)
	$(VENV)/bin/jupyter lab $(ALLOW_ROOT) --ServerApp.root_dir=. $(LAB_ARGS) \
		notebooks/01_evidence_and_jensen.ipynb

test: $(READY) $(MATHJAX) $(AXE)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PYTEST)

# The unit tests alone: no notebooks, no browser, nothing slow (.ci/run's check of Python 3.12 and
# 3.13, each in a venv of its own: make VENV=… PYTHON=… test-unit).
test-unit: $(READY)
	$(PYTEST) tests -m "not slow" --ignore=tests/test_browser_widgets.py \
		--ignore=tests/test_site_offline.py

# nbval on the training notebooks with torch's generic kernels and MKL's SSE4.2 path: a stand-in
# for a laptop or Binder node without AVX-512 (their stored outputs must not depend on it).
test-generic-cpu: $(READY)
	ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2 \
		$(PYTEST) $(TRAINING_NOTEBOOKS)

# The notebooks with their stored outputs as a static site, in build/site (nothing is executed).
site: $(READY) $(MATHJAX)
	$(VENV)/bin/python tools/build_site.py

# The student version of the exercises, notebooks/17_exercises.ipynb, from the solution version
# in instructors/ (stubs instead of solutions, executed: every check "not done yet").
student: $(READY)
	$(VENV)/bin/python tools/student_version.py

# Grade a folder of submitted notebooks (17 or a problem set): make grade SUBMISSIONS=dir (writes
# grades.csv).
# Student code runs only in confined worker processes (tools/sandbox.py), never in the grader.
grade: $(READY)
	$(VENV)/bin/python tools/grade.py $(SUBMISSIONS) --out grades.csv

# Time the notebooks (on one CPU, in units of a reference workload), sliders, VAE and import;
# writes benchmarks/RESULTS.md (minutes).
bench: $(READY)
	$(ONE_CPU) $(VENV)/bin/python benchmarks/run.py

# torch's CPU build on Linux: tools/cpu_torch.py adds PyTorch's CPU wheel index when it answers
# within 5 s (once); otherwise pip takes torch from where it is configured to look.
$(READY): requirements.txt pyproject.toml
	@test -x $(VENV)/bin/python || { \
		test -n "$(PYTHON)" || { echo "No Python 3.11, 3.12 or 3.13 with venv found"; exit 1; }; \
		echo "$(PYTHON) -m venv $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@$(VENV)/bin/python -c 'import sys; print(f"Setting up $(VENV) with Python {sys.version.split()[0]}")'
	$(VENV)/bin/python -m pip install --quiet $$($(VENV)/bin/python tools/cpu_torch.py) \
		-r requirements.txt -e ".[test]"
	touch $@

# One install for both: npm removes from build/npm what a later install does not name.
$(MATHJAX) $(AXE):
	npm install --prefix build/npm --no-save --no-audit --no-fund \
		mathjax@$(MATHJAX_VERSION) axe-core@$(AXE_VERSION)
