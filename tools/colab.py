"""Give every notebook its "Open in Colab" and Binder badges and a first code cell that installs
``elbo_lib`` where it is missing (Colab), and the README's notebook table the same badges.

    python tools/colab.py      (idempotent: run it again after adding or renaming a notebook)

The repository lives in one place, :data:`REPOSITORY`. The install cell runs pip only when
``elbo_lib`` cannot be imported, so locally and on Binder it does nothing, and stops with one line
that says what to do when pip fails (no network); it is stored without outputs, so nbval has
nothing to compare. The notebooks themselves are not executed.
"""

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
REPOSITORY = "elbo-lab/elbo-lab"  # on GitHub
BRANCH = "main"
SETUP_TAG = "install-elbo-lib"
BADGE = re.compile(r"\[!\[(Binder|Open in Colab)\]\([^)]*\)\]\([^)]*\)")
INSTALL = f"""\
# On Colab (or wherever elbo_lib is missing), install it from the repository; elsewhere nothing.
import importlib.util
import subprocess
import sys

if importlib.util.find_spec("elbo_lib") is None:
    url = "git+https://github.com/{REPOSITORY}@{BRANCH}"
    if subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", url]).returncode:
        raise SystemExit(
            f"Could not install elbo_lib from {{url}}: connect this runtime to the internet and "
            "run this cell again, or open the notebooks on Binder or with `make lab` instead."
        )"""


def badges(notebook):
    """Markdown for the Binder and Colab badges of ``notebook``, a path relative to the repo."""
    binder = f"https://mybinder.org/v2/gh/{REPOSITORY}/{BRANCH}?urlpath=lab/tree/{notebook}"
    colab = f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/{notebook}"
    return (
        f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder}) "
        f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab})"
    )


def with_badges(text, notebook):
    """``text`` with its badges removed and fresh ones after its first line (the title)."""
    title, _, rest = BADGE.sub("", text).partition("\n")
    return f"{title}\n\n{badges(notebook)}\n\n{rest.lstrip()}"


def with_colab(notebook, name):
    """``notebook`` (an nbformat notebook stored as ``name``, relative to the repository) with
    the badges in its header cell and the install cell first among its code cells."""
    setups = [cell for cell in notebook.cells if SETUP_TAG in cell.metadata.get("tags", [])]
    cells = [cell for cell in notebook.cells if cell not in setups]
    header = cells[0]
    if header.cell_type != "markdown" or not header.source.startswith("# "):
        raise ValueError(f"{name}: the first cell must be the Markdown title")
    header.source = with_badges(header.source, name)
    setup = nbformat.v4.new_code_cell(INSTALL, id=SETUP_TAG, metadata={"tags": [SETUP_TAG]})
    if setups and setups[0].source == INSTALL:
        setup = setups[0]  # as it was, with its run of the notebook
    first_code = next(i for i, cell in enumerate(cells) if cell.cell_type == "code")
    notebook.cells = [*cells[:first_code], setup, *cells[first_code:]]
    return notebook


def update_notebook(path):
    """:func:`with_colab` on the notebook at ``path``; returns whether the file changed."""
    before = path.read_text(encoding="utf-8")
    notebook = with_colab(nbformat.reads(before, as_version=4), f"notebooks/{path.name}")
    after = nbformat.writes(notebook) + "\n"
    if after != before:
        path.write_text(after, encoding="utf-8")
    return after != before


def update_readme(path):
    """The badges in the README's top line (the first notebook) and in each table row after
    the notebook's link; returns whether the file changed."""
    text = path.read_text(encoding="utf-8")
    row = re.compile(r"^(\| \d+ \| \[[^\]]+\]\((notebooks/[^)]+\.ipynb)\))[^|]*\|", re.MULTILINE)
    new = row.sub(lambda m: f"{m[1]} {badges(m[2])} |", text)
    top = re.compile(rf"^(?:{BADGE.pattern} ?)+$", re.MULTILINE)
    first = row.search(new)[2]
    new = top.sub(lambda m: badges(first), new, count=1)
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


def main():
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    changed = [path for path in notebooks if update_notebook(path)]
    if update_readme(ROOT / "README.md"):
        changed.append(ROOT / "README.md")
    for path in changed:
        print(f"updated {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
