"""Time notebooks 01-05 top to bottom and every slider they leave live, in their own kernel
(the harness of ``run.py``; kernel start-up not included).

    .venv/bin/python benchmarks/theory_notebooks.py
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import ROOT, SLIDER_MS, run_notebook

NOTEBOOKS = sorted((ROOT / "notebooks").glob("0[1-5]_*.ipynb"))


def main():
    print(f"{'notebook / slider':58s} {'s or median ms':>14s} {'p95 ms':>7s}")
    for path in NOTEBOOKS:
        seconds, mib, sliders = run_notebook(path)
        print(f"{path.name:58s} {seconds:13.1f}s {'':>7s}  ({mib:.0f} MiB peak)")
        for slider in sliders:
            ms = np.array(slider["ms"])
            flag = "" if np.percentile(ms, 95) < SLIDER_MS else "  over budget"
            print(
                f"  {slider['slider']:56s} {np.median(ms):13.1f}  "
                f"{np.percentile(ms, 95):7.1f}{flag}"
            )


if __name__ == "__main__":
    main()
