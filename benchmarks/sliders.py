"""Time every live slider of the running kernel: run inside a notebook's kernel after its cells.

Each slider still connected to a frontend (every ipywidgets slider the notebook created, found
through the widget registry) is set to values spread over its range, as a reader dragging it
would; each assignment runs the slider's callbacks synchronously, so its wall time is the
callback plus the redraw of the figure (PNG encoding included; the browser's paint is not).
"""

import time

import ipywidgets
import numpy as np
from ipywidgets.widgets.widget import _instances

SLIDERS = (
    ipywidgets.IntSlider,
    ipywidgets.FloatSlider,
    ipywidgets.FloatLogSlider,
    ipywidgets.SelectionSlider,
)
SLOW = 2.0  # s: after a move this slow (a retrain), three moves are enough


def positions(slider, moves):
    """``moves`` positions across the slider's range, ends included, without its current one:
    values, or option indices for a selection slider."""
    if isinstance(slider, ipywidgets.SelectionSlider):
        picks = np.linspace(0, len(slider.options) - 1, moves).round().astype(int)
        return [i for i in dict.fromkeys(picks.tolist()) if i != slider.index]
    if isinstance(slider, ipywidgets.FloatLogSlider):
        values = slider.base ** np.linspace(slider.min, slider.max, moves)
    elif isinstance(slider, ipywidgets.IntSlider):
        values = np.linspace(slider.min, slider.max, moves).round().astype(int).tolist()
    else:
        values = np.linspace(slider.min, slider.max, moves).tolist()
    return [value for value in values if value != slider.value]


def time_live_sliders(moves=20):
    """[{"slider", "kind", "ms": [...], "cpu_ms": [...]}, ...] for every live slider, in creation
    order: wall time of each move, and the kernel's CPU time (less inflated on a busy machine)."""
    results = []
    sliders = [w for w in list(_instances.values()) if isinstance(w, SLIDERS) and w.comm]
    for slider in sliders:
        key = "index" if isinstance(slider, ipywidgets.SelectionSlider) else "value"
        start, ms, cpu_ms = getattr(slider, key), [], []
        for position in positions(slider, moves):
            t0, c0 = time.perf_counter(), time.process_time()
            setattr(slider, key, position)
            ms.append((time.perf_counter() - t0) * 1e3)
            cpu_ms.append((time.process_time() - c0) * 1e3)
            if len(ms) >= 3 and max(ms) > SLOW * 1e3:
                break
        setattr(slider, key, start)
        label = slider.description or "(no label)"
        results.append({"slider": label, "kind": type(slider).__name__, "ms": ms, "cpu_ms": cpu_ms})
    return results
