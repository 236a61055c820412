"""The Session state machine with scripted providers and real Silero VAD on real speech."""

import asyncio

import pytest

from agent_core import events as ev
from agent_core.llm.base import ToolCall
from agent_core.session import SessionState
from agent_core.testing import LocalChannel, ScriptedLlm, ScriptedStt, ScriptedTts
from agent_core.tools import Tool
from tests.sessionkit import make_session, speak, wait_for


async def run_session(session, channel):
    pump = asyncio.create_task(channel.pump(session))
    await session.start()
    return pump


async def test_one_turn_end_to_end(jfk_opening):
    stt = ScriptedStt(["What is the capital of France?"])
    session, channel = make_session(stt=stt)
    pump = await run_session(session, channel)
    await speak(session, "caller", jfk_opening)
    [finished] = await wait_for(session, ev.ReplyFinished)
    assert finished.heard_text == "The capital of France is Paris."
    assert not finished.interrupted
    assert session.history == [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "The capital of France is Paris."},
    ]
    # STT got the whole utterance including the pre-roll, not just what followed VAD's decision.
    assert stt.pushed_seconds[0] > 2.0
    assert channel.audio_of(1).duration_s == pytest.approx(6 * 0.25, abs=0.05)
    [latency] = session.latencies()
    assert latency.voice_to_voice is not None and latency.voice_to_voice > 0
    assert latency.end_of_turn == pytest.approx(320, abs=40)
    assert session.state is SessionState.LISTENING
    pump.cancel()
    await session.close()


async def test_llm_sees_persona_and_history(jfk_opening):
    llm = ScriptedLlm(["First answer.", "Second answer."])
    session, channel = make_session(stt=ScriptedStt(["one", "two"]), llm=llm)
    pump = await run_session(session, channel)
    await speak(session, "caller", jfk_opening)
    await wait_for(session, ev.ReplyFinished)
    await speak(session, "caller", jfk_opening)
    await wait_for(session, ev.ReplyFinished, 2)
    assert llm.requests[1] == [
        {"role": "system", "content": "You are a test."},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "First answer."},
        {"role": "user", "content": "two"},
    ]
    pump.cancel()
    await session.close()


async def test_barge_in_cancels_flushes_and_keeps_only_heard_text(jfk_opening):
    long_reply = "This is the first sentence of a long answer. Here is a second sentence that goes on. And a third one."
    llm = ScriptedLlm([long_reply, "Okay."], token_delay_s=0.01)
    tts = ScriptedTts(seconds_per_word=0.3)
    channel = LocalChannel(speed=1.0)
    session, _ = make_session(stt=ScriptedStt(["tell me a story", "stop"]), llm=llm, tts=tts, channel=channel)
    pump = await run_session(session, channel)
    await speak(session, "caller", jfk_opening)
    await wait_for(session, ev.FirstAudioOut)
    await asyncio.sleep(1.0)  # the caller hears about a second of the reply, then talks over it
    assert session.state is SessionState.SPEAKING
    await speak(session, "caller", jfk_opening, realtime=True)
    [barge] = await wait_for(session, ev.BargeIn)
    assert channel.flushes == 1
    finished = [e for e in session.events if isinstance(e, ev.ReplyFinished)]
    assert finished[0].interrupted
    heard = finished[0].heard_text
    assert heard and long_reply.startswith(heard) and len(heard) < len(long_reply) / 2
    assert {"role": "assistant", "content": heard} in session.history
    assert {"role": "assistant", "content": long_reply} not in session.history
    # The caller's interruption becomes the next turn, answered with the heard text as context.
    await wait_for(session, ev.ReplyFinished, 2)
    assert llm.requests[1][-2:] == [{"role": "assistant", "content": heard}, {"role": "user", "content": "stop"}]
    assert barge.turn == 1
    pump.cancel()
    await session.close()


async def test_barge_in_while_thinking_cancels_the_llm(jfk_opening):
    llm = ScriptedLlm(["Slow answer."], first_token_delay_s=2.0)
    session, channel = make_session(llm=llm)
    pump = await run_session(session, channel)
    await speak(session, "caller", jfk_opening)
    await asyncio.sleep(0.1)
    assert session.state is SessionState.THINKING
    llm.first_token_delay_s = 0
    await speak(session, "caller", jfk_opening)
    await wait_for(session, ev.BargeIn)
    await wait_for(session, ev.ReplyFinished, 2)
    assert llm.cancelled == 1
    # Both things the caller said reach the model, in order.
    assert [m["role"] for m in llm.requests[-1]] == ["system", "user", "user"]
    pump.cancel()
    await session.close()


