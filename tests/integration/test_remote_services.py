"""`parley services serve` on the embedded models, and the agent core using it through the remote backends."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import httpx
import pytest

from agent_core.audio.resample import resample
from agent_core.audio.wav import write_wav
from agent_core.demo import default_question, run_demo
from agent_core.persona import load_persona
from agent_core.providers import build_providers
from agent_core.settings import Settings
from parley.local_server import free_port
from tests.integration.conftest import words

pytestmark = pytest.mark.models
TOKEN = "integration-token"


@pytest.fixture(scope="module")
def services_url(tmp_path_factory):
    """The real command, as a user starts it, in its own process."""
    port = free_port()
    env = {**os.environ, "PARLEY_SERVICES__TOKEN": TOKEN, "PARLEY_DATA_DIR": str(tmp_path_factory.mktemp("svc"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "parley.cli", "services", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"parley services serve exited: {process.stderr.read()}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    yield url
    process.terminate()
    process.wait(timeout=30)


# The wiring is under test here, not the providers' deadlines: on a machine busy with other
# work the embedded models can take longer than a caller should ever wait.
PATIENT = 60.0


def remote_settings(url: str, tmp_path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        stt={"backend": "remote", "url": url, "read_timeout_s": PATIENT},
        tts={"backend": "remote", "url": url, "read_timeout_s": PATIENT},
        llm={"backend": "openai", "base_url": url + "/v1", "model": "SmolLM2-135M-Instruct", "read_timeout_s": PATIENT},
        services={"token": TOKEN},
        session={"stt_timeout_s": PATIENT, "llm_first_token_timeout_s": PATIENT, "llm_token_gap_timeout_s": PATIENT,
                 "tts_first_audio_timeout_s": PATIENT},
    )


async def test_full_demo_turn_through_the_remote_backends(services_url, tmp_path):
    settings = remote_settings(services_url, tmp_path)
    providers = build_providers(settings)
    assert {providers.stt.name, providers.tts.name, providers.llm.name} == {"remote-stt", "remote-tts", "openai"}
    await providers.load()
    persona = load_persona("default", settings.personas_dir)
    result = await run_demo(providers, persona, default_question(), settings.session)
    await providers.aclose()
    assert "capital of france" in words(result.transcript)  # Whisper, on the service
    assert "paris" in words(result.reply_text)  # SmolLM2 through /v1/chat/completions
    assert result.reply_audio.duration_s > 0.5  # the embedded voice, streamed back over the TTS socket
    assert result.latency_ms["voice_to_voice"] > 0


async def test_openai_routes_with_real_speech(services_url, jfk, tmp_path):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    write_wav(tmp_path / "jfk.wav", jfk)
    async with httpx.AsyncClient(base_url=services_url, headers=headers, timeout=60) as http:
        with (tmp_path / "jfk.wav").open("rb") as f:
            response = await http.post("/v1/audio/transcriptions", files={"file": ("jfk.wav", f, "audio/wav")})
        assert response.status_code == 200, response.text
        assert "ask not what your country can do for you" in words(response.json()["text"])

        response = await http.post("/v1/audio/speech", json={"input": "The weather is lovely today.", "response_format": "wav"})
        assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"
        (tmp_path / "speech.wav").write_bytes(response.content)
        with (tmp_path / "speech.wav").open("rb") as f:
            heard = await http.post("/v1/audio/transcriptions", files={"file": ("speech.wav", f, "audio/wav")})
        assert "weather is lovely today" in words(heard.json()["text"])  # the embedded voice, understood by Whisper


async def test_remote_stt_streams_real_speech(services_url, jfk, tmp_path):
    stt = build_providers(remote_settings(services_url, tmp_path)).stt
    stream = stt.open_stream()
    for piece in resample(jfk, 16000).split(0.02):
        stream.push(piece)
        await asyncio.sleep(0)
    text = await stream.finish()
    await stream.aclose()
    await stt.aclose()
    assert "ask not what your country can do for you" in words(text)


async def test_the_openai_client_gets_every_format_from_the_embedded_voice(services_url, tmp_path):
    """Every response_format decodes to the same speech (24 kHz); Whisper times it back in segments."""
    import io

    import av
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=services_url + "/v1", api_key=TOKEN, timeout=120, max_retries=0)
    text = "The weather is lovely today."
    durations = {}
    for fmt in ("mp3", "opus", "aac", "flac", "wav"):
        audio = (await client.audio.speech.create(model="parley", voice="heart", input=text, response_format=fmt,
                                                  extra_body={"seed": 5})).content
        with av.open(io.BytesIO(audio)) as container:
            durations[fmt] = sum(f.samples for f in container.decode(audio=0)) / container.streams.audio[0].rate
        if fmt == "mp3":
            verbose = await client.audio.transcriptions.create(
                model="parley", file=("speech.mp3", audio), response_format="verbose_json", timestamp_granularities=["word"]
            )
    pcm = (await client.audio.speech.create(model="parley", voice="heart", input=text, response_format="pcm",
                                            extra_body={"seed": 5})).content
    await client.close()
    spoken_s = len(pcm) / 2 / 24000
    assert spoken_s > 1.0
    # One seed, one speech: each format holds all of it (mp3 and aac add encoder delay and padding, < 90 ms)
    assert all(spoken_s <= seconds <= spoken_s + 0.09 for seconds in durations.values()), (spoken_s, durations)
    assert "weather is lovely today" in words(verbose.text)
    assert verbose.segments and verbose.segments[-1].end <= verbose.duration + 0.05
    assert [words(w.word) for w in verbose.words][-2:] == ["lovely", "today"]


async def test_one_seed_one_speech_even_when_requests_overlap(services_url):
    """hibari draws its noise from a generator per request: concurrent same-seed requests agree."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=services_url, headers=headers, timeout=120) as http:
        async def speak(seed: int) -> bytes:
            body = {"input": "A seed makes the voice repeat itself.", "voice": "heart", "response_format": "pcm", "seed": seed}
            response = await http.post("/v1/audio/speech", json=body)
            assert response.status_code == 200, response.text
            return response.content

        first, second, other = await asyncio.gather(speak(3), speak(3), speak(4))
    assert first == second and first != other
