"""Grade a folder of submitted student notebooks against the solution version.

    python tools/grade.py SUBMISSIONS/ [--solution S] [--out grades.csv] [--timeout 300] [--jobs 2]

The solution version is the notebook of ``instructors/`` whose answers' grade ids the submissions
share (notebook 17's exercises or one of the problem sets), unless ``--solution`` names it.

The verdict is computed in this process, which never executes student code. Each exercise's answer
runs in a worker process of its own (``tools/sandbox.py``: its own process group, killed when the
exercise ends; a temporary working directory; CPU, memory and file-size limits; and, where the
kernel has them, Landlock and seccomp: it can read Python, the installed packages and elbo_lib but
nothing else of the project, write only its temporary directory, start no process or thread, and
open no network connection). The worker runs the submission's definitions (its imports, functions,
classes and literal constants; the answer's cell whole), then the check (of ``elbo_lib.exercises``
or ``elbo_lib.problems_*``) runs here and calls the answer through the worker, on inputs drawn from
a seed chosen now, which the notebook cannot know; only plain data comes back (numbers, arrays,
tensors with their Jacobians, a VAE as its configuration and state dict, which is loaded into this
process's own VAE class). An answer is found by the name of the function its exercise asks for,
else by nbgrader's ``grade_id``, else by cell id, so an answer typed into a new cell, a deleted
stub or lost metadata change nothing. A crash, an ``exit()`` or a hang costs only its own exercise;
a worker that cannot start is retried, then recorded.

The result is a CSV written at the end (a temporary file renamed into place), one row per
submission and one column per exercise (``pass``, ``fail``, ``error``, ``timeout``; ``invalid``
for a file that is not a notebook), and a summary line.
"""

import argparse
import ast
import contextlib
import csv
import io
import math
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat

from elbo_lib import harness

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sandbox
from student_version import student_notebook

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "instructors"
STATUSES = ("pass", "fail", "error", "timeout", "invalid")
ATTEMPTS = 3  # tries to start a worker
MEMORY = 2 << 30  # bytes a worker may allocate beyond what it starts with


def _nbgrader(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def _is_answer(cell):
    return bool(_nbgrader(cell).get("solution"))


def _is_check(cell):
    return bool(_nbgrader(cell).get("grade")) and cell.get("cell_type") == "code"


def _key(cell):
    return _nbgrader(cell).get("grade_id") or cell.get("id")


class Exercise:
    """One exercise of the template: its name, the check it is graded by, the function it asks
    for, and its answer cell's ids."""

    def __init__(self, name, check, function, grade_id, cell_id):
        self.name, self.check, self.function = name, check, function
        self.grade_id, self.cell_id = grade_id, cell_id


def exercises(template):
    """The exercises of ``template``, one per check cell ``check_x(answer)``."""
    answers = {_key(c): c for c in template.cells if _is_answer(c)}
    found = []
    for cell in template.cells:
        if not _is_check(cell):
            continue
        name = _key(cell).removeprefix("check_")
        call = ast.parse(cell.source.strip()).body[0].value
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.args):
            raise ValueError(f"the check cell of {name} is not a call of a check: {cell.source!r}")
        function = call.args[0].id
        answer = answers.get(name)
        found.append(
            Exercise(name, call.func.id, function, name, answer.get("id") if answer else None)
        )
    return found


def _python(source):
    """A cell's source as Python (IPython's magics and shell escapes turned into calls)."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return TransformerManager().transform_cell(source)
    except Exception:  # a cell IPython cannot read is given to Python as it is
        return source


def _defines(source, name):
    """Whether the cell ``source`` binds ``name`` at its top level (def, class or assignment)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    for node in tree.body:
        defined = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        if defined and node.name == name:
            return True
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return True
    return False


