"""A voice channel conversation: several members, one Session, the bot's voice through the real player."""

import asyncio

import pytest

from agent_core import events as ev
from agent_core.conversations import Conversations
from agent_core.persona import Persona
from agent_core.session import Session, SessionSettings
from agent_core.testing import ScriptedLlm, ScriptedStt, ScriptedTts
from agent_core.turns import TurnSettings
from bots.conversation import ChannelConversation
from tests.discord.channelkit import FakeGuild, FakeVoice
from tests.discord.voicekit import FakeDave, opus_frames
from tests.sessionkit import wait_for

ALICE, BOB, MUSIC_BOT, PARLEY = 1, 2, 3, 99
PERSONA = Persona(name="t", system_prompt="You are in a voice channel.", greeting="")


def conversation(llm, stt, *, reply_mode="always"):
    guild = FakeGuild({ALICE: ("Alice", False), BOB: ("Bob", False), MUSIC_BOT: ("Jukebox", True)})
    voice = FakeVoice(guild, PARLEY, dave=FakeDave({ALICE, BOB, MUSIC_BOT}))
    settings = SessionSettings(turn=TurnSettings(end_of_turn_signals="silence", min_speech_ms=96, end_of_turn_silence_ms=320))
    talk = ChannelConversation(voice, reply_mode=reply_mode, wake_name="parley")
    talk.attach(Session(stt=stt, llm=llm, tts=ScriptedTts(sample_rate=24000), persona=PERSONA, channel=talk,
                        settings=settings, label_speakers=True))
    return talk, voice


async def test_members_are_heard_apart_and_the_bot_answers_in_the_channel(jfk_opening):
    llm = ScriptedLlm(["Hello Alice and Bob."])
    stt = ScriptedStt(["Hi Parley.", "Hello from Bob."])
    talk, voice = conversation(llm, stt)
    await talk.start()
    frames = opus_frames(jfk_opening)
    silence = opus_frames(type(jfk_opening).silence(0.6, 16000))
    await asyncio.gather(
        voice.member_speaks(11, ALICE, frames + silence, realtime=True),
        voice.member_speaks(22, BOB, silence + frames + silence, realtime=True),  # a moment later, over Alice
        voice.member_speaks(33, MUSIC_BOT, frames + silence, realtime=True),  # other bots are not listened to
    )
    await wait_for(talk.session, ev.ReplyFinished, timeout=10)
    await asyncio.sleep(0.5)
    users = [m["content"] for m in llm.requests[-1] if m["role"] == "user"]
    assert users == ["Alice: Hi Parley.", "Bob: Hello from Bob."]
    assert sorted(talk.speakers_heard.values()) == ["Alice", "Bob"]
    assert talk.receiver.stats["ignored_user"] == len(frames + silence)
    # The reply went out through discord.py's player as 20 ms 48 kHz stereo PCM frames.
    assert voice.sent and all(len(data) == 3840 for _, data in voice.sent)
    assert any(data.strip(b"\x00") for _, data in voice.sent)
    status_turns = talk.session.latencies()
    assert status_turns and status_turns[-1].voice_to_voice is not None
    await talk.stop()
    await talk.session.close()
    await voice.disconnect()


async def test_addressed_mode_answers_only_when_named(jfk_opening):
    llm = ScriptedLlm(["Yes, Bob?"])
    stt = ScriptedStt(["what a game last night", "Parley, who won?"])
    talk, voice = conversation(llm, stt, reply_mode="addressed")
    await talk.start()
    speech = opus_frames(jfk_opening) + opus_frames(type(jfk_opening).silence(0.6, 16000))
    await voice.member_speaks(11, ALICE, speech)
    await asyncio.sleep(0.3)
    assert llm.requests == []
    await voice.member_speaks(22, BOB, speech)
    await wait_for(talk.session, ev.ReplyFinished, timeout=10)
    assert [m["content"] for m in llm.requests[0] if m["role"] == "user"] == [
        "Alice: what a game last night",
        "Bob: Parley, who won?",
    ]
    await talk.stop()
    await talk.session.close()
    await voice.disconnect()


