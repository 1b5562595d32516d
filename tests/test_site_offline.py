"""The static site reads offline and passes an accessibility audit: in headless Chromium with
every request that would leave the machine refused, a page's math is typeset by the MathJax
served with it, not shown as ``$...$``; every widget shows its stored figure; and axe-core (npm's,
`make test` installs it) finds no violation on any page: WCAG 2.1 A/AA and axe's best practices
(landmarks, headings, ...).

Chromium is Debian's package: without /usr/bin/chromium the tests are skipped, unless
ELBO_REQUIRE_BROWSER=1 (set by .ci/run)."""

import importlib.util
import os
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "build" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
PAGE = "04_optimal_posterior_linear_gaussian.html"  # μ* = w x / (w² + σ²), inline and displayed
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
INSTRUCTORS = sorted((ROOT / "instructors").glob("*.ipynb"))
PAGES = [f"{p.stem}.html" for p in NOTEBOOKS + INSTRUCTORS]
PAGES += ["index.html", "NOTATION.html", "references.html"]
# The only requests a page may make off the machine: the badges of its run-online links (offline,
# the links read as their alt text, "Binder" and "Open in Colab").
BADGES = ("https://mybinder.org/badge_logo.svg", "https://colab.research.google.com/assets/")
spec = importlib.util.spec_from_file_location("build_site", ROOT / "tools" / "build_site.py")
build_site = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build_site)


@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.exists():
        reason = f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)"
        if os.environ.get("ELBO_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + ", and ELBO_REQUIRE_BROWSER=1 requires the browser test")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    build_site.build_site(ROOT / "notebooks", out)
    return out


def offline_page(browser, refused):
    """A new page of ``browser`` that loads files and data URLs only; the URL of every other
    request is appended to ``refused``."""
    page = browser.new_page()

    def offline(route):
        if route.request.url.startswith(("file:", "data:")):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", offline)
    return page


def typeset(page):
    """Wait until the MathJax of ``page`` (if it has one) has typeset it."""
    if page.locator('script[src$="tex-svg-full.js"]').count():
        page.wait_for_function("() => window.MathJax?.startup?.promise", timeout=60_000)
        page.evaluate("() => MathJax.startup.promise")


def test_math_is_typeset_with_the_network_blocked(chromium, site):
    page = chromium.new_page()
    refused, served = [], []

    def offline(route):
        url = route.request.url
        if url.startswith(("file:", "data:")):
            served.append(url)
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    page.route("**/*", offline)
    page.goto((site / PAGE).as_uri())
    page.wait_for_selector("mjx-container", timeout=60_000)
    page.wait_for_function("() => window.MathJax?.startup?.promise", timeout=60_000)
    page.evaluate("() => MathJax.startup.promise")
    markdown = page.locator(".jp-RenderedMarkdown").all_inner_texts()
    assert any(url.endswith(build_site.MATHJAX.name) for url in served)
    assert not any("mathjax" in url.lower() for url in refused), refused
    assert page.locator("mjx-container").count() >= 20
    assert page.locator("mjx-container[display=true]").count() >= 1
    for text in markdown:
        assert "$" not in text and "\\frac" not in text, f"raw LaTeX left: {text[:200]}"
    page.screenshot(path=ROOT / "build" / "site-offline.png")


def test_every_widget_shows_its_stored_frame_with_the_network_blocked(chromium, site):
    refused, shown = [], 0
    for name in PAGES:
        page = offline_page(chromium, refused)
        page.goto((site / name).as_uri())
        widgets = page.locator(".site-widget")
        for i in range(widgets.count()):
            widget = widgets.nth(i)
            figures = widget.locator("img")
            progress = widget.locator("progress")
            assert figures.count() + progress.count() >= 1, f"{name}: widget {i} shows nothing"
            for j in range(figures.count()):
                size = figures.nth(j).evaluate("img => [img.naturalWidth, img.naturalHeight]")
                assert min(size) > 100, f"{name}: the figure of widget {i} did not load"
                assert figures.nth(j).is_visible()
            shown += 1
        if name == "07_vae_from_scratch.html":
            widgets.first.screenshot(path=ROOT / "build" / "site-widget-offline.png")
        page.close()
    assert shown >= 14, "the slider figures and the progress bars of the stored runs"
    left = [url for url in refused if not url.startswith(BADGES)]
    assert left == [], f"requests that left the machine: {left}"


@pytest.mark.parametrize("name", PAGES)
def test_axe_finds_no_accessibility_violation(chromium, site, name):
    if not AXE.exists():
        pytest.fail(f"the accessibility audit needs npm's axe-core in {AXE}: make test")
    refused = []
    page = offline_page(chromium, refused)
    page.goto((site / name).as_uri())
    typeset(page)
    page.add_script_tag(path=AXE)
    violations = page.evaluate("() => axe.run(document).then(result => result.violations)")
    found = {v["id"]: [node["target"] for node in v["nodes"][:3]] for v in violations}
    assert found == {}, f"{name}: {found}"
    assert all(url.startswith(BADGES) for url in refused), refused
