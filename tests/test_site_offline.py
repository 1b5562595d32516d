"""The static site reads offline: in headless Chromium with every request that would leave the
machine refused, a page's math is typeset by the MathJax served with it, not shown as ``$...$``.

Chromium is Debian's package: without /usr/bin/chromium the test is skipped, unless
ELBO_REQUIRE_BROWSER=1 (set by .ci/run)."""

import importlib.util
import os
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
PAGE = "04_optimal_posterior_linear_gaussian.html"  # μ* = w x / (w² + σ²), inline and displayed
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


def test_math_is_typeset_with_the_network_blocked(chromium, tmp_path):
    build_site.build_site(ROOT / "notebooks", tmp_path)
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
    page.goto((tmp_path / PAGE).as_uri())
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
