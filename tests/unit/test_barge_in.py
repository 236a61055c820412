"""Barge-in that checks before it drops a reply: noise and backchannels resume it, words end it.

The sound over the reply is real audio through the real Silero VAD; what the STT makes of it is
scripted (the models' own tests are in tests/integration).
"""

import asyncio

import pytest

from agent_core import events as ev
from agent_core.audio import AudioFrame
from agent_core.barge_in import BargeInSettings, is_backchannel
from agent_core.testing import LocalChannel, ScriptedLlm, ScriptedStt, ScriptedTts
from tests.sessionkit import make_session, speak, wait_for

REPLY = "This is the first sentence of a long answer. Here is a second sentence that goes on. And a third one."


@pytest.mark.parametrize("text", ["Uh-huh.", "Mm-hmm", "yeah", "Okay.", "Right, right.", "Yeah, okay."])
def test_affirmations_are_backchannels(text):
    assert is_backchannel(text, "en", BargeInSettings())


@pytest.mark.parametrize("text", ["Yeah, but wait.", "Stop.", "Okay, what about Tuesday?", "", "uh"])
def test_anything_more_is_not(text):
    assert not is_backchannel(text, "en", BargeInSettings())


def test_backchannels_are_per_language_and_configurable():
    assert is_backchannel("D'accord.", "fr", BargeInSettings())
    assert not is_backchannel("D'accord.", "en", BargeInSettings())
    assert is_backchannel("Indeed.", "en", BargeInSettings(backchannels={"en": ["indeed"]}))


def reversed_speech(jfk: AudioFrame) -> AudioFrame:
    """0.5 s of JFK played backwards: a burst the VAD takes for speech (what STT hears is scripted)."""
    samples = jfk.to_float32()[16000:24000][::-1].copy()
    return AudioFrame.from_float32(samples, 16000)


async def reply_then(jfk_opening, over_reply: AudioFrame, heard_as: str, *, llm: ScriptedLlm | None = None):
    llm = llm or ScriptedLlm([REPLY, "Sure."], token_delay_s=0.01)
    channel = LocalChannel(speed=1.0)
    session, _ = make_session(stt=ScriptedStt(["tell me a story", heard_as, "more"]), llm=llm,
                              tts=ScriptedTts(seconds_per_word=0.15), channel=channel)
    pump = asyncio.create_task(channel.pump(session))
    await session.start()
    await speak(session, "caller", jfk_opening)
    await wait_for(session, ev.FirstAudioOut)
    await asyncio.sleep(0.8)  # the caller hears the start of the reply, then the sound comes
    await speak(session, "caller", over_reply, silence_s=0.8, realtime=True)
    return session, channel, llm, pump


@pytest.mark.parametrize("heard_as", ["", "Uh-huh."], ids=["noise-without-words", "backchannel"])
async def test_a_sound_without_words_or_an_uh_huh_does_not_lose_the_reply(jfk, jfk_opening, heard_as):
    session, channel, llm, pump = await reply_then(jfk_opening, reversed_speech(jfk), heard_as)
    [barge] = await wait_for(session, ev.BargeIn)
    assert channel.flushes == 1  # the bot went quiet at once, as for any barge-in
    [settled] = await wait_for(session, ev.BargeInSettled)
    assert settled.resumed and settled.text == heard_as
    [finished] = await wait_for(session, ev.ReplyFinished, timeout=15)
    assert not finished.interrupted
    assert finished.heard_text == REPLY  # resumed where the listener stopped hearing it, nothing skipped
    assert session.history == [{"role": "user", "content": "tell me a story"}, {"role": "assistant", "content": REPLY}]
    assert len(llm.requests) == 1  # no new turn for the sound
    played = channel.audio_of(1).duration_s
    assert played == pytest.approx(len(REPLY.split()) * 0.15, abs=0.25)  # each part played once
    pump.cancel()
    await session.close()


async def test_words_over_the_reply_still_interrupt_it(jfk, jfk_opening):
    session, channel, llm, pump = await reply_then(jfk_opening, reversed_speech(jfk), "Wait, stop.")
    [settled] = await wait_for(session, ev.BargeInSettled)
    assert not settled.resumed
    finished = await wait_for(session, ev.ReplyFinished, 2, timeout=15)
    assert finished[0].interrupted and REPLY.startswith(finished[0].heard_text) and finished[0].heard_text != REPLY
    assert llm.requests[1][-1] == {"role": "user", "content": "Wait, stop."}
    pump.cancel()
    await session.close()


async def test_long_speech_over_the_reply_interrupts_without_waiting_for_a_pause(jfk, jfk_opening):
    """2.6 s of speech is no backchannel: the reply ends while the caller is still talking."""
    session, channel, llm, pump = await reply_then(jfk_opening, jfk_opening, "And so my fellow Americans")
    [settled] = await wait_for(session, ev.BargeInSettled)
    assert not settled.resumed
    speech_started = [e for e in session.events if isinstance(e, ev.SpeechStarted)][1]
    assert settled.t - speech_started.onset_t < 2.0  # decided mid-speech, not at its end
    pump.cancel()
    await session.close()
