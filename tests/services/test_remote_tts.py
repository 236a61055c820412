"""The remote TTS backend against the real service app over a real WebSocket."""

from __future__ import annotations

import asyncio

import pytest

from agent_core.errors import ProviderError
from agent_core.tts.base import SpeechStyle, UnsupportedStyleError
from tests.services.kit import SpeedLimitedTts, ToneTts, remote_tts, services, tone_chunk


async def collect(remote, text, **kw):
    return [frame async for frame in remote.synthesize(text, **kw)]


async def test_audio_arrives_chunk_by_chunk_as_the_engine_made_it():
    tts = ToneTts()
    async with services(tts=tts) as url:
        remote = remote_tts(url)
        await remote.load()
        frames = await collect(remote, "one two three", voice="tone", style=SpeechStyle(exaggeration=0.7, seed=4))
        await remote.aclose()
    assert [f.pcm for f in frames] == [tone_chunk(i).pcm for i in range(3)]  # the bytes on the wire
    assert {f.sample_rate for f in frames} == {24000}
    assert tts.styles[-1] == SpeechStyle(exaggeration=0.7, seed=4)
    assert remote.voice_names() == ["tone"] and remote.can_clone


async def test_barge_in_stops_the_engine_and_the_connection_is_reused_clean():
    tts = ToneTts(word_delay_s=0.05)
    async with services(tts=tts) as url:
        remote = remote_tts(url)
        long_reply = " ".join(["word"] * 40)
        frames = remote.synthesize(long_reply)
        first = await anext(frames)
        await frames.aclose()  # the caller spoke over the bot
        for _ in range(100):
            if tts.stopped_early:
                break
            await asyncio.sleep(0.02)
        assert tts.stopped_early == [long_reply]  # the engine stopped, not just the sending
        await asyncio.sleep(0.1)
        again = await collect(remote, "fresh reply")
        await remote.aclose()
    assert first.pcm == tone_chunk(0).pcm
    assert [f.pcm for f in again] == [tone_chunk(0).pcm, tone_chunk(1).pcm]  # nothing left over from before
    assert remote.pool.connects == 1


async def test_engine_fault_is_a_provider_error_and_the_connection_survives():
    tts = ToneTts(fail_on="boom")
    async with services(tts=tts) as url:
        remote = remote_tts(url)
        with pytest.raises(ProviderError, match="engine fault"):
            await collect(remote, "boom now")
        assert len(await collect(remote, "all good")) == 2
        await remote.aclose()
    assert remote.pool.connects == 1


async def test_silent_service_times_out_instead_of_dead_air():
    tts = ToneTts(word_delay_s=2.0)
    async with services(tts=tts) as url:
        remote = remote_tts(url, read_timeout_s=0.3)
        with pytest.raises(ProviderError, match="no audio from the service in 0.3 s"):
            await collect(remote, "slow words")
        await remote.aclose()


async def test_resampled_to_the_rate_the_client_asks_for():
    import json

    from websockets.asyncio.client import connect

    async with services(tts=ToneTts()) as url:
        ws_url = url.replace("http", "ws") + "/v1/tts/stream"
        async with connect(ws_url, additional_headers={"Authorization": "Bearer test-token"}, max_queue=None) as ws:
            await ws.send(json.dumps({"type": "speak", "id": "r", "text": "a b", "sample_rate": 8000}))
            start = json.loads(await ws.recv())
            audio = b""
            while isinstance(message := await ws.recv(), bytes):
                audio += message
            assert start == {"type": "start", "id": "r", "sample_rate": 8000}
            assert json.loads(message) == {"type": "done", "id": "r", "cancelled": False}
            assert abs(len(audio) // 2 - 1600) <= 16  # 200 ms at 8 kHz
            await ws.send(json.dumps({"type": "speak", "id": "x", "text": ""}))
            assert json.loads(await ws.recv())["type"] == "error"


async def test_a_refused_request_is_answered_by_its_id_not_left_to_time_out():
    async with services(tts=SpeedLimitedTts()) as url:
        remote = remote_tts(url, read_timeout_s=60)
        with pytest.raises(ProviderError, match="bad message"):  # the service refuses empty text by the request's id
            await collect(remote, "")
        with pytest.raises(UnsupportedStyleError, match="not 3.0"):
            await collect(remote, "hello", style=SpeechStyle(speed=3.0))
        assert len(await collect(remote, "still fine")) == 2  # the connection stays usable
        await remote.aclose()
