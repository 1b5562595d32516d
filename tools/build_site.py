"""Render the notebooks, with their stored outputs and without running them, into a static site.

    python tools/build_site.py [OUT]      (default: build/site; `make site`)

One HTML page per notebook (nbconvert's JupyterLab template, figures embedded), in reading order
(by file name), each with links to the contents and to the previous and next notebook, and one
page per notebook of ``instructors/`` (the exercises' solutions); links between notebooks point to
their pages. ``index.html`` lists the notebooks by title and links to ``references.html``, the
README's References section (the one copy of the combined list), and to ``NOTATION.html``, the
notation table ``notebooks/NOTATION.md`` that every notebook links to.

The site reads offline and passes an accessibility audit (axe-core, WCAG 2.1 A/AA):
- the math is typeset by MathJax served with the pages (npm's mathjax package, which `make site`
  installs);
- a widget is shown as its stored state, as it was when the notebook ran: its figure (the stored
  first frame), its sliders and buttons (inactive) with their values, its progress bars; no
  script from a CDN is loaded;
- each figure's alt text says what it shows: the docstrings of the plotting functions its cell
  calls (elbo_lib's ``plots``, ``vae_plots``, ``widgets``, ``beta_widget``, any ``plot_*`` and
  any ``*_explorer``) and the titles the cell sets, so it stays true when the notebooks are run
  again.
"""

import ast
import html
import math
import os
import re
import shutil
import sys
import unicodedata
from pathlib import Path

import nbformat
from jinja2 import DictLoader
from nbconvert import HTMLExporter
from nbconvert.filters import markdown2html

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "elbo_lib"
LINK = re.compile(r"\]\((?!https?:)([^)#\s]+)(#[^)]*)?\)")
ARXIV = re.compile(r"arXiv:(\d{4}\.\d{4,5})")
DOI = re.compile(r"DOI (10\.\d{4,9}/\S+[^\s.,;])")
MATHJAX = ROOT / "build" / "npm" / "node_modules" / "mathjax" / "es5" / "tex-svg-full.js"
# MathJax 3 reads its configuration before it loads: the same delimiters as nbconvert's MathJax 2.
MATHJAX_CONFIG = r"""<script>
window.MathJax = {tex: {inlineMath: [["$", "$"], ["\\(", "\\)"]], processEscapes: true,
                        tags: "ams"}};
</script>
"""
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PLOTTING_MODULES = ("plots", "vae_plots", "widgets", "beta_widget")
# TeX commands spelled as symbols in alt text (Greek letters are looked up by name)
TEX_SYMBOLS = {"mid": " | ", "|": " ‖ ", "ge": " ≥ ", "le": " ≤ ", "propto": " ∝ ", "sum": " Σ"}
TEX_SYMBOLS |= {"partial": "∂", "infty": "∞", "cdot": "·", "times": "×", "to": " → "}
NO_ALT = "No description has been provided for this image"  # nbconvert's, where none is given
# The lab template without the scripts that widgets need from CDNs (require.js, the widget
# manager): widgets are rendered here from their stored state. A figure takes its alt text from
# its output's metadata.
TEMPLATE = """{%- extends 'index.html.j2' -%}
{% block html_head_js_requirejs %}{% endblock html_head_js_requirejs %}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{% block data_png scoped %}
{%- set alt = output | get_metadata('alt', 'image/png') -%}
{%- if alt -%}
{{ super() | replace('<img ', '<img alt="' ~ (alt | escape_html) ~ '" ', 1) }}
{%- else -%}
{{ super() }}
{%- endif -%}
{% endblock data_png %}
"""
# Colours of 4.5:1 or more on their backgrounds (WCAG AA): the prompts (the lab theme's are
# half-transparent grey, 2.2:1) and the code highlighting on the lab theme's light grey #f5f5f5
# (its comments, numbers and operator words were 4.2-4.4:1), in the theme's hues; links in text
# underlined, as their colour alone does not set them apart.
STYLE = """<style>
.site-nav { display: flex; justify-content: space-between; max-width: 1100px;
            margin: 1em auto; padding: 0.5em 1em; font: 15px sans-serif;
            border-bottom: 1px solid #ddd; }
.site-nav a { text-decoration: none; }
.jp-RenderedHTMLCommon a:link, .jp-RenderedHTMLCommon a:visited { text-decoration: underline; }
:root { --jp-cell-prompt-not-active-opacity: 1; --jp-cell-prompt-not-active-font-color: #595959;
        --jp-mirror-editor-comment-color: #2f6f6f; --jp-mirror-editor-number-color: #007000;
        --jp-mirror-editor-operator-color: #9a1fe8; --jp-mirror-editor-error-color: #c00000; }
.site-widget { display: flex; flex-direction: column; gap: 0.3em; }
.site-widget .site-row { display: flex; flex-direction: row; align-items: center; gap: 0.5em; }
.site-widget .site-column { display: flex; flex-direction: column; gap: 0.3em; }
.site-widget label { display: flex; align-items: center; gap: 0.5em; }
.site-widget input[type=range] { width: 200px; }
.site-widget-note { font: italic 13px sans-serif; color: #4a4a4a; }
</style>"""


