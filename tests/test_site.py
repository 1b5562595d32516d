"""The static site: every notebook has its page, with its stored figures and the reading order."""

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
spec = importlib.util.spec_from_file_location("build_site", ROOT / "tools" / "build_site.py")
build_site = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build_site)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    pages = build_site.build_site(ROOT / "notebooks", out)
    assert [page.name for page in pages] == [f"{path.stem}.html" for path in NOTEBOOKS]
    return out


def stored_figures(path):
    cells = json.loads(path.read_text())["cells"]
    outputs = [out for cell in cells for out in cell.get("outputs", [])]
    return sum("image/png" in out.get("data", {}) for out in outputs)


def test_index_lists_every_notebook_in_reading_order(site):
    index = (site / "index.html").read_text()
    assert re.findall(r'<li><a href="([^"]+)">', index) == [f"{p.stem}.html" for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_page_has_the_stored_figures_and_links_on(site, path):
    page = (site / f"{path.stem}.html").read_text()
    assert page.count('src="data:image/png;base64,') == stored_figures(path)
    i = NOTEBOOKS.index(path)
    previous = [f"{p.stem}.html" for p in NOTEBOOKS[max(i - 1, 0) : i]]
    following = [f"{p.stem}.html" for p in NOTEBOOKS[i + 1 : i + 2]]
    nav = re.findall(r'<nav class="site-nav">(.*?)</nav>', page)
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
