"""The Kyutai STT engine's real architecture (Mimi + the STT LM, tiny and random) on the CPU.

Random weights write nonsense tokens, deterministically (greedy decoding): enough to prove what
the GPU service depends on. Concurrent streams share one batched state yet never each other's
audio; a slot starts clean for its next caller; the service and the remote backend carry the
engine's words unchanged over a real socket.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from agent_core.audio.frames import AudioFrame
from agent_core.errors import ProviderError
from modal_services.engines.kyutai_stt import FRAME, KyutaiSttEngine
from modal_services.engines.speech_adapters import KyutaiSpeechToText
from tests.services.kit import remote_stt, services

pytestmark = pytest.mark.models
TINY_LM = dict(dim=64, num_heads=2, num_layers=2, hidden_scale=2, depformer_dim=64, depformer_dim_feedforward=128,
               depformer_num_heads=2, depformer_num_layers=1, context=100)


@pytest.fixture(scope="module")
def engine() -> Iterator[KyutaiSttEngine]:
    # One intra-op thread: with several, how a sum is split across threads (which the BLAS may
    # change with the machine's load) changes its last bits, and a random LM's greedy choice
    # between near-tied tokens with it. On one thread every run computes the same sums.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    engine = KyutaiSttEngine(device="cpu", batch_size=2, cuda_graph_mimi=False)
    engine.load(random_weights=True, lm_config=TINY_LM)
    yield engine
    torch.set_num_threads(threads)


def frames(seed: int, n: int = 14) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(0.2 * rng.standard_normal(FRAME)).astype(np.float32) for _ in range(n)]


def run(engine: KyutaiSttEngine, audio: list[np.ndarray], out: dict, key: str,
        progress: threading.Event | None = None) -> None:
    stream = engine.open_stream()
    try:
        words, pauses = [], []
        for i, frame in enumerate(audio):
            words += [w.text for w in stream.step(frame)]
            pauses.append(stream.pause_probability)
            if progress is not None and i == 4:
                progress.set()
        out[key] = (words + [w.text for w in stream.flush()], pauses)
    finally:
        stream.close()


def test_concurrent_streams_never_share_state(engine):
    # A random LM's text changes from step to step, so a stream that inherited another's state
    # (or a slot that kept its last caller's) would write a different sequence.
    alone: dict = {}
    run(engine, frames(1), alone, "a")
    words, pauses = alone["a"]
    assert len(set(words)) > 2 and len(set(pauses)) > 2
    together: dict = {}
    five_steps_in = threading.Event()
    first = threading.Thread(target=run, args=(engine, frames(1), together, "a", five_steps_in))
    first.start()
    assert five_steps_in.wait(120)
    second = threading.Thread(target=run, args=(engine, frames(1), together, "b"))  # joins mid-stream
    second.start()
    first.join(120), second.join(120)
    assert not first.is_alive() and not second.is_alive()
    # Batched with another caller, started at another time, each stream writes what it wrote alone.
    assert together == {"a": alone["a"], "b": alone["a"]}
    again: dict = {}
    run(engine, frames(1), again, "a")  # a reused slot starts clean
    assert again == alone


def test_a_stream_opened_between_another_streams_steps_starts_at_its_own_first_frame(engine):
    # Opening resets the slot, and moshi's reset also marks the slot to run; a step for the other
    # stream alone must still leave it untouched until its first frame (found by the test above
    # on a busy machine, where the second stream's frames often miss the first one's steps).
    alone: dict = {}
    run(engine, frames(1), alone, "b")
    first = engine.open_stream()
    try:
        first.step(frames(2)[0])
        second = engine.open_stream()
        try:
            first.step(frames(2)[1])  # the second stream has no frame in this step
            words, pauses = [], []
            for frame in frames(1):
                words += [w.text for w in second.step(frame)]
                pauses.append(second.pause_probability)
            heard = (words + [w.text for w in second.flush()], pauses)
        finally:
            second.close()
    finally:
        first.close()
    assert heard == alone["b"]


async def test_service_carries_the_engines_words_over_a_socket(engine):
    audio = AudioFrame.from_float32(np.random.default_rng(5).standard_normal(16000).clip(-3, 3) * 0.2, 16000)
    stt = KyutaiSpeechToText(engine)

    async def through(backend) -> tuple[str, list[str], list[float]]:
        stream = backend.open_stream()
        partials, pauses = [], []
        stream.on_partial, stream.on_pause_probability = partials.append, pauses.append
        for piece in audio.split(0.02):
            stream.push(piece)
        text = await stream.finish()
        await stream.aclose()
        return text, partials, pauses

    local = await through(stt)
    async with services(stt=stt) as url:
        remote = remote_stt(url)
        over_the_wire = await through(remote)
        # The service frees the remote stream's slot as its socket closes, just after finish().
        for _ in range(200):
            if engine.free_slots == engine.batch_size:
                break
            await asyncio.sleep(0.05)
        # A third caller on a two-slot container is refused cleanly, and the slots are all free again.
        a, b = engine.open_stream(), engine.open_stream()
        stream = remote.open_stream()
        stream.push(audio)
        with pytest.raises(ProviderError, match="slots are busy"):
            await stream.finish()
        a.close(), b.close()
        await remote.aclose()
    await stt.aclose()
    assert local[0] and over_the_wire[0] == local[0]
    assert over_the_wire[1] == local[1]  # the same partials, in order
    assert len(over_the_wire[2]) >= 12 and all(0.0 <= p <= 1.0 for p in over_the_wire[2])
