"""The set-up behind ``make lab`` and ``make test``: the newest Python from 3.13 down to 3.11 that
runs, and torch's CPU build from PyTorch's CPU index where that answers, at once without it."""

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import cpu_torch  # noqa: E402


def fake_python(folder, name, runs=True):
    """An executable ``folder/name`` that runs this Python, or fails as a pyenv shim of a version
    that is not selected does."""
    path = folder / name
    body = f'exec {sys.executable} "$@"' if runs else f"echo 'pyenv: {name}: not found'; exit 127"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def set_up_commands(path, tmp_path):
    """The commands ``make`` would run to set up a new venv, with only ``path`` and the system's
    folders to find Pythons on."""
    env = os.environ | {"PATH": f"{path}:/usr/bin:/bin"}
    for name in ("PYTHON", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES", "MAKELEVEL"):
        env.pop(name, None)  # nor from a make that runs these tests (.ci/run's PYTHON=…)
    venv = tmp_path / "venv"
    run = subprocess.run(
        ["make", "-n", "-B", f"{venv}/.ready", f"VENV={venv}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return run.stdout


def test_the_newest_python_that_runs_sets_up_the_venv(tmp_path):
    folder = tmp_path / "bin"
    folder.mkdir()
    fake_python(folder, "python3.11")
    newest = fake_python(folder, "python3.12")
    fake_python(folder, "python3.13", runs=False)  # a shim: found on PATH, but does not run
    fake_python(folder, "python3.14")  # newer than the project supports
    commands = set_up_commands(folder, tmp_path)
    assert f"{newest} -m venv {tmp_path / 'venv'}" in commands


def test_the_set_up_asks_for_the_cpu_index_option():
    recipe = subprocess.run(
        ["make", "-n", "-B", "/nonexistent/.ready", "VENV=/nonexistent", "PYTHON=python3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "pip install --quiet $(/nonexistent/bin/python tools/cpu_torch.py)" in recipe


class TorchPage(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/whl/cpu/torch/" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.HTTPServer(("127.0.0.1", 0), TorchPage)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def test_a_reachable_index_is_used_on_linux_only(server):
    index = f"{server}/whl/cpu"
    assert cpu_torch.index_option(index, "linux") == ["--extra-index-url", index]
    assert cpu_torch.index_option(index, "darwin") == []
    assert cpu_torch.index_option(f"{server}/elsewhere", "linux") == []  # 404: not an index


def test_an_unreachable_index_is_left_out_within_the_time_limit(capsys):
    with socket.socket() as closed:  # a port nobody listens on: refused at once
        closed.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{closed.getsockname()[1]}"
    with socket.socket() as silent:  # accepts the connection, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        hangs = f"http://127.0.0.1:{silent.getsockname()[1]}"
        for index in (refused, hangs, "http://nonexistent.invalid/whl/cpu"):
            start = time.monotonic()
            assert cpu_torch.index_option(index, "linux", timeout=1) == []
            assert time.monotonic() - start < 3, index
            assert "not reachable" in capsys.readouterr().err
