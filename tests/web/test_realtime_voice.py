"""Voices, speed and style over the official `openai` SDK's Realtime client: honoured, or refused."""

from __future__ import annotations

import pytest

from agent_core.audio.frames import AudioFrame
from agent_core.audio.resample import resample
from agent_core.testing import ScriptedLlm, ScriptedTts
from agent_core.tts.base import UnknownVoiceError
from tests.web.kit import providers, talk_server
from tests.web.sdk import EventLog, sdk_connection


class VoicedTts(ScriptedTts):
    def voice_names(self) -> list[str]:
        return ["amy", "ryan"]


async def test_an_unknown_voice_is_refused_not_pretended(tmp_path):
    async with talk_server(tmp_path, providers(tts=VoicedTts())) as url, sdk_connection(url) as connection:
        log = EventLog(connection)
        await connection.session.update(session={"type": "realtime", "audio": {"output": {"voice": "alloy"}}},
                                        event_id="evt_voice")
        [error] = await log.until("error")
        await connection.response.create(response={"audio": {"output": {"voice": "nova"}}}, event_id="evt_nova")
        await log.until("error", 2)
        await connection.session.update(session={"type": "realtime", "audio": {"output": {"voice": "ryan"}}})
        [updated] = await log.until("session.updated")
    error, per_response = log.of("error")
    assert (per_response.error.code, per_response.error.event_id) == ("invalid_voice", "evt_nova")
    assert not log.of("response.created")
    assert (error.error.code, error.error.event_id) == ("invalid_voice", "evt_voice")
    assert "alloy" in error.error.message and "ryan" in error.error.message
    assert updated.session.audio.output.voice == "ryan"


class VoicelessTts(ScriptedTts):
    """A backend that cannot list its voices up front and refuses an unknown one when asked to speak."""

    async def synthesize(self, text, *, voice=None, style=None):
        if voice != "amy":
            raise UnknownVoiceError(voice or "", self.name, ["amy"])
        async for frame in super().synthesize(text, voice=voice, style=style):
            yield frame


async def test_a_voice_refused_by_the_tts_fails_the_response_with_an_error(tmp_path):
    async with talk_server(tmp_path, providers(tts=VoicelessTts())) as url, sdk_connection(url) as connection:
        log = EventLog(connection)
        await connection.session.update(session={"type": "realtime", "audio": {"output": {"voice": "alloy"}}})
        await connection.conversation.item.create(item={
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello?"}]})
        await connection.response.create(event_id="evt_speak")
        [done] = await log.until("response.done")
    [error] = log.of("error")
    assert (error.error.code, error.error.event_id) == ("invalid_voice", "evt_speak")
    assert "alloy" in error.error.message
    assert done.response.status == "failed" and not log.of("response.output_audio.delta")


class PacedTts(ScriptedTts):
    """A stand-in engine that honours `speed` as a real one does: the same words in 1/speed of the time."""

    style_knobs = ("speed",)

    async def synthesize(self, text, *, voice=None, style=None):
        async for frame in super().synthesize(text, voice=voice, style=style):
            speed = style.speed if style and style.speed else 1.0
            # fewer samples at the same rate: a faster read (the pitch rises too; a stand-in may)
            yield AudioFrame(resample(frame, round(frame.sample_rate / speed)).pcm, frame.sample_rate)


async def test_session_update_speed_changes_the_spoken_audio_and_out_of_range_is_an_error(tmp_path):
    async with talk_server(tmp_path, providers(tts=PacedTts(), llm=ScriptedLlm(["one two three four five six"]))) \
            as url, sdk_connection(url) as connection:
        log = EventLog(connection)
        seconds = {}
        for count, speed in enumerate((1.0, 1.5), start=1):
            await connection.session.update(session={"type": "realtime", "audio": {"output": {"speed": speed}}})
            [*_, updated] = await log.until("session.updated", count)
            assert updated.session.audio.output.speed == speed
            await connection.response.create(response={"conversation": "none"})
            [*_, done] = await log.until("response.done", count)
            seconds[speed] = len(log.audio(done.response.id)) / 2 / 24000
        await connection.session.update(session={"type": "realtime", "audio": {"output": {"speed": 2.5}}},
                                        event_id="evt_fast")
        [error] = await log.until("error")
    assert seconds[1.0] == pytest.approx(6 * 0.25, rel=0.02)
    assert seconds[1.5] == pytest.approx(seconds[1.0] / 1.5, rel=0.02)
    assert (error.error.type, error.error.param, error.error.event_id) == (
        "invalid_request_error", "session.audio.output.speed", "evt_fast")


async def test_a_speed_the_backend_cannot_honour_is_refused(tmp_path):
    tts = ScriptedTts()
    tts.style_knobs = ("seed",)  # a backend whose registry lists no speed
    async with talk_server(tmp_path, providers(tts=tts)) as url, sdk_connection(url) as connection:
        log = EventLog(connection)
        await connection.session.update(session={"type": "realtime", "audio": {"output": {"speed": 1.25}}})
        [error] = await log.until("error")
    assert error.error.param == "session.audio.output.speed" and "cannot change its speed" in error.error.message
    assert not log.of("session.updated")


class ExpressiveTts(PacedTts):
    """Chatterbox's knobs: delivery tags may become style."""

    style_knobs = ("speed", "exaggeration", "cfg_weight", "temperature", "seed")

    def __init__(self) -> None:
        super().__init__()
        self.styles: list[tuple[str, object]] = []

    async def synthesize(self, text, *, voice=None, style=None):
        self.styles.append((text, style))
        async for frame in super().synthesize(text, voice=voice, style=style):
            yield frame


async def test_the_personas_style_speed_and_tags_reach_the_tts_per_sentence(tmp_path):
    tts = ExpressiveTts()
    llm = ScriptedLlm(["[laughs] Oh, that is a good one. Anyway, the weather is fine today."])
    async with talk_server(tmp_path, providers(tts=tts, llm=llm)) as url:
        with (tmp_path / "personas" / "quiet.toml").open("a") as persona:
            persona.write("[style]\nexaggeration = 0.4\ntemperature = 0.7\nspeed = 1.2\n")
        async with sdk_connection(url) as connection:
            log = EventLog(connection)
            [created] = await log.until("session.created")
            await connection.response.create()
            await log.until("response.done")
    assert created.session.audio.output.speed == 1.2  # the persona's speed is the session's
    (first_text, first), (second_text, second) = tts.styles
    assert (first_text, second_text) == ("Oh, that is a good one.", "Anyway, the weather is fine today.")
    assert (first.exaggeration, first.cfg_weight, first.temperature, first.speed) == (pytest.approx(0.75), 0.3, 0.7, 1.2)
    assert (second.exaggeration, second.cfg_weight, second.temperature, second.speed) == (0.4, None, 0.7, 1.2)