def title(notebook):
    """The notebook's first Markdown heading, or None."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#+\s+(.+)$", cell.source, flags=re.MULTILINE)
            if match:
                return match[1].strip()
    return None


def nav(pages, i, where):
    """Previous · contents · next links for page ``i`` of ``pages`` [(file, title), ...], as a
    navigation landmark named for ``where`` it stands on the page ("top" or "bottom")."""
    links = ['<a href="index.html">Contents</a>']
    if i > 0:
        links.insert(0, f'<a href="{pages[i - 1][0]}">← {html.escape(pages[i - 1][1])}</a>')
    if i + 1 < len(pages):
        links.append(f'<a href="{pages[i + 1][0]}">{html.escape(pages[i + 1][1])} →</a>')
    label = f"Reading order ({where} of the page)"
    return f'<nav class="site-nav" aria-label="{label}">{" ".join(links)}</nav>'


def plain(docstring):
    """The first sentence of a docstring as plain text: Sphinx roles and reST literals
    unwrapped, the TeX of ``:math:`` spelled with Unicode (μ, σ², ‖, ≥, …)."""
    text = " ".join(docstring.strip().split("\n\n")[0].split())
    text = re.sub(r":math:`([^`]*)`", lambda match: tex(match[1]), text)
    text = re.sub(r":\w+:`~?(?:[\w.]*\.)?([^`.]+)`", r"\1", text)
    return re.match(r"(.+?[.!?])(?=\s+[A-Z(]|$)|.+", text.replace("``", ""))[0]


def tex(source):
    """A TeX formula as plain Unicode text: ``\\mathcal N(\\mu, s^2)`` → "N(μ, s²)"."""
    text = re.sub(r"\\(?:big|Big|left|right|math\w+|text|operatorname)\b", " ", source)
    accent = {"hat": "\u0302", "bar": "\u0304"}  # combining circumflex, macron
    text = re.sub(r"\\(hat|bar)[\s{]*(\w+)\}*", lambda m: m[2] + accent[m[1]], text)
    part = r"\s*(\{[^{}]*\}|\w)"
    text = re.sub(rf"\\t?frac{part}{part}", lambda m: f"{_group(m[1])}/{_group(m[2])}", text)
    text = re.sub(rf"\\sqrt{part}", lambda m: "√" + _group(m[1], r"\W"), text)

    def command(match):
        name = match[1]
        if name in TEX_SYMBOLS:
            return TEX_SYMBOLS[name]
        if not name.isalpha():  # \, \; \  and the like
            return " "
        letter = name.removeprefix("var")
        case = "CAPITAL" if letter[0].isupper() else "SMALL"
        try:
            return unicodedata.lookup(f"GREEK {case} LETTER {letter.upper()}")
        except KeyError:
            return name + " "  # \log, \max, \exp, ...

    text = re.sub(r"\\([A-Za-z]+|.)", command, text)
    text = re.sub(r"\^(\d)(?!\d)", lambda match: "⁰¹²³⁴⁵⁶⁷⁸⁹"[int(match[1])], text)
    text = re.sub(r"\s+", " ", text.replace("{", "").replace("}", ""))
    return re.sub(r"\( | \)", lambda match: match[0].strip(), text).strip()


def _group(text, compound=r"[+-]"):
    """A TeX group's contents, in parentheses if they hold ``compound`` (a sum or difference)."""
    text = text.strip("{}").strip()
    return f"({text})" if re.search(compound, text) else text


def _code(cell):
    """A code cell's source as Python (IPython's %magics and !commands left out)."""
    lines = cell.source.splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))


