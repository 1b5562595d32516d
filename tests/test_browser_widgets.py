"""Every widget notebook in a real browser: JupyterLab from this environment, headless Chromium.

nbval runs the cells without a widget frontend, so it cannot see a slider that fails to render
("Error displaying widget") or a figure that does not follow its slider. Here each notebook whose
stored outputs show a slider or a button is opened in JupyterLab (its stored outputs must show no
widget error), run from the top, and then every slider in its outputs is moved with the keyboard
(End, or Home at the top of its range): the figure of that cell must change and the kernel return
to idle, with no widget error, traceback or uncaught JavaScript error. In a cell with a Train
button the sliders set up the run and one press of Train must redraw (the β widget: one retrain,
its point added). Screenshots of each widget before and after go to build/widget-screenshots/.

Chromium is Debian's package (Playwright's own browser download needs the internet): without
/usr/bin/chromium the test is skipped, unless ELBO_REQUIRE_BROWSER=1 (set by .ci/run).
"""

import functools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SCREENSHOTS = ROOT / "build" / "widget-screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
INTERACTIVE = r"\w*SliderModel|ButtonModel"
# Settings that keep JupyterLab quiet and the notebook files untouched: no news or update
# checks, no autosave, every cell kept in the page (no virtual scrolling), and the notebook's own
# kernel started without asking (a kernel that starts slowly on a busy machine could otherwise
# leave a "Select Kernel" dialog over the page, and no cell runs).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker": {
        "windowingMode": "none",
        "autoStartDefaultKernel": True,
    },
}
RUN_TIMEOUT = 300  # s for "Run All Cells" (09 and 10 train models)
REDRAW_TIMEOUT = 90  # s for one slider move or one retrain, on a shared machine
START_TIMEOUT = 30  # s for "Run All Cells" to queue its first cell

# The outputs of a widget cell that must change when its slider moves: figures (<img>) and the
# contents of Output widgets; not the slider's own readout.
OUTPUT_SIGNATURE = """cell => [
    ...Array.from(cell.querySelectorAll('.jp-Cell-outputArea img'), img => img.src),
    ...Array.from(cell.querySelectorAll('.widget-output'), out => out.innerText),
]"""
IDLE = """() => {
    const status = document.querySelector('.jp-Notebook-ExecutionIndicator');
    const running = Array.from(document.querySelectorAll('.jp-InputPrompt'))
        .some(prompt => prompt.textContent.includes('*'));
    return status !== null && status.dataset.status === 'idle' && !running;
}"""


# a cell queued or running, or the kernel busy: "Run All Cells" has been taken
STARTED = """() => {
    const status = document.querySelector('.jp-Notebook-ExecutionIndicator');
    const queued = Array.from(document.querySelectorAll('.jp-InputPrompt'))
        .some(prompt => prompt.textContent.includes('*'));
    return queued || (status !== null && status.dataset.status !== 'idle');
}"""


