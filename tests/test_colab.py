"""Every notebook opens on Colab: its badges, a first code cell that installs elbo_lib only where it
is missing, and nothing that Colab lacks (no files of the project, no packages the library does
not declare)."""

import ast
import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
spec = importlib.util.spec_from_file_location("colab", ROOT / "tools" / "colab.py")
colab = importlib.util.module_from_spec(spec)
spec.loader.exec_module(colab)

# Run before the install cell: record every process it starts instead of starting it; with
# "missing", pretend elbo_lib cannot be imported; with "offline", also that pip fails.
RECORDER = """\
import importlib.util, subprocess, sys
started = []
code = 1 if sys.argv[1] == "offline" else 0
class Recorder:
    def __init__(self, args, *rest, **kwargs):
        started.append(list(map(str, args)))
        self.args, self.returncode = args, code
    def communicate(self, *args, **kwargs):
        return b"", b""
    def wait(self, *args, **kwargs):
        return code
    def poll(self):
        return code
    def __enter__(self):
        return self
    def __exit__(self, *args):
        pass
subprocess.Popen = Recorder
if sys.argv[1] in ("missing", "offline"):
    find_spec = importlib.util.find_spec
    importlib.util.find_spec = lambda name, *a: None if name == "elbo_lib" else find_spec(name, *a)
exec(sys.argv[2])
print(started)
"""
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
DECLARED = {re.split(r"[<>=!~ ]", dependency)[0].lower() for dependency in PROJECT["dependencies"]}
DISTRIBUTIONS = importlib.metadata.packages_distributions()  # top-level module -> distributions
# What a notebook may not do on Colab, where only the package is installed.
PROJECT_FILES = re.compile(r"\bopen\(|\bPath\(|os\.chdir|sys\.path|np\.load|\.\./|^\s*[%!]", re.M)


def install_cell_runs(state):
    """The processes that the install cell starts when elbo_lib is ``state`` ("present" or
    "missing"), run in a fresh interpreter where elbo_lib is importable."""
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", RECORDER, state, colab.INSTALL],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return ast.literal_eval(result.stdout.strip().splitlines()[-1])


def code_cells(path):
    return [cell for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_has_its_badges_and_the_install_cell_first(path):
    notebook = nbformat.read(path, as_version=4)
    assert colab.badges(f"notebooks/{path.name}") in notebook.cells[0].source.split("\n")[2]
    first = code_cells(path)[0]
    assert first.source == colab.INSTALL
    assert first.outputs == [], "the install cell is stored without outputs"
    assert not colab.update_notebook(path), "run python tools/colab.py"


def test_readme_has_the_badges_of_every_notebook():
    readme = (ROOT / "README.md").read_text()
    for path in NOTEBOOKS:
        assert f"]({path.relative_to(ROOT)}) {colab.badges(path.relative_to(ROOT))} |" in readme


def test_install_cell_does_nothing_where_elbo_lib_is_installed():
    assert install_cell_runs("present") == []


def test_install_cell_installs_from_the_repository_where_elbo_lib_is_missing():
    url = f"git+https://github.com/{colab.REPOSITORY}@{colab.BRANCH}"
    assert install_cell_runs("missing") == [
        [sys.executable, "-m", "pip", "install", "--quiet", url]
    ]


def test_install_cell_says_in_one_line_what_to_do_when_pip_fails():
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", RECORDER, "offline", colab.INSTALL]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    assert result.returncode == 1 and result.stdout == ""
    url = f"git+https://github.com/{colab.REPOSITORY}@{colab.BRANCH}"
    assert result.stderr == (
        f"Could not install elbo_lib from {url}: connect this runtime to the internet and run "
        "this cell again, or open the notebooks on Binder or with `make lab` instead.\n"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_needs_only_the_package_and_its_dependencies(path):
    """No project files are read, and every import is the standard library, elbo_lib or a
    distribution that pyproject.toml declares."""
    for cell in code_cells(path):
        assert not PROJECT_FILES.search(cell.source), cell.source
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module]
            else:
                continue
            for top in {module.split(".")[0] for module in modules}:
                owners = {name.lower() for name in DISTRIBUTIONS.get(top, [])}
                assert top in sys.stdlib_module_names or top == "elbo_lib" or owners & DECLARED, (
                    f"{path.name} imports {top}, which pyproject.toml does not declare"
                )
