# ELBO Lab: `make lab` opens the notebooks, `make test` runs every check. Both set up .venv first
# (only when requirements.txt or pyproject.toml changed since the last set-up).
PYTHON ?= python3.11
VENV := .venv
READY := $(VENV)/.ready

.PHONY: lab test site bench student grade
lab: $(READY)
	$(VENV)/bin/jupyter lab notebooks/01_evidence_and_jensen.ipynb

test: $(READY)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/python -m pytest

# The notebooks with their stored outputs as a static site, in build/site (nothing is executed).
site: $(READY)
	$(VENV)/bin/python tools/build_site.py

# The student version of the exercises, notebooks/13_exercises.ipynb, from the solution version
# in instructors/ (stubs instead of solutions, executed: every check "not done yet").
student: $(READY)
	$(VENV)/bin/python tools/student_version.py

# Grade a folder of submitted exercise notebooks: make grade SUBMISSIONS=dir (writes grades.csv).
# It runs the students' code: not a sandbox.
grade: $(READY)
	$(VENV)/bin/python tools/grade.py $(SUBMISSIONS) --out grades.csv

# Time the notebooks, sliders, VAE and import; writes benchmarks/RESULTS.md (takes minutes).
bench: $(READY)
	$(VENV)/bin/python benchmarks/run.py

$(READY): requirements.txt pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt -e .
	touch $@
