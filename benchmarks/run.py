"""Measure what a reader waits for and write it as one table to benchmarks/RESULTS.md.

    taskset -c 0 .venv/bin/python benchmarks/run.py     (or `make bench`; several minutes)

`make bench` pins the process, and so the kernels it starts, to one CPU, as on Binder.

- each notebook: run time top to bottom (nbclient, kernel start not included) in units of the
  reference workload, and the kernel's peak resident memory (``getrusage`` in the kernel, after
  its sliders were moved too); the collection's total in the same units. The reference workload
  (``bench_vae.reference_seconds``: the classic pytorch/examples VAE recipe for 60 epochs on the
  1,437 binarized training digits, one thread) is timed in the same run, before each of three
  rounds over every notebook; each time is the least of its three (the least disturbed by other
  work), so the units hold on a machine whose speed changes from day to day;
- each slider still live after the run: median and 95th percentile of callback + redraw, and
  the kernel's CPU time (``sliders.py``, run inside that notebook's kernel);
- the VAE engine (``bench_vae.py``) and the β widget's retrain (``bench_beta_widget.py``);
- ``import elbo_lib`` and the installed size of ``.venv``.
"""

import datetime
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import torch
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "RESULTS.md"
# run-time budgets in units of the reference workload, on one CPU (20 s when a unit is 1.14 s)
NOTEBOOK_UNITS = 17.5  # each notebook
COLLECTION_UNITS = 130  # all of them
ROUNDS = 3  # runs of the reference workload and of every notebook; the least time of each counts
SLIDER_MS = 150
KERNEL_MIB = 1024
PROBE = f"""\
import json, resource, sys
sys.path.insert(0, {str(HERE)!r})
import sliders as _sliders
_timings = _sliders.time_live_sliders()
print(json.dumps({{"sliders": _timings,
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
"""
LIBRARY_BENCHMARKS = {"bench_vae": "VAE engine", "bench_beta_widget": "β widget"}
LIBRARY_SECONDS = {"train_max_seconds": 5}  # a press of the β widget's Train button
IDLE_MS = 1  # a slider this fast only sets up the next Train run
KEPT = "\n## Measured separately"  # RESULTS.md's sections from here on are kept as they are


def run_notebook(path):
    """(seconds to run every cell, peak kernel memory in MiB, slider timings) of one notebook."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": path.parent}}
    )
    probe = nbformat.v4.new_code_cell(PROBE)
    with client.setup_kernel():
        start = time.perf_counter()
        for index, cell in enumerate(list(notebook.cells)):
            client.execute_cell(cell, index)
        seconds = time.perf_counter() - start
        notebook.cells.append(probe)
        client.execute_cell(probe, len(notebook.cells) - 1)
    stdout = "".join(out.text for out in probe.outputs if out.get("name") == "stdout")
    measured = json.loads(stdout.strip().splitlines()[-1])
    return seconds, measured["peak_kib"] / 1024, measured["sliders"]


def import_seconds(module, repeats=5):
    """Median wall time of ``import module`` in a fresh interpreter."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    runs = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout)
        for _ in range(repeats)
    ]
    return statistics.median(runs)


def installed_mib(path):
    output = subprocess.run(["du", "-sm", path], capture_output=True, text=True, check=True)
    return int(output.stdout.split()[0])


def machine():
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cpu}, {os.cpu_count()} cores ({cpus} used), {memory:.0f} GiB; {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}, torch {torch.__version__}"
    )


def check(value, limit, unit):
    return f"< {limit} {unit} {'✓' if value < limit else '✗'}"


def library_row(title, name, value):
    """A figure of bench_vae or bench_beta_widget; the unit is the word "seconds" in its name."""
    if "seconds" in name:
        budget = LIBRARY_SECONDS.get(name)
        label = name.replace("seconds", "time").replace("_", " ")
        return f"{title}: {label}", f"{value:.3g} s", check(value, budget, "s") if budget else ""
    return f"{title}: {name.replace('_', ' ')}", f"{value:.4g}", ""


def in_units(notebook_seconds, reference_seconds):
    """Each notebook's run time in reference units, and the collection's total: the least of a
    notebook's runs (``notebook_seconds``: name → seconds of each run) over the least run of
    the reference workload (``reference_seconds``)."""
    reference = min(reference_seconds, default=0.0)
    if not reference > 0:
        raise ValueError(f"reference_seconds must hold positive times, got {reference_seconds!r}")
    if any(not runs or min(runs) < 0 for runs in notebook_seconds.values()):
        raise ValueError("notebook_seconds must hold at least one non-negative time per notebook")
    units = {name: min(runs) / reference for name, runs in notebook_seconds.items()}
    return units, sum(units.values())


