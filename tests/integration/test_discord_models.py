"""Real speech through the Discord receive path (DAVE, padding, Opus 48 kHz) into Whisper."""

import asyncio

import pytest

from agent_core import events as ev
from agent_core.audio import AudioFrame
from agent_core.persona import Persona
from agent_core.session import Session, SessionSettings
from agent_core.testing import ScriptedLlm, ScriptedTts
from agent_core.turns import TurnSettings
from bots.conversation import ChannelConversation
from tests.discord.channelkit import FakeGuild, FakeVoice
from tests.discord.voicekit import FakeDave, opus_frames
from tests.integration.conftest import words
from tests.sessionkit import wait_for

pytestmark = pytest.mark.models


async def test_jfk_spoken_in_a_voice_channel_is_transcribed(providers, jfk):
    guild = FakeGuild({7: ("Jack", False)})
    voice = FakeVoice(guild, 99, dave=FakeDave({7}))
    talk = ChannelConversation(voice)
    talk.attach(Session(
        stt=providers.stt, llm=ScriptedLlm(["Thank you, Jack."]), tts=ScriptedTts(sample_rate=24000),
        persona=Persona(name="t", system_prompt="x", greeting=""), channel=talk,
        # the speech's pauses are shorter than 1.2 s
        settings=SessionSettings(turn=TurnSettings(end_of_turn_signals="silence", end_of_turn_silence_ms=1200)),
        label_speakers=True,
    ))
    await talk.start()
    await voice.member_speaks(5, 7, opus_frames(jfk + AudioFrame.silence(1.5, 16000)))
    [final] = await wait_for(talk.session, ev.TranscriptFinal, timeout=60)
    assert final.speaker == "Jack"
    assert "ask not what your country can do for you" in words(final.text)
    assert talk.receiver.stats["dave_failed"] == 0 and talk.receiver.stats["frames"] > 500
    await asyncio.sleep(0)
    await talk.stop()
    await talk.session.close()
    await voice.disconnect()
