"""The GPU engines behind the STT/TTS seams: framing, ordering, flushing and slot release.

The engines themselves need torch and a GPU (measured in docs/gpu-benchmarks.md); here they are
stood in for by objects with the same methods, recording what the adapters hand them.
"""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from agent_core.audio.frames import AudioFrame
from agent_core.errors import ProviderError
from agent_core.tts.base import SpeechStyle, UnknownVoiceError
from modal_services.engines.kyutai_stt import FRAME, Word
from modal_services.engines.speech_adapters import ChatterboxSpeech, KyutaiSpeechToText


class FakeKyutaiStream:
    """Emits word i after frame 3*i+3, like the model's delayed text stream."""

    def __init__(self, engine):
        self.engine, self.frames, self.pause_probability = engine, [], 0.0
        self.closed = False

    def step(self, pcm):
        assert pcm.shape == (FRAME,) and pcm.dtype == np.float32
        assert threading.current_thread() is not threading.main_thread()  # never on the event loop
        time.sleep(0.001)
        self.frames.append(pcm.copy())
        self.pause_probability = min(1.0, len(self.frames) / 20)
        n = len(self.frames)
        return [Word(f"w{n // 3}", 0.0)] if n % 3 == 0 else []

    def flush(self):
        return [Word("last", 0.0)]

    def close(self):
        self.closed = True
        self.engine.free += 1


class FakeKyutaiEngine:
    batch_size, delay_s = 2, 0.5

    def __init__(self):
        self.free, self.streams = 2, []

    def open_stream(self):
        if not self.free:
            raise RuntimeError("all 2 STT slots are busy")
        self.free -= 1
        self.streams.append(FakeKyutaiStream(self))
        return self.streams[-1]


async def test_kyutai_stream_frames_in_order_and_flushes_the_delay():
    engine = FakeKyutaiEngine()
    stt = KyutaiSpeechToText(engine)
    stream = stt.open_stream()
    partials, pauses = [], []
    stream.on_partial, stream.on_pause_probability = partials.append, pauses.append
    ramp = np.linspace(-0.5, 0.5, 16000, dtype=np.float32)  # 1 s at 16 kHz
    for piece in AudioFrame.from_float32(ramp, 16000).split(0.02):
        stream.push(piece)
    text = await stream.finish()
    await stream.aclose()
    fake = engine.streams[0]
    fed = np.concatenate(fake.frames)
    # 1 s of speech at 24 kHz (resampled, in order), then >= 0.5 s of silence to flush the model's delay.
    assert len(fed) >= 24000 + 12000
    speech = fed[:23000]
    assert np.all(np.diff(speech[500:22500]) > -1e-3), "frames reached the engine out of order"
    assert np.allclose(fed[-12000:], 0)
    assert text == " ".join([f"w{i}" for i in range(1, len(fake.frames) // 3 + 1)] + ["last"])
    assert partials[0] == "w1" and partials[-1] == text
    assert pauses == sorted(pauses) and pauses[-1] > 0
    assert fake.closed and engine.free == 2  # the slot is free for the next caller
    await stt.aclose()


async def test_kyutai_full_container_is_a_provider_error_and_abandoned_streams_free_their_slot():
    engine = FakeKyutaiEngine()
    stt = KyutaiSpeechToText(engine)
    a, b = stt.open_stream(), stt.open_stream()
    with pytest.raises(ProviderError, match="busy"):
        stt.open_stream()
    a.push(AudioFrame.silence(0.5, 16000))
    await a.aclose()  # the caller hung up mid-utterance
    c = stt.open_stream()
    assert engine.free == 0
    for s in (b, c):
        await s.aclose()
    assert engine.free == 2
    await stt.aclose()


class FakeChatterbox:
    max_streams = 2

    def __init__(self):
        self.calls, self.closed_early = [], []
        self.clones = {}

    def voices(self):
        return sorted(self.clones)

    def synthesize_stream(self, text, *, voice=None, **options):
        self.calls.append((text, voice, options))
        try:
            for i in range(5):
                time.sleep(0.01)
                yield np.full(2400, 0.1 * (i + 1), np.float32)
        except GeneratorExit:
            self.closed_early.append(text)
            raise

    def clone_voice(self, name, wav_bytes):
        self.clones[name] = wav_bytes
        return name


async def test_chatterbox_streams_24khz_chunks_with_style_and_voices():
    engine = FakeChatterbox()
    tts = ChatterboxSpeech(engine)
    assert await tts.clone_voice("ada", b"RIFF....") == "ada"
    frames = [f async for f in tts.synthesize("Hello there.", voice="ada", style=SpeechStyle(exaggeration=0.8, seed=1))]
    assert [f.sample_rate for f in frames] == [24000] * 5
    assert AudioFrame.from_float32(np.full(2400, 0.3, np.float32), 24000).pcm == frames[2].pcm
    assert engine.calls[-1] == ("Hello there.", "ada", {"exaggeration": 0.8, "seed": 1})
    calls = len(engine.calls)
    with pytest.raises(UnknownVoiceError, match="unknown voice 'nobody' for chatterbox; known voices: default, ada"):
        [f async for f in tts.synthesize("Hi.", voice="nobody")]
    assert len(engine.calls) == calls  # refused, never spoken in another voice
    [f async for f in tts.synthesize("Hi.", voice="default")]
    [f async for f in tts.synthesize("Hi.")]
    assert [c[1] for c in engine.calls[-2:]] == [None, None]  # "default" and no voice: the checkpoint's own
    assert tts.voice_names() == ["default", "ada"]
    await tts.aclose()


async def test_chatterbox_keeps_namespaced_clones_apart():
    engine = FakeChatterbox()
    tts = ChatterboxSpeech(engine)
    assert await tts.clone_voice("ada", b"RIFF....", namespace="guild-1") == "guild-1/ada"
    assert await tts.clone_voice("bob", b"RIFF....", namespace="guild-2") == "guild-2/bob"
    [f async for f in tts.synthesize("Hi.", voice="guild-1/ada")]
    assert engine.calls[-1][1] == "guild-1/ada"
    with pytest.raises(UnknownVoiceError) as refused:
        [f async for f in tts.synthesize("Hi.", voice="guild-2/ada")]
    assert refused.value.known == ["default", "guild-2/bob"]  # guild 2 is never told of guild 1's voices
    await tts.aclose()


async def test_chatterbox_stops_generating_when_the_listener_stops():
    engine = FakeChatterbox()
    tts = ChatterboxSpeech(engine)
    frames = tts.synthesize("A long reply nobody will hear.")
    await anext(frames)
    await frames.aclose()
    for _ in range(100):
        if engine.closed_early:
            break
        await asyncio.sleep(0.01)
    assert engine.closed_early == ["A long reply nobody will hear."]
    await tts.aclose()