async def test_a_member_talking_over_the_bot_interrupts_it(jfk_opening):
    llm = ScriptedLlm(["This is a long answer with many many words that takes a while to say out loud.", "Sure."])
    stt = ScriptedStt(["Tell me everything.", "Stop please."])
    talk, voice = conversation(llm, stt)
    await talk.start()
    speech = opus_frames(jfk_opening) + opus_frames(type(jfk_opening).silence(0.6, 16000))
    await voice.member_speaks(11, ALICE, speech)
    await wait_for(talk.session, ev.FirstAudioOut, timeout=10)
    await asyncio.sleep(0.8)
    await voice.member_speaks(22, BOB, speech, realtime=True)
    [barge] = await wait_for(talk.session, ev.BargeIn, timeout=10)
    assert barge.speaker == "Bob"
    finished = await wait_for(talk.session, ev.ReplyFinished, count=2, timeout=10)
    assert finished[0].interrupted and 0 < len(finished[0].heard_text) < len(finished[0].text)
    assert {"role": "assistant", "content": finished[0].heard_text} in llm.requests[1]
    await talk.stop()
    await talk.session.close()
    await voice.disconnect()


async def test_guild_turn_settings_go_over_the_persona_ones(tmp_path):
    from agent_core.settings import Settings
    from agent_core.storage import Database
    from bots.voice_service import VoiceService

    personas = tmp_path / "personas"
    personas.mkdir()
    (personas / "notes.toml").write_text('system_prompt = "x"\n[turn]\nincomplete_max_silence_ms = 4000\nend_of_turn_silence_ms = 1500\n')
    db = Database.for_data_dir(tmp_path / "data")
    await db.migrate()
    await db.set_guild_setting(7, "persona", "notes")
    await db.set_guild_setting(7, "end_of_turn_signals", "silence")
    await db.set_guild_setting(7, "end_of_turn_silence_ms", 900)
    conversations = Conversations(Settings(data_dir=tmp_path, personas_path=personas), providers=None, db=db)
    _, overrides = await VoiceService(conversations)._overrides(7)
    settings = conversations.session_settings(await conversations.persona(overrides), overrides)
    assert settings.turn.incomplete_max_silence_ms == 4000  # the persona's
    assert settings.turn.end_of_turn_silence_ms == 900  # the guild's, over the persona's 1500
    assert settings.turn.end_of_turn_signals == "silence"
    await db.close()


async def test_guild_style_goes_over_the_persona_style_in_the_live_conversation(tmp_path):
    from types import SimpleNamespace

    from agent_core.settings import Settings
    from agent_core.storage import Database
    from agent_core.tts.styles import StyleSettings
    from bots.voice_service import VoiceService

    personas = tmp_path / "personas"
    personas.mkdir()
    (personas / "lively.toml").write_text('system_prompt = "x"\n[style]\nexaggeration = 0.8\nspeed = 1.1\n')
    db = Database.for_data_dir(tmp_path / "data")
    await db.migrate()
    await db.set_guild_setting(7, "persona", "lively")
    service = VoiceService(Conversations(Settings(data_dir=tmp_path, personas_path=personas), providers=None, db=db))
    session = SimpleNamespace(persona=None, update_settings=lambda settings: None)
    service.stays[7] = SimpleNamespace(talk=SimpleNamespace(session=session, set_reply_mode=lambda mode, name: None))
    await db.set_guild_setting(7, "style", {"speed": 1.4, "temperature": 0.5})  # what /voice style stores
    await service.apply_settings(7)
    assert session.persona.style == StyleSettings(exaggeration=0.8, speed=1.4, temperature=0.5)
    await db.close()


async def test_join_says_busy_when_the_process_is_at_capacity(tmp_path):
    """The place count is shared with the phone line and Realtime sessions of the same process."""
    from types import SimpleNamespace

    from agent_core.admission import Admission
    from agent_core.settings import Settings
    from bots.voice_service import VoiceError, VoiceService

    admission = Admission(1)
    assert admission.admit("phone:CA-on-the-phone", "phone")
    service = VoiceService(Conversations(Settings(data_dir=tmp_path), providers=None, db=None, admission=admission))
    guild = SimpleNamespace(id=7, me=None, voice_client=None)
    with pytest.raises(VoiceError, match="busy"):
        await service.join(guild, SimpleNamespace(id=8, mention="#general"))
    admission.release("phone:CA-on-the-phone")
    assert admission.in_use == 0  # the refused join kept nothing
