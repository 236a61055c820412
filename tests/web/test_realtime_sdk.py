"""The official `openai` Python SDK against `WS /v1/realtime`, with scripted models: the protocol itself.

Each test drives the SDK's own connection object (`client.realtime.connect`) and reads every server
event through the SDK's types; the models behind Parley are scripted so what is tested is the wire.
"""

from __future__ import annotations

import base64
import json
import warnings

import httpx
import numpy as np
import pytest

from agent_core.audio.resample import resample
from agent_core.llm.openai_chat import OpenAiChatLlm
from agent_core.testing import ScriptedLlm, ScriptedStt, ScriptedTts
from tests.web.fake_chat_server import fake_chat_server
from tests.web.kit import ANSWER, providers, talk_server
from tests.web.sdk import EventLog, sdk_connection, speak

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

def voice_to_voice_count(metrics: str) -> float:
    prefix = 'parley_voice_to_voice_seconds_count{channel="realtime"} '
    return sum(float(line.removeprefix(prefix)) for line in metrics.splitlines() if line.startswith(prefix))


async def test_a_spoken_turn_with_server_vad(tmp_path, jfk_opening):
    tts = ScriptedTts(seconds_per_word=0.25)
    async with talk_server(tmp_path, providers(tts=tts)) as url, sdk_connection(url) as connection, \
            httpx.AsyncClient() as http:
        measured_before = voice_to_voice_count((await http.get(url + "/metrics")).text)
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
        measured_after = voice_to_voice_count((await http.get(url + "/metrics")).text)
    assert measured_after == measured_before + 1  # the turn's latency reached Prometheus
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


