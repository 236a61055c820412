"""Real Realtime clients hold a spoken turn with Parley's embedded models: JFK's speech in, a
transcript of it and a spoken reply out. The official Python SDK and the openai npm package under
Node, each pointed at Parley only by its base URL."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

from agent_core.audio.frames import AudioFrame
from agent_core.audio.resample import resample
from agent_core.settings import Settings
from agent_core.storage import Database
from parley.local_server import running_server
from parley.server import create_app
from tests.integration.conftest import words
from tests.web.sdk import EventLog, sdk_connection, speak

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

pytestmark = pytest.mark.models
NODE_CLIENT = Path(__file__).resolve().parents[1] / "node"


def local_app(settings: Settings, providers, tmp_path: Path):
    local = settings.model_copy(update={"public_url": None, "host": "127.0.0.1"})
    return create_app(local, providers, db=Database.for_data_dir(tmp_path))


async def test_the_python_sdk_holds_a_spoken_turn(providers, settings, jfk, tmp_path):
    async with running_server(local_app(settings, providers, tmp_path)) as url, sdk_connection(url) as connection:
        log = EventLog(connection)
        # Turns end after a second of silence: JFK's pauses between phrases stay inside his turn.
        await connection.session.update(session={"type": "realtime", "audio": {"input": {
            "transcription": {"model": "whisper-1"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 1000}}}})
        await log.until("session.updated")
        await speak(connection, jfk, silence_s=1.5)
        [done] = await log.until("response.done", timeout_s=180)
    transcript = " ".join(e.transcript for e in log.of("conversation.item.input_audio_transcription.completed"))
    assert "ask not what your country can do for you" in words(transcript)
    assert done.response.status == "completed"
    reply = done.response.output[0].content[0].transcript
    assert reply.strip()
    assert len(log.audio(done.response.id)) > 24000 * 2 * 0.5  # over half a second of pcm16 at 24 kHz
    assert int(done.response.metadata["voice_to_voice_ms"]) > 0


async def test_the_python_sdk_holds_a_spoken_turn_over_g711(providers, settings, jfk_opening, tmp_path):
    """Telephone audio both ways: mu-law at 8 kHz in, real speech transcribed, mu-law reply out."""
    async with running_server(local_app(settings, providers, tmp_path)) as url, sdk_connection(url) as connection:
        log = EventLog(connection)
        await connection.session.update(session={"type": "realtime", "audio": {
            "input": {"format": {"type": "audio/pcmu"}}, "output": {"format": {"type": "audio/pcmu"}}}})
        await log.until("session.updated")
        await speak(connection, jfk_opening, rate=8000, encode=lambda frame: audioop.lin2ulaw(frame.pcm, 2))
        [done] = await log.until("response.done", timeout_s=180)
    [transcribed] = log.of("conversation.item.input_audio_transcription.completed")
    # Telephone audio stops at 4 kHz, where most of a final "s" lives: Whisper may hear "America".
    assert "and so my fellow america" in words(transcribed.transcript)
    assert done.response.status == "completed"
    reply = np.frombuffer(audioop.ulaw2lin(log.audio(done.response.id), 2), np.int16)
    assert len(reply) > 8000 * 0.5 and AudioFrame(reply.tobytes(), 8000).audible  # a spoken reply, not silence


@pytest.fixture(scope="module")
def node_client() -> Path:
    """The pinned openai npm package, installed from the npm registry by `make test` (or here)."""
    assert shutil.which("node") and shutil.which("npm"), "Debian's nodejs and npm: `make test` installs them"
    if not (NODE_CLIENT / "node_modules" / "openai").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_CLIENT, check=True, timeout=300)
    return NODE_CLIENT


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """The npm client always connects with wss://, so Parley serves TLS here with a certificate for 127.0.0.1."""
    certificate, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(certificate)],
                   check=True, capture_output=True, timeout=60)
    return certificate, key


async def test_the_node_sdk_holds_a_spoken_turn(providers, settings, jfk_opening, node_client, tmp_path):
    certificate, key = self_signed_certificate(tmp_path)
    speech = tmp_path / "speech.pcm"
    speech.write_bytes((resample(jfk_opening, 24000) + AudioFrame.silence(1.5, 24000)).pcm)
    app = local_app(settings, providers, tmp_path)
    async with running_server(app, tls=(certificate, key)) as url:
        node = await asyncio.create_subprocess_exec(
            "node", "spoken_turn.mjs", url + "/v1", str(speech), cwd=node_client,
            env={**os.environ, "NODE_EXTRA_CA_CERTS": str(certificate)},  # trust this certificate only
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(node.communicate(), 180)
    assert node.returncode == 0, err.decode()
    seen = json.loads(out.decode().strip().splitlines()[-1])
    assert seen["errors"] == [], seen
    assert "my fellow americans" in words(seen["transcript"])
    assert seen["status"] == "completed" and seen["reply"].strip()
    assert seen["audioBytes"] > 24000 * 2 * 0.5
    assert seen["types"][0] == "session.created" and "session.updated" in seen["types"]


async def test_tools_with_the_embedded_llm_are_refused_with_an_error(providers, settings, tmp_path):
    """SmolLM2 (135M) cannot call tools: the client is told so instead of being ignored."""
    async with running_server(local_app(settings, providers, tmp_path)) as url, sdk_connection(url) as connection:
        log = EventLog(connection)
        await connection.session.update(session={"type": "realtime", "output_modalities": ["text"], "tools": [
            {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}]})
        await connection.conversation.item.create(item={
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]})
        await connection.response.create(event_id="evt_weather")
        [done] = await log.until("response.done", timeout_s=60)
    [error] = log.of("error")
    assert (error.error.code, error.error.event_id) == ("tools_unsupported", "evt_weather")
    assert "llama.cpp" in error.error.message and done.response.status == "failed"
