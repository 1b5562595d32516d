"""The slider timer used by benchmarks/run.py: it finds live sliders and times real callbacks."""

import importlib.util
import time
from pathlib import Path

import ipywidgets
import pytest

spec = importlib.util.spec_from_file_location(
    "sliders", Path(__file__).resolve().parents[1] / "benchmarks" / "sliders.py"
)
sliders = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sliders)


def test_times_each_move_of_each_live_slider_and_restores_it(monkeypatch):
    slow = ipywidgets.FloatLogSlider(value=1.0, base=10, min=-2, max=1, description="slow")
    picked = ipywidgets.SelectionSlider(options=["a", "b", "c"], value="b", description="pick")
    closed = ipywidgets.IntSlider(description="closed")
    registry = {w.model_id: w for w in (slow, picked, closed)}
    assert registry.items() <= sliders._instances.items(), "the registry of live widgets"
    monkeypatch.setattr(sliders, "_instances", registry)  # not the other tests' widgets
    closed.close()
    seen = []
    slow.observe(lambda change: (seen.append(change["new"]), time.sleep(0.01)), "value")
    try:
        timed = {t["slider"]: t for t in sliders.time_live_sliders(moves=5)}
        assert "closed" not in timed
        assert timed["slow"]["kind"] == "FloatLogSlider"
        assert len(timed["slow"]["ms"]) == 5
        assert min(timed["slow"]["ms"]) >= 10
        assert seen[:5] == pytest.approx([0.01, 10**-1.25, 10**-0.5, 10**0.25, 10.0])
        assert slow.value == 1.0
        assert len(timed["pick"]["ms"]) == 2
        assert picked.value == "b"
    finally:
        slow.close()
        picked.close()
