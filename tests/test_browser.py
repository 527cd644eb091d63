"""The HTML reports in a real browser: Debian's headless Chromium driven by Playwright.

The reports under test are made by the quick pipeline (all notebooks; it embeds audio players
and figures). In the browser every ``<audio>`` must decode (metadata loaded, duration > 0), every
``<img>`` must be loaded, and there must be no console error, no uncaught exception and no request
to the network. ``reports/index.html`` must open cleanly and link to the report.

Chromium is ``/usr/bin/chromium`` (``.ci/run`` installs the ``chromium`` package when it is missing);
Playwright never downloads a browser of its own here. Without Chromium or Playwright these tests
skip on a developer machine and fail under CI (``CI=true``), like the tests that need real audio.
``L2I_SCREENSHOT=1`` also saves the screenshot of the report to ``docs/report_screenshot.png``.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from _browser import chromium

ROOT = Path(__file__).resolve().parents[1]
LOCAL = ("file:", "data:", "blob:", "about:")

pytestmark = pytest.mark.browser

AUDIO_STATE = """async (timeoutMs) => {
  const wait = (el) => new Promise((resolve) => {
    const ready = () => el.readyState >= 1 && el.duration > 0;
    if (ready()) return resolve();
    const done = () => { if (ready() || el.error) resolve(); };
    el.addEventListener("loadedmetadata", done);
    el.addEventListener("durationchange", done);
    el.addEventListener("error", () => resolve());
    if (el.readyState === 0) el.load();
    setTimeout(resolve, timeoutMs);
  });
  const players = [...document.querySelectorAll("audio")];
  await Promise.all(players.map(wait));
  return players.map((el, i) => ({
    index: i, readyState: el.readyState, duration: el.duration,
    error: el.error ? el.error.code : null,
    src: (el.currentSrc || el.src || (el.querySelector("source") || {}).src || "").slice(0, 40),
  }));
}"""

IMAGE_STATE = """async () => {
  const images = [...document.images];
  await Promise.all(images.map((img) => img.complete ? null
    : new Promise((resolve) => { img.addEventListener("load", resolve); img.addEventListener("error", resolve); })));
  return images.map((img, i) => ({ index: i, complete: img.complete, naturalWidth: img.naturalWidth,
                                   src: (img.currentSrc || img.src).slice(0, 40) }));
}"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A persistent Chromium context on a fresh profile (``--user-data-dir`` in a temporary folder)."""
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


@pytest.fixture(scope="module")
def reports(quick_pipeline):
    """``reports/`` written by the quick pipeline for ESC-10 (every notebook; see conftest)."""
    return quick_pipeline / "reports"


class Page:
    """A page opened from a file, with what went wrong on it."""

    def __init__(self, context, path: Path):
        self.page = context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("request", lambda r: None if r.url.startswith(LOCAL) else self.requests.append(r.url))
        self.page.goto(path.resolve().as_uri(), wait_until="load")

    def settle(self) -> None:
        self.page.wait_for_timeout(500)  # late console messages
        assert not self.errors, self.errors
        assert not self.requests, f"the page fetched from the network: {self.requests}"


@pytest.mark.realdata
@pytest.mark.notebook
def test_report_players_decode_and_images_load(browser, reports, tmp_path):
    pages = sorted((reports / "esc10").glob("*.html"))
    assert len(pages) == 9, [p.name for p in pages]  # notebooks 00-08
    n_audio = 0
    for report in pages:
        view = Page(browser, report)
        audio = view.page.evaluate(AUDIO_STATE, 15_000)
        n_audio += len(audio)
        bad = [a for a in audio if not (a["readyState"] >= 1 and a["duration"] and a["duration"] > 0)]
        assert not bad, f"{report.name}: players that do not decode: {bad}"
        images = view.page.evaluate(IMAGE_STATE)
        assert images, f"{report.name} shows no figure"
        bad = [i for i in images if not (i["complete"] and i["naturalWidth"] > 0)]
        assert not bad, f"{report.name}: images that do not load: {bad}"
        view.settle()
        view.page.close()
    assert n_audio >= 30  # 00: one per class; 01: atoms; 05-07: interpretations, components, residuals
    view = Page(browser, reports / "esc10" / "00_data.html")
    view.page.locator("audio").first.scroll_into_view_if_needed()
    view.page.evaluate("window.scrollBy(0, -120)")
    shot = view.page.screenshot(path=str(tmp_path / "report.png"))
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and (tmp_path / "report.png").stat().st_size > 10_000
    if os.environ.get("L2I_SCREENSHOT") == "1":
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copyfile(tmp_path / "report.png", ROOT / "docs" / "report_screenshot.png")
    view.page.close()


@pytest.mark.realdata
@pytest.mark.notebook
def test_index_opens_cleanly_and_links_to_the_report(browser, reports, tmp_path):
    view = Page(browser, reports / "index.html")
    links = view.page.eval_on_selector_all("a[href]", "els => els.map(a => a.getAttribute('href'))")
    assert "esc10/00_data.html" in links
    view.settle()
    view.page.screenshot(path=str(tmp_path / "index.png"))
    view.page.click('a[href="esc10/00_data.html"]')
    view.page.wait_for_load_state("load")
    assert view.page.url.endswith("/esc10/00_data.html")
    assert view.page.locator("audio").count() >= 10
    view.settle()
    view.page.close()


def test_the_committed_index_shows_every_datasets_verdicts_on_its_first_screen(browser, tmp_path):
    """``reports/index.html`` of the last full run, at 1280 × 900: one card per dataset, each on the first screen, each
    with a verdict and its interval. ``L2I_SCREENSHOT=1`` saves that screen to ``docs/index_screenshot.png``."""
    import json

    index = ROOT / "reports" / "index.html"
    datasets = sorted(p.parent.name for p in (ROOT / "reports").glob("*/results.json")
                      if not json.loads(p.read_text()).get("quick"))
    assert datasets, "no committed full run"
    view = Page(browser, index)
    cards = view.page.eval_on_selector_all(
        "section.card", "els => els.map(e => ({name: e.dataset.dataset, top: e.getBoundingClientRect().top,"
                        " text: e.innerText}))")
    assert sorted(c["name"] for c in cards) == datasets
    for c in cards:
        assert c["top"] < 900 * 0.5, f"{c['name']}: its card starts below the first screen"
        assert re.search(r"\[-?[\d.]+, -?[\d.]+\]", c["text"]), f"{c['name']}: no verdict with an interval"
    shot = view.page.screenshot(path=str(tmp_path / "index.png"))
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("L2I_SCREENSHOT") == "1":
        shutil.copyfile(tmp_path / "index.png", ROOT / "docs" / "index_screenshot.png")
    view.settle()
    view.page.close()


def test_ci_installs_chromium_before_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "command -v chromium" in ci and "apt-get install -y chromium" in ci
    assert ci.index("apt-get install -y chromium") < ci.rindex("make test")
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test:.*\n\t\$\(PYTHON\) -m pytest -q\s*$", makefile, re.M), "make test is plain pytest -q"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'"browser: ', pyproject) and re.search(r'"playwright>=', pyproject)
    assert "-m 'not browser'" not in makefile and "not browser" not in pyproject
