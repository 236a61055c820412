from __future__ import annotations

from pathlib import Path

import pytest

from agent_core.audio import AudioFrame, read_wav

DATA = Path(__file__).parent / "data"
# jfk.wav: J. F. Kennedy, 1961 inaugural address (public domain), 16 kHz mono, 11 s.
JFK_TRANSCRIPT = "And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country."


@pytest.fixture(scope="session")
def jfk() -> AudioFrame:
    return read_wav(DATA / "jfk.wav")


@pytest.fixture(scope="session")
def jfk_opening(jfk: AudioFrame) -> AudioFrame:
    """0.0-2.6 s: "And so, my fellow Americans" - one utterance, then a pause in the recording."""
    return AudioFrame(jfk.pcm[: int(2.6 * 16000) * 2], 16000)
