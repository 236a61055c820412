"""The remote STT backend against the real service app over a real WebSocket."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from websockets.asyncio.client import connect

from agent_core.audio.frames import AudioFrame
from agent_core.errors import ProviderError
from parley.local_server import free_port
from tests.services.kit import TOKEN, RecordingStt, remote_stt, services


def speech(seconds: float, seed: int = 0) -> AudioFrame:
    rng = np.random.default_rng(seed)
    return AudioFrame.from_float32(0.3 * rng.standard_normal(int(16000 * seconds)).clip(-1, 1), 16000)


async def test_utterance_streams_and_comes_back_as_text():
    stt = RecordingStt()
    async with services(stt=stt) as url:
        remote = remote_stt(url)
        stream = remote.open_stream()
        partials, pauses = [], []
        stream.on_partial = partials.append
        stream.on_pause_probability = pauses.append
        audio = speech(1.0)
        for piece in audio.split(0.02):
            stream.push(piece)
        stream.speaker_paused()
        text = await stream.finish()
        await stream.aclose()
        await remote.aclose()
    assert text == f"heard {len(audio.pcm)} bytes"
    assert stt.received == [audio.pcm]  # every byte, in order
    assert stt.paused == 1
    assert partials and partials[-1] == f"{len(audio.pcm)} bytes"
    assert pauses and pauses[-1] == 0.25


async def test_connections_are_reused_across_utterances():
    stt = RecordingStt()
    async with services(stt=stt) as url:
        remote = remote_stt(url)
        await remote.load()  # opens one connection ahead of the first utterance
        for seed in range(3):
            stream = remote.open_stream()
            stream.push(speech(0.2, seed))
            assert (await stream.finish()).startswith("heard")
            await stream.aclose()
        assert remote.pool.connects == 1
        await remote.aclose()
    assert len(stt.received) == 3


async def test_dropped_connection_replays_the_whole_utterance():
    stt = RecordingStt(drop_first_after_bytes=8000)  # the service fails a quarter second in
    async with services(stt=stt) as url:
        remote = remote_stt(url)
        stream = remote.open_stream()
        audio = speech(1.0, seed=3)
        for piece in audio.split(0.02):
            stream.push(piece)
            await asyncio.sleep(0)
        text = await stream.finish()
        await remote.aclose()
    assert text == f"heard {len(audio.pcm)} bytes"
    assert stt.received == [audio.pcm]  # nothing lost, nothing doubled
    assert remote.pool.connects == 2


async def test_cancelled_utterance_is_closed_on_the_service():
    stt = RecordingStt()
    async with services(stt=stt) as url:
        remote = remote_stt(url)
        stream = remote.open_stream()
        stream.push(speech(0.3))
        await asyncio.sleep(0.2)
        await stream.aclose()  # the Session abandoned it (e.g. the caller hung up)
        for _ in range(100):
            if stt.closed:
                break
            await asyncio.sleep(0.02)
        # The connection goes back to the pool and serves the next utterance cleanly.
        stream = remote.open_stream()
        stream.push(speech(0.1))
        assert await stream.finish() == f"heard {len(speech(0.1).pcm)} bytes"
        await remote.aclose()
    assert stt.closed >= 1
    assert stt.received == [speech(0.1).pcm]
    assert remote.pool.connects == 1


async def test_wrong_token_is_refused_without_retrying():
    async with services(stt=RecordingStt()) as url:
        remote = remote_stt(url, token="wrong")
        stream = remote.open_stream()
        stream.push(speech(0.1))
        with pytest.raises(ProviderError, match="refused the credentials"):
            await stream.finish()
        assert remote.pool.connects == 0
        await remote.aclose()


async def test_unreachable_service_fails_the_turn_after_backoff():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    remote = remote_stt(url, attempts=3, backoff_s=0.05, connect_timeout_s=0.5)
    await remote.load()  # logs, does not raise: the platform stays up while a service is down
    stream = remote.open_stream()
    stream.push(speech(0.1))
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ProviderError, match="cannot reach"):
        await stream.finish()
    assert loop.time() - started >= 0.05 + 0.15  # backed off between the three attempts
    await remote.aclose()


async def test_service_answers_bad_messages_with_errors_and_keeps_the_connection():
    async with services(stt=RecordingStt()) as url:
        ws_url = url.replace("http", "ws") + "/v1/stt/stream"
        async with connect(ws_url, additional_headers={"Authorization": f"Bearer {TOKEN}"}, max_queue=None) as ws:
            await ws.send("not json")
            assert json.loads(await ws.recv())["type"] == "error"
            await ws.send(json.dumps({"type": "start", "id": "a", "sample_rate": 3}))
            error = json.loads(await ws.recv())
            assert error == {"type": "error", "id": "a", "message": error["message"]} and "8000" in error["message"]
            await ws.send(json.dumps({"type": "finish", "id": "nope"}))
            assert json.loads(await ws.recv())["message"] == "no open utterance with this id"
            # Still usable: an 8 kHz utterance is resampled to 16 kHz on the service.
            await ws.send(json.dumps({"type": "start", "id": "b", "sample_rate": 8000}))
            await ws.send(b"\x00\x01" * 8000)  # one second at 8 kHz
            await ws.send(b"\x00")  # odd length: not 16-bit PCM
            await ws.send(json.dumps({"type": "finish", "id": "b"}))
            messages = [json.loads(await ws.recv())]
            while messages[-1]["type"] != "final":
                messages.append(json.loads(await ws.recv()))
            assert any("16-bit PCM" in m.get("message", "") for m in messages)
            heard = int(messages[-1]["text"].split()[1])
            assert abs(heard - 32000) <= 64  # about one second at 16 kHz
