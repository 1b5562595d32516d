"""The autograder: planted submissions, one per way a submission can go wrong, each get their
status, and grading goes on. A two-exercise solution notebook keeps the test fast."""

import csv
import importlib.util
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
spec = importlib.util.spec_from_file_location("grade", ROOT / "tools" / "grade.py")
grade = importlib.util.module_from_spec(spec)
spec.loader.exec_module(grade)
student_version = sys.modules["student_version"]


def _metadata(grade_id, *, check):
    return {
        "nbgrader": {
            "grade": check,
            "grade_id": grade_id,
            "locked": check,
            "schema_version": 3,
            "solution": not check,
            "task": False,
        }
    }


WARMUP = "def warmup_beta(step, warmup_steps, target):\n"
KL = "def kl_diag_gaussian(mu, logvar):\n"
SOLUTIONS = {
    "ex01_warmup_beta": WARMUP + "    ### BEGIN SOLUTION\n"
    "    return target * min(1.0, step / warmup_steps)\n    ### END SOLUTION",
    "ex02_kl_diag_gaussian": KL + "    ### BEGIN SOLUTION\n"
    "    return 0.5 * np.sum(mu**2 + np.exp(logvar) - logvar - 1, axis=-1)\n    ### END SOLUTION",
}
CHECKS = {"ex01_warmup_beta": "warmup_beta", "ex02_kl_diag_gaussian": "kl_diag_gaussian"}


def _solution_notebook():
    cells = [
        new_markdown_cell("# Two exercises", id="intro"),
        new_code_cell(
            "import numpy as np\n\n"
            "from elbo_lib.exercises import check_kl_diag_gaussian, check_warmup_beta",
            id="imports",
        ),
    ]
    for grade_id, source in SOLUTIONS.items():
        name = CHECKS[grade_id]
        cells.append(
            new_code_cell(source, id=f"{grade_id}-a", metadata=_metadata(grade_id, check=False))
        )
        cells.append(
            new_code_cell(
                f"check_{name}({name})",
                id=f"{grade_id}-c",
                metadata=_metadata(f"check_{grade_id}", check=True),
            )
        )
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return notebook


def _answer(notebook, grade_id, source):
    """``notebook`` with the answer cell ``grade_id`` holding ``source``."""
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
    return notebook


def _without_checks(notebook):
    notebook.cells = [c for c in notebook.cells if not c.metadata.get("nbgrader", {}).get("grade")]
    return notebook


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the planted submissions once; returns the CSV rows by file name and the summary."""
    folder = tmp_path_factory.mktemp("grading")
    solution = folder / "two_solutions.ipynb"
    nbformat.write(_solution_notebook(), solution)

    def student():
        return student_version.student_notebook(solution, folder)[0]

    correct = nbformat.read(solution, as_version=4)
    planted = {
        "correct": correct,
        "blank": student(),
        "partly": _answer(student(), "ex01_warmup_beta", SOLUTIONS["ex01_warmup_beta"]),
        "raises": _answer(
            _answer(student(), "ex01_warmup_beta", 'raise RuntimeError("at import")'),
            "ex02_kl_diag_gaussian",
            SOLUTIONS["ex02_kl_diag_gaussian"],
        ),
        "loops": _answer(
            _answer(student(), "ex01_warmup_beta", "while True:\n    pass"),
            "ex02_kl_diag_gaussian",
            SOLUTIONS["ex02_kl_diag_gaussian"],
        ),
        "kills_kernel": _answer(
            _answer(student(), "ex01_warmup_beta", "import os\n\nos._exit(1)"),
            "ex02_kl_diag_gaussian",
            SOLUTIONS["ex02_kl_diag_gaussian"],
        ),
        "no_checks": _without_checks(
            _answer(student(), "ex01_warmup_beta", WARMUP + "    return 0.0")
        ),
        "redefined_checks": _answer(
            student(),
            "ex01_warmup_beta",
            WARMUP
            + "    return 0.0\n\n\ncheck_warmup_beta = lambda f: print('✓ correct!') or True\n"
            "import elbo_lib.exercises\nelbo_lib.exercises.check_warmup_beta = check_warmup_beta",
        ),
    }
    hacked = planted["redefined_checks"]
    for cell in hacked.cells:  # its check cells print a verdict of their own
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.source = "print('ex01_warmup_beta True')"
    submissions = folder / "submissions"
    submissions.mkdir()
    for name, notebook in planted.items():
        nbformat.write(notebook, submissions / f"{name}.ipynb")
    (submissions / "not_json.ipynb").write_text("{ this is not a notebook")
    (submissions / "not_a_notebook.ipynb").write_text('{"cells": 3}')
    out = folder / "grades.csv"
    summary = grade.main(
        [str(submissions), "--solution", str(solution), "--out", str(out), "--timeout", "30"]
    )
    with out.open() as file:
        rows = {row["submission"].removesuffix(".ipynb"): row for row in csv.DictReader(file)}
    return rows, summary


@pytest.mark.parametrize(
    ("submission", "warmup", "kl"),
    [
        ("correct", "pass", "pass"),
        ("blank", "fail", "fail"),
        ("partly", "pass", "fail"),
        ("raises", "error", "pass"),
        ("loops", "timeout", "pass"),
        ("kills_kernel", "error", "pass"),
        ("no_checks", "fail", "fail"),
        ("redefined_checks", "fail", "fail"),
        ("not_json", "invalid", "invalid"),
        ("not_a_notebook", "invalid", "invalid"),
    ],
)
def test_each_planted_submission_gets_its_status(graded, submission, warmup, kl):
    row = graded[0][submission]
    assert (row["ex01_warmup_beta"], row["ex02_kl_diag_gaussian"]) == (warmup, kl), row
    assert row["passed"] == str([warmup, kl].count("pass"))


def test_an_invalid_notebook_says_why(graded):
    assert "not a valid notebook" in graded[0]["not_json"]["note"]


def test_one_row_per_submission_and_a_summary_line_counting_every_status(graded):
    rows, summary = graded
    assert list(rows) == sorted(rows) and len(rows) == 10
    assert summary.startswith("graded 10 submissions × 2 exercises in ")
    assert "6 pass, 7 fail, 2 error, 1 timeout, 4 invalid" in summary


def test_a_dead_kernel_is_noted_and_grading_goes_on(graded):
    assert "the kernel died" in graded[0]["kills_kernel"]["note"]
