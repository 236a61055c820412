"""The fused end-of-turn policy inside a Session: real Silero VAD and Smart Turn on real speech
(JFK), fed in real time so the verdicts land while the pauses run; the transcript so far is
scripted (the real STT and LLM are in tests/integration)."""

import pytest

from agent_core import events as ev
from agent_core.audio import AudioFrame
from agent_core.testing import ScriptedStt
from agent_core.turns import TurnSettings
from tests.sessionkit import make_session, speak, wait_for

FUSED = TurnSettings(min_speech_ms=96, end_of_turn_signals="audio+text", end_of_turn_silence_ms=800,
                     incomplete_max_silence_ms=2500)


async def start(session, channel):
    import asyncio

    pump = asyncio.create_task(channel.pump(session))
    await session.start()
    return pump


async def test_a_pause_after_a_dangling_word_keeps_the_turn_open_and_the_same_stream(jfk_opening):
    stt = ScriptedStt(["I would like to"])  # what Whisper read at the pause: mid-sentence
    session, channel = make_session(stt=stt)
    session.update_settings(session.settings.model_copy(update={"turn": FUSED}))
    pump = await start(session, channel)
    await speak(session, "caller", jfk_opening, silence_s=1.0, realtime=True)  # a 1 s pause
    assert not [e for e in session.events if isinstance(e, ev.TurnEnded)]  # not over: the text says so
    await speak(session, "caller", jfk_opening, silence_s=3.0, realtime=True)  # more speech, then quiet
    await wait_for(session, ev.TurnEnded)
    await wait_for(session, ev.ReplyFinished)
    assert len([e for e in session.events if isinstance(e, ev.SpeechStarted)]) == 1  # one turn
    assert stt.pushed_seconds[0] > 2 * 2.6  # one STT stream heard both halves
    assert len([e for e in session.events if isinstance(e, ev.ReplyFinished)]) == 1
    pump.cancel()
    await session.close()


async def test_complete_audio_ends_the_turn_without_the_long_wait(jfk):
    """JFK's last words, "...for your country.": Smart Turn hears an ending (P ~0.65-0.95)."""
    ending = AudioFrame(jfk.pcm[int(8.2 * 16000) * 2 :], 16000)
    session, channel = make_session(stt=ScriptedStt(["ask what you can do for your country."]))
    session.update_settings(session.settings.model_copy(update={"turn": FUSED}))
    pump = await start(session, channel)
    await speak(session, "caller", ending, silence_s=3.0, realtime=True)
    await wait_for(session, ev.ReplyFinished)
    [latency] = session.latencies()
    assert latency.end_of_turn < FUSED.incomplete_max_silence_ms  # the verdict, not the long limit, ended it
    evidence = next(iter(session._speakers.values())).last_evidence
    assert evidence is not None and evidence.audio > FUSED.audio_complete
    pump.cancel()
    await session.close()


@pytest.mark.parametrize("signals", ["audio", "text"])
async def test_one_signal_alone_can_be_chosen(jfk_opening, signals):
    session, channel = make_session(stt=ScriptedStt(["I would like to"]))
    turn = FUSED.model_copy(update={"end_of_turn_signals": signals})
    session.update_settings(session.settings.model_copy(update={"turn": turn}))
    pump = await start(session, channel)
    await speak(session, "caller", jfk_opening, silence_s=3.0, realtime=True)
    await wait_for(session, ev.TurnEnded)
    evidence = next(iter(session._speakers.values())).last_evidence
    assert (evidence.audio is not None) == (signals == "audio")
    assert (evidence.text is not None) == (signals == "text")
    pump.cancel()
    await session.close()
