"""The voice side the slash commands drive: one ChannelConversation per guild."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import discord

from agent_core.conversations import DISCORD, Conversation, Conversations, Overrides
from agent_core.recorder import ConversationStart
from agent_core.tts.styles import StyleSettings
from bots.conversation import ChannelConversation
from bots.guild_style import STYLE_KEY
from bots.guild_voices import GuildVoices
from bots.voice_client import ListeningVoiceClient
from bots.voice_manager import GuildVoiceStatus, VoiceError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 20.0


# Per-guild turn-taking overrides (/config), stored already typed by bots/config_commands.py.
GUILD_TURN_KEYS = ("end_of_turn_silence_ms", "end_of_turn_signals", "incomplete_max_silence_ms")


@dataclass
class _Stay:
    """The bot's stay in one voice channel: its audio plumbing and its conversation."""

    talk: ChannelConversation
    conversation: Conversation


class VoiceService:
    def __init__(self, conversations: Conversations) -> None:
        # Shared with the other channels when the bot runs inside `parley serve`.
        self.conversations = conversations
        self.settings = conversations.settings
        self.providers = conversations.providers
        self.db = conversations.db
        self.stays: dict[int, _Stay] = {}
        self._closing: set[asyncio.Task[None]] = set()

    async def _overrides(self, guild_id: int) -> tuple[dict[str, Any], Overrides]:
        stored = await self.db.get_guild_settings(guild_id) if self.db is not None else {}
        voice = GuildVoices(self.providers.tts).backend_voice(guild_id, stored["voice"]) if stored.get("voice") else None
        record, interruptions = stored.get("record"), stored.get("allow_interruptions")
        return stored, Overrides(
            persona=stored.get("persona"),
            voice=voice,
            record=None if record is None else bool(record),
            turn={key: stored[key] for key in GUILD_TURN_KEYS if key in stored},
            allow_interruptions=None if interruptions is None else bool(interruptions),
            style=StyleSettings(**stored[STYLE_KEY]) if stored.get(STYLE_KEY) else None,  # /voice style
        )

    async def join(self, guild: discord.Guild, channel: discord.VoiceChannel | discord.StageChannel) -> None:
        me = guild.me
        if me is not None and not channel.permissions_for(me).connect:
            raise VoiceError(f"I am not allowed to connect to {channel.mention}.")
        if me is not None and not channel.permissions_for(me).speak:
            raise VoiceError(f"I am not allowed to speak in {channel.mention}.")
        await self.leave(guild)
        # One conversation per stay in a channel; its place is taken before connecting, so a busy
        # process answers /join at once instead of joining to say nothing.
        external_id = f"{guild.id}:{channel.id}:{uuid.uuid4().hex[:12]}"
        if not self.conversations.admit(DISCORD, external_id):
            raise VoiceError("I'm busy in too many conversations right now; please try again in a few minutes.")
        try:
            voice = await channel.connect(cls=ListeningVoiceClient, timeout=CONNECT_TIMEOUT_S, self_deaf=False)
        except (discord.ClientException, TimeoutError) as exc:
            self.conversations.release(DISCORD, external_id)
            raise VoiceError(f"Could not connect to {channel.mention}: {exc}") from exc
        assert isinstance(voice, ListeningVoiceClient)
        stored, overrides = await self._overrides(guild.id)
        talk = ChannelConversation(voice, reply_mode=stored.get("reply_mode", "always"),
                                   wake_name=stored.get("wake_name", "parley"))
        start = ConversationStart(channel=DISCORD, external_id=external_id,
                                  meta={"guild_id": guild.id, "channel_id": channel.id, "channel_name": channel.name})
        try:
            conversation = await self.conversations.open(start, talk, overrides, label_speakers=True)
        except Exception:  # e.g. the default persona's file is gone: leave instead of sitting there mute
            await voice.disconnect(force=True)
            raise
        if conversation is None or conversation.session is None:  # the place was taken above: not expected
            await voice.disconnect(force=True)
            raise VoiceError("I'm busy in too many conversations right now; please try again in a few minutes.")
        talk.attach(conversation.session)
        stay = _Stay(talk, conversation)
        self.stays[guild.id] = stay
        voice.add_close_listener(lambda: self._connection_over(guild.id, stay))
        await talk.start()
        log.info("joined voice channel %s in guild %s", channel.id, guild.id)

    async def _end(self, stay: _Stay) -> None:
        await stay.talk.stop()
        await self.conversations.close(stay.conversation, stats=stay.talk.stats())

    def _connection_over(self, guild_id: int, stay: _Stay) -> None:
        """discord.py gave the connection up (kicked, channel deleted, reconnects failed): end its conversation.

        Reconnects do not come here: the conversation, its history and its listeners carry on across them.
        """
        if self.stays.get(guild_id) is not stay:
            return  # already left through /leave or replaced by a newer /join
        del self.stays[guild_id]
        log.info("voice connection in guild %s is over; ending its conversation", guild_id)
        task = asyncio.get_running_loop().create_task(self._end(stay))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def leave(self, guild: discord.Guild) -> bool:
        stay = self.stays.pop(guild.id, None)
        if stay is not None:
            await self._end(stay)
        voice = guild.voice_client
        if voice is None:
            return stay is not None
        await voice.disconnect(force=True)
        return True

    def say(self, guild_id: int, text: str) -> bool:
        stay = self.stays.get(guild_id)
        if stay is None:
            return False
        stay.talk.session.say(text)
        return True

    def status(self, guild_id: int) -> GuildVoiceStatus | None:
        stay = self.stays.get(guild_id)
        if stay is None:
            return None
        conversation = stay.talk
        latencies = conversation.session.latencies()
        stats = conversation.receiver.stats
        dropped = {
            k: stats[k]
            for k in ("unmapped_ssrc", "dave_failed", "unencrypted", "transport_failed", "not_voice", "opus_failed", "lost")
        }
        return GuildVoiceStatus(
            channel_name=conversation.voice.channel.name,
            state=conversation.session.state.value,
            speakers_heard=sorted(conversation.speakers_heard.values()),
            last_turn_latency_ms=latencies[-1].as_dict() if latencies else None,
            dropped_frames=dropped,
            reply_mode=conversation.reply_mode,
            decrypt_failure_ratio=conversation.receiver.health.ratio(),
        )

    async def apply_settings(self, guild_id: int) -> None:
        stay = self.stays.get(guild_id)
        if stay is None:
            return
        stored, overrides = await self._overrides(guild_id)
        stay.talk.set_reply_mode(stored.get("reply_mode", "always"), stored.get("wake_name", "parley"))
        persona = await self.conversations.persona(overrides)
        stay.talk.session.update_settings(self.conversations.session_settings(persona, overrides))
        stay.talk.session.persona = persona

    async def close(self) -> None:
        for guild_id in list(self.stays):
            stay = self.stays.pop(guild_id)
            await self._end(stay)
            await stay.talk.voice.disconnect(force=True)
        await asyncio.gather(*self._closing, return_exceptions=True)
