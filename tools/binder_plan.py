"""What Binder installs, worked out without a container engine: repo2docker's plan (its Dockerfile,
``repo2docker --no-build --no-run``) names the base environment it builds first (a conda lock
file) and the ``pip install -r binder/requirements.txt`` it runs in it. The base's Python
packages are laid out as metadata alone (no code) in an empty virtual environment, pip resolves
Binder's requirements there as it would on Binder (``--dry-run --report``), and ``pip check``
checks the environment the plan leaves: base and plan together.

    python tools/binder_plan.py        (prints the plan and pip check's verdict; needs PyPI)
"""

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import cpu_torch  # its neighbour in tools/

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "binder" / "requirements.txt"
# conda-forge names whose Python distribution (the name pip sees) is called otherwise
PYPI_NAMES = {
    "brotli-python": "brotli",
    "jupyterhub-base": "jupyterhub",
    "nbconvert-core": "nbconvert",
    "python-fastjsonschema": "fastjsonschema",
}
NOT_PIP = {"python"}  # conda packages with a "py" build string that pip does not see


def repo2docker_plan(root=ROOT):
    """The Dockerfile repo2docker would build from ``root``, with its log."""
    repo2docker = Path(sys.executable).parent / "repo2docker"
    run = subprocess.run(
        [repo2docker, "--no-build", "--no-run", "--debug", root],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return run.stdout + run.stderr


def base_lock_file(plan):
    """The conda lock file of the plan's base environment: the file its Dockerfile copies to
    ``/tmp/env/environment.lock`` (repo2docker escapes the path, '/' as '-2f')."""
    (escaped,) = re.findall(r"COPY \S+ build_script_files/(\S+) /tmp/env/environment\.lock", plan)
    path = re.sub(r"-([0-9a-f]{2})", lambda m: chr(int(m[1], 16)), escaped.rsplit("-", 1)[0])
    return Path(path)


def base_packages(lock_file):
    """{name: version} of the Python packages in a conda explicit lock file (those whose build
    string names Python: ``py311h…``, ``pyhd8ed1ab_0``), under the names pip knows them by."""
    packages = {}
    for url in re.findall(r"^https://\S+", Path(lock_file).read_text(), re.MULTILINE):
        file = url.split("#")[0].rsplit("/", 1)[1]
        name, version, build = re.sub(r"\.(conda|tar\.bz2)$", "", file).rsplit("-", 2)
        if build.startswith("py") and name not in NOT_PIP:
            packages[PYPI_NAMES.get(name, name)] = version
    return packages


def pip(python, *args, check=True):
    """pip (this interpreter's) run on the environment of ``python``; when ``check``, a failure
    raises with pip's error output."""
    command = [sys.executable, "-m", "pip", "--python", python, *args]
    run = subprocess.run(command, capture_output=True, text=True)
    if check and run.returncode:
        raise RuntimeError(f"pip {' '.join(map(str, args))} failed:\n{run.stderr}")
    return run


def metadata(pins, python, folder):
    """pip's report on ``pins`` (``name==version``), each without its dependencies: their metadata
    as pip reads it from the index (nothing is installed)."""
    pins_file, report = folder / "pins.txt", folder / "base.json"
    pins_file.write_text("\n".join(pins) + "\n")
    install = ("install", "--dry-run", "--quiet", "--ignore-installed", "--no-deps")
    pip(python, *install, "--report", report, "-r", pins_file)
    return json.loads(report.read_text())["install"]


def lay_out(items, site_packages):
    """Write each report item's metadata as an installed distribution (``.dist-info`` with
    METADATA alone), replacing an installed one of the same name."""
    for item in items:
        meta = item["metadata"]
        name = re.sub(r"[-_.]+", "_", meta["name"]).lower()
        for old in site_packages.glob("*.dist-info"):
            if old.name.split("-", 1)[0] == name:
                for file in old.iterdir():
                    file.unlink()
                old.rmdir()
        info = site_packages / f"{name}-{meta['version']}.dist-info"
        info.mkdir()
        lines = ["Metadata-Version: 2.1", f"Name: {meta['name']}", f"Version: {meta['version']}"]
        if "requires_python" in meta:
            lines.append(f"Requires-Python: {meta['requires_python']}")
        lines += [f"Provides-Extra: {extra}" for extra in meta.get("provides_extra", [])]
        lines += [f"Requires-Dist: {requirement}" for requirement in meta.get("requires_dist", [])]
        (info / "METADATA").write_text("\n".join(lines) + "\n")


def binder_requirements(folder):
    """binder/requirements.txt as this machine can resolve it: PyTorch's CPU index where it
    answers, else the same torch release from pip's own index."""
    lines = REQUIREMENTS.read_text().splitlines()
    if not cpu_torch.index_option():
        lines = [line for line in lines if not line.startswith("--extra-index-url")]
        lines = [re.sub(r"^(torch==[^+\s]+)\+cpu", r"\1", line) for line in lines]
    path = folder / "requirements.txt"
    path.write_text("\n".join(line.replace("-e .", f"-e {ROOT}") for line in lines) + "\n")
    return path


def binder_environment(folder):
    """(base packages {name: version}, the plan's installs [report items], pip check's run) for
    Binder's environment, laid out in ``folder``."""
    folder = Path(folder)
    base = base_packages(base_lock_file(repo2docker_plan()))
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    (site_packages,) = venv.glob("lib/python*/site-packages")
    lay_out(metadata([f"{n}=={v}" for n, v in base.items()], python, folder), site_packages)
    report = folder / "plan.json"
    requirements = binder_requirements(folder)
    pip(python, "install", "--dry-run", "--quiet", "--report", report, "-r", requirements)
    installs = json.loads(report.read_text())["install"]
    lay_out(installs, site_packages)
    return base, installs, pip(python, "check", check=False)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        base, installs, check = binder_environment(tmp)
    print(f"base: {len(base)} Python packages; the plan installs:")
    for item in installs:
        print(f"  {item['metadata']['name']}=={item['metadata']['version']}")
    print(check.stdout + check.stderr, end="")
    sys.exit(check.returncode)
