"""Speed of notebook 11's β widget: building it (one model trained at β = 1 and the first
frame drawn), one press of Train (retrain + redraw, budget 5 s) at several β, and a Reset.

Run: .venv/bin/python benchmarks/bench_beta_widget.py
"""

import statistics
import time

from elbo_lib.beta_widget import BetaWidget
from elbo_lib.data import load_digits

BETAS = (0.01, 0.3, 3.0, 20.0)


def figures():
    """Seconds, by name: ``build``, ``train_median`` and ``train_max`` over :data:`BETAS`
    (each press of Train: retrain, measure, redraw), and ``reset``."""
    x_train, x_test, _, y_test = load_digits()
    start = time.perf_counter()
    widget = BetaWidget(x_train, x_test, y_test)
    build = time.perf_counter() - start
    presses = []
    for beta in BETAS:
        widget.slider.value = beta
        start = time.perf_counter()
        widget.train_button.click()
        presses.append(time.perf_counter() - start)
    start = time.perf_counter()
    widget.reset_button.click()
    reset = time.perf_counter() - start
    return {
        "build_seconds": build,
        "train_median_seconds": statistics.median(presses),
        "train_max_seconds": max(presses),
        "reset_seconds": reset,
    }


def main():
    for name, value in figures().items():
        print(f"{name:22s} {value:6.2f}")


if __name__ == "__main__":
    main()
