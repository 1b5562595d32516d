"""benchmarks/run.py's budgets in reference units, and the reference workload of bench_vae.py."""

import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run = load("run")
bench_vae = load("bench_vae")


def test_units_are_the_least_run_over_the_least_reference_run():
    units, total = run.in_units({"a": [3.0, 2.0, 2.5], "b": [10.0, 9.0, 12.0]}, [1.2, 1.0, 1.1])
    assert units == pytest.approx({"a": 2.0, "b": 9.0}) and total == pytest.approx(11.0)
    units, _ = run.in_units({"a": [20.0]}, [1.14])
    assert units["a"] == pytest.approx(17.54, abs=0.01)  # 20 s on a 1.14 s day: just over budget


@pytest.mark.parametrize(
    ("notebooks", "reference"),
    [({"a": [1.0]}, []), ({"a": [1.0]}, [0.0, 1.0]), ({"a": []}, [1.0]), ({"a": [-1.0]}, [1.0])],
)
def test_units_refuse_missing_or_impossible_times(notebooks, reference):
    with pytest.raises(ValueError, match=r"notebook_seconds|reference_seconds"):
        run.in_units(notebooks, reference)


def test_rows_time_each_round_and_judge_units_against_the_budgets():
    """Three rounds of fake timings: each round times the reference first; a notebook's row is
    its least time over the least reference time, checked against 17.5 units; the total against
    130; memory is the largest of the rounds, the sliders those of the fastest run."""
    calls = []
    references = iter([2.0, 1.0, 1.5])
    seconds = {"fast": [12.0, 10.0, 11.0], "slow": [30.0, 18.0, 25.0]}

    def reference():
        calls.append("reference")
        return next(references)

    def fake_run(path):
        calls.append(path.name)
        i = sum(c == path.name for c in calls) - 1
        slider = {"slider": "s", "kind": "IntSlider", "ms": [50.0 + i] * 3, "cpu_ms": [40.0]}
        return seconds[path.stem][i], 100.0 * (i + 1), [slider]

    paths = [Path("fast.ipynb"), Path("slow.ipynb")]
    rows = list(run.notebook_rows(paths, rounds=3, reference=reference, run=fake_run))
    assert calls == ["reference", "fast.ipynb", "slow.ipynb"] * 3
    table = {what: (measured, budget) for what, measured, budget in rows}
    assert table["`fast`: run time"] == ("10.0 units (10.0 s)", "< 17.5 units ✓")
    assert table["`slow`: run time"] == ("18.0 units (18.0 s)", "< 17.5 units ✗")
    assert table["`fast`: kernel peak memory"][0] == "300 MiB"
    assert table["`fast`: slider s (IntSlider), 3 moves"][0].startswith("median 51 ms")
    assert table["every notebook: total run time"] == ("28.0 units (28.0 s)", "< 130 units ✓")
    assert rows[0][1].startswith("1.00 s")


def test_the_reference_workload_times_the_recipe_on_one_thread_after_its_first_step(monkeypatch):
    """The clock starts after the first optimiser step and stops after the last epoch; every
    step runs on one thread, on the 1,437 binarized digits in batches of 128."""
    import torch

    from elbo_lib.data import load_digits

    events = []
    step, clock = bench_vae.classic_step, bench_vae.time.perf_counter

    def recorded_step(*args):
        events.append(("step", torch.get_num_threads(), len(args[2])))
        step(*args)

    def recorded_clock():
        events.append("clock")
        return clock()

    monkeypatch.setattr(bench_vae, "classic_step", recorded_step)
    monkeypatch.setattr(bench_vae.time, "perf_counter", recorded_clock)
    x_train = load_digits()[0]
    assert x_train.shape == (1437, 64) and set(x_train.unique().tolist()) == {0.0, 1.0}
    seconds = bench_vae.reference_seconds(x_train, epochs=2)
    epoch = [("step", 1, 128)] * 11 + [("step", 1, 29)]  # 1437 = 11 · 128 + 29
    assert events == [("step", 1, 128), "clock", *epoch, *epoch, "clock"]
    assert seconds > 0