def widget_notebooks():
    """The notebooks whose stored outputs show a slider or a button (not only progress bars).
    Without stored widget state, any stored widget counts."""
    found = []
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        notebook = json.loads(path.read_text())
        outputs = [out for cell in notebook["cells"] for out in cell.get("outputs", [])]
        if not any(WIDGET_VIEW in out.get("data", {}) for out in outputs):
            continue
        state = notebook["metadata"].get("widgets", {}).get(WIDGET_STATE, {}).get("state")
        models = [model["model_name"] for model in (state or {}).values()]
        if state is None or any(re.fullmatch(INTERACTIVE, model) for model in models):
            found.append(path.name)
    return found


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on a copy of notebooks/; yields its base URL."""
    if not CHROMIUM.exists():
        reason = f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)"
        if os.environ.get("ELBO_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + ", and ELBO_REQUIRE_BROWSER=1 requires the browser test")
        pytest.skip(reason)
    home = tmp_path_factory.mktemp("lab")
    shutil.copytree(NOTEBOOKS, home / "notebooks")
    settings = home / "settings"
    for plugin, values in LAB_SETTINGS.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = os.environ | {
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
    }
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--ServerApp.root_dir={home}",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        "--ServerApp.disable_check_xsrf=True",
    ]
    log = (home / "server.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (home / "server.log").read_text()
            try:
                with urllib.request.urlopen(f"{url}/api/status", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "JupyterLab did not start within 60 s"
                time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser(lab):
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def wait_for(page, condition, timeout, what):
    """Poll ``condition()`` until it holds three times in a row (the kernel may flicker idle)."""
    deadline = time.monotonic() + timeout
    streak = 0
    while streak < 3:
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        streak = streak + 1 if condition() else 0
        page.wait_for_timeout(200)


def answer_kernel_dialog(page):
    """Accept a "Select Kernel" dialog (the notebook's own kernel) if one is open: every cell waits
    for it."""
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    if dialog.count():
        dialog.locator(".jp-mod-accept").click()


def run_all_cells(page, cells, name, shots, attempts=3):
    """Run → Run All Cells, then wait until the page is idle with its widgets drawn. On a cold or
    busy JupyterLab a click can land before the menu takes it: when nothing has started within
    START_TIMEOUT s (no cell queued or running, no widget), click again. A screenshot of the page
    is kept when the run never ends."""
    for clicks in range(1, attempts + 1):
        what = f"{name}: Run All Cells to end with its widgets drawn ({clicks} clicks)"
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Run All Cells$")).click()
        deadline = time.monotonic() + START_TIMEOUT
        while not (page.evaluate(STARTED) or cells.count()) and time.monotonic() < deadline:
            answer_kernel_dialog(page)
            page.wait_for_timeout(200)
        if page.evaluate(STARTED) or cells.count():
            break
        page.keyboard.press("Escape")  # close a menu left open
    try:
        wait_for(
            page,
            lambda: answer_kernel_dialog(page) or (page.evaluate(IDLE) and cells.count() > 0),
            RUN_TIMEOUT,
            what,
        )
    except AssertionError:
        page.screenshot(path=shots / "run-all-cells-timed-out.png", full_page=True)
        raise


def assert_no_errors(page, name):
    text = page.locator(".jp-Notebook").inner_text()
    assert "Error displaying widget" not in text, f"{name}: a widget failed to render"
    assert "Traceback" not in text, f"{name}: a cell or a widget callback raised"


def shut_down_kernels(url):
    with urllib.request.urlopen(f"{url}/api/sessions") as response:
        sessions = json.load(response)
    for session in sessions:
        request = urllib.request.Request(f"{url}/api/sessions/{session['id']}", method="DELETE")
        urllib.request.urlopen(request).close()


def move(slider):
    """Press End on the slider's handle, or Home when it already sits at the top."""
    handle = slider.locator(".noUi-handle").first
    at_top = float(handle.get_attribute("aria-valuenow")) >= float(
        handle.get_attribute("aria-valuemax")
    )
    handle.focus()
    handle.press("Home" if at_top else "End")


def expect_redraw(page, cell, control, act, name, shots):
    """Screenshot the widget of ``control``, ``act()``, wait until the figure of ``cell`` changed
    and the kernel is idle, screenshot again."""
    label = control.inner_text().split("\n")[0].strip() or "slider"
    widget = control.locator("xpath=ancestor::div[contains(@class, 'jp-OutputArea-child')]")
    before = cell.evaluate(OUTPUT_SIGNATURE)
    assert before, f"{name}: the widget cell of {label!r} shows no figure"
    slug = re.sub(r"\W+", "_", label).strip("_")
    shot = shots / f"{len(list(shots.glob('*_before.png'))):02d}_{slug}"
    widget.screenshot(path=f"{shot}_before.png")
    act()

    def redrawn():
        return page.evaluate(IDLE) and cell.evaluate(OUTPUT_SIGNATURE) not in ([], before)

    wait_for(page, redrawn, REDRAW_TIMEOUT, f"{name}: the figure to change after {label!r}")
    widget.screenshot(path=f"{shot}_after.png")
    assert_no_errors(page, name)


def check_widget_cell(page, cell, name, shots):
    """Move each slider of ``cell`` and check that its figure follows. In a cell with a Train
    button the sliders only set up the next run: move them all, then train once, which must
    redraw. Returns the number of redraws checked."""
    sliders = cell.locator(".widget-slider").all()
    train = cell.locator("button.jupyter-button", has_text="Train")
    if train.count():
        for slider in sliders:
            move(slider)
        wait_for(page, lambda: page.evaluate(IDLE), REDRAW_TIMEOUT, f"{name}: idle after sliders")
        expect_redraw(page, cell, train.first, train.first.click, name, shots)
        return 1
    for slider in sliders:
        expect_redraw(page, cell, slider, functools.partial(move, slider), name, shots)
    return len(sliders)


@pytest.mark.parametrize("name", widget_notebooks())
def test_widgets_redraw_in_the_browser(lab, browser, name):
    shots = SCREENSHOTS / Path(name).stem
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page_errors = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    try:
        page.goto(f"{lab}/lab/workspaces/{Path(name).stem}/tree/notebooks/{name}?reset")
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator", timeout=60_000)
        wait_for(
            page,
            lambda: answer_kernel_dialog(page) or page.evaluate(IDLE),
            60,
            f"{name}: the kernel to start",
        )
        assert_no_errors(page, name)  # the stored outputs, as a student first sees them
        cells = page.locator(".jp-CodeCell").filter(
            has=page.locator(".widget-slider, .jupyter-button")
        )
        run_all_cells(page, cells, name, shots)
        assert_no_errors(page, name)
        checked = sum(
            check_widget_cell(page, cells.nth(i), name, shots) for i in range(cells.count())
        )
        assert checked, f"{name}: no slider or Train button in the rendered widgets"
        assert not page_errors, f"{name}: uncaught JavaScript errors: {page_errors}"
    finally:
        page.close()
        shut_down_kernels(lab)
