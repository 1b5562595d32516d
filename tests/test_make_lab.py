"""The README's first command: ``make lab`` starts JupyterLab, also as root (a course's
container), where JupyterLab stops unless it is given ``--allow-root``; at the project's root, so
that the notebooks' links to ``instructors/`` work, with notebook 01 open."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_make_lab_serves_the_project_with_notebook_01_open(tmp_path):
    """``make lab`` with this environment standing in for .venv (``-o`` skips the set-up), told
    not to open a browser; the server must answer, whoever runs it, list the project's root, and
    point the page a browser would open at notebook 01."""
    venv = Path(sys.executable).parents[1]
    port = free_port()
    token = "elbo-lab-test"
    lab_args = (
        f"--no-browser --ip=127.0.0.1 --port={port} --ServerApp.port_retries=0 "
        f"--IdentityProvider.token={token}"
    )
    env = os.environ | {
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
    }
    command = ["make", "-o", f"{venv}/.ready", "lab", f"VENV={venv}", f"LAB_ARGS={lab_args}"]
    log = (tmp_path / "lab.log").open("w")
    lab = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert lab.poll() is None, (tmp_path / "lab.log").read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=2) as reply:
                    assert reply.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "JupyterLab did not answer within 60 s"
                time.sleep(0.3)
        ask = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/contents", headers={"Authorization": f"token {token}"}
        )
        with urllib.request.urlopen(ask, timeout=10) as reply:
            listed = {item["name"] for item in json.load(reply)["content"]}
        assert {"notebooks", "instructors", "README.md"} <= listed
        (opens,) = (tmp_path / "runtime").glob("jpserver-file-to-run-*-open.html")
        assert "/lab/tree/notebooks/01_evidence_and_jensen.ipynb" in opens.read_text()
    finally:
        with contextlib.suppress(ProcessLookupError):  # make and JupyterLab already ended
            os.killpg(lab.pid, signal.SIGTERM)
        lab.wait(timeout=30)
        log.close()
