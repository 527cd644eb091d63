"""``l2i lab`` in a real browser: Voilà serves notebook 07's listening lab, headless Chromium drives it.

The lab is served on 127.0.0.1 from the quick pipeline's artifacts (see conftest; set
``L2I_LAB_ARTIFACTS`` to a trained artifacts folder to reuse one instead, while iterating). The page
must render the widgets (Voilà executes the notebook first), then moving the τ slider and switching a
component toggle must each give the interpretation player a new, decodable sound and redraw the
relevance figure. No console error, no uncaught exception, no request beyond the server. The server
(and its kernel) is stopped whatever happens.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from _browser import chromium

from l2i_core.pipeline.lab import free_port, start_lab

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.realdata, pytest.mark.notebook]

RENDER_MS = 180_000  # Voilà runs the notebook (dataset, f on the test clips) before showing anything
UPDATE_S = 60.0  # one recomputation: masks, audio and two figures in the kernel

# What the page shows now: the interpretation player's source, the figures in the lab's Output widget,
# the info line, τ's readout and the toggles. Images are summarised (length and a checksum of the URI).
STATE = """() => {
  const sum = (s) => { let h = 0; for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0; return h; };
  const player = document.querySelector("audio.l2i-player-interpretation");
  const plots = document.querySelector(".l2i-plots");
  const figures = plots ? [...plots.querySelectorAll("img, canvas, svg")].map((el) =>
    el.tagName === "IMG" ? `img:${el.src.length}:${sum(el.src)}` : `${el.tagName}:${sum(el.outerHTML)}`) : [];
  return {
    src: player ? player.src : null,
    figures: figures,
    info: (document.querySelector(".l2i-info") || {}).innerText || "",
    tau: (document.querySelector(".l2i-tau .widget-readout") || {}).innerText || "",
    toggles: [...document.querySelectorAll("button.l2i-component")].map((b) =>
      ({ text: b.innerText, on: b.classList.contains("mod-active") })),
  };
}"""

# The interpretation's sound: its bytes (length and a checksum) and whether the browser decodes it.
SOUND = """async () => {
  const el = document.querySelector("audio.l2i-player-interpretation");
  const bytes = new Uint8Array(await (await fetch(el.src)).arrayBuffer());
  let h = 0; for (let i = 0; i < bytes.length; i++) h = (h * 31 + bytes[i]) | 0;
  await new Promise((resolve) => {
    const ready = () => el.readyState >= 1 && el.duration > 0;
    if (ready()) return resolve();
    el.addEventListener("loadedmetadata", resolve); el.addEventListener("error", resolve);
    if (el.readyState === 0) el.load();
    setTimeout(resolve, 15000);
  });
  return { length: bytes.length, checksum: h, duration: el.duration, error: el.error ? el.error.code : null };
}"""


@pytest.fixture(scope="module")
def lab_artifacts(request) -> Path:
    """Trained artifacts: ``$L2I_LAB_ARTIFACTS``, else the quick pipeline's ``artifacts/esc10-cpu-quick``."""
    given = os.environ.get("L2I_LAB_ARTIFACTS")
    if given:
        return Path(given)
    return request.getfixturevalue("quick_pipeline") / "artifacts" / "esc10-cpu-quick"


@pytest.fixture(scope="module")
def lab_server(lab_artifacts, data_root):
    """``l2i lab`` on a free port of 127.0.0.1 (a subprocess with this environment); stopped on teardown."""
    server = start_lab(lab_artifacts, host="127.0.0.1", port=free_port(), timeout=120)
    try:
        yield server
    finally:
        server.stop()
    assert not server.running()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


def _changed(now: dict, before: dict) -> bool:
    """Every figure redrawn (their number back to what it was: the Output widget has refilled)."""
    new, old = now["figures"], before["figures"]
    return len(new) == len(old) and all(a != b for a, b in zip(new, old))


