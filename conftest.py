"""nbval compares what a reader sees; these outputs vary from run to run and are not compared:
HTML reprs (progress bars, widgets) and stderr (progress bars). Estimates printed as such
("≈ 18.21", "17.44 ± 0.03") are compared by their form, not their last digits, which differ between
CPUs (elbo_lib.checks.ESTIMATE); the checks beside them hold the tolerances.

Binder gives a notebook 2 GB: after each notebook, its kernel's peak resident memory is read
(Linux) and must stay under 1 GB; the figures are listed at the end of the run (also when
pytest-xdist runs the notebooks on several workers: they travel with the test reports)."""

import sys
from pathlib import Path

import pytest

from elbo_lib.checks import ESTIMATE

NOT_COMPARED = ("text/html", "stderr")
KERNEL_MEMORY_LIMIT = 2**30  # bytes
PEAK = "kernel peak memory"  # a user property of a notebook's last cell: (notebook, bytes)
peaks = {}  # notebook name -> bytes, as the reports arrive


def pytest_collection_modifyitems(items):
    for notebook in {item.parent for item in items if hasattr(item.parent, "skip_compare")}:
        notebook.skip_compare += NOT_COMPARED
        notebook.sanitize_patterns[ESTIMATE] = "≈ …"


def resident_peak(pid):
    """Peak resident memory of a process in bytes: VmHWM in /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise ValueError(f"no VmHWM for pid {pid}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    notebook = item.parent
    kernel = getattr(notebook, "kernel", None)
    last_cell = nextitem is None or nextitem.parent is not notebook
    peak = None
    if last_cell and kernel is not None and kernel.is_alive() and sys.platform == "linux":
        peak = resident_peak(kernel.km.provisioner.pid)
        item.user_properties.append((PEAK, (notebook.path.name, peak)))
    result = yield
    assert peak is None or peak < KERNEL_MEMORY_LIMIT, (
        f"{notebook.path.name}: kernel peak memory {peak / 2**20:.0f} MiB, over the limit"
    )
    return result


def pytest_runtest_logreport(report):
    for name, value in report.user_properties:
        if name == PEAK:
            notebook, peak = value
            peaks[notebook] = peak


def pytest_terminal_summary(terminalreporter, config):
    if peaks:
        terminalreporter.write_sep("-", "peak kernel memory per notebook (limit 1024 MiB)")
        for name, peak in sorted(peaks.items()):
            terminalreporter.write_line(f"{peak / 2**20:7.0f} MiB  {name}")
