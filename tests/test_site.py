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