WEATHER_TOOL = {"type": "function", "name": "get_weather", "description": "The forecast for a city.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


async def test_a_tool_round_trip_through_an_openai_compatible_llm(tmp_path):
    requests: list[dict] = []
    async with fake_chat_server(requests) as llm_url:
        llm = OpenAiChatLlm(base_url=llm_url, model="fake")
        async with talk_server(tmp_path, providers(llm=llm)) as url, sdk_connection(url) as connection:
            log = EventLog(connection)
            await connection.session.update(session={"type": "realtime", "output_modalities": ["text"],
                                                     "tools": [WEATHER_TOOL], "tool_choice": "auto"})
            await log.until("session.updated")
            await connection.conversation.item.create(item={
                "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]})
            await connection.response.create()
            [first] = await log.until("response.done")
            [arguments] = log.of("response.function_call_arguments.done")
            await connection.conversation.item.create(item={
                "type": "function_call_output", "call_id": arguments.call_id,
                "output": json.dumps({"forecast": "sunny and 24 degrees"})})
            await connection.response.create()
            second = (await log.until("response.done", 2))[1]
    assert first.response.status == "completed"
    [call] = first.response.output
    assert (call.type, call.name, call.call_id, call.arguments) == ("function_call", "get_weather",
                                                                   "call_weather_1", '{"city": "Paris"}')
    assert arguments.name == "get_weather" and json.loads(arguments.arguments) == {"city": "Paris"}
    assert "".join(e.delta for e in log.of("response.function_call_arguments.delta")) == '{"city": "Paris"}'
    assert second.response.output[0].content[0].text.strip() == "The weather says sunny and 24 degrees."
    # The LLM was offered the client's tool, then saw its own call and the client's result.
    assert requests[0]["tools"][0]["function"]["name"] == "get_weather" and requests[0]["tool_choice"] == "auto"
    assert requests[1]["messages"][-2]["tool_calls"][0]["id"] == "call_weather_1"
    assert requests[1]["messages"][-1] == {"role": "tool", "tool_call_id": "call_weather_1",
                                           "content": '{"forecast": "sunny and 24 degrees"}'}


async def test_tools_with_an_llm_that_cannot_call_them_are_refused_with_an_error(tmp_path):
    llm = ScriptedLlm([ANSWER])
    llm.supports_tools = False  # as the embedded SmolLM2
    async with talk_server(tmp_path, providers(llm=llm)) as url, sdk_connection(url) as connection:
        log = EventLog(connection)
        await connection.session.update(session={"type": "realtime", "tools": [WEATHER_TOOL]})
        await connection.conversation.item.create(item={
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]})
        await connection.response.create(event_id="evt_respond")
        [done] = await log.until("response.done")
        # Per response: tools that must not be used, so the model is asked without them.
        await connection.response.create(response={"tools": [WEATHER_TOOL], "tool_choice": "none"})
        answered = (await log.until("response.done", 2))[1]
    [error] = log.of("error")
    assert error.error.code == "tools_unsupported" and "cannot call tools" in error.error.message
    assert error.error.event_id == "evt_respond"
    assert done.response.status == "failed"
    assert answered.response.status == "completed" and llm.offered_tools == [None]


async def test_cancel_stops_a_response_and_the_next_one_runs(tmp_path):
    llm = ScriptedLlm(["One two three four five six seven eight nine ten.", ANSWER], token_delay_s=0.05)
    async with talk_server(tmp_path, providers(llm=llm)) as url, sdk_connection(url) as connection:
        log = EventLog(connection)
        await connection.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await connection.conversation.item.create(item={
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Count."}]})
        await connection.response.create()
        await log.until("response.output_text.delta")
        await connection.response.cancel()
        [cancelled] = await log.until("response.done")
        await connection.response.create(response={"instructions": "Answer about France."})
        done = await log.until("response.done", 2)
    assert cancelled.response.status == "cancelled"
    assert cancelled.response.status_details.reason == "client_cancelled"
    assert len(cancelled.response.output[0].content[0].text.split()) < 10
    assert llm.cancelled == 1
    assert done[1].response.status == "completed"
    assert llm.requests[-1][0] == {"role": "system", "content": "Answer about France."}  # per-response instructions


async def test_truncate_keeps_only_what_was_heard(tmp_path):
    llm = ScriptedLlm(["This is the first sentence of a long answer. And a second one.", "Okay."])
    async with talk_server(tmp_path, providers(llm=llm, tts=ScriptedTts(seconds_per_word=0.3))) as url, \
            sdk_connection(url) as connection:
        log = EventLog(connection)
        await connection.conversation.item.create(item={
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Tell me."}]})
        await connection.response.create()
        [done] = await log.until("response.done")
        item_id = done.response.output[0].id
        await connection.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=99_000)
        [refused] = await log.until("error")
        await connection.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=1200)
        [truncated] = await log.until("conversation.item.truncated")
        await connection.conversation.item.create(item={
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Go on."}]})
        await connection.response.create()
        await log.until("response.done", 2)
    assert refused.error.param == "audio_end_ms"
    assert (truncated.item_id, truncated.audio_end_ms) == (item_id, 1200)
    # 1.2 s of 0.3 s words: the model remembers saying four words.
    assert llm.requests[-1][-2] == {"role": "assistant", "content": "This is the first"}


async def test_manual_turns_wait_for_commit_and_response_create(tmp_path, jfk_opening):
    async with talk_server(tmp_path, providers()) as url, sdk_connection(url) as connection:
        log = EventLog(connection)
        await connection.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})
        [updated] = await log.until("session.updated")
        assert updated.session.audio.input.turn_detection is None
        await connection.input_audio_buffer.commit()  # nothing appended yet
        [empty] = await log.until("error")
        await speak(connection, jfk_opening)
        await connection.input_audio_buffer.commit()
        [committed] = await log.until("input_audio_buffer.committed")
        [transcribed] = await log.until("conversation.item.input_audio_transcription.completed")
        assert not log.of("input_audio_buffer.speech_started") and not log.of("response.created")
        await connection.response.create()
        [done] = await log.until("response.done")
    assert empty.error.code == "input_audio_buffer_commit_empty"
    assert transcribed.item_id == committed.item_id and transcribed.transcript == "What is the capital of France?"
    assert done.response.output[0].content[0].transcript == ANSWER


@pytest.mark.parametrize("g711", ["audio/pcmu", "audio/pcma"])
async def test_g711_both_ways(tmp_path, jfk_opening, g711):
    stt = ScriptedStt(["What is the capital of France?"])
    encode = audioop.lin2ulaw if g711 == "audio/pcmu" else audioop.lin2alaw
    decode = audioop.ulaw2lin if g711 == "audio/pcmu" else audioop.alaw2lin
    async with talk_server(tmp_path, providers(stt=stt)) as url, sdk_connection(url) as connection:
        log = EventLog(connection)
        await connection.session.update(session={"type": "realtime", "audio": {
            "input": {"format": {"type": g711}}, "output": {"format": {"type": g711}}}})
        [updated] = await log.until("session.updated")
        assert updated.session.audio.output.format.type == g711
        await speak(connection, jfk_opening, rate=8000, encode=lambda frame: encode(frame.pcm, 2))
        [done] = await log.until("response.done")
    assert done.response.status == "completed"
    assert stt.pushed_seconds[0] == pytest.approx(2.6, abs=0.6)  # the speech arrived whole through the codec
    payload = log.audio(done.response.id)
    assert len(payload) == pytest.approx(6 * 0.25 * 8000, rel=0.02)  # one byte a sample at 8 kHz
    tone = np.frombuffer(decode(payload, 2), np.int16).astype(np.float32) / 32768
    assert 0.05 < float(np.sqrt(np.mean(tone**2))) < 0.1  # the scripted TTS's 0.1-amplitude tone, not noise


async def test_audio_items_are_transcribed_and_deleted_items_are_forgotten(tmp_path, jfk_opening):
    llm = ScriptedLlm([ANSWER])
    async with talk_server(tmp_path, providers(llm=llm)) as url, sdk_connection(url) as connection:
        log = EventLog(connection)
        await connection.session.update(session={"type": "realtime", "output_modalities": ["text"],
                                                 "audio": {"input": {"turn_detection": None}}})
        await connection.conversation.item.create(item={
            "id": "item_secret", "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "My password is hunter2."}]})
        pcm24 = resample(jfk_opening, 24000).pcm
        await connection.conversation.item.create(item={
            "type": "message", "role": "user",
            "content": [{"type": "input_audio", "audio": base64.b64encode(pcm24).decode()}]})
        [transcribed] = await log.until("conversation.item.input_audio_transcription.completed")
        await connection.conversation.item.delete(item_id="item_secret")
        [deleted] = await log.until("conversation.item.deleted")
        await connection.response.create()
        await log.until("response.done")
    assert transcribed.transcript == "What is the capital of France?"
    assert deleted.item_id == "item_secret"
    assert llm.requests[-1][1:] == [{"role": "user", "content": "What is the capital of France?"}]


async def test_a_failing_llm_ends_the_response_as_failed_with_an_error(tmp_path):
    llm = ScriptedLlm([ANSWER], error=ConnectionError("connection refused"))
    async with talk_server(tmp_path, providers(llm=llm)) as url, sdk_connection(url) as connection:
        log = EventLog(connection)
        await connection.conversation.item.create(item={
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello?"}]})
        await connection.response.create(event_id="evt_hello")
        [done] = await log.until("response.done")
        llm.error = None  # the LLM is back: the next response works
        await connection.response.create()
        done = await log.until("response.done", 2)
    [error] = log.of("error")
    assert (error.error.code, error.error.event_id) == ("llm_failed", "evt_hello")
    assert "connection refused" in error.error.message
    assert [d.response.status for d in done] == ["failed", "completed"]


async def test_out_of_band_responses_stay_out_of_the_conversation_and_limits_cut_replies(tmp_path):
    llm = ScriptedLlm(["A summary of it all.", "One two three four five six."])
    async with talk_server(tmp_path, providers(llm=llm)) as url, sdk_connection(url) as connection:
        log = EventLog(connection)
        await connection.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await connection.conversation.item.create(item={
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Count to six."}]})
        await connection.response.create(response={"conversation": "none", "instructions": "Summarize.",
                                                   "metadata": {"purpose": "summary"}})
        [summary] = await log.until("response.done")
        items_after_summary = len(log.of("conversation.item.added"))
        await connection.response.create(response={"max_output_tokens": 3})
        cut = (await log.until("response.done", 2))[1]
    assert summary.response.metadata["purpose"] == "summary" and summary.response.conversation_id is None
    assert summary.response.output[0].content[0].text == "A summary of it all. "
    assert items_after_summary == 1  # only the user's item: the summary never joined the conversation
    assert llm.requests[1][1:] == [{"role": "user", "content": "Count to six."}]
    assert cut.response.status == "incomplete" and cut.response.status_details.reason == "max_output_tokens"
    assert cut.response.output[0].content[0].text == "One two three "
    assert cut.response.usage.output_tokens == 3


async def test_a_turn_without_words_gets_no_reply(tmp_path, jfk_opening):
    stt = ScriptedStt(["", "What is the capital of France?"])  # a cough, then a question
    async with talk_server(tmp_path, providers(stt=stt)) as url, sdk_connection(url) as connection:
        log = EventLog(connection)
        await speak(connection, jfk_opening)
        await log.until("conversation.item.input_audio_transcription.completed")
        await speak(connection, jfk_opening)
        [done] = await log.until("response.done")
    assert len(log.of("response.created")) == 1  # only the question was answered
    assert done.response.output[0].content[0].transcript == ANSWER


class LanguageRecordingStt(ScriptedStt):
    def __init__(self, transcripts: list[str]) -> None:
        super().__init__(transcripts)
        self.languages: list[str | None] = []

    def open_stream(self, *, language=None):
        self.languages.append(language)
        return super().open_stream(language=language)


async def test_the_transcription_language_reaches_the_stt(tmp_path, jfk_opening):
    stt = LanguageRecordingStt(["Quelle est la capitale de la France ?"])
    async with talk_server(tmp_path, providers(stt=stt)) as url, sdk_connection(url) as connection:
        log = EventLog(connection)
        await connection.session.update(session={"type": "realtime", "audio": {"input": {
            "transcription": {"model": "whisper-1", "language": "fr"}, "turn_detection": None}}})
        await log.until("session.updated")
        await speak(connection, jfk_opening)
        await connection.input_audio_buffer.commit()
        [transcribed] = await log.until("conversation.item.input_audio_transcription.completed")
    assert stt.languages == ["fr"] and transcribed.transcript.startswith("Quelle")
