"""The student version: solutions become nbgrader's stubs, and the notebook still runs top to
bottom with every check reporting "not done yet"."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ROOT / "notebooks" / "13_exercises.ipynb"
spec = importlib.util.spec_from_file_location(
    "student_version", ROOT / "tools" / "student_version.py"
)
student_version = importlib.util.module_from_spec(spec)
spec.loader.exec_module(student_version)

SOLUTION = """\
import numpy as np

def f(x):
    y = 2 * x
    ### BEGIN SOLUTION
    return y + 1
    ### END SOLUTION

### BEGIN SOLUTION
answer = f(1)
### END SOLUTION
print("kept")"""


def test_solution_regions_become_nbgrader_stubs_at_their_indentation():
    source, regions = student_version.strip_solutions(SOLUTION)
    assert regions == 2
    assert source == (
        "import numpy as np\n\ndef f(x):\n    y = 2 * x\n    # YOUR CODE HERE\n"
        "    raise NotImplementedError()\n\n# YOUR CODE HERE\nraise NotImplementedError()\n"
        'print("kept")'
    )


def test_markdown_solutions_become_your_answer_here():
    source, regions = student_version.strip_solutions(
        "Why?\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION", "markdown"
    )
    assert (source, regions) == ("Why?\nYOUR ANSWER HERE", 1)


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("### BEGIN SOLUTION\nx = 1", "without ### END SOLUTION"),
        ("x = 1\n### END SOLUTION", "line 2: ### END SOLUTION without"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another solution"),
    ],
)
def test_unbalanced_markers_are_a_value_error(source, problem):
    with pytest.raises(ValueError, match=problem):
        student_version.strip_solutions(source)


def test_every_solution_cell_carries_nbgrader_metadata():
    notebook = nbformat.read(EXERCISES, as_version=4)
    solution_cells = [c for c in notebook.cells if "### BEGIN SOLUTION\n" in c.source]
    assert len(solution_cells) == 10
    grade_ids = [c.metadata["nbgrader"]["grade_id"] for c in solution_cells]
    assert len(set(grade_ids)) == 10
    assert all(c.metadata["nbgrader"]["solution"] for c in solution_cells)


@pytest.fixture(scope="module")
def student_notebook(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    done = subprocess.run(
        [sys.executable, ROOT / "tools" / "student_version.py", EXERCISES, "--out", out],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "10 solutions replaced by stubs" in done.stdout
    return out / EXERCISES.name


def test_the_student_version_has_stubs_and_no_solutions_or_outputs(student_notebook):
    notebook = nbformat.read(student_notebook, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert not any("SOLUTION" in c.source for c in code)
    assert sum(c.source.count("raise NotImplementedError()") for c in code) == 10
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert not any("execution" in c.metadata for c in code)
    markdown = "".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    links = re.findall(r"\]\((?!https?:)([^)]+\.ipynb)\)", markdown)
    assert len(links) >= 2
    for link in links:  # the lectures stay in notebooks/: links point back there
        target = (student_notebook.parent / link).resolve()
        assert target == ROOT / "notebooks" / Path(link).name, link


def test_the_student_version_runs_and_every_check_is_not_done_yet(student_notebook):
    notebook = nbformat.read(student_notebook, as_version=4)
    NotebookClient(
        notebook, timeout=120, resources={"metadata": {"path": str(student_notebook.parent)}}
    ).execute()
    checks = [c for c in notebook.cells if c.cell_type == "code" and c.source.startswith("check_")]
    assert len(checks) == 10
    for cell in checks:
        printed = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        assert "not done yet" in printed, (cell.source, printed)
        assert "✓" not in printed and "✗" not in printed
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