def _docstrings(tree):
    """name → docstring of each top-level function and class of the module ``tree``."""
    nodes = (ast.FunctionDef, ast.ClassDef)
    return {n.name: ast.get_docstring(n) for n in tree.body if isinstance(n, nodes)}


def _drawers(notebook, library):
    """What the notebook calls to draw its figures: the functions and classes it imports from
    elbo_lib's plotting modules, those named ``plot_*`` or ``*_explorer`` it imports from
    elbo_lib, and its own ``plot_*`` functions; their names in the notebook → their docstrings
    as plain text."""
    drawers = {}

    def add(name, module, docstrings):
        for member, docstring in docstrings.items():
            drawing = member.startswith("plot_") or member.endswith("_explorer")
            if docstring and (module in PLOTTING_MODULES or drawing):
                drawers[f"{name}.{member}" if name else member] = plain(docstring)

    def module_docstrings(module):
        path = Path(library) / f"{module}.py"
        return _docstrings(ast.parse(path.read_text())) if path.exists() else {}

    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse(_code(cell))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("elbo_lib"):
                for alias in node.names:
                    if node.module == "elbo_lib":
                        add(alias.asname or alias.name, alias.name, module_docstrings(alias.name))
                    else:
                        module = node.module.split(".")[-1]
                        docstring = module_docstrings(module).get(alias.name)
                        if docstring:
                            add("", module, {alias.asname or alias.name: docstring})
        add("", "", _docstrings(tree))
    return drawers


def _called(node):
    """The dotted name a call ``node`` calls (``plots.kl_map``, ``widget.train``), or None."""
    func = node.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return f"{func.value.id}.{func.attr}"
    return func.id if isinstance(func, ast.Name) else None


def _text(node):
    """A string literal as text, an f-string's replacement fields as "…"; else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_text(value) or "…" for value in node.values)
    return None


def figure_descriptions(notebook, library=LIBRARY):
    """Cell index → what the figures of that code cell show: the docstrings of the plotting
    functions it calls (or of the widget it shows, made by an earlier cell) and the titles it
    sets. Cells that draw nothing known are left out."""
    drawers = _drawers(notebook, library)
    made = {}  # variable → the docstring of the plotting call that made it
    descriptions = {}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        tree = ast.parse(_code(cell))
        nodes = sorted(
            (n for n in ast.walk(tree) if hasattr(n, "lineno")),
            key=lambda n: (n.lineno, n.col_offset),
        )
        found, titles = [], []
        for node in nodes:
            if isinstance(node, ast.Call):
                called = _called(node)
                if called in drawers:
                    found.append(drawers[called])
                if called and called.split(".")[-1] in ("set_title", "suptitle") and node.args:
                    titles.append(_text(node.args[0]))
                titles += [_text(k.value) for k in node.keywords if k.arg == "title"]
            elif isinstance(node, ast.Name) and node.id in made:
                found.append(made[node.id])
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                for target in node.targets:
                    if isinstance(target, ast.Name) and _called(node.value) in drawers:
                        made[target.id] = drawers[_called(node.value)]
        found = list(dict.fromkeys(found))
        titles = list(dict.fromkeys(t for t in titles if t))
        if found or titles:
            sentences = [d if d.endswith(".") else d + "." for d in found]
            if titles:
                sentences.append("Titled: " + "; ".join(f"“{t}”" for t in titles) + ".")
            descriptions[index] = " ".join(sentences)
    return descriptions


def _readout(model):
    """A control's value as its readout shows it."""
    state = model["state"]
    if "_options_labels" in state:
        return state["_options_labels"][state["index"]]
    if isinstance(state["value"], bool):
        return "on" if state["value"] else "off"
    try:
        return format(state["value"], state.get("readout_format", "").removesuffix("d") or "g")
    except (TypeError, ValueError):
        return str(state["value"])


