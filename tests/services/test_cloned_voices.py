"""A voice cloned for a guild is the one the TTS backend speaks with, and only that guild's.

The real speech service app serves the real ChatterboxSpeech adapter over a real
voice library on disk; only the Chatterbox model is stood in for, by an engine
that records the reference clip it was given for each request (what the real
engine hands to `prepare_conditionals`). The bot's side is the real RemoteTts
and the guild voice naming `/voice clone` and the voice service use.
"""

from __future__ import annotations

import io
import json
import shutil
import wave

import httpx
import numpy as np
import pytest
from pydub.generators import Sine
from websockets.asyncio.client import connect

from agent_core.remote.protocol import TTS_PATH
from agent_core.tts.base import UnknownVoiceError
from bots.guild_voices import GuildVoices
from modal_services.engines.speech_adapters import ChatterboxSpeech
from modal_services.engines.voice_library import VoiceLibrary
from tests.services.kit import TOKEN, remote_tts, services

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
GUILD_A, GUILD_B = 1111, 2222


class ReferenceRecordingChatterbox:
    """ChatterboxEngine's voice and synthesis methods over a real VoiceLibrary; speech is a short tone."""

    max_streams = 2

    def __init__(self, voices_dir) -> None:
        self.library = VoiceLibrary(voices_dir)
        self.references: list[bytes | None] = []  # the clip each request was conditioned on

    def voices(self) -> list[str]:
        return self.library.names()

    def clone_voice(self, name: str, wav_bytes: bytes) -> str:
        self.library.store(name, wav_bytes)
        return name

    def synthesize_stream(self, text: str, *, voice: str | None = None, **options):
        self.references.append(None if voice is None else self.library.path(voice).read_bytes())
        yield np.full(2400, 0.1, np.float32)


def tone_wav(hz: int, seconds: float = 4.0) -> bytes:
    out = io.BytesIO()
    Sine(hz, sample_rate=48000).to_audio_segment(duration=seconds * 1000, volume=-12).export(out, format="wav")
    return out.getvalue()


def pitch_hz(wav_bytes: bytes) -> float:
    with wave.open(io.BytesIO(wav_bytes)) as w:
        samples = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32)
        rate = w.getframerate()
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


async def speak(remote, voice: str | None) -> None:
    assert [f async for f in remote.synthesize("Hello.", voice=voice)]


async def test_each_guild_hears_its_own_clone_and_never_anothers(tmp_path):
    engine = ReferenceRecordingChatterbox(tmp_path / "voices")
    async with services(tts=ChatterboxSpeech(engine)) as url:
        remote = remote_tts(url)
        await remote.load()
        guild_voices = GuildVoices(remote)
        # Both guilds clone a voice called "narrator", from different clips; guild A also clones "solo".
        await guild_voices.clone(GUILD_A, "narrator", tone_wav(220))
        await guild_voices.clone(GUILD_B, "narrator", tone_wav(330))
        await guild_voices.clone(GUILD_A, "solo", tone_wav(440))

        await speak(remote, guild_voices.backend_voice(GUILD_A, "narrator"))
        await speak(remote, guild_voices.backend_voice(GUILD_B, "narrator"))
        await speak(remote, guild_voices.backend_voice(GUILD_A, "solo"))
        assert [round(pitch_hz(clip)) for clip in engine.references] == [220, 330, 440]

        assert guild_voices.cloned(GUILD_A) == ["narrator", "solo"]
        assert guild_voices.cloned(GUILD_B) == ["narrator"]
        assert "solo" not in guild_voices.known(GUILD_B)
        # Guild B naming guild A's voice is refused by the backend, which tells it only of its own voices.
        with pytest.raises(UnknownVoiceError) as refused:
            await speak(remote, guild_voices.backend_voice(GUILD_B, "solo"))
        assert refused.value.voice == "solo" and refused.value.known == ["default"]
        with pytest.raises(UnknownVoiceError) as refused:
            await speak(remote, "guild-2222/solo")
        assert refused.value.known == ["default", "guild-2222/narrator"]
        assert len(engine.references) == 3  # nothing was spoken in a stand-in voice
        await speak(remote, None)  # the connection survived the refusals: no voice is the checkpoint's own
        assert engine.references[-1] is None
        await remote.aclose()

        restarted = remote_tts(url)  # the bot after a restart finds its guilds' clones in the library
        await restarted.load()
        assert GuildVoices(restarted).cloned(GUILD_A) == ["narrator", "solo"]
        await restarted.aclose()

        async with httpx.AsyncClient(base_url=url) as anyone:  # /health needs no token: no clones there
            assert (await anyone.get("/health")).json()["voices"] == ["default"]
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=url, headers=headers) as client:
            listed = (await client.get("/v1/voices", params={"namespace": "guild-2222"})).json()
            assert listed["voices"] == ["default", "guild-2222/narrator"]
            refused_speech = await client.post("/v1/audio/speech", json={"input": "Hi.", "voice": "guild-2222/solo"})
            assert refused_speech.status_code == 400
            assert refused_speech.json()["error"]["message"] == (
                "unknown voice 'guild-2222/solo' for chatterbox; known voices: default, guild-2222/narrator"
            )
            bad_namespace = await client.post("/v1/voices", data={"name": "x", "namespace": "../up"},
                                              files={"file": ("x.wav", tone_wav(220), "audio/wav")})
            assert bad_namespace.status_code == 400
    assert sorted(p.relative_to(tmp_path / "voices").as_posix() for p in (tmp_path / "voices").rglob("*.wav")) == [
        "guild-1111/narrator.wav", "guild-1111/solo.wav", "guild-2222/narrator.wav",
    ]


async def test_the_websocket_refusal_names_the_request(tmp_path):
    engine = ReferenceRecordingChatterbox(tmp_path / "voices")
    async with services(tts=ChatterboxSpeech(engine)) as url:
        ws_url = url.replace("http", "ws", 1) + TTS_PATH
        async with connect(ws_url, additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
            await ws.send('{"type": "speak", "id": "req-7", "text": "Hi.", "voice": "nobody"}')
            error = json.loads(await ws.recv())
    assert error["type"] == "error" and error["id"] == "req-7" and error["code"] == "unknown_voice"
    assert error["voice"] == "nobody" and error["voices"] == ["default"]
    assert engine.references == []