def worker_cells(template, submission, exercise, checks):
    """What the worker of ``exercise`` runs, as (source, file name, whole) triples: the
    template's setup and the submission's code cells, definitions only, but for the cell that
    holds the answer, run whole. The answer's cell is the last one defining the function the
    exercise asks for, else the one with its grade id, else with its cell id. Check cells (by
    nbgrader's flag or by id) are left out."""
    code = [
        (i, _python(c.source))
        for i, c in enumerate(submission.cells)
        if c.get("cell_type") == "code" and not _is_check(c) and _key(c) not in checks
    ]
    answer = None
    for index, source in code:
        if _defines(source, exercise.function):
            answer = index
    for key in (exercise.grade_id, exercise.cell_id):
        if answer is None and key:
            answer = next(
                (i for i, c in enumerate(submission.cells) if _key(c) == key or c.get("id") == key),
                None,
            )
    cells = [
        (_python(c.source), f"<setup cell {i}>", False)
        for i, c in enumerate(template.cells)
        if c.cell_type == "code" and not _is_answer(c) and not _is_check(c)
    ]
    for index, source in code:
        cells.append((source, f"<cell {index}>", index == answer))
    if answer is not None and not any(whole for _, _, whole in cells):
        cells.append((_python(submission.cells[answer].source), f"<cell {answer}>", True))
    return cells


class Remote(harness.RemoteAnswer):
    """The answer as the check sees it: each call is sent to the worker, and only plain data
    comes back (``elbo_lib.harness.RemoteAnswer``)."""

    def __init__(self, worker, function, deadline):
        self.worker, self.function, self.deadline = worker, function, deadline
        self.timed_out = self.died = False

    def remote_call(self, args, limit, allow):
        left = self.deadline - time.monotonic()
        try:
            reply = self.worker.request(
                {"kind": "call", "name": self.function, "args": tuple(args)}, min(limit, left)
            )
        except TimeoutError:
            self.timed_out = True
            raise harness.TimeUp from None
        except sandbox.WorkerError:
            self.died = True
            raise SystemExit("the worker ended") from None
        if "delegated" in reply:
            self.worker.kill()
            raise harness.Delegated(str(reply["delegated"])[:200])
        if "raised" in reply:
            raised = reply["raised"]
            if raised.get("kind") == "not done":
                raise NotImplementedError
            if raised.get("kind") == "exit":
                raise SystemExit
            kind = sandbox.foreign(str(raised.get("type", "Exception"))).__class__.__name__
            raise type(kind, (Exception,), {})(str(raised.get("message", ""))[:500])
        for index, state in reply.get("state", {}).items():
            for attr, value in state.items():
                if attr in getattr(type(args[int(index)]), "returned_state", ()):
                    setattr(args[int(index)], attr, sandbox.decode(value))
        return sandbox.decode(reply.get("value"), args)


