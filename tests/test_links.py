"""Every relative link in the notebooks' Markdown (lectures, exercises and the solution version)
leads to a file of the project: JupyterLab (``make lab``, Binder) serves the project's root, so a
link from ``notebooks/`` to ``../instructors/`` works there, and one that leaves the project does
not."""

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted([*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("instructors/*.ipynb")])
# [text](target "title"), ![alt](target), <a href="target">, <img src="target">
LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|(?:href|src)=[\"']([^\"']+)[\"']")


def relative_links(text):
    """The targets of ``text``'s links that are files of the project (no scheme, not an
    anchor in the same page), without their anchors."""
    targets = (a or b for a, b in LINK.findall(text))
    parts = (urlsplit(target) for target in targets)
    return [unquote(p.path) for p in parts if not p.scheme and not p.netloc and p.path]


def test_links_are_found():
    text = (
        'See [02](02_kl_identity.ipynb#the-identity), ![a figure](figures/a%20b.png "title"), '
        '<a href="../instructors/x.ipynb">x</a>, [the paper](https://arxiv.org/abs/1312.6114), '
        "[above](#what-you-will-learn) and [mail](mailto:someone@example.org)."
    )
    assert relative_links(text) == [
        "02_kl_identity.ipynb",
        "figures/a b.png",
        "../instructors/x.ipynb",
    ]


def test_every_notebook_is_checked():
    names = {path.name for path in NOTEBOOKS}
    assert {"01_evidence_and_jensen.ipynb", "17_exercises_solutions.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_relative_links_lead_to_files_of_the_project(path):
    notebook = nbformat.read(path, as_version=4)
    markdown = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    dead = []
    for link in relative_links(markdown):
        target = (path.parent / link).resolve()
        if not (target.is_relative_to(ROOT) and target.is_file()):
            dead.append(link)
    assert not dead, f"{path.relative_to(ROOT)}: links to nothing in the project: {dead}"
