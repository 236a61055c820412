"""A Session talking to remote STT and TTS services: a turn, and a service that dies mid-call."""

from __future__ import annotations

import asyncio

from agent_core import events as ev
from agent_core.testing import ScriptedLlm, ScriptedStt
from tests.services.kit import ToneTts, remote_stt, remote_tts, services
from tests.sessionkit import make_session, speak, wait_for


async def start(session, channel):
    pump = asyncio.create_task(channel.pump(session))
    await session.start()
    return pump


async def test_turn_through_remote_stt_and_tts(jfk_opening):
    stt, tts = ScriptedStt(["What is the capital of France?"]), ToneTts()
    async with services(stt=stt, tts=tts) as url:
        rstt, rtts = remote_stt(url), remote_tts(url)
        await asyncio.gather(rstt.load(), rtts.load())
        llm = ScriptedLlm(["The capital of France is Paris."])
        session, channel = make_session(stt=rstt, llm=llm, tts=rtts)
        pump = await start(session, channel)
        await speak(session, "caller", jfk_opening)
        [finished] = await wait_for(session, ev.ReplyFinished)
        pump.cancel()
        await session.close()
        await asyncio.gather(rstt.aclose(), rtts.aclose())
    assert llm.requests[-1][-1] == {"role": "user", "content": "What is the capital of France?"}
    assert abs(stt.pushed_seconds[0] - 2.6) < 0.5  # the caller's words crossed the wire
    assert finished.heard_text == "The capital of France is Paris."
    assert "The capital of France is Paris." in tts.started
    assert channel.audio_of().duration_s >= 0.5  # six 100 ms chunks of the service's audio


async def test_services_dying_mid_call_end_in_a_spoken_apology(jfk_opening):
    stt, tts = ScriptedStt(["Hello there."]), ToneTts()
    async with services(stt=stt, tts=tts) as url:
        rstt = remote_stt(url, attempts=2, backoff_s=0.05, connect_timeout_s=0.5)
        rtts = remote_tts(url, attempts=2, backoff_s=0.05, connect_timeout_s=0.5)
        session, channel = make_session(stt=rstt, llm=ScriptedLlm(["Hi."]), tts=rtts)
        pump = await start(session, channel)  # the apology is synthesised now, while the service is up
        await speak(session, "caller", jfk_opening)
        await wait_for(session, ev.ReplyFinished)
    # The services are gone (a GPU container preempted): the next turn must not be dead air.
    await speak(session, "caller", jfk_opening)
    [fault] = await wait_for(session, ev.ProviderFault)
    finished = await wait_for(session, ev.ReplyFinished, 2)
    assert fault.stage == "stt"
    assert finished[1].heard_text == "Sorry, say that again?"
    assert channel.audio_of(finished[1].turn).duration_s > 0.1, "the caller hears the apology"
    pump.cancel()
    await session.close()
    await asyncio.gather(rstt.aclose(), rtts.aclose())
