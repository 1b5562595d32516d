"""Binder builds from binder/: the library's runtime dependencies that repo2docker's base
environment lacks, at the pins of requirements.txt (torch from PyTorch's CPU wheel index), the
project installed with ``-e .``, no test tooling; repo2docker's plan uses exactly those files, and
the environment it leaves, base and plan together, passes ``pip check``."""

import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import binder_plan  # noqa: E402

CPU_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"


def requirement_lines(path):
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def pins(lines):
    return dict(line.split("==") for line in lines if "==" in line)


@pytest.fixture(scope="module")
def plan():
    """repo2docker's plan for this repository (its Dockerfile and log)."""
    return binder_plan.repo2docker_plan()


@pytest.fixture(scope="module")
def base(plan):
    """{name: version} of the Python packages of the plan's base environment."""
    return binder_plan.base_packages(binder_plan.base_lock_file(plan))


def test_the_base_environment_is_read_from_the_plan(base):
    """JupyterLab, its kernel and the notebook server come with the base, under pip's names."""
    assert {"jupyterlab", "ipykernel", "ipython", "ipywidgets", "notebook", "nbconvert"} <= set(
        base
    )
    assert "python" not in base and "nbconvert-core" not in base
    assert all(re.fullmatch(r"\d+(\.\w+)*", version) for version in base.values()), base


def test_binder_pins_the_runtime_root_pins_the_base_lacks_with_cpu_torch(base):
    root = requirement_lines(ROOT / "requirements.txt")
    binder = requirement_lines(ROOT / "binder" / "requirements.txt")
    root_pins, binder_pins = pins(root), pins(binder)
    assert root_pins.pop("torch") == "2.13.0"
    assert binder_pins.pop("torch") == "2.13.0+cpu"
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    runtime = {re.split(r"[<>=!~ ]", dependency)[0] for dependency in dependencies}
    assert set(binder_pins) | {"torch"} == runtime - set(base)
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


def test_repo2docker_builds_from_the_binder_folder(plan):
    """``repo2docker --no-build --no-run`` writes the Dockerfile it would build (no container
    engine needed): Python 3.11, the binder requirements installed, the root file not."""
    assert "python=3.11" in plan
    assert 'pip install --no-cache-dir -r "binder/requirements.txt"' in plan
    assert '-r "requirements.txt"' not in plan


def test_requirements_pin_every_declared_dependency_and_test_tool():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    names = {re.split(r"[<>=!~ ]", dependency)[0] for dependency in declared}
    assert names <= set(pins(requirement_lines(ROOT / "requirements.txt")))


@pytest.mark.slow
def test_binder_adds_only_what_the_base_lacks_and_passes_pip_check(tmp_path):
    """The base's packages laid out as metadata, Binder's requirements resolved among them as on
    Binder, then ``pip check`` on the result (needs PyPI; about two minutes)."""
    base, installs, check = binder_plan.binder_environment(tmp_path)
    installed = {item["metadata"]["name"]: item["metadata"]["version"] for item in installs}
    assert check.returncode == 0, check.stdout + check.stderr
    assert {"elbo_lib", "torch", "numpy"} <= set(installed)
    assert installed["torch"].startswith("2.13.0")
    normalized = {re.sub(r"[-_.]+", "-", name).lower() for name in base}
    replaced = {name for name in installed if re.sub(r"[-_.]+", "-", name).lower() in normalized}
    assert not replaced, f"Binder reinstalls packages of its base: {sorted(replaced)}"
