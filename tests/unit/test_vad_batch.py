"""Batched VAD (one ONNX call for many speakers) decides exactly as one VAD per speaker does."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from agent_core.audio import AudioFrame
from agent_core.listener import Heard, Listener
from agent_core.turns import TurnDetector, TurnSettings, TurnSignal
from agent_core.vad import WINDOW_MS, SileroVad
from agent_core.vad_batch import VadBatch

RATE = 16000


def callers(jfk: AudioFrame) -> list[tuple[AudioFrame, float]]:
    """Four different callers (audio, frame length): shifted, quieter, noisier, cut short."""
    silence = AudioFrame.silence(0.37, RATE)
    jfk = AudioFrame(jfk.pcm + silence.pcm * 5, RATE)  # the recording ends mid-turn: let it end
    samples = jfk.to_float32()
    noise = np.random.default_rng(7).normal(0, 0.01, len(samples)).astype(np.float32)
    return [
        (jfk, 0.02),
        (AudioFrame(silence.pcm + jfk.pcm, RATE), 0.02),
        (AudioFrame.from_float32(samples * 0.3 + noise, RATE), 0.03),  # 30 ms: 0, 1 or 2 windows a frame
        (AudioFrame(jfk.pcm[int(2.3 * RATE) * 2 : int(7.1 * RATE) * 2] + silence.pcm * 5, RATE), 0.02),
    ]


def decisions(probabilities: list[float]) -> list[tuple[int, TurnSignal]]:
    detector = TurnDetector(TurnSettings(end_of_turn_signals="silence"), WINDOW_MS)
    return [(i, s) for i, p in enumerate(probabilities) if (s := detector.process(p)) is not None]


@pytest.mark.parametrize("max_batch", [16, 3])  # 3: a tick's windows run in several chunks
async def test_batched_probabilities_and_turns_match_one_vad_per_speaker(jfk, max_batch):
    streams = callers(jfk)
    alone = [SileroVad.shared().stream() for _ in streams]
    batch = VadBatch(SileroVad.shared(), tick_s=0.002, max_batch=max_batch)
    got: list[list[float]] = [[] for _ in streams]
    batched = [batch.stream(lambda probs, _waited, i=i: got[i].extend(probs)) for i in range(len(streams))]
    expected: list[list[float]] = [[] for _ in streams]
    pieces = [audio.split(frame_s) for audio, frame_s in streams]
    for step in range(max(len(p) for p in pieces)):
        for i, frames in enumerate(pieces):
            if step < len(frames):
                expected[i] += alone[i].process(frames[step])
                assert batched[i].process(frames[step]) == []  # the answer comes later
        if step % 3 == 2:  # let ticks run now and then: batches of one to three windows a speaker
            await asyncio.sleep(0.003)
    for _ in range(100):
        if all(len(g) == len(e) for g, e in zip(got, expected, strict=True)):
            break
        await asyncio.sleep(0.01)

    assert batch.windows / batch.runs > 1.5  # it did batch
    assert batch.windows == sum(len(e) for e in expected)
    for g, e in zip(got, expected, strict=True):
        assert len(g) == len(e)
        np.testing.assert_allclose(g, e, rtol=0, atol=1e-5)
        assert decisions(g) == decisions(e)
    assert all(any(s is TurnSignal.TURN_ENDED for _, s in decisions(e)) for e in expected)  # real turns
    assert decisions(expected[0]) != decisions(expected[1])  # and different ones


async def test_a_listener_on_the_batch_reports_the_same_turns_late(jfk):
    """The signals come through `on_late_signal`, dated back by how long the batch made them wait."""
    speech = AudioFrame(AudioFrame.silence(0.3, RATE).pcm + jfk.pcm[: 5 * RATE * 2] + bytes(RATE * 2), RATE)
    inline: list[Heard] = []
    late: list[tuple[Heard, int]] = []
    alone = Listener("a", SileroVad.shared(), TurnSettings(), preroll_ms=300)
    frames_fed = 0
    batched = Listener("b", VadBatch(SileroVad.shared(), tick_s=0.02), TurnSettings(), preroll_ms=300,
                       on_late_signal=lambda _listener, heard: late.append((heard, frames_fed)))
    for frame in speech.split(0.02):
        inline += alone.hear(frame)
        assert batched.hear(frame) == []
        frames_fed += 1
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.1)

    assert [h.signal for h in inline] == [TurnSignal.SPEECH_STARTED, TurnSignal.TURN_ENDED]
    assert [h.signal for h, _ in late] == [h.signal for h in inline]
    for (heard, _), reference in zip(late, inline, strict=True):
        assert heard.seconds_ago >= reference.seconds_ago
        assert heard.seconds_ago == pytest.approx(reference.seconds_ago, abs=0.2)


async def answered(got: list[list[float]], windows: int) -> None:
    for _ in range(200):
        if all(len(g) >= windows for g in got):
            return
        await asyncio.sleep(0.01)


class FailsOnce:
    """Silero that raises on its first batched run, as a broken onnxruntime call would."""

    def __init__(self) -> None:
        self.failed = False
        self.silero = SileroVad.shared()

    def infer_batch(self, windows: np.ndarray, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self.failed:
            self.failed = True
            raise RuntimeError("onnxruntime failed")
        return self.silero.infer_batch(windows, states)


async def test_a_failed_run_answers_its_windows_as_silence_and_the_next_tick_runs(jfk, caplog):
    batch = VadBatch(FailsOnce(), tick_s=0.002, max_batch=2)  # type: ignore[arg-type]  # a stand-in model
    got: list[list[float]] = [[], [], []]
    streams = [batch.stream(lambda probs, _waited, i=i: got[i].extend(probs)) for i in range(3)]
    speech = jfk.split(0.064)[:32]  # two windows a frame: 2 s of real speech
    for frame in speech[:2]:
        for stream in streams:
            stream.process(frame)
    await answered(got, 4)
    assert got == [[0.0] * 4] * 3  # every window answered: the failed chunk's and the rest of its tick's
    assert "batched VAD run failed: 12 windows" in caplog.text
    for frame in speech[2:]:
        for stream in streams:
            stream.process(frame)
    await answered(got, 64)
    assert all(len(g) == 64 and max(g[4:]) > 0.5 for g in got)  # later ticks ran the model: speech heard
