"""A course that uses nbgrader gets the grades `make grade` gives: `nbgrader autograde` on planted
submissions scores each grade cell in full exactly where tools/grade.py says "pass" (a check that
does not pass raises under nbgrader, and only there)."""

import copy
import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBGRADER = (
    [shutil.which("nbgrader")]
    if shutil.which("nbgrader")
    else [sys.executable, "-m", "nbgrader"]
    if importlib.util.find_spec("nbgrader")
    else None
)
pytestmark = pytest.mark.skipif(NBGRADER is None, reason="nbgrader is a test dependency")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_grade  # noqa: E402  (the planted submissions)

EXERCISES = ("ex01_jensen_gap", "ex03_kl_diag_gaussian", "ex13_iwae_bound", "ex18_warmup_beta")


def _planted():
    """{student: notebook}: the solution without the mini-project's training, blank, and wrong
    or delegating in two exercises."""
    correct = test_grade.answer(
        test_grade.solution(),
        "ex19_train_vae_with_warmup",
        "def train_vae_with_warmup(x_train, seed):\n    raise NotImplementedError()",
    )
    wrong = test_grade.answer(
        test_grade.answer(copy.deepcopy(correct), "ex03_kl_diag_gaussian", test_grade.WRONG_KL),
        "ex13_iwae_bound",
        "import elbo_lib.bounds\n\n\n"
        + test_grade.IWAE
        + "    return elbo_lib.bounds.iwae_bound(log_w)\n",
    )
    return {"correct": correct, "blank": test_grade.student(), "wrong": wrong}


def _environment(tmp_path):
    """nbgrader's environment: its kernel is this Python (with elbo_lib on its path), and the
    scripts of this Python's environment (nbgrader calls ``alembic``) come first on PATH."""
    kernel = tmp_path / "jupyter" / "kernels" / "python3"
    kernel.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3",
        "language": "python",
    }
    (kernel / "kernel.json").write_text(json.dumps(spec))
    path = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    scripts = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {
        **os.environ,
        "JUPYTER_PATH": str(tmp_path / "jupyter"),
        "PYTHONPATH": path,
        "PATH": scripts,
    }


def _nbgrader(course, env, *arguments):
    done = subprocess.run(
        [*NBGRADER, *arguments, "--force"],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_nbgrader_autograde_gives_the_grades_of_make_grade(tmp_path):
    course = tmp_path / "course"
    (course / "source" / "ps1").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        "c.ExecutePreprocessor.timeout = 300\n"
    )
    shutil.copy(
        ROOT / "instructors" / "17_exercises_solutions.ipynb",
        course / "source" / "ps1" / "17_exercises.ipynb",
    )
    env = _environment(tmp_path)
    _nbgrader(course, env, "generate_assignment", "ps1")
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    for student, notebook in _planted().items():
        folder = course / "submitted" / student / "ps1"
        folder.mkdir(parents=True)
        nbformat.write(notebook, folder / "17_exercises.ipynb")
        nbformat.write(notebook, submissions / f"{student}.ipynb")
    _nbgrader(course, env, "autograde", "ps1", "--create")

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scored = {
            student: {
                grade.name.removeprefix("check_"): grade.score == grade.max_score
                for grade in gradebook.find_submission_notebook(
                    "17_exercises", "ps1", student
                ).grades
            }
            for student in _planted()
        }
    out = tmp_path / "grades.csv"
    test_grade.grade.main([str(submissions), "--out", str(out), "--exercises", ",".join(EXERCISES)])
    with out.open() as file:
        rows = {Path(r["submission"]).stem: r for r in csv.DictReader(file)}
    for student in _planted():
        made = {e: rows[student][e] == "pass" for e in EXERCISES}
        assert {e: scored[student][e] for e in EXERCISES} == made, student
    assert all(scored["correct"][e] for e in EXERCISES)
    assert not any(scored["blank"].values())
    assert not scored["wrong"]["ex03_kl_diag_gaussian"]
    assert not scored["wrong"]["ex13_iwae_bound"]
