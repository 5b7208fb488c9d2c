"""The web page in headless Chromium: upload examples/jfk.mp4, watch it get subtitled,
check what the page shows and offers, take a screenshot (AVSUB_UPDATE_SCREENSHOT=1
refreshes docs/screenshot.png, the one README.md shows).

Drives Debian's /usr/bin/chromium through Playwright (never a downloaded browser).
Without it this test fails rather than skips, so CI cannot pass it silently.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import INSTALL_HINT
from tests.media_factory import make_text
from tests.web_server import ROOT, running_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
]
JFK = ROOT / "examples" / "jfk.mp4"
# README's picture: refreshed only when asked (AVSUB_UPDATE_SCREENSHOT=1), so a test run does
# not dirty the checkout; the screenshot is always taken and checked in the test's own folder.
SCREENSHOT = ROOT / "docs" / "screenshot.png"

# The text track's cues showing at `seconds` once the player has seeked there.
CUES_AT = """async (seconds) => {
  const video = document.querySelector('#player video');
  if (video.readyState < 1) {
    await new Promise(done => video.addEventListener('loadedmetadata', done, {once: true}));
  }
  const seeked = new Promise(done => video.addEventListener('seeked', done, {once: true}));
  video.currentTime = seconds;
  await seeked;
  const track = video.textTracks[0];
  return track ? Array.from(track.activeCues || []).map(cue => cue.text) : null;
}"""


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: this test needs Debian's chromium; {INSTALL_HINT}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the playwright package is missing: pip install -r requirements-dev.txt")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.mark.browser
def test_upload_subtitle_play_and_download(browser, tmp_path):
    with running_server() as server:  # default limits: they show in the screenshot
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(server.url)
        model_info = page.locator("#model-info").inner_text()
        assert "default" in model_info and "device cpu" in model_info
        assert "visual branch inactive" in model_info

        page.locator("#media-upload input[type=file]").set_input_files(str(JFK))
        page.locator("#media-upload [aria-label='jfk.mp4']").wait_for()
        page.locator("#subtitle-button").click()
        page.get_by_text("Starting").first.wait_for(timeout=10_000)  # the progress bar
        page.wait_for_function(
            "document.querySelector('#cue-table').innerText.includes('your country')",
            timeout=120_000,
        )
        table = " ".join(page.locator("#cue-table").inner_text().split())
        assert "fellow Americans" in table and "your country" in table

        showing = page.evaluate(CUES_AT, 1.5)  # subtitles on the video itself
        assert showing and "fellow Americans" in " ".join(" ".join(showing).split())

        with page.expect_download() as download:
            page.locator("#downloads a[download='jfk.srt']").click()
        srt = " ".join(Path(download.value.path()).read_text().split())
        assert srt.startswith("1 00:00:00,") and " --> " in srt
        assert "fellow Americans" in srt and "your country" in srt

        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=tmp_path / "screenshot.png", full_page=True)
        assert (tmp_path / "screenshot.png").stat().st_size > 10_000
        if os.environ.get("AVSUB_UPDATE_SCREENSHOT") == "1":
            shutil.copyfile(tmp_path / "screenshot.png", SCREENSHOT)

        # A bad upload gets its one-line message in the page (limits: see test_web.py).
        page.reload()
        page.locator("#media-upload input[type=file]").set_input_files(
            make_text(tmp_path / "notes.mp4")
        )
        page.locator("#media-upload [aria-label='notes.mp4']").wait_for()
        page.locator("#subtitle-button").click()
        toast = page.locator("[data-testid=toast-text]", has_text="notes.mp4")
        assert toast.inner_text().startswith("notes.mp4: not a media file")
        assert "\n" not in toast.inner_text().strip()
