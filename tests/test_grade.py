"""The grader against planted submissions: honest work in other forms passes, and nothing a
submission does (wrong, blank, delegating, hard-coding a table, hanging, exiting, tampering with
the checks, the printing, numpy, the library, the files, or leaving a process behind) earns a pass
it has not, or costs another exercise its grade. Each planted notebook is the solution notebook
with a small edit; a handful of fast exercises is graded per notebook (and the mini-project once).
"""

import copy
import csv
import hashlib
import importlib.util
import sys
import time
import uuid
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell

from elbo_lib import exercises, harness

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
spec = importlib.util.spec_from_file_location("grade", ROOT / "tools" / "grade.py")
grade = importlib.util.module_from_spec(spec)
spec.loader.exec_module(grade)
student_version = sys.modules["student_version"]
SOLUTION = ROOT / "instructors" / "17_exercises_solutions.ipynb"
GRADED = ("ex03_kl_diag_gaussian", "ex13_iwae_bound", "ex18_warmup_beta")

KL = "def kl_diag_gaussian(mu, logvar):\n"
RIGHT_KL = KL + "    return 0.5 * np.sum(mu**2 + np.exp(logvar) - logvar - 1, axis=-1)\n"
WRONG_KL = KL + "    return np.sum(mu**2 + np.exp(logvar) - logvar - 1, axis=-1)\n"  # no ½
IWAE = "def iwae_bound(log_w):\n"
RIGHT_IWAE = (
    IWAE + "    m = np.max(log_w, axis=-1, keepdims=True)\n"
    "    return np.squeeze(m, axis=-1) + np.log(np.mean(np.exp(log_w - m), axis=-1))\n"
)
WARMUP = "def warmup_beta(step, warmup_steps, target):\n"
DELEGATING_KL = (
    "from elbo_lib.kl import kl_to_standard_normal\n\n\n"
    + KL
    + "    return kl_to_standard_normal(mu, logvar=logvar)\n"
)
BORROWED_KL = (  # the check's own reference: pure numpy, so only the grader's hook can tell
    "from elbo_lib.exercises import _gaussian_kl\n\n\n"
    + KL
    + "    return _gaussian_kl(mu, np.exp(logvar), 0.0, 1.0).sum(-1)\n"
)


def solution():
    return nbformat.read(SOLUTION, as_version=4)


def student():
    return student_version.student_notebook(SOLUTION, SOLUTION.parent)[0]


def _index(notebook, grade_id):
    return next(
        i
        for i, c in enumerate(notebook.cells)
        if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    )


def answer(notebook, grade_id, source):
    """``notebook`` with the answer cell ``grade_id`` holding ``source``."""
    notebook.cells[_index(notebook, grade_id)].source = source
    return notebook


def table_for_fixed_seeds():
    """An answer to exercise 3 that looks its inputs up in a table of the right outputs for the
    inputs the check draws in a notebook (seed 0), as a student could build by recording them."""
    table = {}

    def recording(mu, logvar):
        key = (np.asarray(mu).tobytes() + np.asarray(logvar).tobytes()).hex()
        table[key] = np.asarray(0.5 * np.sum(mu**2 + np.exp(logvar) - logvar - 1, axis=-1))
        return table[key]

    assert exercises.check_kl_diag_gaussian(recording)
    rows = {k: (v.shape, v.reshape(-1).tolist()) for k, v in table.items()}
    return (
        f"TABLE = {rows!r}\n\n\n" + KL + "    key = (np.asarray(mu).tobytes() + "
        "np.asarray(logvar).tobytes()).hex()\n"
        "    shape, values = TABLE[key]\n"
        "    return np.array(values).reshape(shape)\n"
    )


