"""OpenAI's speech API, through the official `openai` client against the real app over a socket."""

from __future__ import annotations

import base64
import io
import json
import wave

import av
import httpx
import pytest
from openai import AsyncOpenAI, BadRequestError

from tests.services.kit import TOKEN, SpeedLimitedTts, ToneTts, services, tone_chunk

AUTH = {"Authorization": f"Bearer {TOKEN}"}
WORDS = "one two three four five"  # ToneTts: 100 ms of tone per word, so 0.5 s


def decoded_seconds(body: bytes) -> float:
    with av.open(io.BytesIO(body)) as container:
        rate = container.streams.audio[0].rate
        return sum(frame.samples for frame in container.decode(audio=0)) / rate


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav"])
async def test_every_container_format_decodes_to_the_spoken_length(fmt):
    async with services(tts=ToneTts()) as url:
        client = AsyncOpenAI(base_url=url + "/v1", api_key=TOKEN)
        for path in ("/audio/speech", "/audio/speech/stream"):
            response = await client.post(path, body={"input": WORDS, "voice": "tone", "response_format": fmt},
                                         cast_to=httpx.Response)
            body = response.content
            # mp3 and aac add an encoder delay and pad the last frame (under 90 ms); nothing may be lost
            assert 0.5 <= decoded_seconds(body) <= 0.59, (fmt, path)
        await client.close()


async def test_speech_default_is_mp3_as_openai_and_pcm_is_24khz():
    async with services(tts=ToneTts()) as url:
        client = AsyncOpenAI(base_url=url + "/v1", api_key=TOKEN)
        async with client.audio.speech.with_streaming_response.create(model="parley", voice="tone", input=WORDS) as r:
            assert r.headers["content-type"] == "audio/mpeg"
            assert 0.5 <= decoded_seconds(await r.read()) <= 0.59
        async with client.audio.speech.with_streaming_response.create(
            model="parley", voice="tone", input="one two", response_format="pcm"
        ) as r:
            assert await r.read() == tone_chunk(0).pcm + tone_chunk(1).pcm
        await client.close()


async def test_wav_has_an_exact_header_and_the_stream_alias_an_open_one():
    async with services(tts=ToneTts()) as url, httpx.AsyncClient(base_url=url, headers=AUTH) as http:
        body = (await http.post("/v1/audio/speech", json={"input": WORDS, "response_format": "wav"})).content
        with wave.open(io.BytesIO(body)) as wav:
            assert (wav.getframerate(), wav.getnframes()) == (24000, 5 * 2400)
        assert int.from_bytes(body[4:8], "little") == len(body) - 8
        streamed = (await http.post("/v1/audio/speech/stream", json={"input": WORDS, "response_format": "wav"})).content
        assert streamed[4:8] == b"\xff\xff\xff\xff" and streamed[44:] == body[44:]


async def test_sse_sends_openai_delta_and_done_events():
    async with services(tts=ToneTts()) as url:
        client = AsyncOpenAI(base_url=url + "/v1", api_key=TOKEN)
        async with client.audio.speech.with_streaming_response.create(
            model="parley", voice="tone", input="one two three", response_format="pcm", stream_format="sse"
        ) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = [json.loads(line[6:]) async for line in response.iter_lines() if line.startswith("data: ")]
        await client.close()
    assert [e["type"] for e in events] == ["speech.audio.delta"] * 3 + ["speech.audio.done"]
    audio = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    assert audio == b"".join(tone_chunk(i).pcm for i in range(3))
    assert set(events[-1]["usage"]) == {"input_tokens", "output_tokens", "total_tokens"}


async def test_speed_and_style_reach_the_engine():
    tts = ToneTts()
    async with services(tts=tts) as url:
        client = AsyncOpenAI(base_url=url + "/v1", api_key=TOKEN)
        await client.audio.speech.create(model="parley", voice="tone", input="hi", speed=1.5,
                                         extra_body={"seed": 7, "exaggeration": 0.8})
        await client.close()
    assert (tts.styles[-1].speed, tts.styles[-1].seed, tts.styles[-1].exaggeration) == (1.5, 7, 0.8)


async def test_text_is_normalized_unless_asked_not_to_and_tags_are_never_spoken():
    tts = ToneTts()
    async with services(tts=tts) as url, httpx.AsyncClient(base_url=url, headers=AUTH) as http:
        for body in ({"input": "I have 3 cats [laughs]"}, {"input": "I have 3 cats *sighs*", "normalize": False}):
            assert (await http.post("/v1/audio/speech", json={**body, "response_format": "pcm"})).status_code == 200
    assert tts.started == ["I have three cats", "I have 3 cats"]


async def test_tags_become_per_sentence_exaggeration_where_the_backend_has_it():
    """The conversation path's sentence_style, on the speech API: "[laughs]" livens its sentence only."""
    tts = ToneTts()
    tts.style_knobs = ("speed", "exaggeration", "cfg_weight")
    async with services(tts=tts) as url:
        client = AsyncOpenAI(base_url=url + "/v1", api_key=TOKEN)
        await client.audio.speech.create(model="parley", voice="tone", response_format="pcm",
                                         input="That is funny [laughs]. Now the weather for today.",
                                         extra_body={"exaggeration": 0.5})
        await client.close()
    assert tts.started == ["That is funny.", "Now the weather for today."]
    lively, plain = tts.styles
    assert (lively.exaggeration, lively.cfg_weight) == (pytest.approx(0.85), 0.3)
    assert (plain.exaggeration, plain.cfg_weight) == (0.5, None)


async def test_client_mistakes_are_4xx_with_a_reason():
    async with services(tts=SpeedLimitedTts(fail_on="boom")) as url:
        client = AsyncOpenAI(base_url=url + "/v1", api_key=TOKEN, max_retries=0)
        for text in ("   ", "...!?", "[laughs] *sighs*"):
            with pytest.raises(BadRequestError, match="nothing to say"):
                await client.audio.speech.create(model="parley", voice="tone", input=text)
        with pytest.raises(BadRequestError, match="not 3.0"):
            await client.audio.speech.create(model="parley", voice="tone", input="hello", speed=3.0)
        await client.close()
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as http:
            response = await http.post("/v1/audio/speech", json={"input": "hi", "response_format": "ogg"})
            assert response.status_code == 422 and "response_format" in response.json()["error"]["message"]
            response = await http.post("/v1/audio/speech", json={"input": "boom"})
            assert response.status_code == 502 and "engine fault" in response.json()["error"]["message"]


async def test_websocket_errors_name_the_request_they_refuse():
    from websockets.asyncio.client import connect

    async with services(tts=SpeedLimitedTts()) as url:
        ws_url = url.replace("http", "ws") + "/v1/tts/stream"
        async with connect(ws_url, additional_headers=AUTH) as ws:
            await ws.send(json.dumps({"type": "speak", "id": "r1", "text": ""}))
            assert json.loads(await ws.recv())["id"] == "r1"
            await ws.send(json.dumps({"type": "speak", "id": "r2", "text": "hi", "style": {"speed": 3.0}}))
            error = json.loads(await ws.recv())
            assert (error["id"], error["code"]) == ("r2", "unsupported_style")
