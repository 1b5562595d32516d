"""Write the student version of the exercise notebooks.

Solution code between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's delimiters)
becomes nbgrader's stub, ``# YOUR CODE HERE`` and ``raise NotImplementedError()``, indented like
the delimiter; a solution in a Markdown cell becomes ``YOUR ANSWER HERE``. Outputs are cleared,
and links to notebooks that stay behind are rewritten to work from the output folder.

    python tools/student_version.py             # every notebook with solutions -> build/student/
    python tools/student_version.py notebooks/13_exercises.ipynb --out /tmp/student
"""

import argparse
import os
import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUBS = {
    "code": ("# YOUR CODE HERE", "raise NotImplementedError()"),
    "markdown": ("YOUR ANSWER HERE",),
}
NOTEBOOK_LINK = re.compile(r"\]\(([^)#\s]+\.ipynb)")


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


def student_notebook(path, out_dir, staying=()):
    """The student version of the notebook at ``path``, to be written into ``out_dir``; links to
    notebooks not in ``staying`` (the names written alongside) point back to ``path``'s folder."""
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
                lambda link: "](" + _link(link[1], Path(path).resolve().parent, out_dir, staying),
                cell.source,
            )
    return notebook, regions


def _link(target, source_dir, out_dir, staying):
    if target in staying or "://" in target:
        return target
    return Path(os.path.relpath(source_dir / target, out_dir)).as_posix()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "notebooks",
        nargs="*",
        type=Path,
        help="solution notebooks (default: every notebook in notebooks/ with a solution)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "student")
    args = parser.parse_args(argv)
    paths = args.notebooks or [
        p for p in sorted((ROOT / "notebooks").glob("*.ipynb")) if BEGIN in p.read_text()
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    staying = {p.name for p in paths}
    for path in paths:
        notebook, regions = student_notebook(path, args.out.resolve(), staying)
        if not regions:
            parser.error(f"{path} has no {BEGIN} ... {END} region")
        nbformat.write(notebook, args.out / path.name)
        print(f"{args.out / path.name}: {regions} solutions replaced by stubs")


if __name__ == "__main__":
    main()
