"""Render the notebooks, with their stored outputs and without running them, into a static site.

    python tools/build_site.py [OUT]      (default: build/site; `make site`)

One HTML page per notebook (nbconvert's JupyterLab template, figures embedded), in reading order
(by file name), each with links to the contents and to the previous and next notebook; links
between notebooks point to their pages. ``index.html`` lists the notebooks by title and links to
``references.html``, the README's References section (the one copy of the combined list), and to
``NOTATION.html``, the notation table ``notebooks/NOTATION.md`` that every notebook links to.
The math is typeset by MathJax served with the pages (npm's mathjax package, which
`make site` installs), so the site reads offline.
"""

import html
import re
import shutil
import sys
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.filters import markdown2html

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_LINK = re.compile(r"\]\((?!https?:)([^)#]+)\.ipynb(#[^)]*)?\)")
NOTATION_LINK = re.compile(r"\]\(NOTATION\.md(#[^)]*)?\)")
ARXIV = re.compile(r"arXiv:(\d{4}\.\d{4,5})")
DOI = re.compile(r"DOI (10\.\d{4,9}/\S+[^\s.,;])")
MATHJAX = ROOT / "build" / "npm" / "node_modules" / "mathjax" / "es5" / "tex-svg-full.js"
# MathJax 3 reads its configuration before it loads: the same delimiters as nbconvert's MathJax 2.
MATHJAX_CONFIG = r"""<script>
window.MathJax = {tex: {inlineMath: [["$", "$"], ["\\(", "\\)"]], processEscapes: true,
                        tags: "ams"}};
</script>
"""
STYLE = """<style>
.site-nav { display: flex; justify-content: space-between; max-width: 1100px;
            margin: 1em auto; padding: 0.5em 1em; font: 15px sans-serif;
            border-bottom: 1px solid #ddd; }
.site-nav a { text-decoration: none; }
</style>"""


def title(notebook):
    """The notebook's first Markdown heading, or None."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#+\s+(.+)$", cell.source, flags=re.MULTILINE)
            if match:
                return match[1].strip()
    return None


def nav(pages, i):
    """Previous · contents · next links for page ``i`` of ``pages`` [(file, title), ...]."""
    links = ['<a href="index.html">Contents</a>']
    if i > 0:
        links.insert(0, f'<a href="{pages[i - 1][0]}">← {html.escape(pages[i - 1][1])}</a>')
    if i + 1 < len(pages):
        links.append(f'<a href="{pages[i + 1][0]}">{html.escape(pages[i + 1][1])} →</a>')
    return f'<nav class="site-nav">{" ".join(links)}</nav>'


def references(readme):
    """The Markdown of the ``## References`` section of the file ``readme``."""
    match = re.search(r"^## References\n(.*?)(?=^## |\Z)", Path(readme).read_text(), re.M | re.S)
    if match is None:
        raise ValueError(f"{readme} has no '## References' section")
    return match[1].strip()


def references_page(markdown):
    """An HTML page of the reference list ``markdown``, arXiv ids and DOIs linked."""
    markdown = ARXIV.sub(r"[arXiv:\1](https://arxiv.org/abs/\1)", markdown)
    markdown = DOI.sub(r"[DOI \1](https://doi.org/\1)", markdown)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ELBO Lab: references</title>{STYLE}</head>
<body style="max-width: 800px; margin: 2em auto; font: 16px/1.5 sans-serif">
<nav class="site-nav"><a href="index.html">Contents</a></nav>
<h1>References</h1>
{markdown2html(markdown)}
</body></html>
"""


def notation_page(markdown, mathjax):
    """An HTML page of the notation table ``markdown``, its formulas typeset by the script
    ``mathjax``."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ELBO Lab: notation</title>{STYLE}
{MATHJAX_CONFIG}<script src="{mathjax}"></script></head>
<body style="max-width: 900px; margin: 2em auto; font: 16px/1.5 sans-serif">
<nav class="site-nav"><a href="index.html">Contents</a></nav>
{markdown2html(markdown)}
</body></html>
"""


def build_site(notebooks_dir, out_dir):
    """Write one page per notebook of ``notebooks_dir`` and ``index.html`` into ``out_dir``;
    return the paths of the pages in reading order."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = sorted(Path(notebooks_dir).glob("*.ipynb"))
    notebooks = [nbformat.read(path, as_version=4) for path in paths]
    pages = [
        (f"{path.stem}.html", title(notebook) or path.stem)
        for path, notebook in zip(paths, notebooks, strict=True)
    ]
    if not MATHJAX.exists():
        raise FileNotFoundError(f"{MATHJAX} is missing: `make site` installs npm's mathjax")
    shutil.copy(MATHJAX, out_dir / MATHJAX.name)
    exporter = HTMLExporter(template_name="lab", mathjax_url=MATHJAX.name)
    script = f'<script src="{MATHJAX.name}">'
    written = []
    for i, (notebook, (file, name)) in enumerate(zip(notebooks, pages, strict=True)):
        for cell in notebook.cells:
            if cell.cell_type == "markdown":
                cell.source = NOTEBOOK_LINK.sub(r"](\1.html\2)", cell.source)
                cell.source = NOTATION_LINK.sub(r"](NOTATION.html\1)", cell.source)
        body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": name}})
        links = nav(pages, i)
        body = body.replace(script, MATHJAX_CONFIG + script, 1)
        body = body.replace("</head>", f"{STYLE}\n</head>", 1)
        body = body.replace("<main>", f"<main>\n{links}", 1)
        body = body.replace("</main>", f"{links}\n</main>", 1)
        page = out_dir / file
        page.write_text(body, encoding="utf-8")
        written.append(page)
    items = "\n".join(f'<li><a href="{file}">{html.escape(name)}</a></li>' for file, name in pages)
    (out_dir / "index.html").write_text(
        f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ELBO Lab</title>{STYLE}</head>
<body style="max-width: 800px; margin: 2em auto; font: 16px/1.5 sans-serif">
<h1>ELBO Lab</h1>
<p>Lecture notebooks on the evidence lower bound and variational autoencoders, with their
outputs. Read them in order; to run them, use Binder or <code>make lab</code>.</p>
<ol>
{items}
</ol>
<p><a href="NOTATION.html">Notation</a>: one symbol, one meaning.</p>
<p><a href="references.html">References</a>: the papers and books behind the notebooks.</p>
</body></html>
""",
        encoding="utf-8",
    )
    notation = Path(notebooks_dir) / "NOTATION.md"
    (out_dir / "NOTATION.html").write_text(
        notation_page(notation.read_text(), MATHJAX.name), encoding="utf-8"
    )
    readme = Path(notebooks_dir).parent / "README.md"
    (out_dir / "references.html").write_text(references_page(references(readme)), encoding="utf-8")
    return written


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "build" / "site"
    pages = build_site(ROOT / "notebooks", out)
    print(f"{len(pages)} pages: {out / 'index.html'}")
