"""The student versions: solutions become nbgrader's stubs; each committed student notebook
(17's exercises and the problem sets) is exactly what tools/student_version.py makes of its
solution version in instructors/, and it ships with its outputs, every check reporting "not done
yet"."""

import importlib.util
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "instructors" / "17_exercises_solutions.ipynb"
STUDENT = ROOT / "notebooks" / "17_exercises.ipynb"
EXERCISES = 19
SOLUTIONS = sorted((ROOT / "instructors").glob("*_solutions.ipynb"))
sys.path.insert(0, str(ROOT / "tools"))  # student_version imports its neighbour colab
spec = importlib.util.spec_from_file_location(
    "student_version", ROOT / "tools" / "student_version.py"
)
student_version = importlib.util.module_from_spec(spec)
spec.loader.exec_module(student_version)
every_solution = pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name[:2])


def _student(solution):
    return ROOT / "notebooks" / student_version.student_name(solution)


SOLUTION_SOURCE = """\
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
    source, regions = student_version.strip_solutions(SOLUTION_SOURCE)
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


def _cells(path, kind):
    notebook = nbformat.read(path, as_version=4)
    return [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get(kind)]


def _code_exercises(path):
    """The answer cells graded by a check (written answers are graded by hand)."""
    return [c for c in _cells(path, "solution") if c.cell_type == "code"]


@every_solution
def test_every_answer_has_nbgrader_metadata_and_a_check(solution):
    answers, checks = _code_exercises(solution), _cells(solution, "grade")
    checks = [c for c in checks if c.cell_type == "code"]
    assert len(answers) == len(checks) >= 5
    assert all("### BEGIN SOLUTION\n" in c.source for c in _cells(solution, "solution"))
    answer_ids = [c.metadata.nbgrader.grade_id for c in answers]
    assert len(set(answer_ids)) == len(answers)
    assert [c.metadata.nbgrader.grade_id for c in checks] == [f"check_{i}" for i in answer_ids]
    assert all(c.metadata.nbgrader.locked and c.source.startswith("check_") for c in checks)
    written = [c for c in _cells(solution, "solution") if c.cell_type == "markdown"]
    assert all(c.metadata.nbgrader.grade and c.metadata.nbgrader.points > 0 for c in written)


PROBLEM_SETS = {  # notebook: (grade-id prefix, the lectures it practises)
    "18": ("theory_", range(1, 6)),
    "19": ("vae_", range(6, 9)),
    "20": ("analysis_", range(9, 13)),
    "21": ("gaps_", range(13, 17)),
}


@pytest.mark.parametrize("number", sorted(PROBLEM_SETS))
def test_each_problem_set_has_every_kind_and_says_where_the_lecture_stops(number):
    (solution,) = [s for s in SOLUTIONS if s.name.startswith(f"{number}_problems_")]
    prefix, lectures = PROBLEM_SETS[number]
    cells = nbformat.read(solution, as_version=4).cells
    assert all(
        c.metadata.nbgrader.grade_id.startswith(prefix) for c in _cells(solution, "solution")
    )
    statements = [" ".join(c.source.split()) for c in cells if c.source.startswith("## Exercise")]
    headings = [c.source.splitlines()[0] for c in cells if c.source.startswith("## Exercise")]
    kinds = [h.rsplit("(", 1)[1].rstrip(")") for h in headings]
    assert kinds.count("derivation") >= 2, kinds
    for kind in ("proof", "paper to code", "mini-project", "written answer"):
        assert kind in kinds, kind
    if number != "21":
        assert "predict then measure" in kinds
    assert all("*Practises" in s and "Where the lecture" in s for s in statements)
    practised = {int(n) for s in statements for n in re.findall(r"notebook (\d\d)", s)}
    assert set(lectures) <= practised, sorted(practised)
    written = [c for c in _cells(solution, "solution") if c.cell_type == "markdown"]
    assert written and all("**Rubric" in c.source for c in written)


def test_notebook_17_has_its_nineteen_exercises():
    assert len(_code_exercises(SOLUTION)) == EXERCISES


def _same(cell):
    """What of a cell the student version must reproduce (outputs are nbval's to compare)."""
    metadata = {k: v for k, v in cell.metadata.items() if k != "execution"}
    return cell.cell_type, cell.get("id"), cell.source, metadata


@every_solution
def test_the_committed_student_version_is_what_the_solution_version_generates(solution):
    student = _student(solution)
    generated, regions = student_version.student_notebook(solution, student.parent)
    committed = nbformat.read(student, as_version=4)
    assert regions == len(_cells(solution, "solution"))
    assert [_same(c) for c in committed.cells] == [_same(c) for c in generated.cells], (
        f"notebooks/{student.name} is stale: run `make student`"
    )


@every_solution
def test_the_student_version_has_stubs_no_solutions_and_working_links(solution):
    student = _student(solution)
    notebook = nbformat.read(student, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert not any("SOLUTION" in c.source for c in code)
    stubs = sum(c.source.count("raise NotImplementedError()") for c in code)
    assert stubs == len(_code_exercises(solution))
    markdown = "".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    assert "BEGIN SOLUTION" not in markdown and "Rubric" not in markdown
    links = re.findall(r"\]\((?!https?:)([^)]+\.ipynb)\)", markdown)
    assert f"../instructors/{solution.name}" in links
    missing = [link for link in links if not (student.parent / link).exists()]
    assert len(links) >= 5 and not missing, missing


@every_solution
def test_the_student_version_ships_with_every_check_not_done_yet(solution):
    notebook = nbformat.read(_student(solution), as_version=4)
    checks = [
        c
        for c in notebook.cells
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
    ]
    assert len(checks) == len(_code_exercises(solution))
    for cell in checks:
        printed = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        assert "not done yet" in printed, (cell.source, printed)
        assert "✓" not in printed and "✗" not in printed
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []


def test_the_exercises_cover_every_lecture_and_every_kind():
    notebook = nbformat.read(SOLUTION, as_version=4)
    statements = [c.source for c in notebook.cells if c.source.startswith("## Exercise")]
    assert len(statements) == EXERCISES
    practised = {n for text in statements for n in re.findall(r"notebook (\d\d)", text)}
    assert practised >= {f"{n:02d}" for n in range(1, 13)}, sorted(practised)
    titles = " ".join(text.splitlines()[0] for text in statements)
    for kind in ("(derivation)", "(predict, then run)", "(implementation", "bug hunt", "Mini"):
        assert kind in titles, kind


def _plain_notebook(path):
    source = "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"
    cells = [nbformat.v4.new_markdown_cell("# Plain"), nbformat.v4.new_code_cell(source)]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path.read_bytes()


def test_a_student_version_never_overwrites_its_input(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = _plain_notebook(tmp_path / "plain.ipynb")
    with pytest.raises(SystemExit) as exit_:
        student_version.main(["plain.ipynb", "--out", "."])
    assert exit_.value.code == 2 and "would overwrite an input" in capsys.readouterr().err
    assert (tmp_path / "plain.ipynb").read_bytes() == before


@pytest.mark.parametrize(
    ("content", "said"), [("{ not json", "not a solution notebook"), (None, "not a solution")]
)
def test_a_bad_input_gets_one_line(tmp_path, capsys, content, said):
    path = tmp_path / "bad_solutions.ipynb"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SystemExit) as exit_:
        student_version.main([str(path), "--out", str(tmp_path / "out")])
    error = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and said in error[-1] and "Traceback" not in "".join(error)
    assert not (tmp_path / "out").exists()


def test_the_student_version_is_written_whole_or_not_at_all(tmp_path):
    _plain_notebook(tmp_path / "plain_solutions.ipynb")
    student_version.main([str(tmp_path / "plain_solutions.ipynb"), "--out", str(tmp_path / "o")])
    written = nbformat.read(tmp_path / "o" / "plain.ipynb", as_version=4)
    assert any("raise NotImplementedError()" in c.source for c in written.cells)
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["plain.ipynb"]
