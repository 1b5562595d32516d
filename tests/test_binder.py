"""Binder builds from binder/: the library's runtime dependencies and JupyterLab, at the pins of
requirements.txt (torch from PyTorch's CPU wheel index), the project installed with ``-e .``, no
test tooling; and repo2docker's plan uses exactly those files."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CPU_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"
NOTEBOOK_SERVER = {"jupyterlab", "ipykernel"}


def requirement_lines(path):
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def pins(lines):
    return dict(line.split("==") for line in lines if "==" in line)


def test_binder_pins_are_the_runtime_root_pins_with_cpu_torch():
    root = requirement_lines(ROOT / "requirements.txt")
    binder = requirement_lines(ROOT / "binder" / "requirements.txt")
    root_pins, binder_pins = pins(root), pins(binder)
    assert root_pins.pop("torch") == "2.13.0"
    assert binder_pins.pop("torch") == "2.13.0+cpu"
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    runtime = {re.split(r"[<>=!~ ]", dependency)[0] for dependency in dependencies}
    assert set(binder_pins) | {"torch"} == runtime | NOTEBOOK_SERVER
    assert binder_pins == {name: root_pins[name] for name in binder_pins}
    assert len(root_pins) + 1 == len(root), "every root requirement is pinned with =="
    assert set(binder) - {f"{name}=={version}" for name, version in binder_pins.items()} == {
        "torch==2.13.0+cpu",
        CPU_INDEX,
        "-e .",
    }


def test_binder_runtime_matches_the_project_python():
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()
    requires = re.search(r'requires-python = ">=(\d+\.\d+)"', (ROOT / "pyproject.toml").read_text())
    assert runtime == f"python-{requires[1]}"


def test_repo2docker_builds_from_the_binder_folder():
    """``repo2docker --no-build --no-run`` writes the Dockerfile it would build (no container
    engine needed): Python 3.11, the binder requirements installed, the root file not."""
    repo2docker = Path(sys.executable).parent / "repo2docker"
    run = subprocess.run(
        [repo2docker, "--no-build", "--no-run", "--debug", ROOT],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    plan = run.stdout + run.stderr
    assert "python=3.11" in plan
    assert 'pip install --no-cache-dir -r "binder/requirements.txt"' in plan
    assert '-r "requirements.txt"' not in plan


def test_requirements_pin_every_declared_dependency_and_test_tool():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    names = {re.split(r"[<>=!~ ]", dependency)[0] for dependency in declared}
    assert names <= set(pins(requirement_lines(ROOT / "requirements.txt")))