def planted(folder):
    """{name: (notebook or text, expected statuses of GRADED)}."""
    grades_csv = folder / "grades.csv"
    library = ROOT / "elbo_lib" / "exercises.py"
    new_cell = solution()
    del new_cell.cells[_index(new_cell, "ex03_kl_diag_gaussian")]
    new_cell.cells.insert(
        _index(new_cell, "check_ex03_kl_diag_gaussian"), new_code_cell(RIGHT_KL, id="typed")
    )
    stub_kept = student()
    stub_kept.cells.insert(
        _index(stub_kept, "ex03_kl_diag_gaussian") + 1, new_code_cell(RIGHT_KL, id="below")
    )
    lost = solution()
    for cell in lost.cells:
        cell.metadata, cell.id = {}, uuid.uuid4().hex[:8]
    tampered = answer(
        solution(),
        "ex03_kl_diag_gaussian",
        WRONG_KL + "\n\nimport elbo_lib.exercises\n\n"
        "check_kl_diag_gaussian = lambda f: print('✓ correct!') or True\n"
        "elbo_lib.exercises.check_kl_diag_gaussian = check_kl_diag_gaussian\n",
    )
    for cell in tampered.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.source = "print('✓ correct!')"
    rewrite = f"import time; time.sleep(3); open({str(grades_csv)!r}, 'w').write('rewritten')"
    daemon = (
        "import os, subprocess, sys, time\n"
        "try:\n"
        f"    subprocess.Popen([sys.executable, '-c', {rewrite!r}], start_new_session=True)\n"
        "except Exception:\n    pass\n"
        "try:\n"
        "    if os.fork() == 0:\n"
        f"        os.setsid()\n        exec({rewrite!r})\n        os._exit(0)\n"
        "except Exception:\n    pass\n"
    )
    cases = {
        "correct": (solution(), "pass pass pass"),
        "blank": (student(), "fail fail fail"),
        "answer_in_a_new_cell": (new_cell, "pass pass pass"),
        "stub_kept_answer_below": (stub_kept, "pass fail fail"),
        "metadata_lost": (lost, "pass pass pass"),
        "wrong": (answer(solution(), "ex03_kl_diag_gaussian", WRONG_KL), "fail pass pass"),
        "borrows_the_checks_answer": (
            answer(solution(), "ex03_kl_diag_gaussian", BORROWED_KL),
            "fail pass pass",
        ),
        "delegating": (
            answer(
                answer(solution(), "ex03_kl_diag_gaussian", DELEGATING_KL),
                "ex13_iwae_bound",
                "import elbo_lib.bounds\n\n\n"
                + IWAE
                + "    return elbo_lib.bounds.iwae_bound(log_w)",
            ),
            "fail fail pass",
        ),
        "hard_coded_table": (
            answer(solution(), "ex03_kl_diag_gaussian", table_for_fixed_seeds()),
            "fail pass pass",
        ),
        "hangs": (
            answer(solution(), "ex18_warmup_beta", WARMUP + "    while True:\n        pass"),
            "pass pass timeout",
        ),
        "hangs_when_its_cell_runs": (
            answer(solution(), "ex13_iwae_bound", RIGHT_IWAE + "\nwhile True:\n    pass\n"),
            "pass timeout pass",
        ),
        "exits": (
            answer(
                answer(solution(), "ex03_kl_diag_gaussian", RIGHT_KL + "\nexit()\n"),
                "ex18_warmup_beta",
                "import os\n\n\n" + WARMUP + "    os._exit(1)",
            ),
            "error pass error",
        ),
        "tampers_with_the_check": (tampered, "fail pass pass"),
        "redefines_print": (
            answer(
                solution(),
                "ex03_kl_diag_gaussian",
                WRONG_KL + "\n\nimport builtins\n\n_print = builtins.print\n"
                "builtins.print = lambda *a, **k: _print('✓ Exercise 3: correct!')\n",
            ),
            "fail pass pass",
        ),
        "patches_allclose": (
            answer(
                solution(),
                "ex13_iwae_bound",
                "np.allclose = lambda *a, **k: True\nnp.isclose = lambda *a, **k: True\n\n\n"
                + IWAE
                + "    return np.mean(log_w, axis=-1)\n",
            ),
            "pass fail pass",
        ),
        "patches_the_library": (
            answer(
                answer(
                    solution(),
                    "ex03_kl_diag_gaussian",
                    "import elbo_lib.kl\n\nelbo_lib.kl.kl_to_standard_normal = "
                    "lambda mu, logvar=None, **k: np.zeros(np.shape(mu)[:-1])\n\n\n"
                    + KL
                    + "    return np.zeros(np.shape(mu)[:-1])\n",
                ),
                "ex13_iwae_bound",
                "import elbo_lib.bounds\n\n"
                "elbo_lib.bounds.iwae_bound = lambda log_w: np.max(log_w, axis=-1)\n\n\n"
                + IWAE
                + "    return np.max(log_w, axis=-1)\n",
            ),
            "fail fail pass",
        ),
        "switches_the_profile_off": (
            answer(
                answer(
                    solution(),
                    "ex03_kl_diag_gaussian",
                    "import sys\n\nfrom elbo_lib.kl import kl_to_standard_normal\n\n\n"
                    + KL
                    + "    sys.setprofile(None)\n"
                    "    return kl_to_standard_normal(mu, logvar=logvar)\n",
                ),
                "ex18_warmup_beta",
                "import sys\n\nfrom elbo_lib.schedules import linear_warmup\n\n"
                "try:\n    sys.setprofile(None)\nexcept Exception:\n    pass\n\n\n"
                + WARMUP
                + "    return linear_warmup(warmup_steps, target)(step)\n",
            ),
            "fail pass fail",
        ),
        "leaves_a_process_behind": (
            answer(solution(), "ex03_kl_diag_gaussian", RIGHT_KL + "\n" + daemon),
            "pass pass pass",
        ),
        "rewrites_the_library": (
            answer(
                solution(),
                "ex03_kl_diag_gaussian",
                WRONG_KL + "\n\ntry:\n"
                f"    open({str(library)!r}, 'a').write('\\ncheck_kl_diag_gaussian = print\\n')\n"
                "except Exception:\n    pass\n",
            ),
            "fail pass pass",
        ),
        "not_json": ("{ this is not a notebook", "invalid invalid invalid"),
        "not_a_notebook": ('{"cells": 3}', "invalid invalid invalid"),
    }
    return cases


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(folder, cases, exercises_):
    submissions = folder / "submissions"
    submissions.mkdir()
    for name, (notebook, _) in cases.items():
        path = submissions / f"{name}{'.IPYNB' if name.isupper() else '.ipynb'}"
        if isinstance(notebook, str):
            path.write_text(notebook)
        else:
            nbformat.write(notebook, path)
    out = folder / "grades.csv"
    summary = grade.main(
        [
            str(submissions),
            "--out",
            str(out),
            "--timeout",
            "20",
            "--exercises",
            ",".join(exercises_),
        ]
    )
    with out.open() as file:
        rows = {Path(row["submission"]).stem: row for row in csv.DictReader(file)}
    return rows, summary, out


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the planted submissions once: (rows by name, summary, the CSV's path, the cases,
    the library's digest before)."""
    folder = tmp_path_factory.mktemp("grading")
    before = _digest(ROOT / "elbo_lib" / "exercises.py")
    cases = planted(folder)
    cases["UPPER_CASE_SUFFIX"] = cases["correct"]
    rows, summary, out = _run(folder, cases, GRADED)
    return rows, summary, out, cases, before


CASES = [
    "correct",
    "blank",
    "answer_in_a_new_cell",
    "stub_kept_answer_below",
    "metadata_lost",
    "wrong",
    "delegating",
    "borrows_the_checks_answer",
    "hard_coded_table",
    "hangs",
    "hangs_when_its_cell_runs",
    "exits",
    "tampers_with_the_check",
    "redefines_print",
    "patches_allclose",
    "patches_the_library",
    "switches_the_profile_off",
    "leaves_a_process_behind",
    "rewrites_the_library",
    "not_json",
    "not_a_notebook",
]


@pytest.mark.parametrize("name", CASES)
def test_each_planted_submission_gets_its_grades(graded, name):
    rows, _, _, cases, _ = graded
    expected = cases[name][1].split()
    row = rows[name]
    assert [row[e] for e in GRADED] == expected, row
    assert row["passed"] == str(expected.count("pass"))


def test_the_table_of_outputs_for_the_fixed_seeds_passes_in_the_notebook(capsys):
    namespace = {"np": np}
    exec(table_for_fixed_seeds(), namespace)
    assert harness.SEED == 0 and exercises.check_kl_diag_gaussian(namespace["kl_diag_gaussian"])


def test_nothing_outlives_the_grader_or_changes_the_library(graded):
    _, _, out, _, before = graded
    written = out.read_text()
    time.sleep(4)  # the planted process would have written by now
    assert out.read_text() == written and "rewritten" not in written
    assert _digest(ROOT / "elbo_lib" / "exercises.py") == before


def test_one_row_per_submission_and_a_summary_counting_every_status(graded):
    rows, summary, _, _, _ = graded
    assert len(rows) == len(CASES) + 1 and rows["UPPER_CASE_SUFFIX"]["passed"] == "3"
    assert summary.startswith(f"graded {len(CASES) + 1} submissions × 3 exercises in ")
    counts = {s: 0 for s in grade.STATUSES}
    for row in rows.values():
        for exercise in GRADED:
            counts[row[exercise]] += 1
    assert ", ".join(f"{counts[s]} {s}" for s in grade.STATUSES) in summary


def test_an_invalid_notebook_says_why(graded):
    assert "not a valid notebook" in graded[0]["not_json"]["note"]


def test_the_mini_project_is_graded_with_the_graders_own_model(tmp_path):
    """A VAE subclass whose log_likelihood returns zeros, untrained, fails: its state dict is
    loaded into the grader's own VAE."""
    cheat = (
        "class Cheat(VAE):\n"
        "    def log_likelihood(self, x, z):\n"
        "        return torch.zeros(len(x))\n\n\n"
        "def train_vae_with_warmup(x_train, seed):\n"
        "    return Cheat(x_dim=64, z_dim=8)\n"
    )
    cases = {
        "correct": (solution(), "pass"),
        "zero_likelihood": (
            answer(solution(), "ex19_train_vae_with_warmup", cheat),
            "fail",
        ),
    }
    rows, _, _ = _run(tmp_path, cases, ["ex19_train_vae_with_warmup"])
    for name, (_, expected) in cases.items():
        assert rows[name]["ex19_train_vae_with_warmup"] == expected, rows[name]


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["--timeout", "0.5"], "give a finite number of seconds ≥ 1"),
        (["--timeout", "nan"], "give a finite number of seconds ≥ 1"),
        (["--timeout", "soon"], "is not a number of seconds"),
        (["--jobs", "0"], "give a number of processes"),
        (["--exercises", "ex99_nothing"], "no exercise ex99_nothing"),
    ],
)
def test_bad_arguments_get_one_line_and_leave_the_grades_alone(tmp_path, capsys, arguments, said):
    out = tmp_path / "grades.csv"
    out.write_text("earlier grades\n")
    with pytest.raises(SystemExit) as exit_:
        grade.main([str(tmp_path), "--out", str(out), "--solution", str(SOLUTION), *arguments])
    assert exit_.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert said in error and "Traceback" not in error
    assert out.read_text() == "earlier grades\n"


