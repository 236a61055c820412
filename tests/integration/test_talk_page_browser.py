"""The talk page in headless Chromium with JFK on a fake microphone: heard, transcribed, answered aloud."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agent_core.settings import Settings
from agent_core.storage import Database
from parley.local_server import running_server
from parley.server import create_app
from tests.conftest import DATA
from tests.integration.conftest import words

pytestmark = pytest.mark.models
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Debian's chromium is missing: `make test` installs it (SYSTEM_PACKAGES)"
    return path


async def test_talk_page_hears_jfk_and_plays_a_reply(providers, settings: Settings, chromium, tmp_path):
    from playwright.async_api import async_playwright

    local = settings.model_copy(update={"public_url": None, "host": "127.0.0.1"})
    app = create_app(local, providers, db=Database.for_data_dir(tmp_path))
    ARTIFACTS.mkdir(exist_ok=True)
    async with running_server(app) as url, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=[
            "--use-fake-ui-for-media-stream",  # allow the microphone without a prompt
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={DATA / 'jfk.wav'}%noloop",
            "--autoplay-policy=no-user-gesture-required",
        ])
        page = await browser.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        page.on("response", lambda response: console.append(f"HTTP {response.status} {response.url}"))
        try:
            await page.goto(url + "/")
            await page.click("#start")
            await page.wait_for_function(
                # Whisper may split JFK at his pauses and punctuate freely: compare letters and spaces only.
                "window.parleyStats.transcripts.join(' ').toLowerCase().replace(/[^a-z ]/g, '').replace(/ +/g, ' ')"
                ".includes('ask not what your country')",
                timeout=90_000,
            )
            await page.wait_for_function(
                "window.parleyStats.responses >= 1 && window.parleyStats.playedSeconds > 0.5", timeout=90_000
            )
            stats = await page.evaluate("window.parleyStats")
            # The user's lines as the page shows them (the bot may answer between JFK's pauses).
            shown = " ".join(await page.locator("#transcript li.user").all_text_contents())
            await page.screenshot(path=str(ARTIFACTS / "talk-page.png"), full_page=True)
        finally:
            await browser.close()
    assert "ask not what your country" in words(shown)  # on the page, as the user sees it
    assert stats["audioDeltas"] > 5 and stats["playedSeconds"] > 0.5  # the reply reached the page's speakers
    assert stats["errors"] == [], (stats["errors"], console)
    assert not [line for line in console if line.startswith("HTTP 4")], console
    assert (ARTIFACTS / "talk-page.png").stat().st_size > 10_000