def widget_html(model_id, models, alt):
    """A widget as static HTML from its stored state ``models`` (model id → model): boxes as
    rows or columns, its figure (an Image widget's stored frame, with ``alt`` and the values of
    the controls it was drawn at), sliders and buttons inactive, other controls, texts and
    progress bars as text; a ValueError for a widget with no value to show (an Output)."""
    sliders = []

    def render(model_id):
        model = models[model_id.removeprefix("IPY_MODEL_")]
        name, state = model["model_name"], model["state"]
        description = html.escape(state.get("description") or "")
        if "children" in state:
            kind = "site-row" if name == "HBoxModel" else "site-column"
            inner = "".join(render(child) for child in state["children"])
            return f'<div class="{kind}">{inner}</div>'
        if name == "ImageModel":
            data = next(b["data"] for b in model["buffers"] if b["path"] == ["value"])
            return f'<img src="data:image/{state["format"]};base64,{data}" alt="{{alt}}">'
        if name in ("HTMLModel", "HTMLMathModel"):  # HTML, as the widget shows it
            return f"<span>{description} {state['value']}</span>"
        if name == "LabelModel":
            return f"<span>{description} {html.escape(state['value'])}</span>"
        if name.endswith("ProgressModel"):
            low, high, value = state["min"], state["max"], state["value"]
            label = f"{description or 'progress'}: {value:g} of {high:g}"
            return (
                f'<progress max="{high - low:g}" value="{value - low:g}" aria-label="{label}">'
                f"{value:g}/{high:g}</progress>"
            )
        if name.endswith("SliderModel"):
            readout = html.escape(_readout(model))
            sliders.append(f"{description} = {readout}")
            if "_options_labels" in state:
                low, high, value = 0, len(state["_options_labels"]) - 1, state["index"]
            else:
                low, high, value = state["min"], state["max"], state["value"]
                if name == "FloatLogSliderModel":
                    value = math.log(value, state["base"])
            return (
                f'<label>{description} <input type="range" disabled min="{low}" max="{high}" '
                f'step="any" value="{value}"> <span>{readout}</span></label>'
            )
        if name == "ButtonModel":
            return f'<button type="button" disabled>{description}</button>'
        if "value" in state or "_options_labels" in state:  # a dropdown, a checkbox, a text, ...
            readout = html.escape(_readout(model))
            sliders.append(f"{description} = {readout}")
            return f"<span>{description}: {readout}</span>"
        raise ValueError(f"no static view of a {name} (widget {model_id})")

    body = render(model_id)
    shown_at = f" Shown at {'; '.join(sliders)}." if sliders else ""
    body = body.replace('alt="{alt}"', f'alt="{html.escape(alt + shown_at)}"')
    note = (
        '<p class="site-widget-note">The controls as they stood when the notebook ran; run the '
        "notebook (Binder, Colab or <code>make lab</code>) to move them.</p>"
        if "disabled" in body
        else ""
    )
    return f'<div class="site-widget">{body}{note}</div>'


