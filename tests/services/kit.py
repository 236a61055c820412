"""Engines with known behaviour behind the real service app, and a running server for it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import numpy as np

from agent_core.audio.frames import AudioFrame
from agent_core.remote.connections import ServiceEndpoint, websocket_url
from agent_core.remote.protocol import STT_PATH, TTS_PATH
from agent_core.stt.base import SpeechToText, SttStream
from agent_core.stt.remote import RemoteStt
from agent_core.tts.base import SpeechStyle, TextToSpeech, UnsupportedStyleError, namespaced_voice
from agent_core.tts.remote import RemoteTts
from modal_services.service import create_services_app
from parley.local_server import running_server

TOKEN = "test-token"


class RecordingStt(SpeechToText):
    """Transcribes to the number of bytes it received, and keeps them; the first stream may drop."""

    name = "recording-stt"

    def __init__(self, *, drop_first_after_bytes: int | None = None) -> None:
        self.received: list[bytes] = []  # all audio of each finished utterance
        self.closed = 0
        self.paused = 0
        self.drop_after = drop_first_after_bytes

    def open_stream(self, *, language: str | None = None) -> SttStream:
        return _RecordingStream(self)


class _RecordingStream(SttStream):
    def __init__(self, owner: RecordingStt) -> None:
        super().__init__()
        self.owner, self.audio = owner, bytearray()

    def push(self, frame: AudioFrame) -> None:
        assert frame.sample_rate == 16000
        self.audio += frame.pcm
        if self.owner.drop_after is not None and len(self.audio) > self.owner.drop_after:
            self.owner.drop_after = None
            raise ConnectionResetError("engine fault: the service drops this connection")
        if self.on_partial is not None:
            self.on_partial(f"{len(self.audio)} bytes")
        if self.on_pause_probability is not None:
            self.on_pause_probability(0.25)

    def speaker_paused(self) -> None:
        self.owner.paused += 1

    async def finish(self) -> str:
        self.owner.received.append(bytes(self.audio))
        return f"heard {len(self.audio)} bytes"

    async def aclose(self) -> None:
        self.owner.closed += 1


class ToneTts(TextToSpeech):
    """One 100 ms tone chunk per word at 24 kHz; `word_delay_s` paces them like a real engine."""

    name = "tone-tts"
    can_clone = True

    def __init__(self, *, word_delay_s: float = 0.0, fail_on: str | None = None) -> None:
        self.word_delay_s = word_delay_s
        self.fail_on = fail_on
        self.started: list[str] = []
        self.stopped_early: list[str] = []
        self.styles: list[SpeechStyle | None] = []
        self.voices = ["tone"]

    def voice_names(self) -> list[str]:
        return list(self.voices)

    async def clone_voice(self, name: str, wav_bytes: bytes, *, namespace: str | None = None) -> str:
        assert wav_bytes[:4] == b"RIFF"
        voice = namespaced_voice(namespace, name) if namespace else name
        self.voices.append(voice)
        return voice

    async def synthesize(self, text, *, voice=None, style=None) -> AsyncIterator[AudioFrame]:
        self.started.append(text)
        self.styles.append(style)
        if self.fail_on and self.fail_on in text:
            raise RuntimeError("engine fault")
        done = False
        try:
            for i, _word in enumerate(text.split()):
                if self.word_delay_s:
                    await asyncio.sleep(self.word_delay_s)
                yield tone_chunk(i)
            done = True
        finally:
            if not done:
                self.stopped_early.append(text)


class SpeedLimitedTts(ToneTts):
    """Refuses speeds above 2.0, as hibari does, before any audio."""

    async def synthesize(self, text, *, voice=None, style=None) -> AsyncIterator[AudioFrame]:
        if style and style.speed and style.speed > 2:
            raise UnsupportedStyleError(f"speaks at speed 0.5-2.0, not {style.speed}")
        async for frame in super().synthesize(text, voice=voice, style=style):
            yield frame


def tone_chunk(index: int) -> AudioFrame:
    t = np.arange(2400) / 24000
    return AudioFrame.from_float32(0.2 * np.sin(2 * np.pi * (200 + 50 * index) * t), 24000)


def endpoint(base_url: str, path: str, token: str | None = TOKEN, **kw) -> ServiceEndpoint:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return ServiceEndpoint(websocket_url(base_url, path), headers=headers, **kw)


def remote_stt(base_url: str, **kw) -> RemoteStt:
    return RemoteStt(endpoint(base_url, STT_PATH, **kw))


def remote_tts(base_url: str, **kw) -> RemoteTts:
    return RemoteTts(endpoint(base_url, TTS_PATH, **kw), base_url=base_url)


@asynccontextmanager
async def services(stt=None, tts=None, llm=None, token: str | None = TOKEN, voice_aliases=None) -> AsyncIterator[str]:
    app = create_services_app(stt=stt, tts=tts, llm=llm, token=token, voice_aliases=voice_aliases)
    async with running_server(app) as url:
        yield url