@pytest.mark.parametrize(
    "stage,kwargs",
    [
        ("stt", {"stt": ScriptedStt(error=RuntimeError("stt down"))}),
        ("stt", {"stt": ScriptedStt(delay_s=1.0), "stt_timeout_s": 0.2}),
        ("llm", {"llm": ScriptedLlm(error=ConnectionError("llm socket closed"))}),
        ("llm", {"llm": ScriptedLlm(first_token_delay_s=1.0), "llm_first_token_timeout_s": 0.2}),
    ],
)
async def test_provider_fault_is_spoken_as_apology_and_session_continues(jfk_opening, stage, kwargs):
    tts = ScriptedTts()
    session, channel = make_session(tts=tts, **kwargs)
    pump = await run_session(session, channel)
    await speak(session, "caller", jfk_opening)
    [fault] = await wait_for(session, ev.ProviderFault)
    assert fault.stage == stage
    [finished] = await wait_for(session, ev.ReplyFinished)
    assert finished.heard_text == "Sorry, say that again?"
    assert channel.played, "the caller must hear the apology, not dead air"
    # The provider recovers; the next turn works.
    for provider in (session._stt, session._llm):
        provider.error = None
        for attr in ("delay_s", "first_token_delay_s"):
            if hasattr(provider, attr):
                setattr(provider, attr, 0)
    await speak(session, "caller", jfk_opening)
    finished = await wait_for(session, ev.ReplyFinished, 2)
    assert finished[1].heard_text == "The capital of France is Paris."
    pump.cancel()
    await session.close()


async def test_tts_failure_mid_reply_apologises(jfk_opening):
    class FailingSecondSentence(ScriptedTts):
        async def synthesize(self, text, *, voice=None, style=None):
            if text.startswith("Second"):
                raise RuntimeError("tts crashed")
            async for frame in super().synthesize(text, voice=voice):
                yield frame

    session, channel = make_session(llm=ScriptedLlm(["First one is fine. Second one breaks."]), tts=FailingSecondSentence())
    pump = await run_session(session, channel)
    await speak(session, "caller", jfk_opening)
    [finished] = await wait_for(session, ev.ReplyFinished)
    assert [f.stage for f in session.events if isinstance(f, ev.ProviderFault)] == ["tts"]
    assert finished.heard_text == "First one is fine. Sorry, say that again?"
    pump.cancel()
    await session.close()


async def test_tool_call_runs_and_model_answers_with_result(jfk_opening):
    calls = []

    async def hang_up(arguments):
        calls.append(arguments)
        return "the call will end after this reply"

    llm = ScriptedLlm([[ToolCall("call_1", "hang_up", '{"reason": "caller said bye"}')], "Goodbye!"])
    session, channel = make_session(llm=llm)
    session.tools.register(Tool("hang_up", "End the call.", hang_up))
    pump = await run_session(session, channel)
    await speak(session, "caller", jfk_opening)
    [finished] = await wait_for(session, ev.ReplyFinished)
    assert calls == [{"reason": "caller said bye"}]
    assert finished.heard_text == "Goodbye!"
    second = llm.requests[1]
    assert second[-2]["tool_calls"][0]["function"]["name"] == "hang_up"
    assert second[-1] == {"role": "tool", "tool_call_id": "call_1", "content": "the call will end after this reply"}
    [invoked] = [e for e in session.events if isinstance(e, ev.ToolInvoked)]
    assert invoked.name == "hang_up"
    pump.cancel()
    await session.close()


async def test_bad_tool_arguments_are_reported_to_the_model(jfk_opening):
    async def never(arguments):
        raise AssertionError("must not run")

    llm = ScriptedLlm([[ToolCall("c", "transfer", "{not json")], "Sorry."])
    session, channel = make_session(llm=llm)
    session.tools.register(Tool("transfer", "Transfer.", never))
    pump = await run_session(session, channel)
    await speak(session, "caller", jfk_opening)
    await wait_for(session, ev.ReplyFinished)
    assert llm.requests[1][-1]["content"].startswith("error: bad arguments for transfer")
    pump.cancel()
    await session.close()


