"""Installed size of what Binder adds to repo2docker's base environment: the packages of Binder's
plan (tools/binder_plan.py: binder/requirements.txt resolved among the base's packages) installed
at their planned versions, without dependencies, into a fresh virtual environment; its size is
printed in MiB with the number of packages (the empty venv's own size subtracted).

    python benchmarks/binder_size.py      (minutes; needs PyPI)
"""

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import binder_plan  # noqa: E402
import cpu_torch  # noqa: E402


def mib(path):
    du = subprocess.run(["du", "-sm", path], capture_output=True, text=True, check=True)
    return int(du.stdout.split()[0])


def plan_size():
    """(MiB, number of packages) that Binder's plan installs on top of its base."""
    with tempfile.TemporaryDirectory() as tmp:
        _, installs, _ = binder_plan.binder_environment(Path(tmp) / "plan")
        pins = [f"{item['metadata']['name']}=={item['metadata']['version']}" for item in installs]
        pins = [pin for pin in pins if not pin.startswith("elbo_lib==")]
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        empty = mib(venv)
        pip = [venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-deps"]
        subprocess.run([*pip, *cpu_torch.index_option(), *pins], check=True)
        subprocess.run([*pip, ROOT], check=True)
        return mib(venv) - empty, len(pins) + 1


if __name__ == "__main__":
    size, packages = plan_size()
    print(f"Binder's plan adds {packages} packages, {size} MiB, to repo2docker's base")
