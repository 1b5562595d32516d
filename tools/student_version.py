"""Write the student version of the exercise notebooks.

The solution versions live in ``instructors/``. Solution code between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` (nbgrader's delimiters) becomes nbgrader's stub, ``# YOUR CODE HERE`` and
``raise NotImplementedError()``, indented like the delimiter; a solution in a Markdown cell
becomes ``YOUR ANSWER HERE``. Links are rewritten to work from the output folder, and the student
version is executed there, so that it ships with its outputs: every check "not done yet".

    python tools/student_version.py        # instructors/*_solutions.ipynb -> notebooks/
    python tools/student_version.py instructors/17_exercises_solutions.ipynb --out /tmp/student
"""

import argparse
import contextlib
import os
import re
import tempfile
from pathlib import Path

import nbformat
from colab import with_colab
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
SUFFIX = "_solutions"
STUBS = {
    "code": ("# YOUR CODE HERE", "raise NotImplementedError()"),
    "markdown": ("YOUR ANSWER HERE",),
}
NOTEBOOK_LINK = re.compile(r"\]\(([^)#\s]+\.(?:ipynb|md))")  # notebooks and NOTATION.md


def strip_solutions(source, cell_type="code"):
    """``source`` with every solution region replaced by the stub for ``cell_type``; returns the
    new source and the number of regions replaced."""
    lines, inside, regions = [], None, 0
    for number, line in enumerate(source.splitlines(), 1):
        marker = line.strip()
        if marker == BEGIN:
            if inside is not None:
                raise ValueError(f"line {number}: {BEGIN} inside another solution")
            inside = line[: len(line) - len(line.lstrip())]
            lines += [inside + stub for stub in STUBS[cell_type]]
            regions += 1
        elif marker == END:
            if inside is None:
                raise ValueError(f"line {number}: {END} without {BEGIN}")
            inside = None
        elif inside is None:
            lines.append(line)
    if inside is not None:
        raise ValueError(f"{BEGIN} without {END}")
    return "\n".join(lines), regions


def student_name(path):
    """``17_exercises_solutions.ipynb`` -> ``17_exercises.ipynb``."""
    path = Path(path)
    return path.stem.removesuffix(SUFFIX) + path.suffix


def student_notebook(path, out_dir):
    """The student version of the solution notebook at ``path``, to be written into ``out_dir``,
    without outputs, with the Colab badges and install cell of the notebooks it stands among
    (``tools/colab.py``); returns it and the number of solutions replaced."""
    notebook = nbformat.read(path, as_version=4)
    regions = 0
    for index, cell in enumerate(notebook.cells):
        try:
            cell.source, replaced = strip_solutions(cell.source, cell.cell_type)
        except ValueError as error:
            raise ValueError(f"{path}, cell {index}: {error}") from None
        regions += replaced
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)  # the solution run's timings
        elif cell.cell_type == "markdown":
            cell.source = NOTEBOOK_LINK.sub(
                lambda link: "](" + _link(link[1], Path(path).resolve().parent, out_dir),
                cell.source,
            )
    return with_colab(notebook, f"notebooks/{student_name(Path(path))}"), regions


def _link(target, source_dir, out_dir):
    if "://" in target:
        return target
    return Path(os.path.relpath(source_dir / target, Path(out_dir).resolve())).as_posix()


def execute(notebook, out_dir, timeout=600):
    """Run ``notebook`` top to bottom in a fresh kernel started in ``out_dir``, in place."""
    NotebookClient(
        notebook, timeout=timeout, record_timing=False, resources={"metadata": {"path": out_dir}}
    ).execute()
    return notebook


def write_atomically(notebook, target):
    """Write ``notebook`` to a temporary file beside ``target``, then rename it into place."""
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            nbformat.write(notebook, file)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "notebooks",
        nargs="*",
        type=Path,
        help=f"solution notebooks (default: instructors/*{SUFFIX}.ipynb)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "notebooks")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "instructors").glob(f"*{SUFFIX}.ipynb"))
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} is a file: give a folder")
    inputs = {path.resolve() for path in paths}
    targets = {}
    for path in paths:
        target = args.out / student_name(path)
        if target.resolve() in inputs:
            parser.error(f"{path}: its student version {target} would overwrite an input")
        try:
            targets[path] = (target, *student_notebook(path, args.out))
        except (OSError, ValueError, nbformat.reader.NotJSONError) as error:
            parser.error(f"{path}: not a solution notebook ({error})".replace("\n", " "))
        if not targets[path][2]:
            parser.error(f"{path} has no {BEGIN} ... {END} region")
    args.out.mkdir(parents=True, exist_ok=True)
    for target, notebook, regions in targets.values():
        write_atomically(execute(notebook, str(args.out)), target)
        print(f"{target}: {regions} solutions replaced by stubs, executed")


if __name__ == "__main__":
    main()