def notebook_rows(paths, *, rounds=ROUNDS, reference=None, run=run_notebook):
    """Yield (what, measured, budget) rows of the notebooks at ``paths``: ``rounds`` rounds,
    each timing the reference workload (``reference()``, seconds) and then every notebook
    (``run(path)``, as :func:`run_notebook`); run times in reference units, the peak memory the
    largest of the rounds, the sliders those of a notebook's fastest run."""
    if reference is None:
        from bench_vae import reference_seconds

        from elbo_lib.data import load_digits

        x_train = load_digits()[0]

        def reference():
            return reference_seconds(x_train)

    reference_runs, runs = [], {path: [] for path in paths}
    for round_ in range(rounds):
        print(f"round {round_ + 1} of {rounds}: the reference workload …", file=sys.stderr)
        reference_runs.append(reference())
        for path in paths:
            print(f"round {round_ + 1} of {rounds}: {path.name} …", file=sys.stderr, flush=True)
            runs[path].append(run(path))
    unit = min(reference_runs)
    yield (
        "reference workload: the classic VAE recipe, 60 epochs, one thread (1 unit)",
        f"{unit:.2f} s (runs: {', '.join(f'{s:.2f}' for s in reference_runs)} s)",
        "",
    )
    units, total = in_units({p: [r[0] for r in runs[p]] for p in paths}, reference_runs)
    for path in paths:
        seconds, _, sliders = min(runs[path], key=lambda r: r[0])
        mib = max(r[1] for r in runs[path])
        yield (
            f"`{path.stem}`: run time",
            f"{units[path]:.1f} units ({seconds:.1f} s)",
            check(units[path], NOTEBOOK_UNITS, "units"),
        )
        yield f"`{path.stem}`: kernel peak memory", f"{mib:.0f} MiB", check(mib, KERNEL_MIB, "MiB")
        for slider in sliders:
            ms = np.array(slider["ms"])
            if ms.size == 0:
                continue
            median, p95 = np.median(ms), np.percentile(ms, 95)
            cpu = np.median(slider["cpu_ms"])
            what = f"`{path.stem}`: slider {slider['slider']} ({slider['kind']}), {ms.size} moves"
            if p95 < IDLE_MS:
                yield what, "no redraw: sets up the next Train run", ""
                continue
            yield (
                what,
                f"median {median:.0f} ms, p95 {p95:.0f} ms (CPU median {cpu:.0f} ms)",
                check(p95, SLIDER_MS, "ms"),
            )
    seconds = sum(min(r[0] for r in runs[path]) for path in paths)
    yield (
        "every notebook: total run time",
        f"{total:.1f} units ({seconds:.1f} s)",
        check(total, COLLECTION_UNITS, "units"),
    )


def rows():
    """Yield (what, measured, budget) rows while measuring."""
    sys.path.insert(0, str(HERE))
    yield from notebook_rows(sorted((ROOT / "notebooks").glob("*.ipynb")))
    for module, title in LIBRARY_BENCHMARKS.items():
        if not (HERE / f"{module}.py").exists():
            yield title, f"not measured: benchmarks/{module}.py does not exist yet", ""
            continue
        print(f"running {module} …", file=sys.stderr, flush=True)
        for name, value in importlib.import_module(module).figures().items():
            yield library_row(title, name, value)
    yield "`import elbo_lib`", f"{import_seconds('elbo_lib') * 1e3:.0f} ms", ""
    yield "`import elbo_lib.vae` (loads torch)", f"{import_seconds('elbo_lib.vae'):.2f} s", ""
    yield "installed size of `.venv`", f"{installed_mib(ROOT / '.venv')} MiB", ""


def main():
    started = datetime.datetime.now(datetime.UTC)
    load_before = os.getloadavg()
    table = []
    for row in rows():  # each row as it is measured, so that a failure keeps what came before
        print("| " + " | ".join(row) + " |", file=sys.stderr, flush=True)
        table.append(row)
    load_after = os.getloadavg()
    lines = [
        "# Benchmarks",
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC by `make bench` (`benchmarks/run.py`) on "
        f"{machine()}.",
        f"Load average (1 min) {load_before[0]:.1f} before and {load_after[0]:.1f} after: "
        + (
            "the cores were shared with other work, so every time is inflated."
            if max(load_before[0], load_after[0]) > os.cpu_count()
            else f"the {os.cpu_count()} cores were not oversubscribed."
        ),
        "",
        "Notebook run times are in units of the reference workload, timed in the same run (its "
        f"row, first): each the least of {ROUNDS} runs, notebook and reference alike, so that "
        f"the budgets ({NOTEBOOK_UNITS:g} units a notebook, {COLLECTION_UNITS:g} for the "
        f"collection: {NOTEBOOK_UNITS * 1.14:.0f} s and {COLLECTION_UNITS * 1.14:.0f} s on a day "
        "the reference takes 1.14 s) do not move with the machine's speed.",
        "",
        "Slider times are the kernel's callback plus redraw (PNG encoding included) for moves "
        "spread over each slider's range, as wall time and as the kernel's CPU time (which "
        "sharing inflates less); the browser adds its paint.",
        "",
        "| what | measured | budget |",
        "|---|---|---|",
        *(f"| {what} | {value} | {budget} |" for what, value, budget in table),
        "",
    ]
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    kept = old[old.index(KEPT) :] if KEPT in old else ""  # measured by other scripts
    RESULTS.write_text("\n".join(lines) + kept, encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