class Grader:
    """Grades submissions against a template; starts (and restarts) its worker zygote."""

    def __init__(self, template, timeout, only=None):
        self.template, self.timeout = template, timeout
        self.exercises = [e for e in exercises(template) if only is None or e.name in only]
        self.checks = {f"check_{e.name}" for e in self.exercises}
        self.zygote = None

    def _worker(self, workdir):
        error = None
        for _ in range(ATTEMPTS):
            try:
                if self.zygote is None:
                    self.zygote = sandbox.Zygote(ROOT)
                limits = {"cpu_seconds": math.ceil(self.timeout) + 5, "memory_bytes": MEMORY}
                return self.zygote.worker(workdir, limits)
            except sandbox.WorkerError as failure:
                error = failure
                self.close()
        raise error

    def close(self):
        if self.zygote is not None:
            self.zygote.close()
            self.zygote = None

    def grade(self, path):
        """The status of each exercise of the submission at ``path`` (a dict) and a note."""
        names = [e.name for e in self.exercises]
        try:
            submission = nbformat.reads(Path(path).read_text(encoding="utf-8"), as_version=4)
            nbformat.validate(submission)
        except Exception as error:  # not UTF-8, not JSON, not a notebook, a future format, …
            return dict.fromkeys(names, "invalid"), f"not a valid notebook ({type(error).__name__})"
        statuses, notes = {}, []
        for exercise in self.exercises:
            try:
                statuses[exercise.name], note = self._exercise(submission, exercise)
            except Exception as error:  # the grader's own failure: recorded, the run goes on
                statuses[exercise.name] = "error"
                note = f"{type(error).__name__}: {error}"
            if note:
                notes.append(f"{exercise.name}: {note}")
        return statuses, "; ".join(notes)

    def _exercise(self, submission, exercise):
        cells = worker_cells(self.template, submission, exercise, self.checks)
        workdir = tempfile.mkdtemp(prefix="elbo-grade-")
        os.chmod(workdir, 0o700)
        worker = None
        try:
            try:
                worker = self._worker(workdir)
            except sandbox.WorkerError as error:
                return "error", f"no worker ({error})"
            deadline = time.monotonic() + self.timeout
            try:
                loaded = worker.request({"kind": "load", "cells": cells}, self.timeout)
            except TimeoutError:
                return "timeout", "the answer's cell did not finish"
            except sandbox.WorkerError:
                return "error", "the answer's cell ended the worker"
            if "raised" in loaded:
                raised = loaded["raised"]
                return "error", f"the answer's cell raised {raised.get('type')}"
            remote = Remote(worker, exercise.function, deadline)
            with _quiet():
                passed = harness.find_check(exercise.check)(remote)
            if passed:
                return "pass", ""
            if remote.timed_out:
                return "timeout", ""
            return ("error", "the worker ended") if remote.died else ("fail", "")
        finally:
            if worker is not None:
                worker.kill()
            shutil.rmtree(workdir, ignore_errors=True)


def _grade_share(solution, paths, timeout, only):
    """Grade ``paths`` in a process of their own (one of ``--jobs``); returns their rows."""
    template, _ = student_notebook(solution, solution.parent)
    grader = Grader(template, timeout, only)
    rows = []
    try:
        for path in paths:
            statuses, note = grader.grade(path)
            rows.append((path.name, statuses, note))
            passed = sum(s == "pass" for s in statuses.values())
            print(f"{path.name}: {passed} of {len(statuses)} passed {note}".rstrip(), flush=True)
    finally:
        grader.close()
    return rows


def _in_parallel(shares, solution, timeout, only, names):
    """Grade each share of the submissions in a thread of its own (the answers run in worker
    processes, so threads suffice, and no process is forked from this one, whose other threads
    may hold locks); {file name: (statuses, note)}. A share that fails is recorded as errors,
    and the others are kept."""
    graded = {}

    def grade_share(share):
        try:
            rows = _grade_share(solution, share, timeout, only)
        except Exception as error:  # the grader's own failure: recorded, the run goes on
            note = f"grading failed ({type(error).__name__}: {error})"
            rows = [(p.name, dict.fromkeys(names, "error"), note) for p in share]
        graded.update({name: (statuses, note) for name, statuses, note in rows})

    threads = [threading.Thread(target=grade_share, args=(share,)) for share in shares]
    stdout = sys.stdout
    sys.stdout = _Verdicts(stdout)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.stdout = stdout
    return graded


class _Verdicts(io.TextIOBase):
    """The standard output while grading: what a check prints (its verdict, for the student)
    is dropped in the thread that runs the check; the rest is printed."""

    local = threading.local()

    def __init__(self, out):
        self.out = out

    def write(self, text):
        return len(text) if getattr(self.local, "quiet", False) else self.out.write(text)

    def flush(self):
        self.out.flush()


@contextlib.contextmanager
def _quiet():
    """Drop what is printed in this thread (see :class:`_Verdicts`)."""
    _Verdicts.local.quiet = True
    try:
        with (
            contextlib.redirect_stdout(io.StringIO())
            if not isinstance(sys.stdout, _Verdicts)
            else contextlib.nullcontext()
        ):
            yield
    finally:
        _Verdicts.local.quiet = False


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value >= 1):
        raise argparse.ArgumentTypeError(f"{text!r}: give a finite number of seconds ≥ 1")
    return value