def prepare(notebook, descriptions, links):
    """Make ``notebook`` ready for the page, in place: each figure's alt text from
    ``descriptions`` (cell index → text), each widget as static HTML of its stored state, and
    each Markdown link to a file of ``links`` (source path → page) pointed to that page."""
    models = notebook.metadata.pop("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown":
            cell.source = LINK.sub(lambda match: _link(match, links), cell.source)
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data and index in descriptions:
                output.setdefault("metadata", {}).setdefault("image/png", {})
                output.metadata["image/png"]["alt"] = descriptions[index]
            if WIDGET_VIEW in data:
                model_id = data[WIDGET_VIEW]["model_id"]
                alt = descriptions.get(index, NO_ALT)
                output.data = {"text/html": widget_html(model_id, models, alt)}


def _link(match, links):
    target = links.get(match[1])
    return match[0] if target is None else f"]({target}{match[2] or ''})"


def references(readme):
    """The Markdown of the ``## References`` section of the file ``readme``."""
    match = re.search(r"^## References\n(.*?)(?=^## |\Z)", Path(readme).read_text(), re.M | re.S)
    if match is None:
        raise ValueError(f"{readme} has no '## References' section")
    return match[1].strip()


def _page(name, body, width=800, head=""):
    """A page of the site around ``body`` (HTML), under the title "ELBO Lab: ``name``"."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ELBO Lab: {name}</title>{STYLE}{head}</head>
<body style="max-width: {width}px; margin: 2em auto; font: 16px/1.5 sans-serif">
<nav class="site-nav" aria-label="Site"><a href="index.html">Contents</a></nav>
<main>
{body}
</main>
</body></html>
"""


def references_page(markdown):
    """An HTML page of the reference list ``markdown``, arXiv ids and DOIs linked."""
    markdown = ARXIV.sub(r"[arXiv:\1](https://arxiv.org/abs/\1)", markdown)
    markdown = DOI.sub(r"[DOI \1](https://doi.org/\1)", markdown)
    return _page("references", f"<h1>References</h1>\n{markdown2html(markdown)}")


def notation_page(markdown, mathjax):
    """An HTML page of the notation table ``markdown``, its formulas typeset by the script
    ``mathjax``."""
    head = f'\n{MATHJAX_CONFIG}<script src="{mathjax}"></script>'
    return _page("notation", markdown2html(markdown), width=900, head=head)


def build_site(notebooks_dir, out_dir):
    """Write one page per notebook of ``notebooks_dir`` and of the ``instructors/`` folder beside
    it, ``index.html``, ``NOTATION.html`` and ``references.html`` into ``out_dir``; return the
    paths of the notebooks' pages in reading order, then those of the instructors' notebooks."""
    notebooks_dir, out_dir = Path(notebooks_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lectures = sorted(notebooks_dir.glob("*.ipynb"))
    instructors = sorted((notebooks_dir.parent / "instructors").glob("*.ipynb"))
    paths = lectures + instructors
    notebooks = [nbformat.read(path, as_version=4) for path in paths]
    pages = [
        (f"{path.stem}.html", title(notebook) or path.stem)
        for path, notebook in zip(paths, notebooks, strict=True)
    ]
    pages[len(lectures) :] = [
        (file, f"{name} (with solutions)") for file, name in pages[len(lectures) :]
    ]
    # every Markdown link to a notebook of the site, or to the notation table, as written in
    # the folder of the notebook that links it
    links = {path.resolve(): page for path, (page, _) in zip(paths, pages, strict=True)}
    links[(notebooks_dir / "NOTATION.md").resolve()] = "NOTATION.html"
    if not MATHJAX.exists():
        raise FileNotFoundError(f"{MATHJAX} is missing: `make site` installs npm's mathjax")
    shutil.copy(MATHJAX, out_dir / MATHJAX.name)
    exporter = HTMLExporter(
        template_name="lab",
        template_file="site.html.j2",
        extra_loaders=[DictLoader({"site.html.j2": TEMPLATE})],
        mathjax_url=MATHJAX.name,
    )
    script = f'<script src="{MATHJAX.name}">'
    written = []
    for i, (path, notebook, (file, name)) in enumerate(zip(paths, notebooks, pages, strict=True)):
        local = {
            os.path.relpath(target, path.parent.resolve()): page for target, page in links.items()
        }
        prepare(notebook, figure_descriptions(notebook), local)
        body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": name}})
        order = pages[: len(lectures)] if i < len(lectures) else pages[i : i + 1]
        at = order.index((file, name))
        body = body.replace(script, MATHJAX_CONFIG + script, 1)
        body = body.replace("</head>", f"{STYLE}\n</head>", 1)
        body = body.replace("<main>", f"<main>\n{nav(order, at, 'top')}", 1)
        body = body.replace("</main>", f"{nav(order, at, 'bottom')}\n</main>", 1)
        page = out_dir / file
        page.write_text(body, encoding="utf-8")
        written.append(page)
    items = "\n".join(
        f'<li><a href="{file}">{html.escape(name)}</a></li>'
        for file, name in pages[: len(lectures)]
    )
    solutions = "\n".join(
        f'<p>For instructors: <a href="{file}">{html.escape(name)}</a>.</p>'
        for file, name in pages[len(lectures) :]
    )
    index = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ELBO Lab</title>{STYLE}</head>
<body style="max-width: 800px; margin: 2em auto; font: 16px/1.5 sans-serif">
<main>
<h1>ELBO Lab</h1>
<p>Lecture notebooks on the evidence lower bound and variational autoencoders, with their
outputs. Read them in order; to run them, use Binder or <code>make lab</code>.</p>
<ol>
{items}
</ol>
<p><a href="NOTATION.html">Notation</a>: one symbol, one meaning.</p>
<p><a href="references.html">References</a>: the papers and books behind the notebooks.</p>
{solutions}
</main>
</body></html>
"""
    (out_dir / "index.html").write_text(index, encoding="utf-8")
    notation = notebooks_dir / "NOTATION.md"
    (out_dir / "NOTATION.html").write_text(
        notation_page(notation.read_text(), MATHJAX.name), encoding="utf-8"
    )
    readme = notebooks_dir.parent / "README.md"
    (out_dir / "references.html").write_text(references_page(references(readme)), encoding="utf-8")
    return written


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "build" / "site"
    pages = build_site(ROOT / "notebooks", out)
    print(f"{len(pages)} pages: {out / 'index.html'}")
