"""OpenAI's transcriptions route: the files browsers and phones make, every response format."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
from openai import AsyncOpenAI, BadRequestError

from agent_core.audio.frames import AudioFrame
from agent_core.stt.base import SttStream
from agent_core.stt.transcript import Segment, TimedWord, Transcript
from tests.services.kit import TOKEN, RecordingStt, services

# (container, codec, file name): MediaRecorder in Chrome/Firefox, Safari and phones, and the rest
RECORDINGS = [
    ("webm", "libopus", "chrome.webm"),
    ("ogg", "libopus", "firefox.ogg"),
    ("mp4", "aac", "safari.m4a"),
    ("adts", "aac", "phone.aac"),
    ("caf", "pcm_s16le", "iphone.caf"),
    ("mp3", "libmp3lame", "clip.mp3"),
    ("flac", "flac", "clip.flac"),
    ("wav", "pcm_s16le", "clip.wav"),
]


def recording(container: str, codec: str, seconds: float = 1.0, rate: int = 48000) -> bytes:
    """A tone in `container`, encoded the way a recorder would (PyAV, FFmpeg's codecs)."""
    out = io.BytesIO()
    with av.open(out, mode="w", format=container) as muxer:
        stream = muxer.add_stream(codec, rate=rate, layout="mono")
        samples = (0.2 * 32767 * np.sin(2 * np.pi * 220 * np.arange(int(seconds * rate)) / rate)).astype("<i2")
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            muxer.mux(packet)
    return out.getvalue()


@pytest.mark.parametrize(("container", "codec", "name"), RECORDINGS)
async def test_recordings_from_browsers_and_phones_are_heard_whole(container, codec, name):
    async with services(stt=RecordingStt()) as url:
        client = AsyncOpenAI(base_url=url + "/v1", api_key=TOKEN, max_retries=0)
        result = await client.audio.transcriptions.create(model="parley", file=(name, recording(container, codec)))
        await client.close()
    heard_s = int(result.text.split()[1]) / 32000  # RecordingStt: the bytes of 16 kHz s16le it got
    assert 0.98 <= heard_s <= 1.08, heard_s  # codecs pad a few dozen ms; nothing may be lost


class TimedStt(RecordingStt):
    """A stand-in that times segments and words, as Whisper does."""

    name = "timed-stt"
    languages = ("en", "fr")
    times_words = True

    def open_stream(self, *, language: str | None = None) -> SttStream:
        raise AssertionError("a recording is transcribed whole, not streamed")

    async def transcribe_recording(self, audio: AudioFrame, *, language=None, words=False) -> Transcript:
        self.check_language(language)
        segments = [Segment("Hello there.", 0.0, 0.5), Segment("General Kenobi.", 0.5, 1.25)]
        timed = [TimedWord("Hello", 0.0, 0.2), TimedWord("there.", 0.2, 0.5)] if words else None
        return Transcript("Hello there. General Kenobi.", language or "en", audio.duration_s, segments, timed)


async def test_every_response_format():
    wav = recording("wav", "pcm_s16le", seconds=1.25)
    async with services(stt=TimedStt()) as url:
        client = AsyncOpenAI(base_url=url + "/v1", api_key=TOKEN, max_retries=0)

        async def transcribe(**kw):
            return await client.audio.transcriptions.create(model="parley", file=("q.wav", wav), **kw)

        assert (await transcribe()).text == "Hello there. General Kenobi."
        assert str(await transcribe(response_format="text")) == "Hello there. General Kenobi."
        verbose = await transcribe(response_format="verbose_json", timestamp_granularities=["word", "segment"])
        assert (verbose.language, verbose.duration) == ("en", 1.25)
        assert [(s.start, s.end, s.text) for s in verbose.segments] == [(0.0, 0.5, "Hello there."),
                                                                         (0.5, 1.25, "General Kenobi.")]
        assert [(w.word, w.start, w.end) for w in verbose.words] == [("Hello", 0.0, 0.2), ("there.", 0.2, 0.5)]
        assert (await transcribe(response_format="verbose_json")).words is None
        assert str(await transcribe(response_format="srt")) == (
            "1\n00:00:00,000 --> 00:00:00,500\nHello there.\n\n2\n00:00:00,500 --> 00:00:01,250\nGeneral Kenobi.\n"
        )
        assert str(await transcribe(response_format="vtt")) == (
            "WEBVTT\n\n00:00:00.000 --> 00:00:00.500\nHello there.\n\n00:00:00.500 --> 00:00:01.250\nGeneral Kenobi.\n"
        )
        await client.close()


async def test_an_engine_without_timing_gives_one_segment_and_no_words():
    async with services(stt=RecordingStt()) as url:
        client = AsyncOpenAI(base_url=url + "/v1", api_key=TOKEN, max_retries=0)
        file = ("q.wav", recording("wav", "pcm_s16le"))
        verbose = await client.audio.transcriptions.create(model="parley", file=file, response_format="verbose_json")
        assert [(s.start, s.end) for s in verbose.segments] == [(0.0, 1.0)]
        with pytest.raises(BadRequestError, match="does not time words"):
            await client.audio.transcriptions.create(model="parley", file=file, timestamp_granularities=["word"])
        await client.close()


async def test_unknown_languages_and_formats_are_400s():
    async with services(stt=TimedStt()) as url:
        client = AsyncOpenAI(base_url=url + "/v1", api_key=TOKEN, max_retries=0)
        file = ("q.wav", recording("wav", "pcm_s16le"))
        with pytest.raises(BadRequestError, match="it knows: en, fr"):
            await client.audio.transcriptions.create(model="parley", file=file, language="de")
        with pytest.raises(BadRequestError, match="not an ISO 639-1 code"):
            await client.audio.transcriptions.create(model="parley", file=file, language="English")
        with pytest.raises(BadRequestError, match="response_format 'docx'"):
            await client.audio.transcriptions.create(model="parley", file=file, response_format="docx")  # type: ignore[arg-type]
        await client.close()


async def test_the_streaming_socket_refuses_an_unknown_language_by_request_id():
    import json

    from websockets.asyncio.client import connect

    async with services(stt=TimedStt()) as url:
        ws_url = url.replace("http", "ws") + "/v1/stt/stream"
        async with connect(ws_url, additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
            await ws.send(json.dumps({"type": "start", "id": "u1", "language": "de"}))
            error = json.loads(await ws.recv())
            assert (error["type"], error["id"]) == ("error", "u1") and "it knows: en, fr" in error["message"]
