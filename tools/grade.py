"""Grade a folder of submitted student notebooks against the solution version.

    python tools/grade.py SUBMISSIONS/ [--out grades.csv] [--timeout 120]

Each submission runs top to bottom in its own kernel, every cell under a time limit. Only its
answer cells (those nbgrader marks as solutions, matched by ``grade_id`` or cell id) and the code
cells it added are taken from the submission; everything else, the checks above all, comes from
the solution version's student form, so a deleted or redefined check changes nothing. The checks
are imported afresh from ``elbo_lib.exercises`` and report through a token the submission cannot
know in advance. The result is a CSV, one row per submission and one column per exercise
(``pass``, ``fail``, ``error``, ``timeout``; ``invalid`` for a file that is not a notebook), and a
summary line. Grading runs the students' code: it is not a sandbox.
"""

import argparse
import ast
import copy
import csv
import secrets
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from student_version import student_notebook

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "instructors" / "17_exercises_solutions.ipynb"
STATUSES = ("pass", "fail", "error", "timeout", "invalid")


def _nbgrader(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def _is_answer(cell):
    return bool(_nbgrader(cell).get("solution"))


def _is_check(cell):
    return bool(_nbgrader(cell).get("grade")) and cell.cell_type == "code"


def _key(cell):
    return _nbgrader(cell).get("grade_id") or cell.get("id")


def exercises(template):
    """The exercise names, one per check cell: ``check_ex01_jensen_gap`` -> ``ex01_jensen_gap``."""
    return [_key(c).removeprefix("check_") for c in template.cells if _is_check(c)]


def _check_source(source, exercise, token):
    """The grader's version of a check cell ``check_x(answer, ...)``: the check imported afresh,
    its verdict printed after ``token``."""
    call = ast.parse(source.strip()).body[0].value
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
        raise ValueError(f"the check cell of {exercise} is not a call of a check: {source!r}")
    call.func = ast.Attribute(ast.Name("_checks"), call.func.id)
    return (
        "import importlib as _importlib\n"
        '_checks = _importlib.reload(_importlib.import_module("elbo_lib.exercises"))\n'
        f"print({token!r}, {exercise!r}, {ast.unparse(call)} is True)"
    )


def graded_notebook(template, submission, token):
    """The notebook to run: the template's cells, with each answer cell replaced by the
    submission's (when it has one) and the code cells the submission added placed after the
    answer or template cell they followed."""
    known = {_key(c) for c in template.cells}
    answers, added, last = {}, {}, None
    for cell in submission.cells:
        key = _key(cell)
        if _is_answer(cell) and key in known:
            answers[key] = cell
        if key in known:
            last = key
        elif cell.cell_type == "code" and not _is_check(cell):
            added.setdefault(last, []).append(cell)
    cells = [nbformat.v4.new_code_cell(c.source) for c in added.get(None, [])]
    for cell in template.cells:
        key = _key(cell)
        if _is_answer(cell) and key in answers:
            cell = nbformat.v4.new_code_cell(answers[key].source, metadata=cell.metadata)
        elif _is_check(cell):
            exercise = key.removeprefix("check_")
            cell = nbformat.v4.new_code_cell(
                _check_source(cell.source, exercise, token), metadata=cell.metadata
            )
        cells.append(cell)
        cells += [nbformat.v4.new_code_cell(c.source) for c in added.get(key, [])]
    notebook = nbformat.v4.new_notebook(cells=cells, metadata=template.metadata)
    return notebook


def grade(path, template, timeout):
    """The status of each exercise of the submission at ``path`` (a dict) and a note."""
    names = exercises(template)
    try:
        submission = nbformat.read(path, as_version=4)
        nbformat.validate(submission)
    except Exception as error:  # not JSON, not a notebook, a future format, …
        return dict.fromkeys(names, "invalid"), f"not a valid notebook ({type(error).__name__})"
    token = secrets.token_hex(16)
    notebook = graded_notebook(template, submission, token)
    kernel = template.metadata.get("kernelspec", {}).get("name", "python3")
    with TemporaryDirectory() as workdir:
        cell_status, note = _execute(notebook, timeout, kernel, workdir)
    return _statuses(notebook, cell_status, token, names), note


def _execute(notebook, timeout, kernel, workdir, restarts=5):
    """Run the code cells in order, each within ``timeout`` seconds; returns {cell index: "error"
    or "timeout"} and a note. A cell that times out or kills the kernel gets a fresh kernel for
    the cells after it, in which the cells run so far (checks apart) are replayed first, so that
    each later exercise is still graded."""
    code = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code"]
    status, ran, notes, position = {}, [], [], 0
    while position < len(code) and restarts >= 0:
        restarts -= 1
        client = NotebookClient(
            notebook,
            timeout=timeout,
            allow_errors=True,
            record_timing=False,
            kernel_name=kernel,
            resources={"metadata": {"path": workdir}},
        )
        with client.setup_kernel():
            try:
                for index in ran:
                    client.execute_cell(copy.deepcopy(notebook.cells[index]), index)
            except (CellTimeoutError, DeadKernelError):
                notes.append("replaying the answers in a fresh kernel failed")
                break
            while position < len(code):
                index = code[position]
                position += 1
                cell = notebook.cells[index]
                try:
                    client.execute_cell(cell, index)
                except CellTimeoutError:
                    status[index] = "timeout"
                    break
                except DeadKernelError:
                    status[index] = "error"
                    notes.append(f"the kernel died at cell {index}")
                    break
                if any(o.output_type == "error" for o in cell.outputs):
                    status[index] = "error"
                if not _is_check(cell):
                    ran.append(index)
    return status, "; ".join(notes)


def _statuses(notebook, cell_status, token, names):
    """Each exercise's status from its check cell's verdict line and the cells' run status."""
    statuses = dict.fromkeys(names, "error")
    timed_out = set()
    for index, cell in enumerate(notebook.cells):
        key = _key(cell) or ""
        if _is_answer(cell) and cell_status.get(index) == "timeout":
            timed_out.add(key)
        if not _is_check(cell):
            continue
        exercise = key.removeprefix("check_")
        if cell_status.get(index) == "timeout" or exercise in timed_out:
            statuses[exercise] = "timeout"
            continue
        printed = "".join(
            o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream"
        )
        for line in printed.splitlines():
            words = line.split()
            if len(words) == 3 and words[:2] == [token, exercise]:
                statuses[exercise] = "pass" if words[2] == "True" else "fail"
    return statuses


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", type=Path, help="a folder of submitted .ipynb files")
    parser.add_argument("--solution", type=Path, default=SOLUTION)
    parser.add_argument("--out", type=Path, default=Path("grades.csv"))
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per cell")
    args = parser.parse_args(argv)
    if not args.submissions.is_dir():
        parser.error(f"{args.submissions} is not a folder")
    template, _ = student_notebook(args.solution, args.solution.parent)
    names = exercises(template)
    paths = sorted(args.submissions.glob("*.ipynb"))
    start = time.monotonic()
    with args.out.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["submission", *names, "passed", "note"])
        counts = dict.fromkeys(STATUSES, 0)
        for path in paths:
            statuses, note = grade(path, template, args.timeout)
            passed = sum(s == "pass" for s in statuses.values())
            writer.writerow([path.name, *(statuses[n] for n in names), passed, note])
            file.flush()
            for status in statuses.values():
                counts[status] += 1
            print(f"{path.name}: {passed} of {len(names)} passed {note}".rstrip())
    seconds = time.monotonic() - start
    tally = ", ".join(f"{counts[s]} {s}" for s in STATUSES)
    summary = (
        f"graded {len(paths)} submissions × {len(names)} exercises in {seconds:.0f} s: {tally}; "
        f"written to {args.out}"
    )
    print(summary)
    return summary


if __name__ == "__main__":
    main()