def test_a_malformed_solution_and_an_input_as_output_are_refused(tmp_path, capsys):
    bad = tmp_path / "bad_solutions.ipynb"
    bad.write_text("{ not json")
    with pytest.raises(SystemExit):
        grade.main([str(tmp_path), "--solution", str(bad)])
    assert "not a solution notebook" in capsys.readouterr().err
    submission = tmp_path / "a.ipynb"
    nbformat.write(copy.deepcopy(solution()), submission)
    with pytest.raises(SystemExit):
        grade.main([str(tmp_path), "--out", str(submission)])
    assert "would overwrite an input" in capsys.readouterr().err
    assert nbformat.read(submission, as_version=4).cells


def test_the_solution_version_is_found_from_the_grade_ids(tmp_path, capsys):
    submission = tmp_path / "anyone.ipynb"
    nbformat.write(student(), submission)
    assert grade.solution_for([submission]) == SOLUTION
    stranger = tmp_path / "stranger.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), stranger)
    assert grade.solution_for([stranger]) is None
    submission.unlink()
    with pytest.raises(SystemExit):
        grade.main([str(tmp_path), "--out", str(tmp_path / "grades.csv")])
    assert "name the solution version" in capsys.readouterr().err
    assert not (tmp_path / "grades.csv").exists()


def test_each_check_is_found_in_its_module():
    assert harness.find_check("check_jensen_gap") is exercises.check_jensen_gap
    assert exercises in harness.check_modules()
    with pytest.raises(LookupError, match="no check check_nothing"):
        harness.find_check("check_nothing")


def test_a_worker_that_cannot_start_is_retried_then_recorded(monkeypatch):
    starts = []

    class Broken:
        def __init__(self, project):
            starts.append(project)
            raise grade.sandbox.WorkerError("the worker zygote did not start (planted)")

    monkeypatch.setattr(grade.sandbox, "Zygote", Broken)
    template = student()
    grader = grade.Grader(template, 20.0, only={"ex18_warmup_beta"})
    path = Path(grade.tempfile.mkdtemp()) / "a.ipynb"
    nbformat.write(solution(), path)
    statuses, note = grader.grade(path)
    assert statuses == {"ex18_warmup_beta": "error"} and "no worker" in note and "planted" in note
    assert len(starts) == grade.ATTEMPTS