def _wait_for(page, done, *, what: str) -> dict:
    """Poll the page's :data:`STATE` until ``done(state)`` holds, twice 300 ms apart (the page has settled)."""
    deadline = time.monotonic() + UPDATE_S
    while True:
        now = page.evaluate(STATE)
        if done(now):
            page.wait_for_timeout(300)
            if page.evaluate(STATE) == now:
                return now
            continue
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not done within {UPDATE_S:g} s; the page shows {now}")
        page.wait_for_timeout(250)


def _components(info: str) -> str:
    return info.split("component(s) on:")[1].split(";")[0].strip()


def test_lab_page_follows_tau_and_component_toggles(lab_server, browser):
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(lab_server.url))
    local = (origin + "/", "data:", "blob:" + origin + "/", "ws://" + urlsplit(lab_server.url).netloc + "/")
    errors: list[str] = []
    outside: list[str] = []
    page = browser.new_page()
    # Console warnings (Voilà's bundled JupyterLab 4.2 packages beside the widget manager's ^4.6
    # requirements, a debug line per websocket) are not errors and are not collected.
    page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("request", lambda r: None if r.url.startswith(local) else outside.append(r.url))
    page.on("websocket", lambda ws: None if ws.url.startswith(local) else outside.append(ws.url))
    try:
        t0 = time.monotonic()
        page.goto(lab_server.url, wait_until="domcontentloaded")
        page.wait_for_selector(".l2i-tau .noUi-handle", timeout=RENDER_MS)
        page.wait_for_selector("audio.l2i-player-interpretation", timeout=RENDER_MS)
        page.wait_for_function("document.querySelectorAll('.l2i-plots img').length >= 1", timeout=RENDER_MS)
        rendered = time.monotonic() - t0
        start = page.evaluate(STATE)
        assert start["tau"] == "0.20" and start["toggles"] and len(start["figures"]) == 2, start  # the paper's τ
        first = page.evaluate(SOUND)
        assert first["length"] > 1000 and first["duration"] > 0 and first["error"] is None, first

        # τ: keyboard on the slider's handle (noUiSlider): End = 0.95, Home = 0; one of them changes the selection.
        handle = page.locator(".l2i-tau .noUi-handle")
        state = start
        for key, readout in (("End", "0.95"), ("Home", "0.00")):
            handle.focus()
            handle.press(key)
            state = _wait_for(page, lambda now, src=state["src"], tau=readout: now["src"] != src and now["tau"] == tau,
                              what=f"τ -> {readout}")  # new players; the info line follows in the same update
            assert state["tau"] == readout, state
            if _components(state["info"]) != _components(start["info"]):
                break
        assert _components(state["info"]) != _components(start["info"]), (start["info"], state["info"])
        state = _wait_for(page, lambda now: _changed(now, start), what="the figures follow τ")
        moved = page.evaluate(SOUND)
        assert moved["duration"] > 0 and moved["error"] is None, moved
        assert (moved["length"], moved["checksum"]) != (first["length"], first["checksum"])

        # A component toggle: switch on one that is off (or off one that is on) -> exactly that change.
        toggles = page.locator("button.l2i-component")
        i = next((j for j, t in enumerate(state["toggles"]) if not t["on"]), 0)
        was_on = state["toggles"][i]["on"]
        k = state["toggles"][i]["text"].split("·")[0].strip()
        toggles.nth(i).click()
        toggled = _wait_for(page, lambda now: now["src"] != state["src"] and _changed(now, state),
                            what=f"toggle component {k}")
        assert toggled["toggles"][i]["on"] is (not was_on), toggled["toggles"]
        on_now = _components(toggled["info"]).strip("[]").replace(" ", "").split(",")
        assert (k in on_now) is (not was_on), (k, toggled["info"])
        sound = page.evaluate(SOUND)
        assert sound["duration"] > 0 and sound["error"] is None, sound
        assert (sound["length"], sound["checksum"]) != (moved["length"], moved["checksum"])

        page.wait_for_timeout(500)  # late console messages
        assert not errors, errors
        assert not outside, f"the lab fetched from beyond {origin}: {outside}"
        print(f"lab rendered in {rendered:.0f} s; τ and toggle checks in {time.monotonic() - t0 - rendered:.0f} s")
    finally:
        page.close()
    assert lab_server.running(), lab_server.log()[-2000:]
