"""Every formula in the notebooks' Markdown (and in the notation table notebooks/NOTATION.md)
typesets in MathJax, as on the site and in JupyterLab.

MathJax's TeX input (npm's mathjax package, which `make test` installs) typesets each formula
without the extensions that hide errors (``noerrors`` shows the source instead of the error,
``noundefined`` prints an undefined macro in red), so an undefined control sequence or an
unbalanced brace fails here, naming the notebook, the cell and the formula.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = [
    *sorted((ROOT / "notebooks").glob("*.ipynb")),
    *sorted((ROOT / "instructors").glob("*.ipynb")),
    ROOT / "notebooks" / "NOTATION.md",
]
MATHJAX = ROOT / "build" / "npm" / "node_modules" / "mathjax"
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)
# $$display$$, $inline$ (not across a blank line) and \begin{env}…\end{env} outside dollars.
MATH = re.compile(
    r"\$\$(?P<display>.+?)\$\$"
    r"|(?<![\\$])\$(?!\$)(?P<inline>(?:[^$\n]|\n(?!\s*\n))+?)(?<!\\)\$"
    r"|(?P<environment>\\begin\{(?P<name>[a-z]+\*?)\}.+?\\end\{(?P=name)\})",
    re.S,
)


def formulas(path):
    """[(cell index, TeX, display?)] of every formula in the notebook's Markdown cells (a
    Markdown file is one cell)."""
    if path.suffix == ".md":
        cells = [nbformat.v4.new_markdown_cell(path.read_text())]
    else:
        cells = nbformat.read(path, as_version=4).cells
    found = []
    for i, cell in enumerate(cells):
        if cell.cell_type == "markdown":
            for match in MATH.finditer(CODE.sub("", cell.source)):
                tex = match["display"] or match["inline"] or match["environment"]
                found.append((i, tex.strip(), match["inline"] is None))
    return found


def typeset(items):
    """MathJax's error message for each (TeX, display?) of ``items``, None where it typesets."""
    if shutil.which("node") is None or not (MATHJAX / "es5" / "node-main.js").exists():
        pytest.fail(f"the typesetting test needs node and npm's mathjax in {MATHJAX}: make test")
    result = subprocess.run(
        ["node", str(Path(__file__).with_name("typeset.js")), str(MATHJAX)],
        input=json.dumps([{"tex": tex, "display": display} for tex, display in items]),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def errors():
    """{notebook: [(cell, formula, MathJax's error)]}, from one node process for all formulas."""
    found = [
        (path.name, cell, tex, display)
        for path in NOTEBOOKS
        for cell, tex, display in formulas(path)
    ]
    messages = typeset([(tex, display) for _, _, tex, display in found])
    failed = {path.name: [] for path in NOTEBOOKS}
    for (name, cell, tex, _), message in zip(found, messages, strict=True):
        if message is not None:
            failed[name].append((cell, tex, message))
    return failed


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_every_formula_typesets(errors, path):
    assert formulas(path), f"{path.name} has no formula: the extraction is broken"
    failed = "\n".join(
        f"  cell {cell}: {message}: {tex}" for cell, tex, message in errors[path.name]
    )
    assert not failed, f"{path.name}: formulas MathJax cannot typeset:\n{failed}"


def test_an_undefined_macro_and_an_unbalanced_brace_fail():
    assert typeset(
        [(r"\log(2\pi s_j^2)", True), (r"\log(2\pis_j^2)", True), (r"\frac{1", False)]
    ) == [
        None,
        "Undefined control sequence \\pis",
        "Missing close brace",
    ]


def test_formulas_are_found_in_every_form(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("$a$ costs \\$5, `$not math$`, and\n$$\nb\n$$"),
        nbformat.v4.new_code_cell("x = '$c$'"),
        nbformat.v4.new_markdown_cell("\\begin{aligned} d &= e \\end{aligned}\n\n```\n$f$\n```"),
    ]
    path = tmp_path / "n.ipynb"
    nbformat.write(notebook, path)
    assert formulas(path) == [
        (0, "a", False),
        (0, "b", True),
        (2, r"\begin{aligned} d &= e \end{aligned}", True),
    ]
