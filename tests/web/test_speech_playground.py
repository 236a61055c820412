"""The speech playground in headless Chromium against the real services app over a socket."""

from __future__ import annotations

import shutil

import httpx
import pytest

from agent_core.tts.base import SpeechStyle, VoiceInfo
from tests.services.kit import TOKEN, ToneTts, services

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is missing: `make test` installs it")


class SpeedOnlyTts(ToneTts):
    """A Piper-like backend: its registry lists speed and seed, so the page disables the Chatterbox knobs."""

    style_knobs = ("speed", "seed")

    def __init__(self) -> None:
        super().__init__()
        self.voices = ["tone", "bright"]

    def describe_voice(self, name: str) -> VoiceInfo:
        return VoiceInfo(name=name, backend="tone-tts", language="en-US", style=SpeechStyle(speed=1.0),
                         knobs=list(self.style_knobs))


@pytest.mark.parametrize("fmt", ["mp3", "wav"])
async def test_the_playground_synthesizes_with_the_chosen_voice_and_style(fmt):
    from playwright.async_api import async_playwright

    tts = SpeedOnlyTts()
    async with services(tts=tts) as url, async_playwright() as pw:
        async with httpx.AsyncClient() as http:  # the page itself holds no secret; the API checks the token
            assert (await http.get(url + "/playground")).status_code == 200
            assert (await http.get(url + "/v1/voices")).status_code == 401
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--autoplay-policy=no-user-gesture-required"])
        page = await browser.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        try:
            await page.goto(f"{url}/playground?token={TOKEN}")
            await page.wait_for_function("window.playgroundStats.voices === 2")
            await page.select_option("#voice", "bright")
            assert await page.is_disabled("#knob-exaggeration") and await page.is_disabled("#knob-cfg_weight")
            assert await page.is_disabled("#knob-temperature") and await page.is_enabled("#knob-speed")
            # the slider's range is SpeechStyle's own, read from the server
            assert (await page.get_attribute("#knob-speed", "min"), await page.get_attribute("#knob-speed", "max")) \
                == ("0.25", "4")
            await page.fill("#knob-speed", "1.5")
            await page.fill("#seed", "42")
            await page.select_option("#format", fmt)
            await page.fill("#text", "one two three four five")
            await page.click("#speak")
            await page.wait_for_function("window.playgroundStats.syntheses === 1 || window.playgroundStats.errors.length")
            stats = await page.evaluate("window.playgroundStats")
            await page.wait_for_function("document.getElementById('audio').readyState >= 1")  # the element decoded it too
            duration = await page.evaluate("document.getElementById('audio').duration")
            download = await page.get_attribute("#download", "download")
        finally:
            await browser.close()
    assert stats["errors"] == [], (stats["errors"], console)
    assert stats["lastRequest"] == {"model": "parley", "input": "one two three four five", "voice": "bright",
                                    "response_format": fmt, "speed": 1.5, "seed": 42}
    # ToneTts: 100 ms a word (decodeAudioData resamples to the context's rate: a sample either way)
    assert 0.49 <= stats["decodedSeconds"] <= 0.6 and 0.49 <= duration <= 0.6
    assert download == f"speech.{fmt}"
    assert (tts.styles[-1].speed, tts.styles[-1].seed, tts.styles[-1].exaggeration) == (1.5, 42, None)


async def test_the_playground_shows_the_apis_refusal():
    from playwright.async_api import async_playwright

    async with services(tts=SpeedOnlyTts()) as url, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM)
        page = await browser.new_page()
        try:
            await page.goto(f"{url}/playground?token={TOKEN}")
            await page.wait_for_function("window.playgroundStats.voices === 2")
            await page.fill("#text", "[laughs]")
            await page.click("#speak")
            await page.wait_for_function("window.playgroundStats.errors.length === 1")
            shown = await page.text_content("#status")
        finally:
            await browser.close()
    assert "nothing to say" in shown
