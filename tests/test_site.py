"""The static site: every notebook has its page, with its stored figures, its widgets as their
stored state, alt text that says what each figure shows, the reading order, and no dead link."""

import html
import importlib.util
import json
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
INSTRUCTORS = sorted((ROOT / "instructors").glob("*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
spec = importlib.util.spec_from_file_location("build_site", ROOT / "tools" / "build_site.py")
build_site = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build_site)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    pages = build_site.build_site(ROOT / "notebooks", out)
    assert [page.name for page in pages] == [f"{p.stem}.html" for p in NOTEBOOKS + INSTRUCTORS]
    return out


def outputs(path):
    cells = json.loads(path.read_text())["cells"]
    return [out for cell in cells for out in cell.get("outputs", [])]


def stored_figures(path):
    return sum("image/png" in out.get("data", {}) for out in outputs(path))


def widget_views(path):
    return [
        out["data"][WIDGET_VIEW]["model_id"]
        for out in outputs(path)
        if WIDGET_VIEW in out.get("data", {})
    ]


def widget_images(path):
    """The Image widgets in the notebook's widget outputs, by their stored state."""
    widgets = json.loads(path.read_text())["metadata"].get("widgets", {})
    models = next(iter(widgets.values()), {}).get("state", {})

    def images(model_id):
        model = models[model_id.removeprefix("IPY_MODEL_")]
        children = model["state"].get("children", [])
        return (model["model_name"] == "ImageModel") + sum(images(c) for c in children)

    return sum(images(model_id) for model_id in widget_views(path))


def test_index_lists_every_notebook_in_reading_order(site):
    index = (site / "index.html").read_text()
    assert re.findall(r'<li><a href="([^"]+)">', index) == [f"{p.stem}.html" for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_page_has_the_stored_figures_and_links_on(site, path):
    page = (site / f"{path.stem}.html").read_text()
    assert page.count('src="data:image/png;base64,') == stored_figures(path) + widget_images(path)
    i = NOTEBOOKS.index(path)
    previous = [f"{p.stem}.html" for p in NOTEBOOKS[max(i - 1, 0) : i]]
    following = [f"{p.stem}.html" for p in NOTEBOOKS[i + 1 : i + 2]]
    nav = re.findall(r'<nav class="site-nav" aria-label="[^"]+">(.*?)</nav>', page)
    assert len(nav) == 2, "navigation above and below the notebook"
    assert re.findall(r'href="([^"]+)"', nav[0]) == [*previous, "index.html", *following]
    assert not re.search(r'href="(?!https?:)[^"]*\.ipynb', page), "a link still points to a .ipynb"


def test_the_notation_page_is_linked_from_the_index_and_from_the_notebooks(site):
    page = (site / "NOTATION.html").read_text()
    assert page.count("<table>") == 3 and r"<td>$\sigma^2$</td>" in page
    assert '<script src="tex-svg-full.js">' in page and (site / "tex-svg-full.js").exists()
    assert 'href="NOTATION.html"' in (site / "index.html").read_text()
    linking = [path for path in NOTEBOOKS if "](NOTATION.md)" in path.read_text()]
    assert len(linking) >= 6, "the notebooks' first cells link the notation table"
    for path in NOTEBOOKS:
        page = (site / f"{path.stem}.html").read_text()
        assert ('href="NOTATION.html"' in page) == (path in linking)
        assert "NOTATION.md" not in page


def cited_ids(text):
    """The arXiv ids and DOIs in ``text``, as "arXiv:…" and "DOI …"."""
    arxiv = {f"arXiv:{i}" for i in re.findall(r"arXiv:\s*(\d{4}\.\d{4,5})", text)}
    doi = re.findall(r"(?i)\bdoi:?\s*(10\.\d{4,9}/\S+)", text)
    return arxiv | {f"DOI {d.rstrip('.,;')}" for d in doi}


def test_the_references_page_is_linked_from_the_index_and_lists_the_readme_section(site):
    assert 'href="references.html"' in (site / "index.html").read_text()
    page = (site / "references.html").read_text()
    listed = build_site.references(ROOT / "README.md")
    assert len(cited_ids(listed)) >= 20
    for cited in cited_ids(listed):
        kind, number = cited.split(":" if cited.startswith("arXiv") else " ", 1)
        url = f"https://arxiv.org/abs/{number}" if kind == "arXiv" else f"https://doi.org/{number}"
        assert f'<a href="{url}">{cited}</a>' in page
    assert page.count("<li>") == listed.count("\n- ") + listed.startswith("- ")


def test_every_reference_a_notebook_cites_is_in_the_combined_list():
    listed = cited_ids(build_site.references(ROOT / "README.md"))
    for path in NOTEBOOKS:
        cells = json.loads(path.read_text())["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        missing = cited_ids(text) - listed
        assert not missing, f"{path.name} cites {sorted(missing)}: add them to README's References"


def test_references_refuses_a_readme_without_the_section(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n\n## Layout\n")
    with pytest.raises(ValueError, match="no '## References' section"):
        build_site.references(readme)


def test_every_widget_shows_its_stored_state_without_scripts_from_a_cdn(site):
    shown = 0
    for path in NOTEBOOKS:
        page = (site / f"{path.stem}.html").read_text()
        assert page.count('<div class="site-widget">') == len(widget_views(path)), path.name
        assert "widget-state+json" not in page and "require.js" not in page, path.name
        assert not re.search(r'<script[^>]+src="https?:', page), f"{path.name} loads a CDN script"
        shown += len(widget_views(path))
    assert shown >= 14, "the slider figures and the progress bars of the stored runs"
    jensen = (site / "01_evidence_and_jensen.html").read_text()
    widget = jensen[jensen.index('<div class="site-widget">') :]
    slider = re.search(
        r"<label>spread of log Y, τ <input ([^>]*)/?> <span>1.20</span></label>", widget
    )
    assert slider and 'disabled=""' in slider[1] and 'value="1.2"' in slider[1]
    training = (site / "08_amortized_inference_and_gaps.html").read_text()
    assert '<progress aria-label="progress: 480 of 480" max="480" value="480">' in training
    assert re.search(r"480/480\s\[\d\d:\d\d&lt;00:00,\s[\d.]+step/s\]", training)


def image_alts(page):
    return [html.unescape(alt) for alt in re.findall(r'<img [^>]*?alt="([^"]*)"', page)]


@pytest.mark.parametrize("path", NOTEBOOKS + INSTRUCTORS, ids=lambda path: path.name)
def test_every_figure_has_alt_text_that_says_what_it_shows(site, path):
    page = (site / f"{path.stem}.html").read_text()
    figures = re.findall(r'<img [^>]*src="data:image/png;base64,[^>]*>', page)
    assert len(figures) == stored_figures(path) + widget_images(path)
    for figure in figures:
        (alt,) = image_alts(figure)
        assert alt != build_site.NO_ALT and len(alt) > 30, f"{path.name}: {alt!r}"
        assert "\\" not in alt and "``" not in alt and ":math:" not in alt, alt


def test_alt_text_comes_from_the_plotting_calls_and_titles_of_the_cell(site):
    page = (site / "01_evidence_and_jensen.html").read_text()
    assert image_alts(page)[2:5] == [
        "Jensen's inequality log E[Y] ≥ E[log Y] for a log-normal Y with E[Y] = 1 and spread τ"
        " (slider); the gap is τ²/2.",
        "Jensen's inequality log E[Y] ≥ E[log Y] for a log-normal Y with E[Y] = 1 and spread τ"
        " (slider); the gap is τ²/2. Shown at spread of log Y, τ = 1.20.",
        "The log-weights log r(z) = log p(x, z) - log q(z) of each q in qs (label → (μ, s²))"
        " against z, with log p(x): the ELBO is their q-average, and they are constant, equal to"
        " log p(x), exactly when q is the posterior.",
    ]
    page = (site / "07_vae_from_scratch.html").read_text()
    assert image_alts(page)[2] == (
        "The per-epoch training ELBO from train_vae's history, with an optional horizontal"
        " reference line. Titled: “Training the 2-D VAE written above”."
    )


def test_figure_descriptions_follow_the_calls_of_each_cell(tmp_path):
    (tmp_path / "draw.py").write_text(
        'def spread(ax, x):\n    r"""The spread of :math:`\\frac1S\\sum_s x_s` against S."""\n'
    )
    (tmp_path / "widgets.py").write_text('def explorer():\n    """A slider for σ."""\n')
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "from elbo_lib import widgets\nfrom elbo_lib.draw import spread\n"
            'def plot_mine(ax):\n    """My own figure, no network needed."""'
        ),
        nbformat.v4.new_code_cell("%matplotlib inline\nshown = widgets.explorer()"),
        nbformat.v4.new_code_cell("shown"),
        nbformat.v4.new_code_cell('plot_mine(ax)\nax.set_title(f"β = {beta}")'),
        nbformat.v4.new_code_cell("spread(ax, x)"),  # not a plotting module, not plot_*
        nbformat.v4.new_markdown_cell("plot_mine(ax)"),
    ]
    assert build_site.figure_descriptions(notebook, tmp_path) == {
        1: "A slider for σ.",
        2: "A slider for σ.",
        3: "My own figure, no network needed. Titled: “β = …”.",
    }


@pytest.mark.parametrize(
    ("source", "text"),
    [
        (r"\log\mathbb E[Y] \ge \mathbb E[\log Y]", "log E[Y] ≥ E[log Y]"),
        (r"\mathrm{KL}(q\,\|\,p(z\mid x))", "KL(q ‖ p(z | x))"),
        (r"\mu^* = \frac{wx}{w^2+\sigma^2}", "μ^* = wx/(w²+σ²)"),
        (r"\bar q(z) = \frac1N\sum_n q(z \mid x_n)", "q̄(z) = 1/N Σ_n q(z | x_n)"),
        (r"|\hat{\mathrm{KL}}_S - \mathrm{KL}|", "|KL̂_S - KL|"),
        (r"\sqrt{v_1 / S},\ 1/\sqrt S, \varepsilon, \Delta", "√(v_1 / S), 1/√S, ε, Δ"),
    ],
)
def test_tex_reads_as_plain_text(source, text):
    assert build_site.tex(source) == text


def test_plain_keeps_the_first_sentence_of_a_docstring():
    docstring = """Points in a 2-D latent space (e.g. posterior means), coloured by ``labels``
    (:func:`elbo_lib.data.load_digits`). Second sentence.

    Parameters."""
    assert build_site.plain(docstring) == (
        "Points in a 2-D latent space (e.g. posterior means), coloured by labels (load_digits)."
    )


def test_a_widget_is_its_controls_values_and_figure():
    models = {
        "box": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_a", "IPY_MODEL_b"]}},
        "a": {
            "model_name": "DropdownModel",
            "state": {"description": "decoder", "_options_labels": ["MLP", "MADE"], "index": 1},
        },
        "b": {
            "model_name": "ImageModel",
            "state": {"format": "png"},
            "buffers": [{"path": ["value"], "data": "iVBORw0K", "encoding": "base64"}],
        },
    }
    assert build_site.widget_html("box", models, "Two panels.") == (
        '<div class="site-widget"><div class="site-row"><span>decoder: MADE</span>'
        '<img src="data:image/png;base64,iVBORw0K" alt="Two panels. Shown at decoder = MADE.">'
        "</div></div>"
    )


def test_a_widget_without_a_static_view_is_refused():
    models = {"a": {"model_name": "OutputModel", "state": {"outputs": []}}}
    with pytest.raises(ValueError, match="no static view of a OutputModel"):
        build_site.widget_html("a", models, "alt")


def page_ids(page):
    return {unquote(i) for i in re.findall(r'\bid="([^"]+)"', page)}


def test_every_link_of_the_site_works(site):
    """Relative links and sources resolve to built pages and files, and their #fragments to an
    element of the target page; links that leave the site are https URLs, and the Binder and
    Colab links open a notebook of this repository."""
    pages = sorted(site.glob("*.html"))
    assert {"index.html", "NOTATION.html", "references.html"} <= {p.name for p in pages}
    ids = {page.name: page_ids(page.read_text()) for page in pages}
    checked = 0
    for page in pages:
        for link in re.findall(r'(?:href|src)="([^"]+)"', page.read_text()):
            link = html.unescape(link)
            if link.startswith("data:"):
                continue
            url = urlsplit(link)
            checked += 1
            if url.scheme:
                assert url.scheme == "https" and url.netloc, f"{page.name}: {link}"
                if url.netloc in ("mybinder.org", "colab.research.google.com") and ".ipynb" in link:
                    opened = re.search(r"/(?:tree|blob/main)/([^?#&]+\.ipynb)", unquote(link))
                    assert opened and (ROOT / opened[1]).is_file(), f"{page.name}: {link}"
                continue
            target = site / unquote(url.path) if url.path else page
            assert target.is_file(), f"{page.name} links {link}: no such file in the site"
            if url.fragment:
                assert unquote(url.fragment) in ids[target.name], f"{page.name}: {link}"
    assert checked > 300