def _jobs(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of processes from 1 to 64")
    return value


def submissions_in(folder):
    """The notebooks in ``folder`` (``.ipynb`` in any case), sorted by name."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".ipynb" and p.is_file())


def _grade_ids(path):
    """The grade ids of the answer cells of the notebook at ``path`` (none if it cannot be read)."""
    try:
        notebook = nbformat.reads(Path(path).read_text(encoding="utf-8"), as_version=4)
    except Exception:
        return set()
    return {_key(c) for c in notebook.cells if _is_answer(c)}


def solution_for(paths, solutions=SOLUTIONS):
    """The solution notebook in ``solutions`` whose answers' grade ids the notebooks at ``paths``
    share most; None if none or several share the most."""
    seen = set().union(*map(_grade_ids, paths))
    shared = {s: len(_grade_ids(s) & seen) for s in sorted(solutions.glob("*_solutions.ipynb"))}
    best = max(shared.values(), default=0)
    found = [s for s, n in shared.items() if n == best]
    return found[0] if best and len(found) == 1 else None


def write_atomically(path, rows):
    """Write the CSV ``rows`` to a temporary file beside ``path``, then rename it into place."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(handle, "w", newline="") as file:
            csv.writer(file).writerows(rows)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", type=Path, help="a folder of submitted .ipynb files")
    parser.add_argument(
        "--solution", type=Path, help="the solution version (default: found from the grade ids)"
    )
    parser.add_argument("--out", type=Path, default=Path("grades.csv"))
    parser.add_argument(
        "--timeout", type=_seconds, default=300.0, help="seconds for one exercise (default 300)"
    )
    parser.add_argument("--jobs", type=_jobs, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--exercises", help="grade only these exercises (comma-separated)")
    args = parser.parse_args(argv)
    os.environ.pop("NBGRADER_EXECUTION", None)  # the checks report to this process, not raise
    if not args.submissions.is_dir():
        parser.error(f"{args.submissions} is not a folder")
    paths = submissions_in(args.submissions)
    args.solution = args.solution or solution_for(paths)
    if args.solution is None:
        parser.error(
            f"--solution: no one notebook of {SOLUTIONS} matches the grade ids of the submissions "
            f"in {args.submissions}: name the solution version"
        )
    try:
        template, _ = student_notebook(args.solution, args.solution.parent)
        names = [e.name for e in exercises(template)]
    except Exception as error:
        parser.error(f"--solution {args.solution}: not a solution notebook ({error})".strip())
    only = None
    if args.exercises:
        only = set(args.exercises.split(","))
        if only - set(names):
            parser.error(f"--exercises: no exercise {', '.join(sorted(only - set(names)))}")
        names = [n for n in names if n in only]
    out = args.out.resolve()
    if out in {p.resolve() for p in [*paths, args.solution]} or out.suffix.lower() == ".ipynb":
        parser.error(f"--out {args.out} would overwrite an input: write the grades elsewhere")
    if not out.parent.is_dir():
        parser.error(f"--out {args.out}: folder {out.parent} does not exist")
    start = time.monotonic()
    shares = [paths[i :: args.jobs] for i in range(args.jobs) if paths[i :: args.jobs]]
    notebook_seed, harness.SEED = harness.SEED, secrets.randbits(63)  # unknown to a notebook
    try:
        graded = _in_parallel(shares, args.solution, args.timeout, only, names)
    finally:
        harness.SEED = notebook_seed
    counts = dict.fromkeys(STATUSES, 0)
    rows = [["submission", *names, "passed", "note"]]
    for path in paths:
        statuses, note = graded[path.name]
        rows.append(
            [
                path.name,
                *(statuses[n] for n in names),
                sum(s == "pass" for s in statuses.values()),
                note,
            ]
        )
        for status in statuses.values():
            counts[status] += 1
    write_atomically(out, rows)
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
