"""Discord voice under DAVE with the real counterparts: discord.py's voice code, davey sessions, loopback UDP.

The bot's DAVE session is driven by discord.py's own DiscordVoiceWebSocket
handlers (ops 21-31); the other members are plain davey sessions; the
simulated voice gateway (tests/discord/voice_gateway.py) signs Add/Remove
proposals as Discord's MLS external sender; RTP travels over a real UDP
socket into discord.py's SocketReader, then ListeningVoiceClient -> receiver
-> Opus -> the Session.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import struct
import threading
from collections.abc import AsyncIterator

import davey
import discord
import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from discord.gateway import VoiceKeepAliveHandler
from pydantic import SecretStr

from agent_core import events as ev
from agent_core.audio import AudioFrame
from agent_core.conversations import Conversations
from agent_core.providers import Providers
from agent_core.settings import Settings
from agent_core.storage import Database
from agent_core.testing import ScriptedLlm, ScriptedStt, ScriptedTts
from agent_core.turns import TurnSettings
from bots.conversation import ChannelConversation
from bots.voice_client import ListeningVoiceClient
from bots.voice_packet import VoicePacket, decode
from bots.voice_service import VoiceService
from parley.server import create_app
from tests.discord import davey_vectors
from tests.discord.mls_external_sender import ExternalSender, read_opaque, sign_content
from tests.discord.voice_gateway import MODE, FakeChannel, FakeClientState, FakeGuild, VoiceGateway
from tests.discord.voicekit import opus_frames
from tests.integration.conftest import words
from tests.sessionkit import wait_for

GUILD, CHANNEL, BOT, ALICE, BOB, CAROL = 4242, 927310423890473011, 99, 101, 202, 303


async def until(condition, timeout: float = 10.0, what: str = "condition") -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


# ----- the encoding of Discord's part, against davey's captured op 27 --------------------------------


def test_external_sender_proposals_match_daveys_captured_op27():
    body, end = read_opaque(davey_vectors.APPENDING_PROPOSALS, 0)
    assert end == len(davey_vectors.APPENDING_PROPOSALS)
    key_package_start = 30  # MLSMessage header, group, epoch, external sender 0, proposal type: 30 bytes
    signature_key, _ = read_opaque(davey_vectors.EXTERNAL_SENDER, 0)
    # The message ends with the external sender's DER signature (a 2-byte length, then 0x30).
    signature_at = next(
        at for at in range(len(body) - 80, len(body) - 2)
        if body[at] >> 6 == 1 and body[at + 2] == 0x30 and at + 2 + (struct.unpack_from(">H", body, at)[0] & 0x3FFF) == len(body)
    )
    key_package = body[key_package_start:signature_at]
    # Our encoder, given the captured key package, group and epoch, writes the captured bytes up to the signature.
    ours = ExternalSender().add(CHANNEL, 0, key_package)
    assert ours[:signature_at] == body[:signature_at]
    # And the captured signature verifies over the TBS we build: Discord signs what we sign.
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), signature_key)
    signature, _ = read_opaque(body, signature_at)
    public.verify(signature, sign_content(b"FramedContentTBS", body[:signature_at]), ec.ECDSA(hashes.SHA256()))
    assert ExternalSender().package()[-4:] == davey_vectors.EXTERNAL_SENDER[-4:]  # basic credential, identity 0x00
    assert len(ExternalSender().package()) == len(davey_vectors.EXTERNAL_SENDER)


# ----- a voice channel on loopback ------------------------------------------------------------------


class Channel:
    def __init__(self, gateway: VoiceGateway, guild: FakeGuild, channel: FakeChannel, service: VoiceService) -> None:
        self.gateway, self.guild, self.channel, self.service = gateway, guild, channel, service

    @property
    def voice(self) -> ListeningVoiceClient:
        return self.guild.voice_client

    @property
    def conversation(self) -> ChannelConversation | None:
        stay = self.service.stays.get(GUILD)
        return stay.talk if stay is not None else None

    async def join(self) -> None:
        await self.service.join(self.guild, self.channel)
        await self.in_group()

    async def in_group(self) -> None:
        await until(lambda: self.voice is not None and self.voice.can_speak()
                    and self.voice._connection.dave_session.epoch == self.gateway.epoch, what="bot in the DAVE group")

    def heard_frames(self) -> int:
        return self.conversation.receiver.stats["frames"]


@contextlib.asynccontextmanager
async def voice_room(tmp_path, stt, turn: TurnSettings) -> AsyncIterator[Channel]:
    loop = asyncio.get_running_loop()
    gateway = VoiceGateway(CHANNEL, BOT)
    await gateway.start()
    state = FakeClientState(loop, BOT, gateway)
    guild = FakeGuild(GUILD, gateway, {ALICE: "Alice", BOB: "Bob", CAROL: "Carol"})
    channel = FakeChannel(CHANNEL, guild, state)
    settings = Settings(data_dir=tmp_path)
    db = Database.for_data_dir(tmp_path)
    await db.migrate()
    providers = Providers(stt=stt, llm=ScriptedLlm(["Hi."] * 12), tts=ScriptedTts(sample_rate=24000))
    settings.session.turn = turn
    conversations = Conversations(settings, providers, db)
    service = VoiceService(conversations)
    try:
        yield Channel(gateway, guild, channel, service)
    finally:
        await service.close()
        await conversations.aclose()
        gateway.close()
        await db.close()
        # A socket the server closed (4015's resume) leaves discord.py's heartbeat thread for it
        # running until its next beat fails; end every one while this test's event loop still runs.
        for thread in threading.enumerate():
            if isinstance(thread, VoiceKeepAliveHandler):
                thread.stop()
                await asyncio.to_thread(thread.join, 5)


@pytest.fixture
async def room(tmp_path, monkeypatch):
    monkeypatch.setattr("bots.voice_client.KEEPALIVE_S", 0.3)
    stt = ScriptedStt(["Hello Parley.", "Still me.", "Carol here.", "After the reconnect."] * 3)
    async with voice_room(tmp_path, stt, TurnSettings(min_speech_ms=96, end_of_turn_silence_ms=320)) as channel:
        yield channel


def speech(jfk_opening) -> list[bytes]:
    return opus_frames(jfk_opening) + opus_frames(AudioFrame.silence(0.6, 16000))


async def two_members(room: Channel):
    alice, bob = room.gateway.new_member(ALICE, 1001), room.gateway.new_member(BOB, 2002)
    await room.gateway.member_joins(alice)
    await room.gateway.member_joins(bob)
    return alice, bob


async def test_a_member_already_talking_when_the_bot_joins_is_heard(room, jfk_opening):
    alice, _ = await two_members(room)
    await room.join()
    frames = speech(jfk_opening)
    room.gateway.speak(alice, frames)
    await until(lambda: room.heard_frames() >= len(frames), what="Alice's frames")
    stats = room.conversation.receiver.stats
    assert stats["unmapped_ssrc"] == 0 and stats["dave_failed"] == 0 and stats["unencrypted"] == 0
    [final] = await wait_for(room.conversation.session, ev.TranscriptFinal, timeout=10)
    assert final.speaker == "Alice"
    assert room.voice.send_stats["keepalive"] >= 1  # a silence frame went out as soon as listening started
    assert room.gateway.from_bot, "Discord heard nothing from the bot"


async def test_a_stay_in_the_channel_is_one_recorded_conversation(room, jfk_opening):
    """Speakers by Discord member, their words, and the agent's reply, listed by the admin API."""
    alice, _ = await two_members(room)
    await room.join()
    room.gateway.speak(alice, speech(jfk_opening))
    await wait_for(room.conversation.session, ev.ReplyFinished, count=2, timeout=10)  # the greeting, the answer
    await room.service.leave(room.guild)
    await room.service.conversations.records.flush()
    settings = room.service.settings.model_copy(update={"admin_token": SecretStr("admin")})
    app = create_app(settings, room.service.providers, db=room.service.db)
    headers = {"Authorization": "Bearer admin"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parley") as http:
        page = (await http.get("/api/conversations", params={"channel": "discord"}, headers=headers)).json()
        [listed] = page["conversations"]
        record = (await http.get(f"/api/conversations/{listed['id']}", headers=headers)).json()
        assert (await http.get("/api/conversations", params={"channel": "phone"}, headers=headers)).json() == {
            "conversations": [], "next_before": None}
    assert record["channel"] == "discord" and record["meta"]["guild_id"] == GUILD and record["status"] == "completed"
    greeting, *turns = record["turns"]
    assert greeting["role"] == "assistant"  # cut short by Alice, who was already talking
    assert [(t["speaker"], t["role"], t["text"]) for t in turns] == [
        ("Alice", "user", "Hello Parley."), ("agent", "assistant", "Hi.")]
    assert turns[1]["heard"] and not turns[1]["interrupted"]
    assert record["stats"]["speakers"] == {"Alice": ALICE}
    assert [job["kind"] for job in record["jobs"]] == ["summary"]  # no audio kept: nothing to transcribe


async def test_without_speaking_the_sender_is_named_by_their_dave_key(room, jfk_opening):
    alice, _ = await two_members(room)
    room.gateway.announce_speaking = False  # e.g. SPEAKING lost, or not re-sent after a rejoin
    await room.join()
    frames = speech(jfk_opening)[:40]
    room.gateway.speak(alice, frames)
    await until(lambda: room.heard_frames() >= len(frames), what="frames named by DAVE")
    assert room.conversation.receiver.stats["identified_by_dave"] == 1  # once; then the map knows
    assert room.voice.speakers.user_for(alice.ssrc) == ALICE


async def test_members_join_and_leave_and_frames_of_the_old_epoch_still_decrypt(room, jfk_opening):
    alice, bob = await two_members(room)
    await room.join()
    frames = speech(jfk_opening)[:60]
    in_flight = [bytes(alice.session.encrypt_opus(f)) for f in frames[:20]]  # encrypted before the commit
    carol = room.gateway.new_member(CAROL, 3003)
    await room.gateway.member_joins(carol)
    await room.in_group()
    assert sorted(room.voice._connection.dave_session.get_user_ids()) == sorted(str(u) for u in (ALICE, BOB, BOT, CAROL))
    room.gateway.speak(alice, in_flight, encrypt=False)  # already DAVE frames: sent as they are
    room.gateway.speak(carol, frames[20:40])
    await until(lambda: room.heard_frames() >= 40, what="old-epoch and new member's frames")
    await room.gateway.member_leaves(bob)
    await room.in_group()
    room.gateway.speak(alice, frames[40:])
    await until(lambda: room.heard_frames() >= 60, what="frames after a member left")
    stats = room.conversation.receiver.stats
    assert stats["dave_failed"] == 0 and stats["unmapped_ssrc"] == 0
    assert room.voice.speakers.user_for(bob.ssrc) is None  # op 13 unmapped the one who left


async def test_a_second_member_decrypts_the_bots_own_frames(room):
    alice, bob = await two_members(room)
    await room.join()
    before = len(room.gateway.from_bot)
    room.voice.play(discord.PCMAudio(io.BytesIO(b"\x10\x00" * 3840 * 10)))
    await until(lambda: not room.voice.is_playing(), what="playback")
    opened = []
    for packet in room.gateway.from_bot[before:]:
        voice = decode(packet, secret_key=room.gateway.secret_key, mode=MODE, dave_session=bob.session,
                       user_for_ssrc={room.gateway.bot_ssrc: BOT}.get)
        opened.append(voice)
    assert opened and all(isinstance(v, VoicePacket) for v in opened), opened[:3]
    assert any(v.opus != b"\xf8\xff\xfe" for v in opened)


async def test_the_bots_commit_is_accepted_by_the_members(room, jfk_opening):
    alice, bob = await two_members(room)
    await room.join()
    room.gateway.prefer_bot_commit = True  # the bot answers op 27 first: its op 28 commit+welcome is used
    carol = room.gateway.new_member(CAROL, 3003)
    await room.gateway.member_joins(carol)
    await room.in_group()
    room.gateway.speak(carol, speech(jfk_opening)[:20])
    await until(lambda: room.heard_frames() >= 20, what="Carol, welcomed by the bot's commit")


async def test_unencrypted_frames_are_refused_but_pass_during_a_downgrade_transition(room, jfk_opening):
    alice, _ = await two_members(room)
    await room.join()
    frames = speech(jfk_opening)[:30]
    room.gateway.speak(alice, frames[:10], encrypt=False)
    await until(lambda: room.conversation.receiver.stats["unencrypted"] >= 10, what="plain frames refused")
    assert room.heard_frames() == 0
    room.gateway.speak(alice, [b"\xf8\xff\xfe"], encrypt=False)  # Opus silence is never encrypted
    await until(lambda: room.heard_frames() == 1, what="silence accepted")
    room.gateway.bot_ws.push(21, {"transition_id": 77, "protocol_version": 0})  # Discord prepares a downgrade
    await until(lambda: room.voice._connection.dave_session.can_passthrough(ALICE), what="passthrough")
    room.gateway.speak(alice, frames[10:20], encrypt=False)
    await until(lambda: room.heard_frames() == 11, what="passthrough frames")
    room.gateway.bot_ws.push(22, {"transition_id": 77})
    await until(lambda: not room.voice.e2ee_required, what="downgrade executed")
    room.gateway.speak(alice, frames[20:], encrypt=False)
    await until(lambda: room.heard_frames() == 21, what="plain frames without E2EE")


@pytest.mark.parametrize("close_code", [4006, 4015])
async def test_a_reconnect_keeps_the_conversation(room, jfk_opening, close_code):
    alice, _ = await two_members(room)
    await room.join()
    conversation, voice, key = room.conversation, room.voice, room.gateway.secret_key
    voice_state_requests = room.guild.voice_state_requests
    room.gateway.speak(alice, speech(jfk_opening))
    await wait_for(conversation.session, ev.TranscriptFinal, timeout=10)
    # The channel is quiet now: nothing wakes discord.py's socket reader but Parley's socket.
    room.gateway.bot_ws.server_close(close_code)  # discord.py rejoins (4006) or resumes (4015) by itself
    await until(lambda: room.gateway.bot_ws.closed is False and voice.is_connected(), timeout=15, what="reconnected")
    await room.in_group()
    assert room.conversation is conversation and room.voice is voice  # same conversation, same history
    assert (room.gateway.secret_key != key) == (close_code == 4006)  # a new session brings a new transport key
    if close_code == 4015:  # a resume is op 7 on the voice websocket, nothing asked of the main gateway
        assert room.gateway.sent_ops.count(7) == 1 and room.guild.voice_state_requests == voice_state_requests
    room.gateway.speak(alice, speech(jfk_opening))
    finals = await wait_for(conversation.session, ev.TranscriptFinal, count=2, timeout=15)
    assert [f.speaker for f in finals] == ["Alice", "Alice"]


async def test_a_voice_server_change_keeps_the_conversation(room, jfk_opening):
    alice, _ = await two_members(room)
    await room.join()
    conversation, voice, first_socket = room.conversation, room.voice, room.gateway.bot_ws
    room.gateway.speak(alice, speech(jfk_opening))
    await wait_for(conversation.session, ev.TranscriptFinal, timeout=10)
    await room.guild.move_voice_server()  # Discord fails over: a VOICE_SERVER_UPDATE out of the blue
    await until(lambda: room.gateway.bot_ws is not first_socket and voice.is_connected(), timeout=15,
                what="connected to the new voice server")
    await room.in_group()
    assert room.conversation is conversation
    room.gateway.speak(alice, speech(jfk_opening))
    finals = await wait_for(conversation.session, ev.TranscriptFinal, count=2, timeout=15)
    assert [f.speaker for f in finals] == ["Alice", "Alice"]


async def test_being_disconnected_by_discord_ends_the_conversation(room):
    await two_members(room)
    await room.join()
    conversation = room.conversation
    await room.guild._deliver(None)  # kicked: a voice state without a channel that discord.py did not ask for
    await until(lambda: room.service.stays == {}, what="conversation ended")
    assert conversation.voice._keepalive is None  # no keepalive left behind
    assert room.service.status(GUILD) is None


async def test_a_failing_hook_does_not_stop_discords_voice_reader(room, caplog):
    alice, _ = await two_members(room)
    await room.join()
    room.gateway.bot_ws.push(5, {"user_id": "not a number", "ssrc": 5})
    room.gateway.bot_ws.push(5, {"user_id": str(CAROL), "ssrc": 3003, "speaking": 1})
    await until(lambda: room.voice.speakers.user_for(3003) == CAROL, what="the reader carried on")
    assert "voice websocket hook failed" in caplog.text


@pytest.mark.models
async def test_real_speech_through_opus_and_dave_comes_out_as_whisper_text(tmp_path, jfk):
    from agent_core.stt.whisper_local import WhisperStt

    defaults = Settings(data_dir=tmp_path)
    whisper = WhisperStt(model=defaults.stt.model, cache_dir=defaults.models_dir, language="en",
                         chunk_length_s=defaults.stt.window_s)
    await whisper.load()
    turn = TurnSettings(end_of_turn_silence_ms=1200)  # the speech's own pauses are shorter
    async with voice_room(tmp_path, whisper, turn) as room:
        alice, _ = await two_members(room)
        await room.join()
        frames = opus_frames(jfk) + opus_frames(AudioFrame.silence(1.5, 16000))
        await room.gateway.speak_paced(alice, frames)  # DAVE-encrypted by Alice's davey session, over loopback UDP
        [final] = await wait_for(room.conversation.session, ev.TranscriptFinal, timeout=90)
        stats = room.conversation.receiver.stats
    assert final.speaker == "Alice"
    assert "ask not what your country can do for you" in words(final.text)
    assert stats["dave_failed"] == 0 and stats["unmapped_ssrc"] == 0 and stats["frames"] >= len(frames) - 5


def test_mls_message_helpers_are_consistent():
    assert struct.unpack(">H", ExternalSender().add(1, 0, b"")[2:4])[0] == 1  # public_message
    assert davey.DAVE_PROTOCOL_VERSION == 1
