"""The official `openai` Python SDK against `WS /v1/realtime`, with scripted models: the protocol itself.

Each test drives the SDK's own connection object (`client.realtime.connect`) and reads every server
event through the SDK's types; the models behind Parley are scripted so what is tested is the wire.
"""

from __future__ import annotations

from agent_core.providers import Providers
from agent_core.scripted import ScriptedLlm, ScriptedStt, ScriptedTts
from tests.web.kit import talk_server
from tests.web.sdk import EventLog, sdk_connection, speak

ANSWER = "The capital of France is Paris."


def providers(**kw) -> Providers:
    return Providers(stt=kw.get("stt") or ScriptedStt(["What is the capital of France?"]),
                     llm=kw.get("llm") or ScriptedLlm([ANSWER]), tts=kw.get("tts") or ScriptedTts())


async def test_a_spoken_turn_with_server_vad(tmp_path, jfk_opening):
    tts = ScriptedTts(seconds_per_word=0.25)
    async with talk_server(tmp_path, providers(tts=tts)) as url, sdk_connection(url) as connection:
        log = EventLog(connection)
        [created] = await log.until("session.created")
        assert created.session.type == "realtime"
        assert created.session.audio.input.format.type == "audio/pcm"
        assert created.session.audio.input.format.rate == 24000
        assert created.session.audio.input.turn_detection.type == "server_vad"
        await connection.session.update(session={"type": "realtime", "instructions": "Be brief.",
                                                 "audio": {"input": {"transcription": {"model": "whisper-1"}}}})
        [updated] = await log.until("session.updated")
        assert updated.session.instructions == "Be brief."
        await speak(connection, jfk_opening)
        [done] = await log.until("response.done")
        await log.until("rate_limits.updated")
    order = ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
             "input_audio_buffer.committed", "conversation.item.added",
             "conversation.item.input_audio_transcription.completed", "response.created",
             "response.output_item.added", "response.content_part.added", "response.output_audio_transcript.delta",
             "response.output_audio.delta", "response.output_audio.done", "response.output_audio_transcript.done",
             "response.content_part.done", "response.output_item.done", "response.done"]
    types = log.types()
    assert all(t in types for t in order), set(order) - set(types)
    assert sorted(order, key=types.index) == order  # first occurrences in protocol order
    [transcribed] = log.of("conversation.item.input_audio_transcription.completed")
    [committed] = log.of("input_audio_buffer.committed")
    assert transcribed.transcript == "What is the capital of France?" and transcribed.item_id == committed.item_id
    [started], [stopped] = log.of("input_audio_buffer.speech_started"), log.of("input_audio_buffer.speech_stopped")
    assert 0 <= started.audio_start_ms < stopped.audio_end_ms <= 2600 + 1000  # within the audio sent
    assert done.response.status == "completed"
    [message] = done.response.output
    assert message.role == "assistant" and message.content[0].type == "output_audio"
    assert message.content[0].transcript == ANSWER
    assert int(done.response.metadata["voice_to_voice_ms"]) >= 0
    assert done.response.usage.output_tokens == len(ANSWER.split())
    # Six words at 0.25 s each from the scripted TTS (16 kHz), resampled to pcm16 at 24 kHz.
    samples = len(log.audio(done.response.id)) // 2
    assert abs(samples - 6 * 0.25 * 24000) < 24000 * 0.02
    assert tts.spoken == [ANSWER]


async def test_a_text_only_turn(tmp_path):
    async with talk_server(tmp_path, providers()) as url, sdk_connection(url) as connection:
        log = EventLog(connection)
        await connection.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        [updated] = await log.until("session.updated")
        assert updated.session.output_modalities == ["text"]
        await connection.conversation.item.create(item={
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Capital of France?"}]})
        await connection.response.create()
        [done] = await log.until("response.done")
    assert done.response.status == "completed" and done.response.output_modalities == ["text"]
    assert "".join(e.delta for e in log.of("response.output_text.delta")) == ANSWER + " "
    [text_done] = log.of("response.output_text.done")
    assert text_done.text == ANSWER + " "
    assert not log.of("response.output_audio.delta")
    assert done.response.output[0].content[0].type == "output_text"
