"""The longer runs behind notebook 12's full-size table: every remedy over three seeds.

    .venv/bin/python benchmarks/collapse_study.py full      # MADE 2 × 512, 100 epochs (minutes)
    .venv/bin/python benchmarks/collapse_study.py reported  # MADE 1 × 256, 100 epochs
    .venv/bin/python benchmarks/collapse_study.py fast-long   # 1 × 256, lr 0.01, 100 epochs
    .venv/bin/python benchmarks/collapse_study.py slow-short  # 1 × 256, lr 0.003, 30 epochs

Prints the table of :func:`elbo_lib.collapse.format_table` and writes every run to
``collapse_<config>.json`` in the working directory.
"""

import json
import sys
import time

import numpy as np

from elbo_lib.collapse import CONFIGS, collapse_study, format_table, summarize
from elbo_lib.data import load_digits


def main(config="full"):
    x_train, x_test, _, _ = load_digits()
    start = time.perf_counter()
    rows = collapse_study(x_train, x_test, config, progress=True)
    print(f"config {config}: {CONFIGS[config]}, {time.perf_counter() - start:.0f} s")
    print(format_table(summarize(rows)))
    with open(f"collapse_{config}.json", "w") as f:
        json.dump(rows, f, default=lambda a: np.asarray(a).tolist())
    return rows


if __name__ == "__main__":
    main(*sys.argv[1:])
