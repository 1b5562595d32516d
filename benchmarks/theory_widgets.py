"""Time every slider of the explorers in notebooks 01-05: each slider is set to 15 values
across its range, as a browser would, and each redraw is timed.

Run: .venv/bin/python benchmarks/theory_widgets.py
"""

import time

import numpy as np

from elbo_lib import widgets
from elbo_lib.linear_gaussian import LinearGaussian

EXPLORERS = {
    "01 jensen_explorer": widgets.jensen_explorer,
    "02 kl_identity_explorer": lambda: widgets.kl_identity_explorer(LinearGaussian(1.5, 0.5), 2.0),
    "03 kl_map_explorer": widgets.kl_map_explorer,
    "04 elbo_landscape_explorer": widgets.elbo_landscape_explorer,
    "05 mode_seeking_explorer": widgets.mode_seeking_explorer,
    "05 factorised_fit_explorer": widgets.factorised_fit_explorer,
}


def time_sliders(explorer, moves=15):
    timings = {}
    for slider in explorer.sliders.values():
        low, high = widgets.value_range(slider)
        values = np.geomspace(low, high, moves) if low > 0 else np.linspace(low, high, moves)
        start, seconds = slider.value, []
        for value in values:
            t0 = time.perf_counter()
            slider.value = float(value)
            seconds.append(time.perf_counter() - t0)
        slider.value = start
        timings[slider.description] = np.array(seconds) * 1e3
    return timings


def main():
    print(f"{'explorer':28s} {'slider':30s} {'median ms':>9s} {'p95 ms':>7s} {'max ms':>7s}")
    for label, build in EXPLORERS.items():
        for description, ms in time_sliders(build()).items():
            print(
                f"{label:28s} {description:30s} {np.median(ms):9.1f} "
                f"{np.percentile(ms, 95):7.1f} {ms.max():7.1f}"
            )


if __name__ == "__main__":
    main()