async def test_speakers_are_labelled_and_tracked_separately(jfk_opening):
    llm = ScriptedLlm(["Hi both."])
    session, channel = make_session(stt=ScriptedStt(["hello from alice", "hello from bob"]), llm=llm)
    session.label_speakers = True
    session.settings = session.settings.model_copy(update={"allow_interruptions": False})
    pump = await run_session(session, channel)
    await asyncio.gather(speak(session, "alice", jfk_opening), speak(session, "bob", jfk_opening, silence_s=1.0))
    await wait_for(session, ev.ReplyFinished, 1)
    await asyncio.sleep(0.2)
    users = [m["content"] for m in session.history if m["role"] == "user"]
    assert users == ["alice: hello from alice", "bob: hello from bob"]
    pump.cancel()
    await session.close()


async def test_text_input_and_say(jfk_opening):
    tts = ScriptedTts()
    session, channel = make_session(tts=tts, llm=ScriptedLlm(["You pressed one."]))
    pump = await run_session(session, channel)
    session.say("Welcome to the test.")
    await wait_for(session, ev.ReplyFinished)
    session.push_text("caller", "DTMF 1")
    finished = await wait_for(session, ev.ReplyFinished, 2)
    assert [f.heard_text for f in finished] == ["Welcome to the test.", "You pressed one."]
    assert session.history[-2] == {"role": "user", "content": "DTMF 1"}
    pump.cancel()
    await session.close()


async def test_idle_timeout_fires_once_per_period():
    idle = []
    session, channel = make_session(idle_timeout_s=0.3)
    session._on_idle = lambda: idle.append(True)
    pump = await run_session(session, channel)
    await asyncio.sleep(1.2)
    assert 1 <= len(idle) <= 4
    assert isinstance(session.events[-1], ev.SessionIdle) or any(isinstance(e, ev.SessionIdle) for e in session.events)
    pump.cancel()
    await session.close()
    assert session.state is SessionState.CLOSED


async def test_noise_blip_gets_no_reply():
    import numpy as np

    from agent_core.audio import AudioFrame

    session, channel = make_session()
    pump = await run_session(session, channel)
    click = AudioFrame.from_float32(np.random.default_rng(0).normal(0, 0.3, 800), 16000)  # 50 ms
    await speak(session, "caller", click)
    await asyncio.sleep(0.1)
    assert not [e for e in session.events if isinstance(e, ev.TurnEnded)]
    assert session._llm.requests == []
    pump.cancel()
    await session.close()


async def test_closing_mid_reply_records_what_was_heard(jfk_opening):
    channel = LocalChannel(speed=1.0)
    session, _ = make_session(channel=channel, llm=ScriptedLlm(["One two three four five six seven eight nine ten."]))
    pump = await run_session(session, channel)
    await speak(session, "caller", jfk_opening)
    await wait_for(session, ev.FirstAudioOut)
    await asyncio.sleep(0.6)
    pump.cancel()
    await session.close()
    [finished] = [e for e in session.events if isinstance(e, ev.ReplyFinished)]
    assert finished.interrupted and 0 < len(finished.heard_text.split()) < 10
    assert isinstance(session.events[-1], ev.SessionClosed)


async def test_reply_filter_keeps_context_but_answers_only_when_addressed(jfk_opening):
    llm = ScriptedLlm(["Yes?"])
    session, channel = make_session(stt=ScriptedStt(["nice weather today", "parley, what time is it"]), llm=llm)
    session.label_speakers = True
    session.reply_filter = lambda speaker, text: "parley" in text.lower()
    pump = await run_session(session, channel)
    await speak(session, "alice", jfk_opening)
    await asyncio.sleep(0.2)
    assert llm.requests == []  # not addressed: no reply
    await speak(session, "bob", jfk_opening)
    await wait_for(session, ev.ReplyFinished)
    assert [m["content"] for m in llm.requests[0][1:]] == ["alice: nice weather today", "bob: parley, what time is it"]
    pump.cancel()
    await session.close()


@pytest.mark.parametrize(("language", "spoken"), [("en", "It costs three euros."), ("es", "Cuesta 3 euros.")])
async def test_the_personas_language_decides_how_a_reply_is_spoken(language, spoken, jfk_opening):
    """English number words must not land in a Spanish reply: the splitter speaks the persona's language."""
    reply = "It costs 3 euros." if language == "en" else "Cuesta 3 euros."
    tts = ScriptedTts()
    session, channel = make_session(stt=ScriptedStt(["How much?"]), llm=ScriptedLlm([reply]), tts=tts)
    session.persona = session.persona.model_copy(update={"language": language})
    pump = await run_session(session, channel)
    await speak(session, "caller", jfk_opening)
    await wait_for(session, ev.ReplyFinished)
    assert tts.spoken[-1] == spoken  # (the first is the apology, prepared at start)
    pump.cancel()
    await session.close()
