"""The OpenAI-compatible routes, driven by the real `openai` client and raw HTTP."""

from __future__ import annotations

import io
import wave

import httpx
import pytest
from openai import AsyncOpenAI, AuthenticationError

from agent_core.audio.frames import AudioFrame
from agent_core.audio.wav import write_wav
from agent_core.llm.openai_chat import OpenAiChatLlm
from agent_core.testing import ScriptedLlm
from tests.services.kit import TOKEN, RecordingStt, ToneTts, services, tone_chunk

AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_speech_streams_wav_and_pcm():
    async with services(tts=ToneTts()) as url:
        client = AsyncOpenAI(base_url=url + "/v1", api_key=TOKEN)
        async with client.audio.speech.with_streaming_response.create(
            model="parley", voice="tone", input="one two three four", response_format="wav"
        ) as response:
            body = await response.read()
        with wave.open(io.BytesIO(body)) as wav:
            assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (24000, 1, 2)
            assert wav.readframes(10**6) == b"".join(tone_chunk(i).pcm for i in range(4))
        async with client.audio.speech.with_streaming_response.create(
            model="parley", voice="tone", input="one two", response_format="pcm"
        ) as response:
            assert await response.read() == tone_chunk(0).pcm + tone_chunk(1).pcm  # OpenAI's pcm: 24 kHz s16le
        await client.close()


async def test_speech_refuses_what_it_cannot_do():
    async with services(tts=ToneTts(fail_on="boom")) as url, httpx.AsyncClient(base_url=url) as http:
        assert (await http.post("/v1/audio/speech", json={"input": "hi"})).status_code == 401
        response = await http.post("/v1/audio/speech", json={"input": "hi", "response_format": "au"}, headers=AUTH)
        assert response.status_code == 422 and "response_format" in response.json()["error"]["message"]
        response = await http.post("/v1/audio/speech", json={"input": ""}, headers=AUTH)
        assert response.status_code == 422 and response.json()["error"]["message"].startswith("input: ")
        response = await http.post("/v1/audio/speech", json={"input": "boom"}, headers=AUTH)
        assert response.status_code == 502 and "engine fault" in response.json()["error"]["message"]


async def test_transcriptions_decode_uploads(tmp_path):
    stt = RecordingStt()
    audio = AudioFrame.from_float32(__import__("numpy").full(8000, 0.1), 8000)  # one second at 8 kHz
    write_wav(tmp_path / "q.wav", audio)
    async with services(stt=stt) as url:
        client = AsyncOpenAI(base_url=url + "/v1", api_key=TOKEN)
        result = await client.audio.transcriptions.create(model="parley", file=(tmp_path / "q.wav").open("rb"))
        assert result.text.startswith("heard ") and abs(int(result.text.split()[1]) - 32000) <= 64
        text = await client.audio.transcriptions.create(
            model="parley", file=(tmp_path / "q.wav").open("rb"), response_format="text"
        )
        assert str(text).startswith("heard ")
        with pytest.raises(Exception, match="not a supported audio file"):
            await client.audio.transcriptions.create(model="parley", file=("x.wav", b"hello, not audio"))
        await client.close()
        bad = AsyncOpenAI(base_url=url + "/v1", api_key="wrong", max_retries=0)
        with pytest.raises(AuthenticationError):
            await bad.audio.transcriptions.create(model="parley", file=(tmp_path / "q.wav").open("rb"))
        await bad.close()


async def test_chat_completions_serve_the_agent_cores_openai_backend():
    llm = ScriptedLlm(["Paris is the capital of France."])
    async with services(llm=llm) as url:
        remote = OpenAiChatLlm(base_url=url + "/v1", model="parley", api_key=TOKEN)
        pieces = [e.text async for e in remote.stream([{"role": "user", "content": "capital of France?"}])]
        assert "".join(pieces).strip() == "Paris is the capital of France."
        client = AsyncOpenAI(base_url=url + "/v1", api_key=TOKEN)
        whole = await client.chat.completions.create(model="parley", messages=[{"role": "user", "content": "again?"}])
        assert whole.choices[0].message.content.strip() == "Paris is the capital of France."
        assert [m.id async for m in client.models.list()] == ["parley"]
        await client.close()
        await remote.aclose()


async def test_health_says_what_the_service_runs():
    async with services(stt=RecordingStt(), tts=ToneTts()) as url, httpx.AsyncClient(base_url=url) as http:
        assert (await http.get("/health")).json() == {
            "status": "ok", "stt": "recording-stt", "tts": "tone-tts", "voices": ["tone"], "can_clone": True
        }
