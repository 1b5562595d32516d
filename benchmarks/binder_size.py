"""Installed size of the Binder environment: each requirements file given (default:
binder/requirements.txt) is installed into a fresh virtual environment, with the project itself,
and the environment's size is printed in MiB with its number of packages. The PyTorch CPU index
line is left out: pip finds the same ``torch==…+cpu`` wheel where it is configured to look.

    python benchmarks/binder_size.py [REQUIREMENTS ...]      (minutes per file)

An older file, for a before/after: ``git show REV:binder/requirements.txt > old.txt``.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def installed(requirements):
    """(MiB, number of packages) of a fresh venv holding ``requirements`` and the project."""
    lines = Path(requirements).read_text().splitlines()
    kept = [line for line in lines if not line.startswith(("--extra-index-url", "-e "))]
    with tempfile.TemporaryDirectory() as tmp:
        venv, pins = Path(tmp) / "venv", Path(tmp) / "requirements.txt"
        pins.write_text("\n".join(kept) + "\n")
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        pip = [venv / "bin" / "python", "-m", "pip"]
        subprocess.run([*pip, "install", "--quiet", "-r", pins], check=True)
        subprocess.run([*pip, "install", "--quiet", "--no-deps", ROOT], check=True)
        du = subprocess.run(["du", "-sm", venv], capture_output=True, text=True, check=True)
        listed = subprocess.run([*pip, "list", "--format=freeze"], capture_output=True, text=True)
        return int(du.stdout.split()[0]), len(listed.stdout.splitlines())


if __name__ == "__main__":
    for path in sys.argv[1:] or [ROOT / "binder" / "requirements.txt"]:
        mib, packages = installed(path)
        print(f"{path}: {mib} MiB, {packages} packages")
