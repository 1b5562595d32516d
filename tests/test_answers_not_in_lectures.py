"""No exercise's answer is printed or computed by a lecture: every value a check compares an
answer with (at the inputs the notebook's checks use) is looked for in the text and the stored
outputs of every lecture (notebooks 01–16): printed exactly (7.5 for 30/4) or rounded to four
significant digits or more; for an answer of one to three numbers (a prediction, a rate), also
exactly with two digits and rounded to three. Numbers of one significant digit (2, 0.2) are
passed over, and each coincidence a reader has checked is listed with what it is there."""

import contextlib
import io
import re
from pathlib import Path

import matplotlib
import nbformat
import numpy as np
import pytest

from elbo_lib import harness

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]
LECTURES = sorted(p for p in (ROOT / "notebooks").glob("[01][0-9]_*.ipynb") if p.name < "17")
SOLUTIONS = sorted((ROOT / "instructors").glob("*_solutions.ipynb"))
NUMBER = re.compile(r"(?<![\w.])[-−]?\d+\.\d+(?![\d])")
COINCIDENCES = {  # (exercise, number, where): why the same digits mean something else there
    ("ex13_iwae_bound", "1.962", "06·23"): "a Monte Carlo mean of a score-function gradient",
    ("ex18_warmup_beta", "0.125", "13·21"): "a signal-to-noise ratio, not a warm-up weight 1/8",
    ("ex18_warmup_beta", "0.125", "13·22"): "a signal-to-noise ratio, not a warm-up weight 1/8",
}


def _text(cell):
    """A cell's source and the text of its outputs."""
    parts = [cell.source]
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        parts.extend(str(v) for k, v in output.get("data", {}).items() if k.startswith("text/"))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def printed():
    """[(decimal number as a lecture prints it, its significant digits, where)]."""
    found = []
    for path in LECTURES:
        for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
            for number in set(NUMBER.findall(_text(cell))):
                number = number.replace("−", "-")
                digits = len(number.lstrip("-").replace(".", "").lstrip("0"))
                if digits >= 2:
                    found.append((number, digits, f"{path.name[:2]}·{index}"))
    return found


def _printed_as(value, number, digits, few):
    """Whether ``value`` is what a lecture printed as ``number`` (with ``digits`` significant
    digits): exactly (with 3 or more digits, or any if the answer has ``few`` numbers), or rounded
    with 4 or more digits (3 if ``few``)."""
    shown = float(number)
    short = np.format_float_positional(value, precision=6, fractional=False, trim="-")
    if len(short.lstrip("-").replace(".", "").strip("0")) < 2:  # 2, 0.2: a number tells nothing
        return False
    if abs(value - shown) <= 1e-9 * max(1.0, abs(shown)):
        return few or digits >= 3
    decimals = len(number.partition(".")[2])
    rounded = round(value, decimals) == shown
    return rounded and (digits >= 4 or (few and digits >= 3))


def answer_key(solution):
    """{exercise: the values its check compares the solution version's answers with}."""
    notebook = nbformat.read(solution, as_version=4)
    namespace = {}
    key = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in notebook.cells:
            if cell.cell_type != "code":
                continue
            grading = cell.metadata.get("nbgrader", {}).get("grade")
            source = "\n".join(
                line for line in cell.source.splitlines() if not line.lstrip().startswith("%")
            )
            if not grading:
                exec(compile(source, f"<{solution.name}>", "exec"), namespace)
                continue
            with harness.answer_key() as values:
                exec(compile(source, f"<{solution.name}>", "exec"), namespace)
            key[cell.metadata.nbgrader.grade_id.removeprefix("check_")] = values
    return key


@pytest.mark.slow
@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name[:2])
def test_no_answer_is_printed_in_a_lecture(solution, printed):
    key = answer_key(solution)
    assert key and any(len(v) for v in key.values()), "no check recorded an answer"
    leaks = []
    for exercise, values in key.items():
        numbers = np.concatenate(values) if values else np.zeros(0)
        numbers = np.unique(numbers[np.isfinite(numbers)])
        few = len(numbers) <= 3
        for value in numbers:
            for number, digits, where in printed:
                reviewed = (exercise, number, where) in COINCIDENCES
                if not reviewed and _printed_as(float(value), number, digits, few):
                    leaks.append(f"{exercise}: {value:.6g} printed as {number} in {where}")
    assert not leaks, sorted(set(leaks))


def test_the_search_finds_a_printed_answer():
    assert NUMBER.findall("in theory, $30/4 = 7.5\\times$; N(−0.20, 1.50²), 3.") == [
        "7.5",
        "−0.20",
        "1.50",
    ]
    assert _printed_as(30 / 4, "7.5", 2, few=True)
    assert not _printed_as(2.0, "2.0", 2, few=True) and not _printed_as(0.2, "0.2000", 4, few=False)
    assert not _printed_as(12.9461, "-12.95", 4, few=True)
    assert not _printed_as(7.46, "7.5", 2, few=True)
    assert not _printed_as(0.25, "0.25", 2, few=False)
    assert _printed_as(21.7484, "21.75", 4, few=False)
    assert _printed_as(21.7484, "21.7", 3, few=True)
    assert not _printed_as(21.7484, "21.7", 3, few=False)
