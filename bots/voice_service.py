"""The voice side the slash commands drive: one ChannelConversation per guild."""

from __future__ import annotations

import asyncio
import logging

import discord

from agent_core.admission import Admission
from agent_core.persona import PersonaError, load_persona
from agent_core.providers import Providers
from agent_core.settings import Settings
from agent_core.storage import Database
from bots.conversation import ChannelConversation
from bots.guild_voices import GuildVoices
from bots.voice_client import ListeningVoiceClient
from bots.voice_manager import GuildVoiceStatus, VoiceError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 20.0


# Per-guild turn-taking overrides (/config), stored already typed by bots/config_commands.py.
GUILD_TURN_KEYS = ("end_of_turn_silence_ms", "end_of_turn_signals", "incomplete_max_silence_ms")


class VoiceService:
    def __init__(self, settings: Settings, providers: Providers, db: Database, admission: Admission | None = None) -> None:
        self.settings = settings
        self.providers = providers
        self.db = db
        # Shared with the other channels when the bot runs inside `parley serve`.
        self.admission = admission or Admission(settings.conversation_limit)
        self.conversations: dict[int, ChannelConversation] = {}
        self._closing: set[asyncio.Task[None]] = set()

    async def _session_settings(self, guild_id: int):
        stored = await self.db.get_guild_settings(guild_id)
        session = self._persona(guild_id, stored).session_settings(self.settings.session)  # the guild's own go on top
        turn_overrides = {key: stored[key] for key in GUILD_TURN_KEYS if key in stored}
        updates = {"turn": session.turn.model_copy(update=turn_overrides)}
        if "allow_interruptions" in stored:
            updates["allow_interruptions"] = bool(stored["allow_interruptions"])
        return stored, session.model_copy(update=updates)

    def _persona(self, guild_id: int, stored: dict):
        name = stored.get("persona") or self.settings.persona
        try:
            persona = load_persona(name, self.settings.personas_dir)
        except PersonaError:
            log.error("stored persona %r is missing; using %r", name, self.settings.persona)
            persona = load_persona(self.settings.persona, self.settings.personas_dir)
        if stored.get("voice"):
            voice = GuildVoices(self.providers.tts).backend_voice(guild_id, stored["voice"])
            persona = persona.model_copy(update={"voice": voice})
        return persona

    async def join(self, guild: discord.Guild, channel: discord.VoiceChannel | discord.StageChannel) -> None:
        me = guild.me
        if me is not None and not channel.permissions_for(me).connect:
            raise VoiceError(f"I am not allowed to connect to {channel.mention}.")
        if me is not None and not channel.permissions_for(me).speak:
            raise VoiceError(f"I am not allowed to speak in {channel.mention}.")
        await self.leave(guild)
        place = _place(guild.id)
        if not self.admission.admit(place, "discord"):
            raise VoiceError("I'm busy in too many conversations right now; please try again in a few minutes.")
        try:
            voice = await channel.connect(cls=ListeningVoiceClient, timeout=CONNECT_TIMEOUT_S, self_deaf=False)
        except (discord.ClientException, TimeoutError) as exc:
            self.admission.release(place)
            raise VoiceError(f"Could not connect to {channel.mention}: {exc}") from exc
        stored, session_settings = await self._session_settings(guild.id)
        conversation = ChannelConversation(
            voice,
            self.providers,
            self._persona(guild.id, stored),
            session_settings,
            reply_mode=stored.get("reply_mode", "always"),
            wake_name=stored.get("wake_name", "parley"),
        )
        self.conversations[guild.id] = conversation
        voice.add_close_listener(lambda: self._connection_over(guild.id, conversation))
        await conversation.start()
        log.info("joined voice channel %s in guild %s", channel.id, guild.id)

    def _connection_over(self, guild_id: int, conversation: ChannelConversation) -> None:
        """discord.py gave the connection up (kicked, channel deleted, reconnects failed): end its conversation.

        Reconnects do not come here: the conversation, its history and its listeners carry on across them.
        """
        if self.conversations.get(guild_id) is not conversation:
            return  # already left through /leave or replaced by a newer /join
        del self.conversations[guild_id]
        self.admission.release(_place(guild_id))
        log.info("voice connection in guild %s is over; ending its conversation", guild_id)
        task = asyncio.get_running_loop().create_task(conversation.stop())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def leave(self, guild: discord.Guild) -> bool:
        conversation = self.conversations.pop(guild.id, None)
        self.admission.release(_place(guild.id))
        if conversation is not None:
            await conversation.stop()
        voice = guild.voice_client
        if voice is None:
            return conversation is not None
        await voice.disconnect(force=True)
        return True

    def say(self, guild_id: int, text: str) -> bool:
        conversation = self.conversations.get(guild_id)
        if conversation is None:
            return False
        conversation.session.say(text)
        return True

    def status(self, guild_id: int) -> GuildVoiceStatus | None:
        conversation = self.conversations.get(guild_id)
        if conversation is None:
            return None
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
        conversation = self.conversations.get(guild_id)
        if conversation is None:
            return
        stored, session_settings = await self._session_settings(guild_id)
        conversation.set_reply_mode(stored.get("reply_mode", "always"), stored.get("wake_name", "parley"))
        conversation.session.update_settings(session_settings)
        conversation.session.persona = self._persona(guild_id, stored)

    async def close(self) -> None:
        for guild_id in list(self.conversations):
            conversation = self.conversations.pop(guild_id)
            self.admission.release(_place(guild_id))
            await conversation.stop()
            await conversation.voice.disconnect(force=True)
        await asyncio.gather(*self._closing, return_exceptions=True)


def _place(guild_id: int) -> str:
    """A guild's place among the process's conversations: one voice channel per guild."""
    return f"discord-{guild_id}"
