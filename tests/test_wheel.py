"""The package as a course installs it: from its wheel, with the dependencies it declares.

One wheel is built (``pip wheel --no-deps``) and installed, not editable, into a fresh virtual
environment together with pyproject.toml's dependencies alone (constrained to requirements.txt's
pins; torch's CPU build from PyTorch's CPU index where it answers, as the README's set-up takes it)
and nbclient + ipykernel to execute notebooks. The theory
notebooks and one VAE notebook then run there from a copy outside the project, so nothing
project-relative can help them. Slow: one install per run, about two minutes.
"""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import cpu_torch  # noqa: E402

NOTEBOOKS = [
    *sorted((ROOT / "notebooks").glob("0[1-5]_*.ipynb")),
    *sorted((ROOT / "notebooks").glob("09_*.ipynb")),
]
# Runs each notebook given on the command line in its own kernel, then asks that kernel where
# it imported elbo_lib from.
RUNNER = """\
import sys
import nbformat
from nbclient import NotebookClient

for path in sys.argv[1:]:
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("import elbo_lib; print(elbo_lib.__file__)"))
    NotebookClient(notebook, timeout=600, kernel_name="python3").execute()
    print(path, notebook.cells[-1].outputs[0].text.strip())
"""

pytestmark = pytest.mark.slow


def run(*command, **kwargs):
    return subprocess.run(command, capture_output=True, text=True, check=True, **kwargs)


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """(python of a fresh venv holding the installed wheel, its environment variables)."""
    home = tmp_path_factory.mktemp("wheel")
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        ROOT,
        "--no-deps",
        "--no-build-isolation",
        "--quiet",
        "--wheel-dir",
        home / "dist",
    )
    (wheel,) = (home / "dist").glob("elbo_lib-*.whl")
    run(sys.executable, "-m", "venv", home / "venv")
    python = home / "venv" / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "JUPYTER"))}
    env |= {"JUPYTER_DATA_DIR": str(home / "jupyter"), "JUPYTER_CONFIG_DIR": str(home / "config")}
    pip = [python, "-m", "pip", "install", "--quiet", "--no-compile", *cpu_torch.index_option()]
    packages = [wheel, "nbclient", "ipykernel", "--constraint", ROOT / "requirements.txt"]
    run(*pip, *packages, env=env, cwd=home, timeout=1800)
    return python, env


def test_the_wheel_declares_the_runtime_dependencies_only(venv):
    python, env = venv
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    requires = run(python, "-m", "pip", "show", "elbo_lib", env=env).stdout
    assert f"Requires: {', '.join(sorted(d.split('>=')[0] for d in declared))}" in requires
    for tool in ("pytest", "nbval", "hypothesis", "ruff", "playwright", "jupyterlab"):
        absent = subprocess.run([python, "-m", "pip", "show", tool], capture_output=True, env=env)
        assert absent.returncode != 0, f"{tool} was installed with the package"


def test_notebooks_run_from_the_installed_wheel(venv, tmp_path):
    python, env = venv
    copies = []
    for path in NOTEBOOKS:
        copies.append(tmp_path / path.name)
        copies[-1].write_bytes(path.read_bytes())
    result = run(python, "-c", RUNNER, *copies, env=env, cwd=tmp_path, timeout=900)
    site_packages = python.parents[1] / "lib"
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [str(copy) for copy in copies]
    for line in lines:
        assert Path(line.split()[1]).is_relative_to(site_packages), line
